# SPDX-License-Identifier: ISC
"""Running mqttguard in production: health probes that are not incidents,
and a graceful drain on SIGTERM, against a real Mosquitto."""
import os
import re
import signal
import socket
import subprocess
import time

from helpers import (BIN, TIMEOUT, Paho, accepted, connect, free_port,
                     http_get, plain_socket, port_open, read_frame,
                     read_until_closed, tls_socket, wait_until)


def test_tcp_probes_are_not_incidents(guard_factory, broker):
    """A load balancer's or Kubernetes' TCP check connects and closes:
    logged at debug and counted apart, never as a TLS failure."""
    g = guard_factory(broker.port, plain=True)
    # The harness's own wait for the port was one already.
    wait_until(lambda: "a probe" in g.log(), what="the harness's probe")
    base = g.log().count("a probe")
    for port in [g.port] * 5 + [g.plain_port] * 3:
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.close()
    wait_until(lambda: g.log().count("closed before sending anything "
                                     "(a probe)") == base + 8,
               what="the probes to be seen")
    log = g.log()
    assert "TLS handshake failed" not in log
    assert not [x for x in log.splitlines()
                if " warn: session" in x or " info: session" in x], log
    for line in log.splitlines():
        if "a probe" in line:
            assert " debug: " in line, line
    # Bytes that are not a TLS handshake are still a failure, with a
    # warning.
    s = socket.create_connection(("127.0.0.1", g.port), timeout=TIMEOUT)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    read_until_closed(s)
    wait_until(lambda: "TLS handshake failed" in g.log(),
               what="the handshake failure")
    assert g.log().count("a probe") == base + 8


def test_sigterm_drains_then_spreads_the_closes(guard_factory, broker):
    """SIGTERM: no new connections, established sessions keep exchanging
    messages through shutdown.drain, then each 5.0 client gets DISCONNECT
    0x8B, the closes spread over shutdown.spread, and the exit is 0."""
    g = guard_factory(broker.port, plain=True, admin=True,
                      extra="shutdown:\n  drain: 2s\n  spread: 1500ms\n")
    assert http_get(g.admin_port, "/readyz")[0] == 200
    raws = []
    for i in range(3):
        s = plain_socket(g.plain_port)
        s.sendall(connect_v5(b"raw-%d" % i))
        assert accepted(read_frame(s))
        raws.append(s)
    c = Paho(g, "drain-pub", v5=True, port=g.plain_port, tls=False)
    assert c.connect() == 0
    c.subscribe("drain/#", qos=1)

    t0 = time.monotonic()
    g.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "SIGTERM: draining" in g.log(), what="the drain")
    # A load balancer is told to send nobody new...
    status, _, body = http_get(g.admin_port, "/readyz")
    assert status == 503 and "drain" in body, (status, body)
    # ...nothing new is accepted...
    wait_until(lambda: refused(g.plain_port), what="the listener to close")
    # ...while the established sessions go on.
    c.publish("drain/a", b"during the drain", qos=1)
    assert c.get().payload == b"during the drain"

    ends = []
    for s in raws:
        assert read_until_closed(s) == b"\xe0\x01\x8b"
        ends.append(time.monotonic() - t0)
    assert min(ends) >= 1.5, ends          # not before the drain's end
    assert max(ends) - min(ends) >= 0.3, ends  # spread, not all at once
    g.proc.wait(TIMEOUT)
    assert g.proc.returncode == 0
    assert "drained: every session has ended" in g.log()
    c.close()


def test_second_sigterm_stops_at_once(guard_factory, broker):
    g = guard_factory(broker.port, plain=True,
                      extra="shutdown:\n  drain: 1m\n  spread: 1m\n")
    s = plain_socket(g.plain_port)
    s.sendall(connect_v5(b"raw"))
    assert accepted(read_frame(s))
    g.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "SIGTERM: draining" in g.log(), what="the drain")
    g.proc.send_signal(signal.SIGTERM)
    assert read_until_closed(s) == b"\xe0\x01\x8b"
    g.proc.wait(TIMEOUT)
    assert g.proc.returncode == 0
    assert "stopping now" in g.log()


def connect_v5(cid):
    """A 5.0 CONNECT, clean start, no credentials."""
    return connect(level=5, cid=cid)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_listen_backlog_is_the_policys(guard_factory, broker):
    """listeners[].backlog reaches listen(2) as written (ss shows a
    listening socket's backlog as its Send-Q)."""
    g = guard_factory(broker.port, listener_extra="    backlog: 7\n")
    out = subprocess.run(["ss", "-Hltn", f"sport = :{g.port}"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    rows = [x.split() for x in out.stdout.splitlines() if x.strip()]
    assert rows and all(r[2] == "7" for r in rows), out.stdout


def test_second_instance_on_the_same_port_exits_1(guard_factory, broker,
                                                   tmp_path):
    """SO_REUSEPORT would let a second process share the port silently:
    it must fail to start instead."""
    g = guard_factory(broker.port)
    r = subprocess.run([BIN, "-c", str(g.policy)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "is another mqttguard running?" in r.stderr, r.stderr
    # The first one is undisturbed.
    c = Paho(g, "still-1")
    assert c.connect() == 0
    c.close()


def test_connack_not_held_by_a_delayed_ack(guard):
    """A client with Nagle on (Python's default, libmosquitto's too) sends
    its CONNECT right after the TLS handshake, while its Finished is still
    unacknowledged: Nagle holds the CONNECT until the proxy acknowledges,
    and a delayed ACK takes 40 ms.  The proxy acknowledges at once: the
    median CONNECT-to-CONNACK time of 10 connections stays far below the
    40 ms of the kernel's minimum delayed ACK."""
    times = []
    for k in range(10):
        s = tls_socket(guard.port, guard.certs / "ca.crt")
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        t0 = time.monotonic()
        s.sendall(connect(cid=b"ack-%d" % k))
        ack = read_frame(s)
        times.append(time.monotonic() - t0)
        assert accepted(ack), ack
        s.close()
    times.sort()
    assert times[len(times) // 2] < 0.02, times


def test_upstream_socket_has_tcp_nodelay(broker, tmp_path):
    """Every socket carrying MQTT has TCP_NODELAY: without it a PUBLISH
    written while the previous one is unacknowledged waits for the
    broker's delayed ACK.  Seen in the system calls (strace)."""
    port = free_port()
    pol = tmp_path / "nodelay.yaml"
    pol.write_text(
        f"listeners:\n  - {{name: plain, address: 127.0.0.1, port: {port},"
        f" tls: false}}\nupstream: {{host: 127.0.0.1, port: {broker.port}}}\n"
        "auth: {anonymous: true, empty_client_id: assign}\n"
        "shutdown: {drain: 0s, spread: 0s}\n")
    trace = tmp_path / "strace.txt"
    p = subprocess.Popen(["strace", "-f", "-qq", "-e",
                          "trace=connect,setsockopt", "-o", str(trace),
                          BIN, "-c", str(pol)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(port), what="the proxy under strace")
        c = Paho(None, "nodelay-1", port=port, tls=False)
        assert c.connect() == 0
        c.publish("n/x", b"x", qos=1)
        c.close()
    finally:
        # strace passes a signal on to nobody: stop mqttguard itself.
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            for child in f.read().split():
                os.kill(int(child), signal.SIGINT)
        p.wait(TIMEOUT)
    text = trace.read_text()
    up = re.search(r"connect\((\d+), \{sa_family=AF_INET, sin_port=htons\("
                   + str(broker.port) + r"\)", text)
    assert up, text
    assert f"setsockopt({up.group(1)}, SOL_TCP, TCP_NODELAY, [1], 4) = 0" \
        in text, text
