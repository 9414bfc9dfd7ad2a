/* SPDX-License-Identifier: ISC */
/*
 * metrics — process-wide counters, bumped from any worker without locks.
 *
 * Relaxed atomics: counters are statistics, not synchronisation.  Nothing
 * reads them yet: the reader comes with the exposition (Prometheus text,
 * health) that needs it.
 */
#ifndef MQTTGUARD_METRICS_H
#define MQTTGUARD_METRICS_H

#include <stdint.h>

#include "mqttguard/codec.h"

enum metric {
	M_CONN_ACCEPTED = 0,
	M_CONN_CLOSED,
	M_CONN_ACTIVE,
	M_TLS_HANDSHAKE_FAILED,
	M_CONNECT_TIMEOUT,
	M_UPSTREAM_CONNECT_FAILED,
	M_FRAMES_FROM_CLIENT,
	M_FRAMES_FROM_BROKER,
	M_BYTES_FROM_CLIENT,
	M_BYTES_FROM_BROKER,
	M_ACCEPT_PAUSED,
	M_AUTH_OK,
	M_AUTH_FAILED,
	M_AUTH_LOCKOUTS,
	M_ACL_DENIED,
	M_CONN_REFUSED,
	M_RATE_LIMITED,
	M_KEEPALIVE_EXPIRED,
	M_LIMIT_USER,		/* CONNECT over a per-user cap or rate */
	M_LIMIT_SUBSCRIPTIONS,	/* filters over max_subscriptions */
	M_LIMIT_INFLIGHT,	/* PUBLISH held or refused: max_inflight */
	M_LIMIT_DELIVERY_SIZE,	/* 3.x delivery over max_packet_size dropped */
	M_PROBES,		/* connections closed before sending a byte */
	M__MAX
};

void		metrics_add(enum metric, int64_t delta);
/* A frame refused by the codec, by direction and rule. */
void		metrics_codec_reject(int dir, enum codec_err err);

#endif
