# SPDX-License-Identifier: ISC
"""Packet identifiers and payloads the broker would refuse, through
mqttguard to a real Mosquitto (log_type all), over raw sockets.

Each refused frame is checked three ways: the client gets the answer the
protocol asks for (5.0 DISCONNECT 0x82, a 3.x close, a PUBACK 0x99...);
the broker's log shows nothing of it (no "protocol error", no "unknown
packet identifier", no "Received PUBREC from <the client>"); and a
subscriber connected before goes on receiving.  Legal resends and
resumed sessions (a QoS 2 flow cut between PUBREC and PUBREL, both ways)
still go through.
"""
import time

import paho.mqtt.client as mqtt
import pytest

from helpers import (Broker, connect, frame, plain_socket, publish,
                    read_any, read_until_closed, still_open,
                    subscribe, wait_until)

BROKER_ERRORS = ("protocol error", "malformed", "unknown packet identifier",
                 "Bad socket read", "out of memory")



def session(port, cid, level=4, clean=True, props=b""):
    """A raw client: its socket and CONNACK."""
    s = plain_socket(port)
    s.sendall(connect(level=level, cid=cid, flags=0x02 if clean else 0x00,
                      props=props))
    return s, read_any(s)


def ack(t, pid, level=4, rc=None):
    """PUBACK (4), PUBREC (5), PUBREL (6) or PUBCOMP (7)."""
    body = pid.to_bytes(2, "big")
    if level == 5 and rc is not None:
        body += bytes([rc])
    return frame((t << 4) | (2 if t == 6 else 0), body)


class Watcher:
    """A paho subscriber on <topic>, connected before the test acts: the
    session that must stay unaffected."""

    def __init__(self, port, topic):
        self.got = []
        self.c = mqtt.Client(client_id="watcher")
        self.c.on_message = lambda c, u, m: self.got.append(m.payload)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        r = self.c.subscribe(topic, 1)
        wait_until(lambda: self.c.is_connected(), what="watcher up")
        time.sleep(0.2)
        assert r[0] == 0

    def check(self, guard):
        """A message published now still reaches the watcher."""
        p = mqtt.Client(client_id="checker")
        p.connect("127.0.0.1", guard.plain_port)
        p.loop_start()
        p.publish("watch/x", b"still-here", qos=1).wait_for_publish()
        p.disconnect()
        p.loop_stop()
        wait_until(lambda: b"still-here" in self.got,
                   what="the watcher still receives")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def broker_clean(broker, cid, *frames):
    """The broker logged no error, nor any of <frames> from <cid>."""
    log = broker.log()
    for e in BROKER_ERRORS:
        assert e not in log, f"broker logged {e!r}:\n{log}"
    for f in frames:
        assert f"Received {f} from {cid}" not in log, \
            f"{f} from {cid} reached the broker:\n{log}"


@pytest.fixture
def g(guard_factory, broker):
    return guard_factory(broker.port, plain=True)


WRONG_ACKS = [(level, qos) for level in (4, 5) for qos in (1, 2)]


@pytest.mark.parametrize("level,qos", WRONG_ACKS,
                         ids=[f"{'5.0' if lv == 5 else '3.1.1'}-qos{q}"
                              for lv, q in WRONG_ACKS])
@pytest.mark.parametrize("wrong", ["type", "id"])
def test_wrong_ack_to_delivery(g, broker, level, qos, wrong):
    """A QoS 1 delivery answered with PUBREC, a QoS 2 one with PUBACK (or
    the right type for another id): never forwarded; 5.0 DISCONNECT
    0x82, 3.x a close."""
    w = Watcher(g.plain_port, "watch/#")
    cid = f"sub{level}{qos}"
    s, ca = session(g.plain_port, cid.encode(), level=level)
    assert ca[3] == 0
    s.sendall(subscribe([(b"t/1", qos)], pid=3,
                        props=b"" if level == 5 else None))
    assert read_any(s)[0] == 0x90
    pub = mqtt.Client(client_id="pub")
    pub.connect("127.0.0.1", g.plain_port)
    pub.loop_start()
    pub.publish("t/1", b"m", qos=qos)
    d = read_any(s)
    assert d[0] >> 4 == 3 and (d[0] >> 1) & 3 == qos
    pid = int.from_bytes(d[7:9], "big")   # after "t/1", two bytes long
    if wrong == "type":
        bad, name = (5, "PUBREC") if qos == 1 else (4, "PUBACK")
        got = reply_close(s, ack(bad, pid, level))
    else:
        bad, name = (4, "PUBACK") if qos == 1 else (5, "PUBREC")
        got = reply_close(s, ack(bad, pid ^ 0x100, level))
    assert got == (b"\xe0\x01\x82" if level == 5 else b""), got.hex()
    pub.disconnect()
    pub.loop_stop()
    w.check(g)
    w.close()
    time.sleep(0.3)
    broker_clean(broker, cid, name)
    assert f"client {name} id" in g.log()


def reply_close(s, data):
    s.sendall(data)
    got = read_until_closed(s)
    s.close()
    return got


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
@pytest.mark.parametrize("qos", [1, 2])
def test_reused_id_without_dup(g, broker, level, qos):
    """A second PUBLISH with an identifier in use and DUP 0 ends the
    session before the broker sees it [MQTT-2.2.1-3]; with DUP 1 it is a
    resend and goes on."""
    w = Watcher(g.plain_port, "watch/#")
    s, ca = session(g.plain_port, b"reuse", level=level)
    assert ca[3] == 0
    props = b"" if level == 5 else None
    s.sendall(publish(b"r/1", b"one", qos=qos, pid=9, props=props))
    a = read_any(s)
    assert a[0] >> 4 == (4 if qos == 1 else 5)
    if qos == 2:
        # PUBREC seen, no PUBREL yet: a resend with DUP 1 is legal.
        s.sendall(publish(b"r/1", b"one", qos=qos, pid=9, props=props,
                          first=0x38 | (qos << 1)))
        assert read_any(s)[0] >> 4 == 5
        s.sendall(publish(b"r/1", b"two", qos=qos, pid=9, props=props))
    else:
        # PUBACK seen: the id is free again, then in use.
        s.sendall(publish(b"r/1", b"two", qos=qos, pid=9, props=props))
        assert read_any(s)[0] >> 4 == 4
        s.sendall(publish(b"r/1", b"hold", qos=2, pid=10, props=props))
        assert read_any(s)[0] >> 4 == 5
        s.sendall(publish(b"r/1", b"three", qos=qos, pid=10,
                          props=props))
    got = reply_close(s, b"")
    assert got == (b"\xe0\x01\x82" if level == 5 else b""), got.hex()
    w.check(g)
    w.close()
    time.sleep(0.3)
    broker_clean(broker, "reuse")
    # QoS 1: "one", "two", "hold"; QoS 2: "one" and its resend.
    assert broker.log().count("Received PUBLISH from reuse") == \
        (3 if qos == 1 else 2), broker.log()
    assert "packet identifier still in use" in g.log()


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
def test_pubrel_and_pubcomp_out_of_state(g, broker, level):
    """PUBREL before PUBREC, and PUBREL for no flow on a clean session:
    refused.  PUBCOMP for no PUBREL: refused."""
    for i, frames in enumerate([
            [publish(b"q/1", b"x", qos=2, pid=4,
                     props=b"" if level == 5 else None), ack(6, 4, level)],
            [ack(6, 77, level)],
            [ack(7, 78, level)]]):
        cid = f"st{level}{i}"
        s, ca = session(g.plain_port, cid.encode(), level=level)
        assert ca[3] == 0
        got = reply_close(s, b"".join(frames))
        # The first case sees the PUBREC before the DISCONNECT.
        assert got.endswith(b"\xe0\x01\x82" if level == 5 else b""), \
            got.hex()
        time.sleep(0.2)
        broker_clean(broker, cid, "PUBREL", "PUBCOMP")


def test_resumed_session_both_ways(g, broker):
    """A QoS 2 flow cut between PUBREC and PUBREL, each way, is finished
    on the next connection with clean session 0 [MQTT-4.4.0-1]: the
    client's PUBREL for an id of the earlier connection goes on, and so
    does the broker's PUBREL it resends."""
    # The client's flow: PUBLISH, PUBREC, then the connection drops.
    got = []
    sub = mqtt.Client(client_id="rs-sub")
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.connect("127.0.0.1", g.plain_port)
    sub.loop_start()
    sub.subscribe("rs/#", 2)
    time.sleep(0.3)
    s, ca = session(g.plain_port, b"rs-pub", clean=False)
    assert ca[3] == 0
    s.sendall(publish(b"rs/1", b"cut", qos=2, pid=21))
    assert read_any(s) == ack(5, 21)
    s.close()
    s, ca = session(g.plain_port, b"rs-pub", clean=False)
    assert ca == b"\x20\x02\x01\x00"          # session present
    s.sendall(ack(6, 21))
    assert read_any(s) == ack(7, 21)
    wait_until(lambda: b"cut" in got, what="the resumed message delivered")
    assert still_open(s)
    s.close()

    # The broker's flow: a QoS 2 delivery answered with PUBREC, then the
    # subscriber drops before the broker's PUBREL.
    s, ca = session(g.plain_port, b"rs-in", clean=False)
    s.sendall(subscribe([(b"in/#", 2)], pid=1))
    assert read_any(s)[0] == 0x90
    p = mqtt.Client(client_id="rs-p")
    p.connect("127.0.0.1", g.plain_port)
    p.loop_start()
    p.publish("in/1", b"d", qos=2).wait_for_publish()
    d = read_any(s)
    pid = int.from_bytes(d[8:10], "big")      # after "in/1"
    s.sendall(ack(5, pid))
    rel = read_any(s)
    assert rel == ack(6, pid)
    s.close()                                 # PUBCOMP never sent
    s, ca = session(g.plain_port, b"rs-in", clean=False)
    assert ca == b"\x20\x02\x01\x00"
    assert read_any(s) == ack(6, pid)         # the broker resends PUBREL
    s.sendall(ack(7, pid))
    time.sleep(0.3)
    assert still_open(s)
    s.close()
    p.disconnect()
    p.loop_stop()
    sub.disconnect()
    sub.loop_stop()
    broker_clean(broker, "rs-pub")
    broker_clean(broker, "rs-in")
    assert "refused" not in g.log()


def test_paho_persistent_qos2(g, broker):
    """paho with clean_session False, QoS 2 both ways, reconnecting: every
    message arrives once, nothing is refused."""
    got = []
    c = mqtt.Client(client_id="pp", clean_session=False)
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.connect("127.0.0.1", g.plain_port)
    c.loop_start()
    c.subscribe("pp/#", 2)
    time.sleep(0.3)
    for i in range(5):
        c.publish("pp/a", b"m%d" % i, qos=2)
    wait_until(lambda: len(got) >= 5, what="5 messages")
    c.disconnect()
    c.loop_stop()
    p = mqtt.Client(client_id="pp-pub")
    p.connect("127.0.0.1", g.plain_port)
    p.loop_start()
    for i in range(5, 10):
        p.publish("pp/a", b"m%d" % i, qos=2).wait_for_publish()
    p.disconnect()
    p.loop_stop()
    c = mqtt.Client(client_id="pp", clean_session=False)
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.connect("127.0.0.1", g.plain_port)
    c.loop_start()
    wait_until(lambda: len(got) >= 10, what="queued messages after resume")
    c.disconnect()
    c.loop_stop()
    assert sorted(got) == sorted(b"m%d" % i for i in range(10))
    broker_clean(broker, "pp")
    assert "refused" not in g.log()


# ---- payloads and strings the broker would drop --------------------------

PFI = b"\x01\x01"   # Payload Format Indicator 1


def test_payload_format_invalid(g, broker):
    """5.0 PUBLISH with Payload Format Indicator 1 and a payload that is
    not UTF-8: QoS 1/2 answered PUBACK/PUBREC 0x99 and never forwarded,
    QoS 0 DISCONNECT 0x99; valid UTF-8 (NUL and newlines included) goes
    on [MQTT-3.3.2-4]."""
    w = Watcher(g.plain_port, "watch/#")
    s, ca = session(g.plain_port, b"pf", level=5)
    s.sendall(publish(b"watch/pf", b"\xff\xfe", qos=1, pid=1, props=PFI))
    assert read_any(s) == b"\x40\x03\x00\x01\x99"
    s.sendall(publish(b"watch/pf", b"a\xe2\x82", qos=2, pid=2, props=PFI))
    assert read_any(s) == b"\x50\x03\x00\x02\x99"
    # The id is free again: the PUBREC 0x99 ended the flow.
    s.sendall(publish(b"watch/pf", "ok é\n\0".encode(), qos=1, pid=2,
                      props=PFI))
    a = read_any(s)
    assert a[0] == 0x40 and a[2:4] == b"\x00\x02", a.hex()
    big = ("ü" * 5000).encode()               # crosses read pieces
    s.sendall(publish(b"watch/pf", big, qos=1, pid=3, props=PFI))
    wait_until(lambda: big in w.got, what="the long valid payload")
    got = reply_close(s, publish(b"watch/pf", b"\xc0\xaf", props=PFI))
    assert got.endswith(b"\xe0\x01\x99"), got.hex()
    w.check(g)
    w.close()
    assert b"\xff\xfe" not in w.got and "ok é\n\0".encode() in w.got
    time.sleep(0.3)
    log = broker.log()
    assert log.count("Received PUBLISH from pf") == 2, log
    assert "Payload Format Indicator 1" in g.log()


def test_payload_format_off(guard_factory, broker):
    """limits.validate_payload_format: false leaves the payload alone (the
    broker accepts it)."""
    g = guard_factory(broker.port, plain=True,
                      limits="  validate_payload_format: false\n")
    s, ca = session(g.plain_port, b"pf", level=5)
    s.sendall(publish(b"x/pf", b"\xff", qos=1, pid=1, props=PFI))
    assert read_any(s)[:4] == b"\x40\x03\x00\x01"
    s.close()


@pytest.mark.parametrize("cp", ["\ufdd0", "\ufdef", "\ufffe", "\uffff",
                                "\U0001ffff", "\U0010fffe"])
def test_noncharacter_topic(g, broker, cp):
    """A topic with a Unicode noncharacter, which Mosquitto drops as
    malformed, never reaches it: 5.0 DISCONNECT 0x81."""
    s, ca = session(g.plain_port, b"nc", level=5)
    got = reply_close(s, publish(("a/" + cp).encode(), b"x", qos=1, pid=1,
                                 props=b""))
    assert got == b"\xe0\x01\x81", got.hex()
    time.sleep(0.2)
    broker_clean(broker, "nc", "PUBLISH")


def test_noncharacter_subscribe_3(g, broker):
    s, ca = session(g.plain_port, b"nc3")
    got = reply_close(s, subscribe([("a/\uffff".encode(), 0)]))
    assert got == b""
    time.sleep(0.2)
    broker_clean(broker, "nc3", "SUBSCRIBE")


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
def test_client_id_length(guard_factory, broker, level):
    """limits.max_client_id_length (default 256): a longer client id is
    refused with CONNACK 0x85 (3.x 0x02); 256 bytes pass."""
    g = guard_factory(broker.port, plain=True)
    s, ca = session(g.plain_port, b"c" * 256, level=level)
    assert ca[3] == 0
    s.close()
    s, ca = session(g.plain_port, b"c" * 1024, level=level)
    assert ca[3] == (0x85 if level == 5 else 0x02), ca.hex()
    s.close()
    g2 = guard_factory(broker.port, plain=True,
                       limits="  max_client_id_length: 8\n")
    s, ca = session(g2.plain_port, b"c" * 9, level=level)
    assert ca[3] == (0x85 if level == 5 else 0x02), ca.hex()
    s.close()
    time.sleep(0.2)
    assert "c" * 1024 not in broker.log()


def test_disconnect_session_expiry(g, broker):
    """A 5.0 DISCONNECT giving a Session Expiry Interval to a session whose
    CONNECT had none, which Mosquitto calls a protocol error: DISCONNECT
    0x82 from the proxy, the broker never sees it."""
    s, ca = session(g.plain_port, b"se", level=5)
    got = reply_close(s, bytes([0xE0, 7, 0, 5, 0x11, 0, 0, 0, 60]))
    assert got == b"\xe0\x01\x82", got.hex()
    time.sleep(0.3)
    broker_clean(broker, "se", "DISCONNECT")
    assert "Session Expiry Interval of 60" in g.log()


@pytest.mark.parametrize("conf,frame_,code", [
    ("max_qos 1\n", publish(b"q/2", b"x", qos=2, pid=1, props=b""), 0x9B),
    ("retain_available false\n", publish(b"r/1", b"x", props=b"",
                                         first=0x31), 0x9A)],
    ids=["max_qos", "retain_available"])
def test_broker_maximum_qos_and_retain(tmp_path, guard_factory, conf,
                                        frame_, code):
    """A 5.0 client told the broker's Maximum QoS or Retain Available in
    the CONNACK that publishes past it, which Mosquitto disconnects: the
    proxy ends the session (DISCONNECT 0x9B / 0x9A), the broker never
    sees the PUBLISH."""
    (tmp_path / "b").mkdir()
    b = Broker(tmp_path / "b", extra=conf)
    try:
        g = guard_factory(b.port, plain=True)
        s, ca = session(g.plain_port, b"mq", level=5)
        assert ca[3] == 0
        got = reply_close(s, frame_)
        assert got == bytes([0xE0, 1, code]), got.hex()
        time.sleep(0.3)
        broker_clean(b, "mq", "PUBLISH")
        assert "Too high QoS" not in b.log()
    finally:
        b.stop()
