/* SPDX-License-Identifier: ISC */
/*
 * auth — who a client is, and whether it may connect.
 *
 * Three parts:
 *   auth_precheck()   a pure decision on a decoded CONNECT: credentials
 *                     present as the listener demands, names free of
 *                     wildcards and control characters, the identity
 *                     chosen, the client id allowed.  The clock is an
 *                     argument; the lockout table is read, not changed.
 *   struct auth_pool  threads that verify passwords, so that a flood of
 *                     CONNECTs with wrong passwords costs hashing time on
 *                     a bounded queue, never on the event loops.
 *   struct auth_guard brute-force lockout in three scopes, each with its
 *                     own threshold and doubling lockout: wrong passwords
 *                     for one identity from one address (the pair), for
 *                     one identity from anywhere, and distinct identities
 *                     guessed from one address (spraying: first a growing
 *                     tarpit, then a block); the known devices, (identity,
 *                     address) pairs that logged in recently and are exempt
 *                     from the identity and address scopes; the cache of
 *                     verified credentials; and the client-id registry
 *                     that stops one user from taking over another user's
 *                     session.  Shared by every worker behind a mutex:
 *                     touched a few times per CONNECT, never per frame.
 * Nothing here does I/O or logs.
 */
#ifndef MQTTGUARD_AUTH_H
#define MQTTGUARD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "mqttguard/codec.h"
#include "mqttguard/passwd.h"
#include "mqttguard/policy.h"
#include "mqttguard/util.h"

#define AUTH_GUARD_ENTRIES	65536	/* keys of each lockout scope */
#define AUTH_KNOWN_ENTRIES	65536	/* known devices, LRU beyond */
#define AUTH_CACHE_ENTRIES	65536	/* verified credentials, LRU */
#define AUTH_TAG_LEN		32	/* HMAC-SHA256 of a credential */
#define AUTH_REGISTRY_ENTRIES	262144	/* client ids kept, LRU beyond */
#define AUTH_IDENTITY_MAX	256	/* longest identity accepted */
#define AUTH_FAILURES_MAX	1000	/* lockout_failures upper bound */
#define AUTH_PENDING_PER_ADDR	8	/* password checks queued per address */

enum auth_result {
	AUTH_OK = 0,
	AUTH_FAIL_NO_CREDENTIALS,	/* anonymous, not allowed: 0x87 */
	AUTH_FAIL_UNKNOWN_USER,		/* 0x86 */
	AUTH_FAIL_BAD_PASSWORD,		/* 0x86 */
	AUTH_FAIL_LOCKED,		/* 0x8A banned */
	AUTH_FAIL_CERT_MISSING,		/* 0x87 */
	AUTH_FAIL_CERT_UNMAPPED,	/* no identity in the certificate */
	AUTH_FAIL_CERT_MISMATCH,	/* username is not the cert's: 0x86 */
	AUTH_FAIL_BAD_USERNAME,		/* + # or control characters: 0x86 */
	AUTH_FAIL_BAD_CLIENT_ID,	/* empty, pattern, characters: 0x85 */
	AUTH_FAIL_CLIENT_ID_TAKEN,	/* another user's client id: 0x85 */
	AUTH_FAIL_AUTH_METHOD,		/* 5.0 enhanced auth: 0x8C */
	AUTH_FAIL_BUSY,			/* password queue full: 0x89 */
	AUTH_FAIL_ERROR,		/* internal failure: 0x80 */
	AUTH_RESULT__MAX
};

/* What the session knows when a CONNECT arrives. */
struct auth_request {
	const struct policy		*pol;
	const struct policy_listener	*lis;
	const struct codec_packet	*pkt;		/* a decoded CONNECT */
	const char			*addr;		/* source, no port */
	const char			*cert_id;	/* NULL: none verified */
	bool				 cert_unmapped;	/* verified, no id */
	uint64_t			 now_ms;	/* monotonic */
};

/* The precheck's verdict when it is AUTH_OK. */
struct auth_decision {
	char		identity[AUTH_IDENTITY_MAX + 1];
	bool		anonymous;	/* identity is the anonymous one */
	bool		need_password;	/* verify before accepting */
	bool		by_certificate;
	bool		known;		/* a known device: exempt */
	uint64_t	tarpit_ms;	/* the address's, for any answer */
};

/* The scopes of the lockout, for metrics and logs. */
enum auth_scope {
	AUTH_SCOPE_PAIR = 0,		/* identity@address */
	AUTH_SCOPE_ADDRESS,		/* many identities from one address */
	AUTH_SCOPE_IDENTITY,		/* one identity from many addresses */
	AUTH_SCOPE__MAX
};

struct auth_guard;
struct auth_pool;

/* The 5.0 CONNACK reason code for <r>, and a short text for the log. */
uint8_t		 auth_reason(enum auth_result r);
const char	*auth_result_str(enum auth_result r);

/*
 * Everything but the password check, for <req>.  Returns AUTH_OK with <d>
 * filled, or the first reason to refuse.  <g> may be NULL (no lockout).
 */
enum auth_result auth_precheck(const struct auth_request *req,
		    struct auth_guard *g, struct auth_decision *d);

/*
 * Matches <cid> (<len> bytes) against a client-id pattern: literal bytes,
 * "%u" (the identity, literally), "%%" (a percent sign) and "*" (any run of
 * bytes).  Returns true on a match.
 */
bool		 auth_client_id_match(const char *pattern, const char *identity,
		    const uint8_t *cid, size_t len);

/* True if <len> bytes at <p> hold no '+', '#' or control character. */
bool		 auth_name_clean(const uint8_t *p, size_t len);

/* ---- lockout and client-id registry (thread-safe) ------------------- */

struct auth_guard	*auth_guard_new(void);
void			 auth_guard_free(struct auth_guard *);

/* "pair", "address", "identity". */
const char	*auth_scope_name(enum auth_scope);

/*
 * The keys of the lockout table: "p:<identity>\0<address>" (a pair; the
 * NUL keeps "a" + "b:c" apart from "a:b" + "c"), "u:<identity>",
 * "a:<address>".  Writes the key into <buf> (AUTH_KEY_MAX bytes) and
 * returns its length.
 */
#define AUTH_KEY_MAX	(AUTH_IDENTITY_MAX + UTIL_ADDR_MAX + 4)
size_t		auth_key(char *buf, enum auth_scope, const char *identity,
		    const char *addr);

/* Milliseconds left of a lockout of <key> (<len> bytes), 0: it may try. */
uint64_t	auth_guard_locked(struct auth_guard *, const char *key,
		    size_t len, uint64_t now_ms);
/*
 * Records a failure of <key> (a pair or an identity) at <now_ms> under
 * <l>: <l>->failures within <l>->window_ms lock it.  Returns the lockout
 * it starts in ms (0: none), or UINT64_MAX when the table is full of
 * running lockouts and the failure could not be recorded.
 */
uint64_t	auth_guard_fail(struct auth_guard *, const char *key,
		    size_t len, uint64_t now_ms,
		    const struct policy_lockout *l);
/*
 * Records that <addr> guessed a password of <identity> at <now_ms>: the
 * address scope counts distinct identities within <l>->window_ms, and
 * <l>->failures of them block the address.  The distinct count (before a
 * block, which starts counting afresh) goes to <distinct>.  Returns as
 * auth_guard_fail().
 */
uint64_t	auth_guard_spray(struct auth_guard *, const char *addr,
		    const char *identity, uint64_t now_ms,
		    const struct policy_lockout *l, unsigned *distinct);
/*
 * The tarpit of <addr> at <now_ms>: 0 below l->tarpit_after distinct
 * identities guessed, then <tarpit_ms> doubled for each identity from
 * there on (the first step is double), capped at l->tarpit_max_ms.
 */
uint64_t	auth_guard_tarpit(struct auth_guard *, const char *addr,
		    uint64_t now_ms, const struct policy_lockout *l,
		    unsigned tarpit_ms);
/* A success of <key>: its failures and lockout history are forgotten. */
void		auth_guard_success(struct auth_guard *, const char *key,
		    size_t len);
/*
 * Known devices: <identity> logged in from <addr> at <now_ms>
 * (auth_guard_known_add), and whether it did so less than <ttl_ms> ago;
 * with a NULL <identity>, whether anybody did from <addr> (the TLS
 * handshake budget's priority, asked before anybody is known).
 */
void		auth_guard_known_add(struct auth_guard *, const char *identity,
		    const char *addr, uint64_t now_ms);
bool		auth_guard_known(struct auth_guard *, const char *identity,
		    const char *addr, uint64_t now_ms, uint64_t ttl_ms);
/* Entries of each table, for the tests of its bounds. */
size_t		auth_guard_size(struct auth_guard *, char table);

/*
 * Counts a password check queued for source <addr>; refuses (-1) past
 * <max> at once, so one address cannot fill the queue others need.
 * auth_guard_pending_done() when the check is finished.
 */
/*
 * An identity that authenticated as <d> on a listener, checked again
 * under the policy <pol> with its listener <lis> after a reload: the
 * password user still in the password file, anonymous access still on,
 * the listener still taking the way it authenticated, its client id
 * <cid> (<len> bytes; 0: assigned by the broker) still matching
 * auth.client_id_pattern.  Certificates are tls.c's (revocation).
 * Returns AUTH_OK or why the session may not go on.
 */
enum auth_result auth_recheck(const struct policy *pol,
		    const struct policy_listener *lis,
		    const struct auth_decision *d, const uint8_t *cid,
		    size_t len);

/*
 * Whether a refusal for <r> was a guess: a wrong password or an unknown
 * user.  Nothing else counts (no credentials, a bad or taken client id, a
 * certificate missing, a protocol error, busy, already locked).
 */
bool		auth_guess(enum auth_result r);

/*
 * The lockout bookkeeping of a CONNECT refused for <r>, from <addr>
 * claiming <identity> ("" when none was decided), <known> when that pair
 * is a known device.  Only a guess (auth_guess()) with an identity counts:
 * against the pair (known devices with their own, higher threshold), the
 * identity, and the address (distinct identities).  Returns whether it
 * counted (the tarpit applies); the lockouts it started, in milliseconds
 * (0: none), go to <lk>.
 */
struct auth_lockouts {
	uint64_t	ms[AUTH_SCOPE__MAX];	/* started: its duration */
	unsigned	failures[AUTH_SCOPE__MAX];	/* the threshold hit */
	unsigned	distinct;	/* identities guessed from the address */
	bool		full;		/* a table full of lockouts: unrecorded */
};
bool		auth_refused(struct auth_guard *, const struct policy_auth *a,
		    const char *addr, const char *identity, bool known,
		    enum auth_result r, uint64_t now_ms,
		    struct auth_lockouts *lk);
/*
 * <identity> logged in from <addr>: the pair's failures are forgotten and
 * the pair becomes a known device (when auth.lockout.known_device is on).
 * The identity's and the address's counts stand: a login elsewhere does
 * not excuse guessing.
 */
void		auth_accepted(struct auth_guard *, const struct policy_auth *a,
		    const char *identity, const char *addr, uint64_t now_ms);

/*
 * The cache of verified credentials.  auth_cache_tag() computes, into
 * <t>, the HMAC-SHA256 under a random per-process key of <identity>, the
 * password <pw> (<pw_len> bytes) and the identity's password-file entry in
 * <pol>; it returns -1 when there is nothing to cache (the cache is off,
 * no such user, an OpenSSL failure).  A policy newer than the cache's
 * empties it and draws a new key first, so a reload invalidates every
 * entry.  auth_cache_hit() says whether <t> is what was stored for
 * <identity> less than auth.cache_ttl ago under the same policy (compared
 * in constant time); auth_cache_put() stores it after a successful check.
 * Failures are never stored.
 */
struct auth_tag {
	uint8_t		mac[AUTH_TAG_LEN];
	uint64_t	serial;		/* the policy's it was made under */
};
int		auth_cache_tag(struct auth_guard *, const struct policy *pol,
		    const char *identity, const uint8_t *pw, size_t pw_len,
		    struct auth_tag *t);
bool		auth_cache_hit(struct auth_guard *, const struct policy *pol,
		    const char *identity, const struct auth_tag *t,
		    uint64_t now_ms);
void		auth_cache_put(struct auth_guard *, const char *identity,
		    const struct auth_tag *t, uint64_t now_ms);

int		auth_guard_pending(struct auth_guard *, const char *addr,
		    unsigned max);
void		auth_guard_pending_done(struct auth_guard *, const char *addr);

/*
 * Claims client id <cid> for <identity> while a session uses it; a client
 * id that another identity holds (connected, or with a persistent session)
 * is refused.  <persistent>: the session outlives the connection, so the
 * owner is remembered after release.  Returns 0 or -1 (taken).
 */
int		auth_registry_claim(struct auth_guard *, const uint8_t *cid,
		    size_t len, const char *identity, bool persistent);
void		auth_registry_release(struct auth_guard *, const uint8_t *cid,
		    size_t len, bool persistent);

/* ---- password checks off the event loops ---------------------------- */

struct auth_job {
	TAILQ_ENTRY(auth_job)	 entry;
	struct policy		*pol;		/* ref: its passwd db */
	char			*user;		/* owned */
	size_t			 user_len;
	uint8_t			*pw;		/* owned, wiped when checked */
	size_t			 pw_len;
	enum passwd_result	 result;
	/* Called on a pool thread when checked (or cancelled at exit). */
	void			(*done)(struct auth_job *);
	void			*arg;
	char			 addr[UTIL_ADDR_MAX];	/* source, for fairness */
	bool			 cancelled;
	uint64_t		 queued_us;	/* set by auth_pool_submit() */
};

/* <threads> checkers, at most <queue> jobs waiting. NULL on failure. */
struct auth_pool	*auth_pool_new(unsigned threads, unsigned queue);
/*
 * Queues <job> (the pool takes it and calls job->done exactly once).  The
 * threads take the oldest job from another source address than the one
 * they served last, when there is one: a flood from one address cannot
 * push everybody else's checks behind all of its own.
 * Returns -1 when the queue is full: the caller still owns the job.
 */
int			 auth_pool_submit(struct auth_pool *, struct auth_job *);
/* Stops the threads; queued jobs are completed as cancelled. */
void			 auth_pool_free(struct auth_pool *);
/* Frees a finished job: wipes the password, drops the policy ref. */
void			 auth_job_free(struct auth_job *);

#endif
