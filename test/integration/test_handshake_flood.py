# SPDX-License-Identifier: ISC
"""A flood of TLS ClientHellos from several networks, each connection
closed once the server's first flight arrives (or after 2 s), runs while an
honest paho client from a network of its own connects again and again.

The server's certificate has an RSA 4096 key, so that each handshake costs
a few milliseconds of signing: the flood asks for several times what one
worker can sign, on an idle machine as on a loaded one.  Without the
handshake budget the worker takes every connection and the honest
ClientHello waits behind hundreds of others; with it, the flooding
networks' connections beyond their share are closed at accept, unread, and
the honest client's network, which has its whole share, gets in.  The
honest client logs in with a password, so from its first login on its
address is a known device, which may run a few handshakes past its
network's share: on a busy machine the budget in force shrinks, and a
share of it is less than one connection a second.

What is asserted is a count of attempts that got a CONNACK within a
generous bound, never a latency.
"""
import multiprocessing
import resource
import selectors
import shutil
import socket
import ssl
import subprocess
import time

import paho.mqtt.client as mqtt

from helpers import (Guard, client_hello, passwd_file, password,
                     wait_until)

FLOOD_RATE = 1000           # ClientHellos a second, all networks together
FLOOD_NETS = 8              # 127.0.21.1 ... 127.0.28.1
HONEST_ADDR = "127.0.50.1"  # a network of its own
ATTEMPTS = 12
ATTEMPT_S = 5               # each: TCP, TLS, CONNECT, CONNACK within this


def rsa_certs(certs, tmp):
    """A copy of <certs>' CA with a server pair on an RSA 4096 key it
    signed (as gen-certs.sh's server pair: localhost, 127.0.0.1)."""
    d = tmp / "rsa-certs"
    d.mkdir()
    shutil.copy(certs / "ca.crt", d / "ca.crt")
    ext = d / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run = dict(check=True, capture_output=True, timeout=120)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:4096", "-out", str(d / "server.key")],
                   **run)
    subprocess.run(["openssl", "req", "-new", "-key", str(d / "server.key"),
                    "-subj", "/CN=localhost", "-out", str(d / "server.csr")],
                   **run)
    subprocess.run(["openssl", "x509", "-req", "-in", str(d / "server.csr"),
                    "-CA", str(certs / "ca.crt"), "-CAkey",
                    str(certs / "ca.key"), "-CAcreateserial", "-CAserial",
                    str(d / "ca.srl"), "-days", "30", "-sha256", "-extfile",
                    str(ext), "-out", str(d / "server.crt")], **run)
    return d


def flood(port, stop):
    """ClientHellos at FLOOD_RATE from FLOOD_NETS networks, at most 3 000
    open at once; each connection is closed when the server answers or
    closes, or after 2 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    hello = client_hello()
    sel = selectors.DefaultSelector()
    born = {}
    start, sent = time.monotonic(), 0
    while not stop.is_set():
        due = int((time.monotonic() - start) * FLOOD_RATE)
        while sent < due and len(born) < 3000:
            s = socket.socket()
            s.setblocking(False)
            s.bind((f"127.0.{21 + sent % FLOOD_NETS}.1", 0))
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE)
            born[s] = time.monotonic()
            sent += 1
        for key, ev in sel.select(0.005):
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


def honest(guard, i):
    """One honest connection from HONEST_ADDR: whether it got a CONNACK
    accepting it within ATTEMPT_S."""
    c = mqtt.Client(client_id=f"honest{i}")
    c.tls_set(ca_certs=str(guard.certs / "ca.crt"))
    c.username_pw_set("device", password("device"))
    done = []
    c.on_connect = lambda cl, u, f, rc: done.append(rc)
    end = time.monotonic() + ATTEMPT_S
    try:
        # paho 1.6 bounds the TLS handshake by the keepalive.
        c.connect("127.0.0.1", guard.port, keepalive=ATTEMPT_S,
                  bind_address=HONEST_ADDR)
        c.loop_start()
        while not done and time.monotonic() < end:
            time.sleep(0.02)
        return done == [0]
    except (OSError, ssl.SSLError):
        return False
    finally:
        c.loop_stop()
        try:
            c.disconnect()
        except OSError:
            pass


def test_honest_client_gets_in_during_clienthello_flood(certs, broker,
                                                        tmp_path):
    pw = passwd_file(tmp_path / "passwd", ["device"])
    g = Guard(tmp_path, rsa_certs(certs, tmp_path), broker.port,
              limits="  max_unauthenticated: 10000\n"
                     "  tls_handshake_timeout: 10s\n",
              auth=f"auth:\n  password_file: {pw}\n")
    stop = multiprocessing.Event()
    p = multiprocessing.Process(target=flood, args=(g.port, stop))
    p.start()
    try:
        time.sleep(3)   # the flood's queue, if any, builds up
        got = 0
        for i in range(ATTEMPTS):
            got += honest(g, i)
            time.sleep(0.5)
        print(f"{got} of {ATTEMPTS} honest connections got in")
        stop.set()
        p.join(10)
        # Generous: all of them get in on an idle machine; without the
        # budget next to none do.
        assert got >= ATTEMPTS * 2 // 3, f"{got} of {ATTEMPTS} got in"
        wait_until(lambda: "share spent (limits.handshake_budget)" in
                   g.log(), what="the refusal's log line")
    finally:
        stop.set()
        if p.is_alive():
            p.terminate()
            p.join()
        g.stop()
