/* SPDX-License-Identifier: ISC */
/*
 * admin — metrics, health and readiness over HTTP on main's event loop.
 *
 * An evhttp server bound to admin.address:port, a timer and, now and
 * then, one TCP connection to the broker.  The timer (ADMIN_TICK_MS) asks
 * every worker for a heartbeat (worker_heartbeat(); /healthz reads the
 * stamps with worker_alive()) and decides whether to probe the broker:
 * sessions that connect upstream stamp their successes and failures
 * (metrics_upstream()), and when none is newer than ADMIN_PROBE_AFTER_MS,
 * or the newest is a failure, a plain TCP connect to upstream.host:port
 * stands in for them, at most one at a time and one per tick.
 *
 * Everything here runs on main's thread, except admin_set_draining(),
 * which only stores an atomic flag.  A response is built whole before it
 * is sent (a /metrics body is a few tens of KiB), so nothing waits on a
 * slow scraper but evhttp's own output buffer, bounded by its timeout.
 *
 * The token is never kept in clear: its SHA-256 is, and a request's
 * bearer token is hashed and compared in constant time, so neither its
 * bytes nor its length leak through timing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mqttguard/admin.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/util.h"

#define ADMIN_TOKEN_HASH	32	/* SHA-256 */
#define ADMIN_ERR_MAX		160

struct admin {
	struct event_base	*base;		/* main's */
	struct evhttp		*http;		/* owned */
	struct policy		*pol;		/* ref */
	struct worker		*ws;		/* main's; n of them */
	unsigned		 n;
	const char		*version;	/* static */
	bool			 has_token;
	uint8_t			 token[ADMIN_TOKEN_HASH];	/* SHA-256 */
	struct event		*tick;		/* owned */
	struct evdns_base	*dns;		/* owned; the probe's names */
	struct bufferevent	*probe;		/* owned; NULL: none running */
	uint64_t		 probe_ok_ms, probe_failed_ms;
	char			 probe_err[ADMIN_ERR_MAX];	/* its failure */
};

static atomic_bool	admin_draining;

static void	request_cb(struct evhttp_request *, void *);
static bool	authorized(const struct admin *, struct evhttp_request *);
static void	reply(struct evhttp_request *, int, const char *,
		    struct evbuffer *);
static void	reply_text(struct evhttp_request *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	serve_metrics(struct admin *, struct evhttp_request *);
static void	serve_healthz(struct admin *, struct evhttp_request *);
static void	serve_readyz(struct admin *, struct evhttp_request *);
static void	tick_cb(evutil_socket_t, short, void *);
static void	probe_start(struct admin *);
static void	probe_cb(struct bufferevent *, short, void *);
static void	probe_done(struct admin *, bool, const char *);
static void	token_hash(struct admin *);
static void	body_free(const void *, size_t, void *);

struct admin *
admin_new(struct event_base *base, struct policy *pol, struct worker *ws,
    unsigned n, const char *version, char *err, size_t errlen)
{
	struct admin		*a;
	struct timeval		 tv = { ADMIN_TICK_MS / 1000,
				    (ADMIN_TICK_MS % 1000) * 1000 };
	const struct policy_admin *pa = &pol->admin;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		util_errf(err, errlen, "admin: out of memory");
		return NULL;
	}
	a->base = base;
	a->ws = ws;
	a->n = n;
	a->version = version;
	a->pol = policy_ref(pol);
	token_hash(a);
	if ((a->http = evhttp_new(base)) == NULL ||
	    (a->tick = event_new(base, -1, EV_PERSIST, tick_cb, a)) ==
	    NULL) {
		util_errf(err, errlen, "admin: out of memory");
		goto fail;
	}
	a->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (a->dns == NULL && (a->dns = evdns_base_new(base, 0)) == NULL) {
		util_errf(err, errlen, "admin: out of memory");
		goto fail;
	}
	/* Every method reaches request_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_timeout(a->http, ADMIN_HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(a->http, ADMIN_HEADERS_MAX);
	evhttp_set_max_body_size(a->http, ADMIN_HEADERS_MAX);
	evhttp_set_gencb(a->http, request_cb, a);
	errno = 0;
	if (evhttp_bind_socket_with_handle(a->http, pa->address,
	    pa->port) == NULL) {
		util_errf(err, errlen, "admin listener (%s port %u): %s",
		    pa->address, pa->port, errno ? strerror(errno) :
		    "cannot bind");
		goto fail;
	}
	if (event_add(a->tick, &tv) == -1) {
		util_errf(err, errlen, "admin: cannot start its timer");
		goto fail;
	}
	log_info("admin: listening on %s port %u (/metrics, /healthz, "
	    "/readyz)%s", pa->address, pa->port, a->has_token ?
	    ", bearer token required" : "");
	tick_cb(-1, 0, a);	/* the first probe, without waiting a tick */
	return a;

fail:
	admin_free(a);
	return NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	if (a->tick != NULL)
		event_free(a->tick);
	if (a->probe != NULL)
		bufferevent_free(a->probe);
	if (a->dns != NULL)
		evdns_base_free(a->dns, 0);
	policy_unref(a->pol);
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a);
}

void
admin_set_policy(struct admin *a, struct policy *pol)
{
	struct policy	*old = a->pol;

	a->pol = policy_ref(pol);
	policy_unref(old);
	token_hash(a);
}

void
admin_set_draining(bool draining)
{
	atomic_store(&admin_draining, draining);
}

/* The SHA-256 of the policy's token, if it has one. */
static void
token_hash(struct admin *a)
{
	const struct policy_admin	*pa = &a->pol->admin;
	unsigned			 len = 0;

	a->has_token = pa->token != NULL;
	if (a->has_token && (EVP_Digest(pa->token, pa->token_len, a->token,
	    &len, EVP_sha256(), NULL) != 1 || len != sizeof(a->token)))
		/* Fail closed: a token nobody can hash matches no request. */
		memset(a->token, 0, sizeof(a->token));
}

/* ---- HTTP ----------------------------------------------------------- */

static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct admin			*a = arg;
	const struct evhttp_uri		*uri = evhttp_request_get_evhttp_uri(req);
	const char			*path = uri != NULL ?
					    evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type		 cmd = evhttp_request_get_command(req);
	void				(*serve)(struct admin *,
					    struct evhttp_request *) = NULL;

	if (!authorized(a, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"mqttguard\"");
		reply_text(req, 401, "a bearer token is required "
		    "(admin.token_file)\n");
		return;
	}
	if (path != NULL && strcmp(path, "/metrics") == 0)
		serve = serve_metrics;
	else if (path != NULL && strcmp(path, "/healthz") == 0)
		serve = serve_healthz;
	else if (path != NULL && strcmp(path, "/readyz") == 0)
		serve = serve_readyz;
	if (serve == NULL) {
		reply_text(req, 404, "not found: try /metrics, /healthz or "
		    "/readyz\n");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		reply_text(req, 405, "method not allowed: GET only\n");
		return;
	}
	serve(a, req);
}

/*
 * Whether <req> may be served: always without a token, else when its
 * Authorization header is "Bearer " and the token (compared by digest).
 */
static bool
authorized(const struct admin *a, struct evhttp_request *req)
{
	const char	*h;
	uint8_t		 d[ADMIN_TOKEN_HASH];
	unsigned	 len = 0;

	if (!a->has_token)
		return true;
	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	for (h += 7; *h == ' '; h++)
		;
	if (EVP_Digest(h, strlen(h), d, &len, EVP_sha256(), NULL) != 1 ||
	    len != sizeof(d))
		return false;
	return CRYPTO_memcmp(d, a->token, sizeof(d)) == 0;
}

/* Sends <body> (NULL: empty) with status <code> and content type <type>. */
static void
reply(struct evhttp_request *req, int code, const char *type,
    struct evbuffer *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, NULL, body);
}

/* A short plain-text answer. */
static void
reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer	*b;
	va_list		 ap;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	reply(req, code, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

static void
body_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/*
 * Every counter (metrics.c), the policy and build info, and the process:
 * written into memory, then handed to the reply without a copy.
 */
static void
serve_metrics(struct admin *a, struct evhttp_request *req)
{
	const struct policy	*pol = a->pol;
	const char		*names[METRICS_LISTENERS_MAX];
	const char		*policy_labels[] = { "sha256", pol->sha256,
				    NULL };
	const char		*build_labels[] = { "version", a->version,
				    "openssl", OpenSSL_version(
				    OPENSSL_VERSION_STRING), "libevent",
				    event_get_version(), NULL };
	struct evbuffer		*b = NULL;
	char			*text = NULL;
	size_t			 len = 0, i, n;
	FILE			*fp;
	int			 rc;

	n = pol->n_listeners < METRICS_LISTENERS_MAX ? pol->n_listeners :
	    METRICS_LISTENERS_MAX;
	for (i = 0; i < n; i++)
		names[i] = pol->listeners[i].name;
	if ((fp = open_memstream(&text, &len)) == NULL) {
		reply_text(req, 500, "out of memory\n");
		return;
	}
	rc = metrics_write(fp, names, n);
	rc |= metrics_write_info(fp, "mqttguard_policy_info", "The policy in "
	    "force: the SHA-256 of its file.", policy_labels);
	rc |= metrics_write_info(fp, "mqttguard_build_info", "The version of "
	    "mqttguard and of the libraries it runs with.", build_labels);
	rc |= metrics_write_process(fp);
	if (fclose(fp) != 0 || rc != 0 || (b = evbuffer_new()) == NULL ||
	    evbuffer_add_reference(b, text, len, body_free, NULL) == -1) {
		free(text);
		if (b != NULL)
			evbuffer_free(b);
		reply_text(req, 500, "cannot write the metrics\n");
		return;
	}
	reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

static void
serve_healthz(struct admin *a, struct evhttp_request *req)
{
	int	stuck = worker_alive(a->ws, a->n, util_now_ms());

	if (stuck == -1)
		reply_text(req, 200, "ok: %u worker%s answering\n", a->n,
		    a->n == 1 ? "" : "s");
	else
		reply_text(req, 503, "worker %d: its event loop has not "
		    "answered a heartbeat for over %ums\n", stuck,
		    WORKER_ALIVE_MS);
}

/*
 * Ready: a policy, not draining, and the broker reached lately (by a
 * session or the probe) with no failure since.
 */
static void
serve_readyz(struct admin *a, struct evhttp_request *req)
{
	const struct policy_upstream	*u = &a->pol->upstream;
	uint64_t			 ok, failed, now = util_now_ms();

	metrics_upstream_last(&ok, &failed);
	ok = ok > a->probe_ok_ms ? ok : a->probe_ok_ms;
	failed = failed > a->probe_failed_ms ? failed : a->probe_failed_ms;
	if (atomic_load(&admin_draining))
		reply_text(req, 503, "draining: mqttguard is stopping\n");
	else if (ok == 0 && failed == 0)
		reply_text(req, 503, "upstream %s:%u: not reached yet\n",
		    u->host, u->port);
	else if (failed > ok)
		reply_text(req, 503, "upstream %s:%u: unreachable: %s\n",
		    u->host, u->port, a->probe_failed_ms == failed &&
		    a->probe_err[0] != '\0' ? a->probe_err :
		    "a session could not connect");
	else if (now > ok && now - ok > ADMIN_UPSTREAM_FRESH_MS)
		reply_text(req, 503, "upstream %s:%u: not reached for %"
		    PRIu64 "ms\n", u->host, u->port, now - ok);
	else
		reply_text(req, 200, "ready: policy %.12s, upstream %s:%u "
		    "reached %" PRIu64 "ms ago\n", a->pol->sha256, u->host,
		    u->port, now > ok ? now - ok : 0);
}

/* ---- heartbeats and the upstream probe ------------------------------ */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin	*a = arg;
	uint64_t	 ok, failed, now = util_now_ms();

	(void)fd;
	(void)what;
	worker_heartbeat(a->ws, a->n);
	if (a->probe != NULL)
		return;
	metrics_upstream_last(&ok, &failed);
	ok = ok > a->probe_ok_ms ? ok : a->probe_ok_ms;
	failed = failed > a->probe_failed_ms ? failed : a->probe_failed_ms;
	if (ok == 0 || failed > ok || (now > ok && now - ok >=
	    ADMIN_PROBE_AFTER_MS))
		probe_start(a);
}

/* A TCP connection to the broker, closed as soon as it is made. */
static void
probe_start(struct admin *a)
{
	const struct policy_upstream	*u = &a->pol->upstream;
	struct bufferevent		*bev;
	unsigned			 ms = u->connect_timeout_ms;
	struct timeval			 tv = { ms / 1000, (ms % 1000) * 1000 };

	if ((bev = bufferevent_socket_new(a->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		probe_done(a, false, "out of memory");
		return;
	}
	a->probe = bev;
	bufferevent_setcb(bev, NULL, NULL, probe_cb, a);
	bufferevent_set_timeouts(bev, NULL, &tv);	/* the connect's */
	/* A failure may be reported at once, through probe_cb. */
	if (bufferevent_socket_connect_hostname(bev, a->dns, AF_UNSPEC,
	    u->host, u->port) == -1 && a->probe == bev)
		probe_done(a, false, "connect failed");
}

static void
probe_cb(struct bufferevent *bev, short what, void *arg)
{
	struct admin	*a = arg;
	char		 why[ADMIN_ERR_MAX];
	int		 dns, err = EVUTIL_SOCKET_ERROR();

	if (bev != a->probe)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		probe_done(a, true, NULL);
		return;
	}
	dns = bufferevent_socket_get_dns_error(bev);
	snprintf(why, sizeof(why), "%s", dns != 0 ? evutil_gai_strerror(dns) :
	    (what & BEV_EVENT_TIMEOUT) ? "connect timeout" : err != 0 ?
	    evutil_socket_error_to_string(err) : "connection failed");
	probe_done(a, false, why);
}

/* The probe ended: its result is stamped, its connection closed. */
static void
probe_done(struct admin *a, bool ok, const char *why)
{
	uint64_t	now = util_now_ms();

	if (a->probe != NULL) {
		bufferevent_free(a->probe);
		a->probe = NULL;
	}
	if (ok) {
		a->probe_ok_ms = now;
		a->probe_err[0] = '\0';
		return;
	}
	if (a->probe_failed_ms <= a->probe_ok_ms)	/* a change: say so */
		log_warnx("admin: upstream %s:%u unreachable: %s",
		    a->pol->upstream.host, a->pol->upstream.port, why);
	a->probe_failed_ms = now;
	snprintf(a->probe_err, sizeof(a->probe_err), "%s", why);
}
