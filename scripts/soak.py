#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""scripts/soak.sh's driver: mqttguard in front of a real Mosquitto under a
mixed load for DURATION seconds, its resident memory and open descriptors
sampled every second.

The load, each part in its own thread, each adversary from its own
loopback address (the per-address limits and lockouts see four clients):
- honest clients: for each of TLS/plain x 3.1.1/5.0, a publisher sending
  sequence-numbered messages at QoS 0, 1 and 2 and a subscriber taking them
  at QoS 2, so that a lost or reordered-away message is seen;
- flooders (plain 3.1.1 and TLS 5.0) writing QoS 0 PUBLISHes as fast as
  TCP lets them, held by their user's message_rate (throttle);
- connection churn: connect, QoS 1 PUBLISH, a PUBLISH and a SUBSCRIBE the
  ACL denies, then a DISCONNECT or an abrupt close, TLS or plain, 3.1.1 or
  5.0 (127.0.0.3);
- malformed senders: garbage instead of CONNECT, bad flags after CONNECT,
  a frame cut off mid-way, plain bytes to the TLS port, half a ClientHello
  (127.0.0.4);
- authentication failures: a wrong password, soon locked out (127.0.0.5);
- a policy reload (SIGHUP) every --reload-every seconds, the flooders' rate
  changed each time.

At the end every honest QoS 1/2 message must have arrived, no honest
client may have been disconnected, every reload must have succeeded, the
open descriptors once the adversaries are gone must be those before they
came, and the resident memory must be flat over the second half of the run
(the load runs --warmup seconds, default 60, before the DURATION measured):
its least-squares line may rise by no more than --max-slope KiB/s (default
1) times the half's length, or --grace KiB (default 256), whichever is
larger.  Why these figures: the churn, malformed and refused connections
come to about 13 sessions a second and the honest and flooding clients to
over 200 messages a second, so a leak of 80 bytes per session or of any
allocation per message exceeds 1 KiB/s; runs of
mqttguard alone showed RSS rising 0.8-1 MiB over the first two minutes as
the allocator's arenas and OpenSSL's per-thread state warm up, then
levelling off (about 0.1 KiB/s): the warm-up takes the steep part, the
grace what is left in a short run (CI's 60 s: there only a leak above
~9 KiB/s, e.g. per message, is caught; runs of 10 minutes and more catch
1 KiB/s).  Descriptors must be exactly back: a
slope of open descriptors during the load is noise from the churn, so the
exact count once idle is the criterion.  Exit 0 on success, 1 on a
failure, with the figures on stdout either way.

--wrap runs mqttguard under another program (scripts/valgrind.sh passes
valgrind); --no-slope leaves the memory slope unjudged (valgrind's own
memory would dominate it).
"""
import argparse
import os
import pathlib
import random
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "integration"))

import paho.mqtt.client as mqtt  # noqa: E402

from helpers import (connect, free_port, mqtt_str, passwd_file,  # noqa: E402
                     password, publish, spawn, subscribe, wait_until)

HONEST_RATE = 10        # messages per second per QoS per publisher
ADDR_FLOOD = "127.0.0.2"
ADDR_CHURN = "127.0.0.3"
ADDR_BAD = "127.0.0.4"
ADDR_AUTH = "127.0.0.5"
LINGER_0 = b"\x01\x00\x00\x00\x00\x00\x00\x00"   # on, 0 s: close sends RST


def log(*a):
    print("soak:", *a, flush=True)


# ---- the processes ----------------------------------------------------------

class Rig:
    """Mosquitto and mqttguard in <tmp>, with a password file, an ACL and
    per-user limits; mqttguard runs under <wrap> (a command prefix) if
    given."""

    def __init__(self, tmp, binary, wrap):
        self.tmp = tmp
        self.certs = tmp / "certs"
        subprocess.run([str(ROOT / "scripts" / "gen-certs.sh"),
                        str(self.certs)], check=True, capture_output=True,
                       timeout=120)
        passwd_file(tmp / "passwd", ["honest", "flood", "churn"])
        self.broker_port = free_port()
        self.port = free_port()
        self.plain_port = free_port()
        self.broker_log = tmp / "mosquitto.log"
        (tmp / "mosquitto.conf").write_text(
            f"listener {self.broker_port} 127.0.0.1\n"
            "allow_anonymous true\npersistence false\nuser root\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            f"log_dest file {self.broker_log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n")
        self.broker = spawn(["mosquitto", "-c", str(tmp / "mosquitto.conf")],
                            [self.broker_port], "mosquitto",
                            self.broker_log.read_text,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
        self.policy = tmp / "policy.yaml"
        self.logfile = tmp / "mqttguard.log"
        self.reloads = 0
        self.write_policy()
        self.log_fp = open(self.logfile, "ab")
        self.proc = spawn(wrap + [binary, "-c", str(self.policy)],
                          [self.port, self.plain_port], "mqttguard",
                          self.log, stdout=self.log_fp, stderr=self.log_fp)

    def write_policy(self):
        """The policy; each reload changes the flooders' message rate, so
        that every reload builds a different snapshot."""
        c = self.certs
        rate = 40 + 10 * (self.reloads % 3)
        self.policy.write_text(
            "listeners:\n"
            f"  - {{name: tls, address: 127.0.0.1, port: {self.port}}}\n"
            f"  - {{name: plain, address: 127.0.0.1, port: "
            f"{self.plain_port}, tls: false}}\n"
            f"tls: {{cert: {c}/server.crt, key: {c}/server.key, "
            f"ca: {c}/ca.crt}}\n"
            f"upstream: {{host: 127.0.0.1, port: {self.broker_port}, "
            "connect_timeout: 5s}\n"
            f"auth:\n  password_file: {self.tmp}/passwd\n"
            "  anonymous: false\n  tarpit: 200ms\n"
            "limits:\n  max_packet_size: 64KiB\n  message_rate: 1000\n"
            "  tls_handshake_timeout: 5s\n  connect_timeout: 5s\n"
            "  users:\n"
            f"    flood: {{message_rate: {rate}, message_burst: {rate}, "
            "rate_action: throttle}\n"
            "acl:\n  rules:\n"
            "    - {allow: all, topic: \"soak/honest/#\", users: [honest]}\n"
            "    - {allow: publish, topic: \"soak/flood/#\", "
            "users: [flood]}\n"
            "    - {allow: all, topic: \"soak/churn/#\", users: [churn]}\n"
            "log:\n  level: info\n"
            "shutdown:\n  drain: 0s\n  spread: 0s\n")

    def reload(self):
        self.reloads += 1
        self.write_policy()
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        return self.logfile.read_text(errors="replace")

    def sample(self):
        """(VmRSS in KiB, open descriptors) of mqttguard."""
        pid = self.proc.pid
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(x.split()[1]) for x in f
                       if x.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))

    def stop(self):
        """SIGTERM; mqttguard's (or its wrapper's) exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_fp.close()
        if self.broker.poll() is None:
            self.broker.terminate()
            self.broker.wait(20)
        return self.proc.returncode


# ---- honest clients -------------------------------------------------------

class Honest:
    """A publisher and a subscriber as user honest on one transport and
    protocol version; the publisher numbers its messages per QoS."""

    def __init__(self, rig, tls, v5):
        self.name = ("tls" if tls else "plain") + ("-v5" if v5 else "-v3")
        self.topic = f"soak/honest/{self.name}"
        self.sent = {0: [], 1: [], 2: []}   # sequence numbers
        self.got = {0: set(), 1: set(), 2: set()}
        self.dups = 0
        self.drops = []                     # unexpected disconnects
        self.closing = False
        self.lock = threading.Lock()
        port = rig.port if tls else rig.plain_port
        self.sub = self.client(rig, tls, v5, f"h-sub-{self.name}", port)
        self.sub.on_message = self.on_message
        self.pub = self.client(rig, tls, v5, f"h-pub-{self.name}", port)
        self.pub.max_inflight_messages_set(100)
        self.pub.max_queued_messages_set(0)
        done = threading.Event()
        self.sub.on_subscribe = lambda *a: done.set()
        self.sub.subscribe(self.topic + "/#", 2)
        if not done.wait(60):
            raise SystemExit(f"soak: {self.name}: no SUBACK")

    def client(self, rig, tls, v5, cid, port):
        c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5 if v5
                        else mqtt.MQTTv311)
        if tls:
            c.tls_set(ca_certs=str(rig.certs / "ca.crt"))
        c.username_pw_set("honest", password("honest"))
        up = threading.Event()
        c.on_connect = lambda *a: up.set()
        c.on_disconnect = lambda cl, u, rc, *p: self.dropped(cid, rc)
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        if not up.wait(60):
            raise SystemExit(f"soak: {cid}: no CONNACK")
        return c

    def dropped(self, cid, rc):
        if not self.closing:
            self.drops.append((time.monotonic(), cid, str(rc)))

    def on_message(self, c, u, m):
        qos = int(m.topic.rsplit("q", 1)[1])
        seq = int(m.payload)
        with self.lock:
            if seq in self.got[qos]:
                self.dups += 1
            self.got[qos].add(seq)

    def tick(self, seq):
        for q in (0, 1, 2):
            info = self.pub.publish(f"{self.topic}/q{q}", str(seq), qos=q)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.sent[q].append(seq)

    def unfinished(self):
        """QoS 1/2 messages sent and not (yet) received."""
        with self.lock:
            return sum(1 for q in (1, 2) for s in self.sent[q]
                       if s not in self.got[q])

    def close(self):
        self.closing = True
        for c in (self.pub, self.sub):
            c.disconnect()
            c.loop_stop()


def honest_loop(streams, stop):
    seq = 0
    period = 1.0 / HONEST_RATE
    nxt = time.monotonic()
    while not stop.is_set():
        for s in streams:
            s.tick(seq)
        seq += 1
        nxt += period
        stop.wait(max(0.0, nxt - time.monotonic()))


# ---- adversaries and churn --------------------------------------------------

def raw_conn(rig, tls, src):
    s = socket.create_connection(("127.0.0.1", rig.port if tls else
                                  rig.plain_port), timeout=10,
                                 source_address=(src, 0))
    if tls:
        ctx = ssl.create_default_context(cafile=str(rig.certs / "ca.crt"))
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def login(s, user, level, cid, pw=None):
    """Sends a CONNECT with credentials; returns the CONNACK's reason."""
    pw = pw if pw is not None else password(user)
    s.sendall(connect(level=level, cid=cid.encode(), flags=0xC2,
                      payload=mqtt_str(user.encode()) +
                      mqtt_str(pw.encode())))
    return read_frame(s)


def read_frame(s):
    """One frame (any remaining length), or b"" at the end of the stream."""
    head = s.recv(1)
    if not head:
        return b""
    n, shift, lenb = 0, 0, b""
    while True:
        b = s.recv(1)
        if not b:
            return b""
        lenb += b
        n |= (b[0] & 0x7F) << shift
        shift += 7
        if not b[0] & 0x80:
            break
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return b""
        body += chunk
    return head + lenb + body


def drain(s, timeout=10):
    """Reads until the proxy closes <s> or <timeout>."""
    s.settimeout(timeout)
    try:
        while s.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass


def flooder(rig, tls, stop, stats, socks):
    level = 5 if tls else 4
    frame = publish(b"soak/flood/x", b"f" * 64,
                    props=b"" if level == 5 else None)
    chunk = frame * 128
    while not stop.is_set():
        try:
            s = raw_conn(rig, tls, ADDR_FLOOD)
            socks.append(s)
            s.settimeout(None)
            ack = login(s, "flood", level, f"flood-{level}")
            if len(ack) < 4 or ack[3] != 0:
                raise OSError(f"flood CONNACK {ack!r}")
            while not stop.is_set():
                s.sendall(chunk)
                stats["flood_bytes"] += len(chunk)
        except Exception as e:  # noqa: BLE001  any end, retried
            if not stop.is_set():
                stats["flood_reconnects"] += 1
                stats.setdefault("flood_errors", str(e))
                stop.wait(1)


def churn_once(rig, rnd, n):
    tls = rnd.random() < 0.5
    level = 5 if rnd.random() < 0.5 else 4
    props = b"" if level == 5 else None
    s = raw_conn(rig, tls, ADDR_CHURN)
    try:
        ack = login(s, "churn", level, f"churn-{n}")
        if len(ack) < 4 or ack[3] != 0:
            raise OSError(f"churn CONNACK {ack!r}")
        s.sendall(publish(b"soak/churn/x", b"c", qos=1, pid=1, props=props))
        if read_frame(s)[:1] != b"\x40":
            raise OSError("no PUBACK")
        # Denied by the ACL: 5.0 gets PUBACK 0x87, 3.x a PUBACK (drop).
        s.sendall(publish(b"soak/forbidden", b"c", qos=1, pid=2,
                          props=props))
        if read_frame(s)[:1] != b"\x40":
            raise OSError("no PUBACK for the denied PUBLISH")
        s.sendall(subscribe([(b"soak/forbidden/#", 1)], pid=3,
                            props=props))
        if read_frame(s)[:1] != b"\x90":
            raise OSError("no SUBACK for the denied SUBSCRIBE")
        if rnd.random() < 0.5:
            s.sendall(b"\xe0\x00")
            drain(s)
    finally:
        s.close()


def churner(rig, stop, stats):
    rnd = random.Random(1)
    n = 0
    while not stop.is_set():
        try:
            churn_once(rig, rnd, n)
            stats["churn"] += 1
        except Exception as e:  # noqa: BLE001
            stats["churn_errors"] += 1
            stats.setdefault("churn_error", str(e))
        n += 1
        stop.wait(0.1)


BAD_PLAIN = [
    b"\x00\xff\xff\xff\xff",                          # not a CONNECT
    connect(level=4, cid=b"bad") + b"\x36\x03\x00\x01a",  # QoS 3
    connect(level=5, cid=b"bad") + b"\x80\x06\x00\x01\x00\x01a\x00",
    connect(level=4, cid=b"bad") + b"\x30\x7f\x00\x05abc",  # cut off
    connect(level=4, cid=b"bad")[:9],                 # CONNECT cut off
]
# The start of a ClientHello, cut off.
HALF_HELLO = bytes.fromhex("16030100f4010000f00303") + b"\x11" * 20


def malformed(rig, stop, stats):
    rnd = random.Random(2)
    while not stop.is_set():
        kind = rnd.randrange(len(BAD_PLAIN) + 2)
        try:
            tls = kind >= len(BAD_PLAIN)
            s = socket.create_connection(
                ("127.0.0.1", rig.port if tls else rig.plain_port),
                timeout=10, source_address=(ADDR_BAD, 0))
            if kind < len(BAD_PLAIN):
                data = BAD_PLAIN[kind]
                s.sendall(data)
                # A truncated frame is left for the deadline or cut
                # short by an RST (SO_LINGER 0) half of the time.
                if rnd.random() < 0.5:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 LINGER_0)
                else:
                    drain(s, 1)
            elif kind == len(BAD_PLAIN):
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                drain(s, 5)
            else:
                s.sendall(HALF_HELLO)
            s.close()
            stats["malformed"] += 1
        except OSError:
            stats["malformed_errors"] += 1
        stop.wait(0.2)


def intruder(rig, stop, stats):
    n = 0
    while not stop.is_set():
        try:
            s = raw_conn(rig, n % 2 == 0, ADDR_AUTH)
            ack = login(s, "intruder", 5 if n % 3 else 4, f"i-{n}",
                        pw="wrong")
            s.close()
            if len(ack) >= 4 and ack[3] != 0:
                stats["auth_refused"] += 1
            else:
                stats["auth_errors"] += 1
        except (OSError, ssl.SSLError):
            stats["auth_errors"] += 1
        n += 1
        stop.wait(0.5)


# ---- figures ----------------------------------------------------------------

def slope(points):
    """Least-squares slope of [(t, y)]; 0 for fewer than two points."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in points) / var


def settle_fds(rig, target, timeout=30):
    """The descriptor count once it is <target>, or after <timeout>."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        fds = rig.sample()[1]
        if fds == target:
            return fds
        time.sleep(0.2)
    return rig.sample()[1]


def run(args, tmp):
    rig = Rig(tmp, args.binary, shlex.split(args.wrap))
    try:
        return soak(args, rig)
    finally:
        rig.stop()


def soak(args, rig):
    failures = []
    stats = {k: 0 for k in ("flood_bytes", "flood_reconnects", "churn",
                            "churn_errors", "malformed", "malformed_errors",
                            "auth_refused", "auth_errors")}
    # The idle figures: nothing connected (the start-up probes gone).
    idle_fds = settle_fds(rig, -1, timeout=3)
    idle_rss = rig.sample()[0]
    streams = [Honest(rig, tls, v5) for tls in (True, False)
               for v5 in (False, True)]
    stop_honest = threading.Event()
    stop = threading.Event()
    socks = []
    threads = [threading.Thread(target=honest_loop,
                                args=(streams, stop_honest))]
    threads += [threading.Thread(target=flooder,
                                 args=(rig, tls, stop, stats, socks))
                for tls in (False, True)]
    threads += [threading.Thread(target=f, args=(rig, stop, stats))
                for f in (churner, malformed, intruder)]
    for t in threads:
        t.daemon = True
        t.start()
    samples = []
    t0 = time.monotonic()
    next_reload = args.reload_every
    while True:
        now = time.monotonic() - t0
        if now >= args.warmup + args.duration:
            break
        rss, fds = rig.sample()
        samples.append((now, rss, fds))
        if rig.proc.poll() is not None:
            failures.append(f"mqttguard exited {rig.proc.returncode}")
            break
        if args.reload_every and now >= next_reload:
            rig.reload()
            next_reload += args.reload_every
        time.sleep(max(0.0, (len(samples)) - (time.monotonic() - t0)))
    stop.set()
    # The flooders' sockets end with an RST (SO_LINGER 0): with a FIN, the
    # proxy would first forward, at the throttled rate, the megabytes the
    # kernel holds for it (throttling loses nothing).
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
            socket.socket.shutdown(s, socket.SHUT_RDWR)
        except OSError:
            pass
    for t in threads[1:]:
        t.join(30)
    for s in socks:
        socket.socket.close(s)
    stop_honest.set()
    threads[0].join(30)
    # Everything sent is given time to arrive.
    try:
        wait_until(lambda: all(s.unfinished() == 0 for s in streams),
                   timeout=60, what="the honest messages")
    except AssertionError:
        pass
    for s in streams:
        s.close()
    for s in streams:
        for q in (1, 2):
            lost = [n for n in s.sent[q] if n not in s.got[q]]
            if lost:
                failures.append(f"{s.name}: {len(lost)} QoS {q} "
                                f"messages lost, first {lost[:5]}")
        if s.drops:
            failures.append(f"{s.name}: disconnected: {s.drops[:3]}")
    end_rss, _ = rig.sample()
    # A throttled flooder's session lives on after its RST until the
    # proxy has forwarded, at the flooder's rate, what it had already read
    # (up to the 64 KiB read-ahead and a TLS record: 20-50 s at 40
    # messages/s); only its next read sees the reset.
    t_idle = time.monotonic()
    end_fds = settle_fds(rig, idle_fds, timeout=120)
    stats["idle_after"] = time.monotonic() - t_idle
    if end_fds != idle_fds:
        failures.append(f"descriptors once idle again: {end_fds}, "
                        f"{idle_fds} before the load")
    reloaded = rig.log().count("policy reloaded from")
    if reloaded != rig.reloads:
        failures.append(f"{reloaded} of {rig.reloads} reloads succeeded")
    if stats["churn_errors"] > stats["churn"] // 100:
        failures.append(f"churn: {stats['churn_errors']} errors, "
                        f"first: {stats.get('churn_error')}")
    code = rig.stop()
    if code != 0:
        failures.append(f"mqttguard exited {code}")
    report(args, samples, streams, stats, rig, idle_rss, idle_fds,
           end_rss, end_fds, failures)
    return failures


def report(args, samples, streams, stats, rig, idle_rss, idle_fds, end_rss,
           end_fds, failures):
    # The warm-up's samples go to the CSV, not into the figures.
    allsamples = samples
    samples = [x for x in samples if x[0] >= args.warmup]
    dur = samples[-1][0] - samples[0][0] if samples else 0
    half = [x for x in samples if x[0] >= samples[0][0] + dur / 2]
    rs = slope([(t, r) for t, r, _ in half])
    fs = slope([(t, f) for t, _, f in half])
    with open(args.out or os.devnull, "w") as f:
        f.write("t_s,rss_kib,fds\n")
        for t, r, n in allsamples:
            f.write(f"{t:.1f},{r},{n}\n")
    sent = {q: sum(len(s.sent[q]) for s in streams) for q in (0, 1, 2)}
    got = {q: sum(len(s.got[q]) for s in streams) for q in (0, 1, 2)}
    log(f"{dur:.0f} s measured after {args.warmup} s of warm-up, "
        f"{len(samples)} samples, {len(streams)} honest "
        "publisher/subscriber pairs")
    log("honest sent q0/q1/q2: {}/{}/{}, received {}/{}/{} "
        "(QoS 0 may drop), duplicates {}".format(
            sent[0], sent[1], sent[2], got[0], got[1], got[2],
            sum(s.dups for s in streams)))
    log(f"churn {stats['churn']} sessions ({stats['churn_errors']} errors),"
        f" malformed {stats['malformed']}, auth refused "
        f"{stats['auth_refused']}, flood {stats['flood_bytes'] >> 10} KiB "
        f"written ({stats['flood_reconnects']} reconnects), reloads "
        f"{rig.reloads}")
    if samples:
        log(f"RSS KiB: idle {idle_rss}, first sample {samples[0][1]}, last "
            f"{samples[-1][1]}, max {max(r for _, r, _ in samples)}, after "
            f"the load {end_rss}; second-half slope {rs:+.3f} KiB/s")
        log(f"fds: idle {idle_fds}, first sample {samples[0][2]}, last "
            f"{samples[-1][2]}, max {max(n for _, _, n in samples)}, after "
            f"the load {end_fds} (after {stats['idle_after']:.0f} s); "
            f"second-half slope {fs:+.4f}/s")
    # Flat: the fitted line rises less over the second half than
    # --max-slope KiB/s would make it, or than --grace KiB (the allocator's
    # warm-up, which a short run has not finished).
    rise = rs * dur / 2
    limit = max(args.max_slope * dur / 2, args.grace)
    if samples:
        log(f"RSS rise over the second half (fitted) {rise:+.0f} KiB, " +
            ("not judged (--no-slope)" if args.no_slope else
             f"limit {limit:.0f} KiB"))
    if not args.no_slope and rise > limit:
        failures.append(f"RSS not flat: {rs:+.3f} KiB/s, {rise:+.0f} KiB "
                        f"over the second half (limit {limit:.0f} KiB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("duration", type=int, help="seconds of load")
    ap.add_argument("--binary", default=os.environ.get(
        "MQTTGUARD_BIN", str(ROOT / "build" / "mqttguard")))
    ap.add_argument("--wrap", default="", help="command prefix for mqttguard")
    ap.add_argument("--reload-every", type=int, default=10)
    ap.add_argument("--max-slope", type=float, default=1.0,
                    help="KiB/s of RSS over the second half")
    ap.add_argument("--warmup", type=int, default=60,
                    help="seconds of load before DURATION's window")
    ap.add_argument("--grace", type=float, default=256,
                    help="KiB of RSS rise over the second half always "
                    "allowed (warm-up)")
    ap.add_argument("--no-slope", action="store_true")
    ap.add_argument("--out", help="CSV of the samples")
    ap.add_argument("--keep", action="store_true",
                    help="keep the working directory (logs)")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="mqttguard-soak."))
    try:
        failures = run(args, tmp)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
        else:
            log(f"logs in {tmp}")
    for f in failures:
        log("FAIL:", f)
    log("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
