/* include/sandbox.h — what a fastvmm thread may still do once its VM is set up.
 *
 * sandbox_apply(role) confines the CALLING thread (seccomp filters and capabilities are per
 * thread; threads created afterwards inherit them, and a later sandbox_apply() on such a
 * thread stacks a second filter: the kernel runs both and the stricter answer wins):
 *   1. drops every capability: the bounding set, then effective/permitted/inheritable and the
 *      ambient set (a VM needs none once /dev/kvm, the disk images and the taps are open);
 *   2. sets NO_NEW_PRIVS (required for an unprivileged filter; and no exec can regain them);
 *   3. loads an allow-list seccomp-bpf filter for the role (docs/security.md lists each).
 * A syscall outside the list raises SIGSYS (SECCOMP_RET_TRAP); the handler writes one line
 * "fastvmm: sandbox: <role> thread made a denied system call: <name> (nr N); stopping the VM"
 * and ends the process with status 159 (128 + SIGSYS, what a seccomp kill would report).
 *
 * Call it after the last setup step that needs open/socket/KVM_CREATE_* and before the guest
 * runs. Returns 0 or -errno (the filter is then not installed: callers must not run a guest
 * unsandboxed unless the user asked for --no-sandbox). */
#ifndef FASTVMM_SANDBOX_H
#define FASTVMM_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

enum sandbox_role {
	/* A vCPU thread: KVM_RUN and the exit handlers (serial output, virtio register access
	 * that may submit I/O, the MMIO-notify path). */
	SANDBOX_VCPU,
	/* The per-VM I/O thread: epoll, eventfds, io_uring, tap reads and writes. */
	SANDBOX_IO,
	/* The thread that owns a VM (single-VM main thread, a batch instance's process): runs
	 * vCPU 0, starts the other vCPU threads and the watchdog, tears the VM down, reports,
	 * and forks the teardown holder. Everything SANDBOX_VCPU allows, plus thread creation,
	 * poll, the teardown's munmap/close and fork without exec. */
	SANDBOX_VMM,
	/* A batch launcher once every instance is forked: it only waits, reads notes and
	 * signals, kills and reaps its children and writes the report. */
	SANDBOX_LAUNCHER,
	/* The daemon (fastvmm serve), its one thread, once its socket is bound: accept and
	 * HTTP/JSON (libmicrohttpd in its loop), signalfd/waitpid/kill, and fork() of
	 * instances. An instance inherits this filter and builds its VM
	 * under it, so it also allows what the build stage calls (open, KVM ioctls on fds it
	 * creates, eventfds, io_uring); the instance then stacks SANDBOX_VMM before its first
	 * KVM_RUN, so its run is exactly as confined as a batch instance's. Capabilities are
	 * not dropped here (an instance's tap needs CAP_NET_ADMIN); the instance drops them. */
	SANDBOX_SERVE,
	/* The OCI runtime's pod sandbox process (a Kubernetes "pause" container, no VM): once
	 * started it only waits for the signal that ends it. rules_common plus pause. */
	SANDBOX_PAUSE,
	SANDBOX_NROLES
};

/* "vcpu", "io", "vmm", "launcher", "serve", "pause". */
const char *sandbox_role_name(enum sandbox_role role);

/* Confine the calling thread (see above). Idempotent per thread only in effect: a second
 * call stacks another filter. */
int sandbox_apply(enum sandbox_role role);

/* In a process just forked by a confined daemon: a denial from here on is reported as the
 * instance's (under the daemon's inherited filter), not the daemon's. */
void sandbox_forked(void);

/* Whether sandbox_apply() does anything in this process (sandbox_disable() turns it off:
 * --no-sandbox, or unit tests). */
bool sandbox_enabled(void);

/* A snapshot will be saved after the filter is on: allow, in every role (the save runs on
 * whichever vCPU thread parks last), ftruncate and openat/unlinkat/renameat only relative to
 * dirfd (opened during setup). Call before sandbox_apply(). */
void sandbox_allow_snapshot(int dirfd);

/* The next sandbox_apply() keeps CAP_KILL (and nothing else): a batch launcher whose
 * instances run under --jail's other uids cannot signal them without it. Its filter still
 * allows kill() with SIGTERM and SIGKILL only. */
void sandbox_keep_kill(bool keep);

/* ---- the filters compiled at build time (vmm/gen/sandbox_gen.c) ---- */
/* The tgkill rule's pid in an exported filter: above PID_MAX_LIMIT (2^22), never a pid. */
#define SANDBOX_PID_PLACEHOLDER 0x7e5a1d00u
/* Write the role's filter as raw BPF (struct sock_filter[]) to fd, compiled by libseccomp
 * with tgkill limited to pid and, if sanitizer, the sanitizer runtimes' extra calls. */
int sandbox_export(enum sandbox_role role, bool sanitizer, uint32_t pid, int fd);
struct sock_filter;
/* The build-time filter of a role: n instructions, pids of them comparing with the
 * placeholder pid (tgkill's target). */
const struct sock_filter *sandbox_precompiled(enum sandbox_role role, unsigned *n, unsigned *pids);
/* Replace the placeholder pid in f[0, n) by pid; returns how many instructions changed. */
unsigned sandbox_patch_pid(struct sock_filter *f, unsigned n, uint32_t pid);
void sandbox_disable(void);

/* Test hook: if the environment names this role in FASTVMM_TEST_DENIED_SYSCALL, make a
 * system call no role allows (so tests can see that a denial is reported). Call it at the
 * point where the role's filter is on. */
void sandbox_selftest(enum sandbox_role role);

#endif
