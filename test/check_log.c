/* SPDX-License-Identifier: ISC */
/*
 * check_log — the log family: JSON string escaping (table-driven: every
 * class of byte RFC 8259 and RFC 3629 treat apart, and the cut), events in
 * both formats read back through a pipe, the journal's priority prefix,
 * the bounds of a JSON line, and log.file with its reopen and a reload's
 * switch to another file or back to stderr.
 *
 * Each test changes the log's process-wide state; Check's fork mode gives
 * every test a fresh copy.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "check_suites.h"
#include "mqttguard/log.h"

/* One log_json_escape() case: <len> bytes of <in> into <cap> bytes. */
struct esc_case {
	const char	*name;
	const char	*in;
	size_t		 len;
	size_t		 cap;
	const char	*want;
};

#define S(x)	x, sizeof(x) - 1
static const struct esc_case esc_cases[] = {
	{ "ascii", S("sensors/t1"), 64, "sensors/t1" },
	{ "empty", S(""), 64, "" },
	/* RFC 8259 7: quotation mark and reverse solidus must be escaped */
	{ "quote_backslash", S("a\"b\\c"), 64, "a\\\"b\\\\c" },
	/* ... and the control characters U+0000 to U+001F */
	{ "short_forms", S("\b\t\n\f\r"), 64, "\\b\\t\\n\\f\\r" },
	{ "control_u", S("\x01\x1f"), 64, "\\u0001\\u001f" },
	{ "vt_has_no_short_form", S("\x0b"), 64, "\\u000b" },
	{ "nul_byte_kept", S("a\0b"), 64, "a\\u0000b" },
	{ "del", S("\x7f"), 64, "\\u007f" },
	{ "forged_line", S("x\n{\"level\":\"error\"}"), 64,
	    "x\\n{\\\"level\\\":\\\"error\\\"}" },
	/* RFC 3629: valid sequences pass as they are */
	{ "utf8_2", S("caf\xc3\xa9"), 64, "caf\xc3\xa9" },
	{ "utf8_3", S("\xe2\x82\xac"), 64, "\xe2\x82\xac" },
	{ "utf8_4", S("\xf0\x9f\x98\x80"), 64, "\xf0\x9f\x98\x80" },
	{ "utf8_max", S("\xf4\x8f\xbf\xbf"), 64, "\xf4\x8f\xbf\xbf" },
	/* ... each byte of an invalid one is U+FFFD */
	{ "lone_continuation", S("\x80"), 64, "\\ufffd" },
	{ "overlong_c0", S("\xc0\xaf"), 64, "\\ufffd\\ufffd" },
	{ "overlong_e0", S("\xe0\x80\xaf"), 64, "\\ufffd\\ufffd\\ufffd" },
	{ "surrogate", S("\xed\xa0\x80"), 64, "\\ufffd\\ufffd\\ufffd" },
	{ "past_10ffff", S("\xf4\x90\x80\x80"), 64,
	    "\\ufffd\\ufffd\\ufffd\\ufffd" },
	{ "cut_sequence", S("a\xe2\x82"), 64, "a\\ufffd\\ufffd" },
	{ "ff", S("\xff" "b"), 64, "\\ufffdb" },
	{ "resync", S("\xe2\x28\xa1"), 64, "\\ufffd(\\ufffd" },
	/* bounded: cut between characters, marked */
	{ "fits_exactly", S("abcdefg"), 8, "abcdefg" },
	{ "cut_marked", S("abcdefghij"), 8, "abcd..." },
	{ "cut_not_in_escape", S("\n\n\n\n"), 8, "\\n\\n..." },
	{ "cut_not_in_utf8", S("\xc3\xa9\xc3\xa9\xc3\xa9"), 6,
	    "\xc3\xa9..." },
	{ "cut_not_in_u", S("\x01\x01"), 9, "..." },
	{ "cut_after_u", S("\x01\x01"), 10, "\\u0001..." },
	{ "tiny", S("abc"), 3, "ab" },
	{ "one", S("abc"), 1, "" },
};
#undef S

START_TEST(escape_table)
{
	const struct esc_case	*c = &esc_cases[_i];
	uint8_t			*in = tu_dup_exact(c->in, c->len);
	char			*out = malloc(c->cap);
	size_t			 n;

	ck_assert_ptr_nonnull(out);
	n = log_json_escape(out, c->cap, in, c->len);
	ck_assert_msg(strcmp(out, c->want) == 0, "%s: got \"%s\", want "
	    "\"%s\"", c->name, out, c->want);
	ck_assert_uint_eq(n, strlen(c->want));
	ck_assert_uint_lt(n, c->cap);
	free(out);
	free(in);
}
END_TEST

/* Every byte value alone: valid JSON inside quotes, nothing raw below
 * 0x20, and a byte of 0x80 or more never passes alone. */
START_TEST(escape_every_byte)
{
	char	out[16];
	uint8_t	b;
	int	c;

	for (c = 0; c < 256; c++) {
		b = (uint8_t)c;
		log_json_escape(out, sizeof(out), &b, 1);
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			ck_assert_msg(out[0] == c && out[1] == '\0', "0x%02x",
			    c);
		else
			ck_assert_msg(out[0] == '\\', "0x%02x: %s", c, out);
	}
}
END_TEST

/* The log writes to a pipe; returns its read end (non-blocking). */
static int
capture(void)
{
	int	p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(fcntl(p[0], F_SETFL, O_NONBLOCK), -1);
	log_set_fd(p[1]);
	return p[0];
}

/* What the log wrote since the last call, NUL-terminated, into <buf>. */
static size_t
captured(int fd, char *buf, size_t len)
{
	ssize_t	n = read(fd, buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static const uint8_t topic[] = { 'a', '"', 'b', 0, 'c' };

static void
sample_event(void)
{
	const struct log_field	f[] = {
		LOG_UINT("session", 42001),
		LOG_STR("src_ip", "127.0.0.2"),
		LOG_UINT("src_port", 50000),
		LOG_STR("identity", NULL),		/* left out */
		LOG_BYTES("topic", topic, sizeof(topic)),
		LOG_UINT_IF("code", 0x87, true),
		LOG_UINT_IF("absent", 1, false),	/* left out */
		LOG_INT("delta", -3),
		LOG_BOOL("tls", true),
		LOG_DOUBLE("seconds", 1.5),
	};

	log_event(LOG_LVL_WARN, "acl.deny", f, NELEM(f), "acl: session %d "
	    "denied \"%s\"", 42001, "a\nb");
}

START_TEST(event_json)
{
	char	buf[LOG_JSON_MAX * 2];
	int	fd = capture();

	log_init(LOG_LVL_INFO, true);
	sample_event();
	captured(fd, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "{\"time\":\"", 9) == 0, "%s", buf);
	ck_assert_msg(strstr(buf, "Z\",\"level\":\"warn\",\"event\":"
	    "\"acl.deny\",\"session\":42001,\"src_ip\":\"127.0.0.2\","
	    "\"src_port\":50000,\"topic\":\"a\\\"b\\u0000c\",\"code\":135,"
	    "\"delta\":-3,\"tls\":true,\"seconds\":1.500}\n") != NULL,
	    "%s", buf);
	ck_assert_ptr_null(strstr(buf, "acl: session"));	/* no prose */
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
}
END_TEST

START_TEST(event_text_unchanged)
{
	char	buf[LOG_LINE_MAX * 2];
	char	*sp;
	int	fd = capture();

	log_init(LOG_LVL_INFO, false);
	sample_event();
	captured(fd, buf, sizeof(buf));
	/* "2026-01-01T00:00:00.000Z " then the sentence, escaped */
	ck_assert_ptr_nonnull(sp = strchr(buf, ' '));
	ck_assert_uint_eq((size_t)(sp - buf), 24);
	ck_assert_str_eq(sp, " warn: acl: session 42001 denied \"a\\x0ab\"\n");
}
END_TEST

START_TEST(plain_json_msg)
{
	char	buf[LOG_JSON_MAX * 2];
	int	fd = capture();

	log_init(LOG_LVL_INFO, true);
	log_info("started, \"%s\"\t%s", "q", "\xff");
	captured(fd, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "\",\"level\":\"info\",\"msg\":\"started, "
	    "\\\"q\\\"\\t\\ufffd\"}\n") != NULL, "%s", buf);
}
END_TEST

START_TEST(level_filters_events)
{
	const struct log_field	f[] = { LOG_UINT("session", 1) };
	char			buf[256];
	int			fd = capture();

	log_init(LOG_LVL_WARN, true);
	log_event(LOG_LVL_INFO, "session.open", f, NELEM(f), "x");
	log_debug("x");
	ck_assert_uint_eq(captured(fd, buf, sizeof(buf)), 0);
	log_event(LOG_LVL_ERROR, "policy.reload", f, NELEM(f), "x");
	ck_assert_uint_gt(captured(fd, buf, sizeof(buf)), 0);
}
END_TEST

/* Values are cut at LOG_VALUE_MAX, then fields dropped at the line's
 * end; the line stays one JSON object under LOG_JSON_MAX. */
START_TEST(json_bounded)
{
	char			 big[3000], buf[LOG_JSON_MAX * 2], *v;
	struct log_field	 f[12];
	int			 fd = capture();
	size_t			 i, n;

	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < NELEM(f); i++) {
		f[i].key = "k";
		f[i].type = LOG_F_STR;
		f[i].v.s = big;
	}
	log_init(LOG_LVL_INFO, true);
	log_event(LOG_LVL_WARN, "limit.hit", f, NELEM(f), "x");
	n = captured(fd, buf, sizeof(buf));
	ck_assert_uint_le(n, LOG_JSON_MAX);
	ck_assert_msg(strcmp(buf + n - 19, ",\"truncated\":true}\n") == 0,
	    "%s", buf + n - 40);
	v = strstr(buf, "\"k\":\"") + 5;
	/* 84 escapes of 6 bytes and the mark: 507 <= LOG_VALUE_MAX */
	ck_assert_uint_eq((size_t)(strchr(v, '"') - v), 507);
	ck_assert(strncmp(strchr(v, '"') - 3, "...", 3) == 0);
	ck_assert_ptr_null(strchr(buf, '\x01'));
}
END_TEST

/* JOURNAL_STREAM names the output: "<N>" first, no timestamp. */
START_TEST(journal_prefix)
{
	char		buf[512], env[64];
	struct stat	st;
	int		p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fstat(p[1], &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	ck_assert_int_eq(setenv("JOURNAL_STREAM", env, 1), 0);
	log_set_fd(p[1]);
	log_init(LOG_LVL_DEBUG, false);
	log_error("e");
	log_warnx("w");
	log_info("i");
	log_debug("d");
	captured(p[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "<3>error: e\n<4>warn: w\n<6>info: i\n"
	    "<7>debug: d\n");
	/* Another stream's numbers (a child's stderr redirected): none. */
	ck_assert_int_eq(setenv("JOURNAL_STREAM", "1:1", 1), 0);
	log_init(LOG_LVL_INFO, false);
	log_info("i");
	captured(p[0], buf, sizeof(buf));
	ck_assert(buf[0] != '<');
	ck_assert_str_eq(buf + 24, " info: i\n");
}
END_TEST

/* log.file: 0640, close-on-exec, appended; reopened after a rename. */
START_TEST(file_reopen)
{
	char		dir[] = "/tmp/check_log.XXXXXX", path[256], old[256];
	char		msg[512], *text;
	struct stat	st;
	int		fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mqttguard.log", dir);
	snprintf(old, sizeof(old), "%s/mqttguard.log.1", dir);
	umask(022);
	ck_assert_int_eq(log_open(path, msg, sizeof(msg)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	fd = log_set_fd(STDERR_FILENO);		/* which number it is */
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(log_open(path, msg, sizeof(msg)), 0);
	log_init(LOG_LVL_INFO, false);
	log_info("before");
	ck_assert_int_eq(rename(path, old), 0);
	log_info("between");
	ck_assert_int_eq(log_reopen(msg, sizeof(msg)), 0);
	ck_assert_ptr_nonnull(strstr(msg, "reopened"));
	log_info("after");
	text = tu_read_file(old, NULL);
	ck_assert_ptr_nonnull(strstr(text, "info: before\n"));
	ck_assert_ptr_nonnull(strstr(text, "info: between\n"));
	ck_assert_ptr_null(strstr(text, "after"));
	free(text);
	text = tu_read_file(path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "info: after\n"));
	ck_assert_ptr_null(strstr(text, "before"));
	free(text);
	ck_assert_int_eq(log_open("/nonexistent/dir/x.log", msg,
	    sizeof(msg)), -1);
	ck_assert_ptr_nonnull(strstr(msg, "No such file"));
	log_info("still");			/* the old file stays */
	text = tu_read_file(path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "info: still\n"));
	free(text);
	tu_rm_tree(dir);
}
END_TEST

/*
 * A reload's change of log.file: to another file, to the same one (no
 * change), back to stderr (a pipe here) on the same descriptor number,
 * and a path that cannot be opened (the output stays).
 */
START_TEST(file_switch)
{
	char	dir[] = "/tmp/check_log.XXXXXX", a[256], b[256];
	char	msg[512], buf[256], *text;
	int	p[2];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.log", dir);
	snprintf(b, sizeof(b), "%s/b.log", dir);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(fcntl(p[0], F_SETFL, O_NONBLOCK), -1);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	log_init(LOG_LVL_INFO, false);
	ck_assert_int_eq(log_switch("", msg, sizeof(msg)), 0);
	ck_assert_int_eq(log_switch(a, msg, sizeof(msg)), 1);
	log_info("one");
	ck_assert_int_eq(log_switch(a, msg, sizeof(msg)), 0);
	ck_assert_int_eq(log_switch(b, msg, sizeof(msg)), 1);
	log_info("two");
	ck_assert_int_eq(log_switch("/nonexistent/dir/x.log", msg,
	    sizeof(msg)), -1);
	ck_assert_ptr_nonnull(strstr(msg, "No such file"));
	log_info("three");
	ck_assert_int_eq(log_switch("", msg, sizeof(msg)), 1);
	log_info("four");
	ck_assert_int_eq(log_reopen(msg, sizeof(msg)), 0);
	ck_assert_ptr_nonnull(strstr(msg, "standard error"));
	ck_assert_int_eq(log_switch(b, msg, sizeof(msg)), 1);
	log_info("five");

	text = tu_read_file(a, NULL);
	ck_assert_ptr_nonnull(strstr(text, "info: one\n"));
	ck_assert_ptr_null(strstr(text, "two"));
	free(text);
	text = tu_read_file(b, NULL);
	ck_assert_ptr_nonnull(strstr(text, "info: two\n"));
	ck_assert_ptr_nonnull(strstr(text, "info: three\n"));
	ck_assert_ptr_null(strstr(text, "four"));
	ck_assert_ptr_nonnull(strstr(text, "info: five\n"));
	free(text);
	captured(p[0], buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "info: four\n"));
	ck_assert_ptr_null(strstr(buf, "five"));
	tu_rm_tree(dir);
}
END_TEST

START_TEST(reopen_without_file)
{
	char	msg[256];

	ck_assert_int_eq(log_reopen(msg, sizeof(msg)), 0);
	ck_assert_ptr_nonnull(strstr(msg, "standard error"));
}
END_TEST

Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc;

	tc = tcase_create("escape");
	tcase_add_loop_test(tc, escape_table, 0, (int)NELEM(esc_cases));
	tcase_add_test(tc, escape_every_byte);
	suite_add_tcase(s, tc);

	tc = tcase_create("lines");
	tcase_add_test(tc, event_json);
	tcase_add_test(tc, event_text_unchanged);
	tcase_add_test(tc, plain_json_msg);
	tcase_add_test(tc, level_filters_events);
	tcase_add_test(tc, json_bounded);
	tcase_add_test(tc, journal_prefix);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_test(tc, file_reopen);
	tcase_add_test(tc, file_switch);
	tcase_add_test(tc, reopen_without_file);
	suite_add_tcase(s, tc);
	return s;
}
