/* SPDX-License-Identifier: ISC */
/*
 * log — the daemon's log family, one line per event, to stderr or to the
 * policy's log.file.
 *
 * Text ("2026-01-01T00:00:00.000Z warn: ...") or JSON lines.  When stderr
 * is systemd's journal (JOURNAL_STREAM names it), text lines start with
 * the sd-daemon priority ("<4>warn: ...") and carry no timestamp: the
 * journal stamps them.  Safe to call from any worker thread: each line is
 * formatted into a local buffer and written with one write(2), so lines
 * never interleave.  Never log a secret.
 *
 * Events are the lines operators match on (fail2ban, a SIEM):
 * log_event() prints the caller's sentence in text mode, unchanged, and in
 * JSON mode an object of the event's name and fields instead, each string
 * escaped and bounded here.
 */
#ifndef MQTTGUARD_LOG_H
#define MQTTGUARD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

#define LOG_LINE_MAX	2048	/* a text message, before escaping */
#define LOG_JSON_MAX	4096	/* a JSON line with its newline: PIPE_BUF */
#define LOG_VALUE_MAX	512	/* one string value of an event, escaped */

/* The kind of value of a struct log_field. */
enum log_ftype {
	LOG_F_NONE,	/* left out: an optional value that is not there */
	LOG_F_STR,	/* v.s, NUL-terminated; NULL is left out */
	LOG_F_BYTES,	/* v.b: bytes from the wire (a topic), any value */
	LOG_F_INT,	/* v.i */
	LOG_F_UINT,	/* v.u */
	LOG_F_DOUBLE,	/* v.d, three decimals; not finite: null */
	LOG_F_BOOL	/* v.t */
};

/*
 * One field of an event.  <key> is the caller's literal and is written as
 * it is (a JSON name: letters, digits, '_').  Values are views, read
 * during the call only.
 */
struct log_field {
	const char	*key;
	enum log_ftype	 type;
	union {
		const char	*s;
		struct {
			const void	*p;
			size_t		 len;
		}		 b;
		int64_t		 i;
		uint64_t	 u;
		double		 d;
		bool		 t;
	} v;
};

#define LOG_STR(k, x)	{ .key = (k), .type = LOG_F_STR, .v.s = (x) }
#define LOG_BYTES(k, p, n) \
	{ .key = (k), .type = LOG_F_BYTES, .v.b = { (p), (n) } }
#define LOG_INT(k, x)	{ .key = (k), .type = LOG_F_INT, .v.i = (x) }
#define LOG_UINT(k, x)	{ .key = (k), .type = LOG_F_UINT, .v.u = (x) }
#define LOG_DOUBLE(k, x) { .key = (k), .type = LOG_F_DOUBLE, .v.d = (x) }
#define LOG_BOOL(k, x)	{ .key = (k), .type = LOG_F_BOOL, .v.t = (x) }
/* An unsigned value that is left out when <c> is false. */
#define LOG_UINT_IF(k, x, c) \
	{ .key = (k), .type = (c) ? LOG_F_UINT : LOG_F_NONE, .v.u = (x) }

/*
 * Sets the level and the format.  Also decides, once, whether the current
 * output is the journal (see above).  Main's thread.
 */
void	log_init(enum log_level level, bool json);
/*
 * libevent's messages (routed through the log from log_init() on) are
 * dropped on this thread while <on>: for what fails by design.
 */
void	log_libevent_quiet(bool on);
bool	log_enabled(enum log_level level);

/*
 * Lines go to <path> from now on: opened for appending, created 0640
 * (less the umask), close-on-exec.  Called again (or log_reopen()), the
 * new file takes the old one's descriptor number with dup3(2), so that a
 * worker writing meanwhile writes whole lines to one file or the other.
 * Returns 0, or -1 with the reason in <err> (<errlen> bytes) and the
 * output unchanged.  Main's thread.
 */
int	log_open(const char *path, char *err, size_t errlen);
/*
 * Opens log_open()'s path again, for logrotate (SIGUSR1).  Returns 0 with
 * what was done in <msg> (nothing when the output is stderr), or -1 with
 * the reason.  Main's thread.
 */
int	log_reopen(char *msg, size_t msglen);
/*
 * Lines go to <path> (as log_open()), or back to standard error when
 * <path> is "": what a reload does when log.file changes.  Going back to
 * stderr, log_open()'s descriptor number becomes a copy of stderr
 * (dup3(2)), so a worker writing meanwhile still writes a whole line
 * somewhere.  Returns 1 if the output changed, 0 if <path> was already
 * the output, -1 with the reason in <err> and the output unchanged.
 * Main's thread.
 */
int	log_switch(const char *path, char *err, size_t errlen);
/*
 * Lines go to <fd>, which stays the caller's (tests: one end of a pipe).
 * Returns the descriptor used before.
 */
int	log_set_fd(int fd);

/* log_warn appends strerror(errno); log_warnx does not. */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * An event named <event> ("acl.deny"): in text mode the line <fmt> makes,
 * as log_warnx() would print it; in JSON mode
 *   {"time":...,"level":...,"event":<event>, <fields> in order}
 * with the <n> <fields>, no prose.  A string value longer than
 * LOG_VALUE_MAX escaped is cut and ends with "..."; fields that no longer
 * fit the line are left out and "truncated":true is added.
 */
void	log_event(enum log_level level, const char *event,
	    const struct log_field *fields, size_t n, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/*
 * <len> bytes at <src> as the inside of a JSON string, into <dst> (<cap>
 * bytes, NUL-terminated): '"' and '\' escaped, control characters and DEL
 * as \uXXXX (\n, \r, \t, \b, \f short), each byte that is not part of
 * valid UTF-8 (overlong forms, surrogates, past U+10FFFF, cut sequences)
 * as \ufffd.  If the whole does not fit, it is cut between two characters
 * and ends with "...".  Returns the bytes written, NUL excluded.
 */
size_t	log_json_escape(char *dst, size_t cap, const void *src, size_t len);

/* Start-up failures and broken invariants only: exit(1). */
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
