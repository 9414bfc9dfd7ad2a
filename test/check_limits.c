/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for limits: token buckets as pure functions of the clock, and
 * the accept-time connection caps (total, unauthenticated, per address,
 * per network, connection rate) with their release; and SipHash's
 * reference vector, since the tables depend on it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
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
		ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0,
		    &c[i]), LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &c[3]),
	    LIMITS_ADDRESS);
	ck_assert(!c[3].counted);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&b, 0, &d),
	    LIMITS_OK);
	ck_assert_uint_eq(limits_total(l), 4);
	limits_release(l, &p->limits, &c[0]);
	limits_release(l, &p->limits, &c[0]);	/* twice is harmless */
	ck_assert_uint_eq(limits_total(l), 3);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &c[0]),
	    LIMITS_OK);
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
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a1, 0, &c),
	    LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a2, 0, &c),
	    LIMITS_NETWORK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a3, 0, &c),
	    LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&b1, 0, &c),
	    LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&b2, 0, &c),
	    LIMITS_NETWORK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&b3, 0, &c),
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

	p->limits.max_unauthenticated = 2;
	p->limits.max_connections = 3;
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &c[0]),
	    LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &c[1]),
	    LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &x),
	    LIMITS_UNAUTHENTICATED);
	limits_authenticated(l, &c[0]);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &c[2]),
	    LIMITS_OK);
	limits_authenticated(l, &c[1]);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &x),
	    LIMITS_TOTAL);
	limits_release(l, &p->limits, &c[2]);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 0, &x),
	    LIMITS_OK);
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
		ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 1000,
		    &c), LIMITS_OK);
		limits_release(l, &p->limits, &c);	/* rate, not count */
	}
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 1000, &c),
	    LIMITS_RATE);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&b, 1000, &c),
	    LIMITS_OK);
	ck_assert_int_eq(limits_admit(l, &p->limits, (void *)&a, 1500, &c),
	    LIMITS_OK);
	ck_assert_str_eq(limits_refusal_str(LIMITS_RATE),
	    "connecting too fast (limits.connection_rate_per_address)");
	policy_unref(p);
	limits_free(l);
}
END_TEST

Suite *
limits_suite(void)
{
	Suite	*s = suite_create("limits");
	TCase	*tc = tcase_create("limits");

	tcase_add_test(tc, siphash_reference_vector);
	tcase_add_test(tc, bucket_burst_then_rate);
	tcase_add_test(tc, bucket_large_cost_passes_when_full);
	tcase_add_test(tc, admit_per_address_and_release);
	tcase_add_test(tc, admit_per_network_v4_and_v6);
	tcase_add_test(tc, admit_total_and_unauthenticated);
	tcase_add_test(tc, admit_connection_rate);
	suite_add_tcase(s, tc);
	return s;
}
