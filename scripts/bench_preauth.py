#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make bench, pre-authentication attacks: what an honest client sees
while attackers spend mqttguard's budget for connections not yet
authenticated, or its CPU on TLS handshakes.  One worker, the example
policy's limits (max_unauthenticated 1024, 100 connections and 20 new ones
a second per address, burst 40, a 10 s TLS handshake deadline).

Three runs per binary, each with an honest QoS 1 publisher and subscriber
(paho, over TLS, connected before the attack starts) reporting
publish-to-delivery p50/p99, and then 100 honest
connection attempts (TLS handshake, CONNECT, CONNACK; from addresses of
their own) reporting how many got in:
  quiet   no attacker;
  hold    2,000 silent connections from 20 addresses in 20 networks
          (127.0.100-119.1), each reopened 0.1 s after the proxy closes
          it: the budget stays full;
  flood   TLS ClientHellos at about 2,000 a second from 100 addresses
          (127.0.200.1-100, each under the per-address rate), each
          connection closed once the server's first flight arrives.

usage: bench_preauth.py BROKER_PORT TMPDIR LABEL=MQTTGUARD [LABEL=...]
e.g. before=/path/to/old/mqttguard after=build/mqttguard.  Everything binds
127.0.0.1; everything started here is stopped at the end.
"""
import multiprocessing
import os
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from benchlib import free_port, wait_port, more_fds

BROKER, TMP = int(sys.argv[1]), sys.argv[2]
MSGS = 200
ATTEMPTS = 100
PHASE_S = 30    # each measurement ends by then; what was not done failed


def hold(port, stop):
    """2,000 silent connections; each reopened 0.1 s after it is closed."""
    more_fds()
    sel = selectors.DefaultSelector()
    later = []

    def open1(addr):
        s = socket.socket()
        s.setblocking(False)
        s.bind((addr, 0))
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_READ, addr)
    for n in range(20):
        for _ in range(100):
            open1(f"127.0.{100 + n}.1")
    while not stop.is_set():
        for key, _ in sel.select(0.05):
            sel.unregister(key.fileobj)
            key.fileobj.close()
            later.append((time.monotonic() + 0.1, key.data))
        now = time.monotonic()
        while later and later[0][0] <= now:
            open1(later.pop(0)[1])


def client_hello():
    """The bytes of a TLS ClientHello, made once by an in-memory client."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def flood(port, stop, rate=2000):
    """ClientHellos at <rate>/s from 100 addresses; each connection is
    closed when the server answers, or after 2 s."""
    more_fds()
    hello = client_hello()
    sel = selectors.DefaultSelector()
    born = {}
    start, sent = time.monotonic(), 0
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while sent < due and len(born) < 4000:
            s = socket.socket()
            s.setblocking(False)
            s.bind((f"127.0.200.{sent % 100 + 1}", 0))
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE)
            born[s] = time.monotonic()
            sent += 1
        for key, ev in sel.select(0.002):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(hello)
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                except OSError:
                    pass
            sel.unregister(s)
            del born[s]
            s.close()
        now = time.monotonic()
        for s in [s for s, t in born.items() if now - t > 2]:
            sel.unregister(s)
            del born[s]
            s.close()


def pair(port, ca):
    """An honest subscriber and publisher, connected (before any attack:
    they are the established sessions)."""
    clients = []
    for cid in ("lat-sub", "lat-pub"):
        c = mqtt.Client(client_id=cid)
        c.tls_set(ca_certs=ca)
        c.connect("127.0.0.1", port)
        c.loop_start()
        clients.append(c)
    clients[0].subscribe("lat/x", 1)
    time.sleep(0.5)
    return clients


def latency(clients):
    """QoS 1 publish-to-delivery: p50 and p99 in ms, and how many of MSGS
    arrived within 5 s each (one at a time, for at most PHASE_S)."""
    lat, sent = [], {}
    got = threading.Event()
    sub, pub = clients

    def on_message(c, u, m):
        lat.append(time.monotonic() - sent[int(m.payload)])
        got.set()
    sub.on_message = on_message
    end = time.monotonic() + PHASE_S
    for i in range(MSGS):
        if time.monotonic() > end:
            break
        got.clear()
        sent[i] = time.monotonic()
        pub.publish("lat/x", str(i), qos=1)
        got.wait(5)
        time.sleep(0.01)
    sub.on_message = None
    lat.sort()
    if not lat:
        return float("nan"), float("nan"), 0
    return (lat[len(lat) // 2] * 1000,
            lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, len(lat))


def attempts(port, ca):
    """Honest connection attempts, one at a time for at most PHASE_S: how
    many got a CONNACK accepting them within 5 s (those not made count as
    failed)."""
    ctx = ssl.create_default_context(cafile=ca)
    ok = 0
    end = time.monotonic() + PHASE_S
    for i in range(ATTEMPTS):
        if time.monotonic() > end:
            break
        try:
            raw = socket.socket()
            raw.settimeout(5)
            raw.bind((f"127.0.{1 + i % 50}.{2 + i // 50}", 0))
            raw.connect(("127.0.0.1", port))
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            cid = b"honest%03d" % i
            body = (b"\x00\x04MQTT\x04\x02\x00\x3c" +
                    len(cid).to_bytes(2, "big") + cid)
            s.sendall(bytes([0x10, len(body)]) + body)
            ok += s.recv(4) == b"\x20\x02\x00\x00"
            s.close()
        except OSError:
            pass
        time.sleep(0.02)
    return ok


def run(label, bin_, certs):
    port = free_port()
    ca = os.path.join(certs, "ca.crt")
    conf = os.path.join(TMP, f"preauth-{label}.yaml")
    with open(conf, "w") as f:
        f.write(f"listeners:\n  - {{name: tls, address: 127.0.0.1, "
                f"port: {port}}}\n"
                f"tls: {{cert: {certs}/server.crt, "
                f"key: {certs}/server.key}}\n"
                f"upstream: {{host: 127.0.0.1, port: {BROKER}}}\n"
                "auth: {anonymous: true, empty_client_id: assign}\n"
                "limits: {max_unauthenticated: 1024, "
                "max_connections_per_address: 100, "
                "connection_rate_per_address: 20, "
                "connection_burst_per_address: 40, "
                "tls_handshake_timeout: 10s}\n"
                "log: {level: error}\nworkers: 1\n")
    proc = subprocess.Popen([bin_, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=open(conf + ".log", "w"))
    try:
        wait_port(port, what="bench_preauth")
        for name, attack in (("quiet", None), ("hold", hold),
                             ("flood", flood)):
            stop = multiprocessing.Event()
            clients = pair(port, ca)
            p = None
            if attack is not None:
                p = multiprocessing.Process(target=attack,
                                            args=(port, stop))
                p.start()
                time.sleep(3)
            p50, p99, n = latency(clients)
            ok = attempts(port, ca)
            stop.set()
            if p is not None:
                p.join(10)
                if p.is_alive():
                    p.terminate()
            for c in clients:
                c.loop_stop()
                c.disconnect()
            print(f"{label:8s} {name:6s} QoS 1 p50 {p50:7.2f} ms  p99 "
                  f"{p99:8.2f} ms ({n}/{MSGS})  honest connects "
                  f"{ok}/{ATTEMPTS}", flush=True)
            time.sleep(2)
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    more_fds()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    certs = os.path.join(TMP, "preauth-certs")
    subprocess.run([os.path.join(root, "scripts", "gen-certs.sh"), certs],
                   check=True, capture_output=True)
    print("== pre-authentication attacks, one worker: honest QoS 1 "
          "latency and connects")
    for arg in sys.argv[3:]:
        label, bin_ = arg.split("=", 1)
        run(label, bin_, certs)


if __name__ == "__main__":
    main()
