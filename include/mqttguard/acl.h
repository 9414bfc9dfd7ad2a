/* SPDX-License-Identifier: ISC */
/*
 * acl — topic access control: rules, their compiled index, and checks.
 *
 * A rule allows or denies actions (publish, subscribe, read = delivery to
 * the client) on a topic filter, for some identities: listed users, members
 * of listed groups, or everyone.  Filters use MQTT's '+' and '#', and a
 * whole level may be "%u" (the identity) or "%c" (the client id), compared
 * literally: an identity or client id holding '+', '#' or '/' can never
 * widen what a rule matches (the class of Mosquitto CVE-2017-7650).
 *
 * Precedence, one rule, order-independent: the most specific matching rule
 * decides; specificity is the number of literal levels (a "%u"/"%c" level
 * counts as literal), then the number of '+' levels ('#' counts nothing);
 * at equal specificity deny beats allow; when nothing matches, deny.
 * Topics starting with '$' are not matched by a leading '+' or '#'
 * [MQTT-4.7.2-1]: a rule must name "$SYS/..." to reach them.
 *
 * For subscribe, a rule matches a subscription filter when the rule's
 * filter covers every topic the subscription could match ("a/#" covers
 * "a/+/b"); a shared subscription "$share/group/f" is checked on f.
 *
 * The index is a trie over topic levels per subject (everyone, each user,
 * each group), so a check costs in proportion to the topic's depth, not to
 * the number of rules.  An index is immutable once built and may be read
 * by every worker at once.  No I/O, no logging.
 *
 * An empty identity or client id matches no "%u"/"%c" level (many clients
 * could share it), and a "%u"/"%c" first level does not match a topic
 * starting with '$', as Mosquitto's pattern matching does not.
 *
 * Besides the rules, the index keeps the policy's own tests (the `tests:`
 * section) and answers the lint's questions about its rules.
 */
#ifndef MQTTGUARD_ACL_H
#define MQTTGUARD_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum acl_action {
	ACL_PUBLISH = 0x1,
	ACL_SUBSCRIBE = 0x2,
	ACL_READ = 0x4
};
#define ACL_ALL		(ACL_PUBLISH | ACL_SUBSCRIBE | ACL_READ)

/*
 * A rule's filter has at most this many levels: deeper topics are reached
 * with '#'.  It bounds a check's recursion and the stack it needs.
 */
#define ACL_LEVELS_MAX	64
/* Topics and filters are MQTT strings. */
#define ACL_TOPIC_MAX	65535

/* One rule as written, kept for reporting which rule decided. */
struct acl_rule {
	bool		 allow;
	unsigned	 actions;	/* ACL_* bits */
	char		*filter;	/* owned */
	char		*file;		/* owned; where it was written */
	int		 line;
	bool		 everyone;	/* no users or groups given */
	char		**users;	/* owned; n_users */
	size_t		 n_users;
	char		**groups;	/* owned; n_groups */
	size_t		 n_groups;
	bool		 admin;		/* a broad rule meant (lint) */
	bool		 monitor;	/* a deny that only warns */
};

/* A group as declared, for tools. */
struct acl_group {
	char		*name;		/* owned */
	char		**members;	/* owned; n_members */
	size_t		 n_members;
	char		*file;		/* owned; NULL if not given */
	int		 line;
};

/* One test of the policy itself (the `tests:` section). */
struct acl_test {
	char		*identity;	/* owned; NULL: anonymous identity */
	char		*client_id;	/* owned; "" when not given */
	enum acl_action	 action;
	char		*topic;		/* owned; a filter for subscribe */
	bool		 expect_allow;
	char		*file;		/* owned */
	int		 line;
};

/* Who asks: the identity decided at CONNECT and the client id. */
struct acl_subject {
	const char	*identity;	/* never NULL */
	const char	*client_id;	/* may be "" */
	size_t		 client_id_len;
};

struct acl_verdict {
	bool			 allow;
	const struct acl_rule	*rule;	/* deciding rule; NULL: no match */
};

struct acl;

/* An empty index (everything denied).  NULL on ENOMEM. */
struct acl	*acl_new(void);
void		 acl_free(struct acl *);

/*
 * Declares group <name> with <n> members.  Returns 0, or -1 with a message
 * in <err> (duplicate group, bad name).
 */
int		 acl_add_group(struct acl *, const char *name,
		    const char *const *members, size_t n, char *err,
		    size_t errlen);
/* The same, remembering where the group was declared (<file> may be NULL). */
int		 acl_add_group_at(struct acl *, const char *name,
		    const char *const *members, size_t n, const char *file,
		    int line, char *err, size_t errlen);

/*
 * Adds a rule; <rule> is copied (deeply).  Returns 0, or -1 with a message
 * in <err>: an invalid filter, an unknown group, "%u"/"%c" not a whole
 * level, no actions, an empty user name, everyone set together with users
 * or groups (or neither).  Those are found before anything changes; after
 * -1 for want of memory the index must be freed, not used.
 */
int		 acl_add_rule(struct acl *, const struct acl_rule *rule,
		    char *err, size_t errlen);

/*
 * Whether <filter> (a C string) may be a rule's filter: a valid MQTT topic
 * filter of at most ACL_LEVELS_MAX levels, "%u"/"%c" only as whole levels,
 * not a "$share/" filter.  Returns 0, or -1 with a message in <err>.
 */
int		 acl_filter_check(const char *filter, char *err,
		    size_t errlen);

/*
 * Decides whether <who> may do <action> on <topic> (<len> bytes; a topic
 * name for publish and read, a topic filter for subscribe).  Fills <v>
 * when non-NULL.  Returns v->allow.
 */
bool		 acl_check(const struct acl *, const struct acl_subject *who,
		    enum acl_action action, const uint8_t *topic, size_t len,
		    struct acl_verdict *v);

/*
 * A session's cache of its recent decisions: the last ACL_CACHE_SLOTS
 * (action, topic) pairs it asked about, topics up to ACL_CACHE_TOPIC
 * bytes, with the verdict each had (the deciding rule too), and the hash
 * of its identity.  A 5.0 topic alias is resolved before the check, so
 * a client publishing through one alias hits the same slot as one naming
 * the topic.  The entries belong to one index and one subject: a check
 * with another index (each acl_new() has a serial of its own, so a
 * reloaded policy never meets the old entries), or another identity or
 * client id (pointer and length), empties the cache first.  A caller that
 * changes a subject's strings in place calls acl_cache_clear().  Owned by
 * its session, never shared: no locks.  A zeroed cache is empty.
 */
#define ACL_CACHE_SLOTS	8
#define ACL_CACHE_TOPIC	64

struct acl_cache_slot {
	uint32_t	 rule;		/* deciding rule's index + 1; 0: none */
	uint16_t	 len;		/* of the topic; 0: slot unused */
	uint8_t		 act;		/* enum acl_action */
	bool		 allow;
	char		 topic[ACL_CACHE_TOPIC];
};

struct acl_cache {
	uint64_t		 serial;	/* the index's; 0: empty */
	uint64_t		 idhash;	/* the identity's, in it */
	const char		*identity;	/* borrowed: compared only */
	size_t			 idlen;
	const char		*client_id;	/* borrowed: compared only */
	size_t			 client_id_len;
	unsigned		 next;		/* the slot to replace */
	uint64_t		 hits, misses;
	struct acl_cache_slot	 slot[ACL_CACHE_SLOTS];
};

void		 acl_cache_clear(struct acl_cache *);

/*
 * acl_check() through <cache> (NULL: none): the same verdict, the same
 * deciding rule, for every index, subject and topic.  A hit costs a few
 * comparisons; a miss costs a check without its identity's hash, and
 * takes the oldest slot when the topic fits.
 */
bool		 acl_check_cached(const struct acl *, struct acl_cache *cache,
		    const struct acl_subject *who, enum acl_action action,
		    const uint8_t *topic, size_t len, struct acl_verdict *v);

/*
 * The number of rules, and rule <i> (in the order added), for tools.  A
 * rule pointer (this one, or a verdict's) stays valid until the next
 * acl_add_rule() and then as long as the index: build first, then read.
 */
size_t			 acl_count(const struct acl *);
const struct acl_rule	*acl_rule_at(const struct acl *, size_t i);

/* The groups (in the order declared), and one by name (NULL: none). */
size_t			 acl_group_count(const struct acl *);
const struct acl_group	*acl_group_at(const struct acl *, size_t i);
const struct acl_group	*acl_group_find(const struct acl *,
			    const char *name);

/*
 * "publish", "subscribe", "read"; and back (-1 if unknown).  "all" is
 * parsed to ACL_ALL.
 */
const char	*acl_action_str(enum acl_action);
int		 acl_action_parse(const char *);

/*
 * Writes a one-line description of <rule> into <buf> (<len> bytes, always
 * terminated): 'allow publish, read "sensors/%u/#" to everyone'.
 */
void		 acl_rule_str(const struct acl_rule *rule, char *buf,
		    size_t len);

/*
 * Tests of the policy.  acl_add_test() copies <t>; -1 with a message in
 * <err> for an invalid topic (a topic name with a wildcard, an invalid
 * filter).  acl_test_run() checks test <t> against the index, the
 * anonymous identity standing for a test without a user; it returns
 * whether the answer was the one expected and fills <v>.
 */
int		 acl_add_test(struct acl *, const struct acl_test *t,
		    char *err, size_t errlen);
size_t		 acl_test_count(const struct acl *);
const struct acl_test *acl_test_at(const struct acl *, size_t i);
bool		 acl_test_run(const struct acl *, const struct acl_test *t,
		    const char *anonymous_identity, struct acl_verdict *v);

/*
 * The lint's questions about the rules themselves.  What the index cannot
 * know comes in <ctx>; every finding goes to <warn> with the file and line
 * it is about (0 when it has none).  Returns the number of findings.
 */
struct acl_lint_user {
	const char	*name;		/* a user of the password file */
	const char	*file;
	int		 line;
};

struct acl_lint_ctx {
	const char	*anonymous_identity;	/* never NULL */
	bool		 anonymous;	/* auth.anonymous */
	const struct acl_lint_user *users;	/* the password file's */
	size_t		 n_users;
	bool		 users_known;	/* users[] lists every password user */
	bool		 cert_identities;	/* identities may come from
						   certificates as well */
};

size_t		 acl_lint(const struct acl *, const struct acl_lint_ctx *ctx,
		    void (*warn)(void *arg, const char *file, int line,
		    const char *msg), void *arg);

#endif
