/* vmm/batch.c — batch mode (-n N): the launcher and its instances.
 *
 * The launcher does the shared work once (the kernel and initrd are parsed by main; here
 * /dev/kvm is opened and checked and KVM_GET_SUPPORTED_CPUID asked once), then forks one
 * process per instance: one guest's crash or a device fault ends only its own process. A VM
 * belongs to the process that created it (design §4), so each child creates its own VM on the
 * inherited /dev/kvm fd, runs it, writes its struct batch_record into memory shared with the
 * launcher, tells the launcher on a pipe and _exits: the VM's teardown (12-15 ms of SRCU
 * waiting with an in-kernel irqchip here) happens in the kernel after the record is written,
 * off the measured path. Like main.c, this file decides the process's fate. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "instance.h"
#include "config.h"
#include "log.h"
#include "sandbox.h"

#define KILL_GRACE_MS 1000 /* SIGTERM → SIGKILL after this long */

struct batch {
	const struct cli *cli;
	const struct kernel_image *kernel;
	const struct blob *initrd;
	uint64_t t0;
	pid_t launcher;
	struct kvm_shared kvm;
	struct batch_record *rec; /* the launcher's records (private) */
	size_t rec_len;
	/* One page-aligned slot per instance, MAP_SHARED: a child writes its record there and
	 * unmaps every other slot first, so that no instance can touch another's record. */
	uint8_t *slots;
	size_t slot_stride, slots_len;
	/* children → launcher: 4-byte notes on a datagram socket; the launcher believes a note
	 * only from the process of the instance it names (SO_PASSCRED). */
	int note[2];
	int plot_fd; /* --plot's file: children close it */
	int sfd;     /* the launcher's signalfd (children close it) */
	sigset_t child_mask;
	regex_t ready_re;
	bool have_re;
	char log_dir[PATH_MAX]; /* empty: --console */
	bool log_dir_made;      /* we made it (mkdtemp): removed again if nothing was logged */
	int console_fd;         /* --console: where prefixed lines go; else -1 */
	bool progress;
	bool reap_all; /* split irqchip: instances' teardown is short enough to reap them all */
};

/* One instance, in its own process: the shared instance core (vmm/instance.c) plus where
 * this batch sends its console lines. */
struct child {
	struct instance in; /* first member */
	struct batch *b;
	int log_fd;
};

/* The one instance of this process, for its SIGTERM handler. */
static struct child *child_self;

static struct batch_record *slot(const struct batch *b, unsigned i)
{
	return (struct batch_record *)(void *)(b->slots + (size_t)i * b->slot_stride);
}

char *batch_expand_cmdline(const char *tmpl, unsigned id)
{
	return instance_expand_cmdline(tmpl, id);
}

/* One console line: to the log file or the prefixed stream. */
static void child_line(struct instance *in, const char *line, unsigned len)
{
	struct child *c = (struct child *)in;
	struct batch *b = c->b;
	if (b->log_dir[0]) {
		if (c->log_fd >= 0)
			(void)!write(c->log_fd, line, len);
	} else if (b->console_fd >= 0) {
		char buf[sizeof(in->line) + 24];
		int n = snprintf(buf, sizeof(buf), "[%u] ", in->index);
		memcpy(buf + n, line, len);
		n += (int)len;
		if (buf[n - 1] != '\n')
			buf[n++] = '\n';
		(void)!write(b->console_fd, buf, (size_t)n); /* one write: lines never interleave */
	}
}

/* Async-signal-safe: the launcher stops this instance. */
static void child_term(int sig)
{
	instance_interrupted(&child_self->in, sig, "stopped by the launcher (batch interrupted)");
}

static _Noreturn void child_main(struct batch *b, unsigned id)
{
	struct child *c = calloc(1, sizeof(*c));
	if (!c || instance_process_setup(b->launcher, child_term, &b->child_mask) < 0)
		_exit(1);
	child_self = c;
	c->b = b;
	c->log_fd = -1;
	/* Only the write end of the notes and our own record slot are ours; the launcher's
	 * signalfd, the notes' read end, the plot file and the other slots are not. */
	close(b->sfd);
	close(b->note[0]);
	if (b->plot_fd >= 0)
		close(b->plot_fd);
	size_t before = (size_t)id * b->slot_stride, after = before + b->slot_stride;
	if (before)
		munmap(b->slots, before);
	if (after < b->slots_len)
		munmap(b->slots + after, b->slots_len - after);
	/* Everything this instance opens after setup is opened now: the sandbox (vm_run)
	 * forbids open(2). The log is created here and removed by the launcher if the guest
	 * printed nothing; O_NOFOLLOW: a symlink planted in --log-dir is not followed. */
	if (b->log_dir[0]) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/vm-%u.log", b->log_dir, id);
		c->log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (c->log_fd < 0)
			log_warn("%s: %s; this instance's console is lost", path, strerror(errno));
	}
	struct instance *in = &c->in;
	in->rec = slot(b, id);
	in->note_fd = b->note[1];
	in->index = id;
	in->note_marks = b->progress;
	in->ready_re = b->have_re ? &b->ready_re : NULL;
	in->ready_text = b->cli->ready;
	in->on_line = child_line;
	in->capture_console = true;
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "vm %u: ", id);
	log_set_prefix(prefix);
	if (instance_init(in, &b->cli->vm, b->kernel, b->initrd, &b->kvm, id, b->t0) < 0) {
		in->vm.outcome = VM_FAILED;
		in->vm.failed_stage = -1;
		snprintf(in->vm.reason, sizeof(in->vm.reason), "--cmdline: {id}: out of memory");
		instance_finish(in);
	}
	if (instance_build(in) == 0)
		instance_run(in);
	instance_finish(in);
}

/* ---- the launcher ---- */

static int shared_init(struct batch *b)
{
	char why[320];
	if (instance_kvm_shared(&b->kvm, why, sizeof(why)) < 0) {
		log_err("%s", why);
		return -1;
	}
	b->reap_all = irqchip_resolve(b->cli->vm.irqchip, b->kernel,
	                              ioctl(b->kvm.kvm_fd, KVM_CHECK_EXTENSION,
	                                    KVM_CAP_TSC_DEADLINE_TIMER) > 0) == IRQCHIP_SPLIT;
	return 0;
}

static int log_dir_init(struct batch *b)
{
	const char *want = b->cli->log_dir;
	if (want) {
		if (strlen(want) >= sizeof(b->log_dir) - 32) {
			log_err("--log-dir: '%s': name too long", want);
			return -1;
		}
		struct stat st;
		if (mkdir(want, 0755) < 0 && errno != EEXIST) {
			log_err("--log-dir: '%s': %s", want, strerror(errno));
			return -1;
		}
		if (stat(want, &st) < 0 || !S_ISDIR(st.st_mode) || access(want, W_OK) < 0) {
			log_err("--log-dir: '%s': not a writable directory", want);
			return -1;
		}
		snprintf(b->log_dir, sizeof(b->log_dir), "%s", want);
		return 0;
	}
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(b->log_dir, sizeof(b->log_dir), "%s/fastvmm-batch.XXXXXX", tmp);
	if (!mkdtemp(b->log_dir)) {
		log_err("log directory under %s: %s (set --log-dir or TMPDIR)", tmp,
		        strerror(errno));
		return -1;
	}
	b->log_dir_made = true;
	return 0;
}

enum { INST_NEW, INST_RUNNING, INST_FINISHED, INST_REAPED }; /* launcher's view of an instance */

/* One note and the pid the kernel says sent it. 0, or -1 when none is waiting. */
static int note_recv(struct batch *b, uint32_t *note, pid_t *from)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(struct ucred))];
		} ctl;
		struct iovec iov = {.iov_base = note, .iov_len = sizeof(*note)};
		struct msghdr m = {.msg_iov = &iov,
		                   .msg_iovlen = 1,
		                   .msg_control = ctl.buf,
		                   .msg_controllen = sizeof(ctl.buf)};
		ssize_t got = recvmsg(b->note[0], &m, MSG_DONTWAIT);
		if (got < 0)
			return -1;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		if (got != sizeof(*note) || !cm || cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_CREDENTIALS)
			continue;
		struct ucred cr;
		memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
		*from = cr.pid;
		return 0;
	}
}

/* Every instance process not yet reaped (a finished one may still be tearing down). */
static void kill_all(const pid_t *pid, const unsigned char *state, unsigned n, int sig)
{
	for (unsigned i = 0; i < n; i++)
		if (state[i] == INST_RUNNING || state[i] == INST_FINISHED)
			kill(pid[i], sig);
}

/* What an instance wrote in its slot, into the launcher's record: the child is not trusted
 * (a guest may own it), so the fields the launcher owns stay its own, and the rest is made
 * safe to print. */
static void take_record(struct batch *b, unsigned i)
{
	struct batch_record *r = &b->rec[i];
	const struct batch_record *s = slot(b, i);
	int pid = r->pid;
	memcpy((void *)r, (const void *)s, sizeof(*r));
	r->pid = pid;
	r->signal = 0;
	uint8_t ok;
	memcpy(&ok, &s->ok, 1);
	r->ok = ok == 1;
	r->reason[sizeof(r->reason) - 1] = 0;
}

/* A process ended: peak RSS, and a record for one that died without writing its own. */
static void reaped(struct batch *b, unsigned i, int status, const struct rusage *ru)
{
	struct batch_record *r = &b->rec[i];
	if (atomic_load(&slot(b, i)->written))
		take_record(b, i);
	/* The process is gone: give its slot's page back (a long batch would otherwise keep one
	 * resident page per instance in the launcher). */
	madvise(slot(b, i), b->slot_stride, MADV_REMOVE);
	instance_reaped(r, status, ru);
}

static void progress(const struct batch *b, unsigned ready, unsigned n, bool final)
{
	static unsigned shown = ~0u;
	if (!b->progress || (!final && ready == shown))
		return;
	shown = ready;
	if (final)
		fputs("\r\033[K", stdout);
	else
		printf("\r%u/%u ready", ready, n);
	fflush(stdout);
}

/* The signals the launcher takes through its signalfd: children ending, and stop requests. */
static void launcher_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Launch, collect and reap; returns the signal that interrupted the batch (0: none). */
static int batch_loop(struct batch *b, unsigned n, unsigned parallel, unsigned *started)
{
	pid_t *pid = calloc(n, sizeof(*pid));
	unsigned char *state = calloc(n, 1), *ready = calloc(n, 1);
	sigset_t set;
	launcher_signals(&set);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	b->sfd = sfd;
	bool confined = false;
	int sig = 0;
	if (!pid || !state || !ready || sfd < 0) {
		log_err("batch: cannot set up the launcher: %s", strerror(errno ? errno : ENOMEM));
		free(pid);
		free(state);
		free(ready);
		return -1;
	}
	unsigned next = 0, inflight = 0, live = 0, nready = 0;
	uint64_t kill_at = 0;
	for (;;) {
		while (!sig && next < n && inflight < parallel) {
			unsigned i = next++;
			pid_t p = fork();
			if (p == 0)
				child_main(b, i);
			if (p < 0) {
				struct batch_record *r = &b->rec[i];
				r->outcome = VM_FAILED;
				r->exit_status = EXIT_VMM_FAILURE;
				snprintf(r->reason, sizeof(r->reason), "fork: %s", strerror(errno));
				state[i] = INST_REAPED;
				continue;
			}
			b->rec[i].pid = p;
			pid[i] = p;
			state[i] = INST_RUNNING;
			inflight++;
			live++;
			(*started)++;
		}
		if ((next == n || sig) && live == 0)
			break;
		/* Every instance is forked: the launcher only waits, reaps and reports now. */
		if (!confined && (next == n || sig)) {
			sandbox_keep_kill(b->cli->vm.jail.on); /* its instances have other uids */
			int r = sandbox_apply(SANDBOX_LAUNCHER);
			if (r < 0)
				log_warn("batch: sandbox: %s; the launcher runs unconfined",
				         strerror(-r));
			confined = true;
		}
		/* Every record is in. With the in-kernel irqchip an instance still tearing its VM
		 * down (15-23 ms) is not waited for: the sweep after the loop reaps what has gone,
		 * the rest is left to our parent's subreaper or init. With the split irqchip the
		 * teardown is a fraction of a millisecond and the instances are reaped below, so
		 * that nothing outlives the batch. */
		if (next == n && !sig && inflight == 0 && !b->reap_all)
			break;
		struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN},
		                       {.fd = b->note[0], .events = POLLIN}};
		int timeout = -1;
		if (kill_at) {
			uint64_t now = now_ns();
			timeout = now >= kill_at ? 0 : (int)((kill_at - now) / 1000000 + 1);
		}
		if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
			log_err("batch: poll: %s; stopping every instance", strerror(errno));
			break;
		}
		uint32_t note;
		pid_t from;
		while (note_recv(b, &note, &from) == 0) {
			uint32_t i = note & NOTE_INDEX;
			if (i >= n || pid[i] != from)
				continue; /* not from the instance it names: forged */
			if (note & (NOTE_RUNNING | NOTE_PREPARED))
				continue;
			if (note & NOTE_READY) {
				if (!ready[i]++)
					nready++;
			} else if (state[i] == INST_RUNNING) {
				/* Its record is complete: take it now, since an instance still
				 * tearing down a kernel irqchip may not be reaped before the
				 * launcher is done. */
				if (atomic_load(&slot(b, i)->written))
					take_record(b, i);
				state[i] = INST_FINISHED;
				inflight--;
			}
		}
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				continue; /* reaped below */
			if (!sig) {
				sig = (int)si.ssi_signo;
				kill_all(pid, state, n, SIGTERM);
				kill_at = now_ns() + KILL_GRACE_MS * 1000000ULL;
			} else {
				kill_all(pid, state, n, SIGKILL); /* asked twice: no more grace */
				kill_at = 0;
			}
		}
		int status;
		struct rusage ru;
		pid_t p;
		while ((p = wait4(-1, &status, WNOHANG, &ru)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				if (pid[i] != p || state[i] == INST_REAPED)
					continue;
				reaped(b, i, status, &ru);
				if (state[i] == INST_RUNNING)
					inflight--;
				state[i] = INST_REAPED;
				live--;
				break;
			}
		}
		if (kill_at && now_ns() >= kill_at) {
			kill_all(pid, state, n, SIGKILL);
			kill_at = 0;
		}
		progress(b, nready, n, false);
	}
	/* Records complete: reap whoever has already gone, without waiting. */
	for (int status; live && !sig && inflight == 0;) {
		struct rusage ru;
		pid_t p = wait4(-1, &status, WNOHANG, &ru);
		if (p <= 0)
			break;
		for (unsigned i = 0; i < n; i++)
			if (pid[i] == p && state[i] != INST_REAPED) {
				reaped(b, i, status, &ru);
				state[i] = INST_REAPED;
				live--;
				break;
			}
	}
	/* Only after a poll() failure or a signal: stop and reap what is left rather than
	 * orphan it. */
	if (live && (sig || inflight)) {
		kill_all(pid, state, n, SIGKILL);
		for (unsigned i = 0; i < n; i++) {
			int status;
			struct rusage ru;
			if (state[i] == INST_REAPED || wait4(pid[i], &status, 0, &ru) != pid[i])
				continue;
			reaped(b, i, status, &ru);
			state[i] = INST_REAPED;
		}
	}
	progress(b, nready, n, true);
	close(sfd);
	free(pid);
	free(state);
	free(ready);
	return sig;
}

/* Remove the log directory we made if no instance wrote to it; say whether it stays. Logs
 * of silent instances (created empty by the instance) are removed first. */
static bool log_dir_keep(struct batch *b, unsigned n)
{
	if (!b->log_dir[0])
		return false;
	for (unsigned i = 0; i < n; i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/vm-%u.log", b->log_dir, i);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
			unlink(path);
	}
	if (b->log_dir_made && rmdir(b->log_dir) == 0)
		return false;
	return true;
}

int batch_run(const struct cli *cli, const struct kernel_image *k, const struct blob *initrd,
              uint64_t t0)
{
	static struct batch b; /* static: children inherit it at the same address */
	memset(&b, 0, sizeof(b));
	b.cli = cli;
	b.kernel = k;
	b.initrd = initrd;
	b.t0 = t0;
	b.launcher = getpid();
	b.note[0] = b.note[1] = b.sfd = b.plot_fd = -1;
	unsigned n = cli->n, parallel = cli->parallel && cli->parallel < n ? cli->parallel : n;
	int status = EXIT_USAGE;
	FILE *plot = NULL;
	if (cli->ready) {
		int rc = regcomp(&b.ready_re, cli->ready, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[128];
			regerror(rc, &b.ready_re, msg, sizeof(msg));
			log_err("--ready: '%s': %s", cli->ready, msg);
			return EXIT_USAGE;
		}
		b.have_re = true;
	}
	if (shared_init(&b) < 0)
		goto out;
	if (cli->plot && !(plot = fopen(cli->plot, "we"))) {
		log_err("--plot: '%s': %s", cli->plot, strerror(errno));
		goto out;
	}
	b.plot_fd = plot ? fileno(plot) : -1;
	b.console_fd = -1;
	if (cli->console)
		b.console_fd = cli->vm.json ? STDERR_FILENO : STDOUT_FILENO;
	else if (!cli->vm.quiet && log_dir_init(&b) < 0) /* --quiet: consoles discarded */
		goto out;
	status = EXIT_VMM_FAILURE;
	b.rec_len = ALIGN_UP(n * sizeof(*b.rec), 4096);
	b.rec = mmap(NULL, b.rec_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b.slot_stride = ALIGN_UP(sizeof(*b.rec), 4096);
	b.slots_len = (size_t)n * b.slot_stride;
	b.slots =
	        mmap(NULL, b.slots_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b.rec == MAP_FAILED || b.slots == MAP_FAILED) {
		if (b.rec != MAP_FAILED)
			munmap(b.rec, b.rec_len);
		if (b.slots != MAP_FAILED)
			munmap(b.slots, b.slots_len);
		b.rec = NULL;
		b.slots = NULL;
		log_err("batch: cannot map %u records: %s", n, strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		b.rec[i].outcome = BATCH_NOT_STARTED;
		b.rec[i].failed_stage = -1;
		b.rec[i].exit_status = EXIT_VMM_FAILURE;
		snprintf(b.rec[i].reason, sizeof(b.rec[i].reason), "not launched");
	}
	int one = 1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, b.note) < 0 ||
	    setsockopt(b.note[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		log_err("batch: socketpair: %s", strerror(errno));
		goto out;
	}
	/* Not with --json (stdout is the document) nor --console (stdout is the consoles). */
	b.progress = !cli->vm.json && !cli->console && isatty(STDOUT_FILENO);
	/* Signals go to the launcher's signalfd; children restore the mask they had. */
	sigset_t set;
	launcher_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &b.child_mask);
	fflush(NULL);

	unsigned started = 0;
	int sig = batch_loop(&b, n, parallel, &started);
	uint64_t reaped_ns = now_ns() - t0;
	if (sig < 0)
		goto out;

	struct batch_result res = {
	        .n = n,
	        .started = started,
	        .parallel = parallel,
	        .rec = b.rec,
	        .reaped_ns = reaped_ns,
	        .signal = sig,
	        .kernel = k->name,
	        .ready_pattern = b.have_re,
	};
	bool all_ok = true;
	for (unsigned i = 0; i < n; i++) {
		const struct batch_record *r = &b.rec[i];
		uint64_t end = r->t_ns[ST_EXIT] ? r->t_ns[ST_EXIT] : r->t_done;
		if (end > res.wall_ns)
			res.wall_ns = end;
		all_ok &= batch_record_ok(r);
	}
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		res.launcher_rss_kb = (uint64_t)ru.ru_maxrss;
	static char kept[PATH_MAX];
	if (log_dir_keep(&b, n)) {
		snprintf(kept, sizeof(kept), "%s", b.log_dir);
		res.log_dir = kept;
	}
	b.log_dir[0] = 0; /* decided: out: leaves it alone */
	if (cli->vm.json) {
		batch_report_json(&res, stdout);
		fputc('\n', stdout);
	} else {
		batch_report_text(&res, stdout);
	}
	fflush(stdout);
	status = sig ? 128 + sig : all_ok ? EXIT_OK : 1;
	if (plot) {
		batch_plot_svg(&res, plot);
		if (fclose(plot) != 0) {
			log_err("--plot: '%s': %s", cli->plot, strerror(errno));
			if (!status)
				status = EXIT_VMM_FAILURE;
		}
		plot = NULL;
	}
out:
	if (plot) { /* made by us, never written */
		fclose(plot);
		unlink(cli->plot);
	}
	if (b.log_dir[0] && b.log_dir_made)
		rmdir(b.log_dir);
	if (b.rec) {
		munmap(b.rec, b.rec_len);
		munmap(b.slots, b.slots_len);
	}
	if (b.note[0] >= 0) {
		close(b.note[0]);
		close(b.note[1]);
	}
	instance_kvm_shared_free(&b.kvm);
	if (b.have_re)
		regfree(&b.ready_re);
	return status;
}
