/* SPDX-License-Identifier: ISC */
/*
 * session — one client connection and its upstream connection.
 *
 * The per-connection state machine and the only glue between I/O and the
 * codec: two conns (conn.h; downstream: the client, TLS or plain;
 * upstream: the broker), backpressure between them, deadlines, and the single close
 * path, session_close().  Policy decisions are enforce.c's verdicts; this
 * module executes them.
 *
 * Sessions live in a struct session_ctx, one per event loop (a worker's):
 * the lists of live and dead sessions, the event that frees dead ones,
 * the mailbox through which password checks come back from the pool's
 * threads, and the TLS contexts new connections are made from.  The owner
 * of the loop (worker.c) fills it in and calls session_ctx_init(); nothing
 * here knows about threads or listeners.
 */
#ifndef MQTTGUARD_SESSION_H
#define MQTTGUARD_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "mqttguard/auth.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"

/*
 * Event priorities of a loop (event_base_priority_init() with
 * SESSION_PRIORITIES): everything runs at libevent's default, the middle
 * one, except a client's TLS handshake, which runs at the lowest.  In a
 * turn, libevent runs only the highest priority that has work; and the
 * worker's loop returns to poll after SESSION_HANDSHAKES_PER_TURN
 * callbacks at the lowest, so a handshake flood (each costs a signature)
 * waits behind the established sessions, not in front of them.
 */
#define SESSION_PRIORITIES		3
#define SESSION_PRIO_HANDSHAKE		2
#define SESSION_HANDSHAKES_PER_TURN	8

struct session;
struct conn_loop;
TAILQ_HEAD(session_list, session);

/*
 * What the sessions of one event loop share.  Touched by that loop's
 * thread only, except <auth_done> (under auth_mtx).  The caller sets the
 * fields above the line before session_ctx_init().
 */
struct session_ctx {
	unsigned		 id;		/* the loop's number, in ids */
	struct event_base	*base;		/* the caller's */
	struct evdns_base	*dns;		/* the caller's; broker names */
	struct policy		*pol;		/* ref held by the caller */
	struct auth_guard	*guard;		/* shared, main owns */
	struct auth_pool	*pool;		/* shared, main owns */
	struct limits		*limits;	/* shared, main owns */
	SSL_CTX			*ssl_ctx;	/* ref; NULL without TLS */
	SSL_CTX			*ssl_upstream_ctx;	/* ref; NULL: plain
						   TCP to the broker */
	/* Called when the last session is gone while stopping. */
	void			(*on_empty)(void *);
	void			*on_empty_arg;
	/* ---- */
	struct session_list	 sessions;	/* live */
	struct session_list	 dead;		/* closed, not yet freed */
	struct event		*reap_ev;	/* owned; frees dead sessions */
	struct event		*trim_ev;	/* owned; gives freed memory
						   back to the system */
	unsigned		 freed;		/* sessions freed since the
						   last trim */
	pthread_mutex_t		 auth_mtx;	/* guards auth_done */
	TAILQ_HEAD(, auth_job)	 auth_done;	/* checked, to collect */
	struct event		*auth_ev;	/* owned; collects them */
	bool			 stopping;
	struct event		*drain_ev;	/* owned; ends the drain, then
						   paces the closes */
	uint64_t		 spread_start;	/* ms: the drain's end */
	uint64_t		 spread_ms;	/* shutdown.spread */
	uint64_t		 spread_total;	/* sessions to end over it */
	uint64_t		 spread_closed;	/* of them, ended */
	struct limits_pending	*pending;	/* owned; not yet
						   authenticated, by network */
	struct conn_loop	*io;		/* owned; what the sessions'
						   conns share (conn.h) */
	uint64_t		 evict_logged;	/* ms: the last line */
	uint64_t		 evict_quiet;	/* evictions not logged */
	uint64_t		 fd_short_logged;	/* ms: the last line */
	uint64_t		 fd_short_quiet;	/* shortages not logged */
	uint64_t		 next_id;
	unsigned		 n_sessions;
};

/* Creates the context's events.  -1 on ENOMEM (nothing to undo). */
int	session_ctx_init(struct session_ctx *ctx);
/*
 * After the loop has stopped and the password pool has returned every
 * job: ends what sessions are left, frees them and the context's events,
 * and drops its TLS references.
 */
void	session_ctx_fini(struct session_ctx *ctx);
/*
 * On the loop's thread: new connections are made from <ctx_tls> and
 * <up_tls> (references taken; either may be NULL).  Sessions keep the
 * contexts they were made from.
 */
void	session_ctx_set_tls(struct session_ctx *ctx, SSL_CTX *ctx_tls,
	    SSL_CTX *up_tls);

/*
 * On the loop's thread, between two callbacks (so between two frames of
 * every session): the policy <pol> replaces ctx->pol (a reference is
 * taken, the old one dropped).  Each session of listener <i> of the old
 * policy moves to listener map[i] of the new one, or, with -1 (<map> has
 * <n> entries), ends as if the daemon stopped: DISCONNECT 0x8B, flushed.
 * An authenticated session is checked again (auth_recheck(), its client
 * certificate against ctx->ssl_ctx: set the new TLS contexts first) and
 * closed with 5.0 DISCONNECT 0x98 (administrative action) if it no longer
 * passes; the others are held to the new ACL and limits from their next
 * frame.  Fills <st> with what happened.
 */
struct session_reload_stats {
	unsigned	moved;		/* held to the new policy */
	unsigned	revoked;	/* closed: no longer allowed */
	unsigned	drained;	/* closed: their listener is gone */
};
void	session_ctx_set_policy(struct session_ctx *ctx, struct policy *pol,
	    const int *map, size_t n, struct session_reload_stats *st);

/*
 * Takes ownership of the accepted socket <fd> from <sa> on listener <lis>,
 * and of the connection counts <lc> it was admitted with, and starts the
 * session (TLS handshake first if the listener has TLS).  On failure the
 * fd is closed, the counts released and the reason logged.
 */
void	session_new(struct session_ctx *ctx,
	    const struct policy_listener *lis, int fd,
	    const struct sockaddr *sa, const struct limits_conn *lc);

/*
 * limits.max_unauthenticated is full and a connection from <sa> (NULL:
 * not known yet, a PROXY header to come) on <lis> asks in: closes, if
 * fairness asks for it, this loop's oldest session not yet authenticated
 * from the network holding the most such sessions (limits_pending_victim()),
 * quietly, with a log line at most once a second.  0 when one was closed
 * (its place in the budget is free), -1 when the newcomer is to be
 * refused.
 */
int	session_ctx_evict(struct session_ctx *ctx,
	    const struct policy_listener *lis, const struct sockaddr *sa);

/*
 * Ends a session with <reason> (a static string, logged).  With <flush>,
 * what is already queued towards each peer is delivered first (bounded by a
 * linger deadline).  Safe inside callbacks; closing twice is harmless.  The
 * memory is freed later, at a safe point.
 */
void	session_close(struct session *s, const char *reason, bool flush);

/*
 * A graceful stop (SIGTERM): ctx->stopping is set, so nothing new is
 * accepted, and the established sessions are served on for <drain_ms>;
 * then those left are ended as session_shutdown_all() ends them, spread
 * evenly over <spread_ms> so that the devices do not all reconnect
 * elsewhere at once.  ctx->on_empty is called once none is left (at once
 * if there is none).  session_shutdown_all() cuts it short.
 */
void	session_ctx_drain(struct session_ctx *ctx, unsigned drain_ms,
	    unsigned spread_ms);

/*
 * The daemon stops: ctx->stopping is set and every session is asked to
 * end, each 5.0 client with DISCONNECT 0x8B (server shutting down) where
 * it may, then a flushed close.  ctx->on_empty is called once none is
 * left (at once if there is none).
 */
void	session_shutdown_all(struct session_ctx *ctx);

#endif
