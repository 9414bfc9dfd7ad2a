# SPDX-License-Identifier: ISC
"""PROXY protocol out (upstream.proxy_protocol): mqttguard names the real
client to the broker.

- A real HAProxy (TCP mode, `accept-proxy`) between mqttguard and Mosquitto
  parses the header (v1 and v2) and logs the client address it carries
  (%ci:%cp) and, for v2, the server name TLV (fc_pp_authority): a client
  from 127.0.0.2 is seen as 127.0.0.2, not as mqttguard, and messages
  still flow.  HAProxy 2.6 has no fetch for the TLS TLVs, so:
- a small receiver here reads the v2 header byte by byte, then relays to
  Mosquitto: a client with a certificate (CN client1) arrives with
  PP2_TYPE_SSL carrying the version, the cipher and the CN, verify 0; a
  client without one has no CN and a non-zero verify.  With
  upstream.tls the header comes before the ClientHello and the TLS to the
  broker works behind it.
"""
import os
import socket
import ssl
import struct
import threading

import pytest

from helpers import (TIMEOUT, connect, free_port, mqtt_connect, pipe,
                     publish, read_frame, run_mqttguard, spawn, subscribe,
                     terminate, wait_until)

HAPROXY = "/usr/sbin/haproxy"
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CLIENT = "127.0.0.2"    # the client's own address, a loopback alias
CERT_OPTIONAL = ("    client_certificates: optional\n"
                 "    authentication: either\n")

haproxy_missing = pytest.mark.skipif(not os.path.exists(HAPROXY),
                                     reason="haproxy missing")


class HAProxyIn:
    """HAProxy accepting the PROXY protocol on self.port and forwarding to
    the broker on <broker_port>, one log line per connection as soon as it
    is established."""

    def __init__(self, tmp, broker_port):
        self.port = free_port()
        self.logfile = tmp / "haproxy.log"
        conf = ("global\n  maxconn 100\n  log stdout format raw local0\n"
                "defaults\n  mode tcp\n  log global\n  option logasap\n"
                "  timeout connect 5s\n  timeout client 30s\n"
                "  timeout server 30s\n"
                "listen broker\n"
                f"  bind 127.0.0.1:{self.port} accept-proxy\n"
                "  log-format \"PP client=%ci:%cp "
                "authority=%[fc_pp_authority]\"\n"
                f"  server mosquitto 127.0.0.1:{broker_port}\n")
        (tmp / "haproxy.cfg").write_text(conf)
        self.log_fp = open(self.logfile, "wb")
        self.proc = spawn([HAPROXY, "-db", "-f", str(tmp / "haproxy.cfg")],
                          [self.port], "haproxy", self.log,
                          stdout=self.log_fp, stderr=self.log_fp)

    def log(self):
        return self.logfile.read_text(errors="replace")

    def stop(self):
        terminate(self.proc)
        self.log_fp.close()


def parse_v2(hdr):
    """The v2 header <hdr> (whole): (source, destination, {type: value}),
    the addresses as (host, port), PP2_TYPE_SSL as a dict of its client
    flags, verify and sub-TLVs."""
    assert hdr[:12] == V2SIG and hdr[12] == 0x21, hdr
    fam, n = hdr[13], struct.unpack("!H", hdr[14:16])[0]
    body = hdr[16:16 + n]
    if fam == 0x11:
        src = (socket.inet_ntop(socket.AF_INET, body[0:4]),
               struct.unpack("!H", body[8:10])[0])
        dst = (socket.inet_ntop(socket.AF_INET, body[4:8]),
               struct.unpack("!H", body[10:12])[0])
        off = 12
    else:
        assert fam == 0x21, fam
        src = (socket.inet_ntop(socket.AF_INET6, body[0:16]),
               struct.unpack("!H", body[32:34])[0])
        dst = (socket.inet_ntop(socket.AF_INET6, body[16:32]),
               struct.unpack("!H", body[34:36])[0])
        off = 36
    tlvs = tlv_list(body[off:])
    if 0x20 in tlvs:
        v = tlvs[0x20]
        tlvs[0x20] = {"client": v[0],
                      "verify": struct.unpack("!I", v[1:5])[0],
                      "sub": tlv_list(v[5:])}
    return src, dst, tlvs


def tlv_list(b):
    out, off = {}, 0
    while off < len(b):
        t, n = b[off], struct.unpack("!H", b[off + 1:off + 3])[0]
        assert off + 3 + n <= len(b), "TLV longer than the header"
        out[t] = b[off + 3:off + 3 + n]
        off += 3 + n
    return out


class Receiver:
    """A broker front that insists on a PROXY v2 header: reads it from
    each connection (recorded in self.headers), optionally terminates TLS
    (<tls>: the server certificate of <certs>), then relays both ways to
    the broker on <broker_port>."""

    def __init__(self, broker_port, certs=None):
        self.broker_port = broker_port
        self.headers = []
        self.ctx = None
        if certs is not None:
            self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ctx.load_cert_chain(str(certs / "server.crt"),
                                     str(certs / "server.key"))
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.settimeout(0.2)
        self.stopping = False
        self.socks = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        c.settimeout(TIMEOUT)
        self.socks.append(c)
        try:
            head = recv_n(c, 16)
            assert head[:12] == V2SIG, f"no PROXY v2 header: {head!r}"
            hdr = head + recv_n(c, struct.unpack("!H", head[14:16])[0])
            self.headers.append(parse_v2(hdr))
            if self.ctx is not None:
                c = self.ctx.wrap_socket(c, server_side=True)
                self.socks.append(c)
        except (AssertionError, OSError) as e:
            self.headers.append(("error", str(e)))
            c.close()
            return
        b = socket.create_connection(("127.0.0.1", self.broker_port),
                                     timeout=TIMEOUT)
        self.socks.append(b)
        threading.Thread(target=pipe, args=(b, c), daemon=True).start()
        pipe(c, b)

    def stop(self):
        self.stopping = True
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.thread.join(TIMEOUT)


def recv_n(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def tls_client(port, certs, cert=False):
    """A TLS connection to mqttguard from CLIENT, asking for "localhost",
    with the client certificate (CN client1) when <cert>."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(certs / "client.crt"),
                            str(certs / "client.key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                   source_address=(CLIENT, 0))
    return ctx.wrap_socket(raw, server_hostname="localhost")


def round_trip(sock, topic):
    """CONNECT, SUBSCRIBE <topic>, PUBLISH to it, and the message back:
    the session works end to end through whatever is in front of the
    broker."""
    ack = mqtt_connect(sock, b"pp-" + topic.encode())
    assert ack == b"\x20\x02\x00\x00", ack
    sock.sendall(subscribe([(topic.encode(), 0)]))
    assert read_frame(sock)[0] == 0x90
    sock.sendall(publish(topic.encode(), b"hello"))
    got = read_frame(sock)
    assert got[0] == 0x30 and got.endswith(b"hello"), got


@pytest.fixture
def receiver(broker):
    r = Receiver(broker.port)
    yield r
    r.stop()


@haproxy_missing
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_haproxy_sees_the_real_client(tmp_path, broker, guard_factory,
                                      certs, version):
    hp = HAProxyIn(tmp_path, broker.port)
    try:
        g = guard_factory(hp.port, plain=True,
                          upstream_extra=f"  proxy_protocol: {version}\n")
        s = tls_client(g.port, certs)
        round_trip(s, "pp/tls")
        cport = s.getsockname()[1]
        wait_until(lambda: f"client={CLIENT}:{cport}" in hp.log(),
                   what="haproxy to log the client: " + hp.log())
        line = [ln for ln in hp.log().splitlines()
                if f"client={CLIENT}:{cport}" in ln][0]
        # v2 carries the name the client asked for; v1 carries no TLV.
        assert ("authority=localhost" in line) == (version == "v2"), line
        s.close()
        # The plain listener: the same, from another address.
        p = socket.create_connection(("127.0.0.1", g.plain_port),
                                     timeout=TIMEOUT,
                                     source_address=("127.0.0.3", 0))
        round_trip(p, "pp/plain")
        pport = p.getsockname()[1]
        wait_until(lambda: f"client=127.0.0.3:{pport}" in hp.log(),
                   what="haproxy to log the plain client")
        p.close()
        # Mosquitto itself sees HAProxy; HAProxy saw no mqttguard address.
        assert "client=127.0.0.1:" not in hp.log(), hp.log()
    finally:
        hp.stop()


def test_v2_tls_tlvs_with_certificate(receiver, guard_factory, certs):
    g = guard_factory(receiver.port, plain=True,
                      listener_extra=CERT_OPTIONAL,
                      upstream_extra="  proxy_protocol: v2\n")
    s = tls_client(g.port, certs, cert=True)
    round_trip(s, "pp/cert")
    cport = s.getsockname()[1]
    wait_until(lambda: receiver.headers, what="a header")
    src, dst, tlvs = receiver.headers[0]
    assert src == (CLIENT, cport)
    assert dst == ("127.0.0.1", g.port)
    assert tlvs[0x02] == b"localhost"
    sslt = tlvs[0x20]
    assert sslt["client"] == 0x07, sslt     # SSL, CERT_CONN, CERT_SESS
    assert sslt["verify"] == 0
    assert sslt["sub"][0x22] == b"client1"
    assert sslt["sub"][0x21] == s.version().encode()
    assert sslt["sub"][0x23] == s.cipher()[0].encode()
    s.close()


def test_v2_tls_without_certificate_and_plain(receiver, guard_factory,
                                              certs):
    g = guard_factory(receiver.port, plain=True,
                      upstream_extra="  proxy_protocol: v2\n")
    s = tls_client(g.port, certs)
    round_trip(s, "pp/nocert")
    wait_until(lambda: len(receiver.headers) == 1, what="a header")
    _, _, tlvs = receiver.headers[0]
    assert tlvs[0x20]["client"] == 0x01, tlvs
    assert tlvs[0x20]["verify"] != 0
    assert 0x22 not in tlvs[0x20]["sub"]
    s.close()
    p = socket.create_connection(("127.0.0.1", g.plain_port),
                                 timeout=TIMEOUT,
                                 source_address=("127.0.0.4", 0))
    round_trip(p, "pp/plain2")
    wait_until(lambda: len(receiver.headers) == 2, what="a second header")
    src, dst, tlvs = receiver.headers[1]
    assert src == ("127.0.0.4", p.getsockname()[1])
    assert dst == ("127.0.0.1", g.plain_port)
    assert 0x20 not in tlvs and 0x02 not in tlvs, tlvs
    p.close()


def test_v2_before_upstream_tls(broker, guard_factory, certs):
    """upstream.tls: the header first, in clear, then the TLS handshake
    with the broker's side, then MQTT inside it."""
    r = Receiver(broker.port, certs=certs)
    try:
        g = guard_factory(r.port, plain=True, listener_extra=CERT_OPTIONAL,
                          upstream_extra=(
                              "  proxy_protocol: v2\n  tls: true\n"
                              f"  ca: {certs}/ca.crt\n"
                              "  server_name: localhost\n"))
        s = tls_client(g.port, certs, cert=True)
        round_trip(s, "pp/uptls")
        wait_until(lambda: r.headers, what="a header")
        src, _, tlvs = r.headers[0]
        assert src[0] == CLIENT, r.headers
        assert tlvs[0x20]["sub"][0x22] == b"client1"
        s.close()
        # A second session gets its own header (the callback is per SSL).
        s = tls_client(g.port, certs)
        round_trip(s, "pp/uptls2")
        wait_until(lambda: len(r.headers) == 2, what="a second header")
        assert r.headers[1][0] == (CLIENT, s.getsockname()[1])
        s.close()
    finally:
        r.stop()


def test_off_by_default(receiver, guard_factory, certs):
    """Without the key nothing is prepended: the receiver, which insists
    on a header, refuses the connection."""
    g = guard_factory(receiver.port, plain=True)
    s = socket.create_connection(("127.0.0.1", g.plain_port),
                                 timeout=TIMEOUT)
    s.sendall(connect(cid=b"nopp"))
    wait_until(lambda: receiver.headers, what="the receiver to judge")
    assert receiver.headers[0][0] == "error", receiver.headers
    s.close()


def test_policy_values(tmp_path, certs):
    """Only off, v1 and v2: a broker is sent one version."""
    for value, ok in (("v1", True), ("v2", True), ("off", True),
                      ("any", False), ("v3", False)):
        f = tmp_path / f"p-{value}.yaml"
        f.write_text("listeners:\n  - {name: p, address: 127.0.0.1, "
                     "port: 18830, tls: false}\n"
                     "upstream:\n  host: 127.0.0.1\n  port: 1883\n"
                     f"  proxy_protocol: {value}\n"
                     "auth: {anonymous: true}\n")
        r = run_mqttguard("-t", "-c", str(f))
        assert (r.returncode == 0) == ok, (value, r.stdout, r.stderr)
        if not ok:
            assert b"upstream.proxy_protocol" in r.stderr, r.stderr
