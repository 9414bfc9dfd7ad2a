/* SPDX-License-Identifier: ISC */
/*
 * pktid — packet identifiers in use on one connection, per originator.
 *
 * Each originator's identifiers live in a small open-addressing table
 * (linear probing, deletion by backward shift), grown by doubling while
 * more than half full and freed when it empties, so an idle session holds
 * nothing.  The counters beside it (flows, inflight, subscriptions) are
 * kept by account(), which adds or takes one entry's share: every change
 * of an entry is "take its share, change it, add its share back".
 *
 * The rules are in the header.  The caps are the caller's: a Receive
 * Maximum or a policy bound; PKTID_SUBS_MAX bounds pending SUBSCRIBEs and
 * UNSUBSCRIBEs.  Nothing here logs or allocates but the table.
 */
#include <stdlib.h>
#include <string.h>

#include "mqttguard/pktid.h"

#define PKTID_MIN_SLOTS	8

static struct pktid_entry	*find(const struct pktid_table *, uint16_t);
static struct pktid_entry	*add(struct pktid_table *, uint16_t);
static void	 del(struct pktid_table *, struct pktid_entry *);
static void	 account(struct pktid_table *, const struct pktid_entry *,
		    int);
static void	 set(struct pktid_table *, struct pktid_entry *, uint8_t,
		    uint8_t);
static enum pktid_verdict publish_check(const struct pktid_table *,
		    uint16_t, uint8_t, bool);
static enum pktid_verdict pubrel_check(const struct pktid_table *,
		    uint16_t);
static enum pktid_verdict answer_check(const struct pktid_table *,
		    uint8_t, uint16_t);

void
pktid_init(struct pktid_state *st)
{
	memset(st, 0, sizeof(*st));
	st->t[0].cap = st->t[1].cap = 65535;
}

void
pktid_fini(struct pktid_state *st)
{
	free(st->t[0].slot);
	free(st->t[1].slot);
	pktid_init(st);
}

void
pktid_cap(struct pktid_state *st, enum codec_dir dir, unsigned cap)
{
	st->t[dir].cap = cap == 0 || cap > 65535 ? 65535 : cap;
}

void
pktid_resume(struct pktid_state *st, enum codec_dir dir, bool on)
{
	st->t[dir].resumed = on;
}

static uint32_t
slot_of(const struct pktid_table *t, uint16_t id)
{
	return ((uint32_t)id * 40503u >> 3) & (t->nslots - 1);
}

/* <id>'s entry in <t>, or NULL. */
static struct pktid_entry *
find(const struct pktid_table *t, uint16_t id)
{
	uint32_t	i;

	if (t->nslots == 0 || id == 0)
		return NULL;
	for (i = slot_of(t, id); t->slot[i].id != 0;
	    i = (i + 1) & (t->nslots - 1))
		if (t->slot[i].id == id)
			return &t->slot[i];
	return NULL;
}

/* A new, free entry for <id> (not in <t>), or NULL on ENOMEM. */
static struct pktid_entry *
add(struct pktid_table *t, uint16_t id)
{
	struct pktid_entry	*old = t->slot, *ns;
	uint32_t		 n = t->nslots, i, j;

	if ((t->used + 1) * 2 > t->nslots) {
		n = t->nslots ? t->nslots * 2 : PKTID_MIN_SLOTS;
		if ((ns = calloc(n, sizeof(*ns))) == NULL)
			return NULL;
		t->slot = ns;
		t->nslots = n;
		for (j = 0; old != NULL && j < n / 2; j++) {
			if (old[j].id == 0)
				continue;
			for (i = slot_of(t, old[j].id); ns[i].id != 0;
			    i = (i + 1) & (n - 1))
				;
			ns[i] = old[j];
		}
		free(old);
	}
	for (i = slot_of(t, id); t->slot[i].id != 0; i = (i + 1) & (n - 1))
		;
	t->slot[i].id = id;
	t->slot[i].phase = PKTID_FREE;
	t->slot[i].flags = 0;
	t->used++;
	return &t->slot[i];
}

/* Removes <e> from <t>, shifting back the run after it. */
static void
del(struct pktid_table *t, struct pktid_entry *e)
{
	uint32_t	mask = t->nslots - 1, i, j, home;

	account(t, e, -1);
	i = (uint32_t)(e - t->slot);
	t->slot[i].id = 0;
	for (j = (i + 1) & mask; t->slot[j].id != 0; j = (j + 1) & mask) {
		home = slot_of(t, t->slot[j].id);
		/* Moves j to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		t->slot[i] = t->slot[j];
		t->slot[j].id = 0;
		i = j;
	}
	if (--t->used == 0 && t->nslots > PKTID_MIN_SLOTS) {
		free(t->slot);
		t->slot = NULL;
		t->nslots = 0;
	}
}

/* Adds (<sign> 1) or takes (-1) <e>'s share of <t>'s counters. */
static void
account(struct pktid_table *t, const struct pktid_entry *e, int sign)
{
	uint32_t	d = (uint32_t)sign;

	switch (e->phase) {
	case PKTID_SUB:
	case PKTID_UNSUB:
		t->n_subs += d;
		return;
	case PKTID_FREE:
		return;
	default:
		break;
	}
	t->n_pub += d;
	if (e->flags & PKTID_F_OLD)
		t->n_old += d;
	if (e->flags & (PKTID_F_LOCAL | PKTID_F_OLD))
		return;
	t->n_inflight += d;
	if (e->phase == PKTID_QOS1 || e->phase == PKTID_QOS2_SENT)
		t->n_early += d;
}

static void
set(struct pktid_table *t, struct pktid_entry *e, uint8_t phase,
    uint8_t flags)
{
	account(t, e, -1);
	e->phase = phase;
	e->flags = flags;
	account(t, e, 1);
}

static enum pktid_verdict
publish_check(const struct pktid_table *t, uint16_t id, uint8_t qos, bool dup)
{
	const struct pktid_entry	*e = find(t, id);

	if (e == NULL) {
		return t->n_pub - t->n_old >= t->cap ? PKTID_FULL :
		    PKTID_OK;
	}
	if (!dup)
		return PKTID_IN_USE;
	/* A resend: same QoS, and before the PUBREL for QoS 2. */
	if (qos == 1 && e->phase == PKTID_QOS1)
		return PKTID_OK;
	if (qos == 2 && (e->phase == PKTID_QOS2_SENT ||
	    e->phase == PKTID_QOS2_REC))
		return PKTID_OK;
	return PKTID_IN_USE;
}

static enum pktid_verdict
pubrel_check(const struct pktid_table *t, uint16_t id)
{
	const struct pktid_entry	*e = find(t, id);

	if (e == NULL) {
		if (!t->resumed)
			return PKTID_UNKNOWN;
		/* Flows of earlier connections, bounded as new ones. */
		return t->n_old >= t->cap ? PKTID_FULL : PKTID_OK;
	}
	if (e->phase == PKTID_QOS2_REC)
		return e->flags & PKTID_F_LOCAL ? PKTID_ANSWER : PKTID_OK;
	if (e->phase == PKTID_QOS2_REL)
		return PKTID_OK;	/* sent again */
	return PKTID_UNKNOWN;
}

/* An answer of <type> to the flow <id> of <t>'s originator. */
static enum pktid_verdict
answer_check(const struct pktid_table *t, uint8_t type, uint16_t id)
{
	const struct pktid_entry	*e = find(t, id);

	if (e == NULL)
		return PKTID_UNKNOWN;
	switch (type) {
	case CODEC_PUBACK:
		return e->phase == PKTID_QOS1 ? PKTID_OK : PKTID_UNKNOWN;
	case CODEC_PUBREC:
		/* Again after a resent PUBLISH, if its receiver sent it. */
		return e->phase == PKTID_QOS2_SENT ||
		    (e->phase == PKTID_QOS2_REC &&
		    !(e->flags & PKTID_F_LOCAL)) ? PKTID_OK : PKTID_UNKNOWN;
	case CODEC_PUBCOMP:
		return e->phase == PKTID_QOS2_REL &&
		    !(e->flags & PKTID_F_LOCAL) ? PKTID_OK : PKTID_UNKNOWN;
	case CODEC_SUBACK:
		return e->phase == PKTID_SUB ? PKTID_OK : PKTID_UNKNOWN;
	case CODEC_UNSUBACK:
		return e->phase == PKTID_UNSUB ? PKTID_OK : PKTID_UNKNOWN;
	}
	return PKTID_UNKNOWN;
}

enum pktid_verdict
pktid_check(const struct pktid_state *st, enum codec_dir dir, uint8_t type,
    uint16_t id, uint8_t qos, bool dup, uint8_t reason)
{
	const struct pktid_table	*own = &st->t[dir], *peer = &st->t[!dir];

	(void)reason;
	switch (type) {
	case CODEC_PUBLISH:
		return qos == 0 ? PKTID_OK : publish_check(own, id, qos, dup);
	case CODEC_SUBSCRIBE:
	case CODEC_UNSUBSCRIBE:
		if (find(own, id) != NULL)
			return PKTID_IN_USE;
		return own->n_subs >= PKTID_SUBS_MAX ? PKTID_FULL : PKTID_OK;
	case CODEC_PUBREL:
		return pubrel_check(own, id);
	case CODEC_PUBACK:
	case CODEC_PUBREC:
	case CODEC_PUBCOMP:
	case CODEC_SUBACK:
	case CODEC_UNSUBACK:
		return answer_check(peer, type, id);
	default:
		return PKTID_OK;
	}
}

enum pktid_verdict
pktid_apply(struct pktid_state *st, enum codec_dir dir, uint8_t type,
    uint16_t id, uint8_t qos, bool dup, uint8_t reason)
{
	struct pktid_table	*t = &st->t[dir];
	struct pktid_entry	*e;

	(void)dup;
	if (type == CODEC_PUBACK || type == CODEC_PUBREC ||
	    type == CODEC_PUBCOMP || type == CODEC_SUBACK ||
	    type == CODEC_UNSUBACK)
		t = &st->t[!dir];
	if ((type == CODEC_PUBLISH && qos == 0) || id == 0)
		return PKTID_OK;
	e = find(t, id);
	switch (type) {
	case CODEC_PUBLISH:
	case CODEC_SUBSCRIBE:
	case CODEC_UNSUBSCRIBE:
	case CODEC_PUBREL:
		if (e == NULL && (e = add(t, id)) == NULL)
			return PKTID_NOMEM;
		break;
	default:
		if (e == NULL)
			return PKTID_OK;
		break;
	}
	switch (type) {
	case CODEC_PUBLISH:
		/* A resend keeps its phase, unless the broker gets it now. */
		if (e->phase == PKTID_FREE || (e->flags & PKTID_F_LOCAL))
			set(t, e, qos == 1 ? PKTID_QOS1 : PKTID_QOS2_SENT, 0);
		break;
	case CODEC_SUBSCRIBE:
		set(t, e, PKTID_SUB, 0);
		break;
	case CODEC_UNSUBSCRIBE:
		set(t, e, PKTID_UNSUB, 0);
		break;
	case CODEC_PUBREL:
		if (e->phase == PKTID_FREE)
			set(t, e, PKTID_QOS2_REL, PKTID_F_OLD);
		else if (e->flags & PKTID_F_LOCAL)
			del(t, e);
		else
			set(t, e, PKTID_QOS2_REL, e->flags);
		break;
	case CODEC_PUBREC:
		if (reason >= 0x80)
			del(t, e);
		else
			set(t, e, PKTID_QOS2_REC, e->flags);
		break;
	default:
		del(t, e);
		break;
	}
	return PKTID_OK;
}

enum pktid_verdict
pktid_step(struct pktid_state *st, enum codec_dir dir, uint8_t type,
    uint16_t id, uint8_t qos, bool dup, uint8_t reason)
{
	enum pktid_verdict	v, a;

	v = pktid_check(st, dir, type, id, qos, dup, reason);
	if (v != PKTID_OK && v != PKTID_ANSWER)
		return v;
	a = pktid_apply(st, dir, type, id, qos, dup, reason);
	return a == PKTID_OK ? v : a;
}

enum pktid_verdict
pktid_answer(struct pktid_state *st, enum codec_dir dir, uint8_t qos,
    uint16_t id, uint8_t reason)
{
	struct pktid_table	*t = &st->t[dir];
	struct pktid_entry	*e = find(t, id);

	if (qos == 0 || id == 0)
		return PKTID_OK;
	if (qos == 1 || reason >= 0x80) {
		if (e != NULL)
			del(t, e);
		return PKTID_OK;
	}
	if (e == NULL && (e = add(t, id)) == NULL)
		return PKTID_NOMEM;
	set(t, e, PKTID_QOS2_REC, PKTID_F_LOCAL);
	return PKTID_OK;
}

enum pktid_phase
pktid_phase(const struct pktid_state *st, enum codec_dir dir, uint16_t id)
{
	const struct pktid_entry	*e = find(&st->t[dir], id);

	return e == NULL ? PKTID_FREE : (enum pktid_phase)e->phase;
}

bool
pktid_forwarded(const struct pktid_state *st, enum codec_dir dir,
    uint16_t id)
{
	const struct pktid_entry	*e = find(&st->t[dir], id);

	return e != NULL && !(e->flags & PKTID_F_LOCAL) &&
	    (e->phase == PKTID_QOS1 || e->phase == PKTID_QOS2_SENT ||
	    e->phase == PKTID_QOS2_REC);
}

unsigned
pktid_inflight(const struct pktid_state *st, enum codec_dir dir, bool early)
{
	return early ? st->t[dir].n_early : st->t[dir].n_inflight;
}

const char *
pktid_verdict_str(enum pktid_verdict v)
{
	switch (v) {
	case PKTID_OK:
		return "ok";
	case PKTID_ANSWER:
		return "ok, answered by the proxy";
	case PKTID_IN_USE:
		return "packet identifier in use [MQTT-2.2.1-3]";
	case PKTID_UNKNOWN:
		return "acknowledgement for a packet identifier not in "
		    "that state [MQTT-4.3.2, MQTT-4.3.3]";
	case PKTID_FULL:
		return "too many packet identifiers in use";
	case PKTID_NOMEM:
		return "out of memory";
	}
	return "?";
}
