# SPDX-License-Identifier: ISC
"""The service-manager protocol (Type=notify): started with NOTIFY_SOCKET
naming a datagram socket the test owns, as systemd would, mqttguard sends
READY=1 only once its listener accepts, RELOADING=1 (with MONOTONIC_USEC)
then READY=1 around a SIGHUP reload, good or bad, and STOPPING=1 at
SIGTERM, draining or not.  The abstract namespace ('@') and a path are
both tried.  With systemd as PID 1, the same through systemd-run."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from helpers import BIN, TIMEOUT, free_port, port_open, wait_until


def policy(port, upstream, shutdown="  drain: 0s\n  spread: 0s\n"):
    return (f"listeners:\n  - name: plain\n    address: 127.0.0.1\n"
            f"    port: {port}\n    tls: false\n"
            f"upstream:\n  host: 127.0.0.1\n  port: {upstream}\n"
            "auth:\n  anonymous: true\n  empty_client_id: assign\n"
            f"log:\n  level: debug\nshutdown:\n{shutdown}")


class Notified:
    """mqttguard on <text>, NOTIFY_SOCKET naming <where> ("abstract" or
    "path"), the datagrams it sends there read by messages()."""

    def __init__(self, tmp, text, where):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if where == "abstract":
            name = f"@mqttguard-test/{os.getpid()}/{free_port()}"
            self.sock.bind("\0" + name[1:])
        else:
            name = str(tmp / "notify")
            self.sock.bind(name)
        self.policy = tmp / "policy.yaml"
        self.policy.write_text(text)
        self.logfile = tmp / "mqttguard.log"
        self.log_fp = open(self.logfile, "wb")
        env = dict(os.environ, NOTIFY_SOCKET=name)
        self.proc = subprocess.Popen([BIN, "-c", str(self.policy)], env=env,
                                     stdout=self.log_fp, stderr=self.log_fp)

    def next(self, timeout=TIMEOUT):
        """The next datagram as a dict of its VARIABLE=value lines."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no notification within the bound:\n" +
                                 self.logfile.read_text())
        return dict(line.split("=", 1) for line in data.split("\n"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_fp.close()
        self.sock.close()


@pytest.fixture
def notified(tmp_path):
    made = []

    def make(text, where="abstract"):
        made.append(Notified(tmp_path, text, where))
        return made[-1]
    yield make
    for n in made:
        n.stop()


@pytest.mark.parametrize("where", ["abstract", "path"])
def test_ready_reload_stop(notified, broker, where):
    port = free_port()
    n = notified(policy(port, broker.port), where)
    m = n.next()
    # READY=1 comes once the listener accepts, not before: no retry here.
    assert m.get("READY") == "1", m
    assert port_open(port)
    assert "serving 1 listener" in m.get("STATUS", ""), m
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port),
                        "-t", "n/t", "-m", "through"], capture_output=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "'n/t'" in broker.log(), what="the broker to get it")

    n.proc.send_signal(signal.SIGHUP)
    m = n.next()
    assert m.get("RELOADING") == "1", m
    usec = int(m["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - time.monotonic()) < TIMEOUT, m
    m = n.next()
    assert m.get("READY") == "1" and "reloaded" in m["STATUS"], m

    # A broken policy: still RELOADING=1 then READY=1, the status says so.
    n.policy.write_text(n.policy.read_text() + "no_such_key: 1\n")
    n.proc.send_signal(signal.SIGHUP)
    assert n.next().get("RELOADING") == "1"
    m = n.next()
    assert m.get("READY") == "1" and "failed" in m["STATUS"], m
    assert port_open(port)

    n.proc.send_signal(signal.SIGTERM)
    m = n.next()
    assert m.get("STOPPING") == "1", m
    assert n.proc.wait(TIMEOUT) == 0


def test_stopping_at_drain(notified, broker):
    port = free_port()
    n = notified(policy(port, broker.port,
                        shutdown="  drain: 1s\n  spread: 0s\n"))
    assert n.next().get("READY") == "1"
    n.proc.send_signal(signal.SIGTERM)
    m = n.next()
    assert m.get("STOPPING") == "1" and "draining" in m["STATUS"], m
    assert n.proc.wait(TIMEOUT) == 0


def test_no_ready_when_the_port_is_taken(notified, broker):
    """An address in use: exit 1 and no READY=1 (systemd then reports the
    failed start)."""
    n = notified(policy(broker.port, broker.port))
    assert n.proc.wait(TIMEOUT) == 1
    n.sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        n.sock.recv(4096)


def systemd_pid1():
    try:
        return open("/proc/1/comm").read().strip() == "systemd"
    except OSError:
        return False


@pytest.mark.skipif(not systemd_pid1() or not shutil.which("systemd-run"),
                    reason="systemd is not PID 1 here")
def test_systemd_run(broker, tmp_path):
    port = free_port()
    p = tmp_path / "policy.yaml"
    p.write_text(policy(port, broker.port))
    unit = f"mqttguard-test-{os.getpid()}-{port}"
    r = subprocess.run(["systemd-run", "--unit", unit, "-p", "Type=notify",
                        "--wait", "--no-block", BIN, "-c", str(p)],
                       capture_output=True, timeout=TIMEOUT)
    try:
        wait_until(lambda: subprocess.run(
            ["systemctl", "is-active", unit], capture_output=True,
            text=True).stdout.strip() == "active", what="the unit active")
        assert port_open(port)
    finally:
        subprocess.run(["systemctl", "stop", unit], timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
