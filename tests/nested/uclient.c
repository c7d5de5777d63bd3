/* tests/nested/uclient.c — the smallest HTTP client for `fastvmm serve` inside L1 (which has
 * busybox, whose nc has no Unix sockets): uclient SOCKET METHOD PATH [BODY]. Sends one
 * HTTP/1.1 request with Connection: close, prints the status line and the body to stdout,
 * exits 0 on a 2xx status, 1 on any other, 2 on a usage or socket error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: uclient SOCKET METHOD PATH [BODY]\n");
		return 2;
	}
	const char *body = argc == 5 ? argv[4] : "";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "uclient: %s: name too long\n", argv[1]);
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("uclient: connect");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a reply before the whole request is sent is still read */
	char head[512], length[96] = "";
	if (argc == 5)
		snprintf(length, sizeof(length),
		         "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
	int n = snprintf(head, sizeof(head),
	                 "%s %s HTTP/1.1\r\nHost: fastvmm\r\nConnection: close\r\n%s\r\n", argv[2],
	                 argv[3], length);
	/* No write of an empty body: on a connection the daemon has already answered and
	 * closed, even a 0-byte write fails with EPIPE. */
	if (n < 0 || (size_t)n >= sizeof(head) || write(fd, head, (size_t)n) != n ||
	    (*body && write(fd, body, strlen(body)) != (ssize_t)strlen(body)))
		perror("uclient: write"); /* the daemon may have answered already: read it */
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t got;
	while (len < sizeof(buf) - 1 && (got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)got;
	buf[len] = 0;
	char *eol = strstr(buf, "\r\n"), *sep = strstr(buf, "\r\n\r\n");
	if (!eol || !sep) {
		fprintf(stderr, "uclient: no HTTP reply\n");
		return 2;
	}
	*eol = 0;
	printf("%s\n%s\n", buf, sep + 4);
	return strncmp(buf, "HTTP/1.1 2", 10) == 0 ? 0 : 1;
}
