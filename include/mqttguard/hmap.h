/* SPDX-License-Identifier: ISC */
/*
 * hmap — the daemon's one hash table: open addressing, linear probing,
 * keys that are byte strings hashed with SipHash-2-4 under a random key.
 *
 * The slots are the caller's own struct, whose first member is the
 * uint64_t hash (0: an empty slot); the table moves slots whole and never
 * looks inside them but through the type's eq().  So a slot may hold the
 * entry itself (an ACL identity record, an address counter) or a pointer
 * or index to it (a subscription, a lockout entry, a password line).
 *
 * A type is what tables of one kind share: slot size, comparison, memory
 * and the SipHash key.  Tables of one type hash alike, so a hash computed
 * once serves them all (the ACL looks one topic level up in many trie
 * nodes).  Two kinds of table:
 *   growing  (type->probes == 0): kept at most half full, doubled on
 *            demand, with deletion (backward shift, no tombstones);
 *   fixed    (type->probes > 0): the caller's storage of a fixed size,
 *            every probe run at most type->probes long; a full run means
 *            no room.  For shared tables behind a mutex that must never
 *            allocate at lookup time (the limits' address and user tables).
 *
 * Not thread-safe: a table is its owner's, or behind its owner's lock.
 * Lookups never write, so an immutable table may be read by many threads.
 */
#ifndef MQTTGUARD_HMAP_H
#define MQTTGUARD_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap_type {
	size_t		  size;		/* bytes of a slot, hash first */
	size_t		  min;		/* first capacity, a power of two */
	unsigned	  probes;	/* 0: growing; else the longest run */
	/* Whether <slot> holds <key> (<len> bytes); <ctx> is the type's. */
	bool		(*eq)(void *ctx, const void *slot, const void *key,
			    size_t len);
	void		*(*alloc)(void *ctx, size_t size);	/* zeroed; NULL:
								 * calloc */
	void		(*release)(void *ctx, void *p);		/* NULL: free */
	void		 *ctx;
	uint8_t		  key[16];	/* set by hmap_type_init() */
};

struct hmap {
	const struct hmap_type	*type;
	void			*slots;		/* cap slots, or NULL */
	uint32_t		 cap, n;	/* cap 0 or a power of two */
};

/* A fresh random key for <t>; -1 when the system has no randomness. */
int	 hmap_type_init(struct hmap_type *t);

/*
 * An empty table of type <t>: growing from nothing (<storage> NULL), or a
 * fixed table over the caller's <cap> zeroed slots at <storage> (<cap> a
 * power of two), which stay the caller's.  A zeroed struct hmap is empty
 * too, and may be asked (hmap_find, hmap_home, hmap_next) before it is
 * initialised; the ACL's many trie nodes get their type on their first
 * child.
 */
void	 hmap_init(struct hmap *m, const struct hmap_type *t, void *storage,
	    size_t cap);
/* Releases a growing table's slots (not what they point to). */
void	 hmap_fini(struct hmap *m);

/* The hash of <key> (<len> bytes) in tables of type <t>; never 0. */
uint64_t hmap_hash(const struct hmap_type *t, const void *key, size_t len);

/* The slot holding <key> (hash <h>), or NULL. */
void	*hmap_find(const struct hmap *m, uint64_t h, const void *key,
	    size_t len);
/* Where a lookup of hash <h> starts, for a prefetch; NULL if no slots. */
void	*hmap_home(const struct hmap *m, uint64_t h);

/*
 * A new slot for hash <h>, whose key the caller knows is absent: zeroed
 * but for the hash, for the caller to fill.  Slots may move: a pointer
 * into the table is good until the next hmap_add().  NULL when memory or
 * (fixed table) the probe run is exhausted.
 */
void	*hmap_add(struct hmap *m, uint64_t h);

/*
 * Fixed tables that reuse rather than delete: the slot a new entry of
 * hash <h> would take, the first on its run that is empty or that
 * <stale>(<arg>, slot) says holds nothing worth keeping; NULL if none.
 * Nothing changes until hmap_take(<m>, slot, <h>), which zeroes the slot
 * and gives it hash <h>: the caller frees what a stale slot held first.
 * A reused slot stays occupied, so no other key's run is broken.
 */
void	*hmap_spot(const struct hmap *m, uint64_t h,
	    bool (*stale)(void *arg, const void *slot), void *arg);
void	 hmap_take(struct hmap *m, void *slot, uint64_t h);

/* Empties <slot> of a growing table; other slots may move into it. */
void	 hmap_del(struct hmap *m, void *slot);

/* The used slot after <slot> (NULL: the first), or NULL at the end. */
void	*hmap_next(const struct hmap *m, void *slot);

#endif
