/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the Mosquitto acl_file importer (acl_import.c):
 * the input's first byte picks the anonymous identity, the rest is the
 * acl_file.  A refusal must come with a message.  What a conversion
 * writes must be the acl section it promises: included by a policy, the
 * real loader takes it without an error (printed before the abort).
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/acl_import.h"
#include "mqttguard/config.h"
#include "mqttguard/policy.h"

#include "fuzz_files.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	load(const char *, const char *, size_t);

static const char policy_text[] =
    "listeners:\n"
    "  - {name: l, address: 127.0.0.1, port: 18883, tls: false}\n"
    "upstream: {host: 127.0.0.1, port: 1883}\n"
    "auth:\n"
    "  anonymous: true\n"
    "  anonymous_identity: %s\n"
    "acl:\n"
    "  include: fuzz-imported.yaml\n";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_make_dir();
	return 0;
}

/* The section <out> (<n> bytes), converted for <anon>, must load. */
static void
load(const char *anon, const char *out, size_t n)
{
	static struct config_errors	 errs;
	struct policy			*pol;
	char				 text[sizeof(policy_text) + 64];

	fuzz_write("fuzz-imported.yaml", out, n);
	snprintf(text, sizeof(text), policy_text, anon);
	fuzz_write("fuzz-policy.yaml", text, strlen(text));
	memset(&errs, 0, sizeof(errs));
	if ((pol = config_load(fuzz_path("fuzz-policy.yaml"), &errs)) == NULL) {
		fprintf(stderr, "the imported section does not load:\n%.*s\n",
		    (int)n, out);
		config_errors_print(&errs, stderr);
		abort();
	}
	policy_unref(pol);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const anons[] = { "anonymous", "anon", "guest",
	    "nobody" };
	const char	*anon;
	char		 err[512];
	char		*out = NULL;
	size_t		 n = 0;
	FILE		*fp;
	int		 rc;

	if (size == 0)
		return 0;
	anon = anons[data[0] % 4];
	fuzz_write("fuzz.acl", data + 1, size - 1);
	FUZZ_CHECK((fp = open_memstream(&out, &n)) != NULL);
	err[0] = '\0';
	rc = acl_import_convert(fuzz_path("fuzz.acl"), anon, fp, err,
	    sizeof(err));
	FUZZ_CHECK(fclose(fp) == 0);
	if (rc == -1)
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
	else {
		FUZZ_CHECK(rc == 0);
		load(anon, out, n);
	}
	free(out);
	return 0;
}
