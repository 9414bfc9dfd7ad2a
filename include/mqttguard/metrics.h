/* SPDX-License-Identifier: ISC */
/*
 * metrics — process-wide counters, gauges and histograms, bumped from any
 * thread without locks, and their Prometheus text exposition.
 *
 * Every series lives at a fixed place: a family is an array of relaxed
 * atomics indexed by the values of its labels (a listener's index, a
 * refusal reason, a packet type), and a histogram a fixed array of bucket
 * counters.  Counting never allocates, locks or looks anything up, so the
 * frame path may count.  Counters are statistics, not synchronisation: a
 * scrape may see one counter moved and its neighbour not yet.
 *
 * A leaf: of ours it includes only the codec's enums.  Label dimensions
 * that come from other modules' enums (enum limits_refusal, enum
 * auth_result, enum acl_action) are taken as numbers; their label text is
 * kept here in the enums' order, and test/check_metrics.c checks that the
 * sizes agree.  Listener names are given to the exposition by its caller
 * (admin.c), which holds the policy.
 */
#ifndef MQTTGUARD_METRICS_H
#define MQTTGUARD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mqttguard/codec.h"

#define METRICS_LISTENERS_MAX	64	/* listeners counted apart, by index;
					   later ones are not counted */
#define METRICS_REFUSALS	10	/* enum limits_refusal, LIMITS_OK too */
#define METRICS_AUTH_RESULTS	14	/* enum auth_result */
#define METRICS_BUCKETS		14	/* histogram bounds, +Inf apart */

/*
 * Plain counters without labels, and the counters that enforce.c's audit
 * events name (struct enforce_event.metric, counted by audit.c).  Those
 * marked "elsewhere" are exposed with their labels by another family and
 * not on their own.
 */
enum metric {
	M_TLS_HANDSHAKE_TIMEOUT = 0,	/* no handshake within the deadline */
	M_CONNECT_TIMEOUT,	/* no CONNECT within the deadline */
	M_KEEPALIVE_EXPIRED,
	M_UPSTREAM_CONNECT_FAILED,
	M_ACCEPT_PAUSED,	/* out of descriptors: accepting paused */
	M_AUTH_FAILED,		/* CONNECT of an authenticated client refused
				   (will topic, client id taken, error) */
	M_ACL_DENIED,		/* elsewhere: metrics_acl() */
	M_LIMIT_USER,		/* elsewhere: metrics_refused() */
	M_RATE_LIMITED,		/* a rate or topic bound held a frame */
	M_LIMIT_SUBSCRIPTIONS,	/* filters over max_subscriptions */
	M_LIMIT_INFLIGHT,	/* PUBLISH held or refused: max_inflight */
	M_LIMIT_DELIVERY_SIZE,	/* 3.x delivery over max_packet_size dropped */
	M_PROXY_UNTRUSTED,	/* PROXY listener: not from trusted_proxies */
	M_PROXY_BAD_HEADER,	/* PROXY listener: header missing or bad */
	M_AUTH_CACHE_HIT,	/* a password served by the credential cache */
	M_AUTH_CACHE_MISS,	/* cache on, the password went to the KDF */
	M_AUTH_TARPIT,		/* a CONNACK held by a spraying address's
				   tarpit */
	M_AUTH_UNRECORDED,	/* a guess not counted: a lockout table full
				   of running lockouts */
	M_EVICTED,		/* not yet authenticated, closed to make room
				   for a newcomer from a less loaded network */
	M_WILL_DELAY_CLAMPED,	/* a 5.0 CONNECT forwarded with its Will
				   Delay Interval clamped to its Session
				   Expiry Interval */
	M__MAX
};

/* The kinds of would-be denials (monitor mode), for metrics_would(). */
enum metrics_would {
	METRICS_W_PUBLISH = 0,		/* the ACL, by action */
	METRICS_W_SUBSCRIBE,
	METRICS_W_READ,
	METRICS_W_WILL,
	METRICS_W_RATE,			/* any rate limit */
	METRICS_W_TOPIC_BOUNDS,		/* max_topic_length, _levels */
	METRICS_W_INFLIGHT,
	METRICS_W_SUBSCRIPTIONS,
	METRICS_W__MAX
};

/* How a client proved who it is, for metrics_auth(). */
enum metrics_auth_method {
	METRICS_AUTH_PASSWORD = 0,
	METRICS_AUTH_CERTIFICATE,	/* certificate, or certificate and
					   password */
	METRICS_AUTH_ANONYMOUS,
	METRICS_AUTH_METHODS
};

/* The latency histograms, each in seconds with the same bucket bounds. */
enum metrics_hist {
	METRICS_H_UPSTREAM_CONNECT = 0,	/* connect to the broker (DNS, TCP,
					   TLS) */
	METRICS_H_CONNACK,		/* a client's CONNECT to its CONNACK */
	METRICS_H_PASSWORD,		/* a password check, queue included */
	METRICS_H__MAX
};

void	metrics_add(enum metric m, int64_t delta);
/* A frame refused by the codec, by direction (enum codec_dir) and rule. */
void	metrics_codec_reject(int dir, enum codec_err err);

/*
 * A session on listener <listener> (its index) opened, authenticated, or
 * closed (<authenticated>: it had).  The three keep the sessions gauge.
 */
void	metrics_session_open(unsigned listener);
void	metrics_session_authenticated(unsigned listener);
void	metrics_session_close(unsigned listener, bool authenticated);
/* A reload moved an open session from listener <from> to <to>. */
void	metrics_session_move(unsigned from, unsigned to, bool authenticated);
/* A connection refused for <reason>, an enum limits_refusal. */
void	metrics_refused(unsigned listener, unsigned reason);
/*
 * A TLS handshake failed on <listener>; or, with <probe>, a client of
 * that listener (TLS or plain) closed before sending a byte (a port
 * scan, a TCP health check), counted apart.
 */
void	metrics_tls_failed(unsigned listener, bool probe);
/* An authentication decided: <result> is an enum auth_result. */
void	metrics_auth(enum metrics_auth_method method, unsigned result);
/* A lockout started, of <scope> (enum auth_scope: pair, address, identity). */
void	metrics_lockout(unsigned scope);
/* An ACL decision: <action> is one bit of enum acl_action (1, 2, 4). */
void	metrics_acl(unsigned action, bool allowed);
/* A denial that monitor mode let pass, of <kind>. */
void	metrics_would(enum metrics_would kind);
/*
 * Observation (audit.observe): <entries> distinct keys held now; keys
 * not recorded for want of room (<dropped>, added).
 */
void	metrics_observe_entries(uint64_t entries);
void	metrics_observe_dropped(uint64_t dropped);
/*
 * A WebSocket upgrade request answered with HTTP <status>: 101 when it was
 * accepted, the refusal's status otherwise.
 */
void	metrics_ws_upgrade(unsigned status);
/* A WebSocket session ended for a framing error, closed with <status>. */
void	metrics_ws_error(unsigned status);
/* A valid frame of <type> (1..15) and <bytes> from <dir>. */
void	metrics_frame(enum codec_dir dir, unsigned type, size_t bytes);
/* One observation of <us> microseconds into histogram <h>. */
void	metrics_observe(enum metrics_hist h, uint64_t us);
/* Password checks waiting for a thread: +1 when queued, -1 when taken. */
void	metrics_password_queue(int delta);
/* A policy reload ended, <ok> or refused. */
void	metrics_reload(bool ok);
/*
 * A session's connection to the broker succeeded or failed at <now_ms>
 * (util_now_ms()); metrics_upstream_last() gives the latest of each (0:
 * never), which readiness reads.
 */
void	metrics_upstream(bool ok, uint64_t now_ms);
void	metrics_upstream_last(uint64_t *ok_ms, uint64_t *failed_ms);

/*
 * Writes every family above to <fp> in the Prometheus text format 0.0.4:
 * HELP and TYPE lines, then the samples.  <listeners> names the first
 * <n> listeners by index (label values are escaped).  Series whose labels
 * are many and mostly empty (by packet type, codec rule, authentication
 * result) appear once they are not zero.  Returns 0, or -1 if writing to
 * <fp> failed.
 */
int	metrics_write(FILE *fp, const char *const *listeners, size_t n);
/*
 * An info gauge: HELP, TYPE and one sample of value 1 with the labels of
 * <labels>, pairs of name and value ended by NULL.  0 or -1 as above.
 */
int	metrics_write_info(FILE *fp, const char *name, const char *help,
	    const char *const *labels);
/*
 * The standard process_* metrics of the running process, read from
 * /proc/self (what cannot be read is left out).  0 or -1 as above.
 */
int	metrics_write_process(FILE *fp);

#endif
