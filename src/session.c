/* SPDX-License-Identifier: ISC */
/*
 * session — the per-connection state machine and frame forwarding.
 *
 * A session owns two bufferevents: <down> (the client; an OpenSSL filter on
 * TLS listeners) and <up> (the broker: plain TCP, or OpenSSL with
 * upstream.tls), and one timer used for whichever deadline applies in the
 * current state.  The upstream connection is opened only once the client's
 * first frame is a complete, valid CONNECT: the broker never sees a client
 * that did not send one.
 *
 * Frames are parsed in place.  pump() peeks at the input evbuffer, lets the
 * codec decide, and moves an accepted frame to the other side's output with
 * evbuffer_remove_buffer() — the frame's chains change owner, its bytes are
 * not copied.  Only the bytes the codec must inspect are made contiguous: a
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
#include <arpa/inet.h>
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
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mqttguard/acl.h"
#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/limits.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/session.h"
#include "mqttguard/tls.h"

#define SESSION_READ_WM		(64 * 1024)	/* input high watermark */
#define SESSION_LINGER_MS	3000		/* flush before close */
#define SESSION_ID_LOG		64		/* client id/user in logs */
#define SESSION_MERGES_MAX	32	/* SUBSCRIBEs awaiting a merged SUBACK */
#define SESSION_TOPIC_LOG	256	/* topic bytes in a log line */
#define RATE_LOG_MS		10000	/* a throttled session's log lines */
#define TLS_RECORD_MAX		16384	/* plaintext of one TLS record */
#define SOCK_READ_FULL		4096	/* libevent 2.1's largest read */

/*
 * A SUBSCRIBE forwarded without the filters the ACL denied: the broker's
 * SUBACK is merged back with the failure codes, in the original order.
 */
struct sub_merge {
	uint16_t	 id;		/* packet identifier */
	uint16_t	 n;		/* filters in the client's SUBSCRIBE */
	uint8_t		*denied;	/* owned; n codes, 0: the broker's */
	uint8_t		*added;		/* owned; filters new to s->subs,
					   each: position (2), length (2),
					   bytes; forgotten if refused */
	size_t		 added_len;
};

enum session_state {
	SS_HANDSHAKE,	/* TLS handshake running */
	SS_CONNECT,	/* waiting for a complete CONNECT */
	SS_AUTH,	/* CONNECT held while the password is checked */
	SS_REFUSING,	/* refused: the answer waits out the tarpit */
	SS_OPEN,	/* CONNECT forwarded; frames flow both ways */
	SS_CLOSING,	/* flushing queued bytes, then half-close */
	SS_DEAD		/* on the worker's dead list */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* worker's sessions/dead */
	struct worker		*w;		/* owner */
	const struct policy_listener *lis;	/* in pol */
	struct policy		*pol;		/* ref */
	uint64_t		 id;
	char			 peer[INET6_ADDRSTRLEN + 8];
	char			 addr[INET6_ADDRSTRLEN];	/* no port */
	char			 client_id[SESSION_ID_LOG];
	char			 username[SESSION_ID_LOG];
	struct bufferevent	*down;		/* owned; the client */
	struct bufferevent	*up;		/* owned; NULL before CONNECT */
	struct event		*timer;		/* owned; current deadline */
	struct codec_session	 cs;
	uint8_t			*connect;	/* owned; the client's CONNECT,
						   held while it is decided */
	size_t			 connect_len;
	struct auth_decision	 dec;		/* identity, once decided */
	struct auth_job		*job;		/* pending check; the pool
						   owns it until done */
	enum auth_result	 refusal;	/* SS_REFUSING: why */
	struct sub_merge	*merges;	/* owned; cap_merges, made on the
						   first filtered SUBSCRIBE */
	unsigned		 n_merges, cap_merges;
	uint8_t			*acked[2];	/* owned; 8 KiB bitmaps of QoS 2
						   ids the proxy acknowledged
						   itself, by the PUBLISH's dir */
	const struct policy_limits *L;		/* the listener's, then the
						   identity's once decided */
	struct policy_limits	*own_lim;	/* owned; L for an identity with
						   limits of its own */
	struct limits_conn	 lc;		/* connection counts held */
	struct limits_bucket	 r_msgs, r_bytes, r_subs;	/* client rates */
	struct limits_bucket	*r_topics;	/* owned; 2 per topic rule:
						   messages, bytes */
	struct limits_user	*user;		/* shared per-identity state */
	struct limits_subs	*subs;		/* owned; with max_subscriptions */
	unsigned		 inflight;	/* client QoS 1/2 not acked */
	struct event		*rate_ev;	/* owned; ends a hold */
	bool			 throttled;	/* reading paused for a rate */
	bool			 inflight_wait;	/* paused: max_inflight reached */
	uint64_t		 hits;		/* limit hits not yet logged */
	uint64_t		 hit_logged;	/* when the last line was, ms */
	uint16_t		 keepalive;	/* enforced, seconds; 0: none */
	uint16_t		 keepalive_asked;	/* in the CONNECT */
	bool			 claimed;	/* client id registered */
	uint8_t			*claimed_id;	/* owned; the claimed id */
	size_t			 claimed_len;
	bool			 persistent;	/* session outlives us */
	struct codec_limits	 lim;
	enum session_state	 state;
	const char		*reason;	/* why it closes; static */
	bool			 tls;
	bool			 up_connected;
	bool			 connack_ok;	/* broker accepted, told client */
	bool			 paused[2];	/* reading paused, by dir */
	short			 end[2];	/* EOF/error read ahead, by dir */
	size_t			 skip;		/* bytes of a dropped delivery
						   still to come from the broker */
	bool			 shut[2];	/* closing: FIN sent, by dir */
	bool			 done[2];	/* closing: side finished */
	size_t			 rwm[2];	/* input watermark set, by dir */
	uint64_t		 frames[2], bytes[2];
	struct timeval		 started;
};

static void	down_read_cb(struct bufferevent *, void *);
static bool	may_read_ahead(const struct session *, enum codec_dir,
		    size_t);
static short	tls_read_more(struct session *);
static short	sock_read_more(struct session *, enum codec_dir);
static void	down_write_cb(struct bufferevent *, void *);
static void	down_event_cb(struct bufferevent *, short, void *);
static void	up_event_cb(struct bufferevent *, short, void *);
static void	up_read_cb(struct bufferevent *, void *);
static void	up_write_cb(struct bufferevent *, void *);
static void	timer_cb(evutil_socket_t, short, void *);
static void	drained(struct session *, enum codec_dir);
static void	discard_cb(struct bufferevent *, void *);
static void	pump(struct session *, enum codec_dir);
static int	next_frame(struct session *, enum codec_dir, struct evbuffer *,
		    struct codec_packet *);
static int	handle(struct session *, enum codec_dir, struct evbuffer *,
		    struct codec_packet *);
static int	skip_delivery(struct session *, struct evbuffer *);
static int	on_connect(struct session *, struct evbuffer *,
		    struct codec_packet *);
static void	on_connack(struct session *, const struct codec_packet *);
static int	auth_accept(struct session *);
static int	enforce(struct session *, enum codec_dir, struct evbuffer *,
		    struct codec_packet *);
static bool	acl_allow(struct session *, enum acl_action,
		    const struct codec_buf *);
static int	deny_publish(struct session *, enum codec_dir,
		    const struct codec_packet *);
static int	filter_subscribe(struct session *, struct evbuffer *,
		    struct codec_packet *);
static void	forget_subscriptions(struct session *,
		    const struct codec_packet *);
static int	merge_suback(struct session *, struct evbuffer *,
		    const struct codec_packet *);
static int	acked_take(struct session *, enum codec_dir, uint16_t);
static int	acked_put(struct session *, enum codec_dir, uint16_t);
static void	reply(struct session *, enum codec_dir, const uint8_t *,
		    size_t);
static void	limit_audit(struct session *, uint64_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	identity_limits(struct session *);
static int	inflight_full(struct session *, const struct codec_packet *);
static void	inflight_done(struct session *);
static uint64_t	publish_tokens(struct session *, uint64_t,
		    const struct codec_packet *, const char **);
static int	rate_check(struct session *, struct evbuffer *,
		    const struct codec_packet *);
static bool	topic_within(const struct session *, const struct codec_buf *);
static void	rate_cb(evutil_socket_t, short, void *);
static void	keepalive_start(struct session *, uint16_t);
static int	amend_connack(struct session *, struct evbuffer *,
		    const struct codec_packet *);
static void	auth_refuse(struct session *, enum auth_result);
static void	auth_done(struct auth_job *);
static uint64_t	now_ms(void);
static void	reject(struct session *, enum codec_dir,
		    const struct codec_packet *, uint8_t);
static void	upstream_connect(struct session *);
static void	upstream_failed(struct session *, const char *);
static void	refuse_connect(struct session *, uint8_t, const char *);
static void	send_disconnect(struct session *, uint8_t);
static void	set_read_wm(struct session *, enum codec_dir, size_t);
static void	set_timer(struct session *, unsigned);
static void	finish_flush(struct session *);
static void	half_close(struct session *, enum codec_dir);
static void	side_done(struct session *, enum codec_dir);
static void	session_dead(struct session *);
static void	session_shutdown(struct session *);
static void	session_free(struct session *);
static void	copy_id(char *, size_t, const struct codec_buf *);
static struct bufferevent *side(struct session *, enum codec_dir);

static const char *const dir_name[] = { "client", "broker" };

static struct bufferevent *
side(struct session *s, enum codec_dir dir)
{
	return dir == CODEC_FROM_CLIENT ? s->down : s->up;
}

void
session_new(struct worker *w, const struct policy_listener *lis, int fd,
    const struct sockaddr *sa, socklen_t salen, const struct limits_conn *lc)
{
	struct session	*s;
	SSL		*ssl = NULL;
	char		 host[INET6_ADDRSTRLEN], ebuf[128];
	uint16_t	 port = 0;
	int		 one = 1;

	(void)salen;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		struct limits_conn	held = *lc;

		log_warn("accept on %s: session", lis->name);
		close(fd);
		limits_release(w->limits, &lis->limits, &held);
		return;
	}
	s->lc = *lc;
	s->w = w;
	s->lis = lis;
	s->pol = policy_ref(w->pol);
	s->L = &lis->limits;
	s->id = ++w->next_id * 1000 + w->id;	/* unique across workers */
	s->tls = lis->tls;
	s->lim.max_packet = s->L->max_packet;
	s->lim.reject_control = s->L->reject_control_chars;
	codec_session_init(&s->cs);
	gettimeofday(&s->started, NULL);

	host[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(s->peer, sizeof(s->peer), "%s:%u", host, port);
		snprintf(s->addr, sizeof(s->addr), "%s", host);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(s->peer, sizeof(s->peer), "[%s]:%u", host, port);
		snprintf(s->addr, sizeof(s->addr), "%s", host);
	} else
		snprintf(s->peer, sizeof(s->peer), "unknown");

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(fd);
	if (s->tls) {
		if ((ssl = SSL_new(w->ssl_ctx)) == NULL) {
			log_warnx("session %" PRIu64 " %s: SSL_new: %s", s->id,
			    s->peer, tls_error_str(ebuf, sizeof(ebuf),
			    "failed"));
			goto fail;
		}
		tls_set_verify(ssl, lis->client_certs);
		s->down = bufferevent_openssl_socket_new(w->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		/* On failure libevent has freed the SSL (CLOSE_ON_FREE). */
		if (s->down != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(s->down,
			    1);
		s->state = SS_HANDSHAKE;
	} else {
		s->down = bufferevent_socket_new(w->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
		s->state = SS_CONNECT;
	}
	if (s->down == NULL || (s->timer = evtimer_new(w->base, timer_cb,
	    s)) == NULL || (s->rate_ev = evtimer_new(w->base, rate_cb,
	    s)) == NULL) {
		log_warnx("session %" PRIu64 " %s: out of memory", s->id,
		    s->peer);
		goto fail;
	}
	fd = -1;	/* the bufferevent owns it now */
	bufferevent_setcb(s->down, down_read_cb, down_write_cb, down_event_cb,
	    s);
	set_read_wm(s, CODEC_FROM_CLIENT, SESSION_READ_WM);
	bufferevent_setwatermark(s->down, EV_WRITE,
	    s->L->output_buffer / 2, 0);
	bufferevent_enable(s->down, EV_READ | EV_WRITE);
	/* Deadlines against slowloris: the handshake, then the CONNECT. */
	set_timer(s, s->tls ? s->L->tls_handshake_timeout_ms :
	    s->L->connect_timeout_ms);

	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->n_sessions++;
	metrics_add(M_CONN_ACCEPTED, 1);
	metrics_add(M_CONN_ACTIVE, 1);
	log_info("session %" PRIu64 " %s: open on %s%s", s->id, s->peer,
	    lis->name, s->tls ? " (tls)" : "");
	return;

fail:
	if (s->down == NULL && fd != -1)
		close(fd);
	limits_release(w->limits, &lis->limits, &s->lc);
	session_free(s);
}

static void
set_timer(struct session *s, unsigned ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(s->timer, &tv);
}

/* Input high watermark of <dir>'s side: libevent stops reading past it. */
static void
set_read_wm(struct session *s, enum codec_dir dir, size_t wm)
{
	struct bufferevent	*bev = side(s, dir);

	if (bev != NULL && s->rwm[dir] != wm) {
		bufferevent_setwatermark(bev, EV_READ, 0, wm);
		s->rwm[dir] = wm;
	}
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
down_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->end[CODEC_FROM_CLIENT] == 0)
		s->end[CODEC_FROM_CLIENT] = s->tls ? tls_read_more(s) :
		    sock_read_more(s, CODEC_FROM_CLIENT);
	pump(s, CODEC_FROM_CLIENT);
}

/*
 * Whether <dir>'s side, holding <have> bytes of input, may be read ahead
 * of libevent: not past its input window, not while a hold (backpressure,
 * a rate, max_inflight) keeps it unread, not once the session is ending.
 */
static bool
may_read_ahead(const struct session *s, enum codec_dir dir, size_t have)
{
	return have < s->rwm[dir] && !s->paused[dir] &&
	    (dir != CODEC_FROM_CLIENT || (!s->throttled && !s->inflight_wait)) &&
	    s->state != SS_CLOSING && s->state != SS_DEAD;
}

/*
 * libevent 2.1's OpenSSL bufferevent reads at most two TLS records a loop
 * turn (one SSL_read for each of the two vectors it reserves), and a
 * client such as libmosquitto writes one small record a PUBLISH: a loop
 * turn, with its epoll_wait and reads, for every two messages.  Read on
 * while records are there, up to the input window, as HAProxy does.
 * Returns 0, or the event libevent would have reported (end of stream,
 * error): pump() reports it once the frames read before it are handled.
 */
static short
tls_read_more(struct session *s)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(s->down);
	struct evbuffer		*in = bufferevent_get_input(s->down);
	struct evbuffer_iovec	 v;
	unsigned long		 e;
	char			 ebuf[160];
	int			 r, err;

	while (s->state != SS_HANDSHAKE && may_read_ahead(s, CODEC_FROM_CLIENT,
	    evbuffer_get_length(in))) {
		if (evbuffer_reserve_space(in, TLS_RECORD_MAX, &v, 1) != 1)
			return 0;
		if ((r = SSL_read(ssl, v.iov_base, (int)v.iov_len)) > 0) {
			v.iov_len = (size_t)r;
			evbuffer_commit_space(in, &v, 1);
			continue;
		}
		evbuffer_commit_space(in, &v, 0);
		err = SSL_get_error(ssl, r);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 0;
		if (err == SSL_ERROR_ZERO_RETURN)
			return BEV_EVENT_READING | BEV_EVENT_EOF;
		/* The thread's error queue is shared: empty it now. */
		if ((e = ERR_get_error()) != 0) {
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			log_info("session %" PRIu64 " %s: TLS read: %s", s->id,
			    s->peer, ebuf);
		}
		ERR_clear_error();
		return err == SSL_ERROR_SYSCALL && r == 0 ?
		    BEV_EVENT_READING | BEV_EVENT_EOF :
		    BEV_EVENT_READING | BEV_EVENT_ERROR;
	}
	return 0;
}

static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->end[CODEC_FROM_SERVER] == 0 && s->w->ssl_upstream_ctx == NULL)
		s->end[CODEC_FROM_SERVER] = sock_read_more(s,
		    CODEC_FROM_SERVER);
	pump(s, CODEC_FROM_SERVER);
}

/*
 * libevent 2.1 reads a plain socket at most 4 KiB a loop turn
 * (EVBUFFER_MAX_READ).  When that read was full, more is likely waiting:
 * take it in one readv, up to the input window, so that a stream moves in
 * large reads and writes, not in a loop turn per 4 KiB.  Returns 0, or the
 * event libevent would have reported, as tls_read_more().
 */
static short
sock_read_more(struct session *s, enum codec_dir dir)
{
	struct bufferevent	*bev = side(s, dir);
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	size_t			 have = evbuffer_get_length(in);
	ssize_t			 r;
	int			 n, i;

	if (have < SOCK_READ_FULL || !may_read_ahead(s, dir, have))
		return 0;
	if ((n = evbuffer_reserve_space(in, (ev_ssize_t)(s->rwm[dir] - have),
	    v, 2)) <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	if ((r = readv(bufferevent_getfd(bev), iov, n)) <= 0) {
		evbuffer_commit_space(in, v, 0);
		if (r == 0)
			return BEV_EVENT_READING | BEV_EVENT_EOF;
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 0 : BEV_EVENT_READING | BEV_EVENT_ERROR;
	}
	if ((size_t)r <= v[0].iov_len) {
		v[0].iov_len = (size_t)r;
		n = 1;
	} else
		v[1].iov_len = (size_t)r - v[0].iov_len;
	evbuffer_commit_space(in, v, n);
	return 0;
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
	struct bufferevent	*src = side(s, dir);
	struct bufferevent	*dst = side(s, !dir);
	struct evbuffer		*in;
	struct codec_packet	 pkt;
	bool			 starved = false;
	short			 end;
	int			 r;

	if (src == NULL)
		return;
	in = bufferevent_get_input(src);
again:
	while (s->state == SS_CONNECT || s->state == SS_OPEN) {
		if (s->state == SS_CONNECT && dir == CODEC_FROM_SERVER)
			break;
		if (dst != NULL && evbuffer_get_length(
		    bufferevent_get_output(dst)) >=
		    s->L->output_buffer) {
			bufferevent_disable(src, EV_READ);
			s->paused[dir] = true;
			break;
		}
		if (evbuffer_get_length(in) == 0) {
			starved = true;
			break;
		}
		if (dir == CODEC_FROM_SERVER && s->skip > 0) {
			size_t	n = evbuffer_get_length(in);

			n = n < s->skip ? n : s->skip;
			evbuffer_drain(in, n);
			s->skip -= n;
			continue;
		}
		memset(&pkt, 0, sizeof(pkt));
		r = next_frame(s, dir, in, &pkt);
		if (r == CODEC_NEED) {
			starved = true;
			break;
		}
		if (r == CODEC_ERROR && dir == CODEC_FROM_SERVER &&
		    pkt.err == CODEC_ERR_TOO_LARGE && pkt.type == CODEC_PUBLISH &&
		    s->cs.level != CODEC_V5) {
			if ((r = skip_delivery(s, in)) == -1)
				goto out;
			if (r == 0) {
				starved = true;
				break;
			}
			continue;
		}
		if (r == CODEC_ERROR) {
			reject(s, dir, &pkt, pkt.type);
			goto out;
		}
		if ((r = handle(s, dir, in, &pkt)) == -1)
			goto out;
		if (r == 1)
			break;		/* throttled: rate_cb resumes */
		dst = side(s, !dir);	/* CONNECT opened upstream */
	}
	/*
	 * Records OpenSSL read ahead, with nothing left on the socket to wake
	 * the loop: read them now that there is room.
	 */
	if (starved && s->tls && dir == CODEC_FROM_CLIENT && s->end[dir] == 0 &&
	    SSL_has_pending(bufferevent_openssl_get_ssl(src))) {
		size_t	had = evbuffer_get_length(in);

		s->end[dir] = tls_read_more(s);
		if (evbuffer_get_length(in) > had) {
			starved = false;
			goto again;
		}
	}
	/* Back to the normal window once a large frame has gone through. */
	if (s->rwm[dir] > SESSION_READ_WM &&
	    evbuffer_get_length(in) < SESSION_READ_WM)
		set_read_wm(s, dir, SESSION_READ_WM);
out:
	/*
	 * The end of the stream, read ahead by tls_read_more() or
	 * sock_read_more(), comes after every frame before it, as libevent
	 * would report it: not while frames wait (backpressure, a rate).
	 */
	if ((end = s->end[dir]) != 0 && s->state != SS_DEAD &&
	    (starved || (s->state != SS_CONNECT && s->state != SS_OPEN))) {
		s->end[dir] = 0;
		if (dir == CODEC_FROM_CLIENT)
			down_event_cb(src, end, s);
		else
			up_event_cb(src, end, s);
	}
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
	const uint8_t	*p;
	size_t		 n = evbuffer_get_length(in), hdr, rem = 0, need;
	unsigned	 qos;
	uint16_t	 id = 0;
	uint8_t		 b[8];

	/* The fixed header, whole: the codec stopped it early. */
	if ((p = evbuffer_pullup(in, n < 5 ? (ssize_t)n : 5)) == NULL)
		return 0;
	for (hdr = 1; hdr < 5; hdr++) {
		if (hdr >= n)
			return 0;
		rem |= (size_t)(p[hdr] & 0x7f) << (7 * (hdr - 1));
		if (!(p[hdr] & 0x80))
			break;
	}
	if (hdr == 5) {
		send_disconnect(s, 0x83);
		session_close(s, "malformed frame from broker", true);
		return -1;
	}
	hdr++;
	qos = (p[0] >> 1) & 3;
	if (qos > 0) {
		/* The topic's length, then the packet identifier after it. */
		if (n < hdr + 2 || (p = evbuffer_pullup(in,
		    (ssize_t)(hdr + 2))) == NULL)
			return 0;
		need = hdr + 2 + ((size_t)p[hdr] << 8 | p[hdr + 1]) + 2;
		if (n < need || (p = evbuffer_pullup(in, (ssize_t)need)) ==
		    NULL)
			return 0;
		id = (uint16_t)(p[need - 2] << 8 | p[need - 1]);
		if (qos == 2 && acked_put(s, CODEC_FROM_SERVER, id) == -1) {
			session_close(s, "out of memory", false);
			return -1;
		}
		reply(s, CODEC_FROM_SERVER, b, codec_encode_ack(b, sizeof(b),
		    s->cs.level, qos == 1 ? CODEC_PUBACK : CODEC_PUBREC, id, 0,
		    NULL));
	}
	metrics_add(M_LIMIT_DELIVERY_SIZE, 1);
	limit_audit(s, now_ms(), "QoS %u PUBLISH of %zu bytes from the broker "
	    "dropped: over limits.max_packet_size (%zu)", qos, hdr + rem,
	    s->L->max_packet);
	s->skip = hdr + rem;
	return 1;
}

/*
 * Acts on one valid frame at the head of <in>.  Returns 0 when the frame was
 * consumed (forwarded or answered), 1 when it must wait (a rate limit has
 * paused reading), -1 when the session is ending.
 */
static int
handle(struct session *s, enum codec_dir dir, struct evbuffer *in,
    struct codec_packet *pkt)
{
	struct bufferevent	*dst;

	s->frames[dir]++;
	s->bytes[dir] += pkt->len;
	metrics_add(dir == CODEC_FROM_CLIENT ? M_FRAMES_FROM_CLIENT :
	    M_FRAMES_FROM_BROKER, 1);
	metrics_add(dir == CODEC_FROM_CLIENT ? M_BYTES_FROM_CLIENT :
	    M_BYTES_FROM_BROKER, (int64_t)pkt->len);

	if (dir == CODEC_FROM_CLIENT && pkt->type == CODEC_CONNECT)
		return on_connect(s, in, pkt);
	if (dir == CODEC_FROM_SERVER && pkt->type == CODEC_CONNACK) {
		on_connack(s, pkt);
		if (s->cs.level == CODEC_V5 && pkt->reason == 0)
			return amend_connack(s, in, pkt);
	}
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("session %" PRIu64 " %s: %s %s, %zu bytes", s->id,
		    s->peer, dir_name[dir], codec_type_str(pkt->type),
		    pkt->len);

	if (dir == CODEC_FROM_CLIENT && pkt->type == CODEC_PUBLISH &&
	    pkt->u.publish.qos > 0 && s->L->max_inflight > 0 &&
	    s->inflight >= s->L->max_inflight)
		return inflight_full(s, pkt);
	if (dir == CODEC_FROM_CLIENT) {
		switch (rate_check(s, in, pkt)) {
		case 1:
			return 0;	/* dropped */
		case 2:
			return 1;	/* throttled: the frame waits */
		case -1:
			return -1;
		}
	}
	switch (enforce(s, dir, in, pkt)) {
	case 1:
		return 0;		/* consumed: answered or rewritten */
	case -1:
		return -1;
	}

	dst = side(s, !dir);
	if (dst == NULL) {
		/* Cannot happen: the codec only lets CONNECT in first. */
		session_close(s, "frame before upstream exists", false);
		return -1;
	}
	if (evbuffer_remove_buffer(in, bufferevent_get_output(dst),
	    pkt->len) != (int)pkt->len) {
		session_close(s, "out of memory forwarding a frame", false);
		return -1;
	}
	/*
	 * The client's QoS 1/2 PUBLISHes the broker has not finished: for
	 * 5.0 as Receive Maximum counts them [MQTT-4.9.0-1], until PUBACK,
	 * PUBCOMP or a failing PUBREC.  A 3.x client waits by not being read
	 * (inflight_full), and the PUBREL that would lead to the PUBCOMP may
	 * be queued behind the very frame that waits: for 3.x a QoS 2
	 * PUBLISH counts until the broker's PUBREC, which needs nothing more
	 * from the client.
	 */
	if (dir == CODEC_FROM_CLIENT && pkt->type == CODEC_PUBLISH &&
	    pkt->u.publish.qos > 0)
		s->inflight++;
	else if (dir == CODEC_FROM_SERVER && (pkt->type == CODEC_PUBACK ||
	    (pkt->type == CODEC_PUBCOMP && s->cs.level == CODEC_V5) ||
	    (pkt->type == CODEC_PUBREC && (s->cs.level != CODEC_V5 ||
	    pkt->reason >= 0x80))))
		inflight_done(s);
	/*
	 * After a DISCONNECT or a refused CONNACK the sender closes: deliver
	 * it, read nothing more (frames still in flight from the other side
	 * have nobody to go to), and close.
	 */
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
	struct auth_job			*job;
	enum auth_result		 r;
	char				 cert[AUTH_IDENTITY_MAX + 1];
	int				 cr = 0;

	copy_id(s->client_id, sizeof(s->client_id), &c->client_id);
	if (c->flags & CODEC_CF_USERNAME)
		copy_id(s->username, sizeof(s->username), &c->username);
	log_info("session %" PRIu64 " %s: CONNECT %s client_id \"%s\"%s%s%s "
	    "keepalive %us%s", s->id, s->peer, c->level == CODEC_V5 ? "5.0" :
	    c->level == CODEC_V311 ? "3.1.1" : "3.1", s->client_id,
	    (c->flags & CODEC_CF_USERNAME) ? " username \"" : "",
	    s->username, (c->flags & CODEC_CF_USERNAME) ? "\"" : "",
	    c->keepalive, (c->flags & CODEC_CF_WILL) ? " will" : "");
	s->persistent = c->level == CODEC_V5 ?
	    pkt->props.session_expiry > 0 : !(c->flags & CODEC_CF_CLEAN);

	/*
	 * Keep a copy of the CONNECT, and decode that copy: the views used
	 * below (the password) must outlive the input buffer's bytes, and
	 * the frame is re-encoded from it with the identity when accepted.
	 */
	if ((s->connect = malloc(pkt->len)) == NULL ||
	    evbuffer_remove(in, s->connect, pkt->len) != (int)pkt->len) {
		session_close(s, "out of memory holding CONNECT", false);
		return -1;
	}
	s->connect_len = pkt->len;
	s->state = SS_AUTH;
	if (codec_decode(&s->lim, 0, CODEC_FROM_CLIENT, s->connect,
	    s->connect_len, s->connect_len, pkt) != CODEC_OK) {
		auth_refuse(s, AUTH_FAIL_ERROR);	/* cannot happen */
		return -1;
	}

	if (s->tls)
		cr = tls_peer_identity(bufferevent_openssl_get_ssl(s->down),
		    s->pol->auth.cert_identity, cert, sizeof(cert));
	memset(&req, 0, sizeof(req));
	req.pol = s->pol;
	req.lis = s->lis;
	req.pkt = pkt;
	req.addr = s->addr;
	req.cert_id = cr == 1 ? cert : NULL;
	req.cert_unmapped = cr == -1;
	req.now_ms = now_ms();
	r = auth_precheck(&req, s->w->guard, &s->dec);
	if (r != AUTH_OK) {
		auth_refuse(s, r);
		return -1;
	}
	if (!s->dec.need_password)
		return auth_accept(s);

	/* The password is checked off the event loop. */
	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (job->user = strdup(s->dec.identity)) == NULL ||
	    (job->pw = malloc(c->password.len + 1)) == NULL) {
		auth_job_free(job);
		auth_refuse(s, AUTH_FAIL_ERROR);
		return -1;
	}
	job->user_len = strlen(job->user);
	memcpy(job->pw, c->password.p, c->password.len);
	job->pw_len = c->password.len;
	job->pol = policy_ref(s->pol);
	job->done = auth_done;
	job->arg = s;
	snprintf(job->addr, sizeof(job->addr), "%s", s->addr);
	if (auth_guard_pending(s->w->guard, s->addr,
	    AUTH_PENDING_PER_ADDR) == -1) {
		auth_job_free(job);
		auth_refuse(s, AUTH_FAIL_BUSY);
		return -1;
	}
	if (auth_pool_submit(s->w->pool, job) == -1) {
		auth_guard_pending_done(s->w->guard, s->addr);
		auth_job_free(job);
		auth_refuse(s, AUTH_FAIL_BUSY);
		return -1;
	}
	s->job = job;
	return -1;	/* frames behind the CONNECT wait in the input */
}

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* On a pool thread: hand the finished check to the session's worker. */
static void
auth_done(struct auth_job *job)
{
	struct session	*s = job->arg;

	worker_auth_done(s->w, job);
}

void
session_auth_done(struct auth_job *job)
{
	struct session	*s = job->arg;
	enum auth_result r;

	s->job = NULL;
	auth_guard_pending_done(s->w->guard, s->addr);
	if (s->state == SS_DEAD) {
		auth_job_free(job);
		worker_reap(s->w);	/* it waited for this job */
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
	if (r != AUTH_OK) {
		auth_refuse(s, r);
		return;
	}
	if (auth_accept(s) == 0)
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
	struct codec_packet	 pkt;
	struct codec_buf	 user, pass, *up = NULL, *pw = NULL;
	const struct codec_connect *c = &pkt.u.connect;
	const struct policy_auth *a = &s->pol->auth;
	uint8_t			*buf;
	size_t			 n;
	uint32_t		 max;

	if (codec_decode(&s->lim, 0, CODEC_FROM_CLIENT, s->connect,
	    s->connect_len, s->connect_len, &pkt) != CODEC_OK) {
		auth_refuse(s, AUTH_FAIL_ERROR);	/* cannot happen */
		return -1;
	}
	/* A will is a delayed PUBLISH: its topic must be publishable. */
	if ((c->flags & CODEC_CF_WILL) && s->pol->acl != NULL &&
	    !acl_allow(s, ACL_PUBLISH, &c->will_topic)) {
		metrics_add(M_AUTH_FAILED, 1);
		log_warnx("auth: session %" PRIu64 " %s listener %s: refused "
		    "identity \"%s\" client_id \"%s\": will topic denied by "
		    "the ACL", s->id, s->peer, s->lis->name, s->dec.identity,
		    s->client_id);
		s->state = SS_REFUSING;
		refuse_connect(s, 0x87, "will topic denied by the ACL");
		return -1;
	}
	if (identity_limits(s) == -1)
		return -1;
	if (c->client_id.len > 0) {
		if (auth_registry_claim(s->w->guard, c->client_id.p,
		    c->client_id.len, s->dec.identity, s->persistent) == -1) {
			auth_refuse(s, AUTH_FAIL_CLIENT_ID_TAKEN);
			return -1;
		}
		if ((s->claimed_id = malloc(c->client_id.len)) == NULL) {
			auth_registry_release(s->w->guard, c->client_id.p,
			    c->client_id.len, s->persistent);
			auth_refuse(s, AUTH_FAIL_ERROR);
			return -1;
		}
		memcpy(s->claimed_id, c->client_id.p, c->client_id.len);
		s->claimed_len = c->client_id.len;
		s->claimed = true;
	}
	if (!s->dec.anonymous) {
		char	key[AUTH_IDENTITY_MAX + 3];

		snprintf(key, sizeof(key), "u:%s", s->dec.identity);
		auth_guard_success(s->w->guard, key);
		user.p = (const uint8_t *)s->dec.identity;
		user.len = strlen(s->dec.identity);
		up = &user;
	}
	if (a->upstream_password != NULL && up != NULL) {
		pass.p = a->upstream_password;
		pass.len = a->upstream_password_len;
		pw = &pass;
	}
	limits_authenticated(s->w->limits, &s->lc);
	keepalive_start(s, c->keepalive);
	metrics_add(M_AUTH_OK, 1);
	log_info("auth: session %" PRIu64 " %s listener %s: accepted identity "
	    "\"%s\" (%s) client_id \"%s\"", s->id, s->peer, s->lis->name,
	    s->dec.identity, s->dec.anonymous ? "anonymous" :
	    s->dec.by_certificate ? (s->dec.need_password ?
	    "certificate and password" : "certificate") : "password",
	    s->client_id);

	/* A 5.0 broker is told to send nothing the proxy would refuse. */
	max = s->L->max_packet > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)s->L->max_packet;
	n = codec_encode_connect(NULL, 0, &pkt, up, pw, max);
	if (n == 0 || (buf = malloc(n)) == NULL) {
		auth_refuse(s, AUTH_FAIL_ERROR);
		return -1;
	}
	codec_encode_connect(buf, n, &pkt, up, pw, max);
	if (pw != NULL)
		OPENSSL_cleanse(buf, n);	/* wiped below, after the copy */
	if (s->w->ssl_upstream_ctx != NULL) {
		SSL	*ssl = tls_client_ssl_new(s->w->ssl_upstream_ctx,
		    s->pol->upstream.server_name);

		/* On failure libevent frees the SSL (BEV_OPT_CLOSE_ON_FREE). */
		s->up = ssl == NULL ? NULL : bufferevent_openssl_socket_new(
		    s->w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->up != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(s->up, 1);
	} else
		s->up = bufferevent_socket_new(s->w->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (s->up == NULL) {
		free(buf);
		refuse_connect(s, 0x88, "out of memory for upstream");
		return -1;
	}
	bufferevent_setcb(s->up, up_read_cb, up_write_cb, up_event_cb, s);
	set_read_wm(s, CODEC_FROM_SERVER, SESSION_READ_WM);
	bufferevent_setwatermark(s->up, EV_WRITE,
	    s->L->output_buffer / 2, 0);
	if (pw != NULL)
		codec_encode_connect(buf, n, &pkt, up, pw, max);
	if (bufferevent_write(s->up, buf, n) == -1) {
		OPENSSL_cleanse(buf, n);
		free(buf);
		session_close(s, "out of memory forwarding CONNECT", false);
		return -1;
	}
	OPENSSL_cleanse(buf, n);
	free(buf);
	OPENSSL_cleanse(s->connect, s->connect_len);
	free(s->connect);
	s->connect = NULL;
	s->state = SS_OPEN;
	evtimer_del(s->timer);
	set_timer(s, s->pol->upstream.connect_timeout_ms);
	upstream_connect(s);
	/* A failure may have been reported synchronously. */
	return s->state == SS_OPEN ? 0 : -1;
}

/*
 * Refuses the CONNECT for <r>: audit line, failure counted against the
 * source address and the user, and the CONNACK after the tarpit delay
 * (the timer), so that guessing costs the guesser time, not us.
 */
static void
auth_refuse(struct session *s, enum auth_result r)
{
	const struct policy_auth *a = &s->pol->auth;
	char			 key[AUTH_IDENTITY_MAX + 3];
	uint64_t		 now = now_ms(), lock;
	bool			 counts;

	metrics_add(M_AUTH_FAILED, 1);
	log_warnx("auth: session %" PRIu64 " %s listener %s: refused "
	    "username \"%s\" client_id \"%s\": %s", s->id, s->peer,
	    s->lis->name, s->username, s->client_id, auth_result_str(r));
	counts = r != AUTH_FAIL_LOCKED && r != AUTH_FAIL_BUSY &&
	    r != AUTH_FAIL_ERROR && r != AUTH_FAIL_CLIENT_ID_TAKEN;
	if (counts) {
		snprintf(key, sizeof(key), "a:%s", s->addr);
		if ((lock = auth_guard_fail(s->w->guard, key, now, a)) > 0) {
			metrics_add(M_AUTH_LOCKOUTS, 1);
			log_warnx("auth: address %s locked out for %" PRIu64
			    "s after %u failures", s->addr, lock / 1000,
			    a->lockout_failures);
		}
	}
	if (counts && (r == AUTH_FAIL_BAD_PASSWORD ||
	    r == AUTH_FAIL_UNKNOWN_USER) && s->dec.identity[0] != '\0') {
		snprintf(key, sizeof(key), "u:%s", s->dec.identity);
		if ((lock = auth_guard_fail(s->w->guard, key, now, a)) > 0) {
			metrics_add(M_AUTH_LOCKOUTS, 1);
			log_warnx("auth: user \"%s\" locked out for %" PRIu64
			    "s after %u failures", s->dec.identity,
			    lock / 1000, a->lockout_failures);
		}
	}
	s->refusal = r;
	s->state = SS_REFUSING;
	evtimer_del(s->timer);
	if (counts && a->tarpit_ms > 0)
		set_timer(s, a->tarpit_ms);
	else
		refuse_connect(s, auth_reason(r), auth_result_str(r));
}

static void
on_connack(struct session *s, const struct codec_packet *pkt)
{
	if (pkt->reason == 0) {
		s->connack_ok = true;
		log_info("session %" PRIu64 " %s: connected to broker, client_id"
		    " \"%s\"%s", s->id, s->peer, s->client_id,
		    pkt->session_present ? " (session present)" : "");
	} else
		log_info("session %" PRIu64 " %s: broker refused CONNECT: "
		    "reason 0x%02x", s->id, s->peer, pkt->reason);
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

	bufferevent_enable(s->up, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect_hostname(s->up, s->w->dns, AF_UNSPEC,
	    u->host, u->port) == -1 && s->state == SS_OPEN &&
	    !s->up_connected)
		upstream_failed(s, "connect failed");
}

/* The broker cannot be reached: tell the client as a broker would. */
static void
upstream_failed(struct session *s, const char *why)
{
	log_warnx("session %" PRIu64 " %s: upstream %s:%u: %s", s->id,
	    s->peer, s->pol->upstream.host, s->pol->upstream.port, why);
	metrics_add(M_UPSTREAM_CONNECT_FAILED, 1);
	if (s->up != NULL) {
		bufferevent_free(s->up);
		s->up = NULL;
	}
	refuse_connect(s, 0x88, "cannot reach the broker");
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
		bufferevent_write(s->down, buf, n);
	log_warnx("session %" PRIu64 " %s: CONNECT refused (reason 0x%02x): "
	    "%s", s->id, s->peer, level == CODEC_V5 ? reason :
	    codec_connack_v3(reason), why);
	session_close(s, why, true);
}

/* 5.0 DISCONNECT to the client, only after a successful CONNACK. */
static void
send_disconnect(struct session *s, uint8_t reason)
{
	uint8_t	buf[16];
	size_t	n;

	if (s->cs.level != CODEC_V5 || !s->connack_ok || s->down == NULL)
		return;
	n = codec_encode_disconnect(buf, sizeof(buf), CODEC_V5, reason, NULL);
	if (n > 0 && n <= sizeof(buf))
		bufferevent_write(s->down, buf, n);
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
	log_warnx("session %" PRIu64 " %s: %s %s refused, client_id \"%s\": "
	    "%s", s->id, s->peer, dir_name[dir],
	    type ? codec_type_str(type) : "frame", s->client_id,
	    codec_err_str(pkt->err));
	if (dir == CODEC_FROM_SERVER) {
		send_disconnect(s, 0x83);	/* implementation error */
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
	send_disconnect(s, rc);
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
	unsigned	max = s->L->max_keepalive_ms / 1000;
	unsigned	k = asked == 0 || asked > max ? max : asked;
	struct timeval	tv = { (time_t)(k + k / 2), (k % 2) * 500000 };

	s->keepalive_asked = asked;
	s->keepalive = (uint16_t)k;
	bufferevent_set_timeouts(s->down, &tv, NULL);
}

/*
 * The broker accepted a 5.0 client: the CONNACK it gets tells it the
 * proxy's limits too, as 5.0 lets a server: the Maximum Packet Size the
 * proxy accepts, the Receive Maximum (limits.max_inflight) and the Topic
 * Alias Maximum (limits.max_topic_aliases) it enforces, each when smaller
 * than the broker's, and the Server Keep Alive the proxy enforces (when
 * not what the client asked for; the broker's own, if lower, wins and is
 * enforced).
 */
static int
amend_connack(struct session *s, struct evbuffer *in,
    const struct codec_packet *pkt)
{
	struct codec_connack_amend	 am;
	struct codec_alias		*ca = &s->cs.alias[CODEC_FROM_CLIENT];
	uint16_t			 ka = s->keepalive;
	uint8_t				*buf;
	size_t				 n;

	if (CODEC_PROP_HAS(&pkt->props, CODEC_PROP_SERVER_KEEP_ALIVE) &&
	    pkt->props.server_keep_alive > 0 &&
	    pkt->props.server_keep_alive < ka) {
		uint16_t	asked = s->keepalive_asked;

		ka = pkt->props.server_keep_alive;
		keepalive_start(s, ka);
		s->keepalive_asked = asked;
	}
	memset(&am, 0, sizeof(am));
	am.max_packet = s->L->max_packet > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)s->L->max_packet;
	am.receive_max = (uint16_t)s->L->max_inflight;
	am.topic_alias_max = (uint16_t)s->L->max_topic_aliases;
	am.keepalive = ka != s->keepalive_asked ? ka : 0;
	/* The client's aliases are held to what it is told. */
	if (am.topic_alias_max > 0 && ca->max > am.topic_alias_max)
		ca->max = am.topic_alias_max;
	n = codec_encode_connack_amended(NULL, 0, pkt, &am);
	if (n == 0 || (buf = malloc(n)) == NULL) {
		session_close(s, "cannot amend CONNACK", false);
		return -1;
	}
	codec_encode_connack_amended(buf, n, pkt, &am);
	reply(s, CODEC_FROM_CLIENT, buf, n);
	free(buf);
	evbuffer_drain(in, pkt->len);
	return 0;
}

/*
 * The audit line of a limit hit by a session: the first at once, then at
 * most one every RATE_LOG_MS, saying how many hits it stands for, so that
 * a flooding client cannot flood the log.
 */
static void
limit_audit(struct session *s, uint64_t now, const char *fmt, ...)
{
	char	what[512];
	va_list	ap;

	s->hits++;
	if (s->hit_logged != 0 && now < s->hit_logged + RATE_LOG_MS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_warnx("limits: session %" PRIu64 " %s: identity \"%s\" client_id "
	    "\"%s\": %s (%" PRIu64 " limit hit%s since the last line)", s->id,
	    s->peer, s->dec.identity, s->client_id, what, s->hits,
	    s->hits == 1 ? "" : "s");
	s->hit_logged = now;
	s->hits = 0;
}

/*
 * The client's rates, for one frame: PUBLISH counts against the message
 * and byte buckets, (UN)SUBSCRIBE against the subscribe bucket; topics and
 * filters must be within the topic bounds.  Returns 0 to go on, 1 when the
 * frame was dropped, 2 when reading is paused until tokens return (the
 * frame stays in the input), -1 when the session ends.
 */
static int
rate_check(struct session *s, struct evbuffer *in,
    const struct codec_packet *pkt)
{
	const struct policy_limits	*l = s->L;
	struct timeval			 tv;
	struct codec_buf		 f;
	const char			*what = "";
	uint64_t			 now, wait = 0;
	size_t				 off = 0;

	if (pkt->type == CODEC_PUBLISH && !topic_within(s,
	    &pkt->u.publish.resolved)) {
		metrics_add(M_RATE_LIMITED, 1);
		log_warnx("limits: session %" PRIu64 " %s: client_id \"%s\": "
		    "topic over limits.max_topic_length or max_topic_levels",
		    s->id, s->peer, s->client_id);
		send_disconnect(s, 0x90);	/* topic name invalid */
		session_close(s, "topic over the policy's bounds", true);
		return -1;
	}
	if (pkt->type == CODEC_SUBSCRIBE || pkt->type == CODEC_UNSUBSCRIBE) {
		while (codec_filter_next(pkt, &off, &f, NULL))
			if (!topic_within(s, &f)) {
				metrics_add(M_RATE_LIMITED, 1);
				log_warnx("limits: session %" PRIu64 " %s: "
				    "client_id \"%s\": filter over the topic "
				    "bounds", s->id, s->peer, s->client_id);
				send_disconnect(s, 0x8F);  /* filter invalid */
				session_close(s, "filter over the policy's "
				    "bounds", true);
				return -1;
			}
	}
	now = now_ms();
	if (pkt->type == CODEC_PUBLISH)
		wait = publish_tokens(s, now, pkt, &what);
	else if ((pkt->type == CODEC_SUBSCRIBE ||
	    pkt->type == CODEC_UNSUBSCRIBE) && l->subscribe_rate > 0) {
		wait = limits_bucket_take(&s->r_subs, now, l->subscribe_rate,
		    l->subscribe_rate, 1);
		what = "limits.subscribe_rate";
	}
	if (wait == 0)
		return 0;

	metrics_add(M_RATE_LIMITED, 1);
	if (pkt->type == CODEC_PUBLISH &&
	    l->rate_action == POLICY_RATE_DISCONNECT) {
		log_warnx("limits: session %" PRIu64 " %s: identity \"%s\" "
		    "client_id \"%s\" publishes over %s: disconnected", s->id,
		    s->peer, s->dec.identity, s->client_id, what);
		send_disconnect(s, 0x96);	/* message rate too high */
		session_close(s, "message rate too high", true);
		return -1;
	}
	if (pkt->type == CODEC_PUBLISH && l->rate_action == POLICY_RATE_DROP &&
	    pkt->u.publish.qos == 0) {
		limit_audit(s, now, "QoS 0 PUBLISH dropped over %s", what);
		evbuffer_drain(in, pkt->len);
		return 1;
	}
	/* Throttle: read nothing more until the tokens are back. */
	limit_audit(s, now, "held to %s", what);
	s->throttled = true;
	bufferevent_disable(s->down, EV_READ);
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(s->rate_ev, &tv);
	return 2;
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
	if ((!s->throttled && !s->inflight_wait) || s->state != SS_OPEN)
		return;
	s->throttled = s->inflight_wait = false;
	if (!s->paused[CODEC_FROM_CLIENT])
		bufferevent_enable(s->down, EV_READ);
	pump(s, CODEC_FROM_CLIENT);
}

/* Takes <cost> from <b> unless <rate> is off; a taking is noted in <t>. */
struct taken {
	struct limits_bucket	*b;
	double			 cost;
};

static uint64_t
take(struct limits_bucket *b, uint64_t now, double rate, double burst,
    double cost, struct taken *t, size_t *n)
{
	uint64_t	wait;

	if (rate <= 0)
		return 0;
	if ((wait = limits_bucket_take(b, now, rate, burst > 0 ? burst : rate,
	    cost)) == 0) {
		t[*n].b = b;
		t[(*n)++].cost = cost;
	}
	return wait;
}

/*
 * The tokens of one PUBLISH, from every bucket it counts against: the
 * connection's message and byte rates, each limits.topic_rates rule its
 * topic matches, then its identity's shared rates.  All or nothing: when
 * one bucket is short, what the others gave is put back.  Returns 0, or
 * the milliseconds to wait with the name of the limit in *what.
 */
static uint64_t
publish_tokens(struct session *s, uint64_t now, const struct codec_packet *pkt,
    const char **what)
{
	const struct policy_limits	*l = s->L;
	const struct codec_buf		*t = &pkt->u.publish.resolved;
	const struct policy_topic_rate	*r;
	struct taken			 tk[2 + 2 * POLICY_TOPIC_RATES_MAX];
	double				 len = (double)pkt->len;
	uint64_t			 wait;
	size_t				 n = 0, i;

	if ((wait = take(&s->r_msgs, now, l->message_rate, l->message_burst,
	    1, tk, &n)) > 0) {
		*what = "limits.message_rate";
		goto short_;
	}
	if ((wait = take(&s->r_bytes, now, (double)l->byte_rate,
	    (double)l->byte_burst, len, tk, &n)) > 0) {
		*what = "limits.byte_rate";
		goto short_;
	}
	for (i = 0; s->r_topics != NULL && i < s->pol->n_topic_rates; i++) {
		r = &s->pol->topic_rates[i];
		if (!limits_topic_match(r->filter, r->filter_len, t->p,
		    t->len))
			continue;
		if ((wait = take(&s->r_topics[2 * i], now, r->message_rate,
		    r->message_burst, 1, tk, &n)) > 0 ||
		    (wait = take(&s->r_topics[2 * i + 1], now,
		    (double)r->byte_rate, (double)r->byte_burst, len, tk,
		    &n)) > 0) {
			*what = "a limits.topic_rates rule";
			goto short_;
		}
	}
	if ((wait = limits_user_take(s->w->limits, s->user, l, now,
	    pkt->len)) > 0) {
		*what = "the identity's limits.user_message_rate or "
		    "user_byte_rate";
		goto short_;
	}
	return 0;
short_:
	while (n > 0) {
		n--;
		tk[n].b->tokens += tk[n].cost;
	}
	return wait;
}

/*
 * The identity is known: its own limits (limits.users, limits.groups)
 * replace the listener's, and its per-user caps count this connection.
 * Over one: 5.0 CONNACK 0x97 (quota exceeded) or 0x9F (connection rate
 * exceeded), 3.x 0x03 (server unavailable).
 */
static int
identity_limits(struct session *s)
{
	const struct policy_limits	*l;
	struct policy_limits		 tmp;
	enum limits_refusal		 r;

	l = policy_limits_for(s->pol, s->lis, s->dec.identity, &tmp);
	if (l == &tmp) {
		if ((s->own_lim = malloc(sizeof(*s->own_lim))) == NULL)
			goto oom;
		*s->own_lim = tmp;
		l = s->own_lim;
	}
	s->L = l;
	s->lim.max_packet = l->max_packet;
	bufferevent_setwatermark(s->down, EV_WRITE, l->output_buffer / 2, 0);
	if (s->pol->n_topic_rates > 0 && (s->r_topics = calloc(2 *
	    s->pol->n_topic_rates, sizeof(*s->r_topics))) == NULL)
		goto oom;
	if (l->max_subscriptions > 0 && (s->subs = limits_subs_new()) == NULL)
		goto oom;
	r = limits_user_admit(s->w->limits, s->dec.identity, l, now_ms(),
	    &s->user);
	if (r == LIMITS_OK)
		return 0;
	metrics_add(M_LIMIT_USER, 1);
	log_warnx("limits: session %" PRIu64 " %s listener %s: refused "
	    "identity \"%s\" client_id \"%s\": %s", s->id, s->peer,
	    s->lis->name, s->dec.identity, s->client_id,
	    limits_refusal_str(r));
	s->state = SS_REFUSING;
	refuse_connect(s, r == LIMITS_USER_RATE ? 0x9F : 0x97,
	    limits_refusal_str(r));
	return -1;
oom:
	s->state = SS_REFUSING;
	refuse_connect(s, 0x88, "out of memory for the identity's limits");
	return -1;
}

/*
 * A QoS 1/2 PUBLISH while limits.max_inflight of the client's are still
 * unfinished.  A 5.0 client was told that Receive Maximum in its CONNACK,
 * so this breaks the protocol: DISCONNECT 0x93.  A 3.x client has no such
 * word: its frame waits, unread, until the broker finishes one (TCP
 * backpressure slows it; nothing is lost).  Returns 1 (waiting) or -1.
 */
static int
inflight_full(struct session *s, const struct codec_packet *pkt)
{
	metrics_add(M_LIMIT_INFLIGHT, 1);
	if (s->cs.level == CODEC_V5) {
		log_warnx("limits: session %" PRIu64 " %s: identity \"%s\" "
		    "client_id \"%s\": PUBLISH id %u over the Receive Maximum "
		    "of %u (limits.max_inflight)", s->id, s->peer,
		    s->dec.identity, s->client_id, pkt->packet_id,
		    s->L->max_inflight);
		send_disconnect(s, 0x93);	/* Receive Maximum exceeded */
		session_close(s, "Receive Maximum exceeded", true);
		return -1;
	}
	if (!s->inflight_wait)
		limit_audit(s, now_ms(), "%u QoS 1/2 PUBLISHes in flight "
		    "(limits.max_inflight): reading paused", s->inflight);
	s->inflight_wait = true;
	bufferevent_disable(s->down, EV_READ);
	return 1;
}

/* The broker finished one of the client's QoS 1/2 PUBLISHes. */
static void
inflight_done(struct session *s)
{
	if (s->inflight > 0)
		s->inflight--;
	if (s->inflight_wait && s->inflight < s->L->max_inflight)
		event_active(s->rate_ev, EV_TIMEOUT, 1);
}

/* A topic or filter within limits.max_topic_length and max_topic_levels. */
static bool
topic_within(const struct session *s, const struct codec_buf *t)
{
	const struct policy_limits	*l = s->L;
	size_t				 i, levels = 1;

	if (l->max_topic_length > 0 && t->len > l->max_topic_length)
		return false;
	if (l->max_topic_levels == 0)
		return true;
	for (i = 0; i < t->len; i++)
		if (t->p[i] == '/' && ++levels > l->max_topic_levels)
			return false;
	return true;
}

/* ---- access control ---------------------------------------------------- */

/*
 * The ACL's word on <action> for <topic>; every denial is an audit line
 * with the deciding rule.
 */
static bool
acl_allow(struct session *s, enum acl_action action,
    const struct codec_buf *topic)
{
	struct acl_subject	who;
	struct acl_verdict	v;

	if (s->pol->acl == NULL)
		return true;
	who.identity = s->dec.identity;
	who.client_id = s->claimed_id != NULL ? (const char *)s->claimed_id :
	    "";
	who.client_id_len = s->claimed_len;
	if (acl_check(s->pol->acl, &who, action, topic->p, topic->len, &v))
		return true;
	metrics_add(M_ACL_DENIED, 1);
	log_warnx("acl: session %" PRIu64 " %s: %s denied to \"%s\" client_id "
	    "\"%s\" topic \"%.*s\"%s, %s %s:%d", s->id, s->peer,
	    acl_action_str(action), s->dec.identity, s->client_id,
	    (int)(topic->len < SESSION_TOPIC_LOG ? topic->len :
	    SESSION_TOPIC_LOG), (const char *)topic->p,
	    topic->len > SESSION_TOPIC_LOG ? "..." : "",
	    v.rule != NULL ? "rule" : "no rule matches, default deny",
	    v.rule != NULL ? v.rule->file : "policy",
	    v.rule != NULL ? v.rule->line : 0);
	return false;
}

/*
 * The ACL between the client and the broker, for one valid frame.  Returns
 * 0 to forward it as it is, 1 when it was consumed here (answered by the
 * proxy, dropped, or rewritten and sent), -1 when the session is ending.
 */
static int
enforce(struct session *s, enum codec_dir dir, struct evbuffer *in,
    struct codec_packet *pkt)
{
	int	r;

	switch (pkt->type) {
	case CODEC_PUBLISH:
		if (acl_allow(s, dir == CODEC_FROM_CLIENT ? ACL_PUBLISH :
		    ACL_READ, &pkt->u.publish.resolved))
			return 0;
		if ((r = deny_publish(s, dir, pkt)) != 1)
			return r;
		evbuffer_drain(in, pkt->len);
		return 1;
	case CODEC_PUBREL:
		/* The end of a QoS 2 flow the proxy answered itself. */
		if (acked_take(s, dir, pkt->packet_id) == 0)
			return 0;
		{
			uint8_t	b[8];
			size_t	n = codec_encode_ack(b, sizeof(b),
			    s->cs.level, CODEC_PUBCOMP, pkt->packet_id, 0,
			    NULL);

			reply(s, dir, b, n);
		}
		evbuffer_drain(in, pkt->len);
		return 1;
	case CODEC_SUBSCRIBE:
		return s->pol->acl != NULL || s->subs != NULL ?
		    filter_subscribe(s, in, pkt) : 0;
	case CODEC_UNSUBSCRIBE:
		if (s->subs != NULL)
			forget_subscriptions(s, pkt);
		return 0;
	case CODEC_SUBACK:
		return s->n_merges > 0 ? merge_suback(s, in, pkt) : 0;
	default:
		return 0;
	}
}

/* Writes a frame the proxy makes back to the side that sent <dir>. */
static void
reply(struct session *s, enum codec_dir dir, const uint8_t *b, size_t n)
{
	struct bufferevent	*bev = side(s, dir);

	if (bev != NULL && n > 0)
		bufferevent_write(bev, b, n);
}

/*
 * A PUBLISH the ACL denies is not forwarded.  Its sender still gets the
 * end of its QoS flow, so nothing stalls: from the client, 5.0 PUBACK or
 * PUBREC 0x87, 3.x as if accepted (or a disconnect, by policy); from the
 * broker, PUBACK or PUBREC as if delivered, so its inflight window moves.
 * A QoS 2 id answered here is remembered to answer its PUBREL.  Returns 1
 * (handled), or -1 when the session ends.
 */
static int
deny_publish(struct session *s, enum codec_dir dir,
    const struct codec_packet *pkt)
{
	uint8_t	b[8], type, rc = 0;
	size_t	n;
	bool	v5 = s->cs.level == CODEC_V5;

	if (dir == CODEC_FROM_CLIENT && !v5 &&
	    s->pol->acl_deny_v3 == POLICY_DENY_DISCONNECT) {
		session_close(s, "PUBLISH denied by the ACL", true);
		return -1;
	}
	if (pkt->u.publish.qos == 0)
		return 1;
	type = pkt->u.publish.qos == 1 ? CODEC_PUBACK : CODEC_PUBREC;
	if (dir == CODEC_FROM_CLIENT && v5)
		rc = 0x87;		/* not authorized */
	else if (type == CODEC_PUBREC &&
	    acked_put(s, dir, pkt->packet_id) == -1) {
		session_close(s, "out of memory", false);
		return -1;
	}
	n = codec_encode_ack(b, sizeof(b), s->cs.level, type, pkt->packet_id,
	    rc, NULL);
	reply(s, dir, b, n);
	return 1;
}

/* The bitmap of QoS 2 ids acknowledged by the proxy, for PUBLISHes of dir. */
static int
acked_put(struct session *s, enum codec_dir dir, uint16_t id)
{
	if (s->acked[dir] == NULL &&
	    (s->acked[dir] = calloc(65536 / 8, 1)) == NULL)
		return -1;
	s->acked[dir][id >> 3] |= (uint8_t)(1 << (id & 7));
	return 0;
}

/* Returns 1 (and forgets it) if <id> was acknowledged by the proxy. */
static int
acked_take(struct session *s, enum codec_dir dir, uint16_t id)
{
	uint8_t	bit = (uint8_t)(1 << (id & 7));

	if (s->acked[dir] == NULL || !(s->acked[dir][id >> 3] & bit))
		return 0;
	s->acked[dir][id >> 3] &= (uint8_t)~bit;
	return 1;
}

/*
 * SUBSCRIBE, filter by filter: the ACL, then limits.max_subscriptions (a
 * filter new to the connection needs a free place).  All allowed:
 * forwarded unchanged.  None: answered here (3.x 0x80; 5.0 0x87 not
 * authorized, 0x97 quota exceeded).  Some: rewritten without the refused
 * ones and sent, its SUBACK merged back later.  Filters counted here are
 * forgotten again if the broker refuses them.
 */
static int
filter_subscribe(struct session *s, struct evbuffer *in,
    struct codec_packet *pkt)
{
	struct sub_merge	*m;
	struct codec_buf	 f;
	uint8_t			*codes = NULL, *buf = NULL, *added = NULL, opts;
	bool			*keep = NULL, v5 = s->cs.level == CODEC_V5;
	size_t			 off = 0, i, n = pkt->u.list.count, len;
	size_t			 denied = 0, alen = 0, k, flen;
	int			 rc = -1, a;

	if ((codes = calloc(n, 1)) == NULL || (keep = calloc(n,
	    sizeof(*keep))) == NULL || (s->subs != NULL && (added =
	    malloc(pkt->len + 4 * n)) == NULL))
		goto oom;
	for (i = 0; i < n && codec_filter_next(pkt, &off, &f, &opts); i++) {
		keep[i] = acl_allow(s, ACL_SUBSCRIBE, &f);
		if (keep[i] && s->subs != NULL &&
		    !limits_subs_has(s->subs, f.p, f.len)) {
			if (limits_subs_count(s->subs) >=
			    s->L->max_subscriptions) {
				metrics_add(M_LIMIT_SUBSCRIPTIONS, 1);
				limit_audit(s, now_ms(), "filter \"%.*s\"%s "
				    "refused: %u subscriptions "
				    "(limits.max_subscriptions)", (int)(f.len <
				    SESSION_TOPIC_LOG ? f.len :
				    SESSION_TOPIC_LOG), (const char *)f.p,
				    f.len > SESSION_TOPIC_LOG ? "..." : "",
				    s->L->max_subscriptions);
				keep[i] = false;
				codes[i] = v5 ? 0x97 : 0x80;
			} else if ((a = limits_subs_add(s->subs, f.p,
			    f.len)) == -1)
				goto oom;
			else if (a == 1) {
				added[alen++] = (uint8_t)(i >> 8);
				added[alen++] = (uint8_t)i;
				added[alen++] = (uint8_t)(f.len >> 8);
				added[alen++] = (uint8_t)f.len;
				memcpy(added + alen, f.p, f.len);
				alen += f.len;
			}
		}
		if (!keep[i]) {
			if (codes[i] == 0)
				codes[i] = v5 ? 0x87 : 0x80;
			denied++;
		}
	}
	if (denied == 0 && alen == 0) {
		rc = 0;
		goto done;
	}
	if (denied < n && s->n_merges == s->cap_merges &&
	    s->cap_merges < SESSION_MERGES_MAX) {
		unsigned	 cap = s->cap_merges ? s->cap_merges * 2 : 2;
		struct sub_merge *nm = reallocarray(s->merges, cap,
				    sizeof(*nm));

		if (nm == NULL)
			goto oom;
		s->merges = nm;
		s->cap_merges = cap;
	}
	if (denied == n || s->n_merges == s->cap_merges) {
		/*
		 * Answer it here; with no room to merge, refuse it whole
		 * and forget what it counted.
		 */
		for (k = 0; k < alen; k += 4 + flen) {
			flen = (size_t)added[k + 2] << 8 | added[k + 3];
			limits_subs_del(s->subs, added + k + 4, flen);
		}
		for (i = 0; i < n; i++)
			if (codes[i] == 0)
				codes[i] = v5 ? 0x87 : 0x80;
		len = codec_encode_suback(NULL, 0, s->cs.level, CODEC_SUBACK,
		    pkt->packet_id, codes, n);
		if ((buf = malloc(len)) == NULL)
			goto oom;
		codec_encode_suback(buf, len, s->cs.level, CODEC_SUBACK,
		    pkt->packet_id, codes, n);
		reply(s, CODEC_FROM_CLIENT, buf, len);
		evbuffer_drain(in, pkt->len);
		rc = 1;
		goto done;
	}
	m = &s->merges[s->n_merges++];
	m->id = pkt->packet_id;
	m->n = (uint16_t)n;
	m->denied = codes;
	m->added = added;
	m->added_len = alen;
	codes = added = NULL;
	if (denied == 0) {
		rc = 0;		/* as it is; the SUBACK is still looked at */
		goto done;
	}
	len = codec_encode_subscribe(NULL, 0, s->cs.level, pkt, keep);
	if (len == 0 || (buf = malloc(len)) == NULL)
		goto oom;
	codec_encode_subscribe(buf, len, s->cs.level, pkt, keep);
	reply(s, CODEC_FROM_SERVER, buf, len);
	evbuffer_drain(in, pkt->len);
	rc = 1;
	goto done;
oom:
	session_close(s, "out of memory filtering SUBSCRIBE", false);
	rc = -1;
done:
	free(codes);
	free(added);
	free(keep);
	free(buf);
	return rc;
}

/* UNSUBSCRIBE: its filters no longer count against max_subscriptions. */
static void
forget_subscriptions(struct session *s, const struct codec_packet *pkt)
{
	struct codec_buf	f;
	size_t			off = 0;

	while (codec_filter_next(pkt, &off, &f, NULL))
		limits_subs_del(s->subs, f.p, f.len);
}

/*
 * The broker's SUBACK for a filtered SUBSCRIBE: its codes go back in the
 * places of the allowed filters, the failure codes in those of the denied
 * ones, and the client gets one SUBACK for what it sent.
 */
static int
merge_suback(struct session *s, struct evbuffer *in,
    const struct codec_packet *pkt)
{
	struct sub_merge	*m = NULL;
	const uint8_t		*bc = pkt->u.list.list.p;
	uint8_t			*codes, *buf;
	size_t			 i, j = 0, len, k, flen;

	for (k = 0; k < s->n_merges; k++)
		if (s->merges[k].id == pkt->packet_id) {
			m = &s->merges[k];
			break;
		}
	if (m == NULL)
		return 0;
	codes = m->denied;
	for (i = 0; i < m->n; i++) {
		if (codes[i] != 0)
			continue;
		/* A broker that answers fewer codes than it was sent fails. */
		codes[i] = j < pkt->u.list.count ? bc[j] : 0x80;
		j++;
	}
	/* A filter the broker refused holds no place. */
	for (k = 0; k < m->added_len; k += 4 + flen) {
		i = (size_t)m->added[k] << 8 | m->added[k + 1];
		flen = (size_t)m->added[k + 2] << 8 | m->added[k + 3];
		if (i < m->n && codes[i] >= 0x80)
			limits_subs_del(s->subs, m->added + k + 4, flen);
	}
	len = codec_encode_suback(NULL, 0, s->cs.level, CODEC_SUBACK,
	    pkt->packet_id, codes, m->n);
	if ((buf = malloc(len)) == NULL) {
		session_close(s, "out of memory merging SUBACK", false);
		return -1;
	}
	codec_encode_suback(buf, len, s->cs.level, CODEC_SUBACK,
	    pkt->packet_id, codes, m->n);
	reply(s, CODEC_FROM_CLIENT, buf, len);
	free(buf);
	free(m->denied);
	free(m->added);
	*m = s->merges[--s->n_merges];
	evbuffer_drain(in, pkt->len);
	return 1;
}

/* ---- events ------------------------------------------------------------ */

/*
 * The output fed by direction <from> drained below its low watermark:
 * resume reading <from>'s side if backpressure had paused it.
 */
static void
drained(struct session *s, enum codec_dir from)
{
	struct bufferevent	*src = side(s, from);

	if (s->state == SS_CLOSING) {
		finish_flush(s);
		return;
	}
	if (s->paused[from] && src != NULL) {
		s->paused[from] = false;
		bufferevent_enable(src, EV_READ);
		pump(s, from);
	}
}

static void
down_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	drained(arg, CODEC_FROM_SERVER);
}

static void
up_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	drained(arg, CODEC_FROM_CLIENT);
}

static void
down_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 ebuf[160];
	unsigned long	 e;

	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done. */
		if (s->state == SS_HANDSHAKE) {
			SSL	*ssl = bufferevent_openssl_get_ssl(bev);

			s->state = SS_CONNECT;
			set_timer(s, s->L->connect_timeout_ms);
			log_debug("session %" PRIu64 " %s: TLS %s %s", s->id,
			    s->peer, SSL_get_version(ssl),
			    SSL_get_cipher_name(ssl));
			pump(s, CODEC_FROM_CLIENT);
		}
		return;
	}
	if (s->state == SS_CLOSING) {
		/* EOF after our FIN, or the client is gone: either way done. */
		side_done(s, CODEC_FROM_CLIENT);
		finish_flush(s);
		return;
	}
	if (s->state == SS_HANDSHAKE && (what & (BEV_EVENT_ERROR |
	    BEV_EVENT_EOF))) {
		const char	*verr;

		e = bufferevent_get_openssl_error(bev);
		verr = tls_verify_error(bufferevent_openssl_get_ssl(bev));
		if (e != 0)
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
		else
			snprintf(ebuf, sizeof(ebuf), "%s", errno ?
			    strerror(errno) : "connection closed");
		metrics_add(M_TLS_HANDSHAKE_FAILED, 1);
		log_warnx("session %" PRIu64 " %s: TLS handshake failed: %s%s%s",
		    s->id, s->peer, ebuf, verr != NULL ?
		    ": client certificate: " : "", verr != NULL ? verr : "");
		session_close(s, "TLS handshake failed", false);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		metrics_add(M_KEEPALIVE_EXPIRED, 1);
		log_warnx("session %" PRIu64 " %s: nothing from client_id \"%s\" "
		    "for 1.5 x %us: keepalive expired", s->id, s->peer,
		    s->client_id, s->keepalive);
		send_disconnect(s, 0x8D);	/* keep alive timeout */
		session_close(s, "keepalive expired", true);
		return;
	}
	if (what & BEV_EVENT_EOF)
		session_close(s, "client closed the connection", true);
	else
		session_close(s, "client connection error", true);
}

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	const char	*tlserr;
	char		 ebuf[256];
	int		 err;

	if (what & BEV_EVENT_CONNECTED) {
		s->up_connected = true;
		if (s->state == SS_OPEN)
			evtimer_del(s->timer);
		log_debug("session %" PRIu64 " %s: upstream connected", s->id,
		    s->peer);
		return;
	}
	if (!s->up_connected && s->state == SS_OPEN) {
		err = bufferevent_socket_get_dns_error(s->up);
		tlserr = tls_connect_error(bufferevent_openssl_get_ssl(bev),
		    bufferevent_get_openssl_error(bev), ebuf, sizeof(ebuf));
		upstream_failed(s, err ? evutil_gai_strerror(err) :
		    tlserr != NULL ? tlserr : errno ? strerror(errno) :
		    "connection failed");
		return;
	}
	if (s->state == SS_CLOSING) {
		side_done(s, CODEC_FROM_SERVER);
		finish_flush(s);
		return;
	}
	/* TLS 1.3: a broker refusing our certificate says so only now. */
	if ((tlserr = tls_connect_error(bufferevent_openssl_get_ssl(bev),
	    bufferevent_get_openssl_error(bev), ebuf, sizeof(ebuf))) != NULL)
		log_warnx("session %" PRIu64 " %s: upstream %s:%u: %s", s->id,
		    s->peer, s->pol->upstream.host, s->pol->upstream.port,
		    tlserr);
	session_close(s, (what & BEV_EVENT_EOF) ?
	    "broker closed the connection" : "broker connection error", true);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)what;
	switch (s->state) {
	case SS_REFUSING:
		refuse_connect(s, auth_reason(s->refusal),
		    auth_result_str(s->refusal));
		break;
	case SS_HANDSHAKE:
		metrics_add(M_CONNECT_TIMEOUT, 1);
		log_warnx("session %" PRIu64 " %s: no TLS handshake within "
		    "%ums", s->id, s->peer,
		    s->L->tls_handshake_timeout_ms);
		session_close(s, "TLS handshake deadline passed", false);
		break;
	case SS_CONNECT:
	case SS_AUTH:
		metrics_add(M_CONNECT_TIMEOUT, 1);
		log_warnx("session %" PRIu64 " %s: no CONNECT within %ums",
		    s->id, s->peer, s->L->connect_timeout_ms);
		session_close(s, "CONNECT deadline passed", false);
		break;
	case SS_OPEN:
		if (!s->up_connected)
			upstream_failed(s, "connect timeout");
		break;
	case SS_CLOSING:
		session_dead(s);
		break;
	case SS_DEAD:
		break;
	}
}

/* ---- closing ----------------------------------------------------------- */

void
session_close(struct session *s, const char *reason, bool flush)
{
	if (s->state == SS_DEAD)
		return;
	if (s->reason == NULL)
		s->reason = reason;
	if (s->state == SS_CLOSING) {
		if (!flush)
			session_dead(s);
		return;
	}
	if (!flush) {
		session_dead(s);
		return;
	}
	s->state = SS_CLOSING;
	bufferevent_disable(s->down, EV_READ);
	bufferevent_setwatermark(s->down, EV_WRITE, 0, 0);
	bufferevent_enable(s->down, EV_WRITE);
	if (s->up != NULL) {
		bufferevent_disable(s->up, EV_READ);
		bufferevent_setwatermark(s->up, EV_WRITE, 0, 0);
		bufferevent_enable(s->up, EV_WRITE);
	}
	set_timer(s, SESSION_LINGER_MS);
	finish_flush(s);
}

/*
 * A side is finished while closing: its peer closed (after our FIN, or on
 * its own), or failed.  Nothing more can be delivered to it.
 */
static void
side_done(struct session *s, enum codec_dir dir)
{
	struct bufferevent	*bev = side(s, dir);

	s->done[dir] = true;
	if (bev == NULL)
		return;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	evbuffer_drain(bufferevent_get_output(bev),
	    evbuffer_get_length(bufferevent_get_output(bev)));
}

/*
 * Sends FIN on a side whose output has drained (TLS: close_notify first),
 * then keeps reading and discarding until the peer closes too.  Closing a
 * socket with unread bytes would send a reset instead, and a reset makes
 * the peer's kernel drop what its application has not read yet: the
 * broker would lose the last PUBLISH before a DISCONNECT.
 */
static void
half_close(struct session *s, enum codec_dir dir)
{
	struct bufferevent	*bev = side(s, dir);
	SSL			*ssl;
	int			 fd;

	s->shut[dir] = true;
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL &&
	    SSL_is_init_finished(ssl)) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
	fd = bufferevent_getfd(bev);
	if (fd == -1 || shutdown(fd, SHUT_WR) == -1) {
		side_done(s, dir);
		return;
	}
	bufferevent_setcb(bev, discard_cb, NULL, dir == CODEC_FROM_CLIENT ?
	    down_event_cb : up_event_cb, s);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_enable(bev, EV_READ);
}

/*
 * Called while closing whenever something changes: an output drained, a
 * peer closed.  Each side whose output is empty is half-closed; when both
 * sides are finished the session is dead.  The linger timer bounds it all.
 */
static void
finish_flush(struct session *s)
{
	enum codec_dir	 dir;
	struct bufferevent *bev;

	if (s->state != SS_CLOSING)
		return;
	if (s->up == NULL || !s->up_connected)
		s->done[CODEC_FROM_SERVER] = true;
	for (dir = CODEC_FROM_CLIENT; dir <= CODEC_FROM_SERVER; dir++) {
		bev = side(s, dir);
		if (s->done[dir] || s->shut[dir] || bev == NULL)
			continue;
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			half_close(s, dir);
	}
	if (s->done[CODEC_FROM_CLIENT] && s->done[CODEC_FROM_SERVER])
		session_dead(s);
}

static void
discard_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Takes the session off the live list; the worker frees it soon. */
static void
session_dead(struct session *s)
{
	struct timeval	now;
	double		secs;

	if (s->state == SS_DEAD)
		return;
	s->state = SS_DEAD;
	evtimer_del(s->timer);
	bufferevent_disable(s->down, EV_READ | EV_WRITE);
	if (s->up != NULL)
		bufferevent_disable(s->up, EV_READ | EV_WRITE);
	gettimeofday(&now, NULL);
	secs = (double)(now.tv_sec - s->started.tv_sec) +
	    (double)(now.tv_usec - s->started.tv_usec) / 1e6;
	log_info("session %" PRIu64 " %s: closed: %s (client_id \"%s\", "
	    "frames in %" PRIu64 " out %" PRIu64 ", bytes in %" PRIu64
	    " out %" PRIu64 ", %.1fs)", s->id, s->peer,
	    s->reason ? s->reason : "closed", s->client_id,
	    s->frames[CODEC_FROM_CLIENT], s->frames[CODEC_FROM_SERVER],
	    s->bytes[CODEC_FROM_CLIENT], s->bytes[CODEC_FROM_SERVER], secs);
	metrics_add(M_CONN_CLOSED, 1);
	metrics_add(M_CONN_ACTIVE, -1);
	evtimer_del(s->rate_ev);
	limits_release(s->w->limits, &s->lis->limits, &s->lc);
	limits_user_release(s->w->limits, s->user);
	s->user = NULL;
	if (s->claimed)
		auth_registry_release(s->w->guard, (const uint8_t *)
		    s->claimed_id, s->claimed_len, s->persistent);
	TAILQ_REMOVE(&s->w->sessions, s, entry);
	TAILQ_INSERT_TAIL(&s->w->dead, s, entry);
	s->w->n_sessions--;
	worker_reap(s->w);
}

static void
session_shutdown(struct session *s)
{
	if (s->state == SS_DEAD || s->state == SS_CLOSING)
		return;
	send_disconnect(s, 0x8B);	/* server shutting down */
	session_close(s, "mqttguard is stopping", true);
}

void
session_shutdown_all(struct worker *w)
{
	struct session	*s, *next;

	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_shutdown(s);
	}
}

void
session_close_all(struct worker *w)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&w->sessions)) != NULL)
		session_close(s, "mqttguard stopped", false);
}

static void
session_free(struct session *s)
{
	if (s->down != NULL)
		bufferevent_free(s->down);
	if (s->up != NULL)
		bufferevent_free(s->up);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->rate_ev != NULL)
		event_free(s->rate_ev);
	codec_session_fini(&s->cs);
	if (s->connect != NULL) {
		OPENSSL_cleanse(s->connect, s->connect_len);
		free(s->connect);
	}
	free(s->claimed_id);
	free(s->acked[0]);
	free(s->acked[1]);
	while (s->n_merges > 0) {
		s->n_merges--;
		free(s->merges[s->n_merges].denied);
		free(s->merges[s->n_merges].added);
	}
	free(s->merges);
	free(s->r_topics);
	limits_subs_free(s->subs);
	free(s->own_lim);
	policy_unref(s->pol);
	free(s);
}

/* A session whose password check is still running waits for it. */
void
session_reap(struct worker *w)
{
	struct session	*s, *next;

	for (s = TAILQ_FIRST(&w->dead); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->job != NULL)
			continue;
		TAILQ_REMOVE(&w->dead, s, entry);
		session_free(s);
	}
}
