/* SPDX-License-Identifier: ISC */
/*
 * topic — the one topic matcher and the one UTF-8 validator.
 *
 * Every place that asks "does this filter match this topic" (limits'
 * topic rates, the ACL's rules kept as filters, the tests that compare us
 * with Mosquitto) and every place that validates an MQTT string (the codec
 * for the wire, the ACL for its rules) calls this file, so that they
 * cannot disagree on '$' topics, empty levels or a '#' standing for its
 * parent.  The ACL's trie walks levels its own way, for speed; its tests
 * prove it equal to topic_match() and topic_covers() (test/check_topic.c).
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

static int	utf8_seq(const uint8_t *, size_t, bool, size_t *);
static const struct topic_var *var_find(const char *, size_t,
		    const struct topic_var *, size_t);

/*
 * One multi-byte UTF-8 sequence at <p> (<n> bytes left, n >= 1, p[0] >=
 * 0x80), as RFC 3629 restricts it: no overlong forms, no surrogates, nothing
 * above U+10FFFF.  With <ctl>, U+0080..U+009F is refused as a control
 * character.  Sets *<adv> to the sequence length.
 */
static int
utf8_seq(const uint8_t *p, size_t n, bool ctl, size_t *adv)
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
		return TOPIC_ERR_UTF8;
	if (n < len || p[1] < lo || p[1] > hi)
		return TOPIC_ERR_UTF8;
	for (i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return TOPIC_ERR_UTF8;
	if (ctl && c == 0xc2 && p[1] <= 0x9f)
		return TOPIC_ERR_CONTROL;
	*adv = len;
	return TOPIC_OK;
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
				if ((rc = utf8_seq(p + i, n - i, ctl,
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
	bool			 dollar = ilen > 0 && inner[0] == '$';
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
