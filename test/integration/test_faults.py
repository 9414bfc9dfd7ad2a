# SPDX-License-Identifier: ISC
"""Upstream faults told properly, against a real Mosquitto: a broker that
goes away mid-session, one that takes the connection but never answers
(SIGSTOP), and a proxy out of file descriptors."""
import os
import signal
import subprocess
import time

from helpers import (TIMEOUT, Paho, connect, plain_socket, read_frame,
                     read_until_closed, wait_until)

CONNACK_V5_0x88 = b"\x20\x03\x00\x88\x00"   # server unavailable
CONNACK_V311_0x03 = b"\x20\x02\x00\x03"     # server unavailable
CONNACK_V5_0x89 = b"\x20\x03\x00\x89\x00"   # server busy


def raw(g, cid, level=5):
    s = plain_socket(g.plain_port)
    s.sendall(connect(level=level, cid=cid))
    return s


def test_broker_lost_mid_session(guard_factory, broker):
    """A 5.0 client is told (DISCONNECT 0x80) before the close; the proxy
    goes on serving once the broker is back."""
    g = guard_factory(broker.port, plain=True)
    v5 = raw(g, b"lost-5")
    connack = read_frame(v5)
    assert connack[0] == 0x20 and connack[3] == 0, connack
    v3 = raw(g, b"lost-3", level=4)
    assert read_frame(v3) == b"\x20\x02\x00\x00"
    broker.stop()
    assert read_until_closed(v5) == b"\xe0\x01\x80"
    assert read_until_closed(v3) == b""         # 3.x has no DISCONNECT
    broker.start(broker.logfile.parent / "mosquitto.conf",
                 (broker.logfile.parent / "mosquitto.conf").read_text())
    c = Paho(g, "after", port=g.plain_port, tls=False)
    assert c.connect() == 0
    c.close()
    assert g.proc.poll() is None


def test_broker_that_never_answers(guard_factory, broker):
    """The broker takes the TCP connection (its kernel does, while it is
    stopped) but sends no CONNACK: upstream.connack_timeout answers the
    client 0x88 (3.x 0x03) instead of leaving it waiting."""
    g = guard_factory(broker.port, plain=True)
    text = g.policy.read_text().replace(
        "  connect_timeout: 3s\n",
        "  connect_timeout: 3s\n  connack_timeout: 500ms\n")
    g.stop()
    g.policy.write_text(text)
    g.respawn()
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        a = raw(g, b"wait-5")
        assert read_frame(a) == CONNACK_V5_0x88
        b = raw(g, b"wait-3", level=4)
        assert read_frame(b) == CONNACK_V311_0x03
        assert "no CONNACK within upstream.connack_timeout" in g.log()
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)


def fds(pid):
    return sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid):
    """The proxy's open descriptors once they stop changing (a probe or a
    closing session may still hold one)."""
    last = None
    for _ in range(50):
        now = fds(pid)
        if now == last:
            return set(now)
        last = now
        time.sleep(0.1)
    return set(last)


def test_out_of_descriptors_is_server_busy(guard_factory, broker):
    """With room for the client's socket but not the broker's, the client
    is told the server is busy (0x89), and the log blames the shortage,
    not the broker; with room again, clients connect."""
    g = guard_factory(broker.port, plain=True)
    pid = g.proc.pid
    got = None
    try:
        # A descriptor freed meanwhile leaves room for both: try again.
        for _ in range(5):
            openfds = settled_fds(pid)
            # The soft limit that leaves exactly one descriptor free.
            limit = 1
            while sum(1 for n in range(limit) if n not in openfds) < 1:
                limit += 1
            subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:"],
                           check=True, timeout=TIMEOUT)
            s = raw(g, b"busy-5")
            got = read_frame(s)
            s.close()
            if got == CONNACK_V5_0x89:
                break
            subprocess.run(["prlimit", f"--pid={pid}", "--nofile=4096:"],
                           check=True, timeout=TIMEOUT)
        assert got == CONNACK_V5_0x89, got
        wait_until(lambda: "no file descriptor for the connection" in
                   g.log(), what="the shortage in the log")
        assert "cannot reach the broker" not in g.log()
    finally:
        subprocess.run(["prlimit", f"--pid={pid}", "--nofile=4096:"],
                       check=True, timeout=TIMEOUT)
    c = Paho(g, "room-again", port=g.plain_port, tls=False)
    assert c.connect() == 0
    c.close()
