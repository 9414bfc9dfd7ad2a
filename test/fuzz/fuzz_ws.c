/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for ws: the input is what a client sends a websocket
 * listener.  The upgrade parser reads it (in an exact-size copy) and its
 * promises are checked: a refusal names a status and a reason, an
 * accepted request ends in CRLF CRLF within the input, and every strict
 * prefix of an accepted request says "need more".  Then whatever follows
 * the request (or, when it is refused, the whole input) is fed to the
 * frame transform in chunks whose sizes come from the input's first byte:
 * the MQTT bytes out never outnumber the bytes in, nothing comes out
 * after a refusal, and a refusal always leaves a close frame in the
 * output.  Any broken invariant aborts.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mqttguard/ws.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	upgrade(const uint8_t *, size_t, size_t *);
static void	frames(const uint8_t *, size_t, size_t);

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static const char *const origins[] = { "https://a.example" };
static const struct ws_config cfg = { "/mqtt", origins, 1 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	size_t	used = 0;

	if (len == 0)
		return 0;
	upgrade(data + 1, len - 1, &used);
	frames(data + 1 + used, len - 1 - used, 1 + data[0] % 64);
	return 0;
}

/* The parser on <buf>; <used> the accepted request's length, else 0. */
static void
upgrade(const uint8_t *buf, size_t len, size_t *used)
{
	struct ws_upgrade	 u, v;
	enum ws_upgrade_result	 r;
	uint8_t			*copy = malloc(len ? len : 1);
	char			 resp[WS_RESPONSE_MAX];
	size_t			 k;

	CHECK(copy != NULL);
	memcpy(copy, buf, len);
	r = ws_upgrade_decode(&cfg, copy, len, &u);
	if (r == WS_UP_REFUSE)
		CHECK(u.why != NULL && u.status >= 400 && u.status < 600);
	if (r == WS_UP_NEED)
		CHECK(len < WS_UPGRADE_MAX);
	if (r != WS_UP_NEED)
		CHECK(ws_upgrade_encode(&u, resp, sizeof(resp)) > 0);
	if (r == WS_UP_OK) {
		CHECK(u.len >= 4 && u.len <= len && u.len <= WS_UPGRADE_MAX);
		CHECK(memcmp(buf + u.len - 4, "\r\n\r\n", 4) == 0);
		CHECK(u.protocol != WS_PROTO_NONE);
		for (k = 0; k < u.len; k += 1 + k / 8)
			CHECK(ws_upgrade_decode(&cfg, copy, k, &v) ==
			    WS_UP_NEED);
		*used = u.len;
	}
	free(copy);
}

/* The transform on <buf>, fed <step> bytes at a time. */
static void
frames(const uint8_t *buf, size_t len, size_t step)
{
	struct ws	*ws = ws_new(300);
	struct evbuffer	*raw = evbuffer_new(), *mqtt = evbuffer_new(),
			*out = evbuffer_new();
	enum ws_status	 st = WS_OK;
	size_t		 off = 0, n, had;

	CHECK(ws != NULL && raw != NULL && mqtt != NULL && out != NULL);
	while (off < len && st == WS_OK) {
		n = len - off < step ? len - off : step;
		evbuffer_add(raw, buf + off, n);
		off += n;
		st = ws_decode(ws, raw, mqtt, out);
		CHECK(evbuffer_get_length(mqtt) <= off);
	}
	if (st == WS_ERROR) {
		CHECK(ws_error(ws) != NULL);
		CHECK(evbuffer_get_length(out) >= 2);	/* the close, last */
		had = evbuffer_get_length(mqtt);
		evbuffer_add(raw, "\x82\x80\0\0\0\0", 6);
		CHECK(ws_decode(ws, raw, mqtt, out) == WS_ERROR);
		CHECK(evbuffer_get_length(mqtt) == had);
		CHECK(ws_encode(ws, NULL, "x", 1, out) == -1);
	}
	if (st == WS_OK) {
		CHECK(ws_encode(ws, mqtt, NULL, evbuffer_get_length(mqtt),
		    out) == 0);
		CHECK(evbuffer_get_length(mqtt) == 0);
	}
	ws_close(ws, WS_CLOSE_NORMAL, "bye", out);
	ws_free(ws);
	evbuffer_free(raw);
	evbuffer_free(mqtt);
	evbuffer_free(out);
}
