#!/bin/sh
# make bench: figures as ratios against baselines measured in the same run.
#
#  1. codec: decode+validate throughput of 64-byte PUBLISH frames (one core).
#  2. forwarding: N QoS 0 messages of 64 bytes, mosquitto_pub -l -> broker ->
#     mosquitto_sub, end to end, through: Mosquitto directly, HAProxy (TCP
#     mode), mqttguard (plain), HAProxy terminating TLS, mqttguard (TLS).
#  3. memory: RSS growth of each proxy holding C idle MQTT connections.
# Everything binds 127.0.0.1 on free ports and is stopped at the end.
# BENCH_MSGS (default 200000), BENCH_CONNS (default 1000), BENCH_RUNS (3).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh --bench
make -s -j2 build/mqttguard build/bench_codec

N=${BENCH_MSGS:-200000}
C=${BENCH_CONNS:-1000}
RUNS=${BENCH_RUNS:-3}
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	i=0
	until /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "bench: port $1 never opened" >&2; exit 1; }
		sleep 0.05
	done
}

echo "== codec"
build/bench_codec

scripts/gen-certs.sh "$tmp/certs" 2>/dev/null
cat "$tmp/certs/server.crt" "$tmp/certs/server.key" >"$tmp/haproxy.pem"
B=$(port); GT=$(port); GP=$(port); HT=$(port); HP=$(port)

printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nmax_queued_messages 0\nlog_type error\n' "$B" >"$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
pids="$pids $!"
cat >"$tmp/guard.yaml" <<Y
listeners:
  - {name: tls, address: 127.0.0.1, port: $GT}
  - {name: plain, address: 127.0.0.1, port: $GP, tls: false}
tls: {cert: $tmp/certs/server.crt, key: $tmp/certs/server.key}
upstream: {host: 127.0.0.1, port: $B}
log: {level: warn}
Y
build/mqttguard -c "$tmp/guard.yaml" 2>"$tmp/guard.log" &
gpid=$!; pids="$pids $gpid"
cat >"$tmp/haproxy.cfg" <<H
global
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend plain
  bind 127.0.0.1:$HP
  default_backend broker
frontend tls
  bind 127.0.0.1:$HT ssl crt $tmp/haproxy.pem ssl-min-ver TLSv1.2
  default_backend broker
backend broker
  server b 127.0.0.1:$B
H
haproxy -f "$tmp/haproxy.cfg" -db 2>"$tmp/haproxy.log" &
hpid=$!; pids="$pids $hpid"
for p in $B $GT $GP $HT $HP; do wait_port "$p"; done

/usr/bin/python3 -c "
import sys
line = 'x' * 63
sys.stdout.write((line + '\n') * $N)" >"$tmp/msgs"

# run PORT TLS(0/1): prints msgs/s (median of RUNS)
run() {
	tls=""
	[ "$2" = 1 ] && tls="--cafile $tmp/certs/ca.crt"
	rates=""
	r=0
	while [ $r -lt "$RUNS" ]; do
		# shellcheck disable=SC2086
		mosquitto_sub -h 127.0.0.1 -p "$1" $tls -t bench -C "$N" -W 120 >/dev/null &
		sp=$!
		sleep 0.5
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086
		mosquitto_pub -h 127.0.0.1 -p "$1" $tls -t bench -l <"$tmp/msgs"
		wait $sp
		t1=$(date +%s.%N)
		rates="$rates $(echo "$N / ($t1 - $t0)" | bc -l)"
		r=$((r + 1))
	done
	echo "$rates" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}'
}

echo "== forwarding: $N QoS 0 messages of 64 bytes, median of $RUNS runs (msgs/s)"
direct=$(run "$B" 0)
hap=$(run "$HP" 0)
gp=$(run "$GP" 0)
hapt=$(run "$HT" 1)
gt=$(run "$GT" 1)
printf '%-28s %10s\n' "direct Mosquitto" "$direct"
printf '%-28s %10s  (%.2f x direct)\n' "HAProxy TCP" "$hap" "$(echo "$hap / $direct" | bc -l)"
printf '%-28s %10s  (%.2f x direct, %.2f x HAProxy TCP)\n' "mqttguard plain" "$gp" \
    "$(echo "$gp / $direct" | bc -l)" "$(echo "$gp / $hap" | bc -l)"
printf '%-28s %10s  (%.2f x direct)\n' "HAProxy TLS" "$hapt" "$(echo "$hapt / $direct" | bc -l)"
printf '%-28s %10s  (%.2f x direct, %.2f x HAProxy TLS)\n' "mqttguard TLS" "$gt" \
    "$(echo "$gt / $direct" | bc -l)" "$(echo "$gt / $hapt" | bc -l)"

echo "== memory: $C idle MQTT 3.1.1 connections (plain listeners)"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hold() {
	/usr/bin/python3 - "$1" "$C" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    cid = b"mem%06d" % i
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    s.sendall(bytes([0x10, len(body)]) + body)
    assert s.recv(4) == b"\x20\x02\x00\x00"
    socks.append(s)
print("ready", flush=True)
time.sleep(30)
PY
}
measure() {
	before=$(rss "$2")
	hold "$1" >"$tmp/hold.out"
	hp=$!
	i=0
	until grep -q ready "$tmp/hold.out"; do i=$((i + 1)); [ $i -lt 600 ] || break; sleep 0.1; done
	after=$(rss "$2")
	kill $hp 2>/dev/null; wait $hp 2>/dev/null || true
	echo $((after - before))
}
ulimit -n 20000 2>/dev/null || true
mg=$(measure "$GP" "$gpid")
mh=$(measure "$HP" "$hpid")
printf '%-28s %8s KiB  (%.1f KiB per connection)\n' "mqttguard RSS growth" "$mg" "$(echo "$mg / $C" | bc -l)"
printf '%-28s %8s KiB  (%.1f KiB per connection)\n' "HAProxy RSS growth" "$mh" "$(echo "$mh / $C" | bc -l)"
