/* include/jail.h — --jail: each VM process in namespaces of its own, as an unprivileged user,
 * inside a cgroup v2 group with limits (docs/security.md, "The jail").
 *
 * jail_enter() runs in the VM's process once setup is over (every file, /dev/kvm, the disks
 * and the taps are open) and before the sandbox and any thread other than the caller
 * exist. In order:
 *   1. cgroup v2 (unless --jail-cgroup none): a group PARENT/vm-<pid> with memory.max (guest
 *      RAM + JAIL_MEM_SLACK), memory.swap.max 0, pids.max and cpu.max (one CPU per vCPU);
 *      a keeper process, our sibling, removes the group once every process in it has gone;
 *   2. new mount, network, IPC and UTS namespaces; the root becomes an empty read-only
 *      tmpfs (pivot_root), so no path on the host resolves any more;
 *   3. the capability bounding set emptied, supplementary groups cleared, then
 *      setresgid/setresuid to the jail's ids (every capability goes with uid 0).
 * The sandbox (vmm/sandbox.c) then adds NO_NEW_PRIVS and the seccomp filter as without
 * --jail. A PID namespace is not used: see docs/security.md. */
#ifndef FASTVMM_JAIL_H
#define FASTVMM_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Headroom above guest RAM in memory.max: the VMM's own pages (page tables, io_uring rings,
 * the vCPU run areas, the process image), ~2-4 MiB measured, with room to spare. */
#define JAIL_MEM_SLACK (32ull << 20)
/* pids.max beyond one task per vCPU: main, I/O thread, watchdog, teardown holder. */
#define JAIL_PIDS_SLACK 6

struct jail_cfg {
	bool on;
	bool per_instance; /* "UID+": instance i runs as UID+i, GID+i */
	uid_t uid;
	gid_t gid;
	const char *cgroup; /* parent group; NULL: the default; "none": no cgroup */
};

/* "--jail" value: NULL → 65534:65534; "UID", "UID:GID", "UID+", "UID+:GID+"; uid/gid 0
 * refused. Returns 0 or -EINVAL with a reason in why. Pure. */
int jail_parse(struct jail_cfg *j, const char *arg, char *why, size_t n);

/* Before any VM work: --jail needs root (namespaces, setuid, cgroups). 0 or -EPERM. */
int jail_check(const struct jail_cfg *j, char *why, size_t n);

struct vm;
/* Jail the calling process (see above). 0, or -errno with vm->reason set; the VM must
 * then not run. Warns (one line) and goes on without cgroup limits when the host's
 * cgroup v2 hierarchy lacks the controllers and no --jail-cgroup was given. */
int jail_enter(struct vm *vm);

#endif
