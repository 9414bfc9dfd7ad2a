/* SPDX-License-Identifier: ISC */
/*
 * observe — what the clients do, for writing a policy from it
 * (audit.observe, mqttguard learn).
 *
 * Each distinct (identity, client id, action, topic or filter) seen is
 * counted, with the first and last time and the ACL's verdicts, in a
 * table of the calling thread's own: a worker's note is one hash-table
 * upsert under that table's mutex, which nobody else takes but the
 * flush, and that only to swap the table for an empty one.  The flush
 * (main's thread: on an interval, on reload, at stop) merges the tables
 * it took into one, written whole as JSON lines to a temporary file and
 * renamed over the observation file (mode 0640).
 *
 * Memory is bounded by max_entries, per thread and for the merged table:
 * a new key past it is not recorded, only counted as dropped.
 */
#ifndef MQTTGUARD_OBSERVE_H
#define MQTTGUARD_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

/* In the order of enum enforce_obs_action and enforce_obs_verdict. */
enum observe_action {
	OBSERVE_PUBLISH = 0,
	OBSERVE_SUBSCRIBE,
	OBSERVE_WILL,
	OBSERVE_ACTIONS
};

enum observe_verdict {
	OBSERVE_ALLOWED = 0,
	OBSERVE_DENIED,
	OBSERVE_WOULD_DENY,
	OBSERVE_VERDICTS
};

#define OBSERVE_KEY_MAX		(3 * 65535 + 8)	/* identity, id, topic */

/*
 * Notes one action in the calling thread's table, at <now> (seconds since
 * the epoch), holding at most <max_entries> keys.  <identity> is a C
 * string; <cid> and <topic> are byte strings (any bytes).  Never fails:
 * what cannot be recorded is counted as dropped.
 */
void	observe_note(const char *identity, const uint8_t *cid,
	    size_t cid_len, enum observe_action action,
	    const uint8_t *topic, size_t topic_len,
	    enum observe_verdict verdict, uint64_t now,
	    unsigned max_entries);

/*
 * Takes every thread's table, merges it into the process's (at most
 * <max_entries> keys) and writes that to <file> as JSON lines, replacing
 * it atomically (a temporary file beside it, renamed).  Returns 0, or -1
 * with the reason in <err>; what was merged is kept for the next try.
 */
int	observe_flush(const char *file, unsigned max_entries, char *err,
	    size_t errlen);

/* Frees every table: at exit, when no thread notes any more. */
void	observe_free(void);

#endif
