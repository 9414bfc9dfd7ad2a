/* SPDX-License-Identifier: ISC */
/*
 * policy — allocation, defaults and lifetime of policy snapshots.
 *
 * A snapshot is written only by the loader, before its first policy_ref()
 * leaves the loading thread; afterwards it is read-only and may be read from
 * every worker.  The reference count is atomic; the thread that drops the
 * last reference frees the whole tree.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mqttguard/acl.h"
#include "mqttguard/log.h"
#include "mqttguard/passwd.h"
#include "mqttguard/policy.h"

static void	policy_free(struct policy *);

struct policy *
policy_new(void)
{
	struct policy	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	atomic_init(&p->refs, 1);
	p->upstream.connect_timeout_ms = POLICY_UPSTREAM_TIMEOUT_DEFAULT;
	p->limits.max_packet = POLICY_MAX_PACKET_DEFAULT;
	p->limits.connect_timeout_ms = POLICY_CONNECT_TIMEOUT_DEFAULT;
	p->limits.output_buffer = POLICY_OUTPUT_BUFFER_DEFAULT;
	p->limits.tls_handshake_timeout_ms = POLICY_TLS_HANDSHAKE_DEFAULT;
	p->limits.max_unauthenticated = POLICY_UNAUTH_DEFAULT;
	p->limits.network_v4 = 24;
	p->limits.network_v6 = 64;
	p->limits.connection_burst_per_address = 10;
	p->limits.max_keepalive_ms = POLICY_KEEPALIVE_MAX_DEFAULT;
	p->limits.reject_control_chars = true;
	p->auth.lockout_failures = POLICY_LOCKOUT_FAILURES_DEFAULT;
	p->auth.lockout_window_ms = POLICY_LOCKOUT_WINDOW_DEFAULT;
	p->auth.lockout_duration_ms = POLICY_LOCKOUT_DURATION_DEFAULT;
	p->auth.lockout_max_ms = POLICY_LOCKOUT_MAX_DEFAULT;
	p->auth.tarpit_ms = POLICY_TARPIT_DEFAULT;
	p->auth.hash_threads = 1;
	p->auth.hash_queue = POLICY_HASH_QUEUE_DEFAULT;
	p->log.level = LOG_LVL_INFO;
	p->workers = 1;
	return p;
}

struct policy *
policy_ref(struct policy *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

void
policy_unref(struct policy *p)
{
	if (p == NULL)
		return;
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		policy_free(p);
}

static void
policy_free(struct policy *p)
{
	size_t	i;

	for (i = 0; i < p->n_listeners; i++) {
		free(p->listeners[i].name);
		free(p->listeners[i].address);
	}
	free(p->listeners);
	free(p->upstream.host);
	free(p->tls.cert);
	free(p->tls.key);
	free(p->tls.ca);
	free(p->auth.password_file);
	passwd_free(p->auth.passwd);
	free(p->auth.anonymous_identity);
	free(p->auth.upstream_password_file);
	if (p->auth.upstream_password != NULL) {
		OPENSSL_cleanse(p->auth.upstream_password,
		    p->auth.upstream_password_len);
		free(p->auth.upstream_password);
	}
	free(p->auth.client_id_pattern);
	acl_free(p->acl);
	free(p->path);
	free(p);
}
