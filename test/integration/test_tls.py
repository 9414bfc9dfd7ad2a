# SPDX-License-Identifier: ISC
"""TLS hardening of mqttguard's listeners, seen from outside: protocol
versions and cipher suites (openssl s_client, sslscan), ALPN, no session
resumption, the policy check refusing weak settings unless allow_insecure
(which then warns at every start), client certificates revoked by a CRL,
SNI (each name its certificate), reloading the certificates on SIGHUP and
with tls.watch while sessions go on, and TLS to the broker (a Mosquitto
with a TLS listener: its CA and name verified, our client certificate).
Every proxy runs on a free 127.0.0.1 port in front of a real Mosquitto,
through the conftest fixtures."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess

import pytest

from helpers import (ROOT, TIMEOUT, Broker, Guard, Paho, Sub, connect, factory,
                     free_port, mqtt_connect, pub, reply, run_mqttguard,
                     tls_socket, wait_until)

# What the default profile may negotiate in TLS 1.2: ECDHE with AEAD.
TLS12_OK = re.compile(r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|"
                      r"CHACHA20-POLY1305)$")
TLS13_OK = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256"}
# A client at OpenSSL's security level 0, so it really offers the old
# versions and weak suites instead of refusing them itself.
ANY = "DEFAULT:@SECLEVEL=0"


def s_client(port, *args, timeout=TIMEOUT):
    """One openssl s_client handshake, stdin closed at once; returns
    (negotiated protocol or None, cipher or None, all output)."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{port}", "-servername", "localhost"] +
                       list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(
        errors="replace")
    m = re.search(r"^(?:New|Reused), (TLSv[\d.]+), Cipher is (\S+)", out,
                  re.M)
    if m is None:
        return None, None, out
    return m.group(1), m.group(2), out


@pytest.fixture
def tguard(guard_factory, broker):
    return guard_factory(broker.port)


# ---- versions and suites --------------------------------------------------

@pytest.mark.parametrize("flag,version", [
    ("-tls1", None), ("-tls1_1", None),
    ("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3"),
])
def test_protocol_versions(tguard, flag, version):
    got, cipher, out = s_client(tguard.port, flag, "-cipher", ANY)
    if version is None:
        assert got is None, out
        # The server refused (not the client): it says so in its log.
        wait_until(lambda: "unsupported protocol" in tguard.log(),
                   what="the handshake failure log")
    else:
        assert got == version, out


def test_tls13_preferred(tguard):
    got, cipher, out = s_client(tguard.port)
    assert got == "TLSv1.3", out
    assert cipher in TLS13_OK


def test_tls12_cipher_is_ecdhe_aead(tguard):
    got, cipher, out = s_client(tguard.port, "-tls1_2", "-cipher", ANY)
    assert got == "TLSv1.2", out
    assert TLS12_OK.match(cipher), cipher


@pytest.mark.parametrize("cipher", [
    "AES128-SHA",                 # RSA key exchange, CBC
    "AES128-GCM-SHA256",          # RSA key exchange: not forward secret
    "ECDHE-ECDSA-AES128-SHA",     # CBC: not AEAD
    "ECDHE-ECDSA-AES128-SHA256",  # CBC: not AEAD
    "ECDHE-ECDSA-AES128-CCM8",    # not in the profile
    "AECDH-AES128-SHA",           # anonymous
])
def test_weak_tls12_suites_refused(tguard, cipher):
    got, _, out = s_client(tguard.port, "-tls1_2", "-cipher",
                           cipher + ":@SECLEVEL=0")
    assert got is None, out
    wait_until(lambda: "no shared cipher" in tguard.log(),
               what="the handshake failure log")


def test_sslscan(tguard):
    """sslscan's view: no SSLv2/SSLv3/TLS 1.0/1.1, every accepted suite
    strong, no insecure renegotiation, no compression."""
    if shutil.which("sslscan") is None:
        pytest.fail("sslscan is missing: scripts/deps.sh --test installs it")
    r = subprocess.run(["sslscan", "--no-colour",
                        f"127.0.0.1:{tguard.port}"], capture_output=True,
                       timeout=TIMEOUT * 3)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    proto = dict(re.findall(r"^(SSLv[23]|TLSv1\.[0-3])\s+(enabled|disabled)",
                            out, re.M))
    assert proto == {"SSLv2": "disabled", "SSLv3": "disabled",
                     "TLSv1.0": "disabled", "TLSv1.1": "disabled",
                     "TLSv1.2": "enabled", "TLSv1.3": "enabled"}, out
    suites = re.findall(r"^(?:Preferred|Accepted)\s+(\S+)\s+(\d+) bits\s+"
                        r"(\S+)", out, re.M)
    assert suites, out
    for version, bits, name in suites:
        assert int(bits) >= 128, (version, name)
        if version == "TLSv1.3":
            assert name in TLS13_OK, name
        else:
            assert version == "TLSv1.2" and TLS12_OK.match(name), \
                (version, name)
    assert "Insecure session renegotiation supported" not in out
    assert "Compression enabled" not in out
    assert "vulnerable to heartbleed" not in out.replace(
        "not vulnerable to heartbleed", "")


# ---- ALPN and resumption ------------------------------------------------

def test_alpn_mqtt_negotiated(tguard):
    got, _, out = s_client(tguard.port, "-alpn", "mqtt")
    assert got is not None, out
    assert "ALPN protocol: mqtt" in out


def test_alpn_mqtt_among_others(tguard):
    got, _, out = s_client(tguard.port, "-alpn", "h2,mqtt")
    assert "ALPN protocol: mqtt" in out


def test_alpn_other_protocol_refused(tguard):
    got, _, out = s_client(tguard.port, "-alpn", "http/1.1")
    assert got is None, out
    assert "no application protocol" in out   # the alert (RFC 7301)
    wait_until(lambda: "no application protocol" in tguard.log(),
               what="the refusal in the log")


@pytest.mark.parametrize("offer,want", [
    ("http/1.1", "http/1.1"), ("h2,http/1.1", "http/1.1"),
    ("h2", None), ("mqtt", None)])
def test_alpn_websocket_listener(guard_factory, broker, offer, want):
    """A WebSocket listener speaks HTTP/1.1 before MQTT: "http/1.1", which
    browsers offer for wss://, is selected; a client offering only h2 or
    only mqtt (MQTT straight over TLS) wants what it is not."""
    g = guard_factory(broker.port, listener_extra="    websocket: true\n")
    got, _, out = s_client(g.port, "-alpn", offer)
    if want:
        assert got is not None and f"ALPN protocol: {want}" in out, out
    else:
        assert got is None and "no application protocol" in out, out


def test_no_alpn_works(tguard):
    got, _, out = s_client(tguard.port)
    assert got is not None, out
    assert "No ALPN negotiated" in out


def test_mqtt_over_alpn(tguard, broker, certs):
    """A real MQTT exchange on a connection that negotiated "mqtt"."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    ctx.set_alpn_protocols(["mqtt"])
    raw = socket.create_connection(("127.0.0.1", tguard.port),
                                   timeout=TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "mqtt"
        assert mqtt_connect(s, b"alpn-client") == bytes([0x20, 2, 0, 0])
    wait_until(lambda: "alpn-client" in broker.log(),
               what="the broker to see the client")


def test_no_session_resumption(tguard, tmp_path):
    # TLS 1.2: five reconnections offering the first session, none resumed.
    got, _, out = s_client(tguard.port, "-tls1_2", "-reconnect")
    assert got == "TLSv1.2", out
    assert out.count("New, TLSv1.2") == 6, out
    assert "Reused" not in out
    # TLS 1.3: no ticket is sent, so there is nothing to resume with.
    sess = tmp_path / "sess.pem"
    got, _, out = s_client(tguard.port, "-tls1_3", "-sess_out", str(sess))
    assert got == "TLSv1.3", out
    assert "New Session Ticket" not in out
    if sess.exists():
        got, _, out = s_client(tguard.port, "-tls1_3", "-sess_in",
                               str(sess))
        assert got == "TLSv1.3" and "Reused" not in out, out


# ---- the policy check: weak settings ---------------------------------------

def fake_certs(tmp_path, certs, name):
    """A directory where server.crt/.key are the <name> pair (what Guard
    and the policy below use), with the real CA."""
    d = tmp_path / f"certs-{name}"
    d.mkdir()
    for src, dst in [(f"{name}.crt", "server.crt"),
                     (f"{name}.key", "server.key"), ("ca.crt", "ca.crt")]:
        (d / dst).symlink_to(certs / src)
    return d


def check_policy(tmp_path, certs, tls_extra):
    p = tmp_path / "check.yaml"
    p.write_text("listeners:\n  - address: 127.0.0.1\n    port: 8883\n"
                 f"tls:\n  cert: {certs}/server.crt\n"
                 f"  key: {certs}/server.key\n{tls_extra}"
                 "upstream:\n  host: 127.0.0.1\n  port: 1883\n"
                 "auth:\n  anonymous: true\n")
    return run_mqttguard("-t", "-c", str(p))


WEAK = [
    # (certificate pair, tls lines, reason on stderr, s_client args)
    ("server", "  min_version: 1.1\n  ciphers: ECDHE+AESGCM:ECDHE+AES\n",
     ":7:16: tls.min_version: TLS 1.1 is deprecated",
     ["-tls1_1", "-cipher", ANY]),
    ("server", "  ciphers: AES128-SHA:ECDHE+AESGCM\n",
     ":7:12: tls.ciphers: enables weak suite AES128-SHA",
     ["-tls1_2", "-cipher", ANY]),
    ("weak-rsa1024", "", "server.crt: RSA key of 1024 bits",
     ["-cipher", ANY]),
    ("expired-server", "", "server.crt: expired on 2020-01-02",
     []),
]


@pytest.mark.parametrize("pair,extra,reason,client", WEAK)
def test_check_refuses_weak(tmp_path, certs, pair, extra, reason, client):
    d = fake_certs(tmp_path, certs, pair)
    r = check_policy(tmp_path, d, extra)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert reason in err
    assert "allow_insecure" in err      # the way out is named
    assert "policy refused" in err


@pytest.mark.parametrize("pair,extra,reason,client", WEAK)
def test_allow_insecure_accepts_and_warns(tmp_path, certs, broker, pair,
                                          extra, reason, client):
    d = fake_certs(tmp_path, certs, pair)
    extra += "  allow_insecure: true\n"
    r = check_policy(tmp_path, d, extra)
    assert r.returncode == 0, r.stderr.decode()
    assert "allow_insecure: accepting a weak setting" in r.stderr.decode()
    # Started, it warns again, naming what is weak, and serves it.
    gdir = tmp_path / "guard"
    gdir.mkdir()
    g = Guard(gdir, d, broker.port, tls_extra=extra)
    try:
        log = g.log()
        assert "allow_insecure: accepting a weak setting" in log, log
        assert reason.split(": ", 1)[-1] in log, log
        got, _, out = s_client(g.port, *client)
        assert got is not None, out
    finally:
        g.stop()


def test_allow_insecure_without_weakness_warns(tmp_path, certs):
    r = check_policy(tmp_path, certs, "  allow_insecure: true\n")
    assert r.returncode == 0, r.stderr.decode()
    assert "nothing weak is configured" in r.stderr.decode()


def test_check_refuses_mismatched_key(tmp_path, certs):
    d = tmp_path / "mismatch"
    d.mkdir()
    (d / "server.crt").symlink_to(certs / "server.crt")
    (d / "server.key").symlink_to(certs / "client.key")
    r = check_policy(tmp_path, d, "  allow_insecure: true\n")
    assert r.returncode == 2
    assert "does not match" in r.stderr.decode()


# ---- revocation -------------------------------------------------------------

@pytest.fixture
def crlguard(guard_factory, broker, certs):
    return guard_factory(broker.port, tls_extra=f"  crl: {certs}/ca.crl\n",
                         listener_extra="    client_certificates: require\n"
                         "    authentication: certificate\n")


def test_revoked_client_certificate_refused(crlguard, broker, certs):
    before = broker.connections()
    r = pub(crlguard, "--cert", str(certs / "revoked-client.crt"), "--key",
            str(certs / "revoked-client.key"), "-t", "t/x", "-m", "no")
    assert r.returncode != 0
    wait_until(lambda: "TLS handshake failed" in crlguard.log(),
               what="the handshake failure log")
    assert "client certificate: certificate revoked" in crlguard.log()
    assert broker.connections() == before


def test_valid_client_certificate_with_crl(crlguard, broker, certs):
    r = pub(crlguard, "--cert", str(certs / "client.crt"), "--key",
            str(certs / "client.key"), "-t", "t/x", "-m", "yes")
    assert r.returncode == 0, r.stderr
    assert "accepted identity \"client1\" (certificate)" in crlguard.log()
    # (The harness's port probe fails its handshake: not a refusal.)
    assert "client certificate:" not in crlguard.log()


def test_crl_from_another_ca_refused(tmp_path, certs):
    # ca.crl is not from tls.ca: the check says so before any client does.
    r = check_policy(tmp_path, certs, f"  ca: {certs}/other-ca.crt\n"
                     f"  crl: {certs}/ca.crl\n")
    assert r.returncode == 2
    assert "which is not a CA in tls.ca" in r.stderr.decode()


# ---- SNI: one certificate per broker name -----------------------------------

def served(port, servername="localhost", ca=None, verify=None):
    """The certificate <port> serves to a client asking for <servername>
    (None: no SNI), as (subject, serial, all output); with <ca>, the chain
    is verified, and with <verify> also the host name."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    args += ["-noservername"] if servername is None else \
        ["-servername", servername]
    if ca is not None:
        args += ["-CAfile", str(ca), "-verify_return_error"]
    if verify is not None:
        args += ["-verify_hostname", verify]
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=TIMEOUT)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(
        errors="replace")
    subj = re.search(r"^subject=(.*)$", out, re.M)
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE"
                    r"-----\n", out, re.S)
    serial = None
    if pem:
        serial = subprocess.run(["openssl", "x509", "-noout", "-serial"],
                                input=pem.group(0).encode(),
                                capture_output=True,
                                timeout=TIMEOUT).stdout.decode().strip()
    return (subj.group(1) if subj else None), serial, out


def cn(subject):
    m = re.search(r"CN = ([^,]+)$", subject or "")
    return m.group(1) if m else None


def sni_extra(certs):
    return ("  sni:\n"
            f"    - name: broker-b.example\n"
            f"      cert: {certs}/server-b.crt\n"
            f"      key: {certs}/server-b.key\n"
            f"    - name: \"*.fleet.example\"\n"
            f"      cert: {certs}/server-wild.crt\n"
            f"      key: {certs}/server-wild.key\n")


@pytest.fixture
def sniguard(guard_factory, broker, certs):
    return guard_factory(broker.port, tls_extra=sni_extra(certs))


@pytest.mark.parametrize("name,want,valid", [
    ("broker-b.example", "broker-b.example", True),
    ("BROKER-B.Example", "broker-b.example", True),  # names have no case
    ("a.fleet.example", "*.fleet.example", True),    # the wildcard
    ("x.a.fleet.example", "localhost", False),       # one label only
    ("localhost", "localhost", True),                # the default pair
    ("unknown.example", "localhost", False),         # unknown: the default
    (None, "localhost", False),                      # no SNI: the default
])
def test_sni_selects_certificate(sniguard, certs, name, want, valid):
    # The chain always verifies; the name too when a pair covers it.
    subject, _, out = served(sniguard.port, name, ca=certs / "ca.crt",
                             verify=name.lower() if valid else None)
    assert cn(subject) == want, out
    assert "Verify return code: 0 (ok)" in out, out


def test_sni_mqtt_exchange(sniguard, broker, certs):
    """A client that verifies broker-b.example talks MQTT through it."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    raw = socket.create_connection(("127.0.0.1", sniguard.port),
                                   timeout=TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname="broker-b.example") as s:
        assert s.getpeercert()["subjectAltName"] == (
            ("DNS", "broker-b.example"),)
        assert mqtt_connect(s, b"sni-client") == bytes([0x20, 2, 0, 0])
    wait_until(lambda: "sni-client" in broker.log(),
               what="the broker to see the client")


def test_sni_logged_at_start(sniguard):
    # The port opens before the start-up lines are written.
    wait_until(lambda: "listening on " in sniguard.log(),
               what="the start-up lines")
    log = sniguard.log()
    assert "tls: certificate default: subject /O=mqttguard development/" \
        "CN=localhost" in log, log
    assert "tls: certificate broker-b.example: subject " in log, log
    assert "tls: certificate *.fleet.example: subject " in log, log


@pytest.mark.parametrize("pair,name,reason", [
    ("weak-rsa1024", "localhost",
     "tls.sni[0].cert {d}/weak-rsa1024.crt: RSA key of 1024 bits"),
    ("expired-server", "localhost",
     "tls.sni[0].cert {d}/expired-server.crt: expired on 2020-01-02"),
    ("wrong-san", "broker-b.example",
     "tls.sni[0].cert {d}/wrong-san.crt is not valid for broker-b.example"),
])
def test_check_refuses_bad_sni_pair(tmp_path, certs, pair, name, reason):
    r = check_policy(tmp_path, certs, f"  sni:\n    - name: {name}\n"
                     f"      cert: {certs}/{pair}.crt\n"
                     f"      key: {certs}/{pair}.key\n")
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert reason.format(d=certs) in err, err


# ---- reload: SIGHUP and tls.watch ------------------------------------------

@pytest.fixture
def rotdir(tmp_path, certs):
    """A copy of the certificates a test may replace under the proxy."""
    d = tmp_path / "rot"
    d.mkdir()
    for name in ["ca.crt", "ca.key", "server.crt", "server.key",
                 "client.key", "server-b.crt", "server-b.key",
                 "server-wild.crt", "server-wild.key"]:
        shutil.copy(certs / name, d / name)
    return d


def rotate(d, org="mqttguard rotated", pair="server", name="localhost",
           san="DNS:localhost,IP:127.0.0.1,IP:::1"):
    """Replaces <pair>.crt/.key in <d> with a new pair for <name> signed
    by the same CA, each file renamed into place (as cert-manager and
    Kubernetes do).  Returns the new certificate's subject line."""
    work = d / "new"
    work.mkdir(exist_ok=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(work / "k")],
                   check=True, capture_output=True, timeout=TIMEOUT)
    subprocess.run(["openssl", "req", "-new", "-key", str(work / "k"),
                    "-subj", f"/O={org}/CN={name}", "-out",
                    str(work / "csr")], check=True, capture_output=True,
                   timeout=TIMEOUT)
    (work / "ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(work / "csr"),
                    "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
                    "-CAcreateserial", "-CAserial", str(work / "srl"),
                    "-days", "30", "-sha256", "-extfile", str(work / "ext"),
                    "-out", str(work / "c")], check=True,
                   capture_output=True, timeout=TIMEOUT)
    os.rename(work / "k", d / f"{pair}.key")
    os.rename(work / "c", d / f"{pair}.crt")
    return f"O = {org}, CN = {name}"


def exchange(sub, pub_client, topic, payload):
    """<pub_client> publishes; <sub> must receive it."""
    pub_client.publish(topic, payload, qos=1)
    m = sub.get()
    assert (m.topic, m.payload) == (topic, payload)


@pytest.fixture
def rotguard(tmp_path, broker, rotdir):
    """A factory of proxies serving the certificates of <rotdir>."""
    yield from factory(tmp_path, "rotguard", lambda d, **kw:
                       Guard(d, rotdir, broker.port, **kw))


def test_sighup_rotates_certificate(rotguard, rotdir):
    g = rotguard()
    before, serial0, out = served(g.port, ca=rotdir / "ca.crt")
    assert cn(before) == "localhost" and serial0, out
    old = Paho(g, "rot-old", ca=rotdir / "ca.crt")
    assert old.connect() == 0
    old.subscribe("rot/#", qos=1)
    exchange(old, old, "rot/a", b"before")

    want = rotate(rotdir)
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: policy reloaded" in g.log(),
               what="the reload log")
    assert "tls: certificate default: subject /O=mqttguard rotated/" \
        "CN=localhost, serial " in g.log(), g.log()
    after, serial1, out = served(g.port, ca=rotdir / "ca.crt")
    assert after == want, out
    assert serial1 != serial0
    assert "Verify return code: 0 (ok)" in out, out

    # The established session goes on, on its old certificate...
    exchange(old, old, "rot/b", b"after the reload")
    # ...and a new client verifies the new one and reaches the old one.
    new = Paho(g, "rot-new", ca=rotdir / "ca.crt")
    assert new.connect() == 0
    exchange(old, new, "rot/c", b"new to old")
    assert not old.disconnected.is_set()
    new.close()
    old.close()


@pytest.mark.parametrize("damage,reason", [
    ("garbage", "tls.key {d}/server.key: no unencrypted PEM private key"),
    ("mismatch", "tls.key {d}/server.key does not match tls.cert "
     "{d}/server.crt"),
    ("missing", "tls.key: {d}/server.key: No such file or directory"),
])
def test_sighup_broken_key_keeps_certificate(rotguard, rotdir, damage,
                                             reason):
    g = rotguard()
    before, serial0, out = served(g.port, ca=rotdir / "ca.crt")
    assert serial0, out
    old = Paho(g, "broken-old", ca=rotdir / "ca.crt")
    assert old.connect() == 0
    old.subscribe("broken/#", qos=1)

    # A new certificate arrives with a key that cannot be used.
    rotate(rotdir)
    key = rotdir / "server.key"
    if damage == "garbage":
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    elif damage == "mismatch":
        shutil.copy(rotdir / "client.key", key)
    else:
        key.unlink()
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy reload failed" in g.log(),
               what="the reload failure log")
    line = next(x for x in g.log().splitlines() if "reload failed" in x)
    assert " error: SIGHUP: policy reload failed: " in line, line
    assert line.endswith("; the running policy stays"), line
    # The reason is on that line, or (a file the loader refuses) on the
    # line before it, with the file's place.
    assert reason.format(d=rotdir) in g.log(), g.log()
    assert "policy reloaded" not in g.log()

    # The old certificate is still served, and everything still works.
    after, serial1, out = served(g.port, ca=rotdir / "ca.crt")
    assert (after, serial1) == (before, serial0), out
    exchange(old, old, "broken/a", b"still here")
    new = Paho(g, "broken-new", ca=rotdir / "ca.crt")
    assert new.connect() == 0
    exchange(old, new, "broken/b", b"new client, old certificate")
    new.close()
    old.close()


def test_sighup_reloads_sni_pairs(rotguard, rotdir):
    """SNI pairs are reloaded with the rest, and judged the same way."""
    g = rotguard(tls_extra=sni_extra(rotdir))
    subject, serial0, out = served(g.port, "broker-b.example")
    assert cn(subject) == "broker-b.example", out
    want = rotate(rotdir, pair="server-b", name="broker-b.example",
                  san="DNS:broker-b.example")
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: policy reloaded" in g.log(),
               what="the reload log")
    subject, serial1, out = served(g.port, "broker-b.example",
                                   ca=rotdir / "ca.crt",
                                   verify="broker-b.example")
    assert subject == want and serial1 != serial0, out
    assert "Verify return code: 0 (ok)" in out, out
    assert cn(served(g.port, "a.fleet.example")[0]) == "*.fleet.example"
    # *.fleet.example does not cover broker-b.example: refused, kept.
    shutil.copy(rotdir / "server-wild.crt", rotdir / "server-b.crt")
    shutil.copy(rotdir / "server-wild.key", rotdir / "server-b.key")
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy reload failed" in g.log(),
               what="the reload failure log")
    assert "tls.sni[0].cert " + str(rotdir / "server-b.crt") + \
        " is not valid for broker-b.example" in g.log(), g.log()
    assert served(g.port, "broker-b.example")[1] == serial1


def test_watch_reloads_when_files_change(rotguard, rotdir):
    g = rotguard(tls_extra="  watch: true\n")
    assert "watch: reloading when a file of the policy changes" in g.log()
    _, serial0, _ = served(g.port)
    old = Paho(g, "watch-old", ca=rotdir / "ca.crt")
    assert old.connect() == 0
    old.subscribe("watch/#", qos=1)
    want = rotate(rotdir, org="mqttguard watched")
    wait_until(lambda: "watch: files changed: policy reloaded"
               in g.log(), what="the watch to reload")
    after, serial1, out = served(g.port, ca=rotdir / "ca.crt")
    assert after == want and serial1 != serial0, out
    exchange(old, old, "watch/a", b"still here")
    # A broken file is refused once, then retried only when it changes.
    (rotdir / "server.key").write_text("broken\n")
    wait_until(lambda: "watch: files changed: policy reload failed" in
               g.log(), what="the watch to refuse the broken key")
    n = g.log().count("policy reload failed")
    want = rotate(rotdir, org="mqttguard fixed")
    wait_until(lambda: g.log().count("policy reloaded") == 2,
               what="the watch to reload the fixed files")
    assert g.log().count("policy reload failed") == n
    assert served(g.port)[0] == want
    old.close()


# ---- upstream TLS: a real Mosquitto with a TLS listener ---------------------

# The proxy speaks TLS to the broker once session.c creates its upstream
# bufferevent through tls_client_ssl_new() (docs/tls.md, TLS to the broker).
UPSTREAM_WIRED = "tls_client_ssl_new" in \
    (ROOT / "src" / "session.c").read_text()
needs_upstream_tls = pytest.mark.skipif(
    not UPSTREAM_WIRED, reason="needs the session.c change: s->up made "
    "with tls_client_ssl_new() + bufferevent_openssl_socket_new() when "
    "w->ssl_upstream_ctx is set")


class TlsBroker(Broker):
    """Mosquitto whose only listener is TLS, with the development CA."""

    def __init__(self, tmp, certs, extra=""):
        super().__init__(tmp, extra=f"cafile {certs}/ca.crt\n"
                         f"certfile {certs}/server.crt\n"
                         f"keyfile {certs}/server.key\n" + extra)


class UpGuard(Guard):
    """mqttguard (a TLS listener) in front of a TLS broker, with the
    upstream lines <upstream>."""

    def __init__(self, tmp, certs, broker_port, upstream):
        self.certs = certs
        self.port = free_port()
        self.plain_port = None
        self.start(
            tmp,
            f"listeners:\n  - address: 127.0.0.1\n    port: {self.port}\n"
            f"tls:\n  cert: {certs}/server.crt\n  key: {certs}/server.key\n"
            f"upstream:\n  host: 127.0.0.1\n  port: {broker_port}\n"
            f"  connect_timeout: 3s\n  tls: true\n{upstream}"
            "auth:\n  anonymous: true\n  empty_client_id: assign\n"
            "log:\n  level: debug\n")


@pytest.fixture
def tlsbroker(tmp_path, certs):
    d = tmp_path / "tlsbroker"
    d.mkdir()
    b = TlsBroker(d, certs)
    yield b
    b.stop()


@pytest.fixture
def upguard(tmp_path, certs):
    """make(broker, upstream): an UpGuard in front of <broker>."""
    yield from factory(tmp_path, "upguard", lambda d, broker, upstream:
                       UpGuard(d, certs, broker.port, upstream))


def test_upstream_tls_check(tmp_path, certs):
    """-t builds the upstream context: a bad CA file is named."""
    p = tmp_path / "up.yaml"
    p.write_text("listeners:\n  - {address: 127.0.0.1, port: 1884, "
                 "tls: false}\n"
                 f"upstream:\n  host: 127.0.0.1\n  port: 8883\n"
                 f"  tls: true\n  ca: {certs}/ca.key\n"
                 "auth:\n  anonymous: true\n")
    r = run_mqttguard("-t", "-c", str(p))
    assert r.returncode == 2
    assert f"upstream.ca {certs}/ca.key: " in r.stderr.decode()
    p.write_text(p.read_text().replace("ca.key", "ca.crt"))
    r = run_mqttguard("-t", "-c", str(p))
    assert r.returncode == 0, r.stderr.decode()


@needs_upstream_tls
@pytest.mark.parametrize("upstream", [
    "  ca: {c}/ca.crt\n",                            # checked as 127.0.0.1
    "  ca: {c}/ca.crt\n  server_name: localhost\n",  # and as a name
])
def test_upstream_tls_forwards(tlsbroker, upguard, certs, upstream):
    g = upguard(tlsbroker, upstream.format(c=certs))
    sub = Sub(g, tlsbroker, "up/#", 2, qos=1)
    for i in range(2):
        r = pub(g, "-t", f"up/{i}", "-m", f"over TLS {i}", "-q", "1")
        assert r.returncode == 0, r.stderr
    assert sub.result() == b"over TLS 0\nover TLS 1\n"
    assert "upstream connected" in g.log()
    assert "upstream: TLS to 127.0.0.1:" in g.log()


@needs_upstream_tls
@pytest.mark.parametrize("v5", [False, True])
@pytest.mark.parametrize("upstream,reason", [
    ("  ca: {c}/other-ca.crt\n", "certificate verify failed: "),
    ("  ca: {c}/ca.crt\n  server_name: wrong.example\n",
     "certificate verify failed: hostname mismatch"),
    ("  ca: {c}/ca.crt\n  server_name: 127.0.0.2\n",
     "certificate verify failed: IP address mismatch"),
])
def test_upstream_tls_refuses_unverified_broker(tlsbroker, upguard, certs,
                                                upstream, reason, v5):
    g = upguard(tlsbroker, upstream.format(c=certs))
    c = Paho(g, "unverified", v5=v5)
    # The broker cannot be reached securely: "server unavailable".
    assert c.connect() == (0x88 if v5 else 3)
    c.close()
    wait_until(lambda: "TLS handshake failed: " + reason in g.log(),
               what="the verification failure in the log")
    assert "New client connected" not in tlsbroker.log()


@needs_upstream_tls
def test_upstream_tls_client_certificate(tmp_path, certs, upguard):
    """A broker that requires client certificates gets ours."""
    d = tmp_path / "certbroker"
    d.mkdir()
    b = TlsBroker(d, certs, extra="require_certificate true\n"
                  "use_identity_as_username true\n")
    try:
        g = upguard(b, f"  ca: {certs}/ca.crt\n  cert: {certs}/client.crt\n"
                    f"  key: {certs}/client.key\n")
        c = Paho(g, "with-cert")
        assert c.connect() == 0
        c.close()
        wait_until(lambda: "with-cert" in b.log(), what="the broker")
        assert "u'client1'" in b.log(), b.log()
        # Without it the broker refuses the proxy.  In TLS 1.3 that alert
        # comes after the handshake, before any CONNACK: the client is
        # told the server is unavailable (3.1.1: 0x03).  (The log names
        # the alert when it is read before the connection resets.)
        g2 = upguard(b, f"  ca: {certs}/ca.crt\n")
        assert reply(tls_socket(g2.port, certs / "ca.crt"),
                     connect(cid=b"without-cert")) == b"\x20\x02\x00\x03"
        wait_until(lambda: re.search(r'closed: cannot reach the broker '
                                     r'.*"without-cert"', g2.log()),
                   what="the session to end")
        assert "New client connected" not in b.log().split("with-cert")[-1]
    finally:
        b.stop()


# ---- the chain sent ---------------------------------------------------------

def sent_chain(port, ca):
    """The subjects of the certificates <port> sends, and whether the
    chain verifies against <ca> alone."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{port}", "-servername", "localhost",
                        "-showcerts", "-CAfile", str(ca),
                        "-verify_return_error"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=TIMEOUT)
    out = r.stdout.decode(errors="replace")
    return (re.findall(r"^ *\d+ s:.*CN ?= ?([^,\n]+)$", out, re.M),
            "Verify return code: 0 (ok)" in out)


def sign(d, name, ca, ca_key, ext):
    """A P-256 key and a certificate for CN=<name> signed by <ca>."""
    key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(key)], check=True,
                   capture_output=True, timeout=TIMEOUT)
    subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj",
                    f"/CN={name}", "-out", str(csr)], check=True,
                   capture_output=True, timeout=TIMEOUT)
    (d / f"{name}.ext").write_text(ext)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
                    str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                    "-days", "30", "-extfile", str(d / f"{name}.ext"),
                    "-out", str(crt)], check=True, capture_output=True,
                   timeout=TIMEOUT)
    key.chmod(0o600)
    return crt, key


@pytest.fixture
def intermediate(tmp_path, certs):
    """A leaf for localhost signed by an intermediate CA under ca.crt."""
    d = tmp_path / "chain"
    d.mkdir()
    inter, inter_key = sign(d, "intermediate", certs / "ca.crt",
                            certs / "ca.key",
                            "basicConstraints=critical,CA:TRUE\n"
                            "keyUsage=critical,keyCertSign,cRLSign\n")
    leaf, leaf_key = sign(d, "localhost", inter, inter_key,
                          "subjectAltName=DNS:localhost\n"
                          "extendedKeyUsage=serverAuth\n")
    return d, inter, leaf, leaf_key


def test_chain_sent_without_the_root(guard_factory, broker, certs):
    """The root in tls.ca is not sent: the client has it (and OpenSSL no
    longer builds the chain again on every handshake)."""
    g = guard_factory(broker.port)
    names, ok = sent_chain(g.port, certs / "ca.crt")
    assert names == ["localhost"] and ok, names


@pytest.mark.parametrize("where", ["cert_file", "tls_ca"])
def test_chain_sent_with_the_intermediate(tmp_path, certs, broker,
                                          intermediate, where):
    """An intermediate in the cert file, or only in tls.ca, is sent after
    the leaf: a client that trusts the root alone verifies the chain."""
    d, inter, leaf, leaf_key = intermediate
    root = (certs / "ca.crt").read_bytes()
    if where == "cert_file":
        cert, ca = leaf.read_bytes() + inter.read_bytes(), root
    else:
        cert, ca = leaf.read_bytes(), root + inter.read_bytes()
    served_dir = tmp_path / "served"
    served_dir.mkdir()
    (served_dir / "server.crt").write_bytes(cert)
    (served_dir / "server.key").write_bytes(leaf_key.read_bytes())
    (served_dir / "server.key").chmod(0o600)
    (served_dir / "ca.crt").write_bytes(ca)
    run = tmp_path / "run"
    run.mkdir()
    g = Guard(run, served_dir, broker.port)
    try:
        names, ok = sent_chain(g.port, certs / "ca.crt")
        assert names == ["localhost", "intermediate"] and ok, names
    finally:
        g.stop()
