/* Unit tests: descriptors over an AF_UNIX socket (vmm/fdpass.c): what the daemon's snapshot
 * orders and the OCI console socket rely on, and what a receiver does with too many
 * descriptors or too long a message. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdpass.h"

static int pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* Two ends of a pipe sent: the received copies are the same open files, close-on-exec. */
static void round_trip(void **state)
{
	(void)state;
	int sv[2], p[2];
	assert_int_equal(pair(sv), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fd_send(sv[0], "order", 5, p, 2, 0), 5);
	char buf[16];
	int fds[2], trunc;
	unsigned n;
	assert_int_equal(fd_recv(sv[1], buf, sizeof(buf), fds, 2, &n, &trunc, 0), 5);
	assert_memory_equal(buf, "order", 5);
	assert_int_equal(n, 2);
	assert_false(trunc);
	for (int i = 0; i < 2; i++) {
		struct stat a, b;
		assert_int_equal(fstat(p[i], &a), 0);
		assert_int_equal(fstat(fds[i], &b), 0);
		assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
	}
	assert_int_equal(write(fds[1], "x", 1), 1); /* the write end we got feeds the pipe */
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	for (int i = 0; i < 2; i++) {
		close(fds[i]);
		close(p[i]);
	}
	/* No descriptors: plain data, and the array says none. */
	assert_int_equal(fd_send(sv[0], "ab", 2, NULL, 0, 0), 2);
	assert_int_equal(fd_recv(sv[1], buf, sizeof(buf), fds, 2, &n, &trunc, 0), 2);
	assert_int_equal(n, 0);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[1], -1);
	/* The peer gone: 0. */
	close(sv[0]);
	assert_int_equal(fd_recv(sv[1], buf, sizeof(buf), fds, 2, &n, &trunc, 0), 0);
	close(sv[1]);
}

/* A sender with more descriptors than the receiver takes: the extra ones are closed there
 * (counted, flagged), and a message longer than the buffer is flagged truncated. */
static void too_many_or_too_long(void **state)
{
	(void)state;
	int sv[2], p[2];
	assert_int_equal(pair(sv), 0);
	assert_int_equal(pipe(p), 0);
	int four[4] = {p[0], p[1], p[0], p[1]};
	assert_int_equal(fd_send(sv[0], "m", 1, four, 4, 0), 1);
	char buf[8];
	int fds[2], trunc;
	unsigned n;
	assert_int_equal(fd_recv(sv[1], buf, sizeof(buf), fds, 2, &n, &trunc, 0), 1);
	assert_int_equal(n, 4);
	assert_true(trunc);
	close(fds[0]);
	close(fds[1]);
	/* Only p's own ends keep the pipe open now: closing p[1] gives EOF on p[0], which would
	 * not happen had a received duplicate of the write end been leaked. */
	close(p[1]);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0); /* a leak: EAGAIN, not a hang */
	char c;
	assert_int_equal(read(p[0], &c, 1), 0);
	close(p[0]);
	assert_int_equal(fd_send(sv[0], "0123456789abcdef", 16, NULL, 0, 0), 16);
	assert_int_equal(fd_recv(sv[1], buf, sizeof(buf), fds, 2, &n, &trunc, 0), 8);
	assert_true(trunc);
	int five[5] = {0, 0, 0, 0, 0};
	errno = 0;
	assert_int_equal(fd_send(sv[0], "x", 1, five, 5, 0), -1);
	assert_int_equal(errno, EINVAL);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(round_trip),
	        cmocka_unit_test(too_many_or_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
