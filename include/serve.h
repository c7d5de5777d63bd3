/* include/serve.h — `fastvmm serve`: the on-demand launch daemon (vmm/serve.c, vmm/http.c).
 *
 * Protocol and action are kept apart (design §8): vmm/http.c speaks HTTP/1.1 on a Unix
 * socket (libmicrohttpd) and turns each request into a struct action with api_parse()
 * (vmm/api.c); vmm/serve.c carries actions out against templates, warm pools and instances
 * and never sees HTTP. Each VM runs in its own process (vmm/instance.c), forked by the
 * daemon: cold (built on the request path) or taken from a template's warm pool (built ahead
 * of time and stopped before its first KVM_RUN). */
#ifndef FASTVMM_SERVE_H
#define FASTVMM_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct serve_opts {
	const char *socket_path;
	const char *group;   /* NULL: socket mode 0600, else 0660 and this group */
	unsigned max_vms;    /* VMs running at once (pooled ones not counted) */
	unsigned max_pooled; /* warm VMs across all templates */
	unsigned max_templates;
	unsigned max_records;      /* finished VMs remembered; the oldest are forgotten first */
	size_t max_body;           /* bytes of a request body */
	unsigned max_conns;        /* connections at once; beyond: 503 */
	unsigned conn_timeout_s;   /* an idle or slow connection is closed after this */
	unsigned grace_ms;         /* SIGTERM → SIGKILL for instances at shutdown */
	size_t console_max;        /* bytes of console kept per VM */
	const char *snapshot_root; /* PUT /vms/{id}/snapshot makes ROOT/NAME; NULL: off */
	int verbosity;
	bool no_sandbox; /* --no-sandbox */
};

/* `fastvmm serve ARGS`: argv[0] is "serve". Returns the process exit status. */
int serve_main(int argc, char **argv);
/* Parse serve's options (pure). 0: run; 1: --help shown is wanted; -EINVAL with err set. */
int serve_parse(struct serve_opts *o, int argc, char **argv, char *err, size_t err_len);
void serve_usage(FILE *out);

/* ---- the action side, called by vmm/http.c (on the daemon's one thread; one lock inside
 * all the same, so that the order of state changes never depends on who calls) ---- */

/* A finished action: HTTP status, body and its content type. body is malloc()ed. */
struct reply {
	int status;
	char *body;
	const char *type; /* "application/json" or the Prometheus text type */
};

/* Someone waiting for a VM to reach a state (POST /vms with "wait"). serve_do() fills it in
 * and returns 1; serve's loop calls wake(cookie) once the state is reached (or can never
 * be), after which the caller gets its reply with serve_waited(). */
struct waiter {
	void (*wake)(void *cookie);
	void *cookie;
	uint64_t vm_id;
	enum wait_for wait;
	bool woken;
	struct waiter *next;
};

/* Carry out a (validated) action whose request arrived at t_req (CLOCK_MONOTONIC ns).
 * Returns 0 with *r filled, or 1: a POST /vms that waits; w is registered, *r is filled by
 * serve_waited() after w->wake. May take over a's allocations (api_action_free stays safe). */
int serve_do(struct action *a, uint64_t t_req, struct waiter *w, struct reply *r);
void serve_waited(struct waiter *w, struct reply *r);
/* The waiter's connection went away before it was woken: forget it. */
void serve_cancel(struct waiter *w);
/* An error reply {"error": msg}, logged as one line. */
void serve_error(struct reply *r, int status, const char *fmt, ...) PRINTF(3, 4);
bool serve_stopping(void);

/* ---- vmm/http.c ---- */
struct http;
/* Serve HTTP on the listening socket fd (already bound and listening). NULL on failure. */
struct http *http_start(int fd, const struct serve_opts *o, char *why, size_t why_len);
/* The fd the daemon's loop polls for HTTP work (readable: call http_run), and how long it may
 * wait at most before calling http_run anyway (connection timeouts; -1: no limit). */
int http_fd(const struct http *h);
int http_timeout_ms(const struct http *h);
/* Do every piece of HTTP work that is ready, without blocking: accept, read, call
 * api_parse()/serve_do(), resume woken requests, send. On the daemon's only thread, with
 * serve's lock not held. */
void http_run(struct http *h);
/* Stop accepting (the socket stays open until http_stop). */
void http_quiesce(struct http *h);
/* Wake every waiting request (shutdown), close every connection and stop. */
void http_stop(struct http *h);
unsigned http_connections(const struct http *h);
uint64_t http_rejected(const struct http *h); /* connections refused with 503 (cap) */

#endif
