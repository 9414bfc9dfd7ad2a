/* SPDX-License-Identifier: ISC */
/*
 * session_close — the single way a session ends, and its freeing.
 *
 * session_close() with flush delivers what is queued towards each peer,
 * then half-closes each side (TLS close_notify, FIN) and reads and drops
 * what the peer still sends until it closes too, bounded by a linger
 * deadline: closing a socket with unread bytes would send a reset, and a
 * reset makes the peer's kernel drop what its application has not read
 * (the broker would lose the last PUBLISH before a DISCONNECT).  Without
 * flush, or once both sides are finished, the session is dead: off the
 * live list, its counts and claims released, freed later by the loop at
 * a safe point (session_ctx.c).  Closing twice is harmless.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/session_priv.h"
#include "mqttguard/ws.h"

#define SESSION_LINGER_MS	3000	/* flush before close */

static void	half_close(struct session *, enum codec_dir);

/* ---- closing ----------------------------------------------------------- */

void
session_close(struct session *s, const char *reason, bool flush)
{
	struct timeval	linger = { SESSION_LINGER_MS / 1000,
			    (SESSION_LINGER_MS % 1000) * 1000 };

	if (s->state == SS_DEAD)
		return;
	if (s->reason == NULL)
		s->reason = reason;
	if (s->state == SS_CLOSING) {
		if (!flush)
			session_dead(s);
		return;
	}
	if (!flush || s->down == NULL) {
		session_dead(s);
		return;
	}
	session_ws_close(s);	/* WebSocket hook: the close frame, last */
	s->state = SS_CLOSING;
	conn_read_enable(s->down, false);
	conn_set_write_lowat(s->down, 0);
	if (s->up != NULL) {
		conn_read_enable(s->up, false);
		conn_set_write_lowat(s->up, 0);
	}
	evtimer_add(s->timer, &linger);
	session_finish_flush(s);
}

/*
 * A side is finished while closing: its peer closed (after our FIN, or on
 * its own), or failed.  Nothing more can be delivered to it.
 */
void
session_side_done(struct session *s, enum codec_dir dir)
{
	struct conn	*c = session_side(s, dir);

	s->done[dir] = true;
	if (c == NULL)
		return;
	conn_stop(c);
	evbuffer_drain(conn_output(c), evbuffer_get_length(conn_output(c)));
}

/*
 * Sends FIN on a side whose output has drained (TLS: close_notify first),
 * then keeps reading and discarding until the peer closes too.  Closing a
 * socket with unread bytes would send a reset instead, and a reset makes
 * the peer's kernel drop what its application has not read yet: the
 * broker would lose the last PUBLISH before a DISCONNECT.
 */
static void
half_close(struct session *s, enum codec_dir dir)
{
	s->shut[dir] = true;
	if (conn_shutdown(session_side(s, dir)) == -1)
		session_side_done(s, dir);
}

/*
 * Called while closing whenever something changes: an output drained, a
 * peer closed.  Each side whose output is empty is half-closed; when both
 * sides are finished the session is dead.  The linger timer bounds it all.
 */
void
session_finish_flush(struct session *s)
{
	enum codec_dir	 dir;
	struct conn	*c;

	if (s->state != SS_CLOSING)
		return;
	if (s->up == NULL || !s->up_connected)
		s->done[CODEC_FROM_SERVER] = true;
	for (dir = CODEC_FROM_CLIENT; dir <= CODEC_FROM_SERVER; dir++) {
		c = session_side(s, dir);
		if (s->done[dir] || s->shut[dir] || c == NULL)
			continue;
		if (conn_failed(c))
			session_side_done(s, dir);	/* its error is reported */
		else if (evbuffer_get_length(conn_output(c)) == 0)
			half_close(s, dir);
	}
	if (s->done[CODEC_FROM_CLIENT] && s->done[CODEC_FROM_SERVER])
		session_dead(s);
}

/* Takes the session off the live list; the worker frees it soon. */
void
session_dead(struct session *s)
{
	struct session_ctx	*ctx = s->ctx;
	struct enforce_env	 env;
	struct timeval		 now;
	double			 secs;
	struct log_field	 f[AUDIT_FIELDS + 6];
	size_t			 nf;

	if (s->state == SS_DEAD)
		return;
	s->state = SS_DEAD;
	evtimer_del(s->timer);
	if (s->proxy_ev != NULL)
		event_del(s->proxy_ev);
	if (s->down != NULL)
		conn_stop(s->down);
	if (s->up != NULL)
		conn_stop(s->up);
	gettimeofday(&now, NULL);
	secs = (double)(now.tv_sec - s->started.tv_sec) +
	    (double)(now.tv_usec - s->started.tv_usec) / 1e6;
	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_STR("reason", s->quiet ? "probe" :
	    s->reason ? s->reason : "closed");
	f[nf++] = (struct log_field)LOG_UINT("frames_in",
	    s->frames[CODEC_FROM_CLIENT]);
	f[nf++] = (struct log_field)LOG_UINT("frames_out",
	    s->frames[CODEC_FROM_SERVER]);
	f[nf++] = (struct log_field)LOG_UINT("bytes_in",
	    s->bytes[CODEC_FROM_CLIENT]);
	f[nf++] = (struct log_field)LOG_UINT("bytes_out",
	    s->bytes[CODEC_FROM_SERVER]);
	f[nf++] = (struct log_field)LOG_DOUBLE("seconds", secs);
	if (s->quiet)
		log_event(LOG_LVL_DEBUG, "session.close", f, nf, "session %"
		    PRIu64 " %s: closed: %s", s->id, s->peer, s->reason);
	else
		log_event(LOG_LVL_INFO, "session.close", f, nf, "session %"
		    PRIu64 " %s: closed: %s (client_id \"%s\", frames in %"
		    PRIu64 " out %" PRIu64 ", bytes in %" PRIu64 " out %"
		    PRIu64 ", %.1fs)", s->id, s->peer, s->reason ? s->reason :
		    "closed", s->client_id, s->frames[CODEC_FROM_CLIENT],
		    s->frames[CODEC_FROM_SERVER], s->bytes[CODEC_FROM_CLIENT],
		    s->bytes[CODEC_FROM_SERVER], secs);
	metrics_session_close(s->lis->index, s->authed);
	evtimer_del(s->rate_ev);
	limits_release(ctx->limits, &s->lc);
	/* The user's caps and the client id are free for others now. */
	session_env(s, &env);
	enforce_fini(&s->es, &env);
	TAILQ_REMOVE(&ctx->sessions, s, entry);
	TAILQ_INSERT_TAIL(&ctx->dead, s, entry);
	ctx->n_sessions--;
	event_active(ctx->reap_ev, EV_READ, 0);
}

void
session_shutdown(struct session *s)
{
	if (s->state == SS_DEAD || s->state == SS_CLOSING)
		return;
	session_send_disconnect(s, 0x8B);	/* server shutting down */
	s->ws_code = WS_CLOSE_GOING_AWAY;	/* WebSocket hook */
	session_close(s, "mqttguard is stopping", true);
}

void
session_free(struct session *s)
{
	struct enforce_env	env;

	conn_free(s->down);
	if (s->proxy_ev != NULL)
		event_free(s->proxy_ev);
	free(s->proxy_buf);
	if (s->fd != -1)
		close(s->fd);	/* SS_PROXY: no conn had it yet */
	conn_free(s->up);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->rate_ev != NULL)
		event_free(s->rate_ev);
	codec_session_fini(&s->cs);
	session_ws_free(s);	/* WebSocket hook */
	session_hello_free(s);
	session_env(s, &env);
	enforce_fini(&s->es, &env);
	policy_unref(s->pol);
	free(s);
}
