/* tests/nested/consock.c — the receiving end of an OCI --console-socket inside L1 (no python
 * there): listen on PATH, take one connection, receive the pty master the runtime sends with
 * SCM_RIGHTS (vmm/fdpass.c, the runtime's own helper), print "pty NAME" (the message), then
 * copy what the console prints to stdout until the last slave closes (EIO) or 30 s pass.
 *
 *   consock PATH */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: consock PATH\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0) {
		perror("consock: listen");
		return 1;
	}
	alarm(30);
	int c = accept(l, NULL, NULL);
	char name[256];
	int fd[1], trunc;
	unsigned n;
	ssize_t got = c < 0 ? -1 : fd_recv(c, name, sizeof(name) - 1, fd, 1, &n, &trunc, 0);
	if (got <= 0 || n != 1 || trunc) {
		fprintf(stderr, "consock: no pty received (%zd bytes, %u fds)\n", got, n);
		return 1;
	}
	name[got] = 0;
	printf("pty %s\n", name);
	fflush(stdout);
	char buf[512];
	ssize_t r;
	while ((r = read(fd[0], buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && write(1, buf, (size_t)r) != r)
			return 1;
	return 0;
}
