/* SPDX-License-Identifier: ISC */
/*
 * config — YAML policy file to policy snapshot, with libyaml.
 *
 * The file is loaded as a libyaml document, then walked section by section.
 * Every section is described by a table of keys (struct ckey): its name,
 * its kind of value, where the value goes and its bounds.  cfg_map() walks
 * one mapping against such a table and reports unknown keys, duplicate
 * keys, wrong types, out-of-range values and missing required keys, each
 * with file:line:column and the dotted key path.  Adding a section is adding
 * a table and a line in top_keys[].
 *
 * Relative paths in the file are resolved against the directory of the
 * policy file, so the daemon does not depend on its working directory.
 *
 * Nothing here touches the running daemon: the result is a fresh snapshot
 * or nothing.  Errors are collected (not just the first), then the
 * whole-policy checks run on what parsed.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "mqttguard/acl.h"
#include "mqttguard/config.h"
#include "mqttguard/log.h"
#include "mqttguard/passwd.h"
#include "mqttguard/tls.h"
#include "mqttguard/util.h"
#include "mqttguard/ws.h"

/*
 * A walk visits at most this many nodes: aliases cannot blow it up, and
 * an ACL of a few hundred thousand rules still fits.
 */
#define CFG_NODE_BUDGET		4000000
#define CFG_PATH_MAX		128

enum ckind {
	K_STR,		/* char *, owned copy */
	K_PATH,		/* char *, resolved, must be readable */
	K_ADDR,		/* char *, numeric IPv4/IPv6 address */
	K_HOST,		/* char *, host name or address */
	K_BOOL,		/* bool */
	K_PORT,		/* uint16_t, 1..65535 */
	K_UINT,		/* unsigned, min..max */
	K_INT,		/* int, min..max */
	K_SIZE,		/* size_t bytes, "64KiB" or 65536, min..max */
	K_MSEC,		/* unsigned ms, "10s", "500ms", or seconds */
	K_ENUM,		/* int, index into enums[] */
	K_CUSTOM	/* fn() parses the node */
};

struct cfg;
struct ckey {
	const char		*name;
	enum ckind		 kind;
	size_t			 off;
	bool			 required;
	uint64_t		 min, max;
	const char *const	*enums;
	int			(*fn)(struct cfg *, yaml_node_t *, void *,
				    const char *);
};

struct cfg {
	const char		*file;
	char			 dir[PATH_MAX];
	yaml_document_t		 doc;
	struct config_errors	*errs;
	struct policy		*pol;
	size_t			 budget;
	unsigned		 flags;		/* CONFIG_* */
	int			 depth;		/* acl.include nesting */
	yaml_node_t		*tests;		/* read once the acl is */
	/* limits.listeners, .users, .groups, .topic_rates: read last */
	yaml_node_t		*lim_listeners, *lim_users, *lim_groups,
				*lim_topics;
};

static void	cfg_err(struct cfg *, const yaml_node_t *, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	cfg_errat(struct cfg *, int, int, const char *,
		    const char *, ...) __attribute__((format(printf, 5, 6)));
static void	cfg_verr(struct cfg *, int, int, const char *, const char *,
		    va_list) __attribute__((format(printf, 5, 0)));
static int	cfg_map(struct cfg *, yaml_node_t *, const struct ckey *,
		    void *, const char *);
static void	cfg_document(struct cfg *, yaml_node_t *);
static int	cfg_value(struct cfg *, yaml_node_t *, const struct ckey *,
		    void *, const char *);
static int	cfg_string(struct cfg *, yaml_node_t *, const struct ckey *,
		    const char *, void *, const char *);
static int	cfg_number(struct cfg *, yaml_node_t *, const struct ckey *,
		    const char *, void *, const char *);
static int	cfg_scaled(struct cfg *, yaml_node_t *, const struct ckey *,
		    const char *, void *, const char *);
static int	cfg_enum(struct cfg *, yaml_node_t *, const struct ckey *,
		    const char *, void *, const char *);
static const char *scalar(const yaml_node_t *);
static bool	plain(const yaml_node_t *);
static int	parse_u64(const char *, uint64_t *, const char **);
struct unit;
static int	parse_scaled(const char *, const struct unit *, uint64_t *);
static char	*resolve_path(struct cfg *, const char *);
static int	sec_listeners(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	auth_lockout(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	lock_scope(struct cfg *, yaml_node_t *, void *, const char *);
static int	auth_old_key(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	auth_hash_threads(struct cfg *, yaml_node_t *, void *,
		    const char *);
static void	check_lockout(struct cfg *);
static int	sec_workers(struct cfg *, yaml_node_t *, void *,
		    const char *);
static yaml_node_item_t *list_items(struct cfg *, yaml_node_t *,
		    const char *, size_t, const char *, const char *,
		    size_t *);
static int	trusted_proxies(struct cfg *, yaml_node_t *, void *,
		    const char *);
static void	check_proxy(struct cfg *, yaml_node_t *,
		    const struct policy_listener *, const char *);
static unsigned	affinity_cpus(void);
static int	cgroup_quota(const char *, const char *, uint64_t *,
		    uint64_t *);
static int	log_file(struct cfg *, yaml_node_t *, void *, const char *);
static int	sec_acl(struct cfg *, yaml_node_t *, void *, const char *);
static int	sec_tests(struct cfg *, yaml_node_t *, void *, const char *);
static int	acl_defer(struct cfg *, yaml_node_t *, void *, const char *);
static int	acl_deny_v3(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	acl_actions(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	acl_strings(struct cfg *, yaml_node_t *, const char *,
		    const char ***, size_t *);
static int	acl_groups(struct cfg *, yaml_node_t *, const char *);
static int	acl_rules(struct cfg *, yaml_node_t *, const char *);
static int	acl_rule(struct cfg *, yaml_node_t *, const char *);
struct rule_parse;
static int	rule_subjects(struct cfg *, const struct rule_parse *,
		    const char *, const char ***, size_t *, const char ***,
		    size_t *);
static int	rule_topics(struct cfg *, yaml_node_t *,
		    const struct rule_parse *, struct acl_rule *,
		    yaml_node_item_t *, size_t, const char *, int);
static int	acl_include(struct cfg *, yaml_node_t *, const char *);
static void	acl_tests(struct cfg *, yaml_node_t *);
static bool	has_key(struct cfg *, yaml_node_t *, const char *);
static void	keypath(char *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	tls_min_version(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	tls_list(struct cfg *, yaml_node_t *, char *, const char *,
		    enum tls_verdict (*)(const char *, char *, size_t));
static int	tls_ciphers(struct cfg *, yaml_node_t *, void *, const char *);
static int	tls_suites(struct cfg *, yaml_node_t *, void *, const char *);
static int	tls_groups(struct cfg *, yaml_node_t *, void *, const char *);
static int	tls_crl(struct cfg *, yaml_node_t *, void *, const char *);
static int	tls_sni(struct cfg *, yaml_node_t *, void *, const char *);
static int	sni_name(struct cfg *, yaml_node_t *, const char *, char *,
		    size_t, bool);
static int	path_buf(struct cfg *, yaml_node_t *, void *, const char *);
static int	up_server_name(struct cfg *, yaml_node_t *, void *,
		    const char *);
static int	named_pair(struct cfg *, yaml_node_t *, yaml_node_pair_t *,
		    const char *, yaml_node_t **, yaml_node_t **,
		    const char **);
static int	lim_defer(struct cfg *, yaml_node_t *, void *, const char *);
static int	ws_path(struct cfg *, yaml_node_t *, void *, const char *);
static int	ws_origins(struct cfg *, yaml_node_t *, void *, const char *);
static bool	ws_token(const char *, size_t);
static void	check_websocket(struct cfg *, yaml_node_t *,
		    struct policy_listener *, const char *);
static int	lim_monitor(struct cfg *, yaml_node_t *, void *, const char *);
static int	lim_set_keys(struct cfg *, yaml_node_t *, const char *, bool);
static int	lim_sets(struct cfg *, yaml_node_t *, const char *, bool,
		    struct policy_limits_set **, size_t *);
static int	lim_topics(struct cfg *, yaml_node_t *, const char *);
static void	limits_per_listener(struct cfg *);
static int	who_lay(struct policy *, const char *,
		    const struct policy_limits *);
static void	check_limits(struct cfg *);
static void	check_policy(struct cfg *);
static void	check_tls(struct cfg *);
static void	check_upstream(struct cfg *);
static yaml_node_t *sec_node(struct cfg *, const char *, const char *);
static void	tls_err(struct cfg *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	check_listener_auth(struct cfg *,
		    const struct policy_listener *, const char *);
static void	load_secrets(struct cfg *);
static bool	writable_by_others(FILE *, const char *, char *, size_t);
static void	check_privilege(struct cfg *);
static int	read_secret(const char *, uint8_t **, size_t *, char *,
		    size_t);
static void	check_admin(struct cfg *);
static int	file_sha256(FILE *, char *);

static const char *const verify_names[] = {
	"none", "optional", "require", NULL
};
static const char *const authn_names[] = {
	"password", "certificate", "both", "either", NULL
};
static const char *const cert_id_names[] = {
	"cn", "san-email", "san-dns", "san-uri", NULL
};
/* In the order of enum proxy_mode. */
static const char *const proxy_names[] = { "off", "v1", "v2", "any", NULL };
/* upstream.proxy_protocol: one version, as sent (enum proxy_mode). */
static const char *const up_proxy_names[] = { "off", "v1", "v2", NULL };
static const char *const empty_id_names[] = { "reject", "assign", NULL };
/* In the order of enum policy_mode. */
static const char *const mode_names[] = { "enforce", "monitor", NULL };
static const char *const level_names[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const format_names[] = { "text", "json", NULL };
static const char *const tls_profile_names[] = {
	"intermediate", "modern", NULL
};
/* In the order of enum policy_tls_version, from POLICY_TLS_1_0. */
static const char *const tls_version_names[] = {
	"1.0", "1.1", "1.2", "1.3", NULL
};

static const struct ckey listener_keys[] = {
	{ "name", K_STR, offsetof(struct policy_listener, name), false,
	    0, 0, NULL, NULL },
	{ "address", K_ADDR, offsetof(struct policy_listener, address), true,
	    0, 0, NULL, NULL },
	{ "port", K_PORT, offsetof(struct policy_listener, port), true,
	    0, 0, NULL, NULL },
	{ "tls", K_BOOL, offsetof(struct policy_listener, tls), false,
	    0, 0, NULL, NULL },
	{ "client_certificates", K_ENUM,
	    offsetof(struct policy_listener, client_certs), false,
	    0, 0, verify_names, NULL },
	{ "authentication", K_ENUM, offsetof(struct policy_listener, authn),
	    false, 0, 0, authn_names, NULL },
	{ "backlog", K_INT, offsetof(struct policy_listener, backlog), false,
	    1, 65535, NULL, NULL },
	{ "proxy_protocol", K_ENUM,
	    offsetof(struct policy_listener, proxy_protocol), false,
	    0, 0, proxy_names, NULL },
	{ "trusted_proxies", K_CUSTOM, 0, false, 0, 0, NULL, trusted_proxies },
	{ "mode", K_ENUM, offsetof(struct policy_listener, mode), false,
	    0, 0, mode_names, NULL },
	{ "websocket", K_BOOL, offsetof(struct policy_listener, websocket),
	    false, 0, 0, NULL, NULL },
	{ "websocket_path", K_CUSTOM, 0, false, 0, 0, NULL, ws_path },
	{ "websocket_origins", K_CUSTOM, 0, false, 0, 0, NULL, ws_origins },
	{ "websocket_max_message", K_SIZE,
	    offsetof(struct policy_listener, ws_max_message), false,
	    16, 1ULL << 30, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const struct ckey upstream_keys[] = {
	{ "host", K_HOST, offsetof(struct policy_upstream, host), true,
	    0, 0, NULL, NULL },
	{ "port", K_PORT, offsetof(struct policy_upstream, port), true,
	    0, 0, NULL, NULL },
	{ "connect_timeout", K_MSEC,
	    offsetof(struct policy_upstream, connect_timeout_ms), false,
	    1, 600000, NULL, NULL },
	{ "connack_timeout", K_MSEC,
	    offsetof(struct policy_upstream, connack_timeout_ms), false,
	    1, 600000, NULL, NULL },
	{ "tls", K_BOOL, offsetof(struct policy_upstream, tls), false,
	    0, 0, NULL, NULL },
	{ "ca", K_CUSTOM, offsetof(struct policy_upstream, ca), false,
	    0, 0, NULL, path_buf },
	{ "server_name", K_CUSTOM, offsetof(struct policy_upstream,
	    server_name), false, 0, 0, NULL, up_server_name },
	{ "cert", K_CUSTOM, offsetof(struct policy_upstream, cert), false,
	    0, 0, NULL, path_buf },
	{ "key", K_CUSTOM, offsetof(struct policy_upstream, key), false,
	    0, 0, NULL, path_buf },
	{ "proxy_protocol", K_ENUM, offsetof(struct policy_upstream,
	    proxy_protocol), false, 0, 0, up_proxy_names, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

/* One tls.sni entry, parsed into heap strings, then copied (tls_sni). */
struct sni_entry {
	char	*name;
	char	*cert;
	char	*key;
};

static const struct ckey sni_keys[] = {
	{ "name", K_STR, offsetof(struct sni_entry, name), true,
	    0, 0, NULL, NULL },
	{ "cert", K_PATH, offsetof(struct sni_entry, cert), true,
	    0, 0, NULL, NULL },
	{ "key", K_PATH, offsetof(struct sni_entry, key), true,
	    0, 0, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const struct ckey tls_keys[] = {
	{ "cert", K_PATH, offsetof(struct policy_tls, cert), true,
	    0, 0, NULL, NULL },
	{ "key", K_PATH, offsetof(struct policy_tls, key), true,
	    0, 0, NULL, NULL },
	{ "ca", K_PATH, offsetof(struct policy_tls, ca), false,
	    0, 0, NULL, NULL },
	{ "profile", K_ENUM, offsetof(struct policy_tls, profile), false,
	    0, 0, tls_profile_names, NULL },
	{ "min_version", K_CUSTOM, offsetof(struct policy_tls, min_version),
	    false, 0, 0, NULL, tls_min_version },
	{ "ciphers", K_CUSTOM, offsetof(struct policy_tls, ciphers), false,
	    0, 0, NULL, tls_ciphers },
	{ "ciphersuites", K_CUSTOM, offsetof(struct policy_tls, ciphersuites),
	    false, 0, 0, NULL, tls_suites },
	{ "groups", K_CUSTOM, offsetof(struct policy_tls, groups), false,
	    0, 0, NULL, tls_groups },
	{ "crl", K_CUSTOM, 0, false, 0, 0, NULL, tls_crl },
	{ "verify_depth", K_INT, offsetof(struct policy_tls, verify_depth),
	    false, 0, POLICY_TLS_VERIFY_DEPTH_MAX, NULL, NULL },
	{ "allow_insecure", K_BOOL, offsetof(struct policy_tls,
	    allow_insecure), false, 0, 0, NULL, NULL },
	{ "sni", K_CUSTOM, 0, false, 0, 0, NULL, tls_sni },
	{ "watch", K_BOOL, offsetof(struct policy_tls, watch), false,
	    0, 0, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const char *const rate_action_names[] = {
	"throttle", "disconnect", "drop", NULL
};
#define LIM(n, k, f, lo, hi, e) { n, k, offsetof(struct policy_limits, f), \
	    false, lo, hi, e, NULL }
static const struct ckey limits_keys[] = {
	{ "max_packet_size", K_SIZE,
	    offsetof(struct policy_limits, max_packet), false,
	    16, POLICY_MAX_PACKET_LIMIT, NULL, NULL },
	{ "connect_timeout", K_MSEC,
	    offsetof(struct policy_limits, connect_timeout_ms), false,
	    100, 3600000, NULL, NULL },
	{ "output_buffer", K_SIZE,
	    offsetof(struct policy_limits, output_buffer), false,
	    4096, 1ULL << 30, NULL, NULL },
	{ "reject_control_chars", K_BOOL,
	    offsetof(struct policy_limits, reject_control_chars), false,
	    0, 0, NULL, NULL },
	{ "reject_noncharacters", K_BOOL,
	    offsetof(struct policy_limits, reject_noncharacters), false,
	    0, 0, NULL, NULL },
	{ "validate_payload_format", K_BOOL,
	    offsetof(struct policy_limits, validate_payload_format), false,
	    0, 0, NULL, NULL },
	LIM("max_client_id_length", K_UINT, max_client_id_length, 0, 65535,
	    NULL),
	LIM("max_user_properties", K_UINT, max_user_properties, 0, 65535,
	    NULL),
	LIM("max_packet_ids", K_UINT, max_packet_ids, 1, 65535, NULL),
	LIM("tls_handshake_timeout", K_MSEC, tls_handshake_timeout_ms, 100,
	    3600000, NULL),
	LIM("max_connections", K_UINT, max_connections, 0, 10000000, NULL),
	LIM("max_unauthenticated", K_UINT, max_unauthenticated, 0, 10000000,
	    NULL),
	LIM("max_connections_per_address", K_UINT,
	    max_connections_per_address, 0, 10000000, NULL),
	LIM("max_connections_per_network", K_UINT,
	    max_connections_per_network, 0, 10000000, NULL),
	LIM("network_v4", K_UINT, network_v4, 8, 32, NULL),
	LIM("network_v6", K_UINT, network_v6, 16, 128, NULL),
	LIM("connection_rate_per_address", K_UINT,
	    connection_rate_per_address, 0, 1000000, NULL),
	LIM("connection_burst_per_address", K_UINT,
	    connection_burst_per_address, 1, 1000000, NULL),
	LIM("handshake_budget", K_UINT, handshake_budget, 0, 100, NULL),
	LIM("max_keepalive", K_MSEC, max_keepalive_ms, 1000, 65535000, NULL),
	LIM("message_rate", K_UINT, message_rate, 0, 10000000, NULL),
	LIM("message_burst", K_UINT, message_burst, 0, 10000000, NULL),
	LIM("byte_rate", K_SIZE, byte_rate, 0, 1ULL << 40, NULL),
	LIM("byte_burst", K_SIZE, byte_burst, 0, 1ULL << 40, NULL),
	LIM("rate_action", K_ENUM, rate_action, 0, 0, rate_action_names),
	LIM("subscribe_rate", K_UINT, subscribe_rate, 0, 1000000, NULL),
	LIM("max_topic_length", K_UINT, max_topic_length, 0, 65535, NULL),
	LIM("max_topic_levels", K_UINT, max_topic_levels, 0, 65535, NULL),
	LIM("max_subscriptions", K_UINT, max_subscriptions, 0, 1000000, NULL),
	LIM("max_inflight", K_UINT, max_inflight, 0, 65535, NULL),
	LIM("max_topic_aliases", K_UINT, max_topic_aliases, 0, 65535, NULL),
	LIM("max_connections_per_user", K_UINT, max_connections_per_user, 0,
	    10000000, NULL),
	LIM("connection_rate_per_user", K_UINT, connection_rate_per_user, 0,
	    1000000, NULL),
	LIM("connection_burst_per_user", K_UINT, connection_burst_per_user, 1,
	    1000000, NULL),
	LIM("user_message_rate", K_UINT, user_message_rate, 0, 10000000, NULL),
	LIM("user_message_burst", K_UINT, user_message_burst, 0, 10000000,
	    NULL),
	LIM("user_byte_rate", K_SIZE, user_byte_rate, 0, 1ULL << 40, NULL),
	LIM("user_byte_burst", K_SIZE, user_byte_burst, 0, 1ULL << 40, NULL),
	{ "monitor", K_CUSTOM, offsetof(struct policy_limits, monitor), false,
	    0, 0, NULL, lim_monitor },
	/* Only directly under limits: parsed once the file is read. */
	{ "listeners", K_CUSTOM, 0, false, 0, 0, NULL, lim_defer },
	{ "users", K_CUSTOM, 0, false, 0, 0, NULL, lim_defer },
	{ "groups", K_CUSTOM, 0, false, 0, 0, NULL, lim_defer },
	{ "topic_rates", K_CUSTOM, 0, false, 0, 0, NULL, lim_defer },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};
#undef LIM

/*
 * Keys that act before the client is authenticated (at accept, during the
 * TLS handshake, before CONNECT): a listener may set them, a user or a
 * group may not, since nobody is known yet when they apply.
 */
static const char *const lim_preauth_keys[] = {
	"connect_timeout", "tls_handshake_timeout", "max_connections",
	"max_unauthenticated", "max_connections_per_address",
	"max_connections_per_network", "network_v4", "network_v6",
	"connection_rate_per_address", "connection_burst_per_address",
	"reject_control_chars", "reject_noncharacters", "max_client_id_length",
	"max_user_properties", NULL
};

/* One limits.topic_rates entry. */
#define TR(n, k, f, lo, hi) { n, k, offsetof(struct policy_topic_rate, f), \
	    false, lo, hi, NULL, NULL }
static const struct ckey topic_rate_keys[] = {
	{ "topic", K_STR, offsetof(struct policy_topic_rate, filter), true,
	    0, 0, NULL, NULL },
	TR("message_rate", K_UINT, message_rate, 0, 10000000),
	TR("message_burst", K_UINT, message_burst, 0, 10000000),
	TR("byte_rate", K_SIZE, byte_rate, 0, 1ULL << 40),
	TR("byte_burst", K_SIZE, byte_burst, 0, 1ULL << 40),
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};
#undef TR

#define AUTH(n, k, f, lo, hi, e) { n, k, offsetof(struct policy_auth, f), \
	    false, lo, hi, e, NULL }
static const struct ckey auth_keys[] = {
	AUTH("password_file", K_PATH, password_file, 0, 0, NULL),
	AUTH("anonymous", K_BOOL, anonymous, 0, 0, NULL),
	AUTH("anonymous_identity", K_STR, anonymous_identity, 0, 0, NULL),
	AUTH("certificate_identity", K_ENUM, cert_identity, 0, 0,
	    cert_id_names),
	AUTH("upstream_password_file", K_PATH, upstream_password_file, 0, 0,
	    NULL),
	{ "lockout", K_CUSTOM, 0, false, 0, 0, NULL, auth_lockout },
	/* The single counter before the three scopes: refused, explained. */
	{ "lockout_failures", K_CUSTOM, 0, false, 0, 0, NULL, auth_old_key },
	{ "lockout_window", K_CUSTOM, 0, false, 0, 0, NULL, auth_old_key },
	{ "lockout_duration", K_CUSTOM, 0, false, 0, 0, NULL, auth_old_key },
	{ "lockout_max", K_CUSTOM, 0, false, 0, 0, NULL, auth_old_key },
	AUTH("tarpit", K_MSEC, tarpit_ms, 0, 60000, NULL),
	AUTH("cache_ttl", K_MSEC, cache_ttl_ms, 0, 86400000, NULL),
	AUTH("allow_wildcard_names", K_BOOL, allow_wildcard_names, 0, 0,
	    NULL),
	AUTH("client_id_pattern", K_STR, client_id_pattern, 0, 0, NULL),
	AUTH("empty_client_id", K_ENUM, empty_client_id, 0, 0,
	    empty_id_names),
	{ "hash_threads", K_CUSTOM, offsetof(struct policy_auth, hash_threads),
	    false, 0, 0, NULL, auth_hash_threads },
	AUTH("hash_queue", K_UINT, hash_queue, 1, 65536, NULL),
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};
#undef AUTH

/* auth.lockout and its three scopes (struct policy_lockout each). */
#define LK(n, k, f, lo, hi) { n, k, offsetof(struct policy_lockout, f), \
	    false, lo, hi, NULL, NULL }
#define LK_COMMON \
	LK("window", K_MSEC, window_ms, 1000, 86400000), \
	LK("duration", K_MSEC, duration_ms, 1000, 86400000), \
	LK("max", K_MSEC, max_ms, 1000, POLICY_LOCKOUT_MAX_LIMIT)
static const struct ckey lock_pair_keys[] = {
	LK("failures", K_UINT, failures, 0, 1000),
	LK("known_device_failures", K_UINT, known_failures, 0, 1000),
	LK_COMMON,
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};
static const struct ckey lock_identity_keys[] = {
	LK("failures", K_UINT, failures, 0, 1000),
	LK_COMMON,
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};
static const struct ckey lock_address_keys[] = {
	LK("identities", K_UINT, failures, 0, 1000),
	LK("tarpit_after", K_UINT, tarpit_after, 0, 1000),
	LK("tarpit_max", K_MSEC, tarpit_max_ms, 0, 600000),
	LK_COMMON,
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};
#undef LK_COMMON
#undef LK
static const struct ckey lockout_keys[] = {
	{ "pair", K_CUSTOM, offsetof(struct policy_auth, lock_pair), false,
	    0, 0, NULL, lock_scope },
	{ "identity", K_CUSTOM, offsetof(struct policy_auth, lock_identity),
	    false, 0, 0, NULL, lock_scope },
	{ "address", K_CUSTOM, offsetof(struct policy_auth, lock_address),
	    false, 0, 0, NULL, lock_scope },
	{ "known_device", K_MSEC, offsetof(struct policy_auth,
	    known_device_ms), false, 0, 2592000000U, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const struct ckey log_keys[] = {
	{ "level", K_ENUM, offsetof(struct policy_log, level), false,
	    0, 0, level_names, NULL },
	{ "format", K_ENUM, offsetof(struct policy_log, json), false,
	    0, 0, format_names, NULL },
	{ "file", K_CUSTOM, offsetof(struct policy_log, file), false,
	    0, 0, NULL, log_file },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const struct ckey audit_keys[] = {
	{ "observe", K_BOOL, offsetof(struct policy_audit, observe), false,
	    0, 0, NULL, NULL },
	{ "file", K_CUSTOM, offsetof(struct policy_audit, file), false,
	    0, 0, NULL, log_file },
	{ "max_entries", K_UINT, offsetof(struct policy_audit, max_entries),
	    false, 1, 10000000, NULL, NULL },
	{ "flush_interval", K_MSEC, offsetof(struct policy_audit, flush_ms),
	    false, 1000, 86400000, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const struct ckey shutdown_keys[] = {
	{ "drain", K_MSEC, offsetof(struct policy_shutdown, drain_ms), false,
	    0, 3600000, NULL, NULL },
	{ "spread", K_MSEC, offsetof(struct policy_shutdown, spread_ms), false,
	    0, 600000, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

static const struct ckey admin_keys[] = {
	{ "address", K_ADDR, offsetof(struct policy_admin, address), false,
	    0, 0, NULL, NULL },
	{ "port", K_PORT, offsetof(struct policy_admin, port), false,
	    0, 0, NULL, NULL },
	{ "token_file", K_PATH, offsetof(struct policy_admin, token_file),
	    false, 0, 0, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

/*
 * The acl section is read in three steps whatever the order of its keys:
 * groups, then the included file, then rules, so that a rule may name a
 * group declared anywhere.  Its keys only park their nodes here.
 */
struct acl_parse {
	yaml_node_t	*groups, *rules, *include;
};

static const struct ckey acl_keys[] = {
	{ "deny_action_v3", K_CUSTOM, 0, false, 0, 0, NULL, acl_deny_v3 },
	{ "groups", K_CUSTOM, offsetof(struct acl_parse, groups), false,
	    0, 0, NULL, acl_defer },
	{ "rules", K_CUSTOM, offsetof(struct acl_parse, rules), false,
	    0, 0, NULL, acl_defer },
	{ "include", K_CUSTOM, offsetof(struct acl_parse, include), false,
	    0, 0, NULL, acl_defer },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

/* One entry of acl.rules while it is read. */
struct rule_parse {
	unsigned	 allow, deny;		/* ACL_* bits; 0: not given */
	yaml_node_t	*topic, *topics, *users, *groups;
	bool		 admin;
	bool		 monitor;
};

static const struct ckey rule_keys[] = {
	{ "allow", K_CUSTOM, offsetof(struct rule_parse, allow), false,
	    0, 0, NULL, acl_actions },
	{ "deny", K_CUSTOM, offsetof(struct rule_parse, deny), false,
	    0, 0, NULL, acl_actions },
	{ "topic", K_CUSTOM, offsetof(struct rule_parse, topic), false,
	    0, 0, NULL, acl_defer },
	{ "topics", K_CUSTOM, offsetof(struct rule_parse, topics), false,
	    0, 0, NULL, acl_defer },
	{ "users", K_CUSTOM, offsetof(struct rule_parse, users), false,
	    0, 0, NULL, acl_defer },
	{ "groups", K_CUSTOM, offsetof(struct rule_parse, groups), false,
	    0, 0, NULL, acl_defer },
	{ "admin", K_BOOL, offsetof(struct rule_parse, admin), false,
	    0, 0, NULL, NULL },
	{ "monitor", K_BOOL, offsetof(struct rule_parse, monitor), false,
	    0, 0, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

/* One entry of tests while it is read. */
struct test_parse {
	char		*user;		/* owned */
	bool		 anonymous;
	char		*client_id;	/* owned */
	int		 action;	/* index into test_action_names */
	char		*topic;		/* owned */
	int		 expect;	/* 0 allow, 1 deny */
};

static const char *const deny_v3_names[] = { "drop", "disconnect", NULL };
static const char *const test_action_names[] = {
	"publish", "subscribe", "read", NULL
};
static const char *const expect_names[] = { "allow", "deny", NULL };

static const struct ckey test_keys[] = {
	{ "user", K_STR, offsetof(struct test_parse, user), false,
	    0, 0, NULL, NULL },
	{ "anonymous", K_BOOL, offsetof(struct test_parse, anonymous), false,
	    0, 0, NULL, NULL },
	{ "client_id", K_STR, offsetof(struct test_parse, client_id), false,
	    0, 0, NULL, NULL },
	{ "action", K_ENUM, offsetof(struct test_parse, action), true,
	    0, 0, test_action_names, NULL },
	{ "topic", K_STR, offsetof(struct test_parse, topic), true,
	    0, 0, NULL, NULL },
	{ "expect", K_ENUM, offsetof(struct test_parse, expect), true,
	    0, 0, expect_names, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

/* acl.include nests at most this deep (a cycle stops here). */
#define CFG_INCLUDE_MAX		8

/*
 * The top level: offsets are into struct policy.  An entry without fn is a
 * mapping section whose key table is found in sections[] by name.
 */
static const struct ckey top_keys[] = {
	{ "listeners", K_CUSTOM, 0, true, 0, 0, NULL, sec_listeners },
	{ "upstream", K_CUSTOM, offsetof(struct policy, upstream), true,
	    0, 0, NULL, NULL },
	{ "tls", K_CUSTOM, offsetof(struct policy, tls), false,
	    0, 0, NULL, NULL },
	{ "limits", K_CUSTOM, offsetof(struct policy, limits), false,
	    0, 0, NULL, NULL },
	{ "auth", K_CUSTOM, offsetof(struct policy, auth), false,
	    0, 0, NULL, NULL },
	{ "log", K_CUSTOM, offsetof(struct policy, log), false,
	    0, 0, NULL, NULL },
	{ "mode", K_ENUM, offsetof(struct policy, mode), false,
	    0, 0, mode_names, NULL },
	{ "audit", K_CUSTOM, offsetof(struct policy, audit), false,
	    0, 0, NULL, NULL },
	{ "workers", K_CUSTOM, offsetof(struct policy, workers), false,
	    0, 0, NULL, sec_workers },
	{ "acl", K_CUSTOM, 0, false, 0, 0, NULL, sec_acl },
	{ "tests", K_CUSTOM, 0, false, 0, 0, NULL, sec_tests },
	{ "watch", K_BOOL, offsetof(struct policy, watch), false,
	    0, 0, NULL, NULL },
	{ "shutdown", K_CUSTOM, offsetof(struct policy, shutdown), false,
	    0, 0, NULL, NULL },
	{ "admin", K_CUSTOM, offsetof(struct policy, admin), false,
	    0, 0, NULL, NULL },
	{ "user", K_STR, offsetof(struct policy, user), false,
	    0, 0, NULL, NULL },
	{ "group", K_STR, offsetof(struct policy, group), false,
	    0, 0, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL }
};

/* The key table of each mapping section, by name (K_CUSTOM without fn). */
static const struct {
	const char		*name;
	const struct ckey	*keys;
} sections[] = {
	{ "upstream", upstream_keys },
	{ "tls", tls_keys },
	{ "limits", limits_keys },
	{ "auth", auth_keys },
	{ "log", log_keys },
	{ "audit", audit_keys },
	{ "shutdown", shutdown_keys },
	{ "admin", admin_keys },
};

/*
 * Records one error at <line>:<col> (1-based; 0 when the error has no place
 * in the file) for dotted key <key> (may be NULL).
 */
static void
cfg_verr(struct cfg *c, int line, int col, const char *key, const char *fmt,
    va_list ap)
{
	char	msg[CONFIG_ERROR_LEN], *m;
	bool	k = key != NULL && *key != '\0';

	if (c->errs->n++ >= CONFIG_ERRORS_MAX)
		return;
	m = c->errs->msg[c->errs->n - 1];
	util_verrf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		util_errf(m, CONFIG_ERROR_LEN, "%s:%d:%d: %s%s%s", c->file,
		    line, col, k ? key : "", k ? ": " : "", msg);
	else
		util_errf(m, CONFIG_ERROR_LEN, "%s: %s%s%s", c->file,
		    k ? key : "", k ? ": " : "", msg);
}

static void
cfg_err(struct cfg *c, const yaml_node_t *node, const char *key,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (node != NULL)
		cfg_verr(c, (int)node->start_mark.line + 1,
		    (int)node->start_mark.column + 1, key, fmt, ap);
	else
		cfg_verr(c, 0, 0, key, fmt, ap);
	va_end(ap);
}

static void
cfg_errat(struct cfg *c, int line, int col, const char *key, const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cfg_verr(c, line, col, key, fmt, ap);
	va_end(ap);
}

static const char *
scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
	    : NULL;
}

/* Numbers and booleans must be plain scalars: "8883" is a string. */
static bool
plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Decimal digits only, no sign, no overflow; *end at the first non-digit. */
static int
parse_u64(const char *s, uint64_t *out, const char **end)
{
	uint64_t	v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	*end = s;
	return 0;
}

/* A number with a unit suffix; the empty suffix is the bare number. */
struct unit {
	const char	*sfx;
	uint64_t	 mul;
};

/* "1048576", "64KiB", "1MiB", "2GiB", "100KB" (decimal), "512B". */
static const struct unit size_units[] = {
	{ "", 1 }, { "B", 1 },
	{ "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 }, { "GiB", 1ULL << 30 },
	{ "KB", 1000 }, { "MB", 1000000 }, { "GB", 1000000000 },
	{ NULL, 0 }
};

/* "250ms", "10s", "5m", "1h"; a bare number is seconds. */
static const struct unit msec_units[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
	{ "h", 3600000 },
	{ NULL, 0 }
};

static int
parse_scaled(const char *s, const struct unit *u, uint64_t *out)
{
	const char	*end;
	uint64_t	 v;

	if (parse_u64(s, &v, &end) == -1)
		return -1;
	for (; u->sfx != NULL; u++) {
		if (strcmp(end, u->sfx) == 0) {
			if (v > UINT64_MAX / u->mul)
				return -1;
			*out = v * u->mul;
			return 0;
		}
	}
	return -1;
}

/* Returns a malloc'd absolute path, or NULL on ENOMEM / too long. */
static char *
resolve_path(struct cfg *c, const char *p)
{
	char	buf[PATH_MAX];
	int	n;

	if (p[0] == '/')
		return strdup(p);
	n = snprintf(buf, sizeof(buf), "%s/%s", c->dir, p);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return strdup(buf);
}

/*
 * Parses one value node <n> for key <k> into <base> + k->off.  Returns 0, or
 * -1 after reporting the error (or on ENOMEM, also reported).
 */
static int
cfg_value(struct cfg *c, yaml_node_t *n, const struct ckey *k, void *base,
    const char *path)
{
	void		*dst = (char *)base + k->off;
	const char	*s = scalar(n);

	if (k->kind == K_CUSTOM)
		return k->fn(c, n, dst, path);
	if (s == NULL) {
		cfg_err(c, n, path, "expected a single value, got a %s",
		    n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return -1;
	}
	switch (k->kind) {
	case K_STR:
	case K_PATH:
	case K_ADDR:
	case K_HOST:
		return cfg_string(c, n, k, s, dst, path);
	case K_BOOL:
		if (plain(n) && strcmp(s, "true") == 0)
			*(bool *)dst = true;
		else if (plain(n) && strcmp(s, "false") == 0)
			*(bool *)dst = false;
		else {
			cfg_err(c, n, path, "expected true or false, got "
			    "\"%s\"", s);
			return -1;
		}
		return 0;
	case K_PORT:
	case K_UINT:
	case K_INT:
		return cfg_number(c, n, k, s, dst, path);
	case K_SIZE:
	case K_MSEC:
		return cfg_scaled(c, n, k, s, dst, path);
	case K_ENUM:
		return cfg_enum(c, n, k, s, dst, path);
	case K_CUSTOM:
		break;
	}
	return -1;
}

/* A string, path, numeric address or host name: never empty. */
static int
cfg_string(struct cfg *c, yaml_node_t *n, const struct ckey *k,
    const char *s, void *dst, const char *path)
{
	unsigned char	 a6[sizeof(struct in6_addr)];
	char		*copy;

	if (*s == '\0') {
		cfg_err(c, n, path, "must not be empty");
		return -1;
	}
	if (k->kind == K_ADDR && inet_pton(AF_INET, s, a6) != 1 &&
	    inet_pton(AF_INET6, s, a6) != 1) {
		cfg_err(c, n, path, "\"%s\" is not a numeric IPv4 or IPv6 "
		    "address", s);
		return -1;
	}
	if (k->kind == K_HOST && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(s)) {
		cfg_err(c, n, path, "\"%s\" is not a host name or address", s);
		return -1;
	}
	copy = k->kind == K_PATH ? resolve_path(c, s) : strdup(s);
	if (copy == NULL) {
		cfg_err(c, n, path, "out of memory or path too long");
		return -1;
	}
	if (k->kind == K_PATH && access(copy, R_OK) == -1) {
		/* After user:, a reload reads as that user, not as root. */
		if (errno == EACCES && geteuid() != 0)
			cfg_err(c, n, path, "%s: %s: the daemon runs as uid %u "
			    "gid %u, which must be able to read it (owner or "
			    "group, mode 0640 for a secret)", copy,
			    strerror(errno), (unsigned)geteuid(),
			    (unsigned)getegid());
		else
			cfg_err(c, n, path, "%s: %s", copy, strerror(errno));
		free(copy);
		return -1;
	}
	/* Every file read is watched for changes (watch: true). */
	if (k->kind == K_PATH && policy_add_file(c->pol, copy) == -1) {
		cfg_err(c, n, path, "out of memory");
		free(copy);
		return -1;
	}
	free(*(char **)dst);
	*(char **)dst = copy;
	return 0;
}

/* A port, unsigned or int within the key's range. */
static int
cfg_number(struct cfg *c, yaml_node_t *n, const struct ckey *k,
    const char *s, void *dst, const char *path)
{
	const char	*end;
	uint64_t	 v, lo = k->kind == K_PORT ? 1 : k->min;
	uint64_t	 hi = k->kind == K_PORT ? 65535 : k->max;

	if (!plain(n) || parse_u64(s, &v, &end) == -1 || *end != '\0') {
		cfg_err(c, n, path, "expected a number, got \"%s\"", s);
		return -1;
	}
	if (v < lo || v > hi) {
		cfg_err(c, n, path, "%s is out of range (%llu..%llu)", s,
		    (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	if (k->kind == K_PORT)
		*(uint16_t *)dst = (uint16_t)v;
	else if (k->kind == K_UINT)
		*(unsigned *)dst = (unsigned)v;
	else
		*(int *)dst = (int)v;
	return 0;
}

/* A size (64KiB) or a duration (10s) within the key's range. */
static int
cfg_scaled(struct cfg *c, yaml_node_t *n, const struct ckey *k,
    const char *s, void *dst, const char *path)
{
	bool		size = k->kind == K_SIZE;
	uint64_t	v;

	if (parse_scaled(s, size ? size_units : msec_units, &v) == -1) {
		cfg_err(c, n, path, "expected a %s, got \"%s\"", size ?
		    "size such as 65536, 64KiB or 1MiB" :
		    "duration such as 10s, 500ms or 2m", s);
		return -1;
	}
	if (v < k->min || v > k->max) {
		cfg_err(c, n, path, "%s is out of range (%llu..%llu %s)", s,
		    (unsigned long long)k->min, (unsigned long long)k->max,
		    size ? "bytes" : "ms");
		return -1;
	}
	if (size)
		*(size_t *)dst = (size_t)v;
	else
		*(unsigned *)dst = (unsigned)v;
	return 0;
}

/* One of the key's names; the error lists them all. */
static int
cfg_enum(struct cfg *c, yaml_node_t *n, const struct ckey *k, const char *s,
    void *dst, const char *path)
{
	char	list[256];
	size_t	i, len = 0;

	for (i = 0; k->enums[i] != NULL; i++) {
		if (strcmp(s, k->enums[i]) == 0) {
			if (k->enums == format_names)
				*(bool *)dst = i == 1;
			else
				*(int *)dst = (int)i;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; k->enums[i] != NULL && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		    i ? ", " : "", k->enums[i]);
	cfg_err(c, n, path, "\"%s\" is not one of: %s", s, list);
	return -1;
}

/*
 * Walks mapping <map> against <keys>, filling <base>.  <path> is the dotted
 * path of the mapping ("" at the top).  Reports every problem; returns -1 if
 * there was any.
 */
static int
cfg_map(struct cfg *c, yaml_node_t *map, const struct ckey *keys, void *base,
    const char *path)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*kn, *vn;
	const struct ckey	*k;
	const char		*name;
	char			 kpath[CFG_PATH_MAX];
	uint64_t		 seen = 0;
	size_t			 i;
	int			 rc = 0;

	if (map->type != YAML_MAPPING_NODE) {
		cfg_err(c, map, path, "expected a mapping of keys to values");
		return -1;
	}
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		if (c->budget-- == 0) {
			cfg_err(c, map, path, "document too large");
			return -1;
		}
		kn = yaml_document_get_node(&c->doc, pair->key);
		vn = yaml_document_get_node(&c->doc, pair->value);
		if (kn == NULL || vn == NULL || (name = scalar(kn)) == NULL) {
			cfg_err(c, kn != NULL ? kn : map, path,
			    "keys must be plain names");
			rc = -1;
			continue;
		}
		snprintf(kpath, sizeof(kpath), "%s%s%s", path,
		    *path ? "." : "", name);
		for (i = 0, k = keys; k->name != NULL; k++, i++)
			if (strcmp(k->name, name) == 0)
				break;
		if (k->name == NULL) {
			cfg_err(c, kn, kpath, "unknown key");
			rc = -1;
			continue;
		}
		if (seen & (1ULL << i)) {
			cfg_err(c, kn, kpath, "duplicate key");
			rc = -1;
			continue;
		}
		seen |= 1ULL << i;
		if (cfg_value(c, vn, k, base, kpath) == -1)
			rc = -1;
	}
	for (i = 0, k = keys; k->name != NULL; k++, i++) {
		if (k->required && !(seen & (1ULL << i))) {
			snprintf(kpath, sizeof(kpath), "%s%s%s", path,
			    *path ? "." : "", k->name);
			cfg_err(c, map, kpath, "required key is missing");
			rc = -1;
		}
	}
	return rc;
}

/* A mapping section of struct policy: find its table by name. */
static int
sec_mapping(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	size_t	i;

	if (strcmp(path, "tls") == 0) {
		c->pol->tls.line = (int)n->start_mark.line + 1;
		c->pol->tls.col = (int)n->start_mark.column + 1;
		/* 0 is a depth of its own (no intermediate CA). */
		c->pol->tls.verify_depth = POLICY_TLS_VERIFY_DEPTH_DEFAULT;
	} else if (strcmp(path, "auth") == 0) {
		c->pol->auth.line = (int)n->start_mark.line + 1;
		c->pol->auth.col = (int)n->start_mark.column + 1;
	} else if (strcmp(path, "upstream") == 0) {
		c->pol->upstream.line = (int)n->start_mark.line + 1;
		c->pol->upstream.col = (int)n->start_mark.column + 1;
	} else if (strcmp(path, "admin") == 0) {
		c->pol->has_admin = true;
		c->pol->admin.line = (int)n->start_mark.line + 1;
		c->pol->admin.col = (int)n->start_mark.column + 1;
		c->pol->admin.port = POLICY_ADMIN_PORT_DEFAULT;
	} else if (strcmp(path, "audit") == 0) {
		c->pol->audit.line = (int)n->start_mark.line + 1;
		c->pol->audit.col = (int)n->start_mark.column + 1;
	}
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i].name, path) == 0)
			return cfg_map(c, n, sections[i].keys, dst, path);
	cfg_err(c, n, path, "internal error: no table for section");
	return -1;
}

/* tls.min_version: 1.0, 1.1, 1.2 or 1.3 (0 stays "the profile's"). */
static int
tls_min_version(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct ckey k = { "min_version", K_ENUM, 0, false, 0, 0,
	    tls_version_names, NULL };
	int	i;

	if (cfg_value(c, n, &k, &i, path) == -1)
		return -1;
	*(enum policy_tls_version *)dst = (enum policy_tls_version)(i +
	    POLICY_TLS_1_0);
	return 0;
}

/*
 * A colon-separated OpenSSL list into the bounded array <dst>, refused
 * here when OpenSSL cannot use it at all; whether it is weak depends on
 * tls.allow_insecure, which check_tls() knows once the section is read.
 */
static int
tls_list(struct cfg *c, yaml_node_t *n, char *dst, const char *path,
    enum tls_verdict (*check)(const char *, char *, size_t))
{
	const char	*s = scalar(n);
	char		 why[CONFIG_ERROR_LEN / 2];

	if (s == NULL) {
		cfg_err(c, n, path, "expected a colon-separated list such as "
		    "\"A:B\", got a %s", n->type == YAML_MAPPING_NODE ?
		    "mapping" : "YAML list");
		return -1;
	}
	if (*s == '\0' || strlen(s) >= POLICY_TLS_LIST_MAX) {
		cfg_err(c, n, path, "must be 1 to %d characters",
		    POLICY_TLS_LIST_MAX - 1);
		return -1;
	}
	if (check(s, why, sizeof(why)) == TLS_INVALID) {
		cfg_err(c, n, path, "%s", why);
		return -1;
	}
	snprintf(dst, POLICY_TLS_LIST_MAX, "%s", s);
	return 0;
}

static int
tls_ciphers(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	return tls_list(c, n, dst, path, tls_ciphers_check);
}

static int
tls_suites(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	return tls_list(c, n, dst, path, tls_ciphersuites_check);
}

static int
tls_groups(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	return tls_list(c, n, dst, path, tls_groups_check);
}

/*
 * tls.crl: one PEM file, or a YAML list of up to POLICY_TLS_CRL_MAX; each
 * path resolved and readable.  Their content is checked by tls, against
 * the CA, when the context is built.  <dst> is the struct policy_tls.
 */
static int
tls_crl(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct ckey k = { "crl", K_PATH, 0, false, 0, 0, NULL,
	    NULL };
	struct policy_tls	*t = dst;
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	char			 ipath[CFG_PATH_MAX], *file;
	size_t			 count, i;
	int			 rc = 0;

	if (n->type == YAML_SEQUENCE_NODE) {
		it = n->data.sequence.items.start;
		count = (size_t)(n->data.sequence.items.top - it);
	} else {
		it = NULL;
		count = 1;
	}
	if (count == 0 || count > POLICY_TLS_CRL_MAX) {
		cfg_err(c, n, path, "expected 1 to %d CRL files",
		    POLICY_TLS_CRL_MAX);
		return -1;
	}
	for (i = 0; i < count; i++) {
		item = it != NULL ? yaml_document_get_node(&c->doc, it[i]) : n;
		if (item == NULL)
			continue;
		if (it != NULL)
			snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		else
			snprintf(ipath, sizeof(ipath), "%s", path);
		file = NULL;
		if (cfg_value(c, item, &k, &file, ipath) == -1) {
			rc = -1;
			continue;
		}
		if (strlen(file) >= sizeof(t->crl[0])) {
			cfg_err(c, item, ipath, "path too long");
			rc = -1;
		} else
			snprintf(t->crl[t->n_crl++], sizeof(t->crl[0]), "%s",
			    file);
		free(file);
	}
	return rc;
}

/*
 * A path key kept in a bounded PATH_MAX array <dst> (upstream.ca, .cert,
 * .key): resolved and readable, as K_PATH.
 */
static int
path_buf(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct ckey k = { "path", K_PATH, 0, false, 0, 0, NULL,
	    NULL };
	char	*file = NULL;
	int	 rc = 0;

	if (cfg_value(c, n, &k, &file, path) == -1)
		return -1;
	if (strlen(file) >= PATH_MAX) {
		cfg_err(c, n, path, "path too long");
		rc = -1;
	} else
		snprintf(dst, PATH_MAX, "%s", file);
	free(file);
	return rc;
}

/*
 * A DNS name for SNI into <dst> (<len> bytes), in lower case: letters,
 * digits and hyphens in dot-separated labels of 1 to 63 characters, at
 * most 253 in all; with <wild> (tls.sni) a first label "*" may stand for
 * one label (RFC 6125) of a domain of at least two, and an IP address is
 * refused (RFC 6066 has no SNI for it); without, an IP address is taken
 * as it is.  Returns 0, or -1 after reporting the error.
 */
static int
sni_name(struct cfg *c, yaml_node_t *n, const char *path, char *dst,
    size_t len, bool wild)
{
	const char	*s = scalar(n), *p, *label;
	unsigned char	 a6[sizeof(struct in6_addr)];
	size_t		 i, dots = 0;

	if (s == NULL || *s == '\0') {
		cfg_err(c, n, path, "expected a host name");
		return -1;
	}
	if (inet_pton(AF_INET, s, a6) == 1 || inet_pton(AF_INET6, s, a6) ==
	    1) {
		if (wild) {
			cfg_err(c, n, path, "\"%s\" is an IP address: "
			    "clients send host names only (RFC 6066)", s);
			return -1;
		}
		snprintf(dst, len, "%s", s);
		return 0;
	}
	if (strlen(s) > 253 || strlen(s) >= len)
		goto bad;
	p = s;
	if (wild && strncmp(s, "*.", 2) == 0)
		p = s + 2;
	for (label = p; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' ||
			    p[-1] == '-')
				goto bad;
			if (*p == '\0')
				break;
			dots++;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-')
			goto bad;
	}
	if (s[0] == '*' && dots == 0) {
		cfg_err(c, n, path, "\"%s\": a wildcard needs a domain of "
		    "at least two labels, as *.example.com", s);
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[i] = '\0';
	return 0;
bad:
	cfg_err(c, n, path, "\"%s\" is not a DNS name%s", s, wild ?
	    " (or *.<domain>)" : "");
	return -1;
}

/* upstream.server_name: a host name or an IP address. */
static int
up_server_name(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	return sni_name(c, n, path, dst, POLICY_TLS_NAME_MAX, false);
}

/*
 * tls.sni: a list of up to POLICY_TLS_SNI_MAX mappings {name, cert, key},
 * names distinct.  The pairs are judged, like tls.cert, when the context is
 * built.  <dst> is the struct policy_tls.
 */
static int
tls_sni(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	struct policy_tls	*t = dst;
	struct policy_tls_sni	*e;
	struct sni_entry	 tmp;
	yaml_node_item_t	*it;
	yaml_node_t		*item, *kn, *vn;
	yaml_node_pair_t	*pair;
	char			 ipath[CFG_PATH_MAX];
	char			 npath[CFG_PATH_MAX + sizeof(".name")];
	size_t			 count, i, j;
	int			 rc = 0;

	if ((it = list_items(c, n, path, POLICY_TLS_SNI_MAX,
	    "a list of {name, cert, key}", "entries", &count)) == NULL)
		return -1;
	for (i = 0; i < count; i++) {
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		memset(&tmp, 0, sizeof(tmp));
		if (cfg_map(c, item, sni_keys, &tmp, ipath) == -1) {
			rc = -1;
			goto next;
		}
		if (strlen(tmp.cert) >= PATH_MAX || strlen(tmp.key) >=
		    PATH_MAX) {
			cfg_err(c, item, ipath, "path too long");
			rc = -1;
			goto next;
		}
		e = &t->sni[t->n_sni];
		/* The name's node, for errors at its place. */
		vn = item;
		for (pair = item->data.mapping.pairs.start;
		    pair < item->data.mapping.pairs.top; pair++)
			if ((kn = yaml_document_get_node(&c->doc,
			    pair->key)) != NULL && scalar(kn) != NULL &&
			    strcmp(scalar(kn), "name") == 0)
				vn = yaml_document_get_node(&c->doc,
				    pair->value);
		snprintf(npath, sizeof(npath), "%s.name", ipath);
		if (vn == NULL || sni_name(c, vn, npath, e->name,
		    sizeof(e->name), true) == -1) {
			rc = -1;
			goto next;
		}
		for (j = 0; j < t->n_sni; j++)
			if (strcmp(t->sni[j].name, e->name) == 0)
				break;
		if (j < t->n_sni) {
			cfg_err(c, vn, npath, "\"%s\" is already in "
			    "%s[%zu] (line %d)", e->name, path, j,
			    t->sni[j].line);
			rc = -1;
			goto next;
		}
		snprintf(e->cert, sizeof(e->cert), "%s", tmp.cert);
		snprintf(e->key, sizeof(e->key), "%s", tmp.key);
		e->line = (int)item->start_mark.line + 1;
		e->col = (int)item->start_mark.column + 1;
		t->n_sni++;
next:
		free(tmp.name);
		free(tmp.cert);
		free(tmp.key);
	}
	return rc;
}

/* listeners: a non-empty list of mappings. */
static int
sec_listeners(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	struct policy		*p = c->pol;
	struct policy_listener	*l;
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	size_t			 count, i;
	char			 ipath[CFG_PATH_MAX];
	int			 rc = 0;

	(void)dst;
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected a list of listeners");
		return -1;
	}
	count = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	if (count == 0) {
		cfg_err(c, n, path, "at least one listener is required");
		return -1;
	}
	if (count > 256) {
		cfg_err(c, n, path, "too many listeners (at most 256)");
		return -1;
	}
	if ((p->listeners = calloc(count, sizeof(*p->listeners))) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	p->n_listeners = count;
	for (i = 0, it = n->data.sequence.items.start; i < count; i++, it++) {
		l = &p->listeners[i];
		l->tls = true;
		l->backlog = POLICY_BACKLOG_DEFAULT;
		l->mode = -1;		/* the policy's: see check_policy() */
		item = yaml_document_get_node(&c->doc, *it);
		if (item == NULL)
			continue;
		l->line = (int)item->start_mark.line + 1;
		l->col = (int)item->start_mark.column + 1;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (cfg_map(c, item, listener_keys, l, ipath) == -1)
			rc = -1;
		else {
			check_proxy(c, item, l, ipath);
			check_websocket(c, item, l, ipath);
		}
		if (l->name == NULL && l->address != NULL) {
			char	buf[80];

			snprintf(buf, sizeof(buf), "%s:%u", l->address,
			    l->port);
			if ((l->name = strdup(buf)) == NULL) {
				cfg_err(c, item, ipath, "out of memory");
				rc = -1;
			}
		}
	}
	return rc;
}

/*
 * The items of the list <n> at <path>, 1 to <max> of them, in *<count>;
 * NULL after an error "expected <list>" (not a list) or "expected 1 to
 * <max> <what>".
 */
static yaml_node_item_t *
list_items(struct cfg *c, yaml_node_t *n, const char *path, size_t max,
    const char *list, const char *what, size_t *count)
{
	yaml_node_item_t	*it;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected %s", list);
		return NULL;
	}
	it = n->data.sequence.items.start;
	*count = (size_t)(n->data.sequence.items.top - it);
	if (*count == 0 || *count > max) {
		cfg_err(c, n, path, "expected 1 to %zu %s", max, what);
		return NULL;
	}
	return it;
}

/*
 * listeners[].trusted_proxies: a list of 1 to POLICY_TRUSTED_PROXIES_MAX
 * address ranges ("10.0.0.0/8", "2001:db8::/32", or a bare address), the
 * load balancers allowed to send a PROXY header.  <dst> is the listener.
 */
static int
trusted_proxies(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	struct policy_listener	*l = dst;
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	char			 ipath[CFG_PATH_MAX];
	const char		*s;
	size_t			 count, i;
	int			 rc = 0;

	if ((it = list_items(c, n, path, POLICY_TRUSTED_PROXIES_MAX,
	    "a list of address ranges such as [10.0.0.0/8, 2001:db8::/32]",
	    "address ranges", &count)) == NULL)
		return -1;
	for (i = 0; i < count; i++) {
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if ((s = scalar(item)) == NULL || proxy_cidr_parse(s,
		    &l->trusted_proxies[l->n_trusted_proxies]) == -1) {
			cfg_err(c, item, ipath, "\"%s\" is not an address or "
			    "a range such as 10.0.0.0/8 or 2001:db8::/32 "
			    "(with no host bits set)", s != NULL ? s : "");
			rc = -1;
			continue;
		}
		l->n_trusted_proxies++;
	}
	return rc;
}

/*
 * listeners[].websocket_path: the path of the upgrade request, "/" and up
 * to WS_PATH_MAX - 1 printable ASCII characters, no space, '?' or '#'.
 * <dst> is the listener.
 */
static int
ws_path(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	struct policy_listener	*l = dst;
	const char		*s = scalar(n);
	size_t			 len;

	if (s == NULL || s[0] != '/' || (len = strlen(s)) >= WS_PATH_MAX ||
	    !ws_token(s, len) || strpbrk(s, "?#") != NULL) {
		cfg_err(c, n, path, "expected a path such as /mqtt: \"/\" "
		    "then at most %d printable ASCII characters, no space, "
		    "'?' or '#'", WS_PATH_MAX - 2);
		return -1;
	}
	free(l->ws_path);
	if ((l->ws_path = strdup(s)) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	return 0;
}

/* Printable ASCII, no space: what a path or an Origin is made of. */
static bool
ws_token(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] > 0x7e)
			return false;
	return len > 0;
}

/*
 * listeners[].websocket_origins: 1 to POLICY_WS_ORIGINS_MAX Origin values
 * as browsers send them ("https://app.example.com", a port when not the
 * scheme's, no path).  An empty list is refused: it would read as "no
 * Origin" but the loader could only take it as "any".
 */
static int
ws_origins(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	struct policy_listener	*l = dst;
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	char			 ipath[CFG_PATH_MAX];
	const char		*s;
	size_t			 count, i;

	if ((it = list_items(c, n, path, POLICY_WS_ORIGINS_MAX,
	    "a list of origins such as [https://dashboard.example.com]",
	    "origins (leave the key out to accept any)", &count)) == NULL)
		return -1;
	if ((l->ws_origins = calloc(count, sizeof(char *))) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if ((s = scalar(item)) == NULL || strlen(s) >= WS_ORIGIN_MAX ||
		    !ws_token(s, strlen(s)) || (strcmp(s, "null") != 0 &&
		    strstr(s, "://") == NULL)) {
			cfg_err(c, item, ipath, "\"%s\" is not an origin such "
			    "as https://app.example.com (scheme://host[:port], "
			    "under %d characters)", s != NULL ? s : "",
			    WS_ORIGIN_MAX);
			return -1;
		}
		if ((l->ws_origins[l->n_ws_origins] = strdup(s)) == NULL) {
			cfg_err(c, item, ipath, "out of memory");
			return -1;
		}
		l->n_ws_origins++;
	}
	return 0;
}

/*
 * The websocket_* keys mean something only with websocket: true; with
 * it, the path defaults to /mqtt.  <n> is the listener's node.
 */
static void
check_websocket(struct cfg *c, yaml_node_t *n, struct policy_listener *l,
    const char *path)
{
	static const char *const keys[] = { "websocket_path",
	    "websocket_origins", "websocket_max_message", NULL };
	char	key[CFG_PATH_MAX];
	size_t	i;

	if (!l->websocket) {
		for (i = 0; keys[i] != NULL; i++) {
			if (!has_key(c, n, keys[i]))
				continue;
			keypath(key, "%s.%s", path, keys[i]);
			cfg_err(c, n, key, "has no effect without websocket: "
			    "true");
		}
		return;
	}
	if (l->ws_path == NULL && (l->ws_path = strdup("/mqtt")) == NULL)
		cfg_err(c, n, path, "out of memory");
}

/*
 * A PROXY header is believed only from trusted_proxies: the two keys go
 * together.  <n> is the listener's node, for where to point.
 */
static void
check_proxy(struct cfg *c, yaml_node_t *n, const struct policy_listener *l,
    const char *path)
{
	char	key[CFG_PATH_MAX];

	if (l->proxy_protocol != PROXY_OFF && l->n_trusted_proxies == 0) {
		keypath(key, "%s.trusted_proxies", path);
		cfg_err(c, n, key, "required with proxy_protocol: the "
		    "addresses of the load balancers that send the header");
	} else if (l->proxy_protocol == PROXY_OFF &&
	    l->n_trusted_proxies > 0) {
		keypath(key, "%s.trusted_proxies", path);
		cfg_err(c, n, key, "has no effect without proxy_protocol "
		    "(v1, v2 or any)");
	}
}

/*
 * workers: a number (1..POLICY_WORKERS_MAX) or "auto": one per CPU the
 * process may use (config_cpus()), how it counted kept for the log.
 */
static int
sec_workers(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct ckey k = { "workers", K_UINT, 0, false, 1,
	    POLICY_WORKERS_MAX, NULL, NULL };
	const char	*s = scalar(n);
	unsigned	 ncpu;

	if (s != NULL && strcmp(s, "auto") == 0) {
		ncpu = config_cpus(CONFIG_CGROUP_ROOT, CONFIG_PROC_CGROUP,
		    c->pol->workers_auto, sizeof(c->pol->workers_auto));
		*(unsigned *)dst = ncpu > POLICY_WORKERS_MAX ?
		    POLICY_WORKERS_MAX : ncpu;
		return 0;
	}
	c->pol->workers_auto[0] = '\0';
	return cfg_value(c, n, &k, dst, path);
}

/*
 * auth.hash_threads: a number (1..64) or "auto" (the default): as many as
 * the CPUs the process may use (config_cpus()), for the same reason as
 * "workers: auto"; how it counted is kept for the log.
 */
static int
auth_hash_threads(struct cfg *c, yaml_node_t *n, void *dst,
    const char *path)
{
	static const struct ckey k = { "hash_threads", K_UINT, 0, false, 1,
	    POLICY_HASH_THREADS_MAX, NULL, NULL };
	const char	*s = scalar(n);

	if (s != NULL && strcmp(s, "auto") == 0) {
		*(unsigned *)dst = 0;	/* counted once the file is read */
		return 0;
	}
	return cfg_value(c, n, &k, dst, path);
}

/* auth.lockout: a mapping of the scopes and the known-device exemption. */
static int
auth_lockout(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	(void)dst;
	return cfg_map(c, n, lockout_keys, &c->pol->auth, path);
}

/* auth.lockout.pair, .identity or .address, by the last path element. */
static int
lock_scope(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	const char	*scope = strrchr(path, '.');

	scope = scope != NULL ? scope + 1 : path;
	if (strcmp(scope, "pair") == 0)
		return cfg_map(c, n, lock_pair_keys, dst, path);
	if (strcmp(scope, "identity") == 0)
		return cfg_map(c, n, lock_identity_keys, dst, path);
	return cfg_map(c, n, lock_address_keys, dst, path);
}

/*
 * The keys of the single failure counter shared by users and addresses,
 * which let a few broken devices behind one NAT lock out the whole fleet.
 * Their meaning cannot be carried over to three scopes without surprise,
 * so the policy is refused with the keys that replace them.
 */
static int
auth_old_key(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	const char	*key = strrchr(path, '.');

	(void)dst;
	key = key != NULL ? key + 1 + strlen("lockout_") : path;
	cfg_err(c, n, path, "replaced by the per-scope keys "
	    "auth.lockout.pair.%s, auth.lockout.identity.%s and "
	    "auth.lockout.address.%s (README, \"Brute-force protection\")",
	    key, key, strcmp(key, "failures") == 0 ? "identities" : key);
	return -1;
}

/*
 * The lockout scopes as a whole: a cap shorter than the first lockout, a
 * tarpit that starts after the block, and "hash_threads: auto" counted.
 */
static void
check_lockout(struct cfg *c)
{
	struct policy_auth	*a = &c->pol->auth;
	static const char	*const names[] = { "pair", "identity",
	    "address" };
	const struct policy_lockout *l[] = { &a->lock_pair, &a->lock_identity,
	    &a->lock_address };
	char			 key[64];
	size_t			 i;
	unsigned		 ncpu;

	for (i = 0; i < 3; i++) {
		if (l[i]->max_ms >= l[i]->duration_ms)
			continue;
		snprintf(key, sizeof(key), "auth.lockout.%s.max", names[i]);
		cfg_errat(c, a->line, a->col, key, "is shorter than "
		    "auth.lockout.%s.duration", names[i]);
	}
	if (a->lock_address.failures > 0 && a->lock_address.tarpit_after >
	    a->lock_address.failures)
		cfg_errat(c, a->line, a->col,
		    "auth.lockout.address.tarpit_after", "is above "
		    "auth.lockout.address.identities: the address would be "
		    "blocked before it is slowed");
	if (a->hash_threads == 0) {
		ncpu = config_cpus(CONFIG_CGROUP_ROOT, CONFIG_PROC_CGROUP,
		    a->hash_threads_auto, sizeof(a->hash_threads_auto));
		a->hash_threads = ncpu > POLICY_HASH_THREADS_MAX ?
		    POLICY_HASH_THREADS_MAX : ncpu;
	}
}

unsigned
config_cpus(const char *cgroup_root, const char *proc_cgroup, char *why,
    size_t whylen)
{
	uint64_t	quota = 0, period = 0;
	unsigned	n = affinity_cpus(), q;
	int		r;

	r = cgroup_quota(cgroup_root, proc_cgroup, &quota, &period);
	if (r == 1) {
		q = (unsigned)((quota + period - 1) / period);
		util_errf(why, whylen, "affinity %u CPU%s, cgroup cpu.max %.1f",
		    n, n == 1 ? "" : "s", (double)quota / (double)period);
		if (q < n)
			n = q;
	} else
		util_errf(why, whylen, "affinity %u CPU%s, %s", n,
		    n == 1 ? "" : "s", r == 0 ? "cgroup cpu.max max" :
		    "no cgroup v2 cpu.max");
	return n < 1 ? 1 : n;
}

/* The CPUs of the affinity mask, or those online if it cannot be read. */
static unsigned
affinity_cpus(void)
{
	cpu_set_t	set;
	long		n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    (n = CPU_COUNT(&set)) > 0)
		return (unsigned)n;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)n;
}

/*
 * The tightest cpu.max from the process's cgroup up to <root>: 1 with
 * <quota> and <period>, 0 if every one found says "max", -1 if none was
 * found (no cgroup v2, or another namespace's path).
 */
static int
cgroup_quota(const char *root, const char *proc_cgroup, uint64_t *quota,
    uint64_t *period)
{
	char		line[PATH_MAX], file[PATH_MAX + 64], text[64];
	char		*cg = NULL, *slash;
	uint64_t	q, p;
	FILE		*fp;
	int		r, rc = -1;

	if ((fp = fopen(proc_cgroup, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "0::/", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			cg = line + 3;
			break;
		}
	fclose(fp);
	while (cg != NULL) {
		snprintf(file, sizeof(file), "%s%s/cpu.max", root,
		    strcmp(cg, "/") == 0 ? "" : cg);
		if ((fp = fopen(file, "re")) != NULL) {
			r = fgets(text, sizeof(text), fp) != NULL ?
			    config_cpu_max(text, &q, &p) : -1;
			fclose(fp);
			/* Compare q/p with quota/period without division. */
			if (r == 1 && (rc != 1 || q * *period < *quota * p)) {
				*quota = q;
				*period = p;
				rc = 1;
			} else if (r == 0 && rc == -1)
				rc = 0;
		}
		if (strcmp(cg, "/") == 0)
			break;
		slash = strrchr(cg, '/');
		if (slash == cg)
			cg[1] = '\0';
		else
			*slash = '\0';
	}
	return rc;
}

int
config_cpu_max(const char *text, uint64_t *quota, uint64_t *period)
{
	const char	*s = text;
	char		*end;
	bool		 max = false;

	if (strncmp(s, "max", 3) == 0) {
		max = true;
		s += 3;
	} else {
		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		*quota = strtoull(s, &end, 10);
		if (errno != 0 || *quota == 0)
			return -1;
		s = end;
	}
	if (*s != ' ' || !isdigit((unsigned char)s[1]))
		return -1;
	errno = 0;
	*period = strtoull(s + 1, &end, 10);
	if (errno != 0 || *period == 0 || *period > 1000000 ||
	    (*end != '\0' && strcmp(end, "\n") != 0))
		return -1;
	if (*quota > UINT64_MAX / 1000000)	/* q * period must not wrap */
		return -1;
	return max ? 0 : 1;
}

const char *
config_yaml_version(void)
{
	return yaml_get_version_string();
}

/*
 * log.file: the log goes there instead of stderr.  Resolved like every
 * path; the file need not exist yet (it is created at start), but its
 * directory must, and it must not be a directory itself.
 */
static int
log_file(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct ckey k = { "file", K_STR, 0, false, 0, 0, NULL,
	    NULL };
	char		*s = NULL, *file = NULL, *slash;
	struct stat	 st;
	int		 rc = -1;

	if (cfg_value(c, n, &k, &s, path) == -1)
		return -1;
	if ((file = resolve_path(c, s)) == NULL || strlen(file) >= PATH_MAX) {
		cfg_err(c, n, path, "path too long");
		goto done;
	}
	if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
		cfg_err(c, n, path, "%s: is a directory", file);
		goto done;
	}
	snprintf(dst, PATH_MAX, "%s", file);
	if ((slash = strrchr(file, '/')) != NULL) {
		*slash = '\0';
		if (stat(slash == file ? "/" : file, &st) == -1 ||
		    !S_ISDIR(st.st_mode)) {
			cfg_err(c, n, path, "%s: no such directory for the "
			    "log file", slash == file ? "/" : file);
			*(char *)dst = '\0';
			goto done;
		}
	}
	rc = 0;
done:
	free(s);
	free(file);
	return rc;
}

/*
 * acl: the compiled index goes to pol->acl (made here, so that an acl
 * section without rules still means "deny everything").  Read again for
 * each included file, into the same index.
 */
static int
sec_acl(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	struct acl_parse	ap;
	char			ipath[CFG_PATH_MAX];
	int			rc;

	(void)dst;
	memset(&ap, 0, sizeof(ap));
	if (c->pol->acl == NULL && (c->pol->acl = acl_new()) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	rc = cfg_map(c, n, acl_keys, &ap, path);
	keypath(ipath, "%s.groups", path);
	if (ap.groups != NULL && acl_groups(c, ap.groups, ipath) == -1)
		rc = -1;
	keypath(ipath, "%s.include", path);
	if (ap.include != NULL && acl_include(c, ap.include, ipath) == -1)
		rc = -1;
	keypath(ipath, "%s.rules", path);
	if (ap.rules != NULL && acl_rules(c, ap.rules, ipath) == -1)
		rc = -1;
	return rc;
}

/*
 * One pair of a mapping of names to values (acl.groups, limits.users, ...)
 * within the walk's budget: its key and value nodes and the name.  Returns
 * 0, 1 when the pair is reported and skipped, -1 when the walk must stop.
 */
static int
named_pair(struct cfg *c, yaml_node_t *map, yaml_node_pair_t *pair,
    const char *path, yaml_node_t **kn, yaml_node_t **vn, const char **name)
{
	if (c->budget-- == 0) {
		cfg_err(c, map, path, "document too large");
		return -1;
	}
	*kn = yaml_document_get_node(&c->doc, pair->key);
	*vn = yaml_document_get_node(&c->doc, pair->value);
	if (*kn == NULL || *vn == NULL || (*name = scalar(*kn)) == NULL ||
	    **name == '\0') {
		cfg_err(c, *kn != NULL ? *kn : map, path, "names must be plain "
		    "names");
		return 1;
	}
	return 0;
}

/*
 * limits.listeners, .users, .groups and .topic_rates: kept for after the
 * whole file is read (a group is declared in acl, anywhere), and only
 * directly under limits, not inside one of their own entries.
 */
/*
 * limits.monitor: "all", or a list of the limits whose refusals only
 * warn (POLICY_MON_*); an override entry's list replaces the one it
 * refines.
 */
static int
lim_monitor(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} names[] = {
		{ "message_rate", POLICY_MON_MESSAGE_RATE },
		{ "byte_rate", POLICY_MON_BYTE_RATE },
		{ "topic_rates", POLICY_MON_TOPIC_RATES },
		{ "user_message_rate", POLICY_MON_USER_RATE },
		{ "user_byte_rate", POLICY_MON_USER_RATE },
		{ "subscribe_rate", POLICY_MON_SUBSCRIBE_RATE },
		{ "max_subscriptions", POLICY_MON_SUBSCRIPTIONS },
		{ "max_inflight", POLICY_MON_INFLIGHT },
		{ "max_topic_length", POLICY_MON_TOPIC_BOUNDS },
		{ "max_topic_levels", POLICY_MON_TOPIC_BOUNDS },
		{ "all", POLICY_MON_ALL },
	};
	yaml_node_item_t	*it;
	yaml_node_t		*e;
	unsigned		 bits = 0;
	size_t			 i;
	int			 rc = 0;

	if (n->type == YAML_SCALAR_NODE && strcmp(scalar(n), "all") == 0) {
		*(unsigned *)dst = POLICY_MON_ALL;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected \"all\" or a list of limits");
		return -1;
	}
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		e = yaml_document_get_node(&c->doc, *it);
		for (i = 0; e != NULL && e->type == YAML_SCALAR_NODE &&
		    i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(scalar(e), names[i].name) == 0)
				break;
		if (e == NULL || e->type != YAML_SCALAR_NODE ||
		    i == sizeof(names) / sizeof(names[0])) {
			cfg_err(c, e != NULL ? e : n, path, "not a limit "
			    "monitor may name (rates, max_subscriptions, "
			    "max_inflight, max_topic_length, "
			    "max_topic_levels, all)");
			rc = -1;
			continue;
		}
		bits |= names[i].bit;
	}
	*(unsigned *)dst = bits;
	return rc;
}

static int
lim_defer(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	(void)dst;
	if (strcmp(path, "limits.listeners") == 0)
		c->lim_listeners = n;
	else if (strcmp(path, "limits.users") == 0)
		c->lim_users = n;
	else if (strcmp(path, "limits.groups") == 0)
		c->lim_groups = n;
	else if (strcmp(path, "limits.topic_rates") == 0)
		c->lim_topics = n;
	else {
		cfg_err(c, n, path, "allowed only directly under limits");
		return -1;
	}
	return 0;
}

/*
 * The keys an entry of limits.listeners (<preauth>), .users or .groups may
 * not set: handshake_budget anywhere (a worker's time is its listeners'
 * together), and in a user or group entry what applies before anybody is
 * authenticated.  -1 when the entry <vn> at <epath> sets one (each named).
 */
static int
lim_set_keys(struct cfg *c, yaml_node_t *vn, const char *epath, bool preauth)
{
	yaml_node_pair_t	*kp;
	yaml_node_t		*kk;
	char			 kpath[CFG_PATH_MAX];
	size_t			 i;
	int			 rc = 0;

	if (vn->type != YAML_MAPPING_NODE)
		return 0;
	for (kp = vn->data.mapping.pairs.start;
	    kp < vn->data.mapping.pairs.top; kp++) {
		kk = yaml_document_get_node(&c->doc, kp->key);
		if (kk == NULL || scalar(kk) == NULL)
			continue;
		keypath(kpath, "%s.%s", epath, scalar(kk));
		if (strcmp(scalar(kk), "handshake_budget") == 0) {
			cfg_err(c, kk, kpath, "a share of each worker's time, "
			    "for every listener at once: set it in limits");
			rc = -1;
			continue;
		}
		if (preauth)
			continue;
		for (i = 0; lim_preauth_keys[i] != NULL; i++)
			if (strcmp(scalar(kk), lim_preauth_keys[i]) == 0)
				break;
		if (lim_preauth_keys[i] == NULL)
			continue;
		cfg_err(c, kk, kpath, "applies before the client is "
		    "authenticated: set it in limits or limits.listeners");
		rc = -1;
	}
	return rc;
}

/*
 * A mapping of names to limits (limits.listeners, .users, .groups): each
 * entry is read with the keys of limits itself, into a set where what is
 * not written stays unset.  Users and groups may not set what applies
 * before anybody is authenticated (<preauth> false).
 */
static int
lim_sets(struct cfg *c, yaml_node_t *n, const char *path, bool preauth,
    struct policy_limits_set **out, size_t *nout)
{
	struct policy_limits_set *v, *e;
	yaml_node_pair_t	*pair;
	yaml_node_t		*kn, *vn;
	const char		*name;
	char			 epath[CFG_PATH_MAX];
	size_t			 count, j;
	int			 rc = 0;

	if (n->type != YAML_MAPPING_NODE) {
		cfg_err(c, n, path, "expected a mapping of names to limits, "
		    "such as {%s: {message_rate: 10}}",
		    strstr(path, "listeners") ? "mqtts" :
		    strstr(path, "groups") ? "devices" : "sensor1");
		return -1;
	}
	count = (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
	if (count == 0)
		return 0;
	if ((v = calloc(count, sizeof(*v))) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	*out = v;
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		switch (named_pair(c, n, pair, path, &kn, &vn, &name)) {
		case -1:
			return -1;
		case 1:
			rc = -1;
			continue;
		}
		keypath(epath, "%s.%s", path, name);
		for (j = 0; j < *nout; j++)
			if (strcmp(v[j].name, name) == 0)
				break;
		if (j < *nout) {
			cfg_err(c, kn, epath, "duplicate entry (line %d)",
			    v[j].line);
			rc = -1;
			continue;
		}
		e = &v[*nout];
		policy_limits_unset(&e->v);
		e->line = (int)kn->start_mark.line + 1;
		e->col = (int)kn->start_mark.column + 1;
		if ((e->name = strdup(name)) == NULL) {
			cfg_err(c, kn, epath, "out of memory");
			return -1;
		}
		(*nout)++;
		if (lim_set_keys(c, vn, epath, preauth) == -1)
			rc = -1;
		if (cfg_map(c, vn, limits_keys, &e->v, epath) == -1)
			rc = -1;
	}
	return rc;
}

/* limits.topic_rates: a list of {topic, message_rate, ..., byte_burst}. */
static int
lim_topics(struct cfg *c, yaml_node_t *n, const char *path)
{
	struct policy		*p = c->pol;
	struct policy_topic_rate *r;
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	char			 ipath[CFG_PATH_MAX], err[CONFIG_ERROR_LEN / 2];
	size_t			 count, i;
	int			 rc = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected a list of {topic, message_rate, "
		    "message_burst, byte_rate, byte_burst}");
		return -1;
	}
	it = n->data.sequence.items.start;
	count = (size_t)(n->data.sequence.items.top - it);
	if (count > POLICY_TOPIC_RATES_MAX) {
		cfg_err(c, n, path, "too many rules (at most %d)",
		    POLICY_TOPIC_RATES_MAX);
		return -1;
	}
	if (count == 0)
		return 0;
	if ((p->topic_rates = calloc(count, sizeof(*r))) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		r = &p->topic_rates[p->n_topic_rates++];
		r->line = (int)item->start_mark.line + 1;
		r->col = (int)item->start_mark.column + 1;
		keypath(ipath, "%s[%zu]", path, i);
		if (cfg_map(c, item, topic_rate_keys, r, ipath) == -1) {
			rc = -1;
			continue;
		}
		r->filter_len = strlen(r->filter);
		if (acl_filter_check(r->filter, err, sizeof(err)) == -1) {
			cfg_errat(c, r->line, r->col, ipath, "topic \"%s\": %s",
			    r->filter, err);
			rc = -1;
		} else if (r->message_rate == 0 && r->byte_rate == 0) {
			cfg_errat(c, r->line, r->col, ipath, "sets neither "
			    "message_rate nor byte_rate");
			rc = -1;
		}
	}
	return rc;
}

static int
who_cmp(const void *a, const void *b)
{
	return strcmp(((const struct policy_limits_set *)a)->name,
	    ((const struct policy_limits_set *)b)->name);
}

/* <name> among <v>'s <n> entries, or NULL. */
static struct policy_limits_set *
who_find(struct policy_limits_set *v, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/*
 * The limits as they apply: each listener's (the global ones with its
 * entry laid over), and each identity named by limits.users or a member of
 * a group in limits.groups, resolved once here so that a CONNECT costs one
 * binary search: its groups in the order limits.groups lists them, then its
 * own entry.
 */
static void
check_limits(struct cfg *c)
{
	struct policy		*p = c->pol;
	struct policy_limits_set *e;
	const struct acl_group	*g;
	char			 key[CFG_PATH_MAX];
	size_t			 i, k, cap;

	limits_per_listener(c);
	cap = p->n_limits_users;
	for (i = 0; i < p->n_limits_groups; i++) {
		e = &p->limits_groups[i];
		keypath(key, "limits.groups.%s", e->name);
		g = p->acl != NULL ? acl_group_find(p->acl, e->name) : NULL;
		if (g == NULL) {
			cfg_errat(c, e->line, e->col, key, "no group \"%s\" "
			    "in acl.groups", e->name);
			continue;
		}
		cap += g->n_members;
	}
	if (c->errs->n > 0 || cap == 0)
		return;
	if ((p->limits_who = calloc(cap, sizeof(*p->limits_who))) == NULL)
		goto oom;
	for (i = 0; i < p->n_limits_groups; i++) {
		e = &p->limits_groups[i];
		g = acl_group_find(p->acl, e->name);
		for (k = 0; k < g->n_members; k++)
			if (who_lay(p, g->members[k], &e->v) == -1)
				goto oom;
	}
	for (i = 0; i < p->n_limits_users; i++)
		if (who_lay(p, p->limits_users[i].name,
		    &p->limits_users[i].v) == -1)
			goto oom;
	qsort(p->limits_who, p->n_limits_who, sizeof(*p->limits_who),
	    who_cmp);
	return;
oom:
	cfg_errat(c, 0, 0, "limits", "out of memory");
}

/* The global limits for each listener, its limits.listeners entry over them. */
static void
limits_per_listener(struct cfg *c)
{
	struct policy		*p = c->pol;
	struct policy_limits_set *e;
	char			 key[CFG_PATH_MAX];
	size_t			 i, j;

	for (i = 0; i < p->n_listeners; i++) {
		p->listeners[i].index = (unsigned)i;
		p->listeners[i].limits = p->limits;
	}
	for (i = 0; i < p->n_limits_listeners; i++) {
		e = &p->limits_listeners[i];
		keypath(key, "limits.listeners.%s", e->name);
		for (j = 0; j < p->n_listeners; j++)
			if (strcmp(p->listeners[j].name, e->name) == 0)
				break;
		if (j == p->n_listeners) {
			cfg_errat(c, e->line, e->col, key, "no listener is "
			    "named \"%s\"", e->name);
			continue;
		}
		policy_limits_merge(&p->listeners[j].limits, &e->v);
		/*
		 * A listener's max_connections counts that listener; the
		 * global one still caps the whole proxy.
		 */
		if (e->v.max_connections != UINT_MAX)
			p->listeners[j].max_connections =
			    e->v.max_connections;
		p->listeners[j].limits.max_connections =
		    p->limits.max_connections;
	}
}

/*
 * Lays <v> over the resolved limits of identity <name> in
 * p->limits_who (made on first use; room was counted).  -1: ENOMEM.
 */
static int
who_lay(struct policy *p, const char *name, const struct policy_limits *v)
{
	struct policy_limits_set	*w;

	if ((w = who_find(p->limits_who, p->n_limits_who, name)) == NULL) {
		w = &p->limits_who[p->n_limits_who];
		if ((w->name = strdup(name)) == NULL)
			return -1;
		p->n_limits_who++;
		policy_limits_unset(&w->v);
	}
	policy_limits_merge(&w->v, v);
	return 0;
}

/* A key path such as "acl.rules[3].topic", cut at CFG_PATH_MAX. */
static void
keypath(char *buf, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	util_verrf(buf, CFG_PATH_MAX, fmt, ap);
	va_end(ap);
}

/* A key whose node is read later: keep the node. */
static int
acl_defer(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	(void)c;
	(void)path;
	*(yaml_node_t **)dst = n;
	return 0;
}

/* tests: read after the whole file, once the acl is complete. */
static int
sec_tests(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	(void)dst;
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected a list of tests");
		return -1;
	}
	c->tests = n;
	return 0;
}

/* acl.deny_action_v3: the main policy's choice, not an included file's. */
static int
acl_deny_v3(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	static const struct ckey k = { "deny_action_v3", K_ENUM, 0, false,
	    0, 0, deny_v3_names, NULL };
	int	v;

	(void)dst;
	if (c->depth > 0) {
		cfg_err(c, n, path, "only the main policy file may set it");
		return -1;
	}
	if (cfg_value(c, n, &k, &v, path) == -1)
		return -1;
	c->pol->acl_deny_v3 = (enum policy_deny_action)v;
	return 0;
}

/* allow:/deny: an action, "all", or a list of actions, into ACL_* bits. */
static int
acl_actions(struct cfg *c, yaml_node_t *n, void *dst, const char *path)
{
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	const char		*s;
	char			 ipath[CFG_PATH_MAX];
	unsigned		 bits = 0;
	size_t			 count, i;
	int			 a, rc = 0;

	if (n->type == YAML_SEQUENCE_NODE) {
		it = n->data.sequence.items.start;
		count = (size_t)(n->data.sequence.items.top - it);
		if (count == 0) {
			cfg_err(c, n, path, "empty list: name one or more of "
			    "publish, subscribe, read, all");
			return -1;
		}
	} else {
		it = NULL;
		count = 1;
	}
	for (i = 0; i < count; i++) {
		item = it != NULL ? yaml_document_get_node(&c->doc, it[i]) : n;
		if (it != NULL)
			keypath(ipath, "%s[%zu]", path, i);
		else
			keypath(ipath, "%s", path);
		if (item == NULL)
			continue;
		if ((s = scalar(item)) == NULL ||
		    (a = acl_action_parse(s)) == -1) {
			cfg_err(c, item, ipath, "\"%s\" is not one of: "
			    "publish, subscribe, read, all", s != NULL ? s :
			    "(not a single value)");
			rc = -1;
			continue;
		}
		bits |= (unsigned)a;
	}
	*(unsigned *)dst = bits;
	return rc;
}

/*
 * A non-empty list of non-empty names, as a malloc'd array of pointers into
 * the document (valid until it is deleted).  Returns 0, or -1 after
 * reporting; *<out> is then NULL.
 */
static int
acl_strings(struct cfg *c, yaml_node_t *n, const char *path,
    const char ***out, size_t *nout)
{
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	const char		*s;
	char			 ipath[CFG_PATH_MAX];
	size_t			 count, i;
	int			 rc = 0;

	*out = NULL;
	*nout = 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected a list of names, such as "
		    "[a, b]");
		return -1;
	}
	it = n->data.sequence.items.start;
	count = (size_t)(n->data.sequence.items.top - it);
	if (count == 0)
		return 0;
	if ((*out = calloc(count, sizeof(**out))) == NULL) {
		cfg_err(c, n, path, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		keypath(ipath, "%s[%zu]", path, i);
		if (c->budget-- == 0) {
			cfg_err(c, n, path, "document too large");
			rc = -1;
			break;
		}
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		if ((s = scalar(item)) == NULL || *s == '\0') {
			cfg_err(c, item, ipath, "expected a non-empty name");
			rc = -1;
			continue;
		}
		(*out)[(*nout)++] = s;
	}
	if (rc == -1) {
		free(*out);
		*out = NULL;
		*nout = 0;
	}
	return rc;
}

/* acl.groups: a mapping of group names to lists of members. */
static int
acl_groups(struct cfg *c, yaml_node_t *n, const char *path)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*kn, *vn;
	const char		*name, **members;
	char			 gpath[CFG_PATH_MAX], err[CONFIG_ERROR_LEN / 2];
	size_t			 nm;
	int			 rc = 0;

	if (n->type != YAML_MAPPING_NODE) {
		cfg_err(c, n, path, "expected a mapping of group names to "
		    "lists of users, such as {sensors: [s1, s2]}");
		return -1;
	}
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		switch (named_pair(c, n, pair, path, &kn, &vn, &name)) {
		case -1:
			return -1;
		case 1:
			rc = -1;
			continue;
		}
		keypath(gpath, "%s.%s", path, name);
		if (acl_strings(c, vn, gpath, &members, &nm) == -1) {
			rc = -1;
			continue;
		}
		if (acl_add_group_at(c->pol->acl, name, members, nm, c->file,
		    (int)kn->start_mark.line + 1, err, sizeof(err)) == -1) {
			cfg_err(c, kn, gpath, "%s", err);
			rc = -1;
		}
		free(members);
	}
	return rc;
}

/* acl.rules: a list of rules. */
static int
acl_rules(struct cfg *c, yaml_node_t *n, const char *path)
{
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	char			 ipath[CFG_PATH_MAX];
	size_t			 count, i;
	int			 rc = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(c, n, path, "expected a list of rules");
		return -1;
	}
	it = n->data.sequence.items.start;
	count = (size_t)(n->data.sequence.items.top - it);
	for (i = 0; i < count; i++) {
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		keypath(ipath, "%s[%zu]", path, i);
		if (acl_rule(c, item, ipath) == -1)
			rc = -1;
	}
	return rc;
}

/*
 * One rule: allow or deny, topic or topics, users and groups (neither:
 * everyone).  A rule with several topics becomes one acl rule per topic,
 * all at the rule's line.  Each filter is checked at its own place.
 */
static int
acl_rule(struct cfg *c, yaml_node_t *n, const char *path)
{
	struct rule_parse	 rp;
	struct acl_rule		 r;
	yaml_node_item_t	*it = NULL;
	const char		**users = NULL, **groups = NULL;
	char			 kpath[CFG_PATH_MAX];
	size_t			 nu = 0, ng = 0, count = 1;
	int			 rc;

	memset(&rp, 0, sizeof(rp));
	if ((rc = cfg_map(c, n, rule_keys, &rp, path)) == -1 &&
	    n->type != YAML_MAPPING_NODE)
		return -1;
	if (rp.allow == 0 && rp.deny == 0 && rc == 0) {
		cfg_err(c, n, path, "needs allow: or deny: (publish, "
		    "subscribe, read or all)");
		rc = -1;
	} else if (rp.allow != 0 && rp.deny != 0) {
		cfg_err(c, n, path, "has both allow: and deny:; write two "
		    "rules");
		rc = -1;
	}
	if (rp.topic == NULL && rp.topics == NULL) {
		cfg_err(c, n, path, "needs topic: or topics:");
		rc = -1;
	} else if (rp.topic != NULL && rp.topics != NULL) {
		cfg_err(c, rp.topics, path, "has both topic: and topics:");
		rc = -1;
	}
	if (rule_subjects(c, &rp, path, &users, &nu, &groups, &ng) == -1)
		rc = -1;
	if (rp.topics != NULL) {
		keypath(kpath, "%s.topics", path);
		if (rp.topics->type != YAML_SEQUENCE_NODE ||
		    (count = (size_t)(rp.topics->data.sequence.items.top -
		    rp.topics->data.sequence.items.start)) == 0) {
			cfg_err(c, rp.topics, kpath, "expected a non-empty "
			    "list of topic filters");
			rc = -1;
			count = 0;
		} else
			it = rp.topics->data.sequence.items.start;
	} else if (rp.topic == NULL)
		count = 0;

	memset(&r, 0, sizeof(r));
	r.allow = rp.allow != 0;
	r.actions = rp.allow | rp.deny;
	r.file = (char *)c->file;
	r.line = (int)n->start_mark.line + 1;
	r.everyone = nu == 0 && ng == 0;
	r.users = (char **)users;
	r.n_users = nu;
	r.groups = (char **)groups;
	r.n_groups = ng;
	r.admin = rp.admin;
	r.monitor = rp.monitor;
	if (rp.monitor && rp.allow != 0) {
		cfg_err(c, n, path, "monitor: applies to a deny rule only");
		rc = -1;
	}
	if (rule_topics(c, n, &rp, &r, it, count, path, rc) == -1)
		rc = -1;
	free(users);
	free(groups);
	return rc;
}

/* A rule's users: and groups:, each group declared in acl.groups. */
static int
rule_subjects(struct cfg *c, const struct rule_parse *rp, const char *path,
    const char ***users, size_t *nu, const char ***groups, size_t *ng)
{
	char	kpath[CFG_PATH_MAX];
	size_t	i;
	int	rc = 0;

	keypath(kpath, "%s.users", path);
	if (rp->users != NULL && acl_strings(c, rp->users, kpath, users,
	    nu) == -1)
		rc = -1;
	else if (rp->users != NULL && *nu == 0) {
		cfg_err(c, rp->users, kpath, "empty list: leave users: out "
		    "for a rule for everyone");
		rc = -1;
	}
	keypath(kpath, "%s.groups", path);
	if (rp->groups != NULL && acl_strings(c, rp->groups, kpath, groups,
	    ng) == -1)
		rc = -1;
	else if (rp->groups != NULL && *ng == 0) {
		cfg_err(c, rp->groups, kpath, "empty list: leave groups: out "
		    "for a rule for everyone");
		rc = -1;
	}
	for (i = 0; i < *ng; i++) {
		if (acl_group_find(c->pol->acl, (*groups)[i]) != NULL)
			continue;
		keypath(kpath, "%s.groups[%zu]", path, i);
		cfg_err(c, yaml_document_get_node(&c->doc,
		    rp->groups->data.sequence.items.start[i]), kpath,
		    "group \"%s\" is not declared in acl.groups", (*groups)[i]);
		rc = -1;
	}
	return rc;
}

/*
 * The rule <r> (subjects and actions set) once per topic filter: <count>
 * of them in <it>, or rp->topic alone.  With <rc> -1 (the rule has
 * errors already) filters are still checked, nothing is added.
 */
static int
rule_topics(struct cfg *c, yaml_node_t *n, const struct rule_parse *rp,
    struct acl_rule *r, yaml_node_item_t *it, size_t count, const char *path,
    int rc)
{
	yaml_node_t	*tn;
	const char	*f;
	char		 kpath[CFG_PATH_MAX], err[CONFIG_ERROR_LEN / 2];
	size_t		 i;

	for (i = 0; i < count; i++) {
		if (it != NULL) {
			tn = yaml_document_get_node(&c->doc, it[i]);
			keypath(kpath, "%s.topics[%zu]", path, i);
		} else {
			tn = rp->topic;
			keypath(kpath, "%s.topic", path);
		}
		if (tn == NULL)
			continue;
		if ((f = scalar(tn)) == NULL) {
			cfg_err(c, tn, kpath, "expected a topic filter");
			rc = -1;
			continue;
		}
		if (*f == '\0') {
			cfg_err(c, tn, kpath, "empty topic filter (a bare # "
			    "starts a YAML comment: write \"#\")");
			rc = -1;
			continue;
		}
		if (acl_filter_check(f, err, sizeof(err)) == -1) {
			cfg_err(c, tn, kpath, "%s", err);
			rc = -1;
			continue;
		}
		if (rc == -1)
			continue;
		r->filter = (char *)f;
		if (acl_add_rule(c->pol->acl, r, err, sizeof(err)) == -1) {
			cfg_err(c, n, path, "%s", err);
			rc = -1;
		}
	}
	return rc;
}

/*
 * acl.include: another YAML file holding an acl section (such as the output
 * of `mqttguard import-acl`), read into the same index.  Its errors name
 * that file.  Relative paths are relative to the including file.
 */
static int
acl_include(struct cfg *c, yaml_node_t *n, const char *path)
{
	static const struct ckey k = { "include", K_PATH, 0, false, 0, 0,
	    NULL, NULL };
	static const struct ckey inc_keys[] = {
		{ "acl", K_CUSTOM, 0, true, 0, 0, NULL, sec_acl },
		{ NULL, 0, 0, false, 0, 0, NULL, NULL }
	};
	struct cfg	 sub;
	yaml_parser_t	 parser;
	yaml_node_t	*root;
	FILE		*fp = NULL;
	char		*file = NULL, msg[CONFIG_ERROR_LEN];
	const char	*slash;
	size_t		 nerr = c->errs->n;
	bool		 parser_ok = false, parsed = false;

	if (cfg_value(c, n, &k, &file, path) == -1)
		return -1;
	if (c->depth >= CFG_INCLUDE_MAX) {
		cfg_err(c, n, path, "included files nest deeper than %d (do "
		    "they include each other?)", CFG_INCLUDE_MAX);
		goto done;
	}
	memset(&sub, 0, sizeof(sub));
	sub.file = file;
	sub.errs = c->errs;
	sub.pol = c->pol;
	sub.budget = c->budget;
	sub.flags = c->flags;
	sub.depth = c->depth + 1;
	slash = strrchr(file, '/');	/* resolved: never NULL */
	snprintf(sub.dir, sizeof(sub.dir), "%.*s", slash == file ? 1 :
	    (int)(slash - file), file);
	if ((fp = fopen(file, "r")) == NULL) {
		cfg_err(c, n, path, "%s: %s", file, strerror(errno));
		goto done;
	}
	if (writable_by_others(fp, file, msg, sizeof(msg))) {
		cfg_err(c, n, path, "%s", msg);
		goto done;
	}
	if (!yaml_parser_initialize(&parser)) {
		cfg_err(c, n, path, "out of memory");
		goto done;
	}
	parser_ok = true;
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &sub.doc)) {
		cfg_errat(&sub, (int)parser.problem_mark.line + 1,
		    (int)parser.problem_mark.column + 1, NULL, "%s%s%s",
		    parser.problem ? parser.problem : "YAML syntax error",
		    parser.context ? " " : "",
		    parser.context ? parser.context : "");
		goto done;
	}
	parsed = true;
	if ((root = yaml_document_get_root_node(&sub.doc)) == NULL)
		cfg_err(&sub, NULL, NULL, "the file is empty");
	else
		cfg_map(&sub, root, inc_keys, c->pol, "");
	c->budget = sub.budget;
done:
	if (parsed)
		yaml_document_delete(&sub.doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	if (fp != NULL)
		fclose(fp);
	free(file);
	return c->errs->n > nerr ? -1 : 0;
}

/* tests: each {user | anonymous, client_id, action, topic, expect}. */
static void
acl_tests(struct cfg *c, yaml_node_t *n)
{
	static const unsigned	 actions[] = {
		ACL_PUBLISH, ACL_SUBSCRIBE, ACL_READ
	};
	struct test_parse	 tp;
	struct acl_test		 t;
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	char			 ipath[CFG_PATH_MAX], err[CONFIG_ERROR_LEN / 2];
	size_t			 count, i;

	if (c->pol->acl == NULL) {
		cfg_err(c, n, "tests", "there is no acl section to test (and "
		    "without one every topic is allowed)");
		return;
	}
	it = n->data.sequence.items.start;
	count = (size_t)(n->data.sequence.items.top - it);
	for (i = 0; i < count; i++) {
		if ((item = yaml_document_get_node(&c->doc, it[i])) == NULL)
			continue;
		keypath(ipath, "tests[%zu]", i);
		memset(&tp, 0, sizeof(tp));
		if (cfg_map(c, item, test_keys, &tp, ipath) == 0) {
			if ((tp.user != NULL) == tp.anonymous)
				cfg_err(c, item, ipath, "needs user: or "
				    "anonymous: true (one of them)");
			else {
				memset(&t, 0, sizeof(t));
				t.identity = tp.user;
				t.client_id = tp.client_id;
				t.action = (enum acl_action)actions[tp.action];
				t.topic = tp.topic;
				t.expect_allow = tp.expect == 0;
				t.file = (char *)c->file;
				t.line = (int)item->start_mark.line + 1;
				if (acl_add_test(c->pol->acl, &t, err,
				    sizeof(err)) == -1)
					cfg_err(c, item, ipath, "%s", err);
			}
		}
		free(tp.user);
		free(tp.client_id);
		free(tp.topic);
	}
}

/* Whether the top-level mapping <root> has key <name>. */
static bool
has_key(struct cfg *c, yaml_node_t *root, const char *name)
{
	yaml_node_pair_t	*p;
	yaml_node_t		*kn;

	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++)
		if ((kn = yaml_document_get_node(&c->doc, p->key)) != NULL &&
		    scalar(kn) != NULL && strcmp(scalar(kn), name) == 0)
			return true;
	return false;
}

/* Whole-policy checks: what no single key can tell. */
static void
check_policy(struct cfg *c)
{
	struct policy		*p = c->pol;
	struct policy_listener	*a, *b;
	char			 key[CFG_PATH_MAX];
	size_t			 i, j;

	if (p->audit.observe && p->audit.file[0] == '\0')
		cfg_errat(c, p->audit.line, p->audit.col, "audit.file",
		    "audit.observe needs a file to write to");
	for (i = 0; i < p->n_listeners; i++) {
		a = &p->listeners[i];
		snprintf(key, sizeof(key), "listeners[%zu]", i);
		if (a->mode < 0)
			a->mode = p->mode;
		if (a->tls && !p->has_tls)
			cfg_errat(c, a->line, a->col, key, "uses TLS (the "
			    "default) but there is no tls section with cert "
			    "and key; add one, or set tls: false");
		for (j = 0; j < i; j++) {
			b = &p->listeners[j];
			if (a->port == b->port &&
			    strcmp(a->address, b->address) == 0)
				cfg_errat(c, a->line, a->col, key, "%s port %u "
				    "is already used by listeners[%zu] (line "
				    "%d)", a->address, a->port, j, b->line);
			else if (strcmp(a->name, b->name) == 0)
				cfg_errat(c, a->line, a->col, key, "name "
				    "\"%s\" is already used by listeners[%zu] "
				    "(line %d)", a->name, j, b->line);
		}
	}
	for (i = 0; i < p->n_listeners; i++) {
		a = &p->listeners[i];
		snprintf(key, sizeof(key), "listeners[%zu]", i);
		check_listener_auth(c, a, key);
	}
	check_limits(c);
	check_tls(c);
	check_upstream(c);
	load_secrets(c);
	check_lockout(c);
	check_admin(c);
	check_privilege(c);
}

/*
 * user and group: names the system knows, resolved into the snapshot
 * (main drops to them).  group alone is refused: it would leave the
 * daemon root with another group, which is not what anyone means.
 */
static void
check_privilege(struct cfg *c)
{
	struct policy	*p = c->pol;
	struct passwd	*pw;
	struct group	*gr;

	if (p->user == NULL) {
		if (p->group != NULL)
			cfg_err(c, sec_node(c, "group", NULL), "group",
			    "needs user: the user to run as");
		return;
	}
	errno = 0;
	if ((pw = getpwnam(p->user)) == NULL) {
		cfg_err(c, sec_node(c, "user", NULL), "user", "\"%s\": %s",
		    p->user, errno != 0 ? strerror(errno) : "no such user");
		return;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (p->group == NULL)
		return;
	errno = 0;
	if ((gr = getgrnam(p->group)) == NULL) {
		cfg_err(c, sec_node(c, "group", NULL), "group", "\"%s\": %s",
		    p->group, errno != 0 ? strerror(errno) : "no such group");
		return;
	}
	p->gid = gr->gr_gid;
}

/*
 * The tls section as a whole: contradictions, and weak choices (judged by
 * tls, named here at their place in the file) unless allow_insecure.  The
 * files (key size, expiry, CRLs) are judged when the context is built.
 */
static void
check_tls(struct cfg *c)
{
	struct policy_tls	*t = &c->pol->tls;
	char			 why[CONFIG_ERROR_LEN / 2];
	bool			 modern = t->profile == POLICY_TLS_MODERN;

	if (!c->pol->has_tls)
		return;
	if (modern && t->min_version != POLICY_TLS_VERSION_PROFILE &&
	    t->min_version != POLICY_TLS_1_3)
		tls_err(c, "min_version", "contradicts profile modern (TLS "
		    "1.3 only): remove one of them");
	else if (tls_version_check(t->min_version, why, sizeof(why)) ==
	    TLS_WEAK && !t->allow_insecure)
		tls_err(c, "min_version", "%s, or set tls.allow_insecure: "
		    "true", why);
	if (t->ciphers[0] != '\0' && (modern ||
	    t->min_version == POLICY_TLS_1_3))
		tls_err(c, "ciphers", "only applies to TLS 1.2, which %s "
		    "turns off: remove it", modern ? "profile modern" :
		    "min_version 1.3");
	else if (t->ciphers[0] != '\0' && !t->allow_insecure &&
	    tls_ciphers_check(t->ciphers, why, sizeof(why)) == TLS_WEAK)
		tls_err(c, "ciphers", "%s; use ECDHE with AES-GCM or "
		    "ChaCha20-Poly1305, or set tls.allow_insecure: true", why);
	if (t->n_crl > 0 && t->ca == NULL)
		tls_err(c, "crl", "needs tls.ca, the CA whose revocations it "
		    "lists");
}

/*
 * The upstream section's TLS keys need upstream.tls, and cert needs key;
 * server_name defaults to host, so the broker is always checked by name.
 */
static void
check_upstream(struct cfg *c)
{
	struct policy_upstream	*u = &c->pol->upstream;
	static const char *const keys[] = { "ca", "server_name", "cert",
	    "key" };
	const char		*vals[4];
	char			 path[CFG_PATH_MAX];
	size_t			 i;

	vals[0] = u->ca;
	vals[1] = u->server_name;
	vals[2] = u->cert;
	vals[3] = u->key;
	for (i = 0; i < 4; i++) {
		if (u->tls || vals[i][0] == '\0')
			continue;
		snprintf(path, sizeof(path), "upstream.%s", keys[i]);
		cfg_err(c, sec_node(c, "upstream", keys[i]), path, "needs "
		    "upstream.tls: true (the broker is reached in plain TCP "
		    "otherwise)");
	}
	if (!u->tls)
		return;
	for (i = 0; i < 4; i++)
		if (i != 1 && vals[i][0] != '\0' &&
		    policy_add_file(c->pol, vals[i]) == -1)
			cfg_err(c, NULL, NULL, "out of memory");
	if ((u->cert[0] == '\0') != (u->key[0] == '\0')) {
		i = u->cert[0] != '\0' ? 2 : 3;
		snprintf(path, sizeof(path), "upstream.%s", keys[i]);
		cfg_err(c, sec_node(c, "upstream", keys[i]), path, "needs "
		    "upstream.%s too", keys[5 - i]);
	}
	if (u->server_name[0] == '\0' && u->host != NULL) {
		if (strlen(u->host) >= sizeof(u->server_name))
			cfg_errat(c, u->line, u->col, "upstream.host",
			    "too long to be checked as the broker's name");
		else
			snprintf(u->server_name, sizeof(u->server_name), "%s",
			    u->host);
	}
}

/*
 * The value node of <section>.<key> in the document (of the top-level
 * key <section> itself when <key> is NULL), or NULL.
 */
static yaml_node_t *
sec_node(struct cfg *c, const char *section, const char *key)
{
	yaml_node_t		*root, *sec = NULL, *kn;
	yaml_node_pair_t	*p;
	const char		*name;

	if ((root = yaml_document_get_root_node(&c->doc)) == NULL ||
	    root->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top && sec == NULL; p++)
		if ((kn = yaml_document_get_node(&c->doc, p->key)) != NULL &&
		    (name = scalar(kn)) != NULL && strcmp(name, section) == 0)
			sec = yaml_document_get_node(&c->doc, p->value);
	if (key == NULL)
		return sec;
	if (sec == NULL || sec->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = sec->data.mapping.pairs.start; p < sec->data.mapping.pairs.top;
	    p++)
		if ((kn = yaml_document_get_node(&c->doc, p->key)) != NULL &&
		    (name = scalar(kn)) != NULL && strcmp(name, key) == 0)
			return yaml_document_get_node(&c->doc, p->value);
	return NULL;
}

/* An error about tls.<key>, at its value (or at the section). */
static void
tls_err(struct cfg *c, const char *key, const char *fmt, ...)
{
	yaml_node_t	*n = sec_node(c, "tls", key);
	char		 path[CFG_PATH_MAX];
	va_list		 ap;

	snprintf(path, sizeof(path), "tls.%s", key);
	va_start(ap, fmt);
	if (n != NULL)
		cfg_verr(c, (int)n->start_mark.line + 1,
		    (int)n->start_mark.column + 1, path, fmt, ap);
	else
		cfg_verr(c, c->pol->tls.line, c->pol->tls.col, path, fmt, ap);
	va_end(ap);
}

/* A listener's client certificates and authentication fit together. */
static void
check_listener_auth(struct cfg *c, const struct policy_listener *l,
    const char *key)
{
	const struct policy	*p = c->pol;
	bool			 cert = l->authn != POLICY_AUTHN_PASSWORD;
	bool			 pass = l->authn != POLICY_AUTHN_CERTIFICATE;

	if (l->client_certs != POLICY_VERIFY_NONE && !l->tls)
		cfg_errat(c, l->line, l->col, key, "client_certificates "
		    "needs a TLS listener");
	else if (l->client_certs != POLICY_VERIFY_NONE && p->tls.ca == NULL)
		cfg_errat(c, l->line, l->col, key, "client_certificates needs "
		    "tls.ca, the CA that signs client certificates");
	if (cert && l->client_certs == POLICY_VERIFY_NONE)
		cfg_errat(c, l->line, l->col, key, "authentication %s needs "
		    "client_certificates: optional or require",
		    authn_names[l->authn]);
	if (l->authn == POLICY_AUTHN_BOTH &&
	    l->client_certs != POLICY_VERIFY_REQUIRE)
		cfg_errat(c, l->line, l->col, key, "authentication both needs "
		    "client_certificates: require");
	if (pass && p->auth.password_file == NULL && !p->auth.anonymous &&
	    l->authn != POLICY_AUTHN_EITHER)
		cfg_errat(c, l->line, l->col, key, "authentication %s needs "
		    "auth.password_file (or auth.anonymous: true): no client "
		    "could connect", authn_names[l->authn]);
}

/*
 * Loads the files the auth section names: the password database (its own
 * errors name the line) and the upstream password.  Both are secret
 * files: others may do nothing with them, only the owner may write.
 */
static void
load_secrets(struct cfg *c)
{
	struct policy_auth	*a = &c->pol->auth;
	char			 err[PASSWD_ERR_LEN];

	if (a->anonymous_identity == NULL &&
	    (a->anonymous_identity = strdup("anonymous")) == NULL)
		cfg_errat(c, a->line, a->col, "auth", "out of memory");
	if (a->client_id_pattern != NULL &&
	    strspn(a->client_id_pattern, "+#") != 0)
		cfg_errat(c, a->line, a->col, "auth.client_id_pattern",
		    "must not start with a wildcard");
	if (a->password_file != NULL &&
	    (a->passwd = passwd_load(a->password_file, err,
	    sizeof(err))) == NULL)
		cfg_errat(c, a->line, a->col, "auth.password_file", "%s", err);
	if (a->upstream_password_file != NULL &&
	    read_secret(a->upstream_password_file, &a->upstream_password,
	    &a->upstream_password_len, err, sizeof(err)) == -1)
		cfg_errat(c, a->line, a->col, "auth.upstream_password_file",
		    "%s", err);
}

/*
 * Reads a one-line secret from <path>: at most 65535 bytes, a trailing
 * newline dropped, its mode fit for a secret (util_secret_mode_check():
 * group-read at most, only the owner writes).  Returns 0
 * with a malloc'd copy, or -1 with a message in <err>.
 */
static int
read_secret(const char *path, uint8_t **out, size_t *outlen, char *err,
    size_t errlen)
{
	uint8_t		 buf[65536 + 2];
	size_t		 n;
	FILE		*fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (util_secret_file_check(path, fileno(fp), err, errlen) == -1) {
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > 65535 || memchr(buf, '\n', n) != NULL) {
		snprintf(err, errlen, "%s: expected one line of 1 to 65535 "
		    "bytes", path);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	if ((*out = malloc(n)) == NULL) {
		snprintf(err, errlen, "out of memory");
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	memcpy(*out, buf, n);
	*outlen = n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/*
 * The admin section: 127.0.0.1 unless told, and a token (a secret file,
 * read as read_secret() reads one) whenever it listens off loopback,
 * where anybody who can reach the port could read the metrics.
 */
static void
check_admin(struct cfg *c)
{
	struct policy_admin	*a = &c->pol->admin;
	struct in6_addr		 a6;
	struct in_addr		 a4;
	char			 err[PASSWD_ERR_LEN];
	bool			 loopback;

	if (!c->pol->has_admin)
		return;
	if (a->address == NULL && (a->address = strdup("127.0.0.1")) == NULL) {
		cfg_errat(c, a->line, a->col, "admin", "out of memory");
		return;
	}
	if (inet_pton(AF_INET, a->address, &a4) == 1)
		loopback = (ntohl(a4.s_addr) >> 24) == 127;
	else
		loopback = inet_pton(AF_INET6, a->address, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	if (!loopback && a->token_file == NULL)
		cfg_err(c, sec_node(c, "admin", "address"), "admin.address",
		    "%s is not a loopback address: set admin.token_file, the "
		    "bearer token every request must carry", a->address);
	if (a->token_file != NULL && read_secret(a->token_file, &a->token,
	    &a->token_len, err, sizeof(err)) == -1)
		cfg_err(c, sec_node(c, "admin", "token_file"),
		    "admin.token_file", "%s", err);
}

/*
 * Whether the policy file or acl include open on <fp> (named <file>) may
 * be written by others, who would then decide who may do what: true with
 * the reason in <err>.
 */
static bool
writable_by_others(FILE *fp, const char *file, char *err, size_t errlen)
{
	struct stat	st;

	return fstat(fileno(fp), &st) == 0 && util_policy_mode_check(file,
	    (unsigned)st.st_mode, err, errlen) == -1;
}

/*
 * The SHA-256 of what <fp> holds from its start, as lower-case hex into
 * <hex> (POLICY_SHA256_HEX bytes); <fp> is rewound for the parser.  -1 on
 * a read error or an OpenSSL failure.
 */
static int
file_sha256(FILE *fp, char *hex)
{
	EVP_MD_CTX	*md;
	unsigned char	 buf[8192], d[EVP_MAX_MD_SIZE];
	unsigned	 dl = 0, i;
	size_t		 n;
	int		 rc = -1;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto done;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (EVP_DigestUpdate(md, buf, n) != 1)
			goto done;
	if (ferror(fp) || EVP_DigestFinal_ex(md, d, &dl) != 1 ||
	    dl * 2 + 1 != POLICY_SHA256_HEX)
		goto done;
	for (i = 0; i < dl; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	rewind(fp);
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

struct policy *
config_load(const char *file, struct config_errors *errs)
{
	return config_load_flags(file, errs, 0);
}

/*
 * The sections of a parsed policy, then the checks that need all of them:
 * the policy's tests, the limits laid per listener, group and user, and
 * the whole-policy checks once nothing else failed.
 */
static void
cfg_document(struct cfg *c, yaml_node_t *root)
{
	yaml_node_pair_t	*pair;
	size_t			 i;

	/* Sections with a table of keys are parsed by sec_mapping(). */
	for (pair = root->data.mapping.pairs.start;
	    pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t	*kn = yaml_document_get_node(&c->doc, pair->key);

		if (kn != NULL && scalar(kn) != NULL &&
		    strcmp(scalar(kn), "tls") == 0)
			c->pol->has_tls = true;
	}
	{
		struct ckey	keys[sizeof(top_keys) / sizeof(top_keys[0])];

		/* Partial: an acl (and tests) alone, without a proxy. */
		bool		partial = (c->flags & CONFIG_PARTIAL) &&
				    !has_key(c, root, "listeners") &&
				    !has_key(c, root, "upstream");

		memcpy(keys, top_keys, sizeof(keys));
		for (i = 0; keys[i].name != NULL; i++) {
			if (keys[i].fn == NULL)
				keys[i].fn = sec_mapping;
			if (partial)
				keys[i].required = false;
		}
		cfg_map(c, root, keys, c->pol, "");
	}
	/* tls.watch, from before watch: covered every file. */
	if (c->pol->tls.watch)
		c->pol->watch = true;
	if (c->tests != NULL)
		acl_tests(c, c->tests);
	if (c->lim_listeners != NULL)
		lim_sets(c, c->lim_listeners, "limits.listeners", true,
		    &c->pol->limits_listeners, &c->pol->n_limits_listeners);
	if (c->lim_groups != NULL)
		lim_sets(c, c->lim_groups, "limits.groups", false,
		    &c->pol->limits_groups, &c->pol->n_limits_groups);
	if (c->lim_users != NULL)
		lim_sets(c, c->lim_users, "limits.users", false,
		    &c->pol->limits_users, &c->pol->n_limits_users);
	if (c->lim_topics != NULL)
		lim_topics(c, c->lim_topics, "limits.topic_rates");
	if (c->errs->n == 0)
		check_policy(c);
}

struct policy *
config_load_flags(const char *file, struct config_errors *errs,
    unsigned flags)
{
	struct cfg		 c;
	yaml_parser_t		 parser;
	yaml_node_t		*root = NULL;
	FILE			*fp = NULL;
	const char		*slash;
	bool			 parsed = false, parser_ok = false;

	memset(errs, 0, sizeof(*errs));
	memset(&c, 0, sizeof(c));
	c.file = file;
	c.errs = errs;
	c.budget = CFG_NODE_BUDGET;
	c.flags = flags;

	if ((slash = strrchr(file, '/')) == NULL)
		snprintf(c.dir, sizeof(c.dir), ".");
	else if (slash == file)
		snprintf(c.dir, sizeof(c.dir), "/");
	else
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - file),
		    file);

	if ((c.pol = policy_new()) == NULL ||
	    (c.pol->path = strdup(file)) == NULL ||
	    policy_add_file(c.pol, file) == -1) {
		cfg_err(&c, NULL, NULL, "out of memory");
		goto done;
	}
	if ((fp = fopen(file, "r")) == NULL) {
		if (errno == EACCES && geteuid() != 0)
			cfg_err(&c, NULL, NULL, "%s: the daemon runs as uid %u "
			    "gid %u, which must be able to read it",
			    strerror(errno), (unsigned)geteuid(),
			    (unsigned)getegid());
		else
			cfg_err(&c, NULL, NULL, "%s", strerror(errno));
		goto done;
	}
	if (writable_by_others(fp, file, errs->msg[0], CONFIG_ERROR_LEN)) {
		errs->n = 1;
		goto done;
	}
	/* The bytes read next are the bytes hashed (one open file). */
	if (file_sha256(fp, c.pol->sha256) == -1) {
		cfg_err(&c, NULL, NULL, "cannot read the file to hash it");
		goto done;
	}
	if (!yaml_parser_initialize(&parser)) {
		cfg_err(&c, NULL, NULL, "out of memory");
		goto done;
	}
	parser_ok = true;
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &c.doc)) {
		snprintf(errs->msg[0], CONFIG_ERROR_LEN, "%s:%zu:%zu: %s%s%s",
		    file, parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1,
		    parser.problem ? parser.problem : "YAML syntax error",
		    parser.context ? " " : "",
		    parser.context ? parser.context : "");
		errs->n = 1;
		goto done;
	}
	parsed = true;
	if ((root = yaml_document_get_root_node(&c.doc)) == NULL) {
		cfg_err(&c, NULL, NULL, "the file is empty");
		goto done;
	}
	if (root->type != YAML_MAPPING_NODE) {
		cfg_err(&c, root, NULL, "expected a mapping of sections at "
		    "the top level");
		goto done;
	}
	cfg_document(&c, root);

done:
	if (parsed)
		yaml_document_delete(&c.doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	if (fp != NULL)
		fclose(fp);
	if (errs->n > 0) {
		policy_unref(c.pol);
		return NULL;
	}
	return c.pol;
}

void
config_errors_print(const struct config_errors *errs, FILE *fp)
{
	size_t	i;

	for (i = 0; i < errs->n && i < CONFIG_ERRORS_MAX; i++)
		fprintf(fp, "%s\n", errs->msg[i]);
	if (errs->n > CONFIG_ERRORS_MAX)
		fprintf(fp, "... and %zu more errors\n",
		    errs->n - CONFIG_ERRORS_MAX);
}
