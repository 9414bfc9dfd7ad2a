/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for auth: who a client is, and whether it may connect.
 *
 * Eight parts, mostly tables of rules named after the rule, each rule with a
 * case that keeps it and one that breaks it:
 *   precheck   auth_precheck() on real CONNECT frames (built byte by byte,
 *              put in exact-size allocations and decoded by codec_decode,
 *              so ASan sees a one-byte over-read), under every listener
 *              mode, with the exact decision it fills in;
 *   names      auth_name_clean() and auth_client_id_match();
 *   lockout    the sliding window, doubling and cap of auth_guard_fail(),
 *              as a pure function of the clock each step passes in; the
 *              least-recently-used bound of the table; pending checks;
 *   scopes     the pair, identity and address scopes, what counts as a
 *              guess, the known-device exemption, the spraying tarpit,
 *              the tables' bounds;
 *   cache      the verified-credential cache: hit, miss, TTL, a changed
 *              entry, a reload;
 *   registry   client-id ownership, live and persistent;
 *   reasons    the CONNACK reason code and text of every verdict;
 *   pool       password checks on threads, against a file written by the
 *              real mosquitto_passwd at run time.
 *
 * Nothing is timed: the pool tests order events with a "gate" (a done
 * callback that blocks until the test opens it) rather than a slow hash,
 * and every wait is bounded by WAIT_S seconds so that a hang fails the
 * test instead of blocking the run.  Password files are written at run
 * time with mode 0600 (the loader refuses anything looser).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "check_suites.h"
#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/passwd.h"
#include "mqttguard/policy.h"

#define MOSQUITTO_PASSWD	"/usr/bin/mosquitto_passwd"
#define PATHLEN			256
#define WAIT_S			30	/* bound on every wait: a hang fails */

/* Identities at and one past AUTH_IDENTITY_MAX (256) bytes. */
#define A16	"aaaaaaaaaaaaaaaa"
#define A64	A16 A16 A16 A16
#define A256	A64 A64 A64 A64
#define A257	A256 "a"

static char	tmpdir[64];		/* /tmp/mqttguard-auth-XXXXXX */
static char	pwfile[PATHLEN];	/* alice, bob and carol */

/* ---- fixtures and helpers ------------------------------------------- */

/*
 * Unchecked fixture, run in the parent: a directory with a password file
 * holding alice/"alice-pw" and bob/"bob pw" as mosquitto_passwd writes
 * them ($7$), and carol/"carol-pw" as passwd_hash() writes it.
 */
static void
dir_setup(void)
{
	char *const	 add1[] = { MOSQUITTO_PASSWD, "-c", "-b", pwfile,
	    "alice", "alice-pw", NULL };
	char *const	 add2[] = { MOSQUITTO_PASSWD, "-b", pwfile, "bob",
	    "bob pw", NULL };
	char		 hash[PASSWD_HASH_STR_MAX], err[PASSWD_ERR_LEN] = "";
	char		 line[PASSWD_HASH_STR_MAX + 16];
	int		 fd;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttguard-auth-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(pwfile, sizeof(pwfile), "%s/passwd", tmpdir);
	ck_assert_msg(access(MOSQUITTO_PASSWD, X_OK) == 0,
	    MOSQUITTO_PASSWD " is missing: install the mosquitto package");
	ck_assert_int_eq(tu_run(add1), 0);
	ck_assert_int_eq(tu_run(add2), 0);
	ck_assert_msg(passwd_hash(hash, sizeof(hash),
	    (const uint8_t *)"carol-pw", 8, 1000, err, sizeof(err)) == 0,
	    "%s", err);
	snprintf(line, sizeof(line), "carol:%s\n", hash);
	fd = open(pwfile, O_WRONLY | O_APPEND);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, line, strlen(line)),
	    (ssize_t)strlen(line));
	close(fd);
	/* mosquitto_passwd leaves the mode to the umask. */
	ck_assert_int_eq(chmod(pwfile, 0600), 0);
}

static void
dir_teardown(void)
{
	tu_rm_tree(tmpdir);
}

static struct passwd_db *
load_db(void)
{
	char			 err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;

	db = passwd_load(pwfile, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(passwd_count(db), 3);
	return db;
}

/* auth_guard_fail() and _locked() of the NUL-terminated <key>. */
static uint64_t
gfail(struct auth_guard *g, const char *key, uint64_t now,
    const struct policy_lockout *l)
{
	return auth_guard_fail(g, key, strlen(key), now, l);
}

static uint64_t
glocked(struct auth_guard *g, const char *key, uint64_t now)
{
	return auth_guard_locked(g, key, strlen(key), now);
}

/* ---- auth_precheck() ------------------------------------------------ */

#define T0		1000000ULL	/* the clock when a lock is set */
#define ADDR		"192.0.2.7"	/* every CONNECT comes from here */

/* The policy of a precheck case. */
#define P_ANON		0x01	/* auth.anonymous, identity "guest" */
#define P_WILD		0x02	/* auth.allow_wildcard_names */
#define P_NODB		0x04	/* no password file */
#define P_ASSIGN	0x08	/* empty client id: the broker assigns one */
#define P_PATTERN	0x10	/* client_id_pattern "%u-*" */
#define P_NOGUARD	0x20	/* no lockout table: auth_precheck(g NULL) */

/* The decision expected with AUTH_OK, beside the identity. */
#define D_ANON		0x01	/* anonymous */
#define D_PW		0x02	/* need_password */
#define D_CERT		0x04	/* by_certificate */

#define PW	POLICY_AUTHN_PASSWORD
#define CERT	POLICY_AUTHN_CERTIFICATE
#define BOTH	POLICY_AUTHN_BOTH
#define EITHER	POLICY_AUTHN_EITHER

struct pcase {
	const char		*name;
	enum policy_authn	 mode;		/* the listener's */
	unsigned		 pol;		/* P_* */
	uint8_t			 level;		/* 0: 3.1.1 */
	bool			 auth_method;	/* 5.0 Authentication Method */
	const char		*cid;		/* NULL: "c1" */
	const char		*user;		/* NULL: no username flag */
	const char		*pw;		/* NULL: no password flag */
	const char		*cert;		/* verified cert identity */
	bool			 unmapped;	/* verified, but no identity */
	const char		*lock;		/* locked out at T0: lock_key() */
	const char		*known;		/* a known device at ADDR */
	uint64_t		 dt;		/* the CONNECT at T0 + dt */
	enum auth_result	 want;
	const char		*identity;	/* with AUTH_OK */
	unsigned		 d;		/* D_*, with AUTH_OK */
};

#define OK	AUTH_OK
#define F(r)	AUTH_FAIL_##r

static const struct pcase pcases[] = {
	/* 5.0 enhanced authentication (5.0 §4.12) is not supported. */
	{ "5.0 Authentication Method is refused with 0x8C (5.0 §4.12)",
	    PW, 0, .level = 5, .auth_method = true, .user = "alice",
	    .pw = "x", .want = F(AUTH_METHOD) },
	{ "5.0 Authentication Method is refused before the names",
	    PW, 0, .level = 5, .auth_method = true, .user = "a+b",
	    .pw = "x", .want = F(AUTH_METHOD) },
	{ "5.0 CONNECT without Authentication Method is accepted",
	    PW, 0, .level = 5, .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },

	/* Names: no wildcard or control character (3.1.1 §1.5.3). */
	{ "username with '+' is refused", PW, 0, .user = "a+b", .pw = "x",
	    .want = F(BAD_USERNAME) },
	{ "username with '#' is refused", PW, 0, .user = "a/#", .pw = "x",
	    .want = F(BAD_USERNAME) },
	{ "username with U+0001 is refused", PW, 0, .user = "a\x01",
	    .pw = "x", .want = F(BAD_USERNAME) },
	{ "username with U+007F is refused", PW, 0, .user = "a\x7f",
	    .pw = "x", .want = F(BAD_USERNAME) },
	{ "username with U+0085 (C2 85) is refused", PW, 0,
	    .user = "a\xc2\x85", .pw = "x", .want = F(BAD_USERNAME) },
	{ "username with U+00FC and U+00A0 is accepted", PW, 0,
	    .user = "j\xc3\xbcrgen\xc2\xa0x", .pw = "x", .want = OK,
	    .identity = "j\xc3\xbcrgen\xc2\xa0x", .d = D_PW },
	{ "username with '/' and '$' is accepted", PW, 0, .user = "$a/b",
	    .pw = "x", .want = OK, .identity = "$a/b", .d = D_PW },
	{ "client id with '+' is refused", PW, 0, .cid = "c+1",
	    .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "client id with '#' is refused", PW, 0, .cid = "c#",
	    .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "client id with U+0001 is refused", PW, 0, .cid = "\x01",
	    .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "client id with U+007F is refused", PW, 0, .cid = "c\x7f",
	    .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "client id with U+0085 (C2 85) is refused", PW, 0,
	    .cid = "c\xc2\x85", .user = "alice", .pw = "x",
	    .want = F(BAD_CLIENT_ID) },
	{ "client id of an anonymous client is checked too", PW, P_ANON,
	    .cid = "c#", .want = F(BAD_CLIENT_ID) },
	{ "username is checked before the client id", PW, 0, .cid = "c#",
	    .user = "a+b", .pw = "x", .want = F(BAD_USERNAME) },
	{ "allow_wildcard_names: '+' in the username is accepted", PW,
	    P_WILD, .user = "a+b", .pw = "x", .want = OK, .identity = "a+b",
	    .d = D_PW },
	{ "allow_wildcard_names: U+0085 in the username is accepted", PW,
	    P_WILD, .user = "a\xc2\x85", .pw = "x", .want = OK,
	    .identity = "a\xc2\x85", .d = D_PW },
	{ "allow_wildcard_names: '#' and U+0001 in the client id are "
	    "accepted", PW, P_WILD, .cid = "c#\x01", .user = "alice",
	    .pw = "x", .want = OK, .identity = "alice", .d = D_PW },
	{ "username of AUTH_IDENTITY_MAX bytes is accepted", PW, 0,
	    .user = A256, .pw = "x", .want = OK, .identity = A256,
	    .d = D_PW },
	{ "username over AUTH_IDENTITY_MAX bytes is refused", PW, 0,
	    .user = A257, .pw = "x", .want = F(BAD_USERNAME) },
	{ "allow_wildcard_names does not lift the length bound", PW, P_WILD,
	    .user = A257, .pw = "x", .want = F(BAD_USERNAME) },

	/* Listener "password": username and password. */
	{ "password: username and password [MQTT-3.1.2-19] [MQTT-3.1.2-21]",
	    PW, 0, .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },
	{ "password: username without the password flag is refused", PW, 0,
	    .user = "alice", .want = F(BAD_PASSWORD) },
	{ "password: 5.0 username without the password flag is refused",
	    PW, 0, .level = 5, .user = "alice", .want = F(BAD_PASSWORD) },
	{ "password: no username, anonymous off", PW, 0,
	    .want = F(NO_CREDENTIALS) },
	{ "password: no username, anonymous on", PW, P_ANON, .want = OK,
	    .identity = "guest", .d = D_ANON },
	{ "password: 5.0 password without username, anonymous on "
	    "(5.0 §3.1.2.9)", PW, P_ANON, .level = 5, .pw = "x",
	    .want = F(NO_CREDENTIALS) },
	{ "password: 5.0 password without username, anonymous off", PW, 0,
	    .level = 5, .pw = "x", .want = F(NO_CREDENTIALS) },
	{ "password: a certificate identity is ignored", PW, 0,
	    .user = "bob", .pw = "x", .cert = "alice", .want = OK,
	    .identity = "bob", .d = D_PW },
	{ "password: an unmapped certificate is ignored", PW, 0,
	    .user = "bob", .pw = "x", .unmapped = true, .want = OK,
	    .identity = "bob", .d = D_PW },
	{ "password: no password file, the user is unknown", PW, P_NODB,
	    .user = "alice", .pw = "x", .want = F(UNKNOWN_USER) },
	{ "password: no password file, a missing password comes first", PW,
	    P_NODB, .user = "alice", .want = F(BAD_PASSWORD) },
	{ "password: no password file, anonymous needs none", PW,
	    P_NODB | P_ANON, .want = OK, .identity = "guest", .d = D_ANON },

	/* Listener "certificate": a verified client certificate. */
	{ "certificate: identity from the certificate", CERT, 0,
	    .cert = "alice", .want = OK, .identity = "alice", .d = D_CERT },
	{ "certificate: username equal to the certificate's", CERT, 0,
	    .user = "alice", .pw = "x", .cert = "alice", .want = OK,
	    .identity = "alice", .d = D_CERT },
	{ "certificate: username differs from the certificate's", CERT, 0,
	    .user = "bob", .pw = "x", .cert = "alice",
	    .want = F(CERT_MISMATCH) },
	{ "certificate: username a prefix of the certificate's", CERT, 0,
	    .user = "alic", .cert = "alice", .want = F(CERT_MISMATCH) },
	{ "certificate: no certificate", CERT, 0, .user = "alice",
	    .pw = "x", .want = F(CERT_MISSING) },
	{ "certificate: no certificate, anonymous does not bypass it", CERT,
	    P_ANON, .want = F(CERT_MISSING) },
	{ "certificate: certificate without identity", CERT, 0,
	    .unmapped = true, .want = F(CERT_UNMAPPED) },
	{ "certificate: no password file needed", CERT, P_NODB,
	    .cert = "alice", .want = OK, .identity = "alice", .d = D_CERT },
	{ "certificate: identity of AUTH_IDENTITY_MAX bytes", CERT, 0,
	    .cert = A256, .want = OK, .identity = A256, .d = D_CERT },
	{ "certificate: identity over AUTH_IDENTITY_MAX bytes", CERT, 0,
	    .cert = A257, .want = F(CERT_UNMAPPED) },

	/* Listener "both": certificate and password. */
	{ "both: certificate, same username and password", BOTH, 0,
	    .user = "alice", .pw = "x", .cert = "alice", .want = OK,
	    .identity = "alice", .d = D_CERT | D_PW },
	{ "both: password flag missing", BOTH, 0, .user = "alice",
	    .cert = "alice", .want = F(BAD_PASSWORD) },
	{ "both: no username", BOTH, 0, .cert = "alice",
	    .want = F(CERT_MISMATCH) },
	{ "both: username differs from the certificate's", BOTH, 0,
	    .user = "bob", .pw = "x", .cert = "alice",
	    .want = F(CERT_MISMATCH) },
	{ "both: no certificate", BOTH, 0, .user = "alice", .pw = "x",
	    .want = F(CERT_MISSING) },
	{ "both: certificate without identity", BOTH, 0, .user = "alice",
	    .pw = "x", .unmapped = true, .want = F(CERT_UNMAPPED) },
	{ "both: no password file, the user is unknown", BOTH, P_NODB,
	    .user = "alice", .pw = "x", .cert = "alice",
	    .want = F(UNKNOWN_USER) },

	/* Listener "either": the certificate, else the password. */
	{ "either: certificate alone", EITHER, 0, .cert = "alice",
	    .want = OK, .identity = "alice", .d = D_CERT },
	{ "either: certificate wins, the password is not checked", EITHER,
	    0, .user = "alice", .pw = "x", .cert = "alice", .want = OK,
	    .identity = "alice", .d = D_CERT },
	{ "either: username differs from the certificate's", EITHER, 0,
	    .user = "bob", .pw = "x", .cert = "alice",
	    .want = F(CERT_MISMATCH) },
	{ "either: no certificate, username and password", EITHER, 0,
	    .user = "bob", .pw = "x", .want = OK, .identity = "bob",
	    .d = D_PW },
	{ "either: no certificate, password flag missing", EITHER, 0,
	    .user = "bob", .want = F(BAD_PASSWORD) },
	{ "either: nothing, anonymous on", EITHER, P_ANON, .want = OK,
	    .identity = "guest", .d = D_ANON },
	{ "either: nothing, anonymous off", EITHER, 0,
	    .want = F(NO_CREDENTIALS) },
	{ "either: certificate without identity is refused", EITHER, 0,
	    .user = "bob", .pw = "x", .unmapped = true,
	    .want = F(CERT_UNMAPPED) },

	/* Client ids [MQTT-3.1.3-6] [MQTT-3.1.3-8]. */
	{ "empty client id refused by policy [MQTT-3.1.3-8]", PW, 0,
	    .cid = "", .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "empty 5.0 client id refused by policy", PW, 0, .level = 5,
	    .cid = "", .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "empty client id left to the broker [MQTT-3.1.3-6]", PW,
	    P_ASSIGN, .cid = "", .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },
	{ "empty client id left to the broker skips the pattern", PW,
	    P_ASSIGN | P_PATTERN, .cid = "", .user = "alice", .pw = "x",
	    .want = OK, .identity = "alice", .d = D_PW },
	{ "pattern %u-*: the user's own id", PW, P_PATTERN,
	    .cid = "alice-1", .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },
	{ "pattern %u-*: another user's id", PW, P_PATTERN, .cid = "bob-1",
	    .user = "alice", .pw = "x", .want = F(BAD_CLIENT_ID) },
	{ "pattern %u-*: the bare identity does not match", PW, P_PATTERN,
	    .cid = "alice", .user = "alice", .pw = "x",
	    .want = F(BAD_CLIENT_ID) },
	{ "pattern %u-*: anonymous uses the anonymous identity", PW,
	    P_PATTERN | P_ANON, .cid = "guest-7", .want = OK,
	    .identity = "guest", .d = D_ANON },
	{ "pattern %u-*: anonymous may not take a user's id", PW,
	    P_PATTERN | P_ANON, .cid = "alice-7", .want = F(BAD_CLIENT_ID) },
	{ "pattern %u-*: the certificate identity", CERT, P_PATTERN,
	    .cid = "alice-x", .cert = "alice", .want = OK,
	    .identity = "alice", .d = D_CERT },
	{ "pattern %u-*: the certificate identity, not another's",
	    EITHER, P_PATTERN, .cid = "bob-x", .cert = "alice",
	    .want = F(BAD_CLIENT_ID) },

	/* Lockout: the address, the identity, the pair (README). */
	{ "locked address is refused", PW, 0, .lock = "a:",
	    .user = "alice", .pw = "x", .want = F(LOCKED) },
	{ "locked address: one ms before the end", PW, 0, .lock = "a:",
	    .dt = 59999, .user = "alice", .pw = "x", .want = F(LOCKED) },
	{ "locked address: free when the lockout ends", PW, 0,
	    .lock = "a:", .dt = 60000, .user = "alice", .pw = "x",
	    .want = OK, .identity = "alice", .d = D_PW },
	{ "locked address refuses anonymous clients too", PW, P_ANON,
	    .lock = "a:", .want = F(LOCKED) },
	{ "a missing certificate is no lockout matter", CERT, 0,
	    .lock = "a:", .want = F(CERT_MISSING) },
	{ "locked address refuses a certificate identity", CERT, 0,
	    .lock = "a:", .cert = "alice", .want = F(LOCKED) },
	{ "locked address: a known device is exempt", PW, 0, .lock = "a:",
	    .known = "alice", .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },
	{ "locked address: another identity's known device is not", PW, 0,
	    .lock = "a:", .known = "bob", .user = "alice", .pw = "x",
	    .want = F(LOCKED) },
	{ "locked user is refused", PW, 0, .lock = "u:alice",
	    .user = "alice", .pw = "x", .want = F(LOCKED) },
	{ "locked user: free when the lockout ends", PW, 0,
	    .lock = "u:alice", .dt = 60000, .user = "alice", .pw = "x",
	    .want = OK, .identity = "alice", .d = D_PW },
	{ "locked user: a known device is exempt", PW, 0, .lock = "u:alice",
	    .known = "alice", .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },
	{ "another locked user does not matter", PW, 0, .lock = "u:bob",
	    .user = "alice", .pw = "x", .want = OK, .identity = "alice",
	    .d = D_PW },
	{ "locked user of AUTH_IDENTITY_MAX bytes is refused", PW, 0,
	    .lock = "u:" A256, .user = A256, .pw = "x", .want = F(LOCKED) },
	{ "locked certificate identity is refused", CERT, 0,
	    .lock = "u:alice", .cert = "alice", .want = F(LOCKED) },
	{ "the anonymous identity is never locked per user", PW, P_ANON,
	    .lock = "u:guest", .want = OK, .identity = "guest",
	    .d = D_ANON },
	{ "locked pair is refused", PW, 0, .lock = "p:alice",
	    .user = "alice", .pw = "x", .want = F(LOCKED) },
	{ "locked pair: free when the lockout ends", PW, 0,
	    .lock = "p:alice", .dt = 60000, .user = "alice", .pw = "x",
	    .want = OK, .identity = "alice", .d = D_PW },
	{ "locked pair: another identity from the address may log in", PW,
	    0, .lock = "p:bob", .user = "alice", .pw = "x", .want = OK,
	    .identity = "alice", .d = D_PW },
	{ "locked pair: its own lock holds for a known device", PW, 0,
	    .lock = "p:alice", .known = "alice", .user = "alice", .pw = "x",
	    .want = F(LOCKED) },
	{ "locked pair comes before a missing password", PW, 0,
	    .lock = "p:alice", .user = "alice", .want = F(LOCKED) },
	{ "without a lockout table nothing is locked", PW, P_NOGUARD,
	    .user = "alice", .pw = "x", .want = OK, .identity = "alice",
	    .d = D_PW },
};

/* Writes a two-byte length and <len> bytes of <s> at <b> + *<off>. */
static void
put_str(uint8_t *b, size_t cap, size_t *off, const char *s)
{
	size_t	len = strlen(s);

	ck_assert_uint_le(*off + 2 + len, cap);
	b[(*off)++] = (uint8_t)(len >> 8);
	b[(*off)++] = (uint8_t)len;
	memcpy(b + *off, s, len);
	*off += len;
}

/* The CONNECT of <c>, in an exact-size allocation the caller frees. */
static uint8_t *
connect_frame(const struct pcase *c, size_t *lenp)
{
	uint8_t		 body[1024], hdr[5], *f;
	size_t		 n = 0, h = 0, rem;
	uint8_t		 level = c->level != 0 ? c->level : CODEC_V311;
	uint8_t		 flags = CODEC_CF_CLEAN;

	if (c->user != NULL)
		flags |= CODEC_CF_USERNAME;
	if (c->pw != NULL)
		flags |= CODEC_CF_PASSWORD;
	put_str(body, sizeof(body), &n, "MQTT");
	body[n++] = level;
	body[n++] = flags;
	body[n++] = 0;
	body[n++] = 60;				/* keep alive */
	if (level == CODEC_V5) {
		if (c->auth_method) {
			body[n++] = 8;		/* property length */
			body[n++] = CODEC_PROP_AUTH_METHOD;
			put_str(body, sizeof(body), &n, "SCRAM");
		} else
			body[n++] = 0;
	}
	put_str(body, sizeof(body), &n, c->cid != NULL ? c->cid : "c1");
	if (c->user != NULL)
		put_str(body, sizeof(body), &n, c->user);
	if (c->pw != NULL)
		put_str(body, sizeof(body), &n, c->pw);

	hdr[h++] = 0x10;
	for (rem = n; rem >= 128; rem >>= 7)
		hdr[h++] = (uint8_t)(0x80 | (rem & 0x7f));
	hdr[h++] = (uint8_t)rem;
	f = malloc(h + n);
	ck_assert_ptr_nonnull(f);
	memcpy(f, hdr, h);
	memcpy(f + h, body, n);
	*lenp = h + n;
	return f;
}

/* A policy for <flags> (P_*), with its own reference. */
static struct policy *
precheck_policy(unsigned flags)
{
	struct policy	*pol = policy_new();

	ck_assert_ptr_nonnull(pol);
	pol->auth.anonymous = (flags & P_ANON) != 0;
	pol->auth.anonymous_identity = strdup("guest");
	ck_assert_ptr_nonnull(pol->auth.anonymous_identity);
	pol->auth.allow_wildcard_names = (flags & P_WILD) != 0;
	if (!(flags & P_NODB))
		pol->auth.passwd = load_db();
	pol->auth.empty_client_id = (flags & P_ASSIGN) ?
	    POLICY_EMPTY_ID_ASSIGN : POLICY_EMPTY_ID_REJECT;
	if (flags & P_PATTERN) {
		pol->auth.client_id_pattern = strdup("%u-*");
		ck_assert_ptr_nonnull(pol->auth.client_id_pattern);
	}
	/* Every scope's first lockout lasts a minute. */
	pol->auth.lock_pair.duration_ms = 60000;
	pol->auth.lock_identity.duration_ms = 60000;
	pol->auth.lock_address.duration_ms = 60000;
	return pol;
}

/*
 * Locks <what> at T0 with the failures its scope needs: "p:<identity>"
 * (the pair of <identity> and ADDR), "u:<identity>" or "a:" ADDR (by
 * guesses of as many identities).
 */
static void
lock_key(struct auth_guard *g, const char *what, const struct policy_auth *a)
{
	const struct policy_lockout *l;
	char		 key[AUTH_KEY_MAX], id[16];
	size_t		 len;
	uint64_t	 dur = 0;
	unsigned	 i, distinct;

	if (what[0] == 'a') {
		l = &a->lock_address;
		for (i = 0; i < l->failures; i++) {
			ck_assert_uint_eq(dur, 0);
			snprintf(id, sizeof(id), "id%u", i);
			dur = auth_guard_spray(g, ADDR, id, T0, l, &distinct);
			ck_assert_uint_eq(distinct, i + 1);
		}
		len = auth_key(key, AUTH_SCOPE_ADDRESS, NULL, ADDR);
	} else if (what[0] == 'p') {
		l = &a->lock_pair;
		len = auth_key(key, AUTH_SCOPE_PAIR, what + 2, ADDR);
	} else {
		l = &a->lock_identity;
		len = auth_key(key, AUTH_SCOPE_IDENTITY, what + 2, NULL);
	}
	for (i = 0; what[0] != 'a' && i < l->failures; i++) {
		ck_assert_uint_eq(dur, 0);
		dur = auth_guard_fail(g, key, len, T0, l);
	}
	ck_assert_uint_eq(dur, l->duration_ms);
	ck_assert_uint_eq(auth_guard_locked(g, key, len, T0), l->duration_ms);
}

START_TEST(precheck)
{
	const struct pcase	*c = &pcases[_i];
	struct policy		*pol = precheck_policy(c->pol);
	struct policy_listener	 lis;
	struct auth_guard	*g;
	struct auth_request	 req;
	struct auth_decision	 d;
	struct codec_packet	 pkt;
	enum auth_result	 r;
	uint8_t			*f;
	char			*cert = NULL, key[AUTH_KEY_MAX];
	size_t			 len;
	unsigned		 i;

	memset(&lis, 0, sizeof(lis));
	lis.authn = c->mode;
	lis.client_certs = c->mode == PW ? POLICY_VERIFY_NONE :
	    c->mode == EITHER ? POLICY_VERIFY_OPTIONAL : POLICY_VERIFY_REQUIRE;
	g = auth_guard_new();
	ck_assert_ptr_nonnull(g);
	if (c->lock != NULL)
		lock_key(g, c->lock, &pol->auth);
	if (c->known != NULL)
		auth_guard_known_add(g, c->known, ADDR, T0 - 1000);

	f = connect_frame(c, &len);
	ck_assert_msg(codec_decode(NULL, 0, CODEC_FROM_CLIENT, f, len, len,
	    &pkt) == CODEC_OK && pkt.type == CODEC_CONNECT,
	    "%s: the CONNECT does not decode: %s", c->name,
	    codec_err_str(pkt.err));
	if (c->cert != NULL)
		cert = (char *)tu_dup_exact(c->cert, strlen(c->cert) + 1);

	memset(&req, 0, sizeof(req));
	req.pol = pol;
	req.lis = &lis;
	req.pkt = &pkt;
	req.addr = ADDR;
	req.cert_id = cert;
	req.cert_unmapped = c->unmapped;
	req.now_ms = T0 + c->dt;
	memset(&d, 0xa5, sizeof(d));	/* the precheck must fill it all */
	r = auth_precheck(&req, (c->pol & P_NOGUARD) ? NULL : g, &d);
	ck_assert_msg(r == c->want, "%s: \"%s\", want \"%s\"", c->name,
	    auth_result_str(r), auth_result_str(c->want));
	if (r == AUTH_OK) {
		ck_assert_msg(strcmp(d.identity, c->identity) == 0,
		    "%s: identity \"%.40s\", want \"%.40s\"", c->name,
		    d.identity, c->identity);
		ck_assert_msg(d.anonymous == ((c->d & D_ANON) != 0),
		    "%s: anonymous %d", c->name, d.anonymous);
		ck_assert_msg(d.need_password == ((c->d & D_PW) != 0),
		    "%s: need_password %d", c->name, d.need_password);
		ck_assert_msg(d.by_certificate == ((c->d & D_CERT) != 0),
		    "%s: by_certificate %d", c->name, d.by_certificate);
	}
	/*
	 * The precheck reads the lockout table, it never records: the
	 * address still needs all its failures to be locked.
	 */
	if (r == AUTH_OK)
		ck_assert_msg(d.known == (c->known != NULL &&
		    strcmp(c->known, c->identity) == 0), "%s: known %d",
		    c->name, d.known);
	if (c->lock == NULL) {
		len = auth_key(key, AUTH_SCOPE_PAIR, "alice", ADDR);
		for (i = 0; i + 1 < pol->auth.lock_pair.failures; i++)
			ck_assert_uint_eq(auth_guard_fail(g, key, len,
			    req.now_ms, &pol->auth.lock_pair), 0);
	}
	free(cert);
	free(f);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* ---- auth_recheck(): an identity under a reloaded policy ----------- */

static const struct recase {
	const char	*name;
	enum policy_authn mode;
	unsigned	 pol;		/* P_* */
	const char	*identity;
	unsigned	 d;		/* D_* */
	const char	*cid;		/* NULL: empty */
	enum auth_result want;
} recases[] = {
	{ "a password user still in the file", PW, 0, "alice", D_PW,
	    "c", OK },
	{ "a password user removed from the file", PW, 0, "zed", D_PW,
	    "c", F(UNKNOWN_USER) },
	{ "a password user, the password file gone", PW, P_NODB, "alice",
	    D_PW, "c", F(UNKNOWN_USER) },
	{ "a password user on a listener now certificate-only", CERT, 0,
	    "alice", D_PW, "c", F(CERT_MISSING) },
	{ "a certificate identity on a listener now password-only", PW, 0,
	    "client1", D_CERT, "c", F(CERT_MISSING) },
	{ "a certificate identity, certificate mode", CERT, P_NODB,
	    "client1", D_CERT, "c", OK },
	{ "a certificate identity, either mode", EITHER, P_NODB, "client1",
	    D_CERT, NULL, OK },
	{ "certificate and password: the user still in the file", BOTH, 0,
	    "bob", D_CERT | D_PW, "c", OK },
	{ "certificate and password: the user removed", BOTH, 0, "zed",
	    D_CERT | D_PW, "c", F(UNKNOWN_USER) },
	{ "anonymous still allowed", PW, P_ANON, "guest", D_ANON, "c", OK },
	{ "anonymous access turned off", PW, 0, "guest", D_ANON, "c",
	    F(NO_CREDENTIALS) },
	{ "anonymous under another anonymous identity now", PW, P_ANON,
	    "nobody", D_ANON, "c", F(NO_CREDENTIALS) },
	{ "client id still matching the new pattern", PW, P_PATTERN,
	    "alice", D_PW, "alice-1", OK },
	{ "client id the new pattern refuses", PW, P_PATTERN, "alice", D_PW,
	    "bob-1", F(BAD_CLIENT_ID) },
	{ "no client id: the pattern has nothing to refuse", PW, P_PATTERN,
	    "alice", D_PW, NULL, OK },
};

START_TEST(recheck)
{
	const struct recase	*c = &recases[_i];
	struct policy		*pol = precheck_policy(c->pol);
	struct policy_listener	 lis;
	struct auth_decision	 d;
	enum auth_result	 r;

	memset(&lis, 0, sizeof(lis));
	lis.authn = c->mode;
	memset(&d, 0, sizeof(d));
	snprintf(d.identity, sizeof(d.identity), "%s", c->identity);
	d.anonymous = (c->d & D_ANON) != 0;
	d.need_password = (c->d & D_PW) != 0;
	d.by_certificate = (c->d & D_CERT) != 0;
	r = auth_recheck(pol, &lis, &d, (const uint8_t *)c->cid,
	    c->cid != NULL ? strlen(c->cid) : 0);
	ck_assert_msg(r == c->want, "%s: \"%s\", want \"%s\"", c->name,
	    auth_result_str(r), auth_result_str(c->want));
	policy_unref(pol);
}
END_TEST

/* ---- auth_name_clean() and auth_client_id_match() -------------------- */

/* <s> as bytes: embedded NULs count, the terminating one does not. */
#define STR(s)	s, sizeof(s) - 1

static const struct ncase {
	const char	*name;
	const char	*p;
	size_t		 len;
	bool		 want;
} ncases[] = {
	{ "empty is clean", STR(""), true },
	{ "letters and digits", STR("alice42"), true },
	{ "'/', '$', space and '-' are clean", STR("$SYS/a b-c"), true },
	{ "'+' (single-level wildcard)", STR("a+b"), false },
	{ "'#' (multi-level wildcard)", STR("a#"), false },
	{ "'+' alone", STR("+"), false },
	{ "'#' alone", STR("#"), false },
	{ "U+0000 [MQTT-1.5.3-2]", STR("a\0b"), false },
	{ "U+0001", STR("a\x01"), false },
	{ "U+001B (ESC, terminal escapes into logs)", STR("a\x1b[31m"),
	    false },
	{ "U+001F", STR("\x1f"), false },
	{ "U+007F (DEL)", STR("a\x7f"), false },
	{ "U+0080 (C2 80)", STR("a\xc2\x80"), false },
	{ "U+0085 (C2 85, NEL)", STR("a\xc2\x85"), false },
	{ "U+009F (C2 9F)", STR("\xc2\x9f" "a"), false },
	{ "U+00A0 (C2 A0) is not a control character", STR("a\xc2\xa0"),
	    true },
	{ "U+00E9 (C3 A9)", STR("caf\xc3\xa9"), true },
	{ "U+0100 (C4 80): 0x80 after another lead byte", STR("\xc4\x80"),
	    true },
	{ "U+20AC (E2 82 AC): 0x82 as a continuation byte",
	    STR("\xe2\x82\xac"), true },
	{ "U+1F600 (F0 9F 98 80)", STR("\xf0\x9f\x98\x80"), true },
};

START_TEST(name_clean)
{
	const struct ncase	*c = &ncases[_i];
	uint8_t			*p = tu_dup_exact(c->p, c->len);

	ck_assert_msg(auth_name_clean(p, c->len) == c->want, "%s: %s",
	    c->name, c->want ? "refused" : "accepted");
	free(p);
}
END_TEST

static const struct mcase {
	const char	*name;
	const char	*pattern;
	const char	*identity;
	const char	*cid;
	size_t		 len;
	bool		 want;
} mcases[] = {
	{ "literal", "abc", "x", STR("abc"), true },
	{ "literal, one byte differs", "abc", "x", STR("abd"), false },
	{ "literal is not a prefix match", "abc", "x", STR("abcd"), false },
	{ "literal longer than the id", "abc", "x", STR("ab"), false },
	{ "literal is case-sensitive", "abc", "x", STR("ABC"), false },
	{ "%u is the identity", "%u", "alice", STR("alice"), true },
	{ "%u, another identity", "%u", "alice", STR("bob"), false },
	{ "%u, longer id", "%u", "alice", STR("alice2"), false },
	{ "%u, shorter id", "%u", "alice", STR("alic"), false },
	{ "%u-*, with a suffix", "%u-*", "alice", STR("alice-1"), true },
	{ "%u-*, empty suffix", "%u-*", "alice", STR("alice-"), true },
	{ "%u-*, no dash", "%u-*", "alice", STR("alice"), false },
	{ "%u-*, another user", "%u-*", "alice", STR("bob-1"), false },
	{ "%u-*, identity not at the start", "%u-*", "alice",
	    STR("xalice-1"), false },
	{ "%u-*, UTF-8 identity", "%u-*", "j\xc3\xbcrgen",
	    STR("j\xc3\xbcrgen-1"), true },
	{ "%u in the middle", "dev-%u-x", "bob", STR("dev-bob-x"), true },
	{ "%% is a percent sign", "a%%b", "x", STR("a%b"), true },
	{ "%% is one percent sign, not two", "a%%b", "x", STR("a%%b"),
	    false },
	{ "%%u is a percent sign and a 'u'", "%%u", "alice", STR("%u"),
	    true },
	{ "%%u is not the identity", "%%u", "alice", STR("alice"), false },
	{ "* at the start", "*-1", "x", STR("abc-1"), true },
	{ "* at the start, wrong end", "*-1", "x", STR("abc-2"), false },
	{ "* at the start, empty run", "*-1", "x", STR("-1"), true },
	{ "* in the middle", "a*z", "x", STR("abcz"), true },
	{ "* in the middle, empty run", "a*z", "x", STR("az"), true },
	{ "* in the middle, wrong end", "a*z", "x", STR("abc"), false },
	{ "* in the middle, wrong start", "a*z", "x", STR("zaz"), false },
	{ "* at the end", "ab*", "x", STR("abxyz"), true },
	{ "* at the end, empty run", "ab*", "x", STR("ab"), true },
	{ "* at the end, too short", "ab*", "x", STR("a"), false },
	{ "* alone matches anything", "*", "x", STR("any thing"), true },
	{ "* needs backtracking", "*ab", "x", STR("aab"), true },
	{ "several stars", "*-*-*", "x", STR("a-b-c"), true },
	{ "several stars, empty runs", "*-*-*", "x", STR("--"), true },
	{ "several stars, one dash short", "*-*-*", "x", STR("a-b"), false },
	{ "several stars in order", "*a*b*c", "x", STR("xaybzc"), true },
	{ "several stars out of order", "*a*b*c", "x", STR("acb"), false },
	{ "adjacent stars", "a**b", "x", STR("axxb"), true },
	{ "* and %u together", "*-%u", "bob", STR("dev-bob"), true },
	{ "* and %u together, wrong identity", "*-%u", "bob",
	    STR("dev-bobby"), false },
	{ "'*' in the identity is literal", "%u", "a*", STR("a*"), true },
	{ "'*' in the identity is not a wildcard", "%u", "a*", STR("ab"),
	    false },
	{ "'*' in the identity, with %u-*", "%u-*", "a*", STR("ab-1"),
	    false },
	{ "'%' in the identity is literal", "%u", "50%u", STR("50%u"), true },
	{ "'%u' in the identity is not expanded", "%u", "50%u",
	    STR("5050%u"), false },
	{ "empty id, %u of an empty identity", "%u", "", STR(""), true },
	{ "empty id, *", "*", "alice", STR(""), true },
	{ "empty id, literal", "a", "alice", STR(""), false },
	{ "empty id, %u", "%u", "alice", STR(""), false },
	{ "empty pattern, empty id", "", "alice", STR(""), true },
	{ "empty pattern, any id", "", "alice", STR("a"), false },
	{ "NUL in the id is a byte like any other", "a*", "x", STR("a\0b"),
	    true },
	{ "NUL after the identity does not match %u", "%u", "a", STR("a\0"),
	    false },
};

START_TEST(client_id_match)
{
	const struct mcase	*c = &mcases[_i];
	uint8_t			*cid = tu_dup_exact(c->cid, c->len);
	char			*id = (char *)tu_dup_exact(c->identity,
				    strlen(c->identity) + 1);

	ck_assert_msg(auth_client_id_match(c->pattern, id, cid, c->len) ==
	    c->want, "%s: \"%s\" %s \"%s\" (identity \"%s\")", c->name,
	    c->pattern, c->want ? "must match" : "must not match", c->cid,
	    c->identity);
	free(id);
	free(cid);
}
END_TEST

/* ---- the lockout table ---------------------------------------------- */

enum gop {
	G_END = 0,
	G_FAIL,		/* auth_guard_fail() must return want */
	G_LOCKED,	/* auth_guard_locked() must return want */
	G_SUCCESS	/* auth_guard_success() */
};

struct gstep {
	enum gop	 op;
	const char	*key;
	uint64_t	 t;		/* now_ms */
	uint64_t	 want;		/* ms of lockout */
};

#define FAIL(k, t, w)	{ G_FAIL, k, t, w }
#define LOCKED(k, t, w)	{ G_LOCKED, k, t, w }
#define SUCCESS(k)	{ G_SUCCESS, k, 0, 0 }

/* A clock-driven scenario under one policy. */
static const struct gcase {
	const char	*name;
	unsigned	 failures, window, duration, max;
	struct gstep	 steps[16];
} gcases[] = {
	{ "N failures within the window lock the key", 3, 1000, 5000, 60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1500, 0),
	    FAIL("u:alice", 2000, 5000),	/* exactly the window */
	    LOCKED("u:alice", 2000, 5000), LOCKED("u:alice", 6999, 1),
	    LOCKED("u:alice", 7000, 0) } },
	{ "N-1 failures do not lock", 3, 1000, 5000, 60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1001, 0),
	    LOCKED("u:alice", 1001, 0) } },
	{ "N failures spread wider than the window do not lock", 3, 1000,
	    5000, 60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1600, 0),
	    FAIL("u:alice", 2001, 0), LOCKED("u:alice", 2001, 0),
	    /* The window slides: 1600, 2001 and 2100 are within it. */
	    FAIL("u:alice", 2100, 5000) } },
	{ "failures after a lockout count afresh", 3, 1000, 5000, 60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1001, 0),
	    FAIL("u:alice", 1002, 5000), FAIL("u:alice", 7000, 0),
	    FAIL("u:alice", 7001, 0), FAIL("u:alice", 7002, 10000) } },
	{ "a lockout uses up the failures that caused it", 3, 60000, 5000,
	    60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1001, 0),
	    FAIL("u:alice", 1002, 5000),
	    /* 1001 and 1002 are still in the window, but spent. */
	    FAIL("u:alice", 7002, 0), FAIL("u:alice", 7003, 0),
	    FAIL("u:alice", 7004, 10000) } },
	{ "the lockout doubles on repetition, capped at lockout_max", 1,
	    1000, 1000, 5000,
	    { FAIL("u:alice", 1000, 1000), FAIL("u:alice", 2000, 2000),
	    FAIL("u:alice", 4000, 4000), FAIL("u:alice", 8000, 5000),
	    FAIL("u:alice", 13000, 5000), LOCKED("u:alice", 13000, 5000) } },
	{ "the doubling resets after a quiet lockout_max", 1, 1000, 1000,
	    5000,
	    { FAIL("u:alice", 1000, 1000), FAIL("u:alice", 2000, 2000),
	    /* Locked until 4000: 9000 is not yet a full quiet 5000. */
	    FAIL("u:alice", 9000, 4000),
	    /* Locked until 13000: 18001 is. */
	    FAIL("u:alice", 18001, 1000) } },
	{ "lockout_failures 0 disables the lockout", 0, 1000, 1000, 5000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1000, 0),
	    FAIL("u:alice", 1000, 0), FAIL("u:alice", 1000, 0),
	    FAIL("u:alice", 1000, 0), FAIL("u:alice", 1000, 0),
	    LOCKED("u:alice", 1000, 0) } },
	{ "success clears the failure count", 3, 1000, 5000, 60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1001, 0),
	    SUCCESS("u:alice"), FAIL("u:alice", 1002, 0),
	    FAIL("u:alice", 1003, 0), FAIL("u:alice", 1004, 5000) } },
	{ "success clears the failure count after a lockout", 3, 1000, 5000,
	    60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:alice", 1001, 0),
	    FAIL("u:alice", 1002, 5000), FAIL("u:alice", 7000, 0),
	    FAIL("u:alice", 7001, 0), SUCCESS("u:alice"),
	    FAIL("u:alice", 7002, 0), LOCKED("u:alice", 7002, 0) } },
	/*
	 * auth.h: "A success of <key>: its failures and lockout history are
	 * forgotten."  The next lockout is the first again, not a double.
	 */
	{ "success forgets the lockout history", 1, 1000, 1000, 100000,
	    { FAIL("u:alice", 1000, 1000), LOCKED("u:alice", 2000, 0),
	    SUCCESS("u:alice"), FAIL("u:alice", 3000, 1000) } },
	{ "success of an unknown key is harmless", 1, 1000, 1000, 5000,
	    { SUCCESS("u:nobody"), LOCKED("u:nobody", 1000, 0),
	    FAIL("u:nobody", 1000, 1000) } },
	{ "different keys are independent", 2, 1000, 5000, 60000,
	    { FAIL("u:alice", 1000, 0), FAIL("u:bob", 1001, 0),
	    FAIL("a:" ADDR, 1002, 0), FAIL("u:alice", 1003, 5000),
	    LOCKED("u:bob", 1003, 0), LOCKED("a:" ADDR, 1003, 0),
	    LOCKED("u:alic", 1003, 0), LOCKED("u:alice ", 1003, 0),
	    LOCKED("a:alice", 1003, 0), FAIL("u:bob", 1004, 5000),
	    SUCCESS("u:bob"), LOCKED("u:alice", 1004, 4999) } },
	{ "an unknown key is not locked", 5, 60000, 60000, 3600000,
	    { LOCKED("u:nobody", 0, 0), LOCKED("u:nobody", UINT64_MAX / 2,
	    0) } },
};

START_TEST(guard_steps)
{
	const struct gcase	*c = &gcases[_i];
	const struct gstep	*s;
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct policy_lockout	 l = { 0, 0, 0, 0, 0, 0, 0 };
	uint64_t		 got;
	unsigned		 i;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	l.failures = c->failures;
	l.window_ms = c->window;
	l.duration_ms = c->duration;
	l.max_ms = c->max;
	for (i = 0; i < NELEM(c->steps) && c->steps[i].op != G_END; i++) {
		s = &c->steps[i];
		switch (s->op) {
		case G_FAIL:
			got = auth_guard_fail(g, s->key, strlen(s->key), s->t,
			    &l);
			ck_assert_msg(got == s->want, "%s: step %u: failure of "
			    "%s at %" PRIu64 " locks for %" PRIu64 ", want %"
			    PRIu64, c->name, i, s->key, s->t, got, s->want);
			break;
		case G_LOCKED:
			got = auth_guard_locked(g, s->key, strlen(s->key),
			    s->t);
			ck_assert_msg(got == s->want, "%s: step %u: %s at %"
			    PRIu64 " locked for %" PRIu64 ", want %" PRIu64,
			    c->name, i, s->key, s->t, got, s->want);
			break;
		case G_SUCCESS:
			auth_guard_success(g, s->key, strlen(s->key));
			break;
		case G_END:
			break;
		}
	}
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* Fills the table with <n> fresh keys "u:f<i>", one failure each. */
static void
guard_fill(struct auth_guard *g, unsigned from, unsigned n,
    const struct policy_lockout *l)
{
	char		key[32];
	unsigned	i;

	for (i = from; i < from + n; i++) {
		snprintf(key, sizeof(key), "u:f%u", i);
		ck_assert_uint_eq(auth_guard_fail(g, key, strlen(key), 1000, l),
		    0);
	}
}

/* A lockout of <failures> in a minute, a minute long. */
#define LK2	{ 2, 60000, 60000, 3600000, 0, 0, 0 }

/*
 * AUTH_GUARD_ENTRIES keys are kept; one more evicts the least recently
 * used: its failures are forgotten (two more are needed to lock it), while
 * the keys used after it are remembered (one more locks them).
 */
START_TEST(guard_lru_forgets_oldest)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct policy_lockout	 l = LK2;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(gfail(g, "u:old", 1000, &l), 0);
	guard_fill(g, 0, AUTH_GUARD_ENTRIES - 1, &l);
	/* Full: "u:old" is the oldest; one more key evicts it. */
	ck_assert_uint_eq(gfail(g, "u:new", 1000, &l), 0);
	ck_assert_uint_eq(gfail(g, "u:old", 1001, &l), 0);
	/* It came back evicting "f:0"; "u:f1" is still remembered. */
	ck_assert_uint_eq(gfail(g, "u:f1", 1001, &l),
	    l.duration_ms);
	ck_assert_uint_eq(gfail(g, "u:new", 1001, &l),
	    l.duration_ms);
	ck_assert_uint_eq(gfail(g, "u:old", 1002, &l),
	    l.duration_ms);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* Looking a key up (auth_guard_locked) makes it recent: it is kept. */
START_TEST(guard_lru_keeps_recent)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct policy_lockout	 l = LK2;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(gfail(g, "u:old", 1000, &l), 0);
	guard_fill(g, 0, AUTH_GUARD_ENTRIES - 1, &l);
	ck_assert_uint_eq(glocked(g, "u:old", 1000), 0);
	/* One more key evicts "f:0", the oldest now. */
	guard_fill(g, AUTH_GUARD_ENTRIES - 1, 1, &l);
	ck_assert_uint_eq(gfail(g, "u:old", 1001, &l),
	    l.duration_ms);
	ck_assert_uint_eq(gfail(g, "u:f1", 1001, &l),
	    l.duration_ms);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* At most <max> password checks pending per source address. */
START_TEST(guard_pending_per_address)
{
	struct auth_guard	*g = auth_guard_new();
	unsigned		 i;

	ck_assert_ptr_nonnull(g);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(auth_guard_pending(g, ADDR, 3), 0);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 3), -1);
	/* Another address has its own count. */
	ck_assert_int_eq(auth_guard_pending(g, "192.0.2.8", 3), 0);
	auth_guard_pending_done(g, ADDR);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 3), 0);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 3), -1);
	for (i = 0; i < 3; i++)
		auth_guard_pending_done(g, ADDR);
	/* More "done" than pending is harmless. */
	auth_guard_pending_done(g, ADDR);
	auth_guard_pending_done(g, "192.0.2.9");
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(auth_guard_pending(g, ADDR, 3), 0);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 3), -1);
	/* Pending checks are not failures: nothing is locked. */
	ck_assert_uint_eq(glocked(g, "a:" ADDR, 1000), 0);
	auth_guard_free(g);
}
END_TEST

/*
 * Pending counts have their own table, which the lockout scopes cannot
 * fill; and a full one evicts no address with a check pending: a new
 * address is refused (never guessed) until one finishes.
 */
START_TEST(guard_pending_kept_when_full)
{
	struct auth_guard	*g = auth_guard_new();
	struct policy_lockout	 l = LK2;
	char			 addr[32];
	unsigned		 i;

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 1), 0);
	guard_fill(g, 0, AUTH_GUARD_ENTRIES, &l);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 1), -1);
	auth_guard_pending_done(g, ADDR);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 1), 0);
	for (i = 1; i < AUTH_GUARD_ENTRIES; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 0xff, i & 0xff);
		ck_assert_int_eq(auth_guard_pending(g, addr, 1), 0);
	}
	ck_assert_uint_eq(auth_guard_size(g, 'q'), AUTH_GUARD_ENTRIES);
	ck_assert_int_eq(auth_guard_pending(g, "192.0.2.200", 1), -1);
	ck_assert_int_eq(auth_guard_pending(g, ADDR, 1), -1);	/* exact */
	auth_guard_pending_done(g, "10.0.0.1");
	ck_assert_int_eq(auth_guard_pending(g, "192.0.2.200", 1), 0);
	auth_guard_free(g);
}
END_TEST

/* ---- the three scopes, known devices, the tarpit -------------------- */

#define ADDR_B		"192.0.2.8"

/* The pair of <id> at <addr>, the identity <id>, the address <addr>. */
static uint64_t
locked_scope(struct auth_guard *g, enum auth_scope s, const char *id,
    const char *addr, uint64_t now)
{
	char	key[AUTH_KEY_MAX];
	size_t	len = auth_key(key, s, id, addr);

	return auth_guard_locked(g, key, len, now);
}

/* A guess (a wrong password) of <id> from <addr> at <now>, into <lk>. */
static void
guess(struct auth_guard *g, const struct policy_auth *a, const char *id,
    const char *addr, bool known, uint64_t now, struct auth_lockouts *lk)
{
	ck_assert(auth_refused(g, a, addr, id, known, AUTH_FAIL_BAD_PASSWORD,
	    now, lk));
}

/*
 * README: only a wrong password or an unknown user is a guess; every
 * other refusal (no credentials, a bad client id, a certificate missing,
 * busy, already locked...) counts in no scope, however often.
 */
START_TEST(refused_counts_only_guesses)
{
	enum auth_result	 r = (enum auth_result)_i;
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct auth_lockouts	 lk;
	unsigned		 i, s;
	bool			 guessed = r == AUTH_FAIL_BAD_PASSWORD ||
				    r == AUTH_FAIL_UNKNOWN_USER;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	pol->auth.lock_pair.failures = 1;
	pol->auth.lock_identity.failures = 1;
	pol->auth.lock_address.failures = 1;
	pol->auth.lock_address.tarpit_after = 1;
	ck_assert(auth_guess(r) == guessed);
	for (i = 0; i < 20; i++) {
		ck_assert(auth_refused(g, &pol->auth, ADDR, "alice", false, r,
		    T0 + i, &lk) == guessed);
		if (!guessed)
			for (s = 0; s < AUTH_SCOPE__MAX; s++)
				ck_assert_uint_eq(lk.ms[s], 0);
	}
	for (s = 0; s < AUTH_SCOPE__MAX; s++)
		ck_assert_msg((locked_scope(g, s, "alice", ADDR, T0 + 20) > 0) ==
		    guessed, "%s: scope %s", auth_result_str(r),
		    auth_scope_name(s));
	/* Without an identity nothing can be counted. */
	ck_assert(!auth_refused(g, &pol->auth, ADDR_B, "", false,
	    AUTH_FAIL_BAD_PASSWORD, T0, &lk));
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_ADDRESS, "", ADDR_B, T0),
	    0);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/*
 * The defaults: five wrong passwords for alice from one address lock that
 * pair for five minutes, nothing else: not alice from another address,
 * not bob from this one, not the address, not the identity.
 */
START_TEST(pair_locks_alone)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct auth_lockouts	 lk;
	unsigned		 i;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	for (i = 0; i < 4; i++) {
		guess(g, &pol->auth, "alice", ADDR, false, T0 + i, &lk);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_PAIR], 0);
	}
	guess(g, &pol->auth, "alice", ADDR, false, T0 + 4, &lk);
	ck_assert_uint_eq(lk.ms[AUTH_SCOPE_PAIR], 300000);
	ck_assert_uint_eq(lk.failures[AUTH_SCOPE_PAIR], 5);
	ck_assert_uint_eq(lk.ms[AUTH_SCOPE_IDENTITY], 0);
	ck_assert_uint_eq(lk.ms[AUTH_SCOPE_ADDRESS], 0);
	ck_assert_uint_eq(lk.distinct, 1);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_PAIR, "alice", ADDR,
	    T0 + 4), 300000);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_PAIR, "alice", ADDR_B,
	    T0 + 4), 0);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_PAIR, "bob", ADDR,
	    T0 + 4), 0);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_IDENTITY, "alice", NULL,
	    T0 + 4), 0);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_ADDRESS, NULL, ADDR,
	    T0 + 4), 0);
	/* One identity guessed is no spraying: no tarpit. */
	ck_assert_uint_eq(auth_guard_tarpit(g, ADDR, T0 + 4,
	    &pol->auth.lock_address, pol->auth.tarpit_ms), 0);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* A success clears the pair's count; the identity's count stands. */
START_TEST(success_clears_pair)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct auth_lockouts	 lk;
	unsigned		 i;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	pol->auth.lock_identity.failures = 9;
	for (i = 0; i < 4; i++)
		guess(g, &pol->auth, "alice", ADDR, false, T0 + i, &lk);
	auth_accepted(g, &pol->auth, "alice", ADDR, T0 + 4);
	for (i = 0; i < 4; i++) {
		guess(g, &pol->auth, "alice", ADDR_B, false, T0 + 5 + i, &lk);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_PAIR], 0);
	}
	/* ADDR's pair starts from zero; the identity has 8 of 9 now. */
	guess(g, &pol->auth, "alice", "192.0.2.9", false, T0 + 9, &lk);
	ck_assert_uint_eq(lk.ms[AUTH_SCOPE_IDENTITY],
	    pol->auth.lock_identity.duration_ms);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_PAIR, "alice", ADDR,
	    T0 + 9), 0);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/*
 * A known device's pair locks only at known_device_failures; a login
 * makes the pair known for known_device, and no longer.
 */
START_TEST(known_device)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct auth_lockouts	 lk;
	uint64_t		 ttl;
	unsigned		 i;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	ttl = pol->auth.known_device_ms;
	ck_assert(!auth_guard_known(g, "alice", ADDR, T0, ttl));
	auth_accepted(g, &pol->auth, "alice", ADDR, T0);
	ck_assert(auth_guard_known(g, "alice", ADDR, T0, ttl));
	ck_assert(auth_guard_known(g, "alice", ADDR, T0 + ttl - 1, ttl));
	ck_assert(!auth_guard_known(g, "alice", ADDR_B, T0, ttl));
	ck_assert(!auth_guard_known(g, "bob", ADDR, T0, ttl));
	ck_assert(!auth_guard_known(g, "alice", ADDR, T0, 0));
	/* The address alone, whoever logged in there (handshake budget). */
	ck_assert(auth_guard_known(g, NULL, ADDR, T0 + ttl - 1, ttl));
	ck_assert(!auth_guard_known(g, NULL, ADDR_B, T0, ttl));
	ck_assert(!auth_guard_known(g, NULL, ADDR, T0 + ttl, ttl));
	for (i = 0; i + 1 < pol->auth.lock_pair.known_failures; i++) {
		guess(g, &pol->auth, "alice", ADDR, true, T0 + i, &lk);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_PAIR], 0);
	}
	guess(g, &pol->auth, "alice", ADDR, true, T0 + i, &lk);
	ck_assert_uint_eq(lk.ms[AUTH_SCOPE_PAIR],
	    pol->auth.lock_pair.duration_ms);
	ck_assert_uint_eq(lk.failures[AUTH_SCOPE_PAIR],
	    pol->auth.lock_pair.known_failures);
	/* The identity's own count locked it for everyone else meanwhile. */
	ck_assert_uint_gt(locked_scope(g, AUTH_SCOPE_IDENTITY, "alice", NULL,
	    T0 + i), 0);
	/* Expired: forgotten. */
	ck_assert(!auth_guard_known(g, "alice", ADDR, T0 + ttl, ttl));
	ck_assert(!auth_guard_known(g, "alice", ADDR, T0, ttl));
	/* known_device 0: a login records nothing. */
	pol->auth.known_device_ms = 0;
	auth_accepted(g, &pol->auth, "bob", ADDR, T0);
	ck_assert(!auth_guard_known(g, "bob", ADDR, T0, ttl));
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* One identity guessed from many addresses locks the identity. */
START_TEST(identity_from_many_addresses)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct auth_lockouts	 lk;
	char			 addr[32];
	unsigned		 i, n;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	n = pol->auth.lock_identity.failures;
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%u", i + 1);
		guess(g, &pol->auth, "alice", addr, false, T0 + i, &lk);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_PAIR], 0);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_ADDRESS], 0);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_IDENTITY], i + 1 < n ? 0 :
		    pol->auth.lock_identity.duration_ms);
	}
	ck_assert_uint_gt(locked_scope(g, AUTH_SCOPE_IDENTITY, "alice", NULL,
	    T0 + n), 0);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_IDENTITY, "bob", NULL,
	    T0 + n), 0);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/*
 * Spraying: distinct identities guessed from one address.  From
 * tarpit_after of them the tarpit doubles with each new one, up to
 * tarpit_max; a repeated identity adds nothing; at `identities` the
 * address is blocked, and the count starts afresh.
 */
START_TEST(address_spray)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	const struct policy_lockout *l;
	struct auth_lockouts	 lk;
	char			 id[16];
	uint64_t		 tp, want;
	unsigned		 i;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	l = &pol->auth.lock_address;	/* 5 to slow, 20 to block */
	for (i = 0; i < l->failures; i++) {
		snprintf(id, sizeof(id), "id%u", i);
		guess(g, &pol->auth, id, ADDR, false, T0 + i, &lk);
		ck_assert_uint_eq(lk.distinct, i + 1 < l->failures ? i + 1 :
		    l->failures);
		/* The same identity again is not another one. */
		guess(g, &pol->auth, id, ADDR, false, T0 + i, &lk);
		ck_assert_uint_eq(lk.ms[AUTH_SCOPE_ADDRESS], 0);
		if (i + 1 == l->failures)
			break;
		ck_assert_uint_eq(lk.distinct, i + 1);
		tp = auth_guard_tarpit(g, ADDR, T0 + i, l, 1000);
		want = i + 1 < l->tarpit_after ? 0 :
		    1000ULL << (i + 2 - l->tarpit_after);
		if (want > l->tarpit_max_ms)
			want = l->tarpit_max_ms;
		ck_assert_msg(tp == want, "%u identities: tarpit %" PRIu64
		    ", want %" PRIu64, i + 1, tp, want);
		ck_assert_uint_eq(auth_guard_tarpit(g, ADDR_B, T0 + i, l,
		    1000), 0);
	}
	/* The block spent the count: the second try is the first again. */
	ck_assert_uint_eq(lk.distinct, 1);
	ck_assert_uint_eq(locked_scope(g, AUTH_SCOPE_ADDRESS, NULL, ADDR,
	    T0 + i), l->duration_ms);
	ck_assert_uint_eq(auth_guard_tarpit(g, ADDR, T0 + i, l, 1000), 0);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* Only identities guessed within the window count. */
START_TEST(address_spray_window)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct policy_lockout	 l;
	unsigned		 distinct;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	l = pol->auth.lock_address;
	l.failures = 3;
	l.tarpit_after = 2;
	l.window_ms = 1000;
	ck_assert_uint_eq(auth_guard_spray(g, ADDR, "a", 1000, &l, &distinct),
	    0);
	ck_assert_uint_eq(auth_guard_spray(g, ADDR, "b", 1500, &l, &distinct),
	    0);
	ck_assert_uint_eq(distinct, 2);
	ck_assert_uint_gt(auth_guard_tarpit(g, ADDR, 1500, &l, 100), 0);
	/* "a" is out of the window: two, not three. */
	ck_assert_uint_eq(auth_guard_spray(g, ADDR, "c", 2001, &l, &distinct),
	    0);
	ck_assert_uint_eq(distinct, 2);
	ck_assert_uint_eq(auth_guard_tarpit(g, ADDR, 2600, &l, 100), 0);
	/* "a" again, within the window of "c": three, blocked. */
	ck_assert_uint_eq(auth_guard_spray(g, ADDR, "b", 2400, &l, &distinct),
	    0);
	ck_assert_uint_eq(auth_guard_spray(g, ADDR, "a", 2500, &l, &distinct),
	    l.duration_ms);
	ck_assert_uint_eq(distinct, 3);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/*
 * Bounds: a scope's table holds AUTH_GUARD_ENTRIES keys; when all of them
 * are running lockouts a new failure is not recorded and says so (never
 * evicting a lockout); the known devices and the cache stay bounded.
 */
START_TEST(tables_bounded)
{
	struct policy		*pol = policy_new();
	struct auth_guard	*g = auth_guard_new();
	struct policy_lockout	 l = { 1, 60000, 60000, 60000, 0, 0, 0 };
	struct auth_lockouts	 lk;
	struct auth_tag		 t;
	char			 key[32];
	unsigned		 i;

	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(g);
	for (i = 0; i < AUTH_GUARD_ENTRIES; i++) {
		snprintf(key, sizeof(key), "u:f%u", i);
		ck_assert_uint_eq(gfail(g, key, 1000, &l), 60000);
	}
	ck_assert_uint_eq(gfail(g, "u:new", 1000, &l), UINT64_MAX);
	ck_assert_uint_eq(auth_guard_size(g, 'u'), AUTH_GUARD_ENTRIES);
	ck_assert_uint_eq(glocked(g, "u:f0", 1000), 60000);
	pol->auth.lock_identity = l;
	pol->auth.lock_pair.failures = 0;
	pol->auth.lock_address.failures = 0;
	pol->auth.lock_address.tarpit_after = 0;
	ck_assert(auth_refused(g, &pol->auth, ADDR, "new", false,
	    AUTH_FAIL_UNKNOWN_USER, 1000, &lk));
	ck_assert(lk.full);
	/* Once the lockouts are over, their entries make room. */
	ck_assert_uint_eq(gfail(g, "u:new", 61000, &l), 60000);
	ck_assert_uint_eq(auth_guard_size(g, 'u'), AUTH_GUARD_ENTRIES);

	for (i = 0; i < AUTH_KNOWN_ENTRIES + 10; i++) {
		snprintf(key, sizeof(key), "id%u", i);
		auth_guard_known_add(g, key, ADDR, 1000);
	}
	ck_assert_uint_eq(auth_guard_size(g, 'k'), AUTH_KNOWN_ENTRIES);
	ck_assert(auth_guard_known(g, key, ADDR, 1000, 5000));
	memset(&t, 0, sizeof(t));
	for (i = 0; i < AUTH_CACHE_ENTRIES + 10; i++) {
		snprintf(key, sizeof(key), "id%u", i);
		auth_cache_put(g, key, &t, 1000);
	}
	ck_assert_uint_eq(auth_guard_size(g, 'c'), AUTH_CACHE_ENTRIES);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/* ---- the cache of verified credentials ------------------------------ */

static struct auth_tag
tag_of(struct auth_guard *g, const struct policy *pol, const char *id,
    const char *pw, int want)
{
	struct auth_tag	t;

	ck_assert_int_eq(auth_cache_tag(g, pol, id, (const uint8_t *)pw,
	    strlen(pw), &t), want);
	return t;
}

/*
 * A stored success serves the same password until cache_ttl; a wrong
 * password, another identity, a changed entry or a reload do not hit.
 */
START_TEST(cache_hit_miss_ttl)
{
	struct policy		*pol = precheck_policy(0);
	struct auth_guard	*g = auth_guard_new();
	struct auth_tag		 t, bad;
	uint64_t		 ttl = pol->auth.cache_ttl_ms;

	ck_assert_ptr_nonnull(g);
	t = tag_of(g, pol, "alice", "alice-pw", 0);
	ck_assert(!auth_cache_hit(g, pol, "alice", &t, T0));
	auth_cache_put(g, "alice", &t, T0);
	ck_assert(auth_cache_hit(g, pol, "alice", &t, T0));
	ck_assert(auth_cache_hit(g, pol, "alice", &t, T0 + ttl - 1));
	bad = tag_of(g, pol, "alice", "alice-pw ", 0);
	ck_assert(!auth_cache_hit(g, pol, "alice", &bad, T0));
	bad = tag_of(g, pol, "alice", "", 0);
	ck_assert(!auth_cache_hit(g, pol, "alice", &bad, T0));
	bad = tag_of(g, pol, "bob", "alice-pw", 0);
	ck_assert(!auth_cache_hit(g, pol, "bob", &bad, T0));
	ck_assert(!auth_cache_hit(g, pol, "bob", &t, T0));
	/* The same inputs give the same tag: the key is the process's. */
	bad = tag_of(g, pol, "alice", "alice-pw", 0);
	ck_assert_mem_eq(bad.mac, t.mac, AUTH_TAG_LEN);
	/* Expired, and dropped. */
	ck_assert(!auth_cache_hit(g, pol, "alice", &t, T0 + ttl));
	ck_assert(!auth_cache_hit(g, pol, "alice", &t, T0));
	/* No user, no tag; cache_ttl 0, no tag. */
	tag_of(g, pol, "mallory", "x", -1);
	pol->auth.cache_ttl_ms = 0;
	tag_of(g, pol, "alice", "alice-pw", -1);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

START_TEST(cache_entry_change)
{
	struct policy		*pol = precheck_policy(0);
	struct auth_guard	*g = auth_guard_new();
	struct passwd_db	*old;
	struct auth_tag		 t;
	char			 path[PATHLEN + 8], err[PASSWD_ERR_LEN] = "";

	ck_assert_ptr_nonnull(g);
	t = tag_of(g, pol, "alice", "alice-pw", 0);
	auth_cache_put(g, "alice", &t, T0);
	ck_assert(auth_cache_hit(g, pol, "alice", &t, T0));
	/* The same password hashed again: another salt, another entry. */
	snprintf(path, sizeof(path), "%s/passwd2", tmpdir);
	unlink(path);
	ck_assert_msg(passwd_file_set(path, "alice",
	    (const uint8_t *)"alice-pw", 8, 1000, true, err,
	    sizeof(err)) == 0, "%s", err);
	old = pol->auth.passwd;
	pol->auth.passwd = passwd_load(path, err, sizeof(err));
	ck_assert_msg(pol->auth.passwd != NULL, "%s", err);
	t = tag_of(g, pol, "alice", "alice-pw", 0);
	ck_assert(!auth_cache_hit(g, pol, "alice", &t, T0));
	passwd_free(pol->auth.passwd);
	pol->auth.passwd = old;
	unlink(path);
	auth_guard_free(g);
	policy_unref(pol);
}
END_TEST

/*
 * A newer policy (a reload) empties the cache and draws a new key; a
 * check that finishes under the older one afterwards stores nothing.
 */
START_TEST(cache_reload)
{
	struct policy		*pol = precheck_policy(0), *pol2;
	struct auth_guard	*g = auth_guard_new();
	struct auth_tag		 t, t2;

	ck_assert_ptr_nonnull(g);
	t = tag_of(g, pol, "alice", "alice-pw", 0);
	auth_cache_put(g, "alice", &t, T0);
	ck_assert(auth_cache_hit(g, pol, "alice", &t, T0));
	pol2 = precheck_policy(0);
	ck_assert_uint_gt(pol2->serial, pol->serial);
	t2 = tag_of(g, pol2, "alice", "alice-pw", 0);
	ck_assert_mem_ne(t2.mac, t.mac, AUTH_TAG_LEN);
	ck_assert(!auth_cache_hit(g, pol2, "alice", &t2, T0));
	ck_assert_uint_eq(auth_guard_size(g, 'c'), 0);
	/* Under the old policy: no tag, nothing stored, nothing served. */
	tag_of(g, pol, "alice", "alice-pw", -1);
	auth_cache_put(g, "alice", &t, T0);
	ck_assert_uint_eq(auth_guard_size(g, 'c'), 0);
	ck_assert(!auth_cache_hit(g, pol, "alice", &t, T0));
	auth_cache_put(g, "alice", &t2, T0);
	ck_assert(auth_cache_hit(g, pol2, "alice", &t2, T0));
	auth_guard_free(g);
	policy_unref(pol);
	policy_unref(pol2);
}
END_TEST

/* ---- the client-id registry ----------------------------------------- */

enum rop {
	R_END = 0,
	R_CLAIM,	/* auth_registry_claim() must return want */
	R_RELEASE	/* auth_registry_release() */
};

struct rstep {
	enum rop	 op;
	const char	*cid;
	const char	*who;
	bool		 persistent;
	int		 want;
};

#define CLAIM(c, w, p, r)	{ R_CLAIM, c, w, p, r }
#define RELEASE(c, p)		{ R_RELEASE, c, NULL, p, 0 }
#define LIVE			false
#define KEPT			true	/* a persistent session */

/* [MQTT-3.1.4-2]: a client id names one session; nobody else's takes it. */
static const struct rcase {
	const char	*name;
	struct rstep	 steps[12];
} rcases[] = {
	{ "a held client id is refused to another identity",
	    { CLAIM("c1", "alice", LIVE, 0), CLAIM("c1", "bob", LIVE, -1),
	    CLAIM("c1", "bob", KEPT, -1) } },
	{ "a released client id may be claimed by another identity",
	    { CLAIM("c1", "alice", LIVE, 0), RELEASE("c1", LIVE),
	    CLAIM("c1", "bob", LIVE, 0), CLAIM("c1", "alice", LIVE, -1) } },
	{ "a persistent session's owner is remembered after release",
	    { CLAIM("c1", "alice", KEPT, 0), RELEASE("c1", KEPT),
	    CLAIM("c1", "bob", LIVE, -1), CLAIM("c1", "bob", KEPT, -1),
	    CLAIM("c1", "alice", LIVE, 0) } },
	{ "a clean start by the owner ends the persistent ownership",
	    { CLAIM("c1", "alice", KEPT, 0), RELEASE("c1", KEPT),
	    CLAIM("c1", "alice", LIVE, 0), RELEASE("c1", LIVE),
	    CLAIM("c1", "bob", LIVE, 0) } },
	{ "the same identity may hold its client id twice",
	    { CLAIM("c1", "alice", LIVE, 0), CLAIM("c1", "alice", LIVE, 0),
	    CLAIM("c1", "bob", LIVE, -1) } },
	{ "a release with two holders keeps the client id",
	    { CLAIM("c1", "alice", LIVE, 0), CLAIM("c1", "alice", LIVE, 0),
	    RELEASE("c1", LIVE), CLAIM("c1", "bob", LIVE, -1),
	    RELEASE("c1", LIVE), CLAIM("c1", "bob", LIVE, 0) } },
	{ "persistence set by a second holder outlives both",
	    { CLAIM("c1", "alice", LIVE, 0), CLAIM("c1", "alice", KEPT, 0),
	    RELEASE("c1", KEPT), RELEASE("c1", KEPT),
	    CLAIM("c1", "bob", LIVE, -1) } },
	{ "client ids are independent",
	    { CLAIM("c1", "alice", LIVE, 0), CLAIM("c2", "bob", LIVE, 0),
	    CLAIM("c2", "alice", LIVE, -1), CLAIM("c", "bob", LIVE, 0),
	    CLAIM("c12", "bob", LIVE, 0) } },
	{ "identities are compared whole",
	    { CLAIM("c1", "alice", LIVE, 0), CLAIM("c1", "alice2", LIVE, -1),
	    CLAIM("c1", "alic", LIVE, -1), CLAIM("c1", "Alice", LIVE, -1) } },
	{ "releasing an unknown client id is harmless",
	    { RELEASE("c9", LIVE), RELEASE("c9", KEPT),
	    CLAIM("c9", "alice", LIVE, 0), CLAIM("c9", "bob", LIVE, -1) } },
	{ "extra releases are harmless",
	    { CLAIM("c1", "alice", LIVE, 0), RELEASE("c1", LIVE),
	    RELEASE("c1", LIVE), CLAIM("c1", "bob", LIVE, 0),
	    CLAIM("c1", "alice", LIVE, -1) } },
};

START_TEST(registry_steps)
{
	const struct rcase	*c = &rcases[_i];
	const struct rstep	*s;
	struct auth_guard	*g = auth_guard_new();
	uint8_t			*cid;
	size_t			 len;
	unsigned		 i;
	int			 rc;

	ck_assert_ptr_nonnull(g);
	for (i = 0; i < NELEM(c->steps) && c->steps[i].op != R_END; i++) {
		s = &c->steps[i];
		len = strlen(s->cid);
		cid = tu_dup_exact(s->cid, len);
		if (s->op == R_CLAIM) {
			rc = auth_registry_claim(g, cid, len, s->who,
			    s->persistent);
			ck_assert_msg(rc == s->want, "%s: step %u: claim of %s "
			    "by %s: %d, want %d", c->name, i, s->cid, s->who,
			    rc, s->want);
		} else
			auth_registry_release(g, cid, len, s->persistent);
		free(cid);
	}
	auth_guard_free(g);
}
END_TEST

/*
 * The registry is bounded, but a client id a session holds is never
 * evicted: after AUTH_REGISTRY_ENTRIES persistent ids, the held one still
 * refuses another identity, and the oldest unheld one is forgotten.
 */
START_TEST(registry_lru_keeps_held)
{
	struct auth_guard	*g = auth_guard_new();
	char			 cid[32];
	unsigned		 i;

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(auth_registry_claim(g, (const uint8_t *)"held", 4,
	    "alice", true), 0);
	for (i = 0; i < AUTH_REGISTRY_ENTRIES; i++) {
		snprintf(cid, sizeof(cid), "p%u", i);
		ck_assert_int_eq(auth_registry_claim(g, (const uint8_t *)cid,
		    strlen(cid), "carol", true), 0);
		auth_registry_release(g, (const uint8_t *)cid, strlen(cid),
		    true);
	}
	ck_assert_int_eq(auth_registry_claim(g, (const uint8_t *)"held", 4,
	    "bob", false), -1);
	/* "p0" was the oldest not held: forgotten, so bob may take it. */
	ck_assert_int_eq(auth_registry_claim(g, (const uint8_t *)"p0", 2,
	    "bob", false), 0);
	/* The most recent is remembered. */
	snprintf(cid, sizeof(cid), "p%u", AUTH_REGISTRY_ENTRIES - 1);
	ck_assert_int_eq(auth_registry_claim(g, (const uint8_t *)cid,
	    strlen(cid), "bob", false), -1);
	auth_guard_free(g);
}
END_TEST

/* ---- reason codes and texts ----------------------------------------- */

static const uint8_t reasons[AUTH_RESULT__MAX] = {
	[AUTH_OK] = 0x00,
	[AUTH_FAIL_NO_CREDENTIALS] = 0x87,	/* Not authorized */
	[AUTH_FAIL_UNKNOWN_USER] = 0x86,	/* Bad User Name or Password */
	[AUTH_FAIL_BAD_PASSWORD] = 0x86,
	[AUTH_FAIL_LOCKED] = 0x8A,		/* Banned */
	[AUTH_FAIL_CERT_MISSING] = 0x87,
	[AUTH_FAIL_CERT_UNMAPPED] = 0x87,
	[AUTH_FAIL_CERT_MISMATCH] = 0x86,
	[AUTH_FAIL_BAD_USERNAME] = 0x86,
	[AUTH_FAIL_BAD_CLIENT_ID] = 0x85,	/* Client Id not valid */
	[AUTH_FAIL_CLIENT_ID_TAKEN] = 0x85,
	[AUTH_FAIL_AUTH_METHOD] = 0x8C,		/* Bad authentication method */
	[AUTH_FAIL_BUSY] = 0x89,		/* Server busy */
	[AUTH_FAIL_ERROR] = 0x80,		/* Unspecified error */
};

/* 5.0 §3.2.2.2: the CONNACK reason code of every verdict, and its text. */
START_TEST(reason_codes)
{
	enum auth_result	 r = (enum auth_result)_i;
	const char		*text = auth_result_str(r);
	int			 j;

	ck_assert_msg(auth_reason(r) == reasons[r], "result %d: reason "
	    "0x%02x, want 0x%02x", _i, auth_reason(r), reasons[r]);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(text[0] != '\0' && strcmp(text, "unknown") != 0,
	    "result %d has no text", _i);
	/* The audit log tells every verdict apart. */
	for (j = 0; j < AUTH_RESULT__MAX; j++)
		ck_assert_msg(j == _i ||
		    strcmp(text, auth_result_str((enum auth_result)j)) != 0,
		    "results %d and %d share the text \"%s\"", _i, j, text);
}
END_TEST

START_TEST(reason_out_of_range)
{
	ck_assert_uint_eq(auth_reason(AUTH_RESULT__MAX), 0x80);
	ck_assert_uint_eq(auth_reason((enum auth_result)1000), 0x80);
	ck_assert_str_eq(auth_result_str(AUTH_RESULT__MAX), "unknown");
	ck_assert_str_eq(auth_result_str((enum auth_result)-1), "unknown");
}
END_TEST

/* ---- the password-checking pool ------------------------------------- */

/*
 * What the done callbacks saw.  One job may be "gated": its callback
 * blocks, holding the pool's only thread, until the test opens the gate,
 * so that the test knows exactly which jobs are queued.
 */
struct sync {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	unsigned	 ndone;
	unsigned	 order[16];	/* tags, in the order done was called */
	bool		 entered;	/* the gated job is in its callback */
	bool		 open;		/* the gate */
};

struct jrec {
	struct sync	*sy;
	unsigned	 tag;
	bool		 gated;
	unsigned	 calls;		/* done callbacks */
	bool		 wiped;		/* password zero when done ran */
};

static void
sync_init(struct sync *sy)
{
	memset(sy, 0, sizeof(*sy));
	ck_assert_int_eq(pthread_mutex_init(&sy->mtx, NULL), 0);
	ck_assert_int_eq(pthread_cond_init(&sy->cv, NULL), 0);
}

static void
sync_fini(struct sync *sy)
{
	pthread_cond_destroy(&sy->cv);
	pthread_mutex_destroy(&sy->mtx);
}

static void
deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += WAIT_S;
}

static bool
all_zero(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* On a pool thread: no assertions here, only records. */
static void
job_done(struct auth_job *job)
{
	struct jrec	*jr = job->arg;
	struct sync	*sy = jr->sy;
	struct timespec	 ts;

	pthread_mutex_lock(&sy->mtx);
	jr->calls++;
	jr->wiped = all_zero(job->pw, job->pw_len);
	if (sy->ndone < NELEM(sy->order))
		sy->order[sy->ndone] = jr->tag;
	sy->ndone++;
	if (jr->gated) {
		sy->entered = true;
		pthread_cond_broadcast(&sy->cv);
		deadline(&ts);
		while (!sy->open && pthread_cond_timedwait(&sy->cv, &sy->mtx,
		    &ts) != ETIMEDOUT)
			;
	}
	pthread_cond_broadcast(&sy->cv);
	pthread_mutex_unlock(&sy->mtx);
}

/*
 * Waits, at most WAIT_S seconds, until <n> callbacks have run and, with
 * <entered>, the gated one is in its callback.  False on a timeout.
 */
static bool
wait_for(struct sync *sy, unsigned n, bool entered)
{
	struct timespec	ts;
	bool		ok;

	deadline(&ts);
	pthread_mutex_lock(&sy->mtx);
	while (!(ok = sy->ndone >= n && (!entered || sy->entered)))
		if (pthread_cond_timedwait(&sy->cv, &sy->mtx, &ts) ==
		    ETIMEDOUT) {
			ok = sy->ndone >= n && (!entered || sy->entered);
			break;
		}
	pthread_mutex_unlock(&sy->mtx);
	return ok;
}

static void
gate_open(struct sync *sy)
{
	pthread_mutex_lock(&sy->mtx);
	sy->open = true;
	pthread_cond_broadcast(&sy->cv);
	pthread_mutex_unlock(&sy->mtx);
}

/* A job for <user>/<pw> from <addr>, both in exact-size allocations. */
static struct auth_job *
job_new(struct policy *pol, const char *user, const char *pw,
    const char *addr, struct jrec *jr)
{
	struct auth_job	*job = calloc(1, sizeof(*job));

	ck_assert_ptr_nonnull(job);
	job->user_len = strlen(user);
	job->user = (char *)tu_dup_exact(user, job->user_len);
	job->pw_len = strlen(pw);
	job->pw = tu_dup_exact(pw, job->pw_len);
	job->pol = policy_ref(pol);
	job->done = job_done;
	job->arg = jr;
	snprintf(job->addr, sizeof(job->addr), "%s", addr);
	return job;
}

/* A policy holding the test password file. */
static struct policy *
pool_policy(void)
{
	struct policy	*pol = policy_new();

	ck_assert_ptr_nonnull(pol);
	pol->auth.passwd = load_db();
	return pol;
}

static const struct vcase {
	const char		*name;
	const char		*user, *pw;
	enum passwd_result	 want;
} vcases[] = {
	{ "right password (mosquitto_passwd $7$)", "alice", "alice-pw",
	    PASSWD_OK },
	{ "right password with a space", "bob", "bob pw", PASSWD_OK },
	{ "right password (passwd_hash $7$)", "carol", "carol-pw",
	    PASSWD_OK },
	{ "wrong password", "alice", "alice-pW", PASSWD_BAD_PASSWORD },
	{ "password with a byte more", "alice", "alice-pw ",
	    PASSWD_BAD_PASSWORD },
	{ "empty password", "alice", "", PASSWD_BAD_PASSWORD },
	{ "another user's password", "bob", "alice-pw",
	    PASSWD_BAD_PASSWORD },
	{ "unknown user", "mallory", "alice-pw", PASSWD_UNKNOWN_USER },
	{ "user name is case-sensitive", "Alice", "alice-pw",
	    PASSWD_UNKNOWN_USER },
};

/* Each check runs on the pool and reports through done, exactly once. */
START_TEST(pool_verifies)
{
	const struct vcase	*c = &vcases[_i];
	struct policy		*pol = pool_policy();
	struct auth_pool	*p = auth_pool_new(2, 4);
	struct auth_job		*job;
	struct sync		 sy;
	struct jrec		 jr = { &sy, 0, false, 0, false };

	ck_assert_ptr_nonnull(p);
	sync_init(&sy);
	job = job_new(pol, c->user, c->pw, ADDR, &jr);
	ck_assert_int_eq(auth_pool_submit(p, job), 0);
	ck_assert_msg(wait_for(&sy, 1, false), "%s: no answer in %d s",
	    c->name, WAIT_S);
	auth_pool_free(p);
	ck_assert_msg(job->result == c->want, "%s: %s, want %s", c->name,
	    passwd_result_name(job->result), passwd_result_name(c->want));
	ck_assert(!job->cancelled);
	ck_assert_uint_eq(jr.calls, 1);
	ck_assert_msg(jr.wiped, "%s: password not wiped", c->name);
	auth_job_free(job);
	ck_assert_uint_eq(atomic_load(&pol->refs), 1);
	policy_unref(pol);
	sync_fini(&sy);
}
END_TEST

/* A job holds a reference on its policy until auth_job_free(). */
START_TEST(pool_job_holds_policy)
{
	struct policy		*pol = pool_policy();
	struct auth_pool	*p = auth_pool_new(1, 4);
	struct auth_job		*job[3];
	struct sync		 sy;
	struct jrec		 jr[3];
	unsigned		 i;

	ck_assert_ptr_nonnull(p);
	sync_init(&sy);
	for (i = 0; i < 3; i++) {
		jr[i] = (struct jrec){ &sy, i, false, 0, false };
		job[i] = job_new(pol, "alice", "alice-pw", ADDR, &jr[i]);
	}
	ck_assert_uint_eq(atomic_load(&pol->refs), 4);
	auth_job_free(job[2]);		/* never submitted */
	ck_assert_uint_eq(atomic_load(&pol->refs), 3);
	/* The session lets go (a reload): the jobs keep the db alive. */
	policy_unref(pol);
	ck_assert_int_eq(auth_pool_submit(p, job[0]), 0);
	ck_assert_int_eq(auth_pool_submit(p, job[1]), 0);
	ck_assert_msg(wait_for(&sy, 2, false), "no answer in %d s", WAIT_S);
	ck_assert_int_eq(job[0]->result, PASSWD_OK);
	ck_assert_int_eq(job[1]->result, PASSWD_OK);
	ck_assert_uint_eq(atomic_load(&pol->refs), 2);
	auth_job_free(job[0]);
	ck_assert_uint_eq(atomic_load(&pol->refs), 1);
	auth_job_free(job[1]);		/* the last reference: ASan sees it */
	auth_job_free(NULL);
	auth_pool_free(p);
	auth_pool_free(NULL);
	sync_fini(&sy);
}
END_TEST

/*
 * One thread, a queue of one: while the thread is busy (the gated job)
 * one job waits and the next is refused, staying the caller's; once the
 * queue drains it is accepted.
 */
START_TEST(pool_queue_full)
{
	struct policy		*pol = pool_policy();
	struct auth_pool	*p = auth_pool_new(1, 1);
	struct auth_job		*job[3];
	struct sync		 sy;
	struct jrec		 jr[3];
	unsigned		 i;

	ck_assert_ptr_nonnull(p);
	sync_init(&sy);
	for (i = 0; i < 3; i++)
		jr[i] = (struct jrec){ &sy, i, i == 0, 0, false };
	job[0] = job_new(pol, "alice", "alice-pw", ADDR, &jr[0]);
	job[1] = job_new(pol, "bob", "bob pw", ADDR, &jr[1]);
	job[2] = job_new(pol, "alice", "wrong", ADDR, &jr[2]);

	ck_assert_int_eq(auth_pool_submit(p, job[0]), 0);
	ck_assert_msg(wait_for(&sy, 1, true), "the gated job never ran");
	ck_assert_int_eq(auth_pool_submit(p, job[1]), 0);
	ck_assert_int_eq(auth_pool_submit(p, job[2]), -1);
	gate_open(&sy);
	ck_assert_msg(wait_for(&sy, 2, false), "no answer in %d s", WAIT_S);
	ck_assert_int_eq(job[0]->result, PASSWD_OK);
	ck_assert_int_eq(job[1]->result, PASSWD_OK);
	ck_assert_uint_eq(jr[2].calls, 0);	/* refused: never called */

	ck_assert_int_eq(auth_pool_submit(p, job[2]), 0);
	ck_assert_msg(wait_for(&sy, 3, false), "no answer in %d s", WAIT_S);
	ck_assert_int_eq(job[2]->result, PASSWD_BAD_PASSWORD);
	auth_pool_free(p);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(jr[i].calls, 1);
		ck_assert(!job[i]->cancelled);
		auth_job_free(job[i]);
	}
	ck_assert_uint_eq(atomic_load(&pol->refs), 1);
	policy_unref(pol);
	sync_fini(&sy);
}
END_TEST

/* A pool with no threads would accept jobs and never answer. */
START_TEST(pool_needs_threads)
{
	ck_assert_ptr_null(auth_pool_new(0, 4));
}
END_TEST

static void *
pool_free_main(void *arg)
{
	auth_pool_free(arg);
	return NULL;
}

#define PROBES_MAX	(WAIT_S * 1000)

/*
 * auth_pool_free() while a check runs and others wait: the running one
 * completes, every queued one is completed as cancelled (done called
 * exactly once, password wiped), and submissions are refused once it has
 * begun.  The test learns that it has begun from the refusal itself: the
 * queue is far larger than the probes submitted, so -1 can only mean
 * "stopping"; then it opens the gate.
 */
START_TEST(pool_free_cancels_queued)
{
	struct policy		*pol = pool_policy();
	struct auth_pool	*p = auth_pool_new(1, 1u << 20);
	struct auth_job		**job;
	struct jrec		*jr;
	struct sync		 sy;
	struct timespec		 ts, nap = { 0, 1000000 };
	pthread_t		 t;
	unsigned		 i, n;

	ck_assert_ptr_nonnull(p);
	sync_init(&sy);
	job = calloc(PROBES_MAX + 2, sizeof(*job));
	jr = calloc(PROBES_MAX + 2, sizeof(*jr));
	ck_assert_ptr_nonnull(job);
	ck_assert_ptr_nonnull(jr);
	jr[0] = (struct jrec){ &sy, 0, true, 0, false };
	job[0] = job_new(pol, "alice", "alice-pw", ADDR, &jr[0]);
	ck_assert_int_eq(auth_pool_submit(p, job[0]), 0);
	ck_assert_msg(wait_for(&sy, 1, true), "the gated job never ran");
	jr[1] = (struct jrec){ &sy, 1, false, 0, false };
	job[1] = job_new(pol, "alice", "alice-pw", ADDR, &jr[1]);
	ck_assert_int_eq(auth_pool_submit(p, job[1]), 0);

	ck_assert_int_eq(pthread_create(&t, NULL, pool_free_main, p), 0);
	for (n = 2; n < PROBES_MAX + 2; n++) {
		jr[n] = (struct jrec){ &sy, n, false, 0, false };
		job[n] = job_new(pol, "bob", "bob pw", ADDR, &jr[n]);
		if (auth_pool_submit(p, job[n]) == -1)
			break;
		nanosleep(&nap, NULL);
	}
	ck_assert_msg(n < PROBES_MAX + 2, "auth_pool_free() never stopped "
	    "accepting jobs");
	gate_open(&sy);
	deadline(&ts);
	ck_assert_msg(pthread_timedjoin_np(t, NULL, &ts) == 0,
	    "auth_pool_free() did not return in %d s", WAIT_S);

	ck_assert_uint_eq(jr[0].calls, 1);
	ck_assert(!job[0]->cancelled);
	ck_assert_int_eq(job[0]->result, PASSWD_OK);
	for (i = 1; i < n; i++) {
		ck_assert_msg(jr[i].calls == 1, "queued job %u: done called "
		    "%u times", i, jr[i].calls);
		ck_assert_msg(job[i]->cancelled, "queued job %u was checked",
		    i);
		ck_assert_int_eq(job[i]->result, PASSWD_ERROR);
		ck_assert_msg(jr[i].wiped, "job %u: password not wiped", i);
	}
	ck_assert_msg(jr[n].calls == 0, "the refused job was called");
	ck_assert_uint_eq(sy.ndone, n);
	for (i = 0; i <= n; i++)
		auth_job_free(job[i]);
	ck_assert_uint_eq(atomic_load(&pol->refs), 1);
	policy_unref(pol);
	free(job);
	free(jr);
	sync_fini(&sy);
}
END_TEST

/*
 * The thread takes the oldest job from another address than the one it
 * served last: a flood from one address does not push another's check
 * behind all of its own.
 */
START_TEST(pool_serves_addresses_in_turn)
{
	static const char	*addr[] = { "192.0.2.1", "192.0.2.1",
	    "192.0.2.1", "192.0.2.2", "192.0.2.2", "192.0.2.3" };
	static const unsigned	 want[] = { 0, 3, 1, 4, 2, 5 };
	struct policy		*pol = pool_policy();
	struct auth_pool	*p = auth_pool_new(1, 8);
	struct auth_job		*job[NELEM(addr)];
	struct sync		 sy;
	struct jrec		 jr[NELEM(addr)];
	unsigned		 i;

	ck_assert_ptr_nonnull(p);
	sync_init(&sy);
	for (i = 0; i < NELEM(addr); i++) {
		jr[i] = (struct jrec){ &sy, i, i == 0, 0, false };
		job[i] = job_new(pol, "alice", "alice-pw", addr[i], &jr[i]);
	}
	ck_assert_int_eq(auth_pool_submit(p, job[0]), 0);
	ck_assert_msg(wait_for(&sy, 1, true), "the gated job never ran");
	for (i = 1; i < NELEM(addr); i++)
		ck_assert_int_eq(auth_pool_submit(p, job[i]), 0);
	gate_open(&sy);
	ck_assert_msg(wait_for(&sy, NELEM(addr), false), "no answer in %d s",
	    WAIT_S);
	auth_pool_free(p);
	for (i = 0; i < NELEM(addr); i++) {
		ck_assert_msg(sy.order[i] == want[i], "check %u was job %u, "
		    "want %u", i, sy.order[i], want[i]);
		ck_assert_int_eq(job[i]->result, PASSWD_OK);
		auth_job_free(job[i]);
	}
	policy_unref(pol);
	sync_fini(&sy);
}
END_TEST

/* ---- the suite ------------------------------------------------------ */

Suite *
auth_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc;

	tc = tcase_create("precheck");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_loop_test(tc, precheck, 0, (int)NELEM(pcases));
	tcase_add_loop_test(tc, recheck, 0, (int)NELEM(recases));
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_loop_test(tc, name_clean, 0, (int)NELEM(ncases));
	tcase_add_loop_test(tc, client_id_match, 0, (int)NELEM(mcases));
	suite_add_tcase(s, tc);

	tc = tcase_create("lockout");
	tcase_add_loop_test(tc, guard_steps, 0, (int)NELEM(gcases));
	tcase_add_test(tc, guard_lru_forgets_oldest);
	tcase_add_test(tc, guard_lru_keeps_recent);
	tcase_add_test(tc, guard_pending_per_address);
	tcase_add_test(tc, guard_pending_kept_when_full);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("scopes");
	tcase_add_loop_test(tc, refused_counts_only_guesses, 0,
	    AUTH_RESULT__MAX);
	tcase_add_test(tc, pair_locks_alone);
	tcase_add_test(tc, success_clears_pair);
	tcase_add_test(tc, known_device);
	tcase_add_test(tc, identity_from_many_addresses);
	tcase_add_test(tc, address_spray);
	tcase_add_test(tc, address_spray_window);
	tcase_add_test(tc, tables_bounded);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, cache_hit_miss_ttl);
	tcase_add_test(tc, cache_entry_change);
	tcase_add_test(tc, cache_reload);
	suite_add_tcase(s, tc);

	tc = tcase_create("registry");
	tcase_add_loop_test(tc, registry_steps, 0, (int)NELEM(rcases));
	tcase_add_test(tc, registry_lru_keeps_held);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("reasons");
	tcase_add_loop_test(tc, reason_codes, 0, AUTH_RESULT__MAX);
	tcase_add_test(tc, reason_out_of_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("pool");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_loop_test(tc, pool_verifies, 0, (int)NELEM(vcases));
	tcase_add_test(tc, pool_job_holds_policy);
	tcase_add_test(tc, pool_queue_full);
	tcase_add_test(tc, pool_needs_threads);
	tcase_add_test(tc, pool_free_cancels_queued);
	tcase_add_test(tc, pool_serves_addresses_in_turn);
	tcase_set_timeout(tc, 2 * WAIT_S + 30);
	suite_add_tcase(s, tc);
	return s;
}
