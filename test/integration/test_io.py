# SPDX-License-Identifier: ISC
"""The data path's system calls, counted with strace on the running proxy.

A stream of QoS 0 messages through the proxy, both ways (mosquitto_pub in,
mosquitto_sub out), over the plain and the TLS listener: the proxy never
asks FIONREAD before a read, and adds or deletes events only to set
connections up and down, never per message (docs/development.md, "The
data path").  Counts, not times: nothing here depends on the machine's
speed.
"""
import os
import subprocess

import pytest

from helpers import TIMEOUT, free_port, wait_until

N = 5000
# epoll_ctl() calls a publisher's connection may cost (accepting it, its
# broker connection's connect and events, both closes), with room.
SETUP_EPOLL_CTL = 40


def traced_tasks(pid, tracer):
    """Whether every thread of <pid> is traced by <tracer>."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        for t in tasks:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                if f"TracerPid:\t{tracer}\n" not in f.read():
                    return False
    except OSError:
        return False
    return True


def counts(path):
    """strace -c's table: syscall name -> calls."""
    got = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[3].isdigit():
            got[f[-1]] = int(f[3])
    return got


@pytest.mark.parametrize("over_tls", [False, True])
def test_no_fionread_no_epoll_ctl_per_message(guard, broker, tmp_path,
                                              over_tls):
    port = guard.port if over_tls else guard.plain_port
    tls = ["--cafile", str(guard.certs / "ca.crt")] if over_tls else []
    args = ["-h", "127.0.0.1", "-p", str(port)] + tls
    out = tmp_path / "sub.out"
    sid = f"io-{free_port()}"
    with open(out, "wb") as fp:
        subp = subprocess.Popen(["mosquitto_sub"] + args +
                                ["-i", sid, "-t", "t/io", "-C", str(N),
                                 "-W", str(TIMEOUT * 3)], stdout=fp,
                                stderr=subprocess.DEVNULL)
    wait_until(lambda: f"Sending SUBACK to {sid}" in broker.log(),
               what="the subscription")
    table = tmp_path / "strace.out"
    st = subprocess.Popen(["strace", "-f", "-q", "-c", "-e",
                           "trace=ioctl,epoll_ctl,read,readv",
                           "-o", str(table), "-p", str(guard.proc.pid)],
                          stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: traced_tasks(guard.proc.pid, st.pid) or
                   st.poll() is not None, what="strace to attach")
        if st.poll() is not None:
            pytest.skip("strace cannot trace the proxy here")
        lines = b"".join(b"m%06d %s\n" % (i, b"x" * 56) for i in range(N))
        r = subprocess.run(["mosquitto_pub"] + args +
                           ["-t", "t/io", "-l"], input=lines,
                           capture_output=True, timeout=TIMEOUT * 3)
        assert r.returncode == 0, r.stderr
        subp.wait(TIMEOUT * 3)
    finally:
        if subp.poll() is None:
            subp.kill()
            subp.wait()
        st.send_signal(2)
        st.wait(TIMEOUT)
    assert out.read_bytes() == lines
    c = counts(table)
    assert c.get("read", 0) + c.get("readv", 0) > 0, table.read_text()
    assert c.get("ioctl", 0) == 0, table.read_text()
    assert c.get("epoll_ctl", 0) <= SETUP_EPOLL_CTL, table.read_text()
