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

#include "mqttguard/tls.h"

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
	int	 mode;

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
	mode = SSL_VERIFY_NONE;
	if (tls->verify == POLICY_VERIFY_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (tls->verify == POLICY_VERIFY_REQUIRE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	return ctx;

fail_ssl:
	snprintf(err, errlen, "TLS set-up: %s",
	    tls_error_str(ebuf, sizeof(ebuf), "failed"));
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
