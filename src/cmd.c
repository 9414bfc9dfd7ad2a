/* SPDX-License-Identifier: ISC */
/*
 * cmd — what the command-line side of the binary shares: reading a policy
 * for a tool or for `mqttguard -t`, with every error it collected printed
 * on standard error.
 *
 * Called by main() before the daemon starts (the log is not set up from
 * the policy yet) and by the *_cmd.c tools; never from a running daemon,
 * whose modules report through error buffers and the log instead.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mqttguard/cmd.h"
#include "mqttguard/config.h"
#include "mqttguard/policy.h"

struct policy *
cmd_policy_load(const char *file, unsigned flags)
{
	struct config_errors	*errs;
	struct policy		*pol;

	if ((errs = calloc(1, sizeof(*errs))) == NULL) {
		fprintf(stderr, "mqttguard: out of memory\n");
		return NULL;
	}
	if ((pol = config_load_flags(file, errs, flags)) == NULL) {
		config_errors_print(errs, stderr);
		fprintf(stderr, "mqttguard: %s: policy refused (%zu error%s)\n",
		    file, errs->n, errs->n == 1 ? "" : "s");
	}
	free(errs);
	return pol;
}
