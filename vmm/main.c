/* vmm/main.c — the fastvmm command: parse, validate inputs, build and run one VM, report.
 * The only place (with batch.c) that decides the process's exit status. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "instance.h"
#include "log.h"
#include "oci.h"
#include "sandbox.h"
#include "serve.h"
#include "snapshot.h"
#include "virtio.h"
#include "vmm.h"

#ifndef FASTVMM_VERSION
#define FASTVMM_VERSION "0.1.0"
#endif
#ifndef FASTVMM_GUESTDIR
#define FASTVMM_GUESTDIR "/usr/local/share/fastvmm/guests"
#endif

/* The bundled guest: next to the binary (build tree), else in the share dir of the prefix
 * the binary is installed in (PREFIX/bin/fastvmm → PREFIX/share/fastvmm/guests, whatever
 * PREFIX was given to make install, DESTDIR staging included), else the compiled-in one. */
static const char *default_kernel(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		const char *dir = dirname(exe);
		snprintf(buf, len, "%s/guests/hello.elf", dir);
		if (access(buf, R_OK) == 0)
			return buf;
		snprintf(buf, len, "%s/../share/fastvmm/guests/hello.elf", dir);
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

int main(int argc, char **argv)
{
	uint64_t t0 = now_ns();
	/* One malloc arena for every thread. glibc gives a thread that allocates its own arena,
	 * and the first time such an arena's heap shrinks it opens /proc/sys/vm/overcommit_
	 * memory (malloc/arena.c check_may_shrink_heap()) — under the sandbox a denied openat
	 * that stopped 2-vCPU VMs whose snapshot was saved on vCPU 1's thread. The main arena
	 * grows and shrinks with brk/mmap only. This VMM's threads seldom allocate. */
	mallopt(M_ARENA_MAX, 1);
	/* The OCI runtime front end (vmm/oci.c): `fastvmm oci ...` or the fastvmm-oci name. */
	const char *prog = strrchr(argv[0], '/');
	if (!strcmp(prog ? prog + 1 : argv[0], "fastvmm-oci"))
		return oci_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "oci"))
		return oci_main(argc - 1, argv + 1);
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
		const char *why = virtio_blk_unusable(d);
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
		/* --stop-grace: a signal stops the VM cleanly, after the guest's own power-off if
		 * it listens to the ACPI power button (vmm/pipeline.c); status 128 + signal. */
		static const int stop_sigs[] = {SIGTERM, SIGINT};
		if (cli.stop_on_signal && instance_stop_on(&in, stop_sigs, 2) < 0)
			log_warn(
			        "--stop-grace: cannot take stop signals; they end fastvmm at once");
		instance_run(&in);
		snapshot_disarm(vm);
		int sig = atomic_load(&vm->stop_signal);
		status = sig ? 128 + sig : vm_exit_status(vm);
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
	/* The VM's destruction off our exit (instance_release(): a holder process pays the
	 * in-kernel irqchip's grace periods). The record is already written. */
	instance_release(&in);
	blob_close(&initrd);
	kernel_close(&kernel);
	if (cli.restore)
		snapshot_close(&snap);
	return status;
}
