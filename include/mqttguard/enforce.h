/* SPDX-License-Identifier: ISC */
/*
 * enforce — every policy decision on a session's frames, as a verdict.
 *
 * Pure in the sense that matters here: no sockets, no libevent, no clock,
 * no logging.  Each function takes the session's enforcement state (its
 * identity, buckets and counters, below), one decoded frame and the time,
 * and says what to do with the frame: forward it, drop it, answer its
 * sender, send rewritten bytes onward, let it wait, or end the session.
 * session.c only executes the verdicts; test/check_enforce.c drives these
 * functions with byte arrays for 3.1, 3.1.1 and 5.0.
 *
 * What a decision touches besides <st>: the shared per-user buckets and
 * caps (limits.c, behind its own mutex) and the client-id registry
 * (auth.c), both handed in through struct enforce_env.  Audit events (an
 * ACL denial, a limit hit) are reported through env->audit, once each, as
 * they are decided; the caller logs and counts them.
 *
 * Every frame with a packet identifier is first checked against the
 * identifiers in use (pktid.h): one illegal in that state never goes on
 * (from the client, the session ends: 5.0 DISCONNECT 0x82; from the
 * broker, it is dropped).  Then, on a client PUBLISH: the payload format,
 * the inflight window, topic bounds, rates (all buckets or none), ACL.  A
 * frame that waits is checked again from the start when it is read again.
 */
#ifndef MQTTGUARD_ENFORCE_H
#define MQTTGUARD_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttguard/acl.h"
#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/limits.h"
#include "mqttguard/metrics.h"
#include "mqttguard/pktid.h"
#include "mqttguard/policy.h"

#define ENFORCE_MERGES_MAX	32	/* SUBSCRIBEs awaiting a merged SUBACK */
#define ENFORCE_INLINE		16	/* answers that fit the verdict itself */
#define ENFORCE_TEXT_MAX	320	/* an audit event's text */
#define ENFORCE_WARNED_MAX	8	/* would-be denials logged, per
					   session, before older ones may
					   be logged again */

enum enforce_action {
	ENFORCE_FORWARD = 0,	/* pass the frame on as it is */
	ENFORCE_DROP,		/* consume it; nothing is sent */
	ENFORCE_ANSWER,		/* consume it; out goes back to its sender */
	ENFORCE_REWRITE,	/* consume it; out goes on instead of it */
	ENFORCE_WAIT,		/* leave it unread: wait_ms, or (0) until
				   enforce_ack() says a slot is free */
	ENFORCE_CLOSE		/* end the session: see code and abort */
};

/*
 * A verdict.  <out> points into <inl> or <heap>; enforce_verdict_fini()
 * frees <heap>.  For ENFORCE_CLOSE, <code> is the 5.0 reason code the
 * client is told (DISCONNECT once the session is up, CONNACK before; 0:
 * nothing is sent) and <abort> says not to flush queued bytes (an
 * internal failure).  <reason> is a static string for the close log.
 */
struct enforce_verdict {
	enum enforce_action	 action;
	uint8_t			 code;
	bool			 abort;
	bool			 resume;	/* an inflight slot was freed */
	const char		*reason;
	uint64_t		 wait_ms;
	const uint8_t		*out;
	size_t			 out_len;
	uint8_t			 inl[ENFORCE_INLINE];
	uint8_t			*heap;		/* owned */
	bool			 will_clamped;	/* enforce_connect(): the
						   will's delay went out
						   as will_delay seconds */
	uint32_t		 will_delay;
};

enum enforce_event_kind {
	ENFORCE_EV_ACL,		/* the ACL denied action on topic */
	ENFORCE_EV_LIMIT,	/* a limit was hit: text says which */
	ENFORCE_EV_REFUSE,	/* a CONNECT refused after authentication */
	ENFORCE_EV_PROTOCOL	/* a frame illegal in the session's state:
				   err says which rule, dir who sent it */
};

/*
 * One audit event.  Views (<topic>, <text>) are valid during the
 * callback only.  <quiet>: one of many possible repeats (a throttled or
 * dropped PUBLISH, a refused filter); the caller logs such events at a
 * bounded rate.
 *
 * <would>: a denial in monitor mode (mode: monitor, a rule's monitor:
 * true, limits.monitor): the frame passed.  It is counted under
 * <would_kind> (enum metrics_would) instead of <metric>, and <repeat>
 * says this session already had it logged for the same rule or limit.
 */
struct enforce_event {
	enum enforce_event_kind	 kind;
	enum metric		 metric;	/* the counter to bump */
	bool			 quiet;
	enum acl_action		 action;	/* ACL */
	const uint8_t		*topic;		/* ACL */
	size_t			 topic_len;
	const struct acl_rule	*rule;		/* ACL; NULL: default deny */
	const char		*text;		/* LIMIT, REFUSE, PROTOCOL */
	enum codec_err		 err;		/* PROTOCOL */
	enum codec_dir		 dir;		/* PROTOCOL */
	uint8_t			 code;		/* the 5.0 reason code of the
						   answer; 0: none */
	bool			 would;
	bool			 repeat;
	unsigned		 would_kind;	/* enum metrics_would */
};

/* What observation (audit.observe) records of a session's actions. */
enum enforce_obs_action {
	ENFORCE_OBS_PUBLISH = 0,
	ENFORCE_OBS_SUBSCRIBE,
	ENFORCE_OBS_WILL
};

enum enforce_obs_verdict {
	ENFORCE_OBS_ALLOWED = 0,
	ENFORCE_OBS_DENIED,
	ENFORCE_OBS_WOULD_DENY
};

/*
 * One action seen, with the ACL's verdict on it: views valid during the
 * callback only.
 */
struct enforce_obs {
	const char		*identity;
	const uint8_t		*client_id;
	size_t			 client_id_len;
	enum enforce_obs_action	 action;
	const uint8_t		*topic;
	size_t			 topic_len;
	enum enforce_obs_verdict verdict;
};

/* What a decision may reach besides the session's own state. */
struct enforce_env {
	struct limits		*limits;	/* shared caps and buckets */
	struct auth_guard	*guard;		/* client-id registry */
	void			(*audit)(void *arg,
				    const struct enforce_event *);
	void			*arg;
	/* With the policy's audit.observe; NULL: nothing is observed. */
	void			(*observe)(void *arg,
				    const struct enforce_obs *);
};

/* A would-be denial already logged: a deciding rule or a limit's bit. */
struct enforce_warned {
	const void	*rule;
	unsigned	 kind;
};

/*
 * A SUBSCRIBE forwarded without the filters the ACL or a cap refused:
 * the broker's SUBACK is merged back with the failure codes, in the
 * original order.
 */
struct enforce_merge {
	uint16_t	 id;		/* packet identifier */
	uint16_t	 n;		/* filters in the client's SUBSCRIBE */
	uint8_t		*codes;		/* owned; n codes, 0: the broker's */
	uint8_t		*added;		/* owned; filters new to subs, each:
					   position (2), length (2), bytes;
					   forgotten if the broker refuses */
	size_t		 added_len;
};

/*
 * A session's enforcement state: the identity once decided, the limits in
 * force, buckets and counters.  Owned by the session; enforce_init() and
 * enforce_fini() bracket it.  <pol> and <lis> are borrowed: the session
 * holds the policy reference.
 */
struct enforce_state {
	const struct policy		*pol;
	const struct policy_listener	*lis;
	const struct policy_limits	*L;	/* the listener's, then the
						   identity's once decided */
	struct policy_limits		*own_lim;	/* owned; L when the
						   identity has its own */
	uint8_t				 level;	/* CODEC_V31/V311/V5 */
	const char			*identity;	/* "" before auth */
	const uint8_t			*client_id;	/* claimed; owned */
	size_t				 client_id_len;
	bool				 claimed;	/* in the registry */
	bool				 decided;	/* CONNECT accepted */
	bool				 persistent;	/* outlives the TCP
						   connection at the broker */
	struct limits_bucket		 r_msgs, r_bytes, r_subs;
	struct limits_bucket		*r_topics;	/* owned; 2 per rule */
	struct limits_user		*user;		/* shared entry held */
	struct limits_subs		*subs;		/* owned; with a cap */
	struct pktid_state		 ids;	/* owned: packet ids in use,
						   both ways; the inflight
						   window counts from it */
	bool				 inflight_wait;	/* 3.x held for it */
	struct enforce_merge		*merges;	/* owned */
	unsigned			 n_merges, cap_merges;
	uint8_t				 max_qos;	/* the broker's (5.0) */
	bool				 retain_ok;	/* the broker's (5.0) */
	uint16_t			 keepalive;	/* enforced, seconds */
	uint16_t			 keepalive_asked;
	struct enforce_warned		 warned[ENFORCE_WARNED_MAX];
	unsigned			 n_warned;	/* ever; the slot
						   is n_warned % MAX */
	struct acl_cache		 acl_cache;	/* recent ACL
						   verdicts: only what
						   acl_check() says, never
						   what monitor mode or
						   audit make of it */
};

/* Starts <st> for a connection on <lis> of <pol>. */
void	enforce_init(struct enforce_state *st, const struct policy *pol,
	    const struct policy_listener *lis);
/*
 * A reload: <st> is held to <pol> and its listener <lis> (both borrowed,
 * as for enforce_init()) from the next frame.  Once the identity is
 * decided its limits are laid anew, the topic-rate buckets start full,
 * and a subscription set is made or dropped as limits.max_subscriptions
 * now asks (a new set knows only the filters subscribed from now on).
 * -1 on ENOMEM: <st> then keeps the old policy.
 */
int	enforce_rebind(struct enforce_state *st, const struct policy *pol,
	    const struct policy_listener *lis);
/* Releases what <st> holds: the user entry, the client id, memory. */
void	enforce_fini(struct enforce_state *st, const struct enforce_env *env);
void	enforce_verdict_fini(struct enforce_verdict *v);

/*
 * The keepalive the proxy enforces for a client that asked for <asked>
 * seconds: the policy's maximum when it asked for none or for more.
 */
uint16_t enforce_keepalive(const struct enforce_state *st, uint16_t asked);

/*
 * A CONNECT whose identity is decided (<dec>, kept by the caller for the
 * session's life): <pkt> is the CONNECT decoded from the copy the caller
 * holds.  Checks the will topic against the ACL, lays the identity's
 * limits over the listener's and admits it to its per-user caps, claims
 * the client id, and on success returns ENFORCE_REWRITE with the CONNECT
 * for the broker (the identity as username, the client's password
 * replaced by auth.upstream_password or removed, a 5.0 Maximum Packet
 * Size, a Will Delay Interval no longer than the Session Expiry
 * Interval: v->will_clamped, counted, for the caller to log).  A
 * refusal is ENFORCE_CLOSE with the 5.0 CONNACK reason code and an
 * ENFORCE_EV_REFUSE event (metric M_LIMIT_USER for a per-user cap,
 * M_AUTH_FAILED otherwise).  The caller sets st->keepalive (see
 * enforce_keepalive()) once the CONNECT is on its way.
 */
void	enforce_connect(struct enforce_state *st,
	    const struct enforce_env *env, const struct auth_decision *dec,
	    const struct codec_packet *pkt, uint64_t now,
	    struct enforce_verdict *v);

/*
 * The broker's CONNACK (a 5.0 one accepting the client; others are
 * forwarded): its Maximum QoS and Retain Available hold the client from
 * then on (a PUBLISH over them: DISCONNECT 0x9B, 0x9A); the client is told the proxy's Maximum Packet Size,
 * Receive Maximum, Topic Alias Maximum and the Server Keep Alive it
 * enforces.  ENFORCE_REWRITE; st->keepalive may drop to the broker's
 * Server Keep Alive, and *alias_max (0: unchanged) is the Topic Alias
 * Maximum the client is now held to: the lower of the broker's and
 * limits.max_topic_aliases, when both are set.
 */
void	enforce_connack(struct enforce_state *st,
	    const struct codec_packet *pkt, uint16_t *alias_max,
	    struct enforce_verdict *v);

/*
 * Any other valid frame of an open session, from <dir>.  CONNECT and
 * CONNACK are not for this function.
 */
void	enforce_frame(struct enforce_state *st, const struct enforce_env *env,
	    enum codec_dir dir, const struct codec_packet *pkt, uint64_t now,
	    struct enforce_verdict *v);

/*
 * Whether the payload of the client's frame <pkt> must be checked as
 * UTF-8: a 5.0 PUBLISH with Payload Format Indicator 1, when
 * limits.validate_payload_format asks.
 */
bool	enforce_payload_utf8(const struct enforce_state *st,
	    const struct codec_packet *pkt);

/*
 * A client's 5.0 PUBLISH <pkt> with Payload Format Indicator 1 whose
 * payload the caller found not to be UTF-8 (limits.validate_payload_format
 * asks it to look): never forwarded.  QoS 1/2: ENFORCE_ANSWER, PUBACK or
 * PUBREC 0x99 (payload format invalid); QoS 0: ENFORCE_CLOSE 0x99
 * [MQTT-3.3.2-4].  The packet identifier is checked first, as for
 * enforce_frame().  An ENFORCE_EV_PROTOCOL event either way.
 */
void	enforce_bad_payload(struct enforce_state *st,
	    const struct enforce_env *env, const struct codec_packet *pkt,
	    struct enforce_verdict *v);

/*
 * A 3.x client's delivery over its max_packet_size, of which only the
 * head was decoded: QoS <qos>, packet id <id>, <size> bytes.  The proxy
 * drops it and finishes its QoS flow towards the broker:
 * ENFORCE_ANSWER (QoS 1/2) or ENFORCE_DROP, with an event.
 */
void	enforce_oversize_delivery(struct enforce_state *st,
	    const struct enforce_env *env, unsigned qos, uint16_t id,
	    size_t size, struct enforce_verdict *v);

#endif
