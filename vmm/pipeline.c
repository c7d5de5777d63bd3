/* vmm/pipeline.c — the boot recipe as data: stages run top to bottom, each timed from the
 * launch request; on failure the stages done are undone in reverse. Also the VM's stop
 * protocol and its run (watchdog, console input). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "jail.h"
#include "layout.h"
#include "log.h"
#include "sandbox.h"
#include "snapshot.h"
#include "virtio.h"
#include "vmm.h"

const char *const vm_stage_names[ST_COUNT] = {
        [ST_KVM_OPEN] = "kvm_open",
        [ST_VM_CREATE] = "vm_create",
        [ST_MEMORY] = "memory",
        [ST_SNAPSHOT_MAP] = "snapshot_map",
        [ST_IRQCHIP] = "irqchip",
        [ST_KERNEL_LOAD] = "kernel_load",
        [ST_BOOT_INFO] = "boot_info",
        [ST_DEVICES] = "devices",
        [ST_VCPUS] = "vcpus",
        [ST_FIRST_RUN] = "first_run",
        [ST_FIRST_OUTPUT] = "first_output",
        [ST_READY] = "ready",
        [ST_EXIT] = "exit",
};

const char *vm_outcome_name(enum vm_outcome o)
{
	static const char *const n[] = {"running",        "exited",  "shutdown", "crashed",
	                                "internal-error", "timeout", "failed"};
	return (unsigned)o < ARRAY_SIZE(n) ? n[o] : "?";
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void vm_mark(struct vm *vm, enum vm_stage st)
{
	uint64_t expect = 0, t = now_ns() - vm->t0;
	if (t == 0)
		t = 1; /* 0 means "not reached" */
	if (atomic_compare_exchange_strong(&vm->t_ns[st], &expect, t) && vm->on_mark)
		vm->on_mark(vm, st);
}

void vm_stop(struct vm *vm, enum vm_outcome o, int exit_code, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (!atomic_load(&vm->stopping)) {
		vm->outcome = o;
		vm->exit_code = exit_code;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
		va_end(ap);
		vm_mark(vm, ST_EXIT);
		atomic_store(&vm->stopping, true);
		vcpus_kick(vm);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

int vm_exit_status(const struct vm *vm)
{
	switch (vm->outcome) {
	case VM_EXITED:
		return vm->exit_code & 0xff;
	case VM_SHUTDOWN:
		return EXIT_OK;
	case VM_CRASHED:
		return EXIT_CRASH;
	case VM_INTERNAL:
		return EXIT_INTERNAL;
	case VM_TIMEOUT:
		return EXIT_TIMEOUT;
	case VM_RUNNING:
	case VM_FAILED:
		break;
	}
	return EXIT_VMM_FAILURE;
}

/* ---- stages ---- */

static int stage_kernel_load(struct vm *vm)
{
	struct err e;
	int r = kernel_place(vm->kernel, &vm->mem, &e);
	if (r == 0 && vm->initrd)
		r = initrd_place(vm->kernel, &vm->mem, vm->initrd->data, vm->initrd->size,
		                 vm->initrd->name, &vm->initrd_gpa, &e);
	if (r < 0)
		snprintf(vm->reason, sizeof(vm->reason), "%s", e.msg);
	return r;
}

/* The command line as the guest sees it: cfg->cmdline, plus the virtio_mmio.device= entries
 * when discovery is by command line; written at CMDLINE_ADDR, where the zero page and
 * hvm_start_info point. */
static int write_cmdline(struct vm *vm, struct err *e)
{
	enum virtio_discovery disc = virtio_discovery_resolve(vm->cfg->discovery, vm->kernel);
	char cmdline[CMDLINE_MAX];
	const char *s = vm->cfg->cmdline;
	if ((disc == DISCOVERY_CMDLINE || disc == DISCOVERY_BOTH) &&
	    vm->cfg->ndisks + vm->cfg->nnets && strlen(vm->cfg->cmdline) < sizeof(cmdline)) {
		snprintf(cmdline, sizeof(cmdline), "%s", vm->cfg->cmdline);
		if (virtio_cmdline(vm->cfg, cmdline, sizeof(cmdline)) < 0)
			return err_set(
			        e, -E2BIG,
			        "--cmdline: no room left for the virtio_mmio.device= entries");
		s = cmdline;
	}
	return boot_cmdline(vm->kernel, &vm->mem, s, e);
}

int pipeline_patch_cmdline(struct vm *vm)
{
	struct err e;
	int r = write_cmdline(vm, &e);
	if (r < 0)
		snprintf(vm->reason, sizeof(vm->reason), "%s", e.msg);
	return r;
}

static int stage_boot_info(struct vm *vm)
{
	struct err e;
	struct boot_params_in in = {
	        .cmdline = vm->cfg->cmdline,
	        .initrd_gpa = vm->initrd_gpa,
	        .initrd_size = vm->initrd ? vm->initrd->size : 0,
	};
	enum virtio_discovery disc = virtio_discovery_resolve(vm->cfg->discovery, vm->kernel);
	int r = write_cmdline(vm, &e);
	if (!r)
		r = boot_x86_tables(&vm->mem, &e);
	if (!r)
		r = boot_mptable(&vm->mem, vm->cfg->cpus, &e);
	if (!r && (disc == DISCOVERY_ACPI || disc == DISCOVERY_BOTH)) {
		struct virtio_slot s[VIRTIO_MAX_DEVS];
		struct acpi_mmio_dev d[VIRTIO_MAX_DEVS];
		unsigned n = virtio_layout(vm->cfg, s);
		for (unsigned i = 0; i < n; i++)
			d[i] = (struct acpi_mmio_dev){s[i].base, s[i].size, s[i].gsi};
		r = boot_acpi(&vm->mem, vm->cfg->cpus, d, n, &in.acpi_rsdp, &e);
	}
	if (!r)
		r = vm->kernel->fmt == KF_ELF_PVH
		            ? boot_pvh_start_info(vm->kernel, &vm->mem, &in, &e)
		            : boot_linux_zero_page(vm->kernel, &vm->mem, &in, &e);
	if (r < 0)
		snprintf(vm->reason, sizeof(vm->reason), "%s", e.msg);
	return r;
}

int devices_setup(struct vm *vm)
{
	/* With --json, stdout carries the one JSON document; the console goes to stderr. */
	int out = vm->cfg->quiet ? -1 : vm->cfg->json ? STDERR_FILENO : STDOUT_FILENO;
	int r = serial_init(&vm->serial, vm, out);
	if (!r)
		r = rtc_init(&vm->rtc, vm);
	if (!r)
		r = i8042_init(&vm->i8042, vm);
	if (!r)
		r = boot_timer_init(vm);
	if (!r)
		r = exit_port_init(vm);
	if (!r)
		r = acpi_sleep_init(vm);
	if (!r)
		r = irqchip_devices_init(vm);
	if (!r)
		r = snapshot_port_init(vm);
	if (!r) {
		r = virtio_setup(vm); /* names the device and the cause in vm->reason */
		if (r < 0)
			return r;
	}
	if (r < 0)
		snprintf(vm->reason, sizeof(vm->reason), "device setup: %s", strerror(-r));
	return r;
}

void devices_teardown(struct vm *vm)
{
	virtio_teardown(vm);
	serial_destroy(&vm->serial);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
}

static void nothing(struct vm *vm)
{
	(void)vm;
}

struct stage {
	enum vm_stage id;
	int (*run)(struct vm *vm);
	void (*undo)(struct vm *vm);
};

static const struct stage boot_stages[] = {
        {ST_KVM_OPEN, kvm_open_dev, kvm_close_dev},
        {ST_VM_CREATE, kvm_create_vm, kvm_destroy_vm},
        {ST_MEMORY, mem_setup, mem_teardown},
        {ST_IRQCHIP, kvm_setup_irqchip, kvm_teardown_irqchip},
        {ST_KERNEL_LOAD, stage_kernel_load, nothing},
        {ST_BOOT_INFO, stage_boot_info, nothing},
        {ST_DEVICES, devices_setup, devices_teardown},
        {ST_VCPUS, vcpus_create, vcpus_destroy},
};

/* A restore (cfg->snap, include/snapshot.h): the snapshot's RAM file is mapped copy-on-write
 * in place of fresh memory, kernel and boot tables; irqchip, devices and vCPUs are created as
 * for a boot and then given the saved state. */
static const struct stage restore_stages[] = {
        {ST_KVM_OPEN, kvm_open_dev, kvm_close_dev},
        {ST_VM_CREATE, kvm_create_vm, kvm_destroy_vm},
        {ST_SNAPSHOT_MAP, mem_setup, mem_teardown},
        {ST_IRQCHIP, snapshot_stage_irqchip, nothing},
        {ST_DEVICES, snapshot_stage_devices, devices_teardown},
        {ST_VCPUS, snapshot_stage_vcpus, vcpus_destroy},
};

static const struct stage *stages_of(const struct vm *vm, size_t *n)
{
	if (vm->cfg->snap) {
		*n = ARRAY_SIZE(restore_stages);
		return restore_stages;
	}
	*n = ARRAY_SIZE(boot_stages);
	return boot_stages;
}

static void vm_init_state(struct vm *vm)
{
	vm->kvm_fd = vm->vm_fd = -1;
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vm->vcpu[i].fd = -1;
	bus_init(&vm->pio);
	bus_init(&vm->mmio);
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause.lock, NULL);
	pthread_cond_init(&vm->pause.cond, NULL);
	vm->failed_stage = -1;
	vm->stop_req_fd = -1;
	vm->ctl_fd = -1;
}

int pipeline_run(struct vm *vm)
{
	if (!vm->t0)
		vm->t0 = now_ns();
	vm_init_state(vm);
	size_t n;
	const struct stage *stages = stages_of(vm, &n);
	for (size_t i = 0; i < n; i++) {
		const struct stage *s = &stages[i];
		int r = s->run(vm);
		if (r < 0) {
			vm->failed_stage = (int)s->id;
			vm->outcome = VM_FAILED;
			/* The failed stage may have done part of its work: undo it too. */
			for (size_t j = i + 1; j-- > 0;)
				stages[j].undo(vm);
			return r;
		}
		vm_mark(vm, s->id);
	}
	return 0;
}

void pipeline_teardown(struct vm *vm)
{
	size_t n;
	const struct stage *stages = stages_of(vm, &n);
	for (size_t j = n; j-- > 0;)
		stages[j].undo(vm);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause.lock);
	pthread_cond_destroy(&vm->pause.cond);
}

/* ---- running ---- */

struct watchdog {
	struct vm *vm;
	int stop_fd[2]; /* written when the VM is done: wakes the watchdog */
	bool forward_stdin;
};

static void stop_by_signal(struct vm *vm, int sig, const char *why)
{
	atomic_store(&vm->stop_signal, sig ? sig : SIGTERM);
	const char *name = sigabbrev_np(sig);
	vm_stop(vm, VM_SHUTDOWN, 0, "stopped by signal %d (SIG%s)%s", sig, name ? name : "?", why);
}

/* Waits for the VM's end, its timeout, a front end's stop request and (for an interactive
 * VM) console input. A stop request is a clean stop, at once — unless the VM has a grace
 * period and the guest listens to the ACPI power button (its GED's IOAPIC pin is unmasked):
 * then the button is pressed, and the VM is stopped when the grace period is over, or at a
 * second request, if the guest has not powered off by then. */
static void *watchdog_thread(void *arg)
{
	struct watchdog *w = arg;
	struct vm *vm = w->vm;
	uint64_t deadline = vm->cfg->timeout_ms ? now_ns() + vm->cfg->timeout_ms * 1000000ULL : 0;
	uint64_t grace_end = 0; /* the power button was pressed: the guest may power off until */
	int grace_sig = 0;
	bool in_open = w->forward_stdin, ctl_open = vm->ctl_fd >= 0 && vm->on_ctl;
	for (;;) {
		struct pollfd p[4] = {{.fd = w->stop_fd[0], .events = POLLIN},
		                      {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
		                      {.fd = vm->stop_req_fd, .events = POLLIN},
		                      {.fd = ctl_open ? vm->ctl_fd : -1, .events = POLLIN}};
		int ms = -1;
		uint64_t now = now_ns();
		if (deadline && now >= deadline) {
			vm_stop(vm, VM_TIMEOUT, 0, "timed out after %llu ms",
			        (unsigned long long)vm->cfg->timeout_ms);
			return NULL;
		}
		if (grace_end && now >= grace_end) {
			char why[96];
			snprintf(why, sizeof(why), ": the guest did not power off within %llu ms",
			         (unsigned long long)vm->cfg->stop_grace_ms);
			log_warn("%s%s", log_vm(vm->id), why + 2);
			stop_by_signal(vm, grace_sig, why);
			return NULL;
		}
		uint64_t next =
		        deadline && (!grace_end || deadline < grace_end) ? deadline : grace_end;
		if (next) { /* a deadline up to a year away: more ms than an int holds */
			uint64_t left = (next - now + 999999) / 1000000;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		int n = poll(p, 4, ms);
		if (n < 0 && errno != EINTR)
			return NULL;
		if (n > 0 && p[0].revents)
			return NULL;
		if (n > 0 && p[2].revents) { /* a front end's stop request (instance_stop_on()) */
			unsigned char sig = 0;
			(void)!read(vm->stop_req_fd, &sig, 1);
			if (!grace_end && vm->cfg->stop_grace_ms &&
			    vm_irq_unmasked(vm, PWRBTN_GSI)) {
				vm_irq_line(vm, PWRBTN_GSI, 1);
				vm_irq_line(vm, PWRBTN_GSI, 0);
				grace_sig = sig;
				grace_end = now_ns() + vm->cfg->stop_grace_ms * 1000000ULL;
				log_warn(
				        "%ssignal %d: pressed the ACPI power button; the guest has "
				        "%llu ms to power off",
				        log_vm(vm->id), sig,
				        (unsigned long long)vm->cfg->stop_grace_ms);
				continue;
			}
			stop_by_signal(vm, sig, grace_end ? ": a second stop request" : "");
			return NULL;
		}
		if (n > 0 && p[3].revents && vm->on_ctl(vm) < 0)
			ctl_open = false; /* the front end hung up: it orders nothing more */
		if (n > 0 && p[1].revents) {
			uint8_t buf[64];
			ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
			if (got <= 0)
				in_open = false;
			else
				serial_input(&vm->serial, buf, (unsigned)got);
		}
	}
}

int vm_run(struct vm *vm)
{
	/* Setup is over. --jail first, while this is the process's only thread (namespaces and
	 * the switch of user must cover every thread); then the I/O thread, which confines
	 * itself; then this thread and every thread it starts (watchdog, vCPUs) is confined
	 * before the guest's first instruction (docs/security.md). */
	int jr = jail_enter(vm);
	if (jr == 0)
		jr = virtio_start(vm);
	if (jr < 0) {
		char why[sizeof(vm->reason)];
		memcpy(why, vm->reason, sizeof(why));
		vm_stop(vm, VM_FAILED, 0, "%s", why);
		return jr;
	}
	int sr = sandbox_apply(SANDBOX_VMM);
	if (sr < 0) {
		vm_stop(vm, VM_FAILED, 0, "sandbox: cannot confine the VMM: %s", strerror(-sr));
		return sr;
	}
	sandbox_selftest(SANDBOX_VMM);
	struct watchdog w = {.vm = vm, .stop_fd = {-1, -1}};
	pthread_t wd;
	bool have_wd = false;
	/* Console input for an interactive VM: a terminal, a pipe or a file on stdin; never
	 * /dev/null or a closed descriptor. */
	struct stat st;
	w.forward_stdin = !vm->cfg->quiet && fstat(STDIN_FILENO, &st) == 0 &&
	                  (isatty(STDIN_FILENO) || S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode) ||
	                   S_ISSOCK(st.st_mode));
	if (vm->cfg->timeout_ms || w.forward_stdin || vm->stop_req_fd >= 0 || vm->ctl_fd >= 0) {
		if (pipe2(w.stop_fd, O_CLOEXEC) == 0 &&
		    pthread_create(&wd, NULL, watchdog_thread, &w) == 0)
			have_wd = true;
		else
			log_warn("cannot start the watchdog thread; --timeout is not enforced");
	}
	vcpus_run(vm);
	if (have_wd) {
		(void)!write(w.stop_fd[1], "x", 1);
		pthread_join(wd, NULL);
	}
	if (w.stop_fd[0] >= 0) {
		close(w.stop_fd[0]);
		close(w.stop_fd[1]);
	}
	pthread_mutex_lock(&vm->serial.lock);
	serial_flush(&vm->serial);
	pthread_mutex_unlock(&vm->serial.lock);
	return 0;
}
