# SPDX-License-Identifier: ISC
"""Network mutation fuzzing through mqttguard (scripts/netfuzz.py): mutated
but well-framed 3.1.1 and 5.0 sessions, and a real Mosquitto behind the
proxy with log_type all.  The broker must never complain about a proxied
client: no protocol error, no malformed packet, no out-of-memory
disconnect, no acknowledgement for an unknown packet identifier, no QoS 2
identifier reused while in flight.

Each mutation class runs for its share of NETFUZZ_DURATION seconds
(default 40), from NETFUZZ_SEED (default: random, printed, and named in
every failure).  A failure prints each kind of complaint with the frames
of a session that caused it.
"""
import importlib.util
import io
import os
import random
import time

import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location(
    "netfuzz", ROOT / "scripts" / "netfuzz.py")
netfuzz = importlib.util.module_from_spec(spec)
spec.loader.exec_module(netfuzz)

DURATION = float(os.environ.get("NETFUZZ_DURATION", "40"))
SEED = int(os.environ.get("NETFUZZ_SEED", random.randrange(1 << 30)))


# (kinds, share of DURATION)
CLASSES = [
    pytest.param(["framing", "payload-format"], 0.55, id="framing"),
    pytest.param(["wrong-ack"], 0.15, id="wrong-ack"),
    pytest.param(["qos2-reuse"], 0.15, id="qos2-reuse"),
    pytest.param(["nonchar"], 0.15, id="nonchar"),
]


@pytest.mark.parametrize("kinds,share", CLASSES)
def test_netfuzz(guard_factory, broker, kinds, share):
    g = guard_factory(broker.port, plain=True)
    print(f"netfuzz seed {SEED} (NETFUZZ_SEED)")
    sessions = netfuzz.run(g.plain_port, DURATION * share, SEED, kinds)
    assert len(sessions) > 0
    time.sleep(0.5)     # the broker's last log lines
    log = broker.log()
    # Every session reached the broker: the run tested something.
    assert "New client connected" in log or "New connection" in log
    found = netfuzz.complaints(log)
    out = io.StringIO()
    netfuzz.report(found, sessions, out)
    assert not found, (f"seed {SEED} (NETFUZZ_SEED), {len(sessions)} "
                       f"sessions: the broker complained:\n" +
                       out.getvalue())
