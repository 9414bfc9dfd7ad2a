/* SPDX-License-Identifier: ISC */
/*
 * Tests of hmap_: the one hash table.  A growing table against a plain
 * array kept beside it (adds, finds, deletes that shift runs back), a
 * fixed table's bounded runs and reuse of stale slots, iteration, and
 * keys that differ per type.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/hmap.h"

#define NKEYS	5000

struct kslot {
	uint64_t	 hash;
	unsigned	 val;
	char		 key[12];
};

static bool
k_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct kslot	*s = slot;

	(void)ctx;
	return strlen(s->key) == len && memcmp(s->key, key, len) == 0;
}

static void
type_make(struct hmap_type *t, unsigned probes)
{
	memset(t, 0, sizeof(*t));
	t->size = sizeof(struct kslot);
	t->min = 4;
	t->probes = probes;
	t->eq = k_eq;
	ck_assert_int_eq(hmap_type_init(t), 0);
}

static struct kslot *
add(struct hmap *m, const char *k, unsigned val)
{
	struct kslot	*s;

	s = hmap_add(m, hmap_hash(m->type, k, strlen(k)));
	if (s != NULL) {
		snprintf(s->key, sizeof(s->key), "%s", k);
		s->val = val;
	}
	return s;
}

static struct kslot *
find(const struct hmap *m, const char *k)
{
	return hmap_find(m, hmap_hash(m->type, k, strlen(k)), k, strlen(k));
}

/* Random adds and deletes; after each, every key is where it should be. */
START_TEST(growing_against_array)
{
	struct hmap_type	 t;
	struct hmap		 m;
	struct kslot		*s;
	bool			*in;
	char			 k[12];
	unsigned		 i, j, n = 0;

	type_make(&t, 0);
	hmap_init(&m, &t, NULL, 0);
	ck_assert_ptr_nonnull(in = calloc(NKEYS, sizeof(*in)));
	tu_srand(0x686d6170);
	for (i = 0; i < 4 * NKEYS; i++) {
		j = tu_rand(NKEYS);
		snprintf(k, sizeof(k), "k%u", j);
		s = find(&m, k);
		ck_assert(in[j] == (s != NULL));
		if (s != NULL) {
			ck_assert_uint_eq(s->val, j);
			if (tu_rand(2) == 0) {
				hmap_del(&m, s);
				in[j] = false;
				n--;
			}
		} else {
			ck_assert_ptr_nonnull(add(&m, k, j));
			in[j] = true;
			n++;
		}
		ck_assert_uint_eq(m.n, n);
		ck_assert_uint_le((size_t)m.n * 2, m.cap);
	}
	for (j = 0; j < NKEYS; j++) {
		snprintf(k, sizeof(k), "k%u", j);
		ck_assert(in[j] == (find(&m, k) != NULL));
	}
	for (s = NULL, i = 0; (s = hmap_next(&m, s)) != NULL; i++)
		ck_assert(in[s->val]);
	ck_assert_uint_eq(i, n);
	hmap_fini(&m);
	free(in);
}
END_TEST

static bool
k_stale(void *arg, const void *slot)
{
	return ((const struct kslot *)slot)->val == *(const unsigned *)arg;
}

/* A fixed table: runs stop at type->probes; stale slots are reused. */
START_TEST(fixed_runs_and_reuse)
{
	struct hmap_type	 t;
	struct hmap		 m;
	struct kslot		 slots[64], *s;
	char			 k[12];
	unsigned		 i, added = 0, full = 0, dead = 7;
	uint64_t		 h;

	memset(slots, 0, sizeof(slots));
	type_make(&t, 4);
	hmap_init(&m, &t, slots, 64);
	/*
	 * Until some run was full (random keys: how soon varies) and the
	 * table holds 48; a whole table refuses every key, so it ends.
	 */
	for (i = 0; i < 1000 && (added < 48 || full == 0); i++) {
		snprintf(k, sizeof(k), "f%u", i);
		if (add(&m, k, i % 8) != NULL)
			added++;
		else
			full++;		/* its run is full, the table not */
	}
	ck_assert_uint_gt(full, 0);
	ck_assert_uint_eq(m.n, added);
	for (i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "f%u", i);
		if ((s = find(&m, k)) != NULL)
			ck_assert_str_eq(s->key, k);
	}
	/* A key with no room finds a stale slot, which keeps its place. */
	for (i = 1000; i < 2000; i++) {
		snprintf(k, sizeof(k), "f%u", i);
		h = hmap_hash(&t, k, strlen(k));
		if (hmap_spot(&m, h, NULL, NULL) == NULL &&
		    (s = hmap_spot(&m, h, k_stale, &dead)) != NULL)
			break;
	}
	ck_assert_uint_lt(i, 2000);
	hmap_take(&m, s, h);
	snprintf(s->key, sizeof(s->key), "%s", k);
	ck_assert_uint_eq(m.n, added);		/* reused, not added */
	ck_assert_ptr_eq(find(&m, k), s);
}
END_TEST

START_TEST(hash_per_type)
{
	struct hmap_type	a, b;

	type_make(&a, 0);
	type_make(&b, 0);
	ck_assert_uint_ne(hmap_hash(&a, "key", 3), hmap_hash(&b, "key", 3));
	ck_assert_uint_eq(hmap_hash(&a, "key", 3), hmap_hash(&a, "key", 3));
	ck_assert_uint_ne(hmap_hash(&a, NULL, 0), 0);
}
END_TEST

Suite *
hmap_suite(void)
{
	Suite	*s = suite_create("hmap");
	TCase	*tc = tcase_create("hmap");

	tcase_add_test(tc, growing_against_array);
	tcase_add_test(tc, fixed_runs_and_reuse);
	tcase_add_test(tc, hash_per_type);
	suite_add_tcase(s, tc);
	return s;
}
