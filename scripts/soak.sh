#!/bin/sh
# A soak run: mqttguard (build/mqttguard, or $MQTTGUARD_BIN) in front of a
# real Mosquitto under honest clients, flooders held by rate limits,
# connection churn, malformed senders, authentication failures and a reload
# every 10 s, for a minute's warm-up then DURATION seconds; its RSS and
# open descriptors are sampled every second.  Fails if an honest client
# loses a QoS 1/2 message or is disconnected, a reload fails, a descriptor
# is left open, or RSS grows over the second half (see scripts/soak.py for
# the criteria).
#   scripts/soak.sh DURATION [soak.py options: --out samples.csv --keep ...]
set -eu
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
	echo "usage: scripts/soak.sh DURATION [options]" >&2
	exit 2
fi
[ -x "${MQTTGUARD_BIN:-build/mqttguard}" ] || make -s all
exec /usr/bin/python3 scripts/soak.py "$@"
