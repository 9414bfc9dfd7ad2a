/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for limits: token buckets as pure functions of the clock; the
 * accept-time connection caps (total, listener, unauthenticated, per
 * address, per network, connection rate) with their release; the per-user
 * table (connection cap and rate, the shared PUBLISH buckets, fail-closed
 * when full); a loop's TLS handshake budget (its fair shares under a
 * simulated clock, known addresses, the debt ceiling, the steering by
 * ClientHello waits, a full table); a session's subscription set; MQTT filter matching; and
 * SipHash's reference vector, since the tables depend on it.  The
 * concurrent tests run real threads against one struct limits and count,
 * beside it, what each thread holds, so a lost update shows as a count
 * that does not return to zero or a cap exceeded.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"
#include "mqttguard/siphash.h"

static struct sockaddr_in
v4(const char *s)
{
	struct sockaddr_in	a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, s, &a.sin_addr);
	return a;
}

static struct sockaddr_in6
v6(const char *s)
{
	struct sockaddr_in6	a;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	inet_pton(AF_INET6, s, &a.sin6_addr);
	return a;
}

/* Admits under <lim> alone: no total cap, listener 0 with no cap. */
static enum limits_refusal
admit(struct limits *l, const struct policy_limits *lim, const void *sa,
    uint64_t now, struct limits_conn *c)
{
	return limits_admit(l, lim, 0, 0, 0, sa, now, c);
}

/* SipHash-2-4 paper, Appendix A: key 00..0f, message 00..0e. */
START_TEST(siphash_reference_vector)
{
	uint8_t	key[16], msg[15];
	int	i;

	for (i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(siphash(key, msg, sizeof(msg)),
	    0xa129ca6149be45e5ULL);
	ck_assert_uint_eq(siphash(key, msg, 0), 0x726fdb47dd0e0e31ULL);
}
END_TEST

START_TEST(bucket_burst_then_rate)
{
	struct limits_bucket	b = { 0, 0, false };
	int			i;

	/* A full bucket of 10 at the start: 10 pass, the 11th waits. */
	for (i = 0; i < 10; i++)
		ck_assert_uint_eq(limits_bucket_take(&b, 1000, 5, 10, 1), 0);
	ck_assert_uint_gt(limits_bucket_take(&b, 1000, 5, 10, 1), 0);
	/* 5 per second: one token every 200 ms. */
	ck_assert_uint_gt(limits_bucket_take(&b, 1100, 5, 10, 1), 0);
	ck_assert_uint_eq(limits_bucket_take(&b, 1200, 5, 10, 1), 0);
	ck_assert_uint_gt(limits_bucket_take(&b, 1200, 5, 10, 1), 0);
	/* Never more than the burst, however long the pause. */
	for (i = 0; i < 10; i++)
		ck_assert_uint_eq(limits_bucket_take(&b, 100000, 5, 10, 1), 0);
	ck_assert_uint_gt(limits_bucket_take(&b, 100000, 5, 10, 1), 0);
	/* Rate 0 is no limit. */
	ck_assert_uint_eq(limits_bucket_take(&b, 100000, 0, 0, 1000), 0);
}
END_TEST

START_TEST(bucket_large_cost_passes_when_full)
{
	struct limits_bucket	b = { 0, 0, false };

	/* A message larger than the burst passes from a full bucket... */
	ck_assert_uint_eq(limits_bucket_take(&b, 0, 100, 100, 500), 0);
	/* ...and the debt is paid before the next one. */
	ck_assert_uint_gt(limits_bucket_take(&b, 1000, 100, 100, 1), 0);
	ck_assert_uint_eq(limits_bucket_take(&b, 5010, 100, 100, 1), 0);
}
END_TEST

START_TEST(admit_per_address_and_release)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[4], d;
	struct sockaddr_in	 a = v4("192.0.2.1"), b = v4("192.0.2.2");
	int			 i;

	p->limits.max_connections_per_address = 3;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 0,
		    &c[i]), LIMITS_OK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 0, &c[3]),
	    LIMITS_ADDRESS);
	ck_assert(!c[3].counted);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&b, 0, &d),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_total(l), 4);
	limits_release(l, &c[0]);
	limits_release(l, &c[0]);	/* twice is harmless */
	ck_assert_uint_eq(limits_total(l), 3);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 0, &c[0]),
	    LIMITS_OK);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/*
 * A PROXY protocol listener admits in two steps: the counts that need no
 * address at accept, the per-address ones once the real address is known.
 * Every path leaves the counts exact.
 */
START_TEST(admit_in_two_steps)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[4];
	struct sockaddr_in	 a = v4("192.0.2.1"), b = v4("192.0.2.2");
	int			 i;

	p->limits.max_connections_per_address = 1;
	p->limits.max_connections_per_network = 2;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(limits_admit_conn(l, &p->limits, 3, 0, 0,
		    &c[i]), LIMITS_OK);
	ck_assert_int_eq(limits_admit_conn(l, &p->limits, 3, 0, 0, &c[3]),
	    LIMITS_TOTAL);		/* the total cap holds at accept */
	ck_assert(!c[3].counted);
	ck_assert_uint_eq(limits_total(l), 3);
	ck_assert(!c[0].addr_counted);
	ck_assert_int_eq(limits_admit_addr(l, &p->limits, (void *)&a, 0,
	    &c[0]), LIMITS_OK);
	ck_assert(c[0].addr_counted);
	/* Again: nothing more is counted. */
	ck_assert_int_eq(limits_admit_addr(l, &p->limits, (void *)&b, 0,
	    &c[0]), LIMITS_OK);
	ck_assert_int_eq(limits_admit_addr(l, &p->limits, (void *)&a, 0,
	    &c[1]), LIMITS_ADDRESS);
	ck_assert(!c[1].addr_counted && c[1].counted);
	ck_assert_int_eq(limits_admit_addr(l, &p->limits, (void *)&b, 0,
	    &c[2]), LIMITS_OK);
	ck_assert_uint_eq(limits_total(l), 3);
	limits_release(l, &c[1]);	/* refused at its address */
	ck_assert_uint_eq(limits_total(l), 2);
	/* The network is full (a and b): a third address of it is refused. */
	ck_assert_int_eq(limits_admit_conn(l, &p->limits, 4, 0, 0, &c[1]),
	    LIMITS_OK);
	a = v4("192.0.2.3");
	ck_assert_int_eq(limits_admit_addr(l, &p->limits, (void *)&a, 0,
	    &c[1]), LIMITS_NETWORK);
	limits_release(l, &c[1]);
	limits_release(l, &c[0]);
	limits_release(l, &c[2]);
	ck_assert_uint_eq(limits_total(l), 0);
	/* Every slot was given back: both addresses may connect again. */
	a = v4("192.0.2.1");
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 0, &c[0]),
	    LIMITS_OK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&b, 0, &c[1]),
	    LIMITS_OK);
	limits_release(l, &c[0]);
	limits_release(l, &c[1]);
	ck_assert_uint_eq(limits_total(l), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(admit_per_network_v4_and_v6)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c;
	struct sockaddr_in	 a1 = v4("198.51.100.1"), a2 = v4("198.51.100.2");
	struct sockaddr_in	 a3 = v4("198.51.101.1");
	struct sockaddr_in6	 b1 = v6("2001:db8:0:1::1");
	struct sockaddr_in6	 b2 = v6("2001:db8:0:1::2");
	struct sockaddr_in6	 b3 = v6("2001:db8:0:2::1");

	p->limits.max_connections_per_network = 1;	/* /24 and /64 */
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a1, 0, &c),
	    LIMITS_OK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a2, 0, &c),
	    LIMITS_NETWORK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a3, 0, &c),
	    LIMITS_OK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&b1, 0, &c),
	    LIMITS_OK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&b2, 0, &c),
	    LIMITS_NETWORK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&b3, 0, &c),
	    LIMITS_OK);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(admit_total_and_unauthenticated)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[3], x;
	struct sockaddr_in	 a = v4("203.0.113.9");
	const unsigned		 tmax = 3;	/* limits.max_connections */

	p->limits.max_unauthenticated = 2;
	ck_assert_int_eq(limits_admit(l, &p->limits, tmax, 0, 0, (void *)&a,
	    0, &c[0]), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, tmax, 0, 0, (void *)&a,
	    0, &c[1]), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, tmax, 0, 0, (void *)&a,
	    0, &x), LIMITS_UNAUTHENTICATED);
	limits_authenticated(l, &c[0]);
	ck_assert_int_eq(limits_admit(l, &p->limits, tmax, 0, 0, (void *)&a,
	    0, &c[2]), LIMITS_OK);
	limits_authenticated(l, &c[1]);
	ck_assert_int_eq(limits_admit(l, &p->limits, tmax, 0, 0, (void *)&a,
	    0, &x), LIMITS_TOTAL);
	limits_release(l, &c[2]);
	ck_assert_int_eq(limits_admit(l, &p->limits, tmax, 0, 0, (void *)&a,
	    0, &x), LIMITS_OK);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(admit_connection_rate)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c;
	struct sockaddr_in	 a = v4("192.0.2.77"), b = v4("192.0.2.78");
	int			 i;

	p->limits.connection_rate_per_address = 2;
	p->limits.connection_burst_per_address = 3;
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 1000,
		    &c), LIMITS_OK);
		limits_release(l, &c);	/* rate, not count */
	}
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 1000, &c),
	    LIMITS_RATE);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&b, 1000, &c),
	    LIMITS_OK);
	ck_assert_int_eq(admit(l, &p->limits, (void *)&a, 1500, &c),
	    LIMITS_OK);
	ck_assert_str_eq(limits_refusal_str(LIMITS_RATE),
	    "connecting too fast (limits.connection_rate_per_address)");
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* ---- total and listener caps ------------------------------------------- */

/* The total cap is the argument; the listener's lim->max_connections is not. */
START_TEST(admit_total_from_argument)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[3];
	struct sockaddr_in	 a = v4("192.0.2.10");

	p->limits.max_connections = 1;	/* ignored: total_max rules */
	ck_assert_int_eq(limits_admit(l, &p->limits, 2, 0, 0, (void *)&a, 0,
	    &c[0]), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, 2, 0, 0, (void *)&a, 0,
	    &c[1]), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, 2, 0, 0, (void *)&a, 0,
	    &c[2]), LIMITS_TOTAL);
	ck_assert(!c[2].counted);
	ck_assert_uint_eq(limits_total(l), 2);
	ck_assert_uint_eq(limits_listener_total(l, 0), 2);
	/* 0 is no cap at all. */
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 0, (void *)&a, 0,
	    &c[2]), LIMITS_OK);
	ck_assert_uint_eq(limits_total(l), 3);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(admit_listener_cap_and_release)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[3], d, x;
	struct sockaddr_in	 a = v4("192.0.2.20");

	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 2, (void *)&a, 0,
	    &c[0]), LIMITS_OK);
	ck_assert_uint_eq(c[0].listener, 0);
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 2, (void *)&a, 0,
	    &c[1]), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 2, (void *)&a, 0,
	    &c[2]), LIMITS_LISTENER);
	ck_assert(!c[2].counted);
	/* Another listener has its own count. */
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 1, 2, (void *)&a, 0,
	    &d), LIMITS_OK);
	ck_assert_uint_eq(d.listener, 1);
	ck_assert_uint_eq(limits_listener_total(l, 0), 2);
	ck_assert_uint_eq(limits_listener_total(l, 1), 1);
	ck_assert_uint_eq(limits_total(l), 3);
	/* The total is checked with it: refused there, nothing counted. */
	ck_assert_int_eq(limits_admit(l, &p->limits, 3, 1, 2, (void *)&a, 0,
	    &x), LIMITS_TOTAL);
	ck_assert_uint_eq(limits_listener_total(l, 1), 1);
	/* Release frees the place on its own listener only. */
	limits_release(l, &c[0]);
	ck_assert_uint_eq(limits_listener_total(l, 0), 1);
	ck_assert_uint_eq(limits_listener_total(l, 1), 1);
	ck_assert_uint_eq(limits_total(l), 2);
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 2, (void *)&a, 0,
	    &c[0]), LIMITS_OK);
	ck_assert_uint_eq(limits_listener_total(l, 0), 2);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/*
 * A reload moves a connection to another listener, and may change the
 * network prefix: the release takes back exactly what was counted.
 */
START_TEST(reload_moves_listener_and_keeps_network)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c, d;
	struct sockaddr_in	 a = v4("192.0.2.30"), b = v4("192.0.2.31");

	p->limits.max_connections_per_network = 1;
	p->limits.network_v4 = 24;
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 1, (void *)&a, 0,
	    &c), LIMITS_OK);
	limits_move_listener(l, &c, 1);
	ck_assert_uint_eq(c.listener, 1);
	ck_assert_uint_eq(limits_listener_total(l, 0), 0);
	ck_assert_uint_eq(limits_listener_total(l, 1), 1);
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 1, 1, (void *)&a, 0,
	    &d), LIMITS_LISTENER);
	/* The prefix changes: the /24 counted is released all the same. */
	p->limits.network_v4 = 32;
	limits_release(l, &c);
	ck_assert_uint_eq(limits_listener_total(l, 1), 0);
	p->limits.network_v4 = 24;
	ck_assert_int_eq(limits_admit(l, &p->limits, 0, 0, 1, (void *)&b, 0,
	    &d), LIMITS_OK);
	limits_release(l, &d);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* A refusal after the total and listener were taken gives them back. */
START_TEST(admit_refusal_rolls_back_counts)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c, x;
	struct sockaddr_in	 a = v4("192.0.2.30");

	p->limits.max_connections_per_address = 1;
	ck_assert_int_eq(limits_admit(l, &p->limits, 10, 3, 10, (void *)&a, 0,
	    &c), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, 10, 3, 10, (void *)&a, 0,
	    &x), LIMITS_ADDRESS);
	ck_assert_uint_eq(limits_total(l), 1);
	ck_assert_uint_eq(limits_listener_total(l, 3), 1);
	p->limits.max_unauthenticated = 1;
	ck_assert_int_eq(limits_admit(l, &p->limits, 10, 3, 10,
	    (void *)&a, 0, &x), LIMITS_UNAUTHENTICATED);
	ck_assert_uint_eq(limits_total(l), 1);
	ck_assert_uint_eq(limits_listener_total(l, 3), 1);
	limits_release(l, &c);
	ck_assert_uint_eq(limits_total(l), 0);
	ck_assert_uint_eq(limits_listener_total(l, 3), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* Listener indexes from LIMITS_LISTENERS_MAX on are not counted apart. */
START_TEST(admit_listener_past_max_uncounted)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[3];
	struct sockaddr_in	 a = v4("192.0.2.40");
	unsigned		 big = LIMITS_LISTENERS_MAX + 3;
	int			 i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(limits_admit(l, &p->limits, 0, big, 1,
		    (void *)&a, 0, &c[i]), LIMITS_OK);
	ck_assert_uint_eq(limits_listener_total(l, big), 0);
	ck_assert_uint_eq(limits_listener_total(l, LIMITS_LISTENERS_MAX - 1),
	    0);
	for (i = 0; i < 3; i++)
		limits_release(l, &c[i]);
	ck_assert_uint_eq(limits_total(l), 0);
	ck_assert_uint_eq(limits_listener_total(l, 0), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(refusal_strings)
{
	ck_assert_str_eq(limits_refusal_str(LIMITS_LISTENER),
	    "too many connections on this listener "
	    "(limits.listeners.<name>.max_connections)");
	ck_assert_str_eq(limits_refusal_str(LIMITS_USER),
	    "too many connections for this user "
	    "(limits.max_connections_per_user)");
	ck_assert_str_eq(limits_refusal_str(LIMITS_USER_RATE),
	    "user connecting too fast (limits.connection_rate_per_user)");
	ck_assert_str_eq(limits_refusal_str(LIMITS_TOTAL),
	    "too many connections (limits.max_connections)");
	ck_assert_str_eq(limits_refusal_str((enum limits_refusal)
	    (LIMITS_HANDSHAKE + 1)), "unknown");
}
END_TEST

#define THREADS		4
#define ROUNDS		10000

/* Threads racing for places; what they saw is counted here. */
struct race {
	struct limits		*l;
	const struct policy_limits *lim;
	unsigned		 cap;		/* on listener 0, and total */
	atomic_uint		 held;		/* by the threads, now */
	atomic_uint		 over;		/* times held went past cap */
	atomic_uint		 admitted;
	atomic_uint		 refused;
};

/* Runs THREADS threads of <fn> on <run>: never over, every round ended. */
static void
race_run(struct race *run, void *(*fn)(void *))
{
	pthread_t	t[THREADS];
	int		i;

	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, fn, run), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(atomic_load(&run->over), 0);
	ck_assert_uint_eq(atomic_load(&run->admitted) +
	    atomic_load(&run->refused), THREADS * ROUNDS);
	ck_assert_uint_gt(atomic_load(&run->admitted), 0);
}

static void *
admit_thread(void *arg)
{
	struct race		*run = arg;
	struct limits_conn	 c;
	struct sockaddr_in	 a = v4("198.51.100.50");
	int			 i;

	for (i = 0; i < ROUNDS; i++) {
		if (limits_admit(run->l, run->lim, run->cap, 0, run->cap,
		    (void *)&a, 0, &c) != LIMITS_OK) {
			atomic_fetch_add(&run->refused, 1);
			continue;
		}
		atomic_fetch_add(&run->admitted, 1);
		if (atomic_fetch_add(&run->held, 1) + 1 > run->cap ||
		    limits_total(run->l) > run->cap ||
		    limits_listener_total(run->l, 0) > run->cap)
			atomic_fetch_add(&run->over, 1);
		sched_yield();	/* hold it a while: races more likely */
		atomic_fetch_sub(&run->held, 1);
		limits_release(run->l, &c);
	}
	return NULL;
}

/* Four threads racing for 2 places: never 3 held, all given back. */
START_TEST(admit_concurrent_exact)
{
	struct policy		*p = policy_new();
	struct race		 run;

	memset(&run, 0, sizeof(run));
	run.l = limits_new();
	run.lim = &p->limits;
	run.cap = 1;
	race_run(&run, admit_thread);
	ck_assert_uint_eq(limits_total(run.l), 0);
	ck_assert_uint_eq(limits_listener_total(run.l, 0), 0);
	limits_free(run.l);
	policy_unref(p);
}
END_TEST

/* ---- per user ---------------------------------------------------------- */

START_TEST(user_not_wanted)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u = (struct limits_user *)&u;	/* not NULL */

	ck_assert(!limits_user_wanted(&p->limits));
	p->limits.connection_burst_per_user = 5;	/* a burst alone */
	p->limits.user_message_burst = 5;
	p->limits.user_byte_burst = 5;
	ck_assert(!limits_user_wanted(&p->limits));
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_ptr_null(u);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 0);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 0, 100), 0);
	limits_user_release(l, u);	/* NULL: a no-op */
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(user_wanted_by_each_field)
{
	struct policy	*p = policy_new();
	struct policy_limits base = p->limits, t;

	t = base;
	t.max_connections_per_user = 1;
	ck_assert(limits_user_wanted(&t));
	t = base;
	t.connection_rate_per_user = 1;
	ck_assert(limits_user_wanted(&t));
	t = base;
	t.user_message_rate = 1;
	ck_assert(limits_user_wanted(&t));
	t = base;
	t.user_byte_rate = 1;
	ck_assert(limits_user_wanted(&t));
	policy_unref(p);
}
END_TEST

START_TEST(user_cap_exact)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u[4], *x, *b;
	int			 i;

	p->limits.max_connections_per_user = 3;
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0,
		    &u[i]), LIMITS_OK);
		ck_assert_ptr_nonnull(u[i]);
	}
	ck_assert_ptr_eq(u[0], u[1]);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 3);
	x = (struct limits_user *)&x;
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &x),
	    LIMITS_USER);
	ck_assert_ptr_null(x);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 3);
	/* Another user is counted apart. */
	ck_assert_int_eq(limits_user_admit(l, "bob", &p->limits, 0, &b),
	    LIMITS_OK);
	ck_assert_ptr_ne(b, u[0]);
	ck_assert_uint_eq(limits_user_conns(l, "bob"), 1);
	limits_user_release(l, u[2]);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 2);
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u[3]),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 3);
	ck_assert_uint_eq(limits_user_conns(l, "carol"), 0);	/* untracked */
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(user_connection_rate)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u, *v;
	int			 i;

	p->limits.connection_rate_per_user = 2;
	p->limits.connection_burst_per_user = 3;
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits,
		    1000, &u), LIMITS_OK);
		limits_user_release(l, u);	/* rate, not count */
	}
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 1000, &u),
	    LIMITS_USER_RATE);
	ck_assert_ptr_null(u);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 0);
	ck_assert_int_eq(limits_user_admit(l, "bob", &p->limits, 1000, &v),
	    LIMITS_OK);
	/* 2 a second: a token after 500 ms, not before. */
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 1499, &u),
	    LIMITS_USER_RATE);
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 1500, &u),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_conns(l, "alice"), 1);
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 1500, &u),
	    LIMITS_USER_RATE);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* No burst given: the rate is the burst. */
START_TEST(user_connection_rate_default_burst)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;

	p->limits.connection_rate_per_user = 1;
	p->limits.connection_burst_per_user = 0;	/* policy_new's is 10 */
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_USER_RATE);
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 1000, &u),
	    LIMITS_OK);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(user_take_message_rate)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;
	uint64_t		 w;
	int			 i;

	p->limits.user_message_rate = 5;
	p->limits.user_message_burst = 10;
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	for (i = 0; i < 10; i++)
		ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 1000,
		    1000000), 0);	/* bytes are not limited */
	w = limits_user_take(l, u, &p->limits, 1000, 1);
	ck_assert_uint_ge(w, 200);	/* one token every 200 ms */
	ck_assert_uint_le(w, 201);
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, 1199, 1), 0);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 1000 + w, 1), 0);
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, 1000 + w, 1), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(user_take_byte_rate)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;
	uint64_t		 w;

	p->limits.user_byte_rate = 1000;
	p->limits.user_byte_burst = 2000;
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 0, 1500), 0);
	w = limits_user_take(l, u, &p->limits, 0, 1000);	/* 500 left */
	ck_assert_uint_ge(w, 500);
	ck_assert_uint_le(w, 501);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, w, 1000), 0);
	/* Larger than the burst: passes once the bucket is full... */
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, w, 5000), 0);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, w + 2001, 5000),
	    0);
	/* ...and its debt is paid before the next. */
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, w + 4000, 1), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* A PUBLISH the byte bucket refuses costs no message token. */
START_TEST(user_take_both_or_nothing)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;

	p->limits.user_message_rate = 1;
	p->limits.user_message_burst = 2;
	p->limits.user_byte_rate = 100;
	p->limits.user_byte_burst = 100;
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 0, 60), 0);
	/* One message token left, 40 bytes: the bytes refuse. */
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, 0, 60), 0);
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, 0, 60), 0);
	/* The message token is still there. */
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 0, 10), 0);
	/* Now the messages refuse: the bytes must not be taken either. */
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, 0, 10), 0);
	ck_assert_uint_gt(limits_user_take(l, u, &p->limits, 0, 10), 0);
	/* At 1 s: a message token back, and the 30 bytes left plus 100. */
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 1000, 100), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* The wait is the longer of the two. */
START_TEST(user_take_wait_is_longer)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;
	uint64_t		 w;

	p->limits.user_message_rate = 1;	/* 1000 ms a message */
	p->limits.user_byte_rate = 100;		/* 10 ms a byte */
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 0, 100), 0);
	w = limits_user_take(l, u, &p->limits, 0, 50);	/* 1000 vs 500 */
	ck_assert_uint_ge(w, 1000);
	ck_assert_uint_le(w, 1001);
	w = limits_user_take(l, u, &p->limits, 0, 100);	/* 1000 vs 1000 */
	ck_assert_uint_ge(w, 1000);
	ck_assert_uint_le(w, 1001);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* Two connections of one user draw from one bucket; users are apart. */
START_TEST(user_take_shared_and_independent)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u1, *u2, *b;

	p->limits.user_message_rate = 1;
	p->limits.user_message_burst = 2;
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u1),
	    LIMITS_OK);
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u2),
	    LIMITS_OK);
	ck_assert_int_eq(limits_user_admit(l, "bob", &p->limits, 0, &b),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_take(l, u1, &p->limits, 0, 1), 0);
	ck_assert_uint_eq(limits_user_take(l, u2, &p->limits, 0, 1), 0);
	ck_assert_uint_gt(limits_user_take(l, u1, &p->limits, 0, 1), 0);
	ck_assert_uint_gt(limits_user_take(l, u2, &p->limits, 0, 1), 0);
	ck_assert_uint_eq(limits_user_take(l, b, &p->limits, 0, 1), 0);
	ck_assert_uint_eq(limits_user_take(l, b, &p->limits, 0, 1), 0);
	ck_assert_uint_gt(limits_user_take(l, b, &p->limits, 0, 1), 0);
	/* The bucket outlives one of the connections. */
	limits_user_release(l, u1);
	ck_assert_uint_gt(limits_user_take(l, u2, &p->limits, 0, 1), 0);
	ck_assert_uint_eq(limits_user_take(l, u2, &p->limits, 1000, 1), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

START_TEST(user_take_null_and_unset)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;
	int			 i;

	p->limits.max_connections_per_user = 5;	/* wanted, no rates */
	ck_assert_int_eq(limits_user_admit(l, "alice", &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_ptr_nonnull(u);
	for (i = 0; i < 1000; i++)
		ck_assert_uint_eq(limits_user_take(l, u, &p->limits, 0,
		    1 << 20), 0);
	p->limits.user_message_rate = 1;
	ck_assert_uint_eq(limits_user_take(l, NULL, &p->limits, 0, 1), 0);
	ck_assert_uint_eq(limits_user_take(l, NULL, &p->limits, 0, 1), 0);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* Longer than an identity can be: refused, never truncated into another. */
START_TEST(user_identity_too_long)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	*u;
	char			 id[258];

	p->limits.max_connections_per_user = 1;
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';	/* 257 bytes */
	ck_assert_int_eq(limits_user_admit(l, id, &p->limits, 0, &u),
	    LIMITS_USER);
	ck_assert_ptr_null(u);
	id[256] = '\0';			/* 256 bytes: the longest */
	ck_assert_int_eq(limits_user_admit(l, id, &p->limits, 0, &u),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_conns(l, id), 1);
	policy_unref(p);
	limits_free(l);
}
END_TEST

#define FILL	(LIMITS_USERS_MAX + LIMITS_USERS_MAX / 16)

/*
 * More identities than the table has entries, each holding a connection:
 * those that find no room are refused (fail closed), and count nothing.
 * A refused identity's probe path was full when it was refused and only
 * fills more after, so it shows the reuse rule: held entries are never
 * reused, released ones only once their buckets have refilled.
 */
START_TEST(user_table_full_fails_closed)
{
	struct limits		*l = limits_new();
	struct policy		*p = policy_new();
	struct limits_user	**held, *u;
	enum limits_refusal	 r;
	char			 id[32], refused[32] = "";
	size_t			 i, n = 0, nrefused = 0;

	ck_assert_ptr_nonnull(held = calloc(FILL, sizeof(*held)));
	p->limits.max_connections_per_user = 1;
	p->limits.connection_rate_per_user = 1;	/* refills in 1 s */
	p->limits.connection_burst_per_user = 1;
	for (i = 0; i < FILL; i++) {
		snprintf(id, sizeof(id), "user-%zu", i);
		r = limits_user_admit(l, id, &p->limits, 1000, &u);
		if (r == LIMITS_OK) {
			held[n++] = u;
			continue;
		}
		ck_assert_int_eq(r, LIMITS_USER);
		ck_assert_ptr_null(u);
		ck_assert_uint_eq(limits_user_conns(l, id), 0);
		if (nrefused++ == 0)
			memcpy(refused, id, sizeof(id));
	}
	ck_assert_uint_le(n, LIMITS_USERS_MAX);
	ck_assert_uint_ge(nrefused, FILL - LIMITS_USERS_MAX);
	ck_assert_uint_eq(n + nrefused, FILL);
	/* Held entries are not reused, however old. */
	ck_assert_int_eq(limits_user_admit(l, refused, &p->limits, 1000000,
	    &u), LIMITS_USER);
	for (i = 0; i < n; i++)
		limits_user_release(l, held[i]);
	/* Released, but their rate buckets have not refilled yet. */
	ck_assert_int_eq(limits_user_admit(l, refused, &p->limits, 1000, &u),
	    LIMITS_USER);
	/* Refilled: worth nothing, reused. */
	ck_assert_int_eq(limits_user_admit(l, refused, &p->limits, 3000, &u),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_user_conns(l, refused), 1);
	free(held);
	policy_unref(p);
	limits_free(l);
}
END_TEST

static void *
user_thread(void *arg)
{
	struct race		*run = arg;
	struct limits_user	*u;
	int			 i;

	for (i = 0; i < ROUNDS; i++) {
		if (limits_user_admit(run->l, "shared", run->lim, 0, &u) !=
		    LIMITS_OK) {
			atomic_fetch_add(&run->refused, 1);
			continue;
		}
		atomic_fetch_add(&run->admitted, 1);
		if (atomic_fetch_add(&run->held, 1) + 1 >
		    run->lim->max_connections_per_user)
			atomic_fetch_add(&run->over, 1);
		sched_yield();
		atomic_fetch_sub(&run->held, 1);
		limits_user_release(run->l, u);
	}
	return NULL;
}

START_TEST(user_concurrent_exact)
{
	struct policy		*p = policy_new();
	struct race		 run;

	memset(&run, 0, sizeof(run));
	run.l = limits_new();
	run.lim = &p->limits;
	p->limits.max_connections_per_user = 1;
	race_run(&run, user_thread);
	ck_assert_uint_eq(limits_user_conns(run.l, "shared"), 0);
	limits_free(run.l);
	policy_unref(p);
}
END_TEST

/* ---- subscription sets ------------------------------------------------- */

#define F(s)	(const uint8_t *)(s), sizeof(s) - 1

START_TEST(subs_add_has_del)
{
	struct limits_subs	*s = limits_subs_new();

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(limits_subs_count(s), 0);
	ck_assert(!limits_subs_has(s, F("a/b")));
	ck_assert(!limits_subs_del(s, F("a/b")));
	ck_assert_int_eq(limits_subs_add(s, F("a/b")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("a/b")), 0);	/* duplicate */
	ck_assert_int_eq(limits_subs_add(s, F("a/+")), 1);
	ck_assert_uint_eq(limits_subs_count(s), 2);
	ck_assert(limits_subs_has(s, F("a/b")));
	ck_assert(limits_subs_has(s, F("a/+")));
	ck_assert(!limits_subs_has(s, F("a/c")));
	ck_assert(!limits_subs_has(s, F("a/")));	/* a prefix */
	ck_assert(!limits_subs_has(s, F("a/bc")));
	ck_assert(limits_subs_del(s, F("a/b")));
	ck_assert(!limits_subs_del(s, F("a/b")));
	ck_assert(!limits_subs_has(s, F("a/b")));
	ck_assert(limits_subs_has(s, F("a/+")));
	ck_assert_uint_eq(limits_subs_count(s), 1);
	ck_assert_int_eq(limits_subs_add(s, F("a/b")), 1);
	ck_assert_uint_eq(limits_subs_count(s), 2);
	limits_subs_free(s);
	limits_subs_free(NULL);
}
END_TEST

#define MANY	10000

START_TEST(subs_many_with_growth)
{
	struct limits_subs	*s = limits_subs_new();
	char			 f[32];
	int			 i, n;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < MANY; i++) {
		n = snprintf(f, sizeof(f), "sensors/%d/temp", i);
		ck_assert_int_eq(limits_subs_add(s, (uint8_t *)f, (size_t)n),
		    1);
		ck_assert_uint_eq(limits_subs_count(s), (size_t)i + 1);
	}
	for (i = 0; i < MANY; i++) {
		n = snprintf(f, sizeof(f), "sensors/%d/temp", i);
		ck_assert(limits_subs_has(s, (uint8_t *)f, (size_t)n));
		ck_assert_int_eq(limits_subs_add(s, (uint8_t *)f, (size_t)n),
		    0);
	}
	ck_assert_uint_eq(limits_subs_count(s), MANY);
	/* Every other one out: the others must stay reachable. */
	for (i = 0; i < MANY; i += 2) {
		n = snprintf(f, sizeof(f), "sensors/%d/temp", i);
		ck_assert(limits_subs_del(s, (uint8_t *)f, (size_t)n));
	}
	ck_assert_uint_eq(limits_subs_count(s), MANY / 2);
	for (i = 0; i < MANY; i++) {
		n = snprintf(f, sizeof(f), "sensors/%d/temp", i);
		ck_assert_msg(limits_subs_has(s, (uint8_t *)f, (size_t)n) ==
		    (i % 2 == 1), "filter %s", f);
	}
	/* The rest out too, then the set is empty and still usable. */
	for (i = 1; i < MANY; i += 2) {
		n = snprintf(f, sizeof(f), "sensors/%d/temp", i);
		ck_assert(limits_subs_del(s, (uint8_t *)f, (size_t)n));
	}
	ck_assert_uint_eq(limits_subs_count(s), 0);
	n = snprintf(f, sizeof(f), "sensors/%d/temp", 7);
	ck_assert(!limits_subs_has(s, (uint8_t *)f, (size_t)n));
	ck_assert_int_eq(limits_subs_add(s, (uint8_t *)f, (size_t)n), 1);
	ck_assert(limits_subs_has(s, (uint8_t *)f, (size_t)n));
	limits_subs_free(s);
}
END_TEST

/* Filters are bytes: an embedded NUL does not end them. */
START_TEST(subs_binary_filters)
{
	struct limits_subs	*s = limits_subs_new();
	uint8_t			*big;
	size_t			 bigl = 65535;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(limits_subs_add(s, F("a\0b")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("a\0c")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("a")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("a\0")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("\0")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("")), 1);
	ck_assert_int_eq(limits_subs_add(s, F("a\0b")), 0);
	ck_assert_uint_eq(limits_subs_count(s), 6);
	ck_assert(!limits_subs_has(s, F("a\0d")));
	ck_assert(!limits_subs_has(s, F("\0\0")));
	ck_assert(limits_subs_del(s, F("a\0b")));
	ck_assert(!limits_subs_has(s, F("a\0b")));
	ck_assert(limits_subs_has(s, F("a\0c")));
	ck_assert(limits_subs_has(s, F("a")));
	ck_assert(limits_subs_has(s, F("a\0")));
	ck_assert(limits_subs_has(s, F("")));
	ck_assert(limits_subs_del(s, F("")));
	ck_assert(!limits_subs_has(s, F("")));
	/* The longest filter MQTT can carry, differing in its last byte. */
	ck_assert_ptr_nonnull(big = malloc(bigl));
	memset(big, '/', bigl);
	ck_assert_int_eq(limits_subs_add(s, big, bigl), 1);
	big[bigl - 1] = '#';
	ck_assert(!limits_subs_has(s, big, bigl));
	ck_assert_int_eq(limits_subs_add(s, big, bigl), 1);
	ck_assert(limits_subs_has(s, big, bigl - 1) == false);
	ck_assert_uint_eq(limits_subs_count(s), 6);
	free(big);
	limits_subs_free(s);
}
END_TEST

/*
 * The pending set: the budget of not-yet-authenticated connections filled
 * mostly by one network; each honest newcomer from elsewhere takes the
 * place of that network's oldest, in order, and one from the attacker's
 * own network takes nobody's.
 */
START_TEST(pending_evicts_oldest_of_largest)
{
	struct limits		*l = limits_new();
	struct limits_pending	*pp = limits_pending_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[10], h[3];
	struct sockaddr_in	 a;
	uint8_t			 net[17];
	unsigned		 cnt = 0;
	char			 ip[32];
	int			 i;

	p->limits.max_unauthenticated = 10;
	for (i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), i < 8 ? "198.51.100.%d" :
		    "203.0.113.%d", i + 1);
		a = v4(ip);
		ck_assert_int_eq(admit(l, &p->limits, &a, 0, &c[i]),
		    LIMITS_OK);
		ck_assert_int_eq(limits_pending_add(pp, &c[i], &c[i]), 0);
	}
	ck_assert_uint_eq(limits_pending_count(pp, NULL), 10);
	ck_assert_uint_eq(limits_pending_count(pp, c[0].net), 8);
	for (i = 0; i < 3; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		a = v4(ip);
		ck_assert_int_eq(admit(l, &p->limits, &a, 0, &h[i]),
		    LIMITS_UNAUTHENTICATED);
		limits_network_key((void *)&a, &p->limits, net);
		ck_assert_ptr_eq(limits_pending_victim(pp, net, &cnt), &c[i]);
		ck_assert_uint_eq(cnt, 8 - i);
		limits_release(l, &c[i]);
		ck_assert_int_eq(admit(l, &p->limits, &a, 0, &h[i]),
		    LIMITS_OK);
		ck_assert_int_eq(limits_pending_add(pp, &h[i], &h[i]), 0);
	}
	/* 192.0.2.0/24 holds 3, 198.51.100.0/24 still 5. */
	ck_assert_uint_eq(limits_pending_count(pp, h[0].net), 3);
	ck_assert_ptr_eq(limits_pending_victim(pp, h[0].net, NULL), &c[3]);
	/* The attacker's own network: nobody's place. */
	ck_assert_ptr_null(limits_pending_victim(pp, c[0].net, NULL));
	/* A network holding 4 of 5: a swap would not make it more even. */
	a = v4("192.0.2.77");
	ck_assert_int_eq(admit(l, &p->limits, &a, 0, &c[0]),
	    LIMITS_UNAUTHENTICATED);
	limits_release(l, &c[3]);
	ck_assert_int_eq(admit(l, &p->limits, &a, 0, &c[3]), LIMITS_OK);
	ck_assert_int_eq(limits_pending_add(pp, &c[3], &c[3]), 0);
	ck_assert_ptr_null(limits_pending_victim(pp, h[0].net, NULL));
	/* Not known yet (a PROXY header to come): any network above 1. */
	ck_assert_ptr_eq(limits_pending_victim(pp, NULL, &cnt), &c[4]);
	ck_assert_uint_eq(cnt, 4);
	/* Authenticated: out of the set, and of the budget. */
	limits_authenticated(l, &h[0]);
	ck_assert_uint_eq(limits_pending_count(pp, h[0].net), 3);
	ck_assert_uint_eq(limits_pending_count(pp, NULL), 9);
	for (i = 3; i < 10; i++)
		limits_release(l, &c[i]);
	for (i = 0; i < 3; i++)
		limits_release(l, &h[i]);
	ck_assert_uint_eq(limits_pending_count(pp, NULL), 0);
	ck_assert_uint_eq(limits_total(l), 0);
	limits_pending_free(pp);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/* Filled evenly, one connection per network: nobody is evicted. */
START_TEST(pending_even_networks_refuse)
{
	struct limits		*l = limits_new();
	struct limits_pending	*pp = limits_pending_new();
	struct policy		*p = policy_new();
	struct limits_conn	 c[50];
	struct sockaddr_in	 a;
	uint8_t			 net[17];
	char			 ip[32];
	int			 i;

	for (i = 0; i < 50; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.1", i);
		a = v4(ip);
		ck_assert_int_eq(admit(l, &p->limits, &a, 0, &c[i]),
		    LIMITS_OK);
		ck_assert_int_eq(limits_pending_add(pp, &c[i], &c[i]), 0);
	}
	a = v4("10.1.0.1");
	limits_network_key((void *)&a, &p->limits, net);
	ck_assert_ptr_null(limits_pending_victim(pp, net, NULL));
	ck_assert_ptr_null(limits_pending_victim(pp, NULL, NULL));
	for (i = 0; i < 50; i++)
		limits_release(l, &c[i]);
	limits_pending_free(pp);
	policy_unref(p);
	limits_free(l);
}
END_TEST

/*
 * Many networks coming and going in a random order (the table grows, the
 * heap is reordered on every change): the victim is always from a network
 * holding the most, and the oldest of it, as a scan of everything says.
 */
START_TEST(pending_random_against_scan)
{
	enum { N = 3000, NETS = 700 };
	struct limits_pending	*pp = limits_pending_new();
	static struct limits_conn c[N];
	static uint64_t		 born[N];
	uint64_t		 clock = 0, oldest;
	unsigned		 seed = 7, max, cnt, k, j, best;
	struct limits_conn	*v;
	int			 round;

	memset(c, 0, sizeof(c));
	for (round = 0; round < 20000; round++) {
		k = (unsigned)rand_r(&seed) % N;
		if (c[k].pend != NULL) {
			limits_pending_del(&c[k]);
			continue;
		}
		memset(&c[k], 0, sizeof(c[k]));
		c[k].unauth = c[k].addr_counted = true;
		j = (unsigned)rand_r(&seed) % NETS;
		j = j * j / NETS;	/* skewed: low networks hold more */
		memcpy(c[k].net, &j, sizeof(j));
		born[k] = ++clock;
		ck_assert_int_eq(limits_pending_add(pp, &c[k], &c[k]), 0);
		if (round % 50 != 0)
			continue;
		v = limits_pending_victim(pp, NULL, &cnt);
		max = 0;
		for (j = 0; j < N; j++)
			if (c[j].pend != NULL &&
			    limits_pending_count(pp, c[j].net) > max)
				max = limits_pending_count(pp, c[j].net);
		if (max < 2) {
			ck_assert_ptr_null(v);
			continue;
		}
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(cnt, max);
		ck_assert_uint_eq(limits_pending_count(pp, v->net), max);
		oldest = UINT64_MAX;
		best = 0;
		for (j = 0; j < N; j++)
			if (c[j].pend != NULL && memcmp(c[j].net, v->net,
			    17) == 0 && born[j] < oldest) {
				oldest = born[j];
				best = j;
			}
		ck_assert_ptr_eq(v, &c[best]);
	}
	limits_pending_free(pp);
	for (j = 0; j < N; j++)
		ck_assert_ptr_null(c[j].pend);
}
END_TEST


/* ---- the TLS handshake budget of one loop -------------------------------- */

/* The network key of IPv4 address <ip> under the default /24. */
static void
hs_net4(const struct policy *p, const char *ip, uint8_t *net)
{
	struct sockaddr_in	a = v4(ip);

	limits_network_key((void *)&a, &p->limits, net);
}

/* A budget whose handshakes cost 1 ms each (measured, weight 1). */
static struct limits_hs *
hs_new_1ms(void)
{
	struct limits_hs	*hs = limits_hs_new();

	ck_assert_ptr_nonnull(hs);
	limits_hs_measure(hs, 1000ULL * 1000000, 1000, UINT32_MAX, 0);
	ck_assert_double_eq_tol(limits_hs_unit(hs), 1000.0, 0.001);
	return hs;
}

START_TEST(hs_off_and_under_budget)
{
	struct limits_hs	*hs = hs_new_1ms();
	struct policy		*p = policy_new();
	uint8_t			 a[17], b[17];
	uint64_t		 t;
	int			 i;

	hs_net4(p, "10.0.0.1", a);
	hs_net4(p, "10.0.1.1", b);
	/* No budget: anything goes, nothing is counted. */
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(limits_hs_admit(hs, 0, a, false, 0),
		    LIMITS_HS_OK);
	ck_assert_uint_eq(limits_hs_active(hs, 0), 0);
	/* 50%: 500 handshakes of 1 ms a second, 100 a second is nothing. */
	for (t = 0; t < 10000; t += 10) {
		ck_assert_int_eq(limits_hs_admit(hs, 50, t % 20 ? a : b,
		    false, t), LIMITS_HS_OK);
		ck_assert(!limits_hs_over(hs, 50, t));
	}
	ck_assert_uint_eq(limits_hs_active(hs, t), 2);
	ck_assert_uint_eq(limits_hs_active(hs, t + LIMITS_HS_ACTIVE_MS), 0);
	limits_hs_free(hs);
	policy_unref(p);
}
END_TEST

/*
 * 100 networks at 20 handshakes a second each (2 000/s, four times the
 * budget) and a 101st asking once a second: after the first seconds the
 * loop admits about its budget, shared about evenly, and the 101st gets
 * in every time.
 */
START_TEST(hs_fair_share_many_networks)
{
	struct limits_hs	*hs = hs_new_1ms();
	struct policy		*p = policy_new();
	uint8_t			 nets[101][17];
	unsigned		 got[101] = { 0 }, total = 0, lo = ~0u, hi = 0;
	char			 ip[32];
	uint64_t		 t;
	int			 i;

	for (i = 0; i < 101; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.7", i / 250, i % 250);
		hs_net4(p, ip, nets[i]);
	}
	for (t = 0; t < 20000; t++) {
		/* Network i asks at t = i/2 + 50k: 20 a second each. */
		for (i = 0; i < 100; i++)
			if (t % 50 == (uint64_t)i / 2 &&
			    limits_hs_admit(hs, 50, nets[i], false, t) ==
			    LIMITS_HS_OK && t >= 10000) {
				got[i]++;
				total++;
			}
		if (t % 1000 == 500 && t >= 3000)
			ck_assert_int_eq(limits_hs_admit(hs, 50, nets[100],
			    false, t), LIMITS_HS_OK);
	}
	ck_assert(limits_hs_over(hs, 50, t));
	ck_assert_uint_eq(limits_hs_active(hs, t), 101);
	/* 10 s at 500/s, the 101st's share aside. */
	ck_assert_uint_ge(total, 4000);
	ck_assert_uint_le(total, 5500);
	for (i = 0; i < 100; i++) {
		lo = got[i] < lo ? got[i] : lo;
		hi = got[i] > hi ? got[i] : hi;
	}
	ck_assert_uint_ge(lo, 35);	/* 50 each if exactly even */
	ck_assert_uint_le(hi, 65);
	limits_hs_free(hs);
	policy_unref(p);
}
END_TEST

/*
 * One network alone has the whole budget, a second's burst then 500
 * handshakes a second; once a second network asks, that one gets in
 * whenever it asks and the first is held to what is left.
 */
START_TEST(hs_one_network_then_another)
{
	struct limits_hs	*hs = hs_new_1ms();
	struct policy		*p = policy_new();
	uint8_t			 a[17], b[17];
	unsigned		 got = 0;
	uint64_t		 t;

	hs_net4(p, "192.0.2.1", a);
	hs_net4(p, "198.51.100.1", b);
	for (t = 0; t < 5000; t++)
		got += limits_hs_admit(hs, 50, a, false, t) == LIMITS_HS_OK;
	ck_assert_uint_ge(got, 500 + 4 * 500 - 50);
	ck_assert_uint_le(got, 500 + 5 * 500 + 50);
	got = 0;
	ck_assert_int_eq(limits_hs_admit(hs, 50, b, false, t), LIMITS_HS_OK);
	for (; t < 10000; t++) {
		got += limits_hs_admit(hs, 50, a, false, t) == LIMITS_HS_OK;
		if (t % 500 == 0)
			ck_assert_int_eq(limits_hs_admit(hs, 50, b, false, t),
			    LIMITS_HS_OK);
	}
	/* The budget, 500 a second, less b's 2 a second. */
	ck_assert_uint_le(got, 5 * 500 + 50);
	ck_assert_uint_ge(got, 5 * 500 - 100);
	limits_hs_free(hs);
	policy_unref(p);
}
END_TEST

/*
 * Many addresses of one IPv6 /64 are one network: the 1 000 addresses
 * of 2001:db8:0:1::/64 share one account, and 2001:db8:0:2::5 gets in.
 */
START_TEST(hs_ipv6_slash64_is_one_network)
{
	struct limits_hs	*hs = hs_new_1ms();
	struct policy		*p = policy_new();
	struct sockaddr_in6	 a;
	uint8_t			 net[17], other[17];
	unsigned		 got = 0;
	char			 ip[64];
	uint64_t		 t;

	a = v6("2001:db8:0:2::5");
	limits_network_key((void *)&a, &p->limits, other);
	ck_assert_int_eq(limits_hs_admit(hs, 50, other, false, 0),
	    LIMITS_HS_OK);
	for (t = 0; t < 4000; t++) {
		snprintf(ip, sizeof(ip), "2001:db8:0:1::%x", (unsigned)(t %
		    1000) + 1);
		a = v6(ip);
		limits_network_key((void *)&a, &p->limits, net);
		got += limits_hs_admit(hs, 50, net, false, t) == LIMITS_HS_OK;
		if (t % 1000 == 999)
			ck_assert_int_eq(limits_hs_admit(hs, 50, other, false,
			    t), LIMITS_HS_OK);
	}
	ck_assert_uint_eq(limits_hs_active(hs, t), 2);
	/* The budget, 500 a second, and its first second's burst. */
	ck_assert_uint_le(got, 500 + 4 * 500 + 100);
	limits_hs_free(hs);
	policy_unref(p);
}
END_TEST

/*
 * Over budget, a network whose share is spent gets in only from a known
 * address, LIMITS_HS_KNOWN handshakes into debt; past LIMITS_HS_DEBT_S
 * seconds of debt only known addresses get in.
 */
START_TEST(hs_known_priority_and_debt)
{
	struct limits_hs	*hs = hs_new_1ms();
	struct policy		*p = policy_new();
	uint8_t			 a[17], b[17], n[17];
	char			 ip[32];
	uint64_t		 t = 0;
	int			 i, k;

	hs_net4(p, "192.0.2.1", a);
	hs_net4(p, "198.51.100.1", b);
	/* Two networks spend the budget within the same millisecond. */
	for (i = 0; i < 1000; i++) {
		(void)limits_hs_admit(hs, 50, a, false, t);
		(void)limits_hs_admit(hs, 50, b, false, t);
	}
	ck_assert(limits_hs_over(hs, 50, t));
	ck_assert_int_eq(limits_hs_admit(hs, 50, a, false, t),
	    LIMITS_HS_SHARE);
	for (k = 0; limits_hs_admit(hs, 50, a, true, t) == LIMITS_HS_OK; k++)
		ck_assert_int_le(k, 100);
	ck_assert_int_ge(k, 1);
	ck_assert_int_le(k, LIMITS_HS_KNOWN + 1);
	/* Newcomers each take one, until the loop owes 2 s of budget. */
	for (i = 0; i < 3000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 250, i % 250);
		hs_net4(p, ip, n);
		if (limits_hs_admit(hs, 50, n, false, t) == LIMITS_HS_DEBT)
			break;
	}
	ck_assert_int_lt(i, 3000);
	ck_assert_int_gt(i, 500);
	ck_assert_int_eq(limits_hs_admit(hs, 50, b, false, t),
	    LIMITS_HS_DEBT);
	/* b's own share is spent, but it may owe a few when known. */
	ck_assert_int_eq(limits_hs_admit(hs, 50, b, true, t), LIMITS_HS_OK);
	limits_hs_free(hs);
	policy_unref(p);
}
END_TEST

/*
 * ClientHellos that all waited 100 ms or more halve the budget in force
 * each interval, down to its floor; one that did not lets it grow back.
 */
START_TEST(hs_queue_steers_budget)
{
	struct limits_hs	*hs = hs_new_1ms();
	uint64_t		 t;
	int			 i;

	ck_assert_double_eq(limits_hs_scale(hs), 1.0);
	for (t = 0, i = 0; i < 20; i++, t += LIMITS_HS_INTERVAL_MS)
		limits_hs_measure(hs, 1000ULL * 1000000, 1000,
		    LIMITS_HS_TARGET_MS + (i % 2), t);
	ck_assert_double_eq(limits_hs_scale(hs), LIMITS_HS_SCALE_MIN);
	/* A short wait in an interval, or none read: growing back. */
	limits_hs_measure(hs, 1000ULL * 1000000, 1000, 5, t);
	t += LIMITS_HS_INTERVAL_MS;
	for (i = 0; i < 12; i++, t += LIMITS_HS_INTERVAL_MS)
		limits_hs_measure(hs, 1000ULL * 1000000, 1000, UINT32_MAX, t);
	ck_assert_double_eq(limits_hs_scale(hs), 1.0);
	/* A counter going backwards (a new thread?) changes no cost. */
	limits_hs_measure(hs, 5, 1, UINT32_MAX, t);
	ck_assert_double_eq_tol(limits_hs_unit(hs), 1000.0, 0.001);
	limits_hs_measure(hs, 1000ULL * 1000000 + 3000ULL * 1000, 1001,
	    UINT32_MAX, t);
	ck_assert_double_gt(limits_hs_unit(hs), 1000.0);
	limits_hs_free(hs);
}
END_TEST

/*
 * More active networks than the table holds: the ones without room get
 * in while under budget, and are refused (never crash) over it.
 */
START_TEST(hs_table_full)
{
	struct limits_hs	*hs = hs_new_1ms();
	struct policy		*p = policy_new();
	uint8_t			 n[17];
	char			 ip[32];
	unsigned		 i, ok = 0;

	for (i = 0; i < 2 * LIMITS_HS_NETS; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 250, i % 250);
		hs_net4(p, ip, n);
		ok += limits_hs_admit(hs, 50, n, false, 0) == LIMITS_HS_OK;
	}
	ck_assert_uint_le(limits_hs_active(hs, 0), LIMITS_HS_NETS);
	ck_assert_uint_ge(ok, 500);
	ck_assert_uint_lt(ok, 2 * LIMITS_HS_NETS);
	limits_hs_free(hs);
	policy_unref(p);
}
END_TEST

Suite *
limits_suite(void)
{
	Suite	*s = suite_create("limits");
	TCase	*tc = tcase_create("limits");
	TCase	*tl = tcase_create("listeners");
	TCase	*tu = tcase_create("users");
	TCase	*ts = tcase_create("subs");
	TCase	*th = tcase_create("handshakes");

	tcase_add_test(tc, siphash_reference_vector);
	tcase_add_test(tc, bucket_burst_then_rate);
	tcase_add_test(tc, bucket_large_cost_passes_when_full);
	tcase_add_test(tc, admit_per_address_and_release);
	tcase_add_test(tc, admit_per_network_v4_and_v6);
	tcase_add_test(tc, admit_total_and_unauthenticated);
	tcase_add_test(tc, pending_evicts_oldest_of_largest);
	tcase_add_test(tc, pending_even_networks_refuse);
	tcase_add_test(tc, pending_random_against_scan);
	tcase_add_test(tc, admit_connection_rate);
	suite_add_tcase(s, tc);

	tcase_add_test(tl, admit_total_from_argument);
	tcase_add_test(tl, admit_listener_cap_and_release);
	tcase_add_test(tl, reload_moves_listener_and_keeps_network);
	tcase_add_test(tl, admit_refusal_rolls_back_counts);
	tcase_add_test(tl, admit_in_two_steps);
	tcase_add_test(tl, admit_listener_past_max_uncounted);
	tcase_add_test(tl, refusal_strings);
	tcase_add_test(tl, admit_concurrent_exact);
	tcase_set_timeout(tl, 30);	/* threads, slower under ASan */
	suite_add_tcase(s, tl);

	tcase_add_test(tu, user_not_wanted);
	tcase_add_test(tu, user_wanted_by_each_field);
	tcase_add_test(tu, user_cap_exact);
	tcase_add_test(tu, user_connection_rate);
	tcase_add_test(tu, user_connection_rate_default_burst);
	tcase_add_test(tu, user_take_message_rate);
	tcase_add_test(tu, user_take_byte_rate);
	tcase_add_test(tu, user_take_both_or_nothing);
	tcase_add_test(tu, user_take_wait_is_longer);
	tcase_add_test(tu, user_take_shared_and_independent);
	tcase_add_test(tu, user_take_null_and_unset);
	tcase_add_test(tu, user_identity_too_long);
	tcase_add_test(tu, user_table_full_fails_closed);
	tcase_add_test(tu, user_concurrent_exact);
	tcase_set_timeout(tu, 30);
	suite_add_tcase(s, tu);

	tcase_add_test(ts, subs_add_has_del);
	tcase_add_test(ts, subs_many_with_growth);
	tcase_add_test(ts, subs_binary_filters);
	suite_add_tcase(s, ts);

	tcase_add_test(th, hs_off_and_under_budget);
	tcase_add_test(th, hs_fair_share_many_networks);
	tcase_add_test(th, hs_one_network_then_another);
	tcase_add_test(th, hs_ipv6_slash64_is_one_network);
	tcase_add_test(th, hs_known_priority_and_debt);
	tcase_add_test(th, hs_queue_steers_budget);
	tcase_add_test(th, hs_table_full);
	suite_add_tcase(s, th);

	return s;
}
