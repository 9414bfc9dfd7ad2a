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
 * SIGHUP (and tls.watch, a timer comparing the files' stamps) reloads the
 * TLS material only: the files the running policy names are read again
 * into new contexts, with every start-up check, and handed to the workers;
 * on any error the running contexts stay and the reason is logged.  The
 * policy file itself is not read again.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "mqttguard/acl.h"
#include "mqttguard/auth.h"
#include "mqttguard/cmd.h"
#include "mqttguard/config.h"
#include "mqttguard/limits.h"
#include "mqttguard/log.h"
#include "mqttguard/passwd.h"
#include "mqttguard/policy.h"
#include "mqttguard/tls.h"
#include "mqttguard/worker.h"

#ifndef MQTTGUARD_VERSION
#define MQTTGUARD_VERSION "0.0.0"
#endif
#define DEFAULT_POLICY	"/etc/mqttguard/mqttguard.yaml"

/* What the signal and watch callbacks need, on main's thread only. */
struct main_state {
	struct event_base	*base;		/* owned by main() */
	struct policy		*pol;		/* ref, main() owns it */
	struct worker		*workers;	/* pol->workers of them */
	SSL_CTX			*ctx;		/* ref; NULL without TLS */
	SSL_CTX			*upctx;		/* ref; NULL: plain upstream */
	bool			 any_tls;	/* a listener uses TLS */
	uint64_t		 stamp;		/* files as last loaded */
	uint64_t		 seen;		/* files at the last tick */
};

static void	usage(FILE *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	watch_cb(evutil_socket_t, short, void *);
static void	reload_tls(struct main_state *, const char *);
static void	log_certs(SSL_CTX *, const char *);
static void	warn_plain(const struct policy *);

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mqttguard [-dt] [-c policy.yaml]\n"
	    "       mqttguard passwd [-c] [-D] [-i iterations] [--stdin] FILE USER\n"
	    "       mqttguard acl check -c policy.yaml (--user USER | --anonymous)\n"
	    "                 [--client-id ID] {publish|subscribe|read} TOPIC\n"
	    "       mqttguard lint -c policy.yaml\n"
	    "       mqttguard import-acl [--anonymous-identity NAME] MOSQUITTO_ACL_FILE\n"
	    "       mqttguard --version\n"
	    "  -c FILE    policy file (default " DEFAULT_POLICY ")\n"
	    "  -t         check the policy, its TLS files and its tests, exit\n"
	    "  -d         debug logging (overrides log.level)\n"
	    "  -h         this help\n");
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state	*ms = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload_tls(ms, "SIGHUP");
		return;
	}
	log_info("%s: stopping", strsignal((int)sig));
	event_base_loopexit(ms->base, NULL);
}

/*
 * tls.watch: every TLS_WATCH_INTERVAL_MS, the files' stamp.  A change is
 * acted on once it has held for a whole tick, so a certificate and its key
 * written one after the other (cert-manager, an editor) are read together.
 */
static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state	*ms = arg;
	uint64_t		 now;

	(void)fd;
	(void)what;
	now = tls_files_stamp(ms->pol->has_tls ? &ms->pol->tls : NULL,
	    &ms->pol->upstream);
	if (now != ms->stamp && now == ms->seen)
		reload_tls(ms, "tls.watch: files changed");
	ms->seen = now;
}

/*
 * Builds new TLS contexts from the files the running policy names, with
 * every check made at start, and hands them to the workers; on any error
 * the workers keep theirs.  Either way the files' stamp is taken, so the
 * watch tries again only when they change again.
 */
static void
reload_tls(struct main_state *ms, const char *why)
{
	SSL_CTX	*ctx = NULL, *upctx = NULL;
	char	 err[512];

	ms->stamp = tls_files_stamp(ms->pol->has_tls ? &ms->pol->tls : NULL,
	    &ms->pol->upstream);
	ms->seen = ms->stamp;
	if (!ms->any_tls && !ms->pol->upstream.tls) {
		log_info("%s: no TLS in use, nothing to reload (the policy "
		    "file is not read again: restart to apply changes)", why);
		return;
	}
	if ((ms->any_tls && (ctx = tls_server_ctx_new(&ms->pol->tls, err,
	    sizeof(err))) == NULL) || (ms->pol->upstream.tls &&
	    (upctx = tls_client_ctx_new(&ms->pol->upstream, err,
	    sizeof(err))) == NULL)) {
		log_error("%s: TLS reload failed, the current certificates "
		    "stay in use: %s", why, err);
		SSL_CTX_free(ctx);
		return;
	}
	worker_set_tls(ms->workers, ms->pol->workers, ctx, upctx);
	SSL_CTX_free(ms->ctx);
	SSL_CTX_free(ms->upctx);
	ms->ctx = ctx;
	ms->upctx = upctx;
	log_info("%s: TLS material reloaded (certificates, keys, CAs, CRLs; "
	    "the rest of the policy is not read again); new connections "
	    "use it, established ones keep theirs", why);
	log_certs(ctx, "tls");
	if (upctx != NULL)
		log_info("upstream: broker CA %s%s reloaded",
		    ms->pol->upstream.ca[0] ? ms->pol->upstream.ca :
		    "(the system's store)", ms->pol->upstream.cert[0] ?
		    " and client certificate" : "");
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

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config_errors	*errs;
	struct policy		*pol;
	struct worker		*workers;
	struct auth_guard	*guard;
	struct auth_pool	*pool;
	struct limits		*limits;
	struct event_base	*base;
	struct event		*sigs[3], *watch = NULL;
	struct main_state	 ms;
	struct timeval		 tv = { TLS_WATCH_INTERVAL_MS / 1000,
				    (TLS_WATCH_INTERVAL_MS % 1000) * 1000 };
	SSL_CTX			*ctx = NULL, *upctx = NULL;
	const char		*file = DEFAULT_POLICY;
	char			 err[512];
	bool			 check = false, debug = false, any_tls = false;
	int			 ch, i;
	size_t			 j;

	if (argc > 1 && strcmp(argv[1], "passwd") == 0)
		return passwd_cmd_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "acl") == 0)
		return acl_cmd_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "lint") == 0)
		return lint_cmd_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "import-acl") == 0)
		return acl_cmd_import_main(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "c:dhtV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 't':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mqttguard %s\n", MQTTGUARD_VERSION);
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

	log_init(LOG_LVL_INFO, false);
	if ((errs = calloc(1, sizeof(*errs))) == NULL)
		fatal("calloc");
	/* -t also takes a file holding only an acl section and tests. */
	if ((pol = config_load_flags(file, errs, check ? CONFIG_PARTIAL :
	    0)) == NULL) {
		config_errors_print(errs, stderr);
		fprintf(stderr, "mqttguard: %s: policy refused (%zu error%s)\n",
		    file, errs->n, errs->n == 1 ? "" : "s");
		free(errs);
		return 2;
	}
	free(errs);
	log_init(debug ? LOG_LVL_DEBUG : (enum log_level)pol->log.level,
	    pol->log.json);

	for (j = 0; j < pol->n_listeners; j++)
		any_tls |= pol->listeners[j].tls;
	if (any_tls && (ctx = tls_server_ctx_new(&pol->tls, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\nmqttguard: %s: policy refused\n",
		    file, err, file);
		policy_unref(pol);
		return 2;
	}
	if (pol->upstream.tls && (upctx = tls_client_ctx_new(&pol->upstream,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\nmqttguard: %s: policy refused\n",
		    file, err, file);
		SSL_CTX_free(ctx);
		policy_unref(pol);
		return 2;
	}
	if (check) {
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
		i = pol->acl != NULL && acl_cmd_run_tests(pol, stdout) > 0 ?
		    2 : 0;
		SSL_CTX_free(ctx);
		SSL_CTX_free(upctx);
		policy_unref(pol);
		return i;
	}

	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent: no thread support");
	warn_plain(pol);
	if (pol->acl == NULL)
		log_warnx("%s: no acl section: every client that authenticates "
		    "may publish and subscribe to any topic", file);
	if ((guard = auth_guard_new()) == NULL ||
	    (pool = auth_pool_new(pol->auth.hash_threads,
	    pol->auth.hash_queue)) == NULL)
		fatalx("cannot start the authentication threads");
	if ((limits = limits_new()) == NULL)
		fatalx("cannot allocate the connection counters");
	if ((workers = worker_create(pol->workers, pol, ctx, upctx, guard,
	    pool, limits, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		SSL_CTX_free(ctx);
		SSL_CTX_free(upctx);
		policy_unref(pol);
		return 1;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	memset(&ms, 0, sizeof(ms));
	ms.base = base;
	ms.pol = pol;
	ms.workers = workers;
	ms.ctx = ctx;		/* main's references, from here on */
	ms.upctx = upctx;
	ms.any_tls = any_tls;
	ms.stamp = ms.seen = tls_files_stamp(pol->has_tls ? &pol->tls : NULL,
	    &pol->upstream);
	sigs[0] = evsignal_new(base, SIGINT, signal_cb, &ms);
	sigs[1] = evsignal_new(base, SIGTERM, signal_cb, &ms);
	sigs[2] = evsignal_new(base, SIGHUP, signal_cb, &ms);
	for (i = 0; i < 3; i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot install signal handlers");
	if (pol->has_tls && pol->tls.watch &&
	    ((watch = event_new(base, -1, EV_PERSIST, watch_cb, &ms)) ==
	    NULL || event_add(watch, &tv) == -1))
		fatalx("cannot start tls.watch");
	if (worker_start(workers, pol->workers) == -1) {
		worker_stop(workers, pol->workers);
		worker_join(workers, pol->workers);
		auth_pool_free(pool);
		worker_destroy(workers, pol->workers);
		auth_guard_free(guard);
		return 1;
	}
	for (j = 0; j < pol->n_listeners; j++)
		log_info("listening on %s port %u (%s), upstream %s:%u",
		    pol->listeners[j].address, pol->listeners[j].port,
		    pol->listeners[j].tls ? "TLS" : "plain",
		    pol->upstream.host, pol->upstream.port);
	log_certs(ctx, "tls");
	if (upctx != NULL)
		log_info("upstream: TLS to %s:%u, broker verified as \"%s\" "
		    "against %s%s", pol->upstream.host, pol->upstream.port,
		    pol->upstream.server_name, pol->upstream.ca[0] ?
		    pol->upstream.ca : "the system's CA store",
		    pol->upstream.cert[0] ? ", with a client certificate" :
		    "");
	if (watch != NULL)
		log_info("tls.watch: reloading when the TLS files change "
		    "(checked every %ums)", TLS_WATCH_INTERVAL_MS);
	log_info("mqttguard %s started, %u worker%s, policy %s",
	    MQTTGUARD_VERSION, pol->workers, pol->workers == 1 ? "" : "s",
	    file);

	event_base_dispatch(base);

	worker_stop(workers, pol->workers);
	/* Threads first, then the pool (its last jobs go back to the
	 * workers' done lists), then everything they held. */
	worker_join(workers, pol->workers);
	auth_pool_free(pool);
	worker_destroy(workers, pol->workers);
	auth_guard_free(guard);
	limits_free(limits);
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	if (watch != NULL)
		event_free(watch);
	event_base_free(base);
	SSL_CTX_free(ms.ctx);	/* ctx and upctx, or what replaced them */
	SSL_CTX_free(ms.upctx);
	policy_unref(pol);
	log_info("stopped");
	return 0;
}
