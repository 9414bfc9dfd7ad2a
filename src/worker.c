/* SPDX-License-Identifier: ISC */
/*
 * worker — threads and the event loops they run.
 *
 * main creates the workers (binding every socket first), starts them, and
 * later drains or stops them (worker_drain(), worker_stop()), hands them
 * a reloaded policy (worker_set_policy()) and sends heartbeats
 * (worker_heartbeat()), the only calls made from another thread: each
 * activates an event of the worker, which libevent delivers on the
 * worker's own thread.  worker_alive() and worker_done() read atomic
 * stamps.  Everything else a worker owns is touched by that thread
 * alone.  The sessions themselves are session.c's and session_ctx.c's
 * (struct session_ctx); the listening sockets listener.c's.
 */
#include <stdatomic.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "mqttguard/listener.h"
#include "mqttguard/log.h"
#include "mqttguard/session.h"
#include "mqttguard/util.h"
#include "mqttguard/worker.h"

#define WORKER_STOP_GRACE_MS	3000	/* flushing sessions at exit */

struct worker {
	unsigned		 id;
	pthread_t		 thread;
	bool			 started;
	atomic_bool		 done;		/* its loop has returned */
	bool			 stopped;	/* stop_cb ran */
	bool			 draining;	/* drain_cb ran */
	unsigned		 drain_ms, spread_ms;	/* for drain_cb */
	struct event_base	*base;		/* owned */
	struct evdns_base	*dns;		/* owned; upstream names */
	struct session_ctx	 sc;		/* its sessions */
	struct limits_hs	*hs;		/* owned; its TLS handshake
						   budget, its listeners' */
	bool			 sc_ready;	/* session_ctx_init() done */
	struct listener		**listeners;	/* owned; n_listeners, each
						   owned; NULL: not listening */
	size_t			 n_listeners;
	struct event		*stop_ev;	/* owned; made active by main */
	struct event		*drain_ev;	/* owned; likewise */
	struct event		*exit_ev;	/* owned; shutdown deadline */
	pthread_mutex_t		 next_mtx;	/* guards next */
	struct worker_next	*next;		/* owned; a reload to apply */
	struct event		*next_ev;	/* owned; applies it */
	struct event		*beat_ev;	/* owned; made active by main */
	_Atomic uint64_t	 beat_ms;	/* when beat_ev last ran */
};

/*
 * A reload for one worker, made on main's thread: the new policy and TLS
 * contexts, and its listeners.  New listener j takes over the socket of
 * old listener reuse[j], or was bound anew into listeners[j]; map[k] is
 * where the sessions of old listener k go (-1: removed).
 */
struct worker_next {
	struct policy		*pol;		/* ref */
	SSL_CTX			*ctx, *upctx;	/* refs; may be NULL */
	struct listener		**listeners;	/* owned; pol->n_listeners */
	int			*reuse;		/* owned; pol->n_listeners */
	int			*map;		/* owned; n_old */
	size_t			 n_old;
};

static struct event_base *base_new(void);
static void	 prewarm_fds(struct event_base *);
static int	 worker_init(struct worker *, unsigned, struct policy *,
		    SSL_CTX *, SSL_CTX *, char *, size_t);
static void	*worker_main(void *);
static void	 stop_cb(evutil_socket_t, short, void *);
static void	 drain_cb(evutil_socket_t, short, void *);
static void	 stop_listening(struct worker *);
static void	 exit_cb(evutil_socket_t, short, void *);
static void	 next_cb(evutil_socket_t, short, void *);
static void	 next_free(struct worker_next *);
static struct worker_next *next_new(struct worker *, struct policy *,
		    const struct policy *, SSL_CTX *, SSL_CTX *, char *, size_t);
static void	 apply_listeners(struct worker *, struct worker_next *);
static void	 beat_cb(evutil_socket_t, short, void *);
static void	 idle(void *);

struct worker *
worker_create(unsigned n, struct policy *pol, SSL_CTX *ctx, SSL_CTX *upctx,
    struct auth_guard *g, struct auth_pool *p, struct limits *lim, char *err,
    size_t errlen)
{
	struct worker	*ws;
	unsigned	 i;

	if ((ws = calloc(n, sizeof(*ws))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++)
		pthread_mutex_init(&ws[i].next_mtx, NULL);
	for (i = 0; i < n; i++) {
		ws[i].sc.guard = g;
		ws[i].sc.pool = p;
		ws[i].sc.limits = lim;
		if (worker_init(&ws[i], i, pol, ctx, upctx, err, errlen) == -1) {
			worker_destroy(ws, n);
			return NULL;
		}
	}
	return ws;
}

/*
 * A loop whose TLS handshakes yield to the established sessions: three
 * priorities, and a return to poll after SESSION_HANDSHAKES_PER_TURN
 * callbacks at the lowest (session.h).  NULL on failure.
 */
#define WORKER_PREWARM_MAX	65536	/* descriptor numbers made ready */

static struct event_base *
base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base = NULL;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	if (event_config_set_max_dispatch_interval(cfg, NULL,
	    SESSION_HANDSHAKES_PER_TURN, SESSION_PRIO_HANDSHAKE) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base != NULL && event_base_priority_init(base,
	    SESSION_PRIORITIES) == -1) {
		event_base_free(base);
		base = NULL;
	}
	return base;
}

/*
 * libevent keeps, for each descriptor number a loop ever watched, a small
 * record it never frees.  Made one by one as connections come, they end
 * up scattered over the heap, and after a mass close each pins a page of
 * free memory that malloc_trim() cannot hand back (about 20 MiB after
 * 3 000 TLS sessions).  Made here, at start, for every number up to the
 * descriptor limit, they sit together at the bottom of the heap: an
 * event added and deleted at once (for a number not open, the add fails
 * after the record is made; either way nothing stays watched).
 */
static void
prewarm_fds(struct event_base *base)
{
	struct rlimit	rl;
	struct event	ev;
	rlim_t		n, fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	n = rl.rlim_cur < WORKER_PREWARM_MAX ? rl.rlim_cur : WORKER_PREWARM_MAX;
	log_libevent_quiet(true);	/* an add on a closed fd warns */
	for (fd = 3; fd < n; fd++) {
		if (event_assign(&ev, base, (evutil_socket_t)fd, EV_READ,
		    NULL, NULL) == -1)
			continue;
		if (event_add(&ev, NULL) == 0)
			(void)event_del(&ev);
	}
	log_libevent_quiet(false);
}

/* One worker: its loop, its session context, its bound listeners. */
static int
worker_init(struct worker *w, unsigned id, struct policy *pol, SSL_CTX *ctx,
    SSL_CTX *upctx, char *err, size_t errlen)
{
	size_t	j;

	w->id = id;
	if ((w->base = base_new()) == NULL) {
		snprintf(err, errlen, "event_base_new failed");
		return -1;
	}
	prewarm_fds(w->base);
	w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (w->dns == NULL)
		w->dns = evdns_base_new(w->base, 0);
	w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
	w->drain_ev = event_new(w->base, -1, 0, drain_cb, w);
	w->exit_ev = evtimer_new(w->base, exit_cb, w);
	w->next_ev = event_new(w->base, -1, 0, next_cb, w);
	w->sc.id = id;
	w->sc.base = w->base;
	w->sc.dns = w->dns;
	w->sc.pol = policy_ref(pol);
	w->sc.on_empty = idle;
	w->sc.on_empty_arg = w;
	if (w->dns == NULL || w->stop_ev == NULL || w->drain_ev == NULL ||
	    w->exit_ev == NULL ||
	    w->next_ev == NULL || session_ctx_init(&w->sc) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->sc_ready = true;
	if ((w->beat_ev = event_new(w->base, -1, 0, beat_cb, w)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	session_ctx_set_tls(&w->sc, ctx, upctx);
	if ((w->hs = limits_hs_new()) == NULL || (w->listeners = calloc(
	    pol->n_listeners, sizeof(*w->listeners))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (j = 0; j < pol->n_listeners; j++) {
		w->n_listeners++;
		if ((w->listeners[j] = calloc(1, sizeof(**w->listeners))) ==
		    NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (listener_init(w->listeners[j], &w->sc, &pol->listeners[j],
		    (unsigned)j, id == 0, err, errlen) == -1)
			return -1;
		w->listeners[j]->hs = w->hs;
	}
	return 0;
}

int
worker_start(struct worker *ws, unsigned n)
{
	unsigned	i;
	size_t		j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < ws[i].n_listeners; j++)
			if (listener_start(ws[i].listeners[j]) == -1) {
				log_warnx("worker %u: cannot listen on %s", i,
				    ws[i].listeners[j]->pl->name);
				return -1;
			}
		atomic_store(&ws[i].beat_ms, util_now_ms());
		if (pthread_create(&ws[i].thread, NULL, worker_main,
		    &ws[i]) != 0) {
			log_warnx("worker %u: cannot start thread", i);
			return -1;
		}
		ws[i].started = true;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	atomic_store(&w->done, true);
	return NULL;
}

void
worker_stop(struct worker *ws, unsigned n)
{
	unsigned	i;

	for (i = 0; i < n; i++)
		if (ws[i].stop_ev != NULL)
			event_active(ws[i].stop_ev, EV_READ, 0);
}

/* On the worker's thread: stop accepting, ask every session to end. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct timeval	 tv = { WORKER_STOP_GRACE_MS / 1000,
			    (WORKER_STOP_GRACE_MS % 1000) * 1000 };

	(void)fd;
	(void)what;
	if (w->stopped)
		return;
	w->stopped = true;
	stop_listening(w);
	evtimer_add(w->exit_ev, &tv);	/* replaces a drain's deadline */
	session_shutdown_all(&w->sc);
}

void
worker_drain(struct worker *ws, unsigned n, unsigned drain_ms,
    unsigned spread_ms)
{
	unsigned	i;

	for (i = 0; i < n; i++) {
		if (ws[i].drain_ev == NULL)
			continue;
		/* Set before the event is made active, read after. */
		ws[i].drain_ms = drain_ms;
		ws[i].spread_ms = spread_ms;
		event_active(ws[i].drain_ev, EV_READ, 0);
	}
}

/*
 * On the worker's thread: stop accepting, serve the established sessions
 * through the drain, then end them over the spread; the exit deadline
 * leaves room for both.
 */
static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	unsigned	 ms = w->drain_ms + w->spread_ms + WORKER_STOP_GRACE_MS;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)fd;
	(void)what;
	if (w->stopped || w->draining)
		return;
	w->draining = true;
	stop_listening(w);
	evtimer_add(w->exit_ev, &tv);
	session_ctx_drain(&w->sc, w->drain_ms, w->spread_ms);
}

static void
stop_listening(struct worker *w)
{
	size_t	j;

	for (j = 0; j < w->n_listeners; j++)
		if (w->listeners[j] != NULL)
			listener_stop(w->listeners[j]);
}

bool
worker_done(struct worker *ws, unsigned n)
{
	unsigned	i;

	for (i = 0; i < n; i++)
		if (!atomic_load(&ws[i].done))
			return false;
	return true;
}

/* The last session is gone: the loop may end. */
static void
idle(void *arg)
{
	struct worker	*w = arg;

	event_base_loopexit(w->base, NULL);
}

static void
exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	log_warnx("worker %u: %u sessions still flushing at exit", w->id,
	    w->sc.n_sessions);
	event_base_loopbreak(w->base);
}

int
worker_set_policy(struct worker *ws, unsigned n, struct policy *pol,
    const struct policy *old, SSL_CTX *ctx, SSL_CTX *upctx, char *err,
    size_t errlen)
{
	struct worker_next	**nexts;
	unsigned		  i;
	int			  rc = -1;

	if ((nexts = calloc(n, sizeof(*nexts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&ws[i].next_mtx);
		if (ws[i].next != NULL)
			snprintf(err, errlen, "worker %u has not applied the "
			    "last reload yet; try again", i);
		pthread_mutex_unlock(&ws[i].next_mtx);
		if (ws[i].next != NULL || ws[i].sc.stopping)
			goto out;
		/* New sockets are bound here, before anything changes. */
		if ((nexts[i] = next_new(&ws[i], pol, old, ctx, upctx, err,
		    errlen)) == NULL)
			goto out;
	}
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&ws[i].next_mtx);
		ws[i].next = nexts[i];
		nexts[i] = NULL;
		pthread_mutex_unlock(&ws[i].next_mtx);
		event_active(ws[i].next_ev, EV_READ, 0);
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		next_free(nexts[i]);
	free(nexts);
	return rc;
}

/*
 * The reload of worker <w>: listeners of <old> and <pol> on the same
 * address and port keep their socket (no connection waiting in its
 * backlog is lost); the others are bound anew.  NULL with <err> set.
 */
static struct worker_next *
next_new(struct worker *w, struct policy *pol, const struct policy *old,
    SSL_CTX *ctx, SSL_CTX *upctx, char *err, size_t errlen)
{
	struct worker_next	*nx;
	const struct policy_listener *a, *b;
	size_t			 j, k;

	if ((nx = calloc(1, sizeof(*nx))) == NULL)
		goto oom;
	nx->pol = policy_ref(pol);
	if ((nx->ctx = ctx) != NULL)
		SSL_CTX_up_ref(ctx);
	if ((nx->upctx = upctx) != NULL)
		SSL_CTX_up_ref(upctx);
	nx->n_old = old->n_listeners;
	if ((nx->listeners = calloc(pol->n_listeners + 1,
	    sizeof(*nx->listeners))) == NULL || (nx->reuse = calloc(
	    pol->n_listeners + 1, sizeof(*nx->reuse))) == NULL ||
	    (nx->map = calloc(nx->n_old + 1, sizeof(*nx->map))) == NULL)
		goto oom;
	for (k = 0; k < nx->n_old; k++)
		nx->map[k] = -1;
	for (j = 0; j < pol->n_listeners; j++) {
		b = &pol->listeners[j];
		nx->reuse[j] = -1;
		for (k = 0; k < nx->n_old; k++) {
			a = &old->listeners[k];
			if (nx->map[k] == -1 && a->port == b->port &&
			    strcmp(a->address, b->address) == 0) {
				nx->reuse[j] = (int)k;
				nx->map[k] = (int)j;
				break;
			}
		}
		if (nx->reuse[j] != -1)
			continue;
		if ((nx->listeners[j] = calloc(1, sizeof(**nx->listeners))) ==
		    NULL)
			goto oom;
		if (listener_init(nx->listeners[j], &w->sc, b, (unsigned)j,
		    w->id == 0, err, errlen) == -1) {
			next_free(nx);
			return NULL;
		}
		nx->listeners[j]->hs = w->hs;
	}
	return nx;
oom:
	snprintf(err, errlen, "out of memory");
	next_free(nx);
	return NULL;
}

static void
next_free(struct worker_next *nx)
{
	size_t	j;

	if (nx == NULL)
		return;
	for (j = 0; nx->listeners != NULL && j < nx->pol->n_listeners; j++)
		if (nx->listeners[j] != NULL) {
			listener_fini(nx->listeners[j]);
			free(nx->listeners[j]);
		}
	free(nx->listeners);
	free(nx->reuse);
	free(nx->map);
	SSL_CTX_free(nx->ctx);
	SSL_CTX_free(nx->upctx);
	policy_unref(nx->pol);
	free(nx);
}

/*
 * On the worker's thread, between two callbacks: the reload takes
 * effect.  Listeners first (new ones accept, removed ones stop), then the
 * TLS contexts new connections use, then every session is held to the
 * new policy.
 */
static void
next_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker			*w = arg;
	struct worker_next		*nx;
	struct session_reload_stats	 st;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->next_mtx);
	nx = w->next;
	pthread_mutex_unlock(&w->next_mtx);
	if (nx == NULL)
		return;
	apply_listeners(w, nx);
	session_ctx_set_tls(&w->sc, nx->ctx, nx->upctx);
	session_ctx_set_policy(&w->sc, nx->pol, nx->map, nx->n_old, &st);
	log_info("worker %u: policy in force: %u session%s held to it, %u "
	    "closed as no longer allowed, %u closed with their listener",
	    w->id, st.moved, st.moved == 1 ? "" : "s", st.revoked,
	    st.drained);
	pthread_mutex_lock(&w->next_mtx);
	w->next = NULL;
	pthread_mutex_unlock(&w->next_mtx);
	next_free(nx);
}

/* The listeners of <nx> replace the worker's (see next_new()). */
static void
apply_listeners(struct worker *w, struct worker_next *nx)
{
	struct listener	**old = w->listeners, *l;
	size_t		  j, k, n = nx->pol->n_listeners;

	for (j = 0; j < n; j++) {
		if (nx->reuse[j] >= 0) {
			l = old[nx->reuse[j]];
			old[nx->reuse[j]] = NULL;
			if (l == NULL)
				continue;	/* it could not start before */
			l->pl = &nx->pol->listeners[j];
			l->idx = (unsigned)j;
		} else {
			l = nx->listeners[j];
			nx->listeners[j] = NULL;
			if (listener_start(l) == -1) {
				log_warnx("worker %u: cannot listen on %s",
				    w->id, l->pl->name);
				listener_fini(l);
				free(l);
				l = NULL;
			}
		}
		nx->listeners[j] = l;
	}
	for (k = 0; k < w->n_listeners; k++)
		if (old[k] != NULL) {
			listener_fini(old[k]);
			free(old[k]);
		}
	free(old);
	/* The array of nx becomes the worker's. */
	w->listeners = nx->listeners;
	w->n_listeners = n;
	nx->listeners = NULL;
}

void
worker_join(struct worker *ws, unsigned n)
{
	unsigned	i;

	for (i = 0; i < n; i++) {
		if (ws[i].started) {
			pthread_join(ws[i].thread, NULL);
			ws[i].started = false;
		}
	}
}

void
worker_destroy(struct worker *ws, unsigned n)
{
	struct worker	*w;
	unsigned	 i;
	size_t		 j;

	if (ws == NULL)
		return;
	worker_join(ws, n);
	for (i = 0; i < n; i++) {
		w = &ws[i];
		if (w->sc_ready)
			session_ctx_fini(&w->sc);
		for (j = 0; j < w->n_listeners; j++)
			if (w->listeners[j] != NULL) {
				listener_fini(w->listeners[j]);
				free(w->listeners[j]);
			}
		free(w->listeners);
		limits_hs_free(w->hs);
		if (w->stop_ev != NULL)
			event_free(w->stop_ev);
		if (w->drain_ev != NULL)
			event_free(w->drain_ev);
		if (w->exit_ev != NULL)
			event_free(w->exit_ev);
		if (w->next_ev != NULL)
			event_free(w->next_ev);
		if (w->beat_ev != NULL)
			event_free(w->beat_ev);
		pthread_mutex_destroy(&w->next_mtx);
		next_free(w->next);
		if (w->dns != NULL)
			evdns_base_free(w->dns, 0);
		if (w->base != NULL)
			event_base_free(w->base);
		policy_unref(w->sc.pol);
	}
	free(ws);
}

void
worker_heartbeat(struct worker *ws, unsigned n)
{
	unsigned	i;

	for (i = 0; i < n; i++)
		if (ws[i].started && ws[i].beat_ev != NULL)
			event_active(ws[i].beat_ev, EV_READ, 0);
}

/* On the worker's thread: its loop turned, so it is not stuck. */
static void
beat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	atomic_store(&w->beat_ms, util_now_ms());
}

int
worker_alive(struct worker *ws, unsigned n, uint64_t now_ms)
{
	uint64_t	beat;
	unsigned	i;

	for (i = 0; i < n; i++) {
		beat = atomic_load(&ws[i].beat_ms);
		if (!ws[i].started || (now_ms > beat &&
		    now_ms - beat > WORKER_ALIVE_MS))
			return (int)i;
	}
	return -1;
}
