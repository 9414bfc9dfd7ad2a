/* SPDX-License-Identifier: ISC */
/*
 * limits — token buckets and connection counters.
 *
 * Token buckets are pure: a struct and a function of the clock the caller
 * passes.  The connection counters (total, not yet authenticated, per
 * source address, per network prefix) are shared by every worker: totals
 * are atomics, the per-address and per-network ones a bounded hash table
 * behind one mutex, touched at accept and at close, never per frame.
 *
 * Per user (identity): a second bounded table, also shared, holds each
 * identity's connection count, connection-rate bucket and the message and
 * byte buckets all its connections draw from.  A session holds its user's
 * entry for its whole life, so a PUBLISH costs one lock, no lookup.
 *
 * Per event loop, unshared: the connections not yet authenticated by
 * network (fair eviction), and the TLS handshake budget (limits_hs_*,
 * in limits_hs.c).
 *
 * Also pure helpers for the session's own bounds: a set of subscription
 * filters (limits.max_subscriptions) and MQTT filter matching for the
 * per-topic rate rules.
 */
#ifndef MQTTGUARD_LIMITS_H
#define MQTTGUARD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "mqttguard/policy.h"

#define LIMITS_TABLE_ENTRIES	65536	/* addresses and networks tracked */
#define LIMITS_USERS_MAX	65536	/* identities tracked */
#define LIMITS_LISTENERS_MAX	64	/* listeners with their own count */

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
/*
 * Gives back <cost> tokens taken by limits_bucket_take(): a message that
 * another bucket held back costs nothing here.
 */
void		limits_bucket_refund(struct limits_bucket *, double cost);

/* Why an accept was refused; LIMITS_OK when it was not. */
enum limits_refusal {
	LIMITS_OK = 0,
	LIMITS_TOTAL,		/* limits.max_connections */
	LIMITS_UNAUTHENTICATED,	/* limits.max_unauthenticated */
	LIMITS_ADDRESS,		/* limits.max_connections_per_address */
	LIMITS_NETWORK,		/* limits.max_connections_per_network */
	LIMITS_RATE,		/* limits.connection_rate_per_address */
	LIMITS_LISTENER,	/* limits.listeners.<name>.max_connections */
	LIMITS_USER,		/* limits.max_connections_per_user */
	LIMITS_USER_RATE,	/* limits.connection_rate_per_user */
	LIMITS_HANDSHAKE	/* limits.handshake_budget */
};

const char	*limits_refusal_str(enum limits_refusal);

struct limits;

struct limits	*limits_new(void);
void		 limits_free(struct limits *);

struct limits_pending;
struct limits_pnet;

/*
 * The shared state a connection holds while it is open.  The last four
 * members are its place in its loop's pending set (limits_pending_add());
 * a copy made before that is harmless, one made after is not.
 */
struct limits_conn {
	uint8_t		addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	uint8_t		net[17];	/* its network's key, as counted */
	bool		counted;	/* in the totals */
	bool		addr_counted;	/* in its address's count */
	bool		net_counted;	/* in its network's count */
	bool		unauth;		/* in the unauthenticated count */
	unsigned	listener;	/* index, counted when < MAX */
	struct limits_pending	*pend;	/* tracked there; NULL: not */
	struct limits_pnet	*pnet;	/* its network there */
	TAILQ_ENTRY(limits_conn) pq;	/* in pnet's queue, oldest first */
	void		*owner;		/* the caller's, handed back */
};

/*
 * Admits a new connection from <sa> under <lim> (the limits of the
 * listener it arrived on), counting it, or refuses it (nothing counted).
 * <total_max> caps the whole proxy (the global limits.max_connections);
 * <listener> is the listener's index and <listener_max> its own cap
 * (0: none; listeners from LIMITS_LISTENERS_MAX on are not counted apart).
 * <now_ms> drives the connection-rate bucket.
 */
enum limits_refusal limits_admit(struct limits *, const struct policy_limits *,
		    unsigned total_max, unsigned listener,
		    unsigned listener_max, const struct sockaddr *sa,
		    uint64_t now_ms, struct limits_conn *c);
/*
 * limits_admit() in two steps, for a listener whose clients' addresses
 * are known only after a PROXY protocol header: limits_admit_conn() at
 * accept counts the caps that need no address (total, listener, not yet
 * authenticated); limits_admit_addr() then counts the per-address and
 * per-network caps and the connection rate of the real address <sa>.
 * A refusal by limits_admit_addr() counts nothing more; either way the
 * connection holds what limits_admit_conn() counted until limits_release().
 * limits_admit_addr() on a connection not admitted, or already counted
 * at an address, counts nothing and returns LIMITS_OK.
 */
enum limits_refusal limits_admit_conn(struct limits *,
		    const struct policy_limits *, unsigned total_max,
		    unsigned listener, unsigned listener_max,
		    struct limits_conn *c);
enum limits_refusal limits_admit_addr(struct limits *,
		    const struct policy_limits *, const struct sockaddr *sa,
		    uint64_t now_ms, struct limits_conn *c);
/*
 * The connection authenticated: no longer counts as unauthenticated (and
 * leaves its pending set).
 */
void		 limits_authenticated(struct limits *, struct limits_conn *c);
/* The connection closed: every count it held is released. */
void		 limits_release(struct limits *, struct limits_conn *c);
/*
 * A reload moved the connection to the listener at index <listener>: it
 * counts there now (never refused: it is already in).
 */
void		 limits_move_listener(struct limits *, struct limits_conn *c,
		    unsigned listener);
/* Current totals, for tests and metrics. */
uint64_t	 limits_total(struct limits *);
uint64_t	 limits_listener_total(struct limits *, unsigned listener);

/* ---- the pending connections of one event loop ------------------------ */

/*
 * The connections of one loop that are counted in max_unauthenticated,
 * grouped by network (the key limits_admit_addr() counted them under):
 * per network a queue, oldest first, and a count; the networks in a
 * max-heap by count.  When the budget is full, limits_pending_victim()
 * names the connection a newcomer may take the place of: the oldest of
 * the network holding the most.  Touched by one thread only, no lock.
 */
struct limits_pending *limits_pending_new(void);
/* Every connection still tracked is forgotten (not closed). */
void		 limits_pending_free(struct limits_pending *);
/*
 * Tracks <c> (admitted, not yet authenticated, its network known: after
 * limits_admit() or limits_admit_addr()) with <owner>, which
 * limits_pending_victim() hands back (0, tracking nothing, when <c> is
 * not in the budget or its network is not known).  -1 when out of memory:
 * <c> is then
 * simply not tracked (never a victim).  <c> must not move until it leaves
 * (limits_authenticated(), limits_release(), limits_pending_del()).
 */
int		 limits_pending_add(struct limits_pending *,
		    struct limits_conn *c, void *owner);
/* <c> leaves its pending set; untracked is a no-op. */
void		 limits_pending_del(struct limits_conn *c);
/*
 * The budget is full and a connection from network <net> (a key from
 * limits_network_key(); NULL: not known yet) asks in.  Returns the owner
 * of the connection it may take the place of, and its network's pending
 * count in *<count> when <count> is not NULL; NULL when there is none:
 * the network holding the most holds no more than one above <net>'s own,
 * so that a swap would not make the shares more even.  The victim is not
 * removed: the caller closes it (which calls limits_release()).
 */
void		*limits_pending_victim(struct limits_pending *,
		    const uint8_t *net, unsigned *count);
/* How many pending connections network <net> holds; all of them (NULL). */
unsigned	 limits_pending_count(const struct limits_pending *,
		    const uint8_t *net);
/* The 17-byte key of <sa>'s network under <lim>, as limits_conn.net. */
void		 limits_network_key(const struct sockaddr *sa,
		    const struct policy_limits *lim, uint8_t *out);

/* ---- the TLS handshake budget of one event loop ---------------------- */

#define LIMITS_HS_NETS		4096	/* networks a loop tracks */
#define LIMITS_HS_ACTIVE_MS	2000	/* asked in this recently: active */
#define LIMITS_HS_UNIT_US	500	/* a handshake's cost until measured */
#define LIMITS_HS_KNOWN		8	/* handshakes a known address may owe */
#define LIMITS_HS_DEBT_S	2	/* seconds of budget owed: known only */
#define LIMITS_HS_TARGET_MS	100	/* a ClientHello's acceptable wait */
#define LIMITS_HS_INTERVAL_MS	200	/* over which that is judged */
#define LIMITS_HS_SCALE_MIN	(1.0 / 16)	/* the budget's floor */

/*
 * How much of its time one event loop spends on TLS handshakes, and who
 * gets the handshakes it can afford when that is more than its budget
 * (limits.handshake_budget, a percentage of the loop's time).  Touched by
 * the loop's thread only, no lock; pure: the clock and the measured cost
 * are arguments.
 *
 * Every TLS connection admitted is charged the loop's running estimate of
 * a handshake's cost, to the loop's budget (a token bucket refilled at
 * the budget's rate, one second deep) and to its network's account.
 * Under budget everyone is admitted.  Over it, the budget is shared out
 * evenly among the networks that asked in during the last
 * LIMITS_HS_ACTIVE_MS: each account refills at budget / active networks
 * and holds at most a second of that (never less than one handshake), so
 * a network admits a handshake only when its account can pay for one.
 * A hundred flooding networks cannot starve a hundred-and-first, which
 * has its whole share; a network alone in asking has the whole budget and
 * no more (the queue it would build is where the next comer would wait).
 * A network seen for the first time starts with a full account, so a
 * reconnect storm of many devices gets each of them in once.  An address where somebody logged in recently (a known
 * device) may run its account LIMITS_HS_KNOWN handshakes into debt.  When
 * the loop owes LIMITS_HS_DEBT_S seconds of budget (many networks each
 * taking its first handshake), only known devices are admitted until the
 * debt is paid down (the debt itself is bounded at twice that).  A
 * network not tracked for want of room (LIMITS_HS_NETS active at once) is
 * treated as having nothing left.
 *
 * The budget also follows what clients see: when every ClientHello read
 * over LIMITS_HS_INTERVAL_MS had waited LIMITS_HS_TARGET_MS or more (in
 * the kernel's accept queue and the loop's), the budget in force halves,
 * and grows back by a tenth an interval once one did not (as CoDel judges
 * a queue by the shortest stay in it).  So on a machine busy with other
 * work, or when connections cost more than their handshakes, the loop
 * still sheds enough to keep the queue short.
 */
struct limits_hs;

enum limits_hs_verdict {
	LIMITS_HS_OK = 0,	/* admitted, charged */
	LIMITS_HS_SHARE,	/* over budget: this network's share is spent */
	LIMITS_HS_DEBT		/* over budget by LIMITS_HS_DEBT_S seconds */
};

/* NULL when out of memory or the system has no randomness. */
struct limits_hs *limits_hs_new(void);
void		 limits_hs_free(struct limits_hs *);
/*
 * The loop's handshake work so far, running totals (tls_handshake_stats()):
 * <ns> nanoseconds over <count> handshakes begun; what was added since
 * the last call refines the cost charged per handshake.  <wait_min_ms>:
 * the shortest wait of a ClientHello read since the last call
 * (UINT32_MAX: none), which steers the budget down while a queue stands.
 */
void		 limits_hs_measure(struct limits_hs *, uint64_t ns,
		    uint64_t count, uint32_t wait_min_ms, uint64_t now_ms);
/*
 * A TLS connection from network <net> (17 bytes, limits_network_key())
 * asks in at <now_ms> under a budget of <pct> percent of the loop's time
 * (0: no budget, always admitted).  <known>: somebody logged in from its
 * address recently.  LIMITS_HS_OK charges it; a refusal charges nothing.
 */
enum limits_hs_verdict limits_hs_admit(struct limits_hs *, unsigned pct,
		    const uint8_t *net, bool known, uint64_t now_ms);
/* Whether the loop is over its budget at <now_ms> (for logs and tests). */
bool		 limits_hs_over(struct limits_hs *, unsigned pct,
		    uint64_t now_ms);
/* Networks active at <now_ms>; the cost charged per handshake, in us. */
unsigned	 limits_hs_active(struct limits_hs *, uint64_t now_ms);
double		 limits_hs_unit(const struct limits_hs *);
/* The part of the budget in force, (0, 1]: see limits_hs_measure(). */
double		 limits_hs_scale(const struct limits_hs *);

/* ---- per user ---------------------------------------------------------- */

struct limits_user;

/* Whether <lim> sets any per-user limit (else no entry is needed). */
bool		 limits_user_wanted(const struct policy_limits *lim);

/*
 * Counts a new authenticated connection of <identity> (NUL-terminated,
 * at most 256 bytes) under <lim>: max_connections_per_user, then
 * connection_rate_per_user/connection_burst_per_user.  On LIMITS_OK, *out
 * is the identity's entry, held until limits_user_release(); it is NULL
 * when <lim> sets no per-user limit.  Refused (LIMITS_USER, LIMITS_USER_RATE)
 * counts nothing.  A full table refuses with LIMITS_USER (fail closed).
 */
enum limits_refusal limits_user_admit(struct limits *, const char *identity,
		    const struct policy_limits *lim, uint64_t now_ms,
		    struct limits_user **out);
/* The connection holding <u> closed (NULL is a no-op). */
void		 limits_user_release(struct limits *, struct limits_user *u);
/*
 * One PUBLISH of <bytes> against the user's shared buckets,
 * user_message_rate/user_message_burst and user_byte_rate/user_byte_burst
 * of <lim>: 0 when both had the tokens (both taken), else the milliseconds
 * until they will (nothing taken).  A NULL <u> or unset rates take nothing.
 */
uint64_t	 limits_user_take(struct limits *, struct limits_user *u,
		    const struct policy_limits *lim, uint64_t now_ms,
		    size_t bytes);
/* The connections <identity> holds now (0 when untracked). */
unsigned	 limits_user_conns(struct limits *, const char *identity);

/* ---- a session's subscriptions ----------------------------------------- */

/* A set of subscription filters, compared as bytes. */
struct limits_subs;

struct limits_subs *limits_subs_new(void);
void		 limits_subs_free(struct limits_subs *);
size_t		 limits_subs_count(const struct limits_subs *);
bool		 limits_subs_has(const struct limits_subs *,
		    const uint8_t *filter, size_t len);
/* 1: added, 0: it was there already, -1: out of memory. */
int		 limits_subs_add(struct limits_subs *, const uint8_t *filter,
		    size_t len);
/* true when it was there (and is now gone). */
bool		 limits_subs_del(struct limits_subs *, const uint8_t *filter,
		    size_t len);

#endif
