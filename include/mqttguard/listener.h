/* SPDX-License-Identifier: ISC */
/*
 * listener — listening sockets and accepting connections.
 *
 * Each event loop binds its own socket per policy listener with
 * SO_REUSEPORT; the kernel spreads new connections across them.  The
 * accept-time caps are checked here, before any TLS work is spent; on
 * EMFILE/ENFILE the listener pauses accepting for a moment instead of
 * spinning, and an accepted fd goes straight to session_new().  At most
 * LISTENER_ACCEPTS_PER_TURN connections are taken per turn of the loop:
 * a connection flood waits in the backlog, not in front of the
 * established sessions' I/O.  On a TLS listener, a connection the loop's
 * handshake budget cannot afford (limits_hs_admit()) is closed at once,
 * before its ClientHello is read.
 */
#ifndef MQTTGUARD_LISTENER_H
#define MQTTGUARD_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/listener.h>

#include "mqttguard/policy.h"
#include "mqttguard/session.h"

#define LISTENER_ACCEPTS_PER_TURN	32	/* then the loop's other work */

/* One policy listener on one event loop. */
struct listener {
	const struct policy_listener *pl;	/* in ctx->pol */
	unsigned		 idx;		/* in ctx->pol->listeners */
	struct session_ctx	*ctx;		/* where sessions go */
	int			 fd;		/* bound; -1 once el owns it */
	struct evconnlistener	*el;		/* owned; NULL: not accepting */
	struct event		*resume;	/* owned; ends an accept pause */
	uint64_t		 refused_logged;	/* ms: last refusal line */
	uint64_t		 refused_quiet;	/* refusals not logged */
	uint64_t		 paused_logged;	/* ms: last accept-pause line */
	uint64_t		 paused_quiet;	/* accept pauses not logged */
	struct limits_hs	*hs;		/* the loop's handshake budget
						   (its owner's); NULL: none */
	struct timeval		 turn;		/* the loop turn counted */
	unsigned		 turn_accepts;	/* accepted in that turn */
};

/*
 * Binds and listens on <pl>, listener <idx> of the policy its sessions
 * will run under (so an address in use is reported before anything
 * starts, or before a reload is applied).  With <first> (the first loop
 * to bind it) the address must be free: another process listening there,
 * even with SO_REUSEPORT, is an error.  0, or -1 with a message in
 * <err>; either way listener_fini() may be called.
 */
int	listener_init(struct listener *l, struct session_ctx *ctx,
	    const struct policy_listener *pl, unsigned idx, bool first,
	    char *err, size_t errlen);
/* Starts accepting on the event loop.  -1 on ENOMEM. */
int	listener_start(struct listener *l);
/* Stops accepting; the socket is closed. */
void	listener_stop(struct listener *l);
/* Frees what listener_init() and listener_start() made. */
void	listener_fini(struct listener *l);

#endif
