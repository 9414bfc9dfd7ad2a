#!/bin/sh
# Installs the Debian packages mqttguard needs, only those missing.
#   scripts/deps.sh          build + run (compiler, libraries, Mosquitto)
#   scripts/deps.sh --test   also what the test suite, fuzzing and the
#                            checks of dist/ need
#   scripts/deps.sh --bench  also what make bench needs (HAProxy, bc, Node.js)
# Idempotent: when everything is installed it changes nothing and does not
# touch the network.  Needs root (or sudo) only when something is missing.
set -eu

pkgs="make gcc libc6-dev pkg-config libssl-dev libevent-dev libyaml-dev libargon2-dev libwslay-dev check
mosquitto mosquitto-clients openssl ca-certificates procps iproute2"
case "${1:-}" in
--test)	pkgs="$pkgs python3 python3-paho-mqtt python3-pytest clang sslscan haproxy"
	# fail2ban: its fail2ban-regex checks dist/fail2ban/mqttguard.conf;
	# promtool checks /metrics; the server scrapes it (test_admin.py);
	# strace shows the socket options the proxy sets; haproxy sends
	# PROXY protocol headers (test_proxy.py).
	# valgrind: scripts/valgrind.sh's memcheck run (make test).
	pkgs="$pkgs libmosquitto-dev fail2ban prometheus strace valgrind"
	# dist/: systemd-analyze checks the unit; groff and man render the
	# pages, mandoc lints them; python3-yaml reads the Kubernetes manifests; dpkg-dev
	# (dpkg-buildflags, dpkg-shlibdeps) and lintian make and check the
	# package; debootstrap makes the chroot of scripts/deb-test.sh.
	pkgs="$pkgs systemd groff-base man-db mandoc python3-yaml dpkg-dev lintian debootstrap"
	# MQTT.js under Node and in headless Chromium over WebSockets
	# (test_ws_clients.py; test/ws/package.json, installed by npm ci).
	pkgs="$pkgs nodejs npm chromium" ;;
--bench) pkgs="$pkgs python3 haproxy bc nodejs npm" ;;
esac

missing=""
for p in $pkgs; do
	# A Node.js from elsewhere will do (NodeSource's nodejs package
	# carries npm and conflicts with Debian's).
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
# libFuzzer's runtime lives in a versioned package next to clang.
need_fuzz_rt=0
if [ "${1:-}" = "--test" ]; then
	if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
	    >/dev/null 2>&1 && \
	   ! ls /usr/lib/llvm-*/lib/clang/*/lib/*/libclang_rt.fuzzer.a \
	    >/dev/null 2>&1; then
		need_fuzz_rt=1
	fi
fi
[ -z "$missing" ] && [ "$need_fuzz_rt" = 0 ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "scripts/deps.sh: installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
if [ "$need_fuzz_rt" = 1 ]; then
	v=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
	$SUDO apt-get install -y -qq --no-install-recommends "libclang-rt-$v-dev" >&2 ||
	    $SUDO apt-get install -y -qq --no-install-recommends "libclang-common-$v-dev" >&2
fi
# The Debian package enables a system broker on 1883; mqttguard's scripts
# start their own, so do not leave a surprise one running.
exit 0
