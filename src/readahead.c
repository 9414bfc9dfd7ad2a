/* SPDX-License-Identifier: ISC */
/*
 * readahead — reads ahead of libevent 2.1 into a bufferevent's input.
 *
 * Called by session.c from a read callback or after a pump, never while
 * libevent itself reads the same bufferevent.  Bytes are committed into
 * the input evbuffer as libevent would commit them; the end of a stream
 * or an error is returned, not acted on, so the caller can handle the
 * frames read before it first.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mqttguard/readahead.h"

short
readahead_tls(struct bufferevent *bev, size_t window, char *err,
    size_t errlen)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(bev);
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	unsigned long		 e;
	int			 r, code;

	err[0] = '\0';
	while (evbuffer_get_length(in) < window) {
		if (evbuffer_reserve_space(in, READAHEAD_TLS_RECORD, &v,
		    1) != 1)
			return 0;
		if ((r = SSL_read(ssl, v.iov_base, (int)v.iov_len)) > 0) {
			v.iov_len = (size_t)r;
			evbuffer_commit_space(in, &v, 1);
			continue;
		}
		evbuffer_commit_space(in, &v, 0);
		code = SSL_get_error(ssl, r);
		if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
			return 0;
		if (code == SSL_ERROR_ZERO_RETURN)
			return BEV_EVENT_READING | BEV_EVENT_EOF;
		/* The thread's error queue is shared: empty it now. */
		if ((e = ERR_get_error()) != 0)
			ERR_error_string_n(e, err, errlen);
		ERR_clear_error();
		return code == SSL_ERROR_SYSCALL && r == 0 ?
		    BEV_EVENT_READING | BEV_EVENT_EOF :
		    BEV_EVENT_READING | BEV_EVENT_ERROR;
	}
	return 0;
}

short
readahead_sock(struct bufferevent *bev, size_t window)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	size_t			 have = evbuffer_get_length(in);
	ssize_t			 r;
	int			 n, i;

	if (have < READAHEAD_SOCK_FULL || have >= window)
		return 0;
	if ((n = evbuffer_reserve_space(in, (ev_ssize_t)(window - have), v,
	    2)) <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	if ((r = readv(bufferevent_getfd(bev), iov, n)) <= 0) {
		evbuffer_commit_space(in, v, 0);
		if (r == 0)
			return BEV_EVENT_READING | BEV_EVENT_EOF;
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 0 : BEV_EVENT_READING | BEV_EVENT_ERROR;
	}
	if ((size_t)r <= v[0].iov_len) {
		v[0].iov_len = (size_t)r;
		n = 1;
	} else
		v[1].iov_len = (size_t)r - v[0].iov_len;
	evbuffer_commit_space(in, v, n);
	return 0;
}
