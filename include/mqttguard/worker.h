/* SPDX-License-Identifier: ISC */
/*
 * worker — one thread, one event loop, the sessions it owns.
 *
 * Each worker has its own event_base and its own listening sockets (one per
 * policy listener, bound with SO_REUSEPORT so the kernel spreads accepts).
 * A session lives and dies on the worker that accepted it; nothing in the
 * frame path is shared between workers except the policy snapshot (atomic
 * reference count) and counters (atomics).
 *
 * TLS contexts are the worker's own references.  A reload hands new ones
 * through a mailbox (tls_mtx, never taken in the frame path) and an event,
 * so each worker swaps on its own thread between two callbacks; a
 * connection keeps the context it was made from (each SSL holds a
 * reference), only new ones get the new certificates.
 */
#ifndef MQTTGUARD_WORKER_H
#define MQTTGUARD_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "mqttguard/auth.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"

struct session;
TAILQ_HEAD(session_list, session);

struct worker {
	unsigned		  id;
	pthread_t		  thread;
	struct event_base	 *base;		/* owned */
	struct evdns_base	 *dns;		/* owned; upstream names */
	struct evconnlistener	**listeners;	/* owned; pol->n_listeners */
	struct event		**resume;	/* owned; accept pause timers */
	int			 *fds;		/* bound sockets, handed to
						   listeners on start */
	struct event		 *stop_ev;	/* owned; made active by main */
	struct event		 *reap_ev;	/* owned; frees dead sessions */
	struct event		 *exit_ev;	/* owned; shutdown deadline */
	struct session_list	  sessions;	/* live sessions */
	struct session_list	  dead;		/* closed, not yet freed */
	struct policy		 *pol;		/* ref */
	struct auth_guard	 *guard;	/* shared, main owns */
	struct auth_pool	 *pool;		/* shared, main owns */
	struct limits		 *limits;	/* shared, main owns */
	uint64_t		  refused_logged;	/* ms: last refusal log */
	uint64_t		  refused_quiet;	/* refusals not logged */
	pthread_mutex_t		  auth_mtx;	/* guards auth_done */
	TAILQ_HEAD(, auth_job)	  auth_done;	/* checked, to collect */
	struct event		 *auth_ev;	/* owned; collects them */
	SSL_CTX			 *ssl_ctx;	/* ref; NULL without TLS */
	SSL_CTX			 *ssl_upstream_ctx;	/* ref; NULL: plain
						   TCP to the broker */
	pthread_mutex_t		  tls_mtx;	/* guards the three below */
	SSL_CTX			 *tls_next;	/* ref; handed by a reload */
	SSL_CTX			 *tls_next_upstream;	/* ref; same */
	bool			  tls_pending;	/* the two above are set */
	struct event		 *tls_ev;	/* owned; takes them */
	bool			  stopping;
	uint64_t		  next_id;
	unsigned		  n_sessions;
};

/*
 * Creates <n> workers for <pol>: event bases and bound listening sockets
 * (so bind errors are reported before anything starts).  Each worker takes
 * a reference to <ctx> (listeners) and <upctx> (the broker), either may be
 * NULL.  Returns an array of n workers, or NULL with a message in <err>.
 */
struct worker	*worker_create(unsigned n, struct policy *pol, SSL_CTX *ctx,
		    SSL_CTX *upctx, struct auth_guard *g, struct auth_pool *p,
		    struct limits *lim, char *err, size_t errlen);
/* Starts every worker thread; returns -1 if one cannot start. */
int		 worker_start(struct worker *w, unsigned n);
/* Thread-safe: asks every worker to stop accepting and close sessions. */
void		 worker_stop(struct worker *w, unsigned n);
/* Waits for every worker thread to return. */
void		 worker_join(struct worker *w, unsigned n);
/* Joins the threads if needed and frees everything. */
void		 worker_destroy(struct worker *w, unsigned n);
/*
 * Thread-safe (main's reload): every worker takes a reference to <ctx>
 * and <upctx> (either may be NULL) and, on its own thread, drops its old
 * ones for them.  The caller keeps its references.
 */
void		 worker_set_tls(struct worker *w, unsigned n, SSL_CTX *ctx,
		    SSL_CTX *upctx);
/* From a password-checking thread: hands a finished job to its worker. */
void		 worker_auth_done(struct worker *w, struct auth_job *job);

/* Called by a session that is dead: schedules its free. */
void		 worker_reap(struct worker *w);
/* Called when the last session of a stopping worker is gone. */
void		 worker_idle(struct worker *w);

#endif
