# SPDX-License-Identifier: ISC
"""MQTT over WebSockets (listeners with websocket: true) in front of a real
Mosquitto: paho-mqtt with transport="websockets" (plain and TLS, 3.1.1 and
5.0, QoS 0/1/2, messages larger than one frame), and raw sockets for what
must be refused — a malformed upgrade, a wrong subprotocol, a disallowed
Origin, unmasked, text, oversize and badly fragmented frames — each
answered as RFC 6455 asks, logged, and never reaching the broker (checked
in the broker's own log).  The TCP listener's negative checks (a malformed
MQTT frame, a bad password, an ACL-denied publish) are run again over
WebSockets: every policy applies unchanged."""
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import struct

import paho.mqtt.client as mqtt
import pytest

from helpers import (TIMEOUT, Paho, accepted, connect, http_get, metric,
                     mqtt_str, passwd_file, password, publish,
                     read_until_closed, recv_exact, subscribe, wait_until)

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
ACL = """acl:
  deny_action_v3: drop
  rules:
    - allow: all
      topic: "open/#"
    - allow: [subscribe, read]
      topic: "#"
"""


@pytest.fixture
def wsguard(guard_factory, broker):
    """A TLS WebSocket listener (self.port) and a plain one (plain_port),
    path /mqtt, anonymous clients."""
    return guard_factory(broker.port, plain=True,
                         listener_extra="    websocket: true\n",
                         plain_extra="    websocket: true\n")


def ws_paho(guard, cid, tls=False, v5=False, user=None, password=None):
    """helpers.Paho over WebSockets to <guard>'s TLS listener or its plain
    one (path /mqtt): paho's own handshake and framing."""
    c = Paho(guard, cid, v5=v5, tls=False,
             port=guard.port if tls else guard.plain_port)
    ws = mqtt.Client(client_id=cid, transport="websockets",
                     protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    ws.ws_set_options(path="/mqtt")
    if tls:
        ws.tls_set(ca_certs=str(guard.certs / "ca.crt"))
    if user is not None:
        ws.username_pw_set(user, password)
    for cb in ("on_connect", "on_disconnect", "on_message", "on_subscribe"):
        setattr(ws, cb, getattr(c.c, cb))
    c.c = ws
    return c


# ---- raw WebSocket clients -------------------------------------------------

def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID)
                            .digest()).decode()


def upgrade_request(key=None, path="/mqtt", proto="mqtt", origin=None,
                    extra="", method="GET", version="HTTP/1.1"):
    key = key or ws_key()
    req = (f"{method} {path} {version}\r\nHost: 127.0.0.1\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    if proto is not None:
        req += f"Sec-WebSocket-Protocol: {proto}\r\n"
    if origin is not None:
        req += f"Origin: {origin}\r\n"
    return (req + extra + "\r\n").encode()


def raw_socket(guard, tls=False):
    raw = socket.create_connection(
        ("127.0.0.1", guard.port if tls else guard.plain_port),
        timeout=TIMEOUT)
    if not tls:
        return raw
    ctx = ssl.create_default_context(cafile=str(guard.certs / "ca.crt"))
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_http(sock):
    """The HTTP response head (up to CRLF CRLF); returns (status, head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return int(data.split(b" ", 2)[1]), data.decode()


def ws_open(guard, tls=False, proto="mqtt", origin=None):
    """A raw WebSocket connection, upgraded; returns the socket."""
    sock = raw_socket(guard, tls)
    key = ws_key()
    sock.sendall(upgrade_request(key, proto=proto, origin=origin))
    status, head = read_http(sock)
    assert status == 101, head
    assert f"Sec-WebSocket-Accept: {ws_accept(key)}\r\n" in head, head
    assert f"Sec-WebSocket-Protocol: {proto}\r\n" in head, head
    return sock


def ws_frame(payload, opcode=2, fin=True, mask=True, rsv=0):
    """One client frame (masked unless told)."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read(sock):
    """One server frame: (fin, opcode, payload); servers never mask."""
    b0, b1 = recv_exact(sock, 2)
    assert not b1 & 0x80, "a masked frame from the server"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    return bool(b0 & 0x80), b0 & 0x0F, recv_exact(sock, n)


def ws_mqtt(sock):
    """The MQTT bytes of the next binary message."""
    fin, op, payload = ws_read(sock)
    assert (fin, op) == (True, 2), (fin, op, payload)
    return payload


def ws_close_status(sock):
    """Reads frames up to the server's close; returns its status (None if
    it has none) after the connection ends."""
    while True:
        fin, op, payload = ws_read(sock)
        if op == 8:
            read_until_closed(sock)
            return struct.unpack("!H", payload[:2])[0] if payload else None


# ---- the path through -------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("v5", [False, True])
def test_paho_websockets_qos_0_1_2(wsguard, broker, tls, v5):
    sub = ws_paho(wsguard, "ws-sub", tls=tls, v5=v5)
    assert sub.connect() == 0
    sub.subscribe("t/#", qos=2)
    pub = ws_paho(wsguard, "ws-pub", tls=tls, v5=v5)
    assert pub.connect() == 0
    for qos in (0, 1, 2):
        pub.publish(f"t/{qos}", f"m{qos}".encode(), qos=qos)
        m = sub.get()
        assert (m.topic, m.payload, m.qos) == (f"t/{qos}", f"m{qos}".encode(),
                                               qos)
    pub.close()
    sub.close()
    assert " as ws-pub " in broker.log()
    log = wsguard.log()
    assert "WebSocket upgrade on /mqtt, subprotocol mqtt" in log


def test_paho_large_message_both_ways(wsguard, broker):
    """A PUBLISH of 300 KB: one WebSocket frame with a 64-bit length each
    way, and on TLS more than one TLS record."""
    sub = ws_paho(wsguard, "big-sub", tls=True)
    assert sub.connect() == 0
    sub.subscribe("big", qos=1)
    pub = ws_paho(wsguard, "big-pub", tls=True, v5=True)
    assert pub.connect() == 0
    payload = os.urandom(300 * 1024)
    pub.publish("big", payload, qos=1)
    m = sub.get()
    assert m.payload == payload
    pub.close()
    sub.close()


def test_raw_several_frames_a_message_and_a_frame_over_messages(wsguard,
                                                                broker):
    """CONNECT split over three messages (and a ping between fragments of
    the second); then SUBSCRIBE and PUBLISH in one message."""
    sock = ws_open(wsguard)
    c = connect(cid=b"raw-ws")
    sock.sendall(ws_frame(c[:3]))
    sock.sendall(ws_frame(c[3:6], fin=False) + ws_frame(b"hi", opcode=9) +
                 ws_frame(c[6:9], opcode=0, fin=False))
    fin, op, payload = ws_read(sock)
    assert (op, payload) == (10, b"hi")              # the pong, at once
    sock.sendall(ws_frame(c[9:], opcode=0))
    assert ws_mqtt(sock) == b"\x20\x02\x00\x00"      # CONNACK
    sock.sendall(ws_frame(subscribe([(b"r/t", 0)], pid=7) +
                          publish(b"r/t", b"both")))
    assert ws_mqtt(sock) == b"\x90\x03\x00\x07\x00"  # SUBACK
    assert ws_mqtt(sock) == publish(b"r/t", b"both")
    # DISCONNECT: the session ends, the WebSocket gets a close 1000.
    sock.sendall(ws_frame(b"\xe0\x00"))
    assert ws_close_status(sock) == 1000
    sock.close()
    assert "Received PUBLISH from raw-ws" in broker.log()


def test_raw_mqttv31_subprotocol(wsguard, broker):
    """MQTT.js asks for mqttv3.1 with MQTT 3.1: echoed, and it works."""
    sock = ws_open(wsguard, proto="mqttv3.1")
    sock.sendall(ws_frame(connect(level=3, cid=b"old31")))
    assert ws_mqtt(sock) == b"\x20\x02\x00\x00"
    sock.close()


def test_client_close_is_answered(wsguard, broker):
    sock = ws_open(wsguard, tls=True)
    sock.sendall(ws_frame(connect(cid=b"closer")))
    assert ws_mqtt(sock) == b"\x20\x02\x00\x00"
    sock.sendall(ws_frame(struct.pack("!H", 1000) + b"bye", opcode=8))
    assert ws_close_status(sock) == 1000
    sock.close()
    wait_until(lambda: "closer" in broker.log() and
               ("Client closer closed" in broker.log() or
                "Client closer disconnected" in broker.log()))


# ---- refused upgrades ----------------------------------------------------

BAD_UPGRADES = [
    ("method-post", upgrade_request(method="POST"), 405),
    ("path-other", upgrade_request(path="/other"), 404),
    ("http-1.0", upgrade_request(version="HTTP/1.0"), 505),
    ("not-http", upgrade_request(version="FTP/1.1"), 400),
    ("key-missing", upgrade_request().replace(b"Sec-WebSocket-Key", b"X-Key"),
     400),
    ("key-not-16-bytes", upgrade_request(key="c2hvcnQ="), 400),
    ("version-8", upgrade_request().replace(b"Version: 13", b"Version: 8"),
     426),
    ("not-an-upgrade", b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", 426),
    ("no-subprotocol", upgrade_request(proto=None), 400),
    ("wrong-subprotocol", upgrade_request(proto="mqttv5, wamp"), 400),
    ("host-twice", upgrade_request(extra="Host: evil\r\n"), 400),
    ("key-twice", upgrade_request(extra=f"Sec-WebSocket-Key: {ws_key()}\r\n"),
     400),
    ("bare-lf-injection",
     upgrade_request(extra="X-A: 1\nSec-WebSocket-Protocol: mqtt\r\n"), 400),
    ("obs-fold", upgrade_request(extra="X-A: 1\r\n continued\r\n"), 400),
    ("non-ascii", upgrade_request(extra="X-Name: caf\u00e9\r\n"), 400),
    ("body", upgrade_request(extra="Content-Length: 5\r\n"), 400),
    ("oversize", upgrade_request(extra="X-Pad: " + "a" * 9000 + "\r\n"), 431),
]


@pytest.mark.parametrize("name,req,status", BAD_UPGRADES,
                         ids=[b[0] for b in BAD_UPGRADES])
def test_bad_upgrade_refused(wsguard, broker, name, req, status):
    before = broker.connections()
    sock = raw_socket(wsguard)
    # The request and a CONNECT behind it, as a client that does not wait.
    sock.sendall(req + ws_frame(connect(cid=b"sneak")))
    got = read_until_closed(sock)
    sock.close()
    assert got.startswith(b"HTTP/1.1 %d " % status), got
    assert b"101" not in got.split(b"\r\n")[0]
    wait_until(lambda: f"WebSocket upgrade refused (HTTP {status})" in
               wsguard.log(), what="the refusal's log line")
    assert broker.connections() == before
    assert "sneak" not in broker.log()


def test_tls_upgrade_refused(wsguard, broker):
    sock = raw_socket(wsguard, tls=True)
    sock.sendall(upgrade_request(path="/nope"))
    assert read_until_closed(sock).startswith(b"HTTP/1.1 404 ")
    sock.close()


def test_no_upgrade_in_time(guard_factory, broker):
    g = guard_factory(broker.port, plain=True,
                      plain_extra="    websocket: true\n",
                      limits="  connect_timeout: 500ms\n")
    before = broker.connections()
    sock = raw_socket(g)
    sock.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")   # and no more
    assert read_until_closed(sock) == b""
    sock.close()
    assert broker.connections() == before
    wait_until(lambda: "no WebSocket upgrade within 500ms" in g.log())


def test_origins(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, plain_extra=(
        "    websocket: true\n    websocket_path: /ws/mqtt\n"
        "    websocket_origins: [https://app.example.com]\n"))
    before = broker.connections()
    sock = raw_socket(g)
    sock.sendall(upgrade_request(path="/ws/mqtt",
                                 origin="https://evil.example.com"))
    assert read_until_closed(sock).startswith(b"HTTP/1.1 403 ")
    sock.close()
    assert 'Origin "https://evil.example.com"' in g.log()
    for origin in ("https://APP.example.com", None):
        sock = raw_socket(g)
        sock.sendall(upgrade_request(path="/ws/mqtt?x=1", origin=origin))
        assert read_http(sock)[0] == 101
        sock.close()
    assert broker.connections() == before


# ---- refused frames ------------------------------------------------------

BAD_FRAMES = [
    # (name, bytes after the upgrade, close status the server sends)
    ("unmasked", ws_frame(connect(cid=b"sneak"), mask=False), 1002),
    ("text", ws_frame(connect(cid=b"sneak"), opcode=1), 1003),
    ("oversize", ws_frame(connect(cid=b"sneak", payload=b"x" * 2000)), 1009),
    ("oversize-fragments", ws_frame(b"\x00" * 800, fin=False) +
     ws_frame(b"\x00" * 800, opcode=0), 1009),
    ("continuation-first", ws_frame(connect(cid=b"sneak"), opcode=0), 1002),
    ("new-message-inside-one", ws_frame(connect(cid=b"sneak")[:4], fin=False) +
     ws_frame(connect(cid=b"sneak")[4:]), 1002),
    ("reserved-bit", ws_frame(connect(cid=b"sneak"), rsv=4), 1002),
    ("reserved-opcode", ws_frame(connect(cid=b"sneak"), opcode=3), 1002),
    ("fragmented-ping", ws_frame(b"p", opcode=9, fin=False), None),
]


@pytest.mark.parametrize("name,data,status", BAD_FRAMES,
                         ids=[b[0] for b in BAD_FRAMES])
def test_bad_frame_refused(guard_factory, broker, name, data, status):
    g = guard_factory(broker.port, plain=True, plain_extra=(
        "    websocket: true\n    websocket_max_message: 1KiB\n"))
    before = broker.connections()
    sock = ws_open(g)
    sock.sendall(data)
    assert ws_close_status(sock) == status
    sock.close()
    wait_until(lambda: "WebSocket: " in g.log() and "(close " in g.log(),
               what="the refusal's log line")
    assert broker.connections() == before
    assert "sneak" not in broker.log()


def test_bad_frame_after_connect_ends_the_session(wsguard, broker):
    sock = ws_open(wsguard)
    sock.sendall(ws_frame(connect(cid=b"good")))
    assert ws_mqtt(sock) == b"\x20\x02\x00\x00"
    sock.sendall(ws_frame(publish(b"leak/t", b"no"), opcode=1))
    assert ws_close_status(sock) == 1003
    sock.close()
    assert "leak/t" not in broker.log()


def test_metrics_count_upgrades_and_framing_errors(guard_factory, broker):
    """mqttguard_websocket_upgrades_total by HTTP status and
    mqttguard_websocket_errors_total by close status, on /metrics."""
    g = guard_factory(broker.port, plain=True, admin=True, plain_extra=(
        "    websocket: true\n    websocket_max_message: 1KiB\n"))

    def value(name, status):
        code, _, body = http_get(g.admin_port, "/metrics")
        assert code == 200, body
        return metric(body, f'{name}{{status="{status}"}}')

    up, err = "mqttguard_websocket_upgrades_total", \
        "mqttguard_websocket_errors_total"
    assert value(up, 101) == 0 and value(up, 404) == 0
    assert value(err, 1003) == 0 and value(err, "other") == 0
    for _ in range(2):
        sock = ws_open(g)
        sock.sendall(ws_frame(connect(cid=b"m"), opcode=1))
        assert ws_close_status(sock) == 1003
        sock.close()
    sock = raw_socket(g)
    sock.sendall(upgrade_request(path="/other"))
    assert read_until_closed(sock).startswith(b"HTTP/1.1 404 ")
    sock.close()
    sock = ws_open(g)
    sock.sendall(ws_frame(b"\x00" * 800, fin=False) +
                 ws_frame(b"\x00" * 800, opcode=0))
    assert ws_close_status(sock) == 1009
    sock.close()
    wait_until(lambda: value(err, 1009) == 1, what="the 1009 counted")
    assert value(up, 101) == 3
    assert value(up, 404) == 1
    assert value(up, 400) == 0
    assert value(err, 1003) == 2
    assert value(err, 1002) == 0


# ---- the TCP listener's negative checks, over WebSockets --------------------

def test_malformed_mqtt_frame(wsguard, broker):
    """A CONNECT with protocol level 6: CONNACK 0x01 in a binary message,
    then close 1008; the broker never hears of it."""
    before = broker.connections()
    sock = ws_open(wsguard)
    sock.sendall(ws_frame(connect(level=6, cid=b"lvl6")))
    assert ws_mqtt(sock) == b"\x20\x02\x00\x01"
    assert ws_close_status(sock) == 1008
    sock.close()
    assert broker.connections() == before
    assert "client CONNECT refused" in wsguard.log()


@pytest.fixture
def pwfile(tmp_path):
    return passwd_file(tmp_path / "users.passwd", USERS)


@pytest.fixture
def aclguard(guard_factory, broker, pwfile):
    return guard_factory(
        broker.port, plain=True,
        auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n",
        plain_extra="    websocket: true\n", extra=ACL)


def test_bad_password(aclguard, broker):
    before = broker.connections()
    c = ws_paho(aclguard, "badpw", user="alice", password="wrong-Zq9")
    assert c.connect() == 4           # bad user name or password (3.1.1)
    c.c.loop_stop()
    sock = ws_open(aclguard)
    sock.sendall(ws_frame(connect(level=5, cid=b"bad5", flags=0xC2,
                                  payload=mqtt_str(b"alice") +
                                  mqtt_str(b"wrong-Zq9"))))
    assert ws_mqtt(sock) == b"\x20\x03\x00\x86\x00"
    assert ws_close_status(sock) == 1008
    sock.close()
    assert broker.connections() == before
    assert "auth:" in aclguard.log()


def test_acl_denied_publish(aclguard, broker):
    watcher = ws_paho(aclguard, "watch", user="bob", password=password("bob"))
    assert watcher.connect() == 0
    watcher.subscribe("#", qos=1)
    sock = ws_open(aclguard)
    sock.sendall(ws_frame(connect(level=5, cid=b"pub5", flags=0xC2,
                                  payload=mqtt_str(b"alice") +
                                  mqtt_str(password("alice").encode()))))
    assert accepted(ws_mqtt(sock))
    sock.sendall(ws_frame(publish(b"secret/plan", b"leak", qos=1, pid=11,
                                  props=b"")))
    assert ws_mqtt(sock) == b"\x40\x03\x00\x0b\x87"  # PUBACK not authorized
    sock.sendall(ws_frame(publish(b"open/ok", b"fine", qos=1, pid=12,
                                  props=b"")))
    ack = ws_mqtt(sock)
    assert ack[0] == 0x40 and ack[2:4] == b"\x00\x0c"
    m = watcher.get()
    assert (m.topic, m.payload) == ("open/ok", b"fine")
    assert "'secret/plan'" not in broker.log()
    assert 'publish denied to "alice"' in aclguard.log()
    sock.close()
    watcher.close()


def test_monitor_mode_lets_a_denied_publish_through(guard_factory, broker,
                                                   pwfile):
    g = guard_factory(
        broker.port, plain=True,
        auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n",
        plain_extra="    websocket: true\n    mode: monitor\n", extra=ACL)
    c = ws_paho(g, "mon", user="alice", password=password("alice"))
    assert c.connect() == 0
    c.publish("secret/plan", b"seen", qos=1)
    c.close()
    wait_until(lambda: "'secret/plan'" in broker.log(),
               what="the publish at the broker")


def test_frames_sent_with_the_upgrade_and_before_eof(wsguard, broker):
    """A client that does not wait for the 101: its CONNECT and PUBLISH
    behind the request go through, in order, and so does everything sent
    before its FIN."""
    sock = raw_socket(wsguard)
    key = ws_key()
    sock.sendall(upgrade_request(key) +
                 ws_frame(connect(cid=b"eager") +
                          publish(b"eager/t", b"first")))
    status, head = read_http(sock)
    assert status == 101 and ws_accept(key) in head
    assert ws_mqtt(sock) == b"\x20\x02\x00\x00"
    sock.sendall(ws_frame(publish(b"eager/t", b"last", qos=1, pid=3)))
    sock.shutdown(socket.SHUT_WR)
    # The end of the client's stream ends the session (a PUBACK racing it
    # may or may not come first); the WebSocket is closed, 1000.
    assert ws_close_status(sock) == 1000
    sock.close()
    wait_until(lambda: "m3, 'eager/t'" in broker.log(),
               what="the last PUBLISH at the broker")
    assert "Received PUBLISH from eager (d0, q0, r0, m0, 'eager/t'" in \
        broker.log()


def test_reload_takes_websocket_off(guard_factory, broker):
    """A reload turning websocket off: sessions already upgraded go on as
    WebSockets, one mid-upgrade is closed, new ones speak plain MQTT."""
    g = guard_factory(broker.port, plain=True,
                      plain_extra="    websocket: true\n")
    up = ws_open(g)
    up.sendall(ws_frame(connect(cid=b"before")))
    assert ws_mqtt(up) == b"\x20\x02\x00\x00"
    mid = raw_socket(g)
    mid.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
    wait_until(lambda: "open on plain" in g.log())
    text = g.policy.read_text()
    g.policy.write_text(text.replace("    websocket: true\n", ""))
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy in force" in g.log() or
               "reload failed" in g.log(), what="the reload")
    assert "reload failed" not in g.log()
    mid.sendall(upgrade_request()[len(b"GET /mqtt HTTP/1.1\r\n"):])
    assert b"101" not in read_until_closed(mid)
    mid.close()
    up.sendall(ws_frame(b"\xc0\x00"))                 # PINGREQ
    assert ws_mqtt(up) == b"\xd0\x00"                 # PINGRESP
    up.close()
    plain = raw_socket(g)
    plain.sendall(connect(cid=b"after"))
    assert recv_exact(plain, 4) == b"\x20\x02\x00\x00"
    plain.close()


@pytest.mark.parametrize("tls", [False, True])
def test_proxy_header_then_tls_then_upgrade(guard_factory, broker, tls):
    """PROXY header -> TLS -> upgrade -> frames: the client named in the
    header is the one logged, and MQTT flows."""
    keys = ("    websocket: true\n    proxy_protocol: v1\n"
            "    trusted_proxies: [127.0.0.5/32]\n")
    g = guard_factory(broker.port, plain=True, listener_extra=keys,
                      plain_extra=keys)
    raw = socket.create_connection(
        ("127.0.0.1", g.port if tls else g.plain_port), timeout=TIMEOUT,
        source_address=("127.0.0.5", 0))
    raw.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 4711 8884\r\n")
    sock = raw
    if tls:
        ctx = ssl.create_default_context(cafile=str(g.certs / "ca.crt"))
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(upgrade_request())
    assert read_http(sock)[0] == 101
    sock.sendall(ws_frame(connect(cid=b"proxied")))
    assert ws_mqtt(sock) == b"\x20\x02\x00\x00"
    sock.close()
    assert "192.0.2.7:4711: WebSocket upgrade on /mqtt" in g.log()


def test_refusals_as_json_events(guard_factory, broker):
    """websocket.refused carries who and why: the HTTP status and Origin
    of a refused upgrade, the close status of a refused frame."""
    g = guard_factory(broker.port, plain=True, log_extra="  format: json\n",
                      plain_extra=("    websocket: true\n"
                                   "    websocket_origins: [https://a.example]"
                                   "\n"))
    sock = raw_socket(g)
    sock.sendall(upgrade_request(origin="https://b.example"))
    assert read_until_closed(sock).startswith(b"HTTP/1.1 403 ")
    sock.close()
    sock = ws_open(g)
    sock.sendall(ws_frame(connect(cid=b"j"), opcode=1))
    assert ws_close_status(sock) == 1003
    sock.close()

    def refused():
        return [e for e in map(json.loads, g.log().splitlines())
                if e.get("event") == "websocket.refused"]

    wait_until(lambda: len(refused()) == 2, what="two events")
    up, frame = refused()
    assert (up["status"], up["origin"], up["listener"]) == \
        (403, "https://b.example", "plain")
    assert up["reason"] == "Origin not in websocket_origins"
    assert up["src_ip"] == "127.0.0.1"
    assert frame["status"] == 1003 and "text frame" in frame["reason"]
