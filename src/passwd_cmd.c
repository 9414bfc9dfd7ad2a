/* SPDX-License-Identifier: ISC */
/*
 * passwd_cmd — `mqttguard passwd`: the command line, the password prompt
 * and the messages of the tool that edits a Mosquitto password file.
 *
 *   mqttguard passwd [-c] [-i iterations] [--stdin] FILE USER
 *   mqttguard passwd -D FILE USER
 *
 * Hashing and the atomic rewrite of the file are passwd.c's
 * (passwd_file_set(), passwd_file_delete()), which report through error
 * buffers; this file turns their errors into lines on standard error and
 * exit codes, and is the only one that touches the terminal.  Passwords
 * are read from /dev/tty with echo off, or as one line of standard input;
 * never from argv, where other users could read them in ps(1).  Every
 * buffer that held a password is wiped before it is freed.
 *
 * Called by main() only; it installs signal handlers for the length of a
 * prompt, so it is not for use inside the running daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/crypto.h>

#include "mqttguard/cmd.h"
#include "mqttguard/passwd.h"

/* The command line of `mqttguard passwd`. */
struct pw_opts {
	const char	*file, *user;	/* point into argv */
	unsigned	 iterations;	/* 0: the default */
	bool		 create, del, use_stdin, iset;
};

/* What one run of the two prompts got: lengths or -1/-2, and errnos. */
struct tty_answers {
	ssize_t		 n1, n2;	/* as read_line() returns */
	int		 set_err;	/* errno of turning echo off */
	int		 read_err;	/* errno of a failed read */
};

static ssize_t	read_line(int, uint8_t *, size_t);
static void	tty_puts(int, const char *);
static void	pw_sighandler(int);
static void	tty_ask(int, const struct termios *, uint8_t *, uint8_t *,
		    size_t, struct tty_answers *);
static int	tty_result(const struct tty_answers *, const uint8_t *,
		    const uint8_t *, size_t *);
static int	pw_from_tty(uint8_t *, uint8_t *, size_t, size_t *);
static int	pw_from_stdin(uint8_t *, size_t, size_t *);
static void	usage(void);
static int	iterations_parse(const char *, unsigned *);
static int	opts_parse(int, char **, struct pw_opts *);
static int	cmd_precheck(const struct pw_opts *);
static int	cmd_set(const struct pw_opts *);

static volatile sig_atomic_t pw_signo;

/* The signals that must not leave the terminal with echo off. */
static const int tty_signals[] = {
	SIGINT, SIGHUP, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU
};
#define N_TTY_SIGNALS	(sizeof(tty_signals) / sizeof(tty_signals[0]))

/*
 * Reads one line from <fd> into <buf> (<size> bytes), without its "\n" or
 * "\r\n".  One byte at a time, so nothing past the line is consumed and
 * no stdio buffer keeps a copy of the password.  Returns the length, -1 on
 * a read error or a caught signal, -2 if the line is longer than <size>.
 */
static ssize_t
read_line(int fd, uint8_t *buf, size_t size)
{
	size_t	n = 0;
	ssize_t	r;
	uint8_t	c = 0;

	for (;;) {
		r = read(fd, &c, 1);
		if (r == -1 && errno == EINTR && pw_signo == 0)
			continue;
		if (r == -1)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n == size) {
			c = 0;
			return -2;
		}
		buf[n++] = c;
	}
	c = 0;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = 0;
	return (ssize_t)n;
}

/* Writes the prompt <s> whole to the terminal; a lost prompt is no error. */
static void
tty_puts(int fd, const char *s)
{
	size_t	left = strlen(s);
	ssize_t	r;

	while (left > 0) {
		if ((r = write(fd, s, left)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		s += r;
		left -= (size_t)r;
	}
}

static void
pw_sighandler(int sig)
{
	pw_signo = sig;
}

/*
 * Asks twice on the terminal <fd> (whose settings are <saved>) with echo
 * off, the answers into <pw> and <again> (<size> bytes each), and puts
 * the terminal and the signal dispositions back before returning.  A
 * signal that arrives meanwhile is only noted in pw_signo.
 */
static void
tty_ask(int fd, const struct termios *saved, uint8_t *pw, uint8_t *again,
    size_t size, struct tty_answers *a)
{
	struct sigaction	 sa, old[N_TTY_SIGNALS];
	struct termios		 term;
	size_t			 i;

	memset(a, 0, sizeof(*a));
	a->n1 = a->n2 = -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = pw_sighandler;	/* no SA_RESTART: read() returns */
	pw_signo = 0;
	for (i = 0; i < N_TTY_SIGNALS; i++)
		sigaction(tty_signals[i], &sa, &old[i]);
	term = *saved;
	term.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (tcsetattr(fd, TCSAFLUSH, &term) == -1)
		a->set_err = errno;
	if (a->set_err == 0 && pw_signo == 0) {
		tty_puts(fd, "Password: ");
		if ((a->n1 = read_line(fd, pw, size)) == -1)
			a->read_err = errno;
		tty_puts(fd, "\n");
	}
	if (a->n1 >= 0 && pw_signo == 0) {
		tty_puts(fd, "Reenter password: ");
		if ((a->n2 = read_line(fd, again, size)) == -1)
			a->read_err = errno;
		tty_puts(fd, "\n");
	}
	if (a->set_err == 0)
		(void)tcsetattr(fd, TCSAFLUSH, saved);
	for (i = 0; i < N_TTY_SIGNALS; i++)
		sigaction(tty_signals[i], &old[i], NULL);
}

/*
 * Judges the answers <a> once the terminal is restored and closed: a
 * caught signal takes its usual effect now (as OpenBSD's readpassphrase
 * does), then errors, then the two passwords must agree.  Returns 0 with
 * the length in <*len>, or -1 (message printed).
 */
static int
tty_result(const struct tty_answers *a, const uint8_t *pw,
    const uint8_t *again, size_t *len)
{
	int	sig;

	if ((sig = pw_signo) != 0) {
		pw_signo = 0;
		raise(sig);
		fprintf(stderr, "mqttguard passwd: interrupted\n");
		return -1;
	}
	if (a->set_err != 0) {
		fprintf(stderr, "mqttguard passwd: /dev/tty: %s\n",
		    strerror(a->set_err));
		return -1;
	}
	if (a->n1 == -2 || a->n2 == -2) {
		fprintf(stderr, "mqttguard passwd: password is longer than "
		    "%d bytes\n", PASSWD_PW_MAX);
		return -1;
	}
	if (a->n1 < 0 || a->n2 < 0) {
		fprintf(stderr, "mqttguard passwd: /dev/tty: %s\n",
		    a->read_err != 0 ? strerror(a->read_err) :
		    "no password read");
		return -1;
	}
	if (a->n1 != a->n2 || CRYPTO_memcmp(pw, again, (size_t)a->n1) != 0) {
		fprintf(stderr, "mqttguard passwd: passwords do not match\n");
		return -1;
	}
	*len = (size_t)a->n1;
	return 0;
}

/*
 * Prompts twice on /dev/tty with echo off and checks both answers agree.
 * Returns the length in <*len>, 0 or -1 (message printed).
 */
static int
pw_from_tty(uint8_t *pw, uint8_t *again, size_t size, size_t *len)
{
	struct tty_answers	 a;
	struct termios		 saved;
	int			 fd;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1) {
		fprintf(stderr, "mqttguard passwd: no terminal to read the "
		    "password from (%s); use --stdin\n", strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &saved) == -1) {
		fprintf(stderr, "mqttguard passwd: /dev/tty: %s\n",
		    strerror(errno));
		close(fd);
		return -1;
	}
	tty_ask(fd, &saved, pw, again, size, &a);
	close(fd);
	return tty_result(&a, pw, again, len);
}

/* One line of standard input, for scripts (--stdin). */
static int
pw_from_stdin(uint8_t *pw, size_t size, size_t *len)
{
	ssize_t	n;

	pw_signo = 0;
	n = read_line(STDIN_FILENO, pw, size);
	if (n == -2) {
		fprintf(stderr, "mqttguard passwd: password is longer than "
		    "%d bytes\n", PASSWD_PW_MAX);
		return -1;
	}
	if (n < 0) {
		fprintf(stderr, "mqttguard passwd: standard input: %s\n",
		    strerror(errno));
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mqttguard passwd [-c] [-i iterations] [--stdin] FILE USER\n"
	    "       mqttguard passwd -D FILE USER\n"
	    "  -c          create FILE; it must not exist yet\n"
	    "  -D          delete USER from FILE\n"
	    "  -i N        PBKDF2 iterations (default %d)\n"
	    "  --stdin     read the password as one line of standard input\n"
	    "              (otherwise twice from the terminal, without echo)\n",
	    PASSWD_ITERATIONS_DEFAULT);
}

/*
 * -i's argument: decimal digits only (no sign, no blanks, no "0x"), 1 to
 * PASSWD_ITERATIONS_MAX; strtoull saturates on overflow, which is then
 * out of range too.  Returns 0, or -1.
 */
static int
iterations_parse(const char *s, unsigned *v)
{
	unsigned long long	n;

	if (*s == '\0' || s[strspn(s, "0123456789")] != '\0')
		return -1;
	n = strtoull(s, NULL, 10);
	if (n < 1 || n > PASSWD_ITERATIONS_MAX)
		return -1;
	*v = (unsigned)n;
	return 0;
}

/*
 * Parses the command line into <o>.  Returns -1 to go on, or the exit
 * status to return at once (0 after -h, 2 on a usage error).
 */
static int
opts_parse(int argc, char **argv, struct pw_opts *o)
{
	static const struct option longopts[] = {
		{ "stdin", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	memset(o, 0, sizeof(*o));
	optind = 0;		/* main() may have run getopt already */
	opterr = 0;
	/* '+': options end at FILE, so USER may begin with '-'. */
	while ((ch = getopt_long(argc, argv, "+cDhi:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->create = true;
			break;
		case 'D':
			o->del = true;
			break;
		case 'i':
			if (iterations_parse(optarg, &o->iterations) == -1) {
				fprintf(stderr, "mqttguard passwd: -i: "
				    "iterations must be 1..%d\n",
				    PASSWD_ITERATIONS_MAX);
				return 2;
			}
			o->iset = true;
			break;
		case 's':
			o->use_stdin = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			if (optopt != 0 && optopt != 'i')
				fprintf(stderr, "mqttguard passwd: unknown "
				    "option -%c\n", optopt);
			else
				fprintf(stderr, "mqttguard passwd: bad or "
				    "incomplete option\n");
			usage();
			return 2;
		}
	}
	if (argc - optind != 2 ||
	    (o->del && (o->create || o->iset || o->use_stdin))) {
		usage();
		return 2;
	}
	o->file = argv[optind];
	o->user = argv[optind + 1];
	return -1;
}

/*
 * Every check of a password change that needs no password, so nobody
 * types a password twice only to hear the file is missing.  Returns 0 to
 * go on, or -1 (message printed).
 */
static int
cmd_precheck(const struct pw_opts *o)
{
	char		err[PASSWD_ERR_LEN];
	struct stat	st;

	if (passwd_user_check(o->user, err, sizeof(err)) == -1) {
		fprintf(stderr, "mqttguard passwd: %s\n", err);
		return -1;
	}
	if (o->create && lstat(o->file, &st) == 0) {
		fprintf(stderr, "mqttguard passwd: %s: already exists; "
		    "leave out -c to update it\n", o->file);
		return -1;
	}
	if (!o->create && stat(o->file, &st) == -1) {
		fprintf(stderr, "mqttguard passwd: %s: %s%s\n", o->file,
		    strerror(errno), errno == ENOENT ?
		    " (-c creates a new file)" : "");
		return -1;
	}
	if (o->iset && o->iterations < PASSWD_ITERATIONS_DEFAULT)
		fprintf(stderr, "mqttguard passwd: warning: %u iterations is "
		    "below the recommended %d\n", o->iterations,
		    PASSWD_ITERATIONS_DEFAULT);
	return 0;
}

/* Sets the password of o->user.  Returns the exit status. */
static int
cmd_set(const struct pw_opts *o)
{
	char		 err[PASSWD_ERR_LEN];
	uint8_t		*pw = NULL, *again = NULL;
	size_t		 pw_len = 0;
	int		 rc = 1;

	if (cmd_precheck(o) == -1)
		return 1;
	if ((pw = malloc(PASSWD_PW_MAX)) == NULL ||
	    (again = malloc(PASSWD_PW_MAX)) == NULL) {
		fprintf(stderr, "mqttguard passwd: out of memory\n");
		goto done;
	}
	if (o->use_stdin) {
		if (pw_from_stdin(pw, PASSWD_PW_MAX, &pw_len) == -1)
			goto done;
	} else if (pw_from_tty(pw, again, PASSWD_PW_MAX, &pw_len) == -1)
		goto done;
	if (pw_len == 0) {
		fprintf(stderr, "mqttguard passwd: empty password refused\n");
		goto done;
	}
	if (passwd_file_set(o->file, o->user, pw, pw_len, o->iterations,
	    o->create, err, sizeof(err)) == -1) {
		fprintf(stderr, "mqttguard passwd: %s\n", err);
		goto done;
	}
	rc = 0;
done:
	if (pw != NULL)
		OPENSSL_cleanse(pw, PASSWD_PW_MAX);
	if (again != NULL)
		OPENSSL_cleanse(again, PASSWD_PW_MAX);
	free(pw);
	free(again);
	return rc;
}

int
passwd_cmd_main(int argc, char **argv)
{
	struct pw_opts	o;
	char		err[PASSWD_ERR_LEN];
	int		rc;

	if ((rc = opts_parse(argc, argv, &o)) != -1)
		return rc;
	if (o.del) {
		if (passwd_file_delete(o.file, o.user, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "mqttguard passwd: %s\n", err);
			return 1;
		}
		return 0;
	}
	return cmd_set(&o);
}
