/* SPDX-License-Identifier: ISC */
/*
 * Tests of topic_: the matcher and the UTF-8 validator, each against a
 * reference that is not ours.
 *
 * The same (filter, topic) pairs go to topic_match() and to libmosquitto's
 * mosquitto_topic_matches_sub(): a fixed set written to reach every rule
 * ('#', '+', empty levels, leading and trailing '/', '$' topics, shared
 * subscriptions, multi-byte UTF-8) crossed with itself, and random strings
 * over {a, b, /, +, #, $} from a fixed seed.  Validity must agree before
 * answers are compared: libmosquitto refuses what it finds invalid with an
 * error, and its matcher stops looking once it knows the answer, so its
 * validators decide what it calls valid.
 *
 * The same pairs then go through the ACL, as a one-rule index (the rule
 * for everyone, so in a trie; and for one user, so a flat entry), checked
 * for publish against topic_match() and for subscribe against
 * topic_covers(): the index and the matcher are proven to answer alike.
 * topic_meet() is checked the same way, against topic_match() on random
 * filter pairs: what the meet matches both match, and the converse.
 *
 * Only the tests link libmosquitto; the daemon does not.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "check_suites.h"
#include "mqttguard/acl.h"
#include "mqttguard/topic.h"

#define NRANDOM		400	/* random filters, as many topics */
#define RANDOM_LEN	8	/* their longest */

/* ---- the matcher, case by case -------------------------------------- */

struct mcase {
	const char	*rule;		/* the normative statement */
	const char	*filter, *topic;
	bool		 match;
};

static const struct mcase mcases[] = {
	{ "literal", "a/b", "a/b", true },
	{ "literal, longer topic", "a/b", "a/b/c", false },
	{ "literal, trailing empty level", "a/b", "a/b/", false },
	{ "empty levels are levels", "a//b", "a//b", true },
	{ "+ one level [MQTT-4.7.1-3]", "a/+/c", "a/b/c", true },
	{ "+ an empty level", "a/+", "a/", true },
	{ "+ not two levels", "a/+", "a/b/c", false },
	{ "+ not zero levels", "a/+", "a", false },
	{ "# the parent level [MQTT-4.7.1-2]", "a/#", "a", true },
	{ "# every level below", "a/#", "a/b/c", true },
	{ "# alone, every topic", "#", "/", true },
	{ "# is level-aligned", "a/#", "ab", false },
	{ "# not last matches nothing", "a/#/b", "a/x/b", false },
	{ "a wildcard inside a level is a byte", "a+", "a+", true },
	{ "leading # skips $ topics [MQTT-4.7.2-1]", "#", "$SYS/x", false },
	{ "leading + skips $ topics [MQTT-4.7.2-1]", "+/x", "$SYS/x", false },
	{ "a named $ topic", "$SYS/#", "$SYS/x", true },
	{ "a $ level past the first", "a/+", "a/$x", true },
	{ "multi-byte levels", "é/+/😀", "é/中文/😀", true },
};

START_TEST(match_table)
{
	const struct mcase	*c = &mcases[_i];
	char			*f = tu_dup_str(c->filter);
	char			*t = tu_dup_str(c->topic);

	ck_assert_msg(topic_match(f, strlen(f), t, strlen(t)) == c->match,
	    "%s: \"%s\" vs \"%s\"", c->rule, c->filter, c->topic);
	/* A topic name is a filter without wildcards: covers = matches. */
	ck_assert(topic_covers(f, strlen(f), t, strlen(t)) == c->match);
	free(f);
	free(t);
}
END_TEST

struct ccase {
	const char	*what;
	const char	*outer, *inner;
	bool		 covers;
};

static const struct ccase ccases[] = {
	{ "a filter covers itself", "a/+/#", "a/+/#", true },
	{ "# covers +", "a/#", "a/+", true },
	{ "# covers #", "a/#", "a/#", true },
	{ "+ covers a literal", "a/+", "a/b", true },
	{ "+ does not cover #", "a/+", "a/#", false },
	{ "a literal does not cover +", "a/b", "a/+", false },
	{ "a/+/# covers a/+, its parent levels", "a/+/#", "a/+", true },
	{ "a/+/# does not cover a/#, which matches a", "a/+/#", "a/#",
	    false },
	{ "# does not cover $ filters [MQTT-4.7.2-1]", "#", "$SYS/#", false },
	{ "+/# is not found to cover # (a sound no)", "+/#", "#", false },
};

START_TEST(covers_table)
{
	const struct ccase	*c = &ccases[_i];

	ck_assert_msg(topic_covers(c->outer, strlen(c->outer), c->inner,
	    strlen(c->inner)) == c->covers, "%s", c->what);
}
END_TEST

/* ---- the UTF-8 validator -------------------------------------------- */

struct ucase {
	const char	*what;
	const char	*bytes;
	unsigned	 flags;
	int		 want;
};

static const struct ucase ucases[] = {
	{ "ASCII", "abc/def/ghi", 0, TOPIC_OK },
	{ "two, three and four bytes", "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80",
	    0, TOPIC_OK },
	{ "overlong two bytes [MQTT-1.5.4-1]", "\xc0\xaf", 0, TOPIC_ERR_UTF8 },
	{ "overlong three bytes", "\xe0\x80\xaf", 0, TOPIC_ERR_UTF8 },
	{ "overlong four bytes", "\xf0\x80\x80\xaf", 0, TOPIC_ERR_UTF8 },
	{ "a surrogate", "\xed\xa0\x80", 0, TOPIC_ERR_UTF8 },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", 0, TOPIC_ERR_UTF8 },
	{ "a lone continuation byte", "a\x80", 0, TOPIC_ERR_UTF8 },
	{ "cut short", "abcdefgh\xe4\xb8", 0, TOPIC_ERR_UTF8 },
	{ "a control character passes by default", "a\x01", 0, TOPIC_OK },
	{ "a control character, refused", "a\x01", TOPIC_CONTROL,
	    TOPIC_ERR_CONTROL },
	{ "DEL, refused", "abcdefgh\x7f", TOPIC_CONTROL, TOPIC_ERR_CONTROL },
	{ "U+0085, refused", "\xc2\x85", TOPIC_CONTROL, TOPIC_ERR_CONTROL },
	{ "U+00A0 passes", "\xc2\xa0", TOPIC_CONTROL, TOPIC_OK },
	{ "a non-character passes", "\xef\xbf\xbf", TOPIC_CONTROL, TOPIC_OK },
	{ "a wildcard in a name [MQTT-4.7.1-1]", "abcdefgh/+", TOPIC_NAME,
	    TOPIC_ERR_WILDCARD },
	{ "a wildcard in a filter", "abcdefgh/#", 0, TOPIC_OK },
};

START_TEST(utf8_table)
{
	const struct ucase	*c = &ucases[_i];
	size_t			 n = strlen(c->bytes);
	uint8_t			*p = tu_dup_exact(c->bytes, n);

	ck_assert_msg(topic_utf8_check(p, n, c->flags) == c->want,
	    "%s: got %d, want %d", c->what, topic_utf8_check(p, n, c->flags),
	    c->want);
	free(p);
}
END_TEST

START_TEST(utf8_nul)
{
	static const uint8_t	nul[] = { 'a', 0, 'b' };

	ck_assert_int_eq(topic_utf8_check(nul, sizeof(nul), 0), TOPIC_ERR_NUL);
	ck_assert_int_eq(topic_utf8_check(NULL, 0, TOPIC_CONTROL), TOPIC_OK);
}
END_TEST

/* Whether the UTF-8 string <s> holds a Unicode non-character. */
static bool
has_nonchar(const uint8_t *s, size_t n)
{
	uint32_t	cp;
	size_t		i = 0, k, len;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		len = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;
		cp = s[i] & (0x7f >> len);
		for (k = 1; k < len; k++)
			cp = cp << 6 | (s[i + k] & 0x3f);
		if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
			return true;
		i += len;
	}
	return false;
}

/*
 * Random strings of bytes that make UTF-8 interesting, to our validator
 * with TOPIC_CONTROL and to mosquitto_validate_utf8(), which refuses
 * control characters too.  It also refuses non-characters, which MQTT
 * lets through; those strings are left out.
 */
START_TEST(utf8_vs_mosquitto)
{
	static const uint8_t	 bytes[] = {
		'a', '/', 0x01, 0x1f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0,
		0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xbe
	};
	uint8_t			 s[9];
	size_t			 n, i, compared = 0;
	unsigned		 k;
	bool			 ours, theirs;

	tu_srand(0x75746638);
	for (k = 0; k < 200000; k++) {
		n = 1 + tu_rand(sizeof(s) - 1);
		for (i = 0; i < n; i++)
			s[i] = bytes[tu_rand(sizeof(bytes))];
		s[n] = '\0';
		ours = topic_utf8_check(s, n, TOPIC_CONTROL) == TOPIC_OK;
		if (ours && has_nonchar(s, n))
			continue;
		theirs = mosquitto_validate_utf8((const char *)s, (int)n) ==
		    MOSQ_ERR_SUCCESS;
		ck_assert_msg(ours == theirs, "string %zu bytes: %02x %02x "
		    "%02x...: ours %d, libmosquitto %d", n, s[0], s[1], s[2],
		    ours, theirs);
		compared++;
	}
	ck_assert_uint_gt(compared, 100000);
}
END_TEST

/*
 * With TOPIC_NONCHAR too, our validator says what Mosquitto's says of
 * every string, noncharacters included (limits.reject_noncharacters).
 */
START_TEST(utf8_nonchar_vs_mosquitto)
{
	static const uint8_t	 bytes[] = {
		'a', 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xaf, 0xb7, 0xbe,
		0xbf, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5
	};
	uint8_t			 s[10];
	size_t			 n, i, bad = 0;
	unsigned		 k;
	bool			 ours, theirs;

	tu_srand(0x6e6f6e63);
	for (k = 0; k < 200000; k++) {
		n = 1 + tu_rand(sizeof(s) - 1);
		for (i = 0; i < n; i++)
			s[i] = bytes[tu_rand(sizeof(bytes))];
		s[n] = '\0';	/* libmosquitto reads a cut sequence on */
		ours = topic_utf8_check(s, n, TOPIC_CONTROL | TOPIC_NONCHAR) ==
		    TOPIC_OK;
		theirs = mosquitto_validate_utf8((const char *)s, (int)n) ==
		    MOSQ_ERR_SUCCESS;
		ck_assert_msg(ours == theirs, "string %zu bytes: %02x %02x "
		    "%02x...: ours %d, libmosquitto %d", n, s[0], s[1], s[2],
		    ours, theirs);
		if (ours && !(topic_utf8_check(s, n, TOPIC_CONTROL) ==
		    TOPIC_OK))
			ck_abort_msg("TOPIC_NONCHAR let through more");
		if (!ours && topic_utf8_check(s, n, TOPIC_CONTROL) == TOPIC_OK)
			bad++;	/* refused for a noncharacter alone */
	}
	ck_assert_uint_gt(bad, 10);
}
END_TEST

/*
 * topic_utf8_chunk() over random strings cut at every offset agrees with
 * the whole-string validator (the strings hold no U+0000, which only the
 * chunk walker allows).
 */
START_TEST(utf8_chunks)
{
	static const uint8_t	 bytes[] = {
		'a', 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef,
		0xf0, 0xf4, 0xf5
	};
	uint8_t			 s[12], buf[16];
	size_t			 n, i, cut, done, carry;
	unsigned		 k;
	bool			 whole, pieces;

	tu_srand(0x63686b73);
	for (k = 0; k < 20000; k++) {
		n = 1 + tu_rand(sizeof(s) - 1);
		for (i = 0; i < n; i++)
			s[i] = bytes[tu_rand(sizeof(bytes))];
		whole = topic_utf8_check(s, n, 0) == TOPIC_OK;
		for (cut = 0; cut <= n; cut++) {
			memcpy(buf, s, cut);
			pieces = topic_utf8_chunk(buf, cut, &done) == 0;
			if (pieces) {
				carry = cut - done;
				memmove(buf, buf + done, carry);
				memcpy(buf + carry, s + cut, n - cut);
				pieces = topic_utf8_chunk(buf, carry + n - cut,
				    &done) == 0 && done == carry + n - cut;
			}
			ck_assert_msg(whole == pieces, "string of %zu cut at "
			    "%zu: whole %d, in pieces %d", n, cut, whole,
			    pieces);
		}
	}
}
END_TEST

/* ---- against libmosquitto ------------------------------------------- */

/* Written to reach every rule; crossed with itself. */
static const char *const fixed[] = {
	"", "#", "+", "/", "//", "a", "b", "a/", "/a", "a/b", "a/b/", "a//b",
	"a/#", "a/+", "+/b", "+/+", "+/#", "/#", "/+", "#/a", "a#", "a+",
	"+a", "a/b#", "a/#/b", "a/+/#", "+/+/#", "$", "$SYS", "$SYS/",
	"$SYS/#", "$SYS/+", "$SYS/a", "$SYS/a/b", "+/SYS", "$share",
	"$share/g/a", "$share/g/#", "$share/g/+/a", "a/$", "$a/$b", "$/a",
	"\xc3\xa9", "\xc3\xa9/\xc3\xbc", "a/\xc3\xa9/#", "+/\xe4\xb8\xad",
	"\xe4\xb8\xad/+", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80/#",
	"$\xf0\x9f\x98\x80/x",
};

struct strs {
	char	**v;
	size_t	  n;
};

/* The fixed set, or <n> random strings over {a, b, /, +, #, $}. */
static void
strs_make(struct strs *s, bool random, size_t n, uint32_t seed)
{
	static const char	 alpha[] = "ab/+#$";
	size_t			 i, j, len;

	if (!random)
		n = sizeof(fixed) / sizeof(fixed[0]);
	s->v = calloc(n, sizeof(*s->v));
	ck_assert_ptr_nonnull(s->v);
	s->n = n;
	tu_srand(seed);
	for (i = 0; i < n; i++) {
		if (!random) {
			s->v[i] = tu_dup_str(fixed[i]);
			continue;
		}
		len = tu_rand(RANDOM_LEN + 1);
		s->v[i] = malloc(len + 1);
		ck_assert_ptr_nonnull(s->v[i]);
		for (j = 0; j < len; j++)
			s->v[i][j] = alpha[tu_rand(sizeof(alpha) - 1)];
		s->v[i][len] = '\0';
	}
}

static void
strs_free(struct strs *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static bool
our_filter(const char *f)
{
	size_t	n = strlen(f);

	return n > 0 && topic_utf8_check((const uint8_t *)f, n, 0) ==
	    TOPIC_OK && topic_wildcards_check(f, n) == TOPIC_OK;
}

static bool
our_name(const char *t)
{
	size_t	n = strlen(t);

	return n > 0 && topic_utf8_check((const uint8_t *)t, n, TOPIC_NAME) ==
	    TOPIC_OK;
}

/* libmosquitto's validators; its matcher refuses an empty string too. */
static bool
their_filter(const char *f)
{
	return *f != '\0' && mosquitto_sub_topic_check(f) == MOSQ_ERR_SUCCESS &&
	    mosquitto_validate_utf8(f, (int)strlen(f)) == MOSQ_ERR_SUCCESS;
}

static bool
their_name(const char *t)
{
	return *t != '\0' && mosquitto_pub_topic_check(t) == MOSQ_ERR_SUCCESS &&
	    mosquitto_validate_utf8(t, (int)strlen(t)) == MOSQ_ERR_SUCCESS;
}

/* Every filter of <fs> against every topic of <ts>; the pairs compared. */
static size_t
versus_mosquitto(const struct strs *fs, const struct strs *ts)
{
	const char	*f, *t;
	size_t		 i, j, compared = 0;
	bool		 fok, tok, mine, theirs;
	int		 rc;

	for (i = 0; i < fs->n; i++) {
		f = fs->v[i];
		fok = our_filter(f);
		ck_assert_msg(fok == their_filter(f), "filter \"%s\": valid "
		    "to us: %d, to libmosquitto: %d", f, fok, !fok);
		for (j = 0; j < ts->n; j++) {
			t = ts->v[j];
			tok = our_name(t);
			ck_assert_msg(tok == their_name(t), "topic \"%s\": "
			    "valid to us: %d, to libmosquitto: %d", t, tok,
			    !tok);
			theirs = false;
			rc = mosquitto_topic_matches_sub(f, t, &theirs);
			ck_assert_msg(rc == MOSQ_ERR_SUCCESS || !(fok && tok),
			    "\"%s\" vs \"%s\": libmosquitto refuses a pair we "
			    "find valid (%d)", f, t, rc);
			if (!fok || !tok)
				continue;
			mine = topic_match(f, strlen(f), t, strlen(t));
			ck_assert_msg(mine == theirs, "\"%s\" vs \"%s\": "
			    "topic_match %d, libmosquitto %d", f, t, mine,
			    theirs);
			compared++;
		}
	}
	return compared;
}

START_TEST(mosquitto_fixed)
{
	struct strs	s;

	strs_make(&s, false, 0, 0);
	ck_assert_uint_gt(versus_mosquitto(&s, &s), 500);
	strs_free(&s);
}
END_TEST

START_TEST(mosquitto_random)
{
	struct strs	fs, ts;

	strs_make(&fs, true, NRANDOM, 0x746f7069);
	strs_make(&ts, true, NRANDOM, 0x63737472);
	ck_assert_uint_gt(versus_mosquitto(&fs, &ts), 5000);
	strs_free(&fs);
	strs_free(&ts);
}
END_TEST

/* ---- the ACL against the matcher ------------------------------------ */

/* One rule allowing publish and subscribe on <f>, for everyone or alice. */
static struct acl *
one_rule(const char *f, bool everyone)
{
	static const char *const alice[] = { "alice" };
	struct acl_rule		 r;
	struct acl		*acl;
	char			 err[256];

	ck_assert_ptr_nonnull(acl = acl_new());
	memset(&r, 0, sizeof(r));
	r.allow = true;
	r.actions = ACL_PUBLISH | ACL_SUBSCRIBE;
	r.filter = (char *)f;
	r.everyone = everyone;
	if (!everyone) {
		r.users = (char **)alice;
		r.n_users = 1;
	}
	if (acl_add_rule(acl, &r, err, sizeof(err)) == -1) {
		acl_free(acl);
		return NULL;
	}
	return acl;
}

/*
 * Every filter of <fs> as a rule, checked with every string of <ts>: as a
 * topic to publish (when a valid name) against topic_match(), as a filter
 * to subscribe to (when a valid one) against topic_covers().
 */
static size_t
versus_acl(const struct strs *fs, const struct strs *ts)
{
	static const char *const kind[] = { "trie", "flat" };
	struct acl_subject	 who = { "alice", "cid", 3 };
	struct acl		*acl;
	const char		*f, *t;
	size_t			 i, j, flen, tlen, compared = 0;
	int			 k;
	bool			 got;

	for (i = 0; i < fs->n; i++) {
		f = fs->v[i];
		flen = strlen(f);
		if (!our_filter(f))
			continue;
		for (k = 0; k < 2; k++) {
			/* A rule the ACL refuses ($share/...) is no rule. */
			if ((acl = one_rule(f, k == 0)) == NULL)
				continue;
			for (j = 0; j < ts->n; j++) {
				t = ts->v[j];
				tlen = strlen(t);
				if (our_name(t)) {
					got = acl_check(acl, &who, ACL_PUBLISH,
					    (const uint8_t *)t, tlen, NULL);
					ck_assert_msg(got == topic_match(f,
					    flen, t, tlen), "%s rule \"%s\", "
					    "publish \"%s\": the ACL says %d",
					    kind[k], f, t, got);
					compared++;
				}
				if (our_filter(t) &&
				    strncmp(t, "$share/", 7) != 0) {
					got = acl_check(acl, &who,
					    ACL_SUBSCRIBE, (const uint8_t *)t,
					    tlen, NULL);
					ck_assert_msg(got == topic_covers(f,
					    flen, t, tlen), "%s rule \"%s\", "
					    "subscribe \"%s\": the ACL says %d",
					    kind[k], f, t, got);
					compared++;
				}
			}
			acl_free(acl);
		}
	}
	return compared;
}

START_TEST(acl_fixed)
{
	struct strs	s;

	strs_make(&s, false, 0, 0);
	ck_assert_uint_gt(versus_acl(&s, &s), 1000);
	strs_free(&s);
}
END_TEST

START_TEST(acl_random)
{
	struct strs	fs, ts;

	strs_make(&fs, true, NRANDOM, 0x61636c66);
	strs_make(&ts, true, NRANDOM, 0x61636c74);
	ck_assert_uint_gt(versus_acl(&fs, &ts), 10000);
	strs_free(&fs);
	strs_free(&ts);
}
END_TEST

/*
 * topic_covers() is never a wrong yes: when it says <outer> covers
 * <inner>, every sampled topic <inner> matches, <outer> matches too.
 */
START_TEST(covers_sound)
{
	struct strs	fs, ts;
	const char	*o, *in, *t;
	size_t		i, j, k, pairs = 0;

	strs_make(&fs, true, NRANDOM / 2, 0x636f7665);
	strs_make(&ts, true, NRANDOM * 4, 0x72736f75);
	for (i = 0; i < fs.n; i++) {
		o = fs.v[i];
		if (!our_filter(o))
			continue;
		for (j = 0; j < fs.n; j++) {
			in = fs.v[j];
			if (!our_filter(in) || !topic_covers(o, strlen(o), in,
			    strlen(in)))
				continue;
			pairs++;
			for (k = 0; k < ts.n; k++) {
				t = ts.v[k];
				if (!our_name(t) || !topic_match(in,
				    strlen(in), t, strlen(t)))
					continue;
				ck_assert_msg(topic_match(o, strlen(o), t,
				    strlen(t)), "\"%s\" covers \"%s\", but "
				    "only the second matches \"%s\"", o, in, t);
			}
		}
	}
	ck_assert_uint_gt(pairs, 100);
	strs_free(&fs);
	strs_free(&ts);
}
END_TEST

/* Placeholders: a value, never a wildcard, and not on a '$' topic. */
START_TEST(vars)
{
	const struct topic_var	v[2] = {
		{ "%u", 2, "alice", 5 }, { "%c", 2, "", 0 }
	};

	ck_assert(topic_match_vars("d/%u/#", 6, "d/alice/x", 9, v, 2, 0));
	ck_assert(!topic_match_vars("d/%u/#", 6, "d/bob/x", 7, v, 2, 0));
	ck_assert(!topic_match_vars("d/%c", 4, "d/", 2, v, 2, 0));
	ck_assert(topic_match_vars("d/%u", 4, "d/alice", 7, v, 2,
	    TOPIC_COVERS));
	ck_assert(!topic_match_vars("d/%u", 4, "d/+", 3, v, 2, TOPIC_COVERS));
	ck_assert(!topic_match_vars("%u", 2, "$alice", 6,
	    (const struct topic_var[]){ { "%u", 2, "$alice", 6 } }, 1, 0));
	/* Without placeholders "%u" is a literal level. */
	ck_assert(topic_match("d/%u", 4, "d/%u", 4));
}
END_TEST

/* ---- the meet of two filters, and specificity ------------------------ */

/* "%u" is alice; "%c" is not known. */
static const struct topic_var meet_vars[2] = {
	{ "%u", 2, "alice", 5 }, { "%c", 2, NULL, 0 }
};

struct meetcase {
	const char	*what;
	const char	*a, *b;
	const char	*meet;		/* NULL: none */
	bool		 vars;		/* with meet_vars */
};

static const struct meetcase meetcases[] = {
	{ "a literal meets itself", "a/b", "a/b", "a/b", false },
	{ "+ gives way to a literal", "a/+", "a/b", "a/b", false },
	{ "+ gives way on either side", "+/b", "a/+", "a/b", false },
	{ "# takes the rest of the other", "a/#", "a/+/c", "a/+/c", false },
	{ "# stands for its parent [MQTT-4.7.1-2]", "a/#", "a", "a", false },
	{ "# meets #", "#", "a/#", "a/#", false },
	{ "+/# and # match alike", "+/#", "#", "+/#", false },
	{ "empty levels are levels", "a//#", "+/+/b", "a//b", false },
	{ "differing literals meet nowhere", "a/b", "a/c", NULL, false },
	{ "different depths meet nowhere", "a/+", "a/b/c", NULL, false },
	{ "a wildcard inside a level is a byte", "a+", "a", NULL, false },
	{ "leading # and a $ level [MQTT-4.7.2-1]", "#", "$SYS/#", NULL,
	    false },
	{ "a $ level and leading # [MQTT-4.7.2-1]", "$SYS", "#", NULL,
	    false },
	{ "leading + and a $ level [MQTT-4.7.2-1]", "$SYS/x", "+/x", NULL,
	    false },
	{ "a $ level past the first", "a/+", "a/$x", "a/$x", false },
	{ "$ filters meet", "$SYS/#", "$SYS/+", "$SYS/+", false },
	{ "%u meets its value, a's level kept", "d/%u", "d/alice", "d/%u",
	    true },
	{ "its value meets %u, a's level kept", "d/alice", "d/%u",
	    "d/alice", true },
	{ "%u meets no other literal", "d/%u", "d/bob", NULL, true },
	{ "%c, not known, meets any literal", "d/%c", "d/x", "d/%c", true },
	{ "two placeholders: a's is kept", "%c/x", "%u/x", "%c/x", true },
	{ "+ gives way to a placeholder", "+/x", "%u/x", "%u/x", true },
	{ "a placeholder and a $ level [MQTT-4.7.2-1]", "%c", "$x", NULL,
	    true },
	{ "without vars %u is a literal", "d/%u", "d/alice", NULL, false },
};

START_TEST(meet_table)
{
	const struct meetcase	*c = &meetcases[_i];
	size_t			 al = strlen(c->a), bl = strlen(c->b), ml;
	uint8_t			*a = tu_dup_exact(c->a, al);
	uint8_t			*b = tu_dup_exact(c->b, bl);
	char			*out = malloc(al + bl + 1);
	int			 rc;

	ck_assert_ptr_nonnull(out);
	rc = topic_meet((const char *)a, al, (const char *)b, bl,
	    c->vars ? meet_vars : NULL, c->vars ? 2 : 0, out, al + bl + 1,
	    &ml);
	ck_assert_msg(rc == (c->meet != NULL), "%s: \"%s\" meets \"%s\": %d",
	    c->what, c->a, c->b, rc);
	if (c->meet != NULL) {
		ck_assert_str_eq(out, c->meet);
		ck_assert_uint_eq(ml, strlen(c->meet));
	}
	free(a);
	free(b);
	free(out);
}
END_TEST

/* A buffer too small is said, and never written past. */
START_TEST(meet_short)
{
	char	out[4];
	size_t	ml;

	ck_assert_int_eq(topic_meet("a/#", 3, "a/bcd", 5, NULL, 0, out, 4,
	    &ml), -1);
	ck_assert_int_eq(topic_meet("a/#", 3, "a/bc", 4, NULL, 0, out, 4,
	    &ml), -1);
	ck_assert_int_eq(topic_meet("a/#", 3, "a/b", 3, NULL, 0, out, 4,
	    &ml), 1);
	ck_assert_str_eq(out, "a/b");
	ck_assert_int_eq(topic_meet("a", 1, "a", 1, NULL, 0, out, 0, &ml),
	    -1);
}
END_TEST

/* <n> random topic names over {a, b, /, $}: more of them match. */
static void
names_make(struct strs *s, size_t n, uint32_t seed)
{
	static const char	 alpha[] = "ab/$";
	size_t			 i, j, len;

	ck_assert_ptr_nonnull(s->v = calloc(n, sizeof(*s->v)));
	s->n = n;
	tu_srand(seed);
	for (i = 0; i < n; i++) {
		len = 1 + tu_rand(6);
		ck_assert_ptr_nonnull(s->v[i] = malloc(len + 1));
		for (j = 0; j < len; j++)
			s->v[i][j] = alpha[tu_rand(sizeof(alpha) - 1)];
		s->v[i][len] = '\0';
	}
}

/*
 * <n> random filters of levels from {a, b, "", $a, +} and, <withvars>,
 * "%u" and "%c", maybe ending in '#': valid by construction.
 */
static void
filters_make(struct strs *s, size_t n, bool withvars, uint32_t seed)
{
	static const char *const lv[] = { "a", "b", "", "$a", "+", "%u",
	    "%c" };
	char			 buf[64];
	size_t			 i, k, levels;

	ck_assert_ptr_nonnull(s->v = calloc(n, sizeof(*s->v)));
	s->n = n;
	tu_srand(seed);
	for (i = 0; i < n; i++) {
		buf[0] = '\0';
		levels = 1 + tu_rand(4);
		for (k = 0; k < levels; k++) {
			if (k > 0)
				strcat(buf, "/");
			if (k + 1 == levels && tu_rand(3) == 0)
				strcat(buf, "#");
			else
				strcat(buf, lv[tu_rand(withvars ? 7 : 5)]);
		}
		s->v[i] = tu_dup_str(buf);
	}
}

/*
 * topic_meet() against topic_match_vars(), for every pair of <fs> and
 * every topic of <ts>: a topic matched by the meet is matched by <a> and,
 * unless <withvars> (with placeholders the meet is only inside <a>), by
 * <b>; a topic matched by both is matched by the meet, so by none when
 * there is no meet.  Returns how many topics both matched.  Millions of
 * comparisons: a failure aborts, a success marks no point.
 */
static size_t
versus_meet(const struct strs *fs, const struct strs *ts, bool withvars)
{
	const struct topic_var	*v = withvars ? (const struct topic_var[]){
		{ "%u", 2, "a", 1 }, { "%c", 2, "b", 1 } } : NULL;
	const char		*a, *b, *t;
	char			 m[128];
	size_t			 i, j, k, ml, al, bl, tl, nv = withvars ? 2 : 0;
	size_t			 both = 0;
	bool			 ina, inb, inm;
	int			 rc;

	for (i = 0; i < fs->n; i++) {
		a = fs->v[i];
		al = strlen(a);
		for (j = 0; j < fs->n; j++) {
			b = fs->v[j];
			bl = strlen(b);
			rc = topic_meet(a, al, b, bl, v, nv, m, sizeof(m), &ml);
			if (rc == -1)
				ck_abort_msg("\"%s\" meets \"%s\" in more "
				    "than %zu bytes", a, b, sizeof(m));
			for (k = 0; k < ts->n; k++) {
				t = ts->v[k];
				tl = strlen(t);
				ina = topic_match_vars(a, al, t, tl, v, nv, 0);
				inb = topic_match_vars(b, bl, t, tl, v, nv, 0);
				inm = rc == 1 && topic_match_vars(m, ml, t, tl,
				    v, nv, 0);
				if (inm && !(ina && (inb || withvars)))
					ck_abort_msg("\"%s\" meets \"%s\" in "
					    "\"%s\", which matches \"%s\"; "
					    "they: %d, %d", a, b, m, t, ina,
					    inb);
				if (ina && inb && !inm)
					ck_abort_msg("\"%s\" and \"%s\" both "
					    "match \"%s\"; their meet (%d, "
					    "\"%s\") does not", a, b, t, rc,
					    rc == 1 ? m : "");
				both += ina && inb;
			}
		}
	}
	return both;
}

START_TEST(meet_random)
{
	struct strs	fs, ts;

	filters_make(&fs, 120, false, 0x6d656574);
	names_make(&ts, 600, 0x746f7073);
	ck_assert_uint_gt(versus_meet(&fs, &ts, false), 10000);
	strs_free(&fs);
	filters_make(&fs, 120, true, 0x76617273);
	ck_assert_uint_gt(versus_meet(&fs, &ts, true), 5000);
	strs_free(&fs);
	strs_free(&ts);
}
END_TEST

struct speccase {
	const char	*filter;
	unsigned	 lit, plus, depth;
};

static const struct speccase speccases[] = {
	{ "a/b", 2, 0, 2 },
	{ "a/+", 1, 1, 2 },
	{ "a/#", 1, 0, 2 },
	{ "#", 0, 0, 1 },
	{ "+/+/#", 0, 2, 3 },
	{ "%u/x", 2, 0, 2 },		/* a placeholder is a literal */
	{ "", 1, 0, 1 },		/* one empty level */
	{ "a//", 3, 0, 3 },
	{ "a+/#b", 2, 0, 2 },		/* not wildcards: bytes */
};

START_TEST(specificity_table)
{
	const struct speccase	*c = &speccases[_i];
	size_t			 len = strlen(c->filter);
	uint8_t			*f = tu_dup_exact(c->filter, len);
	unsigned		 depth = 0;

	ck_assert_uint_eq(topic_specificity((const char *)f, len, &depth),
	    c->lit << 8 | c->plus);
	ck_assert_uint_eq(depth, c->depth);
	ck_assert_uint_eq(topic_specificity((const char *)f, len, NULL),
	    c->lit << 8 | c->plus);
	free(f);
}
END_TEST

/* ---- the cases limits.topic_rates was first tested with ------------- */

static const struct {
	const char	*filter;
	const char	*topic;
	bool		 match;
	const char	*rule;
} rate_cases[] = {
	{ "a/b", "a/b", true, "exact" },
	{ "a/b", "a/c", false, "exact, other level" },
	{ "a/b", "a/b/c", false, "exact, topic deeper" },
	{ "a/b", "a", false, "exact, topic shallower" },
	{ "A", "a", false, "case matters [MQTT-4.7.3-4]" },
	{ "a/b/", "a/b/", true, "empty last level" },
	{ "a/b/", "a/b", false, "empty level is a level" },
	{ "", "", true, "empty filter, empty topic" },
	{ "a", "", false, "one level vs empty" },
	{ "+", "a", true, "+ one level [MQTT-4.7.1-3]" },
	{ "+", "", true, "+ an empty level" },
	{ "+", "a/b", false, "+ not two levels" },
	{ "+", "/finance", false, "+ not two levels (spec example)" },
	{ "/+", "/finance", true, "/+ (spec example)" },
	{ "+/b", "/b", true, "+ empty first level" },
	{ "+/+", "/", true, "+/+ two empty levels" },
	{ "a/+", "a/", true, "+ empty last level" },
	{ "a/+", "a", false, "+ needs its level" },
	{ "sport/+", "sport", false, "+ needs its level (spec example)" },
	{ "a/+/c", "a//c", true, "+ empty middle level" },
	{ "a/+/c", "a/b/c", true, "+ middle" },
	{ "a/+/c", "a/b/d", false, "+ middle, last differs" },
	{ "a+", "ab", false, "+ inside a level is a byte" },
	{ "a+", "a+", true, "+ inside a level matches itself" },
	{ "#", "a/b/c", true, "# all [MQTT-4.7.1-2]" },
	{ "#", "", true, "# even the empty topic" },
	{ "#", "/", true, "# empty levels" },
	{ "a/#", "a", true, "# includes the parent" },
	{ "a/#", "a/", true, "# empty child" },
	{ "a/#", "a/b/c", true, "# any depth" },
	{ "a/#", "ab", false, "# parent is a level, not a prefix" },
	{ "a/#", "b/a", false, "# other parent" },
	{ "a/+/#", "a/b", true, "+ then # parent" },
	{ "a/+/#", "a", false, "+ then #, + needs its level" },
	{ "sport/tennis/player1/#", "sport/tennis/player1/ranking", true,
	    "# (spec example)" },
	{ "#/a", "x/a", false, "# not last: invalid, matches nothing" },
	{ "#", "$SYS/x", false, "# not $ topics [MQTT-4.7.2-1]" },
	{ "#", "$SYS", false, "# not $ topics [MQTT-4.7.2-1]" },
	{ "+", "$SYS", false, "+ not $ topics [MQTT-4.7.2-1]" },
	{ "+/x", "$SYS/x", false, "+ not $ topics [MQTT-4.7.2-1]" },
	{ "+/x", "a/$x", false, "only the first level counts, and x != $x" },
	{ "+/$x", "a/$x", true, "$ later in the topic is a byte" },
	{ "$SYS/#", "$SYS/x", true, "$ filter matches $ topics" },
	{ "$SYS/#", "$SYS", true, "$SYS/# includes its parent" },
	{ "$SYS/+", "$SYS/x", true, "+ after a $ level" },
	{ "$SYS/#", "$SYSX/a", false, "$SYS is a level, not a prefix" },
};

/* Exact-size copies, so that ASan sees a one-byte over-read. */
START_TEST(rate_match_table)
{
	size_t	 fl = strlen(rate_cases[_i].filter);
	size_t	 tl = strlen(rate_cases[_i].topic);
	char	*f = malloc(fl > 0 ? fl : 1);
	uint8_t	*t = malloc(tl > 0 ? tl : 1);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(t);
	memcpy(f, rate_cases[_i].filter, fl);
	memcpy(t, rate_cases[_i].topic, tl);
	ck_assert_msg(topic_match(f, fl, (const char *)t, tl) ==
	    rate_cases[_i].match, "\"%s\" vs \"%s\": want %s (%s)",
	    rate_cases[_i].filter, rate_cases[_i].topic,
	    rate_cases[_i].match ? "match" : "no match",
	    rate_cases[_i].rule);
	free(f);
	free(t);
}
END_TEST

Suite *
topic_suite(void)
{
	Suite	*s = suite_create("topic");
	TCase	*tc;

	tc = tcase_create("match");
	tcase_add_loop_test(tc, match_table, 0, (int)NELEM(mcases));
	tcase_add_loop_test(tc, covers_table, 0, (int)NELEM(ccases));
	tcase_add_test(tc, vars);
	tcase_add_loop_test(tc, rate_match_table, 0, (int)NELEM(rate_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("meet");
	tcase_add_loop_test(tc, meet_table, 0, (int)NELEM(meetcases));
	tcase_add_test(tc, meet_short);
	tcase_add_loop_test(tc, specificity_table, 0, (int)NELEM(speccases));
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_loop_test(tc, utf8_table, 0, (int)NELEM(ucases));
	tcase_add_test(tc, utf8_nul);
	tcase_add_test(tc, utf8_vs_mosquitto);
	tcase_add_test(tc, utf8_nonchar_vs_mosquitto);
	tcase_add_test(tc, utf8_chunks);
	suite_add_tcase(s, tc);

	tc = tcase_create("differential");
	tcase_set_timeout(tc, 60);	/* slower under ASan */
	tcase_add_test(tc, mosquitto_fixed);
	tcase_add_test(tc, mosquitto_random);
	tcase_add_test(tc, acl_fixed);
	tcase_add_test(tc, acl_random);
	tcase_add_test(tc, covers_sound);
	tcase_add_test(tc, meet_random);
	suite_add_tcase(s, tc);
	return s;
}
