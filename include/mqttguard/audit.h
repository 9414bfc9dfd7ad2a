/* SPDX-License-Identifier: ISC */
/*
 * audit — the log lines of policy decisions: who, what and why.
 *
 * Every denial and limit hit that enforce.c reports for a session becomes
 * one counted event and, at a bounded rate for the repeatable ones, one
 * log line naming the session, its peer, identity and client id.
 */
#ifndef MQTTGUARD_AUDIT_H
#define MQTTGUARD_AUDIT_H

#include <stdint.h>

#include "mqttguard/enforce.h"

#define AUDIT_QUIET_MS		10000	/* a quiet event's lines, at most */
#define AUDIT_TOPIC_LOG		256	/* topic bytes in a line */

/*
 * Who the events are about: views owned by the session, valid as long as
 * the struct is used; and the state that bounds the quiet events' lines.
 */
struct audit_subject {
	uint64_t	 session;
	const char	*peer;		/* "1.2.3.4:5" */
	const char	*listener;
	const char	*identity;	/* "" before authentication */
	const char	*client_id;	/* as sent, for the log */
	uint64_t	 hits;		/* quiet events not yet logged */
	uint64_t	 logged_ms;	/* when the last quiet line was */
};

/*
 * Counts <e> and logs it: an ACL denial with its deciding rule, a limit
 * hit, a refused CONNECT.  A quiet event is logged at once the first
 * time, then at most once every AUDIT_QUIET_MS (at <now_ms>), saying how
 * many events the line stands for.
 */
void	audit_event(struct audit_subject *who, const struct enforce_event *e,
	    uint64_t now_ms);

#endif
