#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Writes the hand-made seeds of the fuzz corpora (test/corpus/<target>/).

Run from the top of the tree: test/fuzz/seeds.py.  Each seed is a file
named seed-<what>; the fuzzer's own finds are kept beside them after
minimisation.  fuzz_session reads chunks: a selector byte (bit 7: from the
broker, bits 0-6: length) and the chunk's bytes.
"""
import os
import struct


def remlen(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def frame(h, body):
    return bytes([h]) + remlen(len(body)) + body


def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x


def props(*items):
    body = b"".join(items)
    return remlen(len(body)) + body


def connect(level, cid="c1", user=None, will=None, flags=0x02, p=b""):
    name = s("MQIsdp") if level == 3 else s("MQTT")
    f = flags
    payload = s(cid)
    if will:
        f |= 0x04
        payload += (p if level == 5 else b"") + s(will[0]) + s(will[1])
    if user:
        f |= 0x80
        payload += s(user)
    vh = name + bytes([level, f]) + struct.pack(">H", 30)
    if level == 5:
        vh += props(p)
    return frame(0x10, vh + payload)


def connack(level, rc=0, p=b""):
    if level == 5:
        return frame(0x20, bytes([0, rc]) + props(p))
    return frame(0x20, bytes([0, rc]))


def publish(level, topic, qos=0, pid=1, payload=b"m", dup=False,
            retain=False, p=b""):
    h = 0x30 | qos << 1 | (8 if dup else 0) | (1 if retain else 0)
    body = s(topic) + (struct.pack(">H", pid) if qos else b"")
    if level == 5:
        body += props(p)
    return frame(h, body + payload)


def ack(t, pid, level=4, rc=None):
    h = {4: 0x40, 5: 0x50, 6: 0x62, 7: 0x70}[t]
    body = struct.pack(">H", pid)
    if level == 5 and rc is not None:
        body += bytes([rc])
    return frame(h, body)


def subscribe(level, pid, *filters):
    body = struct.pack(">H", pid) + (props() if level == 5 else b"")
    for f, o in filters:
        body += s(f) + bytes([o])
    return frame(0x82, body)


def suback(level, pid, *codes):
    return frame(0x90, struct.pack(">H", pid) +
                 (props() if level == 5 else b"") + bytes(codes))


def unsubscribe(level, pid, *filters):
    body = struct.pack(">H", pid) + (props() if level == 5 else b"")
    for f in filters:
        body += s(f)
    return frame(0xA2, body)


def unsuback(level, pid, *codes):
    if level == 5:
        return frame(0xB0, struct.pack(">H", pid) + props() + bytes(codes))
    return frame(0xB0, struct.pack(">H", pid))


PING = frame(0xC0, b"")
PONG = frame(0xD0, b"")


def disconnect(level, rc=0):
    return frame(0xE0, bytes([rc, 0]) if level == 5 else b"")


C, B = 0, 1


def conversation(steps):
    out = b""
    for d, fr in steps:
        while True:
            n = min(len(fr), 127)
            out += bytes([(0x80 if d else 0) | n]) + fr[:n]
            fr = fr[n:]
            if not fr:
                break
    return out


def session_seeds():
    seeds = {}
    for lv in (3, 4, 5):
        seeds["qos-flows-v%d" % lv] = conversation([
            (C, connect(lv)), (B, connack(lv)),
            (C, subscribe(lv, 1, ("s/a", 1), ("r/#", 2))),
            (B, suback(lv, 1, 1, 2)),
            (C, publish(lv, "p/a", 1, 2)), (B, ack(4, 2, lv)),
            (C, publish(lv, "p/b", 2, 3)), (B, ack(5, 3, lv)),
            (C, ack(6, 3, lv)), (B, ack(7, 3, lv)),
            (B, publish(lv, "r/a", 1, 7)), (C, ack(4, 7, lv)),
            (B, publish(lv, "r/a", 2, 8)), (C, ack(5, 8, lv)),
            (B, ack(6, 8, lv)), (C, ack(7, 8, lv)),
            (C, unsubscribe(lv, 4, "s/a")), (B, unsuback(lv, 4, 0)),
            (C, PING), (B, PONG), (C, disconnect(lv))])
        seeds["denied-v%d" % lv] = conversation([
            (C, connect(lv, user="alice")), (B, connack(lv)),
            (C, subscribe(lv, 1, ("s/no", 0), ("s/ok", 1), ("c/c1", 0))),
            (B, suback(lv, 1, 1)),
            (C, publish(lv, "p/no/x", 1, 2)),
            (B, publish(lv, "r/no/x", 2, 5)), (B, ack(6, 5, lv)),
            (C, publish(lv, "t/slow", 1, 3)),
            (C, publish(lv, "t/slow", 1, 4)),
            (B, ack(4, 3, lv)), (B, ack(4, 4, lv))])
        # The acks the issue lists: PUBREC for a QoS 1 delivery, PUBACK
        # for a QoS 2 one, a QoS 2 identifier reused without DUP.
        seeds["wrong-acks-v%d" % lv] = conversation([
            (C, connect(lv)), (B, connack(lv)),
            (B, publish(lv, "r/a", 1, 9)), (C, ack(5, 9, lv)),
            (B, publish(lv, "r/a", 2, 10)), (C, ack(4, 10, lv)),
            (C, publish(lv, "p/a", 2, 1)), (C, publish(lv, "p/a", 2, 1)),
            (C, ack(7, 77, lv)), (B, ack(6, 1, lv))])
        seeds["inflight-v%d" % lv] = conversation(
            [(C, connect(lv)), (B, connack(lv))] +
            [(C, publish(lv, "p/%d" % i, 1, i + 1)) for i in range(5)] +
            [(B, ack(4, i + 1, lv)) for i in range(5)])
    seeds["oversize-v4"] = conversation([
        (C, connect(4)), (B, connack(4)),
        (B, publish(4, "r/big", 1, 3, b"x" * 2100)), (C, PING)])
    seeds["aliases-v5"] = conversation([
        (C, connect(5, p=b"\x22\x00\x05")),
        (B, connack(5, p=b"\x22\x00\x08\x21\x00\x10")),
        (C, publish(5, "p/a", 0, p=b"\x23\x00\x01")),
        (C, publish(5, "", 0, p=b"\x23\x00\x01")),
        (B, publish(5, "r/a", 1, 4, p=b"\x23\x00\x02")),
        (B, publish(5, "", 1, 5, p=b"\x23\x00\x02")),
        (C, ack(4, 4, 5, 0)), (C, ack(4, 5, 5, 0x10)),
        (C, publish(5, "p/a", 1, 9, p=b"\x01\x01", payload=b"\xff\xfe")),
        (C, disconnect(5, 4))])
    seeds["will-v5"] = conversation([
        (C, connect(5, will=("p/will", "bye"), user="bob",
                    p=b"\x18\x00\x00\x00\x05")),
        (B, connack(5, p=b"\x13\x00\x0a\x24\x01")),
        (C, publish(5, "d/bob/x", 1, 2)),
        (B, disconnect(5, 0x8b))])
    seeds["refused-v4"] = conversation([
        (C, connect(4, cid="")), (B, connack(4, 5))])
    seeds["noncharacter-v4"] = conversation([
        (C, connect(4)), (B, connack(4)),
        (C, publish(4, "p/\uffff", 1, 1)),
        (B, publish(4, "r/\ufdd0", 0))])
    return seeds


def ws_frame(payload, opcode=2, fin=True, mask=True):
    """A client WebSocket frame, masked with a fixed key."""
    key = b"\x37\xfa\x21\x3d"
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_seeds():
    """fuzz_ws: a selector byte (the transform's chunk size), the upgrade
    request, then WebSocket frames."""
    req = ("GET /mqtt HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Protocol: mqtt\r\n").encode()
    c = connect(4)
    return {
        "upgrade-connect": b"\x07" + req + b"\r\n" + ws_frame(c),
        "upgrade-origin": b"\x01" + req +
        b"Origin: https://a.example\r\n\r\n" + ws_frame(c[:5]) +
        ws_frame(c[5:]),
        "fragments-ping": b"\x03" + req + b"\r\n" +
        ws_frame(c[:4], fin=False) + ws_frame(b"hi", opcode=9) +
        ws_frame(c[4:], opcode=0) + ws_frame(b"\x03\xe8", opcode=8),
        "unmasked": b"\x40" + req + b"\r\n" + ws_frame(c, mask=False),
        "text": b"\x02" + req + b"\r\n" + ws_frame(c, opcode=1),
        "big": b"\x3f" + req + b"\r\n" + ws_frame(b"\x00" * 400),
        "refused-path": b"\x05" + req.replace(b"/mqtt", b"/x") + b"\r\n",
        "bare-lf": b"\x05" + req.replace(b"\r\nHost", b"\nHost") + b"\r\n",
    }


def main():
    for name, data in session_seeds().items():
        with open("test/corpus/session/seed-" + name, "wb") as f:
            f.write(data)
    os.makedirs("test/corpus/ws", exist_ok=True)
    for name, data in ws_seeds().items():
        with open("test/corpus/ws/seed-" + name, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
