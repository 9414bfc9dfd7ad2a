/* SPDX-License-Identifier: ISC */
/*
 * cmd — the subcommands of the mqttguard binary, as main() dispatches
 * them from its table of commands.
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

/*
 * `mqttguard passwd` (passwd_cmd.c):
 *   mqttguard passwd [-c] [-i iterations] [--stdin] FILE USER
 *   mqttguard passwd -D FILE USER
 * The password is read twice from /dev/tty without echo, or as one line
 * from standard input with --stdin; never from the command line.  Returns
 * 0 done, 1 failed, 2 usage error.
 */
int	passwd_cmd_main(int argc, char **argv);

#endif
