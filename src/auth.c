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

#include <openssl/crypto.h>

#include "mqttguard/auth.h"
#include "mqttguard/hmap.h"
#include "mqttguard/metrics.h"

struct entry {
	TAILQ_ENTRY(entry)	 lru;		/* most recent first */
	uint64_t		 hash;
	/* lockout */
	uint64_t		*ring;		/* owned; failure times */
	unsigned		 nring, pos, count;
	uint64_t		 locked_until;
	unsigned		 lockouts;	/* in a row, for doubling */
	unsigned		 pending;	/* password checks queued */
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
	struct entry_list	 lru;
};

struct auth_guard {
	pthread_mutex_t	 mtx;
	struct table	 lock;		/* "u:<user>", "a:<address>" */
	struct table	 reg;		/* client ids */
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

static int	table_init(struct table *, size_t);
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
 * The order matters: refusals that need no secret come first, the lockout
 * of the source address before anything about the user, and the password
 * last (by the pool).  Nothing here is slower for an unknown user than for
 * a known one.
 */
enum auth_result
auth_precheck(const struct auth_request *req, struct auth_guard *g,
    struct auth_decision *d)
{
	const struct policy_auth	*a = &req->pol->auth;
	const struct codec_connect	*c = &req->pkt->u.connect;
	bool				 user = c->flags & CODEC_CF_USERNAME;
	char				 key[AUTH_IDENTITY_MAX + 3];
	enum auth_result		 r;

	memset(d, 0, sizeof(*d));
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
	if (g != NULL && req->addr != NULL) {
		snprintf(key, sizeof(key), "a:%s", req->addr);
		if (auth_guard_locked(g, key, req->now_ms) > 0)
			return AUTH_FAIL_LOCKED;
	}

	if ((r = precheck_identity(req, d)) != AUTH_OK)
		return r;

	if (d->need_password && !(c->flags & CODEC_CF_PASSWORD))
		return AUTH_FAIL_BAD_PASSWORD;
	if (d->need_password && a->passwd == NULL)
		return AUTH_FAIL_UNKNOWN_USER;
	if (g != NULL && !d->anonymous) {
		snprintf(key, sizeof(key), "u:%s", d->identity);
		if (auth_guard_locked(g, key, req->now_ms) > 0)
			return AUTH_FAIL_LOCKED;
	}

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
table_init(struct table *t, size_t max)
{
	memset(&t->type, 0, sizeof(t->type));
	t->type.size = sizeof(struct eslot);
	t->type.min = 1024;
	t->type.eq = entry_eq;
	if (hmap_type_init(&t->type) == -1)
		return -1;
	hmap_init(&t->map, &t->type, NULL, 0);
	t->max = max;
	TAILQ_INIT(&t->lru);
	return 0;
}

static void
entry_free(struct entry *e)
{
	free(e->ring);
	free(e->owner);
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

/*
 * Finds <key> (<len> bytes), making it most recent; with <create>, adds it
 * when missing, evicting the least recently used entry that no connected
 * session holds.  NULL when missing (or no room).
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
		/* Never evict a held id, a pending check, a running lockout. */
		for (tries = 0; v != NULL && (v->refs > 0 || v->pending > 0 ||
		    v->locked_until > t->now) && tries < 64; tries++)
			v = TAILQ_PREV(v, entry_list, lru);
		if (v == NULL || v->refs > 0 || v->pending > 0 ||
		    v->locked_until > t->now)
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

struct auth_guard *
auth_guard_new(void)
{
	struct auth_guard	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if (table_init(&g->lock, AUTH_GUARD_ENTRIES) == -1 ||
	    table_init(&g->reg, AUTH_REGISTRY_ENTRIES) == -1 ||
	    pthread_mutex_init(&g->mtx, NULL) != 0) {
		free(g);	/* no table has slots before its first entry */
		return NULL;
	}
	return g;
}

void
auth_guard_free(struct auth_guard *g)
{
	if (g == NULL)
		return;
	table_fini(&g->lock);
	table_fini(&g->reg);
	pthread_mutex_destroy(&g->mtx);
	free(g);
}

uint64_t
auth_guard_locked(struct auth_guard *g, const char *key, uint64_t now)
{
	struct entry	*e;
	uint64_t	 left = 0;
	size_t		 len = strlen(key);

	pthread_mutex_lock(&g->mtx);
	if (now > g->lock.now)
		g->lock.now = now;
	e = table_get(&g->lock, key, len, false);
	if (e != NULL && e->locked_until > now)
		left = e->locked_until - now;
	pthread_mutex_unlock(&g->mtx);
	return left;
}

/*
 * A sliding window of the last <lockout_failures> failure times: when the
 * oldest of them is still inside the window, that many failures happened
 * within it.  Each lockout doubles the previous one (up to lockout_max);
 * the doubling resets once a full lockout_max has passed quietly.
 */
uint64_t
auth_guard_fail(struct auth_guard *g, const char *key, uint64_t now,
    const struct policy_auth *a)
{
	struct entry	*e;
	uint64_t	 dur = 0, *ring;
	unsigned	 n = a->lockout_failures, shift;
	size_t		 len = strlen(key);

	if (n == 0)
		return 0;
	pthread_mutex_lock(&g->mtx);
	if (now > g->lock.now)
		g->lock.now = now;
	e = table_get(&g->lock, key, len, true);
	if (e == NULL)
		goto out;
	if (e->nring != n) {
		if ((ring = calloc(n, sizeof(*ring))) == NULL)
			goto out;
		free(e->ring);
		e->ring = ring;
		e->nring = n;
		e->pos = e->count = 0;
	}
	if (e->lockouts > 0 && now > e->locked_until + a->lockout_max_ms)
		e->lockouts = 0;
	e->ring[e->pos] = now;
	e->pos = (e->pos + 1) % n;
	if (e->count < n)
		e->count++;
	if (e->count == n && now - e->ring[e->pos] <= a->lockout_window_ms) {
		shift = e->lockouts < 20 ? e->lockouts : 20;
		dur = (uint64_t)a->lockout_duration_ms << shift;
		if (dur > a->lockout_max_ms)
			dur = a->lockout_max_ms;
		e->locked_until = now + dur;
		e->lockouts++;
		e->count = 0;
	}
out:
	pthread_mutex_unlock(&g->mtx);
	return dur;
}

void
auth_guard_success(struct auth_guard *g, const char *key)
{
	struct entry	*e;
	size_t		 len = strlen(key);

	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->lock, key, len, false);
	if (e != NULL && e->locked_until == 0)
		table_del(&g->lock, e);
	else if (e != NULL) {
		/* History forgotten; a lockout already running stands. */
		e->count = 0;
		e->lockouts = 0;
	}
	pthread_mutex_unlock(&g->mtx);
}

int
auth_guard_pending(struct auth_guard *g, const char *addr, unsigned max)
{
	struct entry	*e;
	char		 key[AUTH_IDENTITY_MAX + 3];
	size_t		 len;
	int		 rc = -1;

	snprintf(key, sizeof(key), "p:%s", addr);
	len = strlen(key);
	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->lock, key, len, true);
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
	char		 key[AUTH_IDENTITY_MAX + 3];
	size_t		 len;

	snprintf(key, sizeof(key), "p:%s", addr);
	len = strlen(key);
	pthread_mutex_lock(&g->mtx);
	e = table_get(&g->lock, key, len, false);
	if (e != NULL && e->pending > 0 && --e->pending == 0 &&
	    e->ring == NULL)
		table_del(&g->lock, e);
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
auth_refused(struct auth_guard *g, const struct policy_auth *a,
    const char *addr, const char *identity, enum auth_result r, uint64_t now,
    struct auth_lockouts *lk)
{
	char	key[AUTH_IDENTITY_MAX + 3];

	lk->addr_ms = lk->user_ms = 0;
	if (r == AUTH_FAIL_LOCKED || r == AUTH_FAIL_BUSY ||
	    r == AUTH_FAIL_ERROR || r == AUTH_FAIL_CLIENT_ID_TAKEN)
		return false;
	snprintf(key, sizeof(key), "a:%s", addr);
	lk->addr_ms = auth_guard_fail(g, key, now, a);
	if ((r == AUTH_FAIL_BAD_PASSWORD || r == AUTH_FAIL_UNKNOWN_USER) &&
	    identity[0] != '\0') {
		snprintf(key, sizeof(key), "u:%s", identity);
		lk->user_ms = auth_guard_fail(g, key, now, a);
	}
	return true;
}

void
auth_accepted(struct auth_guard *g, const char *identity)
{
	char	key[AUTH_IDENTITY_MAX + 3];

	snprintf(key, sizeof(key), "u:%s", identity);
	auth_guard_success(g, key);
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
