/* SPDX-License-Identifier: ISC */
/*
 * cmd — the subcommands of the mqttguard binary, as main() dispatches
 * them from its table of commands, and what they share (cmd.c).
 *
 * Each entry point takes the command line from the subcommand's name on
 * (<argv>[0] is "passwd", "acl", ...), prints its results and errors on
 * standard output and standard error, and returns the exit status.  They
 * live in the *_cmd.c files, apart from the modules the daemon runs on,
 * which never print; they are declared together here because main() and
 * the tests need them together.
 */
#ifndef MQTTGUARD_CMD_H
#define MQTTGUARD_CMD_H

#include <stddef.h>
#include <stdio.h>

struct policy;

/* The policy file of the daemon and of the tools run without -c. */
#ifndef CMD_POLICY_DEFAULT	/* the Makefile's, from sysconfdir */
#define CMD_POLICY_DEFAULT	"/etc/mqttguard/mqttguard.yaml"
#endif

/*
 * Loads the policy <file> with config_load_flags(<flags>).  On failure,
 * prints every error and "mqttguard: FILE: policy refused (N errors)" on
 * standard error and returns NULL; else the caller owns the reference.
 */
struct policy	*cmd_policy_load(const char *file, unsigned flags);

/*
 * `mqttguard passwd` (passwd_cmd.c):
 *   mqttguard passwd [-c] [-i iterations] [--stdin] FILE USER
 *   mqttguard passwd -D FILE USER
 * The password is read twice from /dev/tty without echo, or as one line
 * from standard input with --stdin; never from the command line.  Returns
 * 0 done, 1 failed, 2 usage error.
 */
int		 passwd_cmd_main(int argc, char **argv);

/*
 * `mqttguard acl check` (acl_cmd.c):
 *   mqttguard acl check -c POLICY (--user U | --anonymous) [--client-id C]
 *                       {publish|subscribe|read} TOPIC
 * Prints allow or deny and the deciding rule.  A policy is read with
 * CONFIG_PARTIAL, so a file holding only an acl section is enough.
 * Returns 0 allow, 1 deny, 2 error.
 */
int		 acl_cmd_main(int argc, char **argv);

/*
 * `mqttguard import-acl [--anonymous-identity NAME] FILE` (acl_cmd.c):
 * the Mosquitto acl_file FILE as an `acl:` section on standard output.
 * Returns 0, or 2 on a usage error or a file it cannot convert.
 */
int		 acl_cmd_import_main(int argc, char **argv);

/*
 * Runs the tests of <pol> (its `tests:` section), as `mqttguard -t` does,
 * printing each failure with its file:line and the deciding rule, and a
 * summary, to <out> (acl_cmd.c).  Returns the number of failures.
 */
size_t		 acl_cmd_run_tests(const struct policy *pol, FILE *out);

/*
 * `mqttguard lint -c POLICY` (lint_cmd.c): warns about risky or dead ACL
 * rules and files others may write.  Returns 0 clean, 1 warnings, 2 error.
 */
int		 lint_cmd_main(int argc, char **argv);

/*
 * `mqttguard learn` (learn_cmd.c):
 *   mqttguard learn [--threshold N] [--allow-multilevel]
 *                   [--max-records N] FILE...
 *   mqttguard learn --diff -c POLICY FILE...
 * An acl section and tests proposed from audit.observe files on
 * standard output; or what POLICY would deny of the observed traffic
 * and which of its rules nothing used.  Returns 0, 1 (--diff: some
 * observed traffic is denied), 2 error.
 */
int		 learn_cmd_main(int argc, char **argv);

#endif
