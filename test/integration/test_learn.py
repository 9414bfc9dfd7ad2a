# SPDX-License-Identifier: ISC
"""Watch, learn, then enforce, without a restart, in front of a real
Mosquitto.

A fleet (50 devices publishing site/<site>/<device>/telemetry and
subscribing site/<site>/<device>/cmd, two dashboards reading
site/+/+/telemetry, one admin writing every device's cmd) runs through
mqttguard with audit.observe and no acl section.  `mqttguard learn`
proposes an acl section and tests from the observation file; the policy
with it passes `mqttguard -t`, `learn --diff` finds nothing it denies, and
once it is enforced by a reload the same traffic flows with no denial,
while a device publishing into another device's subtree is denied.

Monitor mode: a client doing what the ACL denies keeps working under
`mode: monitor`, each would-be denial logged once with its rule and
counted in /metrics; after a reload to `mode: enforce` the same client,
still connected, is denied."""
import json
import signal

from helpers import (TIMEOUT, Paho, http_get, login, metric, mqtt_connect,
                     mqtt_str, passwd_file, password, plain_socket, publish,
                     read_until_closed, run_mqttguard, wait_until)

SITES = 5
DEVICES = [f"dev-{i:03d}" for i in range(1, 51)]
DASHBOARDS = ["dash-a", "dash-b"]
ADMIN = "admin"


def site(dev):
    return f"s{int(dev[4:]) % SITES + 1}"


def auth(pw):
    return (f"auth:\n  password_file: {pw}\n  tarpit: 0\n"
            "  empty_client_id: assign\n")


def reload(g):
    """SIGHUP; waits until the reload is logged and in force."""
    before = g.log().count("SIGHUP: policy reload")
    done = g.log().count("policy in force")
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: g.log().count("SIGHUP: policy reload") > before,
               what="the reload to be logged")
    assert "reload failed" not in g.log(), g.log()
    wait_until(lambda: g.log().count("policy in force") > done,
               what="the workers to apply it")


def client(g, user, v5=False):
    c = Paho(g, f"c-{user}", v5=v5, port=g.plain_port, tls=False,
             user=user, password=password(user))
    assert c.connect() == 0
    return c


def drive(g):
    """The fleet's traffic once: every device's telemetry reaches both
    dashboards and every admin command reaches its device."""
    dashes = [client(g, d) for d in DASHBOARDS]
    for d in dashes:
        d.subscribe("site/+/+/telemetry", qos=1)
    admin = client(g, ADMIN)
    try:
        for dev in DEVICES:
            c = client(g, dev)
            try:
                c.subscribe(f"site/{site(dev)}/{dev}/cmd", qos=1)
                c.publish(f"site/{site(dev)}/{dev}/telemetry", b"21.5",
                          qos=1)
                admin.publish(f"site/{site(dev)}/{dev}/cmd", b"reboot",
                              qos=1)
                assert c.get().topic == f"site/{site(dev)}/{dev}/cmd"
            finally:
                c.close()
        for d in dashes:
            got = {d.get().topic for _ in DEVICES}
            assert got == {f"site/{site(v)}/{v}/telemetry"
                           for v in DEVICES}
    finally:
        admin.close()
        for d in dashes:
            d.close()


def denials(g):
    return g.log().count(" denied to ")


def test_observe_learn_enforce(guard_factory, broker, tmp_path):
    pw = passwd_file(tmp_path / "users.passwd",
                     DEVICES + DASHBOARDS + [ADMIN])
    obs = tmp_path / "observed.jsonl"
    # Two workers: each notes into its own table, merged at the flush.
    g = guard_factory(broker.port, plain=True, auth=auth(pw), workers=2,
                      extra=f"audit:\n  observe: true\n  file: {obs}\n"
                      "  flush_interval: 1s\n")
    drive(g)
    # 50 telemetry, 50 cmd subscriptions, 2 dashboards, 50 commands
    wait_until(lambda: obs.exists() and
               len(obs.read_text().splitlines()) >= 152,
               what="the observations to be flushed")
    assert oct(obs.stat().st_mode & 0o777) == "0o640"
    lines = [json.loads(x) for x in obs.read_text().splitlines()]
    assert len(lines) == 152
    tel = [x for x in lines if x["topic"].endswith("/telemetry") and
           x["action"] == "publish"]
    assert len(tel) == 50 and all(x["allowed"] == x["count"] == 1
                                  for x in tel)

    r = run_mqttguard("learn", str(obs))
    assert r.returncode == 0, r.stderr
    proposal = r.stdout.decode()
    assert "#\"" not in proposal and "$SYS" not in proposal
    assert 'topic: "site/s1/%u/telemetry"' in proposal
    assert 'topic: "site/+/+/telemetry"' in proposal
    assert "expect: deny" in proposal
    enforced = tmp_path / "enforced.yaml"
    enforced.write_text(g.policy.read_text() + proposal)
    r = run_mqttguard("-t", "-c", str(enforced))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b" 0 failed" in r.stdout + r.stderr
    r = run_mqttguard("learn", "--diff", "-c", str(enforced), str(obs))
    assert r.returncode == 0, r.stdout
    assert b"0 denied" in r.stdout

    # Enforce it: a reload, then the same traffic with no denial.
    g.policy.write_text(enforced.read_text())
    reload(g)
    assert denials(g) == 0
    drive(g)
    assert denials(g) == 0, g.log()

    # A device writing into another device's subtree is denied.
    dash = client(g, DASHBOARDS[0])
    dev = client(g, DEVICES[0])
    try:
        dash.subscribe("site/+/+/telemetry", qos=1)
        other = f"site/{site(DEVICES[1])}/{DEVICES[1]}/telemetry"
        dev.publish(other, b"forged", qos=1)
        wait_until(lambda: f'publish denied to "{DEVICES[0]}"' in g.log(),
                   what="the denial")
        dev.publish(f"site/{site(DEVICES[0])}/{DEVICES[0]}/telemetry",
                    b"own", qos=1)
        m = dash.get()
        assert m.payload == b"own", m.topic     # the forged one never came
    finally:
        dev.close()
        dash.close()
    g.stop()


MONITOR = """mode: {mode}
acl:
  rules:
    - allow: [subscribe, read]
      topic: "secret/#"
      users: [bob]
    - allow: publish
      topic: "ok/#"
    - deny: publish
      topic: "secret/#"
"""


def test_monitor_then_enforce(guard_factory, broker, tmp_path):
    pw = passwd_file(tmp_path / "users.passwd", ["alice", "bob"])
    g = guard_factory(broker.port, plain=True, auth=auth(pw), admin=True,
                      extra=MONITOR.format(mode="monitor"))
    line = next(i + 1 for i, x in enumerate(g.policy.read_text()
                                            .splitlines())
                if x.strip() == "- deny: publish")
    bob = client(g, "bob")
    alice = client(g, "alice", v5=True)
    try:
        bob.subscribe("secret/#", qos=1)
        for i in range(3):
            alice.publish("secret/x", b"m%d" % i, qos=1)
            assert bob.get().payload == b"m%d" % i
        text = g.log()
        assert text.count("would be denied (monitor mode)") == 1, text
        assert f"policy.yaml:{line}" in text
        _, _, body = http_get(g.admin_port, "/metrics")
        assert metric(body, 'mqttguard_would_deny_total{kind="acl_publish"}'
                      ) == 3
        assert metric(body, 'mqttguard_acl_decisions_total{action='
                      '"publish",result="deny"}') == 0

        # The same session, enforced after a reload.
        g.policy.write_text(g.policy.read_text().replace(
            "mode: monitor", "mode: enforce"))
        reload(g)
        alice.publish("secret/x", b"late", qos=1)
        wait_until(lambda: 'publish denied to "alice"' in g.log(),
                   what="the denial")
        alice.publish("ok/x", b"fine", qos=1)
        assert not alice.disconnected.is_set()
        assert bob.messages.empty()
        _, _, body = http_get(g.admin_port, "/metrics")
        assert metric(body, 'mqttguard_acl_decisions_total{action='
                      '"publish",result="deny"}') == 1
        assert metric(body, 'mqttguard_would_deny_total{kind="acl_publish"}'
                      ) == 3
    finally:
        alice.close()
        bob.close()
    g.stop()


def test_monitor_never_relaxes_protocol_or_auth(guard_factory, broker,
                                                tmp_path):
    """In monitor mode a malformed frame still ends the session before the
    broker sees it, and a wrong password is still refused."""
    pw = passwd_file(tmp_path / "users.passwd", ["alice"])
    g = guard_factory(broker.port, plain=True, auth=auth(pw),
                      extra=MONITOR.format(mode="monitor"))
    sock, connack = login(g, "alice", "c-raw")
    assert connack[3] == 0
    sock.sendall(publish(b"secret/raw", first=0x36))    # QoS 3
    read_until_closed(sock)
    sock.close()
    assert "secret/raw" not in broker.log()
    wait_until(lambda: "c-raw" in g.log() and "closed" in g.log(),
               what="the close to be logged")
    sock = plain_socket(g.plain_port)
    connack = mqtt_connect(sock, b"c-bad", flags=0xC2,
                           payload=mqtt_str(b"alice") + mqtt_str(b"wrong"))
    assert connack[3] != 0      # 3.1.1: 0x04 bad user name or password
    sock.close()
    assert "would be denied" not in g.log()
    g.stop()


def test_observe_bounded(guard_factory, broker, tmp_path):
    """Past audit.max_entries new keys are counted as dropped, not kept;
    a reload writes the file first."""
    obs = tmp_path / "observed.jsonl"
    g = guard_factory(broker.port, plain=True, admin=True,
                      extra=f"audit:\n  observe: true\n  file: {obs}\n"
                      "  max_entries: 2\n  flush_interval: 1h\n")
    c = Paho(g, "c1", port=g.plain_port, tls=False)
    assert c.connect() == 0
    try:
        for i in range(5):
            c.publish(f"t/{i}", b"x", qos=1)
        c.publish("t/0", b"x", qos=1)       # a key held: counted
    finally:
        c.close()
    reload(g)
    lines = [json.loads(x) for x in obs.read_text().splitlines()]
    assert [x["topic"] for x in lines] in (["t/0", "t/1"], ["t/1", "t/0"])
    assert {x["topic"]: x["count"] for x in lines}["t/0"] == 2
    _, _, body = http_get(g.admin_port, "/metrics")
    assert metric(body, "mqttguard_observe_dropped_total") == 3
    assert metric(body, "mqttguard_observe_entries") == 2
    g.stop()


HOSTILE = ["plus+", "hash#", "a/b", "$dollar", 'quo"te', "new\nline",
           "back\\slash", "- dash", "colon: x", "{flow}", "é-ünï"]


def test_learn_hostile_input(tmp_path):
    """Names and topics that mean something to MQTT or YAML come out as
    data: the proposal loads with -t and its tests pass.  100 000
    distinct topics of one identity fold into one '+' rule."""
    obs = tmp_path / "hostile.jsonl"
    with open(obs, "w") as f:
        for n in HOSTILE:
            for t in (f"x/{n}/t", f"x/{n.replace('/', '_')}/t",
                      "$SYS/broker/load", "a/%u", "a/#"):
                f.write(json.dumps({"identity": n, "client_id": n + "-c",
                                    "action": "publish", "topic": t,
                                    "count": 1}) + "\n")
            f.write(json.dumps({"identity": n, "client_id": n,
                                "action": "subscribe", "topic": "a/#",
                                "count": 1}) + "\n")
        for i in range(100000):
            f.write(json.dumps({"identity": "bulk", "client_id": "b",
                                "action": "publish",
                                "topic": f"bulk/{i:08x}/v",
                                "count": 1}) + "\n")
        f.write("{not json\n" + '{"identity":"x","action":"read",'
                '"topic":"r"}\n')
    r = run_mqttguard("learn", str(obs), timeout=TIMEOUT * 3)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "2 lines not an observation" in r.stderr.decode()
    topics = [x.split("topic: ", 1)[1] for x in out.splitlines()
              if x.startswith("      topic: ")]
    assert topics and not [t for t in topics
                           if "#" in t or t.startswith('"$')], topics
    assert "$SYS" not in out
    assert 'topic: "%u/+/v"' in out     # bulk is the identity
    assert "100000 observations of 100000 topics" in out
    policy = tmp_path / "policy.yaml"
    policy.write_text("listeners:\n  - {address: 127.0.0.1, port: 18883, "
                      "tls: false}\nupstream: {host: 127.0.0.1, port: "
                      "1883}\nauth: {anonymous: true}\n" + out)
    r = run_mqttguard("-t", "-c", str(policy))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b" 0 failed" in r.stdout + r.stderr
    # every hostile identity is in the rules or tests, quoted
    for n in HOSTILE:
        assert json.dumps(n, ensure_ascii=False)[1:-1].replace(
            "\\n", "\\x0a") in out, n
    # two files add up: counts double, topics do not
    r = run_mqttguard("learn", str(obs), str(obs), timeout=TIMEOUT * 3)
    assert b"200000 observations of 100000 topics" in r.stdout
    # --allow-multilevel: the a/# subscriptions may be proposed
    r = run_mqttguard("learn", "--allow-multilevel", str(obs),
                      timeout=TIMEOUT * 3)
    assert r.returncode == 0 and b'topic: "a/#"' in r.stdout
