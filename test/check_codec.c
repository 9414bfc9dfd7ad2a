/* SPDX-License-Identifier: ISC */
/*
 * The codec's specification, as tests.  Each table row is one rule of MQTT
 * 3.1, 3.1.1 or 5.0, named after it and citing its normative statement
 * ([MQTT-x.y.z-n], 3.1.1 numbering unless marked 5.0), with a frame that
 * keeps it and one that breaks it.  Every frame is also fed in every strict
 * prefix (it must ask for more, never succeed) and with every contiguous
 * split (a PUBLISH decodes once its variable header is contiguous, other
 * types ask for the whole frame), and the result must match the whole
 * buffer's.  Inputs live in exact-size allocations so that ASan reports a
 * one-byte over-read.  Then the per-connection state rules, the 5.0 topic
 * aliases, and a round trip through the decoder for every encoder.
 *
 * Frames are written with the macros below so that lengths are computed by
 * the compiler: FR(h, ...) prefixes a one-byte remaining length (keep
 * frames under 128 bytes), S(...) a two-byte string length, PROPS(...) a
 * one-byte property length; FRAME and BYTES turn such a list into the
 * (pointer, length) pair the tables hold.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/codec.h"

#define CL		CODEC_FROM_CLIENT
#define SV		CODEC_FROM_SERVER

#define LEN(...)	sizeof((const uint8_t[]){ __VA_ARGS__ })
#define BYTES(...)	(const uint8_t[]){ __VA_ARGS__ }, LEN(__VA_ARGS__)
#define FR(h, ...)	h, LEN(__VA_ARGS__), __VA_ARGS__
#define FRAME(h, ...)	BYTES(FR(h, __VA_ARGS__))
#define S(...)		0, LEN(__VA_ARGS__), __VA_ARGS__
#define PROPS(...)	LEN(__VA_ARGS__), __VA_ARGS__
#define NAME4		S('M', 'Q', 'T', 'T')
#define NAME3		S('M', 'Q', 'I', 's', 'd', 'p')
#define CID		S('c', '1')

#define CONNECT3R(f, ...)	FR(0x10, NAME3, 3, f, 0, 60, __VA_ARGS__)
#define CONNECT4R(f, ...)	FR(0x10, NAME4, 4, f, 0, 60, __VA_ARGS__)
#define CONNECT5R(f, ...)	FR(0x10, NAME4, 5, f, 0, 60, __VA_ARGS__)
#define CONNECT3(...)		BYTES(CONNECT3R(__VA_ARGS__))
#define CONNECT4(...)		BYTES(CONNECT4R(__VA_ARGS__))
#define CONNECT5(...)		BYTES(CONNECT5R(__VA_ARGS__))

/* One frame and the verdict the specification demands for it. */
struct vcase {
	const char	*name;
	uint8_t		 level;		/* 0: before CONNECT */
	uint8_t		 dir;
	bool		 ctl;		/* limits.reject_control */
	size_t		 max;		/* limits.max_packet, 0: none */
	const uint8_t	*b;
	size_t		 len;
	int		 res;
	enum codec_err	 err;
};

#define ACCEPT(n, l, d, f) \
	{ n, l, d, false, 0, f, CODEC_OK, CODEC_ERR_NONE }
#define REJECT(n, l, d, f, e) \
	{ n, l, d, false, 0, f, CODEC_ERROR, CODEC_ERR_##e }
#define ACCEPT_CTL(n, l, d, f) \
	{ n, l, d, true, 0, f, CODEC_OK, CODEC_ERR_NONE }
#define REJECT_CTL(n, l, d, f, e) \
	{ n, l, d, true, 0, f, CODEC_ERROR, CODEC_ERR_##e }
#define ACCEPT_MAX(n, l, d, m, f) \
	{ n, l, d, false, m, f, CODEC_OK, CODEC_ERR_NONE }
#define REJECT_MAX(n, l, d, m, f, e) \
	{ n, l, d, false, m, f, CODEC_ERROR, CODEC_ERR_##e }

/* Fixed header: type, flags, remaining length, size limit. */
static const struct vcase header_cases[] = {
	ACCEPT("PINGREQ 3.1.1", 4, CL, BYTES(0xC0, 0x00)),
	ACCEPT("PINGREQ 3.1", 3, CL, BYTES(0xC0, 0x00)),
	ACCEPT("PINGREQ 5.0", 5, CL, BYTES(0xC0, 0x00)),
	ACCEPT("PINGRESP 3.1.1", 4, SV, BYTES(0xD0, 0x00)),
	ACCEPT("PINGRESP 5.0", 5, SV, BYTES(0xD0, 0x00)),
	REJECT("type 0 is reserved (3.1.1 §2.2.1)", 4, CL,
	    BYTES(0x00, 0x00), TYPE_RESERVED),
	REJECT("type 0 is reserved from the server (5.0 §2.1.2)", 5, SV,
	    BYTES(0x00, 0x00), TYPE_RESERVED),
	REJECT("type 0 is reserved before CONNECT", 0, CL,
	    BYTES(0x00, 0x00), TYPE_RESERVED),
	REJECT("AUTH (15) is reserved in 3.1.1", 4, CL, BYTES(0xF0, 0x00),
	    TYPE_RESERVED),
	REJECT("AUTH (15) is reserved in 3.1", 3, SV, BYTES(0xF0, 0x00),
	    TYPE_RESERVED),
	ACCEPT("AUTH exists in 5.0 (5.0 §3.15)", 5, CL, BYTES(0xF0, 0x00)),
	REJECT("PUBREL flags must be 0010 [MQTT-3.6.1-1]", 4, CL,
	    BYTES(0x60, 0x02, 0x00, 0x01), HEADER_FLAGS),
	ACCEPT("PUBREL flags 0010 [MQTT-3.6.1-1]", 4, CL,
	    BYTES(0x62, 0x02, 0x00, 0x01)),
	REJECT("SUBSCRIBE flags must be 0010 [MQTT-3.8.1-1]", 4, CL,
	    FRAME(0x80, 0, 1, S('a'), 0), HEADER_FLAGS),
	REJECT("UNSUBSCRIBE flags must be 0010 [MQTT-3.10.1-1]", 4, CL,
	    FRAME(0xA0, 0, 1, S('a')), HEADER_FLAGS),
	REJECT("CONNECT flags reserved 0 [MQTT-2.2.2-2]", 0, CL,
	    FRAME(0x11, NAME4, 4, 2, 0, 60, CID), HEADER_FLAGS),
	REJECT("PINGREQ flags reserved 0 [MQTT-2.2.2-2]", 4, CL,
	    BYTES(0xC1, 0x00), HEADER_FLAGS),
	REJECT("PUBACK flags reserved 0 [MQTT-2.2.2-2]", 4, CL,
	    BYTES(0x42, 0x02, 0x00, 0x01), HEADER_FLAGS),
	REJECT("CONNACK flags reserved 0 [MQTT-2.2.2-2]", 4, SV,
	    BYTES(0x21, 0x02, 0x00, 0x00), HEADER_FLAGS),
	REJECT("SUBACK flags reserved 0 [MQTT-2.2.2-2]", 4, SV,
	    BYTES(0x92, 0x03, 0x00, 0x01, 0x00), HEADER_FLAGS),
	REJECT("DISCONNECT flags reserved 0 [MQTT-3.14.1-1]", 4, CL,
	    BYTES(0xE8, 0x00), HEADER_FLAGS),
	REJECT("AUTH flags reserved 0 (5.0 [MQTT-3.15.1-1])", 5, CL,
	    BYTES(0xF1, 0x00), HEADER_FLAGS),
	REJECT("remaining length of 5 bytes (5.0 [MQTT-1.5.5-1])", 4, CL,
	    BYTES(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), REMLEN_ENCODING),
	REJECT("remaining length 0x80 0x00 not minimal "
	    "(5.0 [MQTT-1.5.5-1])", 4, CL, BYTES(0xC0, 0x80, 0x00),
	    REMLEN_ENCODING),
	REJECT("remaining length 0x81 0x80 0x00 not minimal "
	    "(5.0 [MQTT-1.5.5-1])", 5, CL, BYTES(0x30, 0x81, 0x80, 0x00),
	    REMLEN_ENCODING),
	REJECT_MAX("frame over max_packet refused from its header alone",
	    4, CL, 16, BYTES(0x30, 0x7F), TOO_LARGE),
	REJECT_MAX("frame over max_packet refused before the length ends",
	    4, CL, 1000, BYTES(0x30, 0x80, 0x80), TOO_LARGE),
	REJECT_MAX("frame one byte over max_packet", 4, CL, 3,
	    BYTES(0x62, 0x02, 0x00, 0x01), TOO_LARGE),
	ACCEPT_MAX("frame exactly max_packet", 4, CL, 4,
	    BYTES(0x62, 0x02, 0x00, 0x01)),
	REJECT("PINGREQ with a body (3.1.1 §3.12)", 4, CL,
	    BYTES(0xC0, 0x01, 0x00), LENGTH),
	REJECT("PINGRESP with a body (3.1.1 §3.13)", 5, SV,
	    BYTES(0xD0, 0x01, 0x00), LENGTH),
};

/* CONNECT, per level; parsed by its own level when the session has none. */
static const struct vcase connect_cases[] = {
	ACCEPT("CONNECT 3.1.1 minimal [MQTT-3.1.0-1]", 0, CL,
	    CONNECT4(0x02, CID)),
	ACCEPT("CONNECT 3.1 \"MQIsdp\" level 3", 0, CL,
	    CONNECT3(0x02, CID)),
	ACCEPT("CONNECT 5.0 minimal", 0, CL, CONNECT5(0x02, 0, CID)),
	ACCEPT("CONNECT at a known level parses by its own level", 4, CL,
	    CONNECT5(0x02, 0, CID)),
	ACCEPT("CONNECT 3.1.1 with will, user name and password "
	    "[MQTT-3.1.2-9] [MQTT-3.1.2-19] [MQTT-3.1.2-21]", 0, CL,
	    CONNECT4(0xF6, CID, S('w', '/', 't'), S('b', 'y', 'e'), S('u'),
	    S('p', 'w'))),
	ACCEPT("CONNECT 3.1 with will and user name", 0, CL,
	    CONNECT3(0x8E, CID, S('w'), S('m'), S('u'))),
	ACCEPT("CONNECT 5.0 with properties, will properties, user name "
	    "and password (5.0 §3.1.2.11, §3.1.3.2)", 0, CL,
	    CONNECT5(0xCE,
	    PROPS(0x11, 0, 0, 0, 10, 0x21, 0, 10, 0x22, 0, 5,
	    0x27, 0, 0, 1, 0, 0x26, S('k'), S('v'), 0x17, 1, 0x19, 1),
	    CID,
	    PROPS(0x18, 0, 0, 0, 5, 0x01, 1, 0x02, 0, 0, 0, 60,
	    0x03, S('t', 'x', 't'), 0x08, S('r', '/', 't'),
	    0x09, S(1, 2), 0x26, S('a'), S('b')),
	    S('w'), S('x'), S('u'), S('p'))),
	ACCEPT("CONNECT 5.0 password without user name (5.0 §3.1.2.9)", 0,
	    CL, CONNECT5(0x42, 0, CID, S('p'))),
	REJECT("password without user name in 3.1.1 [MQTT-3.1.2-22]", 0,
	    CL, CONNECT4(0x42, CID, S('p')), PASSWORD_NO_USER),
	REJECT("password without user name in 3.1 [MQTT-3.1.2-22]", 0, CL,
	    CONNECT3(0x42, CID, S('p')), PASSWORD_NO_USER),
	ACCEPT("password is binary data [MQTT-3.1.2-21]", 0, CL,
	    CONNECT4(0xC2, CID, S('u'), S(0x00, 0xFF, 0xC0))),
	REJECT("protocol name \"MQTX\" [MQTT-3.1.2-1]", 0, CL,
	    FRAME(0x10, S('M', 'Q', 'T', 'X'), 4, 2, 0, 60, CID),
	    PROTOCOL_NAME),
	REJECT("protocol name is case sensitive [MQTT-3.1.2-1]", 0, CL,
	    FRAME(0x10, S('m', 'q', 't', 't'), 4, 2, 0, 60, CID),
	    PROTOCOL_NAME),
	REJECT("\"MQIsdp\" with level 4 [MQTT-3.1.2-1]", 0, CL,
	    FRAME(0x10, NAME3, 4, 2, 0, 60, CID), PROTOCOL_NAME),
	REJECT("\"MQTT\" with level 3 [MQTT-3.1.2-1]", 0, CL,
	    FRAME(0x10, NAME4, 3, 2, 0, 60, CID), PROTOCOL_NAME),
	REJECT("protocol level 6 [MQTT-3.1.2-2]", 0, CL,
	    FRAME(0x10, NAME4, 6, 2, 0, 60, CID), PROTOCOL_LEVEL),
	REJECT("protocol level 2 [MQTT-3.1.2-2]", 0, CL,
	    FRAME(0x10, NAME4, 2, 2, 0, 60, CID), PROTOCOL_LEVEL),
	REJECT("protocol level 0x84 (bridge bit) [MQTT-3.1.2-2]", 0, CL,
	    FRAME(0x10, NAME4, 0x84, 2, 0, 60, CID), PROTOCOL_LEVEL),
	REJECT("CONNECT reserved flag in 3.1.1 [MQTT-3.1.2-3]", 0, CL,
	    CONNECT4(0x03, CID), CONNECT_RESERVED),
	REJECT("CONNECT reserved flag in 5.0 [MQTT-3.1.2-3]", 0, CL,
	    CONNECT5(0x03, 0, CID), CONNECT_RESERVED),
	REJECT("will QoS without will flag [MQTT-3.1.2-13]", 0, CL,
	    CONNECT4(0x0A, CID), WILL_FLAGS),
	REJECT("will retain without will flag [MQTT-3.1.2-15]", 0, CL,
	    CONNECT4(0x22, CID), WILL_FLAGS),
	REJECT("will QoS 3 [MQTT-3.1.2-14]", 0, CL,
	    CONNECT4(0x1E, CID, S('w'), S('m')), WILL_FLAGS),
	REJECT("will QoS 3 in 5.0 (5.0 [MQTT-3.1.2-12])", 0, CL,
	    CONNECT5(0x1E, 0, CID, 0, S('w'), S('m')), WILL_FLAGS),
	REJECT("will QoS without will flag in 3.1", 0, CL,
	    CONNECT3(0x12, CID), WILL_FLAGS),
	ACCEPT("will QoS 2 with retain [MQTT-3.1.2-14] [MQTT-3.1.2-17]", 0,
	    CL, CONNECT4(0x36, CID, S('w'), S('m'))),
	REJECT("3.1 client identifier empty (3.1 §3.1)", 0, CL,
	    CONNECT3(0x02, 0, 0), CLIENT_ID),
	REJECT("3.1 client identifier of 24 bytes (3.1 §3.1)", 0, CL,
	    CONNECT3(0x02, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
	    'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v',
	    'w', 'x')), CLIENT_ID),
	ACCEPT("3.1 client identifier of 23 bytes (3.1 §3.1)", 0, CL,
	    CONNECT3(0x02, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
	    'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v',
	    'w'))),
	REJECT("3.1.1 empty client identifier without clean session "
	    "[MQTT-3.1.3-8]", 0, CL, CONNECT4(0x00, 0, 0), CLIENT_ID),
	ACCEPT("3.1.1 empty client identifier with clean session "
	    "[MQTT-3.1.3-6]", 0, CL, CONNECT4(0x02, 0, 0)),
	ACCEPT("3.1.1 long client identifier [MQTT-3.1.3-5]", 0, CL,
	    CONNECT4(0x00, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
	    'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v',
	    'w', 'x', 'y', 'z'))),
	ACCEPT("5.0 empty client identifier without clean start "
	    "(5.0 [MQTT-3.1.3-6])", 0, CL, CONNECT5(0x00, 0, 0, 0)),
	REJECT("client identifier is UTF-8 [MQTT-3.1.3-4]", 0, CL,
	    CONNECT4(0x02, S(0xC0, 0x80)), UTF8),
	REJECT("will topic empty [MQTT-4.7.3-1]", 0, CL,
	    CONNECT4(0x06, CID, 0, 0, S('m')), TOPIC_EMPTY),
	REJECT("will topic with a wildcard [MQTT-3.3.2-2]", 0, CL,
	    CONNECT4(0x06, CID, S('a', '/', '#'), S('m')), TOPIC_WILDCARD),
	REJECT("will topic UTF-8 [MQTT-3.1.3-10]", 0, CL,
	    CONNECT4(0x06, CID, S(0xED, 0xA0, 0x80), S('m')), UTF8),
	ACCEPT("will message is binary [MQTT-3.1.3-10]", 0, CL,
	    CONNECT4(0x06, CID, S('w'), S(0x00, 0xFF))),
	REJECT("user name is UTF-8 [MQTT-3.1.3-11]", 0, CL,
	    CONNECT4(0x82, CID, S(0xFF)), UTF8),
	REJECT("user name without U+0000 [MQTT-1.5.3-2]", 0, CL,
	    CONNECT4(0x82, CID, S('u', 0x00)), UTF8_NUL),
	REJECT("user name flag but no user name [MQTT-3.1.2-19]", 0, CL,
	    CONNECT4(0x82, CID), LENGTH),
	REJECT("will flag but no will message [MQTT-3.1.2-9]", 0, CL,
	    CONNECT4(0x06, CID, S('w')), LENGTH),
	REJECT("CONNECT with trailing bytes [MQTT-3.1.2-18]", 0, CL,
	    CONNECT4(0x02, CID, 0), LENGTH),
	REJECT("CONNECT truncated after the flags", 0, CL,
	    FRAME(0x10, NAME4, 4, 2), LENGTH),
	REJECT("CONNECT protocol name overruns", 0, CL,
	    FRAME(0x10, 0, 9, 'M', 'Q'), LENGTH),
	REJECT("5.0 CONNECT without a property length "
	    "(5.0 [MQTT-2.2.2-1])", 0, CL,
	    FRAME(0x10, NAME4, 5, 2, 0, 60), PROP_LENGTH),
	REJECT("5.0 CONNECT property length overruns (5.0 §2.2.2.1)", 0,
	    CL, CONNECT5(0x02, 50, CID), PROP_LENGTH),
	REJECT("5.0 CONNECT unknown property 0x05 (5.0 §2.2.2.2)", 0, CL,
	    CONNECT5(0x02, PROPS(0x05, 1), CID), PROP_UNKNOWN),
	REJECT("5.0 CONNECT may not carry a topic alias (5.0 §2.2.2.2)", 0,
	    CL, CONNECT5(0x02, PROPS(0x23, 0, 1), CID), PROP_NOT_ALLOWED),
	REJECT("5.0 CONNECT may not carry a will delay outside the will "
	    "(5.0 §2.2.2.2)", 0, CL,
	    CONNECT5(0x02, PROPS(0x18, 0, 0, 0, 1), CID), PROP_NOT_ALLOWED),
	REJECT("5.0 CONNECT may not carry an assigned client identifier "
	    "(5.0 §2.2.2.2)", 0, CL,
	    CONNECT5(0x02, PROPS(0x12, S('x')), CID), PROP_NOT_ALLOWED),
	REJECT("5.0 receive maximum 0 (5.0 §3.1.2.11.3)", 0, CL,
	    CONNECT5(0x02, PROPS(0x21, 0, 0), CID), PROP_VALUE),
	ACCEPT("5.0 receive maximum 1 (5.0 §3.1.2.11.3)", 0, CL,
	    CONNECT5(0x02, PROPS(0x21, 0, 1), CID)),
	REJECT("5.0 maximum packet size 0 (5.0 §3.1.2.11.4)", 0, CL,
	    CONNECT5(0x02, PROPS(0x27, 0, 0, 0, 0), CID), PROP_VALUE),
	REJECT("5.0 request problem information 2 (5.0 §3.1.2.11.7)", 0,
	    CL, CONNECT5(0x02, PROPS(0x17, 2), CID), PROP_VALUE),
	REJECT("5.0 request response information 2 (5.0 §3.1.2.11.6)", 0,
	    CL, CONNECT5(0x02, PROPS(0x19, 2), CID), PROP_VALUE),
	REJECT("5.0 authentication data without method "
	    "(5.0 §3.1.2.11.10)", 0, CL,
	    CONNECT5(0x02, PROPS(0x16, S(1)), CID), PROP_VALUE),
	ACCEPT("5.0 authentication method and data (5.0 §3.1.2.11.9)", 0,
	    CL, CONNECT5(0x02, PROPS(0x15, S('s', 'c'), 0x16, S(1, 2)),
	    CID)),
	REJECT("5.0 session expiry twice (5.0 §3.1.2.11.2)", 0, CL,
	    CONNECT5(0x02, PROPS(0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), CID),
	    PROP_DUPLICATE),
	ACCEPT("5.0 user property twice (5.0 §3.1.2.11.8)", 0, CL,
	    CONNECT5(0x02, PROPS(0x26, S('k'), S('v'), 0x26, S('k'), S('v')),
	    CID)),
	REJECT("5.0 user property value UTF-8 (5.0 [MQTT-1.5.7-1])", 0, CL,
	    CONNECT5(0x02, PROPS(0x26, S('k'), S(0xC3)), CID), UTF8),
	REJECT("5.0 will properties may not carry session expiry "
	    "(5.0 §3.1.3.2)", 0, CL,
	    CONNECT5(0x06, 0, CID, PROPS(0x11, 0, 0, 0, 1), S('w'), S('m')),
	    PROP_NOT_ALLOWED),
	REJECT("5.0 will payload format 2 (5.0 §3.1.3.2.3)", 0, CL,
	    CONNECT5(0x06, 0, CID, PROPS(0x01, 2), S('w'), S('m')),
	    PROP_VALUE),
	REJECT("5.0 will response topic with a wildcard "
	    "(5.0 [MQTT-3.3.2-14])", 0, CL,
	    CONNECT5(0x06, 0, CID, PROPS(0x08, S('r', '/', '+')), S('w'),
	    S('m')), TOPIC_WILDCARD),
	REJECT("5.0 will delay twice (5.0 §3.1.3.2.2)", 0, CL,
	    CONNECT5(0x06, 0, CID, PROPS(0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1),
	    S('w'), S('m')), PROP_DUPLICATE),
	REJECT("5.0 will properties missing (5.0 §3.1.3.2)", 0, CL,
	    CONNECT5(0x06, 0, CID), PROP_LENGTH),
};

/* PUBLISH: flags, identifiers, topic names, 5.0 properties. */
static const struct vcase publish_cases[] = {
	ACCEPT("PUBLISH QoS 0 in 3.1", 3, CL, FRAME(0x30, S('a'), 'x')),
	ACCEPT("PUBLISH QoS 0 in 3.1.1", 4, CL,
	    FRAME(0x30, S('a', '/', 'b'), 'h', 'i')),
	ACCEPT("PUBLISH QoS 0 without payload [MQTT-3.3.1-6]", 4, SV,
	    FRAME(0x31, S('a'))),
	ACCEPT("PUBLISH QoS 1 in 3.1", 3, CL, FRAME(0x32, S('a'), 0, 1)),
	ACCEPT("PUBLISH QoS 1 from the server", 4, SV,
	    FRAME(0x32, S('a'), 0, 1, 'x')),
	ACCEPT("PUBLISH QoS 2 [MQTT-3.3.1-4]", 4, CL,
	    FRAME(0x34, S('a'), 0, 1)),
	ACCEPT("PUBLISH DUP with QoS 1 [MQTT-3.3.1-1]", 4, CL,
	    FRAME(0x3A, S('a'), 0, 1, 'x')),
	ACCEPT("PUBLISH QoS 0 in 5.0", 5, CL, FRAME(0x30, S('a'), 0, 'x')),
	ACCEPT("PUBLISH QoS 2 in 5.0", 5, SV, FRAME(0x35, S('a'), 0, 9, 0)),
	REJECT("PUBLISH QoS 3 [MQTT-3.3.1-4]", 4, CL,
	    FRAME(0x36, S('a'), 0, 1), QOS),
	REJECT("PUBLISH QoS 3 in 5.0 [MQTT-3.3.1-4]", 5, SV,
	    FRAME(0x3E, S('a'), 0, 1, 0), QOS),
	REJECT("PUBLISH DUP with QoS 0 [MQTT-3.3.1-2]", 4, CL,
	    FRAME(0x38, S('a')), DUP_QOS0),
	REJECT("PUBLISH DUP with QoS 0 in 5.0 [MQTT-3.3.1-2]", 5, CL,
	    FRAME(0x39, S('a'), 0), DUP_QOS0),
	REJECT("PUBLISH QoS 1 packet identifier 0 [MQTT-2.3.1-1]", 4, CL,
	    FRAME(0x32, S('a'), 0, 0), PACKET_ID_ZERO),
	REJECT("PUBLISH QoS 2 packet identifier 0 (5.0 [MQTT-2.2.1-4])", 5,
	    SV, FRAME(0x34, S('a'), 0, 0, 0), PACKET_ID_ZERO),
	REJECT("PUBLISH QoS 1 without packet identifier", 4, CL,
	    FRAME(0x32, S('a')), LENGTH),
	REJECT("PUBLISH topic length overruns the frame", 4, CL,
	    FRAME(0x30, 0, 5, 'a'), LENGTH),
	REJECT("PUBLISH empty topic [MQTT-4.7.3-1]", 4, CL,
	    FRAME(0x30, 0, 0, 'x'), TOPIC_EMPTY),
	REJECT("PUBLISH empty topic in 3.1 [MQTT-4.7.3-1]", 3, SV,
	    FRAME(0x30, 0, 0), TOPIC_EMPTY),
	REJECT("5.0 PUBLISH empty topic without alias (5.0 §3.3.2.1)", 5,
	    CL, FRAME(0x30, 0, 0, 0, 'x'), TOPIC_EMPTY),
	ACCEPT("5.0 PUBLISH empty topic with alias (5.0 §3.3.2.3.4)", 5,
	    CL, FRAME(0x30, 0, 0, PROPS(0x23, 0, 1), 'x')),
	ACCEPT("5.0 PUBLISH topic and alias (5.0 §3.3.2.3.4)", 5, SV,
	    FRAME(0x32, S('a', '/', 'b'), 0, 7, PROPS(0x23, 0, 2), 'x')),
	REJECT("5.0 topic alias 0 [MQTT-3.3.2-8]", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x23, 0, 0)), TOPIC_ALIAS),
	REJECT("5.0 topic alias twice (5.0 §3.3.2.3.4)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x23, 0, 1, 0x23, 0, 1)),
	    PROP_DUPLICATE),
	REJECT("topic name with '+' [MQTT-3.3.2-2]", 4, CL,
	    FRAME(0x30, S('a', '/', '+')), TOPIC_WILDCARD),
	REJECT("topic name '#' [MQTT-3.3.2-2]", 4, SV,
	    FRAME(0x30, S('#')), TOPIC_WILDCARD),
	REJECT("topic name with '+' inside a level [MQTT-4.7.1-1]", 5, CL,
	    FRAME(0x30, S('a', '+', 'b'), 0), TOPIC_WILDCARD),
	REJECT("topic name with '#' in the second word [MQTT-3.3.2-2]", 4,
	    CL, FRAME(0x30, S('s', 'e', 'n', 's', 'o', 'r', 's', '/', 'r',
	    'o', 'o', 'm', '#', '1')), TOPIC_WILDCARD),
	REJECT("topic name with '+' inside an 8-byte word [MQTT-3.3.2-2]",
	    4, CL, FRAME(0x30, S('a', 'b', 'c', 'd', 'e', '+', 'g', 'h',
	    'i')), TOPIC_WILDCARD),
	REJECT("topic name with '#' inside an 8-byte word [MQTT-3.3.2-2]",
	    5, SV, FRAME(0x30, S('a', '#', 'c', 'd', 'e', 'f', 'g', 'h'), 0),
	    TOPIC_WILDCARD),
	ACCEPT("topic names with empty levels and '$' [MQTT-4.7.3-1]", 4,
	    CL, FRAME(0x30, S('$', 'S', 'Y', 'S', '/', '/', 'a', '/'))),
	ACCEPT("topic name \"/\" [MQTT-4.7.3-1]", 4, CL,
	    FRAME(0x30, S('/'))),
	ACCEPT("long ASCII topic name (fast path)", 4, CL,
	    FRAME(0x30, S('b', 'u', 'i', 'l', 'd', 'i', 'n', 'g', '-', '1',
	    '/', 'f', 'l', 'o', 'o', 'r', '-', '2', '/', 't', 'e', 'm', 'p'),
	    '2', '1')),
	REJECT("5.0 PUBLISH without property length (5.0 [MQTT-2.2.2-1])",
	    5, CL, FRAME(0x30, S('a')), PROP_LENGTH),
	REJECT("5.0 PUBLISH property length overruns (5.0 §2.2.2.1)", 5,
	    CL, FRAME(0x30, S('a'), 9, 0x01), PROP_LENGTH),
	ACCEPT("5.0 PUBLISH properties (5.0 §3.3.2.3)", 5, CL,
	    FRAME(0x32, S('a'), 0, 1, PROPS(0x01, 1, 0x02, 0, 0, 0, 9,
	    0x03, S('t'), 0x08, S('r'), 0x09, S(7), 0x26, S('k'), S('v')),
	    'p')),
	REJECT("5.0 payload format indicator 2 (5.0 §3.3.2.3.2)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x01, 2)), PROP_VALUE),
	REJECT("5.0 payload format indicator twice (5.0 §3.3.2.3.2)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x01, 1, 0x01, 1)), PROP_DUPLICATE),
	REJECT("5.0 subscription identifier from the client "
	    "[MQTT-3.3.4-6]", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x0B, 1)), PROP_NOT_ALLOWED),
	ACCEPT("5.0 several subscription identifiers from the server "
	    "(5.0 §3.3.2.3.8)", 5, SV,
	    FRAME(0x30, S('a'), PROPS(0x0B, 1, 0x0B, 0x80, 0x01))),
	REJECT("5.0 subscription identifier 0 (5.0 §3.3.2.3.8)", 5, SV,
	    FRAME(0x30, S('a'), PROPS(0x0B, 0)), PROP_VALUE),
	REJECT("5.0 reason string not allowed in PUBLISH (5.0 §2.2.2.2)", 5,
	    CL, FRAME(0x30, S('a'), PROPS(0x1F, S('r'))), PROP_NOT_ALLOWED),
	REJECT("5.0 unknown property 0x04 (5.0 §2.2.2.2)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x04, 0)), PROP_UNKNOWN),
	REJECT("5.0 unknown property 0x00 (5.0 §2.2.2.2)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x00)), PROP_UNKNOWN),
	REJECT("5.0 unknown property 0x2B (5.0 §2.2.2.2)", 5, SV,
	    FRAME(0x30, S('a'), PROPS(0x2B, 0)), PROP_UNKNOWN),
	REJECT("5.0 two-byte property identifier (5.0 §2.2.2.2)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x81, 0x00, 1)), PROP_UNKNOWN),
	REJECT("5.0 response topic empty (5.0 [MQTT-3.3.2-13])", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x08, 0, 0)), TOPIC_EMPTY),
	REJECT("5.0 response topic with '#' (5.0 [MQTT-3.3.2-14])", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x08, S('#'))), TOPIC_WILDCARD),
	REJECT("5.0 content type UTF-8 (5.0 [MQTT-3.3.2-19])", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x03, S(0xE2, 0x82))), UTF8),
	REJECT("5.0 correlation data overruns its property block", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x09, 0, 4, 1), 2, 3), PROP_LENGTH),
	REJECT("5.0 user property without its value (5.0 §2.2.2.2)", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x26, S('k'))), PROP_LENGTH),
	REJECT("5.0 user property key with U+0000 [MQTT-1.5.4-2]", 5, CL,
	    FRAME(0x30, S('a'), PROPS(0x26, S(0), S('v'))), UTF8_NUL),
};

/* UTF-8 strings (3.1.1 §1.5.3, 5.0 §1.5.4), through PUBLISH topics. */
static const struct vcase utf8_cases[] = {
	ACCEPT("2-byte sequence U+00E9 [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S('a', 0xC3, 0xA9))),
	ACCEPT("3-byte sequence U+20AC [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xE2, 0x82, 0xAC))),
	ACCEPT("4-byte sequence U+1F600 [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xF0, 0x9F, 0x98, 0x80))),
	ACCEPT("U+10FFFF, the last code point [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xF4, 0x8F, 0xBF, 0xBF))),
	ACCEPT("U+D7FF and U+E000 around the surrogates [MQTT-1.5.3-1]", 4,
	    CL, FRAME(0x30, S(0xED, 0x9F, 0xBF, 0xEE, 0x80, 0x80))),
	ACCEPT("U+0800 and U+10000, the shortest 3 and 4 byte forms", 4,
	    CL, FRAME(0x30, S(0xE0, 0xA0, 0x80, 0xF0, 0x90, 0x80, 0x80))),
	ACCEPT("BOM is kept, not refused [MQTT-1.5.3-3]", 4, CL,
	    FRAME(0x30, S(0xEF, 0xBB, 0xBF, 'a'))),
	ACCEPT("multi-byte sequence across an 8-byte word", 4, CL,
	    FRAME(0x30, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 0xE2, 0x82,
	    0xAC, 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'))),
	ACCEPT("non-ASCII text of several words", 5, SV,
	    FRAME(0x30, S(0xD0, 0xBF, 0xD1, 0x80, 0xD0, 0xB8, 0xD0, 0xB2,
	    0xD0, 0xB5, 0xD1, 0x82, '/', 0xE4, 0xB8, 0x96, 0xE7, 0x95,
	    0x8C), 0)),
	REJECT("overlong U+0000 as C0 80 [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xC0, 0x80)), UTF8),
	REJECT("overlong C1 BF [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S('a', 0xC1, 0xBF)), UTF8),
	REJECT("overlong 3-byte E0 9F BF [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xE0, 0x9F, 0xBF)), UTF8),
	REJECT("overlong 4-byte F0 8F BF BF [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xF0, 0x8F, 0xBF, 0xBF)), UTF8),
	REJECT("surrogate U+D800 [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xED, 0xA0, 0x80)), UTF8),
	REJECT("surrogate U+DFFF [MQTT-1.5.3-1]", 5, CL,
	    FRAME(0x30, S(0xED, 0xBF, 0xBF), 0), UTF8),
	REJECT("code point above U+10FFFF [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xF4, 0x90, 0x80, 0x80)), UTF8),
	REJECT("lead byte F5 [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xF5, 0x80, 0x80, 0x80)), UTF8),
	REJECT("byte FF [MQTT-1.5.3-1]", 4, CL, FRAME(0x30, S(0xFF)), UTF8),
	REJECT("lone continuation byte [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S('a', 0x80, 'b')), UTF8),
	REJECT("sequence cut by the end of the string [MQTT-1.5.3-1]", 4,
	    CL, FRAME(0x30, S('a', 0xE2, 0x82), 'x'), UTF8),
	REJECT("2-byte lead at the end of the string [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S('a', 'b', 0xC3)), UTF8),
	REJECT("bad continuation E2 28 A1 [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xE2, 0x28, 0xA1)), UTF8),
	REJECT("bad 3rd byte of a 4-byte sequence [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S(0xF0, 0x9F, 0x28, 0x80)), UTF8),
	REJECT("ill-formed byte in the second word [MQTT-1.5.3-1]", 4, CL,
	    FRAME(0x30, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 0xFE,
	    'k')), UTF8),
	REJECT("U+0000 in a topic [MQTT-4.7.3-2]", 4, CL,
	    FRAME(0x30, S('a', 0, 'b')), UTF8_NUL),
	REJECT("U+0000 at the end of a long topic [MQTT-1.5.3-2]", 4, CL,
	    FRAME(0x30, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
	    'k', 'l', 'm', 'n', 'o', 0)), UTF8_NUL),
	ACCEPT("control characters allowed unless configured", 4, CL,
	    FRAME(0x30, S('a', 0x01, 0x1F, 0x7F, 0xC2, 0x80, 0xC2, 0x9F))),
	REJECT_CTL("U+0001 refused by policy (3.1.1 §1.5.3)", 4, CL,
	    FRAME(0x30, S('a', 0x01)), UTF8_CONTROL),
	REJECT_CTL("U+001F refused by policy (3.1.1 §1.5.3)", 4, CL,
	    FRAME(0x30, S(0x1F)), UTF8_CONTROL),
	REJECT_CTL("U+007F refused by policy (5.0 §1.5.4)", 5, CL,
	    FRAME(0x30, S('a', 0x7F), 0), UTF8_CONTROL),
	REJECT_CTL("U+0080 refused by policy (5.0 §1.5.4)", 4, CL,
	    FRAME(0x30, S(0xC2, 0x80)), UTF8_CONTROL),
	REJECT_CTL("U+009F refused by policy (5.0 §1.5.4)", 4, CL,
	    FRAME(0x30, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 0xC2,
	    0x9F)), UTF8_CONTROL),
	REJECT_CTL("U+0001 inside an 8-byte word refused by policy", 4, CL,
	    FRAME(0x30, S('a', 'b', 'c', 0x01, 'e', 'f', 'g', 'h', 'i')),
	    UTF8_CONTROL),
	REJECT_CTL("U+007F inside an 8-byte word refused by policy", 4, CL,
	    FRAME(0x30, S('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
	    'k', 'l', 'm', 0x7F, 'o', 'p')), UTF8_CONTROL),
	ACCEPT("U+0001 and U+007F inside 8-byte words without the policy",
	    4, CL, FRAME(0x30, S('a', 'b', 'c', 0x01, 'e', 'f', 'g', 'h', 'i',
	    'j', 'k', 'l', 'm', 0x7F, 'o', 'p'))),
	ACCEPT_CTL("U+0020, U+007E and U+00A0 pass the policy", 4, CL,
	    FRAME(0x30, S(' ', '~', 0xC2, 0xA0))),
	REJECT_CTL("tab in a client identifier refused by policy", 0, CL,
	    CONNECT4(0x02, S('c', '\t')), UTF8_CONTROL),
	REJECT_CTL("control character in a 5.0 reason string", 5, SV,
	    FRAME(0x40, 0, 1, 0x80, PROPS(0x1F, S('e', 0x0A))),
	    UTF8_CONTROL),
	REJECT("U+0000 in a topic filter [MQTT-4.7.3-2]", 4, CL,
	    FRAME(0x82, 0, 1, S('a', 0), 0), UTF8_NUL),
	REJECT("topic filter UTF-8 [MQTT-3.8.3-1]", 5, CL,
	    FRAME(0x82, 0, 1, 0, S(0xC0, 0xAF), 0), UTF8),
	REJECT("UNSUBSCRIBE filter UTF-8 [MQTT-3.10.3-1]", 4, CL,
	    FRAME(0xA2, 0, 1, S(0xED, 0xB0, 0x80)), UTF8),
};

/* The acknowledgements: identifiers, short forms, reason codes. */
static const struct vcase ack_cases[] = {
	ACCEPT("PUBACK 3.1", 3, CL, BYTES(0x40, 0x02, 0x00, 0x01)),
	ACCEPT("PUBACK 3.1.1", 4, SV, BYTES(0x40, 0x02, 0x12, 0x34)),
	ACCEPT("PUBREC 3.1.1", 4, CL, BYTES(0x50, 0x02, 0x00, 0x01)),
	ACCEPT("PUBREL 3.1", 3, SV, BYTES(0x62, 0x02, 0x00, 0x01)),
	ACCEPT("PUBCOMP 3.1.1", 4, SV, BYTES(0x70, 0x02, 0xFF, 0xFF)),
	REJECT("PUBACK packet identifier 0 [MQTT-2.3.1-1]", 4, CL,
	    BYTES(0x40, 0x02, 0x00, 0x00), PACKET_ID_ZERO),
	REJECT("PUBREC packet identifier 0 [MQTT-2.3.1-1]", 4, SV,
	    BYTES(0x50, 0x02, 0x00, 0x00), PACKET_ID_ZERO),
	REJECT("PUBREL packet identifier 0 [MQTT-2.3.1-1]", 5, CL,
	    BYTES(0x62, 0x02, 0x00, 0x00), PACKET_ID_ZERO),
	REJECT("PUBCOMP packet identifier 0 [MQTT-2.3.1-1]", 3, CL,
	    BYTES(0x70, 0x02, 0x00, 0x00), PACKET_ID_ZERO),
	REJECT("PUBACK 3.1.1 with a reason code (3.1.1 §3.4)", 4, CL,
	    BYTES(0x40, 0x03, 0x00, 0x01, 0x00), LENGTH),
	REJECT("PUBACK without a full packet identifier", 4, CL,
	    BYTES(0x40, 0x01, 0x00), LENGTH),
	ACCEPT("5.0 PUBACK short form, reason 0 implied (5.0 §3.4.2.1)", 5,
	    CL, BYTES(0x40, 0x02, 0x00, 0x01)),
	ACCEPT("5.0 PUBACK without properties (5.0 §3.4.2.2.1)", 5, CL,
	    BYTES(0x40, 0x03, 0x00, 0x01, 0x10)),
	ACCEPT("5.0 PUBACK with empty properties", 5, SV,
	    BYTES(0x40, 0x04, 0x00, 0x01, 0x00, 0x00)),
	ACCEPT("5.0 PUBREC 0x97 with reason string and user properties", 5,
	    CL, FRAME(0x50, 0, 1, 0x97, PROPS(0x1F, S('q'), 0x26, S('k'),
	    S('v'), 0x26, S('k'), S('w')))),
	ACCEPT("5.0 PUBREL 0x92 (5.0 §3.6.2.1)", 5, SV,
	    BYTES(0x62, 0x03, 0x00, 0x01, 0x92)),
	ACCEPT("5.0 PUBCOMP 0x92 (5.0 §3.7.2.1)", 5, CL,
	    BYTES(0x70, 0x03, 0x00, 0x01, 0x92)),
	REJECT("5.0 PUBACK reason 0x05 [MQTT-3.4.2-1]", 5, CL,
	    BYTES(0x40, 0x03, 0x00, 0x01, 0x05), REASON_CODE),
	REJECT("5.0 PUBACK reason 0x92 [MQTT-3.4.2-1]", 5, CL,
	    BYTES(0x40, 0x03, 0x00, 0x01, 0x92), REASON_CODE),
	REJECT("5.0 PUBREC reason 0x11 [MQTT-3.5.2-1]", 5, SV,
	    BYTES(0x50, 0x03, 0x00, 0x01, 0x11), REASON_CODE),
	REJECT("5.0 PUBREL reason 0x10 [MQTT-3.6.2-1]", 5, CL,
	    BYTES(0x62, 0x03, 0x00, 0x01, 0x10), REASON_CODE),
	REJECT("5.0 PUBCOMP reason 0x80 [MQTT-3.7.2-1]", 5, SV,
	    BYTES(0x70, 0x03, 0x00, 0x01, 0x80), REASON_CODE),
	REJECT("5.0 PUBACK property length overruns (5.0 §2.2.2.1)", 5, CL,
	    BYTES(0x40, 0x04, 0x00, 0x01, 0x00, 0x05), PROP_LENGTH),
	REJECT("5.0 PUBACK property length not minimal "
	    "(5.0 [MQTT-1.5.5-1])", 5, CL,
	    BYTES(0x40, 0x05, 0x00, 0x01, 0x00, 0x80, 0x00), PROP_LENGTH),
	REJECT("5.0 PUBACK property overruns its block (5.0 §2.2.2.1)", 5,
	    CL, BYTES(0x40, 0x08, 0x00, 0x01, 0x00, 0x04, 0x1F, 0x00, 0x05,
	    'a'), PROP_LENGTH),
	REJECT("5.0 PUBACK reason string twice (5.0 §3.4.2.2.2)", 5, CL,
	    FRAME(0x40, 0, 1, 0, PROPS(0x1F, S('a'), 0x1F, S('b'))),
	    PROP_DUPLICATE),
	REJECT("5.0 PUBACK may not carry an authentication method "
	    "(5.0 §2.2.2.2)", 5, SV,
	    FRAME(0x40, 0, 1, 0, PROPS(0x15, S('a'))), PROP_NOT_ALLOWED),
	REJECT("5.0 PUBACK bytes after the properties", 5, CL,
	    BYTES(0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00), LENGTH),
	ACCEPT("CONNACK 3.1 accepted", 3, SV, BYTES(0x20, 0x02, 0x00, 0x00)),
	ACCEPT("CONNACK 3.1 refused, unacceptable version", 3, SV,
	    BYTES(0x20, 0x02, 0x00, 0x01)),
	ACCEPT("CONNACK 3.1.1 session present [MQTT-3.2.2-2]", 4, SV,
	    BYTES(0x20, 0x02, 0x01, 0x00)),
	ACCEPT("CONNACK 3.1.1 not authorized (3.1.1 §3.2.2.3)", 4, SV,
	    BYTES(0x20, 0x02, 0x00, 0x05)),
	REJECT("CONNACK 3.1.1 return code 6 (3.1.1 §3.2.2.3)", 4, SV,
	    BYTES(0x20, 0x02, 0x00, 0x06), REASON_CODE),
	REJECT("CONNACK 3.1.1 reserved acknowledge flags (3.1.1 §3.2.2.1)",
	    4, SV, BYTES(0x20, 0x02, 0x02, 0x00), CONNACK_FLAGS),
	REJECT("CONNACK 3.1 reserved flags byte", 3, SV,
	    BYTES(0x20, 0x02, 0x01, 0x00), CONNACK_FLAGS),
	REJECT("CONNACK session present with a refusal [MQTT-3.2.2-4]", 4,
	    SV, BYTES(0x20, 0x02, 0x01, 0x05), CONNACK_FLAGS),
	REJECT("CONNACK 3.1.1 with 3 bytes", 4, SV,
	    BYTES(0x20, 0x03, 0x00, 0x00, 0x00), LENGTH),
	REJECT("CONNACK with 1 byte", 4, SV, BYTES(0x20, 0x01, 0x00),
	    LENGTH),
	ACCEPT("5.0 CONNACK success, no properties", 5, SV,
	    BYTES(0x20, 0x03, 0x00, 0x00, 0x00)),
	ACCEPT("5.0 CONNACK with properties (5.0 §3.2.2.3)", 5, SV,
	    FRAME(0x20, 1, 0, PROPS(0x11, 0, 0, 0, 5, 0x12, S('i', 'd'),
	    0x13, 0, 30, 0x1A, S('r'), 0x1C, S('s'), 0x1F, S('o', 'k'),
	    0x21, 0, 20, 0x22, 0, 3, 0x24, 1, 0x25, 0, 0x26, S('k'),
	    S('v'), 0x27, 0, 0, 4, 0, 0x28, 1, 0x29, 0, 0x2A, 1))),
	ACCEPT("5.0 CONNACK 0x9F connection rate exceeded", 5, SV,
	    BYTES(0x20, 0x03, 0x00, 0x9F, 0x00)),
	REJECT("5.0 CONNACK reason 0x01 [MQTT-3.2.2-8]", 5, SV,
	    BYTES(0x20, 0x03, 0x00, 0x01, 0x00), REASON_CODE),
	REJECT("5.0 CONNACK reason 0x8B [MQTT-3.2.2-8]", 5, SV,
	    BYTES(0x20, 0x03, 0x00, 0x8B, 0x00), REASON_CODE),
	REJECT("5.0 CONNACK reserved flags (5.0 [MQTT-3.2.2-1])", 5, SV,
	    BYTES(0x20, 0x03, 0x80, 0x00, 0x00), CONNACK_FLAGS),
	REJECT("5.0 CONNACK session present with 0x87 "
	    "(5.0 [MQTT-3.2.2-6])", 5, SV,
	    BYTES(0x20, 0x03, 0x01, 0x87, 0x00), CONNACK_FLAGS),
	REJECT("5.0 CONNACK maximum QoS 2 (5.0 §3.2.2.3.4)", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x24, 2)), PROP_VALUE),
	REJECT("5.0 CONNACK retain available 2 (5.0 §3.2.2.3.5)", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x25, 2)), PROP_VALUE),
	REJECT("5.0 CONNACK wildcard subscription available 2", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x28, 2)), PROP_VALUE),
	REJECT("5.0 CONNACK subscription identifiers available 2", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x29, 2)), PROP_VALUE),
	REJECT("5.0 CONNACK shared subscription available 2", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x2A, 2)), PROP_VALUE),
	REJECT("5.0 CONNACK receive maximum 0 (5.0 §3.2.2.3.3)", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x21, 0, 0)), PROP_VALUE),
	REJECT("5.0 CONNACK maximum packet size 0 (5.0 §3.2.2.3.6)", 5, SV,
	    FRAME(0x20, 0, 0, PROPS(0x27, 0, 0, 0, 0)), PROP_VALUE),
	REJECT("5.0 CONNACK topic alias maximum twice (5.0 §3.2.2.3.8)", 5,
	    SV, FRAME(0x20, 0, 0, PROPS(0x22, 0, 1, 0x22, 0, 1)),
	    PROP_DUPLICATE),
	REJECT("5.0 CONNACK without property length", 5, SV,
	    BYTES(0x20, 0x02, 0x00, 0x00), PROP_LENGTH),
	ACCEPT("SUBACK 3.1", 3, SV, BYTES(0x90, 0x03, 0x00, 0x01, 0x01)),
	ACCEPT("SUBACK 3.1.1 codes 0, 1, 2, 0x80 [MQTT-3.9.3-2]", 4, SV,
	    BYTES(0x90, 0x06, 0x00, 0x01, 0x00, 0x01, 0x02, 0x80)),
	REJECT("SUBACK 3.1.1 code 3 [MQTT-3.9.3-2]", 4, SV,
	    BYTES(0x90, 0x03, 0x00, 0x01, 0x03), REASON_CODE),
	REJECT("SUBACK 3.1.1 code 0x87 [MQTT-3.9.3-2]", 4, SV,
	    BYTES(0x90, 0x04, 0x00, 0x01, 0x00, 0x87), REASON_CODE),
	REJECT("SUBACK packet identifier 0 [MQTT-2.3.1-1]", 4, SV,
	    BYTES(0x90, 0x03, 0x00, 0x00, 0x00), PACKET_ID_ZERO),
	REJECT("SUBACK without return codes [MQTT-3.8.4-5]", 4, SV,
	    BYTES(0x90, 0x02, 0x00, 0x01), LENGTH),
	ACCEPT("5.0 SUBACK codes (5.0 §3.9.3)", 5, SV,
	    FRAME(0x90, 0, 1, PROPS(0x1F, S('x')), 0x00, 0x01, 0x02, 0x80,
	    0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)),
	REJECT("5.0 SUBACK code 0x11 [MQTT-3.9.3-2]", 5, SV,
	    BYTES(0x90, 0x04, 0x00, 0x01, 0x00, 0x11), REASON_CODE),
	REJECT("5.0 SUBACK code 0x81", 5, SV,
	    BYTES(0x90, 0x04, 0x00, 0x01, 0x00, 0x81), REASON_CODE),
	REJECT("5.0 SUBACK may not carry a subscription identifier", 5, SV,
	    FRAME(0x90, 0, 1, PROPS(0x0B, 1), 0), PROP_NOT_ALLOWED),
	ACCEPT("UNSUBACK 3.1", 3, SV, BYTES(0xB0, 0x02, 0x00, 0x01)),
	ACCEPT("UNSUBACK 3.1.1 (3.1.1 §3.11)", 4, SV,
	    BYTES(0xB0, 0x02, 0x00, 0x07)),
	REJECT("UNSUBACK 3.1.1 with a payload (3.1.1 §3.11.3)", 4, SV,
	    BYTES(0xB0, 0x03, 0x00, 0x01, 0x00), LENGTH),
	REJECT("UNSUBACK packet identifier 0 [MQTT-2.3.1-1]", 4, SV,
	    BYTES(0xB0, 0x02, 0x00, 0x00), PACKET_ID_ZERO),
	ACCEPT("5.0 UNSUBACK codes (5.0 §3.11.3)", 5, SV,
	    BYTES(0xB0, 0x0A, 0x00, 0x01, 0x00, 0x00, 0x11, 0x80, 0x83,
	    0x87, 0x8F, 0x91)),
	REJECT("5.0 UNSUBACK code 0x02 [MQTT-3.11.3-2]", 5, SV,
	    BYTES(0xB0, 0x04, 0x00, 0x01, 0x00, 0x02), REASON_CODE),
	REJECT("5.0 UNSUBACK without codes", 5, SV,
	    BYTES(0xB0, 0x03, 0x00, 0x01, 0x00), LENGTH),
	ACCEPT("DISCONNECT 3.1.1 (3.1.1 §3.14)", 4, CL, BYTES(0xE0, 0x00)),
	ACCEPT("DISCONNECT 3.1", 3, CL, BYTES(0xE0, 0x00)),
	REJECT("DISCONNECT 3.1.1 with a body (3.1.1 §3.14)", 4, CL,
	    BYTES(0xE0, 0x01, 0x00), LENGTH),
	ACCEPT("5.0 DISCONNECT short form (5.0 §3.14.2.1)", 5, CL,
	    BYTES(0xE0, 0x00)),
	ACCEPT("5.0 DISCONNECT with will message 0x04 (5.0 §3.14.2.1)", 5,
	    CL, BYTES(0xE0, 0x01, 0x04)),
	ACCEPT("5.0 DISCONNECT with empty properties", 5, SV,
	    BYTES(0xE0, 0x02, 0x8B, 0x00)),
	ACCEPT("5.0 DISCONNECT from the client with session expiry", 5, CL,
	    FRAME(0xE0, 0x00, PROPS(0x11, 0, 0, 0, 0, 0x1F, S('b')))),
	REJECT("5.0 DISCONNECT from the server with session expiry "
	    "[MQTT-3.14.2-2]", 5, SV,
	    FRAME(0xE0, 0x8B, PROPS(0x11, 0, 0, 0, 0)), PROP_NOT_ALLOWED),
	ACCEPT("5.0 DISCONNECT from the server with server reference", 5,
	    SV, FRAME(0xE0, 0x9D, PROPS(0x1C, S('h'), 0x26, S('k'),
	    S('v')))),
	REJECT("5.0 DISCONNECT reason 0x01 [MQTT-3.14.2-1]", 5, CL,
	    BYTES(0xE0, 0x01, 0x01), REASON_CODE),
	REJECT("5.0 DISCONNECT reason 0x18", 5, SV,
	    BYTES(0xE0, 0x01, 0x18), REASON_CODE),
	REJECT("5.0 DISCONNECT bytes after the properties", 5, CL,
	    BYTES(0xE0, 0x03, 0x00, 0x00, 0x00), LENGTH),
	ACCEPT("5.0 AUTH continue with method and data (5.0 §3.15)", 5, SV,
	    FRAME(0xF0, 0x18, PROPS(0x15, S('s', 'c'), 0x16, S(1, 2, 3)))),
	ACCEPT("5.0 AUTH re-authenticate (5.0 §3.15.2.1)", 5, CL,
	    FRAME(0xF0, 0x19, PROPS(0x15, S('s'), 0x1F, S('r')))),
	REJECT("5.0 AUTH with a reason but no property length", 5, CL,
	    BYTES(0xF0, 0x01, 0x18), PROP_LENGTH),
	REJECT("5.0 AUTH reason 0x01 [MQTT-3.15.2-1]", 5, CL,
	    BYTES(0xF0, 0x02, 0x01, 0x00), REASON_CODE),
	REJECT("5.0 AUTH data without method (5.0 §3.15.2.2.3)", 5, SV,
	    FRAME(0xF0, 0x18, PROPS(0x16, S(1))), PROP_VALUE),
	REJECT("5.0 AUTH may not carry a session expiry", 5, CL,
	    FRAME(0xF0, 0x18, PROPS(0x11, 0, 0, 0, 1)), PROP_NOT_ALLOWED),
	REJECT("5.0 AUTH method twice", 5, CL,
	    FRAME(0xF0, 0x18, PROPS(0x15, S('a'), 0x15, S('a'))),
	    PROP_DUPLICATE),
};

/* SUBSCRIBE and UNSUBSCRIBE: filters, options, shared subscriptions. */
static const struct vcase sub_cases[] = {
	ACCEPT("SUBSCRIBE 3.1", 3, CL, FRAME(0x82, 0, 1, S('a'), 1)),
	ACCEPT("SUBSCRIBE 3.1.1 with three filters", 4, CL,
	    FRAME(0x82, 0, 1, S('a', '/', 'b'), 0, S('+', '/', '#'), 1,
	    S('#'), 2)),
	ACCEPT("SUBSCRIBE 5.0 with options and identifier "
	    "(5.0 §3.8.3.1)", 5, CL,
	    FRAME(0x82, 0, 1, PROPS(0x0B, 0x05, 0x26, S('k'), S('v')),
	    S('a'), 0x2D, S('b', '/', '+'), 0x12)),
	ACCEPT("SUBSCRIBE 5.0 largest subscription identifier", 5, CL,
	    FRAME(0x82, 0, 1, PROPS(0x0B, 0xFF, 0xFF, 0xFF, 0x7F), S('a'),
	    0)),
	ACCEPT("UNSUBSCRIBE 3.1", 3, CL, FRAME(0xA2, 0, 1, S('a'))),
	ACCEPT("UNSUBSCRIBE 3.1.1 with two filters", 4, CL,
	    FRAME(0xA2, 0, 2, S('a', '/', '#'), S('+'))),
	ACCEPT("UNSUBSCRIBE 5.0", 5, CL,
	    FRAME(0xA2, 0, 3, PROPS(0x26, S('k'), S('v')), S('a'))),
	REJECT("SUBSCRIBE packet identifier 0 [MQTT-2.3.1-1]", 4, CL,
	    FRAME(0x82, 0, 0, S('a'), 0), PACKET_ID_ZERO),
	REJECT("UNSUBSCRIBE packet identifier 0 [MQTT-2.3.1-1]", 5, CL,
	    FRAME(0xA2, 0, 0, 0, S('a')), PACKET_ID_ZERO),
	REJECT("SUBSCRIBE without filters [MQTT-3.8.3-3]", 4, CL,
	    BYTES(0x82, 0x02, 0x00, 0x01), NO_FILTERS),
	REJECT("5.0 SUBSCRIBE without filters (5.0 [MQTT-3.8.3-2])", 5, CL,
	    BYTES(0x82, 0x03, 0x00, 0x01, 0x00), NO_FILTERS),
	REJECT("UNSUBSCRIBE without filters [MQTT-3.10.3-2]", 4, CL,
	    BYTES(0xA2, 0x02, 0x00, 0x01), NO_FILTERS),
	REJECT("5.0 UNSUBSCRIBE without filters [MQTT-3.10.3-2]", 5, CL,
	    BYTES(0xA2, 0x03, 0x00, 0x01, 0x00), NO_FILTERS),
	REJECT("SUBSCRIBE filter without options byte [MQTT-3.8.3-1]", 4,
	    CL, FRAME(0x82, 0, 1, S('a')), LENGTH),
	REJECT("SUBSCRIBE filter overruns the frame", 4, CL,
	    FRAME(0x82, 0, 1, 0, 9, 'a', 0), LENGTH),
	REJECT("SUBSCRIBE empty filter [MQTT-4.7.3-1]", 4, CL,
	    FRAME(0x82, 0, 1, 0, 0, 0), FILTER_EMPTY),
	REJECT("UNSUBSCRIBE empty filter [MQTT-4.7.3-1]", 5, CL,
	    FRAME(0xA2, 0, 1, 0, S('a'), 0, 0), FILTER_EMPTY),
	REJECT("'#' followed by a level [MQTT-4.7.1-2]", 4, CL,
	    FRAME(0x82, 0, 1, S('a', '/', '#', '/', 'b'), 0),
	    FILTER_WILDCARD),
	REJECT("'#' inside a level [MQTT-4.7.1-2]", 4, CL,
	    FRAME(0x82, 0, 1, S('a', '#'), 0), FILTER_WILDCARD),
	REJECT("'##' [MQTT-4.7.1-2]", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('#', '#'), 0), FILTER_WILDCARD),
	REJECT("'+' after text in a level [MQTT-4.7.1-3]", 4, CL,
	    FRAME(0x82, 0, 1, S('a', '/', 'b', '+'), 0), FILTER_WILDCARD),
	REJECT("'+' before text in a level [MQTT-4.7.1-3]", 4, CL,
	    FRAME(0x82, 0, 1, S('+', 'a'), 0), FILTER_WILDCARD),
	REJECT("UNSUBSCRIBE '+' inside a level [MQTT-4.7.1-3]", 4, CL,
	    FRAME(0xA2, 0, 1, S('a', '/', '+', 'b')), FILTER_WILDCARD),
	REJECT("second filter invalid after a valid one [MQTT-4.7.1-2]", 4,
	    CL, FRAME(0x82, 0, 1, S('a'), 0, S('#', 'a'), 0),
	    FILTER_WILDCARD),
	ACCEPT("wildcards as whole levels [MQTT-4.7.1-2] [MQTT-4.7.1-3]", 4,
	    CL, FRAME(0x82, 0, 1, S('+'), 0, S('#'), 0, S('a', '/', '+',
	    '/', 'c'), 0, S('/', '#'), 0, S('+', '/'), 0, S('+', '/', '+'),
	    0)),
	REJECT("3.1.1 options with reserved bits [MQTT-3-8.3-4]", 4, CL,
	    FRAME(0x82, 0, 1, S('a'), 0x04), SUBOPTS),
	REJECT("3.1.1 options QoS 3 [MQTT-3-8.3-4]", 4, CL,
	    FRAME(0x82, 0, 1, S('a'), 0x03), SUBOPTS),
	REJECT("3.1 options with bit 7", 3, CL,
	    FRAME(0x82, 0, 1, S('a'), 0x80), SUBOPTS),
	ACCEPT("3.1.1 options QoS 2 [MQTT-3-8.3-4]", 4, CL,
	    FRAME(0x82, 0, 1, S('a'), 0x02)),
	REJECT("5.0 options reserved bit 6 (5.0 [MQTT-3.8.3-5])", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('a'), 0x40), SUBOPTS),
	REJECT("5.0 options retain handling 3 (5.0 §3.8.3.1)", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('a'), 0x30), SUBOPTS),
	REJECT("5.0 options QoS 3 (5.0 §3.8.3.1)", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('a'), 0x03), SUBOPTS),
	REJECT("5.0 SUBSCRIBE subscription identifier 0 (5.0 §3.8.2.1.2)",
	    5, CL, FRAME(0x82, 0, 1, PROPS(0x0B, 0), S('a'), 0), PROP_VALUE),
	REJECT("5.0 SUBSCRIBE subscription identifier not minimal "
	    "(5.0 [MQTT-1.5.5-1])", 5, CL,
	    FRAME(0x82, 0, 1, PROPS(0x0B, 0x81, 0x00), S('a'), 0),
	    PROP_VALUE),
	REJECT("5.0 SUBSCRIBE subscription identifier twice "
	    "(5.0 §3.8.2.1.2)", 5, CL,
	    FRAME(0x82, 0, 1, PROPS(0x0B, 1, 0x0B, 2), S('a'), 0),
	    PROP_DUPLICATE),
	REJECT("5.0 SUBSCRIBE may not carry a topic alias", 5, CL,
	    FRAME(0x82, 0, 1, PROPS(0x23, 0, 1), S('a'), 0),
	    PROP_NOT_ALLOWED),
	REJECT("5.0 SUBSCRIBE property length of 5 bytes "
	    "(5.0 [MQTT-1.5.5-1])", 5, CL,
	    FRAME(0x82, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x01, S('a'), 0),
	    PROP_LENGTH),
	REJECT("5.0 UNSUBSCRIBE may not carry a reason string", 5, CL,
	    FRAME(0xA2, 0, 1, PROPS(0x1F, S('r')), S('a')),
	    PROP_NOT_ALLOWED),
	ACCEPT("5.0 shared subscription (5.0 §4.8.2)", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/', 'g',
	    '/', 'a', '/', '#'), 0x01)),
	ACCEPT("3.1.1 shared subscription as brokers accept it", 4, CL,
	    FRAME(0x82, 0, 1, S('$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/',
	    '+'), 0x01)),
	ACCEPT("3.1 has no shared subscriptions: \"$share//a\" is a filter",
	    3, CL, FRAME(0x82, 0, 1, S('$', 's', 'h', 'a', 'r', 'e', '/',
	    '/', 'a'), 0x01)),
	ACCEPT("\"$sharex/a\" and \"$share\" are plain filters", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', 'x', '/',
	    'a'), 0, S('$', 's', 'h', 'a', 'r', 'e'), 0)),
	REJECT("shared subscription with empty ShareName [MQTT-4.8.2-1]", 5,
	    CL, FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/',
	    '/', 'a'), 0), SHARED_SUB),
	REJECT("\"$share/\" alone [MQTT-4.8.2-1]", 4, CL,
	    FRAME(0x82, 0, 1, S('$', 's', 'h', 'a', 'r', 'e', '/'), 0),
	    SHARED_SUB),
	REJECT("ShareName not followed by '/' [MQTT-4.8.2-2]", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/', 'g'),
	    0), SHARED_SUB),
	REJECT("shared subscription without a filter [MQTT-4.8.2-2]", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/', 'g',
	    '/'), 0), SHARED_SUB),
	REJECT("ShareName with '+' [MQTT-4.8.2-2]", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/', 'g',
	    '+', '/', 'a'), 0), SHARED_SUB),
	REJECT("ShareName with '#' [MQTT-4.8.2-2]", 4, CL,
	    FRAME(0x82, 0, 1, S('$', 's', 'h', 'a', 'r', 'e', '/', '#', '/',
	    'a'), 0), SHARED_SUB),
	REJECT("shared subscription filter with misplaced '#' "
	    "[MQTT-4.7.1-2]", 5, CL,
	    FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/', 'g',
	    '/', 'a', '#'), 0), FILTER_WILDCARD),
	REJECT("No Local on a shared subscription (5.0 [MQTT-3.8.3-4])", 5,
	    CL, FRAME(0x82, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/',
	    'g', '/', 'a'), 0x04), SHARED_SUB),
	ACCEPT("No Local on a plain subscription (5.0 [MQTT-3.8.3-3])", 5,
	    CL, FRAME(0x82, 0, 1, 0, S('a'), 0x04)),
	REJECT("UNSUBSCRIBE ill-formed shared subscription [MQTT-4.8.2-1]",
	    5, CL, FRAME(0xA2, 0, 1, 0, S('$', 's', 'h', 'a', 'r', 'e', '/',
	    '/', 'a')), SHARED_SUB),
};

/* Who may send what, and when. */
static const struct vcase dir_cases[] = {
	REJECT("PUBLISH before CONNECT [MQTT-3.1.0-1]", 0, CL,
	    FRAME(0x30, S('a')), FIRST_NOT_CONNECT),
	REJECT("PINGREQ before CONNECT [MQTT-3.1.0-1]", 0, CL,
	    BYTES(0xC0, 0x00), FIRST_NOT_CONNECT),
	REJECT("SUBSCRIBE before CONNECT [MQTT-3.1.0-1]", 0, CL,
	    FRAME(0x82, 0, 1, S('a'), 0), FIRST_NOT_CONNECT),
	REJECT("server packet before CONNECT [MQTT-3.2.0-1]", 0, SV,
	    BYTES(0x20, 0x02, 0x00, 0x00), NOT_CONNECTED),
	REJECT("CONNACK from the client (3.1.1 §2.2.1)", 4, CL,
	    BYTES(0x20, 0x02, 0x00, 0x00), WRONG_DIRECTION),
	REJECT("SUBACK from the client (5.0 §2.1.2)", 5, CL,
	    BYTES(0x90, 0x04, 0x00, 0x01, 0x00, 0x00), WRONG_DIRECTION),
	REJECT("UNSUBACK from the client (3.1.1 §2.2.1)", 4, CL,
	    BYTES(0xB0, 0x02, 0x00, 0x01), WRONG_DIRECTION),
	REJECT("PINGRESP from the client (3.1.1 §2.2.1)", 3, CL,
	    BYTES(0xD0, 0x00), WRONG_DIRECTION),
	REJECT("CONNECT from the server (3.1.1 §2.2.1)", 4, SV,
	    CONNECT4(0x02, CID), WRONG_DIRECTION),
	REJECT("SUBSCRIBE from the server (5.0 §2.1.2)", 5, SV,
	    FRAME(0x82, 0, 1, 0, S('a'), 0), WRONG_DIRECTION),
	REJECT("UNSUBSCRIBE from the server (3.1.1 §2.2.1)", 4, SV,
	    FRAME(0xA2, 0, 1, S('a')), WRONG_DIRECTION),
	REJECT("PINGREQ from the server (3.1.1 §2.2.1)", 4, SV,
	    BYTES(0xC0, 0x00), WRONG_DIRECTION),
	REJECT("DISCONNECT from a 3.1.1 server (3.1.1 §3.14)", 4, SV,
	    BYTES(0xE0, 0x00), WRONG_DIRECTION),
	REJECT("DISCONNECT from a 3.1 server", 3, SV, BYTES(0xE0, 0x00),
	    WRONG_DIRECTION),
	ACCEPT("DISCONNECT from a 5.0 server (5.0 §3.14)", 5, SV,
	    BYTES(0xE0, 0x01, 0x8E)),
	ACCEPT("AUTH from a 5.0 server (5.0 §3.15)", 5, SV,
	    BYTES(0xF0, 0x00)),
	ACCEPT("PUBLISH both ways: from the server", 3, SV,
	    FRAME(0x30, S('a'))),
};

/* The parts of two decodes of one frame that must agree. */
static void
same_packet(const char *name, const struct codec_packet *a,
    const struct codec_packet *b)
{
	ck_assert_msg(a->type == b->type && a->flags == b->flags &&
	    a->hdr_len == b->hdr_len && a->rem_len == b->rem_len &&
	    a->len == b->len && a->packet_id == b->packet_id &&
	    a->reason == b->reason && a->props.seen == b->props.seen &&
	    a->props.raw.len == b->props.raw.len &&
	    a->session_present == b->session_present,
	    "%s: split decode differs", name);
	if (a->type == CODEC_PUBLISH) {
		const struct codec_publish	*x = &a->u.publish;
		const struct codec_publish	*y = &b->u.publish;

		ck_assert_msg(x->topic.len == y->topic.len &&
		    x->topic.p == y->topic.p &&
		    x->payload_off == y->payload_off &&
		    x->payload_len == y->payload_len && x->qos == y->qos,
		    "%s: split PUBLISH differs", name);
	}
}

/*
 * The whole frame must give the expected verdict; every strict prefix
 * must ask for more (or fail the same way, if the prefix already proves
 * the error); every contiguous split must converge, asking only for more
 * contiguous bytes, to the same verdict.
 */
static void
run_case(const struct vcase *c)
{
	struct codec_limits	 lim = { .max_packet = c->max,
				    .reject_control = c->ctl };
	struct codec_packet	 whole, p;
	uint8_t			*b, *pb;
	size_t			 k, contig;
	int			 rc, rounds;

	b = tu_dup_exact(c->b, c->len);
	rc = codec_decode(&lim, c->level, c->dir, b, c->len, c->len, &whole);
	ck_assert_msg(rc == c->res, "%s: result %d, want %d (err %s)",
	    c->name, rc, c->res, codec_err_str(whole.err));
	if (rc == CODEC_ERROR)
		ck_assert_msg(whole.err == c->err, "%s: error \"%s\", want "
		    "\"%s\"", c->name, codec_err_str(whole.err),
		    codec_err_str(c->err));
	else {
		ck_assert_msg(whole.len == c->len, "%s: length %zu of %zu",
		    c->name, whole.len, c->len);
		ck_assert_int_eq(whole.hdr_len + whole.rem_len, whole.len);
	}

	for (k = 0; k < c->len; k++) {
		pb = tu_dup_exact(c->b, k);
		rc = codec_decode(&lim, c->level, c->dir, pb, k, k, &p);
		free(pb);
		if (rc == CODEC_NEED)
			ck_assert_msg(p.need > k, "%s: prefix %zu needs %zu",
			    c->name, k, p.need);
		else
			ck_assert_msg(c->res == CODEC_ERROR &&
			    rc == CODEC_ERROR && p.err == c->err,
			    "%s: prefix %zu gave %d (%s)", c->name, k, rc,
			    codec_err_str(p.err));
	}

	for (k = 0; k < c->len; k++) {
		contig = k;
		for (rounds = 0; rounds < 16; rounds++) {
			rc = codec_decode(&lim, c->level, c->dir, b, contig,
			    c->len, &p);
			if (rc != CODEC_NEED_CONTIG)
				break;
			ck_assert_msg(p.need > contig && p.need <= c->len,
			    "%s: contig %zu needs %zu", c->name, contig,
			    p.need);
			contig = p.need;
		}
		ck_assert_msg(rc == c->res, "%s: contig %zu gave %d",
		    c->name, k, rc);
		if (rc == CODEC_ERROR)
			ck_assert_int_eq(p.err, c->err);
		else
			same_packet(c->name, &p, &whole);
		if (c->res == CODEC_OK && whole.type == CODEC_PUBLISH &&
		    k >= whole.u.publish.payload_off)
			ck_assert_msg(rounds == 0, "%s: PUBLISH with header "
			    "contiguous (%zu) asked for more", c->name, k);
		if (c->res == CODEC_OK && whole.type != CODEC_PUBLISH)
			ck_assert_msg(contig == c->len && (rounds == 1 ||
			    (k < whole.hdr_len && rounds == 2)),
			    "%s: contig %zu should ask for the frame",
			    c->name, k);
	}
	free(b);
}

START_TEST(t_header_cases)
{
	run_case(&header_cases[_i]);
}
END_TEST

START_TEST(t_connect_cases)
{
	run_case(&connect_cases[_i]);
}
END_TEST

START_TEST(t_publish_cases)
{
	run_case(&publish_cases[_i]);
}
END_TEST

START_TEST(t_utf8_cases)
{
	run_case(&utf8_cases[_i]);
}
END_TEST

START_TEST(t_ack_cases)
{
	run_case(&ack_cases[_i]);
}
END_TEST

START_TEST(t_sub_cases)
{
	run_case(&sub_cases[_i]);
}
END_TEST

START_TEST(t_dir_cases)
{
	run_case(&dir_cases[_i]);
}
END_TEST

/* codec_header_decode alone: the remaining length and its bounds. */
struct hcase {
	const char	*name;
	size_t		 max;
	const uint8_t	*b;
	size_t		 len;
	int		 res;
	enum codec_err	 err;
	size_t		 hdr_len;
	size_t		 rem_len;	/* or need, with CODEC_NEED */
};

static const struct hcase hdr_cases[] = {
	{ "first byte alone needs 2 bytes", 0, BYTES(0x30), CODEC_NEED, 0, 0,
	    2 },
	{ "1-byte length 0", 0, BYTES(0xC0, 0x00), CODEC_OK, 0, 2, 0 },
	{ "1-byte length 127", 0, BYTES(0x30, 0x7F), CODEC_OK, 0, 2, 127 },
	{ "2-byte length 128", 0, BYTES(0x30, 0x80, 0x01), CODEC_OK, 0, 3,
	    128 },
	{ "2-byte length 16383", 0, BYTES(0x30, 0xFF, 0x7F), CODEC_OK, 0, 3,
	    16383 },
	{ "3-byte length 16384", 0, BYTES(0x30, 0x80, 0x80, 0x01), CODEC_OK,
	    0, 4, 16384 },
	{ "4-byte length 2097152", 0, BYTES(0x30, 0x80, 0x80, 0x80, 0x01),
	    CODEC_OK, 0, 5, 2097152 },
	{ "4-byte length 268435455 (3.1.1 §2.2.3)", 0,
	    BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F), CODEC_OK, 0, 5, 268435455 },
	{ "continued length needs a byte more", 0, BYTES(0x30, 0x80),
	    CODEC_NEED, 0, 0, 3 },
	{ "fifth length byte [MQTT-1.5.5-1]", 0,
	    BYTES(0x30, 0x80, 0x80, 0x80, 0x80), CODEC_ERROR,
	    CODEC_ERR_REMLEN_ENCODING, 0, 0 },
	{ "non-minimal 0xFF 0x80 0x00 [MQTT-1.5.5-1]", 0,
	    BYTES(0x30, 0xFF, 0x80, 0x00), CODEC_ERROR,
	    CODEC_ERR_REMLEN_ENCODING, 0, 0 },
	{ "non-minimal 4-byte zero [MQTT-1.5.5-1]", 0,
	    BYTES(0x30, 0x80, 0x80, 0x80, 0x00), CODEC_ERROR,
	    CODEC_ERR_REMLEN_ENCODING, 0, 0 },
	{ "type 0 (3.1.1 §2.2.1)", 0, BYTES(0x0F, 0x00), CODEC_ERROR,
	    CODEC_ERR_TYPE_RESERVED, 0, 0 },
	{ "type 15 is left to codec_decode", 0, BYTES(0xF0, 0x00), CODEC_OK,
	    0, 2, 0 },
	{ "at max_packet", 131, BYTES(0x30, 0x80, 0x01), CODEC_OK, 0, 3,
	    128 },
	{ "one over max_packet", 131, BYTES(0x30, 0x81, 0x01), CODEC_ERROR,
	    CODEC_ERR_TOO_LARGE, 0, 0 },
	{ "over max_packet before the length ends", 16000,
	    BYTES(0x30, 0x80, 0x80), CODEC_ERROR, CODEC_ERR_TOO_LARGE, 0, 0 },
	{ "under max_packet while the length continues", 17000,
	    BYTES(0x30, 0x80, 0x80), CODEC_NEED, 0, 0, 4 },
};

START_TEST(t_hdr_cases)
{
	const struct hcase	*c = &hdr_cases[_i];
	struct codec_limits	 lim = { .max_packet = c->max };
	struct codec_packet	 p;
	uint8_t			*b;
	size_t			 len = c->len;
	int			 rc;

	b = tu_dup_exact(c->b, len);
	memset(&p, 0, sizeof(p));
	rc = codec_header_decode(&lim, b, len, &p);
	free(b);
	ck_assert_msg(rc == c->res, "%s: %d", c->name, rc);
	if (rc == CODEC_OK) {
		ck_assert_uint_eq(p.hdr_len, c->hdr_len);
		ck_assert_uint_eq(p.rem_len, c->rem_len);
		ck_assert_uint_eq(p.len, c->hdr_len + c->rem_len);
		ck_assert_uint_eq(p.type, c->b[0] >> 4);
	} else if (rc == CODEC_NEED)
		ck_assert_uint_eq(p.need, c->rem_len);
	else
		ck_assert_int_eq(p.err, c->err);
}
END_TEST

/*
 * Frames too long for the tables: a PUBLISH with a remaining length of 2
 * and 3 bytes, fed through the same prefix and split checks.
 */
START_TEST(t_large_publish)
{
	static const size_t	 sizes[] = { 127, 128, 300, 16383, 16384,
				    70000 };
	struct vcase		 c;
	uint8_t			*f;
	size_t			 rem, off, len;

	rem = sizes[_i];
	len = 1 + (rem < 128 ? 1 : rem < 16384 ? 2 : 3) + rem;
	f = calloc(1, len);
	ck_assert_ptr_nonnull(f);
	f[0] = 0x32;
	off = 1;
	do {
		f[off] = rem & 0x7f;
		if ((rem >>= 7) != 0)
			f[off] |= 0x80;
		off++;
	} while (rem != 0);
	f[off + 1] = 3;
	memcpy(f + off + 2, "a/b", 3);
	f[off + 6] = 1;			/* packet identifier 1 */
	memset(f + off + 7, 'z', len - off - 7);
	memset(&c, 0, sizeof(c));
	c.name = "large PUBLISH";
	c.level = CODEC_V311;
	c.dir = CL;
	c.b = f;
	c.len = len;
	c.res = CODEC_OK;
	/* Prefix and split checks are quadratic: spare the biggest. */
	if (len < 20000)
		run_case(&c);
	else {
		struct codec_packet	p;

		ck_assert_int_eq(codec_decode(NULL, 4, CL, f, 12, len, &p),
		    CODEC_OK);
		ck_assert_uint_eq(p.u.publish.payload_off, off + 7);
		ck_assert_uint_eq(p.u.publish.payload_len, len - off - 7);
		ck_assert_int_eq(codec_decode(NULL, 4, CL, f, 12, len - 1,
		    &p), CODEC_NEED);
		ck_assert_uint_eq(p.need, len);
		ck_assert_int_eq(codec_decode(NULL, 4, CL, f, 5, len, &p),
		    CODEC_NEED_CONTIG);
	}
	free(f);
}
END_TEST

/* Every field of a full 5.0 CONNECT. */
START_TEST(t_connect_fields)
{
	static const uint8_t	 f[] = { CONNECT5R(0xEE,
	    PROPS(0x11, 0, 0, 1, 0, 0x21, 0, 10, 0x22, 0, 5,
	    0x27, 0, 0, 1, 0, 0x26, S('k'), S('v'), 0x15, S('m')),
	    S('c', 'l', 'i'),
	    PROPS(0x18, 0, 0, 0, 5, 0x01, 1, 0x02, 0, 0, 0, 60),
	    S('w', '/', 't'), S('b', 'y'), S('u', 's'), S('p', 'w', 'd')) };
	struct codec_packet	 p;
	struct codec_connect	*c = &p.u.connect;
	uint8_t			*b;

	b = tu_dup_exact(f, sizeof(f));
	ck_assert_int_eq(codec_decode(NULL, 0, CL, b, sizeof(f), sizeof(f),
	    &p), CODEC_OK);
	ck_assert_uint_eq(p.type, CODEC_CONNECT);
	ck_assert_uint_eq(c->level, 5);
	ck_assert_uint_eq(c->flags, 0xEE);
	ck_assert_uint_eq(CODEC_CF_WILL_QOS(c->flags), 1);
	ck_assert(c->flags & CODEC_CF_WILL_RETAIN);
	ck_assert_uint_eq(c->keepalive, 60);
	ck_assert(c->client_id.len == 3 &&
	    memcmp(c->client_id.p, "cli", 3) == 0);
	ck_assert(c->will_topic.len == 3 &&
	    memcmp(c->will_topic.p, "w/t", 3) == 0);
	ck_assert(c->will_payload.len == 2 &&
	    memcmp(c->will_payload.p, "by", 2) == 0);
	ck_assert(c->username.len == 2 &&
	    memcmp(c->username.p, "us", 2) == 0);
	ck_assert(c->password.len == 3 &&
	    memcmp(c->password.p, "pwd", 3) == 0);
	ck_assert_uint_eq(p.props.session_expiry, 256);
	ck_assert_uint_eq(p.props.receive_max, 10);
	ck_assert_uint_eq(p.props.topic_alias_max, 5);
	ck_assert_uint_eq(p.props.max_packet_size, 256);
	ck_assert_uint_eq(p.props.n_user_props, 1);
	ck_assert(p.props.auth_method.len == 1 &&
	    p.props.auth_method.p[0] == 'm');
	ck_assert(CODEC_PROP_HAS(&p.props, CODEC_PROP_RECEIVE_MAX));
	ck_assert(!CODEC_PROP_HAS(&p.props, CODEC_PROP_AUTH_DATA));
	ck_assert_uint_eq(p.props.raw.len, 27);
	ck_assert_ptr_eq(p.props.raw.p, b + 13);
	ck_assert_uint_eq(c->will_props.will_delay, 5);
	ck_assert_uint_eq(c->will_props.payload_format, 1);
	ck_assert_uint_eq(c->will_props.message_expiry, 60);
	ck_assert_uint_eq(c->will_props.raw.len, 12);
	free(b);
}
END_TEST

/* PUBLISH fields, and a payload beyond the contiguous bytes. */
START_TEST(t_publish_fields)
{
	static const uint8_t	 f[] = { FR(0x3B, S('a', '/', 'b'),
	    0x12, 0x34, PROPS(0x23, 0, 9, 0x0B, 0x81, 0x01, 0x0B, 2),
	    'p', 'a', 'y') };
	struct codec_packet	 p;
	uint8_t			*b;

	b = tu_dup_exact(f, sizeof(f));
	ck_assert_int_eq(codec_decode(NULL, 5, SV, b, 18, sizeof(f), &p),
	    CODEC_OK);
	ck_assert_uint_eq(p.u.publish.qos, 1);
	ck_assert(p.u.publish.dup && p.u.publish.retain);
	ck_assert_uint_eq(p.packet_id, 0x1234);
	ck_assert_ptr_eq(p.u.publish.topic.p, b + 4);
	ck_assert_uint_eq(p.u.publish.topic.len, 3);
	ck_assert_ptr_eq(p.u.publish.resolved.p, b + 4);
	ck_assert_uint_eq(p.u.publish.payload_off, 18);
	ck_assert_uint_eq(p.u.publish.payload_len, 3);
	ck_assert_uint_eq(p.props.topic_alias, 9);
	ck_assert_uint_eq(p.props.subscription_id, 129);
	ck_assert_uint_eq(p.props.n_subscription_ids, 2);
	ck_assert_int_eq(codec_decode(NULL, 5, SV, b, 17, sizeof(f), &p),
	    CODEC_NEED_CONTIG);
	ck_assert_uint_eq(p.need, 18);
	ck_assert_int_eq(codec_decode(NULL, 5, SV, b, 6, sizeof(f), &p),
	    CODEC_NEED_CONTIG);
	ck_assert_uint_eq(p.need, 7);
	free(b);
}
END_TEST

/* A non-PUBLISH frame asks for all of itself contiguous. */
START_TEST(t_need_contig)
{
	static const uint8_t	 f[] = { CONNECT4R(0x02, CID),
	    0xC0, 0x00 };
	struct codec_packet	 p;

	ck_assert_int_eq(codec_decode(NULL, 0, CL, f, 3, sizeof(f), &p),
	    CODEC_NEED_CONTIG);
	ck_assert_uint_eq(p.need, sizeof(f) - 2);
	ck_assert_int_eq(codec_decode(NULL, 0, CL, f, 1, sizeof(f), &p),
	    CODEC_NEED_CONTIG);
	ck_assert_uint_eq(p.need, 5);
	/* Two frames buffered: the first is decoded, its length given. */
	ck_assert_int_eq(codec_decode(NULL, 0, CL, f, sizeof(f), sizeof(f),
	    &p), CODEC_OK);
	ck_assert_uint_eq(p.len, sizeof(f) - 2);
	ck_assert_int_eq(codec_decode(NULL, 4, CL, f + p.len, 2, 2, &p),
	    CODEC_OK);
	/* contig beyond buffered is clamped. */
	ck_assert_int_eq(codec_decode(NULL, 4, CL, f + sizeof(f) - 2, 9, 1,
	    &p), CODEC_NEED);
	ck_assert_int_eq(codec_decode(NULL, 4, CL, f, 0, 0, &p),
	    CODEC_NEED);
}
END_TEST

/* codec_filter_next over SUBSCRIBE and UNSUBSCRIBE; lists of codes. */
START_TEST(t_filter_next)
{
	static const uint8_t	 sub[] = { FR(0x82, 0, 5,
	    PROPS(0x0B, 3), S('a', '/', 'b'), 0x01, S('#'), 0x2E) };
	static const uint8_t	 unsub[] = { FR(0xA2, 0, 6,
	    S('x'), S('y', '/', '+')) };
	static const uint8_t	 suback[] = { FR(0x90, 0, 5, 0, 1,
	    0x80) };
	struct codec_packet	 p;
	struct codec_buf	 f;
	size_t			 off = 0;
	uint8_t			 o;

	ck_assert_int_eq(codec_decode(NULL, 5, CL, sub, sizeof(sub),
	    sizeof(sub), &p), CODEC_OK);
	ck_assert_uint_eq(p.u.list.count, 2);
	ck_assert_uint_eq(p.props.subscription_id, 3);
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, &o), 1);
	ck_assert(f.len == 3 && memcmp(f.p, "a/b", 3) == 0 && o == 1);
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, NULL), 1);
	ck_assert(f.len == 1 && f.p[0] == '#');
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, &o), 0);

	off = 0;
	ck_assert_int_eq(codec_decode(NULL, 4, CL, unsub, sizeof(unsub),
	    sizeof(unsub), &p), CODEC_OK);
	ck_assert_uint_eq(p.packet_id, 6);
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, &o), 1);
	ck_assert(f.len == 1 && f.p[0] == 'x' && o == 0);
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, &o), 1);
	ck_assert(f.len == 3 && memcmp(f.p, "y/+", 3) == 0);
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, &o), 0);

	off = 0;
	ck_assert_int_eq(codec_decode(NULL, 5, SV, suback, sizeof(suback),
	    sizeof(suback), &p), CODEC_OK);
	ck_assert_uint_eq(p.u.list.count, 2);
	ck_assert(p.u.list.list.p[0] == 1 && p.u.list.list.p[1] == 0x80);
	ck_assert_int_eq(codec_filter_next(&p, &off, &f, &o), 0);
}
END_TEST

/* CONNACK and acknowledgement fields. */
START_TEST(t_ack_fields)
{
	static const uint8_t	 ca[] = { FR(0x20, 1, 0, PROPS(0x24, 1,
	    0x22, 0, 7, 0x1F, S('o', 'k'), 0x13, 0, 9)) };
	static const uint8_t	 pr[] = { 0x50, 0x03, 0x00, 0x02, 0x91 };
	struct codec_packet	 p;

	ck_assert_int_eq(codec_decode(NULL, 5, SV, ca, sizeof(ca),
	    sizeof(ca), &p), CODEC_OK);
	ck_assert(p.session_present);
	ck_assert_uint_eq(p.reason, 0);
	ck_assert_uint_eq(p.props.max_qos, 1);
	ck_assert_uint_eq(p.props.topic_alias_max, 7);
	ck_assert_uint_eq(p.props.server_keep_alive, 9);
	ck_assert(p.props.reason_string.len == 2 &&
	    memcmp(p.props.reason_string.p, "ok", 2) == 0);
	ck_assert_int_eq(codec_decode(NULL, 5, CL, pr, sizeof(pr),
	    sizeof(pr), &p), CODEC_OK);
	ck_assert_uint_eq(p.packet_id, 2);
	ck_assert_uint_eq(p.reason, 0x91);
}
END_TEST

/*
 * Noncharacters (5.0 §1.5.4): passed unless reject_nonchar, which refuses
 * each kind in a topic: U+FDD0, U+FDEF, U+FFFE, U+FFFF, U+1FFFF,
 * U+10FFFE; the code points beside them pass.
 */
START_TEST(t_nonchar)
{
	static const struct {
		uint8_t	b[4];
		size_t	n;
		bool	bad;
	} cp[] = {
		{ { 0xef, 0xb7, 0x90 }, 3, true },	/* U+FDD0 */
		{ { 0xef, 0xb7, 0xaf }, 3, true },	/* U+FDEF */
		{ { 0xef, 0xb7, 0x8f }, 3, false },	/* U+FDCF */
		{ { 0xef, 0xb7, 0xb0 }, 3, false },	/* U+FDF0 */
		{ { 0xef, 0xbf, 0xbe }, 3, true },	/* U+FFFE */
		{ { 0xef, 0xbf, 0xbf }, 3, true },	/* U+FFFF */
		{ { 0xef, 0xbf, 0xbd }, 3, false },	/* U+FFFD */
		{ { 0xf0, 0x9f, 0xbf, 0xbf }, 4, true },	/* U+1FFFF */
		{ { 0xf4, 0x8f, 0xbf, 0xbe }, 4, true },	/* U+10FFFE */
		{ { 0xf0, 0x9f, 0x98, 0x80 }, 4, false },	/* U+1F600 */
		{ { 0xf0, 0x9f, 0xbf, 0xbd }, 4, false },	/* U+1FFFD */
	};
	struct codec_limits	 lim = { .reject_nonchar = true };
	struct codec_packet	 p;
	uint8_t			 f[16];
	size_t			 i, n;

	for (i = 0; i < NELEM(cp); i++) {
		n = 0;
		f[n++] = 0x30;
		f[n++] = (uint8_t)(2 + 1 + cp[i].n);
		f[n++] = 0;
		f[n++] = (uint8_t)(1 + cp[i].n);
		f[n++] = 'a';
		memcpy(f + n, cp[i].b, cp[i].n);
		n += cp[i].n;
		ck_assert_int_eq(codec_decode(NULL, 4, CL, f, n, n, &p),
		    CODEC_OK);
		ck_assert_int_eq(codec_decode(&lim, 4, CL, f, n, n, &p),
		    cp[i].bad ? CODEC_ERROR : CODEC_OK);
		if (cp[i].bad)
			ck_assert_int_eq(p.err, CODEC_ERR_UTF8_NONCHAR);
	}
}
END_TEST

/*
 * limits.max_user_properties (CVE-2021-41039): a packet from the client
 * with more User Properties than the cap is refused (0x97), whatever its
 * type, the CONNECT's and its will's counted together; as many as the
 * cap pass, any number passes with no cap, and the broker's packets are
 * not counted.  5.0 §3.1.2.11.8: a User Property may appear many times.
 */
struct upcase {
	const char	*name;
	uint8_t		 level;		/* 0: a CONNECT */
	uint8_t		 hdr;
	uint8_t		 pre[16];	/* before the properties */
	size_t		 npre;
	uint8_t		 post[16];	/* after them (CONNECT: before the
					   will's) */
	size_t		 npost;
	bool		 from_server;	/* the broker may send it too */
};

static const struct upcase up_cases[] = {
	{ "PUBLISH QoS 1", 5, 0x32, { 0, 1, 't', 0, 1 }, 5, { 'x' }, 1,
	    true },
	{ "SUBSCRIBE", 5, 0x82, { 0, 1 }, 2, { 0, 1, 't', 0 }, 4, false },
	{ "UNSUBSCRIBE", 5, 0xa2, { 0, 1 }, 2, { 0, 1, 't' }, 3, false },
	{ "PUBACK", 5, 0x40, { 0, 1, 0 }, 3, { 0 }, 0, true },
	{ "DISCONNECT", 5, 0xe0, { 0 }, 1, { 0 }, 0, true },
	{ "CONNECT with a will", 0, 0x10,
	    { 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 60 }, 10,
	    { 0, 2, 'c', '1' }, 4, false },
};

/*
 * Frame <c> with <n> User Properties ("k": "v"), or for a CONNECT <n>
 * split between it and its will (the will gets <n> / 2); into <b>,
 * returns the length.
 */
static size_t
up_frame(const struct upcase *c, unsigned n, uint8_t *b)
{
	uint8_t		 body[128 * 128];
	size_t		 len = 0, i, blk;
	unsigned	 k, nb[2], nblk = c->level == 0 ? 2 : 1;

	nb[0] = nblk == 2 ? n - n / 2 : n;
	nb[1] = n / 2;
	memcpy(body, c->pre, c->npre);
	len = c->npre;
	for (blk = 0; blk < nblk; blk++) {
		if (blk == 1) {
			memcpy(body + len, c->post, c->npost);
			len += c->npost;
		}
		ck_assert_uint_lt(nb[blk] * 7, 128 * 128 - 64);
		/* The property length, a two-byte VBI when long. */
		if (nb[blk] * 7 < 128)
			body[len++] = (uint8_t)(nb[blk] * 7);
		else {
			body[len++] = (uint8_t)(0x80 | ((nb[blk] * 7) & 0x7f));
			body[len++] = (uint8_t)((nb[blk] * 7) >> 7);
		}
		for (k = 0; k < nb[blk]; k++) {
			memcpy(body + len, (const uint8_t[]){ 0x26, 0, 1,
			    'k', 0, 1, 'v' }, 7);
			len += 7;
		}
	}
	if (nblk == 2)
		memcpy(body + len, (const uint8_t[]){ 0, 1, 'w', 0, 1, 'p' },
		    6), len += 6;
	else {
		memcpy(body + len, c->post, c->npost);
		len += c->npost;
	}
	ck_assert_uint_lt(len, 128 * 128);
	i = 0;
	b[i++] = c->hdr;
	if (len < 128)
		b[i++] = (uint8_t)len;
	else {
		b[i++] = (uint8_t)(0x80 | (len & 0x7f));
		b[i++] = (uint8_t)(len >> 7);
	}
	memcpy(b + i, body, len);
	return i + len;
}

/* Decodes frame <f> (<n> bytes, an exact copy) and its prefixes. */
static void
up_decode(const struct upcase *c, const struct codec_limits *lim,
    enum codec_dir dir, const uint8_t *f, size_t n, enum codec_err want)
{
	struct codec_packet	 p;
	uint8_t			*b = tu_dup_exact(f, n), *pb;
	size_t			 k;
	int			 rc;

	rc = codec_decode(lim, c->level, dir, b, n, n, &p);
	ck_assert_msg(rc == (want == CODEC_ERR_NONE ? CODEC_OK : CODEC_ERROR)
	    && (rc == CODEC_OK || p.err == want), "%s: %d (%s)", c->name, rc,
	    codec_err_str(p.err));
	for (k = 0; k < n; k += 7) {
		pb = tu_dup_exact(f, k);
		rc = codec_decode(lim, c->level, dir, pb, k, k, &p);
		ck_assert_msg(rc == CODEC_NEED || (rc == CODEC_ERROR &&
		    p.err == want), "%s: prefix %zu: %d", c->name, k, rc);
		free(pb);
	}
	free(b);
}

START_TEST(t_user_props)
{
	const struct upcase	*c = &up_cases[_i];
	struct codec_limits	 lim = { .max_user_props = 32 };
	struct codec_limits	 none = { .max_user_props = 0 };
	uint8_t			 f[128 * 128 + 8];
	size_t			 n;

	n = up_frame(c, 32, f);
	up_decode(c, &lim, CL, f, n, CODEC_ERR_NONE);
	n = up_frame(c, 33, f);
	up_decode(c, &lim, CL, f, n, CODEC_ERR_USER_PROPS);
	up_decode(c, &none, CL, f, n, CODEC_ERR_NONE);
	up_decode(c, NULL, CL, f, n, CODEC_ERR_NONE);
	n = up_frame(c, 2000, f);
	up_decode(c, &lim, CL, f, n, CODEC_ERR_USER_PROPS);
	up_decode(c, &none, CL, f, n, CODEC_ERR_NONE);
	if (c->from_server)
		up_decode(c, &lim, SV, f, n, CODEC_ERR_NONE);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_USER_PROPS), 0x97);
}
END_TEST

/*
 * CVE-2019-11778: a will's delay over the session expiry (0 when absent)
 * is re-encoded as the latter, in place, the block keeping its length and
 * its other properties; otherwise the CONNECT goes on as it came.
 */
START_TEST(t_will_clamp)
{
	const struct {
		const char	*name;
		const uint8_t	*b;
		size_t		 len;
		bool		 clamp;
		uint32_t	 to;
	} cases[] = {
		{ "no session expiry: 0", CONNECT5(0x06, 0, CID,
		    PROPS(0x18, 0, 0, 0, 5), S('w'), S('p')), true, 0 },
		{ "over the session expiry", CONNECT5(0x06,
		    PROPS(0x11, 0, 0, 0, 10), CID, PROPS(0x01, 1, 0x18, 0, 0,
		    1, 0x2c, 0x26, 0, 1, 'k', 0, 1, 'v'), S('w'), S('p')),
		    true, 10 },
		{ "equal", CONNECT5(0x06, PROPS(0x11, 0, 0, 0, 10), CID,
		    PROPS(0x18, 0, 0, 0, 10), S('w'), S('p')), false, 0 },
		{ "shorter", CONNECT5(0x06, PROPS(0x11, 0xff, 0xff, 0xff,
		    0xff), CID, PROPS(0x18, 0xff, 0xff, 0xff, 0xfe), S('w'),
		    S('p')), false, 0 },
		{ "no will delay", CONNECT5(0x06, 0, CID, 0,
		    S('w'), S('p')), false, 0 },
		{ "no will", CONNECT5(0x02, 0, CID), false, 0 },
		{ "3.1.1", CONNECT4(0x06, CID, S('w'), S('p')), false, 0 },
	};
	struct codec_packet	 a, b;
	uint8_t			 out[256];
	uint32_t		 to;
	size_t			 i, n;

	for (i = 0; i < NELEM(cases); i++) {
		ck_assert_int_eq(codec_decode(NULL, 0, CL, cases[i].b,
		    cases[i].len, cases[i].len, &a), CODEC_OK);
		to = 12345;
		ck_assert_msg(codec_connect_will_clamp(&a, &to) ==
		    cases[i].clamp, "%s", cases[i].name);
		n = codec_encode_connect(out, sizeof(out), &a, NULL, NULL, 0);
		ck_assert_uint_eq(n, cases[i].len);
		if (!cases[i].clamp) {
			ck_assert_uint_eq(to, 12345);
			ck_assert_mem_eq(out, cases[i].b, n);
			continue;
		}
		ck_assert_uint_eq(to, cases[i].to);
		ck_assert_int_eq(codec_decode(NULL, 0, CL, out, n, n, &b),
		    CODEC_OK);
		ck_assert_uint_eq(b.u.connect.will_props.will_delay, to);
		ck_assert_uint_eq(b.u.connect.will_props.seen,
		    a.u.connect.will_props.seen);
		ck_assert_uint_eq(b.u.connect.will_props.n_user_props,
		    a.u.connect.will_props.n_user_props);
		ck_assert(!codec_connect_will_clamp(&b, &to));
	}
}
END_TEST

/* A NULL limits pointer means no size limit and control characters. */
START_TEST(t_null_limits)
{
	static const uint8_t	 f[] = { FR(0x30, S('a', 0x01)) };
	struct codec_limits	 lim = { .reject_control = true };
	struct codec_packet	 p;

	ck_assert_int_eq(codec_decode(NULL, 4, CL, f, sizeof(f), sizeof(f),
	    &p), CODEC_OK);
	ck_assert_int_eq(codec_decode(&lim, 4, CL, f, sizeof(f), sizeof(f),
	    &p), CODEC_ERROR);
	ck_assert_int_eq(p.err, CODEC_ERR_UTF8_CONTROL);
	/* A level the codec does not know is refused, not guessed. */
	ck_assert_int_eq(codec_decode(NULL, 7, CL, f, sizeof(f), sizeof(f),
	    &p), CODEC_ERROR);
	ck_assert_int_eq(p.err, CODEC_ERR_PROTOCOL_LEVEL);
}
END_TEST

/*
 * The connection's state rules, as scripts of frames.  Each step is
 * decoded (at the session's level unless it names one), must decode, and
 * then codec_session_check must give the verdict and phase written.
 */
struct sstep {
	uint8_t		 dir;
	uint8_t		 level;		/* 0: the session's level */
	const uint8_t	*b;
	size_t		 len;
	int		 rc;
	enum codec_err	 err;
	enum codec_phase phase;
	const char	*resolved;	/* PUBLISH: expected topic */
};

struct scase {
	const char		*name;
	const struct sstep	*steps;
	size_t			 n;
};

#define STEP(d, f, ph)	{ d, 0, f, 0, CODEC_ERR_NONE, CODEC_PH_##ph, NULL }
#define STEPT(d, f, t)	{ d, 0, f, 0, CODEC_ERR_NONE, CODEC_PH_CONNECTED, t }
#define FAIL(d, f, e, ph) \
	{ d, 0, f, -1, CODEC_ERR_##e, CODEC_PH_##ph, NULL }
#define FAILL(d, l, f, e, ph) \
	{ d, l, f, -1, CODEC_ERR_##e, CODEC_PH_##ph, NULL }
#define SCRIPT(n, ...)	{ n, (const struct sstep[]){ __VA_ARGS__ }, \
	sizeof((const struct sstep[]){ __VA_ARGS__ }) / sizeof(struct sstep) }

#define CONN4		CONNECT4(0x02, CID)
#define CONN3		CONNECT3(0x02, CID)
#define CONN5		CONNECT5(0x02, PROPS(0x22, 0, 2), CID)
#define CONN5AUTH	CONNECT5(0x02, PROPS(0x15, S('x')), CID)
#define CONNACK_OK	BYTES(0x20, 0x02, 0x00, 0x00)
#define CONNACK_NO	BYTES(0x20, 0x02, 0x00, 0x05)
#define CONNACK5_OK	FRAME(0x20, 0, 0, PROPS(0x22, 0, 3))
#define CONNACK5_NOALIAS BYTES(0x20, 0x03, 0x00, 0x00, 0x00)
#define CONNACK5_NO	BYTES(0x20, 0x03, 0x00, 0x87, 0x00)
#define PUB3		FRAME(0x30, S('a'), 'x')
#define PUB5		FRAME(0x30, S('a'), 0, 'x')
#define PUB5_SET(t, ...) FRAME(0x30, S(__VA_ARGS__), \
	PROPS(0x23, (t) >> 8, (t) & 0xff), 'x')
#define PUB5_USE(t)	FRAME(0x30, 0, 0, \
	PROPS(0x23, (t) >> 8, (t) & 0xff), 'y')
#define DISC		BYTES(0xE0, 0x00)
#define AUTH_CONT	FRAME(0xF0, 0x18, PROPS(0x15, S('x')))
#define AUTH_REAUTH	FRAME(0xF0, 0x19, PROPS(0x15, S('x')))

static const struct scase session_cases[] = {
	SCRIPT("CONNECT then CONNACK 0: connected [MQTT-3.1.0-1]",
	    STEP(CL, CONN4, CONNECT), STEP(SV, CONNACK_OK, CONNECTED),
	    STEP(CL, PUB3, CONNECTED), STEP(SV, PUB3, CONNECTED)),
	SCRIPT("3.1 session",
	    STEP(CL, CONN3, CONNECT), STEP(SV, CONNACK_OK, CONNECTED),
	    STEP(CL, BYTES(0xC0, 0x00), CONNECTED),
	    STEP(SV, BYTES(0xD0, 0x00), CONNECTED)),
	SCRIPT("first client packet not CONNECT [MQTT-3.1.0-1]",
	    FAILL(CL, 4, PUB3, FIRST_NOT_CONNECT, INIT)),
	SCRIPT("server packet before CONNECT [MQTT-3.2.0-1]",
	    FAILL(SV, 4, CONNACK_OK, NOT_CONNECTED, INIT)),
	SCRIPT("second CONNECT before CONNACK [MQTT-3.1.0-2]",
	    STEP(CL, CONN4, CONNECT), FAIL(CL, CONN4, SECOND_CONNECT,
	    CONNECT)),
	SCRIPT("second CONNECT after CONNACK [MQTT-3.1.0-2]",
	    STEP(CL, CONN4, CONNECT), STEP(SV, CONNACK_OK, CONNECTED),
	    FAIL(CL, CONN5, SECOND_CONNECT, CONNECTED)),
	SCRIPT("client may send before CONNACK, the proxy buffers it",
	    STEP(CL, CONN4, CONNECT), STEP(CL, PUB3, CONNECT),
	    STEP(CL, FRAME(0x82, 0, 1, S('a'), 0), CONNECT),
	    STEP(SV, CONNACK_OK, CONNECTED)),
	SCRIPT("server PUBLISH before CONNACK [MQTT-3.2.0-1]",
	    STEP(CL, CONN4, CONNECT), FAIL(SV, PUB3, NOT_CONNECTED,
	    CONNECT)),
	SCRIPT("refused CONNACK closes [MQTT-3.2.2-5]",
	    STEP(CL, CONN4, CONNECT), STEP(SV, CONNACK_NO, CLOSED),
	    FAIL(CL, PUB3, NOT_CONNECTED, CLOSED)),
	SCRIPT("5.0 refused CONNACK closes (5.0 [MQTT-3.2.2-7])",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_NO, CLOSED),
	    FAIL(SV, PUB5, NOT_CONNECTED, CLOSED)),
	SCRIPT("second CONNACK (5.0 [MQTT-3.2.0-2])",
	    STEP(CL, CONN4, CONNECT), STEP(SV, CONNACK_OK, CONNECTED),
	    FAIL(SV, CONNACK_OK, SECOND_CONNACK, CONNECTED)),
	SCRIPT("nothing after the client's DISCONNECT [MQTT-3.14.4-1]",
	    STEP(CL, CONN4, CONNECT), STEP(SV, CONNACK_OK, CONNECTED),
	    STEP(CL, DISC, CLOSED), FAIL(CL, PUB3, NOT_CONNECTED, CLOSED)),
	SCRIPT("5.0 server DISCONNECT closes (5.0 §3.14)",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    STEP(SV, BYTES(0xE0, 0x01, 0x8B), CLOSED),
	    FAIL(SV, PUB5, NOT_CONNECTED, CLOSED)),
	SCRIPT("5.0 server DISCONNECT before CONNACK [MQTT-3.2.0-1]",
	    STEP(CL, CONN5, CONNECT),
	    FAIL(SV, BYTES(0xE0, 0x01, 0x8B), NOT_CONNECTED, CONNECT)),
	SCRIPT("client DISCONNECT before CONNACK closes",
	    STEP(CL, CONN4, CONNECT), STEP(CL, DISC, CLOSED),
	    FAIL(SV, CONNACK_OK, NOT_CONNECTED, CLOSED)),
	SCRIPT("5.0 enhanced authentication (5.0 §4.12)",
	    STEP(CL, CONN5AUTH, CONNECT), STEP(SV, AUTH_CONT, CONNECT),
	    STEP(CL, AUTH_CONT, CONNECT), STEP(SV, CONNACK5_NOALIAS,
	    CONNECTED), STEP(CL, PUB5, CONNECTED),
	    STEP(CL, AUTH_REAUTH, CONNECTED), STEP(SV, AUTH_CONT, CONNECTED)),
	SCRIPT("5.0 only AUTH or DISCONNECT before CONNACK during "
	    "enhanced authentication [MQTT-3.1.2-30]",
	    STEP(CL, CONN5AUTH, CONNECT), FAIL(CL, PUB5, AUTH_STATE,
	    CONNECT), STEP(CL, DISC, CLOSED)),
	SCRIPT("5.0 server AUTH without an authentication method "
	    "[MQTT-4.12.0-6]",
	    STEP(CL, CONN5, CONNECT), FAIL(SV, AUTH_CONT, AUTH_STATE,
	    CONNECT)),
	SCRIPT("5.0 client AUTH without an authentication method "
	    "[MQTT-4.12.0-7]",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    FAIL(CL, AUTH_REAUTH, AUTH_STATE, CONNECTED)),
	SCRIPT("5.0 client topic aliases: bind, use, rebind "
	    "(5.0 §3.3.2.3.4)",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    STEPT(CL, PUB5_SET(1, 'a', '/', 'b'), "a/b"),
	    STEPT(CL, PUB5_USE(1), "a/b"),
	    STEPT(CL, PUB5_SET(3, 'c'), "c"),
	    STEPT(CL, PUB5_SET(1, 'l', 'o', 'n', 'g', 'e', 'r'), "longer"),
	    STEPT(CL, PUB5_USE(1), "longer"),
	    STEPT(CL, PUB5_USE(3), "c"),
	    STEPT(CL, PUB5, "a")),
	SCRIPT("5.0 client alias above the server's maximum "
	    "[MQTT-3.3.2-9]",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    FAIL(CL, PUB5_SET(4, 'a'), TOPIC_ALIAS, CONNECTED)),
	SCRIPT("5.0 client alias not bound [MQTT-3.3.2-9]",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    STEPT(CL, PUB5_SET(1, 'a'), "a"),
	    FAIL(CL, PUB5_USE(2), TOPIC_ALIAS, CONNECTED)),
	SCRIPT("5.0 client alias without Topic Alias Maximum "
	    "[MQTT-3.2.2-18]",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_NOALIAS, CONNECTED),
	    FAIL(CL, PUB5_SET(1, 'a'), TOPIC_ALIAS, CONNECTED)),
	SCRIPT("5.0 client alias before CONNACK [MQTT-3.2.2-17]",
	    STEP(CL, CONN5, CONNECT),
	    FAIL(CL, PUB5_SET(1, 'a'), TOPIC_ALIAS, CONNECT)),
	SCRIPT("5.0 server topic aliases bounded by CONNECT "
	    "[MQTT-3.3.2-10] [MQTT-3.3.2-11]",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    STEPT(SV, PUB5_SET(2, 'x'), "x"),
	    STEPT(SV, PUB5_USE(2), "x"),
	    FAIL(SV, PUB5_SET(3, 'y'), TOPIC_ALIAS, CONNECTED),
	    FAIL(SV, PUB5_USE(1), TOPIC_ALIAS, CONNECTED)),
	SCRIPT("aliases are per direction (5.0 §3.3.2.3.4)",
	    STEP(CL, CONN5, CONNECT), STEP(SV, CONNACK5_OK, CONNECTED),
	    STEPT(CL, PUB5_SET(1, 'c'), "c"),
	    FAIL(SV, PUB5_USE(1), TOPIC_ALIAS, CONNECTED),
	    STEPT(SV, PUB5_SET(1, 's'), "s"),
	    STEPT(CL, PUB5_USE(1), "c")),
	SCRIPT("5.0 alias slots follow the aliases used, up to 65535 "
	    "(5.0 §3.2.2.3.8)",
	    STEP(CL, CONNECT5(0x02, PROPS(0x22, 0xFF, 0xFF), CID), CONNECT),
	    STEP(SV, FRAME(0x20, 0, 0, PROPS(0x22, 0xFF, 0xFF)), CONNECTED),
	    STEPT(CL, PUB5_SET(9, 'n'), "n"),
	    STEPT(CL, PUB5_SET(0xFFFF, 'z'), "z"),
	    STEPT(CL, PUB5_USE(9), "n"),
	    STEPT(CL, PUB5_USE(0xFFFF), "z"),
	    FAIL(CL, PUB5_USE(0x1000), TOPIC_ALIAS, CONNECTED),
	    STEPT(SV, PUB5_SET(0xFFFE, 's'), "s"),
	    STEPT(SV, PUB5_USE(0xFFFE), "s")),
	SCRIPT("5.0 CONNACK naming an authentication method the client did "
	    "not ask for [MQTT-4.12.0-6]",
	    STEP(CL, CONN5, CONNECT),
	    FAIL(SV, FRAME(0x20, 0, 0, PROPS(0x15, S('x'))), AUTH_STATE,
	    CONNECT)),
	SCRIPT("3.1.1 PUBLISH resolves to its topic",
	    STEP(CL, CONN4, CONNECT), STEP(SV, CONNACK_OK, CONNECTED),
	    STEPT(CL, PUB3, "a")),
};

START_TEST(t_session_cases)
{
	const struct scase	*c = &session_cases[_i];
	const struct sstep	*st;
	struct codec_session	 s;
	struct codec_packet	 p;
	uint8_t			*b;
	size_t			 i;
	int			 rc;

	codec_session_init(&s);
	for (i = 0; i < c->n; i++) {
		st = &c->steps[i];
		b = tu_dup_exact(st->b, st->len);
		rc = codec_decode(NULL, st->level != 0 ? st->level : s.level,
		    st->dir, b, st->len, st->len, &p);
		ck_assert_msg(rc == CODEC_OK, "%s: step %zu does not decode "
		    "(%s)", c->name, i, codec_err_str(p.err));
		rc = codec_session_check(&s, st->dir, &p);
		ck_assert_msg(rc == st->rc, "%s: step %zu gave %d (%s)",
		    c->name, i, rc, codec_err_str(p.err));
		if (rc != 0)
			ck_assert_msg(p.err == st->err, "%s: step %zu: %s",
			    c->name, i, codec_err_str(p.err));
		ck_assert_msg(s.phase == st->phase, "%s: step %zu phase %d",
		    c->name, i, s.phase);
		if (st->resolved != NULL)
			ck_assert_msg(p.u.publish.resolved.len ==
			    strlen(st->resolved) &&
			    memcmp(p.u.publish.resolved.p, st->resolved,
			    p.u.publish.resolved.len) == 0,
			    "%s: step %zu resolved \"%.*s\"", c->name, i,
			    (int)p.u.publish.resolved.len,
			    (const char *)p.u.publish.resolved.p);
		free(b);
	}
	codec_session_fini(&s);
	/* fini leaves an initialised session; a second fini is harmless. */
	ck_assert_uint_eq(s.phase, CODEC_PH_INIT);
	codec_session_fini(&s);
}
END_TEST

/* The level and alias maxima the session learns. */
static int
decode_at(struct codec_packet *p, uint8_t level, enum codec_dir dir,
    const uint8_t *b, size_t len)
{
	return codec_decode(NULL, level, dir, b, len, len, p);
}

START_TEST(t_session_learns)
{
	struct codec_session	 s;
	struct codec_packet	 p;

	codec_session_init(&s);
	ck_assert_uint_eq(s.level, 0);
	ck_assert_int_eq(decode_at(&p, s.level, CL, CONN5), CODEC_OK);
	ck_assert_int_eq(codec_session_check(&s, CL, &p), 0);
	ck_assert_uint_eq(s.level, 5);
	ck_assert_uint_eq(s.alias[CODEC_FROM_SERVER].max, 2);
	ck_assert_int_eq(decode_at(&p, s.level, SV, CONNACK5_OK), CODEC_OK);
	ck_assert_int_eq(codec_session_check(&s, SV, &p), 0);
	ck_assert_uint_eq(s.alias[CODEC_FROM_CLIENT].max, 3);
	ck_assert(!s.enhanced_auth);
	codec_session_fini(&s);
}
END_TEST

/* Messages, reason codes and names. */
START_TEST(t_err_str)
{
	enum codec_err	 e = (enum codec_err)_i;
	const char	*s = codec_err_str(e), *t;
	int		 j;

	ck_assert_ptr_nonnull(s);
	ck_assert(strlen(s) > 5);
	if (e != CODEC_ERR_NONE)
		ck_assert_msg(strstr(s, "[MQTT-") != NULL ||
		    strstr(s, "§") != NULL, "%d: no section in \"%s\"", _i, s);
	for (j = 0; j < CODEC_ERR__MAX; j++) {
		t = codec_err_str((enum codec_err)j);
		ck_assert_msg(j == _i || strcmp(s, t) != 0,
		    "errors %d and %d share a message", _i, j);
	}
	ck_assert(e == CODEC_ERR_NONE ? codec_err_reason(e) == 0 :
	    codec_err_reason(e) >= 0x80);
}
END_TEST

START_TEST(t_err_reason)
{
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_UTF8), 0x81);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_LENGTH), 0x81);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_REMLEN_ENCODING), 0x81);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_HEADER_FLAGS), 0x81);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_PROP_DUPLICATE), 0x82);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_SECOND_CONNECT), 0x82);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_TOPIC_WILDCARD), 0x82);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_PROTOCOL_LEVEL), 0x84);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_PROTOCOL_NAME), 0x84);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_CLIENT_ID), 0x85);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_TOPIC_ALIAS), 0x94);
	ck_assert_uint_eq(codec_err_reason(CODEC_ERR_TOO_LARGE), 0x95);
	ck_assert_str_eq(codec_err_str(CODEC_ERR__MAX), "unknown error");
	ck_assert_str_eq(codec_err_str((enum codec_err)-1), "unknown error");
	ck_assert_str_eq(codec_type_str(CODEC_PUBLISH), "PUBLISH");
	ck_assert_str_eq(codec_type_str(CODEC_AUTH), "AUTH");
	ck_assert_str_eq(codec_type_str(0), "RESERVED");
	ck_assert_str_eq(codec_type_str(16), "UNKNOWN");
}
END_TEST

START_TEST(t_connack_v3)
{
	static const uint8_t	map[][2] = {
		{ 0x00, 0x00 }, { 0x03, 0x03 }, { 0x80, 0x05 }, { 0x81, 0x05 },
		{ 0x83, 0x05 }, { 0x84, 0x01 }, { 0x85, 0x02 }, { 0x86, 0x04 },
		{ 0x87, 0x05 }, { 0x88, 0x03 }, { 0x89, 0x03 }, { 0x8A, 0x05 },
		{ 0x8C, 0x04 }, { 0x95, 0x05 }, { 0x97, 0x03 }, { 0x9C, 0x03 },
		{ 0x9D, 0x03 }, { 0x9F, 0x03 },
	};
	size_t			i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		ck_assert_msg(codec_connack_v3(map[i][0]) == map[i][1],
		    "0x%02x", map[i][0]);
}
END_TEST

/*
 * Encoders: each frame decodes as what was asked, and a buffer one byte
 * short is left untouched.
 */
static void
check_short_cap(const uint8_t *frame, size_t len,
    size_t (*enc)(uint8_t *, size_t, const void *), const void *arg)
{
	uint8_t	*b;
	size_t	 cap, i;

	b = malloc(len);
	ck_assert_ptr_nonnull(b);
	for (cap = 0; cap < len; cap++) {
		memset(b, 0xA5, len);
		ck_assert_uint_eq(enc(b, cap, arg), len);
		for (i = 0; i < len; i++)
			ck_assert_uint_eq(b[i], 0xA5);
	}
	ck_assert_uint_eq(enc(b, len, arg), len);
	ck_assert(memcmp(b, frame, len) == 0);
	free(b);
}

struct enc_arg {
	uint8_t		 level;
	uint8_t		 type;
	bool		 sp;
	uint8_t		 reason;
	uint16_t	 id;
	const char	*rs;
	const uint8_t	*codes;
	size_t		 n;
};

static size_t
enc_connack(uint8_t *b, size_t cap, const void *v)
{
	const struct enc_arg	*a = v;

	return codec_encode_connack(b, cap, a->level, a->sp, a->reason,
	    a->rs);
}

static size_t
enc_ack(uint8_t *b, size_t cap, const void *v)
{
	const struct enc_arg	*a = v;

	return codec_encode_ack(b, cap, a->level, a->type, a->id, a->reason,
	    a->rs);
}

static size_t
enc_suback(uint8_t *b, size_t cap, const void *v)
{
	const struct enc_arg	*a = v;

	return codec_encode_suback(b, cap, a->level, a->type, a->id,
	    a->codes, a->n);
}

static size_t
enc_disconnect(uint8_t *b, size_t cap, const void *v)
{
	const struct enc_arg	*a = v;

	return codec_encode_disconnect(b, cap, a->level, a->reason, a->rs);
}

static size_t
enc_pingresp(uint8_t *b, size_t cap, const void *v)
{
	(void)v;
	return codec_encode_pingresp(b, cap);
}

/*
 * Decode an encoder's frame sent by <dir>.  The copy is freed on return:
 * compare views against the original frame, not through <p>.
 */
static void
decode_own(const uint8_t *f, size_t len, uint8_t level, enum codec_dir dir,
    struct codec_packet *p)
{
	uint8_t	*b;
	int	 rc;

	b = tu_dup_exact(f, len);
	rc = codec_decode(NULL, level, dir, b, len, len, p);
	ck_assert_msg(rc == CODEC_OK, "own frame refused: %s",
	    codec_err_str(p->err));
	ck_assert_uint_eq(p->len, len);
	free(b);
}

static const uint8_t	levels[] = { 3, 4, 5 };
static const uint8_t	connack_reasons[] = {
	0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F
};

START_TEST(t_encode_connack)
{
	struct enc_arg		a = { 0 };
	struct codec_packet	p;
	uint8_t			f[256];
	size_t			i, n;
	int			sp, rs;

	a.level = levels[_i];
	for (i = 0; i < sizeof(connack_reasons); i++)
	for (sp = 0; sp < 2; sp++)
	for (rs = 0; rs < 2; rs++) {
		a.reason = connack_reasons[i];
		a.sp = sp;
		a.rs = rs ? "not today" : NULL;
		n = enc_connack(f, sizeof(f), &a);
		ck_assert(n > 0 && n <= sizeof(f));
		decode_own(f, n, a.level, SV, &p);
		ck_assert_uint_eq(p.type, CODEC_CONNACK);
		if (a.level == 5) {
			ck_assert_uint_eq(p.reason, a.reason);
			ck_assert_uint_eq(p.props.reason_string.len,
			    rs ? 9 : 0);
		} else
			ck_assert_uint_eq(p.reason,
			    codec_connack_v3(a.reason));
		ck_assert(p.session_present == (sp && a.reason == 0 &&
		    a.level != 3));
		check_short_cap(f, n, enc_connack, &a);
	}
	ck_assert_uint_eq(codec_encode_connack(f, sizeof(f), 5, false, 0x01,
	    NULL), 0);
	ck_assert_uint_eq(codec_encode_connack(f, sizeof(f), 6, false, 0,
	    NULL), 0);
}
END_TEST

START_TEST(t_encode_ack)
{
	static const uint8_t	pub_rc[] = { 0x00, 0x10, 0x80, 0x83, 0x87,
				    0x90, 0x91, 0x97, 0x99 };
	static const uint8_t	rel_rc[] = { 0x00, 0x92 };
	struct enc_arg		a = { 0 };
	struct codec_packet	p;
	uint8_t			f[64];
	const uint8_t		*rcs;
	size_t			i, nrc, n;
	int			rs;

	a.level = levels[_i % 3];
	a.type = CODEC_PUBACK + _i / 3;
	a.id = 0xBEEF;
	rcs = a.type <= CODEC_PUBREC ? pub_rc : rel_rc;
	nrc = a.type <= CODEC_PUBREC ? sizeof(pub_rc) : sizeof(rel_rc);
	for (i = 0; i < nrc; i++)
	for (rs = 0; rs < 2; rs++) {
		a.reason = rcs[i];
		a.rs = rs ? "why" : NULL;
		n = enc_ack(f, sizeof(f), &a);
		ck_assert(n > 0);
		decode_own(f, n, a.level, CL, &p);
		ck_assert_uint_eq(p.type, a.type);
		ck_assert_uint_eq(p.packet_id, 0xBEEF);
		ck_assert_uint_eq(p.reason, a.level == 5 ? a.reason : 0);
		if (a.level == 5 && !rs)
			ck_assert_uint_eq(n, a.reason == 0 ? 4 : 5);
		if (a.level != 5)
			ck_assert_uint_eq(n, 4);
		check_short_cap(f, n, enc_ack, &a);
	}
	ck_assert_uint_eq(codec_encode_ack(f, sizeof(f), a.level, a.type, 0,
	    0, NULL), 0);
	ck_assert_uint_eq(codec_encode_ack(f, sizeof(f), 5, CODEC_PUBLISH, 1,
	    0, NULL), 0);
	ck_assert_uint_eq(codec_encode_ack(f, sizeof(f), 5, CODEC_PUBREL, 1,
	    0x10, NULL), 0);
}
END_TEST

START_TEST(t_encode_suback)
{
	static const uint8_t	sub_rc[] = { 0x00, 0x01, 0x02, 0x80, 0x83,
				    0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2 };
	static const uint8_t	unsub_rc[] = { 0x00, 0x11, 0x80, 0x83, 0x87,
				    0x8F, 0x91 };
	struct enc_arg		a = { 0 };
	struct codec_packet	p;
	uint8_t			f[64];
	size_t			n, i;

	a.level = levels[_i % 3];
	a.type = _i < 3 ? CODEC_SUBACK : CODEC_UNSUBACK;
	a.id = 7;
	a.codes = a.type == CODEC_SUBACK ? sub_rc : unsub_rc;
	a.n = a.type == CODEC_SUBACK ? sizeof(sub_rc) : sizeof(unsub_rc);
	n = enc_suback(f, sizeof(f), &a);
	ck_assert(n > 0);
	decode_own(f, n, a.level, SV, &p);
	ck_assert_uint_eq(p.type, a.type);
	ck_assert_uint_eq(p.packet_id, 7);
	if (a.level != 5 && a.type == CODEC_UNSUBACK)
		ck_assert_uint_eq(p.u.list.count, 0);
	else {
		ck_assert_uint_eq(p.u.list.count, a.n);
		ck_assert_uint_eq(p.u.list.list.len, a.n);
		for (i = 0; i < a.n; i++)	/* the codes end the frame */
			ck_assert_uint_eq(f[n - a.n + i], a.level == 5 ||
			    a.codes[i] <= 2 ? a.codes[i] : 0x80);
	}
	check_short_cap(f, n, enc_suback, &a);
	ck_assert_uint_eq(codec_encode_suback(f, sizeof(f), a.level,
	    CODEC_SUBACK, 7, sub_rc, 0), 0);
	ck_assert_uint_eq(codec_encode_suback(f, sizeof(f), 5, CODEC_UNSUBACK,
	    7, sub_rc + 1, 1), 0);
	ck_assert_uint_eq(codec_encode_suback(f, sizeof(f), 5, CODEC_PUBACK,
	    7, sub_rc, 1), 0);
}
END_TEST

START_TEST(t_encode_disconnect)
{
	static const uint8_t	rc[] = { 0x00, 0x04, 0x80, 0x81, 0x82, 0x87,
				    0x8B, 0x8E, 0x93, 0x94, 0x95, 0x96, 0x97,
				    0x98, 0x9F, 0xA2 };
	struct enc_arg		a = { 0 };
	struct codec_packet	p;
	uint8_t			f[64];
	size_t			i, n;
	int			rs;

	a.level = 5;
	for (i = 0; i < sizeof(rc); i++)
	for (rs = 0; rs < 2; rs++) {
		a.reason = rc[i];
		a.rs = rs ? "bye" : NULL;
		n = enc_disconnect(f, sizeof(f), &a);
		ck_assert(n > 0);
		decode_own(f, n, 5, CL, &p);
		ck_assert_uint_eq(p.type, CODEC_DISCONNECT);
		ck_assert_uint_eq(p.reason, a.reason);
		if (!rs)
			ck_assert_uint_eq(n, a.reason == 0 ? 2 : 3);
		check_short_cap(f, n, enc_disconnect, &a);
	}
	/* A 3.x server never sends DISCONNECT: nothing to encode. */
	ck_assert_uint_eq(codec_encode_disconnect(f, sizeof(f), 4, 0x81,
	    NULL), 0);
	ck_assert_uint_eq(codec_encode_disconnect(f, sizeof(f), 3, 0, NULL),
	    0);
	ck_assert_uint_eq(codec_encode_disconnect(f, sizeof(f), 5, 0x18,
	    NULL), 0);
}
END_TEST

START_TEST(t_encode_pingresp)
{
	struct codec_packet	p;
	uint8_t			f[2];

	ck_assert_uint_eq(codec_encode_pingresp(f, sizeof(f)), 2);
	decode_own(f, 2, levels[_i], SV, &p);
	ck_assert_uint_eq(p.type, CODEC_PINGRESP);
	check_short_cap(f, 2, enc_pingresp, NULL);
}
END_TEST

/* A reason string too long for a property is cut between characters. */
START_TEST(t_encode_long_reason)
{
	struct codec_packet	 p;
	uint8_t			*f;
	char			*s;
	size_t			 n, i, slen = 70001;

	s = malloc(slen + 1);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i + 1 < slen; i += 2)
		memcpy(s + i, "\xc3\xa9", 2);		/* U+00E9 */
	s[slen - 1] = 'x';
	s[slen] = '\0';
	n = codec_encode_disconnect(NULL, 0, 5, 0x80, s);
	f = malloc(n);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(codec_encode_disconnect(f, n, 5, 0x80, s), n);
	decode_own(f, n, 5, SV, &p);
	ck_assert_uint_eq(p.props.reason_string.len, 65534);
	free(f);
	memset(s, 'a', slen);
	n = codec_encode_connack(NULL, 0, 5, false, 0x87, s);
	ck_assert_uint_gt(n, 65535);
	f = malloc(n);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(codec_encode_connack(f, n, 5, false, 0x87, s), n);
	decode_own(f, n, 5, SV, &p);
	ck_assert_uint_eq(p.props.reason_string.len, 65535);
	free(f);
	free(s);
}
END_TEST

#define NCASES(a)	((int)(sizeof(a) / sizeof((a)[0])))

/*
 * CONNECT re-encoding (the proxy replaces the credentials): every other
 * field survives as the client sent it, at each level, with and without a
 * will and 5.0 properties.
 */
static const struct {
	const char	*name;
	size_t		 len;
	uint8_t		 b[96];
} reconnect_cases[] = {
	{ "3.1 with will and credentials", 35, { 0x10, 33, 0, 6, 'M', 'Q',
	    'I', 's', 'd', 'p', 3, 0xEE, 0, 60, 0, 2, 'c', '1', 0, 1, 'w',
	    0, 2, 'b', 'y', 0, 3, 'b', 'o', 'b', 0, 3, 'p', 'w', 'd' } },
	{ "3.1.1 clean, no credentials", 17, { 0x10, 15, 0, 4, 'M', 'Q',
	    'T', 'T', 4, 0x02, 0, 30, 0, 3, 'c', 'i', 'd' } },
	{ "5.0 with properties, will properties and credentials", 42, {
	    0x10, 40, 0, 4, 'M', 'Q', 'T', 'T', 5, 0xC6, 0, 10,
	    5, 0x11, 0, 0, 0, 9,			/* session expiry */
	    0, 2, 'c', '5',
	    2, 0x01, 1,					/* payload format */
	    0, 1, 'w', 0, 2, 'b', 'y',
	    0, 3, 'b', 'o', 'b', 0, 3, 'p', 'w', 'd' } },
};

START_TEST(t_encode_connect)
{
	struct codec_packet	 a, b;
	struct codec_buf	 user = { (const uint8_t *)"alice", 5 };
	struct codec_buf	 pass = { (const uint8_t *)"upstream", 8 };
	uint8_t			*in, out[160];
	size_t			 n, len = reconnect_cases[_i].len;
	int			 which;

	in = malloc(len);
	ck_assert_ptr_nonnull(in);
	memcpy(in, reconnect_cases[_i].b, len);
	ck_assert_int_eq(codec_decode(NULL, 0, CODEC_FROM_CLIENT, in, len,
	    len, &a), CODEC_OK);
	for (which = 0; which < 3; which++) {
		const struct codec_buf *u = which == 2 ? NULL : &user;
		const struct codec_buf *p = which == 0 ? &pass : NULL;

		/* Too small: the size, nothing written. */
		memset(out, 0xA5, sizeof(out));
		n = codec_encode_connect(out, 4, &a, u, p, 0);
		ck_assert_uint_gt(n, 4);
		ck_assert_uint_eq(out[0], 0xA5);
		ck_assert_uint_eq(codec_encode_connect(out, sizeof(out), &a, u,
		    p, 0), n);
		ck_assert_int_eq(codec_decode(NULL, 0, CODEC_FROM_CLIENT, out,
		    n, n, &b), CODEC_OK);
		ck_assert_uint_eq(b.len, n);
		ck_assert_uint_eq(b.u.connect.level, a.u.connect.level);
		ck_assert_uint_eq(b.u.connect.flags & 0x3E,
		    a.u.connect.flags & 0x3E);
		ck_assert_uint_eq(b.u.connect.keepalive, a.u.connect.keepalive);
		ck_assert_mem_eq(b.u.connect.client_id.p,
		    a.u.connect.client_id.p, a.u.connect.client_id.len);
		ck_assert_uint_eq(b.u.connect.will_topic.len,
		    a.u.connect.will_topic.len);
		ck_assert_uint_eq(b.u.connect.will_payload.len,
		    a.u.connect.will_payload.len);
		ck_assert_uint_eq(b.props.raw.len, a.props.raw.len);
		ck_assert_uint_eq(b.props.seen, a.props.seen);
		ck_assert_uint_eq(b.u.connect.will_props.seen,
		    a.u.connect.will_props.seen);
		if (u != NULL) {
			ck_assert(b.u.connect.flags & CODEC_CF_USERNAME);
			ck_assert_uint_eq(b.u.connect.username.len, 5);
			ck_assert_mem_eq(b.u.connect.username.p, "alice", 5);
		} else
			ck_assert(!(b.u.connect.flags & CODEC_CF_USERNAME));
		if (p != NULL) {
			ck_assert(b.u.connect.flags & CODEC_CF_PASSWORD);
			ck_assert_mem_eq(b.u.connect.password.p, "upstream", 8);
		} else
			ck_assert(!(b.u.connect.flags & CODEC_CF_PASSWORD));
	}
	/*
	 * The proxy's maximum packet size: set in a 5.0 CONNECT where it
	 * is smaller than the client's (or the client gave none), every
	 * other property kept; 3.x has nowhere to say it and is unchanged.
	 */
	{
		uint8_t	plain[160];
		size_t	n0 = codec_encode_connect(plain, sizeof(plain), &a,
			    &user, NULL, 0);

		n = codec_encode_connect(out, sizeof(out), &a, &user, NULL,
		    4096);
		ck_assert_int_eq(codec_decode(NULL, 0, CODEC_FROM_CLIENT, out,
		    n, n, &b), CODEC_OK);
		if (a.u.connect.level == CODEC_V5) {
			ck_assert(CODEC_PROP_HAS(&b.props,
			    CODEC_PROP_MAX_PACKET_SIZE));
			ck_assert_uint_eq(b.props.max_packet_size,
			    CODEC_PROP_HAS(&a.props,
			    CODEC_PROP_MAX_PACKET_SIZE) &&
			    a.props.max_packet_size < 4096 ?
			    a.props.max_packet_size : 4096);
			ck_assert_uint_eq(b.props.seen & ~(1ULL << 
			    CODEC_PROP_MAX_PACKET_SIZE), a.props.seen &
			    ~(1ULL << CODEC_PROP_MAX_PACKET_SIZE));
			ck_assert_uint_eq(b.props.session_expiry,
			    a.props.session_expiry);
			ck_assert_uint_eq(b.u.connect.client_id.len,
			    a.u.connect.client_id.len);
		} else {
			ck_assert_uint_eq(n, n0);
			ck_assert_mem_eq(out, plain, n);
		}
	}
	/* At 3.x a password without a username is dropped, not sent. */
	n = codec_encode_connect(out, sizeof(out), &a, NULL, &pass, 0);
	ck_assert_int_eq(codec_decode(NULL, 0, CODEC_FROM_CLIENT, out, n, n,
	    &b), CODEC_OK);
	ck_assert(((b.u.connect.flags & CODEC_CF_PASSWORD) != 0) ==
	    (a.u.connect.level == CODEC_V5));
	/* Not a CONNECT: nothing. */
	b.type = CODEC_PUBLISH;
	ck_assert_uint_eq(codec_encode_connect(out, sizeof(out), &b, &user,
	    NULL, 0), 0);
	free(in);
}
END_TEST

/* SUBSCRIBE with some filters removed (denied by ACL) round-trips. */
START_TEST(t_encode_subscribe_subset)
{
	static const uint8_t	 v4[] = { 0x82, 16, 0, 7, 0, 1, 'a', 1,
	    0, 3, 'b', '/', '#', 2, 0, 1, 'c', 0 };
	static const uint8_t	 v5[] = { 0x82, 13, 0, 7, 2, 0x0B, 0x05,
	    0, 1, 'a', 0x21, 0, 1, 'c', 0x02 };
	struct codec_packet	 a, b;
	struct codec_buf	 f;
	uint8_t			*in, out[64], o;
	bool			 keep4[] = { true, false, true };
	bool			 keep5[] = { false, true }, none[] = { false,
				    false, false };
	size_t			 n, off = 0;

	in = malloc(sizeof(v4));
	memcpy(in, v4, sizeof(v4));
	ck_assert_int_eq(codec_decode(NULL, 4, CODEC_FROM_CLIENT, in,
	    sizeof(v4), sizeof(v4), &a), CODEC_OK);
	n = codec_encode_subscribe(out, 2, 4, &a, keep4);
	ck_assert_uint_eq(n, 12);
	n = codec_encode_subscribe(out, sizeof(out), 4, &a, keep4);
	ck_assert_int_eq(codec_decode(NULL, 4, CODEC_FROM_CLIENT, out, n, n,
	    &b), CODEC_OK);
	ck_assert_uint_eq(b.packet_id, 7);
	ck_assert_uint_eq(b.u.list.count, 2);
	ck_assert(codec_filter_next(&b, &off, &f, &o));
	ck_assert(f.len == 1 && f.p[0] == 'a' && o == 1);
	ck_assert(codec_filter_next(&b, &off, &f, &o));
	ck_assert(f.len == 1 && f.p[0] == 'c' && o == 0);
	ck_assert_uint_eq(codec_encode_subscribe(out, sizeof(out), 4, &a,
	    none), 0);
	free(in);

	in = malloc(sizeof(v5));
	memcpy(in, v5, sizeof(v5));
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_CLIENT, in,
	    sizeof(v5), sizeof(v5), &a), CODEC_OK);
	n = codec_encode_subscribe(out, sizeof(out), 5, &a, keep5);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_CLIENT, out, n, n,
	    &b), CODEC_OK);
	ck_assert_uint_eq(b.u.list.count, 1);
	ck_assert_uint_eq(b.props.subscription_id, 5);	/* kept */
	off = 0;
	ck_assert(codec_filter_next(&b, &off, &f, &o));
	ck_assert(f.len == 1 && f.p[0] == 'c' && o == 2);
	free(in);
}
END_TEST

/* The amended CONNACK of <pkt> with these values (0: leave it). */
static size_t
amended(uint8_t *buf, size_t cap, const struct codec_packet *pkt,
    uint32_t max_packet, uint16_t keepalive, uint16_t receive_max,
    uint16_t topic_alias_max)
{
	struct codec_connack_amend	am = { max_packet, receive_max,
					    topic_alias_max, keepalive };

	return codec_encode_connack_amended(buf, cap, pkt, &am);
}

/* The broker's 5.0 CONNACK amended with the proxy's limits. */
START_TEST(t_encode_connack_amended)
{
	/* Topic Alias Maximum 10, Maximum Packet Size 268435455, a user
	 * property, Server Keep Alive 100. */
	static const uint8_t	 ack[] = { 0x20, 22, 0x01, 0x00, 19,
	    0x22, 0, 10, 0x27, 0x0f, 0xff, 0xff, 0xff,
	    0x26, 0, 1, 'k', 0, 2, 'v', 'v', 0x13, 0, 100 };
	struct codec_packet	 a, b;
	uint8_t			*in, out[64];
	size_t			 n;

	in = malloc(sizeof(ack));
	memcpy(in, ack, sizeof(ack));
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, in,
	    sizeof(ack), sizeof(ack), &a), CODEC_OK);
	n = amended(out, 3, &a, 1048576, 60, 0, 0);
	ck_assert_uint_gt(n, 3);
	n = amended(out, sizeof(out), &a, 1048576, 60,
	    0, 0);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, out, n, n,
	    &b), CODEC_OK);
	ck_assert(b.session_present);
	ck_assert_uint_eq(b.reason, 0);
	ck_assert_uint_eq(b.props.max_packet_size, 1048576);
	ck_assert_uint_eq(b.props.server_keep_alive, 60);
	ck_assert_uint_eq(b.props.topic_alias_max, 10);
	ck_assert_uint_eq(b.props.n_user_props, 1);
	/* A broker limit smaller than ours stays; keepalive 0: unchanged. */
	n = amended(out, sizeof(out), &a, 0x7fffffff, 0,
	    0, 0);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, out, n, n,
	    &b), CODEC_OK);
	ck_assert_uint_eq(b.props.max_packet_size, 268435455);
	ck_assert_uint_eq(b.props.server_keep_alive, 100);
	ck_assert(!CODEC_PROP_HAS(&b.props, CODEC_PROP_RECEIVE_MAX));
	/* No Receive Maximum from the broker (65535): ours is added. */
	n = amended(out, sizeof(out), &a, 0, 0, 16, 0);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, out, n, n,
	    &b), CODEC_OK);
	ck_assert(CODEC_PROP_HAS(&b.props, CODEC_PROP_RECEIVE_MAX));
	ck_assert_uint_eq(b.props.receive_max, 16);
	ck_assert_uint_eq(b.props.max_packet_size, 268435455);
	/* Topic Alias Maximum 10 lowered to 3, never raised to 50. */
	n = amended(out, sizeof(out), &a, 0, 0, 0, 3);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, out, n, n,
	    &b), CODEC_OK);
	ck_assert_uint_eq(b.props.topic_alias_max, 3);
	ck_assert_uint_eq(b.props.n_user_props, 1);
	ck_assert_uint_eq(b.props.server_keep_alive, 100);
	n = amended(out, sizeof(out), &a, 0, 0, 0, 50);
	ck_assert_uint_eq(n, sizeof(ack));
	ck_assert(memcmp(out, ack, n) == 0);
	/* Not a success: nothing. */
	a.reason = 0x87;
	ck_assert_uint_eq(amended(out, sizeof(out), &a,
	    1048576, 60, 0, 0), 0);
	free(in);
}
END_TEST

/* A broker's Receive Maximum is lowered to ours, never raised. */
START_TEST(t_encode_connack_receive_max)
{
	/* Receive Maximum 20 (Mosquitto's default), then a user property. */
	static const uint8_t	 ack[] = { 0x20, 14, 0x00, 0x00, 11,
	    0x21, 0, 20, 0x26, 0, 1, 'k', 0, 2, 'v', 'v' };
	struct codec_packet	 a, b;
	uint8_t			*in, out[64];
	size_t			 n;

	in = malloc(sizeof(ack));
	memcpy(in, ack, sizeof(ack));
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, in,
	    sizeof(ack), sizeof(ack), &a), CODEC_OK);
	n = amended(out, sizeof(out), &a, 0, 0, 5, 0);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, out, n, n,
	    &b), CODEC_OK);
	ck_assert_uint_eq(b.props.receive_max, 5);
	ck_assert_uint_eq(b.props.n_user_props, 1);
	ck_assert(!b.session_present);
	n = amended(out, sizeof(out), &a, 0, 0, 100, 0);
	ck_assert_int_eq(codec_decode(NULL, 5, CODEC_FROM_SERVER, out, n, n,
	    &b), CODEC_OK);
	ck_assert_uint_eq(b.props.receive_max, 20);
	/* Unchanged, the frame is the broker's, byte for byte. */
	ck_assert_uint_eq(n, sizeof(ack));
	ck_assert(memcmp(out, ack, n) == 0);
	/* No Topic Alias Maximum means 0 (no aliases): nothing to lower. */
	n = amended(out, sizeof(out), &a, 0, 0, 0, 3);
	ck_assert_uint_eq(n, sizeof(ack));
	ck_assert(memcmp(out, ack, n) == 0);
	free(in);
}
END_TEST

Suite *
codec_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("codec");

	tc = tcase_create("frames");
	tcase_add_loop_test(tc, t_header_cases, 0, NCASES(header_cases));
	tcase_add_loop_test(tc, t_connect_cases, 0, NCASES(connect_cases));
	tcase_add_loop_test(tc, t_publish_cases, 0, NCASES(publish_cases));
	tcase_add_loop_test(tc, t_utf8_cases, 0, NCASES(utf8_cases));
	tcase_add_loop_test(tc, t_ack_cases, 0, NCASES(ack_cases));
	tcase_add_loop_test(tc, t_sub_cases, 0, NCASES(sub_cases));
	tcase_add_loop_test(tc, t_dir_cases, 0, NCASES(dir_cases));
	tcase_add_loop_test(tc, t_hdr_cases, 0, NCASES(hdr_cases));
	tcase_add_loop_test(tc, t_large_publish, 0, 6);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_test(tc, t_connect_fields);
	tcase_add_test(tc, t_publish_fields);
	tcase_add_test(tc, t_need_contig);
	tcase_add_test(tc, t_filter_next);
	tcase_add_test(tc, t_ack_fields);
	tcase_add_test(tc, t_null_limits);
	tcase_add_test(tc, t_nonchar);
	tcase_add_loop_test(tc, t_user_props, 0, NCASES(up_cases));
	tcase_add_test(tc, t_will_clamp);
	suite_add_tcase(s, tc);

	tc = tcase_create("session");
	tcase_add_loop_test(tc, t_session_cases, 0, NCASES(session_cases));
	tcase_add_test(tc, t_session_learns);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_loop_test(tc, t_err_str, 0, CODEC_ERR__MAX);
	tcase_add_test(tc, t_err_reason);
	tcase_add_test(tc, t_connack_v3);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_loop_test(tc, t_encode_connack, 0, 3);
	tcase_add_loop_test(tc, t_encode_ack, 0, 12);
	tcase_add_loop_test(tc, t_encode_suback, 0, 6);
	tcase_add_loop_test(tc, t_encode_disconnect, 0, 1);
	tcase_add_loop_test(tc, t_encode_pingresp, 0, 3);
	tcase_add_test(tc, t_encode_long_reason);
	tcase_add_loop_test(tc, t_encode_connect, 0, NCASES(reconnect_cases));
	tcase_add_test(tc, t_encode_subscribe_subset);
	tcase_add_test(tc, t_encode_connack_amended);
	tcase_add_test(tc, t_encode_connack_receive_max);
	suite_add_tcase(s, tc);

	return s;
}
