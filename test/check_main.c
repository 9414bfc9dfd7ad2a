/* SPDX-License-Identifier: ISC */
/*
 * The unit-test runner: adds every module's suite and exits non-zero on any
 * failure.  Check's fork mode stays on, so a crash fails one test, not the
 * run.  Run from the top directory (test/data paths are relative to it).
 */
#include <stdlib.h>

#include "check_suites.h"

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(topic_suite());
	srunner_add_suite(sr, util_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, hmap_suite());
	srunner_add_suite(sr, codec_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, passwd_suite());
	srunner_add_suite(sr, tls_suite());
	srunner_add_suite(sr, limits_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_add_suite(sr, acl_suite());
	srunner_add_suite(sr, enforce_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, proxy_suite());
	srunner_add_suite(sr, pktid_suite());
	srunner_add_suite(sr, notify_suite());
	srunner_add_suite(sr, learn_suite());
	srunner_add_suite(sr, ws_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
