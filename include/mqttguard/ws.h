/* SPDX-License-Identifier: ISC */
/*
 * ws — MQTT over WebSockets (RFC 6455, MQTT 5.0 section 6): the HTTP/1.1
 * upgrade and the frames after it, as a transform on byte streams.
 *
 * Two parts, both written for untrusted input:
 *
 * - ws_upgrade_decode(): a pure parser of the client's upgrade request on
 *   a byte array, shaped like the codec: "need more", "upgrade: this
 *   subprotocol, this Sec-WebSocket-Accept, N bytes used" or "refuse with
 *   this HTTP status, because".  No I/O, no allocation, no logging.  The
 *   request is bounded (WS_UPGRADE_MAX bytes, WS_HEADERS_MAX lines):
 *   past the bound it is refused before its end is buffered.
 *
 * - struct ws: one upgraded connection.  ws_decode() takes the raw bytes
 *   the client sent (an evbuffer) and appends the payload of its binary
 *   messages to another, as one byte stream: MQTT frames may span
 *   messages and a message may hold several frames, so the codec reads
 *   that stream as it reads a TCP one.  Ping, close and the framing rules
 *   (masking, fragments, control frames between fragments) are wslay's
 *   (libwslay, the receiving side); ws_decode() adds the rules of MQTT
 *   over WebSockets: binary messages only (a text one is refused, 1003),
 *   at most <max_message> bytes a message (1009).  ws_encode() frames MQTT
 *   bytes to the client: one binary message, one unmasked frame, the
 *   payload's evbuffer chains moved rather than copied.  Control frames
 *   the library queues (pong, close) are flushed to the output at once,
 *   so a data frame never lands inside one.
 *
 * It knows nothing of sessions or policies; session_ws.c drives it.
 */
#ifndef MQTTGUARD_WS_H
#define MQTTGUARD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#define WS_UPGRADE_MAX		8192	/* the whole upgrade request */
#define WS_HEADERS_MAX		64	/* header lines in it */
#define WS_KEY_LEN		24	/* base64 of 16 bytes */
#define WS_ACCEPT_LEN		28	/* base64 of a SHA-1 */
#define WS_PATH_MAX		256	/* websocket_path */
#define WS_ORIGIN_MAX		256	/* one websocket_origins entry */
#define WS_MAX_MESSAGE_DEFAULT	(1024 * 1024 + 5)	/* bytes */
#define WS_RESPONSE_MAX		512	/* ws_upgrade_encode()'s buffer */

/* Close status codes (RFC 6455 section 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009

/*
 * What a listener accepts.  <path>: the request target's path (the query
 * is ignored), e.g. "/mqtt".  <origins>: with n_origins > 0, an Origin
 * header, when the client sends one, must equal one of them (ASCII case
 * ignored); a request without Origin (not a browser) is accepted.  With
 * none, any Origin is.
 */
struct ws_config {
	const char		*path;
	const char *const	*origins;
	size_t			 n_origins;
};

enum ws_upgrade_result {
	WS_UP_NEED,		/* no end of headers yet, under the bound */
	WS_UP_OK,		/* upgrade: see struct ws_upgrade */
	WS_UP_REFUSE		/* answer <status>, close */
};

/* The subprotocols spoken, in ws_upgrade.protocol. */
enum ws_protocol {
	WS_PROTO_NONE,
	WS_PROTO_MQTT,		/* "mqtt": MQTT 3.1.1 and 5.0 */
	WS_PROTO_MQTTV31	/* "mqttv3.1": MQTT 3.1 (MQTT.js sends it) */
};

struct ws_upgrade {
	size_t			 len;		/* request bytes used */
	int			 status;	/* HTTP status; 101 on OK */
	const char		*why;		/* static; refusals */
	enum ws_protocol	 protocol;	/* chosen (OK) */
	char			 accept[WS_ACCEPT_LEN + 1];
	char			 origin[WS_ORIGIN_MAX];	/* as sent, or "" */
};

/*
 * Parses the upgrade request at the head of <buf> (<len> bytes read so
 * far; more may follow it: WebSocket frames sent early).  WS_UP_NEED: the
 * header's end is not in <buf> yet and <len> is under WS_UPGRADE_MAX.
 * WS_UP_OK: <u> holds the chosen protocol and the accept value; u->len
 * bytes are the request.  WS_UP_REFUSE: u->status (400, 403, 404, 405,
 * 426, 431, 505) and u->why.
 */
enum ws_upgrade_result ws_upgrade_decode(const struct ws_config *cfg,
	    const uint8_t *buf, size_t len, struct ws_upgrade *u);

/*
 * The HTTP answer to <u>: "101 Switching Protocols" with the accept value
 * and the protocol, or the refusal with u->why as its text body.  Writes
 * at most <cap> bytes into <buf>; returns the length, or 0 if <cap> is too
 * small (WS_RESPONSE_MAX is enough).
 */
size_t	ws_upgrade_encode(const struct ws_upgrade *u, char *buf, size_t cap);

/* The subprotocol's name ("mqtt", "mqttv3.1"), "" for none. */
const char *ws_protocol_str(enum ws_protocol p);

/*
 * Sec-WebSocket-Accept of <key> (WS_KEY_LEN characters): base64 of the
 * SHA-1 of the key and RFC 6455's GUID, into <out> (WS_ACCEPT_LEN + 1).
 * -1 if the digest fails.
 */
int	ws_accept(const char *key, char *out);

/* ---- after the upgrade ---------------------------------------------- */

enum ws_status {
	WS_OK,			/* go on */
	WS_CLOSED,		/* the client sent a close; answered */
	WS_ERROR		/* refused: a close went out, see ws_error() */
};

struct ws;

/*
 * A server-side connection refusing messages over <max_message> bytes
 * (> 0).  NULL on ENOMEM.  ws_free() frees it (NULL: nothing).
 */
struct ws *ws_new(size_t max_message);
void	ws_free(struct ws *ws);

/*
 * Reads <raw> (the client's bytes, drained as read) and appends what its binary messages carry to <mqtt>.  Pongs and
 * close frames go to <out> (the client's output).  WS_CLOSED once the
 * client's close has been read (and answered); WS_ERROR when it broke a
 * rule: the close frame with the status is in <out>, ws_error() says why.
 * Bytes after a close or an error are left unread.
 */
enum ws_status ws_decode(struct ws *ws, struct evbuffer *raw,
	    struct evbuffer *mqtt, struct evbuffer *out);

/*
 * Moves <n> bytes from the head of <from> into <out> as one binary
 * message (<from> NULL: copies <n> bytes of <buf>).  -1 on ENOMEM, or
 * once a close frame went out (nothing may follow it).
 */
int	ws_encode(struct ws *ws, struct evbuffer *from, const void *buf,
	    size_t n, struct evbuffer *out);

/*
 * A close frame with <code> (and <why>, at most 123 bytes used) to <out>,
 * unless one went out already.  The connection sends nothing after it.
 */
void	ws_close(struct ws *ws, uint16_t code, const char *why,
	    struct evbuffer *out);

/*
 * Why ws_decode() said WS_ERROR (static), and the close status sent: 1005
 * when the close carries none (wslay closes so on a frame it cannot
 * parse: a control frame fragmented or over 125 bytes, a length not in
 * its shortest form).
 */
const char *ws_error(const struct ws *ws);
uint16_t ws_status_sent(const struct ws *ws);
/* The status of the client's close (1005: none given). */
uint16_t ws_status_received(const struct ws *ws);

#endif
