/* SPDX-License-Identifier: ISC */
/*
 * codec — the MQTT 3.1, 3.1.1 and 5.0 frame decoder, validator and encoder.
 *
 * Pure code on byte arrays: no I/O, no libevent, no logging, no globals and
 * no allocation in the decode path (the only allocation is the copy of a
 * topic when a 5.0 client or broker assigns a topic alias).  It is written
 * for untrusted input: every length read from the wire is compared with the
 * bytes that remain before it is used.
 *
 * Shape (as picohttpparser): the caller hands in the bytes it has buffered,
 * the codec answers "a frame of N bytes", "need more" or "error: the rule
 * that was broken".  The fixed header and the remaining length are decoded
 * first, so the maximum packet size is enforced before the body is buffered.
 *
 * A decoded packet is a set of views into the caller's buffer: valid until
 * the caller drains those bytes.  Copy (bounded) what must outlive the frame.
 *
 * Two layers:
 *   codec_decode()          one frame, stateless but for the protocol level
 *                           (0 = before CONNECT: only CONNECT is legal);
 *   codec_session_check()   the per-connection state rules (first frame,
 *                           second CONNECT, direction, CONNACK) and 5.0 topic
 *                           alias tracking, applied to a decoded frame.
 */
#ifndef MQTTGUARD_CODEC_H
#define MQTTGUARD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol levels as carried in CONNECT. */
#define CODEC_V31	3
#define CODEC_V311	4
#define CODEC_V5	5

/* Packet types (fixed header, high nibble). */
enum codec_type {
	CODEC_CONNECT = 1,
	CODEC_CONNACK = 2,
	CODEC_PUBLISH = 3,
	CODEC_PUBACK = 4,
	CODEC_PUBREC = 5,
	CODEC_PUBREL = 6,
	CODEC_PUBCOMP = 7,
	CODEC_SUBSCRIBE = 8,
	CODEC_SUBACK = 9,
	CODEC_UNSUBSCRIBE = 10,
	CODEC_UNSUBACK = 11,
	CODEC_PINGREQ = 12,
	CODEC_PINGRESP = 13,
	CODEC_DISCONNECT = 14,
	CODEC_AUTH = 15
};

/* Who sent the frame. */
enum codec_dir {
	CODEC_FROM_CLIENT = 0,
	CODEC_FROM_SERVER = 1
};

/* Verdicts of codec_header_decode() and codec_decode(). */
enum codec_result {
	CODEC_OK = 0,		/* a whole, valid frame; pkt->len bytes */
	CODEC_NEED = 1,		/* buffer more: pkt->need bytes in total */
	CODEC_NEED_CONTIG = 2,	/* make pkt->need bytes contiguous, retry */
	CODEC_ERROR = -1	/* pkt->err says which rule was broken */
};

/*
 * Every rule the decoder enforces.  codec_err_str() names the rule and its
 * section of the specification; codec_err_reason() gives the 5.0 reason
 * code to send in a DISCONNECT (or CONNACK) for it.
 */
enum codec_err {
	CODEC_ERR_NONE = 0,
	/* fixed header */
	CODEC_ERR_TYPE_RESERVED,	/* type 0, or 15 (AUTH) below 5.0 */
	CODEC_ERR_HEADER_FLAGS,		/* reserved flag bits wrong for type */
	CODEC_ERR_REMLEN_ENCODING,	/* more than 4 bytes / non-minimal */
	CODEC_ERR_TOO_LARGE,		/* frame over the maximum packet size */
	CODEC_ERR_LENGTH,		/* frame longer or shorter than contents */
	/* PUBLISH */
	CODEC_ERR_QOS,			/* QoS 3 */
	CODEC_ERR_DUP_QOS0,		/* DUP set on a QoS 0 PUBLISH */
	CODEC_ERR_PACKET_ID_ZERO,	/* packet identifier 0 where one is needed */
	/* CONNECT */
	CODEC_ERR_PROTOCOL_NAME,	/* not "MQTT" (4, 5) / "MQIsdp" (3) */
	CODEC_ERR_PROTOCOL_LEVEL,	/* level not 3, 4 or 5 */
	CODEC_ERR_CONNECT_RESERVED,	/* CONNECT flags bit 0 set */
	CODEC_ERR_WILL_FLAGS,		/* will QoS/retain without will flag, QoS 3 */
	CODEC_ERR_PASSWORD_NO_USER,	/* password flag without username (3.x) */
	CODEC_ERR_CLIENT_ID,		/* 3.1 client id not 1..23 bytes; 3.1.1
					   empty one without clean session */
	/* strings and topics */
	CODEC_ERR_UTF8,			/* ill-formed UTF-8, surrogate, overlong */
	CODEC_ERR_UTF8_NUL,		/* U+0000 in a string */
	CODEC_ERR_UTF8_CONTROL,		/* control character (if configured) */
	CODEC_ERR_TOPIC_EMPTY,		/* zero-length topic name (no alias) */
	CODEC_ERR_TOPIC_WILDCARD,	/* + or # in a topic name */
	CODEC_ERR_FILTER_EMPTY,		/* zero-length topic filter */
	CODEC_ERR_FILTER_WILDCARD,	/* misplaced + or # in a filter */
	CODEC_ERR_NO_FILTERS,		/* SUBSCRIBE/UNSUBSCRIBE without filters */
	CODEC_ERR_SUBOPTS,		/* subscription options reserved bits/QoS 3 */
	CODEC_ERR_SHARED_SUB,		/* ill-formed $share/{group}/{filter},
					   or No Local on one (5.0) */
	/* 5.0 properties and reason codes */
	CODEC_ERR_PROP_LENGTH,		/* property length bad or overruns */
	CODEC_ERR_PROP_UNKNOWN,		/* unknown property identifier */
	CODEC_ERR_PROP_NOT_ALLOWED,	/* property not allowed in this packet */
	CODEC_ERR_PROP_DUPLICATE,	/* property given twice */
	CODEC_ERR_PROP_VALUE,		/* value out of range (e.g. receive max 0) */
	CODEC_ERR_TOPIC_ALIAS,		/* alias 0, above the maximum, or unknown */
	CODEC_ERR_REASON_CODE,		/* reason code not legal for this type */
	/* per-connection state */
	CODEC_ERR_FIRST_NOT_CONNECT,	/* first client frame is not CONNECT */
	CODEC_ERR_SECOND_CONNECT,	/* a second CONNECT */
	CODEC_ERR_WRONG_DIRECTION,	/* server-only type from client or v.v. */
	CODEC_ERR_NOT_CONNECTED,	/* broker frame before CONNACK, etc. */
	/* added after the first cut: appended so older values keep theirs */
	CODEC_ERR_CONNACK_FLAGS,	/* CONNACK reserved flags, or session
					   present with a refusal */
	CODEC_ERR_SECOND_CONNACK,	/* a second CONNACK */
	CODEC_ERR_AUTH_STATE,		/* AUTH without an Authentication
					   Method, or another packet while
					   enhanced authentication runs */
	CODEC_ERR_UTF8_NONCHAR,		/* a Unicode noncharacter (if
					   configured) */
	/* the session's state, decided outside the codec (pktid, enforce) */
	CODEC_ERR_PACKET_ID_IN_USE,	/* a new flow reusing an id in use */
	CODEC_ERR_PACKET_ID_UNKNOWN,	/* an answer for no flow in that
					   state */
	CODEC_ERR_PAYLOAD_FORMAT,	/* Payload Format Indicator 1, payload
					   not UTF-8 */
	CODEC_ERR_USER_PROPS,		/* more User Properties in a client's
					   packet than max_user_props */
	CODEC_ERR__MAX
};

/*
 * Limits the decoder enforces; owned by the caller, usually policy.  A NULL
 * pointer means no limits: no size limit, control characters allowed.
 */
struct codec_limits {
	size_t	max_packet;	/* whole frame, fixed header included;
				   0: no limit beyond the protocol's */
	bool	reject_control;	/* refuse U+0001..U+001F, U+007F..U+009F */
	bool	reject_nonchar;	/* refuse U+FDD0..U+FDEF, U+xFFFE/xFFFF */
	unsigned max_user_props;	/* User Properties in one packet from
					   the client (CONNECT: with its
					   will's); 0: any number.  The
					   broker's are not counted. */
};

/* A view into the frame; len 0 and p possibly NULL when absent. */
struct codec_buf {
	const uint8_t	*p;
	size_t		 len;
};

/*
 * 5.0 property identifiers.  codec_props.seen has bit (1ULL << id) set for
 * each property present.
 */
enum codec_prop_id {
	CODEC_PROP_PAYLOAD_FORMAT = 0x01,
	CODEC_PROP_MESSAGE_EXPIRY = 0x02,
	CODEC_PROP_CONTENT_TYPE = 0x03,
	CODEC_PROP_RESPONSE_TOPIC = 0x08,
	CODEC_PROP_CORRELATION_DATA = 0x09,
	CODEC_PROP_SUBSCRIPTION_ID = 0x0B,
	CODEC_PROP_SESSION_EXPIRY = 0x11,
	CODEC_PROP_ASSIGNED_CLIENT_ID = 0x12,
	CODEC_PROP_SERVER_KEEP_ALIVE = 0x13,
	CODEC_PROP_AUTH_METHOD = 0x15,
	CODEC_PROP_AUTH_DATA = 0x16,
	CODEC_PROP_REQUEST_PROBLEM_INFO = 0x17,
	CODEC_PROP_WILL_DELAY = 0x18,
	CODEC_PROP_REQUEST_RESPONSE_INFO = 0x19,
	CODEC_PROP_RESPONSE_INFO = 0x1A,
	CODEC_PROP_SERVER_REFERENCE = 0x1C,
	CODEC_PROP_REASON_STRING = 0x1F,
	CODEC_PROP_RECEIVE_MAX = 0x21,
	CODEC_PROP_TOPIC_ALIAS_MAX = 0x22,
	CODEC_PROP_TOPIC_ALIAS = 0x23,
	CODEC_PROP_MAX_QOS = 0x24,
	CODEC_PROP_RETAIN_AVAILABLE = 0x25,
	CODEC_PROP_USER_PROPERTY = 0x26,
	CODEC_PROP_MAX_PACKET_SIZE = 0x27,
	CODEC_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	CODEC_PROP_SUB_ID_AVAILABLE = 0x29,
	CODEC_PROP_SHARED_SUB_AVAILABLE = 0x2A
};

#define CODEC_PROP_HAS(pr, id)	(((pr)->seen >> (id)) & 1)

/* The 5.0 properties of one packet (or of the will in CONNECT). */
struct codec_props {
	uint64_t	 seen;		/* bit per property id present */
	struct codec_buf raw;		/* the property block, length excluded */
	uint32_t	 session_expiry;
	uint32_t	 max_packet_size;
	uint32_t	 message_expiry;
	uint32_t	 will_delay;
	uint32_t	 subscription_id;	/* the first one */
	uint16_t	 receive_max;
	uint16_t	 topic_alias_max;
	uint16_t	 topic_alias;
	uint16_t	 server_keep_alive;
	uint8_t		 payload_format;
	uint8_t		 max_qos;
	uint8_t		 retain_available;
	struct codec_buf auth_method;
	struct codec_buf auth_data;
	struct codec_buf reason_string;
	unsigned	 n_user_props;
	unsigned	 n_subscription_ids;
};

/* CONNECT flags (3.1.1 §3.1.2.3, 5.0 §3.1.2.3). */
#define CODEC_CF_CLEAN		0x02
#define CODEC_CF_WILL		0x04
#define CODEC_CF_WILL_QOS(f)	(((f) >> 3) & 0x03)
#define CODEC_CF_WILL_RETAIN	0x20
#define CODEC_CF_PASSWORD	0x40
#define CODEC_CF_USERNAME	0x80

struct codec_connect {
	uint8_t		 level;		/* 3, 4 or 5 */
	uint8_t		 flags;		/* CODEC_CF_* */
	uint16_t	 keepalive;	/* seconds */
	struct codec_buf client_id;
	struct codec_buf will_topic;
	struct codec_buf will_payload;
	struct codec_props will_props;	/* 5.0 only */
	struct codec_buf username;	/* len 0 if absent: check flags */
	struct codec_buf password;
};

struct codec_publish {
	uint8_t		 qos;
	bool		 dup;
	bool		 retain;
	struct codec_buf topic;		/* as on the wire (may be empty) */
	struct codec_buf resolved;	/* topic after alias resolution (set by
					   codec_session_check; views alias
					   storage or the frame) */
	size_t		 payload_off;	/* offset of the payload in the frame */
	size_t		 payload_len;
};

/*
 * SUBSCRIBE and UNSUBSCRIBE: the payload is a list walked with
 * codec_filter_next(); SUBACK and UNSUBACK: list.p points at the reason
 * codes, count of them.
 */
struct codec_list {
	struct codec_buf list;
	unsigned	 count;
};

/* One decoded frame.  Views point into the buffer given to codec_decode. */
struct codec_packet {
	uint8_t		 type;		/* enum codec_type */
	uint8_t		 flags;		/* low nibble of the fixed header */
	size_t		 hdr_len;	/* fixed header bytes */
	size_t		 rem_len;	/* remaining length */
	size_t		 len;		/* whole frame: hdr_len + rem_len */
	size_t		 need;		/* with CODEC_NEED*: bytes wanted */
	enum codec_err	 err;		/* with CODEC_ERROR */
	uint16_t	 packet_id;	/* 0 where the type has none */
	uint8_t		 reason;	/* CONNACK, PUB*, DISCONNECT, AUTH */
	bool		 session_present;	/* CONNACK */
	struct codec_props props;	/* 5.0 */
	union {
		struct codec_connect	connect;
		struct codec_publish	publish;
		struct codec_list	list;
	} u;
};

/*
 * Decodes the fixed header only: type, flags, remaining length.  <len> bytes
 * at <buf>.  Returns CODEC_OK with pkt->type, flags, hdr_len, rem_len, len
 * set; CODEC_NEED when the header is incomplete (pkt->need: the bytes
 * known to be needed so far); CODEC_ERROR with pkt->err for type 0, a
 * remaining length over 4 bytes or not minimally encoded, or a frame over
 * lim->max_packet (refused as soon as the length bytes seen prove it).
 * Type 15 is returned as is: only codec_decode() knows the level.
 */
int	codec_header_decode(const struct codec_limits *lim, const uint8_t *buf,
	    size_t len, struct codec_packet *pkt);

/*
 * Decodes and validates one frame sent by <dir> at protocol <level> (0
 * before CONNECT, when only CONNECT is legal and it sets the level; a
 * CONNECT is always parsed by its own level).  <buffered> bytes are
 * available in total, the first <contig> of them contiguous at <buf>
 * (contig <= buffered; a larger contig is clamped).  <lim> may be NULL.
 *
 * Returns CODEC_NEED with pkt->need = frame length when buffered is short
 * (while the fixed header is incomplete: the header bytes known to be
 * needed); CODEC_NEED_CONTIG with pkt->need (> contig, <= buffered) when
 * more must be contiguous (a PUBLISH needs only its variable header
 * contiguous, every other type the whole frame; a PUBLISH header may take
 * a few rounds, each asking for more); CODEC_OK with pkt filled, pkt->len
 * the frame length; CODEC_ERROR with pkt->err.  Errors the first byte or
 * the fixed header prove are reported before the body is buffered.
 * Views in pkt point into <buf>; the PUBLISH payload (payload_off,
 * payload_len) may lie beyond <contig> and is never read.  At 3.x,
 * pkt->reason of a CONNACK is the 3.x return code.
 */
int	codec_decode(const struct codec_limits *lim, uint8_t level,
	    enum codec_dir dir, const uint8_t *buf, size_t contig,
	    size_t buffered, struct codec_packet *pkt);

/*
 * Walks the filters of a decoded SUBSCRIBE or UNSUBSCRIBE.  *<off> starts at
 * 0.  Returns 1 with the next filter (and, for SUBSCRIBE, its options byte),
 * 0 at the end.  Only for packets codec_decode() accepted.
 */
int	codec_filter_next(const struct codec_packet *pkt, size_t *off,
	    struct codec_buf *filter, uint8_t *opts);

/*
 * 5.0 topic alias table for one direction.  Aliases 1..max; the slot
 * arrays grow with the highest alias used (cap slots, at most max + 1), so
 * memory follows what the peer binds, not the maximum it announced.
 */
struct codec_alias {
	uint16_t	  max;		/* negotiated Topic Alias Maximum */
	uint32_t	  cap;		/* slots allocated in topic and len */
	uint8_t		**topic;	/* owned: cap slots, lazily filled */
	uint16_t	 *len;		/* owned: cap slots */
};

/* The state of one connection, both directions. */
enum codec_phase {
	CODEC_PH_INIT = 0,	/* nothing yet: CONNECT expected */
	CODEC_PH_CONNECT,	/* CONNECT seen, CONNACK awaited */
	CODEC_PH_CONNECTED,	/* CONNACK 0 seen */
	CODEC_PH_CLOSED		/* DISCONNECT or refused CONNACK seen */
};

struct codec_session {
	uint8_t			level;	/* 0 until CONNECT */
	enum codec_phase	phase;
	bool			enhanced_auth;	/* 5.0 CONNECT carried an
						   Authentication Method */
	struct codec_alias	alias[2];	/* indexed by codec_dir */
};

void	codec_session_init(struct codec_session *s);
void	codec_session_fini(struct codec_session *s);

/*
 * Applies the state rules to a frame codec_decode() accepted, and tracks
 * topic aliases: for a 5.0 PUBLISH, fills pkt->u.publish.resolved.  CONNECT
 * sets the level; CONNACK sets the phase and the client's alias maximum
 * (from the server's Topic Alias Maximum); CONNECT's own Topic Alias Maximum
 * bounds the server's aliases.  Returns 0, or -1 with pkt->err set.
 * Allocates only when an alias is assigned; -1 with CODEC_ERR_TOPIC_ALIAS if
 * that allocation fails.  A resolved topic that views the alias table is
 * valid until that alias is rebound or the session finished.  The client
 * may send packets after CONNECT before CONNACK (not during enhanced
 * authentication); after a DISCONNECT or a refused CONNACK every packet
 * is refused with CODEC_ERR_NOT_CONNECTED.
 */
int	codec_session_check(struct codec_session *s, enum codec_dir dir,
	    struct codec_packet *pkt);

/* The rule broken, as text naming the section, e.g. "[MQTT-2.2.2-2] ...". */
const char	*codec_err_str(enum codec_err);
/*
 * The 5.0 reason code for an error: 0x81, 0x82, 0x84, 0x85, 0x94, 0x95,
 * 0x97, 0x99.
 */
uint8_t		 codec_err_reason(enum codec_err);
const char	*codec_type_str(uint8_t type);

/*
 * Encoders for the frames the proxy writes itself, in the client's protocol
 * <level>.  Each writes into <buf> of <cap> bytes and returns the frame
 * length; if that exceeds cap nothing is written and the caller retries
 * with a bigger buffer.  <reason_string> may be NULL; it is only sent at
 * 5.0 (cut to 65535 bytes between UTF-8 sequences).  At 3.x, a 5.0 reason
 * code is mapped to the nearest 3.x return code (CONNACK) or SUBACK
 * failure 0x80; 3.x acknowledgements carry no reason and a 3.x UNSUBACK no
 * codes.  A 5.0 reason code the packet type does not allow, packet
 * identifier 0, an unknown level or type, or no SUBACK codes return 0 and
 * write nothing.  codec_encode_disconnect() returns 0 below 5.0: a 3.x
 * server never sends DISCONNECT, it closes the connection.  CONNACK sends
 * session present only with success (never at 3.1).
 */
size_t	codec_encode_connack(uint8_t *buf, size_t cap, uint8_t level,
	    bool session_present, uint8_t reason, const char *reason_string);
size_t	codec_encode_ack(uint8_t *buf, size_t cap, uint8_t level,
	    uint8_t type, uint16_t packet_id, uint8_t reason,
	    const char *reason_string);	/* PUBACK PUBREC PUBREL PUBCOMP */
size_t	codec_encode_suback(uint8_t *buf, size_t cap, uint8_t level,
	    uint8_t type, uint16_t packet_id, const uint8_t *reasons,
	    size_t n);			/* SUBACK, UNSUBACK */
size_t	codec_encode_pingresp(uint8_t *buf, size_t cap);
size_t	codec_encode_disconnect(uint8_t *buf, size_t cap, uint8_t level,
	    uint8_t reason, const char *reason_string);

/*
 * Rebuilds a decoded CONNECT <pkt> with <username> and <password> (NULL:
 * absent) in place of the client's credentials, and at 5.0 a Maximum
 * Packet Size of at most <max_packet> (0: as received) and the will's
 * Will Delay Interval clamped (codec_connect_will_clamp()); all else as
 * received.  Returns the frame length (nothing written if over cap), or 0
 * if <pkt> is not a CONNECT or a credential is over 65535 bytes.
 */
size_t	codec_encode_connect(uint8_t *buf, size_t cap,
	    const struct codec_packet *pkt, const struct codec_buf *username,
	    const struct codec_buf *password, uint32_t max_packet);

/*
 * Whether the will of a decoded 5.0 CONNECT <pkt> has a Will Delay
 * Interval longer than the Session Expiry Interval (0 when absent); if
 * so, *<to> is the latter, which codec_encode_connect() writes instead.
 * The meaning is kept: the will is published when the delay has passed
 * or the session ends, whichever comes first (5.0 §3.1.3.2.2); Mosquitto
 * 1.6.0-1.6.4 freed memory it used again on exactly that (CVE-2019-11778).
 */
bool	codec_connect_will_clamp(const struct codec_packet *pkt,
	    uint32_t *to);

/*
 * Rebuilds a decoded SUBSCRIBE keeping only the filters whose <keep> entry
 * is true (one per filter, in order), with the same packet identifier,
 * options and 5.0 properties.  Returns the frame length (nothing written
 * if over cap), or 0 when no filter is kept.
 */
size_t	codec_encode_subscribe(uint8_t *buf, size_t cap, uint8_t level,
	    const struct codec_packet *pkt, const bool *keep);

/* What the proxy changes in a broker's 5.0 CONNACK (0: leave it). */
struct codec_connack_amend {
	uint32_t	max_packet;	/* lowered to this if larger */
	uint16_t	receive_max;	/* lowered to this if larger */
	uint16_t	topic_alias_max;	/* lowered to this if larger */
	uint16_t	keepalive;	/* Server Keep Alive, set */
};

/*
 * A successful 5.0 CONNACK as the broker sent it, amended with <am>.
 * Returns the frame length (nothing written if over cap), 0 if not such a
 * CONNACK.
 */
size_t	codec_encode_connack_amended(uint8_t *buf, size_t cap,
	    const struct codec_packet *pkt,
	    const struct codec_connack_amend *am);

/* Maps a 5.0 CONNACK reason code to the 3.1.1 return code. */
uint8_t	codec_connack_v3(uint8_t reason);

#endif /* MQTTGUARD_CODEC_H */
