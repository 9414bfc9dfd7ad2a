/* SPDX-License-Identifier: ISC */
/*
 * listener — bind, listen, accept.
 *
 * Sockets are bound before any worker starts, so an address in use is a
 * start-up error with a clear message, not a thread that dies later.  The
 * accept callback checks the accept-time caps (limits_admit()) before any
 * TLS work is spent on a connection, then hands the fd to session_new().
 * A struct listener belongs to one event loop and is touched by its
 * thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "mqttguard/auth.h"
#include "mqttguard/limits.h"
#include "mqttguard/listener.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/proxy.h"
#include "mqttguard/session.h"
#include "mqttguard/tls.h"
#include "mqttguard/util.h"

#define LISTENER_PAUSE_MS	200	/* after EMFILE/ENFILE */

static int	bind_socket(const struct policy_listener *, bool, char *,
		    size_t);
static int	address_free(const struct addrinfo *);
static void	accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static enum limits_refusal admit(struct listener *, const struct sockaddr *,
		    uint64_t, struct limits_conn *);
static int	handshake_admit(struct listener *, const struct sockaddr *,
		    uint64_t);
static bool	known_address(struct listener *, const struct sockaddr *,
		    uint64_t);
static void	error_cb(struct evconnlistener *, void *);
static void	resume_cb(evutil_socket_t, short, void *);
static void	turn_count(struct listener *);
static void	refused_log(struct listener *, const struct sockaddr *,
		    const char *, const char *, uint64_t);

int
listener_init(struct listener *l, struct session_ctx *ctx,
    const struct policy_listener *pl, unsigned idx, bool first, char *err,
    size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->ctx = ctx;
	l->idx = idx;
	l->pl = pl;
	l->fd = bind_socket(l->pl, first, err, errlen);
	return l->fd == -1 ? -1 : 0;
}

static int
bind_socket(const struct policy_listener *l, bool first, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 port[8];
	int		 fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", l->port);
	if ((rc = getaddrinfo(l->address, port, &hints, &res)) != 0) {
		util_errf(err, errlen, "listener %s: %s", l->name,
		    gai_strerror(rc));
		return -1;
	}
	if (first && address_free(res) == -1) {
		util_errf(err, errlen, "listener %s (%s port %u): %s (is "
		    "another mqttguard running?)", l->name, l->address,
		    l->port, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		goto fail;
	if (listen(fd, l->backlog) == -1)
		goto fail;
	freeaddrinfo(res);
	return fd;

fail:
	util_errf(err, errlen, "listener %s (%s port %u): %s", l->name,
	    l->address, l->port, strerror(errno));
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

/*
 * Whether nobody listens on <ai> yet: every loop binds its own socket with
 * SO_REUSEPORT, which would let a second process share the port and take
 * part of the connections.  A socket without it cannot bind where another
 * holds the address, so the first loop tries one first.  -1 with errno.
 */
static int
address_free(const struct addrinfo *ai)
{
	int	fd, one = 1, rc = -1;

	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    (ai->ai_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		rc = 0;
	close(fd);
	return rc;
}

int
listener_start(struct listener *l)
{
	/* Backlog 0: listen(2) was called with the policy's in bind_socket(); a
	 * negative one would make libevent call it again with 128. */
	l->el = evconnlistener_new(l->ctx->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, l->fd);
	if (l->el == NULL)
		return -1;
	l->fd = -1;	/* the evconnlistener owns it */
	evconnlistener_set_error_cb(l->el, error_cb);
	if ((l->resume = evtimer_new(l->ctx->base, resume_cb, l)) == NULL)
		return -1;
	return 0;
}

void
listener_stop(struct listener *l)
{
	if (l->el != NULL) {
		evconnlistener_free(l->el);
		l->el = NULL;
	}
	if (l->resume != NULL)
		evtimer_del(l->resume);
}

void
listener_fini(struct listener *l)
{
	listener_stop(l);
	if (l->resume != NULL) {
		event_free(l->resume);
		l->resume = NULL;
	}
	if (l->fd != -1) {
		close(l->fd);
		l->fd = -1;
	}
}

static void
accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener		*l = arg;
	struct session_ctx	*ctx = l->ctx;
	struct limits_conn	 lc;
	enum limits_refusal	 r;
	uint64_t		 now;
	bool			 proxied = l->pl->proxy_protocol != PROXY_OFF;

	(void)el;
	(void)salen;
	if (ctx->stopping) {
		close(fd);
		return;
	}
	turn_count(l);
	now = util_now_ms();
	if (proxied && !proxy_cidr_match(l->pl->trusted_proxies,
	    l->pl->n_trusted_proxies, sa)) {
		/*
		 * Only a load balancer may say who the client is: anyone
		 * else is closed before a byte of theirs is read.
		 */
		close(fd);
		metrics_add(M_PROXY_UNTRUSTED, 1);
		refused_log(l, sa, "proxy.refused", "not in trusted_proxies "
		    "(a PROXY protocol listener)", now);
		return;
	}
	if (handshake_admit(l, sa, now) == -1) {
		/* Not a byte read: a refusal costs an accept and a close. */
		close(fd);
		metrics_refused(l->idx, LIMITS_HANDSHAKE);
		refused_log(l, sa, "limit.hit",
		    limits_refusal_str(LIMITS_HANDSHAKE), now);
		return;
	}
	r = admit(l, sa, now, &lc);
	/*
	 * The budget of connections not yet authenticated is full: a
	 * newcomer from a network holding fewer of them than the one holding
	 * the most takes the place of that network's oldest.  Behind a
	 * balancer the newcomer's network is not known yet.
	 */
	if (r == LIMITS_UNAUTHENTICATED && session_ctx_evict(ctx, l->pl,
	    proxied ? NULL : sa) == 0)
		r = admit(l, sa, now, &lc);
	if (r != LIMITS_OK) {
		/* Closed before any TLS work: the cheapest refusal. */
		close(fd);
		metrics_refused(l->idx, r);
		refused_log(l, sa, "limit.hit", limits_refusal_str(r), now);
		return;
	}
	session_new(ctx, l->pl, fd, sa, &lc);
}

/*
 * The accept-time caps.  On a PROXY protocol listener <sa> is the
 * balancer's: the per-address caps wait for the client's address, in the
 * header (session_proxy.c).
 */
static enum limits_refusal
admit(struct listener *l, const struct sockaddr *sa, uint64_t now,
    struct limits_conn *lc)
{
	struct session_ctx	*ctx = l->ctx;

	if (l->pl->proxy_protocol == PROXY_OFF)
		return limits_admit(ctx->limits, &l->pl->limits,
		    ctx->pol->limits.max_connections, l->idx,
		    l->pl->max_connections, sa, now, lc);
	return limits_admit_conn(ctx->limits, &l->pl->limits,
	    ctx->pol->limits.max_connections, l->idx, l->pl->max_connections,
	    lc);
}

/*
 * The loop's TLS handshake budget (limits.handshake_budget): 0 when the
 * connection from <sa> may start a handshake, -1 when it is to be closed
 * unread.  The budget learns first what the handshakes since the last
 * accept cost.  A network whose share is spent still gets in from an
 * address where somebody logged in recently; asked only then, since it
 * takes the authentication guard's lock.  Behind a PROXY protocol
 * balancer the client's address is not known yet: not judged here.
 */
static int
handshake_admit(struct listener *l, const struct sockaddr *sa, uint64_t now)
{
	unsigned		 pct = l->ctx->pol->limits.handshake_budget;
	struct tls_hs_stats	 st;
	uint8_t			 net[17];
	enum limits_hs_verdict	 v;

	if (l->hs == NULL || pct == 0 || !l->pl->tls ||
	    l->pl->proxy_protocol != PROXY_OFF)
		return 0;
	tls_handshake_stats(&st);
	limits_hs_measure(l->hs, st.ns, st.count, st.wait_min_ms, now);
	limits_network_key(sa, &l->pl->limits, net);
	v = limits_hs_admit(l->hs, pct, net, false, now);
	if (v == LIMITS_HS_OK)
		return 0;
	if (!known_address(l, sa, now))
		return -1;
	return limits_hs_admit(l->hs, pct, net, true, now) == LIMITS_HS_OK ?
	    0 : -1;
}

/* Whether somebody logged in from <sa> within auth.lockout.known_device. */
static bool
known_address(struct listener *l, const struct sockaddr *sa, uint64_t now)
{
	char	host[UTIL_ADDR_MAX];

	if (l->ctx->guard == NULL || util_addr_str(sa, false, host,
	    sizeof(host)) == -1)
		return false;
	return auth_guard_known(l->ctx->guard, NULL, host, now,
	    l->ctx->pol->auth.known_device_ms);
}

/*
 * Counts an accept in this turn of the loop (told apart by the loop's
 * cached time, which libevent updates once a turn).  At the bound, the
 * listener stops until a timer of zero fires, that is after the next poll
 * and the established sessions' I/O it finds: a flood of connections
 * costs the loop at most LISTENER_ACCEPTS_PER_TURN sessions made a turn.
 */
static void
turn_count(struct listener *l)
{
	struct timeval	now, zero = { 0, 0 };

	if (event_base_gettimeofday_cached(l->ctx->base, &now) == -1 ||
	    now.tv_sec != l->turn.tv_sec || now.tv_usec != l->turn.tv_usec) {
		l->turn = now;
		l->turn_accepts = 0;
	}
	if (++l->turn_accepts < LISTENER_ACCEPTS_PER_TURN)
		return;
	l->turn_accepts = 0;
	evconnlistener_disable(l->el);
	evtimer_add(l->resume, &zero);
}

/*
 * One line per refusal (<event>, because <why>), but at most one a second
 * per listener: a flood of refused connections must not become a flood of
 * log lines.  The lines skipped are counted in the next one.
 */
static void
refused_log(struct listener *l, const struct sockaddr *sa, const char *event,
    const char *why, uint64_t now)
{
	char			host[UTIL_ADDR_MAX];
	struct log_field	f[6];

	if (now - l->refused_logged < 1000) {
		l->refused_quiet++;
		return;
	}
	if (util_addr_str(sa, false, host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "?");
	f[0] = (struct log_field)LOG_STR("listener", l->pl->name);
	f[1] = (struct log_field)LOG_STR("src_ip", host);
	f[2] = (struct log_field)LOG_UINT("src_port", util_addr_port(sa));
	f[3] = (struct log_field)LOG_STR("action", "accept");
	f[4] = (struct log_field)LOG_STR("reason", why);
	f[5] = (struct log_field)LOG_UINT("not_logged", l->refused_quiet);
	log_event(LOG_LVL_WARN, event, f, 6, "%s: listener %s: refused %s: "
	    "%s (%" PRIu64 " more refusals not logged)", strcmp(event,
	    "limit.hit") == 0 ? "limits" : "proxy", l->pl->name, host, why,
	    l->refused_quiet);
	l->refused_logged = now;
	l->refused_quiet = 0;
}

/*
 * Out of descriptors: accept() would fail again at once and spin.  Pause
 * this listener briefly; pending connections wait in the backlog.  A
 * shortage that lasts pauses five times a second: the warning is logged
 * at most once a second per listener, with the pauses not logged since.
 */
static void
error_cb(struct evconnlistener *el, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { 0, LISTENER_PAUSE_MS * 1000 };
	int		 err = EVUTIL_SOCKET_ERROR();
	uint64_t	 now;

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		now = util_now_ms();
		if (l->paused_logged == 0 || now - l->paused_logged >= 1000) {
			log_warnx("listener %s: accept: %s; pausing %dms "
			    "(%" PRIu64 " more pauses not logged)",
			    l->pl->name, strerror(err), LISTENER_PAUSE_MS,
			    l->paused_quiet);
			l->paused_logged = now;
			l->paused_quiet = 0;
		} else
			l->paused_quiet++;
		metrics_add(M_ACCEPT_PAUSED, 1);
		evconnlistener_disable(el);
		evtimer_add(l->resume, &tv);
	} else
		log_warnx("listener %s: accept: %s", l->pl->name,
		    strerror(err));
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	(void)fd;
	(void)what;
	if (l->el != NULL)
		evconnlistener_enable(l->el);
}
