/* SPDX-License-Identifier: ISC */
/*
 * readahead — reading a bufferevent past libevent 2.1's per-turn limits.
 *
 * libevent 2.1 reads a plain socket at most 4 KiB a loop turn, and its
 * OpenSSL bufferevent at most two TLS records.  A client such as
 * libmosquitto writes one small record a PUBLISH: a loop turn, with its
 * epoll_wait and reads, for every two messages.  These functions read on
 * into the bufferevent's input, up to a window the caller sets, as HAProxy
 * reads.  They know nothing of MQTT or sessions.
 */
#ifndef MQTTGUARD_READAHEAD_H
#define MQTTGUARD_READAHEAD_H

#include <stddef.h>

#include <event2/bufferevent.h>

#define READAHEAD_SOCK_FULL	4096	/* libevent 2.1's largest read */
#define READAHEAD_TLS_RECORD	16384	/* plaintext of one TLS record */

/*
 * Reads TLS records from the OpenSSL bufferevent <bev> while its input
 * holds less than <window> bytes.  Returns 0, or the event libevent would
 * have reported (BEV_EVENT_READING with EOF or ERROR): the caller reports
 * it once the bytes read before it are handled.  An OpenSSL error's text
 * goes to <err> (empty if none).
 */
short	readahead_tls(struct bufferevent *bev, size_t window, char *err,
	    size_t errlen);

/*
 * After a full libevent read of a plain socket (more is likely waiting),
 * reads what is there in one readv, up to <window> bytes of input.
 * Returns as readahead_tls().
 */
short	readahead_sock(struct bufferevent *bev, size_t window);

#endif
