/* SPDX-License-Identifier: ISC */
/*
 * config — the policy file (YAML) to a new policy snapshot.
 *
 * The only module that includes yaml.h.  config_load() parses the whole
 * file, collects every error (each naming file:line:column and the key),
 * runs the whole-policy checks and returns a complete snapshot or NULL.  It
 * applies nothing: the caller decides what to do with the snapshot, so
 * `mqttguard -t` and a reload run exactly the same code.
 */
#ifndef MQTTGUARD_CONFIG_H
#define MQTTGUARD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mqttguard/policy.h"

#define CONFIG_ERRORS_MAX	32
#define CONFIG_ERROR_LEN	512

/* Errors collected by one load; n may exceed CONFIG_ERRORS_MAX (dropped). */
struct config_errors {
	size_t	n;
	char	msg[CONFIG_ERRORS_MAX][CONFIG_ERROR_LEN];
};

/*
 * Loads <path>.  Returns a snapshot with one reference, or NULL with at least
 * one message in <errs> ("file:line:column: key: what is wrong").
 */
struct policy	*config_load(const char *path, struct config_errors *errs);

/*
 * Flags of config_load_flags().  CONFIG_PARTIAL: a file with neither
 * listeners nor upstream is accepted (an acl section and its tests alone,
 * for `mqttguard acl check`, `lint` and `-t`); a file with one of them is a
 * whole policy and needs both, as config_load() does.
 */
#define CONFIG_PARTIAL	0x1

/* config_load() with <flags>; config_load() is config_load_flags(.., 0). */
struct policy	*config_load_flags(const char *path,
		    struct config_errors *errs, unsigned flags);

/* Prints every collected error, one per line, to <fp>. */
void		 config_errors_print(const struct config_errors *, FILE *fp);

/* The libyaml version in use ("0.2.5"), for -V. */
const char	*config_yaml_version(void);

#endif
