#!/usr/bin/python3
"""make bench: reloading the policy under load.

1. C MQTT 3.1.1 sessions are connected through mqttguard (plain listener,
   in front of the broker at BROKER_PORT); the policy is reloaded R times
   (SIGHUP, each waited for); then every session must still answer a
   PINGREQ: the number dropped is printed (the target is 0).
2. The same proxy is given a policy with an ACL of 100 000 rules: the time
   from SIGHUP to the workers having it in force, median of 3.

usage: bench_reload.py MQTTGUARD BROKER_PORT TMPDIR [C] [R]
Everything binds 127.0.0.1; the proxy started here is stopped at the end.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

from benchlib import free_port

BIN, BROKER, TMP = sys.argv[1], int(sys.argv[2]), sys.argv[3]
C = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
R = int(sys.argv[5]) if len(sys.argv) > 5 else 10
RULES = 100000
TIMEOUT = 120


def policy(port, rules=0):
    text = (f"listeners:\n  - {{name: plain, address: 127.0.0.1, "
            f"port: {port}, tls: false}}\n"
            f"upstream: {{host: 127.0.0.1, port: {BROKER}}}\n"
            "auth: {anonymous: true, empty_client_id: assign}\n"
            "limits: {max_connections_per_address: 0, "
            "max_unauthenticated: 4096, connection_rate_per_address: 0}\n"
            "log: {level: info}\n")
    if rules:
        text += "acl:\n  rules:\n    - {allow: all, topic: \"#\"}\n"
        text += "".join(f"    - {{allow: publish, topic: \"devices/d{i}/#\","
                        f" users: [d{i}]}}\n" for i in range(rules - 1))
    return text


def frame(first, body):
    n, vbi = len(body), b""
    while True:
        b = n % 128
        n //= 128
        vbi += bytes([b | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + vbi + body


def connect(cid):
    vh = b"\x00\x04MQTT\x04\x02\x00\x00"   # clean session, no keepalive
    return frame(0x10, vh + len(cid).to_bytes(2, "big") + cid)


def recv_n(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed")
        b += c
    return b


def wait_log(path, pattern, count):
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        with open(path, errors="replace") as f:
            if len(re.findall(pattern, f.read())) >= count:
                return
        time.sleep(0.002)
    raise SystemExit(f"bench_reload: no {pattern!r} in {path}")


def main():
    port = free_port()
    pol = os.path.join(TMP, "reload.yaml")
    log = os.path.join(TMP, "reload.log")
    with open(pol, "w") as f:
        f.write(policy(port))
    proc = subprocess.Popen([BIN, "-c", pol], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    try:
        run(proc, port, pol, log)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(TIMEOUT)


def run(proc, port, pol, log):
    wait_log(log, r"started", 1)
    socks = []
    for i in range(C):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.sendall(connect(b"r%d" % i))
        socks.append(s)
    for s in socks:
        assert recv_n(s, 4) == b"\x20\x02\x00\x00", "CONNACK refused"
    t0 = time.monotonic()
    for r in range(R):
        proc.send_signal(signal.SIGHUP)
        wait_log(log, r"policy in force", r + 1)
    per = (time.monotonic() - t0) / R
    dropped = 0
    for s in socks:
        try:
            s.sendall(b"\xc0\x00")
            if recv_n(s, 2) != b"\xd0\x00":
                dropped += 1
        except OSError:
            dropped += 1
    print(f"reload with {C} sessions: {R} reloads, {per * 1000:.1f} ms "
          f"each (SIGHUP to in force), {dropped} sessions dropped")
    for s in socks:
        s.close()

    with open(pol, "w") as f:
        f.write(policy(port, RULES))
    times = []
    for r in range(3):
        t0 = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        wait_log(log, r"policy in force", R + r + 1)
        times.append(time.monotonic() - t0)
    times.sort()
    print(f"reload of a {RULES}-rule ACL: {times[1] * 1000:.0f} ms "
          f"(median of 3, SIGHUP to in force; load, tests and index "
          f"included)")


if __name__ == "__main__":
    main()
