/* SPDX-License-Identifier: ISC */
/*
 * session_priv — struct session, shared by session.c (one connection: the
 * frame path, events, the close path) and session_ctx.c (what the
 * sessions of one event loop share: reaping, the password-check mailbox,
 * reloads, the drain).  Nothing else includes this header
 * (scripts/depcheck.py checks it): the rest of the daemon sees sessions
 * only through session.h.
 */
#ifndef MQTTGUARD_SESSION_PRIV_H
#define MQTTGUARD_SESSION_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "mqttguard/audit.h"
#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/conn.h"
#include "mqttguard/enforce.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"
#include "mqttguard/session.h"
#include "mqttguard/util.h"

#define SESSION_ID_LOG		64	/* client id/user in logs */

enum session_state {
	SS_PROXY,	/* reading the PROXY protocol header */
	SS_HANDSHAKE,	/* TLS handshake running */
	SS_CONNECT,	/* waiting for a complete CONNECT */
	SS_AUTH,	/* CONNECT held while the password is checked */
	SS_REFUSING,	/* refused: the answer waits out the tarpit */
	SS_OPEN,	/* CONNECT forwarded; frames flow both ways */
	SS_CLOSING,	/* flushing queued bytes, then half-close */
	SS_DEAD		/* on the worker's dead list */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* ctx's sessions/dead */
	struct session_ctx	*ctx;		/* owner */
	const struct policy_listener *lis;	/* in pol */
	struct policy		*pol;		/* ref */
	uint64_t		 id;
	char			 peer[UTIL_ADDR_MAX];	/* "addr:port" */
	char			 addr[UTIL_ADDR_MAX];	/* no port */
	struct sockaddr_storage	 src;		/* the client: accept's, or
						   the PROXY header's */
	char			 client_id[SESSION_ID_LOG];
	char			 username[SESSION_ID_LOG];
	int			 fd;		/* owned in SS_PROXY, then
						   down's; -1 */
	struct event		*proxy_ev;	/* owned; SS_PROXY: readable */
	uint8_t			*proxy_buf;	/* owned; SS_PROXY: the header
						   so far, PROXY_HEADER_MAX */
	size_t			 proxy_len;	/* bytes in proxy_buf */
	struct conn		*down;		/* owned; the client; NULL in
						   SS_PROXY */
	struct conn		*up;		/* owned; NULL before CONNECT */
	bool			 up_tls;	/* TLS to the broker */
	bool			 proxy_sent;	/* upstream PROXY header out */
	struct event		*timer;		/* owned; current deadline */
	struct codec_session	 cs;
	uint8_t			*connect;	/* owned; the client's CONNECT,
						   held while it is decided */
	size_t			 connect_len;
	struct codec_packet	*hello;		/* owned; connect, decoded */
	struct auth_decision	 dec;		/* identity, once decided */
	struct auth_job		*job;		/* pending check; the pool
						   owns it until done */
	enum auth_result	 refusal;	/* SS_REFUSING: why */
	struct auth_tag		 tag;		/* the password's, for the
						   cache; wiped once used */
	bool			 tag_ok;	/* tag made: store on success */
	bool			 held;		/* SS_AUTH: accepted, in the
						   address's tarpit */
	struct enforce_state	 es;		/* identity, limits, counters */
	struct limits_conn	 lc;		/* connection counts held */
	struct event		*rate_ev;	/* owned; ends a hold */
	bool			 throttled;	/* reading paused for a rate */
	struct audit_subject	 who;		/* for audit lines */
	struct codec_limits	 lim;
	enum session_state	 state;
	const char		*reason;	/* why it closes; static */
	bool			 tls;
	bool			 heard;		/* the client sent a byte */
	bool			 quiet;		/* a probe: log at debug */
	bool			 up_connected;
	bool			 connack_ok;	/* broker accepted, told client */
	bool			 paused[2];	/* reading paused, by dir */
	short			 end[2];	/* EOF/error read ahead, by dir */
	size_t			 skip;		/* bytes of a dropped delivery
						   still to come from the broker */
	bool			 shut[2];	/* closing: FIN sent, by dir */
	bool			 done[2];	/* closing: side finished */
	size_t			 rwm[2];	/* input watermark set, by dir */
	uint64_t		 frames[2], bytes[2];
	uint64_t		 pump_ms;	/* the clock, read once per
						   pump() turn; 0: not yet */
	struct timeval		 started;
	/* MQTT over WebSockets (session_ws.c); NULL elsewhere. */
	struct ws		*ws;		/* owned; once upgraded */
	struct evbuffer		*ws_in;		/* owned; the client's MQTT
						   bytes, decoded */
	uint16_t		 ws_code;	/* close status; 0: 1000 */
	bool			 authed;	/* counted as authenticated */
	uint64_t		 connect_us;	/* CONNECT read (util_now_us) */
	uint64_t		 up_us;		/* broker connect started */
};

/*
 * session.c's, for session_ctx.c.  session_send_disconnect() sends a 5.0
 * client DISCONNECT <reason> where it may (after a CONNACK); it is a
 * no-op otherwise.  session_shutdown() ends <s> as a stopping daemon
 * does (DISCONNECT 0x8B, flushed).  session_free() frees a dead session.
 * session_auth_done() acts on a finished password check.  session_env()
 * fills what enforce.c may reach for <s>.
 */
void	session_send_disconnect(struct session *s, uint8_t reason);
void	session_shutdown(struct session *s);
void	session_free(struct session *s);
void	session_auth_done(struct auth_job *job);
void	session_env(struct session *s, struct enforce_env *env);
/*
 * Hands <fd> to the client's conn (TLS or plain) and starts
 * reading it; <after_proxy>: a PROXY header was read first.  -1 on
 * failure, the fd still the caller's.
 */
int	session_down_start(struct session *s, int fd, bool after_proxy);
/*
 * session_proxy.c's: readies the PROXY header read of <s> on <fd> (the
 * caller adds s->proxy_ev).  -1 on ENOMEM.
 */
int	session_proxy_start(struct session *s, int fd);
/*
 * session_proxy.c's: with upstream.proxy_protocol, the PROXY header goes
 * first on the broker connection s->up, just made and not yet
 * connected: queued before anything else on a plain one, written on the
 * socket between the TCP connect and the ClientHello on a TLS one.  -1
 * on failure (ENOMEM, or no header could be made).
 */
int	session_proxy_upstream(struct session *s);
/* <dir>'s side: the client's conn or the broker's (NULL). */
static inline struct conn *
session_side(struct session *s, enum codec_dir dir)
{
	return dir == CODEC_FROM_CLIENT ? s->down : s->up;
}

/*
 * session_close.c's: session_dead() takes a session off the live list
 * (freed later); session_side_done() marks a closing side finished;
 * session_finish_flush() half-closes each drained side of a closing
 * session, and ends it once both are done.  session.c's
 * session_hello_free() wipes and frees the held CONNECT.
 */
void	session_dead(struct session *s);
void	session_side_done(struct session *s, enum codec_dir dir);
void	session_finish_flush(struct session *s);
void	session_hello_free(struct session *s);
/*
 * session_ws.c's, the WebSocket hooks (websocket listeners only; each
 * call site in session*.c is marked "WebSocket hook").
 * session_ws_start(): readies <s> for its upgrade, -1 on ENOMEM.
 * session_ws_input(): the client's MQTT bytes for pump(), NULL while the
 * upgrade is pending or when the session ends.  session_ws_more(): raw
 * bytes wait to be decoded.  session_ws_send(): MQTT bytes to the client
 * (moved from <from>, or copied from <buf>), -1 on failure.
 * session_ws_close(): the close frame, on a flushed close.
 * session_ws_free(): frees what session_ws_start() and the upgrade made.
 */
int	session_ws_start(struct session *s);
struct evbuffer *session_ws_input(struct session *s);
bool	session_ws_more(struct session *s);
int	session_ws_send(struct session *s, struct evbuffer *from,
	    const void *buf, size_t n);
void	session_ws_close(struct session *s);
void	session_ws_free(struct session *s);
/* session_ctx.c's, for session.c: hands a finished check to its loop. */
void	session_ctx_auth_post(struct auth_job *job);

#endif
