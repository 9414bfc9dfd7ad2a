/* SPDX-License-Identifier: ISC */
/*
 * notify — tells the service manager how the daemon is doing: READY=1
 * once it serves, RELOADING=1 and READY=1 around a reload, STOPPING=1
 * when it stops, STATUS= lines for systemctl status.
 *
 * The protocol is systemd's sd_notify(3) socket protocol, small enough
 * to speak without libsystemd: NOTIFY_SOCKET names an AF_UNIX datagram
 * socket, a path or, with a leading '@', a name in the abstract
 * namespace; each message is one datagram of newline-separated
 * VARIABLE=value lines.  Without NOTIFY_SOCKET (not started by systemd,
 * or Type= is not notify) every call does nothing and succeeds.
 *
 * A leaf: it uses nothing of ours and does not log; callers decide what
 * a failure is worth (a lost STATUS= line is nothing; a lost READY=1
 * makes systemd time the start out, which it reports itself).  Main's
 * thread only, as sending is rare: a socket per message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "mqttguard/notify.h"

static int	notify_addr(const char *, struct sockaddr_un *, socklen_t *);
static int	notify_raw(const char *, size_t);

/*
 * The address NOTIFY_SOCKET value <name> names, into <sun> and <len>.
 * Returns 0, or -1 (EINVAL) when it is neither an absolute path nor an
 * abstract name ('@...'), or is too long for sun_path.
 */
static int
notify_addr(const char *name, struct sockaddr_un *sun, socklen_t *len)
{
	size_t	n = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || n < 2 ||
	    n > sizeof(sun->sun_path) - (name[0] == '/')) {
		errno = EINVAL;
		return -1;
	}
	memcpy(sun->sun_path, name, n);
	if (name[0] == '@')
		sun->sun_path[0] = '\0';	/* abstract: no terminator */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (name[0] == '/'));
	return 0;
}

/*
 * Sends the <len> bytes of <msg> as one datagram to NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when there is no NOTIFY_SOCKET, -1 on an error
 * (errno set).
 */
static int
notify_raw(const char *msg, size_t len)
{
	struct sockaddr_un	 sun;
	socklen_t		 slen;
	const char		*name;
	ssize_t			 n;
	int			 fd, saved;

	if ((name = getenv("NOTIFY_SOCKET")) == NULL || name[0] == '\0')
		return 0;
	if (notify_addr(name, &sun, &slen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	n = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, slen);
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)len ? 1 : -1;
}

/*
 * Sends the message <fmt> formats (one or more "VARIABLE=value" lines,
 * newline-separated, at most NOTIFY_MAX bytes: longer is cut at the
 * last whole line).  Returns as notify_raw().
 */
int
notify_send(const char *fmt, ...)
{
	char	 msg[NOTIFY_MAX + 1], *nl;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > NOTIFY_MAX) {
		if ((nl = strrchr(msg, '\n')) == NULL) {
			errno = EMSGSIZE;
			return -1;
		}
		*nl = '\0';
		n = (int)(nl - msg);
	}
	return notify_raw(msg, (size_t)n);
}

/*
 * A reload begins: RELOADING=1 with the CLOCK_MONOTONIC time systemd
 * 253 and later expect beside it (Type=notify-reload), and <status> as
 * the STATUS= line.  Returns as notify_raw().
 */
int
notify_reloading(const char *status)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return -1;
	return notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000, status);
}
