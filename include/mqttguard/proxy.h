/* SPDX-License-Identifier: ISC */
/*
 * proxy — the PROXY protocol (HAProxy's, versions 1 and 2) header decoder,
 * and the address ranges a listener trusts to send one.
 *
 * Pure code on byte arrays, shaped like the codec: the caller hands in the
 * bytes it has read so far, the decoder answers "need more", "a header of
 * N bytes from this source (or LOCAL)" or "error: why".  No I/O, no
 * allocation, no logging, nothing of ours included.  It is written for
 * untrusted input: a header longer than PROXY_V1_MAX / PROXY_V2_MAX is an
 * error before its end is buffered, every v2 length is compared with the
 * bytes left, and a wrong first byte is an error at once.
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
