/* SPDX-License-Identifier: ISC */
/*
 * session — the per-connection state machine and frame forwarding.
 *
 * A session owns two conns (conn.h): <down> (the client; with a server SSL
 * on TLS listeners) and <up> (the broker: plain TCP, or a client SSL with
 * upstream.tls), and one timer used for whichever deadline applies in the
 * current state.  The upstream connection is opened only once the client's
 * first frame is a complete, valid CONNECT: the broker never sees a client
 * that did not send one.
 *
 * Frames are parsed in place.  pump() peeks at the input evbuffer, lets the
 * codec decide, and moves an accepted frame to the other side's output with
 * conn_move() — the frame's chains change owner where they can.  What one
 * loop turn queued on a side goes out in one flush after the turn's
 * callbacks (one writev(), one TLS record per 16 KiB).  Only the bytes the codec must inspect are made contiguous: a
 * PUBLISH's variable header, or a whole small control frame.
 *
 * Memory is bounded by policy, never by a peer: each input holds at most
 * max(SESSION_READ_WM, the frame being read) bytes, the frame size is
 * checked from its fixed header before its body is read, and when one
 * side's output passes limits.output_buffer the other side stops reading
 * until it drains to half (TCP backpressure carries the pause to the peer).
 *
 * session_close() is the only way a session ends.  Inside a callback it
 * marks the session and disables its events; the worker frees it later at a
 * safe point.  With flush, queued bytes are delivered first, then the client
 * side is half-closed (TLS close_notify, FIN) and lingers briefly so that a
 * final CONNACK or DISCONNECT is not destroyed by a reset.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mqttguard/audit.h"
#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/enforce.h"
#include "mqttguard/limits.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/observe.h"
#include "mqttguard/proxy.h"
#include "mqttguard/session_priv.h"
#include "mqttguard/topic.h"
#include "mqttguard/tls.h"
#include "mqttguard/util.h"
#include "mqttguard/ws.h"

#define SESSION_READ_WM		(64 * 1024)	/* input high watermark */
#define SESSION_FD_LOG_MS	10000		/* fd shortage log lines */

enum { PUMP_STARVED, PUMP_HELD, PUMP_ENDED };	/* pump_frames() */


static void	down_read_cb(struct conn *, void *);
static void	down_write_cb(struct conn *, void *);
static void	down_event_cb(struct conn *, short, void *);
static void	up_event_cb(struct conn *, short, void *);
static void	up_read_cb(struct conn *, void *);
static void	up_write_cb(struct conn *, void *);
static void	timer_cb(evutil_socket_t, short, void *);
static void	drained(struct session *, enum codec_dir);
static void	pump(struct session *, enum codec_dir);
static int	pump_frames(struct session *, enum codec_dir,
		    struct evbuffer *);
static void	client_event(struct session *, short);
static bool	end_later(struct session *, enum codec_dir, struct conn *,
		    short);
static bool	is_probe(struct session *);
static void	broker_event(struct session *, short);
static uint64_t	pump_now(struct session *);
static int	next_frame(struct session *, enum codec_dir, struct evbuffer *,
		    struct codec_packet *);
static int	handle(struct session *, enum codec_dir, struct evbuffer *,
		    struct codec_packet *);
static int	forward(struct session *, enum codec_dir, struct evbuffer *,
		    const struct codec_packet *);
static int	execute(struct session *, enum codec_dir, struct evbuffer *,
		    const struct codec_packet *, struct enforce_verdict *);
static void	hold(struct session *, uint64_t);
static bool	payload_ok(struct session *, struct evbuffer *,
		    const struct codec_packet *);
static int	skip_delivery(struct session *, struct evbuffer *);
static int	on_connect(struct session *, struct evbuffer *,
		    struct codec_packet *);
static int	on_connack(struct session *, struct evbuffer *,
		    const struct codec_packet *);
static int	auth_accept(struct session *);
static void	auth_submit(struct session *, const struct codec_buf *);
static int	upstream_new(struct session *);
static void	on_observe(void *, const struct enforce_obs *);
static void	on_event(void *, const struct enforce_event *);
static void	reply(struct session *, enum codec_dir, const uint8_t *,
		    size_t);
static void	rate_cb(evutil_socket_t, short, void *);
static void	keepalive_start(struct session *, uint16_t);
static void	keepalive_arm(struct session *);
static void	auth_refuse(struct session *, enum auth_result);
static void	lockout_log(struct session *, const struct auth_lockouts *,
		    enum auth_scope);
static bool	auth_cached(struct session *, const struct codec_buf *);
static int	auth_proceed(struct session *);
static enum metrics_auth_method auth_method(const struct session *);
static void	reject(struct session *, enum codec_dir,
		    const struct codec_packet *, uint8_t);
static void	upstream_connect(struct session *);
static void	upstream_failed(struct session *, const char *, uint8_t);
static bool	short_of_fds(int);
static void	refuse_connect(struct session *, uint8_t, const char *);
static void	set_read_wm(struct session *, enum codec_dir, size_t);
static void	set_timer(struct session *, unsigned);
static void	copy_id(char *, size_t, const struct codec_buf *);
static void	nodelay(int);
static void	quickack(int);
static struct conn *down_new(struct session *, int);
static struct conn *side(struct session *, enum codec_dir);

static const char *const dir_name[] = { "client", "broker" };

static struct conn *
side(struct session *s, enum codec_dir dir)
{
	return dir == CODEC_FROM_CLIENT ? s->down : s->up;
}

void
session_new(struct session_ctx *ctx, const struct policy_listener *lis,
    int fd, const struct sockaddr *sa, const struct limits_conn *lc)
{
	struct session	*s;
	struct log_field f[AUDIT_FIELDS + 1];
	size_t		 nf;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		struct limits_conn	held = *lc;

		log_warn("accept on %s: session", lis->name);
		close(fd);
		limits_release(ctx->limits, &held);
		return;
	}
	s->fd = -1;
	s->lc = *lc;
	(void)limits_pending_add(ctx->pending, &s->lc, s);	/* ENOMEM:
								   untracked */
	s->ctx = ctx;
	s->lis = lis;
	s->pol = policy_ref(ctx->pol);
	enforce_init(&s->es, s->pol, lis);
	s->id = ++ctx->next_id * 1000 + ctx->id;	/* unique across loops */
	s->tls = lis->tls;
	s->up_tls = ctx->ssl_upstream_ctx != NULL;
	s->lim.max_packet = s->es.L->max_packet;
	s->lim.reject_control = s->es.L->reject_control_chars;
	s->lim.reject_nonchar = s->es.L->reject_noncharacters;
	s->lim.max_user_props = s->es.L->max_user_properties;
	codec_session_init(&s->cs);
	gettimeofday(&s->started, NULL);

	memcpy(&s->src, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr));
	if (util_addr_str(sa, true, s->peer, sizeof(s->peer)) == -1)
		snprintf(s->peer, sizeof(s->peer), "unknown");
	if (util_addr_str(sa, false, s->addr, sizeof(s->addr)) == -1)
		s->addr[0] = '\0';
	s->who.session = s->id;
	s->who.peer = s->peer;
	s->who.listener = lis->name;
	s->who.src_ip = s->addr;
	s->who.src_port = util_addr_port(sa);
	s->who.identity = s->dec.identity;	/* "" until decided */
	s->who.client_id = s->client_id;
	nodelay(fd);
	evutil_make_socket_nonblocking(fd);
	if ((s->timer = evtimer_new(ctx->base, timer_cb, s)) == NULL ||
	    (s->rate_ev = evtimer_new(ctx->base, rate_cb, s)) == NULL)
		goto oom;
	if (lis->proxy_protocol != PROXY_OFF) {
		/*
		 * The header first, from the socket itself (proxy_read_cb()),
		 * under the handshake deadline, which on a TLS listener
		 * goes on running through the handshake.
		 */
		s->state = SS_PROXY;
		if (session_proxy_start(s, fd) == -1)
			goto oom;
		s->fd = fd;	/* the session's until down has it */
		fd = -1;
		event_add(s->proxy_ev, NULL);
		set_timer(s, s->es.L->tls_handshake_timeout_ms);
	} else {
		if (session_down_start(s, fd, false) == -1)
			goto oom;
		fd = -1;	/* the conn owns it now */
	}

	TAILQ_INSERT_TAIL(&ctx->sessions, s, entry);
	ctx->n_sessions++;
	metrics_session_open(lis->index);
	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_BOOL("tls", s->tls);
	log_event(LOG_LVL_DEBUG, "session.open", f, nf, "session %" PRIu64
	    " %s: open on %s%s", s->id, s->peer, lis->name, s->tls ? " (tls)" :
	    "");
	return;

oom:
	log_warnx("session %" PRIu64 " %s: out of memory", s->id, s->peer);
	if (fd != -1)
		close(fd);
	limits_release(ctx->limits, &s->lc);
	session_free(s);
}

/*
 * Gives <fd> to a new client conn (down_new()) and starts reading,
 * under the handshake deadline (TLS) or the CONNECT one.  A session that
 * read a PROXY header (<after_proxy>) keeps its deadline running through
 * a handshake.  -1 on failure, the fd still the caller's.
 */
int
session_down_start(struct session *s, int fd, bool after_proxy)
{
	/* WebSocket hook: the upgrade comes first. */
	if (s->lis->websocket && s->ws_in == NULL &&
	    session_ws_start(s) == -1)
		return -1;
	if ((s->down = down_new(s, fd)) == NULL)
		return -1;
	conn_setcb(s->down, down_read_cb, down_write_cb, down_event_cb, s);
	set_read_wm(s, CODEC_FROM_CLIENT, SESSION_READ_WM);
	conn_set_write_lowat(s->down, s->es.L->output_buffer / 2);
	conn_read_enable(s->down, true);
	/* Deadlines against slowloris: the handshake, then the CONNECT. */
	if (!s->tls)
		set_timer(s, s->es.L->connect_timeout_ms);
	else if (!after_proxy)
		set_timer(s, s->es.L->tls_handshake_timeout_ms);
	return 0;
}

/*
 * The client's conn on <fd>: with a server SSL accepting a handshake on a
 * TLS listener, a plain socket otherwise.  NULL on failure, the fd still
 * the caller's.
 */
static struct conn *
down_new(struct session *s, int fd)
{
	struct conn	*c;
	SSL		*ssl;
	char		 ebuf[128];

	if (!s->tls) {
		s->state = SS_CONNECT;
		return conn_new(s->ctx->io, fd, NULL);
	}
	s->state = SS_HANDSHAKE;
	if ((ssl = SSL_new(s->ctx->ssl_ctx)) == NULL) {
		log_warnx("session %" PRIu64 " %s: SSL_new: %s", s->id, s->peer,
		    tls_error_str(ebuf, sizeof(ebuf), "failed"));
		return NULL;
	}
	tls_set_verify(ssl, s->lis->client_certs);
	if (s->lis->websocket && tls_set_websocket(ssl) == -1) {
		log_warnx("session %" PRIu64 " %s: SSL_set_ex_data failed",
		    s->id, s->peer);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	if ((c = conn_new(s->ctx->io, fd, ssl)) == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Behind the established sessions (session.h). */
	(void)conn_set_priority(c, SESSION_PRIO_HANDSHAKE);
	return c;
}

static void
set_timer(struct session *s, unsigned ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(s->timer, &tv);
}

/* Input high watermark of <dir>'s side: the conn stops reading at it. */
static void
set_read_wm(struct session *s, enum codec_dir dir, size_t wm)
{
	struct conn	*c = side(s, dir);

	if (c != NULL && s->rwm[dir] != wm) {
		conn_set_read_wm(c, wm);
		s->rwm[dir] = wm;
	}
}

/* TCP_NODELAY on <fd> (-1: nothing); every socket carrying MQTT has it. */
static void
nodelay(int fd)
{
	int	one = 1;

	if (fd != -1)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
}

/*
 * Acknowledges at once what <fd> has received.  After the TLS handshake
 * the server sends nothing (no session tickets) until the CONNECT: a
 * client with Nagle on (libmosquitto's default) holds its CONNECT until
 * the client's Finished is acknowledged, and a delayed ACK would make
 * that 40 ms on every connection.
 */
static void
quickack(int fd)
{
#ifdef TCP_QUICKACK
	int	one = 1;

	if (fd != -1)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
#else
	(void)fd;
#endif
}

static void
copy_id(char *dst, size_t cap, const struct codec_buf *b)
{
	size_t	n = b->len < cap - 1 ? b->len : cap - 1;

	if (n > 0)
		memcpy(dst, b->p, n);
	dst[n] = '\0';
}

/* ---- the frame path ---------------------------------------------------- */

static void
down_read_cb(struct conn *c, void *arg)
{
	struct session	*s = arg;

	(void)c;
	s->heard = true;
	pump(s, CODEC_FROM_CLIENT);
}

static void
up_read_cb(struct conn *c, void *arg)
{
	(void)c;
	pump(arg, CODEC_FROM_SERVER);
}

/*
 * Decodes the frame at the head of <in>.  Returns CODEC_OK with <pkt> (its
 * views valid until the frame is drained), CODEC_NEED (the input watermark
 * is raised so the whole frame can arrive), or CODEC_ERROR with pkt->err.
 */
static int
next_frame(struct session *s, enum codec_dir dir, struct evbuffer *in,
    struct codec_packet *pkt)
{
	struct evbuffer_iovec	 v;
	const uint8_t		*p;
	size_t			 n, contig;
	int			 r;

	n = evbuffer_get_length(in);
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return CODEC_NEED;
	p = v.iov_base;
	contig = v.iov_len < n ? v.iov_len : n;
	for (;;) {
		r = codec_decode(&s->lim, s->cs.level, dir, p, contig, n, pkt);
		if (r != CODEC_NEED_CONTIG)
			break;
		if (pkt->need <= contig || pkt->need > n ||
		    (p = evbuffer_pullup(in, (ssize_t)pkt->need)) == NULL) {
			/* The codec broke its contract: fail safe. */
			pkt->err = CODEC_ERR_LENGTH;
			return CODEC_ERROR;
		}
		contig = pkt->need;
	}
	if (r == CODEC_NEED) {
		/* Let the whole frame in; its size was checked already. */
		if (pkt->need > SESSION_READ_WM)
			set_read_wm(s, dir, pkt->need);
		return CODEC_NEED;
	}
	if (r == CODEC_OK && codec_session_check(&s->cs, dir, pkt) == -1)
		return CODEC_ERROR;
	return r;
}

/*
 * Moves every complete frame it may from <dir>'s input to the other side.
 * Stops when the input holds no complete frame, when the other side's
 * output is full (and pauses reading this side), or when the session ends.
 */
static void
pump(struct session *s, enum codec_dir dir)
{
	struct conn	*src = side(s, dir);
	struct evbuffer	*in;
	short		 end;
	int		 r;

	if (src == NULL)
		return;
	in = conn_input(src);
	s->pump_ms = 0;
	for (;;) {
		/* WebSocket hook: the MQTT bytes of the client's messages. */
		if (dir == CODEC_FROM_CLIENT && s->ws_in != NULL &&
		    (in = session_ws_input(s)) == NULL)
			return;
		if ((r = pump_frames(s, dir, in)) != PUMP_STARVED ||
		    dir != CODEC_FROM_CLIENT || s->ws_in == NULL ||
		    !session_ws_more(s))
			break;
	}
	/* Back to the normal window once a large frame has gone through. */
	if (r != PUMP_ENDED && s->rwm[dir] > SESSION_READ_WM &&
	    evbuffer_get_length(in) < SESSION_READ_WM)
		set_read_wm(s, dir, SESSION_READ_WM);
	/*
	 * The end of the stream, kept by end_later(), comes after every
	 * frame before it: not while frames wait (backpressure, a rate).
	 */
	if ((end = s->end[dir]) != 0 && s->state != SS_DEAD &&
	    (r == PUMP_STARVED || (s->state != SS_CONNECT &&
	    s->state != SS_OPEN))) {
		s->end[dir] = 0;
		if (dir == CODEC_FROM_CLIENT)
			client_event(s, end);
		else
			broker_event(s, end);
	}
}

/*
 * The frames of one pump() turn.  Returns PUMP_STARVED when the input
 * holds no complete frame, PUMP_HELD when reading waits (the other side's
 * output is full, a rate or a window holds the client, or the session is
 * not open), PUMP_ENDED when the session is ending.
 */
static int
pump_frames(struct session *s, enum codec_dir dir, struct evbuffer *in)
{
	struct conn		*dst;
	struct codec_packet	 pkt;
	size_t			 n;
	int			 r;

	while (s->state == SS_OPEN || (s->state == SS_CONNECT &&
	    dir == CODEC_FROM_CLIENT)) {
		dst = side(s, !dir);	/* a CONNECT opens upstream */
		if (dst != NULL && evbuffer_get_length(conn_output(dst)) >=
		    s->es.L->output_buffer) {
			conn_read_enable(side(s, dir), false);
			s->paused[dir] = true;
			return PUMP_HELD;
		}
		if ((n = evbuffer_get_length(in)) == 0)
			return PUMP_STARVED;
		if (dir == CODEC_FROM_SERVER && s->skip > 0) {
			n = n < s->skip ? n : s->skip;
			evbuffer_drain(in, n);
			s->skip -= n;
			continue;
		}
		memset(&pkt, 0, sizeof(pkt));
		if ((r = next_frame(s, dir, in, &pkt)) == CODEC_NEED)
			return PUMP_STARVED;
		if (r == CODEC_ERROR && dir == CODEC_FROM_SERVER &&
		    pkt.err == CODEC_ERR_TOO_LARGE && pkt.type == CODEC_PUBLISH &&
		    s->cs.level != CODEC_V5) {
			if ((r = skip_delivery(s, in)) == -1)
				return PUMP_ENDED;
			if (r == 0)
				return PUMP_STARVED;
			continue;
		}
		if (r == CODEC_ERROR) {
			reject(s, dir, &pkt, pkt.type);
			return PUMP_ENDED;
		}
		if ((r = handle(s, dir, in, &pkt)) == -1)
			return PUMP_ENDED;
		if (r == 1)
			return PUMP_HELD;	/* rate_cb resumes */
	}
	return PUMP_HELD;
}

/*
 * A PUBLISH from the broker larger than this session's max_packet_size,
 * for a 3.x client (a 5.0 broker was told the size in the CONNECT and
 * sends nothing larger).  Refusing it as malformed would end the session
 * for what another client published: it is dropped instead, streamed out
 * of the input as it arrives, and its QoS flow is finished towards the
 * broker as for a delivery the ACL denies.  Returns 1 when the drop has
 * started, 0 when more of the frame's head is needed, -1 if the session
 * ends.
 */
static int
skip_delivery(struct session *s, struct evbuffer *in)
{
	struct codec_packet	 hd;
	struct enforce_verdict	 v;
	struct enforce_env	 env;
	const uint8_t		*p;
	size_t			 n = evbuffer_get_length(in), need;
	unsigned		 qos;
	uint16_t		 id = 0;

	/* The fixed header, whole: the codec stopped it early. */
	if ((p = evbuffer_pullup(in, n < 5 ? (ssize_t)n : 5)) == NULL)
		return 0;
	memset(&hd, 0, sizeof(hd));
	switch (codec_header_decode(NULL, p, n < 5 ? n : 5, &hd)) {
	case CODEC_OK:
		break;
	case CODEC_NEED:
		return 0;
	default:
		session_send_disconnect(s, 0x83);
		session_close(s, "malformed frame from broker", true);
		return -1;
	}
	qos = (hd.flags >> 1) & 3;
	if (qos > 0) {
		/* The topic's length, then the packet identifier after it. */
		if (n < hd.hdr_len + 2 || (p = evbuffer_pullup(in,
		    (ssize_t)(hd.hdr_len + 2))) == NULL)
			return 0;
		need = hd.hdr_len + 2 + ((size_t)p[hd.hdr_len] << 8 |
		    p[hd.hdr_len + 1]) + 2;
		if (n < need || (p = evbuffer_pullup(in, (ssize_t)need)) ==
		    NULL)
			return 0;
		id = (uint16_t)(p[need - 2] << 8 | p[need - 1]);
	}
	session_env(s, &env);
	enforce_oversize_delivery(&s->es, &env, qos, id, hd.len, &v);
	if (v.action == ENFORCE_CLOSE) {
		session_close(s, v.reason, false);
		return -1;
	}
	if (v.action == ENFORCE_ANSWER)
		reply(s, CODEC_FROM_SERVER, v.out, v.out_len);
	enforce_verdict_fini(&v);
	s->skip = hd.len;
	return 1;
}

/*
 * Acts on one valid frame at the head of <in>.  Returns 0 when the frame was
 * consumed (forwarded or answered), 1 when it must wait (a rate limit has
 * paused reading, or the CONNACK is not there yet), -1 when the session is
 * ending.
 */
static int
handle(struct session *s, enum codec_dir dir, struct evbuffer *in,
    struct codec_packet *pkt)
{
	struct enforce_verdict	v;
	struct enforce_env	env;

	/*
	 * The client's frames behind its CONNECT wait for the broker's
	 * CONNACK: an answer of the proxy's own (a SUBACK for refused
	 * filters, a PUBACK for a denied PUBLISH) must not reach the client
	 * before it [MQTT-3.2.0-1].  on_connack() reads them then.  AUTH
	 * is the exchange that leads to the CONNACK.
	 */
	if (dir == CODEC_FROM_CLIENT && s->state == SS_OPEN &&
	    !s->connack_ok && pkt->type != CODEC_AUTH)
		return 1;
	s->frames[dir]++;
	s->bytes[dir] += pkt->len;
	metrics_frame(dir, pkt->type, pkt->len);
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("session %" PRIu64 " %s: %s %s, %zu bytes", s->id,
		    s->peer, dir_name[dir], codec_type_str(pkt->type),
		    pkt->len);

	if (dir == CODEC_FROM_CLIENT && pkt->type == CODEC_CONNECT)
		return on_connect(s, in, pkt);
	if (dir == CODEC_FROM_SERVER && pkt->type == CODEC_CONNACK)
		return on_connack(s, in, pkt);
	session_env(s, &env);
	if (dir == CODEC_FROM_CLIENT && !payload_ok(s, in, pkt))
		enforce_bad_payload(&s->es, &env, pkt, &v);
	else
		enforce_frame(&s->es, &env, dir, pkt, dir == CODEC_FROM_CLIENT ?
		    pump_now(s) : 0, &v);
	return execute(s, dir, in, pkt, &v);
}

/*
 * The clock for the frames of this pump() turn, read on the first that
 * needs it: they were all read in one go, and the clock is a system call's
 * price on some machines.
 */
static uint64_t
pump_now(struct session *s)
{
	if (s->pump_ms == 0)
		s->pump_ms = util_now_ms();
	return s->pump_ms;
}

/*
 * Whether the payload of the frame <pkt> at the head of <in> is what its
 * 5.0 Payload Format Indicator says: UTF-8 when it is 1 [MQTT-3.3.2-4],
 * if limits.validate_payload_format asks.  Read in pieces, in place: the
 * views of <pkt> stay valid.
 */
static bool
payload_ok(struct session *s, struct evbuffer *in,
    const struct codec_packet *pkt)
{
	uint8_t			buf[4096 + 4];
	struct evbuffer_ptr	pos;
	size_t			left, n, carry = 0, done;

	if (!enforce_payload_utf8(&s->es, pkt))
		return true;
	if (evbuffer_ptr_set(in, &pos, pkt->u.publish.payload_off,
	    EVBUFFER_PTR_SET) == -1)
		return false;
	for (left = pkt->u.publish.payload_len; left > 0; left -= n) {
		n = left < sizeof(buf) - 4 ? left : sizeof(buf) - 4;
		if (evbuffer_copyout_from(in, &pos, buf + carry, n) !=
		    (ev_ssize_t)n ||
		    evbuffer_ptr_set(in, &pos, n, EVBUFFER_PTR_ADD) == -1 ||
		    topic_utf8_chunk(buf, carry + n, &done) == -1)
			return false;
		carry += n - done;
		memmove(buf, buf + done, carry);
	}
	return carry == 0;
}

/*
 * Carries out verdict <v> on the frame <pkt> at the head of <in>, from
 * <dir>.  Returns as handle().
 */
static int
execute(struct session *s, enum codec_dir dir, struct evbuffer *in,
    const struct codec_packet *pkt, struct enforce_verdict *v)
{
	int	r = 0;

	if (v->resume)
		event_active(s->rate_ev, EV_TIMEOUT, 1);
	switch (v->action) {
	case ENFORCE_FORWARD:
		r = forward(s, dir, in, pkt);
		break;
	case ENFORCE_ANSWER:
	case ENFORCE_REWRITE:
		reply(s, v->action == ENFORCE_ANSWER ? dir : !dir, v->out,
		    v->out_len);
		/* FALLTHROUGH */
	case ENFORCE_DROP:
		evbuffer_drain(in, pkt->len);
		break;
	case ENFORCE_WAIT:
		hold(s, v->wait_ms);
		r = 1;
		break;
	case ENFORCE_CLOSE:
		if (!v->abort && v->code != 0)
			session_send_disconnect(s, v->code);
		s->ws_code = WS_CLOSE_POLICY;	/* WebSocket hook */
		session_close(s, v->reason, !v->abort);
		r = -1;
		break;
	}
	enforce_verdict_fini(v);
	return r;
}

/*
 * Moves the frame <pkt> at the head of <in> to the other side, unchanged.
 * After a DISCONNECT or a refused CONNACK the sender closes: the frame is
 * delivered, nothing more is read (frames still in flight from the other
 * side have nobody to go to), and the session closes.
 */
static int
forward(struct session *s, enum codec_dir dir, struct evbuffer *in,
    const struct codec_packet *pkt)
{
	struct conn	*dst = side(s, !dir);

	if (dst == NULL) {
		/* Cannot happen: the codec only lets CONNECT in first. */
		session_close(s, "frame before upstream exists", false);
		return -1;
	}
	if (dir == CODEC_FROM_SERVER && s->ws_in != NULL ?
	    session_ws_send(s, in, NULL, pkt->len) == -1 :	/* WebSocket hook */
	    conn_move(dst, in, pkt->len) == -1) {
		session_close(s, "out of memory forwarding a frame", false);
		return -1;
	}
	if (pkt->type == CODEC_DISCONNECT) {
		session_close(s, dir == CODEC_FROM_CLIENT ?
		    "client sent DISCONNECT" : "broker sent DISCONNECT", true);
		return -1;
	}
	if (pkt->type == CODEC_CONNACK && pkt->reason != 0) {
		session_close(s, "broker refused CONNECT", true);
		return -1;
	}
	return 0;
}

/*
 * A frame from the client must wait: read nothing more from it until
 * <ms> have passed (a rate's tokens are due) or, with 0, until the broker
 * finishes a PUBLISH in flight (enforce says when).  The frame that
 * waited is checked anew then.
 */
static void
hold(struct session *s, uint64_t ms)
{
	struct timeval	tv;

	conn_read_enable(s->down, false);
	if (ms == 0)
		return;
	s->throttled = true;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->rate_ev, &tv);
}

/*
 * A valid CONNECT: the place where authentication and identity policy will
 * decide.  Opens the upstream connection and forwards the CONNECT; frames
 * the client pipelined behind it stay in the input until this returns, so
 * they reach the broker after it, in order, or never.
 */
static int
on_connect(struct session *s, struct evbuffer *in, struct codec_packet *pkt)
{
	const struct codec_connect	*c = &pkt->u.connect;
	struct auth_request		 req;
	enum auth_result		 r;
	char				 cert[AUTH_IDENTITY_MAX + 1];
	int				 cr = 0;

	s->connect_us = util_now_us();
	copy_id(s->client_id, sizeof(s->client_id), &c->client_id);
	if (c->flags & CODEC_CF_USERNAME)
		copy_id(s->username, sizeof(s->username), &c->username);
	log_info("session %" PRIu64 " %s: CONNECT %s client_id \"%s\"%s%s%s "
	    "keepalive %us%s", s->id, s->peer, c->level == CODEC_V5 ? "5.0" :
	    c->level == CODEC_V311 ? "3.1.1" : "3.1", s->client_id,
	    (c->flags & CODEC_CF_USERNAME) ? " username \"" : "",
	    s->username, (c->flags & CODEC_CF_USERNAME) ? "\"" : "",
	    c->keepalive, (c->flags & CODEC_CF_WILL) ? " will" : "");

	/*
	 * Keep a copy of the CONNECT, and decode that copy once: the views
	 * used while it is decided (the password) must outlive the input
	 * buffer's bytes, and the frame for the broker is made from it.
	 */
	if ((s->connect = malloc(pkt->len)) == NULL ||
	    (s->hello = malloc(sizeof(*s->hello))) == NULL ||
	    evbuffer_remove(in, s->connect, pkt->len) != (int)pkt->len) {
		session_close(s, "out of memory holding CONNECT", false);
		return -1;
	}
	s->connect_len = pkt->len;
	s->state = SS_AUTH;
	if (codec_decode(&s->lim, 0, CODEC_FROM_CLIENT, s->connect,
	    s->connect_len, s->connect_len, s->hello) != CODEC_OK) {
		auth_refuse(s, AUTH_FAIL_ERROR);	/* cannot happen */
		return -1;
	}
	if (s->tls)
		cr = tls_peer_identity(conn_ssl(s->down),
		    s->pol->auth.cert_identity, cert, sizeof(cert));
	memset(&req, 0, sizeof(req));
	req.pol = s->pol;
	req.lis = s->lis;
	req.pkt = s->hello;
	req.addr = s->addr;
	req.cert_id = cr == 1 ? cert : NULL;
	req.cert_unmapped = cr == -1;
	req.now_ms = util_now_ms();
	if ((r = auth_precheck(&req, s->ctx->guard, &s->dec)) != AUTH_OK) {
		auth_refuse(s, r);
		return -1;
	}
	if (!s->dec.need_password ||
	    auth_cached(s, &s->hello->u.connect.password))
		return auth_proceed(s);
	auth_submit(s, &s->hello->u.connect.password);
	return -1;	/* frames behind the CONNECT wait in the input */
}

/*
 * Whether password <pw> was verified for the identity a moment ago (the
 * credential cache): then the KDF is skipped, and only the KDF.  On a
 * miss the tag is kept, to be stored if the check succeeds.
 */
static bool
auth_cached(struct session *s, const struct codec_buf *pw)
{
	struct auth_guard	*g = s->ctx->guard;

	if (auth_cache_tag(g, s->pol, s->dec.identity, pw->p, pw->len,
	    &s->tag) == -1)
		return false;
	if (auth_cache_hit(g, s->pol, s->dec.identity, &s->tag,
	    util_now_ms())) {
		OPENSSL_cleanse(&s->tag, sizeof(s->tag));
		metrics_add(M_AUTH_CACHE_HIT, 1);
		return true;
	}
	metrics_add(M_AUTH_CACHE_MISS, 1);
	s->tag_ok = true;
	return false;
}

/*
 * The client is who it says; from an address in its tarpit (guessing
 * many identities, and this is not a known device) the answer waits like
 * a refusal's would, so that waiting tells a guesser nothing.
 */
static int
auth_proceed(struct session *s)
{
	if (s->dec.tarpit_ms == 0)
		return auth_accept(s);
	metrics_add(M_AUTH_TARPIT, 1);
	s->held = true;
	evtimer_del(s->timer);
	set_timer(s, (unsigned)s->dec.tarpit_ms);
	return -1;
}

/* The password <pw> is checked off the event loop, on the pool. */
static void
auth_submit(struct session *s, const struct codec_buf *pw)
{
	struct auth_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (job->user = strdup(s->dec.identity)) == NULL ||
	    (job->pw = malloc(pw->len + 1)) == NULL) {
		auth_job_free(job);
		auth_refuse(s, AUTH_FAIL_ERROR);
		return;
	}
	job->user_len = strlen(job->user);
	memcpy(job->pw, pw->p, pw->len);
	job->pw_len = pw->len;
	job->pol = policy_ref(s->pol);
	job->done = session_ctx_auth_post;
	job->arg = s;
	snprintf(job->addr, sizeof(job->addr), "%s", s->addr);
	if (auth_guard_pending(s->ctx->guard, s->addr,
	    AUTH_PENDING_PER_ADDR) == -1) {
		auth_job_free(job);
		auth_refuse(s, AUTH_FAIL_BUSY);
		return;
	}
	if (auth_pool_submit(s->ctx->pool, job) == -1) {
		auth_guard_pending_done(s->ctx->guard, s->addr);
		auth_job_free(job);
		auth_refuse(s, AUTH_FAIL_BUSY);
		return;
	}
	s->job = job;
}

/* The password check of a session is finished (or cancelled). */
void
session_auth_done(struct auth_job *job)
{
	struct session	*s = job->arg;
	enum auth_result r;

	s->job = NULL;
	auth_guard_pending_done(s->ctx->guard, s->addr);
	if (s->state == SS_DEAD) {
		auth_job_free(job);
		event_active(s->ctx->reap_ev, EV_READ, 0);	/* it waited */
		return;
	}
	if (s->state != SS_AUTH || job->cancelled) {
		auth_job_free(job);
		return;
	}
	r = job->result == PASSWD_OK ? AUTH_OK :
	    job->result == PASSWD_UNKNOWN_USER ? AUTH_FAIL_UNKNOWN_USER :
	    job->result == PASSWD_BAD_PASSWORD ? AUTH_FAIL_BAD_PASSWORD :
	    AUTH_FAIL_ERROR;
	auth_job_free(job);
	if (r == AUTH_OK && s->tag_ok)
		auth_cache_put(s->ctx->guard, s->dec.identity, &s->tag,
		    util_now_ms());
	OPENSSL_cleanse(&s->tag, sizeof(s->tag));
	s->tag_ok = false;
	if (r != AUTH_OK) {
		auth_refuse(s, r);
		return;
	}
	if (auth_proceed(s) == 0)
		pump(s, CODEC_FROM_CLIENT);	/* what waited behind it */
}

/*
 * The client is who it says: claim its client id, pass the CONNECT on with
 * the identity as username and the client's password stripped (or the
 * upstream password), and open the broker connection.
 */
static int
auth_accept(struct session *s)
{
	struct enforce_verdict		 v;
	struct enforce_env		 env;
	const struct codec_connect	*c = &s->hello->u.connect;
	struct log_field		 f[AUDIT_FIELDS + 1];
	size_t				 nf;
	const char			*how;

	session_env(s, &env);
	enforce_connect(&s->es, &env, &s->dec, s->hello, util_now_ms(), &v);
	if (v.action != ENFORCE_REWRITE) {
		s->state = SS_REFUSING;
		refuse_connect(s, v.code, v.reason);
		enforce_verdict_fini(&v);
		return -1;
	}
	if (v.will_clamped)
		log_info("session %" PRIu64 " %s: will delay %" PRIu32 " s "
		    "clamped to the session expiry interval, %" PRIu32 " s "
		    "(CVE-2019-11778)", s->id, s->peer,
		    c->will_props.will_delay, v.will_delay);
	/* The identity's own limits are in force from here on. */
	s->lim.max_packet = s->es.L->max_packet;
	conn_set_write_lowat(s->down, s->es.L->output_buffer / 2);
	if (!s->dec.anonymous)
		auth_accepted(s->ctx->guard, &s->pol->auth, s->dec.identity,
		    s->addr, util_now_ms());
	limits_authenticated(s->ctx->limits, &s->lc);
	keepalive_start(s, c->keepalive);
	metrics_auth(auth_method(s), AUTH_OK);
	metrics_session_authenticated(s->lis->index);
	s->authed = true;
	how = s->dec.anonymous ? "anonymous" : s->dec.by_certificate ?
	    (s->dec.need_password ? "certificate and password" :
	    "certificate") : "password";
	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_STR("method", how);
	log_event(LOG_LVL_INFO, "auth.accept", f, nf, "auth: session %" PRIu64
	    " %s listener %s: accepted identity \"%s\" (%s) client_id \"%s\"",
	    s->id, s->peer, s->lis->name, s->dec.identity, how, s->client_id);
	if (upstream_new(s) == -1) {
		enforce_verdict_fini(&v);
		refuse_connect(s, 0x88, "out of memory for upstream");
		return -1;
	}
	if (conn_write(s->up, v.out, v.out_len) == -1) {
		enforce_verdict_fini(&v);
		session_close(s, "out of memory forwarding CONNECT", false);
		return -1;
	}
	enforce_verdict_fini(&v);	/* wipes the password it may hold */
	session_hello_free(s);
	s->state = SS_OPEN;
	evtimer_del(s->timer);
	set_timer(s, s->pol->upstream.connect_timeout_ms);
	upstream_connect(s);
	/* A failure may have been reported synchronously. */
	return s->state == SS_OPEN ? 0 : -1;
}

/* The held CONNECT, its password (and its tag) with it, wiped and freed. */
void
session_hello_free(struct session *s)
{
	if (s->connect != NULL) {
		OPENSSL_cleanse(s->connect, s->connect_len);
		free(s->connect);
		s->connect = NULL;
	}
	free(s->hello);
	s->hello = NULL;
	OPENSSL_cleanse(&s->tag, sizeof(s->tag));
	s->tag_ok = false;
}

/* The broker connection's conn, not yet connected.  -1: ENOMEM. */
static int
upstream_new(struct session *s)
{
	struct session_ctx	*ctx = s->ctx;
	SSL			*ssl = NULL;

	if (s->up_tls && (ssl = tls_client_ssl_new(ctx->ssl_upstream_ctx,
	    s->pol->upstream.server_name)) == NULL)
		return -1;
	if ((s->up = conn_new(ctx->io, -1, ssl)) == NULL) {
		SSL_free(ssl);
		return -1;
	}
	if (session_proxy_upstream(s) == -1)
		return -1;	/* s->up is freed with the session */
	conn_setcb(s->up, up_read_cb, up_write_cb, up_event_cb, s);
	set_read_wm(s, CODEC_FROM_SERVER, SESSION_READ_WM);
	conn_set_write_lowat(s->up, s->es.L->output_buffer / 2);
	return 0;
}

/*
 * Refuses the CONNECT for <r>: audit line, a guess counted against the
 * pair, the identity and the address, and the CONNACK after the tarpit
 * delay (the timer), so that guessing costs the guesser time, not us.
 */
static void
auth_refuse(struct session *s, enum auth_result r)
{
	const struct policy_auth *a = &s->pol->auth;
	struct auth_lockouts	 lk;
	struct log_field	 f[AUDIT_FIELDS + 5];
	size_t			 nf;
	uint64_t		 delay;
	unsigned		 i;

	metrics_auth(auth_method(s), r);
	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_STR("username", s->username);
	f[nf++] = (struct log_field)LOG_STR("reason", auth_result_str(r));
	f[nf++] = (struct log_field)LOG_UINT("code", auth_reason(r));
	log_event(LOG_LVL_WARN, "auth.refuse", f, nf, "auth: session %" PRIu64
	    " %s listener %s: refused username \"%s\" client_id \"%s\": %s",
	    s->id, s->peer, s->lis->name, s->username, s->client_id,
	    auth_result_str(r));
	delay = auth_refused(s->ctx->guard, a, s->addr, s->dec.identity,
	    s->dec.known, r, util_now_ms(), &lk) ? a->tarpit_ms : 0;
	for (i = 0; i < AUTH_SCOPE__MAX; i++)
		if (lk.ms[i] > 0)
			lockout_log(s, &lk, i);
	if (lk.full) {
		metrics_add(M_AUTH_UNRECORDED, 1);
		log_warnx("auth: session %" PRIu64 " %s: a lockout table is "
		    "full of running lockouts: this wrong password of \"%s\" "
		    "was not counted", s->id, s->peer, s->dec.identity);
	}
	if (s->dec.tarpit_ms > delay)
		delay = s->dec.tarpit_ms;
	s->refusal = r;
	s->state = SS_REFUSING;
	evtimer_del(s->timer);
	if (delay > 0)
		set_timer(s, (unsigned)delay);
	else
		refuse_connect(s, auth_reason(r), auth_result_str(r));
}

/* The log line and metric of a lockout of <scope> that <lk> started. */
static void
lockout_log(struct session *s, const struct auth_lockouts *lk,
    enum auth_scope scope)
{
	struct log_field	 f[AUDIT_FIELDS + 5];
	size_t			 nf;
	unsigned long long	 sec = (unsigned long long)lk->ms[scope] / 1000;
	char			 why[160];

	metrics_lockout(scope);
	switch (scope) {
	case AUTH_SCOPE_PAIR:
		snprintf(why, sizeof(why), "%u wrong passwords for this "
		    "identity from this address", lk->failures[scope]);
		break;
	case AUTH_SCOPE_IDENTITY:
		snprintf(why, sizeof(why), "%u wrong passwords for this "
		    "identity from any address; its known devices are exempt",
		    lk->failures[scope]);
		break;
	default:
		snprintf(why, sizeof(why), "passwords of %u identities "
		    "guessed from this address; known devices are exempt",
		    lk->failures[scope]);
		break;
	}
	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_STR("scope", auth_scope_name(scope));
	f[nf++] = (struct log_field)LOG_STR("identity", s->dec.identity);
	f[nf++] = (struct log_field)LOG_UINT("seconds", sec);
	f[nf++] = (struct log_field)LOG_UINT("failures", lk->failures[scope]);
	f[nf++] = (struct log_field)LOG_STR("reason", why);
	if (scope == AUTH_SCOPE_ADDRESS)
		log_event(LOG_LVL_WARN, "auth.lockout", f, nf, "auth: address "
		    "%s blocked for %llus (scope address): %s", s->addr, sec,
		    why);
	else
		log_event(LOG_LVL_WARN, "auth.lockout", f, nf, "auth: identity "
		    "\"%s\" locked out%s%s for %llus (scope %s): %s",
		    s->dec.identity, scope == AUTH_SCOPE_PAIR ?
		    " from address " : "", scope == AUTH_SCOPE_PAIR ?
		    s->addr : "", sec, auth_scope_name(scope), why);
}

/*
 * How the client tried to prove who it is, for the metrics: as decided
 * once an identity is, else from what it sent and what its listener asks.
 */
static enum metrics_auth_method
auth_method(const struct session *s)
{
	if (s->dec.identity[0] != '\0')
		return s->dec.anonymous ? METRICS_AUTH_ANONYMOUS :
		    s->dec.by_certificate ? METRICS_AUTH_CERTIFICATE :
		    METRICS_AUTH_PASSWORD;
	if (s->username[0] != '\0')
		return METRICS_AUTH_PASSWORD;
	if (s->lis->authn == POLICY_AUTHN_CERTIFICATE ||
	    s->lis->authn == POLICY_AUTHN_BOTH)
		return METRICS_AUTH_CERTIFICATE;
	return METRICS_AUTH_ANONYMOUS;
}

static int
on_connack(struct session *s, struct evbuffer *in,
    const struct codec_packet *pkt)
{
	struct codec_alias	*ca = &s->cs.alias[CODEC_FROM_CLIENT];
	struct enforce_verdict	 v;
	uint16_t		 alias_max, ka = s->es.keepalive;
	int			 r;

	metrics_observe(METRICS_H_CONNACK, util_now_us() - s->connect_us);
	evtimer_del(s->timer);		/* upstream.connack_timeout */
	if (pkt->reason == 0) {
		s->connack_ok = true;
		log_info("session %" PRIu64 " %s: connected to broker, client_id"
		    " \"%s\"%s", s->id, s->peer, s->client_id,
		    pkt->session_present ? " (session present)" : "");
	} else
		log_info("session %" PRIu64 " %s: broker refused CONNECT: "
		    "reason 0x%02x", s->id, s->peer, pkt->reason);
	enforce_connack(&s->es, pkt, &alias_max, &v);
	if (s->es.keepalive != ka)
		keepalive_arm(s);
	/* The client's aliases are held to what it is told. */
	if (alias_max > 0 && ca->max > alias_max)
		ca->max = alias_max;
	if ((r = execute(s, CODEC_FROM_SERVER, in, pkt, &v)) == 0 &&
	    s->connack_ok)
		pump(s, CODEC_FROM_CLIENT);	/* what waited for it */
	return s->state == SS_OPEN ? r : -1;
}

/*
 * Starts the broker connection; what is already in s->up's output (the
 * CONNECT, then whatever follows it) is sent once it is established.  A
 * failure, even one reported at once, goes through up_event_cb().
 */
static void
upstream_connect(struct session *s)
{
	const struct policy_upstream	*u = &s->pol->upstream;

	conn_read_enable(s->up, true);
	s->up_us = util_now_us();
	errno = 0;
	if (conn_connect(s->up, s->ctx->dns, u->host, u->port) == -1 &&
	    s->state == SS_OPEN &&
	    !s->up_connected) {
		if (short_of_fds(errno))
			upstream_failed(s, "no file descriptor for the "
			    "connection (the process's limit)", 0x89);
		else
			upstream_failed(s, "connect failed", 0x88);
	}
}

/* The broker cannot be reached: tell the client as a broker would. */
/*
 * No socket to be had (the process's or the system's limit) is our
 * shortage, not the broker's: the client is told the server is busy.
 */
static bool
short_of_fds(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void
upstream_failed(struct session *s, const char *why, uint8_t code)
{
	struct session_ctx	*ctx = s->ctx;
	uint64_t		 now = util_now_ms();

	if (code != 0x89) {
		log_warnx("session %" PRIu64 " %s: upstream %s:%u: %s", s->id,
		    s->peer, s->pol->upstream.host, s->pol->upstream.port,
		    why);
		metrics_upstream(false, now);
	} else if (now >= ctx->fd_short_logged + SESSION_FD_LOG_MS) {
		/* A shortage hits every client at once: one line a while. */
		log_warnx("session %" PRIu64 " %s: upstream: %s; clients are "
		    "told the server is busy (%" PRIu64 " more not logged)",
		    s->id, s->peer, why, ctx->fd_short_quiet);
		ctx->fd_short_logged = now;
		ctx->fd_short_quiet = 0;
	} else
		ctx->fd_short_quiet++;
	if (s->up != NULL)
		conn_stop(s->up);	/* freed with the session */
	refuse_connect(s, code, code == 0x89 ? "out of file descriptors" :
	    "cannot reach the broker");
}

/*
 * Answers a CONNECT the proxy will not pass on, in the client's version,
 * then closes.  <reason> is the 5.0 reason code; 3.x gets the mapped return
 * code.  Only before any CONNACK went to the client.
 */
static void
refuse_connect(struct session *s, uint8_t reason, const char *why)
{
	uint8_t	buf[64];
	size_t	n;
	uint8_t	level = s->cs.level ? s->cs.level : CODEC_V311;

	n = codec_encode_connack(buf, sizeof(buf), level, false, reason,
	    NULL);
	if (n > 0 && n <= sizeof(buf))
		reply(s, CODEC_FROM_CLIENT, buf, n);
	s->ws_code = WS_CLOSE_POLICY;	/* WebSocket hook */
	log_warnx("session %" PRIu64 " %s: CONNECT refused (reason 0x%02x): "
	    "%s", s->id, s->peer, level == CODEC_V5 ? reason :
	    codec_connack_v3(reason), why);
	session_close(s, why, true);
}

/* 5.0 DISCONNECT to the client, only after a successful CONNACK. */
void
session_send_disconnect(struct session *s, uint8_t reason)
{
	uint8_t	buf[16];
	size_t	n;

	if (s->cs.level != CODEC_V5 || !s->connack_ok || s->down == NULL)
		return;
	n = codec_encode_disconnect(buf, sizeof(buf), CODEC_V5, reason, NULL);
	if (n > 0 && n <= sizeof(buf))
		reply(s, CODEC_FROM_CLIENT, buf, n);
}

/*
 * A frame broke a rule: it is never forwarded.  From the client: answer as
 * the protocol asks (CONNACK before the session is up, 5.0 DISCONNECT
 * after), then close.  From the broker: close, keeping what was already
 * forwarded to the client.
 */
static void
reject(struct session *s, enum codec_dir dir, const struct codec_packet *pkt,
    uint8_t type)
{
	uint8_t	rc = codec_err_reason(pkt->err);
	uint8_t	level;

	metrics_codec_reject(dir, pkt->err);
	s->ws_code = WS_CLOSE_POLICY;	/* WebSocket hook */
	log_warnx("session %" PRIu64 " %s: %s %s refused, client_id \"%s\": "
	    "%s", s->id, s->peer, dir_name[dir],
	    type ? codec_type_str(type) : "frame", s->client_id,
	    codec_err_str(pkt->err));
	if (dir == CODEC_FROM_SERVER) {
		session_send_disconnect(s, 0x83);	/* implementation error */
		session_close(s, "malformed frame from broker", true);
		return;
	}
	if (s->state == SS_CONNECT) {
		/*
		 * No CONNACK has gone out, so a DISCONNECT may not
		 * [MQTT-3.14.0-1]: a bad CONNECT is answered with a CONNACK
		 * where the protocol has a code for it, else just closed.
		 */
		level = type == CODEC_CONNECT ? pkt->u.connect.level : 0;
		if (pkt->err == CODEC_ERR_PROTOCOL_LEVEL) {
			s->cs.level = CODEC_V311;	/* 3.1.1 answer: 0x01 */
			refuse_connect(s, rc, codec_err_str(pkt->err));
			return;
		}
		if (level == CODEC_V5 || (pkt->err == CODEC_ERR_CLIENT_ID &&
		    (level == CODEC_V31 || level == CODEC_V311))) {
			s->cs.level = level;
			refuse_connect(s, rc, codec_err_str(pkt->err));
			return;
		}
		session_close(s, codec_err_str(pkt->err), false);
		return;
	}
	session_send_disconnect(s, rc);
	session_close(s, codec_err_str(pkt->err), true);
}

/* ---- rates, keepalive and topic bounds --------------------------------- */

/*
 * Enforces the keepalive the client asked for, bounded by the policy:
 * nothing from the client for 1.5 times it closes the session.  A client
 * asking for none, or for more than limits.max_keepalive, gets the maximum.
 */
static void
keepalive_start(struct session *s, uint16_t asked)
{
	s->es.keepalive_asked = asked;
	s->es.keepalive = enforce_keepalive(&s->es, asked);
	keepalive_arm(s);
}

/* Nothing from the client for 1.5 times the keepalive ends the session. */
static void
keepalive_arm(struct session *s)
{
	unsigned	k = s->es.keepalive;
	struct timeval	tv = { (time_t)(k + k / 2), (k % 2) * 500000 };

	conn_set_read_timeout(s->down, &tv);
}

/*
 * A hold ends (the rate's tokens are due, or an inflight slot freed): read
 * the client again.  The frame that waited is checked anew; if it still
 * may not pass, it sets its hold again.
 */
static void
rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)what;
	if ((!s->throttled && !s->es.inflight_wait) || s->state != SS_OPEN)
		return;
	s->throttled = s->es.inflight_wait = false;
	if (!s->paused[CODEC_FROM_CLIENT])
		conn_read_enable(s->down, true);
	pump(s, CODEC_FROM_CLIENT);
}

/* What enforce.c may reach for this session. */
void
session_env(struct session *s, struct enforce_env *env)
{
	env->limits = s->ctx->limits;
	env->guard = s->ctx->guard;
	env->audit = on_event;
	env->arg = s;
	env->observe = s->es.pol->audit.observe ? on_observe : NULL;
}

/* An action for audit.observe: into this worker's table. */
static void
on_observe(void *arg, const struct enforce_obs *o)
{
	struct session	*s = arg;

	observe_note(o->identity, o->client_id, o->client_id_len,
	    (enum observe_action)o->action, o->topic, o->topic_len,
	    (enum observe_verdict)o->verdict, (uint64_t)time(NULL),
	    s->es.pol->audit.max_entries);
}

/* An audit event of enforce.c, about this session. */
static void
on_event(void *arg, const struct enforce_event *e)
{
	struct session	*s = arg;

	s->who.identity = s->dec.identity;
	audit_event(&s->who, e, util_now_ms());
}

/* Writes a frame the proxy makes back to the side that sent <dir>. */
static void
reply(struct session *s, enum codec_dir dir, const uint8_t *b, size_t n)
{
	struct conn	*c = side(s, dir);

	if (dir == CODEC_FROM_CLIENT && s->ws_in != NULL)	/* WebSocket hook */
		(void)session_ws_send(s, NULL, b, n);
	else if (c != NULL && n > 0)
		(void)conn_write(c, b, n);
}

/* ---- events ------------------------------------------------------------ */

/*
 * The output fed by direction <from> drained below its low watermark:
 * resume reading <from>'s side if backpressure had paused it.
 */
static void
drained(struct session *s, enum codec_dir from)
{
	struct conn	*src = side(s, from);

	if (s->state == SS_CLOSING) {
		session_finish_flush(s);
		return;
	}
	if (s->paused[from] && src != NULL) {
		s->paused[from] = false;
		conn_read_enable(src, true);
		pump(s, from);
	}
}

static void
down_write_cb(struct conn *c, void *arg)
{
	(void)c;
	drained(arg, CODEC_FROM_SERVER);
}

static void
up_write_cb(struct conn *c, void *arg)
{
	(void)c;
	drained(arg, CODEC_FROM_CLIENT);
}

static void
down_event_cb(struct conn *c, short what, void *arg)
{
	if (!end_later(arg, CODEC_FROM_CLIENT, c, what))
		client_event(arg, what);
}

static void
up_event_cb(struct conn *c, short what, void *arg)
{
	if (!end_later(arg, CODEC_FROM_SERVER, c, what))
		broker_event(arg, what);
}

/*
 * The conn reports the end of a stream (or an error) as soon as it reads
 * it, and frames read before it may still wait in the input, held by
 * backpressure or a rate.  They go first: the end is kept and pump()
 * reports it once they are through.  Returns whether it was kept.
 */
static bool
end_later(struct session *s, enum codec_dir dir, struct conn *c,
    short what)
{
	if (!(what & (CONN_EV_EOF | CONN_EV_ERROR)) ||
	    (s->state != SS_OPEN && s->state != SS_CONNECT) ||
	    s->end[dir] != 0 ||
	    (evbuffer_get_length(conn_input(c)) == 0 &&
	    (dir != CODEC_FROM_CLIENT || s->ws_in == NULL ||	/* WebSocket */
	    evbuffer_get_length(s->ws_in) == 0)))		/* hook */
		return false;
	s->end[dir] = what;
	pump(s, dir);
	return true;
}

/*
 * Whether the client went away without sending a byte: a TCP health check
 * (a load balancer, a Kubernetes tcpSocket probe) or a port scan.
 */
static bool
is_probe(struct session *s)
{
	SSL	*ssl;

	if (s->state == SS_HANDSHAKE) {
		ssl = conn_ssl(s->down);
		return ssl != NULL && BIO_number_read(SSL_get_rbio(ssl)) == 0;
	}
	return s->state == SS_CONNECT && !s->heard;
}

/* The client's side: handshake done, end of stream, error, timeout. */
static void
client_event(struct session *s, short what)
{
	struct conn	*c = s->down;
	char		 ebuf[160];
	unsigned long	 e;
	struct log_field f[AUDIT_FIELDS + 2];
	size_t		 nf;

	if (what & CONN_EV_CONNECTED) {
		/* TLS handshake done. */
		if (s->state == SS_HANDSHAKE) {
			SSL	*ssl = conn_ssl(c);

			s->state = SS_CONNECT;
			(void)conn_set_priority(c,
			    SESSION_PRIORITIES / 2);	/* the default again */
			set_timer(s, s->es.L->connect_timeout_ms);
			quickack(conn_fd(c));
			log_debug("session %" PRIu64 " %s: TLS %s %s", s->id,
			    s->peer, SSL_get_version(ssl),
			    SSL_get_cipher_name(ssl));
			pump(s, CODEC_FROM_CLIENT);
		}
		return;
	}
	if (s->state == SS_CLOSING) {
		/* EOF after our FIN, or the client is gone: either way done. */
		session_side_done(s, CODEC_FROM_CLIENT);
		session_finish_flush(s);
		return;
	}
	if (what & (CONN_EV_ERROR | CONN_EV_EOF) && is_probe(s)) {
		/* A health check or port scan: nothing to warn about. */
		metrics_tls_failed(s->lis->index, true);
		s->quiet = true;
		session_close(s, "closed before sending anything (a probe)",
		    false);
		return;
	}
	if (s->state == SS_HANDSHAKE && (what & (CONN_EV_ERROR |
	    CONN_EV_EOF))) {
		const char	*verr;

		e = conn_ssl_error(c);
		verr = tls_verify_error(conn_ssl(c));
		if (e != 0)
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
		else
			snprintf(ebuf, sizeof(ebuf), "%s", errno ?
			    strerror(errno) : "connection closed");
		metrics_tls_failed(s->lis->index, false);
		nf = audit_fields(&s->who, f);
		f[nf++] = (struct log_field)LOG_STR("reason", ebuf);
		f[nf++] = (struct log_field)LOG_STR("cert_error", verr);
		log_event(LOG_LVL_WARN, "tls.fail", f, nf, "session %" PRIu64
		    " %s: TLS handshake failed: %s%s%s", s->id, s->peer, ebuf,
		    verr != NULL ? ": client certificate: " : "", verr != NULL ?
		    verr : "");
		session_close(s, "TLS handshake failed", false);
		return;
	}
	if (what & CONN_EV_TIMEOUT) {
		metrics_add(M_KEEPALIVE_EXPIRED, 1);
		log_warnx("session %" PRIu64 " %s: nothing from client_id \"%s\" "
		    "for 1.5 x %us: keepalive expired", s->id, s->peer,
		    s->client_id, s->es.keepalive);
		session_send_disconnect(s, 0x8D);	/* keep alive timeout */
		session_close(s, "keepalive expired", true);
		return;
	}
	if ((what & CONN_EV_ERROR) && (e = conn_ssl_error(c)) != 0) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		log_info("session %" PRIu64 " %s: TLS read: %s", s->id,
		    s->peer, ebuf);
	}
	if (what & CONN_EV_EOF)
		session_close(s, "client closed the connection", true);
	else
		session_close(s, "client connection error", true);
}

/* The broker's side: connected, end of stream, error. */
static void
broker_event(struct session *s, short what)
{
	struct conn	*c = s->up;
	const char	*tlserr;
	char		 ebuf[256];
	int		 err;

	if (what & CONN_EV_CONNECTED) {
		s->up_connected = true;
		/*
		 * Small frames go out at once: with Nagle, a PUBLISH written
		 * while the previous one is unacknowledged waits for the
		 * broker's delayed ACK (tens of milliseconds).
		 */
		nodelay(conn_fd(c));
		metrics_upstream(true, util_now_ms());
		metrics_observe(METRICS_H_UPSTREAM_CONNECT, util_now_us() -
		    s->up_us);
		/* A broker that takes the connection must answer it. */
		if (s->state == SS_OPEN && !s->connack_ok)
			set_timer(s, s->pol->upstream.connack_timeout_ms);
		log_debug("session %" PRIu64 " %s: upstream connected", s->id,
		    s->peer);
		return;
	}
	if (!s->up_connected && s->state == SS_OPEN) {
		err = conn_dns_error(c);
		tlserr = tls_connect_error(conn_ssl(c), conn_ssl_error(c), ebuf,
		    sizeof(ebuf));
		if (err == 0 && tlserr == NULL && short_of_fds(errno))
			upstream_failed(s, "no file descriptor for the "
			    "connection (the process's limit)", 0x89);
		else
			upstream_failed(s, err ? evutil_gai_strerror(err) :
			    tlserr != NULL ? tlserr : errno ? strerror(errno) :
			    "connection failed", 0x88);
		return;
	}
	if (s->state == SS_CLOSING) {
		session_side_done(s, CODEC_FROM_SERVER);
		session_finish_flush(s);
		return;
	}
	/* TLS 1.3: a broker refusing our certificate says so only now. */
	if ((tlserr = tls_connect_error(conn_ssl(c), conn_ssl_error(c), ebuf,
	    sizeof(ebuf))) != NULL)
		log_warnx("session %" PRIu64 " %s: upstream %s:%u: %s", s->id,
		    s->peer, s->pol->upstream.host, s->pol->upstream.port,
		    tlserr);
	if (s->state == SS_OPEN && !s->connack_ok) {
		/* Gone before its CONNACK: the client is told as a broker
		 * that cannot serve it would (5.0 0x88, 3.x 0x03). */
		upstream_failed(s, (what & CONN_EV_EOF) ? "closed the "
		    "connection before its CONNACK" : "connection error before "
		    "its CONNACK", 0x88);
		return;
	}
	/* A 5.0 client learns why before the close (0x80: no DISCONNECT
	 * reason names a lost server). */
	session_send_disconnect(s, 0x80);
	session_close(s, (what & CONN_EV_EOF) ?
	    "broker closed the connection" : "broker connection error", true);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	struct log_field f[AUDIT_FIELDS + 1];
	size_t		 nf;

	(void)fd;
	(void)what;
	switch (s->state) {
	case SS_REFUSING:
		refuse_connect(s, auth_reason(s->refusal),
		    auth_result_str(s->refusal));
		break;
	case SS_PROXY:
		metrics_add(M_PROXY_BAD_HEADER, 1);
		nf = audit_fields(&s->who, f);
		f[nf++] = (struct log_field)LOG_STR("reason",
		    "no PROXY protocol header");
		log_event(LOG_LVL_WARN, "proxy.refused", f, nf, "session %"
		    PRIu64 " %s: no PROXY protocol header within %ums",
		    s->id, s->peer, s->es.L->tls_handshake_timeout_ms);
		session_close(s, "PROXY header deadline passed", false);
		break;
	case SS_HANDSHAKE:
		metrics_add(M_TLS_HANDSHAKE_TIMEOUT, 1);
		nf = audit_fields(&s->who, f);
		f[nf++] = (struct log_field)LOG_STR("reason",
		    "handshake deadline passed");
		log_event(LOG_LVL_WARN, "tls.fail", f, nf, "session %" PRIu64
		    " %s: no TLS handshake within %ums", s->id, s->peer,
		    s->es.L->tls_handshake_timeout_ms);
		session_close(s, "TLS handshake deadline passed", false);
		break;
	case SS_AUTH:
		if (s->held) {		/* the tarpit of an accepted client */
			s->held = false;
			if (auth_accept(s) == 0)
				pump(s, CODEC_FROM_CLIENT);
			break;
		}
		/* FALLTHROUGH */
	case SS_CONNECT:
		metrics_add(M_CONNECT_TIMEOUT, 1);
		log_warnx("session %" PRIu64 " %s: no %s within %ums",
		    s->id, s->peer, s->ws_in != NULL && s->ws == NULL ?
		    "WebSocket upgrade" : "CONNECT",	/* WebSocket hook */
		    s->es.L->connect_timeout_ms);
		session_close(s, "CONNECT deadline passed", false);
		break;
	case SS_OPEN:
		if (!s->up_connected)
			upstream_failed(s, "connect timeout", 0x88);
		else if (!s->connack_ok)
			upstream_failed(s, "no CONNACK within "
			    "upstream.connack_timeout", 0x88);
		break;
	case SS_CLOSING:
		session_dead(s);
		break;
	case SS_DEAD:
		break;
	}
}

