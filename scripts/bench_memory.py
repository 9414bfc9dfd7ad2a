#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make bench, memory: resident memory of a proxy holding N idle MQTT
sessions over TLS, and what it gives back when they all close at once.

For mqttguard (one worker) and HAProxy (TLS mode, one thread) in front of
the same Mosquitto, in the same run: RSS idle; RSS with N TLS sessions
connected (MQTT 3.1.1 CONNECT/CONNACK done) and idle, per session; then
every client process exits at once (the kernel closes all N sockets), and
RSS is sampled every 10 ms: its peak during the close, then 5 s and 15 s
after.

The clients run in their own processes (HOLDERS of them) so that the
proxy's descriptors (two per session) and theirs count against separate
limits.

usage: bench_memory.py MQTTGUARD TMPDIR [N]
Everything binds 127.0.0.1; everything started here is stopped at the end.
"""
import os
import socket
import ssl
import subprocess
import sys
import time

from benchlib import free_port, wait_port, more_fds

HOLDERS = 3
TIMEOUT = 300


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hold(port, ca, n, tag):
    """A client process: n TLS sessions, CONNECT done, then idle until a
    line on stdin; then it exits without closing anything itself."""
    more_fds()
    ctx = ssl.create_default_context(cafile=ca)
    socks = []
    for i in range(n):
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        cid = b"mem-%s-%06d" % (tag.encode(), i)
        body = (b"\x00\x04MQTT\x04\x02\x00\xb4" +
                len(cid).to_bytes(2, "big") + cid)
        s.sendall(bytes([0x10, len(body)]) + body)
        got = b""
        while len(got) < 4:
            chunk = s.recv(4 - len(got))
            if not chunk:
                sys.exit(f"holder: session {i} closed")
            got += chunk
        if got != b"\x20\x02\x00\x00":
            sys.exit(f"holder: session {i} refused: {got!r}")
        socks.append(s)
    print("ready", flush=True)
    sys.stdin.readline()
    os._exit(0)


def measure(name, pid, port, ca, n):
    time.sleep(1)
    idle = rss_kib(pid)
    per = [n // HOLDERS + (1 if i < n % HOLDERS else 0)
           for i in range(HOLDERS)]
    hs = [subprocess.Popen([sys.executable, __file__, "--hold", str(port),
                            ca, str(k), f"{name}{i}"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True) for i, k in enumerate(per)]
    for h in hs:
        if h.stdout.readline().strip() != "ready":
            for x in hs:
                x.kill()
            sys.exit(f"bench_memory: {name}: a client failed")
    time.sleep(2)
    held = rss_kib(pid)
    for h in hs:
        h.stdin.write("close\n")
        h.stdin.flush()
    peak, end = held, time.monotonic() + 5
    while time.monotonic() < end:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.01)
    after = rss_kib(pid)
    time.sleep(10)
    later = rss_kib(pid)
    for h in hs:
        h.wait(TIMEOUT)
    mib = 1024.0
    print(f"{name:10s} idle {idle / mib:6.1f} MiB, with {n} sessions "
          f"{held / mib:6.1f} MiB ({(held - idle) / n:4.1f} KiB each), "
          f"peak while closing {peak / mib:6.1f} MiB, 5 s after "
          f"{after / mib:6.1f} MiB, 15 s after {later / mib:6.1f} MiB",
          flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        hold(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    bin_, tmp = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 9000
    more_fds()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    certs = os.path.join(tmp, "memcerts")
    subprocess.run([os.path.join(root, "scripts", "gen-certs.sh"), certs],
                   check=True, capture_output=True)
    ca = os.path.join(certs, "ca.crt")
    b, g, h = free_port(), free_port(), free_port()
    procs = []
    try:
        with open(os.path.join(tmp, "mem-mosquitto.conf"), "w") as f:
            f.write(f"listener {b} 127.0.0.1\nallow_anonymous true\n"
                    "persistence false\nuser root\nlog_type error\n")
        procs.append(subprocess.Popen(
            ["mosquitto", "-c", f.name], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        with open(os.path.join(tmp, "mem-guard.yaml"), "w") as f:
            f.write(f"listeners:\n  - {{name: tls, address: 127.0.0.1, "
                    f"port: {g}}}\n"
                    f"tls: {{cert: {certs}/server.crt, "
                    f"key: {certs}/server.key}}\n"
                    f"upstream: {{host: 127.0.0.1, port: {b}}}\n"
                    "auth: {anonymous: true, empty_client_id: assign}\n"
                    "limits: {max_connections_per_address: 0, "
                    "max_connections: 20000, max_unauthenticated: 10000, "
                    "connection_rate_per_address: 0}\n"
                    "log: {level: warn}\nworkers: 1\n")
        procs.append(subprocess.Popen(
            [bin_, "-c", f.name], stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "mem-guard.log"), "w")))
        pem = os.path.join(tmp, "mem-haproxy.pem")
        with open(pem, "w") as f:
            for part in ("server.crt", "server.key"):
                with open(os.path.join(certs, part)) as p:
                    f.write(p.read())
        with open(os.path.join(tmp, "mem-haproxy.cfg"), "w") as f:
            f.write(f"global\n  maxconn {n + 100}\n  nbthread 1\n"
                    "  tune.ssl.cachesize 0\n"
                    "defaults\n  mode tcp\n  timeout connect 5s\n"
                    "  timeout client 1h\n  timeout server 1h\n"
                    f"frontend tls\n  bind 127.0.0.1:{h} ssl crt {pem} "
                    "no-tls-tickets\n  default_backend broker\n"
                    f"backend broker\n  server b 127.0.0.1:{b}\n")
        procs.append(subprocess.Popen(
            ["haproxy", "-f", f.name, "-db"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        for p in (b, g, h):
            wait_port(p, what="bench_memory")
        print(f"== memory: {n} idle MQTT sessions over TLS, all closed at "
              "once (RSS)")
        measure("mqttguard", procs[1].pid, g, ca, n)
        measure("HAProxy", procs[2].pid, h, ca, n)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
