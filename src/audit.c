/* SPDX-License-Identifier: ISC */
/*
 * audit — turns enforce.c's events into counters and log lines.
 *
 * The lines keep one shape per kind so operators can match them:
 *   acl: session ID PEER: ACTION denied to "IDENTITY" client_id "CID"
 *       topic "TOPIC", rule FILE:LINE
 *   limits: session ID PEER: identity "IDENTITY" client_id "CID": WHAT
 *   auth|limits: session ID PEER listener L: refused identity ... : WHY
 * A flooding client cannot flood the log: quiet events (a throttled or
 * dropped PUBLISH, a refused filter) share one line per interval.
 */
#include <inttypes.h>
#include <stdio.h>

#include "mqttguard/audit.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"

static void	audit_acl(const struct audit_subject *,
		    const struct enforce_event *);
static void	audit_quiet(struct audit_subject *, const char *, uint64_t);

void
audit_event(struct audit_subject *who, const struct enforce_event *e,
    uint64_t now)
{
	metrics_add(e->metric, 1);
	switch (e->kind) {
	case ENFORCE_EV_ACL:
		audit_acl(who, e);
		break;
	case ENFORCE_EV_LIMIT:
		if (e->quiet)
			audit_quiet(who, e->text, now);
		else
			log_warnx("limits: session %" PRIu64 " %s: identity "
			    "\"%s\" client_id \"%s\": %s", who->session,
			    who->peer, who->identity, who->client_id,
			    e->text);
		break;
	case ENFORCE_EV_REFUSE:
		log_warnx("%s: session %" PRIu64 " %s listener %s: refused "
		    "identity \"%s\" client_id \"%s\": %s",
		    e->metric == M_LIMIT_USER ? "limits" : "auth",
		    who->session, who->peer, who->listener, who->identity,
		    who->client_id, e->text);
		break;
	}
}

static void
audit_acl(const struct audit_subject *who, const struct enforce_event *e)
{
	int	tl = (int)(e->topic_len < AUDIT_TOPIC_LOG ? e->topic_len :
		    AUDIT_TOPIC_LOG);

	log_warnx("acl: session %" PRIu64 " %s: %s denied to \"%s\" client_id "
	    "\"%s\" topic \"%.*s\"%s, %s %s:%d", who->session, who->peer,
	    acl_action_str(e->action), who->identity, who->client_id, tl,
	    (const char *)e->topic, e->topic_len > AUDIT_TOPIC_LOG ? "..." :
	    "", e->rule != NULL ? "rule" : "no rule matches, default deny",
	    e->rule != NULL ? e->rule->file : "policy",
	    e->rule != NULL ? e->rule->line : 0);
}

/* The first line at once, then one per AUDIT_QUIET_MS with the count. */
static void
audit_quiet(struct audit_subject *who, const char *what, uint64_t now)
{
	who->hits++;
	if (who->logged_ms != 0 && now < who->logged_ms + AUDIT_QUIET_MS)
		return;
	log_warnx("limits: session %" PRIu64 " %s: identity \"%s\" client_id "
	    "\"%s\": %s (%" PRIu64 " limit hit%s since the last line)",
	    who->session, who->peer, who->identity, who->client_id, what,
	    who->hits, who->hits == 1 ? "" : "s");
	who->logged_ms = now;
	who->hits = 0;
}
