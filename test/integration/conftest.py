# SPDX-License-Identifier: ISC
"""Integration-test harness: a real Mosquitto and a real mqttguard.

Every test gets its own broker and proxy on free high ports bound to
127.0.0.1, with its own policy file, and both processes are stopped when the
test ends (the proxy with SIGTERM, whose exit status must be 0 and whose log
must hold no sanitizer report).  Run with Debian's /usr/bin/python3, which
sees python3-paho-mqtt.

This file holds the pytest fixtures; the processes, clients and frame
builders behind them are in helpers.py, where the test modules import them
from.
"""
import subprocess

import pytest

from helpers import ROOT, Broker, Guard, chromium_path, factory, npm_ci


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([str(ROOT / "scripts" / "gen-certs.sh"), str(d)],
                   check=True, capture_output=True, timeout=60)
    return d


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    b.stop()


@pytest.fixture
def guard_factory(tmp_path, certs):
    """make(upstream_port, **Guard's options): a proxy in front of it."""
    yield from factory(tmp_path, "guard", lambda d, upstream_port, **kw:
                       Guard(d, certs, upstream_port, **kw))


@pytest.fixture
def guard(guard_factory, broker):
    return guard_factory(broker.port, plain=True)


@pytest.fixture(scope="session")
def mqttjs_ready():
    """test/ws's packages installed (npm ci); skips when Node.js or npm is
    not installed at all."""
    why = npm_ci()
    if why:
        pytest.skip(why)


@pytest.fixture(scope="session")
def chromium_ready(mqttjs_ready):
    """As mqttjs_ready, and a Chromium to drive; skips without one."""
    if not chromium_path():
        pytest.skip("chromium not installed (scripts/deps.sh --test "
                    "installs it; or set CHROMIUM)")
