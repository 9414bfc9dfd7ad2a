# SPDX-License-Identifier: ISC
"""Authentication through mqttguard in front of a real Mosquitto: password
files, client certificates, lockout, client-id ownership, and what reaches
the broker (the identity as username, never the client's password)."""
import os
import re
import subprocess
import threading
import time

import pytest

from helpers import (Broker, Paho, connect, mqtt_connect, mqtt_str, paho_as,
                     passwd_file, plain_socket, pub, reply, run_mqttguard,
                     wait_until)

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture
def pwfile(tmp_path):
    return passwd_file(tmp_path / "users.passwd", USERS)


# Lockouts out of the way of tests about something else.
LOCKOUT_LOOSE = "{pair: {failures: 50}, identity: {failures: 50}}"
LOCKOUT_OFF = ("{pair: {failures: 0}, identity: {failures: 0}, "
               "address: {identities: 0, tarpit_after: 0}}")


def auth_yaml(pwfile, **kw):
    opts = {"password_file": str(pwfile), "tarpit": "100ms",
            "lockout": LOCKOUT_LOOSE, "empty_client_id": "assign"}
    opts.update({k: str(v) for k, v in kw.items()})
    return "auth:\n" + "".join(f"  {k}: {v}\n" for k, v in opts.items())


@pytest.fixture
def pguard(guard_factory, broker, pwfile):
    return guard_factory(broker.port, plain=True, auth=auth_yaml(pwfile))


def raw_connack(port, frame):
    """Sends one CONNECT; returns the proxy's whole answer."""
    return reply(plain_socket(port), frame)


def creds(user=None, pw=None):
    flags, payload = 0x02, b""
    if user is not None:
        flags |= 0x80
        payload += mqtt_str(user.encode())
    if pw is not None:
        flags |= 0x40
        payload += mqtt_str(pw.encode())
    return flags, payload


@pytest.mark.parametrize("user,pw,v3,v5", [
    ("alice", "wrong-Zq9", 0x04, 0x86),  # bad password
    ("mallory", "guess-Zq9", 0x04, 0x86),  # unknown user
    (None, None, 0x05, 0x87),            # anonymous, not allowed
    ("alice", None, 0x04, 0x86),         # username without password
    ("a+b", "guess-Zq9", 0x04, 0x86),    # wildcard in the username
])
def test_refused_credentials_exact_codes(pguard, broker, user, pw, v3, v5):
    before = broker.connections()
    flags, payload = creds(user, pw)
    got = raw_connack(pguard.plain_port,
                      connect(level=4, cid=b"c1", flags=flags,
                              payload=payload))
    assert got == bytes([0x20, 2, 0, v3])
    got = raw_connack(pguard.plain_port,
                      connect(level=5, cid=b"c1", flags=flags,
                              payload=payload))
    assert got == bytes([0x20, 3, 0, v5, 0])
    assert broker.connections() == before   # the broker never saw them
    log = pguard.log()
    assert "auth:" in log and "refused" in log
    if pw:
        assert pw not in log                 # never a password in a log


@pytest.mark.parametrize("v5", [False, True])
def test_right_password_reaches_broker_as_identity(pguard, broker, v5):
    c = Paho(pguard, f"alice-{int(v5)}", v5=v5, user="alice",
             password="alice-pw")
    assert c.connect() == 0
    c.subscribe("t/auth")
    c.publish("t/auth", b"hi", qos=1)
    assert c.get().payload == b"hi"
    c.close()
    # Mosquitto logs the username it received: the identity.
    assert re.search(rf"as alice-{int(v5)} \(p[25], c1, k30, u'alice'\)",
                     broker.log())
    assert "accepted identity \"alice\"" in pguard.log()
    assert "alice-pw" not in pguard.log()


def test_mosquitto_clients_with_password(pguard, broker):
    r = pub(pguard, "-u", "bob", "-P", "bob-pw", "-t", "t/x", "-m", "m")
    assert r.returncode == 0, r.stderr
    r = pub(pguard, "-u", "bob", "-P", "nope", "-t", "t/x", "-m", "m")
    assert r.returncode != 0
    assert b"not authorised" in r.stderr.lower() or \
        b"bad user" in r.stderr.lower() or r.returncode != 0


def test_password_stripped_or_replaced_upstream(tmp_path, certs,
                                                guard_factory, pwfile):
    """A broker that itself requires alice's password: with the default
    (strip), the client's password never reaches it, so it refuses; with an
    upstream password file, the broker accepts the proxy's credential."""
    bdir = tmp_path / "strict"
    bdir.mkdir()
    bpw = passwd_file(bdir / "broker.passwd", ["alice"])
    strict = Broker(bdir, extra=f"allow_anonymous false\n"
                    f"password_file {bpw}\n")
    try:
        stripped = guard_factory(strict.port, auth=auth_yaml(pwfile))
        c = Paho(stripped, "strip", user="alice", password="alice-pw")
        # The proxy accepts alice; the broker, without a password, refuses.
        assert c.connect() == 5
        c.c.loop_stop()
        assert "accepted identity \"alice\"" in stripped.log()

        secret = tmp_path / "upstream.secret"
        secret.write_text("alice-pw\n")
        os.chmod(secret, 0o600)
        subprocess.run(["mosquitto_passwd", "-b", str(bpw), "alice",
                        "alice-pw"], check=True, timeout=30)
        replaced = guard_factory(strict.port, auth=auth_yaml(
            pwfile, upstream_password_file=secret))
        # bob's own password is checked by the proxy; the broker only
        # knows the upstream credential, which it gets for alice only.
        c = Paho(replaced, "replace", user="alice", password="alice-pw")
        assert c.connect() == 0
        c.close()
    finally:
        strict.stop()


def test_lockout_then_release(guard_factory, broker, pwfile):
    g = guard_factory(broker.port, plain=True, auth=auth_yaml(
        pwfile, lockout="{pair: {failures: 3, window: 1m, duration: 2s, "
        "max: 1h}}", tarpit=0))
    bad_f, bad_p = creds("alice", "wrong")
    good_f, good_p = creds("alice", "alice-pw")
    for _ in range(3):
        assert raw_connack(g.plain_port, connect(
            level=5, cid=b"x", flags=bad_f, payload=bad_p)) == \
            bytes([0x20, 3, 0, 0x86, 0])
    # Locked: even the right password is refused as banned...
    assert raw_connack(g.plain_port, connect(
        level=5, cid=b"x", flags=good_f, payload=good_p)) == \
        bytes([0x20, 3, 0, 0x8A, 0])
    assert raw_connack(g.plain_port, connect(
        level=4, cid=b"x", flags=good_f, payload=good_p)) == \
        bytes([0x20, 2, 0, 0x05])
    assert ('identity "alice" locked out from address 127.0.0.1 for 2s '
            '(scope pair)') in g.log()
    # ...until the lockout ends.
    time.sleep(2.5)
    assert raw_connack_ok(g.plain_port, good_f, good_p)


def raw_connack_ok(port, flags, payload, cid=b"ok"):
    s = plain_socket(port)
    got = mqtt_connect(s, cid, level=4, flags=flags, payload=payload)
    s.close()
    return got == b"\x20\x02\x00\x00"


def test_client_id_takeover_refused(pguard, broker):
    alice = Paho(pguard, "shared-id", user="alice", password="alice-pw")
    assert alice.connect() == 0
    alice.subscribe("t/still")
    bob = Paho(pguard, "shared-id", v5=True, user="bob", password="bob-pw")
    assert bob.connect() == 0x85
    bob.c.loop_stop()
    bob3 = Paho(pguard, "shared-id", user="bob", password="bob-pw")
    assert bob3.connect() == 0x02
    bob3.c.loop_stop()
    # alice was not kicked off: she still receives.
    r = pub(pguard, "-u", "bob", "-P", "bob-pw", "-t", "t/still", "-m",
            "still here")
    assert r.returncode == 0, r.stderr
    assert alice.get().payload == b"still here"
    assert not alice.disconnected.is_set()
    alice.close()
    assert "client id belongs to another user" in pguard.log()


def test_client_id_pattern_and_wildcards(guard_factory, broker, pwfile):
    g = guard_factory(broker.port, plain=True, auth=auth_yaml(
        pwfile, client_id_pattern='"%u-*"'))
    f, p = creds("alice", "alice-pw")
    assert raw_connack_ok(g.plain_port, f, p, cid=b"alice-1")
    assert raw_connack(g.plain_port, connect(cid=b"bob-1", flags=f,
                                             payload=p)) == \
        bytes([0x20, 2, 0, 0x02])
    assert raw_connack(g.plain_port, connect(level=5, cid=b"alice-#",
                                             flags=f, payload=p)) == \
        bytes([0x20, 3, 0, 0x85, 0])


def test_enhanced_auth_refused(pguard, broker):
    props = b"\x15" + mqtt_str(b"SCRAM-SHA-1")
    assert raw_connack(pguard.plain_port, connect(level=5, props=props)) == \
        bytes([0x20, 3, 0, 0x8C, 0])


# ---- client certificates ---------------------------------------------

@pytest.fixture
def cguard(guard_factory, broker, pwfile):
    return guard_factory(broker.port, auth=auth_yaml(pwfile),
                         listener_extra="    client_certificates: optional\n"
                         "    authentication: either\n")


def test_client_certificate_identity(cguard, broker, certs):
    c = Paho(cguard, "by-cert", cert=(certs / "client.crt",
                                      certs / "client.key"))
    assert c.connect() == 0
    c.close()
    assert re.search(r"as by-cert \(p2, c1, k30, u'client1'\)", broker.log())
    assert "accepted identity \"client1\" (certificate)" in cguard.log()
    # Without a certificate, "either" falls back to the password.
    c = Paho(cguard, "by-pw", user="alice", password="alice-pw")
    assert c.connect() == 0
    c.close()


@pytest.mark.parametrize("name,why", [
    ("other-client", "unable to get local issuer certificate"),
    ("expired-client", "certificate has expired"),
])
def test_bad_client_certificates_fail_handshake(cguard, broker, certs, name,
                                               why):
    before = broker.connections()
    r = pub(cguard, "--cert", str(certs / f"{name}.crt"), "--key",
            str(certs / f"{name}.key"), "-t", "t/x", "-m", "no")
    assert r.returncode != 0
    # The harness's own port probe also logs a failed handshake: wait
    # for this one's reason.
    wait_until(lambda: why in cguard.log(),
               what="the handshake failure log")
    assert broker.connections() == before


def test_unmapped_certificate_identity(guard_factory, broker, pwfile, certs):
    g = guard_factory(broker.port, auth=auth_yaml(
        pwfile, certificate_identity="san-email"),
        listener_extra="    client_certificates: require\n"
        "    authentication: certificate\n")
    c = Paho(g, "no-email", v5=True, cert=(certs / "client.crt",
                                           certs / "client.key"))
    assert c.connect() == 0x87
    c.c.loop_stop()
    assert "not mapped to an identity" in g.log()
    # require: no certificate, no handshake.
    r = pub(g, "-t", "t/x", "-m", "no")
    assert r.returncode != 0


# ---- the passwd subcommand and the flood -------------------------------

def test_passwd_subcommand_file_is_used(guard_factory, broker, tmp_path):
    f = tmp_path / "made.passwd"
    r = run_mqttguard("passwd", "-c", "-i", "1000", "--stdin", str(f),
                      "carol", input=b"carol-pw\n", timeout=30)
    assert r.returncode == 0, r.stderr
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    assert f.read_text().startswith("carol:$7$1000$")
    g = guard_factory(broker.port, auth=auth_yaml(f))
    c = Paho(g, "carol-1", user="carol", password="carol-pw")
    assert c.connect() == 0
    c.close()


def test_wrong_password_flood_does_not_starve_a_legit_client(
        guard_factory, broker, pwfile):
    """127.0.0.2 fires wrong-password CONNECTs as fast as it can, with the
    lockout off so that every one costs a real hash (210 000 PBKDF2
    rounds); a client from 127.0.0.1 still connects and publishes, because
    one address may only queue AUTH_PENDING_PER_ADDR checks.  The legit
    client's connect latency is printed (not asserted: machines are
    noisy)."""
    strong = pwfile.parent / "strong.passwd"
    for i, (u, pw) in enumerate(USERS.items()):
        r = run_mqttguard("passwd", *(["-c"] if i == 0 else []), "--stdin",
                          str(strong), u, input=pw.encode() + b"\n",
                          timeout=60)
        assert r.returncode == 0, r.stderr
    g = guard_factory(broker.port, plain=True, auth=auth_yaml(
        strong, lockout=LOCKOUT_OFF, tarpit=0))
    stop = threading.Event()
    attempts = [0]
    f, p = creds("bob", "guess")
    frame = connect(cid=b"m", flags=f, payload=p)

    def flood():
        while not stop.is_set():
            try:
                s = plain_socket(g.plain_port, "127.0.0.2", timeout=5)
                s.sendall(frame)
                s.recv(8)
                s.close()
                attempts[0] += 1
            except OSError:
                pass

    threads = [threading.Thread(target=flood) for _ in range(16)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        lat = []
        for i in range(5):
            t0 = time.monotonic()
            c = paho_as(g, "alice", f"legit-{i}")
            lat.append(time.monotonic() - t0)
            c.publish("t/legit", b"ok", qos=1)
            c.close()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    lat.sort()
    busy = len(re.findall(r"auth: session .* refused .*too many password "
                          r"checks pending", g.log()))
    print(f"\nflood: {attempts[0]} wrong-password CONNECTs answered "
          f"({busy} as busy); legit connect latency median "
          f"{lat[2] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    assert attempts[0] > 0
    assert busy > 0          # the attacker was held to its share
