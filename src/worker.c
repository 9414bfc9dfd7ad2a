/* SPDX-License-Identifier: ISC */
/*
 * worker — threads and the event loops they run.
 *
 * main creates the workers (binding every socket first), starts them, and
 * later asks them to stop with worker_stop(), hands them reloaded TLS
 * contexts with worker_set_tls() and sends heartbeats with
 * worker_heartbeat(), the only calls made from another thread: each
 * activates an event of the worker, which libevent delivers on the
 * worker's own thread.  worker_alive() reads the heartbeats' atomic
 * stamps.  Everything else a worker owns is touched by that
 * thread alone.  The sessions themselves are session.c's (struct
 * session_ctx); the listening sockets listener.c's.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

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
	struct event_base	*base;		/* owned */
	struct evdns_base	*dns;		/* owned; upstream names */
	struct session_ctx	 sc;		/* its sessions */
	bool			 sc_ready;	/* session_ctx_init() done */
	struct listener		*listeners;	/* owned; n_listeners */
	size_t			 n_listeners;
	struct event		*stop_ev;	/* owned; made active by main */
	struct event		*exit_ev;	/* owned; shutdown deadline */
	pthread_mutex_t		 tls_mtx;	/* guards the three below */
	SSL_CTX			*tls_next;	/* ref; handed by a reload */
	SSL_CTX			*tls_next_upstream;	/* ref; same */
	bool			 tls_pending;	/* the two above are set */
	struct event		*tls_ev;	/* owned; takes them */
	struct event		*beat_ev;	/* owned; made active by main */
	_Atomic uint64_t	 beat_ms;	/* when beat_ev last ran */
};

static int	 worker_init(struct worker *, unsigned, struct policy *,
		    SSL_CTX *, SSL_CTX *, char *, size_t);
static void	*worker_main(void *);
static void	 stop_cb(evutil_socket_t, short, void *);
static void	 exit_cb(evutil_socket_t, short, void *);
static void	 tls_cb(evutil_socket_t, short, void *);
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
		pthread_mutex_init(&ws[i].tls_mtx, NULL);
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

/* One worker: its loop, its session context, its bound listeners. */
static int
worker_init(struct worker *w, unsigned id, struct policy *pol, SSL_CTX *ctx,
    SSL_CTX *upctx, char *err, size_t errlen)
{
	size_t	j;

	w->id = id;
	if ((w->base = event_base_new()) == NULL) {
		snprintf(err, errlen, "event_base_new failed");
		return -1;
	}
	w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (w->dns == NULL)
		w->dns = evdns_base_new(w->base, 0);
	w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
	w->exit_ev = evtimer_new(w->base, exit_cb, w);
	w->tls_ev = event_new(w->base, -1, 0, tls_cb, w);
	w->sc.id = id;
	w->sc.base = w->base;
	w->sc.dns = w->dns;
	w->sc.pol = policy_ref(pol);
	w->sc.on_empty = idle;
	w->sc.on_empty_arg = w;
	if (w->dns == NULL || w->stop_ev == NULL || w->exit_ev == NULL ||
	    w->tls_ev == NULL || session_ctx_init(&w->sc) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->sc_ready = true;
	if ((w->beat_ev = event_new(w->base, -1, 0, beat_cb, w)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	session_ctx_set_tls(&w->sc, ctx, upctx);
	if ((w->listeners = calloc(pol->n_listeners,
	    sizeof(*w->listeners))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (j = 0; j < pol->n_listeners; j++) {
		w->n_listeners++;
		if (listener_init(&w->listeners[j], &w->sc, (unsigned)j, err,
		    errlen) == -1)
			return -1;
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
			if (listener_start(&ws[i].listeners[j]) == -1) {
				log_warnx("worker %u: cannot listen on %s", i,
				    ws[i].listeners[j].pl->name);
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
	size_t		 j;

	(void)fd;
	(void)what;
	if (w->sc.stopping)
		return;
	for (j = 0; j < w->n_listeners; j++)
		listener_stop(&w->listeners[j]);
	evtimer_add(w->exit_ev, &tv);
	session_shutdown_all(&w->sc);
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

void
worker_set_tls(struct worker *ws, unsigned n, SSL_CTX *ctx, SSL_CTX *upctx)
{
	struct worker	*w;
	unsigned	 i;

	for (i = 0; i < n; i++) {
		w = &ws[i];
		if (ctx != NULL)
			SSL_CTX_up_ref(ctx);
		if (upctx != NULL)
			SSL_CTX_up_ref(upctx);
		pthread_mutex_lock(&w->tls_mtx);
		/* Two reloads before the worker ran: the last one wins. */
		SSL_CTX_free(w->tls_next);
		SSL_CTX_free(w->tls_next_upstream);
		w->tls_next = ctx;
		w->tls_next_upstream = upctx;
		w->tls_pending = true;
		pthread_mutex_unlock(&w->tls_mtx);
		event_active(w->tls_ev, EV_READ, 0);
	}
}

/* On the worker's thread: the contexts of a reload replace the worker's. */
static void
tls_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	SSL_CTX		*ctx, *upctx;
	bool		 pending;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->tls_mtx);
	ctx = w->tls_next;
	upctx = w->tls_next_upstream;
	pending = w->tls_pending;
	w->tls_next = w->tls_next_upstream = NULL;
	w->tls_pending = false;
	pthread_mutex_unlock(&w->tls_mtx);
	if (!pending)
		return;
	session_ctx_set_tls(&w->sc, ctx, upctx);
	SSL_CTX_free(ctx);
	SSL_CTX_free(upctx);
	log_debug("worker %u: new TLS contexts in use", w->id);
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
			listener_fini(&w->listeners[j]);
		free(w->listeners);
		if (w->stop_ev != NULL)
			event_free(w->stop_ev);
		if (w->exit_ev != NULL)
			event_free(w->exit_ev);
		if (w->tls_ev != NULL)
			event_free(w->tls_ev);
		if (w->beat_ev != NULL)
			event_free(w->beat_ev);
		pthread_mutex_destroy(&w->tls_mtx);
		SSL_CTX_free(w->tls_next);
		SSL_CTX_free(w->tls_next_upstream);
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
