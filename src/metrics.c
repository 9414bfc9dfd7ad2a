/* SPDX-License-Identifier: ISC */
/*
 * metrics — counters shared by every worker.
 *
 * Plain arrays of relaxed atomics; nothing here allocates or locks, so any
 * path may count.
 */
#include <stdatomic.h>

#include "mqttguard/metrics.h"

static _Atomic int64_t	counters[M__MAX];
static _Atomic uint64_t	rejects[2][CODEC_ERR__MAX];

void
metrics_add(enum metric m, int64_t delta)
{
	if ((unsigned)m < M__MAX)
		atomic_fetch_add_explicit(&counters[m], delta,
		    memory_order_relaxed);
}

void
metrics_codec_reject(int dir, enum codec_err err)
{
	if ((dir == 0 || dir == 1) && (unsigned)err < CODEC_ERR__MAX)
		atomic_fetch_add_explicit(&rejects[dir][err], 1,
		    memory_order_relaxed);
}
