/* SPDX-License-Identifier: ISC */
/*
 * proxy — the PROXY protocol (HAProxy's, versions 1 and 2) header decoder
 * and encoder, and the address ranges a listener trusts to send one.
 *
 * Pure code on byte arrays, shaped like the codec: the caller hands in the
 * bytes it has read so far, the decoder answers "need more", "a header of
 * N bytes from this source (or LOCAL)" or "error: why".  No I/O, no
 * allocation, no logging, nothing of ours included.  It is written for
 * untrusted input: a header longer than PROXY_V1_MAX / PROXY_V2_MAX is an
 * error before its end is buffered, every v2 length is compared with the
 * bytes left, and a wrong first byte is an error at once.
 *
 * The encoder writes the header mqttguard sends the broker
 * (upstream.proxy_protocol): the client's address and, in v2, what its
 * TLS was (PP2_TYPE_SSL with the version, cipher and verified certificate
 * CN; PP2_TYPE_AUTHORITY with the name it asked for).
 *
 * What it does not do: decide whom to believe.  A header is only worth
 * reading from a load balancer in trusted_proxies (proxy_cidr_match(),
 * called by the listener before a byte is read).
 */
#ifndef MQTTGUARD_PROXY_H
#define MQTTGUARD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX		107	/* the spec's longest v1 line, CRLF in */
#define PROXY_V2_HDR		16	/* signature, command, family, length */
#define PROXY_V2_MAX		1024	/* whole v2 header, TLVs in */
#define PROXY_HEADER_MAX	PROXY_V2_MAX	/* what a reader buffers */

/* Which versions a listener accepts (policy: proxy_protocol). */
enum proxy_mode {
	PROXY_OFF = 0,
	PROXY_V1,
	PROXY_V2,
	PROXY_ANY
};

enum proxy_status {
	PROXY_NEED = 0,		/* a valid prefix: read more */
	PROXY_DONE,		/* a whole header of <len> bytes */
	PROXY_ERROR		/* not a header we accept: <err> says why */
};

struct proxy_header {
	size_t			 len;		/* DONE: bytes of the header */
	int			 version;	/* 1 or 2, once known */
	bool			 local;		/* DONE: v2 LOCAL or v1
						   UNKNOWN: no address */
	struct sockaddr_storage	 src;		/* DONE, !local: the client */
	struct sockaddr_storage	 dst;		/* DONE, !local: its target */
	const char		*err;		/* ERROR: static text */
};

/*
 * Decodes the PROXY header at the start of <buf> (<len> bytes, may be 0)
 * under <mode> (PROXY_V1, PROXY_V2 or PROXY_ANY).  PROXY_NEED means every
 * byte of <buf> belongs to a header not yet complete: a reader may consume
 * them and read on.  PROXY_DONE fills <h>; the bytes after h->len are the
 * client's own.  PROXY_ERROR sets h->err.  <h> is the caller's; nothing
 * in it points into <buf>.
 */
enum proxy_status proxy_decode(const uint8_t *buf, size_t len,
		    enum proxy_mode mode, struct proxy_header *h);

/* The v2 TLV types written (the specification's names and values). */
#define PROXY_PP2_TYPE_AUTHORITY	0x02
#define PROXY_PP2_TYPE_SSL		0x20
#define PROXY_PP2_SUBTYPE_SSL_VERSION	0x21
#define PROXY_PP2_SUBTYPE_SSL_CN	0x22
#define PROXY_PP2_SUBTYPE_SSL_CIPHER	0x23
#define PROXY_PP2_CLIENT_SSL		0x01
#define PROXY_PP2_CLIENT_CERT_CONN	0x02
#define PROXY_PP2_CLIENT_CERT_SESS	0x04

/*
 * What the client's TLS was, for a v2 header.  Strings may be NULL or
 * empty (left out); one longer than 255 bytes fails the encoding (a CN
 * is at most 64 bytes, a host name 255).
 */
struct proxy_tls {
	bool		 on;		/* the client spoke TLS: PP2_TYPE_SSL */
	bool		 cert;		/* it presented a certificate */
	bool		 verified;	/* ... which verified: verify = 0 */
	const char	*version;	/* "TLSv1.3" */
	const char	*cipher;	/* "TLS_AES_128_GCM_SHA256" */
	const char	*cn;		/* the verified certificate's CN */
	const char	*authority;	/* the server name it asked (SNI) */
};

/*
 * Encodes the PROXY header of version <mode> (PROXY_V1 or PROXY_V2) for a
 * connection from <src> to <dst> (AF_INET or AF_INET6 each; one of each
 * family is sent as IPv6 with the IPv4 one mapped; another family makes
 * v1 "UNKNOWN" and a v2 PROXY command with no address) into <buf> of
 * <len> bytes (PROXY_HEADER_MAX is always enough).  <tls> (may be NULL)
 * adds v2's TLVs; v1 carries none.  Returns the header's length, or 0
 * when <mode> is neither version or the header does not fit.
 */
size_t	proxy_encode(enum proxy_mode mode, const struct sockaddr *src,
	    const struct sockaddr *dst, const struct proxy_tls *tls,
	    uint8_t *buf, size_t len);

/* An address range: IPv4 as ::ffff:a.b.c.d/(96 + bits). */
struct proxy_cidr {
	uint8_t		addr[16];	/* masked to <bits> */
	unsigned	bits;		/* 0..128 */
};

/*
 * Parses "<address>/<bits>" or a bare address (a /32 or /128) from <s>
 * into <c>.  -1 when <s> is not one; the host bits must be zero
 * ("10.0.0.1/8" is refused: it is more likely a typo than a wish).
 */
int	proxy_cidr_parse(const char *s, struct proxy_cidr *c);
/* Whether <sa> (AF_INET or AF_INET6) is in one of the <n> ranges <c>. */
bool	proxy_cidr_match(const struct proxy_cidr *c, size_t n,
	    const struct sockaddr *sa);

#endif
