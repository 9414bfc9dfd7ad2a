# SPDX-License-Identifier: ISC
"""Brute-force protection in front of a real Mosquitto: the three scopes
(identity@address, identity, address), what counts as a guess, the
known-device exemption, the growing tarpit of a spraying address, and the
verified-credential cache.  Clients come from 127.0.0.x source addresses:
each is another client address to the proxy."""
import signal
import subprocess
import time

import pytest

from helpers import (BIN, accepted, http_get, metric, mqtt_connect,
                     mqtt_str, passwd_file, password, plain_socket,
                     wait_until)

USERS = ["alice", "bob", "carol", "dave"]


@pytest.fixture
def pwfile(tmp_path):
    return passwd_file(tmp_path / "users.passwd", USERS)


def policy(pwfile, lockout="", tarpit="0", extra=""):
    return (f"auth:\n  password_file: {pwfile}\n  tarpit: {tarpit}\n"
            f"  empty_client_id: reject\n{extra}" +
            (f"  lockout:\n{lockout}" if lockout else ""))


def creds(user=None, pw=None):
    flags, payload = 0x02, b""
    if user is not None:
        flags |= 0x80
        payload += mqtt_str(user.encode())
    if pw is not None:
        flags |= 0x40
        payload += mqtt_str(pw.encode())
    return flags, payload


def attempt(g, addr, user=None, pw=None, cid=None, level=5):
    """One CONNECT from <addr> (client id <cid>, by default its own per
    user and address: a session just closed may still hold its id); returns
    (the CONNACK, seconds it took).  The connection is closed afterwards."""
    f, p = creds(user, pw)
    if cid is None:
        cid = f"{user or 'anon'}@{addr}".encode()
    s = plain_socket(g.plain_port, addr)
    t0 = time.monotonic()
    try:
        ack = mqtt_connect(s, cid, level=level, flags=f, payload=p)
    finally:
        s.close()
    return ack, time.monotonic() - t0


def code(ack):
    """The reason code of a 5.0 or 3.1.1 CONNACK."""
    return ack[3]


def scrape(g):
    status, _, body = http_get(g.admin_port, "/metrics")
    assert status == 200, body
    return body


def value(g, sample):
    v = metric(scrape(g), sample)
    return 0 if v is None else v


def test_mixed_refusals_do_not_lock_out_the_address(guard_factory, broker,
                                                    pwfile):
    """Behind one NAT address: anonymous clients, bad client ids and wrong
    passwords for two users (20 refusals) lock neither the address nor a
    third user; only the pairs guessed five times are locked."""
    g = guard_factory(broker.port, plain=True, auth=policy(pwfile))
    nat = "127.0.0.2"
    refused = []
    for i in range(5):
        refused.append(attempt(g, nat)[0])                        # anonymous
        refused.append(attempt(g, nat, "dave", "dave-pw", cid=b"")[0])
        refused.append(attempt(g, nat, "alice", f"wrong-{i}")[0])
        refused.append(attempt(g, nat, "bob", f"wrong-{i}")[0])
    assert len(refused) == 20
    assert sorted(set(code(a) for a in refused)) == [0x85, 0x86, 0x87]
    ack, _ = attempt(g, nat, "carol", "carol-pw")
    assert accepted(ack), ack
    ack, _ = attempt(g, nat, "dave", "dave-pw")
    assert accepted(ack), ack
    # alice@nat and bob@nat guessed five times: those pairs are locked,
    # with the banned code in both protocol levels...
    ack, _ = attempt(g, nat, "alice", "alice-pw")
    assert ack == bytes([0x20, 3, 0, 0x8A, 0])
    ack, _ = attempt(g, nat, "bob", "bob-pw", level=4)
    assert ack == bytes([0x20, 2, 0, 0x05])
    # ...and only those: alice from another address is not.
    ack, _ = attempt(g, "127.0.0.3", "alice", "alice-pw")
    assert accepted(ack), ack
    log = g.log()
    assert log.count("(scope pair)") == 2, log
    assert "(scope address)" not in log and "(scope identity)" not in log


def test_pair_lock_and_known_device(guard_factory, broker, pwfile):
    """Five wrong passwords for alice from A lock alice@A, not alice@B,
    and not alice@C where she logged in before (a known device)."""
    g = guard_factory(broker.port, plain=True, auth=policy(pwfile),
                      admin=True)
    a, b, c = "127.0.0.2", "127.0.0.3", "127.0.0.4"
    ack, _ = attempt(g, c, "alice", "alice-pw")
    assert accepted(ack), ack
    for i in range(5):
        ack, _ = attempt(g, a, "alice", f"wrong-{i}")
        assert code(ack) == 0x86
        ack, _ = attempt(g, c, "alice", f"wrong-{i}")
        assert code(ack) == 0x86
    ack, _ = attempt(g, a, "alice", "alice-pw")
    assert code(ack) == 0x8A, ack
    ack, _ = attempt(g, b, "alice", "alice-pw")
    assert accepted(ack), ack
    ack, _ = attempt(g, c, "alice", "alice-pw")
    assert accepted(ack), ack
    wait_until(lambda: 'identity "alice" locked out from address '
               f'{a} for 300s (scope pair)' in g.log(),
               what="the pair lockout line")
    assert value(g, 'mqttguard_auth_lockouts_total{scope="pair"}') == 1
    assert value(g, 'mqttguard_auth_lockouts_total{scope="address"}') == 0
    assert value(g, 'mqttguard_auth_lockouts_total{scope="identity"}') == 0


SPRAY = ("    address: {tarpit_after: 2, identities: 6, tarpit_max: 5s,\n"
         "              duration: 1m}\n")


def test_spraying_address_slowed_then_blocked(guard_factory, broker,
                                              pwfile):
    """An address guessing many identities: its answers wait longer with
    each new identity (a successful login from it too), then it is
    blocked; a known device behind it still gets in."""
    g = guard_factory(broker.port, plain=True, admin=True,
                      auth=policy(pwfile, SPRAY, tarpit="100ms"))
    spray = "127.0.0.5"
    ack, _ = attempt(g, spray, "dave", "dave-pw")     # a known device
    assert accepted(ack), ack
    delays = []
    for i in range(4):
        ack, took = attempt(g, spray, f"user{i}", "guess")
        assert code(ack) == 0x86
        delays.append(took)
    # Identities guessed before each answer: 0, 1, 2, 3; the tarpit is
    # 100ms up to tarpit_after (2), then 200ms, 400ms: doubling.
    # (The loop's cached clock may fire a timer a few ms early: 10% off.)
    for took, least in zip(delays, (0.1, 0.1, 0.2, 0.4)):
        assert took >= 0.9 * least, delays
    # A right password from the address, not a known device: accepted,
    # after the same wait (4 identities: 800ms), so waiting tells nothing.
    ack, took = attempt(g, spray, "carol", "carol-pw")
    assert accepted(ack) and took >= 0.9 * 0.8, (ack, took)
    ack, took = attempt(g, spray, "user4", "guess")
    assert code(ack) == 0x86 and took >= 0.9 * 0.8, took
    ack, took = attempt(g, spray, "user5", "guess")   # the sixth: blocked
    assert code(ack) == 0x86 and took >= 0.9 * 1.6, took
    assert delays[-1] > delays[0]
    # carol logged in from there above: a known device now, like dave.
    for who in ("user6", "bob", "alice"):
        ack, _ = attempt(g, spray, who, who + "-pw")
        assert code(ack) == 0x8A, (who, ack)
    ack, _ = attempt(g, spray, "dave", "dave-pw")
    assert accepted(ack), ack
    ack, _ = attempt(g, "127.0.0.6", "carol", "carol-pw")
    assert accepted(ack), ack
    assert f"auth: address {spray} blocked for 60s (scope address)" in \
        g.log()
    assert value(g, 'mqttguard_auth_lockouts_total{scope="address"}') == 1
    assert value(g, "mqttguard_auth_tarpit_total") >= 1


def login_ok(g, user, pw, addr="127.0.0.1"):
    ack, _ = attempt(g, addr, user, pw)
    return accepted(ack)


def test_credential_cache(guard_factory, broker, tmp_path):
    """A second login with the same password skips the hash; a wrong one
    still fails; a password file change and a reload invalidate it."""
    pw = tmp_path / "strong.passwd"
    for i, u in enumerate(("alice", "bob")):
        r = subprocess.run([BIN, "passwd", *(["-c"] if i == 0 else []),
                            "--stdin", str(pw), u],
                           input=password(u).encode() + b"\n",
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
    g = guard_factory(broker.port, plain=True, admin=True,
                      auth=policy(pw, extra="  cache_ttl: 10m\n"))
    hit = 'mqttguard_auth_cache_total{result="hit"}'
    miss = 'mqttguard_auth_cache_total{result="miss"}'
    assert login_ok(g, "alice", "alice-pw")
    assert (value(g, hit), value(g, miss)) == (0, 1)
    assert login_ok(g, "alice", "alice-pw", "127.0.0.7")
    assert (value(g, hit), value(g, miss)) == (1, 1)
    # A wrong password after a cached success goes to the hash, and fails.
    assert not login_ok(g, "alice", "alice-pw2")
    assert (value(g, hit), value(g, miss)) == (1, 2)
    assert login_ok(g, "alice", "alice-pw")
    assert (value(g, hit), value(g, miss)) == (2, 2)
    # alice's password changes in the file; a reload forgets the cache.
    r = subprocess.run([BIN, "passwd", "--stdin", str(pw), "alice"],
                       input=b"alice-new\n", capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    before = g.log().count("SIGHUP: policy reload")
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: g.log().count("SIGHUP: policy reload") > before,
               what="the reload")
    assert not login_ok(g, "alice", "alice-pw")
    assert login_ok(g, "alice", "alice-new")
    assert login_ok(g, "bob", "bob-pw")
    assert (value(g, hit), value(g, miss)) == (2, 5)
    assert login_ok(g, "alice", "alice-new")
    assert (value(g, hit), value(g, miss)) == (3, 5)


def test_credential_cache_off(guard_factory, broker, pwfile):
    """cache_ttl: 0 turns the cache off: every login is hashed."""
    g = guard_factory(broker.port, plain=True, admin=True,
                      auth=policy(pwfile, extra="  cache_ttl: 0\n"))
    for _ in range(3):
        assert login_ok(g, "alice", "alice-pw")
    assert value(g, 'mqttguard_auth_cache_total{result="hit"}') == 0
    assert value(g, 'mqttguard_auth_cache_total{result="miss"}') == 0
