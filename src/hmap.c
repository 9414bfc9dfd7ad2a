/* SPDX-License-Identifier: ISC */
/*
 * hmap — the one hash table (see hmap.h): open addressing over the
 * caller's slots, SipHash-2-4 under a random key per type.
 *
 * Why one table serves them all: every table of the daemon maps a byte
 * string to something, and most of those strings come from the network
 * (user names, client ids, addresses, topic filters).  A keyed hash that
 * clients cannot predict keeps them from aiming collisions at one probe
 * run; doing it once means no table forgets to.
 *
 * Invariants: a slot's first eight bytes are its hash, 0 when the slot is
 * empty (hmap_hash() never returns 0); every used slot is reachable from
 * its home slot without crossing an empty one; a growing table is at most
 * half full; a fixed table's runs are at most type->probes long.
 *
 * Nothing here logs or locks; memory comes from the type's alloc().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqttguard/hmap.h"
#include "mqttguard/siphash.h"

#define HMAP_CAP_MAX	(UINT32_C(1) << 31)

static int	grow(struct hmap *);

static inline unsigned char *
slot_at(const struct hmap *m, size_t i)
{
	return (unsigned char *)m->slots + i * m->type->size;
}

static inline uint64_t
slot_hash(const void *s)
{
	uint64_t	h;

	memcpy(&h, s, sizeof(h));
	return h;
}

/* How many slots a lookup may visit: the whole table bounds a run. */
static inline size_t
run_max(const struct hmap *m)
{
	return m->type->probes != 0 && m->type->probes < m->cap ?
	    m->type->probes : m->cap;
}

int
hmap_type_init(struct hmap_type *t)
{
	return getentropy(t->key, sizeof(t->key)) == 0 ? 0 : -1;
}

void
hmap_init(struct hmap *m, const struct hmap_type *t, void *storage,
    size_t cap)
{
	m->type = t;
	m->slots = storage;
	m->cap = storage != NULL ? (uint32_t)cap : 0;
	m->n = 0;
}

void
hmap_fini(struct hmap *m)
{
	const struct hmap_type	*t = m->type;

	if (t->probes == 0 && m->slots != NULL) {
		if (t->release != NULL)
			t->release(t->ctx, m->slots);
		else
			free(m->slots);
	}
	m->slots = NULL;
	m->cap = m->n = 0;
}

uint64_t
hmap_hash(const struct hmap_type *t, const void *key, size_t len)
{
	static const uint8_t	none[1];
	uint64_t		h;

	h = siphash(t->key, len > 0 ? key : none, len);
	return h != 0 ? h : 1;
}

void *
hmap_find(const struct hmap *m, uint64_t h, const void *key, size_t len)
{
	unsigned char	*s;
	uint64_t	 sh;
	size_t		 i, k, mask, max;

	if (m->slots == NULL)
		return NULL;
	mask = m->cap - 1;
	max = run_max(m);
	for (i = h & mask, k = 0; k < max; i = (i + 1) & mask, k++) {
		s = slot_at(m, i);
		if ((sh = slot_hash(s)) == 0)
			return NULL;
		if (sh == h && m->type->eq(m->type->ctx, s, key, len))
			return s;
	}
	return NULL;
}

void *
hmap_home(const struct hmap *m, uint64_t h)
{
	return m->slots != NULL ? slot_at(m, h & (m->cap - 1)) : NULL;
}

void *
hmap_spot(const struct hmap *m, uint64_t h,
    bool (*stale)(void *, const void *), void *arg)
{
	unsigned char	*s;
	size_t		 i, k, mask, max;

	if (m->slots == NULL)
		return NULL;
	mask = m->cap - 1;
	max = run_max(m);
	for (i = h & mask, k = 0; k < max; i = (i + 1) & mask, k++) {
		s = slot_at(m, i);
		if (slot_hash(s) == 0 || (stale != NULL && stale(arg, s)))
			return s;
	}
	return NULL;
}

void
hmap_take(struct hmap *m, void *slot, uint64_t h)
{
	if (slot_hash(slot) == 0)
		m->n++;
	memset(slot, 0, m->type->size);
	memcpy(slot, &h, sizeof(h));
}

/* Doubles a growing table (or makes its first slots); -1 on ENOMEM. */
static int
grow(struct hmap *m)
{
	const struct hmap_type	*t = m->type;
	struct hmap		 old = *m;
	unsigned char		*s, *d;
	size_t			 cap, i, j;

	cap = m->cap != 0 ? (size_t)m->cap * 2 : (t->min >= 2 ? t->min : 2);
	if (cap > HMAP_CAP_MAX || cap > SIZE_MAX / t->size)
		return -1;
	if ((m->slots = t->alloc != NULL ? t->alloc(t->ctx, cap * t->size) :
	    calloc(cap, t->size)) == NULL) {
		m->slots = old.slots;
		return -1;
	}
	m->cap = (uint32_t)cap;
	for (i = 0; i < old.cap; i++) {
		s = slot_at(&old, i);
		if (slot_hash(s) == 0)
			continue;
		for (j = slot_hash(s) & (cap - 1);
		    slot_hash(d = slot_at(m, j)) != 0; j = (j + 1) & (cap - 1))
			;
		memcpy(d, s, t->size);
	}
	if (old.slots != NULL) {
		if (t->release != NULL)
			t->release(t->ctx, old.slots);
		else
			free(old.slots);
	}
	return 0;
}

void *
hmap_add(struct hmap *m, uint64_t h)
{
	void	*s;

	if (m->type->probes == 0 && ((size_t)m->n + 1) * 2 > m->cap &&
	    grow(m) == -1)
		return NULL;
	if ((s = hmap_spot(m, h, NULL, NULL)) == NULL)
		return NULL;
	hmap_take(m, s, h);
	return s;
}

/*
 * Backward-shift deletion: each later slot of the run whose home is not
 * cyclically within (hole, its place] moves into the hole, so no run is
 * broken and no tombstone accumulates.
 */
void
hmap_del(struct hmap *m, void *slot)
{
	size_t		 size = m->type->size, mask = m->cap - 1, i, j, k;
	unsigned char	*s;

	i = (size_t)((unsigned char *)slot - (unsigned char *)m->slots) / size;
	memset(slot, 0, size);
	m->n--;
	for (j = (i + 1) & mask; slot_hash(s = slot_at(m, j)) != 0;
	    j = (j + 1) & mask) {
		k = slot_hash(s) & mask;
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			memcpy(slot_at(m, i), s, size);
			memset(s, 0, size);
			i = j;
		}
	}
}

void *
hmap_next(const struct hmap *m, void *slot)
{
	size_t	i;

	if (m->slots == NULL)
		return NULL;
	i = slot == NULL ? 0 : (size_t)((unsigned char *)slot -
	    (unsigned char *)m->slots) / m->type->size + 1;
	for (; i < m->cap; i++)
		if (slot_hash(slot_at(m, i)) != 0)
			return slot_at(m, i);
	return NULL;
}
