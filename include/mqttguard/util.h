/* SPDX-License-Identifier: ISC */
/*
 * util — the small helpers every module would otherwise write again: the
 * error-buffer formatter, the monotonic clock, an address as text.
 *
 * A leaf: nothing else of ours is included, so any module may use it
 * (but the codec, which depends only on topic_).  No state, no allocation.
 */
#ifndef MQTTGUARD_UTIL_H
#define MQTTGUARD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Enough for "[<IPv6 address>]:<port>" and its NUL. */
#define UTIL_ADDR_MAX	64

/*
 * Formats into the caller's error buffer <err> of <errlen> bytes, cut to
 * fit and always terminated; does nothing when <err> is NULL or <errlen>
 * is 0, so a caller that wants no message passes (NULL, 0).  Callers that
 * add context (a file and line, a key) format it into the same call.
 */
void	 util_errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 util_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
	    __attribute__((format(printf, 3, 0)));

/* CLOCK_MONOTONIC in milliseconds: the clock of every timeout and bucket. */
uint64_t util_now_ms(void);
/* The same clock in microseconds: what latency histograms measure. */
uint64_t util_now_us(void);

/*
 * The address of <sa> as text into <buf> (<len> bytes, UTIL_ADDR_MAX is
 * enough): "192.0.2.1" or "2001:db8::1", or with <port> "192.0.2.1:1883"
 * or "[2001:db8::1]:1883".  For a family other than AF_INET and AF_INET6,
 * <buf> is made empty and -1 returned.
 */
int	 util_addr_str(const struct sockaddr *sa, bool port, char *buf,
	    size_t len);

/* The port of <sa> in host order; 0 for a family without ports. */
unsigned util_addr_port(const struct sockaddr *sa);

/*
 * Mixes what stat(2) says of <path> (following links: a Kubernetes
 * ConfigMap's swapped "..data" link changes it), or that it is missing,
 * into the 64-bit FNV-1a hash *<h>.
 */
void	 util_file_stamp(uint64_t *h, const char *path);

/*
 * Secret files (TLS private keys, password files, token files): the owner
 * and its group may read (Kubernetes fsGroup 0440/0640, Debian's
 * root:mqttguard 0640), only the owner may write, others get nothing.
 * util_secret_mode_check() judges the permission bits <mode> alone (no
 * I/O): 0, or -1 with "<path>: mode 0644: others may read a secret file
 * (chmod o-rwx)" in <err>.  util_secret_file_check() judges the file open
 * on <fd> (so a symlink is judged by its final target, as a Kubernetes
 * "..data" mount needs); util_secret_path_check() stats <path>, following
 * links, and fills <err> with strerror when it cannot.
 */
int	 util_secret_mode_check(const char *path, unsigned mode, char *err,
	    size_t errlen);
int	 util_secret_file_check(const char *path, int fd, char *err,
	    size_t errlen);
int	 util_secret_path_check(const char *path, char *err, size_t errlen);

/*
 * A file that decides policy (the policy file, an acl include): refused
 * when others may write it.  Pure, on the permission bits <mode>: 0, or -1
 * with the reason in <err>.
 */
int	 util_policy_mode_check(const char *path, unsigned mode, char *err,
	    size_t errlen);

#endif
