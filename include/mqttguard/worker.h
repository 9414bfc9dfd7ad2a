/* SPDX-License-Identifier: ISC */
/*
 * worker — one thread, one event loop, the listeners and sessions on it.
 *
 * Each worker has its own event_base, its own listening sockets (one per
 * policy listener, bound with SO_REUSEPORT so the kernel spreads accepts)
 * and its own struct session_ctx.  A session lives and dies on the worker
 * that accepted it; nothing in the frame path is shared between workers
 * except the policy snapshot (atomic reference count) and counters
 * (atomics).  struct worker is private to worker.c: main holds an opaque
 * pointer to <n> of them and calls only the functions below.
 *
 * TLS contexts reach a worker through a mailbox (never taken in the frame
 * path) and an event, so each worker swaps on its own thread between two
 * callbacks; a connection keeps the context it was made from.
 */
#ifndef MQTTGUARD_WORKER_H
#define MQTTGUARD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "mqttguard/auth.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"

#define WORKER_ALIVE_MS		1000	/* a heartbeat older is stuck */

struct worker;

/*
 * Creates <n> workers for <pol>: event bases and bound listening sockets
 * (so bind errors are reported before anything starts).  Each worker takes
 * a reference to <ctx> (listeners) and <upctx> (the broker), either may be
 * NULL.  Returns the n workers, or NULL with a message in <err>.
 */
struct worker	*worker_create(unsigned n, struct policy *pol, SSL_CTX *ctx,
		    SSL_CTX *upctx, struct auth_guard *g, struct auth_pool *p,
		    struct limits *lim, char *err, size_t errlen);
/* Starts every worker thread; returns -1 if one cannot start. */
int		 worker_start(struct worker *w, unsigned n);
/*
 * Thread-safe: asks every worker to stop accepting and end its sessions
 * now (5.0 clients get DISCONNECT 0x8B; queued bytes are flushed for a
 * few seconds at most).  Cuts a drain short.
 */
void		 worker_stop(struct worker *w, unsigned n);
/*
 * Thread-safe (SIGTERM): every worker stops accepting, serves its
 * sessions for <drain_ms>, then ends those left over <spread_ms>
 * (session_ctx_drain()).  Its loop returns once it has no session.
 */
void		 worker_drain(struct worker *w, unsigned n, unsigned drain_ms,
		    unsigned spread_ms);
/* Thread-safe: whether every worker's loop has returned. */
bool		 worker_done(struct worker *w, unsigned n);
/* Waits for every worker thread to return. */
void		 worker_join(struct worker *w, unsigned n);
/*
 * Joins the threads if needed and frees everything; after the password
 * pool has stopped, so every job is back on a done list.
 */
void		 worker_destroy(struct worker *w, unsigned n);
/*
 * Main's reload: the policy <pol> and the TLS contexts <ctx> and <upctx>
 * (either may be NULL; references are taken) replace <old>, the policy
 * the workers run now.  New listening sockets are bound here first; if
 * one cannot be (an address in use), or a worker has not applied the last
 * reload yet, nothing changes and -1 comes back with the reason in <err>.
 * Otherwise each worker applies the reload on its own thread, between two
 * callbacks (session_ctx_set_policy()).  The caller keeps its references.
 */
int		 worker_set_policy(struct worker *w, unsigned n,
		    struct policy *pol, const struct policy *old, SSL_CTX *ctx,
		    SSL_CTX *upctx, char *err, size_t errlen);
/*
 * Thread-safe (main's timer): asks every started worker's loop to stamp
 * the time it gets to the request, which worker_alive() reads.
 */
void		 worker_heartbeat(struct worker *w, unsigned n);
/*
 * Whether every worker's loop answered a heartbeat within WORKER_ALIVE_MS
 * of <now_ms> (util_now_ms()): -1 when all did, else the number of the
 * first that did not (stuck, or not running).  Thread-safe.
 */
int		 worker_alive(struct worker *w, unsigned n, uint64_t now_ms);

#endif
