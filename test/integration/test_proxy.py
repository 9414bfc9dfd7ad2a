# SPDX-License-Identifier: ISC
"""PROXY protocol in: a real HAProxy (TCP mode, send-proxy and
send-proxy-v2, connecting from 127.0.0.5) in front of mqttguard, on its
TLS listener and on a plain one.  Clients connect through HAProxy from
127.0.0.2 and 127.0.0.3: mqttguard must log their real addresses and count
the per-address cap on them, not on HAProxy's.  A client reaching
mqttguard directly is not in trusted_proxies and is refused before a byte
is read; a LOCAL header (a balancer's health check) is closed quietly; a
bad header is refused; the broker sees none of them.  On a listener
without proxy_protocol, a PROXY header is only a malformed CONNECT.
"""
import socket
import ssl
import time

import pytest

from helpers import (TIMEOUT, connect, free_port, read_frame,
                     read_until_closed, reply, spawn, terminate,
                     wait_until)

HAPROXY = "/usr/sbin/haproxy"
LB = "127.0.0.5"    # HAProxy's source address, the one trusted
PROXY_KEYS = f"    proxy_protocol: any\n    trusted_proxies: [{LB}/32]\n"
V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"

pytestmark = pytest.mark.skipif(
    not __import__("os").path.exists(HAPROXY), reason="haproxy missing")


class HAProxy:
    """HAProxy in TCP mode: self.ports[name] forwards to mqttguard's
    listener <name>, from LB, with a PROXY header of <version>."""

    def __init__(self, tmp, targets, version):
        self.logfile = tmp / "haproxy.log"
        self.ports = {name: free_port() for name in targets}
        send = "send-proxy-v2" if version == 2 else "send-proxy"
        conf = ("global\n  maxconn 100\n"
                "defaults\n  mode tcp\n  timeout connect 5s\n"
                "  timeout client 30s\n  timeout server 30s\n")
        for name, port in targets.items():
            conf += (f"listen {name}\n"
                     f"  bind 127.0.0.1:{self.ports[name]}\n"
                     f"  server guard 127.0.0.1:{port} {send} "
                     f"source {LB}\n")
        (tmp / "haproxy.cfg").write_text(conf)
        self.log_fp = open(self.logfile, "wb")
        self.proc = spawn([HAPROXY, "-db", "-f", str(tmp / "haproxy.cfg")],
                          list(self.ports.values()), "haproxy", self.log,
                          stdout=self.log_fp, stderr=self.log_fp)

    def log(self):
        return self.logfile.read_text(errors="replace")

    def stop(self):
        terminate(self.proc)
        self.log_fp.close()


@pytest.fixture
def pguard(guard_factory, broker):
    """mqttguard with PROXY protocol on both listeners, one connection per
    address."""
    return guard_factory(broker.port, plain=True, listener_extra=PROXY_KEYS,
                         plain_extra=PROXY_KEYS,
                         limits="  max_connections_per_address: 1\n")


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def haproxy(request, tmp_path, pguard):
    h = HAProxy(tmp_path, {"tls": pguard.port, "plain": pguard.plain_port},
                request.param)
    yield h
    h.stop()


def open_conn(port, src, over_tls, certs):
    """A connection to 127.0.0.1:<port> from <src>, TLS handshake done if
    <over_tls>; None when the far side closes it first."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                   source_address=(src, 0))
    if not over_tls:
        return raw
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError):
        raw.close()
        return None


def mqtt_connect(port, src, over_tls, certs, cid):
    """(socket, True) for a session the proxy accepted, (None, False) for
    one closed without a CONNACK."""
    s = open_conn(port, src, over_tls, certs)
    if s is None:
        return None, False
    try:
        s.sendall(connect(cid=cid))
        ack = read_frame(s)
    except (OSError, AssertionError, ssl.SSLError):
        s.close()
        return None, False
    if ack and ack[0] == 0x20 and ack[-1] == 0:
        return s, True
    s.close()
    return None, False


@pytest.mark.parametrize("over_tls", [True, False], ids=["tls", "plain"])
def test_real_address_and_per_address_cap(haproxy, pguard, broker, certs,
                                          over_tls):
    port = haproxy.ports["tls" if over_tls else "plain"]
    a, ok = mqtt_connect(port, "127.0.0.2", over_tls, certs, b"a")
    assert ok, pguard.log()
    b, ok = mqtt_connect(port, "127.0.0.2", over_tls, certs, b"b")
    assert not ok, "a second connection from 127.0.0.2 was admitted"
    c, ok = mqtt_connect(port, "127.0.0.3", over_tls, certs, b"c")
    assert ok, pguard.log()
    log = pguard.log()
    assert "127.0.0.2:" in log and "127.0.0.3:" in log, log
    assert f"via {LB}:" in log, log
    assert ("refused 127.0.0.2 (via 127.0.0.5" in log and
            "limits.max_connections_per_address" in log), log
    a.close()
    c.close()


def raw_then_closed(port, src, over_tls, data):
    """Connects from <src>, sends <data> (raw, before any TLS), and returns
    what came back before the close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                 source_address=(src, 0))
    return reply(s, data)


@pytest.mark.parametrize("over_tls", [True, False], ids=["tls", "plain"])
def test_direct_untrusted_client_refused(pguard, broker, certs, over_tls):
    before = broker.connections()
    port = pguard.port if over_tls else pguard.plain_port
    got = raw_then_closed(port, "127.0.0.1", over_tls,
                          b"PROXY TCP4 10.9.8.7 127.0.0.1 1000 1883\r\n" +
                          connect(cid=b"spoof"))
    assert got == b""
    wait_until(lambda: "not in trusted_proxies" in pguard.log(),
               what="the refusal in the log")
    log = pguard.log()
    assert "refused 127.0.0.1" in log and "10.9.8.7" not in log, log
    time.sleep(0.3)
    assert broker.connections() == before, broker.log()


@pytest.mark.parametrize("over_tls", [True, False], ids=["tls", "plain"])
def test_local_header_closed_quietly(pguard, broker, over_tls):
    before = broker.connections()
    port = pguard.port if over_tls else pguard.plain_port
    assert raw_then_closed(port, LB, over_tls, V2_LOCAL) == b""
    wait_until(lambda: "health check" in pguard.log(),
               what="the LOCAL close in the log")
    line = [x for x in pguard.log().splitlines() if "health check" in x][0]
    assert "debug" in line, line
    assert "PROXY protocol header refused" not in pguard.log()
    assert broker.connections() == before


@pytest.mark.parametrize("over_tls", [True, False], ids=["tls", "plain"])
@pytest.mark.parametrize("header", [
    b"PROXY TCP4 10.0.0.1 10.0.0.2 99999 1883\r\n",    # port out of range
    b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\n",             # LF without CR
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff",           # v2 too long
    connect(cid=b"noheader"),                          # no header at all
], ids=["v1-port", "v1-lf", "v2-length", "missing"])
def test_bad_header_refused(pguard, broker, over_tls, header):
    before = broker.connections()
    port = pguard.port if over_tls else pguard.plain_port
    assert raw_then_closed(port, LB, over_tls, header + connect()) == b""
    wait_until(lambda: "PROXY protocol header refused" in pguard.log(),
               what="the refusal in the log")
    time.sleep(0.3)
    assert broker.connections() == before, broker.log()


def test_header_deadline(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, plain_extra=PROXY_KEYS,
                      limits="  tls_handshake_timeout: 1s\n")
    s = socket.create_connection(("127.0.0.1", g.plain_port),
                                 timeout=TIMEOUT, source_address=(LB, 0))
    s.sendall(b"PROXY TCP4 ")
    assert read_until_closed(s, timeout=5) == b""
    s.close()
    assert "no PROXY protocol header within 1000ms" in g.log()


def test_header_on_plain_listener_is_malformed(guard, broker):
    """Without proxy_protocol, a PROXY header is a bad first frame."""
    before = broker.connections()
    s = socket.create_connection(("127.0.0.1", guard.plain_port),
                                 timeout=TIMEOUT, source_address=(LB, 0))
    got = reply(s, b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n" + connect())
    assert got == b""
    wait_until(lambda: "closed:" in guard.log(), what="the close")
    assert "PROXY protocol" not in guard.log()
    assert broker.connections() == before
