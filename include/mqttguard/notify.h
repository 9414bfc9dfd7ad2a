/* SPDX-License-Identifier: ISC */
/*
 * notify — readiness and state for the service manager (sd_notify's
 * datagram protocol, without libsystemd).
 */
#ifndef MQTTGUARD_NOTIFY_H
#define MQTTGUARD_NOTIFY_H

#define NOTIFY_MAX	1024	/* longest message sent, in bytes */

int	notify_send(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
int	notify_reloading(const char *);

#endif
