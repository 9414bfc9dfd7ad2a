/* SPDX-License-Identifier: ISC */
/*
 * listener — bind, listen, accept.
 *
 * Sockets are bound before any worker starts, so an address in use is a
 * start-up error with a clear message, not a thread that dies later.  The
 * accept callback only hands the fd to session_new(); accept-time caps will
 * sit here, before any TLS work is spent on a connection.
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

#include "mqttguard/limits.h"
#include "mqttguard/listener.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/session.h"
#include "mqttguard/util.h"

#define LISTENER_PAUSE_MS	200	/* after EMFILE/ENFILE */

static void	accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	error_cb(struct evconnlistener *, void *);
static void	resume_cb(evutil_socket_t, short, void *);
static void	refused_log(struct worker *, const struct policy_listener *,
		    const struct sockaddr *, enum limits_refusal, uint64_t);

int
listener_bind(const struct policy_listener *l, char *err, size_t errlen)
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

int
listener_attach(struct worker *w, size_t idx)
{
	struct evconnlistener	*el;

	el = evconnlistener_new(w->base, accept_cb, w,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, w->fds[idx]);
	if (el == NULL)
		return -1;
	w->fds[idx] = -1;	/* the listener owns it */
	evconnlistener_set_error_cb(el, error_cb);
	w->listeners[idx] = el;
	w->resume[idx] = evtimer_new(w->base, resume_cb, el);
	if (w->resume[idx] == NULL)
		return -1;
	return 0;
}

static void
accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct worker		*w = arg;
	const struct policy_listener *lis;
	struct limits_conn	 lc;
	enum limits_refusal	 r;
	uint64_t		 now;
	size_t			 i;

	for (i = 0; i < w->pol->n_listeners; i++)
		if (w->listeners[i] == el)
			break;
	if (i == w->pol->n_listeners || w->stopping) {
		close(fd);
		return;
	}
	now = util_now_ms();
	lis = &w->pol->listeners[i];
	r = limits_admit(w->limits, &lis->limits, w->pol->limits.max_connections,
	    (unsigned)i, lis->max_connections, sa, now, &lc);
	if (r != LIMITS_OK) {
		/* Closed before any TLS work: the cheapest refusal. */
		close(fd);
		metrics_add(M_CONN_REFUSED, 1);
		refused_log(w, lis, sa, r, now);
		return;
	}
	session_new(w, lis, fd, sa, (socklen_t)salen, &lc);
}

/*
 * One line per refusal, but at most one a second per worker: a flood of
 * refused connections must not become a flood of log lines.  The lines
 * skipped are counted in the next one.
 */
static void
refused_log(struct worker *w, const struct policy_listener *l,
    const struct sockaddr *sa, enum limits_refusal r, uint64_t now)
{
	char	host[UTIL_ADDR_MAX];

	if (now - w->refused_logged < 1000) {
		w->refused_quiet++;
		return;
	}
	if (util_addr_str(sa, false, host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "?");
	log_warnx("limits: listener %s: refused %s: %s (%" PRIu64 " more "
	    "refusals not logged)", l->name, host, limits_refusal_str(r),
	    w->refused_quiet);
	w->refused_logged = now;
	w->refused_quiet = 0;
}

/*
 * Out of descriptors: accept() would fail again at once and spin.  Pause
 * this listener briefly; pending connections wait in the backlog.
 */
static void
error_cb(struct evconnlistener *el, void *arg)
{
	struct worker	*w = arg;
	struct timeval	 tv = { 0, LISTENER_PAUSE_MS * 1000 };
	int		 err = EVUTIL_SOCKET_ERROR();
	size_t		 i;

	for (i = 0; i < w->pol->n_listeners; i++)
		if (w->listeners[i] == el)
			break;
	if (i == w->pol->n_listeners)
		return;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		log_warnx("listener %s: accept: %s; pausing %dms",
		    w->pol->listeners[i].name, strerror(err),
		    LISTENER_PAUSE_MS);
		metrics_add(M_ACCEPT_PAUSED, 1);
		evconnlistener_disable(el);
		evtimer_add(w->resume[i], &tv);
	} else
		log_warnx("listener %s: accept: %s",
		    w->pol->listeners[i].name, strerror(err));
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}
