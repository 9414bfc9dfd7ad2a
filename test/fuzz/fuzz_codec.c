/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the codec.  The input is taken as bytes from a peer:
 * it is decoded at every level (0, 3, 4, 5) and from both sides, once with
 * all of it contiguous and once with only the first half contiguous (in an
 * exact-size copy, so that reading past <contig> is an ASan report, not a
 * silent success).  Every view of an accepted packet is read, SUBSCRIBE
 * filters are walked, and the verdicts are checked against each other: a
 * frame accepted or refused with half its bytes contiguous must get the
 * same verdict with all of them, a frame accepted must need every one of
 * its bytes.  Then the input is run as a conversation through a
 * codec_session, and its first bytes drive the encoders, whose output must
 * decode.  Any broken invariant aborts, so the fuzzer reports it as a crash.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/codec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	touch(const struct codec_buf *);
static void	check_packet(int, const struct codec_packet *, size_t,
		    size_t);
static void	decode_all(const struct codec_limits *, uint8_t,
		    enum codec_dir, const uint8_t *, size_t);
static void	converse(const struct codec_limits *, const uint8_t *,
		    size_t);
static void	encode_all(const uint8_t *, size_t);

static volatile uint8_t	sink;

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

/* Reads every byte of a view, so that ASan sees a dangling one. */
static void
touch(const struct codec_buf *b)
{
	uint8_t	x = 0;
	size_t	i;

	CHECK(b->len == 0 || b->p != NULL);
	for (i = 0; i < b->len; i++)
		x ^= b->p[i];
	sink ^= x;
}

/* The promises of codec_decode(), for one verdict. */
static void
check_packet(int rc, const struct codec_packet *p, size_t contig,
    size_t buffered)
{
	struct codec_buf	f;
	size_t			off = 0;
	unsigned		n = 0;
	uint8_t			o;

	switch (rc) {
	case CODEC_OK:
		CHECK(p->len <= buffered && p->hdr_len + p->rem_len == p->len);
		CHECK(p->hdr_len >= 2 && p->hdr_len <= 5);
		CHECK(p->err == CODEC_ERR_NONE);
		touch(&p->props.raw);
		touch(&p->props.auth_method);
		touch(&p->props.auth_data);
		touch(&p->props.reason_string);
		if (p->type == CODEC_PUBLISH) {
			CHECK(p->u.publish.payload_off +
			    p->u.publish.payload_len == p->len);
			CHECK(p->u.publish.payload_off <= contig);
			touch(&p->u.publish.topic);
		} else
			CHECK(p->len <= contig);
		if (p->type == CODEC_CONNECT) {
			touch(&p->u.connect.client_id);
			touch(&p->u.connect.will_topic);
			touch(&p->u.connect.will_payload);
			touch(&p->u.connect.will_props.raw);
			touch(&p->u.connect.username);
			touch(&p->u.connect.password);
		}
		if (p->type == CODEC_SUBSCRIBE ||
		    p->type == CODEC_UNSUBSCRIBE) {
			while (codec_filter_next(p, &off, &f, &o) == 1) {
				CHECK(f.len > 0);
				touch(&f);
				n++;
			}
			CHECK(n == p->u.list.count && n > 0);
		}
		if (p->type == CODEC_SUBACK || p->type == CODEC_UNSUBACK)
			touch(&p->u.list.list);
		break;
	case CODEC_NEED:
		CHECK(p->need > buffered);
		break;
	case CODEC_NEED_CONTIG:
		CHECK(p->need > contig && p->need <= buffered);
		break;
	case CODEC_ERROR:
		CHECK(p->err > CODEC_ERR_NONE && p->err < CODEC_ERR__MAX);
		CHECK(codec_err_str(p->err) != NULL);
		CHECK(codec_err_reason(p->err) >= 0x80);
		break;
	default:
		abort();
	}
	CHECK(codec_type_str(p->type) != NULL);
}

static void
decode_all(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, const uint8_t *data, size_t size)
{
	struct codec_packet	 whole, p;
	uint8_t			*copy;
	size_t			 half = size / 2;
	int			 rc, rc2;

	rc = codec_decode(lim, level, dir, data, size, size, &whole);
	check_packet(rc, &whole, size, size);

	if (rc == CODEC_OK) {
		/* The frame alone decodes; one byte less does not. */
		copy = malloc(whole.len);
		CHECK(copy != NULL);
		memcpy(copy, data, whole.len);
		rc2 = codec_decode(lim, level, dir, copy, whole.len,
		    whole.len, &p);
		CHECK(rc2 == CODEC_OK && p.len == whole.len);
		rc2 = codec_decode(lim, level, dir, copy, whole.len - 1,
		    whole.len - 1, &p);
		CHECK(rc2 == CODEC_NEED && p.need == whole.len);
		free(copy);
	}

	/* Half contiguous, in a copy of exactly that size. */
	copy = malloc(half != 0 ? half : 1);
	CHECK(copy != NULL);
	memcpy(copy, data, half);
	rc2 = codec_decode(lim, level, dir, copy, half, size, &p);
	check_packet(rc2, &p, half, size);
	if (rc2 == CODEC_OK)
		CHECK(rc == CODEC_OK && p.len == whole.len &&
		    (p.len <= half || p.type == CODEC_PUBLISH));
	if (rc2 == CODEC_ERROR)
		CHECK(rc == CODEC_ERROR && p.err == whole.err);
	if (rc2 == CODEC_NEED)
		CHECK(rc == CODEC_NEED);
	free(copy);
}

/*
 * The input as a conversation: frames back to back, each from the side
 * that may send its type; PUBLISH goes the way its RETAIN bit says, the
 * other two-way types alternate.
 */
static void
converse(const struct codec_limits *lim, const uint8_t *data, size_t size)
{
	struct codec_session	s;
	struct codec_packet	p;
	enum codec_dir		dir;
	size_t			off = 0;
	unsigned		turn = 0, n;
	uint8_t			type;

	codec_session_init(&s);
	for (n = 0; off < size && n < 64; n++) {
		type = data[off] >> 4;
		switch (type) {
		case CODEC_CONNECT:
		case CODEC_SUBSCRIBE:
		case CODEC_UNSUBSCRIBE:
		case CODEC_PINGREQ:
			dir = CODEC_FROM_CLIENT;
			break;
		case CODEC_CONNACK:
		case CODEC_SUBACK:
		case CODEC_UNSUBACK:
		case CODEC_PINGRESP:
			dir = CODEC_FROM_SERVER;
			break;
		case CODEC_PUBLISH:
			dir = (data[off] & 1) != 0 ? CODEC_FROM_SERVER :
			    CODEC_FROM_CLIENT;
			break;
		default:
			dir = (turn++ & 1) != 0 ? CODEC_FROM_SERVER :
			    CODEC_FROM_CLIENT;
			break;
		}
		if (codec_decode(lim, s.level, dir, data + off, size - off,
		    size - off, &p) != CODEC_OK)
			break;
		if (codec_session_check(&s, dir, &p) == 0) {
			if (p.type == CODEC_PUBLISH) {
				CHECK(p.u.publish.resolved.len > 0);
				touch(&p.u.publish.resolved);
			}
		} else
			CHECK(p.err > CODEC_ERR_NONE &&
			    p.err < CODEC_ERR__MAX);
		off += p.len;
	}
	codec_session_fini(&s);
}

/* The encoders, driven by the first bytes: what they write must decode. */
static void
encode_all(const uint8_t *data, size_t size)
{
	struct codec_packet	 p;
	uint8_t			 buf[512], codes[16];
	uint8_t			 level, reason, type;
	const char		*rs;
	size_t			 n, nc;
	uint16_t		 id;

	if (size < 6)
		return;
	level = 3 + data[0] % 3;
	reason = data[1];
	id = (uint16_t)(data[2] << 8 | data[3]);
	rs = (data[4] & 1) != 0 ? "denied by policy" : NULL;
	type = 4 + data[4] % 4;
	nc = size - 5 < sizeof(codes) ? size - 5 : sizeof(codes);
	memcpy(codes, data + 5, nc);

	n = codec_encode_connack(buf, sizeof(buf), level, data[5] & 1,
	    reason, rs);
	if (n != 0)
		CHECK(n <= sizeof(buf) && codec_decode(NULL, level,
		    CODEC_FROM_SERVER, buf, n, n, &p) == CODEC_OK);
	n = codec_encode_ack(buf, sizeof(buf), level, type, id, reason, rs);
	if (n != 0)
		CHECK(n <= sizeof(buf) && codec_decode(NULL, level,
		    CODEC_FROM_CLIENT, buf, n, n, &p) == CODEC_OK &&
		    p.packet_id == id);
	n = codec_encode_suback(buf, sizeof(buf), level, data[4] & 2 ?
	    CODEC_UNSUBACK : CODEC_SUBACK, id, codes, nc);
	if (n != 0)
		CHECK(n <= sizeof(buf) && codec_decode(NULL, level,
		    CODEC_FROM_SERVER, buf, n, n, &p) == CODEC_OK);
	n = codec_encode_disconnect(buf, sizeof(buf), level, reason, rs);
	if (n != 0)
		CHECK(level == CODEC_V5 && codec_decode(NULL, level,
		    CODEC_FROM_SERVER, buf, n, n, &p) == CODEC_OK);
	/* Too small a buffer is left alone. */
	memset(buf, 0xA5, 4);
	n = codec_encode_connack(buf, 3, level, false, reason, rs);
	CHECK(n == 0 || n > 3);
	CHECK(buf[0] == 0xA5 && buf[1] == 0xA5 && buf[2] == 0xA5);
	CHECK(codec_connack_v3(reason) <= 5);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t	levels[] = { 0, 3, 4, 5 };
	struct codec_limits	lim;
	size_t			i;

	lim.max_packet = size % 7 == 0 ? 64 : 0;
	lim.reject_control = size % 3 == 0;
	lim.reject_nonchar = size % 5 == 0;
	for (i = 0; i < sizeof(levels); i++) {
		decode_all(&lim, levels[i], CODEC_FROM_CLIENT, data, size);
		decode_all(&lim, levels[i], CODEC_FROM_SERVER, data, size);
	}
	converse(&lim, data, size);
	encode_all(data, size);
	return 0;
}
