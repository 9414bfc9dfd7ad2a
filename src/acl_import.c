/* SPDX-License-Identifier: ISC */
/*
 * acl_import — Mosquitto acl_file conversion: reads a Mosquitto acl_file
 * and writes an `acl:` section with the meaning Mosquitto 2.0 gives it
 * (its default security, the acl_file option), line by line:
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
 *
 * Only `mqttguard import-acl` (acl_cmd.c) and the tests call it: the
 * daemon reads YAML only (an imported file reaches it through
 * acl.include).  It prints nothing of its own: the section goes to the
 * caller's stream, an error into the caller's buffer.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/acl.h"
#include "mqttguard/acl_import.h"
#include "mqttguard/topic.h"
#include "mqttguard/util.h"

#define MQ_READ		0x1
#define MQ_WRITE	0x2

struct mline {
	int		 line;
	bool		 pattern;
	size_t		 subj;		/* topic lines: index into subjects */
	unsigned	 access;	/* MQ_*; 0: deny */
	char		*topic;		/* owned */
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
static int	imp_meet(const char *, const char *, const char *, char **);
static uint32_t	spec(const char *);
static bool	has_pu(const char *);
static int	imp_parse(struct import *, FILE *);
static int	imp_line(struct import *, char *, int, size_t *);
static int	imp_user(struct import *, char *, int, size_t *);
static int	imp_add(struct import *, int, bool, size_t, unsigned,
		    const char *);
static unsigned	actions_of(unsigned);
static int	imp_emit(struct import *, bool, unsigned, char *, bool,
		    size_t, int, int, const char *);
static const char *who(const struct import *, size_t);
static int	imp_deny_meet(struct import *, const struct mline *,
		    const struct mline *, const char *, bool, size_t,
		    const char *);
static int	imp_derive(struct import *);
static int	imp_conflicts(struct import *);
static int	imp_refuse(struct import *, const struct mline *,
		    const struct orule *, size_t);
static void	imp_write(struct import *, FILE *);
static void	yq(FILE *, const char *);

/* "path:line: " and the message into the caller's buffer; returns -1. */
static int
imp_err(struct import *im, int line, const char *fmt, ...)
{
	va_list	ap;
	size_t	n;

	util_errf(im->err, im->errlen, "%s:%d: ", im->path, line);
	n = im->err != NULL ? strlen(im->err) : 0;
	if (n + 1 < im->errlen) {
		va_start(ap, fmt);
		util_verrf(im->err + n, im->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * The topics both <d> and <x> match, as a new filter into *<out>: their
 * topic_meet(), "%u" standing for <who> when known, "%c" for a client id
 * never known.  Where a placeholder meets a literal the result keeps
 * <d>'s level: <d> is the deny side, and the result must stay inside it.
 * Returns 1, 0 when they share no topic (*<out> NULL), -1 on ENOMEM.
 */
static int
imp_meet(const char *d, const char *x, const char *who, char **out)
{
	const struct topic_var	 vars[2] = {
		{ "%u", 2, who, who != NULL ? strlen(who) : 0 },
		{ "%c", 2, NULL, 0 }
	};
	size_t			 dl = strlen(d), xl = strlen(x), ml;
	int			 rc;

	if ((*out = malloc(dl + xl + 1)) == NULL)
		return -1;
	rc = topic_meet(d, dl, x, xl, vars, 2, *out, dl + xl + 1, &ml);
	if (rc != 1) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* How specific the checked filter <f> is, as the ACL ranks rules. */
static uint32_t
spec(const char *f)
{
	return topic_specificity(f, strlen(f), NULL);
}

/*
 * Whether the checked filter <f> has a "%u" level: acl_filter_check()
 * lets "%u" stand only as a whole level, so any "%u" in it is one.
 */
static bool
has_pu(const char *f)
{
	return strstr(f, "%u") != NULL;
}

/*
 * The rest of a "user" line, <rest> (NULL: nothing after the word): the
 * subject the topic lines that follow belong to, into <*user>.
 */
static int
imp_user(struct import *im, char *rest, int line, size_t *user)
{
	char	*end, **ns;
	size_t	 i;

	if (rest == NULL)
		return imp_err(im, line, "missing username after \"user\"");
	while (isspace((unsigned char)*rest))
		rest++;
	end = rest + strlen(rest);
	while (end > rest && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (*rest == '\0')
		return imp_err(im, line, "missing username after \"user\"");
	if (strcmp(rest, im->subjects[0]) == 0)
		return imp_err(im, line, "user \"%s\" is also the identity of "
		    "clients without a username in mqttguard; choose another "
		    "with --anonymous-identity", rest);
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

/* Appends a checked topic or pattern line; copies <topic>. */
static int
imp_add(struct import *im, int line, bool pattern, size_t subj,
    unsigned access, const char *topic)
{
	struct mline	*m;

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
	m->subj = subj;
	m->access = access;
	if ((m->topic = strdup(topic)) == NULL)
		return imp_err(im, line, "out of memory");
	im->nlines++;
	return 0;
}

/* One line of the file, without its newline; <user> is the current one. */
static int
imp_line(struct import *im, char *buf, int line, size_t *user)
{
	char		*tok, *acc, *topic, *save = NULL, *rest;
	char		 why[256];
	size_t		 slen = strlen(buf);
	unsigned	 access;
	bool		 pattern;

	while (slen > 0 && isspace((unsigned char)buf[slen - 1]))
		buf[--slen] = '\0';
	if (buf[0] == '#')
		return 0;
	if ((tok = strtok_r(buf, " ", &save)) == NULL)
		return 0;
	if (strcmp(tok, "user") == 0)
		return imp_user(im, strtok_r(NULL, "", &save), line, user);
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
	return imp_add(im, line, pattern, *user, access, topic);
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
		/* User names and topics are MQTT strings: UTF-8. */
		if (topic_utf8_check((const uint8_t *)buf, (size_t)n, 0) !=
		    TOPIC_OK) {
			rc = imp_err(im, line, "line is not valid UTF-8 (user "
			    "names and topics are UTF-8 strings in MQTT)");
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
 * For the deny <d> and the allow <x> that Mosquitto reads after it ("%u"
 * standing for <who>): a deny of their meet, for everyone or subject
 * <subj>, when it is more specific than <d>, so that it wins over <x> as
 * <d> does in Mosquitto.  <why> names the order it keeps.
 */
static int
imp_deny_meet(struct import *im, const struct mline *d, const struct mline *x,
    const char *who, bool everyone, size_t subj, const char *why)
{
	char	*m;
	int	 r;

	if ((r = imp_meet(d->topic, x->topic, who, &m)) == 1 &&
	    spec(m) > spec(d->topic)) {
		r = imp_emit(im, false, ACL_ALL, m, everyone, subj, d->line,
		    x->line, why);
		m = NULL;		/* imp_emit() took it */
	}
	free(m);
	if (r == -1)
		return imp_err(im, d->line, "out of memory");
	return 0;
}

/*
 * The rules: each line as written, then the denies that reproduce
 * Mosquitto's order (see the top of the file).
 */
static int
imp_derive(struct import *im)
{
	const struct mline	*d, *x;
	size_t			 i, j, s;

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
				    has_pu(x->topic)))
					continue;
				if (imp_deny_meet(im, d, x, who(im, s), false,
				    s, "deny line first") == -1)
					return -1;
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
			if (x->pattern && x->access != 0 &&
			    imp_deny_meet(im, d, x, NULL, true, 0,
			    "deny pattern first") == -1)
				return -1;
		}
	}
	/* Mosquitto skips "%u" patterns for clients without a username. */
	for (i = 0; i < im->nlines; i++) {
		x = &im->lines[i];
		if (x->pattern && x->access != 0 && has_pu(x->topic) &&
		    imp_emit(im, false, actions_of(x->access),
		    strdup(x->topic), false, 0, x->line, 0,
		    "no %u for anonymous") == -1)
			return -1;
	}
	return 0;
}

/*
 * The refusal for the allow <x> that the deny <y> overrides in mqttguard
 * for subject <s>, though Mosquitto reads <x> first.  Returns -1.
 */
static int
imp_refuse(struct import *im, const struct mline *x, const struct orule *y,
    size_t s)
{
	return imp_err(im, x->line, "%s \"%s\" gives %s what the deny \"%s\" "
	    "(from line %d) takes away; Mosquitto allows it, as it reads %s, "
	    "but in mqttguard the deny is at least as specific and wins.  "
	    "This exception cannot be written as mqttguard rules: narrow the "
	    "deny, or split it by user", x->pattern ? "pattern" : "topic",
	    x->topic, s == 0 ? "clients without a username" :
	    im->subjects[s], y->filter, y->src, x->pattern ||
	    (y->why != NULL && strcmp(y->why, "no %u for anonymous") == 0) ?
	    "no %u pattern for clients without a username" : "a client's own "
	    "lines before the patterns");
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
	char			*m;
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
		for (s = 0; s < im->nsubj; s++) {
			if (!y->everyone && s != y->subj)
				continue;
			applies = y->everyone && !(s == 0 && has_pu(p->topic));
			for (j = 0; j < im->nlines; j++) {
				x = &im->lines[j];
				if (x->access == 0 || !(actions_of(x->access) &
				    y->actions))
					continue;
				if (!x->pattern && x->subj != s)
					continue;
				if (x->pattern && (applies || (s == 0 &&
				    has_pu(x->topic))))
					continue;
				r = imp_meet(x->topic, y->filter, who(im, s),
				    &m);
				free(m);
				if (r == -1)
					return imp_err(im, y->src, "out of "
					    "memory");
				if (r == 1 && spec(x->topic) <= spec(y->filter))
					return imp_refuse(im, x, y, s);
			}
		}
	}
	return 0;
}

/*
 * A YAML double-quoted scalar of the UTF-8 string <s>.  What a YAML
 * reader refuses in a stream or folds as a line break is escaped: C0 and
 * C1 controls, DEL, U+2028/U+2029, the byte order mark and U+FFFE/U+FFFF.
 */
static void
yq(FILE *out, const char *s)
{
	const uint8_t	*p = (const uint8_t *)s;
	size_t		 n = strlen(s), k, i;
	uint32_t	 c;

	fputc('"', out);
	while (n > 0) {
		if (*p < 0x80) {
			if (*p == '"' || *p == '\\')
				fprintf(out, "\\%c", *p);
			else if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\x%02x", *p);
			else
				fputc(*p, out);
			p++;
			n--;
			continue;
		}
		if ((k = topic_utf8_len(p, n)) == 0) {
			/* Cannot happen: lines are checked as UTF-8. */
			fprintf(out, "\\ufffd");
			p++;
			n--;
			continue;
		}
		c = *p & (0xff >> (k + 1));
		for (i = 1; i < k; i++)
			c = c << 6 | (p[i] & 0x3f);
		if (c <= 0x9f || c == 0x2028 || c == 0x2029 || c == 0xfeff ||
		    c == 0xfffe || c == 0xffff)
			fprintf(out, "\\u%04x", (unsigned)c);
		else
			fwrite(p, 1, k, out);
		p += k;
		n -= k;
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
acl_import_convert(const char *path, const char *anon, FILE *out, char *err,
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
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((im.subjects = calloc(1, sizeof(*im.subjects))) == NULL ||
	    (im.subjects[0] = strdup(anon)) == NULL) {
		util_errf(err, errlen, "out of memory");
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
	for (i = 0; i < im.nlines; i++)
		free(im.lines[i].topic);
	free(im.lines);
	for (i = 0; i < im.nout; i++)
		free(im.out[i].filter);
	free(im.out);
	for (i = 0; i < im.nsubj; i++)
		free(im.subjects[i]);
	free(im.subjects);
	return rc;
}
