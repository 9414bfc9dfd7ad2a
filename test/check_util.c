/* SPDX-License-Identifier: ISC */
/*
 * check_util — the helpers the unit tests share (see check_util.h).
 *
 * Every helper asserts instead of returning an error: a broken fixture
 * fails the test that needed it, in its own process (Check's fork mode),
 * and leaves the others alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "check_suites.h"
#include "check_util.h"
#include "mqttguard/config.h"

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
