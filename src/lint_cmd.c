/* SPDX-License-Identifier: ISC */
/*
 * lint_cmd — `mqttguard lint -c POLICY`: warnings about a policy that
 * loads but is risky or partly dead.
 *
 * acl.c judges the rules (acl_lint(): shadowed or unreachable rules,
 * users no password entry has, ...); this file adds what only the files
 * show (a policy, password or included acl file others may write),
 * collects every warning, sorts them by file and line, drops the repeats
 * of an included file reached twice, and prints them.  Exit 0 clean, 1
 * warnings, 2 error.  Called by main() only.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "mqttguard/acl.h"
#include "mqttguard/cmd.h"
#include "mqttguard/config.h"
#include "mqttguard/policy.h"

struct finding {
	char	*file;		/* owned; NULL: none */
	int	 line;
	size_t	 seq;
	char	*msg;		/* owned */
};

struct findings {
	struct finding	*v;		/* owned; n in use of cap */
	size_t		 n, cap;
	bool		 nomem;
};

/* The password file's users, for acl_lint(); names owned. */
struct lint_users {
	struct acl_lint_user	*v;	/* owned */
	size_t			 n;
};

static void	finding_add(void *, const char *, int, const char *);
static int	finding_cmp(const void *, const void *);
static bool	finding_same(const struct finding *, const struct finding *);
static void	lint_mode(struct findings *, const char *, const char *);
static int	users_load(const char *, struct lint_users *);
static void	lint_included(const struct acl *, const char *,
		    struct findings *);
static void	lint_acl(const struct policy *, const char *,
		    struct findings *, struct lint_users *);
static int	lint_print(struct findings *, const char *);
static int	lint_opts(int, char **, const char **);

static void
finding_add(void *arg, const char *file, int line, const char *msg)
{
	struct findings	*fs = arg;
	struct finding	*f;

	if (fs->n == fs->cap) {
		size_t	 cap = fs->cap ? fs->cap * 2 : 16;

		if ((f = realloc(fs->v, cap * sizeof(*f))) == NULL) {
			fs->nomem = true;
			return;
		}
		fs->v = f;
		fs->cap = cap;
	}
	f = &fs->v[fs->n];
	f->file = file != NULL ? strdup(file) : NULL;
	f->line = line;
	f->seq = fs->n;
	if ((f->msg = strdup(msg)) == NULL) {
		free(f->file);
		fs->nomem = true;
		return;
	}
	fs->n++;
}

static int
finding_cmp(const void *a, const void *b)
{
	const struct finding	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->file ? x->file : "", y->file ? y->file : "")) != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The same warning at the same place: an included file reached twice. */
static bool
finding_same(const struct finding *x, const struct finding *y)
{
	return x->line == y->line && strcmp(x->msg, y->msg) == 0 &&
	    strcmp(x->file ? x->file : "", y->file ? y->file : "") == 0;
}

/* A file others than its owner may change. */
static void
lint_mode(struct findings *fs, const char *file, const char *what)
{
	struct stat	st;
	char		msg[512];

	if (file == NULL || stat(file, &st) == -1)
		return;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return;
	snprintf(msg, sizeof(msg), "%s is writable by %s: whoever can write "
	    "it decides who may do what (chmod go-w %s)", what,
	    (st.st_mode & S_IWOTH) ? "others" : "its group", file);
	finding_add(fs, file, 0, msg);
}

/*
 * The names in the password file <path> and their lines into <users> (the
 * file loaded, so it is well formed: "name:hash" lines, '#' comments,
 * blank lines).  Returns 0, or -1 if the file cannot be opened.  Out of
 * memory, the list ends early.
 */
static int
users_load(const char *path, struct lint_users *users)
{
	struct acl_lint_user	*u = NULL, *nu;
	FILE			*fp;
	char			*buf = NULL, *colon, *s, *e;
	size_t			 cap = 0, ucap = 0, *n = &users->n;
	int			 line = 0;

	users->v = NULL;
	*n = 0;
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (getline(&buf, &cap, fp) != -1) {
		line++;
		if (buf[0] == '#' || (colon = strchr(buf, ':')) == NULL)
			continue;
		*colon = '\0';
		for (s = buf; isspace((unsigned char)*s); s++)
			;
		for (e = colon; e > s && isspace((unsigned char)e[-1]); e--)
			*--e = '\0';
		if (*s == '\0')
			continue;
		if (*n == ucap) {
			ucap = ucap ? ucap * 2 : 16;
			if ((nu = realloc(u, ucap * sizeof(*u))) == NULL)
				break;
			u = nu;
		}
		u[*n].file = path;
		u[*n].line = line;
		if ((u[*n].name = strdup(s)) == NULL)
			break;
		(*n)++;
	}
	free(buf);
	fclose(fp);
	users->v = u;
	return 0;
}

/* Included acl files can be written too; each once, not the policy. */
static void
lint_included(const struct acl *acl, const char *file, struct findings *fs)
{
	const struct acl_rule	*r;
	const struct acl_group	*g;
	const char		*prev = NULL;
	size_t			 i;

	for (i = 0; i < acl_count(acl); i++) {
		r = acl_rule_at(acl, i);
		if (strcmp(r->file, file) != 0 && (prev == NULL ||
		    strcmp(prev, r->file) != 0))
			lint_mode(fs, r->file, "an included acl file");
		prev = r->file;
	}
	for (i = 0; i < acl_group_count(acl); i++) {
		g = acl_group_at(acl, i);
		if (g->file != NULL && strcmp(g->file, file) != 0 &&
		    (prev == NULL || strcmp(prev, g->file) != 0))
			lint_mode(fs, g->file, "an included acl file");
		prev = g->file;
	}
}

/*
 * The warnings about the acl section of <pol> (loaded from <file>) into
 * <fs>; the password file's users, read for it, into <users>.
 */
static void
lint_acl(const struct policy *pol, const char *file, struct findings *fs,
    struct lint_users *users)
{
	struct acl_lint_ctx	ctx;
	size_t			i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.anonymous_identity = pol->auth.anonymous_identity;
	ctx.anonymous = pol->auth.anonymous;
	if (pol->auth.password_file != NULL &&
	    users_load(pol->auth.password_file, users) == 0)
		ctx.users_known = true;
	ctx.users = users->v;
	ctx.n_users = users->n;
	for (i = 0; i < pol->n_listeners; i++)
		ctx.cert_identities |= pol->listeners[i].authn !=
		    POLICY_AUTHN_PASSWORD;
	acl_lint(pol->acl, &ctx, finding_add, fs);
	lint_included(pol->acl, file, fs);
}

/*
 * Prints the warnings of <fs> in file and line order, each once, or that
 * there are none.  Returns the exit status: 1 with warnings, else 0.
 */
static int
lint_print(struct findings *fs, const char *file)
{
	const struct finding	*f;
	size_t			 i;

	if (fs->n > 1)
		qsort(fs->v, fs->n, sizeof(*fs->v), finding_cmp);
	for (i = 0; i < fs->n; i++) {
		f = &fs->v[i];
		if (i > 0 && finding_same(f, f - 1))
			continue;
		if (f->file != NULL && f->line > 0)
			printf("%s:%d: warning: %s\n", f->file, f->line,
			    f->msg);
		else
			printf("%s: warning: %s\n", f->file != NULL ?
			    f->file : file, f->msg);
	}
	if (fs->nomem)
		fprintf(stderr, "mqttguard: out of memory: some warnings "
		    "were lost\n");
	if (fs->n == 0)
		fprintf(stderr, "mqttguard: %s: no warnings\n", file);
	return fs->n > 0 || fs->nomem ? 1 : 0;
}

/*
 * Parses "lint [-c POLICY]" into <*file>.  Returns -1 to go on, or the
 * exit status to return at once (0 after -h, 2 on a usage error).
 */
static int
lint_opts(int argc, char **argv, const char **file)
{
	int	ch;

	*file = CMD_POLICY_DEFAULT;
	optind = 1;
	while ((ch = getopt(argc, argv, "c:h")) != -1) {
		switch (ch) {
		case 'c':
			*file = optarg;
			break;
		case 'h':
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: mqttguard "
			    "lint -c POLICY\nwarns about risky or dead ACL "
			    "rules; exit 0 clean, 1 warnings, 2 error\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: mqttguard lint -c POLICY\n");
		return 2;
	}
	return -1;
}

int
lint_cmd_main(int argc, char **argv)
{
	struct findings		 fs;
	struct lint_users	 users;
	struct policy		*pol;
	const char		*file;
	size_t			 i;
	int			 rc;

	if ((rc = lint_opts(argc, argv, &file)) != -1)
		return rc;
	if ((pol = cmd_policy_load(file, CONFIG_PARTIAL)) == NULL)
		return 2;
	memset(&fs, 0, sizeof(fs));
	memset(&users, 0, sizeof(users));
	lint_mode(&fs, file, "the policy file");
	lint_mode(&fs, pol->auth.password_file, "the password file");
	if (pol->acl == NULL)
		finding_add(&fs, file, 0, "no acl section: every client may "
		    "publish and subscribe to every topic (mqttguard "
		    "import-acl converts a Mosquitto acl_file)");
	else
		lint_acl(pol, file, &fs, &users);
	rc = lint_print(&fs, file);
	for (i = 0; i < fs.n; i++) {
		free(fs.v[i].file);
		free(fs.v[i].msg);
	}
	free(fs.v);
	for (i = 0; i < users.n; i++)
		free((char *)users.v[i].name);
	free(users.v);
	policy_unref(pol);
	return rc;
}
