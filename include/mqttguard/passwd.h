/* SPDX-License-Identifier: ISC */
/*
 * passwd — Mosquitto password files: load, verify, hash and edit them.
 *
 * Reads the file mosquitto_passwd writes, one "user:hash" per line, so an
 * existing deployment keeps its file when mqttguard moves in front of the
 * broker.  Hashes understood:
 *
 *   $6$<salt>$<hash>               SHA-512(password || salt), one round
 *                                  (Mosquitto 1.x; -H sha512)
 *   $7$<iter>$<salt>$<hash>        PBKDF2-HMAC-SHA512 (Mosquitto 2.0 default)
 *   $argon2id$v=19$m=M,t=T,p=P$<salt>$<hash>
 *                                  argon2id, PHC string (Mosquitto 2.1
 *                                  default: m=47104,t=1,p=1, 64-byte salt
 *                                  and hash)
 *
 * salt and hash of $6$/$7$ are padded base64, those of argon2id unpadded,
 * as Mosquitto writes them.  passwd_load() refuses the whole file on the
 * first malformed line and names it ("path:line: what is wrong"); a bad line
 * is never skipped and never read as an empty password (the class of
 * CVE-2018-12551).  It also refuses a file that is group or world
 * accessible.
 *
 * A loaded database is immutable: passwd_verify() may be called from any
 * number of threads at once.  Nothing here logs or prints: errors go into
 * the caller's buffer.  The `mqttguard passwd` subcommand that drives the
 * editing functions is passwd_cmd.c.
 */
#ifndef MQTTGUARD_PASSWD_H
#define MQTTGUARD_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * PBKDF2-HMAC-SHA512 iterations for new $7$ entries: OWASP's Password
 * Storage Cheat Sheet (2023) recommends 210,000 for PBKDF2-HMAC-SHA512.
 * Mosquitto's own defaults (101 in 2.0, 1000 in 2.1) are far below it; the
 * count is stored in each entry, so the broker verifies ours unchanged.
 */
#define PASSWD_ITERATIONS_DEFAULT	210000
/* More is a typo, not a policy: ~10 s of one core for every CONNECT. */
#define PASSWD_ITERATIONS_MAX		10000000

/* MQTT strings are at most 65535 bytes; so are Mosquitto's user names. */
#define PASSWD_USER_MAX		65535
#define PASSWD_PW_MAX		65535
/* A user name, ':' and the longest hash we accept, with room to spare. */
#define PASSWD_LINE_MAX		(PASSWD_USER_MAX + 1 + 512)
/* 100k argon2id users take about 25 MB. */
#define PASSWD_FILE_MAX		(64 * 1024 * 1024)

/*
 * Salt of new $7$ entries.  Mosquitto 2.0 accepts only 12-byte salts (2.1
 * also 64), so 12 keeps the file usable by both; 96 random bits make a
 * repeated salt negligible.
 */
#define PASSWD_SALT_LEN		12
/* Bounds on argon2id entries: memory in KiB, passes, lanes. */
#define PASSWD_ARGON2_M_MAX	(256 * 1024)
#define PASSWD_ARGON2_T_MAX	64
#define PASSWD_ARGON2_P_MAX	16
/* Enough for any string passwd_hash() writes, with its NUL. */
#define PASSWD_HASH_STR_MAX	128
/* A comfortable size for the err buffers below. */
#define PASSWD_ERR_LEN		512

/* The outcome of one verification; distinct for the audit log. */
enum passwd_result {
	PASSWD_OK = 0,
	PASSWD_UNKNOWN_USER,
	PASSWD_BAD_PASSWORD,
	PASSWD_ERROR		/* internal failure (memory, crypto): deny */
};

struct passwd_db;

/*
 * Loads the password file <path>.  Returns a database the caller frees
 * with passwd_free(), or NULL with one message in <err> ("path:line: what
 * is wrong", or "path: ..." for the file as a whole).  <err> may be NULL
 * when <errlen> is 0.
 */
struct passwd_db	*passwd_load(const char *path, char *err,
			    size_t errlen);

/* Wipes the hashes and frees <db>; NULL is accepted. */
void		 passwd_free(struct passwd_db *db);

/* The number of users in <db>. */
size_t		 passwd_count(const struct passwd_db *db);
/* Whether <db> has an entry for <user>: no hash is computed. */
bool		 passwd_has(const struct passwd_db *db, const char *user,
		    size_t user_len);

/*
 * Checks <pw> (<pw_len> bytes, any bytes; NULL only when <pw_len> is 0)
 * for the user named by the <user_len> bytes at <user>.  The comparison is
 * constant time, and an unknown user costs a verification against a dummy
 * entry of the file's most common kind, so timing does not tell which
 * users exist.  A password longer than PASSWD_PW_MAX is refused without
 * hashing.  Safe to call concurrently on one <db>; never logs.
 */
enum passwd_result passwd_verify(const struct passwd_db *db,
		    const char *user, size_t user_len,
		    const uint8_t *pw, size_t pw_len);

/*
 * The entry of <user> as bytes into <out> (<outlen> bytes;
 * PASSWD_ENTRY_MAX is always enough): its kind, cost parameters, salt and
 * hash, everything its line in the file says, so that two entries give
 * the same bytes only when they verify the same passwords.  Returns the
 * length, 0 for an unknown user.  For binding a cached verification to
 * the entry it was made against; the bytes are as secret as the file.
 */
#define PASSWD_ENTRY_MAX	160
size_t		 passwd_entry_bytes(const struct passwd_db *db,
		    const char *user, size_t user_len, uint8_t *out,
		    size_t outlen);
/* A short lowercase name for <r>, for logs: "ok", "unknown user", ... */
const char	*passwd_result_name(enum passwd_result r);

/*
 * Writes a new "$7$<iterations>$<salt>$<hash>" string for <pw> into <out>
 * (<outlen> bytes, PASSWD_HASH_STR_MAX is always enough), NUL-terminated,
 * with a fresh PASSWD_SALT_LEN-byte salt from RAND_bytes.  <iterations> 0
 * means PASSWD_ITERATIONS_DEFAULT.  Returns 0, or -1 with a message in
 * <err>.
 */
int		 passwd_hash(char *out, size_t outlen, const uint8_t *pw,
		    size_t pw_len, unsigned iterations, char *err,
		    size_t errlen);

/*
 * Checks that <user> is a name the editing functions may write: not empty,
 * at most PASSWD_USER_MAX bytes, no control character or ':', not
 * beginning with '#' (the line would be a comment), no white space at
 * either end (Mosquitto trims it: such a user could never log in).
 * Returns 0, or -1 with the reason in <err>.
 */
int		 passwd_user_check(const char *user, char *err,
		    size_t errlen);

/*
 * Sets the password of <user> in the file <path> to a new $7$ hash of
 * <pw> (<iterations> as for passwd_hash()): the user's line is replaced
 * in place, or a line is appended; every other line is kept byte for byte.
 * The existing file must load (its permissions aside).  With <create>, a
 * new file holding only <user> is made, and an existing <path> is refused
 * rather than overwritten.  The file is replaced atomically (a temporary
 * file in the same directory, fsync, rename), with mode 0600 and the old
 * file's owner.  Returns 0, or -1 with a message in <err>.
 */
int		 passwd_file_set(const char *path, const char *user,
		    const uint8_t *pw, size_t pw_len, unsigned iterations,
		    bool create, char *err, size_t errlen);

/*
 * Removes the line of <user> from <path>, as passwd_file_set() rewrites
 * it.  A user who is not in the file is an error.  Returns 0 or -1.
 */
int		 passwd_file_delete(const char *path, const char *user,
		    char *err, size_t errlen);

#endif
