# SPDX-License-Identifier: ISC
"""The ACL tools of the command line: `mqttguard acl check` (answers and
exit codes), `mqttguard lint` (a deliberately bad policy warns, a good one
is clean), `mqttguard import-acl` (its output gives the answers a real
Mosquitto 2.0 gives with the same acl_file), and `mqttguard -t` running a
policy's tests."""
import os
import time

import pytest

from helpers import (TIMEOUT, Broker, Paho, free_port, passwd_file,
                     run_mqttguard, wait_until)


def run(*args):
    return run_mqttguard(*args, text=True)


ACL_ONLY = """acl:
  groups:
    ops: [olga]
  rules:
    - allow: publish
      topic: "sensors/%u/#"
    - allow: [subscribe, read]
      topic: "sensors/#"
      groups: [ops]
    - deny: all
      topic: "sensors/+/secret"
    - allow: read
      topic: "clients/%c/inbox"
    - allow: publish
      topic: "public/#"
      users: [guest]
"""


@pytest.fixture
def acl_only(tmp_path):
    p = tmp_path / "acl.yaml"
    p.write_text(ACL_ONLY)
    return p


@pytest.mark.parametrize("args,rc,out", [
    (["--user", "s1", "publish", "sensors/s1/temp"], 0,
     ':5: allow publish "sensors/%u/#" to everyone'),
    (["--user", "s1", "publish", "sensors/s2/temp"], 1,
     "deny: default deny (no rule matches)"),
    (["--user", "s1", "publish", "sensors/s1/secret"], 1,
     ':10: deny all "sensors/+/secret" for everyone'),
    (["--user", "olga", "subscribe", "sensors/+/temp"], 0,
     ':7: allow subscribe, read "sensors/#" to group ops'),
    (["--user", "olga", "subscribe", "#"], 1,
     "deny: default deny"),
    (["--user", "olga", "subscribe", "$share/g/sensors/#"], 0,
     ':7: allow subscribe, read "sensors/#" to group ops'),
    (["--user", "x", "--client-id", "dev-1", "read", "clients/dev-1/inbox"],
     0, ':12: allow read "clients/%c/inbox" to everyone'),
    (["--user", "x", "--client-id", "dev-2", "read", "clients/dev-1/inbox"],
     1, "deny: default deny"),
    (["--anonymous", "publish", "sensors/anonymous/t"], 0,
     ':5: allow publish "sensors/%u/#" to everyone'),
    (["--user", "guest", "publish", "public/x"], 0,
     ':14: allow publish "public/#" to user guest'),
])
def test_acl_check_answers(acl_only, args, rc, out):
    r = run("acl", "check", "-c", str(acl_only), *args)
    assert r.returncode == rc, r.stdout + r.stderr
    assert out in r.stdout
    assert r.stdout.startswith("allow: " if rc == 0 else "deny: ")
    if ":" in out[:4]:
        assert r.stdout.split(":")[1] == f" {acl_only}"


@pytest.mark.parametrize("args,msg", [
    (["--user", "u", "publish", "a/+"], "not a valid topic name"),
    (["--user", "u", "subscribe", "a/#/b"], "not a valid topic filter"),
    (["--user", "u", "write", "a"], "is not publish, subscribe or read"),
    (["--user", "u", "--anonymous", "publish", "a"], "usage"),
    (["publish", "a"], "usage"),
    (["--user", "u", "publish"], "usage"),
])
def test_acl_check_usage_errors(acl_only, args, msg):
    r = run("acl", "check", "-c", str(acl_only), *args)
    assert r.returncode == 2
    assert msg in r.stderr


def test_acl_check_policy_errors(tmp_path):
    r = run("acl", "check", "-c", str(tmp_path / "none.yaml"), "--user", "u",
            "publish", "a")
    assert r.returncode == 2 and "No such file" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text('acl:\n  rules:\n    - allow: all\n      topic: "a/#/b"\n')
    r = run("acl", "check", "-c", str(bad), "--user", "u", "publish", "a")
    assert r.returncode == 2
    assert f"{bad}:4:14: acl.rules[0].topic: '#' must be the last level" \
        in r.stderr
    # No acl section: every topic is allowed, and the answer says so.
    none = tmp_path / "open.yaml"
    none.write_text("log:\n  level: info\n")
    r = run("acl", "check", "-c", str(none), "--user", "u", "publish", "x")
    assert r.returncode == 0 and "no acl section" in r.stdout


def test_lint_bad_policy(tmp_path):
    passwd_file(tmp_path / "users.passwd", ["alice", "bob", "carol"])
    policy = tmp_path / "policy.yaml"
    policy.write_text("""auth:
  password_file: users.passwd
  anonymous: true
acl:
  groups:
    staff: [alice, bob]
    nobody: []
    unused: [carol]
  rules:
    - allow: all
      topic: "#"
    - allow: read
      topic: "+/#"
      users: [alice]
    - allow: publish
      topic: "a/b"
    - allow: publish
      topic: "a/b"
    - deny: all
      topic: "c/#"
    - allow: read
      topic: "c"
      groups: [staff]
    - allow: read
      topic: "ghost/x"
      users: [ghost]
    - allow: read
      topic: "void/x"
      groups: [nobody]
    - allow: publish
      topic: "anon/x"
      users: [anonymous]
""")
    os.chmod(policy, 0o664)
    r = run("lint", "-c", str(policy))
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    p = str(policy)
    for want in [
        f"{p}: warning: the policy file is writable by its group",
        f'{p}:8: warning: group "unused" is declared but no rule names it',
        f'{p}:10: warning: allows publish, subscribe, read on "#" to '
        "everyone",
        f'{p}:10: warning: gives publish on "#" to everyone while '
        "auth.anonymous is true",
        f'{p}:12: warning: allows read on "+/#" to users or groups not '
        "marked admin: true",
        f"{p}:17: warning: rule is redundant: the allow at {p}:15 "
        '("a/b") already allows everything it does',
        f"{p}:21: warning: rule never decides: the deny at {p}:19 "
        '("c/#") covers it at equal specificity, and deny wins ties',
        f'{p}:24: warning: user "ghost" is not in the password file nor '
        "the anonymous identity",
        f'{p}:27: warning: group "nobody" has no members',
        f'{p}:30: warning: gives publish on "anon/x" to the anonymous '
        "identity",
    ]:
        assert want in out, f"missing: {want}\n{out}"
    # One line per finding, each naming the policy file.
    assert all(line.startswith(p) for line in out.splitlines())


def test_lint_users_without_rules_and_no_acl(tmp_path):
    passwd_file(tmp_path / "users.passwd", ["alice", "bob"])
    policy = tmp_path / "policy.yaml"
    policy.write_text("auth:\n  password_file: users.passwd\nacl:\n"
                      "  rules:\n    - allow: all\n      topic: \"a/#\"\n"
                      "      users: [alice]\n")
    os.chmod(policy, 0o644)
    r = run("lint", "-c", str(policy))
    assert r.returncode == 1
    assert (f'{tmp_path}/users.passwd:2: warning: user "bob" has no rule'
            in r.stdout), r.stdout
    assert '"alice" has no rule' not in r.stdout
    open_policy = tmp_path / "open.yaml"
    open_policy.write_text("log:\n  level: info\n")
    os.chmod(open_policy, 0o644)
    r = run("lint", "-c", str(open_policy))
    assert r.returncode == 1
    assert r.stdout == (f"{open_policy}: warning: no acl section: every "
                        "client may publish and subscribe to every topic "
                        "(mqttguard import-acl converts a Mosquitto "
                        "acl_file)\n")


def test_lint_clean_policy(tmp_path):
    passwd_file(tmp_path / "users.passwd", ["sensor1", "olga"])
    policy = tmp_path / "policy.yaml"
    policy.write_text("""auth:
  password_file: users.passwd
acl:
  groups:
    ops: [olga]
  rules:
    - allow: publish
      topic: "sensors/%u/#"
      users: [sensor1]
    - allow: [subscribe, read]
      topic: "sensors/#"
      groups: [ops]
""")
    os.chmod(policy, 0o640)
    r = run("lint", "-c", str(policy))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
    assert "no warnings" in r.stderr
    r = run("lint", "-c", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2


def test_policy_tests_run_by_t(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(ACL_ONLY + """tests:
  - {user: s1, action: publish, topic: sensors/s1/t, expect: allow}
  - {user: olga, action: subscribe, topic: "sensors/#", expect: allow}
  - {anonymous: true, client_id: c9, action: read, topic: clients/c9/inbox,
     expect: allow}
""")
    r = run("-t", "-c", str(policy))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "acl OK (5 rules" in r.stdout
    assert "3 policy tests, 0 failed" in r.stdout
    with open(policy, "a") as f:
        f.write("  - {user: s1, action: publish, topic: sensors/s2/t, "
                "expect: allow}\n"
                "  - {user: s1, action: read, topic: sensors/s1/secret, "
                "expect: allow}\n")
    r = run("-t", "-c", str(policy))
    assert r.returncode == 2
    assert (f'{policy}:22: test failed: user s1 publish "sensors/s2/t": '
            "expected allow, got deny by default deny (no rule matches)"
            in r.stdout), r.stdout
    assert (f'{policy}:23: test failed: user s1 read "sensors/s1/secret": '
            f"expected allow, got deny by {policy}:10: deny all "
            '"sensors/+/secret" for everyone' in r.stdout), r.stdout
    assert "5 policy tests, 2 failed" in r.stdout


def test_t_on_a_full_policy_keeps_its_checks(tmp_path, certs):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""listeners:
  - address: 127.0.0.1
    port: {free_port()}
tls:
  cert: {certs}/server.crt
  key: {certs}/server.key
upstream:
  host: 127.0.0.1
  port: 1883
auth:
  anonymous: true
acl:
  rules:
    - allow: all
      topic: "x/#"
tests:
  - {{anonymous: true, action: publish, topic: x/y, expect: allow}}
""")
    r = run("-t", "-c", str(policy))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "policy OK (1 listener" in r.stdout
    assert "1 policy test, 0 failed" in r.stdout
    # Half a policy is not an acl-only file: both halves are required.
    half = tmp_path / "half.yaml"
    half.write_text("upstream:\n  host: 127.0.0.1\n  port: 1883\n"
                    "acl:\n  rules: []\n")
    r = run("-t", "-c", str(half))
    assert r.returncode == 2
    assert "listeners: required key is missing" in r.stderr
    # The TLS material is still checked by -t.
    bad = tmp_path / "badtls.yaml"
    bad.write_text(policy.read_text().replace("server.key", "client.key"))
    r = run("-t", "-c", str(bad))
    assert r.returncode == 2


# ---- import-acl against a real Mosquitto ----------------------------------

MOSQ_ACL = """# Clients without a username.
topic read public/#
topic write public/inbox
topic deny public/private/#

user alice
topic readwrite alice/#
topic deny alice/locked
topic read shared/+/status

user bob
topic bob/#
topic write shared/bob/status

user dave
topic deny sensors/#
topic read sensors/dave/humidity

pattern readwrite devices/%u/#
pattern deny devices/+/secret
pattern read clients/%c/#
pattern read sensors/%u/temp
# For the test's own synchronisation.
pattern write sync/%c
pattern read sync/#
"""

CASES = {
    None: ["public/news", "public/inbox", "public/private/x", "alice/x",
           "devices/anonymous/x", "clients/CID/x", "clients/other/x",
           "sensors/anonymous/temp"],
    "alice": ["alice/x", "alice/locked", "shared/a/status",
              "shared/bob/status", "devices/alice/t", "devices/alice/secret",
              "devices/bob/t", "public/news", "clients/CID/x",
              "sensors/alice/temp"],
    "bob": ["bob/x", "shared/bob/status", "shared/x/status",
            "devices/bob/secret", "devices/bob/t", "alice/x"],
    "dave": ["sensors/dave/humidity", "sensors/dave/temp", "sensors/x",
             "devices/dave/t"],
    "carol": ["devices/carol/t", "clients/CID/y", "public/news",
              "sensors/carol/temp", "carol/x"],
}


class TwoListenerBroker(Broker):
    """Mosquitto 2.0 with the acl_file on one listener and nothing on the
    other (per_listener_settings), for an observer that sees everything."""

    def __init__(self, tmp, acl):
        self.port, self.open_port = free_port(), free_port()
        self.logfile = tmp / "mosquitto.log"
        self.start(
            tmp / "mosquitto.conf",
            "per_listener_settings true\n"
            "persistence false\nuser root\nmax_queued_messages 0\n"
            f"log_dest file {self.logfile}\nlog_type all\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"acl_file {acl}\n"
            f"listener {self.open_port} 127.0.0.1\nallow_anonymous true\n",
            [self.port, self.open_port])


def drain_until(client, sync_topic):
    """Topics received until <sync_topic> arrives."""
    got = []
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        m = client.get(timeout=TIMEOUT)
        if m.topic == sync_topic:
            return got
        got.append(m.topic)
    raise AssertionError(f"{sync_topic} never arrived")


def published(broker, watcher, user, cid, topic):
    """Whether Mosquitto passes <user>'s PUBLISH to <topic> on.  One
    connection per topic: Mosquitto 2.0 closes a 3.1.1 client's connection
    on a denied PUBLISH (eclipse-mosquitto#2579, [MQTT-3.3.5-2])."""
    c = Paho(None, cid, port=broker.port, tls=False, user=user)
    assert c.connect() == 0
    c.c.publish(topic, b"p", qos=0)
    c.c.disconnect()
    # The broker has handled the PUBLISH once it has seen the client go.
    wait_until(lambda: f"Client {cid} disconnected" in broker.log() or
               f"on client {cid}:" in broker.log(),
               what=f"mosquitto to see {cid} go")
    c.c.loop_stop()
    sync = f"sync/watch/{cid}"
    watcher.publish(sync, b"s", qos=1)
    return topic in drain_until(watcher, sync)


def delivered(broker, watcher, user, cid, topics):
    """Which of <topics> Mosquitto delivers to <user>: its SUBSCRIBE to
    '#' is granted whatever the ACL, each delivery is checked for read."""
    c = Paho(None, cid, port=broker.port, tls=False, user=user)
    assert c.connect() == 0
    c.subscribe("#", qos=1)
    for t in topics:
        watcher.publish(t, b"r", qos=1)
    watcher.publish(f"sync/{cid}", b"s", qos=1)
    got = set(drain_until(c, f"sync/{cid}"))
    c.close()
    return {t: t in got for t in topics}


def test_import_acl_gives_mosquittos_answers(tmp_path):
    acl = tmp_path / "acl_file"
    acl.write_text(MOSQ_ACL)
    r = run("import-acl", str(acl))
    assert r.returncode == 0, r.stderr
    yaml = tmp_path / "acl.yaml"
    yaml.write_text(r.stdout)
    # The output is a policy of its own for the tools: -t, lint.
    r = run("-t", "-c", str(yaml))
    assert r.returncode == 0, r.stdout + r.stderr
    broker = TwoListenerBroker(tmp_path, acl)
    watcher = Paho(None, "watcher", port=broker.open_port, tls=False)
    try:
        assert watcher.connect() == 0
        watcher.subscribe("#", qos=1)
        asked = []
        for user, topics in CASES.items():
            for k, t in enumerate(topics):
                cid = f"p-{user or 'anon'}-{k}"
                t = t.replace("CID", cid)
                asked.append((user, cid, "publish", t,
                              published(broker, watcher, user, cid, t)))
            cid = f"r-{user or 'anon'}"
            ts = [t.replace("CID", cid) for t in topics]
            for t, ok in delivered(broker, watcher, user, cid, ts).items():
                asked.append((user, cid, "read", t, ok))
        differ = []
        for user, cid, action, t, theirs in asked:
            who = ["--user", user] if user else ["--anonymous"]
            r = run("acl", "check", "-c", str(yaml), *who, "--client-id",
                    cid, action, t)
            assert r.returncode in (0, 1), r.stderr
            if (r.returncode == 0) != theirs:
                differ.append(f"{user} {action} {t}: mqttguard "
                              f"{r.stdout.strip()}; Mosquitto "
                              f"{'allows' if theirs else 'denies'}")
        assert not differ, "\n".join(differ)
        # Both answers occur: the cases are not all one way.
        assert {a[4] for a in asked} == {True, False}
    finally:
        watcher.close()
        broker.stop()


def test_import_acl_errors(tmp_path):
    acl = tmp_path / "acl_file"
    acl.write_text("topic read ok\npattern read devices/dev-%u/#\n")
    r = run("import-acl", str(acl))
    assert r.returncode == 2 and r.stdout == ""
    assert f"{acl}:2: " in r.stderr and "must be a whole level" in r.stderr
    acl.write_text("user alice\ntopik read x\n")
    r = run("import-acl", str(acl))
    assert r.returncode == 2
    assert f"{acl}:2: not a topic, pattern or user line" in r.stderr
    r = run("import-acl")
    assert r.returncode == 2 and "usage" in r.stderr
    # Another identity for clients without a username.
    acl.write_text("topic read a\n")
    r = run("import-acl", "--anonymous-identity", "guest", str(acl))
    assert r.returncode == 0 and 'users: ["guest"]' in r.stdout
