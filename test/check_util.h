/* SPDX-License-Identifier: ISC */
/*
 * check_util — the helpers every unit-test file shares, so that none keeps
 * a copy of its own.  They fail the running test (ck_assert) instead of
 * returning errors, so they may only be called inside a test or a
 * fixture.  The prefix is tu_ ("test utility"): check_util_ would not let
 * a call fit a line.
 */
#ifndef CHECK_UTIL_H
#define CHECK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_errors;
struct policy;

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * A copy of <len> bytes at <b> in an allocation of exactly that size (one
 * byte when 0), so ASan reports a read one past the end.  Caller frees.
 */
uint8_t	*tu_dup_exact(const void *b, size_t len);
/* A copy of <s> with its NUL, exactly as long.  Caller frees. */
char	*tu_dup_str(const char *s);

/* A xorshift generator: the same sequence from the same seed, anywhere. */
void	 tu_srand(uint64_t seed);
/* A number in [0, <n>); <n> > 0. */
unsigned tu_rand(unsigned n);

/* Runs <argv> (a path, no shell), output discarded; the exit code. */
int	 tu_run(char *const argv[]);
/* Removes directory <dir> and everything below it. */
void	 tu_rm_tree(const char *dir);
/* The file <path> whole, NUL-terminated; its length to *<lenp> if set. */
char	*tu_read_file(const char *path, size_t *lenp);

/*
 * config_load_flags(<file>, ..., <flags>) with a new error list in *<errs>
 * (the caller frees it); the policy or NULL.
 */
struct policy *tu_load(const char *file, unsigned flags,
	    struct config_errors **errs);
/*
 * That the loader refuses <file> (with <flags>) with <n> errors, the
 * first of them <first>, word for word.
 */
void	 tu_load_refused(const char *file, unsigned flags, size_t n,
	    const char *first);

#endif
