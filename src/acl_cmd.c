/* SPDX-License-Identifier: ISC */
/*
 * acl_cmd — the ACL's command-line side: `mqttguard acl check`, the
 * command line of `mqttguard import-acl`, and the policy tests that
 * `mqttguard -t` runs and prints.
 *
 * The decisions are acl.c's and the conversion is acl_import.c's; this
 * file parses options, loads the policy with CONFIG_PARTIAL (so a file
 * holding only an acl section and its tests is enough), and prints the
 * answers with the rule that decided them.  Called by main() and the
 * tests, never by the running daemon.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mqttguard/acl.h"
#include "mqttguard/acl_import.h"
#include "mqttguard/cmd.h"
#include "mqttguard/config.h"
#include "mqttguard/policy.h"
#include "mqttguard/topic.h"

/* The command line of `mqttguard acl check`. */
struct check_opts {
	const char	*file;		/* these point into argv */
	const char	*user;		/* NULL: --anonymous */
	const char	*cid;
	const char	*topic;
	bool		 anon;
	enum acl_action	 action;
};

static void	print_verdict(FILE *, const struct acl_verdict *);
static void	check_usage(FILE *);
static bool	topic_ok(const char *, bool);
static int	check_opts_parse(int, char **, struct check_opts *);
static int	check_args(char **, struct check_opts *);

/* "FILE:LINE: allow ..." for the deciding rule, or the default. */
static void
print_verdict(FILE *out, const struct acl_verdict *v)
{
	char	buf[512];

	if (v->rule == NULL) {
		fprintf(out, "default deny (no rule matches)");
		return;
	}
	acl_rule_str(v->rule, buf, sizeof(buf));
	fprintf(out, "%s:%d: %s", v->rule->file, v->rule->line, buf);
}

/* ---- acl check ------------------------------------------------------ */

static void
check_usage(FILE *fp)
{
	fprintf(fp, "usage: mqttguard acl check -c POLICY (--user USER | "
	    "--anonymous) [--client-id ID]\n"
	    "                           {publish|subscribe|read} TOPIC\n"
	    "prints allow or deny and the deciding rule; exit 0 allow, 1 "
	    "deny, 2 error\n");
}

/*
 * A topic name (no wildcard) or, for subscribe, a filter, of 1 to
 * ACL_TOPIC_MAX bytes of MQTT UTF-8, as the codec requires of the wire.
 * A shared subscription, "$share/<group>/<filter>", needs a group and is
 * judged by its filter: acl_check() refuses a group holding a wildcard
 * with a deny, as the proxy does.
 */
static bool
topic_ok(const char *t, bool filter)
{
	const char	*f;
	size_t		 len = strlen(t);

	if (len == 0 || len > ACL_TOPIC_MAX ||
	    topic_utf8_check((const uint8_t *)t, len, filter ? 0 :
	    TOPIC_NAME) != TOPIC_OK)
		return false;
	if (!filter)
		return true;
	if (strncmp(t, "$share/", 7) == 0) {
		if ((f = strchr(t + 7, '/')) == NULL || f == t + 7 ||
		    f[1] == '\0')
			return false;
		t = f + 1;
	}
	return topic_wildcards_check(t, strlen(t)) == TOPIC_OK;
}

/*
 * Parses "check [options] ACTION TOPIC" (<argv>[0] is "acl") into <o>.
 * Returns -1 to go on, or the exit status to return at once (0 after -h,
 * 2 on a usage error).
 */
static int
check_opts_parse(int argc, char **argv, struct check_opts *o)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "anonymous", no_argument, NULL, 'A' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(o, 0, sizeof(*o));
	o->file = CMD_POLICY_DEFAULT;
	o->cid = "";
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		check_usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'A':
			o->anon = true;
			break;
		case 'i':
			o->cid = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 2 || (o->user == NULL) == !o->anon ||
	    (o->user != NULL && *o->user == '\0')) {
		check_usage(stderr);
		return 2;
	}
	return check_args(argv + optind, o);
}

/*
 * The two operands at <args>: an action other than "all", and a topic
 * name, or a filter for subscribe.  Returns -1 to go on, or 2.
 */
static int
check_args(char **args, struct check_opts *o)
{
	int	action;

	if ((action = acl_action_parse(args[0])) == -1 ||
	    action == ACL_ALL) {
		fprintf(stderr, "mqttguard: \"%s\" is not publish, subscribe "
		    "or read\n", args[0]);
		return 2;
	}
	o->action = (enum acl_action)action;
	o->topic = args[1];
	if (!topic_ok(o->topic, o->action == ACL_SUBSCRIBE)) {
		fprintf(stderr, "mqttguard: \"%s\" is not a valid topic %s\n",
		    o->topic, o->action == ACL_SUBSCRIBE ? "filter" :
		    "name (wildcards are for subscribe)");
		return 2;
	}
	return -1;
}

int
acl_cmd_main(int argc, char **argv)
{
	struct check_opts	 o;
	struct acl_subject	 who;
	struct acl_verdict	 v;
	struct policy		*pol;
	int			 rc;

	if ((rc = check_opts_parse(argc, argv, &o)) != -1)
		return rc;
	if ((pol = cmd_policy_load(o.file, CONFIG_PARTIAL)) == NULL)
		return 2;
	if (pol->acl == NULL) {
		printf("allow: %s has no acl section, every topic is "
		    "allowed\n", o.file);
		policy_unref(pol);
		return 0;
	}
	who.identity = o.anon ? pol->auth.anonymous_identity : o.user;
	who.client_id = o.cid;
	who.client_id_len = strlen(o.cid);
	acl_check(pol->acl, &who, o.action, (const uint8_t *)o.topic,
	    strlen(o.topic), &v);
	printf("%s: ", v.allow ? "allow" : "deny");
	print_verdict(stdout, &v);
	putchar('\n');
	if (o.anon && !pol->auth.anonymous)
		fprintf(stderr, "note: auth.anonymous is false: clients "
		    "without credentials are refused before any ACL\n");
	rc = v.allow ? 0 : 1;
	policy_unref(pol);
	return rc;
}

/* ---- import-acl ----------------------------------------------------- */

int
acl_cmd_import_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "anonymous-identity", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*anon = "anonymous";
	char		 err[1024];
	int		 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			anon = optarg;
			break;
		case 'h':
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: mqttguard "
			    "import-acl [--anonymous-identity NAME] "
			    "MOSQUITTO_ACL_FILE\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1 || *anon == '\0') {
		fprintf(stderr, "usage: mqttguard import-acl "
		    "[--anonymous-identity NAME] MOSQUITTO_ACL_FILE\n");
		return 2;
	}
	if (acl_import_convert(argv[optind], anon, stdout, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "mqttguard: %s\n", err);
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

/* ---- the policy's tests --------------------------------------------- */

size_t
acl_cmd_run_tests(const struct policy *pol, FILE *out)
{
	const struct acl_test	*t;
	struct acl_verdict	 v;
	size_t			 i, n = acl_test_count(pol->acl), failed = 0;

	for (i = 0; i < n; i++) {
		t = acl_test_at(pol->acl, i);
		if (acl_test_run(pol->acl, t, pol->auth.anonymous_identity,
		    &v))
			continue;
		failed++;
		fprintf(out, "%s:%d: test failed: %s%s%s%s%s %s \"%s\": "
		    "expected %s, got %s by ", t->file, t->line,
		    t->identity != NULL ? "user " : "anonymous",
		    t->identity != NULL ? t->identity : "",
		    *t->client_id != '\0' ? " (client id " : "", t->client_id,
		    *t->client_id != '\0' ? ")" : "",
		    acl_action_str(t->action), t->topic,
		    t->expect_allow ? "allow" : "deny",
		    v.allow ? "allow" : "deny");
		print_verdict(out, &v);
		fputc('\n', out);
	}
	if (n > 0)
		fprintf(out, "mqttguard: %zu policy test%s, %zu failed\n", n,
		    n == 1 ? "" : "s", failed);
	return failed;
}
