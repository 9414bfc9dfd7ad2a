/* SPDX-License-Identifier: ISC */
/*
 * learn — observation lines in, rule filters and YAML scalars out.
 *
 * The JSON read here is the flat objects observe.c and log.c write: one
 * object per line, string, number, true, false and null values; nested
 * values are refused rather than skipped.  Strings are unescaped
 * (\uXXXX with surrogate pairs) and must come out as valid UTF-8 without
 * NUL, as MQTT strings are.
 *
 * Generalisation works on one identity's patterns at a time, level by
 * level: sorting by "every level but this one" brings the patterns that
 * differ only there together, so a pass is O(n log n) in the patterns
 * whatever they hold.  Used by learn_cmd.c and the tests only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/acl.h"
#include "mqttguard/learn.h"
#include "mqttguard/topic.h"

#define LEARN_LEVELS_MAX	64	/* levels looked at for a '+' */

/* A pattern's key while one level is generalised. */
struct gkey {
	char	*key;		/* owned */
	size_t	 i;		/* in the patterns */
};

/* The fields of a line that are not kept in the observation. */
struct obs_parse {
	struct learn_obs	*o;
	char			*action;	/* owned */
	char			*event;		/* owned */
};

/* A JSON reader over one line. */
struct jr {
	const char	*p, *end;
};

static void	jr_ws(struct jr *);
static int	jr_string(struct jr *, char **);
static int	jr_hex4(struct jr *, unsigned *);
static int	jr_skip(struct jr *);
static int	jr_count(struct jr *, uint64_t *);
static int	obs_field(struct jr *, const char *, struct obs_parse *);
static int	obs_check(struct obs_parse *);
static int	put_utf8(char *, size_t *, unsigned);
static size_t	level_count(const char *);
static int	level_at(const char *, size_t, const char **, size_t *);
static char	*blank_key(const char *, size_t);
static int	gkey_cmp(const void *, const void *);
static long	dedupe(struct learn_pat *, size_t);
static int	pat_cmp(const void *, const void *);
static int	plus_pass(struct learn_pat *, size_t, size_t,
		    const struct learn_gen *);
static int	hash_pass(struct learn_pat *, size_t, const struct learn_gen *);
static bool	literal(const char *, size_t, const struct learn_gen *);

static void
jr_ws(struct jr *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
	    *r->p == '\r' || *r->p == '\n'))
		r->p++;
}

static int
jr_hex4(struct jr *r, unsigned *v)
{
	int	i, c;

	if (r->end - r->p < 4)
		return -1;
	for (*v = 0, i = 0; i < 4; i++) {
		c = (unsigned char)*r->p++;
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return -1;
		*v = *v << 4 | (unsigned)c;
	}
	return 0;
}

/* Code point <c> as UTF-8 at <out> + *n. */
static int
put_utf8(char *out, size_t *n, unsigned c)
{
	if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	if (c < 0x80)
		out[(*n)++] = (char)c;
	else if (c < 0x800) {
		out[(*n)++] = (char)(0xC0 | c >> 6);
		out[(*n)++] = (char)(0x80 | (c & 0x3F));
	} else if (c < 0x10000) {
		out[(*n)++] = (char)(0xE0 | c >> 12);
		out[(*n)++] = (char)(0x80 | (c >> 6 & 0x3F));
		out[(*n)++] = (char)(0x80 | (c & 0x3F));
	} else {
		out[(*n)++] = (char)(0xF0 | c >> 18);
		out[(*n)++] = (char)(0x80 | (c >> 12 & 0x3F));
		out[(*n)++] = (char)(0x80 | (c >> 6 & 0x3F));
		out[(*n)++] = (char)(0x80 | (c & 0x3F));
	}
	return 0;
}

/* A JSON string at r->p into *out (owned; valid UTF-8, no NUL). */
static int
jr_string(struct jr *r, char **out)
{
	const char	*start;
	char		*s;
	size_t		 n = 0;
	unsigned	 c, lo;

	if (r->p >= r->end || *r->p != '"')
		return -1;
	start = ++r->p;
	/* Unescaped, a string is never longer than written. */
	if ((s = malloc((size_t)(r->end - start) + 1)) == NULL)
		return -1;
	while (r->p < r->end && *r->p != '"') {
		if ((unsigned char)*r->p < 0x20)
			goto bad;
		if (*r->p != '\\') {
			s[n++] = *r->p++;
			continue;
		}
		if (++r->p >= r->end)
			goto bad;
		switch (*r->p++) {
		case '"': s[n++] = '"'; break;
		case '\\': s[n++] = '\\'; break;
		case '/': s[n++] = '/'; break;
		case 'b': s[n++] = '\b'; break;
		case 'f': s[n++] = '\f'; break;
		case 'n': s[n++] = '\n'; break;
		case 'r': s[n++] = '\r'; break;
		case 't': s[n++] = '\t'; break;
		case 'u':
			if (jr_hex4(r, &c) == -1)
				goto bad;
			if (c >= 0xD800 && c < 0xDC00) {
				if (r->end - r->p < 6 || r->p[0] != '\\' ||
				    r->p[1] != 'u')
					goto bad;
				r->p += 2;
				if (jr_hex4(r, &lo) == -1 || lo < 0xDC00 ||
				    lo > 0xDFFF)
					goto bad;
				c = 0x10000 + ((c - 0xD800) << 10) +
				    (lo - 0xDC00);
			}
			if (put_utf8(s, &n, c) == -1)
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	if (r->p >= r->end)
		goto bad;
	r->p++;
	s[n] = '\0';
	(void)start;
	if (topic_utf8_check((const uint8_t *)s, n, 0) != TOPIC_OK)
		goto bad;
	*out = s;
	return 0;
bad:
	free(s);
	return -1;
}

/* A number, true, false or null; a string.  Objects and arrays: -1. */
static int
jr_skip(struct jr *r)
{
	char	*s;

	if (r->p < r->end && *r->p == '"') {
		if (jr_string(r, &s) == -1)
			return -1;
		free(s);
		return 0;
	}
	/* strchr() finds the NUL too: a NUL byte is no value. */
	if (r->p >= r->end || *r->p == '\0' ||
	    strchr("-0123456789tfn", *r->p) == NULL)
		return -1;
	while (r->p < r->end && *r->p != '\0' &&
	    strchr("-+.0123456789eEtruefalsn", *r->p) != NULL)
		r->p++;
	return 0;
}

/*
 * A positive decimal count, digits only, bounded by r->end (the line
 * need not be NUL-terminated).  -1 for 0, an overflow or no digit.
 */
static int
jr_count(struct jr *r, uint64_t *v)
{
	const char	*start = r->p;

	for (*v = 0; r->p < r->end && *r->p >= '0' && *r->p <= '9'; r->p++) {
		if (*v > (UINT64_MAX - 9) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(*r->p - '0');
	}
	return r->p == start || *v == 0 ? -1 : 0;
}

/* The value of <key> at r->p: kept in <op> if it is one of ours. */
static int
obs_field(struct jr *r, const char *key, struct obs_parse *op)
{
	char	**dst = NULL, *val;

	if (strcmp(key, "count") == 0 && r->p < r->end && *r->p != '"')
		return jr_count(r, &op->o->count);
	if (strcmp(key, "identity") == 0)
		dst = &op->o->identity;
	else if (strcmp(key, "client_id") == 0)
		dst = &op->o->client_id;
	else if (strcmp(key, "topic") == 0)
		dst = &op->o->topic;
	else if (strcmp(key, "action") == 0)
		dst = &op->action;
	else if (strcmp(key, "event") == 0)
		dst = &op->event;
	if (dst == NULL || r->p >= r->end || *r->p != '"')
		return jr_skip(r);
	if (jr_string(r, &val) == -1)
		return -1;
	free(*dst);
	*dst = val;
	return 0;
}

/* What a whole line must hold to be an observation. */
static int
obs_check(struct obs_parse *op)
{
	struct learn_obs	*o = op->o;

	if (o->identity == NULL || o->topic == NULL || op->action == NULL ||
	    o->topic[0] == '\0')
		return -1;
	/* MQTT strings are at most 65535 bytes: longer is not from the wire. */
	if (strlen(o->identity) > LEARN_STRING_MAX || strlen(o->topic) >
	    LEARN_STRING_MAX || (o->client_id != NULL &&
	    strlen(o->client_id) > LEARN_STRING_MAX))
		return -1;
	if (op->event != NULL && strcmp(op->event, "acl.deny") != 0 &&
	    strcmp(op->event, "acl.would_deny") != 0)
		return -1;
	if (strcmp(op->action, "publish") == 0)
		o->action = LEARN_PUBLISH;
	else if (strcmp(op->action, "subscribe") == 0)
		o->action = LEARN_SUBSCRIBE;
	else if (strcmp(op->action, "will") == 0)
		o->action = LEARN_WILL;
	else
		return -1;
	if (o->client_id == NULL && (o->client_id = strdup("")) == NULL)
		return -1;
	return 0;
}

int
learn_obs_parse(const char *s, size_t len, struct learn_obs *o)
{
	struct jr		 r = { s, s + len };
	struct obs_parse	 op = { o, NULL, NULL };
	char			*key = NULL;
	int			 rc = -1;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	jr_ws(&r);
	if (r.p >= r.end || *r.p++ != '{')
		return -1;
	jr_ws(&r);
	if (r.p < r.end && *r.p == '}')
		goto end;		/* {} */
	for (;;) {
		if (jr_string(&r, &key) == -1)
			goto done;
		jr_ws(&r);
		if (r.p >= r.end || *r.p++ != ':')
			goto done;
		jr_ws(&r);
		if (obs_field(&r, key, &op) == -1)
			goto done;
		free(key);
		key = NULL;
		jr_ws(&r);
		if (r.p < r.end && *r.p == '}')
			break;
		if (r.p >= r.end || *r.p++ != ',')
			goto done;
		jr_ws(&r);
	}
end:
	r.p++;
	jr_ws(&r);
	if (r.p == r.end && obs_check(&op) == 0)
		rc = 0;
done:
	free(key);
	free(op.action);
	free(op.event);
	if (rc == -1)
		learn_obs_fini(o);
	return rc;
}

void
learn_obs_fini(struct learn_obs *o)
{
	free(o->identity);
	free(o->client_id);
	free(o->topic);
	memset(o, 0, sizeof(*o));
}

char *
learn_subst(const char *topic, const char *identity, const char *cid)
{
	size_t		 il = strlen(identity), cl = strlen(cid), len, n = 0;
	const char	*p = topic, *e;
	char		*out;

	if ((out = malloc(strlen(topic) + 3)) == NULL)
		return NULL;
	/* "%u" and "%c" are two bytes: the result is never longer. */
	for (;;) {
		e = strchr(p, '/');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 2 && p[0] == '%' && (p[1] == 'u' || p[1] == 'c')) {
			free(out);
			return NULL;
		}
		if (len == 1 && (*p == '+' || *p == '#'))
			memcpy(out + n, p, len);
		else if (il > 0 && len == il && memcmp(p, identity, il) == 0)
			memcpy(out + n, "%u", (len = 2));
		else if (cl > 0 && len == cl && memcmp(p, cid, cl) == 0)
			memcpy(out + n, "%c", (len = 2));
		else
			memcpy(out + n, p, len);
		n += len;
		if (e == NULL)
			break;
		out[n++] = '/';
		p = e + 1;
	}
	out[n] = '\0';
	return out;
}

static size_t
level_count(const char *f)
{
	size_t	n = 1;

	for (; *f != '\0'; f++)
		n += *f == '/';
	return n;
}

/* Level <i> of <f>: its start and length; -1 past the last. */
static int
level_at(const char *f, size_t i, const char **p, size_t *len)
{
	const char	*e;

	while (i-- > 0) {
		if ((f = strchr(f, '/')) == NULL)
			return -1;
		f++;
	}
	e = strchr(f, '/');
	*p = f;
	*len = e != NULL ? (size_t)(e - f) : strlen(f);
	return 0;
}

/*
 * <f> with level <lv> blanked to one 0x01 byte: patterns equal but for
 * that level have equal keys.  NULL on ENOMEM.
 */
static char *
blank_key(const char *f, size_t lv)
{
	const char	*p;
	size_t		 len, n = strlen(f);
	char		*k;

	if (level_at(f, lv, &p, &len) == -1 || (k = malloc(n + 2)) == NULL)
		return NULL;
	snprintf(k, n + 2, "%.*s\001%s", (int)(p - f), f, p + len);
	return k;
}

static int
gkey_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gkey *)a)->key,
	    ((const struct gkey *)b)->key);
}

static int
pat_cmp(const void *a, const void *b)
{
	return strcmp(((const struct learn_pat *)a)->filter,
	    ((const struct learn_pat *)b)->filter);
}

/* Sorts and merges equal filters; the new count. */
static long
dedupe(struct learn_pat *v, size_t n)
{
	size_t	i, j = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), pat_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i].filter, v[j].filter) == 0) {
			v[j].count += v[i].count;
			v[j].topics += v[i].topics;
			free(v[i].filter);
			free(v[i].sample);
			continue;
		}
		v[++j] = v[i];
	}
	return (long)(j + 1);
}

/* A level that may count towards a '+': not a wildcard, %u, %c, a name. */
static bool
literal(const char *p, size_t len, const struct learn_gen *g)
{
	if (len == 1 && (*p == '+' || *p == '#'))
		return false;
	if (len == 2 && p[0] == '%' && (p[1] == 'u' || p[1] == 'c'))
		return false;
	return g->is_identity == NULL || !g->is_identity(g->ctx, p, len);
}

/*
 * One level <lv>: each set of patterns equal but for it, with at least
 * threshold literal values there, has those values replaced by '+'.
 */
static int
plus_pass(struct learn_pat *v, size_t n, size_t lv, const struct learn_gen *g)
{
	struct gkey	*ks;
	size_t		 i, j, k, m = 0, lits, len;
	const char	*p;
	char		*nf;
	int		 rc = -1;

	if ((ks = calloc(n + 1, sizeof(*ks))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (level_count(v[i].filter) <= lv)
			continue;
		if ((ks[m].key = blank_key(v[i].filter, lv)) == NULL)
			goto done;
		ks[m++].i = i;
	}
	qsort(ks, m, sizeof(*ks), gkey_cmp);
	for (i = 0; i < m; i = j) {
		for (j = i + 1; j < m && strcmp(ks[i].key, ks[j].key) == 0; j++)
			;
		for (lits = 0, k = i; k < j; k++) {
			level_at(v[ks[k].i].filter, lv, &p, &len);
			lits += literal(p, len, g);
		}
		if (lits < g->threshold)
			continue;
		for (k = i; k < j; k++) {
			struct learn_pat	*pt = &v[ks[k].i];

			level_at(pt->filter, lv, &p, &len);
			if (!literal(p, len, g))
				continue;
			if ((nf = malloc(strlen(pt->filter) + 2)) == NULL)
				goto done;
			snprintf(nf, strlen(pt->filter) + 2, "%.*s+%s",
			    (int)(p - pt->filter), pt->filter, p + len);
			free(pt->filter);
			pt->filter = nf;
		}
	}
	rc = 0;
done:
	for (i = 0; i < m; i++)
		free(ks[i].key);
	free(ks);
	return rc;
}

/*
 * With multilevel: patterns of at least two depths, standing for
 * threshold topics, under the same first two levels (neither a
 * wildcard) become "a/b/#".
 */
static int
hash_pass(struct learn_pat *v, size_t n, const struct learn_gen *g)
{
	struct gkey	*ks;
	size_t		 i, j, k, m = 0, len;
	const char	*p;
	char		*nf;
	uint64_t	 topics;
	bool		 depths;
	int		 rc = -1;

	if ((ks = calloc(n + 1, sizeof(*ks))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (level_count(v[i].filter) < 3 || v[i].filter[0] == '$' ||
		    level_at(v[i].filter, 2, &p, &len) == -1)
			continue;
		if ((ks[m].key = strndup(v[i].filter, (size_t)(p -
		    v[i].filter))) == NULL)
			goto done;
		if (strstr(ks[m].key, "+") != NULL ||
		    strstr(ks[m].key, "#") != NULL) {
			free(ks[m].key);
			continue;
		}
		ks[m++].i = i;
	}
	qsort(ks, m, sizeof(*ks), gkey_cmp);
	for (i = 0; i < m; i = j) {
		depths = false;
		topics = v[ks[i].i].topics;
		for (j = i + 1; j < m && strcmp(ks[i].key, ks[j].key) == 0;
		    j++) {
			depths |= level_count(v[ks[j].i].filter) !=
			    level_count(v[ks[i].i].filter);
			topics += v[ks[j].i].topics;
		}
		if (topics < g->threshold || !depths)
			continue;
		for (k = i; k < j; k++) {
			if ((nf = malloc(strlen(ks[k].key) + 2)) == NULL)
				goto done;
			snprintf(nf, strlen(ks[k].key) + 2, "%s#", ks[k].key);
			free(v[ks[k].i].filter);
			v[ks[k].i].filter = nf;
		}
	}
	rc = 0;
done:
	for (i = 0; i < m; i++)
		free(ks[i].key);
	free(ks);
	return rc;
}

long
learn_generalise(struct learn_pat *v, size_t n, const struct learn_gen *g)
{
	size_t	lv, depth = 0, i;
	long	m;

	for (i = 0; i < n; i++)
		if (level_count(v[i].filter) > depth)
			depth = level_count(v[i].filter);
	if (depth > LEARN_LEVELS_MAX)
		depth = LEARN_LEVELS_MAX;
	m = dedupe(v, n);
	for (lv = 0; g->threshold > 0 && lv < depth; lv++) {
		if (plus_pass(v, (size_t)m, lv, g) == -1)
			return -1;
		m = dedupe(v, (size_t)m);
	}
	if (g->multilevel && g->threshold > 0) {
		if (hash_pass(v, (size_t)m, g) == -1)
			return -1;
		m = dedupe(v, (size_t)m);
	}
	return m;
}

bool
learn_filter_ok(const char *f, bool multilevel)
{
	char	err[128];

	if (f[0] == '$' || (!multilevel && strchr(f, '#') != NULL))
		return false;
	return acl_filter_check(f, err, sizeof(err)) == 0;
}

char *
learn_yaml_quote(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = 2;
	char			*out, *o;

	for (; *p != '\0'; p++)
		n += *p < 0x20 || *p == 0x7f ? 4 : *p == '"' ||
		    *p == '\\' ? 2 : *p >= 0x80 ? 3 : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	o = out;
	*o++ = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			*o++ = '\\';
			*o++ = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f)
			o += snprintf(o, 5, "\\x%02x", *p);
		else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
			/* C1 controls: not printable to YAML */
			o += snprintf(o, 5, "\\x%02x", p[1]);
			p++;
		} else if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 ||
		    p[2] == 0xA9)) {
			/* U+2028, U+2029: line breaks to YAML 1.1 */
			o += snprintf(o, 5, "\\%c", p[2] == 0xA8 ? 'L' :
			    'P');
			p += 2;
		} else if (p[0] == 0xEF && ((p[1] == 0xBB && p[2] == 0xBF) ||
		    (p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)))) {
			/* U+FEFF, U+FFFE, U+FFFF: not printable either */
			o += snprintf(o, 7, "\\u%s", p[1] == 0xBB ? "FEFF" :
			    p[2] == 0xBE ? "FFFE" : "FFFF");
			p += 2;
		} else
			*o++ = (char)*p;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

void
learn_group_name(const char *const *names, size_t n, char *buf, size_t cap)
{
	size_t	len, i, k;

	if (cap == 0)
		return;
	buf[0] = '\0';
	if (n == 0)
		return;
	len = strlen(names[0]);
	for (i = 1; i < n; i++) {
		for (k = 0; k < len && names[i][k] == names[0][k]; k++)
			;
		len = k;
	}
	for (k = 0; k < len; k++) {
		char	c = names[0][k];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.'))
			break;
	}
	len = k;
	while (len > 0 && strchr("-_.0123456789", names[0][len - 1]) != NULL)
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(buf, names[0], len);
	buf[len] = '\0';
}
