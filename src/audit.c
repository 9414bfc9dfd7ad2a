/* SPDX-License-Identifier: ISC */
/*
 * audit — turns enforce.c's events into counters and log lines.
 *
 * The lines keep one shape per kind so operators can match them:
 *   acl: session ID PEER: ACTION denied to "IDENTITY" client_id "CID"
 *       topic "TOPIC", rule FILE:LINE
 *   limits: session ID PEER: identity "IDENTITY" client_id "CID": WHAT
 *   auth|limits: session ID PEER listener L: refused identity ... : WHY
 * In JSON mode the same events are acl.deny, limit.hit and auth.refuse
 * objects with audit_fields() and the event's own: action, topic, rule,
 * reason, code (the 5.0 reason code of the answer) and count.
 * A flooding client cannot flood the log: quiet events (a throttled or
 * dropped PUBLISH, a refused filter) share one line per interval.
 *
 * Monitor mode's would-be denials (the frame passed) are acl.would_deny
 * and limit.would_deny, "would deny" in text; counted by kind in
 * mqttguard_would_deny_total, and logged once per session and rule or
 * limit: a repeat is only counted.
 */
#include <inttypes.h>
#include <stdio.h>

#include "mqttguard/audit.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"

static void	audit_acl(const struct audit_subject *,
		    const struct enforce_event *);
static void	audit_limit(const struct audit_subject *,
		    const struct enforce_event *);
static void	audit_refuse(const struct audit_subject *,
		    const struct enforce_event *);
static void	audit_quiet(struct audit_subject *,
		    const struct enforce_event *, uint64_t);
static void	audit_protocol(const struct audit_subject *,
		    const struct enforce_event *);

void
audit_event(struct audit_subject *who, const struct enforce_event *e,
    uint64_t now)
{
	if (e->kind == ENFORCE_EV_PROTOCOL) {
		/* Counted with the codec's refusals, by rule. */
		metrics_codec_reject(e->dir, e->err);
		audit_protocol(who, e);
		return;
	}
	if (e->would) {
		metrics_would(e->would_kind);
		if (e->repeat)
			return;
	} else
		metrics_add(e->metric, 1);
	switch (e->kind) {
	case ENFORCE_EV_ACL:
		audit_acl(who, e);
		break;
	case ENFORCE_EV_LIMIT:
		if (e->quiet && !e->would)
			audit_quiet(who, e, now);
		else
			audit_limit(who, e);
		break;
	case ENFORCE_EV_REFUSE:
		audit_refuse(who, e);
		break;
	case ENFORCE_EV_PROTOCOL:
		break;
	}
}

/* A frame illegal in the session's state: never forwarded. */
static void
audit_protocol(const struct audit_subject *who, const struct enforce_event *e)
{
	struct log_field f[AUDIT_FIELDS + 4];
	const char	*from = e->dir == CODEC_FROM_CLIENT ? "client" :
			    "broker";
	size_t		 n;

	n = audit_fields(who, f);
	f[n++] = (struct log_field)LOG_STR("from", from);
	f[n++] = (struct log_field)LOG_STR("frame", e->text);
	f[n++] = (struct log_field)LOG_STR("reason", codec_err_str(e->err));
	f[n++] = (struct log_field)LOG_UINT_IF("code", e->code, e->code != 0);
	log_event(LOG_LVL_WARN, "frame.refused", f, n, "session %" PRIu64
	    " %s: %s %s refused, identity \"%s\" client_id \"%s\": %s",
	    who->session, who->peer, from, e->text, who->identity,
	    who->client_id, codec_err_str(e->err));
}

size_t
audit_fields(const struct audit_subject *who, struct log_field *f)
{
	f[0] = (struct log_field)LOG_UINT("session", who->session);
	f[1] = (struct log_field)LOG_STR("listener", who->listener);
	f[2] = (struct log_field)LOG_STR("src_ip", who->src_ip);
	f[3] = (struct log_field)LOG_UINT("src_port", who->src_port);
	f[4] = (struct log_field)LOG_STR("identity", who->identity);
	f[5] = (struct log_field)LOG_STR("client_id", who->client_id);
	return AUDIT_FIELDS;
}

static void
audit_acl(const struct audit_subject *who, const struct enforce_event *e)
{
	struct log_field f[AUDIT_FIELDS + 6];
	char		 rule[320];
	size_t		 n;
	int		 tl = (int)(e->topic_len < AUDIT_TOPIC_LOG ?
			    e->topic_len : AUDIT_TOPIC_LOG);

	if (e->rule != NULL)
		snprintf(rule, sizeof(rule), "%s:%d", e->rule->file,
		    e->rule->line);
	n = audit_fields(who, f);
	f[n++] = (struct log_field)LOG_STR("action",
	    acl_action_str(e->action));
	/* One byte past the bound, so that a longer topic is marked cut. */
	f[n++] = (struct log_field)LOG_BYTES("topic", e->topic,
	    e->topic_len <= LOG_VALUE_MAX ? e->topic_len : LOG_VALUE_MAX + 1);
	f[n++] = (struct log_field)LOG_STR("reason", e->rule != NULL ?
	    "denied by rule" : "no rule matches, default deny");
	f[n++] = (struct log_field)LOG_STR("mode", e->would ? "monitor" :
	    NULL);
	f[n++] = (struct log_field)LOG_STR("rule", e->rule != NULL ? rule :
	    NULL);
	f[n++] = (struct log_field)LOG_UINT_IF("code", e->code, e->code != 0);
	log_event(LOG_LVL_WARN, e->would ? "acl.would_deny" : "acl.deny", f,
	    n, "acl: session %" PRIu64 " %s: %s %s to \"%s\" client_id \"%s\" "
	    "topic \"%.*s\"%s, %s %s:%d", who->session, who->peer,
	    acl_action_str(e->action), e->would ?
	    "would be denied (monitor mode)" : "denied",
	    who->identity, who->client_id, tl, (const char *)e->topic,
	    e->topic_len > AUDIT_TOPIC_LOG ? "..." : "", e->rule != NULL ?
	    "rule" : "no rule matches, default deny", e->rule != NULL ?
	    e->rule->file : "policy", e->rule != NULL ? e->rule->line : 0);
}

static void
audit_limit(const struct audit_subject *who, const struct enforce_event *e)
{
	struct log_field f[AUDIT_FIELDS + 2];
	size_t		 n;

	n = audit_fields(who, f);
	f[n++] = (struct log_field)LOG_STR("reason", e->text);
	f[n++] = (struct log_field)LOG_UINT_IF("code", e->code, e->code != 0);
	log_event(LOG_LVL_WARN, e->would ? "limit.would_deny" : "limit.hit",
	    f, n, "limits: session %" PRIu64
	    " %s: identity \"%s\" client_id \"%s\": %s", who->session,
	    who->peer, who->identity, who->client_id, e->text);
}

/* A CONNECT refused once authenticated: a per-user cap, or auth's own. */
static void
audit_refuse(const struct audit_subject *who, const struct enforce_event *e)
{
	struct log_field f[AUDIT_FIELDS + 3];
	bool		 lim = e->metric == M_LIMIT_USER;
	size_t		 n;

	n = audit_fields(who, f);
	f[n++] = (struct log_field)LOG_STR("action", "connect");
	f[n++] = (struct log_field)LOG_STR("reason", e->text);
	f[n++] = (struct log_field)LOG_UINT_IF("code", e->code, e->code != 0);
	log_event(LOG_LVL_WARN, lim ? "limit.hit" : "auth.refuse", f, n,
	    "%s: session %" PRIu64 " %s listener %s: refused identity \"%s\" "
	    "client_id \"%s\": %s", lim ? "limits" : "auth", who->session,
	    who->peer, who->listener, who->identity, who->client_id, e->text);
}

/* The first line at once, then one per AUDIT_QUIET_MS with the count. */
static void
audit_quiet(struct audit_subject *who, const struct enforce_event *e,
    uint64_t now)
{
	struct log_field f[AUDIT_FIELDS + 3];
	size_t		 n;

	who->hits++;
	if (who->logged_ms != 0 && now < who->logged_ms + AUDIT_QUIET_MS)
		return;
	n = audit_fields(who, f);
	f[n++] = (struct log_field)LOG_STR("reason", e->text);
	f[n++] = (struct log_field)LOG_UINT_IF("code", e->code, e->code != 0);
	f[n++] = (struct log_field)LOG_UINT("count", who->hits);
	log_event(LOG_LVL_WARN, "limit.hit", f, n, "limits: session %" PRIu64
	    " %s: identity \"%s\" client_id \"%s\": %s (%" PRIu64 " limit "
	    "hit%s since the last line)", who->session, who->peer,
	    who->identity, who->client_id, e->text, who->hits,
	    who->hits == 1 ? "" : "s");
	who->logged_ms = now;
	who->hits = 0;
}
