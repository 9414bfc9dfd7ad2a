/* SPDX-License-Identifier: ISC */
/*
 * session_proxy — the PROXY protocol header a load balancer sends before
 * a connection's first byte, on listeners that ask for it; and the one
 * mqttguard sends the broker (upstream.proxy_protocol).
 *
 * The header is read from the socket itself, before the fd is handed to
 * the client's conn (session_down_start()): recv(MSG_PEEK) shows
 * what has arrived, proxy_decode() (proxy.c, pure) says how much of it is
 * the header, and exactly that much is consumed, so the TLS ClientHello
 * or the MQTT CONNECT behind it stays in the socket.  Once it is read the
 * real client's address replaces the balancer's and the per-address caps
 * are checked against it.  Runs on the session's loop only.
 *
 * Towards the broker the header names the client (s->src, the real one
 * after a PROXY header in) and the listener's own address, and in v2
 * what the client's TLS was.  On a plain broker connection it is simply
 * the first bytes queued.  On a TLS one it must precede the ClientHello,
 * which OpenSSL writes on the socket itself once the TCP connect is done;
 * so an info callback on the broker's SSL writes the header on the same
 * socket when the handshake starts, mirroring how the header in is read
 * from the socket before TLS.  A fresh connection's send buffer is empty,
 * so those few hundred bytes go at once; if they do not, the connection
 * is shut and the handshake fails like any broken connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/proxy.h"
#include "mqttguard/session_priv.h"
#include "mqttguard/tls.h"
#include "mqttguard/util.h"

static void	proxy_read_cb(evutil_socket_t, short, void *);
static void	proxy_done(struct session *, const struct proxy_header *);
static void	proxy_refuse(struct session *, const char *);
static size_t	proxy_out_header(struct session *, uint8_t *, size_t);
static void	proxy_out_tls_cb(const SSL *, int, int);

int
session_proxy_start(struct session *s, int fd)
{
	if ((s->proxy_buf = malloc(PROXY_HEADER_MAX)) == NULL ||
	    (s->proxy_ev = event_new(s->ctx->base, fd, EV_READ | EV_PERSIST,
	    proxy_read_cb, s)) == NULL)
		return -1;
	return 0;
}

/*
 * SS_PROXY, the socket is readable.  The header is read with recv() from
 * the socket, before any conn exists, and exactly its bytes are
 * consumed: recv(MSG_PEEK) shows what has arrived, proxy_decode() says
 * how much of it is header, and only that much is taken.  Whatever
 * follows (a TLS ClientHello, a CONNECT) stays in the kernel for the
 * conn made afterwards, which then runs exactly as on a listener
 * without PROXY protocol, its SSL reading the fd directly: nothing read
 * past the header has to be fed back in.  Peeked bytes that do not complete the header all belong to
 * it (the decoder says "need more" only for a valid prefix), so they are
 * consumed too and the next wakeup brings only new bytes: no busy loop.
 */
static void
proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session		*s = arg;
	struct proxy_header	 h;
	enum proxy_status	 st;
	ssize_t			 n, want;

	(void)what;
	n = recv(fd, s->proxy_buf + s->proxy_len, PROXY_HEADER_MAX -
	    s->proxy_len, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0 && s->proxy_len == 0) {
		/* Connected and left: a TCP health check, or a scan. */
		metrics_tls_failed(s->lis->index, true);
		s->quiet = true;
		session_close(s, "closed before sending anything (a probe)",
		    false);
		return;
	}
	if (n <= 0) {
		proxy_refuse(s, n == 0 ? "closed inside the PROXY header" :
		    "connection error inside the PROXY header");
		return;
	}
	st = proxy_decode(s->proxy_buf, s->proxy_len + (size_t)n,
	    s->lis->proxy_protocol, &h);
	if (st == PROXY_ERROR) {
		proxy_refuse(s, h.err);
		return;
	}
	want = st == PROXY_DONE ? (ssize_t)(h.len - s->proxy_len) : n;
	if (recv(fd, s->proxy_buf + s->proxy_len, (size_t)want, 0) != want) {
		proxy_refuse(s, "connection error inside the PROXY header");
		return;
	}
	s->proxy_len += (size_t)want;
	if (st == PROXY_DONE)
		proxy_done(s, &h);
}

/*
 * A missing or bad header: the connection is closed and never reaches
 * the broker.  <why> is static.
 */
static void
proxy_refuse(struct session *s, const char *why)
{
	struct log_field	f[AUDIT_FIELDS + 1];
	size_t			nf;

	metrics_add(M_PROXY_BAD_HEADER, 1);
	nf = audit_fields(&s->who, f);
	f[nf++] = (struct log_field)LOG_STR("reason", why);
	log_event(LOG_LVL_WARN, "proxy.refused", f, nf, "session %" PRIu64
	    " %s: PROXY protocol header refused: %s", s->id, s->peer, why);
	session_close(s, "bad PROXY protocol header", false);
}

/*
 * The header <h> is read.  LOCAL (a balancer's own health check) ends
 * quietly.  Otherwise the client's address replaces the balancer's in
 * every log line, audit event and lockout from now on, and the per-address
 * caps and rates that accept could not judge are judged on it.
 */
static void
proxy_done(struct session *s, const struct proxy_header *h)
{
	const struct sockaddr	*sa = (const struct sockaddr *)&h->src;
	char			 via[UTIL_ADDR_MAX];
	enum limits_refusal	 r;
	struct log_field	 f[AUDIT_FIELDS + 1];
	size_t			 nf;
	int			 fd = s->fd;

	event_free(s->proxy_ev);
	s->proxy_ev = NULL;
	free(s->proxy_buf);
	s->proxy_buf = NULL;
	if (h->local) {
		metrics_tls_failed(s->lis->index, true);
		s->quiet = true;
		session_close(s, "PROXY protocol LOCAL: a load balancer's "
		    "health check", false);
		return;
	}
	memcpy(via, s->peer, sizeof(via));
	if (util_addr_str(sa, true, s->peer, sizeof(s->peer)) == -1 ||
	    util_addr_str(sa, false, s->addr, sizeof(s->addr)) == -1) {
		proxy_refuse(s, "no address in the PROXY header");
		return;
	}
	s->who.src_port = util_addr_port(sa);
	s->src = h->src;
	log_debug("session %" PRIu64 " %s: via %s (PROXY protocol v%d)",
	    s->id, s->peer, via, h->version);
	r = limits_admit_addr(s->ctx->limits, &s->lis->limits, sa,
	    util_now_ms(), &s->lc);
	if (r != LIMITS_OK) {
		metrics_refused(s->lis->index, r);
		nf = audit_fields(&s->who, f);
		f[nf++] = (struct log_field)LOG_STR("reason",
		    limits_refusal_str(r));
		log_event(LOG_LVL_WARN, "limit.hit", f, nf, "limits: listener "
		    "%s: refused %s (via %s): %s", s->lis->name, s->addr, via,
		    limits_refusal_str(r));
		session_close(s, limits_refusal_str(r), false);
		return;
	}
	/* Its network known, it may now be the oldest of the largest. */
	(void)limits_pending_add(s->ctx->pending, &s->lc, s);
	if (session_down_start(s, fd, true) == -1) {
		log_warnx("session %" PRIu64 " %s: out of memory", s->id,
		    s->peer);
		session_close(s, "out of memory", false);
		return;
	}
	s->fd = -1;	/* the conn owns it now */
}

/*
 * The header for the broker of <s> into <buf> (<len> bytes): from s->src
 * to the listener's address the client reached, and the client's TLS.
 * Returns its length, or 0 when it cannot be made.
 */
static size_t
proxy_out_header(struct session *s, uint8_t *buf, size_t len)
{
	struct sockaddr_storage	 local;
	socklen_t		 sl = sizeof(local);
	struct proxy_tls	 t;
	char			 cn[256];
	X509			*x;
	SSL			*ssl;
	int			 fd;

	memset(&t, 0, sizeof(t));
	if ((fd = conn_fd(s->down)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&local, &sl) == -1)
		return 0;
	if (s->tls && (ssl = conn_ssl(s->down)) != NULL) {
		x = SSL_get0_peer_certificate(ssl);
		t.on = true;
		t.cert = x != NULL;
		t.verified = x != NULL &&
		    SSL_get_verify_result(ssl) == X509_V_OK;
		t.version = SSL_get_version(ssl);
		t.cipher = SSL_get_cipher_name(ssl);
		t.authority = SSL_get_servername(ssl,
		    TLSEXT_NAMETYPE_host_name);
		if (tls_peer_identity(ssl, POLICY_CERT_ID_CN, cn,
		    sizeof(cn)) == 1)
			t.cn = cn;
	}
	return proxy_encode(s->pol->upstream.proxy_protocol,
	    (struct sockaddr *)&s->src, (struct sockaddr *)&local, &t, buf,
	    len);
}

int
session_proxy_upstream(struct session *s)
{
	uint8_t	 buf[PROXY_HEADER_MAX];
	size_t	 n;
	SSL	*ssl;

	if (s->pol->upstream.proxy_protocol == PROXY_OFF)
		return 0;
	if (s->up_tls) {
		if ((ssl = conn_ssl(s->up)) == NULL)
			return -1;
		SSL_set_app_data(ssl, s);
		SSL_set_info_callback(ssl, proxy_out_tls_cb);
		return 0;
	}
	if ((n = proxy_out_header(s, buf, sizeof(buf))) == 0) {
		log_warnx("session %" PRIu64 " %s: no PROXY header for the "
		    "broker could be made", s->id, s->peer);
		return -1;
	}
	s->proxy_sent = true;
	return conn_write(s->up, buf, n);
}

/*
 * The broker's SSL starts its handshake: the TCP connect is done (its
 * socket was writable), nothing is written yet.  Once per connection (a
 * TLS 1.3 ticket or key update starts a "handshake" too).  A connect
 * that failed has no peer: the header is not sent and the handshake
 * reports the connect's own error.
 */
static void
proxy_out_tls_cb(const SSL *ssl, int where, int ret)
{
	struct session		*s = SSL_get_app_data(ssl);
	struct sockaddr_storage	 peer;
	socklen_t		 pl = sizeof(peer);
	uint8_t			 buf[PROXY_HEADER_MAX];
	size_t			 n;
	int			 fd;

	(void)ret;
	if ((where & SSL_CB_HANDSHAKE_START) == 0 || s == NULL ||
	    s->proxy_sent)
		return;
	s->proxy_sent = true;
	if ((fd = SSL_get_fd(ssl)) == -1 || getpeername(fd,
	    (struct sockaddr *)&peer, &pl) == -1)
		return;
	n = proxy_out_header(s, buf, sizeof(buf));
	if (n == 0 || send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
		log_warnx("session %" PRIu64 " %s: upstream: the PROXY header "
		    "could not be sent", s->id, s->peer);
		shutdown(fd, SHUT_RDWR);
	}
}
