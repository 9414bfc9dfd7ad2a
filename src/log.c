/* SPDX-License-Identifier: ISC */
/*
 * log — leveled log lines on stderr or a file, text or JSON.
 *
 * Each line is built in a stack buffer and written with a single write(2)
 * so that lines from several worker threads never interleave; a line longer
 * than the buffer is truncated, never split (a JSON line drops its last
 * fields and stays an object).  The level, the format and the descriptor
 * are read without a lock (atomics): changing them is a plain store.
 * Messages are the caller's text: callers must not pass secrets, and
 * peer-supplied strings are escaped here so a client cannot forge log
 * lines.
 *
 * A leaf: nothing of ours is included.  Events (log_event()) carry their
 * fields as views; only the JSON mode reads them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "mqttguard/log.h"
#include "mqttguard/topic.h"

/* The tail every JSON line keeps room for: ,"truncated":true}\n */
#define LOG_JSON_TAIL	24

static atomic_int	log_level = LOG_LVL_INFO;
static atomic_bool	log_json;
static atomic_int	log_fd = STDERR_FILENO;
static atomic_bool	log_journal;	/* <N> prefix, no timestamp */
static bool		log_fd_owned;	/* log_fd is log_open()'s */
static char		log_path[PATH_MAX];	/* main's thread only */

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* sd-daemon(3): SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG. */
static const int level_prio[] = {
	[LOG_LVL_ERROR] = 3,
	[LOG_LVL_WARN] = 4,
	[LOG_LVL_INFO] = 6,
	[LOG_LVL_DEBUG] = 7,
};

/* A JSON line being built: <len> bytes of <b> used. */
struct json_line {
	char	b[LOG_JSON_MAX];
	size_t	len;
	bool	cut;		/* a field did not fit */
};

static void	vlog(enum log_level, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
static void	emit_text(enum log_level, const char *);
static void	libevent_cb(int, const char *);
static void	emit_json(enum log_level, const char *,
		    const struct log_field *, size_t, size_t);
static void	json_field(struct json_line *, const struct log_field *,
		    size_t);
static size_t	json_unit(const uint8_t *, size_t, char *, size_t *);
static size_t	escape_text(char *, size_t, const char *);
static int	timestamp(char *, size_t);
static bool	is_journal(int);
static void	out(const char *, size_t);

void
log_init(enum log_level level, bool json)
{
	atomic_store(&log_level, level);
	atomic_store(&log_json, json);
	atomic_store(&log_journal, is_journal(atomic_load(&log_fd)));
	event_set_log_callback(libevent_cb);
}

static _Thread_local bool	libevent_quiet;

/*
 * libevent's own messages, as lines of ours ("libevent: ..."), so that
 * they keep the format (text, JSON, the journal's) instead of going to
 * stderr as they are.  Nothing of libevent's may be called from here.
 */
static void
libevent_cb(int severity, const char *msg)
{
	if (libevent_quiet)
		return;
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

void
log_libevent_quiet(bool on)
{
	libevent_quiet = on;
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level,
	    memory_order_relaxed);
}

/*
 * True if <fd> is the journal's stream: systemd sets JOURNAL_STREAM to
 * "DEVICE:INODE" of the stream it gives a service, and a program should
 * compare it with its own descriptor (systemd.exec(5)), since the variable
 * is inherited by children whose stderr may go elsewhere.
 */
static bool
is_journal(int fd)
{
	const char		*e = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 st;
	char			 more;

	if (e == NULL || sscanf(e, "%llu:%llu%c", &dev, &ino, &more) != 2)
		return false;
	if (fstat(fd, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

int
log_open(const char *path, char *err, size_t errlen)
{
	int	fd, cur = atomic_load(&log_fd);

	if (strlen(path) >= sizeof(log_path)) {
		snprintf(err, errlen, "log.file %s: path too long", path);
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0640);
	if (fd == -1) {
		snprintf(err, errlen, "log.file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (log_fd_owned) {
		/* The same number, now the new file: no writer sees a gap. */
		if (dup3(fd, cur, O_CLOEXEC) == -1) {
			snprintf(err, errlen, "log.file %s: dup3: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	} else {
		atomic_store(&log_fd, fd);
		log_fd_owned = true;
	}
	if (path != log_path)
		snprintf(log_path, sizeof(log_path), "%s", path);
	atomic_store(&log_journal, false);
	return 0;
}

int
log_reopen(char *msg, size_t msglen)
{
	if (!log_fd_owned || log_path[0] == '\0') {
		snprintf(msg, msglen, "logging to standard error, no log "
		    "file to reopen");
		return 0;
	}
	if (log_open(log_path, msg, msglen) == -1)
		return -1;
	snprintf(msg, msglen, "log file %s reopened", log_path);
	return 0;
}

int
log_switch(const char *path, char *err, size_t errlen)
{
	int	cur = atomic_load(&log_fd);

	if (strcmp(path, log_path) == 0)
		return 0;
	if (path[0] != '\0')
		return log_open(path, err, errlen) == -1 ? -1 : 1;
	/* Back to stderr: the file's number becomes a copy of it. */
	if (log_fd_owned && dup3(STDERR_FILENO, cur, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "standard error: dup3: %s",
		    strerror(errno));
		return -1;
	}
	log_path[0] = '\0';
	atomic_store(&log_journal, is_journal(cur));
	return 1;
}

int
log_set_fd(int fd)
{
	int	old = atomic_exchange(&log_fd, fd);

	if (log_fd_owned && old != fd)
		close(old);
	log_fd_owned = false;
	log_path[0] = '\0';
	atomic_store(&log_journal, is_journal(fd));
	return old;
}

/* One write per line; a short write is not retried. */
static void
out(const char *line, size_t len)
{
	(void)!write(atomic_load_explicit(&log_fd, memory_order_relaxed),
	    line, len);
}

/* "2026-01-01T00:00:00.000Z" into <buf>; snprintf's result. */
static int
timestamp(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/*
 * Copies <src> into <dst> (<cap> bytes, cap > 0), replacing control bytes
 * with \xNN so that a peer cannot start a line of its own.  Returns the
 * bytes written, NUL excluded; always NUL-terminates.
 */
static size_t
escape_text(char *dst, size_t cap, const char *src)
{
	size_t		n = 0;
	unsigned char	c;

	for (; *src != '\0' && n + 7 < cap; src++) {
		c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", c);
		else
			dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n;
}

/* A text line: "TIME LEVEL: MSG", or "<N>LEVEL: MSG" to the journal. */
static void
emit_text(enum log_level level, const char *msg)
{
	char	esc[LOG_LINE_MAX + 64], line[LOG_LINE_MAX + 128];
	char	ts[96];
	int	n;

	escape_text(esc, sizeof(esc), msg);
	if (atomic_load_explicit(&log_journal, memory_order_relaxed))
		n = snprintf(line, sizeof(line), "<%d>%s: %s\n",
		    level_prio[level], level_names[level], esc);
	else {
		timestamp(ts, sizeof(ts));
		n = snprintf(line, sizeof(line), "%s %s: %s\n", ts,
		    level_names[level], esc);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	out(line, (size_t)n);
}

/*
 * The character at <p> (<left> > 0 bytes there), escaped for JSON, into
 * <u> (8 bytes; NULL: only measure).  Returns its escaped length; the
 * bytes it took to *<adv>.
 */
static size_t
json_unit(const uint8_t *p, size_t left, char *u, size_t *adv)
{
	static const char	short_esc[] = "btnvfr";
	char			tmp[8];
	size_t			n;
	uint8_t			c = p[0];

	if (u == NULL)
		u = tmp;
	*adv = 1;
	if (c == '"' || c == '\\') {
		u[0] = '\\';
		u[1] = (char)c;
		return 2;
	}
	if ((c >= 0x08 && c <= 0x0d && c != 0x0b)) {
		u[0] = '\\';
		u[1] = short_esc[c - 0x08];
		return 2;
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(u, 8, "\\u%04x", c);
		return 6;
	}
	if (c < 0x80) {
		u[0] = (char)c;
		return 1;
	}
	if ((n = topic_utf8_len(p, left)) == 0) {
		memcpy(u, "\\ufffd", 6);
		return 6;
	}
	memcpy(u, p, n);
	*adv = n;
	return n;
}

size_t
log_json_escape(char *dst, size_t cap, const void *src, size_t len)
{
	const uint8_t	*p = src;
	size_t		 i, n = 0, k, adv, total = 0, limit;
	char		 u[8];

	if (cap == 0)
		return 0;
	for (i = 0; i < len; i += adv)
		total += json_unit(p + i, len - i, NULL, &adv);
	limit = cap - 1;
	if (total > limit && limit >= 3)	/* keep room for the mark */
		limit -= 3;
	for (i = 0; i < len; i += adv) {
		k = json_unit(p + i, len - i, u, &adv);
		if (n + k > limit)
			break;
		memcpy(dst + n, u, k);
		n += k;
	}
	if (i < len && cap - 1 - n >= 3) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return n;
}

/*
 * Appends ,"key":value to <j> if it fits, strings cut to <vmax> escaped
 * bytes; a field that does not fit at all is left out and marks <j> cut.
 */
static void
json_field(struct json_line *j, const struct log_field *f, size_t vmax)
{
	const void	*p;
	size_t		 room, len, klen, mark = j->len;
	char		 num[64];
	int		 n;

	if (f->type == LOG_F_NONE || (f->type == LOG_F_STR && f->v.s == NULL))
		return;
	klen = strlen(f->key);
	room = sizeof(j->b) - LOG_JSON_TAIL - j->len;
	if (room < klen + 6) {		/* ,"k":"" at the least */
		j->cut = true;
		return;
	}
	j->len += (size_t)snprintf(j->b + j->len, room, ",\"%s\":", f->key);
	room -= klen + 4;
	switch (f->type) {
	case LOG_F_STR:
	case LOG_F_BYTES:
		p = f->type == LOG_F_STR ? (const void *)f->v.s : f->v.b.p;
		len = f->type == LOG_F_STR ? strlen(f->v.s) : f->v.b.len;
		j->b[j->len++] = '"';
		/* room - 2 for the quotes, + 1 for the NUL it writes */
		j->len += log_json_escape(j->b + j->len, (room - 2 < vmax ?
		    room - 2 : vmax) + 1, p, len);
		j->b[j->len++] = '"';
		return;
	case LOG_F_INT:
		n = snprintf(num, sizeof(num), "%" PRId64, f->v.i);
		break;
	case LOG_F_UINT:
		n = snprintf(num, sizeof(num), "%" PRIu64, f->v.u);
		break;
	case LOG_F_DOUBLE:
		n = isfinite(f->v.d) ? snprintf(num, sizeof(num), "%.3f",
		    f->v.d) : snprintf(num, sizeof(num), "null");
		break;
	case LOG_F_BOOL:
		n = snprintf(num, sizeof(num), "%s", f->v.t ? "true" :
		    "false");
		break;
	default:
		n = snprintf(num, sizeof(num), "null");
		break;
	}
	if (n < 0 || (size_t)n > room) {
		j->len = mark;
		j->cut = true;
		return;
	}
	memcpy(j->b + j->len, num, (size_t)n);
	j->len += (size_t)n;
}

/*
 * {"time":..,"level":..[,"event":<event>]<fields>} and a newline, each
 * string value at most <vmax> bytes escaped.
 */
static void
emit_json(enum log_level level, const char *event,
    const struct log_field *f, size_t nf, size_t vmax)
{
	struct json_line	j;
	char			ts[96];
	size_t			i;

	timestamp(ts, sizeof(ts));
	j.cut = false;
	j.len = (size_t)snprintf(j.b, sizeof(j.b),
	    "{\"time\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
	if (event != NULL)
		j.len += (size_t)snprintf(j.b + j.len, sizeof(j.b) - j.len,
		    ",\"event\":\"%s\"", event);
	for (i = 0; i < nf; i++)
		json_field(&j, &f[i], vmax);
	if (j.cut) {
		memcpy(j.b + j.len, ",\"truncated\":true", 17);
		j.len += 17;
	}
	j.b[j.len++] = '}';
	j.b[j.len++] = '\n';
	out(j.b, j.len);
}

static void
vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char		msg[LOG_LINE_MAX];
	struct log_field f = LOG_STR("msg", msg);
	size_t		len;

	if (!log_enabled(level))
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		return;
	len = strlen(msg);
	if (errnum != 0)
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(errnum));
	if (atomic_load_explicit(&log_json, memory_order_relaxed))
		emit_json(level, NULL, &f, 1, LOG_JSON_MAX);
	else
		emit_text(level, msg);
}

void
log_event(enum log_level level, const char *event,
    const struct log_field *fields, size_t n, const char *fmt, ...)
{
	va_list	ap;
	char	msg[LOG_LINE_MAX];
	int	saved = errno;

	if (!log_enabled(level))
		return;
	if (atomic_load_explicit(&log_json, memory_order_relaxed))
		emit_json(level, event, fields, n, LOG_VALUE_MAX);
	else {
		va_start(ap, fmt);
		if (vsnprintf(msg, sizeof(msg), fmt, ap) >= 0)
			emit_text(level, msg);
		va_end(ap);
	}
	errno = saved;
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
