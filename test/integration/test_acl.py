# SPDX-License-Identifier: ISC
"""Topic ACLs enforced by mqttguard in front of a real Mosquitto: publish,
subscribe (filters denied one by one, SUBACK merged), delivery (read), the
will, topic aliases, and QoS flows kept moving around denied messages."""
import signal
import time

import pytest

from helpers import (TIMEOUT, accepted, connect, login, mqtt_str, paho_as,
                     passwd_file, plain_socket, publish, read_frame,
                     recv_exact, reply, subscribe, wait_until)

USERS = {"alice": "alice-pw", "bob": "bob-pw"}

ACL = """acl:
  deny_action_v3: {v3}
  groups:
    readers: [bob]
  rules:
    - allow: all
      topic: "open/#"
    - allow: all
      topic: "users/%u/#"
    - allow: publish
      topic: "status/%c"
    - allow: [subscribe, read]
      topic: "#"
      users: [alice]
    - deny: read
      topic: "secret/#"
      users: [alice]
    - allow: publish
      topic: "secret/#"
      users: [bob]
    - allow: [subscribe, read]
      topic: "secret/#"
      groups: [readers]
"""


@pytest.fixture
def pwfile(tmp_path):
    return passwd_file(tmp_path / "users.passwd", USERS)


def make_guard(guard_factory, broker, pwfile, v3="drop"):
    return guard_factory(
        broker.port, plain=True,
        auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n"
        "  empty_client_id: assign\n",
        extra=ACL.format(v3=v3))


@pytest.fixture
def aguard(guard_factory, broker, pwfile):
    return make_guard(guard_factory, broker, pwfile)


@pytest.mark.parametrize("v5", [False, True])
def test_publish_allowed_and_denied(aguard, broker, v5):
    watcher = paho_as(aguard, "alice", "w")
    watcher.subscribe("#", qos=1)
    level = 5 if v5 else 4
    s, ack = login(aguard, "alice", f"pub-{level}", level=level)
    assert accepted(ack)
    p5 = b"" if v5 else None
    # Denied: alice may not publish to secret/ (nor anywhere but open/,
    # users/alice/).
    s.sendall(publish(b"secret/plan", b"leak", qos=1, pid=11, props=p5))
    ack = recv_exact(s, 4 if not v5 else 5)
    if v5:
        assert ack == b"\x40\x03\x00\x0b\x87"     # PUBACK not authorized
    else:
        assert ack == b"\x40\x02\x00\x0b"         # as if accepted (drop)
    # Allowed.
    s.sendall(publish(b"users/alice/t", b"mine", qos=1, pid=12, props=p5))
    ack = read_frame(s)
    assert ack[0] == 0x40 and ack[2:4] == b"\x00\x0c"
    assert ack[4:] == b"" or ack[4] < 0x80
    m = watcher.get()
    assert (m.topic, m.payload) == ("users/alice/t", b"mine")
    assert "Received PUBLISH from pub-%d" % level in broker.log()
    assert "'secret/plan'" not in broker.log()
    assert 'publish denied to "alice"' in aguard.log()
    s.close()
    watcher.close()


def test_v3_deny_disconnect(guard_factory, broker, pwfile):
    g = make_guard(guard_factory, broker, pwfile, v3="disconnect")
    s, ack = login(g, "alice", "dis")
    assert ack == b"\x20\x02\x00\x00"
    assert reply(s, publish(b"secret/x", b"no", qos=0)) == b""


def test_qos2_denied_publish_completes_locally(aguard, broker):
    s, _ = login(aguard, "alice", "q2")
    s.sendall(publish(b"secret/x", b"no", qos=2, pid=5))
    assert recv_exact(s, 4) == b"\x50\x02\x00\x05"      # PUBREC
    s.sendall(b"\x62\x02\x00\x05")                      # PUBREL
    assert recv_exact(s, 4) == b"\x70\x02\x00\x05"      # PUBCOMP
    s.close()
    wait_until(lambda: "Client q2 closed" in broker.log() or
               "Socket error on client q2" in broker.log())
    assert "Received PUBREL from q2" not in broker.log()


@pytest.mark.parametrize("v5", [False, True])
def test_mixed_subscribe_gets_merged_suback(aguard, broker, v5):
    level = 5 if v5 else 4
    s, _ = login(aguard, "bob", f"mix-{level}", level=level)
    props = b"" if v5 else None
    # bob: open/# allowed, other/# denied, secret/# allowed (group).
    s.sendall(subscribe([(b"open/#", 1), (b"other/#", 1),
                         (b"secret/#", 0)], pid=9, props=props))
    fail = 0x87 if v5 else 0x80
    want = bytes([0x01, fail, 0x00])
    if v5:
        got = recv_exact(s, 2)
        body = recv_exact(s, got[1])
        assert got[0] == 0x90 and body[:2] == b"\x00\x09"
        assert body[3:] == want                 # after property length 0
    else:
        assert recv_exact(s, 2 + 2 + 3) == b"\x90\x05\x00\x09" + want
    # The broker saw a SUBSCRIBE without other/#.
    log = broker.log()
    assert f"mix-{level} 1 open/#" in log
    assert f"mix-{level} 0 secret/#" in log
    assert "other/#" not in log
    s.close()


def test_merge_table_full_refuses_whole_subscribe(aguard, broker):
    """At most 32 rewritten SUBSCRIBEs wait for their SUBACK: with the
    broker stopped, the 33rd and later are refused whole by the proxy at
    once, and the 32 are merged when the broker answers."""
    s, _ = login(aguard, "bob", "many")
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        s.sendall(b"".join(subscribe([(b"open/%d" % i, 0), (b"other/x", 0)],
                                     pid=i) for i in range(1, 41)))
        early = [read_frame(s) for _ in range(8)]
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    assert early == [b"\x90\x04" + i.to_bytes(2, "big") + b"\x80\x80"
                     for i in range(33, 41)]
    late = [read_frame(s) for _ in range(32)]
    assert late == [b"\x90\x04" + i.to_bytes(2, "big") + b"\x00\x80"
                    for i in range(1, 33)]
    s.close()


def test_all_filters_denied_answered_by_proxy(aguard, broker):
    s, _ = login(aguard, "bob", "none")
    s.sendall(subscribe([(b"other/#", 0), (b"#", 0)], pid=3))
    assert recv_exact(s, 6) == b"\x90\x04\x00\x03\x80\x80"
    s.close()
    assert "Received SUBSCRIBE from none" not in broker.log()


def test_read_acl_filters_delivery_and_keeps_qos_moving(aguard, broker):
    bob = paho_as(aguard, "bob", "bob-pub")
    # Retained messages first: one alice may read, one she may not.
    bob.publish("open/retained", b"public", qos=1, retain=True)
    bob.publish("secret/retained", b"hidden", qos=1, retain=True)
    alice = paho_as(aguard, "alice", "alice-all")
    alice.subscribe("#", qos=1)
    reader = paho_as(aguard, "bob", "bob-read")
    reader.subscribe("secret/#", qos=1)
    # 60 denied QoS 1 deliveries: more than Mosquitto's inflight window
    # (20): without the proxy's PUBACKs the broker would stall alice.
    for i in range(60):
        bob.publish(f"secret/n{i}", b"s", qos=1)
    bob.publish("open/after", b"still flowing", qos=1)
    got = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        m = alice.get()
        got.append((m.topic, m.payload))
        if m.topic == "open/after":
            break
    assert ("open/retained", b"public") in got
    assert ("open/after", b"still flowing") in got
    assert not [t for t, _ in got if t.startswith("secret/")]
    # The reader allowed to read secret/ got them all, retained included.
    seen = set()
    while len(seen) < 61:
        seen.add(reader.get().topic)
    assert "secret/retained" in seen and "secret/n59" in seen
    for c in (bob, alice, reader):
        c.close()


def test_topic_alias_cannot_hide_a_denied_topic(aguard, broker):
    s, ack = login(aguard, "alice", "alias", level=5)
    assert accepted(ack)
    # Alias 1 := users/alice/ok (allowed), alias 2 := secret/x (denied).
    s.sendall(publish(b"users/alice/ok", b"a", qos=1, pid=1,
                      props=b"\x23\x00\x01"))
    ack = read_frame(s)            # the broker's: a success code
    assert ack[0] == 0x40 and ack[2:4] == b"\x00\x01"
    assert ack[4:] == b"" or ack[4] < 0x80
    s.sendall(publish(b"secret/x", b"b", qos=1, pid=2,
                      props=b"\x23\x00\x02"))
    assert recv_exact(s, 5) == b"\x40\x03\x00\x02\x87"
    # Alias-only PUBLISH on alias 2: still secret/x, still denied.
    s.sendall(publish(b"", b"c", qos=1, pid=3, props=b"\x23\x00\x02"))
    assert recv_exact(s, 5) == b"\x40\x03\x00\x03\x87"
    s.close()
    assert aguard.log().count('topic "secret/x"') == 2


@pytest.mark.parametrize("level,answer", [(4, b"\x20\x02\x00\x05"),
                                          (5, b"\x20\x03\x00\x87\x00")])
def test_will_on_denied_topic_refuses_connect(aguard, broker, level, answer):
    before = broker.connections()
    will = (b"\x00" if level == 5 else b"") + mqtt_str(b"secret/will") + \
        mqtt_str(b"bye")
    assert reply(plain_socket(aguard.plain_port),
                 connect(level=level, cid=b"willy", flags=0xC6,
                         payload=will + mqtt_str(b"alice") +
                         mqtt_str(b"alice-pw"))) == answer
    assert broker.connections() == before
    assert "will topic denied by the ACL" in aguard.log()


@pytest.mark.parametrize("level", [4, 5])
def test_will_topic_of_own_client_id(aguard, broker, level):
    """A %c rule applies to the will: status/<own client id> is allowed,
    another client's status topic is not."""
    pre = b"\x00" if level == 5 else b""
    for topic, ok in ((b"status/dev-7", True), (b"status/dev-8", False)):
        s = plain_socket(aguard.plain_port)
        s.sendall(connect(level=level, cid=b"dev-7", flags=0xC6,
                          payload=pre + mqtt_str(topic) +
                          mqtt_str(b"offline") + mqtt_str(b"bob") +
                          mqtt_str(b"bob-pw")))
        ack = read_frame(s)
        assert ack[0] == 0x20 and accepted(ack) == ok, (topic, ack)
        s.close()
