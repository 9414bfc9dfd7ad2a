/* SPDX-License-Identifier: ISC */
/*
 * learn_cmd — `mqttguard learn`: a least-privilege acl section and its
 * tests, proposed from what audit.observe recorded; and with --diff, what
 * a policy would deny of it and which of its rules nothing used.
 *
 * The steps: read every observation (bounded by --max-records; a line
 * that is not one is counted and skipped), group them by identity, turn
 * each identity's topics into filters (learn.c: %u and %c, then '+' over
 * many siblings), group the identities whose filters are the same, and
 * print the groups, rules and tests.  Before printing, the rules are
 * built into an ACL index here and every test is run against it: a test
 * that would not pass is left out, so the output passes `mqttguard -t`.
 * Everything printed that came from the input is YAML-quoted.  Called by
 * main() only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/acl.h"
#include "mqttguard/cmd.h"
#include "mqttguard/config.h"
#include "mqttguard/learn.h"
#include "mqttguard/policy.h"

#define LEARN_TESTS_ALLOW	3	/* per group: allow tests */
#define LEARN_TESTS_DENY	40	/* in all: deny tests */
#define LEARN_GROUP_NAME	64

enum { PUB = 0, SUB = 1, CLASSES = 2 };

struct ident {
	char		*name;		/* owned */
	char		*cid;		/* owned; the first client id seen */
	struct learn_pat *pats[CLASSES];	/* owned */
	size_t		 n[CLASSES], cap[CLASSES];
	uint64_t	 obs;		/* observations */
	uint64_t	 skipped;	/* not proposable ($, #, %u literal) */
	char		*sig;		/* owned; its rules, for grouping */
	size_t		 group;
};

struct learn_opts {
	unsigned	 threshold;
	bool		 multilevel;
	bool		 diff;
	const char	*policy;
	size_t		 max_records;
};

struct obs_set {
	struct learn_obs *v;		/* owned */
	size_t		 n, cap;
	uint64_t	 bad;		/* lines not read */
	uint64_t	 over;		/* lines past max_records or
					   LEARN_BYTES_MAX */
	size_t		 bytes;		/* of the strings kept */
};

struct group {
	size_t		*members;	/* owned; indexes into idents */
	size_t		 n;
	char		 name[LEARN_GROUP_NAME];	/* "" : one user */
};

static void	usage(FILE *);
static int	opts_parse(int, char **, struct learn_opts *);
static int	read_file(const char *, struct obs_set *, size_t);
static int	obs_cmp(const void *, const void *);
static int	build_idents(struct obs_set *, struct ident **, size_t *,
		    const struct learn_opts *);
static bool	is_identity(void *, const char *, size_t);
static bool	same_key(const struct learn_obs *, const struct learn_obs *);
static int	pat_add(struct ident *, int, char *, const char *,
		    uint64_t);
static int	make_sig(struct ident *, bool);
static int	ident_sig_cmp(const void *, const void *);
static struct group *make_groups(struct ident *, size_t, size_t *);
static int	pat_key_cmp(const void *, const void *);
static const struct learn_pat *pat_find(const struct ident *, int,
		    const char *);
static void	print_rules(struct ident *, const struct group *, bool);
static void	print_proposal(struct ident *, size_t, struct group *,
		    size_t, const struct obs_set *, const struct learn_opts *);
static struct acl *build_acl(struct ident *, struct group *, size_t,
		    bool);
static void	print_tests(struct acl *, struct ident *, size_t,
		    struct group *, size_t);
static bool	test_ok(struct acl *, const char *, const char *, int,
		    const char *, bool);
static void	print_test(const char *, const char *, int, const char *,
		    bool);
static char	*neighbour(const char *, const struct ident *);
static int	diff(struct obs_set *, const struct learn_opts *);
static void	idents_free(struct ident *, size_t);

/* The identities, sorted by name, for is_identity(). */
static struct ident	*known;
static size_t		 n_known;

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: mqttguard learn [--threshold N] "
	    "[--allow-multilevel] [--max-records N] FILE...\n"
	    "       mqttguard learn --diff -c POLICY FILE...\n"
	    "proposes an acl section and tests from audit.observe files; "
	    "with --diff,\nwhat POLICY denies of the observed traffic and "
	    "which of its rules went unused\n");
}

static int
opts_parse(int argc, char **argv, struct learn_opts *o)
{
	static const struct option longopts[] = {
		{ "threshold", required_argument, NULL, 't' },
		{ "allow-multilevel", no_argument, NULL, 'm' },
		{ "max-records", required_argument, NULL, 'r' },
		{ "diff", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	long	 v;
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->threshold = LEARN_THRESHOLD_DEFAULT;
	o->max_records = LEARN_RECORDS_DEFAULT;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 ||
			    v > 100000000) {
				fprintf(stderr, "mqttguard learn: --%s: not a "
				    "number from 1 up\n", ch == 't' ?
				    "threshold" : "max-records");
				return -1;
			}
			if (ch == 't')
				o->threshold = (unsigned)v;
			else
				o->max_records = (size_t)v;
			break;
		case 'm':
			o->multilevel = true;
			break;
		case 'd':
			o->diff = true;
			break;
		case 'c':
			o->policy = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc || (o->diff && o->policy == NULL) ||
	    (!o->diff && o->policy != NULL)) {
		usage(stderr);
		return -1;
	}
	return optind;
}

/* The observations of <file> into <set>, at most <max> in all. */
static int
read_file(const char *file, struct obs_set *set, size_t max)
{
	struct learn_obs	*nv, o;
	FILE			*fp;
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 len;

	if ((fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "r")) ==
	    NULL) {
		fprintf(stderr, "mqttguard learn: %s: %s\n", file,
		    strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		if (len > LEARN_LINE_MAX ||
		    learn_obs_parse(line, (size_t)len, &o) == -1) {
			set->bad++;
			continue;
		}
		len = (ssize_t)(strlen(o.identity) + strlen(o.client_id) +
		    strlen(o.topic));
		if (set->n >= max || set->bytes + (size_t)len >
		    LEARN_BYTES_MAX) {
			learn_obs_fini(&o);
			set->over++;
			continue;
		}
		set->bytes += (size_t)len;
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 1024;
			if ((nv = reallocarray(set->v, set->cap,
			    sizeof(*nv))) == NULL) {
				learn_obs_fini(&o);
				fprintf(stderr, "mqttguard learn: out of "
				    "memory\n");
				free(line);
				if (fp != stdin)
					fclose(fp);
				return -1;
			}
			set->v = nv;
		}
		set->v[set->n++] = o;
	}
	free(line);
	if (fp != stdin)
		fclose(fp);
	return 0;
}

static int
obs_cmp(const void *a, const void *b)
{
	const struct learn_obs	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->identity, y->identity)) != 0)
		return c;
	if ((c = strcmp(x->topic, y->topic)) != 0)
		return c;
	if ((x->action == LEARN_SUBSCRIBE) != (y->action == LEARN_SUBSCRIBE))
		return x->action == LEARN_SUBSCRIBE ? 1 : -1;
	return strcmp(x->client_id, y->client_id);
}

static bool
is_identity(void *ctx, const char *level, size_t len)
{
	size_t	lo = 0, hi = n_known, mid;
	int	c;

	(void)ctx;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(level, known[mid].name, len);
		if (c == 0 && known[mid].name[len] != '\0')
			c = -1;
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/* Filter <f> (taken) of class <c> with its evidence, to <id>. */
static int
pat_add(struct ident *id, int c, char *f, const char *sample, uint64_t n)
{
	struct learn_pat	*nv;

	if (id->n[c] == id->cap[c]) {
		id->cap[c] = id->cap[c] ? id->cap[c] * 2 : 8;
		if ((nv = reallocarray(id->pats[c], id->cap[c],
		    sizeof(*nv))) == NULL)
			goto oom;
		id->pats[c] = nv;
	}
	nv = &id->pats[c][id->n[c]];
	if ((nv->sample = strdup(sample)) == NULL)
		goto oom;
	nv->filter = f;
	nv->count = n;
	nv->topics = 1;
	id->n[c]++;
	return 0;
oom:
	free(f);
	return -1;
}

/* Whether two observations (sorted) are of one key: a repeat. */
static bool
same_key(const struct learn_obs *a, const struct learn_obs *b)
{
	return strcmp(a->identity, b->identity) == 0 &&
	    strcmp(a->topic, b->topic) == 0 &&
	    strcmp(a->client_id, b->client_id) == 0 &&
	    (a->action == LEARN_SUBSCRIBE) == (b->action == LEARN_SUBSCRIBE);
}

/* The identities of <set> (sorted here), with their filters generalised. */
static int
build_idents(struct obs_set *set, struct ident **out, size_t *nout,
    const struct learn_opts *o)
{
	struct learn_gen	 g = { o->threshold, o->multilevel,
				    is_identity, NULL };
	struct ident		*v, *id;
	size_t			 i, n = 0;
	char			*f;
	long			 m;
	int			 c;
	bool			 added = false;	/* the last one, as a pattern */

	qsort(set->v, set->n, sizeof(*set->v), obs_cmp);
	if ((v = calloc(set->n + 1, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < set->n; i++) {
		if (n == 0 || strcmp(v[n - 1].name, set->v[i].identity) != 0) {
			id = &v[n++];
			if ((id->name = strdup(set->v[i].identity)) == NULL ||
			    (id->cid = strdup(set->v[i].client_id)) == NULL)
				goto oom;
		}
		id = &v[n - 1];
		id->obs += set->v[i].count;
		c = set->v[i].action == LEARN_SUBSCRIBE ? SUB : PUB;
		/* The same action on the same topic again (another file). */
		if (i > 0 && added && same_key(&set->v[i - 1],
		    &set->v[i])) {
			id->pats[c][id->n[c] - 1].count += set->v[i].count;
			continue;
		}
		added = false;
		if ((f = learn_subst(set->v[i].topic, id->name, id->cid)) ==
		    NULL) {
			id->skipped += set->v[i].count;
			continue;
		}
		if (pat_add(id, c, f, set->v[i].topic, set->v[i].count) == -1)
			goto oom;
		added = true;
	}
	known = v;
	n_known = n;
	for (i = 0; i < n; i++)
		for (c = 0; c < CLASSES; c++) {
			if ((m = learn_generalise(v[i].pats[c], v[i].n[c],
			    &g)) == -1)
				goto oom;
			v[i].n[c] = (size_t)m;
		}
	*out = v;
	*nout = n;
	return 0;
oom:
	idents_free(v, n);
	known = NULL;
	n_known = 0;
	return -1;
}

/* Its proposable filters, as "P<len>:filter" or "S..": equal, alike. */
static int
make_sig(struct ident *id, bool multilevel)
{
	size_t	len = 1, i, k = 0;
	int	c;

	for (c = 0; c < CLASSES; c++)
		for (i = 0; i < id->n[c]; i++)
			len += strlen(id->pats[c][i].filter) + 24;
	if ((id->sig = malloc(len)) == NULL)
		return -1;
	id->sig[0] = '\0';
	for (c = 0; c < CLASSES; c++)
		for (i = 0; i < id->n[c]; i++) {
			if (!learn_filter_ok(id->pats[c][i].filter,
			    multilevel)) {
				id->skipped += id->pats[c][i].count;
				continue;
			}
			/* Length-prefixed: a filter may hold any byte. */
			k += (size_t)snprintf(id->sig + k, len - k, "%c%zu:%s",
			    c == PUB ? 'P' : 'S',
			    strlen(id->pats[c][i].filter),
			    id->pats[c][i].filter);
		}
	return 0;
}

static int
ident_sig_cmp(const void *a, const void *b)
{
	const struct ident	*x = *(struct ident *const *)a;
	const struct ident	*y = *(struct ident *const *)b;
	int			 c;

	if ((c = strcmp(x->sig, y->sig)) != 0)
		return c;
	return strcmp(x->name, y->name);
}

/*
 * Identities with the same rules, in groups (named by their common
 * prefix, unique) when more than one share them.
 */
static struct group *
make_groups(struct ident *v, size_t n, size_t *ng)
{
	struct ident	**ord;
	struct group	*gs;
	const char	**names;
	size_t		 i, j, k, m = 0, g;
	char		 base[LEARN_GROUP_NAME - 8];

	ord = calloc(n + 1, sizeof(*ord));
	gs = calloc(n + 1, sizeof(*gs));
	names = calloc(n + 1, sizeof(*names));
	if (ord == NULL || gs == NULL || names == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		ord[i] = &v[i];
	qsort(ord, n, sizeof(*ord), ident_sig_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && strcmp(ord[i]->sig, ord[j]->sig) ==
		    0; j++)
			;
		if ((gs[m].members = calloc(j - i, sizeof(size_t))) == NULL)
			goto oom;
		for (k = i; k < j; k++) {
			gs[m].members[k - i] = (size_t)(ord[k] - v);
			ord[k]->group = m;
			names[k - i] = ord[k]->name;
		}
		gs[m].n = j - i;
		if (gs[m].n > 1) {
			learn_group_name(names, gs[m].n, base, sizeof(base));
			snprintf(gs[m].name, sizeof(gs[m].name), "%s%s",
			    base[0] != '\0' ? base : "group", base[0] != '\0' ?
			    "-like" : "");
			for (g = 0, k = 2; g < m; g++)
				if (strcmp(gs[g].name, gs[m].name) == 0) {
					snprintf(gs[m].name,
					    sizeof(gs[m].name), "%s-like-%zu",
					    base[0] != '\0' ? base : "group",
					    k++);
					g = (size_t)-1;	/* again */
				}
		}
		m++;
	}
	free(ord);
	free(names);
	*ng = m;
	return gs;
oom:
	free(ord);
	free(names);
	if (gs != NULL)
		for (i = 0; i < m; i++)
			free(gs[i].members);
	free(gs);
	return NULL;
}

static int
pat_key_cmp(const void *key, const void *p)
{
	return strcmp(key, ((const struct learn_pat *)p)->filter);
}

/* <id>'s pattern of class <c> with <filter> (sorted by learn.c), or NULL. */
static const struct learn_pat *
pat_find(const struct ident *id, int c, const char *filter)
{
	return bsearch(filter, id->pats[c], id->n[c], sizeof(*id->pats[c]),
	    pat_key_cmp);
}

/* One rule per filter of the group's first member, with its evidence. */
static void
print_rules(struct ident *v, const struct group *g, bool multilevel)
{
	const struct ident	*first = &v[g->members[0]];
	uint64_t		 count, topics;
	size_t			 i, k;
	char			*q, *smp;
	int			 c;

	for (c = 0; c < CLASSES; c++)
		for (i = 0; i < first->n[c]; i++) {
			if (!learn_filter_ok(first->pats[c][i].filter,
			    multilevel))
				continue;
			count = topics = 0;
			for (k = 0; k < g->n; k++) {
				const struct learn_pat	*p;

				p = pat_find(&v[g->members[k]], c,
				    first->pats[c][i].filter);
				count += p != NULL ? p->count : 0;
				topics += p != NULL ? p->topics : 0;
			}
			smp = learn_yaml_quote(first->pats[c][i].sample);
			printf("    # %s: %llu observation%s of %llu topic%s, "
			    "e.g. %s\n", g->n > 1 ? "the group" : "the user",
			    (unsigned long long)count, count == 1 ? "" : "s",
			    (unsigned long long)topics, topics == 1 ? "" :
			    "s", smp != NULL ? smp : "?");
			free(smp);
			q = learn_yaml_quote(first->pats[c][i].filter);
			printf("    - allow: %s\n      topic: %s\n",
			    c == PUB ? "publish" : "[subscribe, read]",
			    q != NULL ? q : "\"\"");
			free(q);
			if (g->n > 1) {
				q = learn_yaml_quote(g->name);
				printf("      groups: [%s]\n", q);
			} else {
				q = learn_yaml_quote(first->name);
				printf("      users: [%s]\n", q);
			}
			free(q);
		}
}

static void
print_proposal(struct ident *v, size_t n, struct group *gs, size_t ng,
    const struct obs_set *set, const struct learn_opts *o)
{
	uint64_t	 total = 0, skipped = 0;
	size_t		 i, k, groups = 0;
	char		*q;
	struct acl	*acl;

	for (i = 0; i < n; i++) {
		total += v[i].obs;
		skipped += v[i].skipped;
	}
	for (i = 0; i < ng; i++)
		groups += gs[i].n > 1;
	printf("# Proposed by mqttguard learn from %llu observations of %zu "
	    "identities\n# (threshold %u%s); %llu not proposed ($ topics, "
	    "multi-level wildcards,\n# literal %%u/%%c levels), %llu input "
	    "lines not read, %llu over --max-records.\n",
	    (unsigned long long)total, n, o->threshold, o->multilevel ?
	    ", multi-level allowed" : "", (unsigned long long)skipped,
	    (unsigned long long)set->bad, (unsigned long long)set->over);
	printf("acl:\n");
	if (groups > 0) {
		printf("  groups:\n");
		for (i = 0; i < ng; i++) {
			if (gs[i].n < 2)
				continue;
			q = learn_yaml_quote(gs[i].name);
			printf("    %s:\n", q);
			free(q);
			for (k = 0; k < gs[i].n; k++) {
				q = learn_yaml_quote(v[gs[i].members[k]].name);
				printf("      - %s\n", q);
				free(q);
			}
		}
	}
	printf("  rules:\n");
	for (i = 0; i < ng; i++) {
		if (v[gs[i].members[0]].sig[0] == '\0')
			continue;
		print_rules(v, &gs[i], o->multilevel);
	}
	if ((acl = build_acl(v, gs, ng, o->multilevel)) == NULL) {
		fprintf(stderr, "mqttguard learn: cannot build the proposed "
		    "rules to check the tests\n");
		return;
	}
	print_tests(acl, v, n, gs, ng);
	acl_free(acl);
}

/* The proposal as an index, to run the tests against before printing. */
static struct acl *
build_acl(struct ident *v, struct group *gs, size_t ng, bool multilevel)
{
	struct acl_rule	 r;
	struct acl	*acl;
	const char	**names = NULL;
	char		 err[256], *one[1];
	size_t		 i, k;
	int		 ln = 0, c;

	if ((acl = acl_new()) == NULL)
		return NULL;
	for (i = 0; i < ng; i++) {
		if (gs[i].n < 2)
			continue;
		if ((names = calloc(gs[i].n, sizeof(*names))) == NULL)
			goto fail;
		for (k = 0; k < gs[i].n; k++)
			names[k] = v[gs[i].members[k]].name;
		if (acl_add_group(acl, gs[i].name, names, gs[i].n, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "mqttguard learn: %s\n", err);
			goto fail;
		}
		free(names);
		names = NULL;
	}
	for (i = 0; i < ng; i++) {
		struct ident	*first = &v[gs[i].members[0]];

		for (c = 0; c < CLASSES; c++)
			for (k = 0; k < first->n[c]; k++) {
				if (!learn_filter_ok(first->pats[c][k].filter,
				    multilevel))
					continue;
				memset(&r, 0, sizeof(r));
				r.allow = true;
				r.actions = c == PUB ? ACL_PUBLISH :
				    ACL_SUBSCRIBE | ACL_READ;
				r.filter = first->pats[c][k].filter;
				r.file = (char *)"(learn)";
				r.line = ++ln;
				one[0] = gs[i].n > 1 ? gs[i].name :
				    first->name;
				if (gs[i].n > 1) {
					r.groups = one;
					r.n_groups = 1;
				} else {
					r.users = one;
					r.n_users = 1;
				}
				if (acl_add_rule(acl, &r, err,
				    sizeof(err)) == -1) {
					fprintf(stderr, "mqttguard learn: "
					    "%s\n", err);
					goto fail;
				}
			}
	}
	return acl;
fail:
	free(names);
	acl_free(acl);
	return NULL;
}

/* Whether the proposal answers <expect_allow> for the test. */
static bool
test_ok(struct acl *acl, const char *user, const char *cid, int c,
    const char *topic, bool expect_allow)
{
	struct acl_subject	who = { user, cid, strlen(cid) };

	return acl_check(acl, &who, c == PUB ? ACL_PUBLISH : ACL_SUBSCRIBE,
	    (const uint8_t *)topic, strlen(topic), NULL) == expect_allow;
}

static void
print_test(const char *user, const char *cid, int c, const char *topic,
    bool allow)
{
	char	*qu = learn_yaml_quote(user), *qc = learn_yaml_quote(cid);
	char	*qt = learn_yaml_quote(topic);

	if (qu != NULL && qc != NULL && qt != NULL)
		printf("  - {user: %s, client_id: %s, action: %s, topic: %s, "
		    "expect: %s}\n", qu, qc, c == PUB ? "publish" :
		    "subscribe", qt, allow ? "allow" : "deny");
	free(qu);
	free(qc);
	free(qt);
}

/*
 * <filter> as a topic of identity <b>: %u and %c as b's, '+' and '#'
 * as "x".  NULL on ENOMEM.
 */
static char *
neighbour(const char *filter, const struct ident *b)
{
	size_t	 len = strlen(filter) * 2 + strlen(b->name) * 64 +
		    strlen(b->cid) * 64 + 1, n = 0;
	char	*t;

	if ((t = malloc(len)) == NULL)
		return NULL;
	for (; *filter != '\0' && n + 1 < len; filter++) {
		if (filter[0] == '%' && (filter[1] == 'u' || filter[1] ==
		    'c')) {
			n += (size_t)snprintf(t + n, len - n, "%s",
			    filter[1] == 'u' ? b->name : b->cid);
			filter++;
		} else if (*filter == '+' || *filter == '#')
			t[n++] = 'x';
		else
			t[n++] = *filter;
	}
	t[n < len ? n : len - 1] = '\0';
	return t;
}

/*
 * Allow: a few observed topics of the first members of each group.
 * Deny: each %u/%c filter, as a topic of another identity.  Only the
 * tests the proposal passes are printed.
 */
static void
print_tests(struct acl *acl, struct ident *v, size_t n, struct group *gs,
    size_t ng)
{
	const struct ident	*a, *b;
	size_t			 i, k, j, allow, deny = 0;
	char			*t;
	int			 c;

	printf("tests:\n");
	for (i = 0; i < ng; i++) {
		allow = 0;
		for (k = 0; k < gs[i].n && k < 2; k++) {
			a = &v[gs[i].members[k]];
			for (c = 0; c < CLASSES; c++)
				for (j = 0; j < a->n[c] &&
				    allow < LEARN_TESTS_ALLOW; j++)
					if (test_ok(acl, a->name, a->cid, c,
					    a->pats[c][j].sample, true)) {
						print_test(a->name, a->cid, c,
						    a->pats[c][j].sample,
						    true);
						allow++;
					}
		}
		/* A neighbour: the next of the group, else another. */
		a = &v[gs[i].members[0]];
		b = gs[i].n > 1 ? &v[gs[i].members[1]] : n > 1 ?
		    &v[a == &v[0] ? 1 : 0] : NULL;
		for (c = 0; b != NULL && c < CLASSES; c++)
			for (j = 0; j < a->n[c] && deny < LEARN_TESTS_DENY;
			    j++) {
				if (strstr(a->pats[c][j].filter, "%u") ==
				    NULL && strstr(a->pats[c][j].filter,
				    "%c") == NULL)
					continue;
				if ((t = neighbour(a->pats[c][j].filter,
				    b)) == NULL)
					continue;
				if (learn_filter_ok(t, false) &&
				    test_ok(acl, a->name, a->cid, c, t,
				    false)) {
					print_test(a->name, a->cid, c, t,
					    false);
					deny++;
				}
				free(t);
			}
	}
}

/* ---- --diff -------------------------------------------------------- */

static int
diff(struct obs_set *set, const struct learn_opts *o)
{
	struct policy		*pol;
	struct acl_verdict	 av;
	struct acl_subject	 who;
	const struct acl_rule	*r;
	bool			*used;
	uint64_t		 denied = 0, total = 0;
	size_t			 i, nr, distinct = 0, unused = 0;
	char			 buf[512], *qi, *qt;

	if ((pol = cmd_policy_load(o->policy, CONFIG_PARTIAL)) == NULL)
		return 2;
	if (pol->acl == NULL) {
		printf("%s: no acl section: everything is allowed\n",
		    o->policy);
		policy_unref(pol);
		return 0;
	}
	nr = acl_count(pol->acl);
	if ((used = calloc(nr + 1, sizeof(*used))) == NULL) {
		policy_unref(pol);
		return 2;
	}
	printf("# what %s would deny of the observed traffic:\n", o->policy);
	for (i = 0; i < set->n; i++) {
		struct learn_obs	*ob = &set->v[i];

		who = (struct acl_subject){ ob->identity, ob->client_id,
		    strlen(ob->client_id) };
		total += ob->count;
		acl_check(pol->acl, &who, ob->action == LEARN_SUBSCRIBE ?
		    ACL_SUBSCRIBE : ACL_PUBLISH, (const uint8_t *)ob->topic,
		    strlen(ob->topic), &av);
		for (size_t k = 0; av.rule != NULL && k < nr; k++)
			if (acl_rule_at(pol->acl, k) == av.rule)
				used[k] = true;
		if (av.allow)
			continue;
		denied += ob->count;
		distinct++;
		qi = learn_yaml_quote(ob->identity);
		qt = learn_yaml_quote(ob->topic);
		if (av.rule != NULL)
			snprintf(buf, sizeof(buf), "%s:%d", av.rule->file,
			    av.rule->line);
		printf("deny %llu %s %s %s (%s)\n",
		    (unsigned long long)ob->count, qi != NULL ? qi : "?",
		    ob->action == LEARN_SUBSCRIBE ? "subscribe" :
		    ob->action == LEARN_WILL ? "will" : "publish",
		    qt != NULL ? qt : "?", av.rule != NULL ? buf :
		    "default deny");
		free(qi);
		free(qt);
	}
	printf("# rules nothing observed used (read is not observed):\n");
	for (i = 0; i < nr; i++) {
		if (used[i])
			continue;
		r = acl_rule_at(pol->acl, i);
		acl_rule_str(r, buf, sizeof(buf));
		printf("unused %s:%d: %s\n", r->file, r->line, buf);
		unused++;
	}
	printf("# %llu observations: %llu denied (%zu distinct); %zu of %zu "
	    "rules unused\n", (unsigned long long)total,
	    (unsigned long long)denied, distinct, unused, nr);
	free(used);
	policy_unref(pol);
	return denied > 0 ? 1 : 0;
}

static void
idents_free(struct ident *v, size_t n)
{
	size_t	i, k;
	int	c;

	for (i = 0; v != NULL && i < n; i++) {
		for (c = 0; c < CLASSES; c++) {
			for (k = 0; k < v[i].n[c]; k++) {
				free(v[i].pats[c][k].filter);
				free(v[i].pats[c][k].sample);
			}
			free(v[i].pats[c]);
		}
		free(v[i].name);
		free(v[i].cid);
		free(v[i].sig);
	}
	free(v);
}

int
learn_cmd_main(int argc, char **argv)
{
	struct learn_opts	 o;
	struct obs_set		 set;
	struct ident		*v = NULL;
	struct group		*gs = NULL;
	size_t			 n = 0, ng = 0, i;
	int			 first, rc = 2;

	memset(&set, 0, sizeof(set));
	if ((first = opts_parse(argc, argv, &o)) == -1)
		return 2;
	for (i = (size_t)first; i < (size_t)argc; i++)
		if (read_file(argv[i], &set, o.max_records) == -1)
			goto done;
	if (set.bad > 0)
		fprintf(stderr, "mqttguard learn: %llu line%s not an "
		    "observation, skipped\n", (unsigned long long)set.bad,
		    set.bad == 1 ? "" : "s");
	if (set.over > 0)
		fprintf(stderr, "mqttguard learn: %llu observation%s past "
		    "--max-records %zu, not read\n",
		    (unsigned long long)set.over, set.over == 1 ? "" : "s",
		    o.max_records);
	if (o.diff) {
		rc = diff(&set, &o);
		goto done;
	}
	if (build_idents(&set, &v, &n, &o) == -1)
		goto oom;
	for (i = 0; i < n; i++)
		if (make_sig(&v[i], o.multilevel) == -1)
			goto oom;
	if ((gs = make_groups(v, n, &ng)) == NULL && n > 0)
		goto oom;
	print_proposal(v, n, gs, ng, &set, &o);
	rc = fflush(stdout) == EOF || ferror(stdout) ? 2 : 0;
	goto done;
oom:
	fprintf(stderr, "mqttguard learn: out of memory\n");
done:
	for (i = 0; gs != NULL && i < ng; i++)
		free(gs[i].members);
	free(gs);
	idents_free(v, n);
	for (i = 0; i < set.n; i++)
		learn_obs_fini(&set.v[i]);
	free(set.v);
	return rc;
}
