#!/usr/bin/python3
"""make bench: a reconnect storm.

N clients (default 2000, BENCH_STORM_CLIENTS), each its own user with a
210,000-iteration PBKDF2-SHA512 ($7$) entry, as `mqttguard passwd` writes
them, are connected through mqttguard to a real Mosquitto; the broker is
restarted, mqttguard drops every session, and all N reconnect at once.
Printed: the time from the broker being back until all N are connected
again, for auth.hash_threads auto and 1, with the verified-credential cache
(cache_ttl: 1h) and without (cache_ttl: 0).  The TTL is longer than the
default 10m because on a loaded machine the first connection of all N can
take longer than 10 minutes, and the first entries would have expired
before the storm (which a real fleet restarted within the TTL would not
see).  BENCH_STORM_RUNS="threads:ttl,..." picks the runs.  With the cache, the first
connection of every client (all KDF checks) is printed too.  Without it,
that first connection is skipped: a reconnect without the cache does
exactly the same work, and the run would take twice as long.

The file is written directly in Mosquitto's format (hashlib.pbkdf2_hmac):
every user has the same salt and password, so it is computed once; the
proxy's cost per check does not depend on it (each check is a full KDF).
Each client has its own 127.x.y.z source address, as a fleet would, so the
per-address limits (pending checks, connections) are those of one device.
The proxy's policy lets a storm queue up: hash_queue 4096, connect_timeout
1h (by default the deadline would close the sessions still waiting for
the hash; real devices would then retry), max_unauthenticated 4096; the
clients' keepalive is an hour, so nobody expires while the others wait.

usage: bench_storm.py MQTTGUARD TMPDIR [N]
Everything binds 127.0.0.0/8; every process started here is stopped.
"""
import asyncio
import base64
import hashlib
import os
import signal
import subprocess
import sys
import time

from benchlib import free_port, wait_port

BIN, TMP = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
ITER = 210000
PW = b"storm-password"
TIMEOUT = 3600


def passwd_file(path):
    salt = os.urandom(12)
    dk = hashlib.pbkdf2_hmac("sha512", PW, salt, ITER, 64)
    entry = "$7$%d$%s$%s" % (ITER, base64.b64encode(salt).decode(),
                             base64.b64encode(dk).decode())
    with open(path, "w") as f:
        for i in range(N):
            f.write(f"dev{i}:{entry}\n")
    os.chmod(path, 0o600)


def source(i):
    """Client <i>'s own loopback address, 127.1.0.1 onwards."""
    return f"127.{1 + i // 62500}.{(i // 250) % 250}.{1 + i % 250}"


def mqtt_str(b):
    return len(b).to_bytes(2, "big") + b


def connect_frame(i):
    user = b"dev%d" % i
    body = (mqtt_str(b"MQTT") + bytes([4, 0xC2]) + (3600).to_bytes(2, "big")
            + mqtt_str(b"storm-%d" % i) + mqtt_str(user) + mqtt_str(PW))
    n, vbi = len(body), b""
    while True:
        b, n = n % 128, n // 128
        vbi += bytes([b | (0x80 if n else 0)])
        if not n:
            return b"\x10" + vbi + body


async def connect_one(port, i, stats):
    """Connects client <i> until the proxy accepts it; returns its
    streams.  A refusal or a dropped connection is retried after 100 ms."""
    while True:
        try:
            r, w = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source(i), 0))
            w.write(connect_frame(i))
            ack = await r.readexactly(4)
            if ack == b"\x20\x02\x00\x00":
                return r, w
            stats["refused"] += 1
            w.close()
        except (OSError, asyncio.IncompleteReadError):
            stats["dropped"] += 1
        await asyncio.sleep(0.1)


async def storm(port):
    """All N clients at once: (seconds until all are in, their streams,
    retries)."""
    stats = {"refused": 0, "dropped": 0}
    t0 = time.monotonic()
    conns = await asyncio.wait_for(asyncio.gather(
        *(connect_one(port, i, stats) for i in range(N))), TIMEOUT)
    return time.monotonic() - t0, conns, stats


async def closed(conns):
    """Waits until the proxy has closed every one of <conns>."""
    async def one(r):
        try:
            while await r.read(4096):
                pass
        except OSError:
            pass
    await asyncio.wait_for(asyncio.gather(*(one(r) for r, _ in conns)),
                           60)
    for _, w in conns:
        w.close()


def start_broker(port):
    conf = os.path.join(TMP, "storm-mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                "persistence false\nuser root\nlog_type error\n")
    p = subprocess.Popen(["mosquitto", "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p, "bench_storm")
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def policy(port, broker, pwfile, threads, ttl):
    return (f"listeners:\n  - {{name: plain, address: 127.0.0.1, "
            f"port: {port}, tls: false, backlog: 4096}}\n"
            f"upstream: {{host: 127.0.0.1, port: {broker}}}\n"
            f"auth: {{password_file: {pwfile}, hash_threads: {threads}, "
            f"cache_ttl: {ttl}, hash_queue: 4096}}\n"
            "limits: {max_unauthenticated: 4096, connect_timeout: 1h}\n"
            "log: {level: warn}\n")


def fmt(t, stats):
    extra = ""
    if stats["refused"] or stats["dropped"]:
        extra = (f" ({stats['refused']} refusals, {stats['dropped']} "
                 "drops retried)")
    return f"{t:7.1f} s, {N / t:6.0f} logins/s{extra}"


async def phases(port, broker_port, broker, threads, ttl):
    """The storms of one proxy; returns the broker running at the end."""
    cache = "cache on " if ttl != "0" else "cache off"
    if ttl != "0":
        t, conns, stats = await storm(port)
        print(f"  hash_threads {threads:>4}, {cache}: first connection"
              f" {fmt(t, stats)}", flush=True)
        stop(broker)
        await closed(conns)
    else:
        stop(broker)
    broker = start_broker(broker_port)
    t, conns, stats = await storm(port)
    print(f"  hash_threads {threads:>4}, {cache}: reconnect storm  "
          f"{fmt(t, stats)}", flush=True)
    for _, w in conns:
        w.close()
    return broker


def run(threads, ttl, pwfile):
    broker_port, port = free_port(), free_port()
    broker = start_broker(broker_port)
    pol = os.path.join(TMP, "storm.yaml")
    log = os.path.join(TMP, "storm.log")
    with open(pol, "w") as f:
        f.write(policy(port, broker_port, pwfile, threads, ttl))
    guard = subprocess.Popen([BIN, "-c", pol], stdout=open(log, "a"),
                             stderr=subprocess.STDOUT)
    try:
        wait_port(port, guard, "bench_storm")
        broker = asyncio.run(phases(port, broker_port, broker, threads,
                                    ttl))
    finally:
        stop(guard)
        stop(broker)


def main():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * N + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    pwfile = os.path.join(TMP, "storm.passwd")
    passwd_file(pwfile)
    print(f"{N} clients, $7$ PBKDF2-SHA512 {ITER} iterations, "
          f"{len(os.sched_getaffinity(0))} CPUs (hash_threads auto = that)",
          flush=True)
    only = os.environ.get("BENCH_STORM_RUNS", "auto:1h,1:1h,auto:0,1:0")
    for spec in only.split(","):
        threads, ttl = spec.split(":")
        run(threads, ttl, pwfile)


if __name__ == "__main__":
    main()
