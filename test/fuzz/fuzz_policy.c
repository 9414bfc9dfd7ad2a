/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the policy loader (config.c): the input is a
 * policy file, loaded whole and as a partial policy (CONFIG_PARTIAL).
 * Refusals are the loader's job; a crash, a leak, a refusal without an
 * error or an error without text is a finding.  Files the
 * input names are looked up beside it, among copies of test/data's
 * fixtures (fuzz_files.h).
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mqttguard/config.h"
#include "mqttguard/policy.h"

#include "fuzz_files.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	load(unsigned);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_make_dir();
	return 0;
}

static void
load(unsigned flags)
{
	static struct config_errors	errs;
	struct policy			*pol;
	size_t				 i;

	memset(&errs, 0, sizeof(errs));
	pol = config_load_flags(fuzz_path("fuzz-policy.yaml"), &errs, flags);
	/* n counts them all; the first CONFIG_ERRORS_MAX are kept. */
	FUZZ_CHECK(pol != NULL || errs.n > 0);
	for (i = 0; i < errs.n && i < CONFIG_ERRORS_MAX; i++)
		FUZZ_CHECK(errs.msg[i][0] != '\0' &&
		    memchr(errs.msg[i], '\0', CONFIG_ERROR_LEN) != NULL);
	if (pol != NULL)
		policy_unref(pol);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write("fuzz-policy.yaml", data, size);
	load(0);
	load(CONFIG_PARTIAL);
	return 0;
}
