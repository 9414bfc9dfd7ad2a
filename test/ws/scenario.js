// SPDX-License-Identifier: ISC
/*
 * One MQTT.js session as the WebSocket tests run it, the same code in Node
 * (client.js requires it) and in the browser (page.html loads it after
 * MQTT.js's browser bundle): a subscriber connects and subscribes, a
 * publisher connects and publishes each message of the spec, and the
 * result says what each side saw: the CONNACK (or the error MQTT.js gave
 * instead), the SUBACK's granted QoS, each publish's outcome (the PUBACK's
 * or PUBREC's reason code at 5.0), and each message received with its
 * topic, QoS, length and SHA-256.
 *
 * A spec (plain JSON, so that Python writes it for both):
 *   url        ws://, wss://, mqtt:// or mqtts:// URL (path included)
 *   version    3 (MQTT 3.1: subprotocol mqttv3.1), 4 (3.1.1) or 5
 *   sub, pub   connect options of each side: {username, password,
 *              clientId}; sub may be null (publish only)
 *   filter     the subscriber's filter; sub_qos its QoS (default 2)
 *   publish    [{topic, qos, size, seed}]: the payload of each is
 *              payload(seed, size), which the test recomputes
 *   expect     messages to wait for; then settle ms more, so that one that
 *              should not arrive has the time to
 *   timeout    ms for the whole run
 * Every client is ended before run() resolves; nothing reconnects.
 */
(function (root) {
	'use strict';

	/* Deterministic binary bytes: every value but a few, no text. */
	function payload(seed, size) {
		const b = new Uint8Array(size);
		for (let k = 0; k < size; k++)
			b[k] = (seed * 31 + k * 7) % 251;
		return b;
	}

	async function sha256(bytes) {
		const d = new Uint8Array(await root.crypto.subtle.digest(
		    'SHA-256', bytes));
		return Array.from(d, (x) => x.toString(16).padStart(2, '0'))
		    .join('');
	}

	function errinfo(e) {
		if (!e)
			return null;
		return { message: String(e.message || e), code: e.code };
	}

	/*
	 * Connects one client; resolves {client, connack} on a CONNACK that
	 * accepts, {client: null, error} on anything else (a refusing CONNACK
	 * gives MQTT.js's error, whose code is the return or reason code).
	 */
	function open(mqtt, spec, side, extra) {
		const o = Object.assign({
			protocolVersion: spec.version,
			reconnectPeriod: 0,
			connectTimeout: spec.timeout,
			keepalive: 30,
			clean: true,
		}, spec.version === 3 ? { protocolId: 'MQIsdp' } : {},
		    extra, side);
		return new Promise((resolve) => {
			const c = mqtt.connect(spec.url, o);
			let done = false;
			const finish = (r) => {
				if (done)
					return;
				done = true;
				if (r.client === null)
					c.end(true);
				resolve(r);
			};
			c.once('connect', (ack) => finish({ client: c,
			    connack: ack.returnCode !== undefined ?
			    ack.returnCode : (ack.reasonCode || 0) }));
			c.once('error', (e) => finish({ client: null,
			    error: errinfo(e) }));
			c.once('close', () => finish({ client: null,
			    error: { message: 'closed before CONNACK' } }));
		});
	}

	function publishOne(c, m) {
		return new Promise((resolve) => {
			const data = payload(m.seed, m.size);
			c.publish(m.topic, typeof Buffer !== 'undefined' ?
			    Buffer.from(data) : data, { qos: m.qos },
			    (e, pkt) => resolve({ topic: m.topic, qos: m.qos,
			    size: m.size, error: errinfo(e),
			    reasonCode: pkt && pkt.reasonCode }));
		});
	}

	function subscribe(c, spec) {
		return new Promise((resolve) => {
			c.subscribe(spec.filter, { qos: spec.sub_qos === undefined ?
			    2 : spec.sub_qos }, (e, granted) => resolve({
			    error: errinfo(e),
			    granted: (granted || []).map((g) => g.qos) }));
		});
	}

	function end(c) {
		return new Promise((resolve) => {
			if (!c)
				return resolve();
			c.end(false, {}, () => resolve());
		});
	}

	/* Waits until <n> messages are in <got>, or <ms> have passed. */
	function arrived(got, n, ms) {
		return new Promise((resolve) => {
			const t0 = Date.now();
			const tick = () => {
				if (got.length >= n || Date.now() - t0 >= ms)
					return resolve();
				setTimeout(tick, 20);
			};
			tick();
		});
	}

	async function session(mqtt, spec, extra, out) {
		const got = [];
		if (spec.sub) {
			const s = await open(mqtt, spec, spec.sub, extra);
			out.sub = { connack: s.connack, error: s.error };
			if (!s.client)
				return;
			out.clients.push(s.client);
			s.client.on('message', (topic, data, pkt) => got.push(
			    { topic, qos: pkt.qos, data }));
			out.suback = await subscribe(s.client, spec);
		}
		const p = await open(mqtt, spec, spec.pub, extra);
		out.pub = { connack: p.connack, error: p.error };
		if (!p.client)
			return;
		out.clients.push(p.client);
		for (const m of spec.publish || [])
			out.published.push(await publishOne(p.client, m));
		await arrived(got, spec.expect || 0, spec.timeout);
		await new Promise((r) => setTimeout(r, spec.settle || 0));
		for (const m of got.slice())
			out.received.push({ topic: m.topic, qos: m.qos,
			    size: m.data.length, sha256: await sha256(m.data) });
	}

	/*
	 * Runs <spec> with the MQTT.js module <mqtt>; <extra> are connect
	 * options of this environment (Node's ca, a WebSocket factory).
	 * Always resolves, with a "timeout" field if the bound was hit.
	 */
	async function run(mqtt, spec, extra) {
		const out = { published: [], received: [], clients: [] };
		let timer;
		const bound = new Promise((resolve) => {
			timer = setTimeout(() => resolve('timeout'), spec.timeout);
		});
		try {
			const r = await Promise.race([session(mqtt, spec, extra,
			    out), bound]);
			if (r === 'timeout')
				out.timeout = true;
		} catch (e) {
			out.exception = errinfo(e);
		}
		clearTimeout(timer);
		await Promise.race([Promise.all(out.clients.map(end)),
		    new Promise((r) => setTimeout(r, 2000))]);
		out.clients.forEach((c) => c.end(true));
		delete out.clients;
		return out;
	}

	const api = { run, payload, sha256 };
	if (typeof module !== 'undefined' && module.exports)
		module.exports = api;
	else
		root.wsScenario = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);
