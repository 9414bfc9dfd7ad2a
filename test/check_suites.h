/* SPDX-License-Identifier: ISC */
/*
 * Every unit-test suite, one per module: test/check_<module>.c; and, for
 * every test file, the helpers they share (check_util.h).
 */
#ifndef CHECK_SUITES_H
#define CHECK_SUITES_H

#include <check.h>

#include "check_util.h"

Suite	*topic_suite(void);
Suite	*util_suite(void);
Suite	*log_suite(void);
Suite	*hmap_suite(void);
Suite	*codec_suite(void);
Suite	*config_suite(void);
Suite	*passwd_suite(void);
Suite	*tls_suite(void);
Suite	*limits_suite(void);
Suite	*auth_suite(void);
Suite	*acl_suite(void);
Suite	*enforce_suite(void);
Suite	*metrics_suite(void);
Suite	*proxy_suite(void);
Suite	*pktid_suite(void);
Suite	*notify_suite(void);
Suite	*learn_suite(void);
Suite	*ws_suite(void);

#endif
