/* SPDX-License-Identifier: ISC */
/*
 * util — the error-buffer formatter, the monotonic clock (milliseconds for
 * deadlines, microseconds for latencies) and an address as text, written
 * once.
 *
 * Every module that reports to a human fills a caller-supplied buffer
 * (STYLE: errors); util_errf() is the one function that does, so that a
 * NULL buffer, a zero length and truncation are handled the same way
 * everywhere.  Modules that add context (config's file:line:column, a
 * password file's path:line) build their prefix into the same call.
 *
 * The permission rules of secret and policy files are here too, so the
 * loader, the TLS set-up and the password database judge a mode alike and
 * say the same thing about it.
 *
 * No state and no locks: every worker may call anything here at once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>

#include "mqttguard/util.h"

void
util_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err == NULL || errlen == 0)
		return;
	vsnprintf(err, errlen, fmt, ap);
}

void
util_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	util_verrf(err, errlen, fmt, ap);
	va_end(ap);
}

uint64_t
util_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int
util_addr_str(const struct sockaddr *sa, bool port, char *buf, size_t len)
{
	const struct sockaddr_in	*in = (const void *)sa;
	const struct sockaddr_in6	*in6 = (const void *)sa;
	char				 host[INET6_ADDRSTRLEN];
	bool				 v6 = sa->sa_family == AF_INET6;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (sa->sa_family != AF_INET && !v6)
		return -1;
	inet_ntop(sa->sa_family, v6 ? (const void *)&in6->sin6_addr :
	    (const void *)&in->sin_addr, host, sizeof(host));
	if (!port)
		snprintf(buf, len, "%s", host);
	else if (v6)		/* brackets: the port is not one more group */
		snprintf(buf, len, "[%s]:%u", host,
		    (unsigned)ntohs(in6->sin6_port));
	else
		snprintf(buf, len, "%s:%u", host,
		    (unsigned)ntohs(in->sin_port));
	return 0;
}

unsigned
util_addr_port(const struct sockaddr *sa)
{
	const struct sockaddr_in	*in = (const void *)sa;
	const struct sockaddr_in6	*in6 = (const void *)sa;

	if (sa->sa_family == AF_INET)
		return ntohs(in->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(in6->sin6_port);
	return 0;
}

void
util_file_stamp(uint64_t *h, const char *path)
{
	struct stat	st;
	uint64_t	v[7];
	size_t		i, j;

	memset(v, 0, sizeof(v));
	if (stat(path, &st) == -1)
		v[0] = (uint64_t)errno;
	else {
		v[1] = (uint64_t)st.st_dev;
		v[2] = (uint64_t)st.st_ino;
		v[3] = (uint64_t)st.st_size;
		v[4] = (uint64_t)st.st_mtim.tv_sec;
		v[5] = (uint64_t)st.st_mtim.tv_nsec;
		v[6] = (uint64_t)st.st_ctim.tv_sec * 1000000000u +
		    (uint64_t)st.st_ctim.tv_nsec;
	}
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (j = 0; j < 8; j++) {	/* FNV-1a, 64 bits */
			*h ^= (v[i] >> (j * 8)) & 0xff;
			*h *= 0x100000001b3ULL;
		}
}

int
util_secret_mode_check(const char *path, unsigned mode, char *err,
    size_t errlen)
{
	const char	*why;

	if (mode & S_IROTH)
		why = "others may read a secret file (chmod o-rwx)";
	else if (mode & S_IWOTH)
		why = "others may write a secret file (chmod o-rwx)";
	else if (mode & S_IXOTH)
		why = "others may access a secret file (chmod o-rwx)";
	else if (mode & S_IWGRP)
		why = "its group may write a secret file; only the owner may "
		    "(chmod g-w)";
	else
		return 0;
	util_errf(err, errlen, "%s: mode %04o: %s", path, mode & 07777, why);
	return -1;
}

int
util_secret_file_check(const char *path, int fd, char *err, size_t errlen)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return util_secret_mode_check(path, (unsigned)st.st_mode, err, errlen);
}

int
util_secret_path_check(const char *path, char *err, size_t errlen)
{
	struct stat	st;

	if (stat(path, &st) == -1) {
		util_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return util_secret_mode_check(path, (unsigned)st.st_mode, err, errlen);
}

int
util_policy_mode_check(const char *path, unsigned mode, char *err,
    size_t errlen)
{
	if ((mode & S_IWOTH) == 0)
		return 0;
	util_errf(err, errlen, "%s: mode %04o: others may write a policy "
	    "file, and so decide who may do what (chmod o-w)", path,
	    mode & 07777);
	return -1;
}
