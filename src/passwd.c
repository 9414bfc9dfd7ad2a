/* SPDX-License-Identifier: ISC */
/*
 * passwd — Mosquitto password files: parse, verify, hash, edit in place.
 *
 * The file is read whole, checked line by line and turned into an array of
 * entries (user name, kind, cost parameters, raw salt and hash) with an
 * hmap of indices on the user name.  The first bad
 * line fails the whole load with "path:line: reason": Mosquitto 2.0 logged
 * such lines and dropped them, and before that (CVE-2018-12551) a
 * malformed entry could even let a client in without a password, so a file
 * we cannot read exactly is refused.  Where we differ from Mosquitto's
 * parser we are stricter, never looser: a line without ':' or with a second
 * ':' is an error, not skipped or truncated; base64 must be canonical.
 * Like Mosquitto we skip lines that begin with '#' and blank lines, and
 * trim white space around the user name and the hash (so CRLF files work).
 *
 * The database never changes after passwd_load() returns, which is what
 * makes passwd_verify() safe from many worker threads without a lock: it
 * only reads the database and keeps its state on the stack.  The hashes
 * are not passwords but are offline-attackable, so every buffer that held
 * them (the file, entries, temporary strings) is wiped before it is freed,
 * and no message ever quotes a hash or a password: a "hash" that is really
 * a plain-text password is exactly what must not reach a log.
 *
 * The editing functions rewrite a file atomically: they read it, check it
 * as passwd_load() would, splice in or cut out one line, and replace the
 * file through a temporary file in the same directory.  Two concurrent
 * editors can lose one update (the last rename wins); neither can leave a
 * torn file.
 *
 * Nothing here prints or touches a terminal: every error goes into the
 * caller's buffer.  The `mqttguard passwd` tool, with its prompt, is
 * passwd_cmd.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mqttguard/hmap.h"
#include "mqttguard/passwd.h"
#include "mqttguard/util.h"

/* Messages go through util_errf(); pw_err is its name here. */
#define pw_err	util_errf

/* Salts and hashes are at most 64 bytes: SHA-512's output. */
#define PW_BIN_MAX	64
#define PW_SHA512_LEN	64
/* Base64 of PW_BIN_MAX bytes with padding, and its NUL. */
#define PW_B64_MAX	(4 * ((PW_BIN_MAX + 2) / 3) + 1)
#define PW_ARGON2_SALT_MIN	ARGON2_MIN_SALT_LENGTH
#define PW_ARGON2_HASH_MIN	16
#define PW_ERR_NAME_MAX	64	/* bytes of a user name quoted in errors */

enum pw_kind {
	PW_SHA512 = 1,		/* $6$ */
	PW_PBKDF2,		/* $7$ */
	PW_ARGON2ID		/* $argon2id$ */
};

struct pw_entry {
	size_t		 name_off;	/* into passwd_db.names */
	uint32_t	 name_len;
	uint32_t	 line;
	uint8_t		 kind;		/* enum pw_kind */
	uint8_t		 salt_len;
	uint8_t		 hash_len;
	uint32_t	 iter;		/* PBKDF2 iterations, argon2 t */
	uint32_t	 m_cost;	/* argon2 memory, KiB */
	uint32_t	 lanes;		/* argon2 p */
	uint8_t		 salt[PW_BIN_MAX];
	uint8_t		 hash[PW_BIN_MAX];
};

struct passwd_db {
	struct pw_entry	*ents;		/* owned; n in use of cap */
	size_t		 n, cap;
	char		*names;		/* owned; user names back to back */
	size_t		 names_len, names_cap;
	struct hmap_type type;		/* its eq() reads this database */
	struct hmap	 index;		/* user name -> entry, pw_slot */
	struct pw_entry	 dummy;		/* what an unknown user costs */
};

/* A slot of the name index. */
struct pw_slot {
	uint64_t	 hash;
	uint32_t	 idx;		/* into passwd_db.ents */
};

/* The cost class of an entry: what its verification time depends on. */
struct pw_class {
	uint8_t		 kind, salt_len, hash_len;
	uint32_t	 iter, m_cost, lanes;
};

struct pw_parse {
	const char	*path;
	unsigned	 line;
	char		*err;
	size_t		 errlen;
};

static void	line_err(struct pw_parse *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	b64_val(unsigned char);
static int	b64_decode(const char *, size_t, bool, uint8_t *, size_t,
		    size_t *);
static size_t	b64_encode(const uint8_t *, size_t, bool, char *);
static bool	is_blank(unsigned char);
static bool	is_ctrl(unsigned char);
static void	trim(const char **, size_t *);
static int	parse_dec(const char *, size_t, uint64_t *);
static size_t	split_fields(const char *, size_t, const char **, size_t *,
		    size_t);
static int	parse_b64_field(struct pw_parse *, const char *, size_t, bool,
		    const char *, size_t, size_t, size_t, uint8_t *, uint8_t *);
static int	parse_sha512(struct pw_parse *, const char *, size_t,
		    struct pw_entry *);
static int	parse_pbkdf2(struct pw_parse *, const char *, size_t,
		    struct pw_entry *);
static int	parse_argon2_params(const char *, size_t, uint32_t *,
		    uint32_t *, uint32_t *);
static int	parse_argon2id(struct pw_parse *, const char *, size_t,
		    struct pw_entry *);
static int	parse_hash(struct pw_parse *, const char *, size_t,
		    struct pw_entry *);
static bool	name_eq(void *, const void *, const void *, size_t);
static const struct pw_entry *db_find(const struct passwd_db *, const char *,
		    size_t);
static int	db_add(struct passwd_db *, const struct pw_entry *,
		    const char *, size_t);
static int	parse_line(struct passwd_db *, struct pw_parse *, const char *,
		    size_t);
static int	class_cmp(const void *, const void *);
static int	pick_dummy(struct passwd_db *);
static struct passwd_db *parse_buf(const char *, const char *, size_t, char *,
		    size_t);
static int	read_file(const char *, bool, char **, size_t *, struct stat *,
		    char *, size_t);
static int	pw_compute(const struct pw_entry *, const uint8_t *, size_t,
		    uint8_t *);
static int	write_all(int, const char *, size_t);
static int	tmp_name(const char *, char **, char **, char *, size_t);
static int	tmp_fill(int, const char *, const char *, const char *, size_t,
		    const struct stat *, char *, size_t);
static int	tmp_place(const char *, const char *, bool, char *, size_t);
static int	dir_sync(const char *, const char *, char *, size_t);
static int	write_atomic(const char *, const char *, size_t, bool,
		    const struct stat *, char *, size_t);
static int	file_edit(const char *, const char *, const char *, size_t,
		    char *, size_t);
static void	buf_free(char *, size_t);

/* "path:line: message" for the line being parsed. */
static void
line_err(struct pw_parse *p, const char *fmt, ...)
{
	va_list	ap;
	char	msg[PASSWD_ERR_LEN];

	va_start(ap, fmt);
	util_verrf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_errf(p->err, p->errlen, "%s:%u: %s", p->path, p->line, msg);
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes the <n> characters at <s>, standard alphabet, with '=' padding
 * when <padded> (Mosquitto's $6$/$7$) or none (PHC strings).  Only the
 * canonical form is accepted: no stray characters, no padding in the
 * middle, no set bits after the last byte.  Sets <*outlen> to the decoded
 * length; returns 0, -1 if <s> is not such base64, -2 if it decodes to
 * more than <outmax> bytes (then nothing is written).
 */
static int
b64_decode(const char *s, size_t n, bool padded, uint8_t *out, size_t outmax,
    size_t *outlen)
{
	uint32_t	acc = 0;
	unsigned	bits = 0;
	size_t		i, len, o = 0;

	if (padded) {
		if (n == 0 || n % 4 != 0)
			return -1;
		if (s[n - 1] == '=')
			n--;
		if (s[n - 1] == '=')
			n--;
	} else if (n % 4 == 1)
		return -1;
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (b64_val((unsigned char)s[i]) < 0)
			return -1;
	len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	*outlen = len;
	if (len > outmax)
		return -2;
	for (i = 0; i < n; i++) {
		acc = (acc << 6) | (uint32_t)b64_val((unsigned char)s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	return acc == 0 ? 0 : -1;
}

/* Writes base64 of <in> and a NUL to <out>; returns the characters. */
static size_t
b64_encode(const uint8_t *in, size_t n, bool pad, char *out)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 i, o = 0;
	uint32_t		 v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* White space as Mosquitto trims it (isspace), without the newline. */
static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool
is_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* Decimal digits only; values past UINT32_MAX saturate there. */
static int
parse_dec(const char *s, size_t n, uint64_t *v)
{
	size_t	i;

	if (n == 0)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (*v <= UINT32_MAX)
			*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	if (*v > UINT32_MAX)
		*v = (uint64_t)UINT32_MAX + 1;
	return 0;
}

/*
 * Splits <s> at '$' into at most <max> fields; returns how many there are
 * (max + 1 when there are more).
 */
static size_t
split_fields(const char *s, size_t n, const char **f, size_t *fl, size_t max)
{
	size_t		 k = 0;
	const char	*end = s + n, *d;

	for (;;) {
		d = memchr(s, '$', (size_t)(end - s));
		if (k == max)
			return max + 1;
		f[k] = s;
		fl[k++] = (d != NULL ? d : end) - s;
		if (d == NULL)
			return k;
		s = d + 1;
	}
}

/*
 * Decodes the salt or hash field called <what> into <out> (PW_BIN_MAX
 * bytes) and checks its length is <min>..<max>; with <alt> non-zero, the
 * length must be <alt> or <max> instead (Mosquitto's salts: 12 or 64).
 * Reports errors on the current line.
 */
static int
parse_b64_field(struct pw_parse *p, const char *s, size_t n, bool padded,
    const char *what, size_t alt, size_t min, size_t max, uint8_t *out,
    uint8_t *outlen)
{
	size_t	len = 0;
	int	rc;

	if ((rc = b64_decode(s, n, padded, out, PW_BIN_MAX, &len)) == -1) {
		line_err(p, "%s is not valid base64", what);
		return -1;
	}
	if (alt != 0 && (rc != 0 || (len != alt && len != max))) {
		line_err(p, "%s is %zu bytes, expected %zu or %zu", what, len,
		    alt, max);
		return -1;
	}
	if (rc != 0 || len < min || len > max) {
		if (min == max)
			line_err(p, "%s is %zu bytes, expected %zu", what, len,
			    max);
		else
			line_err(p, "%s is %zu bytes, expected %zu..%zu", what,
			    len, min, max);
		return -1;
	}
	*outlen = (uint8_t)len;
	return 0;
}

/* "<salt>$<hash>" after "$6$".  Mosquitto accepts 12- and 64-byte salts. */
static int
parse_sha512(struct pw_parse *p, const char *s, size_t n, struct pw_entry *e)
{
	const char	*f[2];
	size_t		 fl[2];

	if (split_fields(s, n, f, fl, 2) != 2) {
		line_err(p, "expected $6$salt$hash");
		return -1;
	}
	e->kind = PW_SHA512;
	if (parse_b64_field(p, f[0], fl[0], true, "salt", 12, 0, PW_BIN_MAX,
	    e->salt, &e->salt_len) == -1 ||
	    parse_b64_field(p, f[1], fl[1], true, "hash", 0, PW_SHA512_LEN,
	    PW_SHA512_LEN, e->hash, &e->hash_len) == -1)
		return -1;
	return 0;
}

/* "<iterations>$<salt>$<hash>" after "$7$". */
static int
parse_pbkdf2(struct pw_parse *p, const char *s, size_t n, struct pw_entry *e)
{
	const char	*f[3];
	size_t		 fl[3];
	uint64_t	 it;

	if (split_fields(s, n, f, fl, 3) != 3) {
		line_err(p, "expected $7$iterations$salt$hash");
		return -1;
	}
	if (parse_dec(f[0], fl[0], &it) == -1) {
		line_err(p, "iteration count is not a decimal number");
		return -1;
	}
	if (it < 1 || it > PASSWD_ITERATIONS_MAX) {
		line_err(p, "iteration count %.*s is out of range (1..%d)",
		    (int)(fl[0] > 20 ? 20 : fl[0]), f[0],
		    PASSWD_ITERATIONS_MAX);
		return -1;
	}
	e->kind = PW_PBKDF2;
	e->iter = (uint32_t)it;
	if (parse_b64_field(p, f[1], fl[1], true, "salt", 12, 0, PW_BIN_MAX,
	    e->salt, &e->salt_len) == -1 ||
	    parse_b64_field(p, f[2], fl[2], true, "hash", 0, PW_SHA512_LEN,
	    PW_SHA512_LEN, e->hash, &e->hash_len) == -1)
		return -1;
	return 0;
}

/* "m=<n>,t=<n>,p=<n>", in that order, as libargon2 writes it. */
static int
parse_argon2_params(const char *s, size_t n, uint32_t *m, uint32_t *t,
    uint32_t *par)
{
	static const char	 keys[3] = { 'm', 't', 'p' };
	uint32_t		*vals[3];
	const char		*end = s + n, *stop;
	uint64_t		 v;
	size_t			 i;

	vals[0] = m;
	vals[1] = t;
	vals[2] = par;
	for (i = 0; i < 3; i++) {
		if (end - s < 2 || s[0] != keys[i] || s[1] != '=')
			return -1;
		s += 2;
		stop = memchr(s, ',', (size_t)(end - s));
		if (stop == NULL)
			stop = end;
		if ((i < 2) != (stop != end))
			return -1;
		if (parse_dec(s, (size_t)(stop - s), &v) == -1 ||
		    v > UINT32_MAX)
			return -1;
		*vals[i] = (uint32_t)v;
		s = stop + (stop != end);
	}
	return 0;
}

/* "v=19$m=..,t=..,p=..$<salt>$<hash>" after "$argon2id$". */
static int
parse_argon2id(struct pw_parse *p, const char *s, size_t n,
    struct pw_entry *e)
{
	const char	*f[4];
	size_t		 fl[4];
	uint32_t	 m, t, par;

	if (split_fields(s, n, f, fl, 4) != 4) {
		line_err(p, "expected $argon2id$v=19$m=<KiB>,t=<passes>,"
		    "p=<lanes>$salt$hash");
		return -1;
	}
	if (fl[0] != 4 || memcmp(f[0], "v=19", 4) != 0) {
		line_err(p, "argon2id version must be v=19");
		return -1;
	}
	if (parse_argon2_params(f[1], fl[1], &m, &t, &par) == -1) {
		line_err(p, "argon2id parameters must be "
		    "m=<KiB>,t=<passes>,p=<lanes>");
		return -1;
	}
	if (par < 1 || par > PASSWD_ARGON2_P_MAX) {
		line_err(p, "argon2id lanes p=%u is out of range (1..%d)",
		    par, PASSWD_ARGON2_P_MAX);
		return -1;
	}
	if (t < 1 || t > PASSWD_ARGON2_T_MAX) {
		line_err(p, "argon2id passes t=%u is out of range (1..%d)",
		    t, PASSWD_ARGON2_T_MAX);
		return -1;
	}
	/* Argon2 needs 8 KiB per lane; the upper bound is memory per try. */
	if (m < 8 * par || m > PASSWD_ARGON2_M_MAX) {
		line_err(p, "argon2id memory m=%u is out of range (%u..%d KiB)",
		    m, 8 * par, PASSWD_ARGON2_M_MAX);
		return -1;
	}
	e->kind = PW_ARGON2ID;
	e->iter = t;
	e->m_cost = m;
	e->lanes = par;
	if (parse_b64_field(p, f[2], fl[2], false, "salt", 0,
	    PW_ARGON2_SALT_MIN, PW_BIN_MAX, e->salt, &e->salt_len) == -1 ||
	    parse_b64_field(p, f[3], fl[3], false, "hash", 0,
	    PW_ARGON2_HASH_MIN, PW_BIN_MAX, e->hash, &e->hash_len) == -1)
		return -1;
	return 0;
}

/*
 * The hash field of a line, trimmed.  Only the type tag is ever quoted in
 * a message: the rest may be a plain-text password someone pasted.
 */
static int
parse_hash(struct pw_parse *p, const char *s, size_t n, struct pw_entry *e)
{
	const char	*tag, *d;
	size_t		 taglen, i;
	bool		 printable;

	if (n == 0) {
		line_err(p, "empty password hash");
		return -1;
	}
	if (memchr(s, ':', n) != NULL) {
		line_err(p, "unexpected ':' in the password hash");
		return -1;
	}
	if (s[0] != '$') {
		line_err(p, "not a password hash ($6$, $7$ or $argon2id$ "
		    "expected; a plain-text password?)");
		return -1;
	}
	tag = s + 1;
	d = memchr(tag, '$', n - 1);
	taglen = d != NULL ? (size_t)(d - tag) : n - 1;
	if (d != NULL && taglen == 1 && tag[0] == '6')
		return parse_sha512(p, d + 1, n - 3, e);
	if (d != NULL && taglen == 1 && tag[0] == '7')
		return parse_pbkdf2(p, d + 1, n - 3, e);
	if (d != NULL && taglen == 8 && memcmp(tag, "argon2id", 8) == 0)
		return parse_argon2id(p, d + 1, n - 10, e);
	printable = d != NULL && taglen > 0 && taglen <= 16;
	for (i = 0; printable && i < taglen; i++)
		printable = (tag[i] >= 'a' && tag[i] <= 'z') ||
		    (tag[i] >= 'A' && tag[i] <= 'Z') ||
		    (tag[i] >= '0' && tag[i] <= '9') || tag[i] == '-';
	if (printable)
		line_err(p, "unknown hash type \"$%.*s$\"", (int)taglen, tag);
	else
		line_err(p, "unknown hash type");
	return -1;
}

static bool
name_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct passwd_db	*db = ctx;
	const struct pw_entry	*e = &db->ents[((const struct pw_slot *)
				    slot)->idx];

	return e->name_len == len &&
	    memcmp(db->names + e->name_off, key, len) == 0;
}

static const struct pw_entry *
db_find(const struct passwd_db *db, const char *name, size_t n)
{
	const struct pw_slot	*s;

	s = hmap_find(&db->index, hmap_hash(&db->type, name, n), name, n);
	return s != NULL ? &db->ents[s->idx] : NULL;
}

/*
 * Appends entry <e> named by <name> (<n> bytes), known not to be present.
 * The entry array grows by copying, so the old one can be wiped first.
 */
static int
db_add(struct passwd_db *db, const struct pw_entry *e, const char *name,
    size_t n)
{
	struct pw_entry	*ents;
	struct pw_slot	*slot;
	char		*names;
	size_t		 cap;

	if (db->n == db->cap) {
		cap = db->cap != 0 ? db->cap * 2 : 64;
		if ((ents = calloc(cap, sizeof(*ents))) == NULL)
			return -1;
		if (db->n > 0)
			memcpy(ents, db->ents, db->n * sizeof(*ents));
		if (db->ents != NULL)
			OPENSSL_cleanse(db->ents, db->cap * sizeof(*ents));
		free(db->ents);
		db->ents = ents;
		db->cap = cap;
	}
	if (db->names_cap - db->names_len < n) {
		cap = db->names_cap != 0 ? db->names_cap : 1024;
		while (cap - db->names_len < n)
			cap *= 2;
		if ((names = realloc(db->names, cap)) == NULL)
			return -1;
		db->names = names;
		db->names_cap = cap;
	}
	if (db->n >= UINT32_MAX || (slot = hmap_add(&db->index,
	    hmap_hash(&db->type, name, n))) == NULL)
		return -1;
	slot->idx = (uint32_t)db->n;

	memcpy(db->names + db->names_len, name, n);
	db->ents[db->n] = *e;
	db->ents[db->n].name_off = db->names_len;
	db->ents[db->n].name_len = (uint32_t)n;
	db->names_len += n;
	db->n++;
	return 0;
}

/* One line, without its '\n'.  Comments and blank lines are skipped. */
static int
parse_line(struct passwd_db *db, struct pw_parse *p, const char *s, size_t n)
{
	struct pw_entry		 e;
	const struct pw_entry	*first;
	const char		*colon, *name, *hash;
	size_t			 nlen, hlen, i;
	int			 rc = -1;

	if (n > PASSWD_LINE_MAX) {
		line_err(p, "line is longer than %d bytes", PASSWD_LINE_MAX);
		return -1;
	}
	if (n > 0 && s[0] == '#')
		return 0;
	name = s;
	nlen = n;
	trim(&name, &nlen);
	if (nlen == 0)
		return 0;
	if ((colon = memchr(s, ':', n)) == NULL) {
		line_err(p, "missing ':' between user name and password hash");
		return -1;
	}
	name = s;
	nlen = (size_t)(colon - s);
	trim(&name, &nlen);
	hash = colon + 1;
	hlen = n - (size_t)(hash - s);
	trim(&hash, &hlen);
	if (nlen == 0) {
		line_err(p, "empty user name");
		return -1;
	}
	if (nlen > PASSWD_USER_MAX) {
		line_err(p, "user name is longer than %d bytes",
		    PASSWD_USER_MAX);
		return -1;
	}
	for (i = 0; i < nlen; i++) {
		if (is_ctrl((unsigned char)name[i])) {
			line_err(p, "user name contains a control character");
			return -1;
		}
	}
	memset(&e, 0, sizeof(e));
	if (parse_hash(p, hash, hlen, &e) == -1)
		goto done;
	if ((first = db_find(db, name, nlen)) != NULL) {
		line_err(p, "duplicate user \"%.*s%s\" (first on line %u)",
		    (int)(nlen > PW_ERR_NAME_MAX ? PW_ERR_NAME_MAX : nlen),
		    name, nlen > PW_ERR_NAME_MAX ? "..." : "", first->line);
		goto done;
	}
	e.line = p->line;
	if (db_add(db, &e, name, nlen) == -1) {
		line_err(p, "out of memory");
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(&e, sizeof(e));
	return rc;
}

static int
class_cmp(const void *a, const void *b)
{
	const struct pw_class	*x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->iter != y->iter)
		return x->iter < y->iter ? -1 : 1;
	if (x->m_cost != y->m_cost)
		return x->m_cost < y->m_cost ? -1 : 1;
	if (x->lanes != y->lanes)
		return x->lanes < y->lanes ? -1 : 1;
	if (x->salt_len != y->salt_len)
		return x->salt_len < y->salt_len ? -1 : 1;
	if (x->hash_len != y->hash_len)
		return x->hash_len < y->hash_len ? -1 : 1;
	return 0;
}

/*
 * Sets up the entry an unknown user is verified against: the cost class
 * most entries share (ties go to the costlier), with a random salt and
 * hash, so that "no such user" takes as long as a typical wrong password.
 * Users of a rarer class remain distinguishable by timing; that is the
 * price of a file with mixed hashes.  An empty file gets what
 * passwd_hash() would write.
 */
static int
pick_dummy(struct passwd_db *db)
{
	struct pw_class	*c, best;
	size_t		 i, run, bestrun = 0;
	struct pw_entry	*d = &db->dummy;

	memset(&best, 0, sizeof(best));
	best.kind = PW_PBKDF2;
	best.iter = PASSWD_ITERATIONS_DEFAULT;
	best.salt_len = PASSWD_SALT_LEN;
	best.hash_len = PW_SHA512_LEN;
	if (db->n > 0) {
		if ((c = calloc(db->n, sizeof(*c))) == NULL)
			return -1;
		for (i = 0; i < db->n; i++) {
			c[i].kind = db->ents[i].kind;
			c[i].salt_len = db->ents[i].salt_len;
			c[i].hash_len = db->ents[i].hash_len;
			c[i].iter = db->ents[i].iter;
			c[i].m_cost = db->ents[i].m_cost;
			c[i].lanes = db->ents[i].lanes;
		}
		qsort(c, db->n, sizeof(*c), class_cmp);
		for (i = 0, run = 0; i < db->n; i++) {
			run = i > 0 && class_cmp(&c[i - 1], &c[i]) == 0 ?
			    run + 1 : 1;
			if (run >= bestrun) {
				bestrun = run;
				best = c[i];
			}
		}
		free(c);
	}
	memset(d, 0, sizeof(*d));
	d->kind = best.kind;
	d->salt_len = best.salt_len;
	d->hash_len = best.hash_len;
	d->iter = best.iter;
	d->m_cost = best.m_cost;
	d->lanes = best.lanes;
	if (RAND_bytes(d->salt, d->salt_len) != 1 ||
	    RAND_bytes(d->hash, d->hash_len) != 1)
		return -1;
	return 0;
}

/* Parses the <len> bytes at <buf>, read from <path>, into a database. */
static struct passwd_db *
parse_buf(const char *path, const char *buf, size_t len, char *err,
    size_t errlen)
{
	struct passwd_db	*db;
	struct pw_parse		 p;
	const char		*s = buf, *end = buf + len, *nl;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		pw_err(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	db->type.size = sizeof(struct pw_slot);
	db->type.min = 64;
	db->type.eq = name_eq;
	db->type.ctx = db;
	hmap_init(&db->index, &db->type, NULL, 0);
	if (hmap_type_init(&db->type) == -1) {
		pw_err(err, errlen, "%s: no randomness", path);
		free(db);
		return NULL;
	}
	p.path = path;
	p.line = 0;
	p.err = err;
	p.errlen = errlen;
	while (s < end) {
		p.line++;
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		if (parse_line(db, &p, s, (size_t)(nl - s)) == -1)
			goto fail;
		s = nl + (nl < end);
	}
	if (pick_dummy(db) == -1) {
		pw_err(err, errlen, "%s: out of memory or no randomness", path);
		goto fail;
	}
	return db;
fail:
	passwd_free(db);
	return NULL;
}

/*
 * Reads the regular file <path> whole into a new buffer (*bufp, *lenp,
 * plus a NUL the length does not count) and its status into <st>.  With
 * <check_mode>, refuses a mode unfit for a secret file (util.h: others
 * may do nothing, only the owner may write; group-read is fine).
 */
static int
read_file(const char *path, bool check_mode, char **bufp, size_t *lenp,
    struct stat *st, char *err, size_t errlen)
{
	char	*buf = NULL;
	size_t	 cap, len = 0;
	ssize_t	 r;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		pw_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1) {
		pw_err(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		pw_err(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (check_mode && util_secret_mode_check(path,
	    (unsigned)st->st_mode, err, errlen) == -1)
		goto fail;
	if (st->st_size > PASSWD_FILE_MAX) {
		pw_err(err, errlen, "%s: larger than %d bytes", path,
		    PASSWD_FILE_MAX);
		goto fail;
	}
	/* One byte more than expected, to notice a file that grew. */
	cap = (size_t)st->st_size + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		pw_err(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (len < cap) {
		r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			pw_err(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len == cap) {
		pw_err(err, errlen, "%s: the file changed while being read",
		    path);
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	if (buf != NULL)
		buf_free(buf, len);
	close(fd);
	return -1;
}

struct passwd_db *
passwd_load(const char *path, char *err, size_t errlen)
{
	struct passwd_db	*db;
	struct stat		 st;
	char			*buf;
	size_t			 len;

	if (read_file(path, true, &buf, &len, &st, err, errlen) == -1)
		return NULL;
	db = parse_buf(path, buf, len, err, errlen);
	buf_free(buf, len);
	return db;
}

void
passwd_free(struct passwd_db *db)
{
	if (db == NULL)
		return;
	if (db->ents != NULL)
		OPENSSL_cleanse(db->ents, db->cap * sizeof(*db->ents));
	free(db->ents);
	free(db->names);
	hmap_fini(&db->index);
	OPENSSL_cleanse(db, sizeof(*db));
	free(db);
}

size_t
passwd_count(const struct passwd_db *db)
{
	return db != NULL ? db->n : 0;
}

bool
passwd_has(const struct passwd_db *db, const char *user, size_t user_len)
{
	return db != NULL && db_find(db, user, user_len) != NULL;
}

size_t
passwd_entry_bytes(const struct passwd_db *db, const char *user,
    size_t user_len, uint8_t *out, size_t outlen)
{
	const struct pw_entry	*e;
	uint32_t		 v[3];
	size_t			 n;

	if (db == NULL || (e = db_find(db, user, user_len)) == NULL)
		return 0;
	n = 3 + sizeof(v) + e->salt_len + e->hash_len;
	if (n > outlen)
		return 0;
	out[0] = e->kind;
	out[1] = e->salt_len;
	out[2] = e->hash_len;
	v[0] = e->iter;
	v[1] = e->m_cost;
	v[2] = e->lanes;
	memcpy(out + 3, v, sizeof(v));
	memcpy(out + 3 + sizeof(v), e->salt, e->salt_len);
	memcpy(out + 3 + sizeof(v) + e->salt_len, e->hash, e->hash_len);
	return n;
}

/* Hashes <pw> with the parameters of <e> into <out> (e->hash_len bytes). */
static int
pw_compute(const struct pw_entry *e, const uint8_t *pw, size_t pw_len,
    uint8_t *out)
{
	EVP_MD_CTX	*ctx;
	unsigned int	 olen = 0;
	int		 ok;

	switch (e->kind) {
	case PW_SHA512:
		if ((ctx = EVP_MD_CTX_new()) == NULL)
			return -1;
		ok = EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, pw, pw_len) == 1 &&
		    EVP_DigestUpdate(ctx, e->salt, e->salt_len) == 1 &&
		    EVP_DigestFinal_ex(ctx, out, &olen) == 1 &&
		    olen == e->hash_len;
		EVP_MD_CTX_free(ctx);
		return ok ? 0 : -1;
	case PW_PBKDF2:
		ok = PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_len, e->salt,
		    e->salt_len, (int)e->iter, EVP_sha512(), e->hash_len,
		    out) == 1;
		return ok ? 0 : -1;
	case PW_ARGON2ID:
		ok = argon2id_hash_raw(e->iter, e->m_cost, e->lanes, pw,
		    pw_len, e->salt, e->salt_len, out, e->hash_len) ==
		    ARGON2_OK;
		return ok ? 0 : -1;
	}
	return -1;
}

enum passwd_result
passwd_verify(const struct passwd_db *db, const char *user, size_t user_len,
    const uint8_t *pw, size_t pw_len)
{
	static const uint8_t	 empty[1];
	const struct pw_entry	*e, *target;
	uint8_t			 out[PW_BIN_MAX];
	enum passwd_result	 r;
	bool			 match;

	if (db == NULL || (user == NULL && user_len > 0) ||
	    (pw == NULL && pw_len > 0))
		return PASSWD_ERROR;
	if (pw == NULL)
		pw = empty;
	e = db_find(db, user, user_len);
	/* Both answers come back at once: no timing tells them apart. */
	if (pw_len > PASSWD_PW_MAX)
		return e == NULL ? PASSWD_UNKNOWN_USER : PASSWD_BAD_PASSWORD;
	target = e != NULL ? e : &db->dummy;
	if (pw_compute(target, pw, pw_len, out) == -1)
		r = PASSWD_ERROR;
	else {
		match = CRYPTO_memcmp(out, target->hash,
		    target->hash_len) == 0;
		if (e == NULL)
			r = PASSWD_UNKNOWN_USER;
		else
			r = match ? PASSWD_OK : PASSWD_BAD_PASSWORD;
	}
	OPENSSL_cleanse(out, sizeof(out));
	return r;
}

const char *
passwd_result_name(enum passwd_result r)
{
	switch (r) {
	case PASSWD_OK:
		return "ok";
	case PASSWD_UNKNOWN_USER:
		return "unknown user";
	case PASSWD_BAD_PASSWORD:
		return "bad password";
	case PASSWD_ERROR:
		return "error";
	}
	return "error";
}

int
passwd_hash(char *out, size_t outlen, const uint8_t *pw, size_t pw_len,
    unsigned iterations, char *err, size_t errlen)
{
	static const uint8_t	 empty[1];
	struct pw_entry		 e;
	char			 salt64[PW_B64_MAX], hash64[PW_B64_MAX];
	int			 n, rc = -1;

	if (iterations == 0)
		iterations = PASSWD_ITERATIONS_DEFAULT;
	if (iterations > PASSWD_ITERATIONS_MAX) {
		pw_err(err, errlen, "iteration count %u is out of range "
		    "(1..%d)", iterations, PASSWD_ITERATIONS_MAX);
		return -1;
	}
	if (pw == NULL && pw_len > 0) {
		pw_err(err, errlen, "no password");
		return -1;
	}
	if (pw_len > PASSWD_PW_MAX) {
		pw_err(err, errlen, "password is longer than %d bytes",
		    PASSWD_PW_MAX);
		return -1;
	}
	memset(&e, 0, sizeof(e));
	e.kind = PW_PBKDF2;
	e.iter = iterations;
	e.salt_len = PASSWD_SALT_LEN;
	e.hash_len = PW_SHA512_LEN;
	if (RAND_bytes(e.salt, e.salt_len) != 1) {
		pw_err(err, errlen, "RAND_bytes failed");
		goto done;
	}
	if (pw_compute(&e, pw != NULL ? pw : empty, pw_len, e.hash) == -1) {
		pw_err(err, errlen, "PBKDF2-HMAC-SHA512 failed");
		goto done;
	}
	b64_encode(e.salt, e.salt_len, true, salt64);
	b64_encode(e.hash, e.hash_len, true, hash64);
	n = snprintf(out, outlen, "$7$%u$%s$%s", iterations, salt64, hash64);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			OPENSSL_cleanse(out, outlen);
		pw_err(err, errlen, "the hash does not fit in %zu bytes",
		    outlen);
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(&e, sizeof(e));
	OPENSSL_cleanse(hash64, sizeof(hash64));
	return rc;
}

int
passwd_user_check(const char *user, char *err, size_t errlen)
{
	size_t	n, i;

	if (user == NULL || user[0] == '\0') {
		pw_err(err, errlen, "empty user name");
		return -1;
	}
	if ((n = strlen(user)) > PASSWD_USER_MAX) {
		pw_err(err, errlen, "user name is longer than %d bytes",
		    PASSWD_USER_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (is_ctrl((unsigned char)user[i])) {
			pw_err(err, errlen, "user name contains a control "
			    "character");
			return -1;
		}
	}
	if (strchr(user, ':') != NULL) {
		pw_err(err, errlen, "user name must not contain ':'");
		return -1;
	}
	if (user[0] == '#') {
		pw_err(err, errlen, "user name must not begin with '#' "
		    "(the line would be a comment)");
		return -1;
	}
	/* Mosquitto trims the name: such a user could never log in. */
	if (is_blank((unsigned char)user[0]) ||
	    is_blank((unsigned char)user[n - 1])) {
		pw_err(err, errlen, "user name must not begin or end with "
		    "white space");
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	r;

	while (len > 0) {
		r = write(fd, buf, len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * The directory of <path> into *<dir> and, into *<tmp>, the mkostemp()
 * template of a hidden file beside <path>: both new strings, or NULL; the
 * caller frees them, also after -1.
 */
static int
tmp_name(const char *path, char **dir, char **tmp, char *err, size_t errlen)
{
	const char	*slash, *base;
	size_t		 dlen;

	*dir = *tmp = NULL;
	slash = strrchr(path, '/');
	base = slash != NULL ? slash + 1 : path;
	if (*base == '\0') {
		pw_err(err, errlen, "%s: not a file name", path);
		return -1;
	}
	if (slash == NULL)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
	dlen = *dir != NULL ? strlen(*dir) + strlen(base) + 10 : 0;
	if (*dir == NULL || (*tmp = malloc(dlen)) == NULL) {
		pw_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	snprintf(*tmp, dlen, "%s/.%s.XXXXXX", *dir, base);
	return 0;
}

/*
 * The temporary file <fd> (named <tmp>, to replace <path>) made mode 0600,
 * given the owner, group and group-read bit of <keep> if not NULL (so a
 * root:mqttguard 0640 file stays readable by the daemon), filled with the
 * <len> bytes at <data> and synced.
 */
static int
tmp_fill(int fd, const char *tmp, const char *path, const char *data,
    size_t len, const struct stat *keep, char *err, size_t errlen)
{
	struct stat	ts;
	mode_t		mode = 0600;

	if (keep != NULL)
		mode |= keep->st_mode & S_IRGRP;
	if (fchmod(fd, 0600) == -1 || fstat(fd, &ts) == -1) {
		pw_err(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	/* Root editing the broker's file must not take it away from it. */
	if (keep != NULL && (ts.st_uid != keep->st_uid ||
	    ts.st_gid != keep->st_gid) &&
	    fchown(fd, keep->st_uid, keep->st_gid) == -1) {
		pw_err(err, errlen, "%s: cannot keep owner %u:%u: %s", path,
		    (unsigned)keep->st_uid, (unsigned)keep->st_gid,
		    strerror(errno));
		return -1;
	}
	/* Group-read only once the group is the file's own. */
	if (mode != 0600 && fchmod(fd, mode) == -1) {
		pw_err(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		pw_err(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The written file <tmp> put at <path>: renamed over it, or with
 * <noreplace> linked there (failing if <path> exists) and its temporary
 * name removed.  On -1 <tmp> is still there.
 */
static int
tmp_place(const char *tmp, const char *path, bool noreplace, char *err,
    size_t errlen)
{
	if (noreplace) {
		if (link(tmp, path) == -1) {
			pw_err(err, errlen, "%s: %s", path, errno == EEXIST ?
			    "already exists; not overwritten" :
			    strerror(errno));
			return -1;
		}
		unlink(tmp);
	} else if (rename(tmp, path) == -1) {
		pw_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Syncs directory <dir>, so that the new name <path> survives a crash. */
static int
dir_sync(const char *dir, const char *path, char *err, size_t errlen)
{
	int	dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (fsync(dfd) == -1 && errno != EINVAL)) {
		pw_err(err, errlen, "%s: written, but syncing %s failed: %s",
		    path, dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/*
 * Replaces <path> with the <len> bytes at <data>: a temporary file in the
 * same directory (so the rename cannot cross file systems), mode 0600, the
 * owner and group of <keep> if given (else ours), fsync, then rename over
 * <path>, or with <noreplace> link it there, failing if <path> exists.
 * Finally the directory is synced so the new name survives a crash.
 */
static int
write_atomic(const char *path, const char *data, size_t len, bool noreplace,
    const struct stat *keep, char *err, size_t errlen)
{
	char	*dir, *tmp;
	int	 fd = -1, rc = -1;
	bool	 placed = false;

	if (tmp_name(path, &dir, &tmp, err, errlen) == -1)
		goto done;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		pw_err(err, errlen, "%s: cannot create a temporary file: %s",
		    dir, strerror(errno));
		goto done;
	}
	if (tmp_fill(fd, tmp, path, data, len, keep, err, errlen) == -1)
		goto done;
	if (close(fd) == -1) {
		fd = -1;
		pw_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (tmp_place(tmp, path, noreplace, err, errlen) == -1)
		goto done;
	placed = true;
	rc = dir_sync(dir, path, err, errlen);
done:
	if (fd != -1)
		close(fd);
	if (tmp != NULL && !placed)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

/* Wipes and frees a buffer that held file contents (hashes). */
static void
buf_free(char *buf, size_t len)
{
	OPENSSL_cleanse(buf, len);
	free(buf);
}

/*
 * Rewrites <path> with the line of <user> replaced by the <linelen> bytes
 * at <line> (which end in '\n'), or that line appended if <user> has none,
 * or with the user's line removed when <line> is NULL.  Everything else is
 * copied unchanged.
 */
static int
file_edit(const char *path, const char *user, const char *line,
    size_t linelen, char *err, size_t errlen)
{
	struct passwd_db	*db = NULL;
	const struct pw_entry	*e;
	struct stat		 st;
	char			*real, *buf = NULL, *out = NULL;
	const char		*ls, *le;
	size_t			 len = 0, outlen = 0, head, tail;
	unsigned		 ln;
	int			 rc = -1;

	/* Replace the file a symlink points to, not the symlink. */
	if ((real = realpath(path, NULL)) == NULL) {
		pw_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (read_file(real, false, &buf, &len, &st, err, errlen) == -1)
		goto done;
	if ((db = parse_buf(path, buf, len, err, errlen)) == NULL)
		goto done;
	e = db_find(db, user, strlen(user));
	if (e == NULL && line == NULL) {
		pw_err(err, errlen, "%s: no user \"%.*s%s\"", path,
		    PW_ERR_NAME_MAX, user,
		    strlen(user) > PW_ERR_NAME_MAX ? "..." : "");
		goto done;
	}
	if (e != NULL) {
		/* The user's line: e->line lines down, through its '\n'. */
		ls = buf;
		for (ln = 1; ln < e->line; ln++)
			ls = (const char *)memchr(ls, '\n',
			    (size_t)(buf + len - ls)) + 1;
		le = memchr(ls, '\n', (size_t)(buf + len - ls));
		le = le != NULL ? le + 1 : buf + len;
		head = (size_t)(ls - buf);
		tail = (size_t)(buf + len - le);
	} else {
		le = buf + len;
		head = len;
		tail = 0;
	}
	if ((out = malloc(len + linelen + 2)) == NULL) {
		pw_err(err, errlen, "%s: out of memory", path);
		goto done;
	}
	memcpy(out, buf, head);
	outlen = head;
	/* Appending to a last line without its newline: end it first. */
	if (e == NULL && head > 0 && buf[head - 1] != '\n')
		out[outlen++] = '\n';
	if (line != NULL) {
		memcpy(out + outlen, line, linelen);
		outlen += linelen;
	}
	memcpy(out + outlen, le, tail);
	outlen += tail;
	rc = write_atomic(real, out, outlen, false, &st, err, errlen);
done:
	if (out != NULL)
		buf_free(out, outlen);
	if (buf != NULL)
		buf_free(buf, len);
	passwd_free(db);
	free(real);
	return rc;
}

int
passwd_file_set(const char *path, const char *user, const uint8_t *pw,
    size_t pw_len, unsigned iterations, bool create, char *err,
    size_t errlen)
{
	char	 hash[PASSWD_HASH_STR_MAX], *line;
	size_t	 ulen, hlen, linelen;
	int	 rc;

	if (passwd_user_check(user, err, errlen) == -1)
		return -1;
	if (passwd_hash(hash, sizeof(hash), pw, pw_len, iterations, err,
	    errlen) == -1)
		return -1;
	ulen = strlen(user);
	hlen = strlen(hash);
	linelen = ulen + 1 + hlen + 1;
	if ((line = malloc(linelen + 1)) == NULL) {
		OPENSSL_cleanse(hash, sizeof(hash));
		pw_err(err, errlen, "out of memory");
		return -1;
	}
	snprintf(line, linelen + 1, "%s:%s\n", user, hash);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (create)
		rc = write_atomic(path, line, linelen, true, NULL, err,
		    errlen);
	else
		rc = file_edit(path, user, line, linelen, err, errlen);
	buf_free(line, linelen);
	return rc;
}

int
passwd_file_delete(const char *path, const char *user, char *err,
    size_t errlen)
{
	if (user == NULL || user[0] == '\0') {
		pw_err(err, errlen, "empty user name");
		return -1;
	}
	return file_edit(path, user, NULL, 0, err, errlen);
}
