# SPDX-License-Identifier: ISC
"""MQTT over WebSockets with real clients through mqttguard to a real
Mosquitto: MQTT.js under Node over ws:// and wss:// (verifying the proxy's
certificate against the test CA), and MQTT.js's browser bundle in headless
Chromium, loaded from a page this test serves on 127.0.0.1, over wss://.

Each run publishes at QoS 0, 1 and 2, small messages and 200 KiB ones (many
WebSocket frames' worth: sent by Node as 4 KiB continuation frames in one
case), and the subscriber's SHA-256 of each payload must be the publisher's.
ACL denials, a wrong password and the Origin allow-list are seen as the
clients see them (MQTT.js's errors and reason codes, the page's DOM).

The clients live in test/ws (scenario.js is the same code in Node and in the
page); the mqttjs_ready fixture runs npm ci there when node_modules is not
current.  Without Node.js, npm or Chromium the tests skip, saying which."""
import pytest

from helpers import (PageServer, chromium, mqttjs, passwd_file, password,
                     spki_sha256, ws_expect, ws_received)

BIG = 200 * 1024

# Small and big messages at each QoS; the subscription is at QoS 2, so each
# arrives at the QoS it was sent with.
MESSAGES = [
    {"topic": "ws/q0", "qos": 0, "size": 16, "seed": 1},
    {"topic": "ws/q1", "qos": 1, "size": 16, "seed": 2},
    {"topic": "ws/q2", "qos": 2, "size": 16, "seed": 3},
    {"topic": "ws/big0", "qos": 0, "size": BIG, "seed": 4},
    {"topic": "ws/big1", "qos": 1, "size": BIG, "seed": 5},
    {"topic": "ws/big2", "qos": 2, "size": BIG, "seed": 6},
]

VERSIONS = {"3.1": 3, "3.1.1": 4, "5.0": 5}

# The tests that run MQTT.js under Node.
node = pytest.mark.usefixtures("mqttjs_ready")

def ws_listener(origins=None, path=None):
    """listener_extra / plain_extra making a Guard listener a WebSocket
    one."""
    text = "    websocket: true\n"
    if path:
        text += f"    websocket_path: {path}\n"
    if origins is not None:
        text += ("    websocket_origins: [" +
                 ", ".join(f'"{o}"' for o in origins) + "]\n")
    return text


def url(guard, tls=True, path="/mqtt"):
    if tls:
        return f"wss://127.0.0.1:{guard.port}{path}"
    return f"ws://127.0.0.1:{guard.plain_port}{path}"


def pubsub(guard, tls, version, tag, **spec):
    """The scenario of a subscriber of ws/# and a publisher of MESSAGES."""
    return dict({
        "url": url(guard, tls), "ca": str(guard.certs / "ca.crt"),
        "version": version, "sub": {"clientId": f"sub-{tag}"},
        "pub": {"clientId": f"pub-{tag}"}, "filter": "ws/#",
        "publish": MESSAGES, "expect": len(MESSAGES), "settle": 200,
    }, **spec)


def assert_delivered(r, messages=MESSAGES):
    assert "timeout" not in r and "exception" not in r, r
    assert r["sub"] == {"connack": 0} and r["pub"] == {"connack": 0}, r
    assert r["suback"] == {"error": None, "granted": [2]}, r
    assert [p["error"] for p in r["published"]] == [None] * len(messages)
    assert sorted(ws_received(r)) == sorted(ws_expect(messages))


@pytest.fixture
def wsguard(guard_factory, broker):
    """mqttguard with a WebSocket listener over TLS (self.port) and one
    without (self.plain_port)."""
    return guard_factory(broker.port, plain=True,
                         listener_extra=ws_listener(),
                         plain_extra=ws_listener())


@node
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("tls", [True, False], ids=["wss", "ws"])
def test_node_qos_and_big_messages(wsguard, tmp_path, tls, version):
    r = mqttjs(pubsub(wsguard, tls, VERSIONS[version],
                      f"{version}-{tls}"), tmp_path)
    assert_delivered(r)


@node
def test_node_fragmented_messages(wsguard, tmp_path):
    """Every WebSocket message MQTT.js sends is cut into 4 KiB frames (a
    first one, then continuation frames): the 200 KiB PUBLISHes arrive in
    50 frames each, the small packets in one."""
    r = mqttjs(pubsub(wsguard, True, 5, "frag", fragment=4096), tmp_path)
    assert_delivered(r)


@node
def test_node_verifies_the_certificate(wsguard, tmp_path):
    """MQTT.js verifies the proxy's certificate: against another CA, no
    session."""
    r = mqttjs(pubsub(wsguard, True, 5, "ca",
                      ca=str(wsguard.certs / "other-ca.crt")), tmp_path)
    assert r["sub"]["error"] and "connack" not in r["sub"], r
    assert r["received"] == []


@node
def test_node_path(guard_factory, broker, tmp_path):
    """Only websocket_path upgrades: MQTT.js on another path gets no
    session."""
    g = guard_factory(broker.port, listener_extra=ws_listener(
        path="/mqtt-ws"))
    spec = pubsub(g, True, 4, "path", url=url(g, path="/mqtt-ws"))
    assert_delivered(mqttjs(spec, tmp_path))
    r = mqttjs(dict(spec, url=url(g)), tmp_path)
    assert r["sub"]["error"] and "connack" not in r["sub"], r


# ---- authentication and ACL ----------------------------------------------

ACL = """acl:
  deny_action_v3: drop
  rules:
    - allow: all
      topic: "ws/#"
      users: [alice]
    - allow: [subscribe, read]
      topic: "#"
      users: [bob]
"""


@pytest.fixture
def aclguard(guard_factory, broker, tmp_path):
    pw = passwd_file(tmp_path / "users.passwd", ["alice", "bob"])
    return guard_factory(
        broker.port, listener_extra=ws_listener(),
        auth=f"auth:\n  password_file: {pw}\n  tarpit: 0\n"
        "  empty_client_id: assign\n", extra=ACL)


def login(user, cid, pw=None):
    return {"clientId": cid, "username": user,
            "password": password(user) if pw is None else pw}


@node
@pytest.mark.parametrize("version", [4, 5])
def test_node_acl_denied_publish_not_delivered(aclguard, tmp_path, version):
    """alice may publish to ws/# only: her PUBLISHes to secret/ at QoS 1
    and 2 are refused (PUBACK/PUBREC 0x87, MQTT.js's error 135, at 5.0;
    acknowledged and dropped at 3.1.1, deny_action_v3: drop) and bob,
    subscribed to #, receives only the allowed one."""
    denied = [{"topic": "secret/a", "qos": 1, "size": 8, "seed": 7},
              {"topic": "secret/b", "qos": 2, "size": 8, "seed": 8}]
    allowed = [{"topic": "ws/ok", "qos": 1, "size": 8, "seed": 9}]
    r = mqttjs({"url": url(aclguard), "ca": str(aclguard.certs / "ca.crt"),
                "version": version, "sub": login("bob", f"bob-{version}"),
                "pub": login("alice", f"alice-{version}"), "filter": "#",
                "publish": denied + allowed, "expect": 1, "settle": 1000},
               tmp_path)
    assert r["sub"] == {"connack": 0} and r["pub"] == {"connack": 0}, r
    codes = [p["error"] and p["error"]["code"] for p in r["published"]]
    assert codes == ([135, 135, None] if version == 5 else [None] * 3), r
    assert ws_received(r) == ws_expect(allowed)
    assert aclguard.log().count("secret/") >= 2


@node
@pytest.mark.parametrize("version,code", [(4, 4), (5, 0x86)])
def test_node_wrong_password_refused(aclguard, tmp_path, version, code):
    """A wrong password: MQTT.js's connect error carries the CONNACK's
    code (3.1.1: 4, bad user name or password; 5.0: 0x86); the right one
    connects."""
    spec = {"url": url(aclguard), "ca": str(aclguard.certs / "ca.crt"),
            "version": version, "sub": None}
    r = mqttjs(dict(spec, pub=login("alice", "a-bad", pw="wrong-Zq9")),
               tmp_path)
    assert "connack" not in r["pub"] and r["pub"]["error"]["code"] == code
    r = mqttjs(dict(spec, pub=login("alice", "a-good")), tmp_path)
    assert r["pub"] == {"connack": 0}, r


# ---- the Origin allow-list ------------------------------------------------

@node
def test_node_origin(guard_factory, broker, tmp_path):
    """websocket_origins: a listed Origin upgrades, another is refused; a
    client that sends none (not a browser) is let in."""
    g = guard_factory(broker.port, listener_extra=ws_listener(
        origins=["https://app.example"]))
    spec = pubsub(g, True, 5, "origin")
    assert_delivered(mqttjs(dict(spec, origin="https://app.example"),
                            tmp_path))
    r = mqttjs(dict(spec, origin="https://evil.example"), tmp_path)
    assert r["sub"]["error"] and "connack" not in r["sub"], r
    assert_delivered(mqttjs(spec, tmp_path))


# ---- headless Chromium ----------------------------------------------------

@pytest.fixture
def page(chromium_ready):
    s = PageServer()
    yield s
    s.stop()


def browser_spec(guard, tag, version=5):
    return {"url": url(guard), "version": version,
            "sub": {"clientId": f"page-sub-{tag}"},
            "pub": {"clientId": f"page-pub-{tag}"}, "filter": "ws/#",
            "publish": MESSAGES, "expect": len(MESSAGES), "settle": 200}


@pytest.mark.parametrize("version", [4, 5])
def test_browser_qos_and_big_messages(guard_factory, broker, page, tmp_path,
                                      version):
    """The page (its origin listed in websocket_origins) connects over
    wss:// with Chromium trusting only the proxy's key, subscribes,
    publishes at QoS 0/1/2 with 200 KiB messages, and writes what it
    received into its DOM."""
    g = guard_factory(broker.port, listener_extra=ws_listener(
        origins=["https://app.example", page.origin]))
    got = chromium(page.url(browser_spec(g, version, version)),
                   tmp_path / "profile", pin=spki_sha256(g.certs /
                                                         "server.crt"))
    assert got["done"], got
    r = got["result"]
    assert r["origin"] == page.origin
    assert_delivered(r)
    want = sorted(f"{t} qos={q} size={n} sha256={h}"
                  for t, q, n, h in ws_expect(MESSAGES))
    assert sorted(got["messages"]) == want


def test_browser_origin_refused(guard_factory, broker, page, tmp_path):
    """A listener whose allow-list does not hold the page's origin refuses
    the page's WebSocket: no session, nothing in the DOM."""
    g = guard_factory(broker.port, listener_extra=ws_listener(
        origins=["https://app.example"]))
    got = chromium(page.url(browser_spec(g, "origin")),
                   tmp_path / "profile", pin=spki_sha256(g.certs /
                                                         "server.crt"))
    assert got["done"], got
    r = got["result"]
    assert r["sub"]["error"] and "connack" not in r["sub"], r
    assert got["messages"] == [] and r["received"] == []
    assert page.origin in g.log()


def test_browser_trusts_only_the_pinned_key(guard_factory, broker, page,
                                            tmp_path):
    """The pin is what makes Chromium accept the test certificate: pinned
    to another key, the page gets no session (the browser still verifies
    the certificate)."""
    g = guard_factory(broker.port, listener_extra=ws_listener())
    got = chromium(page.url(browser_spec(g, "pin")), tmp_path / "profile",
                   pin=spki_sha256(g.certs / "other-ca.crt"))
    assert got["done"], got
    assert got["result"]["sub"]["error"], got
    assert got["messages"] == []

