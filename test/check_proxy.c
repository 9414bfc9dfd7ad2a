/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for proxy: PROXY protocol v1 and v2 headers as tables of
 * {name, bytes, mode, expected verdict}.  Each accepted header is also fed
 * split at every offset: every strict prefix must say "need more" and the
 * whole must give the same answer.  Each refused one is refused on its
 * whole bytes and never accepted on any prefix.  Inputs go in exact-size
 * allocations, so ASan sees a one-byte over-read.  Rules cite the
 * specification ("The PROXY protocol", HAProxy, sections 2.1 and 2.2).
 * Then the encoder (upstream.proxy_protocol): byte-exact headers built
 * by hand from the specification's layout, and round trips through the
 * decoder above.  Then the trusted_proxies ranges: parsing and matching.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "check_suites.h"
#include "mqttguard/proxy.h"

#define V2SIG	"\r\n\r\n\0\r\nQUIT\n"

struct pcase {
	const char		*name;
	const char		*bytes;
	size_t			 len;		/* 0: strlen(bytes) */
	enum proxy_mode		 mode;
	enum proxy_status	 want;
	const char		*src;		/* DONE, not local: address */
	unsigned		 port;
	bool			 local;
	const char		*err;		/* ERROR: substring */
	size_t			 hlen;		/* DONE: 0 = whole input */
};

#define B(s)	s, sizeof(s) - 1

static const struct pcase cases[] = {
	/* 2.1: v1, human-readable. */
	{ "v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 1883\r\n", 0,
	    PROXY_V1, PROXY_DONE, "192.0.2.1", 56324, false, NULL, 0 },
	{ "v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n", 0,
	    PROXY_ANY, PROXY_DONE, "2001:db8::1", 0, false, NULL, 0 },
	{ "v1 unknown", "PROXY UNKNOWN\r\n", 0, PROXY_V1, PROXY_DONE, NULL,
	    0, true, NULL, 0 },
	{ "v1 unknown, rest ignored", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n", 0,
	    PROXY_ANY, PROXY_DONE, NULL, 0, true, NULL, 0 },
	{ "v1 followed by the client's bytes",
	    "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n\x10\x0c", 0, PROXY_V1,
	    PROXY_DONE, "10.0.0.1", 1, false, NULL, 34 },
	{ "v1 longest tcp6", "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 0,
	    PROXY_V1, PROXY_DONE, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    65535, false, NULL, 0 },
	{ "v1 longest (107 bytes)", "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 0,
	    PROXY_V1, PROXY_DONE, NULL, 0, true, NULL, 107 },
	{ "v1 108 bytes", "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "no CRLF", 0 },
	{ "v1 without CRLF within 107 bytes", "PROXY UNKNOWN "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0, PROXY_V1, PROXY_ERROR,
	    NULL, 0, false, "no CRLF", 0 },
	{ "v1 LF without CR", "PROXY UNKNOWN\n", 0, PROXY_V1, PROXY_ERROR,
	    NULL, 0, false, "LF without CR", 0 },
	{ "v1 CR without LF", "PROXY UNKNOWN\rx", 0, PROXY_V1, PROXY_ERROR,
	    NULL, 0, false, "CR without LF", 0 },
	{ "v1 control byte", "PROXY TCP4\t1.2.3.4", 0, PROXY_V1, PROXY_ERROR,
	    NULL, 0, false, "printable", 0 },
	{ "v1 lower case", "proxy TCP4 1.2.3.4 1.2.3.4 1 1\r\n", 0, PROXY_V1,
	    PROXY_ERROR, NULL, 0, false, "not a PROXY v1", 0 },
	{ "v1 other protocol", "PROXY UDP4 1.2.3.4 1.2.3.4 1 1\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "not TCP4", 0 },
	{ "v1 too few fields", "PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "four fields", 0 },
	{ "v1 too many fields", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "four fields", 0 },
	{ "v1 trailing space", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "four fields", 0 },
	{ "v1 two spaces", "PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "four fields", 0 },
	{ "v1 address out of range", "PROXY TCP4 256.1.1.1 1.2.3.4 1 2\r\n",
	    0, PROXY_V1, PROXY_ERROR, NULL, 0, false, "address", 0 },
	{ "v1 address leading zero", "PROXY TCP4 01.1.1.1 1.2.3.4 1 2\r\n",
	    0, PROXY_V1, PROXY_ERROR, NULL, 0, false, "address", 0 },
	{ "v1 IPv6 address in TCP4", "PROXY TCP4 ::1 1.2.3.4 1 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "address", 0 },
	{ "v1 IPv4 address in TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "address", 0 },
	{ "v1 port not numeric", "PROXY TCP4 1.2.3.4 1.2.3.4 http 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "port", 0 },
	{ "v1 port negative", "PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "port", 0 },
	{ "v1 port over 65535", "PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "port", 0 },
	{ "v1 port leading zero", "PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "port", 0 },
	{ "v1 port six digits", "PROXY TCP4 1.2.3.4 1.2.3.4 1 100000\r\n", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "port", 0 },
	{ "v1 on a v2 listener", "PROXY UNKNOWN\r\n", 0, PROXY_V2,
	    PROXY_ERROR, NULL, 0, false, "signature", 0 },
	{ "an MQTT CONNECT, no header", "\x10\x0c\x00\x04MQTT", 0, PROXY_ANY,
	    PROXY_ERROR, NULL, 0, false, "no PROXY", 0 },
	{ "an MQTT CONNECT on a v1 listener", "\x10\x0c\x00\x04MQTT", 0,
	    PROXY_V1, PROXY_ERROR, NULL, 0, false, "not a PROXY v1", 0 },
	{ "a TLS ClientHello on a v2 listener", "\x16\x03\x01\x02\x00", 0,
	    PROXY_V2, PROXY_ERROR, NULL, 0, false, "signature", 0 },

	/* 2.2: v2, binary. */
	{ "v2 proxy tcp4", B(V2SIG "\x21\x11\x00\x0c"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04" "\x07\x5b"),
	    PROXY_V2, PROXY_DONE, "192.0.2.1", 56324, false, NULL, 0 },
	{ "v2 proxy tcp6", B(V2SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02" "\x00\x50" "\x07\x5b"),
	    PROXY_ANY, PROXY_DONE, "2001:db8::1", 80, false, NULL, 0 },
	{ "v2 local", B(V2SIG "\x20\x00\x00\x00"), PROXY_V2, PROXY_DONE,
	    NULL, 0, true, NULL, 0 },
	{ "v2 local with an address block", B(V2SIG "\x20\x11\x00\x0c"
	    "\x7f\0\0\x01\x7f\0\0\x01\0\x01\0\x02"), PROXY_ANY, PROXY_DONE,
	    NULL, 0, true, NULL, 0 },
	{ "v2 TLVs skipped", B(V2SIG "\x21\x11\x00\x17"
	    "\x0a\0\0\x01" "\x0a\0\0\x02" "\x00\x01" "\x00\x02"
	    "\x01\x00\x02h2" "\x04\x00\x03" "abc"), PROXY_V2, PROXY_DONE,
	    "10.0.0.1", 1, false, NULL, 0 },
	{ "v2 followed by the client's bytes", B(V2SIG "\x21\x11\x00\x0c"
	    "\x0a\0\0\x01" "\x0a\0\0\x02" "\x00\x01" "\x00\x02" "\x16\x03"),
	    PROXY_V2, PROXY_DONE, "10.0.0.1", 1, false, NULL, 28 },
	{ "v2 bad signature", B("\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x0c"),
	    PROXY_V2, PROXY_ERROR, NULL, 0, false, "signature", 0 },
	{ "v2 version 1", B(V2SIG "\x11\x11\x00\x0c"), PROXY_V2, PROXY_ERROR,
	    NULL, 0, false, "version", 0 },
	{ "v2 command 2", B(V2SIG "\x22\x11\x00\x0c"), PROXY_V2, PROXY_ERROR,
	    NULL, 0, false, "command", 0 },
	{ "v2 UDP", B(V2SIG "\x21\x12\x00\x0c"), PROXY_V2, PROXY_ERROR, NULL,
	    0, false, "not TCP", 0 },
	{ "v2 unix socket", B(V2SIG "\x21\x31\x00\xd8"), PROXY_V2,
	    PROXY_ERROR, NULL, 0, false, "not TCP", 0 },
	{ "v2 proxy with AF_UNSPEC", B(V2SIG "\x21\x00\x00\x00"), PROXY_V2,
	    PROXY_ERROR, NULL, 0, false, "not TCP", 0 },
	{ "v2 length over 1024", B(V2SIG "\x21\x11\x03\xf1"), PROXY_V2,
	    PROXY_ERROR, NULL, 0, false, "longer than 1024", 0 },
	{ "v2 length 65535", B(V2SIG "\x20\x00\xff\xff"), PROXY_ANY,
	    PROXY_ERROR, NULL, 0, false, "longer than 1024", 0 },
	{ "v2 address block too short for tcp4", B(V2SIG "\x21\x11\x00\x0b"),
	    PROXY_V2, PROXY_ERROR, NULL, 0, false, "shorter", 0 },
	{ "v2 address block too short for tcp6", B(V2SIG "\x21\x21\x00\x0c"),
	    PROXY_V2, PROXY_ERROR, NULL, 0, false, "shorter", 0 },
	{ "v2 TLV over the end", B(V2SIG "\x21\x11\x00\x10"
	    "\x0a\0\0\x01" "\x0a\0\0\x02" "\x00\x01" "\x00\x02"
	    "\x04\x00\x02" "a"), PROXY_V2, PROXY_ERROR, NULL, 0, false,
	    "TLV longer", 0 },
	{ "v2 truncated TLV header", B(V2SIG "\x21\x11\x00\x0e"
	    "\x0a\0\0\x01" "\x0a\0\0\x02" "\x00\x01" "\x00\x02" "\x04\x00"),
	    PROXY_V2, PROXY_ERROR, NULL, 0, false, "truncated TLV", 0 },
	{ "v2 on a v1 listener", B(V2SIG "\x20\x00\x00\x00"), PROXY_V1,
	    PROXY_ERROR, NULL, 0, false, "not a PROXY v1", 0 },
};

static size_t
case_len(const struct pcase *c)
{
	return c->len != 0 ? c->len : strlen(c->bytes);
}

/* The whole input, then that no strict prefix disagrees. */
START_TEST(t_cases)
{
	const struct pcase	*c = &cases[_i];
	struct proxy_header	 h;
	enum proxy_status	 st;
	size_t			 len = case_len(c), k;
	uint8_t			*b = tu_dup_exact(c->bytes, len);
	char			 host[64];
	unsigned		 port;

	st = proxy_decode(b, len, c->mode, &h);
	ck_assert_msg(st == c->want, "%s: status %d, want %d (%s)", c->name,
	    st, c->want, h.err ? h.err : "");
	if (st == PROXY_ERROR) {
		ck_assert_msg(strstr(h.err, c->err) != NULL, "%s: \"%s\"",
		    c->name, h.err);
	} else {
		ck_assert_uint_eq(h.len, c->hlen ? c->hlen : len);
		ck_assert(h.local == c->local);
		if (!c->local) {
			if (h.src.ss_family == AF_INET) {
				const struct sockaddr_in *a =
				    (const struct sockaddr_in *)&h.src;
				inet_ntop(AF_INET, &a->sin_addr, host,
				    sizeof(host));
				port = ntohs(a->sin_port);
			} else {
				const struct sockaddr_in6 *a =
				    (const struct sockaddr_in6 *)&h.src;
				ck_assert_int_eq(h.src.ss_family, AF_INET6);
				inet_ntop(AF_INET6, &a->sin6_addr, host,
				    sizeof(host));
				port = ntohs(a->sin6_port);
			}
			ck_assert_str_eq(host, c->src);
			ck_assert_uint_eq(port, c->port);
		}
	}
	free(b);
	/*
	 * Split at every offset: the first <k> bytes alone.  A header must
	 * say "need more" on every prefix shorter than itself; a refused
	 * input is never accepted on a prefix.
	 */
	for (k = 0; k < len; k++) {
		b = tu_dup_exact(c->bytes, k);
		st = proxy_decode(b, k, c->mode, &h);
		free(b);
		if (c->want == PROXY_DONE && k < (c->hlen ? c->hlen : len))
			ck_assert_msg(st == PROXY_NEED, "%s: %zu bytes: %d",
			    c->name, k, st);
		else if (c->want == PROXY_ERROR)
			ck_assert_msg(st != PROXY_DONE, "%s: accepted at %zu",
			    c->name, k);
	}
}
END_TEST

/*
 * Byte by byte, as a reader that consumes what it was told belongs to
 * the header: the bytes given are always a prefix, never more.
 */
START_TEST(t_byte_by_byte)
{
	static const char	 v1[] = "PROXY TCP4 10.1.2.3 10.0.0.1 4000 1883"
				    "\r\nMQTT";
	struct proxy_header	 h;
	enum proxy_status	 st = PROXY_NEED;
	size_t			 have = 0;

	while (st == PROXY_NEED && have < sizeof(v1) - 1) {
		have++;
		st = proxy_decode((const uint8_t *)v1, have, PROXY_ANY, &h);
	}
	ck_assert_int_eq(st, PROXY_DONE);
	ck_assert_uint_eq(h.len, sizeof(v1) - 1 - 4);
	ck_assert_uint_eq(have, h.len);
}
END_TEST

START_TEST(t_mode_off)
{
	struct proxy_header	h;

	ck_assert_int_eq(proxy_decode((const uint8_t *)"PROXY", 5, PROXY_OFF,
	    &h), PROXY_ERROR);
	ck_assert_int_eq(proxy_decode((const uint8_t *)"", 0, PROXY_ANY,
	    &h), PROXY_NEED);
}
END_TEST

struct ccase {
	const char	*cidr;
	bool		 ok;
	const char	*addr;		/* NULL: parse only */
	bool		 match;
};

static const struct ccase cidrs[] = {
	{ "10.0.0.0/8", true, "10.255.1.2", true },
	{ "10.0.0.0/8", true, "11.0.0.1", false },
	{ "127.0.0.5/32", true, "127.0.0.5", true },
	{ "127.0.0.5/32", true, "127.0.0.1", false },
	{ "127.0.0.5", true, "127.0.0.5", true },
	{ "0.0.0.0/0", true, "203.0.113.9", true },
	{ "0.0.0.0/0", true, "2001:db8::1", false },
	{ "192.168.4.0/22", true, "192.168.7.255", true },
	{ "192.168.4.0/22", true, "192.168.8.0", false },
	{ "2001:db8::/32", true, "2001:db8:ffff::1", true },
	{ "2001:db8::/32", true, "2001:db9::1", false },
	{ "::/0", true, "::1", true },
	{ "::1", true, "::1", true },
	{ "10.0.0.0/8", true, "::ffff:10.0.0.1", true },
	{ "10.0.0.1/8", false, NULL, false },
	{ "10.0.0.0/33", false, NULL, false },
	{ "10.0.0.0/", false, NULL, false },
	{ "10.0.0.0/08", false, NULL, false },
	{ "10.0.0.0/8x", false, NULL, false },
	{ "/8", false, NULL, false },
	{ "10.0.0/8", false, NULL, false },
	{ "2001:db8::/129", false, NULL, false },
	{ "example.com/32", false, NULL, false },
	{ "", false, NULL, false },
};

START_TEST(t_cidrs)
{
	const struct ccase	*c = &cidrs[_i];
	struct proxy_cidr	 r;
	struct sockaddr_in	 a4;
	struct sockaddr_in6	 a6;
	const struct sockaddr	*sa;

	ck_assert_msg((proxy_cidr_parse(c->cidr, &r) == 0) == c->ok, "%s",
	    c->cidr);
	if (c->addr == NULL)
		return;
	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, c->addr, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		sa = (const struct sockaddr *)&a4;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, c->addr, &a6.sin6_addr),
		    1);
		a6.sin6_family = AF_INET6;
		sa = (const struct sockaddr *)&a6;
	}
	ck_assert_msg(proxy_cidr_match(&r, 1, sa) == c->match, "%s in %s",
	    c->addr, c->cidr);
}
END_TEST

START_TEST(t_cidr_list)
{
	struct proxy_cidr	r[2];
	struct sockaddr_in	a;

	ck_assert_int_eq(proxy_cidr_parse("127.0.0.5/32", &r[0]), 0);
	ck_assert_int_eq(proxy_cidr_parse("10.0.0.0/8", &r[1]), 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.9.9", &a.sin_addr);
	ck_assert(proxy_cidr_match(r, 2, (struct sockaddr *)&a));
	ck_assert(!proxy_cidr_match(r, 1, (struct sockaddr *)&a));
	ck_assert(!proxy_cidr_match(r, 0, (struct sockaddr *)&a));
}
END_TEST

/* ---- the encoder ------------------------------------------------------ */

static bool	tlv_find_in(const uint8_t *, size_t, uint8_t, char *, size_t);

/* <sa>'s address as 16 bytes, IPv4 mapped. */
static void
to_v6_test(const struct sockaddr *sa, uint8_t *out)
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET6)
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
	else {
		ck_assert_int_eq(sa->sa_family, AF_INET);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
	}
}

static unsigned
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* <text> ("192.0.2.1" or "2001:db8::1") and <port> as a sockaddr. */
static struct sockaddr_storage
sa(const char *text, unsigned port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*a6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	}
	return ss;
}

static const struct {
	const char	*src, *dst;
	unsigned	 sport, dport;
	const char	*want;
} v1_vectors[] = {
	/* 2.1's own examples: the longest TCP4 line, and a TCP6 one. */
	{ "255.255.255.255", "255.255.255.255", 65535, 65535,
	    "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535,
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n" },
	{ "192.0.2.1", "198.51.100.2", 56324, 1883,
	    "PROXY TCP4 192.0.2.1 198.51.100.2 56324 1883\r\n" },
	{ "2001:db8::1", "2001:db8::2", 0, 8883,
	    "PROXY TCP6 2001:db8::1 2001:db8::2 0 8883\r\n" },
	/* One of each family: both as IPv6, the IPv4 one mapped. */
	{ "192.0.2.1", "2001:db8::2", 1, 2,
	    "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n" },
	{ "2001:db8::1", "198.51.100.2", 1, 2,
	    "PROXY TCP6 2001:db8::1 ::ffff:198.51.100.2 1 2\r\n" },
};

START_TEST(t_encode_v1)
{
	struct sockaddr_storage	a = sa(v1_vectors[_i].src,
				    v1_vectors[_i].sport);
	struct sockaddr_storage	b = sa(v1_vectors[_i].dst,
				    v1_vectors[_i].dport);
	const char		*want = v1_vectors[_i].want;
	uint8_t			 buf[PROXY_HEADER_MAX];
	size_t			 n;

	n = proxy_encode(PROXY_V1, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, NULL, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(want));
	ck_assert(memcmp(buf, want, n) == 0);
	/* Exactly its length is enough; a byte less is not. */
	ck_assert_uint_eq(proxy_encode(PROXY_V1, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, NULL, buf, n), n);
	ck_assert_uint_eq(proxy_encode(PROXY_V1, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, NULL, buf, n - 1), 0);
}
END_TEST

/* 2.2, by hand: 16 header bytes, then 12 of addresses and ports. */
static const uint8_t v2_tcp4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21,			/* version 2, PROXY */
	0x11,			/* AF_INET, STREAM */
	0x00, 0x0c,		/* 12 bytes follow */
	192, 0, 2, 1,		/* source */
	198, 51, 100, 2,	/* destination */
	0xdc, 0x04,		/* 56324 */
	0x07, 0x5b		/* 1883 */
};

/* The same over TLS with a verified certificate, and its server name. */
static const uint8_t v2_tcp4_tls[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11,
	0x00, 0x0c + 12 + 53,	/* addresses, AUTHORITY, SSL */
	192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x07, 0x5b,
	0x02, 0x00, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
	0x20, 0x00, 0x32,	/* PP2_TYPE_SSL, 50 bytes */
	0x07,			/* CLIENT_SSL | CERT_CONN | CERT_SESS */
	0x00, 0x00, 0x00, 0x00,	/* verified */
	0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '3',
	0x22, 0x00, 0x07, 'c', 'l', 'i', 'e', 'n', 't', '1',
	0x23, 0x00, 0x16, 'T', 'L', 'S', '_', 'A', 'E', 'S', '_', '1', '2',
	'8', '_', 'G', 'C', 'M', '_', 'S', 'H', 'A', '2', '5', '6'
};

/* TLS without a certificate: no CN, verify not 0. */
static const uint8_t v2_tcp6_tls_nocert[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x21,		/* AF_INET6, STREAM */
	0x00, 36 + 18,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
	0x00, 0x01, 0x22, 0xb3,	/* 1, 8883 */
	0x20, 0x00, 0x0f,
	0x01,			/* CLIENT_SSL only */
	0x00, 0x00, 0x00, 0x01,	/* no verified certificate */
	0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '2'
};

START_TEST(t_encode_v2)
{
	struct sockaddr_storage	a = sa("192.0.2.1", 56324);
	struct sockaddr_storage	b = sa("198.51.100.2", 1883);
	struct sockaddr_storage	a6 = sa("2001:db8::1", 1);
	struct sockaddr_storage	b6 = sa("2001:db8::2", 8883);
	struct proxy_tls	tls = { true, true, true, "TLSv1.3",
				    "TLS_AES_128_GCM_SHA256", "client1",
				    "localhost" };
	struct proxy_tls	nocert = { true, false, false, "TLSv1.2",
				    NULL, "ignored: not verified", "" };
	uint8_t			buf[PROXY_HEADER_MAX];
	size_t			n;

	n = proxy_encode(PROXY_V2, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, NULL, buf, sizeof(buf));
	ck_assert_uint_eq(n, sizeof(v2_tcp4));
	ck_assert(memcmp(buf, v2_tcp4, n) == 0);
	n = proxy_encode(PROXY_V2, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, &tls, buf, sizeof(buf));
	ck_assert_uint_eq(n, sizeof(v2_tcp4_tls));
	ck_assert(memcmp(buf, v2_tcp4_tls, n) == 0);
	n = proxy_encode(PROXY_V2, (struct sockaddr *)&a6,
	    (struct sockaddr *)&b6, &nocert, buf, sizeof(buf));
	ck_assert_uint_eq(n, sizeof(v2_tcp6_tls_nocert));
	ck_assert(memcmp(buf, v2_tcp6_tls_nocert, n) == 0);
}
END_TEST

/* Every buffer shorter than the header fails whole, never half-written. */
START_TEST(t_encode_short)
{
	struct sockaddr_storage	a = sa("192.0.2.1", 56324);
	struct sockaddr_storage	b = sa("198.51.100.2", 1883);
	struct proxy_tls	tls = { true, true, true, "TLSv1.3",
				    "TLS_AES_128_GCM_SHA256", "client1",
				    "localhost" };
	uint8_t			buf[PROXY_HEADER_MAX];
	char			long_cn[300];
	size_t			k;

	for (k = 0; k < sizeof(v2_tcp4_tls); k++)
		ck_assert_uint_eq(proxy_encode(PROXY_V2, (struct sockaddr *)&a,
		    (struct sockaddr *)&b, &tls, buf, k), 0);
	ck_assert_uint_eq(proxy_encode(PROXY_ANY, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, NULL, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(proxy_encode(PROXY_OFF, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, NULL, buf, sizeof(buf)), 0);
	memset(long_cn, 'x', sizeof(long_cn) - 1);
	long_cn[sizeof(long_cn) - 1] = '\0';
	tls.cn = long_cn;
	ck_assert_uint_eq(proxy_encode(PROXY_V2, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, &tls, buf, sizeof(buf)), 0);
}
END_TEST

/* No IP address (a Unix socket): v1 UNKNOWN, v2 PROXY with AF_UNSPEC. */
START_TEST(t_encode_unspec)
{
	struct sockaddr_un	u;
	struct sockaddr_storage	b = sa("198.51.100.2", 1883);
	struct proxy_header	h;
	uint8_t			buf[PROXY_HEADER_MAX];
	size_t			n;

	memset(&u, 0, sizeof(u));
	u.sun_family = AF_UNIX;
	n = proxy_encode(PROXY_V1, (struct sockaddr *)&u,
	    (struct sockaddr *)&b, NULL, buf, sizeof(buf));
	ck_assert_uint_eq(n, 15);
	ck_assert(memcmp(buf, "PROXY UNKNOWN\r\n", 15) == 0);
	ck_assert_int_eq(proxy_decode(buf, n, PROXY_V1, &h), PROXY_DONE);
	ck_assert(h.local);
	n = proxy_encode(PROXY_V2, (struct sockaddr *)&u,
	    (struct sockaddr *)&b, NULL, buf, sizeof(buf));
	ck_assert_uint_eq(n, 16);
	ck_assert_uint_eq(buf[12], 0x21);
	ck_assert_uint_eq(buf[13], 0x00);
	ck_assert_uint_eq(buf[14], 0);
	ck_assert_uint_eq(buf[15], 0);
}
END_TEST

/*
 * The value of the first TLV of <type> in the v2 header <buf> of <len>
 * bytes (inside PP2_TYPE_SSL for its sub-types), as a string into <out>;
 * false when there is none.
 */
static bool
tlv_find(const uint8_t *buf, size_t len, uint8_t type, char *out,
    size_t outlen)
{
	size_t	off = PROXY_V2_HDR + (buf[13] == 0x11 ? 12 : 36), tlen;
	bool	sub = type >= 0x21 && type <= 0x25;

	while (off + 3 <= len) {
		tlen = (size_t)buf[off + 1] << 8 | buf[off + 2];
		ck_assert_uint_le(off + 3 + tlen, len);
		if (sub && buf[off] == PROXY_PP2_TYPE_SSL)
			return tlv_find_in(buf + off + 8, tlen - 5, type, out,
			    outlen);
		if (!sub && buf[off] == type) {
			ck_assert_uint_lt(tlen, outlen);
			memcpy(out, buf + off + 3, tlen);
			out[tlen] = '\0';
			return true;
		}
		off += 3 + tlen;
	}
	return false;
}

/* Sub-TLVs: a plain list of <len> bytes at <buf>. */
static bool
tlv_find_in(const uint8_t *buf, size_t len, uint8_t type, char *out,
    size_t outlen)
{
	size_t	off = 0, tlen;

	while (off + 3 <= len) {
		tlen = (size_t)buf[off + 1] << 8 | buf[off + 2];
		ck_assert_uint_le(off + 3 + tlen, len);
		if (buf[off] == type) {
			ck_assert_uint_lt(tlen, outlen);
			memcpy(out, buf + off + 3, tlen);
			out[tlen] = '\0';
			return true;
		}
		off += 3 + tlen;
	}
	return false;
}

static const struct {
	const char	*src, *dst;
	unsigned	 sport, dport;
	enum proxy_mode	 mode;
	bool		 tls;
} trips[] = {
	{ "192.0.2.1", "198.51.100.2", 56324, 1883, PROXY_V1, false },
	{ "192.0.2.1", "198.51.100.2", 56324, 1883, PROXY_V2, false },
	{ "192.0.2.1", "198.51.100.2", 56324, 1883, PROXY_V2, true },
	{ "2001:db8::1", "2001:db8::2", 65535, 8883, PROXY_V1, false },
	{ "2001:db8::1", "2001:db8::2", 65535, 8883, PROXY_V2, true },
	{ "127.0.0.5", "::1", 40000, 8883, PROXY_V2, true },
	{ "0.0.0.0", "0.0.0.0", 0, 0, PROXY_V2, false },
};

/* Encoded, then decoded by the listener's own parser: the same ends. */
START_TEST(t_encode_round_trip)
{
	struct sockaddr_storage	a = sa(trips[_i].src, trips[_i].sport);
	struct sockaddr_storage	b = sa(trips[_i].dst, trips[_i].dport);
	struct proxy_tls	tls = { true, true, true, "TLSv1.3",
				    "TLS_CHACHA20_POLY1305_SHA256", "dev-42",
				    "broker.example" };
	struct proxy_header	h;
	uint8_t			buf[PROXY_HEADER_MAX + 8], d[16], e[16];
	char			v[256];
	size_t			n;

	n = proxy_encode(trips[_i].mode, (struct sockaddr *)&a,
	    (struct sockaddr *)&b, trips[_i].tls ? &tls : NULL, buf,
	    PROXY_HEADER_MAX);
	ck_assert_uint_gt(n, 0);
	memcpy(buf + n, "\x10\x0c", 2);	/* the CONNECT behind it */
	ck_assert_int_eq(proxy_decode(buf, n + 2, trips[_i].mode, &h),
	    PROXY_DONE);
	ck_assert_int_eq(proxy_decode(buf, n + 2, PROXY_ANY, &h), PROXY_DONE);
	ck_assert_uint_eq(h.len, n);
	ck_assert(!h.local);
	ck_assert_int_eq(h.src.ss_family, a.ss_family == b.ss_family ?
	    a.ss_family : AF_INET6);
	/* Compared as IPv6, IPv4 mapped, as the encoder sends mixed ends. */
	to_v6_test((struct sockaddr *)&h.src, d);
	to_v6_test((struct sockaddr *)&a, e);
	ck_assert(memcmp(d, e, 16) == 0);
	to_v6_test((struct sockaddr *)&h.dst, d);
	to_v6_test((struct sockaddr *)&b, e);
	ck_assert(memcmp(d, e, 16) == 0);
	ck_assert_uint_eq(port_of(&h.src), trips[_i].sport);
	ck_assert_uint_eq(port_of(&h.dst), trips[_i].dport);
	if (trips[_i].mode != PROXY_V2 || !trips[_i].tls)
		return;
	ck_assert(tlv_find(buf, n, PROXY_PP2_SUBTYPE_SSL_CN, v, sizeof(v)));
	ck_assert_str_eq(v, "dev-42");
	ck_assert(tlv_find(buf, n, PROXY_PP2_SUBTYPE_SSL_VERSION, v,
	    sizeof(v)));
	ck_assert_str_eq(v, "TLSv1.3");
	ck_assert(tlv_find(buf, n, PROXY_PP2_SUBTYPE_SSL_CIPHER, v,
	    sizeof(v)));
	ck_assert_str_eq(v, "TLS_CHACHA20_POLY1305_SHA256");
	ck_assert(tlv_find(buf, n, PROXY_PP2_TYPE_AUTHORITY, v, sizeof(v)));
	ck_assert_str_eq(v, "broker.example");
}
END_TEST

Suite *
proxy_suite(void)
{
	Suite	*s = suite_create("proxy");
	TCase	*tc = tcase_create("header");

	tcase_add_loop_test(tc, t_cases, 0, NELEM(cases));
	tcase_add_test(tc, t_byte_by_byte);
	tcase_add_test(tc, t_mode_off);
	suite_add_tcase(s, tc);
	tc = tcase_create("encode");
	tcase_add_loop_test(tc, t_encode_v1, 0, NELEM(v1_vectors));
	tcase_add_test(tc, t_encode_v2);
	tcase_add_test(tc, t_encode_short);
	tcase_add_test(tc, t_encode_unspec);
	tcase_add_loop_test(tc, t_encode_round_trip, 0, NELEM(trips));
	suite_add_tcase(s, tc);
	tc = tcase_create("cidr");
	tcase_add_loop_test(tc, t_cidrs, 0, NELEM(cidrs));
	tcase_add_test(tc, t_cidr_list);
	suite_add_tcase(s, tc);
	return s;
}
