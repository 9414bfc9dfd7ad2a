/* SPDX-License-Identifier: ISC */
/*
 * topic — the one topic matcher and the one UTF-8 validator, and what
 * the ACL compares filters by: their meet and their specificity.
 *
 * Every place that asks "does this filter match this topic" (limits'
 * topic rates, the ACL's rules kept as filters, the tests that compare us
 * with Mosquitto) and every place that validates an MQTT string (the codec
 * for the wire, the ACL for its rules) calls this file, so that they
 * cannot disagree on '$' topics, empty levels or a '#' standing for its
 * parent.  The ACL's trie walks levels its own way, for speed; its tests
 * prove it equal to topic_match() and topic_covers() (test/check_topic.c).
 * The same holds for what rules compare: the specificity that decides
 * which rule wins (the ACL, its import), and the meet of two filters that
 * the import orders denies by; topic_meet() is tested against
 * topic_match(), so the '$' rule is one test, dollar_level(), throughout.
 *
 * A leaf module: no state, no allocation, nothing else of ours included.
 * The codec depends on it, so everything here must be safe on hostile
 * input: lengths are the caller's, strings are not NUL-terminated, and
 * nothing reads past <len>.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqttguard/topic.h"

/* Word-at-a-time helpers for the ASCII fast path (any byte order). */
#define ONES8		0x0101010101010101ULL
#define HIGH8		0x8080808080808080ULL
#define HASZERO(w)	(((w) - ONES8) & ~(w) & HIGH8)
#define HASBYTE(w, c)	HASZERO((w) ^ (ONES8 * (uint64_t)(c)))
#define HASLESS(w, c)	(((w) - ONES8 * (uint64_t)(c)) & ~(w) & HIGH8)

/* A level of a filter, as topic_meet() sees it. */
enum level_kind {
	LEVEL_LIT = 0,
	LEVEL_PLUS,
	LEVEL_HASH,
	LEVEL_VAR
};

struct level {
	const char		*p;	/* into the filter; not terminated */
	size_t			 n;
	size_t			 rest;	/* bytes from p to the filter's end */
	enum level_kind		 kind;
	const struct topic_var	*var;	/* LEVEL_VAR: which */
};

static int	utf8_seq(const uint8_t *, size_t, unsigned, size_t *);
static bool	dollar_level(const char *, size_t);
static const struct topic_var *var_find(const char *, size_t,
		    const struct topic_var *, size_t);
static bool	level_at(const char *, size_t, size_t,
		    const struct topic_var *, size_t, struct level *);
static const struct level *level_meet(const struct level *,
		    const struct level *, bool);
static bool	level_put(char *, size_t, size_t *, const char *, size_t,
		    bool);
static int	meet_rest(const struct level *, size_t, char *, size_t,
		    size_t *);

/*
 * One multi-byte UTF-8 sequence at <p> (<n> bytes left, n >= 1, p[0] >=
 * 0x80), as RFC 3629 restricts it: no overlong forms, no surrogates, nothing
 * above U+10FFFF.  With <ctl>, U+0080..U+009F is refused as a control
 * character.  Sets *<adv> to the sequence length.
 */
static int
utf8_seq(const uint8_t *p, size_t n, unsigned flags, size_t *adv)
{
	if ((*adv = topic_utf8_len(p, n)) == 0)
		return TOPIC_ERR_UTF8;
	if ((flags & TOPIC_CONTROL) && p[0] == 0xc2 && p[1] <= 0x9f)
		return TOPIC_ERR_CONTROL;
	if ((flags & TOPIC_NONCHAR) && topic_utf8_nonchar(p, *adv))
		return TOPIC_ERR_NONCHAR;
	return TOPIC_OK;
}

int
topic_utf8_chunk(const uint8_t *p, size_t n, size_t *done)
{
	size_t	i = 0, adv, want;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((adv = topic_utf8_len(p + i, n - i)) > 0) {
			i += adv;
			continue;
		}
		want = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
		if (p[i] < 0xc2 || p[i] > 0xf4 || n - i >= want)
			return -1;
		break;		/* cut short: judged with the next piece */
	}
	*done = i;
	return 0;
}

bool
topic_utf8_nonchar(const uint8_t *p, size_t len)
{
	if (len == 3 && p[0] == 0xef)
		return (p[1] == 0xb7 && p[2] >= 0x90 && p[2] <= 0xaf) ||
		    (p[1] == 0xbf && p[2] >= 0xbe);
	/* U+xFFFE, U+xFFFF of planes 1..16: F0..F4, (x)F, BF, BE/BF. */
	return len == 4 && (p[1] & 0x0f) == 0x0f && p[2] == 0xbf &&
	    p[3] >= 0xbe;
}

size_t
topic_utf8_len(const uint8_t *p, size_t n)
{
	uint8_t	c = p[0], lo = 0x80, hi = 0xbf;
	size_t	len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;		/* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f;		/* surrogates U+D800.. */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;		/* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f;		/* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/*
 * Most topics and identifiers are printable ASCII, so eight bytes are
 * tested at once and only a word holding something else is walked byte by
 * byte.  This runs on every string of every frame.
 */
int
topic_utf8_check(const uint8_t *p, size_t n, unsigned flags)
{
	bool		ctl = (flags & TOPIC_CONTROL) != 0;
	bool		name = (flags & TOPIC_NAME) != 0;
	size_t		i = 0, stop, adv;
	uint64_t	w, odd;
	uint8_t		c;
	int		rc;

	while (i < n) {
		if (n - i >= 8) {
			memcpy(&w, p + i, 8);
			odd = (w & HIGH8) | HASLESS(w, 0x20) |
			    HASBYTE(w, 0x7f);
			if (name)
				odd |= HASBYTE(w, '+') | HASBYTE(w, '#');
			if (odd == 0) {
				i += 8;
				continue;
			}
			stop = i + 8;
		} else
			stop = n;
		while (i < stop) {
			c = p[i];
			if (c >= 0x80) {
				if ((rc = utf8_seq(p + i, n - i, flags,
				    &adv)) != TOPIC_OK)
					return rc;
				i += adv;
				continue;
			}
			if (c == 0)
				return TOPIC_ERR_NUL;
			if (ctl && (c < 0x20 || c == 0x7f))
				return TOPIC_ERR_CONTROL;
			if (name && (c == '+' || c == '#'))
				return TOPIC_ERR_WILDCARD;
			i++;
		}
	}
	return TOPIC_OK;
}

int
topic_wildcards_check(const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] == '+') {
			if ((i > 0 && p[i - 1] != '/') ||
			    (i + 1 < n && p[i + 1] != '/'))
				return TOPIC_ERR_WILDCARD;
		} else if (p[i] == '#') {
			if ((i > 0 && p[i - 1] != '/') || i + 1 != n)
				return TOPIC_ERR_WILDCARD;
		}
	}
	return TOPIC_OK;
}

/*
 * Whether the level <lv> (<n> bytes) starts with '$'.  As a topic's first
 * level, no wildcard and no placeholder stands for it [MQTT-4.7.2-1]: the
 * one test of the '$' rule, for matching and for meeting alike.
 */
static bool
dollar_level(const char *lv, size_t n)
{
	return n > 0 && lv[0] == '$';
}

/* The placeholder of <vars> that the level <lv> (<n> bytes) is, or NULL. */
static const struct topic_var *
var_find(const char *lv, size_t n, const struct topic_var *vars,
    size_t nvars)
{
	size_t	i;

	for (i = 0; i < nvars; i++)
		if (vars[i].nlen == n && memcmp(vars[i].name, lv, n) == 0)
			return &vars[i];
	return NULL;
}

/*
 * The walk under every match: <outer> and <inner> a level at a time.  A
 * position past the end (len + 1) means "no level left", which differs
 * from an empty last level.  With TOPIC_COVERS, a '+' or '#' level of
 * <inner> is a wildcard that only a wider one covers; without, it is a
 * byte like any other.
 */
bool
topic_match_vars(const char *outer, size_t olen, const char *inner,
    size_t ilen, const struct topic_var *vars, size_t nvars, unsigned flags)
{
	const struct topic_var	*v;
	bool			 filter = (flags & TOPIC_COVERS) != 0;
	bool			 dollar = dollar_level(inner, ilen);
	size_t			 oi = 0, oe, ii = 0, ie, on, in;

	while (oi <= olen) {
		for (oe = oi; oe < olen && outer[oe] != '/'; oe++)
			;
		on = oe - oi;
		if (on == 1 && outer[oi] == '#') {
			if (oi == 0 && dollar)
				return false;	/* [MQTT-4.7.2-1] */
			return oe == olen;	/* the parent and all below */
		}
		if (ii > ilen)
			return false;	/* the inner has no level */
		for (ie = ii; ie < ilen && inner[ie] != '/'; ie++)
			;
		in = ie - ii;
		if (filter && in == 1 && inner[ii] == '#')
			return false;		/* only '#' covers '#' */
		if (on == 1 && outer[oi] == '+') {
			if (oi == 0 && dollar)
				return false;	/* [MQTT-4.7.2-1] */
		} else if (filter && in == 1 && inner[ii] == '+')
			return false;	/* only '+' or '#' covers '+' */
		else if (nvars > 0 &&
		    (v = var_find(outer + oi, on, vars, nvars)) != NULL) {
			if ((oi == 0 && dollar) || v->vlen == 0 ||
			    v->vlen != in ||
			    memcmp(v->val, inner + ii, in) != 0)
				return false;
		} else if (on != in ||
		    (on > 0 && memcmp(outer + oi, inner + ii, on) != 0))
			return false;
		oi = oe + 1;
		ii = ie + 1;
	}
	return ii > ilen;
}

bool
topic_match(const char *filter, size_t flen, const char *topic, size_t tlen)
{
	return topic_match_vars(filter, flen, topic, tlen, NULL, 0, 0);
}

bool
topic_covers(const char *outer, size_t olen, const char *inner, size_t ilen)
{
	return topic_match_vars(outer, olen, inner, ilen, NULL, 0,
	    TOPIC_COVERS);
}

/*
 * The level of the <len>-byte filter <f> that starts at <off>, into <l>;
 * false when <off> is past the end (len + 1: no level left, which differs
 * from an empty last level).
 */
static bool
level_at(const char *f, size_t len, size_t off, const struct topic_var *vars,
    size_t nvars, struct level *l)
{
	size_t	end;

	if (off > len)
		return false;
	for (end = off; end < len && f[end] != '/'; end++)
		;
	l->p = f + off;
	l->n = end - off;
	l->rest = len - off;
	l->var = NULL;
	if (l->n == 1 && *l->p == '+')
		l->kind = LEVEL_PLUS;
	else if (l->n == 1 && *l->p == '#')
		l->kind = LEVEL_HASH;
	else if (nvars > 0 && (l->var = var_find(l->p, l->n, vars,
	    nvars)) != NULL)
		l->kind = LEVEL_VAR;
	else
		l->kind = LEVEL_LIT;
	return true;
}

/*
 * The meet of two levels, neither '#', as the level to write (one of the
 * two), or NULL when they have none.  <first>: they are the first levels.
 */
static const struct level *
level_meet(const struct level *a, const struct level *b, bool first)
{
	const struct level	*lit, *var;

	if (first && a->kind != b->kind &&
	    ((a->kind == LEVEL_LIT && dollar_level(a->p, a->n)) ||
	    (b->kind == LEVEL_LIT && dollar_level(b->p, b->n))))
		return NULL;
	if (a->kind == LEVEL_PLUS)
		return b;
	if (b->kind == LEVEL_PLUS ||
	    (a->kind == LEVEL_VAR && b->kind == LEVEL_VAR))
		return a;
	if (a->kind == LEVEL_LIT && b->kind == LEVEL_LIT)
		return a->n == b->n && memcmp(a->p, b->p, a->n) == 0 ? a :
		    NULL;
	lit = a->kind == LEVEL_LIT ? a : b;
	var = a->kind == LEVEL_LIT ? b : a;
	if (var->var->val != NULL && (var->var->vlen != lit->n ||
	    memcmp(var->var->val, lit->p, lit->n) != 0))
		return NULL;
	return a;		/* inside <a>, whichever is narrower */
}

/*
 * Appends <n> bytes at <p> to <out> (<outlen> bytes, <*o> used), after a
 * '/' when <sep>, keeping room for the NUL.  False when they do not fit.
 */
static bool
level_put(char *out, size_t outlen, size_t *o, const char *p, size_t n,
    bool sep)
{
	if (outlen - *o <= n + sep)
		return false;
	if (sep)
		out[(*o)++] = '/';
	memcpy(out + *o, p, n);
	*o += n;
	return true;
}

/*
 * The other filter's level <l> onwards, after a '#' at level <lv>: the
 * rest of the meet, appended to <out>.  <l> NULL: the other has no level
 * left, and "a/#" meets "a" in "a".  Returns as topic_meet().
 */
static int
meet_rest(const struct level *l, size_t lv, char *out, size_t outlen,
    size_t *o)
{
	if (l == NULL)
		return 1;
	if (lv == 0 && l->kind == LEVEL_LIT && dollar_level(l->p, l->n))
		return 0;
	return level_put(out, outlen, o, l->p, l->rest, lv > 0) ? 1 : -1;
}

/*
 * The two filters a level at a time, until a '#' on one side takes the
 * rest of the other as it is, or both end together.
 */
int
topic_meet(const char *a, size_t alen, const char *b, size_t blen,
    const struct topic_var *vars, size_t nvars, char *out, size_t outlen,
    size_t *mlen)
{
	struct level		 la, lb;
	const struct level	*pa, *pb, *pick;
	size_t			 ai = 0, bi = 0, o = 0, lv;
	int			 rc;

	if (outlen == 0)
		return -1;
	for (lv = 0;; lv++) {
		pa = level_at(a, alen, ai, vars, nvars, &la) ? &la : NULL;
		pb = level_at(b, blen, bi, vars, nvars, &lb) ? &lb : NULL;
		if (pa != NULL && pa->kind == LEVEL_HASH) {
			rc = meet_rest(pb, lv, out, outlen, &o);
			break;
		}
		if (pb != NULL && pb->kind == LEVEL_HASH) {
			rc = meet_rest(pa, lv, out, outlen, &o);
			break;
		}
		if (pa == NULL || pb == NULL) {
			rc = pa == pb;	/* 0: one has more levels */
			break;
		}
		if ((pick = level_meet(pa, pb, lv == 0)) == NULL)
			return 0;
		if (!level_put(out, outlen, &o, pick->p, pick->n, lv > 0))
			return -1;
		ai += la.n + 1;
		bi += lb.n + 1;
	}
	if (rc == 1) {
		out[o] = '\0';
		*mlen = o;
	}
	return rc;
}

uint32_t
topic_specificity(const char *f, size_t len, unsigned *depth)
{
	const char	*lv = f, *end, *stop = f + len;
	uint32_t	 lit = 0, plus = 0;
	unsigned	 n = 0;

	for (;; lv = end + 1) {
		if ((end = memchr(lv, '/', (size_t)(stop - lv))) == NULL)
			end = stop;
		if (end - lv == 1 && *lv == '+')
			plus++;
		else if (!(end - lv == 1 && *lv == '#'))
			lit++;
		n++;
		if (end == stop)
			break;
	}
	if (depth != NULL)
		*depth = n;
	return lit << 8 | plus;
}
