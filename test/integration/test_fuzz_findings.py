# SPDX-License-Identifier: ISC
"""What the fuzzers found, each as a test against a real Mosquitto.

fuzz_session (test/fuzz/) plays both sides of a session; each finding it
turned up in the proxy is reproduced here end to end, through mqttguard,
with raw sockets.
"""
import pytest

from helpers import (connect, frame, plain_socket, publish, read_frame,
                     subscribe)

ACL = ("acl:\n  rules:\n"
       "    - {allow: all, topic: \"ok/#\"}\n"
       "    - {deny: all, topic: \"no/#\"}\n")


@pytest.mark.parametrize("level", [4, 5])
@pytest.mark.parametrize("what", ["subscribe", "publish"])
def test_no_answer_before_connack(guard_factory, broker, level, what):
    """A client pipelines a frame the proxy answers itself (a SUBSCRIBE
    of a refused filter, a QoS 1 PUBLISH the ACL denies) behind its
    CONNECT: the CONNACK must still come first [MQTT-3.2.0-1], the
    answer after it."""
    g = guard_factory(broker.port, plain=True, extra=ACL)
    props = b"" if level == 5 else None
    if what == "subscribe":
        second = subscribe([(b"no/x", 1)], pid=7, props=props)
        answer = 0x90
    else:
        second = publish(b"no/x", qos=1, pid=7, props=props)
        answer = 0x40
    s = plain_socket(g.plain_port)
    s.sendall(connect(level=level, cid=b"early") + second)
    first = read_frame(s)
    assert first[0] == 0x20, f"first frame {first!r} is not CONNACK"
    assert first[3] == 0, first
    nxt = read_frame(s)
    assert nxt[0] == answer and nxt[2:4] == b"\x00\x07", nxt
    s.close()


@pytest.mark.parametrize("level", [4, 5])
def test_pipelined_then_closed(guard_factory, broker, level):
    """What waits for the CONNACK is not lost when the client has gone
    meanwhile: CONNECT, PUBLISH and DISCONNECT sent at once and the socket
    closed still deliver the PUBLISH to a subscriber."""
    g = guard_factory(broker.port, plain=True, extra=ACL)
    props = b"" if level == 5 else None
    sub = plain_socket(g.plain_port)
    sub.sendall(connect(level=level, cid=b"sub"))
    assert read_frame(sub)[0] == 0x20
    sub.sendall(subscribe([(b"ok/x", 0)], pid=1, props=props))
    assert read_frame(sub)[0] == 0x90
    pub = plain_socket(g.plain_port)
    pub.sendall(connect(level=level, cid=b"fire") +
                publish(b"ok/x", b"hello", props=props) +
                frame(0xE0, b"\x00\x00" if level == 5 else b""))
    pub.close()
    got = read_frame(sub)
    assert got[0] == 0x30 and got.endswith(b"hello"), got
    sub.close()
