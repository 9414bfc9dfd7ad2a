/* SPDX-License-Identifier: ISC */
/*
 * conn — a socket and its optional SSL, driven on the event loop without
 * bufferevents (see conn.h for the contract).
 *
 * Why not bufferevents on this path: libevent 2.1's socket bufferevent
 * asks FIONREAD before every read and adds and deletes its write event
 * on every output cycle (an epoll_ctl() each way), and its OpenSSL
 * bufferevent hands each evbuffer chain to its own SSL_write(), one TLS
 * record a chain.  A relay forwarding small frames pays all of it per
 * frame.  Here the read event is added once, the write event only after
 * a short write, and a flush writes what one loop turn queued: one
 * writev() of the chains, or one SSL_write() per 16 KiB record.
 *
 * Invariants: <rarmed>/<warmed> say whether the read/write events are
 * added (update() and arm_write() are the only places that add them);
 * <end> is an end of stream read but not yet reported, <ended> that the
 * read side is finished; callbacks never run after conn_stop().  The
 * scratch buffers are per thread: a conn lives on one loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mqttguard/conn.h"

struct conn_loop {
	struct event_base	*base;		/* the caller's */
	struct event		*fev;		/* owned; runs the flushes */
	TAILQ_HEAD(, conn)	 flushq;	/* conns with bytes queued */
	unsigned char		 rbuf[CONN_READ_CHUNK];	/* a read's */
	unsigned char		 wbuf[CONN_READ_CHUNK];	/* a record's */
};

struct conn {
	struct conn_loop	*loop;		/* the caller's */
	TAILQ_ENTRY(conn)	 fentry;	/* loop's flushq, if pending */
	int			 fd;		/* owned; -1 before connect */
	SSL			*ssl;		/* owned; NULL: plain */
	struct evbuffer		*in, *out;	/* owned */
	struct event		*rev;		/* owned; NULL without fd */
	struct event		*wev;		/* owned; made on first use */
	struct evdns_getaddrinfo_request *dns_req;	/* pending lookup */
	conn_data_cb		 readcb, writecb;
	conn_event_cb		 eventcb;
	void			*arg;
	struct timeval		 rto;		/* read timeout, if has_rto */
	size_t			 rwm;		/* input high watermark; 0 */
	size_t			 wlowat;	/* write callback at or below */
	int			 wpend;		/* TLS: a write to retry */
	int			 prio;		/* -1: the loop's default */
	int			 dns_err;
	int			 sys_err;	/* errno of the failure */
	unsigned long		 ssl_err;	/* OpenSSL's, of the failure */
	short			 end;		/* read, to report */
	short			 last_end;	/* reported */
	bool			 has_rto;
	bool			 reading;	/* enabled by the owner */
	bool			 connecting;	/* lookup or TCP connect */
	bool			 handshaking;
	bool			 ended;		/* no more reads */
	bool			 failed;	/* a write failed: no more */
	bool			 stopped;
	bool			 discard;	/* shut: input dropped */
	bool			 rarmed, warmed, flush_pending;
	bool			 oom;		/* no write event: report */
	bool			 rshort;	/* TLS: the last read of the
						   socket was short */
	bool			 read_wants_write, write_wants_read;
};

static int	events_new(struct conn *);
static void	update(struct conn *);
static void	arm_write(struct conn *);
static void	disarm_write(struct conn *);
static void	schedule_flush(struct conn *);
static size_t	read_limit(const struct conn *);
static void	rev_cb(evutil_socket_t, short, void *);
static void	wev_cb(evutil_socket_t, short, void *);
static void	flush_cb(evutil_socket_t, short, void *);
static void	unqueue(struct conn *);
static void	in_cb(struct evbuffer *, const struct evbuffer_cb_info *,
		    void *);
static void	do_read(struct conn *);
static ssize_t	sock_read(struct conn *, size_t);
static ssize_t	tls_read(struct conn *, size_t);
static int	sock_flush(struct conn *);
static int	tls_flush(struct conn *);
static void	handshake(struct conn *);
static void	note_ssl_error(struct conn *, int, int);
static int	tls_set_fd(struct conn *, SSL *, int);
static long	bio_cb(BIO *, int, const char *, size_t, int, long, int,
		    size_t *);
static void	report_end(struct conn *);
static void	report(struct conn *, short);
static void	dns_cb(int, struct evutil_addrinfo *, void *);
static void	connect_addr(struct conn *, const struct sockaddr *,
		    socklen_t);
static void	connected(struct conn *);
static void	connect_failed(struct conn *, int);

struct conn_loop *
conn_loop_new(struct event_base *base)
{
	struct conn_loop	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->base = base;
	TAILQ_INIT(&l->flushq);
	if ((l->fev = event_new(base, -1, 0, flush_cb, l)) == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void
conn_loop_free(struct conn_loop *l)
{
	if (l == NULL)
		return;
	event_free(l->fev);
	free(l);
}

struct conn *
conn_new(struct conn_loop *loop, int fd, SSL *ssl)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->prio = -1;
	if ((c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL ||
	    evbuffer_add_cb(c->in, in_cb, c) == NULL ||
	    (fd != -1 && events_new(c) == -1) ||
	    (ssl != NULL && fd != -1 && tls_set_fd(c, ssl, fd) == -1)) {
		ERR_clear_error();
		c->fd = -1;	/* still the caller's */
		conn_free(c);
		return NULL;
	}
	if (fd != -1)
		evutil_make_socket_nonblocking(fd);
	if (ssl != NULL) {
		/* A retried SSL_write() may come from the scratch buffer. */
		SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		c->handshaking = fd != -1;
	}
	c->ssl = ssl;
	return c;
}

/*
 * The read event of c->fd.  The write event is made when first needed
 * (most connections never fill their socket).  -1: ENOMEM.
 */
static int
events_new(struct conn *c)
{
	if ((c->rev = event_new(c->loop->base, c->fd, EV_READ | EV_PERSIST,
	    rev_cb, c)) == NULL)
		return -1;
	if (c->prio >= 0)
		(void)event_priority_set(c->rev, c->prio);
	return 0;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	c->stopped = true;	/* nothing runs from the buffers' callbacks */
	if (c->dns_req != NULL)
		evdns_getaddrinfo_cancel(c->dns_req);
	unqueue(c);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	SSL_free(c->ssl);
	if (c->fd != -1)
		close(c->fd);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	free(c);
}

void
conn_setcb(struct conn *c, conn_data_cb read, conn_data_cb write,
    conn_event_cb event, void *arg)
{
	c->readcb = read;
	c->writecb = write;
	c->eventcb = event;
	c->arg = arg;
}

struct evbuffer *
conn_input(struct conn *c)
{
	return c->in;
}

struct evbuffer *
conn_output(struct conn *c)
{
	return c->out;
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

SSL *
conn_ssl(const struct conn *c)
{
	return c->ssl;
}

int
conn_dns_error(const struct conn *c)
{
	return c->dns_err;
}

unsigned long
conn_ssl_error(const struct conn *c)
{
	return c->ssl_err;
}

bool
conn_failed(const struct conn *c)
{
	return c->failed;
}

/* ---- settings ---------------------------------------------------------- */

void
conn_read_enable(struct conn *c, bool on)
{
	if (on && !c->reading && c->ended && c->end == 0 && c->last_end)
		c->end = c->last_end;	/* as a bufferevent reads it again */
	c->reading = on;
	update(c);
}

void
conn_set_read_wm(struct conn *c, size_t wm)
{
	c->rwm = wm;
	update(c);
}

void
conn_set_write_lowat(struct conn *c, size_t lowat)
{
	c->wlowat = lowat;
}

void
conn_set_read_timeout(struct conn *c, const struct timeval *tv)
{
	c->has_rto = tv != NULL;
	if (tv != NULL)
		c->rto = *tv;
	if (c->rarmed) {
		/* Only the timer moves: no epoll_ctl() for a pending event. */
		if (tv == NULL)
			event_del(c->rev);
		event_add(c->rev, tv);
	}
}

int
conn_set_priority(struct conn *c, int prio)
{
	c->prio = prio;
	if ((c->rev != NULL && event_priority_set(c->rev, prio) == -1) ||
	    (c->wev != NULL && event_priority_set(c->wev, prio) == -1))
		return -1;
	return 0;
}

void
conn_stop(struct conn *c)
{
	c->stopped = true;
	c->rarmed = c->warmed = false;
	unqueue(c);
	if (c->dns_req != NULL) {
		evdns_getaddrinfo_cancel(c->dns_req);
		c->dns_req = NULL;
	}
	if (c->rev != NULL)
		event_del(c->rev);
	if (c->wev != NULL)
		event_del(c->wev);
}

/* The input's window: reading stops at it. */
static size_t
read_limit(const struct conn *c)
{
	return c->rwm == 0 || c->discard ? SIZE_MAX : c->rwm;
}

/*
 * Adds or removes the read event as the state asks; the only place that
 * does.  An end read while reading was off, or records OpenSSL holds
 * with nothing on the socket to wake the loop, are run at once.
 */
static void
update(struct conn *c)
{
	bool	want;

	if (c->stopped || c->rev == NULL || c->connecting)
		return;
	if (c->end != 0 && c->reading) {
		event_active(c->rev, EV_READ, 1);
		return;
	}
	want = !c->ended && (c->handshaking || c->write_wants_read ||
	    (c->reading && evbuffer_get_length(c->in) < read_limit(c)));
	if (want == c->rarmed)
		return;
	c->rarmed = want;
	if (!want) {
		event_del(c->rev);
		return;
	}
	event_add(c->rev, c->has_rto && !c->handshaking ? &c->rto : NULL);
	if (c->ssl != NULL && !c->handshaking && SSL_has_pending(c->ssl))
		event_active(c->rev, EV_READ, 1);
}

/*
 * Adds the write event, made now if it never was.  Without memory for it
 * the conn fails; the read event reports it from a fresh callback.
 */
static void
arm_write(struct conn *c)
{
	if (c->warmed || c->stopped || c->fd == -1)
		return;
	if (c->wev == NULL && ((c->wev = event_new(c->loop->base, c->fd,
	    EV_WRITE | EV_PERSIST, wev_cb, c)) == NULL || (c->prio >= 0 &&
	    event_priority_set(c->wev, c->prio) == -1))) {
		c->failed = c->oom = true;
		c->sys_err = ENOMEM;
		event_active(c->rev, EV_READ, 1);
		return;
	}
	event_add(c->wev, NULL);
	c->warmed = true;
}

static void
disarm_write(struct conn *c)
{
	if (c->warmed) {
		event_del(c->wev);
		c->warmed = false;
	}
}

/* The input was drained: a paused read may go on. */
static void
in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn	*c = arg;

	(void)buf;
	if (info->n_deleted > 0 && !c->rarmed && c->reading)
		update(c);
}

/* ---- reading ----------------------------------------------------------- */

static void
rev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	if (c->stopped)
		return;
	if (c->oom) {
		c->oom = false;
		report(c, CONN_EV_WRITING | CONN_EV_ERROR);
		return;
	}
	if (c->end != 0) {
		report_end(c);
		return;
	}
	if (what == EV_TIMEOUT) {
		c->reading = false;	/* as a bufferevent does */
		update(c);
		report(c, CONN_EV_TIMEOUT | CONN_EV_READING);
		return;
	}
	if (c->handshaking) {
		handshake(c);
		return;
	}
	if (c->write_wants_read) {
		c->write_wants_read = false;
		conn_flush(c);
		if (c->stopped)
			return;
	}
	do_read(c);
}

/*
 * Reads into the input until the socket is empty (EAGAIN, or a short
 * read of a plain socket), the window is reached, or the stream ends.
 * Then the read callback, then the end if one was read.
 */
static void
do_read(struct conn *c)
{
	size_t	have, limit, want, got = 0;
	ssize_t	n;
	bool	full = false;

	c->rshort = false;
	while (!c->ended) {
		have = c->discard ? 0 : evbuffer_get_length(c->in);
		if (have >= (limit = read_limit(c))) {
			full = true;
			break;
		}
		want = limit - have < CONN_READ_CHUNK ? limit - have :
		    CONN_READ_CHUNK;
		n = c->ssl != NULL ? tls_read(c, want) : sock_read(c, want);
		if (n <= 0)
			break;
		if (!c->discard && evbuffer_add(c->in, c->loop->rbuf,
		    (size_t)n) == -1) {
			c->sys_err = ENOMEM;
			c->end = CONN_EV_ERROR | CONN_EV_READING;
			c->ended = true;
			break;
		}
		got += (size_t)n;
		/* The socket is empty: no read that would say EAGAIN. */
		if (c->ssl == NULL ? (size_t)n < want : c->rshort &&
		    !SSL_has_pending(c->ssl))
			break;
	}
	if (got > 0 && !c->discard && c->readcb != NULL && !c->stopped)
		c->readcb(c, c->arg);
	if (c->stopped)
		return;
	update(c);
	/*
	 * Stopped by the window with records OpenSSL holds, and room made
	 * since: nothing on the socket may wake the loop for them.  Not
	 * after WANT_READ: what OpenSSL holds then is a partial record.
	 */
	if (c->end != 0)
		report_end(c);
	else if (full && c->rarmed && c->ssl != NULL &&
	    SSL_has_pending(c->ssl))
		event_active(c->rev, EV_READ, 1);
}

/* One read() into the loop's rbuf: >0 bytes, 0 for nothing (or an end, set). */
static ssize_t
sock_read(struct conn *c, size_t want)
{
	ssize_t	n;

	if ((n = read(c->fd, c->loop->rbuf, want)) > 0)
		return n;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	c->sys_err = n == 0 ? 0 : errno;
	c->end = CONN_EV_READING | (n == 0 ? CONN_EV_EOF : CONN_EV_ERROR);
	c->ended = true;
	return 0;
}

/* One SSL_read() (one record at most) into the rbuf: as sock_read(). */
static ssize_t
tls_read(struct conn *c, size_t want)
{
	int	r, code;

	if ((r = SSL_read(c->ssl, c->loop->rbuf, (int)want)) > 0)
		return r;
	code = SSL_get_error(c->ssl, r);
	switch (code) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->read_wants_write = true;
		arm_write(c);
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		c->end = CONN_EV_READING | CONN_EV_EOF;
		break;
	default:
		note_ssl_error(c, code, r);
		c->end = CONN_EV_READING | (code == SSL_ERROR_SYSCALL &&
		    r == 0 && c->ssl_err == 0 ? CONN_EV_EOF : CONN_EV_ERROR);
		break;
	}
	c->ended = true;
	/* SSL_MODE_RELEASE_BUFFERS does not on these paths. */
	(void)SSL_free_buffers(c->ssl);
	return 0;
}

/*
 * <ssl> reads and writes <fd>; its socket BIO tells bio_cb() how each
 * read went.  -1 on failure (OpenSSL's queue emptied).
 */
static int
tls_set_fd(struct conn *c, SSL *ssl, int fd)
{
	BIO	*b;

	if (SSL_set_fd(ssl, fd) != 1 || (b = SSL_get_rbio(ssl)) == NULL) {
		ERR_clear_error();
		return -1;
	}
	BIO_set_callback_arg(b, (char *)c);
	BIO_set_callback_ex(b, bio_cb);
	return 0;
}

/*
 * After each read of the socket BIO: whether it returned less than
 * OpenSSL asked for (it reads ahead), so the socket is empty for now.
 */
static long
bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
    int ret, size_t *processed)
{
	struct conn	*c;

	(void)argp;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN) &&
	    (c = (struct conn *)BIO_get_callback_arg(b)) != NULL)
		c->rshort = ret > 0 && processed != NULL && *processed < len;
	return ret;
}

/*
 * Keeps the last error OpenSSL queued (as libevent reports it) and the
 * errno of a system call that failed, and empties the thread's queue.
 */
static void
note_ssl_error(struct conn *c, int code, int r)
{
	unsigned long	e;

	c->sys_err = code == SSL_ERROR_SYSCALL && r != 0 ? errno : 0;
	while ((e = ERR_get_error()) != 0)
		c->ssl_err = e;
	ERR_clear_error();
}

/* Reports the end read, once reading is on; later otherwise. */
static void
report_end(struct conn *c)
{
	short	what = c->end;

	if (!c->reading && !c->handshaking)
		return;		/* conn_read_enable() brings it back */
	c->end = 0;
	c->last_end = what;
	report(c, what);
}

static void
report(struct conn *c, short what)
{
	if (c->stopped || c->eventcb == NULL)
		return;
	errno = c->sys_err;
	c->eventcb(c, what, c->arg);
}

/* ---- writing ----------------------------------------------------------- */

int
conn_write(struct conn *c, const void *data, size_t len)
{
	if (evbuffer_add(c->out, data, len) == -1)
		return -1;
	schedule_flush(c);
	return 0;
}

int
conn_move(struct conn *c, struct evbuffer *from, size_t len)
{
	if (evbuffer_remove_buffer(from, c->out, len) != (int)len)
		return -1;
	schedule_flush(c);
	return 0;
}

void
conn_output_added(struct conn *c)
{
	if (evbuffer_get_length(c->out) > 0)
		schedule_flush(c);
}

/*
 * The flush runs once the callbacks already due this loop turn have run:
 * everything they queue goes out together.  Not while the write event is
 * armed (it flushes), nor before the connection is up.  One event for
 * the whole loop, activated without a system call.
 */
static void
schedule_flush(struct conn *c)
{
	if (c->flush_pending || c->warmed || c->stopped || c->fd == -1 ||
	    c->connecting || c->handshaking || c->failed)
		return;
	c->flush_pending = true;
	if (TAILQ_EMPTY(&c->loop->flushq))
		event_active(c->loop->fev, EV_WRITE, 1);
	TAILQ_INSERT_TAIL(&c->loop->flushq, c, fentry);
}

static void
unqueue(struct conn *c)
{
	if (c->flush_pending) {
		TAILQ_REMOVE(&c->loop->flushq, c, fentry);
		c->flush_pending = false;
	}
}

/* Flushes every conn queued, those queued meanwhile too. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_loop	*l = arg;
	struct conn		*c;

	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&l->flushq)) != NULL) {
		unqueue(c);
		conn_flush(c);
	}
}

static void
wev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	(void)what;
	if (c->stopped)
		return;
	if (c->connecting) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == EINPROGRESS)
			return;
		disarm_write(c);
		if (err != 0)
			connect_failed(c, err);
		else
			connected(c);
		return;
	}
	if (c->handshaking) {
		handshake(c);
		return;
	}
	if (c->read_wants_write) {
		c->read_wants_write = false;
		disarm_write(c);
		do_read(c);
		if (c->stopped)
			return;
	}
	conn_flush(c);
}

void
conn_flush(struct conn *c)
{
	size_t	had;
	int	r;

	if (c->stopped || c->fd == -1 || c->connecting || c->handshaking ||
	    c->failed)
		return;
	if ((had = evbuffer_get_length(c->out)) > 0) {
		r = c->ssl != NULL ? tls_flush(c) : sock_flush(c);
		if (r == -1) {
			c->failed = true;
			disarm_write(c);
			report(c, CONN_EV_WRITING | CONN_EV_ERROR);
			return;
		}
	}
	if (evbuffer_get_length(c->out) == 0 && !c->read_wants_write)
		disarm_write(c);
	if (evbuffer_get_length(c->out) < had &&
	    evbuffer_get_length(c->out) <= c->wlowat && c->writecb != NULL &&
	    !c->stopped)
		c->writecb(c, c->arg);
}

/*
 * writev() of the output's chains until it is empty or the socket takes
 * less than offered (then the write event is armed).  -1 on an error.
 */
static int
sock_flush(struct conn *c)
{
	struct evbuffer_iovec	 v[CONN_WRITE_IOV];
	struct iovec		 iov[CONN_WRITE_IOV];
	size_t			 offered;
	ssize_t			 n;
	int			 i, nv;

	while ((nv = evbuffer_peek(c->out, -1, NULL, v, CONN_WRITE_IOV)) > 0) {
		if (nv > CONN_WRITE_IOV)
			nv = CONN_WRITE_IOV;
		for (i = 0, offered = 0; i < nv; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			offered += v[i].iov_len;
		}
		if ((n = writev(c->fd, iov, nv)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->sys_err = errno;
				return -1;
			}
			n = 0;
		}
		evbuffer_drain(c->out, (size_t)n);
		if ((size_t)n < offered) {
			arm_write(c);
			break;
		}
	}
	return 0;
}

/*
 * The output in TLS records of up to 16 KiB, one SSL_write() each,
 * made contiguous in wbuf when the first chain is shorter.  A write
 * OpenSSL could not finish is retried with the same length, as it asks.
 */
static int
tls_flush(struct conn *c)
{
	struct evbuffer_iovec	 v;
	size_t			 len;
	const void		*p;
	int			 n, r, code;

	while ((len = evbuffer_get_length(c->out)) > 0) {
		n = c->wpend > 0 ? c->wpend : len < CONN_READ_CHUNK ?
		    (int)len : CONN_READ_CHUNK;
		if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
			break;
		if (v.iov_len >= (size_t)n)
			p = v.iov_base;
		else if (evbuffer_copyout(c->out, c->loop->wbuf, (size_t)n) !=
		    n)
			break;
		else
			p = c->loop->wbuf;
		if ((r = SSL_write(c->ssl, p, n)) > 0) {
			c->wpend = 0;
			evbuffer_drain(c->out, (size_t)r);
			continue;
		}
		c->wpend = n;
		code = SSL_get_error(c->ssl, r);
		if (code == SSL_ERROR_WANT_WRITE) {
			arm_write(c);
			return 0;
		}
		if (code == SSL_ERROR_WANT_READ) {
			c->write_wants_read = true;
			update(c);
			return 0;
		}
		note_ssl_error(c, code, r);
		return -1;
	}
	return 0;
}

/* ---- handshake, connect, shutdown -------------------------------------- */

/*
 * One step of the TLS handshake.  Done: CONNECTED, then what came with
 * it is read (records OpenSSL holds wake nobody) and the output flushed.
 */
static void
handshake(struct conn *c)
{
	int	r, code;

	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->handshaking = false;
		disarm_write(c);
		update(c);
		report(c, CONN_EV_CONNECTED);
		if (c->stopped)
			return;
		if (c->reading)
			do_read(c);
		conn_flush(c);
		return;
	}
	switch ((code = SSL_get_error(c->ssl, r))) {
	case SSL_ERROR_WANT_READ:
		disarm_write(c);
		update(c);
		return;
	case SSL_ERROR_WANT_WRITE:
		arm_write(c);
		return;
	case SSL_ERROR_ZERO_RETURN:
		c->last_end = CONN_EV_READING | CONN_EV_EOF;
		break;
	default:
		note_ssl_error(c, code, r);
		c->last_end = CONN_EV_READING | (code == SSL_ERROR_SYSCALL &&
		    c->ssl_err == 0 ? CONN_EV_EOF : CONN_EV_ERROR);
		break;
	}
	c->handshaking = false;
	c->ended = c->failed = true;
	(void)SSL_free_buffers(c->ssl);
	disarm_write(c);
	update(c);
	report(c, c->last_end);
}

int
conn_connect(struct conn *c, struct evdns_base *dns, const char *host,
    uint16_t port)
{
	struct evutil_addrinfo	 hints, *ai = NULL;
	struct evdns_getaddrinfo_request *req;
	char			 serv[8];
	int			 r;

	if (c->fd != -1 || c->connecting) {
		errno = EINVAL;
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(serv, sizeof(serv), "%u", port);
	c->connecting = true;
	if (dns == NULL) {
		r = evutil_getaddrinfo(host, serv, &hints, &ai);
		dns_cb(r, ai, c);
		return 0;
	}
	/* The callback may run before this returns (an address, an error). */
	if ((req = evdns_getaddrinfo(dns, host, serv, &hints, dns_cb, c)) !=
	    NULL && c->connecting && c->fd == -1)
		c->dns_req = req;
	return 0;
}

static void
dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct conn	*c = arg;

	if (result == EVUTIL_EAI_CANCEL) {	/* conn_free(): c is gone */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	c->dns_req = NULL;
	if (result != 0 || ai == NULL) {
		c->dns_err = result != 0 ? result : EVUTIL_EAI_FAIL;
		connect_failed(c, 0);
	} else
		connect_addr(c, ai->ai_addr, (socklen_t)ai->ai_addrlen);
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
}

/* A non-blocking connect to the first address; its end in wev_cb(). */
static void
connect_addr(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	int	fd;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		connect_failed(c, errno);
		return;
	}
	c->fd = fd;
	if (events_new(c) == -1 || (c->ssl != NULL &&
	    tls_set_fd(c, c->ssl, fd) == -1)) {
		ERR_clear_error();
		connect_failed(c, ENOMEM);
		return;
	}
	if (connect(fd, sa, len) == 0) {
		connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		connect_failed(c, errno);
		return;
	}
	arm_write(c);
}

static void
connected(struct conn *c)
{
	c->connecting = false;
	if (c->ssl != NULL) {
		c->handshaking = true;
		update(c);
		handshake(c);
		return;
	}
	update(c);
	report(c, CONN_EV_CONNECTED);
	conn_flush(c);
}

/* The lookup or the connect failed (<err>: its errno, 0 for a lookup). */
static void
connect_failed(struct conn *c, int err)
{
	c->connecting = false;
	c->ended = c->failed = true;
	c->sys_err = err;
	report(c, CONN_EV_ERROR);
}

int
conn_shutdown(struct conn *c)
{
	if (c->fd == -1 || c->stopped)
		return -1;
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
		/* The alert's write buffer is not released by itself. */
		(void)SSL_free_buffers(c->ssl);
	}
	if (shutdown(c->fd, SHUT_WR) == -1)
		return -1;
	c->discard = true;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	if (c->ended && c->end == 0 && c->last_end != 0)
		c->end = c->last_end;	/* the end again, for the closer */
	c->reading = true;
	update(c);
	return 0;
}
