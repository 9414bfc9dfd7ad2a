/* SPDX-License-Identifier: ISC */
/*
 * limits_hs — the TLS handshake budget of one event loop (limits.h says
 * what it decides; this says how).
 *
 * A handshake costs the server a signature and a key exchange, a
 * thousand times what closing an accepted socket costs.  A flood of
 * ClientHellos from many addresses, each under the per-address rate,
 * fills the loop with handshakes that honest clients then queue behind.
 * The listener asks here before any TLS work is spent, and closes what
 * is refused before reading a byte of it.
 *
 * The networks are kept in a fixed hmap (SipHash under a random key,
 * bounded probes) of LIMITS_HS_NETS slots, and the active ones, those
 * that asked in within LIMITS_HS_ACTIVE_MS, also in a list ordered by
 * when they last asked, so that their number is known without a scan:
 * each ask moves its network to the tail, and the head is expired as time
 * passes.  A slot is reused only once its network is no longer active
 * and its account has refilled, so nothing worth keeping is lost; slots
 * never move.  One thread only, no lock, nothing allocated after
 * limits_hs_new().
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "mqttguard/hmap.h"
#include "mqttguard/limits.h"

#define HS_PROBES	64
#define HS_EWMA		0.125	/* weight of a new cost sample */

struct hs_net {
	uint64_t		 hash;		/* first, for hmap */
	uint8_t			 key[17];
	bool			 active;	/* in the active list */
	double			 tokens;	/* us of handshake it may have */
	uint64_t		 refilled_ms;	/* tokens counted up to here */
	uint64_t		 seen_ms;	/* last asked in */
	TAILQ_ENTRY(hs_net)	 act;		/* active, oldest first */
};

struct limits_hs {
	struct hmap_type	 type;
	struct hmap		 map;		/* over nets */
	struct hs_net		*nets;		/* owned; LIMITS_HS_NETS */
	TAILQ_HEAD(, hs_net)	 active;	/* seen_ms ascending */
	unsigned		 n_active;
	double			 tokens;	/* us of the loop's budget */
	uint64_t		 refilled_ms;
	bool			 started;
	double			 unit;		/* us charged per handshake */
	uint64_t		 seen_ns, seen_count;	/* measured so far */
	double			 scale;		/* of the budget, (0, 1] */
	uint32_t		 wait_min;	/* ms, in this interval */
	uint64_t		 interval_end;	/* ms */
};

/* What net_stale() judges by. */
struct hs_age {
	const struct limits_hs	*hs;
	unsigned		 pct;
	uint64_t		 now;
};

static bool	net_eq(void *, const void *, const void *, size_t);
static bool	net_stale(void *, const void *);
static void	expire(struct limits_hs *, uint64_t);
static void	refill(struct limits_hs *, unsigned, uint64_t);
static void	steer(struct limits_hs *, uint64_t);
static double	budget_rate(const struct limits_hs *, unsigned);
static double	debt_max(unsigned);
static double	share_rate(const struct limits_hs *, unsigned);
static double	net_cap(const struct limits_hs *, unsigned);
static struct hs_net *net_get(struct limits_hs *, const uint8_t *, unsigned,
		    uint64_t);
static void	net_refill(const struct limits_hs *, struct hs_net *,
		    unsigned, uint64_t);
static void	charge(struct limits_hs *, struct hs_net *, unsigned);

struct limits_hs *
limits_hs_new(void)
{
	struct limits_hs	*hs;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		return NULL;
	hs->type.size = sizeof(struct hs_net);
	hs->type.probes = HS_PROBES;
	hs->type.eq = net_eq;
	if ((hs->nets = calloc(LIMITS_HS_NETS, sizeof(*hs->nets))) == NULL ||
	    hmap_type_init(&hs->type) == -1) {
		free(hs->nets);
		free(hs);
		return NULL;
	}
	hmap_init(&hs->map, &hs->type, hs->nets, LIMITS_HS_NETS);
	TAILQ_INIT(&hs->active);
	hs->unit = LIMITS_HS_UNIT_US;
	hs->scale = 1.0;
	hs->wait_min = UINT32_MAX;
	return hs;
}

void
limits_hs_free(struct limits_hs *hs)
{
	if (hs == NULL)
		return;
	free(hs->nets);
	free(hs);
}

void
limits_hs_measure(struct limits_hs *hs, uint64_t ns, uint64_t count,
    uint32_t wait_min_ms, uint64_t now)
{
	uint64_t	dns = ns - hs->seen_ns, dcount = count - hs->seen_count;
	double		sample, w;

	if (wait_min_ms < hs->wait_min)
		hs->wait_min = wait_min_ms;
	if (now >= hs->interval_end)
		steer(hs, now);
	if (dcount == 0 || ns < hs->seen_ns || count < hs->seen_count)
		return;
	hs->seen_ns = ns;
	hs->seen_count = count;
	sample = (double)dns / 1000.0 / (double)dcount;
	if (sample < 1.0)
		sample = 1.0;
	/* A batch of many handshakes weighs more than one. */
	w = HS_EWMA * (double)dcount;
	if (w > 1.0)
		w = 1.0;
	hs->unit += (sample - hs->unit) * w;
}

/*
 * At the end of an interval of LIMITS_HS_INTERVAL_MS: when every
 * ClientHello read in it had waited LIMITS_HS_TARGET_MS or more, a queue
 * stands in front of the loop that the budget did not prevent (the
 * machine gives the loop less time than the budget assumes, or the
 * connections cost more than their handshakes): the budget halves, down
 * to LIMITS_HS_SCALE_MIN of itself.  Otherwise it grows back a tenth of
 * itself an interval.
 */
static void
steer(struct limits_hs *hs, uint64_t now)
{
	if (hs->wait_min != UINT32_MAX && hs->wait_min >= LIMITS_HS_TARGET_MS)
		hs->scale /= 2;
	else
		hs->scale += 0.1;
	if (hs->scale < LIMITS_HS_SCALE_MIN)
		hs->scale = LIMITS_HS_SCALE_MIN;
	if (hs->scale > 1.0)
		hs->scale = 1.0;
	hs->wait_min = UINT32_MAX;
	hs->interval_end = now + LIMITS_HS_INTERVAL_MS;
}

double
limits_hs_scale(const struct limits_hs *hs)
{
	return hs->scale;
}

double
limits_hs_unit(const struct limits_hs *hs)
{
	return hs->unit;
}

static bool
net_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct hs_net	*n = slot;

	(void)ctx;
	return len == sizeof(n->key) && memcmp(n->key, key, len) == 0;
}

/* Not active, and its account full again: nothing worth keeping. */
static bool
net_stale(void *arg, const void *slot)
{
	const struct hs_age	*a = arg;
	const struct hs_net	*n = slot;
	struct hs_net		 t = *n;

	if (n->active)
		return false;
	net_refill(a->hs, &t, a->pct, a->now);
	return t.tokens >= net_cap(a->hs, a->pct);
}

/* Networks that have not asked in LIMITS_HS_ACTIVE_MS leave the list. */
static void
expire(struct limits_hs *hs, uint64_t now)
{
	struct hs_net	*n;

	while ((n = TAILQ_FIRST(&hs->active)) != NULL &&
	    now - n->seen_ms >= LIMITS_HS_ACTIVE_MS && now >= n->seen_ms) {
		TAILQ_REMOVE(&hs->active, n, act);
		n->active = false;
		hs->n_active--;
	}
}

unsigned
limits_hs_active(struct limits_hs *hs, uint64_t now)
{
	expire(hs, now);
	return hs->n_active;
}

/* The budget in us of handshake per ms of the loop's time. */
static double
budget_rate(const struct limits_hs *hs, unsigned pct)
{
	return (double)pct * 10.0 * hs->scale;
}

/*
 * The debt past which only known devices get in: seconds of the whole
 * budget, whatever part of it is in force (a debt run up before the
 * budget was steered down is not held against a newcomer for long).
 */
static double
debt_max(unsigned pct)
{
	return (double)pct * 10.0 * 1000.0 * LIMITS_HS_DEBT_S;
}

/* Each active network's share of it (all of it while none is active). */
static double
share_rate(const struct limits_hs *hs, unsigned pct)
{
	return budget_rate(hs, pct) / (hs->n_active > 0 ? hs->n_active : 1);
}

/* A network's account holds a second of its share, or one handshake. */
static double
net_cap(const struct limits_hs *hs, unsigned pct)
{
	double	cap = share_rate(hs, pct) * 1000.0;

	return cap > hs->unit ? cap : hs->unit;
}

/* The loop's budget earns its rate, up to one second of it. */
static void
refill(struct limits_hs *hs, unsigned pct, uint64_t now)
{
	double	burst = budget_rate(hs, pct) * 1000.0;

	if (!hs->started) {
		hs->started = true;
		hs->tokens = burst;
	} else if (now > hs->refilled_ms)
		hs->tokens += budget_rate(hs, pct) * (double)(now -
		    hs->refilled_ms);
	if (hs->tokens > burst)
		hs->tokens = burst;
	hs->refilled_ms = now;
}

bool
limits_hs_over(struct limits_hs *hs, unsigned pct, uint64_t now)
{
	if (pct == 0)
		return false;
	refill(hs, pct, now);
	return hs->tokens < 0;
}

/*
 * A network's account earns the share of the moment (the share changes
 * with the number of active networks; the time since its last refill is
 * paid at today's rate, a fair enough approximation over a second).
 */
static void
net_refill(const struct limits_hs *hs, struct hs_net *n, unsigned pct,
    uint64_t now)
{
	double	cap = net_cap(hs, pct);

	if (now > n->refilled_ms)
		n->tokens += share_rate(hs, pct) * (double)(now -
		    n->refilled_ms);
	if (n->tokens > cap)
		n->tokens = cap;
	n->refilled_ms = now;
}

/*
 * The account of <net>, made active at <now>: found, or made with a full
 * account.  NULL when there is no room for it.
 */
static struct hs_net *
net_get(struct limits_hs *hs, const uint8_t *net, unsigned pct, uint64_t now)
{
	struct hs_age	 age = { hs, pct, now };
	struct hs_net	*n;
	uint64_t	 h = hmap_hash(&hs->type, net, 17);
	bool		 fresh = false;

	if ((n = hmap_find(&hs->map, h, net, 17)) == NULL) {
		if ((n = hmap_spot(&hs->map, h, net_stale, &age)) == NULL)
			return NULL;
		hmap_take(&hs->map, n, h);
		memcpy(n->key, net, 17);
		fresh = true;
	}
	if (n->active)
		TAILQ_REMOVE(&hs->active, n, act);
	else
		hs->n_active++;
	n->active = true;
	n->seen_ms = now;
	TAILQ_INSERT_TAIL(&hs->active, n, act);
	if (fresh) {
		/* Full, at the share it has now that it counts. */
		n->tokens = net_cap(hs, pct);
		n->refilled_ms = now;
	}
	net_refill(hs, n, pct, now);
	return n;
}

/*
 * One handshake's cost, from the loop's budget and the network's account;
 * an account owes at most a second of its share (or one handshake), so
 * that a network which used much while there was plenty is not shut out
 * for long once there is not.
 */
static void
charge(struct limits_hs *hs, struct hs_net *n, unsigned pct)
{
	double	floor = -net_cap(hs, pct) - LIMITS_HS_KNOWN * hs->unit;

	hs->tokens -= hs->unit;
	if (hs->tokens < -2 * debt_max(pct))
		hs->tokens = -2 * debt_max(pct);	/* known ones: bounded */
	if (n == NULL)
		return;
	n->tokens -= hs->unit;
	if (n->tokens < floor)
		n->tokens = floor;
}

enum limits_hs_verdict
limits_hs_admit(struct limits_hs *hs, unsigned pct, const uint8_t *net,
    bool known, uint64_t now)
{
	struct hs_net	*n;
	double		 debt = debt_max(pct);

	if (pct == 0)
		return LIMITS_HS_OK;
	refill(hs, pct, now);
	expire(hs, now);
	n = net_get(hs, net, pct, now);
	if (hs->tokens >= 0) {
		charge(hs, n, pct);
		return LIMITS_HS_OK;
	}
	if (hs->tokens < -debt && !known)
		return LIMITS_HS_DEBT;
	if (n != NULL && (n->tokens >= hs->unit ||
	    (known && n->tokens >= -LIMITS_HS_KNOWN * hs->unit))) {
		charge(hs, n, pct);
		return LIMITS_HS_OK;
	}
	return LIMITS_HS_SHARE;
}
