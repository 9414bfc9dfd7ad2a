# SPDX-License-Identifier: ISC
"""Least privilege, observed from outside the process.

- Started as root with `user: nobody`, the daemon runs as nobody once it
  listens: /proc/PID/status shows the ids (real, effective, saved, file
  system), no supplementary group but the user's, NoNewPrivs 1; it is not
  dumpable (its /proc files stay root's although it is nobody now) and
  may write no core (Max core file size 0).  Clients still connect and
  messages flow.  `group:` picks another group than the user's own.
- As root without `user:`, a warning says so; no core dumps either way.
  Started as nobody, `user: daemon` cannot be had (exit 1, said), while
  `user: nobody` is already so and runs.
- A reload after the drop reads as nobody: a file it may not read
  refuses the reload with the uid named; a readable policy that changes
  the user is applied except for the user, which waits for a restart.
- Secret files: a TLS key at 0644 is refused, a password file at 0640 (or
  a symlink to one, as a Kubernetes secret mount makes) is accepted, one
  at 0604 or 0660 is refused; a policy file others may write is refused.
"""
import grp
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest

from helpers import (BIN, TIMEOUT, Sub, free_port, passwd_file, port_open,
                     pub, run_mqttguard, wait_until)

NOBODY = pwd.getpwnam("nobody")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def status(pid):
    """/proc/PID/status as {key: value}."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def core_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = [ln for ln in f if ln.startswith("Max core file size")][0]
    return line.split()[4:6]


def dropped(g):
    """Waits for <g> to say it dropped root: it listens (what spawn waits
    for) a moment before."""
    wait_until(lambda: "running as user nobody" in g.log(),
               what="the drop to be logged")


def flows(g, broker, topic):
    """A subscriber and a publisher through <g>'s TLS listener."""
    s = Sub(g, broker, topic, 1)
    r = pub(g, "-t", topic, "-m", "through")
    assert r.returncode == 0, r.stderr
    assert s.result() == b"through\n"


@root_only
def test_drops_to_nobody(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, extra="user: nobody\n")
    dropped(g)
    pid = g.proc.pid
    st = status(pid)
    ids = f"{NOBODY.pw_uid}\t{NOBODY.pw_uid}\t{NOBODY.pw_uid}\t{NOBODY.pw_uid}"
    assert st["Uid"] == ids, st["Uid"]
    gid = NOBODY.pw_gid
    assert st["Gid"] == f"{gid}\t{gid}\t{gid}\t{gid}", st["Gid"]
    want = sorted({gid} | {gr.gr_gid for gr in grp.getgrall()
                           if "nobody" in gr.gr_mem})
    assert sorted(int(x) for x in st["Groups"].split()) == want, st
    assert st["NoNewPrivs"] == "1"
    # Every thread (workers, password checkers) dropped, not just main.
    tasks = os.listdir(f"/proc/{pid}/task")
    assert len(tasks) > 1
    for t in tasks:
        with open(f"/proc/{pid}/task/{t}/status") as f:
            assert f"Uid:\t{ids}\n" in f.read(), t
    # Not dumpable: the kernel keeps its /proc files root's.
    assert os.stat(f"/proc/{pid}/status").st_uid == 0
    assert core_limit(pid) == ["0", "0"]
    assert "running as user nobody (uid 65534)" in g.log()
    assert "running as root" not in g.log()
    flows(g, broker, "priv/nobody")


@root_only
def test_group_other_than_primary(guard_factory, broker):
    daemon = grp.getgrnam("daemon")
    g = guard_factory(broker.port, plain=True,
                      extra="user: nobody\ngroup: daemon\n")
    dropped(g)
    st = status(g.proc.pid)
    gid = daemon.gr_gid
    assert st["Gid"] == f"{gid}\t{gid}\t{gid}\t{gid}", st["Gid"]
    assert st["Uid"].split("\t")[0] == str(NOBODY.pw_uid)
    flows(g, broker, "priv/group")


@root_only
def test_root_without_user_warns(guard_factory, broker):
    g = guard_factory(broker.port, plain=True)
    wait_until(lambda: "running as root: set user:" in g.log(),
               what="the warning")
    st = status(g.proc.pid)
    assert st["Uid"].split("\t")[0] == "0"
    assert st["NoNewPrivs"] == "1"
    assert core_limit(g.proc.pid) == ["0", "0"]


@root_only
def test_reload_reads_as_the_user(guard_factory, broker, certs):
    """The test's directories are root's alone: after the drop a reload
    cannot read the policy, and says which uid could not."""
    g = guard_factory(broker.port, plain=True, extra="user: nobody\n")
    dropped(g)
    g.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy reload failed" in g.log(),
               what="the reload to fail")
    assert "the daemon runs as uid 65534" in g.log(), g.log()
    flows(g, broker, "priv/still")


@root_only
def test_reload_readable_user_change_waits(guard_factory, broker, certs):
    """Files mqttguard's group may read (root:nogroup 0640 for the key):
    the reload succeeds; a new user: is said to apply at the next start."""
    d = tempfile.mkdtemp(prefix="mqttguard-priv-")
    try:
        os.chmod(d, 0o755)
        for name in ("server.crt", "server.key", "ca.crt"):
            shutil.copy(certs / name, d)
        key = os.path.join(d, "server.key")
        os.chown(key, 0, NOBODY.pw_gid)
        os.chmod(key, 0o640)
        g = guard_factory(broker.port, plain=True, extra="user: nobody\n")
        text = g.policy.read_text().replace(str(certs), d)
        pol = os.path.join(d, "policy.yaml")
        with open(pol, "w") as f:
            f.write(text)
        os.chmod(pol, 0o644)
        g.stop()
        g.policy = pathlib.Path(pol)
        g.respawn()
        wait_until(lambda: g.log().count("running as user nobody") == 2,
                   what="the second drop")
        assert status(g.proc.pid)["Uid"].split("\t")[0] == "65534"
        with open(pol, "w") as f:
            f.write(text.replace("user: nobody", "user: daemon"))
        g.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "policy reloaded from" in g.log(),
                   what="the reload: " + g.log())
        assert "user/group: daemon:" in g.log()
        assert "applies at the next start (running as 65534:" in g.log()
        assert status(g.proc.pid)["Uid"].split("\t")[0] == "65534"
        flows(g, broker, "priv/reloaded")
    finally:
        shutil.rmtree(d)


@root_only
def test_not_root_cannot_switch(tmp_path):
    """Started as nobody, `user: daemon` cannot be had: exit 1, said; as
    `user: nobody` it is already that user and runs."""
    d = tempfile.mkdtemp(prefix="mqttguard-priv-")
    try:
        os.chmod(d, 0o755)
        pol = os.path.join(d, "p.yaml")
        port = free_port()
        for user, rc in (("daemon", 1), ("nobody", None)):
            with open(pol, "w") as f:
                f.write(minimal().replace("18830", str(port)) +
                        f"user: {user}\n")
            os.chmod(pol, 0o644)
            p = subprocess.Popen(
                ["setpriv", f"--reuid={NOBODY.pw_uid}",
                 f"--regid={NOBODY.pw_gid}", "--clear-groups",
                 os.environ.get("MQTTGUARD_BIN", BIN), "-c", pol],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if rc is not None:
                out = p.communicate(timeout=TIMEOUT)[0].decode()
                assert p.returncode == rc, out
                dm = pwd.getpwnam("daemon")
                assert (f"user: daemon (uid {dm.pw_uid}, gid {dm.pw_gid}): "
                        "cannot switch to it: mqttguard was started as "
                        f"uid {NOBODY.pw_uid}, not root") in out, out
                continue
            try:
                wait_until(lambda: port_open(port) or p.poll() is not None,
                           what="mqttguard as nobody to listen")
                assert p.poll() is None
                assert (status(p.pid)["Uid"].split("\t")[0] ==
                        str(NOBODY.pw_uid))
            finally:
                p.terminate()
                out = p.communicate(timeout=TIMEOUT)[0].decode()
            assert "running as root" not in out, out
    finally:
        shutil.rmtree(d)


def test_unknown_user_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(minimal() + "user: no-such-user-here\n")
    r = run_mqttguard("-t", "-c", str(f))
    assert r.returncode == 2
    assert b"user: \"no-such-user-here\": no such user" in r.stderr, r.stderr
    f.write_text(minimal() + "group: nogroup\n")
    r = run_mqttguard("-t", "-c", str(f))
    assert r.returncode == 2 and b"group: needs user" in r.stderr, r.stderr


def minimal(extra_auth=""):
    return ("listeners:\n  - {name: p, address: 127.0.0.1, port: 18830, "
            "tls: false}\n"
            "upstream: {host: 127.0.0.1, port: 1883}\n"
            f"auth:\n  anonymous: true\n{extra_auth}")


# ---- secret-file modes ----------------------------------------------------

def check(policy):
    r = run_mqttguard("-t", "-c", str(policy))
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def test_tls_key_modes(tmp_path, certs):
    key = tmp_path / "server.key"
    shutil.copy(certs / "server.key", key)
    pol = tmp_path / "p.yaml"
    pol.write_text("listeners:\n  - {name: t, address: 127.0.0.1, "
                   "port: 18831}\n"
                   f"tls: {{cert: {certs}/server.crt, key: {key}}}\n"
                   "upstream: {host: 127.0.0.1, port: 1883}\n"
                   "auth: {anonymous: true}\n")
    os.chmod(key, 0o644)
    rc, out = check(pol)
    assert rc == 2, out
    assert (f"{key}: mode 0644: others may read a secret file "
            "(chmod o-rwx)") in out, out
    os.chmod(key, 0o640)
    rc, out = check(pol)
    assert rc == 0, out


@pytest.mark.parametrize("mode,ok", [(0o600, True), (0o640, True),
                                     (0o440, True), (0o604, False),
                                     (0o644, False), (0o660, False)])
def test_password_file_modes(tmp_path, mode, ok):
    pw = passwd_file(tmp_path / "passwd", ["alice"])
    os.chmod(pw, mode)
    pol = tmp_path / "p.yaml"
    pol.write_text(minimal(f"  password_file: {pw}\n"))
    rc, out = check(pol)
    assert (rc == 0) == ok, out
    if not ok:
        assert f"{pw}: mode {mode:04o}: " in out, out


def test_symlinked_secret_mount(tmp_path):
    """Kubernetes: the file is a link to ..data/passwd, the real file
    0640 (fsGroup): judged by the target, and accepted."""
    data = tmp_path / "..2026_12_03"
    data.mkdir()
    pw = passwd_file(data / "passwd", ["alice"])
    os.chmod(pw, 0o640)
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "passwd").symlink_to("..data/passwd")
    pol = tmp_path / "p.yaml"
    pol.write_text(minimal(f"  password_file: {tmp_path}/passwd\n"))
    rc, out = check(pol)
    assert rc == 0, out
    os.chmod(pw, 0o644)
    rc, out = check(pol)
    assert rc == 2 and "mode 0644: others may read" in out, out


def test_policy_file_writable_by_others(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text(minimal())
    os.chmod(pol, 0o666)
    rc, out = check(pol)
    assert rc == 2, out
    assert "mode 0666: others may write a policy file" in out, out
    os.chmod(pol, 0o664)
    rc, out = check(pol)
    assert rc == 0, out
