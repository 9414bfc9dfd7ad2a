# SPDX-License-Identifier: ISC
"""The admin listener: /metrics checked by promtool and scraped by a real
Prometheus server, /healthz, /readyz following the broker, the bearer
token, and the HTTP answers to anything else."""
import hashlib
import os
import shutil
import subprocess

import pytest

from helpers import (TIMEOUT, Broker, Paho, Prometheus, connect, free_port,
                     http_get, metric, mqtt_str, passwd_file, plain_socket,
                     publish, reply, run_mqttguard, wait_until)

ACL = ("acl:\n  rules:\n    - allow: all\n      topic: \"ok/#\"\n")

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Debian package prometheus (scripts/deps.sh --test)")


def scrape(g, token=None):
    status, headers, body = http_get(g.admin_port, "/metrics", token=token)
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return body


@needs_prometheus
def test_metrics_pass_promtool(guard_factory, broker):
    g = guard_factory(broker.port, plain=True, admin=True, extra=ACL)
    c = Paho(g, "m1", port=g.plain_port, tls=False)
    assert c.connect() == 0
    c.publish("ok/a", b"x", qos=1)
    c.close()
    body = scrape(g)
    r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                       capture_output=True, timeout=TIMEOUT)
    print("promtool:", r.returncode, r.stdout.decode(), r.stderr.decode())
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert r.stdout == b"" and r.stderr == b""    # not even a lint warning
    assert metric(body, 'mqttguard_frames_total{direction="from_client",'
                  'type="publish"}') == 1
    assert metric(body, 'mqttguard_acl_decisions_total{action="publish",'
                  'result="allow"}') == 1
    assert metric(body, 'mqttguard_connections_accepted_total'
                  '{listener="plain"}') == 1
    assert metric(body, 'mqttguard_upstream_connect_duration_seconds_count'
                  ) == 1
    sha = hashlib.sha256(g.policy.read_bytes()).hexdigest()
    assert metric(body, f'mqttguard_policy_info{{sha256="{sha}"}}') == 1
    assert 'mqttguard_build_info{version="' in body
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_virtual_memory_bytes", "process_open_fds",
                 "process_max_fds", "process_start_time_seconds"):
        assert f"\n{name} " in body, name


@needs_prometheus
def test_prometheus_sees_a_denial(guard_factory, broker, tmp_path):
    g = guard_factory(broker.port, plain=True, admin=True, extra=ACL)
    pd = tmp_path / "prometheus"
    pd.mkdir()
    prom = Prometheus(pd, [f"127.0.0.1:{g.admin_port}"])
    try:
        denied = ('mqttguard_acl_decisions_total{action="publish",'
                  'result="deny"}')
        # Scraped once before: the counter is there, and zero.
        wait_until(lambda: prom.value(denied) == 0, what="a first scrape")
        s = plain_socket(g.plain_port)
        s.sendall(connect(cid=b"denied"))
        assert s.recv(4) == b"\x20\x02\x00\x00"
        s.sendall(publish(b"no/such", b"x", qos=1, pid=7))
        assert s.recv(4) == b"\x40\x02\x00\x07"   # 3.x: acked, dropped
        s.close()
        wait_until(lambda: prom.value(denied) == 1,
                   what="Prometheus to see the denial")
        assert prom.value('up{job="mqttguard"}') == 1
        assert "acl: session" in g.log()
    finally:
        prom.stop()


def test_healthz(guard_factory, broker):
    g = guard_factory(broker.port, admin=True, workers=2)
    status, _, body = http_get(g.admin_port, "/healthz")
    assert status == 200, body
    assert body == "ok: 2 workers answering\n"
    status, _, body = http_get(g.admin_port, "/healthz", method="HEAD")
    assert status == 200 and body == ""


def test_readyz_follows_the_broker(guard_factory, tmp_path):
    port = free_port()
    g = guard_factory(port, admin=True)
    # Nothing listens there: not ready, and why.
    wait_until(lambda: http_get(g.admin_port, "/readyz")[0] == 503,
               what="/readyz 503")
    status, _, body = http_get(g.admin_port, "/readyz")
    assert status == 503 and f"upstream 127.0.0.1:{port}" in body, body
    bd = tmp_path / "late-broker"
    bd.mkdir()
    b = Broker(bd, port=port)
    try:
        # The probe finds it within a tick.
        wait_until(lambda: http_get(g.admin_port, "/readyz")[0] == 200,
                   what="/readyz 200 once the broker listens")
        assert http_get(g.admin_port, "/readyz")[2].startswith("ready: ")
    finally:
        b.stop()
    wait_until(lambda: http_get(g.admin_port, "/readyz")[0] == 503,
               what="/readyz 503 once the broker is gone")
    assert "unreachable" in http_get(g.admin_port, "/readyz")[2]


def test_token_required_when_given(guard_factory, broker, tmp_path):
    tok = tmp_path / "admin.token"
    tok.write_text("t0ken-of-the-admin\n")
    os.chmod(tok, 0o600)
    g = guard_factory(broker.port, admin=True,
                      admin_extra=f"  token_file: {tok}\n")
    for path in ("/metrics", "/healthz", "/readyz", "/nope"):
        status, headers, _ = http_get(g.admin_port, path)
        assert status == 401, path
        assert headers["www-authenticate"].startswith("Bearer")
        assert http_get(g.admin_port, path, token="t0ken-of-the-admin!"
                        )[0] == 401
    assert scrape(g, token="t0ken-of-the-admin")
    assert http_get(g.admin_port, "/healthz",
                    token="t0ken-of-the-admin")[0] == 200
    assert "bearer token required" in g.log()


def test_not_found_and_method(guard_factory, broker):
    g = guard_factory(broker.port, admin=True)
    status, _, body = http_get(g.admin_port, "/nope")
    assert status == 404 and "/metrics" in body
    assert http_get(g.admin_port, "/")[0] == 404
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = http_get(g.admin_port, "/metrics",
                                      method=method, body=b"")
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"
    assert http_get(g.admin_port, "/metrics?x=1")[0] == 200


def test_tls_failures_and_probes(guard_factory, broker):
    g = guard_factory(broker.port, admin=True)

    def counts():
        body = scrape(g)
        return (metric(body, 'mqttguard_probes_total{listener="tls"}'),
                metric(body, 'mqttguard_tls_handshake_failures_total'
                       '{listener="tls"}'))
    # The harness's own check that the port listens was a probe already.
    wait_until(lambda: counts()[0] >= 1, what="the harness's probe")
    probes, failures = counts()
    s = plain_socket(g.port)         # connects, sends nothing, leaves
    s.close()
    s = plain_socket(g.port)         # not TLS at all
    assert reply(s, b"GET / HTTP/1.0\r\n\r\n") == b""
    wait_until(lambda: counts() == (probes + 1, failures + 1),
               what="one more probe and one more failure")


def test_refused_logins_counted(guard_factory, broker, tmp_path):
    pw = passwd_file(tmp_path / "passwd", ["alice"])
    g = guard_factory(broker.port, plain=True, admin=True,
                      auth=f"auth:\n  password_file: {pw}\n  tarpit: 0s\n")
    s = plain_socket(g.plain_port)
    got = reply(s, connect(cid=b"anon"))
    assert got[:2] == b"\x20\x02" and got[3] == 0x05
    s = plain_socket(g.plain_port)
    got = reply(s, connect(cid=b"a1", flags=0xC2,
                           payload=mqtt_str(b"alice") + mqtt_str(b"wrong")))
    assert got[:2] == b"\x20\x02" and got[3] == 0x04
    body = scrape(g)
    assert metric(body, 'mqttguard_auth_attempts_total{method="anonymous",'
                  'result="no_credentials"}') == 1
    assert metric(body, 'mqttguard_auth_attempts_total{method="password",'
                  'result="bad_password"}') == 1
    assert metric(body, "mqttguard_password_check_duration_seconds_count"
                  ) == 1
    assert metric(body, "mqttguard_password_checks_queued") == 0


def test_non_loopback_needs_a_token(tmp_path, certs):
    p = tmp_path / "policy.yaml"
    p.write_text("listeners:\n  - address: 127.0.0.1\n    port: 8883\n"
                 "    tls: false\nupstream:\n  host: 127.0.0.1\n"
                 "  port: 1883\nauth:\n  anonymous: true\n"
                 "admin:\n  address: 0.0.0.0\n")
    r = run_mqttguard("-t", "-c", str(p))
    assert r.returncode == 2
    assert (f"{p}:11:12: admin.address: 0.0.0.0 is not a loopback "
            "address: set admin.token_file") in r.stderr.decode()


def test_admin_port_in_use(guard_factory, broker):
    g = guard_factory(broker.port, admin=True)
    # The same policy on another MQTT port: the admin one is taken, and
    # start-up fails.
    other = g.policy.parent / "other.yaml"
    other.write_text(g.policy.read_text().replace(
        f"    port: {g.port}\n", f"    port: {free_port()}\n"))
    r = run_mqttguard("-c", str(other))
    assert r.returncode == 1, r.stderr.decode()
    assert (f"admin listener (127.0.0.1 port {g.admin_port})"
            in r.stderr.decode())
