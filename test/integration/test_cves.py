# SPDX-License-Identifier: ISC
"""Known Mosquitto exploits, replayed through mqttguard.

One test per publicly documented Mosquitto vulnerability whose trigger a
proxy can see (docs/cves.md maps each CVE to the rule that blocks it and
lists those a proxy cannot see).  Each test sends the trigger over a raw
socket to mqttguard in front of a real Mosquitto (log_type all) and checks:

  - the trigger never reaches the broker: its log shows no trace of the
    offending packet and no "protocol error", "malformed packet", "unknown
    packet identifier" or "invalid" line;
  - a subscriber connected before (the watcher) is unaffected: a message
    published after the attack still reaches it.

CVE-2024-10525 is a client-library bug triggered by a broker: there a small
fake broker plays the attacker behind mqttguard and a raw client checks it
never gets the frame.
"""
import socket
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from helpers import (TIMEOUT, accepted, connect, frame, mqtt_str, pipe,
                    plain_socket, publish, read_any, read_until_closed,
                    still_open, subscribe, vbi, wait_until)

BROKER_ERRORS = ("protocol error", "malformed packet", "unknown packet "
                 "identifier", "Invalid subscription", "with invalid",
                 "disconnected due to", "Bad socket read", "out of memory")
ATTACKER = "127.0.0.9"   # refusals from here lock out no other client

ACL_ALL = ("acl:\n  rules:\n    - allow: all\n      topic: \"#\"\n")



def session(port, cid, level=4, clean=True, props=b"", payload=b"",
            addr=None):
    s = plain_socket(port, addr)
    s.sendall(connect(level=level, cid=cid, flags=0x02 if clean else 0,
                      props=props, payload=payload))
    return s, read_any(s)


def send_close(s, data):
    """Sends <data>, returns what arrives before the proxy closes."""
    if data:
        s.sendall(data)
    got = read_until_closed(s)
    s.close()
    return got


class Watcher:
    """A paho subscriber connected before the attack."""

    def __init__(self, port, keepalive=60):
        self.port = port
        self.got = []
        self.c = mqtt.Client(client_id="watcher")
        self.c.on_message = lambda c, u, m: self.got.append(m.payload)
        self.c.connect("127.0.0.1", port, keepalive=keepalive)
        self.c.loop_start()
        self.c.subscribe("watch/#", 1)
        wait_until(self.c.is_connected, what="the watcher connected")
        time.sleep(0.3)

    def unaffected(self):
        p = mqtt.Client(client_id="checker")
        p.connect("127.0.0.1", self.port)
        p.loop_start()
        wait_until(p.is_connected, what="the checker connected")
        p.publish("watch/x", b"after", qos=1).wait_for_publish()
        p.disconnect()
        p.loop_stop()
        wait_until(lambda: b"after" in self.got,
                   what="the watcher still receives")
        assert self.c.is_connected()
        self.c.disconnect()
        self.c.loop_stop()


def untouched(broker, *traces):
    """The broker's log: no error, none of <traces>."""
    time.sleep(0.3)
    log = broker.log()
    for e in BROKER_ERRORS + traces:
        assert e not in log, f"broker log shows {e!r}:\n{log}"


@pytest.fixture
def w(guard):
    return Watcher(guard.plain_port)


def test_cve_2017_7650_wildcard_client_id(guard, broker, w):
    """ACL patterns %c/%u widened by a client id or username holding '+'
    or '#': such names are refused at CONNECT (0x85 / 3.x 0x02)."""
    for cid, level in [(b"+", 4), (b"#", 4), (b"a/#", 5), (b"x+", 5)]:
        s, ca = session(guard.plain_port, cid, level=level, addr=ATTACKER)
        assert ca[3] == (0x85 if level == 5 else 0x02), ca.hex()
        s.close()
    s = plain_socket(guard.plain_port, ATTACKER)
    s.sendall(connect(cid=b"ok1", flags=0x82, payload=mqtt_str(b"u#")))
    assert read_any(s)[3] != 0
    s.close()
    w.unaffected()
    untouched(broker, "as +", "as #", "as a/#", "as x+", "u#")


def test_cve_2017_7651_huge_connect(guard, broker, w):
    """A CONNECT announcing 256 MB from an unauthenticated client: refused
    from its fixed header (limits.max_packet_size), nothing buffered."""
    before = broker.connections()
    s = plain_socket(guard.plain_port)
    assert send_close(s, b"\x10\xff\xff\xff\x7f" + b"\x00" * 1024) == b""
    w.unaffected()
    assert broker.connections() == before + 1    # the checker only
    untouched(broker)


def test_cve_2017_7653_invalid_utf8_topic(guard, broker, w):
    """A topic that is not UTF-8, which the broker passed on and its
    subscribers dropped on: refused by the codec."""
    for topic in (b"watch/\xc0\xaf", b"watch/\xed\xa0\x80", b"watch/\xff"):
        s, ca = session(guard.plain_port, b"u8")
        assert send_close(s, publish(topic, b"x", qos=1)) == b""
    w.unaffected()
    assert w.got == [b"after"]
    untouched(broker, "Received PUBLISH from u8")


def test_cve_2017_7654_crafted_connect(guard, broker, w):
    """Crafted CONNECTs from unauthenticated clients (fields failing
    validation part-way: a will topic not UTF-8, a password without a
    username, a will of QoS 3, a truncated client id): none reaches the
    broker."""
    before = broker.connections()
    for c in (connect(flags=0x06, payload=mqtt_str(b"\xff") +
                      mqtt_str(b"m")),
              connect(flags=0x42, payload=mqtt_str(b"pw")),
              connect(flags=0x1E, payload=mqtt_str(b"w") + mqtt_str(b"m")),
              frame(0x10, mqtt_str(b"MQTT") + b"\x04\x02\x00\x3c\x00\x09"
                    + b"ab")):
        s = plain_socket(guard.plain_port)
        send_close(s, c)
    w.unaffected()
    assert broker.connections() == before + 1
    untouched(broker)


def test_cve_2018_12543_publish_to_sys(guard_factory, broker):
    """PUBLISH to a $SYS topic (an assertion failure in 1.5.0-1.5.2): an
    ACL rule on "#" does not cover $-topics [MQTT-4.7.2-1], so it is
    denied at the proxy."""
    g = guard_factory(broker.port, plain=True, extra=ACL_ALL)
    w = Watcher(g.plain_port)
    s, ca = session(g.plain_port, b"sys", level=5)
    s.sendall(publish(b"$SYS/broker/x", b"x", qos=1, pid=1, props=b""))
    assert read_any(s) == b"\x40\x03\x00\x01\x87"   # not authorized
    s.close()
    w.unaffected()
    untouched(broker, "$SYS/broker/x")


class Tap:
    """A relay between mqttguard and the broker that keeps what mqttguard
    sends (self.sent), to see the frames the broker is given."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.sent = b""
        self.socks = []
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.broker_port),
                                         timeout=TIMEOUT)
            self.socks += [c, b]
            c.settimeout(None)
            b.settimeout(None)
            threading.Thread(target=pipe, args=(b, c),
                             daemon=True).start()
            threading.Thread(target=pipe, args=(c, b, self.keep),
                             daemon=True).start()

    def keep(self, chunk):
        self.sent += chunk

    def connects(self, cid):
        """The CONNECT frames for client id <cid> the broker was given."""
        out, off, b = [], 0, self.sent
        while off < len(b):
            n, k, mult = 0, 1, 1
            while b[off + k] & 0x80:
                n += (b[off + k] & 0x7F) * mult
                mult *= 128
                k += 1
            n += b[off + k] * mult
            f = b[off:off + k + 1 + n]
            if f[0] == 0x10 and mqtt_str(cid) in f:
                out.append(f[k + 1:])
            off += k + 1 + n
        return out

    def stop(self):
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def vbi_at(b, off):
    """The variable byte integer at <b>[off]: its value and the offset
    past it."""
    n, mult = 0, 1
    while True:
        n += (b[off] & 0x7F) * mult
        mult *= 128
        off += 1
        if not b[off - 1] & 0x80:
            return n, off


def will_delay(body):
    """The Will Delay Interval of a 5.0 CONNECT's variable header and
    payload <body>, None if absent."""
    off = 2 + 4 + 1 + 1 + 2                 # "MQTT", level, flags, keepalive
    n, off = vbi_at(body, off)
    off += n                                # the CONNECT's properties
    off += 2 + int.from_bytes(body[off:off + 2], "big")     # client id
    n, off = vbi_at(body, off)
    props, i = body[off:off + n], 0
    while i < len(props):
        pid = props[i]
        if pid == 0x18:
            return int.from_bytes(props[i + 1:i + 5], "big")
        assert pid == 0x26, f"unexpected will property {pid:#x}"
        i += 1
        for _ in range(2):
            i += 2 + int.from_bytes(props[i:i + 2], "big")
    return None


@pytest.mark.parametrize("expiry,delay,sent", [
    (None, 3600, 0), (2, 86400, 2), (30, 1, 1)])
def test_cve_2019_11778_will_delay_over_session_expiry(
        guard_factory, broker, tmp_path, expiry, delay, sent):
    """A 5.0 will whose Will Delay Interval is longer than the Session
    Expiry Interval (a use after free in 1.6.0-1.6.4 when the client goes):
    forwarded with the delay clamped to the session expiry, which means
    the same (the will waits for the delay or the session's end, whichever
    comes first).  The broker is given the clamped value; the will still
    comes when the session ends; another client is unaffected."""
    tap = Tap(broker.port)
    try:
        g = guard_factory(tap.port, plain=True)
        w = Watcher(g.plain_port)
        props = (b"" if expiry is None else
                 b"\x11" + expiry.to_bytes(4, "big"))
        wp = b"\x18" + delay.to_bytes(4, "big") + b"\x26" + \
            mqtt_str(b"k") + mqtt_str(b"v")
        s = plain_socket(g.plain_port)
        s.sendall(connect(level=5, cid=b"wd", flags=0x06, props=props,
                          payload=vbi(len(wp)) + wp +
                          mqtt_str(b"watch/will") + mqtt_str(b"gone")))
        assert accepted(read_any(s))
        got = tap.connects(b"wd")
        assert len(got) == 1, tap.sent.hex()
        assert will_delay(got[0]) == sent, got[0].hex()
        # DISCONNECT 0x04: the will is sent, after the delay it went with.
        s.sendall(b"\xe0\x01\x04")
        s.close()
        wait_until(lambda: b"gone" in w.got, what="the will delivered")
        if sent != delay:
            assert (f"will delay {delay} s clamped to the session expiry "
                    f"interval, {sent} s") in g.log(), g.log()
        w.unaffected()
        untouched(broker)
    finally:
        tap.stop()


def test_cve_2019_11779_deep_subscription(guard, broker, w):
    """A SUBSCRIBE of some 65400 '/' (a stack overflow in 1.5-1.6.5):
    over limits.max_topic_levels (201 by default, Mosquitto's own bound),
    refused."""
    s, ca = session(guard.plain_port, b"deep", level=5)
    got = send_close(s, subscribe([(b"/" * 65400, 0)], props=b""))
    assert got == b"\xe0\x01\x8f", got.hex()
    s, ca = session(guard.plain_port, b"deep3")
    assert send_close(s, subscribe([(b"a/" * 201 + b"a", 0)])) == b""
    w.unaffected()
    untouched(broker, "Received SUBSCRIBE from deep")


def test_cve_2020_13849_keepalive_abuse(guard_factory, broker):
    """Connections held open with a long or no keepalive (a resource
    exhaustion): the proxy enforces limits.max_keepalive and closes a
    silent client after 1.5 times it; a silent TCP connection never
    reaches the broker at all."""
    g = guard_factory(broker.port, plain=True,
                      limits="  max_keepalive: 1s\n  connect_timeout: 1s\n")
    w = Watcher(g.plain_port, keepalive=1)
    before = broker.connections()
    idle = plain_socket(g.plain_port)
    s, ca = session(g.plain_port, b"ka")
    assert ca[3] == 0
    t0 = time.monotonic()
    assert read_until_closed(s) == b""
    assert time.monotonic() - t0 < 10
    assert read_until_closed(idle) == b""
    wait_until(lambda: "Client ka " in broker.log(),
               what="the broker sees the client go")
    assert broker.connections() == before + 1      # ka only
    w.unaffected()
    untouched(broker)


def test_cve_2021_28166_connack_from_client(guard, broker, w):
    """A CONNACK sent by a 5.0 client (a NULL dereference in 2.0.0-2.0.9):
    a server-only packet from the client, refused."""
    s, ca = session(guard.plain_port, b"ck", level=5)
    got = send_close(s, b"\x20\x03\x00\x00\x00")
    assert got == b"\xe0\x01\x82", got.hex()
    w.unaffected()
    untouched(broker, "ck disconnected")


def test_cve_2021_34431_crafted_v5_connect(guard, broker, w):
    """Crafted 5.0 CONNECT property blocks (a memory leak in 1.6-2.0.10):
    a property given twice, one not allowed in CONNECT, Receive Maximum 0,
    Maximum Packet Size 0, a truncated block: refused with CONNACK."""
    before = broker.connections()
    for props in (b"\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02",
                  b"\x23\x00\x01", b"\x21\x00\x00", b"\x27\x00\x00\x00\x00",
                  b"\x26\x00\x05ab"):
        s = plain_socket(guard.plain_port)
        got = send_close(s, connect(level=5, cid=b"v5", props=props))
        assert got[:1] in (b"\x20", b""), got.hex()
    w.unaffected()
    assert broker.connections() == before + 1
    untouched(broker, "as v5")


def test_cve_2021_34432_empty_topic(guard, broker, w):
    """A 5.0 PUBLISH with a zero-length topic and no alias (a crash in
    2.0.0-2.0.7): refused, DISCONNECT 0x82."""
    s, ca = session(guard.plain_port, b"empty", level=5)
    got = send_close(s, publish(b"", b"x", props=b""))
    assert got == b"\xe0\x01\x82", got.hex()
    w.unaffected()
    untouched(broker, "Received PUBLISH from empty")


def test_cve_2021_34434_revoked_read(guard_factory, broker):
    """A durable client's subscription outlives the revocation of its
    right to it (2.0.0-2.0.11, dynamic security): the proxy checks every
    delivery against the ACL in force, so after a reload that denies the
    topic, deliveries from the stale subscription are dropped."""
    allow = ACL_ALL
    deny = ("acl:\n  rules:\n    - deny: all\n      topic: \"secret/#\"\n"
            "    - allow: all\n      topic: \"#\"\n")
    g = guard_factory(broker.port, plain=True, extra=allow)
    s, ca = session(g.plain_port, b"durable", clean=False)
    s.sendall(subscribe([(b"secret/#", 1)], pid=1))
    assert read_any(s)[0] == 0x90
    s.sendall(b"\xe0\x00")
    s.close()
    g.policy.write_text(g.policy.read_text().replace(allow, deny))
    g.proc.send_signal(__import__("signal").SIGHUP)
    wait_until(lambda: "reload" in g.log() and "ok" in g.log(),
               what="the reload")
    time.sleep(0.5)
    s, ca = session(g.plain_port, b"durable", clean=False)
    assert ca[2] == 1                                   # session present
    p = mqtt.Client(client_id="leaker")
    p.connect("127.0.0.1", broker.port)                 # behind the proxy
    p.loop_start()
    p.publish("secret/a", b"s", qos=1).wait_for_publish()
    p.disconnect()
    p.loop_stop()
    s.settimeout(1.5)
    with pytest.raises(socket.timeout):
        s.recv(100)
    assert still_open(s)
    s.close()
    assert "secret/a" in g.log()                        # the denial


def user_props(n):
    """<n> User Properties "k": "v"."""
    return (b"\x26" + mqtt_str(b"k") + mqtt_str(b"v")) * n


def test_cve_2021_41039_many_user_properties(guard, broker, w):
    """A 5.0 packet with very many User Properties (CPU burnt in
    1.6-2.0.11): over limits.max_user_properties (32 by default) it is
    refused before anything is forwarded, CONNECT with CONNACK 0x97, any
    other packet with DISCONNECT 0x97 (quota exceeded), and the log says
    who and why.  As many as the cap still go through."""
    before = broker.connections()
    for wp, props in ((b"", user_props(33)),
                      (user_props(20), user_props(13))):
        s = plain_socket(guard.plain_port, ATTACKER)
        flags = 0x06 if wp else 0x02
        payload = (vbi(len(wp)) + wp + mqtt_str(b"w/t") + mqtt_str(b"m")
                   if wp else b"")
        got = send_close(s, connect(level=5, cid=b"up", flags=flags,
                                    props=props, payload=payload))
        assert got == b"\x20\x03\x00\x97\x00", got.hex()
    assert broker.connections() == before
    for n in (33, 200000):
        s, ca = session(guard.plain_port, b"up%d" % n, level=5)
        assert accepted(ca), ca.hex()
        got = send_close(s, publish(b"watch/up", b"many", qos=1,
                                    props=user_props(n)))
        assert got == b"\xe0\x01\x97", got.hex()
    assert "User Properties" in guard.log(), guard.log()
    s, ca = session(guard.plain_port, b"up32", level=5)
    s.sendall(publish(b"watch/up", b"fine", qos=1, props=user_props(32)))
    assert read_any(s)[:2] == b"\x40\x02"          # PUBACK, success
    s.close()
    wait_until(lambda: b"fine" in w.got, what="32 properties delivered")
    w.unaffected()
    assert b"many" not in w.got
    untouched(broker, "as up (", "Received PUBLISH from up33",
              "Received PUBLISH from up200000")


def test_cve_2023_0809_big_first_packet(guard, broker, w):
    """A first packet that is not CONNECT, announcing a large body (memory
    allocated before the CONNECT check in 1.5.0-2.0.15): refused at its
    first byte."""
    before = broker.connections()
    for first in (b"\x30\xff\xff\xff\x7f", b"\x82\xff\xff\x7f",
                  b"\xc0\xff\xff\xff\x7f"):
        s = plain_socket(guard.plain_port)
        assert send_close(s, first + b"\x00" * 64) == b""
    w.unaffected()
    assert broker.connections() == before + 1
    untouched(broker)


def test_cve_2023_3592_will_invalid_property(guard, broker, w):
    """A 5.0 CONNECT whose will properties hold a property not allowed
    there (a memory leak in 1.6.0-2.0.15): CONNACK 0x82, never
    forwarded."""
    before = broker.connections()
    for wp in (b"\x23\x00\x01", b"\x0b\x01", b"\x11\x00\x00\x00\x01",
               b"\x18\x00\x00\x00\x01\x18\x00\x00\x00\x01"):
        s = plain_socket(guard.plain_port)
        got = send_close(s, connect(level=5, cid=b"wl", flags=0x06,
                                    payload=vbi(len(wp)) + wp +
                                    mqtt_str(b"w/t") + mqtt_str(b"m")))
        assert got == b"\x20\x03\x00\x82\x00", got.hex()
    w.unaffected()
    assert broker.connections() == before + 1
    untouched(broker, "as wl")


def test_cve_2023_5632_silent_connection(guard_factory, broker):
    """A TCP connection that sends nothing (a busy loop in 2.0.0-2.0.5):
    the proxy opens no broker connection before a valid CONNECT, and
    closes the silent one after limits.connect_timeout."""
    g = guard_factory(broker.port, plain=True,
                      limits="  connect_timeout: 1s\n")
    w = Watcher(g.plain_port)
    before = broker.connections()
    socks = [plain_socket(g.plain_port) for _ in range(20)]
    for s in socks:
        assert read_until_closed(s) == b""
        s.close()
    w.unaffected()
    assert broker.connections() == before + 1
    untouched(broker)


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
def test_cve_2023_28366_qos2_duplicate_ids(guard, broker, w, level):
    """QoS 2 PUBLISHes reusing one packet identifier without DUP, never
    answering PUBREC (a memory leak in 1.3.2-2.0.15): the second is a
    protocol error and ends the session [MQTT-2.2.1-3]."""
    s, ca = session(guard.plain_port, b"dup", level=level)
    props = b"" if level == 5 else None
    burst = b"".join(publish(b"watch/d", b"%d" % i, qos=2, pid=1,
                             props=props) for i in range(50))
    got = send_close(s, burst)
    # At most the first one's PUBREC, then (5.0) DISCONNECT 0x82.
    assert got in (b"", b"\x50\x02\x00\x01") if level == 4 else \
        got.endswith(b"\xe0\x01\x82"), got.hex()
    w.unaffected()
    assert broker.log().count("Received PUBLISH from dup") == 1
    untouched(broker)


class FakeBroker:
    """A broker that answers CONNECT, then every SUBSCRIBE with a SUBACK
    holding no reason code (the trigger of CVE-2024-10525)."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.sent = 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.ls.settimeout(TIMEOUT)
        try:
            c, _ = self.ls.accept()
            read_any(c)                                 # CONNECT
            c.sendall(b"\x20\x02\x00\x00")
            sub = read_any(c)
            self.sent += 1            # counted first: the proxy is quick
            c.sendall(b"\x90\x02" + sub[2:4])           # no codes
            time.sleep(1)
            c.close()
        except OSError:
            pass

    def close(self):
        self.ls.close()


def test_cve_2024_10525_suback_without_codes(guard_factory):
    """A broker's SUBACK without reason codes (an out-of-bounds access in
    libmosquitto <= 2.0.18): refused by the codec, the client never gets
    it."""
    fb = FakeBroker()
    g = guard_factory(fb.port, plain=True)
    s, ca = session(g.plain_port, b"lib")
    assert ca[3] == 0
    s.sendall(subscribe([(b"t", 0)], pid=5))
    got = read_until_closed(s)
    s.close()
    assert fb.sent == 1 and got == b"", got.hex()
    fb.close()
    assert "broker SUBACK refused" in g.log(), g.log()


def test_proxy_protocol_v2_header_never_forwarded(guard, broker, w):
    """A malformed PROXY protocol v2 header (a read overflow in the
    broker's own v2 parser, eclipse-mosquitto/mosquitto#3435): on a
    listener without proxy_protocol it is a bad first frame, and mqttguard
    never sends a PROXY header upstream."""
    before = broker.connections()
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    for hdr in (sig + b"\x21\x11\xff\xff" + b"\x00" * 12,
                sig + b"\x21\x21\x00\x04" + b"\x00" * 4,
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"):
        s = plain_socket(guard.plain_port)
        assert send_close(s, hdr + connect(cid=b"pp")) == b""
    w.unaffected()
    assert broker.connections() == before + 1
    untouched(broker, "as pp", "PROXY")
