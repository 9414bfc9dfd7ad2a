# SPDX-License-Identifier: ISC
"""TLS hardening of mqttguard's listeners, seen from outside: protocol
versions and cipher suites (openssl s_client, sslscan), ALPN, no session
resumption, the policy check refusing weak settings unless allow_insecure
(which then warns at every start), and client certificates revoked by a
CRL.  Every proxy runs on a free 127.0.0.1 port in front of a real
Mosquitto, through the conftest fixtures."""
import re
import shutil
import socket
import ssl
import subprocess

import pytest

from conftest import BIN, TIMEOUT, Guard, pub, wait_until
from test_malformed import connect

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
        s.sendall(connect(level=4, cid=b"alpn-client"))
        assert s.recv(4) == bytes([0x20, 2, 0, 0])
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
    return subprocess.run([BIN, "-t", "-c", str(p)], capture_output=True,
                          timeout=TIMEOUT)


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
