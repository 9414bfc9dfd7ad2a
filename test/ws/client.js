// SPDX-License-Identifier: ISC
/*
 * MQTT.js under Node for the integration tests: runs the scenario of the
 * JSON spec file argv[2] (see scenario.js) and prints its result as one
 * JSON line.  Node-only spec fields:
 *   ca        PEM file the server's certificate must chain to (wss://,
 *             mqtts://); verification stays on
 *   origin    the Origin header of the WebSocket handshake
 *   fragment  if set, every WebSocket message the clients send that is
 *             longer is sent as frames of at most this many bytes (a
 *             first frame and continuation frames, RFC 6455 5.4)
 * Exits 0 whenever it could run the spec, whatever the server did.
 */
'use strict';

const fs = require('fs');
const mqtt = require('mqtt');
const WebSocket = require('ws');
const { run } = require('./scenario.js');

/* A ws WebSocket whose long messages leave as several frames. */
function fragmenting(size) {
	return (url, protocols, opts) => {
		const ws = new WebSocket(url, protocols, opts.wsOptions);
		const send = ws.send.bind(ws);
		ws.send = (data, o, cb) => {
			if (typeof o === 'function') {
				cb = o;
				o = {};
			}
			const buf = Buffer.from(data);
			if (buf.length <= size)
				return send(buf, o, cb);
			for (let at = 0; at < buf.length; at += size) {
				const last = at + size >= buf.length;
				send(buf.subarray(at, at + size), { binary: true,
				    fin: last }, last ? cb : undefined);
			}
		};
		return ws;
	};
}

async function main() {
	const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
	const extra = { wsOptions: {} };
	if (spec.ca)
		extra.ca = fs.readFileSync(spec.ca);
	if (spec.origin)
		extra.wsOptions.origin = spec.origin;
	if (spec.fragment)
		extra.createWebsocket = fragmenting(spec.fragment);
	const out = await run(mqtt, spec, extra);
	process.stdout.write(JSON.stringify(out) + '\n');
	process.exit(0);
}

main().catch((e) => {
	process.stderr.write(`client.js: ${e.stack || e}\n`);
	process.exit(1);
});
