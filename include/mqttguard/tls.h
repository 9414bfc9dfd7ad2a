/* SPDX-License-Identifier: ISC */
/*
 * tls — OpenSSL contexts built from the policy, and OpenSSL error text.
 *
 * The only module that touches private keys.  Knows nothing of MQTT.
 */
#ifndef MQTTGUARD_TLS_H
#define MQTTGUARD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "mqttguard/policy.h"

/*
 * Builds the server context for <tls>: certificate chain and key (checked to
 * match), client CA and verification mode, and the protocol floor.  Returns
 * a context with one reference, or NULL with a message in <err> (<errlen>
 * bytes) naming the file and OpenSSL's reason.
 */
SSL_CTX	*tls_server_ctx_new(const struct policy_tls *tls, char *err,
	    size_t errlen);

/*
 * Writes the most recent OpenSSL error of this thread (or <fallback>) into
 * <buf> and clears the thread's error queue.  Returns buf.
 */
const char	*tls_error_str(char *buf, size_t len, const char *fallback);

/*
 * The identity in the verified client certificate of <ssl>, read from
 * <kind> (the subject's single CN, or the first SAN of a type).  Returns 1
 * with a NUL-terminated identity in <buf> (<len> bytes), 0 when no verified
 * certificate was presented, -1 when it holds no usable identity.
 */
int	tls_peer_identity(SSL *ssl, enum policy_cert_id kind, char *buf,
	    size_t len);

/* Sets the client-certificate mode of one connection. */
void	tls_set_verify(SSL *ssl, enum policy_verify v);

/* Why the peer's certificate failed verification, or NULL. */
const char	*tls_verify_error(SSL *ssl);

#endif
