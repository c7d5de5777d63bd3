/* tests/bench/serve_load.c — load generator for `fastvmm serve` (make bench-serve).
 *
 *   serve_load api SOCK TEMPLATE RATE SECONDS CONNS DAEMON_PID
 *       POST /vms {"template": TEMPLATE, "wait": "ready"} at RATE requests/s (open loop: the
 *       i-th request is due at i/RATE; 0 = as fast as CONNS connections allow), each on one
 *       of CONNS keep-alive connections. Latencies are the daemon's own, from the request's
 *       arrival (timings_ms.first_run / ready), plus the client's due → reply.
 *   serve_load cold FASTVMM KERNEL RATE SECONDS CONNS
 *       the same offered load as one `fastvmm --kernel KERNEL --json --quiet` process per
 *       request (at most CONNS at once): request → first_run/ready is spawn → the process's
 *       end minus its own (exit - first_run) and (exit - ready).
 *
 * Prints one line: offered rate, achieved launches/s, failures, p50/p99/p99.9 (ms) of
 * request → first_run and → ready, and CPU per launch (daemon + instances, or the cold
 * processes). Measures; asserts nothing. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank. */
static double pct(double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

struct samples {
	double *first_run, *ready, *client;
	size_t n, cap;
};

static void add(struct samples *s, double fr, double rd, double cl)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->first_run = realloc(s->first_run, s->cap * sizeof(double));
		s->ready = realloc(s->ready, s->cap * sizeof(double));
		s->client = realloc(s->client, s->cap * sizeof(double));
	}
	s->first_run[s->n] = fr;
	s->ready[s->n] = rd;
	s->client[s->n] = cl;
	s->n++;
}

static void report(const char *what, double rate, double secs, struct samples *s, unsigned failed,
                   double cpu_ms, unsigned launched)
{
	qsort(s->first_run, s->n, sizeof(double), cmp_d);
	qsort(s->ready, s->n, sizeof(double), cmp_d);
	qsort(s->client, s->n, sizeof(double), cmp_d);
	char offered[16];
	if (rate > 0)
		snprintf(offered, sizeof(offered), "%.0f", rate);
	else
		snprintf(offered, sizeof(offered), "max");
	printf("%-12s %7s %9.0f %6u  %7.3f %7.3f %7.3f  %7.3f %7.3f %7.3f  %7.3f %7.3f  %6.3f\n",
	       what, offered, (double)s->n / secs, failed, pct(s->first_run, s->n, 50),
	       pct(s->first_run, s->n, 99), pct(s->first_run, s->n, 99.9), pct(s->ready, s->n, 50),
	       pct(s->ready, s->n, 99), pct(s->ready, s->n, 99.9), pct(s->client, s->n, 50),
	       pct(s->client, s->n, 99), launched ? cpu_ms / launched : 0);
	fflush(stdout);
}

/* utime+stime+cutime+cstime of a process, ms. */
static double proc_cpu_ms(pid_t pid)
{
	char p[64], buf[2048];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	if (!s)
		return 0;
	unsigned long long v[20] = {0};
	/* After ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17). */
	char *tok = strtok(s + 2, " ");
	for (int f = 3; tok && f <= 17; f++, tok = strtok(NULL, " "))
		v[f] = strtoull(tok, NULL, 10);
	return (double)(v[14] + v[15] + v[16] + v[17]) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* ---- api mode ---- */

struct conn {
	int fd;
	bool busy;
	uint64_t due;
	char buf[16384];
	size_t len;
};

static int conn_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("serve_load: connect");
		exit(1);
	}
	return fd;
}

/* A complete response in c->buf: returns its length (head + body) and sets *status and
 * *body; 0 if more bytes are needed. */
static size_t response(struct conn *c, int *status, const char **body, size_t *blen)
{
	c->buf[c->len] = 0;
	char *end = strstr(c->buf, "\r\n\r\n");
	if (!end)
		return 0;
	size_t head = (size_t)(end - c->buf) + 4, clen = 0;
	char *cl = strcasestr(c->buf, "Content-Length:");
	if (cl && cl < end)
		clen = strtoull(cl + 15, NULL, 10);
	if (c->len < head + clen)
		return 0;
	*status = atoi(c->buf + 9);
	*body = c->buf + head;
	*blen = clen;
	return head + clen;
}

static int run_api(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr,
		        "usage: serve_load api SOCK TEMPLATE RATE SECONDS CONNS DAEMON_PID\n");
		return 2;
	}
	const char *sock = argv[2], *tmpl = argv[3];
	double rate = atof(argv[4]), secs = atof(argv[5]);
	unsigned nconn = (unsigned)atoi(argv[6]);
	pid_t dpid = (pid_t)atoi(argv[7]);
	char req[512];
	char body[256];
	int bl = snprintf(body, sizeof(body), "{\"template\": \"%s\", \"wait\": \"ready\"}", tmpl);
	int rl =
	        snprintf(req, sizeof(req),
	                 "POST /vms HTTP/1.1\r\nHost: fastvmm\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %d\r\n\r\n%s",
	                 bl, body);
	struct conn *c = calloc(nconn, sizeof(*c));
	struct pollfd *pf = calloc(nconn, sizeof(*pf));
	for (unsigned i = 0; i < nconn; i++)
		c[i].fd = conn_open(sock);
	unsigned total = rate > 0 ? (unsigned)(rate * secs) : ~0u, sent = 0, failed = 0;
	struct samples s = {0};
	double cpu0 = proc_cpu_ms(dpid);
	uint64_t t0 = now(), stop = t0 + (uint64_t)(secs * 1e9);
	unsigned inflight = 0;
	for (;;) {
		uint64_t t = now();
		bool more = rate > 0 ? sent < total : t < stop;
		/* Send what is due on idle connections. */
		for (unsigned i = 0; i < nconn && more; i++) {
			if (c[i].busy)
				continue;
			uint64_t due = rate > 0 ? t0 + (uint64_t)((double)sent * 1e9 / rate) : t;
			if (due > t)
				break;
			if (write(c[i].fd, req, (size_t)rl) != rl) {
				failed++;
				continue;
			}
			c[i].busy = true;
			c[i].due = due;
			c[i].len = 0;
			sent++;
			inflight++;
			more = rate > 0 ? sent < total : t < stop;
		}
		if (!more && inflight == 0)
			break;
		int timeout = 100;
		if (more && rate > 0) {
			uint64_t due = t0 + (uint64_t)((double)sent * 1e9 / rate);
			timeout = due > t ? (int)((due - t) / 1000000) : 0;
		}
		for (unsigned i = 0; i < nconn; i++)
			pf[i] = (struct pollfd){.fd = c[i].busy ? c[i].fd : -1, .events = POLLIN};
		if (poll(pf, nconn, timeout) < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; i < nconn; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n =
			        read(c[i].fd, c[i].buf + c[i].len, sizeof(c[i].buf) - 1 - c[i].len);
			if (n <= 0) {
				fprintf(stderr, "serve_load: connection %u closed\n", i);
				close(c[i].fd);
				c[i].fd = conn_open(sock);
				c[i].busy = false;
				inflight--;
				failed++;
				continue;
			}
			c[i].len += (size_t)n;
			int st;
			const char *b;
			size_t blen;
			if (!response(&c[i], &st, &b, &blen))
				continue;
			double cl = (double)(now() - c[i].due) / 1e6;
			c[i].busy = false;
			inflight--;
			json_t *j = st == 201 ? json_loadb(b, blen, 0, NULL) : NULL;
			json_t *tm = j ? json_object_get(j, "timings_ms") : NULL;
			json_t *fr = tm ? json_object_get(tm, "first_run") : NULL;
			json_t *rd = tm ? json_object_get(tm, "ready") : NULL;
			if (fr && rd)
				add(&s, json_number_value(fr), json_number_value(rd), cl);
			else
				failed++;
			json_decref(j);
		}
	}
	double wall = (double)(now() - t0) / 1e9;
	usleep(300000); /* the last instances exit and are reaped; the pool refills */
	double cpu = proc_cpu_ms(dpid) - cpu0;
	report(argv[3], rate, wall, &s, failed, cpu, (unsigned)s.n);
	for (unsigned i = 0; i < nconn; i++)
		close(c[i].fd);
	return 0;
}

/* ---- cold mode: one fastvmm process per request ---- */

struct proc {
	pid_t pid;
	int out;
	uint64_t due;
	char buf[8192];
	size_t len;
};

static int run_cold(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: serve_load cold FASTVMM KERNEL RATE SECONDS CONNS\n");
		return 2;
	}
	double rate = atof(argv[4]), secs = atof(argv[5]);
	unsigned par = (unsigned)atoi(argv[6]);
	char *args[] = {argv[2], "--kernel", argv[3], "--json", "--quiet", "--mem", "16M", NULL};
	struct proc *p = calloc(par, sizeof(*p));
	struct pollfd *pf = calloc(par, sizeof(*pf));
	for (unsigned i = 0; i < par; i++)
		p[i].pid = 0;
	unsigned total = rate > 0 ? (unsigned)(rate * secs) : ~0u, sent = 0, failed = 0,
	         inflight = 0;
	struct samples s = {0};
	struct rusage r0, r1;
	getrusage(RUSAGE_CHILDREN, &r0);
	uint64_t t0 = now(), stop = t0 + (uint64_t)(secs * 1e9);
	for (;;) {
		uint64_t t = now();
		bool more = rate > 0 ? sent < total : t < stop;
		for (unsigned i = 0; i < par && more; i++) {
			if (p[i].pid)
				continue;
			uint64_t due = rate > 0 ? t0 + (uint64_t)((double)sent * 1e9 / rate) : t;
			if (due > t)
				break;
			int fds[2];
			if (pipe2(fds, O_CLOEXEC) < 0)
				break;
			posix_spawn_file_actions_t fa;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
			pid_t pid;
			int e = posix_spawn(&pid, argv[2], &fa, NULL, args, environ);
			posix_spawn_file_actions_destroy(&fa);
			close(fds[1]);
			if (e) {
				close(fds[0]);
				failed++;
				sent++;
				continue;
			}
			p[i] = (struct proc){.pid = pid, .out = fds[0], .due = due};
			sent++;
			inflight++;
			more = rate > 0 ? sent < total : t < stop;
		}
		if (!more && inflight == 0)
			break;
		int timeout = 100;
		if (more && rate > 0) {
			uint64_t due = t0 + (uint64_t)((double)sent * 1e9 / rate);
			timeout = due > t ? (int)((due - t) / 1000000) : 0;
		}
		for (unsigned i = 0; i < par; i++)
			pf[i] = (struct pollfd){.fd = p[i].pid ? p[i].out : -1, .events = POLLIN};
		if (poll(pf, par, timeout) < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; i < par; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(p[i].out, p[i].buf + p[i].len,
			                 sizeof(p[i].buf) - 1 - p[i].len);
			if (n > 0) {
				p[i].len += (size_t)n;
				continue;
			}
			uint64_t end =
			        now(); /* EOF: the process is done (its teardown is deferred) */
			close(p[i].out);
			int st;
			waitpid(p[i].pid, &st, 0);
			p[i].buf[p[i].len] = 0;
			json_t *j = json_loads(p[i].buf, 0, NULL);
			json_t *tm = j ? json_object_get(j, "stages") : NULL; /* µs */
			json_t *fr = tm ? json_object_get(tm, "first_run") : NULL;
			json_t *rd = tm ? json_object_get(tm, "ready") : NULL;
			json_t *ex = tm ? json_object_get(tm, "exit") : NULL;
			double total_ms = (double)(end - p[i].due) / 1e6;
			if (fr && rd && ex && WIFEXITED(st) && WEXITSTATUS(st) == 0)
				add(&s,
				    total_ms -
				            (json_number_value(ex) - json_number_value(fr)) / 1000,
				    total_ms -
				            (json_number_value(ex) - json_number_value(rd)) / 1000,
				    total_ms);
			else
				failed++;
			json_decref(j);
			p[i].pid = 0;
			p[i].len = 0;
			inflight--;
		}
	}
	double wall = (double)(now() - t0) / 1e9;
	usleep(300000);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	getrusage(RUSAGE_CHILDREN, &r1);
	double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
	                      r0.ru_stime.tv_sec) *
	                     1000.0 +
	             (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec -
	                      r0.ru_stime.tv_usec) /
	                     1000.0;
	report("cold-process", rate, wall, &s, failed, cpu, (unsigned)s.n);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "api") == 0)
		return run_api(argc, argv);
	if (argc > 1 && strcmp(argv[1], "cold") == 0)
		return run_cold(argc, argv);
	if (argc > 1 && strcmp(argv[1], "header") == 0) {
		printf("%-12s %7s %9s %6s  %-23s  %-23s  %-15s  %6s\n", "", "offered", "achieved",
		       "failed", "req->first_run ms", "req->ready ms", "client rtt ms", "CPU");
		printf("%-12s %7s %9s %6s  %7s %7s %7s  %7s %7s %7s  %7s %7s  %6s\n", "what",
		       "req/s", "launch/s", "", "p50", "p99", "p99.9", "p50", "p99", "p99.9", "p50",
		       "p99", "ms/VM");
		return 0;
	}
	fprintf(stderr, "usage: serve_load api|cold|header ...\n");
	return 2;
}
