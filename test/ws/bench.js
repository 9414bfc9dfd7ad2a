// SPDX-License-Identifier: ISC
/*
 * The MQTT.js side of scripts/bench_ws.py: one subscriber and one publisher
 * in this process, the same code whatever the URL (mqtts:// or wss://).
 *   node bench.js URL CA N SIZE
 * Connects both, subscribes to "bench" at QoS 0, prints "ready" and waits
 * for a line on stdin (the caller reads the proxy's CPU time then), then
 * publishes N QoS 0 messages of SIZE bytes, at most WINDOW of them not yet
 * written to the socket, and prints {"received": N, "seconds": S} once the
 * subscriber has them all: S from the first publish to the last message.
 * Exits 1 if they do not all arrive within the bound.
 */
'use strict';

const fs = require('fs');
const readline = require('readline');
const mqtt = require('mqtt');

const WINDOW = 1000;
const BOUND_MS = 600 * 1000;

function connect(url, ca, id) {
	return new Promise((resolve, reject) => {
		const c = mqtt.connect(url, { ca, clientId: id, protocolVersion: 4,
		    reconnectPeriod: 0, connectTimeout: 10000, keepalive: 60 });
		c.once('connect', () => resolve(c));
		c.once('error', reject);
	});
}

function line() {
	return new Promise((resolve) => {
		const rl = readline.createInterface({ input: process.stdin });
		rl.once('line', () => {
			rl.close();
			resolve();
		});
	});
}

async function main() {
	const [url, caFile, nArg, sizeArg] = process.argv.slice(2);
	const n = +nArg;
	const ca = fs.readFileSync(caFile);
	const tag = `${process.pid}`;
	const sub = await connect(url, ca, `bench-sub-${tag}`);
	const pub = await connect(url, ca, `bench-pub-${tag}`);
	await new Promise((resolve, reject) => sub.subscribe('bench',
	    { qos: 0 }, (e) => e ? reject(e) : resolve()));
	let got = 0;
	let t0 = 0;
	const all = new Promise((resolve) => sub.on('message', () => {
		if (++got === n)
			resolve(process.hrtime.bigint());
	}));
	process.stdout.write('ready\n');
	await line();
	const payload = Buffer.alloc(+sizeArg, 'x');
	t0 = process.hrtime.bigint();
	await new Promise((resolve) => {
		let sent = 0;
		let done = 0;
		const more = () => {
			while (sent < n && sent - done < WINDOW) {
				sent++;
				pub.publish('bench', payload, { qos: 0 }, () => {
					done++;
					if (done === n)
						resolve();
					else if (sent - done < WINDOW / 2)
						more();
				});
			}
		};
		more();
	});
	const timer = setTimeout(() => {
		process.stderr.write(`bench.js: ${got} of ${n} arrived\n`);
		process.exit(1);
	}, BOUND_MS);
	const t1 = await all;
	clearTimeout(timer);
	process.stdout.write(JSON.stringify({ received: got,
	    seconds: Number(t1 - t0) / 1e9 }) + '\n');
	pub.end(true);
	sub.end(true);
	process.exit(0);
}

main().catch((e) => {
	process.stderr.write(`bench.js: ${e.stack || e}\n`);
	process.exit(1);
});
