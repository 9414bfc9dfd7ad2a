/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for metrics: the exposition as exact text, family by family
 * (HELP, TYPE, samples, label order), the cumulative histogram buckets
 * with _sum and _count, escaping of label values and HELP text, and the
 * label names that mirror other modules' enums.
 *
 * The counters are process-wide: every test counts from zero because
 * Check's fork mode runs each in a child of a runner that counts nothing.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/acl.h"
#include "mqttguard/auth.h"
#include "mqttguard/limits.h"
#include "mqttguard/metrics.h"

/* The label tables of metrics.c follow these enums, value for value. */
_Static_assert(METRICS_AUTH_RESULTS == AUTH_RESULT__MAX,
    "metrics.c's auth result names follow enum auth_result");
_Static_assert(METRICS_REFUSALS == LIMITS_HANDSHAKE + 1,
    "metrics.c's refusal names follow enum limits_refusal");
_Static_assert(METRICS_LISTENERS_MAX == LIMITS_LISTENERS_MAX,
    "listeners are counted apart up to the same bound");

/* What metrics_write() says for listeners <names>; caller frees. */
static char *
exposition(const char *const *names, size_t n)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(metrics_write(fp, names, n), 0);
	ck_assert_int_eq(fclose(fp), 0);
	return text;
}

/*
 * The block of family <name> in <text>: from its HELP line to the next
 * HELP line or the end.  Caller frees.
 */
static char *
family(const char *text, const char *name)
{
	char		 head[256];
	const char	*p, *end;

	snprintf(head, sizeof(head), "# HELP %s ", name);
	p = strstr(text, head);
	ck_assert_msg(p != NULL, "no family %s in:\n%s", name, text);
	end = strstr(p + 1, "# HELP ");
	if (end == NULL)
		end = p + strlen(p);
	return strndup(p, (size_t)(end - p));
}

static void
family_is(const char *const *names, size_t n, const char *name,
    const char *want)
{
	char	*text = exposition(names, n);
	char	*got = family(text, name);

	ck_assert_str_eq(got, want);
	free(got);
	free(text);
}

START_TEST(sessions_by_listener)
{
	static const char *const names[] = { "mqtts", "plain" };

	metrics_session_open(0);
	metrics_session_open(0);
	metrics_session_open(1);
	metrics_session_authenticated(0);
	metrics_session_close(1, false);
	metrics_session_open(METRICS_LISTENERS_MAX);	/* not counted */
	family_is(names, 2, "mqttguard_sessions",
	    "# HELP mqttguard_sessions Client sessions open now, by listener "
	    "and whether the client has authenticated.\n"
	    "# TYPE mqttguard_sessions gauge\n"
	    "mqttguard_sessions{listener=\"mqtts\",authenticated=\"false\"} 1\n"
	    "mqttguard_sessions{listener=\"mqtts\",authenticated=\"true\"} 1\n"
	    "mqttguard_sessions{listener=\"plain\",authenticated=\"false\"} 0\n"
	    "mqttguard_sessions{listener=\"plain\",authenticated=\"true\"} 0\n");
	family_is(names, 2, "mqttguard_connections_accepted_total",
	    "# HELP mqttguard_connections_accepted_total Connections accepted "
	    "(admitted by the accept-time limits).\n"
	    "# TYPE mqttguard_connections_accepted_total counter\n"
	    "mqttguard_connections_accepted_total{listener=\"mqtts\"} 2\n"
	    "mqttguard_connections_accepted_total{listener=\"plain\"} 1\n");
	family_is(names, 2, "mqttguard_connections_closed_total",
	    "# HELP mqttguard_connections_closed_total Sessions ended, for "
	    "whatever reason.\n"
	    "# TYPE mqttguard_connections_closed_total counter\n"
	    "mqttguard_connections_closed_total{listener=\"mqtts\"} 0\n"
	    "mqttguard_connections_closed_total{listener=\"plain\"} 1\n");
}
END_TEST

/* The refusal label is the policy key, in enum limits_refusal's order. */
START_TEST(refusals_by_policy_key)
{
	static const char *const names[] = { "l" };
	char	*text, *got;

	metrics_refused(0, LIMITS_ADDRESS);
	metrics_refused(0, LIMITS_ADDRESS);
	metrics_refused(0, LIMITS_USER_RATE);
	metrics_refused(0, LIMITS_USER_RATE + 1);	/* out of range */
	text = exposition(names, 1);
	got = family(text, "mqttguard_connections_refused_total");
	ck_assert_ptr_nonnull(strstr(got, "mqttguard_connections_refused_total"
	    "{listener=\"l\",reason=\"max_connections_per_address\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(got, "mqttguard_connections_refused_total"
	    "{listener=\"l\",reason=\"connection_rate_per_user\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(got, "mqttguard_connections_refused_total"
	    "{listener=\"l\",reason=\"max_connections\"} 0\n"));
	ck_assert_ptr_null(strstr(got, "\"\""));
	free(got);
	free(text);
}
END_TEST

/*
 * Authentication results appear once counted, by method; the ACL's by
 * action bit; the audit events' counters under their kind.
 */
START_TEST(decisions)
{
	metrics_auth(METRICS_AUTH_PASSWORD, AUTH_FAIL_BAD_PASSWORD);
	metrics_auth(METRICS_AUTH_PASSWORD, AUTH_FAIL_BAD_PASSWORD);
	metrics_auth(METRICS_AUTH_CERTIFICATE, AUTH_OK);
	metrics_auth(METRICS_AUTH_ANONYMOUS, AUTH_RESULT__MAX);	/* ignored */
	metrics_lockout(2);		/* identity */
	metrics_lockout(3);		/* ignored */
	metrics_add(M_AUTH_CACHE_HIT, 2);
	metrics_acl(ACL_READ, false);
	metrics_acl(ACL_PUBLISH, true);
	metrics_acl(ACL_ALL, true);				/* ignored */
	metrics_add(M_LIMIT_INFLIGHT, 3);
	family_is(NULL, 0, "mqttguard_auth_attempts_total",
	    "# HELP mqttguard_auth_attempts_total Authentication decisions, "
	    "by method and result.\n"
	    "# TYPE mqttguard_auth_attempts_total counter\n"
	    "mqttguard_auth_attempts_total{method=\"password\","
	    "result=\"bad_password\"} 2\n"
	    "mqttguard_auth_attempts_total{method=\"certificate\","
	    "result=\"ok\"} 1\n");
	family_is(NULL, 0, "mqttguard_auth_lockouts_total",
	    "# HELP mqttguard_auth_lockouts_total Lockouts started after "
	    "repeated wrong passwords: of an identity from one address "
	    "(pair), of a source address guessing many identities (address), "
	    "of an identity guessed from many addresses (identity).\n"
	    "# TYPE mqttguard_auth_lockouts_total counter\n"
	    "mqttguard_auth_lockouts_total{scope=\"pair\"} 0\n"
	    "mqttguard_auth_lockouts_total{scope=\"address\"} 0\n"
	    "mqttguard_auth_lockouts_total{scope=\"identity\"} 1\n");
	family_is(NULL, 0, "mqttguard_auth_cache_total",
	    "# HELP mqttguard_auth_cache_total Password checks with the "
	    "verified-credential cache on: served from it (hit) or by the "
	    "password hash (miss).\n"
	    "# TYPE mqttguard_auth_cache_total counter\n"
	    "mqttguard_auth_cache_total{result=\"hit\"} 2\n"
	    "mqttguard_auth_cache_total{result=\"miss\"} 0\n");
	family_is(NULL, 0, "mqttguard_acl_decisions_total",
	    "# HELP mqttguard_acl_decisions_total ACL decisions (with an acl "
	    "section), by action and result.\n"
	    "# TYPE mqttguard_acl_decisions_total counter\n"
	    "mqttguard_acl_decisions_total{action=\"publish\",result=\"deny\"} 0\n"
	    "mqttguard_acl_decisions_total{action=\"publish\",result=\"allow\"} 1\n"
	    "mqttguard_acl_decisions_total{action=\"subscribe\",result=\"deny\"} 0\n"
	    "mqttguard_acl_decisions_total{action=\"subscribe\",result=\"allow\"} 0\n"
	    "mqttguard_acl_decisions_total{action=\"read\",result=\"deny\"} 1\n"
	    "mqttguard_acl_decisions_total{action=\"read\",result=\"allow\"} 0\n");
	family_is(NULL, 0, "mqttguard_limit_hits_total",
	    "# HELP mqttguard_limit_hits_total Frames held, dropped or refused "
	    "by a session limit, by kind.\n"
	    "# TYPE mqttguard_limit_hits_total counter\n"
	    "mqttguard_limit_hits_total{kind=\"rate\"} 0\n"
	    "mqttguard_limit_hits_total{kind=\"inflight\"} 3\n"
	    "mqttguard_limit_hits_total{kind=\"subscriptions\"} 0\n"
	    "mqttguard_limit_hits_total{kind=\"delivery_size\"} 0\n");
}
END_TEST

/* Frames and bytes by direction and type; malformed ones by rule. */
START_TEST(traffic)
{
	char	*text, *got;
	size_t	 n;
	int	 e;

	metrics_frame(CODEC_FROM_CLIENT, CODEC_PUBLISH, 100);
	metrics_frame(CODEC_FROM_CLIENT, CODEC_PUBLISH, 28);
	metrics_frame(CODEC_FROM_SERVER, CODEC_CONNACK, 4);
	metrics_codec_reject(CODEC_FROM_SERVER, CODEC_ERR_QOS);
	family_is(NULL, 0, "mqttguard_frame_bytes_total",
	    "# HELP mqttguard_frame_bytes_total Bytes of valid MQTT frames "
	    "read, by direction and packet type.\n"
	    "# TYPE mqttguard_frame_bytes_total counter\n"
	    "mqttguard_frame_bytes_total{direction=\"from_client\","
	    "type=\"publish\"} 128\n"
	    "mqttguard_frame_bytes_total{direction=\"from_broker\","
	    "type=\"connack\"} 4\n");
	family_is(NULL, 0, "mqttguard_malformed_frames_total",
	    "# HELP mqttguard_malformed_frames_total Frames refused by the "
	    "decoder, by direction and the rule they broke.\n"
	    "# TYPE mqttguard_malformed_frames_total counter\n"
	    "mqttguard_malformed_frames_total{direction=\"from_broker\","
	    "rule=\"qos\"} 1\n");
	/* Every rule has a name of its own. */
	for (e = 1; e < CODEC_ERR__MAX; e++)
		metrics_codec_reject(CODEC_FROM_CLIENT, (enum codec_err)e);
	text = exposition(NULL, 0);
	got = family(text, "mqttguard_malformed_frames_total");
	for (n = 0, e = 0; got[e] != '\0'; e++)
		n += got[e] == '\n';
	ck_assert_uint_eq(n, 2 + 1 + (CODEC_ERR__MAX - 1));
	ck_assert_ptr_null(strstr(got, "rule=\"\""));
	ck_assert_ptr_nonnull(strstr(got, "rule=\"auth_state\"} 1\n"));
	free(got);
	free(text);
}
END_TEST

#define COUNTERS	3
#define FRAMES		20000

static void *
count_frames(void *arg)
{
	size_t	i;

	(void)arg;
	for (i = 0; i < FRAMES; i++)
		metrics_frame(CODEC_FROM_SERVER, CODEC_PUBACK, 4);
	return NULL;
}

/*
 * Each thread counts frames in a block of its own: the exposition sums
 * every thread's, those that have ended too, and the main thread's.
 */
START_TEST(traffic_threads)
{
	pthread_t	t[COUNTERS];
	char		want[512];
	size_t		i;

	for (i = 0; i < COUNTERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, count_frames,
		    NULL), 0);
	metrics_frame(CODEC_FROM_SERVER, CODEC_PUBACK, 4);
	for (i = 0; i < COUNTERS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	snprintf(want, sizeof(want),
	    "# HELP mqttguard_frames_total Valid MQTT frames read, by "
	    "direction and packet type.\n"
	    "# TYPE mqttguard_frames_total counter\n"
	    "mqttguard_frames_total{direction=\"from_broker\","
	    "type=\"puback\"} %d\n", COUNTERS * FRAMES + 1);
	family_is(NULL, 0, "mqttguard_frames_total", want);
	snprintf(want, sizeof(want),
	    "# HELP mqttguard_frame_bytes_total Bytes of valid MQTT frames "
	    "read, by direction and packet type.\n"
	    "# TYPE mqttguard_frame_bytes_total counter\n"
	    "mqttguard_frame_bytes_total{direction=\"from_broker\","
	    "type=\"puback\"} %d\n", (COUNTERS * FRAMES + 1) * 4);
	family_is(NULL, 0, "mqttguard_frame_bytes_total", want);
}
END_TEST

/*
 * Buckets are cumulative, "le" is exact decimal seconds, an observation
 * on a bound falls in its bucket, _count is the +Inf bucket.
 */
START_TEST(histogram_exact)
{
	metrics_observe(METRICS_H_CONNACK, 400);
	metrics_observe(METRICS_H_CONNACK, 1000);
	metrics_observe(METRICS_H_CONNACK, 1001);
	metrics_observe(METRICS_H_CONNACK, 20000000);
	metrics_observe(METRICS_H__MAX, 1);			/* ignored */
	family_is(NULL, 0, "mqttguard_connect_to_connack_seconds",
	    "# HELP mqttguard_connect_to_connack_seconds Time from a client's "
	    "CONNECT to the broker's CONNACK it is sent: authentication, the "
	    "broker connection and its answer.\n"
	    "# TYPE mqttguard_connect_to_connack_seconds histogram\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.0005\"} 1\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.001\"} 2\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.0025\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.005\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.01\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.025\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.05\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.1\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.25\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"0.5\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"1\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"2.5\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"5\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"10\"} 3\n"
	    "mqttguard_connect_to_connack_seconds_bucket{le=\"+Inf\"} 4\n"
	    "mqttguard_connect_to_connack_seconds_sum 20.002401\n"
	    "mqttguard_connect_to_connack_seconds_count 4\n");
}
END_TEST

/* Gauges go down as well as up; plain counters have no labels. */
START_TEST(gauges_and_plain)
{
	metrics_password_queue(1);
	metrics_password_queue(1);
	metrics_password_queue(-1);
	metrics_upstream(false, 5);
	metrics_reload(true);
	family_is(NULL, 0, "mqttguard_password_checks_queued",
	    "# HELP mqttguard_password_checks_queued Password checks waiting "
	    "for a hashing thread.\n"
	    "# TYPE mqttguard_password_checks_queued gauge\n"
	    "mqttguard_password_checks_queued 1\n");
	family_is(NULL, 0, "mqttguard_upstream_connect_failures_total",
	    "# HELP mqttguard_upstream_connect_failures_total Connections to "
	    "the broker that failed (refused, timed out, TLS verification).\n"
	    "# TYPE mqttguard_upstream_connect_failures_total counter\n"
	    "mqttguard_upstream_connect_failures_total 1\n");
	family_is(NULL, 0, "mqttguard_reloads_total",
	    "# HELP mqttguard_reloads_total Policy reloads, by result.\n"
	    "# TYPE mqttguard_reloads_total counter\n"
	    "mqttguard_reloads_total{result=\"failure\"} 0\n"
	    "mqttguard_reloads_total{result=\"success\"} 1\n");
}
END_TEST

/* Readiness reads the latest success and failure of a session. */
START_TEST(upstream_stamps)
{
	uint64_t	ok, failed;

	metrics_upstream_last(&ok, &failed);
	ck_assert_uint_eq(ok, 0);
	ck_assert_uint_eq(failed, 0);
	metrics_upstream(true, 1000);
	metrics_upstream(false, 1500);
	metrics_upstream(true, 2000);
	metrics_upstream_last(&ok, &failed);
	ck_assert_uint_eq(ok, 2000);
	ck_assert_uint_eq(failed, 1500);
}
END_TEST

/*
 * A label value (a listener's name comes from the policy) escapes a
 * backslash, a double quote and a line feed; HELP text a backslash and a
 * line feed only.
 */
START_TEST(escaping)
{
	static const char *const names[] = { "a\"b\\c\nd" };
	static const char *const labels[] = { "v", "x\"y", "w", "", NULL };
	char	*text = NULL, *got;
	size_t	 len = 0;
	FILE	*fp;

	metrics_tls_failed(0, true);
	text = exposition(names, 1);
	got = family(text, "mqttguard_probes_total");
	ck_assert_str_eq(got, "# HELP mqttguard_probes_total Connections "
	    "closed before sending a byte (port scans, TCP health checks).\n"
	    "# TYPE mqttguard_probes_total counter\n"
	    "mqttguard_probes_total{listener=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(got);
	free(text);

	text = NULL;
	ck_assert_ptr_nonnull(fp = open_memstream(&text, &len));
	ck_assert_int_eq(metrics_write_info(fp, "t_info", "a \"b\" c\\d\ne",
	    labels), 0);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_str_eq(text, "# HELP t_info a \"b\" c\\\\d\\ne\n"
	    "# TYPE t_info gauge\n"
	    "t_info{v=\"x\\\"y\",w=\"\"} 1\n");
	free(text);
}
END_TEST

/* Every process_* metric, each a HELP, a TYPE and one number. */
START_TEST(process)
{
	static const char *const want[] = { "process_cpu_seconds_total",
	    "process_resident_memory_bytes", "process_virtual_memory_bytes",
	    "process_start_time_seconds", "process_open_fds",
	    "process_max_fds" };
	char	*text = NULL, *p, head[128];
	size_t	 len = 0, i;
	double	 v;
	FILE	*fp;

	ck_assert_ptr_nonnull(fp = open_memstream(&text, &len));
	ck_assert_int_eq(metrics_write_process(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
	for (i = 0; i < NELEM(want); i++) {
		snprintf(head, sizeof(head), "\n%s ", want[i]);
		p = strstr(text, head);
		ck_assert_msg(p != NULL, "%s missing:\n%s", want[i], text);
		v = strtod(p + strlen(head), &p);
		ck_assert_msg(*p == '\n' && v >= 0, "%s: bad value", want[i]);
	}
	free(text);
}
END_TEST

/*
 * The whole exposition is well formed: each sample belongs to the family
 * whose HELP and TYPE came last (promtool checks more, in the
 * integration tests).
 */
START_TEST(well_formed)
{
	static const char *const names[] = { "x" };
	char	*text = exposition(names, 1), *line, *save = NULL;
	char	 fam[128] = "";
	int	 types = 0;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			ck_assert_int_eq(sscanf(line + 7, "%127s", fam), 1);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert_int_eq(strncmp(line + 7, fam, strlen(fam)),
			    0);
			types++;
			continue;
		}
		ck_assert_msg(strncmp(line, fam, strlen(fam)) == 0,
		    "%s outside family %s", line, fam);
		ck_assert_ptr_nonnull(strrchr(line, ' '));
	}
	ck_assert_int_ge(types, 20);
	free(text);
}
END_TEST

Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("exposition");

	tcase_add_test(tc, sessions_by_listener);
	tcase_add_test(tc, refusals_by_policy_key);
	tcase_add_test(tc, decisions);
	tcase_add_test(tc, traffic);
	tcase_add_test(tc, traffic_threads);
	tcase_add_test(tc, histogram_exact);
	tcase_add_test(tc, gauges_and_plain);
	tcase_add_test(tc, upstream_stamps);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, process);
	tcase_add_test(tc, well_formed);
	suite_add_tcase(s, tc);
	return s;
}
