/* SPDX-License-Identifier: ISC */
/*
 * What the targets that read files share: the loaders take a path, so
 * each input is written to a file of a private directory, beside copies
 * of test/data's fixtures (all 0600, as the loaders ask of secrets), so
 * that the files an input names may exist.  The directory (in /dev/shm,
 * or /tmp) is made once per process and removed at exit (not after a
 * crash: the files stay for a look).
 */
#ifndef FUZZ_FILES_H
#define FUZZ_FILES_H

#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

static char	fuzz_dir[64];		/* the private directory */
static char	fuzz_name[4096];	/* fuzz_path()'s answer */

#define FUZZ_CHECK(x)	do { if (!(x)) { fprintf(stderr, "%s:%d: %s\n", \
			    __FILE__, __LINE__, #x); abort(); } } while (0)

/* The path of <name> in the private directory; valid until the next call. */
static inline const char *
fuzz_path(const char *name)
{
	snprintf(fuzz_name, sizeof(fuzz_name), "%s/%s", fuzz_dir, name);
	return fuzz_name;
}

/* Writes <n> bytes at <p> to <name> in the private directory, mode 0600. */
static inline void
fuzz_write(const char *name, const void *p, size_t n)
{
	int	fd;

	fd = open(fuzz_path(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd != -1);
	FUZZ_CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	FUZZ_CHECK(close(fd) == 0);
}

/* Copies regular file <from> to <to> (a name in the directory). */
static inline void
fuzz_copy(const char *from, const char *to)
{
	FILE	*fp;
	char	*buf;
	long	 n;

	if ((fp = fopen(from, "rb")) == NULL)
		return;
	FUZZ_CHECK(fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0);
	rewind(fp);
	FUZZ_CHECK((buf = malloc((size_t)n + 1)) != NULL);
	FUZZ_CHECK(fread(buf, 1, (size_t)n, fp) == (size_t)n);
	fclose(fp);
	fuzz_write(to, buf, (size_t)n);
	free(buf);
}

static int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
fuzz_rm_dir(void)
{
	(void)nftw(fuzz_dir, fuzz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * Makes the private directory, holding a copy of test/data (as
 * seen from where the target was started, or $FUZZ_DATA).
 */
static inline void
fuzz_make_dir(void)
{
	char		 tmpl[] = "/dev/shm/mqttguard-fuzz.XXXXXX", path[4096];
	char		*data = getenv("FUZZ_DATA");
	struct dirent	*de;
	DIR		*d;

	data = realpath(data != NULL ? data : "test/data", NULL);
	/* In memory if it may be: a file is written for every input. */
	if (mkdtemp(tmpl) == NULL) {
		memcpy(tmpl, "/tmp/mqttguard-fuzz.XXXXXX", sizeof(tmpl));
		FUZZ_CHECK(mkdtemp(tmpl) != NULL);
	}
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", tmpl);
	atexit(fuzz_rm_dir);
	if (data != NULL && (d = opendir(data)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", data,
			    de->d_name);
			fuzz_copy(path, de->d_name);
		}
		closedir(d);
	}
	free(data);
}

#endif
