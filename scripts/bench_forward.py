#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make bench, forwarding: mqttguard against HAProxy (TCP and TLS mode) and
Mosquitto reached directly, in the same run, as ratios.

 1. Streams: N 64-byte messages, mosquitto_pub -l -> proxy -> broker ->
    proxy -> mosquitto_sub, QoS 0 and QoS 1, through the plain and the TLS
    listener; msgs/s end to end and the proxy's own CPU time per message
    (utime + stime from /proc, both directions).  Pinned: proxy and broker
    share CPU 0, the clients run on CPU 1; unpinned: the scheduler decides.
    One mqttguard worker, one HAProxy thread.
 2. Workers: 4 streams at once (QoS 0, TLS, unpinned) through mqttguard
    with 1 and 2 workers and HAProxy with 1 and 2 threads: aggregate msgs/s
    and CPU per message.
 3. Latency: 10 publishers at 500 msg/s each (QoS 0, TLS, unpinned), one
    subscriber; publish-to-delivery p50/p99/max.
 4. Connections: full MQTT-over-TLS connections (TCP, TLS 1.3 handshake
    without resumption, CONNECT, CONNACK, DISCONNECT) from 2 client
    processes for a fixed time; connections per second of the proxy's
    own CPU time.

Each figure is the median of RUNS runs.  The machine's load average is
printed with the results: on a busy machine the ratios, not the absolute
figures, are what means something.

usage: bench_forward.py MQTTGUARD TMPDIR [N]
Environment: BENCH_RUNS (3), BENCH_LAT_SECS (10), BENCH_CONN_SECS (10),
BENCH_PARTS (all of "stream,workers,latency,conns").
Everything binds 127.0.0.1; everything started here is stopped at the end.
"""
import multiprocessing
import os
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import time

from benchlib import free_port, wait_port, more_fds

TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
TIMEOUT = 300


def cpu_s(pid):
    """utime + stime of <pid> and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def pin(pid, cpus):
    """Every thread of <pid> onto <cpus> (None: all of the machine's)."""
    cpus = set(range(NCPU)) if cpus is None else cpus
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


class Procs:
    """The long-running processes of the run, stopped at the end."""

    def __init__(self):
        self.procs = []

    def start(self, argv, log, port=None):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                             stderr=open(log, "w"))
        self.procs.append(p)
        if port is not None:
            wait_port(port, p, "bench_forward")
        return p

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def broker(procs, tmp):
    port = free_port()
    conf = os.path.join(tmp, "fwd-mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                "persistence false\nuser root\nmax_queued_messages 0\n"
                "log_type error\n")
    return port, procs.start(["mosquitto", "-c", conf],
                             os.path.join(tmp, "fwd-mosquitto.log"), port)


def haproxy(procs, tmp, bport, threads):
    tcp, tls = free_port(), free_port()
    cfg = os.path.join(tmp, f"fwd-haproxy-{threads}.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
  maxconn 9000
  nbthread {threads}
  tune.ssl.cachesize 0
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend plain
  bind 127.0.0.1:{tcp}
  default_backend broker
frontend tls
  bind 127.0.0.1:{tls} ssl crt {tmp}/haproxy.pem ssl-min-ver TLSv1.2 no-tls-tickets
  default_backend broker
backend broker
  server b 127.0.0.1:{bport}
""")
    p = procs.start(["haproxy", "-f", cfg, "-db"],
                    os.path.join(tmp, f"fwd-haproxy-{threads}.log"), tcp)
    wait_port(tls, p, "bench_forward")
    return tcp, tls, p


def guard(procs, tmp, binary, bport, workers):
    tcp, tls = free_port(), free_port()
    pol = os.path.join(tmp, f"fwd-guard-{workers}.yaml")
    with open(pol, "w") as f:
        f.write(f"""listeners:
  - {{name: tls, address: 127.0.0.1, port: {tls}}}
  - {{name: plain, address: 127.0.0.1, port: {tcp}, tls: false}}
tls: {{cert: {tmp}/certs/server.crt, key: {tmp}/certs/server.key}}
upstream: {{host: 127.0.0.1, port: {bport}}}
auth: {{anonymous: true, empty_client_id: assign}}
workers: {workers}
log: {{level: warn}}
""")
    p = procs.start([binary, "-c", pol],
                    os.path.join(tmp, f"fwd-guard-{workers}.log"), tcp)
    wait_port(tls, p, "bench_forward")
    return tcp, tls, p


# ---- 1 and 2: streams ------------------------------------------------------

def client_args(port, tls, ca):
    a = ["-h", "127.0.0.1", "-p", str(port)]
    return a + ["--cafile", ca] if tls else a


def stream(port, tls, ca, qos, n, msgs, pid, cpus, streams=1):
    """msgs/s and proxy ns/msg (pid None: no proxy) of <streams> parallel
    pub/sub pairs of <n> messages each."""
    pre = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    subs = []
    for k in range(streams):
        subs.append(subprocess.Popen(
            pre + ["mosquitto_sub"] + client_args(port, tls, ca) +
            ["-t", f"bench/{k}", "-q", str(qos), "-C", str(n), "-W", "120"],
            stdout=subprocess.DEVNULL))
    time.sleep(0.7)
    c0 = cpu_s(pid) if pid else 0
    t0 = time.monotonic()
    pubs = [subprocess.Popen(
        pre + ["mosquitto_pub"] + client_args(port, tls, ca) +
        ["-t", f"bench/{k}", "-q", str(qos), "-l"],
        stdin=open(msgs), stdout=subprocess.DEVNULL)
        for k in range(streams)]
    ok = True
    for p in pubs + subs:
        ok = p.wait(TIMEOUT) == 0 and ok
    t1 = time.monotonic()
    if not ok:
        raise SystemExit(f"bench_forward: a client failed on port {port}")
    c1 = cpu_s(pid) if pid else 0
    total = n * streams
    return total / (t1 - t0), (c1 - c0) * 1e9 / total


def median_of(runs, fn):
    got = [fn() for _ in range(runs)]
    return (statistics.median(g[0] for g in got),
            statistics.median(g[1] for g in got))


def part_streams(env, runs, n):
    """Table 1: every target, QoS 0 and 1, pinned and unpinned."""
    rows = {}
    targets = [("direct Mosquitto", env["bport"], False, None),
               ("HAProxy TCP", env["h_tcp"], False, env["hap"]),
               ("mqttguard plain", env["g_tcp"], False, env["grd"]),
               ("HAProxy TLS", env["h_tls"], True, env["hap"]),
               ("mqttguard TLS", env["g_tls"], True, env["grd"])]
    for pinned in (True, False):
        for p in (env["brk"], env["hap"], env["grd"]):
            pin(p.pid, {0} if pinned and NCPU > 1 else None)
        cl = [1] if pinned and NCPU > 1 else None
        for qos in (0, 1):
            count = n if qos == 0 else max(n // 4, 1000)
            msgs = env["msgs"][qos]
            for name, port, tls, proc in targets:
                rows[(pinned, qos, name)] = median_of(runs, lambda: stream(
                    port, tls, env["ca"], qos, count, msgs,
                    proc.pid if proc else None, cl))
    for p in (env["brk"], env["hap"], env["grd"]):
        pin(p.pid, None)
    return rows


def print_streams(rows, n):
    print(f"== forwarding: {n} (QoS 0) / {max(n // 4, 1000)} (QoS 1) "
          "messages of 64 bytes; msgs/s end to end, ns of the proxy's CPU "
          "per message")
    print("| case | direct | HAProxy TCP | mqttguard plain | HAProxy TLS | "
          "mqttguard TLS | plain vs direct | plain vs HAProxy TCP | "
          "TLS vs HAProxy TLS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pinned in (True, False):
        for qos in (0, 1):
            r = {k[2]: v for k, v in rows.items()
                 if k[0] == pinned and k[1] == qos}
            d, ht, gp = r["direct Mosquitto"], r["HAProxy TCP"], \
                r["mqttguard plain"]
            hs, gs = r["HAProxy TLS"], r["mqttguard TLS"]
            print(f"| QoS {qos}, {'pinned' if pinned else 'unpinned'} | "
                  f"{d[0]:.0f}/s | {ht[0]:.0f}/s, {ht[1]:.0f} ns | "
                  f"{gp[0]:.0f}/s, {gp[1]:.0f} ns | "
                  f"{hs[0]:.0f}/s, {hs[1]:.0f} ns | "
                  f"{gs[0]:.0f}/s, {gs[1]:.0f} ns | "
                  f"{gp[0] / d[0]:.2f}x msgs/s | "
                  f"{gp[0] / ht[0]:.2f}x msgs/s, {gp[1] / ht[1]:.2f}x CPU | "
                  f"{gs[0] / hs[0]:.2f}x msgs/s, {gs[1] / hs[1]:.2f}x CPU |")


def part_workers(procs, env, runs, n):
    """Table 2: 4 parallel TLS streams, 1 and 2 workers/threads."""
    out = []
    per = max(n // 4, 1000)
    for w in (1, 2):
        _, gtls, gp = guard(procs, env["tmp"], env["bin"], env["bport"], w)
        _, htls, hp = haproxy(procs, env["tmp"], env["bport"], w)
        g = median_of(runs, lambda: stream(gtls, True, env["ca"], 0, per,
                                           env["msgs"][0], gp.pid, None, 4))
        h = median_of(runs, lambda: stream(htls, True, env["ca"], 0, per,
                                           env["msgs"][0], hp.pid, None, 4))
        out.append((w, g, h))
        procs.stop(gp)
        procs.stop(hp)
    print(f"== workers: 4 TLS streams of {per} QoS 0 messages at once, "
          "unpinned")
    print("| workers / threads | mqttguard | HAProxy TLS | ratio |")
    print("|---|---|---|---|")
    for w, g, h in out:
        print(f"| {w} | {g[0]:.0f}/s, {g[1]:.0f} ns/msg | "
              f"{h[0]:.0f}/s, {h[1]:.0f} ns/msg | {g[0] / h[0]:.2f}x "
              f"msgs/s, {g[1] / h[1]:.2f}x CPU |")
    if len(out) == 2:
        print(f"mqttguard 2 workers vs 1: {out[1][1][0] / out[0][1][0]:.2f}x "
              f"msgs/s, {out[1][1][1] / out[0][1][1]:.2f}x CPU per message")


# ---- 3: latency ------------------------------------------------------------

def mqtt_connect(port, ca, cid):
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 30),
                        server_hostname="localhost")
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(cid)) + cid
    s.sendall(bytes([0x10, len(body)]) + body)
    ack = b""
    while len(ack) < 4:
        chunk = s.recv(4 - len(ack))
        if not chunk:
            raise SystemExit("bench_forward: closed before CONNACK")
        ack += chunk
    if ack != b"\x20\x02\x00\x00":
        raise SystemExit(f"bench_forward: CONNACK {ack!r}")
    return s


def publisher(port, ca, k, rate, secs, start):
    s = mqtt_connect(port, ca, b"lat-pub-%d" % k)
    topic = b"lat/%d" % k
    while time.time() < start:
        time.sleep(0.001)
    nxt = time.monotonic()
    end = nxt + secs
    while nxt < end:
        payload = struct.pack(">Q", time.monotonic_ns()) + b"x" * 56
        body = struct.pack(">H", len(topic)) + topic + payload
        s.sendall(bytes([0x30, len(body)]) + body)
        nxt += 1.0 / rate
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
    time.sleep(0.5)
    s.close()


def subscriber(port, ca, ready, q):
    s = mqtt_connect(port, ca, b"lat-sub")
    s.sendall(b"\x82\x0a\x00\x01\x00\x05lat/#\x00")
    buf = b""
    while len(buf) < 5:
        buf += s.recv(5 - len(buf))
    ready.set()
    s.settimeout(3)
    lat, buf = [], b""
    while True:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        now = time.monotonic_ns()
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + buf[1]:
            frame, buf = buf[2:2 + buf[1]], buf[2 + buf[1]:]
            tl = struct.unpack(">H", frame[:2])[0]
            lat.append((now - struct.unpack(">Q", frame[2 + tl:10 + tl])[0])
                       / 1e6)
    q.put(lat)


def latency(port, ca, secs):
    """p50, p99, max (ms) and count of 10 publishers x 500 msg/s."""
    ready, q = multiprocessing.Event(), multiprocessing.Queue()
    sub = multiprocessing.Process(target=subscriber, args=(port, ca, ready, q))
    sub.start()
    if not ready.wait(30):
        raise SystemExit("bench_forward: subscriber never ready")
    start = time.time() + 1
    pubs = [multiprocessing.Process(target=publisher,
                                    args=(port, ca, k, 500, secs, start))
            for k in range(10)]
    for p in pubs:
        p.start()
    for p in pubs:
        p.join(secs + 60)
    lat = q.get(timeout=60)
    sub.join(10)
    lat.sort()
    if not lat:
        raise SystemExit("bench_forward: no message arrived")
    return (lat[len(lat) // 2], lat[min(len(lat) - 1, len(lat) * 99 // 100)],
            lat[-1], len(lat))


def part_latency(env, secs):
    print(f"== latency: 10 publishers x 500 msg/s over TLS, QoS 0, {secs} s "
          "(ms, publish to delivery)")
    print("| through | p50 | p99 | max | received |")
    print("|---|---|---|---|---|")
    res = {}
    for name, port in (("HAProxy TLS", env["h_tls"]),
                       ("mqttguard TLS", env["g_tls"])):
        res[name] = latency(port, env["ca"], secs)
        r = res[name]
        print(f"| {name} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} | {r[3]} |")
    g, h = res["mqttguard TLS"], res["HAProxy TLS"]
    print(f"mqttguard vs HAProxy: p50 {g[0] / h[0]:.2f}x, "
          f"p99 {g[1] / h[1]:.2f}x")


# ---- 4: connections per CPU-second --------------------------------------------

def connector(port, ca, secs, q):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    n, k = 0, 0
    end = time.monotonic() + secs
    pid = os.getpid()
    while time.monotonic() < end:
        cid = b"conn-%d-%d" % (pid, k)
        k += 1
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
                                                         10),
                                server_hostname="localhost")
            body = (b"\x00\x04MQTT\x04\x02\x00\x3c" +
                    struct.pack(">H", len(cid)) + cid)
            s.sendall(bytes([0x10, len(body)]) + body)
            if s.recv(4) == b"\x20\x02\x00\x00":
                n += 1
            s.sendall(b"\xe0\x00")
            s.close()
        except OSError:
            pass
    q.put(n)


def connections(port, ca, pid, secs):
    q = multiprocessing.Queue()
    c0, t0 = cpu_s(pid), time.monotonic()
    ps = [multiprocessing.Process(target=connector, args=(port, ca, secs, q))
          for _ in range(2)]
    for p in ps:
        p.start()
    n = sum(q.get(timeout=secs + 60) for _ in ps)
    for p in ps:
        p.join(10)
    t1, c1 = time.monotonic(), cpu_s(pid)
    return n / (t1 - t0), n / max(c1 - c0, 1e-9)


def part_conns(env, runs, secs):
    print(f"== connections: full MQTT-over-TLS connections (TLS 1.3, no "
          f"resumption), 2 clients x {secs} s")
    print("| through | connections/s | per proxy CPU-second |")
    print("|---|---|---|")
    res = {}
    for name, port, proc in (("HAProxy TLS", env["h_tls"], env["hap"]),
                             ("mqttguard TLS", env["g_tls"], env["grd"])):
        res[name] = median_of(runs, lambda: connections(port, env["ca"],
                                                        proc.pid, secs))
        print(f"| {name} | {res[name][0]:.0f} | {res[name][1]:.0f} |")
    g, h = res["mqttguard TLS"], res["HAProxy TLS"]
    print(f"mqttguard vs HAProxy: {g[0] / h[0]:.2f}x connections/s, "
          f"{g[1] / h[1]:.2f}x per CPU-second")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    binary, tmp = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    parts = os.environ.get("BENCH_PARTS",
                           "stream,workers,latency,conns").split(",")
    more_fds()
    if not os.path.exists(os.path.join(tmp, "haproxy.pem")):
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(
            __file__)), "gen-certs.sh"), os.path.join(tmp, "certs")],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with open(os.path.join(tmp, "haproxy.pem"), "w") as f:
            for part in ("server.crt", "server.key"):
                f.write(open(os.path.join(tmp, "certs", part)).read())
    env = {"tmp": tmp, "bin": binary, "ca": os.path.join(tmp, "certs",
                                                          "ca.crt")}
    env["msgs"] = {}
    for qos in (0, 1):
        env["msgs"][qos] = os.path.join(tmp, f"fwd-msgs-{qos}")
        count = n if qos == 0 else max(n // 4, 1000)
        with open(env["msgs"][qos], "w") as f:
            f.write(("x" * 63 + "\n") * count)
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        env["bport"], env["brk"] = broker(procs, tmp)
        env["h_tcp"], env["h_tls"], env["hap"] = haproxy(procs, tmp,
                                                         env["bport"], 1)
        env["g_tcp"], env["g_tls"], env["grd"] = guard(procs, tmp, binary,
                                                       env["bport"], 1)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        if "stream" in parts:
            print_streams(part_streams(env, runs, n), n)
        if "latency" in parts:
            part_latency(env, int(os.environ.get("BENCH_LAT_SECS", "10")))
        if "conns" in parts:
            part_conns(env, runs, int(os.environ.get("BENCH_CONN_SECS",
                                                     "10")))
        if "workers" in parts:
            part_workers(procs, env, runs, n)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
