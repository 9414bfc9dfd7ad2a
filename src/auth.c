/* SPDX-License-Identifier: ISC */
/*
 * auth — identity decisions, brute-force lockout, client-id ownership and
 * the password-checking threads.
 *
 * auth_precheck() is pure: (policy, listener, CONNECT, certificate
 * identity, time, lockout table) -> verdict.  It runs on the event loop and
 * costs no hashing; the password itself is checked by struct auth_pool on
 * its own threads, with a bounded queue, so a flood of wrong passwords
 * queues up (and is answered "busy" when the queue is full) while the event
 * loops keep serving everyone else.
 *
 * The lockout table and the client-id registry are hmaps (SipHash under a
 * random key: an attacker choosing user names cannot make the probe runs
 * long), each bounded in size with least-recently-used eviction.
 * They are shared by all workers behind one mutex: a CONNECT touches them
 * a few times, a frame never.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sys/uio.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "mqttguard/auth.h"
#include "mqttguard/hmap.h"
#include "mqttguard/metrics.h"

struct entry {
	TAILQ_ENTRY(entry)	 lru;		/* most recent first */
	uint64_t		 hash;
	/* lockout */
	uint64_t		*ring;		/* owned; failure times */
	uint64_t		*ids;		/* owned; address: identities */
	unsigned		 nring, pos, count;
	uint64_t		 locked_until;	/* known, cache: stored at */
	unsigned		 lockouts;	/* in a row, for doubling */
	unsigned		 pending;	/* password checks queued */
	/* cache */
	uint8_t			 tag[AUTH_TAG_LEN];
	/* registry */
	char			*owner;		/* owned; identity */
	unsigned		 refs;		/* connected sessions */
	bool			 persistent;
	size_t			 klen;
	uint8_t			 key[];
};

TAILQ_HEAD(entry_list, entry);

/* A slot of a table's hmap. */
struct eslot {
	uint64_t		 hash;
	struct entry		*e;		/* owned */
};

struct table {
	struct hmap_type	 type;		/* its own key */
	struct hmap		 map;		/* of struct eslot */
	size_t			 max;
	uint64_t		 now;		/* latest clock seen */
	bool			 evict_any;	/* nothing here must stay */
	struct entry_list	 lru;
};

/*
 * One table per scope, so that filling one (many identities guessed from
 * many addresses make many pairs) cannot push another's entries out.
 */
struct auth_guard {
	pthread_mutex_t	 mtx;
	struct table	 pair;		/* "p:<identity>\0<address>" */
	struct table	 ident;		/* "u:<identity>" */
	struct table	 addr;		/* "a:<address>" */
	struct table	 pend;		/* "q:<address>": checks queued */
	struct table	 known;		/* "p:...": the last login's time */
	struct table	 cache;		/* <identity>: tag, verified at */
	struct table	 reg;		/* client ids */
	EVP_MAC		*mac;		/* owned; HMAC */
	uint8_t		 cache_key[AUTH_TAG_LEN];	/* random */
	uint64_t	 cache_serial;	/* the newest policy seen */
	bool		 cache_broken;	/* no new key could be drawn */
};

struct auth_pool {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	TAILQ_HEAD(, auth_job)	 queue;
	unsigned		 queued, max;
	bool			 stopping;
	char			 last[48];	/* address served last */
	pthread_t		*threads;	/* owned; nthreads */
	unsigned		 nthreads;
};

static int	table_init(struct table *, size_t, bool);
static bool	evictable(const struct table *, const struct entry *);
static struct table *table_of(struct auth_guard *, const char *, size_t);
static void	guard_clock(struct auth_guard *, uint64_t);
static uint64_t	entry_lock(struct entry *, uint64_t,
		    const struct policy_lockout *);
static int	entry_ring(struct entry *, unsigned, bool);
static unsigned	spray_count(const struct entry *, uint64_t, uint64_t);
static void	cache_sync(struct auth_guard *, uint64_t);
static int	cache_mac(EVP_MAC *, const uint8_t *, const struct iovec *,
		    size_t, uint8_t *);
static enum auth_result precheck_locks(const struct auth_request *,
		    struct auth_guard *, struct auth_decision *);
static void	lockout_note(struct auth_lockouts *, enum auth_scope,
		    uint64_t, unsigned);
static void	table_fini(struct table *);
static bool	entry_eq(void *, const void *, const void *, size_t);
static struct entry *table_get(struct table *, const void *, size_t, bool);
static void	table_del(struct table *, struct entry *);
static void	entry_free(struct entry *);
static void	*pool_main(void *);
static bool	buf_eq(const struct codec_buf *, const char *);
static enum auth_result precheck_identity(const struct auth_request *,
		    struct auth_decision *);
static size_t	token(const char *, const char *, const uint8_t **,
		    size_t *);

static const struct {
	uint8_t		 reason;
	const char	*text;
} results[AUTH_RESULT__MAX] = {
	[AUTH_OK] = { 0x00, "authenticated" },
	[AUTH_FAIL_NO_CREDENTIALS] = { 0x87, "no credentials and anonymous "
	    "access is off" },
	[AUTH_FAIL_UNKNOWN_USER] = { 0x86, "unknown user" },
	[AUTH_FAIL_BAD_PASSWORD] = { 0x86, "bad password" },
	[AUTH_FAIL_LOCKED] = { 0x8A, "locked out after repeated failures" },
	[AUTH_FAIL_CERT_MISSING] = { 0x87, "client certificate missing" },
	[AUTH_FAIL_CERT_UNMAPPED] = { 0x87, "client certificate not mapped "
	    "to an identity" },
	[AUTH_FAIL_CERT_MISMATCH] = { 0x86, "username differs from the "
	    "certificate identity" },
	[AUTH_FAIL_BAD_USERNAME] = { 0x86, "username with a wildcard or "
	    "control character" },
	[AUTH_FAIL_BAD_CLIENT_ID] = { 0x85, "client id not allowed" },
	[AUTH_FAIL_CLIENT_ID_TAKEN] = { 0x85, "client id belongs to another "
	    "user" },
	[AUTH_FAIL_AUTH_METHOD] = { 0x8C, "enhanced authentication is not "
	    "supported" },
	[AUTH_FAIL_BUSY] = { 0x89, "too many password checks pending" },
	[AUTH_FAIL_ERROR] = { 0x80, "internal error" },
};

uint8_t
auth_reason(enum auth_result r)
{
	return (unsigned)r < AUTH_RESULT__MAX ? results[r].reason : 0x80;
}

const char *
auth_result_str(enum auth_result r)
{
	return (unsigned)r < AUTH_RESULT__MAX ? results[r].text : "unknown";
}

/* ---- pure decisions ------------------------------------------------- */

bool
auth_name_clean(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (p[i] == '+' || p[i] == '#' || p[i] < 0x20 || p[i] == 0x7f)
			return false;
		/* U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

/*
 * Length of the literal token at <pat> (a byte, "%%", or "%u" = the
 * identity) and what it must match; 0 at '*' or the end.
 */
static size_t
token(const char *pat, const char *identity, const uint8_t **lit,
    size_t *litlen)
{
	if (*pat == '\0' || *pat == '*')
		return 0;
	if (pat[0] == '%' && pat[1] == 'u') {
		*lit = (const uint8_t *)identity;
		*litlen = strlen(identity);
		return 2;
	}
	*lit = (const uint8_t *)pat;
	*litlen = 1;
	return pat[0] == '%' && pat[1] == '%' ? 2 : 1;
}

/*
 * Glob matching with one backtrack point, the last '*' seen: on a
 * mismatch the star swallows one more byte and matching resumes after it.
 * That is enough for '*' (a later star makes earlier choices irrelevant)
 * and costs O(pattern x id) at worst: no recursion, no blow-up on
 * hostile client ids.
 */
bool
auth_client_id_match(const char *pat, const char *identity,
    const uint8_t *cid, size_t len)
{
	const char	*star = NULL;
	const uint8_t	*lit;
	size_t		 i = 0, star_i = 0, litlen, adv;

	for (;;) {
		if (*pat == '*') {
			while (*pat == '*')
				pat++;
			star = pat;
			star_i = i;
			continue;
		}
		if (*pat == '\0' && i == len)
			return true;
		adv = token(pat, identity, &lit, &litlen);
		if (adv > 0 && len - i >= litlen &&
		    memcmp(cid + i, lit, litlen) == 0) {
			pat += adv;
			i += litlen;
			continue;
		}
		if (star == NULL || star_i >= len)
			return false;
		pat = star;
		i = ++star_i;
	}
}

static bool
buf_eq(const struct codec_buf *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->p, s, b->len) == 0;
}

/*
 * Which identity <req> claims, into <d>: the certificate's (with
 * certificate authentication, or with "either" when one was presented),
 * else the username's, else the anonymous identity when allowed; and
 * whether a password must follow.  AUTH_OK or why none is acceptable.
 */
static enum auth_result
precheck_identity(const struct auth_request *req, struct auth_decision *d)
{
	const struct policy_auth	*a = &req->pol->auth;
	const struct codec_connect	*c = &req->pkt->u.connect;
	bool				 user = c->flags & CODEC_CF_USERNAME;
	enum policy_authn		 mode = req->lis->authn;

	if (mode == POLICY_AUTHN_CERTIFICATE || mode == POLICY_AUTHN_BOTH ||
	    (mode == POLICY_AUTHN_EITHER && (req->cert_id != NULL ||
	    req->cert_unmapped))) {
		if (req->cert_unmapped)
			return AUTH_FAIL_CERT_UNMAPPED;
		if (req->cert_id == NULL)
			return AUTH_FAIL_CERT_MISSING;
		if (strlen(req->cert_id) > AUTH_IDENTITY_MAX)
			return AUTH_FAIL_CERT_UNMAPPED;
		if (user && !buf_eq(&c->username, req->cert_id))
			return AUTH_FAIL_CERT_MISMATCH;
		if (mode == POLICY_AUTHN_BOTH && !user)
			return AUTH_FAIL_CERT_MISMATCH;
		snprintf(d->identity, sizeof(d->identity), "%s", req->cert_id);
		d->by_certificate = true;
		d->need_password = mode == POLICY_AUTHN_BOTH;
	} else if (user) {
		memcpy(d->identity, c->username.p, c->username.len);
		d->identity[c->username.len] = '\0';
		if (memchr(c->username.p, '\0', c->username.len) != NULL)
			return AUTH_FAIL_BAD_USERNAME;
		d->need_password = true;
	} else if (a->anonymous && !(c->flags & CODEC_CF_PASSWORD)) {
		snprintf(d->identity, sizeof(d->identity), "%s",
		    a->anonymous_identity);
		d->anonymous = true;
	} else
		return AUTH_FAIL_NO_CREDENTIALS;
	return AUTH_OK;
}

/*
 * The lockouts that apply to the identity <d> claims from req->addr.  A
 * known device (the identity logged in from this address recently) is
 * exempt from the address's tarpit and block and from the identity's
 * lockout: guessing elsewhere, or spraying from behind the same NAT,
 * does not keep it out.  Its own pair still locks, at the higher
 * known_device_failures.
 */
static enum auth_result
precheck_locks(const struct auth_request *req, struct auth_guard *g,
    struct auth_decision *d)
{
	const struct policy_auth	*a = &req->pol->auth;
	char				 key[AUTH_KEY_MAX];
	size_t				 len;

	if (!d->anonymous)
		d->known = auth_guard_known(g, d->identity, req->addr,
		    req->now_ms, a->known_device_ms);
	if (d->known)
		d->tarpit_ms = 0;
	else {
		len = auth_key(key, AUTH_SCOPE_ADDRESS, NULL, req->addr);
		if (auth_guard_locked(g, key, len, req->now_ms) > 0)
			return AUTH_FAIL_LOCKED;
	}
	if (d->anonymous)
		return AUTH_OK;
	if (!d->known) {
		len = auth_key(key, AUTH_SCOPE_IDENTITY, d->identity, NULL);
		if (auth_guard_locked(g, key, len, req->now_ms) > 0)
			return AUTH_FAIL_LOCKED;
	}
	len = auth_key(key, AUTH_SCOPE_PAIR, d->identity, req->addr);
	if (auth_guard_locked(g, key, len, req->now_ms) > 0)
		return AUTH_FAIL_LOCKED;
	return AUTH_OK;
}

/*
 * The order matters: refusals that need no secret come first, then the
 * lockouts of the identity claimed (which need the identity, for the
 * known-device exemption), and the password last (by the pool).  Nothing
 * here is slower for an unknown user than for a known one.
 */
enum auth_result
auth_precheck(const struct auth_request *req, struct auth_guard *g,
    struct auth_decision *d)
{
	const struct policy_auth	*a = &req->pol->auth;
	const struct codec_connect	*c = &req->pkt->u.connect;
	bool				 user = c->flags & CODEC_CF_USERNAME;
	enum auth_result		 r;

	memset(d, 0, sizeof(*d));
	if (g != NULL && req->addr != NULL)
		d->tarpit_ms = auth_guard_tarpit(g, req->addr, req->now_ms,
		    &a->lock_address, a->tarpit_ms);
	if (CODEC_PROP_HAS(&req->pkt->props, CODEC_PROP_AUTH_METHOD))
		return AUTH_FAIL_AUTH_METHOD;
	if (!a->allow_wildcard_names) {
		if (user && !auth_name_clean(c->username.p, c->username.len))
			return AUTH_FAIL_BAD_USERNAME;
		if (!auth_name_clean(c->client_id.p, c->client_id.len))
			return AUTH_FAIL_BAD_CLIENT_ID;
	}
	if (user && c->username.len > AUTH_IDENTITY_MAX)
		return AUTH_FAIL_BAD_USERNAME;
	if (req->lis->limits.max_client_id_length > 0 &&
	    c->client_id.len > req->lis->limits.max_client_id_length)
		return AUTH_FAIL_BAD_CLIENT_ID;

	if ((r = precheck_identity(req, d)) != AUTH_OK)
		return r;
	if (g != NULL && req->addr != NULL &&
	    (r = precheck_locks(req, g, d)) != AUTH_OK)
		return r;

	if (d->need_password && !(c->flags & CODEC_CF_PASSWORD))
		return AUTH_FAIL_BAD_PASSWORD;
	if (d->need_password && a->passwd == NULL)
		return AUTH_FAIL_UNKNOWN_USER;

	if (c->client_id.len == 0 &&
	    a->empty_client_id == POLICY_EMPTY_ID_REJECT)
		return AUTH_FAIL_BAD_CLIENT_ID;
	if (c->client_id.len > 0 && a->client_id_pattern != NULL &&
	    !auth_client_id_match(a->client_id_pattern, d->identity,
	    c->client_id.p, c->client_id.len))
		return AUTH_FAIL_BAD_CLIENT_ID;
	return AUTH_OK;
}

/* ---- bounded LRU hash tables ---------------------------------------- */

static bool
entry_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct entry	*e = ((const struct eslot *)slot)->e;

	(void)ctx;
	return e->klen == len && memcmp(e->key, key, len) == 0;
}

static int
table_init(struct table *t, size_t max, bool evict_any)
{
	memset(&t->type, 0, sizeof(t->type));
	t->type.size = sizeof(struct eslot);
	t->type.min = 1024;
	t->type.eq = entry_eq;
	if (hmap_type_init(&t->type) == -1)
		return -1;
	hmap_init(&t->map, &t->type, NULL, 0);
	t->max = max;
	t->evict_any = evict_any;
	TAILQ_INIT(&t->lru);
	return 0;
}

static void
entry_free(struct entry *e)
{
	free(e->ring);
	free(e->ids);
	free(e->owner);
	OPENSSL_cleanse(e->tag, sizeof(e->tag));
	free(e);
}

static void
table_fini(struct table *t)
{
	struct entry	*e;

	while ((e = TAILQ_FIRST(&t->lru)) != NULL)
		table_del(t, e);
	hmap_fini(&t->map);
}

static void
table_del(struct table *t, struct entry *e)
{
	struct eslot	*s;

	s = hmap_find(&t->map, e->hash, e->key, e->klen);
	if (s != NULL)		/* always: every entry is in the table */
		hmap_del(&t->map, s);
	TAILQ_REMOVE(&t->lru, e, lru);
	entry_free(e);
}

/* Whether <e> may go to make room: nothing running depends on it. */
static bool
evictable(const struct table *t, const struct entry *e)
{
	return t->evict_any || (e->refs == 0 && e->pending == 0 &&
	    e->locked_until <= t->now);
}

/*
 * Finds <key> (<len> bytes), making it most recent; with <create>, adds it
 * when missing, evicting the least recently used entry that nothing
 * running holds (a connected session's client id, a pending check, a
 * lockout: those are never dropped).  NULL when missing, or when the 64
 * least recent entries are all held (the caller says so: never silently).
 */
static struct entry *
table_get(struct table *t, const void *key, size_t len, bool create)
{
	struct entry	*e, *v;
	struct eslot	*s;
	uint64_t	 h = hmap_hash(&t->type, key, len);
	int		 tries;

	if ((s = hmap_find(&t->map, h, key, len)) != NULL) {
		e = s->e;
		TAILQ_REMOVE(&t->lru, e, lru);
		TAILQ_INSERT_HEAD(&t->lru, e, lru);
		return e;
	}
	if (!create)
		return NULL;
	if (t->map.n >= t->max) {
		v = TAILQ_LAST(&t->lru, entry_list);
		for (tries = 0; v != NULL && !evictable(t, v) && tries < 64;
		    tries++)
			v = TAILQ_PREV(v, entry_list, lru);
		if (v == NULL || !evictable(t, v))
			return NULL;
		table_del(t, v);
	}
	if ((e = calloc(1, sizeof(*e) + len)) == NULL)
		return NULL;
	if ((s = hmap_add(&t->map, h)) == NULL) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->klen = len;
	memcpy(e->key, key, len);
	s->e = e;
	TAILQ_INSERT_HEAD(&t->lru, e, lru);
	return e;
}

/* The table of a lockout key, by its prefix; NULL for a bad key. */
static struct table *
table_of(struct auth_guard *g, const char *key, size_t len)
{
	if (len < 2 || key[1] != ':')
		return NULL;
	switch (key[0]) {
	case 'p':
		return &g->pair;
	case 'u':
		return &g->ident;
	case 'a':
		return &g->addr;
	case 'q':
		return &g->pend;
	}
	return NULL;
}

struct auth_guard *
auth_guard_new(void)
{
	struct auth_guard	*g;
	struct table		*t[] = { NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL };
	size_t			 i;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	t[0] = &g->pair;
	t[1] = &g->ident;
	t[2] = &g->addr;
	t[3] = &g->pend;
	t[4] = &g->known;
	t[5] = &g->cache;
	t[6] = &g->reg;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (table_init(t[i], i == 6 ? AUTH_REGISTRY_ENTRIES :
		    i == 4 ? AUTH_KNOWN_ENTRIES : i == 5 ?
		    AUTH_CACHE_ENTRIES : AUTH_GUARD_ENTRIES,
		    i == 4 || i == 5) == -1)
			goto fail;
	if ((g->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    RAND_bytes(g->cache_key, sizeof(g->cache_key)) != 1 ||
	    pthread_mutex_init(&g->mtx, NULL) != 0)
		goto fail;
	return g;
fail:
	EVP_MAC_free(g->mac);
	free(g);	/* no table has slots before its first entry */
	return NULL;
}

void
auth_guard_free(struct auth_guard *g)
{
	if (g == NULL)
		return;
	table_fini(&g->pair);
	table_fini(&g->ident);
	table_fini(&g->addr);
	table_fini(&g->pend);
	table_fini(&g->known);
	table_fini(&g->cache);
	table_fini(&g->reg);
	EVP_MAC_free(g->mac);
	OPENSSL_cleanse(g->cache_key, sizeof(g->cache_key));
	pthread_mutex_destroy(&g->mtx);
	free(g);
}

size_t
auth_guard_size(struct auth_guard *g, char table)
{
	struct table	*t;
	char		 key[2] = { table, ':' };
	size_t		 n;

	pthread_mutex_lock(&g->mtx);
	t = table == 'k' ? &g->known : table == 'c' ? &g->cache :
	    table == 'r' ? &g->reg : table_of(g, key, 2);
	n = t != NULL ? t->map.n : 0;
	pthread_mutex_unlock(&g->mtx);
	return n;
}

const char *
auth_scope_name(enum auth_scope s)
{
	static const char *const names[AUTH_SCOPE__MAX] = { "pair",
	    "address", "identity" };

	return (unsigned)s < AUTH_SCOPE__MAX ? names[s] : "unknown";
}

size_t
auth_key(char *buf, enum auth_scope s, const char *identity,
    const char *addr)
{
	int	n;

	switch (s) {
	case AUTH_SCOPE_PAIR:
		n = snprintf(buf, AUTH_KEY_MAX, "p:%.*s%c%.*s",
		    AUTH_IDENTITY_MAX, identity, '\0', UTIL_ADDR_MAX, addr);
		break;
	case AUTH_SCOPE_IDENTITY:
		n = snprintf(buf, AUTH_KEY_MAX, "u:%.*s", AUTH_IDENTITY_MAX,
		    identity);
		break;
	default:
		n = snprintf(buf, AUTH_KEY_MAX, "a:%.*s", UTIL_ADDR_MAX, addr);
		break;
	}
	return n < 0 ? 0 : (size_t)n >= AUTH_KEY_MAX ? AUTH_KEY_MAX - 1 :
	    (size_t)n;
}

static void
guard_clock(struct auth_guard *g, uint64_t now)
{
	struct table	*t[] = { &g->pair, &g->ident, &g->addr, &g->pend };
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (now > t[i]->now)
			t[i]->now = now;
}

uint64_t
auth_guard_locked(struct auth_guard *g, const char *key, size_t len,
    uint64_t now)
{
	struct table	*t;
	struct entry	*e = NULL;
	uint64_t	 left = 0;

	pthread_mutex_lock(&g->mtx);
	guard_clock(g, now);
	if ((t = table_of(g, key, len)) != NULL)
		e = table_get(t, key, len, false);
	if (e != NULL && e->locked_until > now)
		left = e->locked_until - now;
	pthread_mutex_unlock(&g->mtx);
	return left;
}

/*
 * Starts the next lockout of <e> at <now> under <l>: each doubles the
 * previous one, up to l->max_ms.  Returns its duration.
 */
static uint64_t
entry_lock(struct entry *e, uint64_t now, const struct policy_lockout *l)
{
	unsigned	shift = e->lockouts < 20 ? e->lockouts : 20;
	uint64_t	dur = (uint64_t)l->duration_ms << shift;

	if (dur > l->max_ms)
		dur = l->max_ms;
	e->locked_until = now + dur;
	e->lockouts++;
	e->count = 0;
	return dur;
}

/* A ring of <n> times (and identity hashes, with <ids>) for <e>. */
static int
entry_ring(struct entry *e, unsigned n, bool ids)
{
	uint64_t	*ring, *id = NULL;

	if (e->nring == n && (!ids || e->ids != NULL))
		return 0;
	if ((ring = calloc(n, sizeof(*ring))) == NULL ||
	    (ids && (id = calloc(n, sizeof(*id))) == NULL)) {
		free(ring);
		return -1;
	}
	free(e->ring);
	free(e->ids);
	e->ring = ring;
	e->ids = id;
	e->nring = n;
	e->pos = e->count = 0;
	return 0;
}

/*
 * A sliding window of the last <failures> failure times: when the oldest
 * of them is still inside the window, that many failures happened within
 * it.  The doubling resets once a full l->max_ms has passed quietly.
 */
uint64_t
auth_guard_fail(struct auth_guard *g, const char *key, size_t len,
    uint64_t now, const struct policy_lockout *l)
{
	struct table	*t;
	struct entry	*e = NULL;
	uint64_t	 dur = 0;
	unsigned	 n = l->failures;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&g->mtx);
	guard_clock(g, now);
	if ((t = table_of(g, key, len)) != NULL)
		e = table_get(t, key, len, true);
	if (e == NULL) {
		dur = UINT64_MAX;
		goto out;
	}
	if (entry_ring(e, n, false) == -1)
		goto out;
	if (e->lockouts > 0 && now > e->locked_until + l->max_ms)
		e->lockouts = 0;
	e->ring[e->pos] = now;
	e->pos = (e->pos + 1) % n;
	if (e->count < n)
		e->count++;
	if (e->count == n && now - e->ring[e->pos] <= l->window_ms)
		dur = entry_lock(e, now, l);
out:
	pthread_mutex_unlock(&g->mtx);
	return dur;
}

/* Distinct identities in <e>'s ring within <window> of <now>. */
static unsigned
spray_count(const struct entry *e, uint64_t now, uint64_t window)
{
	unsigned	i, n = 0;

	for (i = 0; i < e->nring; i++)
		if (e->ring[i] != 0 && now - e->ring[i] <= window)
			n++;
	return n;
}

/*
 * The address scope keeps, per address, the last identities it guessed
 * (a 64-bit SipHash of each under the table's key, so a hostile name
 * costs one slot) with the time of their latest guess.  A repeated
 * identity refreshes its slot; a new one takes the oldest.  The ring has
 * room for what the block needs (or the tarpit, when blocking is off).
 */
uint64_t
auth_guard_spray(struct auth_guard *g, const char *addr,
    const char *identity, uint64_t now, const struct policy_lockout *l,
    unsigned *distinct)
{
	char		 key[AUTH_KEY_MAX];
	size_t		 len = auth_key(key, AUTH_SCOPE_ADDRESS, NULL, addr);
	struct entry	*e;
	uint64_t	 dur = 0, h;
	unsigned	 n = l->failures > l->tarpit_after ? l->failures :
			    l->tarpit_after, i, slot;

	*distinct = 0;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&g->mtx);
	guard_clock(g, now);
	h = hmap_hash(&g->addr.type, identity, strlen(identity));
	if ((e = table_get(&g->addr, key, len, true)) == NULL) {
		dur = UINT64_MAX;
		goto out;
	}
	if (entry_ring(e, n, true) == -1)
		goto out;
	if (e->lockouts > 0 && now > e->locked_until + l->max_ms)
		e->lockouts = 0;
	for (i = slot = 0; i < n; i++) {
		if (e->ring[i] != 0 && e->ids[i] == h)
			break;
		if (e->ring[i] < e->ring[slot])
			slot = i;
	}
	slot = i < n ? i : slot;
	e->ring[slot] = now;
	e->ids[slot] = h;
	*distinct = spray_count(e, now, l->window_ms);
	if (l->failures > 0 && *distinct >= l->failures) {
		dur = entry_lock(e, now, l);
		memset(e->ring, 0, n * sizeof(*e->ring));
	}
out:
	pthread_mutex_unlock(&g->mtx);
	return dur;
}

uint64_t
auth_guard_tarpit(struct auth_guard *g, const char *addr, uint64_t now,
    const struct policy_lockout *l, unsigned tarpit_ms)
{
	char		 key[AUTH_KEY_MAX];
	size_t		 len = auth_key(key, AUTH_SCOPE_ADDRESS, NULL, addr);
	struct entry	*e;
	uint64_t	 ms = 0;
	unsigned	 n = 0, shift;

	if (l->tarpit_after == 0 || tarpit_ms == 0)
		return 0;
	pthread_mutex_lock(&g->mtx);
	guard_clock(g, now);
	e = table_get(&g->addr, key, len, false);
	if (e != NULL && e->ids != NULL)
		n = spray_count(e, now, l->window_ms);
	pthread_mutex_unlock(&g->mtx);
	if (n < l->tarpit_after)
		return 0;
	shift = n - l->tarpit_after + 1;
	ms = (uint64_t)tarpit_ms << (shift < 20 ? shift : 20);
	return ms > l->tarpit_max_ms ? l->tarpit_max_ms : ms;
}

void
auth_guard_success(struct auth_guard *g, const char *key, size_t len)
{
	struct table	*t;
	struct entry	*e = NULL;

	pthread_mutex_lock(&g->mtx);
	if ((t = table_of(g, key, len)) != NULL)
		e = table_get(t, key, len, false);
	if (e != NULL && e->locked_until == 0 && e->pending == 0)
		table_del(t, e);
	else if (e != NULL) {
		/* History forgotten; a lockout already running stands. */
		e->count = 0;
		e->lockouts = 0;
		if (e->ring != NULL)
			memset(e->ring, 0, e->nring * sizeof(*e->ring));
	}
	pthread_mutex_unlock(&g->mtx);
}

/*
 * The pair, and the address alone (with a NULL <identity>): whoever
 * logged in there, the handshake budget gives it priority.
 */
void
auth_guard_known_add(struct auth_guard *g, const char *identity,
    const char *addr, uint64_t now)
{
	char		 key[AUTH_KEY_MAX];
	size_t		 len = auth_key(key, AUTH_SCOPE_PAIR, identity, addr);
	struct entry	*e;

	pthread_mutex_lock(&g->mtx);
	if ((e = table_get(&g->known, key, len, true)) != NULL)
		e->locked_until = now;	/* here: the time of the login */
	len = auth_key(key, AUTH_SCOPE_ADDRESS, NULL, addr);
	if ((e = table_get(&g->known, key, len, true)) != NULL)
		e->locked_until = now;
	pthread_mutex_unlock(&g->mtx);
}

bool
auth_guard_known(struct auth_guard *g, const char *identity,
    const char *addr, uint64_t now, uint64_t ttl)
{
	char		 key[AUTH_KEY_MAX];
	size_t		 len;
	struct entry	*e;
	bool		 known = false;

	if (ttl == 0)
		return false;
	len = identity != NULL ? auth_key(key, AUTH_SCOPE_PAIR, identity,
	    addr) : auth_key(key, AUTH_SCOPE_ADDRESS, NULL, addr);
	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->known, key, len, false);
	if (e != NULL && now >= e->locked_until &&
	    now - e->locked_until < ttl)
		known = true;
	else if (e != NULL)
		table_del(&g->known, e);
	pthread_mutex_unlock(&g->mtx);
	return known;
}

int
auth_guard_pending(struct auth_guard *g, const char *addr, unsigned max)
{
	struct entry	*e;
	char		 key[AUTH_KEY_MAX];
	size_t		 len;
	int		 rc = -1;

	len = (size_t)snprintf(key, sizeof(key), "q:%.*s", UTIL_ADDR_MAX,
	    addr);
	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->pend, key, len, true);
	if (e != NULL && e->pending < max) {
		e->pending++;
		rc = 0;
	}
	pthread_mutex_unlock(&g->mtx);
	return rc;
}

void
auth_guard_pending_done(struct auth_guard *g, const char *addr)
{
	struct entry	*e;
	char		 key[AUTH_KEY_MAX];
	size_t		 len;

	len = (size_t)snprintf(key, sizeof(key), "q:%.*s", UTIL_ADDR_MAX,
	    addr);
	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->pend, key, len, false);
	if (e != NULL && e->pending > 0 && --e->pending == 0)
		table_del(&g->pend, e);
	pthread_mutex_unlock(&g->mtx);
}

/* ---- the cache of verified credentials ------------------------------ */

/*
 * Follows the newest policy seen: a newer one empties the cache and draws
 * a new key, so nothing verified under an older password file (or an
 * older cache_ttl) is served again.  Called with the mutex held.
 */
static void
cache_sync(struct auth_guard *g, uint64_t serial)
{
	struct entry	*e;

	if (serial <= g->cache_serial)
		return;
	while ((e = TAILQ_FIRST(&g->cache.lru)) != NULL)
		table_del(&g->cache, e);
	if (RAND_bytes(g->cache_key, sizeof(g->cache_key)) != 1)
		g->cache_broken = true;
	g->cache_serial = serial;
}

/* HMAC-SHA256 under <key> of the length-prefixed <n> parts. */
static int
cache_mac(EVP_MAC *mac, const uint8_t *key, const struct iovec *v, size_t n,
    uint8_t *out)
{
	EVP_MAC_CTX	*ctx;
	OSSL_PARAM	 params[2];
	uint32_t	 len;
	size_t		 olen = 0, i;
	int		 ok;

	params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL)
		return -1;
	ok = EVP_MAC_init(ctx, key, AUTH_TAG_LEN, params) == 1;
	for (i = 0; ok && i < n; i++) {
		len = (uint32_t)v[i].iov_len;
		ok = EVP_MAC_update(ctx, (const uint8_t *)&len,
		    sizeof(len)) == 1 && EVP_MAC_update(ctx, v[i].iov_base,
		    v[i].iov_len) == 1;
	}
	ok = ok && EVP_MAC_final(ctx, out, &olen, AUTH_TAG_LEN) == 1 &&
	    olen == AUTH_TAG_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
auth_cache_tag(struct auth_guard *g, const struct policy *pol,
    const char *identity, const uint8_t *pw, size_t pw_len,
    struct auth_tag *t)
{
	uint8_t		 ent[PASSWD_ENTRY_MAX], key[AUTH_TAG_LEN];
	struct iovec	 v[3];
	size_t		 elen;
	bool		 broken;
	int		 rc;

	memset(t, 0, sizeof(*t));
	if (pol->auth.cache_ttl_ms == 0 || (elen = passwd_entry_bytes(
	    pol->auth.passwd, identity, strlen(identity), ent,
	    sizeof(ent))) == 0)
		return -1;
	pthread_mutex_lock(&g->mtx);
	cache_sync(g, pol->serial);
	memcpy(key, g->cache_key, sizeof(key));
	t->serial = g->cache_serial;
	broken = g->cache_broken;
	pthread_mutex_unlock(&g->mtx);
	v[0].iov_base = (void *)(uintptr_t)identity;
	v[0].iov_len = strlen(identity);
	v[1].iov_base = (void *)(uintptr_t)(pw != NULL ? pw : ent);
	v[1].iov_len = pw_len;
	v[2].iov_base = ent;
	v[2].iov_len = elen;
	rc = broken || t->serial != pol->serial ? -1 :
	    cache_mac(g->mac, key, v, 3, t->mac);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(ent, sizeof(ent));
	if (rc == -1)
		OPENSSL_cleanse(t, sizeof(*t));
	return rc;
}

bool
auth_cache_hit(struct auth_guard *g, const struct policy *pol,
    const char *identity, const struct auth_tag *t, uint64_t now)
{
	struct entry	*e;
	size_t		 len = strlen(identity);
	bool		 hit = false;

	pthread_mutex_lock(&g->mtx);
	cache_sync(g, pol->serial);
	e = table_get(&g->cache, identity, len, false);
	if (e != NULL && t->serial == g->cache_serial &&
	    now >= e->locked_until && now - e->locked_until <
	    pol->auth.cache_ttl_ms)
		hit = CRYPTO_memcmp(e->tag, t->mac, AUTH_TAG_LEN) == 0;
	else if (e != NULL)
		table_del(&g->cache, e);	/* expired */
	pthread_mutex_unlock(&g->mtx);
	return hit;
}

void
auth_cache_put(struct auth_guard *g, const char *identity,
    const struct auth_tag *t, uint64_t now)
{
	struct entry	*e;
	size_t		 len = strlen(identity);

	pthread_mutex_lock(&g->mtx);
	if (t->serial == g->cache_serial &&
	    (e = table_get(&g->cache, identity, len, true)) != NULL) {
		memcpy(e->tag, t->mac, AUTH_TAG_LEN);
		e->locked_until = now;	/* here: when it was verified */
	}
	pthread_mutex_unlock(&g->mtx);
}

int
auth_registry_claim(struct auth_guard *g, const uint8_t *cid, size_t len,
    const char *identity, bool persistent)
{
	struct entry	*e;
	int		 rc = 0;

	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->reg, cid, len, true);
	if (e == NULL) {
		rc = -1;		/* no room: refuse, never guess */
		goto out;
	}
	if (e->owner != NULL && strcmp(e->owner, identity) != 0) {
		if (e->refs > 0 || e->persistent) {
			rc = -1;
			goto out;
		}
		free(e->owner);
		e->owner = NULL;
	}
	if (e->owner == NULL && (e->owner = strdup(identity)) == NULL) {
		rc = -1;
		goto out;
	}
	e->refs++;
	e->persistent |= persistent;
out:
	pthread_mutex_unlock(&g->mtx);
	return rc;
}

void
auth_registry_release(struct auth_guard *g, const uint8_t *cid, size_t len,
    bool persistent)
{
	struct entry	*e;

	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->reg, cid, len, false);
	if (e != NULL && e->refs > 0) {
		e->refs--;
		if (!persistent && e->refs == 0)
			e->persistent = false;
		if (e->refs == 0 && !e->persistent)
			table_del(&g->reg, e);
	}
	pthread_mutex_unlock(&g->mtx);
}

/* ---- the password-checking pool ------------------------------------- */

struct auth_pool *
auth_pool_new(unsigned threads, unsigned queue)
{
	struct auth_pool	*p;
	unsigned		 i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	TAILQ_INIT(&p->queue);
	p->max = queue;
	if (pthread_mutex_init(&p->mtx, NULL) != 0) {
		free(p);
		return NULL;
	}
	if (pthread_cond_init(&p->cv, NULL) != 0 ||
	    (p->threads = calloc(threads, sizeof(*p->threads))) == NULL) {
		pthread_mutex_destroy(&p->mtx);
		free(p);
		return NULL;
	}
	for (i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0)
			break;
		p->nthreads++;
	}
	if (p->nthreads == 0) {
		auth_pool_free(p);
		return NULL;
	}
	return p;
}

int
auth_pool_submit(struct auth_pool *p, struct auth_job *job)
{
	pthread_mutex_lock(&p->mtx);
	if (p->stopping || p->queued >= p->max) {
		pthread_mutex_unlock(&p->mtx);
		return -1;
	}
	job->queued_us = util_now_us();
	TAILQ_INSERT_TAIL(&p->queue, job, entry);
	p->queued++;
	metrics_password_queue(1);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	return 0;
}

static void *
pool_main(void *arg)
{
	struct auth_pool	*p = arg;
	struct auth_job		*job;

	pthread_mutex_lock(&p->mtx);
	for (;;) {
		while (!p->stopping && TAILQ_EMPTY(&p->queue))
			pthread_cond_wait(&p->cv, &p->mtx);
		if ((job = TAILQ_FIRST(&p->queue)) == NULL)
			break;		/* stopping, nothing left */
		while (job != NULL && strcmp(job->addr, p->last) == 0)
			job = TAILQ_NEXT(job, entry);
		if (job == NULL)
			job = TAILQ_FIRST(&p->queue);
		memcpy(p->last, job->addr, sizeof(p->last));
		TAILQ_REMOVE(&p->queue, job, entry);
		p->queued--;
		metrics_password_queue(-1);
		if (p->stopping)
			job->cancelled = true;
		pthread_mutex_unlock(&p->mtx);
		if (!job->cancelled) {
			job->result = passwd_verify(job->pol->auth.passwd,
			    job->user, job->user_len, job->pw, job->pw_len);
			metrics_observe(METRICS_H_PASSWORD, util_now_us() -
			    job->queued_us);
		} else
			job->result = PASSWD_ERROR;
		OPENSSL_cleanse(job->pw, job->pw_len);
		job->done(job);
		pthread_mutex_lock(&p->mtx);
	}
	pthread_mutex_unlock(&p->mtx);
	return NULL;
}

void
auth_pool_free(struct auth_pool *p)
{
	unsigned	i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mtx);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mtx);
	free(p);
}

void
auth_job_free(struct auth_job *job)
{
	if (job == NULL)
		return;
	if (job->pw != NULL) {
		OPENSSL_cleanse(job->pw, job->pw_len);
		free(job->pw);
	}
	free(job->user);
	policy_unref(job->pol);
	free(job);
}

bool
auth_guess(enum auth_result r)
{
	return r == AUTH_FAIL_BAD_PASSWORD || r == AUTH_FAIL_UNKNOWN_USER;
}

/* A lockout <dur> of <scope> started at <failures>, into <lk>. */
static void
lockout_note(struct auth_lockouts *lk, enum auth_scope scope, uint64_t dur,
    unsigned failures)
{
	if (dur == UINT64_MAX)
		lk->full = true;
	else if (dur > 0) {
		lk->ms[scope] = dur;
		lk->failures[scope] = failures;
	}
}

bool
auth_refused(struct auth_guard *g, const struct policy_auth *a,
    const char *addr, const char *identity, bool known, enum auth_result r,
    uint64_t now, struct auth_lockouts *lk)
{
	struct policy_lockout	 pair = a->lock_pair;
	char			 key[AUTH_KEY_MAX];
	size_t			 len;
	uint64_t		 dur;

	memset(lk, 0, sizeof(*lk));
	if (!auth_guess(r) || identity[0] == '\0')
		return false;
	if (known)
		pair.failures = pair.known_failures;
	len = auth_key(key, AUTH_SCOPE_PAIR, identity, addr);
	dur = auth_guard_fail(g, key, len, now, &pair);
	lockout_note(lk, AUTH_SCOPE_PAIR, dur, pair.failures);
	len = auth_key(key, AUTH_SCOPE_IDENTITY, identity, NULL);
	dur = auth_guard_fail(g, key, len, now, &a->lock_identity);
	lockout_note(lk, AUTH_SCOPE_IDENTITY, dur, a->lock_identity.failures);
	dur = auth_guard_spray(g, addr, identity, now, &a->lock_address,
	    &lk->distinct);
	lockout_note(lk, AUTH_SCOPE_ADDRESS, dur, a->lock_address.failures);
	return true;
}

void
auth_accepted(struct auth_guard *g, const struct policy_auth *a,
    const char *identity, const char *addr, uint64_t now)
{
	char	key[AUTH_KEY_MAX];
	size_t	len;

	len = auth_key(key, AUTH_SCOPE_PAIR, identity, addr);
	auth_guard_success(g, key, len);
	if (a->known_device_ms > 0)
		auth_guard_known_add(g, identity, addr, now);
}

enum auth_result
auth_recheck(const struct policy *pol, const struct policy_listener *lis,
    const struct auth_decision *d, const uint8_t *cid, size_t len)
{
	const struct policy_auth	*a = &pol->auth;
	enum policy_authn		 mode = lis->authn;

	if (d->anonymous) {
		if (!a->anonymous || strcmp(a->anonymous_identity,
		    d->identity) != 0)
			return AUTH_FAIL_NO_CREDENTIALS;
	} else if (d->by_certificate) {
		if (mode == POLICY_AUTHN_PASSWORD)
			return AUTH_FAIL_CERT_MISSING;	/* not taken here */
		if (mode == POLICY_AUTHN_BOTH && !passwd_has(a->passwd,
		    d->identity, strlen(d->identity)))
			return AUTH_FAIL_UNKNOWN_USER;
	} else {
		if (mode == POLICY_AUTHN_CERTIFICATE ||
		    mode == POLICY_AUTHN_BOTH)
			return AUTH_FAIL_CERT_MISSING;
		if (!passwd_has(a->passwd, d->identity, strlen(d->identity)))
			return AUTH_FAIL_UNKNOWN_USER;
	}
	if (len > 0 && a->client_id_pattern != NULL &&
	    !auth_client_id_match(a->client_id_pattern, d->identity, cid, len))
		return AUTH_FAIL_BAD_CLIENT_ID;
	return AUTH_OK;
}
