#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Network mutation fuzzer: mutated but well-framed MQTT 3.1.1 and 5.0
sessions through mqttguard, and what the broker behind it says of them.

Each session opens a plain TCP connection to the proxy, sends a valid
CONNECT, subscribes to a topic of its own (so that the broker delivers
what it publishes back to it, and the session has deliveries to answer),
and then plays a script of steps drawn from the seed: valid PUBLISHes of
each QoS, answers to its deliveries (right or wrong: PUBREC for a QoS 1
delivery, PUBACK for a QoS 2 one, acks for identifiers with nothing in
flight), QoS 2
PUBLISHes reusing an identifier without DUP, bogus 5.0 properties,
topics holding noncharacters, a Payload Format Indicator of 1 over a
payload that is not UTF-8, flipped header flags, flipped body bytes
(the frame length kept), packet types wrong for the state, SUBSCRIBE
and UNSUBSCRIBE with odd options.  After each step it reads what comes
back until the line is quiet.  A session ends when its script does or
the proxy closes it.

Session n's script is a function of the seed and n alone; the frames it
sends besides (acks finishing QoS 2 flows, answers naming the broker's
delivery identifiers) follow what the broker answers, which a synchronous
exchange keeps the same from run to run, but for the number of times a
broker repeats itself (a PUBREC for each copy of a reused identifier).

The broker must never complain about a proxied client: its log (Mosquitto
with log_type all) is searched for protocol errors, malformed packets,
out-of-memory disconnects and acknowledgements for unknown packet
identifiers, per client id.  Each session's client id names the seed and
the session ("nf-<seed>-<n>"), so a complaint leads to its script.

Standalone (a long run, its own Mosquitto and mqttguard on free ports):
    scripts/netfuzz.py [--seed N] [--kinds a,b] [--minimize] DURATION
prints the complaints by kind with a reproducer for each (the session's
frames in hex, shortened with --minimize) and exits 1 if there is any.
test/integration/test_netfuzz.py drives run() and complaints() itself.
"""
import argparse
import os
import pathlib
import random
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from benchlib import free_port  # noqa: E402

# Mutation kinds; a run draws its steps from those it is given.
KINDS = ("framing", "wrong-ack", "qos2-reuse", "nonchar", "payload-format")

# What Mosquitto (2.0) logs when it refuses what a client sent.
COMPLAINTS = [
    ("protocol error",
     re.compile(r"Client (\S+) disconnected due to protocol error")),
    ("malformed packet",
     re.compile(r"Client (\S+) disconnected due to malformed packet")),
    ("out of memory",
     re.compile(r"Client (\S+) disconnected due to out of memory")),
    ("unknown packet identifier",
     re.compile(r"Received (\w+) from (\S+) for an unknown packet "
                r"identifier")),
    ("protocol error",
     re.compile(r"Protocol error from (\S+)")),
]

QUIET = 0.03        # seconds without a byte: the answer is complete
STEP_WAIT = 0.5     # the most one step waits for its answers


# ---- frames ---------------------------------------------------------------

def vbi(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def mstr(b):
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogatepass")
    return struct.pack(">H", len(b)) + b


def frame(first, body):
    return bytes([first]) + vbi(len(body)) + body


def props(level, body=b""):
    return vbi(len(body)) + body if level == 5 else b""


def connect(level, cid):
    vh = mstr("MQTT") + bytes([level, 0x02]) + struct.pack(">H", 60)
    return frame(0x10, vh + props(level) + mstr(cid))


def publish(level, topic, qos, pid, payload=b"m", dup=False, p=b"",
            raw_topic=None):
    t = raw_topic if raw_topic is not None else mstr(topic)
    body = t + (struct.pack(">H", pid) if qos else b"") + props(level, p)
    return frame(0x30 | qos << 1 | (0x08 if dup else 0), body + payload)


def ack(ptype, pid, level, rc=None):
    first = {4: 0x40, 5: 0x50, 6: 0x62, 7: 0x70}[ptype]
    body = struct.pack(">H", pid)
    if level == 5 and rc is not None:
        body += bytes([rc]) + (b"\x00" if rc else b"")
    return frame(first, body)


def subscribe(level, pid, filters):
    body = struct.pack(">H", pid) + props(level)
    for f, o in filters:
        body += mstr(f) + bytes([o])
    return frame(0x82, body)


def unsubscribe(level, pid, filters):
    body = struct.pack(">H", pid) + props(level)
    for f in filters:
        body += mstr(f)
    return frame(0xA2, body)


def parse(buf):
    """Complete frames at the head of <buf>: (frames, rest)."""
    out = []
    while len(buf) >= 2:
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return out, buf
            b = buf[i]
            n += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80 or i > 4:
                break
        if len(buf) < i + n:
            break
        out.append((buf[0], buf[i:i + n]))
        buf = buf[i + n:]
    return out, buf


# ---- one session ----------------------------------------------------------

class Session:
    """One connection through the proxy, its frames logged."""

    def __init__(self, port, level, cid):
        self.level, self.cid = level, cid
        self.sent = []
        self.deliveries = []    # (qos, pid) of the broker's PUBLISHes
        self.buf = b""
        self.closed = False
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    def send(self, data):
        if self.closed:
            return
        self.sent.append(data)
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True
        self.drain()

    def drain(self, wait=STEP_WAIT):
        """Reads until the line is quiet (or <wait> has passed)."""
        end = time.monotonic() + wait
        while not self.closed and time.monotonic() < end:
            r, _, _ = select.select([self.sock], [], [], QUIET)
            if not r:
                break
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            frames, self.buf = parse(self.buf)
            for first, body in frames:
                self.seen(first, body)

    def seen(self, first, body):
        """A broker PUBLISH is remembered for the script's answers; a
        QoS 2 flow the broker continues (PUBREL) is finished right."""
        t = first >> 4
        if t == 3:
            qos = (first >> 1) & 3
            tl = struct.unpack(">H", body[:2])[0] if len(body) >= 2 else 0
            if qos and len(body) >= tl + 4:
                pid = struct.unpack(">H", body[2 + tl:4 + tl])[0]
                self.deliveries.append((qos, pid))
        elif t in (5, 6) and len(body) >= 2:
            # PUBREC: our QoS 2 PUBLISH goes on; PUBREL: finish theirs.
            pid = struct.unpack(">H", body[:2])[0]
            self.sent.append(ack(6 if t == 5 else 7, pid, self.level))
            try:
                self.sock.sendall(self.sent[-1])
            except OSError:
                self.closed = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


NONCHARS = ["\uffff", "\ufffe", "\ufdd0", "\U0001ffff", "\U0010fffe"]
BOGUS_PROPS = [
    b"\x01\x02",                    # payload format 2
    b"\x23\x00\x00",                # topic alias 0
    b"\x02\x00\x00\x00\x01\x02\x00\x00\x00\x01",    # expiry twice
    b"\x0b\x00",                    # subscription id 0 from a client
    b"\x13\x00\x10",                # server keep alive from a client
    b"\x7f\x01",                    # unknown property
    b"\x26\x00\x01k\x00\x01\xff",   # user property, value not UTF-8
    b"\x03\x00\x02\xed\xa0",        # content type, a surrogate
    b"\x08\x00\x03a/+",             # response topic with a wildcard
    b"\x09\x00\x05",                # correlation data cut short
]


def step(rng, s, kinds, topic, nextid):
    """One step of a script, drawn from <kinds>; returns the next free
    packet identifier."""
    lv = s.level
    kind = rng.choice(kinds)
    pid = nextid
    nextid = nextid % 60000 + 1
    if kind == "framing":
        what = rng.randrange(9)
        if what == 0:       # a valid PUBLISH of any QoS
            q = rng.randrange(3)
            s.send(publish(lv, topic + "/v", q, pid))
        elif what == 1:     # flipped header flags
            f = bytearray(publish(lv, topic + "/f", rng.randrange(3), pid))
            f[0] ^= 1 << rng.randrange(4)
            s.send(bytes(f))
        elif what == 2:     # a flipped body byte, the length kept
            f = bytearray(publish(lv, topic + "/b", rng.randrange(3), pid,
                                  payload=b"payload"))
            i = rng.randrange(2, len(f))
            f[i] ^= 1 << rng.randrange(8)
            s.send(bytes(f))
        elif what == 3 and lv == 5:     # bogus properties
            s.send(publish(lv, topic + "/p", rng.randrange(3), pid,
                           p=rng.choice(BOGUS_PROPS)))
        elif what == 4:     # types wrong for the state or direction
            s.send(rng.choice([
                connect(lv, s.cid), frame(0x20, b"\x00\x00"),
                frame(0x90, struct.pack(">H", pid) + b"\x00"),
                frame(0xD0, b""), frame(0xB0, struct.pack(">H", pid)),
                ack(6, pid, lv), ack(7, pid, lv), ack(4, pid, lv)]))
        elif what == 5:     # SUBSCRIBE with odd options
            o = rng.choice([0x00, 0x03, 0x04, 0x0C, 0x10, 0x30, 0xC0])
            s.send(subscribe(lv, pid, [(rng.choice(
                [topic + "/s", "$share/g/" + topic, "#", "a/#/b", "+"]),
                o)]))
        elif what == 6:
            s.send(unsubscribe(lv, pid, [rng.choice(
                [topic + "/s", topic + "/#", "x/+/y"])]))
        elif what == 7:
            s.send(frame(0xC0, b""))
        else:               # a flipped byte in a SUBSCRIBE
            f = bytearray(subscribe(lv, pid, [(topic + "/z", 1)]))
            i = rng.randrange(2, len(f))
            f[i] ^= 1 << rng.randrange(8)
            s.send(bytes(f))
    elif kind == "wrong-ack" and rng.randrange(3) == 0:
        # An ack for an identifier with nothing in flight.
        s.send(ack(rng.choice([4, 5, 7]), 30000 + pid % 1000, lv))
    elif kind == "wrong-ack":
        # Make a delivery of the QoS wanted, then answer it wrong.
        q = rng.choice([1, 2])
        s.send(publish(lv, topic + "/a", q, pid))
        mine = [d for d in s.deliveries if d[0] == q]
        if mine:
            dq, dpid = mine[-1]
            s.send(ack(5 if dq == 1 else 4, dpid, lv))
    elif kind == "qos2-reuse":
        # Back to back, so that the first is still in flight.
        reused = rng.randrange(1, 4)
        s.send(b"".join(publish(lv, topic + "/r", 2, reused)
                        for _ in range(rng.randrange(2, 5))))
    elif kind == "nonchar":
        nc = rng.choice(NONCHARS)
        s.send(publish(lv, topic + "/" + nc, rng.randrange(3), pid))
    elif kind == "payload-format" and lv == 5:
        s.send(publish(lv, topic + "/u", rng.randrange(3), pid,
                       payload=rng.choice([b"\xff\xfe", b"\xc0\x80",
                                           b"a\xed\xa0\x80"]),
                       p=b"\x01\x01"))
    return nextid


def play(port, seed, n, kinds, steps=None):
    """Session <n> of the run: returns its client id and the frames it
    sent.  Its script is drawn from its own generator, seeded with the
    run's seed and <n>, and drawn whole even if the proxy closes early:
    a session's script never depends on how another one went.  <steps>
    replays given frames instead."""
    rng = random.Random(f"{seed}/{n}")
    lv = rng.choice([4, 5])
    cid = f"nf-{seed}-{n}"
    s = Session(port, lv, cid)
    try:
        s.send(connect(lv, cid))
        if s.closed:
            return cid, s.sent
        topic = f"nf/{n}"
        s.send(subscribe(lv, 1, [(topic + "/#", 2)]))
        if steps is not None:
            for f in steps:
                s.send(f)
        else:
            nextid = 2
            for _ in range(rng.randrange(4, 24)):
                nextid = step(rng, s, kinds, topic, nextid)
            # Answer the deliveries still open, correctly.
            for q, pid in s.deliveries:
                s.send(ack(4 if q == 1 else 5, pid, lv))
        s.drain(0.2)
    except OSError:
        pass
    finally:
        s.close()
    return cid, s.sent


def run(port, duration, seed, kinds=KINDS, out=None):
    """Sessions for <duration> seconds; returns {client id: frames}."""
    sessions = {}
    end = time.monotonic() + duration
    n = 0
    while time.monotonic() < end:
        cid, sent = play(port, seed, n, list(kinds))
        sessions[cid] = sent
        n += 1
    if out is not None:
        print(f"netfuzz: seed {seed}: {n} sessions", file=out)
    return sessions


RX_PUB2 = re.compile(r"Received PUBLISH from (\S+) \(d0, q2, r\d, m(\d+),")
RX_PUBREL = re.compile(r"Received PUBREL from (\S+) \(Mid: (\d+)\)")


def complaints(log, prefix="nf-"):
    """The broker's complaints about proxied clients in <log>: a list of
    (kind, client id or address, line).  Besides what the broker says, a
    QoS 2 PUBLISH it received with DUP 0 and the identifier of one still
    in flight (no PUBREL between) is one: Mosquitto accepts it, and leaks
    (CVE-2023-28366)."""
    found = []
    open2 = set()
    for line in log.splitlines():
        m = RX_PUB2.search(line)
        if m is not None and m.group(1).startswith(prefix):
            if m.groups() in open2:
                found.append(("reused QoS 2 identifier without DUP",
                              m.group(1), line.strip()))
            open2.add(m.groups())
            continue
        m = RX_PUBREL.search(line)
        if m is not None:
            open2.discard(m.groups())
            continue
        for kind, rx in COMPLAINTS:
            m = rx.search(line)
            if m is None:
                continue
            who = m.group(m.lastindex)
            if kind == "unknown packet identifier":
                kind = f"unknown packet identifier ({m.group(1)})"
            if who.startswith(prefix) or rx.pattern.startswith("Protocol"):
                found.append((kind, who, line.strip()))
            break
    return found


def minimize(port, logf, seed, cid, sent, kind):
    """Drops the frames of <sent> (after CONNECT and SUBSCRIBE) the
    complaint <kind> does not need, one at a time, replaying each try as a
    new session; returns what is left."""
    steps = sent[2:]
    tries = 0
    i = 0
    while i < len(steps):
        cand = steps[:i] + steps[i + 1:]
        tries += 1
        rcid = f"nf-{seed}-min{tries}"
        s = Session(port, 4 if sent[0][8] == 4 else 5, rcid)
        try:
            s.send(sent[0])
            s.send(sent[1])
            for f in cand:
                s.send(f)
            s.drain(0.3)
        except OSError:
            pass
        s.close()
        time.sleep(0.2)
        text = logf.read_text(errors="replace")
        if any(k == kind and w == rcid for k, w, _ in complaints(text)):
            steps = cand
        else:
            i += 1
    return sent[:2] + steps


def report(found, sessions, out, port=None, logf=None, seed=None,
           minimize_it=False):
    by = {}
    for kind, who, line in found:
        by.setdefault(kind, []).append((who, line))
    for kind, items in sorted(by.items()):
        print(f"{kind}: {len(items)}", file=out)
        who, line = items[0]
        print(f"  e.g. {line}", file=out)
        sent = sessions.get(who)
        if sent is None:
            continue
        if minimize_it and port is not None:
            sent = minimize(port, logf, seed, who, sent, kind)
        print(f"  session {who}, frames sent:", file=out)
        for f in sent:
            print("    " + f.hex(), file=out)
    return by


# ---- standalone -------------------------------------------------------------

def wait_port(port, proc, what):
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"netfuzz: {what} exited")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"netfuzz: {what} does not listen")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("duration", type=float, help="seconds")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--minimize", action="store_true")
    ap.add_argument("--bin", default=os.environ.get(
        "MQTTGUARD_BIN", str(ROOT / "build" / "mqttguard")))
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    kinds = [k for k in a.kinds.split(",") if k]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="netfuzz."))
    bport, gport = free_port(), free_port()
    blog = tmp / "mosquitto.log"
    (tmp / "mosquitto.conf").write_text(
        f"listener {bport} 127.0.0.1\nallow_anonymous true\n"
        f"persistence false\nuser root\nlog_dest file {blog}\n"
        "log_type all\n"
        "connection_messages true\n")
    (tmp / "policy.yaml").write_text(
        f"listeners:\n  - {{name: plain, address: 127.0.0.1, port: {gport},"
        f" tls: false}}\nupstream: {{host: 127.0.0.1, port: {bport}}}\n"
        "auth:\n  anonymous: true\n"
        "shutdown:\n  drain: 0s\n  spread: 0s\n")
    procs = []
    try:
        procs.append(subprocess.Popen(
            ["mosquitto", "-c", str(tmp / "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(bport, procs[-1], "mosquitto")
        glog = open(tmp / "mqttguard.log", "wb")
        procs.append(subprocess.Popen([a.bin, "-c", str(tmp / "policy.yaml")],
                                      stdout=glog, stderr=glog))
        wait_port(gport, procs[-1], "mqttguard")
        print(f"netfuzz: seed {seed} (NETFUZZ_SEED), kinds {kinds}, logs in "
              f"{tmp}")
        sessions = run(gport, a.duration, seed, kinds, out=sys.stdout)
        time.sleep(0.5)
        found = complaints(blog.read_text(errors="replace"))
        by = report(found, sessions, sys.stdout, gport, blog, seed,
                    a.minimize)
        if not by:
            print("netfuzz: the broker complained about nothing")
        return 1 if by else 0
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
