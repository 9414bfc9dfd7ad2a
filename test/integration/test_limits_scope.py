# SPDX-License-Identifier: ISC
"""Limits by listener, user and group; per-user connection caps and rates;
per-topic rates; subscription and inflight bounds: mqttguard in front of a
real Mosquitto."""
import json
import signal
import socket
import threading
import time

import pytest

from helpers import (TIMEOUT, Broker, Paho, accepted, client_socket, login,
                     mqtt_connect, paho_as, passwd_file, plain_socket, publish,
                     read_frame, read_until_closed, recv_exact, reply,
                     still_open, subscribe, unsubscribe, wait_until)

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

# bob and carol are devices; every topic is open, so only limits decide.
ACL = """acl:
  groups:
    devices: [bob, carol]
  rules:
    - {allow: all, topic: "#"}
"""


@pytest.fixture
def pwfile(tmp_path):
    return passwd_file(tmp_path / "users.passwd", USERS)


def lguard(guard_factory, broker, pwfile, limits):
    return guard_factory(
        broker.port, plain=True, limits=limits, extra=ACL,
        auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n"
        "  lockout: {pair: {failures: 0}, identity: {failures: 0},\n"
        "    address: {identities: 0, tarpit_after: 0}}\n"
        "  empty_client_id: assign\n")


# ---- connections per user -------------------------------------------------

def test_user_connection_cap_from_group(guard_factory, broker, pwfile):
    """limits.groups gives every device at most 2 connections: a third
    gets 3.x 0x03 or 5.0 0x97 and never reaches the broker, while another
    user (and another device) is unaffected."""
    g = lguard(guard_factory, broker, pwfile,
               "  groups:\n    devices:\n      max_connections_per_user: 2\n")
    held = []
    for i in range(2):
        s, ack = login(g, "bob", f"bob-{i}")
        assert accepted(ack)
        held.append(s)
    s, ack = login(g, "bob", "bob-over-3")
    assert ack == b"\x20\x02\x00\x03"             # server unavailable
    assert read_until_closed(s) == b""
    s.close()
    s, ack = login(g, "bob", "bob-over-5", level=5)
    assert ack[:4] == b"\x20\x03\x00\x97"         # quota exceeded
    s.close()
    # Per user, not per group: carol is a device too, alice is not one.
    for user in ("carol", "alice", "alice", "alice"):
        s, ack = login(g, user, f"{user}-{len(held)}")
        assert accepted(ack)
        held.append(s)
    assert "too many connections for this user" in g.log()
    assert "bob-over" not in broker.log()
    # A closed connection gives its place back.
    held[0].close()
    wait_until(lambda: 'closed: client closed the connection (client_id '
               '"bob-0"' in g.log() or 'client_id "bob-0", frames' in
               g.log(), what="bob-0 to be closed")
    s, ack = login(g, "bob", "bob-again")
    assert accepted(ack)
    s.close()
    for h in held[1:]:
        h.close()


def test_user_connection_rate_gets_0x9f(guard_factory, broker, pwfile):
    g = lguard(guard_factory, broker, pwfile,
               "  connection_rate_per_user: 1\n"
               "  connection_burst_per_user: 2\n")
    t0 = time.monotonic()
    acks = []
    for i in range(6):
        s, ack = login(g, "alice", f"alice-{i}", level=5)
        acks.append(ack[3])
        s.close()
    elapsed = time.monotonic() - t0
    assert acks[:2] == [0, 0]                     # the burst
    # One more token a second at most; the rest are refused with 0x9F.
    assert acks.count(0) <= 2 + int(elapsed) + 1
    assert 0x9F in acks
    assert set(acks) <= {0, 0x9F}
    assert "user connecting too fast" in g.log()
    # Another user has a bucket of its own.
    s, ack = login(g, "bob", "bob-1", level=5)
    assert accepted(ack)
    s.close()


# ---- message rates per user and per topic ---------------------------------

def test_user_rate_is_shared_by_its_connections(guard_factory, broker,
                                                pwfile):
    """Two connections of one user draw from one bucket: together they
    are held to user_message_rate, and with throttle nothing is lost."""
    rate, n = 100, 150
    g = lguard(guard_factory, broker, pwfile,
               f"  user_message_rate: {rate}\n  user_message_burst: 10\n")
    sink = paho_as(g, "alice", "sink")
    sink.subscribe("flood/#", qos=1)
    pubs = [paho_as(g, "bob", f"bob-{i}") for i in range(2)]

    def run(p, i):
        p.flood((f"flood/{i}", b"%04d" % k) for k in range(n))
    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(p, i))
               for i, p in enumerate(pubs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    elapsed = time.monotonic() - t0
    got = {0: [], 1: []}
    for _ in range(2 * n):
        m = sink.get()
        got[int(m.topic[-1])].append(m.payload)
    want = [b"%04d" % k for k in range(n)]
    assert got[0] == want and got[1] == want      # once each, in order
    measured = (2 * n - 10) / elapsed
    print(f"\nuser rate: {2 * n} messages from 2 connections at {rate}/s "
          f"configured: {measured:.0f}/s measured")
    assert measured <= rate * 1.10
    assert "held to the identity's limits.user_message_rate" in g.log()
    for c in pubs + [sink]:
        c.close()


def test_topic_rate_rule_applies_to_its_topics_only(guard_factory, broker,
                                                    pwfile):
    """A topic_rates rule with disconnect: topics outside it pass freely,
    the sixth message inside its burst of 5 ends the session with 0x96 and
    is never forwarded."""
    g = lguard(guard_factory, broker, pwfile,
               "  rate_action: disconnect\n  topic_rates:\n"
               "    - {topic: \"telemetry/+/raw\", message_rate: 1, "
               "message_burst: 5}\n")
    s, ack = login(g, "alice", "tele", level=5)
    assert accepted(ack)
    s.sendall(b"".join(publish(b"other/x", b"o", props=b"")
                       for _ in range(30)) +
              b"".join(publish(b"telemetry/a/cooked", b"c", props=b"")
                       for _ in range(30)) + b"\xc0\x00")
    assert recv_exact(s, 2) == b"\xd0\x00"         # PINGRESP: still open
    got = reply(s, b"".join(publish(b"telemetry/a/raw", b"r", props=b"")
                            for _ in range(30)))
    assert got[-3:] == b"\xe0\x01\x96"             # message rate too high
    assert "publishes over a limits.topic_rates rule" in g.log()
    wait_until(lambda: broker.log().count("'telemetry/a/raw'") >= 5,
               what="the burst to reach the broker")
    time.sleep(0.3)
    assert broker.log().count("'telemetry/a/raw'") == 5
    assert broker.log().count("'other/x'") == 30


def test_topic_rate_throttles_and_loses_nothing(guard_factory, broker,
                                               pwfile):
    rate, n = 100, 200
    g = lguard(guard_factory, broker, pwfile,
               "  topic_rates:\n"
               f"    - {{topic: \"telemetry/#\", message_rate: {rate}, "
               "message_burst: 10}\n")
    sink = paho_as(g, "alice", "sink")
    sink.subscribe("telemetry/#", qos=1)
    p = paho_as(g, "bob", "bob-tele")
    t0 = time.monotonic()
    p.flood(("telemetry/t", b"%04d" % k) for k in range(n))
    elapsed = time.monotonic() - t0
    assert [sink.get().payload for _ in range(n)] == \
        [b"%04d" % k for k in range(n)]
    measured = (n - 10) / elapsed
    print(f"\ntopic rate: {n} messages at {rate}/s configured: "
          f"{measured:.0f}/s measured")
    assert measured <= rate * 1.10
    p.close()
    sink.close()


# ---- subscriptions --------------------------------------------------------

@pytest.mark.parametrize("level", [4, 5])
def test_max_subscriptions(guard_factory, broker, pwfile, level):
    g = lguard(guard_factory, broker, pwfile, "  max_subscriptions: 3\n")
    v5 = level == 5
    p5 = b"" if v5 else None
    over = 0x97 if v5 else 0x80
    s, ack = login(g, "alice", f"subs-{level}", level=level)
    assert accepted(ack)

    def sub(filters, pid):
        s.sendall(subscribe([(f, 0) for f in filters], pid=pid, props=p5))
        f = read_frame(s)
        assert f[0] == 0x90 and f[2:4] == pid.to_bytes(2, "big")
        return list(f[5:] if v5 else f[4:])

    assert sub([b"s/a", b"s/b", b"s/c", b"s/d", b"s/e"], 1) == \
        [0, 0, 0, over, over]
    assert sub([b"s/a"], 2) == [0]                 # already counted
    assert sub([b"s/d"], 3) == [over]
    s.sendall(unsubscribe([b"s/b"], pid=4, props=p5))
    assert read_frame(s)[0] == 0xB0
    assert sub([b"s/d", b"s/e"], 5) == [0, over]
    s.close()
    assert "limits.max_subscriptions" in g.log()
    # The broker never saw a filter over the cap... until s/d had room.
    blog = broker.log()
    assert "\ts/e (QoS" not in blog
    assert blog.count("\ts/d (QoS") == 1


def test_filters_the_broker_refuses_do_not_count(guard_factory, tmp_path,
                                                 certs):
    """Mosquitto (dynamic security) refuses denied/#: those filters give
    their place back, so the cap counts only real subscriptions."""
    dyn = tmp_path / "dynsec.json"
    dyn.write_text(json.dumps({
        "defaultACLAccess": {"publishClientSend": True,
                             "publishClientReceive": True,
                             "subscribe": True, "unsubscribe": True},
        "clients": [],
        "groups": [{"groupname": "anon", "roles": [{"rolename": "r"}]}],
        "roles": [{"rolename": "r", "acls": [{
            "acltype": "subscribePattern", "topic": "denied/#",
            "priority": 0, "allow": False}]}],
        "anonymousGroup": "anon"}))
    bdir = tmp_path / "dynbroker"
    bdir.mkdir()
    b = Broker(bdir, extra=(
        "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\n"
        f"plugin_opt_config_file {dyn}\n"))
    try:
        g = guard_factory(b.port, plain=True, limits="  max_subscriptions: 2\n")
        s = plain_socket(g.plain_port)
        assert accepted(mqtt_connect(s, b"dyn", level=5))
        s.sendall(subscribe([(b"denied/1", 0), (b"denied/2", 0)], pid=1,
                            props=b""))
        assert read_frame(s)[5:] == bytes([0x87, 0x87])
        # Had the refused ones kept their places, these would be over.
        s.sendall(subscribe([(b"ok/1", 0), (b"ok/2", 0)], pid=2, props=b""))
        assert read_frame(s)[5:] == b"\x00\x00"
        s.sendall(subscribe([(b"ok/3", 0)], pid=3, props=b""))
        assert read_frame(s)[5:] == b"\x97"
        s.close()
    finally:
        b.stop()


# ---- inflight -------------------------------------------------------------

def test_inflight_v5_receive_maximum(guard_factory, broker, pwfile):
    """A 5.0 client is told Receive Maximum 2; a third unfinished QoS 2
    PUBLISH gets DISCONNECT 0x93 and never reaches the broker."""
    g = lguard(guard_factory, broker, pwfile, "  max_inflight: 2\n")
    c = Paho(g, "rm", v5=True, port=g.plain_port, tls=False, user="alice",
             password=USERS["alice"])
    c.connect(keepalive=60)
    assert c.props.ReceiveMaximum == 2
    c.close()

    s, ack = login(g, "alice", "inflight5", level=5)
    assert accepted(ack)
    for pid in (1, 2):
        s.sendall(publish(b"q/x", b"%d" % pid, qos=2, pid=pid, props=b""))
        assert read_frame(s)[:4] == bytes([0x50, 2, 0, pid])  # PUBREC
    got = reply(s, publish(b"q/x", b"3", qos=2, pid=3, props=b""))
    assert got[-3:] == b"\xe0\x01\x93"             # Receive Max exceeded
    assert "over the Receive Maximum of 2" in g.log()
    assert broker.log().count("'q/x'") == 2


def test_inflight_v3_waits_and_loses_nothing(guard_factory, broker, pwfile):
    """3.1.1 has no Receive Maximum: with the broker stopped, two QoS 1
    PUBLISHes go out and the third waits unread; when the broker answers,
    it follows, and every message arrives once, in order."""
    g = lguard(guard_factory, broker, pwfile, "  max_inflight: 2\n")
    sink = paho_as(g, "bob", "sink")
    sink.subscribe("q/#", qos=1)
    s, ack = login(g, "alice", "inflight3")
    assert accepted(ack)
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        s.sendall(b"".join(publish(b"q/x", b"%d" % pid, qos=1, pid=pid)
                           for pid in (1, 2, 3)))
        wait_until(lambda: "(limits.max_inflight): reading paused" in
                   g.log(), what="the third PUBLISH to wait")
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(1)                             # the broker is stopped
        s.settimeout(TIMEOUT)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    for pid in (1, 2, 3):
        assert read_frame(s) == bytes([0x40, 2, 0, pid])   # PUBACK
    assert [sink.get().payload for _ in range(3)] == [b"1", b"2", b"3"]
    s.close()
    sink.close()


# ---- per listener and per identity ----------------------------------------

def test_listener_connection_cap(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, limits=(
        "  listeners:\n    plain:\n      max_connections: 3\n"))
    socks = [plain_socket(g.plain_port) for _ in range(5)]
    time.sleep(0.5)
    assert [still_open(s) for s in socks] == [True] * 3 + [False] * 2
    # The TLS listener has no cap of its own.
    t = client_socket(g, over_tls=True)
    assert mqtt_connect(t, b"tls-ok") == b"\x20\x02\x00\x00"
    t.close()
    for s in socks:
        s.close()
    assert "too many connections on this listener" in g.log()


def test_identity_limits_reach_connack(guard_factory, broker, pwfile):
    """bob's own max_packet_size is what his 5.0 CONNACK says; alice has
    the listener's."""
    g = lguard(guard_factory, broker, pwfile,
               "  users:\n    bob: {max_packet_size: 4KiB}\n")
    sizes = {}
    for user in ("alice", "bob"):
        s, ack = login(g, user, f"mp-{user}", level=5)
        assert accepted(ack)
        # Property 0x27 (Maximum Packet Size) in the CONNACK.
        i = ack.index(b"\x27", 5)
        sizes[user] = int.from_bytes(ack[i + 1:i + 5], "big")
        s.close()
    assert sizes == {"alice": 2 * 1024 * 1024, "bob": 4096}
    # And the proxy holds bob to it.
    s, ack = login(g, "bob", "mp-bob2", level=5)
    got = reply(s, publish(b"big", b"x" * 5000, props=b""))
    assert got[-3:] == b"\xe0\x01\x95"             # packet too large


@pytest.mark.parametrize("v5", [False, True])
def test_delivery_over_subscriber_max_packet(guard_factory, broker, pwfile,
                                             v5):
    """alice may publish 10 KB; bob's max_packet_size is 4 KiB.  bob's
    session is not ended for what alice published: a 5.0 broker is told
    his size in the CONNECT and drops it; for 3.1.1 the proxy drops it
    and finishes its QoS flow with the broker.  The next message arrives."""
    g = lguard(guard_factory, broker, pwfile,
               "  users:\n    bob: {max_packet_size: 4KiB}\n")
    bob = paho_as(g, "bob", f"big-sub-{int(v5)}", v5=v5)
    bob.subscribe("big/#", qos=2)
    alice = paho_as(g, "alice", "big-pub")
    for qos in (0, 1, 2):
        alice.publish("big/x", b"B" * 10000, qos=qos)
    alice.publish("big/x", b"small", qos=1)
    m = bob.get()
    assert m.payload == b"small"
    assert bob.messages.empty()
    assert not bob.disconnected.is_set()
    if v5:
        assert "big-sub-1" in broker.log()
        assert "dropped: over limits.max_packet_size" not in g.log()
    else:
        wait_until(lambda: "Received PUBREC from big-sub-0" in broker.log()
                   and "Received PUBCOMP from big-sub-0" in broker.log(),
                   what="the QoS 2 flow to end at the broker")
        assert g.log().count("dropped: over limits.max_packet_size") == 1
    bob.close()
    alice.close()


def test_max_topic_aliases(guard_factory, broker, pwfile):
    """Mosquitto offers 10 topic aliases; the proxy tells a 5.0 client 2,
    so that what it keeps per session is 2 topics, and holds it to that:
    alias 3 gets DISCONNECT 0x94 and never reaches the broker."""
    g = lguard(guard_factory, broker, pwfile, "  max_topic_aliases: 2\n")
    s, ack = login(g, "alice", "aliases", level=5)
    assert accepted(ack)
    i = ack.index(b"\x22", 5)                     # Topic Alias Maximum
    assert ack[i + 1:i + 3] == b"\x00\x02"
    alias = lambda n: b"\x23" + n.to_bytes(2, "big")      # noqa: E731
    s.sendall(publish(b"al/one", b"1", qos=1, pid=1, props=alias(2)) +
              publish(b"", b"2", qos=1, pid=2, props=alias(2)))
    for pid in (1, 2):                            # PUBACK (5.0: + reason)
        f = read_frame(s)
        assert f[0] == 0x40 and f[2:4] == pid.to_bytes(2, "big")
    got = reply(s, publish(b"al/three", b"3", qos=1, pid=3, props=alias(3)))
    assert got[-3:] == b"\xe0\x01\x94"             # Topic Alias invalid
    assert "'al/three'" not in broker.log()
    assert broker.log().count("'al/one'") == 2
