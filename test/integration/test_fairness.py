# SPDX-License-Identifier: ISC
"""The budget of connections not yet authenticated
(limits.max_unauthenticated) is shared fairly between networks: when it is
full, a newcomer from a network holding fewer pending connections than the
one holding the most takes the place of that network's oldest, which is
closed; a newcomer from the network holding the most, or a budget filled
evenly, refuses the newcomer as before.

Loopback stands in for the Internet: 127.0.<n>.x is network n under the
default /24 prefix.  The slow connections open TCP and send nothing."""
import select
import socket
import time

from helpers import (TIMEOUT, accepted, connect, plain_socket, recv_exact,
                     wait_until)

BUDGET = 12
EVICTED = "closed the oldest from"  # the eviction's log line
LIMITS = (f"  max_unauthenticated: {BUDGET}\n  connect_timeout: 60s\n"
          "  max_connections_per_address: 0\n")


def opened(guard):
    """Sessions the proxy has accepted on its plain listener so far."""
    return guard.log().count("open on plain")


def fill(guard, addrs):
    """One silent connection from each of <addrs>, accepted in order."""
    before = opened(guard)
    socks = []
    for i, a in enumerate(addrs):
        socks.append(plain_socket(guard.plain_port, a))
        wait_until(lambda: opened(guard) >= before + i + 1,
                   what="the proxy accepting a slow connection")
    return socks


def is_closed(sock):
    """Whether the proxy has closed <sock> (EOF or reset waiting)."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def mqtt_connect(sock, cid):
    """CONNECT on <sock>; whether the CONNACK accepts it (False when the
    proxy closed the connection instead)."""
    try:
        sock.sendall(connect(cid=cid))
        return accepted(recv_exact(sock, 4))
    except (ConnectionError, AssertionError, OSError):
        return False


def refused(guard, addr):
    """A connection from <addr> is closed before anything is read."""
    s = plain_socket(guard.plain_port, addr)
    s.settimeout(TIMEOUT)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def test_largest_network_yields_oldest_first(guard_factory, broker):
    """One network fills the budget: honest newcomers from elsewhere get
    in, each in the place of the attacker's oldest connection, in order;
    the attacker's newer connections stay open."""
    g = guard_factory(broker.port, plain=True, limits=LIMITS)
    attack = fill(g, [f"127.0.1.{i + 1}" for i in range(BUDGET)])
    honest = [plain_socket(g.plain_port, f"127.0.2.{i + 1}")
              for i in range(3)]
    wait_until(lambda: all(is_closed(s) for s in attack[:3]),
               what="the attacker's three oldest connections closed")
    assert not any(is_closed(s) for s in attack[3:])
    for i, s in enumerate(honest):
        assert mqtt_connect(s, b"honest%d" % i)
    log = g.log()
    assert f"{EVICTED} 127.0.1.0/24" in log, log
    for s in attack + honest:
        s.close()


def test_own_network_is_refused(guard_factory, broker):
    """A newcomer from the network holding the most is refused as before:
    it would only take the place of one of its own."""
    g = guard_factory(broker.port, plain=True, limits=LIMITS)
    attack = fill(g, [f"127.0.1.{i + 1}" for i in range(BUDGET)])
    assert refused(g, "127.0.1.200")
    time.sleep(0.2)
    assert not any(is_closed(s) for s in attack)
    assert EVICTED not in g.log()
    for s in attack:
        s.close()


def test_even_budget_is_first_come(guard_factory, broker):
    """The budget filled evenly, one connection per network: a newcomer
    from yet another network would not make the shares more even; it is
    refused, and nobody is closed."""
    g = guard_factory(broker.port, plain=True, limits=LIMITS)
    held = fill(g, [f"127.0.{10 + i}.1" for i in range(BUDGET)])
    assert refused(g, "127.0.3.1")
    time.sleep(0.2)
    assert not any(is_closed(s) for s in held)
    assert EVICTED not in g.log()
    for s in held:
        s.close()


def test_authenticated_are_never_evicted(guard_factory, broker):
    """Only connections not yet authenticated are candidates: an attacker
    whose connections completed CONNECT holds no place in the budget."""
    g = guard_factory(broker.port, plain=True, limits=LIMITS)
    done = fill(g, [f"127.0.1.{i + 1}" for i in range(4)])
    for i, s in enumerate(done):
        assert mqtt_connect(s, b"early%d" % i)
    slow = fill(g, [f"127.0.1.{i + 10}" for i in range(BUDGET)])
    newcomer = plain_socket(g.plain_port, "127.0.2.1")
    wait_until(lambda: is_closed(slow[0]),
               what="the oldest pending connection closed")
    assert not any(is_closed(s) for s in done + slow[1:])
    assert mqtt_connect(newcomer, b"honest")
    for s in done + slow + [newcomer]:
        s.close()


def test_behind_a_balancer(guard_factory, broker):
    """On a PROXY protocol listener the networks are the clients' real
    ones, from the headers: one network filling the budget through the
    balancer loses its oldest to a newcomer from elsewhere."""
    lb = "127.0.0.5"
    g = guard_factory(broker.port, plain=True, limits=LIMITS,
                      plain_extra="    proxy_protocol: v1\n"
                      f"    trusted_proxies: [{lb}/32]\n")

    def via(client):
        s = plain_socket(g.plain_port, lb)
        s.sendall(f"PROXY TCP4 {client} 127.0.0.1 40000 1883\r\n".encode())
        return s
    attack = []
    for i in range(BUDGET):
        attack.append(via(f"198.51.100.{i + 1}"))
        wait_until(lambda: g.log().count("(PROXY protocol v1)") >= i + 1,
                   what="the proxy reading a PROXY header")
    newcomer = via("203.0.113.7")
    wait_until(lambda: is_closed(attack[0]),
               what="the oldest connection of 198.51.100.0/24 closed")
    assert not any(is_closed(s) for s in attack[1:])
    assert mqtt_connect(newcomer, b"honest")
    assert f"{EVICTED} 198.51.100.0/24" in g.log()
    for s in attack + [newcomer]:
        s.close()
