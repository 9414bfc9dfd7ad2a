/* SPDX-License-Identifier: ISC */
/*
 * pktid — the packet identifiers in use on one connection, both ways.
 *
 * Each side of an MQTT connection numbers its own QoS 1/2 PUBLISHes (and,
 * the client, its SUBSCRIBEs and UNSUBSCRIBEs); an identifier is in use
 * from the packet that opens a flow until the acknowledgement that ends
 * it: PUBACK for QoS 1, PUBCOMP (or a 5.0 PUBREC failing) for QoS 2,
 * SUBACK, UNSUBACK.  This module keeps, per originator, the identifiers in
 * use and the phase of each QoS 2 flow (PUBLISH sent, PUBREC seen, PUBREL
 * seen), and says of each frame whether it is legal in that state:
 *
 *   - a PUBLISH, SUBSCRIBE or UNSUBSCRIBE with an identifier in use is
 *     PKTID_IN_USE [MQTT-2.2.1-3], except a PUBLISH resent with DUP 1
 *     and the same QoS before its PUBREL [MQTT-3.3.1-1];
 *   - PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK for an identifier
 *     not in the matching phase is PKTID_UNKNOWN (a QoS 1 delivery
 *     answered with PUBREC, a QoS 2 one with PUBACK, ...);
 *   - a side whose session resumed (pktid_resume()) may finish, with a
 *     PUBREL, a QoS 2 flow begun on an earlier connection [MQTT-4.4.0-1].
 *
 * Pure: no I/O, clock, logging or globals.  pktid_check() only looks;
 * pktid_apply() records a frame the caller passes on.  pktid_step() is
 * both, for a caller (a fuzzer, a test) with nothing to decide between.
 * Memory follows the identifiers in use, never more than the caps given
 * (pktid_cap()): about 8 bytes per identifier.  Used by enforce.c.
 */
#ifndef MQTTGUARD_PKTID_H
#define MQTTGUARD_PKTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttguard/codec.h"

#define PKTID_SUBS_MAX	1024	/* SUBSCRIBE/UNSUBSCRIBE awaiting answer */

/* The phase of one identifier in use. */
enum pktid_phase {
	PKTID_FREE = 0,
	PKTID_QOS1,		/* QoS 1 PUBLISH, awaiting PUBACK */
	PKTID_QOS2_SENT,	/* QoS 2 PUBLISH, awaiting PUBREC */
	PKTID_QOS2_REC,		/* PUBREC seen, awaiting PUBREL */
	PKTID_QOS2_REL,		/* PUBREL seen, awaiting PUBCOMP */
	PKTID_SUB,		/* SUBSCRIBE, awaiting SUBACK */
	PKTID_UNSUB		/* UNSUBSCRIBE, awaiting UNSUBACK */
};

enum pktid_verdict {
	PKTID_OK = 0,		/* legal: pass it on */
	PKTID_ANSWER,		/* legal, a PUBREL ending a flow the proxy
				   answered itself (pktid_answer()): the
				   proxy sends the PUBCOMP */
	PKTID_IN_USE,		/* a new flow with an identifier in use */
	PKTID_UNKNOWN,		/* an answer for no flow in that phase */
	PKTID_FULL,		/* more identifiers in use than the cap */
	PKTID_NOMEM		/* pktid_apply(): out of memory */
};

struct pktid_entry {
	uint16_t	id;		/* 0: empty slot */
	uint8_t		phase;		/* enum pktid_phase */
	uint8_t		flags;		/* PKTID_F_* */
};

#define PKTID_F_LOCAL	0x01	/* the proxy answered it: its PUBREL is
				   answered by the proxy too */
#define PKTID_F_OLD	0x02	/* resumed from an earlier connection */

/* The identifiers one side originated: an open-addressing table. */
struct pktid_table {
	struct pktid_entry	*slot;		/* owned; nslots entries */
	uint32_t		 nslots;	/* 0 or a power of two */
	uint32_t		 used;
	uint32_t		 n_pub;		/* PUBLISH flows, any phase */
	uint32_t		 n_old;		/* of those, PKTID_F_OLD */
	uint32_t		 n_inflight;	/* PUBLISH flows not old, not
						   answered by the proxy */
	uint32_t		 n_early;	/* of those, before PUBREC */
	uint32_t		 n_subs;	/* SUB and UNSUB */
	uint32_t		 cap;		/* PUBLISH flows at most, old
						   ones apart (and as many) */
	bool			 resumed;	/* may PUBREL unknown ids */
};

/* Indexed by the originator: CODEC_FROM_CLIENT, CODEC_FROM_SERVER. */
struct pktid_state {
	struct pktid_table	t[2];
};

/* An empty state; caps 65535 (the protocol's own bound). */
void	pktid_init(struct pktid_state *st);
/* Frees what <st> holds; <st> is empty again after. */
void	pktid_fini(struct pktid_state *st);
/*
 * At most <cap> (1..65535; 0 means 65535) QoS 1/2 PUBLISH flows opened by
 * <dir> at once: a Receive Maximum, or a configured bound.  Flows already
 * open stay.
 */
void	pktid_cap(struct pktid_state *st, enum codec_dir dir, unsigned cap);
/*
 * <dir> resumes a session: a PUBREL from it for an identifier with no
 * flow opens one in PUBREL phase (flagged PKTID_F_OLD) instead of being
 * PKTID_UNKNOWN.
 */
void	pktid_resume(struct pktid_state *st, enum codec_dir dir, bool on);

/*
 * Whether a frame of <type> with identifier <id> from <dir> is legal now.
 * <qos> and <dup> matter for PUBLISH only (QoS 0 is always PKTID_OK),
 * <reason> for a 5.0 PUBREC (>= 0x80 ends the flow); other types without
 * an identifier are PKTID_OK.  Changes nothing.
 */
enum pktid_verdict pktid_check(const struct pktid_state *st,
	    enum codec_dir dir, uint8_t type, uint16_t id, uint8_t qos,
	    bool dup, uint8_t reason);
/*
 * Records a frame pktid_check() found PKTID_OK or PKTID_ANSWER, as it
 * goes on (the answer, for PKTID_ANSWER).  Returns PKTID_OK or
 * PKTID_NOMEM (nothing recorded).
 */
enum pktid_verdict pktid_apply(struct pktid_state *st, enum codec_dir dir,
	    uint8_t type, uint16_t id, uint8_t qos, bool dup, uint8_t reason);
/* pktid_check(), then pktid_apply() when legal. */
enum pktid_verdict pktid_step(struct pktid_state *st, enum codec_dir dir,
	    uint8_t type, uint16_t id, uint8_t qos, bool dup, uint8_t reason);
/*
 * The proxy answered <dir>'s QoS <qos> PUBLISH <id> itself (it is not
 * forwarded), with a PUBACK or PUBREC of <reason>.  A QoS 2 one accepted
 * stays in use, PUBREC phase, until its PUBREL, which pktid_check() then
 * calls PKTID_ANSWER.  Check the PUBLISH first.  PKTID_OK or PKTID_NOMEM.
 */
enum pktid_verdict pktid_answer(struct pktid_state *st, enum codec_dir dir,
	    uint8_t qos, uint16_t id, uint8_t reason);

/* The phase of <dir>'s identifier <id>: PKTID_FREE when not in use. */
enum pktid_phase pktid_phase(const struct pktid_state *st,
	    enum codec_dir dir, uint16_t id);
/*
 * Whether <dir>'s PUBLISH <id> went to the other side, which has not
 * finished it (PUBLISH forwarded, no PUBACK, PUBREC at most): a resend
 * of it is that side's to answer, not the proxy's.
 */
bool		pktid_forwarded(const struct pktid_state *st,
	    enum codec_dir dir, uint16_t id);
/*
 * <dir>'s PUBLISH flows the other side still owes an answer to, as a
 * 5.0 Receive Maximum counts them (until PUBACK, PUBCOMP or a failing
 * PUBREC); with <early>, only those before PUBREC.  Flows resumed from an
 * earlier connection and those the proxy answered do not count.
 */
unsigned pktid_inflight(const struct pktid_state *st, enum codec_dir dir,
	    bool early);
const char *pktid_verdict_str(enum pktid_verdict);

#endif
