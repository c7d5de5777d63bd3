/* vmm/main.c — the fastvmm command: parse, validate inputs, build and run one VM, report.
 * The only place (with batch.c) that decides the process's exit status. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "instance.h"
#include "log.h"
#include "sandbox.h"
#include "serve.h"
#include "snapshot.h"
#include "vmm.h"

#ifndef FASTVMM_VERSION
#define FASTVMM_VERSION "0.1.0"
#endif
#ifndef FASTVMM_GUESTDIR
#define FASTVMM_GUESTDIR "/usr/local/share/fastvmm/guests"
#endif

/* The bundled guest: next to the binary (build tree), else the installed share dir. */
static const char *default_kernel(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		snprintf(buf, len, "%s/guests/hello.elf", dirname(exe));
		if (access(buf, R_OK) == 0)
			return buf;
	}
	snprintf(buf, len, "%s/hello.elf", FASTVMM_GUESTDIR);
	return buf;
}

/* A failure in these stages is about the inputs (the file, the flags, /dev/kvm access). */
static int failure_status(const struct vm *vm)
{
	switch (vm->failed_stage) {
	case ST_KVM_OPEN:
	case ST_KERNEL_LOAD:
	case ST_BOOT_INFO:
		return EXIT_USAGE;
	default:
		return EXIT_VMM_FAILURE;
	}
}

/* Destroying a VM with an in-kernel irqchip waits 15-23 ms here for SRCU grace periods, in
 * whichever close drops the VM's last reference. Hand those references to a short-lived
 * holder: it inherits the fds, closes the standard streams (so that nobody waiting for our
 * output waits for it) and sleeps until this process has gone, then exits and pays the
 * teardown. Our own closes are then cheap and our exit is not delayed (design §4: teardown
 * off the critical path). The holder is created with CLONE_PARENT, as our sibling: our
 * parent — the shell, the script, the benchmark that is waiting anyway — reaps it, instead
 * of it becoming an orphan of init (which, where init does not reap, stays a zombie). If
 * the clone fails, the teardown simply happens here. A split irqchip needs no holder. */
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

int main(int argc, char **argv)
{
	uint64_t t0 = now_ns();
	/* One malloc arena for every thread. glibc gives a thread that allocates its own arena,
	 * and the first time such an arena's heap shrinks it opens /proc/sys/vm/overcommit_
	 * memory (malloc/arena.c check_may_shrink_heap()) — under the sandbox a denied openat
	 * that stopped 2-vCPU VMs whose snapshot was saved on vCPU 1's thread. The main arena
	 * grows and shrinks with brk/mmap only. This VMM's threads seldom allocate. */
	mallopt(M_ARENA_MAX, 1);
	if (argc > 1 && strcmp(argv[1], "serve") == 0) /* the daemon: vmm/serve.c */
		return serve_main(argc - 1, argv + 1);
	struct cli cli;
	struct err e = {{0}};
	int act = config_parse(&cli, argc, argv, &e);
	if (act < 0) {
		log_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if (act == CONFIG_HELP) {
		config_usage(stdout);
		return 0;
	}
	if (act == CONFIG_VERSION) {
		printf("fastvmm %s\n", FASTVMM_VERSION);
		return 0;
	}
	log_level = cli.verbosity;
	if (jail_check(&cli.vm.jail, e.msg, sizeof(e.msg)) < 0) {
		log_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if (cli.no_sandbox)
		sandbox_disable();
	char defk[PATH_MAX];
	if (!cli.vm.kernel_path)
		cli.vm.kernel_path = default_kernel(defk, sizeof(defk));

	/* Inputs are parsed once, before any KVM work; a bad file costs no VM. A restore's
	 * input is the snapshot (include/snapshot.h): it fixes the whole configuration. */
	struct kernel_image kernel;
	static struct snapshot snap;
	if (cli.restore ? snapshot_configure(&snap, cli.restore, &cli.vm, cli.n, &kernel, &e) < 0
	                : kernel_open(&kernel, cli.vm.kernel_path, &e) < 0) {
		log_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if (cli.snap.dir && snapshot_check_dir(cli.snap.dir, &e) < 0) {
		log_err("%s", e.msg);
		kernel_close(&kernel);
		return EXIT_USAGE;
	}
	/* Disk images: a missing, unwritable or unusable file is a bad argument, not a VMM
	 * failure (a directory or a FIFO would fail later, or hang, in the devices stage). */
	for (unsigned i = 0; i < cli.vm.ndisks; i++) {
		const struct disk_cfg *d = &cli.vm.disk[i];
		struct stat st;
		const char *why = NULL;
		if (access(d->path, R_OK | (d->ro || d->cow ? 0 : W_OK)) < 0 ||
		    stat(d->path, &st) < 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			why = "not a regular file or block device";
		if (why) {
			log_err("--disk %s: %s", d->path, why);
			kernel_close(&kernel);
			return EXIT_USAGE;
		}
	}
	struct blob initrd = {0};
	if (cli.vm.initrd_path && blob_open(&initrd, cli.vm.initrd_path, KERNEL_MAX_FILE, &e) < 0) {
		log_err("%s", e.msg);
		kernel_close(&kernel);
		return EXIT_USAGE;
	}
	if (cli.n) { /* batch mode: vmm/batch.c decides the status */
		int st = batch_run(&cli, &kernel, cli.vm.initrd_path ? &initrd : NULL, t0);
		blob_close(&initrd);
		kernel_close(&kernel);
		return st;
	}
	/* The same instance core as batch mode and the daemon (vmm/instance.c), with the console
	 * on our stdout and no launcher to report to. */
	static struct instance in; /* large (vCPU table); static keeps it off the stack */
	struct vm *vm = &in.vm;
	if (instance_init(&in, &cli.vm, &kernel, cli.vm.initrd_path ? &initrd : NULL, NULL, 0, t0) <
	    0) {
		log_err("--cmdline: out of memory");
		return EXIT_VMM_FAILURE;
	}
	vm->snap_req = cli.snap.dir ? &cli.snap : NULL;
	int status;
	if (instance_build(&in) < 0) {
		log_err("%s", vm->reason);
		status = failure_status(vm);
		if (cli.restore && vm->failed_stage != ST_KVM_OPEN)
			status = EXIT_USAGE; /* the snapshot does not fit this host or itself */
	} else {
		if (snapshot_arm(vm) < 0)
			log_warn("--snapshot-at: cannot install the trigger; no snapshot");
		instance_run(&in);
		snapshot_disarm(vm);
		status = vm_exit_status(vm);
		if (status != 0 && vm->outcome != VM_EXITED)
			log_err("%s: %s", kernel.name, vm->reason);
		else
			log_info("%s: %s", kernel.name, vm->reason);
		const char *why = snapshot_outcome(vm);
		if (why) {
			log_err("--snapshot %s: not saved: %s", cli.snap.dir, why);
			if (!status)
				status = EXIT_VMM_FAILURE;
		}
	}
	if (cli.timings)
		report_vm_text(vm, stderr);
	if (cli.vm.json) {
		report_vm_json(vm, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	/* A split irqchip's VM is destroyed in well under a millisecond: no holder process
	 * (it would outlive us as an orphan for its new parent to reap). The in-kernel
	 * irqchip's 15-23 ms go to the holder. Either way the record is already written. */
	if (vm->failed_stage < 0) {
		if (vm->irqchip != IRQCHIP_SPLIT)
			defer_vm_destruction();
		pipeline_teardown(vm);
	}
	blob_close(&initrd);
	kernel_close(&kernel);
	if (cli.restore)
		snapshot_close(&snap);
	return status;
}
