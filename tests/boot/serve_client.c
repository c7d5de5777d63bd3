/* tests/boot/serve_client.c — t_serve.sh's HTTP client for `fastvmm serve`'s Unix socket, in C
 * so that the suite runs where there is no curl and no python3 (the nested harness's L1:
 * prepare.d/boot-suites.sh links it statically as /bin/fvserveclient; on a host t_serve.sh
 * compiles it with cc).
 *
 *   serve_client SOCK req [-m SECS] [-o FILE] [-c] METHOD PATH [BODY]
 *       one request (Connection: close; a BODY is sent as application/json, with -c in
 *       chunked transfer encoding); the reply's body goes to stdout, or with -o to FILE and
 *       then the status is printed instead ("000" when no reply came within SECS, 30 by
 *       default), as curl -s -o FILE -w '%{http_code}' would
 *   serve_client SOCK raw TEXT      send TEXT (\r \n \t \\ \xHH escapes) as it is, print the
 *                                   status and the body, or "closed"
 *   serve_client SOCK slow SECONDS  send half a request line and stall; print how long until
 *                                   the daemon closed the connection
 *   serve_client SOCK flood N PATH  open N connections at once, send GET PATH on each, read
 *                                   every reply, close them all; print
 *                                   "200=a 503=b closed=c other=d s=T"
 *   serve_client SOCK burst N BODY  N POST /vms on one keep-alive connection, as fast as
 *                                   possible; print {"status": S, "reply": BODY} a line
 *
 * Exit status 0, or 2 on a usage or socket error. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "serve_client: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int connect_sock(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Everything of LEN bytes, or false (a peer that closed early is not fatal here). */
static bool send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* One read by DEADLINE: bytes read, 0 at end of stream, -1 on an error or the deadline. */
static ssize_t read_by(int fd, char *buf, size_t cap, double deadline)
{
	for (;;) {
		double left = deadline - now();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

struct reply {
	int status; /* 0: none (closed, reset or timed out before a whole head) */
	char *body; /* NUL-terminated, malloc'ed */
	size_t len;
};

/* One HTTP response on FD by DEADLINE (a Content-Length body, else the body runs to the end
 * of the stream). A keep-alive client sends its next request only after this reply, so
 * nothing past it is lost. */
static struct reply read_reply(int fd, double deadline)
{
	struct reply r = {0};
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1), *sep = NULL;
	if (!buf)
		die("malloc");
	buf[0] = 0;
	while (!sep) {
		if (len == cap && !(buf = realloc(buf, (cap *= 2) + 1)))
			die("realloc");
		ssize_t n = read_by(fd, buf + len, cap - len, deadline);
		if (n <= 0) {
			r.body = buf;
			buf[0] = 0;
			return r;
		}
		len += (size_t)n;
		buf[len] = 0;
		sep = strstr(buf, "\r\n\r\n");
	}
	if (sscanf(buf, "HTTP/%*d.%*d %d", &r.status) != 1) {
		r.status = 0;
		r.body = buf;
		buf[0] = 0;
		return r;
	}
	long want = -1;
	for (char *l = strstr(buf, "\r\n"); l && l < sep; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, "Content-Length:", 15))
			want = strtol(l + 17, NULL, 10);
	/* the body's first bytes came with the head */
	r.len = len - (size_t)(sep + 4 - buf);
	memmove(buf, sep + 4, r.len);
	r.body = buf;
	while (want < 0 || r.len < (size_t)want) {
		if (r.len == cap && !(r.body = realloc(r.body, (cap *= 2) + 1)))
			die("realloc");
		ssize_t n = read_by(fd, r.body + r.len, cap - r.len, deadline);
		if (n <= 0)
			break;
		r.len += (size_t)n;
	}
	if (want >= 0 && r.len > (size_t)want)
		r.len = (size_t)want;
	r.body[r.len] = 0;
	return r;
}

static int cmd_req(int argc, char **argv)
{
	double secs = 30;
	const char *out = NULL;
	bool chunked = false;
	int opt;
	while ((opt = getopt(argc, argv, "m:o:c")) != -1) {
		if (opt == 'm')
			secs = strtod(optarg, NULL);
		else if (opt == 'o')
			out = optarg;
		else if (opt == 'c')
			chunked = true;
		else
			return 2;
	}
	if (argc - optind < 2 || argc - optind > 3) {
		fprintf(stderr, "usage: serve_client SOCK req [-m SECS] [-o FILE] [-c] METHOD PATH "
		                "[BODY]\n");
		return 2;
	}
	const char *method = argv[optind], *path = argv[optind + 1];
	const char *body = argc - optind == 3 ? argv[optind + 2] : NULL;
	double deadline = now() + secs;
	int fd = connect_sock();
	if (fd < 0)
		die("connect");
	char head[1024], extra[128] = "";
	if (body && chunked)
		snprintf(extra, sizeof(extra),
		         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n");
	else if (body)
		snprintf(extra, sizeof(extra),
		         "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
	int n = snprintf(head, sizeof(head),
	                 "%s %s HTTP/1.1\r\nHost: fastvmm\r\nConnection: close\r\n%s\r\n", method,
	                 path, extra);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		fprintf(stderr, "serve_client: request line too long\n");
		return 2;
	}
	/* A daemon that answers before the whole body is sent (413) is still read. */
	if (send_all(fd, head, (size_t)n) && body) {
		size_t len = strlen(body);
		if (!chunked) {
			send_all(fd, body, len);
		} else {
			for (size_t off = 0; off < len; off += 1000) {
				size_t k = len - off < 1000 ? len - off : 1000;
				char sz[32];
				int m = snprintf(sz, sizeof(sz), "%zx\r\n", k);
				if (!send_all(fd, sz, (size_t)m) || !send_all(fd, body + off, k) ||
				    !send_all(fd, "\r\n", 2))
					break;
			}
			send_all(fd, "0\r\n\r\n", 5);
		}
	}
	struct reply r = read_reply(fd, deadline);
	close(fd);
	FILE *f = out ? fopen(out, "w") : stdout;
	if (!f)
		die(out);
	fwrite(r.body, 1, r.len, f);
	if (out) {
		fclose(f);
		printf("%03d", r.status);
	}
	free(r.body);
	return 0;
}

/* TEXT with \r \n \t \\ \xHH decoded, in place; its length. */
static size_t unescape(char *s)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (*p != '\\' || !p[1]) {
			*w++ = *p;
			continue;
		}
		switch (*++p) {
		case 'r':
			*w++ = '\r';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'x': {
			char hex[3] = {p[1], p[1] ? p[2] : 0, 0};
			*w++ = (char)strtol(hex, NULL, 16);
			p += strlen(hex);
			break;
		}
		default:
			*w++ = *p;
		}
	}
	return (size_t)(w - s);
}

static int cmd_raw(char *text)
{
	size_t len = unescape(text);
	int fd = connect_sock();
	if (fd < 0)
		die("connect");
	send_all(fd, text, len);
	struct reply r = read_reply(fd, now() + 10);
	if (r.status) {
		char *b = r.body, *e = r.body + r.len;
		while (b < e && (*b == ' ' || *b == '\r' || *b == '\n'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\n'))
			e--;
		printf("%d %.*s\n", r.status, (int)(e - b), b);
	} else {
		printf("closed\n");
	}
	return 0;
}

static int cmd_slow(double secs)
{
	int fd = connect_sock();
	if (fd < 0)
		die("connect");
	send_all(fd, "GET /metr", 9);
	double t0 = now(), deadline = t0 + secs;
	char buf[4096];
	ssize_t n;
	while ((n = read_by(fd, buf, sizeof(buf), deadline)) > 0)
		;
	/* read_by's -1 is the deadline or an error (a reset is a close too) */
	if (n < 0 && now() >= deadline)
		printf("still open after %.1f s\n", now() - t0);
	else
		printf("closed after %.1f s\n", now() - t0);
	return 0;
}

static int cmd_flood(int n, const char *path)
{
	/* n connections and this process's own descriptors: raise the soft limit as far as
	 * allowed. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	double t0 = now();
	int *fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		die("calloc");
	int ok200 = 0, n503 = 0, closed = 0, other = 0;
	for (int i = 0; i < n; i++)
		if ((fds[i] = connect_sock()) < 0)
			closed++;
	char msg[512];
	int m = snprintf(msg, sizeof(msg), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	if (m < 0 || (size_t)m >= sizeof(msg))
		return 2;
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			send_all(fds[i], msg, (size_t)m);
	double deadline = now() + 60;
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		struct reply r = read_reply(fds[i], deadline);
		if (r.status == 200)
			ok200++;
		else if (r.status == 503)
			n503++;
		else if (r.status == 0)
			closed++;
		else
			other++;
		free(r.body);
	}
	/* closed only now: the daemon sees every connection it accepted still open, however fast
	 * it answers, so a cap below N is always crossed */
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("200=%d 503=%d closed=%d other=%d s=%.2f\n", ok200, n503, closed, other, now() - t0);
	free(fds);
	return 0;
}

static int cmd_burst(int n, const char *body)
{
	int fd = connect_sock();
	if (fd < 0)
		die("connect");
	size_t blen = strlen(body);
	char head[256];
	int m = snprintf(head, sizeof(head),
	                 "POST /vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 blen);
	for (int i = 0; i < n; i++) {
		send_all(fd, head, (size_t)m);
		send_all(fd, body, blen);
		struct reply r = read_reply(fd, now() + 30);
		printf("{\"status\": %d, \"reply\": %s}\n", r.status, r.len ? r.body : "{}");
		free(r.body);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: serve_client SOCK req|raw|slow|flood|burst ARGS...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sock_path = argv[1];
	const char *cmd = argv[2];
	if (!strcmp(cmd, "req"))
		return cmd_req(argc - 2, argv + 2);
	if (!strcmp(cmd, "raw") && argc == 4)
		return cmd_raw(argv[3]);
	if (!strcmp(cmd, "slow") && argc == 4)
		return cmd_slow(strtod(argv[3], NULL));
	if (!strcmp(cmd, "flood") && argc == 5)
		return cmd_flood(atoi(argv[3]), argv[4]);
	if (!strcmp(cmd, "burst") && argc == 5)
		return cmd_burst(atoi(argv[3]), argv[4]);
	fprintf(stderr, "serve_client: unknown command or wrong arguments: %s\n", cmd);
	return 2;
}
