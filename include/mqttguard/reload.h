/* SPDX-License-Identifier: ISC */
/*
 * reload — a new policy, built aside and handed to the running workers.
 *
 * On SIGHUP, or when `watch: true` sees one of the policy's files change,
 * main calls reload_policy(): the policy file is loaded again with every
 * check made at start (its includes, the password file, TLS material, the
 * policy's own tests); any error leaves the running policy in force and
 * is logged with its file:line:col.  A valid policy replaces the old one
 * on every worker between two frames (worker_set_policy()).
 */
#ifndef MQTTGUARD_RELOAD_H
#define MQTTGUARD_RELOAD_H

#include <sys/types.h>

#include <openssl/ssl.h>

#include "mqttguard/policy.h"
#include "mqttguard/worker.h"

/* What a reload replaces: main's, on main's thread only. */
struct reload_target {
	const char	*file;		/* the policy file, as given */
	struct policy	**pol;		/* ref: the running policy */
	SSL_CTX		**ctx;		/* ref; NULL without TLS listeners */
	SSL_CTX		**upctx;	/* ref; NULL: plain upstream */
	struct worker	*workers;
	unsigned	 n_workers;	/* as started; a reload keeps it */
	unsigned	 hash_threads;	/* as started; likewise */
	bool		 debug;		/* -d: debug whatever log.level says */
	bool		 dropped;	/* as started: user: was applied */
	uid_t		 uid;		/* as started, after user: */
	gid_t		 gid;		/* likewise, after group: */
};

/*
 * Loads rt->file again and, if it is valid, makes it the running policy.
 * <why> names the trigger in the log.  Returns 0 when the new policy is
 * in force (the references in <rt> are replaced), -1 when the old one
 * stays.
 */
int	reload_policy(struct reload_target *rt, const char *why);

#endif
