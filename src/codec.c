/* SPDX-License-Identifier: ISC */
/*
 * codec — decodes, validates and encodes MQTT 3.1, 3.1.1 and 5.0 frames.
 *
 * This file owns the wire format and nothing else: it never reads a socket,
 * never logs, keeps no global state (the tables below are const) and
 * allocates only in codec_session_check(), for the copy of a topic that a
 * 5.0 peer binds to a topic alias.  It is written for hostile input: every
 * length taken from the wire is compared with the bytes that remain before
 * it is used, and a frame is either accepted whole or refused with the rule
 * it broke, never half-decoded.
 *
 * The decoder works on the bytes the caller has buffered, which need not be
 * contiguous: only the first <contig> of them are read.  It decodes the fixed
 * header first, so an oversized frame is refused before its body is
 * buffered.  A PUBLISH needs only its fixed and variable header contiguous
 * (the payload is opaque and is moved, not read); every other packet type
 * is small and needs the whole frame contiguous.  Internally a reader
 * (struct rd) knows both the end of the frame and the end of the contiguous
 * bytes, so a field that overruns the frame is a malformed packet while one
 * that overruns only the contiguous bytes asks the caller for more.
 *
 * Decoded packets are views into the caller's buffer; see codec.h.  Called
 * by session_ (the daemon) and by the fuzz target and tests; nothing here
 * may depend on the rest of the daemon but topic_, the leaf that validates
 * UTF-8 strings and filters for everyone.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/codec.h"
#include "mqttguard/topic.h"

#define VBI_MAX		268435455u	/* largest variable byte integer */
#define HDR_MAX		5		/* type byte + 4 length bytes */
#define STR_MAX		65535u		/* two-byte length prefix */
#define CLIENT_ID_V31	23		/* MQTT 3.1 client identifier limit */

/* Internal verdict of the readers: more bytes must be made contiguous. */
#define RD_CONTIG	(-1)

#define BIT(id)		(1ULL << (id))

/*
 * A cursor over one frame, or over one property block inside it.  <end> is
 * where the frame (block) ends; <cend> <= <end> is where the contiguous
 * bytes end.  Reading past <end> is a malformed packet, past <cend> a
 * request for more contiguous bytes (<need> in total from the frame start).
 */
struct rd {
	const uint8_t	*buf;
	size_t		 off;
	size_t		 end;
	size_t		 cend;
	size_t		 need;
};

/* Value types of 5.0 properties (5.0 §2.2.2.2). */
enum pkind {
	PK_NONE = 0,		/* unknown identifier */
	PK_BYTE,		/* every byte property is a 0/1 flag */
	PK_U16,
	PK_U32,
	PK_VBI,
	PK_STR,
	PK_BIN,
	PK_PAIR
};

/* A sorted set of reason codes, for the 5.0 §2.4 table. */
struct rcset {
	const uint8_t	*codes;
	size_t		 n;
};

/*
 * What codec_encode_connect() decided before writing: the credentials
 * left in, the flags, the properties and the remaining length.
 */
struct connect_plan {
	const struct codec_buf	*username;	/* NULL: left out */
	const struct codec_buf	*password;	/* NULL: left out */
	uint8_t			 flags;
	bool			 mp;		/* Maximum Packet Size set */
	uint32_t		 max_packet;	/* with mp */
	bool			 wd;		/* Will Delay Interval clamped */
	uint32_t		 will_delay;	/* with wd */
	size_t			 plen;		/* properties as written */
	size_t			 rem;		/* remaining length */
};

static int	rd_has(struct rd *, size_t);
static int	rd_u8(struct rd *, uint8_t *);
static int	rd_u16(struct rd *, uint16_t *);
static int	rd_u32(struct rd *, uint32_t *);
static int	rd_vbi(struct rd *, uint32_t *, int);
static int	rd_bin(struct rd *, struct codec_buf *);
static int	str_check(const struct codec_limits *, const uint8_t *,
		    size_t, bool);
static int	topic_check(const struct codec_limits *,
		    const struct codec_buf *);
static int	wildcard_check(const uint8_t *, size_t);
static int	filter_check(const struct codec_limits *, uint8_t,
		    const struct codec_buf *, bool *);
static int	prop_admit(uint8_t, unsigned, enum codec_dir,
		    struct codec_props *, uint8_t *);
static int	prop_byte(struct rd *, uint8_t, struct codec_props *);
static int	prop_u16(struct rd *, uint8_t, struct codec_props *);
static int	prop_u32(struct rd *, uint8_t, struct codec_props *);
static int	prop_str(const struct codec_limits *, struct rd *, uint8_t,
		    struct codec_props *);
static int	prop_one(const struct codec_limits *, struct rd *, unsigned,
		    enum codec_dir, struct codec_props *);
static int	props_decode(const struct codec_limits *, struct rd *,
		    unsigned, enum codec_dir, struct codec_props *);
static bool	reason_ok(uint8_t, uint8_t);
static int	first_byte_check(uint8_t, enum codec_dir, uint8_t);
static int	decode_connect(const struct codec_limits *, struct rd *,
		    struct codec_packet *);
static int	decode_connack(const struct codec_limits *, uint8_t,
		    struct rd *, struct codec_packet *);
static int	decode_publish(const struct codec_limits *, uint8_t,
		    enum codec_dir, struct rd *, struct codec_packet *);
static int	decode_pubresp(const struct codec_limits *, uint8_t,
		    enum codec_dir, struct rd *, struct codec_packet *);
static int	decode_subscribe(const struct codec_limits *, uint8_t,
		    struct rd *, struct codec_packet *);
static int	decode_suback(const struct codec_limits *, uint8_t,
		    struct rd *, struct codec_packet *);
static int	decode_disconnect(const struct codec_limits *, uint8_t,
		    enum codec_dir, struct rd *, struct codec_packet *);
static int	decode_auth(const struct codec_limits *, enum codec_dir,
		    struct rd *, struct codec_packet *);
static int	decode_frame(const struct codec_limits *, uint8_t,
		    enum codec_dir, const uint8_t *, size_t, size_t,
		    struct codec_packet *);
static int	decode_body(const struct codec_limits *, uint8_t,
		    enum codec_dir, struct rd *, struct codec_packet *);
static int	alias_apply(struct codec_alias *, struct codec_packet *);
static int	alias_grow(struct codec_alias *, uint16_t);
static void	alias_free(struct codec_alias *);
static int	session_fail(struct codec_packet *, enum codec_err);
static size_t	vbi_size(size_t);
static size_t	vbi_put(uint8_t *, size_t);
static size_t	reason_string_len(const char *);
static size_t	put_reason_string(uint8_t *, const char *, size_t);
static size_t	put_bin(uint8_t *, const uint8_t *, size_t);
static size_t	prop_size(const uint8_t *, size_t);
static size_t	put_u16_prop(uint8_t *, uint8_t, uint16_t);
static size_t	props_set_u32(uint8_t *, const uint8_t *, size_t, uint8_t,
		    uint32_t);
static bool	lower(const struct codec_packet *, uint8_t, uint32_t, uint32_t,
		    uint32_t);
static int	connect_size(const struct codec_packet *,
		    const struct codec_buf *, const struct codec_buf *,
		    uint32_t, struct connect_plan *);
static size_t	connect_put(uint8_t *, const struct codec_packet *,
		    const struct connect_plan *);

/*
 * Fixed header flags each type must carry (3.1.1 §2.2.2, 5.0 §2.1.3);
 * PUBLISH is checked apart, its flags carry DUP, QoS and RETAIN.
 */
static const uint8_t hdr_flags[16] = {
	[CODEC_PUBREL] = 0x2,
	[CODEC_SUBSCRIBE] = 0x2,
	[CODEC_UNSUBSCRIBE] = 0x2,
};

static const uint8_t prop_kind[] = {
	[CODEC_PROP_PAYLOAD_FORMAT] = PK_BYTE,
	[CODEC_PROP_MESSAGE_EXPIRY] = PK_U32,
	[CODEC_PROP_CONTENT_TYPE] = PK_STR,
	[CODEC_PROP_RESPONSE_TOPIC] = PK_STR,
	[CODEC_PROP_CORRELATION_DATA] = PK_BIN,
	[CODEC_PROP_SUBSCRIPTION_ID] = PK_VBI,
	[CODEC_PROP_SESSION_EXPIRY] = PK_U32,
	[CODEC_PROP_ASSIGNED_CLIENT_ID] = PK_STR,
	[CODEC_PROP_SERVER_KEEP_ALIVE] = PK_U16,
	[CODEC_PROP_AUTH_METHOD] = PK_STR,
	[CODEC_PROP_AUTH_DATA] = PK_BIN,
	[CODEC_PROP_REQUEST_PROBLEM_INFO] = PK_BYTE,
	[CODEC_PROP_WILL_DELAY] = PK_U32,
	[CODEC_PROP_REQUEST_RESPONSE_INFO] = PK_BYTE,
	[CODEC_PROP_RESPONSE_INFO] = PK_STR,
	[CODEC_PROP_SERVER_REFERENCE] = PK_STR,
	[CODEC_PROP_REASON_STRING] = PK_STR,
	[CODEC_PROP_RECEIVE_MAX] = PK_U16,
	[CODEC_PROP_TOPIC_ALIAS_MAX] = PK_U16,
	[CODEC_PROP_TOPIC_ALIAS] = PK_U16,
	[CODEC_PROP_MAX_QOS] = PK_BYTE,
	[CODEC_PROP_RETAIN_AVAILABLE] = PK_BYTE,
	[CODEC_PROP_USER_PROPERTY] = PK_PAIR,
	[CODEC_PROP_MAX_PACKET_SIZE] = PK_U32,
	[CODEC_PROP_WILDCARD_SUB_AVAILABLE] = PK_BYTE,
	[CODEC_PROP_SUB_ID_AVAILABLE] = PK_BYTE,
	[CODEC_PROP_SHARED_SUB_AVAILABLE] = PK_BYTE,
};

/*
 * Which property may appear where (5.0 §2.2.2.2), indexed by packet type;
 * index 0, a reserved type, stands for the will properties of CONNECT.
 */
#define PROPS_WILL	0
static const uint64_t prop_allowed[16] = {
	[PROPS_WILL] = BIT(0x01) | BIT(0x02) | BIT(0x03) | BIT(0x08) |
	    BIT(0x09) | BIT(0x18) | BIT(0x26),
	[CODEC_CONNECT] = BIT(0x11) | BIT(0x15) | BIT(0x16) | BIT(0x17) |
	    BIT(0x19) | BIT(0x21) | BIT(0x22) | BIT(0x26) | BIT(0x27),
	[CODEC_CONNACK] = BIT(0x11) | BIT(0x12) | BIT(0x13) | BIT(0x15) |
	    BIT(0x16) | BIT(0x1A) | BIT(0x1C) | BIT(0x1F) | BIT(0x21) |
	    BIT(0x22) | BIT(0x24) | BIT(0x25) | BIT(0x26) | BIT(0x27) |
	    BIT(0x28) | BIT(0x29) | BIT(0x2A),
	[CODEC_PUBLISH] = BIT(0x01) | BIT(0x02) | BIT(0x03) | BIT(0x08) |
	    BIT(0x09) | BIT(0x0B) | BIT(0x23) | BIT(0x26),
	[CODEC_PUBACK] = BIT(0x1F) | BIT(0x26),
	[CODEC_PUBREC] = BIT(0x1F) | BIT(0x26),
	[CODEC_PUBREL] = BIT(0x1F) | BIT(0x26),
	[CODEC_PUBCOMP] = BIT(0x1F) | BIT(0x26),
	[CODEC_SUBSCRIBE] = BIT(0x0B) | BIT(0x26),
	[CODEC_SUBACK] = BIT(0x1F) | BIT(0x26),
	[CODEC_UNSUBSCRIBE] = BIT(0x26),
	[CODEC_UNSUBACK] = BIT(0x1F) | BIT(0x26),
	[CODEC_DISCONNECT] = BIT(0x11) | BIT(0x1C) | BIT(0x1F) | BIT(0x26),
	[CODEC_AUTH] = BIT(0x15) | BIT(0x16) | BIT(0x1F) | BIT(0x26),
};

/* 5.0 reason codes legal per packet type (5.0 §2.4, §3.x.2.1). */
static const uint8_t rc_connack[] = {
	0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F
};
static const uint8_t rc_puback[] = {	/* PUBACK and PUBREC */
	0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99
};
static const uint8_t rc_pubrel[] = {	/* PUBREL and PUBCOMP */
	0x00, 0x92
};
static const uint8_t rc_suback[] = {
	0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2
};
static const uint8_t rc_unsuback[] = {
	0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91
};
static const uint8_t rc_disconnect[] = {
	0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D,
	0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A,
	0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2
};
static const uint8_t rc_auth[] = {
	0x00, 0x18, 0x19
};

#define RCSET(a)	{ (a), sizeof(a) }
static const struct rcset rc_by_type[16] = {
	[CODEC_CONNACK] = RCSET(rc_connack),
	[CODEC_PUBACK] = RCSET(rc_puback),
	[CODEC_PUBREC] = RCSET(rc_puback),
	[CODEC_PUBREL] = RCSET(rc_pubrel),
	[CODEC_PUBCOMP] = RCSET(rc_pubrel),
	[CODEC_SUBACK] = RCSET(rc_suback),
	[CODEC_UNSUBACK] = RCSET(rc_unsuback),
	[CODEC_DISCONNECT] = RCSET(rc_disconnect),
	[CODEC_AUTH] = RCSET(rc_auth),
};

/*
 * The rule behind each error.  Sections follow 3.1.1 where the rule exists
 * there (as [MQTT-x.y.z-n]) and 5.0 otherwise, marked as such.
 */
static const char *const err_str[CODEC_ERR__MAX] = {
	[CODEC_ERR_NONE] = "no error",
	[CODEC_ERR_TYPE_RESERVED] = "reserved packet type: 0, or AUTH (15) "
	    "below MQTT 5.0 (3.1.1 §2.2.1, 5.0 §2.1.2)",
	[CODEC_ERR_HEADER_FLAGS] = "fixed header flags not as reserved for "
	    "the packet type [MQTT-2.2.2-1] [MQTT-2.2.2-2]",
	[CODEC_ERR_REMLEN_ENCODING] = "remaining length longer than 4 bytes "
	    "or not minimally encoded (3.1.1 §2.2.3, 5.0 [MQTT-1.5.5-1])",
	[CODEC_ERR_TOO_LARGE] = "packet larger than the maximum packet size "
	    "(5.0 §3.1.2.11.4, 3.1.1 §2.2.3)",
	[CODEC_ERR_LENGTH] = "remaining length does not match the contents: "
	    "a field overruns the packet or bytes are left over "
	    "(3.1.1 §2.2.3, 5.0 §4.13)",
	[CODEC_ERR_QOS] = "PUBLISH with both QoS bits set [MQTT-3.3.1-4]",
	[CODEC_ERR_DUP_QOS0] = "DUP flag set on a QoS 0 PUBLISH "
	    "[MQTT-3.3.1-2]",
	[CODEC_ERR_PACKET_ID_ZERO] = "packet identifier 0 where a non-zero "
	    "one is required [MQTT-2.3.1-1] (5.0 [MQTT-2.2.1-3])",
	[CODEC_ERR_PROTOCOL_NAME] = "protocol name not \"MQTT\" (levels 4 "
	    "and 5) or \"MQIsdp\" (level 3) [MQTT-3.1.2-1]",
	[CODEC_ERR_PROTOCOL_LEVEL] = "unsupported protocol level, not 3, 4 "
	    "or 5 [MQTT-3.1.2-2]",
	[CODEC_ERR_CONNECT_RESERVED] = "CONNECT reserved flag (bit 0) set "
	    "[MQTT-3.1.2-3]",
	[CODEC_ERR_WILL_FLAGS] = "will QoS or will retain set without the "
	    "will flag, or will QoS 3 [MQTT-3.1.2-13] [MQTT-3.1.2-14] "
	    "[MQTT-3.1.2-15]",
	[CODEC_ERR_PASSWORD_NO_USER] = "password flag set without the user "
	    "name flag [MQTT-3.1.2-22]",
	[CODEC_ERR_CLIENT_ID] = "client identifier refused: 3.1 needs 1 to "
	    "23 bytes, 3.1.1 an empty one needs clean session "
	    "[MQTT-3.1.3-8] (3.1 §3.1)",
	[CODEC_ERR_UTF8] = "ill-formed UTF-8: invalid or overlong sequence, "
	    "surrogate, or code point above U+10FFFF [MQTT-1.5.3-1]",
	[CODEC_ERR_UTF8_NUL] = "U+0000 in a UTF-8 string [MQTT-1.5.3-2] "
	    "[MQTT-4.7.3-2]",
	[CODEC_ERR_UTF8_CONTROL] = "control character U+0001..U+001F or "
	    "U+007F..U+009F in a UTF-8 string, refused by policy "
	    "(3.1.1 §1.5.3, 5.0 §1.5.4)",
	[CODEC_ERR_TOPIC_EMPTY] = "zero-length topic name without a topic "
	    "alias [MQTT-4.7.3-1] (5.0 §3.3.2.1)",
	[CODEC_ERR_TOPIC_WILDCARD] = "wildcard character in a topic name "
	    "[MQTT-3.3.2-2] [MQTT-4.7.1-1]",
	[CODEC_ERR_FILTER_EMPTY] = "zero-length topic filter [MQTT-4.7.3-1]",
	[CODEC_ERR_FILTER_WILDCARD] = "'#' not alone in the last level, or "
	    "'+' not a whole level of a topic filter [MQTT-4.7.1-2] "
	    "[MQTT-4.7.1-3]",
	[CODEC_ERR_NO_FILTERS] = "SUBSCRIBE or UNSUBSCRIBE without a topic "
	    "filter [MQTT-3.8.3-3] [MQTT-3.10.3-2]",
	[CODEC_ERR_SUBOPTS] = "subscription options: reserved bits set, "
	    "QoS 3 or retain handling 3 [MQTT-3-8.3-4] (5.0 [MQTT-3.8.3-5])",
	[CODEC_ERR_SHARED_SUB] = "ill-formed shared subscription "
	    "$share/{ShareName}/{filter}, or No Local on one [MQTT-4.8.2-1] "
	    "[MQTT-4.8.2-2] [MQTT-3.8.3-4] (5.0)",
	[CODEC_ERR_PROP_LENGTH] = "property length malformed, or a property "
	    "overruns its block (5.0 §2.2.2.1) [MQTT-2.2.2-1] (5.0)",
	[CODEC_ERR_PROP_UNKNOWN] = "unknown property identifier "
	    "(5.0 §2.2.2.2)",
	[CODEC_ERR_PROP_NOT_ALLOWED] = "property not allowed in this packet "
	    "or direction (5.0 §2.2.2.2) [MQTT-3.3.4-6] [MQTT-3.14.2-2] "
	    "(5.0)",
	[CODEC_ERR_PROP_DUPLICATE] = "property given more than once "
	    "(5.0 §2.2.2.2, §3)",
	[CODEC_ERR_PROP_VALUE] = "property value out of range, or "
	    "authentication data without a method (5.0 §3.1.2.11, §3.2.2.3)",
	[CODEC_ERR_TOPIC_ALIAS] = "topic alias 0, above the negotiated "
	    "maximum, or not yet bound [MQTT-3.3.2-8] [MQTT-3.3.2-9] "
	    "[MQTT-3.3.2-11] (5.0 §3.3.2.3.4)",
	[CODEC_ERR_REASON_CODE] = "reason or return code not defined for "
	    "this packet type (3.1.1 §3.2.2.3, [MQTT-3.9.3-2]; 5.0 §2.4)",
	[CODEC_ERR_FIRST_NOT_CONNECT] = "first packet from the client is not "
	    "CONNECT [MQTT-3.1.0-1]",
	[CODEC_ERR_SECOND_CONNECT] = "second CONNECT on a connection "
	    "[MQTT-3.1.0-2]",
	[CODEC_ERR_WRONG_DIRECTION] = "packet type not allowed in this "
	    "direction (3.1.1 §2.2.1, 5.0 §2.1.2)",
	[CODEC_ERR_NOT_CONNECTED] = "packet from the server before CONNACK, "
	    "or after DISCONNECT or a refused CONNACK [MQTT-3.2.0-1] "
	    "[MQTT-3.14.4-1]",
	[CODEC_ERR_CONNACK_FLAGS] = "CONNACK acknowledge flags reserved bits "
	    "set, or session present with a refusal [MQTT-3.2.2-4] "
	    "(5.0 [MQTT-3.2.2-1] [MQTT-3.2.2-6])",
	[CODEC_ERR_SECOND_CONNACK] = "second CONNACK on a connection "
	    "(5.0 [MQTT-3.2.0-2])",
	[CODEC_ERR_AUTH_STATE] = "AUTH without an Authentication Method in "
	    "CONNECT, or a packet other than AUTH or DISCONNECT before "
	    "CONNACK during enhanced authentication (5.0 [MQTT-4.12.0-6] "
	    "[MQTT-4.12.0-7] [MQTT-3.1.2-30])",
	[CODEC_ERR_UTF8_NONCHAR] = "a Unicode noncharacter (U+FDD0..U+FDEF, "
	    "U+xFFFE, U+xFFFF) in a string, which the broker drops as "
	    "malformed (5.0 §1.5.4; limits.reject_noncharacters)",
	[CODEC_ERR_PACKET_ID_IN_USE] = "a new PUBLISH, SUBSCRIBE or "
	    "UNSUBSCRIBE with a packet identifier still in use "
	    "[MQTT-2.2.1-3] (5.0 [MQTT-2.2.1-4])",
	[CODEC_ERR_PACKET_ID_UNKNOWN] = "an acknowledgement for a packet "
	    "identifier not in the state it answers: PUBACK for no QoS 1 "
	    "PUBLISH, PUBREC for no QoS 2 PUBLISH, PUBREL before PUBREC, "
	    "PUBCOMP before PUBREL (3.1.1 §4.3, 5.0 §4.3)",
	[CODEC_ERR_PAYLOAD_FORMAT] = "Payload Format Indicator 1 with a "
	    "payload that is not UTF-8 [MQTT-3.3.2-4] (5.0 §3.3.2.3.2; "
	    "limits.validate_payload_format)",
	[CODEC_ERR_USER_PROPS] = "more User Properties in one packet than "
	    "limits.max_user_properties allows (5.0 §3.1.2.11.8: a User "
	    "Property may appear many times; the cap is the proxy's)",
};

static const char *const type_str[16] = {
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE",
	"UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"
};

/*
 * Readers.  Each returns 0, CODEC_ERR_LENGTH when the field overruns the
 * frame (block), or RD_CONTIG when it overruns only the contiguous bytes.
 */
static inline int
rd_has(struct rd *r, size_t n)
{
	if (n > r->end - r->off)
		return CODEC_ERR_LENGTH;
	if (n > r->cend - r->off) {
		r->need = r->off + n;
		return RD_CONTIG;
	}
	return 0;
}

static inline int
rd_u8(struct rd *r, uint8_t *v)
{
	int	rc;

	if ((rc = rd_has(r, 1)) != 0)
		return rc;
	*v = r->buf[r->off++];
	return 0;
}

static inline int
rd_u16(struct rd *r, uint16_t *v)
{
	int	rc;

	if ((rc = rd_has(r, 2)) != 0)
		return rc;
	*v = (uint16_t)(r->buf[r->off] << 8 | r->buf[r->off + 1]);
	r->off += 2;
	return 0;
}

static inline int
rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t	*p;
	int		 rc;

	if ((rc = rd_has(r, 4)) != 0)
		return rc;
	p = r->buf + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return 0;
}

/*
 * A variable byte integer: at most 4 bytes, minimally encoded
 * (5.0 [MQTT-1.5.5-1]); <bad> is the error for a malformed one.
 */
static int
rd_vbi(struct rd *r, uint32_t *v, int bad)
{
	uint32_t	val = 0;
	uint8_t		b;
	unsigned	i;
	int		rc;

	for (i = 0; i < 4; i++) {
		if ((rc = rd_has(r, 1)) != 0) {
			if (rc == RD_CONTIG && r->end - r->off > 1)
				r->need = r->off + (r->end - r->off < 4 - i ?
				    r->end - r->off : 4 - i);
			return rc;
		}
		b = r->buf[r->off++];
		val |= (uint32_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			if (b == 0 && i > 0)
				return bad;
			*v = val;
			return 0;
		}
	}
	return bad;
}

/* A two-byte length and that many bytes: strings and binary data. */
static inline int
rd_bin(struct rd *r, struct codec_buf *b)
{
	uint16_t	n;
	int		rc;

	if ((rc = rd_u16(r, &n)) != 0)
		return rc;
	if ((rc = rd_has(r, n)) != 0)
		return rc;
	b->p = r->buf + r->off;
	b->len = n;
	r->off += n;
	return 0;
}

/*
 * Validates <n> bytes at <p> as an MQTT UTF-8 string (3.1.1 §1.5.3, 5.0
 * §1.5.4); <topic> also refuses the wildcards of a topic name.  The
 * validator is topic_utf8_check(), the one the ACL uses for its rules too;
 * this maps its verdict to ours.
 */
static int
str_check(const struct codec_limits *lim, const uint8_t *p, size_t n,
    bool topic)
{
	unsigned	flags = 0;

	if (lim != NULL && lim->reject_control)
		flags |= TOPIC_CONTROL;
	if (lim != NULL && lim->reject_nonchar)
		flags |= TOPIC_NONCHAR;
	if (topic)
		flags |= TOPIC_NAME;
	switch (topic_utf8_check(p, n, flags)) {
	case TOPIC_OK:
		return 0;
	case TOPIC_ERR_NUL:
		return CODEC_ERR_UTF8_NUL;
	case TOPIC_ERR_CONTROL:
		return CODEC_ERR_UTF8_CONTROL;
	case TOPIC_ERR_WILDCARD:
		return CODEC_ERR_TOPIC_WILDCARD;
	case TOPIC_ERR_NONCHAR:
		return CODEC_ERR_UTF8_NONCHAR;
	default:
		return CODEC_ERR_UTF8;
	}
}

/* A topic name: non-empty, UTF-8, no wildcards. */
static int
topic_check(const struct codec_limits *lim, const struct codec_buf *t)
{
	if (t->len == 0)
		return CODEC_ERR_TOPIC_EMPTY;
	return str_check(lim, t->p, t->len, true);
}

/* '#' alone in the last level, '+' a whole level ([MQTT-4.7.1-2/3]). */
static int
wildcard_check(const uint8_t *p, size_t n)
{
	return topic_wildcards_check((const char *)p, n) == TOPIC_OK ? 0 :
	    CODEC_ERR_FILTER_WILDCARD;
}

/*
 * A topic filter.  From 3.1.1 on, "$share/" starts a shared subscription
 * (5.0 §4.8.2; brokers accept it from 3.1.1 clients too): the ShareName
 * must be non-empty and free of '/', '+' and '#', and be followed by '/'
 * and a valid, non-empty filter.  Sets *<shared>.
 */
static int
filter_check(const struct codec_limits *lim, uint8_t level,
    const struct codec_buf *f, bool *shared)
{
	static const char	 pfx[] = "$share/";
	const size_t		 plen = sizeof(pfx) - 1;
	const uint8_t		*name, *slash, *rest;
	size_t			 nlen, i;
	int			 rc;

	*shared = false;
	if (f->len == 0)
		return CODEC_ERR_FILTER_EMPTY;
	if ((rc = str_check(lim, f->p, f->len, false)) != 0)
		return rc;
	if (level < CODEC_V311 || f->len < plen ||
	    memcmp(f->p, pfx, plen) != 0)
		return wildcard_check(f->p, f->len);

	*shared = true;
	name = f->p + plen;
	slash = memchr(name, '/', f->len - plen);
	if (slash == NULL || slash == name)
		return CODEC_ERR_SHARED_SUB;
	nlen = (size_t)(slash - name);
	for (i = 0; i < nlen; i++)
		if (name[i] == '+' || name[i] == '#')
			return CODEC_ERR_SHARED_SUB;
	rest = slash + 1;
	if (rest == f->p + f->len)
		return CODEC_ERR_SHARED_SUB;
	return wildcard_check(rest, (size_t)(f->p + f->len - rest));
}

/*
 * Whether <n> User Properties are more than <lim> allows.  Each costs
 * Mosquitto 1.6-2.0.11 more than its bytes (CVE-2021-41039); a count
 * within max_packet is still far more than any client sends.
 */
static inline bool
user_props_over(const struct codec_limits *lim, unsigned n)
{
	return lim != NULL && lim->max_user_props > 0 &&
	    n > lim->max_user_props;
}

/*
 * Whether property <id> may stand in packet context <ctx> (a packet type,
 * or PROPS_WILL) sent by <dir>, given those seen so far in <pr>: 0 (and
 * <id> marked seen, its value kind in <kind>) or the error.
 */
static int
prop_admit(uint8_t id, unsigned ctx, enum codec_dir dir,
    struct codec_props *pr, uint8_t *kind)
{
	uint64_t	bit;

	/* An identifier is a VBI; all defined ones fit in 7 bits. */
	*kind = id < sizeof(prop_kind) ? prop_kind[id] : PK_NONE;
	if (*kind == PK_NONE)
		return CODEC_ERR_PROP_UNKNOWN;
	bit = BIT(id);
	if ((prop_allowed[ctx] & bit) == 0)
		return CODEC_ERR_PROP_NOT_ALLOWED;
	if (ctx == CODEC_PUBLISH && id == CODEC_PROP_SUBSCRIPTION_ID &&
	    dir == CODEC_FROM_CLIENT)
		return CODEC_ERR_PROP_NOT_ALLOWED;	/* [MQTT-3.3.4-6] */
	if (ctx == CODEC_DISCONNECT && id == CODEC_PROP_SESSION_EXPIRY &&
	    dir == CODEC_FROM_SERVER)
		return CODEC_ERR_PROP_NOT_ALLOWED;	/* [MQTT-3.14.2-2] */
	if ((pr->seen & bit) != 0 && id != CODEC_PROP_USER_PROPERTY &&
	    !(id == CODEC_PROP_SUBSCRIPTION_ID && ctx == CODEC_PUBLISH))
		return CODEC_ERR_PROP_DUPLICATE;
	pr->seen |= bit;
	return 0;
}

/* A one-byte property <id> (0 or 1) into <pr>. */
static int
prop_byte(struct rd *b, uint8_t id, struct codec_props *pr)
{
	uint8_t	u8;
	int	rc;

	if ((rc = rd_u8(b, &u8)) != 0)
		return rc;
	if (u8 > 1)
		return CODEC_ERR_PROP_VALUE;
	if (id == CODEC_PROP_PAYLOAD_FORMAT)
		pr->payload_format = u8;
	else if (id == CODEC_PROP_MAX_QOS)
		pr->max_qos = u8;
	else if (id == CODEC_PROP_RETAIN_AVAILABLE)
		pr->retain_available = u8;
	return 0;
}

/* A two-byte integer property <id> into <pr>. */
static int
prop_u16(struct rd *b, uint8_t id, struct codec_props *pr)
{
	uint16_t	u16;
	int		rc;

	if ((rc = rd_u16(b, &u16)) != 0)
		return rc;
	switch (id) {
	case CODEC_PROP_RECEIVE_MAX:
		if (u16 == 0)
			return CODEC_ERR_PROP_VALUE;
		pr->receive_max = u16;
		break;
	case CODEC_PROP_TOPIC_ALIAS:
		if (u16 == 0)
			return CODEC_ERR_TOPIC_ALIAS;
		pr->topic_alias = u16;
		break;
	case CODEC_PROP_TOPIC_ALIAS_MAX:
		pr->topic_alias_max = u16;
		break;
	default:
		pr->server_keep_alive = u16;
		break;
	}
	return 0;
}

/* A four-byte integer property <id> into <pr>. */
static int
prop_u32(struct rd *b, uint8_t id, struct codec_props *pr)
{
	uint32_t	u32;
	int		rc;

	if ((rc = rd_u32(b, &u32)) != 0)
		return rc;
	switch (id) {
	case CODEC_PROP_MAX_PACKET_SIZE:
		if (u32 == 0)
			return CODEC_ERR_PROP_VALUE;
		pr->max_packet_size = u32;
		break;
	case CODEC_PROP_SESSION_EXPIRY:
		pr->session_expiry = u32;
		break;
	case CODEC_PROP_MESSAGE_EXPIRY:
		pr->message_expiry = u32;
		break;
	default:
		pr->will_delay = u32;
		break;
	}
	return 0;
}

/* A UTF-8 string property <id> into <pr>. */
static int
prop_str(const struct codec_limits *lim, struct rd *b, uint8_t id,
    struct codec_props *pr)
{
	struct codec_buf	s;
	int			rc;

	if ((rc = rd_bin(b, &s)) != 0)
		return rc;
	if (id == CODEC_PROP_RESPONSE_TOPIC)
		rc = topic_check(lim, &s);	/* [MQTT-3.3.2-14] */
	else
		rc = str_check(lim, s.p, s.len, false);
	if (rc != 0)
		return rc;
	if (id == CODEC_PROP_AUTH_METHOD)
		pr->auth_method = s;
	else if (id == CODEC_PROP_REASON_STRING)
		pr->reason_string = s;
	return 0;
}

/*
 * One property from block reader <b> for packet context <ctx> (a packet
 * type, or PROPS_WILL) sent by <dir>.  Returns 0 or the error; a field that
 * overruns the block comes back as CODEC_ERR_LENGTH for the caller to map.
 */
static int
prop_one(const struct codec_limits *lim, struct rd *b, unsigned ctx,
    enum codec_dir dir, struct codec_props *pr)
{
	struct codec_buf	 s, v;
	uint32_t		 u32;
	uint8_t			 id, kind;
	int			 rc;

	id = b->buf[b->off++];
	if ((rc = prop_admit(id, ctx, dir, pr, &kind)) != 0)
		return rc;
	switch (kind) {
	case PK_BYTE:
		return prop_byte(b, id, pr);
	case PK_U16:
		return prop_u16(b, id, pr);
	case PK_U32:
		return prop_u32(b, id, pr);
	case PK_VBI:
		if ((rc = rd_vbi(b, &u32, CODEC_ERR_PROP_VALUE)) != 0)
			return rc;
		if (u32 == 0)
			return CODEC_ERR_PROP_VALUE;
		if (pr->n_subscription_ids++ == 0)
			pr->subscription_id = u32;
		return 0;
	case PK_STR:
		return prop_str(lim, b, id, pr);
	case PK_BIN:
		if ((rc = rd_bin(b, &s)) != 0)
			return rc;
		if (id == CODEC_PROP_AUTH_DATA)
			pr->auth_data = s;
		return 0;
	default:	/* PK_PAIR */
		if ((rc = rd_bin(b, &s)) != 0 ||
		    (rc = str_check(lim, s.p, s.len, false)) != 0 ||
		    (rc = rd_bin(b, &v)) != 0 ||
		    (rc = str_check(lim, v.p, v.len, false)) != 0)
			return rc;
		pr->n_user_props++;
		return dir == CODEC_FROM_CLIENT &&
		    user_props_over(lim, pr->n_user_props) ?
		    CODEC_ERR_USER_PROPS : 0;
	}
}

/*
 * A 5.0 property block: its length (a VBI) and the properties, which must
 * fill it exactly.  <pr> must be zeroed by the caller.
 */
static int
props_decode(const struct codec_limits *lim, struct rd *r, unsigned ctx,
    enum codec_dir dir, struct codec_props *pr)
{
	struct rd	b;
	uint32_t	plen;
	int		rc;

	if ((rc = rd_vbi(r, &plen, CODEC_ERR_PROP_LENGTH)) != 0)
		return rc == CODEC_ERR_LENGTH ? CODEC_ERR_PROP_LENGTH : rc;
	if (plen > r->end - r->off)
		return CODEC_ERR_PROP_LENGTH;
	if (plen > r->cend - r->off) {
		r->need = r->off + plen;
		return RD_CONTIG;
	}
	pr->raw.p = r->buf + r->off;
	pr->raw.len = plen;
	b.buf = r->buf;
	b.off = r->off;
	b.end = b.cend = r->off + plen;
	b.need = 0;
	r->off += plen;
	while (b.off < b.end)
		if ((rc = prop_one(lim, &b, ctx, dir, pr)) != 0)
			return rc == CODEC_ERR_LENGTH ?
			    CODEC_ERR_PROP_LENGTH : rc;
	/* 5.0 §3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3 */
	if (CODEC_PROP_HAS(pr, CODEC_PROP_AUTH_DATA) &&
	    !CODEC_PROP_HAS(pr, CODEC_PROP_AUTH_METHOD))
		return CODEC_ERR_PROP_VALUE;
	return 0;
}

static bool
reason_ok(uint8_t type, uint8_t rc)
{
	const struct rcset	*set = &rc_by_type[type & 0xf];

	return set->n != 0 && memchr(set->codes, rc, set->n) != NULL;
}

/*
 * What the first byte alone proves: reserved type, a packet before CONNECT,
 * a type the sender may not send, wrong flags.  Checked before the length
 * so that a hostile peer is refused at its first byte.
 */
static int
first_byte_check(uint8_t level, enum codec_dir dir, uint8_t b)
{
	uint8_t	type = b >> 4, flags = b & 0xf, qos;

	if (type == 0)
		return CODEC_ERR_TYPE_RESERVED;
	if (level == 0) {
		if (dir != CODEC_FROM_CLIENT)
			return CODEC_ERR_NOT_CONNECTED;
		if (type != CODEC_CONNECT)
			return CODEC_ERR_FIRST_NOT_CONNECT;
	} else if (type != CODEC_CONNECT && level != CODEC_V31 &&
	    level != CODEC_V311 && level != CODEC_V5)
		return CODEC_ERR_PROTOCOL_LEVEL;	/* caller's bug: fail */
	if (type == CODEC_AUTH && level != CODEC_V5)
		return CODEC_ERR_TYPE_RESERVED;

	switch (type) {
	case CODEC_CONNACK:
	case CODEC_SUBACK:
	case CODEC_UNSUBACK:
	case CODEC_PINGRESP:
		if (dir == CODEC_FROM_CLIENT)
			return CODEC_ERR_WRONG_DIRECTION;
		break;
	case CODEC_CONNECT:
	case CODEC_SUBSCRIBE:
	case CODEC_UNSUBSCRIBE:
	case CODEC_PINGREQ:
		if (dir == CODEC_FROM_SERVER)
			return CODEC_ERR_WRONG_DIRECTION;
		break;
	case CODEC_DISCONNECT:
		/* Before 5.0 a server just closes (3.1.1 §3.14). */
		if (dir == CODEC_FROM_SERVER && level != CODEC_V5)
			return CODEC_ERR_WRONG_DIRECTION;
		break;
	default:
		break;
	}

	if (type == CODEC_PUBLISH) {
		qos = (flags >> 1) & 3;
		if (qos == 3)
			return CODEC_ERR_QOS;
		if ((flags & 0x8) != 0 && qos == 0)
			return CODEC_ERR_DUP_QOS0;
	} else if (flags != hdr_flags[type])
		return CODEC_ERR_HEADER_FLAGS;
	return 0;
}

/*
 * The fixed header: the length is a variable byte integer of at most four
 * bytes.  Non-minimal encodings (0x80 0x00) are refused although 3.1.1 is
 * silent on them: 5.0 forbids them [MQTT-1.5.5-1], no honest client sends
 * one, and accepting two spellings of one length only helps a peer that
 * wants the proxy and the broker to disagree on where a frame ends.
 */
int
codec_header_decode(const struct codec_limits *lim, const uint8_t *buf,
    size_t len, struct codec_packet *pkt)
{
	size_t		max = lim != NULL ? lim->max_packet : 0;
	size_t		rem = 0, i;
	uint8_t		b;

	pkt->err = CODEC_ERR_NONE;
	pkt->need = 0;
	if (len == 0) {
		pkt->need = 2;
		return CODEC_NEED;
	}
	pkt->type = buf[0] >> 4;
	pkt->flags = buf[0] & 0xf;
	if (pkt->type == 0) {
		pkt->err = CODEC_ERR_TYPE_RESERVED;
		return CODEC_ERROR;
	}
	for (i = 1; i <= 4; i++) {
		if (i >= len) {
			pkt->need = i + 1;
			return CODEC_NEED;
		}
		b = buf[i];
		rem |= (size_t)(b & 0x7f) << (7 * (i - 1));
		if ((b & 0x80) == 0) {
			if (b == 0 && i > 1)
				break;
			pkt->hdr_len = i + 1;
			pkt->rem_len = rem;
			pkt->len = i + 1 + rem;
			if (max != 0 && pkt->len > max) {
				pkt->err = CODEC_ERR_TOO_LARGE;
				return CODEC_ERROR;
			}
			return CODEC_OK;
		}
		/*
		 * More length follows, and the next byte is not 0 (minimal
		 * encoding): the frame is at least this long.  Refuse it now
		 * rather than after a byte the peer may never send.
		 */
		if (i < 4 && max != 0 &&
		    i + 2 + rem + ((size_t)1 << (7 * i)) > max) {
			pkt->err = CODEC_ERR_TOO_LARGE;
			return CODEC_ERROR;
		}
	}
	pkt->err = CODEC_ERR_REMLEN_ENCODING;
	return CODEC_ERROR;
}

/* CONNECT (3.1 §3.1, 3.1.1 §3.1, 5.0 §3.1): parsed by its own level. */
static int
decode_connect(const struct codec_limits *lim, struct rd *r,
    struct codec_packet *pkt)
{
	struct codec_connect	*c = &pkt->u.connect;
	struct codec_buf	 name;
	uint8_t			 f;
	bool			 v31, v311;
	int			 rc;

	if ((rc = rd_bin(r, &name)) != 0 || (rc = rd_u8(r, &c->level)) != 0)
		return rc;
	v311 = name.len == 4 && memcmp(name.p, "MQTT", 4) == 0;
	v31 = name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0;
	if (!v311 && !v31)
		return CODEC_ERR_PROTOCOL_NAME;
	if (c->level != CODEC_V31 && c->level != CODEC_V311 &&
	    c->level != CODEC_V5)
		return CODEC_ERR_PROTOCOL_LEVEL;
	if (v31 != (c->level == CODEC_V31))
		return CODEC_ERR_PROTOCOL_NAME;

	if ((rc = rd_u8(r, &c->flags)) != 0)
		return rc;
	f = c->flags;
	if ((f & 0x01) != 0)
		return CODEC_ERR_CONNECT_RESERVED;
	if ((f & CODEC_CF_WILL) == 0 ?
	    (CODEC_CF_WILL_QOS(f) != 0 || (f & CODEC_CF_WILL_RETAIN) != 0) :
	    CODEC_CF_WILL_QOS(f) == 3)
		return CODEC_ERR_WILL_FLAGS;
	if (c->level < CODEC_V5 && (f & CODEC_CF_PASSWORD) != 0 &&
	    (f & CODEC_CF_USERNAME) == 0)
		return CODEC_ERR_PASSWORD_NO_USER;
	if ((rc = rd_u16(r, &c->keepalive)) != 0)
		return rc;
	if (c->level == CODEC_V5 && (rc = props_decode(lim, r, CODEC_CONNECT,
	    CODEC_FROM_CLIENT, &pkt->props)) != 0)
		return rc;

	if ((rc = rd_bin(r, &c->client_id)) != 0 ||
	    (rc = str_check(lim, c->client_id.p, c->client_id.len,
	    false)) != 0)
		return rc;
	if (c->level == CODEC_V31 && (c->client_id.len == 0 ||
	    c->client_id.len > CLIENT_ID_V31))
		return CODEC_ERR_CLIENT_ID;
	if (c->level == CODEC_V311 && c->client_id.len == 0 &&
	    (f & CODEC_CF_CLEAN) == 0)
		return CODEC_ERR_CLIENT_ID;		/* [MQTT-3.1.3-8] */

	if ((f & CODEC_CF_WILL) != 0) {
		if (c->level == CODEC_V5 && (rc = props_decode(lim, r,
		    PROPS_WILL, CODEC_FROM_CLIENT, &c->will_props)) != 0)
			return rc;
		/* One cap for the packet: the CONNECT's and the will's. */
		if (user_props_over(lim, pkt->props.n_user_props +
		    c->will_props.n_user_props))
			return CODEC_ERR_USER_PROPS;
		if ((rc = rd_bin(r, &c->will_topic)) != 0 ||
		    (rc = topic_check(lim, &c->will_topic)) != 0 ||
		    (rc = rd_bin(r, &c->will_payload)) != 0)
			return rc;
	}
	if ((f & CODEC_CF_USERNAME) != 0 &&
	    ((rc = rd_bin(r, &c->username)) != 0 ||
	    (rc = str_check(lim, c->username.p, c->username.len,
	    false)) != 0))
		return rc;
	if ((f & CODEC_CF_PASSWORD) != 0 &&
	    (rc = rd_bin(r, &c->password)) != 0)
		return rc;
	return r->off == r->end ? 0 : CODEC_ERR_LENGTH;
}

/*
 * CONNACK.  At 3.x pkt->reason is the return code (0..5); 3.1 reserves the
 * whole flags byte, 3.1.1 all but session present.
 */
static int
decode_connack(const struct codec_limits *lim, uint8_t level, struct rd *r,
    struct codec_packet *pkt)
{
	uint8_t	f;
	int	rc;

	if ((rc = rd_u8(r, &f)) != 0 || (rc = rd_u8(r, &pkt->reason)) != 0)
		return rc;
	if ((f & (level == CODEC_V31 ? 0xff : 0xfe)) != 0)
		return CODEC_ERR_CONNACK_FLAGS;
	pkt->session_present = (f & 1) != 0;
	if (level == CODEC_V5) {
		if (!reason_ok(CODEC_CONNACK, pkt->reason))
			return CODEC_ERR_REASON_CODE;
		if ((rc = props_decode(lim, r, CODEC_CONNACK,
		    CODEC_FROM_SERVER, &pkt->props)) != 0)
			return rc;
	} else if (pkt->reason > 5)
		return CODEC_ERR_REASON_CODE;
	if (pkt->session_present && pkt->reason != 0)
		return CODEC_ERR_CONNACK_FLAGS;
	return r->off == r->end ? 0 : CODEC_ERR_LENGTH;
}

/*
 * PUBLISH: topic, packet identifier (QoS > 0), 5.0 properties, payload.
 * Only this far must be contiguous; the payload is not read.
 */
static int
decode_publish(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, struct rd *r, struct codec_packet *pkt)
{
	struct codec_publish	*p = &pkt->u.publish;
	int			 rc;

	p->qos = (pkt->flags >> 1) & 3;
	p->dup = (pkt->flags & 0x8) != 0;
	p->retain = (pkt->flags & 0x1) != 0;
	if ((rc = rd_bin(r, &p->topic)) != 0)
		return rc;
	if (p->topic.len != 0 &&
	    (rc = str_check(lim, p->topic.p, p->topic.len, true)) != 0)
		return rc;
	if (p->qos != 0) {
		if ((rc = rd_u16(r, &pkt->packet_id)) != 0)
			return rc;
		if (pkt->packet_id == 0)
			return CODEC_ERR_PACKET_ID_ZERO;
	}
	if (level == CODEC_V5 && (rc = props_decode(lim, r, CODEC_PUBLISH,
	    dir, &pkt->props)) != 0)
		return rc;
	/* 5.0 §3.3.2.1: an empty topic name is legal with a topic alias. */
	if (p->topic.len == 0 && !(level == CODEC_V5 &&
	    CODEC_PROP_HAS(&pkt->props, CODEC_PROP_TOPIC_ALIAS)))
		return CODEC_ERR_TOPIC_EMPTY;
	p->resolved = p->topic;
	p->payload_off = r->off;
	p->payload_len = r->end - r->off;
	return 0;
}

/*
 * PUBACK, PUBREC, PUBREL, PUBCOMP.  5.0 may shorten them: remaining length
 * 2 means reason 0, 3 means no properties (5.0 §3.4.2.1, §3.4.2.2.1).
 */
static int
decode_pubresp(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, struct rd *r, struct codec_packet *pkt)
{
	int	rc;

	if ((rc = rd_u16(r, &pkt->packet_id)) != 0)
		return rc;
	if (pkt->packet_id == 0)
		return CODEC_ERR_PACKET_ID_ZERO;
	if (level == CODEC_V5 && r->off < r->end) {
		if ((rc = rd_u8(r, &pkt->reason)) != 0)
			return rc;
		if (!reason_ok(pkt->type, pkt->reason))
			return CODEC_ERR_REASON_CODE;
		if (r->off < r->end && (rc = props_decode(lim, r, pkt->type,
		    dir, &pkt->props)) != 0)
			return rc;
	}
	return r->off == r->end ? 0 : CODEC_ERR_LENGTH;
}

/* SUBSCRIBE and UNSUBSCRIBE: at least one filter, each validated. */
static int
decode_subscribe(const struct codec_limits *lim, uint8_t level,
    struct rd *r, struct codec_packet *pkt)
{
	struct codec_buf	 f;
	bool			 sub = pkt->type == CODEC_SUBSCRIBE, shared;
	uint8_t			 o = 0;
	int			 rc;

	if ((rc = rd_u16(r, &pkt->packet_id)) != 0)
		return rc;
	if (pkt->packet_id == 0)
		return CODEC_ERR_PACKET_ID_ZERO;
	if (level == CODEC_V5 && (rc = props_decode(lim, r, pkt->type,
	    CODEC_FROM_CLIENT, &pkt->props)) != 0)
		return rc;
	pkt->u.list.list.p = r->buf + r->off;
	pkt->u.list.list.len = r->end - r->off;
	while (r->off < r->end) {
		if ((rc = rd_bin(r, &f)) != 0 ||
		    (sub && (rc = rd_u8(r, &o)) != 0) ||
		    (rc = filter_check(lim, level, &f, &shared)) != 0)
			return rc;
		if (sub && level == CODEC_V5) {
			/* reserved 6-7, retain handling 3, QoS 3 */
			if ((o & 0xc0) != 0 || (o & 0x30) == 0x30 ||
			    (o & 0x03) == 0x03)
				return CODEC_ERR_SUBOPTS;
			if (shared && (o & 0x04) != 0)
				return CODEC_ERR_SHARED_SUB;
		} else if (sub && ((o & 0xfc) != 0 || o == 0x03))
			return CODEC_ERR_SUBOPTS;
		pkt->u.list.count++;
	}
	return pkt->u.list.count != 0 ? 0 : CODEC_ERR_NO_FILTERS;
}

/* SUBACK and UNSUBACK; a 3.x UNSUBACK is the packet identifier alone. */
static int
decode_suback(const struct codec_limits *lim, uint8_t level, struct rd *r,
    struct codec_packet *pkt)
{
	const uint8_t	*c;
	size_t		 i, n;
	int		 rc;

	if ((rc = rd_u16(r, &pkt->packet_id)) != 0)
		return rc;
	if (pkt->packet_id == 0)
		return CODEC_ERR_PACKET_ID_ZERO;
	if (level == CODEC_V5 && (rc = props_decode(lim, r, pkt->type,
	    CODEC_FROM_SERVER, &pkt->props)) != 0)
		return rc;
	if (level != CODEC_V5 && pkt->type == CODEC_UNSUBACK)
		return r->off == r->end ? 0 : CODEC_ERR_LENGTH;
	c = r->buf + r->off;
	n = r->end - r->off;
	if (n == 0)
		return CODEC_ERR_LENGTH;	/* one code per filter */
	for (i = 0; i < n; i++) {
		if (level == CODEC_V5 ? !reason_ok(pkt->type, c[i]) :
		    c[i] > 2 && c[i] != 0x80)	/* [MQTT-3.9.3-2] */
			return CODEC_ERR_REASON_CODE;
	}
	pkt->u.list.list.p = c;
	pkt->u.list.list.len = n;
	pkt->u.list.count = (unsigned)n;
	r->off = r->end;
	return 0;
}

/* DISCONNECT: empty before 5.0; 5.0 may omit reason and properties. */
static int
decode_disconnect(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, struct rd *r, struct codec_packet *pkt)
{
	int	rc;

	if (level == CODEC_V5 && r->off < r->end) {
		if ((rc = rd_u8(r, &pkt->reason)) != 0)
			return rc;
		if (!reason_ok(CODEC_DISCONNECT, pkt->reason))
			return CODEC_ERR_REASON_CODE;
		if (r->off < r->end && (rc = props_decode(lim, r,
		    CODEC_DISCONNECT, dir, &pkt->props)) != 0)
			return rc;
	}
	return r->off == r->end ? 0 : CODEC_ERR_LENGTH;
}

/*
 * AUTH (5.0 §3.15): remaining length 0 means success without properties;
 * otherwise reason and property length are both present.
 */
static int
decode_auth(const struct codec_limits *lim, enum codec_dir dir, struct rd *r,
    struct codec_packet *pkt)
{
	int	rc;

	if (r->off == r->end)
		return 0;
	if ((rc = rd_u8(r, &pkt->reason)) != 0)
		return rc;
	if (!reason_ok(CODEC_AUTH, pkt->reason))
		return CODEC_ERR_REASON_CODE;
	if ((rc = props_decode(lim, r, CODEC_AUTH, dir, &pkt->props)) != 0)
		return rc;
	return r->off == r->end ? 0 : CODEC_ERR_LENGTH;
}

/*
 * codec_decode() up to the body, on a <buf> of which <contig> (at most
 * <buffered>) bytes are contiguous: the first byte, the fixed header, and
 * whether the whole frame is buffered and, but for a PUBLISH (whose
 * payload may stay split), contiguous.  CODEC_OK when the body can be
 * read; otherwise codec_decode()'s verdict, pkt->need or pkt->err set.
 */
static int
decode_frame(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, const uint8_t *buf, size_t contig, size_t buffered,
    struct codec_packet *pkt)
{
	int	rc;

	if (contig == 0) {
		if (buffered == 0) {
			pkt->need = 2;
			return CODEC_NEED;
		}
		pkt->need = buffered < HDR_MAX ? buffered : HDR_MAX;
		return CODEC_NEED_CONTIG;
	}
	if ((rc = first_byte_check(level, dir, buf[0])) != 0) {
		pkt->err = rc;
		return CODEC_ERROR;
	}
	switch (codec_header_decode(lim, buf, contig, pkt)) {
	case CODEC_OK:
		break;
	case CODEC_NEED:
		if (contig < buffered) {
			pkt->need = buffered < HDR_MAX ? buffered : HDR_MAX;
			return CODEC_NEED_CONTIG;
		}
		return CODEC_NEED;
	default:
		return CODEC_ERROR;
	}
	if (buffered < pkt->len) {
		pkt->need = pkt->len;
		return CODEC_NEED;
	}
	if (pkt->type != CODEC_PUBLISH && contig < pkt->len) {
		pkt->need = pkt->len;
		return CODEC_NEED_CONTIG;
	}
	return CODEC_OK;
}

/*
 * The body of the frame whose header is in <pkt>, read through <r>, by
 * packet type into pkt->u (cleared first).  0, RD_CONTIG, or the rule
 * broken.
 */
static int
decode_body(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, struct rd *r, struct codec_packet *pkt)
{
	if (pkt->type == CODEC_CONNECT)
		memset(&pkt->u.connect, 0, sizeof(pkt->u.connect));
	else if (pkt->type == CODEC_PUBLISH)
		memset(&pkt->u.publish, 0, sizeof(pkt->u.publish));
	else
		memset(&pkt->u.list, 0, sizeof(pkt->u.list));
	switch (pkt->type) {
	case CODEC_CONNECT:
		return decode_connect(lim, r, pkt);
	case CODEC_CONNACK:
		return decode_connack(lim, level, r, pkt);
	case CODEC_PUBLISH:
		return decode_publish(lim, level, dir, r, pkt);
	case CODEC_PUBACK:
	case CODEC_PUBREC:
	case CODEC_PUBREL:
	case CODEC_PUBCOMP:
		return decode_pubresp(lim, level, dir, r, pkt);
	case CODEC_SUBSCRIBE:
	case CODEC_UNSUBSCRIBE:
		return decode_subscribe(lim, level, r, pkt);
	case CODEC_SUBACK:
	case CODEC_UNSUBACK:
		return decode_suback(lim, level, r, pkt);
	case CODEC_PINGREQ:
	case CODEC_PINGRESP:
		return pkt->rem_len == 0 ? 0 : CODEC_ERR_LENGTH;
	case CODEC_DISCONNECT:
		return decode_disconnect(lim, level, dir, r, pkt);
	default:	/* CODEC_AUTH, level 5 checked by decode_frame() */
		return decode_auth(lim, dir, r, pkt);
	}
}

int
codec_decode(const struct codec_limits *lim, uint8_t level,
    enum codec_dir dir, const uint8_t *buf, size_t contig, size_t buffered,
    struct codec_packet *pkt)
{
	struct rd	r;
	int		rc;

	memset(pkt, 0, offsetof(struct codec_packet, u));
	if (contig > buffered)
		contig = buffered;		/* fail safe */
	if ((rc = decode_frame(lim, level, dir, buf, contig, buffered,
	    pkt)) != CODEC_OK)
		return rc;
	r.buf = buf;
	r.off = pkt->hdr_len;
	r.end = pkt->len;
	r.cend = contig < pkt->len ? contig : pkt->len;
	r.need = 0;
	if ((rc = decode_body(lim, level, dir, &r, pkt)) == RD_CONTIG) {
		pkt->need = r.need;
		return CODEC_NEED_CONTIG;
	}
	if (rc != 0) {
		pkt->err = rc;
		return CODEC_ERROR;
	}
	return CODEC_OK;
}

int
codec_filter_next(const struct codec_packet *pkt, size_t *off,
    struct codec_buf *filter, uint8_t *opts)
{
	const struct codec_buf	*l = &pkt->u.list.list;
	size_t			 o = *off, n, extra;

	if (pkt->type != CODEC_SUBSCRIBE && pkt->type != CODEC_UNSUBSCRIBE)
		return 0;
	extra = pkt->type == CODEC_SUBSCRIBE ? 1 : 0;
	if (o > l->len || l->len - o < 2)
		return 0;
	n = (size_t)l->p[o] << 8 | l->p[o + 1];
	if (n + extra > l->len - o - 2)
		return 0;
	filter->p = l->p + o + 2;
	filter->len = n;
	if (opts != NULL)
		*opts = extra != 0 ? l->p[o + 2 + n] : 0;
	*off = o + 2 + n + extra;
	return 1;
}

void
codec_session_init(struct codec_session *s)
{
	memset(s, 0, sizeof(*s));
}

static void
alias_free(struct codec_alias *a)
{
	unsigned	i;

	if (a->topic != NULL)
		for (i = 0; i < a->cap; i++)
			free(a->topic[i]);
	free(a->topic);
	free(a->len);
	a->topic = NULL;
	a->len = NULL;
	a->cap = 0;
}

/*
 * Makes slot <id> exist.  The slots grow with the highest alias in use,
 * not with the maximum the peer announced, so that a Topic Alias Maximum
 * of 65535 costs nothing until the aliases are used.
 */
static int
alias_grow(struct codec_alias *a, uint16_t id)
{
	uint8_t		**t;
	uint16_t	 *l;
	size_t		  cap;

	if (id < a->cap)
		return 0;
	for (cap = a->cap != 0 ? a->cap : 8; cap <= id; cap *= 2)
		;
	if (cap > (size_t)a->max + 1)
		cap = (size_t)a->max + 1;
	if ((t = realloc(a->topic, cap * sizeof(*t))) == NULL)
		return -1;
	a->topic = t;
	if ((l = realloc(a->len, cap * sizeof(*l))) == NULL)
		return -1;
	a->len = l;
	memset(t + a->cap, 0, (cap - a->cap) * sizeof(*t));
	memset(l + a->cap, 0, (cap - a->cap) * sizeof(*l));
	a->cap = (uint32_t)cap;
	return 0;
}

void
codec_session_fini(struct codec_session *s)
{
	alias_free(&s->alias[CODEC_FROM_CLIENT]);
	alias_free(&s->alias[CODEC_FROM_SERVER]);
	memset(s, 0, sizeof(*s));
}

static int
session_fail(struct codec_packet *pkt, enum codec_err err)
{
	pkt->err = err;
	return -1;
}

/*
 * 5.0 topic aliases of one direction (5.0 §3.3.2.3.4): a PUBLISH with a
 * topic binds the alias to it (a bounded copy: the frame will be drained),
 * one without uses the binding.  Sets publish.resolved, which views either
 * the frame or the table: valid until the alias is rebound or the session
 * finished.
 */
static int
alias_apply(struct codec_alias *a, struct codec_packet *pkt)
{
	struct codec_publish	*p = &pkt->u.publish;
	uint16_t		 id = pkt->props.topic_alias;
	uint8_t			*t;

	if (id == 0 || id > a->max)
		return CODEC_ERR_TOPIC_ALIAS;	/* [MQTT-3.3.2-8/9/11] */
	if (p->topic.len == 0) {
		if (id >= a->cap || a->topic[id] == NULL)
			return CODEC_ERR_TOPIC_ALIAS;
		p->resolved.p = a->topic[id];
		p->resolved.len = a->len[id];
		return 0;
	}
	if (alias_grow(a, id) != 0 ||
	    (t = realloc(a->topic[id], p->topic.len)) == NULL)
		return CODEC_ERR_TOPIC_ALIAS;
	memcpy(t, p->topic.p, p->topic.len);
	a->topic[id] = t;
	a->len[id] = (uint16_t)p->topic.len;
	p->resolved = p->topic;
	return 0;
}

/*
 * The connection's state rules.  The client may pipeline packets after
 * CONNECT before CONNACK (the proxy buffers them), except during enhanced
 * authentication [MQTT-3.1.2-30]; the server must answer CONNACK (or AUTH)
 * first and only once.  After a DISCONNECT or a refused CONNACK nothing
 * more may come [MQTT-3.14.4-1], [MQTT-3.2.2-5 (3.1.1)].
 */
int
codec_session_check(struct codec_session *s, enum codec_dir dir,
    struct codec_packet *pkt)
{
	bool	client = dir == CODEC_FROM_CLIENT;
	int	rc;

	if (s->phase == CODEC_PH_CLOSED)
		return session_fail(pkt, CODEC_ERR_NOT_CONNECTED);
	if (s->phase == CODEC_PH_INIT) {
		if (!client)
			return session_fail(pkt, CODEC_ERR_NOT_CONNECTED);
		if (pkt->type != CODEC_CONNECT)
			return session_fail(pkt, CODEC_ERR_FIRST_NOT_CONNECT);
		s->level = pkt->u.connect.level;
		s->phase = CODEC_PH_CONNECT;
		if (s->level == CODEC_V5) {
			s->enhanced_auth = CODEC_PROP_HAS(&pkt->props,
			    CODEC_PROP_AUTH_METHOD);
			alias_free(&s->alias[CODEC_FROM_SERVER]);
			s->alias[CODEC_FROM_SERVER].max =
			    pkt->props.topic_alias_max;
		}
		return 0;
	}
	if (client && pkt->type == CODEC_CONNECT)
		return session_fail(pkt, CODEC_ERR_SECOND_CONNECT);
	if (pkt->type == CODEC_AUTH && !s->enhanced_auth)
		return session_fail(pkt, CODEC_ERR_AUTH_STATE);

	if (s->phase == CODEC_PH_CONNECT) {
		if (client && s->enhanced_auth && pkt->type != CODEC_AUTH &&
		    pkt->type != CODEC_DISCONNECT)
			return session_fail(pkt, CODEC_ERR_AUTH_STATE);
		if (!client && pkt->type != CODEC_CONNACK &&
		    pkt->type != CODEC_AUTH)
			return session_fail(pkt, CODEC_ERR_NOT_CONNECTED);
		if (pkt->type == CODEC_CONNACK) {
			if (!s->enhanced_auth && CODEC_PROP_HAS(&pkt->props,
			    CODEC_PROP_AUTH_METHOD))
				return session_fail(pkt,
				    CODEC_ERR_AUTH_STATE); /* [MQTT-4.12.0-6] */
			if (pkt->reason != 0) {
				s->phase = CODEC_PH_CLOSED;
				return 0;
			}
			s->phase = CODEC_PH_CONNECTED;
			if (s->level == CODEC_V5) {
				alias_free(&s->alias[CODEC_FROM_CLIENT]);
				s->alias[CODEC_FROM_CLIENT].max =
				    pkt->props.topic_alias_max;
			}
			return 0;
		}
	} else if (pkt->type == CODEC_CONNACK)
		return session_fail(pkt, CODEC_ERR_SECOND_CONNACK);

	if (pkt->type == CODEC_DISCONNECT)
		s->phase = CODEC_PH_CLOSED;
	if (pkt->type == CODEC_PUBLISH && s->level == CODEC_V5 &&
	    CODEC_PROP_HAS(&pkt->props, CODEC_PROP_TOPIC_ALIAS) &&
	    (rc = alias_apply(&s->alias[dir], pkt)) != 0)
		return session_fail(pkt, rc);
	return 0;
}

const char *
codec_err_str(enum codec_err err)
{
	if ((unsigned)err >= CODEC_ERR__MAX || err_str[err] == NULL)
		return "unknown error";
	return err_str[err];
}

/*
 * The 5.0 reason code for a DISCONNECT (or CONNACK) answering <err>: 0x81
 * for a packet that cannot be parsed as the grammar says, 0x82 for one that
 * parses but breaks a rule, and the specific codes where 5.0 has one.
 */
uint8_t
codec_err_reason(enum codec_err err)
{
	switch (err) {
	case CODEC_ERR_NONE:
		return 0x00;
	case CODEC_ERR_TYPE_RESERVED:
	case CODEC_ERR_HEADER_FLAGS:
	case CODEC_ERR_REMLEN_ENCODING:
	case CODEC_ERR_LENGTH:
	case CODEC_ERR_QOS:
	case CODEC_ERR_DUP_QOS0:
	case CODEC_ERR_CONNECT_RESERVED:
	case CODEC_ERR_WILL_FLAGS:
	case CODEC_ERR_PASSWORD_NO_USER:
	case CODEC_ERR_UTF8:
	case CODEC_ERR_UTF8_NUL:
	case CODEC_ERR_UTF8_CONTROL:
	case CODEC_ERR_SUBOPTS:
	case CODEC_ERR_UTF8_NONCHAR:
	case CODEC_ERR_PROP_LENGTH:
	case CODEC_ERR_PROP_UNKNOWN:
	case CODEC_ERR_CONNACK_FLAGS:
		return 0x81;			/* Malformed Packet */
	case CODEC_ERR_TOO_LARGE:
		return 0x95;			/* Packet too large */
	case CODEC_ERR_PROTOCOL_NAME:
	case CODEC_ERR_PROTOCOL_LEVEL:
		return 0x84;		/* Unsupported Protocol Version */
	case CODEC_ERR_CLIENT_ID:
		return 0x85;		/* Client Identifier not valid */
	case CODEC_ERR_TOPIC_ALIAS:
		return 0x94;			/* Topic Alias invalid */
	case CODEC_ERR_PAYLOAD_FORMAT:
		return 0x99;		/* Payload format invalid */
	case CODEC_ERR_USER_PROPS:
		return 0x97;		/* Quota exceeded: an imposed limit */
	default:
		return 0x82;			/* Protocol Error */
	}
}

const char *
codec_type_str(uint8_t type)
{
	return type < 16 ? type_str[type] : "UNKNOWN";
}

/*
 * Encoders.  Each computes the frame length first and writes nothing if it
 * exceeds <cap>.  A reason code the packet type does not allow at 5.0 is a
 * caller bug: those return 0 and write nothing rather than emit a frame
 * the peer must refuse.
 */
static size_t
vbi_size(size_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static size_t
vbi_put(uint8_t *p, size_t v)
{
	size_t	n = 0;

	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			p[n] |= 0x80;
		n++;
	} while (v != 0);
	return n;
}

/*
 * Length of a reason string to send: at most 65535 bytes, cut between
 * UTF-8 sequences; 0 if NULL or empty.
 */
static size_t
reason_string_len(const char *s)
{
	size_t	n;

	if (s == NULL)
		return 0;
	n = strnlen(s, STR_MAX + 1);
	if (n > STR_MAX) {
		n = STR_MAX;
		while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

/* A property block holding only a reason string of <n> bytes, if any. */
static size_t
put_reason_string(uint8_t *p, const char *s, size_t n)
{
	size_t	off;

	if (n == 0) {
		p[0] = 0;
		return 1;
	}
	off = vbi_put(p, 3 + n);
	p[off++] = CODEC_PROP_REASON_STRING;
	p[off++] = (uint8_t)(n >> 8);
	p[off++] = (uint8_t)n;
	memcpy(p + off, s, n);
	return off + n;
}

#define PROPS_SIZE(n)	((n) == 0 ? 1 : vbi_size(3 + (n)) + 3 + (n))

/*
 * CONNACK.  Session present is forced to 0 with a refusal, as 3.1.1
 * [MQTT-3.2.2-4] and 5.0 [MQTT-3.2.2-6] demand, and never sent at 3.1.
 */
size_t
codec_encode_connack(uint8_t *buf, size_t cap, uint8_t level,
    bool session_present, uint8_t reason, const char *reason_string)
{
	size_t	n, rem, total, off;
	uint8_t	code;

	if (level == CODEC_V31 || level == CODEC_V311) {
		code = codec_connack_v3(reason);
		if (cap < 4)
			return 4;
		buf[0] = CODEC_CONNACK << 4;
		buf[1] = 2;
		buf[2] = level == CODEC_V311 && session_present && code == 0;
		buf[3] = code;
		return 4;
	}
	if (level != CODEC_V5 || !reason_ok(CODEC_CONNACK, reason))
		return 0;
	n = reason_string_len(reason_string);
	rem = 2 + PROPS_SIZE(n);
	total = 1 + vbi_size(rem) + rem;
	if (total > cap)
		return total;
	buf[0] = CODEC_CONNACK << 4;
	off = 1 + vbi_put(buf + 1, rem);
	buf[off++] = session_present && reason == 0;
	buf[off++] = reason;
	put_reason_string(buf + off, reason_string, n);
	return total;
}

/*
 * PUBACK, PUBREC, PUBREL, PUBCOMP.  3.x has no reason: the identifier
 * alone.  5.0 uses the short forms where they say the same.
 */
size_t
codec_encode_ack(uint8_t *buf, size_t cap, uint8_t level, uint8_t type,
    uint16_t packet_id, uint8_t reason, const char *reason_string)
{
	size_t	n = 0, rem, total, off;

	if (type < CODEC_PUBACK || type > CODEC_PUBCOMP || packet_id == 0)
		return 0;
	if (level == CODEC_V5) {
		if (!reason_ok(type, reason))
			return 0;
		n = reason_string_len(reason_string);
		rem = n != 0 ? 3 + PROPS_SIZE(n) : reason != 0 ? 3 : 2;
	} else if (level == CODEC_V31 || level == CODEC_V311)
		rem = 2;
	else
		return 0;
	total = 1 + vbi_size(rem) + rem;
	if (total > cap)
		return total;
	buf[0] = (uint8_t)(type << 4 | hdr_flags[type]);
	off = 1 + vbi_put(buf + 1, rem);
	buf[off++] = (uint8_t)(packet_id >> 8);
	buf[off++] = (uint8_t)packet_id;
	if (rem > 2)
		buf[off++] = reason;
	if (n != 0)
		put_reason_string(buf + off, reason_string, n);
	return total;
}

/*
 * SUBACK and UNSUBACK with <n> reason codes.  At 3.x a SUBACK failure is
 * 0x80 whatever the 5.0 reason, and UNSUBACK carries no codes (n ignored).
 */
size_t
codec_encode_suback(uint8_t *buf, size_t cap, uint8_t level, uint8_t type,
    uint16_t packet_id, const uint8_t *reasons, size_t n)
{
	size_t	rem, total, off, i;
	bool	v5 = level == CODEC_V5;

	if ((type != CODEC_SUBACK && type != CODEC_UNSUBACK) ||
	    packet_id == 0 || (!v5 && level != CODEC_V31 &&
	    level != CODEC_V311))
		return 0;
	if (!v5 && type == CODEC_UNSUBACK)
		n = 0;
	else if (n == 0 || reasons == NULL || n > VBI_MAX - 3)
		return 0;
	for (i = 0; v5 && i < n; i++)
		if (!reason_ok(type, reasons[i]))
			return 0;
	rem = 2 + (v5 ? 1 : 0) + n;
	total = 1 + vbi_size(rem) + rem;
	if (total > cap)
		return total;
	buf[0] = (uint8_t)(type << 4);
	off = 1 + vbi_put(buf + 1, rem);
	buf[off++] = (uint8_t)(packet_id >> 8);
	buf[off++] = (uint8_t)packet_id;
	if (v5)
		buf[off++] = 0;
	for (i = 0; i < n; i++)
		buf[off++] = v5 || reasons[i] <= 2 ? reasons[i] : 0x80;
	return total;
}

size_t
codec_encode_pingresp(uint8_t *buf, size_t cap)
{
	if (cap < 2)
		return 2;
	buf[0] = CODEC_PINGRESP << 4;
	buf[1] = 0;
	return 2;
}

/*
 * DISCONNECT, 5.0 only: a 3.x server never sends one (it just closes the
 * connection), so at 3.x this returns 0 and the caller closes instead.
 */
size_t
codec_encode_disconnect(uint8_t *buf, size_t cap, uint8_t level,
    uint8_t reason, const char *reason_string)
{
	size_t	n, rem, total, off;

	if (level != CODEC_V5 || !reason_ok(CODEC_DISCONNECT, reason))
		return 0;
	n = reason_string_len(reason_string);
	rem = n != 0 ? 1 + PROPS_SIZE(n) : reason != 0 ? 1 : 0;
	total = 1 + vbi_size(rem) + rem;
	if (total > cap)
		return total;
	buf[0] = CODEC_DISCONNECT << 4;
	off = 1 + vbi_put(buf + 1, rem);
	if (rem > 0)
		buf[off++] = reason;
	if (n != 0)
		put_reason_string(buf + off, reason_string, n);
	return total;
}

/*
 * The nearest 3.1.1 return code (3.1.1 §3.2.2.3) for a 5.0 CONNACK reason.
 * Codes 0x01..0x05 are taken as 3.1.1 codes already.  Anything that says
 * "not now, elsewhere" becomes server unavailable, credentials become bad
 * user name or password, and every other refusal not authorized.
 */
uint8_t
codec_connack_v3(uint8_t reason)
{
	switch (reason) {
	case 0x00:
	case 0x01:
	case 0x02:
	case 0x03:
	case 0x04:
	case 0x05:
		return reason;
	case 0x84:			/* Unsupported Protocol Version */
		return 0x01;
	case 0x85:			/* Client Identifier not valid */
		return 0x02;
	case 0x88:			/* Server unavailable */
	case 0x89:			/* Server busy */
	case 0x97:			/* Quota exceeded */
	case 0x9C:			/* Use another server */
	case 0x9D:			/* Server moved */
	case 0x9F:			/* Connection rate exceeded */
		return 0x03;
	case 0x86:			/* Bad User Name or Password */
	case 0x8C:			/* Bad authentication method */
		return 0x04;
	default:
		return 0x05;		/* Not authorized */
	}
}

/* A two-byte length and <b>'s bytes at <p>; returns the bytes written. */
static size_t
put_bin(uint8_t *p, const uint8_t *b, size_t n)
{
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	if (n > 0)
		memcpy(p + 2, b, n);
	return 2 + n;
}

/*
 * The property block <p> (<n> bytes, as decoded) with the four-byte
 * property <id> set to <v>: the others copied, then <id>.  Writes to <dst>
 * unless NULL; returns the length, 0 if <p> is not a valid block.
 */
static size_t
props_set_u32(uint8_t *dst, const uint8_t *p, size_t n, uint8_t id,
    uint32_t v)
{
	size_t	off, k, len = 0;

	for (off = 0; off < n; off += k) {
		if ((k = prop_size(p + off, n - off)) == 0)
			return 0;
		if (p[off] == id)
			continue;
		if (dst != NULL)
			memcpy(dst + len, p + off, k);
		len += k;
	}
	if (dst != NULL) {
		dst[len] = id;
		dst[len + 1] = (uint8_t)(v >> 24);
		dst[len + 2] = (uint8_t)(v >> 16);
		dst[len + 3] = (uint8_t)(v >> 8);
		dst[len + 4] = (uint8_t)v;
	}
	return len + 5;
}

/*
 * The plan <o> for codec_encode_connect()'s arguments: which credentials
 * stay, the flags, whether the Maximum Packet Size property is set, and
 * the remaining length.  -1 when the CONNECT cannot be encoded.
 */
static int
connect_size(const struct codec_packet *pkt, const struct codec_buf *username,
    const struct codec_buf *password, uint32_t max_packet,
    struct connect_plan *o)
{
	const struct codec_connect	*c = &pkt->u.connect;
	bool				 v5 = c->level == CODEC_V5;

	if (pkt->type != CODEC_CONNECT || (c->level != CODEC_V31 &&
	    c->level != CODEC_V311 && !v5))
		return -1;
	if (username != NULL && username->len > STR_MAX)
		return -1;
	if (password != NULL && (password->len > STR_MAX ||
	    (!v5 && username == NULL)))
		password = NULL;
	o->username = username;
	o->password = password;
	o->flags = c->flags & ~(CODEC_CF_USERNAME | CODEC_CF_PASSWORD);
	if (username != NULL)
		o->flags |= CODEC_CF_USERNAME;
	if (password != NULL)
		o->flags |= CODEC_CF_PASSWORD;
	o->max_packet = max_packet;
	o->mp = v5 && max_packet != 0 && (!CODEC_PROP_HAS(&pkt->props,
	    CODEC_PROP_MAX_PACKET_SIZE) ||
	    pkt->props.max_packet_size > max_packet);
	o->plen = o->mp ? props_set_u32(NULL, pkt->props.raw.p,
	    pkt->props.raw.len, CODEC_PROP_MAX_PACKET_SIZE, max_packet) :
	    pkt->props.raw.len;
	if (o->mp && o->plen == 0)
		return -1;
	o->wd = (o->flags & CODEC_CF_WILL) &&
	    codec_connect_will_clamp(pkt, &o->will_delay);
	/* Set in place of the client's: the will's block keeps its length. */
	if (o->wd && props_set_u32(NULL, c->will_props.raw.p,
	    c->will_props.raw.len, CODEC_PROP_WILL_DELAY, o->will_delay) !=
	    c->will_props.raw.len)
		return -1;
	o->rem = 2 + (c->level == CODEC_V31 ? 6 : 4) + 1 + 1 + 2 + 2 +
	    c->client_id.len;
	if (v5)
		o->rem += vbi_size(o->plen) + o->plen;
	if (o->flags & CODEC_CF_WILL) {
		if (v5)
			o->rem += vbi_size(c->will_props.raw.len) +
			    c->will_props.raw.len;
		o->rem += 2 + c->will_topic.len + 2 + c->will_payload.len;
	}
	if (username != NULL)
		o->rem += 2 + username->len;
	if (password != NULL)
		o->rem += 2 + password->len;
	return o->rem > VBI_MAX ? -1 : 0;
}

/*
 * The CONNECT <pkt> as planned in <o>, into <buf>, which holds it.
 * Returns the bytes written.
 */
static size_t
connect_put(uint8_t *buf, const struct codec_packet *pkt,
    const struct connect_plan *o)
{
	const struct codec_connect	*c = &pkt->u.connect;
	size_t				 off;

	buf[0] = CODEC_CONNECT << 4;
	off = 1 + vbi_put(buf + 1, o->rem);
	off += put_bin(buf + off, (const uint8_t *)(c->level == CODEC_V31 ?
	    "MQIsdp" : "MQTT"), c->level == CODEC_V31 ? 6 : 4);
	buf[off++] = c->level;
	buf[off++] = o->flags;
	buf[off++] = (uint8_t)(c->keepalive >> 8);
	buf[off++] = (uint8_t)c->keepalive;
	if (c->level == CODEC_V5) {
		off += vbi_put(buf + off, o->plen);
		if (o->mp)
			props_set_u32(buf + off, pkt->props.raw.p,
			    pkt->props.raw.len, CODEC_PROP_MAX_PACKET_SIZE,
			    o->max_packet);
		else if (o->plen > 0)
			memcpy(buf + off, pkt->props.raw.p, o->plen);
		off += o->plen;
	}
	off += put_bin(buf + off, c->client_id.p, c->client_id.len);
	if (o->flags & CODEC_CF_WILL) {
		if (c->level == CODEC_V5) {
			off += vbi_put(buf + off, c->will_props.raw.len);
			if (o->wd)
				props_set_u32(buf + off, c->will_props.raw.p,
				    c->will_props.raw.len,
				    CODEC_PROP_WILL_DELAY, o->will_delay);
			else if (c->will_props.raw.len > 0)
				memcpy(buf + off, c->will_props.raw.p,
				    c->will_props.raw.len);
			off += c->will_props.raw.len;
		}
		off += put_bin(buf + off, c->will_topic.p, c->will_topic.len);
		off += put_bin(buf + off, c->will_payload.p,
		    c->will_payload.len);
	}
	if (o->username != NULL)
		off += put_bin(buf + off, o->username->p, o->username->len);
	if (o->password != NULL)
		off += put_bin(buf + off, o->password->p, o->password->len);
	return off;
}

/*
 * CONNECT, rebuilt from a decoded one: everything as the client sent it
 * (protocol level, clean/will flags, keepalive, properties, client id,
 * will) but the credentials, which are <username> and <password> (NULL:
 * absent).  The username/password flags follow the arguments; at 3.x a
 * password needs a username, so a password without one is dropped.  A 5.0
 * CONNECT's Maximum Packet Size becomes <max_packet> when that is smaller
 * (or it was absent; 0: unchanged), so the broker sends nothing larger,
 * and its will's Will Delay Interval the Session Expiry Interval when
 * that is shorter (codec_connect_will_clamp()).
 */
size_t
codec_encode_connect(uint8_t *buf, size_t cap, const struct codec_packet *pkt,
    const struct codec_buf *username, const struct codec_buf *password,
    uint32_t max_packet)
{
	struct connect_plan	o;
	size_t			total;

	if (connect_size(pkt, username, password, max_packet, &o) == -1)
		return 0;
	total = 1 + vbi_size(o.rem) + o.rem;
	if (total > cap)
		return total;
	return connect_put(buf, pkt, &o);
}

bool
codec_connect_will_clamp(const struct codec_packet *pkt, uint32_t *to)
{
	const struct codec_connect	*c = &pkt->u.connect;
	uint32_t			 expiry;

	if (pkt->type != CODEC_CONNECT || c->level != CODEC_V5 ||
	    !(c->flags & CODEC_CF_WILL) ||
	    !CODEC_PROP_HAS(&c->will_props, CODEC_PROP_WILL_DELAY))
		return false;
	expiry = CODEC_PROP_HAS(&pkt->props, CODEC_PROP_SESSION_EXPIRY) ?
	    pkt->props.session_expiry : 0;
	if (c->will_props.will_delay <= expiry)
		return false;
	*to = expiry;
	return true;
}

/*
 * SUBSCRIBE, rebuilt from a decoded one with only the filters whose <keep>
 * entry is true (pkt->u.list.count entries), in their order, with their
 * options; same packet identifier and (5.0) properties.  Returns the frame
 * length (nothing written if over cap), 0 if no filter is kept or <pkt> is
 * not a SUBSCRIBE.
 */
size_t
codec_encode_subscribe(uint8_t *buf, size_t cap, uint8_t level,
    const struct codec_packet *pkt, const bool *keep)
{
	struct codec_buf	f;
	size_t			off = 0, rem, total, i;
	uint8_t			opts;

	if (pkt->type != CODEC_SUBSCRIBE)
		return 0;
	rem = 2;
	if (level == CODEC_V5)
		rem += vbi_size(pkt->props.raw.len) + pkt->props.raw.len;
	for (i = 0; codec_filter_next(pkt, &off, &f, &opts); i++)
		if (i < pkt->u.list.count && keep[i])
			rem += 2 + f.len + 1;
	if (rem == 2 + (level == CODEC_V5 ?
	    vbi_size(pkt->props.raw.len) + pkt->props.raw.len : 0))
		return 0;
	total = 1 + vbi_size(rem) + rem;
	if (total > cap)
		return total;
	buf[0] = CODEC_SUBSCRIBE << 4 | 0x2;
	off = 1 + vbi_put(buf + 1, rem);
	buf[off++] = (uint8_t)(pkt->packet_id >> 8);
	buf[off++] = (uint8_t)pkt->packet_id;
	if (level == CODEC_V5) {
		off += vbi_put(buf + off, pkt->props.raw.len);
		if (pkt->props.raw.len > 0)
			memcpy(buf + off, pkt->props.raw.p, pkt->props.raw.len);
		off += pkt->props.raw.len;
	}
	{
		size_t	it = 0;

		for (i = 0; codec_filter_next(pkt, &it, &f, &opts); i++) {
			if (i >= pkt->u.list.count || !keep[i])
				continue;
			off += put_bin(buf + off, f.p, f.len);
			buf[off++] = opts;
		}
	}
	return off;
}

/*
 * Length of the property at <p> (<n> bytes left, identifier included), of
 * a block codec_decode() accepted; 0 if it does not fit.
 */
static size_t
prop_size(const uint8_t *p, size_t n)
{
	size_t	len, i, a, b;

	if (n < 1 || p[0] >= sizeof(prop_kind))
		return 0;
	switch (prop_kind[p[0]]) {
	case PK_BYTE:
		len = 2;
		break;
	case PK_U16:
		len = 3;
		break;
	case PK_U32:
		len = 5;
		break;
	case PK_VBI:
		for (i = 1; i < n && i < 5 && (p[i] & 0x80); i++)
			;
		len = i + 1;
		break;
	case PK_STR:
	case PK_BIN:
		if (n < 3)
			return 0;
		len = 3 + ((size_t)p[1] << 8 | p[2]);
		break;
	case PK_PAIR:
		if (n < 3)
			return 0;
		a = (size_t)p[1] << 8 | p[2];
		if (n < 5 + a)
			return 0;
		b = (size_t)p[3 + a] << 8 | p[4 + a];
		len = 5 + a + b;
		break;
	default:
		return 0;
	}
	return len <= n ? len : 0;
}

/*
 * Whether a CONNACK's property <id> (absent: <absent>) is to be lowered to
 * <v> (0: leave it).
 */
static bool
lower(const struct codec_packet *pkt, uint8_t id, uint32_t have,
    uint32_t absent, uint32_t v)
{
	if (v == 0)
		return false;
	if (!CODEC_PROP_HAS(&pkt->props, id))
		return absent > v;
	return have > v;
}

/*
 * A successful 5.0 CONNACK from the broker, amended by the proxy with
 * <am>: each of Maximum Packet Size, Receive Maximum and Topic Alias
 * Maximum lowered where the proxy's is smaller (an absent Topic Alias
 * Maximum means 0 and stays), Server Keep Alive set when non-zero; every
 * other property copied as the broker sent it.  Returns the frame length
 * (nothing written if over cap), 0 if <pkt> is not such a CONNACK.
 */
size_t
codec_encode_connack_amended(uint8_t *buf, size_t cap,
    const struct codec_packet *pkt, const struct codec_connack_amend *am)
{
	const uint8_t	*p = pkt->props.raw.p;
	size_t		 n = pkt->props.raw.len, off, plen = 0, rem, total, k;
	bool		 mp, rm, ta, ka = am->keepalive != 0;

	if (pkt->type != CODEC_CONNACK || pkt->reason != 0)
		return 0;
	/* Absent: no limit, 65535 [MQTT-3.2.2.3.3], 0 [MQTT-3.2.2.3.8]. */
	mp = lower(pkt, CODEC_PROP_MAX_PACKET_SIZE,
	    pkt->props.max_packet_size, UINT32_MAX, am->max_packet);
	rm = lower(pkt, CODEC_PROP_RECEIVE_MAX, pkt->props.receive_max,
	    65535, am->receive_max);
	ta = lower(pkt, CODEC_PROP_TOPIC_ALIAS_MAX,
	    pkt->props.topic_alias_max, 0, am->topic_alias_max);
	for (off = 0; off < n; off += k) {
		if ((k = prop_size(p + off, n - off)) == 0)
			return 0;
		if ((mp && p[off] == CODEC_PROP_MAX_PACKET_SIZE) ||
		    (rm && p[off] == CODEC_PROP_RECEIVE_MAX) ||
		    (ta && p[off] == CODEC_PROP_TOPIC_ALIAS_MAX) ||
		    (ka && p[off] == CODEC_PROP_SERVER_KEEP_ALIVE))
			continue;
		plen += k;
	}
	plen += (mp ? 5 : 0) + (rm ? 3 : 0) + (ta ? 3 : 0) + (ka ? 3 : 0);
	rem = 2 + vbi_size(plen) + plen;
	total = 1 + vbi_size(rem) + rem;
	if (total > cap)
		return total;
	buf[0] = CODEC_CONNACK << 4;
	off = 1 + vbi_put(buf + 1, rem);
	buf[off++] = pkt->session_present ? 1 : 0;
	buf[off++] = 0;
	off += vbi_put(buf + off, plen);
	for (size_t i = 0; i < n; i += k) {
		k = prop_size(p + i, n - i);
		if ((mp && p[i] == CODEC_PROP_MAX_PACKET_SIZE) ||
		    (rm && p[i] == CODEC_PROP_RECEIVE_MAX) ||
		    (ta && p[i] == CODEC_PROP_TOPIC_ALIAS_MAX) ||
		    (ka && p[i] == CODEC_PROP_SERVER_KEEP_ALIVE))
			continue;
		memcpy(buf + off, p + i, k);
		off += k;
	}
	if (mp) {
		buf[off++] = CODEC_PROP_MAX_PACKET_SIZE;
		buf[off++] = (uint8_t)(am->max_packet >> 24);
		buf[off++] = (uint8_t)(am->max_packet >> 16);
		buf[off++] = (uint8_t)(am->max_packet >> 8);
		buf[off++] = (uint8_t)am->max_packet;
	}
	if (rm)
		off += put_u16_prop(buf + off, CODEC_PROP_RECEIVE_MAX,
		    am->receive_max);
	if (ta)
		off += put_u16_prop(buf + off, CODEC_PROP_TOPIC_ALIAS_MAX,
		    am->topic_alias_max);
	if (ka)
		off += put_u16_prop(buf + off, CODEC_PROP_SERVER_KEEP_ALIVE,
		    am->keepalive);
	return off;
}

/* A two-byte property: identifier, then the value.  Returns 3. */
static size_t
put_u16_prop(uint8_t *p, uint8_t id, uint16_t v)
{
	p[0] = id;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
	return 3;
}
