# SPDX-License-Identifier: ISC
"""Faults at scale, against a real Mosquitto, and what they leave behind:
the broker killed and restarted under fifty sessions, a broker that is not
there or never answers (a thousand attempts), a frozen broker under
publishers, a proxy out of descriptors, and clients that vanish mid-frame,
mid-handshake or with an RST.  After each, the proxy's open descriptors
(/proc/PID/fd) are back to the idle count exactly and its resident memory
(VmRSS) within a fixed margin of the idle figure."""
import os
import signal
import socket
import subprocess
import threading
import time

from helpers import (TIMEOUT, Paho, accepted, client_hello, client_socket,
                     connect, plain_socket, publish, read_frame,
                     read_until_closed, wait_until)

CONNACK_V5_0x88 = b"\x20\x03\x00\x88\x00"   # server unavailable
CONNACK_V311_0x03 = b"\x20\x02\x00\x03"     # server unavailable
LINGER_0 = b"\x01\x00\x00\x00\x00\x00\x00\x00"   # close sends an RST
MIB = 1024


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid, target=None):
    """The proxy's open descriptors once they equal <target>, or once they
    stop changing for a second (sessions still closing hold some)."""
    last, same = None, 0
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        now = fd_count(pid)
        if now == target:
            return now
        same = same + 1 if now == last else 0
        if target is None and same >= 10:
            return now
        last = now
        time.sleep(0.1)
    return last


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def margin(pid, kib):
    """<kib>, the growth a test allows; four times that for a sanitizer
    build, whose allocator adds redzones, a quarantine and shadow memory
    to every allocation (LeakSanitizer checks for leaks there at exit)."""
    with open(f"/proc/{pid}/maps") as f:
        return kib * 4 if "libasan" in f.read() else kib


def cpu_seconds(pid):
    """utime + stime of the whole process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle(g):
    """(descriptors, RSS KiB) of an idle proxy: the harness's start-up
    probes gone."""
    return settled_fds(g.proc.pid), rss_kib(g.proc.pid)


def open_session(g, i):
    """Session <i> of a mix: TLS for half, 5.0 for every other one."""
    tls = i % 4 < 2
    level = 5 if i % 2 == 0 else 4
    s = client_socket(g, over_tls=tls)
    s.sendall(connect(level=level, cid=b"many-%d" % i))
    assert accepted(read_frame(s))
    return s, level


# ---- the broker killed mid-session ----------------------------------------

def test_broker_killed_and_restarted_under_fifty_sessions(guard_factory,
                                                          broker):
    """SIGKILL leaves the broker's sockets to the kernel: every one of 50
    sessions (TLS and plain, 3.1.1 and 5.0) is closed at once, each 5.0
    client told why first; the proxy serves again once the broker is back,
    with the descriptors it had idle and its memory near the idle level.
    Twice, so that a leak would show as a difference between rounds."""
    g = guard_factory(broker.port, plain=True)
    pid = g.proc.pid
    fds0, rss0 = idle(g)
    conf = broker.logfile.parent / "mosquitto.conf"
    for _ in range(2):
        socks = [open_session(g, i) for i in range(50)]
        got = [None] * len(socks)

        def reader(k):
            got[k] = (read_until_closed(socks[k][0]), time.monotonic())
        threads = [threading.Thread(target=reader, args=(k,))
                   for k in range(len(socks))]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        broker.proc.kill()
        broker.proc.wait()
        for t in threads:
            t.join(TIMEOUT)
        for (s, level), (data, t) in zip(socks, got):
            if level == 5:
                # DISCONNECT, Remaining Length 1, a failure reason.
                assert data[:2] == b"\xe0\x01" and data[2] >= 0x80, data
            else:
                assert data == b"", data   # 3.x has no DISCONNECT
            assert t - t0 < 1.0, f"closed {t - t0:.2f}s after the kill"
            s.close()
        broker.start(conf, conf.read_text())
        c = Paho(g, "after-kill", v5=True)
        assert c.connect() == 0
        c.subscribe("k/#", qos=1)
        c.publish("k/x", b"back", qos=1)
        assert c.get().payload == b"back"
        c.close()
        assert settled_fds(pid, fds0) == fds0
    assert "cannot reach the broker" not in g.log()
    # Fifty TLS sessions cost a few MiB; what stays after they have gone
    # is allocator slack, bounded, not a function of the sessions served.
    assert rss_kib(pid) < rss0 + margin(pid, 8 * MIB), (rss0, rss_kib(pid))


# ---- a broker that is not there or never answers ----------------------------

def with_upstream(g, port, timeout):
    """Restarts <g> in front of <port> with upstream.connect_timeout
    <timeout>."""
    text = g.policy.read_text()
    head, rest = text.split("upstream:\n", 1)
    rest = rest.split("limits:\n", 1)[1]
    g.stop()
    g.policy.write_text(head + f"upstream:\n  host: 127.0.0.1\n  port: {port}"
                        f"\n  connect_timeout: {timeout}\nlimits:\n" + rest)
    g.respawn()


def attempt(g, i):
    """One CONNECT, 5.0 or 3.1.1, TLS every tenth time; the CONNACK."""
    level = 5 if i % 2 else 4
    s = client_socket(g, over_tls=i % 10 == 0)
    try:
        s.sendall(connect(level=level, cid=b"try-%d" % i))
        ack = read_frame(s)
        assert read_until_closed(s) == b""
    finally:
        s.close()
    assert ack == (CONNACK_V5_0x88 if level == 5 else CONNACK_V311_0x03), ack
    return ack


def attempts(g, n, parallel):
    """<n> attempts, <parallel> at a time."""
    errors = []

    def run(lo):
        try:
            for i in range(lo, n, parallel):
                attempt(g, i)
        except Exception as e:   # noqa: BLE001  reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(k,))
               for k in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 10)
    assert not errors, errors[:3]


def test_broker_unreachable_a_thousand_times(guard_factory, broker):
    """Nothing listens on the broker's port: each of 1,000 clients gets
    0x88 / 0x03 and the proxy keeps no descriptor of any."""
    g = guard_factory(broker.port, plain=True)
    broker.stop()
    fds0, _ = idle(g)
    attempts(g, 1000, 4)
    assert settled_fds(g.proc.pid, fds0) == fds0
    assert "cannot reach the broker" in g.log()


def blackhole():
    """A listening socket that takes no connection: listen(0) with its one
    queue slot filled, so the kernel drops every further SYN.  Returns
    (listening socket, filler)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    filler = socket.create_connection(lst.getsockname(), timeout=2)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(lst.getsockname())
        raise AssertionError("the blackhole accepted a connection")
    except socket.timeout:
        pass
    finally:
        probe.close()
    return lst, filler


def test_broker_blackholed_a_thousand_times(guard_factory, broker):
    """The broker's address drops SYNs: each of 1,000 clients gets 0x88 /
    0x03 once upstream.connect_timeout has passed, and no descriptor stays
    behind."""
    lst, filler = blackhole()
    try:
        g = guard_factory(broker.port, plain=True)
        with_upstream(g, lst.getsockname()[1], "300ms")
        fds0, _ = idle(g)
        t0 = time.monotonic()
        attempt(g, 1)
        assert time.monotonic() - t0 >= 0.3   # the timeout, not a refusal
        attempts(g, 1000, 50)
        assert settled_fds(g.proc.pid, fds0) == fds0
        assert "cannot reach the broker" in g.log()
    finally:
        filler.close()
        lst.close()


# ---- a frozen broker under publishers ---------------------------------------

def flood_until_held(s, frame, cap):
    """Writes <frame> repeatedly on <s> until a write has blocked for 2 s
    (the proxy stopped reading) or <cap> bytes have gone; returns the bytes
    written."""
    chunk = frame * 64
    s.settimeout(2)
    sent = 0
    while sent < cap:
        try:
            sent += s.send(chunk)
        except socket.timeout:
            return sent
    return sent


def test_frozen_broker_memory_bounded_by_the_buffers(guard_factory, broker):
    """A stopped broker reads nothing: the proxy stops reading the
    publishers once limits.output_buffer towards the broker is full, so its
    memory is bounded by the buffers, not by what the publishers would
    send; once the broker runs again the sessions go on."""
    g = guard_factory(broker.port, plain=True,
                      limits="  output_buffer: 64KiB\n")
    pid = g.proc.pid
    sub = Paho(g, "frozen-sub", port=g.plain_port, tls=False)
    assert sub.connect() == 0
    sub.subscribe("frozen/mark", qos=1)
    _, rss0 = idle(g)
    n = 10
    cap = 48 * MIB * 1024   # bytes per publisher, far past any buffer
    pubs = []
    for i in range(n):
        s = plain_socket(g.plain_port)
        s.sendall(connect(level=4, cid=b"frozen-%d" % i))
        assert accepted(read_frame(s))
        pubs.append(s)
    frame = publish(b"frozen/flood", b"p" * 4000)
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        written = [0] * n

        def flood(k):
            written[k] = flood_until_held(pubs[k], frame, cap)
        threads = [threading.Thread(target=flood, args=(k,))
                   for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 6)
        grown = rss_kib(pid) - rss0
        # Per session: output_buffer towards the broker, the 64 KiB read
        # ahead, one frame being read; 4 MiB for the rest.
        bound = margin(pid, n * (64 + 64 + 4) + 4 * MIB)
        assert grown < bound, (grown, bound, written)
        # The publishers were held: far less went than was offered.
        assert max(written) < cap, written
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    for s in pubs:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
        s.close()
    p = Paho(g, "frozen-pub", port=g.plain_port, tls=False)
    assert p.connect() == 0
    p.publish("frozen/mark", b"after", qos=1)
    assert sub.get().payload == b"after"
    p.close()
    sub.close()


# ---- out of descriptors -----------------------------------------------------

def prlimit(pid, n):
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={n}:"],
                   check=True, timeout=TIMEOUT)


def test_emfile_pauses_accepting_without_spinning(guard_factory, broker):
    """At RLIMIT_NOFILE accept() fails: the listener pauses instead of
    spinning (the process stays nearly idle), the sessions it has go on,
    the warning is logged at most once a second, and once descriptors are
    free again the waiting connections are taken."""
    g = guard_factory(broker.port, plain=True,
                      limits="  connect_timeout: 1m\n")
    pid = g.proc.pid
    sub = Paho(g, "emfile-sub", port=g.plain_port, tls=False)
    assert sub.connect() == 0
    sub.subscribe("emfile/#", qos=1)
    pub = Paho(g, "emfile-pub", port=g.plain_port, tls=False)
    assert pub.connect() == 0
    fds = settled_fds(pid)
    held = []
    try:
        # Room for three more client sockets, then nothing.
        prlimit(pid, fds + 3)
        for _ in range(10):
            held.append(plain_socket(g.plain_port))
        wait_until(lambda: "Too many open files" in g.log(),
                   what="accept to fail")
        lines0 = g.log().count("Too many open files")
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        for i in range(20):
            pub.publish("emfile/x", b"%d" % i, qos=1)
            assert sub.get().payload == b"%d" % i
        time.sleep(max(0.0, 3 - (time.monotonic() - t0)))
        cpu = cpu_seconds(pid) - cpu0
        wall = time.monotonic() - t0
        lines = g.log().count("Too many open files") - lines0
        # A listener spinning on accept() burns a whole CPU; paused, the
        # process does a few wake-ups and the twenty messages.
        assert cpu < 0.5 * wall, (cpu, wall)
        assert lines <= wall + 1, (lines, wall)
        # Free the descriptors: the three accepted connections end.
        for s in held:
            s.close()
        held = []
        prlimit(pid, 4096)
        c = Paho(g, "emfile-after", v5=True, port=g.plain_port, tls=False)
        assert c.connect() == 0
        c.close()
    finally:
        prlimit(pid, 4096)
        for s in held:
            s.close()
    pub.close()
    sub.close()
    assert settled_fds(pid, fds - 4) == fds - 4


# ---- clients that vanish ----------------------------------------------------

def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
    s.close()


def mid_frame(g, i):
    """A CONNECT, then half a PUBLISH, then gone (TLS every other time)."""
    s = client_socket(g, over_tls=i % 2 == 0)
    s.sendall(connect(level=4 + i % 2, cid=b"mid-%d" % i))
    read_frame(s)
    s.sendall(publish(b"mid/x", b"m" * 100, qos=1,
                      props=b"" if i % 2 else None)[:40])
    s.close()


def half_close(g, i):
    """A CONNECT, then SHUT_WR: the proxy answers and closes its side."""
    s = plain_socket(g.plain_port)
    s.sendall(connect(level=4 + i % 2, cid=b"half-%d" % i))
    s.shutdown(socket.SHUT_WR)
    read_until_closed(s)
    s.close()


def rst(g, i):
    """An RST, before the CONNACK or after it."""
    s = client_socket(g, over_tls=i % 4 == 0)
    s.sendall(connect(level=4 + i % 2, cid=b"rst-%d" % i))
    if i % 2:
        read_frame(s)
    rst_close(s)


def half_hello(g, i, hello=client_hello()):
    """Half a ClientHello, then a close (or an RST)."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=TIMEOUT)
    s.sendall(hello[:len(hello) // 2])
    rst_close(s) if i % 2 else s.close()


def hello_rst(g, i, hello=client_hello()):
    """A whole ClientHello, then an RST (after the ServerHello or not)."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=TIMEOUT)
    s.sendall(hello)
    if i % 2:
        s.recv(1)
    rst_close(s)


def test_vanishing_clients_leak_nothing(guard_factory, broker):
    """200 clients each of five ways of disappearing; after every batch the
    proxy holds exactly the descriptors it held idle, and its memory has
    not grown with the thousand sessions."""
    g = guard_factory(broker.port, plain=True)
    pid = g.proc.pid
    fds0, rss0 = idle(g)
    for way in (mid_frame, half_close, rst, half_hello, hello_rst):
        for i in range(200):
            way(g, i)
        assert settled_fds(pid, fds0) == fds0, way.__name__
    assert rss_kib(pid) < rss0 + margin(pid, 8 * MIB), (rss0, rss_kib(pid))
    c = Paho(g, "still-serving")
    assert c.connect() == 0
    c.close()
