/* SPDX-License-Identifier: ISC */
/*
 * main — command line, signals, start-up.
 *
 *   mqttguard [-d] [-c FILE]      run with the policy FILE
 *   mqttguard -t [-c FILE]        check the policy FILE (and its TLS
 *                                 material) and exit: 0 valid, 2 invalid
 *
 * Exit codes: 0 after a clean stop, 1 on a start-up failure (e.g. an address
 * in use), 2 on a bad policy or command line.  No protocol logic here.
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

#include "mqttguard/auth.h"
#include "mqttguard/config.h"
#include "mqttguard/log.h"
#include "mqttguard/passwd.h"
#include "mqttguard/policy.h"
#include "mqttguard/tls.h"
#include "mqttguard/worker.h"

#ifndef MQTTGUARD_VERSION
#define MQTTGUARD_VERSION "0.0.0"
#endif
#define DEFAULT_POLICY	"/etc/mqttguard/mqttguard.yaml"

static void	usage(FILE *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	warn_plain(const struct policy *);

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mqttguard [-dt] [-c policy.yaml]\n"
	    "       mqttguard passwd [-c] [-D] [-i iterations] [--stdin] FILE USER\n"
	    "       mqttguard --version\n"
	    "  -c FILE    policy file (default " DEFAULT_POLICY ")\n"
	    "  -t         check the policy and its TLS files, then exit\n"
	    "  -d         debug logging (overrides log.level)\n"
	    "  -h         this help\n");
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base	*base = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_warnx("SIGHUP: policy reload is not supported by this "
		    "version; restart to apply changes");
		return;
	}
	log_info("%s: stopping", strsignal((int)sig));
	event_base_loopexit(base, NULL);
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
	struct event_base	*base;
	struct event		*sigs[3];
	SSL_CTX			*ctx = NULL;
	const char		*file = DEFAULT_POLICY;
	char			 err[512];
	bool			 check = false, debug = false, any_tls = false;
	int			 ch, i;
	size_t			 j;

	if (argc > 1 && strcmp(argv[1], "passwd") == 0)
		return passwd_main(argc - 1, argv + 1);
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
	if ((pol = config_load(file, errs)) == NULL) {
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
	if (check) {
		printf("mqttguard: %s: policy OK (%zu listener%s, upstream "
		    "%s:%u)\n", file, pol->n_listeners,
		    pol->n_listeners == 1 ? "" : "s", pol->upstream.host,
		    pol->upstream.port);
		SSL_CTX_free(ctx);
		policy_unref(pol);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent: no thread support");
	warn_plain(pol);
	if ((guard = auth_guard_new()) == NULL ||
	    (pool = auth_pool_new(pol->auth.hash_threads,
	    pol->auth.hash_queue)) == NULL)
		fatalx("cannot start the authentication threads");
	if ((workers = worker_create(pol->workers, pol, ctx, guard, pool, err,
	    sizeof(err))) == NULL) {
		log_error("%s", err);
		SSL_CTX_free(ctx);
		policy_unref(pol);
		return 1;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	sigs[0] = evsignal_new(base, SIGINT, signal_cb, base);
	sigs[1] = evsignal_new(base, SIGTERM, signal_cb, base);
	sigs[2] = evsignal_new(base, SIGHUP, signal_cb, base);
	for (i = 0; i < 3; i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot install signal handlers");
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
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(base);
	SSL_CTX_free(ctx);
	policy_unref(pol);
	log_info("stopped");
	return 0;
}
