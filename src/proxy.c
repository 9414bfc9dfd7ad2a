/* SPDX-License-Identifier: ISC */
/*
 * proxy — PROXY protocol v1 and v2 headers, decoded from a byte array, and
 * the trusted_proxies ranges.
 *
 * The specification is HAProxy's "The PROXY protocol" (versions 1 and 2).
 * Both versions are decoded strictly: v1 is one line of printable ASCII of
 * at most 107 bytes ending in CRLF, with exactly the fields its protocol
 * asks (TCP4/TCP6: two addresses of that family, two decimal ports without
 * leading zeros), or UNKNOWN and anything up to the CRLF; v2 is the 12-byte
 * signature, version 2, command LOCAL or PROXY, and for PROXY an IPv4 or
 * IPv6 STREAM address block, then TLVs that are skipped but must each fit
 * in the header.  A v2 header is at most PROXY_V2_MAX bytes: its length is
 * judged from its first 16 bytes, before its body is buffered.
 *
 * Every answer is decided from the bytes given, from the first on, so that
 * a wrong byte is refused as soon as it arrives rather than once a full
 * header's worth has been waited for.  Called by session.c (the header)
 * and listener.c / config.c (the ranges); pure, so any thread may call it.
 *
 * proxy_encode() writes what the decoder reads, for the broker
 * connection: v1's line, or v2's binary header with the TLS TLVs, which
 * the decoder skips but checks each fits, so encoding then decoding gives
 * the addresses back.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "mqttguard/proxy.h"

#define V1_SIG		"PROXY "
#define V1_SIG_LEN	6
#define V2_SIG_LEN	12
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_TCP4		0x11	/* AF_INET, STREAM */
#define V2_TCP6		0x21	/* AF_INET6, STREAM */
#define V2_TCP4_LEN	12	/* two addresses, two ports */
#define V2_TCP6_LEN	36
#define V2_UNSPEC	0x00	/* PROXY with no address block */
#define CIDR_TEXT_MAX	64
#define TLV_STR_MAX	255	/* the longest string TLV written */

static const uint8_t v2_sig[V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static enum proxy_status v1_decode(const uint8_t *, size_t,
		    struct proxy_header *);
static enum proxy_status v1_line(char *, struct proxy_header *);
static int	v1_addr(const char *, int, struct sockaddr_storage *);
static int	v1_port(const char *, struct sockaddr_storage *);
static enum proxy_status v2_decode(const uint8_t *, size_t,
		    struct proxy_header *);
static enum proxy_status fail(struct proxy_header *, const char *);
static void	to_v6(const struct sockaddr *, uint8_t *);
static size_t	v1_encode(int, const uint8_t *, const uint8_t *, uint16_t,
		    uint16_t, uint8_t *, size_t);
static size_t	v2_encode(int, const uint8_t *, const uint8_t *, uint16_t,
		    uint16_t, const struct proxy_tls *, uint8_t *, size_t);
static size_t	v2_tls(const struct proxy_tls *, uint8_t *, size_t);
static size_t	tlv_put(uint8_t *, size_t, uint8_t, const void *, size_t);
static size_t	tlv_str(uint8_t *, size_t, uint8_t, const char *);
static int	endpoints(const struct sockaddr *, const struct sockaddr *,
		    uint8_t *, uint8_t *, uint16_t *, uint16_t *);

static enum proxy_status
fail(struct proxy_header *h, const char *why)
{
	h->err = why;
	return PROXY_ERROR;
}

enum proxy_status
proxy_decode(const uint8_t *buf, size_t len, enum proxy_mode mode,
    struct proxy_header *h)
{
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return PROXY_NEED;
	switch (mode) {
	case PROXY_V1:
		return v1_decode(buf, len, h);
	case PROXY_V2:
		return v2_decode(buf, len, h);
	case PROXY_ANY:
		/* "PROXY" and "\r\n\r\n": the first byte tells them apart. */
		if (buf[0] == 'P')
			return v1_decode(buf, len, h);
		if (buf[0] == v2_sig[0])
			return v2_decode(buf, len, h);
		return fail(h, "no PROXY protocol header");
	case PROXY_OFF:
		break;
	}
	return fail(h, "PROXY protocol not enabled");
}

/*
 * Version 1: the line is checked byte by byte as it grows (printable
 * ASCII, CR only before LF), then split once its CRLF has arrived.
 */
static enum proxy_status
v1_decode(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	char	line[PROXY_V1_MAX + 1];
	size_t	i, n = len < V1_SIG_LEN ? len : V1_SIG_LEN;

	h->version = 1;
	if (memcmp(buf, V1_SIG, n) != 0)
		return fail(h, "not a PROXY v1 header");
	for (i = 0; i < len && i < PROXY_V1_MAX; i++) {
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return fail(h, "v1: LF without CR");
			memcpy(line, buf, i - 1);
			line[i - 1] = '\0';
			h->len = i + 1;
			return v1_line(line, h);
		}
		if (buf[i] == '\r') {
			if (i + 1 < len && buf[i + 1] != '\n')
				return fail(h, "v1: CR without LF");
		} else if (buf[i] < 0x20 || buf[i] > 0x7e)
			return fail(h, "v1: not printable ASCII");
	}
	if (len >= PROXY_V1_MAX)
		return fail(h, "v1: no CRLF within 107 bytes");
	return PROXY_NEED;
}

/*
 * "PROXY TCP4 <src> <dst> <sport> <dport>" (TCP6 alike) or
 * "PROXY UNKNOWN[ anything]", its CRLF cut; <line> is cut up in place.
 */
static enum proxy_status
v1_line(char *line, struct proxy_header *h)
{
	char	*f[6], *p = line + V1_SIG_LEN;
	int	 af;
	size_t	 n = 0;

	if (strcmp(p, "UNKNOWN") == 0 || strncmp(p, "UNKNOWN ", 8) == 0) {
		h->local = true;
		return PROXY_DONE;
	}
	/* Fields separated by exactly one space; none empty. */
	while (n < 6) {
		f[n++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p++ = '\0';
	}
	if (n != 5 || p != NULL)
		return fail(h, "v1: expected TCP4|TCP6 and four fields");
	if (strcmp(f[0], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		af = AF_INET6;
	else
		return fail(h, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	if (v1_addr(f[1], af, &h->src) == -1 ||
	    v1_addr(f[2], af, &h->dst) == -1)
		return fail(h, "v1: address invalid for its protocol");
	if (v1_port(f[3], &h->src) == -1 || v1_port(f[4], &h->dst) == -1)
		return fail(h, "v1: port not a decimal 0..65535");
	return PROXY_DONE;
}

/* A numeric address of family <af> (inet_pton is strict: no "01"). */
static int
v1_addr(const char *s, int af, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)af;
	if (af == AF_INET)
		return inet_pton(AF_INET, s, &sin->sin_addr) == 1 ? 0 : -1;
	return inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* 1 to 5 digits, no leading zero (but "0"), at most 65535. */
static int
v1_port(const char *s, struct sockaddr_storage *ss)
{
	unsigned	v = 0;
	size_t		i;
	uint16_t	port;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i == 5)
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || (i > 1 && s[0] == '0') || v > 65535)
		return -1;
	port = htons((uint16_t)v);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port;
	return 0;
}

/*
 * Version 2: the signature, then the version and command, the family and
 * the length, each judged as soon as its byte is there.
 */
static enum proxy_status
v2_decode(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&h->src;
	struct sockaddr_in	*d4 = (struct sockaddr_in *)&h->dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&h->src;
	struct sockaddr_in6	*d6 = (struct sockaddr_in6 *)&h->dst;
	size_t			 n = len < V2_SIG_LEN ? len : V2_SIG_LEN;
	size_t			 alen, total, need, off, tlen;
	uint8_t			 cmd, fam;

	h->version = 2;
	if (memcmp(buf, v2_sig, n) != 0)
		return fail(h, "v2: bad signature");
	if (len <= V2_SIG_LEN)
		return PROXY_NEED;
	if ((buf[12] >> 4) != 2)
		return fail(h, "v2: version is not 2");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(h, "v2: command is neither LOCAL nor PROXY");
	if (len < 14)
		return PROXY_NEED;
	fam = buf[13];
	need = fam == V2_TCP4 ? V2_TCP4_LEN : fam == V2_TCP6 ? V2_TCP6_LEN : 0;
	if (cmd == V2_CMD_PROXY && need == 0)
		return fail(h, "v2: not TCP over IPv4 or IPv6");
	if (len < PROXY_V2_HDR)
		return PROXY_NEED;
	alen = (size_t)buf[14] << 8 | buf[15];
	total = PROXY_V2_HDR + alen;
	if (total > PROXY_V2_MAX)
		return fail(h, "v2: header longer than 1024 bytes");
	if (alen < need)
		return fail(h, "v2: address block shorter than its family's");
	if (len < total)
		return PROXY_NEED;
	h->len = total;
	if (cmd == V2_CMD_LOCAL) {
		/* A health check of the balancer's own: no address. */
		h->local = true;
		return PROXY_DONE;
	}
	buf += PROXY_V2_HDR;
	if (fam == V2_TCP4) {
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, buf, 4);
		memcpy(&d4->sin_addr, buf + 4, 4);
		memcpy(&s4->sin_port, buf + 8, 2);
		memcpy(&d4->sin_port, buf + 10, 2);
	} else {
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, buf, 16);
		memcpy(&d6->sin6_addr, buf + 16, 16);
		memcpy(&s6->sin6_port, buf + 32, 2);
		memcpy(&d6->sin6_port, buf + 34, 2);
	}
	/* TLVs: type, 16-bit length, value; skipped, but each must fit. */
	for (off = need; off < alen; off += 3 + tlen) {
		if (alen - off < 3)
			return fail(h, "v2: truncated TLV");
		tlen = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (tlen > alen - off - 3)
			return fail(h, "v2: TLV longer than the header");
	}
	return PROXY_DONE;
}

int
proxy_cidr_parse(const char *s, struct proxy_cidr *c)
{
	char		 text[CIDR_TEXT_MAX];
	const char	*slash;
	uint8_t		 a4[4];
	unsigned	 bits = 0, max, i;
	size_t		 alen;
	bool		 v4;

	memset(c, 0, sizeof(*c));
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(text))
		return -1;
	memcpy(text, s, alen);
	text[alen] = '\0';
	if ((v4 = inet_pton(AF_INET, text, a4) == 1)) {
		c->addr[10] = c->addr[11] = 0xff;
		memcpy(c->addr + 12, a4, 4);
	} else if (inet_pton(AF_INET6, text, c->addr) != 1)
		return -1;
	max = v4 ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else {
		for (i = 1; slash[i] != '\0'; i++) {
			if (slash[i] < '0' || slash[i] > '9' || i > 3)
				return -1;
			bits = bits * 10 + (unsigned)(slash[i] - '0');
		}
		if (i == 1 || (i > 2 && slash[1] == '0') || bits > max)
			return -1;
	}
	c->bits = v4 ? 96 + bits : bits;
	for (i = c->bits; i < 128; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;	/* host bits set */
	return 0;
}

/* IPv4 addresses become ::ffff:a.b.c.d, as the ranges are kept. */
static void
to_v6(const struct sockaddr *sa, uint8_t *out)
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET6)
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
	else if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	}
}

bool
proxy_cidr_match(const struct proxy_cidr *c, size_t n,
    const struct sockaddr *sa)
{
	uint8_t		a[16];
	size_t		i;
	unsigned	full, rest;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	to_v6(sa, a);
	for (i = 0; i < n; i++) {
		full = c[i].bits / 8;
		rest = c[i].bits % 8;
		if (memcmp(a, c[i].addr, full) != 0)
			continue;
		if (rest == 0 || ((a[full] ^ c[i].addr[full]) &
		    (uint8_t)(0xff << (8 - rest))) == 0)
			return true;
	}
	return false;
}

/*
 * The family both ends are sent as, their addresses in network order into
 * <a> and <b> (4 or 16 bytes each) and ports into <pa>, <pb>: AF_INET when
 * both are IPv4, AF_INET6 when both are IP and one is IPv6 (an IPv4 one
 * mapped), AF_UNSPEC otherwise.
 */
static int
endpoints(const struct sockaddr *src, const struct sockaddr *dst,
    uint8_t *a, uint8_t *b, uint16_t *pa, uint16_t *pb)
{
	const struct sockaddr_in	*s4 = (const void *)src;
	const struct sockaddr_in	*d4 = (const void *)dst;
	bool				 ip;

	ip = (src->sa_family == AF_INET || src->sa_family == AF_INET6) &&
	    (dst->sa_family == AF_INET || dst->sa_family == AF_INET6);
	if (!ip)
		return AF_UNSPEC;
	if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		memcpy(a, &s4->sin_addr, 4);
		memcpy(b, &d4->sin_addr, 4);
		*pa = ntohs(s4->sin_port);
		*pb = ntohs(d4->sin_port);
		return AF_INET;
	}
	to_v6(src, a);
	to_v6(dst, b);
	*pa = src->sa_family == AF_INET ? ntohs(s4->sin_port) :
	    ntohs(((const struct sockaddr_in6 *)(const void *)src)->sin6_port);
	*pb = dst->sa_family == AF_INET ? ntohs(d4->sin_port) :
	    ntohs(((const struct sockaddr_in6 *)(const void *)dst)->sin6_port);
	return AF_INET6;
}

size_t
proxy_encode(enum proxy_mode mode, const struct sockaddr *src,
    const struct sockaddr *dst, const struct proxy_tls *tls, uint8_t *buf,
    size_t len)
{
	uint8_t		a[16], b[16];
	uint16_t	pa = 0, pb = 0;
	int		af;

	af = endpoints(src, dst, a, b, &pa, &pb);
	if (mode == PROXY_V1)
		return v1_encode(af, a, b, pa, pb, buf, len);
	if (mode == PROXY_V2)
		return v2_encode(af, a, b, pa, pb, tls, buf, len);
	return 0;
}

/* "PROXY TCP4 <a> <b> <pa> <pb>\r\n", or "PROXY UNKNOWN\r\n". */
static size_t
v1_encode(int af, const uint8_t *a, const uint8_t *b, uint16_t pa,
    uint16_t pb, uint8_t *buf, size_t len)
{
	char	ta[INET6_ADDRSTRLEN], tb[INET6_ADDRSTRLEN];
	char	line[PROXY_V1_MAX + 1];
	int	n;

	if (af == AF_UNSPEC)
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	else if (inet_ntop(af, a, ta, sizeof(ta)) == NULL ||
	    inet_ntop(af, b, tb, sizeof(tb)) == NULL)
		return 0;
	else
		n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
		    af == AF_INET ? "TCP4" : "TCP6", ta, tb, (unsigned)pa,
		    (unsigned)pb);
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > len)
		return 0;
	memcpy(buf, line, (size_t)n);
	return (size_t)n;
}

/*
 * The signature, version 2 and PROXY, the family, the length, the
 * addresses and ports, then the TLVs of <tls>.
 */
static size_t
v2_encode(int af, const uint8_t *a, const uint8_t *b, uint16_t pa,
    uint16_t pb, const struct proxy_tls *tls, uint8_t *buf, size_t len)
{
	size_t	alen = af == AF_INET ? V2_TCP4_LEN : af == AF_INET6 ?
		    V2_TCP6_LEN : 0;
	size_t	ip = af == AF_INET ? 4 : 16, off, t;

	if (len < PROXY_V2_HDR + alen)
		return 0;
	memcpy(buf, v2_sig, V2_SIG_LEN);
	buf[12] = 0x20 | V2_CMD_PROXY;
	buf[13] = af == AF_INET ? V2_TCP4 : af == AF_INET6 ? V2_TCP6 :
	    V2_UNSPEC;
	off = PROXY_V2_HDR;
	if (alen > 0) {
		memcpy(buf + off, a, ip);
		memcpy(buf + off + ip, b, ip);
		buf[off + 2 * ip] = (uint8_t)(pa >> 8);
		buf[off + 2 * ip + 1] = (uint8_t)pa;
		buf[off + 2 * ip + 2] = (uint8_t)(pb >> 8);
		buf[off + 2 * ip + 3] = (uint8_t)pb;
		off += alen;
	}
	if (tls != NULL) {
		if (tls->authority != NULL && *tls->authority != '\0') {
			if ((t = tlv_str(buf + off, len - off,
			    PROXY_PP2_TYPE_AUTHORITY, tls->authority)) == 0)
				return 0;
			off += t;
		}
		if (tls->on) {
			if ((t = v2_tls(tls, buf + off, len - off)) == 0)
				return 0;
			off += t;
		}
	}
	if (off - PROXY_V2_HDR > 0xffff || off > PROXY_V2_MAX)
		return 0;
	buf[14] = (uint8_t)((off - PROXY_V2_HDR) >> 8);
	buf[15] = (uint8_t)(off - PROXY_V2_HDR);
	return off;
}

/*
 * PP2_TYPE_SSL: the client flags, the 32-bit verify result (0: a
 * certificate was presented and verified), then the version, CN and
 * cipher as sub-TLVs.  Nothing is resumed, so a certificate of the
 * connection is the session's too.
 */
static size_t
v2_tls(const struct proxy_tls *tls, uint8_t *buf, size_t len)
{
	uint8_t	 client = PROXY_PP2_CLIENT_SSL;
	uint32_t verify = tls->cert && tls->verified ? 0 : 1;
	size_t	 off = 3 + 5, t;

	if (tls->cert)
		client |= PROXY_PP2_CLIENT_CERT_CONN |
		    PROXY_PP2_CLIENT_CERT_SESS;
	if (len < off)
		return 0;
	buf[0] = PROXY_PP2_TYPE_SSL;
	buf[3] = client;
	buf[4] = (uint8_t)(verify >> 24);
	buf[5] = (uint8_t)(verify >> 16);
	buf[6] = (uint8_t)(verify >> 8);
	buf[7] = (uint8_t)verify;
	if (tls->version != NULL && *tls->version != '\0') {
		if ((t = tlv_str(buf + off, len - off,
		    PROXY_PP2_SUBTYPE_SSL_VERSION, tls->version)) == 0)
			return 0;
		off += t;
	}
	if (tls->cn != NULL && *tls->cn != '\0' && tls->verified) {
		if ((t = tlv_str(buf + off, len - off,
		    PROXY_PP2_SUBTYPE_SSL_CN, tls->cn)) == 0)
			return 0;
		off += t;
	}
	if (tls->cipher != NULL && *tls->cipher != '\0') {
		if ((t = tlv_str(buf + off, len - off,
		    PROXY_PP2_SUBTYPE_SSL_CIPHER, tls->cipher)) == 0)
			return 0;
		off += t;
	}
	buf[1] = (uint8_t)((off - 3) >> 8);
	buf[2] = (uint8_t)(off - 3);
	return off;
}

/* One TLV of <type> and the <vlen> bytes at <v>; 0 when it does not fit. */
static size_t
tlv_put(uint8_t *buf, size_t len, uint8_t type, const void *v, size_t vlen)
{
	if (vlen > 0xffff || len < 3 + vlen)
		return 0;
	buf[0] = type;
	buf[1] = (uint8_t)(vlen >> 8);
	buf[2] = (uint8_t)vlen;
	memcpy(buf + 3, v, vlen);
	return 3 + vlen;
}

/* A string TLV, without its NUL; 0 when longer than TLV_STR_MAX. */
static size_t
tlv_str(uint8_t *buf, size_t len, uint8_t type, const char *s)
{
	size_t	n = strlen(s);

	return n > TLV_STR_MAX ? 0 : tlv_put(buf, len, type, s, n);
}
