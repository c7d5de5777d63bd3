/* vmm/main.c — the fastvmm command: parse, validate inputs, build and run one VM, report.
 * The only place (with batch.c) that decides the process's exit status. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "log.h"
#include "oci.h"
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
	/* The OCI runtime front end (vmm/oci.c): `fastvmm oci ...` or the fastvmm-oci name. */
	const char *prog = strrchr(argv[0], '/');
	if (!strcmp(prog ? prog + 1 : argv[0], "fastvmm-oci"))
		return oci_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "oci"))
		return oci_main(argc - 1, argv + 1);
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
	char defk[PATH_MAX];
	if (!cli.vm.kernel_path)
		cli.vm.kernel_path = default_kernel(defk, sizeof(defk));

	/* Inputs are parsed once, before any KVM work; a bad file costs no VM. */
	struct kernel_image kernel;
	if (kernel_open(&kernel, cli.vm.kernel_path, &e) < 0) {
		log_err("%s", e.msg);
		return EXIT_USAGE;
	}
	/* Disk images: a missing or unwritable file is a bad argument, not a VMM failure. */
	for (unsigned i = 0; i < cli.vm.ndisks; i++) {
		const struct disk_cfg *d = &cli.vm.disk[i];
		if (access(d->path, R_OK | (d->ro || d->cow ? 0 : W_OK)) < 0) {
			log_err("--disk %s: %s", d->path, strerror(errno));
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
	static struct vm vm; /* large (vCPU table); static keeps it off the stack */
	vm.cfg = &cli.vm;
	vm.kernel = &kernel;
	vm.initrd = cli.vm.initrd_path ? &initrd : NULL;
	vm.t0 = t0;
	int status;
	if (pipeline_run(&vm) < 0) {
		log_err("%s", vm.reason);
		status = failure_status(&vm);
	} else {
		vm_run(&vm);
		status = vm_exit_status(&vm);
		if (status != 0 && vm.outcome != VM_EXITED)
			log_err("%s: %s", kernel.name, vm.reason);
		else
			log_info("%s: %s", kernel.name, vm.reason);
	}
	if (cli.timings)
		report_vm_text(&vm, stderr);
	if (cli.vm.json) {
		report_vm_json(&vm, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	if (vm.failed_stage < 0) {
		vm_defer_destruction();
		pipeline_teardown(&vm);
	}
	blob_close(&initrd);
	kernel_close(&kernel);
	return status;
}
