/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for tls: the judge of TLS settings and the server context.
 *
 * Every refusal has a case (weak version, each class of weak cipher
 * string, a small key, an expired or not yet valid certificate, a key that
 * does not match), every acceptance too (defaults, modern, intermediate,
 * explicit good values), and the tls section of the policy file is loaded
 * from test/data/tls-*.yaml with each error's exact file:line:column.
 * SNI (which certificate each name gets), the upstream client context
 * (the broker's CA and name checked, our client certificate sent) and the
 * files' stamp behind tls.watch are tested the same way.
 *
 * Certificates, keys and CRLs are made here with OpenSSL into a temporary
 * directory (an unchecked fixture, so once, before Check forks), not taken
 * from certs/: each test needs a precise flaw and nothing else.  Handshakes
 * run in memory over a BIO pair, no sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check_suites.h"
#include "mqttguard/config.h"
#include "mqttguard/tls.h"

#define DAY	(24L * 3600)

static char	dir[] = "/tmp/check_tls.XXXXXX";

static const char	*f(const char *);
static EVP_PKEY	*genkey(const char *, int, const char *);
static X509	*mkcert(EVP_PKEY *, const char *, long, long, X509 *,
		    EVP_PKEY *, bool, const char *);
static void	put_cert(const char *, X509 *);
static void	put_key(const char *, EVP_PKEY *, bool);
static void	put_crl(const char *, X509 *, EVP_PKEY *, long, long,
		    X509 *);
static void	setup(void);
static void	teardown(void);
static void	tls_init(struct policy_tls *, const char *, const char *);
static void	tls_fini(struct policy_tls *);
static void	assert_ecdhe_aead(SSL_CTX *);
static int	handshake(SSL_CTX *, int, int, const char *, char *,
		    size_t, bool *);
static int	run_handshake(SSL *, SSL *);
static int	served_cn(SSL_CTX *, const char *, char *, size_t);
static void	sni_init(struct policy_tls *, size_t, const char *,
		    const char *, const char *);
static void	copy_file(const char *, const char *);

/* Files the fixture writes, removed by teardown(). */
static const char *const made[] = {
	"ca.crt", "ca.key", "good.crt", "good.key", "rsa2048.crt",
	"rsa2048.key", "rsa1024.crt", "rsa1024.key", "ec224.crt", "ec224.key",
	"expired.crt", "expired.key", "future.crt", "future.key", "other.key",
	"encrypted.key", "other-ca.crt", "both-ca.crt", "ca.crl",
	"ca-expired.crl", "other.crl", "revoked.crt", "revoked.key",
	"sni-a.crt", "sni-a.key", "sni-w.crt", "sni-w.key", "stamp.pem",
	"stamp.new", NULL
};

/* <name> in the fixture's directory; a ring of buffers, for a few args. */
static const char *
f(const char *name)
{
	static char	ring[8][PATH_MAX];
	static int	next;
	char		*p = ring[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

/* "RSA" with <bits>, or "EC" on <curve>. */
static EVP_PKEY *
genkey(const char *alg, int bits, const char *curve)
{
	EVP_PKEY	*pk;

	if (strcmp(alg, "RSA") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	ck_assert_ptr_nonnull(pk);
	return pk;
}

/*
 * A certificate for <key>, CN <cn>, valid from now + <from> to now + <to>
 * seconds, signed by <ca>/<cakey> (or self-signed when <ca> is NULL), with
 * subjectAltName <san> (OpenSSL's syntax, "DNS:a.example") unless NULL.
 */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, long from, long to, X509 *ca,
    EVP_PKEY *cakey, bool is_ca, const char *san)
{
	static long	 serial = 1;
	X509		*x = X509_new();
	X509_EXTENSION	*ext;
	X509V3_CTX	 v3;

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca ? ca : x));
	X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	ck_assert_ptr_nonnull(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
		    san);
		ck_assert_ptr_nonnull(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	ck_assert_int_gt(X509_sign(x, ca ? cakey : key, EVP_sha256()), 0);
	return x;
}

static void
put_cert(const char *name, X509 *x)
{
	FILE	*fp = fopen(f(name), "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(PEM_write_X509(fp, x), 1);
	fclose(fp);
}

static void
put_key(const char *name, EVP_PKEY *pk, bool encrypted)
{
	FILE	*fp = fopen(f(name), "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(PEM_write_PrivateKey(fp, pk, encrypted ?
	    EVP_aes_256_cbc() : NULL, encrypted ? (unsigned char *)"pass" :
	    NULL, encrypted ? 4 : 0, NULL, NULL), 1);
	fclose(fp);
	/* Group-read, as a Kubernetes fsGroup mount gives it. */
	ck_assert_int_eq(chmod(f(name), 0640), 0);
}

/* A CRL of <ca> valid from now + <last> to now + <next>, revoking <rev>. */
static void
put_crl(const char *name, X509 *ca, EVP_PKEY *cakey, long last, long next,
    X509 *rev)
{
	X509_CRL	*crl = X509_CRL_new();
	X509_REVOKED	*r;
	ASN1_TIME	*t;
	FILE		*fp;

	ck_assert_ptr_nonnull(crl);
	X509_CRL_set_version(crl, X509_CRL_VERSION_2);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	t = X509_gmtime_adj(NULL, last);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next);
	X509_CRL_set1_nextUpdate(crl, t);
	if (rev != NULL) {
		r = X509_REVOKED_new();
		X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(rev));
		X509_REVOKED_set_revocationDate(r, t);
		X509_CRL_add0_revoked(crl, r);
	}
	ASN1_TIME_free(t);
	ck_assert_int_gt(X509_CRL_sign(crl, cakey, EVP_sha256()), 0);
	fp = fopen(f(name), "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(PEM_write_X509_CRL(fp, crl), 1);
	fclose(fp);
	X509_CRL_free(crl);
}

static void
setup(void)
{
	static const struct {
		const char	*name, *alg, *curve;
		int		 bits;
		long		 from, to;
		const char	*san;
	} leaves[] = {
		{ "good", "EC", "P-256", 0, -DAY, 365 * DAY, NULL },
		{ "rsa2048", "RSA", NULL, 2048, -DAY, 365 * DAY, NULL },
		{ "rsa1024", "RSA", NULL, 1024, -DAY, 365 * DAY, NULL },
		{ "ec224", "EC", "P-224", 0, -DAY, 365 * DAY, NULL },
		{ "expired", "EC", "P-256", 0, -730 * DAY, -365 * DAY, NULL },
		{ "future", "EC", "P-256", 0, 365 * DAY, 730 * DAY, NULL },
		{ "revoked", "EC", "P-256", 0, -DAY, 365 * DAY, NULL },
		{ "sni-a", "EC", "P-256", 0, -DAY, 365 * DAY,
		    "DNS:a.example,IP:127.0.0.1" },
		{ "sni-w", "EC", "P-256", 0, -DAY, 365 * DAY,
		    "DNS:*.w.example" },
	};
	EVP_PKEY	*cakey, *okey, *pk;
	X509		*ca, *oca, *x, *revoked = NULL;
	FILE		*fp;
	char		 name[64];
	size_t		 i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	cakey = genkey("EC", 0, "P-256");
	ca = mkcert(cakey, "check CA", -DAY, 3650 * DAY, NULL, NULL, true,
	    NULL);
	put_cert("ca.crt", ca);
	put_key("ca.key", cakey, false);
	for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		pk = genkey(leaves[i].alg, leaves[i].bits, leaves[i].curve);
		x = mkcert(pk, leaves[i].name, leaves[i].from, leaves[i].to,
		    ca, cakey, false, leaves[i].san);
		snprintf(name, sizeof(name), "%s.crt", leaves[i].name);
		put_cert(name, x);
		snprintf(name, sizeof(name), "%s.key", leaves[i].name);
		put_key(name, pk, false);
		if (strcmp(leaves[i].name, "good") == 0)
			put_key("encrypted.key", pk, true);
		if (strcmp(leaves[i].name, "revoked") == 0)
			revoked = x;
		else
			X509_free(x);
		EVP_PKEY_free(pk);
	}
	pk = genkey("EC", 0, "P-256");
	put_key("other.key", pk, false);
	EVP_PKEY_free(pk);

	okey = genkey("EC", 0, "P-256");
	oca = mkcert(okey, "other CA", -DAY, 3650 * DAY, NULL, NULL, true,
	    NULL);
	put_cert("other-ca.crt", oca);
	fp = fopen(f("both-ca.crt"), "w");
	ck_assert_ptr_nonnull(fp);
	PEM_write_X509(fp, ca);
	PEM_write_X509(fp, oca);
	fclose(fp);
	put_crl("ca.crl", ca, cakey, -DAY, 30 * DAY, revoked);
	put_crl("ca-expired.crl", ca, cakey, -60 * DAY, -30 * DAY, NULL);
	put_crl("other.crl", oca, okey, -DAY, 30 * DAY, NULL);
	X509_free(revoked);
	X509_free(oca);
	EVP_PKEY_free(okey);
	X509_free(ca);
	EVP_PKEY_free(cakey);
}

static void
teardown(void)
{
	size_t	i;

	for (i = 0; made[i] != NULL; i++)
		unlink(f(made[i]));
	rmdir(dir);
}

/* A tls section as the loader leaves it, for <cert> and <key>. */
static void
tls_init(struct policy_tls *t, const char *cert, const char *key)
{
	memset(t, 0, sizeof(*t));
	t->cert = strdup(f(cert));
	t->key = strdup(f(key));
	t->verify_depth = POLICY_TLS_VERIFY_DEPTH_DEFAULT;
	ck_assert(t->cert != NULL && t->key != NULL);
}

static void
tls_fini(struct policy_tls *t)
{
	free(t->cert);
	free(t->key);
	free(t->ca);
}

/*
 * One handshake in memory between a client limited to versions
 * <minv>..<maxv> (0: any) offering ALPN <alpn> (comma-separated, or NULL)
 * and a server on <sctx>.  Returns 1 when both sides finished, 0 when the
 * handshake failed; the selected ALPN id goes to <proto> ("" if none) and
 * whether the client got a session it could resume to *<resumable>.
 */
static int
handshake(SSL_CTX *sctx, int minv, int maxv, const char *alpn, char *proto,
    size_t protolen, bool *resumable)
{
	SSL_CTX			*cctx;
	SSL			*c, *s;
	BIO			*cb, *sb;
	unsigned char		 wire[64], buf[8];
	const unsigned char	*sel;
	unsigned int		 sellen;
	size_t			 n = 0;
	const char		*p, *e;
	int			 i, rc = -1, rs = -1, ok = 0;

	cctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(cctx);
	if (minv != 0 && minv < TLS1_2_VERSION)
		SSL_CTX_set_security_level(cctx, 0);
	SSL_CTX_set_min_proto_version(cctx, minv);
	SSL_CTX_set_max_proto_version(cctx, maxv);
	if (minv != 0 && minv < TLS1_2_VERSION)
		SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0");
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	ck_assert(c != NULL && s != NULL);
	ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	for (p = alpn; p != NULL && *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, ",");
		wire[n++] = (unsigned char)(e - p);
		memcpy(wire + n, p, (size_t)(e - p));
		n += (size_t)(e - p);
	}
	if (n > 0)
		ck_assert_int_eq(SSL_set_alpn_protos(c, wire,
		    (unsigned int)n), 0);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1 && (rc = SSL_do_handshake(c)) <= 0 &&
		    SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
			break;
		if (rs != 1 && (rs = SSL_do_handshake(s)) <= 0 &&
		    SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
			break;
	}
	if (rc == 1 && rs == 1) {
		ok = 1;
		/* Whatever the server sends after the handshake (TLS 1.3
		 * tickets) reaches the client before it is asked. */
		ck_assert_int_eq(SSL_write(s, "x", 1), 1);
		ck_assert_int_eq(SSL_read(c, buf, sizeof(buf)), 1);
		SSL_get0_alpn_selected(c, &sel, &sellen);
		snprintf(proto, protolen, "%.*s", (int)sellen,
		    sel ? (const char *)sel : "");
		*resumable = SSL_SESSION_is_resumable(SSL_get0_session(c));
	}
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return ok;
}

/* ---- the checks of single settings ------------------------------------ */

static const struct {
	enum policy_tls_version	 v;
	enum tls_verdict	 want;
} versions[] = {
	{ POLICY_TLS_VERSION_PROFILE, TLS_OK },
	{ POLICY_TLS_1_0, TLS_WEAK },
	{ POLICY_TLS_1_1, TLS_WEAK },
	{ POLICY_TLS_1_2, TLS_OK },
	{ POLICY_TLS_1_3, TLS_OK },
	{ (enum policy_tls_version)42, TLS_INVALID },
};

START_TEST(version_check)
{
	char	why[256] = "";

	ck_assert_int_eq(tls_version_check(versions[_i].v, why, sizeof(why)),
	    versions[_i].want);
	if (versions[_i].want == TLS_WEAK)
		ck_assert_msg(strstr(why, "RFC 8996") != NULL, "%s", why);
}
END_TEST

/*
 * Cipher strings, judged on the suites they enable.  <why> is a part of
 * the reason; a NULL <why> with TLS_INVALID is a class this OpenSSL does
 * not offer at all (RC4, 3DES, export): refused as enabling nothing.
 */
static const struct {
	const char		*list;
	enum tls_verdict	 want;
	const char		*why;
} ciphers[] = {
	/* The defaults, Mozilla's intermediate list, and good choices. */
	{ POLICY_TLS_CIPHERS_DEFAULT, TLS_OK, NULL },
	{ "ECDHE+AESGCM:ECDHE+CHACHA20", TLS_OK, NULL },
	{ "ECDHE-ECDSA-AES256-GCM-SHA384", TLS_OK, NULL },
	{ "DHE-RSA-AES128-GCM-SHA256", TLS_OK, NULL },
	{ "ECDHE-ECDSA-AES128-CCM", TLS_OK, NULL },
	/* Not AEAD (CBC with HMAC). */
	{ "ECDHE-RSA-AES128-SHA", TLS_WEAK,
	    "enables weak suite ECDHE-RSA-AES128-SHA (not AEAD)" },
	{ "ECDHE-ECDSA-AES256-SHA384", TLS_WEAK, "(not AEAD)" },
	/* Not forward secret (RSA key exchange), AEAD or not. */
	{ "AES128-GCM-SHA256", TLS_WEAK,
	    "enables weak suite AES128-GCM-SHA256 (not forward secret)" },
	{ "AES128-SHA", TLS_WEAK, "(not AEAD, not forward secret)" },
	/* Anonymous: aNULL, ADH, AECDH. */
	{ "aNULL", TLS_WEAK, "anonymous" },
	{ "ADH-AES128-GCM-SHA256", TLS_WEAK,
	    "enables weak suite ADH-AES128-GCM-SHA256 (anonymous)" },
	{ "AECDH-AES128-SHA", TLS_WEAK, "(not AEAD, anonymous)" },
	/* NULL encryption. */
	{ "eNULL", TLS_WEAK, "no encryption" },
	{ "ECDHE-ECDSA-NULL-SHA", TLS_WEAK, "(no encryption, not AEAD)" },
	/* RC4, 3DES, DES, export: not offered by OpenSSL 3 without the
	 * legacy provider; cipher_flaws() names them if it ever is. */
	{ "RC4-SHA", TLS_INVALID, "enables no TLS 1.2 cipher suite" },
	{ "RC4", TLS_INVALID, NULL },
	{ "DES-CBC3-SHA", TLS_INVALID, NULL },
	{ "3DES", TLS_INVALID, NULL },
	{ "EXP-RC4-MD5", TLS_INVALID, NULL },
	{ "EXPORT", TLS_INVALID, NULL },
	/* Broad strings that let weak suites in. */
	{ "HIGH", TLS_WEAK, "more" },
	{ "DEFAULT", TLS_WEAK, "more" },
	{ "ALL", TLS_WEAK, "more" },
	{ "ECDHE+AESGCM:AES128-SHA", TLS_WEAK, "AES128-SHA" },
	/* A strong list that lowers OpenSSL's security level. */
	{ "ECDHE+AESGCM:@SECLEVEL=0", TLS_WEAK, "security level to 0" },
	{ "ECDHE+AESGCM:@SECLEVEL=1", TLS_WEAK, "security level to 1" },
	{ "ECDHE+AESGCM:@SECLEVEL=3", TLS_OK, NULL },
	/* Nothing OpenSSL knows. */
	{ "nonsense", TLS_INVALID, "\"nonsense\" enables no TLS 1.2" },
	{ "", TLS_INVALID, NULL },
	{ "TLS_AES_128_GCM_SHA256", TLS_INVALID, NULL },
};

START_TEST(ciphers_check)
{
	char			why[256] = "";
	enum tls_verdict	v;

	v = tls_ciphers_check(ciphers[_i].list, why, sizeof(why));
	ck_assert_msg(v == ciphers[_i].want, "\"%s\": verdict %d, want %d "
	    "(%s)", ciphers[_i].list, v, ciphers[_i].want, why);
	if (ciphers[_i].why != NULL)
		ck_assert_msg(strstr(why, ciphers[_i].why) != NULL,
		    "\"%s\": \"%s\" lacks \"%s\"", ciphers[_i].list, why,
		    ciphers[_i].why);
	if (v == TLS_OK)
		ck_assert_str_eq(why, "");
}
END_TEST

static const struct {
	const char		*list;
	enum tls_verdict	 want;
} suites[] = {
	{ POLICY_TLS_CIPHERSUITES_DEFAULT, TLS_OK },
	{ "TLS_AES_256_GCM_SHA384", TLS_OK },
	{ "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", TLS_OK },
	{ "", TLS_INVALID },		/* would turn TLS 1.3 off */
	{ "AES128-SHA", TLS_INVALID },	/* a TLS 1.2 name */
	{ "TLS_AES_128_CBC_SHA256", TLS_INVALID },
};

START_TEST(ciphersuites_check)
{
	char	why[256] = "";

	ck_assert_int_eq(tls_ciphersuites_check(suites[_i].list, why,
	    sizeof(why)), suites[_i].want);
}
END_TEST

static const struct {
	const char		*list;
	enum tls_verdict	 want;
} groups[] = {
	{ POLICY_TLS_GROUPS_DEFAULT, TLS_OK },
	{ "P-384", TLS_OK },
	{ "X448:P-521:ffdhe3072", TLS_OK },
	{ "X25519:bogus", TLS_INVALID },
	{ "", TLS_INVALID },
};

START_TEST(groups_check)
{
	char	why[256] = "";

	ck_assert_int_eq(tls_groups_check(groups[_i].list, why, sizeof(why)),
	    groups[_i].want);
}
END_TEST

/* ---- certificates and keys ------------------------------------------- */

static const struct {
	const char		*cert, *key;
	long			 at;	/* seconds from now */
	enum tls_verdict	 want;
	const char		*why;
} certs[] = {
	{ "good.crt", "good.key", 0, TLS_OK, NULL },
	{ "rsa2048.crt", "rsa2048.key", 0, TLS_OK, NULL },
	{ "rsa1024.crt", "rsa1024.key", 0, TLS_WEAK,
	    "rsa1024.crt: RSA key of 1024 bits (at least 2048)" },
	{ "ec224.crt", "ec224.key", 0, TLS_WEAK,
	    "ec224.crt: EC key of 224 bits (at least 256)" },
	{ "expired.crt", "expired.key", 0, TLS_WEAK,
	    "expired.crt: expired on " },
	{ "future.crt", "future.key", 0, TLS_WEAK, "not valid before " },
	/* The clock is an argument: the same good certificate, later. */
	{ "good.crt", "good.key", 400 * DAY, TLS_WEAK, "expired on " },
	{ "good.crt", "other.key", 0, TLS_INVALID, "does not match" },
	{ "good.crt", "rsa2048.key", 0, TLS_INVALID, "does not match" },
	{ "good.crt", "encrypted.key", 0, TLS_INVALID,
	    "no unencrypted PEM private key" },
	{ "no-such.crt", "good.key", 0, TLS_INVALID, "no PEM certificate" },
	{ "good.key", "good.key", 0, TLS_INVALID, "no PEM certificate" },
	/* A certificate as the key: world-readable, refused for that. */
	{ "good.crt", "good.crt", 0, TLS_INVALID,
	    "mode 0644: others may read a secret file (chmod o-rwx)" },
};

START_TEST(cert_check)
{
	char			why[512] = "";
	enum tls_verdict	v;

	v = tls_cert_check(f(certs[_i].cert), f(certs[_i].key),
	    time(NULL) + certs[_i].at, why, sizeof(why));
	ck_assert_msg(v == certs[_i].want, "%s/%s: verdict %d, want %d (%s)",
	    certs[_i].cert, certs[_i].key, v, certs[_i].want, why);
	if (certs[_i].why != NULL)
		ck_assert_msg(strstr(why, certs[_i].why) != NULL,
		    "\"%s\" lacks \"%s\"", why, certs[_i].why);
}
END_TEST

/* Both flaws of one certificate are named, not just the first. */
START_TEST(cert_check_every_flaw)
{
	char	why[512] = "";

	ck_assert_int_eq(tls_cert_check(f("rsa1024.crt"), f("rsa1024.key"),
	    time(NULL) + 400 * DAY, why, sizeof(why)), TLS_WEAK);
	ck_assert_msg(strstr(why, "RSA key of 1024 bits") != NULL &&
	    strstr(why, "expired on") != NULL, "%s", why);
}
END_TEST

/* A private key's mode, on the file a symlink ends at. */
static const struct {
	unsigned	 mode;
	bool		 link;	/* judged through a symlink */
	const char	*why;	/* NULL: accepted */
} key_modes[] = {
	{ 0600, false, NULL },
	{ 0400, false, NULL },
	{ 0640, false, NULL },
	{ 0440, false, NULL },
	{ 0640, true, NULL },
	{ 0644, false, "mode 0644: others may read a secret file" },
	{ 0604, false, "mode 0604: others may read a secret file" },
	{ 0602, false, "mode 0602: others may write a secret file" },
	{ 0601, false, "mode 0601: others may access a secret file" },
	{ 0660, false, "mode 0660: its group may write a secret file" },
	{ 0644, true, "mode 0644: others may read a secret file" },
};

START_TEST(cert_key_mode)
{
	char		 why[512] = "", buf[4096], key[PATH_MAX];
	const char	*path;
	size_t		 n;
	FILE		*in, *out;

	snprintf(key, sizeof(key), "%s", f("mode.key"));
	ck_assert_ptr_nonnull(in = fopen(f("good.key"), "r"));
	ck_assert_ptr_nonnull(out = fopen(key, "w"));
	n = fread(buf, 1, sizeof(buf), in);
	ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	ck_assert_int_eq(chmod(key, key_modes[_i].mode), 0);
	path = key;
	if (key_modes[_i].link) {
		path = f("mode-link.key");
		unlink(path);
		ck_assert_int_eq(symlink(key, path), 0);
	}
	if (key_modes[_i].why == NULL)
		ck_assert_msg(tls_cert_check(f("good.crt"), path, time(NULL),
		    why, sizeof(why)) == TLS_OK, "%04o: %s",
		    key_modes[_i].mode, why);
	else {
		ck_assert_int_eq(tls_cert_check(f("good.crt"), path,
		    time(NULL), why, sizeof(why)), TLS_INVALID);
		ck_assert_msg(strstr(why, key_modes[_i].why) != NULL,
		    "\"%s\" lacks \"%s\"", why, key_modes[_i].why);
	}
	unlink(f("mode-link.key"));
	unlink(key);
}
END_TEST

/* ---- contexts ----------------------------------------------------------- */

/* Every TLS 1.2 suite of <ctx> is ECDHE with AEAD. */
static void
assert_ecdhe_aead(SSL_CTX *ctx)
{
	STACK_OF(SSL_CIPHER)	*sk = SSL_CTX_get_ciphers(ctx);
	const SSL_CIPHER	*c;
	int			 i, tls12 = 0;

	for (i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		c = sk_SSL_CIPHER_value(sk, i);
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any)
			continue;
		tls12++;
		ck_assert_msg(SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe &&
		    SSL_CIPHER_is_aead(c), "%s", SSL_CIPHER_get_name(c));
	}
	ck_assert_int_gt(tls12, 0);
}

START_TEST(ctx_defaults)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", proto[16];
	bool			 resumable;
	uint64_t		 opts;

	tls_init(&t, "good.crt", "good.key");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ck_assert_int_eq(SSL_CTX_get_max_proto_version(ctx), 0);
	ck_assert_int_ge(SSL_CTX_get_security_level(ctx), 2);
	opts = SSL_CTX_get_options(ctx);
	ck_assert(opts & SSL_OP_NO_COMPRESSION);
	ck_assert(opts & SSL_OP_NO_RENEGOTIATION);
	ck_assert(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
	ck_assert(opts & SSL_OP_NO_TICKET);
	ck_assert_int_eq(SSL_CTX_get_session_cache_mode(ctx),
	    SSL_SESS_CACHE_OFF);
	ck_assert_uint_eq(SSL_CTX_get_num_tickets(ctx), 0);
	ck_assert_int_eq(SSL_CTX_get_verify_depth(ctx), 4);
	assert_ecdhe_aead(ctx);
	/* TLS 1.3 preferred, 1.2 served, neither resumable. */
	ck_assert(handshake(ctx, 0, 0, NULL, proto, sizeof(proto),
	    &resumable));
	ck_assert(!resumable);
	ck_assert(handshake(ctx, TLS1_2_VERSION, TLS1_2_VERSION, NULL, proto,
	    sizeof(proto), &resumable));
	ck_assert(!resumable);
	ck_assert(!handshake(ctx, TLS1_VERSION, TLS1_VERSION, NULL, proto,
	    sizeof(proto), &resumable));
	ck_assert(!handshake(ctx, TLS1_1_VERSION, TLS1_1_VERSION, NULL, proto,
	    sizeof(proto), &resumable));
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/*
 * Every server handshake is counted and timed on the thread that runs
 * it; over a BIO pair there is no socket, so no ClientHello wait.
 */
START_TEST(ctx_handshake_timed)
{
	struct policy_tls	 t;
	struct tls_hs_stats	 a, b;
	SSL_CTX			*ctx;
	char			 err[512] = "", proto[16];
	bool			 resumable;

	tls_init(&t, "good.crt", "good.key");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	tls_handshake_stats(&a);
	ck_assert(handshake(ctx, 0, 0, NULL, proto, sizeof(proto),
	    &resumable));
	ck_assert(handshake(ctx, TLS1_2_VERSION, TLS1_2_VERSION, NULL, proto,
	    sizeof(proto), &resumable));
	tls_handshake_stats(&b);
	ck_assert_uint_eq(b.count - a.count, 2);
	ck_assert_uint_gt(b.ns, a.ns);
	ck_assert_uint_eq(b.wait_min_ms, UINT32_MAX);
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

START_TEST(ctx_modern)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", proto[16];
	bool			 resumable;

	tls_init(&t, "good.crt", "good.key");
	t.profile = POLICY_TLS_MODERN;
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	ck_assert(handshake(ctx, 0, 0, NULL, proto, sizeof(proto),
	    &resumable));
	ck_assert(!handshake(ctx, TLS1_2_VERSION, TLS1_2_VERSION, NULL, proto,
	    sizeof(proto), &resumable));
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

START_TEST(ctx_intermediate_explicit)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	STACK_OF(SSL_CIPHER)	*sk;
	char			 err[512] = "";
	int			 i, n = 0;

	tls_init(&t, "rsa2048.crt", "rsa2048.key");
	t.profile = POLICY_TLS_INTERMEDIATE;
	t.min_version = POLICY_TLS_1_2;
	snprintf(t.ciphers, sizeof(t.ciphers), "ECDHE-RSA-AES256-GCM-SHA384");
	snprintf(t.ciphersuites, sizeof(t.ciphersuites),
	    "TLS_AES_256_GCM_SHA384");
	snprintf(t.groups, sizeof(t.groups), "P-384");
	t.verify_depth = 0;
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ck_assert_int_eq(SSL_CTX_get_verify_depth(ctx), 0);
	sk = SSL_CTX_get_ciphers(ctx);
	for (i = 0; i < sk_SSL_CIPHER_num(sk); i++, n++)
		ck_assert(strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk,
		    i)), "ECDHE-RSA-AES256-GCM-SHA384") == 0 ||
		    strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i)),
		    "TLS_AES_256_GCM_SHA384") == 0);
	ck_assert_int_eq(n, 2);
	SSL_CTX_free(ctx);
	/* min_version 1.3 under the intermediate profile. */
	t.ciphers[0] = '\0';
	t.min_version = POLICY_TLS_1_3;
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/* Each weak setting refuses the context, naming itself; the fix hinted. */
static const struct {
	const char		*cert, *key;
	enum policy_tls_version	 v;
	const char		*ciphers;
	const char		*want;
} refused[] = {
	{ "good.crt", "good.key", POLICY_TLS_1_0, "",
	    "tls.min_version: TLS 1.0 is deprecated" },
	{ "good.crt", "good.key", POLICY_TLS_1_1, "",
	    "tls.min_version: TLS 1.1 is deprecated" },
	{ "good.crt", "good.key", 0, "AES128-SHA",
	    "tls.ciphers: enables weak suite AES128-SHA" },
	{ "good.crt", "good.key", 0, "ECDHE+AESGCM:@SECLEVEL=1",
	    "tls.ciphers: lowers OpenSSL's security level" },
	{ "rsa1024.crt", "rsa1024.key", 0, "", "RSA key of 1024 bits" },
	{ "ec224.crt", "ec224.key", 0, "", "EC key of 224 bits" },
	{ "expired.crt", "expired.key", 0, "", "expired on" },
	{ "future.crt", "future.key", 0, "", "not valid before" },
	{ "good.crt", "other.key", 0, "", "does not match" },
};

START_TEST(ctx_refuses_weak)
{
	struct policy_tls	 t;
	char			 err[512] = "";

	tls_init(&t, refused[_i].cert, refused[_i].key);
	t.min_version = refused[_i].v;
	snprintf(t.ciphers, sizeof(t.ciphers), "%s", refused[_i].ciphers);
	ck_assert_ptr_null(tls_server_ctx_new(&t, err, sizeof(err)));
	ck_assert_msg(strstr(err, refused[_i].want) != NULL, "%s", err);
	/* A key mismatch is never "allowed"; the rest names the way out. */
	ck_assert_int_eq(strstr(err, "tls.allow_insecure") != NULL,
	    strstr(refused[_i].want, "match") == NULL);
	tls_fini(&t);
}
END_TEST

/* allow_insecure: the same weak settings build a context that works. */
START_TEST(ctx_allow_insecure)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", proto[16];
	bool			 resumable;

	tls_init(&t, "rsa1024.crt", "rsa1024.key");
	t.allow_insecure = true;
	t.min_version = POLICY_TLS_1_0;
	snprintf(t.ciphers, sizeof(t.ciphers), "ECDHE+AESGCM:ECDHE+AES");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_VERSION);
	ck_assert_int_eq(SSL_CTX_get_security_level(ctx), 0);
	ck_assert(handshake(ctx, TLS1_VERSION, TLS1_VERSION, NULL, proto,
	    sizeof(proto), &resumable));
	SSL_CTX_free(ctx);
	/* A weak key alone lowers the level only as far as it needs. */
	t.min_version = POLICY_TLS_VERSION_PROFILE;
	t.ciphers[0] = '\0';
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_security_level(ctx), 1);
	SSL_CTX_free(ctx);
	/* A mismatch stays refused. */
	tls_fini(&t);
	tls_init(&t, "good.crt", "other.key");
	t.allow_insecure = true;
	ck_assert_ptr_null(tls_server_ctx_new(&t, err, sizeof(err)));
	tls_fini(&t);
}
END_TEST

/* ALPN: "mqtt" selected when offered, refused when only others are. */
static const struct {
	const char	*offer;
	int		 ok;
	const char	*selected;
} alpn[] = {
	{ NULL, 1, "" },
	{ "mqtt", 1, "mqtt" },
	{ "h2,mqtt", 1, "mqtt" },
	{ "http/1.1", 0, NULL },
	{ "mqtt-ws,h2", 0, NULL },
};

START_TEST(ctx_alpn)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", proto[16] = "?";
	bool			 resumable;

	tls_init(&t, "good.crt", "good.key");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(handshake(ctx, 0, 0, alpn[_i].offer, proto,
	    sizeof(proto), &resumable), alpn[_i].ok);
	if (alpn[_i].ok)
		ck_assert_str_eq(proto, alpn[_i].selected);
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/* CRLs: loaded and enforced for the whole chain, or refused with why. */
static const struct {
	const char	*ca;
	const char	*crl[2];
	const char	*want;	/* NULL: accepted */
} crls[] = {
	{ "ca.crt", { "ca.crl", NULL }, NULL },
	{ "both-ca.crt", { "ca.crl", "other.crl" }, NULL },
	{ "ca.crt", { "ca-expired.crl", NULL }, "expired on" },
	{ "ca.crt", { "other.crl", NULL }, "which is not a CA in tls.ca" },
	{ "both-ca.crt", { "ca.crl", NULL }, "no CRL of /CN=other CA" },
	{ "ca.crt", { "good.crt", NULL }, "no PEM CRL in the file" },
	{ NULL, { "ca.crl", NULL }, "tls.crl needs tls.ca" },
};

START_TEST(ctx_crl)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "";
	size_t			 i;

	tls_init(&t, "good.crt", "good.key");
	t.ca = crls[_i].ca ? strdup(f(crls[_i].ca)) : NULL;
	for (i = 0; i < 2 && crls[_i].crl[i] != NULL; i++)
		snprintf(t.crl[t.n_crl++], sizeof(t.crl[0]), "%s",
		    f(crls[_i].crl[i]));
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	if (crls[_i].want == NULL) {
		ck_assert_msg(ctx != NULL, "%s", err);
		ck_assert(X509_VERIFY_PARAM_get_flags(SSL_CTX_get0_param(ctx)) &
		    X509_V_FLAG_CRL_CHECK_ALL);
	} else {
		ck_assert_ptr_null(ctx);
		ck_assert_msg(strstr(err, crls[_i].want) != NULL, "%s", err);
	}
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/* ---- SNI -------------------------------------------------------------- */

/* Drives <c> and <s> (over a BIO pair) to the end of the handshake. */
static int
run_handshake(SSL *c, SSL *s)
{
	BIO	*cb, *sb;
	int	 i, rc = -1, rs = -1;

	ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1 && (rc = SSL_do_handshake(c)) <= 0 &&
		    SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
			break;
		if (rs != 1 && (rs = SSL_do_handshake(s)) <= 0 &&
		    SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
			break;
	}
	return rc == 1 && rs == 1;
}

/*
 * The CN of the certificate a client asking for <sni> (NULL: none) is
 * served by <sctx>, into <cn>.  Returns 1, or 0 if the handshake failed.
 */
static int
served_cn(SSL_CTX *sctx, const char *sni, char *cn, size_t len)
{
	SSL_CTX	*cctx = SSL_CTX_new(TLS_client_method());
	SSL	*c, *s;
	X509	*x;
	int	 ok;

	ck_assert_ptr_nonnull(cctx);
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	ck_assert(c != NULL && s != NULL);
	if (sni != NULL)
		ck_assert_int_eq(SSL_set_tlsext_host_name(c, sni), 1);
	cn[0] = '\0';
	if ((ok = run_handshake(c, s)) &&
	    (x = SSL_get0_peer_certificate(c)) != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, (int)len);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return ok;
}

/* Entry <i> of <t>'s tls.sni: <name> served with the pair <pair>. */
static void
sni_init(struct policy_tls *t, size_t i, const char *name, const char *cert,
    const char *key)
{
	snprintf(t->sni[i].name, sizeof(t->sni[i].name), "%s", name);
	snprintf(t->sni[i].cert, sizeof(t->sni[i].cert), "%s", f(cert));
	snprintf(t->sni[i].key, sizeof(t->sni[i].key), "%s", f(key));
	if (t->n_sni < i + 1)
		t->n_sni = i + 1;
}

/* Which certificate each server_name gets (RFC 6066, RFC 6125 6.4.3). */
static const struct {
	const char	*sni;
	const char	*cn;
} sni_cases[] = {
	{ NULL, "good" },			/* no SNI: the default */
	{ "a.example", "sni-a" },		/* exact */
	{ "A.Example", "sni-a" },		/* without case */
	{ "a.example.", "sni-a" },		/* a trailing dot */
	{ "x.w.example", "sni-w" },		/* the wildcard */
	{ "X-1.W.EXAMPLE", "sni-w" },
	{ "w.example", "good" },		/* not the parent itself */
	{ "y.x.w.example", "good" },		/* one label only */
	{ "b.example", "good" },		/* unknown: the default */
	{ "localhost", "good" },
	{ ".", "good" },
};

START_TEST(ctx_sni)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", cn[64];

	tls_init(&t, "good.crt", "good.key");
	sni_init(&t, 0, "a.example", "sni-a.crt", "sni-a.key");
	sni_init(&t, 1, "*.w.example", "sni-w.crt", "sni-w.key");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert(served_cn(ctx, sni_cases[_i].sni, cn, sizeof(cn)));
	ck_assert_str_eq(cn, sni_cases[_i].cn);
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/*
 * Each pair judged as tls.cert is, and named by its place in tls.sni: the
 * error is <pre>, the path of the pair's cert (or key, with <bykey>), then
 * <post>.
 */
static const struct {
	const char	*name, *cert, *key;
	const char	*pre;
	bool		 bykey;
	const char	*post;
	bool		 insecure_ok;	/* allow_insecure lets it through */
} sni_refused[] = {
	{ "rsa1024", "rsa1024.crt", "rsa1024.key", "tls.sni[1].cert ", false,
	    ": RSA key of 1024 bits (at least 2048); set tls.allow_insecure: "
	    "true to accept it anyway", true },
	{ "expired", "expired.crt", "expired.key", "tls.sni[1].cert ", false,
	    ": expired on", true },
	{ "good", "good.crt", "other.key", "tls.sni[1].key ", true,
	    " does not match tls.sni[1].cert", false },
	{ "b.example", "sni-a.crt", "sni-a.key", "tls.sni[1].cert ", false,
	    " is not valid for b.example (no such DNS name in its "
	    "subjectAltName)", false },
	{ "*.v.example", "sni-w.crt", "sni-w.key", "tls.sni[1].cert ", false,
	    " is not valid for *.v.example", false },
	{ "*.example", "sni-w.crt", "sni-w.key", "tls.sni[1].cert ", false,
	    " is not valid for *.example", false },
};

START_TEST(ctx_sni_refused)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", want[512], cn[64];

	tls_init(&t, "good.crt", "good.key");
	sni_init(&t, 0, "a.example", "sni-a.crt", "sni-a.key");
	sni_init(&t, 1, sni_refused[_i].name, sni_refused[_i].cert,
	    sni_refused[_i].key);
	snprintf(want, sizeof(want), "%s%s%s", sni_refused[_i].pre,
	    f(sni_refused[_i].bykey ? sni_refused[_i].key :
	    sni_refused[_i].cert), sni_refused[_i].post);
	ck_assert_ptr_null(tls_server_ctx_new(&t, err, sizeof(err)));
	ck_assert_msg(strstr(err, want) != NULL, "%s\nwant: %s", err, want);
	/* allow_insecure accepts a weak pair, and serves it. */
	t.allow_insecure = true;
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_int_eq(ctx != NULL, sni_refused[_i].insecure_ok);
	if (ctx != NULL) {
		/* A weak pair lowers its own security level, no other. */
		ck_assert_int_eq(SSL_CTX_get_security_level(ctx), 2);
		ck_assert(served_cn(ctx, sni_refused[_i].name, cn,
		    sizeof(cn)));
		ck_assert_str_eq(cn, sni_refused[_i].name);
		ck_assert(served_cn(ctx, "a.example", cn, sizeof(cn)));
		ck_assert_str_eq(cn, "sni-a");
	}
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/* What the reload log says: every certificate, in order, then the end. */
START_TEST(ctx_cert_info)
{
	struct policy_tls	 t;
	SSL_CTX			*ctx;
	char			 err[512] = "", info[512];

	tls_init(&t, "good.crt", "good.key");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(tls_ctx_cert_info(ctx, 0, info, sizeof(info)), 0);
	ck_assert_msg(strncmp(info, "default: subject /CN=good, serial ",
	    34) == 0, "%s", info);
	ck_assert_ptr_nonnull(strstr(info, ", expires 2"));
	ck_assert_int_eq(tls_ctx_cert_info(ctx, 1, info, sizeof(info)), -1);
	SSL_CTX_free(ctx);

	sni_init(&t, 0, "a.example", "sni-a.crt", "sni-a.key");
	sni_init(&t, 1, "*.w.example", "sni-w.crt", "sni-w.key");
	ctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(tls_ctx_cert_info(ctx, 1, info, sizeof(info)), 0);
	ck_assert_msg(strncmp(info, "a.example: subject /CN=sni-a, ", 30) ==
	    0, "%s", info);
	ck_assert_int_eq(tls_ctx_cert_info(ctx, 2, info, sizeof(info)), 0);
	ck_assert_msg(strncmp(info, "*.w.example: subject /CN=sni-w, ", 32) ==
	    0, "%s", info);
	ck_assert_int_eq(tls_ctx_cert_info(ctx, 3, info, sizeof(info)), -1);
	SSL_CTX_free(ctx);
	tls_fini(&t);
}
END_TEST

/* ---- the upstream client context --------------------------------------- */

/* The broker (sni-a: a.example, 127.0.0.1) checked by CA and by name. */
static const struct {
	const char	*ca;
	const char	*name;
	const char	*verify;	/* NULL: accepted */
} up_cases[] = {
	{ "ca.crt", "a.example", NULL },
	{ "ca.crt", "A.EXAMPLE", NULL },
	{ "ca.crt", "127.0.0.1", NULL },
	{ "ca.crt", "b.example", "hostname mismatch" },
	{ "ca.crt", "127.0.0.2", "IP address mismatch" },
	{ "ca.crt", "example", "hostname mismatch" },
	{ "other-ca.crt", "a.example",
	    "unable to get local issuer certificate" },
	{ "both-ca.crt", "a.example", NULL },
};

START_TEST(client_ctx_verify)
{
	struct policy_upstream	 u;
	struct policy_tls	 t;
	SSL_CTX			*cctx, *sctx;
	SSL			*c, *s;
	char			 err[512] = "", buf[256];
	const char		*why, *sni;
	bool			 ip = strspn(up_cases[_i].name,
				    "0123456789.") == strlen(up_cases[_i].name);

	memset(&u, 0, sizeof(u));
	u.tls = true;
	snprintf(u.ca, sizeof(u.ca), "%s", f(up_cases[_i].ca));
	cctx = tls_client_ctx_new(&u, err, sizeof(err));
	ck_assert_msg(cctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(cctx), TLS1_2_VERSION);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(cctx), SSL_VERIFY_PEER);
	tls_init(&t, "sni-a.crt", "sni-a.key");
	sctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(sctx != NULL, "%s", err);
	c = tls_client_ssl_new(cctx, up_cases[_i].name);
	s = SSL_new(sctx);
	ck_assert(c != NULL && s != NULL);
	ck_assert_int_eq(run_handshake(c, s), up_cases[_i].verify == NULL);
	why = tls_connect_error(c, ERR_peek_last_error(), buf, sizeof(buf));
	if (up_cases[_i].verify == NULL) {
		ck_assert_ptr_null(why);
		/* After the handshake (TLS 1.3: a refused certificate). */
		ck_assert_str_eq(tls_connect_error(c, ERR_PACK(ERR_LIB_SSL, 0,
		    SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED), buf,
		    sizeof(buf)), "TLS error: tlsv13 alert certificate "
		    "required");
		/* A name goes as SNI, an address does not (RFC 6066). */
		sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
		if (ip)
			ck_assert_ptr_null(sni);
		else
			ck_assert_str_eq(sni, up_cases[_i].name);
	} else {
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(strstr(why, "TLS handshake failed: certificate "
		    "verify failed: ") == why && strstr(why,
		    up_cases[_i].verify) != NULL, "%s", why);
	}
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	tls_fini(&t);
}
END_TEST

/* Our client certificate reaches a broker that asks for one. */
START_TEST(client_ctx_cert)
{
	struct policy_upstream	 u;
	struct policy_tls	 t;
	SSL_CTX			*cctx, *sctx;
	SSL			*c, *s;
	char			 err[512] = "", id[64];

	memset(&u, 0, sizeof(u));
	u.tls = true;
	snprintf(u.ca, sizeof(u.ca), "%s", f("ca.crt"));
	snprintf(u.cert, sizeof(u.cert), "%s", f("good.crt"));
	snprintf(u.key, sizeof(u.key), "%s", f("good.key"));
	cctx = tls_client_ctx_new(&u, err, sizeof(err));
	ck_assert_msg(cctx != NULL, "%s", err);
	tls_init(&t, "sni-a.crt", "sni-a.key");
	t.ca = strdup(f("ca.crt"));
	sctx = tls_server_ctx_new(&t, err, sizeof(err));
	ck_assert_msg(sctx != NULL, "%s", err);
	c = tls_client_ssl_new(cctx, "a.example");
	s = SSL_new(sctx);
	ck_assert(c != NULL && s != NULL);
	tls_set_verify(s, POLICY_VERIFY_REQUIRE);
	ck_assert(run_handshake(c, s));
	ck_assert_int_eq(tls_peer_identity(s, POLICY_CERT_ID_CN, id,
	    sizeof(id)), 1);
	ck_assert_str_eq(id, "good");
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	tls_fini(&t);
}
END_TEST

/* Refused upstream settings, each naming its key: <pre> <file> <post>. */
static const struct {
	const char	*ca, *cert, *key;
	const char	*pre;
	char		 file;	/* 'a' ca, 'c' cert, 'k' key, 0 none */
	const char	*post;
} up_refused[] = {
	{ "ca.crt", "rsa1024.crt", "rsa1024.key", "upstream.cert ", 'c',
	    ": RSA key of 1024 bits (at least 2048)" },
	{ "ca.crt", "expired.crt", "expired.key", "upstream.cert ", 'c',
	    ": expired on" },
	{ "ca.crt", "good.crt", "other.key", "upstream.key ", 'k',
	    " does not match upstream.cert" },
	{ "ca.crt", "good.crt", "encrypted.key", "upstream.key ", 'k',
	    ": no unencrypted PEM private key" },
	{ "ca.crt", "good.crt", NULL, "upstream.cert and upstream.key go "
	    "together", 0, "" },
	{ "good.key", NULL, NULL, "upstream.ca ", 'a', ": " },
};

START_TEST(client_ctx_refused)
{
	struct policy_upstream	 u;
	char			 err[512] = "", want[PATH_MAX + 512];
	char			 file = up_refused[_i].file;

	memset(&u, 0, sizeof(u));
	u.tls = true;
	snprintf(u.ca, sizeof(u.ca), "%s", f(up_refused[_i].ca));
	if (up_refused[_i].cert != NULL)
		snprintf(u.cert, sizeof(u.cert), "%s", f(up_refused[_i].cert));
	if (up_refused[_i].key != NULL)
		snprintf(u.key, sizeof(u.key), "%s", f(up_refused[_i].key));
	snprintf(want, sizeof(want), "%s%s%s", up_refused[_i].pre,
	    file == 'a' ? u.ca : file == 'c' ? u.cert : file == 'k' ? u.key :
	    "", up_refused[_i].post);
	ck_assert_ptr_null(tls_client_ctx_new(&u, err, sizeof(err)));
	ck_assert_msg(strstr(err, want) != NULL, "%s\nwant: %s", err, want);
}
END_TEST

START_TEST(client_ssl_args)
{
	struct policy_upstream	 u;
	SSL_CTX			*cctx;
	char			 err[512] = "", buf[128];

	memset(&u, 0, sizeof(u));
	u.tls = true;	/* no ca: the system's store */
	cctx = tls_client_ctx_new(&u, err, sizeof(err));
	ck_assert_msg(cctx != NULL, "%s", err);
	ck_assert_ptr_null(tls_client_ssl_new(cctx, NULL));
	ck_assert_ptr_null(tls_client_ssl_new(cctx, ""));
	/* Nothing to say about a plain socket error, nor about an
	 * SSL_get_error() code libevent recorded for one. */
	ck_assert_ptr_null(tls_connect_error(NULL, 0, buf, sizeof(buf)));
	ck_assert_ptr_null(tls_connect_error(NULL, SSL_ERROR_SYSCALL, buf,
	    sizeof(buf)));
	/* An alert, and a system error: each has its text. */
	ck_assert_str_eq(tls_connect_error(NULL, ERR_PACK(ERR_LIB_SSL, 0,
	    SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED), buf, sizeof(buf)),
	    "TLS handshake failed: tlsv13 alert certificate required");
	ERR_raise(ERR_LIB_SYS, ECONNRESET);
	ck_assert_str_eq(tls_connect_error(NULL, ERR_get_error(), buf,
	    sizeof(buf)), "TLS handshake failed: Connection reset by peer");
	SSL_CTX_free(cctx);
}
END_TEST

/* ---- tls.watch: the files' stamp ------------------------------------- */

static void
copy_file(const char *from, const char *to)
{
	char	 buf[8192];
	size_t	 n;
	FILE	*in = fopen(from, "r"), *out = fopen(to, "w");

	ck_assert(in != NULL && out != NULL);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

START_TEST(files_stamp)
{
	struct policy		*p = policy_new();
	struct timespec		 ts[2] = { { 1000, 0 }, { 1000, 0 } };
	uint64_t		 a, b;

	ck_assert_ptr_nonnull(p);
	copy_file(f("good.crt"), f("stamp.pem"));
	ck_assert_int_eq(policy_add_file(p, f("stamp.pem")), 0);
	ck_assert_int_eq(policy_add_file(p, f("stamp.pem")), 0);
	ck_assert_uint_eq(p->n_files, 1);		/* once each */
	a = policy_files_stamp(p);
	ck_assert_uint_eq(policy_files_stamp(p), a);
	/* A new date, then a file renamed over it (how editors save). */
	ck_assert_int_eq(utimensat(AT_FDCWD, f("stamp.pem"), ts, 0), 0);
	b = policy_files_stamp(p);
	ck_assert_uint_ne(a, b);
	copy_file(f("good.crt"), f("stamp.new"));
	ck_assert_int_eq(utimensat(AT_FDCWD, f("stamp.new"), ts, 0), 0);
	ck_assert_int_eq(rename(f("stamp.new"), f("stamp.pem")), 0);
	ck_assert_uint_ne(policy_files_stamp(p), b);
	/* A Kubernetes mount: a link swapped to another directory. */
	ck_assert_int_eq(mkdir(f("v1"), 0700), 0);
	ck_assert_int_eq(mkdir(f("v2"), 0700), 0);
	copy_file(f("good.crt"), f("v1/c.pem"));
	copy_file(f("good.crt"), f("v2/c.pem"));
	ck_assert_int_eq(utimensat(AT_FDCWD, f("v1/c.pem"), ts, 0), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, f("v2/c.pem"), ts, 0), 0);
	ck_assert_int_eq(symlink("v1", f("data")), 0);
	ck_assert_int_eq(policy_add_file(p, f("data/c.pem")), 0);
	a = policy_files_stamp(p);
	ck_assert_int_eq(symlink("v2", f("data.tmp")), 0);
	ck_assert_int_eq(rename(f("data.tmp"), f("data")), 0);
	ck_assert_uint_ne(policy_files_stamp(p), a);
	/* A missing file counts. */
	b = policy_files_stamp(p);
	unlink(f("stamp.pem"));
	ck_assert_uint_ne(policy_files_stamp(p), b);
	policy_unref(p);
}
END_TEST

/* ---- the tls section of the policy file ------------------------------ */

START_TEST(config_defaults)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/valid-minimal.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_int_eq(p->tls.profile, POLICY_TLS_INTERMEDIATE);
	ck_assert_int_eq(p->tls.min_version, POLICY_TLS_VERSION_PROFILE);
	ck_assert_str_eq(p->tls.ciphers, "");
	ck_assert_str_eq(p->tls.ciphersuites, "");
	ck_assert_str_eq(p->tls.groups, "");
	ck_assert_uint_eq(p->tls.n_crl, 0);
	ck_assert_int_eq(p->tls.verify_depth, 4);
	ck_assert(!p->tls.allow_insecure);
	policy_unref(p);
	free(e);
}
END_TEST

START_TEST(config_all_keys)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/tls-valid-all.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_int_eq(p->tls.profile, POLICY_TLS_INTERMEDIATE);
	ck_assert_int_eq(p->tls.min_version, POLICY_TLS_1_2);
	ck_assert_str_eq(p->tls.ciphers,
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384");
	ck_assert_str_eq(p->tls.ciphersuites,
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	ck_assert_str_eq(p->tls.groups, "P-384:X25519");
	ck_assert_uint_eq(p->tls.n_crl, 2);
	ck_assert_str_eq(p->tls.crl[0], "test/data/readable.pem");
	ck_assert_str_eq(p->tls.crl[1], "test/data/./readable.pem");
	ck_assert_int_eq(p->tls.verify_depth, 2);
	ck_assert(!p->tls.allow_insecure);
	policy_unref(p);
	free(e);
}
END_TEST

START_TEST(config_modern)
{
	struct config_errors	*e;
	struct policy		*p;

	p = tu_load("test/data/tls-valid-modern.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_int_eq(p->tls.profile, POLICY_TLS_MODERN);
	ck_assert_uint_eq(p->tls.n_crl, 1);	/* a string, not a list */
	ck_assert_str_eq(p->tls.crl[0], "test/data/readable.pem");
	ck_assert_int_eq(p->tls.verify_depth, 0);
	policy_unref(p);
	free(e);
}
END_TEST

/* Weak, but allowed: the loader accepts it (the context will warn). */
START_TEST(config_allow_insecure)
{
	struct config_errors	*e;
	struct policy		*p = tu_load(
	    "test/data/tls-valid-insecure.yaml", 0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(p->tls.allow_insecure);
	ck_assert_int_eq(p->tls.min_version, POLICY_TLS_1_0);
	ck_assert_str_eq(p->tls.ciphers, "HIGH:@SECLEVEL=0");
	policy_unref(p);
	free(e);
}
END_TEST

/* SNI entries, watch and upstream TLS as the loader leaves them. */
START_TEST(config_sni_upstream)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/tls-valid-sni.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(p->tls.n_sni, 2);
	ck_assert_str_eq(p->tls.sni[0].name, "broker-a.example");
	ck_assert_str_eq(p->tls.sni[0].cert, "test/data/readable.pem");
	ck_assert_str_eq(p->tls.sni[0].key, "test/data/readable.pem");
	ck_assert_int_eq(p->tls.sni[0].line, 9);
	ck_assert_str_eq(p->tls.sni[1].name, "*.fleet.example");
	ck_assert_str_eq(p->tls.sni[1].cert, "test/data/./readable.pem");
	ck_assert(p->tls.watch);
	ck_assert(p->upstream.tls);
	ck_assert_str_eq(p->upstream.ca, "test/data/readable.pem");
	ck_assert_str_eq(p->upstream.server_name, "mqtt.internal");
	ck_assert_str_eq(p->upstream.cert, "test/data/readable.pem");
	ck_assert_str_eq(p->upstream.key, "test/data/readable.pem");
	policy_unref(p);
	free(e);

	/* Defaults: no SNI, no watch, plain upstream. */
	p = tu_load("test/data/valid-minimal.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(p->tls.n_sni, 0);
	ck_assert(!p->tls.watch);
	ck_assert(!p->upstream.tls);
	ck_assert_str_eq(p->upstream.server_name, "");
	policy_unref(p);
	free(e);

	/* upstream.tls alone: the system's CAs, checked as the host. */
	p = tu_load("test/data/tls-valid-upstream.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(p->upstream.tls);
	ck_assert_str_eq(p->upstream.ca, "");
	ck_assert_str_eq(p->upstream.server_name, "broker.internal");
	ck_assert_str_eq(p->upstream.cert, "");
	policy_unref(p);
	free(e);
}
END_TEST

/* Every invalid tls file: how many errors, and the first one, exactly. */
#define FIX	"; use ECDHE with AES-GCM or ChaCha20-Poly1305, or set " \
		"tls.allow_insecure: true"
static const struct {
	const char	*file;
	size_t		 n;
	const char	*first;
} bad[] = {
	{ "tls-bad-min-version-weak", 1, "7:16: tls.min_version: TLS 1.0 is "
	    "deprecated and insecure (RFC 8996); use 1.2 or 1.3, or set "
	    "tls.allow_insecure: true" },
	{ "tls-bad-min-version-11", 1, "7:16: tls.min_version: TLS 1.1 is "
	    "deprecated and insecure (RFC 8996); use 1.2 or 1.3, or set "
	    "tls.allow_insecure: true" },
	{ "tls-bad-min-version-value", 1, "7:16: tls.min_version: \"1.4\" is "
	    "not one of: 1.0, 1.1, 1.2, 1.3" },
	{ "tls-bad-min-version-modern", 1, "8:16: tls.min_version: "
	    "contradicts profile modern (TLS 1.3 only): remove one of them" },
	{ "tls-bad-profile", 1, "7:12: tls.profile: \"old\" is not one of: "
	    "intermediate, modern" },
	{ "tls-bad-ciphers-not-aead", 1, "7:12: tls.ciphers: enables weak "
	    "suite ECDHE-RSA-AES128-SHA (not AEAD)" FIX },
	{ "tls-bad-ciphers-not-fs", 1, "7:12: tls.ciphers: enables weak suite "
	    "AES256-GCM-SHA384 (not forward secret)" FIX },
	{ "tls-bad-ciphers-anonymous", 1, "7:12: tls.ciphers: enables weak "
	    "suite ADH-AES128-GCM-SHA256 (anonymous)" FIX },
	{ "tls-bad-ciphers-null", 1, "7:12: tls.ciphers: enables weak suite "
	    "ECDHE-ECDSA-NULL-SHA (no encryption, not AEAD)" FIX },
	{ "tls-bad-ciphers-rc4", 1, "7:12: tls.ciphers: \"RC4-SHA\" enables "
	    "no TLS 1.2 cipher suite this OpenSSL offers" },
	{ "tls-bad-ciphers-seclevel", 1, "7:12: tls.ciphers: lowers OpenSSL's "
	    "security level to 0 (at least 2)" FIX },
	{ "tls-bad-ciphers-unknown", 1, "7:12: tls.ciphers: "
	    "\"ECDHE-RSA-AES128-GCM-SHA512\" enables no TLS 1.2 cipher suite "
	    "this OpenSSL offers" },
	{ "tls-bad-ciphers-modern", 1, "8:12: tls.ciphers: only applies to "
	    "TLS 1.2, which profile modern turns off: remove it" },
	{ "tls-bad-ciphers-list", 1, "8:5: tls.ciphers: expected a "
	    "colon-separated list such as \"A:B\", got a YAML list" },
	{ "tls-bad-ciphersuites", 1, "7:17: tls.ciphersuites: "
	    "\"TLS_AES_128_CBC_SHA256\" is not a list of TLS 1.3 cipher suites "
	    "this OpenSSL offers (e.g. TLS_AES_128_GCM_SHA256)" },
	{ "tls-bad-groups", 1, "7:11: tls.groups: \"X25519:P-999\" is not a "
	    "list of groups this OpenSSL offers (e.g. X25519:P-256)" },
	{ "tls-bad-verify-depth", 1, "7:17: tls.verify_depth: 17 is out of "
	    "range (0..16)" },
	{ "tls-bad-allow-insecure", 1, "7:19: tls.allow_insecure: expected "
	    "true or false, got \"yes\"" },
	{ "tls-bad-crl-missing", 1, "8:8: tls.crl: test/data/no-such.crl: "
	    "No such file or directory" },
	{ "tls-bad-crl-empty", 1, "8:8: tls.crl: expected 1 to 4 CRL files" },
	{ "tls-bad-crl-too-many", 1, "8:8: tls.crl: expected 1 to 4 CRL "
	    "files" },
	{ "tls-bad-crl-item", 1, "10:7: tls.crl[1]: expected a single value, "
	    "got a mapping" },
	{ "tls-bad-crl-without-ca", 1, "7:8: tls.crl: needs tls.ca, the CA "
	    "whose revocations it lists" },
	{ "tls-bad-many", 3, "8:16: tls.min_version: TLS 1.1 is deprecated "
	    "and insecure (RFC 8996); use 1.2 or 1.3, or set "
	    "tls.allow_insecure: true" },
	{ "tls-bad-sni-not-list", 1, "8:8: tls.sni: expected a list of "
	    "{name, cert, key}" },
	{ "tls-bad-sni-name", 2, "9:14: tls.sni[0].name: \"broker_a.example\" "
	    "is not a DNS name (or *.<domain>)" },
	{ "tls-bad-sni-wildcard", 1, "9:14: tls.sni[0].name: \"*.example\": a "
	    "wildcard needs a domain of at least two labels, as "
	    "*.example.com" },
	{ "tls-bad-sni-ip", 1, "9:14: tls.sni[0].name: \"192.0.2.1\" is an IP "
	    "address: clients send host names only (RFC 6066)" },
	{ "tls-bad-sni-duplicate", 1, "10:14: tls.sni[1].name: \"a.example\" "
	    "is already in tls.sni[0] (line 9)" },
	{ "tls-bad-sni-missing-key", 1, "9:7: tls.sni[0].key: required key is "
	    "missing" },
	{ "tls-bad-sni-too-many", 1, "9:5: tls.sni: expected 1 to 16 "
	    "entries" },
	{ "tls-bad-watch", 1, "8:10: tls.watch: expected true or false, got "
	    "\"yes\"" },
	{ "tls-bad-upstream-without-tls", 1, "9:7: upstream.ca: needs "
	    "upstream.tls: true (the broker is reached in plain TCP "
	    "otherwise)" },
	{ "tls-bad-upstream-cert-without-key", 1, "10:9: upstream.cert: needs "
	    "upstream.key too" },
	{ "tls-bad-upstream-server-name", 1, "10:16: upstream.server_name: "
	    "\"broker name\" is not a DNS name" },
};

START_TEST(config_invalid)
{
	char	path[128], want[CONFIG_ERROR_LEN];

	snprintf(path, sizeof(path), "test/data/%s.yaml", bad[_i].file);
	snprintf(want, sizeof(want), "%s:%s", path, bad[_i].first);
	tu_load_refused(path, 0, bad[_i].n, want);
}
END_TEST

/* Every error of the section is reported, each at its own place. */
START_TEST(config_every_error)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/tls-bad-many.yaml",
	    0, &e);

	ck_assert_ptr_null(p);
	ck_assert_uint_eq(e->n, 3);
	ck_assert_str_eq(e->msg[1], "test/data/tls-bad-many.yaml:9:12: "
	    "tls.ciphers: enables weak suite AES128-SHA (not AEAD, not forward "
	    "secret)" FIX);
	ck_assert_str_eq(e->msg[2], "test/data/tls-bad-many.yaml:10:8: "
	    "tls.crl: needs tls.ca, the CA whose revocations it lists");
	free(e);
}
END_TEST

Suite *
tls_suite(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tc;

	tc = tcase_create("settings");
	tcase_add_loop_test(tc, version_check, 0,
	    (int)(sizeof(versions) / sizeof(versions[0])));
	tcase_add_loop_test(tc, ciphers_check, 0,
	    (int)(sizeof(ciphers) / sizeof(ciphers[0])));
	tcase_add_loop_test(tc, ciphersuites_check, 0,
	    (int)(sizeof(suites) / sizeof(suites[0])));
	tcase_add_loop_test(tc, groups_check, 0,
	    (int)(sizeof(groups) / sizeof(groups[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, cert_check, 0,
	    (int)(sizeof(certs) / sizeof(certs[0])));
	tcase_add_test(tc, cert_check_every_flaw);
	tcase_add_loop_test(tc, cert_key_mode, 0,
	    sizeof(key_modes) / sizeof(key_modes[0]));
	tcase_add_test(tc, ctx_defaults);
	tcase_add_test(tc, ctx_handshake_timed);
	tcase_add_test(tc, ctx_modern);
	tcase_add_test(tc, ctx_intermediate_explicit);
	tcase_add_loop_test(tc, ctx_refuses_weak, 0,
	    (int)(sizeof(refused) / sizeof(refused[0])));
	tcase_add_test(tc, ctx_allow_insecure);
	tcase_add_loop_test(tc, ctx_alpn, 0,
	    (int)(sizeof(alpn) / sizeof(alpn[0])));
	tcase_add_loop_test(tc, ctx_crl, 0,
	    (int)(sizeof(crls) / sizeof(crls[0])));
	tcase_add_loop_test(tc, ctx_sni, 0,
	    (int)(sizeof(sni_cases) / sizeof(sni_cases[0])));
	tcase_add_loop_test(tc, ctx_sni_refused, 0,
	    (int)(sizeof(sni_refused) / sizeof(sni_refused[0])));
	tcase_add_test(tc, ctx_cert_info);
	tcase_add_loop_test(tc, client_ctx_verify, 0,
	    (int)(sizeof(up_cases) / sizeof(up_cases[0])));
	tcase_add_test(tc, client_ctx_cert);
	tcase_add_loop_test(tc, client_ctx_refused, 0,
	    (int)(sizeof(up_refused) / sizeof(up_refused[0])));
	tcase_add_test(tc, client_ssl_args);
	tcase_add_test(tc, files_stamp);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_test(tc, config_defaults);
	tcase_add_test(tc, config_all_keys);
	tcase_add_test(tc, config_modern);
	tcase_add_test(tc, config_allow_insecure);
	tcase_add_test(tc, config_sni_upstream);
	tcase_add_loop_test(tc, config_invalid, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, config_every_error);
	suite_add_tcase(s, tc);
	return s;
}
