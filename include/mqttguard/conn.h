/* SPDX-License-Identifier: ISC */
/*
 * conn — one non-blocking stream socket, plain or TLS, driven directly on
 * a libevent loop: the transport under a session's two sides.
 *
 * A conn owns its fd, its SSL (a server one for a client, a client one
 * towards a TLS broker), an input and an output evbuffer, and two events:
 * a persistent read event, added once and removed only while reading is
 * paused; and a write event, made on first need, added only after a
 * short write (or while a connect or handshake waits to write) and
 * removed once the output drained.  The conns of one event loop share a
 * conn_loop: scratch buffers, and a flush event activated (no system
 * call) when bytes are queued, so that every frame queued in one loop
 * turn goes out in one writev(), or one SSL_write() per 16 KiB TLS
 * record, once the callbacks of that turn have run.
 *
 * Reads go until EAGAIN, a short read, or the read window (the input's
 * high watermark): no FIONREAD, no per-turn cap.  The callbacks mirror a
 * bufferevent's: <read> after bytes were added to the input, <write>
 * after a flush left the output at or below the low watermark, <event>
 * with CONN_EV_* flags (CONNECTED once a connect, and a TLS handshake if
 * any, is done; EOF, ERROR or TIMEOUT with READING or WRITING).  An end
 * of stream is reported after the bytes read before it, and only while
 * reading is enabled.  Nothing here knows MQTT or sessions; nothing logs:
 * errors are kept for the caller (conn_ssl_error(), conn_dns_error(),
 * errno at the event callback).  One loop, one thread: a conn never
 * moves.  Callbacks may change the conn but never free it: the owner
 * frees it from a fresh callback (the session's reaper).
 */
#ifndef MQTTGUARD_CONN_H
#define MQTTGUARD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#define CONN_READ_CHUNK		16384	/* one read(), one TLS record */
#define CONN_WRITE_IOV		64	/* chains in one writev() */

/* The <event> callback's flags; their values are libevent's BEV_EVENT_*. */
#define CONN_EV_READING		0x01
#define CONN_EV_WRITING		0x02
#define CONN_EV_EOF		0x10
#define CONN_EV_ERROR		0x20
#define CONN_EV_TIMEOUT		0x40
#define CONN_EV_CONNECTED	0x80

struct conn;
struct conn_loop;

typedef void	(*conn_data_cb)(struct conn *, void *);
typedef void	(*conn_event_cb)(struct conn *, short, void *);

/*
 * What the conns of the loop <base> share.  Freed after its last conn.
 * NULL on ENOMEM.
 */
struct conn_loop *conn_loop_new(struct event_base *base);
void		 conn_loop_free(struct conn_loop *l);

/*
 * A conn on <loop>.  <fd> (-1: conn_connect() makes one) is a connected
 * socket, made non-blocking here; <ssl> (NULL: plain) a server or client
 * SSL whose handshake starts at once on <fd>, or once conn_connect()'s
 * TCP connect is done.  Both become the conn's, on success only: NULL on
 * failure (ENOMEM), the fd and SSL still the caller's.  Reading starts
 * disabled: conn_read_enable().
 */
struct conn	*conn_new(struct conn_loop *loop, int fd, SSL *ssl);
/* Closes the fd, frees the SSL, the buffers, a pending lookup.  NULL: no-op. */
void		 conn_free(struct conn *c);
void		 conn_setcb(struct conn *c, conn_data_cb read,
		    conn_data_cb write, conn_event_cb event, void *arg);

struct evbuffer	*conn_input(struct conn *c);
struct evbuffer	*conn_output(struct conn *c);
/* The fd (-1 before a connect made one), the SSL (NULL: plain). */
int		 conn_fd(const struct conn *c);
SSL		*conn_ssl(const struct conn *c);

/*
 * Queue <len> bytes of <data>, or the first <len> bytes of <from> (their
 * chains move where they can), for the next flush.  -1 on ENOMEM.
 */
int		 conn_write(struct conn *c, const void *data, size_t len);
int		 conn_move(struct conn *c, struct evbuffer *from, size_t len);
/* Bytes the caller added to conn_output() itself: flushed as those are. */
void		 conn_output_added(struct conn *c);
/*
 * Writes the output now, as far as the socket takes it; the write event
 * is armed only if it did not take it all.  The flush event calls it.
 */
void		 conn_flush(struct conn *c);

/* Reading on or off (a hold, backpressure, a close). */
void		 conn_read_enable(struct conn *c, bool on);
/* Reading stops while the input holds <wm> bytes or more (0: no limit). */
void		 conn_set_read_wm(struct conn *c, size_t wm);
/* <write> runs once a flush leaves <lowat> bytes or fewer queued. */
void		 conn_set_write_lowat(struct conn *c, size_t lowat);
/* Nothing read for <tv> while reading: CONN_EV_TIMEOUT. NULL: none. */
void		 conn_set_read_timeout(struct conn *c, const struct timeval *tv);
/* The loop priority of the conn's events.  -1 on failure. */
int		 conn_set_priority(struct conn *c, int prio);
/* No callback ever again; events removed.  Freeing stays the owner's. */
void		 conn_stop(struct conn *c);

/*
 * Resolves <host> (evdns on <dns>; NULL: the system's resolver, blocking)
 * and connects to its first address, <port>.  The outcome comes through
 * the event callback, possibly before this returns: CONNECTED (after the
 * TLS handshake, with an SSL), or ERROR (conn_dns_error(), errno).
 * Returns 0, or -1 with errno if nothing could be started.
 */
int		 conn_connect(struct conn *c, struct evdns_base *dns,
		    const char *host, uint16_t port);
/* The resolver's error (EVUTIL_EAI_*), 0 if none. */
int		 conn_dns_error(const struct conn *c);
/* The last OpenSSL error of a failed handshake, read or write, or 0. */
unsigned long	 conn_ssl_error(const struct conn *c);
/* Nothing more can be written: a write, the handshake or the connect failed. */
bool		 conn_failed(const struct conn *c);

/*
 * The closing half: TLS close_notify (once the handshake is done), then
 * FIN; from then on what the peer still sends is read and dropped (the
 * read callback no longer runs) until its end, which the event callback
 * reports.  -1 when the socket cannot be shut (no fd, an error): nothing
 * more can be delivered.
 */
int		 conn_shutdown(struct conn *c);

#endif
