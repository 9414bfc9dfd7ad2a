/* SPDX-License-Identifier: ISC */
/*
 * ws — MQTT over WebSockets: the upgrade request parser and the frame
 * transform (see ws.h for the contract).
 *
 * The upgrade parser reads only what it must and refuses early: the
 * bytes are checked as they arrive (no byte over 0x7e, no control byte
 * but CR, LF and tab), a request longer than WS_UPGRADE_MAX is refused
 * before its end, and every line must end in CRLF (a bare CR or LF could
 * smuggle a header past a front end that splits lines otherwise).
 * Headers that decide something (Host, Upgrade, Origin, the key and the
 * version) may appear once; the lists (Connection,
 * Sec-WebSocket-Protocol) may repeat.  A request with a body is refused:
 * whatever follows the headers is taken as WebSocket frames.
 *
 * Receiving is wslay's event API in its no-buffering mode: it checks the
 * frame layout (masking, reserved bits, opcodes, control frames of at
 * most 125 bytes and never fragmented, the fragment sequence, a control
 * frame between fragments), answers pings and closes, and hands the
 * payload of each data frame over in chunks, which go straight to the
 * MQTT stream; no message is buffered whole.  Sending data does not use
 * wslay's queue, which would copy each message twice: a server's frame
 * header is two to ten bytes and its payload is unmasked, so ws_encode()
 * writes the header and moves the evbuffer chains behind it.  This is
 * safe because wslay's own frames are flushed into the same output
 * within the call that queued them (an evbuffer takes every byte), so no
 * frame of ours can land inside one of its.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "mqttguard/ws.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws {
	wslay_event_context_ptr	 ctx;		/* owned */
	struct evbuffer		*raw;		/* during ws_decode() */
	struct evbuffer		*mqtt;		/* during ws_decode() */
	struct evbuffer		*out;		/* during a call */
	size_t			 max_message;
	uint64_t		 msg_len;	/* of the message being read */
	bool			 data;		/* the frame read is data */
	bool			 fin;		/* ... and ends its message */
	bool			 closed;	/* a close went out */
	const char		*why;		/* our refusal; static */
	uint16_t		 code;		/* its status */
};

/* One parsed header line: views into the request. */
struct hdr {
	const char	*name, *value;
	size_t		 nlen, vlen;
};

/* What the headers said, while they are read. */
struct req {
	unsigned	 host, upgrade, version, key, origin;
	bool		 upgrade_ws, conn_upgrade, version_ok, key_ok, body;
	bool		 origin_ok;
	enum ws_protocol proto;
	bool		 proto_offered;
	char		 keybuf[WS_KEY_LEN + 1];
};

static enum ws_upgrade_result refuse(struct ws_upgrade *, int,
		    const char *);
static int	bad_byte(const uint8_t *, size_t);
static int	scan(const uint8_t *, size_t, size_t *);
static int	request_line(const struct ws_config *, const char *, size_t,
		    struct ws_upgrade *);
static int	header_line(const char *, size_t, struct hdr *);
static int	header_use(const struct ws_config *, const struct hdr *,
		    struct req *, struct ws_upgrade *);
static int	headers_check(const struct req *, struct ws_upgrade *);
static bool	is_tchar(int);
static bool	name_is(const struct hdr *, const char *);
static bool	list_next(const char *, size_t, size_t *, const char **,
		    size_t *);
static bool	list_has(const char *, size_t, const char *);
static void	list_proto(const char *, size_t, struct req *);
static bool	key_ok(const char *, size_t);
static bool	origin_allowed(const struct ws_config *, const char *, size_t);
static const char *status_text(int);
static ssize_t	recv_cb(wslay_event_context_ptr, uint8_t *, size_t, int,
		    void *);
static ssize_t	send_cb(wslay_event_context_ptr, const uint8_t *, size_t,
		    int, void *);
static void	start_cb(wslay_event_context_ptr,
		    const struct wslay_event_on_frame_recv_start_arg *,
		    void *);
static void	chunk_cb(wslay_event_context_ptr,
		    const struct wslay_event_on_frame_recv_chunk_arg *,
		    void *);
static void	end_cb(wslay_event_context_ptr, void *);
static void	fail(struct ws *, uint16_t, const char *);

/* ---- the upgrade request -------------------------------------------- */

enum ws_upgrade_result
ws_upgrade_decode(const struct ws_config *cfg, const uint8_t *buf,
    size_t len, struct ws_upgrade *u)
{
	const char	*p, *eol, *stop;
	struct hdr	 h;
	struct req	 r;
	size_t		 n, lines = 0;
	int		 found;

	memset(u, 0, sizeof(*u));
	n = len < WS_UPGRADE_MAX ? len : WS_UPGRADE_MAX;
	found = scan(buf, n, &u->len);
	if (bad_byte(buf, found == 1 ? u->len : n))
		return refuse(u, 400, "a byte that is not printable ASCII in "
		    "the request");
	if (found == -1)
		return refuse(u, 400, "a bare CR or LF in the request");
	if (found == 0)
		return len >= WS_UPGRADE_MAX ? refuse(u, 431, "request "
		    "headers over 8 KiB") : WS_UP_NEED;
	memset(&r, 0, sizeof(r));
	p = (const char *)buf;
	stop = (const char *)buf + u->len - 2;	/* the final CRLF */
	eol = memchr(p, '\r', (size_t)(stop - p));
	if (request_line(cfg, p, (size_t)(eol - p), u) == -1)
		return WS_UP_REFUSE;
	for (p = eol + 2; p < stop; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(stop - p));
		if (++lines > WS_HEADERS_MAX)
			return refuse(u, 431, "more than 64 header lines");
		if (header_line(p, (size_t)(eol - p), &h) == -1)
			return refuse(u, 400, "a malformed header line");
		if (header_use(cfg, &h, &r, u) == -1)
			return WS_UP_REFUSE;
	}
	if (headers_check(&r, u) == -1)
		return WS_UP_REFUSE;
	if (ws_accept(r.keybuf, u->accept) == -1)
		return refuse(u, 500, "SHA-1 failed");
	u->protocol = r.proto;
	u->status = 101;
	return WS_UP_OK;
}

static enum ws_upgrade_result
refuse(struct ws_upgrade *u, int status, const char *why)
{
	u->status = status;
	u->why = why;
	return WS_UP_REFUSE;
}

/*
 * Whether <buf> holds a byte no request may: over 0x7e, or a control
 * byte other than CR, LF and tab.
 */
static int
bad_byte(const uint8_t *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (buf[i] > 0x7e || (buf[i] < 0x20 && buf[i] != '\r' &&
		    buf[i] != '\n' && buf[i] != '\t'))
			return 1;
	return 0;
}

/*
 * Looks for the end of the headers (CRLF CRLF) in <buf>: 1 and <end> just
 * past it, 0 if not there yet, -1 at a bare CR or LF (every CR must be
 * followed by LF and every LF preceded by CR).
 */
static int
scan(const uint8_t *buf, size_t len, size_t *end)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return -1;
		if (buf[i] != '\r')
			continue;
		if (i + 1 < len && buf[i + 1] != '\n')
			return -1;
		if (i + 3 < len && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			*end = i + 4;
			return 1;
		}
	}
	return 0;
}

/*
 * "GET /path?query HTTP/1.1": the method (405 if not GET), the path
 * (404 if not cfg->path), the version (505 if not 1.1).  -1 on refusal.
 */
static int
request_line(const struct ws_config *cfg, const char *p, size_t len,
    struct ws_upgrade *u)
{
	const char	*sp1, *sp2, *target, *q;
	size_t		 tlen, plen;

	if ((sp1 = memchr(p, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - p))) == NULL ||
	    sp1 == p || sp2 == sp1 + 1) {
		refuse(u, 400, "a malformed request line");
		return -1;
	}
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	if (memchr(sp2 + 1, ' ', len - (size_t)(sp2 + 1 - p)) != NULL ||
	    memchr(p, '\t', len) != NULL || target[0] != '/') {
		refuse(u, 400, "a malformed request line");
		return -1;
	}
	if ((size_t)(p + len - (sp2 + 1)) != 8 ||
	    memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		refuse(u, len - (size_t)(sp2 + 1 - p) == 8 &&
		    memcmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400,
		    "not HTTP/1.1");
		return -1;
	}
	if (sp2[8] != '1') {
		refuse(u, 505, "not HTTP/1.1");
		return -1;
	}
	if ((size_t)(sp1 - p) != 3 || memcmp(p, "GET", 3) != 0) {
		refuse(u, 405, "the method is not GET");
		return -1;
	}
	q = memchr(target, '?', tlen);
	plen = q != NULL ? (size_t)(q - target) : tlen;
	if (strlen(cfg->path) != plen || memcmp(target, cfg->path, plen) != 0) {
		refuse(u, 404, "not the listener's websocket_path");
		return -1;
	}
	return 0;
}

/*
 * "Name: value": a token, a colon right after it, the value with the
 * spaces and tabs around it trimmed.  A line starting with a space or a
 * tab (obsolete folding) or holding a bare CR or LF is refused (-1).
 */
static int
header_line(const char *p, size_t len, struct hdr *h)
{
	size_t	i;

	if (memchr(p, '\r', len) != NULL || memchr(p, '\n', len) != NULL)
		return -1;
	for (i = 0; i < len && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == len || p[i] != ':')
		return -1;
	h->name = p;
	h->nlen = i;
	for (i++; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	h->value = p + i;
	h->vlen = len - i;
	while (h->vlen > 0 && (h->value[h->vlen - 1] == ' ' ||
	    h->value[h->vlen - 1] == '\t'))
		h->vlen--;
	return 0;
}

/* Notes what header <h> says in <r>; -1 (and <u> set) on refusal. */
static int
header_use(const struct ws_config *cfg, const struct hdr *h, struct req *r,
    struct ws_upgrade *u)
{
	if (name_is(h, "host"))
		r->host++;
	else if (name_is(h, "upgrade")) {
		r->upgrade++;
		r->upgrade_ws = list_has(h->value, h->vlen, "websocket");
	} else if (name_is(h, "connection"))
		r->conn_upgrade |= list_has(h->value, h->vlen, "upgrade");
	else if (name_is(h, "sec-websocket-version")) {
		r->version++;
		r->version_ok = h->vlen == 2 && memcmp(h->value, "13", 2) == 0;
	} else if (name_is(h, "sec-websocket-key")) {
		r->key++;
		if ((r->key_ok = key_ok(h->value, h->vlen)))
			memcpy(r->keybuf, h->value, WS_KEY_LEN);
	} else if (name_is(h, "sec-websocket-protocol"))
		list_proto(h->value, h->vlen, r);
	else if (name_is(h, "origin")) {
		r->origin++;
		r->origin_ok = origin_allowed(cfg, h->value, h->vlen);
		if (h->vlen < sizeof(u->origin)) {
			memcpy(u->origin, h->value, h->vlen);
			u->origin[h->vlen] = '\0';
		}
	} else if (name_is(h, "content-length"))
		r->body |= !(h->vlen == 1 && h->value[0] == '0');
	else if (name_is(h, "transfer-encoding"))
		r->body = true;
	return 0;
}

/* The request as a whole; -1 (and <u> set) on refusal. */
static int
headers_check(const struct req *r, struct ws_upgrade *u)
{
	if (r->host > 1 || r->upgrade > 1 || r->version > 1 || r->key > 1 ||
	    r->origin > 1)
		refuse(u, 400, "a header that may appear once appears twice "
		    "(Host, Upgrade, Origin, Sec-WebSocket-Key or "
		    "Sec-WebSocket-Version)");
	else if (r->host == 0)
		refuse(u, 400, "no Host header");
	else if (r->body)
		refuse(u, 400, "a request body (Content-Length or "
		    "Transfer-Encoding)");
	else if (!r->upgrade_ws || !r->conn_upgrade)
		refuse(u, 426, "not a WebSocket upgrade (Upgrade: websocket, "
		    "Connection: Upgrade)");
	else if (!r->version_ok)
		refuse(u, 426, "Sec-WebSocket-Version is not 13");
	else if (r->key == 0 || !r->key_ok)
		refuse(u, 400, "no valid Sec-WebSocket-Key (base64 of 16 "
		    "bytes)");
	else if (r->origin == 1 && !r->origin_ok)
		refuse(u, 403, "Origin not in websocket_origins");
	else if (r->proto == WS_PROTO_NONE)
		refuse(u, 400, r->proto_offered ? "no subprotocol offered is "
		    "mqtt or mqttv3.1" : "no Sec-WebSocket-Protocol (mqtt)");
	else
		return 0;
	return -1;
}

/* RFC 9110's token characters. */
static bool
is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

static bool
name_is(const struct hdr *h, const char *name)
{
	return strlen(name) == h->nlen && strncasecmp(h->name, name,
	    h->nlen) == 0;
}

/*
 * The next element of the comma-separated list <v> (<len> bytes) from
 * <*i>, spaces and tabs around it trimmed, empty ones skipped: its start
 * and length in <tok>, <tlen>.  False at the end of the list.
 */
static bool
list_next(const char *v, size_t len, size_t *i, const char **tok,
    size_t *tlen)
{
	size_t	s, e;

	while (*i < len) {
		while (*i < len && (v[*i] == ' ' || v[*i] == '\t' ||
		    v[*i] == ','))
			(*i)++;
		for (s = *i; *i < len && v[*i] != ','; (*i)++)
			;
		for (e = *i; e > s && (v[e - 1] == ' ' || v[e - 1] == '\t');)
			e--;
		if (e > s) {
			*tok = v + s;
			*tlen = e - s;
			return true;
		}
	}
	return false;
}

/* Whether the comma-separated list <v> holds <tok> (ASCII case ignored). */
static bool
list_has(const char *v, size_t len, const char *tok)
{
	const char	*t;
	size_t		 i = 0, n;

	while (list_next(v, len, &i, &t, &n))
		if (n == strlen(tok) && strncasecmp(t, tok, n) == 0)
			return true;
	return false;
}

/*
 * Sec-WebSocket-Protocol: the first subprotocol of the client's list we
 * speak (names are case-sensitive, RFC 6455 section 11.5) unless one was
 * chosen from an earlier header.
 */
static void
list_proto(const char *v, size_t len, struct req *r)
{
	const char	*t;
	size_t		 i = 0, n;

	while (list_next(v, len, &i, &t, &n)) {
		r->proto_offered = true;
		if (r->proto != WS_PROTO_NONE)
			continue;
		if (n == 4 && memcmp(t, "mqtt", 4) == 0)
			r->proto = WS_PROTO_MQTT;
		else if (n == 8 && memcmp(t, "mqttv3.1", 8) == 0)
			r->proto = WS_PROTO_MQTTV31;
	}
}

/*
 * A Sec-WebSocket-Key: 24 base64 characters, "==" at the end and the
 * last data character's unused bits zero: exactly 16 bytes, encoded the
 * one way they can be.
 */
static bool
key_ok(const char *k, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char	*c;
	size_t		 i;

	if (len != WS_KEY_LEN || k[22] != '=' || k[23] != '=')
		return false;
	for (i = 0; i < 22; i++)
		if (k[i] == '\0' || strchr(b64, k[i]) == NULL)
			return false;
	c = strchr(b64, k[21]);
	return ((c - b64) & 0x0f) == 0;
}

static bool
origin_allowed(const struct ws_config *cfg, const char *v, size_t len)
{
	size_t	i;

	if (cfg->n_origins == 0)
		return true;
	for (i = 0; i < cfg->n_origins; i++)
		if (strlen(cfg->origins[i]) == len &&
		    strncasecmp(cfg->origins[i], v, len) == 0)
			return true;
	return false;
}

int
ws_accept(const char *key, char *out)
{
	uint8_t		in[WS_KEY_LEN + sizeof(WS_GUID) - 1];
	uint8_t		md[EVP_MAX_MD_SIZE];
	unsigned	mdlen = 0;

	memcpy(in, key, WS_KEY_LEN);
	memcpy(in + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(in, sizeof(in), md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		return -1;
	/* 20 bytes: 28 characters and the NUL EVP_EncodeBlock adds. */
	return EVP_EncodeBlock((unsigned char *)out, md, 20) == WS_ACCEPT_LEN ?
	    0 : -1;
}

const char *
ws_protocol_str(enum ws_protocol p)
{
	return p == WS_PROTO_MQTT ? "mqtt" : p == WS_PROTO_MQTTV31 ?
	    "mqttv3.1" : "";
}

static const char *
status_text(int status)
{
	switch (status) {
	case 101:	return "Switching Protocols";
	case 400:	return "Bad Request";
	case 403:	return "Forbidden";
	case 404:	return "Not Found";
	case 405:	return "Method Not Allowed";
	case 426:	return "Upgrade Required";
	case 431:	return "Request Header Fields Too Large";
	case 505:	return "HTTP Version Not Supported";
	default:	return "Internal Server Error";
	}
}

size_t
ws_upgrade_encode(const struct ws_upgrade *u, char *buf, size_t cap)
{
	int	n;

	if (u->status == 101)
		n = snprintf(buf, cap, "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "Sec-WebSocket-Protocol: %s\r\n\r\n", u->accept,
		    ws_protocol_str(u->protocol));
	else
		n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\n%s"
		    "Connection: close\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %zu\r\n\r\n%s\n", u->status,
		    status_text(u->status), u->status == 426 ?
		    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" :
		    u->status == 405 ? "Allow: GET\r\n" : "",
		    strlen(u->why ? u->why : "") + 1, u->why ? u->why : "");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* ---- after the upgrade ---------------------------------------------- */

struct ws *
ws_new(size_t max_message)
{
	static const struct wslay_event_callbacks cb = {
		recv_cb, send_cb, NULL, start_cb, chunk_cb, end_cb, NULL
	};
	struct ws	*ws;

	if ((ws = calloc(1, sizeof(*ws))) == NULL)
		return NULL;
	if (wslay_event_context_server_init(&ws->ctx, &cb, ws) != 0) {
		free(ws);
		return NULL;
	}
	wslay_event_config_set_no_buffering(ws->ctx, 1);
	/* Ours is per message (start_cb()); wslay's would be per frame. */
	wslay_event_config_set_max_recv_msg_length(ws->ctx, UINT64_MAX);
	ws->max_message = max_message;
	return ws;
}

void
ws_free(struct ws *ws)
{
	if (ws == NULL)
		return;
	wslay_event_context_free(ws->ctx);
	free(ws);
}

enum ws_status
ws_decode(struct ws *ws, struct evbuffer *raw, struct evbuffer *mqtt,
    struct evbuffer *out)
{
	int	r;

	if (ws->why != NULL)
		return WS_ERROR;
	if (wslay_event_get_close_received(ws->ctx))
		return WS_CLOSED;
	ws->raw = raw;
	ws->mqtt = mqtt;
	ws->out = out;
	r = wslay_event_recv(ws->ctx);
	(void)wslay_event_send(ws->ctx);	/* pongs, a close */
	ws->raw = ws->mqtt = ws->out = NULL;
	if (wslay_event_get_close_sent(ws->ctx))
		ws->closed = true;
	if (ws->why == NULL && r == WSLAY_ERR_NOMEM)
		ws->why = "out of memory";
	else if (ws->why == NULL && r != 0)
		ws->why = "a malformed WebSocket frame (a control frame "
		    "fragmented or over 125 bytes, or a length not in its "
		    "shortest form)";
	if (ws->why != NULL)
		return WS_ERROR;
	if (wslay_event_get_close_received(ws->ctx))
		return WS_CLOSED;
	if (!wslay_event_get_read_enabled(ws->ctx)) {
		/* wslay refused a frame: it queued the close itself. */
		ws->why = "a WebSocket protocol error (an unmasked frame, "
		    "reserved bits, an unknown opcode or a broken fragment "
		    "sequence)";
		return WS_ERROR;
	}
	return WS_OK;
}

int
ws_encode(struct ws *ws, struct evbuffer *from, const void *buf, size_t n,
    struct evbuffer *out)
{
	uint8_t	h[10];
	size_t	hl, i;

	if (ws->closed || n == 0)
		return ws->closed ? -1 : 0;
	h[0] = 0x80 | WSLAY_BINARY_FRAME;	/* FIN, binary */
	if (n < 126) {
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n < 65536) {
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
	if (evbuffer_add(out, h, hl) == -1)
		return -1;
	if (from == NULL)
		return evbuffer_add(out, buf, n);
	return evbuffer_remove_buffer(from, out, n) == (int)n ? 0 : -1;
}

void
ws_close(struct ws *ws, uint16_t code, const char *why,
    struct evbuffer *out)
{
	size_t	wl = why != NULL ? strlen(why) : 0;

	if (ws->closed)
		return;
	ws->out = out;
	(void)wslay_event_queue_close(ws->ctx, code, (const uint8_t *)why,
	    wl > 123 ? 123 : wl);
	(void)wslay_event_send(ws->ctx);
	ws->out = NULL;
	ws->closed = true;
}

const char *
ws_error(const struct ws *ws)
{
	return ws->why;
}

uint16_t
ws_status_sent(const struct ws *ws)
{
	return wslay_event_get_status_code_sent(ws->ctx);
}

uint16_t
ws_status_received(const struct ws *ws)
{
	return wslay_event_get_status_code_received(ws->ctx);
}

/* ---- wslay's callbacks ---------------------------------------------- */

/* The client's bytes, from the evbuffer ws_decode() was given. */
static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct ws	*ws = arg;
	int		 n;

	(void)flags;
	if (ws->raw == NULL || (n = evbuffer_remove(ws->raw, buf, len)) <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

/* Frames wslay makes (pong, close): into the client's output. */
static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct ws	*ws = arg;

	(void)flags;
	if (ws->out == NULL || evbuffer_add(ws->out, data, len) == -1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

/*
 * A frame starts (its header read and checked by wslay).  Data frames
 * must carry a binary message (MQTT 5.0 [MQTT-6.0.0-1]) within
 * max_message bytes, counted over its fragments.
 */
static void
start_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_start_arg *a, void *arg)
{
	struct ws	*ws = arg;

	(void)ctx;
	ws->data = !wslay_is_ctrl_frame(a->opcode);
	if (!ws->data || ws->why != NULL)
		return;
	ws->fin = a->fin;
	if (a->opcode == WSLAY_TEXT_FRAME)
		fail(ws, WS_CLOSE_UNSUPPORTED, "a text frame (MQTT travels in "
		    "binary frames)");
	else if (a->payload_length > ws->max_message - ws->msg_len)
		fail(ws, WS_CLOSE_TOO_BIG, "a message over "
		    "websocket_max_message");
	else
		ws->msg_len += a->payload_length;
}

/* Payload of a data frame, unmasked: onto the MQTT stream. */
static void
chunk_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_chunk_arg *a, void *arg)
{
	struct ws	*ws = arg;

	(void)ctx;
	if (!ws->data || ws->why != NULL || a->data_length == 0)
		return;
	if (evbuffer_add(ws->mqtt, a->data, a->data_length) == -1)
		fail(ws, 1011, "out of memory");
}

static void
end_cb(wslay_event_context_ptr ctx, void *arg)
{
	struct ws	*ws = arg;

	(void)ctx;
	if (ws->data && ws->fin)
		ws->msg_len = 0;
}

/* Refuses: the close with <code> is queued, nothing more is read. */
static void
fail(struct ws *ws, uint16_t code, const char *why)
{
	ws->why = why;
	ws->code = code;
	(void)wslay_event_queue_close(ws->ctx, code, NULL, 0);
	wslay_event_shutdown_read(ws->ctx);
}
