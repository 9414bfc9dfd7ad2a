/* SPDX-License-Identifier: ISC */
/*
 * limits — token buckets, the counters every worker shares, and two pure
 * helpers for a session's own bounds.
 *
 * The total, per-listener and not-yet-authenticated counts are atomics,
 * taken with a compare-and-swap that never lets them past their cap, so
 * two workers accepting at once cannot both take the last place.
 *
 * The per-address and per-network counters live in one fixed hmap of
 * LIMITS_TABLE_ENTRIES slots (hmap.h: SipHash of the address under a
 * random key, linear probing).  A slot is never emptied, only reused: a
 * slot whose connections are all gone and whose rate bucket has refilled
 * holds nothing worth keeping, and an insert takes the first such slot on
 * its probe path.  Because no slot is ever emptied, a lookup may stop at the
 * first empty slot.  Probes are bounded; when a new address finds no room
 * the connection is refused (fail closed), which with 20 000 descriptors a
 * process and 65 536 slots cannot happen by accident.  All of it runs at
 * accept and close under one mutex; no frame waits on it.
 *
 * The per-user table is built the same way, under a second mutex so that
 * authentication never waits for an accept storm.  Its entries are handed
 * out to sessions (limits_user_admit), so the reuse rule matters more
 * there: an entry is reused only when no connection holds it (refs == 0)
 * and all its buckets have refilled.  A session's pointer stays valid
 * because it holds a reference until limits_user_release().  The table is
 * allocated on the first identity that needs it.  Its mutex is the one lock
 * in the frame path, and only when a per-user PUBLISH rate is set; it is
 * held for a few additions.
 *
 * limits_subs shares nothing and takes no lock.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/limits.h"
#include "mqttguard/hmap.h"
#include "mqttguard/topic.h"

#define PROBE_MAX	64
#define IDENTITY_MAX	256	/* as auth's AUTH_IDENTITY_MAX */
#define SUBS_MIN	8	/* slots of a set's first table */

struct slot {
	uint64_t		hash;		/* first, for hmap */
	uint8_t			key[17];	/* address, then kind */
	uint32_t		conns;
	struct limits_bucket	rate;		/* new connections */
	uint64_t		full_ms;	/* rate refilled from here on */
};

struct limits_user {
	uint64_t		 hash;		/* first, for hmap */
	char			*identity;	/* owned; NULL: never used */
	unsigned		 refs;		/* connections holding it */
	uint64_t		 full_ms;	/* all buckets full from here */
	struct limits_bucket	 conns;		/* new connections */
	struct limits_bucket	 msgs;		/* PUBLISHes, all connections */
	struct limits_bucket	 bytes;		/* their bytes */
};

struct limits {
	pthread_mutex_t		 mtx;		/* slots */
	pthread_mutex_t		 umtx;		/* users and their buckets */
	struct hmap_type	 atype, utype;
	struct hmap		 addrs;		/* over slots */
	struct hmap		 utab;		/* over users */
	struct slot		*slots;		/* owned */
	struct limits_user	*users;		/* owned; NULL until needed */
	atomic_uint_fast64_t	 total;
	atomic_uint_fast64_t	 unauth;
	atomic_uint_fast64_t	 listeners[LIMITS_LISTENERS_MAX];
};

enum { KIND_ADDRESS = 0, KIND_NETWORK = 1 };

/* A filter in a struct limits_subs: one allocation each. */
struct subs_entry {
	size_t		len;
	uint8_t		bytes[];
};

struct subs_slot {
	uint64_t		 hash;
	struct subs_entry	*e;		/* owned */
};

struct limits_subs {
	struct hmap		 map;		/* of struct subs_slot */
};

/* What slot_stale() judges by. */
struct slot_age {
	uint64_t		 now;
	const struct slot	*avoid;
};

static void	bucket_refill(struct limits_bucket *, uint64_t, double,
		    double);
static uint64_t	bucket_wait(const struct limits_bucket *, double, double,
		    double);
static uint64_t	bucket_full_ms(const struct limits_bucket *, double,
		    double);
static bool	count_take(atomic_uint_fast64_t *, uint64_t);
static bool	slot_eq(void *, const void *, const void *, size_t);
static bool	slot_stale(void *, const void *);
static struct slot *slot_get(struct limits *, const uint8_t *, uint64_t,
		    const struct slot *, bool);
static void	to_v6(const struct sockaddr *, uint8_t *);
static void	network_key(const uint8_t *, const struct policy_limits *,
		    uint8_t *);
static bool	user_eq(void *, const void *, const void *, size_t);
static bool	user_stale(void *, const void *);
static struct limits_user *user_get(struct limits *, const char *, size_t,
		    uint64_t, bool);
static void	user_touch(struct limits_user *, const struct limits_bucket *,
		    double, double);
static void	subs_type_init(void);
static bool	subs_eq(void *, const void *, const void *, size_t);

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
	[LIMITS_LISTENER] = "too many connections on this listener "
	    "(limits.listeners.<name>.max_connections)",
	[LIMITS_USER] = "too many connections for this user "
	    "(limits.max_connections_per_user)",
	[LIMITS_USER_RATE] = "user connecting too fast "
	    "(limits.connection_rate_per_user)",
	[LIMITS_HANDSHAKE] = "TLS handshakes over budget, this network's "
	    "share spent (limits.handshake_budget)",
};

/* The type (and key) of every limits_subs in the process. */
static pthread_once_t	subs_once = PTHREAD_ONCE_INIT;
static struct hmap_type	subs_type;
static bool		subs_type_ok;

const char *
limits_refusal_str(enum limits_refusal r)
{
	if ((size_t)r >= sizeof(refusals) / sizeof(refusals[0]) ||
	    refusals[r] == NULL)
		return "unknown";
	return refusals[r];
}

/* ---- token buckets ----------------------------------------------------- */

/* Adds what <rate> earned since the last call, never past <burst>. */
static void
bucket_refill(struct limits_bucket *b, uint64_t now, double rate,
    double burst)
{
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
}

/*
 * 0 when a refilled <b> can pay <cost>, else the milliseconds until it
 * can.  A cost over the burst passes once the bucket is full, so it needs
 * min(cost, burst).  The wait is rounded up: a caller that sleeps exactly
 * that long finds the tokens there, rather than waking to wait 1 ms more.
 */
static uint64_t
bucket_wait(const struct limits_bucket *b, double rate, double burst,
    double cost)
{
	double	need = cost < burst ? cost : burst;
	double	ms;

	if (b->tokens >= need)
		return 0;
	ms = (need - b->tokens) * 1000.0 / (rate > 1 ? rate : 1);
	if (ms >= 1e18)		/* converting more to uint64_t is undefined */
		return (uint64_t)1e18;
	return (uint64_t)ms + 1;
}

/*
 * When <b> will be full again if nothing more is taken: from then on its
 * state is worth nothing and the slot holding it may be reused.
 */
static uint64_t
bucket_full_ms(const struct limits_bucket *b, double rate, double burst)
{
	double	ms;

	if (rate <= 0 || !b->started || b->tokens >= burst)
		return 0;
	ms = (burst - b->tokens) * 1000.0 / rate;
	if (ms >= 1e18)
		return UINT64_MAX;
	return b->last_ms + (uint64_t)ms + 1;
}

uint64_t
limits_bucket_take(struct limits_bucket *b, uint64_t now, double rate,
    double burst, double cost)
{
	uint64_t	wait;

	if (rate <= 0)
		return 0;
	bucket_refill(b, now, rate, burst);
	if ((wait = bucket_wait(b, rate, burst, cost)) == 0)
		b->tokens -= cost;
	return wait;
}

void
limits_bucket_refund(struct limits_bucket *b, double cost)
{
	b->tokens += cost;
}

/* ---- the shared state -------------------------------------------------- */

struct limits *
limits_new(void)
{
	struct limits	*l;
	size_t		 i;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->atype.size = sizeof(struct slot);
	l->atype.probes = PROBE_MAX;
	l->atype.eq = slot_eq;
	l->utype.size = sizeof(struct limits_user);
	l->utype.probes = PROBE_MAX;
	l->utype.eq = user_eq;
	if ((l->slots = calloc(LIMITS_TABLE_ENTRIES, sizeof(*l->slots))) ==
	    NULL || hmap_type_init(&l->atype) == -1 ||
	    hmap_type_init(&l->utype) == -1)
		goto fail;
	hmap_init(&l->addrs, &l->atype, l->slots, LIMITS_TABLE_ENTRIES);
	if (pthread_mutex_init(&l->mtx, NULL) != 0)
		goto fail;
	if (pthread_mutex_init(&l->umtx, NULL) != 0) {
		pthread_mutex_destroy(&l->mtx);
		goto fail;
	}
	atomic_init(&l->total, 0);
	atomic_init(&l->unauth, 0);
	for (i = 0; i < LIMITS_LISTENERS_MAX; i++)
		atomic_init(&l->listeners[i], 0);
	return l;
fail:
	free(l->slots);
	free(l);
	return NULL;
}

/* Called once no session holds anything of <l>. */
void
limits_free(struct limits *l)
{
	size_t	i;

	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mtx);
	pthread_mutex_destroy(&l->umtx);
	if (l->users != NULL)
		for (i = 0; i < LIMITS_USERS_MAX; i++)
			free(l->users[i].identity);
	free(l->users);
	free(l->slots);
	free(l);
}

uint64_t
limits_total(struct limits *l)
{
	return atomic_load(&l->total);
}

/* 0 for a listener index not counted apart. */
uint64_t
limits_listener_total(struct limits *l, unsigned listener)
{
	if (listener >= LIMITS_LISTENERS_MAX)
		return 0;
	return atomic_load(&l->listeners[listener]);
}

/*
 * Adds one to <n> unless it is at <max> already (0: no cap).  A load
 * then an add would let two threads both take the last place; the
 * compare-and-swap does not, and unlike an add rolled back on overshoot it
 * never refuses anyone because of a connection that was itself refused.
 */
static bool
count_take(atomic_uint_fast64_t *n, uint64_t max)
{
	uint_fast64_t	v;

	if (max == 0) {
		atomic_fetch_add(n, 1);
		return true;
	}
	v = atomic_load(n);
	do {
		if (v >= max)
			return false;
	} while (!atomic_compare_exchange_weak(n, &v, v + 1));
	return true;
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

static bool
slot_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct slot	*s = slot;

	(void)ctx;
	return len == sizeof(s->key) && memcmp(s->key, key, len) == 0;
}

/*
 * A slot is reusable when no connection counts in it and its rate bucket,
 * judged by the rate it last ran under, has refilled by <now>; never the
 * slot the caller holds but has not counted in yet.
 */
static bool
slot_stale(void *arg, const void *slot)
{
	const struct slot_age	*a = arg;
	const struct slot	*s = slot;

	return s != a->avoid && s->conns == 0 && a->now >= s->full_ms;
}

/*
 * The slot of <key> (17 bytes).  When missing and <create>, a new one
 * takes the first empty or reusable slot on the probe path (never
 * <avoid>, see slot_stale()); NULL when there is none, or when missing
 * and not <create>.
 */
static struct slot *
slot_get(struct limits *l, const uint8_t *key, uint64_t now,
    const struct slot *avoid, bool create)
{
	struct slot_age	 age = { now, avoid };
	struct slot	*s;
	uint64_t	 h = hmap_hash(&l->atype, key, 17);

	if ((s = hmap_find(&l->addrs, h, key, 17)) != NULL || !create)
		return s;
	if ((s = hmap_spot(&l->addrs, h, slot_stale, &age)) == NULL)
		return NULL;
	hmap_take(&l->addrs, s, h);
	memcpy(s->key, key, 17);
	return s;
}

/*
 * The caps that need no lookup come first (total, listener, then not yet
 * authenticated), each taken as it is checked and given back if a later
 * check refuses, so that what is counted is always exact.
 */
enum limits_refusal
limits_admit(struct limits *l, const struct policy_limits *lim,
    unsigned total_max, unsigned listener, unsigned listener_max,
    const struct sockaddr *sa, uint64_t now, struct limits_conn *c)
{
	enum limits_refusal	r;

	r = limits_admit_conn(l, lim, total_max, listener, listener_max, c);
	if (r != LIMITS_OK)
		return r;
	if ((r = limits_admit_addr(l, lim, sa, now, c)) != LIMITS_OK)
		limits_release(l, c);
	return r;
}

enum limits_refusal
limits_admit_conn(struct limits *l, const struct policy_limits *lim,
    unsigned total_max, unsigned listener, unsigned listener_max,
    struct limits_conn *c)
{
	bool	apart = listener < LIMITS_LISTENERS_MAX;

	memset(c, 0, sizeof(*c));
	c->listener = listener;
	if (!count_take(&l->total, total_max))
		return LIMITS_TOTAL;
	if (apart && !count_take(&l->listeners[listener], listener_max)) {
		atomic_fetch_sub(&l->total, 1);
		return LIMITS_LISTENER;
	}
	if (!count_take(&l->unauth, lim->max_unauthenticated)) {
		if (apart)
			atomic_fetch_sub(&l->listeners[listener], 1);
		atomic_fetch_sub(&l->total, 1);
		return LIMITS_UNAUTHENTICATED;
	}
	c->counted = c->unauth = true;
	return LIMITS_OK;
}

/*
 * The address's slot, and its network's when that is capped, are found
 * or made, judged, and counted in only when every check passes.
 */
enum limits_refusal
limits_admit_addr(struct limits *l, const struct policy_limits *lim,
    const struct sockaddr *sa, uint64_t now, struct limits_conn *c)
{
	struct slot		*as, *ns = NULL;
	uint8_t			 key[17], nkey[17];
	enum limits_refusal	 r = LIMITS_OK;
	double			 rate = lim->connection_rate_per_address;
	double			 burst = lim->connection_burst_per_address;

	if (!c->counted || c->addr_counted)
		return LIMITS_OK;	/* nothing to add to: fail safe */
	to_v6(sa, key);
	key[16] = KIND_ADDRESS;
	network_key(key, lim, nkey);
	pthread_mutex_lock(&l->mtx);
	if ((as = slot_get(l, key, now, NULL, true)) == NULL ||
	    (lim->max_connections_per_network > 0 &&
	    (ns = slot_get(l, nkey, now, as, true)) == NULL)) {
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
	if (rate > 0) {
		if (limits_bucket_take(&as->rate, now, rate, burst, 1) > 0)
			r = LIMITS_RATE;
		as->full_ms = bucket_full_ms(&as->rate, rate, burst);
		if (r != LIMITS_OK)
			goto out;
	}
	as->conns++;
	if (ns != NULL)
		ns->conns++;
out:
	pthread_mutex_unlock(&l->mtx);
	if (r == LIMITS_OK) {
		/*
		 * What was counted is kept, so that the release takes back
		 * exactly that, whatever a reload changes in the meantime.
		 */
		memcpy(c->addr, key, 16);
		memcpy(c->net, nkey, sizeof(c->net));
		c->net_counted = ns != NULL;
		c->addr_counted = true;
	}
	return r;
}

void
limits_authenticated(struct limits *l, struct limits_conn *c)
{
	limits_pending_del(c);
	if (c->unauth) {
		c->unauth = false;
		atomic_fetch_sub(&l->unauth, 1);
	}
}

void
limits_release(struct limits *l, struct limits_conn *c)
{
	struct slot	*s;
	uint8_t		 key[17];

	if (!c->counted)
		return;
	limits_authenticated(l, c);
	if (c->addr_counted) {
		memcpy(key, c->addr, 16);
		key[16] = KIND_ADDRESS;
		pthread_mutex_lock(&l->mtx);
		if ((s = slot_get(l, key, 0, NULL, false)) != NULL &&
		    s->conns > 0)
			s->conns--;
		if (c->net_counted && (s = slot_get(l, c->net, 0, NULL,
		    false)) != NULL && s->conns > 0)
			s->conns--;
		pthread_mutex_unlock(&l->mtx);
	}
	c->counted = c->addr_counted = c->net_counted = false;
	if (c->listener < LIMITS_LISTENERS_MAX)
		atomic_fetch_sub(&l->listeners[c->listener], 1);
	atomic_fetch_sub(&l->total, 1);
}

void
limits_move_listener(struct limits *l, struct limits_conn *c,
    unsigned listener)
{
	if (!c->counted || c->listener == listener)
		return;
	if (c->listener < LIMITS_LISTENERS_MAX)
		atomic_fetch_sub(&l->listeners[c->listener], 1);
	if (listener < LIMITS_LISTENERS_MAX)
		atomic_fetch_add(&l->listeners[listener], 1);
	c->listener = listener;
}

/* ---- the pending connections of one event loop ------------------------ */

/*
 * Why one set per loop, not one for the process: a connection belongs to
 * its loop and only that loop's thread may close it, so a set shared by
 * every worker would need a lock on each accept and authentication, and
 * an eviction posted across threads to the victim's loop, with the place
 * it frees open to any worker meanwhile.  Each worker binds its own
 * socket with SO_REUSEPORT, and the kernel spreads connections over those
 * sockets by a hash of the addresses and ports, so an attacker's pending
 * connections fill every worker's set in about the same proportion as
 * the whole; each loop judges fairness on its own share, with no lock.
 * The budget itself stays the shared atomic count: an eviction gives one
 * place back to it, which the newcomer then takes.
 *
 * The networks are found by a chained hash table (SipHash under a
 * random key) that doubles when it holds more networks than chains, and
 * ordered by a max-heap on their counts: a count moves by one at a time,
 * so each add or leave costs O(1) to find the network and O(log n) to
 * restore the heap.  A network whose count falls to zero is freed.
 */
struct limits_pnet {
	uint8_t			 key[17];
	unsigned		 count;		/* = connections in q */
	size_t			 heap_i;	/* index in the heap */
	struct limits_pnet	*next;		/* in its chain */
	TAILQ_HEAD(, limits_conn) q;		/* oldest first */
};

struct limits_pending {
	struct hmap_type	 type;		/* its hash key only */
	struct limits_pnet	**chains;	/* owned; nchains of them */
	size_t			 nchains;	/* a power of two */
	struct limits_pnet	**heap;		/* owned; by count, max first */
	size_t			 n, cap;	/* networks; heap room */
	unsigned		 total;		/* connections */
};

#define PENDING_CHAINS_MIN	64

static struct limits_pnet **pnet_chain(struct limits_pending *,
		    const uint8_t *);
static struct limits_pnet *pnet_get(struct limits_pending *,
		    const uint8_t *, bool);
static void	pnet_drop(struct limits_pending *, struct limits_pnet *);
static int	pending_grow(struct limits_pending *);
static void	heap_swap(struct limits_pending *, size_t, size_t);
static void	heap_up(struct limits_pending *, size_t);
static void	heap_down(struct limits_pending *, size_t);

struct limits_pending *
limits_pending_new(void)
{
	struct limits_pending	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->nchains = PENDING_CHAINS_MIN;
	if (hmap_type_init(&p->type) == -1 ||
	    (p->chains = calloc(p->nchains, sizeof(*p->chains))) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void
limits_pending_free(struct limits_pending *p)
{
	struct limits_pnet	*n;
	struct limits_conn	*c;
	size_t			 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		n = p->heap[i];
		while ((c = TAILQ_FIRST(&n->q)) != NULL) {
			TAILQ_REMOVE(&n->q, c, pq);
			c->pend = NULL;
			c->pnet = NULL;
		}
		free(n);
	}
	free(p->heap);
	free(p->chains);
	free(p);
}

void
limits_network_key(const struct sockaddr *sa,
    const struct policy_limits *lim, uint8_t *out)
{
	uint8_t	a[16];

	to_v6(sa, a);
	network_key(a, lim, out);
}

static struct limits_pnet **
pnet_chain(struct limits_pending *p, const uint8_t *key)
{
	return &p->chains[hmap_hash(&p->type, key, 17) & (p->nchains - 1)];
}

/* <key>'s network, made (with count 0, in the heap) when <create>. */
static struct limits_pnet *
pnet_get(struct limits_pending *p, const uint8_t *key, bool create)
{
	struct limits_pnet	**ch = pnet_chain(p, key), *n;

	for (n = *ch; n != NULL; n = n->next)
		if (memcmp(n->key, key, 17) == 0)
			return n;
	if (!create)
		return NULL;
	if ((p->n >= p->nchains || p->n == p->cap) && pending_grow(p) == -1)
		return NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	memcpy(n->key, key, 17);
	TAILQ_INIT(&n->q);
	ch = pnet_chain(p, key);
	n->next = *ch;
	*ch = n;
	n->heap_i = p->n;
	p->heap[p->n++] = n;
	return n;	/* count 0: the heap's order holds at the bottom */
}

/* Room for one more network: heap room, and chains no longer than one. */
static int
pending_grow(struct limits_pending *p)
{
	struct limits_pnet	**h, **ch, *n, *next;
	size_t			 i, nch = p->nchains;

	if (p->n == p->cap) {
		size_t	cap = p->cap ? p->cap * 2 : PENDING_CHAINS_MIN;

		if ((h = reallocarray(p->heap, cap, sizeof(*h))) == NULL)
			return -1;
		p->heap = h;
		p->cap = cap;
	}
	if (p->n < p->nchains)
		return 0;
	if ((ch = calloc(nch * 2, sizeof(*ch))) == NULL)
		return -1;
	for (i = 0; i < nch; i++)
		for (n = p->chains[i]; n != NULL; n = next) {
			next = n->next;
			n->next = ch[hmap_hash(&p->type, n->key, 17) &
			    (nch * 2 - 1)];
			ch[hmap_hash(&p->type, n->key, 17) & (nch * 2 - 1)] = n;
		}
	free(p->chains);
	p->chains = ch;
	p->nchains = nch * 2;
	return 0;
}

/* <n> holds nothing any more: out of its chain and the heap, freed. */
static void
pnet_drop(struct limits_pending *p, struct limits_pnet *n)
{
	struct limits_pnet	**ch = pnet_chain(p, n->key);
	size_t			 i = n->heap_i;

	while (*ch != n)
		ch = &(*ch)->next;
	*ch = n->next;
	if (i != --p->n) {
		heap_swap(p, i, p->n);
		heap_down(p, i);
		heap_up(p, i);
	}
	free(n);
}

static void
heap_swap(struct limits_pending *p, size_t a, size_t b)
{
	struct limits_pnet	*t = p->heap[a];

	p->heap[a] = p->heap[b];
	p->heap[b] = t;
	p->heap[a]->heap_i = a;
	p->heap[b]->heap_i = b;
}

static void
heap_up(struct limits_pending *p, size_t i)
{
	while (i > 0 && p->heap[(i - 1) / 2]->count < p->heap[i]->count) {
		heap_swap(p, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct limits_pending *p, size_t i)
{
	size_t	m, l;

	for (;;) {
		m = i;
		l = 2 * i + 1;
		if (l < p->n && p->heap[l]->count > p->heap[m]->count)
			m = l;
		if (l + 1 < p->n && p->heap[l + 1]->count > p->heap[m]->count)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(p, i, m);
		i = m;
	}
}

int
limits_pending_add(struct limits_pending *p, struct limits_conn *c,
    void *owner)
{
	struct limits_pnet	*n;

	if (c->pend != NULL || !c->unauth || !c->addr_counted)
		return 0;
	if ((n = pnet_get(p, c->net, true)) == NULL)
		return -1;
	TAILQ_INSERT_TAIL(&n->q, c, pq);
	n->count++;
	heap_up(p, n->heap_i);
	c->pend = p;
	c->pnet = n;
	c->owner = owner;
	p->total++;
	return 0;
}

void
limits_pending_del(struct limits_conn *c)
{
	struct limits_pending	*p = c->pend;
	struct limits_pnet	*n = c->pnet;

	if (p == NULL)
		return;
	TAILQ_REMOVE(&n->q, c, pq);
	c->pend = NULL;
	c->pnet = NULL;
	p->total--;
	if (--n->count == 0)
		pnet_drop(p, n);
	else
		heap_down(p, n->heap_i);
}

void *
limits_pending_victim(struct limits_pending *p, const uint8_t *net,
    unsigned *count)
{
	struct limits_pnet	*top, *own;
	unsigned		 mine = 0;

	if (p->n == 0)
		return NULL;
	top = p->heap[0];
	if (net != NULL && (own = pnet_get(p, net, false)) != NULL)
		mine = own->count;
	/*
	 * Taking from a network holding mine + 1 would only swap the two
	 * shares; from the newcomer's own network, nothing at all.
	 */
	if (top->count < mine + 2)
		return NULL;
	if (count != NULL)
		*count = top->count;
	return TAILQ_FIRST(&top->q)->owner;
}

unsigned
limits_pending_count(const struct limits_pending *p, const uint8_t *net)
{
	const struct limits_pnet	*n;

	if (net == NULL)
		return p->total;
	n = p->chains[hmap_hash(&p->type, net, 17) & (p->nchains - 1)];
	for (; n != NULL; n = n->next)
		if (memcmp(n->key, net, 17) == 0)
			return n->count;
	return 0;
}

/* ---- per user ---------------------------------------------------------- */

bool
limits_user_wanted(const struct policy_limits *lim)
{
	return lim->max_connections_per_user > 0 ||
	    lim->connection_rate_per_user > 0 ||
	    lim->user_message_rate > 0 || lim->user_byte_rate > 0;
}

static bool
user_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct limits_user	*u = slot;

	(void)ctx;
	return strncmp(u->identity, key, len) == 0 &&
	    u->identity[len] == '\0';
}

/* refs > 0: a session holds a pointer to it. */
static bool
user_stale(void *arg, const void *slot)
{
	const struct limits_user	*u = slot;

	return u->refs == 0 && *(const uint64_t *)arg >= u->full_ms;
}

/*
 * The entry of <id> (<len> bytes, NUL-terminated), as slot_get() for
 * addresses.  Called with umtx held and l->users allocated.  A new entry
 * needs a copy of the identity: NULL also when that allocation fails.
 */
static struct limits_user *
user_get(struct limits *l, const char *id, size_t len, uint64_t now,
    bool create)
{
	struct limits_user	*u;
	uint64_t		 h = hmap_hash(&l->utype, id, len);
	char			*copy;

	if ((u = hmap_find(&l->utab, h, id, len)) != NULL || !create)
		return u;
	if ((u = hmap_spot(&l->utab, h, user_stale, &now)) == NULL ||
	    (copy = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(copy, id, len + 1);
	free(u->identity);
	hmap_take(&l->utab, u, h);
	u->identity = copy;
	return u;
}

/* Called after each use of bucket <b> of <u>: when all will be full. */
static void
user_touch(struct limits_user *u, const struct limits_bucket *b,
    double rate, double burst)
{
	uint64_t	t = bucket_full_ms(b, rate, burst);

	if (t > u->full_ms)
		u->full_ms = t;
}

/*
 * An identity longer than IDENTITY_MAX (auth accepts none) or a NULL one
 * is refused rather than truncated: two identities sharing a prefix must
 * not share an entry.
 */
enum limits_refusal
limits_user_admit(struct limits *l, const char *identity,
    const struct policy_limits *lim, uint64_t now, struct limits_user **out)
{
	struct limits_user	*u;
	enum limits_refusal	 r = LIMITS_OK;
	double			 rate = lim->connection_rate_per_user;
	double			 burst = lim->connection_burst_per_user > 0 ?
				    lim->connection_burst_per_user : rate;
	size_t			 len;

	*out = NULL;
	if (!limits_user_wanted(lim))
		return LIMITS_OK;
	if (identity == NULL ||
	    (len = strnlen(identity, IDENTITY_MAX + 1)) > IDENTITY_MAX)
		return LIMITS_USER;
	pthread_mutex_lock(&l->umtx);
	if (l->users == NULL) {
		if ((l->users = calloc(LIMITS_USERS_MAX,
		    sizeof(*l->users))) == NULL) {
			r = LIMITS_USER;
			goto out;
		}
		hmap_init(&l->utab, &l->utype, l->users, LIMITS_USERS_MAX);
	}
	if ((u = user_get(l, identity, len, now, true)) == NULL) {
		r = LIMITS_USER;	/* no room to count it: refuse */
		goto out;
	}
	if (lim->max_connections_per_user > 0 &&
	    u->refs >= lim->max_connections_per_user) {
		r = LIMITS_USER;
		goto out;
	}
	if (rate > 0) {
		if (limits_bucket_take(&u->conns, now, rate, burst, 1) > 0)
			r = LIMITS_USER_RATE;
		user_touch(u, &u->conns, rate, burst);
		if (r != LIMITS_OK)
			goto out;
	}
	u->refs++;
	*out = u;
out:
	pthread_mutex_unlock(&l->umtx);
	return r;
}

void
limits_user_release(struct limits *l, struct limits_user *u)
{
	if (u == NULL)
		return;
	pthread_mutex_lock(&l->umtx);
	if (u->refs > 0)
		u->refs--;
	pthread_mutex_unlock(&l->umtx);
}

/*
 * Both waits are computed before anything is taken, so a PUBLISH the
 * byte bucket refuses costs no message token.  The longer wait is the one
 * after which both buckets can pay.
 */
uint64_t
limits_user_take(struct limits *l, struct limits_user *u,
    const struct policy_limits *lim, uint64_t now, size_t bytes)
{
	double		mrate = lim->user_message_rate;
	double		mburst = lim->user_message_burst > 0 ?
			    lim->user_message_burst : mrate;
	double		brate = (double)lim->user_byte_rate;
	double		bburst = (double)(lim->user_byte_burst > 0 ?
			    lim->user_byte_burst : lim->user_byte_rate);
	uint64_t	mwait = 0, bwait = 0;

	if (u == NULL || (mrate <= 0 && brate <= 0))
		return 0;
	pthread_mutex_lock(&l->umtx);
	if (mrate > 0) {
		bucket_refill(&u->msgs, now, mrate, mburst);
		mwait = bucket_wait(&u->msgs, mrate, mburst, 1);
	}
	if (brate > 0) {
		bucket_refill(&u->bytes, now, brate, bburst);
		bwait = bucket_wait(&u->bytes, brate, bburst, (double)bytes);
	}
	if (mwait == 0 && bwait == 0) {
		if (mrate > 0)
			u->msgs.tokens -= 1;
		if (brate > 0)
			u->bytes.tokens -= (double)bytes;
	}
	if (mrate > 0)
		user_touch(u, &u->msgs, mrate, mburst);
	if (brate > 0)
		user_touch(u, &u->bytes, brate, bburst);
	pthread_mutex_unlock(&l->umtx);
	return mwait > bwait ? mwait : bwait;
}

unsigned
limits_user_conns(struct limits *l, const char *identity)
{
	struct limits_user	*u;
	unsigned		 n = 0;
	size_t			 len;

	if (identity == NULL ||
	    (len = strnlen(identity, IDENTITY_MAX + 1)) > IDENTITY_MAX)
		return 0;
	pthread_mutex_lock(&l->umtx);
	if (l->users != NULL &&
	    (u = user_get(l, identity, len, 0, false)) != NULL)
		n = u->refs;
	pthread_mutex_unlock(&l->umtx);
	return n;
}

/* ---- a session's subscriptions ----------------------------------------- */

/*
 * One type (and key) for every set of the process: the filters come from
 * clients, and a key they cannot guess keeps them from filling one probe
 * run; a key per set would cost the random generator a call per session.
 * If it fails, no set can be made (limits_subs_new gives NULL).
 */
static void
subs_type_init(void)
{
	subs_type.size = sizeof(struct subs_slot);
	subs_type.min = SUBS_MIN;
	subs_type.eq = subs_eq;
	subs_type_ok = hmap_type_init(&subs_type) == 0;
}

static bool
subs_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct subs_entry	*e = ((const struct subs_slot *)slot)->e;

	(void)ctx;
	return e->len == len && (len == 0 || memcmp(e->bytes, key, len) == 0);
}

struct limits_subs *
limits_subs_new(void)
{
	struct limits_subs	*s;

	if (pthread_once(&subs_once, subs_type_init) != 0 || !subs_type_ok ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	hmap_init(&s->map, &subs_type, NULL, 0);
	return s;
}

void
limits_subs_free(struct limits_subs *s)
{
	struct subs_slot	*ss = NULL;

	if (s == NULL)
		return;
	while ((ss = hmap_next(&s->map, ss)) != NULL)
		free(ss->e);
	hmap_fini(&s->map);
	free(s);
}

size_t
limits_subs_count(const struct limits_subs *s)
{
	return s->map.n;
}

bool
limits_subs_has(const struct limits_subs *s, const uint8_t *filter,
    size_t len)
{
	if (s->map.n == 0)
		return false;
	return hmap_find(&s->map, hmap_hash(&subs_type, filter, len), filter,
	    len) != NULL;
}

int
limits_subs_add(struct limits_subs *s, const uint8_t *filter, size_t len)
{
	struct subs_entry	*e;
	struct subs_slot	*ss;
	uint64_t		 h = hmap_hash(&subs_type, filter, len);

	if (hmap_find(&s->map, h, filter, len) != NULL)
		return 0;
	if (len > SIZE_MAX - sizeof(*e) - 1)
		return -1;
	if ((e = malloc(sizeof(*e) + len)) == NULL)
		return -1;
	if ((ss = hmap_add(&s->map, h)) == NULL) {
		free(e);
		return -1;
	}
	e->len = len;
	if (len > 0)
		memcpy(e->bytes, filter, len);
	ss->e = e;
	return 1;
}

bool
limits_subs_del(struct limits_subs *s, const uint8_t *filter, size_t len)
{
	struct subs_slot	*ss;

	if (s->map.n == 0 || (ss = hmap_find(&s->map, hmap_hash(&subs_type,
	    filter, len), filter, len)) == NULL)
		return false;
	free(ss->e);
	hmap_del(&s->map, ss);
	return true;
}
