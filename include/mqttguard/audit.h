/* SPDX-License-Identifier: ISC */
/*
 * audit — the log lines of policy decisions: who, what and why.
 *
 * Every denial and limit hit that enforce.c reports for a session becomes
 * one counted event and, at a bounded rate for the repeatable ones, one
 * log line naming the session, its peer, identity and client id: a
 * sentence in text mode, an acl.deny, limit.hit or auth.refuse event with
 * fields in JSON mode.
 */
#ifndef MQTTGUARD_AUDIT_H
#define MQTTGUARD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "mqttguard/enforce.h"
#include "mqttguard/log.h"

#define AUDIT_QUIET_MS		10000	/* a quiet event's lines, at most */
#define AUDIT_TOPIC_LOG		256	/* topic bytes in a line */
#define AUDIT_FIELDS		6	/* audit_fields() fills as many */

/*
 * Who the events are about: views owned by the session, valid as long as
 * the struct is used; and the state that bounds the quiet events' lines.
 */
struct audit_subject {
	uint64_t	 session;
	const char	*peer;		/* "1.2.3.4:5" */
	const char	*src_ip;	/* "1.2.3.4": peer without the port */
	unsigned	 src_port;
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

/*
 * The fields every event about <who> starts with, for log_event(), into
 * <f> (AUDIT_FIELDS of them): session, listener, src_ip, src_port,
 * identity, client_id.  Views of <who>'s strings.  Returns AUDIT_FIELDS.
 */
size_t	audit_fields(const struct audit_subject *who, struct log_field *f);

#endif
