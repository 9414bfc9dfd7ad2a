/* SPDX-License-Identifier: ISC */
/*
 * check_notify — src/notify.c against a real AF_UNIX datagram socket,
 * bound at a path and in the abstract namespace, as systemd binds its
 * own: what arrives is what the service manager would read.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "check_suites.h"
#include "mqttguard/notify.h"

static int	bind_dgram(const char *);
static void	recv_is(int, const char *);

/*
 * A datagram socket bound where NOTIFY_SOCKET value <name> says, and
 * NOTIFY_SOCKET set to it.
 */
static int
bind_dgram(const char *name)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	size_t			n = strlen(name);
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(n, sizeof(sun.sun_path));
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, len), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

/* The next datagram on <fd> is exactly <want>. */
static void
recv_is(int fd, const char *want)
{
	char	buf[NOTIFY_MAX + 64];
	ssize_t	n;

	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(test_notify_none)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_send("READY=1"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), 0);
}
END_TEST

START_TEST(test_notify_path)
{
	char	dir[] = "/tmp/check_notify.XXXXXX", path[64];
	int	fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path);
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=serving %d", 2), 1);
	recv_is(fd, "READY=1\nSTATUS=serving 2");
	ck_assert_int_eq(notify_send("STOPPING=1"), 1);
	recv_is(fd, "STOPPING=1");
	close(fd);
	unlink(path);
	rmdir(dir);
	/* Nobody listens any more: an error, not a crash or a hang. */
	ck_assert_int_eq(notify_send("READY=1"), -1);
}
END_TEST

START_TEST(test_notify_abstract)
{
	char	name[64], buf[NOTIFY_MAX + 64];
	ssize_t	n;
	int	fd;

	snprintf(name, sizeof(name), "@check_notify/%ld", (long)getpid());
	fd = bind_dgram(name);
	ck_assert_int_eq(notify_reloading("SIGHUP"), 1);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0,
	    "%s", buf);
	ck_assert_msg(strtoull(buf + 27, NULL, 10) > 0, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "\nSTATUS=SIGHUP"));
	close(fd);
}
END_TEST

START_TEST(test_notify_bad)
{
	char	 big[NOTIFY_MAX + 16];
	char	 name[64];
	int	 fd;

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "@", 1), 0);
	ck_assert_int_eq(notify_send("READY=1"), -1);
	/* Too long: cut at the last whole line, or refused without one. */
	snprintf(name, sizeof(name), "@check_notify_big/%ld", (long)getpid());
	fd = bind_dgram(name);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=%s", big), 1);
	recv_is(fd, "READY=1");
	ck_assert_int_eq(notify_send("STATUS=%s", big), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	close(fd);
}
END_TEST

Suite *
notify_suite(void)
{
	Suite	*s = suite_create("notify");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_notify_none);
	tcase_add_test(tc, test_notify_path);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_notify_bad);
	suite_add_tcase(s, tc);
	return s;
}
