#!/bin/sh
# Runs mqttguard with policies/example.yaml in front of a local Mosquitto.
# Installs what is missing, builds, generates development certificates, and
# starts Mosquitto on 127.0.0.1:1883 (unless a broker already listens there).
# Stop with Ctrl-C: both processes are stopped.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
make -s -j2
scripts/gen-certs.sh certs

mosq_pid=""
cleanup() {
	[ -n "$mosq_pid" ] && kill "$mosq_pid" 2>/dev/null && wait "$mosq_pid" 2>/dev/null
	return 0
}
trap cleanup EXIT INT TERM

if ss -ltn 2>/dev/null | grep -q '127.0.0.1:1883 \|\*:1883 \|0.0.0.0:1883 '; then
	echo "demo: a broker already listens on port 1883; using it" >&2
else
	mkdir -p build/demo
	cat >build/demo/mosquitto.conf <<CONF
listener 1883 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
CONF
	mosquitto -c build/demo/mosquitto.conf 2>build/demo/mosquitto.log &
	mosq_pid=$!
	i=0
	until ss -ltn | grep -q '127.0.0.1:1883 '; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$mosq_pid" 2>/dev/null; then
			echo "demo: mosquitto did not start:" >&2
			cat build/demo/mosquitto.log >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "demo: mosquitto on 127.0.0.1:1883 (log: build/demo/mosquitto.log)" >&2
fi

cat >&2 <<TXT

mqttguard is starting on 127.0.0.1:8883 (TLS) in front of 127.0.0.1:1883.
In another terminal (users are in certs/passwd; a client certificate works too):
  mosquitto_sub -h 127.0.0.1 -p 8883 --cafile certs/ca.crt -u demo -P demo-password -t 'demo/#' -v
  mosquitto_pub -h 127.0.0.1 -p 8883 --cafile certs/ca.crt -u demo -P demo-password -t demo/hello -m 'hello through mqttguard'
  mosquitto_pub -h 127.0.0.1 -p 8883 --cafile certs/ca.crt --cert certs/client.crt --key certs/client.key -t demo/cert -m 'as client1'
Ctrl-C stops both.

TXT
build/mqttguard -c policies/example.yaml &
guard_pid=$!
trap 'kill $guard_pid 2>/dev/null; wait $guard_pid 2>/dev/null; cleanup' EXIT INT TERM
wait $guard_pid
