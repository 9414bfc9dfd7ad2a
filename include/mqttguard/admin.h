/* SPDX-License-Identifier: ISC */
/*
 * admin — the admin listener: Prometheus metrics, health and readiness
 * over HTTP (libevent's evhttp), on main's event loop.
 *
 *   GET /metrics   the text exposition format 0.0.4 (metrics.h, plus the
 *                  policy and build info and the process_* metrics)
 *   GET /healthz   200 when every worker's loop answered a heartbeat
 *                  within WORKER_ALIVE_MS, else 503 naming the stuck one
 *   GET /readyz    200 when the policy is loaded, the broker was reached
 *                  within ADMIN_UPSTREAM_FRESH_MS (by a session, or by a
 *                  TCP connect probe made here when sessions are idle) and
 *                  the daemon is not draining; else 503 with the reason
 *
 * Anything else is 404, a method other than GET (or HEAD) 405.  With
 * admin.token_file every request needs "Authorization: Bearer TOKEN", else
 * 401 with "WWW-Authenticate: Bearer".
 *
 * It runs on main's own event base, not on a worker's: a flood of clients
 * keeping the workers busy never delays a scrape or a health check, and a
 * stuck worker is seen from outside it.  Only main uses this module; all
 * of it runs on main's thread but admin_set_draining().
 */
#ifndef MQTTGUARD_ADMIN_H
#define MQTTGUARD_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "mqttguard/policy.h"
#include "mqttguard/worker.h"

#define ADMIN_TICK_MS		250	/* heartbeats, probe decisions */
#define ADMIN_UPSTREAM_FRESH_MS	5000	/* a broker contact this recent is
					   ready */
#define ADMIN_PROBE_AFTER_MS	2000	/* probe when no contact is newer */
#define ADMIN_HTTP_TIMEOUT_S	10	/* an idle or slow HTTP connection */
#define ADMIN_HEADERS_MAX	8192	/* bytes of request headers */

struct admin;

/*
 * Binds pol->admin's address and port and serves on <base> (main's),
 * sending heartbeats to the <n> workers <ws> (which must outlive it).
 * Takes a reference to <pol>; <version> is a static string for
 * mqttguard_build_info.  Returns the admin listener, or NULL with a
 * message in <err> (the address in use, say).
 */
struct admin	*admin_new(struct event_base *base, struct policy *pol,
		    struct worker *ws, unsigned n, const char *version,
		    char *err, size_t errlen);
/* Closes the listener and its connections; NULL is a no-op. */
void		 admin_free(struct admin *a);
/*
 * A reloaded policy: its listener names, digest and token are used from
 * now on (a reference is taken, the old one dropped).  The address and
 * port stay those bound at start.
 */
void		 admin_set_policy(struct admin *a, struct policy *pol);
/*
 * The daemon is draining (stopping): /readyz answers 503 from now on, so
 * a load balancer sends no new clients.  Thread-safe; callable before
 * admin_new() or without an admin listener.
 */
void		 admin_set_draining(bool draining);

#endif
