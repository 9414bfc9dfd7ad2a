#!/bin/sh
# make bench: figures as ratios against baselines measured in the same run.
#
#  1. codec: decode+validate throughput of 64-byte PUBLISH frames (one core).
#     acl: ns per ACL check with 10, 10 000 and 1 000 000 rules (per-user
#     "devices/<user>/#" rules, group rules, wildcards), users picked at
#     random; the ratio 1M/10 (target <= 3 x, and < 1 us per check); and
#     one session's topic asked again and again, without and with its
#     decision cache.
#  2. forwarding (scripts/bench_forward.py): N messages of 64 bytes,
#     mosquitto_pub -l -> broker -> mosquitto_sub, end to end, QoS 0 and 1,
#     pinned (proxy and broker on one core) and unpinned, through Mosquitto
#     directly, HAProxy (TCP and TLS) and mqttguard (plain and TLS), with
#     the CPU time each proxy spends per message; 4 streams with 1 and 2
#     workers/threads; p50/p99 at 10 publishers x 500 msg/s; full
#     MQTT-over-TLS connections per proxy CPU-second.
#  3. memory: RSS growth of each proxy holding C idle MQTT connections.
#  4. TLS handshakes: full TLS 1.3 handshakes per second (openssl s_time
#     -new, no resumption) through mqttguard and through HAProxy
#     terminating TLS with the same EC P-256 key, one thread each, with the
#     CPU time each proxy spent per handshake.
#  5. limits: a legitimate client's publish-to-delivery latency (p50/p99)
#     through mqttguard alone, and while a flooding client publishes QoS 0
#     as fast as it can, held to limits.message_rate by throttling.
#  6. reload: C sessions connected through mqttguard while the policy is
#     reloaded 10 times (sessions dropped: target 0), and the time a
#     reload of a 100 000-rule ACL takes, SIGHUP to in force.
#  7. reconnect storm: S clients with 210,000-iteration $7$ entries
#     reconnecting at once after a broker restart, time until all are in,
#     with and without the credential cache, hash_threads auto and 1.
#  8. pre-authentication attacks (scripts/bench_preauth.py): an honest
#     client's QoS 1 latency (p50/p99) and connection success while 2 000
#     silent connections from 20 networks hold max_unauthenticated, and
#     while ClientHellos arrive at ~2 000/s from 100 addresses; with
#     BENCH_BASELINE=/path/to/another/mqttguard, that binary too, for a
#     before/after comparison in the same run.
#  9. memory after a mass close (scripts/bench_memory.py): RSS of mqttguard
#     and HAProxy (TLS) holding BENCH_MEM_CONNS idle TLS sessions, its peak
#     when they all close at once, and 5 s and 15 s later.
# 10. WebSockets (scripts/bench_ws.py): N QoS 0 messages of 64 bytes and
#     N/4 of 4 KiB through one mqttguard over wss:// and over mqtts://,
#     MQTT.js under Node publishing and subscribing on both: msgs/s and
#     the proxy's CPU time per message, WSS as a ratio of TLS.
# Everything binds 127.0.0.1 on free ports and is stopped at the end.
# BENCH_MSGS (default 200000), BENCH_CONNS (default 1000), BENCH_RUNS (3),
# BENCH_HS_SECS (seconds per handshake run, 10), BENCH_HS_CLIENTS (2),
# BENCH_MEM_CONNS (9000), BENCH_STORM_CLIENTS (2000; the storm's KDF
# checks take minutes), BENCH_WS_MSGS (N).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh --bench
make -s -j2 build/mqttguard build/bench_codec build/bench_acl

N=${BENCH_MSGS:-200000}
C=${BENCH_CONNS:-1000}
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

echo "== acl: ns per check (one core)"
build/bench_acl

scripts/gen-certs.sh "$tmp/certs" 2>/dev/null
cat "$tmp/certs/server.crt" "$tmp/certs/server.key" >"$tmp/haproxy.pem"
B=$(port); GT=$(port); GP=$(port); HT=$(port); HP=$(port)

printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nmax_queued_messages 0\nlog_type error\n' "$B" >"$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
mpid=$!; pids="$pids $mpid"
cat >"$tmp/guard.yaml" <<Y
listeners:
  - {name: tls, address: 127.0.0.1, port: $GT}
  - {name: plain, address: 127.0.0.1, port: $GP, tls: false}
tls: {cert: $tmp/certs/server.crt, key: $tmp/certs/server.key}
upstream: {host: 127.0.0.1, port: $B}
auth: {anonymous: true, empty_client_id: assign}
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

# 2. forwarding (scripts/bench_forward.py): streams QoS 0 and 1, pinned and
# unpinned; 1 and 2 workers; latency at 10 x 500 msg/s; full connections
# per CPU-second; against HAProxy TCP and TLS and Mosquitto directly.
/usr/bin/python3 scripts/bench_forward.py "$root/build/mqttguard" "$tmp" "$N"

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

# ---- 4. TLS handshakes ----------------------------------------------------
# Each client is one openssl s_time doing full handshakes back to back
# (-new: no session reused, and both proxies have resumption off anyway),
# then closing.  mqttguard opens no broker connection before a CONNECT;
# HAProxy is kept from opening one by waiting for client data that never
# comes, so both do the handshake and nothing else.  Clients and proxies
# share the machine's cores: the handshakes per second of the proxy's own
# CPU time is the figure that does not depend on the clients.
HS_SECS=${BENCH_HS_SECS:-10}
HS_CLIENTS=${BENCH_HS_CLIENTS:-2}
HH=$(port)
cat >"$tmp/haproxy-hs.cfg" <<H
global
  maxconn 9000
  nbthread 1
  tune.ssl.cachesize 0
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend hs
  bind 127.0.0.1:$HH ssl crt $tmp/haproxy.pem ssl-min-ver TLSv1.2 no-tls-tickets
  tcp-request inspect-delay 1h
  tcp-request content accept if { req.len gt 0 }
  default_backend broker
backend broker
  server b 127.0.0.1:$B
H
haproxy -f "$tmp/haproxy-hs.cfg" -db 2>"$tmp/haproxy-hs.log" &
hspid=$!; pids="$pids $hspid"
wait_port "$HH"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# handshakes PORT PID: "handshakes/s handshakes-per-proxy-CPU-second"
handshakes() {
	c0=$(cpu "$2")
	t0=$(date +%s.%N)
	k=0
	spids=""
	while [ $k -lt "$HS_CLIENTS" ]; do
		openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 \
		    -time "$HS_SECS" >"$tmp/stime.$k" 2>&1 &
		spids="$spids $!"
		k=$((k + 1))
	done
	for sp in $spids; do wait "$sp"; done
	t1=$(date +%s.%N)
	c1=$(cpu "$2")
	n=$(cat "$tmp"/stime.* | awk '/connections in .* real seconds/ {s += $1} END {print s + 0}')
	rm -f "$tmp"/stime.*
	echo "$n $t0 $t1 $c0 $c1" | awk -v tck="$tck" \
	    '{printf "%.0f %.0f", $1 / ($3 - $2), ($5 > $4) ? $1 / (($5 - $4) / tck) : 0}'
}
echo "== TLS 1.3 full handshakes, EC P-256, $HS_CLIENTS s_time clients x ${HS_SECS}s, one proxy thread"
set -- $(handshakes "$GT" "$gpid"); gw=$1; gc=$2
set -- $(handshakes "$HH" "$hspid"); hw=$1; hc=$2
printf '%-28s %8s /s  %8s per proxy CPU-second\n' "HAProxy TLS" "$hw" "$hc"
printf '%-28s %8s /s  %8s per proxy CPU-second  (%.2f x HAProxy, %.2f x per CPU-second)\n' \
    "mqttguard TLS" "$gw" "$gc" "$(echo "$gw / $hw" | bc -l)" "$(echo "$gc / $hc" | bc -l)"

echo "== limits: legit publish latency with and without a flooding client"
LP=$(port)
cat >"$tmp/guard-limits.yaml" <<Y
listeners:
  - {name: plain, address: 127.0.0.1, port: $LP, tls: false}
upstream: {host: 127.0.0.1, port: $B}
auth: {anonymous: true, empty_client_id: assign}
limits: {message_rate: 1000, message_burst: 1000, rate_action: throttle}
log: {level: error}
Y
build/mqttguard -c "$tmp/guard-limits.yaml" 2>"$tmp/guard-limits.log" &
pids="$pids $!"
wait_port "$LP"
/usr/bin/python3 scripts/bench_latency.py "$LP"

echo "== reload: $C connected sessions, 10 reloads; a 100 000-rule ACL"
/usr/bin/python3 scripts/bench_reload.py "$root/build/mqttguard" "$B" "$tmp" "$C" 10

echo "== reconnect storm: ${BENCH_STORM_CLIENTS:-2000} clients, \$7\$ 210000 iterations"
/usr/bin/python3 scripts/bench_storm.py "$root/build/mqttguard" "$tmp" "${BENCH_STORM_CLIENTS:-2000}"

# shellcheck disable=SC2086
/usr/bin/python3 scripts/bench_preauth.py "$B" "$tmp" \
    ${BENCH_BASELINE:+before=$BENCH_BASELINE} mqttguard="$root/build/mqttguard"
/usr/bin/python3 scripts/bench_memory.py "$root/build/mqttguard" "$tmp" \
    "${BENCH_MEM_CONNS:-9000}"
/usr/bin/python3 scripts/bench_ws.py "$root/build/mqttguard" "$B" "$tmp" \
    "${BENCH_WS_MSGS:-$N}" "$RUNS"
