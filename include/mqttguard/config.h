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

/* Where "workers: auto" finds the process's cgroup v2 and its quota. */
#define CONFIG_CGROUP_ROOT	"/sys/fs/cgroup"
#define CONFIG_PROC_CGROUP	"/proc/self/cgroup"

/*
 * The CPUs this process may use, for "workers: auto": those of its
 * affinity mask (sched_getaffinity(), else those online), bounded by the
 * cgroup v2 quota, rounded up: the lowest cpu.max of the cgroup that the
 * "0::" line of <proc_cgroup> names under <cgroup_root>, and of each
 * cgroup above it.  Says how into <why> (<whylen> bytes), e.g. "affinity
 * 4 CPUs, cgroup cpu.max 1.5".  Returns at least 1.
 */
unsigned	 config_cpus(const char *cgroup_root, const char *proc_cgroup,
		    char *why, size_t whylen);
/*
 * Parses the text of a cgroup v2 cpu.max file, "$MAX $PERIOD": returns 1
 * with the quota and period in microseconds, 0 for "max" (no quota), -1
 * if it is not that.
 */
int		 config_cpu_max(const char *text, uint64_t *quota,
		    uint64_t *period);

/* The libyaml version in use ("0.2.5"), for -V. */
const char	*config_yaml_version(void);

#endif
