/* SPDX-License-Identifier: ISC */
/*
 * siphash — SipHash-2-4, the keyed hash of the tables that attackers fill
 * with keys of their choosing (user names, client ids, addresses): with a
 * random key per process they cannot aim collisions at one bucket.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqttguard/siphash.h"

static inline uint64_t le64(const uint8_t *);

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/*
 * Eight bytes as a little-endian word: one load where the machine is
 * little-endian (a byte loop here cost more than the rounds themselves
 * on the ACL's short topic levels).
 */
static inline uint64_t
le64(const uint8_t *p)
{
	uint64_t	v;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, sizeof(v));
#else
	int		i;

	v = 0;
	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
#endif
	return v;
}

uint64_t
siphash(const uint8_t *k, const uint8_t *in, size_t len)
{
	uint64_t	k0 = le64(k), k1 = le64(k + 8), m, b;
	uint64_t	v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t	v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t	v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t	v3 = 0x7465646279746573ULL ^ k1;
	size_t		i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	b = (uint64_t)len << 56;
	while (tail-- > 0)
		b |= (uint64_t)in[i + tail] << (8 * tail);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
