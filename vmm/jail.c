/* vmm/jail.c — --jail: namespaces, an unprivileged uid and a cgroup v2 group per VM process
 * (include/jail.h; docs/security.md). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"
#include "vmm.h"

#define JAIL_DEFAULT_ID 65534 /* nobody / nogroup */

PRINTF(2, 3) static void reason(struct vm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
	va_end(ap);
}

static int parse_id(const char *s, const char *end, unsigned *id, bool *plus)
{
	*plus = end > s && end[-1] == '+';
	if (*plus)
		end--;
	if (end == s || end - s > 10)
		return -EINVAL;
	unsigned long long v = 0;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v == 0 || v >= 0xffffffffull) /* 0 is root; (uid_t)-1 means "unchanged" */
		return -ERANGE;
	*id = (unsigned)v;
	return 0;
}

int jail_parse(struct jail_cfg *j, const char *arg, char *why, size_t n)
{
	j->on = true;
	j->uid = j->gid = JAIL_DEFAULT_ID;
	j->per_instance = false;
	if (!arg)
		return 0;
	const char *colon = strchr(arg, ':');
	const char *uend = colon ? colon : arg + strlen(arg);
	unsigned uid, gid;
	bool up, gp = false;
	int r = parse_id(arg, uend, &uid, &up);
	if (!r && colon)
		r = parse_id(colon + 1, colon + 1 + strlen(colon + 1), &gid, &gp);
	if (r == -ERANGE) {
		snprintf(why, n, "--jail: '%s': ids must be from 1 to 4294967294 (0 is root)", arg);
		return -EINVAL;
	}
	if (r < 0 || (colon && up != gp)) {
		snprintf(why, n, "--jail: '%s': expected UID[:GID], UID+ or UID+:GID+", arg);
		return -EINVAL;
	}
	j->uid = uid;
	j->gid = colon ? gid : uid;
	j->per_instance = up;
	return 0;
}

int jail_check(const struct jail_cfg *j, char *why, size_t n)
{
	if (j->on && geteuid() != 0) {
		snprintf(why, n, "--jail: needs root (namespaces, cgroups and the switch of user)");
		return -EPERM;
	}
	return 0;
}

/* ---- cgroup v2 ---- */

static bool is_cgroup2(const char *path)
{
	struct statfs s;
	return statfs(path, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, val, strlen(val));
	int r = w == (ssize_t)strlen(val) ? 0 : w < 0 ? -errno : -EIO;
	close(fd);
	return r;
}

/* Whether every word of want appears in DIR/cgroup.subtree_control (what children get). */
static bool has_controllers(const char *dir, const char *const *want, size_t nwant)
{
	char path[PATH_MAX], buf[512];
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got < 0)
		return false;
	buf[got] = 0;
	for (size_t i = 0; i < nwant; i++) {
		size_t l = strlen(want[i]);
		bool found = false;
		for (char *p = buf; (p = strstr(p, want[i])) != NULL; p += l)
			if ((p == buf || p[-1] == ' ' || p[-1] == 0) &&
			    (p[l] == ' ' || p[l] == '\n' || p[l] == 0))
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* Enable the controllers for DIR's children; failures show in has_controllers(). */
static void enable_controllers(const char *dir)
{
	static const char *const ctl[] = {"+memory", "+pids", "+cpu"};
	for (size_t i = 0; i < ARRAY_SIZE(ctl); i++)
		(void)write_file(dir, "cgroup.subtree_control", ctl[i]);
}

/* The keeper: our sibling, outside the group, holding only the read end of a pipe whose
 * write end every process of the VM holds. At EOF the VM and its holder are gone: remove
 * the (by then empty) group, retrying while the last exits are still being accounted. */
static pid_t spawn_keeper(const char *group, int *wfd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0 && errno == EINVAL) /* a namespace's init has no parent to hand to */
		pid = fork();
	if (pid == 0) {
		/* Async-signal-safe calls only from here. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		if (dup2(p[0], 0) < 0)
			_exit(1);
		syscall(SYS_close_range, 1u, ~0u, 0u); /* no VM fd may outlive the VM here */
		char c;
		while (read(0, &c, 1) != 0 && (errno == EINTR || errno == 0))
			;
		struct timespec ts = {0, 1000000};
		for (int i = 0; i < 200 && rmdir(group) < 0 && errno == EBUSY; i++) {
			nanosleep(&ts, NULL);
			if (ts.tv_nsec < 50000000)
				ts.tv_nsec *= 2;
		}
		_exit(0);
	}
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return -1;
	}
	*wfd = p[1]; /* kept open until this process exits: the keeper's signal */
	return pid;
}

static int cgroup_enter(struct vm *vm, const struct jail_cfg *j)
{
	char parent[PATH_MAX];
	bool asked = j->cgroup != NULL;
	if (asked) {
		snprintf(parent, sizeof(parent), "%s", j->cgroup);
	} else {
		const char *mnt = is_cgroup2("/sys/fs/cgroup")           ? "/sys/fs/cgroup"
		                  : is_cgroup2("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified"
		                                                         : NULL;
		if (!mnt) {
			log_warn("jail: no cgroup v2 hierarchy mounted; the VM runs without cgroup "
			         "limits");
			return 0;
		}
		enable_controllers(mnt);
		snprintf(parent, sizeof(parent), "%s/fastvmm", mnt);
		if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
			reason(vm, "jail: %s: %s", parent, strerror(errno));
			return -errno;
		}
	}
	if (!is_cgroup2(parent)) {
		reason(vm,
		       "jail: --jail-cgroup %s: not a cgroup v2 "
		       "directory",
		       parent);
		return -ENOTDIR;
	}
	enable_controllers(parent);
	static const char *const need[] = {"memory", "pids"};
	if (!has_controllers(parent, need, ARRAY_SIZE(need))) {
		if (asked) {
			reason(vm,
			       "jail: %s: the memory and pids controllers cannot be enabled for "
			       "its "
			       "children",
			       parent);
			return -EOPNOTSUPP;
		}
		log_warn("jail: %s: no memory/pids controllers in cgroup v2 (held by cgroup v1?); "
		         "the VM runs without cgroup limits",
		         parent);
		return 0;
	}
	static const char *const cpu[] = {"cpu"};
	bool have_cpu = has_controllers(parent, cpu, 1);
	char group[PATH_MAX], val[64];
	if (snprintf(group, sizeof(group), "%s/vm-%d", parent, (int)getpid()) >=
	    (int)sizeof(group)) {
		reason(vm, "jail: %s: path too long", parent);
		return -ENAMETOOLONG;
	}
	if (mkdir(group, 0755) < 0) {
		int r = -errno;
		reason(vm, "jail: %s: %s", group, strerror(-r));
		return r;
	}
	int r;
	snprintf(val, sizeof(val), "%llu",
	         (unsigned long long)(vm->cfg->mem_size + JAIL_MEM_SLACK));
	const char *what = "memory.max";
	r = write_file(group, what, val);
	if (!r) {
		snprintf(val, sizeof(val), "%u", vm->cfg->cpus + JAIL_PIDS_SLACK);
		r = write_file(group, what = "pids.max", val);
	}
	if (!r && write_file(group, "memory.swap.max", "0") == -EACCES)
		r = -EACCES; /* absent without swap accounting: fine; refused: not */
	if (!r && have_cpu) {
		snprintf(val, sizeof(val), "%u 100000", vm->cfg->cpus * 100000u);
		r = write_file(group, what = "cpu.max", val);
	}
	int wfd = -1;
	if (!r && spawn_keeper(group, &wfd) < 0)
		r = -errno, what = "keeper process";
	if (!r)
		r = write_file(group, what = "cgroup.procs", "0");
	if (r < 0) {
		reason(vm, "jail: %s/%s: %s", group, what, strerror(-r));
		if (wfd < 0)
			rmdir(group);
		return r; /* with a keeper: it removes the group as we exit */
	}
	log_info("jail: cgroup %s (memory.max %llu, pids.max %u%s)", group,
	         (unsigned long long)(vm->cfg->mem_size + JAIL_MEM_SLACK),
	         vm->cfg->cpus + JAIL_PIDS_SLACK, have_cpu ? ", cpu.max" : ", no cpu controller");
	return 0;
}

/* ---- namespaces and the empty root ---- */

static int empty_root(struct vm *vm)
{
	const char *step = "unshare";
	int r = unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS);
	/* Nothing we mount may propagate back to the host's namespace. */
	if (!r)
		r = mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), step = "make / private";
	/* An empty tmpfs over a directory every Linux has, then made the root. */
	if (!r)
		r = mount("fastvmm-jail", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		          "size=4k,nr_inodes=2,mode=0555"),
		step = "tmpfs";
	if (!r)
		r = chdir("/proc"), step = "chdir";
	if (!r) {
		r = (int)syscall(SYS_pivot_root, ".", "."), step = "pivot_root";
		if (!r)
			r = umount2(".", MNT_DETACH), step = "detach the old root";
		else if (errno == EINVAL) {
			/* The root is an initramfs (rootfs cannot be pivoted away from): move the
			 * tmpfs over it and chroot, as switch_root does. No way back: a chroot is
			 * left only with CAP_SYS_CHROOT, which goes with uid 0 below. */
			r = mount(".", "/", NULL, MS_MOVE, NULL), step = "move the root";
			if (!r)
				r = chroot("."), step = "chroot";
		}
	}
	if (!r)
		r = chdir("/"), step = "chdir /";
	if (!r)
		r = mount(NULL, "/", NULL,
		          MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		step = "read-only root";
	if (r < 0) {
		r = -errno;
		reason(vm, "jail: %s: %s", step, strerror(-r));
	}
	return r;
}

static int drop_ids(struct vm *vm, const struct jail_cfg *j)
{
	uid_t uid = j->uid + (j->per_instance ? vm->id : 0);
	gid_t gid = j->gid + (j->per_instance ? vm->id : 0);
	/* The bounding set first: emptying it needs CAP_SETPCAP, which uid 0 still has. */
	for (unsigned long cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	/* A change of uid clears the parent-death signal (prctl(2)): a launcher's instance
	 * would outlive it. Set it again, then check the parent did not die meanwhile. */
	int pdeath = 0;
	prctl(PR_GET_PDEATHSIG, &pdeath);
	pid_t parent = getppid();
	const char *step = "setgroups";
	int r = setgroups(0, NULL);
	if (!r)
		r = setresgid(gid, gid, gid), step = "setresgid";
	if (!r)
		r = setresuid(uid, uid, uid), step = "setresuid";
	if (!r && pdeath) {
		prctl(PR_SET_PDEATHSIG, pdeath);
		if (getppid() != parent)
			r = -1, errno = ESRCH, step = "the launcher has gone";
	}
	if (r < 0) {
		r = -errno;
		reason(vm, "jail: %s (uid %u, gid %u): %s", step, (unsigned)uid, (unsigned)gid,
		       strerror(-r));
	}
	return r;
}

int jail_enter(struct vm *vm)
{
	const struct jail_cfg *j = &vm->cfg->jail;
	if (!j->on)
		return 0;
	if (j->uid + (j->per_instance ? vm->id : 0) < j->uid) {
		reason(vm, "jail: uid %u + %u overflows", j->uid, vm->id);
		return -ERANGE;
	}
	int r = 0;
	if (!j->cgroup || strcmp(j->cgroup, "none") != 0)
		r = cgroup_enter(vm, j);
	if (!r)
		r = empty_root(vm);
	if (!r)
		r = drop_ids(vm, j);
	return r;
}
