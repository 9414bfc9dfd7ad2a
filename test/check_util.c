/* SPDX-License-Identifier: ISC */
/*
 * check_util — the helpers the unit tests share (see check_util.h).
 *
 * Every helper asserts instead of returning an error: a broken fixture
 * fails the test that needed it, in its own process (Check's fork mode),
 * and leaves the others alone.  util_suite() at the end is the suite of
 * src/util.c, which is what this file's name says as well.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "check_suites.h"
#include "mqttguard/config.h"
#include "mqttguard/util.h"

static int	rm_entry(const char *, const struct stat *, int,
		    struct FTW *);

static uint64_t	tu_rng = 88172645463325252ULL;

uint8_t *
tu_dup_exact(const void *b, size_t len)
{
	uint8_t	*p;

	p = malloc(len != 0 ? len : 1);
	ck_assert_ptr_nonnull(p);
	if (len != 0)
		memcpy(p, b, len);
	return p;
}

char *
tu_dup_str(const char *s)
{
	return (char *)tu_dup_exact(s, strlen(s) + 1);
}

void
tu_srand(uint64_t seed)
{
	tu_rng = seed != 0 ? seed : 1;	/* 0 would stay 0 */
}

unsigned
tu_rand(unsigned n)
{
	tu_rng ^= tu_rng << 13;
	tu_rng ^= tu_rng >> 7;
	tu_rng ^= tu_rng << 17;
	return (unsigned)(tu_rng % n);
}

int
tu_run(char *const argv[])
{
	pid_t	pid;
	int	status, fd;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tu_rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *
tu_read_file(const char *path, size_t *lenp)
{
	struct stat	 st;
	char		*buf;
	int		 fd;

	fd = open(path, O_RDONLY);
	ck_assert_msg(fd != -1, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	if (lenp != NULL)
		*lenp = (size_t)st.st_size;
	return buf;
}

struct policy *
tu_load(const char *file, unsigned flags, struct config_errors **errs)
{
	*errs = calloc(1, sizeof(**errs));
	ck_assert_ptr_nonnull(*errs);
	return config_load_flags(file, *errs, flags);
}

void
tu_load_refused(const char *file, unsigned flags, size_t n,
    const char *first)
{
	struct config_errors	*e;
	struct policy		*p;

	p = tu_load(file, flags, &e);
	ck_assert_msg(p == NULL, "%s loaded but must be refused", file);
	ck_assert_msg(e->n == n, "%s: %zu errors, want %zu (first: %s)",
	    file, e->n, n, e->msg[0]);
	ck_assert_str_eq(e->msg[0], first);
	free(e);
}

/* ---- util_suite(): the tests of src/util.c -------------------------- */

START_TEST(errf)
{
	char	buf[8];

	util_errf(buf, sizeof(buf), "%s:%d", "ab", 12);
	ck_assert_str_eq(buf, "ab:12");
	util_errf(buf, sizeof(buf), "%s", "longer than eight");
	ck_assert_str_eq(buf, "longer ");	/* cut, terminated */
	util_errf(NULL, 0, "%s", "nowhere");	/* no message wanted */
	buf[0] = 'x';
	util_errf(buf, 0, "%s", "nowhere");
	ck_assert_int_eq(buf[0], 'x');
}
END_TEST

START_TEST(addr_str)
{
	struct sockaddr_in	 in4;
	struct sockaddr_in6	 in6;
	struct sockaddr_un	 un;
	char			 buf[UTIL_ADDR_MAX];

	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = htons(1883);
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr), 1);
	ck_assert_int_eq(util_addr_str((struct sockaddr *)&in4, false, buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "192.0.2.1");
	util_addr_str((struct sockaddr *)&in4, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.1:1883");

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(5);
	ck_assert_int_eq(inet_pton(AF_INET6, "::1", &in6.sin6_addr), 1);
	util_addr_str((struct sockaddr *)&in6, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "::1");
	util_addr_str((struct sockaddr *)&in6, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:5");
	/* The longest form fits UTIL_ADDR_MAX. */
	memset(&in6.sin6_addr, 0xff, sizeof(in6.sin6_addr));
	in6.sin6_port = htons(65535);
	util_addr_str((struct sockaddr *)&in6, true, buf, sizeof(buf));
	ck_assert_str_eq(buf,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	ck_assert_uint_eq(util_addr_port((struct sockaddr *)&in6), 65535);
	ck_assert_uint_eq(util_addr_port((struct sockaddr *)&in4), 1883);

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ck_assert_int_eq(util_addr_str((struct sockaddr *)&un, true, buf,
	    sizeof(buf)), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(util_addr_port((struct sockaddr *)&un), 0);
}
END_TEST

START_TEST(now_ms)
{
	struct timespec	ts;
	uint64_t	a, b, ref;

	a = util_now_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ref = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	b = util_now_ms();
	ck_assert_uint_le(a, ref);
	ck_assert_uint_le(ref, b);
}
END_TEST

/*
 * A secret file's permission bits: group-read at most, only the owner
 * writes, nothing for others.  Pure: the mode alone, no file.
 */
static const struct {
	unsigned	 mode;
	const char	*why;	/* NULL: accepted */
} secret_modes[] = {
	{ 0600, NULL }, { 0400, NULL }, { 0640, NULL }, { 0440, NULL },
	{ 0700, NULL }, { 0750, NULL }, { 0100600, NULL },
	{ 0644, "x: mode 0644: others may read a secret file (chmod o-rwx)" },
	{ 0604, "x: mode 0604: others may read a secret file (chmod o-rwx)" },
	{ 0666, "x: mode 0666: others may read a secret file (chmod o-rwx)" },
	{ 0602, "x: mode 0602: others may write a secret file (chmod o-rwx)" },
	{ 0601, "x: mode 0601: others may access a secret file (chmod "
	    "o-rwx)" },
	{ 0660, "x: mode 0660: its group may write a secret file; only the "
	    "owner may (chmod g-w)" },
	{ 0100620, "x: mode 0620: its group may write a secret file; only "
	    "the owner may (chmod g-w)" },
};

START_TEST(secret_mode)
{
	char	err[256] = "";
	int	rc;

	rc = util_secret_mode_check("x", secret_modes[_i].mode, err,
	    sizeof(err));
	if (secret_modes[_i].why == NULL) {
		ck_assert_int_eq(rc, 0);
		ck_assert_str_eq(err, "");
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(err, secret_modes[_i].why);
	}
}
END_TEST

/* The policy file: only others' write bit counts. */
START_TEST(policy_mode)
{
	char	err[256] = "";

	ck_assert_int_eq(util_policy_mode_check("p", 0644, err, sizeof(err)),
	    0);
	ck_assert_int_eq(util_policy_mode_check("p", 0664, err, sizeof(err)),
	    0);
	ck_assert_int_eq(util_policy_mode_check("p", 0604, err, sizeof(err)),
	    0);
	ck_assert_int_eq(util_policy_mode_check("p", 0666, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "p: mode 0666: others may write a policy file, "
	    "and so decide who may do what (chmod o-w)");
	ck_assert_int_eq(util_policy_mode_check("p", 0602, err, sizeof(err)),
	    -1);
}
END_TEST

/* On files: the final target of a symlink is judged. */
START_TEST(secret_path)
{
	char	dir[] = "/tmp/check_util.XXXXXX", file[64], link[64];
	char	err[256] = "";
	int	fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/secret", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_ne(fd = open(file, O_CREAT | O_WRONLY, 0600), -1);
	ck_assert_int_eq(fchmod(fd, 0640), 0);
	ck_assert_int_eq(symlink(file, link), 0);
	ck_assert_int_eq(util_secret_path_check(link, err, sizeof(err)), 0);
	ck_assert_int_eq(util_secret_file_check(link, fd, err, sizeof(err)),
	    0);
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	ck_assert_int_eq(util_secret_path_check(link, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "mode 0644: others may read"));
	ck_assert_int_eq(util_secret_file_check(link, fd, err, sizeof(err)),
	    -1);
	close(fd);
	unlink(link);
	unlink(file);
	ck_assert_int_eq(util_secret_path_check(file, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	rmdir(dir);
}
END_TEST

Suite *
util_suite(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("util");

	tcase_add_test(tc, errf);
	tcase_add_test(tc, addr_str);
	tcase_add_test(tc, now_ms);
	tcase_add_loop_test(tc, secret_mode, 0,
	    sizeof(secret_modes) / sizeof(secret_modes[0]));
	tcase_add_test(tc, policy_mode);
	tcase_add_test(tc, secret_path);
	suite_add_tcase(s, tc);
	return s;
}
