/* SPDX-License-Identifier: ISC */
/*
 * session_ctx — what the sessions of one event loop share, and what is
 * done to all of them: freeing dead sessions at a safe point, the mailbox
 * through which password checks come back from the pool's threads, the
 * TLS contexts new connections are made from, a reloaded policy swapped
 * in between two frames, and the ends of the daemon (a drain spread over
 * time, or everything at once).
 *
 * Everything here runs on the loop's thread, except
 * session_ctx_auth_post(), called on a pool thread, which only queues the
 * job under auth_mtx and wakes the loop.  One session's frame path and
 * close path are session.c's.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "mqttguard/enforce.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/session_priv.h"
#include "mqttguard/tls.h"
#include "mqttguard/util.h"

#define SESSION_SPREAD_TICK_MS	50	/* shutdown.spread's pace */
#define SESSION_REAP_PER_TURN	256	/* dead sessions freed a turn */
#define SESSION_TRIM_AFTER	256	/* sessions freed before a trim */
#define SESSION_TRIM_DELAY_MS	1000	/* from the first of them */

static void	auth_cb(evutil_socket_t, short, void *);
static void	reap_cb(evutil_socket_t, short, void *);
static void	trim_cb(evutil_socket_t, short, void *);
static void	drain_cb(evutil_socket_t, short, void *);
static void	session_reap(struct session_ctx *, unsigned);
static int	session_rebind(struct session *, struct policy *,
		    const struct policy_listener *, unsigned);
static void	evict_log(struct session_ctx *, const struct session *,
		    unsigned);

/* On a pool thread: hand the finished check to the session's loop. */
void
session_ctx_auth_post(struct auth_job *job)
{
	struct session		*s = job->arg;
	struct session_ctx	*ctx = s->ctx;

	pthread_mutex_lock(&ctx->auth_mtx);
	TAILQ_INSERT_TAIL(&ctx->auth_done, job, entry);
	pthread_mutex_unlock(&ctx->auth_mtx);
	event_active(ctx->auth_ev, EV_READ, 0);
}

int
session_ctx_evict(struct session_ctx *ctx, const struct policy_listener *lis,
    const struct sockaddr *sa)
{
	struct session	*s;
	uint8_t		 net[17];
	unsigned	 count = 0;

	if (sa != NULL)
		limits_network_key(sa, &lis->limits, net);
	if ((s = limits_pending_victim(ctx->pending, sa != NULL ? net : NULL,
	    &count)) == NULL)
		return -1;
	evict_log(ctx, s, count);
	metrics_add(M_EVICTED, 1);
	s->quiet = true;
	session_close(s, "evicted: its network held the most connections "
	    "not yet authenticated (limits.max_unauthenticated)", false);
	return 0;
}

/*
 * One line a second at most: the network that lost a connection, how many
 * it held in this loop, and the evictions since the last line.
 */
static void
evict_log(struct session_ctx *ctx, const struct session *s, unsigned count)
{
	uint64_t		now = util_now_ms();
	struct log_field	f[4];
	char			net[INET6_ADDRSTRLEN + 8];
	const uint8_t		*k = s->lc.net;
	bool			v4 = k[10] == 0xff && k[11] == 0xff;

	if (ctx->evict_logged != 0 && now - ctx->evict_logged < 1000) {
		ctx->evict_quiet++;
		return;
	}
	if (inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? k + 12 : k, net,
	    INET6_ADDRSTRLEN) == NULL)
		snprintf(net, sizeof(net), "?");
	else
		snprintf(net + strlen(net), 8, "/%u", v4 ?
		    s->lis->limits.network_v4 : s->lis->limits.network_v6);
	f[0] = (struct log_field)LOG_STR("network", net);
	f[1] = (struct log_field)LOG_STR("listener", s->lis->name);
	f[2] = (struct log_field)LOG_UINT("network_pending", count);
	f[3] = (struct log_field)LOG_UINT("not_logged", ctx->evict_quiet);
	log_event(LOG_LVL_WARN, "limit.evict", f, 4, "limits: listener %s: "
	    "connections not yet authenticated at the limit: closed the "
	    "oldest from %s, which held %u of this loop's (%" PRIu64
	    " more evictions not logged)", s->lis->name, net, count,
	    ctx->evict_quiet);
	ctx->evict_logged = now;
	ctx->evict_quiet = 0;
}

void
session_ctx_drain(struct session_ctx *ctx, unsigned drain_ms,
    unsigned spread_ms)
{
	struct timeval	tv = { drain_ms / 1000, (drain_ms % 1000) * 1000 };

	ctx->stopping = true;
	ctx->spread_ms = spread_ms;
	ctx->spread_total = ctx->spread_closed = 0;
	if (ctx->n_sessions == 0) {
		ctx->on_empty(ctx->on_empty_arg);
		return;
	}
	evtimer_add(ctx->drain_ev, &tv);
}

/*
 * The drain is over: the sessions left are ended one after the other,
 * evenly over the spread: the i-th of n at (i - 1) / n of it.  Each tick
 * ends those that are due.
 */
static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*ctx = arg;
	struct timeval		 tv = { 0, SESSION_SPREAD_TICK_MS * 1000 };
	struct session		*s, *next;
	uint64_t		 now = util_now_ms(), due;

	(void)fd;
	(void)what;
	if (ctx->spread_total == 0) {		/* the drain's end */
		ctx->spread_start = now;
		TAILQ_FOREACH(s, &ctx->sessions, entry)
			ctx->spread_total += s->state != SS_CLOSING;
		if (ctx->spread_total == 0)
			return;
	}
	due = ctx->spread_ms == 0 ? ctx->spread_total :
	    ctx->spread_total * (now - ctx->spread_start) / ctx->spread_ms + 1;
	for (s = TAILQ_FIRST(&ctx->sessions); s != NULL &&
	    ctx->spread_closed < due; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SS_CLOSING)
			continue;
		session_shutdown(s);
		ctx->spread_closed++;
	}
	if (ctx->spread_closed < ctx->spread_total && s != NULL)
		evtimer_add(ctx->drain_ev, &tv);
}

void
session_shutdown_all(struct session_ctx *ctx)
{
	struct session	*s, *next;

	ctx->stopping = true;
	evtimer_del(ctx->drain_ev);
	for (s = TAILQ_FIRST(&ctx->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_shutdown(s);
	}
	if (ctx->n_sessions == 0)
		ctx->on_empty(ctx->on_empty_arg);
}

/*
 * Frees dead sessions, at most <max>; one whose password check still runs
 * waits for it.  When thousands close at once, the rest are left to the
 * next turn of the loop (reap_ev as a timer of zero, which fires after
 * the next poll), so that the live sessions' I/O is served in between.
 */
static void
session_reap(struct session_ctx *ctx, unsigned max)
{
	struct session	*s, *next;
	unsigned	 n = 0;

	for (s = TAILQ_FIRST(&ctx->dead); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->job != NULL)
			continue;
		if (n++ == max) {
			struct timeval	zero = { 0, 0 };

			event_add(ctx->reap_ev, &zero);	/* after a poll */
			break;
		}
		TAILQ_REMOVE(&ctx->dead, s, entry);
		session_free(s);
		ctx->freed++;
	}
	if (ctx->freed >= SESSION_TRIM_AFTER && ctx->trim_ev != NULL &&
	    !evtimer_pending(ctx->trim_ev, NULL)) {
		struct timeval	tv = { SESSION_TRIM_DELAY_MS / 1000,
				    (SESSION_TRIM_DELAY_MS % 1000) * 1000 };

		evtimer_add(ctx->trim_ev, &tv);
	}
}

/*
 * Many sessions were freed (a mass disconnect): glibc keeps what free()
 * got back in its arenas, most of it in the middle of the heap where the
 * automatic trim at the top never reaches, so a burst of 9 000 TLS
 * sessions leaves well over 100 MB resident after they are gone.
 * malloc_trim() hands the free pages back (madvise) in every arena.  It
 * walks the arenas under their locks, so it runs from a timer a second
 * after the burst began, then every second while sessions go on being
 * freed by the SESSION_TRIM_AFTER, once more for the burst's tail, never
 * from a session's own path.
 */
static void
trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*ctx = arg;
	struct timeval		 tv = { SESSION_TRIM_DELAY_MS / 1000,
				    (SESSION_TRIM_DELAY_MS % 1000) * 1000 };
	unsigned		 n = ctx->freed;

	(void)fd;
	(void)what;
	ctx->freed = 0;
	if (n == 0)
		return;
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
	/* Still a burst: once more a second later, for its tail. */
	if (n >= SESSION_TRIM_AFTER)
		evtimer_add(ctx->trim_ev, &tv);
}

/*
 * An event of its own, run after the callback that closed a session has
 * returned, so that no callback ever runs on freed memory.
 */
static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*ctx = arg;

	(void)fd;
	(void)what;
	session_reap(ctx, SESSION_REAP_PER_TURN);
	if (ctx->stopping && ctx->n_sessions == 0)
		ctx->on_empty(ctx->on_empty_arg);
}

/* ---- the context ------------------------------------------------------- */

void
session_ctx_set_policy(struct session_ctx *ctx, struct policy *pol,
    const int *map, size_t n, struct session_reload_stats *st)
{
	struct session	*s, *next;
	struct policy	*old = ctx->pol;
	size_t		 i;

	memset(st, 0, sizeof(*st));
	ctx->pol = policy_ref(pol);
	for (s = TAILQ_FIRST(&ctx->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->state == SS_CLOSING || s->state == SS_DEAD)
			continue;
		i = (size_t)(s->lis - s->pol->listeners);
		if (i >= n || map[i] < 0) {
			st->drained++;
			session_send_disconnect(s, 0x8B);	/* server shutting down */
			session_close(s, "its listener was removed by a "
			    "reload", true);
			continue;
		}
		if (session_rebind(s, pol, &pol->listeners[map[i]],
		    (unsigned)map[i]) == 0)
			st->moved++;
		else
			st->revoked++;
	}
	policy_unref(old);
}

/*
 * One session under the new policy <pol>, on its listener <lis> at index
 * <idx>.  An identity no longer allowed ends the session (5.0: DISCONNECT
 * 0x98, administrative action).  0 when it goes on, -1 when it closes.
 */
static int
session_rebind(struct session *s, struct policy *pol,
    const struct policy_listener *lis, unsigned idx)
{
	enum auth_result	 r = AUTH_OK;
	char			 why[256];
	SSL			*ssl;

	why[0] = '\0';
	if (s->es.decided) {
		r = auth_recheck(pol, lis, &s->dec, s->es.client_id,
		    s->es.client_id_len);
		ssl = s->tls && s->down != NULL ? conn_ssl(s->down) : NULL;
		if (r == AUTH_OK && s->dec.by_certificate &&
		    tls_peer_recheck(ssl, s->ctx->ssl_ctx, why,
		    sizeof(why)) == -1)
			r = AUTH_FAIL_CERT_MISSING;
	}
	if (r == AUTH_OK && enforce_rebind(&s->es, pol, lis) == -1) {
		r = AUTH_FAIL_ERROR;
		snprintf(why, sizeof(why), "out of memory");
	}
	if (r != AUTH_OK) {
		log_warnx("reload: session %" PRIu64 " %s: identity \"%s\" "
		    "client_id \"%s\" no longer allowed: %s", s->id, s->peer,
		    s->dec.identity, s->client_id, why[0] != '\0' ? why :
		    auth_result_str(r));
		session_send_disconnect(s, 0x98);	/* administrative action */
		session_close(s, "no longer allowed by the policy", true);
		return -1;
	}
	limits_move_listener(s->ctx->limits, &s->lc, idx);
	metrics_session_move(s->lis->index, idx, s->authed);
	policy_unref(s->pol);
	s->pol = policy_ref(pol);
	s->lis = lis;
	s->who.listener = lis->name;
	s->lim.max_packet = s->es.L->max_packet;
	s->lim.reject_control = s->es.L->reject_control_chars;
	s->lim.reject_nonchar = s->es.L->reject_noncharacters;
	s->lim.max_user_props = s->es.L->max_user_properties;
	if (s->down != NULL)	/* else SS_PROXY: set when it is made */
		conn_set_write_lowat(s->down, s->es.L->output_buffer / 2);
	if (s->up != NULL)
		conn_set_write_lowat(s->up, s->es.L->output_buffer / 2);
	return 0;
}

int
session_ctx_init(struct session_ctx *ctx)
{
	TAILQ_INIT(&ctx->sessions);
	TAILQ_INIT(&ctx->dead);
	TAILQ_INIT(&ctx->auth_done);
	pthread_mutex_init(&ctx->auth_mtx, NULL);
	ctx->reap_ev = event_new(ctx->base, -1, 0, reap_cb, ctx);
	ctx->auth_ev = event_new(ctx->base, -1, 0, auth_cb, ctx);
	ctx->drain_ev = evtimer_new(ctx->base, drain_cb, ctx);
	ctx->trim_ev = evtimer_new(ctx->base, trim_cb, ctx);
	ctx->pending = limits_pending_new();
	ctx->io = conn_loop_new(ctx->base);
	if (ctx->reap_ev == NULL || ctx->auth_ev == NULL ||
	    ctx->drain_ev == NULL || ctx->trim_ev == NULL ||
	    ctx->pending == NULL || ctx->io == NULL) {
		conn_loop_free(ctx->io);
		ctx->io = NULL;
		if (ctx->trim_ev != NULL)
			event_free(ctx->trim_ev);
		ctx->trim_ev = NULL;
		if (ctx->reap_ev != NULL)
			event_free(ctx->reap_ev);
		if (ctx->auth_ev != NULL)
			event_free(ctx->auth_ev);
		if (ctx->drain_ev != NULL)
			event_free(ctx->drain_ev);
		ctx->reap_ev = ctx->auth_ev = ctx->drain_ev = NULL;
		limits_pending_free(ctx->pending);
		ctx->pending = NULL;
		pthread_mutex_destroy(&ctx->auth_mtx);
		return -1;
	}
	return 0;
}

void
session_ctx_fini(struct session_ctx *ctx)
{
	struct session	*s;

	auth_cb(-1, 0, ctx);	/* checks returned by the stopped pool */
	/* Sessions left after the grace period: end them now. */
	while ((s = TAILQ_FIRST(&ctx->sessions)) != NULL)
		session_close(s, "mqttguard stopped", false);
	session_reap(ctx, UINT_MAX);
	event_free(ctx->reap_ev);
	event_free(ctx->auth_ev);
	event_free(ctx->drain_ev);
	event_free(ctx->trim_ev);
	ctx->reap_ev = ctx->auth_ev = ctx->drain_ev = ctx->trim_ev = NULL;
	limits_pending_free(ctx->pending);	/* empty by now */
	ctx->pending = NULL;
	conn_loop_free(ctx->io);	/* its conns are freed */
	ctx->io = NULL;
	pthread_mutex_destroy(&ctx->auth_mtx);
	session_ctx_set_tls(ctx, NULL, NULL);
}

void
session_ctx_set_tls(struct session_ctx *ctx, SSL_CTX *ctx_tls,
    SSL_CTX *up_tls)
{
	if (ctx_tls != NULL)
		SSL_CTX_up_ref(ctx_tls);
	if (up_tls != NULL)
		SSL_CTX_up_ref(up_tls);
	SSL_CTX_free(ctx->ssl_ctx);
	SSL_CTX_free(ctx->ssl_upstream_ctx);
	ctx->ssl_ctx = ctx_tls;
	ctx->ssl_upstream_ctx = up_tls;
}

/* On the loop's thread: the verdicts of finished password checks. */
static void
auth_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*ctx = arg;
	TAILQ_HEAD(, auth_job)	 done;
	struct auth_job		*job;

	(void)fd;
	(void)what;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&ctx->auth_mtx);
	TAILQ_CONCAT(&done, &ctx->auth_done, entry);
	pthread_mutex_unlock(&ctx->auth_mtx);
	while ((job = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, job, entry);
		session_auth_done(job);
	}
}
