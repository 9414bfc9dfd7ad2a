/* SPDX-License-Identifier: ISC */
/*
 * worker — threads, event bases, and the life of sessions on them.
 *
 * main creates the workers (binding every socket first), starts them, and
 * later asks them to stop with worker_stop(), and hands them reloaded TLS
 * contexts with worker_set_tls(), the only calls made from another thread:
 * each activates an event of the worker, which libevent delivers on the
 * worker's own thread.  Everything else a worker owns is touched by that
 * thread alone.
 *
 * Dead sessions are freed by reap_cb(), an event run after the callback
 * that closed them has returned, so no callback ever runs on freed memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "mqttguard/listener.h"
#include "mqttguard/log.h"
#include "mqttguard/session.h"
#include "mqttguard/worker.h"

#define WORKER_STOP_GRACE_MS	3000	/* flushing sessions at exit */

static void	*worker_main(void *);
static void	 stop_cb(evutil_socket_t, short, void *);
static void	 reap_cb(evutil_socket_t, short, void *);
static void	 exit_cb(evutil_socket_t, short, void *);
static void	 auth_cb(evutil_socket_t, short, void *);
static void	 tls_cb(evutil_socket_t, short, void *);

struct worker *
worker_create(unsigned n, struct policy *pol, SSL_CTX *ctx, SSL_CTX *upctx,
    struct auth_guard *g, struct auth_pool *p, struct limits *lim, char *err,
    size_t errlen)
{
	struct worker	*ws, *w;
	unsigned	 i;
	size_t		 j, nl = pol->n_listeners;

	if ((ws = calloc(n, sizeof(*ws))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		w = &ws[i];
		w->id = i;
		TAILQ_INIT(&w->sessions);
		TAILQ_INIT(&w->dead);
		TAILQ_INIT(&w->auth_done);
		pthread_mutex_init(&w->auth_mtx, NULL);
		pthread_mutex_init(&w->tls_mtx, NULL);
		w->guard = g;
		w->pool = p;
		w->limits = lim;
		w->pol = policy_ref(pol);
		if (ctx != NULL) {
			SSL_CTX_up_ref(ctx);
			w->ssl_ctx = ctx;
		}
		if (upctx != NULL) {
			SSL_CTX_up_ref(upctx);
			w->ssl_upstream_ctx = upctx;
		}
		w->listeners = calloc(nl, sizeof(*w->listeners));
		w->resume = calloc(nl, sizeof(*w->resume));
		w->fds = calloc(nl, sizeof(*w->fds));
		if (w->listeners == NULL || w->resume == NULL ||
		    w->fds == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (j = 0; j < nl; j++)
			w->fds[j] = -1;
		if ((w->base = event_base_new()) == NULL) {
			snprintf(err, errlen, "event_base_new failed");
			goto fail;
		}
		w->dns = evdns_base_new(w->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (w->dns == NULL)
			w->dns = evdns_base_new(w->base, 0);
		w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
		w->reap_ev = event_new(w->base, -1, 0, reap_cb, w);
		w->exit_ev = evtimer_new(w->base, exit_cb, w);
		w->auth_ev = event_new(w->base, -1, 0, auth_cb, w);
		w->tls_ev = event_new(w->base, -1, 0, tls_cb, w);
		if (w->dns == NULL || w->stop_ev == NULL ||
		    w->reap_ev == NULL || w->exit_ev == NULL ||
		    w->auth_ev == NULL || w->tls_ev == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (j = 0; j < nl; j++)
			if ((w->fds[j] = listener_bind(&pol->listeners[j], err,
			    errlen)) == -1)
				goto fail;
	}
	return ws;

fail:
	worker_destroy(ws, n);
	return NULL;
}

int
worker_start(struct worker *ws, unsigned n)
{
	unsigned	i;
	size_t		j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < ws[i].pol->n_listeners; j++)
			if (listener_attach(&ws[i], j) == -1) {
				log_warnx("worker %u: cannot listen on %s", i,
				    ws[i].pol->listeners[j].name);
				return -1;
			}
		if (pthread_create(&ws[i].thread, NULL, worker_main,
		    &ws[i]) != 0) {
			log_warnx("worker %u: cannot start thread", i);
			return -1;
		}
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
	if (w->stopping)
		return;
	w->stopping = true;
	for (j = 0; j < w->pol->n_listeners; j++) {
		if (w->listeners[j] != NULL) {
			evconnlistener_free(w->listeners[j]);
			w->listeners[j] = NULL;
		}
	}
	session_shutdown_all(w);
	if (w->n_sessions == 0)
		worker_idle(w);
	else
		evtimer_add(w->exit_ev, &tv);
}

static void
exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	log_warnx("worker %u: %u sessions still flushing at exit", w->id,
	    w->n_sessions);
	event_base_loopbreak(w->base);
}

void
worker_reap(struct worker *w)
{
	event_active(w->reap_ev, EV_READ, 0);
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	session_reap(w);
	if (w->stopping && w->n_sessions == 0)
		worker_idle(w);
}

void
worker_auth_done(struct worker *w, struct auth_job *job)
{
	pthread_mutex_lock(&w->auth_mtx);
	TAILQ_INSERT_TAIL(&w->auth_done, job, entry);
	pthread_mutex_unlock(&w->auth_mtx);
	event_active(w->auth_ev, EV_READ, 0);
}

/* On the worker's thread: the verdicts of finished password checks. */
static void
auth_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker		*w = arg;
	TAILQ_HEAD(, auth_job)	 done;
	struct auth_job		*job;

	(void)fd;
	(void)what;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&w->auth_mtx);
	TAILQ_CONCAT(&done, &w->auth_done, entry);
	pthread_mutex_unlock(&w->auth_mtx);
	while ((job = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, job, entry);
		session_auth_done(job);
	}
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

/*
 * On the worker's thread: the contexts of a reload replace the worker's.
 * The old ones are released here; connections made from them hold their
 * own references and keep them until they close.
 */
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
	SSL_CTX_free(w->ssl_ctx);
	w->ssl_ctx = ctx;
	SSL_CTX_free(w->ssl_upstream_ctx);
	w->ssl_upstream_ctx = upctx;
	log_debug("worker %u: new TLS contexts in use", w->id);
}

void
worker_idle(struct worker *w)
{
	event_base_loopexit(w->base, NULL);
}

void
worker_join(struct worker *ws, unsigned n)
{
	unsigned	i;

	for (i = 0; i < n; i++) {
		if (ws[i].thread != 0) {
			pthread_join(ws[i].thread, NULL);
			ws[i].thread = 0;
		}
	}
}

/*
 * After worker_join() and after the password pool has stopped (so every
 * job is back on a done list): ends what is left and frees it all.
 */
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
		if (w->auth_ev != NULL)
			auth_cb(-1, 0, w);
		/* Sessions left after the grace period: end them now. */
		session_close_all(w);
		session_reap(w);
		for (j = 0; w->pol != NULL && j < w->pol->n_listeners; j++) {
			if (w->listeners != NULL && w->listeners[j] != NULL)
				evconnlistener_free(w->listeners[j]);
			if (w->resume != NULL && w->resume[j] != NULL)
				event_free(w->resume[j]);
			if (w->fds != NULL && w->fds[j] != -1)
				close(w->fds[j]);
		}
		free(w->listeners);
		free(w->resume);
		free(w->fds);
		if (w->stop_ev != NULL)
			event_free(w->stop_ev);
		if (w->reap_ev != NULL)
			event_free(w->reap_ev);
		if (w->exit_ev != NULL)
			event_free(w->exit_ev);
		if (w->auth_ev != NULL)
			event_free(w->auth_ev);
		if (w->tls_ev != NULL)
			event_free(w->tls_ev);
		if (w->pol != NULL) {
			pthread_mutex_destroy(&w->auth_mtx);
			pthread_mutex_destroy(&w->tls_mtx);
		}
		if (w->dns != NULL)
			evdns_base_free(w->dns, 0);
		if (w->base != NULL)
			event_base_free(w->base);
		SSL_CTX_free(w->ssl_ctx);
		SSL_CTX_free(w->ssl_upstream_ctx);
		SSL_CTX_free(w->tls_next);
		SSL_CTX_free(w->tls_next_upstream);
		policy_unref(w->pol);
	}
	free(ws);
}
