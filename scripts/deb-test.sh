#!/bin/sh
# Installs the Debian package in a clean minimal Debian and uses it:
#   scripts/deb-test.sh [PACKAGE.deb]       (default: make deb's)
# debootstrap (minbase, the release and mirror this machine's apt uses)
# makes a chroot; there, in a network namespace of its own (no port of
# the host is touched): apt installs the package, Mosquitto and its
# clients; the unit must be enabled and the service not started (the
# shipped policy names files not there yet); with certificates and a
# password file in /etc/mqttguard, `mqttguard -t` passes and mqttguard,
# run as the package's user, carries a message over TLS to Mosquitto;
# then the package is removed (the conffile stays) and purged (it goes).
# Needs root, debootstrap and the mirror; downloads are kept in
# /var/cache/mqttguard-debootstrap.  Takes minutes: not part of make test.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
deb=${1:-}
if [ -z "$deb" ]; then
	(cd "$top" && scripts/deb.sh --no-lintian >/dev/null)
	deb=$(ls "$top"/build/mqttguard_*.deb | tail -n 1)
fi
[ "$(id -u)" = 0 ] || { echo "deb-test: needs root" >&2; exit 2; }
command -v debootstrap >/dev/null || {
	echo "deb-test: needs debootstrap (scripts/deps.sh --test)" >&2; exit 2; }

. /etc/os-release
suite=$VERSION_CODENAME
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v security | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' \
    /etc/apt/sources.list)
cache=/var/cache/mqttguard-debootstrap
root=$(mktemp -d /var/tmp/mqttguard-deb-test.XXXXXX)
chmod 0755 "$root"	# the chroot's /: its users must get in
certs=$(mktemp -d)

cleanup() {
	for m in dev/pts dev proc; do
		umount "$root/$m" 2>/dev/null || true
	done
	rm -rf "$root" "$certs"
}
trap cleanup EXIT INT TERM

echo "deb-test: debootstrap $suite from $mirror into $root"
mkdir -p "$cache"
debootstrap --variant=minbase --cache-dir="$cache" "$suite" "$root" \
    "$mirror" >"$certs/debootstrap.log" 2>&1 || {
	tail -n 20 "$certs/debootstrap.log" >&2; exit 1; }
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# No service starts by itself in the chroot (invoke-rc.d asks this).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/mqttguard.deb"
"$top/scripts/gen-certs.sh" "$certs" >/dev/null 2>&1
mkdir -p "$root/tmp/certs"
cp "$certs/server.crt" "$certs/server.key" "$certs/ca.crt" "$certs/passwd" \
    "$root/tmp/certs/"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive "$@"; }

echo "deb-test: apt-get install ./mqttguard.deb mosquitto mosquitto-clients"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends /tmp/mqttguard.deb \
    mosquitto mosquitto-clients >"$certs/apt.log" 2>&1 || {
	tail -n 30 "$certs/apt.log" >&2; exit 1; }

# The rest runs inside the chroot, in network, PID and mount namespaces of
# its own: no port of the host, and only its own processes in /proc.
cat >"$root/tmp/run.sh" <<'SCRIPT'
set -eu
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
mount -t proc proc /proc
getent passwd mqttguard >/dev/null || fail "no user mqttguard"
[ -L /etc/systemd/system/multi-user.target.wants/mqttguard.service ] ||
    fail "the unit is not enabled"
# minbase has no procps: the processes' names from /proc.
running() { cat /proc/[0-9]*/comm 2>/dev/null | grep -qx "$1"; }
running mqttguard && fail "mqttguard runs without a policy"
mqttguard -t -c /etc/mqttguard/mqttguard.yaml >/dev/null 2>&1 &&
    fail "the shipped policy passes -t without its files"
gzip -t /usr/share/man/man8/mqttguard.8.gz || fail "man page"
install -o mqttguard -g mqttguard -m 0600 /tmp/certs/* /etc/mqttguard/
mqttguard -t -c /etc/mqttguard/mqttguard.yaml || fail "-t with the files"
printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' >/tmp/mosq.conf
mosquitto -c /tmp/mosq.conf >/tmp/mosquitto.log 2>&1 &
broker=$!
setpriv --reuid=mqttguard --regid=mqttguard --init-groups \
    mqttguard -c /etc/mqttguard/mqttguard.yaml >/tmp/mqttguard.log 2>&1 &
guard=$!
i=0
until grep -q "started" /tmp/mqttguard.log; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat /tmp/mqttguard.log; fail "no start"; }
	sleep 0.1
done
[ "$(stat -c %U /proc/$guard)" = mqttguard ] || fail "not running as mqttguard"
mosquitto_sub -h 127.0.0.1 -p 8883 --cafile /etc/mqttguard/ca.crt \
    -u demo -P demo-password -t 'demo/#' -C 1 -W 20 >/tmp/got &
sub=$!
sleep 1
mosquitto_pub -h 127.0.0.1 -p 8883 --cafile /etc/mqttguard/ca.crt \
    -u demo -P demo-password -t demo/deb -m 'through the package' ||
    fail "publish"
wait $sub || fail "subscriber"
grep -qx 'through the package' /tmp/got || fail "message not received"
kill -TERM $guard
wait $guard || fail "mqttguard exit status $?"
grep -q 'drained\|stopped' /tmp/mqttguard.log || fail "no clean stop"
kill $broker
echo "deb-test: published through mqttguard over TLS, stopped cleanly"
SCRIPT
# shellcheck disable=SC2016
unshare --net --pid --mount --fork /bin/sh -c 'ip link set lo up &&
    exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/sh /tmp/run.sh' sh "$root"

echo "deb-test: apt-get remove, then purge"
in_root apt-get remove -y -qq mqttguard >"$certs/apt.log" 2>&1 || {
	cat "$certs/apt.log" >&2; exit 1; }
[ ! -e "$root/usr/bin/mqttguard" ] || { echo "deb-test: FAIL: binary left" >&2; exit 1; }
[ -e "$root/etc/mqttguard/mqttguard.yaml" ] || {
	echo "deb-test: FAIL: remove took the conffile" >&2; exit 1; }
in_root apt-get purge -y -qq mqttguard >"$certs/apt.log" 2>&1 || {
	cat "$certs/apt.log" >&2; exit 1; }
[ ! -e "$root/etc/mqttguard/mqttguard.yaml" ] || {
	echo "deb-test: FAIL: purge left the conffile" >&2; exit 1; }
echo "deb-test: OK"
