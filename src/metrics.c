/* SPDX-License-Identifier: ISC */
/*
 * metrics — counters shared by every thread, and their exposition.
 *
 * Plain arrays of relaxed atomics; counting takes no lock, so any path may
 * count.  What is counted on every frame (frames, bytes, ACL decisions) is
 * kept per thread instead: each thread adds to its own block without a locked
 * instruction and without sharing a cache line with another worker, and
 * the exposition sums the blocks.  A block is made on a thread's first
 * frame and lives as long as the process.  The exposition (metrics_write()) reads
 * them one by one into the Prometheus text format 0.0.4 on a stdio stream
 * the caller owns (admin.c passes an open_memstream); it runs on one
 * thread at a time, and nothing here knows about HTTP.
 *
 * Names follow Prometheus' conventions: the mqttguard_ prefix, base units
 * (seconds, bytes), _total on counters.  Histograms keep their buckets
 * apart (not cumulative) so that an observation is one increment; the
 * exposition adds them up, and takes _count from the +Inf bucket so the
 * two always agree.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mqttguard/metrics.h"

#define DIRS	2	/* enum codec_dir */
#define TYPES	16	/* MQTT packet types, 0 reserved */
#define ACTIONS	3	/* publish, subscribe, read */

struct hist {
	_Atomic uint64_t	n[METRICS_BUCKETS + 1];	/* last: +Inf */
	_Atomic uint64_t	sum_us;
};

/* One label of a sample: name="value". */
struct label {
	const char	*name;
	const char	*value;
};

static _Atomic int64_t	counters[M__MAX];
static _Atomic uint64_t	rejects[DIRS][CODEC_ERR__MAX];
static _Atomic int64_t	sessions[METRICS_LISTENERS_MAX][2];
static _Atomic uint64_t	accepted[METRICS_LISTENERS_MAX];
static _Atomic uint64_t	closed[METRICS_LISTENERS_MAX];
static _Atomic uint64_t	refused[METRICS_LISTENERS_MAX][METRICS_REFUSALS];
static _Atomic uint64_t	tls_failed[METRICS_LISTENERS_MAX][2];	/* probe */
static _Atomic uint64_t	auth[METRICS_AUTH_METHODS][METRICS_AUTH_RESULTS];
static _Atomic uint64_t	lockouts[3];	/* pair, address, identity */
static _Atomic uint64_t	would[METRICS_W__MAX];		/* monitor mode */
static _Atomic uint64_t	obs_entries, obs_dropped;	/* audit.observe */
/* What is counted per frame, one block per thread that counts it. */
struct hot {
	_Atomic uint64_t	 frames[DIRS][TYPES];
	_Atomic uint64_t	 bytes[DIRS][TYPES];
	_Atomic uint64_t	 acl[ACTIONS][2];	/* deny, allow */
	struct hot		*next;
};
static _Atomic(struct hot *)	hot_blocks;
static _Thread_local struct hot	*my_hot;
static struct hot		hot_spare;	/* shared, if calloc fails */
/* WebSockets: upgrades by HTTP status, framing errors by close status;
 * the last slot of each counts any other status. */
static const unsigned	ws_http[] = { 101, 400, 403, 404, 405, 426, 431,
			    500, 505 };
static const unsigned	ws_close[] = { 1002, 1003, 1005, 1007, 1008, 1009,
			    1011 };
#define WS_HTTP		(sizeof(ws_http) / sizeof(ws_http[0]))
#define WS_CLOSE	(sizeof(ws_close) / sizeof(ws_close[0]))
static _Atomic uint64_t	ws_upgrades[WS_HTTP + 1];
static _Atomic uint64_t	ws_errors[WS_CLOSE + 1];
static _Atomic int64_t	pw_queued;
static _Atomic uint64_t	reloads[2];			/* failure, success */
static _Atomic uint64_t	upstream_ok_ms, upstream_failed_ms;
static struct hist	hists[METRICS_H__MAX];

/* Upper bounds of the buckets, microseconds: 0.5 ms to 10 s. */
static const uint64_t	bounds_us[METRICS_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

static const char *const dir_names[DIRS] = { "from_client", "from_broker" };
static const char *const type_names[TYPES] = {
	NULL, "connect", "connack", "publish", "puback", "pubrec", "pubrel",
	"pubcomp", "subscribe", "suback", "unsubscribe", "unsuback",
	"pingreq", "pingresp", "disconnect", "auth"
};
static const char *const action_names[ACTIONS] = {
	"publish", "subscribe", "read"
};
static const char *const method_names[METRICS_AUTH_METHODS] = {
	"password", "certificate", "anonymous"
};
/* enum limits_refusal, in its order: the policy key that refused. */
static const char *const refusal_names[METRICS_REFUSALS] = {
	NULL, "max_connections", "max_unauthenticated",
	"max_connections_per_address", "max_connections_per_network",
	"connection_rate_per_address", "listener_max_connections",
	"max_connections_per_user", "connection_rate_per_user",
	"handshake_budget"
};
/* enum auth_result, in its order. */
static const char *const result_names[METRICS_AUTH_RESULTS] = {
	"ok", "no_credentials", "unknown_user", "bad_password", "locked_out",
	"certificate_missing", "certificate_unmapped",
	"certificate_mismatch", "bad_username", "bad_client_id",
	"client_id_taken", "auth_method", "busy", "error"
};
static const char *const rule_names[CODEC_ERR__MAX] = {
	[CODEC_ERR_NONE] = NULL,
	[CODEC_ERR_TYPE_RESERVED] = "type_reserved",
	[CODEC_ERR_HEADER_FLAGS] = "header_flags",
	[CODEC_ERR_REMLEN_ENCODING] = "remaining_length_encoding",
	[CODEC_ERR_TOO_LARGE] = "too_large",
	[CODEC_ERR_LENGTH] = "length",
	[CODEC_ERR_QOS] = "qos",
	[CODEC_ERR_DUP_QOS0] = "dup_qos0",
	[CODEC_ERR_PACKET_ID_ZERO] = "packet_id_zero",
	[CODEC_ERR_PROTOCOL_NAME] = "protocol_name",
	[CODEC_ERR_PROTOCOL_LEVEL] = "protocol_level",
	[CODEC_ERR_CONNECT_RESERVED] = "connect_reserved",
	[CODEC_ERR_WILL_FLAGS] = "will_flags",
	[CODEC_ERR_PASSWORD_NO_USER] = "password_without_username",
	[CODEC_ERR_CLIENT_ID] = "client_id",
	[CODEC_ERR_UTF8] = "utf8",
	[CODEC_ERR_UTF8_NUL] = "utf8_nul",
	[CODEC_ERR_UTF8_CONTROL] = "utf8_control",
	[CODEC_ERR_TOPIC_EMPTY] = "topic_empty",
	[CODEC_ERR_TOPIC_WILDCARD] = "topic_wildcard",
	[CODEC_ERR_FILTER_EMPTY] = "filter_empty",
	[CODEC_ERR_FILTER_WILDCARD] = "filter_wildcard",
	[CODEC_ERR_NO_FILTERS] = "no_filters",
	[CODEC_ERR_SUBOPTS] = "subscription_options",
	[CODEC_ERR_SHARED_SUB] = "shared_subscription",
	[CODEC_ERR_PROP_LENGTH] = "property_length",
	[CODEC_ERR_PROP_UNKNOWN] = "property_unknown",
	[CODEC_ERR_PROP_NOT_ALLOWED] = "property_not_allowed",
	[CODEC_ERR_PROP_DUPLICATE] = "property_duplicate",
	[CODEC_ERR_PROP_VALUE] = "property_value",
	[CODEC_ERR_TOPIC_ALIAS] = "topic_alias",
	[CODEC_ERR_REASON_CODE] = "reason_code",
	[CODEC_ERR_FIRST_NOT_CONNECT] = "first_not_connect",
	[CODEC_ERR_SECOND_CONNECT] = "second_connect",
	[CODEC_ERR_WRONG_DIRECTION] = "wrong_direction",
	[CODEC_ERR_NOT_CONNECTED] = "not_connected",
	[CODEC_ERR_CONNACK_FLAGS] = "connack_flags",
	[CODEC_ERR_SECOND_CONNACK] = "second_connack",
	[CODEC_ERR_AUTH_STATE] = "auth_state",
	[CODEC_ERR_UTF8_NONCHAR] = "utf8_noncharacter",
	[CODEC_ERR_PACKET_ID_IN_USE] = "packet_id_in_use",
	[CODEC_ERR_PACKET_ID_UNKNOWN] = "packet_id_unknown",
	[CODEC_ERR_PAYLOAD_FORMAT] = "payload_format",
	[CODEC_ERR_USER_PROPS] = "user_properties",
};

static void	add(_Atomic uint64_t *, uint64_t);
static void	add_own(_Atomic uint64_t *, uint64_t);
static struct hot *hot_mine(void);
static void	hot_add(struct hot *, _Atomic uint64_t *, uint64_t);
static void	hot_total(struct hot *);
static uint64_t	get(_Atomic uint64_t *);
static void	family(FILE *, const char *, const char *, const char *);
static void	sample(FILE *, const char *, const char *,
		    const struct label *, size_t, const char *);
static void	sample_u(FILE *, const char *, const struct label *, size_t,
		    uint64_t);
static void	escaped(FILE *, const char *, bool);
static void	seconds(char *, size_t, uint64_t);
static void	histogram(FILE *, const char *, const char *, struct hist *);
static void	write_sessions(FILE *, const char *const *, size_t);
static void	write_events(FILE *);
static void	write_monitor(FILE *);
static void	by_dir(FILE *, const char *, const char *, const char *,
		    const char *const *, size_t, _Atomic uint64_t *,
		    _Atomic uint64_t *);
static void	write_traffic(FILE *);
static size_t	slot(const unsigned *, size_t, unsigned);
static void	by_status(FILE *, const char *, const char *, const char *,
		    const unsigned *, size_t, _Atomic uint64_t *);
static void	write_websocket(FILE *);
static void	write_latencies(FILE *);
static void	write_plain(FILE *, const char *, const char *, enum metric);
static void	write_kinds(FILE *, const char *, const char *, const char *,
		    const enum metric *, const char *const *, size_t);

/* ---- counting ------------------------------------------------------- */

static void
add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void
metrics_add(enum metric m, int64_t delta)
{
	if ((unsigned)m < M__MAX)
		atomic_fetch_add_explicit(&counters[m], delta,
		    memory_order_relaxed);
}

void
metrics_codec_reject(int dir, enum codec_err err)
{
	if ((dir == 0 || dir == 1) && (unsigned)err < CODEC_ERR__MAX)
		add(&rejects[dir][err], 1);
}

/* The slot of <status> in <table> of <n>: n when it is not there. */
static size_t
slot(const unsigned *table, size_t n, unsigned status)
{
	size_t	i;

	for (i = 0; i < n && table[i] != status; i++)
		;
	return i;
}

void
metrics_ws_upgrade(unsigned status)
{
	add(&ws_upgrades[slot(ws_http, WS_HTTP, status)], 1);
}

void
metrics_ws_error(unsigned status)
{
	add(&ws_errors[slot(ws_close, WS_CLOSE, status)], 1);
}

void
metrics_session_open(unsigned listener)
{
	if (listener >= METRICS_LISTENERS_MAX)
		return;
	add(&accepted[listener], 1);
	atomic_fetch_add_explicit(&sessions[listener][0], 1,
	    memory_order_relaxed);
}

void
metrics_session_authenticated(unsigned listener)
{
	if (listener >= METRICS_LISTENERS_MAX)
		return;
	atomic_fetch_sub_explicit(&sessions[listener][0], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&sessions[listener][1], 1,
	    memory_order_relaxed);
}

void
metrics_session_close(unsigned listener, bool authenticated)
{
	if (listener >= METRICS_LISTENERS_MAX)
		return;
	add(&closed[listener], 1);
	atomic_fetch_sub_explicit(&sessions[listener][authenticated], 1,
	    memory_order_relaxed);
}

void
metrics_session_move(unsigned from, unsigned to, bool authenticated)
{
	if (from == to || from >= METRICS_LISTENERS_MAX ||
	    to >= METRICS_LISTENERS_MAX)
		return;
	atomic_fetch_sub_explicit(&sessions[from][authenticated], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&sessions[to][authenticated], 1,
	    memory_order_relaxed);
}

void
metrics_refused(unsigned listener, unsigned reason)
{
	if (listener < METRICS_LISTENERS_MAX && reason < METRICS_REFUSALS)
		add(&refused[listener][reason], 1);
}

void
metrics_tls_failed(unsigned listener, bool probe)
{
	if (listener < METRICS_LISTENERS_MAX)
		add(&tls_failed[listener][probe], 1);
}

void
metrics_auth(enum metrics_auth_method method, unsigned result)
{
	if ((unsigned)method < METRICS_AUTH_METHODS &&
	    result < METRICS_AUTH_RESULTS)
		add(&auth[method][result], 1);
}

void
metrics_lockout(unsigned scope)
{
	if (scope < 3)
		add(&lockouts[scope], 1);
}

void
metrics_acl(unsigned action, bool allowed)
{
	unsigned	i = action == 1 ? 0 : action == 2 ? 1 : action == 4 ?
			    2 : ACTIONS;

	struct hot	*h;

	if (i < ACTIONS) {
		h = hot_mine();
		hot_add(h, &h->acl[i][allowed], 1);
	}
}

void
metrics_would(enum metrics_would kind)
{
	if ((unsigned)kind < METRICS_W__MAX)
		add(&would[kind], 1);
}

void
metrics_observe_entries(uint64_t n)
{
	atomic_store_explicit(&obs_entries, n, memory_order_relaxed);
}

void
metrics_observe_dropped(uint64_t n)
{
	add(&obs_dropped, n);
}

/*
 * This thread's block of per-frame counters, made on first use; the
 * shared spare if there is no memory for it.
 */
static struct hot *
hot_mine(void)
{
	struct hot	*h;

	if ((h = my_hot) != NULL)
		return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return &hot_spare;
	h->next = atomic_load(&hot_blocks);
	while (!atomic_compare_exchange_weak(&hot_blocks, &h->next, h))
		;
	return my_hot = h;
}

/* Adds <n> to counter <c> of block <h>. */
static void
hot_add(struct hot *h, _Atomic uint64_t *c, uint64_t n)
{
	if (h == &hot_spare)
		add(c, n);
	else
		add_own(c, n);
}

/* Adds <n> to a counter only this thread writes: no locked instruction. */
static void
add_own(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) +
	    n, memory_order_relaxed);
}

void
metrics_frame(enum codec_dir dir, unsigned type, size_t n)
{
	struct hot	*h;

	if ((unsigned)dir < DIRS && type < TYPES) {
		h = hot_mine();
		hot_add(h, &h->frames[dir][type], 1);
		hot_add(h, &h->bytes[dir][type], n);
	}
}

void
metrics_observe(enum metrics_hist h, uint64_t us)
{
	size_t	i;

	if ((unsigned)h >= METRICS_H__MAX)
		return;
	for (i = 0; i < METRICS_BUCKETS && us > bounds_us[i]; i++)
		;
	add(&hists[h].n[i], 1);
	add(&hists[h].sum_us, us);
}

void
metrics_password_queue(int delta)
{
	atomic_fetch_add_explicit(&pw_queued, delta, memory_order_relaxed);
}

void
metrics_reload(bool ok)
{
	add(&reloads[ok], 1);
}

void
metrics_upstream(bool ok, uint64_t now_ms)
{
	atomic_store_explicit(ok ? &upstream_ok_ms : &upstream_failed_ms,
	    now_ms, memory_order_relaxed);
	if (!ok)
		metrics_add(M_UPSTREAM_CONNECT_FAILED, 1);
}

void
metrics_upstream_last(uint64_t *ok_ms, uint64_t *failed_ms)
{
	*ok_ms = get(&upstream_ok_ms);
	*failed_ms = get(&upstream_failed_ms);
}

/* ---- the exposition ------------------------------------------------- */

int
metrics_write(FILE *fp, const char *const *listeners, size_t n)
{
	write_sessions(fp, listeners, n < METRICS_LISTENERS_MAX ? n :
	    METRICS_LISTENERS_MAX);
	write_events(fp);
	write_monitor(fp);
	write_traffic(fp);
	write_websocket(fp);
	write_latencies(fp);
	return ferror(fp) ? -1 : 0;
}

/* Per listener: sessions, accepted, refused, closed, TLS failures. */
static void
write_sessions(FILE *fp, const char *const *ls, size_t n)
{
	static const char *const yes_no[2] = { "false", "true" };
	struct label	 l[2];
	size_t		 i, j;

	family(fp, "mqttguard_sessions", "gauge", "Client sessions open now, "
	    "by listener and whether the client has authenticated.");
	for (i = 0; i < n; i++)
		for (j = 0; j < 2; j++) {
			l[0] = (struct label){ "listener", ls[i] };
			l[1] = (struct label){ "authenticated", yes_no[j] };
			sample(fp, "mqttguard_sessions", NULL, l, 2, NULL);
			fprintf(fp, " %" PRId64 "\n", atomic_load_explicit(
			    &sessions[i][j], memory_order_relaxed));
		}
	family(fp, "mqttguard_connections_accepted_total", "counter",
	    "Connections accepted (admitted by the accept-time limits).");
	for (i = 0; i < n; i++) {
		l[0] = (struct label){ "listener", ls[i] };
		sample_u(fp, "mqttguard_connections_accepted_total", l, 1,
		    get(&accepted[i]));
	}
	family(fp, "mqttguard_connections_refused_total", "counter",
	    "Connections refused by a connection limit, by the policy key "
	    "that refused them: at accept, or at CONNECT for the per-user "
	    "ones.");
	for (i = 0; i < n; i++)
		for (j = 1; j < METRICS_REFUSALS; j++) {
			l[0] = (struct label){ "listener", ls[i] };
			l[1] = (struct label){ "reason", refusal_names[j] };
			sample_u(fp, "mqttguard_connections_refused_total", l,
			    2, get(&refused[i][j]));
		}
	family(fp, "mqttguard_connections_closed_total", "counter",
	    "Sessions ended, for whatever reason.");
	for (i = 0; i < n; i++) {
		l[0] = (struct label){ "listener", ls[i] };
		sample_u(fp, "mqttguard_connections_closed_total", l, 1,
		    get(&closed[i]));
	}
	family(fp, "mqttguard_tls_handshake_failures_total", "counter",
	    "TLS handshakes that failed after the client sent something.");
	for (i = 0; i < n; i++) {
		l[0] = (struct label){ "listener", ls[i] };
		sample_u(fp, "mqttguard_tls_handshake_failures_total", l, 1,
		    get(&tls_failed[i][0]));
	}
	family(fp, "mqttguard_probes_total", "counter",
	    "Connections closed before sending a byte (port scans, TCP "
	    "health checks).");
	for (i = 0; i < n; i++) {
		l[0] = (struct label){ "listener", ls[i] };
		sample_u(fp, "mqttguard_probes_total", l, 1,
		    get(&tls_failed[i][1]));
	}
}

/* Decisions: deadlines, authentication, ACL, limits, reloads. */
static void
write_events(FILE *fp)
{
	static const enum metric deadlines[] = { M_TLS_HANDSHAKE_TIMEOUT,
	    M_CONNECT_TIMEOUT, M_KEEPALIVE_EXPIRED };
	static const char *const deadline_names[] = { "tls_handshake",
	    "connect", "keepalive" };
	static const enum metric limits[] = { M_RATE_LIMITED,
	    M_LIMIT_INFLIGHT, M_LIMIT_SUBSCRIPTIONS, M_LIMIT_DELIVERY_SIZE };
	static const char *const limit_names[] = { "rate", "inflight",
	    "subscriptions", "delivery_size" };
	static const enum metric proxy[] = { M_PROXY_UNTRUSTED,
	    M_PROXY_BAD_HEADER };
	static const char *const proxy_names[] = { "untrusted", "header" };
	static const char *const scope_names[3] = { "pair", "address",
	    "identity" };
	static const enum metric cache[] = { M_AUTH_CACHE_HIT,
	    M_AUTH_CACHE_MISS };
	static const char *const cache_names[] = { "hit", "miss" };
	static const char *const allow_names[2] = { "deny", "allow" };
	static const char *const ok_names[2] = { "failure", "success" };
	struct label	 l[2];
	struct hot	 sum;
	size_t		 i, j;

	write_kinds(fp, "mqttguard_deadlines_expired_total", "Sessions "
	    "closed because a deadline passed.", "deadline", deadlines,
	    deadline_names, 3);
	write_kinds(fp, "mqttguard_proxy_refused_total", "Connections to a "
	    "PROXY protocol listener refused: from an address not in "
	    "trusted_proxies, or without a valid header.", "reason", proxy,
	    proxy_names, 2);
	write_plain(fp, "mqttguard_accept_pauses_total", "Times a listener "
	    "paused accepting because the process ran out of descriptors.",
	    M_ACCEPT_PAUSED);
	write_plain(fp, "mqttguard_preauth_evicted_total", "Connections not "
	    "yet authenticated closed to make room in "
	    "limits.max_unauthenticated for a newcomer from a network "
	    "holding fewer.", M_EVICTED);
	family(fp, "mqttguard_auth_attempts_total", "counter",
	    "Authentication decisions, by method and result.");
	for (i = 0; i < METRICS_AUTH_METHODS; i++)
		for (j = 0; j < METRICS_AUTH_RESULTS; j++) {
			if (get(&auth[i][j]) == 0)
				continue;
			l[0] = (struct label){ "method", method_names[i] };
			l[1] = (struct label){ "result", result_names[j] };
			sample_u(fp, "mqttguard_auth_attempts_total", l, 2,
			    get(&auth[i][j]));
		}
	family(fp, "mqttguard_auth_lockouts_total", "counter",
	    "Lockouts started after repeated wrong passwords: of an identity "
	    "from one address (pair), of a source address guessing many "
	    "identities (address), of an identity guessed from many "
	    "addresses (identity).");
	for (i = 0; i < 3; i++) {
		l[0] = (struct label){ "scope", scope_names[i] };
		sample_u(fp, "mqttguard_auth_lockouts_total", l, 1,
		    get(&lockouts[i]));
	}
	write_kinds(fp, "mqttguard_auth_cache_total", "Password checks with "
	    "the verified-credential cache on: served from it (hit) or by "
	    "the password hash (miss).", "result", cache, cache_names, 2);
	write_plain(fp, "mqttguard_auth_tarpit_total", "CONNACKs held back "
	    "by the growing tarpit of an address guessing many identities.",
	    M_AUTH_TARPIT);
	write_plain(fp, "mqttguard_auth_unrecorded_total", "Wrong passwords "
	    "not counted because a lockout table was full of running "
	    "lockouts.", M_AUTH_UNRECORDED);
	write_plain(fp, "mqttguard_will_delay_clamped_total", "5.0 CONNECTs "
	    "forwarded with a Will Delay Interval longer than their Session "
	    "Expiry Interval clamped to the latter (same meaning; "
	    "CVE-2019-11778).", M_WILL_DELAY_CLAMPED);
	write_plain(fp, "mqttguard_connect_policy_refusals_total", "CONNECTs "
	    "of authenticated clients refused: a will topic the ACL denies, "
	    "a client id another identity holds, an internal error.",
	    M_AUTH_FAILED);
	hot_total(&sum);
	family(fp, "mqttguard_acl_decisions_total", "counter",
	    "ACL decisions (with an acl section), by action and result.");
	for (i = 0; i < ACTIONS; i++)
		for (j = 0; j < 2; j++) {
			l[0] = (struct label){ "action", action_names[i] };
			l[1] = (struct label){ "result", allow_names[j] };
			sample_u(fp, "mqttguard_acl_decisions_total", l, 2,
			    get(&sum.acl[i][j]));
		}
	write_kinds(fp, "mqttguard_limit_hits_total", "Frames held, dropped "
	    "or refused by a session limit, by kind.", "kind", limits,
	    limit_names, 4);
	family(fp, "mqttguard_reloads_total", "counter",
	    "Policy reloads, by result.");
	for (i = 0; i < 2; i++) {
		l[0] = (struct label){ "result", ok_names[i] };
		sample_u(fp, "mqttguard_reloads_total", l, 1,
		    get(&reloads[i]));
	}
}

/*
 * One family of counters by direction and a second label <key> (names
 * <names>, <n> of them, 0 unused): <v> is an array of DIRS rows of <n>.
 * A pair whose <shown> counter is 0 is left out, so only the frame types
 * and rules seen appear.
 */
static void
by_dir(FILE *fp, const char *name, const char *help, const char *key,
    const char *const *names, size_t n, _Atomic uint64_t *v,
    _Atomic uint64_t *shown)
{
	struct label	l[2];
	size_t		d, t;

	family(fp, name, "counter", help);
	for (d = 0; d < DIRS; d++)
		for (t = 1; t < n; t++) {
			if (get(&shown[d * n + t]) == 0)
				continue;
			l[0] = (struct label){ "direction", dir_names[d] };
			l[1] = (struct label){ key, names[t] };
			sample_u(fp, name, l, 2, get(&v[d * n + t]));
		}
}

/* Every thread's per-frame counts, added up into <sum>. */
static void
hot_total(struct hot *sum)
{
	struct hot	*h = &hot_spare;
	size_t		 d, k;

	memset(sum, 0, sizeof(*sum));
	do {
		for (d = 0; d < DIRS; d++)
			for (k = 0; k < TYPES; k++) {
				add_own(&sum->frames[d][k],
				    get(&h->frames[d][k]));
				add_own(&sum->bytes[d][k],
				    get(&h->bytes[d][k]));
			}
		for (d = 0; d < ACTIONS; d++)
			for (k = 0; k < 2; k++)
				add_own(&sum->acl[d][k], get(&h->acl[d][k]));
		h = h == &hot_spare ? atomic_load(&hot_blocks) : h->next;
	} while (h != NULL);
}

/* Frames and bytes by direction and type; malformed frames by rule. */
static void
write_traffic(FILE *fp)
{
	struct hot	sum;

	hot_total(&sum);
	by_dir(fp, "mqttguard_frames_total", "Valid MQTT frames read, by "
	    "direction and packet type.", "type", type_names, TYPES,
	    &sum.frames[0][0], &sum.frames[0][0]);
	by_dir(fp, "mqttguard_frame_bytes_total", "Bytes of valid MQTT "
	    "frames read, by direction and packet type.", "type", type_names,
	    TYPES, &sum.bytes[0][0], &sum.frames[0][0]);
	by_dir(fp, "mqttguard_malformed_frames_total", "Frames refused by the "
	    "decoder, by direction and the rule they broke.", "rule",
	    rule_names, CODEC_ERR__MAX, &rejects[0][0], &rejects[0][0]);
}

/* <n> counters, each labelled <label> with its status in <table>. */
static void
by_status(FILE *fp, const char *name, const char *help, const char *label,
    const unsigned *table, size_t n, _Atomic uint64_t *v)
{
	struct label	l;
	char		num[16];
	size_t		i;

	family(fp, name, "counter", help);
	for (i = 0; i <= n; i++) {
		if (i < n)
			snprintf(num, sizeof(num), "%u", table[i]);
		else
			snprintf(num, sizeof(num), "other");
		l = (struct label){ label, num };
		sample_u(fp, name, &l, 1, get(&v[i]));
	}
}

/* MQTT over WebSockets: the upgrades and the framing errors. */
static void
write_websocket(FILE *fp)
{
	by_status(fp, "mqttguard_websocket_upgrades_total", "WebSocket "
	    "upgrade requests, by the HTTP status of the answer: 101 "
	    "accepted, any other refused.", "status", ws_http, WS_HTTP,
	    ws_upgrades);
	by_status(fp, "mqttguard_websocket_errors_total", "WebSocket sessions "
	    "ended for a framing error (a text or oversized message, a "
	    "protocol violation), by the close status sent.", "status",
	    ws_close, WS_CLOSE, ws_errors);
}

/* The broker connection, CONNACKs and password checks. */
static void
write_latencies(FILE *fp)
{
	write_plain(fp, "mqttguard_upstream_connect_failures_total",
	    "Connections to the broker that failed (refused, timed out, "
	    "TLS verification).", M_UPSTREAM_CONNECT_FAILED);
	histogram(fp, "mqttguard_upstream_connect_duration_seconds",
	    "Time to connect to the broker: name resolution, TCP and TLS.",
	    &hists[METRICS_H_UPSTREAM_CONNECT]);
	histogram(fp, "mqttguard_connect_to_connack_seconds",
	    "Time from a client's CONNECT to the broker's CONNACK it is "
	    "sent: authentication, the broker connection and its answer.",
	    &hists[METRICS_H_CONNACK]);
	family(fp, "mqttguard_password_checks_queued", "gauge",
	    "Password checks waiting for a hashing thread.");
	fprintf(fp, "mqttguard_password_checks_queued %" PRId64 "\n",
	    atomic_load_explicit(&pw_queued, memory_order_relaxed));
	histogram(fp, "mqttguard_password_check_duration_seconds",
	    "Time from queueing a password check to its verdict.",
	    &hists[METRICS_H_PASSWORD]);
}

/* A counter without labels: one enum metric. */
static void
write_plain(FILE *fp, const char *name, const char *help, enum metric m)
{
	family(fp, name, "counter", help);
	fprintf(fp, "%s %" PRId64 "\n", name, atomic_load_explicit(
	    &counters[m], memory_order_relaxed));
}

/* A counter with one label <label>: enum metric <ms>[i] as <vals>[i]. */
static void
write_kinds(FILE *fp, const char *name, const char *help, const char *label,
    const enum metric *ms, const char *const *vals, size_t n)
{
	struct label	l;
	size_t		i;

	family(fp, name, "counter", help);
	for (i = 0; i < n; i++) {
		l = (struct label){ label, vals[i] };
		sample(fp, name, NULL, &l, 1, NULL);
		fprintf(fp, " %" PRId64 "\n", atomic_load_explicit(
		    &counters[ms[i]], memory_order_relaxed));
	}
}

/* Monitor mode's would-be denials; observation's table. */
static void
write_monitor(FILE *fp)
{
	static const char *const kinds[METRICS_W__MAX] = { "acl_publish",
	    "acl_subscribe", "acl_read", "acl_will", "rate", "topic_bounds",
	    "inflight", "subscriptions" };
	struct label	l;
	size_t		i;

	family(fp, "mqttguard_would_deny_total", "counter", "Denials that "
	    "monitor mode let pass (mode: monitor, a rule's monitor: true, "
	    "limits.monitor), by kind.");
	for (i = 0; i < METRICS_W__MAX; i++) {
		l = (struct label){ "kind", kinds[i] };
		sample_u(fp, "mqttguard_would_deny_total", &l, 1,
		    get(&would[i]));
	}
	family(fp, "mqttguard_observe_entries", "gauge", "Distinct "
	    "(identity, client id, action, topic) keys audit.observe holds.");
	fprintf(fp, "mqttguard_observe_entries %" PRIu64 "\n",
	    get(&obs_entries));
	family(fp, "mqttguard_observe_dropped_total", "counter", "Actions "
	    "audit.observe could not record: its table was full "
	    "(audit.max_entries).");
	fprintf(fp, "mqttguard_observe_dropped_total %" PRIu64 "\n",
	    get(&obs_dropped));
}

static void
histogram(FILE *fp, const char *name, const char *help, struct hist *h)
{
	struct label	 l;
	char		 le[32], sum[32];
	uint64_t	 total = 0;
	size_t		 i;

	family(fp, name, "histogram", help);
	for (i = 0; i <= METRICS_BUCKETS; i++) {
		total += get(&h->n[i]);
		if (i < METRICS_BUCKETS)
			seconds(le, sizeof(le), bounds_us[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		l = (struct label){ "le", le };
		sample(fp, name, "_bucket", &l, 1, NULL);
		fprintf(fp, " %" PRIu64 "\n", total);
	}
	seconds(sum, sizeof(sum), get(&h->sum_us));
	fprintf(fp, "%s_sum %s\n%s_count %" PRIu64 "\n", name, sum, name,
	    total);
}

/* ---- text ----------------------------------------------------------- */

/* The HELP and TYPE lines of a family. */
static void
family(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP %s ", name);
	escaped(fp, help, false);
	fprintf(fp, "\n# TYPE %s %s\n", name, type);
}

/*
 * The name, <suffix> (may be NULL) and <n> labels of a sample, without
 * its value; with <value>, also " value\n".
 */
static void
sample(FILE *fp, const char *name, const char *suffix, const struct label *l,
    size_t n, const char *value)
{
	size_t	i;

	fprintf(fp, "%s%s", name, suffix != NULL ? suffix : "");
	for (i = 0; i < n; i++) {
		fprintf(fp, "%s%s=\"", i == 0 ? "{" : ",", l[i].name);
		escaped(fp, l[i].value, true);
		fputc('"', fp);
	}
	if (n > 0)
		fputc('}', fp);
	if (value != NULL)
		fprintf(fp, " %s\n", value);
}

static void
sample_u(FILE *fp, const char *name, const struct label *l, size_t n,
    uint64_t v)
{
	sample(fp, name, NULL, l, n, NULL);
	fprintf(fp, " %" PRIu64 "\n", v);
}

/*
 * <s> as the format wants it: a backslash and a line feed escaped in HELP
 * text, and a double quote too in a label value.  NULL is written empty.
 */
static void
escaped(FILE *fp, const char *s, bool label)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", fp);
		else if (*s == '\n')
			fputs("\\n", fp);
		else if (*s == '"' && label)
			fputs("\\\"", fp);
		else
			fputc(*s, fp);
	}
}

/* <us> microseconds as exact decimal seconds: 0.0005, 2.5, 10. */
static void
seconds(char *buf, size_t len, uint64_t us)
{
	size_t	n;

	snprintf(buf, len, "%" PRIu64 ".%06" PRIu64, us / 1000000,
	    us % 1000000);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

int
metrics_write_info(FILE *fp, const char *name, const char *help,
    const char *const *labels)
{
	struct label	l[8];
	size_t		n;

	for (n = 0; n < 8 && labels[2 * n] != NULL; n++)
		l[n] = (struct label){ labels[2 * n], labels[2 * n + 1] };
	family(fp, name, "gauge", help);
	sample(fp, name, NULL, l, n, "1");
	return ferror(fp) ? -1 : 0;
}

/* ---- the process ---------------------------------------------------- */

int
metrics_write_process(FILE *fp)
{
	FILE		*f;
	DIR		*d;
	struct dirent	*de;
	struct rlimit	 rl;
	char		 line[1024], *p;
	unsigned long	 utime, stime, vsize;
	unsigned long long start;
	long		 rss, tck = sysconf(_SC_CLK_TCK);
	long		 page = sysconf(_SC_PAGESIZE);
	uint64_t	 btime = 0, fds = 0;

	if ((f = fopen("/proc/stat", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "btime %" SCNu64, &btime) == 1)
				break;
		fclose(f);
	}
	/* Fields after the command's closing parenthesis: see proc(5). */
	if (tck > 0 && page > 0 && (f = fopen("/proc/self/stat", "r")) !=
	    NULL) {
		if (fgets(line, sizeof(line), f) != NULL &&
		    (p = strrchr(line, ')')) != NULL && sscanf(p + 2,
		    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
		    "%*d %*d %*d %*d %*d %*d %llu %lu %ld", &utime, &stime,
		    &start, &vsize, &rss) == 5) {
			family(fp, "process_cpu_seconds_total", "counter",
			    "Total user and system CPU time spent in "
			    "seconds.");
			fprintf(fp, "process_cpu_seconds_total %.2f\n",
			    (double)(utime + stime) / (double)tck);
			family(fp, "process_resident_memory_bytes", "gauge",
			    "Resident memory size in bytes.");
			fprintf(fp, "process_resident_memory_bytes %lld\n",
			    (long long)rss * page);
			family(fp, "process_virtual_memory_bytes", "gauge",
			    "Virtual memory size in bytes.");
			fprintf(fp, "process_virtual_memory_bytes %lu\n",
			    vsize);
			if (btime > 0) {
				family(fp, "process_start_time_seconds",
				    "gauge", "Start time of the process since "
				    "unix epoch in seconds.");
				fprintf(fp, "process_start_time_seconds %.2f\n",
				    (double)btime + (double)start /
				    (double)tck);
			}
		}
		fclose(f);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		family(fp, "process_open_fds", "gauge",
		    "Number of open file descriptors.");
		/* Less the one reading the directory. */
		fprintf(fp, "process_open_fds %" PRIu64 "\n", fds - 1);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		family(fp, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		fprintf(fp, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	return ferror(fp) ? -1 : 0;
}
