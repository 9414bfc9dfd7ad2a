/* SPDX-License-Identifier: ISC */
/*
 * acl_import — Mosquitto acl_file conversion, for `mqttguard import-acl`.
 *
 * Reads a Mosquitto acl_file and writes the `acl:` section that gives the
 * same answers in mqttguard, or refuses with the line it cannot convert.
 * Prints nothing itself: the output goes to the caller's stream, errors
 * into the caller's buffer.  Not used by the running daemon.
 */
#ifndef MQTTGUARD_ACL_IMPORT_H
#define MQTTGUARD_ACL_IMPORT_H

#include <stddef.h>
#include <stdio.h>

/*
 * Converts the Mosquitto acl_file <path> into an `acl:` section written to
 * <out>, with Mosquitto 2.0's meaning (see acl_import.c for the mapping
 * and the few cases it refuses).  Clients without a username are the
 * identity <anon>.  Returns 0, or -1 with "path:line: what is wrong" in
 * <err> (<errlen> bytes); on -1 nothing has been written to <out>.
 */
int	acl_import_convert(const char *path, const char *anon, FILE *out,
	    char *err, size_t errlen);

#endif
