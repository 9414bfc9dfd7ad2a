/* SPDX-License-Identifier: ISC */
/*
 * mqttguard learn's pure half (learn.c): reading observation lines,
 * %u/%c substitution, generalisation to '+' (and '#' only when asked),
 * which filters may be proposed, YAML quoting and group names.  Hostile
 * input throughout: identities and topics holding '+', '#', '/', '$',
 * quotes, newlines, invalid UTF-8, and many distinct topics.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/learn.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- observation lines ------------------------------------------------ */

struct pcase {
	const char	*line;
	int		 rc;
	const char	*identity, *client_id, *topic;
	enum learn_action action;
	uint64_t	 count;
};

static const struct pcase parse_cases[] = {
	{ "{\"identity\":\"d1\",\"client_id\":\"c1\",\"action\":\"publish\","
	    "\"topic\":\"a/b\",\"first\":1,\"last\":2,\"count\":7,"
	    "\"allowed\":7,\"denied\":0,\"would_deny\":0}\n", 0, "d1", "c1",
	    "a/b", LEARN_PUBLISH, 7 },
	{ "{\"identity\":\"x\\n+#/$\\\"\",\"action\":\"will\",\"topic\":"
	    "\"t\\u00e9\\ud83d\\ude00\"}", 0, "x\n+#/$\"", "", "t\xc3\xa9"
	    "\xf0\x9f\x98\x80", LEARN_WILL, 1 },
	/* a JSON audit log line: one observation */
	{ "{\"time\":\"t\",\"level\":\"warn\",\"event\":\"acl.deny\","
	    "\"session\":3,\"identity\":\"u\",\"client_id\":\"c\","
	    "\"action\":\"subscribe\",\"topic\":\"s/#\",\"truncated\":true,"
	    "\"rule\":null}", 0, "u", "c", "s/#", LEARN_SUBSCRIBE, 1 },
	{ "{\"event\":\"limit.hit\",\"identity\":\"u\",\"action\":"
	    "\"publish\",\"topic\":\"a\"}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"read\",\"topic\":\"a\"}", -1,
	    NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\"}", -1, NULL, NULL,
	    NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"\"}", -1,
	    NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\\u0000\",\"action\":\"publish\",\"topic\":"
	    "\"a\"}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"\xff\",\"action\":\"publish\",\"topic\":\"a\"}",
	    -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\","
	    "\"x\":{\"y\":1}}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\"} x",
	    -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\",}",
	    -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\","
	    "\"count\":0}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"\\ud800\"}",
	    -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a", -1,
	    NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\","
	    "\"count\":\"5\"}", 0, "u", "", "a", LEARN_PUBLISH, 1 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\","
	    "\"count\":99999999999999999999999}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\","
	    "\"count\":-3}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"identity\":\"u\",\"action\":\"publish\",\"topic\":\"a\","
	    "\"count\":12}", 0, "u", "", "a", LEARN_PUBLISH, 12 },
	{ "{}", -1, NULL, NULL, NULL, 0, 0 },
	{ "{\"a\" \"b\"}", -1, NULL, NULL, NULL, 0, 0 },
	{ "not json", -1, NULL, NULL, NULL, 0, 0 },
	{ "", -1, NULL, NULL, NULL, 0, 0 },
};

START_TEST(t_parse)
{
	const struct pcase	*c = &parse_cases[_i];
	struct learn_obs	 o;
	size_t			 len = strlen(c->line);
	char			*copy = malloc(len > 0 ? len : 1);

	/* Exact size, no NUL: the parser must not read past <len>. */
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, c->line, len);
	ck_assert_int_eq(learn_obs_parse(copy, len, &o), c->rc);
	if (c->rc == 0) {
		ck_assert_str_eq(o.identity, c->identity);
		ck_assert_str_eq(o.client_id, c->client_id);
		ck_assert_str_eq(o.topic, c->topic);
		ck_assert_int_eq(o.action, c->action);
		ck_assert_uint_eq(o.count, c->count);
		learn_obs_fini(&o);
	}
	free(copy);
}
END_TEST

/* ---- %u and %c --------------------------------------------------------- */

struct scase {
	const char	*topic, *identity, *cid, *want;	/* NULL: refused */
};

static const struct scase subst_cases[] = {
	{ "site/1/dev7/telemetry", "dev7", "c7", "site/1/%u/telemetry" },
	{ "site/c7/dev7", "dev7", "c7", "site/%c/%u" },
	{ "dev7/dev7", "dev7", "dev7", "%u/%u" },	/* %u first */
	{ "a/b/c", "b/c", "", "a/b/c" },	/* a name with '/' is no level */
	{ "a/+/#", "+", "#", "a/+/#" },	/* wildcards stay */
	{ "a/b", "", "", "a/b" },	/* empty names match nothing */
	{ "a/%u", "x", "y", NULL },	/* a literal %u cannot be written */
	{ "%c", "x", "y", NULL },
	{ "a/%ux", "x", "y", "a/%ux" },
	{ "/dev7/", "dev7", "", "/%u/" },
	{ "$SYS/dev7", "dev7", "", "$SYS/%u" },
};

START_TEST(t_subst)
{
	const struct scase	*c = &subst_cases[_i];
	char			*got = learn_subst(c->topic, c->identity,
				    c->cid);

	if (c->want == NULL)
		ck_assert_ptr_null(got);
	else {
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, c->want);
	}
	free(got);
}
END_TEST

/* ---- generalisation ---------------------------------------------------- */

static bool
names(void *ctx, const char *level, size_t len)
{
	(void)ctx;
	return (len == 4 && memcmp(level, "dev", 3) == 0);	/* dev0..9 */
}

/* <fmt> with each "{}" as <i> in decimal, each "{x}" in 8 hex digits. */
static void
expand(char *buf, size_t cap, const char *fmt, unsigned i)
{
	size_t	n = 0;

	for (; *fmt != '\0' && n + 10 < cap; fmt++) {
		if (strncmp(fmt, "{}", 2) == 0) {
			n += (size_t)snprintf(buf + n, cap - n, "%u", i);
			fmt++;
		} else if (strncmp(fmt, "{x}", 3) == 0) {
			n += (size_t)snprintf(buf + n, cap - n, "%08x", i);
			fmt += 2;
		} else
			buf[n++] = *fmt;
	}
	buf[n] = '\0';
}

/* <n> patterns from <fmt> (expand()) for 0..n-1. */
static struct learn_pat *
pats(const char *fmt, size_t n, size_t *count)
{
	struct learn_pat	*v = calloc(n, sizeof(*v));
	char			 buf[256];
	size_t			 i;

	ck_assert_ptr_nonnull(v);
	for (i = 0; i < n; i++) {
		expand(buf, sizeof(buf), fmt, (unsigned)i);
		v[i].filter = strdup(buf);
		v[i].sample = strdup(buf);
		v[i].count = 2;
		v[i].topics = 1;
		ck_assert(v[i].filter != NULL && v[i].sample != NULL);
	}
	*count = n;
	return v;
}

static void
pats_free(struct learn_pat *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].filter);
		free(v[i].sample);
	}
	free(v);
}

struct gcase {
	const char	*name;
	const char	*fmt;
	size_t		 n;
	unsigned	 threshold;
	bool		 multilevel;
	const char	*want;		/* the one filter left; NULL: n left */
};

static const struct gcase gen_cases[] = {
	{ "threshold reached", "s/{}/t", 5, 5, false, "s/+/t" },
	{ "under the threshold", "s/{}/t", 4, 5, false, NULL },
	{ "two levels", "s/{}/x", 30, 5, false, "s/+/x" },
	{ "levels that change together", "s/{}/x{}", 30, 5, false, NULL },
	{ "identities never merge", "s/dev{}/t", 10, 3, false, NULL },
	{ "hex ids", "d/{x}/cmd", 100, 5, false, "d/+/cmd" },
	{ "no '#' unless asked", "a/b/{}/x/{}", 20, 50, false, NULL },
	{ "many distinct topics", "t/{}", 20000, 5, false, "t/+" },
};

START_TEST(t_generalise)
{
	const struct gcase	*c = &gen_cases[_i];
	struct learn_gen	 g = { c->threshold, c->multilevel, names,
				    NULL };
	struct learn_pat	*v;
	size_t			 n, i;
	long			 m;

	v = pats(c->fmt, c->n, &n);
	m = learn_generalise(v, n, &g);
	ck_assert_msg(m > 0, "%s: %ld", c->name, m);
	if (c->want != NULL) {
		ck_assert_msg(m == 1, "%s: %ld patterns", c->name, m);
		ck_assert_str_eq(v[0].filter, c->want);
		ck_assert_uint_eq(v[0].count, 2 * c->n);
		ck_assert_uint_eq(v[0].topics, c->n);
	} else
		ck_assert_msg((size_t)m == c->n, "%s: %ld patterns", c->name,
		    m);
	for (i = 0; i < (size_t)m; i++)
		ck_assert_msg(strchr(v[i].filter, '#') == NULL, "%s: %s",
		    c->name, v[i].filter);
	pats_free(v, (size_t)m);
}
END_TEST

/* '#' with --allow-multilevel: many topics of several depths. */
START_TEST(t_generalise_multilevel)
{
	struct learn_gen	 g = { 5, true, NULL, NULL };
	struct learn_pat	*v, *w;
	size_t			 n, k, i;
	long			 m;

	v = pats("a/b/{}", 5, &n);
	w = pats("a/b/x/{}", 5, &k);
	ck_assert_ptr_nonnull(v = realloc(v, (n + k) * sizeof(*v)));
	memcpy(v + n, w, k * sizeof(*w));
	free(w);
	m = learn_generalise(v, n + k, &g);
	ck_assert_int_eq(m, 1);
	ck_assert_str_eq(v[0].filter, "a/b/#");
	g.multilevel = false;
	for (i = 0; i < (size_t)m; i++)
		free(v[i].filter), free(v[i].sample);
	free(v);
	/* the same without: two '+' filters */
	v = pats("a/b/{}", 5, &n);
	w = pats("a/b/x/{}", 5, &k);
	ck_assert_ptr_nonnull(v = realloc(v, (n + k) * sizeof(*v)));
	memcpy(v + n, w, k * sizeof(*w));
	free(w);
	m = learn_generalise(v, n + k, &g);
	ck_assert_int_eq(m, 2);
	ck_assert_str_eq(v[0].filter, "a/b/+");
	ck_assert_str_eq(v[1].filter, "a/b/x/+");
	pats_free(v, (size_t)m);
}
END_TEST

/* ---- what may be proposed, quoting, names ------------------------------ */

START_TEST(t_filter_ok)
{
	ck_assert(learn_filter_ok("site/+/%u/t", false));
	ck_assert(!learn_filter_ok("$SYS/broker", false));
	ck_assert(!learn_filter_ok("$SYS/#", true));
	ck_assert(!learn_filter_ok("a/#", false));
	ck_assert(learn_filter_ok("a/#", true));
	ck_assert(!learn_filter_ok("a/x%u", false));
	ck_assert(!learn_filter_ok("a/#/b", true));
	ck_assert(!learn_filter_ok("$share/g/a", false));
}
END_TEST

struct qcase {
	const char	*in, *want;
};

static const struct qcase quote_cases[] = {
	{ "plain", "\"plain\"" },
	{ "", "\"\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "new\nline\r\t", "\"new\\x0aline\\x0d\\x09\"" },
	{ "del\x7f", "\"del\\x7f\"" },
	{ "c1\xc2\x85", "\"c1\\x85\"" },
	{ "ls\xe2\x80\xa8ps\xe2\x80\xa9", "\"ls\\Lps\\P\"" },
	{ "bom\xef\xbb\xbf", "\"bom\\uFEFF\"" },
	{ "caf\xc3\xa9 #: - {x}", "\"caf\xc3\xa9 #: - {x}\"" },
};

START_TEST(t_quote)
{
	char	*q = learn_yaml_quote(quote_cases[_i].in);

	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(q, quote_cases[_i].want);
	free(q);
}
END_TEST

START_TEST(t_group_name)
{
	const char	*devs[] = { "dev-001", "dev-002", "dev-050" };
	const char	*odd[] = { "a+b", "a+c" };
	const char	*none[] = { "x", "y" };
	const char	*nl[] = { "ab\ncd", "ab\nce" };
	char		 buf[64];

	learn_group_name(devs, 3, buf, sizeof(buf));
	ck_assert_str_eq(buf, "dev");
	learn_group_name(odd, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a");
	learn_group_name(none, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	learn_group_name(nl, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ab");
	learn_group_name(devs, 3, buf, 3);
	ck_assert_str_eq(buf, "de");
}
END_TEST

Suite *
learn_suite(void)
{
	Suite	*s = suite_create("learn");
	TCase	*tp = tcase_create("parse");
	TCase	*tg = tcase_create("generalise");
	TCase	*to = tcase_create("output");

	tcase_add_loop_test(tp, t_parse, 0, (int)NELEM(parse_cases));
	suite_add_tcase(s, tp);
	tcase_add_loop_test(tg, t_subst, 0, (int)NELEM(subst_cases));
	tcase_add_loop_test(tg, t_generalise, 0, (int)NELEM(gen_cases));
	tcase_add_test(tg, t_generalise_multilevel);
	tcase_set_timeout(tg, 30);
	suite_add_tcase(s, tg);
	tcase_add_test(to, t_filter_ok);
	tcase_add_loop_test(to, t_quote, 0, (int)NELEM(quote_cases));
	tcase_add_test(to, t_group_name);
	suite_add_tcase(s, to);
	return s;
}
