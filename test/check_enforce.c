/* SPDX-License-Identifier: ISC */
/*
 * The policy's verdicts on a session's frames (enforce.c), as scripts.
 *
 * Each case is a script run under a policy the real loader reads from
 * test/data/enforce-*.yaml.  A step is a CONNECT, a CONNACK, a frame from
 * either side or a 3.x delivery over the size limit, written byte by byte,
 * copied into an exact-size allocation (ASan sees a one-byte over-read)
 * and decoded by codec_decode, then handed to enforce_connect,
 * enforce_connack, enforce_frame or enforce_oversize_delivery with the
 * step's clock.  The step says the verdict it must get: the action, the
 * reason code of a close, the exact bytes of an answer or a rewrite (which
 * must decode again, going the way the verdict sends them), whether a wait
 * is timed, every audit event in order with its kind, metric, wording and,
 * for the ACL, the deciding rule by file:line (NULL for default deny), and
 * where it matters the session's counters.  Every rewritten CONNECT is
 * also checked against the identity it was accepted for.  The sessions of
 * one case share one limits table and one auth guard, as the workers of
 * the daemon do, so that per-user caps and client ids are seen across
 * connections.
 *
 * Scripts written once for 3.x run for 3.1 and 3.1.1 (X3); 5.0 has rows
 * of its own (V5), with its own answers where the version changes them.
 * *
 * Frames are written with the macros of check_codec.c: FR(h, ...)
 * prefixes a one-byte remaining length (keep frames under 128 bytes),
 * S(...) a two-byte string length, PROPS(...) a one-byte property length.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/config.h"
#include "mqttguard/enforce.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define T0		1000000		/* ms: the clock at AT(0) */
#define SESSIONS	4		/* connections in one case */
#define EVENTS_MAX	4		/* audit events of one step */

/*
 * The policies.  P: an acl (the deny rules at the lines below), limits
 * per identity (limits.users) and auth.upstream_password.  STRICT:
 * acl.deny_action_v3 disconnect, no upstream password, default limits
 * but max_packet_size.  OPEN: no acl section, a byte_rate of 10 bytes a
 * second with a burst of 20.
 */
#define P		"test/data/enforce-policy.yaml"
#define STRICT		"test/data/enforce-strict.yaml"
#define OPEN		"test/data/enforce-open.yaml"
#define L_PUB_DENY	13		/* deny publish p/no/# */
#define L_SUB_DENY	16		/* deny subscribe s/no */
#define L_READ_DENY	18		/* deny read r/no/# */
#define DEFAULT_DENY	0		/* no rule matches */

/* ---- frames ------------------------------------------------------------ */

#define LEN(...)	sizeof((const uint8_t[]){ __VA_ARGS__ })
#define FR(h, ...)	h, LEN(__VA_ARGS__), __VA_ARGS__
#define S(...)		0, LEN(__VA_ARGS__), __VA_ARGS__
#define PROPS(...)	LEN(__VA_ARGS__), __VA_ARGS__
#define NAME4		S('M', 'Q', 'T', 'T')
#define NAME3		S('M', 'Q', 'I', 's', 'd', 'p')

/* CONNECT with flags <f> and a keepalive of <k> (< 256) seconds. */
#define CONN3(f, k, ...)	FR(0x10, NAME3, 3, f, 0, k, __VA_ARGS__)
#define CONN4(f, k, ...)	FR(0x10, NAME4, 4, f, 0, k, __VA_ARGS__)
#define CONN5(f, k, ...)	FR(0x10, NAME4, 5, f, 0, k, __VA_ARGS__)

#define CONNACK3_OK		0x20, 2, 0, 0
#define CONNACK5(rc, ...)	FR(0x20, 0, rc, PROPS(__VA_ARGS__))
#define CONNACK5_BARE(rc)	0x20, 3, 0, rc, 0

/* PUBLISH of topic ... with payload "m"; QoS <q> > 0 with id <id>. */
#define PUB3Q0(...)		FR(0x30, S(__VA_ARGS__), 'm')
#define PUB3(q, id, ...)	FR(0x30 | (q) << 1, S(__VA_ARGS__), 0, id, 'm')
#define PUB3D(q, id, ...)	FR(0x38 | (q) << 1, S(__VA_ARGS__), 0, id, 'm')
#define PUB5Q0(...)		FR(0x30, S(__VA_ARGS__), 0, 'm')
#define PUB5(q, id, ...)	FR(0x30 | (q) << 1, S(__VA_ARGS__), 0, id, 0, \
				    'm')

#define PUBACK(id)		0x40, 2, 0, id
#define PUBREC(id)		0x50, 2, 0, id
#define PUBREL(id)		0x62, 2, 0, id
#define PUBCOMP(id)		0x70, 2, 0, id
#define PUBACK5(id, rc)		0x40, 3, 0, id, rc
#define PUBREC5(id, rc)		0x50, 3, 0, id, rc

/* (UN)SUBSCRIBE: S(filter), options, ...; SUBACK: codes. */
#define SUB3(id, ...)		FR(0x82, 0, id, __VA_ARGS__)
#define SUB5(id, ...)		FR(0x82, 0, id, 0, __VA_ARGS__)
#define UNSUB3(id, ...)		FR(0xA2, 0, id, __VA_ARGS__)
#define UNSUB5(id, ...)		FR(0xA2, 0, id, 0, __VA_ARGS__)
#define SUBACK3(id, ...)	FR(0x90, 0, id, __VA_ARGS__)
#define SUBACK5(id, ...)	FR(0x90, 0, id, 0, __VA_ARGS__)

/* Topics and filters. */
#define T_PA		'p', '/', 'a'
#define T_PNO		'p', '/', 'n', 'o', '/', 'x'
#define T_XY		'x', '/', 'y'
#define T_RA		'r', '/', 'a'
#define T_RNO		'r', '/', 'n', 'o', '/', 'x'
#define T_SLOW		't', '/', 's', 'l', 'o', 'w'
#define T_SA		's', '/', 'a'
#define T_SB		's', '/', 'b'
#define T_SC		's', '/', 'c'
#define T_SD		's', '/', 'd'
#define T_SNO		's', '/', 'n', 'o'
#define A7		'a', 'a', 'a', 'a', 'a', 'a', 'a'
/* At limits.max_topic_length and max_topic_levels of P, and one over. */
#define T_16		'p', '/', A7, A7
#define T_17		'p', '/', A7, A7, 'a'
#define F_17		's', '/', A7, A7, 'a'
#define T_3LV		'p', '/', 'a', '/', 'b'
#define T_4LV		'p', '/', 'a', '/', 'b', '/', 'c'
#define F_4LV		's', '/', 'a', '/', 'b', '/', 'c'
#define X_4LV		'x', '/', 'a', '/', 'b', '/', 'c'

/* ---- scripts ----------------------------------------------------------- */

enum op {
	OP_FRAME = 0,		/* enforce_frame() */
	OP_CONNECT,		/* enforce_init() and enforce_connect() */
	OP_CONNACK,		/* enforce_connack() */
	OP_OVERSIZE,		/* enforce_oversize_delivery() */
	OP_BADPAYLOAD,		/* enforce_bad_payload(): the client's
				   PUBLISH whose payload is not UTF-8 */
	OP_FINI			/* enforce_fini(): the connection ends */
};

/*
 * An audit event a step expects.  <kind>: 'A' ACL, 'L' limit, 'R' refused
 * CONNECT.
 * <text>: a part of the event's text, or NULL for any non-empty text.
 */
struct xev {
	char		 kind;
	enum metric	 m;
	bool		 quiet;
	enum acl_action	 a;		/* ACL */
	const char	*topic;		/* ACL */
	int		 line;		/* ACL: the rule's; 0: default deny */
	const char	*text;		/* the others */
};

#define EV_ACL(act, t, l) \
	{ .kind = 'A', .m = M_ACL_DENIED, .a = act, .topic = t, .line = l }
#define EV_LIMIT(metric, t)	{ .kind = 'L', .m = metric, .text = t }
#define EV_QUIET(metric, t) \
	{ .kind = 'L', .m = metric, .quiet = true, .text = t }
#define EV_REFUSE(metric, t)	{ .kind = 'R', .m = metric, .text = t }
#define EV_PROTO(t)		{ .kind = 'P', .m = M__MAX, .text = t }

struct step {
	enum op		 op;
	unsigned	 s;		/* the session it is for */
	enum codec_dir	 dir;		/* OP_FRAME */
	const uint8_t	*b;		/* the frame, but OP_OVERSIZE */
	size_t		 len;
	const char	*who;		/* OP_CONNECT; NULL: anonymous */
	uint64_t	 now;		/* ms after T0 */
	unsigned	 repeat;	/* > 1: so many frames, the packet
					   identifier (bytes 2-3) counted
					   up in the frame and in <out> */
	unsigned	 qos;		/* OP_OVERSIZE */
	uint16_t	 id;
	size_t		 size;
	/* the verdict */
	enum enforce_action act;
	uint8_t		 code;		/* ENFORCE_CLOSE */
	uint8_t		 code3;		/* its 3.x CONNACK code; 0: none */
	bool		 timed;		/* WAIT: wait_ms > 0, else 0 */
	bool		 resume;
	const uint8_t	*out;		/* ANSWER, REWRITE; NULL: any */
	size_t		 out_len;
	struct xev	 ev[EVENTS_MAX];
	/* the state after it, when ck_ is set */
	bool		 ck_inflight, ck_waiting, ck_alias, ck_told;
	bool		 ck_keepalive;
	unsigned	 inflight;
	bool		 waiting;	/* st.inflight_wait */
	uint16_t	 alias_max;
	uint16_t	 keepalive;
};

#define CL(...)		.op = OP_FRAME, .dir = CODEC_FROM_CLIENT, \
			.b = (const uint8_t[]){ __VA_ARGS__ }, \
			.len = LEN(__VA_ARGS__)
#define SV(...)		.op = OP_FRAME, .dir = CODEC_FROM_SERVER, \
			.b = (const uint8_t[]){ __VA_ARGS__ }, \
			.len = LEN(__VA_ARGS__)
#define CONNECT_AS(w, ...) \
			.op = OP_CONNECT, .who = w, \
			.b = (const uint8_t[]){ __VA_ARGS__ }, \
			.len = LEN(__VA_ARGS__)
#define CONNACK(...)	.op = OP_CONNACK, \
			.b = (const uint8_t[]){ __VA_ARGS__ }, \
			.len = LEN(__VA_ARGS__)
#define OVERSIZE(q, i, n) .op = OP_OVERSIZE, .qos = q, .id = i, .size = n
#define BADPAYLOAD(...)	.op = OP_BADPAYLOAD, .dir = CODEC_FROM_CLIENT, \
			.b = (const uint8_t[]){ __VA_ARGS__ }, \
			.len = LEN(__VA_ARGS__)
#define FINI		.op = OP_FINI
#define ON(n)		.s = n
#define AT(ms)		.now = ms

#define FORWARD		.act = ENFORCE_FORWARD
#define DROP		.act = ENFORCE_DROP
#define ANSWER(...)	.act = ENFORCE_ANSWER, \
			.out = (const uint8_t[]){ __VA_ARGS__ }, \
			.out_len = LEN(__VA_ARGS__)
#define REWRITE(...)	.act = ENFORCE_REWRITE, \
			.out = (const uint8_t[]){ __VA_ARGS__ }, \
			.out_len = LEN(__VA_ARGS__)
#define REWRITTEN	.act = ENFORCE_REWRITE
#define CLOSE(c)	.act = ENFORCE_CLOSE, .code = c
#define CLOSE3(c, c3)	.act = ENFORCE_CLOSE, .code = c, .code3 = c3
#define WAIT_MS		.act = ENFORCE_WAIT, .timed = true
#define WAIT_SLOT	.act = ENFORCE_WAIT
#define RESUME		.resume = true
#define EVENTS(...)	.ev = { __VA_ARGS__ }
#define INFLIGHT(n)	.ck_inflight = true, .inflight = n
#define WAITING(w)	.ck_waiting = true, .waiting = w
#define ALIAS(n)	.ck_alias = true, .alias_max = n
#define ALIAS_TOLD	.ck_told = true
#define KEEPALIVE(n)	.ck_keepalive = true, .keepalive = n

struct scase {
	const char		*name;
	const char		*pol;
	const struct step	*steps;
	size_t			 n;
};

#define SCRIPT(n, pol, ...) \
	{ n, pol, (const struct step[]){ __VA_ARGS__ }, \
	    sizeof((const struct step[]){ __VA_ARGS__ }) / sizeof(struct step) }

/* A connection accepted as <who>, at each level. */
#define SETUP3(who)	{ CONNECT_AS(who, CONN3(0x02, 60, S('c', '3'))), \
			    REWRITTEN }
#define SETUP4(who)	{ CONNECT_AS(who, CONN4(0x02, 60, S('c', '4'))), \
			    REWRITTEN }
#define SETUP5(who)	{ CONNECT_AS(who, CONN5(0x02, 60, 0, S('c', '5'))), \
			    REWRITTEN }
#define SETUP5K(k)	{ CONNECT_AS("u1", CONN5(0x02, k, 0, S('c', '5'))), \
			    REWRITTEN }

/* The same steps for a 3.1 and a 3.1.1 client; for a 5.0 one. */
#define X3(name, pol, who, ...) \
	SCRIPT("3.1 " name, pol, SETUP3(who), __VA_ARGS__), \
	SCRIPT("3.1.1 " name, pol, SETUP4(who), __VA_ARGS__)
#define V5(name, pol, who, ...) \
	SCRIPT("5.0 " name, pol, SETUP5(who), __VA_ARGS__)

/* ---- CONNECT ----------------------------------------------------------- */

static const struct scase connect_cases[] = {
	SCRIPT("3.1.1 accepted: the identity is the user name, the "
	    "password auth.upstream_password, the flags say so "
	    "[MQTT-3.1.2-19] [MQTT-3.1.2-21]", P,
	    { CONNECT_AS("u1", CONN4(0xC2, 60, S('c', '1'), S('x'),
	    S('p', 'w'))), REWRITE(CONN4(0xC2, 60, S('c', '1'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("3.1 accepted: the identity is the user name, the password "
	    "auth.upstream_password", P,
	    { CONNECT_AS("u1", CONN3(0xC2, 60, S('c', '1'), S('x'),
	    S('p', 'w'))), REWRITE(CONN3(0xC2, 60, S('c', '1'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("5.0 accepted: identity, upstream password, and a Maximum "
	    "Packet Size of limits.max_packet_size for the broker "
	    "(5.0 [MQTT-3.1.2-24])", P,
	    { CONNECT_AS("u1", CONN5(0xC2, 60, 0, S('c', '1'), S('x'),
	    S('p', 'w'))), REWRITE(CONN5(0xC2, 60,
	    PROPS(0x27, 0, 0, 0x10, 0), S('c', '1'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("5.0 a user name without a password gets the upstream "
	    "password; a smaller Maximum Packet Size of the client's stays",
	    P,
	    { CONNECT_AS("u1", CONN5(0x82, 60, PROPS(0x27, 0, 0, 1, 0),
	    S('c', '1'), S('x'))), REWRITE(CONN5(0xC2, 60,
	    PROPS(0x27, 0, 0, 1, 0), S('c', '1'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("5.0 a larger Maximum Packet Size is lowered, the other "
	    "properties kept", P,
	    { CONNECT_AS("u1", CONN5(0x02, 60, PROPS(0x11, 0, 0, 0, 10,
	    0x27, 0, 1, 0, 0, 0x21, 0, 5), S('c', '1'))),
	    REWRITE(CONN5(0xC2, 60, PROPS(0x11, 0, 0, 0, 10, 0x21, 0, 5,
	    0x27, 0, 0, 0x10, 0), S('c', '1'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("3.1.1 without auth.upstream_password the client's password "
	    "is removed", STRICT,
	    { CONNECT_AS("u1", CONN4(0xC2, 60, S('c', '1'), S('x'),
	    S('p', 'w'))), REWRITE(CONN4(0x82, 60, S('c', '1'),
	    S('u', '1'))) }),
	SCRIPT("5.0 without auth.upstream_password the client's password "
	    "is removed", STRICT,
	    { CONNECT_AS("u1", CONN5(0xC2, 60, 0, S('c', '1'), S('x'),
	    S('p', 'w'))), REWRITE(CONN5(0x82, 60,
	    PROPS(0x27, 0, 0, 0x10, 0), S('c', '1'), S('u', '1'))) }),
	SCRIPT("3.1.1 anonymous: no user name, so no upstream password", P,
	    { CONNECT_AS(NULL, CONN4(0x02, 60, S('c', '1'))),
	    REWRITE(CONN4(0x02, 60, S('c', '1'))) }),
	SCRIPT("3.1 anonymous: no user name, so no upstream password", P,
	    { CONNECT_AS(NULL, CONN3(0x02, 60, S('c', '1'))),
	    REWRITE(CONN3(0x02, 60, S('c', '1'))) }),
	SCRIPT("5.0 anonymous: no user name, so no upstream password", P,
	    { CONNECT_AS(NULL, CONN5(0x02, 60, 0, S('c', '1'))),
	    REWRITE(CONN5(0x02, 60, PROPS(0x27, 0, 0, 0x10, 0),
	    S('c', '1'))) }),
	SCRIPT("3.1.1 a will topic the ACL allows: the will goes on", P,
	    { CONNECT_AS("u1", CONN4(0x0E, 60, S('c', '1'), S('p', '/', 'w'),
	    S('b', 'y', 'e'))), REWRITE(CONN4(0xCE, 60, S('c', '1'),
	    S('p', '/', 'w'), S('b', 'y', 'e'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("5.0 a will topic the ACL allows: the will and its "
	    "properties go on", P,
	    { CONNECT_AS("u1", CONN5(0x0E, 60, PROPS(0x11, 0, 0, 0, 5),
	    S('c', '1'), PROPS(0x18, 0, 0, 0, 5), S('p', '/', 'w'), S('b'))),
	    REWRITE(CONN5(0xCE, 60, PROPS(0x11, 0, 0, 0, 5, 0x27, 0, 0, 0x10,
	    0), S('c', '1'), PROPS(0x18, 0, 0, 0, 5), S('p', '/', 'w'),
	    S('b'), S('u', '1'), S('u', 'p'))) }),
	/*
	 * CVE-2019-11778: a Will Delay Interval over the Session Expiry
	 * Interval goes on as the latter, which means the same (5.0
	 * §3.1.3.2.2: the will waits for the delay or the session's end,
	 * whichever comes first); the will's other properties stay.
	 */
	SCRIPT("5.0 a will delay over the session expiry: clamped to it", P,
	    { CONNECT_AS("u1", CONN5(0x0E, 60, PROPS(0x11, 0, 0, 0, 10),
	    S('c', '1'), PROPS(0x01, 1, 0x18, 0, 0, 0x01, 0x2C, 0x26, 0, 1,
	    'k', 0, 1, 'v'), S('p', '/', 'w'), S('b'))),
	    REWRITE(CONN5(0xCE, 60, PROPS(0x11, 0, 0, 0, 10, 0x27, 0, 0,
	    0x10, 0), S('c', '1'), PROPS(0x01, 1, 0x26, 0, 1, 'k', 0, 1, 'v',
	    0x18, 0, 0, 0, 10), S('p', '/', 'w'), S('b'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("5.0 a will delay without a session expiry: clamped to 0", P,
	    { CONNECT_AS("u1", CONN5(0x0E, 60, 0, S('c', '1'),
	    PROPS(0x18, 0xFF, 0xFF, 0xFF, 0xFF), S('p', '/', 'w'), S('b'))),
	    REWRITE(CONN5(0xCE, 60, PROPS(0x27, 0, 0, 0x10, 0), S('c', '1'),
	    PROPS(0x18, 0, 0, 0, 0), S('p', '/', 'w'), S('b'), S('u', '1'),
	    S('u', 'p'))) }),
	SCRIPT("5.0 a will delay equal to the session expiry: unchanged", P,
	    { CONNECT_AS("u1", CONN5(0x0E, 60, PROPS(0x11, 0, 0, 0, 7),
	    S('c', '1'), PROPS(0x18, 0, 0, 0, 7), S('p', '/', 'w'), S('b'))),
	    REWRITE(CONN5(0xCE, 60, PROPS(0x11, 0, 0, 0, 7, 0x27, 0, 0, 0x10,
	    0), S('c', '1'), PROPS(0x18, 0, 0, 0, 7), S('p', '/', 'w'),
	    S('b'), S('u', '1'), S('u', 'p'))) }),
	SCRIPT("3.1.1 a will topic a rule denies: CONNACK 0x05 not "
	    "authorized", P,
	    { CONNECT_AS("u1", CONN4(0x06, 60, S('c', '1'), S(T_PNO),
	    S('m'))), CLOSE3(0x87, 0x05),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY),
	    EV_REFUSE(M_AUTH_FAILED, "will topic")) }),
	SCRIPT("3.1 a will topic a rule denies: CONNACK 0x05 not "
	    "authorized", P,
	    { CONNECT_AS("u1", CONN3(0x06, 60, S('c', '1'), S(T_PNO),
	    S('m'))), CLOSE3(0x87, 0x05),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY),
	    EV_REFUSE(M_AUTH_FAILED, "will topic")) }),
	SCRIPT("5.0 a will topic a rule denies: CONNACK 0x87 not "
	    "authorized", P,
	    { CONNECT_AS("u1", CONN5(0x06, 60, 0, S('c', '1'), 0, S(T_PNO),
	    S('m'))), CLOSE(0x87),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY),
	    EV_REFUSE(M_AUTH_FAILED, "will topic")) }),
	SCRIPT("5.0 a will topic no rule allows: default deny, 0x87", P,
	    { CONNECT_AS("u1", CONN5(0x06, 60, 0, S('c', '1'), 0, S(T_XY),
	    S('m'))), CLOSE(0x87),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY),
	    EV_REFUSE(M_AUTH_FAILED, "will topic")) }),
	SCRIPT("3.1.1 a will refused counts nothing against the per-user "
	    "caps and claims no client id", P,
	    { CONNECT_AS("cap", CONN4(0x06, 60, S('c', '1'), S(T_XY),
	    S('m'))), CLOSE3(0x87, 0x05),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY),
	    EV_REFUSE(M_AUTH_FAILED, "will topic")) },
	    { ON(1), CONNECT_AS("u2", CONN4(0x02, 60, S('c', '1'))),
	    REWRITTEN },
	    { ON(2), CONNECT_AS("cap", CONN4(0x02, 60, S('c', '2'))),
	    REWRITTEN }),
	SCRIPT("3.1.1 a will on w/%c: allowed on the client's own id, "
	    "refused on another's", P,
	    { CONNECT_AS("u1", CONN4(0x06, 60, S('c', '1'),
	    S('w', '/', 'c', '1'), S('m'))), REWRITTEN },
	    { ON(1), CONNECT_AS("u1", CONN4(0x06, 60, S('c', '2'),
	    S('w', '/', 'c', '1'), S('m'))), CLOSE3(0x87, 0x05),
	    EVENTS(EV_ACL(ACL_PUBLISH, "w/c1", DEFAULT_DENY),
	    EV_REFUSE(M_AUTH_FAILED, "will topic")) }),

	/* Per-user caps: the identity's limits.users entry applies. */
	SCRIPT("3.1.1 limits.max_connections_per_user: one more is refused, "
	    "CONNACK 0x03 server unavailable, until one closes", P,
	    SETUP4("cap"),
	    { ON(1), CONNECT_AS("cap", CONN4(0x02, 60, S('c', 'b'))),
	    CLOSE3(0x97, 0x03), EVENTS(EV_REFUSE(M_LIMIT_USER,
	    "limits.max_connections_per_user")) },
	    { ON(0), FINI },
	    { ON(2), CONNECT_AS("cap", CONN4(0x02, 60, S('c', 'c'))),
	    REWRITTEN }),
	SCRIPT("3.1 limits.max_connections_per_user: CONNACK 0x03", P,
	    SETUP3("cap"),
	    { ON(1), CONNECT_AS("cap", CONN3(0x02, 60, S('c', 'b'))),
	    CLOSE3(0x97, 0x03), EVENTS(EV_REFUSE(M_LIMIT_USER,
	    "limits.max_connections_per_user")) }),
	SCRIPT("5.0 limits.max_connections_per_user: CONNACK 0x97 quota "
	    "exceeded, until one closes", P,
	    SETUP5("cap"),
	    { ON(1), CONNECT_AS("cap", CONN5(0x02, 60, 0, S('c', 'b'))),
	    CLOSE(0x97), EVENTS(EV_REFUSE(M_LIMIT_USER,
	    "limits.max_connections_per_user")) },
	    { ON(0), FINI },
	    { ON(2), CONNECT_AS("cap", CONN5(0x02, 60, 0, S('c', 'c'))),
	    REWRITTEN }),
	SCRIPT("3.1.1 limits.connection_rate_per_user: too soon is refused, "
	    "CONNACK 0x03; a second later admitted", P,
	    SETUP4("crt"),
	    { ON(1), CONNECT_AS("crt", CONN4(0x02, 60, S('c', 'b'))),
	    CLOSE3(0x9F, 0x03), EVENTS(EV_REFUSE(M_LIMIT_USER,
	    "limits.connection_rate_per_user")) },
	    { ON(2), AT(1000), CONNECT_AS("crt", CONN4(0x02, 60,
	    S('c', 'c'))), REWRITTEN }),
	SCRIPT("5.0 limits.connection_rate_per_user: CONNACK 0x9F "
	    "connection rate exceeded", P,
	    SETUP5("crt"),
	    { ON(1), CONNECT_AS("crt", CONN5(0x02, 60, 0, S('c', 'b'))),
	    CLOSE(0x9F), EVENTS(EV_REFUSE(M_LIMIT_USER,
	    "limits.connection_rate_per_user")) }),
	SCRIPT("a per-user cap is a refused CONNECT counted as "
	    "M_LIMIT_USER", P,
	    SETUP4("cap"),
	    { ON(1), CONNECT_AS("cap", CONN4(0x02, 60, S('c', 'b'))),
	    CLOSE3(0x97, 0x03), EVENTS(EV_REFUSE(M_LIMIT_USER,
	    "limits.max_connections_per_user")) }),

	/* The client-id registry [MQTT-3.1.4-2]. */
	SCRIPT("3.1.1 a client id another identity holds: CONNACK 0x02 "
	    "identifier rejected [MQTT-3.1.3-9]; its own identity takes it "
	    "over; free once both closed", P,
	    { CONNECT_AS("u1", CONN4(0x02, 60, S('c', '1'))), REWRITTEN },
	    { ON(1), CONNECT_AS("u2", CONN4(0x02, 60, S('c', '1'))),
	    CLOSE3(0x85, 0x02), EVENTS(EV_REFUSE(M_AUTH_FAILED, NULL)) },
	    { ON(2), CONNECT_AS("u1", CONN4(0x02, 60, S('c', '1'))),
	    REWRITTEN },
	    { ON(0), FINI },
	    { ON(2), FINI },
	    { ON(3), CONNECT_AS("u2", CONN4(0x02, 60, S('c', '1'))),
	    REWRITTEN }),
	SCRIPT("3.1 a client id another identity holds: CONNACK 0x02", P,
	    { CONNECT_AS("u1", CONN3(0x02, 60, S('c', '1'))), REWRITTEN },
	    { ON(1), CONNECT_AS("u2", CONN3(0x02, 60, S('c', '1'))),
	    CLOSE3(0x85, 0x02), EVENTS(EV_REFUSE(M_AUTH_FAILED, NULL)) }),
	SCRIPT("5.0 a client id another identity holds: CONNACK 0x85 "
	    "client identifier not valid (5.0 [MQTT-3.1.3-8])", P,
	    { CONNECT_AS("u1", CONN5(0x02, 60, 0, S('c', '1'))), REWRITTEN },
	    { ON(1), CONNECT_AS("u2", CONN5(0x02, 60, 0, S('c', '1'))),
	    CLOSE(0x85), EVENTS(EV_REFUSE(M_AUTH_FAILED, NULL)) },
	    { ON(2), CONNECT_AS("u1", CONN5(0x02, 60, 0, S('c', '1'))),
	    REWRITTEN }),
	SCRIPT("3.1.1 clean session 0: the client id stays its identity's "
	    "after the connection [MQTT-3.1.2-4]", P,
	    { CONNECT_AS("u1", CONN4(0x00, 60, S('c', '1'))), REWRITTEN },
	    { FINI },
	    { ON(1), CONNECT_AS("u2", CONN4(0x02, 60, S('c', '1'))),
	    CLOSE3(0x85, 0x02), EVENTS(EV_REFUSE(M_AUTH_FAILED, NULL)) }),
	SCRIPT("5.0 a Session Expiry Interval keeps the client id its "
	    "identity's after the connection (5.0 §3.1.2.11.2)", P,
	    { CONNECT_AS("u1", CONN5(0x00, 60, PROPS(0x11, 0, 0, 0, 10),
	    S('c', '1'))), REWRITTEN },
	    { FINI },
	    { ON(1), CONNECT_AS("u2", CONN5(0x02, 60, 0, S('c', '1'))),
	    CLOSE(0x85), EVENTS(EV_REFUSE(M_AUTH_FAILED, NULL)) }),
	SCRIPT("5.0 Clean Start 0 without a Session Expiry Interval ends "
	    "with the connection (5.0 §3.1.2.11.2)", P,
	    { CONNECT_AS("u1", CONN5(0x00, 60, 0, S('c', '1'))), REWRITTEN },
	    { FINI },
	    { ON(1), CONNECT_AS("u2", CONN5(0x02, 60, 0, S('c', '1'))),
	    REWRITTEN }),
	SCRIPT("3.1.1 an empty client id claims nothing: the broker assigns "
	    "one [MQTT-3.1.3-6]", P,
	    { CONNECT_AS("u1", CONN4(0x02, 60, 0, 0)), REWRITTEN },
	    { ON(1), CONNECT_AS("u2", CONN4(0x02, 60, 0, 0)), REWRITTEN }),
};

/* ---- CONNACK ----------------------------------------------------------- */

/* What P makes of any successful 5.0 CONNACK. */
#define MPS		0x27, 0, 0, 0x10, 0	/* max_packet_size 4096 */
#define RMAX		0x21, 0, 2		/* max_inflight 2 */
#define TAM		0x22, 0, 10		/* max_topic_aliases 10 */
#define TAM_BROKER	0x22, 0, 20		/* the broker's, higher */

static const struct scase connack_cases[] = {
	SCRIPT("5.0 CONNACK amended: Maximum Packet Size (5.0 §3.2.2.3.6), "
	    "Receive Maximum = limits.max_inflight [MQTT-3.3.4-7], Topic "
	    "Alias Maximum lowered [MQTT-3.2.2-17], and the Server Keep "
	    "Alive enforced for a client that asked for none "
	    "[MQTT-3.2.2-21] [MQTT-3.2.2-22]", P,
	    SETUP5K(0),
	    { CONNACK(CONNACK5(0, TAM_BROKER)),
	    REWRITE(CONNACK5(0, MPS, RMAX, TAM, 0x13, 0, 60)), ALIAS(10),
	    ALIAS_TOLD, KEEPALIVE(60) }),
	SCRIPT("5.0 the keepalive asked for is enforced: no Server Keep "
	    "Alive [MQTT-3.2.2-22]", P,
	    SETUP5K(60),
	    { CONNACK(CONNACK5(0, TAM_BROKER)),
	    REWRITE(CONNACK5(0, MPS, RMAX, TAM)), ALIAS(10), ALIAS_TOLD,
	    KEEPALIVE(60) }),
	SCRIPT("5.0 a keepalive over limits.max_keepalive: Server Keep Alive "
	    "is the maximum [MQTT-3.2.2-21]", P,
	    SETUP5K(120),
	    { CONNACK(CONNACK5(0, TAM_BROKER)),
	    REWRITE(CONNACK5(0, MPS, RMAX, TAM, 0x13, 0, 60)), ALIAS(10),
	    KEEPALIVE(60) }),
	SCRIPT("5.0 the broker's lower Server Keep Alive wins: told and "
	    "enforced [MQTT-3.2.2-21]", P,
	    SETUP5K(60),
	    { CONNACK(CONNACK5(0, 0x13, 0, 30, TAM_BROKER)),
	    REWRITE(CONNACK5(0, MPS, RMAX, TAM, 0x13, 0, 30)), ALIAS(10),
	    KEEPALIVE(30) }),
	SCRIPT("5.0 a higher Server Keep Alive of the broker's is "
	    "replaced by the keepalive the proxy enforces [MQTT-3.2.2-21]",
	    P,
	    SETUP5K(60),
	    { CONNACK(CONNACK5(0, 0x13, 0, 90, TAM_BROKER)),
	    REWRITE(CONNACK5(0, MPS, RMAX, TAM, 0x13, 0, 60)),
	    KEEPALIVE(60) }),
	SCRIPT("5.0 the broker's lower Receive Maximum and Maximum Packet "
	    "Size stay; its other properties are kept", P,
	    SETUP5K(60),
	    { CONNACK(CONNACK5(0, 0x21, 0, 1, 0x27, 0, 0, 4, 0, 0x24, 1,
	    0x26, S('k'), S('v'), TAM_BROKER)),
	    REWRITE(CONNACK5(0, 0x21, 0, 1, 0x27, 0, 0, 4, 0, 0x24, 1,
	    0x26, S('k'), S('v'), TAM)), ALIAS(10), ALIAS_TOLD }),
	SCRIPT("5.0 *alias_max is the Topic Alias Maximum the client is "
	    "held to, so never more than it was told [MQTT-3.2.2-17] "
	    "[MQTT-3.2.2-18]: the broker's 5, or none", P,
	    SETUP5K(60),
	    { CONNACK(CONNACK5(0, 0x22, 0, 5)),
	    REWRITE(CONNACK5(0, 0x22, 0, 5, MPS, RMAX)), ALIAS_TOLD },
	    { ON(1), CONNECT_AS("u1", CONN5(0x02, 60, 0, S('c', '6'))),
	    REWRITTEN },
	    { ON(1), CONNACK(CONNACK5_BARE(0)),
	    REWRITE(CONNACK5(0, MPS, RMAX)), ALIAS_TOLD }),
	SCRIPT("5.0 limits.max_topic_aliases and max_inflight unset: the "
	    "broker's stay, *alias_max 0 (unchanged)", STRICT,
	    SETUP5K(60),
	    { CONNACK(CONNACK5(0, TAM_BROKER)),
	    REWRITE(CONNACK5(0, TAM_BROKER, MPS)), ALIAS(0), ALIAS_TOLD,
	    KEEPALIVE(60) }),
	SCRIPT("5.0 a refused CONNACK is forwarded as it is", P,
	    SETUP5K(60),
	    { CONNACK(CONNACK5_BARE(0x87)), FORWARD, ALIAS(0),
	    KEEPALIVE(60) }),
	SCRIPT("3.1.1 CONNACK is forwarded: 3.1.1 has no properties", P,
	    SETUP4("u1"),
	    { CONNACK(CONNACK3_OK), FORWARD, ALIAS(0), KEEPALIVE(60) }),
	SCRIPT("3.1 CONNACK is forwarded", P,
	    SETUP3("u1"),
	    { CONNACK(CONNACK3_OK), FORWARD, ALIAS(0), KEEPALIVE(60) }),
};

/* ---- the client's PUBLISH ---------------------------------------------- */

static const struct scase publish_cases[] = {
	/* The ACL. */
	X3("allowed: forwarded, QoS 1 and 2 in flight", P, "u1",
	    { CL(PUB3Q0(T_PA)), FORWARD, INFLIGHT(0) },
	    { CL(PUB3(1, 1, T_PA)), FORWARD, INFLIGHT(1) },
	    { CL(PUB3(2, 2, T_PA)), FORWARD, INFLIGHT(2) }),
	V5("allowed: forwarded, QoS 1 and 2 in flight", P, "u1",
	    { CL(PUB5Q0(T_PA)), FORWARD, INFLIGHT(0) },
	    { CL(PUB5(1, 1, T_PA)), FORWARD, INFLIGHT(1) },
	    { CL(PUB5(2, 2, T_PA)), FORWARD, INFLIGHT(2) }),
	X3("denied QoS 0: dropped [MQTT-3.3.5-2]", P, "u1",
	    { CL(PUB3Q0(T_PNO)), DROP,
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) }),
	V5("denied QoS 0: dropped", P, "u1",
	    { CL(PUB5Q0(T_PNO)), DROP,
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) }),
	X3("denied QoS 1: PUBACK as if accepted [MQTT-3.3.5-2] "
	    "[MQTT-4.3.2-2]", P, "u1",
	    { CL(PUB3(1, 7, T_PNO)), ANSWER(PUBACK(7)), INFLIGHT(0),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) }),
	V5("denied QoS 1: PUBACK 0x87 not authorized (5.0 §3.4.2.1)", P,
	    "u1",
	    { CL(PUB5(1, 7, T_PNO)), ANSWER(PUBACK5(7, 0x87)), INFLIGHT(0),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) }),
	X3("denied QoS 2: PUBREC as if accepted, PUBCOMP for its PUBREL, "
	    "the id in use until then [MQTT-3.3.5-2] [MQTT-4.3.3-2]", P, "u1",
	    { CL(PUB3(2, 7, T_PNO)), ANSWER(PUBREC(7)), INFLIGHT(0),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) },
	    { SV(PUBREL(7)), DROP, EVENTS(EV_PROTO("PUBREL id 7")) },
	    { CL(PUBREL(7)), ANSWER(PUBCOMP(7)) },
	    { CL(PUB3(2, 7, T_PA)), FORWARD }),
	SCRIPT("3.1.1 a client keeping its session may finish, with PUBREL, "
	    "a QoS 2 flow of an earlier connection [MQTT-4.4.0-1]", P,
	    { CONNECT_AS("u1", CONN4(0x00, 60, S('c', '4'))), REWRITTEN },
	    { CL(PUBREL(40)), FORWARD, INFLIGHT(0) },
	    { CL(PUBREL(40)), FORWARD },
	    { SV(PUBCOMP(40)), FORWARD },
	    { SV(PUBCOMP(40)), DROP, EVENTS(EV_PROTO("PUBCOMP id 40")) }),
	SCRIPT("5.0 Clean Start 0: a PUBREL of an earlier connection goes "
	    "on, outside the Receive Maximum", P,
	    { CONNECT_AS("u1", CONN5(0x00, 60, 0, S('c', '5'))), REWRITTEN },
	    { CL(PUBREL(41)), FORWARD, INFLIGHT(0) },
	    { CL(PUB5(1, 1, T_PA)), FORWARD, INFLIGHT(1) },
	    { CL(PUB5(2, 2, T_PA)), FORWARD, INFLIGHT(2) }),
	SCRIPT("3.1.1 a broker with the session present may resend PUBREL "
	    "and DUP PUBLISH of an earlier connection", P,
	    { CONNECT_AS("u1", CONN4(0x00, 60, S('c', '4'))), REWRITTEN },
	    { CONNACK(0x20, 2, 1, 0), FORWARD },
	    { SV(PUBREL(5)), FORWARD },
	    { SV(FR(0x3C, S(T_RA), 0, 6, 'm')), FORWARD },
	    { CL(PUBCOMP(5)), FORWARD },
	    { CL(PUBREC(6)), FORWARD }),
	SCRIPT("3.1.1 without the session present, a broker's PUBREL for "
	    "no flow is dropped", P,
	    { CONNECT_AS("u1", CONN4(0x00, 60, S('c', '4'))), REWRITTEN },
	    { CONNACK(0x20, 2, 0, 0), FORWARD },
	    { SV(PUBREL(5)), DROP, EVENTS(EV_PROTO("PUBREL id 5")) }),
	V5("over the broker's Maximum QoS: DISCONNECT 0x9B [MQTT-3.2.2-11]",
	    P, "u1",
	    { CONNACK(CONNACK5(0, 0x24, 1)), REWRITTEN },
	    { CL(PUB5(1, 1, T_PA)), FORWARD },
	    { CL(PUB5(2, 2, T_PA)), CLOSE(0x9B),
	    EVENTS(EV_PROTO("Maximum QoS 1")) }),
	V5("retained without the broker's Retain Available: DISCONNECT 0x9A "
	    "[MQTT-3.2.2-14]", P, "u1",
	    { CONNACK(CONNACK5(0, 0x25, 0)), REWRITTEN },
	    { CL(PUB5Q0(T_PA)), FORWARD },
	    { CL(FR(0x31, S(T_PA), 0, 'm')), CLOSE(0x9A),
	    EVENTS(EV_PROTO("Retain Available")) }),
	X3("a PUBREL for no flow ends the session [MQTT-4.3.3]", P, "u1",
	    { CL(PUB3(2, 7, T_PNO)), ANSWER(PUBREC(7)),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) },
	    { CL(PUBREL(7)), ANSWER(PUBCOMP(7)) },
	    { CL(PUBREL(7)), CLOSE(0x82), EVENTS(EV_PROTO("PUBREL id 7")) }),
	V5("denied QoS 2: PUBREC 0x87 ends the flow (5.0 §4.3.3), a PUBREL "
	    "for it ends the session", P, "u1",
	    { CL(PUB5(2, 7, T_PNO)), ANSWER(PUBREC5(7, 0x87)), INFLIGHT(0),
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) },
	    { CL(PUBREL(7)), CLOSE(0x82), EVENTS(EV_PROTO("PUBREL id 7")) }),
	X3("no rule allows: default deny, PUBACK", P, "u1",
	    { CL(PUB3(1, 7, T_XY)), ANSWER(PUBACK(7)),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY)) }),
	V5("no rule allows: default deny, PUBACK 0x87", P, "u1",
	    { CL(PUB5(1, 7, T_XY)), ANSWER(PUBACK5(7, 0x87)),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY)) }),
	X3("acl.deny_action_v3 disconnect: a denied PUBLISH closes, an "
	    "allowed one goes on [MQTT-3.3.5-2]", STRICT, "u1",
	    { CL(PUB3(1, 1, T_PA)), FORWARD },
	    { CL(PUB3Q0(T_XY)), CLOSE(0),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY)) }),
	X3("acl.deny_action_v3 disconnect: a denied QoS 1 PUBLISH closes",
	    STRICT, "u1",
	    { CL(PUB3(1, 7, T_XY)), CLOSE(0),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY)) }),
	V5("acl.deny_action_v3 is for 3.x: PUBACK 0x87", STRICT, "u1",
	    { CL(PUB5(1, 7, T_XY)), ANSWER(PUBACK5(7, 0x87)),
	    EVENTS(EV_ACL(ACL_PUBLISH, "x/y", DEFAULT_DENY)) }),

	/* Topic bounds: before the rates and the ACL. */
	X3("a topic of limits.max_topic_length bytes and max_topic_levels "
	    "levels is forwarded", P, "u1",
	    { CL(PUB3(1, 1, T_16)), FORWARD },
	    { CL(PUB3Q0(T_3LV)), FORWARD }),
	X3("a topic over limits.max_topic_length closes", P, "u1",
	    { CL(PUB3(1, 1, T_17)), CLOSE(0x90),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "limits.max_topic_length")) }),
	V5("a topic over limits.max_topic_length: DISCONNECT 0x90 topic "
	    "name invalid", P, "u1",
	    { CL(PUB5(1, 1, T_17)), CLOSE(0x90),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "limits.max_topic_length")) }),
	X3("a topic over limits.max_topic_levels closes", P, "u1",
	    { CL(PUB3Q0(T_4LV)), CLOSE(0x90),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "max_topic_levels")) }),
	V5("a topic over limits.max_topic_levels: DISCONNECT 0x90", P, "u1",
	    { CL(PUB5Q0(T_4LV)), CLOSE(0x90),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "max_topic_levels")) }),
	X3("topic bounds come before the ACL", P, "u1",
	    { CL(PUB3(1, 1, X_4LV)), CLOSE(0x90),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, NULL)) }),

	/* Rates: after the bounds, before the ACL; all buckets or none. */
	X3("limits.message_rate, throttle: the PUBLISH waits for its token",
	    P, "thr",
	    { CL(PUB3Q0(T_PA)), FORWARD },
	    { CL(PUB3Q0(T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) },
	    { CL(PUB3(1, 1, T_PA)), WAIT_MS, INFLIGHT(0),
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) },
	    { AT(1000), CL(PUB3(1, 1, T_PA)), FORWARD, INFLIGHT(1) }),
	V5("limits.message_rate, throttle: the PUBLISH waits for its token",
	    P, "thr",
	    { CL(PUB5Q0(T_PA)), FORWARD },
	    { CL(PUB5(2, 1, T_PA)), WAIT_MS, INFLIGHT(0),
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) },
	    { AT(1000), CL(PUB5(2, 1, T_PA)), FORWARD, INFLIGHT(1) }),
	X3("rate_action drop: QoS 0 over the rate dropped, QoS 1 and 2 "
	    "wait", P, "drp",
	    { CL(PUB3Q0(T_PA)), FORWARD },
	    { CL(PUB3Q0(T_PA)), DROP,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) },
	    { CL(PUB3(1, 1, T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) },
	    { CL(PUB3(2, 2, T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) }),
	V5("rate_action drop: QoS 0 over the rate dropped, QoS 1 waits", P,
	    "drp",
	    { CL(PUB5Q0(T_PA)), FORWARD },
	    { CL(PUB5Q0(T_PA)), DROP,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) },
	    { CL(PUB5(1, 1, T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) }),
	X3("rate_action disconnect: over the rate closes", P, "dis",
	    { CL(PUB3Q0(T_PA)), FORWARD },
	    { CL(PUB3(1, 1, T_PA)), CLOSE(0x96),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "limits.message_rate")) }),
	V5("rate_action disconnect: DISCONNECT 0x96 message rate too high",
	    P, "dis",
	    { CL(PUB5Q0(T_PA)), FORWARD },
	    { CL(PUB5Q0(T_PA)), CLOSE(0x96),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "limits.message_rate")) }),
	X3("rates come before the ACL: a denied PUBLISH costs its token", P,
	    "thr",
	    { CL(PUB3Q0(T_PNO)), DROP,
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) },
	    { CL(PUB3Q0(T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) }),
	X3("limits.topic_rates short: the connection's message token "
	    "taken before it is given back (all buckets or none)", P, "top",
	    { CL(PUB3Q0(T_SLOW)), FORWARD },
	    { CL(PUB3Q0(T_SLOW)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "topic_rates")) },
	    { CL(PUB3Q0(T_PA)), FORWARD },
	    { CL(PUB3Q0(T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) }),
	V5("limits.topic_rates short: the connection's message token "
	    "given back (all buckets or none)", P, "top",
	    { CL(PUB5Q0(T_SLOW)), FORWARD },
	    { CL(PUB5(1, 1, T_SLOW)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "topic_rates")) },
	    { CL(PUB5(1, 1, T_PA)), FORWARD },
	    { CL(PUB5Q0(T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.message_rate")) }),
	SCRIPT("3.1.1 limits.user_message_rate is shared by the identity's "
	    "connections", P,
	    SETUP4("shr"),
	    { ON(1), CONNECT_AS("shr", CONN4(0x02, 60, S('c', 'b'))),
	    REWRITTEN },
	    { CL(PUB3Q0(T_PA)), FORWARD },
	    { ON(1), CL(PUB3Q0(T_PA)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "user_message_rate")) },
	    { ON(1), AT(1000), CL(PUB3Q0(T_PA)), FORWARD }),

	/* limits.max_inflight: first of all, QoS 1 and 2 only. */
	V5("one over limits.max_inflight, the Receive Maximum it was told: "
	    "DISCONNECT 0x93 [MQTT-3.3.4-7]", P, "u1",
	    { CL(PUB5(1, 1, T_PA)), FORWARD },
	    { CL(PUB5(2, 2, T_PA)), FORWARD, INFLIGHT(2) },
	    { CL(PUB5Q0(T_PA)), FORWARD, INFLIGHT(2) },
	    { CL(PUB5(1, 3, T_PA)), CLOSE(0x93), WAITING(false),
	    EVENTS(EV_LIMIT(M_LIMIT_INFLIGHT, "limits.max_inflight")) }),
	V5("the broker's PUBACK frees a slot of the Receive Maximum", P,
	    "u1",
	    { CL(PUB5(1, 1, T_PA)), FORWARD },
	    { CL(PUB5(1, 2, T_PA)), FORWARD, INFLIGHT(2) },
	    { SV(PUBACK5(1, 0x10)), FORWARD, INFLIGHT(1) },
	    { CL(PUB5(1, 3, T_PA)), FORWARD, INFLIGHT(2) }),
	X3("one over limits.max_inflight waits unread; the broker's PUBACK "
	    "(not the client's) frees a slot and resumes it", P, "u1",
	    { CL(PUB3(1, 1, T_PA)), FORWARD },
	    { CL(PUB3(1, 2, T_PA)), FORWARD, INFLIGHT(2) },
	    { CL(PUB3Q0(T_PA)), FORWARD, INFLIGHT(2) },
	    { CL(PUB3(1, 3, T_PA)), WAIT_SLOT, INFLIGHT(2), WAITING(true),
	    EVENTS(EV_QUIET(M_LIMIT_INFLIGHT, "limits.max_inflight")) },
	    { SV(PUBACK(1)), FORWARD, RESUME, INFLIGHT(1) },
	    { CL(PUB3(1, 3, T_PA)), FORWARD, INFLIGHT(2) }),
	X3("the inflight window comes before the topic bounds", P, "u1",
	    { CL(PUB3(1, 1, T_PA)), FORWARD },
	    { CL(PUB3(1, 2, T_PA)), FORWARD },
	    { CL(PUB3(1, 3, T_17)), WAIT_SLOT,
	    EVENTS(EV_QUIET(M_LIMIT_INFLIGHT, "limits.max_inflight")) }),
	X3("QoS 2 counts until the broker's PUBREC (its PUBREL may be "
	    "queued behind the frame that waits)", P, "u1",
	    { CL(PUB3(2, 1, T_PA)), FORWARD },
	    { CL(PUB3(2, 2, T_PA)), FORWARD, INFLIGHT(2) },
	    { CL(PUB3(2, 3, T_PA)), WAIT_SLOT, WAITING(true),
	    EVENTS(EV_QUIET(M_LIMIT_INFLIGHT, "limits.max_inflight")) },
	    { SV(PUBREC(1)), FORWARD, RESUME, INFLIGHT(1) },
	    { CL(PUBREL(1)), FORWARD, INFLIGHT(1) },
	    { SV(PUBCOMP(1)), FORWARD, INFLIGHT(1) }),
	V5("QoS 2 counts until PUBCOMP or a PUBREC of 0x80 or more "
	    "[MQTT-3.3.4-7]", P, "u1",
	    { CL(PUB5(2, 1, T_PA)), FORWARD },
	    { CL(PUB5(2, 2, T_PA)), FORWARD, INFLIGHT(2) },
	    { SV(PUBREC(1)), FORWARD, INFLIGHT(2) },
	    { CL(PUBREL(1)), FORWARD, INFLIGHT(2) },
	    { SV(PUBCOMP(1)), FORWARD, INFLIGHT(1) },
	    { SV(PUBREC5(2, 0x80)), FORWARD, INFLIGHT(0) },
	    { SV(PUBACK(5)), DROP, INFLIGHT(0),
	    EVENTS(EV_PROTO("PUBACK id 5")) }),
};

/* ---- the broker's PUBLISH (deliveries) --------------------------------- */

static const struct scase delivery_cases[] = {
	X3("allowed to read: forwarded", P, "u1",
	    { SV(PUB3Q0(T_RA)), FORWARD },
	    { SV(PUB3(1, 1, T_RA)), FORWARD },
	    { SV(PUB3(2, 2, T_RA)), FORWARD, INFLIGHT(0) }),
	V5("allowed to read: forwarded", P, "u1",
	    { SV(PUB5Q0(T_RA)), FORWARD },
	    { SV(PUB5(1, 1, T_RA)), FORWARD },
	    { SV(PUB5(2, 2, T_RA)), FORWARD, INFLIGHT(0) }),
	X3("read denied QoS 0: dropped", P, "u1",
	    { SV(PUB3Q0(T_RNO)), DROP,
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) }),
	V5("read denied QoS 0: dropped", P, "u1",
	    { SV(PUB5Q0(T_RNO)), DROP,
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) }),
	X3("read denied QoS 1: PUBACK to the broker as if delivered "
	    "[MQTT-4.3.2-2]", P, "u1",
	    { SV(PUB3(1, 7, T_RNO)), ANSWER(PUBACK(7)),
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) }),
	V5("read denied QoS 1: PUBACK 0x00 to the broker as if delivered",
	    P, "u1",
	    { SV(PUB5(1, 7, T_RNO)), ANSWER(PUBACK(7)),
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) }),
	X3("read denied QoS 2: PUBREC to the broker, PUBCOMP for its PUBREL "
	    "[MQTT-4.3.3-2]", P, "u1",
	    { SV(PUB3(2, 7, T_RNO)), ANSWER(PUBREC(7)),
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) },
	    { SV(PUBREL(8)), DROP, EVENTS(EV_PROTO("PUBREL id 8")) },
	    { SV(PUBREL(7)), ANSWER(PUBCOMP(7)) },
	    { SV(PUBREL(7)), DROP, EVENTS(EV_PROTO("PUBREL id 7")) }),
	V5("read denied QoS 2: PUBREC 0x00, PUBCOMP for the broker's PUBREL",
	    P, "u1",
	    { SV(PUB5(2, 7, T_RNO)), ANSWER(PUBREC(7)),
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) },
	    { SV(PUBREL(8)), DROP, EVENTS(EV_PROTO("PUBREL id 8")) },
	    { SV(PUBREL(7)), ANSWER(PUBCOMP(7)) }),
	X3("a denied resend (DUP) of a delivery the client has: dropped, "
	    "unanswered, the client's flow goes on", P, "u1",
	    { SV(PUB3(2, 7, T_RA)), FORWARD },
	    { SV(PUB3D(2, 7, T_RNO)), DROP,
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) },
	    { CL(PUBREC(7)), FORWARD },
	    { SV(PUBREL(7)), FORWARD },
	    { CL(PUBCOMP(7)), FORWARD },
	    { SV(PUB3(1, 6, T_RA)), FORWARD },
	    { SV(PUB3D(1, 6, T_RNO)), DROP,
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) },
	    { CL(PUBACK(6)), FORWARD },
	    { SV(PUB3D(1, 5, T_RNO)), ANSWER(PUBACK(5)),
	    EVENTS(EV_ACL(ACL_READ, "r/no/x", L_READ_DENY)) }),
	X3("a denied resend (DUP) of a PUBLISH the broker has: dropped, "
	    "unanswered, the broker answers the first", P, "u1",
	    { CL(PUB3(1, 5, T_PA)), FORWARD },
	    { CL(PUB3D(1, 5, T_PNO)), DROP,
	    EVENTS(EV_ACL(ACL_PUBLISH, "p/no/x", L_PUB_DENY)) },
	    { SV(PUBACK(5)), FORWARD }),
	X3("no rule allows the read: default deny", P, "u1",
	    { SV(PUB3(1, 7, T_XY)), ANSWER(PUBACK(7)),
	    EVENTS(EV_ACL(ACL_READ, "x/y", DEFAULT_DENY)) }),
	X3("acl.deny_action_v3 is for the client's PUBLISH: a denied "
	    "delivery is still answered", STRICT, "u1",
	    { SV(PUB3(1, 7, T_XY)), ANSWER(PUBACK(7)),
	    EVENTS(EV_ACL(ACL_READ, "x/y", DEFAULT_DENY)) }),
	X3("deliveries take no rate token and no inflight slot", P, "thr",
	    { SV(PUB3(1, 1, T_RA)), FORWARD },
	    { SV(PUB3(1, 2, T_RA)), FORWARD },
	    { SV(PUB3(2, 3, T_RA)), FORWARD, INFLIGHT(0) },
	    { CL(PUB3Q0(T_PA)), FORWARD }),
};

/* ---- a 3.x delivery over max_packet_size ------------------------------- */

static const struct scase oversize_cases[] = {
	X3("QoS 0 over limits.max_packet_size: dropped", P, "u1",
	    { OVERSIZE(0, 0, 5000), DROP,
	    EVENTS(EV_QUIET(M_LIMIT_DELIVERY_SIZE, "5000 bytes")) }),
	X3("QoS 1 over limits.max_packet_size: dropped, PUBACK to the "
	    "broker [MQTT-4.3.2-2]", P, "u1",
	    { OVERSIZE(1, 7, 5000), ANSWER(PUBACK(7)),
	    EVENTS(EV_QUIET(M_LIMIT_DELIVERY_SIZE, "5000 bytes")) }),
	X3("QoS 2 over limits.max_packet_size: dropped, PUBREC, then "
	    "PUBCOMP for the broker's PUBREL [MQTT-4.3.3-2]", P, "u1",
	    { OVERSIZE(2, 7, 5000), ANSWER(PUBREC(7)),
	    EVENTS(EV_QUIET(M_LIMIT_DELIVERY_SIZE, "5000 bytes")) },
	    { CL(PUBCOMP(7)), CLOSE(0x82), EVENTS(EV_PROTO("PUBCOMP id 7")) }),
	X3("QoS 2 over limits.max_packet_size: PUBCOMP for the broker's "
	    "PUBREL, once", P, "u1",
	    { OVERSIZE(2, 7, 5000), ANSWER(PUBREC(7)),
	    EVENTS(EV_QUIET(M_LIMIT_DELIVERY_SIZE, "5000 bytes")) },
	    { SV(PUBREL(7)), ANSWER(PUBCOMP(7)) },
	    { SV(PUBREL(7)), DROP, EVENTS(EV_PROTO("PUBREL id 7")) }),
	V5("payload not UTF-8 with format indicator 1: PUBACK 0x99, and a "
	    "resend of one the broker has is dropped unanswered", P, "u1",
	    { BADPAYLOAD(PUB5(1, 7, T_PA)), ANSWER(PUBACK5(7, 0x99)),
	    EVENTS(EV_PROTO("PUBLISH QoS 1")) },
	    { CL(PUB5(1, 8, T_PA)), FORWARD },
	    { BADPAYLOAD(FR(0x3A, S(T_PA), 0, 8, 0, 'm')), DROP,
	    EVENTS(EV_PROTO("PUBLISH QoS 1")) },
	    { SV(PUBACK(8)), FORWARD }),
	X3("over limits.max_packet_size on an id the client has: dropped "
	    "unanswered, the client's flow goes on", P, "u1",
	    { SV(PUB3(1, 7, T_RA)), FORWARD },
	    { OVERSIZE(1, 7, 5000), DROP,
	    EVENTS(EV_QUIET(M_LIMIT_DELIVERY_SIZE, "5000 bytes")) },
	    { CL(PUBACK(7)), FORWARD }),
};

/* ---- SUBSCRIBE --------------------------------------------------------- */

static const struct scase subscribe_cases[] = {
	/* The ACL, filter by filter. */
	X3("every filter allowed: forwarded as it is", P, "u1",
	    { CL(SUB3(1, S(T_SA), 1, S(T_SB), 2)), FORWARD },
	    { SV(SUBACK3(1, 1, 2)), FORWARD }),
	V5("every filter allowed: forwarded as it is", P, "u1",
	    { CL(SUB5(1, S(T_SA), 1, S(T_SB), 2)), FORWARD },
	    { SV(SUBACK5(1, 1, 2)), FORWARD }),
	X3("every filter denied: SUBACK 0x80 for each, nothing forwarded "
	    "[MQTT-3.8.4-5] [MQTT-3.9.3-1]", P, "u1",
	    { CL(SUB3(1, S(T_SNO), 0, S(T_XY), 1)),
	    ANSWER(SUBACK3(1, 0x80, 0x80)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY),
	    EV_ACL(ACL_SUBSCRIBE, "x/y", DEFAULT_DENY)) }),
	V5("every filter denied: SUBACK 0x87 not authorized for each "
	    "(5.0 [MQTT-3.8.4-6])", P, "u1",
	    { CL(SUB5(1, S(T_SNO), 0, S(T_XY), 1)),
	    ANSWER(SUBACK5(1, 0x87, 0x87)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY),
	    EV_ACL(ACL_SUBSCRIBE, "x/y", DEFAULT_DENY)) }),
	X3("some denied: the broker gets the others, the client one SUBACK "
	    "in its own order [MQTT-3.9.3-1]", P, "u1",
	    { CL(SUB3(7, S(T_SNO), 0, S(T_SA), 1, S(T_XY), 2)),
	    REWRITE(SUB3(7, S(T_SA), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY),
	    EV_ACL(ACL_SUBSCRIBE, "x/y", DEFAULT_DENY)) },
	    { SV(SUBACK3(9, 0)), DROP, EVENTS(EV_PROTO("SUBACK id 9")) },
	    { SV(SUBACK3(7, 1)), REWRITE(SUBACK3(7, 0x80, 1, 0x80)) },
	    { SV(SUBACK3(7, 1)), DROP, EVENTS(EV_PROTO("SUBACK id 7")) }),
	V5("some denied: the broker gets the others with the properties, "
	    "the client one SUBACK in its own order [MQTT-3.9.3-1]", P, "u1",
	    { CL(FR(0x82, 0, 7, PROPS(0x0B, 7), S(T_SNO), 0, S(T_SA), 1,
	    S(T_XY), 2)), REWRITE(FR(0x82, 0, 7, PROPS(0x0B, 7), S(T_SA), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY),
	    EV_ACL(ACL_SUBSCRIBE, "x/y", DEFAULT_DENY)) },
	    { SV(SUBACK5(9, 0)), DROP, EVENTS(EV_PROTO("SUBACK id 9")) },
	    { SV(SUBACK5(7, 1)), REWRITE(SUBACK5(7, 0x87, 1, 0x87)) },
	    { SV(SUBACK5(7, 1)), DROP, EVENTS(EV_PROTO("SUBACK id 7")) }),
	X3("a broker SUBACK short of codes fails the filters it left out",
	    P, "u1",
	    { CL(SUB3(7, S(T_SNO), 0, S(T_SA), 1, S(T_SB), 1)),
	    REWRITE(SUB3(7, S(T_SA), 1, S(T_SB), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) },
	    { SV(SUBACK3(7, 1)), REWRITE(SUBACK3(7, 0x80, 1, 0x80)) }),

	/* limits.max_subscriptions (2 for "sub"). */
	X3("limits.max_subscriptions: a filter over it gets 0x80; a place "
	    "the broker refuses or an UNSUBSCRIBE frees is given back", P,
	    "sub",
	    { CL(SUB3(1, S(T_SA), 1, S(T_SB), 1, S(T_SC), 1)),
	    REWRITE(SUB3(1, S(T_SA), 1, S(T_SB), 1)),
	    EVENTS(EV_QUIET(M_LIMIT_SUBSCRIPTIONS,
	    "limits.max_subscriptions")) },
	    { SV(SUBACK3(1, 1, 0x80)), REWRITE(SUBACK3(1, 1, 0x80, 0x80)) },
	    { CL(SUB3(2, S(T_SC), 1)), FORWARD },
	    { SV(SUBACK3(2, 1)), REWRITE(SUBACK3(2, 1)) },
	    { CL(SUB3(3, S(T_SA), 2)), FORWARD },
	    { SV(SUBACK3(3, 2)), FORWARD },
	    { CL(SUB3(4, S(T_SD), 1)), ANSWER(SUBACK3(4, 0x80)),
	    EVENTS(EV_QUIET(M_LIMIT_SUBSCRIPTIONS,
	    "limits.max_subscriptions")) },
	    { CL(UNSUB3(5, S(T_SA))), FORWARD },
	    { CL(SUB3(6, S(T_SD), 1)), FORWARD },
	    { SV(SUBACK3(6, 1)), REWRITE(SUBACK3(6, 1)) }),
	V5("limits.max_subscriptions: a filter over it gets 0x97 quota "
	    "exceeded; places given back", P, "sub",
	    { CL(SUB5(1, S(T_SA), 1, S(T_SB), 1, S(T_SC), 1)),
	    REWRITE(SUB5(1, S(T_SA), 1, S(T_SB), 1)),
	    EVENTS(EV_QUIET(M_LIMIT_SUBSCRIPTIONS,
	    "limits.max_subscriptions")) },
	    { SV(SUBACK5(1, 1, 0x80)), REWRITE(SUBACK5(1, 1, 0x80, 0x97)) },
	    { CL(SUB5(2, S(T_SC), 1)), FORWARD },
	    { SV(SUBACK5(2, 1)), REWRITE(SUBACK5(2, 1)) },
	    { CL(SUB5(4, S(T_SD), 1)), ANSWER(SUBACK5(4, 0x97)),
	    EVENTS(EV_QUIET(M_LIMIT_SUBSCRIPTIONS,
	    "limits.max_subscriptions")) },
	    { CL(UNSUB5(5, S(T_SA))), FORWARD },
	    { CL(SUB5(6, S(T_SD), 1)), FORWARD },
	    { SV(SUBACK5(6, 1)), REWRITE(SUBACK5(6, 1)) }),

	/* Topic bounds, then subscribe_rate, then the ACL. */
	X3("a filter over limits.max_topic_levels closes", P, "u1",
	    { CL(SUB3(1, S(T_SA), 0, S(F_4LV), 0)), CLOSE(0x8F),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "filter")) }),
	V5("a filter over limits.max_topic_levels: DISCONNECT 0x8F topic "
	    "filter invalid", P, "u1",
	    { CL(SUB5(1, S(T_SA), 0, S(F_4LV), 0)), CLOSE(0x8F),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "filter")) }),
	X3("a filter over limits.max_topic_length closes", P, "u1",
	    { CL(SUB3(1, S(F_17), 0)), CLOSE(0x8F),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "filter")) }),
	X3("an UNSUBSCRIBE filter over the bounds closes", P, "u1",
	    { CL(UNSUB3(1, S(F_4LV))), CLOSE(0x8F),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "filter")) }),
	V5("an UNSUBSCRIBE filter over the bounds: DISCONNECT 0x8F", P, "u1",
	    { CL(UNSUB5(1, S(F_17))), CLOSE(0x8F),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "filter")) }),
	X3("filter bounds come before the ACL", P, "u1",
	    { CL(SUB3(1, S(X_4LV), 0)), CLOSE(0x8F),
	    EVENTS(EV_LIMIT(M_RATE_LIMITED, "filter")) }),
	X3("limits.subscribe_rate: SUBSCRIBE and UNSUBSCRIBE wait for a "
	    "token", P, "srt",
	    { CL(SUB3(1, S(T_SA), 0)), FORWARD },
	    { CL(SUB3(2, S(T_SB), 0)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.subscribe_rate")) },
	    { CL(UNSUB3(3, S(T_SA))), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.subscribe_rate")) },
	    { AT(1000), CL(SUB3(2, S(T_SB), 0)), FORWARD }),
	V5("limits.subscribe_rate: SUBSCRIBE and UNSUBSCRIBE wait for a "
	    "token", P, "srt",
	    { CL(UNSUB5(1, S(T_SA))), FORWARD },
	    { CL(SUB5(2, S(T_SB), 0)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.subscribe_rate")) },
	    { AT(1000), CL(SUB5(2, S(T_SB), 0)), FORWARD }),

	/* ENFORCE_MERGES_MAX SUBSCRIBEs awaiting a merged SUBACK. */
	X3("the merge table full: the next partly denied SUBSCRIBE is "
	    "answered whole, until a SUBACK frees a record", P, "u1",
	    { CL(SUB3(1, S(T_SNO), 0, S(T_SA), 1)),
	    .repeat = ENFORCE_MERGES_MAX, REWRITE(SUB3(1, S(T_SA), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) },
	    { CL(SUB3(100, S(T_SNO), 0, S(T_SA), 1)),
	    ANSWER(SUBACK3(100, 0x80, 0x80)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) },
	    { CL(SUB3(101, S(T_SA), 1)), FORWARD },
	    { SV(SUBACK3(5, 1)), REWRITE(SUBACK3(5, 0x80, 1)) },
	    { CL(SUB3(102, S(T_SNO), 0, S(T_SA), 1)),
	    REWRITE(SUB3(102, S(T_SA), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) }),
	V5("the merge table full: the next partly denied SUBSCRIBE is "
	    "answered whole with 0x87", P, "u1",
	    { CL(SUB5(1, S(T_SNO), 0, S(T_SA), 1)),
	    .repeat = ENFORCE_MERGES_MAX, REWRITE(SUB5(1, S(T_SA), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) },
	    { CL(SUB5(100, S(T_SNO), 0, S(T_SA), 1)),
	    ANSWER(SUBACK5(100, 0x87, 0x87)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) },
	    { SV(SUBACK5(32, 1)), REWRITE(SUBACK5(32, 0x87, 1)) },
	    { CL(SUB5(102, S(T_SNO), 0, S(T_SA), 1)),
	    REWRITE(SUB5(102, S(T_SA), 1)),
	    EVENTS(EV_ACL(ACL_SUBSCRIBE, "s/no", L_SUB_DENY)) }),
};

/* ---- no acl section; frames no policy looks at ------------------------- */

static const struct scase other_cases[] = {
	SCRIPT("3.1.1 no acl section: any will topic", OPEN,
	    { CONNECT_AS("u1", CONN4(0x06, 60, S('c', '1'), S(T_XY),
	    S('m'))), REWRITE(CONN4(0x86, 60, S('c', '1'), S(T_XY), S('m'),
	    S('u', '1'))) }),
	X3("no acl section: every topic may be published, subscribed to "
	    "and read", OPEN, "u1",
	    { CL(PUB3(1, 1, T_XY)), FORWARD, INFLIGHT(1) },
	    { CL(SUB3(2, S(T_XY), 1, S(T_SNO), 0)), FORWARD },
	    { SV(SUBACK3(2, 1, 0)), FORWARD },
	    { SV(PUB3(2, 3, T_RNO)), FORWARD }),
	V5("no acl section: every topic may be published, subscribed to "
	    "and read", OPEN, "u1",
	    { CL(PUB5(2, 1, T_PNO)), FORWARD, INFLIGHT(1) },
	    { CL(SUB5(2, S(T_SNO), 0)), FORWARD },
	    { SV(PUB5Q0(T_XY)), FORWARD }),
	X3("limits.byte_rate: a PUBLISH waits for as many tokens as it has "
	    "bytes", OPEN, "u1",
	    { CL(PUB3(1, 1, T_XY)), FORWARD },
	    { CL(PUB3(1, 2, T_XY)), FORWARD },
	    { CL(PUB3Q0(T_XY)), WAIT_MS,
	    EVENTS(EV_QUIET(M_RATE_LIMITED, "limits.byte_rate")) },
	    { AT(800), CL(PUB3Q0(T_XY)), FORWARD }),
	X3("PINGREQ, PINGRESP, UNSUBACK and DISCONNECT are forwarded", P,
	    "u1",
	    { CL(0xC0, 0), FORWARD },
	    { SV(0xD0, 0), FORWARD },
	    { CL(UNSUB3(1, S(T_XY))), FORWARD },
	    { SV(0xB0, 2, 0, 1), FORWARD },
	    { CL(0xE0, 0), FORWARD }),
	V5("a DISCONNECT giving a session a Session Expiry Interval its "
	    "CONNECT did not (5.0 §3.14.2.2.2): protocol error", P, "u1",
	    { CL(0xE0, 7, 0, 5, 0x11, 0, 0, 0, 1), CLOSE(0x82),
	    EVENTS(EV_PROTO("Session Expiry Interval of 1")) }),
	V5("a DISCONNECT with a Session Expiry Interval of 0 goes on", P,
	    "u1",
	    { CL(0xE0, 7, 0, 5, 0x11, 0, 0, 0, 0), FORWARD }),
	V5("PINGREQ, UNSUBACK, AUTH and DISCONNECT are forwarded", P, "u1",
	    { CL(0xC0, 0), FORWARD },
	    { CL(UNSUB5(1, S(T_XY))), FORWARD },
	    { SV(0xB0, 4, 0, 1, 0, 0x11), FORWARD },
	    { SV(0xF0, 0), FORWARD },
	    { SV(0xE0, 1, 0x8B), FORWARD }),
};

/* ---- the runner -------------------------------------------------------- */

/* An audit event as the callback saw it. */
struct got {
	enum enforce_event_kind	 kind;
	enum metric		 m;
	bool			 quiet;
	enum acl_action		 a;
	char			 topic[64];
	size_t			 topic_len;
	const struct acl_rule	*rule;
	bool			 has_text;
	char			 text[ENFORCE_TEXT_MAX];
};

struct rec {
	struct got	ev[EVENTS_MAX];
	size_t		n;		/* past EVENTS_MAX: not kept */
};

struct sess {
	struct enforce_state	st;
	struct auth_decision	dec;	/* st.identity points into it */
	bool			live;	/* between init and fini */
};

struct run {
	const struct scase	*c;
	struct policy		*pol;
	struct limits		*lim;
	struct auth_guard	*guard;
	struct enforce_env	 env;
	struct rec		 rec;
	struct sess		 s[SESSIONS];
	uint8_t			**held;	/* frames, freed at the end */
	size_t			 n_held;
};

/* env->audit: the events of the step being run, in order. */
static void
audit(void *arg, const struct enforce_event *e)
{
	struct rec	*r = arg;
	struct got	*g;

	if (r->n++ >= EVENTS_MAX)
		return;
	g = &r->ev[r->n - 1];
	memset(g, 0, sizeof(*g));
	g->kind = e->kind;
	g->m = e->metric;
	g->quiet = e->quiet;
	g->a = e->action;
	g->rule = e->rule;
	g->topic_len = e->topic_len;
	if (e->topic != NULL)
		memcpy(g->topic, e->topic, e->topic_len < sizeof(g->topic) ?
		    e->topic_len : sizeof(g->topic) - 1);
	if (e->text != NULL) {
		g->has_text = true;
		snprintf(g->text, sizeof(g->text), "%s", e->text);
	}
}

/* An exact-size copy of <len> bytes, freed with the run. */
static uint8_t *
hold(struct run *r, const uint8_t *b, size_t len)
{
	uint8_t	**nh, *p;

	nh = realloc(r->held, (r->n_held + 1) * sizeof(*nh));
	ck_assert_ptr_nonnull(nh);
	r->held = nh;
	/* Exact size: ASan reports a read one past the end. */
	p = malloc(len != 0 ? len : 1);
	ck_assert_ptr_nonnull(p);
	if (len != 0)
		memcpy(p, b, len);
	r->held[r->n_held++] = p;
	return p;
}

/* The packet identifier at bytes 2-3 of <b>, plus <k>. */
static void
count_id(uint8_t *b, size_t len, unsigned k)
{
	unsigned	id;

	ck_assert_uint_ge(len, 4);
	id = ((unsigned)b[2] << 8 | b[3]) + k;
	b[2] = (uint8_t)(id >> 8);
	b[3] = (uint8_t)id;
}

static const char *
action_str(enum enforce_action a)
{
	static const char *const names[] = { "FORWARD", "DROP", "ANSWER",
	    "REWRITE", "WAIT", "CLOSE" };

	return (size_t)a < NELEM(names) ? names[a] : "?";
}

static const char *
kind_str(enum enforce_event_kind k)
{
	return k == ENFORCE_EV_ACL ? "ACL" : k == ENFORCE_EV_LIMIT ? "LIMIT" :
	    k == ENFORCE_EV_REFUSE ? "REFUSE" : k == ENFORCE_EV_PROTOCOL ?
	    "PROTOCOL" : "?";
}

/* <n> bytes at <p> as hex into <buf> of <cap> bytes. */
static const char *
hex(char *buf, size_t cap, const uint8_t *p, size_t n)
{
	size_t	i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off + 4 < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%02x ", p[i]);
	return buf;
}

/*
 * A CONNECT for the broker: the identity as the user name, the upstream
 * password only with it, and at 5.0 a Maximum Packet Size within the
 * identity's limits.
 */
static void
check_connect_out(const struct run *r, const char *where,
    const struct sess *ss, const struct codec_packet *o)
{
	const struct codec_connect	*c = &o->u.connect;
	const struct policy_auth	*a = &r->pol->auth;
	size_t				 n = strlen(ss->dec.identity);

	ck_assert_msg(o->type == CODEC_CONNECT, "%s: not a CONNECT", where);
	if (ss->dec.anonymous) {
		ck_assert_msg(!(c->flags & (CODEC_CF_USERNAME |
		    CODEC_CF_PASSWORD)), "%s: anonymous with credentials",
		    where);
	} else {
		ck_assert_msg((c->flags & CODEC_CF_USERNAME) &&
		    c->username.len == n &&
		    memcmp(c->username.p, ss->dec.identity, n) == 0,
		    "%s: the user name is not the identity \"%s\"", where,
		    ss->dec.identity);
		if (a->upstream_password != NULL)
			ck_assert_msg((c->flags & CODEC_CF_PASSWORD) &&
			    c->password.len == a->upstream_password_len &&
			    memcmp(c->password.p, a->upstream_password,
			    c->password.len) == 0,
			    "%s: not the upstream password", where);
		else
			ck_assert_msg(!(c->flags & CODEC_CF_PASSWORD),
			    "%s: a password without auth.upstream_password",
			    where);
	}
	if (c->level == CODEC_V5)
		ck_assert_msg(CODEC_PROP_HAS(&o->props,
		    CODEC_PROP_MAX_PACKET_SIZE) &&
		    o->props.max_packet_size <= ss->st.L->max_packet,
		    "%s: no Maximum Packet Size within %zu", where,
		    ss->st.L->max_packet);
}

static void
check_events(const struct run *r, const char *where, const struct step *sp)
{
	const struct xev	*x;
	const struct got	*g;
	size_t			 i, n;

	for (n = 0; n < EVENTS_MAX && sp->ev[n].kind != 0; n++)
		;
	ck_assert_msg(r->rec.n == n, "%s: %zu audit events, expected %zu "
	    "(the first: %s %d \"%s\")", where, r->rec.n, n,
	    r->rec.n > 0 ? kind_str(r->rec.ev[0].kind) : "none",
	    r->rec.n > 0 ? (int)r->rec.ev[0].m : -1,
	    r->rec.n > 0 ? r->rec.ev[0].text : "");
	for (i = 0; i < n; i++) {
		x = &sp->ev[i];
		g = &r->rec.ev[i];
		switch (x->kind) {
		case 'A':
			ck_assert_msg(g->kind == ENFORCE_EV_ACL, "%s: event "
			    "%zu is %s, expected ACL", where, i,
			    kind_str(g->kind));
			break;
		case 'L':
			ck_assert_msg(g->kind == ENFORCE_EV_LIMIT, "%s: event "
			    "%zu is %s, expected LIMIT", where, i,
			    kind_str(g->kind));
			break;
		case 'P':
			ck_assert_msg(g->kind == ENFORCE_EV_PROTOCOL, "%s: "
			    "event %zu is %s, expected PROTOCOL", where, i,
			    kind_str(g->kind));
			break;
		default:
			ck_assert_msg(g->kind == ENFORCE_EV_REFUSE, "%s: event "
			    "%zu is %s, expected REFUSE", where, i,
			    kind_str(g->kind));
			break;
		}
		ck_assert_msg(g->m == x->m, "%s: event %zu counts metric %d, "
		    "expected %d", where, i, (int)g->m, (int)x->m);
		ck_assert_msg(g->quiet == x->quiet, "%s: event %zu quiet %d",
		    where, i, g->quiet);
		if (x->kind == 'A') {
			ck_assert_msg(g->a == x->a, "%s: ACL action %d, "
			    "expected %d", where, (int)g->a, (int)x->a);
			ck_assert_msg(g->topic_len == strlen(x->topic) &&
			    strcmp(g->topic, x->topic) == 0, "%s: ACL topic "
			    "\"%s\", expected \"%s\"", where, g->topic,
			    x->topic);
			if (x->line == DEFAULT_DENY)
				ck_assert_msg(g->rule == NULL, "%s: rule "
				    "%s:%d, expected default deny", where,
				    g->rule->file, g->rule->line);
			else
				ck_assert_msg(g->rule != NULL &&
				    strcmp(g->rule->file, r->c->pol) == 0 &&
				    g->rule->line == x->line, "%s: rule %s:%d, "
				    "expected %s:%d", where,
				    g->rule != NULL ? g->rule->file : "none",
				    g->rule != NULL ? g->rule->line : 0,
				    r->c->pol, x->line);
		} else {
			ck_assert_msg(g->has_text && g->text[0] != '\0',
			    "%s: event %zu without text", where, i);
			if (x->text != NULL)
				ck_assert_msg(strstr(g->text, x->text) != NULL,
				    "%s: event text \"%s\" does not say "
				    "\"%s\"", where, g->text, x->text);
		}
	}
}

/* The verdict <v> of step <sp> (the <k>th time), going from <dir>. */
static void
check_verdict(const struct run *r, const char *where, const struct step *sp,
    unsigned k, const struct sess *ss, const struct enforce_verdict *v,
    enum codec_dir dir, uint16_t alias_max)
{
	struct codec_packet	 o;
	enum codec_dir		 odir;
	uint8_t			*want, *out;
	char			 h1[512], h2[512];
	int			 rc;

	ck_assert_msg(v->action == sp->act, "%s: %s, expected %s (%s)", where,
	    action_str(v->action), action_str(sp->act),
	    v->reason != NULL ? v->reason : "");
	ck_assert_msg(!v->abort, "%s: aborts: %s", where, v->reason);
	if (sp->act == ENFORCE_CLOSE) {
		ck_assert_msg(v->code == sp->code, "%s: close code 0x%02x, "
		    "expected 0x%02x", where, v->code, sp->code);
		ck_assert_msg(v->reason != NULL && v->reason[0] != '\0',
		    "%s: a close without a reason", where);
		if (sp->code3 != 0) {
			ck_assert_msg(ss->st.level != CODEC_V5, "%s: code3 is "
			    "for 3.x", where);
			ck_assert_msg(codec_connack_v3(v->code) == sp->code3,
			    "%s: 3.x CONNACK 0x%02x, expected 0x%02x", where,
			    codec_connack_v3(v->code), sp->code3);
		}
	} else
		ck_assert_msg(v->code == 0, "%s: code 0x%02x", where, v->code);
	if (sp->act == ENFORCE_WAIT)
		ck_assert_msg(sp->timed ? v->wait_ms > 0 : v->wait_ms == 0,
		    "%s: wait_ms %llu", where,
		    (unsigned long long)v->wait_ms);
	else
		ck_assert_msg(v->wait_ms == 0, "%s: wait_ms %llu", where,
		    (unsigned long long)v->wait_ms);
	ck_assert_msg(v->resume == sp->resume, "%s: resume %d", where,
	    v->resume);

	if (sp->act != ENFORCE_ANSWER && sp->act != ENFORCE_REWRITE) {
		ck_assert_msg(v->out == NULL && v->out_len == 0,
		    "%s: %zu bytes out", where, v->out_len);
	} else {
		ck_assert_msg(v->out != NULL && v->out_len > 0,
		    "%s: nothing out", where);
		if (sp->out != NULL) {
			want = malloc(sp->out_len);
			ck_assert_ptr_nonnull(want);
			memcpy(want, sp->out, sp->out_len);
			if (sp->repeat > 1)
				count_id(want, sp->out_len, k);
			ck_assert_msg(v->out_len == sp->out_len &&
			    memcmp(v->out, want, v->out_len) == 0,
			    "%s: out   %s\n  expected %s", where,
			    hex(h1, sizeof(h1), v->out, v->out_len),
			    hex(h2, sizeof(h2), want, sp->out_len));
			free(want);
		}
		/* It goes back to the sender, or on instead of the frame. */
		odir = sp->act == ENFORCE_ANSWER ? !dir : dir;
		out = malloc(v->out_len);
		ck_assert_ptr_nonnull(out);
		memcpy(out, v->out, v->out_len);
		rc = codec_decode(NULL, sp->op == OP_CONNECT ? 0 :
		    ss->st.level, odir, out, v->out_len, v->out_len, &o);
		ck_assert_msg(rc == CODEC_OK && o.len == v->out_len,
		    "%s: what goes out does not decode: %s", where,
		    codec_err_str(o.err));
		if (sp->op == OP_CONNECT)
			check_connect_out(r, where, ss, &o);
		if (sp->ck_told)
			ck_assert_msg(alias_max == 0 || alias_max ==
			    (CODEC_PROP_HAS(&o.props,
			    CODEC_PROP_TOPIC_ALIAS_MAX) ?
			    o.props.topic_alias_max : 0), "%s: the client "
			    "is held to %u topic aliases, told %u", where,
			    alias_max, CODEC_PROP_HAS(&o.props,
			    CODEC_PROP_TOPIC_ALIAS_MAX) ?
			    o.props.topic_alias_max : 0);
		free(out);
	}

	check_events(r, where, sp);
	if (sp->ck_inflight)
		ck_assert_msg(pktid_inflight(&ss->st.ids, CODEC_FROM_CLIENT,
		    ss->st.level != CODEC_V5) == sp->inflight, "%s: %u in "
		    "flight, expected %u", where, pktid_inflight(&ss->st.ids,
		    CODEC_FROM_CLIENT, ss->st.level != CODEC_V5),
		    sp->inflight);
	if (sp->ck_waiting)
		ck_assert_msg(ss->st.inflight_wait == sp->waiting,
		    "%s: inflight_wait %d", where, ss->st.inflight_wait);
	if (sp->ck_alias)
		ck_assert_msg(alias_max == sp->alias_max, "%s: alias_max %u, "
		    "expected %u", where, alias_max, sp->alias_max);
	if (sp->ck_keepalive)
		ck_assert_msg(ss->st.keepalive == sp->keepalive, "%s: "
		    "keepalive %u, expected %u", where, ss->st.keepalive,
		    sp->keepalive);
}

static void
run_step(struct run *r, size_t i, unsigned k)
{
	const struct step	*sp = &r->c->steps[i];
	struct sess		*ss = &r->s[sp->s];
	struct codec_packet	 p;
	struct enforce_verdict	 v;
	enum codec_dir		 dir = sp->dir;
	uint64_t		 now = T0 + sp->now;
	uint16_t		 alias_max = 0;
	uint8_t			*b;
	char			 where[256];
	int			 rc;

	snprintf(where, sizeof(where), "%s: step %zu%s", r->c->name, i,
	    sp->repeat > 1 ? " (repeated)" : "");
	ck_assert_uint_lt(sp->s, SESSIONS);
	r->rec.n = 0;
	if (sp->op == OP_FINI) {
		ck_assert_msg(ss->live, "%s: no session to close", where);
		enforce_fini(&ss->st, &r->env);
		ss->live = false;
		return;
	}
	if (sp->op == OP_CONNECT)
		dir = CODEC_FROM_CLIENT;
	else if (sp->op == OP_CONNACK || sp->op == OP_OVERSIZE)
		dir = CODEC_FROM_SERVER;
	if (sp->op != OP_OVERSIZE) {
		b = hold(r, sp->b, sp->len);
		if (sp->repeat > 1)
			count_id(b, sp->len, k);
		rc = codec_decode(NULL, sp->op == OP_CONNECT ? 0 :
		    ss->st.level, dir, b, sp->len, sp->len, &p);
		ck_assert_msg(rc == CODEC_OK && p.len == sp->len,
		    "%s: the frame does not decode: %s", where,
		    codec_err_str(p.err));
	}
	if (sp->op != OP_CONNECT)
		ck_assert_msg(ss->live, "%s: no session", where);

	switch (sp->op) {
	case OP_CONNECT:
		ck_assert_msg(!ss->live, "%s: session %u is open", where,
		    sp->s);
		enforce_init(&ss->st, r->pol, &r->pol->listeners[0]);
		ss->live = true;
		memset(&ss->dec, 0, sizeof(ss->dec));
		snprintf(ss->dec.identity, sizeof(ss->dec.identity), "%s",
		    sp->who != NULL ? sp->who :
		    r->pol->auth.anonymous_identity);
		ss->dec.anonymous = sp->who == NULL;
		enforce_connect(&ss->st, &r->env, &ss->dec, &p, now, &v);
		if (v.action == ENFORCE_REWRITE) {
			/* As session.c starts the keepalive it enforces. */
			ss->st.keepalive_asked = p.u.connect.keepalive;
			ss->st.keepalive = enforce_keepalive(&ss->st,
			    p.u.connect.keepalive);
		}
		break;
	case OP_CONNACK:
		alias_max = 0xFFFF;
		enforce_connack(&ss->st, &p, &alias_max, &v);
		break;
	case OP_OVERSIZE:
		enforce_oversize_delivery(&ss->st, &r->env, sp->qos, sp->id,
		    sp->size, &v);
		break;
	case OP_BADPAYLOAD:
		enforce_bad_payload(&ss->st, &r->env, &p, &v);
		break;
	default:
		enforce_frame(&ss->st, &r->env, dir, &p, now, &v);
		break;
	}
	check_verdict(r, where, sp, k, ss, &v, dir, alias_max);
	enforce_verdict_fini(&v);
	ck_assert_msg(v.out == NULL && v.out_len == 0 && v.heap == NULL,
	    "%s: enforce_verdict_fini left bytes", where);
}

static void
run_case(const struct scase *c)
{
	struct config_errors	*e;
	struct run		*r;
	size_t			 i;
	unsigned		 k;

	r = calloc(1, sizeof(*r));
	e = calloc(1, sizeof(*e));
	ck_assert(r != NULL && e != NULL);
	r->c = c;
	r->pol = config_load(c->pol, e);
	ck_assert_msg(r->pol != NULL, "%s: %s", c->pol, e->msg[0]);
	ck_assert_uint_eq(r->pol->n_listeners, 1);
	r->lim = limits_new();
	r->guard = auth_guard_new();
	ck_assert(r->lim != NULL && r->guard != NULL);
	r->env.limits = r->lim;
	r->env.guard = r->guard;
	r->env.audit = audit;
	r->env.arg = &r->rec;

	for (i = 0; i < c->n; i++)
		for (k = 0; k < (c->steps[i].repeat > 1 ?
		    c->steps[i].repeat : 1); k++)
			run_step(r, i, k);

	for (i = 0; i < SESSIONS; i++)
		if (r->s[i].live)
			enforce_fini(&r->s[i].st, &r->env);
	for (i = 0; i < r->n_held; i++)
		free(r->held[i]);
	free(r->held);
	auth_guard_free(r->guard);
	limits_free(r->lim);
	policy_unref(r->pol);
	free(e);
	free(r);
}

START_TEST(t_connect)
{
	run_case(&connect_cases[_i]);
}
END_TEST

START_TEST(t_connack)
{
	run_case(&connack_cases[_i]);
}
END_TEST

START_TEST(t_publish)
{
	run_case(&publish_cases[_i]);
}
END_TEST

START_TEST(t_delivery)
{
	run_case(&delivery_cases[_i]);
}
END_TEST

START_TEST(t_oversize)
{
	run_case(&oversize_cases[_i]);
}
END_TEST

START_TEST(t_subscribe)
{
	run_case(&subscribe_cases[_i]);
}
END_TEST

START_TEST(t_other)
{
	run_case(&other_cases[_i]);
}
END_TEST

/* ---- enforce_keepalive ------------------------------------------------- */

static const struct {
	const char	*name;
	const char	*pol;
	uint16_t	 asked;
	uint16_t	 want;
} keepalive_cases[] = {
	{ "asked for none: limits.max_keepalive", P, 0, 60 },
	{ "asked for more: limits.max_keepalive", P, 61, 60 },
	{ "asked for the maximum: as asked", P, 60, 60 },
	{ "asked for less: as asked", P, 1, 1 },
	{ "the default maximum is an hour", STRICT, 0, 3600 },
	{ "the default maximum bounds 65535 s", STRICT, 65535, 3600 },
};

START_TEST(t_keepalive)
{
	struct config_errors	*e = calloc(1, sizeof(*e));
	struct enforce_state	 st;
	struct policy		*pol;

	ck_assert_ptr_nonnull(e);
	pol = config_load(keepalive_cases[_i].pol, e);
	ck_assert_msg(pol != NULL, "%s", e->msg[0]);
	enforce_init(&st, pol, &pol->listeners[0]);
	ck_assert_msg(enforce_keepalive(&st, keepalive_cases[_i].asked) ==
	    keepalive_cases[_i].want, "%s: %u", keepalive_cases[_i].name,
	    enforce_keepalive(&st, keepalive_cases[_i].asked));
	policy_unref(pol);
	free(e);
}
END_TEST

/*
 * A reload: enforce_rebind() holds the state to the new policy from the
 * next frame: its ACL, the identity's limits laid anew, the subscription
 * set and topic buckets made or dropped as the new limits ask.
 */
START_TEST(t_rebind)
{
	static const uint8_t	 connect[] = { 0x10, 14, 0, 4, 'M', 'Q', 'T',
				    'T', 4, 0x02, 0, 60, 0, 2, 'c', '1' };
	static const uint8_t	 pub[] = { 0x30, 5, 0, 3, 't', '/', 'x' };
	struct config_errors	*e = calloc(1, sizeof(*e));
	struct policy		*p, *strict;
	struct enforce_state	 st;
	struct enforce_verdict	 v;
	struct enforce_env	 env;
	struct auth_decision	 dec;
	struct codec_packet	 pkt;
	struct rec		 rec;
	uint8_t			*f;

	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(p = config_load(P, e));
	ck_assert_ptr_nonnull(strict = config_load(STRICT, e));
	memset(&rec, 0, sizeof(rec));
	memset(&env, 0, sizeof(env));
	env.limits = limits_new();
	env.guard = auth_guard_new();
	env.audit = audit;
	env.arg = &rec;
	memset(&dec, 0, sizeof(dec));
	snprintf(dec.identity, sizeof(dec.identity), "sub");

	enforce_init(&st, p, &p->listeners[0]);
	f = tu_dup_exact(connect, sizeof(connect));
	ck_assert_int_eq(codec_decode(NULL, 0, CODEC_FROM_CLIENT, f,
	    sizeof(connect), sizeof(connect), &pkt), CODEC_OK);
	enforce_connect(&st, &env, &dec, &pkt, 0, &v);
	ck_assert_int_eq(v.action, ENFORCE_REWRITE);
	enforce_verdict_fini(&v);
	free(f);
	ck_assert_uint_eq(st.L->max_subscriptions, 2);
	ck_assert_ptr_nonnull(st.subs);
	ck_assert_ptr_nonnull(st.r_topics);

	f = tu_dup_exact(pub, sizeof(pub));
	ck_assert_int_eq(codec_decode(NULL, 4, CODEC_FROM_CLIENT, f,
	    sizeof(pub), sizeof(pub), &pkt), CODEC_OK);
	pkt.u.publish.resolved = pkt.u.publish.topic;
	enforce_frame(&st, &env, CODEC_FROM_CLIENT, &pkt, 0, &v);
	ck_assert_int_eq(v.action, ENFORCE_FORWARD);	/* P allows t/# */

	ck_assert_int_eq(enforce_rebind(&st, strict, &strict->listeners[0]),
	    0);
	ck_assert_ptr_eq(st.pol, strict);
	ck_assert_uint_eq(st.L->max_subscriptions, 0);
	ck_assert_ptr_null(st.subs);
	ck_assert_ptr_null(st.r_topics);
	enforce_frame(&st, &env, CODEC_FROM_CLIENT, &pkt, 0, &v);
	/* STRICT allows p/# only, and disconnects a 3.x client denied. */
	ck_assert_int_eq(v.action, ENFORCE_CLOSE);
	ck_assert_uint_eq(rec.n, 1);
	ck_assert_int_eq(rec.ev[0].kind, ENFORCE_EV_ACL);

	ck_assert_int_eq(enforce_rebind(&st, p, &p->listeners[0]), 0);
	ck_assert_uint_eq(st.L->max_subscriptions, 2);
	ck_assert_ptr_nonnull(st.subs);
	ck_assert_ptr_nonnull(st.r_topics);
	free(f);
	enforce_fini(&st, &env);
	auth_guard_free(env.guard);
	limits_free(env.limits);
	policy_unref(strict);
	policy_unref(p);
	free(e);
}
END_TEST

/* ---- monitor mode ------------------------------------------------------ */

/*
 * Monitor mode: a decision that would deny passes (FORWARD, or the CONNECT
 * is accepted) with one would-be denial event of its kind, and the same
 * decision again is reported as a repeat (counted, not logged).  MON: the
 * whole policy in monitor mode; MON_RULES: enforce, with a deny rule's
 * monitor: true (line L_MON_RULE), limits.monitor [max_topic_length] and a
 * limits.users entry's [message_rate].  Each case: a CONNECT (3.1.1), a
 * frame first allowed (may be none), then the frame decided; with no
 * frame, the CONNECT itself is the decision.
 */
#define MON		"test/data/enforce-monitor.yaml"
#define MON_RULES	"test/data/enforce-monitor-rules.yaml"
#define L_MON_RULE	10
#define NOT_ACL		(-1)
#define T_PMON		'p', '/', 'm', 'o', 'n', '/', 'a'
#define T_XW		'x', '/', 'w'
#define B(...)		(const uint8_t[]){ __VA_ARGS__ }, LEN(__VA_ARGS__)
#define NONE		NULL, 0

struct mcase {
	const char		*name;
	const char		*pol;
	const char		*who;
	const uint8_t		*conn;
	size_t			 conn_len;
	const uint8_t		*f1;
	size_t			 f1_len;
	enum codec_dir		 dir;
	const uint8_t		*f;
	size_t			 f_len;
	enum enforce_action	 act;
	bool			 would;
	unsigned		 kind;		/* enum metrics_would */
	int			 line;		/* ACL rule; 0 default */
};

#define C_PLAIN		B(CONN4(0x02, 10, S('c')))
#define C_WILL		B(CONN4(0x06, 10, S('c'), S(T_XW), S('m')))

static const struct mcase mon_cases[] = {
	{ "monitor: acl publish, default deny", MON, "u", C_PLAIN, NONE,
	    CODEC_FROM_CLIENT, B(PUB3Q0(T_XY)), ENFORCE_FORWARD, true,
	    METRICS_W_PUBLISH, DEFAULT_DENY },
	{ "monitor: acl subscribe", MON, "u", C_PLAIN, NONE,
	    CODEC_FROM_CLIENT, B(SUB3(1, S(T_XY), 0)), ENFORCE_FORWARD, true,
	    METRICS_W_SUBSCRIBE, DEFAULT_DENY },
	{ "monitor: acl read", MON, "u", C_PLAIN, NONE,
	    CODEC_FROM_SERVER, B(PUB3Q0(T_XY)), ENFORCE_FORWARD, true,
	    METRICS_W_READ, DEFAULT_DENY },
	{ "monitor: acl will", MON, "u", C_WILL, NONE, CODEC_FROM_CLIENT,
	    NONE, ENFORCE_REWRITE, true, METRICS_W_WILL, DEFAULT_DENY },
	{ "monitor: topic bounds", MON, "u", C_PLAIN, NONE,
	    CODEC_FROM_CLIENT, B(PUB3Q0(T_17)), ENFORCE_FORWARD, true,
	    METRICS_W_TOPIC_BOUNDS, NOT_ACL },
	{ "monitor: max_inflight", MON, "u", C_PLAIN, B(PUB3(1, 1, T_PA)),
	    CODEC_FROM_CLIENT, B(PUB3(1, 2, T_PA)), ENFORCE_FORWARD, true,
	    METRICS_W_INFLIGHT, NOT_ACL },
	{ "monitor: message_rate", MON, "rate", C_PLAIN, B(PUB3Q0(T_PA)),
	    CODEC_FROM_CLIENT, B(PUB3Q0(T_PA)), ENFORCE_FORWARD, true,
	    METRICS_W_RATE, NOT_ACL },
	{ "monitor: max_subscriptions", MON, "subs", C_PLAIN,
	    B(SUB3(1, S(T_PA), 0)), CODEC_FROM_CLIENT,
	    B(SUB3(2, S('p', '/', 'b'), 0)), ENFORCE_FORWARD, true,
	    METRICS_W_SUBSCRIPTIONS, NOT_ACL },
	{ "rule monitor: true", MON_RULES, "u", C_PLAIN, NONE,
	    CODEC_FROM_CLIENT, B(PUB3Q0(T_PMON)), ENFORCE_FORWARD, true,
	    METRICS_W_PUBLISH, L_MON_RULE },
	{ "enforce: default deny stays", MON_RULES, "u", C_PLAIN, NONE,
	    CODEC_FROM_CLIENT, B(PUB3Q0(T_XY)), ENFORCE_DROP, false, 0,
	    DEFAULT_DENY },
	{ "enforce: will denied", MON_RULES, "u", C_WILL, NONE,
	    CODEC_FROM_CLIENT, NONE, ENFORCE_CLOSE, false, 0, DEFAULT_DENY },
	{ "limits.monitor: topic bounds", MON_RULES, "u", C_PLAIN, NONE,
	    CODEC_FROM_CLIENT, B(PUB3Q0(T_17)), ENFORCE_FORWARD, true,
	    METRICS_W_TOPIC_BOUNDS, NOT_ACL },
	{ "limits.users monitor: message_rate", MON_RULES, "rate", C_PLAIN,
	    B(PUB3Q0(T_PA)), CODEC_FROM_CLIENT, B(PUB3Q0(T_PA)),
	    ENFORCE_FORWARD, true, METRICS_W_RATE, NOT_ACL },
	{ "enforce: max_inflight stays", MON_RULES, "u", C_PLAIN,
	    B(PUB3(1, 1, T_PA)), CODEC_FROM_CLIENT, B(PUB3(1, 2, T_PA)),
	    ENFORCE_WAIT, false, 0, NOT_ACL },
	{ "enforce: max_subscriptions stays", MON_RULES, "subs", C_PLAIN,
	    B(SUB3(1, S(T_PA), 0)), CODEC_FROM_CLIENT,
	    B(SUB3(2, S('p', '/', 'b'), 0)), ENFORCE_ANSWER, false, 0,
	    NOT_ACL },
};

/* The first event of a monitor step (a refused CONNECT has two). */
struct mon_rec {
	unsigned		 n;
	struct enforce_event	 e;	/* views not kept */
	int			 line;
};

static void
mon_audit(void *arg, const struct enforce_event *e)
{
	struct mon_rec	*r = arg;

	if (r->n++ > 0)
		return;		/* the first is the decision's */
	r->e = *e;
	r->line = e->rule != NULL ? e->rule->line : 0;
}

/* A copy of <b> (the caller frees it) decoded into <p> at <level>. */
static uint8_t *
mon_decode(uint8_t level, enum codec_dir dir, const uint8_t *b, size_t len,
    struct codec_packet *p)
{
	uint8_t	*copy = malloc(len);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, b, len);
	ck_assert_int_eq(codec_decode(NULL, level, dir, copy, len, len, p),
	    CODEC_OK);
	return copy;
}

/* <b> decoded for <st> and decided; the verdict's action. */
static enum enforce_action
mon_step(struct enforce_state *st, const struct enforce_env *env,
    enum codec_dir dir, const uint8_t *b, size_t len, uint64_t now)
{
	struct codec_packet	 p;
	struct enforce_verdict	 v;
	enum enforce_action	 a;
	uint8_t			*copy = mon_decode(st->level, dir, b, len, &p);

	enforce_frame(st, env, dir, &p, now, &v);
	a = v.action;
	enforce_verdict_fini(&v);
	free(copy);
	return a;
}

/*
 * The broker's answer to <b>, a SUBSCRIBE or a QoS 1 PUBLISH the client
 * sent and the verdict let through, so that its packet identifier is free
 * again for the same frame once more.
 */
static void
mon_answer(struct enforce_state *st, const struct enforce_env *env,
    const uint8_t *b, size_t len)
{
	struct codec_packet	 p;
	uint8_t			 ack[64], codes[16] = { 0 };
	uint8_t			*copy = mon_decode(st->level, CODEC_FROM_CLIENT,
				    b, len, &p);
	size_t			 n = 0;

	if (p.type == CODEC_PUBLISH && p.u.publish.qos == 1)
		n = codec_encode_ack(ack, sizeof(ack), st->level, CODEC_PUBACK,
		    p.packet_id, 0, NULL);
	else if (p.type == CODEC_SUBSCRIBE && p.u.list.count <= sizeof(codes))
		n = codec_encode_suback(ack, sizeof(ack), st->level,
		    CODEC_SUBACK, p.packet_id, codes, p.u.list.count);
	free(copy);
	if (n > 0)
		ck_assert_int_ne(mon_step(st, env, CODEC_FROM_SERVER, ack, n,
		    T0), ENFORCE_CLOSE);
}

/* A session of <who> on <pol>: its CONNECT's verdict action. */
static enum enforce_action
mon_connect(struct enforce_state *st, struct auth_decision *dec,
    const struct enforce_env *env, const struct policy *pol,
    const char *who, const uint8_t *b, size_t len)
{
	struct codec_packet	 p;
	struct enforce_verdict	 v;
	enum enforce_action	 a;
	uint8_t			*copy = mon_decode(0, CODEC_FROM_CLIENT, b, len,
				    &p);

	enforce_init(st, pol, &pol->listeners[0]);
	memset(dec, 0, sizeof(*dec));
	snprintf(dec->identity, sizeof(dec->identity), "%s", who);
	enforce_connect(st, env, dec, &p, T0, &v);
	a = v.action;
	enforce_verdict_fini(&v);
	free(copy);
	return a;
}

static void
mon_check(const struct mcase *c, const struct mon_rec *r, bool repeat)
{
	ck_assert_msg(r->n == 1 || (c->f == NULL && !c->would), "%s: %u "
	    "events", c->name, r->n);
	ck_assert_msg(r->e.would == c->would, "%s: would %d", c->name,
	    r->e.would);
	if (c->line != NOT_ACL) {
		ck_assert_int_eq(r->e.kind, ENFORCE_EV_ACL);
		ck_assert_msg(r->line == c->line, "%s: rule line %d",
		    c->name, r->line);
	} else
		ck_assert_int_eq(r->e.kind, ENFORCE_EV_LIMIT);
	if (!c->would)
		return;
	ck_assert_msg(r->e.would_kind == c->kind, "%s: kind %u", c->name,
	    r->e.would_kind);
	ck_assert_msg(r->e.repeat == repeat, "%s: repeat %d", c->name,
	    r->e.repeat);
}

START_TEST(t_monitor)
{
	const struct mcase	*c = &mon_cases[_i];
	struct config_errors	*e = calloc(1, sizeof(*e));
	struct enforce_state	 st;
	struct auth_decision	 dec;
	struct enforce_env	 env;
	struct mon_rec		 r;
	struct policy		*pol;
	enum enforce_action	 a;

	ck_assert_ptr_nonnull(e);
	pol = config_load(c->pol, e);
	ck_assert_msg(pol != NULL, "%s: %s", c->pol, e->msg[0]);
	memset(&env, 0, sizeof(env));
	env.limits = limits_new();
	env.guard = auth_guard_new();
	env.audit = mon_audit;
	env.arg = &r;
	memset(&r, 0, sizeof(r));
	a = mon_connect(&st, &dec, &env, pol, c->who, c->conn, c->conn_len);
	if (c->f == NULL) {
		ck_assert_msg(a == c->act, "%s: CONNECT %d", c->name, a);
		mon_check(c, &r, false);
		goto done;
	}
	ck_assert_msg(a == ENFORCE_REWRITE && r.n == 0, "%s: CONNECT",
	    c->name);
	if (c->f1 != NULL)
		ck_assert_msg(mon_step(&st, &env, c->dir, c->f1, c->f1_len,
		    T0) != ENFORCE_CLOSE && r.n == 0, "%s: first frame",
		    c->name);
	a = mon_step(&st, &env, c->dir, c->f, c->f_len, T0);
	ck_assert_msg(a == c->act, "%s: verdict %d", c->name, a);
	mon_check(c, &r, false);
	if (c->would) {
		if (c->dir == CODEC_FROM_CLIENT && a != ENFORCE_CLOSE)
			mon_answer(&st, &env, c->f, c->f_len);
		r.n = 0;
		a = mon_step(&st, &env, c->dir, c->f, c->f_len, T0);
		ck_assert_msg(a == c->act, "%s: again %d", c->name, a);
		mon_check(c, &r, true);
	}
done:
	enforce_fini(&st, &env);
	auth_guard_free(env.guard);
	limits_free(env.limits);
	policy_unref(pol);
	free(e);
}
END_TEST

/*
 * An ACL would-be denial and a limit's in one session are logged each:
 * a default-deny subscribe, then message_rate, then each again.
 */
START_TEST(t_monitor_kinds_apart)
{
	struct config_errors	*e = calloc(1, sizeof(*e));
	struct enforce_state	 st;
	struct auth_decision	 dec;
	struct enforce_env	 env;
	struct mon_rec		 r;
	struct policy		*mon;
	const uint8_t		 conn[] = { CONN4(0x02, 10, S('c')) };
	const uint8_t		 sub[] = { SUB3(1, S(T_XY), 0) };
	const uint8_t		 pub[] = { PUB3Q0(T_PA) };

	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(mon = config_load(MON, e));
	memset(&env, 0, sizeof(env));
	env.limits = limits_new();
	env.guard = auth_guard_new();
	env.audit = mon_audit;
	env.arg = &r;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(mon_connect(&st, &dec, &env, mon, "rate", conn,
	    sizeof(conn)), ENFORCE_REWRITE);
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, sub,
	    sizeof(sub), T0), ENFORCE_FORWARD);
	ck_assert(r.e.would && !r.e.repeat);
	ck_assert_uint_eq(r.e.would_kind, METRICS_W_SUBSCRIBE);
	mon_answer(&st, &env, sub, sizeof(sub));
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, pub,
	    sizeof(pub), T0), ENFORCE_FORWARD);
	r.n = 0;
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, pub,
	    sizeof(pub), T0), ENFORCE_FORWARD);
	ck_assert(r.n == 1 && r.e.would && !r.e.repeat);
	ck_assert_uint_eq(r.e.would_kind, METRICS_W_RATE);
	r.n = 0;
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, sub,
	    sizeof(sub), T0), ENFORCE_FORWARD);
	ck_assert(r.e.would && r.e.repeat);
	enforce_fini(&st, &env);
	auth_guard_free(env.guard);
	limits_free(env.limits);
	policy_unref(mon);
	free(e);
}
END_TEST

/* A reload from monitor to enforce: the open session is held to it. */
START_TEST(t_monitor_rebind)
{
	struct config_errors	*e = calloc(1, sizeof(*e));
	struct enforce_state	 st;
	struct auth_decision	 dec;
	struct enforce_env	 env;
	struct mon_rec		 r;
	struct policy		*mon, *enf;
	const uint8_t		 conn[] = { CONN4(0x02, 10, S('c')) };
	const uint8_t		 pub[] = { PUB3Q0(T_XY) };

	ck_assert_ptr_nonnull(e);
	mon = config_load(MON, e);
	enf = config_load(MON_RULES, e);
	ck_assert(mon != NULL && enf != NULL);
	memset(&env, 0, sizeof(env));
	env.limits = limits_new();
	env.guard = auth_guard_new();
	env.audit = mon_audit;
	env.arg = &r;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(mon_connect(&st, &dec, &env, mon, "u", conn,
	    sizeof(conn)), ENFORCE_REWRITE);
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, pub,
	    sizeof(pub), T0), ENFORCE_FORWARD);
	ck_assert(r.e.would);
	ck_assert_int_eq(enforce_rebind(&st, enf, &enf->listeners[0]), 0);
	r.n = 0;
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, pub,
	    sizeof(pub), T0), ENFORCE_DROP);
	ck_assert(!r.e.would);
	/* and back: a would-be denial is logged anew after a reload */
	ck_assert_int_eq(enforce_rebind(&st, mon, &mon->listeners[0]), 0);
	r.n = 0;
	ck_assert_int_eq(mon_step(&st, &env, CODEC_FROM_CLIENT, pub,
	    sizeof(pub), T0), ENFORCE_FORWARD);
	ck_assert(r.e.would && !r.e.repeat);
	enforce_fini(&st, &env);
	auth_guard_free(env.guard);
	limits_free(env.limits);
	policy_unref(mon);
	policy_unref(enf);
	free(e);
}
END_TEST

Suite *
enforce_suite(void)
{
	Suite	*s = suite_create("enforce");
	TCase	*tc = tcase_create("connect");
	TCase	*ta = tcase_create("connack");
	TCase	*tp = tcase_create("publish");
	TCase	*td = tcase_create("delivery");
	TCase	*to = tcase_create("oversize");
	TCase	*ts = tcase_create("subscribe");
	TCase	*tx = tcase_create("other");
	TCase	*tm = tcase_create("monitor");

	tcase_add_loop_test(tc, t_connect, 0, (int)NELEM(connect_cases));
	suite_add_tcase(s, tc);
	tcase_add_loop_test(ta, t_connack, 0, (int)NELEM(connack_cases));
	tcase_add_loop_test(ta, t_keepalive, 0, (int)NELEM(keepalive_cases));
	suite_add_tcase(s, ta);
	tcase_add_loop_test(tp, t_publish, 0, (int)NELEM(publish_cases));
	suite_add_tcase(s, tp);
	tcase_add_loop_test(td, t_delivery, 0, (int)NELEM(delivery_cases));
	suite_add_tcase(s, td);
	tcase_add_loop_test(to, t_oversize, 0, (int)NELEM(oversize_cases));
	suite_add_tcase(s, to);
	tcase_add_loop_test(ts, t_subscribe, 0, (int)NELEM(subscribe_cases));
	suite_add_tcase(s, ts);
	tcase_add_loop_test(tx, t_other, 0, (int)NELEM(other_cases));
	tcase_add_test(tx, t_rebind);
	suite_add_tcase(s, tx);
	tcase_add_loop_test(tm, t_monitor, 0, (int)NELEM(mon_cases));
	tcase_add_test(tm, t_monitor_rebind);
	tcase_add_test(tm, t_monitor_kinds_apart);
	suite_add_tcase(s, tm);
	return s;
}
