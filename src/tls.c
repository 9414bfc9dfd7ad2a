/* SPDX-License-Identifier: ISC */
/*
 * tls — server contexts from the policy.
 *
 * The floor is set here, whatever the policy says: TLS 1.2 minimum, no
 * compression, no renegotiation, the server's cipher preference, and no
 * session tickets key shared with anyone (OpenSSL's default per-context
 * ticket key, rotated with the process).  The private key is read once into
 * the context and never leaves OpenSSL.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mqttguard/tls.h"

static int	copy_text(const unsigned char *, int, char *, size_t);

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

SSL_CTX *
tls_server_ctx_new(const struct policy_tls *tls, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	char	 ebuf[256];

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s",
		    tls_error_str(ebuf, sizeof(ebuf), "out of memory"));
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail_ssl;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* TLS 1.2: ECDHE with AEAD only. */
	if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20"))
		goto fail_ssl;
	if (!SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384"))
		goto fail_ssl;
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

	if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert) != 1) {
		snprintf(err, errlen, "tls.cert %s: %s", tls->cert,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tls->key, SSL_FILETYPE_PEM) !=
	    1) {
		snprintf(err, errlen, "tls.key %s: %s", tls->key,
		    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls.key %s does not match tls.cert %s",
		    tls->key, tls->cert);
		ERR_clear_error();
		goto fail;
	}
	if (tls->ca != NULL) {
		STACK_OF(X509_NAME)	*names;

		if (SSL_CTX_load_verify_locations(ctx, tls->ca, NULL) != 1) {
			snprintf(err, errlen, "tls.ca %s: %s", tls->ca,
			    tls_error_str(ebuf, sizeof(ebuf), "cannot load"));
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(tls->ca)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	/* Each listener sets its own mode on its connections. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;

fail_ssl:
	snprintf(err, errlen, "TLS set-up: %s",
	    tls_error_str(ebuf, sizeof(ebuf), "failed"));
fail:
	SSL_CTX_free(ctx);
	return NULL;
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

const char *
tls_verify_error(SSL *ssl)
{
	long	r = SSL_get_verify_result(ssl);

	return r == X509_V_OK ? NULL : X509_verify_cert_error_string(r);
}
