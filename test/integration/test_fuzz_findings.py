# SPDX-License-Identifier: ISC
"""What the fuzzers found, each as a test against a real Mosquitto.

fuzz_session (test/fuzz/) plays both sides of a session; each finding it
turned up in the proxy is reproduced here end to end, through mqttguard,
with raw sockets.
"""
import pytest

from helpers import (frame, mqtt_str, plain_socket, publish, read_frame,
                     subscribe, connect)

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
