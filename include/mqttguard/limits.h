/* SPDX-License-Identifier: ISC */
/*
 * limits — token buckets and connection counters.
 *
 * Token buckets are pure: a struct and a function of the clock the caller
 * passes.  The connection counters (total, not yet authenticated, per
 * source address, per network prefix) are shared by every worker: totals
 * are atomics, the per-address and per-network ones a bounded hash table
 * behind one mutex, touched at accept and at close, never per frame.
 */
#ifndef MQTTGUARD_LIMITS_H
#define MQTTGUARD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mqttguard/policy.h"

#define LIMITS_TABLE_ENTRIES	65536	/* addresses and networks tracked */

/* A token bucket: <rate> tokens per second, at most <burst> saved. */
struct limits_bucket {
	double		tokens;
	uint64_t	last_ms;
	bool		started;
};

/*
 * Takes <cost> tokens at <now_ms>.  Returns 0 when they were there, else
 * the milliseconds until they will be (nothing taken).  A <cost> above
 * <burst> is allowed once the bucket is full (it then goes negative), so a
 * large message is slowed, never refused forever.
 */
uint64_t	limits_bucket_take(struct limits_bucket *, uint64_t now_ms,
		    double rate, double burst, double cost);

/* Why an accept was refused; LIMITS_OK when it was not. */
enum limits_refusal {
	LIMITS_OK = 0,
	LIMITS_TOTAL,		/* limits.max_connections */
	LIMITS_UNAUTHENTICATED,	/* limits.max_unauthenticated */
	LIMITS_ADDRESS,		/* limits.max_connections_per_address */
	LIMITS_NETWORK,		/* limits.max_connections_per_network */
	LIMITS_RATE		/* limits.connection_rate_per_address */
};

const char	*limits_refusal_str(enum limits_refusal);

struct limits;

struct limits	*limits_new(void);
void		 limits_free(struct limits *);

/* The shared state a connection holds while it is open. */
struct limits_conn {
	uint8_t		addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	bool		counted;	/* in the totals */
	bool		unauth;		/* in the unauthenticated count */
};

/*
 * Admits a new connection from <sa> under <lim>, counting it, or refuses
 * it (nothing counted).  <now_ms> drives the connection-rate bucket.
 */
enum limits_refusal limits_admit(struct limits *, const struct policy_limits *,
		    const struct sockaddr *sa, uint64_t now_ms,
		    struct limits_conn *c);
/* The connection authenticated: no longer counts as unauthenticated. */
void		 limits_authenticated(struct limits *, struct limits_conn *c);
/* The connection closed: every count it held is released. */
void		 limits_release(struct limits *, const struct policy_limits *,
		    struct limits_conn *c);
/* Current totals, for tests and metrics. */
uint64_t	 limits_total(struct limits *);

#endif
