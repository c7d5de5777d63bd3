/* vmm/serve.c — `fastvmm serve`: the daemon's action side (include/serve.h).
 *
 * State (templates, VMs, pools, metrics) lives here. The daemon has one thread (vmm/http.c
 * says why): its loop reads the instances' notes, reaps them, refills the warm pools,
 * handles SIGTERM and runs the HTTP side, which calls serve_do().
 *
 * Every VM is its own process (vmm/instance.c), so a guest crash or a device fault ends only
 * that VM. A VM fd works only in the process that created it (design §4): a warm VM is
 * therefore a process that built its VM up to the moment before the first KVM_RUN and
 * blocks in read() on its control pipe — no CPU, nothing polls — until a request sends it
 * the patch (t0, id, command line tail, MAC). Instances share a MAP_SHARED slot table with
 * the daemon: each writes its record (timings, outcome) and console there, and 4-byte notes
 * on one pipe say when something changed. Teardown (15-23 ms of SRCU waiting with an
 * in-kernel irqchip) happens in each instance's exit, after its record: off the request
 * path, and reaping runs in the daemon's loop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "fdpass.h"
#include "instance.h"
#include "log.h"
#include "pool.h"
#include "sandbox.h"
#include "serve.h"
#include "snapshot.h"
#include "stats.h"
#include "virtio.h"

/* ---- shared slots: one per instance process ---- */

struct slot {
	struct batch_record rec;
	_Atomic uint32_t console_len; /* bytes in console[] (release-stored after the copy) */
	char console[];               /* serve_opts.console_max bytes */
};

enum slot_use { SLOT_FREE, SLOT_POOL, SLOT_VM };

struct template;
struct vmrec;

struct slot_owner {
	enum slot_use use;
	pid_t pid;
	struct template *t; /* SLOT_POOL */
	struct vmrec *vm;   /* SLOT_VM */
};

struct template
{
	char name[TEMPLATE_NAME_MAX + 1];
	struct template_spec spec;
	struct vm_config cfg;
	struct kernel_image kernel; /* a snapshot template's: names it for reports only */
	struct blob initrd;
	bool have_initrd;
	struct snapshot snap; /* spec.snapshot: parsed and checked once, at PUT */
	bool have_snap;
	regex_t ready_re;
	bool have_re;
	struct pool pool;
	uint64_t launches, pooled, cold;
	struct template *next;
};

enum vm_state { VS_STARTING, VS_RUNNING, VS_READY, VS_EXITED };
static const char *const vm_state_names[] = {"starting", "running", "ready", "exited"};

struct vmrec {
	uint64_t id;
	char tmpl[TEMPLATE_NAME_MAX + 1];
	int slot; /* -1 once reaped */
	pid_t pid;
	bool pooled;
	bool deleted; /* DELETE asked: forgotten once reaped */
	enum vm_state state;
	bool reaped;
	uint64_t t_req;          /* CLOCK_MONOTONIC of the request */
	struct batch_record rec; /* copied from the slot when written / reaped */
	bool have_rec;
	char *console; /* copied at the end */
	size_t console_len;
	struct waiter *waiters;
	struct vmrec *prev, *next; /* creation order */
	uint64_t mem_size;         /* guest RAM: a snapshot's memory file is made this long */
	int ctl_fd; /* the instance's control socket (snapshot orders); -1 once exited */
	/* PUT /vms/{id}/snapshot: one at a time, into .NAME.ID.tmp under --snapshot-root,
	 * renamed to NAME once the instance says it saved (NOTE_SNAPSHOT). */
	struct {
		bool pending;
		char name[TEMPLATE_NAME_MAX + 1];
		char tmp[TEMPLATE_NAME_MAX + 32];
		int status; /* the last order's answer: 201, or an error status with msg */
		char msg[320];
		uint64_t t_req;
	} snap;
};

/* Histograms of ms latencies (Prometheus buckets, cumulative when printed). */
static const double hist_le[] = {0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000};
#define NHIST (sizeof(hist_le) / sizeof(hist_le[0]))
struct hist {
	uint64_t b[NHIST + 1];
	uint64_t count;
	double sum;
};

static void hist_add(struct hist *h, double ms)
{
	unsigned i = 0;
	while (i < NHIST && ms > hist_le[i])
		i++;
	h->b[i]++;
	h->count++;
	h->sum += ms;
}

static struct {
	struct serve_opts o;
	pthread_mutex_t lock;
	struct http *http;
	int listen_fd;
	pid_t pid;
	struct kvm_shared kvm;
	sigset_t child_mask;
	int note[2];          /* instances → the loop */
	int snap_root_fd;     /* --snapshot-root, or -1: PUT /vms/{id}/snapshot is off */
	char snap_root[2048]; /* realpath of --snapshot-root */
	uint64_t snapshots_ok, snapshots_failed;
	int wake[2]; /* a request → the loop: refill a pool */
	/* Slots */
	struct slot *slots;
	size_t slot_size, nslots, slots_len;
	struct slot_owner *own;
	/* Templates and VMs */
	struct template *templates;
	unsigned ntemplates, pooled_total;
	struct vmrec *vm_head, *vm_tail;
	unsigned nvms, live_vms;
	uint64_t next_id;
	atomic_bool stopping;
	bool renice; /* warm instances build at nice 19 and run at 0 (needs CAP_SYS_NICE) */
	/* Metrics */
	uint64_t launches_pool, launches_cold;
	uint64_t fail_build, fail_capacity, fail_no_template, fail_fork, fail_lost;
	uint64_t outcome[8], evicted;
	struct hist h_first_run, h_ready, h_first_run_pool, h_ready_pool;
	uint64_t requests;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .listen_fd = -1,
       .note = {-1, -1},
       .wake = {-1, -1},
       .snap_root_fd = -1};

static struct slot *slot_at(size_t i)
{
	return (struct slot *)((char *)S.slots + i * S.slot_size);
}

bool serve_stopping(void)
{
	return atomic_load(&S.stopping);
}

/* ---- replies ---- */

static void reply_json(struct reply *r, int status, json_t *j)
{
	r->status = status;
	r->type = "application/json";
	r->body = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	json_decref(j);
	if (r->body) {
		size_t n = strlen(r->body);
		char *b = realloc(r->body, n + 2); /* a trailing newline for humans with curl */
		if (b) {
			b[n] = '\n';
			b[n + 1] = 0;
			r->body = b;
		}
	}
}

void serve_error(struct reply *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("api: %d: %s", status, msg);
	reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static void reply_empty(struct reply *r, int status)
{
	r->status = status;
	r->type = "application/json";
	r->body = NULL;
}

/* ---- JSON views ---- */

static json_t *template_json(const struct template *t)
{
	json_t *o = json_object();
	const struct template_spec *s = &t->spec;
	json_object_set_new(o, "name", json_string(t->name));
	if (t->have_snap) { /* what the snapshot says the machine is */
		json_object_set_new(o, "snapshot", json_string(s->snapshot));
		json_object_set_new(o, "kernel", json_string(t->snap.kernel));
		json_object_set_new(o, "irqchip", json_string(irqchip_name(t->cfg.irqchip)));
	} else {
		json_object_set_new(o, "kernel", json_string(s->kernel));
	}
	json_object_set_new(o, "format", json_string(kernel_format_name(t->kernel.fmt)));
	if (s->initrd)
		json_object_set_new(o, "initrd", json_string(s->initrd));
	json_object_set_new(o, "cmdline", json_string(t->cfg.cmdline));
	json_object_set_new(o, "mem", json_integer((json_int_t)t->cfg.mem_size));
	json_object_set_new(o, "cpus", json_integer(t->cfg.cpus));
	if (s->ready)
		json_object_set_new(o, "ready", json_string(s->ready));
	json_object_set_new(o, "timeout_ms", json_integer((json_int_t)s->timeout_ms));
	json_t *d = json_array();
	for (unsigned i = 0; i < t->cfg.ndisks; i++)
		json_array_append_new(d,
		                      json_pack("{s:s,s:b,s:b}", "path", t->cfg.disk[i].path, "ro",
		                                t->cfg.disk[i].ro, "cow", t->cfg.disk[i].cow));
	json_object_set_new(o, "disks", d);
	json_t *n = json_array();
	for (unsigned i = 0; i < t->cfg.nnets; i++)
		json_array_append_new(n, t->cfg.net[i].tap
		                                 ? json_pack("{s:s}", "tap", t->cfg.net[i].tap)
		                                 : json_object());
	json_object_set_new(o, "nets", n);
	json_object_set_new(o, "pool",
	                    json_pack("{s:i,s:i,s:i,s:I,s:I,s:I}", "size", (int)t->pool.target,
	                              "ready", (int)pool_count(&t->pool, POOL_READY), "preparing",
	                              (int)pool_count(&t->pool, POOL_PREPARING), "hits",
	                              (json_int_t)t->pool.hits, "misses",
	                              (json_int_t)t->pool.misses, "failures",
	                              (json_int_t)t->pool.failures));
	json_object_set_new(o, "launches", json_integer((json_int_t)t->launches));
	return o;
}

/* The record as it stands: the final copy, or the slot's live one. */
static const struct batch_record *vm_record(const struct vmrec *v)
{
	if (v->have_rec)
		return &v->rec;
	if (v->slot >= 0)
		return &slot_at((size_t)v->slot)->rec;
	return NULL;
}

static const char *outcome_name(int o)
{
	return o >= 100 ? batch_outcome_name(o) : vm_outcome_name((enum vm_outcome)o);
}

static json_t *vm_json(const struct vmrec *v)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer((json_int_t)v->id));
	json_object_set_new(o, "template", json_string(v->tmpl));
	json_object_set_new(o, "state", json_string(vm_state_names[v->state]));
	json_object_set_new(o, "pooled", json_boolean(v->pooled));
	if (!v->reaped)
		json_object_set_new(o, "pid", json_integer(v->pid));
	const struct batch_record *r = vm_record(v);
	json_t *t = json_object();
	if (r) {
		for (int st = 0; st < ST_COUNT; st++) {
			uint64_t ns = r->t_ns[st];
			if (ns)
				json_object_set_new(
				        t, vm_stage_names[st],
				        json_real((double)(ns / 1000) / 1000.0)); /* µs */
		}
	}
	json_object_set_new(o, "timings_ms", t);
	if (v->snap.name[0]) { /* the last PUT /vms/{id}/snapshot that reached the VM */
		const char *st = v->snap.pending         ? "saving"
		                 : v->snap.status == 201 ? "saved"
		                                         : "failed";
		json_t *s = json_pack("{s:s, s:s}", "name", v->snap.name, "state", st);
		if (!v->snap.pending)
			json_object_set_new(s, "message", json_string(v->snap.msg));
		json_object_set_new(o, "snapshot", s);
	}
	if (v->state == VS_EXITED && r) {
		json_object_set_new(o, "outcome", json_string(outcome_name(r->outcome)));
		json_object_set_new(o, "exit_status", json_integer(r->exit_status));
		json_object_set_new(o, "ok", json_boolean(r->ok));
		json_object_set_new(o, "reason", json_string(r->reason));
		if (r->failed_stage >= 0 && r->failed_stage < ST_COUNT)
			json_object_set_new(o, "failed_stage",
			                    json_string(vm_stage_names[r->failed_stage]));
		json_object_set_new(o, "console_bytes", json_integer((json_int_t)r->console_bytes));
		json_t *m = json_pack("{s:I,s:I}", "rss", (json_int_t)r->rss_kb, "guest",
		                      (json_int_t)r->guest_kb);
		if (r->maxrss_kb) /* known once reaped */
			json_object_set_new(m, "peak_rss", json_integer((json_int_t)r->maxrss_kb));
		json_object_set_new(o, "memory_kb", m);
	}
	return o;
}

/* ---- lookups ---- */

static struct template *template_find(const char *name)
{
	for (struct template *t = S.templates; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static struct vmrec *vm_find(uint64_t id)
{
	for (struct vmrec *v = S.vm_tail; v; v = v->prev) /* recent ones are asked for most */
		if (v->id == id)
			return v->deleted ? NULL : v;
	return NULL;
}

static int slot_alloc(void)
{
	for (size_t i = 0; i < S.nslots; i++)
		if (S.own[i].use == SLOT_FREE) {
			struct slot *s = slot_at(i);
			memset(&s->rec, 0, sizeof(s->rec));
			s->rec.failed_stage = -1;
			s->rec.outcome = BATCH_LOST;
			atomic_store(&s->console_len, 0);
			return (int)i;
		}
	return -1;
}

/* ---- the instance process ---- */

static struct instance *child_in;

static void child_term(int sig)
{
	instance_interrupted(child_in, sig, "stopped by the daemon (DELETE or shutdown)");
}

static void child_line(struct instance *in, const char *line, unsigned len)
{
	struct slot *s = in->ctx;
	uint32_t have = atomic_load_explicit(&s->console_len, memory_order_relaxed);
	size_t room = S.o.console_max - have;
	if (len > room)
		len = (unsigned)room;
	if (!len)
		return;
	memcpy(s->console + have, line, len);
	atomic_store_explicit(&s->console_len, have + len, memory_order_release);
}

/* Linux's nice is per thread: every thread of this process (the I/O thread of a VM with
 * virtio devices was created during the build). */
static void renice_all(int prio)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			setpriority(PRIO_PROCESS, (id_t)atoi(e->d_name), prio);
	if (d)
		closedir(d);
	else
		setpriority(PRIO_PROCESS, 0, prio);
}

/* In the forked child: build (cold or warm), wait for the go if warm, run, record, exit. */
static _Noreturn void child_main(struct template *t, int slot, int ctl_fd, uint64_t id, uint64_t t0,
                                 const struct vm_request *req)
{
	static struct instance in;
	memset(&in, 0, sizeof(in));
	child_in = &in;
	sandbox_forked();
	if (instance_process_setup(S.pid, child_term, &S.child_mask) < 0)
		_exit(1);
	int keep[] = {S.kvm.kvm_fd, S.note[1], ctl_fd, t->kernel.has_fd ? t->kernel.fd : -1,
	              t->have_snap ? t->snap.mem_fd : -1};
	instance_close_fds(keep, ARRAY_SIZE(keep));
	struct slot *s = slot_at((size_t)slot);
	in.rec = &s->rec;
	in.note_fd = S.note[1];
	in.index = (unsigned)slot;
	in.note_marks = true;
	in.capture_console = true;
	in.on_line = child_line;
	in.ctx = s;
	in.ready_re = t->have_re ? &t->ready_re : NULL;
	in.ready_text = t->spec.ready;
	struct vm_config cfg = t->cfg;
	char *cmdline = NULL;
	if (req) { /* cold: the request's tail and limits go into the configuration itself */
		if (req->cmdline_append[0]) {
			size_t n = strlen(cfg.cmdline) + strlen(req->cmdline_append) + 2;
			cmdline = malloc(n);
			if (cmdline) {
				snprintf(cmdline, n, "%s %s", cfg.cmdline, req->cmdline_append);
				cfg.cmdline = cmdline;
			}
		}
		if (req->timeout_set)
			cfg.timeout_ms = req->timeout_ms;
		if (req->mac_set) {
			memcpy(cfg.mac, req->mac, 6);
			cfg.mac_set = true;
		}
	}
	char prefix[40];
	snprintf(prefix, sizeof(prefix), "vm %llu: ", (unsigned long long)id);
	log_set_prefix(prefix);
	if (instance_init(&in, &cfg, &t->kernel, t->have_initrd ? &t->initrd : NULL, &S.kvm,
	                  (unsigned)id, t0) < 0 ||
	    (req && req->cmdline_append[0] && !cmdline)) {
		in.vm.outcome = VM_FAILED;
		snprintf(in.vm.reason, sizeof(in.vm.reason), "out of memory");
		instance_finish(&in);
	}
	/* A refill builds at the lowest priority: the CPU goes to the requests' VMs first. */
	if (!req && S.renice)
		setpriority(PRIO_PROCESS, 0, 19);
	if (instance_build(&in) == 0) {
		if (!req) {
			int r = instance_wait_go(&in, ctl_fd);
			if (S.renice)
				renice_all(0);
			if (r == -EPIPE)
				_exit(0); /* the pool was emptied: never used, nothing to record */
			if (r < 0) {
				in.vm.outcome = VM_FAILED;
				instance_finish(&in);
			}
			snprintf(prefix, sizeof(prefix), "vm %u: ", in.vm.id);
			log_set_prefix(prefix);
		}
		instance_control(&in, ctl_fd);
		instance_run(&in);
	}
	instance_finish(&in);
}

/* Fork an instance in slot; *ctl_fd_out gets the daemon's end of its control socket (a warm
 * one's patch, then snapshot orders for as long as it runs). Called with the lock held.
 * Returns the pid or -errno. */
static pid_t spawn(struct template *t, int slot, uint64_t id, uint64_t t0,
                   const struct vm_request *req, int *ctl_fd_out)
{
	int ctl[2] = {-1, -1};
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		return -errno;
	pid_t p = fork();
	if (p == 0)
		child_main(t, slot, ctl[0], id, t0, req);
	int e = errno;
	if (ctl[0] >= 0)
		close(ctl[0]);
	if (p < 0) {
		close(ctl[1]);
		return -e;
	}
	*ctl_fd_out = ctl[1];
	return p;
}

/* ---- waiters ---- */

static bool reached(const struct vmrec *v, enum wait_for w)
{
	switch (w) {
	case WAIT_SNAPSHOT:
		return !v->snap.pending;
	case WAIT_NONE:
		return true;
	case WAIT_RUNNING:
		return v->state >= VS_RUNNING;
	case WAIT_READY:
		return v->state >= VS_READY;
	case WAIT_EXIT:
		return v->state == VS_EXITED;
	}
	return true;
}

/* Move the waiters that can be answered onto *wake (called outside the lock). */
static void collect_waiters(struct vmrec *v, struct waiter **wake)
{
	struct waiter **pp = &v->waiters;
	while (*pp) {
		struct waiter *w = *pp;
		if (reached(v, w->wait) || S.stopping) {
			*pp = w->next;
			w->woken = true;
			w->next = *wake;
			*wake = w;
		} else {
			pp = &w->next;
		}
	}
}

static void wake_all(struct waiter *w)
{
	while (w) {
		struct waiter *n = w->next;
		w->wake(w->cookie);
		w = n;
	}
}

void serve_cancel(struct waiter *w)
{
	pthread_mutex_lock(&S.lock);
	if (!w->woken) {
		struct vmrec *v = vm_find(w->vm_id);
		for (struct waiter **pp = v ? &v->waiters : NULL; pp && *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
	}
	pthread_mutex_unlock(&S.lock);
}

/* ---- VM records ---- */

static void vm_unlink(struct vmrec *v)
{
	if (v->prev)
		v->prev->next = v->next;
	else
		S.vm_head = v->next;
	if (v->next)
		v->next->prev = v->prev;
	else
		S.vm_tail = v->prev;
	S.nvms--;
	free(v->console);
	free(v);
}

/* Keep at most max_records finished VMs: the oldest go first. */
static void vm_evict(void)
{
	struct vmrec *v = S.vm_head;
	while (S.nvms > S.o.max_records && v) {
		struct vmrec *n = v->next;
		if (v->reaped && !v->waiters) {
			vm_unlink(v);
			S.evicted++;
		}
		v = n;
	}
}

static struct vmrec *vm_new(const struct template *t, uint64_t t_req, bool pooled)
{
	struct vmrec *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->id = ++S.next_id;
	snprintf(v->tmpl, sizeof(v->tmpl), "%s", t->name);
	v->t_req = t_req;
	v->pooled = pooled;
	v->slot = -1;
	v->ctl_fd = -1;
	v->mem_size = t->cfg.mem_size;
	v->prev = S.vm_tail;
	if (S.vm_tail)
		S.vm_tail->next = v;
	else
		S.vm_head = v;
	S.vm_tail = v;
	S.nvms++;
	return v;
}

/* ---- snapshots of running VMs (PUT /vms/{id}/snapshot) ---- */

/* Remove a snapshot's working directory under the root (what a save may have left in it). */
static void snap_tmp_remove(const char *tmp)
{
	int dfd = openat(S.snap_root_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0) {
		unlinkat(dfd, "memory", 0);
		unlinkat(dfd, "state", 0);
		close(dfd);
	}
	unlinkat(S.snap_root_fd, tmp, AT_REMOVEDIR);
}

/* The order ended: status 201 (msg: the instance's line) or an error status with its reason.
 * A saved snapshot's directory is renamed into place; a failed one's is removed. */
static void snap_end(struct vmrec *v, int status, const char *fmt, ...) PRINTF(3, 4);
static void snap_end(struct vmrec *v, int status, const char *fmt, ...)
{
	if (!v->snap.pending)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->snap.msg, sizeof(v->snap.msg), fmt, ap);
	va_end(ap);
	/* NOREPLACE: a NAME made meanwhile (even an empty directory) is never replaced; a
	 * filesystem without it (EINVAL) still refuses a non-empty one. */
	int rn = status != 201 ? 0
	                       : renameat2(S.snap_root_fd, v->snap.tmp, S.snap_root_fd,
	                                   v->snap.name, RENAME_NOREPLACE);
	if (rn < 0 && errno == EINVAL)
		rn = renameat(S.snap_root_fd, v->snap.tmp, S.snap_root_fd, v->snap.name);
	if (rn < 0) {
		status = errno == EEXIST || errno == ENOTEMPTY ? 409 : 500;
		snprintf(v->snap.msg, sizeof(v->snap.msg), "%.160s/%s: %s", S.snap_root,
		         v->snap.name,
		         status == 409 ? "made by someone else while the VM saved"
		                       : strerror(errno));
	}
	if (status == 201) { /* the instance has logged its line */
		fsync(S.snap_root_fd);
		S.snapshots_ok++;
	} else {
		snap_tmp_remove(v->snap.tmp);
		S.snapshots_failed++;
	}
	v->snap.status = status;
	v->snap.pending = false;
}

/* The instance has gone (its record is in, or it was reaped): no more orders. */
static void vm_ctl_end(struct vmrec *v)
{
	if (v->ctl_fd >= 0)
		close(v->ctl_fd);
	v->ctl_fd = -1;
	snap_end(v, 409, "vm %llu exited before its snapshot was saved", (unsigned long long)v->id);
}

/* NOTE_SNAPSHOT: the instance's answer is in its record. */
static void snap_noted(struct vmrec *v, const struct batch_record *rec)
{
	char msg[sizeof(rec->snap_msg)];
	memcpy(msg, rec->snap_msg, sizeof(msg));
	msg[sizeof(msg) - 1] = 0;
	int rc = rec->snap_rc;
	if (rc == 0)
		snap_end(v, 201, "%s", msg);
	else /* a state the VM is in (a cow disk, one save at a time): 409; else the host's fault */
		snap_end(v, rc == -ENOTSUP || rc == -EBUSY ? 409 : 500, "vm %llu: %s",
		         (unsigned long long)v->id, msg);
}

static json_t *snap_json(const struct vmrec *v)
{
	char path[sizeof(S.snap_root) + TEMPLATE_NAME_MAX + 2];
	snprintf(path, sizeof(path), "%s/%s", S.snap_root, v->snap.name);
	return json_pack("{s:I, s:s, s:s, s:s, s:f}", "id", (json_int_t)v->id, "name", v->snap.name,
	                 "snapshot", path, "message", v->snap.msg, "ms",
	                 (double)(now_ns() - v->snap.t_req) / 1e6);
}

/* Make ROOT/.NAME.ID.tmp with an empty state file and a memory file as long as the RAM, and
 * send both to the instance. 0, or an HTTP status with the reason in r. */
static int snap_order(struct vmrec *v, const struct action *a, struct reply *r)
{
	snprintf(v->snap.name, sizeof(v->snap.name), "%s", a->name);
	snprintf(v->snap.tmp, sizeof(v->snap.tmp), ".%s.%llu.tmp", a->name,
	         (unsigned long long)v->id);
	snap_tmp_remove(v->snap.tmp); /* a crashed daemon's leftovers */
	const char *what = v->snap.tmp;
	int dfd = -1, fd[2] = {-1, -1}, status = 500;
	if (mkdirat(S.snap_root_fd, v->snap.tmp, 0700) < 0)
		goto fail;
	dfd = openat(S.snap_root_fd, v->snap.tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		goto fail;
	static const char *const names[2] = {"memory", "state"};
	for (int i = 0; i < 2; i++) {
		what = names[i];
		fd[i] = openat(dfd, names[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		               0600);
		if (fd[i] < 0)
			goto fail;
	}
	if (ftruncate(fd[0], (off_t)v->mem_size) < 0)
		goto fail;
	static struct snapshot_order_msg m;
	memset(&m, 0, sizeof(m));
	m.magic = SNAPSHOT_ORDER_MAGIC;
	m.stop = a->snap_stop;
	snprintf(m.dir, sizeof(m.dir), "%s/%s", S.snap_root, a->name);
	what = "the VM's control socket";
	if (fd_send(v->ctl_fd, &m, sizeof(m), fd, 2, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(m)) {
		status = errno == EPIPE || errno == ECONNRESET ? 409 : 500;
		goto fail;
	}
	close(fd[0]);
	close(fd[1]);
	close(dfd);
	v->snap.pending = true;
	return 0;
fail:;
	int e = errno;
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	if (dfd >= 0)
		close(dfd);
	snap_tmp_remove(v->snap.tmp);
	S.snapshots_failed++;
	snprintf(v->snap.msg, sizeof(v->snap.msg), "vm %llu: snapshot %s: %.120s/%.32s: %.60s",
	         (unsigned long long)v->id, a->name, S.snap_root, what,
	         status == 409 ? "the VM has exited" : strerror(e));
	v->snap.status = status;
	serve_error(r, status, "%s", v->snap.msg);
	return status;
}

static int do_vm_snapshot(const struct action *a, uint64_t t_req, struct waiter *w, struct reply *r)
{
	struct vmrec *v = vm_find(a->id);
	if (S.snap_root_fd < 0)
		serve_error(r, 403, "snapshots are off: start the daemon with --snapshot-root DIR");
	else if (!v || v->deleted)
		serve_error(r, 404, "vm %llu: no such VM", (unsigned long long)a->id);
	else if (v->state == VS_EXITED || v->ctl_fd < 0)
		serve_error(r, 409, "vm %llu: has exited", (unsigned long long)a->id);
	else if (v->state == VS_STARTING)
		serve_error(r, 409, "vm %llu: not running yet (wait for state running)",
		            (unsigned long long)a->id);
	else if (v->snap.pending)
		serve_error(r, 409, "vm %llu: a snapshot is already being taken",
		            (unsigned long long)a->id);
	else if (faccessat(S.snap_root_fd, a->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		serve_error(r, 409, "snapshot %s: %s/%s exists", a->name, S.snap_root, a->name);
	else if (snap_order(v, a, r) == 0) {
		v->snap.t_req = t_req;
		w->vm_id = v->id;
		w->wait = WAIT_SNAPSHOT;
		w->woken = false;
		w->next = v->waiters;
		v->waiters = w;
		return 1;
	}
	return 0;
}

/* The instance wrote its record: copy it and the console, account, answer waiters. */
static void vm_finished(struct vmrec *v)
{
	vm_ctl_end(v);
	if (v->have_rec || v->slot < 0)
		return;
	struct slot *s = slot_at((size_t)v->slot);
	v->rec = s->rec;
	v->have_rec = true;
	uint32_t n = atomic_load_explicit(&s->console_len, memory_order_acquire);
	v->console = malloc(n + 1);
	if (v->console) {
		memcpy(v->console, s->console, n);
		v->console[n] = 0;
		v->console_len = n;
	}
	if (v->state != VS_EXITED) {
		v->state = VS_EXITED;
		S.live_vms--;
	}
	const struct batch_record *r = &v->rec;
	S.outcome[r->outcome >= 100 ? 7 : r->outcome & 7]++;
	if (r->failed_stage >= 0)
		S.fail_build++;
	if (r->t_ns[ST_FIRST_RUN])
		hist_add(v->pooled ? &S.h_first_run_pool : &S.h_first_run,
		         (double)r->t_ns[ST_FIRST_RUN] / 1e6);
	if (r->t_ns[ST_READY])
		hist_add(v->pooled ? &S.h_ready_pool : &S.h_ready, (double)r->t_ns[ST_READY] / 1e6);
}

/* ---- actions ---- */

static void template_free(struct template *t)
{
	for (unsigned i = 0; i < t->pool.n; i++) { /* the waiting instances read EOF and go */
		struct pool_entry *e = &t->pool.e[i];
		close(e->ctl_fd);
		kill(e->pid, SIGKILL);
		S.own[e->slot].t = NULL; /* reaped later as an orphan slot */
	}
	S.pooled_total -= t->pool.target;
	pool_free(&t->pool);
	if (t->have_re)
		regfree(&t->ready_re);
	kernel_close(&t->kernel);
	if (t->have_initrd)
		blob_close(&t->initrd);
	if (t->have_snap)
		snapshot_close(&t->snap);
	struct action a = {.tmpl = t->spec};
	api_action_free(&a);
	free(t);
}

static void do_template_put(struct action *a, struct reply *r)
{
	const struct template_spec *s = &a->tmpl;
	struct template *old = template_find(a->name);
	unsigned pooled = S.pooled_total - (old ? old->pool.target : 0) + s->pool;
	if (!old && S.ntemplates >= S.o.max_templates)
		return serve_error(r, 409, "%u templates already (--max-templates)",
		                   S.o.max_templates);
	if (pooled > S.o.max_pooled)
		return serve_error(r, 409,
		                   "pool %u would make %u warm VMs in all, more than %u "
		                   "(--max-pooled)",
		                   s->pool, pooled, S.o.max_pooled);
	struct template *t = calloc(1, sizeof(*t));
	if (!t)
		return serve_error(r, 500, "out of memory");
	struct err e = {{0}};
	if (s->snapshot) {
		/* Read and checked once, as --restore does: a hostile snapshot is a 400 with the
		 * same line, and no VM is built. Every VM of the template maps DIR/memory
		 * MAP_PRIVATE (its pages are shared by all the clones); writable disks become
		 * each VM's own cow overlay. */
		if (snapshot_configure(&t->snap, s->snapshot, &t->cfg, 1, &t->kernel, &e) < 0) {
			free(t);
			return serve_error(r, 400, "snapshot: %s", e.msg);
		}
		/* A named tap ("fv%u" → the VM id) is opened at restore: a warm clone restores
		 * before its id is known, so every warm clone would ask for one name. */
		for (unsigned i = 0; s->pool && i < t->cfg.nnets; i++)
			if (t->cfg.net[i].tap) {
				char tap[32];
				snprintf(tap, sizeof(tap), "%s", t->cfg.net[i].tap);
				snapshot_close(&t->snap);
				free(t);
				return serve_error(
				        r, 400,
				        "snapshot: %s: NIC %u's tap '%s' is named per VM at "
				        "restore, before a warm clone has its id: "
				        "give this template no pool",
				        s->snapshot, i, tap);
			}
		t->have_snap = true;
	} else if (kernel_open(&t->kernel, s->kernel, &e) < 0) {
		/* Opened, parsed and checked once: every VM of the template maps the same
		 * pages. */
		free(t);
		return serve_error(r, 400, "%s", e.msg);
	}
	if (s->initrd) {
		if (blob_open(&t->initrd, s->initrd, KERNEL_MAX_FILE, &e) < 0) {
			kernel_close(&t->kernel);
			free(t);
			return serve_error(r, 400, "%s", e.msg);
		}
		t->have_initrd = true;
	}
	for (unsigned i = 0; i < s->ndisks; i++) {
		const struct disk_cfg *d = &s->disk[i];
		/* the CLI's --disk check: a directory or a FIFO would fail every launch */
		const char *why = virtio_blk_unusable(d);
		if (why) {
			kernel_close(&t->kernel);
			if (t->have_initrd)
				blob_close(&t->initrd);
			free(t);
			return serve_error(r, 400, "disks: %s: %s", d->path, why);
		}
	}
	if (s->ready && regcomp(&t->ready_re, s->ready, REG_EXTENDED | REG_NOSUB) == 0)
		t->have_re = true;
	/* Take the spec's strings over. */
	snprintf(t->name, sizeof(t->name), "%s", a->name);
	t->spec = *s;
	memset(&a->tmpl, 0, sizeof(a->tmpl)); /* ownership moved: api_action_free() skips it */
	struct vm_config *c = &t->cfg;
	c->timeout_ms = t->spec.timeout_ms;
	c->quiet = true;
	if (!t->have_snap) { /* a snapshot's configuration came from it */
		c->kernel_path = t->spec.kernel;
		c->initrd_path = t->spec.initrd;
		c->cmdline = t->spec.cmdline ? t->spec.cmdline : DEFAULT_CMDLINE;
		c->mem_size = t->spec.mem;
		c->cpus = t->spec.cpus;
		c->ndisks = t->spec.ndisks;
		memcpy(c->disk, t->spec.disk, sizeof(c->disk));
		c->nnets = t->spec.nnets;
		for (unsigned i = 0; i < c->nnets; i++)
			c->net[i].tap = t->spec.tap[i];
		c->discovery = DISCOVERY_AUTO;
	}
	if (pool_init(&t->pool, t->spec.pool) < 0) {
		template_free(t);
		return serve_error(r, 500, "out of memory");
	}
	int status = 201;
	if (old) { /* replace: the old one's warm VMs go, its running VMs carry on */
		struct template **pp = &S.templates;
		while (*pp != old)
			pp = &(*pp)->next;
		*pp = old->next;
		S.ntemplates--;
		template_free(old);
		status = 200;
	}
	t->next = S.templates;
	S.templates = t;
	S.ntemplates++;
	S.pooled_total += t->pool.target;
	log_info("template %s: %s (%s), pool %u", t->name, t->kernel.name,
	         kernel_format_name(t->kernel.fmt), t->pool.target);
	if (t->pool.target)
		(void)!write(S.wake[1], "r", 1);
	reply_json(r, status, template_json(t));
}

static void do_template_delete(const struct action *a, struct reply *r)
{
	struct template **pp = &S.templates;
	while (*pp && strcmp((*pp)->name, a->name) != 0)
		pp = &(*pp)->next;
	if (!*pp)
		return serve_error(r, 404, "template '%s': no such template", a->name);
	struct template *t = *pp;
	*pp = t->next;
	S.ntemplates--;
	template_free(t); /* VMs already launched from it run on: they have their own copy */
	reply_empty(r, 204);
}

static int do_vm_create(const struct action *a, uint64_t t_req, struct waiter *w, struct reply *r,
                        struct waiter **wake)
{
	const struct vm_request *q = &a->vm;
	if (S.stopping) {
		serve_error(r, 503, "the daemon is shutting down");
		return 0;
	}
	struct template *t = NULL, *once = NULL;
	if (q->snapshot[0]) {
		/* A one-off clone: the snapshot is read and checked here, on the request path (as
		 * --restore does; a hostile one is a 400 and no VM is built), then restored in a
		 * cold instance like a template's clone. The daemon's copy goes once forked. */
		if (S.live_vms >= S.o.max_vms) {
			S.fail_capacity++;
			serve_error(r, 503, "%u VMs running, the limit (--max-vms)", S.o.max_vms);
			return 0;
		}
		struct err e = {{0}};
		once = calloc(1, sizeof(*once));
		if (!once) {
			serve_error(r, 500, "out of memory");
			return 0;
		}
		if (snapshot_configure(&once->snap, q->snapshot, &once->cfg, 1, &once->kernel, &e) <
		    0) {
			free(once);
			serve_error(r, 400, "snapshot: %s", e.msg);
			return 0;
		}
		once->have_snap = true;
		once->cfg.quiet = true;
		t = once;
	} else if (!(t = template_find(q->template_name))) {
		S.fail_no_template++;
		serve_error(r, 404, "template '%s': no such template", q->template_name);
		return 0;
	}
	if (t->have_snap && (q->cmdline_append[0] || q->mac_set)) {
		/* The guest is past its boot: it read its command line and its MAC long ago. */
		serve_error(r, 400,
		            "%s: not for template '%s', a snapshot's clones (the guest has booted "
		            "already)",
		            q->cmdline_append[0] ? "cmdline_append" : "mac", t->name);
		if (once)
			template_free(once);
		return 0;
	}
	if (S.live_vms >= S.o.max_vms) { /* (a one-off clone was checked before reading) */
		S.fail_capacity++;
		serve_error(r, 503, "%u VMs running, the limit (--max-vms)", S.o.max_vms);
		return 0;
	}
	struct pool_entry pe;
	bool warm = pool_take(&t->pool, &pe);
	struct vmrec *v = vm_new(t, t_req, warm);
	if (!v) {
		if (once)
			template_free(once);
		serve_error(r, 500, "out of memory");
		return 0;
	}
	if (warm) {
		static struct instance_patch p; /* under the lock */
		memset(&p, 0, sizeof(p));
		p.t0 = t_req;
		p.id = (uint32_t)v->id;
		snprintf(p.cmdline_tail, sizeof(p.cmdline_tail), "%s", q->cmdline_append);
		if (q->mac_set) {
			memcpy(p.mac, q->mac, 6);
			p.mac_set = 1;
		}
		p.timeout_set = q->timeout_set;
		p.timeout_ms = q->timeout_ms;
		ssize_t n = send(pe.ctl_fd, &p, sizeof(p), MSG_NOSIGNAL | MSG_DONTWAIT);
		v->ctl_fd = pe.ctl_fd;
		S.own[pe.slot].use = SLOT_VM;
		S.own[pe.slot].vm = v;
		S.own[pe.slot].t = NULL;
		v->slot = pe.slot;
		v->pid = pe.pid;
		if (n != (ssize_t)sizeof(p))
			log_warn("vm %llu: warm instance did not take its patch: %s",
			         (unsigned long long)v->id, strerror(errno));
		S.launches_pool++;
		t->pooled++;
		(void)!write(S.wake[1], "r", 1); /* refill, in the loop's next round */
	} else {
		int slot = slot_alloc();
		pid_t pid = slot < 0 ? -EAGAIN : spawn(t, slot, v->id, t_req, q, &v->ctl_fd);
		if (once)
			template_free(once); /* the instance has its own copy */
		if (pid < 0) {
			S.fail_fork++;
			vm_unlink(v);
			serve_error(r, 503, "cannot start an instance process: %s",
			            slot < 0 ? "no free slot (instances still tearing down)"
			                     : strerror((int)-pid));
			return 0;
		}
		S.own[slot] = (struct slot_owner){SLOT_VM, pid, NULL, v};
		v->slot = slot;
		v->pid = pid;
		S.launches_cold++;
		if (!once)
			t->cold++;
	}
	if (!once)
		t->launches++;
	S.live_vms++;
	if (w && !reached(v, q->wait)) {
		w->vm_id = v->id;
		w->wait = q->wait;
		w->woken = false;
		w->next = v->waiters;
		v->waiters = w;
		return 1;
	}
	(void)wake;
	reply_json(r, 201, vm_json(v));
	return 0;
}

static void do_vm_delete(const struct action *a, struct reply *r, struct waiter **wake)
{
	struct vmrec *v = vm_find(a->id);
	if (!v)
		return serve_error(r, 404, "vm %llu: no such VM", (unsigned long long)a->id);
	v->deleted = true;
	(void)wake;
	if (!v->reaped) {
		kill(v->pid, SIGTERM); /* its record says so; reaped (and forgotten) on exit */
	} else {
		vm_unlink(v);
	}
	reply_empty(r, 204);
}

static void metrics_text(struct reply *r);

int serve_do(struct action *a, uint64_t t_req, struct waiter *w, struct reply *r)
{
	struct waiter *wake = NULL;
	int rc = 0;
	pthread_mutex_lock(&S.lock);
	S.requests++;
	switch (a->kind) {
	case ACT_TEMPLATE_PUT:
		do_template_put(a, r);
		break;
	case ACT_TEMPLATE_LIST: {
		json_t *arr = json_array();
		for (struct template *t = S.templates; t; t = t->next)
			json_array_append_new(arr, template_json(t));
		reply_json(r, 200, arr);
		break;
	}
	case ACT_TEMPLATE_GET: {
		struct template *t = template_find(a->name);
		if (!t)
			serve_error(r, 404, "template '%s': no such template", a->name);
		else
			reply_json(r, 200, template_json(t));
		break;
	}
	case ACT_TEMPLATE_DELETE:
		do_template_delete(a, r);
		break;
	case ACT_VM_CREATE:
		rc = do_vm_create(a, t_req, w, r, &wake);
		break;
	case ACT_VM_LIST: {
		json_t *arr = json_array();
		for (struct vmrec *v = S.vm_head; v; v = v->next)
			if (!v->deleted)
				json_array_append_new(arr, vm_json(v));
		reply_json(r, 200, arr);
		break;
	}
	case ACT_VM_GET: {
		struct vmrec *v = vm_find(a->id);
		if (!v)
			serve_error(r, 404, "vm %llu: no such VM", (unsigned long long)a->id);
		else
			reply_json(r, 200, vm_json(v));
		break;
	}
	case ACT_VM_CONSOLE: {
		struct vmrec *v = vm_find(a->id);
		if (!v) {
			serve_error(r, 404, "vm %llu: no such VM", (unsigned long long)a->id);
			break;
		}
		const char *src = v->console;
		size_t n = v->console_len;
		if (!v->have_rec && v->slot >= 0) { /* live: what it has printed so far */
			struct slot *s = slot_at((size_t)v->slot);
			n = atomic_load_explicit(&s->console_len, memory_order_acquire);
			src = s->console;
		}
		r->status = 200;
		r->type = "text/plain; charset=utf-8";
		r->body = malloc(n + 1);
		if (r->body) {
			memcpy(r->body, src ? src : "", n);
			r->body[n] = 0;
		}
		break;
	}
	case ACT_VM_DELETE:
		do_vm_delete(a, r, &wake);
		break;
	case ACT_VM_SNAPSHOT:
		rc = do_vm_snapshot(a, t_req, w, r);
		break;
	case ACT_METRICS:
		metrics_text(r);
		break;
	}
	pthread_mutex_unlock(&S.lock);
	wake_all(wake);
	return rc;
}

void serve_waited(struct waiter *w, struct reply *r)
{
	pthread_mutex_lock(&S.lock);
	struct vmrec *v = vm_find(w->vm_id);
	if (!v)
		serve_error(r, 410, "vm %llu: deleted while the request waited",
		            (unsigned long long)w->vm_id);
	else if (w->wait != WAIT_SNAPSHOT)
		reply_json(r, 201, vm_json(v));
	else if (v->snap.pending) /* woken by the shutdown; the instance is told to stop */
		serve_error(r, 503, "vm %llu: the daemon is shutting down",
		            (unsigned long long)v->id);
	else if (v->snap.status != 201)
		serve_error(r, v->snap.status, "%s", v->snap.msg);
	else
		reply_json(r, 201, snap_json(v));
	pthread_mutex_unlock(&S.lock);
}

/* ---- metrics (Prometheus text exposition format 0.0.4) ---- */

struct buf {
	char *s;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) PRINTF(2, 3);
static void bprintf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = b->cap - b->len;
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 8192;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return;
		b->s = s;
		b->cap = cap;
	}
}

static void hist_print(struct buf *b, const char *name, const char *path, const struct hist *h)
{
	uint64_t cum = 0;
	for (unsigned i = 0; i <= NHIST; i++) {
		cum += h->b[i];
		if (i < NHIST)
			bprintf(b, "%s_bucket{path=\"%s\",le=\"%g\"} %llu\n", name, path,
			        hist_le[i] / 1000.0, (unsigned long long)cum);
		else
			bprintf(b, "%s_bucket{path=\"%s\",le=\"+Inf\"} %llu\n", name, path,
			        (unsigned long long)cum);
	}
	bprintf(b, "%s_sum{path=\"%s\"} %.9f\n", name, path, h->sum / 1000.0);
	bprintf(b, "%s_count{path=\"%s\"} %llu\n", name, path, (unsigned long long)h->count);
}

static uint64_t proc_rss_kb(pid_t pid)
{
	char buf[128];
	unsigned long long size, res;
	if (instance_proc_read(pid, "statm", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%llu %llu", &size, &res) != 2)
		return 0;
	return res * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

static void metrics_text(struct reply *r)
{
	struct buf b = {0};
	bprintf(&b,
	        "# HELP fastvmm_launches_total VMs launched, by path (warm pool or cold).\n"
	        "# TYPE fastvmm_launches_total counter\n"
	        "fastvmm_launches_total{path=\"pool\"} %llu\n"
	        "fastvmm_launches_total{path=\"cold\"} %llu\n",
	        (unsigned long long)S.launches_pool, (unsigned long long)S.launches_cold);
	bprintf(&b,
	        "# HELP fastvmm_launch_failures_total Launch requests that did not become a "
	        "running VM, by cause.\n"
	        "# TYPE fastvmm_launch_failures_total counter\n"
	        "fastvmm_launch_failures_total{cause=\"no_template\"} %llu\n"
	        "fastvmm_launch_failures_total{cause=\"max_vms\"} %llu\n"
	        "fastvmm_launch_failures_total{cause=\"fork\"} %llu\n"
	        "fastvmm_launch_failures_total{cause=\"build\"} %llu\n"
	        "fastvmm_launch_failures_total{cause=\"lost\"} %llu\n",
	        (unsigned long long)S.fail_no_template, (unsigned long long)S.fail_capacity,
	        (unsigned long long)S.fail_fork, (unsigned long long)S.fail_build,
	        (unsigned long long)S.fail_lost);
	bprintf(&b, "# HELP fastvmm_vm_outcomes_total Finished VMs by outcome.\n"
	            "# TYPE fastvmm_vm_outcomes_total counter\n");
	for (int o = 0; o < 7; o++)
		bprintf(&b, "fastvmm_vm_outcomes_total{outcome=\"%s\"} %llu\n",
		        vm_outcome_name((enum vm_outcome)o), (unsigned long long)S.outcome[o]);
	bprintf(&b, "fastvmm_vm_outcomes_total{outcome=\"other\"} %llu\n",
	        (unsigned long long)S.outcome[7]);
	bprintf(&b, "# HELP fastvmm_request_to_first_run_seconds Request to the VM's first "
	            "KVM_RUN.\n# TYPE fastvmm_request_to_first_run_seconds histogram\n");
	hist_print(&b, "fastvmm_request_to_first_run_seconds", "pool", &S.h_first_run_pool);
	hist_print(&b, "fastvmm_request_to_first_run_seconds", "cold", &S.h_first_run);
	bprintf(&b, "# HELP fastvmm_request_to_ready_seconds Request to ready (boot timer, the "
	            "ready pattern, else the exit).\n"
	            "# TYPE fastvmm_request_to_ready_seconds histogram\n");
	hist_print(&b, "fastvmm_request_to_ready_seconds", "pool", &S.h_ready_pool);
	hist_print(&b, "fastvmm_request_to_ready_seconds", "cold", &S.h_ready);
	bprintf(&b, "# HELP fastvmm_pool_size Warm VMs wanted, ready and being built, by "
	            "template.\n# TYPE fastvmm_pool_size gauge\n");
	uint64_t pool_rss = 0, refills = 0, hits = 0, misses = 0, pfail = 0;
	for (struct template *t = S.templates; t; t = t->next) {
		bprintf(&b,
		        "fastvmm_pool_size{template=\"%s\",state=\"target\"} %u\n"
		        "fastvmm_pool_size{template=\"%s\",state=\"ready\"} %u\n"
		        "fastvmm_pool_size{template=\"%s\",state=\"preparing\"} %u\n",
		        t->name, t->pool.target, t->name, pool_count(&t->pool, POOL_READY), t->name,
		        pool_count(&t->pool, POOL_PREPARING));
		for (unsigned i = 0; i < t->pool.n; i++)
			pool_rss += proc_rss_kb(t->pool.e[i].pid);
		refills += t->pool.refills;
		hits += t->pool.hits;
		misses += t->pool.misses;
		pfail += t->pool.failures;
	}
	bprintf(&b,
	        "# HELP fastvmm_pool_refills_total Warm instances started to refill pools.\n"
	        "# TYPE fastvmm_pool_refills_total counter\nfastvmm_pool_refills_total %llu\n"
	        "# HELP fastvmm_pool_hits_total Launches served from a warm pool.\n"
	        "# TYPE fastvmm_pool_hits_total counter\nfastvmm_pool_hits_total %llu\n"
	        "# HELP fastvmm_pool_misses_total Launches that found the pool empty (cold "
	        "fallback).\n"
	        "# TYPE fastvmm_pool_misses_total counter\nfastvmm_pool_misses_total %llu\n"
	        "# HELP fastvmm_pool_failures_total Warm instances that died before ready.\n"
	        "# TYPE fastvmm_pool_failures_total counter\nfastvmm_pool_failures_total %llu\n"
	        "# HELP fastvmm_snapshots_total Snapshots of running VMs, by result.\n"
	        "# TYPE fastvmm_snapshots_total counter\n"
	        "fastvmm_snapshots_total{result=\"saved\"} %llu\n"
	        "fastvmm_snapshots_total{result=\"failed\"} %llu\n",
	        (unsigned long long)refills, (unsigned long long)hits, (unsigned long long)misses,
	        (unsigned long long)pfail, (unsigned long long)S.snapshots_ok,
	        (unsigned long long)S.snapshots_failed);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	bprintf(&b,
	        "# HELP fastvmm_live_vms VMs launched and not yet exited.\n"
	        "# TYPE fastvmm_live_vms gauge\nfastvmm_live_vms %u\n"
	        "# HELP fastvmm_vm_records VM records kept (running and finished).\n"
	        "# TYPE fastvmm_vm_records gauge\nfastvmm_vm_records %u\n"
	        "# HELP fastvmm_vm_records_evicted_total Finished VM records forgotten "
	        "(--max-records).\n"
	        "# TYPE fastvmm_vm_records_evicted_total counter\n"
	        "fastvmm_vm_records_evicted_total %llu\n"
	        "# HELP fastvmm_memory_bytes Resident memory: the daemon, and its warm instances "
	        "in all.\n# TYPE fastvmm_memory_bytes gauge\n"
	        "fastvmm_memory_bytes{process=\"daemon\"} %llu\n"
	        "fastvmm_memory_bytes{process=\"pool\"} %llu\n"
	        "# HELP fastvmm_connections Open API connections.\n"
	        "# TYPE fastvmm_connections gauge\nfastvmm_connections %u\n"
	        "# HELP fastvmm_connections_rejected_total Connections answered 503 "
	        "(--max-connections).\n# TYPE fastvmm_connections_rejected_total counter\n"
	        "fastvmm_connections_rejected_total %llu\n"
	        "# HELP fastvmm_requests_total API requests carried out.\n"
	        "# TYPE fastvmm_requests_total counter\nfastvmm_requests_total %llu\n",
	        S.live_vms, S.nvms, (unsigned long long)S.evicted,
	        (unsigned long long)proc_rss_kb(S.pid) * 1024, (unsigned long long)pool_rss * 1024,
	        S.http ? http_connections(S.http) : 0,
	        (unsigned long long)(S.http ? http_rejected(S.http) : 0),
	        (unsigned long long)S.requests);
	r->status = b.s ? 200 : 500;
	r->type = "text/plain; version=0.0.4; charset=utf-8";
	r->body = b.s;
}

/* ---- the loop: notes, reaping, refills, shutdown, HTTP ---- */

static void handle_notes(struct waiter **wake)
{
	uint32_t notes[256];
	ssize_t got;
	while ((got = read(S.note[0], notes, sizeof(notes))) > 0) {
		for (size_t k = 0; k < (size_t)got / sizeof(notes[0]); k++) {
			uint32_t i = notes[k] & NOTE_INDEX, kind = notes[k] & ~NOTE_INDEX;
			if (i >= S.nslots)
				continue;
			struct slot_owner *o = &S.own[i];
			if (o->use == SLOT_POOL && o->t && kind == NOTE_PREPARED) {
				pool_prepared(&o->t->pool, (int)i);
				continue;
			}
			if (o->use != SLOT_VM || !o->vm)
				continue;
			struct vmrec *v = o->vm;
			if (kind == NOTE_SNAPSHOT)
				snap_noted(v, &slot_at(i)->rec);
			else if (kind == NOTE_RUNNING && v->state < VS_RUNNING)
				v->state = VS_RUNNING;
			else if (kind == NOTE_READY && v->state < VS_READY)
				v->state = VS_READY;
			else if (kind == 0 && atomic_load(&slot_at(i)->rec.written))
				vm_finished(v);
			collect_waiters(v, wake);
		}
	}
}

static void reap(struct waiter **wake)
{
	int status;
	struct rusage ru;
	pid_t p;
	while ((p = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		for (size_t i = 0; i < S.nslots; i++) {
			struct slot_owner *o = &S.own[i];
			if (o->use == SLOT_FREE || o->pid != p)
				continue;
			struct slot *s = slot_at(i);
			if (o->use == SLOT_POOL) {
				if (o->t) {
					struct pool_entry e;
					if (pool_remove(&o->t->pool, (int)i, &e)) {
						close(e.ctl_fd);
						if (atomic_load(&s->rec.written))
							log_warn("template %s: warm instance "
							         "failed: %s",
							         o->t->name, s->rec.reason);
					}
				}
			} else if (o->vm) {
				struct vmrec *v = o->vm;
				instance_reaped(&s->rec, status, &ru);
				if (!v->have_rec) {
					if (s->rec.outcome == BATCH_LOST)
						S.fail_lost++;
					vm_finished(v);
				} else {
					v->rec.maxrss_kb = s->rec.maxrss_kb;
				}
				v->slot = -1;
				v->reaped = true;
				collect_waiters(v, wake);
				if (v->deleted && !v->waiters)
					vm_unlink(v);
			}
			*o = (struct slot_owner){0};
			break;
		}
	}
	vm_evict();
}

/* Start warm instances where pools are short, a few at a time (the caller polls again at
 * once while some are short, answering requests in between). Called with the lock; true if
 * some pool is still short. */
#define REFILL_BATCH 4
static bool refill(void)
{
	if (S.stopping)
		return false;
	unsigned started = 0;
	for (struct template *t = S.templates; t; t = t->next) {
		while (pool_deficit(&t->pool) > 0) {
			if (started == REFILL_BATCH)
				return true;
			int slot = slot_alloc();
			if (slot < 0)
				return false;
			int ctl = -1;
			pid_t pid = spawn(t, slot, 0, now_ns(), NULL, &ctl);
			started++;
			if (pid < 0) {
				log_warn("template %s: cannot start a warm instance: %s", t->name,
				         strerror((int)-pid));
				return false;
			}
			S.own[slot] = (struct slot_owner){SLOT_POOL, pid, t, NULL};
			if (pool_add(&t->pool, slot, pid, ctl) <
			    0) { /* cannot happen: deficit > 0 */
				S.own[slot].t = NULL;
				close(ctl);
				kill(pid, SIGKILL);
			}
		}
	}
	return false;
}

static void signal_children(int sig)
{
	for (size_t i = 0; i < S.nslots; i++)
		if (S.own[i].use != SLOT_FREE && S.own[i].pid > 0) /* 0: being forked */
			kill(S.own[i].pid, sig);
}

static unsigned children(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < S.nslots; i++)
		n += S.own[i].use != SLOT_FREE;
	return n;
}

static int serve_loop(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("serve: signalfd: %s", strerror(errno));
		return -1;
	}
	uint64_t kill_at = 0;
	bool short_pool = false;
	for (;;) {
		struct pollfd pf[4] = {{.fd = sfd, .events = POLLIN},
		                       {.fd = S.note[0], .events = POLLIN},
		                       {.fd = S.wake[0], .events = POLLIN},
		                       {.fd = http_fd(S.http), .events = POLLIN}};
		int timeout = http_timeout_ms(S.http);
		if (kill_at) {
			uint64_t now = now_ns();
			int k = now >= kill_at ? 0 : (int)((kill_at - now) / 1000000 + 1);
			if (timeout < 0 || k < timeout)
				timeout = k;
		}
		if (short_pool)
			timeout = 0;
		if (poll(pf, 4, timeout) < 0 && errno != EINTR) {
			log_err("serve: poll: %s", strerror(errno));
			break;
		}
		char drain[64];
		while (read(S.wake[0], drain, sizeof(drain)) > 0)
			;
		struct waiter *wake = NULL;
		bool stop_now = false;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				continue;
			if (si.ssi_signo == SIGHUP)
				continue; /* no configuration to reload */
			if (!S.stopping) {
				log_info("serve: %s: stopping every VM",
				         strsignal((int)si.ssi_signo));
				stop_now = true;
			} else {
				signal_children(SIGKILL); /* asked twice: no more grace */
				kill_at = 0;
			}
		}
		if (stop_now)
			http_quiesce(S.http); /* no new connections; open ones get 503 */
		pthread_mutex_lock(&S.lock);
		if (stop_now) {
			atomic_store(&S.stopping, true);
			/* Warm instances have nothing to lose; running ones get the grace period.
			 */
			for (struct template *t = S.templates; t; t = t->next)
				for (unsigned i = 0; i < t->pool.n; i++)
					kill(t->pool.e[i].pid, SIGKILL);
			signal_children(SIGTERM);
			kill_at = now_ns() + (uint64_t)S.o.grace_ms * 1000000ULL;
		}
		handle_notes(&wake);
		reap(&wake);
		if (kill_at && now_ns() >= kill_at) {
			signal_children(SIGKILL);
			kill_at = 0;
		}
		short_pool = refill();
		bool done = S.stopping && children() == 0;
		pthread_mutex_unlock(&S.lock);
		wake_all(wake);
		/* Every request ready, and those just woken, are answered here; a request that
		 * starts a VM may wake the loop again (S.wake) for the refill. */
		http_run(S.http);
		if (done)
			break;
	}
	close(sfd);
	return 0;
}

/* After the last instance: the replies of resumed requests go out (bounded: 200 ms). */
static void http_drain(void)
{
	for (int i = 0; i < 20 && http_connections(S.http); i++) {
		struct pollfd pf = {.fd = http_fd(S.http), .events = POLLIN};
		poll(&pf, 1, 10);
		http_run(S.http);
	}
}

/* ---- setup ---- */

void serve_usage(FILE *out)
{
	fprintf(out,
	        "Usage: fastvmm serve --socket PATH [options]\n"
	        "Launch VMs on request: HTTP/1.1 + JSON on a Unix socket (docs/api.md).\n"
	        "\n"
	        "  --socket PATH         the API socket (created mode 0600; required)\n"
	        "  --group NAME          make the socket 0660 and owned by this group\n"
	        "  --max-vms N           VMs running at once, beyond: 503 (default 64)\n"
	        "  --max-pooled N        warm VMs across all templates (default 64)\n"
	        "  --max-templates N     templates (default 256)\n"
	        "  --max-records N       finished VMs remembered, oldest forgotten first "
	        "(default 4096)\n"
	        "  --max-body SIZE       request body limit, beyond: 413 (default 64K)\n"
	        "  --max-connections N   connections at once, beyond: 503 (default 1024)\n"
	        "  --conn-timeout SECS   close a connection idle or slow this long (default 10)\n"
	        "  --grace SECS          at SIGTERM, SIGKILL VMs after this long (default 1)\n"
	        "  --console-max SIZE    console bytes kept per VM (default 64K)\n"
	        "  --snapshot-root DIR   PUT /vms/{id}/snapshot saves into DIR/NAME (off without)\n"
	        "  --no-sandbox          no seccomp filter on the daemon or its VMs (debugging)\n"
	        "  -v, --verbose         more log lines (repeat for more)\n"
	        "  -q, --quiet           errors only\n"
	        "  -h, --help            this help\n"
	        "\n"
	        "SIGTERM or SIGINT: stop accepting, stop every VM (grace, then SIGKILL), reap\n"
	        "them, remove the socket, exit 0. Instances die with the daemon.\n");
}

int serve_parse(struct serve_opts *o, int argc, char **argv, char *err, size_t err_len)
{
	*o = (struct serve_opts){.max_vms = 64,
	                         .max_pooled = 64,
	                         .max_templates = 256,
	                         .max_records = 4096,
	                         .max_body = 64 * 1024,
	                         .max_conns = 1024,
	                         .conn_timeout_s = 10,
	                         .grace_ms = 1000,
	                         .console_max = 64 * 1024,
	                         .verbosity = 1};
	enum {
		O_SOCKET = 256,
		O_GROUP,
		O_MAXVMS,
		O_MAXPOOL,
		O_MAXT,
		O_MAXREC,
		O_BODY,
		O_CONNS,
		O_CTIME,
		O_GRACE,
		O_CONSOLE,
		O_SNAPROOT,
		O_NOSANDBOX
	};
	/* The numeric options: a count (unsigned), a size with a suffix (size_t) or seconds
	 * (stored as ms, unsigned), each in [min, max]. */
	enum num_kind { NUM_UINT, NUM_SIZE, NUM_SECONDS };
	static const struct num_opt {
		int id;
		enum num_kind kind;
		uint64_t min, max;
		size_t off;
	} nums[] = {
	        {O_MAXVMS, NUM_UINT, 1, 100000, offsetof(struct serve_opts, max_vms)},
	        {O_MAXPOOL, NUM_UINT, 0, 10000, offsetof(struct serve_opts, max_pooled)},
	        {O_MAXT, NUM_UINT, 1, 100000, offsetof(struct serve_opts, max_templates)},
	        {O_MAXREC, NUM_UINT, 1, 10000000, offsetof(struct serve_opts, max_records)},
	        {O_BODY, NUM_SIZE, 256, 64 * MiB, offsetof(struct serve_opts, max_body)},
	        {O_CONNS, NUM_UINT, 1, 100000, offsetof(struct serve_opts, max_conns)},
	        {O_CTIME, NUM_UINT, 1, 3600, offsetof(struct serve_opts, conn_timeout_s)},
	        {O_GRACE, NUM_SECONDS, 0, 3600 * 1000, offsetof(struct serve_opts, grace_ms)},
	        {O_CONSOLE, NUM_SIZE, 1024, 16 * MiB, offsetof(struct serve_opts, console_max)},
	};
	static const struct option opts[] = {
	        {"socket", required_argument, 0, O_SOCKET},
	        {"group", required_argument, 0, O_GROUP},
	        {"max-vms", required_argument, 0, O_MAXVMS},
	        {"max-pooled", required_argument, 0, O_MAXPOOL},
	        {"max-templates", required_argument, 0, O_MAXT},
	        {"max-records", required_argument, 0, O_MAXREC},
	        {"max-body", required_argument, 0, O_BODY},
	        {"max-connections", required_argument, 0, O_CONNS},
	        {"conn-timeout", required_argument, 0, O_CTIME},
	        {"grace", required_argument, 0, O_GRACE},
	        {"console-max", required_argument, 0, O_CONSOLE},
	        {"snapshot-root", required_argument, 0, O_SNAPROOT},
	        {"no-sandbox", no_argument, 0, O_NOSANDBOX},
	        {"verbose", no_argument, 0, 'v'},
	        {"quiet", no_argument, 0, 'q'},
	        {"help", no_argument, 0, 'h'},
	        {0, 0, 0, 0},
	};
	optind = 0; /* 0: a full re-initialisation (glibc), parse may be called again */
	opterr = 0;
	int c, li = -1;
	while ((c = getopt_long(argc, argv, ":vqh", opts, &li)) != -1) {
		uint64_t v = 0;
		int r = 0;
		char name[40];
		snprintf(name, sizeof(name), "--%s", li >= 0 ? opts[li].name : "?");
		li = -1;
		switch (c) {
		case O_SOCKET:
			o->socket_path = optarg;
			break;
		case O_GROUP:
			o->group = optarg;
			break;
		case O_SNAPROOT:
			o->snapshot_root = optarg;
			break;
		case O_NOSANDBOX:
			o->no_sandbox = true;
			break;
		case 'v':
			o->verbosity++;
			break;
		case 'q':
			o->verbosity = 0;
			break;
		case 'h':
			return 1;
		case ':':
			snprintf(err, err_len, "serve: %s: needs a value", argv[optind - 1]);
			return -EINVAL;
		default: {
			const struct num_opt *n = nums;
			while (n < nums + ARRAY_SIZE(nums) && n->id != c)
				n++;
			if (n == nums + ARRAY_SIZE(nums)) {
				snprintf(err, err_len,
				         "serve: %s: unknown option (see fastvmm serve --help)",
				         argv[optind - 1]);
				return -EINVAL;
			}
			r = n->kind == NUM_SIZE      ? parse_size(optarg, &v)
			    : n->kind == NUM_SECONDS ? parse_seconds(optarg, &v)
			                             : parse_uint(optarg, n->min, n->max, &v);
			if (!r && (v < n->min || v > n->max))
				r = -ERANGE;
			if (n->kind == NUM_SIZE)
				*(size_t *)(void *)((char *)o + n->off) = (size_t)v;
			else
				*(unsigned *)(void *)((char *)o + n->off) = (unsigned)v;
		}
		}
		if (r < 0) {
			snprintf(err, err_len, "serve: %s: '%s' is %s", name, optarg,
			         r == -ERANGE ? "out of range" : "not a valid value");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, err_len, "serve: '%s': unexpected argument", argv[optind]);
		return -EINVAL;
	}
	if (!o->socket_path || !*o->socket_path) {
		snprintf(err, err_len, "serve: --socket PATH is required");
		return -EINVAL;
	}
	if (strlen(o->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, err_len, "serve: --socket %s: longer than a Unix socket path can be",
		         o->socket_path);
		return -EINVAL;
	}
	return 0;
}

/* Bind the API socket: refuse to take over a live daemon's socket or a non-socket file,
 * replace a stale socket (a crashed daemon's). */
static int socket_open(const struct serve_opts *o)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o->socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_err("--socket %s: socket: %s", o->socket_path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(o->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("--socket %s: exists and is not a socket", o->socket_path);
			close(fd);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			log_err("--socket %s: another daemon is serving it", o->socket_path);
			close(probe);
			close(fd);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(o->socket_path); /* stale */
	}
	gid_t gid = (gid_t)-1;
	if (o->group) {
		/* /etc/group read directly (fgetgrent): a static binary has no NSS. */
		uint64_t num;
		bool found = parse_uint(o->group, 0, UINT32_MAX - 1, &num) == 0;
		gid = (gid_t)num;
		FILE *f = found ? NULL : fopen("/etc/group", "re");
		for (struct group *g; f && (g = fgetgrent(f));)
			if (strcmp(g->gr_name, o->group) == 0) {
				gid = g->gr_gid;
				found = true;
				break;
			}
		if (f)
			fclose(f);
		if (!found) {
			log_err("--group %s: no such group in /etc/group", o->group);
			close(fd);
			return -1;
		}
	}
	mode_t old = umask(0177); /* born 0600: no window in which others may connect */
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		log_err("--socket %s: bind: %s", o->socket_path, strerror(errno));
		close(fd);
		return -1;
	}
	if (o->group &&
	    (chown(o->socket_path, (uid_t)-1, gid) < 0 || chmod(o->socket_path, 0660) < 0)) {
		log_err("--group %s: %s: %s", o->group, o->socket_path, strerror(errno));
		unlink(o->socket_path);
		close(fd);
		return -1;
	}
	if (listen(fd, 4096) < 0) {
		log_err("--socket %s: listen: %s", o->socket_path, strerror(errno));
		unlink(o->socket_path);
		close(fd);
		return -1;
	}
	return fd;
}

static void serve_cleanup(void)
{
	while (S.templates) {
		struct template *t = S.templates;
		S.templates = t->next;
		template_free(t);
	}
	while (S.vm_head)
		vm_unlink(S.vm_head);
	if (S.slots)
		munmap(S.slots, S.slots_len);
	free(S.own);
	for (int i = 0; i < 2; i++) {
		if (S.note[i] >= 0)
			close(S.note[i]);
		if (S.wake[i] >= 0)
			close(S.wake[i]);
	}
	instance_kvm_shared_free(&S.kvm);
	if (S.snap_root_fd >= 0)
		close(S.snap_root_fd);
	S.snap_root_fd = -1;
}

int serve_main(int argc, char **argv)
{
	char err[512];
	int r = serve_parse(&S.o, argc, argv, err, sizeof(err));
	if (r == 1) {
		serve_usage(stdout);
		return 0;
	}
	if (r < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	log_level = S.o.verbosity;
	if (S.o.no_sandbox)
		sandbox_disable();
	S.pid = getpid();
	S.renice = geteuid() == 0;
	/* 1,000 connections at once need more than the usual 1,024 descriptors. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (instance_kvm_shared(&S.kvm, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EXIT_USAGE;
	}
	S.nslots = 2 * (size_t)S.o.max_vms + S.o.max_pooled; /* + VMs still tearing down */
	S.slot_size = ALIGN_UP(sizeof(struct slot) + S.o.console_max, 64);
	S.slots_len = ALIGN_UP(S.nslots * S.slot_size, 4096);
	/* Shared with every instance; pages are touched only by slots in use. */
	S.slots = mmap(NULL, S.slots_len, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	S.own = calloc(S.nslots, sizeof(*S.own));
	if (S.slots == MAP_FAILED || !S.own) {
		S.slots = S.slots == MAP_FAILED ? NULL : S.slots;
		log_err("serve: cannot map %zu instance slots: %s", S.nslots, strerror(errno));
		serve_cleanup();
		return EXIT_VMM_FAILURE;
	}
	if (pipe2(S.note, O_CLOEXEC) < 0 || fcntl(S.note[0], F_SETFL, O_NONBLOCK) < 0 ||
	    pipe2(S.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_err("serve: pipe: %s", strerror(errno));
		serve_cleanup();
		return EXIT_VMM_FAILURE;
	}
	/* Signals: the loop's signalfd; instances restore the mask we had. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &S.child_mask);
	signal(SIGPIPE, SIG_IGN);
	if (S.o.snapshot_root) { /* opened before the sandbox; every snapshot is made under it */
		char *rp = realpath(S.o.snapshot_root, NULL);
		if (rp && strlen(rp) < sizeof(S.snap_root) - 2 * TEMPLATE_NAME_MAX)
			snprintf(S.snap_root, sizeof(S.snap_root), "%s", rp);
		S.snap_root_fd = S.snap_root[0] ? open(rp, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		int e = rp && !S.snap_root[0] ? ENAMETOOLONG : errno;
		free(rp);
		if (S.snap_root_fd < 0) {
			log_err("serve: --snapshot-root %s: %s", S.o.snapshot_root, strerror(e));
			serve_cleanup();
			return EXIT_USAGE;
		}
	}
	S.listen_fd = socket_open(&S.o);
	if (S.listen_fd < 0) {
		serve_cleanup();
		return EXIT_USAGE;
	}
	/* The socket is bound: the daemon confines itself (role "serve"). Every instance it forks
	 * builds its VM under this filter and stacks the VMM role on it before the first KVM_RUN
	 * (vm_run). */
	r = sandbox_apply(SANDBOX_SERVE);
	if (r < 0) {
		log_err("serve: sandbox: %s", strerror(-r));
		unlink(S.o.socket_path);
		close(S.listen_fd);
		serve_cleanup();
		return EXIT_VMM_FAILURE;
	}
	sandbox_selftest(SANDBOX_SERVE);
	S.http = http_start(S.listen_fd, &S.o, err, sizeof(err));
	if (!S.http) {
		log_err("serve: %s", err);
		unlink(S.o.socket_path);
		close(S.listen_fd);
		serve_cleanup();
		return EXIT_VMM_FAILURE;
	}
	log_info("serve: listening on %s (max %u VMs, %u warm)", S.o.socket_path, S.o.max_vms,
	         S.o.max_pooled);
	r = serve_loop();
	/* Every instance is gone and every waiter was answered; stop HTTP, remove the socket. */
	unlink(S.o.socket_path);
	http_drain();
	http_stop(S.http);
	S.http = NULL;
	close(S.listen_fd);
	pthread_mutex_lock(&S.lock);
	serve_cleanup();
	pthread_mutex_unlock(&S.lock);
	return r < 0 ? EXIT_VMM_FAILURE : EXIT_OK;
}
