/* SPDX-License-Identifier: ISC */
/*
 * aclfile — the ACL tools of the command line, and Mosquitto acl_file
 * conversion.
 *
 *   mqttguard acl check -c POLICY (--user U | --anonymous) [--client-id C]
 *                       {publish|subscribe|read} TOPIC
 *   mqttguard lint -c POLICY
 *   mqttguard import-acl [--anonymous-identity NAME] FILE
 *
 * and the policy's own tests, which `mqttguard -t` runs.  These are the
 * only functions of the ACL that print; the decisions themselves are
 * acl.c's.  A policy is read with CONFIG_PARTIAL, so a file holding only an
 * acl section (and tests) is enough.
 */
#ifndef MQTTGUARD_ACLFILE_H
#define MQTTGUARD_ACLFILE_H

#include <stddef.h>
#include <stdio.h>

struct policy;

/* The subcommands; <argv>[0] is "acl", "lint", "import-acl".  Exit codes. */
int	aclfile_check_main(int argc, char **argv);
int	aclfile_lint_main(int argc, char **argv);
int	aclfile_import_main(int argc, char **argv);

/*
 * Converts the Mosquitto acl_file <path> into an `acl:` section written to
 * <out>, with Mosquitto 2.0's meaning (see aclfile.c for the mapping and
 * the few cases it refuses).  Clients without a username are the identity
 * <anon>.  Returns 0, or -1 with "path:line: what is wrong" in <err>.
 */
int	aclfile_import(const char *path, const char *anon, FILE *out,
	    char *err, size_t errlen);

/*
 * Runs the tests of <pol> (its `tests:` section), printing each failure
 * with its file:line and the deciding rule, and a summary, to <out>.
 * Returns the number of failures.
 */
size_t	aclfile_run_tests(const struct policy *pol, FILE *out);

#endif
