/* SPDX-License-Identifier: ISC */
/*
 * tls — OpenSSL contexts built from the policy, and OpenSSL error text.
 *
 * The only module that touches private keys.  Knows nothing of MQTT beyond
 * the ALPN protocol id "mqtt".  It also judges TLS settings (the *_check
 * functions): config_load() calls them to refuse a weak choice at the
 * place in the file that made it, and tls_server_ctx_new() calls them again
 * on everything, files included, so no context is built on weak settings
 * unless the policy says allow_insecure.  It builds the upstream (client)
 * context too, and says when the files a policy names have changed, so
 * main can rebuild the contexts (reload) and the workers swap them.
 */
#ifndef MQTTGUARD_TLS_H
#define MQTTGUARD_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "mqttguard/policy.h"

/* What a *_check function thinks of a setting. */
enum tls_verdict {
	TLS_OK = 0,
	TLS_WEAK,	/* usable, but below the floor: needs allow_insecure */
	TLS_INVALID	/* not usable at all */
};

/* The ALPN protocol ids a client may offer (RFC 7301 registry). */
#define TLS_ALPN_MQTT	"mqtt"
#define TLS_ALPN_HTTP1	"http/1.1"	/* a WebSocket listener's */

/* How often tls.watch looks at the files' dates (ms). */
#define TLS_WATCH_INTERVAL_MS	2000

/*
 * Each check fills <why> (<len> bytes) with the reason when it does not
 * return TLS_OK, and leaves it alone otherwise.  The reason names the
 * culprit (a suite, a file) but not the policy key: the caller knows which
 * key it asked about.  Each leaves this thread's OpenSSL error queue empty.
 *
 * tls_version_check: TLS 1.0 and 1.1 are weak (RFC 8996).
 * tls_ciphers_check: a TLS 1.2 cipher string, judged on every suite it
 *   enables in this OpenSSL (not on its spelling): weak if any is not AEAD,
 *   has no or a short key (NULL, export, DES, 3DES, RC4), is anonymous, or
 *   is not forward secret; weak also if it lowers @SECLEVEL below 2.
 *   Invalid if it enables no suite.
 * tls_ciphersuites_check, tls_groups_check: invalid if OpenSSL refuses the
 *   list (every TLS 1.3 suite is AEAD and forward secret).
 * tls_cert_check: the first certificate of <certfile> and the key of
 *   <keyfile> at time <now>.  Invalid if either cannot be read (an encrypted
 *   key included) or they do not match; weak if the key is RSA or DSA under
 *   2048 bits or EC under 256, or the certificate is expired or not yet
 *   valid at <now>.
 */
enum tls_verdict	tls_version_check(enum policy_tls_version v, char *why,
			    size_t len);
enum tls_verdict	tls_ciphers_check(const char *list, char *why,
			    size_t len);
enum tls_verdict	tls_ciphersuites_check(const char *list, char *why,
			    size_t len);
enum tls_verdict	tls_groups_check(const char *list, char *why,
			    size_t len);
enum tls_verdict	tls_cert_check(const char *certfile,
			    const char *keyfile, time_t now, char *why,
			    size_t len);

/*
 * Builds the server context for <tls>: every check above, then the
 * protocol floor and lists (the profile's, or the policy's), certificate
 * chain and key, client CA, CRLs (checked against the CA and for expiry,
 * then enforced for the whole chain), verify depth, ALPN and no session
 * resumption.  Each tls.sni pair is judged and built the same way into a
 * context of its own, which the returned one holds and selects by the
 * client's server_name (exact, then "*.<parent>"; the default pair for no
 * or another name); a pair whose certificate does not cover its name is
 * refused.  A weak setting fails unless tls->allow_insecure, which logs a
 * warning naming it instead (every time a context is built).  Returns a
 * context with one reference, or NULL with a message in <err> (<errlen>
 * bytes) naming the key, the file and the reason.  Reading files only, it
 * may be called again at any time to reload them.
 */
SSL_CTX	*tls_server_ctx_new(const struct policy_tls *tls, char *err,
	    size_t errlen);

/*
 * Describes certificate <i> of server context <ctx> into <buf>: 0 is the
 * default one, 1.. those of tls.sni in order, as "NAME: subject S, serial
 * HEX, expires DATE" (NAME "default" for 0).  Returns 0, or -1 past the
 * last one.
 */
int	tls_ctx_cert_info(SSL_CTX *ctx, size_t i, char *buf, size_t len);

/*
 * Builds the context for connections to the broker of <up> (up->tls):
 * TLS 1.2 at least with the default profile's suites and groups, security
 * level 2, no resumption, the broker's certificate verified (peer
 * required) against up->ca or, when empty, the system's CA store, and
 * up->cert/key as our client certificate when set, judged as the server's
 * but never allowed when weak.  Returns a context with one reference, or
 * NULL with a message in <err> naming the upstream key.
 */
SSL_CTX	*tls_client_ctx_new(const struct policy_upstream *up, char *err,
	    size_t errlen);

/*
 * A connection of client context <ctx> to the broker called <name> (a
 * host name, sent as SNI and checked against the certificate's DNS names
 * without partial wildcards; or an IP address, checked against its IP
 * names).  <name> must not be NULL or empty.  Returns an SSL in connect
 * state owned by the caller, or NULL.
 */
SSL	*tls_client_ssl_new(SSL_CTX *ctx, const char *name);

/*
 * Why a TLS connection failed: <e> is the OpenSSL error its I/O layer
 * recorded (0 if none; a value of no OpenSSL library, as libevent records
 * SSL_get_error() codes, counts as none), and the verification result of
 * <ssl> (may be NULL) names a refused certificate.  The text says "TLS
 * handshake failed: " unless <ssl> had finished its handshake ("TLS
 * error: "), then the reason: "certificate verify failed: hostname
 * mismatch", "tlsv13 alert certificate required", "Connection reset by
 * peer".  Returns <buf>, or NULL when neither says anything (a plain
 * socket error: the caller has errno).
 */
const char	*tls_connect_error(SSL *ssl, unsigned long e, char *buf,
		    size_t len);

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

/*
 * Marks <ssl> as a connection to a WebSocket listener: ALPN then selects
 * "http/1.1", which browsers offer for wss://, instead of "mqtt".  -1 if
 * OpenSSL could not record it.
 */
int	tls_set_websocket(SSL *ssl);

/* Why the peer's certificate failed verification, or NULL. */
const char	*tls_verify_error(SSL *ssl);

/*
 * The calling thread's server handshakes: <ns>, the wall time spent so
 * far in OpenSSL's handshake calls that had work to do, and <count>, the
 * handshakes begun (running totals: the caller takes differences);
 * <wait_min_ms>, the shortest time a ClientHello read since the last call
 * had waited in the kernel and the loop before it was read (UINT32_MAX:
 * none was read).
 */
struct tls_hs_stats {
	uint64_t	ns, count;
	uint32_t	wait_min_ms;
};
void	tls_handshake_stats(struct tls_hs_stats *st);

/*
 * After a reload: whether the client certificate <ssl> was accepted with
 * still verifies under the server context <ctx> of the new policy (its
 * CAs and CRLs).  0 (or no certificate to check), or -1 with the reason
 * in <why>.
 */
int	tls_peer_recheck(SSL *ssl, SSL_CTX *ctx, char *why, size_t len);

#endif
