/* SPDX-License-Identifier: ISC */
/*
 * policy — allocation, defaults and lifetime of policy snapshots.
 *
 * A snapshot is written only by the loader, before its first policy_ref()
 * leaves the loading thread; afterwards it is read-only and may be read from
 * every worker.  The reference count is atomic; the thread that drops the
 * last reference frees the whole tree.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mqttguard/acl.h"
#include "mqttguard/log.h"
#include "mqttguard/passwd.h"
#include "mqttguard/policy.h"
#include "mqttguard/util.h"

/* The serial of the last snapshot made: reloads make greater ones. */
static _Atomic uint64_t	serials;

static void	policy_free(struct policy *);
static void	limits_sets_free(struct policy_limits_set *, size_t);

/*
 * Every field of struct policy_limits, for laying one set over another.
 * A field is unset when all its bytes are POLICY_LIMIT_UNSET, a value no
 * key can hold: the loader bounds every number far below it, and no enum
 * or bool has it.  check_config's "every key overrides" test fails when a
 * field is missing here.
 */
#define F(f)	{ offsetof(struct policy_limits, f), \
	    sizeof(((struct policy_limits *)0)->f) }
static const struct {
	size_t	off, size;
} limit_fields[] = {
	F(max_packet), F(connect_timeout_ms), F(tls_handshake_timeout_ms),
	F(output_buffer), F(reject_control_chars), F(reject_noncharacters),
	F(max_client_id_length), F(max_packet_ids),
	F(validate_payload_format), F(max_connections),
	F(max_unauthenticated), F(max_connections_per_address),
	F(max_connections_per_network), F(network_v4), F(network_v6),
	F(connection_rate_per_address), F(connection_burst_per_address),
	F(max_keepalive_ms), F(message_rate), F(message_burst),
	F(byte_rate), F(byte_burst), F(rate_action), F(subscribe_rate),
	F(max_topic_length), F(max_topic_levels), F(max_subscriptions),
	F(max_inflight), F(max_topic_aliases), F(max_connections_per_user),
	F(connection_rate_per_user), F(connection_burst_per_user),
	F(user_message_rate), F(user_message_burst), F(user_byte_rate),
	F(user_byte_burst), F(monitor),
};
#undef F
#define N_LIMIT_FIELDS	(sizeof(limit_fields) / sizeof(limit_fields[0]))

struct policy *
policy_new(void)
{
	struct policy	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	atomic_init(&p->refs, 1);
	p->serial = atomic_fetch_add(&serials, 1) + 1;
	p->upstream.connect_timeout_ms = POLICY_UPSTREAM_TIMEOUT_DEFAULT;
	p->upstream.connack_timeout_ms = 10000;
	p->limits.max_packet = POLICY_MAX_PACKET_DEFAULT;
	p->limits.connect_timeout_ms = POLICY_CONNECT_TIMEOUT_DEFAULT;
	p->limits.output_buffer = POLICY_OUTPUT_BUFFER_DEFAULT;
	p->limits.tls_handshake_timeout_ms = POLICY_TLS_HANDSHAKE_DEFAULT;
	p->limits.max_unauthenticated = POLICY_UNAUTH_DEFAULT;
	p->limits.network_v4 = 24;
	p->limits.network_v6 = 64;
	p->limits.connection_burst_per_address = 10;
	p->limits.connection_burst_per_user = 10;
	p->limits.max_keepalive_ms = POLICY_KEEPALIVE_MAX_DEFAULT;
	p->limits.reject_control_chars = true;
	p->limits.reject_noncharacters = true;
	p->limits.max_client_id_length = POLICY_CLIENT_ID_MAX_DEFAULT;
	p->limits.max_packet_ids = POLICY_PACKET_IDS_DEFAULT;
	p->limits.validate_payload_format = true;
	/* Mosquitto drops a client whose topic or filter has more. */
	p->limits.max_topic_levels = POLICY_TOPIC_LEVELS_DEFAULT;
	p->auth.lock_pair = (struct policy_lockout){
	    POLICY_PAIR_FAILURES_DEFAULT, POLICY_PAIR_WINDOW_DEFAULT,
	    POLICY_PAIR_DURATION_DEFAULT, POLICY_PAIR_MAX_DEFAULT,
	    POLICY_KNOWN_FAILURES_DEFAULT, 0, 0 };
	p->auth.lock_identity = (struct policy_lockout){
	    POLICY_IDENT_FAILURES_DEFAULT, POLICY_IDENT_WINDOW_DEFAULT,
	    POLICY_IDENT_DURATION_DEFAULT, POLICY_IDENT_MAX_DEFAULT,
	    0, 0, 0 };
	p->auth.lock_address = (struct policy_lockout){
	    POLICY_ADDR_IDENTITIES_DEFAULT, POLICY_ADDR_WINDOW_DEFAULT,
	    POLICY_ADDR_DURATION_DEFAULT, POLICY_ADDR_MAX_DEFAULT,
	    0, POLICY_ADDR_TARPIT_AFTER_DEFAULT, POLICY_TARPIT_MAX_DEFAULT };
	p->auth.known_device_ms = POLICY_KNOWN_DEVICE_DEFAULT;
	p->auth.tarpit_ms = POLICY_TARPIT_DEFAULT;
	p->auth.cache_ttl_ms = POLICY_CACHE_TTL_DEFAULT;
	p->auth.hash_threads = 0;	/* "auto", counted by config_load() */
	p->auth.hash_queue = POLICY_HASH_QUEUE_DEFAULT;
	p->log.level = LOG_LVL_INFO;
	p->shutdown.drain_ms = 10000;
	p->shutdown.spread_ms = 5000;
	p->workers = 1;
	p->audit.max_entries = POLICY_OBSERVE_ENTRIES_DEFAULT;
	p->audit.flush_ms = POLICY_OBSERVE_FLUSH_DEFAULT;
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

void
policy_limits_unset(struct policy_limits *l)
{
	memset(l, POLICY_LIMIT_UNSET, sizeof(*l));
}

int
policy_limits_isset(const struct policy_limits *l, size_t i)
{
	const uint8_t	*b;
	size_t		 k;

	if (i >= N_LIMIT_FIELDS)
		return -1;
	b = (const uint8_t *)l + limit_fields[i].off;
	for (k = 0; k < limit_fields[i].size; k++)
		if (b[k] != POLICY_LIMIT_UNSET)
			return 1;
	return 0;
}

void
policy_limits_merge(struct policy_limits *dst, const struct policy_limits *over)
{
	size_t	i;

	for (i = 0; i < N_LIMIT_FIELDS; i++)
		if (policy_limits_isset(over, i) == 1)
			memcpy((uint8_t *)dst + limit_fields[i].off,
			    (const uint8_t *)over + limit_fields[i].off,
			    limit_fields[i].size);
}

const struct policy_limits *
policy_limits_for(const struct policy *p, const struct policy_listener *lis,
    const char *identity, struct policy_limits *buf)
{
	size_t	lo = 0, hi = p->n_limits_who, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(identity, p->limits_who[mid].name)) == 0) {
			*buf = lis->limits;
			policy_limits_merge(buf, &p->limits_who[mid].v);
			return buf;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return &lis->limits;
}

static void
limits_sets_free(struct policy_limits_set *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static void
policy_free(struct policy *p)
{
	size_t	i, j;

	for (i = 0; i < p->n_listeners; i++) {
		free(p->listeners[i].name);
		free(p->listeners[i].address);
		free(p->listeners[i].ws_path);
		for (j = 0; j < p->listeners[i].n_ws_origins; j++)
			free(p->listeners[i].ws_origins[j]);
		free(p->listeners[i].ws_origins);
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
	limits_sets_free(p->limits_listeners, p->n_limits_listeners);
	limits_sets_free(p->limits_groups, p->n_limits_groups);
	limits_sets_free(p->limits_users, p->n_limits_users);
	limits_sets_free(p->limits_who, p->n_limits_who);
	for (i = 0; i < p->n_topic_rates; i++)
		free(p->topic_rates[i].filter);
	free(p->topic_rates);
	for (i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	free(p->admin.address);
	free(p->admin.token_file);
	if (p->admin.token != NULL) {
		OPENSSL_cleanse(p->admin.token, p->admin.token_len);
		free(p->admin.token);
	}
	free(p->user);
	free(p->group);
	free(p->path);
	free(p);
}

int
policy_add_file(struct policy *p, const char *path)
{
	char	**nf;
	size_t	  i;

	for (i = 0; i < p->n_files; i++)
		if (strcmp(p->files[i], path) == 0)
			return 0;
	if ((nf = reallocarray(p->files, p->n_files + 1, sizeof(*nf))) ==
	    NULL)
		return -1;
	p->files = nf;
	if ((p->files[p->n_files] = strdup(path)) == NULL)
		return -1;
	p->n_files++;
	return 0;
}

uint64_t
policy_files_stamp(const struct policy *p)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < p->n_files; i++)
		util_file_stamp(&h, p->files[i]);
	return h;
}
