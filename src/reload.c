/* SPDX-License-Identifier: ISC */
/*
 * reload — builds a policy aside and swaps it in, or changes nothing.
 *
 * The order is what makes a failed reload harmless: load and check the
 * file (config_load), run the policy's tests, build its TLS contexts,
 * bind the listeners it adds; only then is anything handed to a worker.
 * Each step that fails logs why and lets go of what the earlier ones
 * made.  What a reload cannot change in a running process (the number of
 * workers and password-checking threads, the user and group it runs as)
 * is said, and keeps its value.  A reload reads every file again as the
 * user the daemon runs as: a file it may not read refuses the reload,
 * and the reason names the file and that user.
 *
 * The log's file, level and format change just before the workers get
 * the policy, so their lines about it follow it (a log.file that cannot
 * be opened refuses the reload), and change back if they refuse it.
 * Every reload ends in one policy.reload event: the "policy reloaded
 * from" or "policy reload failed" line in text mode.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/acl.h"
#include "mqttguard/config.h"
#include "mqttguard/log.h"
#include "mqttguard/reload.h"
#include "mqttguard/tls.h"

static struct policy	*load(const char *, const char *);
static size_t		 failing_tests(const struct policy *);
static int		 contexts(const struct policy *, SSL_CTX **,
			    SSL_CTX **, char *, size_t);
static void		 fixed_at_start(const struct reload_target *,
			    const struct policy *, const char *);
static int		 log_apply(const struct reload_target *,
			    const struct policy *, const char *, char *,
			    size_t);
static void		 log_revert(const struct reload_target *,
			    const char *, int);
static void		 failed(const char *, const char *, const char *,
			    const char *, ...)
			    __attribute__((format(printf, 4, 5)));
static void		 reloaded(const char *, const char *,
			    const struct policy *);

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

int
reload_policy(struct reload_target *rt, const char *why)
{
	struct policy	*pol;
	SSL_CTX		*ctx = NULL, *upctx = NULL;
	char		 err[512], reason[128];
	size_t		 nf;
	int		 lf;

	if ((pol = load(rt->file, why)) == NULL)
		return -1;
	if ((nf = failing_tests(pol)) > 0) {
		snprintf(reason, sizeof(reason), "%zu of the policy's tests "
		    "fail (see mqttguard -t)", nf);
		failed(why, rt->file, reason, "%s: policy reload failed: %s: "
		    "%s; the running policy stays", why, rt->file, reason);
		goto fail;
	}
	if (contexts(pol, &ctx, &upctx, err, sizeof(err)) == -1 ||
	    (lf = log_apply(rt, pol, why, err, sizeof(err))) == -1) {
		failed(why, rt->file, err, "%s: policy reload failed: %s: %s; "
		    "the running policy stays", why, rt->file, err);
		goto fail;
	}
	if (worker_set_policy(rt->workers, rt->n_workers, pol, *rt->pol, ctx,
	    upctx, err, sizeof(err)) == -1) {
		log_revert(rt, why, lf);
		failed(why, rt->file, err, "%s: policy reload failed: %s: %s; "
		    "the running policy stays", why, rt->file, err);
		goto fail;
	}
	fixed_at_start(rt, pol, why);
	SSL_CTX_free(*rt->ctx);
	SSL_CTX_free(*rt->upctx);
	policy_unref(*rt->pol);
	*rt->pol = pol;
	*rt->ctx = ctx;
	*rt->upctx = upctx;
	reloaded(why, rt->file, pol);
	return 0;
fail:
	SSL_CTX_free(ctx);
	SSL_CTX_free(upctx);
	policy_unref(pol);
	return -1;
}

/* The policy file with every check; NULL after logging each error. */
static struct policy *
load(const char *file, const char *why)
{
	struct config_errors	*errs;
	struct policy		*pol;
	size_t			 i;

	char			 reason[64];

	if ((errs = calloc(1, sizeof(*errs))) == NULL) {
		failed(why, file, "out of memory", "%s: policy reload failed: "
		    "out of memory; the running policy stays", why);
		return NULL;
	}
	if ((pol = config_load(file, errs)) == NULL) {
		for (i = 0; i < errs->n && i < CONFIG_ERRORS_MAX; i++)
			log_error("%s: %s", why, errs->msg[i]);
		snprintf(reason, sizeof(reason), "policy refused (%zu "
		    "error%s)", errs->n, errs->n == 1 ? "" : "s");
		failed(why, file, reason, "%s: policy reload failed: %s: %s; "
		    "the running policy stays", why, file, reason);
	}
	free(errs);
	return pol;
}

/* How many of the policy's own tests (the tests: section) fail. */
static size_t
failing_tests(const struct policy *pol)
{
	struct acl_verdict	v;
	size_t			i, n = 0;

	for (i = 0; pol->acl != NULL && i < acl_test_count(pol->acl); i++)
		if (!acl_test_run(pol->acl, acl_test_at(pol->acl, i),
		    pol->auth.anonymous_identity, &v))
			n++;
	return n;
}

/* The TLS contexts <pol> needs, with every start-up check. */
static int
contexts(const struct policy *pol, SSL_CTX **ctx, SSL_CTX **upctx,
    char *err, size_t errlen)
{
	size_t	j;
	bool	any_tls = false;

	for (j = 0; j < pol->n_listeners; j++)
		any_tls |= pol->listeners[j].tls;
	if (any_tls && (*ctx = tls_server_ctx_new(&pol->tls, err,
	    errlen)) == NULL)
		return -1;
	if (pol->upstream.tls && (*upctx = tls_client_ctx_new(&pol->upstream,
	    err, errlen)) == NULL)
		return -1;
	return 0;
}

/* Settings a running process keeps from its start. */
static void
fixed_at_start(const struct reload_target *rt, const struct policy *pol,
    const char *why)
{
	if (pol->workers != rt->n_workers)
		log_warnx("%s: workers: %u: applies at the next start (%u "
		    "running)", why, pol->workers, rt->n_workers);
	if (pol->auth.hash_threads != rt->hash_threads)
		log_warnx("%s: auth.hash_threads: %u: applies at the next "
		    "start (%u running)", why, pol->auth.hash_threads,
		    rt->hash_threads);
	if (pol->user != NULL && (pol->uid != rt->uid ||
	    pol->gid != rt->gid))
		log_warnx("%s: user/group: %s:%s (%u:%u): applies at the next "
		    "start (running as %u:%u)", why, pol->user, pol->group !=
		    NULL ? pol->group : "", (unsigned)pol->uid,
		    (unsigned)pol->gid, (unsigned)rt->uid, (unsigned)rt->gid);
	else if (pol->user == NULL && rt->dropped)
		log_warnx("%s: user: removed: applies at the next start "
		    "(running as %u:%u)", why, (unsigned)rt->uid,
		    (unsigned)rt->gid);
}

/*
 * The log as <pol> says, before the workers get it, so that each of
 * their lines about it is in its format and file: when log.file changed,
 * lines go to the new one (or back to stderr), said first in the old.
 * Returns 1 when the output changed, 0 when it did not have to, -1 with
 * the reason in <err> and the log unchanged.
 */
static int
log_apply(const struct reload_target *rt, const struct policy *pol,
    const char *why, char *err, size_t errlen)
{
	const struct policy	*old = *rt->pol;
	int			 rc = 0;

	if (strcmp(old->log.file, pol->log.file) != 0) {
		log_info("%s: log.file: logging to %s from now on", why,
		    pol->log.file[0] != '\0' ? pol->log.file :
		    "standard error");
		if ((rc = log_switch(pol->log.file, err, errlen)) == -1)
			return -1;
	}
	log_init(rt->debug ? LOG_LVL_DEBUG : (enum log_level)pol->log.level,
	    pol->log.json);
	if (rc == 1)
		log_info("%s: log.file: logging here from now on (was %s)",
		    why, old->log.file[0] != '\0' ? old->log.file :
		    "standard error");
	return rc;
}

/* The workers refused <pol>: the log of <old> again. */
static void
log_revert(const struct reload_target *rt, const char *why, int switched)
{
	const struct policy	*old = *rt->pol;
	char			 err[512];

	if (switched == 1) {
		log_info("%s: log.file: the reload failed, logging to %s "
		    "again", why, old->log.file[0] != '\0' ? old->log.file :
		    "standard error");
		if (log_switch(old->log.file, err, sizeof(err)) == -1)
			log_error("%s: %s", why, err);
	}
	log_init(rt->debug ? LOG_LVL_DEBUG : (enum log_level)old->log.level,
	    old->log.json);
}

/*
 * A refused reload: the policy.reload event, and in text mode the line
 * <fmt> makes.  <file>: the policy file.
 */
static void
failed(const char *why, const char *file, const char *reason,
    const char *fmt, ...)
{
	char			 line[LOG_LINE_MAX];
	va_list			 ap;
	const struct log_field	 f[] = {
		LOG_STR("trigger", why), LOG_STR("scope", "policy"),
		LOG_STR("result", "failure"), LOG_STR("file", file),
		LOG_STR("reason", reason)
	};

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_event(LOG_LVL_ERROR, "policy.reload", f, NELEM(f), "%s", line);
}

/* The policy.reload event of <pol>, now in force. */
static void
reloaded(const char *why, const char *file, const struct policy *pol)
{
	const struct log_field	f[] = {
		LOG_STR("trigger", why), LOG_STR("scope", "policy"),
		LOG_STR("result", "ok"), LOG_STR("file", file),
		LOG_STR("sha256", pol->sha256),
		LOG_UINT("listeners", pol->n_listeners),
		LOG_UINT("acl_rules", acl_count(pol->acl))
	};

	log_event(LOG_LVL_INFO, "policy.reload", f, NELEM(f), "%s: policy "
	    "reloaded from %s: %zu listener%s, acl %zu rule%s; established "
	    "sessions are held to it from their next frame", why, file,
	    pol->n_listeners, pol->n_listeners == 1 ? "" : "s",
	    acl_count(pol->acl), acl_count(pol->acl) == 1 ? "" : "s");
}
