/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for acl, the acl section of config, and import-acl.
 *
 * Tables of {rules, who, action, topic, expected answer and deciding rule}
 * prove the matcher (wildcards [MQTT-4.7.1-2], [MQTT-4.7.1-3], '$' topics
 * [MQTT-4.7.2-1], "%u"/"%c" with hostile identities), the precedence (most
 * specific wins, deny wins ties, default deny), subscription coverage and
 * shared subscriptions [MQTT-4.8.2-1], groups, and rule validation.  The
 * config cases name each invalid file under test/data/ with its exact
 * file:line:column.  import-acl is compared with expected output, and the
 * imported rules are checked against a reference implementation of
 * Mosquitto 2.0's acl_file decision over every topic that the files'
 * filters can tell apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/acl.h"
#include "mqttguard/acl_import.h"
#include "mqttguard/cmd.h"
#include "mqttguard/config.h"

#define P	ACL_PUBLISH
#define S	ACL_SUBSCRIBE
#define R	ACL_READ
#define ALL	ACL_ALL

/* A rule of a fixture: users and groups as "a,b" (NULL: none). */
struct tr {
	bool		 allow;
	unsigned	 actions;
	const char	*filter;
	const char	*users;
	const char	*groups;
};

/* A check and its expected answer; rule -1: no rule (default deny). */
struct tc {
	const char	*name;
	const char	*id;
	const char	*cid;
	unsigned	 action;
	const char	*topic;
	bool		 allow;
	int		 rule;
};

/* Splits "a,b" into <v> (static storage of <buf>).  Returns the count. */
static size_t
csv(const char *s, char *buf, size_t len, char **v, size_t max)
{
	char	*p, *save = NULL;
	size_t	 n = 0;

	if (s == NULL)
		return 0;
	snprintf(buf, len, "%s", s);
	for (p = strtok_r(buf, ",", &save); p != NULL && n < max;
	    p = strtok_r(NULL, ",", &save))
		v[n++] = p;
	return n;
}

/* Builds an index: <groups> as "name:m1,m2" strings, then <rules>. */
static struct acl *
build(const struct tr *rules, size_t n, const char *const *groups)
{
	struct acl	*acl = acl_new();
	struct acl_rule	 r;
	char		 ub[256], gb[256], err[256], *users[8], *grps[8];
	char		 name[64], *colon;
	size_t		 i, nm;

	ck_assert_ptr_nonnull(acl);
	for (i = 0; groups != NULL && groups[i] != NULL; i++) {
		snprintf(name, sizeof(name), "%s", groups[i]);
		colon = strchr(name, ':');
		*colon = '\0';
		nm = csv(colon + 1, gb, sizeof(gb), grps, 8);
		ck_assert_msg(acl_add_group(acl, name,
		    (const char *const *)grps, nm, err, sizeof(err)) == 0,
		    "group %s: %s", name, err);
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.allow = rules[i].allow;
		r.actions = rules[i].actions;
		r.filter = (char *)rules[i].filter;
		r.file = "fixture";
		r.line = (int)i;
		r.users = users;
		r.n_users = csv(rules[i].users, ub, sizeof(ub), users, 8);
		r.groups = grps;
		r.n_groups = csv(rules[i].groups, gb, sizeof(gb), grps, 8);
		r.everyone = r.n_users == 0 && r.n_groups == 0;
		ck_assert_msg(acl_add_rule(acl, &r, err, sizeof(err)) == 0,
		    "rule %zu: %s", i, err);
	}
	return acl;
}

static void
run(const struct tr *rules, size_t n, const char *const *groups,
    const struct tc *c)
{
	struct acl		*acl = build(rules, n, groups);
	struct acl_subject	 who;
	struct acl_verdict	 v;
	bool			 allow;

	who.identity = c->id != NULL ? c->id : "alice";
	who.client_id = c->cid != NULL ? c->cid : "cid";
	who.client_id_len = strlen(who.client_id);
	allow = acl_check(acl, &who, (enum acl_action)c->action,
	    (const uint8_t *)c->topic, strlen(c->topic), &v);
	ck_assert_msg(allow == c->allow && v.allow == allow,
	    "%s: \"%s\" %s: got %s", c->name, c->topic,
	    acl_action_str((enum acl_action)c->action),
	    allow ? "allow" : "deny");
	ck_assert_msg(c->rule == -1 ? v.rule == NULL : v.rule != NULL &&
	    v.rule->line == c->rule, "%s: decided by rule %d, want %d",
	    c->name, v.rule != NULL ? v.rule->line : -1, c->rule);
	acl_free(acl);
}

/* ---- matcher -------------------------------------------------------- */

static const struct tr match_rules[] = {
	{ true, ALL, "a/b", NULL, NULL },		/* 0 */
	{ true, ALL, "w/+/x", NULL, NULL },		/* 1 */
	{ true, ALL, "h/#", NULL, NULL },		/* 2 */
	{ true, R, "#", "reader", NULL },		/* 3 */
	{ true, ALL, "$SYS/#", "sys", NULL },		/* 4 */
	{ true, ALL, "+/leading", NULL, NULL },		/* 5 */
	{ true, ALL, "u/%u/#", NULL, NULL },		/* 6 */
	{ true, ALL, "c/%c", NULL, NULL },		/* 7 */
	{ true, P, "pub/only", NULL, NULL },		/* 8 */
	{ true, ALL, "%u/home", NULL, NULL },		/* 9 */
	{ true, ALL, "e//x", NULL, NULL },		/* 10 */
	{ true, ALL, "%c", NULL, NULL },		/* 11 */
	{ true, ALL, "t/", NULL, NULL },		/* 12 */
};

static const struct tc match_cases[] = {
	{ "literal: exact", NULL, NULL, P, "a/b", true, 0 },
	{ "literal: a longer topic", NULL, NULL, P, "a/b/c", false, -1 },
	{ "literal: a shorter topic", NULL, NULL, P, "a", false, -1 },
	{ "literal: trailing empty level", NULL, NULL, P, "a/b/", false, -1 },
	{ "+ matches one level [MQTT-4.7.1-3]", NULL, NULL, P, "w/1/x",
	    true, 1 },
	{ "+ matches an empty level", NULL, NULL, P, "w//x", true, 1 },
	{ "+ is not two levels", NULL, NULL, P, "w/1/2/x", false, -1 },
	{ "+ is not zero levels", NULL, NULL, P, "w/x", false, -1 },
	{ "# matches the parent level [MQTT-4.7.1-2]", NULL, NULL, P, "h",
	    true, 2 },
	{ "# matches one level", NULL, NULL, P, "h/1", true, 2 },
	{ "# matches many levels", NULL, NULL, P, "h/1/2/3", true, 2 },
	{ "# is level-aligned", NULL, NULL, P, "hx", false, -1 },
	{ "leading # skips $ topics [MQTT-4.7.2-1]", "reader", NULL, R,
	    "$SYS/x", false, -1 },
	{ "leading # matches others", "reader", NULL, R, "x/y", true, 3 },
	{ "a named $ topic", "sys", NULL, P, "$SYS/broker/load", true, 4 },
	{ "a named $ topic, parent", "sys", NULL, P, "$SYS", true, 4 },
	{ "leading + skips $ topics [MQTT-4.7.2-1]", NULL, NULL, P,
	    "$x/leading", false, -1 },
	{ "leading + matches others", NULL, NULL, P, "y/leading", true, 5 },
	{ "%u: own level", "alice", NULL, P, "u/alice/t", true, 6 },
	{ "%u: own level, # parent", "alice", NULL, P, "u/alice", true, 6 },
	{ "%u: another identity", "alice", NULL, P, "u/bob/t", false, -1 },
	{ "%u: identity \"a/#\" cannot widen", "a/#", NULL, P, "u/a/x",
	    false, -1 },
	{ "%u: identity \"a/b\" is one level", "a/b", NULL, P, "u/a/b/t",
	    false, -1 },
	{ "%u: identity \"a/b\", its first part", "a/b", NULL, P, "u/a/b",
	    false, -1 },
	{ "%u: identity \"+\"", "+", NULL, P, "u/x/t", false, -1 },
	{ "%u: identity \"#\"", "#", NULL, P, "u/x", false, -1 },
	{ "%u: empty identity matches no level", "", NULL, P, "u//t", false,
	    -1 },
	{ "%u first: own", "bob", NULL, P, "bob/home", true, 9 },
	{ "%u first: identity \"$SYS\" skips $ topics", "$SYS", NULL, P,
	    "$SYS/home", false, -1 },
	{ "%c: own", NULL, "dev1", P, "c/dev1", true, 7 },
	{ "%c: another", NULL, "dev1", P, "c/dev2", false, -1 },
	{ "%c: empty client id matches no level", NULL, "", P, "c/", false,
	    -1 },
	{ "%c: client id \"a/b\"", NULL, "a/b", P, "c/a/b", false, -1 },
	{ "%c: client id \"+\"", NULL, "+", P, "c/x", false, -1 },
	{ "%c: a whole topic", NULL, "dev1", P, "dev1", true, 11 },
	{ "%c: client id \"$SYS\" skips $ topics", NULL, "$SYS", P, "$SYS",
	    false, -1 },
	{ "actions: publish allowed", NULL, NULL, P, "pub/only", true, 8 },
	{ "actions: read not given", NULL, NULL, R, "pub/only", false, -1 },
	{ "actions: subscribe not given", NULL, NULL, S, "pub/only", false,
	    -1 },
	{ "empty levels are literal", NULL, NULL, P, "e//x", true, 10 },
	{ "empty levels: not collapsed", NULL, NULL, P, "e/x", false, -1 },
	{ "trailing empty level", NULL, NULL, P, "t/", true, 12 },
	{ "trailing empty level: not the parent", NULL, NULL, P, "t", false,
	    -1 },
	{ "invalid: empty topic", "reader", NULL, R, "", false, -1 },
	{ "invalid: + in a topic name [MQTT-4.7.1-1]", "reader", NULL, R,
	    "a/+", false, -1 },
	{ "invalid: # in a topic name [MQTT-4.7.1-1]", "reader", NULL, R,
	    "#", false, -1 },
	{ "invalid: action bits", NULL, NULL, P | R, "a/b", false, -1 },
};

START_TEST(matcher)
{
	run(match_rules, NELEM(match_rules), NULL, &match_cases[_i]);
}
END_TEST

/* ---- subscribe: the rule's filter covers the subscription's --------- */

static const struct tr sub_rules[] = {
	{ true, S, "a/#", NULL, NULL },			/* 0 */
	{ true, S, "b/+", NULL, NULL },			/* 1 */
	{ true, S, "#", "root", NULL },			/* 2 */
	{ true, S, "c/+/d", NULL, NULL },		/* 3 */
	{ true, S, "d", NULL, NULL },			/* 4 */
	{ true, S, "%u/#", NULL, NULL },		/* 5 */
	{ false, S, "a/secret/#", NULL, NULL },		/* 6 */
	{ true, S, "e/+/#", NULL, NULL },		/* 7 */
};

static const struct tc sub_cases[] = {
	{ "a/# covers a/+/b", NULL, NULL, S, "a/+/b", true, 0 },
	{ "a/# covers a/#", NULL, NULL, S, "a/#", true, 0 },
	{ "a/# covers a", NULL, NULL, S, "a", true, 0 },
	{ "a/# covers a/b", NULL, NULL, S, "a/b", true, 0 },
	{ "a/# does not cover +/b", NULL, NULL, S, "+/b", false, -1 },
	{ "b/+ covers b/x", NULL, NULL, S, "b/x", true, 1 },
	{ "b/+ covers b/+", NULL, NULL, S, "b/+", true, 1 },
	{ "b/+ does not cover b/#", NULL, NULL, S, "b/#", false, -1 },
	{ "b/+ does not cover b", NULL, NULL, S, "b", false, -1 },
	{ "b/+ does not cover b/x/y", NULL, NULL, S, "b/x/y", false, -1 },
	{ "# covers #", "root", NULL, S, "#", true, 2 },
	{ "# covers +/x", "root", NULL, S, "+/x", true, 2 },
	{ "# covers +", "root", NULL, S, "+", true, 2 },
	{ "# does not cover $SYS/# [MQTT-4.7.2-1]", "root", NULL, S,
	    "$SYS/#", false, -1 },
	{ "# does not cover $SYS", "root", NULL, S, "$SYS", false, -1 },
	{ "c/+/d covers c/+/d", NULL, NULL, S, "c/+/d", true, 3 },
	{ "c/+/d covers c/x/d", NULL, NULL, S, "c/x/d", true, 3 },
	{ "c/+/d does not cover c/#", NULL, NULL, S, "c/#", false, -1 },
	{ "c/+/d does not cover c/+/+", NULL, NULL, S, "c/+/+", false, -1 },
	{ "c/+/d does not cover c/+/d/#", NULL, NULL, S, "c/+/d/#", false,
	    -1 },
	{ "d covers d", NULL, NULL, S, "d", true, 4 },
	{ "d does not cover d/#", NULL, NULL, S, "d/#", false, -1 },
	{ "d does not cover d/+", NULL, NULL, S, "d/+", false, -1 },
	{ "e/+/# covers e/x", NULL, NULL, S, "e/x", true, 7 },
	{ "e/+/# covers e/+/#", NULL, NULL, S, "e/+/#", true, 7 },
	{ "e/+/# does not cover e/#", NULL, NULL, S, "e/#", false, -1 },
	{ "%u/# covers own", "alice", NULL, S, "alice/#", true, 5 },
	{ "%u/# does not cover +/#", "alice", NULL, S, "+/#", false, -1 },
	{ "%u/# with identity \"+\" does not cover +/#", "+", NULL, S, "+/#",
	    false, -1 },
	{ "%u/# with identity \"#\" does not cover #", "#", NULL, S, "#",
	    false, -1 },
	{ "deny a/secret/# covers a/secret/x", NULL, NULL, S, "a/secret/x",
	    false, 6 },
	{ "deny a/secret/# covers a/secret/#", NULL, NULL, S, "a/secret/#",
	    false, 6 },
	{ "deny a/secret/# does not cover a/#", NULL, NULL, S, "a/#", true,
	    0 },
	{ "shared: checked on the filter [MQTT-4.8.2-1]", NULL, NULL, S,
	    "$share/g/a/#", true, 0 },
	{ "shared: denied filter", NULL, NULL, S, "$share/g/b/#", false, -1 },
	{ "shared: # does not reach $SYS", "root", NULL, S,
	    "$share/g/$SYS/#", false, -1 },
	{ "shared: # covers", "root", NULL, S, "$share/g/#", true, 2 },
	{ "shared: empty group", NULL, NULL, S, "$share//a/#", false, -1 },
	{ "shared: no filter", NULL, NULL, S, "$share/g", false, -1 },
	{ "shared: empty filter", NULL, NULL, S, "$share/g/", false, -1 },
	{ "shared: wildcard in group", NULL, NULL, S, "$share/g+/a/#", false,
	    -1 },
	{ "invalid: # not last [MQTT-4.7.1-2]", NULL, NULL, S, "a/#/b",
	    false, -1 },
	{ "invalid: + not a level [MQTT-4.7.1-3]", NULL, NULL, S, "a+",
	    false, -1 },
	{ "invalid: empty filter", NULL, NULL, S, "", false, -1 },
};

START_TEST(subscribe)
{
	run(sub_rules, NELEM(sub_rules), NULL, &sub_cases[_i]);
}
END_TEST

/* ---- precedence ----------------------------------------------------- */

static const struct tr prec_rules[] = {
	{ true, ALL, "p/#", NULL, NULL },		/* 0 */
	{ false, ALL, "p/secret/#", NULL, NULL },	/* 1 */
	{ true, ALL, "p/secret/open", NULL, NULL },	/* 2 */
	{ false, ALL, "q/+", NULL, NULL },		/* 3 */
	{ true, ALL, "q/x", NULL, NULL },		/* 4 */
	{ true, ALL, "r/+/+", NULL, NULL },		/* 5 */
	{ false, ALL, "r/#", NULL, NULL },		/* 6 */
	{ true, ALL, "t/x", NULL, NULL },		/* 7 */
	{ false, ALL, "t/x", "bob", NULL },		/* 8 */
	{ true, ALL, "s/+", NULL, NULL },		/* 9 */
	{ false, ALL, "s/+", NULL, NULL },		/* 10 */
	{ true, ALL, "v/%u", NULL, NULL },		/* 11 */
	{ false, ALL, "v/+", NULL, NULL },		/* 12 */
	{ true, P, "k/#", NULL, NULL },			/* 13 */
	{ false, R, "k/#", NULL, NULL },		/* 14 */
	{ true, ALL, "g/#", NULL, "g" },		/* 15 */
	{ true, ALL, "g/#", NULL, NULL },		/* 16 */
	{ false, ALL, "n/+/+", NULL, NULL },		/* 17 */
	{ true, ALL, "n/x/#", NULL, NULL },		/* 18 */
	{ true, ALL, "m/%c", NULL, NULL },		/* 19 */
	{ false, ALL, "m/%u", NULL, NULL },		/* 20 */
};
static const char *const prec_groups[] = { "g:gm", NULL };

static const struct tc prec_cases[] = {
	{ "general allow", NULL, NULL, P, "p/a", true, 0 },
	{ "more literal levels: deny", NULL, NULL, P, "p/secret/x", false,
	    1 },
	{ "# matches the parent: deny", NULL, NULL, P, "p/secret", false, 1 },
	{ "more literal levels again: allow", NULL, NULL, P, "p/secret/open",
	    true, 2 },
	{ "literal beats +", NULL, NULL, P, "q/x", true, 4 },
	{ "+ where no literal", NULL, NULL, P, "q/y", false, 3 },
	{ "more + levels beat #", NULL, NULL, P, "r/a/b", true, 5 },
	{ "# alone", NULL, NULL, P, "r/a", false, 6 },
	{ "# deeper", NULL, NULL, P, "r/a/b/c", false, 6 },
	{ "equal: everyone's allow", "alice", NULL, P, "t/x", true, 7 },
	{ "equal: deny wins, whoever's", "bob", NULL, P, "t/x", false, 8 },
	{ "same filter: deny wins", NULL, NULL, P, "s/a", false, 10 },
	{ "%u counts as literal", "alice", NULL, P, "v/alice", true, 11 },
	{ "%u another: +", "alice", NULL, P, "v/bob", false, 12 },
	{ "actions apart: publish", NULL, NULL, P, "k/x", true, 13 },
	{ "actions apart: read", NULL, NULL, R, "k/x", false, 14 },
	{ "actions apart: subscribe, default", NULL, NULL, S, "k/x", false,
	    -1 },
	{ "equal allows: the first added", "gm", NULL, P, "g/x", true, 15 },
	{ "equal allows: for others", "alice", NULL, P, "g/x", true, 16 },
	{ "literal beats + + (1 literal)", NULL, NULL, P, "n/x/y", true, 18 },
	{ "+ + otherwise", NULL, NULL, P, "n/y/z", false, 17 },
	{ "%u and %c equal: deny", "dev", "dev", P, "m/dev", false, 20 },
	{ "%c alone", "alice", "dev", P, "m/dev", true, 19 },
	{ "default deny", NULL, NULL, P, "z", false, -1 },
};

START_TEST(precedence)
{
	run(prec_rules, NELEM(prec_rules), prec_groups, &prec_cases[_i]);
}
END_TEST

/* ---- groups, users, everyone ---------------------------------------- */

static const struct tr group_rules[] = {
	{ true, ALL, "g1/#", NULL, "g1" },		/* 0 */
	{ true, ALL, "g2/#", NULL, "g2" },		/* 1 */
	{ true, ALL, "al/#", "alice", NULL },		/* 2 */
	{ true, ALL, "all/#", NULL, NULL },		/* 3 */
	{ true, ALL, "both/#", "dave", "g2" },		/* 4 */
	{ false, ALL, "g1/bob/#", "bob", NULL },	/* 5 */
	{ true, ALL, "none/#", NULL, "empty" },		/* 6 */
};
static const char *const group_groups[] = {
	"g1:alice,bob", "g2:carol", "empty:", "g3:alice,alice", NULL
};

static const struct tc group_cases[] = {
	{ "group member", "alice", NULL, P, "g1/x", true, 0 },
	{ "another member", "bob", NULL, P, "g1/x", true, 0 },
	{ "not a member", "carol", NULL, P, "g1/x", false, -1 },
	{ "other group", "carol", NULL, P, "g2/x", true, 1 },
	{ "everyone", "dave", NULL, P, "all/x", true, 3 },
	{ "everyone, unknown identity", "zed", NULL, P, "all/x", true, 3 },
	{ "unknown identity, group rule", "zed", NULL, P, "g1/x", false, -1 },
	{ "user rule", "alice", NULL, P, "al/x", true, 2 },
	{ "user rule, another user", "bob", NULL, P, "al/x", false, -1 },
	{ "users and groups: the user", "dave", NULL, P, "both/x", true, 4 },
	{ "users and groups: a member", "carol", NULL, P, "both/x", true, 4 },
	{ "users and groups: neither", "alice", NULL, P, "both/x", false, -1 },
	{ "user deny inside a group allow", "bob", NULL, P, "g1/bob/x",
	    false, 5 },
	{ "the group allow for the others", "alice", NULL, P, "g1/bob/x",
	    true, 0 },
	{ "an empty group matches nobody", "alice", NULL, P, "none/x", false,
	    -1 },
};

START_TEST(groups)
{
	run(group_rules, NELEM(group_rules), group_groups, &group_cases[_i]);
}
END_TEST

/* ---- validation ----------------------------------------------------- */

static const struct {
	const char	*filter;
	unsigned	 actions;
	const char	*users;
	const char	*groups;
	bool		 everyone;
	const char	*err;		/* NULL: valid */
} valid_cases[] = {
	{ "", ALL, NULL, NULL, true, "empty topic filter" },
	{ "a/#/b", ALL, NULL, NULL, true, "'#' must be the last level" },
	{ "a#", ALL, NULL, NULL, true, "'#' must be a whole level" },
	{ "a/b+", ALL, NULL, NULL, true, "'+' must be a whole level" },
	{ "+a", ALL, NULL, NULL, true, "'+' must be a whole level" },
	{ "dev-%u", ALL, NULL, NULL, true, "\"%u\" must be a whole level" },
	{ "a/%cx", ALL, NULL, NULL, true, "\"%c\" must be a whole level" },
	{ "$share/g/x", ALL, NULL, NULL, true, "names a shared subscription" },
	{ "\xff", ALL, NULL, NULL, true, "not valid UTF-8" },
	{ "\xc0\xaf", ALL, NULL, NULL, true, "not valid UTF-8" },
	{ "\xed\xa0\x80", ALL, NULL, NULL, true, "not valid UTF-8" },
	{ "ok", 0, NULL, NULL, true, "one or more of the actions" },
	{ "ok", 0x8, NULL, NULL, true, "one or more of the actions" },
	{ "ok", ALL, NULL, "nope", false, "group \"nope\" is not declared" },
	{ "ok", ALL, "u", NULL, true, "a rule for everyone lists no users" },
	{ "ok", ALL, NULL, NULL, false, "lists users or groups, or is for "
	    "everyone" },
	{ "%u", ALL, NULL, NULL, true, NULL },
	{ "a/%c/#", ALL, NULL, NULL, true, NULL },
	{ "+", ALL, NULL, NULL, true, NULL },
	{ "#", ALL, NULL, NULL, true, NULL },
	{ "a//b", ALL, NULL, NULL, true, NULL },
	{ "/", ALL, NULL, NULL, true, NULL },
	{ "$SYS/#", ALL, NULL, NULL, true, NULL },
	{ "100%/x%/%", ALL, NULL, NULL, true, NULL },
	{ "caf\xc3\xa9/\xf0\x9f\x98\x80", ALL, NULL, NULL, true, NULL },
	{ "ok", ALL, "u", "g", false, NULL },
};

START_TEST(validation)
{
	struct acl	*acl = acl_new();
	struct acl_rule	 r;
	char		 err[512] = "", ub[64], gb[64], *users[4], *grps[4];
	const char	*members[] = { "m" };
	int		 rc;

	ck_assert_int_eq(acl_add_group(acl, "g", members, 1, err,
	    sizeof(err)), 0);
	memset(&r, 0, sizeof(r));
	r.allow = true;
	r.actions = valid_cases[_i].actions;
	r.filter = (char *)valid_cases[_i].filter;
	r.file = "x";
	r.users = users;
	r.n_users = csv(valid_cases[_i].users, ub, sizeof(ub), users, 4);
	r.groups = grps;
	r.n_groups = csv(valid_cases[_i].groups, gb, sizeof(gb), grps, 4);
	r.everyone = valid_cases[_i].everyone;
	rc = acl_add_rule(acl, &r, err, sizeof(err));
	if (valid_cases[_i].err == NULL) {
		ck_assert_msg(rc == 0, "\"%s\": %s", r.filter, err);
		ck_assert_uint_eq(acl_count(acl), 1);
		ck_assert_str_eq(acl_rule_at(acl, 0)->filter, r.filter);
	} else {
		ck_assert_msg(rc == -1, "\"%s\" accepted", r.filter);
		ck_assert_msg(strstr(err, valid_cases[_i].err) != NULL,
		    "\"%s\": %s", r.filter, err);
		/* Refused before anything changed. */
		ck_assert_uint_eq(acl_count(acl), 0);
	}
	acl_free(acl);
}
END_TEST

/* Depth: ACL_LEVELS_MAX levels are fine, one more is refused. */
START_TEST(validation_depth)
{
	char	f[4 * ACL_LEVELS_MAX], err[256];
	size_t	i, n = 0;

	for (i = 0; i < ACL_LEVELS_MAX; i++)
		n += (size_t)snprintf(f + n, sizeof(f) - n, "%sl",
		    i ? "/" : "");
	ck_assert_int_eq(acl_filter_check(f, err, sizeof(err)), 0);
	snprintf(f + n, sizeof(f) - n, "/x");
	ck_assert_int_eq(acl_filter_check(f, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "deeper than 64 levels"));
	/* A deep topic still reaches a '#' rule, and nothing else. */
	{
		static const struct tr rules[] = {
			{ true, ALL, "l/#", NULL, NULL },
			{ true, ALL, "l/l/l", NULL, NULL },
		};
		struct acl		*acl = build(rules, 2, NULL);
		struct acl_subject	 who = { "u", "", 0 };
		char			 t[4 * 300];

		for (i = 0, n = 0; i < 300; i++)
			n += (size_t)snprintf(t + n, sizeof(t) - n, "%sl",
			    i ? "/" : "");
		ck_assert(acl_check(acl, &who, ACL_PUBLISH,
		    (const uint8_t *)t, n, NULL));
		ck_assert(!acl_check(acl, &who, ACL_PUBLISH,
		    (const uint8_t *)"m/l", 3, NULL));
		/* A subscription deeper than any rule, '#' past the levels
		 * kept, is still validated. */
		snprintf(t + n, sizeof(t) - n, "/#/x");
		ck_assert(!acl_check(acl, &who, ACL_SUBSCRIBE,
		    (const uint8_t *)t, strlen(t), NULL));
		acl_free(acl);
	}
}
END_TEST

START_TEST(group_errors)
{
	struct acl	*acl = acl_new();
	const char	*m[] = { "a", "" };
	char		 err[256];

	ck_assert_int_eq(acl_add_group_at(acl, "g", m, 1, "f.yaml", 3, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(acl_add_group(acl, "g", m, 1, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "group \"g\" is already declared (f.yaml:3)");
	ck_assert_int_eq(acl_add_group(acl, "", m, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "empty group name");
	ck_assert_int_eq(acl_add_group(acl, "h", m, 2, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "group \"h\": empty member name");
	ck_assert_uint_eq(acl_group_count(acl), 1);
	ck_assert_str_eq(acl_group_at(acl, 0)->members[0], "a");
	ck_assert_ptr_null(acl_group_find(acl, "h"));
	acl_free(acl);
}
END_TEST

START_TEST(rule_str)
{
	static const struct tr rules[] = {
		{ true, P | R, "sensors/%u/#", NULL, NULL },
		{ false, ALL, "x", "a,b", "g" },
		{ true, S, "y", NULL, "g" },
	};
	static const char *const grp[] = { "g:a", NULL };
	struct acl	*acl = build(rules, 3, grp);
	char		 buf[256];

	acl_rule_str(acl_rule_at(acl, 0), buf, sizeof(buf));
	ck_assert_str_eq(buf, "allow publish, read \"sensors/%u/#\" to "
	    "everyone");
	acl_rule_str(acl_rule_at(acl, 1), buf, sizeof(buf));
	ck_assert_str_eq(buf, "deny all \"x\" for user a, b; group g");
	acl_rule_str(acl_rule_at(acl, 2), buf, sizeof(buf));
	ck_assert_str_eq(buf, "allow subscribe \"y\" to group g");
	acl_rule_str(acl_rule_at(acl, 2), buf, 8);
	ck_assert_str_eq(buf, "allow s");
	ck_assert_int_eq(acl_action_parse("all"), ALL);
	ck_assert_int_eq(acl_action_parse("write"), -1);
	acl_free(acl);
}
END_TEST

/* Many literal children (one table), many identities: still exact. */
START_TEST(fan_out)
{
	struct acl		*acl = acl_new();
	struct acl_rule		 r;
	struct acl_subject	 who;
	char			 f[64], u[32], err[256], *users[1];
	int			 i;

	for (i = 0; i < 20000; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(f, sizeof(f), "devices/d%d/#", i);
		snprintf(u, sizeof(u), "user%d", i);
		users[0] = u;
		r.allow = true;
		r.actions = ALL;
		r.filter = f;
		r.file = "x";
		r.line = i;
		r.users = users;
		r.n_users = 1;
		ck_assert_int_eq(acl_add_rule(acl, &r, err, sizeof(err)), 0);
		r.users = NULL;
		r.n_users = 0;
		r.everyone = true;
		snprintf(f, sizeof(f), "flat/e%d", i);
		ck_assert_int_eq(acl_add_rule(acl, &r, err, sizeof(err)), 0);
	}
	for (i = 0; i < 20000; i += 997) {
		snprintf(u, sizeof(u), "user%d", i);
		who.identity = u;
		who.client_id = "";
		who.client_id_len = 0;
		snprintf(f, sizeof(f), "devices/d%d/t", i);
		ck_assert(acl_check(acl, &who, ACL_PUBLISH,
		    (const uint8_t *)f, strlen(f), NULL));
		snprintf(f, sizeof(f), "devices/d%d/t", i + 1);
		ck_assert(!acl_check(acl, &who, ACL_PUBLISH,
		    (const uint8_t *)f, strlen(f), NULL));
		snprintf(f, sizeof(f), "flat/e%d", i);
		ck_assert(acl_check(acl, &who, ACL_READ,
		    (const uint8_t *)f, strlen(f), NULL));
	}
	acl_free(acl);
}
END_TEST

/*
 * The three ways a rule can be matched agree: everyone's trie, an
 * identity's flat rules (up to 8) and an identity's own trie (past 8,
 * after the flat rules moved there).  Random rules over a small alphabet,
 * random topics and filters, every action: same answer, same rule.
 */
static void
random_topic(char *buf, size_t len, bool filter)
{
	static const char *const lv[] = {
		"a", "b", "alice", "cid", "$x", "", "+", "#"
	};
	size_t		 n = 0, depth = 1 + tu_rand(4), i;
	const char	*l;

	buf[0] = '\0';
	for (i = 0; i < depth; i++) {
		do
			l = lv[tu_rand(filter ? 8 : 6)];
		while ((*l == '#' && i + 1 < depth) || (*l == '$' && i > 0));
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "/" : "",
		    l);
	}
}

/* A rule's filter of 1 to 3 levels, "%u", "%c" and wildcards among them. */
static void
random_filter(char *buf, size_t size)
{
	static const char *const lv[] = {
		"a", "b", "alice", "cid", "$x", "", "+", "#", "%u", "%c"
	};
	const char	*l;
	size_t		 depth = 1 + tu_rand(3), len = 0, j;

	for (j = 0; j < depth; j++) {
		do
			l = lv[tu_rand(10)];
		while ((*l == '#' && j + 1 < depth) || (*l == '$' && j > 0));
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    j ? "/" : "", l);
	}
	if (buf[0] == '\0')
		snprintf(buf, size, "a");
}

START_TEST(flat_vs_trie)
{
	char			 f[24][64], t[64], err[256], *users[1];
	struct acl		*acl[3];
	struct acl_rule		 r;
	struct acl_subject	 who = { "alice", "cid", 3 };
	struct acl_verdict	 v[3];
	size_t			 n, i, k;
	unsigned		 a;
	int			 iter, rc;

	tu_srand(88172645463325252ULL);
	for (iter = 0; iter < 600; iter++) {
		n = 1 + tu_rand(iter % 2 ? 8 : 20);	/* flat, or more */
		for (k = 0; k < 3; k++)
			acl[k] = acl_new();
		for (i = 0; i < n; i++) {
			random_filter(f[i], sizeof(f[i]));
			memset(&r, 0, sizeof(r));
			r.allow = tu_rand(3) != 0;
			r.actions = 1 + tu_rand(7);
			r.filter = f[i];
			r.file = "x";
			r.line = (int)i;
			for (k = 0; k < 3; k++) {
				/* 0: everyone; 1: alice's; 2: bob's (never
				 * matches alice) and alice's as a group. */
				users[0] = k == 1 ? "alice" : "bob";
				r.users = k == 0 ? NULL : users;
				r.n_users = k == 0 ? 0 : 1;
				r.everyone = k == 0;
				rc = acl_add_rule(acl[k], &r, err,
				    sizeof(err));
				ck_assert_msg(rc == 0, "%s: %s", f[i], err);
			}
		}
		for (i = 0; i < 40; i++) {
			a = 1u << tu_rand(3);
			random_topic(t, sizeof(t), a == ACL_SUBSCRIBE);
			for (k = 0; k < 2; k++)
				acl_check(acl[k], &who, (enum acl_action)a,
				    (const uint8_t *)t, strlen(t), &v[k]);
			ck_assert_msg(v[0].allow == v[1].allow &&
			    (v[0].rule == NULL) == (v[1].rule == NULL) &&
			    (v[0].rule == NULL || v[0].rule->line ==
			    v[1].rule->line), "%zu rules, %s \"%s\": "
			    "everyone %s (%d), alice %s (%d)", n,
			    acl_action_str((enum acl_action)a), t,
			    v[0].allow ? "allow" : "deny",
			    v[0].rule ? v[0].rule->line : -1,
			    v[1].allow ? "allow" : "deny",
			    v[1].rule ? v[1].rule->line : -1);
			/* bob's rules are not alice's. */
			ck_assert(!acl_check(acl[2], &who, (enum acl_action)a,
			    (const uint8_t *)t, strlen(t), NULL));
		}
		for (k = 0; k < 3; k++)
			acl_free(acl[k]);
	}
}
END_TEST

/*
 * The session's decision cache answers as acl_check() does: random rule
 * sets (everyone, users, a group; "%u", "%c", wildcards, '$' levels),
 * random questions from a small vocabulary so that most repeat, from
 * identities and client ids that change between questions, topics too
 * long for a slot, shared subscriptions.  One cache lives through every
 * index, as a session's does through reloads: the index freed and the
 * next one made (often at the same address) must never meet the old
 * entries.  Same verdict, same deciding rule, every time.
 */
START_TEST(cache_vs_uncached)
{
	static const struct acl_subject subj[] = {
		{ "alice", "cid", 3 }, { "bob", "cid", 3 }, { "alice", "a", 1 },
		{ "carol", "", 0 },
	};
	char			 f[24][64], t[200], err[256], *users[1];
	const char		*members[] = { "alice", "carol" }, *grp[1];
	struct acl		*acl;
	struct acl_rule		 r;
	struct acl_cache	 cache;
	struct acl_verdict	 v, cv;
	const struct acl_subject *who;
	size_t			 n, i, len;
	unsigned		 a, hits = 0;
	int			 iter;

	tu_srand(0x9e3779b97f4a7c15ULL);
	acl_cache_clear(&cache);
	for (iter = 0; iter < 400; iter++) {
		acl = acl_new();
		ck_assert_int_eq(acl_add_group(acl, "g", members, 2, err,
		    sizeof(err)), 0);
		n = 1 + tu_rand(20);
		for (i = 0; i < n; i++) {
			random_filter(f[i], sizeof(f[i]));
			memset(&r, 0, sizeof(r));
			r.allow = tu_rand(3) != 0;
			r.actions = 1 + tu_rand(7);
			r.filter = f[i];
			r.file = "x";
			r.line = (int)i;
			users[0] = tu_rand(2) ? "alice" : "bob";
			grp[0] = "g";
			switch (tu_rand(3)) {
			case 0:
				r.everyone = true;
				break;
			case 1:
				r.users = users;
				r.n_users = 1;
				break;
			default:
				r.groups = (char **)grp;
				r.n_groups = 1;
				break;
			}
			ck_assert_msg(acl_add_rule(acl, &r, err,
			    sizeof(err)) == 0, "%s: %s", r.filter, err);
		}
		for (i = 0; i < 60; i++) {
			/* Six questions per index, asked ten times over. */
			if (i % 6 == 0)
				tu_srand(0x51ed2701ULL * (uint64_t)(iter + 1));
			a = 1u << tu_rand(3);
			who = &subj[tu_rand(5) == 0 ? tu_rand(4) :
			    (unsigned)iter % 4];
			len = 0;
			if (a == ACL_SUBSCRIBE && tu_rand(6) == 0)
				len = (size_t)snprintf(t, sizeof(t),
				    "$share/s/");
			else if (tu_rand(10) == 0)
				len = (size_t)snprintf(t, sizeof(t), "%070d/",
				    0);
			random_topic(t + len, sizeof(t) - len,
			    a == ACL_SUBSCRIBE);
			len = strlen(t);
			acl_check(acl, who, (enum acl_action)a,
			    (const uint8_t *)t, len, &v);
			ck_assert_int_eq(acl_check_cached(acl, &cache, who,
			    (enum acl_action)a, (const uint8_t *)t, len, &cv),
			    v.allow);
			ck_assert_msg(cv.allow == v.allow && cv.rule == v.rule,
			    "%s %s \"%s\": cached %s (%d), uncached %s (%d)",
			    who->identity, acl_action_str((enum acl_action)a),
			    t, cv.allow ? "allow" : "deny", cv.rule ?
			    cv.rule->line : -1, v.allow ? "allow" : "deny",
			    v.rule ? v.rule->line : -1);
		}
		hits += (unsigned)cache.hits;
		cache.hits = 0;
		acl_free(acl);
	}
	/* The cache was used, not just passed through. */
	ck_assert_uint_gt(hits, 400 * 60 / 8);
	ck_assert_uint_gt(cache.misses, 400 * 5);
}
END_TEST

/* A reload, a new identity or client id: the old entries are not used. */
START_TEST(cache_invalidation)
{
	struct acl		*acl[2];
	struct acl_rule		 r;
	struct acl_cache	 cache;
	struct acl_verdict	 v;
	struct acl_subject	 who = { "alice", "c1", 2 };
	char			 err[256], *users[1] = { "alice" };
	const uint8_t		*t = (const uint8_t *)"d/c1";
	int			 k;

	for (k = 0; k < 2; k++) {
		acl[k] = acl_new();
		memset(&r, 0, sizeof(r));
		r.allow = k == 0;
		r.actions = ACL_ALL;
		r.filter = "d/%c";
		r.file = "x";
		r.line = k + 1;
		r.users = users;
		r.n_users = 1;
		ck_assert_int_eq(acl_add_rule(acl[k], &r, err, sizeof(err)),
		    0);
	}
	acl_cache_clear(&cache);
	ck_assert(acl_check_cached(acl[0], &cache, &who, ACL_PUBLISH, t, 4,
	    &v));
	ck_assert(acl_check_cached(acl[0], &cache, &who, ACL_PUBLISH, t, 4,
	    &v));
	ck_assert_uint_eq(cache.hits, 1);
	/* The reloaded policy denies: its verdict, its rule. */
	ck_assert(!acl_check_cached(acl[1], &cache, &who, ACL_PUBLISH, t, 4,
	    &v));
	ck_assert_ptr_eq(v.rule, acl_rule_at(acl[1], 0));
	ck_assert_uint_eq(cache.hits, 1);
	/* Another client id: "%c" no longer matches; another identity. */
	who.client_id = "c2";
	ck_assert(!acl_check_cached(acl[0], &cache, &who, ACL_PUBLISH, t, 4,
	    &v));
	ck_assert_ptr_null(v.rule);
	who.client_id = "c1";
	who.identity = "bob";
	ck_assert(!acl_check_cached(acl[0], &cache, &who, ACL_PUBLISH, t, 4,
	    &v));
	ck_assert_uint_eq(cache.hits, 1);
	/* No cache: acl_check() itself. */
	who.identity = "alice";
	ck_assert(acl_check_cached(acl[0], NULL, &who, ACL_PUBLISH, t, 4,
	    &v));
	acl_free(acl[0]);
	acl_free(acl[1]);
}
END_TEST

/* Long identities and many groups leave the record: still found. */
START_TEST(big_identities)
{
	static const char *const names[] = {
		"a-very-long-identity-name-that-does-not-fit-in-the-record-"
		    "of-two-cache-lines-at-all-x",
		"short",
	};
	struct acl		*acl = acl_new();
	struct acl_rule		 r;
	struct acl_subject	 who;
	char			 g[32], f[64], err[256], *users[1];
	const char		*m[2] = { names[0], names[1] };
	int			 i, k;

	for (i = 0; i < 40; i++) {
		snprintf(g, sizeof(g), "group%d", i);
		ck_assert_int_eq(acl_add_group(acl, g, m, 2, err,
		    sizeof(err)), 0);
		memset(&r, 0, sizeof(r));
		snprintf(f, sizeof(f), "g/%d/#", i);
		r.allow = true;
		r.actions = ALL;
		r.filter = f;
		r.file = "x";
		r.line = i;
		r.groups = (char **)&m[0];
		users[0] = g;
		r.groups = users;
		r.n_groups = 1;
		ck_assert_int_eq(acl_add_rule(acl, &r, err, sizeof(err)), 0);
	}
	for (k = 0; k < 2; k++) {
		memset(&r, 0, sizeof(r));
		snprintf(f, sizeof(f), "own/%d", k);
		users[0] = (char *)names[k];
		r.allow = true;
		r.actions = ALL;
		r.filter = f;
		r.file = "x";
		r.line = 100 + k;
		r.users = users;
		r.n_users = 1;
		ck_assert_int_eq(acl_add_rule(acl, &r, err, sizeof(err)), 0);
	}
	for (k = 0; k < 2; k++) {
		who.identity = names[k];
		who.client_id = "";
		who.client_id_len = 0;
		for (i = 0; i < 40; i++) {
			snprintf(f, sizeof(f), "g/%d/x", i);
			ck_assert(acl_check(acl, &who, ACL_READ,
			    (const uint8_t *)f, strlen(f), NULL));
		}
		snprintf(f, sizeof(f), "own/%d", k);
		ck_assert(acl_check(acl, &who, ACL_READ, (const uint8_t *)f,
		    strlen(f), NULL));
		snprintf(f, sizeof(f), "own/%d", 1 - k);
		ck_assert(!acl_check(acl, &who, ACL_READ, (const uint8_t *)f,
		    strlen(f), NULL));
	}
	/* The longest identity MQTT can carry. */
	{
		char	*huge = malloc(ACL_TOPIC_MAX + 1), *u[1];

		memset(huge, 'h', ACL_TOPIC_MAX);
		huge[ACL_TOPIC_MAX] = '\0';
		memset(&r, 0, sizeof(r));
		u[0] = huge;
		r.allow = true;
		r.actions = ALL;
		r.filter = "huge/%u";
		r.file = "x";
		r.users = u;
		r.n_users = 1;
		ck_assert_int_eq(acl_add_rule(acl, &r, err, sizeof(err)), 0);
		ck_assert_int_eq(acl_add_group(acl, "hg", (const char **)u, 1,
		    err, sizeof(err)), 0);
		who.identity = huge;
		ck_assert(acl_check(acl, &who, ACL_READ,
		    (const uint8_t *)"huge/x", 6, NULL) == false);
		free(huge);
	}
	/* A prefix of a long name is another identity. */
	who.identity = "a-very-long-identity";
	ck_assert(!acl_check(acl, &who, ACL_READ, (const uint8_t *)"g/1/x",
	    5, NULL));
	acl_free(acl);
}
END_TEST

/* A NULL index, subject or topic is a deny, never a crash. */
START_TEST(null_safety)
{
	static const struct tr rules[] = { { true, ALL, "#", NULL, NULL } };
	struct acl		*acl = build(rules, 1, NULL);
	struct acl_subject	 who = { "u", NULL, 0 };
	struct acl_verdict	 v;

	ck_assert(!acl_check(NULL, &who, ACL_PUBLISH,
	    (const uint8_t *)"a", 1, &v));
	ck_assert_ptr_null(v.rule);
	ck_assert(!acl_check(acl, NULL, ACL_PUBLISH,
	    (const uint8_t *)"a", 1, &v));
	ck_assert(!acl_check(acl, &who, ACL_PUBLISH, NULL, 0, &v));
	/* client_id NULL means "". */
	ck_assert(acl_check(acl, &who, ACL_PUBLISH,
	    (const uint8_t *)"a", 1, NULL));
	/* Topics are bounded by length, not by a NUL. */
	ck_assert(acl_check(acl, &who, ACL_PUBLISH,
	    (const uint8_t *)"ab", 1, NULL));
	acl_free(acl);
}
END_TEST

/* ---- lint ----------------------------------------------------------- */

struct lint_out {
	char	buf[8192];
	size_t	n, count;
};

static void
lint_cb(void *arg, const char *file, int line, const char *msg)
{
	struct lint_out	*o = arg;

	o->count++;
	o->n += (size_t)snprintf(o->buf + o->n, sizeof(o->buf) - o->n,
	    "%s:%d: %s\n", file != NULL ? file : "-", line, msg);
}

START_TEST(lint_rules)
{
	static const struct tr rules[] = {
		{ true, ALL, "#", NULL, NULL },			/* 0 broad */
		{ true, R, "+/#", "ops", NULL },		/* 1 broad */
		{ true, R, "#", "root", NULL },			/* 2 */
		{ true, P, "a/b", NULL, NULL },			/* 3 */
		{ true, P, "a/b", NULL, NULL },			/* 4 dup */
		{ false, P, "c/d", NULL, NULL },		/* 5 */
		{ true, P | R, "c/d", "alice", NULL },		/* 6 never */
		{ false, ALL, "e/#", NULL, "g" },		/* 7 */
		{ true, R, "e", "alice", NULL },		/* 8 never */
		{ true, P, "anon/x", "anonymous", NULL },	/* 9 anon */
		{ true, R, "ghost/x", "ghost", NULL },		/* 10 */
		{ true, R, "void/x", NULL, "empty" },		/* 11 */
		{ true, P, "f", NULL, NULL },			/* 12 */
		{ true, P, "f/#", NULL, NULL },			/* 13 */
	};
	static const char *const grp[] = {
		"g:alice,bob", "empty:", "unused:bob", NULL
	};
	static const struct acl_lint_user users[] = {
		{ "alice", "pw", 1 }, { "bob", "pw", 2 },
		{ "carol", "pw", 3 }, { "root", "pw", 4 }, { "ops", "pw", 5 },
	};
	struct acl		*acl = build(rules, NELEM(rules), grp);
	struct acl_lint_ctx	 ctx;
	struct lint_out		 o;
	struct acl_rule		*r;

	/* admin: true quiets the broad rule of a user, not of everyone. */
	r = (struct acl_rule *)acl_rule_at(acl, 2);
	r->admin = true;
	r = (struct acl_rule *)acl_rule_at(acl, 0);
	r->admin = true;
	memset(&ctx, 0, sizeof(ctx));
	memset(&o, 0, sizeof(o));
	ctx.anonymous_identity = "anonymous";
	ctx.anonymous = true;
	ctx.users = users;
	ctx.n_users = NELEM(users);
	ctx.users_known = true;
	acl_lint(acl, &ctx, lint_cb, &o);
#define HAS(s)	ck_assert_msg(strstr(o.buf, s) != NULL, "missing: %s\n%s", \
	    s, o.buf)
#define HASNT(s) ck_assert_msg(strstr(o.buf, s) == NULL, "unexpected: %s\n" \
	    "%s", s, o.buf)
	HAS("fixture:0: allows publish, subscribe, read on \"#\" to everyone");
	HAS("fixture:1: allows read on \"+/#\" to users or groups not marked "
	    "admin: true");
	HASNT("fixture:2: allows");
	HAS("fixture:4: rule is redundant: the allow at fixture:3 (\"a/b\") "
	    "already allows");
	HASNT("fixture:3: rule is redundant");
	HAS("fixture:6: rule never decides for publish: the deny at "
	    "fixture:5 (\"c/d\")");
	HAS("fixture:8: rule never decides: the deny at fixture:7 (\"e/#\")");
	HAS("fixture:9: gives publish on \"anon/x\" to the anonymous "
	    "identity");
	HAS("fixture:0: gives publish on \"#\" to everyone while "
	    "auth.anonymous is true");
	HAS("fixture:10: user \"ghost\" is not in the password file");
	HAS("fixture:11: group \"empty\" has no members");
	HAS("fixture:12: rule is redundant: the allow at fixture:13 "
	    "(\"f/#\")");
	HASNT("fixture:13: rule is redundant");
	HAS("-:0: group \"unused\" is declared but no rule names it");
	/* There is an everyone rule: no "user has no rule" findings. */
	HASNT("has no rule");
	acl_free(acl);

	/* Without everyone rules, users without a rule are named. */
	{
		static const struct tr r2[] = {
			{ true, P, "x", "alice", NULL },
			{ true, P, "y", NULL, "g" },
		};
		static const char *const g2[] = { "g:bob", NULL };

		acl = build(r2, NELEM(r2), g2);
		memset(&o, 0, sizeof(o));
		ctx.anonymous = false;
		acl_lint(acl, &ctx, lint_cb, &o);
		HAS("pw:3: user \"carol\" has no rule");
		HASNT("\"alice\" has no rule");
		HASNT("\"bob\" has no rule");
		acl_free(acl);
	}
	/* Certificate identities may be anything: no "not in the
	 * password file". */
	{
		static const struct tr r3[] = {
			{ true, P, "x", "device-7", NULL },
			{ true, P, "x", "anonymous", NULL },
		};

		acl = build(r3, NELEM(r3), NULL);
		memset(&o, 0, sizeof(o));
		ctx.cert_identities = true;
		acl_lint(acl, &ctx, lint_cb, &o);
		HASNT("device-7");
		HAS("names the anonymous identity \"anonymous\", but "
		    "auth.anonymous is false");
		acl_free(acl);
	}
#undef HAS
#undef HASNT
}
END_TEST

/* ---- config: the acl section ---------------------------------------- */

START_TEST(config_valid)
{
	struct config_errors	*e;
	struct policy		*p;
	const struct acl_rule	*r;
	const struct acl_group	*g;
	struct acl_verdict	 v;
	size_t			 i;

	p = tu_load("test/data/acl-valid.yaml", CONFIG_PARTIAL, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_ptr_nonnull(p->acl);
	ck_assert_int_eq(p->acl_deny_v3, POLICY_DENY_DISCONNECT);
	ck_assert_uint_eq(p->n_listeners, 0);
	/* topics: [a, b] is one rule per filter, at the rule's line;
	 * groups and the included file come first, whatever the order. */
	ck_assert_uint_eq(acl_count(p->acl), 8);
	r = acl_rule_at(p->acl, 0);
	ck_assert_str_eq(r->filter, "included/%c");
	ck_assert_str_eq(r->file, "test/data/acl-include.yaml");
	ck_assert_int_eq(r->line, 6);
	r = acl_rule_at(p->acl, 2);
	ck_assert_str_eq(r->filter, "sensors/%u/#");
	ck_assert_str_eq(r->file, "test/data/acl-valid.yaml");
	ck_assert_int_eq(r->line, 6);
	ck_assert(r->everyone && r->allow && r->actions == ACL_PUBLISH);
	r = acl_rule_at(p->acl, 4);
	ck_assert_str_eq(r->filter, "status/+");
	ck_assert_int_eq(r->line, 8);
	ck_assert_uint_eq(r->actions, ACL_SUBSCRIBE | ACL_READ);
	ck_assert_str_eq(r->groups[0], "admins");
	r = acl_rule_at(p->acl, 6);
	ck_assert(r->admin && r->n_users == 1 && !r->everyone);
	r = acl_rule_at(p->acl, 7);
	ck_assert(!r->allow && r->n_users == 1 && r->n_groups == 1);
	ck_assert_uint_eq(acl_group_count(p->acl), 3);
	g = acl_group_find(p->acl, "sensors");
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(g->n_members, 2);
	ck_assert_int_eq(g->line, 22);
	ck_assert_str_eq(acl_group_at(p->acl, 2)->file,
	    "test/data/acl-include.yaml");
	/* The policy's tests, all passing. */
	ck_assert_uint_eq(acl_test_count(p->acl), 7);
	for (i = 0; i < acl_test_count(p->acl); i++)
		ck_assert_msg(acl_test_run(p->acl, acl_test_at(p->acl, i),
		    p->auth.anonymous_identity, &v), "test at line %d",
		    acl_test_at(p->acl, i)->line);
	ck_assert_int_eq(acl_test_at(p->acl, 5)->line, 31);
	ck_assert_str_eq(acl_test_at(p->acl, 5)->client_id, "dev-7");
	ck_assert_ptr_null(acl_test_at(p->acl, 6)->identity);
	ck_assert_uint_eq(acl_cmd_run_tests(p, stderr), 0);
	policy_unref(p);
	free(e);

	/* The daemon's loader wants listeners and upstream. */
	p = tu_load("test/data/acl-valid.yaml", 0, &e);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(e->n, 2);
	ck_assert_str_eq(e->msg[0], "test/data/acl-valid.yaml:3:1: "
	    "listeners: required key is missing");
	free(e);

	/* A whole policy with an acl section. */
	p = tu_load("test/data/acl-full-policy.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(acl_count(p->acl), 1);
	ck_assert_int_eq(p->acl_deny_v3, POLICY_DENY_DROP);
	policy_unref(p);
	free(e);

	/* No acl section: NULL, every topic allowed. */
	p = tu_load("test/data/valid-minimal.yaml", CONFIG_PARTIAL, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_ptr_null(p->acl);
	policy_unref(p);
	free(e);
}
END_TEST

START_TEST(config_tests_fail)
{
	struct config_errors	*e;
	struct policy		*p;
	FILE			*out;
	char			*buf = NULL;
	size_t			 len = 0;

	p = tu_load("test/data/acl-tests-fail.yaml", CONFIG_PARTIAL, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_ptr_nonnull(out = open_memstream(&buf, &len));
	ck_assert_uint_eq(acl_cmd_run_tests(p, out), 2);
	fclose(out);
	ck_assert_str_eq(buf,
	    "test/data/acl-tests-fail.yaml:7: test failed: user u publish "
	    "\"b\": expected allow, got deny by default deny (no rule "
	    "matches)\n"
	    "test/data/acl-tests-fail.yaml:8: test failed: user u subscribe "
	    "\"a/#\": expected deny, got allow by "
	    "test/data/acl-tests-fail.yaml:3: allow all \"a/#\" to everyone\n"
	    "mqttguard: 4 policy tests, 2 failed\n");
	free(buf);
	policy_unref(p);
	free(e);
}
END_TEST

static const struct {
	const char	*file;
	const char	*first;		/* after "test/data/" */
} config_bad[] = {
	{ "acl-bad-filter", "acl-bad-filter.yaml:4:14: acl.rules[0].topic: "
	    "'#' must be the last level" },
	{ "acl-bad-pct-level", "acl-bad-pct-level.yaml:4:14: "
	    "acl.rules[0].topic: \"%u\" must be a whole level, as in "
	    "\"devices/%u/#\": it is compared with the identity as one level, "
	    "never pasted into a longer one (\"dev-%u\")" },
	{ "acl-bad-share", "acl-bad-share.yaml:4:14: acl.rules[0].topic: "
	    "\"$share/g/a\" names a shared subscription: a rule names the "
	    "filter inside it (\"$share/group/\" is removed before the "
	    "check)" },
	{ "acl-bad-action", "acl-bad-action.yaml:3:24: "
	    "acl.rules[0].allow[1]: \"publsh\" is not one of: publish, "
	    "subscribe, read, all" },
	{ "acl-bad-both", "acl-bad-both.yaml:3:7: acl.rules[0]: has both "
	    "allow: and deny:; write two rules" },
	{ "acl-bad-no-kind", "acl-bad-no-kind.yaml:3:7: acl.rules[0]: needs "
	    "allow: or deny: (publish, subscribe, read or all)" },
	{ "acl-bad-no-topic", "acl-bad-no-topic.yaml:3:7: acl.rules[0]: "
	    "needs topic: or topics:" },
	{ "acl-bad-topic-topics", "acl-bad-topic-topics.yaml:5:15: "
	    "acl.rules[0]: has both topic: and topics:" },
	{ "acl-bad-unknown-group", "acl-bad-unknown-group.yaml:7:19: "
	    "acl.rules[0].groups[1]: group \"h\" is not declared in "
	    "acl.groups" },
	{ "acl-bad-empty-users", "acl-bad-empty-users.yaml:5:14: "
	    "acl.rules[0].users: empty list: leave users: out for a rule for "
	    "everyone" },
	{ "acl-bad-unknown-key", "acl-bad-unknown-key.yaml:5:7: "
	    "acl.rules[0].user: unknown key" },
	{ "acl-bad-deny-v3", "acl-bad-deny-v3.yaml:2:19: acl.deny_action_v3: "
	    "\"reject\" is not one of: drop, disconnect" },
	{ "acl-bad-hash-comment", "acl-bad-hash-comment.yaml:4:13: "
	    "acl.rules[0].topic: empty topic filter (a bare # starts a YAML "
	    "comment: write \"#\")" },
	{ "acl-bad-include-missing", "acl-bad-include-missing.yaml:2:12: "
	    "acl.include: test/data/no-such-acl.yaml: No such file or "
	    "directory" },
	{ "acl-bad-include-error", "acl-bad-filter.yaml:4:14: "
	    "acl.rules[0].topic: '#' must be the last level" },
	{ "acl-bad-include-deny-v3", "acl-bad-deny-v3.yaml:2:19: "
	    "acl.deny_action_v3: only the main policy file may set it" },
	{ "acl-bad-include-cycle", "acl-bad-include-cycle.yaml:2:12: "
	    "acl.include: included files nest deeper than 8 (do they include "
	    "each other?)" },
	{ "acl-bad-dup-group", "acl-dup-group-inc.yaml:3:5: acl.groups.g: "
	    "group \"g\" is already declared "
	    "(test/data/acl-bad-dup-group.yaml:3)" },
	{ "acl-bad-group-member", "acl-bad-group-member.yaml:3:12: "
	    "acl.groups.g[1]: expected a non-empty name" },
	{ "acl-bad-rules-type", "acl-bad-rules-type.yaml:3:5: acl.rules: "
	    "expected a list of rules" },
	{ "acl-bad-tests-both", "acl-bad-tests-both.yaml:6:5: tests[0]: "
	    "needs user: or anonymous: true (one of them)" },
	{ "acl-bad-tests-wildcard", "acl-bad-tests-wildcard.yaml:6:5: "
	    "tests[0]: not a valid topic name (a wildcard is for subscribe)" },
	{ "acl-bad-tests-no-acl", "acl-bad-tests-no-acl.yaml:2:3: tests: "
	    "there is no acl section to test (and without one every topic "
	    "is allowed)" },
	{ "acl-bad-tests-expect", "acl-bad-tests-expect.yaml:4:50: "
	    "tests[0].expect: \"maybe\" is not one of: allow, deny" },
	{ "acl-bad-half", "acl-bad-half.yaml:1:1: upstream: required key is "
	    "missing" },
};

START_TEST(config_invalid)
{
	char	path[128], want[CONFIG_ERROR_LEN];

	snprintf(path, sizeof(path), "test/data/%s.yaml", config_bad[_i].file);
	snprintf(want, sizeof(want), "test/data/%s", config_bad[_i].first);
	tu_load_refused(path, CONFIG_PARTIAL, 1, want);
}
END_TEST

/* ---- import-acl ----------------------------------------------------- */

static const char *const import_good[] = {
	"mosquitto-example", "mosquitto-full"
};

START_TEST(import_expected)
{
	char	 src[128], want[128], err[1024], *buf = NULL, *exp;
	size_t	 len = 0;
	FILE	*out;

	snprintf(src, sizeof(src), "test/data/%s.acl", import_good[_i]);
	snprintf(want, sizeof(want), "test/data/%s.acl.yaml",
	    import_good[_i]);
	ck_assert_ptr_nonnull(out = open_memstream(&buf, &len));
	ck_assert_msg(acl_import_convert(src, "anonymous", out, err,
	    sizeof(err)) == 0, "%s", err);
	fclose(out);
	exp = tu_read_file(want, NULL);
	if (strcmp(buf, exp) != 0) {
		size_t	i;

		for (i = 0; buf[i] == exp[i]; i++)
			;
		ck_abort_msg("%s differs from %s at byte %zu: \"%.60s\" "
		    "instead of \"%.60s\"", src, want, i, buf + i, exp + i);
	}
	free(exp);
	free(buf);
}
END_TEST

static const struct {
	const char	*file;
	const char	*err;		/* after "test/data/<file>.acl:" */
} import_bad[] = {
	{ "mosquitto-bad-line", "3: not a topic, pattern or user line "
	    "(\"topics\")" },
	{ "mosquitto-bad-access", "2: access \"rw\" is not read, write, "
	    "readwrite or deny" },
	{ "mosquitto-bad-pct-level", "1: \"devices/dev-%u/#\": \"%u\" must "
	    "be a whole level, as in \"devices/%u/#\": it is compared with "
	    "the identity as one level, never pasted into a longer one "
	    "(\"dev-%u\")" },
	{ "mosquitto-bad-topic-pct", "2: \"devices/%u\": in a topic line "
	    "\"%u\" and \"%c\" are literal text for Mosquitto, but mqttguard "
	    "reads a \"%u\"/\"%c\" level as the identity/client id; make it a "
	    "pattern line, or rename the level" },
	{ "mosquitto-bad-conflict", "3: topic \"devices/#\" gives alice what "
	    "the deny \"devices/+/secret\" (from line 4) takes away; "
	    "Mosquitto allows it, as it reads a client's own lines before "
	    "the patterns, but in mqttguard the deny is at least as specific "
	    "and wins.  This exception cannot be written as mqttguard rules: "
	    "narrow the deny, or split it by user" },
	{ "mosquitto-bad-user", "2: missing username after \"user\"" },
	{ "mosquitto-bad-filter", "1: \"a/#/b\": '#' must be the last "
	    "level" },
	{ "mosquitto-bad-anonymous", "1: user \"anonymous\" is also the "
	    "identity of clients without a username in mqttguard; choose "
	    "another with --anonymous-identity" },
	{ "mosquitto-bad-utf8", "2: line is not valid UTF-8 (user names and "
	    "topics are UTF-8 strings in MQTT)" },
};

START_TEST(import_errors)
{
	char	 src[128], want[1024], err[1024], *buf = NULL;
	size_t	 len = 0;
	FILE	*out;

	snprintf(src, sizeof(src), "test/data/%s.acl", import_bad[_i].file);
	ck_assert_ptr_nonnull(out = open_memstream(&buf, &len));
	ck_assert_int_eq(acl_import_convert(src, "anonymous", out, err,
	    sizeof(err)), -1);
	fclose(out);
	ck_assert_uint_eq(len, 0);	/* nothing half-written */
	snprintf(want, sizeof(want), "%s:%s", src, import_bad[_i].err);
	ck_assert_str_eq(err, want);
	free(buf);
}
END_TEST

/*
 * Characters a YAML reader refuses or folds (C1 controls, U+2028/U+2029,
 * the byte order mark, U+FFFE/U+FFFF) are escaped in the section, so that
 * it loads and its rules hold the topics and user name byte for byte.
 * Found by test/fuzz/fuzz_acl_file.c.
 */
START_TEST(import_escapes)
{
	static const char *const want[] = {
		"a/\xc2\x85/%u",
		"b/\xe2\x80\xa8\xe2\x80\xa9/\xef\xbb\xbf",
		"c/\xef\xbf\xbe\xef\xbf\xbf/\xc3\xa9\"\\",
	};
	char		 dir[] = "/tmp/check_acl.XXXXXX", sec[64], pol[64];
	char		 err[1024];
	struct config_errors *errs;
	struct policy	*p;
	const struct acl_rule *r = NULL;
	FILE		*out;
	size_t		 i, j;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sec, sizeof(sec), "%s/imported.yaml", dir);
	snprintf(pol, sizeof(pol), "%s/policy.yaml", dir);
	ck_assert_ptr_nonnull(out = fopen(sec, "w"));
	ck_assert_msg(acl_import_convert("test/data/mosquitto-escapes.acl",
	    "anonymous", out, err, sizeof(err)) == 0, "%s", err);
	fclose(out);
	ck_assert_ptr_nonnull(out = fopen(pol, "w"));
	fprintf(out, "acl:\n  include: imported.yaml\n");
	fclose(out);
	p = tu_load(pol, CONFIG_PARTIAL, &errs);
	ck_assert_msg(p != NULL, "%s", errs->n > 0 ? errs->msg[0] : "");
	free(errs);
	for (i = 0; i < NELEM(want); i++) {
		for (j = 0; j < acl_count(p->acl); j++)
			if (strcmp((r = acl_rule_at(p->acl, j))->filter,
			    want[i]) == 0)
				break;
		ck_assert_msg(j < acl_count(p->acl), "no rule for \"%s\"",
		    want[i]);
	}
	/* The last one, a topic line of user "u\u0090". */
	ck_assert_uint_eq(r->n_users, 1);
	ck_assert_str_eq(r->users[0], "u\xc2\x90");
	policy_unref(p);
	tu_rm_tree(dir);
}
END_TEST

/*
 * Mosquitto 2.0's acl_file decision (src/security_default.c): the
 * client's own list (its deny lines first, then its lines in order; a
 * client without a username has the lines before the first "user"), then
 * the patterns the same way ("%u" patterns skipped without a username);
 * the first match decides, a deny at once, an allow if it grants the
 * access; default deny.  Matching as mosquitto_topic_matches_sub(), with
 * "%u"/"%c" whole levels.
 */
struct mref {
	bool	 pattern;
	char	 user[32];		/* "": no username */
	unsigned access;		/* 1 read, 2 write, 0 deny */
	char	 topic[128];
};

static bool
mref_match(const char *sub, const char *topic, const char *user,
    const char *cid, bool pattern)
{
	char		 s[128], t[256], *sv[32], *tv[64], *p;
	size_t		 ns = 0, nt = 0, i;

	if ((sub[0] == '$') != (topic[0] == '$'))
		return false;
	snprintf(s, sizeof(s), "%s", sub);
	snprintf(t, sizeof(t), "%s", topic);
	/* Split keeping empty levels. */
	for (p = s, sv[ns++] = p; (p = strchr(p, '/')) != NULL; sv[ns++] = ++p)
		*p = '\0';
	for (p = t, tv[nt++] = p; (p = strchr(p, '/')) != NULL; tv[nt++] = ++p)
		*p = '\0';
	for (i = 0; i < ns; i++) {
		if (strcmp(sv[i], "#") == 0)
			return true;
		if (i == nt)
			return false;
		if (strcmp(sv[i], "+") == 0)
			continue;
		if (pattern && strcmp(sv[i], "%u") == 0) {
			if (user == NULL || *user == '\0' ||
			    strcmp(user, tv[i]) != 0)
				return false;
			continue;
		}
		if (pattern && strcmp(sv[i], "%c") == 0) {
			if (*cid == '\0' || strcmp(cid, tv[i]) != 0)
				return false;
			continue;
		}
		if (strcmp(sv[i], tv[i]) != 0)
			return false;
	}
	return ns == nt;
}

static bool
mref_check(const struct mref *m, size_t n, const char *user,
    const char *cid, const char *topic, unsigned access)
{
	const char	*u = user != NULL ? user : "";
	size_t		 i;

#define MINE(i)	(!m[i].pattern && strcmp(m[i].user, u) == 0)
#define APPLIES(i) (m[i].pattern && !(strstr(m[i].topic, "%u") != NULL && \
	    user == NULL))
	for (i = 0; i < n; i++)
		if (MINE(i) && m[i].access == 0 &&
		    mref_match(m[i].topic, topic, user, cid, false))
			return false;
	for (i = 0; i < n; i++)
		if (MINE(i) && (m[i].access & access) &&
		    mref_match(m[i].topic, topic, user, cid, false))
			return true;
	for (i = 0; i < n; i++)
		if (APPLIES(i) && m[i].access == 0 &&
		    mref_match(m[i].topic, topic, user, cid, true))
			return false;
	for (i = 0; i < n; i++)
		if (APPLIES(i) && (m[i].access & access) &&
		    mref_match(m[i].topic, topic, user, cid, true))
			return true;
#undef MINE
#undef APPLIES
	return false;
}

/* The fixtures' simple lines: topic|pattern [access] T, user U. */
static size_t
mref_load(const char *path, struct mref *m, size_t max, char users[][32],
    size_t *nusers)
{
	FILE	*fp = fopen(path, "r");
	char	 line[256], *w, *a, *rest, *save, cur[32] = "";
	size_t	 n = 0;

	ck_assert_ptr_nonnull(fp);
	*nusers = 0;
	while (fgets(line, sizeof(line), fp) != NULL && n < max) {
		line[strcspn(line, "\n")] = '\0';
		save = NULL;
		if (line[0] == '#' || (w = strtok_r(line, " ", &save)) == NULL)
			continue;
		if (strcmp(w, "user") == 0) {
			snprintf(cur, sizeof(cur), "%s",
			    strtok_r(NULL, "", &save));
			snprintf(users[(*nusers)++], 32, "%s", cur);
			continue;
		}
		memset(&m[n], 0, sizeof(m[n]));
		m[n].pattern = w[0] == 'p';
		snprintf(m[n].user, sizeof(m[n].user), "%s", cur);
		a = strtok_r(NULL, " ", &save);
		if ((rest = strtok_r(NULL, "", &save)) == NULL) {
			rest = a;
			m[n].access = 3;
		} else
			m[n].access = strcmp(a, "read") == 0 ? 1 :
			    strcmp(a, "write") == 0 ? 2 :
			    strcmp(a, "readwrite") == 0 ? 3 : 0;
		snprintf(m[n].topic, sizeof(m[n].topic), "%s", rest);
		n++;
	}
	fclose(fp);
	return n;
}

/*
 * Every topic the filters can tell apart: at each level, each literal the
 * filters have there, the identities and client ids in play, and one
 * other word; depths up to one more than the deepest filter.  Calls <fn>
 * for each.
 */
struct alphabet {
	char	 w[8][40][64];		/* per level */
	size_t	 n[8];
	size_t	 depth;
};

static void
alpha_add(struct alphabet *al, size_t lv, const char *s, size_t len)
{
	size_t	i;

	if (lv >= 8 || len >= 64)
		return;
	for (i = 0; i < al->n[lv]; i++)
		if (strlen(al->w[lv][i]) == len &&
		    memcmp(al->w[lv][i], s, len) == 0)
			return;
	ck_assert_uint_lt(al->n[lv], 40);
	memcpy(al->w[lv][al->n[lv]], s, len);
	al->w[lv][al->n[lv]++][len] = '\0';
}

static size_t
differ(const struct acl *acl, const struct mref *m, size_t nm,
    const struct alphabet *al, const char *user, const char *cid,
    char *topic, size_t len, size_t lv, char *why)
{
	struct acl_subject	who;
	size_t			i, bad = 0, n;
	bool			ours, theirs;

	if (lv > 0) {
		who.identity = user != NULL ? user : "anonymous";
		who.client_id = cid;
		who.client_id_len = strlen(cid);
		for (i = 0; i < 2; i++) {
			ours = acl_check(acl, &who, i == 0 ? ACL_READ :
			    ACL_PUBLISH, (const uint8_t *)topic, len, NULL);
			theirs = mref_check(m, nm, user, cid, topic,
			    i == 0 ? 1 : 2);
			if (ours == theirs)
				continue;
			if (bad++ == 0 && why[0] == '\0')
				snprintf(why, 512, "%s %s \"%s\" (client id "
				    "%s): mqttguard %s, Mosquitto %s",
				    user ? user : "(anonymous)", i == 0 ?
				    "read" : "publish", topic, cid, ours ?
				    "allows" : "denies", theirs ? "allows" :
				    "denies");
		}
	}
	if (lv == al->depth)
		return bad;
	for (i = 0; i < al->n[lv]; i++) {
		n = (size_t)snprintf(topic + len, 512 - len, "%s%s",
		    lv > 0 ? "/" : "", al->w[lv][i]);
		bad += differ(acl, m, nm, al, user, cid, topic, len + n,
		    lv + 1, why);
		topic[len] = '\0';
	}
	return bad;
}

START_TEST(import_matches_mosquitto)
{
	struct mref		 m[64];
	struct alphabet		*al;
	struct config_errors	*e;
	struct policy		*p;
	char			 src[128], yaml[128], users[16][32];
	char			 topic[512], why[512] = "";
	const char		*who[20], *cids[2];
	size_t			 nm, nu, nw = 0, i, j, lv, bad = 0;
	const char		*t, *end;

	snprintf(src, sizeof(src), "test/data/%s.acl", import_good[_i]);
	snprintf(yaml, sizeof(yaml), "test/data/%s.acl.yaml",
	    import_good[_i]);
	nm = mref_load(src, m, 64, users, &nu);
	p = tu_load(yaml, CONFIG_PARTIAL, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	free(e);

	al = calloc(1, sizeof(*al));
	who[nw++] = NULL;		/* no username */
	for (i = 0; i < nu; i++)
		who[nw++] = users[i];
	who[nw++] = "stranger";
	/* Identities and client ids matter where a "%u"/"%c" is. */
	for (i = 0; i < nm; i++) {
		for (t = m[i].topic, lv = 0;; t = end + 1, lv++) {
			if ((end = strchr(t, '/')) == NULL)
				end = t + strlen(t);
			if (end - t == 2 && t[0] == '%') {
				alpha_add(al, lv, "cid1", 4);
				alpha_add(al, lv, "anonymous", 9);
				for (j = 1; j < nw; j++)
					alpha_add(al, lv, who[j],
					    strlen(who[j]));
			} else if (!(end - t == 1 && (*t == '+' ||
			    *t == '#')))
				alpha_add(al, lv, t, (size_t)(end - t));
			if (lv + 2 > al->depth)
				al->depth = lv + 2;
			if (*end == '\0')
				break;
		}
	}
	for (lv = 0; lv < al->depth; lv++)
		alpha_add(al, lv, "zz", 2);
	for (i = 0; i < nw; i++) {
		cids[0] = "cid1";
		cids[1] = who[i] != NULL ? who[i] : "zz";
		for (j = 0; j < 2; j++) {
			topic[0] = '\0';
			bad += differ(p->acl, m, nm, al, who[i], cids[j], topic,
			    0, 0, why);
		}
	}
	ck_assert_msg(bad == 0, "%zu answers differ from Mosquitto's, e.g. "
	    "%s", bad, why);
	free(al);
	policy_unref(p);
}
END_TEST

Suite *
acl_suite(void)
{
	Suite	*s = suite_create("acl");
	TCase	*tc = tcase_create("check");

	tcase_add_loop_test(tc, matcher, 0, (int)NELEM(match_cases));
	tcase_add_loop_test(tc, subscribe, 0, (int)NELEM(sub_cases));
	tcase_add_loop_test(tc, precedence, 0, (int)NELEM(prec_cases));
	tcase_add_loop_test(tc, groups, 0, (int)NELEM(group_cases));
	tcase_add_test(tc, fan_out);
	tcase_add_test(tc, flat_vs_trie);
	tcase_add_test(tc, cache_vs_uncached);
	tcase_add_test(tc, cache_invalidation);
	tcase_add_test(tc, big_identities);
	tcase_add_test(tc, null_safety);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_loop_test(tc, validation, 0, (int)NELEM(valid_cases));
	tcase_add_test(tc, validation_depth);
	tcase_add_test(tc, group_errors);
	tcase_add_test(tc, rule_str);
	tcase_add_test(tc, lint_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_test(tc, config_valid);
	tcase_add_test(tc, config_tests_fail);
	tcase_add_loop_test(tc, config_invalid, 0, (int)NELEM(config_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("import");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, import_expected, 0, (int)NELEM(import_good));
	tcase_add_loop_test(tc, import_errors, 0, (int)NELEM(import_bad));
	tcase_add_test(tc, import_escapes);
	tcase_add_loop_test(tc, import_matches_mosquitto, 0,
	    (int)NELEM(import_good));
	suite_add_tcase(s, tc);
	return s;
}
