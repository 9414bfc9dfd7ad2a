/* SPDX-License-Identifier: ISC */
/*
 * learn — the pure half of `mqttguard learn`: reading observation lines,
 * turning observed topics into rule filters, and quoting for YAML.
 *
 * Nothing here prints, reads a file or looks at the clock; learn_cmd.c
 * does that.  Every input is untrusted: an observation file may hold any
 * identity, client id or topic (a name with '+', '#', '/', '$', quotes,
 * newlines), and all of it is bounded (LEARN_LINE_MAX) and quoted on the
 * way out.  test/check_learn.c drives these functions.
 */
#ifndef MQTTGUARD_LEARN_H
#define MQTTGUARD_LEARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEARN_LINE_MAX		(1024 * 1024)	/* an input line */
#define LEARN_THRESHOLD_DEFAULT	5	/* siblings before a '+' */
#define LEARN_RECORDS_DEFAULT	1000000	/* records read, at most */
#define LEARN_STRING_MAX	65535	/* an identity, client id, topic */
#define LEARN_BYTES_MAX		(512UL * 1024 * 1024)	/* of strings kept */

/* An observed action: what observe.c writes; "read" is not proposed. */
enum learn_action {
	LEARN_PUBLISH = 0,
	LEARN_SUBSCRIBE,
	LEARN_WILL,
	LEARN_ACTIONS
};

/*
 * One observation: an audit.observe line, or a JSON audit log line
 * (acl.deny, acl.would_deny) counting once.  Strings owned, NUL-free.
 */
struct learn_obs {
	char			*identity;
	char			*client_id;	/* "" when not given */
	char			*topic;
	enum learn_action	 action;
	uint64_t		 count;
};

/*
 * Parses one JSON object line (<len> bytes at <s>) into <o>.  Returns 0,
 * or -1 (nothing to free) when it is not a flat JSON object, lacks an
 * identity, action or topic, names an action other than publish,
 * subscribe or will, holds a NUL or invalid UTF-8, or a string longer
 * than LEARN_STRING_MAX.  Unknown keys are skipped.
 */
int	learn_obs_parse(const char *s, size_t len, struct learn_obs *o);
void	learn_obs_fini(struct learn_obs *o);

/*
 * <topic> with each whole level equal to <identity> as "%u", else equal
 * to <client_id> as "%c" (empty names match nothing; a wildcard level is
 * never replaced).  NULL on ENOMEM, or when the topic cannot be a rule's
 * filter as written: a literal "%u" or "%c" level, which the ACL would
 * read as a substitution.  The caller frees the result.
 */
char	*learn_subst(const char *topic, const char *identity,
	    const char *client_id);

/* A filter proposed for one identity, with its evidence. */
struct learn_pat {
	char		*filter;	/* owned */
	uint64_t	 count;		/* observations it stands for */
	uint64_t	 topics;	/* distinct topics it stands for */
	char		*sample;	/* owned; one observed topic */
};

struct learn_gen {
	unsigned	 threshold;	/* distinct siblings for a '+' */
	bool		 multilevel;	/* '#' allowed */
	/* Whether a level is a known identity: never merged into '+'. */
	bool		(*is_identity)(void *ctx, const char *level,
			    size_t len);
	void		*ctx;
};

/*
 * Generalises the <n> patterns of <v> in place: at each level, patterns
 * equal but for that level, with at least g->threshold distinct literal
 * values there (not wildcards, not %u/%c, not identities), become one
 * with '+' (values that change together at two levels stay apart); with
 * g->multilevel, patterns of at least two depths under common first two
 * levels, standing for threshold topics, become "a/b/#".  Repeats
 * merge, adding counts.  Returns the new count; -1 on ENOMEM (<v> then
 * still holds <n> valid patterns, some perhaps changed).
 */
long	learn_generalise(struct learn_pat *v, size_t n,
	    const struct learn_gen *g);

/*
 * Whether <filter> may be proposed: a valid rule filter (acl.c's check),
 * not starting with '$', without '#' unless <multilevel>.
 */
bool	learn_filter_ok(const char *filter, bool multilevel);

/*
 * <s> as a YAML double-quoted scalar, quotes included: '"' and '\'
 * escaped, control characters, DEL and the line and paragraph separators
 * as escapes.  The caller frees it; NULL on ENOMEM.
 */
char	*learn_yaml_quote(const char *s);

/*
 * A group name for <n> identities: their longest common prefix, cut to
 * letters, digits, '-', '_' and '.', without trailing separators and
 * digits; "" when nothing is left.  Into <buf> of <cap> bytes.
 */
void	learn_group_name(const char *const *names, size_t n, char *buf,
	    size_t cap);

#endif
