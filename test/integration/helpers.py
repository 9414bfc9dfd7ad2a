# SPDX-License-Identifier: ISC
"""What the integration tests share, each piece defined once: the processes
(a real Mosquitto, mqttguard, and mqttguard's command-line tools), the
clients (mosquitto_pub/_sub, paho-mqtt), raw MQTT frames built byte by
byte, and raw sockets to send them on and read the answers.

Test modules import from here, never from one another nor from conftest.py,
which holds only the pytest fixtures.
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import pathlib
import queue
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import paho.mqtt.client as mqtt

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("MQTTGUARD_BIN", str(ROOT / "build" / "mqttguard"))
TIMEOUT = 20  # seconds: the bound on any single wait in a test


_given_ports = set()


def free_port():
    """A free TCP port on 127.0.0.1 this run has not handed out before.
    The kernel may return the port it just released, so two calls in a
    row could otherwise name the same port for two listeners."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def wait_until(pred, timeout=TIMEOUT, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def password(user):
    """The password passwd_file gives <user>."""
    return user + "-pw"


def passwd_file(path, users):
    """A mosquitto_passwd file, mode 0600, where each user's password is
    "<user>-pw"."""
    for i, u in enumerate(users):
        subprocess.run(["mosquitto_passwd"] + (["-c"] if i == 0 else []) +
                       ["-b", str(path), u, password(u)], check=True,
                       timeout=30, capture_output=True)
    os.chmod(path, 0o600)
    return path


def run_mqttguard(*args, timeout=TIMEOUT, **kw):
    """One run of the mqttguard binary as a command-line tool (-t, passwd,
    lint, acl check, import-acl), its output captured."""
    return subprocess.run([BIN] + list(args), capture_output=True,
                          timeout=timeout, **kw)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def port_listening(port):
    """Whether a socket listens on 127.0.0.1:<port> (or a wildcard), read
    from the kernel's tables: unlike port_open() it opens no connection,
    so the listener sees nothing."""
    want = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if (cols[1] + " ").endswith(want) and cols[3] == "0A":
                        return True
        except FileNotFoundError:
            pass
    return False


# ---- processes ------------------------------------------------------------

def spawn(args, ports, what, log, **popen):
    """Starts <args> and waits until it listens on every one of <ports>;
    if it exits first, fails with its <log>()."""
    proc = subprocess.Popen(args, **popen)
    try:
        wait_until(lambda: all(port_open(p) for p in ports) or
                   proc.poll() is not None, what=f"{what} to listen")
    except AssertionError:
        terminate(proc)     # nobody else holds it yet
        raise
    assert proc.poll() is None, f"{what} exited: " + log()
    return proc


def factory(tmp_path, name, start):
    """The body of a fixture that makes processes: yields make(*args,
    **kw), which returns start(a new directory tmp_path/<name>N, *args,
    **kw); all that it made is stopped when the test ends."""
    made = []

    def make(*args, **kw):
        d = tmp_path / f"{name}{len(made)}"
        d.mkdir()
        made.append(start(d, *args, **kw))
        return made[-1]
    yield make
    for p in made:
        p.stop()


class Broker:
    """A real mosquitto on 127.0.0.1, logging everything to a file."""

    def __init__(self, tmp, port=None, extra=""):
        self.port = port or free_port()
        self.logfile = tmp / "mosquitto.log"
        self.start(
            tmp / "mosquitto.conf",
            f"listener {self.port} 127.0.0.1\n"
            + ("" if "allow_anonymous" in extra else
               "allow_anonymous true\n") +
            "persistence false\n"
            "user root\n"
            # The broker must not drop what a slow subscriber has not
            # taken yet: tests count every message.
            "max_queued_messages 0\n"
            f"log_dest file {self.logfile}\n"
            "log_type all\n"
            "connection_messages true\n" + extra)

    def start(self, conf, text, ports=None):
        """Runs mosquitto on <text>, written to <conf>, until it listens
        on each of <ports> (by default self.port)."""
        conf.write_text(text)
        self.proc = spawn(["mosquitto", "-c", str(conf)],
                          ports or [self.port], "mosquitto", self.log,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def connections(self):
        """Connections the broker has accepted so far (its own log)."""
        return self.log().count("New connection from")

    def stop(self):
        terminate(self.proc)


def terminate(proc):
    """SIGTERM, then SIGKILL if <proc> has not exited within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Guard:
    """mqttguard with a generated policy: a TLS listener, optionally a plain
    one, in front of <upstream_port>; with <admin>, the admin listener on
    127.0.0.1:self.admin_port, <admin_extra> added to its section.
    <listener_extra> and <plain_extra> go into the TLS and the plain
    listener, <upstream_extra> into the upstream section.  <log_extra>
    goes into the log section; with <journal>, JOURNAL_STREAM
    names its stderr, as systemd does for a service whose output is the
    journal."""

    journal = False

    def __init__(self, tmp, certs, upstream_port, plain=False, limits="",
                 workers=1, tls_extra="", extra="",
                 auth="auth:\n  anonymous: true\n  empty_client_id: assign\n",
                 listener_extra="", log_extra="", journal=False,
                 admin=False, admin_extra="", plain_extra="",
                 upstream_extra=""):
        self.certs = certs
        self.journal = journal
        self.port = free_port()
        self.plain_port = free_port() if plain else None
        self.admin_port = free_port() if admin else None
        if admin:
            extra += (f"admin:\n  address: 127.0.0.1\n"
                      f"  port: {self.admin_port}\n{admin_extra}")
        listeners = (f"  - name: tls\n    address: 127.0.0.1\n"
                     f"    port: {self.port}\n{listener_extra}")
        if plain:
            listeners += (f"  - name: plain\n    address: 127.0.0.1\n"
                          f"    port: {self.plain_port}\n    tls: false\n"
                          f"{plain_extra}")
        self.start(
            tmp,
            "listeners:\n" + listeners +
            f"tls:\n  cert: {certs}/server.crt\n  key: {certs}/server.key\n"
            f"  ca: {certs}/ca.crt\n{tls_extra}"
            f"upstream:\n  host: 127.0.0.1\n  port: {upstream_port}\n"
            f"  connect_timeout: 3s\n{upstream_extra}"
            f"limits:\n  max_packet_size: 2MiB\n{limits}"
            f"{auth}"
            f"log:\n  level: debug\n{log_extra}"
            f"workers: {workers}\n"
            # SIGTERM ends the test's sessions at once unless it asks
            # for a drain.
            + ("" if "shutdown:" in extra else
               "shutdown:\n  drain: 0s\n  spread: 0s\n") + extra)

    def start(self, tmp, policy):
        """Runs mqttguard on <policy>, written to tmp/policy.yaml and
        logging to tmp/mqttguard.log, until it listens on self.port."""
        self.logfile = tmp / "mqttguard.log"
        self.policy = tmp / "policy.yaml"
        self.policy.write_text(policy)
        self.respawn()

    def respawn(self):
        """Runs mqttguard on self.policy (wherever it is now), appending to
        its log, until it listens on self.port."""
        self.log_fp = open(self.logfile, "ab")
        env = dict(os.environ)
        # A small quarantine keeps a sanitizer build's RSS meaningful for the
        # memory-bound tests (ASan otherwise holds up to 256 MiB of frees).
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=4").lstrip(":")
        env.pop("JOURNAL_STREAM", None)
        if self.journal:
            st = os.fstat(self.log_fp.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        ports = [self.port] + ([self.admin_port] if getattr(
            self, "admin_port", None) else [])
        self.proc = spawn([BIN, "-c", str(self.policy)], ports,
                          "mqttguard", self.log, env=env,
                          stdout=self.log_fp, stderr=self.log_fp)
        # The plain listener too, without a connection (some tests count
        # the sessions a listener has seen).
        if getattr(self, "plain_port", None):
            wait_until(lambda: port_listening(self.plain_port) or
                       self.proc.poll() is not None,
                       what="mqttguard's plain listener")

    def log(self):
        return self.logfile.read_text(errors="replace")

    def stop(self):
        """SIGTERM; the proxy must exit 0 within the bound, sanitizer-clean."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mqttguard ignored SIGTERM")
        self.log_fp.close()
        log = self.log()
        assert "AddressSanitizer" not in log, log
        assert "LeakSanitizer" not in log, log
        assert "runtime error" not in log, log
        assert self.proc.returncode == 0, \
            f"mqttguard exited {self.proc.returncode}:\n{log}"


class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping <targets>
    ("127.0.0.1:port") every second, its data in <tmp>; query() asks its
    HTTP API."""

    def __init__(self, tmp, targets):
        self.port = free_port()
        self.logfile = tmp / "prometheus.log"
        conf = tmp / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: mqttguard\n"
            "    static_configs:\n      - targets: [" +
            ", ".join(f'"{t}"' for t in targets) + "]\n")
        self.log_fp = open(self.logfile, "wb")
        self.proc = spawn(["prometheus", f"--config.file={conf}",
                           f"--storage.tsdb.path={tmp / 'tsdb'}",
                           f"--web.listen-address=127.0.0.1:{self.port}"],
                          [self.port], "prometheus", self.log,
                          stdout=self.log_fp, stderr=self.log_fp)

    def log(self):
        return self.logfile.read_text(errors="replace")

    def query(self, expr):
        """The instant vector of <expr>: [(labels, float value)]."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return [(x["metric"], float(x["value"][1]))
                for x in body["data"]["result"]]

    def value(self, expr):
        """The value of <expr>'s single series, or None while it has
        none."""
        try:
            got = self.query(expr)
        except OSError:
            return None
        return got[0][1] if len(got) == 1 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_fp.close()


def http_get(port, path, method="GET", token=None, body=None):
    """One HTTP request to 127.0.0.1:<port>; returns (status, headers
    dict with lower-case names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return (r.status, {k.lower(): v for k, v in r.getheaders()},
                r.read().decode(errors="replace"))
    finally:
        c.close()


def metric(text, sample):
    """The value of the sample line starting with <sample> (its name and
    labels, exactly) in exposition <text>, or None."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line[len(sample) + 1:])
    return None


# ---- clients --------------------------------------------------------------

def mosq_args(guard, ca=None, version=None):
    args = ["-h", "127.0.0.1", "-p", str(guard.port),
            "--cafile", str(ca or guard.certs / "ca.crt")]
    if version:
        args += ["-V", version]
    return args


def pub(guard, *args, ca=None, version=None, stdin=None, timeout=TIMEOUT):
    """Runs mosquitto_pub through the proxy; returns the CompletedProcess."""
    return subprocess.run(["mosquitto_pub"] + mosq_args(guard, ca, version) +
                          list(args), input=stdin, capture_output=True,
                          timeout=timeout)


class Sub:
    """mosquitto_sub through the proxy, started and waited for until the
    broker has acknowledged its subscription."""

    def __init__(self, guard, broker, topic, count, version=None, qos=0,
                 extra=()):
        self.id = f"sub-{free_port()}"
        # Output goes to files, never to a pipe nobody reads meanwhile: a
        # full pipe would stall the subscriber and the broker would drop
        # what it cannot queue.
        self.out = guard.logfile.parent / f"{self.id}.out"
        self.err = guard.logfile.parent / f"{self.id}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                ["mosquitto_sub"] + mosq_args(guard, version=version) +
                ["-i", self.id, "-t", topic, "-C", str(count), "-q",
                 str(qos), "-W", str(TIMEOUT * 3)] + list(extra),
                stdout=out, stderr=err)
        wait_until(lambda: f"Sending SUBACK to {self.id}" in broker.log() or
                   self.proc.poll() is not None,
                   what="the subscription to reach the broker")
        assert self.proc.poll() is None, self.err.read_text()

    def result(self, timeout=TIMEOUT * 3):
        self.proc.wait(timeout=timeout)
        assert self.proc.returncode == 0, self.err.read_text()
        return self.out.read_bytes()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Paho:
    """A paho-mqtt client over TLS with synchronous helpers."""

    def __init__(self, guard, client_id, v5=False, ca=None, will=None,
                 port=None, tls=True, user=None, password=None, cert=None):
        self.v5 = v5
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.subscribed = threading.Event()
        self.rc = None
        self.props = None    # the CONNACK's properties (5.0)
        self.disc_rc = None  # the DISCONNECT's reason code (5.0)
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.c = mqtt.Client(client_id=client_id, protocol=proto)
        if tls:
            self.c.tls_set(ca_certs=str(ca or guard.certs / "ca.crt"),
                           certfile=cert and str(cert[0]),
                           keyfile=cert and str(cert[1]))
        if user is not None:
            self.c.username_pw_set(user, password)
        if will:
            self.c.will_set(*will)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.port = port or guard.port

    def _on_connect(self, c, u, flags, rc, props=None):
        self.rc = rc.value if hasattr(rc, "value") else rc
        self.props = props
        self.connected.set()

    def _on_disconnect(self, c, u, rc, props=None):
        self.disc_rc = rc.value if hasattr(rc, "value") else rc
        self.disconnected.set()

    def connect(self, keepalive=30):
        self.c.connect("127.0.0.1", self.port, keepalive=keepalive)
        self.c.loop_start()
        assert self.connected.wait(TIMEOUT), "no CONNACK"
        return self.rc

    def subscribe(self, topic, qos=0):
        self.subscribed.clear()
        self.c.subscribe(topic, qos)
        assert self.subscribed.wait(TIMEOUT), "no SUBACK"

    def publish(self, topic, payload, qos=0, retain=False):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish()
        return info

    def flood(self, messages, qos=1):
        """Publishes every (topic, payload) of <messages> without waiting
        in between, then waits until each is done.  paho's own bounds are
        lifted first, so that only the proxy holds the rate."""
        self.c.max_inflight_messages_set(1000)
        self.c.max_queued_messages_set(0)
        infos = [self.c.publish(t, p, qos=qos) for t, p in messages]
        for info in infos:
            info.wait_for_publish()

    def get(self, timeout=TIMEOUT):
        return self.messages.get(timeout=timeout)

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


def paho_as(g, user, cid, v5=False):
    """A paho client connected as <user> (with passwd_file's password) on
    <g>'s plain listener."""
    c = Paho(g, cid, v5=v5, port=g.plain_port, tls=False, user=user,
             password=password(user))
    assert c.connect() == 0
    return c


# ---- MQTT.js under Node and in headless Chromium (test/ws) ---------------

WS_DIR = ROOT / "test" / "ws"


def npm_ci():
    """Makes test/ws/node_modules hold what package-lock.json names (MQTT.js,
    playwright-core), with npm ci only when it does not already: offline
    once installed.  Returns None, or why the WebSocket clients cannot run
    here (no node or npm: scripts/deps.sh --test installs them); a failing
    npm ci fails the test instead."""
    missing = [t for t in ("node", "npm") if not shutil.which(t)]
    if missing:
        return (" and ".join(missing) + " not installed "
                "(scripts/deps.sh --test installs nodejs and npm)")
    lock = json.loads((WS_DIR / "package-lock.json").read_text())
    try:
        have = json.loads((WS_DIR / "node_modules" /
                           ".package-lock.json").read_text())["packages"]
    except (FileNotFoundError, KeyError, ValueError):
        have = {}
    if any(have.get(k, {}).get("version") != v.get("version")
           for k, v in lock["packages"].items() if k):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                            "--prefer-offline"], cwd=WS_DIR,
                           capture_output=True, timeout=600)
        assert r.returncode == 0, ("npm ci in test/ws failed:\n" +
                                   r.stderr.decode(errors="replace"))
    return None


def chromium_path():
    """The headless browser for the page tests: $CHROMIUM, or Debian's."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def ws_payload(seed, size):
    """The bytes test/ws/scenario.js's payload(<seed>, <size>) makes."""
    return bytes((seed * 31 + k * 7) % 251 for k in range(size))


def ws_expect(messages):
    """What a subscriber of every message of <messages> (scenario specs)
    must receive: [(topic, qos, size, sha256)]; the QoS is the message's,
    as the subscription's is 2."""
    return [(m["topic"], m["qos"], m["size"],
             hashlib.sha256(ws_payload(m["seed"], m["size"])).hexdigest())
            for m in messages]


def ws_received(result):
    """The received list of a scenario's <result>, in expect()'s form."""
    return [(m["topic"], m["qos"], m["size"], m["sha256"])
            for m in result["received"]]


def mqttjs(spec, tmp, timeout=TIMEOUT * 3):
    """Runs test/ws/client.js (MQTT.js under Node) on <spec>, a scenario
    (see test/ws/scenario.js) whose timeout defaults to TIMEOUT; returns
    its result."""
    spec = dict({"timeout": TIMEOUT * 1000}, **spec)
    f = tmp / f"spec-{free_port()}.json"
    f.write_text(json.dumps(spec))
    r = subprocess.run(["node", str(WS_DIR / "client.js"), str(f)],
                       capture_output=True, timeout=timeout)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return json.loads(r.stdout)


def spki_sha256(cert):
    """base64(SHA-256(SubjectPublicKeyInfo)) of the PEM <cert>, as
    Chromium's --ignore-certificate-errors-spki-list takes it."""
    pem = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey",
                          "-noout"], check=True, capture_output=True,
                         timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                         input=pem, check=True, capture_output=True,
                         timeout=30).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class PageServer:
    """test/ws served over HTTP on 127.0.0.1 by a thread of the test:
    the test page, scenario.js and MQTT.js's browser bundle.  Its origin
    is self.origin."""

    def __init__(self):
        handler = lambda *a, **kw: _QuietHandler(*a, directory=str(WS_DIR),
                                                 **kw)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, spec):
        """The test page running <spec> (its timeout defaults to
        TIMEOUT)."""
        spec = dict({"timeout": TIMEOUT * 1000}, **spec)
        return (f"{self.origin}/page.html#" +
                urllib.parse.quote(json.dumps(spec)))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(TIMEOUT)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chromium(url, profile, pin=None, timeout=TIMEOUT * 3):
    """Loads <url> in headless Chromium (test/ws/browser.js) with a fresh
    profile in the directory <profile>, trusting the certificate whose
    public key hashes to <pin> (spki_sha256()); returns browser.js's
    {done, result, messages, console}.  Every process whose command line
    names <profile> is gone when it returns, whatever happened."""
    env = dict(os.environ, CHROMIUM=chromium_path())
    proc = subprocess.Popen(["node", str(WS_DIR / "browser.js"), url,
                             str(profile), str(TIMEOUT * 1000)] +
                            ([pin] if pin else []), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        terminate(proc)
        kill_named(str(profile))
    assert out, f"browser.js exited {proc.returncode}: " + err.decode(
        errors="replace")
    return json.loads(out)


def kill_named(marker):
    """SIGKILLs every process whose command line contains <marker> (a
    test's own temporary path): a browser its driver left behind."""
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if marker.encode() in (d / "cmdline").read_bytes():
                os.kill(int(d.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


# ---- raw MQTT frames ------------------------------------------------------

def vbi(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_str(b):
    """A string or binary data field: a two-byte length, then <b>."""
    return len(b).to_bytes(2, "big") + b


def frame(first, body):
    return bytes([first]) + vbi(len(body)) + body


def connect(level=4, cid=b"cid", flags=0x02, props=b"", payload=b"",
            name=None, first=0x10, keepalive=60):
    name = name if name is not None else (b"MQIsdp" if level == 3 else b"MQTT")
    vh = mqtt_str(name) + bytes([level, flags]) + keepalive.to_bytes(2, "big")
    if level == 5:
        vh += vbi(len(props)) + props
    return frame(first, vh + mqtt_str(cid) + payload)


def publish(topic, payload=b"x", qos=0, pid=1, props=None, first=None):
    body = mqtt_str(topic) + (pid.to_bytes(2, "big") if qos else b"")
    if props is not None:
        body += vbi(len(props)) + props
    return frame(first if first is not None else 0x30 | (qos << 1),
                 body + payload)


def subscribe(filters, pid=1, props=None, first=0x82):
    body = pid.to_bytes(2, "big")
    if props is not None:
        body += vbi(len(props)) + props
    for f, o in filters:
        body += mqtt_str(f) + bytes([o])
    return frame(first, body)


def unsubscribe(filters, pid=1, props=None, first=0xA2):
    body = pid.to_bytes(2, "big")
    if props is not None:
        body += vbi(len(props)) + props
    for f in filters:
        body += mqtt_str(f)
    return frame(first, body)


def accepted(connack):
    """Whether <connack> accepts the session (3.1.1 and 5.0 alike)."""
    return connack[0] == 0x20 and connack[3] == 0


# ---- raw sockets ----------------------------------------------------------

def client_hello():
    """The bytes of a TLS ClientHello, as Python's ssl module sends it."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def plain_socket(port, addr=None, timeout=TIMEOUT):
    """A raw TCP connection to <port>, from <addr> if given: another
    loopback address is another client to the per-address limits."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(addr, 0) if addr else None)


def tls_socket(port, ca):
    """A raw TLS connection to the proxy, handshake done."""
    ctx = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def client_socket(guard, over_tls=False):
    """A raw connection to <guard>'s TLS listener or to its plain one."""
    if over_tls:
        return tls_socket(guard.port, guard.certs / "ca.crt")
    return plain_socket(guard.plain_port)


def read_until_closed(sock, timeout=TIMEOUT):
    """Reads until the peer closes; returns what arrived before."""
    sock.settimeout(timeout)
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            break
        except socket.timeout:
            raise AssertionError("the proxy did not close the connection")
        if not chunk:
            break
        data += chunk
    else:
        raise AssertionError("the proxy did not close the connection")
    return data


def reply(sock, data):
    """Sends <data> on <sock> and returns all that arrives before the peer
    closes; <sock> is closed then."""
    sock.sendall(data)
    got = read_until_closed(sock)
    sock.close()
    return got


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def read_frame(sock):
    """One frame with a one-byte remaining length."""
    head = recv_exact(sock, 2)
    return head + recv_exact(sock, head[1])


def read_any(sock, timeout=TIMEOUT):
    """One frame, any remaining length."""
    sock.settimeout(timeout)
    head = recv_exact(sock, 1)
    n, mult = 0, 1
    while True:
        b = recv_exact(sock, 1)
        head += b
        n += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            return head + recv_exact(sock, n)


def mqtt_connect(sock, cid, **kw):
    """Sends a CONNECT for <cid> (with connect()'s <kw>) on <sock>; returns
    the CONNACK."""
    sock.sendall(connect(cid=cid, **kw))
    return read_frame(sock)


def login(g, user, cid, level=4):
    """A raw session as <user> (with passwd_file's password) on <g>'s plain
    listener; returns it and its CONNACK."""
    sock = plain_socket(g.plain_port)
    return sock, mqtt_connect(sock, cid.encode(), level=level, flags=0xC2,
                              payload=mqtt_str(user.encode()) +
                              mqtt_str(password(user).encode()))


def pipe(a, b, keep=None):
    """Copies <a> to <b> until either end closes, handing each chunk to
    <keep> too when given; then shuts both down."""
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            if keep is not None:
                keep(d)
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def still_open(sock):
    """True if the proxy has not closed <sock> (nothing readable, or
    data)."""
    # poll, not select: a suite that has opened many sockets has fds
    # above select()'s 1024.
    p = select.poll()
    p.register(sock, select.POLLIN)
    if not p.poll(0):
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False
