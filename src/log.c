/* SPDX-License-Identifier: ISC */
/*
 * log — leveled log lines on stderr, text or JSON.
 *
 * Each line is built in a stack buffer and written with a single write(2)
 * so that lines from several worker threads never interleave; a line longer
 * than the buffer is truncated, never split.  The level is read without a
 * lock (an atomic int): changing it on reload is a plain store.  Messages
 * are the caller's text: callers must not pass secrets, and peer-supplied
 * strings are escaped here so a client cannot forge log lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqttguard/log.h"

#define LOG_LINE_MAX	2048

static atomic_int	log_level = LOG_LVL_INFO;
static bool		log_json;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

static void	vlog(enum log_level, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
static size_t	escape(char *, size_t, const char *, bool);

void
log_init(enum log_level level, bool json)
{
	atomic_store(&log_level, level);
	log_json = json;
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level,
	    memory_order_relaxed);
}

/*
 * Copies <src> into <dst> (<cap> bytes, cap > 0), replacing control bytes
 * with escapes: \n and friends in text mode, JSON string escapes in JSON
 * mode.  Returns the bytes written, NUL excluded; always NUL-terminates.
 */
static size_t
escape(char *dst, size_t cap, const char *src, bool json)
{
	size_t		n = 0;
	unsigned char	c;

	for (; *src != '\0' && n + 7 < cap; src++) {
		c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f || (json && (c == '"' ||
		    c == '\\'))) {
			if (json && (c == '"' || c == '\\')) {
				dst[n++] = '\\';
				dst[n++] = (char)c;
			} else
				n += (size_t)snprintf(dst + n, cap - n,
				    json ? "\\u%04x" : "\\x%02x", c);
		} else
			dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n;
}

static void
vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char		 msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
	char		 esc[LOG_LINE_MAX + 64];
	struct timespec	 ts;
	struct tm	 tm;
	int		 n;
	size_t		 len;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	len = strlen(msg);
	if (errnum != 0)
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(errnum));
	escape(esc, sizeof(esc), msg, log_json);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (log_json)
		n = snprintf(line, sizeof(line),
		    "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
		    "\"level\":\"%s\",\"msg\":\"%s\"}\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    level_names[level], esc);
	else
		n = snprintf(line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: %s\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    level_names[level], esc);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line; a short write to stderr is not retried. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(name, level, witherr)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	ap;						\
	int	saved = errno;					\
								\
	va_start(ap, fmt);					\
	vlog(level, witherr ? saved : 0, fmt, ap);		\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
