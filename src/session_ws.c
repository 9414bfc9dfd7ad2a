/* SPDX-License-Identifier: ISC */
/*
 * session_ws — a session on a websocket listener: the HTTP upgrade, then
 * the WebSocket frames around the MQTT byte stream (ws.c does both; this
 * file connects it to a session).
 *
 * session.c calls in at four places, each marked "WebSocket hook":
 * session_down_start() (session_ws_start()), pump() for the client's
 * bytes (session_ws_input(), session_ws_more()), forward() and reply()
 * for bytes to the client (session_ws_send()); session_close.c at the
 * close (session_ws_close()) and the free (session_ws_free()).  Nothing
 * else of the session changes: the codec reads s->ws_in, the MQTT bytes
 * of the client's messages, as it reads a TCP input, so every policy
 * applies as it does on a TCP listener.
 *
 * Order on a connection: the PROXY header, TLS, then the upgrade request,
 * read under the CONNECT deadline (which then covers the upgrade and the
 * CONNECT together).  Until the upgrade is accepted nothing is decoded
 * and no broker connection exists; a refused upgrade gets its HTTP
 * answer and the connection is closed.
 *
 * Memory: the client's raw input stays bounded by its read watermark as
 * on TCP; s->ws_in is filled from it only while it holds less than that
 * window, so at most two windows (and a frame the codec let in) are held.
 */
#include <inttypes.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "mqttguard/audit.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/session_priv.h"
#include "mqttguard/ws.h"

static int	upgrade(struct session *);
static void	refused(struct session *, const struct ws_upgrade *,
		    const char *, size_t);
static size_t	window(const struct session *);

int
session_ws_start(struct session *s)
{
	if ((s->ws_in = evbuffer_new()) == NULL)
		return -1;
	return 0;
}

/*
 * The client's MQTT bytes for pump(): the upgrade first (NULL until it is
 * done, or when it is refused), then what the client's messages carry,
 * decoded from its raw input while s->ws_in has room.  A protocol error
 * closes the session (NULL); the client's close is its end of stream,
 * reported by pump() after the frames before it.
 */
struct evbuffer *
session_ws_input(struct session *s)
{
	struct evbuffer	*raw = conn_input(s->down);
	struct log_field f[AUDIT_FIELDS + 2];
	size_t		 nf;
	unsigned	 code;
	enum ws_status	 r;

	if (s->state != SS_CONNECT && s->state != SS_AUTH &&
	    s->state != SS_REFUSING && s->state != SS_OPEN)
		return NULL;
	if (s->ws == NULL && upgrade(s) == -1)
		return NULL;
	if (evbuffer_get_length(raw) == 0 ||
	    evbuffer_get_length(s->ws_in) >= window(s))
		return s->ws_in;
	r = ws_decode(s->ws, raw, s->ws_in, conn_output(s->down));
	conn_output_added(s->down);	/* pongs, a close */
	switch (r) {
	case WS_OK:
		break;
	case WS_CLOSED:
		log_debug("session %" PRIu64 " %s: WebSocket close %u from "
		    "the client", s->id, s->peer, ws_status_received(s->ws));
		if (s->end[CODEC_FROM_CLIENT] == 0)
			s->end[CODEC_FROM_CLIENT] = CONN_EV_EOF;
		evbuffer_drain(raw, evbuffer_get_length(raw));
		break;
	case WS_ERROR:
		/* 1005: the close went out without a status (ws.h). */
		code = ws_status_sent(s->ws);
		metrics_ws_error(code);
		nf = audit_fields(&s->who, f);
		f[nf++] = (struct log_field)LOG_STR("reason", ws_error(s->ws));
		f[nf++] = (struct log_field)LOG_UINT("status", code);
		log_event(LOG_LVL_WARN, "websocket.refused", f, nf, "session %"
		    PRIu64 " %s: WebSocket: %s (close %s%u), client_id \"%s\"",
		    s->id, s->peer, ws_error(s->ws), code == 1005 ?
		    "without status, " : "", code, s->client_id);
		evbuffer_drain(raw, evbuffer_get_length(raw));
		session_close(s, ws_error(s->ws), true);
		return NULL;
	}
	return s->ws_in;
}

/*
 * Whether pump() should come back for more: raw bytes wait that
 * session_ws_input() left undecoded while s->ws_in was full.
 */
bool
session_ws_more(struct session *s)
{
	return s->ws != NULL &&
	    evbuffer_get_length(conn_input(s->down)) > 0 &&
	    evbuffer_get_length(s->ws_in) < window(s);
}

/* What s->ws_in may hold before decoding waits: the client's window. */
static size_t
window(const struct session *s)
{
	return s->rwm[CODEC_FROM_CLIENT];
}

/*
 * Reads the upgrade request at the head of the client's input.  0 once
 * it is accepted (the 101 answer queued, s->ws made); -1 while more is
 * needed, or when the session ends (refused, the client gone).
 */
static int
upgrade(struct session *s)
{
	struct evbuffer		*raw = conn_input(s->down);
	const struct policy_listener *l = s->lis;
	struct ws_config	 cfg = { l->ws_path,
				    (const char *const *)l->ws_origins,
				    l->n_ws_origins };
	struct ws_upgrade	 u;
	enum ws_upgrade_result	 r;
	char			 resp[WS_RESPONSE_MAX];
	size_t			 n, rlen;
	uint8_t			*p;

	if (!l->websocket || l->ws_path == NULL) {
		/* A reload took websocket off the listener mid-upgrade. */
		log_info("session %" PRIu64 " %s: WebSocket upgrade refused: "
		    "listener %s no longer has websocket: true", s->id,
		    s->peer, l->name);
		session_close(s, "its listener no longer takes WebSockets",
		    false);
		return -1;
	}
	n = evbuffer_get_length(raw);
	n = n < WS_UPGRADE_MAX ? n : WS_UPGRADE_MAX;
	if (n == 0 || (p = evbuffer_pullup(raw, (ssize_t)n)) == NULL)
		r = WS_UP_NEED;
	else
		r = ws_upgrade_decode(&cfg, p, n, &u);
	if (r == WS_UP_NEED) {
		if (s->end[CODEC_FROM_CLIENT] != 0)
			session_close(s, "client closed inside the WebSocket "
			    "upgrade", false);
		return -1;
	}
	rlen = ws_upgrade_encode(&u, resp, sizeof(resp));
	metrics_ws_upgrade((unsigned)u.status);
	if (r == WS_UP_REFUSE) {
		refused(s, &u, resp, rlen);
		return -1;
	}
	if ((s->ws = ws_new(l->ws_max_message != 0 ? l->ws_max_message :
	    l->limits.max_packet)) == NULL) {
		log_warnx("session %" PRIu64 " %s: out of memory for the "
		    "WebSocket", s->id, s->peer);
		session_close(s, "out of memory", false);
		return -1;
	}
	evbuffer_drain(raw, u.len);
	(void)conn_write(s->down, resp, rlen);
	log_debug("session %" PRIu64 " %s: WebSocket upgrade on %s, "
	    "subprotocol %s, origin \"%s\"", s->id, s->peer, l->ws_path,
	    ws_protocol_str(u.protocol), u.origin);
	return 0;
}

/* A refused upgrade: logged, answered <resp>, closed. */
static void
refused(struct session *s, const struct ws_upgrade *u, const char *resp,
    size_t rlen)
{
	struct evbuffer	*raw = conn_input(s->down);
	struct log_field f[AUDIT_FIELDS + 3];
	size_t		 nf;

	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_STR("reason", u->why);
	f[nf++] = (struct log_field)LOG_UINT("status", (uint64_t)u->status);
	f[nf++] = (struct log_field)LOG_STR("origin", u->origin);
	log_event(LOG_LVL_WARN, "websocket.refused", f, nf, "session %" PRIu64
	    " %s: WebSocket upgrade refused (HTTP %d): %s%s%s%s", s->id,
	    s->peer, u->status, u->why, u->origin[0] != '\0' ?
	    " (Origin \"" : "", u->origin, u->origin[0] != '\0' ? "\")" : "");
	evbuffer_drain(raw, evbuffer_get_length(raw));
	if (rlen > 0)
		(void)conn_write(s->down, resp, rlen);
	session_close(s, "WebSocket upgrade refused", true);
}

/*
 * MQTT bytes to the client as one binary message: <n> bytes moved from
 * <from>, or copied from <buf> when <from> is NULL.  -1 on failure.
 */
int
session_ws_send(struct session *s, struct evbuffer *from, const void *buf,
    size_t n)
{
	int	r;

	if (s->ws == NULL || s->down == NULL)
		return -1;
	r = ws_encode(s->ws, from, buf, n, conn_output(s->down));
	conn_output_added(s->down);
	return r;
}

/*
 * The session ends with a flush: the close frame goes out last, with
 * s->ws_code (1000 unless a refusal set it).  Nothing before the upgrade.
 */
void
session_ws_close(struct session *s)
{
	if (s->ws == NULL || s->down == NULL)
		return;
	ws_close(s->ws, s->ws_code != 0 ? s->ws_code : WS_CLOSE_NORMAL, NULL,
	    conn_output(s->down));
	conn_output_added(s->down);
}

void
session_ws_free(struct session *s)
{
	ws_free(s->ws);
	s->ws = NULL;
	if (s->ws_in != NULL)
		evbuffer_free(s->ws_in);
	s->ws_in = NULL;
}
