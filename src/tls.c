/* SPDX-License-Identifier: ISC */
/*
 * tls — server contexts from the policy, and the judge of TLS settings.
 *
 * The floor is set here, whatever the policy says: TLS 1.2 minimum (1.3
 * preferred, as OpenSSL negotiates the highest both sides have), TLS 1.2
 * suites forward secret with AEAD only (ECDHE by default), OpenSSL
 * security level 2 at least, no compression, no renegotiation, the
 * server's cipher preference.  A policy may ask for less only with
 * allow_insecure.  Weakness is judged on what OpenSSL would really do (the
 * suites a cipher string enables, the key's size, the dates), never on how
 * a setting is spelled.
 *
 * Session resumption is off (no tickets, no session cache): MQTT
 * connections live for hours, so a full handshake per connection costs
 * little, while a resumed session would skip the CRL and client-certificate
 * checks and a ticket key would be a long-lived secret weakening forward
 * secrecy.  ALPN: "mqtt" is selected when offered ("http/1.1" on a
 * WebSocket listener's connection); a client offering only other
 * protocols is refused with no_application_protocol (RFC 7301), one
 * offering none is served.
 *
 * SNI (RFC 6066): each tls.sni pair gets a context of its own, built and
 * judged exactly as the default one, and the default context holds them
 * (ex_data, freed with it).  Its servername callback moves a connection to
 * the pair's context with SSL_set_SSL_CTX(), which takes a reference: a
 * connection keeps the context it was served from whatever happens to the
 * table later.  An unknown name, or none, gets the default certificate.
 *
 * The upstream (client) context verifies the broker: its CA, its name
 * (SSL_set1_host, or the IP address), TLS 1.2 at least with the same
 * suites as the default server profile.  Its own certificate, if any, is
 * judged as the server's, without allow_insecure: nobody asks us to show a
 * weak key to our own broker.
 *
 * Every server context times its handshakes (handshake_timer()): the
 * calling thread's running totals, read by its loop's accept path
 * (tls_handshake_time()), which sizes the handshake budget with them.
 *
 * Set-up code, called at start, on reload (SIGHUP, tls.watch) and by -t:
 * it logs one thing, the weak settings allow_insecure lets through,
 * because they must be said whenever a context is built and this is where
 * they are known.  Everything else goes back to the caller in an error
 * buffer.  The private key is read twice, once to judge it and once into
 * the context; it never leaves OpenSSL.  Nothing here knows MQTT beyond
 * its ALPN id.  Contexts are built on one thread and then only read (and
 * reference counted) by the workers, as OpenSSL allows.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mqttguard/log.h"
#include "mqttguard/tls.h"
#include "mqttguard/util.h"

/* OpenSSL's security level 2: 112-bit keys, no SHA-1 signatures. */
#define TLS_SECLEVEL_FLOOR	2
/* Settings tls_server_ctx_new() judges: version, two lists, groups. */
#define TLS_SETTINGS		4
/* And the certificate pairs: the default one, then each tls.sni. */
#define TLS_JUDGED		(TLS_SETTINGS + 1 + POLICY_TLS_SNI_MAX)
/* A label that no configured name is: probes what a wildcard covers. */
#define TLS_SNI_PROBE		"mqttguard-sni-probe"

/*
 * The SNI table of a default context: names in the order of tls.sni, each
 * with its context (a reference), freed with the default context.
 */
struct tls_sni {
	size_t	 n;
	struct {
		char	 name[POLICY_TLS_NAME_MAX];	/* lower case */
		SSL_CTX	*ctx;				/* ref */
	} e[POLICY_TLS_SNI_MAX];
};

static pthread_once_t	sni_once = PTHREAD_ONCE_INIT;
static int		sni_index = -1;	/* ex_data slot of struct tls_sni */
static pthread_once_t	ws_once = PTHREAD_ONCE_INIT;
static int		ws_index = -1;	/* SSL ex_data: a WebSocket's */

static int	no_passphrase(char *, int, int, void *);
static void	add_reason(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	cipher_flaws(const SSL_CIPHER *, char *, size_t);
static void	time_text(const ASN1_TIME *, char *, size_t);
static int	proto_version(const struct policy_tls *);
static enum tls_verdict cert_judge(const char *, const char *,
		    const char *, time_t, char *, size_t, int *);
static int	judge(const struct policy_tls *, enum tls_verdict,
		    const char *, const char *, char *, size_t);
static int	judge_all(const struct policy_tls *, time_t, int *, char *,
		    size_t);
static int	load_pair(SSL_CTX *, const char *, const char *,
		    const char *, char *, size_t);
static int	ctx_settings(SSL_CTX *, const struct policy_tls *, int, int);
static int	build_chain(SSL_CTX *);
static int	ctx_verify(SSL_CTX *, const struct policy_tls *, time_t, char *,
		    size_t);
static SSL_CTX	*server_ctx_build(const struct policy_tls *, const char *,
		    const char *, const char *, int, int, time_t, char *,
		    size_t);
static void	sni_index_new(void);
static void	sni_free(void *, void *, CRYPTO_EX_DATA *, int, long,
		    void *);
static int	sni_attach(SSL_CTX *, const struct policy_tls *, int,
		    const int *, time_t, char *, size_t);
static SSL_CTX	*sni_find(const struct tls_sni *, const char *);
static int	sni_select(SSL *, int *, void *);
static X509	*crl_issuer(X509_STORE *, X509_CRL *);
static int	crl_load(SSL_CTX *, const char *, time_t, char *, size_t);
static int	crl_all(SSL_CTX *, const struct policy_tls *, time_t, char *,
		    size_t);
static void	ws_index_new(void);
static int	alpn_select(SSL *, const unsigned char **, unsigned char *,
		    const unsigned char *, unsigned int, void *);
static int	copy_text(const unsigned char *, int, char *, size_t);
static void	handshake_timer(const SSL *, int, int);
static void	hello_wait(const SSL *);
static uint64_t	mono_ns(void);

/*
 * The handshakes of this thread: when the call working on one began (0:
 * none is), and what tls_handshake_stats() hands out.
 */
static _Thread_local uint64_t	hs_began;
static _Thread_local struct tls_hs_stats hs_st = { 0, 0, UINT32_MAX };

const char *
tls_error_str(char *buf, size_t len, const char *fallback)
{
	unsigned long	e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "%s", fallback);
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse it. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Appends one reason to <buf>, separated by ", ". */
static void
add_reason(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	size_t	n = strlen(buf);

	if (n > 0 && n + 2 < len) {
		memcpy(buf + n, ", ", 3);
		n += 2;
	}
	if (n >= len)
		return;
	va_start(ap, fmt);
	util_verrf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

enum tls_verdict
tls_version_check(enum policy_tls_version v, char *why, size_t len)
{
	switch (v) {
	case POLICY_TLS_VERSION_PROFILE:
	case POLICY_TLS_1_2:
	case POLICY_TLS_1_3:
		return TLS_OK;
	case POLICY_TLS_1_0:
	case POLICY_TLS_1_1:
		util_errf(why, len, "TLS 1.%d is deprecated and insecure "
		    "(RFC 8996); use 1.2 or 1.3", v == POLICY_TLS_1_0 ? 0 : 1);
		return TLS_WEAK;
	}
	util_errf(why, len, "unknown TLS version %d", (int)v);
	return TLS_INVALID;
}

/*
 * What is wrong with one TLS 1.2 suite, as ", "-separated reasons in <buf>
 * (empty when nothing is).  OpenSSL's key exchange, authentication and
 * cipher NIDs decide, not the suite's name, so an alias or a suite added
 * by a later OpenSSL is judged the same way.
 */
static void
cipher_flaws(const SSL_CIPHER *c, char *buf, size_t len)
{
	int	nid = SSL_CIPHER_get_cipher_nid(c);
	int	kx = SSL_CIPHER_get_kx_nid(c);
	int	bits, alg;

	buf[0] = '\0';
	bits = SSL_CIPHER_get_bits(c, &alg);
	if (nid == NID_undef)
		add_reason(buf, len, "no encryption");
	else if (nid == NID_rc4)
		add_reason(buf, len, "RC4");
	else if (nid == NID_des_cbc || nid == NID_des_ede3_cbc)
		add_reason(buf, len, "DES or 3DES");
	else if (bits < 128)
		add_reason(buf, len, "a %d-bit key", bits);
	if (!SSL_CIPHER_is_aead(c))
		add_reason(buf, len, "not AEAD");
	if (SSL_CIPHER_get_auth_nid(c) == NID_auth_null)
		add_reason(buf, len, "anonymous");
	if (kx != NID_kx_ecdhe && kx != NID_kx_dhe && kx != NID_kx_ecdhe_psk &&
	    kx != NID_kx_dhe_psk)
		add_reason(buf, len, "not forward secret");
}

enum tls_verdict
tls_ciphers_check(const char *list, char *why, size_t len)
{
	STACK_OF(SSL_CIPHER)	*sk;
	const SSL_CIPHER	*c;
	SSL_CTX			*ctx;
	enum tls_verdict	 v = TLS_OK;
	char			 flaws[128];
	int			 i, level, weak = 0;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		util_errf(why, len, "out of memory");
		ERR_clear_error();
		return TLS_INVALID;
	}
	/* From the floor, so a lower @SECLEVEL in <list> shows. */
	SSL_CTX_set_security_level(ctx, TLS_SECLEVEL_FLOOR);
	if (!SSL_CTX_set_cipher_list(ctx, list)) {
		util_errf(why, len, "\"%s\" enables no TLS 1.2 cipher suite "
		    "this OpenSSL offers", list);
		v = TLS_INVALID;
		goto done;
	}
	sk = SSL_CTX_get_ciphers(ctx);
	for (i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		c = sk_SSL_CIPHER_value(sk, i);
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any)
			continue;	/* TLS 1.3: tls.ciphersuites */
		cipher_flaws(c, flaws, sizeof(flaws));
		if (flaws[0] != '\0' && weak++ == 0)
			util_errf(why, len, "enables weak suite %s (%s)",
			    SSL_CIPHER_get_name(c), flaws);
	}
	level = SSL_CTX_get_security_level(ctx);
	if (weak > 1) {
		size_t	n = strlen(why);

		util_errf(why + n, len - n, " and %d more", weak - 1);
	}
	if (weak > 0)
		v = TLS_WEAK;
	else if (level < TLS_SECLEVEL_FLOOR) {
		util_errf(why, len, "lowers OpenSSL's security level to %d "
		    "(at least %d)", level, TLS_SECLEVEL_FLOOR);
		v = TLS_WEAK;
	}
done:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return v;
}

enum tls_verdict
tls_ciphersuites_check(const char *list, char *why, size_t len)
{
	SSL_CTX			*ctx;
	enum tls_verdict	 v = TLS_OK;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		util_errf(why, len, "out of memory");
		v = TLS_INVALID;
	} else if (*list == '\0' || !SSL_CTX_set_ciphersuites(ctx, list) ||
	    sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(ctx)) == 0) {
		util_errf(why, len, "\"%s\" is not a list of TLS 1.3 cipher "
		    "suites this OpenSSL offers (e.g. TLS_AES_128_GCM_SHA256)",
		    list);
		v = TLS_INVALID;
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return v;
}

enum tls_verdict
tls_groups_check(const char *list, char *why, size_t len)
{
	SSL_CTX			*ctx;
	enum tls_verdict	 v = TLS_OK;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		util_errf(why, len, "out of memory");
		v = TLS_INVALID;
	} else if (!SSL_CTX_set1_groups_list(ctx, list)) {
		util_errf(why, len, "\"%s\" is not a list of groups this "
		    "OpenSSL offers (e.g. X25519:P-256)", list);
		v = TLS_INVALID;
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return v;
}

/* <t> as "2020-01-02 00:00:00 UTC", or "an unreadable date". */
static void
time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm	tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "an unreadable date");
}

/*
 * tls_cert_check, with the files named as <prefix>.cert and <prefix>.key
 * ("tls", "tls.sni[2]", "upstream"), and the highest OpenSSL security level
 * the key meets in *<keylevel> (when not NULL), which allow_insecure needs
 * to load a weak key at all.
 */
static enum tls_verdict
cert_judge(const char *prefix, const char *certfile, const char *keyfile,
    time_t now, char *why, size_t len, int *keylevel)
{
	static const int	 secbits[] = { 80, 112, 128, 192, 256 };
	BIO			*bio;
	X509			*x = NULL;
	EVP_PKEY		*pk = NULL;
	enum tls_verdict	 v = TLS_INVALID;
	char			 reasons[256], when[40], ebuf[320];
	int			 bits, i;

	reasons[0] = '\0';
	if ((bio = BIO_new_file(certfile, "r")) != NULL)
		x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (x == NULL) {
		util_errf(why, len, "%s.cert %s: no PEM certificate: %s",
		    prefix, certfile, tls_error_str(ebuf, sizeof(ebuf),
		    "cannot read"));
		goto done;
	}
	/* The mode of the file a symlink ends at (a Kubernetes mount). */
	if (util_secret_path_check(keyfile, ebuf, sizeof(ebuf)) == -1) {
		util_errf(why, len, "%s.key %s", prefix, ebuf);
		goto done;
	}
	if ((bio = BIO_new_file(keyfile, "r")) != NULL)
		pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pk == NULL) {
		util_errf(why, len, "%s.key %s: no unencrypted PEM private "
		    "key: %s", prefix, keyfile, tls_error_str(ebuf,
		    sizeof(ebuf), "cannot read"));
		goto done;
	}
	if (X509_check_private_key(x, pk) != 1) {
		util_errf(why, len, "%s.key %s does not match %s.cert %s",
		    prefix, keyfile, prefix, certfile);
		goto done;
	}
	bits = EVP_PKEY_get_bits(pk);
	if ((EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "RSA-PSS") ||
	    EVP_PKEY_is_a(pk, "DSA")) && bits < 2048)
		add_reason(reasons, sizeof(reasons), "%s key of %d bits (at "
		    "least 2048)", EVP_PKEY_is_a(pk, "DSA") ? "DSA" : "RSA",
		    bits);
	else if (EVP_PKEY_is_a(pk, "EC") && bits < 256)
		add_reason(reasons, sizeof(reasons), "EC key of %d bits (at "
		    "least 256)", bits);
	if (X509_cmp_time(X509_get0_notAfter(x), &now) <= 0) {
		time_text(X509_get0_notAfter(x), when, sizeof(when));
		add_reason(reasons, sizeof(reasons), "expired on %s", when);
	} else if (X509_cmp_time(X509_get0_notBefore(x), &now) >= 0) {
		time_text(X509_get0_notBefore(x), when, sizeof(when));
		add_reason(reasons, sizeof(reasons), "not valid before %s",
		    when);
	}
	if (keylevel != NULL) {
		bits = EVP_PKEY_get_security_bits(pk);
		for (i = 0; i < 5 && bits >= secbits[i]; i++)
			;
		*keylevel = i;
	}
	if (reasons[0] != '\0') {
		util_errf(why, len, "%s.cert %s: %s", prefix, certfile,
		    reasons);
		v = TLS_WEAK;
	} else
		v = TLS_OK;
done:
	EVP_PKEY_free(pk);
	X509_free(x);
	ERR_clear_error();
	return v;
}

enum tls_verdict
tls_cert_check(const char *certfile, const char *keyfile, time_t now,
    char *why, size_t len)
{
	return cert_judge("tls", certfile, keyfile, now, why, len, NULL);
}

/* The TLS version constant of the floor <tls> asks for. */
static int
proto_version(const struct policy_tls *tls)
{
	switch (tls->min_version) {
	case POLICY_TLS_1_0:
		return TLS1_VERSION;
	case POLICY_TLS_1_1:
		return TLS1_1_VERSION;
	case POLICY_TLS_1_2:
		return TLS1_2_VERSION;
	case POLICY_TLS_1_3:
		return TLS1_3_VERSION;
	case POLICY_TLS_VERSION_PROFILE:
		break;
	}
	return tls->profile == POLICY_TLS_MODERN ? TLS1_3_VERSION :
	    TLS1_2_VERSION;
}

/*
 * Acts on verdict <v> about <what> (a key name, or NULL when <why> names
 * it): 0 to go on, 1 to go on with a weak setting allowed (the caller logs
 * it once everything is judged), -1 with the refusal in <err>.
 */
static int
judge(const struct policy_tls *tls, enum tls_verdict v, const char *what,
    const char *why, char *err, size_t errlen)
{
	if (v == TLS_OK)
		return 0;
	if (v == TLS_WEAK && tls->allow_insecure)
		return 1;
	util_errf(err, errlen, "%s%s%s%s", what ? what : "", what ? ": " : "",
	    why, v == TLS_WEAK ? "; set tls.allow_insecure: true to accept "
	    "it anyway" : "");
	return -1;
}

/* The certificate of <st> that issued and signed <crl>, or NULL. */
static X509 *
crl_issuer(X509_STORE *st, X509_CRL *crl)
{
	STACK_OF(X509_OBJECT)	*objs = X509_STORE_get0_objects(st);
	X509			*x;
	int			 i;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		if (x != NULL && X509_NAME_cmp(X509_get_subject_name(x),
		    X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1)
			return x;
	}
	ERR_clear_error();
	return NULL;
}

/*
 * Adds every CRL of PEM file <path> to the verification store of <ctx>,
 * each checked now rather than at the first client: signed by a CA of
 * tls.ca, and current at <now> (an expired CRL fails every client).
 */
static int
crl_load(SSL_CTX *ctx, const char *path, time_t now, char *err,
    size_t errlen)
{
	X509_STORE	*st = SSL_CTX_get_cert_store(ctx);
	X509_CRL	*crl;
	BIO		*bio;
	const ASN1_TIME	*next;
	char		 name[256], when[40], ebuf[160];
	int		 n = 0, rc = -1;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		util_errf(err, errlen, "tls.crl %s: %s", path,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot open"));
		return -1;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, no_passphrase,
	    NULL)) != NULL) {
		X509_NAME_oneline(X509_CRL_get_issuer(crl), name, sizeof(name));
		next = X509_CRL_get0_nextUpdate(crl);
		if (crl_issuer(st, crl) == NULL) {
			util_errf(err, errlen, "tls.crl %s: issued by %s, "
			    "which is not a CA in tls.ca (or the signature is "
			    "bad)", path, name);
			goto fail;
		}
		if (next != NULL && X509_cmp_time(next, &now) <= 0) {
			time_text(next, when, sizeof(when));
			util_errf(err, errlen, "tls.crl %s: the CRL of %s "
			    "expired on %s: every client certificate would "
			    "be refused", path, name, when);
			goto fail;
		}
		if (X509_STORE_add_crl(st, crl) != 1) {
			util_errf(err, errlen, "tls.crl %s: %s", path,
			    tls_error_str(ebuf, sizeof(ebuf), "cannot add"));
			goto fail;
		}
		X509_CRL_free(crl);
		n++;
	}
	crl = NULL;
	ERR_clear_error();	/* the end of the file */
	if (n == 0) {
		util_errf(err, errlen, "tls.crl %s: no PEM CRL in the file",
		    path);
		goto fail;
	}
	rc = 0;
fail:
	X509_CRL_free(crl);
	BIO_free(bio);
	return rc;
}

/*
 * Loads every CRL of <tls> and turns revocation checking on for the whole
 * chain.  With X509_V_FLAG_CRL_CHECK_ALL a client certificate is refused
 * when any CA above it has no CRL, so each CA of tls.ca must have one:
 * checked here, where the error can name the CA.
 */
static int
crl_all(SSL_CTX *ctx, const struct policy_tls *tls, time_t now, char *err,
    size_t errlen)
{
	STACK_OF(X509_OBJECT)	*objs;
	X509_OBJECT		*o;
	X509			*ca;
	char			 name[256];
	size_t			 i;
	int			 j, k;

	if (tls->n_crl == 0)
		return 0;
	if (tls->ca == NULL) {
		util_errf(err, errlen, "tls.crl needs tls.ca, the CA whose "
		    "revocations it lists");
		return -1;
	}
	for (i = 0; i < tls->n_crl && i < POLICY_TLS_CRL_MAX; i++)
		if (crl_load(ctx, tls->crl[i], now, err, errlen) == -1)
			return -1;
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	for (j = 0; j < sk_X509_OBJECT_num(objs); j++) {
		if ((ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs,
		    j))) == NULL)
			continue;
		for (k = 0; k < sk_X509_OBJECT_num(objs); k++) {
			o = sk_X509_OBJECT_value(objs, k);
			if (X509_OBJECT_get0_X509_CRL(o) != NULL &&
			    X509_NAME_cmp(X509_get_subject_name(ca),
			    X509_CRL_get_issuer(X509_OBJECT_get0_X509_CRL(o)))
			    == 0)
				break;
		}
		if (k == sk_X509_OBJECT_num(objs)) {
			X509_NAME_oneline(X509_get_subject_name(ca), name,
			    sizeof(name));
			util_errf(err, errlen, "tls.crl: no CRL of %s, a CA in "
			    "tls.ca: every client certificate under it would "
			    "be refused", name);
			return -1;
		}
	}
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
	    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

/*
 * ALPN (RFC 7301): select "mqtt" when offered, or "http/1.1" on a
 * connection tls_set_websocket() marked (browsers offer it for wss://).
 * A client that offers only other protocols wants something this server
 * is not; it gets the no_application_protocol alert rather than MQTT it
 * did not ask for.
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 mqtt[] = "\x04" TLS_ALPN_MQTT;
	static const unsigned char	 http[] = "\x08" TLS_ALPN_HTTP1;
	const unsigned char		*ours = mqtt;
	unsigned int			 n = sizeof(mqtt) - 1;
	unsigned char			*sel;
	unsigned char			 sellen;

	(void)arg;
	if (pthread_once(&ws_once, ws_index_new) == 0 && ws_index >= 0 &&
	    SSL_get_ex_data(ssl, ws_index) != NULL) {
		ours = http;
		n = sizeof(http) - 1;
	}
	if (SSL_select_next_proto(&sel, &sellen, ours, n, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	*outlen = sellen;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * The judge of every setting and certificate pair of <tls>: 0 with the
 * security level each pair's key meets in <keylevel>[0] (tls.cert) and
 * <keylevel>[1 + i] (tls.sni[i]), or -1 with the first refusal in <err>.
 * The weak settings allow_insecure lets through are logged only once
 * nothing is refused, so a refused policy says one thing.
 */
static int
judge_all(const struct policy_tls *tls, time_t now, int *keylevel, char *err,
    size_t errlen)
{
	static const char *const what[TLS_SETTINGS] = {
		"tls.min_version", "tls.ciphers", "tls.ciphersuites",
		"tls.groups"
	};
	enum tls_verdict	 v[TLS_JUDGED];
	char			 why[TLS_JUDGED][384];
	char			 prefix[32];
	const char		*wn;
	size_t			 i, n, nsni;
	int			 rc, weak = 0;

	nsni = tls->n_sni < POLICY_TLS_SNI_MAX ? tls->n_sni :
	    POLICY_TLS_SNI_MAX;
	v[0] = tls_version_check(tls->min_version, why[0], sizeof(why[0]));
	v[1] = tls_ciphers_check(tls->ciphers[0] ? tls->ciphers :
	    POLICY_TLS_CIPHERS_DEFAULT, why[1], sizeof(why[1]));
	v[2] = tls_ciphersuites_check(tls->ciphersuites[0] ?
	    tls->ciphersuites : POLICY_TLS_CIPHERSUITES_DEFAULT, why[2],
	    sizeof(why[2]));
	v[3] = tls_groups_check(tls->groups[0] ? tls->groups :
	    POLICY_TLS_GROUPS_DEFAULT, why[3], sizeof(why[3]));
	for (i = 0, n = TLS_SETTINGS; i <= nsni; i++, n++) {
		keylevel[i] = 5;
		if (i == 0)
			v[n] = cert_judge("tls", tls->cert, tls->key, now,
			    why[n], sizeof(why[n]), &keylevel[i]);
		else {
			snprintf(prefix, sizeof(prefix), "tls.sni[%zu]", i - 1);
			v[n] = cert_judge(prefix, tls->sni[i - 1].cert,
			    tls->sni[i - 1].key, now, why[n], sizeof(why[n]),
			    &keylevel[i]);
		}
	}
	for (i = 0; i < n; i++) {
		wn = i < TLS_SETTINGS ? what[i] : NULL;
		if ((rc = judge(tls, v[i], wn, why[i], err, errlen)) == -1)
			return -1;
		weak += rc;
	}
	for (i = 0; i < n; i++) {
		wn = i < TLS_SETTINGS ? what[i] : NULL;
		if (v[i] == TLS_WEAK)
			log_warnx("tls: allow_insecure: accepting a weak "
			    "setting: %s%s%s", wn ? wn : "", wn ? ": " : "",
			    why[i]);
	}
	if (tls->allow_insecure && weak == 0)
		log_warnx("tls: allow_insecure is set, but nothing weak is "
		    "configured: remove it, so nothing weak slips in later");
	return 0;
}

/*
 * Loads the chain of <cert> and the key of <key> into <ctx>, named as
 * <prefix>.cert and <prefix>.key in the message left in <err>.
 */
static int
load_pair(SSL_CTX *ctx, const char *prefix, const char *cert,
    const char *key, char *err, size_t errlen)
{
	char	ebuf[256];

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		util_errf(err, errlen, "%s.cert %s: %s", prefix, cert,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		util_errf(err, errlen, "%s.key %s: %s", prefix, key,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		util_errf(err, errlen, "%s.key %s does not match %s.cert %s",
		    prefix, key, prefix, cert);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/*
 * A cert file with the leaf alone has its chain completed from tls.ca,
 * here, once, without the root.  Left to itself OpenSSL would build it
 * again on every handshake, a chain verification (signatures, CRLs) each
 * time, and send the root too.  A cert file that holds a chain is sent
 * as it is.  -1 when OpenSSL fails.
 */
static int
build_chain(SSL_CTX *ctx)
{
	STACK_OF(X509)	*chain = NULL;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1)
		return -1;
	if (chain != NULL && sk_X509_num(chain) > 0)
		return 0;
	return SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_NO_ROOT |
	    SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
	    SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) > 0 ? 0 : -1;
}

/*
 * The settings every server context of <tls> shares, on <ctx>: protocol
 * floor <version>, options, ciphers, groups, security level (lowered to
 * <keylevel> when allow_insecure needs it), no resumption, buffers, ALPN.
 * -1 when OpenSSL refuses one; its error queue says which.
 */
static int
ctx_settings(SSL_CTX *ctx, const struct policy_tls *tls, int version,
    int keylevel)
{
	const char	*ciphers, *suites, *groups;

	ciphers = tls->ciphers[0] ? tls->ciphers : POLICY_TLS_CIPHERS_DEFAULT;
	suites = tls->ciphersuites[0] ? tls->ciphersuites :
	    POLICY_TLS_CIPHERSUITES_DEFAULT;
	groups = tls->groups[0] ? tls->groups : POLICY_TLS_GROUPS_DEFAULT;
	if (SSL_CTX_get_security_level(ctx) < TLS_SECLEVEL_FLOOR)
		SSL_CTX_set_security_level(ctx, TLS_SECLEVEL_FLOOR);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (!SSL_CTX_set_min_proto_version(ctx, version))
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	/* A cipher string may carry @SECLEVEL: judged above, applied here. */
	if (!SSL_CTX_set_cipher_list(ctx, ciphers) ||
	    !SSL_CTX_set_ciphersuites(ctx, suites) ||
	    !SSL_CTX_set1_groups_list(ctx, groups))
		return -1;
	/*
	 * Only with allow_insecure (judged above): OpenSSL 3 speaks TLS 1.0
	 * and 1.1 at security level 0 only, and loads a key only at a level
	 * it meets.
	 */
	if (version < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);
	else if (keylevel < SSL_CTX_get_security_level(ctx))
		SSL_CTX_set_security_level(ctx, keylevel);
	SSL_CTX_set_dh_auto(ctx, 1);	/* for DHE suites a policy enables */
	/* No resumption at all: see the top of the file. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_num_tickets(ctx, 0))
		return -1;
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Read the socket in large reads, not a record header then its body:
	 * clients write a small record a PUBLISH.  The session reads what is
	 * buffered once it has room (see pump() in session.c).
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_info_callback(ctx, handshake_timer);
	return 0;
}

static uint64_t
mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Times the server's handshake work.  OpenSSL calls this with
 * SSL_CB_HANDSHAKE_START when a connection's handshake begins (counted),
 * SSL_CB_ACCEPT_LOOP at each step of a call that has work to do (a
 * message read or written: the first starts the clock) and
 * SSL_CB_ACCEPT_EXIT when the call returns (the clock stops).  A call
 * that finds nothing to read costs nothing and is not timed.  Wall time
 * on purpose: what the loop could not spend on anything else, including
 * the time the machine gave to others meanwhile.  Calls on one thread do
 * not nest, so one start time per thread is enough.  (Each <where> is
 * compared whole: SSL_CB_ACCEPT_LOOP and _EXIT share their state bit.)
 */
static void
handshake_timer(const SSL *ssl, int where, int ret)
{
	(void)ret;
	if (where == SSL_CB_HANDSHAKE_START)
		hs_st.count++;
	if (where == SSL_CB_ACCEPT_LOOP && hs_began == 0)
		hs_began = mono_ns();
	/* The first step of all: a ClientHello has been read. */
	if (where == SSL_CB_ACCEPT_LOOP && SSL_get_state(ssl) == TLS_ST_BEFORE)
		hello_wait(ssl);
	if (where == SSL_CB_ACCEPT_EXIT && hs_began != 0) {
		hs_st.ns += mono_ns() - hs_began;
		hs_began = 0;
	}
}

/*
 * How long the ClientHello just read waited for us: the kernel's time
 * since the connection last received data (in the accept queue, then in
 * the loop's queue of handshakes).  A socket that is not TCP says nothing.
 */
static void
hello_wait(const SSL *ssl)
{
	struct tcp_info	ti;
	socklen_t	len = sizeof(ti);
	int		fd = SSL_get_fd(ssl);

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    len < offsetof(struct tcp_info, tcpi_last_data_recv) +
	    sizeof(ti.tcpi_last_data_recv))
		return;
	if (ti.tcpi_last_data_recv < hs_st.wait_min_ms)
		hs_st.wait_min_ms = ti.tcpi_last_data_recv;
}

void
tls_handshake_stats(struct tls_hs_stats *st)
{
	*st = hs_st;
	hs_st.wait_min_ms = UINT32_MAX;
}

/*
 * What <ctx> verifies client certificates with: the CAs of tls.ca (also
 * named to clients as acceptable), the CRLs as of <now>, the depth.  The
 * mode stays SSL_VERIFY_NONE: each listener sets its own on its
 * connections.  -1 with the reason in <err>.
 */
static int
ctx_verify(SSL_CTX *ctx, const struct policy_tls *tls, time_t now, char *err,
    size_t errlen)
{
	STACK_OF(X509_NAME)	*names;
	char			 ebuf[256];

	if (tls->ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, tls->ca, NULL) != 1) {
			util_errf(err, errlen, "tls.ca %s: %s", tls->ca,
			    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
			return -1;
		}
		if ((names = SSL_load_client_CA_file(tls->ca)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (crl_all(ctx, tls, now, err, errlen) == -1)
		return -1;
	SSL_CTX_set_verify_depth(ctx, tls->verify_depth);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return 0;
}

/*
 * One server context of <tls> serving the pair <cert>/<key> (named
 * <prefix> in errors), already judged: protocol floor <version>, security
 * level lowered to <keylevel>, the level the pair's key meets, when
 * allow_insecure needs it.  Every pair's context is built here, so a
 * connection moved to another by SNI keeps every setting but the
 * certificate and the security level that goes with it (OpenSSL keeps the
 * level with the certificate): one weak pair lowers no other.
 */
static SSL_CTX *
server_ctx_build(const struct policy_tls *tls, const char *prefix,
    const char *cert, const char *key, int version, int keylevel, time_t now,
    char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	char	 ebuf[256];

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		util_errf(err, errlen, "SSL_CTX_new: %s",
		    tls_error_str(ebuf, sizeof(ebuf), "out of memory"));
		return NULL;
	}
	if (ctx_settings(ctx, tls, version, keylevel) == -1) {
		util_errf(err, errlen, "TLS set-up: %s",
		    tls_error_str(ebuf, sizeof(ebuf), "failed"));
		goto fail;
	}
	if (load_pair(ctx, prefix, cert, key, err, errlen) == -1 ||
	    ctx_verify(ctx, tls, now, err, errlen) == -1)
		goto fail;
	if (build_chain(ctx) == -1) {
		util_errf(err, errlen, "%s.cert %s: %s", prefix, cert,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot build the "
		    "chain"));
		goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_server_ctx_new(const struct policy_tls *tls, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	time_t	 now = time(NULL);
	int	 keylevel[1 + POLICY_TLS_SNI_MAX];

	/* Judge everything first: nothing is built on a refused setting. */
	if (judge_all(tls, now, keylevel, err, errlen) == -1)
		return NULL;
	if ((ctx = server_ctx_build(tls, "tls", tls->cert, tls->key,
	    proto_version(tls), keylevel[0], now, err, errlen)) == NULL)
		return NULL;
	if (tls->n_sni > 0 && sni_attach(ctx, tls, proto_version(tls),
	    keylevel + 1, now, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The ex_data slot of the SNI table, made once per process. */
static void
sni_index_new(void)
{
	sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_free);
}

/* ex_data destructor: the default context is gone, so is its table. */
static void
sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct tls_sni	*t = ptr;
	size_t		 i;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		SSL_CTX_free(t->e[i].ctx);
	free(t);
}

/*
 * Builds a context for each tls.sni pair (tls.sni[i] at security level
 * <keylevel>[i]) and hangs the table on <ctx>, with the callback that
 * picks from it.  A pair whose certificate does not cover its name is
 * refused: every client asking for that name would fail its hostname
 * check.  A wildcard is probed with a label of ours.
 */
static int
sni_attach(SSL_CTX *ctx, const struct policy_tls *tls, int version,
    const int *keylevel, time_t now, char *err, size_t errlen)
{
	const struct policy_tls_sni	*p;
	struct tls_sni			*t;
	char				 prefix[32], probe[POLICY_TLS_NAME_MAX +
					    sizeof(TLS_SNI_PROBE)];
	size_t				 i;

	if (pthread_once(&sni_once, sni_index_new) != 0 || sni_index < 0) {
		util_errf(err, errlen, "tls.sni: no OpenSSL ex_data index");
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		util_errf(err, errlen, "tls.sni: out of memory");
		return -1;
	}
	for (i = 0; i < tls->n_sni && i < POLICY_TLS_SNI_MAX; i++) {
		p = &tls->sni[i];
		snprintf(prefix, sizeof(prefix), "tls.sni[%zu]", i);
		if ((t->e[i].ctx = server_ctx_build(tls, prefix, p->cert,
		    p->key, version, keylevel[i], now, err, errlen)) == NULL)
			goto fail;
		snprintf(t->e[i].name, sizeof(t->e[i].name), "%s", p->name);
		t->n = i + 1;
		if (p->name[0] == '*')
			snprintf(probe, sizeof(probe), "%s%s", TLS_SNI_PROBE,
			    p->name + 1);
		else
			snprintf(probe, sizeof(probe), "%s", p->name);
		if (X509_check_host(SSL_CTX_get0_certificate(t->e[i].ctx),
		    probe, 0, 0, NULL) != 1) {
			util_errf(err, errlen, "%s.cert %s is not valid for "
			    "%s (no such DNS name in its subjectAltName): "
			    "clients asking for it would refuse it", prefix,
			    p->cert, p->name);
			ERR_clear_error();
			goto fail;
		}
	}
	if (!SSL_CTX_set_ex_data(ctx, sni_index, t)) {
		util_errf(err, errlen, "tls.sni: out of memory");
		goto fail;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	return 0;

fail:
	sni_free(NULL, t, NULL, 0, 0, NULL);
	return -1;
}

/*
 * The context serving <name> in <t>, or NULL for the default: an exact
 * name first, then "*.<parent>" (a wildcard covers one label only).  The
 * name is compared without case and without one trailing dot.
 */
static SSL_CTX *
sni_find(const struct tls_sni *t, const char *name)
{
	char		 low[POLICY_TLS_NAME_MAX + 1];
	const char	*dot;
	size_t		 i, n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(low) - 1)
		return NULL;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (i = 0; i < t->n; i++)
		if (strcmp(t->e[i].name, low) == 0)
			return t->e[i].ctx;
	if ((dot = strchr(low, '.')) == NULL || dot == low || dot[1] == '\0')
		return NULL;
	for (i = 0; i < t->n; i++)
		if (t->e[i].name[0] == '*' &&
		    strcmp(t->e[i].name + 1, dot) == 0)
			return t->e[i].ctx;
	return NULL;
}

/* The servername callback: moves the connection to its name's context. */
static int
sni_select(SSL *ssl, int *alert, void *arg)
{
	const char	*name;
	SSL_CTX		*ctx;

	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || (ctx = sni_find(arg, name)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;	/* the default certificate */
	if (SSL_set_SSL_CTX(ssl, ctx) != ctx) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

int
tls_ctx_cert_info(SSL_CTX *ctx, size_t i, char *buf, size_t len)
{
	const struct tls_sni	*t = NULL;
	X509			*x;
	BIGNUM			*bn;
	char			*hex, subj[256], when[40];
	const char		*label = "default";

	if (pthread_once(&sni_once, sni_index_new) == 0 && sni_index >= 0)
		t = SSL_CTX_get_ex_data(ctx, sni_index);
	if (i > 0) {
		if (t == NULL || i > t->n)
			return -1;
		label = t->e[i - 1].name;
		ctx = t->e[i - 1].ctx;
	}
	if ((x = SSL_CTX_get0_certificate(ctx)) == NULL)
		return -1;
	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	time_text(X509_get0_notAfter(x), when, sizeof(when));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	snprintf(buf, len, "%s: subject %s, serial %s, expires %s", label,
	    subj, hex != NULL ? hex : "?", when);
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return 0;
}

SSL_CTX *
tls_client_ctx_new(const struct policy_upstream *up, char *err,
    size_t errlen)
{
	SSL_CTX	*ctx;
	char	 ebuf[256];
	bool	 pair = up->cert[0] != '\0' || up->key[0] != '\0';

	if (pair && (up->cert[0] == '\0' || up->key[0] == '\0')) {
		util_errf(err, errlen, "upstream.cert and upstream.key go "
		    "together");
		return NULL;
	}
	if (pair && cert_judge("upstream", up->cert, up->key, time(NULL), err,
	    errlen, NULL) != TLS_OK)
		return NULL;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		util_errf(err, errlen, "SSL_CTX_new: %s",
		    tls_error_str(ebuf, sizeof(ebuf), "out of memory"));
		return NULL;
	}
	if (SSL_CTX_get_security_level(ctx) < TLS_SECLEVEL_FLOOR)
		SSL_CTX_set_security_level(ctx, TLS_SECLEVEL_FLOOR);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, POLICY_TLS_CIPHERS_DEFAULT) ||
	    !SSL_CTX_set_ciphersuites(ctx, POLICY_TLS_CIPHERSUITES_DEFAULT) ||
	    !SSL_CTX_set1_groups_list(ctx, POLICY_TLS_GROUPS_DEFAULT)) {
		util_errf(err, errlen, "TLS set-up: %s",
		    tls_error_str(ebuf, sizeof(ebuf), "failed"));
		goto fail;
	}
	/* Nothing is resumed: each connection verifies the broker anew. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, POLICY_TLS_VERIFY_DEPTH_DEFAULT);
	if (up->ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, up->ca, NULL) != 1) {
			util_errf(err, errlen, "upstream.ca %s: %s", up->ca,
			    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		util_errf(err, errlen, "upstream: the system's CA store: %s",
		    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
		goto fail;
	}
	if (pair && load_pair(ctx, "upstream", up->cert, up->key, err,
	    errlen) == -1)
		goto fail;
	if (pair && build_chain(ctx) == -1) {
		util_errf(err, errlen, "upstream.cert %s: %s", up->cert,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot build the "
		    "chain"));
		goto fail;
	}
	ERR_clear_error();
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *
tls_client_ssl_new(SSL_CTX *ctx, const char *name)
{
	SSL		*ssl;
	unsigned char	 a[sizeof(struct in6_addr)];
	bool		 ip;

	if (name == NULL || *name == '\0' || (ssl = SSL_new(ctx)) == NULL)
		return NULL;
	/* An address is checked against the IP SANs and never sent as SNI
	 * (RFC 6066 allows host names only). */
	ip = inet_pton(AF_INET, name, a) == 1 ||
	    inet_pton(AF_INET6, name, a) == 1;
	if (ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    name) != 1)
			goto fail;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, name) != 1 ||
		    SSL_set_tlsext_host_name(ssl, name) != 1)
			goto fail;
	}
	SSL_set_connect_state(ssl);
	return ssl;

fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

const char *
tls_connect_error(SSL *ssl, unsigned long e, char *buf, size_t len)
{
	const char	*what, *reason = NULL;
	char		 ebuf[160];
	long		 r = X509_V_OK;

	if (ssl != NULL)
		r = SSL_get_verify_result(ssl);
	/* libevent records SSL_get_error() codes among the errors. */
	if (!ERR_SYSTEM_ERROR(e) && ERR_GET_LIB(e) == 0)
		e = 0;
	if (e == 0 && r == X509_V_OK)
		return NULL;
	what = ssl != NULL && SSL_is_init_finished(ssl) ? "TLS error" :
	    "TLS handshake failed";
	if (r != X509_V_OK) {
		snprintf(buf, len, "%s: certificate verify failed: %s", what,
		    X509_verify_cert_error_string(r));
		return buf;
	}
	if (ERR_SYSTEM_ERROR(e))
		reason = strerror(ERR_GET_REASON(e));
	else if ((reason = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		reason = ebuf;
	}
	snprintf(buf, len, "%s: %s", what, reason);
	return buf;
}

/* Copies an ASN.1 string if it is printable text without NUL. */
static int
copy_text(const unsigned char *p, int n, char *buf, size_t len)
{
	int	i;

	if (n <= 0 || (size_t)n >= len)
		return -1;
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return -1;
	memcpy(buf, p, (size_t)n);
	buf[n] = '\0';
	return 0;
}

int
tls_peer_identity(SSL *ssl, enum policy_cert_id kind, char *buf, size_t len)
{
	X509			*cert;
	X509_NAME		*subj;
	GENERAL_NAMES		*sans;
	const GENERAL_NAME	*gn;
	unsigned char		*utf8;
	int			 i, n, want, rc = -1;

	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	if (kind == POLICY_CERT_ID_CN) {
		subj = X509_get_subject_name(cert);
		i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		/* Exactly one CN: with two, which one is the identity? */
		if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName,
		    i) >= 0)
			return -1;
		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i)));
		if (n < 0)
			return -1;
		rc = copy_text(utf8, n, buf, len) == 0 ? 1 : -1;
		OPENSSL_free(utf8);
		return rc;
	}
	want = kind == POLICY_CERT_ID_SAN_EMAIL ? GEN_EMAIL :
	    kind == POLICY_CERT_ID_SAN_DNS ? GEN_DNS : GEN_URI;
	if ((sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL,
	    NULL)) == NULL)
		return -1;
	for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != want)
			continue;
		if (copy_text(ASN1_STRING_get0_data(gn->d.ia5),
		    ASN1_STRING_length(gn->d.ia5), buf, len) == 0)
			rc = 1;
		break;
	}
	GENERAL_NAMES_free(sans);
	return rc;
}

void
tls_set_verify(SSL *ssl, enum policy_verify v)
{
	int	mode = SSL_VERIFY_NONE;

	if (v == POLICY_VERIFY_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (v == POLICY_VERIFY_REQUIRE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_set_verify(ssl, mode, NULL);
}

/* The ex_data slot marking a WebSocket listener's connection, made once. */
static void
ws_index_new(void)
{
	ws_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int
tls_set_websocket(SSL *ssl)
{
	static int	on = 1;

	if (pthread_once(&ws_once, ws_index_new) != 0 || ws_index < 0 ||
	    !SSL_set_ex_data(ssl, ws_index, &on))
		return -1;
	return 0;
}

const char *
tls_verify_error(SSL *ssl)
{
	long	r = SSL_get_verify_result(ssl);

	return r == X509_V_OK ? NULL : X509_verify_cert_error_string(r);
}

int
tls_peer_recheck(SSL *ssl, SSL_CTX *ctx, char *why, size_t len)
{
	X509_STORE_CTX	*sctx;
	X509		*peer;
	int		 ok;

	if (ssl == NULL || ctx == NULL ||
	    (peer = SSL_get0_peer_certificate(ssl)) == NULL)
		return 0;
	if ((sctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(ctx), peer,
	    SSL_get_peer_cert_chain(ssl)) != 1) {
		X509_STORE_CTX_free(sctx);
		util_errf(why, len, "out of memory");
		return -1;
	}
	/* The new policy's checks: its CAs, its CRLs, a client's purpose. */
	X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(sctx),
	    SSL_CTX_get0_param(ctx));
	X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(sctx) == 1;
	if (!ok)
		util_errf(why, len, "client certificate: %s",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(sctx)));
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}
