/* vmm/sandbox.c — per-role seccomp allow-lists, NO_NEW_PRIVS and capability drop
 * (include/sandbox.h; docs/security.md explains every entry).
 *
 * Why SECCOMP_RET_TRAP and not RET_KILL_PROCESS: a single VM has no parent of ours that could
 * report a kill, and the user must learn WHICH call was refused. The SIGSYS handler runs on
 * the offending thread with the syscall number in si_syscall, writes one line with only
 * async-signal-safe calls (write, _exit) and ends the process: the VM never continues after a
 * denial. rt_sigaction(SIGSYS) is itself denied, so a confined thread cannot replace the
 * handler; if it could, it would still be confined (the filter, not the handler, refuses). */
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cc.h"
#include "log.h"
#include "sandbox.h"

/* Sanitizer builds: their runtimes make calls of their own (rules_sanitizer()). */
#if defined(__SANITIZE_ADDRESS__)
#define FASTVMM_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FASTVMM_SAN 1
#endif
#endif

/* Generated at build time from <sys/syscall.h> (Makefile): [nr] = "name". */
static const char *const syscall_names[] = {
#include "syscall_names.h"
};

static bool disabled;
static _Thread_local int thread_role = -1; /* -1: inherited a filter, or none */
/* SANDBOX_SERVE once the daemon is confined; -2 in an instance it forked, until that
 * instance's own filter is on. */
static int process_role = -1;

static const char *const role_names[SANDBOX_NROLES] = {
        [SANDBOX_VCPU] = "vcpu",         [SANDBOX_IO] = "io",       [SANDBOX_VMM] = "vmm",
        [SANDBOX_LAUNCHER] = "launcher", [SANDBOX_SERVE] = "serve", [SANDBOX_PAUSE] = "pause",
};

const char *sandbox_role_name(enum sandbox_role role)
{
	return (unsigned)role < SANDBOX_NROLES ? role_names[role] : "?";
}

void sandbox_forked(void)
{
	if (process_role == SANDBOX_SERVE) {
		process_role = -2;
		thread_role = -2;
	}
}

bool sandbox_enabled(void)
{
	return !disabled;
}

void sandbox_disable(void)
{
	disabled = true;
}

/* ---- the denial report (async-signal-safe) ---- */

static size_t put_str(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		buf[n++] = *s++;
	return n;
}

static size_t put_uint(char *buf, size_t n, size_t cap, unsigned long v)
{
	char d[24];
	size_t k = 0;
	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10) && k < sizeof(d));
	while (k && n < cap)
		buf[n++] = d[--k];
	return n;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	char line[256];
	size_t n = 0, cap = sizeof(line) - 1;
	unsigned nr = (unsigned)si->si_syscall;
	int role = thread_role;
	if (role == -1 && process_role != -1)
		role = process_role;
	const char *name =
	        nr < ARRAY_SIZE(syscall_names) && syscall_names[nr] ? syscall_names[nr] : "unknown";
	n = put_str(line, n, cap, "fastvmm: sandbox: ");
	n = put_str(line, n, cap,
	            role >= 0    ? role_names[role]
	            : role == -2 ? "instance (the daemon's inherited serve filter)"
	                         : "vmm (inherited filter)");
	n = put_str(line, n, cap, " thread made a denied system call: ");
	n = put_str(line, n, cap, name);
	n = put_str(line, n, cap, " (nr ");
	n = put_uint(line, n, cap, nr);
	/* For a denied open, the file says who asked: the name, up to 64 bytes. */
	const ucontext_t *u = uc;
	const char *path = nr == SYS_openat ? (const char *)u->uc_mcontext.gregs[REG_RSI]
	                   : nr == SYS_open ? (const char *)u->uc_mcontext.gregs[REG_RDI]
	                                    : NULL;
	if (path) {
		char p[65];
		size_t k = 0;
		while (k < sizeof(p) - 1 && path[k])
			p[k] = path[k], k++;
		p[k] = 0;
		n = put_str(line, n, cap, ", of ");
		n = put_str(line, n, cap, p);
	}
	n = put_str(line, n, cap,
	            role == SANDBOX_SERVE ? "); stopping the daemon\n" : "); stopping the VM\n");
	(void)!write(STDERR_FILENO, line, n);
	_exit(128 + SIGSYS);
}

/* ---- the allow-lists ---- */

#define ALLOW(ctx, name) seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0)

/* ioctls on already open fds, all roles: KVM_RUN and the registers an exit handler reads
 * (diagnosis of an internal error), interrupt injection without irqfd, the tap offloads a
 * driver negotiates at FEATURES_OK, TCGETS (stdio's isatty), and KVM_SET_GSI_ROUTING: with the
 * split irqchip a guest's write to an IOAPIC redirection entry re-routes that GSI's irqfd as
 * an MSI (devices/ioapic.c), at any time the guest likes. */
static const unsigned long allowed_ioctls[] = {
        KVM_RUN,      KVM_GET_REGS,        KVM_GET_SREGS,  KVM_TRANSLATE,
        KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_SIGNAL_MSI, TUNSETOFFLOAD,
        TCGETS,       KVM_SET_GSI_ROUTING,
};

static int snapshot_dirfd = -1;

/* The tgkill rule's pid: this process's when compiled here; SANDBOX_PID_PLACEHOLDER in the
 * filters compiled at build time, replaced by the pid when they are loaded. */
static uint32_t rule_pid;
/* The sanitizer runtimes' extra calls (rules_sanitizer()) are in the filters. */
static bool rule_san;

void sandbox_allow_snapshot(int dirfd)
{
	snapshot_dirfd = dirfd;
}

/* The save of vmm/snapshot.c, in every VM process (a daemon's VM may be told to snapshot
 * itself at any time, into files the daemon opened and passed over its control socket):
 * ioctls that only read the VM's state, and syncing open files. Nothing here opens a path. */
static const unsigned long snapshot_ioctls[] = {
        KVM_GET_CLOCK,          KVM_GET_CPUID2, KVM_GET_DEBUGREGS,   KVM_GET_FPU,
        KVM_GET_IRQCHIP,        KVM_GET_LAPIC,  KVM_GET_MP_STATE,    KVM_GET_MSRS,
        KVM_GET_MSR_INDEX_LIST, KVM_GET_PIT2,   KVM_GET_VCPU_EVENTS, KVM_GET_XCRS,
        KVM_GET_XSAVE,          KVM_GET_XSAVE2, KVM_CHECK_EXTENSION,
};

static int rules_snapshot_save(scmp_filter_ctx ctx)
{
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(snapshot_ioctls) && !r; i++)
		r = seccomp_rule_add(
		        ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)snapshot_ioctls[i]));
	if (!r)
		r = ALLOW(ctx, fsync);
	if (!r)
		r = ALLOW(ctx, fdatasync);
	return r;
}

/* --snapshot DIR (the CLI): files only under the directory fd. openat's flags are not
 * restricted (O_CREAT|O_WRONLY is what it needs), and an fd from openat could be any file
 * the *at name reaches: the name is relative to dirfd, but a ".." or an absolute name is not
 * refused by the filter (seccomp cannot read the string). The daemon's snapshots need none
 * of this. */
static int rules_snapshot_dir(scmp_filter_ctx ctx)
{
	if (snapshot_dirfd < 0)
		return 0;
	int r = ALLOW(ctx, ftruncate);
	scmp_datum_t d = (scmp_datum_t)snapshot_dirfd;
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		                     SCMP_A0(SCMP_CMP_EQ, d));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unlinkat), 1,
		                     SCMP_A0(SCMP_CMP_EQ, d));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat), 2,
		                     SCMP_A0(SCMP_CMP_EQ, d), SCMP_A2(SCMP_CMP_EQ, d));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat2), 2,
		                     SCMP_A0(SCMP_CMP_EQ, d), SCMP_A2(SCMP_CMP_EQ, d));
	return r;
}

static int rules_common(scmp_filter_ctx ctx)
{
	static const int sys[] = {
	        SCMP_SYS(read),
	        SCMP_SYS(write),
	        SCMP_SYS(readv),
	        SCMP_SYS(writev),
	        SCMP_SYS(pread64),
	        SCMP_SYS(pwrite64),
	        SCMP_SYS(close),
	        SCMP_SYS(futex),
	        SCMP_SYS(rt_sigreturn),
	        SCMP_SYS(rt_sigprocmask),
	        SCMP_SYS(exit),
	        SCMP_SYS(exit_group),
	        SCMP_SYS(clock_gettime),
	        SCMP_SYS(gettimeofday),
	        SCMP_SYS(clock_nanosleep),
	        SCMP_SYS(nanosleep),
	        SCMP_SYS(gettid),
	        SCMP_SYS(getpid),
	        SCMP_SYS(madvise),
	        SCMP_SYS(munmap),
	        SCMP_SYS(brk),
	        SCMP_SYS(sched_yield),
	        SCMP_SYS(restart_syscall),
	        SCMP_SYS(getrandom),
	        SCMP_SYS(io_uring_enter),
	        SCMP_SYS(epoll_ctl),
	        SCMP_SYS(fstat),
	        SCMP_SYS(newfstatat),
	        SCMP_SYS(lseek),
	        SCMP_SYS(mremap),
	        SCMP_SYS(mincore), /* gm_resident(): the guest RAM figure of a report */
	};
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sys) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	/* Memory, never executable: no new code can be mapped into a confined process. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
		                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
		                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals only to our own threads (vCPU kicks). */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)rule_pid));
	for (size_t i = 0; i < ARRAY_SIZE(allowed_ioctls) && !r; i++)
		r = seccomp_rule_add(
		        ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)allowed_ioctls[i]));
	/* glibc's pthread_create tries clone3 first and falls back to clone on ENOSYS; clone3's
	 * flags live in memory a filter cannot read, so it is refused softly everywhere. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!r)
		r = rules_snapshot_save(ctx);
	if (!r)
		r = rules_snapshot_dir(ctx);
	return r;
}

static int rules_io(scmp_filter_ctx ctx)
{
	int r = ALLOW(ctx, epoll_wait);
	if (!r)
		r = ALLOW(ctx, epoll_pwait);
	return r;
}

static int rules_vmm(scmp_filter_ctx ctx)
{
	static const int sys[] = {
	        SCMP_SYS(set_robust_list),
	        SCMP_SYS(rseq),
	        SCMP_SYS(sigaltstack),
	        SCMP_SYS(poll),
	        SCMP_SYS(ppoll),
	        SCMP_SYS(pipe2),
	        SCMP_SYS(pause),
	        SCMP_SYS(rt_sigsuspend),
	        SCMP_SYS(epoll_wait),
	        SCMP_SYS(epoll_pwait),
	        SCMP_SYS(sched_getaffinity),
	        SCMP_SYS(prlimit64),
	        SCMP_SYS(recvmsg), /* the watchdog: a daemon's snapshot order, with its files */
	};
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sys) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	/* Threads (vCPUs, watchdog) ... */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* ... and fork() for the teardown holder: these exact flags, no namespaces. */
	if (!r)
		r = seccomp_rule_add(
		        ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		        SCMP_A0(SCMP_CMP_EQ, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD));
	/* ... or, as vmm/main.c makes it, our sibling (CLONE_PARENT): no zombie of init. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		                     SCMP_A0(SCMP_CMP_EQ, CLONE_PARENT | SIGCHLD));
	/* Threads it starts confine themselves further (sandbox_apply() on the new thread):
	 * adding a filter, dropping capabilities and NO_NEW_PRIVS can only take away. */
	if (!r)
		r = ALLOW(ctx, seccomp);
	if (!r)
		r = ALLOW(ctx, capset);
	if (!r)
		r = ALLOW(ctx, capget); /* drop_caps(): a vCPU thread's are already gone */
	static const int prctl_ops[] = {PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT,
	                                PR_GET_SECCOMP};
	for (size_t i = 0; i < ARRAY_SIZE(prctl_ops) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctl_ops[i]));
	/* Handlers for the vCPU kick and batch SIGTERM; never SIGSYS (the denial report). */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 1,
		                     SCMP_A0(SCMP_CMP_NE, SIGSYS));
	return r;
}

static int rules_launcher(scmp_filter_ctx ctx)
{
	static const int sys[] = {
	        SCMP_SYS(poll),    SCMP_SYS(ppoll),         SCMP_SYS(wait4),
	        SCMP_SYS(rmdir),   SCMP_SYS(unlink),        SCMP_SYS(getrusage),
	        SCMP_SYS(pause),   SCMP_SYS(rt_sigsuspend), SCMP_SYS(sigaltstack),
	        SCMP_SYS(recvmsg), /* instance notes, with the sender's credentials */
	        SCMP_SYS(sysinfo), /* glibc's qsort() asks the RAM size (the report's sort) */
	};
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sys) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	/* Stopping its instances: SIGTERM, then SIGKILL. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		                     SCMP_A1(SCMP_CMP_EQ, SIGTERM));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		                     SCMP_A1(SCMP_CMP_EQ, SIGKILL));
	return r;
}

/* The daemon: everything a launcher does, what the VMM role does (an instance inherits this
 * filter and later stacks SANDBOX_VMM on it, so nothing the VMM role allows may be missing),
 * its own loop (accept, epoll, signalfd, unlink of the socket at exit), and the build stage
 * of every instance it forks (files, /dev/kvm objects, eventfds, io_uring, the tap). ioctl is
 * allowed on any request: the build stage's KVM ioctls are on fds it creates itself, and the
 * instance's own filter (SANDBOX_VMM) narrows ioctl back to the run-time list before the
 * first KVM_RUN. */
static int rules_serve(scmp_filter_ctx ctx)
{
	static const int sys[] = {
	        SCMP_SYS(accept4),
	        SCMP_SYS(accept),
	        SCMP_SYS(epoll_create1),
	        SCMP_SYS(epoll_wait),
	        SCMP_SYS(epoll_pwait),
	        SCMP_SYS(epoll_ctl),
	        SCMP_SYS(signalfd4),
	        SCMP_SYS(shutdown),
	        SCMP_SYS(getsockopt),
	        SCMP_SYS(setsockopt),
	        SCMP_SYS(sendto),
	        SCMP_SYS(recvfrom),
	        SCMP_SYS(sendmsg),
	        SCMP_SYS(getpeername),
	        SCMP_SYS(getsockname),
	        SCMP_SYS(fcntl),
	        SCMP_SYS(openat),
	        SCMP_SYS(open),
	        SCMP_SYS(ioctl),
	        SCMP_SYS(eventfd2),
	        SCMP_SYS(io_uring_setup),
	        SCMP_SYS(io_uring_register),
	        SCMP_SYS(getppid),
	        SCMP_SYS(setpriority),
	        SCMP_SYS(getpriority),
	        SCMP_SYS(close_range),
	        SCMP_SYS(dup),
	        SCMP_SYS(dup2),
	        SCMP_SYS(dup3),
	        SCMP_SYS(ftruncate),
	        SCMP_SYS(fallocate),
	        SCMP_SYS(unlinkat),
	        SCMP_SYS(mkdirat), /* snapshots of running VMs, under --snapshot-root */
	        SCMP_SYS(renameat),
	        SCMP_SYS(renameat2),
	        SCMP_SYS(memfd_create),
	        SCMP_SYS(readlink),
	        SCMP_SYS(statx),
	        SCMP_SYS(access),
	        SCMP_SYS(faccessat),
	        SCMP_SYS(faccessat2),
	        SCMP_SYS(getdents64),
	        SCMP_SYS(sched_setaffinity),
	        SCMP_SYS(getrlimit),
	        SCMP_SYS(setrlimit),
	        SCMP_SYS(uname),
	        SCMP_SYS(getuid),
	        SCMP_SYS(geteuid),
	        SCMP_SYS(getgid),
	        SCMP_SYS(getegid),
	        SCMP_SYS(socketpair),
	        SCMP_SYS(mlock),
	        SCMP_SYS(munlock),
	        SCMP_SYS(fsync),
	        SCMP_SYS(fdatasync),
	        SCMP_SYS(timerfd_create),
	        SCMP_SYS(timerfd_settime),
	        SCMP_SYS(kill),
	        SCMP_SYS(tgkill),
	        SCMP_SYS(wait4),
	        SCMP_SYS(waitid),
	        SCMP_SYS(select),
	        SCMP_SYS(pselect6),
	        SCMP_SYS(rt_sigaction),
	        SCMP_SYS(prctl),
	        SCMP_SYS(clone),
	        SCMP_SYS(set_tid_address),
	        SCMP_SYS(mbind),
	        SCMP_SYS(get_mempolicy),
	        SCMP_SYS(flock),
	        SCMP_SYS(fadvise64),
	        SCMP_SYS(fstatfs),
	        SCMP_SYS(statfs),
	        SCMP_SYS(preadv),
	        SCMP_SYS(pwritev),
	        SCMP_SYS(preadv2),
	        SCMP_SYS(pwritev2),
	        SCMP_SYS(fchmod),
	        SCMP_SYS(copy_file_range),
	        SCMP_SYS(ioprio_set),
	        SCMP_SYS(sched_getparam),
	        SCMP_SYS(sched_setscheduler),
	        SCMP_SYS(sched_getscheduler),
	};
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sys) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	if (!r)
		r = rules_vmm(ctx);
	if (!r)
		r = rules_launcher(ctx);
	return r;
}

/* Sanitizer runtimes make calls of their own (LeakSanitizer stops the world with ptrace from
 * a cloned task at exit; ASan reads /proc/self/maps). Only in those builds. */
static int rules_sanitizer(scmp_filter_ctx ctx)
{
	static const int sys[] = {
	        SCMP_SYS(ptrace),       SCMP_SYS(clone),       SCMP_SYS(openat),
	        SCMP_SYS(open),         SCMP_SYS(getdents64),  SCMP_SYS(getdents),
	        SCMP_SYS(prctl),        SCMP_SYS(wait4),       SCMP_SYS(sched_getaffinity),
	        SCMP_SYS(sigaltstack),  SCMP_SYS(getppid),     SCMP_SYS(readlink),
	        SCMP_SYS(rt_sigaction), SCMP_SYS(prlimit64),   SCMP_SYS(getrlimit),
	        SCMP_SYS(setrlimit),    SCMP_SYS(sched_yield), SCMP_SYS(set_robust_list),
	        SCMP_SYS(rseq),         SCMP_SYS(kill),        SCMP_SYS(tgkill),
	        SCMP_SYS(uname),        SCMP_SYS(getpid),
	};
	int r = 0;
	for (size_t i = 0; rule_san && i < ARRAY_SIZE(sys) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	return r;
}

/* The whole filter of a role, compiled by libseccomp (about 1 ms here). */
static int rules_build(scmp_filter_ctx *out, enum sandbox_role role)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	int r = rules_common(ctx);
	if (!r) {
		switch (role) {
		case SANDBOX_VCPU:
			break;
		case SANDBOX_IO:
			r = rules_io(ctx);
			break;
		case SANDBOX_VMM:
			r = rules_vmm(ctx);
			break;
		case SANDBOX_LAUNCHER:
			r = rules_launcher(ctx);
			break;
		case SANDBOX_SERVE:
			r = rules_serve(ctx);
			break;
		case SANDBOX_PAUSE:
			r = ALLOW(ctx, pause);
			if (!r)
				r = ALLOW(ctx, rt_sigsuspend);
			break;
		case SANDBOX_NROLES:
			r = -EINVAL;
			break;
		}
	}
	if (!r)
		r = rules_sanitizer(ctx);
	if (r < 0) {
		seccomp_release(ctx);
		return r;
	}
	*out = ctx;
	return 0;
}

int sandbox_export(enum sandbox_role role, bool sanitizer, uint32_t pid, int fd)
{
	if ((unsigned)role >= SANDBOX_NROLES)
		return -EINVAL;
	rule_pid = pid;
	rule_san = sanitizer;
	scmp_filter_ctx ctx;
	int r = rules_build(&ctx, role);
	if (r < 0)
		return r;
	r = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	return r;
}

unsigned sandbox_patch_pid(struct sock_filter *f, unsigned n, uint32_t pid)
{
	unsigned patched = 0;
	for (unsigned i = 0; i < n; i++)
		if (f[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && f[i].k == SANDBOX_PID_PLACEHOLDER) {
			f[i].k = pid;
			patched++;
		}
	return patched;
}

#ifndef SANDBOX_GENERATOR
/* Every role's filter, compiled at build time (vmm/gen/sandbox_gen.c): loading one costs a
 * copy and a system call instead of libseccomp's compilation, which every VM paid for two or
 * three filters before its first instruction. */
#include "seccomp_bpf.h"
#ifdef FASTVMM_SAN
#if !SANDBOX_BPF_SANITIZER
#error "build/gen/seccomp_bpf.h was generated for a build without sanitizers"
#endif
#elif SANDBOX_BPF_SANITIZER
#error "build/gen/seccomp_bpf.h was generated for a sanitizer build"
#endif

const struct sock_filter *sandbox_precompiled(enum sandbox_role role, unsigned *n, unsigned *pids)
{
	if ((unsigned)role >= SANDBOX_NROLES)
		return NULL;
	*n = sandbox_bpf[role].n;
	*pids = sandbox_bpf[role].pids;
	return sandbox_bpf[role].f;
}

/* The role's precompiled filter with this process's pid. -EAGAIN: use libseccomp instead. */
static int load_precompiled(enum sandbox_role role)
{
	unsigned n, pids;
	const struct sock_filter *src = sandbox_precompiled(role, &n, &pids);
	if (!src || !n || n > BPF_MAXINSNS)
		return -EAGAIN;
	struct sock_filter *f = malloc(n * sizeof(*f));
	if (!f)
		return -ENOMEM;
	memcpy(f, src, n * sizeof(*f));
	/* As many pids as the generator saw placeholders (the serve role allows tgkill to any
	 * pid: none), or the filter is not what we think. */
	if (sandbox_patch_pid(f, n, (uint32_t)getpid()) != pids) {
		free(f);
		return -EAGAIN;
	}
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
	int r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
	free(f);
	return r;
}
#else
static int load_precompiled(enum sandbox_role role)
{
	(void)role;
	return -EAGAIN; /* the generator itself: no filters yet */
}
#endif

/* Every capability out of this thread: bounding set (needs CAP_SETPCAP: skipped when we never
 * had it), ambient, then effective/permitted/inheritable. A thread created after its VMM
 * thread dropped them (every vCPU thread) inherited the empty sets: one capget() says so, and
 * the 40-odd calls of the bounding-set loop (~0.1 ms here) are skipped. */
static bool keep_kill;

void sandbox_keep_kill(bool keep)
{
	keep_kill = keep;
}

static int drop_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	bool kill_only = keep_kill; /* CAP_KILL is 5: data[0] */
	uint32_t keep = kill_only ? 1u << CAP_KILL : 0;
	if (syscall(SYS_capget, &hdr, data) == 0 &&
	    !((data[0].effective & ~keep) | (data[0].permitted & ~keep) | data[0].inheritable |
	      data[1].effective | data[1].permitted | data[1].inheritable))
		return 0; /* nothing to drop; no exec can add any (NO_NEW_PRIVS, execve denied) */
	keep &= data[0].permitted;
	for (unsigned long cap = 0; cap <= 63; cap++)
		if (!(kill_only && cap == CAP_KILL) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
		    errno == EINVAL)
			break; /* past CAP_LAST_CAP */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep;
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int sandbox_apply(enum sandbox_role role)
{
	if (disabled)
		return 0;
	if ((unsigned)role >= SANDBOX_NROLES)
		return -EINVAL;
	int r = role == SANDBOX_SERVE ? 0 : drop_caps();
	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Once per process: a thread confined by an inherited filter may not call it. */
	static atomic_bool have_handler;
	if (!atomic_load(&have_handler)) {
		struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
		sigfillset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) < 0)
			return -errno;
		atomic_store(&have_handler, true);
	}
	/* The build-time filter, unless a snapshot's directory fd must go into the rules. */
	r = snapshot_dirfd < 0 ? load_precompiled(role) : -EAGAIN;
	if (r == -EAGAIN) {
		rule_pid = (uint32_t)getpid();
#ifdef FASTVMM_SAN
		rule_san = true;
#endif
		scmp_filter_ctx ctx;
		r = rules_build(&ctx, role);
		if (!r) {
			r = seccomp_load(ctx); /* this thread only: no SECCOMP_FILTER_FLAG_TSYNC */
			seccomp_release(ctx);
		}
	}
	if (r < 0)
		return r;
	thread_role = (int)role;
	if (role == SANDBOX_SERVE)
		process_role = (int)role;
	return 0;
}

void sandbox_selftest(enum sandbox_role role)
{
	const char *want = getenv("FASTVMM_TEST_DENIED_SYSCALL");
	if (!want || strcmp(want, sandbox_role_name(role)) != 0 || disabled)
		return;
	/* socket(2): no role allows it; a confined VMM never needs a new endpoint. */
	syscall(SYS_socket, 1, 1, 0);
	log_err("sandbox: the test's denied system call returned: the filter is not on");
}
