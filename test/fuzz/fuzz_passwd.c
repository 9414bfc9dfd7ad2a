/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the password-file reader (passwd.c): the input is
 * a password file, loaded as the daemon loads it.  A refusal must come
 * with a message; a loaded database is asked about the users its lines
 * name, and a password is checked for those whose hash is cheap to
 * compute ($6$, $7$ up to 1000 iterations, argon2id up to m=64 t=2), and
 * only for users the database has (an unknown one is verified against a
 * dummy entry of the default cost): a campaign must not spend its time in
 * a KDF.  A crash, a leak or an
 * answer outside the enum is a finding.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/passwd.h"

#include "fuzz_files.h"

#define LINES_ASKED	4

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static bool	cheap(const char *, size_t);
static void	ask(const struct passwd_db *, const char *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_make_dir();
	return 0;
}

/* Whether the <n>-byte hash at <h> costs little to verify. */
static bool
cheap(const char *h, size_t n)
{
	char		 buf[128];
	const char	*m, *t;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (strncmp(buf, "$6$", 3) == 0)
		return true;
	if (strncmp(buf, "$7$", 3) == 0)
		return strtoul(buf + 3, NULL, 10) <= 1000;
	if (strncmp(buf, "$argon2id$", 10) == 0) {
		if ((m = strstr(buf, "m=")) == NULL ||
		    (t = strstr(buf, "t=")) == NULL)
			return false;
		return strtoul(m + 2, NULL, 10) <= 64 &&
		    strtoul(t + 2, NULL, 10) <= 2;
	}
	return false;
}

/* The user of the line at <line> (<n> bytes), and a password for it. */
static void
ask(const struct passwd_db *db, const char *line, size_t n)
{
	static const uint8_t	 pw[] = "password";
	const char		*colon;
	enum passwd_result	 r;
	size_t			 ulen;

	if ((colon = memchr(line, ':', n)) == NULL)
		return;
	ulen = (size_t)(colon - line);
	/* An unknown user is verified against a costly dummy entry. */
	if (!passwd_has(db, line, ulen) || !cheap(colon + 1, n - ulen - 1))
		return;
	r = passwd_verify(db, line, ulen, pw, sizeof(pw) - 1);
	FUZZ_CHECK(r == PASSWD_OK || r == PASSWD_UNKNOWN_USER ||
	    r == PASSWD_BAD_PASSWORD || r == PASSWD_ERROR);
	FUZZ_CHECK(passwd_result_name(r) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct passwd_db	*db;
	char			 err[PASSWD_ERR_LEN];
	const char		*p = (const char *)data, *nl;
	size_t			 left = size, n;
	unsigned		 i;

	fuzz_write("fuzz.passwd", data, size);
	err[0] = '\0';
	db = passwd_load(fuzz_path("fuzz.passwd"), err, sizeof(err));
	if (db == NULL) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
		return 0;
	}
	FUZZ_CHECK(passwd_count(db) <= size);
	for (i = 0; i < LINES_ASKED && left > 0; i++) {
		nl = memchr(p, '\n', left);
		n = nl != NULL ? (size_t)(nl - p) : left;
		ask(db, p, n);
		if (nl == NULL)
			break;
		left -= n + 1;
		p = nl + 1;
	}
	(void)passwd_has(db, "", 0);
	passwd_free(db);
	return 0;
}
