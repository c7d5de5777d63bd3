/* vmm/oci.c — fastvmm as an OCI runtime: the command line containerd's runc.v2 shim and
 * podman's conmon call (runc's: global --root/--log/--log-format, then create, start, state,
 * kill, delete, features, ps, list), the state under --root, and the container's init
 * process, which is the VM's process.
 *
 * Lifecycle (runtime-spec runtime.md "Lifecycle"; runc's design, which the engines assume):
 *   create  validates the bundle (vmm/oci_bundle.c), forks the instance process and waits
 *           until that process has built the VM up to its first KVM_RUN (the shared
 *           instance core, vmm/instance.c: instance_init + instance_build) — or failed, in
 *           which case nothing is left in --root. The instance then blocks
 *           opening ROOT/ID/exec.fifo for writing; `create` records the state, writes the
 *           pid file and exits. The engine (a subreaper) inherits the instance process.
 *   start   opens the FIFO for reading: the instance's open returns, it runs the VM
 *           (instance_run: confined by the sandbox before the guest's first instruction).
 *   kill    signals the instance: SIGTERM/SIGINT/SIGHUP stop the VM cleanly (exit status
 *           128+signal), SIGKILL ends it at once, other signals are delivered as they are.
 *   delete  removes the state and the cgroup (--force kills a live instance first).
 * Each container's directory is locked (flock) for the duration of every command, so two
 * calls racing on one container are serialised; `create` claims a name with mkdir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "fdpass.h"
#include "instance.h"
#include "log.h"
#include "oci.h"
#include "sandbox.h"

#ifndef FASTVMM_VERSION
#define FASTVMM_VERSION "0.1.0"
#endif
#define OCI_SPEC_VERSION "1.0.2"
#define DEFAULT_ROOT     "/run/fastvmm-oci"
#define CGROUP_ROOT      "/sys/fs/cgroup"
#define STOP_WAIT_MS     5000 /* delete --force: how long to wait for a killed instance */

struct ctx {
	const char *root;
	const char *log_path;
	bool log_json;
};
static struct ctx g = {.root = DEFAULT_ROOT};

/* One error line on stderr and, with --log, in the log file — as JSON with --log-format
 * json, which is where containerd's shim looks for the reason a runtime call failed. */
static void PRINTF(1, 2) oci_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	oci_msg_clean(msg); /* ids, paths, signal names: outside input, one line */
	log_err("%s", msg);
	if (!g.log_path)
		return;
	FILE *f = fopen(g.log_path, "ae");
	if (!f)
		return;
	char ts[40];
	time_t now = time(NULL);
	struct tm tm;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (g.log_json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "level", "error", "msg", msg, "time", ts);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(f, "%s\n", s);
		free(s);
		json_decref(o);
	} else {
		fprintf(f, "time=\"%s\" level=error msg=\"fastvmm: %s\"\n", ts, msg);
	}
	fclose(f);
}

/* ---- the state directory ---- */

/* runc's rule for IDs (^[\w+-\.]+$, not "." or ".."): an ID is one path component. */
static bool id_valid(const char *id)
{
	if (!id[0] || !strcmp(id, ".") || !strcmp(id, "..") || strlen(id) > 1024)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_+-.", *p)))
			return false;
	return true;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = 0;
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

struct container {
	char id[1100];
	char dir[PATH_MAX - 64]; /* room for "/state.json" and the like */
	int dirfd;               /* locked */
	json_t *state;           /* state.json, NULL if absent */
	pid_t pid;
	unsigned long long starttime;
};

static int cpath(const struct container *c, const char *name, char *out, size_t len)
{
	return snprintf(out, len, "%s/%s", c->dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

/* Open and lock ROOT/ID; *exists false (and 0 returned) if there is no such container. */
static int container_open(struct container *c, const char *id, int lock, bool *exists)
{
	memset(c, 0, sizeof(*c));
	c->dirfd = -1;
	*exists = false;
	if (!id_valid(id)) {
		oci_err("container id '%s': must be letters, digits and _+-. only", id);
		return -EINVAL;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	if (snprintf(c->dir, sizeof(c->dir), "%s/%s", g.root, id) >= (int)sizeof(c->dir)) {
		oci_err("--root %s: too long", g.root);
		return -ENAMETOOLONG;
	}
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0)
		return errno == ENOENT ? 0 : (oci_err("%s: %s", c->dir, strerror(errno)), -errno);
	while (flock(c->dirfd, lock) < 0)
		if (errno != EINTR) {
			oci_err("%s: lock: %s", c->dir, strerror(errno));
			return -errno;
		}
	char p[PATH_MAX];
	cpath(c, "state.json", p, sizeof(p));
	json_error_t je;
	c->state = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	if (!c->state) /* a create still under way, or one that failed: not a container yet */
		return 0;
	json_int_t pid = 0;
	json_int_t st = 0;
	if (json_unpack(c->state, "{s:I, s:I}", "pid", &pid, "starttime", &st) < 0 || pid <= 0) {
		oci_err("%s: corrupt state", p);
		return -EINVAL;
	}
	c->pid = (pid_t)pid;
	c->starttime = (unsigned long long)st;
	*exists = true;
	return 0;
}

static void container_close(struct container *c)
{
	if (c->dirfd >= 0)
		close(c->dirfd); /* drops the lock */
	json_decref(c->state);
	c->dirfd = -1;
	c->state = NULL;
}

/* /proc/PID/stat: the state letter and the start time (field 22), which tells this process
 * from a later one that got the same pid. 0 if there is no such process. */
static int proc_stat(pid_t pid, char *state, unsigned long long *starttime)
{
	char buf[1024];
	if (instance_proc_read(pid, "stat", buf, sizeof(buf)) < 0)
		return 0;
	char *s = strrchr(buf, ')'); /* the command name may contain anything */
	if (!s || sscanf(s + 2, "%c", state) != 1)
		return 0;
	unsigned long long v = 0;
	int field = 3;
	for (char *t = s + 2; *t && field < 22; t++)
		if (*t == ' ' && ++field == 22)
			v = strtoull(t + 1, NULL, 10);
	*starttime = v;
	return 1;
}

static bool init_alive(const struct container *c)
{
	char st;
	unsigned long long t;
	return proc_stat(c->pid, &st, &t) && t == c->starttime && st != 'Z' && st != 'X';
}

static const char *container_status(const struct container *c)
{
	if (!init_alive(c))
		return "stopped";
	char p[PATH_MAX];
	cpath(c, "exec.fifo", p, sizeof(p));
	if (access(p, F_OK) == 0)
		return "created";
	char st;
	unsigned long long t;
	if (proc_stat(c->pid, &st, &t) && st == 'T')
		return "paused";
	return "running";
}

/* Write a file atomically (temporary + rename), as runc writes its state and pid files. */
static int write_atomic(const char *path, const char *data)
{
	char tmp[PATH_MAX + 16];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(data);
	ssize_t w = write(fd, data, len);
	int r = (w == (ssize_t)len && fsync(fd) == 0) ? 0 : -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* ---- cgroups: linux.cgroupsPath and limits, on v2 or on every v1 hierarchy ---- */

static bool cgroup_v2(void)
{
	return access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0;
}

static int write_str(const char *dir, const char *file, const char *val)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, val, strlen(val));
	int r = n == (ssize_t)strlen(val) ? 0 : -errno;
	close(fd);
	return r;
}

/* Calls fn for every cgroup directory of `path`: one on v2, one per v1 hierarchy (cpuset
 * excepted: a new cpuset cgroup has no CPUs until someone copies its parent's, and a VM's
 * vCPU placement is the engine's business through linux.resources.cpu.cpus, ignored). */
static int cgroup_each(const char *path, int (*fn)(const char *dir, const char *ctl, void *),
                       void *arg)
{
	char dir[PATH_MAX * 2];
	if (cgroup_v2()) {
		snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s", path);
		return fn(dir, "", arg);
	}
	DIR *d = opendir(CGROUP_ROOT);
	if (!d)
		return -errno;
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR || strstr(de->d_name, "cpuset"))
			continue;
		char mnt[PATH_MAX];
		struct statfs sf;
		snprintf(mnt, sizeof(mnt), CGROUP_ROOT "/%s", de->d_name);
		if (statfs(mnt, &sf) < 0 || sf.f_type != CGROUP_SUPER_MAGIC)
			continue; /* the hybrid layout's "unified" v2 mount is not ours to manage */
		snprintf(dir, sizeof(dir), "%s/%s", mnt, path);
		r = fn(dir, de->d_name, arg);
	}
	closedir(d);
	return r;
}

/* cgroup v2: a limit file (memory.max, cpu.max, pids.max) exists in a cgroup only when its
 * parent delegates the controller (cgroup.subtree_control), so enable the ones a limit needs
 * on every ancestor from the root down, as runc does. A controller the host lacks, or a
 * parent with processes of its own, fails here quietly and then as the limit's write. */
static void cg_v2_delegate(const char *dir, const struct oci_bundle *b)
{
	char anc[PATH_MAX * 2];
	snprintf(anc, sizeof(anc), "%s", dir);
	size_t root_len = strlen(CGROUP_ROOT);
	for (char *p = anc + root_len; (p = strchr(p, '/'));) {
		*p = 0;
		static const char *const ctls[] = {"+memory", "+cpu", "+pids"};
		bool want[] = {b->cg_mem > 0, b->cg_cpu_quota > 0, b->cg_pids > 0};
		for (size_t i = 0; i < ARRAY_SIZE(ctls); i++)
			if (want[i])
				(void)write_str(anc, "cgroup.subtree_control", ctls[i]);
		*p++ = '/';
	}
}

static int cg_join(const char *dir, const char *ctl, void *arg)
{
	const struct oci_bundle *b = arg;
	char v[64];
	int r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	bool v2 = !ctl[0];
	if (v2)
		cg_v2_delegate(dir, b);
	if (b->cg_mem > 0 && (v2 || strstr(ctl, "memory"))) {
		snprintf(v, sizeof(v), "%lld", (long long)b->cg_mem);
		if ((r = write_str(dir, v2 ? "memory.max" : "memory.limit_in_bytes", v)) < 0)
			return r;
	}
	if (b->cg_cpu_quota > 0 && (v2 || strstr(ctl, "cpu"))) {
		if (v2) {
			snprintf(v, sizeof(v), "%lld %llu", (long long)b->cg_cpu_quota,
			         (unsigned long long)b->cg_cpu_period);
			r = write_str(dir, "cpu.max", v);
		} else if (!strcmp(ctl, "cpu") || strstr(ctl, "cpu,")) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)b->cg_cpu_period);
			r = write_str(dir, "cpu.cfs_period_us", v);
			snprintf(v, sizeof(v), "%lld", (long long)b->cg_cpu_quota);
			if (!r)
				r = write_str(dir, "cpu.cfs_quota_us", v);
		}
		if (r < 0)
			return r;
	}
	if (b->cg_pids > 0 && (v2 || !strcmp(ctl, "pids"))) {
		snprintf(v, sizeof(v), "%lld", (long long)b->cg_pids);
		if ((r = write_str(dir, "pids.max", v)) < 0)
			return r;
	}
	snprintf(v, sizeof(v), "%d", (int)getpid());
	return write_str(dir, "cgroup.procs", v);
}

static int cg_remove(const char *dir, const char *ctl, void *arg)
{
	(void)ctl;
	(void)arg;
	/* The instance's cgroup empties when its process has exited; give a just-killed one a
	 * moment (rmdir fails with EBUSY while a task is still inside). */
	for (int i = 0; i < 100; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(10000);
	}
	return -EBUSY;
}

/* ---- the instance process: the container's init ---- */

struct report {
	int ok;
	char reason[512];
};

static void report_send(int fd, int ok, const char *fmt, ...) PRINTF(3, 4);
static void report_send(int fd, int ok, const char *fmt, ...)
{
	struct report r = {.ok = ok};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	(void)!write(fd, &r, sizeof(r)); /* < PIPE_BUF: atomic */
}

/* The console as runc gives it (runc's "console socket" protocol, also conmon's): a new pty,
 * its master sent over the AF_UNIX socket with SCM_RIGHTS, its slave the instance's stdio and
 * controlling terminal. */
static int console_setup(const char *sock_path, char *why, size_t wlen)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	char name[64];
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name))) {
		snprintf(why, wlen, "console: cannot create a pty: %s", strerror(errno));
		return -1;
	}
	int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (s < 0 || sk < 0 || strlen(sock_path) >= sizeof(sa.sun_path)) {
		snprintf(why, wlen, "console: %s",
		         s < 0 || sk < 0 ? strerror(errno) : "socket path too long");
		return -1;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (connect(sk, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, wlen, "--console-socket %s: %s", sock_path, strerror(errno));
		return -1;
	}
	if (fd_send(sk, name, strlen(name), &m, 1, 0) < 0) {
		snprintf(why, wlen, "--console-socket %s: sendmsg: %s", sock_path, strerror(errno));
		return -1;
	}
	close(sk);
	close(m);
	if (dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0 || ioctl(0, TIOCSCTTY, 0) < 0) {
		snprintf(why, wlen, "console: %s", strerror(errno));
		return -1;
	}
	close(s);
	return 0;
}

static void pause_term(int sig)
{
	(void)sig;
	_exit(0); /* as pause does */
}

/* A pod sandbox's instance: nothing to boot; wait to be stopped (pause's job), confined to
 * exactly that (sandbox role "pause") from the moment it is started. */
static _Noreturn void pod_sandbox_main(const char *fifo)
{
	struct sigaction sa = {.sa_handler = pause_term};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int fd;
	while ((fd = open(fifo, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (fd >= 0) {
		(void)!write(fd, "0", 1);
		close(fd);
	}
	int r = sandbox_apply(SANDBOX_PAUSE);
	if (r < 0) {
		log_err("sandbox: cannot confine the pod sandbox: %s", strerror(-r));
		_exit(EXIT_VMM_FAILURE);
	}
	sandbox_selftest(SANDBOX_PAUSE);
	for (;;)
		pause();
}

/* The container's init: the process the engine sees. Runs the shared instance core
 * (vmm/instance.c) — build up to the first KVM_RUN, wait for `start`, run (the core applies
 * the sandbox before the guest's first instruction), release — with the runtime's setup
 * (console, cgroup, rlimits) before it. */
static _Noreturn void instance_main(struct oci_bundle *b, struct kernel_image *kernel,
                                    struct blob *initrd, const char *fifo, const char *console_sock,
                                    int rep, uint64_t t0)
{
	static struct instance in; /* struct vm is large */
	char why[512];
	setsid(); /* a terminal's ^C or hang-up reaches the engine, not the VM directly */
	prctl(PR_SET_PDEATHSIG, 0);
	if (b->terminal && console_setup(console_sock, why, sizeof(why)) < 0) {
		report_send(rep, 0, "%s", why);
		_exit(1);
	}
	int r;
	if (b->cgroup[0] && (r = cgroup_each(b->cgroup, cg_join, b)) < 0) {
		report_send(rep, 0, "linux.cgroupsPath %s: %s", b->cgroup, strerror(-r));
		_exit(1);
	}
	for (unsigned i = 0; i < b->nrlimits; i++) {
		struct rlimit rl = {b->rlimit[i].soft, b->rlimit[i].hard}, cur;
		/* Engines ask for more than an unprivileged or nested host allows (podman as root:
		 * RLIMIT_NOFILE 1048576); above the hard limit we may not raise, keep that limit —
		 * these are the VMM's limits, which the guest does not see. */
		if (setrlimit(b->rlimit[i].resource, &rl) < 0 && errno == EPERM &&
		    getrlimit(b->rlimit[i].resource, &cur) == 0 && rl.rlim_max > cur.rlim_max) {
			log_info("process.rlimits[%u]: %llu is above this host's hard limit %llu; "
			         "kept %llu",
			         i, (unsigned long long)rl.rlim_max,
			         (unsigned long long)cur.rlim_max,
			         (unsigned long long)cur.rlim_max);
			rl.rlim_max = cur.rlim_max;
			if (rl.rlim_cur > rl.rlim_max)
				rl.rlim_cur = rl.rlim_max;
		}
		if (setrlimit(b->rlimit[i].resource, &rl) < 0) {
			report_send(rep, 0, "process.rlimits[%u]: %s", i, strerror(errno));
			_exit(1);
		}
	}
	if (b->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		report_send(rep, 0, "process.noNewPrivileges: %s", strerror(errno));
		_exit(1);
	}
	if (b->sandbox) {
		report_send(rep, 1, "ok");
		close(rep);
		pod_sandbox_main(fifo);
	}
	struct vm_config cfg;
	oci_bundle_config(b, &cfg);
	struct vm *vm = &in.vm;
	if (instance_init(&in, &cfg, kernel, initrd, NULL, 0, t0) < 0) {
		report_send(rep, 0, "out of memory");
		_exit(1);
	}
	if (instance_build(&in) < 0) {
		report_send(rep, 0, "%s", vm->reason);
		_exit(1);
	}
	report_send(rep, 1, "ok");
	close(rep);
	/* Created: wait for `start` (it opens the FIFO's other end). The guest has not run. */
	int fd;
	while ((fd = open(fifo, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		log_err("%s: %s", fifo, strerror(errno));
		_exit(EXIT_VMM_FAILURE);
	}
	(void)!write(fd, "0", 1);
	close(fd);
	/* Started. The engine stops a container with SIGTERM (and SIGINT/SIGHUP): from now on a
	 * clean stop of the VM with status 128 + signal, not the default death without a
	 * console flush. (Until start, they end the process at once: nothing has run.) */
	static const int stop_sigs[] = {SIGTERM, SIGINT, SIGHUP};
	if (instance_stop_on(&in, stop_sigs, 3) < 0)
		log_warn("cannot take stop signals: SIGTERM ends the VM abruptly");
	instance_run(&in);
	int sig = atomic_load(&vm->stop_signal);
	int status = sig ? 128 + sig : vm_exit_status(vm);
	if (!sig && status != 0 && vm->outcome != VM_EXITED)
		log_err("%s: %s", b->kernel.name, vm->reason);
	fflush(NULL);
	/* The engine learns the status when this process is gone: not 15-23 ms later. */
	instance_release(&in);
	_exit(status);
}

/* Messages from the core name "/proc/self/fd/N"; the user wrote something else. */
static void rename_in_msg(char *msg, size_t len, const char *from, const char *to)
{
	char *p = strstr(msg, from);
	if (!p)
		return;
	char tail[512];
	snprintf(tail, sizeof(tail), "%s", p + strlen(from));
	snprintf(p, len - (size_t)(p - msg), "%s%s", to, tail);
}

/* ---- commands ---- */

/* Options in runc's style: "--name value", "--name=value", "-name", "-n value". Returns the
 * value for a matching option taking one (advancing *i), "" for a matching flag, NULL for no
 * match. */
static const char *opt_match(int argc, char **argv, int *i, const char *lng, char shrt,
                             bool has_arg, bool *bad)
{
	const char *a = argv[*i];
	const char *n = a[0] == '-' ? a + 1 + (a[1] == '-') : NULL;
	if (!n)
		return NULL;
	size_t ll = strlen(lng);
	bool is_long = strncmp(n, lng, ll) == 0 && (n[ll] == 0 || n[ll] == '=');
	bool is_short = shrt && a[1] == shrt && a[2] == 0;
	if (!is_long && !is_short)
		return NULL;
	if (!has_arg) {
		if (is_long && n[ll] == '=') /* --flag=true / --flag=false */
			return strcmp(n + ll + 1, "false") ? "" : NULL;
		return "";
	}
	if (is_long && n[ll] == '=')
		return n + ll + 1;
	if (*i + 1 >= argc) {
		oci_err("%s: needs a value", a);
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

static int one_id(int argc, char **argv, int first, const char *cmd, const char **id)
{
	if (first != argc - 1) {
		oci_err("%s: expects exactly one container id", cmd);
		return -EINVAL;
	}
	*id = argv[first];
	return 0;
}

/* The container a command names, which must exist: 0 with c open and locked (the caller
 * closes it), else the command's status (2: usage, 1: no such container or an error). */
static int container_get(int argc, char **argv, int first, const char *cmd, int lock,
                         struct container *c)
{
	const char *id;
	if (one_id(argc, argv, first, cmd, &id) < 0)
		return 2;
	bool exists;
	if (container_open(c, id, lock, &exists) < 0)
		return 1;
	if (!exists) {
		oci_err("container %s: does not exist", id);
		container_close(c);
		return 1;
	}
	return 0;
}

static void remove_container_dir(struct container *c)
{
	static const char *const files[] = {"state.json", "exec.fifo"};
	char p[PATH_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if (cpath(c, files[i], p, sizeof(p)) == 0)
			unlink(p);
	rmdir(c->dir);
}

/* create; *out_pid receives the instance's pid (for run, whose child it stays). */
static int cmd_create(int argc, char **argv, pid_t *out_pid)
{
	uint64_t t0 = now_ns(); /* the VM's stage timings start at the engine's request */
	const char *bundle = ".", *pid_file = NULL, *console = NULL, *id = NULL, *v;
	bool bad = false;
	int i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((v = opt_match(argc, argv, &i, "bundle", 'b', true, &bad)))
			bundle = v;
		else if ((v = opt_match(argc, argv, &i, "pid-file", 0, true, &bad)))
			pid_file = v;
		else if ((v = opt_match(argc, argv, &i, "console-socket", 0, true, &bad)))
			console = v;
		else if ((v = opt_match(argc, argv, &i, "preserve-fds", 0, true, &bad)))
			; /* extra fds are inherited by the instance process; the VM has no use for
			     them */
		else if (opt_match(argc, argv, &i, "no-pivot", 0, false, &bad) ||
		         opt_match(argc, argv, &i, "no-new-keyring", 0, false, &bad))
			; /* no rootfs to pivot into and no keyring: nothing runs inside the rootfs
			   */
		else if (!bad) {
			oci_err("create: unknown option %s", argv[i]);
			return 2;
		}
		if (bad)
			return 2;
	}
	if (one_id(argc, argv, i, "create", &id) < 0)
		return 2;
	if (!id_valid(id)) {
		oci_err("container id '%s': must be letters, digits and _+-. only", id);
		return 2;
	}
	int r = mkdir_p(g.root, 0711);
	if (r < 0) {
		oci_err("--root %s: %s", g.root, strerror(-r));
		return 1;
	}
	struct container c = {.dirfd = -1};
	snprintf(c.id, sizeof(c.id), "%s", id);
	snprintf(c.dir, sizeof(c.dir), "%s/%s", g.root, id);
	if (mkdir(c.dir, 0711) < 0) {
		if (errno == EEXIST)
			oci_err("container %s: already exists", id);
		else
			oci_err("%s: %s", c.dir, strerror(errno));
		return 1;
	}
	c.dirfd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dirfd < 0 || flock(c.dirfd, LOCK_EX) < 0) {
		oci_err("%s: %s", c.dir, strerror(errno));
		rmdir(c.dir);
		return 1;
	}

	/* Everything about the inputs is checked here, before any KVM work. */
	static struct oci_bundle b;
	static struct kernel_image kernel;
	static struct blob initrd;
	struct err e = {{0}};
	bool have_b = false, have_k = false, have_i = false;
	int status = 1;
	pid_t pid = -1;
	char fifo[PATH_MAX];
	if (oci_bundle_load(&b, bundle, &e) < 0) {
		oci_err("%s", e.msg);
		goto fail;
	}
	have_b = true;
	if (b.sandbox) {
		snprintf(b.kernel.name, sizeof(b.kernel.name), "(pod sandbox)");
	} else if (kernel_open(&kernel, b.kernel.path, &e) < 0) {
		rename_in_msg(e.msg, sizeof(e.msg), b.kernel.path, b.kernel.name);
		oci_err("%s", e.msg);
		goto fail;
	} else {
		kernel.name = b.kernel.name;
		have_k = true;
	}
	if (b.initrd.fd >= 0) {
		if (blob_open(&initrd, b.initrd.path, KERNEL_MAX_FILE, &e) < 0) {
			rename_in_msg(e.msg, sizeof(e.msg), b.initrd.path, b.initrd.name);
			oci_err("%s", e.msg);
			goto fail;
		}
		initrd.name = b.initrd.name;
		have_i = true;
	}
	if (b.terminal && !console) {
		oci_err("process.terminal is true but no --console-socket was given");
		goto fail;
	}
	if (!b.terminal && console) {
		oci_err("--console-socket given but process.terminal is false");
		goto fail;
	}
	cpath(&c, "exec.fifo", fifo, sizeof(fifo));
	if (mkfifo(fifo, 0600) < 0) {
		oci_err("%s: %s", fifo, strerror(errno));
		goto fail;
	}
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0) {
		oci_err("pipe: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		oci_err("fork: %s", strerror(errno));
		close(rep[0]);
		close(rep[1]);
		goto fail;
	}
	if (pid == 0) {
		close(c.dirfd); /* our copy of the lock's descriptor; the lock stays with create */
		close(rep[0]);
		instance_main(&b, &kernel, have_i ? &initrd : NULL, fifo, console, rep[1], t0);
	}
	close(rep[1]);
	struct report rp = {0};
	ssize_t n;
	while ((n = read(rep[0], &rp, sizeof(rp))) < 0 && errno == EINTR)
		;
	close(rep[0]);
	if (n != (ssize_t)sizeof(rp) || !rp.ok) {
		if (n == (ssize_t)sizeof(rp)) {
			rp.reason[sizeof(rp.reason) - 1] = 0;
			rename_in_msg(rp.reason, sizeof(rp.reason), b.kernel.path, b.kernel.name);
			oci_err("%s", rp.reason);
		} else {
			oci_err("the instance process ended while building the VM");
		}
		goto fail;
	}

	/* Created. The state file makes the container exist for every other command. */
	char st;
	unsigned long long starttime = 0;
	proc_stat(pid, &st, &starttime);
	char created[40];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	size_t tl =
	        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
	snprintf(created + tl, sizeof(created) - tl, ".%09ldZ", ts.tv_nsec);
	json_error_t je;
	json_t *ann = json_loads(b.annotations_json, 0, &je);
	json_t *state =
	        json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:s, s:s}", "ociVersion",
	                  OCI_SPEC_VERSION, "id", id, "pid", (json_int_t)pid, "starttime",
	                  (json_int_t)starttime, "bundle", b.dir, "rootfs", b.rootfs, "created",
	                  created, "annotations", ann ? ann : json_object(), "cgroup", b.cgroup,
	                  "kernel", b.kernel.name);
	char *s = state ? json_dumps(state, JSON_COMPACT) : NULL;
	json_decref(state);
	char sp[PATH_MAX];
	cpath(&c, "state.json", sp, sizeof(sp));
	if (!s || (r = write_atomic(sp, s)) < 0) {
		oci_err("%s: %s", sp, s ? strerror(-r) : "out of memory");
		free(s);
		goto fail;
	}
	free(s);
	if (pid_file) {
		char pb[24];
		snprintf(pb, sizeof(pb), "%d", (int)pid);
		if ((r = write_atomic(pid_file, pb)) < 0) {
			oci_err("--pid-file %s: %s", pid_file, strerror(-r));
			unlink(sp);
			goto fail;
		}
	}
	status = 0;
	*out_pid = pid;
	pid = -1;
fail:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (status) {
		if (b.cgroup[0])
			cgroup_each(b.cgroup, cg_remove, NULL);
		remove_container_dir(&c);
	}
	if (have_i)
		blob_close(&initrd);
	if (have_k) {
		kernel.name = NULL;
		kernel_close(&kernel);
	}
	if (have_b)
		oci_bundle_free(&b);
	close(c.dirfd);
	return status;
}

static int cmd_start(int argc, char **argv)
{
	struct container c;
	int status = container_get(argc, argv, 1, "start", LOCK_EX, &c);
	if (status)
		return status;
	status = 1;
	const char *id = c.id, *st = container_status(&c);
	if (strcmp(st, "created"))
		oci_err("container %s: cannot start a container that is %s", id, st);
	else {
		char p[PATH_MAX];
		cpath(&c, "exec.fifo", p, sizeof(p));
		int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			oci_err("%s: %s", p, strerror(errno));
		/* The instance opens its end as soon as ours exists; it may have died meanwhile. */
		while (fd >= 0) {
			struct pollfd pf = {.fd = fd, .events = POLLIN};
			int n = poll(&pf, 1, 100);
			char ch;
			if (n > 0 && read(fd, &ch, 1) == 1) {
				status = 0;
				break;
			}
			if (n < 0 && errno != EINTR) {
				oci_err("%s: poll: %s", p, strerror(errno));
				break;
			}
			if (!init_alive(&c)) {
				oci_err("container %s: its process ended before it was started",
				        id);
				break;
			}
		}
		if (fd >= 0)
			close(fd);
		if (status == 0)
			unlink(p);
	}
	container_close(&c);
	return status;
}

static int cmd_delete(int argc, char **argv);

static pid_t run_child;
static void run_forward(int sig)
{
	kill(run_child, sig);
}

/* run = create + start + wait + delete, in the foreground (runc run): this process stays the
 * instance's parent, forwards SIGINT/SIGTERM/SIGHUP to it and exits with its status. */
static int cmd_run(int argc, char **argv)
{
	pid_t pid = -1;
	int r = cmd_create(argc, argv, &pid);
	if (r)
		return r;
	const char *id = argv[argc - 1];
	run_child = pid;
	struct sigaction sa = {.sa_handler = run_forward};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	char *start[] = {"start", (char *)id, NULL};
	r = cmd_start(2, start);
	int st = 0;
	if (r)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *del[] = {"delete", "--force", (char *)id, NULL};
	cmd_delete(3, del);
	if (r)
		return r;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static json_t *state_json(struct container *c)
{
	json_t *o = json_deep_copy(c->state);
	const char *st = container_status(c);
	json_object_set_new(o, "status", json_string(st));
	if (!strcmp(st, "stopped"))
		json_object_set_new(o, "pid", json_integer(0));
	json_object_del(o, "starttime");
	json_object_del(o, "cgroup");
	json_object_del(o, "kernel");
	json_object_set_new(o, "owner", json_string(""));
	return o;
}

static int cmd_state(int argc, char **argv)
{
	struct container c;
	int status = container_get(argc, argv, 1, "state", LOCK_SH, &c);
	if (status)
		return status;
	json_t *o = state_json(&c);
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
	container_close(&c);
	return 0;
}

static int parse_signal(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n > 0 && n < NSIG ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *a = sigabbrev_np(i);
		if (a && !strcasecmp(s, a))
			return i;
	}
	return -1;
}

static int cmd_kill(int argc, char **argv)
{
	int i;
	bool bad = false;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!opt_match(argc, argv, &i, "all", 'a', false, &bad)) {
			oci_err("kill: unknown option %s", argv[i]);
			return 2;
		}
	}
	/* One process per container: --all signals the same one. */
	if (i >= argc || argc - i > 2) {
		oci_err("kill: usage: kill [--all] ID [SIGNAL]");
		return 2;
	}
	const char *id = argv[i];
	int sig = i + 1 < argc ? parse_signal(argv[i + 1]) : SIGTERM;
	if (sig < 0) {
		oci_err("kill: %s: unknown signal", argv[i + 1]);
		return 2;
	}
	struct container c;
	bool exists;
	if (container_open(&c, id, LOCK_SH, &exists) < 0)
		return 1;
	int status = 1;
	if (!exists)
		oci_err("container %s: does not exist", id);
	else if (!init_alive(&c))
		oci_err("container %s: container not running", id);
	else if (kill(c.pid, sig) < 0)
		oci_err("container %s: kill %d: %s", id, (int)c.pid, strerror(errno));
	else
		status = 0;
	container_close(&c);
	return status;
}

static int cmd_delete(int argc, char **argv)
{
	int i;
	bool bad = false, force = false;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (opt_match(argc, argv, &i, "force", 'f', false, &bad))
			force = true;
		else {
			oci_err("delete: unknown option %s", argv[i]);
			return 2;
		}
	}
	const char *id;
	if (one_id(argc, argv, i, "delete", &id) < 0)
		return 2;
	struct container c;
	bool exists;
	if (container_open(&c, id, LOCK_EX, &exists) < 0)
		return 1;
	if (!exists) {
		container_close(&c);
		if (force) /* as runc: deleting what is not there, by force, is done */
			return 0;
		oci_err("container %s: does not exist", id);
		return 1;
	}
	const char *st = container_status(&c);
	if (strcmp(st, "stopped")) {
		if (!force) {
			oci_err("container %s: cannot delete a container that is %s (use --force)",
			        id, st);
			container_close(&c);
			return 1;
		}
		kill(c.pid, SIGKILL);
		for (int ms = 0; init_alive(&c) && ms < STOP_WAIT_MS; ms += 5)
			usleep(5000);
		if (init_alive(&c)) {
			oci_err("container %s: process %d survived SIGKILL", id, (int)c.pid);
			container_close(&c);
			return 1;
		}
	}
	const char *cg = NULL;
	json_unpack(c.state, "{s?s}", "cgroup", &cg);
	int r = cg && cg[0] ? cgroup_each(cg, cg_remove, NULL) : 0;
	if (r < 0)
		oci_err("container %s: cgroup %s: %s (left behind)", id, cg, strerror(-r));
	remove_container_dir(&c);
	container_close(&c);
	return 0;
}

static int cmd_ps(int argc, char **argv)
{
	int i;
	bool bad = false, json = false;
	const char *v;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((v = opt_match(argc, argv, &i, "format", 'f', true, &bad)))
			json = !strcmp(v, "json");
		else {
			oci_err("ps: unknown option %s", argv[i]);
			return 2;
		}
	}
	struct container c;
	int status = container_get(argc, argv, i, "ps", LOCK_SH, &c);
	if (status)
		return status;
	bool alive = init_alive(&c);
	if (json)
		alive ? printf("[%d]\n", (int)c.pid) : printf("[]\n");
	else if (alive)
		printf("PID\n%d\n", (int)c.pid);
	container_close(&c);
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	bool json = false, quiet = false, bad = false;
	const char *v;
	for (int i = 1; i < argc; i++) {
		if ((v = opt_match(argc, argv, &i, "format", 'f', true, &bad)))
			json = !strcmp(v, "json");
		else if (opt_match(argc, argv, &i, "quiet", 'q', false, &bad))
			quiet = true;
		else {
			oci_err("list: unknown argument %s", argv[i]);
			return 2;
		}
	}
	json_t *all = json_array();
	DIR *d = opendir(g.root);
	struct dirent *de;
	if (!json && !quiet)
		printf("%-24s %-8s %-10s %s\n", "ID", "PID", "STATUS", "BUNDLE");
	while (d && (de = readdir(d))) {
		struct container c;
		bool exists;
		if (de->d_name[0] == '.' || !id_valid(de->d_name))
			continue;
		if (container_open(&c, de->d_name, LOCK_SH, &exists) == 0 && exists) {
			json_t *o = state_json(&c);
			if (json)
				json_array_append(all, o);
			else if (quiet)
				printf("%s\n", c.id);
			else
				printf("%-24s %-8lld %-10s %s\n", c.id,
				       (long long)json_integer_value(json_object_get(o, "pid")),
				       json_string_value(json_object_get(o, "status")),
				       json_string_value(json_object_get(o, "bundle")));
			json_decref(o);
		}
		container_close(&c);
	}
	if (d)
		closedir(d);
	if (json) {
		json_dumpf(all, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	}
	json_decref(all);
	return 0;
}

/* runtime-spec features.md: what this runtime implements, for engines that ask. */
static int cmd_features(void)
{
	json_t *o = json_pack(
	        "{s:s, s:s, s:[], s:[], s:{s:[], s:[], s:{s:b, s:b, s:b, s:b, s:b}, s:{s:b},"
	        " s:{s:b}, s:{s:b}}, s:{s:s, s:s}}",
	        "ociVersionMin", "1.0.0", "ociVersionMax", "1.1.0", "hooks", "mountOptions",
	        "linux", "namespaces", "capabilities", "cgroup", "v1", 1, "v2", 1, "systemd", 0,
	        "systemdUser", 0, "rdma", 0, "seccomp", "enabled", 0, "apparmor", "enabled", 0,
	        "selinux", "enabled", 0, "annotations", "org.fastvmm.version", FASTVMM_VERSION,
	        "org.fastvmm.annotations",
	        "kernel cmdline initrd mem cpus disks timeout (docs/oci.md)");
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: fastvmm oci [GLOBAL OPTIONS] COMMAND [OPTIONS] [ID]\n"
	        "       fastvmm-oci ...  (the same, for engines that take a runtime binary)\n"
	        "An OCI runtime (runtime-spec %s): each container is a VM booted from a kernel\n"
	        "in its rootfs (process.args[0], or the org.fastvmm.kernel annotation).\n\n"
	        "Global options:\n"
	        "  --root DIR          state directory (default " DEFAULT_ROOT ")\n"
	        "  --log FILE          also write errors to FILE\n"
	        "  --log-format F      text (default) or json\n"
	        "  --systemd-cgroup    refused: use the cgroupfs manager\n"
	        "  --debug             more messages\n\n"
	        "Commands:\n"
	        "  create [--bundle DIR] [--pid-file F] [--console-socket S] ID\n"
	        "  start ID            boot the created VM\n"
	        "  run [create options] ID   create, start, wait and delete (foreground)\n"
	        "  state ID            the OCI state as JSON\n"
	        "  kill [--all] ID [SIGNAL]   TERM/INT/HUP: clean stop; KILL: stop now\n"
	        "  delete [--force] ID\n"
	        "  ps [--format json] ID | list [--format json] [-q] | features\n"
	        "See docs/oci.md and fastvmm(1).\n",
	        OCI_SPEC_VERSION);
}

int oci_main(int argc, char **argv)
{
	bool bad = false;
	const char *v;
	int i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((v = opt_match(argc, argv, &i, "root", 0, true, &bad)))
			g.root = v;
		else if ((v = opt_match(argc, argv, &i, "log", 0, true, &bad)))
			g.log_path = v;
		else if ((v = opt_match(argc, argv, &i, "log-format", 0, true, &bad))) {
			if (strcmp(v, "json") && strcmp(v, "text")) {
				oci_err("--log-format %s: must be text or json", v);
				return 2;
			}
			g.log_json = !strcmp(v, "json");
		} else if (opt_match(argc, argv, &i, "systemd-cgroup", 0, false, &bad)) {
			oci_err("--systemd-cgroup: not supported; configure the engine's cgroupfs "
			        "cgroup manager (docs/oci.md)");
			return 2;
		} else if (opt_match(argc, argv, &i, "debug", 0, false, &bad)) {
			log_level = 3;
		} else if ((v = opt_match(argc, argv, &i, "rootless", 0, true, &bad)) ||
		           (v = opt_match(argc, argv, &i, "criu", 0, true, &bad))) {
			; /* accepted as runc does; nothing here depends on them */
		} else if (opt_match(argc, argv, &i, "version", 'v', false, &bad)) {
			printf("fastvmm-oci version %s\nspec: %s\n", FASTVMM_VERSION,
			       OCI_SPEC_VERSION);
			return 0;
		} else if (opt_match(argc, argv, &i, "help", 'h', false, &bad)) {
			usage(stdout);
			return 0;
		} else if (!bad) {
			oci_err("unknown global option %s (see --help)", argv[i]);
			return 2;
		}
		if (bad)
			return 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int sub_argc = argc - i;
	char **sub = argv + i;
	pid_t created;
	if (!strcmp(cmd, "create"))
		return cmd_create(sub_argc, sub, &created);
	if (!strcmp(cmd, "run"))
		return cmd_run(sub_argc, sub);
	if (!strcmp(cmd, "start"))
		return cmd_start(sub_argc, sub);
	if (!strcmp(cmd, "state"))
		return cmd_state(sub_argc, sub);
	if (!strcmp(cmd, "kill"))
		return cmd_kill(sub_argc, sub);
	if (!strcmp(cmd, "delete"))
		return cmd_delete(sub_argc, sub);
	if (!strcmp(cmd, "ps"))
		return cmd_ps(sub_argc, sub);
	if (!strcmp(cmd, "list"))
		return cmd_list(sub_argc, sub);
	if (!strcmp(cmd, "features"))
		return cmd_features();
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	static const char *const refused[] = {"exec",       "pause",   "resume", "update",
	                                      "checkpoint", "restore", "events", "spec"};
	for (size_t k = 0; k < ARRAY_SIZE(refused); k++)
		if (!strcmp(cmd, refused[k])) {
			oci_err("%s: not supported by fastvmm: a container is one VM, with no "
			        "processes "
			        "to exec into or resources to update live",
			        cmd);
			return 1;
		}
	oci_err("unknown command '%s' (see --help)", cmd);
	return 2;
}
