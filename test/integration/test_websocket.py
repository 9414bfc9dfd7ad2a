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
import os
import re
import socket
import ssl
import struct
import threading

import paho.mqtt.client as mqtt
import pytest

from helpers import (TIMEOUT, Paho, connect, mqtt_str, passwd_file,
                     password, publish, read_until_closed, subscribe,
                     wait_until)

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


def ws_paho(guard, cid, tls=False, v5=False, **kw):
    """A connected paho client over WebSockets."""
    proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    c = Paho.__new__(Paho)
    Paho.__init__(c, guard, cid, v5=v5, tls=False,
                  port=guard.port if tls else guard.plain_port, **kw)
    # Paho.__init__ made a TCP client: replace it by a WebSocket one with
    # the same callbacks.
    ws = mqtt.Client(client_id=cid, protocol=proto, transport="websockets")
    ws.ws_set_options(path="/mqtt")
    if tls:
        ws.tls_set(ca_certs=str(guard.certs / "ca.crt"))
    if kw.get("user") is not None:
        ws.username_pw_set(kw["user"], kw.get("password"))
    ws.on_connect = c.c.on_connect
    ws.on_disconnect = c.c.on_disconnect
    ws.on_message = c.c.on_message
    ws.on_subscribe = c.c.on_subscribe
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


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


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
