/* SPDX-License-Identifier: ISC */
/*
 * limits — token buckets, and the connection counters every worker shares.
 *
 * The per-address and per-network counters live in one open-addressing
 * table of LIMITS_TABLE_ENTRIES slots, keyed by SipHash of the address
 * under a random key.  A slot is never emptied, only reused: a slot whose
 * connections are all gone and whose rate bucket has refilled holds
 * nothing worth keeping, and an insert takes the first such slot on its
 * probe path.  Probes are bounded; when a new address finds no room the
 * connection is refused (fail closed), which with 20 000 descriptors a
 * process and 65 536 slots cannot happen by accident.
 *
 * All of it runs at accept and close under one mutex; no frame waits on it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqttguard/limits.h"
#include "mqttguard/siphash.h"

#define PROBE_MAX	64

struct slot {
	uint8_t			key[17];	/* address, then kind */
	bool			used;
	uint32_t		conns;
	struct limits_bucket	rate;		/* new connections */
};

struct limits {
	pthread_mutex_t		 mtx;
	uint8_t			 sipkey[16];
	struct slot		*slots;		/* owned */
	atomic_uint_fast64_t	 total;
	atomic_uint_fast64_t	 unauth;
};

enum { KIND_ADDRESS = 0, KIND_NETWORK = 1 };

static struct slot *slot_get(struct limits *, const uint8_t *, uint64_t,
		    double, double);
static void	to_v6(const struct sockaddr *, uint8_t *);
static void	network_key(const uint8_t *, const struct policy_limits *,
		    uint8_t *);

static const char *const refusals[] = {
	[LIMITS_OK] = "admitted",
	[LIMITS_TOTAL] = "too many connections (limits.max_connections)",
	[LIMITS_UNAUTHENTICATED] = "too many connections not yet "
	    "authenticated (limits.max_unauthenticated)",
	[LIMITS_ADDRESS] = "too many connections from this address "
	    "(limits.max_connections_per_address)",
	[LIMITS_NETWORK] = "too many connections from this network "
	    "(limits.max_connections_per_network)",
	[LIMITS_RATE] = "connecting too fast "
	    "(limits.connection_rate_per_address)",
};

const char *
limits_refusal_str(enum limits_refusal r)
{
	return (unsigned)r <= LIMITS_RATE ? refusals[r] : "unknown";
}

uint64_t
limits_bucket_take(struct limits_bucket *b, uint64_t now, double rate,
    double burst, double cost)
{
	if (rate <= 0)
		return 0;
	if (!b->started) {
		b->tokens = burst;
		b->last_ms = now;
		b->started = true;
	}
	if (now > b->last_ms) {
		b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
		if (b->tokens > burst)
			b->tokens = burst;
		b->last_ms = now;
	}
	/* A cost over the burst passes once the bucket is full. */
	if (b->tokens >= cost || (cost > burst && b->tokens >= burst)) {
		b->tokens -= cost;
		return 0;
	}
	return (uint64_t)((cost < burst ? cost : burst) - b->tokens) *
	    1000 / (uint64_t)(rate > 1 ? rate : 1) + 1;
}

struct limits *
limits_new(void)
{
	struct limits	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->slots = calloc(LIMITS_TABLE_ENTRIES, sizeof(*l->slots))) ==
	    NULL || RAND_bytes(l->sipkey, sizeof(l->sipkey)) != 1 ||
	    pthread_mutex_init(&l->mtx, NULL) != 0) {
		free(l->slots);
		free(l);
		return NULL;
	}
	atomic_init(&l->total, 0);
	atomic_init(&l->unauth, 0);
	return l;
}

void
limits_free(struct limits *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mtx);
	free(l->slots);
	free(l);
}

uint64_t
limits_total(struct limits *l)
{
	return atomic_load(&l->total);
}

/* IPv4 addresses become ::ffff:a.b.c.d so that one key form serves both. */
static void
to_v6(const struct sockaddr *sa, uint8_t *out)
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
		return;
	}
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	}
}

/* The address masked to its network: /network_v4 or /network_v6 bits. */
static void
network_key(const uint8_t *a, const struct policy_limits *lim, uint8_t *out)
{
	bool		v4 = a[10] == 0xff && a[11] == 0xff &&
			    memcmp(a, "\0\0\0\0\0\0\0\0\0\0", 10) == 0;
	unsigned	bits = v4 ? 96 + lim->network_v4 : lim->network_v6;
	unsigned	i;

	memcpy(out, a, 16);
	for (i = 0; i < 128; i++)
		if (i >= bits)
			out[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	out[16] = KIND_NETWORK;
}

/*
 * The slot of <key> (17 bytes), created if missing.  NULL when the probe
 * path is full.  <rate>/<burst> tell whether an idle slot's bucket has
 * refilled (then the slot is free to reuse).
 */
static struct slot *
slot_get(struct limits *l, const uint8_t *key, uint64_t now, double rate,
    double burst)
{
	struct slot	*s, *reuse = NULL;
	uint64_t	 h = siphash(l->sipkey, key, 17);
	unsigned	 i;

	for (i = 0; i < PROBE_MAX; i++) {
		s = &l->slots[(h + i) & (LIMITS_TABLE_ENTRIES - 1)];
		if (!s->used) {
			if (reuse == NULL)
				reuse = s;
			break;
		}
		if (memcmp(s->key, key, 17) == 0)
			return s;
		if (reuse == NULL && s->conns == 0 && (rate <= 0 ||
		    !s->rate.started || (double)(now - s->rate.last_ms) *
		    rate / 1000.0 + s->rate.tokens >= burst))
			reuse = s;
	}
	if (reuse == NULL)
		return NULL;
	memset(reuse, 0, sizeof(*reuse));
	memcpy(reuse->key, key, 17);
	reuse->used = true;
	return reuse;
}

enum limits_refusal
limits_admit(struct limits *l, const struct policy_limits *lim,
    const struct sockaddr *sa, uint64_t now, struct limits_conn *c)
{
	struct slot		*as, *ns = NULL;
	uint8_t			 key[17], nkey[17];
	enum limits_refusal	 r = LIMITS_OK;
	double			 rate = lim->connection_rate_per_address;
	double			 burst = lim->connection_burst_per_address;

	memset(c, 0, sizeof(*c));
	if (lim->max_connections > 0 &&
	    atomic_load(&l->total) >= lim->max_connections)
		return LIMITS_TOTAL;
	if (lim->max_unauthenticated > 0 &&
	    atomic_load(&l->unauth) >= lim->max_unauthenticated)
		return LIMITS_UNAUTHENTICATED;

	to_v6(sa, key);
	key[16] = KIND_ADDRESS;
	network_key(key, lim, nkey);
	pthread_mutex_lock(&l->mtx);
	if ((as = slot_get(l, key, now, rate, burst)) == NULL ||
	    (lim->max_connections_per_network > 0 &&
	    (ns = slot_get(l, nkey, now, 0, 0)) == NULL)) {
		r = LIMITS_ADDRESS;	/* no room to count it: refuse */
		goto out;
	}
	if (lim->max_connections_per_address > 0 &&
	    as->conns >= lim->max_connections_per_address) {
		r = LIMITS_ADDRESS;
		goto out;
	}
	if (ns != NULL && ns->conns >= lim->max_connections_per_network) {
		r = LIMITS_NETWORK;
		goto out;
	}
	if (rate > 0 && limits_bucket_take(&as->rate, now, rate, burst, 1) > 0) {
		r = LIMITS_RATE;
		goto out;
	}
	as->conns++;
	if (ns != NULL)
		ns->conns++;
	memcpy(c->addr, key, 16);
	c->counted = c->unauth = true;
	atomic_fetch_add(&l->total, 1);
	atomic_fetch_add(&l->unauth, 1);
out:
	pthread_mutex_unlock(&l->mtx);
	return r;
}

void
limits_authenticated(struct limits *l, struct limits_conn *c)
{
	if (c->unauth) {
		c->unauth = false;
		atomic_fetch_sub(&l->unauth, 1);
	}
}

void
limits_release(struct limits *l, const struct policy_limits *lim,
    struct limits_conn *c)
{
	struct slot	*s;
	uint8_t		 key[17], nkey[17];

	if (!c->counted)
		return;
	limits_authenticated(l, c);
	memcpy(key, c->addr, 16);
	key[16] = KIND_ADDRESS;
	network_key(key, lim, nkey);
	pthread_mutex_lock(&l->mtx);
	if ((s = slot_get(l, key, 0, 0, 0)) != NULL && s->conns > 0)
		s->conns--;
	if (lim->max_connections_per_network > 0 &&
	    (s = slot_get(l, nkey, 0, 0, 0)) != NULL && s->conns > 0)
		s->conns--;
	pthread_mutex_unlock(&l->mtx);
	c->counted = false;
	atomic_fetch_sub(&l->total, 1);
}
