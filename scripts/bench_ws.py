#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make bench: MQTT over WebSockets (wss://) against MQTT over TLS
(mqtts://) through the same mqttguard, in the same run.

    bench_ws.py MQTTGUARD BROKER_PORT TMP N [RUNS]

One mqttguard with four listeners in front of the broker on BROKER_PORT:
TLS, WebSocket over TLS (the same certificate and key), and the two
without TLS, which separate the WebSocket framing's cost from TLS's.  For
each, RUNS times, in turn: MQTT.js under Node (test/ws/bench.js, one
publisher and one subscriber, the same code for every URL) sends N QoS 0
messages of 64 bytes, then N/4 of 4 KiB, through the proxy and the broker
back to itself.  Reported, each the median of the runs: messages per
second end to end, and the CPU time the mqttguard process spent per
message (utime + stime from /proc/PID/stat, both directions: publisher to
broker and broker to subscriber), then WSS as a ratio of TLS and WS of
TCP.

The clients share the machine's cores with the proxy and the broker, so
msgs/s is bounded by them (MQTT.js's WebSocket framing is the client's own
cost too); the CPU per message is the proxy's figure.  The load average is
printed before and after.
"""
import json
import os
import pathlib
import statistics
import subprocess
import sys

from benchlib import free_port, wait_port

ROOT = pathlib.Path(__file__).resolve().parents[1]
WS_DIR = ROOT / "test" / "ws"
TCK = os.sysconf("SC_CLK_TCK")
LABELS = {"tls": "TLS (mqtts://)", "wss": "WebSocket TLS (wss://)",
          "tcp": "TCP (mqtt://)", "ws": "WebSocket (ws://)"}


def npm_ci():
    """MQTT.js in test/ws/node_modules, installed from package-lock.json
    if it is not there yet."""
    if not (WS_DIR / "node_modules" / "mqtt" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                        "--prefer-offline"], cwd=WS_DIR, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)


def cpu_ticks(pid):
    """utime + stime of <pid>, in clock ticks (fields 14 and 15 of stat,
    counted after the command's closing parenthesis)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def one_run(url, ca, n, size, pid):
    """One bench.js run; returns (msgs/s, proxy CPU ns per message)."""
    p = subprocess.Popen(["node", str(WS_DIR / "bench.js"), url, str(ca),
                          str(n), str(size)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            raise SystemExit(f"bench_ws: bench.js could not start on {url}")
        c0 = cpu_ticks(pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = p.stdout.readline()
        c1 = cpu_ticks(pid)
        if p.wait(60) != 0 or not out:
            raise SystemExit(f"bench_ws: bench.js failed on {url}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    r = json.loads(out)
    return n / r["seconds"], (c1 - c0) * 1e9 / TCK / n


def policy(tmp, broker, ports):
    certs = tmp / "certs"
    return (f"listeners:\n"
            f"  - {{name: tls, address: 127.0.0.1, port: {ports['tls']}}}\n"
            f"  - {{name: wss, address: 127.0.0.1, port: {ports['wss']},"
            f" websocket: true}}\n"
            f"  - {{name: tcp, address: 127.0.0.1, port: {ports['tcp']},"
            f" tls: false}}\n"
            f"  - {{name: ws, address: 127.0.0.1, port: {ports['ws']},"
            f" tls: false, websocket: true}}\n"
            f"tls: {{cert: {certs}/server.crt, key: {certs}/server.key}}\n"
            f"upstream: {{host: 127.0.0.1, port: {broker}}}\n"
            f"auth: {{anonymous: true, empty_client_id: assign}}\n"
            f"log: {{level: warn}}\n")


def compare(urls, ca, n, size, runs, pid):
    """{name: (median msgs/s, median ns/msg)} over <runs> runs of each URL,
    taken in turn so that a change in the machine's load falls on both."""
    got = {name: [] for name in urls}
    for _ in range(runs):
        for name, url in urls.items():
            got[name].append(one_run(url, ca, n, size, pid))
    return {name: (statistics.median(r for r, _ in v),
                   statistics.median(c for _, c in v))
            for name, v in got.items()}


def report(n, size, res):
    print(f"{n} QoS 0 messages of {size} bytes:")
    for base, name in (("tls", "wss"), ("tcp", "ws")):
        br, bc = res[base]
        wr, wc = res[name]
        print(f"  {LABELS[base]:24s} {br:10.0f} msgs/s  {bc:7.0f} ns/msg")
        print(f"  {LABELS[name]:24s} {wr:10.0f} msgs/s  {wc:7.0f} ns/msg"
              f"  ({wr / br:.2f} x {base.upper()} msgs/s, {wc / bc:.2f} x"
              f" its CPU/msg)")


def main():
    binary, broker, tmp, n = (sys.argv[1], int(sys.argv[2]),
                              pathlib.Path(sys.argv[3]), int(sys.argv[4]))
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    npm_ci()
    ports = {name: free_port() for name in ("tls", "wss", "tcp", "ws")}
    conf = tmp / "guard-ws.yaml"
    conf.write_text(policy(tmp, broker, ports))
    with open(tmp / "guard-ws.log", "wb") as log:
        g = subprocess.Popen([binary, "-c", str(conf)], stdout=log,
                             stderr=log)
    try:
        for p in ports.values():
            wait_port(p, g, "bench_ws")
        print(f"== WebSockets: wss:// against mqtts://, ws:// against "
              f"mqtt://, MQTT.js (Node) publisher and subscriber, median "
              f"of {runs} runs")
        print("   load average before: %.2f %.2f %.2f" % os.getloadavg())
        urls = {"tls": f"mqtts://127.0.0.1:{ports['tls']}",
                "wss": f"wss://127.0.0.1:{ports['wss']}/mqtt",
                "tcp": f"mqtt://127.0.0.1:{ports['tcp']}",
                "ws": f"ws://127.0.0.1:{ports['ws']}/mqtt"}
        ca = tmp / "certs" / "ca.crt"
        for count, size in ((n, 64), (max(n // 4, 1), 4096)):
            report(count, size, compare(urls, ca, count, size, runs,
                                        g.pid))
        print("   load average after: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        g.terminate()
        try:
            g.wait(30)
        except subprocess.TimeoutExpired:
            g.kill()
            g.wait()


if __name__ == "__main__":
    main()
