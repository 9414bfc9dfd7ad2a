/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for passwd: Mosquitto password files.
 *
 * Hashes come from three places: the real mosquitto_passwd (2.0, $7$ and
 * $6$), run at test time into a temporary directory; libargon2, called
 * exactly as Mosquitto 2.1 calls it for its default argon2id entries
 * (libcommon/password_common.c: argon2id_hash_encoded with t=1, m=47104,
 * p=1, a 64-byte salt and a 64-byte hash); and fixed known-answer lines
 * that mosquitto_passwd 2.0.11 wrote once, so the tables below do not
 * depend on the binary.  Every malformed file must be refused whole, with
 * the exact path:line: reason.  Files are written at run time with mode
 * 0600, since the loader refuses anything looser (and git keeps no modes).
 * User names and passwords go to passwd_verify() in exact-size allocations,
 * so ASan sees a one-byte over-read.  Nothing here is timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <argon2.h>
#include <openssl/rand.h>

#include "check_suites.h"
#include "mqttguard/cmd.h"
#include "mqttguard/passwd.h"

#define MOSQUITTO_PASSWD	"/usr/bin/mosquitto_passwd"

/*
 * Written by mosquitto_passwd 2.0.11: alice/"secret" ($7$), bob/"pw2" ($6$).
 * The first character of salts and hashes is kept apart, to tamper with.
 */
#define S7R	"UUH49QqkLxtK2ur"
#define S7	"C" S7R
#define H7R	"X4uDtoSaArSRc7MuG/O5tfITS9FSBhahn4C0TsB653zCy0oFNUsGFO4" \
		"dokT3sHZ5qRyNjtF+ULt8H1UcK+uyQ=="
#define H7	"D" H7R
#define E7	"$7$101$" S7 "$" H7
#define S6	"Cw429ajoJ1do6H1s"
#define H6R	"3PiJJrnpw993eQ81rhZWJRG/i0UpQ/zGUm08Utb2K29O3ayaVW35ZZn" \
		"RaCVmpWhGQN0R8duf99OZjuAViHblw=="
#define H6	"m" H6R
#define E6	"$6$" S6 "$" H6
/* carol/"secret" as Mosquitto 2.1 writes argon2id (salt bytes 7i+3). */
#define SA	"AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dzj6vH4/wYNFBsiKTA3" \
		"PkVMU1phaG92fYSLkpmgp661vA"
#define HAR	"SHQE4K39CO33U13nHzT99drMggtUkf83oenTDMof+/q/VJ316VGBaatU4CZ" \
		"2TaJm9oQbFsMqgSa0bm5gM3NYA"
#define HA	"F" HAR
#define PA	"$argon2id$v=19$m=47104,t=1,p=1$"
#define EA	PA SA "$" HA

#define PATHLEN		256

static char	tmpdir[64];	/* /tmp/mqttguard-passwd-XXXXXX */

/* Unchecked fixtures: one directory per test case, made in the parent. */
static void
dir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttguard-passwd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
dir_teardown(void)
{
	tu_rm_tree(tmpdir);
}

static void
mkpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd != -1, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static mode_t
file_mode(const char *path)
{
	struct stat	st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* passwd_verify() with both strings copied to exact-size allocations. */
static enum passwd_result
verify(const struct passwd_db *db, const char *user, const char *pw)
{
	size_t			 ul = strlen(user), pl = strlen(pw);
	char			*u = malloc(ul > 0 ? ul : 1);
	uint8_t			*p = malloc(pl > 0 ? pl : 1);
	enum passwd_result	 r;

	ck_assert_ptr_nonnull(u);
	ck_assert_ptr_nonnull(p);
	memcpy(u, user, ul);
	memcpy(p, pw, pl);
	r = passwd_verify(db, u, ul, p, pl);
	free(u);
	free(p);
	return r;
}

/* Writes <data> to <name> with mode 0600 and loads it; must succeed. */
static struct passwd_db *
load_str(const char *name, const char *data, size_t len)
{
	char			 path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;

	mkpath(path, sizeof(path), name);
	write_file(path, data, len, 0600);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	return db;
}

/*
 * Real mosquitto_passwd, both of its hash types: what it writes must load
 * and verify, right password or wrong, known user or not.
 */
static const struct mosq_case {
	const char	*hash;		/* -H */
	const char	*prefix;	/* what the line must start with */
} mosq_cases[] = {
	{ "sha512-pbkdf2", "$7$101$" },	/* the 2.0 default */
	{ "sha512", "$6$" },		/* 1.x and -H sha512 */
};

START_TEST(mosquitto_passwd_formats)
{
	const struct mosq_case	*mc = &mosq_cases[_i];
	char			 path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	char			*data, *nl;
	struct passwd_db	*db;
	char *const		 add1[] = { MOSQUITTO_PASSWD, "-H",
	    (char *)mc->hash, "-c", "-b", path, "alice",
	    "correct horse battery", NULL };
	char *const		 add2[] = { MOSQUITTO_PASSWD, "-H",
	    (char *)mc->hash, "-b", path, "bob", "p\xc3\xa4ss w:rd", NULL };

	ck_assert_msg(access(MOSQUITTO_PASSWD, X_OK) == 0,
	    MOSQUITTO_PASSWD " is missing: install the mosquitto package");
	snprintf(path, sizeof(path), "%s/mosq-%s", tmpdir, mc->hash);
	ck_assert_int_eq(tu_run(add1), 0);
	ck_assert_int_eq(tu_run(add2), 0);
	/* mosquitto_passwd leaves the mode to the umask. */
	ck_assert_int_eq(chmod(path, 0600), 0);

	data = tu_read_file(path, NULL);
	ck_assert_msg(strncmp(data, "alice:", 6) == 0 &&
	    strncmp(data + 6, mc->prefix, strlen(mc->prefix)) == 0,
	    "unexpected line: %s", data);
	nl = strchr(data, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_msg(strncmp(nl + 1, "bob:", 4) == 0 &&
	    strncmp(nl + 5, mc->prefix, strlen(mc->prefix)) == 0,
	    "unexpected line: %s", nl + 1);
	free(data);

	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(passwd_count(db), 2);
	ck_assert_int_eq(verify(db, "alice", "correct horse battery"),
	    PASSWD_OK);
	ck_assert_int_eq(verify(db, "bob", "p\xc3\xa4ss w:rd"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "alice", "correct horse batter"),
	    PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(verify(db, "alice", ""), PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(verify(db, "bob", "correct horse battery"),
	    PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(verify(db, "carol", "correct horse battery"),
	    PASSWD_UNKNOWN_USER);
	passwd_free(db);
}
END_TEST

/* argon2id exactly as Mosquitto 2.1 writes it by default. */
START_TEST(argon2id_as_mosquitto_21)
{
	static const char	 pw[] = "tr0ub4dor&3";
	uint8_t			 salt[64];
	char			 enc[256], line[300];
	struct passwd_db	*db;

	ck_assert_int_eq(RAND_bytes(salt, sizeof(salt)), 1);
	ck_assert_int_eq(argon2id_hash_encoded(1, 47104, 1, pw, strlen(pw),
	    salt, sizeof(salt), 64, enc, sizeof(enc)), ARGON2_OK);
	ck_assert_msg(strncmp(enc, PA, strlen(PA)) == 0, "%s", enc);
	/* 86 characters of unpadded base64 each for salt and hash. */
	ck_assert_uint_eq(strlen(enc), strlen(PA) + 86 + 1 + 86);
	snprintf(line, sizeof(line), "dave:%s\n", enc);
	db = load_str("argon2id", line, strlen(line));
	ck_assert_uint_eq(passwd_count(db), 1);
	ck_assert_int_eq(verify(db, "dave", pw), PASSWD_OK);
	ck_assert_int_eq(verify(db, "dave", "tr0ub4dor&4"),
	    PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(verify(db, "eve", pw), PASSWD_UNKNOWN_USER);
	/* The unknown user was checked against an argon2id dummy. */
	passwd_free(db);
}
END_TEST

/* Known answers: fixed lines from mosquitto_passwd and Mosquitto 2.1. */
static const struct kat_case {
	const char		*user, *pw;
	enum passwd_result	 want;
} kat[] = {
	{ "alice", "secret", PASSWD_OK },		/* $7$ */
	{ "bob", "pw2", PASSWD_OK },			/* $6$ */
	{ "carol", "secret", PASSWD_OK },		/* argon2id */
	{ "alice", "Secret", PASSWD_BAD_PASSWORD },
	{ "alice", "secret ", PASSWD_BAD_PASSWORD },
	{ "bob", "pw", PASSWD_BAD_PASSWORD },
	{ "carol", "", PASSWD_BAD_PASSWORD },
	{ "alic", "secret", PASSWD_UNKNOWN_USER },
	{ "alice ", "secret", PASSWD_UNKNOWN_USER },
	{ "ALICE", "secret", PASSWD_UNKNOWN_USER },
	{ "", "secret", PASSWD_UNKNOWN_USER },
	{ "#", "", PASSWD_UNKNOWN_USER },
};

static const char kat_file[] =
    "alice:" E7 "\n"
    "bob:" E6 "\n"
    "carol:" EA "\n";

START_TEST(known_answers)
{
	const struct kat_case	*kc = &kat[_i];
	struct passwd_db	*db;

	db = load_str("kat", kat_file, sizeof(kat_file) - 1);
	ck_assert_uint_eq(passwd_count(db), 3);
	ck_assert_msg(verify(db, kc->user, kc->pw) == kc->want,
	    "%s/%s: want %s", kc->user, kc->pw,
	    passwd_result_name(kc->want));
	passwd_free(db);
}
END_TEST

/*
 * A tampered entry still loads (it is well formed) but no longer matches
 * the right password: one base64 character of the hash or salt changed,
 * or the iteration count.
 */
static const struct tamper_case {
	const char	*line, *user, *pw;
} tamper[] = {
	{ "alice:$7$101$" S7 "$E" H7R "\n", "alice", "secret" },
	{ "bob:$6$" S6 "$n" H6R "\n", "bob", "pw2" },
	{ "carol:" PA SA "$G" HAR "\n", "carol", "secret" },
	{ "alice:$7$101$D" S7R "$" H7 "\n", "alice", "secret" },
	{ "alice:$7$102$" S7 "$" H7 "\n", "alice", "secret" },
	{ "carol:$argon2id$v=19$m=47104,t=2,p=1$" SA "$" HA "\n", "carol",
	    "secret" },
};

START_TEST(tampered_hash)
{
	const struct tamper_case	*tc = &tamper[_i];
	struct passwd_db		*db;

	db = load_str("tamper", tc->line, strlen(tc->line));
	ck_assert_int_eq(verify(db, tc->user, tc->pw), PASSWD_BAD_PASSWORD);
	passwd_free(db);
}
END_TEST

/* Files that load: layouts Mosquitto accepts too; <user> then verifies. */
#define OK_CASE(name, text, n, user, pw)	\
	{ name, text, sizeof(text) - 1, n, user, pw }
static const struct ok_case {
	const char	*name;
	const char	*data;
	size_t		 len;
	size_t		 users;
	const char	*user, *pw;
} good[] = {
	OK_CASE("empty", "", 0, NULL, NULL),
	OK_CASE("comments_only", "# nobody\n#\n", 0, NULL, NULL),
	OK_CASE("blank_lines", "\n\n \t \n", 0, NULL, NULL),
	OK_CASE("comments_and_blanks",
	    "# users\n\nalice:" E7 "\n   \n#x:y\nbob:" E6 "\n", 2,
	    "bob", "pw2"),
	OK_CASE("crlf", "alice:" E7 "\r\nbob:" E6 "\r\n", 2, "alice",
	    "secret"),
	OK_CASE("no_final_newline", "alice:" E7 "\nbob:" E6, 2, "bob", "pw2"),
	OK_CASE("blanks_around_fields", " alice \t:  " E7 "  \n", 1, "alice",
	    "secret"),
	OK_CASE("all_three_kinds", "alice:" E7 "\nbob:" E6 "\ncarol:" EA, 3,
	    "carol", "secret"),
	/* Mosquitto 2.1 writes 64-byte salts. */
	OK_CASE("salt_64_bytes", "alice:$7$1000$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==$" H7 "\n", 1,
	    NULL, NULL),
	OK_CASE("utf8_and_spaces_in_name", "J\xc3\xbcrgen M\xc3\xbcller:" E6
	    "\n", 1, "J\xc3\xbcrgen M\xc3\xbcller", "pw2"),
	OK_CASE("colon_in_comment", "# alice:secret\nalice:" E7 "\n", 1,
	    "alice", "secret"),
};

START_TEST(valid_layouts)
{
	const struct ok_case	*oc = &good[_i];
	struct passwd_db	*db;

	db = load_str(oc->name, oc->data, oc->len);
	ck_assert_uint_eq(passwd_count(db), oc->users);
	if (oc->user != NULL)
		ck_assert_int_eq(verify(db, oc->user, oc->pw), PASSWD_OK);
	/* A comment is nobody. */
	ck_assert_int_eq(verify(db, "# nobody", ""), PASSWD_UNKNOWN_USER);
	ck_assert_int_eq(verify(db, "# alice", "secret"),
	    PASSWD_UNKNOWN_USER);
	passwd_free(db);
}
END_TEST

/*
 * Files that must be refused as a whole: name, contents, and the expected
 * message after "path:".  Line numbers count comments and blank lines.
 */
#define BAD_CASE(name, text, want)	{ name, text, sizeof(text) - 1, want }
static const struct bad_case {
	const char	*name;
	const char	*data;
	size_t		 len;
	const char	*want;
} bad[] = {
	BAD_CASE("missing_colon", "# users\n\nalice" E7 "\n",
	    "3: missing ':' between user name and password hash"),
	BAD_CASE("indented_comment", "alice:" E7 "\n  # note\n",
	    "2: missing ':' between user name and password hash"),
	BAD_CASE("blank_user", "bob:" E6 "\n:" E7 "\n",
	    "2: empty user name"),
	BAD_CASE("blank_user_white", " \t:" E7 "\n", "1: empty user name"),
	BAD_CASE("unknown_type_5", "alice:$5$rounds=5000$" S7 "$" H7 "\n",
	    "1: unknown hash type \"$5$\""),
	BAD_CASE("unknown_type_argon2i", "alice:$argon2i$v=19$m=47104,t=1,"
	    "p=1$" SA "$" HA "\n", "1: unknown hash type \"$argon2i$\""),
	BAD_CASE("unknown_type_unterminated", "alice:$7\n",
	    "1: unknown hash type"),
	BAD_CASE("plain_text", "bob:" E6 "\nalice:secret\n",
	    "2: not a password hash ($6$, $7$ or $argon2id$ expected; a "
	    "plain-text password?)"),
	BAD_CASE("empty_hash", "alice:\n", "1: empty password hash"),
	BAD_CASE("empty_hash_white", "alice: \t \r\n",
	    "1: empty password hash"),
	BAD_CASE("second_colon", "alice:" E7 ":x\n",
	    "1: unexpected ':' in the password hash"),
	BAD_CASE("bad_base64_salt", "alice:$7$101$CUUH49Qq!LxtK2ur$" H7 "\n",
	    "1: salt is not valid base64"),
	BAD_CASE("truncated_salt", "alice:$7$101$CUUH49QqkLxt$" H7 "\n",
	    "1: salt is 9 bytes, expected 12 or 64"),
	BAD_CASE("truncated_salt_odd", "alice:$7$101$CUUH49QqkLxtK2u$" H7 "\n",
	    "1: salt is not valid base64"),
	BAD_CASE("empty_salt", "alice:$6$$" H6 "\n",
	    "1: salt is not valid base64"),
	BAD_CASE("bad_base64_hash", "bob:$6$" S6 "$m3PiJJrnpw993eQ81rhZWJRG/"
	    "i0UpQ/zGUm08Utb2K29O3ay*VW35ZZnRaCVmpWhGQN0R8duf99OZjuAViHblw=="
	    "\n", "1: hash is not valid base64"),
	BAD_CASE("short_hash", "bob:$6$" S6 "$m3PiJJrnpw993eQ81rhZWJRG/"
	    "i0UpQ/zGUm08Utb2K29O3ayaVW35ZZnRaCVmpWhGQN0R8duf99OZjublw=="
	    "\n", "1: hash is 61 bytes, expected 64"),
	BAD_CASE("unpadded_hash", "bob:$6$" S6 "$m3PiJJrnpw993eQ81rhZWJRG/"
	    "i0UpQ/zGUm08Utb2K29O3ayaVW35ZZnRaCVmpWhGQN0R8duf99OZjuAViHblw"
	    "\n", "1: hash is not valid base64"),
	BAD_CASE("noncanonical_hash", "alice:$7$101$" S7 "$DX4uDtoSaArSRc7Mu"
	    "G/O5tfITS9FSBhahn4C0TsB653zCy0oFNUsGFO4dokT3sHZ5qRyNjtF+ULt8H1U"
	    "cK+uyR==\n", "1: hash is not valid base64"),
	BAD_CASE("iterations_0", "alice:$7$0$" S7 "$" H7 "\n",
	    "1: iteration count 0 is out of range (1..10000000)"),
	BAD_CASE("iterations_absurd", "alice:$7$99999999999$" S7 "$" H7 "\n",
	    "1: iteration count 99999999999 is out of range (1..10000000)"),
	BAD_CASE("iterations_not_number", "alice:$7$1e3$" S7 "$" H7 "\n",
	    "1: iteration count is not a decimal number"),
	BAD_CASE("iterations_negative", "alice:$7$-1$" S7 "$" H7 "\n",
	    "1: iteration count is not a decimal number"),
	BAD_CASE("pbkdf2_missing_field", "alice:$7$" S7 "$" H7 "\n",
	    "1: expected $7$iterations$salt$hash"),
	BAD_CASE("sha512_extra_field", "bob:$6$101$" S6 "$" H6 "\n",
	    "1: expected $6$salt$hash"),
	BAD_CASE("duplicate_user", "alice:" E7 "\nbob:" E6 "\n\nalice:" E6
	    "\n", "4: duplicate user \"alice\" (first on line 1)"),
	BAD_CASE("duplicate_after_trim", "alice:" E7 "\n alice\t:" E6 "\n",
	    "2: duplicate user \"alice\" (first on line 1)"),
	BAD_CASE("control_char_user", "al\001ice:" E7 "\n",
	    "1: user name contains a control character"),
	BAD_CASE("nul_in_user", "al\0ice:" E7 "\n",
	    "1: user name contains a control character"),
	BAD_CASE("del_in_user", "al\177ice:" E7 "\n",
	    "1: user name contains a control character"),
	BAD_CASE("escape_in_user", "\033[31malice:" E7 "\n",
	    "1: user name contains a control character"),
	BAD_CASE("argon2_version", "carol:$argon2id$v=16$m=47104,t=1,p=1$" SA
	    "$" HA "\n", "1: argon2id version must be v=19"),
	BAD_CASE("argon2_no_version", "carol:$argon2id$m=47104,t=1,p=1$" SA
	    "$" HA "\n", "1: expected $argon2id$v=19$m=<KiB>,t=<passes>,"
	    "p=<lanes>$salt$hash"),
	BAD_CASE("argon2_param_order", "carol:$argon2id$v=19$m=47104,p=1,t=1$"
	    SA "$" HA "\n", "1: argon2id parameters must be m=<KiB>,"
	    "t=<passes>,p=<lanes>"),
	BAD_CASE("argon2_param_trailing", "carol:$argon2id$v=19$m=47104,t=1,"
	    "p=1,$" SA "$" HA "\n", "1: argon2id parameters must be m=<KiB>,"
	    "t=<passes>,p=<lanes>"),
	BAD_CASE("argon2_memory_absurd", "carol:$argon2id$v=19$m=1048576,t=1,"
	    "p=1$" SA "$" HA "\n", "1: argon2id memory m=1048576 is out of "
	    "range (8..262144 KiB)"),
	BAD_CASE("argon2_memory_per_lane", "carol:$argon2id$v=19$m=16,t=1,p=4$"
	    SA "$" HA "\n", "1: argon2id memory m=16 is out of range "
	    "(32..262144 KiB)"),
	BAD_CASE("argon2_passes_0", "carol:$argon2id$v=19$m=47104,t=0,p=1$" SA
	    "$" HA "\n", "1: argon2id passes t=0 is out of range (1..64)"),
	BAD_CASE("argon2_lanes_0", "carol:$argon2id$v=19$m=47104,t=1,p=0$" SA
	    "$" HA "\n", "1: argon2id lanes p=0 is out of range (1..16)"),
	BAD_CASE("argon2_padded_salt", "carol:" PA SA "==$" HA "\n",
	    "1: salt is not valid base64"),
	BAD_CASE("argon2_short_salt", "carol:" PA "AAAAAA$" HA "\n",
	    "1: salt is 4 bytes, expected 8..64"),
	BAD_CASE("argon2_short_hash", "carol:" PA SA "$AAAAAAAAAAA\n",
	    "1: hash is 8 bytes, expected 16..64"),
	BAD_CASE("argon2_missing_hash", "carol:" PA SA "\n",
	    "1: expected $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>"
	    "$salt$hash"),
	/* The first bad line is reported, not a later one. */
	BAD_CASE("first_error_wins", "alice:\nbob:$5$x$y\n",
	    "1: empty password hash"),
};

START_TEST(invalid_file)
{
	const struct bad_case	*bc = &bad[_i];
	char			 path[PATHLEN], want[PATHLEN + 1024];
	char			 err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;

	snprintf(path, sizeof(path), "%s/bad-%s", tmpdir, bc->name);
	write_file(path, bc->data, bc->len, 0600);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db == NULL, "%s loaded but must be refused", bc->name);
	snprintf(want, sizeof(want), "%s:%s", path, bc->want);
	ck_assert_str_eq(err, want);
}
END_TEST

/* Lines past the limit, and a user name past MQTT's 65535 bytes. */
START_TEST(overlong)
{
	char			 path[PATHLEN], want[PATHLEN + 128];
	char			 err[PASSWD_ERR_LEN] = "";
	char			*data;
	size_t			 len;
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "long-line");
	len = 6 + 70000 + 1;
	data = malloc(len);
	ck_assert_ptr_nonnull(data);
	memcpy(data, "alice:", 6);
	memset(data + 6, 'A', 70000);
	data[len - 1] = '\n';
	write_file(path, data, len, 0600);
	ck_assert_ptr_null(passwd_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:1: line is longer than %d bytes",
	    path, PASSWD_LINE_MAX);
	ck_assert_str_eq(err, want);
	free(data);

	mkpath(path, sizeof(path), "long-user");
	len = 65536 + 1 + strlen(E7) + 1;
	data = malloc(len + 1);
	ck_assert_ptr_nonnull(data);
	memset(data, 'u', 65536);
	snprintf(data + 65536, len + 1 - 65536, ":%s\n", E7);
	write_file(path, data, len, 0600);
	ck_assert_ptr_null(passwd_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:1: user name is longer than 65535 "
	    "bytes", path);
	ck_assert_str_eq(err, want);

	/* 65535 bytes is still a user name. */
	snprintf(data + 65535, len + 1 - 65535, ":%s\n", E7);
	write_file(path, data, len - 1, 0600);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(passwd_verify(db, data, 65535,
	    (const uint8_t *)"secret", 6), PASSWD_OK);
	passwd_free(db);
	free(data);
}
END_TEST

/*
 * Secret-bearing files: the owner and its group may read (Kubernetes
 * fsGroup 0440/0640, root:mqttguard 0640), only the owner may write,
 * others get nothing.
 */
static const struct mode_case {
	mode_t		 mode;
	const char	*why;	/* NULL: accepted */
} modes[] = {
	{ 0600, NULL }, { 0400, NULL }, { 0700, NULL }, { 0640, NULL },
	{ 0440, NULL }, { 0610, NULL },
	{ 0604, "others may read a secret file (chmod o-rwx)" },
	{ 0644, "others may read a secret file (chmod o-rwx)" },
	{ 0602, "others may write a secret file (chmod o-rwx)" },
	{ 0601, "others may access a secret file (chmod o-rwx)" },
	{ 0660, "its group may write a secret file; only the owner may "
	    "(chmod g-w)" },
	{ 0620, "its group may write a secret file; only the owner may "
	    "(chmod g-w)" },
};

START_TEST(permissions)
{
	const struct mode_case	*mc = &modes[_i];
	char			 path[PATHLEN], want[PATHLEN + 128];
	char			 err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;

	snprintf(path, sizeof(path), "%s/mode-%04o", tmpdir,
	    (unsigned)mc->mode);
	write_file(path, kat_file, sizeof(kat_file) - 1, mc->mode);
	db = passwd_load(path, err, sizeof(err));
	if (mc->why == NULL) {
		ck_assert_msg(db != NULL, "%s", err);
		passwd_free(db);
		return;
	}
	ck_assert_ptr_null(db);
	snprintf(want, sizeof(want), "%s: mode %04o: %s", path,
	    (unsigned)mc->mode, mc->why);
	ck_assert_str_eq(err, want);
}
END_TEST

/* A symlinked mount (Kubernetes "..data"): the target's mode counts. */
START_TEST(permissions_symlink)
{
	char			 path[PATHLEN], link[PATHLEN];
	char			 err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "target-0640");
	mkpath(link, sizeof(link), "link-to-0640");
	write_file(path, kat_file, sizeof(kat_file) - 1, 0640);
	unlink(link);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_msg((db = passwd_load(link, err, sizeof(err))) != NULL,
	    "%s", err);
	passwd_free(db);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_ptr_null(passwd_load(link, err, sizeof(err)));
	ck_assert_msg(strstr(err, "mode 0644: others may read") != NULL, "%s",
	    err);
	unlink(link);
	unlink(path);
}
END_TEST

START_TEST(not_a_file)
{
	char	path[PATHLEN], want[PATHLEN + 64], err[PASSWD_ERR_LEN];

	mkpath(path, sizeof(path), "no-such-file");
	ck_assert_ptr_null(passwd_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_str_eq(err, want);

	mkpath(path, sizeof(path), "a-directory");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_ptr_null(passwd_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	ck_assert_str_eq(err, want);

	/* A NULL error buffer of size 0 is allowed. */
	ck_assert_ptr_null(passwd_load(path, NULL, 0));
}
END_TEST

/* Edges of passwd_verify(): lengths, NULs, huge passwords, NULL. */
START_TEST(verify_edges)
{
	struct passwd_db	*db;
	uint8_t			*big;
	char			*u;

	db = load_str("edges", kat_file, sizeof(kat_file) - 1);
	/* A name with a trailing NUL byte is another name. */
	u = malloc(6);
	ck_assert_ptr_nonnull(u);
	memcpy(u, "alice", 6);
	ck_assert_int_eq(passwd_verify(db, u, 6, (const uint8_t *)"secret",
	    6), PASSWD_UNKNOWN_USER);
	ck_assert_int_eq(passwd_verify(db, u, 5, (const uint8_t *)"secret",
	    6), PASSWD_OK);
	/* Bytes after a NUL in the password count. */
	ck_assert_int_eq(passwd_verify(db, u, 5,
	    (const uint8_t *)"secret\0x", 8), PASSWD_BAD_PASSWORD);
	/* No password at all is the empty password. */
	ck_assert_int_eq(passwd_verify(db, u, 5, NULL, 0),
	    PASSWD_BAD_PASSWORD);
	/* Longer than MQTT allows: refused without hashing. */
	big = malloc(PASSWD_PW_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', PASSWD_PW_MAX + 1);
	ck_assert_int_eq(passwd_verify(db, u, 5, big, PASSWD_PW_MAX + 1),
	    PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(passwd_verify(db, "zed", 3, big, PASSWD_PW_MAX + 1),
	    PASSWD_UNKNOWN_USER);
	ck_assert_int_eq(passwd_verify(db, u, 5, big, PASSWD_PW_MAX),
	    PASSWD_BAD_PASSWORD);
	/* Misuse fails closed. */
	ck_assert_int_eq(passwd_verify(NULL, u, 5, big, 1), PASSWD_ERROR);
	ck_assert_int_eq(passwd_verify(db, NULL, 5, big, 1), PASSWD_ERROR);
	ck_assert_int_eq(passwd_verify(db, u, 5, NULL, 1), PASSWD_ERROR);
	ck_assert_int_eq(passwd_verify(db, NULL, 0, big, 1),
	    PASSWD_UNKNOWN_USER);
	ck_assert_str_eq(passwd_result_name(PASSWD_OK), "ok");
	ck_assert_str_eq(passwd_result_name(PASSWD_UNKNOWN_USER),
	    "unknown user");
	ck_assert_str_eq(passwd_result_name(PASSWD_BAD_PASSWORD),
	    "bad password");
	ck_assert_str_eq(passwd_result_name(PASSWD_ERROR), "error");
	ck_assert_uint_eq(passwd_count(NULL), 0);
	passwd_free(NULL);
	free(big);
	free(u);
	passwd_free(db);
}
END_TEST

/* Many readers at once on one database, as the worker pool does. */
struct reader {
	const struct passwd_db	*db;
	int			 failures;
};

static void *
reader_main(void *arg)
{
	struct reader	*r = arg;
	int		 i;

	for (i = 0; i < 8; i++) {
		if (passwd_verify(r->db, "alice", 5,
		    (const uint8_t *)"secret", 6) != PASSWD_OK)
			r->failures++;
		if (passwd_verify(r->db, "bob", 3,
		    (const uint8_t *)"nope", 4) != PASSWD_BAD_PASSWORD)
			r->failures++;
		if (passwd_verify(r->db, "zed", 3,
		    (const uint8_t *)"secret", 6) != PASSWD_UNKNOWN_USER)
			r->failures++;
	}
	return NULL;
}

START_TEST(concurrent_readers)
{
	static const char	 data[] = "alice:" E7 "\nbob:" E6 "\n";
	struct passwd_db	*db;
	struct reader		 r[4];
	pthread_t		 t[4];
	size_t			 i;

	db = load_str("threads", data, sizeof(data) - 1);
	for (i = 0; i < NELEM(t); i++) {
		r[i].db = db;
		r[i].failures = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader_main,
		    &r[i]), 0);
	}
	for (i = 0; i < NELEM(t); i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(r[i].failures, 0);
	}
	passwd_free(db);
}
END_TEST

/* 100k users: the table grows, every name is found, no false hits. */
START_TEST(many_users)
{
	const size_t		 n = 100000;
	struct passwd_db	*db;
	char			*data, name[32];
	size_t			 i, len = 0, cap;

	cap = n * (16 + 1 + strlen(E6) + 1);
	data = malloc(cap);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(data + len, cap - len,
		    "user%zu:%s\n", i, E6);
	db = load_str("many", data, len);
	ck_assert_uint_eq(passwd_count(db), n);
	for (i = 0; i < n; i += 9973) {
		snprintf(name, sizeof(name), "user%zu", i);
		ck_assert_int_eq(verify(db, name, "pw2"), PASSWD_OK);
	}
	ck_assert_int_eq(verify(db, "user99999", "pw2"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "user100000", "pw2"),
	    PASSWD_UNKNOWN_USER);
	ck_assert_int_eq(verify(db, "user", "pw2"), PASSWD_UNKNOWN_USER);
	passwd_free(db);
	free(data);
}
END_TEST

/* passwd_hash(): the $7$ layout, random salts, and a round trip. */
START_TEST(hash_round_trip)
{
	char			 out[PASSWD_HASH_STR_MAX];
	char			 out2[PASSWD_HASH_STR_MAX];
	char			 line[2 * PASSWD_HASH_STR_MAX + 16], small[50];
	char			 err[PASSWD_ERR_LEN] = "";
	uint8_t			*pw;
	struct passwd_db	*db;
	size_t			 i;

	pw = malloc(9);
	ck_assert_ptr_nonnull(pw);
	memcpy(pw, "open sesa", 9);
	ck_assert_int_eq(passwd_hash(out, sizeof(out), pw, 9, 1000, err,
	    sizeof(err)), 0);
	/* $7$1000$ + 16 characters of salt (12 bytes) + $ + 88 of hash. */
	ck_assert_msg(strncmp(out, "$7$1000$", 8) == 0, "%s", out);
	ck_assert_uint_eq(strlen(out), 8 + 16 + 1 + 88);
	ck_assert_int_eq(out[8 + 16], '$');
	for (i = 8; i < strlen(out); i++)
		ck_assert_ptr_nonnull(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
		    "ghijklmnopqrstuvwxyz0123456789+/=$", out[i]));
	ck_assert_int_eq(passwd_hash(out2, sizeof(out2), pw, 9, 1000, err,
	    sizeof(err)), 0);
	ck_assert_str_ne(out, out2);	/* a fresh salt every time */

	snprintf(line, sizeof(line), "u:%s\nv:%s\n", out, out2);
	db = load_str("round-trip", line, strlen(line));
	ck_assert_int_eq(passwd_verify(db, "u", 1, pw, 9), PASSWD_OK);
	ck_assert_int_eq(passwd_verify(db, "v", 1, pw, 9), PASSWD_OK);
	ck_assert_int_eq(passwd_verify(db, "u", 1, pw, 8),
	    PASSWD_BAD_PASSWORD);
	passwd_free(db);

	/* 0 means the default. */
	ck_assert_int_eq(passwd_hash(out, sizeof(out), pw, 9, 0, err,
	    sizeof(err)), 0);
	ck_assert_msg(strncmp(out, "$7$210000$", 10) == 0, "%s", out);

	ck_assert_int_eq(passwd_hash(out, sizeof(out), pw, 9,
	    PASSWD_ITERATIONS_MAX + 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "iteration count 10000001 is out of range "
	    "(1..10000000)");
	ck_assert_int_eq(passwd_hash(small, sizeof(small), pw, 9, 1000, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "the hash does not fit in 50 bytes");
	for (i = 0; i < sizeof(small); i++)
		ck_assert_int_eq(small[i], 0);	/* no half a hash */
	ck_assert_int_eq(passwd_hash(out, sizeof(out), NULL, 1, 1000, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "no password");
	free(pw);
	pw = calloc(1, PASSWD_PW_MAX + 1);
	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(passwd_hash(out, sizeof(out), pw, PASSWD_PW_MAX + 1,
	    1000, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "password is longer than 65535 bytes");
	free(pw);
}
END_TEST

/* -c: a new file, 0600, one line; never over an existing file. */
START_TEST(file_create)
{
	char			 path[PATHLEN], want[PATHLEN + 64];
	char			 err[PASSWD_ERR_LEN] = "";
	char			*data;
	size_t			 len;
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "created");
	ck_assert_int_eq(passwd_file_set(path, "alice",
	    (const uint8_t *)"s3cret", 6, 1000, true, err, sizeof(err)), 0);
	ck_assert_uint_eq(file_mode(path), 0600);
	data = tu_read_file(path, &len);
	ck_assert_msg(strncmp(data, "alice:$7$1000$", 14) == 0, "%s", data);
	ck_assert_uint_eq(len, 6 + 8 + 16 + 1 + 88 + 1);
	ck_assert_int_eq(data[len - 1], '\n');
	free(data);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "alice", "s3cret"), PASSWD_OK);
	passwd_free(db);

	ck_assert_int_eq(passwd_file_set(path, "bob", (const uint8_t *)"x", 1,
	    1000, true, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: already exists; not overwritten",
	    path);
	ck_assert_str_eq(err, want);
	/* The refused create left nothing behind: still one user. */
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(passwd_count(db), 1);
	passwd_free(db);
}
END_TEST

static const char edit_before[] =
    "# managed by hand\n"
    "\n"
    "bob:" E6 "\r\n"
    "alice:" E7 "\n"
    "carol:" EA "\n"
    "#trailer: keep me\n";

/* Update in place: only alice's line changes, byte for byte. */
START_TEST(file_update_keeps_lines)
{
	char			 path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	const char		*a_old, *after_old;
	char			*data, *a_new, *after_new;
	size_t			 len, head;
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "update");
	write_file(path, edit_before, sizeof(edit_before) - 1, 0644);
	ck_assert_int_eq(passwd_file_set(path, "alice",
	    (const uint8_t *)"n3w pw", 6, 1000, false, err, sizeof(err)), 0);
	/* Whatever it was, the result is fit for a secret: others lose
	 * every bit, group-read stays. */
	ck_assert_uint_eq(file_mode(path), 0640);

	data = tu_read_file(path, &len);
	a_old = strstr(edit_before, "alice:");
	after_old = strchr(a_old, '\n') + 1;
	head = (size_t)(a_old - edit_before);
	ck_assert(memcmp(data, edit_before, head) == 0);
	a_new = data + head;
	ck_assert_msg(strncmp(a_new, "alice:$7$1000$", 14) == 0, "%s", a_new);
	after_new = strchr(a_new, '\n') + 1;
	ck_assert_str_eq(after_new, after_old);
	free(data);

	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(passwd_count(db), 3);
	ck_assert_int_eq(verify(db, "alice", "n3w pw"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "alice", "secret"), PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(verify(db, "bob", "pw2"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "carol", "secret"), PASSWD_OK);
	passwd_free(db);
}
END_TEST

/* A new user is appended, ending an unterminated last line first. */
START_TEST(file_add_appends)
{
	static const char	 before[] = "alice:" E7;	/* no '\n' */
	char			 path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	char			*data;
	size_t			 len;
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "append");
	write_file(path, before, sizeof(before) - 1, 0600);
	ck_assert_int_eq(passwd_file_set(path, "dave",
	    (const uint8_t *)"d4ve", 4, 1000, false, err, sizeof(err)), 0);
	data = tu_read_file(path, &len);
	ck_assert(memcmp(data, before, sizeof(before) - 1) == 0);
	ck_assert_int_eq(data[sizeof(before) - 1], '\n');
	ck_assert_msg(strncmp(data + sizeof(before), "dave:$7$1000$", 13) ==
	    0, "%s", data);
	ck_assert_int_eq(data[len - 1], '\n');
	free(data);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "dave", "d4ve"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "alice", "secret"), PASSWD_OK);
	passwd_free(db);
}
END_TEST

/* Delete: exactly the user's line goes; unknown users are an error. */
START_TEST(file_delete)
{
	char			 path[PATHLEN], want[PATHLEN + 64];
	char			 err[PASSWD_ERR_LEN] = "", *expect, *data;
	const char		*c, *after;
	size_t			 len, head;
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "delete");
	write_file(path, edit_before, sizeof(edit_before) - 1, 0600);
	ck_assert_int_eq(passwd_file_delete(path, "carol", err, sizeof(err)),
	    0);
	c = strstr(edit_before, "carol:");
	after = strchr(c, '\n') + 1;
	head = (size_t)(c - edit_before);
	expect = malloc(sizeof(edit_before));
	ck_assert_ptr_nonnull(expect);
	memcpy(expect, edit_before, head);
	strcpy(expect + head, after);
	data = tu_read_file(path, &len);
	ck_assert_str_eq(data, expect);
	free(data);
	free(expect);
	ck_assert_uint_eq(file_mode(path), 0600);

	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "carol", "secret"), PASSWD_UNKNOWN_USER);
	ck_assert_int_eq(verify(db, "alice", "secret"), PASSWD_OK);
	passwd_free(db);

	ck_assert_int_eq(passwd_file_delete(path, "carol", err, sizeof(err)),
	    -1);
	snprintf(want, sizeof(want), "%s: no user \"carol\"", path);
	ck_assert_str_eq(err, want);
	/* The last line, without its newline. */
	write_file(path, "alice:" E7 "\nbob:" E6, strlen("alice:" E7 "\nbob:"
	    E6), 0600);
	ck_assert_int_eq(passwd_file_delete(path, "bob", err, sizeof(err)), 0);
	data = tu_read_file(path, NULL);
	ck_assert_str_eq(data, "alice:" E7 "\n");
	free(data);
}
END_TEST

/* Edits refuse what the loader refuses, and leave the file alone. */
START_TEST(file_edit_refusals)
{
	static const char	 broken[] = "alice:" E7 "\nbob:$5$x$y\n";
	char			 path[PATHLEN], want[PATHLEN + 128];
	char			 err[PASSWD_ERR_LEN] = "", *data;
	static const char *const bad_users[] = {
		"", "a:b", "#x", " x", "x ", "a\tb", "a\nb", "a\033b"
	};
	static const char *const bad_user_errs[] = {
		"empty user name", "user name must not contain ':'",
		("user name must not begin with '#' (the line would be a "
		"comment)"),
		"user name must not begin or end with white space",
		"user name must not begin or end with white space",
		"user name contains a control character",
		"user name contains a control character",
		"user name contains a control character"
	};
	size_t			 i;

	mkpath(path, sizeof(path), "broken");
	write_file(path, broken, sizeof(broken) - 1, 0600);
	ck_assert_int_eq(passwd_file_set(path, "alice",
	    (const uint8_t *)"x", 1, 1000, false, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: unknown hash type \"$5$\"", path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(passwd_file_delete(path, "alice", err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, want);
	data = tu_read_file(path, NULL);
	ck_assert_str_eq(data, broken);
	free(data);

	mkpath(path, sizeof(path), "absent");
	ck_assert_int_eq(passwd_file_set(path, "alice",
	    (const uint8_t *)"x", 1, 1000, false, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(access(path, F_OK), -1);

	for (i = 0; i < NELEM(bad_users); i++) {
		ck_assert_int_eq(passwd_file_set(path, bad_users[i],
		    (const uint8_t *)"x", 1, 1000, true, err, sizeof(err)),
		    -1);
		ck_assert_str_eq(err, bad_user_errs[i]);
	}
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* A root:mqttguard 0640 file keeps its group-read bit when edited. */
START_TEST(file_edit_keeps_group_read)
{
	char	path[PATHLEN], err[PASSWD_ERR_LEN] = "";

	mkpath(path, sizeof(path), "group-read");
	write_file(path, kat_file, sizeof(kat_file) - 1, 0640);
	ck_assert_int_eq(passwd_file_set(path, "bob",
	    (const uint8_t *)"new", 3, 1000, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(file_mode(path), 0640);
	write_file(path, kat_file, sizeof(kat_file) - 1, 0604);
	ck_assert_int_eq(passwd_file_set(path, "bob",
	    (const uint8_t *)"new", 3, 1000, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(file_mode(path), 0600);
	unlink(path);
}
END_TEST

/* A symlinked password file stays a symlink; its target is updated. */
START_TEST(file_edit_symlink)
{
	char			 path[PATHLEN], link_[PATHLEN];
	char			 err[PASSWD_ERR_LEN] = "";
	struct stat		 st;
	struct passwd_db	*db;

	mkpath(path, sizeof(path), "target");
	mkpath(link_, sizeof(link_), "link");
	write_file(path, kat_file, sizeof(kat_file) - 1, 0600);
	ck_assert_int_eq(symlink(path, link_), 0);
	ck_assert_int_eq(passwd_file_set(link_, "bob",
	    (const uint8_t *)"new", 3, 1000, false, err, sizeof(err)), 0);
	ck_assert_int_eq(lstat(link_, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "bob", "new"), PASSWD_OK);
	passwd_free(db);
}
END_TEST

/* As root, an edit keeps the owner the broker needs to read the file. */
START_TEST(file_edit_keeps_owner)
{
	char		path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	struct stat	st;

	if (geteuid() != 0)
		return;		/* only root can give files away */
	mkpath(path, sizeof(path), "owned");
	write_file(path, kat_file, sizeof(kat_file) - 1, 0600);
	ck_assert_int_eq(chown(path, 4321, 4322), 0);
	ck_assert_int_eq(passwd_file_set(path, "bob",
	    (const uint8_t *)"new", 3, 1000, false, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 4321);
	ck_assert_uint_eq(st.st_gid, 4322);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

/* Our file and mosquitto_passwd's edits of it coexist. */
START_TEST(mosquitto_passwd_edits_ours)
{
	char			 path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;
	char *const		 add[] = { MOSQUITTO_PASSWD, "-b", path, "bob",
	    "b0b", NULL };

	mkpath(path, sizeof(path), "shared");
	ck_assert_int_eq(passwd_file_set(path, "alice",
	    (const uint8_t *)"a1ice", 5, 0, true, err, sizeof(err)), 0);
	ck_assert_int_eq(tu_run(add), 0);
	ck_assert_int_eq(passwd_file_set(path, "carol",
	    (const uint8_t *)"c4rol", 5, 1000, false, err, sizeof(err)), 0);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(passwd_count(db), 3);
	ck_assert_int_eq(verify(db, "alice", "a1ice"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "bob", "b0b"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "carol", "c4rol"), PASSWD_OK);
	passwd_free(db);
}
END_TEST

/*
 * Runs passwd_cmd_main(<argv>) in a child with <input> on standard input
 * (none if NULL) and standard error captured into <errbuf>; returns the
 * exit code.
 */
static int
run_main(char *const argv[], const char *input, char *errbuf, size_t errlen)
{
	char	epath[PATHLEN];
	int	p[2], status, efd, argc;
	pid_t	pid;
	ssize_t	n;

	for (argc = 0; argv[argc] != NULL; argc++)
		;
	signal(SIGPIPE, SIG_IGN);
	mkpath(epath, sizeof(epath), "stderr");
	efd = open(epath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(efd, -1);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[1]);
		dup2(p[0], STDIN_FILENO);
		dup2(efd, STDERR_FILENO);
		_exit(passwd_cmd_main(argc, (char **)argv));
	}
	close(p[0]);
	/* The child may stop reading early (a password too long). */
	if (input != NULL) {
		n = write(p[1], input, strlen(input));
		ck_assert(n == (ssize_t)strlen(input) || errno == EPIPE);
	}
	close(p[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	n = pread(efd, errbuf, errlen - 1, 0);
	errbuf[n > 0 ? n : 0] = '\0';
	close(efd);
	return WEXITSTATUS(status);
}

/* Bad command lines exit 2 and print the usage. */
static const char *const usage_cases[][7] = {
	{ "passwd", NULL },
	{ "passwd", "FILE", NULL },
	{ "passwd", "FILE", "u", "extra", NULL },
	{ "passwd", "-c", "-D", "FILE", "u", NULL },
	{ "passwd", "-D", "--stdin", "FILE", "u", NULL },
	{ "passwd", "-D", "-i", "1000", "FILE", "u", NULL },
	{ "passwd", "-i", "0", "FILE", "u", NULL },
	{ "passwd", "-i", "abc", "FILE", "u", NULL },
	{ "passwd", "-i", "10000001", "FILE", "u", NULL },
	{ "passwd", "-x", "FILE", "u", NULL },
	{ "passwd", "--bogus", "FILE", "u", NULL },
	{ "passwd", "FILE", "u", "-i", NULL },
};

START_TEST(main_usage)
{
	char	errbuf[2048];

	ck_assert_int_eq(run_main((char *const *)usage_cases[_i], NULL,
	    errbuf, sizeof(errbuf)), 2);
	ck_assert_msg(strstr(errbuf, "usage: mqttguard passwd") != NULL ||
	    strstr(errbuf, "-i: iterations must be") != NULL, "%s", errbuf);
}
END_TEST

/* The subcommand end to end with --stdin. */
START_TEST(main_stdin)
{
	char			 path[PATHLEN], errbuf[2048];
	char			 err[PASSWD_ERR_LEN] = "", *data, *big;
	struct passwd_db	*db;
	char *const		 create[] = { "passwd", "-c", "-i", "1000",
	    "--stdin", path, "alice", NULL };
	char *const		 add[] = { "passwd", "--stdin", "-i", "1000",
	    path, "bob", NULL };
	char *const		 upd[] = { "passwd", "--stdin", path, "alice",
	    NULL };
	char *const		 del[] = { "passwd", "-D", path, "bob", NULL };
	char *const		 badu[] = { "passwd", "--stdin", path, "a:b",
	    NULL };
	char *const		 dash[] = { "passwd", "--stdin", "-i", "1000",
	    path, "-dash", NULL };

	mkpath(path, sizeof(path), "main");
	ck_assert_int_eq(run_main(create, "s3cret\n", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(file_mode(path), 0600);
	/* Again with -c: refused before any password is read. */
	ck_assert_int_eq(run_main(create, "other\n", errbuf, sizeof(errbuf)),
	    1);
	ck_assert_msg(strstr(errbuf, "already exists") != NULL, "%s", errbuf);
	ck_assert_int_eq(run_main(add, "pw with spaces\r\n", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_msg(strstr(errbuf, "below the recommended") != NULL, "%s",
	    errbuf);
	/* A user name that looks like an option, after the file. */
	ck_assert_int_eq(run_main(dash, "d", errbuf, sizeof(errbuf)), 0);

	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "alice", "s3cret"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "bob", "pw with spaces"), PASSWD_OK);
	ck_assert_int_eq(verify(db, "-dash", "d"), PASSWD_OK);
	passwd_free(db);

	/* Empty and over-long passwords are refused; the file stays. */
	data = tu_read_file(path, NULL);
	ck_assert_int_eq(run_main(upd, "\n", errbuf, sizeof(errbuf)), 1);
	ck_assert_msg(strstr(errbuf, "empty password refused") != NULL, "%s",
	    errbuf);
	ck_assert_int_eq(run_main(upd, "", errbuf, sizeof(errbuf)), 1);
	big = malloc(PASSWD_PW_MAX + 3);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', PASSWD_PW_MAX + 1);
	strcpy(big + PASSWD_PW_MAX + 1, "\n");
	ck_assert_int_eq(run_main(upd, big, errbuf, sizeof(errbuf)), 1);
	ck_assert_msg(strstr(errbuf, "longer than 65535") != NULL, "%s",
	    errbuf);
	free(big);
	ck_assert_int_eq(run_main(badu, "x\n", errbuf, sizeof(errbuf)), 1);
	ck_assert_msg(strstr(errbuf, "must not contain ':'") != NULL, "%s",
	    errbuf);
	big = tu_read_file(path, NULL);
	ck_assert_str_eq(big, data);
	free(big);
	free(data);

	ck_assert_int_eq(run_main(del, NULL, errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(run_main(del, NULL, errbuf, sizeof(errbuf)), 1);
	ck_assert_msg(strstr(errbuf, "no user \"bob\"") != NULL, "%s", errbuf);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "bob", "pw with spaces"),
	    PASSWD_UNKNOWN_USER);
	passwd_free(db);

	/* Without -c the file must exist. */
	mkpath(path, sizeof(path), "main-absent");
	ck_assert_int_eq(run_main(upd, "x\n", errbuf, sizeof(errbuf)), 1);
	ck_assert_msg(strstr(errbuf, "(-c creates a new file)") != NULL, "%s",
	    errbuf);
}
END_TEST

/*
 * Reads from the pty master <m> until <want> has been seen (appending to
 * <log>), or the child is gone.
 */
static void
pty_expect(int m, char *log, size_t loglen, const char *want)
{
	struct pollfd	pfd;
	size_t		len;
	ssize_t		n;

	pfd.fd = m;
	pfd.events = POLLIN;
	while (strstr(log, want) == NULL) {
		ck_assert_msg(poll(&pfd, 1, 20000) == 1, "no \"%s\" in: %s",
		    want, log);
		len = strlen(log);
		ck_assert_uint_lt(len, loglen - 1);
		n = read(m, log + len, loglen - 1 - len);
		ck_assert_msg(n > 0, "no \"%s\" in: %s", want, log);
		log[len + (size_t)n] = '\0';
	}
}

/* Appends what is left to read; the slave is closed, so EIO ends it. */
static void
pty_drain(int m, char *log, size_t loglen)
{
	struct pollfd	pfd;
	size_t		len;
	ssize_t		n;

	pfd.fd = m;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 0) == 1) {
		len = strlen(log);
		if (len >= loglen - 1)
			break;
		if ((n = read(m, log + len, loglen - 1 - len)) <= 0)
			break;
		log[len + (size_t)n] = '\0';
	}
}

/*
 * Runs passwd_cmd_main(<argv>) on a pseudo-terminal as its controlling
 * terminal, answering the two prompts with <pw1> and <pw2>; returns the
 * exit code.  The transcript must not show what was typed.
 */
static int
run_tty(char *const argv[], const char *pw1, const char *pw2)
{
	char	log[4096] = "", *name, epath[PATHLEN];
	int	m, s, status, argc, efd;
	pid_t	pid;

	for (argc = 0; argv[argc] != NULL; argc++)
		;
	m = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ne(m, -1);
	ck_assert_int_eq(grantpt(m), 0);
	ck_assert_int_eq(unlockpt(m), 0);
	name = ptsname(m);
	ck_assert_ptr_nonnull(name);
	mkpath(epath, sizeof(epath), "tty-stderr");
	efd = open(epath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(efd, -1);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(m);
		/* A new session: the pty becomes its controlling tty. */
		if (setsid() == -1 || (s = open(name, O_RDWR)) == -1)
			_exit(99);
		dup2(efd, STDERR_FILENO);
		close(STDIN_FILENO);	/* prove stdin is not read */
		_exit(passwd_cmd_main(argc, (char **)argv));
	}
	close(efd);
	pty_expect(m, log, sizeof(log), "Password: ");
	ck_assert_int_eq(write(m, pw1, strlen(pw1)), (ssize_t)strlen(pw1));
	ck_assert_int_eq(write(m, "\n", 1), 1);
	pty_expect(m, log, sizeof(log), "Reenter password: ");
	ck_assert_int_eq(write(m, pw2, strlen(pw2)), (ssize_t)strlen(pw2));
	ck_assert_int_eq(write(m, "\n", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	pty_drain(m, log, sizeof(log));
	close(m);
	ck_assert_msg(strstr(log, pw1) == NULL && strstr(log, pw2) == NULL,
	    "password echoed: %s", log);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(main_tty)
{
	char			 path[PATHLEN], err[PASSWD_ERR_LEN] = "";
	struct passwd_db	*db;
	char *const		 create[] = { "passwd", "-c", "-i", "1000",
	    path, "alice", NULL };
	char *const		 upd[] = { "passwd", "-i", "1000", path,
	    "alice", NULL };

	mkpath(path, sizeof(path), "tty");
	ck_assert_int_eq(run_tty(create, "hunter2", "hunter2"), 0);
	ck_assert_int_eq(run_tty(upd, "hunter3", "hunter4"), 1);
	db = passwd_load(path, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(verify(db, "alice", "hunter2"), PASSWD_OK);
	passwd_free(db);
}
END_TEST

/* Without a terminal and without --stdin there is no password to read. */
START_TEST(main_no_tty)
{
	char	path[PATHLEN], errbuf[2048];
	char *const argv[] = { "passwd", "-c", path, "alice", NULL };
	pid_t	pid;
	int	status;

	mkpath(path, sizeof(path), "no-tty");
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		/* A new session has no controlling terminal. */
		if (setsid() == -1)
			_exit(99);
		_exit(run_main(argv, "x\n", errbuf, sizeof(errbuf)) == 1 &&
		    strstr(errbuf, "use --stdin") != NULL ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

Suite *
passwd_suite(void)
{
	Suite	*s = suite_create("passwd");
	TCase	*load = tcase_create("load");
	TCase	*verify_tc = tcase_create("verify");
	TCase	*edit = tcase_create("edit");
	TCase	*cli = tcase_create("cli");

	tcase_add_unchecked_fixture(load, dir_setup, dir_teardown);
	tcase_add_loop_test(load, mosquitto_passwd_formats, 0,
	    (int)NELEM(mosq_cases));
	tcase_add_test(load, argon2id_as_mosquitto_21);
	tcase_add_loop_test(load, valid_layouts, 0, (int)NELEM(good));
	tcase_add_loop_test(load, invalid_file, 0, (int)NELEM(bad));
	tcase_add_test(load, overlong);
	tcase_add_test(load, permissions_symlink);
	tcase_add_loop_test(load, permissions, 0, (int)NELEM(modes));
	tcase_add_test(load, not_a_file);
	tcase_add_test(load, many_users);
	tcase_set_timeout(load, 60);
	suite_add_tcase(s, load);

	tcase_add_unchecked_fixture(verify_tc, dir_setup, dir_teardown);
	tcase_add_loop_test(verify_tc, known_answers, 0, (int)NELEM(kat));
	tcase_add_loop_test(verify_tc, tampered_hash, 0, (int)NELEM(tamper));
	tcase_add_test(verify_tc, verify_edges);
	tcase_add_test(verify_tc, concurrent_readers);
	tcase_add_test(verify_tc, hash_round_trip);
	tcase_set_timeout(verify_tc, 60);
	suite_add_tcase(s, verify_tc);

	tcase_add_unchecked_fixture(edit, dir_setup, dir_teardown);
	tcase_add_test(edit, file_create);
	tcase_add_test(edit, file_update_keeps_lines);
	tcase_add_test(edit, file_add_appends);
	tcase_add_test(edit, file_delete);
	tcase_add_test(edit, file_edit_refusals);
	tcase_add_test(edit, file_edit_symlink);
	tcase_add_test(edit, file_edit_keeps_group_read);
	tcase_add_test(edit, file_edit_keeps_owner);
	tcase_add_test(edit, mosquitto_passwd_edits_ours);
	tcase_set_timeout(edit, 60);
	suite_add_tcase(s, edit);

	tcase_add_unchecked_fixture(cli, dir_setup, dir_teardown);
	tcase_add_loop_test(cli, main_usage, 0, (int)NELEM(usage_cases));
	tcase_add_test(cli, main_stdin);
	tcase_add_test(cli, main_tty);
	tcase_add_test(cli, main_no_tty);
	tcase_set_timeout(cli, 60);
	suite_add_tcase(s, cli);
	return s;
}
