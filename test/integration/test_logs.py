# SPDX-License-Identifier: ISC
"""The logs of a real mqttguard run in front of a real Mosquitto: JSON
events and their fields, the journal's priority prefixes, log.file and its
reopen on SIGUSR1 (logrotate), a reload that moves the log to another file
or format, the fail2ban filter run by the real fail2ban-regex, -V, and
workers: auto under taskset."""
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from helpers import (BIN, ROOT, TIMEOUT, accepted, connect, free_port,
                     login, mqtt_connect, mqtt_str, passwd_file,
                     plain_socket, port_open, publish, read_frame,
                     read_until_closed, reply, wait_until)

USERS = ["alice", "bob", "carol"]
FILTER = ROOT / "dist" / "fail2ban" / "mqttguard.conf"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# The fields every event about a session starts with.
SESSION_FIELDS = {"time", "level", "event", "session", "listener", "src_ip",
                  "src_port", "identity", "client_id"}


@pytest.fixture
def pwfile(tmp_path):
    return passwd_file(tmp_path / "users.passwd", USERS)


def wrong_login(port, user, addr):
    """A 3.1.1 CONNECT as <user> with a wrong password from <addr>; the
    proxy's whole answer."""
    return reply(plain_socket(port, addr),
                 connect(cid=b"c1", flags=0xC2,
                         payload=mqtt_str(user.encode()) +
                         mqtt_str(b"wrong-Zq9")))


def events(g, text=None):
    """Every line of <g>'s log (or of <text>) as JSON (each must parse), by
    event."""
    out = {}
    for line in (g.log() if text is None else text).splitlines():
        obj = json.loads(line)
        assert TIME.match(obj["time"]), line
        assert obj["level"] in ("error", "warn", "info", "debug"), line
        out.setdefault(obj.get("event"), []).append(obj)
    return out


ACL = """acl:
  rules:
    - allow: all
      topic: "alice/#"
      users: [alice]
    - deny: publish
      topic: "secret/#"
      users: [alice]
"""


def test_json_events_carry_their_fields(guard_factory, broker, pwfile):
    g = guard_factory(
        broker.port, plain=True, log_extra="  format: json\n",
        auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n",
        limits="  message_rate: 5\n  message_burst: 5\n"
        "  rate_action: disconnect\n", extra=ACL)
    # A TLS failure: not TLS at all on the TLS listener.
    s = plain_socket(g.port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    read_until_closed(s)
    s.close()
    # A refused login from 127.0.0.2.
    assert wrong_login(g.plain_port, "alice", "127.0.0.2") == \
        b"\x20\x02\x00\x04"
    # A good one, an ACL denial (5.0: PUBACK 0x87), then a flood.
    s, ack = login(g, "alice", "a1", level=5)
    assert accepted(ack)
    s.sendall(publish(b"secret/x", b"no", qos=1, pid=7, props=b""))
    assert read_frame(s) == b"\x40\x03\x00\x07\x87"
    got = reply(s, b"".join(publish(b"alice/t", b"x", props=b"")
                            for _ in range(50)))
    assert got[-3:] == b"\xe0\x01\x96"
    g.proc.send_signal(signal.SIGHUP)
    want = {"session.open", "tls.fail", "auth.refuse", "auth.accept",
            "acl.deny", "limit.hit", "session.close", "policy.reload"}

    def done():
        ev = events(g)
        return want <= set(ev) and len(ev["session.close"]) == \
            len(ev["session.open"])
    wait_until(done, what="every kind of event in the log")
    ev = events(g)

    for name in want - {"policy.reload"}:
        for e in ev[name]:
            assert SESSION_FIELDS <= set(e), e
            assert e["src_ip"].startswith("127.0.0."), e
            assert 0 < e["src_port"] < 65536, e
            assert isinstance(e["session"], int), e

    # Besides these three, the harness's check that the TLS port listens
    # (a connection closed before sending a byte) is a session of its own:
    # a probe, closed at debug, not a tls.fail.
    opened = {e["session"]: e for e in ev["session.open"]}
    assert len(opened) == 4
    assert sorted(e["tls"] for e in opened.values()) == \
        [False, False, True, True]
    assert all(e["level"] == "debug" for e in opened.values())

    (tls,) = ev["tls.fail"]
    assert "http request" in tls["reason"]
    assert tls["level"] == "warn" and tls["listener"] == "tls"
    assert tls["session"] in opened and opened[tls["session"]]["tls"]

    (ref,) = ev["auth.refuse"]
    assert ref["src_ip"] == "127.0.0.2" and ref["username"] == "alice"
    assert ref["reason"] == "bad password" and ref["code"] == 0x86
    assert ref["listener"] == "plain" and ref["client_id"] == "c1"

    (acc,) = ev["auth.accept"]
    assert acc["identity"] == "alice" and acc["client_id"] == "a1"
    assert acc["method"] == "password" and acc["level"] == "info"

    (deny,) = ev["acl.deny"]
    assert deny["action"] == "publish" and deny["topic"] == "secret/x"
    assert deny["identity"] == "alice" and deny["code"] == 0x87
    assert deny["rule"] == f"{g.policy}:{rule_line(g.policy, 'deny:')}"
    assert deny["session"] == acc["session"]

    hit = [e for e in ev["limit.hit"] if e.get("code") == 0x96]
    assert len(hit) == 1 and "message_rate" in hit[0]["reason"]
    assert hit[0]["identity"] == "alice"

    closed = {e["session"]: e for e in ev["session.close"]}
    assert set(closed) == set(opened)
    c = closed[acc["session"]]
    assert c["client_id"] == "a1" and c["identity"] == "alice"
    assert c["frames_in"] >= 3 and c["bytes_in"] > c["frames_in"]
    assert c["frames_out"] >= 1 and c["bytes_out"] >= 4
    assert isinstance(c["seconds"], float) and c["seconds"] >= 0
    assert c["reason"] and c["level"] == "info"
    (probe,) = [e for e in closed.values() if e["reason"] == "probe"]
    assert probe["level"] == "debug" and probe["listener"] == "tls"
    assert probe["bytes_in"] == 0 and probe["session"] != tls["session"]
    assert closed[tls["session"]]["reason"] == "TLS handshake failed"

    (rl,) = ev["policy.reload"]
    assert rl["trigger"] == "SIGHUP" and rl["result"] == "ok"
    assert rl["scope"] == "policy" and rl["level"] == "info"
    assert rl["file"] == str(g.policy) and rl["listeners"] == 2
    assert rl["acl_rules"] == 2 and re.match(r"^[0-9a-f]{64}$",
                                             rl["sha256"])
    assert "reason" not in rl
    # Plain lines keep a msg, events have none.
    assert all("msg" in e for e in ev[None])
    assert not any("msg" in e for k in want for e in ev[k])


def test_policy_reload_events(guard_factory, broker):
    """A refused reload (SIGHUP) and an accepted one (watch), as events;
    the text lines stay those test_reload.py greps."""
    g = guard_factory(broker.port, log_extra="  format: json\n",
                      extra="watch: true\n")
    good = g.policy.read_text()
    g.policy.write_text(good.replace("workers: 1\n", "workers: 1\nbogus: 1\n"))
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy.reload" in events(g), what="the failure")
    (fail,) = events(g)["policy.reload"]
    assert fail["trigger"] == "SIGHUP" and fail["result"] == "failure"
    assert fail["scope"] == "policy" and fail["level"] == "error"
    assert fail["reason"] == "policy refused (1 error)"
    assert fail["file"] == str(g.policy)
    # The error itself is a plain line before it.
    assert any("bogus" in e["msg"] for e in events(g)[None])
    g.policy.write_text(good + "# touched\n")
    wait_until(lambda: len(events(g).get("policy.reload", [])) == 2,
               what="the watch's reload")
    ok = events(g)["policy.reload"][1]
    assert ok["trigger"] == "watch: files changed" and ok["result"] == "ok"
    assert ok["scope"] == "policy" and "reason" not in ok

    # In text, the very lines the reload tests match.
    g = guard_factory(broker.port)
    good = g.policy.read_text()
    g.policy.write_text(good + "bogus: 1\n")
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "; the running policy stays" in g.log(),
               what="the failure line")
    assert re.search(r" error: SIGHUP: policy reload failed: \S+: policy "
                     r"refused \(1 error\); the running policy stays\n",
                     g.log()), g.log()
    g.policy.write_text(good)
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: policy reloaded from " in g.log(),
               what="the reload line")


def test_reload_moves_the_log(guard_factory, broker):
    """A reload that changes log.file, log.level and log.format: lines go
    to the new file in the new format from the reload on; the old file
    says where they went; SIGUSR1 then reopens the new path; a reload
    without log.file sends them back to stderr."""
    g = guard_factory(broker.port, plain=True,
                      log_extra="  file: first.log\n")
    first = g.policy.parent / "first.log"
    second = g.policy.parent / "second.log"
    wait_until(lambda: first.exists() and " started, " in first.read_text(),
               what="the start in the first file")
    text = g.policy.read_text()
    old = "log:\n  level: debug\n  file: first.log\n"
    assert old in text
    g.policy.write_text(text.replace(old, "log:\n  level: info\n  format: "
                                     "json\n  file: second.log\n"))
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: second.exists() and
               "policy.reload" in second.read_text(), what="the reload")
    s = plain_socket(g.plain_port)
    assert accepted(mqtt_connect(s, b"moved"))
    s.close()
    wait_until(lambda: "session.close" in second.read_text(),
               what="a session's close in the second file")
    ev = events(None, second.read_text())
    (rl,) = ev["policy.reload"]
    assert rl["result"] == "ok" and rl["trigger"] == "SIGHUP"
    assert ev[None][0]["msg"] == ("SIGHUP: log.file: logging here from now "
                                  f"on (was {first})")
    (closed,) = ev["session.close"]
    assert closed["client_id"] == "moved" and closed["listener"] == "plain"
    assert "session.open" not in ev                 # debug: off now
    assert not any(e["level"] == "debug" for k in ev for e in ev[k])
    old_text = first.read_text()
    assert f"info: SIGHUP: log.file: logging to {second} from now on\n" \
        in old_text
    assert "policy reloaded" not in old_text and "moved" not in old_text
    for line in old_text.splitlines():
        assert TIME.match(line.split(" ", 1)[0]), line
    assert " started, " not in g.log() and "moved" not in g.log()

    # logrotate of the new file.
    rotated = second.with_name("second.log.1")
    os.rename(second, rotated)
    g.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: second.exists() and "reopened" in second.read_text(),
               what="the reopen")
    assert json.loads(second.read_text().splitlines()[0])["msg"] == \
        f"SIGUSR1: log file {second} reopened"

    # No log.file: back to stderr, still JSON.
    g.policy.write_text(g.policy.read_text().replace(
        "  file: second.log\n", ""))
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy.reload" in g.log(), what="the reload")
    ev = events(g, "\n".join(x for x in g.log().splitlines()
                             if x.startswith("{")))
    assert ev[None][0]["msg"] == ("SIGHUP: log.file: logging here from now "
                                  f"on (was {second})")
    assert ev["policy.reload"][0]["result"] == "ok"
    assert "logging to standard error from now on" in second.read_text()
    s = plain_socket(g.plain_port)
    assert accepted(mqtt_connect(s, b"back"))
    s.close()
    wait_until(lambda: '"client_id":"back"' in g.log(),
               what="a session on stderr")
    assert "back" not in second.read_text()


def rule_line(policy, text):
    """The line number of the first line of <policy> holding <text>."""
    for i, line in enumerate(policy.read_text().splitlines(), 1):
        if text in line:
            return i
    raise AssertionError(text)


def test_journal_prefix(guard_factory, broker, pwfile):
    """JOURNAL_STREAM names stderr: "<N>level: ", no timestamp."""
    g = guard_factory(broker.port, plain=True, journal=True,
                      auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n")
    wrong_login(g.plain_port, "bob", "127.0.0.2")
    s, ack = login(g, "carol", "c")
    assert accepted(ack)
    s.close()
    wait_until(lambda: "closed: bad password" in g.log() and
               'closed: client closed the connection (client_id "c"' in
               g.log(), what="both sessions to close")
    lines = g.log().splitlines()
    prio = {"error": "3", "warn": "4", "info": "6", "debug": "7"}
    for line in lines:
        m = re.match(r"^<(\d)>(\w+): ", line)
        assert m and prio[m.group(2)] == m.group(1), line
    assert any(line.startswith('<4>warn: auth: session ') and
               'refused username "bob"' in line for line in lines)
    assert any(line.startswith("<6>info: mqttguard ") and " started, " in line
               for line in lines)


def test_log_file_reopened_on_sigusr1(guard_factory, broker):
    g = guard_factory(broker.port, plain=True,
                      log_extra="  file: mqttguard-file.log\n")
    path = g.policy.parent / "mqttguard-file.log"
    rotated = path.with_name("mqttguard-file.log.1")
    wait_until(lambda: path.exists() and " started, " in path.read_text(),
               what="the start in log.file")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o640 & ~umask
    assert " started, " not in g.log()          # not on stderr
    os.rename(path, rotated)
    g.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: path.exists(), what="a new log file")
    s = plain_socket(g.plain_port)
    assert accepted(mqtt_connect(s, b"after-rotate"))
    s.close()
    wait_until(lambda: "after-rotate" in path.read_text() and
               ": closed:" in path.read_text(), what="lines in the new file")
    new, old = path.read_text(), rotated.read_text()
    assert f"info: SIGUSR1: log file {path} reopened" in new
    assert " started, " in old and "after-rotate" not in old
    assert " started, " not in new
    # Still writing after a second rotation, and every line is whole.
    os.rename(path, rotated)
    g.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: path.exists() and "reopened" in path.read_text(),
               what="a second reopen")
    for line in (new + old + path.read_text()).splitlines():
        assert TIME.match(line.split(" ", 1)[0]), line


def test_fail2ban_regex(guard_factory, broker, pwfile, tmp_path):
    """The filter in dist/ against a real run: wrong passwords from
    127.0.0.2 (for three identities, until its address is blocked) and
    127.0.0.3 (then its per-address cap), logins refused for no guess
    from 127.0.0.4 (not matched), a good login from 127.0.0.1."""
    if shutil.which("fail2ban-regex") is None:
        pytest.fail("fail2ban-regex is missing: scripts/deps.sh --test "
                    "installs it")
    g = guard_factory(
        broker.port, plain=True,
        auth=f"auth:\n  password_file: {pwfile}\n  tarpit: 0\n"
        "  lockout:\n    address: {identities: 3, tarpit_after: 0}\n",
        limits="  max_connections_per_address: 2\n  connect_timeout: 30s\n")

    def closes(addr):
        return sum(1 for line in g.log().splitlines()
                   if f" {addr}:" in line and ": closed:" in line)

    # Three identities guessed from 127.0.0.2 block it (spraying).
    for i, user in enumerate(("alice", "bob", "mallory")):
        assert wrong_login(g.plain_port, user, "127.0.0.2") == \
            b"\x20\x02\x00\x04"
        wait_until(lambda: closes("127.0.0.2") == i + 1, what="a close")
    for i in range(2):
        assert wrong_login(g.plain_port, "bob", "127.0.0.3") == \
            b"\x20\x02\x00\x04"
        wait_until(lambda: closes("127.0.0.3") == i + 1, what="a close")
    held = [plain_socket(g.plain_port, "127.0.0.3") for _ in range(2)]
    wait_until(lambda: sum(1 for line in g.log().splitlines()
                           if " 127.0.0.3:" in line and ": open on " in
                           line) == 4, what="the held connections")
    extra = plain_socket(g.plain_port, "127.0.0.3")
    assert read_until_closed(extra) == b""
    extra.close()
    wait_until(lambda: "limits: listener plain: refused 127.0.0.3" in
               g.log(), what="the refusal")
    # Refusals that are no guess, from 127.0.0.4: not matched.
    for flags, payload in ((0x02, b""),
                           (0xC2, mqtt_str(b"bad+name") + mqtt_str(b"x"))):
        ack = reply(plain_socket(g.plain_port, "127.0.0.4"),
                    connect(cid=b"c4", flags=flags, payload=payload))
        assert ack[:3] == b"\x20\x02\x00" and ack[3] != 0, ack
    wait_until(lambda: closes("127.0.0.4") == 2, what="the two closes")
    assert "no credentials" in g.log() and "wildcard" in g.log()
    s, ack = login(g, "carol", "good")
    assert accepted(ack)
    s.close()
    for h in held:
        h.close()
    wait_until(lambda: 'closed: client closed the connection (client_id '
               '"good"' in g.log(), what="the good close")
    log = g.policy.parent / "mqttguard.log"
    g.stop()
    r = subprocess.run(["fail2ban-regex", str(log), str(FILTER)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched",
                  r.stdout, re.M)
    assert m, r.stdout
    assert int(m.group(3)) == 7, r.stdout      # 3 + lockout, 2 + cap
    r = subprocess.run(["fail2ban-regex", "-o", "ip", str(log),
                        str(FILTER)], capture_output=True, text=True,
                       timeout=60)
    ips = r.stdout.split()
    assert sorted(ips) == ["127.0.0.2"] * 4 + ["127.0.0.3"] * 3, r.stdout


def test_version_names_the_libraries():
    def modversion(pkg):
        return subprocess.run(["pkg-config", "--modversion", pkg],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    openssl = subprocess.run(["openssl", "version"], capture_output=True,
                             text=True, check=True).stdout
    for flag in ("-V", "--version"):
        r = subprocess.run([BIN, flag], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0
        lines = r.stdout.splitlines()
        assert len(lines) == 4, r.stdout
        assert re.match(r"^mqttguard \d+\.\d+\.\d+", lines[0])
        assert lines[1].startswith("OpenSSL 3.") and \
            openssl.startswith(lines[1]), (lines[1], openssl)
        assert lines[2] == "libevent " + modversion("libevent")
        assert lines[3] == "libyaml " + modversion("yaml-0.1")


def run_auto(tmp_path, prefix=()):
    """mqttguard with workers: auto (under <prefix>, e.g. taskset) until it
    has started; returns its log."""
    port = free_port()
    policy = tmp_path / "auto.yaml"
    policy.write_text(
        f"listeners:\n  - name: plain\n    address: 127.0.0.1\n"
        f"    port: {port}\n    tls: false\n"
        f"upstream:\n  host: 127.0.0.1\n  port: {free_port()}\n"
        "auth:\n  anonymous: true\nworkers: auto\n")
    logfile = tmp_path / "auto.log"
    with open(logfile, "wb") as fp:
        p = subprocess.Popen(list(prefix) + [BIN, "-c", str(policy)],
                             stdout=fp, stderr=fp)
        try:
            wait_until(lambda: port_open(port) or p.poll() is not None,
                       what="mqttguard to listen")
            wait_until(lambda: " started, " in logfile.read_text() or
                       p.poll() is not None, what="the start line")
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(TIMEOUT)
    log = logfile.read_text()
    assert p.returncode == 0, log
    return log


def test_workers_auto_under_taskset(tmp_path):
    if shutil.which("taskset") is None:
        pytest.fail("taskset is missing (util-linux)")
    log = run_auto(tmp_path, ["taskset", "-c", "0"])
    assert re.search(r" info: workers: auto: 1 \(affinity 1 CPU, "
                     r"(no cgroup v2 cpu\.max|cgroup cpu\.max \S+)\)\n", log), \
        log
    assert " started, 1 worker, policy " in log


def test_workers_auto_counts_the_affinity_mask(tmp_path):
    n = len(os.sched_getaffinity(0))
    log = run_auto(tmp_path)
    m = re.search(r" workers: auto: (\d+) \(affinity (\d+) CPUs?, ", log)
    assert m, log
    assert int(m.group(2)) == n and 1 <= int(m.group(1)) <= n
    assert f" started, {m.group(1)} worker" in log
