/* SPDX-License-Identifier: ISC */
/*
 * aclfile — `mqttguard acl check`, `lint`, `import-acl`, and the policy
 * tests of `-t`: the parts of the ACL that read files and print.
 *
 * import-acl reads a Mosquitto acl_file and writes an `acl:` section with
 * the meaning Mosquitto 2.0 gives it (its default security, the acl_file
 * option), line by line:
 *
 *   topic lines before the first "user" line   users: [<anonymous identity>]
 *   topic lines after "user U"                 users: [U]
 *   pattern lines                              everyone ("%u", "%c" kept)
 *   read        allow: [subscribe, read]
 *   write       allow: publish
 *   readwrite   allow: all   (also a line without an access word)
 *   deny        deny: all
 *
 * Mosquitto 2.0 grants every SUBSCRIBE under an acl_file (its default check
 * answers yes to "subscribe" access) and filters each delivery by "read";
 * mqttguard refuses, in the SUBACK, a subscription no read rule covers, so
 * read maps to subscribe and read on the same filter: what a client
 * receives is the same, a subscription that could never deliver is
 * refused up front.
 *
 * Mosquitto decides in order: the client's own deny lines, its allow
 * lines, then deny patterns, then allow patterns; mqttguard lets the most
 * specific rule win.  The conversion adds the denies that make the answers
 * agree: for a deny line and an allow line (or pattern) that overlap, a
 * deny of their intersection, at least as specific as the allow (so it
 * wins); the same for deny and allow patterns; and, because Mosquitto
 * skips "%u" patterns for clients without a username, a deny cancelling
 * each "%u" allow pattern for the anonymous identity.  When a client's own
 * allow line must beat a deny pattern at least as specific (Mosquitto
 * reads user lines first), no set of mqttguard rules says the same: the
 * conversion refuses, naming both lines.  So does a topic line holding
 * "%u"/"%c" (literal for Mosquitto, the identity for mqttguard) and
 * "%u"/"%c" inside a level.  The broker's own $SYS write protection stays
 * the broker's.
 *
 * A malformed line is an error naming it, as Mosquitto refuses to start on
 * one.  Lines are parsed as Mosquitto 2.0 does: '#' in the first column is
 * a comment, words are separated by single spaces, a topic may hold
 * spaces when the access word is given.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "mqttguard/acl.h"
#include "mqttguard/aclfile.h"
#include "mqttguard/config.h"
#include "mqttguard/policy.h"

/* main.c's default, for a subcommand run without -c. */
#define DEFAULT_POLICY	"/etc/mqttguard/mqttguard.yaml"

/* ---- Mosquitto acl_file -------------------------------------------- */

#define MQ_READ		0x1
#define MQ_WRITE	0x2

enum flv_kind {
	F_LIT = 0,
	F_PLUS,
	F_HASH,
	F_PU,		/* %u */
	F_PC		/* %c */
};

struct flv {
	enum flv_kind	 kind;
	const char	*s;		/* F_LIT: not terminated */
	size_t		 len;
};

/* A filter as levels; the strings belong to the line it came from. */
struct flt {
	struct flv	*lv;		/* owned */
	size_t		 n;
};

struct mline {
	int		 line;
	bool		 pattern;
	size_t		 subj;		/* topic lines: index into subjects */
	unsigned	 access;	/* MQ_*; 0: deny */
	char		*topic;		/* owned */
	struct flt	 f;
};

/* A rule of the output. */
struct orule {
	bool		 allow;
	unsigned	 actions;
	char		*filter;	/* owned */
	bool		 everyone;
	size_t		 subj;
	int		 src, src2;	/* Mosquitto lines it comes from */
	const char	*why;		/* NULL: a line as written */
};

struct import {
	const char	*path;
	char		**subjects;	/* [0]: anonymous identity */
	size_t		 nsubj;
	struct mline	*lines;
	size_t		 nlines, caplines;
	struct orule	*out;
	size_t		 nout, capout;
	char		*err;
	size_t		 errlen;
};

static int	imp_err(struct import *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	flt_parse(const char *, struct flt *);
static int	flt_meet(const struct flt *, const struct flt *,
		    const char *, struct flt *);
static char	*flt_str(const struct flt *);
static uint32_t	flt_spec(const struct flt *);
static bool	flt_has(const struct flt *, enum flv_kind);
static int	imp_parse(struct import *, FILE *);
static int	imp_line(struct import *, char *, int, size_t *);
static int	imp_emit(struct import *, bool, unsigned, char *, bool,
		    size_t, int, int, const char *);
static int	imp_derive(struct import *);
static int	imp_conflicts(struct import *);
static void	imp_write(struct import *, FILE *);
static void	yq(FILE *, const char *);

static int
imp_err(struct import *im, int line, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	n = snprintf(im->err, im->errlen, "%s:%d: ", im->path, line);
	if (n >= 0 && (size_t)n < im->errlen) {
		va_start(ap, fmt);
		vsnprintf(im->err + n, im->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Splits a checked filter into levels.  -1 on ENOMEM. */
static int
flt_parse(const char *s, struct flt *f)
{
	const char	*lv, *end;
	size_t		 n = 1;

	for (lv = s; *lv != '\0'; lv++)
		n += *lv == '/';
	if ((f->lv = calloc(n, sizeof(*f->lv))) == NULL)
		return -1;
	f->n = 0;
	for (lv = s;; lv = end + 1) {
		struct flv	*l = &f->lv[f->n++];

		if ((end = strchr(lv, '/')) == NULL)
			end = lv + strlen(lv);
		l->s = lv;
		l->len = (size_t)(end - lv);
		l->kind = F_LIT;
		if (l->len == 1 && *lv == '+')
			l->kind = F_PLUS;
		else if (l->len == 1 && *lv == '#')
			l->kind = F_HASH;
		else if (l->len == 2 && lv[0] == '%' && lv[1] == 'u')
			l->kind = F_PU;
		else if (l->len == 2 && lv[0] == '%' && lv[1] == 'c')
			l->kind = F_PC;
		if (*end == '\0')
			break;
	}
	return 0;
}

static uint32_t
flt_spec(const struct flt *f)
{
	uint32_t	lit = 0, plus = 0;
	size_t		i;

	for (i = 0; i < f->n; i++) {
		if (f->lv[i].kind == F_PLUS)
			plus++;
		else if (f->lv[i].kind != F_HASH)
			lit++;
	}
	return lit << 8 | plus;
}

static bool
flt_has(const struct flt *f, enum flv_kind k)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		if (f->lv[i].kind == k)
			return true;
	return false;
}

static char *
flt_str(const struct flt *f)
{
	size_t	 len = 0, i, o = 0;
	char	*s;

	for (i = 0; i < f->n; i++)
		len += f->lv[i].len + 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < f->n; i++) {
		if (i > 0)
			s[o++] = '/';
		memcpy(s + o, f->lv[i].s, f->lv[i].len);
		o += f->lv[i].len;
	}
	s[o] = '\0';
	return s;
}

static bool
lit_dollar(const struct flv *l)
{
	return l->kind == F_LIT && l->len > 0 && l->s[0] == '$';
}

/*
 * The topics both <d> and <x> match, as one filter, into <out> (levels
 * pointing into both): at each level the narrower of the two.  Where one
 * side is "%u"/"%c" and the other a literal, the result takes <d>'s level
 * (<d> is the deny side: the result must stay inside it); <who>, when
 * known, is the identity "%u" stands for, and a literal it differs from
 * makes the intersection empty.  Returns 1, 0 when the intersection is
 * empty, -1 on ENOMEM.
 */
static int
flt_meet(const struct flt *d, const struct flt *x, const char *who,
    struct flt *out)
{
	const struct flv	*a, *b, *pick;
	size_t			 i, j, cap = d->n + x->n;

	out->n = 0;
	if ((out->lv = calloc(cap, sizeof(*out->lv))) == NULL)
		return -1;
	for (i = 0;; i++) {
		if (i < d->n && d->lv[i].kind == F_HASH) {
			if (i == 0 && x->n > 0 && lit_dollar(&x->lv[0]))
				return 0;
			for (j = i; j < x->n; j++)
				out->lv[out->n++] = x->lv[j];
			return 1;
		}
		if (i < x->n && x->lv[i].kind == F_HASH) {
			if (i == 0 && d->n > 0 && lit_dollar(&d->lv[0]))
				return 0;
			for (j = i; j < d->n; j++)
				out->lv[out->n++] = d->lv[j];
			return 1;
		}
		if (i == d->n && i == x->n)
			return 1;
		if (i == d->n || i == x->n)
			return 0;
		a = &d->lv[i];
		b = &x->lv[i];
		if (a->kind == F_PLUS)
			pick = b;
		else if (b->kind == F_PLUS)
			pick = a;
		else if (a->kind == F_LIT && b->kind == F_LIT) {
			if (a->len != b->len || memcmp(a->s, b->s, a->len) != 0)
				return 0;
			pick = a;
		} else if (a->kind == F_LIT || b->kind == F_LIT) {
			const struct flv *l = a->kind == F_LIT ? a : b;
			const struct flv *p = a->kind == F_LIT ? b : a;

			if (i == 0 && lit_dollar(l))
				return 0;
			if (p->kind == F_PU && who != NULL &&
			    (strlen(who) != l->len ||
			    memcmp(who, l->s, l->len) != 0))
				return 0;
			pick = a;
		} else
			pick = a;
		/* A leading '+' never reaches a '$' topic. */
		if (i == 0 && ((a->kind == F_PLUS && lit_dollar(b)) ||
		    (b->kind == F_PLUS && lit_dollar(a))))
			return 0;
		out->lv[out->n++] = *pick;
	}
}

/* One line of the file, without its newline; <user> is the current one. */
static int
imp_line(struct import *im, char *buf, int line, size_t *user)
{
	struct mline	*m;
	char		*tok, *acc, *topic, *save = NULL, *rest, *end, **ns;
	char		 why[256];
	size_t		 slen = strlen(buf), i;
	unsigned	 access;
	bool		 pattern;

	while (slen > 0 && isspace((unsigned char)buf[slen - 1]))
		buf[--slen] = '\0';
	if (buf[0] == '#')
		return 0;
	if ((tok = strtok_r(buf, " ", &save)) == NULL)
		return 0;
	if (strcmp(tok, "user") == 0) {
		if ((rest = strtok_r(NULL, "", &save)) == NULL)
			return imp_err(im, line, "missing username after "
			    "\"user\"");
		while (isspace((unsigned char)*rest))
			rest++;
		end = rest + strlen(rest);
		while (end > rest && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*rest == '\0')
			return imp_err(im, line, "missing username after "
			    "\"user\"");
		if (strcmp(rest, im->subjects[0]) == 0)
			return imp_err(im, line, "user \"%s\" is also the "
			    "identity of clients without a username in "
			    "mqttguard; choose another with "
			    "--anonymous-identity", rest);
		for (i = 1; i < im->nsubj; i++)
			if (strcmp(im->subjects[i], rest) == 0)
				break;
		if (i == im->nsubj) {
			if ((ns = realloc(im->subjects, (im->nsubj + 1) *
			    sizeof(*ns))) == NULL)
				return imp_err(im, line, "out of memory");
			im->subjects = ns;
			if ((ns[im->nsubj] = strdup(rest)) == NULL)
				return imp_err(im, line, "out of memory");
			im->nsubj++;
		}
		*user = i;
		return 0;
	}
	if (strcmp(tok, "topic") != 0 && strcmp(tok, "pattern") != 0)
		return imp_err(im, line, "not a topic, pattern or user line "
		    "(\"%.40s\")", tok);
	pattern = tok[0] == 'p';
	if ((acc = strtok_r(NULL, " ", &save)) == NULL)
		return imp_err(im, line, "empty topic");
	if ((rest = strtok_r(NULL, "", &save)) != NULL) {
		while (isspace((unsigned char)*rest))
			rest++;
		topic = rest;
		if (strcmp(acc, "read") == 0)
			access = MQ_READ;
		else if (strcmp(acc, "write") == 0)
			access = MQ_WRITE;
		else if (strcmp(acc, "readwrite") == 0)
			access = MQ_READ | MQ_WRITE;
		else if (strcmp(acc, "deny") == 0)
			access = 0;
		else
			return imp_err(im, line, "access \"%.40s\" is not "
			    "read, write, readwrite or deny", acc);
	} else {
		topic = acc;
		access = MQ_READ | MQ_WRITE;
	}
	if (strncmp(topic, "$share/", 7) == 0 || strcmp(topic, "$share") == 0)
		return imp_err(im, line, "\"%s\": Mosquitto never matches an "
		    "ACL line against a \"$share/\" filter (deliveries carry "
		    "the real topic); remove the line", topic);
	if (!pattern && (strstr(topic, "%u") != NULL ||
	    strstr(topic, "%c") != NULL))
		return imp_err(im, line, "\"%s\": in a topic line \"%%u\" and "
		    "\"%%c\" are literal text for Mosquitto, but mqttguard "
		    "reads a \"%%u\"/\"%%c\" level as the identity/client id; "
		    "make it a pattern line, or rename the level", topic);
	if (acl_filter_check(topic, why, sizeof(why)) == -1)
		return imp_err(im, line, "\"%s\": %s", topic, why);
	if (im->nlines == im->caplines) {
		size_t		 cap = im->caplines ? im->caplines * 2 : 16;
		struct mline	*nl;

		if ((nl = realloc(im->lines, cap * sizeof(*nl))) == NULL)
			return imp_err(im, line, "out of memory");
		im->lines = nl;
		im->caplines = cap;
	}
	m = &im->lines[im->nlines];
	memset(m, 0, sizeof(*m));
	m->line = line;
	m->pattern = pattern;
	m->subj = *user;
	m->access = access;
	if ((m->topic = strdup(topic)) == NULL ||
	    flt_parse(m->topic, &m->f) == -1) {
		free(m->topic);
		return imp_err(im, line, "out of memory");
	}
	im->nlines++;
	return 0;
}

static int
imp_parse(struct import *im, FILE *fp)
{
	char	*buf = NULL;
	size_t	 cap = 0, user = 0;
	ssize_t	 n;
	int	 line = 0, rc = 0;

	while ((n = getline(&buf, &cap, fp)) != -1) {
		line++;
		if (memchr(buf, '\0', (size_t)n) != NULL) {
			rc = imp_err(im, line, "line holds a NUL byte");
			break;
		}
		if (n > 0 && buf[n - 1] == '\n')
			buf[n - 1] = '\0';
		if ((rc = imp_line(im, buf, line, &user)) == -1)
			break;
	}
	if (rc == 0 && ferror(fp))
		rc = imp_err(im, line, "%s", strerror(errno));
	free(buf);
	return rc;
}

static unsigned
actions_of(unsigned access)
{
	unsigned	a = 0;

	if (access == 0)
		return ACL_ALL;
	if (access & MQ_READ)
		a |= ACL_SUBSCRIBE | ACL_READ;
	if (access & MQ_WRITE)
		a |= ACL_PUBLISH;
	return a;
}

/* Adds an output rule unless the same one is there; takes <filter>. */
static int
imp_emit(struct import *im, bool allow, unsigned actions, char *filter,
    bool everyone, size_t subj, int src, int src2, const char *why)
{
	struct orule	*o;
	size_t		 i;

	if (filter == NULL)
		return imp_err(im, src, "out of memory");
	for (i = 0; why != NULL && i < im->nout; i++) {
		o = &im->out[i];
		if (o->allow == allow && (o->actions & actions) == actions &&
		    o->everyone == everyone && (everyone || o->subj == subj) &&
		    strcmp(o->filter, filter) == 0) {
			free(filter);
			return 0;
		}
	}
	if (im->nout == im->capout) {
		size_t		 cap = im->capout ? im->capout * 2 : 16;
		struct orule	*no;

		if ((no = realloc(im->out, cap * sizeof(*no))) == NULL) {
			free(filter);
			return imp_err(im, src, "out of memory");
		}
		im->out = no;
		im->capout = cap;
	}
	o = &im->out[im->nout++];
	o->allow = allow;
	o->actions = actions;
	o->filter = filter;
	o->everyone = everyone;
	o->subj = subj;
	o->src = src;
	o->src2 = src2;
	o->why = why;
	return 0;
}

/* The identity "%u" stands for with subject <s> in mqttguard. */
static const char *
who(const struct import *im, size_t s)
{
	return im->subjects[s];
}

/*
 * The rules: each line as written, then the denies that reproduce
 * Mosquitto's order (see the top of the file).
 */
static int
imp_derive(struct import *im)
{
	const struct mline	*d, *x;
	struct flt		 I;
	size_t			 i, j, s;
	int			 r;

	for (i = 0; i < im->nlines; i++) {
		d = &im->lines[i];
		if (imp_emit(im, d->access != 0, actions_of(d->access),
		    strdup(d->topic), d->pattern, d->subj, d->line, 0,
		    NULL) == -1)
			return -1;
	}
	/* A client's deny line beats its allow lines and the patterns. */
	for (s = 0; s < im->nsubj; s++) {
		for (i = 0; i < im->nlines; i++) {
			d = &im->lines[i];
			if (d->pattern || d->subj != s || d->access != 0)
				continue;
			for (j = 0; j < im->nlines; j++) {
				x = &im->lines[j];
				if (x->access == 0 || (!x->pattern &&
				    x->subj != s) || (x->pattern && s == 0 &&
				    flt_has(&x->f, F_PU)))
					continue;
				if ((r = flt_meet(&d->f, &x->f, who(im, s),
				    &I)) == 1 && flt_spec(&I) >
				    flt_spec(&d->f))
					r = imp_emit(im, false, ACL_ALL,
					    flt_str(&I), false, s, d->line,
					    x->line, "deny line first");
				free(I.lv);
				if (r == -1)
					return imp_err(im, d->line,
					    "out of memory");
			}
		}
	}
	/* A deny pattern beats the allow patterns. */
	for (i = 0; i < im->nlines; i++) {
		d = &im->lines[i];
		if (!d->pattern || d->access != 0)
			continue;
		for (j = 0; j < im->nlines; j++) {
			x = &im->lines[j];
			if (!x->pattern || x->access == 0)
				continue;
			if ((r = flt_meet(&d->f, &x->f, NULL, &I)) == 1 &&
			    flt_spec(&I) > flt_spec(&d->f))
				r = imp_emit(im, false, ACL_ALL, flt_str(&I),
				    true, 0, d->line, x->line,
				    "deny pattern first");
			free(I.lv);
			if (r == -1)
				return imp_err(im, d->line, "out of memory");
		}
	}
	/* Mosquitto skips "%u" patterns for clients without a username. */
	for (i = 0; i < im->nlines; i++) {
		x = &im->lines[i];
		if (x->pattern && x->access != 0 && flt_has(&x->f, F_PU) &&
		    imp_emit(im, false, actions_of(x->access),
		    strdup(x->topic), false, 0, x->line, 0,
		    "no %u for anonymous") == -1)
			return -1;
	}
	return 0;
}

/*
 * Refuses what the rules cannot say: a deny that comes from a pattern (or
 * cancels one for the anonymous identity) and is at least as specific as
 * an allow Mosquitto reads before it, where both could match.
 */
static int
imp_conflicts(struct import *im)
{
	const struct orule	*y;
	const struct mline	*x, *p;
	struct flt		 yf, I;
	size_t			 s, i, j, k;
	bool			 applies;
	int			 r;

	for (i = 0; i < im->nout; i++) {
		y = &im->out[i];
		if (y->allow || (!y->everyone && y->why == NULL) ||
		    (!y->everyone && strcmp(y->why, "no %u for anonymous")))
			continue;
		/* Does Mosquitto apply the deny pattern to the anonymous? */
		for (k = 0, p = NULL; k < im->nlines && p == NULL; k++)
			if (im->lines[k].line == y->src)
				p = &im->lines[k];
		if (p == NULL)
			continue;
		if (flt_parse(y->filter, &yf) == -1)
			return imp_err(im, y->src, "out of memory");
		for (s = 0; s < im->nsubj; s++) {
			if (!y->everyone && s != y->subj)
				continue;
			applies = y->everyone && !(s == 0 &&
			    flt_has(&p->f, F_PU));
			for (j = 0; j < im->nlines; j++) {
				x = &im->lines[j];
				if (x->access == 0 || !(actions_of(x->access) &
				    y->actions))
					continue;
				if (!x->pattern && x->subj != s)
					continue;
				if (x->pattern && (applies || (s == 0 &&
				    flt_has(&x->f, F_PU))))
					continue;
				r = flt_meet(&x->f, &yf, who(im, s), &I);
				free(I.lv);
				if (r == -1) {
					free(yf.lv);
					return imp_err(im, y->src, "out of "
					    "memory");
				}
				if (r == 0 || flt_spec(&x->f) > flt_spec(&yf))
					continue;
				free(yf.lv);
				return imp_err(im, x->line, "%s \"%s\" gives "
				    "%s what the deny \"%s\" (from line %d) "
				    "takes away; Mosquitto allows it, as it "
				    "reads %s, but in mqttguard the deny is at "
				    "least as specific and wins.  This "
				    "exception cannot be written as mqttguard "
				    "rules: narrow the deny, or split it by "
				    "user", x->pattern ? "pattern" : "topic",
				    x->topic, s == 0 ? "clients without a "
				    "username" : im->subjects[s], y->filter,
				    y->src, y->why != NULL && strcmp(y->why,
				    "no %u for anonymous") == 0 ? "no %u "
				    "pattern for clients without a username" :
				    x->pattern ? "no %u pattern for clients "
				    "without a username" : "a client's own "
				    "lines before the patterns");
			}
		}
		free(yf.lv);
	}
	return 0;
}

/* A YAML double-quoted scalar. */
static void
yq(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void
imp_write(struct import *im, FILE *out)
{
	static const char *const act_yaml[] = {
		[ACL_PUBLISH] = "publish",
		[ACL_SUBSCRIBE | ACL_READ] = "[subscribe, read]",
		[ACL_ALL] = "all",
	};
	const struct orule	*o;
	size_t			 i;
	bool			 derived = false;

	fprintf(out, "# Converted by `mqttguard import-acl` from %s,\n"
	    "# with the meaning Mosquitto 2.0 gives it.  Each rule names "
	    "its line there.\n", im->path);
	fprintf(out, "acl:\n  rules:\n");
	if (im->nout == 0)
		fprintf(out, "    []\n");
	for (i = 0; i < im->nout; i++) {
		o = &im->out[i];
		if (o->why != NULL && !derived) {
			fprintf(out, "    # Denies that keep Mosquitto's order "
			    "(deny lines first, a client's own\n    # lines "
			    "before patterns, no %%u patterns for clients "
			    "without a username):\n");
			derived = true;
		}
		if (o->why == NULL)
			fprintf(out, "    # line %d\n", o->src);
		else if (o->src2 != 0)
			fprintf(out, "    # lines %d and %d: %s\n", o->src,
			    o->src2, o->why);
		else
			fprintf(out, "    # line %d: %s\n", o->src, o->why);
		fprintf(out, "    - %s: %s\n      topic: ", o->allow ? "allow" :
		    "deny", act_yaml[o->actions] != NULL ?
		    act_yaml[o->actions] : "all");
		yq(out, o->filter);
		fputc('\n', out);
		if (!o->everyone) {
			fprintf(out, "      users: [");
			yq(out, im->subjects[o->subj]);
			fprintf(out, "]\n");
		}
	}
}

int
aclfile_import(const char *path, const char *anon, FILE *out, char *err,
    size_t errlen)
{
	struct import	 im;
	FILE		*fp;
	size_t		 i;
	int		 rc = -1;

	memset(&im, 0, sizeof(im));
	im.path = path;
	im.err = err;
	im.errlen = errlen;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((im.subjects = calloc(1, sizeof(*im.subjects))) == NULL ||
	    (im.subjects[0] = strdup(anon)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	im.nsubj = 1;
	if (imp_parse(&im, fp) == -1 || imp_derive(&im) == -1 ||
	    imp_conflicts(&im) == -1)
		goto done;
	imp_write(&im, out);
	rc = 0;
done:
	fclose(fp);
	for (i = 0; i < im.nlines; i++) {
		free(im.lines[i].topic);
		free(im.lines[i].f.lv);
	}
	free(im.lines);
	for (i = 0; i < im.nout; i++)
		free(im.out[i].filter);
	free(im.out);
	for (i = 0; i < im.nsubj; i++)
		free(im.subjects[i]);
	free(im.subjects);
	return rc;
}

int
aclfile_import_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "anonymous-identity", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*anon = "anonymous";
	char		 err[1024];
	int		 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			anon = optarg;
			break;
		case 'h':
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: mqttguard "
			    "import-acl [--anonymous-identity NAME] "
			    "MOSQUITTO_ACL_FILE\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1 || *anon == '\0') {
		fprintf(stderr, "usage: mqttguard import-acl "
		    "[--anonymous-identity NAME] MOSQUITTO_ACL_FILE\n");
		return 2;
	}
	if (aclfile_import(argv[optind], anon, stdout, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "mqttguard: %s\n", err);
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

/* ---- policy loading for the tools ----------------------------------- */

static struct policy *
load(const char *file)
{
	struct config_errors	*errs;
	struct policy		*pol;

	if ((errs = calloc(1, sizeof(*errs))) == NULL) {
		fprintf(stderr, "mqttguard: out of memory\n");
		return NULL;
	}
	if ((pol = config_load_flags(file, errs, CONFIG_PARTIAL)) == NULL) {
		config_errors_print(errs, stderr);
		fprintf(stderr, "mqttguard: %s: policy refused (%zu error%s)\n",
		    file, errs->n, errs->n == 1 ? "" : "s");
	}
	free(errs);
	return pol;
}

/* "FILE:LINE: allow ..." for the deciding rule, or the default. */
static void
print_verdict(FILE *out, const struct acl_verdict *v)
{
	char	buf[512];

	if (v->rule == NULL) {
		fprintf(out, "default deny (no rule matches)");
		return;
	}
	acl_rule_str(v->rule, buf, sizeof(buf));
	fprintf(out, "%s:%d: %s", v->rule->file, v->rule->line, buf);
}

/* ---- acl check ------------------------------------------------------ */

static void
check_usage(FILE *fp)
{
	fprintf(fp, "usage: mqttguard acl check -c POLICY (--user USER | "
	    "--anonymous) [--client-id ID]\n"
	    "                           {publish|subscribe|read} TOPIC\n"
	    "prints allow or deny and the deciding rule; exit 0 allow, 1 "
	    "deny, 2 error\n");
}

/* A topic name (no wildcard) or, for subscribe, a filter. */
static bool
topic_ok(const char *t, bool filter)
{
	const char	*lv, *end;
	size_t		 n;

	if (*t == '\0' || strlen(t) > ACL_TOPIC_MAX)
		return false;
	if (filter && strncmp(t, "$share/", 7) == 0) {
		if ((t = strchr(t + 7, '/')) == NULL || t[-1] == '/')
			return false;
		t++;
		if (*t == '\0')
			return false;
	}
	for (lv = t;; lv = end + 1) {
		if ((end = strchr(lv, '/')) == NULL)
			end = lv + strlen(lv);
		n = (size_t)(end - lv);
		if ((memchr(lv, '+', n) || memchr(lv, '#', n)) && (!filter ||
		    n != 1 || (*lv == '#' && *end != '\0')))
			return false;
		if (*end == '\0')
			return true;
	}
}

int
aclfile_check_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "anonymous", no_argument, NULL, 'A' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct acl_subject	 who;
	struct acl_verdict	 v;
	struct policy		*pol;
	const char		*file = DEFAULT_POLICY, *user = NULL;
	const char		*cid = "", *topic;
	bool			 anon = false;
	int			 ch, action, rc;

	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		check_usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'A':
			anon = true;
			break;
		case 'i':
			cid = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 2 || (user == NULL) == !anon ||
	    (user != NULL && *user == '\0')) {
		check_usage(stderr);
		return 2;
	}
	if ((action = acl_action_parse(argv[optind])) == -1 ||
	    action == ACL_ALL) {
		fprintf(stderr, "mqttguard: \"%s\" is not publish, subscribe "
		    "or read\n", argv[optind]);
		return 2;
	}
	topic = argv[optind + 1];
	if (!topic_ok(topic, action == ACL_SUBSCRIBE)) {
		fprintf(stderr, "mqttguard: \"%s\" is not a valid topic %s\n",
		    topic, action == ACL_SUBSCRIBE ? "filter" :
		    "name (wildcards are for subscribe)");
		return 2;
	}
	if ((pol = load(file)) == NULL)
		return 2;
	if (pol->acl == NULL) {
		printf("allow: %s has no acl section, every topic is "
		    "allowed\n", file);
		policy_unref(pol);
		return 0;
	}
	who.identity = anon ? pol->auth.anonymous_identity : user;
	who.client_id = cid;
	who.client_id_len = strlen(cid);
	acl_check(pol->acl, &who, (enum acl_action)action,
	    (const uint8_t *)topic, strlen(topic), &v);
	printf("%s: ", v.allow ? "allow" : "deny");
	print_verdict(stdout, &v);
	putchar('\n');
	if (anon && !pol->auth.anonymous)
		fprintf(stderr, "note: auth.anonymous is false: clients "
		    "without credentials are refused before any ACL\n");
	rc = v.allow ? 0 : 1;
	policy_unref(pol);
	return rc;
}

/* ---- tests ---------------------------------------------------------- */

size_t
aclfile_run_tests(const struct policy *pol, FILE *out)
{
	const struct acl_test	*t;
	struct acl_verdict	 v;
	size_t			 i, n = acl_test_count(pol->acl), failed = 0;

	for (i = 0; i < n; i++) {
		t = acl_test_at(pol->acl, i);
		if (acl_test_run(pol->acl, t, pol->auth.anonymous_identity,
		    &v))
			continue;
		failed++;
		fprintf(out, "%s:%d: test failed: %s%s%s%s%s %s \"%s\": "
		    "expected %s, got %s by ", t->file, t->line,
		    t->identity != NULL ? "user " : "anonymous",
		    t->identity != NULL ? t->identity : "",
		    *t->client_id != '\0' ? " (client id " : "", t->client_id,
		    *t->client_id != '\0' ? ")" : "",
		    acl_action_str(t->action), t->topic,
		    t->expect_allow ? "allow" : "deny",
		    v.allow ? "allow" : "deny");
		print_verdict(out, &v);
		fputc('\n', out);
	}
	if (n > 0)
		fprintf(out, "mqttguard: %zu policy test%s, %zu failed\n", n,
		    n == 1 ? "" : "s", failed);
	return failed;
}

/* ---- lint ----------------------------------------------------------- */

struct finding {
	char	*file;		/* owned; NULL: none */
	int	 line;
	size_t	 seq;
	char	*msg;		/* owned */
};

struct findings {
	struct finding	*v;
	size_t		 n, cap;
	bool		 nomem;
};

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
 * The names in the password file and their lines (the file loaded, so it
 * is well formed: "name:hash" lines, '#' comments, blank lines).
 */
static int
passwd_users(const char *path, struct acl_lint_user **out, size_t *n)
{
	struct acl_lint_user	*u = NULL, *nu;
	FILE			*fp;
	char			*buf = NULL, *colon, *s, *e;
	size_t			 cap = 0, ucap = 0;
	int			 line = 0;

	*out = NULL;
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
	*out = u;
	return 0;
}

int
aclfile_lint_main(int argc, char **argv)
{
	struct acl_lint_ctx	 ctx;
	struct acl_lint_user	*users = NULL;
	struct findings		 fs;
	struct policy		*pol;
	const struct acl_rule	*r;
	const struct acl_group	*g;
	const char		*file = DEFAULT_POLICY, *prev = NULL;
	size_t			 nusers = 0, i;
	int			 ch, rc;

	optind = 1;
	while ((ch = getopt(argc, argv, "c:h")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
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
	if ((pol = load(file)) == NULL)
		return 2;
	memset(&fs, 0, sizeof(fs));
	lint_mode(&fs, file, "the policy file");
	lint_mode(&fs, pol->auth.password_file, "the password file");
	if (pol->acl == NULL)
		finding_add(&fs, file, 0, "no acl section: every client may "
		    "publish and subscribe to every topic (mqttguard "
		    "import-acl converts a Mosquitto acl_file)");
	else {
		memset(&ctx, 0, sizeof(ctx));
		ctx.anonymous_identity = pol->auth.anonymous_identity;
		ctx.anonymous = pol->auth.anonymous;
		if (pol->auth.password_file != NULL &&
		    passwd_users(pol->auth.password_file, &users,
		    &nusers) == 0)
			ctx.users_known = true;
		ctx.users = users;
		ctx.n_users = nusers;
		for (i = 0; i < pol->n_listeners; i++)
			ctx.cert_identities |= pol->listeners[i].authn !=
			    POLICY_AUTHN_PASSWORD;
		acl_lint(pol->acl, &ctx, finding_add, &fs);
		/* Included files can be written too. */
		for (i = 0; i < acl_count(pol->acl); i++) {
			r = acl_rule_at(pol->acl, i);
			if (strcmp(r->file, file) != 0 && (prev == NULL ||
			    strcmp(prev, r->file) != 0))
				lint_mode(&fs, r->file, "an included acl file");
			prev = r->file;
		}
		for (i = 0; i < acl_group_count(pol->acl); i++) {
			g = acl_group_at(pol->acl, i);
			if (g->file != NULL && strcmp(g->file, file) != 0 &&
			    (prev == NULL || strcmp(prev, g->file) != 0))
				lint_mode(&fs, g->file, "an included acl file");
			prev = g->file;
		}
	}
	/* An included file reached twice is reported once. */
	if (fs.n > 1)
		qsort(fs.v, fs.n, sizeof(*fs.v), finding_cmp);
	for (i = 0; i < fs.n; i++) {
		if (i > 0 && fs.v[i].line == fs.v[i - 1].line &&
		    strcmp(fs.v[i].msg, fs.v[i - 1].msg) == 0 &&
		    strcmp(fs.v[i].file ? fs.v[i].file : "", fs.v[i - 1].file ?
		    fs.v[i - 1].file : "") == 0)
			continue;
		if (fs.v[i].file != NULL && fs.v[i].line > 0)
			printf("%s:%d: warning: %s\n", fs.v[i].file,
			    fs.v[i].line, fs.v[i].msg);
		else
			printf("%s: warning: %s\n", fs.v[i].file != NULL ?
			    fs.v[i].file : file, fs.v[i].msg);
	}
	if (fs.nomem)
		fprintf(stderr, "mqttguard: out of memory: some warnings "
		    "were lost\n");
	rc = fs.n > 0 || fs.nomem ? 1 : 0;
	if (fs.n == 0)
		fprintf(stderr, "mqttguard: %s: no warnings\n", file);
	for (i = 0; i < fs.n; i++) {
		free(fs.v[i].file);
		free(fs.v[i].msg);
	}
	free(fs.v);
	for (i = 0; i < nusers; i++)
		free((char *)users[i].name);
	free(users);
	policy_unref(pol);
	return rc;
}
