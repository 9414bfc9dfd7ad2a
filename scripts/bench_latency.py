#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make bench, limits: a legitimate client's publish-to-delivery latency
through mqttguard, alone and while a flooding client on the same proxy
publishes QoS 0 as fast as it can (held to limits.message_rate by
throttling).  Prints p50/p99 of both runs.

usage: bench_latency.py PORT"""
import multiprocessing
import socket
import statistics
import sys
import threading
import time

import paho.mqtt.client as mqtt

PORT = int(sys.argv[1])
N = 400


def flood(stop):
    body = b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x05flood"
    s = socket.create_connection(("127.0.0.1", PORT))
    s.sendall(bytes([0x10, len(body)]) + body)
    s.recv(4)
    frame = bytes([0x30, 2 + 7 + 64]) + b"\x00\x07flood/x" + b"f" * 64
    chunk = frame * 256
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            s.sendall(chunk)
        except (socket.timeout, OSError):
            pass


def measure():
    lat = []
    got = threading.Event()
    sent = {}

    def on_message(c, u, m):
        lat.append(time.monotonic() - sent[int(m.payload)])
        got.set()
    sub = mqtt.Client(client_id="lat-sub")
    sub.on_message = on_message
    sub.connect("127.0.0.1", PORT)
    sub.subscribe("lat/x", 1)
    sub.loop_start()
    time.sleep(0.5)
    pub = mqtt.Client(client_id="lat-pub")
    pub.connect("127.0.0.1", PORT)
    pub.loop_start()
    for i in range(N):
        got.clear()
        sent[i] = time.monotonic()
        pub.publish("lat/x", str(i), qos=1)
        got.wait(5)
        time.sleep(0.01)
    pub.loop_stop()
    sub.loop_stop()
    lat.sort()
    return (statistics.median(lat) * 1000,
            lat[int(len(lat) * 0.99) - 1] * 1000, len(lat))


def main():
    p50, p99, n = measure()
    print(f"legit latency, alone:         p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
          f"  ({n} QoS 1 messages)")
    stop = multiprocessing.Event()
    attacker = multiprocessing.Process(target=flood, args=(stop,))
    attacker.start()
    time.sleep(1)
    p50f, p99f, n = measure()
    stop.set()
    attacker.join(10)
    if attacker.is_alive():
        attacker.terminate()
    print(f"legit latency, with flooder:  p50 {p50f:6.2f} ms  p99 {p99f:6.2f} ms"
          f"  ({n} QoS 1 messages; p50 x{p50f / p50:.2f}, p99 x{p99f / p99:.2f})")


main()
