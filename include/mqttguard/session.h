/* SPDX-License-Identifier: ISC */
/*
 * session — one client connection and its upstream connection.
 *
 * The per-connection state machine and the only glue between I/O and the
 * codec: two bufferevents (downstream: the client, TLS or plain; upstream:
 * the broker), backpressure between them, deadlines, and the single close
 * path, session_close().
 */
#ifndef MQTTGUARD_SESSION_H
#define MQTTGUARD_SESSION_H

#include <sys/socket.h>

#include "mqttguard/policy.h"
#include "mqttguard/worker.h"

/*
 * Takes ownership of the accepted socket <fd> from <sa> on listener <lis> of
 * worker <w>, and of the connection counts <lc> it was admitted with, and
 * starts the session (TLS handshake first if the listener has TLS).  On
 * failure the fd is closed, the counts released and the reason logged.
 */
void	session_new(struct worker *w, const struct policy_listener *lis,
	    int fd, const struct sockaddr *sa, socklen_t salen,
	    const struct limits_conn *lc);

/*
 * Ends a session with <reason> (a static string, logged).  With <flush>,
 * what is already queued towards each peer is delivered first (bounded by a
 * linger deadline).  Safe inside callbacks; closing twice is harmless.  The
 * memory is freed later, at a safe point, by the worker.
 */
void	session_close(struct session *s, const char *reason, bool flush);

/*
 * Asks every session of <w> to end because the daemon stops: each gets a
 * 5.0 DISCONNECT 0x8B (server shutting down) where it may, then a flushed
 * close.
 */
void	session_shutdown_all(struct worker *w);

/*
 * On the worker's thread: the password check of a session is finished
 * (or cancelled); acts on it and frees <job>.
 */
void	session_auth_done(struct auth_job *job);

/* Ends every session of <w> at once, without flushing. */
void	session_close_all(struct worker *w);

/* Frees the dead sessions of <w>; only the worker calls this, from an
 * event of its own, never from inside a session's callback. */
void	session_reap(struct worker *w);

#endif
