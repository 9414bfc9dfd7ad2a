# SPDX-License-Identifier: ISC
"""What dist/ ships, checked against the code it ships: every policy key
the loader accepts is in mqttguard.yaml(5) and the page names no other;
both man pages render without a warning; the systemd unit's exposure
(systemd-analyze security) is "OK" and it verifies; `make install` puts
every file where it belongs and keeps an existing policy; the Debian
package holds what it should and lintian passes it; the Kubernetes
manifests match the policy they ship (ports, probes, drain, security
context) and that policy passes `mqttguard -t`; the Containerfile's
runtime packages are the ones the binary links."""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

from helpers import BIN, ROOT, run_mqttguard

DIST = ROOT / "dist"
MAN5 = DIST / "man" / "mqttguard.yaml.5"
MAN8 = DIST / "man" / "mqttguard.8"

# config.c's key tables and where their keys sit in a policy.  A new
# table fails the test until it is named here (and documented).
TABLES = {
    "top_keys": "", "listener_keys": "listeners[].",
    "upstream_keys": "upstream.", "tls_keys": "tls.",
    "sni_keys": "tls.sni[].", "limits_keys": "limits.",
    "topic_rate_keys": "limits.topic_rates[].", "auth_keys": "auth.",
    "log_keys": "log.", "audit_keys": "audit.", "shutdown_keys": "shutdown.",
    "admin_keys": "admin.", "acl_keys": "acl.",
    "rule_keys": "acl.rules[].", "test_keys": "tests[].",
    "lockout_keys": "auth.lockout.", "lock_pair_keys": "auth.lockout.pair.",
    "lock_identity_keys": "auth.lockout.identity.",
    "lock_address_keys": "auth.lockout.address.",
    # An acl.include file holds one acl section: documented there.
    "inc_keys": None,
}


def loader_keys():
    src = (ROOT / "src" / "config.c").read_text()
    keys = set()
    tables = re.findall(r"static const struct ckey (\w+)\[\] = \{(.*?)\n\s*\};",
                        src, re.S)
    assert len(tables) >= 14, "config.c's key tables not found"
    # Keys a table takes from a macro (#define X_COMMON \ LK(...), ...).
    macros = dict(re.findall(r"#define (\w+) \\\n((?:.*\\\n)*.*)", src))
    for name, body in tables:
        body += "".join(m for k, m in macros.items()
                        if re.search(rf"\b{k}\b", body))
        assert name in TABLES, f"config.c: new key table {name}: map it"
        if TABLES[name] is None:
            continue
        # Keys kept only to be refused with their replacement named.
        refused = set(re.findall(r'\{\s*"([a-z0-9_]+)",[^}]*_old_key', body))
        for k in re.findall(r'(?:\{|[A-Z]+\()\s*"([a-z0-9_]+)",\s*K_', body):
            if k not in refused:
                keys.add(TABLES[name] + k)
    return keys


def man_keys():
    return set(re.findall(r"^\.It Ic ([a-z0-9_.\[\]]+)", MAN5.read_text(),
                          re.M))


def test_every_policy_key_is_documented():
    loader, man = loader_keys(), man_keys()
    assert len(loader) > 100
    assert loader - man == set(), "keys the loader accepts, not in " \
        "mqttguard.yaml(5)"
    assert man - loader == set(), "keys mqttguard.yaml(5) documents, " \
        "which the loader does not accept"


@pytest.mark.parametrize("page", [MAN8, MAN5], ids=["mqttguard.8",
                                                   "mqttguard.yaml.5"])
def test_man_page_renders_without_warnings(page):
    r = subprocess.run(["groff", "-ww", "-mandoc", "-Tutf8", str(page)],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()
    assert len(r.stdout) > 2000
    if shutil.which("man"):
        env = dict(os.environ, MANPAGER="cat", MANWIDTH="80")
        r = subprocess.run(["man", "--warnings", "-l", str(page)], env=env,
                           capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()
    if shutil.which("mandoc"):
        # mdoc's own checker, at its warning level (style notes aside).
        r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(page)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


def test_man_page_example_policy_passes_check(tmp_path, certs):
    """The policy of mqttguard.yaml(5)'s EXAMPLES, its files beside it."""
    text = MAN5.read_text()
    ex = text[text.index(".Sh EXAMPLES"):]
    ex = ex[ex.index(".Bd -literal"):]
    body = ex.split("\n", 1)[1]
    body = body[:body.index("\n.Ed")]
    for f in ("server.crt", "server.key", "passwd"):
        shutil.copy(certs / f, tmp_path / f)
    os.chmod(tmp_path / "passwd", 0o600)
    (tmp_path / "policy.yaml").write_text(body.replace("\\e", "\\") + "\n")
    r = run_mqttguard("-t", "-c", str(tmp_path / "policy.yaml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"2 policy tests, 0 failed" in r.stdout, r.stdout


def test_man_page_names_the_commands():
    """mqttguard(8) shows every subcommand main.c dispatches to."""
    main = (ROOT / "src" / "main.c").read_text()
    table = main[main.index("main_cmds[] = {"):]
    table = table[:table.index("};")]
    cmds = re.findall(r'\{ "([a-z-]+)",', table)
    assert cmds
    text = MAN8.read_text()
    for c in cmds:
        assert re.search(rf"^\.Cm {c}\b", text, re.M), c


def unit():
    return (DIST / "mqttguard.service").read_text()


def unit_value(key):
    return re.findall(rf"^{key}=(.*)$", unit(), re.M)


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="no systemd-analyze")
def test_unit_exposure_is_ok():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        "--no-pager", str(DIST / "mqttguard.service")],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for mqttguard\.service: "
                  r"([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", m.group(0)


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="no systemd-analyze")
def test_unit_verifies(tmp_path):
    """systemd-analyze verify, with the binary under test in place of
    /usr/bin/mqttguard (not installed here); any line it prints fails."""
    u = tmp_path / "mqttguard.service"
    u.write_text(unit().replace("/usr/bin/mqttguard", BIN))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(u)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and (r.stdout + r.stderr).strip() == "", \
        r.stdout + r.stderr


def duration_s(v):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(v))
    assert m, v
    mul = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return int(m.group(1)) * mul


def test_unit_matches_the_daemon():
    assert unit_value("Type") == ["notify"]
    assert unit_value("ExecStartPre") == [
        "/usr/bin/mqttguard -t -c /etc/mqttguard/mqttguard.yaml"]
    assert "/bin/kill -HUP $MAINPID" in unit_value("ExecReload")
    assert unit_value("User") == ["mqttguard"]
    # The default -c path, the unit's and the installed policy's agree.
    r = run_mqttguard("-h")
    assert b"(default /etc/mqttguard/mqttguard.yaml)" in r.stdout
    # The stop timeout covers the shipped policy's drain.
    pol = yaml.safe_load((ROOT / "policies" / "example.yaml").read_text())
    drain = sum(duration_s(pol["shutdown"][k]) for k in ("drain", "spread"))
    assert duration_s(unit_value("TimeoutStopSec")[0]) > drain


def make(*args, timeout=300):
    build = os.path.dirname(os.path.abspath(BIN))
    r = subprocess.run(["make", "-s", "-C", str(ROOT), f"BUILD={build}"] +
                       list(args), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_make_install(tmp_path, certs):
    d = tmp_path / "root"
    make("install-strip", f"DESTDIR={d}", "prefix=/usr",
         "systemdunitdir=/lib/systemd/system")
    for f in ("usr/bin/mqttguard", "usr/share/man/man8/mqttguard.8",
              "usr/share/man/man5/mqttguard.yaml.5",
              "lib/systemd/system/mqttguard.service",
              "etc/mqttguard/mqttguard.yaml"):
        assert (d / f).is_file(), f
    r = subprocess.run(["readelf", "-S", str(d / "usr/bin/mqttguard")],
                       capture_output=True, text=True, timeout=30)
    assert ".symtab" not in r.stdout, "not stripped"
    # The installed policy is the example with its files beside it.
    pol = d / "etc/mqttguard/mqttguard.yaml"
    text = pol.read_text()
    assert "password_file: /etc/mqttguard/passwd" in text
    fixture = tmp_path / "policy.yaml"
    fixture.write_text(text.replace("/etc/mqttguard/", f"{certs}/"))
    r = run_mqttguard("-t", "-c", str(fixture))
    assert r.returncode == 0, r.stdout + r.stderr
    # An existing policy is kept.
    pol.write_text("# mine\n")
    make("install", f"DESTDIR={d}", "prefix=/usr")
    assert pol.read_text() == "# mine\n"
    # The unit follows BINDIR.
    d2 = tmp_path / "local"
    make("install", f"DESTDIR={d2}", "prefix=/usr/local")
    u = (d2 / "usr/local/lib/systemd/system/mqttguard.service").read_text()
    assert "ExecStart=/usr/local/bin/mqttguard -c " \
        "/etc/mqttguard/mqttguard.yaml" in u


@pytest.mark.skipif(not shutil.which("dpkg-deb") or
                    not shutil.which("lintian"),
                    reason="no dpkg-deb or lintian")
def test_deb_package():
    """scripts/deb.sh builds the package and fails on any lintian error or
    warning; then its contents."""
    r = subprocess.run([str(ROOT / "scripts" / "deb.sh")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    deb = r.stdout.strip().splitlines()[0]
    files = subprocess.run(["dpkg-deb", "--contents", str(ROOT / deb)],
                           capture_output=True, text=True,
                           timeout=60).stdout
    for f in ("./usr/bin/mqttguard", "./etc/mqttguard/mqttguard.yaml",
              "./lib/systemd/system/mqttguard.service",
              "./usr/share/man/man8/mqttguard.8.gz",
              "./usr/share/man/man5/mqttguard.yaml.5.gz",
              "./usr/share/doc/mqttguard/copyright",
              "./usr/share/doc/mqttguard/changelog.Debian.gz"):
        assert re.search(rf" {re.escape(f)}$", files, re.M), f
    ctl = subprocess.run(["dpkg-deb", "-I", str(ROOT / deb), "conffiles"],
                         capture_output=True, text=True, timeout=60).stdout
    assert ctl.split() == ["/etc/mqttguard/mqttguard.yaml"]


# ---- Kubernetes -----------------------------------------------------------

def k8s():
    docs = []
    for f in sorted((DIST / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def pod_and_policy():
    objs = k8s()
    dep = objs[("Deployment", "mqttguard")]
    cm = objs[("ConfigMap", "mqttguard-policy")]
    policy = yaml.safe_load(cm["data"]["mqttguard.yaml"])
    pod = dep["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    return objs, pod, containers, policy


def test_k8s_ports_and_probes():
    objs, pod, cs, policy = pod_and_policy()
    g = cs["mqttguard"]
    ports = {p["name"]: p["containerPort"] for p in g["ports"]}
    assert sorted(ports.values()) == sorted(
        [lst["port"] for lst in policy["listeners"]] +
        [policy["admin"]["port"]])
    for probe, path in (("livenessProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):
        get = g[probe]["httpGet"]
        assert get["path"] == path
        assert ports[get["port"]] == policy["admin"]["port"]
        # Off loopback the admin listener wants the token: the probe
        # sends the Secret's.
        secret = objs[("Secret", "mqttguard-secrets")]["stringData"]
        hdr = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
        assert hdr["Authorization"] == "Bearer " + secret["admin.token"]
    # The Service exposes the MQTT listener only.
    svc = objs[("Service", "mqttguard")]
    targets = [ports.get(p["targetPort"], p["targetPort"])
               for p in svc["spec"]["ports"]]
    assert targets == [lst["port"] for lst in policy["listeners"]]
    # Mosquitto: loopback only, where the policy's upstream points; no
    # port of its own in the pod.
    conf = objs[("ConfigMap", "mosquitto-config")]["data"]["mosquitto.conf"]
    listeners = re.findall(r"^listener (\d+)(?: (\S+))?$", conf, re.M)
    assert listeners == [(str(policy["upstream"]["port"]), "127.0.0.1")]
    assert policy["upstream"]["host"] == "127.0.0.1"
    assert "ports" not in cs["mosquitto"]


def test_k8s_drain_fits_the_grace_period():
    _, pod, cs, policy = pod_and_policy()
    drain = sum(duration_s(policy["shutdown"][k])
                for k in ("drain", "spread"))
    pause = cs["mqttguard"]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= pause + drain + 5
    # The broker outlives the drain.
    assert cs["mosquitto"]["lifecycle"]["preStop"]["sleep"]["seconds"] >= \
        pause + drain


def test_k8s_security_context():
    _, pod, cs, policy = pod_and_policy()
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for c in list(cs.values()) + pod.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert "add" not in sc["capabilities"], c["name"]
    # A read-only root: mqttguard writes no log file.
    assert "file" not in policy.get("log", {})


def test_k8s_policy_files_are_mounted():
    """Every file the policy names lies under one of mqttguard's mounts;
    the Secrets are mounted at 0440 with the pod's fsGroup: group-read,
    which mqttguard accepts for a secret file, and nothing for others."""
    _, pod, cs, policy = pod_and_policy()
    mounts = {m["mountPath"]: m["name"]
              for m in cs["mqttguard"]["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    files = [policy["tls"][k] for k in ("cert", "key", "ca")] + [
        policy["auth"]["password_file"], policy["admin"]["token_file"]]
    for f in files:
        vol = vols[mounts[os.path.dirname(f)]]
        assert "secret" in vol, f
        assert vol["secret"]["defaultMode"] & 0o007 == 0, f
        assert vol["secret"]["defaultMode"] & 0o022 == 0, f
    assert "initContainers" not in pod
    assert pod["securityContext"]["fsGroup"] == \
        pod["securityContext"]["runAsGroup"]


def k8s_policy_fixture(tmp_path, certs):
    """The ConfigMap's policy text, its paths pointing at fixture files
    laid out as the pod's volumes would hold them."""
    tls, sec = tmp_path / "tls", tmp_path / "secrets"
    tls.mkdir()
    sec.mkdir()
    shutil.copy(certs / "server.crt", tls / "tls.crt")
    shutil.copy(certs / "server.key", tls / "tls.key")
    shutil.copy(certs / "ca.crt", tls / "ca.crt")
    shutil.copy(certs / "passwd", sec / "passwd")
    (sec / "admin.token").write_text("a-token\n")
    for f in list(sec.iterdir()) + list(tls.iterdir()):
        os.chmod(f, 0o440)      # the Secrets' defaultMode
    text = k8s()[("ConfigMap", "mqttguard-policy")]["data"]["mqttguard.yaml"]
    return text.replace("/run/mqttguard/tls/", f"{tls}/").replace(
        "/run/mqttguard/secrets/", f"{sec}/")


def test_k8s_policy_passes_check(tmp_path, certs):
    """The ConfigMap's policy, with fixture files where the volumes put
    them, passes mqttguard -t (its tests included)."""
    p = tmp_path / "mqttguard.yaml"
    p.write_text(k8s_policy_fixture(tmp_path, certs))
    r = run_mqttguard("-t", "-c", str(p))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"policy OK" in r.stdout


def test_k8s_pod_runs(tmp_path, certs):
    """The pod's two processes from the shipped configuration, on free
    loopback ports: the probes (with the Deployment's header) answer 200,
    a device publishes through to the broker, and at SIGTERM readiness
    turns 503 while the drain serves the session left."""
    import signal
    from helpers import Broker, Guard, free_port, http_get, wait_until
    objs, pod, cs, policy = pod_and_policy()
    bport, port, admin = free_port(), free_port(), free_port()
    b = Broker.__new__(Broker)
    b.port, b.logfile = bport, tmp_path / "mosquitto.log"
    conf = objs[("ConfigMap", "mosquitto-config")]["data"]["mosquitto.conf"]
    conf = conf.replace("listener 1883 ", f"listener {bport} ").replace(
        "log_dest stdout", f"log_dest file {b.logfile}\nlog_type all\n"
        "user root")    # as Broker runs it: the test directory is private
    b.start(tmp_path / "mosquitto.conf", conf)
    text = k8s_policy_fixture(tmp_path, certs)
    text = text.replace("address: 0.0.0.0", "address: 127.0.0.1").replace(
        "port: 8883", f"port: {port}").replace(
        "port: 9883", f"port: {admin}").replace("port: 1883", f"port: {bport}")
    g = Guard.__new__(Guard)
    g.certs, g.port, g.admin_port = certs, port, admin
    gdir = tmp_path / "guard"
    gdir.mkdir()
    sub = None
    try:
        g.start(gdir, text)
        hdr = cs["mqttguard"]["readinessProbe"]["httpGet"]["httpHeaders"][0]
        token = "a-token"    # the fixture's; the header's form is checked
        assert hdr["value"].startswith("Bearer ")
        assert http_get(admin, "/healthz")[0] == 401
        assert http_get(admin, "/healthz", token=token)[0] == 200
        wait_until(lambda: http_get(admin, "/readyz", token=token)[0] == 200,
                   what="/readyz 200")
        mq = ["-h", "127.0.0.1", "-p", str(port), "--cafile",
              str(certs / "ca.crt"), "-u", "demo", "-P", "demo-password"]
        sub = subprocess.Popen(["mosquitto_sub"] + mq +
                               ["-i", "devices-demo", "-t", "devices/demo/#",
                                "-C", "1", "-W", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: "Sending SUBACK to devices-demo" in b.log(),
                   what="the subscription")
        r = subprocess.run(["mosquitto_pub"] + mq + [
            "-i", "pub1", "-t", "devices/demo/t", "-m", "from the pod"],
            capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        out, _ = sub.communicate(timeout=30)
        assert out == b"from the pod\n"
        # Another session stays through the drain.
        sub = subprocess.Popen(["mosquitto_sub"] + mq +
                               ["-i", "devices-demo", "-t", "devices/demo/#"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        wait_until(lambda: b.log().count(
            "Sending SUBACK to devices-demo") == 2, what="the subscription")
        g.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: http_get(admin, "/readyz", token=token)[0] == 503,
                   what="/readyz 503 while draining")
        assert g.proc.poll() is None, "the drain did not serve the session"
        sub.kill()
        sub.wait()
        assert g.proc.wait(duration_s(policy["shutdown"]["drain"])) == 0
    finally:
        if sub is not None and sub.poll() is None:
            sub.kill()
            sub.wait()
        g.stop()
        b.stop()


# ---- Containerfile --------------------------------------------------------

def containerfile():
    """[(INSTRUCTION, arguments)], continuation lines joined."""
    text = (DIST / "Containerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_containerfile():
    ins = containerfile()
    known = {"FROM", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT",
             "CMD", "STOPSIGNAL", "ENV", "ARG", "LABEL", "HEALTHCHECK"}
    assert {i for i, _ in ins} <= known
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build")
    assert froms[1].endswith("-slim")
    # The runtime stage: no shell form where the image runs.
    runtime = ins[[i for i, _ in ins].index("FROM", 1):]
    user = [a for i, a in runtime if i == "USER"]
    assert user and all(int(x) != 0 for x in user[-1].split(":"))
    entry = [a for i, a in runtime if i == "ENTRYPOINT"]
    assert json.loads(entry[0]) == ["/usr/bin/mqttguard"]
    json.loads([a for i, a in runtime if i == "CMD"][0])
    for i, a in runtime:
        assert not (i == "HEALTHCHECK" and "CMD-SHELL" in a)
    # Its packages are those of the libraries the binary links.
    run = " ".join(a for i, a in runtime if i == "RUN")
    listed = set(re.findall(r"\b(lib[a-z0-9.-]+)", run))
    r = subprocess.run(["ldd", BIN], capture_output=True, text=True,
                       timeout=30)
    libs = re.findall(r"=> (/\S+)", r.stdout)
    owners = set()
    for lib in libs:
        for path in (lib, os.path.realpath(lib)):
            q = subprocess.run(["dpkg", "-S", path], capture_output=True,
                               text=True, timeout=30)
            if q.returncode == 0:
                break
        owners |= {line.split(":")[0] for line in q.stdout.splitlines()}
    owners.discard("libc6")
    if "asan" in BIN or "libasan" in r.stdout:
        pytest.skip("a sanitizer build links more")
    assert listed == owners, (listed, owners)


# ---- the unit's system-call filter, against what the daemon calls ---------

def syscall_set(group, seen=None):
    """The system calls of systemd's filter set <group>, nested sets
    expanded."""
    seen = set() if seen is None else seen
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, timeout=30).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        if w.startswith("@"):
            if w not in seen:
                seen.add(w)
                calls |= syscall_set(w, seen)
        else:
            calls.add(w)
    return calls


def unit_syscalls():
    """What the unit's SystemCallFilter= lines allow."""
    allowed = set()
    for v in unit_value("SystemCallFilter"):
        deny = v.startswith("~")
        names = set()
        for w in v.lstrip("~").split():
            names |= syscall_set(w) if w.startswith("@") else {w}
        allowed = allowed - names if deny else allowed | names
    return allowed


@pytest.mark.skipif(not shutil.which("systemd-analyze") or
                    not shutil.which("strace"),
                    reason="no systemd-analyze or strace")
def test_daemon_stays_within_the_unit_syscall_filter(tmp_path, certs, broker):
    """The seccomp filter cannot be applied without systemd as PID 1: the
    daemon runs under strace instead, through start, a TLS session with a
    password login, a reload, a log reopen and a drain, and every system
    call it makes must be one the unit allows (else systemd would answer
    EPERM)."""
    import signal
    import socket
    from helpers import free_port, port_open, wait_until
    if "libasan" in subprocess.run(["ldd", BIN], capture_output=True,
                                   text=True, timeout=30).stdout:
        pytest.skip("a sanitizer build: its runtime makes calls of its own "
                    "and LeakSanitizer cannot run under strace")
    allowed = unit_syscalls()
    assert len(allowed) > 200
    port, admin = free_port(), free_port()
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        f"listeners:\n  - name: tls\n    address: 127.0.0.1\n"
        f"    port: {port}\n"
        f"tls:\n  cert: {certs}/server.crt\n  key: {certs}/server.key\n"
        f"  ca: {certs}/ca.crt\n"
        f"auth:\n  password_file: {certs}/passwd\n  tarpit: 0\n"
        f"upstream:\n  host: 127.0.0.1\n  port: {broker.port}\n"
        f"log:\n  file: {tmp_path}/mqttguard.log\n"
        f"admin:\n  address: 127.0.0.1\n  port: {admin}\n"
        "workers: 2\nwatch: true\n"
        "shutdown:\n  drain: 1s\n  spread: 0s\n")
    os.chmod(certs / "passwd", 0o600)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(tmp_path / "notify"))
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify"))
    trace = tmp_path / "strace.out"
    p = subprocess.Popen(["strace", "-f", "-qq", "-o", str(trace), BIN,
                          "-c", str(pol)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(port) and port_open(admin) or
                   p.poll() is not None, what="mqttguard under strace")
        ns.settimeout(20)
        assert b"READY=1" in ns.recv(4096)
        # Signals go to the daemon, strace's child, not to strace.
        kids = (pathlib.Path(f"/proc/{p.pid}/task/{p.pid}/children")
                .read_text().split())
        assert len(kids) == 1
        daemon = int(kids[0])
        r = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "--cafile",
             str(certs / "ca.crt"), "-u", "demo", "-P", "demo-password",
             "-i", "syscalls", "-t", "demo/x", "-m", "x"],
            capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        from helpers import http_get
        assert http_get(admin, "/healthz")[0] == 200
        os.kill(daemon, signal.SIGHUP)
        assert b"RELOADING=1" in ns.recv(4096)
        assert b"READY=1" in ns.recv(4096)
        os.kill(daemon, signal.SIGUSR1)
        wait_until(lambda: "reopened" in (tmp_path /
                                          "mqttguard.log").read_text(),
                   what="the log reopened")
        os.kill(daemon, signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ns.close()
    used = set(re.findall(r"^\d+\s+([a-z0-9_]+)\(", trace.read_text(),
                          re.M))
    assert {"socket", "accept4", "sendto"} <= used, used
    # execve is strace starting the daemon, before any filter applies.
    assert used - allowed - {"execve"} == set()
    # Read-only root filesystem friendly (ProtectSystem=strict, the
    # container): the only file opened for writing is log.file.
    written = set(re.findall(
        r'open(?:at)?\((?:AT_FDCWD, )?"([^"]+)", [^)]*O_(?:WRONLY|RDWR)',
        trace.read_text()))
    assert written == {f"{tmp_path}/mqttguard.log"}, written
