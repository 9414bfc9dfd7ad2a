/* SPDX-License-Identifier: ISC */
/*
 * listener — listening sockets and accepting connections.
 *
 * Each worker binds its own socket per policy listener with SO_REUSEPORT;
 * the kernel spreads new connections across them.  On EMFILE/ENFILE the
 * listener pauses accepting for a moment instead of spinning, and the
 * accepted fd goes straight to a new session.
 */
#ifndef MQTTGUARD_LISTENER_H
#define MQTTGUARD_LISTENER_H

#include <stddef.h>

#include "mqttguard/policy.h"
#include "mqttguard/worker.h"

/*
 * Binds and listens on <l>'s address and port.  Returns the socket, or -1
 * with a message in <err> (e.g. the address is in use).
 */
int	listener_bind(const struct policy_listener *l, char *err,
	    size_t errlen);

/* Starts accepting on w->fds[idx] for listener idx.  -1 on failure. */
int	listener_attach(struct worker *w, size_t idx);

#endif
