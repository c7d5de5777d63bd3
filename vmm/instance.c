/* vmm/instance.c — the per-instance process every front end shares (include/instance.h).
 *
 * What used to live in batch.c's child (console lines, the ready pattern, the record written
 * into the launcher's shared memory, the SIGTERM record) is here so that batch mode and the
 * daemon run one copy of it; the daemon's warm pool is the same instance stopped before its
 * first KVM_RUN (instance_wait_go()). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "instance.h"
#include "log.h"
#include "snapshot.h"
#include "virtio.h"

char *instance_expand_cmdline(const char *tmpl, unsigned id)
{
	char num[16];
	int nl = snprintf(num, sizeof(num), "%u", id);
	size_t count = 0;
	for (const char *p = tmpl; (p = strstr(p, "{id}")); p += 4)
		count++;
	char *out = malloc(strlen(tmpl) + count * (size_t)nl + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{id}", 4) == 0) {
			memcpy(o, num, (size_t)nl);
			o += nl;
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
	return out;
}

int instance_process_setup(pid_t launcher, void (*on_term)(int), const sigset_t *mask)
{
	/* Die with the launcher; and if it is already gone, do not start. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != launcher)
		return -1;
	struct sigaction sa = {.sa_handler = on_term};
	sigfillset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_IGN); /* a terminal's ^C reaches the whole group: the launcher decides */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_SETMASK, mask, NULL);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void instance_close_fds(const int *keep, unsigned n)
{
	int k[16];
	unsigned m = 0;
	for (unsigned i = 0; i < n && m < ARRAY_SIZE(k); i++)
		if (keep[i] > 2)
			k[m++] = keep[i];
	qsort(k, m, sizeof(k[0]), cmp_int);
	unsigned from = 3;
	for (unsigned i = 0; i < m; i++) {
		if ((unsigned)k[i] > from)
			syscall(SYS_close_range, from, (unsigned)k[i] - 1, 0);
		from = (unsigned)k[i] + 1;
	}
	syscall(SYS_close_range, from, ~0u, 0);
}

static void note_send(struct instance *in, uint32_t kind)
{
	uint32_t v = kind | (in->index & NOTE_INDEX);
	(void)!write(in->note_fd, &v, sizeof(v));
}

static void on_mark(struct vm *vm, enum vm_stage st)
{
	struct instance *in = (struct instance *)vm; /* vm is the first member */
	if (in->rec) /* live, for a launcher that answers before the record is complete */
		in->rec->t_ns[st] = atomic_load(&vm->t_ns[st]);
	if (st == ST_READY)
		note_send(in, NOTE_READY);
	else if (st == ST_FIRST_RUN)
		note_send(in, NOTE_RUNNING);
}

static void line_done(struct instance *in)
{
	if (!in->len)
		return;
	if (in->on_line)
		in->on_line(in, in->line, in->len);
	if (in->ready_re && !in->t_pattern) {
		unsigned n = in->len;
		while (n && (in->line[n - 1] == '\n' || in->line[n - 1] == '\r'))
			n--;
		char s[sizeof(in->line) + 1];
		memcpy(s, in->line, n);
		s[n] = 0;
		if (regexec(in->ready_re, s, 0, NULL, 0) == 0) {
			in->t_pattern = now_ns() - in->vm.t0;
			if (in->note_marks) {
				if (in->rec && !in->rec->t_ns[ST_READY])
					in->rec->t_ns[ST_READY] = in->t_pattern;
				note_send(in, NOTE_READY);
			}
		}
	}
	in->len = 0;
}

static void on_byte(struct vm *vm, uint8_t ch)
{
	struct instance *in = (struct instance *)vm;
	in->line[in->len++] = (char)ch;
	if (ch == '\n' || in->len == sizeof(in->line))
		line_done(in);
}

int instance_init(struct instance *in, const struct vm_config *cfg, const struct kernel_image *k,
                  const struct blob *initrd, const struct kvm_shared *shared, unsigned id,
                  uint64_t t0)
{
	in->cfg = *cfg;
	in->statm_fd = in->smaps_fd = in->pagemap_fd = -1;
	if (in->rec) {
		in->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
		in->smaps_fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
		in->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	}
	if (in->capture_console) {
		in->cfg.quiet = true; /* the console goes through on_byte */
		in->cfg.json = false;
	}
	if (in->cfg.cmdline && strstr(in->cfg.cmdline, "{id}")) {
		in->cmdline_buf = instance_expand_cmdline(in->cfg.cmdline, id);
		if (!in->cmdline_buf)
			return -ENOMEM;
		in->cfg.cmdline = in->cmdline_buf;
	}
	struct vm *vm = &in->vm;
	vm->cfg = &in->cfg;
	vm->kernel = k;
	vm->initrd = initrd;
	vm->shared = shared;
	vm->id = id;
	vm->t0 = t0;
	if (in->note_marks)
		vm->on_mark = on_mark;
	return 0;
}

int instance_build(struct instance *in)
{
	int r = pipeline_run(&in->vm);
	if (r == 0 && in->capture_console)
		in->vm.serial.on_byte = on_byte;
	return r;
}

int instance_wait_go(struct instance *in, int ctl_fd)
{
	static struct instance_patch p; /* static: 2 KiB off a small stack */
	note_send(in, NOTE_PREPARED);
	ssize_t n;
	do
		n = read(ctl_fd, &p, sizeof(p));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(p))
		return -EPIPE;
	struct vm *vm = &in->vm;
	/* The build stages happened before the request: a pooled VM's timings start at the
	 * request, so they read as not on its path (0). */
	for (int st = 0; st < ST_COUNT; st++) {
		atomic_store(&vm->t_ns[st], 0);
		if (in->rec) /* the live copy the launcher reads before the record is complete */
			in->rec->t_ns[st] = 0;
	}
	vm->t0 = p.t0;
	vm->id = p.id;
	if (in->cfg.snap) /* a restored clone learns its id from the snapshot port */
		__atomic_store_n(&vm->snap_port, 0x80000000u | p.id, __ATOMIC_RELEASE);
	if (p.timeout_set)
		in->cfg.timeout_ms = p.timeout_ms;
	p.cmdline_tail[sizeof(p.cmdline_tail) - 1] = 0;
	if (p.cmdline_tail[0]) {
		const char *base = in->cfg.cmdline ? in->cfg.cmdline : "";
		char *tail = instance_expand_cmdline(p.cmdline_tail, p.id);
		size_t len = strlen(base) + 1 + (tail ? strlen(tail) : 0) + 1;
		char *full = tail ? malloc(len) : NULL;
		if (!full) {
			free(tail);
			return -ENOMEM;
		}
		snprintf(full, len, "%s%s%s", base, *base ? " " : "", tail);
		free(tail);
		in->cfg.cmdline = full;
		free(in->cmdline_buf);
		in->cmdline_buf = full;
		int r = pipeline_patch_cmdline(vm);
		if (r < 0)
			return r;
	}
	if (p.mac_set) {
		memcpy(in->cfg.mac, p.mac, 6);
		in->cfg.mac_set = true;
		virtio_patch_mac(vm, p.mac);
	}
	return 0;
}

static int stop_pipe_w = -1; /* one instance per process */

static void on_stop_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;
	(void)!write(stop_pipe_w, &c, 1); /* non-blocking: a full pipe has a stop pending */
	errno = saved;
}

int instance_stop_on(struct instance *in, const int *sigs, unsigned n)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	stop_pipe_w = p[1];
	in->vm.stop_req_fd = p[0];
	struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
	sigfillset(&sa.sa_mask);
	for (unsigned i = 0; i < n; i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}

/* ---- snapshot orders (one at a time; only the watchdog thread reads orders) ---- */

static struct snapshot_request order;
static char order_dir[sizeof(((struct snapshot_order_msg *)0)->dir)];

static void order_report(struct instance *in, int rc, const char *msg)
{
	if (in->rec) {
		in->rec->snap_rc = rc;
		snprintf(in->rec->snap_msg, sizeof(in->rec->snap_msg), "%s", msg);
	}
	note_send(in, NOTE_SNAPSHOT);
}

/* The save ended (vCPU thread, every vCPU paused): the files are the launcher's again. */
static void order_done(struct vm *vm)
{
	close(order.mem_fd);
	close(order.state_fd);
	order_report((struct instance *)vm, vm->snap_result, vm->snap_msg);
}

/* The control socket is readable: one order (or the launcher hung up: < 0). A malformed
 * message is answered, never obeyed; descriptors beyond the two expected are closed. */
static int order_read(struct vm *vm)
{
	struct instance *in = (struct instance *)vm;
	static struct snapshot_order_msg m;
	int fds[2], trunc;
	unsigned nfds;
	ssize_t n = fd_recv(vm->ctl_fd, &m, sizeof(m), fds, 2, &nfds, &trunc, MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	static const char busy[] = "a snapshot is already being taken";
	const char *bad = NULL;
	int rc = -EBUSY;
	if (n != (ssize_t)sizeof(m) || m.magic != SNAPSHOT_ORDER_MAGIC || nfds != 2 || trunc) {
		bad = "malformed snapshot order";
		rc = -EINVAL;
	} else if (atomic_load(&vm->snap_requested)) {
		bad = busy;
	}
	if (!bad) {
		memcpy(order_dir, m.dir, sizeof(order_dir));
		order_dir[sizeof(order_dir) - 1] = 0;
		order = (struct snapshot_request){.at = SNAP_AT_NONE,
		                                  .dir = order_dir,
		                                  .stop_after = m.stop != 0,
		                                  .to_fds = true,
		                                  .mem_fd = fds[0],
		                                  .state_fd = fds[1]};
		if (snapshot_order(vm, &order) == 0)
			return 0;
		bad = busy;
	}
	for (unsigned i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	order_report(in, rc, bad);
	return 0;
}

void instance_control(struct instance *in, int ctl_fd)
{
	in->vm.ctl_fd = ctl_fd;
	in->vm.on_ctl = order_read;
	in->vm.on_snapshot = order_done;
	snapshot_use_pagemap(in->pagemap_fd);
}

void instance_run(struct instance *in)
{
	vm_run(&in->vm);
	line_done(in); /* a last line without '\n' */
}

/* The instance's memory at its end, from page-table walks (exact at that moment):
 * /proc/self/smaps_rollup's Rss and Anonymous, and gm_resident() for guest RAM. Not
 * /proc/self/statm: on Linux < 6.2 its counters are per-thread caches synced every 64 page
 * faults (SPLIT_RSS_COUNTING), so a vCPU thread's recent faults may be missing from it.
 * statm is the fallback only where smaps_rollup is missing (Linux < 4.14). */
static void record_memory(struct instance *in, struct batch_record *r)
{
	unsigned long long rss = 0, anon = 0;
	bool have_rss = false, have_anon = false;
	char buf[4096];
	ssize_t n = in->smaps_fd >= 0 ? pread(in->smaps_fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n > 0) {
		buf[n] = 0;
		for (char *line = buf; line; line = strchr(line, '\n')) {
			line += *line == '\n';
			if (sscanf(line, "Rss: %llu kB", &rss) == 1)
				have_rss = true;
			else if (sscanf(line, "Anonymous: %llu kB", &anon) == 1)
				have_anon = true;
		}
	}
	if (have_rss && have_anon && anon <= rss) {
		r->rss_kb = rss;
		r->rss_file_kb = rss - anon;
	} else if (in->statm_fd >= 0) {
		long page = sysconf(_SC_PAGESIZE) / 1024;
		n = pread(in->statm_fd, buf, sizeof(buf) - 1, 0);
		unsigned long long size, res, shared;
		if (n > 0) {
			buf[n] = 0;
			if (sscanf(buf, "%llu %llu %llu", &size, &res, &shared) == 3) {
				r->rss_kb = res * (unsigned long long)page;
				r->rss_file_kb = shared * (unsigned long long)page;
			}
		}
	}
	uint64_t ganon = 0, gfile = 0;
	if (gm_resident(&in->vm.mem, in->pagemap_fd, &ganon, &gfile) == 0)
		r->guest_kb = ganon / 1024;
}

_Noreturn void instance_finish(struct instance *in)
{
	struct vm *vm = &in->vm;
	struct batch_record *r = in->rec;
	uint64_t t_done = now_ns() - vm->t0;
	if (atomic_exchange(&r->claimed, 1))
		for (;;)
			pause(); /* the SIGTERM handler owns the record and exits */
	for (int st = 0; st < ST_COUNT; st++)
		r->t_ns[st] = atomic_load(&vm->t_ns[st]);
	batch_resolve_ready(r, r->t_ns[ST_READY], in->t_pattern);
	r->outcome = (int)vm->outcome;
	r->exit_status = vm_exit_status(vm);
	r->failed_stage = vm->failed_stage;
	r->console_bytes = vm->serial.bytes_out;
	snprintf(r->reason, sizeof(r->reason), "%s", vm->reason);
	r->ok = r->exit_status == 0;
	if (r->ok && in->ready_re && !in->t_pattern) {
		r->ok = false;
		r->outcome = BATCH_NO_READY;
		snprintf(r->reason, sizeof(r->reason), "no console line matched --ready '%s'",
		         in->ready_text ? in->ready_text : "");
	}
	record_memory(in, r);
	r->t_done = t_done;
	atomic_store(&r->written, 1);
	note_send(in, 0);
	_exit(0);
}

void instance_interrupted(struct instance *in, int sig, const char *why)
{
	struct batch_record *r = in->rec;
	if (atomic_exchange(&r->claimed, 1))
		return; /* the normal end is writing it and exits at once */
	for (int st = 0; st < ST_COUNT; st++)
		r->t_ns[st] = atomic_load(&in->vm.t_ns[st]);
	batch_resolve_ready(r, r->t_ns[ST_READY], in->t_pattern);
	if (r->ready_source == READY_EXIT)
		r->t_ns[ST_READY] = 0;
	r->outcome = BATCH_INTERRUPTED;
	r->exit_status = 128 + sig;
	r->failed_stage = -1;
	r->ok = false;
	size_t n = strlen(why);
	if (n >= sizeof(r->reason))
		n = sizeof(r->reason) - 1;
	memcpy(r->reason, why, n);
	r->reason[n] = 0;
	r->t_done = now_ns() - in->vm.t0;
	atomic_store(&r->written, 1);
	note_send(in, 0);
	_exit(128 + sig);
}

/* Destroying a VM with an in-kernel irqchip waits 15-23 ms here for SRCU grace periods, in
 * whichever close drops the VM's last reference. Hand those references to a short-lived
 * holder: it inherits the fds, closes the standard streams (so that nobody waiting for our
 * output waits for it) and sleeps until this process has gone, then exits and pays the
 * teardown. Our own closes are then cheap and our exit is not delayed (design §4: teardown
 * off the critical path). The holder is created with CLONE_PARENT, as our sibling: our
 * parent — the shell, the script, the engine's shim that is waiting anyway — reaps it,
 * instead of it becoming an orphan of init (which, where init does not reap, stays a
 * zombie). If the clone fails, the teardown simply happens here. */
static void defer_vm_destruction(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	fflush(NULL);
	/* Raw clone: glibc's fork() has no CLONE_PARENT. Only async-signal-safe calls in the
	 * child (the parent is multi-threaded). */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0 && errno == EINVAL) /* we are a namespace's init: no parent to hand to */
		pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		close(STDIN_FILENO);
		close(STDOUT_FILENO);
		close(STDERR_FILENO);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	if (pid < 0)
		close(p[1]);
	/* else p[1] stays open until this process exits: that is the holder's signal. */
}

void instance_release(struct instance *in)
{
	struct vm *vm = &in->vm;
	if (vm->failed_stage >= 0)
		return; /* pipeline_run() undid its stages already */
	/* A split irqchip's VM is destroyed in well under a millisecond: no holder process. */
	if (vm->irqchip != IRQCHIP_SPLIT)
		defer_vm_destruction();
	pipeline_teardown(vm);
}

int instance_kvm_shared(struct kvm_shared *s, char *why, size_t why_len)
{
	static struct vm probe; /* kvm_open_dev() checks /dev/kvm and reports into a vm */
	memset(&probe, 0, sizeof(probe));
	memset(s, 0, sizeof(*s));
	probe.kvm_fd = -1;
	if (kvm_open_dev(&probe) < 0) {
		snprintf(why, why_len, "%s", probe.reason);
		return -1;
	}
	s->kvm_fd = probe.kvm_fd;
	s->run_size = probe.run_size;
	s->cpuid = vcpu_supported_cpuid(probe.kvm_fd);
	if (!s->cpuid) {
		snprintf(why, why_len, "/dev/kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		close(probe.kvm_fd);
		return -1;
	}
	return 0;
}

void instance_kvm_shared_free(struct kvm_shared *s)
{
	if (s->cpuid) {
		free(s->cpuid);
		close(s->kvm_fd);
		s->cpuid = NULL;
	}
}

ssize_t instance_proc_read(pid_t pid, const char *file, char *buf, size_t len)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, file);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || len == 0)
		return fd < 0 ? -1 : (close(fd), -1);
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

void instance_reaped(struct batch_record *r, int status, const struct rusage *ru)
{
	/* ru_maxrss lags the per-CPU RSS counters; the statm figure the child read is a floor. */
	r->maxrss_kb = (uint64_t)ru->ru_maxrss > r->rss_kb ? (uint64_t)ru->ru_maxrss : r->rss_kb;
	if (atomic_load(&r->written))
		return;
	r->ok = false;
	r->outcome = BATCH_LOST;
	if (WIFSIGNALED(status)) {
		r->signal = WTERMSIG(status);
		r->exit_status = 128 + r->signal;
		snprintf(r->reason, sizeof(r->reason), "instance process killed by signal %d (%s)",
		         r->signal, strsignal(r->signal));
	} else {
		r->exit_status = WEXITSTATUS(status);
		snprintf(r->reason, sizeof(r->reason),
		         "instance process exited with status %d without a record", r->exit_status);
	}
}
