#!/bin/sh
# valgrind memcheck over a representative session mix: mqttguard
# (build/mqttguard, or $MQTTGUARD_BIN) runs under valgrind in front of a
# real Mosquitto while scripts/soak.py drives TLS and plain clients,
# MQTT 3.1.1 and 5.0, QoS 0/1/2, authentication failures, ACL denials,
# malformed frames, flooders held by rate limits and a reload every 10 s;
# then SIGTERM.  Fails on any memcheck error (invalid access, uninitialised
# value used, a definite leak: --error-exitcode=99) or on any failure the
# soak itself sees.
#   scripts/valgrind.sh [DURATION]      (seconds of load, default 30)
# The suppressions in scripts/valgrind.supp are explained there.
set -eu
cd "$(dirname "$0")/.."
duration=${1:-30}
bin=${MQTTGUARD_BIN:-build/mqttguard}
[ -x "$bin" ] || make -s all
if ! command -v valgrind >/dev/null; then
	echo "valgrind.sh: valgrind is missing (scripts/deps.sh --test)" >&2
	exit 2
fi
vlog=$(mktemp /tmp/mqttguard-valgrind.XXXXXX)
trap 'rm -f "$vlog"' EXIT
status=0
MQTTGUARD_BIN=$bin /usr/bin/python3 scripts/soak.py "$duration" \
    --no-slope --warmup 0 --reload-every 5 \
    --wrap "valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --error-exitcode=99 --track-fds=no
	--suppressions=$PWD/scripts/valgrind.supp --log-file=$vlog" ||
    status=$?
if [ -s "$vlog" ]; then
	echo "== valgrind's report" >&2
	cat "$vlog" >&2
fi
if [ "$status" = 0 ]; then
	echo "valgrind.sh: clean"
else
	echo "valgrind.sh: FAILED" >&2
fi
exit "$status"
