/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for ws: the upgrade request parser as a table of {name,
 * request, expected verdict, HTTP status, subprotocol}, hostile requests
 * first among them (oversize, missing and duplicate headers, wrong
 * versions and keys, header injection, bytes that are not ASCII).  Each
 * accepted request is also fed split at every offset: every strict prefix
 * must say "need more"; no prefix of a refused one is ever accepted.
 * Inputs go in exact-size allocations, so ASan sees a one-byte over-read.
 * Rules cite RFC 6455 (section 4.2.1: the client's handshake; 5: framing)
 * and MQTT 5.0 section 6.
 *
 * Then the transform on evbuffers: client frames built here (masked,
 * fragmented, with control frames between fragments) must come out as
 * the same MQTT byte stream whether they arrive whole, split at every
 * byte boundary or byte by byte; each broken rule gives its close status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_suites.h"
#include "mqttguard/ws.h"

#define KEY	"dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455 1.3's */
#define ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define HEAD	"Host: broker.example\r\nUpgrade: websocket\r\n" \
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
#define REQ(line, more) line "\r\n" HEAD "Sec-WebSocket-Key: " KEY "\r\n" \
		"Sec-WebSocket-Protocol: mqtt\r\n" more "\r\n"
#define GOOD(more)	REQ("GET /mqtt HTTP/1.1", more)

struct ucase {
	const char		*name;
	const char		*req;
	enum ws_upgrade_result	 want;
	int			 status;
	enum ws_protocol	 proto;
};

static const char *const origins[] = { "https://app.example.com", "null" };
static const struct ws_config cfg = { "/mqtt", origins, 2 };
static const struct ws_config cfg_any = { "/mqtt", NULL, 0 };

static const struct ucase ucases[] = {
	/* Accepted. */
	{ "plain upgrade [RFC6455 4.2.1]", GOOD(""), WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	{ "query ignored", REQ("GET /mqtt?token=x HTTP/1.1", ""), WS_UP_OK,
	    101, WS_PROTO_MQTT },
	{ "mqttv3.1 [MQTT.js, 3.1]", NULL, WS_UP_OK, 101, WS_PROTO_MQTTV31 },
	{ "list: first we speak [RFC6455 4.2.2]", GOOD(
	    "Sec-WebSocket-Protocol: wamp, mqtt, mqttv3.1\r\n"), WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	{ "tokens any case, lists", "GET /mqtt HTTP/1.1\r\nHOST: h\r\n"
	    "upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
	    "sec-websocket-version: 13\r\nsec-websocket-key:" KEY "  \r\n"
	    "sec-websocket-protocol: mqtt\r\n\r\n", WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	{ "origin listed, case ignored", GOOD(
	    "Origin: https://APP.example.com\r\n"), WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	{ "no origin: not a browser", GOOD(""), WS_UP_OK, 101, WS_PROTO_MQTT },
	{ "content-length 0", GOOD("Content-Length: 0\r\n"), WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	{ "frames sent early stay", GOOD("") "\x82\x80", WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	/* The request line. */
	{ "method POST [RFC6455 4.1 2]", REQ("POST /mqtt HTTP/1.1", ""),
	    WS_UP_REFUSE, 405, 0 },
	{ "method get (case-sensitive)", REQ("get /mqtt HTTP/1.1", ""),
	    WS_UP_REFUSE, 405, 0 },
	{ "other path", REQ("GET /mqtt/ HTTP/1.1", ""), WS_UP_REFUSE, 404,
	    0 },
	{ "path case", REQ("GET /MQTT HTTP/1.1", ""), WS_UP_REFUSE, 404, 0 },
	{ "absolute form", REQ("GET http://h/mqtt HTTP/1.1", ""),
	    WS_UP_REFUSE, 400, 0 },
	{ "HTTP/1.0 [RFC6455 4.1 2]", REQ("GET /mqtt HTTP/1.0", ""),
	    WS_UP_REFUSE, 505, 0 },
	{ "HTTP/2.0", REQ("GET /mqtt HTTP/2.0", ""), WS_UP_REFUSE, 505, 0 },
	{ "not HTTP", REQ("GET /mqtt XTTP/1.1", ""), WS_UP_REFUSE, 400, 0 },
	{ "version with trail", REQ("GET /mqtt HTTP/1.11", ""), WS_UP_REFUSE,
	    400, 0 },
	{ "two spaces", REQ("GET  /mqtt HTTP/1.1", ""), WS_UP_REFUSE, 400,
	    0 },
	{ "extra field", REQ("GET /mqtt HTTP/1.1 x", ""), WS_UP_REFUSE, 400,
	    0 },
	{ "empty request", "\r\n\r\n", WS_UP_REFUSE, 400, 0 },
	/* Missing headers. */
	{ "no Host [RFC6455 4.1 4]", "GET /mqtt HTTP/1.1\r\nUpgrade: "
	    "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", WS_UP_REFUSE, 400, 0 },
	{ "no Upgrade [RFC6455 4.2.1 3]", "GET /mqtt HTTP/1.1\r\nHost: h\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", WS_UP_REFUSE, 426, 0 },
	{ "no Connection: upgrade [RFC6455 4.2.1 4]", "GET /mqtt HTTP/1.1\r\n"
	    "Host: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n", WS_UP_REFUSE, 426, 0 },
	{ "no key [RFC6455 4.2.1 5]", "GET /mqtt HTTP/1.1\r\n" HEAD
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n", WS_UP_REFUSE, 400, 0 },
	{ "no version [RFC6455 4.2.1 6]", "GET /mqtt HTTP/1.1\r\nHost: h\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", WS_UP_REFUSE, 426, 0 },
	{ "no subprotocol [MQTT-6.0.0-3]", "GET /mqtt HTTP/1.1\r\n" HEAD
	    "Sec-WebSocket-Key: " KEY "\r\n\r\n", WS_UP_REFUSE, 400, 0 },
	{ "plain GET", "GET /mqtt HTTP/1.1\r\nHost: h\r\n\r\n", WS_UP_REFUSE,
	    426, 0 },
	/* Wrong values. */
	{ "version 8 [RFC6455 4.4]", "GET /mqtt HTTP/1.1\r\nHost: h\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n", WS_UP_REFUSE, 426, 0 },
	{ "subprotocol case-sensitive", "GET /mqtt HTTP/1.1\r\n" HEAD
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Protocol: MQTT\r\n"
	    "\r\n", WS_UP_REFUSE, 400, 0 },
	{ "subprotocol unknown", "GET /mqtt HTTP/1.1\r\n" HEAD
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Protocol: mqttv5\r\n"
	    "\r\n", WS_UP_REFUSE, 400, 0 },
	{ "origin not listed", GOOD("Origin: https://evil.example.com\r\n"),
	    WS_UP_REFUSE, 403, 0 },
	{ "origin with a path", GOOD("Origin: https://app.example.com/\r\n"),
	    WS_UP_REFUSE, 403, 0 },
	{ "content-length 5", GOOD("Content-Length: 5\r\n"), WS_UP_REFUSE,
	    400, 0 },
	{ "transfer-encoding", GOOD("Transfer-Encoding: chunked\r\n"),
	    WS_UP_REFUSE, 400, 0 },
	/* Keys [RFC6455 4.2.1 5]: base64 of exactly 16 bytes. */
	{ "key 23 chars", "GET /mqtt HTTP/1.1\r\n" HEAD "Sec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
	    WS_UP_REFUSE, 400, 0 },
	{ "key 25 chars", "GET /mqtt HTTP/1.1\r\n" HEAD "Sec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ===\r\nSec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", WS_UP_REFUSE, 400, 0 },
	{ "key not base64", "GET /mqtt HTTP/1.1\r\n" HEAD "Sec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZ!==\r\nSec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", WS_UP_REFUSE, 400, 0 },
	{ "key of 17 bytes", "GET /mqtt HTTP/1.1\r\n" HEAD "Sec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQA=\r\nSec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n", WS_UP_REFUSE, 400, 0 },
	{ "key with stray bits", "GET /mqtt HTTP/1.1\r\n" HEAD
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAB==\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n", WS_UP_REFUSE, 400, 0 },
	/* Duplicates. */
	{ "Host twice [RFC9112 3.2]", GOOD("Host: other\r\n"), WS_UP_REFUSE,
	    400, 0 },
	{ "key twice", GOOD("Sec-WebSocket-Key: " KEY "\r\n"), WS_UP_REFUSE,
	    400, 0 },
	{ "version twice", GOOD("Sec-WebSocket-Version: 13\r\n"),
	    WS_UP_REFUSE, 400, 0 },
	{ "Upgrade twice", GOOD("Upgrade: websocket\r\n"), WS_UP_REFUSE, 400,
	    0 },
	{ "Origin twice", GOOD("Origin: https://app.example.com\r\n"
	    "Origin: https://app.example.com\r\n"), WS_UP_REFUSE, 400, 0 },
	{ "subprotocol header twice: one list", GOOD(
	    "Sec-WebSocket-Protocol: mqttv3.1\r\n"), WS_UP_OK, 101,
	    WS_PROTO_MQTT },
	/* Injection and bytes. */
	{ "bare LF ends a header", GOOD("X-A: 1\nHost: evil\r\n"),
	    WS_UP_REFUSE, 400, 0 },
	{ "bare CR in a value", GOOD("X-A: 1\rHost: evil\r\n"), WS_UP_REFUSE,
	    400, 0 },
	{ "bare LF line ends", "GET /mqtt HTTP/1.1\nHost: h\n\n",
	    WS_UP_REFUSE, 400, 0 },
	{ "obsolete folding", GOOD("X-A: 1\r\n Host: evil\r\n"),
	    WS_UP_REFUSE, 400, 0 },
	{ "space before colon", GOOD("Host : evil\r\n"), WS_UP_REFUSE, 400,
	    0 },
	{ "no colon", GOOD("Host evil\r\n"), WS_UP_REFUSE, 400, 0 },
	{ "empty name", GOOD(": x\r\n"), WS_UP_REFUSE, 400, 0 },
	{ "UTF-8 in a value", GOOD("X-Name: caf\xc3\xa9\r\n"), WS_UP_REFUSE,
	    400, 0 },
	{ "UTF-8 in the path", REQ("GET /mq\xc3\xa9 HTTP/1.1", ""),
	    WS_UP_REFUSE, 400, 0 },
	{ "DEL", GOOD("X-A: \x7f\r\n"), WS_UP_REFUSE, 400, 0 },
	{ "escape", GOOD("X-A: \x1b[2J\r\n"), WS_UP_REFUSE, 400, 0 },
};

/* Requests that cannot be written as string literals. */
static char	*
long_request(size_t pad, bool end)
{
	char	*r;
	size_t	 n = pad + 256;

	ck_assert_ptr_nonnull(r = malloc(n));
	snprintf(r, n, "GET /mqtt HTTP/1.1\r\nX-Pad: ");
	memset(r + strlen(r), 'a', pad);
	r[27 + pad] = '\0';
	strcat(r, end ? "\r\n" HEAD "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n" : "");
	return r;
}

static enum ws_upgrade_result
decode(const struct ws_config *c, const char *req, size_t len,
    struct ws_upgrade *u)
{
	uint8_t			*copy = malloc(len ? len : 1);
	enum ws_upgrade_result	 r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, req, len);
	r = ws_upgrade_decode(c, copy, len, u);
	free(copy);
	return r;
}

START_TEST(upgrade_table)
{
	const struct ucase	*t = &ucases[_i];
	const char		*req = t->req;
	struct ws_upgrade	 u;
	size_t			 len, k;
	enum ws_upgrade_result	 r;

	if (req == NULL)	/* the mqttv3.1 case */
		req = "GET /mqtt HTTP/1.1\r\n" HEAD "Sec-WebSocket-Key: " KEY
		    "\r\nSec-WebSocket-Protocol: mqttv3.1\r\n\r\n";
	len = strlen(req);
	r = decode(&cfg, req, len, &u);
	ck_assert_msg(r == t->want, "%s: %d (%d %s)", t->name, r, u.status,
	    u.why ? u.why : "");
	ck_assert_msg(u.status == t->status, "%s: status %d", t->name,
	    u.status);
	if (r == WS_UP_OK) {
		ck_assert_int_eq(u.protocol, t->proto);
		ck_assert_str_eq(u.accept, ACCEPT);
		ck_assert_uint_le(u.len, len);
		ck_assert(memcmp(req + u.len - 4, "\r\n\r\n", 4) == 0);
	} else
		ck_assert_ptr_nonnull(u.why);
	for (k = 0; k < len; k++) {
		if (t->want == WS_UP_OK && k < u.len)
			ck_assert_msg(decode(&cfg, req, k, &u) == WS_UP_NEED,
			    "%s: prefix %zu", t->name, k);
		else if (t->want == WS_UP_REFUSE)
			ck_assert_msg(decode(&cfg, req, k, &u) != WS_UP_OK,
			    "%s: prefix %zu accepted", t->name, k);
	}
}
END_TEST

START_TEST(upgrade_origins_any)
{
	struct ws_upgrade	u;

	ck_assert_int_eq(decode(&cfg_any, GOOD("Origin: https://x.example\r\n"),
	    strlen(GOOD("Origin: https://x.example\r\n")), &u), WS_UP_OK);
	ck_assert_str_eq(u.origin, "https://x.example");
	ck_assert_int_eq(decode(&cfg, GOOD("Origin: null\r\n"),
	    strlen(GOOD("Origin: null\r\n")), &u), WS_UP_OK);
}
END_TEST

START_TEST(upgrade_oversize)
{
	struct ws_upgrade	 u;
	char			*r;

	/* No end within WS_UPGRADE_MAX: refused before more is read. */
	r = long_request(WS_UPGRADE_MAX, false);
	ck_assert_int_eq(decode(&cfg, r, WS_UPGRADE_MAX - 1, &u), WS_UP_NEED);
	ck_assert_int_eq(decode(&cfg, r, WS_UPGRADE_MAX, &u), WS_UP_REFUSE);
	ck_assert_int_eq(u.status, 431);
	ck_assert_int_eq(decode(&cfg, r, strlen(r), &u), WS_UP_REFUSE);
	ck_assert_int_eq(u.status, 431);
	free(r);
	/* Complete, but its end past the bound. */
	r = long_request(WS_UPGRADE_MAX, true);
	ck_assert_int_eq(decode(&cfg, r, strlen(r), &u), WS_UP_REFUSE);
	ck_assert_int_eq(u.status, 431);
	free(r);
	/* Under the bound: fine. */
	r = long_request(WS_UPGRADE_MAX - 400, true);
	ck_assert_int_eq(decode(&cfg, r, strlen(r), &u), WS_UP_OK);
	free(r);
}
END_TEST

START_TEST(upgrade_too_many_headers)
{
	char			 req[4096];
	struct ws_upgrade	 u;
	int			 i;

	snprintf(req, sizeof(req), "%s", "GET /mqtt HTTP/1.1\r\n" HEAD
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Protocol: mqtt\r\n");
	for (i = 0; i < WS_HEADERS_MAX - 6; i++)
		strcat(req, "X-A: 1\r\n");
	strcat(req, "\r\n");
	ck_assert_int_eq(decode(&cfg, req, strlen(req), &u), WS_UP_OK);
	req[strlen(req) - 2] = '\0';
	strcat(req, "X-A: 1\r\n\r\n");
	ck_assert_int_eq(decode(&cfg, req, strlen(req), &u), WS_UP_REFUSE);
	ck_assert_int_eq(u.status, 431);
}
END_TEST

START_TEST(upgrade_responses)
{
	struct ws_upgrade	u;
	char			buf[WS_RESPONSE_MAX];
	size_t			n;

	ck_assert_int_eq(decode(&cfg, GOOD(""), strlen(GOOD("")), &u),
	    WS_UP_OK);
	n = ws_upgrade_encode(&u, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_str_eq(buf, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " ACCEPT "\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n");
	ck_assert_uint_eq(ws_upgrade_encode(&u, buf, 20), 0);
	memset(&u, 0, sizeof(u));
	u.status = 426;
	u.why = "why";
	n = ws_upgrade_encode(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "HTTP/1.1 426 Upgrade Required\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
	    "Connection: close\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 4\r\n\r\nwhy\n");
	ck_assert_uint_eq(n, strlen(buf));
	u.status = 405;
	(void)ws_upgrade_encode(&u, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "405 Method Not Allowed\r\n"
	    "Allow: GET\r\n"));
}
END_TEST

START_TEST(accept_rfc_vector)
{
	char	out[WS_ACCEPT_LEN + 1];

	ck_assert_int_eq(ws_accept(KEY, out), 0);
	ck_assert_str_eq(out, ACCEPT);
}
END_TEST

/* ---- the transform ---------------------------------------------------- */

/* A client frame: masked unless <mask> is false; appended to <b>. */
static void
cframe(struct evbuffer *b, int opcode, bool fin, const void *p, size_t n,
    bool mask)
{
	static const uint8_t	 key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t			 h[14];
	const uint8_t		*s = p;
	size_t			 hl = 2, i;

	h[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (n < 126)
		h[1] = (uint8_t)n;
	else if (n < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	if (mask) {
		h[1] |= 0x80;
		memcpy(h + hl, key, 4);
		hl += 4;
	}
	evbuffer_add(b, h, hl);
	for (i = 0; i < n; i++) {
		uint8_t	c = mask ? s[i] ^ key[i % 4] : s[i];

		evbuffer_add(b, &c, 1);
	}
}

/* The frames of <wire> fed to a new ws in pieces of <step> bytes (0: at
 * one split point <split>); the status of the last call. */
static enum ws_status
feed(struct evbuffer *wire, size_t split, size_t step, size_t max,
    struct evbuffer *mqtt, struct evbuffer *out)
{
	struct ws	*ws;
	struct evbuffer	*raw;
	size_t		 len = evbuffer_get_length(wire), off = 0, n, k;
	uint8_t		*all = evbuffer_pullup(wire, -1);
	enum ws_status	 st = WS_OK;

	ck_assert_ptr_nonnull(ws = ws_new(max));
	ck_assert_ptr_nonnull(raw = evbuffer_new());
	for (k = 0; off < len && st == WS_OK; k++) {
		n = step ? step : k == 0 ? split : len - off;
		if (n > len - off)
			n = len - off;
		evbuffer_add(raw, all + off, n);
		off += n;
		st = ws_decode(ws, raw, mqtt, out);
	}
	evbuffer_free(raw);
	ws_free(ws);
	return st;
}

static void
expect(struct evbuffer *b, const void *p, size_t n)
{
	ck_assert_uint_eq(evbuffer_get_length(b), n);
	ck_assert(memcmp(evbuffer_pullup(b, -1), p, n) == 0);
}

/*
 * Three MQTT frames (CONNECT, SUBSCRIBE, PUBLISH) as: CONNECT in three
 * messages, the second fragmented with a ping between its fragments;
 * SUBSCRIBE and PUBLISH in one message.
 */
static const uint8_t mqtt_bytes[] = {
	0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c,
	0x00, 0x03, 'c', 'i', 'd',
	0x82, 0x08, 0x00, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00,
	0x30, 0x06, 0x00, 0x01, 't', 'h', 'i', '!'
};

static struct evbuffer *
stream(void)
{
	struct evbuffer	*w = evbuffer_new();

	ck_assert_ptr_nonnull(w);
	cframe(w, 2, true, mqtt_bytes, 3, true);
	cframe(w, 2, false, mqtt_bytes + 3, 5, true);
	cframe(w, 9, true, "ping", 4, true);	/* between fragments */
	cframe(w, 0, false, mqtt_bytes + 8, 0, true);	/* empty fragment */
	cframe(w, 0, true, mqtt_bytes + 8, 6, true);
	cframe(w, 2, true, mqtt_bytes + 14, 3, true);
	cframe(w, 2, true, mqtt_bytes + 17, sizeof(mqtt_bytes) - 17, true);
	return w;
}

static const uint8_t pong[] = { 0x8a, 0x04, 'p', 'i', 'n', 'g' };

START_TEST(transform_every_split)
{
	struct evbuffer	*w = stream(), *mqtt, *out;
	size_t		 len = evbuffer_get_length(w), k;

	for (k = 0; k <= len; k++) {
		mqtt = evbuffer_new();
		out = evbuffer_new();
		ck_assert_int_eq(feed(w, k, 0, 1024, mqtt, out), WS_OK);
		expect(mqtt, mqtt_bytes, sizeof(mqtt_bytes));
		expect(out, pong, sizeof(pong));
		evbuffer_free(mqtt);
		evbuffer_free(out);
	}
	mqtt = evbuffer_new();
	out = evbuffer_new();
	ck_assert_int_eq(feed(w, 0, 1, 1024, mqtt, out), WS_OK);
	expect(mqtt, mqtt_bytes, sizeof(mqtt_bytes));
	expect(out, pong, sizeof(pong));
	evbuffer_free(mqtt);
	evbuffer_free(out);
	evbuffer_free(w);
}
END_TEST

START_TEST(transform_long_lengths)
{
	struct evbuffer	*w = evbuffer_new(), *mqtt = evbuffer_new(),
			*out = evbuffer_new();
	uint8_t		*big = malloc(70000);
	size_t		 i;

	for (i = 0; i < 70000; i++)
		big[i] = (uint8_t)(i * 7);
	cframe(w, 2, true, big, 200, true);		/* 16-bit length */
	cframe(w, 2, false, big + 200, 69000, true);	/* 64-bit length */
	cframe(w, 0, true, big + 69200, 800, true);
	ck_assert_int_eq(feed(w, 0, 4096, 70000, mqtt, out), WS_OK);
	expect(mqtt, big, 70000);
	ck_assert_uint_eq(evbuffer_get_length(out), 0);
	free(big);
	evbuffer_free(w);
	evbuffer_free(mqtt);
	evbuffer_free(out);
}
END_TEST

struct fcase {
	const char	*name;
	int		 op1, op2;	/* frames: opcode, -1 none */
	bool		 fin1, mask1;
	size_t		 len1, len2;
	enum ws_status	 want;
	uint16_t	 code;		/* close sent; 0: none */
};

static const struct fcase fcases[] = {
	{ "unmasked [RFC6455 5.1]", 2, -1, true, false, 10, 0, WS_ERROR,
	    1002 },
	{ "text [MQTT-6.0.0-1]", 1, -1, true, true, 10, 0, WS_ERROR, 1003 },
	{ "over max_message", 2, -1, true, true, 101, 0, WS_ERROR, 1009 },
	{ "max_message exactly", 2, -1, true, true, 100, 0, WS_OK, 0 },
	{ "fragments over max_message", 2, 0, false, true, 60, 41, WS_ERROR,
	    1009 },
	{ "fragments at max_message", 2, 0, false, true, 60, 40, WS_OK, 0 },
	{ "continuation first [RFC6455 5.4]", 0, -1, true, true, 10, 0,
	    WS_ERROR, 1002 },
	{ "new message inside one [RFC6455 5.4]", 2, 2, false, true, 10, 10,
	    WS_ERROR, 1002 },
	{ "reserved opcode [RFC6455 5.2]", 3, -1, true, true, 10, 0,
	    WS_ERROR, 1002 },
	{ "reserved control opcode", 0xb, -1, true, true, 10, 0, WS_ERROR,
	    1002 },
	{ "fragmented ping [RFC6455 5.5]", 9, -1, false, true, 4, 0,
	    WS_ERROR, 1005 },
	{ "ping over 125 [RFC6455 5.5]", 9, -1, true, true, 126, 0,
	    WS_ERROR, 1005 },
	{ "close from the client", 8, -1, true, true, 2, 0, WS_CLOSED,
	    1000 },
	{ "close, status 999 [RFC6455 7.4.2]", 8, -1, true, true, 2, 0,
	    WS_ERROR, 1002 },
};

START_TEST(transform_refusals)
{
	const struct fcase *t = &fcases[_i];
	struct evbuffer	*w = evbuffer_new(), *mqtt = evbuffer_new(),
			*out = evbuffer_new();
	uint8_t		 payload[200], *o;
	size_t		 k;
	enum ws_status	 st;

	memset(payload, 'x', sizeof(payload));
	if (t->op1 == 8) {	/* a close: status 1000, or 999 (invalid) */
		payload[0] = 0x03;
		payload[1] = t->code == 1000 ? 0xe8 : 0xe7;
	}
	cframe(w, t->op1, t->fin1, payload, t->len1, t->mask1);
	if (t->op2 != -1)
		cframe(w, t->op2, true, payload, t->len2, true);
	/* Trailing bytes after a refusal are never read. */
	if (t->want != WS_OK)
		cframe(w, 2, true, "zz", 2, true);
	for (k = 0; k < evbuffer_get_length(w); k++) {
		evbuffer_drain(mqtt, evbuffer_get_length(mqtt));
		evbuffer_drain(out, evbuffer_get_length(out));
		st = feed(w, k, 0, 100, mqtt, out);
		ck_assert_msg(st == t->want, "%s split %zu: %d", t->name, k, st);
		ck_assert_msg(evbuffer_search(mqtt, "zz", 2, NULL).pos == -1,
		    "%s: bytes after the refusal", t->name);
		if (t->code == 0) {
			ck_assert_uint_eq(evbuffer_get_length(out), 0);
			continue;
		}
		o = evbuffer_pullup(out, -1);
		ck_assert_uint_ge(evbuffer_get_length(out), 2);
		ck_assert_uint_eq(o[0], 0x88);
		if (t->code == 1005)
			ck_assert_uint_eq(o[1], 0);
		else
			ck_assert_uint_eq(o[2] << 8 | o[3], t->code);
	}
	evbuffer_free(w);
	evbuffer_free(mqtt);
	evbuffer_free(out);
}
END_TEST

START_TEST(transform_after_error)
{
	struct ws	*ws = ws_new(100);
	struct evbuffer	*raw = evbuffer_new(), *mqtt = evbuffer_new(),
			*out = evbuffer_new();

	cframe(raw, 1, true, "text", 4, true);
	ck_assert_int_eq(ws_decode(ws, raw, mqtt, out), WS_ERROR);
	ck_assert_str_eq(ws_error(ws), "a text frame (MQTT travels in binary "
	    "frames)");
	ck_assert_uint_eq(ws_status_sent(ws), 1003);
	evbuffer_drain(out, evbuffer_get_length(out));
	cframe(raw, 2, true, "bin", 3, true);
	ck_assert_int_eq(ws_decode(ws, raw, mqtt, out), WS_ERROR);
	ck_assert_uint_eq(evbuffer_get_length(mqtt), 0);
	/* Nothing follows the close: no data, no second close. */
	ck_assert_int_eq(ws_encode(ws, NULL, "x", 1, out), -1);
	ws_close(ws, 1000, NULL, out);
	ck_assert_uint_eq(evbuffer_get_length(out), 0);
	ws_free(ws);
	evbuffer_free(raw);
	evbuffer_free(mqtt);
	evbuffer_free(out);
}
END_TEST

START_TEST(encode_frames)
{
	static const size_t	 sizes[] = { 1, 125, 126, 65535, 65536, 70001 };
	static const uint8_t	 hdr[][10] = {
		{ 0x82, 1 }, { 0x82, 125 }, { 0x82, 126, 0, 126 },
		{ 0x82, 126, 0xff, 0xff }, { 0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0 },
		{ 0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x71 }
	};
	static const size_t	 hl[] = { 2, 2, 4, 4, 10, 10 };
	struct ws		*ws = ws_new(100);
	struct evbuffer		*from = evbuffer_new(), *out = evbuffer_new();
	uint8_t			*data = calloc(1, 70001), *o;
	size_t			 i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		evbuffer_add(from, data, sizes[i]);
		evbuffer_add(from, "next", 4);
		ck_assert_int_eq(ws_encode(ws, from, NULL, sizes[i], out), 0);
		ck_assert_uint_eq(evbuffer_get_length(out), hl[i] + sizes[i]);
		o = evbuffer_pullup(out, (ssize_t)hl[i]);
		ck_assert(memcmp(o, hdr[i], hl[i]) == 0);
		expect(from, "next", 4);
		evbuffer_drain(from, 4);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	ck_assert_int_eq(ws_encode(ws, NULL, "\x20\x02\x00\x00", 4, out), 0);
	expect(out, "\x82\x04\x20\x02\x00\x00", 6);
	evbuffer_drain(out, 6);
	ws_close(ws, WS_CLOSE_POLICY, NULL, out);
	expect(out, "\x88\x02\x03\xf0", 4);
	ws_close(ws, WS_CLOSE_NORMAL, NULL, out);
	ck_assert_uint_eq(evbuffer_get_length(out), 4);
	ck_assert_int_eq(ws_encode(ws, NULL, "x", 1, out), -1);
	free(data);
	ws_free(ws);
	evbuffer_free(from);
	evbuffer_free(out);
}
END_TEST

Suite *
ws_suite(void)
{
	Suite	*s = suite_create("ws");
	TCase	*tc = tcase_create("upgrade");

	tcase_add_loop_test(tc, upgrade_table, 0,
	    sizeof(ucases) / sizeof(ucases[0]));
	tcase_add_test(tc, upgrade_origins_any);
	tcase_add_test(tc, upgrade_oversize);
	tcase_add_test(tc, upgrade_too_many_headers);
	tcase_add_test(tc, upgrade_responses);
	tcase_add_test(tc, accept_rfc_vector);
	suite_add_tcase(s, tc);
	tc = tcase_create("transform");
	tcase_add_test(tc, transform_every_split);
	tcase_add_test(tc, transform_long_lengths);
	tcase_add_loop_test(tc, transform_refusals, 0,
	    sizeof(fcases) / sizeof(fcases[0]));
	tcase_add_test(tc, transform_after_error);
	tcase_add_test(tc, encode_frames);
	suite_add_tcase(s, tc);
	return s;
}
