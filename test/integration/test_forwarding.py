# SPDX-License-Identifier: ISC
"""Frames through mqttguard to a real Mosquitto and back, with real clients.

Each test asserts what arrived, byte for byte, and what the broker saw.
"""
import os
import signal
import socket
import subprocess
import time

import pytest

from helpers import (TIMEOUT, Paho, Sub, client_socket, connect, free_port,
                     mosq_args, mqtt_connect, plain_socket, pub, publish,
                     read_until_closed, reply, subscribe, tls_socket,
                     wait_until)


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pub_sub_mosquitto_clients(guard, broker, version, qos):
    sub = Sub(guard, broker, "t/qos", 1, version=version, qos=qos)
    r = pub(guard, "-t", "t/qos", "-m", f"hello {version} q{qos}",
            "-q", str(qos), version=version)
    assert r.returncode == 0, r.stderr
    assert sub.result() == f"hello {version} q{qos}\n".encode()
    # The broker saw the client's own protocol version (Mosquitto logs
    # 3.1.1 as p2 and 5.0 as p5).
    p = "p5" if version == "mqttv5" else "p2"
    assert f"as {sub.id} ({p}," in broker.log()


def test_retained_message(guard, broker):
    r = pub(guard, "-t", "t/retained", "-m", "kept", "-r", "-q", "1")
    assert r.returncode == 0, r.stderr
    sub = Sub(guard, broker, "t/retained", 1)
    assert sub.result() == b"kept\n"


def test_will_delivered_when_client_dies(guard, broker):
    watcher = Sub(guard, broker, "t/will", 1, qos=1)
    victim_id = f"victim-{free_port()}"
    victim = subprocess.Popen(
        ["mosquitto_sub"] + mosq_args(guard) +
        ["-i", victim_id, "-t", "t/other", "--will-topic", "t/will",
         "--will-payload", "gone", "--will-qos", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: f"Sending SUBACK to {victim_id}" in broker.log(),
                   what="the victim to be connected")
    finally:
        victim.send_signal(signal.SIGKILL)   # no DISCONNECT: the will fires
        victim.wait()
    assert watcher.result() == b"gone\n"


def test_one_mebibyte_payload_byte_for_byte(guard, broker, tmp_path):
    """Both ends over TLS.  The subscriber is mosquitto_sub: paho 1.6 over
    TLS can sit on a large message it has read off the socket (seen with
    ss: every byte sent, received and read, no callback)."""
    payload = os.urandom(1024 * 1024)
    (tmp_path / "big.bin").write_bytes(payload)
    sub = Sub(guard, broker, "t/big", 1, qos=1, extra=("-N",))
    r = pub(guard, "-t", "t/big", "-f", str(tmp_path / "big.bin"), "-q", "1")
    assert r.returncode == 0, r.stderr
    got = sub.result()
    assert len(got) == len(payload)
    assert got == payload


@pytest.mark.parametrize("workers", [1, 2])
def test_ten_thousand_messages_in_order(guard_factory, broker, workers):
    guard = guard_factory(broker.port, workers=workers)
    n = 10000
    lines = [f"msg-{i:05d}" for i in range(n)]
    sub = Sub(guard, broker, "t/many", n, qos=1)
    r = pub(guard, "-t", "t/many", "-q", "1", "-l",
            stdin=("\n".join(lines) + "\n").encode(), timeout=TIMEOUT * 6)
    assert r.returncode == 0, r.stderr
    got = sub.result(timeout=TIMEOUT * 6).decode().splitlines()
    assert "being dropped" not in broker.log()
    assert len(got) == n
    assert got == lines      # nothing lost, duplicated or reordered


@pytest.mark.parametrize("v5", [False, True])
def test_paho_roundtrip(guard, v5):
    c = Paho(guard, f"paho-{'v5' if v5 else 'v311'}", v5=v5)
    assert c.connect() == 0
    c.subscribe("t/paho/#", qos=2)
    for qos in (0, 1, 2):
        body = bytes(range(256)) * (qos + 1)
        c.publish(f"t/paho/{qos}", body, qos=qos)
        m = c.get()
        assert m.topic == f"t/paho/{qos}"
        assert m.payload == body
        assert m.qos == qos
    c.close()
    assert c.disconnected.wait(TIMEOUT)


def test_plain_listener_forwards(guard, broker):
    c = Paho(guard, "plain-client", port=guard.plain_port, tls=False)
    assert c.connect() == 0
    c.subscribe("t/plain")
    c.publish("t/plain", b"clear", qos=1)
    assert c.get().payload == b"clear"
    c.close()


def test_wrong_ca_is_refused(guard, broker):
    before = broker.connections()
    r = pub(guard, "-t", "t/x", "-m", "no", ca=guard.certs / "other-ca.crt")
    assert r.returncode != 0
    assert broker.connections() == before
    # The client refused the server: no CONNECT ever reached the proxy.
    assert "CONNECT" not in guard.log()


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x30\x05\x00\x01t\x00\x00",          # PUBLISH before CONNECT
    b"\x10\xff\xff\xff\xff\x01",           # 5-byte remaining length
    b"\x00" * 64,
])
@pytest.mark.parametrize("over_tls", [True, False])
def test_garbage_instead_of_connect(guard, broker, garbage, over_tls):
    before = broker.connections()
    assert reply(client_socket(guard, over_tls), garbage) == b""
    wait_until(lambda: "refused" in guard.log(), what="the refusal log line")
    time.sleep(0.2)
    assert broker.connections() == before


def test_connect_deadline(guard_factory, broker):
    guard = guard_factory(broker.port, limits="  connect_timeout: 1s\n")
    before = broker.connections()
    s = tls_socket(guard.port, guard.certs / "ca.crt")
    start = time.monotonic()
    assert read_until_closed(s, timeout=10) == b""
    assert time.monotonic() - start < 8
    s.close()
    assert "no CONNECT within 1000ms" in guard.log()
    assert broker.connections() == before


@pytest.mark.parametrize("v5,code", [(False, 3), (True, 0x88)])
def test_broker_down_gives_server_unavailable(guard_factory, v5, code):
    guard = guard_factory(free_port())     # nothing listens there
    c = Paho(guard, "lonely", v5=v5)
    assert c.connect() == code
    c.c.loop_stop()
    assert "cannot reach the broker" in guard.log()


def test_sigterm_closes_sessions_and_exits_zero(guard_factory, broker):
    guard = guard_factory(broker.port)
    c = Paho(guard, "until-stop", v5=True)
    assert c.connect() == 0
    guard.stop()                       # asserts exit status 0
    assert c.disconnected.wait(TIMEOUT)
    c.c.loop_stop()
    assert "stopping" in guard.log()


def test_broker_restart_closes_client(guard, broker):
    c = Paho(guard, "orphan")
    assert c.connect() == 0
    broker.stop()
    assert c.disconnected.wait(TIMEOUT)
    c.c.loop_stop()
    wait_until(lambda: "broker closed the connection" in guard.log(),
               what="the close log line")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_pipelined_frames_after_connect_arrive_in_order(guard, broker):
    """CONNECT, SUBSCRIBE and PUBLISH in one write: the proxy holds the
    frames behind CONNECT and forwards them after it, in order."""
    s = plain_socket(guard.plain_port)
    s.sendall(connect(cid=b"pipeliner") + subscribe([(b"t/pipe", 0)]) +
              publish(b"t/pipe", b"echo"))
    want = (b"\x20\x02\x00\x00" + b"\x90\x03\x00\x01\x00" +
            publish(b"t/pipe", b"echo"))
    got = b""
    while len(got) < len(want):
        chunk = s.recv(4096)
        assert chunk, f"closed early after {got!r}"
        got += chunk
    assert got == want
    s.close()


def test_slow_subscriber_bounds_proxy_memory(guard, broker):
    """A subscriber that stops reading: the proxy stops reading from the
    broker for that session instead of growing its memory."""
    slow = plain_socket(guard.plain_port)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(connect(cid=b"slowpoke") + subscribe([(b"t/flood", 0)]))
    wait_until(lambda: "Sending SUBACK to slowpoke" in broker.log(),
               what="the slow subscription")
    base = rss_kib(guard.proc.pid)
    fast = Paho(guard, "flooder", port=guard.plain_port, tls=False)
    assert fast.connect() == 0
    payload = b"f" * 16384
    for _ in range(3000):                    # ~48 MiB towards the slow one
        fast.c.publish("t/flood", payload, qos=0)
    fast.publish("t/flood", b"last", qos=1)  # waits until the broker has all
    time.sleep(1)
    grown = rss_kib(guard.proc.pid) - base
    # Two 256 KiB output windows plus read buffers: far below the 48 MiB sent.
    assert grown < 16 * 1024, f"proxy RSS grew by {grown} KiB"
    # The slow client still gets a well-formed stream when it reads again.
    slow.settimeout(TIMEOUT)
    head = b""
    while len(head) < 4 + 5 + 3:
        head += slow.recv(4096)
    assert head[:4] == b"\x20\x02\x00\x00"
    assert head[4] == 0x90                   # SUBACK
    assert head[9] == 0x30                   # then PUBLISH frames
    fast.close()
    slow.close()


@pytest.mark.parametrize("over_tls", [False, True])
def test_burst_then_close_loses_nothing(guard_factory, broker, over_tls):
    """A client writes a burst and closes at once.  The proxy reads ahead
    of what it can forward (a small output window holds it back), so it
    sees the end of the stream before the frames are out: every one of
    them must still reach the broker, in order, before the close."""
    g = guard_factory(broker.port, plain=True,
                      limits="  output_buffer: 4KiB\n")
    sink = Paho(g, "sink", port=g.plain_port, tls=False)
    assert sink.connect() == 0
    sink.subscribe("burst/#", qos=0)
    s = client_socket(g, over_tls)
    assert mqtt_connect(s, b"burster") == b"\x20\x02\x00\x00"
    n = 3000
    s.sendall(b"".join(publish(b"burst/x", b"%05d" % i + b"p" * 200)
                       for i in range(n)) + b"\xe0\x00")   # DISCONNECT
    s.close()
    got = [sink.get().payload[:5] for _ in range(n)]
    assert got == [b"%05d" % i for i in range(n)]
    wait_until(lambda: "client sent DISCONNECT" in g.log(),
               what="the DISCONNECT to be forwarded")
    sink.close()
