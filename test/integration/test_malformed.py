# SPDX-License-Identifier: ISC
"""Malformed and out-of-state frames, sent over raw sockets through mqttguard
to a real Mosquitto (log_type all).

For each frame: the client gets the answer the protocol asks for (a CONNACK
with the right code, a 5.0 DISCONNECT with the right reason, or a plain
close), and the broker never receives it — checked in the broker's own log,
next to a valid control frame sent just before, which the broker must log.
"""
import re

import pytest

from helpers import (accepted, client_socket, connect, frame, free_port,
                     mqtt_connect, mqtt_str, plain_socket, publish, reply,
                     subscribe, unsubscribe, wait_until)


# ---- before CONNECT: (name, level, bytes, expected reply) -------------------
# The reply is the exact bytes the proxy must send before closing.
CONNACK_V3 = lambda rc: bytes([0x20, 0x02, 0x00, rc])        # noqa: E731
CONNACK_V5 = lambda rc: bytes([0x20, 0x03, 0x00, rc, 0x00])  # noqa: E731

PRE_CONNECT = [
    ("protocol-name-wrong [MQTT-3.1.2-1]", connect(name=b"MQTX"), b""),
    ("protocol-level-unsupported [MQTT-3.1.2-2]", connect(level=6),
     CONNACK_V3(0x01)),
    ("connect-reserved-flag [MQTT-3.1.2-3]", connect(flags=0x03), b""),
    ("connect-header-flags [MQTT-2.2.2-2]", connect(first=0x11), b""),
    ("will-qos-3 [MQTT-3.1.2-14]",
     connect(flags=0x02 | 0x04 | 0x18,
             payload=mqtt_str(b"w") + mqtt_str(b"m")), b""),
    ("will-retain-without-will [MQTT-3.1.2-15]", connect(flags=0x22), b""),
    ("will-qos-without-will [MQTT-3.1.2-13]", connect(flags=0x0A), b""),
    ("password-without-username [MQTT-3.1.2-22]",
     connect(flags=0x42, payload=mqtt_str(b"pw")), b""),
    ("client-id-nul [MQTT-1.5.3-2]", connect(cid=b"a\x00b"), b""),
    ("client-id-overlong-utf8 [MQTT-1.5.3-1]", connect(cid=b"\xc0\x80"), b""),
    ("client-id-surrogate [MQTT-1.5.3-1]", connect(cid=b"\xed\xa0\x80"), b""),
    ("client-id-31-too-long [MQTT-3.1 3.1]",
     connect(level=3, cid=b"x" * 24), CONNACK_V3(0x02)),
    ("client-id-empty-persistent [MQTT-3.1.3-8]",
     connect(cid=b"", flags=0x00), CONNACK_V3(0x02)),
    ("will-topic-wildcard [MQTT-3.3.2-2]",
     connect(flags=0x06, payload=mqtt_str(b"a/#") + mqtt_str(b"m")), b""),
    ("connect-trailing-byte [MQTT-3.1.3]",
     connect() + b"", b""),  # replaced below with a longer frame
    ("v5-duplicate-session-expiry [MQTT-2.2.2-2]",
     connect(level=5, props=b"\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02"),
     CONNACK_V5(0x82)),
    ("v5-receive-maximum-zero [MQTT-3.1.2-22]",
     connect(level=5, props=b"\x21\x00\x00"), CONNACK_V5(0x82)),
    ("v5-unknown-property", connect(level=5, props=b"\x7f\x00"),
     CONNACK_V5(0x81)),
    ("v5-topic-alias-in-connect", connect(level=5, props=b"\x23\x00\x01"),
     CONNACK_V5(0x82)),
    ("remaining-length-5-bytes [MQTT-1.5.5-1]",
     b"\x10\xff\xff\xff\xff\x01", b""),
    ("frame-over-max-size", b"\x10\xff\xff\xff\x7f", b""),
    ("publish-before-connect [MQTT-3.1.0-1]", publish(b"t"), b""),
    ("reserved-type-0 [MQTT-2.2.1]", b"\x00\x00", b""),
]
# A CONNECT whose remaining length claims one byte more than its contents.
_c = connect()
PRE_CONNECT[14] = ("connect-trailing-byte [MQTT-3.1.3]",
                   bytes([0x10, _c[1] + 1]) + _c[2:] + b"\x00", b"")


@pytest.mark.parametrize("name,data,answer", PRE_CONNECT,
                         ids=[c[0].split()[0] for c in PRE_CONNECT])
def test_bad_connect(guard, broker, name, data, answer):
    before = broker.connections()
    got = reply(plain_socket(guard.plain_port), data)
    assert got == answer, f"{name}: got {got!r}"
    wait_until(lambda: "refused" in guard.log(), what="the refusal log")
    assert broker.connections() == before, "the broker saw a connection"


# ---- after CONNECT: (name, level, control frame, bad frame, 5.0 reason) ------
CTRL = publish(b"ok/control", b"control")
CTRL5 = publish(b"ok/control", b"control", props=b"")

POST_CONNECT = [
    ("publish-qos-3 [MQTT-3.3.1-4]", 4, publish(b"t", first=0x36), None),
    ("publish-dup-qos-0 [MQTT-3.3.1-2]", 4, publish(b"t", first=0x38), None),
    ("publish-packet-id-0 [MQTT-2.3.1-1]", 4, publish(b"t", qos=1, pid=0),
     None),
    ("publish-topic-plus [MQTT-3.3.2-2]", 4, publish(b"a/+/b"), None),
    ("publish-topic-hash [MQTT-3.3.2-2]", 4, publish(b"a/#"), None),
    ("publish-topic-empty [MQTT-4.7.3-1]", 4, publish(b""), None),
    ("publish-topic-bad-utf8 [MQTT-1.5.3-1]", 4, publish(b"a\xff"), None),
    ("publish-topic-nul [MQTT-1.5.3-2]", 4, publish(b"a\x00"), None),
    ("publish-topic-overruns [MQTT-1.5.3]", 4,
     frame(0x30, b"\x00\x10abc"), None),
    ("subscribe-flags-0 [MQTT-3.8.1-1]", 4,
     subscribe([(b"t", 0)], first=0x80), None),
    ("subscribe-no-filters [MQTT-3.8.3-3]", 4, subscribe([]), None),
    ("subscribe-hash-not-last [MQTT-4.7.1-2]", 4,
     subscribe([(b"a/#/b", 0)]), None),
    ("subscribe-plus-in-level [MQTT-4.7.1-3]", 4,
     subscribe([(b"a+/b", 0)]), None),
    ("subscribe-filter-empty [MQTT-4.7.3-1]", 4, subscribe([(b"", 0)]), None),
    ("subscribe-qos-3 [MQTT-3-8.3-4]", 4, subscribe([(b"t", 3)]), None),
    ("subscribe-reserved-bits-311 [MQTT-3.8.3-4]", 4,
     subscribe([(b"t", 0x04)]), None),
    ("subscribe-packet-id-0 [MQTT-2.3.1-1]", 4,
     subscribe([(b"t", 0)], pid=0), None),
    ("unsubscribe-flags-0 [MQTT-3.10.1-1]", 4,
     unsubscribe([b"t"], first=0xA0), None),
    ("unsubscribe-no-filters [MQTT-3.10.3-2]", 4, unsubscribe([]), None),
    ("pubrel-flags-0 [MQTT-3.6.1-1]", 4, b"\x60\x02\x00\x01", None),
    ("puback-too-long [MQTT-3.4]", 4, b"\x40\x03\x00\x01\x00", None),
    ("pingreq-with-body [MQTT-3.12]", 4, b"\xc0\x01\x00", None),
    ("disconnect-flags [MQTT-3.14.1-1]", 4, b"\xe1\x00", None),
    ("second-connect [MQTT-3.1.0-2]", 4, connect(cid=b"again"), None),
    ("connack-from-client", 4, b"\x20\x02\x00\x00", None),
    ("suback-from-client", 4, b"\x90\x03\x00\x01\x00", None),
    ("pingresp-from-client", 4, b"\xd0\x00", None),
    ("auth-below-5", 4, b"\xf0\x00", None),
    ("reserved-type-0", 4, b"\x00\x00", None),
    ("v5-publish-qos-3", 5, publish(b"t", props=b"", first=0x36), 0x81),
    ("v5-topic-alias-0 [MQTT-3.3.2-8]", 5,
     publish(b"t", props=b"\x23\x00\x00"), 0x94),
    ("v5-topic-alias-over-max [MQTT-3.3.2-9]", 5,
     publish(b"t", props=b"\x23\xff\xff"), 0x94),
    # An alias never mapped: Mosquitto itself answers 0x94 here.
    ("v5-unknown-alias [MQTT-3.3.2-12]", 5,
     publish(b"", props=b"\x23\x00\x01"), 0x94),
    ("v5-subscription-id-from-client [MQTT-3.3.4-6]", 5,
     publish(b"t", props=b"\x0b\x01"), 0x82),
    ("v5-duplicate-payload-format [MQTT-2.2.2-2]", 5,
     publish(b"t", props=b"\x01\x00\x01\x00"), 0x82),
    ("v5-property-overruns", 5, publish(b"t", props=b"\x03\x00\x09ab"), 0x81),
    ("v5-subscribe-reserved-bits [MQTT-3.8.3-5]", 5,
     subscribe([(b"t", 0xC0)], props=b""), 0x81),
    ("v5-subscribe-retain-handling-3 [MQTT-3.8.3-5]", 5,
     subscribe([(b"t", 0x30)], props=b""), 0x81),
    ("v5-shared-no-local [MQTT-3.8.3-4]", 5,
     subscribe([(b"$share/g/t", 0x04)], props=b""), 0x82),
    ("v5-shared-bad-group [MQTT-4.8.2-2]", 5,
     subscribe([(b"$share/g+/t", 0)], props=b""), 0x82),
    ("v5-disconnect-bad-reason", 5, b"\xe0\x01\x05", 0x82),
    ("v5-puback-bad-reason", 5, b"\x40\x03\x00\x01\x05", 0x82),
    ("v5-frame-over-max-size", 5, b"\x30\xff\xff\xff\x7f", 0x95),
]


def open_session(guard, level, cid, over_tls=False):
    sock = client_socket(guard, over_tls)
    connack = mqtt_connect(sock, cid, level=level)
    assert accepted(connack), connack
    return sock


def broker_saw_close(broker, cid):
    log = broker.log()
    return any(m in log for m in (f"Client {cid} closed its connection",
                                  f"Socket error on client {cid}",
                                  f"Client {cid} disconnected"))


@pytest.mark.parametrize("name,level,bad,reason", POST_CONNECT,
                         ids=[c[0].split()[0] for c in POST_CONNECT])
def test_bad_frame_after_connect(guard, broker, name, level, bad, reason):
    cid = f"mal-{free_port()}"
    sock = open_session(guard, level, cid.encode(), over_tls=(level == 5))
    got = reply(sock, (CTRL5 if level == 5 else CTRL) + bad)
    if level == 5:
        # DISCONNECT (0xE0) with the reason code for the broken rule.
        assert got[:1] == b"\xe0" and len(got) >= 3, f"{name}: {got!r}"
        assert got[2] == reason, f"{name}: reason 0x{got[2]:02x}"
    else:
        assert got == b"", f"{name}: {got!r}"
    wait_until(lambda: broker_saw_close(broker, cid),
               what="the broker to see the client go")
    log = broker.log()
    # The control PUBLISH went through; the bad frame did not.
    received = re.findall(rf"Received (\w+) from {cid}\b", log)
    assert received == ["PUBLISH"], f"{name}: broker received {received}"
    assert "ok/control" in log
    assert "protocol error" not in log.lower()
    assert "malformed" not in log.lower()
    assert re.search(rf"{cid}.*refused", guard.log()) or \
        "refused" in guard.log()


def test_control_characters_stopped_at_the_edge(guard_factory, broker):
    """A topic with U+0001: refused by the proxy by default, never reaching
    the broker; with limits.reject_control_chars: false it is forwarded, and
    Mosquitto itself then drops the client as malformed."""
    strict = guard_factory(broker.port, plain=True)
    lax = guard_factory(broker.port, plain=True,
                        limits="  reject_control_chars: false\n")
    for g, refused in ((strict, True), (lax, False)):
        cid = f"ctl-{free_port()}"
        sock = plain_socket(g.plain_port)
        assert mqtt_connect(sock, cid.encode()) == b"\x20\x02\x00\x00"
        assert reply(sock, publish(b"ctl/\x01bell", b"x", qos=1,
                                   pid=7)) == b""
        wait_until(lambda: broker_saw_close(broker, cid) or
                   f"Client {cid} disconnected due to" in broker.log(),
                   what="the broker to see the client go")
        hit = f"Client {cid} disconnected due to malformed packet" in \
            broker.log()
        assert hit != refused
        assert ("control character" in g.log()) == refused
