/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for config: valid policies load with the values they say, and
 * every class of error is reported with its exact file:line:column and key.
 * Each invalid file under test/data/ is named for its error.
 */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/evp.h>

#include "check_suites.h"
#include "mqttguard/config.h"
#include "mqttguard/log.h"

START_TEST(valid_minimal)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/valid-minimal.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(e->n, 0);
	ck_assert_uint_eq(p->n_listeners, 1);
	ck_assert_str_eq(p->listeners[0].address, "127.0.0.1");
	ck_assert_uint_eq(p->listeners[0].port, 8883);
	ck_assert(p->listeners[0].tls);		/* TLS unless told */
	ck_assert_str_eq(p->listeners[0].name, "127.0.0.1:8883");
	ck_assert_str_eq(p->upstream.host, "127.0.0.1");
	ck_assert_uint_eq(p->upstream.port, 1883);
	/* Relative paths resolve against the policy file's directory. */
	ck_assert_str_eq(p->tls.cert, "test/data/readable.pem");
	ck_assert_ptr_null(p->tls.ca);
	/* Secure defaults when the policy is silent. */
	ck_assert_uint_eq(p->limits.max_packet, 1024 * 1024);
	ck_assert_uint_eq(p->limits.connect_timeout_ms, 10000);
	ck_assert(p->limits.reject_control_chars);
	ck_assert_uint_eq(p->workers, 1);
	ck_assert_str_eq(p->workers_auto, "");
	ck_assert_int_eq(p->log.level, LOG_LVL_INFO);
	ck_assert_str_eq(p->log.file, "");
	ck_assert_int_eq(p->listeners[0].authn, POLICY_AUTHN_PASSWORD);
	ck_assert_int_eq(p->listeners[0].client_certs, POLICY_VERIFY_NONE);
	ck_assert_uint_eq(p->auth.lock_pair.failures, 5);
	ck_assert_uint_eq(p->auth.lock_pair.window_ms, 300000);
	ck_assert_uint_eq(p->auth.lock_identity.failures, 30);
	ck_assert_uint_eq(p->auth.lock_address.failures, 20);
	ck_assert_uint_eq(p->auth.lock_address.tarpit_after, 5);
	ck_assert_uint_eq(p->auth.known_device_ms, 7 * 86400000U);
	ck_assert_uint_eq(p->auth.tarpit_ms, 1000);
	ck_assert_uint_eq(p->auth.cache_ttl_ms, 600000);
	/* hash_threads: auto, one per CPU the process may use. */
	ck_assert_uint_ge(p->auth.hash_threads, 1);
	ck_assert_str_ne(p->auth.hash_threads_auto, "");
	ck_assert_str_eq(p->auth.anonymous_identity, "anonymous");
	policy_unref(p);
	free(e);
}
END_TEST

static bool
has_file(const struct policy *p, const char *path)
{
	size_t	i;

	for (i = 0; i < p->n_files; i++)
		if (strcmp(p->files[i], path) == 0)
			return true;
	return false;
}

START_TEST(valid_full)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/valid-full.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(p->n_listeners, 2);
	ck_assert_str_eq(p->listeners[0].name, "mqtts");
	ck_assert_int_eq(p->listeners[0].backlog, 128);
	ck_assert_str_eq(p->listeners[1].address, "::1");
	ck_assert(!p->listeners[1].tls);
	ck_assert_int_eq(p->listeners[0].client_certs, POLICY_VERIFY_REQUIRE);
	ck_assert_int_eq(p->listeners[0].authn, POLICY_AUTHN_BOTH);
	ck_assert_int_eq(p->listeners[1].authn, POLICY_AUTHN_PASSWORD);
	ck_assert_ptr_nonnull(p->auth.passwd);
	ck_assert(p->auth.anonymous);
	ck_assert_str_eq(p->auth.anonymous_identity, "guest");
	ck_assert_int_eq(p->auth.cert_identity, POLICY_CERT_ID_SAN_EMAIL);
	ck_assert_uint_eq(p->auth.upstream_password_len, 15);
	ck_assert_mem_eq(p->auth.upstream_password, "upstream-secret", 15);
	ck_assert_uint_eq(p->auth.lock_pair.failures, 3);
	ck_assert_uint_eq(p->auth.lock_pair.window_ms, 30000);
	ck_assert_uint_eq(p->auth.lock_pair.duration_ms, 10000);
	ck_assert_uint_eq(p->auth.lock_pair.max_ms, 600000);
	ck_assert_uint_eq(p->auth.lock_pair.known_failures, 12);
	ck_assert_uint_eq(p->auth.lock_identity.failures, 40);
	ck_assert_uint_eq(p->auth.lock_identity.window_ms, 120000);
	ck_assert_uint_eq(p->auth.lock_address.failures, 8);
	ck_assert_uint_eq(p->auth.lock_address.tarpit_after, 2);
	ck_assert_uint_eq(p->auth.lock_address.tarpit_max_ms, 5000);
	ck_assert_uint_eq(p->auth.lock_address.duration_ms, 20000);
	ck_assert_uint_eq(p->auth.known_device_ms, 86400000);
	ck_assert_uint_eq(p->auth.cache_ttl_ms, 0);
	ck_assert_uint_eq(p->auth.tarpit_ms, 250);
	ck_assert_str_eq(p->auth.client_id_pattern, "%u-*");
	ck_assert_int_eq(p->auth.empty_client_id, POLICY_EMPTY_ID_ASSIGN);
	ck_assert_uint_eq(p->auth.hash_threads, 2);
	ck_assert_uint_eq(p->auth.hash_queue, 64);
	ck_assert_str_eq(p->tls.ca, "test/data/readable.pem");
	ck_assert_str_eq(p->upstream.host, "broker.internal");
	/* Every file read is noted, for watch: the policy first. */
	ck_assert_uint_ge(p->n_files, 4);
	ck_assert_str_eq(p->files[0], "test/data/valid-full.yaml");
	ck_assert(has_file(p, "test/data/users.passwd"));
	ck_assert(has_file(p, "test/data/upstream.secret"));
	ck_assert(has_file(p, "test/data/readable.pem"));
	ck_assert_uint_eq(p->upstream.port, 11883);
	ck_assert_uint_eq(p->upstream.connect_timeout_ms, 1500);
	ck_assert_uint_eq(p->limits.max_packet, 2 * 1024 * 1024);
	ck_assert_uint_eq(p->limits.connect_timeout_ms, 60000);
	ck_assert_uint_eq(p->limits.output_buffer, 64 * 1024);
	ck_assert(!p->limits.reject_control_chars);
	ck_assert_int_eq(p->log.level, LOG_LVL_DEBUG);
	ck_assert(p->log.json);
	ck_assert_uint_eq(p->workers, 4);
	policy_unref(p);
	free(e);
}
END_TEST

START_TEST(valid_plain_only)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/valid-plain-only.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(!p->has_tls);
	ck_assert_uint_ge(p->workers, 1);	/* "auto" */
	ck_assert_msg(strncmp(p->workers_auto, "affinity ", 9) == 0, "%s",
	    p->workers_auto);
	policy_unref(p);
	free(e);
}
END_TEST

START_TEST(valid_log_file)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/valid-log-file.yaml",
	    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(p->log.json);
	ck_assert_str_eq(p->log.file, "test/data/mqttguard.log");
	ck_assert_int_eq(access(p->log.file, F_OK), -1);	/* not made */
	policy_unref(p);
	free(e);
}
END_TEST

START_TEST(missing_file)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/no-such-file.yaml",
	    0, &e);

	ck_assert_ptr_null(p);
	ck_assert_uint_eq(e->n, 1);
	ck_assert_str_eq(e->msg[0],
	    "test/data/no-such-file.yaml: No such file or directory");
	free(e);
}
END_TEST

/* Modes: the policy's, a listener's own; limits.monitor; audit. */
START_TEST(monitor_keys)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/monitor-valid.yaml",
				    0, &e);

	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_int_eq(p->mode, POLICY_MONITOR);
	ck_assert_int_eq(p->listeners[0].mode, POLICY_MONITOR);
	ck_assert_int_eq(p->listeners[1].mode, POLICY_ENFORCE);
	ck_assert_uint_eq(p->limits.monitor, POLICY_MON_ALL);
	ck_assert_uint_eq(p->limits_users[0].v.monitor, POLICY_MON_INFLIGHT);
	ck_assert(p->audit.observe);
	ck_assert_str_eq(p->audit.file, "test/data/observed.jsonl");
	ck_assert_uint_eq(p->audit.max_entries, 10);
	ck_assert_uint_eq(p->audit.flush_ms, 2000);
	policy_unref(p);
	free(e);
}
END_TEST

/* Every invalid file: how many errors, and the first one, exactly. */
static const struct bad_case {
	const char	*file;
	size_t		 n;
	const char	*first;
} bad[] = {
	{ "bad-unknown-top-key", 1, "8:1: upstreams: unknown key" },
	{ "monitor-bad-allow-rule", 1, "7:7: acl.rules[0]: monitor: applies "
	    "to a deny rule only" },
	{ "monitor-bad-limit", 1, "6:27: limits.monitor: not a limit monitor "
	    "may name (rates, max_subscriptions, max_inflight, "
	    "max_topic_length, max_topic_levels, all)" },
	{ "monitor-bad-mode", 1, "2:56: listeners[0].mode: \"watch\" is not "
	    "one of: enforce, monitor" },
	{ "observe-bad-no-file", 1, "6:3: audit.file: audit.observe needs a "
	    "file to write to" },
	{ "bad-unknown-nested-key", 2, "7:3: upstream.prot: unknown key" },
	{ "bad-port-not-number", 1,
	    "3:11: listeners[0].port: expected a number, got \"abc\"" },
	{ "bad-port-range", 1,
	    "3:11: listeners[0].port: 70000 is out of range (1..65535)" },
	{ "bad-port-quoted", 1,
	    "3:11: listeners[0].port: expected a number, got \"8883\"" },
	{ "bad-missing-required", 1,
	    "6:3: upstream.port: required key is missing" },
	{ "bad-missing-section", 1, "1:1: listeners: required key is missing" },
	{ "bad-size", 1, "9:20: limits.max_packet_size: expected a size such "
	    "as 65536, 64KiB or 1MiB, got \"1XB\"" },
	{ "bad-size-range", 1, "9:20: limits.max_packet_size: 1GiB is out of "
	    "range (16..268435460 bytes)" },
	{ "bad-duration", 1, "9:20: limits.connect_timeout: expected a "
	    "duration such as 10s, 500ms or 2m, got \"10 sec\"" },
	{ "bad-enum", 1, "4:26: listeners[0].client_certificates: \"always\" is not one of: "
	    "none, optional, require" },
	{ "bad-address", 1, "2:14: listeners[0].address: \"localhost\" is not "
	    "a numeric IPv4 or IPv6 address" },
	{ "bad-listeners-empty", 1,
	    "1:12: listeners: at least one listener is required" },
	{ "bad-duplicate-key", 1, "8:3: upstream.port: duplicate key" },
	{ "bad-duplicate-listener", 1, "5:5: listeners[1]: 127.0.0.1 port "
	    "8883 is already used by listeners[0] (line 2)" },
	{ "bad-tls-missing", 1, "2:5: listeners[0]: uses TLS (the default) "
	    "but there is no tls section with cert and key; add one, or set "
	    "tls: false" },
	{ "bad-verify-without-ca", 1, "2:5: listeners[0]: "
	    "client_certificates needs tls.ca, the CA that signs client "
	    "certificates" },
	{ "bad-auth-no-password-file", 1, "2:5: listeners[0]: authentication "
	    "password needs auth.password_file (or auth.anonymous: true): no "
	    "client could connect" },
	{ "bad-auth-passwd-malformed", 1, "9:3: auth.password_file: "
	    "test/data/malformed.passwd:1: salt is not valid base64" },
	{ "bad-auth-old-lockout-key", 1, "10:21: auth.lockout_failures: "
	    "replaced by the per-scope keys auth.lockout.pair.failures, "
	    "auth.lockout.identity.failures and "
	    "auth.lockout.address.identities (README, \"Brute-force "
	    "protection\")" },
	{ "bad-auth-lockout-tarpit-after", 1, "9:3: "
	    "auth.lockout.address.tarpit_after: is above "
	    "auth.lockout.address.identities: the address would be blocked "
	    "before it is slowed" },
	{ "bad-auth-cert-without-client-certs", 1, "2:5: listeners[0]: "
	    "authentication certificate needs client_certificates: optional "
	    "or require" },
	{ "bad-yaml-syntax", 1, "4:9: did not find expected ',' or ']' while "
	    "parsing a flow sequence" },
	{ "bad-file-missing", 1, "5:9: tls.cert: test/data/does-not-exist.pem: "
	    "No such file or directory" },
	{ "bad-empty", 1, NULL },
	{ "bad-top-not-mapping", 1,
	    "1:1: expected a mapping of sections at the top level" },
	{ "bad-bool", 1,
	    "4:10: listeners[0].tls: expected true or false, got \"yes\"" },
	{ "bad-workers", 1, "8:10: workers: 0 is out of range (1..64)" },
	{ "bad-log-file-dir", 1, "9:9: log.file: test/data/no-such-dir: no "
	    "such directory for the log file" },
	{ "bad-log-file-is-dir", 1, "9:9: log.file: test/data/.: is a "
	    "directory" },
	{ "bad-section-type", 1,
	    "5:11: upstream: expected a mapping of keys to values" },
	{ "bad-many-errors", 3,
	    "3:11: listeners[0].port: 0 is out of range (1..65535)" },
	{ "limits-bad-duplicate", 1,
	    "8:5: limits.users.bob: duplicate entry (line 7)" },
	{ "limits-bad-inflight", 1, "6:17: limits.max_inflight: 70000 is out "
	    "of range (0..65535)" },
	{ "limits-bad-nested", 1, "8:14: limits.users.bob.users: allowed only "
	    "directly under limits" },
	{ "limits-bad-topic-filter", 1, "7:7: limits.topic_rates[0]: topic "
	    "\"a/#/b\": '#' must be the last level" },
	{ "limits-bad-topic-no-rate", 1, "7:7: limits.topic_rates[0]: sets "
	    "neither message_rate nor byte_rate" },
	{ "limits-bad-unknown-group", 1, "7:5: limits.groups.nosuch: no group "
	    "\"nosuch\" in acl.groups" },
	{ "limits-bad-unknown-listener", 1, "7:5: limits.listeners.nosuch: no "
	    "listener is named \"nosuch\"" },
	{ "limits-bad-user-preauth", 1, "9:7: "
	    "limits.users.bob.max_connections_per_address: applies before the "
	    "client is authenticated: set it in limits or limits.listeners" },
	{ "admin-bad-not-loopback", 1, "11:12: admin.address: 0.0.0.0 is not "
	    "a loopback address: set admin.token_file, the bearer token every "
	    "request must carry" },
	{ "admin-bad-unknown-key", 1, "12:3: admin.token: unknown key" },
	{ "proxy-bad-no-trusted", 1, "2:5: listeners[0].trusted_proxies: "
	    "required with proxy_protocol: the addresses of the load "
	    "balancers that send the header" },
	{ "proxy-bad-mode", 1, "5:21: listeners[0].proxy_protocol: \"v3\" is "
	    "not one of: off, v1, v2, any" },
	{ "proxy-bad-host-bits", 1, "8:9: listeners[0].trusted_proxies[1]: "
	    "\"10.0.0.1/8\" is not an address or a range such as 10.0.0.0/8 "
	    "or 2001:db8::/32 (with no host bits set)" },
	{ "proxy-bad-v6-prefix", 1, "6:23: listeners[0].trusted_proxies[0]: "
	    "\"2001:db8::/129\" is not an address or a range such as "
	    "10.0.0.0/8 or 2001:db8::/32 (with no host bits set)" },
	{ "proxy-bad-not-list", 1, "6:22: listeners[0].trusted_proxies: "
	    "expected a list of address ranges such as [10.0.0.0/8, "
	    "2001:db8::/32]" },
	{ "proxy-bad-without-mode", 1, "2:5: listeners[0].trusted_proxies: "
	    "has no effect without proxy_protocol (v1, v2 or any)" },
	{ "proxy-bad-upstream-mode", 1, "3:57: upstream.proxy_protocol: "
	    "\"any\" is not one of: off, v1, v2" },
	{ "priv-bad-user", 1, "5:7: user: \"no-such-user-x\": no such user" },
	{ "priv-bad-group-alone", 1, "5:8: group: needs user: the user to "
	    "run as" },
	{ "ws-bad-without-websocket", 1, "2:5: listeners[0].websocket_path: "
	    "has no effect without websocket: true" },
	{ "ws-bad-path", 1, "6:21: listeners[0].websocket_path: expected a "
	    "path such as /mqtt: \"/\" then at most 254 printable ASCII "
	    "characters, no space, '?' or '#'" },
	{ "ws-bad-origins-empty", 1, "6:24: listeners[0].websocket_origins: "
	    "expected 1 to 64 origins (leave the key out to accept any)" },
	{ "ws-bad-origin", 1, "6:45: listeners[0].websocket_origins[1]: "
	    "\"dashboard.example.com\" is not an origin such as "
	    "https://app.example.com (scheme://host[:port], under 256 "
	    "characters)" },
};

START_TEST(invalid_file)
{
	const struct bad_case	*bc = &bad[_i];
	char			 path[128], want[512];

	snprintf(path, sizeof(path), "test/data/%s.yaml", bc->file);
	if (bc->first != NULL)
		snprintf(want, sizeof(want), "%s:%s", path, bc->first);
	else
		snprintf(want, sizeof(want), "%s: the file is empty", path);
	tu_load_refused(path, 0, bc->n, want);
}
END_TEST

/* user and group resolved to ids; upstream.proxy_protocol as loaded. */
START_TEST(valid_privilege)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/priv-ok.yaml", 0, &e);
	struct passwd		*pw;
	struct group		*gr;

	ck_assert_msg(p != NULL, "%s", e->n ? e->msg[0] : "");
	free(e);
	ck_assert_ptr_nonnull(pw = getpwnam("nobody"));
	ck_assert_ptr_nonnull(gr = getgrnam("daemon"));
	ck_assert_str_eq(p->user, "nobody");
	ck_assert_str_eq(p->group, "daemon");
	ck_assert_uint_eq(p->uid, pw->pw_uid);
	ck_assert_uint_eq(p->gid, gr->gr_gid);
	ck_assert_int_eq(p->upstream.proxy_protocol, PROXY_V2);
	policy_unref(p);
	/* Without them: no user, and no header to the broker. */
	p = tu_load("test/data/proxy-ok.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->n ? e->msg[0] : "");
	free(e);
	ck_assert_ptr_null(p->user);
	ck_assert_ptr_null(p->group);
	ck_assert_int_eq(p->upstream.proxy_protocol, PROXY_OFF);
	policy_unref(p);
}
END_TEST

/* proxy_protocol and trusted_proxies, as loaded. */
START_TEST(valid_proxy)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/proxy-ok.yaml", 0, &e);
	struct sockaddr_in	 a;
	struct sockaddr_in6	 a6;

	ck_assert_msg(p != NULL, "%s", e->n ? e->msg[0] : "");
	free(e);
	ck_assert_uint_eq(p->n_listeners, 4);
	ck_assert_int_eq(p->listeners[0].proxy_protocol, PROXY_V1);
	ck_assert_int_eq(p->listeners[1].proxy_protocol, PROXY_V2);
	ck_assert_int_eq(p->listeners[2].proxy_protocol, PROXY_ANY);
	ck_assert_int_eq(p->listeners[3].proxy_protocol, PROXY_OFF);
	ck_assert_uint_eq(p->listeners[0].n_trusted_proxies, 1);
	ck_assert_uint_eq(p->listeners[1].n_trusted_proxies, 3);
	ck_assert_uint_eq(p->listeners[3].n_trusted_proxies, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.5", &a.sin_addr);
	ck_assert(proxy_cidr_match(p->listeners[0].trusted_proxies, 1,
	    (struct sockaddr *)&a));
	inet_pton(AF_INET, "10.20.30.40", &a.sin_addr);
	ck_assert(!proxy_cidr_match(p->listeners[0].trusted_proxies, 1,
	    (struct sockaddr *)&a));
	ck_assert(proxy_cidr_match(p->listeners[1].trusted_proxies, 3,
	    (struct sockaddr *)&a));
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1::9", &a6.sin6_addr);
	ck_assert(proxy_cidr_match(p->listeners[1].trusted_proxies, 3,
	    (struct sockaddr *)&a6));
	ck_assert(!proxy_cidr_match(p->listeners[2].trusted_proxies, 1,
	    (struct sockaddr *)&a6));
	policy_unref(p);
}
END_TEST

/* The last error of a multi-error file is reported too, not just the first. */
START_TEST(collects_every_error)
{
	struct config_errors	*e;
	struct policy		*p = tu_load("test/data/bad-many-errors.yaml",
	    0, &e);

	ck_assert_ptr_null(p);
	ck_assert_uint_eq(e->n, 3);
	ck_assert_str_eq(e->msg[1], "test/data/bad-many-errors.yaml:4:10: "
	    "listeners[0].tls: expected true or false, got \"maybe\"");
	ck_assert_str_eq(e->msg[2], "test/data/bad-many-errors.yaml:5:5: "
	    "listeners[0].colour: unknown key");
	free(e);
}
END_TEST

/* The example policy a new user runs first must stay valid. */
START_TEST(example_policy_parses)
{
	struct config_errors	*e;
	struct policy		*p;

	/* `make unit` generates its certificates first. */
	ck_assert_msg(access("certs/server.crt", R_OK) == 0,
	    "certs/server.crt missing: run scripts/gen-certs.sh");
	p = tu_load("policies/example.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(p->listeners[0].port, 8883);
	ck_assert(!p->listeners[0].websocket);
	ck_assert_uint_eq(p->listeners[1].port, 8884);
	ck_assert(p->listeners[1].websocket && p->listeners[1].tls);
	ck_assert_uint_eq(p->upstream.port, 1883);
	policy_unref(p);
	free(e);
}
END_TEST

/* websocket listeners: the path's default, origins, the message size. */
START_TEST(valid_websocket)
{
	struct config_errors		*e;
	struct policy			*p;
	const struct policy_listener	*a, *b;

	p = tu_load("test/data/ws-ok.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->n ? e->msg[0] : "");
	a = &p->listeners[0];
	b = &p->listeners[1];
	ck_assert(a->websocket && b->websocket);
	ck_assert_str_eq(a->ws_path, "/mqtt");
	ck_assert_str_eq(b->ws_path, "/ws/mqtt");
	ck_assert_uint_eq(a->n_ws_origins, 2);
	ck_assert_str_eq(a->ws_origins[1], "http://localhost:8080");
	ck_assert_uint_eq(b->n_ws_origins, 0);
	ck_assert_uint_eq(a->ws_max_message, 0);
	ck_assert_uint_eq(b->ws_max_message, 64 * 1024);
	policy_unref(p);
	free(e);
}
END_TEST

/*
 * limits.listeners, .groups and .users: each listener's limits, and each
 * identity's, resolved in order (groups as limits.groups lists them, then
 * the user's own entry).
 */
START_TEST(limits_overrides)
{
	struct config_errors		*e;
	struct policy			*p;
	const struct policy_limits	*l;
	struct policy_limits		 buf;
	const struct policy_listener	*pub, *in;

	p = tu_load("test/data/limits-overrides.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	pub = &p->listeners[0];
	in = &p->listeners[1];
	ck_assert_uint_eq(pub->index, 0);
	ck_assert_uint_eq(in->index, 1);
	/* The public listener has the global limits. */
	ck_assert_uint_eq(pub->limits.message_rate, 100);
	ck_assert_uint_eq(pub->limits.max_connections_per_address, 10);
	ck_assert_uint_eq(pub->max_connections, 0);
	/* The internal one its own, and its own connection cap... */
	ck_assert_uint_eq(in->limits.message_rate, 1000);
	ck_assert_uint_eq(in->limits.max_connections_per_address, 500);
	ck_assert_uint_eq(in->max_connections, 200);
	/* ...while the proxy-wide cap stays the global one. */
	ck_assert_uint_eq(in->limits.max_connections, 1000);
	ck_assert_uint_eq(in->limits.max_subscriptions, 50);

	/* Nobody special: the listener's own limits, not a copy. */
	ck_assert_ptr_eq(policy_limits_for(p, in, "nobody", &buf),
	    &in->limits);
	/* sensor1: devices, then its own entry. */
	l = policy_limits_for(p, in, "sensor1", &buf);
	ck_assert_ptr_eq(l, &buf);
	ck_assert_uint_eq(l->message_rate, 2);
	ck_assert_uint_eq(l->max_inflight, 4);
	ck_assert_uint_eq(l->user_message_rate, 20);
	ck_assert_uint_eq(l->max_connections_per_user, 1);
	ck_assert_uint_eq(l->max_subscriptions, 50);	/* the global */
	ck_assert_uint_eq(l->max_connections_per_address, 500); /* listener */
	/* sensor2: devices then fleet, the later group winning a tie. */
	l = policy_limits_for(p, pub, "sensor2", &buf);
	ck_assert_uint_eq(l->message_rate, 7);
	ck_assert_uint_eq(l->max_inflight, 4);
	ck_assert_uint_eq(l->max_subscriptions, 3);
	ck_assert_uint_eq(l->max_connections_per_address, 10);
	/* truck: fleet only; alice: her own only. */
	l = policy_limits_for(p, pub, "truck", &buf);
	ck_assert_uint_eq(l->message_rate, 7);
	ck_assert_uint_eq(l->max_inflight, 0);
	l = policy_limits_for(p, pub, "alice", &buf);
	ck_assert_int_eq(l->rate_action, POLICY_RATE_DISCONNECT);
	ck_assert_uint_eq(l->message_rate, 100);

	ck_assert_uint_eq(p->n_topic_rates, 2);
	ck_assert_str_eq(p->topic_rates[0].filter, "telemetry/+/raw");
	ck_assert_uint_eq(p->topic_rates[0].filter_len, 15);
	ck_assert_uint_eq(p->topic_rates[0].message_rate, 5);
	ck_assert_uint_eq(p->topic_rates[0].message_burst, 10);
	ck_assert_uint_eq(p->topic_rates[1].byte_rate, 64 * 1024);
	ck_assert_uint_eq(p->topic_rates[1].message_rate, 0);
	policy_unref(p);
	free(e);
}
END_TEST

/*
 * Every key of limits can be overridden: a listener entry setting all of
 * them, laid over zeroes, leaves no field behind.  A field the merge does
 * not know stays zero here and fails the byte comparison.
 */
START_TEST(limits_every_key_overrides)
{
	struct config_errors	*e;
	struct policy		*p;
	struct policy_limits	 z;
	const uint8_t		*over, *got;
	size_t			 i;

	p = tu_load("test/data/limits-every-key.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_uint_eq(p->n_limits_listeners, 1);
	for (i = 0; policy_limits_isset(&p->limits_listeners[0].v, i) != -1;
	    i++)
		ck_assert_msg(policy_limits_isset(&p->limits_listeners[0].v,
		    i) == 1, "field %zu not set by the file", i);
	memset(&z, 0, sizeof(z));
	policy_limits_merge(&z, &p->limits_listeners[0].v);
	over = (const uint8_t *)&p->limits_listeners[0].v;
	got = (const uint8_t *)&z;
	for (i = 0; i < sizeof(z); i++)
		if (over[i] != POLICY_LIMIT_UNSET)
			ck_assert_msg(got[i] == over[i], "byte %zu of struct "
			    "policy_limits not merged", i);
	ck_assert_uint_eq(z.max_inflight, 7021);
	ck_assert_uint_eq(z.user_byte_burst, 7028);
	ck_assert_uint_eq(p->listeners[0].max_connections, 7004);
	ck_assert_uint_eq(p->listeners[0].limits.network_v4, 17);
	policy_unref(p);
	free(e);
}
END_TEST

/* ---- workers: auto ----------------------------------------------- */

/* One cpu.max text and what config_cpu_max() makes of it. */
static const struct {
	const char	*text;
	int		 rc;
	uint64_t	 quota, period;
} cpu_max_cases[] = {
	{ "max 100000\n", 0, 0, 100000 },		/* no quota */
	{ "200000 100000\n", 1, 200000, 100000 },	/* 2 CPUs */
	{ "150000 100000\n", 1, 150000, 100000 },	/* 1.5 */
	{ "50000 100000", 1, 50000, 100000 },		/* no newline */
	{ "1000 1000000\n", 1, 1000, 1000000 },
	{ "", -1, 0, 0 },
	{ "max", -1, 0, 0 },				/* no period */
	{ "max\n", -1, 0, 0 },
	{ "maxi 100000\n", -1, 0, 0 },
	{ "0 100000\n", -1, 0, 0 },			/* no CPU */
	{ "100000 0\n", -1, 0, 0 },
	{ "100000 2000000\n", -1, 0, 0 },		/* period > 1s */
	{ "-1 100000\n", -1, 0, 0 },
	{ " 100000 100000\n", -1, 0, 0 },
	{ "100000  100000\n", -1, 0, 0 },
	{ "100000 100000 x\n", -1, 0, 0 },
	{ "100000 100000\n\n", -1, 0, 0 },
	{ "18446744073709551616 100000\n", -1, 0, 0 },	/* 2^64 */
	{ "18446744073709551615 100000\n", -1, 0, 0 },	/* q * period wraps */
};

START_TEST(cpu_max_table)
{
	uint64_t	q = 0, p = 0;
	int		rc;

	rc = config_cpu_max(cpu_max_cases[_i].text, &q, &p);
	ck_assert_msg(rc == cpu_max_cases[_i].rc, "\"%s\": %d",
	    cpu_max_cases[_i].text, rc);
	if (rc == 1)
		ck_assert_uint_eq(q, cpu_max_cases[_i].quota);
	if (rc >= 0)
		ck_assert_uint_eq(p, cpu_max_cases[_i].period);
}
END_TEST

static void
put_file(const char *dir, const char *name, const char *text)
{
	char	path[512];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

/*
 * A fake cgroup tree under a temporary directory: <root>/self is what
 * /proc/self/cgroup would say, <root>/fs the cgroup2 mount with a/b/.
 * The CPUs of the real affinity mask bound every answer.
 */
START_TEST(cpus_fake_cgroup)
{
	char		root[] = "/tmp/check_cpus.XXXXXX", fs[64], self[64];
	char		dir[96], why[128], want[128];
	cpu_set_t	set;
	unsigned	a, n;

	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(fs, sizeof(fs), "%s/fs", root);
	snprintf(self, sizeof(self), "%s/self", root);
	snprintf(dir, sizeof(dir), "%s/a/b", fs);
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/a", fs);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/a/b", fs);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	a = (unsigned)CPU_COUNT(&set);

	/* No /proc/self/cgroup, or no cgroup v2 line: the mask alone. */
	n = config_cpus(fs, "/nonexistent/cgroup", why, sizeof(why));
	ck_assert_uint_eq(n, a);
	snprintf(want, sizeof(want), "affinity %u CPU%s, no cgroup v2 "
	    "cpu.max", a, a == 1 ? "" : "s");
	ck_assert_str_eq(why, want);
	put_file(root, "self", "4:memory:/x\n1:cpu:/\n");
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)), a);
	ck_assert_str_eq(why, want);

	/* "max" all the way up: no quota. */
	put_file(root, "self", "1:name=systemd:/\n0::/a/b\n");
	put_file(dir, "cpu.max", "max 100000\n");
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)), a);
	snprintf(want, sizeof(want), "affinity %u CPU%s, cgroup cpu.max max",
	    a, a == 1 ? "" : "s");
	ck_assert_str_eq(why, want);

	/* The parent's 1.5 CPUs bound the leaf: rounded up, 2. */
	put_file(fs, "a/cpu.max", "150000 100000\n");
	n = config_cpus(fs, self, why, sizeof(why));
	ck_assert_uint_eq(n, a < 2 ? a : 2);
	snprintf(want, sizeof(want), "affinity %u CPU%s, cgroup cpu.max 1.5",
	    a, a == 1 ? "" : "s");
	ck_assert_str_eq(why, want);

	/* The tightest wins, whichever level it is on; the top one too. */
	put_file(dir, "cpu.max", "50000 100000\n");
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)), 1);
	ck_assert_ptr_nonnull(strstr(why, "cgroup cpu.max 0.5"));
	put_file(fs, "cpu.max", "20000 100000\n");
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)), 1);
	ck_assert_ptr_nonnull(strstr(why, "cgroup cpu.max 0.2"));

	/* In a cgroup namespace the process is at "/": the mount's own. */
	put_file(root, "self", "0::/\n");
	put_file(fs, "cpu.max", "400000 100000\n");
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)),
	    a < 4 ? a : 4);
	ck_assert_ptr_nonnull(strstr(why, "cgroup cpu.max 4.0"));

	/* A malformed file is ignored, not trusted. */
	put_file(fs, "cpu.max", "lots\n");
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)), a);

	/* Pinned to one CPU (taskset -c 0): one, whatever the quota. */
	put_file(fs, "cpu.max", "max 100000\n");
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	ck_assert_uint_eq(config_cpus(fs, self, why, sizeof(why)), 1);
	ck_assert_str_eq(why, "affinity 1 CPU, cgroup cpu.max max");
	tu_rm_tree(root);
}
END_TEST

/*
 * The admin section: its address, port and token (read from a secret
 * file), and the defaults of an empty one; no section, no admin.
 */
START_TEST(admin_section)
{
	struct config_errors	*e;
	struct policy		*p;

	p = tu_load("test/data/valid-admin.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(p->has_admin);
	ck_assert_str_eq(p->admin.address, "::1");
	ck_assert_uint_eq(p->admin.port, 19883);
	ck_assert_str_eq(p->admin.token_file, "test/data/admin.secret");
	ck_assert_uint_eq(p->admin.token_len, 13);
	ck_assert_mem_eq(p->admin.token, "admin-token-1", 13);
	ck_assert_int_eq(p->admin.line, 11);
	policy_unref(p);
	free(e);

	p = tu_load("test/data/valid-admin-default.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(p->has_admin);
	ck_assert_str_eq(p->admin.address, "127.0.0.1");
	ck_assert_uint_eq(p->admin.port, POLICY_ADMIN_PORT_DEFAULT);
	ck_assert_ptr_null(p->admin.token);
	policy_unref(p);
	free(e);

	p = tu_load("test/data/valid-minimal.yaml", 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert(!p->has_admin);
	ck_assert_ptr_null(p->admin.address);
	policy_unref(p);
	free(e);
}
END_TEST

/* The snapshot names the SHA-256 of the very bytes it was loaded from. */
START_TEST(policy_digest)
{
	static const char	*file = "test/data/valid-admin.yaml";
	struct config_errors	*e;
	struct policy		*p;
	unsigned char		 d[32];
	unsigned		 dl = 0, i;
	char			 hex[65], *text;
	size_t			 len;

	text = tu_read_file(file, &len);
	ck_assert_int_eq(EVP_Digest(text, len, d, &dl, EVP_sha256(), NULL), 1);
	for (i = 0; i < dl; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	free(text);
	p = tu_load(file, 0, &e);
	ck_assert_msg(p != NULL, "%s", e->msg[0]);
	ck_assert_str_eq(p->sha256, hex);
	policy_unref(p);
	free(e);
}
END_TEST

Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("load");

	tcase_add_test(tc, valid_minimal);
	tcase_add_test(tc, valid_full);
	tcase_add_test(tc, monitor_keys);
	tcase_add_test(tc, valid_plain_only);
	tcase_add_test(tc, missing_file);
	tcase_add_loop_test(tc, invalid_file, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, collects_every_error);
	tcase_add_test(tc, valid_proxy);
	tcase_add_test(tc, example_policy_parses);
	tcase_add_test(tc, valid_websocket);
	tcase_add_test(tc, limits_overrides);
	tcase_add_test(tc, limits_every_key_overrides);
	tcase_add_test(tc, valid_log_file);
	tcase_add_test(tc, admin_section);
	tcase_add_test(tc, valid_privilege);
	tcase_add_test(tc, policy_digest);
	suite_add_tcase(s, tc);

	tc = tcase_create("cpus");
	tcase_add_loop_test(tc, cpu_max_table, 0, (int)NELEM(cpu_max_cases));
	tcase_add_test(tc, cpus_fake_cgroup);
	suite_add_tcase(s, tc);
	return s;
}
