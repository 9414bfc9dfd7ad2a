/* SPDX-License-Identifier: ISC */
/*
 * log — the daemon's log family, to stderr, one line per event.
 *
 * Text ("2026-01-01T00:00:00.000Z warn: ...") or JSON lines.  Safe to call
 * from any worker thread: each line is formatted into a local buffer and
 * written with one write(2), so lines never interleave.  Never log a secret.
 */
#ifndef MQTTGUARD_LOG_H
#define MQTTGUARD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

void	log_init(enum log_level level, bool json);
bool	log_enabled(enum log_level level);

/* log_warn appends strerror(errno); log_warnx does not. */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up failures and broken invariants only: exit(1). */
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
