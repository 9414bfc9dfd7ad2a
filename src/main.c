/* SPDX-License-Identifier: ISC */
/*
 * main — command line, signals, start-up.
 *
 *   mqttguard [-d] [-c FILE]      run with the policy FILE
 *   mqttguard -t [-c FILE]        check the policy FILE (and its TLS
 *                                 material), run its tests, and exit:
 *                                 0 valid, 2 invalid or a test failed
 *   mqttguard acl check | lint | import-acl | passwd ...
 *                                 the tools (the *_cmd.c files)
 *
 * Exit codes: 0 after a clean stop, 1 on a start-up failure (e.g. an address
 * in use), 2 on a bad policy or command line.  No protocol logic here.
 *
 * A subcommand is found by its name in main_cmds[], which also gives the
 * usage text its lines, and gets the command line from its name on.
 *
 * SIGUSR1 reopens log.file (after logrotate has moved it).
 *
 * SIGHUP (and `watch: true`, a timer comparing the stamps of every file
 * the policy was read from) reloads the whole policy (reload.c): built
 * aside with every start-up check, then handed to the workers, which hold
 * every session to it from its next frame; on any error the running
 * policy stays and the reason is logged.
 *
 * Under systemd (Type=notify), notify.c tells the service manager
 * READY=1 once every listener is bound and the workers run,
 * RELOADING=1 and READY=1 around each reload, STOPPING=1 at the stop
 * or drain, with a STATUS= line each time.
 *
 * With an admin section, the admin listener (admin.c: metrics, health,
 * readiness) serves HTTP on main's own loop, started once the workers
 * run and freed first at stop, before the workers it sends heartbeats.
 *
 * Least privilege: before anything else the process gives up core dumps
 * (a core would hold keys and passwords) and gains no privilege through
 * exec (PR_SET_NO_NEW_PRIVS).  With user: (and group:), once every
 * listener and the admin listener are bound and every start-up file is
 * read, the daemon drops to them for good and checks that root cannot
 * come back; from then on a reload reads its files as that user.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "mqttguard/acl.h"
#include "mqttguard/admin.h"
#include "mqttguard/auth.h"
#include "mqttguard/cmd.h"
#include "mqttguard/config.h"
#include "mqttguard/limits.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/notify.h"
#include "mqttguard/observe.h"
#include "mqttguard/policy.h"
#include "mqttguard/reload.h"
#include "mqttguard/tls.h"
#include "mqttguard/worker.h"

#ifndef MQTTGUARD_VERSION
#define MQTTGUARD_VERSION "0.0.0"
#endif
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define MAIN_NSIGS	4	/* SIGINT, SIGTERM, SIGHUP, SIGUSR1 */
#define MAIN_DRAIN_TICK_MS 100	/* how often a drain's end is looked for */

/* A subcommand of the table below. */
struct main_cmd {
	const char	*name;			/* argv[1], whole */
	int		(*entry)(int, char **);	/* cmd.h; gets argv + 1 */
	const char	*usage;			/* after "mqttguard " */
};

/* The command line of the daemon itself. */
struct main_opts {
	const char	*file;		/* argv or CMD_POLICY_DEFAULT */
	bool		 check;		/* -t */
	bool		 debug;		/* -d */
};

/*
 * The daemon as main.c holds it: what the signal and watch callbacks need
 * and what stop() frees.  Main's thread only.
 */
struct main_state {
	struct event_base	*base;		/* owned */
	struct policy		*pol;		/* ref, owned */
	struct worker		*workers;	/* owned; n_workers long */
	unsigned		 n_workers;	/* as started */
	unsigned		 hash_threads;	/* as started */
	const char		*file;		/* the policy file */
	bool			 debug;		/* -d: whatever log.level says */
	SSL_CTX			*ctx;		/* ref; NULL without TLS */
	SSL_CTX			*upctx;		/* ref; NULL: plain upstream */
	bool			 any_tls;	/* a listener uses TLS */
	uint64_t		 stamp;		/* files as last loaded */
	uint64_t		 seen;		/* files at the last tick */
	struct auth_guard	*guard;		/* owned */
	struct auth_pool	*pool;		/* owned */
	struct limits		*limits;	/* owned */
	struct event		*sigs[MAIN_NSIGS];	/* owned */
	struct event		*watch;		/* owned; NULL: no watch */
	struct event		*drained;	/* owned; NULL: not draining */
	struct event		*observe;	/* owned; NULL: not observing */
	struct admin		*admin;		/* owned; NULL: no admin */
	bool			 dropped;	/* user: applied at start */
};

/* The subcommands, in the order the usage text lists them. */
static const struct main_cmd main_cmds[] = {
	{ "passwd", passwd_cmd_main,
	    "passwd [-c] [-D] [-i iterations] [--stdin] FILE USER" },
	{ "acl", acl_cmd_main,
	    "acl check -c policy.yaml (--user USER | --anonymous)\n"
	    "                 [--client-id ID] {publish|subscribe|read} "
	    "TOPIC" },
	{ "lint", lint_cmd_main, "lint -c policy.yaml" },
	{ "learn", learn_cmd_main,
	    "learn [--threshold N] [--allow-multilevel] FILE...\n"
	    "                 learn --diff -c policy.yaml FILE..." },
	{ "import-acl", acl_cmd_import_main,
	    "import-acl [--anonymous-identity NAME] MOSQUITTO_ACL_FILE" },
};

static void	usage(FILE *);
static int	opts_parse(int, char **, struct main_opts *);
static int	policy_open(const struct main_opts *, struct main_state *);
static int	check_report(struct main_state *, const char *);
static int	run(struct main_state *, const char *);
static int	start_workers(struct main_state *);
static void	start_events(struct main_state *);
static void	log_started(const struct main_state *, const char *);
static void	stop(struct main_state *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	watch_cb(evutil_socket_t, short, void *);
static void	watch_set(struct main_state *);
static void	observe_cb(evutil_socket_t, short, void *);
static void	observe_set(struct main_state *);
static void	observe_write(const struct policy *, const char *);
static int	drain(struct main_state *);
static void	drained_cb(evutil_socket_t, short, void *);
static void	reload(struct main_state *, const char *);
static void	log_certs(SSL_CTX *, const char *);
static void	warn_plain(const struct policy *);
static void	harden(void);
static int	drop_privileges(struct main_state *);

static void
usage(FILE *fp)
{
	size_t	i;

	fprintf(fp, "usage: mqttguard [-dt] [-c policy.yaml]\n");
	for (i = 0; i < NELEM(main_cmds); i++)
		fprintf(fp, "       mqttguard %s\n", main_cmds[i].usage);
	fprintf(fp,
	    "       mqttguard -V | --version\n"
	    "  -c FILE    policy file (default " CMD_POLICY_DEFAULT ")\n"
	    "  -t         check the policy, its TLS files and its tests, exit\n"
	    "  -d         debug logging (overrides log.level)\n"
	    "  -h         this help\n");
}

/*
 * Parses the daemon's own options into <o>.  Returns -1 to go on, or the
 * exit status to return at once (0 after -h or --version, 2 on a usage
 * error).
 */
static int
opts_parse(int argc, char **argv, struct main_opts *o)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(o, 0, sizeof(*o));
	o->file = CMD_POLICY_DEFAULT;
	while ((ch = getopt_long(argc, argv, "c:dhtV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 'd':
			o->debug = true;
			break;
		case 't':
			o->check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mqttguard %s\n%s\nlibevent %s\nlibyaml %s\n",
			    MQTTGUARD_VERSION, OpenSSL_version(OPENSSL_VERSION),
			    event_get_version(), config_yaml_version());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state	*ms = arg;
	char			 msg[PATH_MAX + 64];

	(void)what;
	if (sig == SIGHUP) {
		reload(ms, "SIGHUP");
		return;
	}
	if (sig == SIGUSR1) {
		if (log_reopen(msg, sizeof(msg)) == -1)
			log_error("SIGUSR1: %s", msg);
		else
			log_info("SIGUSR1: %s", msg);
		return;
	}
	if (sig == SIGTERM && ms->drained == NULL && drain(ms) == 0)
		return;
	(void)notify_send("STOPPING=1\nSTATUS=stopping (%s)",
	    strsignal((int)sig));
	log_info("%s: stopping%s", strsignal((int)sig), ms->drained != NULL ?
	    " now" : "");
	event_base_loopexit(ms->base, NULL);
}

/*
 * SIGTERM: stop accepting, serve the established sessions for
 * shutdown.drain, then end them over shutdown.spread; main's loop ends
 * once every worker's has.  -1 when there is nothing to drain for (both
 * 0) or the timer cannot start: the caller stops at once.
 */
static int
drain(struct main_state *ms)
{
	const struct policy_shutdown	*sd = &ms->pol->shutdown;
	struct timeval			 tv = { 0, MAIN_DRAIN_TICK_MS * 1000 };

	if (sd->drain_ms == 0 && sd->spread_ms == 0)
		return -1;
	if ((ms->drained = event_new(ms->base, -1, EV_PERSIST, drained_cb,
	    ms)) == NULL || event_add(ms->drained, &tv) == -1)
		return -1;
	admin_set_draining(true);
	(void)notify_send("STOPPING=1\nSTATUS=draining: no new connections, "
	    "sessions served for %ums, then closed over %ums", sd->drain_ms,
	    sd->spread_ms);
	log_info("SIGTERM: draining: no new connections; established "
	    "sessions are served for %ums, then closed over %ums (SIGTERM "
	    "again or SIGINT: stop now)", sd->drain_ms, sd->spread_ms);
	worker_drain(ms->workers, ms->n_workers, sd->drain_ms, sd->spread_ms);
	return 0;
}

/* Every worker has ended its sessions: the daemon may exit. */
static void
drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state	*ms = arg;

	(void)fd;
	(void)what;
	if (worker_done(ms->workers, ms->n_workers)) {
		log_info("drained: every session has ended");
		event_base_loopexit(ms->base, NULL);
	}
}

/*
 * watch: every TLS_WATCH_INTERVAL_MS, the stamp of every file the policy
 * was read from.  A change is acted on once it has held for a whole tick,
 * so a certificate and its key written one after the other (cert-manager,
 * an editor), or a ConfigMap's files swapped by their link, are read
 * together.
 */
static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state	*ms = arg;
	uint64_t		 now;

	(void)fd;
	(void)what;
	now = policy_files_stamp(ms->pol);
	if (now != ms->stamp && now == ms->seen)
		reload(ms, "watch: files changed");
	ms->seen = now;
}

/*
 * The whole policy again (reload.c).  Either way the files' stamp is
 * taken, so the watch tries again only when they change again.
 */
static void
reload(struct main_state *ms, const char *why)
{
	struct reload_target	rt;

	rt.file = ms->file;
	rt.pol = &ms->pol;
	rt.ctx = &ms->ctx;
	rt.upctx = &ms->upctx;
	rt.workers = ms->workers;
	rt.n_workers = ms->n_workers;
	rt.hash_threads = ms->hash_threads;
	rt.debug = ms->debug;
	rt.dropped = ms->dropped;
	rt.uid = geteuid();
	rt.gid = getegid();
	(void)notify_reloading(why);
	observe_write(ms->pol, why);
	if (reload_policy(&rt, why) == 0) {
		(void)notify_send("READY=1\nSTATUS=serving, policy reloaded "
		    "(%s)", why);
		metrics_reload(true);
		if (ms->admin != NULL)
			admin_set_policy(ms->admin, ms->pol);
		log_certs(ms->ctx, "tls");
		watch_set(ms);
		observe_set(ms);
	} else {
		(void)notify_send("READY=1\nSTATUS=serving; the last reload "
		    "failed (%s), the previous policy stays", why);
		metrics_reload(false);
	}
	ms->stamp = ms->seen = policy_files_stamp(ms->pol);
}

/* The watch timer runs when the running policy asks for it. */
static void
watch_set(struct main_state *ms)
{
	struct timeval	tv = { TLS_WATCH_INTERVAL_MS / 1000,
			    (TLS_WATCH_INTERVAL_MS % 1000) * 1000 };

	if (ms->pol->watch && ms->watch == NULL) {
		if ((ms->watch = event_new(ms->base, -1, EV_PERSIST, watch_cb,
		    ms)) == NULL || event_add(ms->watch, &tv) == -1)
			log_error("watch: cannot start the timer");
		else
			log_info("watch: reloading when a file of the policy "
			    "changes (checked every %ums)",
			    TLS_WATCH_INTERVAL_MS);
	} else if (!ms->pol->watch && ms->watch != NULL) {
		event_free(ms->watch);
		ms->watch = NULL;
		log_info("watch: off");
	}
}

/*
 * audit.observe: what the workers noted, merged and written to
 * audit.file (observe.c), every flush_interval, before a reload and at
 * stop.  A write that fails is logged; the entries stay for the next.
 */
static void
observe_write(const struct policy *pol, const char *why)
{
	char	err[512];

	if (!pol->audit.observe)
		return;
	if (observe_flush(pol->audit.file, pol->audit.max_entries, err,
	    sizeof(err)) == -1)
		log_error("audit.observe: %s: cannot write the observations: "
		    "%s", why, err);
}

static void
observe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state	*ms = arg;

	(void)fd;
	(void)what;
	observe_write(ms->pol, "flush_interval");
}

/* The flush timer runs, at the interval asked, while the policy observes. */
static void
observe_set(struct main_state *ms)
{
	const struct policy_audit	*a = &ms->pol->audit;
	struct timeval			 tv = { a->flush_ms / 1000,
					    (a->flush_ms % 1000) * 1000 };

	if (ms->observe != NULL) {
		event_free(ms->observe);
		ms->observe = NULL;
	}
	if (!a->observe)
		return;
	if ((ms->observe = event_new(ms->base, -1, EV_PERSIST, observe_cb,
	    ms)) == NULL || event_add(ms->observe, &tv) == -1)
		log_error("audit.observe: cannot start the flush timer");
	else
		log_info("audit.observe: recording to %s every %ums (at most "
		    "%u entries)", a->file, a->flush_ms, a->max_entries);
}

/* One line per certificate of server context <ctx> (may be NULL). */
static void
log_certs(SSL_CTX *ctx, const char *what)
{
	char	info[512];
	size_t	i;

	for (i = 0; ctx != NULL && tls_ctx_cert_info(ctx, i, info,
	    sizeof(info)) == 0; i++)
		log_info("%s: certificate %s", what, info);
}

/* Plain MQTT off loopback sends credentials in clear: say so at start. */
static void
warn_plain(const struct policy *pol)
{
	size_t	i;

	for (i = 0; i < pol->n_listeners; i++) {
		const struct policy_listener *l = &pol->listeners[i];

		if (l->tls || strncmp(l->address, "127.", 4) == 0 ||
		    strcmp(l->address, "::1") == 0)
			continue;
		log_warnx("listener %s: plain MQTT without TLS on %s: "
		    "passwords and messages cross the network in clear",
		    l->name, l->address);
	}
}

/*
 * What every run gives up first, whatever it runs: core dumps (a core
 * holds keys, passwords, tokens; a non-dumpable process cannot be traced
 * by its own user either) and new privileges through exec.  A refusal is
 * said, not fatal: the kernel may be older or a sandbox may forbid it.
 */
static void
harden(void)
{
	struct rlimit	rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fprintf(stderr, "mqttguard: setrlimit(RLIMIT_CORE): %s\n",
		    strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fprintf(stderr, "mqttguard: prctl(PR_SET_DUMPABLE): %s\n",
		    strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fprintf(stderr, "mqttguard: prctl(PR_SET_NO_NEW_PRIVS): %s\n",
		    strerror(errno));
}

/*
 * user:/group: of the running policy, once every socket is bound and
 * every start-up file read: supplementary groups (the user's, as
 * initgroups gives them, so a group like ssl-cert still opens its keys),
 * then the group, then the user, each for real, effective and saved ids;
 * then a check that root cannot be had back.  glibc applies each call to
 * every thread already running.  Without user:, a warning when that
 * leaves the daemon root.  Returns 0, or -1 after logging why (the
 * caller stops: a daemon asked to drop root must not serve as root).
 */
static int
drop_privileges(struct main_state *ms)
{
	const struct policy	*pol = ms->pol;
	uid_t			 uid = pol->uid;
	gid_t			 gid = pol->gid;

	if (pol->user == NULL) {
		if (geteuid() == 0)
			log_warnx("running as root: set user: (and group:) "
			    "in the policy, so a flaw in mqttguard does not "
			    "give away the machine");
		return 0;
	}
	if (geteuid() != 0) {
		if (geteuid() == uid && getegid() == gid)
			return 0;
		log_error("user: %s (uid %u, gid %u): cannot switch to it: "
		    "mqttguard was started as uid %u, not root", pol->user,
		    (unsigned)uid, (unsigned)gid, (unsigned)geteuid());
		return -1;
	}
	if (initgroups(pol->user, gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 || setresuid(uid, uid, uid) == -1) {
		log_error("user: %s: cannot drop privileges: %s", pol->user,
		    strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		log_error("user: %s: root could be regained after the drop",
		    pol->user);
		return -1;
	}
	/* A change of ids resets the flag to fs.suid_dumpable: set again. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	ms->dropped = true;
	log_info("running as user %s (uid %u), group %s (gid %u)", pol->user,
	    (unsigned)uid, pol->group != NULL ? pol->group : "(its primary)",
	    (unsigned)gid);
	return 0;
}

/*
 * Loads the policy file of <o> into ms->pol, sets the log up as it says,
 * and builds the TLS contexts it needs (ms->ctx, ms->upctx) with every
 * start-up check.  Returns 0, or 2 with the reasons on standard error and
 * nothing left held.
 */
static int
policy_open(const struct main_opts *o, struct main_state *ms)
{
	struct policy	*pol;
	char		 err[512];
	size_t		 j;

	/* -t also takes a file holding only an acl section and tests. */
	if ((pol = cmd_policy_load(o->file, o->check ? CONFIG_PARTIAL :
	    0)) == NULL)
		return 2;
	ms->pol = pol;
	log_init(o->debug ? LOG_LVL_DEBUG : (enum log_level)pol->log.level,
	    pol->log.json);
	for (j = 0; j < pol->n_listeners; j++)
		ms->any_tls |= pol->listeners[j].tls;
	if ((ms->any_tls && (ms->ctx = tls_server_ctx_new(&pol->tls, err,
	    sizeof(err))) == NULL) || (pol->upstream.tls &&
	    (ms->upctx = tls_client_ctx_new(&pol->upstream, err,
	    sizeof(err))) == NULL)) {
		fprintf(stderr, "%s: %s\nmqttguard: %s: policy refused\n",
		    o->file, err, o->file);
		SSL_CTX_free(ms->ctx);
		policy_unref(pol);
		return 2;
	}
	return 0;
}

/*
 * -t: says what the policy <file> is, runs its tests and lets go of
 * everything.  Returns the exit status: 0, or 2 if a test failed.
 */
static int
check_report(struct main_state *ms, const char *file)
{
	const struct policy	*pol = ms->pol;
	int			 rc;

	if (pol->n_listeners > 0)
		printf("mqttguard: %s: policy OK (%zu listener%s, "
		    "upstream %s:%u)\n", file, pol->n_listeners,
		    pol->n_listeners == 1 ? "" : "s",
		    pol->upstream.host, pol->upstream.port);
	else
		printf("mqttguard: %s: acl OK (%zu rule%s; no "
		    "listeners, not a policy to run)\n", file,
		    acl_count(pol->acl), acl_count(pol->acl) == 1 ?
		    "" : "s");
	rc = pol->acl != NULL && acl_cmd_run_tests(pol, stdout) > 0 ? 2 : 0;
	SSL_CTX_free(ms->ctx);
	SSL_CTX_free(ms->upctx);
	policy_unref(ms->pol);
	return rc;
}

/*
 * The authentication threads, the counters and the workers (whose
 * listeners are bound here, so an address in use fails before anything
 * starts).  Returns 0, or -1 after logging why, with everything made
 * here, the policy and the TLS contexts let go.
 */
static int
start_workers(struct main_state *ms)
{
	struct policy	*pol = ms->pol;
	char		 err[512];

	if ((ms->guard = auth_guard_new()) == NULL ||
	    (ms->pool = auth_pool_new(pol->auth.hash_threads,
	    pol->auth.hash_queue)) == NULL)
		fatalx("cannot start the authentication threads");
	if ((ms->limits = limits_new()) == NULL)
		fatalx("cannot allocate the connection counters");
	ms->n_workers = pol->workers;
	ms->hash_threads = pol->auth.hash_threads;
	if ((ms->workers = worker_create(pol->workers, pol, ms->ctx,
	    ms->upctx, ms->guard, ms->pool, ms->limits, err,
	    sizeof(err))) == NULL) {
		log_error("%s", err);
		auth_pool_free(ms->pool);
		auth_guard_free(ms->guard);
		limits_free(ms->limits);
		SSL_CTX_free(ms->ctx);
		SSL_CTX_free(ms->upctx);
		policy_unref(pol);
		return -1;
	}
	return 0;
}

/* The event loop of main's thread: signals, and tls.watch if asked for. */
static void
start_events(struct main_state *ms)
{
	static const int	 sigs[MAIN_NSIGS] = { SIGINT, SIGTERM, SIGHUP,
				    SIGUSR1 };
	int			 i;

	if ((ms->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	ms->stamp = ms->seen = policy_files_stamp(ms->pol);
	for (i = 0; i < MAIN_NSIGS; i++)
		ms->sigs[i] = evsignal_new(ms->base, sigs[i], signal_cb, ms);
	for (i = 0; i < MAIN_NSIGS; i++)
		if (ms->sigs[i] == NULL || evsignal_add(ms->sigs[i],
		    NULL) == -1)
			fatalx("cannot install signal handlers");
	watch_set(ms);
	observe_set(ms);
}

/* What the daemon listens on, talks to and watches, once it runs. */
static void
log_started(const struct main_state *ms, const char *file)
{
	const struct policy	*pol = ms->pol;
	size_t			 j;

	for (j = 0; j < pol->n_listeners; j++)
		log_info("listening on %s port %u (%s), upstream %s:%u",
		    pol->listeners[j].address, pol->listeners[j].port,
		    pol->listeners[j].tls ? "TLS" : "plain",
		    pol->upstream.host, pol->upstream.port);
	log_certs(ms->ctx, "tls");
	if (ms->upctx != NULL)
		log_info("upstream: TLS to %s:%u, broker verified as \"%s\" "
		    "against %s%s", pol->upstream.host, pol->upstream.port,
		    pol->upstream.server_name, pol->upstream.ca[0] ?
		    pol->upstream.ca : "the system's CA store",
		    pol->upstream.cert[0] ? ", with a client certificate" :
		    "");
	if (pol->workers_auto[0] != '\0')
		log_info("workers: auto: %u (%s)", pol->workers,
		    pol->workers_auto);
	if (pol->auth.hash_threads_auto[0] != '\0')
		log_info("auth.hash_threads: auto: %u (%s)",
		    pol->auth.hash_threads, pol->auth.hash_threads_auto);
	log_info("mqttguard %s started, %u worker%s, policy %s",
	    MQTTGUARD_VERSION, pol->workers, pol->workers == 1 ? "" : "s",
	    file);
}

/*
 * Stops and frees everything start_workers() and start_events() made,
 * and main's references: a straight line, in dependency order.
 */
static void
stop(struct main_state *ms)
{
	int	i;

	admin_free(ms->admin);	/* first: it sends the workers heartbeats */
	worker_stop(ms->workers, ms->n_workers);
	/* Threads first, then the pool (its last jobs go back to the
	 * workers' done lists), then everything they held. */
	worker_join(ms->workers, ms->n_workers);
	observe_write(ms->pol, "stop");
	observe_free();
	auth_pool_free(ms->pool);
	worker_destroy(ms->workers, ms->n_workers);
	auth_guard_free(ms->guard);
	limits_free(ms->limits);
	for (i = 0; i < MAIN_NSIGS; i++)
		event_free(ms->sigs[i]);
	if (ms->watch != NULL)
		event_free(ms->watch);
	if (ms->drained != NULL)
		event_free(ms->drained);
	if (ms->observe != NULL)
		event_free(ms->observe);
	event_base_free(ms->base);
	SSL_CTX_free(ms->ctx);	/* ctx and upctx, or what replaced them */
	SSL_CTX_free(ms->upctx);
	policy_unref(ms->pol);
}

/*
 * Runs the daemon on the policy in <ms> until SIGINT or SIGTERM, logging
 * to log.file if the policy names one.  Returns the exit status: 0 after
 * a clean stop, 1 if the log file cannot be opened or the workers could
 * not start.
 */
static int
run(struct main_state *ms, const char *file)
{
	char	err[PATH_MAX + 64];

	if (ms->pol->log.file[0] != '\0' && log_open(ms->pol->log.file, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "mqttguard: %s\n", err);
		SSL_CTX_free(ms->ctx);
		SSL_CTX_free(ms->upctx);
		policy_unref(ms->pol);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);	/* logrotate before the loop runs */
	if (evthread_use_pthreads() == -1)
		fatalx("libevent: no thread support");
	warn_plain(ms->pol);
	if (ms->pol->acl == NULL)
		log_warnx("%s: no acl section: every client that authenticates "
		    "may publish and subscribe to any topic", file);
	if (start_workers(ms) == -1)
		return 1;
	start_events(ms);
	if (worker_start(ms->workers, ms->n_workers) == -1) {
		stop(ms);
		return 1;
	}
	/* On main's loop: busy workers never delay a scrape. */
	if (ms->pol->has_admin && (ms->admin = admin_new(ms->base, ms->pol,
	    ms->workers, ms->n_workers, MQTTGUARD_VERSION, err,
	    sizeof(err))) == NULL) {
		log_error("%s", err);
		stop(ms);
		return 1;
	}
	if (drop_privileges(ms) == -1) {
		stop(ms);
		return 1;
	}
	log_started(ms, file);
	if (notify_send("READY=1\nSTATUS=serving %zu listener%s, upstream "
	    "%s:%u", ms->pol->n_listeners, ms->pol->n_listeners == 1 ? "" :
	    "s", ms->pol->upstream.host, ms->pol->upstream.port) == -1)
		log_warn("NOTIFY_SOCKET: cannot tell the service manager "
		    "READY=1");
	event_base_dispatch(ms->base);
	stop(ms);
	log_info("stopped");
	return 0;
}

int
main(int argc, char *argv[])
{
	struct main_opts	o;
	struct main_state	ms;
	size_t			i;
	int			rc;

	harden();
	for (i = 0; argc > 1 && i < NELEM(main_cmds); i++)
		if (strcmp(argv[1], main_cmds[i].name) == 0)
			return main_cmds[i].entry(argc - 1, argv + 1);
	if ((rc = opts_parse(argc, argv, &o)) != -1)
		return rc;
	log_init(LOG_LVL_INFO, false);
	memset(&ms, 0, sizeof(ms));
	if ((rc = policy_open(&o, &ms)) != 0)
		return rc;
	if (o.check)
		return check_report(&ms, o.file);
	ms.file = o.file;
	ms.debug = o.debug;
	return run(&ms, o.file);
}
