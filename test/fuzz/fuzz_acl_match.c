/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the ACL (acl.c) against a reference written here
 * from what acl.h promises, the simplest way it can be said: every rule
 * is tried on every question, level by level, and the best of those that
 * match decides.  Any disagreement aborts with both answers.
 *
 * The input builds an index and asks it questions.  Its first byte gives
 * the number of rules (up to RULES_MAX), each made of four bytes: allow or
 * deny, the actions, who (everyone, one or two users, a group) and a
 * filter; then every four bytes are a question: identity, client id,
 * action, topic.  Filters and topics are made of levels taken from a
 * small vocabulary (LEVELS) chosen to meet every rule: wildcards,
 * placeholders, '$' levels, the identities and client ids themselves, an
 * empty level, a NUL byte, a '+' inside a level.  Rules the index refuses
 * are left out of the reference too.
 *
 * The reference, from acl.h:
 *   - a rule applies to everyone, to the users it lists, and to the
 *     members of the groups it lists;
 *   - publish and read take a topic name: a '+' or '#' anywhere makes it
 *     no topic, and no rule matches; subscribe takes a filter, whose
 *     wildcards must be whole levels ('#' last), and "$share/G/F" (G not
 *     empty, no wildcard in it) is checked on F;
 *   - rule level '#' matches the rest (the parent level included), '+'
 *     one level; for a subscription, a rule level covers a query level
 *     only when every topic the latter matches, it matches ('+' covers
 *     '+', only '#' covers '#'); "%u"/"%c" match one literal level equal
 *     to the identity / client id, never when that is empty;
 *   - a '+', '#', "%u" or "%c" first rule level never matches a topic
 *     starting with '$';
 *   - the most specific matching rule decides: more literal levels
 *     ("%u"/"%c" are literal), then more '+'; at equal specificity deny
 *     beats allow; nothing matching is deny; the deciding rule reported is
 *     the first added among the best.
 *
 * Every question is asked of acl_check_cached() too, twice, through one
 * cache for the whole input (identities and client ids change between
 * questions): its verdict and deciding rule must be acl_check()'s.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/acl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define RULES_MAX	24
#define DEPTH_MAX	5		/* levels of a generated filter */
#define TOPIC_MAX	256

/* Levels, with their lengths: one holds a NUL byte. */
static const struct { const char *s; size_t n; } LEVELS[] = {
	{ "a", 1 }, { "b", 1 }, { "c", 1 }, { "+", 1 }, { "#", 1 },
	{ "%u", 2 }, { "%c", 2 }, { "$SYS", 4 }, { "$x", 2 }, { "", 0 },
	{ "alice", 5 }, { "c1", 2 }, { "a\0b", 3 }, { "a+", 2 },
	{ "%u%c", 4 }, { "$share", 6 },
};
#define NLEVELS		(sizeof(LEVELS) / sizeof(LEVELS[0]))

static const char *const IDS[] = { "alice", "bob", "", "c1", "a+", "%u" };
#define NIDS		(sizeof(IDS) / sizeof(IDS[0]))
static const struct { const char *s; size_t n; } CIDS[] = {
	{ "c1", 2 }, { "alice", 5 }, { "", 0 }, { "a\0b", 3 }, { "#", 1 },
	{ "c/d", 3 },
};
#define NCIDS		(sizeof(CIDS) / sizeof(CIDS[0]))

/* Groups: name and members (NULL-terminated). */
static const char *const G1[] = { "alice", "c1", NULL };
static const char *const G2[] = { "bob", "", NULL };
static const char *const G3[] = { NULL };

struct ref_rule {
	size_t		 idx;		/* in the index */
	bool		 allow;
	unsigned	 actions;
	char		 filter[TOPIC_MAX];
	size_t		 flen;
	bool		 everyone;
	const char	*users[2];
	size_t		 n_users;
	const char	*group;		/* NULL: none */
};

static size_t	build(char *, size_t, const uint8_t *, size_t);
static size_t	split(const char *, size_t, size_t *, size_t *, size_t);
static bool	applies(const struct ref_rule *, const char *);
static bool	level_eq(const char *, size_t, const char *, size_t);
static bool	covers(const char *, const size_t *, const size_t *, size_t,
		    size_t, const char *, const size_t *, const size_t *,
		    size_t, size_t, bool, bool, const char *, const char *,
		    size_t);
static bool	query_ok(const char *, size_t, bool, const char **,
		    size_t *);
static void	spec(const char *, size_t, unsigned *, unsigned *);

/*
 * A filter or topic of levels picked by <n> bytes at <p>: each byte's low
 * nibble chooses a level; the string goes to <buf>.  Returns its length.
 */
static size_t
build(char *buf, size_t cap, const uint8_t *p, size_t n)
{
	size_t	len = 0, i, l;

	for (i = 0; i < n; i++) {
		l = LEVELS[p[i] % NLEVELS].n;
		if (len + l + 1 >= cap)
			break;
		if (i > 0)
			buf[len++] = '/';
		memcpy(buf + len, LEVELS[p[i] % NLEVELS].s, l);
		len += l;
	}
	return len;
}

/* Splits <t> at '/': offsets and lengths of at most <max> levels. */
static size_t
split(const char *t, size_t len, size_t *off, size_t *lens, size_t max)
{
	size_t	n = 0, start = 0, i;

	for (i = 0; i <= len && n < max; i++) {
		if (i < len && t[i] != '/')
			continue;
		off[n] = start;
		lens[n++] = i - start;
		start = i + 1;
	}
	return n;
}

static bool
level_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Whether rule <r> is about <id>. */
static bool
applies(const struct ref_rule *r, const char *id)
{
	const char *const	*m;
	size_t			 i;

	if (r->everyone)
		return true;
	for (i = 0; i < r->n_users; i++)
		if (strcmp(r->users[i], id) == 0)
			return true;
	if (r->group == NULL)
		return false;
	m = strcmp(r->group, "g1") == 0 ? G1 : strcmp(r->group, "g2") == 0 ?
	    G2 : G3;
	for (; *m != NULL; m++)
		if (strcmp(*m, id) == 0)
			return true;
	return false;
}

/*
 * Whether rule levels from <i> on (of <rn>, in <rf>) match query levels
 * from <j> on (of <qn>, in <q>).  <sub>: the query is a filter, answer
 * "covers"; <dollar>: the query starts with '$'.
 */
static bool
covers(const char *rf, const size_t *ro, const size_t *rl, size_t rn,
    size_t i, const char *q, const size_t *qo, const size_t *ql, size_t qn,
    size_t j, bool sub, bool dollar, const char *id, const char *cid,
    size_t cidlen)
{
	const char	*r, *t;
	size_t		 rlen, tlen;
	bool		 top = i == 0 && dollar;
	bool		 twild;

	if (i == rn)
		return j == qn;
	r = rf + ro[i];
	rlen = rl[i];
	if (level_eq(r, rlen, "#", 1))
		return !top;
	if (j == qn)
		return false;
	t = q + qo[j];
	tlen = ql[j];
	twild = sub && (level_eq(t, tlen, "+", 1) || level_eq(t, tlen, "#",
	    1));
	if (sub && level_eq(t, tlen, "#", 1))
		return false;
	if (level_eq(r, rlen, "+", 1)) {
		if (top)
			return false;
	} else if (level_eq(r, rlen, "%u", 2)) {
		if (top || twild || *id == '\0' ||
		    !level_eq(t, tlen, id, strlen(id)))
			return false;
	} else if (level_eq(r, rlen, "%c", 2)) {
		if (top || twild || cidlen == 0 ||
		    !level_eq(t, tlen, cid, cidlen))
			return false;
	} else if (twild || !level_eq(r, rlen, t, tlen))
		return false;
	return covers(rf, ro, rl, rn, i + 1, q, qo, ql, qn, j + 1, sub, dollar,
	    id, cid, cidlen);
}

/*
 * Whether <t> (<len> bytes) is a question the ACL answers, and the topic
 * or filter it is about (after "$share/G/") in *<q>, *<qlen>.
 */
static bool
query_ok(const char *t, size_t len, bool sub, const char **q, size_t *qlen)
{
	const char	*slash;
	size_t		 i, start;

	if (sub && len >= 7 && memcmp(t, "$share/", 7) == 0) {
		if ((slash = memchr(t + 7, '/', len - 7)) == NULL ||
		    slash == t + 7)
			return false;
		for (i = 7; t + i < slash; i++)
			if (t[i] == '+' || t[i] == '#')
				return false;
		len -= (size_t)(slash + 1 - t);
		t = slash + 1;
	}
	*q = t;
	*qlen = len;
	if (len == 0)
		return false;
	for (i = 0, start = 0; i <= len; i++) {
		if (i < len && t[i] != '/')
			continue;
		if (memchr(t + start, '+', i - start) != NULL ||
		    memchr(t + start, '#', i - start) != NULL) {
			if (!sub || i - start != 1 || (t[start] == '#' &&
			    i != len))
				return false;
		}
		start = i + 1;
	}
	return true;
}

/* Literal levels ("%u", "%c" included) and '+' levels of a filter. */
static void
spec(const char *f, size_t len, unsigned *lit, unsigned *plus)
{
	size_t	off[TOPIC_MAX], lens[TOPIC_MAX], n, i;

	*lit = *plus = 0;
	n = split(f, len, off, lens, TOPIC_MAX);
	for (i = 0; i < n; i++) {
		if (level_eq(f + off[i], lens[i], "+", 1))
			(*plus)++;
		else if (!level_eq(f + off[i], lens[i], "#", 1))
			(*lit)++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref_rule	 rules[RULES_MAX];
	static const char	*actname[] = { "?", "publish", "subscribe", "?",
				    "read" };
	struct acl		*acl;
	struct acl_rule		 ar;
	struct acl_subject	 who;
	struct acl_verdict	 v, cv;
	struct acl_cache	 cache;
	struct ref_rule		*r;
	char			 err[256], topic[TOPIC_MAX];
	const char		*q, *id;
	size_t			 nrules, n = 0, off = 1, tlen, qlen, i, best;
	size_t			 ro[TOPIC_MAX], rl[TOPIC_MAX], qo[TOPIC_MAX];
	size_t			 ql[TOPIC_MAX], rn, qn, depth;
	unsigned		 lit, plus, key, bestkey = 0, act, c;
	bool			 found, got, sub;

	if (size < 1 || (acl = acl_new()) == NULL)
		return 0;
	/* A group refused (g2 names "", g3 nobody) makes its rules so. */
	if (acl_add_group(acl, "g1", G1, 2, err, sizeof(err)) != 0)
		abort();
	(void)acl_add_group(acl, "g2", G2, 2, err, sizeof(err));
	(void)acl_add_group(acl, "g3", G3, 0, err, sizeof(err));
	nrules = data[0] % (RULES_MAX + 1);
	acl_cache_clear(&cache);

	/* The rules: allow, actions, who, filter (a length and levels). */
	while (n < nrules && off + 4 <= size) {
		r = &rules[n];
		memset(r, 0, sizeof(*r));
		r->allow = data[off] & 1;
		r->actions = 1 + data[off + 1] % 7;
		depth = 1 + (data[off + 3] >> 4) % DEPTH_MAX;
		if (off + 4 + depth > size)
			break;
		switch (data[off + 2] % 5) {
		case 0:
		case 1:
			r->everyone = true;
			break;
		case 2:
			r->users[r->n_users++] = IDS[(data[off + 2] >> 3) %
			    NIDS];
			break;
		case 3:
			r->users[r->n_users++] = IDS[(data[off + 2] >> 3) %
			    NIDS];
			r->users[r->n_users++] = IDS[(data[off + 2] >> 5) %
			    NIDS];
			break;
		default:
			r->group = (data[off + 2] >> 3) % 3 == 0 ? "g1" :
			    (data[off + 2] >> 3) % 3 == 1 ? "g2" : "g3";
			break;
		}
		r->flen = build(r->filter, sizeof(r->filter), data + off + 4,
		    depth);
		r->filter[r->flen] = '\0';
		off += 4 + depth;
		memset(&ar, 0, sizeof(ar));
		ar.allow = r->allow;
		ar.actions = r->actions;
		ar.filter = r->filter;
		ar.everyone = r->everyone;
		ar.users = (char **)r->users;
		ar.n_users = r->n_users;
		ar.groups = r->group != NULL ? (char **)&r->group : NULL;
		ar.n_groups = r->group != NULL ? 1 : 0;
		if (strlen(r->filter) != r->flen ||
		    acl_add_rule(acl, &ar, err, sizeof(err)) != 0)
			continue;
		r->idx = acl_count(acl) - 1;
		n++;
	}

	/* The questions: identity, client id, action, topic. */
	while (off + 4 <= size) {
		id = IDS[data[off] % NIDS];
		c = data[off + 1] % NCIDS;
		act = 1u << (data[off + 2] % 3);
		depth = 1 + (data[off + 3] >> 4) % (DEPTH_MAX + 2);
		if (off + 4 + depth > size)
			break;
		tlen = build(topic, sizeof(topic), data + off + 4, depth);
		if ((data[off + 3] & 1) && tlen + 10 < sizeof(topic)) {
			memmove(topic + 9, topic, tlen);
			memcpy(topic, "$share/g/", 9);
			tlen += 9;
		}
		off += 4 + depth;
		sub = act == ACL_SUBSCRIBE;

		found = false;
		best = 0;
		if (query_ok(topic, tlen, sub, &q, &qlen)) {
			qn = split(q, qlen, qo, ql, TOPIC_MAX);
			for (i = 0; i < n; i++) {
				r = &rules[i];
				if (!(r->actions & act) || !applies(r, id))
					continue;
				rn = split(r->filter, r->flen, ro, rl,
				    TOPIC_MAX);
				if (!covers(r->filter, ro, rl, rn, 0, q, qo,
				    ql, qn, 0, sub, q[0] == '$', id,
				    CIDS[c].s, CIDS[c].n))
					continue;
				spec(r->filter, r->flen, &lit, &plus);
				key = lit << 9 | plus << 1 | !r->allow;
				if (!found || key > bestkey) {
					found = true;
					bestkey = key;
					best = i;
				}
			}
		}
		memset(&who, 0, sizeof(who));
		who.identity = id;
		who.client_id = CIDS[c].s;
		who.client_id_len = CIDS[c].n;
		got = acl_check(acl, &who, act, (const uint8_t *)topic, tlen,
		    &v);
		/* The session's cache, asked twice: a miss, then a hit. */
		for (i = 0; i < 2; i++) {
			if (acl_check_cached(acl, &cache, &who, act,
			    (const uint8_t *)topic, tlen, &cv) != got ||
			    cv.allow != v.allow || cv.rule != v.rule) {
				fprintf(stderr, "identity \"%s\" %s \"%.*s\": "
				    "the cache (%s) differs from acl_check\n",
				    id, actname[act], (int)tlen, topic,
				    i ? "a hit" : "first");
				abort();
			}
		}
		if (got != (found && rules[best].allow) || v.allow != got ||
		    (v.rule == NULL) != !found || (found && v.rule !=
		    acl_rule_at(acl, rules[best].idx))) {
			fprintf(stderr, "identity \"%s\" client id %u %s "
			    "\"%.*s\": acl_check says %s (rule \"%s\"), the "
			    "reference %s (rule \"%s\")\nrules:\n", id, c,
			    actname[act], (int)tlen, topic,
			    got ? "allow" : "deny", v.rule != NULL ?
			    v.rule->filter : "none",
			    found && rules[best].allow ? "allow" : "deny",
			    found ? rules[best].filter : "none");
			for (i = 0; i < n; i++)
				fprintf(stderr, "  %zu: %s %u \"%s\" %s%s%s\n",
				    i, rules[i].allow ? "allow" : "deny",
				    rules[i].actions, rules[i].filter,
				    rules[i].everyone ? "everyone" : "",
				    rules[i].n_users > 0 ? rules[i].users[0] :
				    "", rules[i].group != NULL ?
				    rules[i].group : "");
			abort();
		}
	}
	acl_free(acl);
	return 0;
}
