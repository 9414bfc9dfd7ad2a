# SPDX-License-Identifier: ISC
"""Running mqttguard in production: health probes that are not incidents,
and a graceful drain on SIGTERM, against a real Mosquitto."""
import signal
import socket
import time

from helpers import (TIMEOUT, Paho, accepted, login, passwd_file,
                     plain_socket, read_until_closed, wait_until)


def test_tcp_probes_are_not_incidents(guard_factory, broker):
    """A load balancer's or Kubernetes' TCP check connects and closes:
    logged at debug and counted apart, never as a TLS failure."""
    g = guard_factory(broker.port, plain=True)
    # The harness's own wait for the port was one already.
    wait_until(lambda: "a probe" in g.log(), what="the harness's probe")
    base = g.log().count("a probe")
    for port in [g.port] * 5 + [g.plain_port] * 3:
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.close()
    wait_until(lambda: g.log().count("closed before sending anything "
                                     "(a probe)") == base + 8,
               what="the probes to be seen")
    log = g.log()
    assert "TLS handshake failed" not in log
    assert not [x for x in log.splitlines()
                if " warn: session" in x or " info: session" in x], log
    for line in log.splitlines():
        if "a probe" in line:
            assert " debug: " in line, line
    # Bytes that are not a TLS handshake are still a failure, with a
    # warning.
    s = socket.create_connection(("127.0.0.1", g.port), timeout=TIMEOUT)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    read_until_closed(s)
    wait_until(lambda: "TLS handshake failed" in g.log(),
               what="the handshake failure")
    assert g.log().count("a probe") == base + 8
