# SPDX-License-Identifier: ISC
"""Reloading the whole policy (SIGHUP, watch) under established sessions,
in front of a real Mosquitto: a changed ACL applies to a session's next
frame without a reconnect, a new user may log in, a removed user's session
ends with DISCONNECT 0x98 while another's traffic flows on with no QoS 1
message lost, a broken policy keeps the old one, a ConfigMap-style
symlink swap is seen by watch, and listeners come and go."""
import os
import signal
import threading
import time

import pytest

from helpers import (TIMEOUT, Paho, accepted, free_port, http_get, login,
                     metric, paho_as,
                     passwd_file, password, port_open, read_until_closed,
                     wait_until)

# paho 1.6 drops a 5.0 DISCONNECT's reason code when the packet has no
# properties, so the reason codes are read from raw sessions.
DISCONNECT_0x98 = b"\xe0\x01\x98"    # administrative action
DISCONNECT_0x8B = b"\xe0\x01\x8b"    # server shutting down

RULES_V1 = """acl:
  rules:
    - allow: all
      topic: "t/#"
"""

# alice may only publish t/ok and t/hidden; bob reads t/# but not
# t/hidden.
RULES_V2 = """acl:
  rules:
    - allow: publish
      topic: "t/ok"
      users: [alice]
    - allow: publish
      topic: "t/hidden"
      users: [alice]
    - allow: [subscribe, read]
      topic: "t/#"
      users: [bob]
    - deny: read
      topic: "t/hidden"
      users: [bob]
"""


def auth(pw):
    return (f"auth:\n  password_file: {pw}\n  tarpit: 0\n"
            "  empty_client_id: assign\n")


def reload(g, done=1):
    """SIGHUP; waits for the <done>th "policy reloaded" or failure line."""
    before = g.log().count("SIGHUP: policy reload")
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: g.log().count("SIGHUP: policy reload") > before,
               what="the reload to be logged")
    # Every worker has applied it once it says so.
    wait_until(lambda: g.log().count("policy in force") >= done or
               "reload failed" in g.log(), what="the workers to apply it")


def rewrite(g, old, new):
    text = g.policy.read_text()
    assert old in text
    g.policy.write_text(text.replace(old, new))


@pytest.fixture
def pw(tmp_path):
    return passwd_file(tmp_path / "users.passwd",
                       {"alice": "", "bob": "", "carol": ""})


def test_acl_change_applies_to_established_sessions(guard_factory, broker,
                                                   pw):
    g = guard_factory(broker.port, plain=True, auth=auth(pw),
                      extra=RULES_V1)
    alice = paho_as(g, "alice", "alice-1", v5=True)
    bob = paho_as(g, "bob", "bob-1", v5=True)
    bob.subscribe("t/#", qos=1)
    alice.publish("t/x", b"before", qos=1)
    assert bob.get().payload == b"before"

    rewrite(g, RULES_V1, RULES_V2)
    reload(g)
    assert "policy in force: 2 sessions held to it, 0 closed" in g.log()
    # Alice's next PUBLISH to t/x is denied (5.0 PUBACK 0x87), never
    # reaching the broker; t/ok and t/hidden pass.
    info = alice.publish("t/x", b"after", qos=1)
    assert info.rc == 0        # paho queued it; the PUBACK says no
    wait_until(lambda: "publish denied to \"alice\"" in g.log(),
               what="the denial")
    alice.publish("t/hidden", b"hidden", qos=1)
    alice.publish("t/ok", b"ok", qos=1)
    # Bob's next delivery of t/hidden is filtered; t/ok arrives.
    assert bob.get().payload == b"ok"
    assert "read denied to \"bob\"" in g.log()
    time.sleep(0.3)
    assert bob.messages.empty()
    received = [x for x in broker.log().splitlines()
                if "Received PUBLISH from alice-1" in x]
    assert [x for x in received if "'t/x'" in x] == received[:1], received
    assert len(received) == 3, received     # t/x before; t/hidden, t/ok
    # Neither session was dropped or reconnected.
    assert not alice.disconnected.is_set()
    assert not bob.disconnected.is_set()
    assert g.log().count("auth: session") == 2
    alice.close()
    bob.close()


def test_new_user_logs_in_after_reload(guard_factory, broker, tmp_path):
    pwf = passwd_file(tmp_path / "p.passwd", {"alice": ""})
    g = guard_factory(broker.port, plain=True, auth=auth(pwf))
    dave = Paho(g, "dave-1", port=g.plain_port, tls=False, user="dave",
                password="dave-pw")
    assert dave.connect() != 0            # unknown user: refused
    dave.close()
    passwd_file(pwf, {"alice": "", "dave": ""})
    reload(g)
    c = paho_as(g, "dave", "dave-2")
    c.publish("d/x", b"hello", qos=1)
    c.close()


def test_removed_user_closed_0x98_others_flow(guard_factory, broker, pw):
    g = guard_factory(broker.port, plain=True, auth=auth(pw))
    alice, connack = login(g, "alice", "alice-1", level=5)
    assert accepted(connack)
    bob = paho_as(g, "bob", "bob-1", v5=True)
    carol = paho_as(g, "carol", "carol-1", v5=True)
    carol.subscribe("flow/#", qos=1)

    n = 400
    sent = threading.Event()

    def stream():
        for i in range(n):
            bob.publish("flow/b", b"%d" % i, qos=1)
        sent.set()

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.1)
    passwd_file(pw, {"bob": "", "carol": ""})      # alice removed
    reload(g)
    t.join(TIMEOUT * 3)
    assert sent.is_set()
    # Alice was told why: 0x98 administrative action.
    assert read_until_closed(alice) == DISCONNECT_0x98
    assert "identity \"alice\" client_id \"alice-1\" no longer allowed" \
        in g.log()
    got = [carol.get().payload for _ in range(n)]
    assert got == [b"%d" % i for i in range(n)]
    assert not bob.disconnected.is_set()
    assert not carol.disconnected.is_set()
    bob.close()
    carol.close()


def test_broken_policy_keeps_the_old_one(guard_factory, broker, pw):
    g = guard_factory(broker.port, plain=True, auth=auth(pw), admin=True,
                      extra=RULES_V1)
    alice = paho_as(g, "alice", "alice-1")
    alice.subscribe("t/#", qos=1)
    good = g.policy.read_text()
    # Line 3 of an acl rule names an undeclared group: refused with
    # its place; then a YAML syntax error.
    g.policy.write_text(good.replace(
        '      topic: "t/#"\n', '      topic: "t/#"\n      groups: [nope]\n'))
    reload(g)
    assert "SIGHUP: policy reload failed: " in g.log()
    assert "group \"nope\" is not declared in acl.groups" in g.log()
    line = next(x for x in g.log().splitlines()
                if "is not declared in acl.groups" in x)
    assert f"{g.policy}:" in line, line
    g.policy.write_text(good + "limits: [\n")
    reload(g)
    assert g.log().count("SIGHUP: policy reload failed: ") == 2
    assert g.proc.poll() is None
    # The old policy is in force, for the old session and a new one.
    alice.publish("t/a", b"still", qos=1)
    assert alice.get().payload == b"still"
    bob = paho_as(g, "bob", "bob-1")
    bob.publish("t/b", b"new session", qos=1)
    assert alice.get().payload == b"new session"
    assert "policy in force" not in g.log()
    # Counted, for an alert on failed reloads.
    status, _, body = http_get(g.admin_port, "/metrics")
    assert metric(body, 'mqttguard_reloads_total{result="failure"}') == 2
    assert metric(body, 'mqttguard_reloads_total{result="success"}') == 0
    alice.close()
    bob.close()


def test_watch_sees_a_configmap_symlink_swap(guard_factory, broker, pw,
                                            tmp_path):
    """Kubernetes mounts a ConfigMap as policy.yaml -> ..data/policy.yaml,
    ..data -> ..<timestamp>; an update swaps ..data atomically."""
    g = guard_factory(broker.port, plain=True, auth=auth(pw),
                      extra=RULES_V1 + "watch: true\n")
    live = g.policy.read_text()
    g.stop()
    cm = tmp_path / "cm"
    v1 = cm / "..2026_12_03_v1"
    v1.mkdir(parents=True)
    (v1 / "policy.yaml").write_text(live)
    os.symlink(v1.name, cm / "..data")
    os.symlink("..data/policy.yaml", cm / "policy.yaml")
    g.policy = cm / "policy.yaml"
    g.respawn()
    assert "watch: reloading when a file of the policy changes" in g.log()
    alice = paho_as(g, "alice", "alice-1")

    v2 = cm / "..2026_12_03_v2"
    v2.mkdir()
    (v2 / "policy.yaml").write_text(live.replace(RULES_V1, RULES_V2))
    os.symlink(v2.name, cm / "..data_tmp")
    os.rename(cm / "..data_tmp", cm / "..data")
    wait_until(lambda: "watch: files changed: policy reloaded" in g.log(),
               what="the watch to pick up the swap")
    wait_until(lambda: "policy in force" in g.log(), what="the workers")
    # RULES_V2 lets alice publish t/ok only: t/x is denied now.
    alice.publish("t/x", b"x", qos=1)
    wait_until(lambda: "publish denied to \"alice\"" in g.log(),
               what="the new ACL")
    alice.close()


def test_listener_added_and_removed(guard_factory, broker, pw):
    g = guard_factory(broker.port, plain=True, auth=auth(pw))
    old_port = g.plain_port
    c, connack = login(g, "alice", "alice-1", level=5)
    assert accepted(connack)
    new_port = free_port()
    rewrite(g, f"    port: {old_port}\n", f"    port: {new_port}\n")
    reload(g)
    # The session of the removed listener was told the server is going.
    assert read_until_closed(c) == DISCONNECT_0x8B
    wait_until(lambda: port_open(new_port), what="the new listener")
    assert not port_open(old_port)
    g.plain_port = new_port
    d = paho_as(g, "bob", "bob-1")
    d.publish("x", b"on the new listener", qos=1)
    d.close()
    # The TLS listener, kept, still works.
    t = Paho(g, "carol-tls", user="carol", password=password("carol"))
    assert t.connect() == 0
    t.close()


def test_certificate_revoked_by_reload_closes_its_session(guard_factory,
                                                         broker, certs):
    """A session authenticated by a client certificate that a CRL added by
    a reload revokes is closed; another certificate's session goes on."""
    g = guard_factory(broker.port,
                      listener_extra="    client_certificates: require\n"
                      "    authentication: certificate\n")
    doomed = Paho(g, "revoked-1", cert=(certs / "revoked-client.crt",
                                        certs / "revoked-client.key"))
    assert doomed.connect() == 0
    fine = Paho(g, "client1-1", cert=(certs / "client.crt",
                                      certs / "client.key"))
    assert fine.connect() == 0
    fine.subscribe("c/#", qos=1)
    rewrite(g, "  ca: ", f"  crl: {certs}/ca.crl\n  ca: ")
    reload(g)
    assert doomed.disconnected.wait(TIMEOUT)
    assert "identity \"revoked\" client_id \"revoked-1\" no longer " \
        "allowed: client certificate: certificate revoked" in g.log()
    fine.publish("c/x", b"still here", qos=1)
    assert fine.get().payload == b"still here"
    assert not fine.disconnected.is_set()
    fine.close()


def test_failing_policy_tests_refuse_the_reload(guard_factory, broker, pw):
    g = guard_factory(broker.port, plain=True, auth=auth(pw),
                      extra=RULES_V1)
    rewrite(g, RULES_V1, RULES_V1 + "tests:\n  - user: alice\n"
            "    action: publish\n    topic: t/x\n    expect: deny\n")
    reload(g)
    assert "SIGHUP: policy reload failed: " in g.log()
    assert "1 of the policy's tests fail" in g.log()
    c = paho_as(g, "alice", "alice-1")
    c.subscribe("t/#", qos=1)
    c.publish("t/x", b"allowed as before", qos=1)
    assert c.get().payload == b"allowed as before"
    c.close()
