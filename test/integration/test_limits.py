# SPDX-License-Identifier: ISC
"""Connection caps, deadlines, keepalive, message rates and topic bounds of
mqttguard in front of a real Mosquitto."""
import time

import pytest

from helpers import (TIMEOUT, Paho, accepted, connect, mqtt_connect,
                     plain_socket, publish, read_until_closed, reply,
                     still_open)


def test_per_address_cap_lets_exactly_50_in(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, limits=(
        "  max_connections_per_address: 50\n  connect_timeout: 30s\n"))
    socks = []
    try:
        for _ in range(1000):
            try:
                socks.append(plain_socket(g.plain_port, "127.0.0.2"))
            except OSError:
                pass
        time.sleep(1.0)           # refusals are immediate closes
        admitted = [s for s in socks if still_open(s)]
        assert len(admitted) == 50
        # Another address is not affected by 127.0.0.2's cap.
        c = plain_socket(g.plain_port, "127.0.0.3")
        c.sendall(connect(cid=b"other") + publish(b"t/x", b"hi", qos=1,
                                                  pid=1))
        assert c.recv(4) == b"\x20\x02\x00\x00"
        assert c.recv(4) == b"\x40\x02\x00\x01"
        c.close()
        assert "too many connections from this address" in g.log()
    finally:
        for s in socks:
            s.close()


def test_connection_rate_per_address(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, limits=(
        "  connection_rate_per_address: 1\n"
        "  connection_burst_per_address: 5\n"))
    socks = [plain_socket(g.plain_port, "127.0.0.4") for _ in range(20)]
    time.sleep(0.5)
    admitted = [s for s in socks if still_open(s)]
    # The burst, plus at most one token earned meanwhile.
    assert 5 <= len(admitted) <= 6
    for s in socks:
        s.close()
    assert "connecting too fast" in g.log()


def test_tls_handshake_deadline(guard_factory, broker):
    g = guard_factory(broker.port, limits="  tls_handshake_timeout: 1s\n")
    s = plain_socket(g.port)
    t0 = time.monotonic()
    assert read_until_closed(s, timeout=10) == b""
    assert time.monotonic() - t0 < 8
    s.close()
    assert "no TLS handshake within 1000ms" in g.log()


def test_keepalive_enforced(guard_factory, broker):
    g = guard_factory(broker.port, plain=True)
    s = plain_socket(g.plain_port)
    ack = mqtt_connect(s, b"ka", level=5, keepalive=1)
    assert accepted(ack)
    got = read_until_closed(s, timeout=10)
    assert got[:1] == b"\xe0" and got[2] == 0x8D      # keep alive timeout
    s.close()
    assert "keepalive expired" in g.log()


def test_topic_levels_bound(guard_factory, broker):
    g = guard_factory(broker.port, plain=True,
                      limits="  max_topic_levels: 3\n")
    c = Paho(g, "deep", v5=True, port=g.plain_port, tls=False)
    assert c.connect() == 0
    c.publish("a/b/c", b"ok", qos=1)
    c.c.publish("a/b/c/d", b"too deep", qos=1)
    assert c.disconnected.wait(TIMEOUT)
    c.c.loop_stop()
    assert "topic over limits.max_topic_length" in g.log()
    assert "'a/b/c/d'" not in broker.log()


@pytest.mark.parametrize("over_tls", [False, True])
def test_throttle_holds_rate_and_loses_nothing(guard_factory, broker,
                                               over_tls):
    """Over TLS the proxy also reads records ahead into OpenSSL's buffer:
    those must come out when the throttle ends, with nothing on the socket
    to wake the loop."""
    rate, n = 200, 600
    g = guard_factory(broker.port, plain=True, limits=(
        f"  message_rate: {rate}\n  message_burst: 20\n"
        "  rate_action: throttle\n"))
    sub = Paho(g, "sink", port=g.plain_port, tls=False)
    assert sub.connect() == 0
    sub.subscribe("t/flood", qos=1)
    pub = Paho(g, "flooder", port=g.port if over_tls else g.plain_port,
               tls=over_tls)
    assert pub.connect() == 0
    t0 = time.monotonic()
    # 600 x 305 bytes: more than the proxy's 64 KiB input window, so
    # the rest waits in the socket (or, over TLS, in OpenSSL's buffer).
    pad = b"p" * 300
    pub.flood(("t/flood", b"%05d" % i + pad) for i in range(n))
    elapsed = time.monotonic() - t0
    got = [sub.get().payload for _ in range(n)]
    assert got == [b"%05d" % i + pad for i in range(n)]  # once, in order
    measured = (n - 20) / elapsed
    print(f"\nthrottle: {n} QoS 1 messages at {rate}/s configured: "
          f"{measured:.0f}/s measured over {elapsed:.2f}s")
    # Tokens make exceeding the rate impossible; being slower only costs
    # time, so the lower bound is loose (noisy machines).
    assert measured <= rate * 1.10
    assert measured >= rate * 0.5
    # Hundreds of holds, but one audit line per session each 10 s.
    lines = g.log().count("held to limits.message_rate")
    assert 1 <= lines <= 1 + int(elapsed / 10)
    pub.close()
    sub.close()


def test_rate_disconnect_gets_0x96(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, limits=(
        "  message_rate: 5\n  message_burst: 5\n"
        "  rate_action: disconnect\n"))
    s = plain_socket(g.plain_port)
    ack = mqtt_connect(s, b"fast", level=5)
    assert accepted(ack)
    got = reply(s, b"".join(publish(b"t/f", b"x", props=b"")
                            for _ in range(50)))
    assert got[-3:] == b"\xe0\x01\x96"          # DISCONNECT 0x96
    assert "publishes over limits.message_rate: disconnected" in g.log()


def test_connack_tells_max_packet_and_server_keep_alive(guard_factory,
                                                        broker):
    """A 5.0 client learns the proxy's Maximum Packet Size and, when the
    proxy lowers its keepalive, the Server Keep Alive it enforces."""
    g = guard_factory(broker.port, plain=True, limits=(
        "  max_keepalive: 30s\n"))
    c = Paho(g, "learner", v5=True, port=g.plain_port, tls=False)
    assert c.connect(keepalive=120) == 0
    p = c.props
    assert p.MaximumPacketSize == 2 * 1024 * 1024     # the harness's limit
    assert p.ServerKeepAlive == 30
    assert getattr(p, "TopicAliasMaximum", 0) == 10   # the broker's, kept
    c.close()
