/* vmm/http.c — the daemon's HTTP/1.1 side (include/serve.h), on libmicrohttpd.
 *
 * libmicrohttpd runs on the daemon's own (only) thread: its epoll fd is one of the fds of
 * serve's main loop, which calls http_run() when it is ready. The daemon has no other
 * thread, because it forks an instance process for every VM: a fork in a process with other
 * threads running inherits whatever locks they held at that instant (an allocator's, a
 * library's), and the child deadlocks on the first it takes. A request that waits for its
 * VM (POST /vms with "wait") is suspended (MHD_suspend_connection) and resumed by
 * vmm/serve.c when the VM gets there. This file only moves bytes: it collects the
 * body (bounded), hands method/path/body to api_parse(), the action to serve_do(), and sends
 * the reply. Limits: the body cap answers 413 (at once when Content-Length says so), the
 * connection cap 503, and libmicrohttpd closes a connection idle or slow for longer than
 * the timeout (a slow client cannot hold a connection forever). */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "log.h"
#include "serve.h"

struct http {
	struct MHD_Daemon *d;
	const struct serve_opts *o;
	atomic_uint conns;
	atomic_ullong rejected;
};

/* One request on a connection. */
struct req {
	struct http *h;
	struct MHD_Connection *conn;
	uint64_t t0;
	char *body;
	size_t len, cap;
	bool too_big;
	bool waiting;      /* suspended in serve's waiter list */
	struct action act; /* kept while waiting */
	struct waiter w;
};

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r)
{
	const char *body = r->body ? r->body : "";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	        strlen(body), (void *)body,
	        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		r->body = NULL;
		return MHD_NO;
	}
	r->body = NULL; /* owned by the response now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        r->type ? r->type : "application/json");
	if (r->status == 503 || r->status == 413)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg)
{
	struct reply r;
	serve_error(&r, status, "%s", msg);
	return send_reply(c, &r);
}

static void wake(void *cookie)
{
	struct req *q = cookie;
	MHD_resume_connection(q->conn);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* libmicrohttpd's unescaping of the path and its arguments ("%HH"), except that "%00" stays as
 * it is: decoded, its NUL would end the C string early, so that /templates/a%00b would name
 * template "a" and /vms/1%00x VM 1. Kept, it makes the name or id invalid (404). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	char *w = s;
	for (const char *p = s; *p; p++) {
		int hi, lo;
		if (p[0] == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0 &&
		    (hi | lo)) {
			*w++ = (char)(hi << 4 | lo);
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = 0;
	return (size_t)(w - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct req *q = *con_cls;
	(void)version;
	if (!q) { /* first call: headers only */
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->h = h;
		q->conn = c;
		q->t0 = now_ns();
		*con_cls = q;
		if (atomic_load(&h->conns) > h->o->max_conns) {
			atomic_fetch_add(&h->rejected, 1);
			return send_error(c, 503, "too many connections (--max-connections)");
		}
		if (serve_stopping())
			return send_error(c, 503, "the daemon is shutting down");
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > h->o->max_body) {
			char m[96];
			snprintf(m, sizeof(m),
			         "request body of %s bytes, more than %zu (--max-body)", cl,
			         h->o->max_body);
			return send_error(c, 413, m);
		}
		return MHD_YES;
	}
	if (*upload_size) { /* a piece of the body */
		size_t n = *upload_size;
		*upload_size = 0;
		if (q->too_big || q->len + n > h->o->max_body) {
			q->too_big = true; /* chunked: discard the rest, answer at the end */
			return MHD_YES;
		}
		if (q->len + n + 1 > q->cap) {
			size_t cap = q->cap ? q->cap : 1024;
			while (cap < q->len + n + 1)
				cap *= 2;
			char *b = realloc(q->body, cap);
			if (!b)
				return MHD_NO;
			q->body = b;
			q->cap = cap;
		}
		memcpy(q->body + q->len, upload, n);
		q->len += n;
		q->body[q->len] = 0;
		return MHD_YES;
	}
	if (q->waiting) { /* resumed by serve: the VM got there (or never will) */
		q->waiting = false;
		struct reply r;
		serve_waited(&q->w, &r);
		api_action_free(&q->act);
		return send_reply(c, &r);
	}
	if (q->too_big) {
		char m[80];
		snprintf(m, sizeof(m), "request body larger than %zu bytes (--max-body)",
		         h->o->max_body);
		return send_error(c, 413, m);
	}
	char err[400];
	int st = api_parse(&q->act, method, url, q->body, q->len, err, sizeof(err));
	if (st) {
		api_action_free(&q->act);
		return send_error(c, st, err);
	}
	bool may_wait = (q->act.kind == ACT_VM_CREATE && q->act.vm.wait != WAIT_NONE) ||
	                q->act.kind == ACT_VM_SNAPSHOT;
	q->w = (struct waiter){.wake = wake, .cookie = q};
	struct reply r;
	int rc = serve_do(&q->act, q->t0, may_wait ? &q->w : NULL, &r);
	if (rc == 1) {
		/* Suspended only now, with nothing to answer yet: the daemon has one thread, so
		 * the waiter serve registered cannot be woken before this returns (the loop wakes
		 * it, then calls http_run). A connection suspended and resumed within one call
		 * would not be run again until the next event on the epoll fd (none may come). */
		MHD_suspend_connection(c);
		q->waiting = true; /* act stays alive until woken */
		return MHD_YES;
	}
	api_action_free(&q->act);
	return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *q = *con_cls;
	if (!q)
		return;
	if (q->waiting) { /* the client went away while its VM runs on: the VM keeps its record */
		serve_cancel(&q->w);
		api_action_free(&q->act);
	}
	free(q->body);
	free(q);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	(void)c;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&h->conns, 1);
	else
		atomic_fetch_sub(&h->conns, 1);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char m[512];
	vsnprintf(m, sizeof(m), fmt, ap);
	size_t n = strlen(m);
	while (n && m[n - 1] == '\n')
		m[--n] = 0;
	log_info("http: %s", m);
}

struct http *http_start(int fd, const struct serve_opts *o, char *why, size_t why_len)
{
	struct http *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	h->o = o;
	/* libmicrohttpd's own connection cap sits above ours, so that the first max_conns
	 * beyond our cap still get a 503 rather than a bare close. */
	unsigned hard = o->max_conns + o->max_conns / 4 + 16;
	h->d = MHD_start_daemon(
	        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	        on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h, MHD_OPTION_LISTEN_SOCKET, fd,
	        MHD_OPTION_CONNECTION_LIMIT, hard, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)o->conn_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	        (size_t)(64 * 1024), MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
	if (!h->d) {
		snprintf(why, why_len, "libmicrohttpd could not start on the socket");
		free(h);
		return NULL;
	}
	return h;
}

int http_fd(const struct http *h)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

int http_timeout_ms(const struct http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (MHD_get_timeout(h->d, &ms) != MHD_YES)
		return -1; /* nothing timed */
	return ms > 60000 ? 60000 : (int)ms;
}

void http_run(struct http *h)
{
	MHD_run(h->d);
}

void http_quiesce(struct http *h)
{
	MHD_quiesce_daemon(h->d);
}

void http_stop(struct http *h)
{
	MHD_stop_daemon(h->d);
	free(h);
}

unsigned http_connections(const struct http *h)
{
	return atomic_load(&h->conns);
}

uint64_t http_rejected(const struct http *h)
{
	return atomic_load(&h->rejected);
}
