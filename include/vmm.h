/* include/vmm.h — struct vm, its configuration, and the launch pipeline.
 *
 * A VM is built by pipeline_run() stage by stage (design §1); each stage's undo runs in
 * reverse on failure. All state of an instance hangs off struct vm. */
#ifndef FASTVMM_VMM_H
#define FASTVMM_VMM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "boot.h"
#include "bus.h"
#include "devices.h"
#include "guest_mem.h"
#include "irqchip.h"
#include "jail.h"

struct snapshot;
struct snapshot_request;

#define VM_MAX_CPUS 64
#define VM_MIN_MEM  (2 * MiB)
#define VM_MAX_MEM  (1024 * GiB)

/* Exit statuses of the fastvmm process (README "Exit status"; stable). */
#define EXIT_OK          0
#define EXIT_USAGE       2   /* bad arguments, files, or no usable /dev/kvm */
#define EXIT_VMM_FAILURE 70  /* a host-side failure while setting up or running the VM */
#define EXIT_TIMEOUT     124 /* --timeout elapsed */
#define EXIT_CRASH       125 /* guest triple fault (KVM_EXIT_SHUTDOWN) */
#define EXIT_INTERNAL    126 /* KVM could not run the guest (internal error, emulation failure) */

/* virtio devices (issue 5). Disks come first in the MMIO window, then NICs. */
#define VM_MAX_DISKS  8
#define VM_MAX_NICS   8
#define DISK_PATH_MAX 4096
struct disk_cfg {
	char path[DISK_PATH_MAX]; /* copied: argv may hold options after the path */
	bool ro, cow;
};
struct net_cfg {
	const char *tap; /* interface name; NULL: the kernel picks one */
};
/* How guests learn about virtio-mmio devices. AUTO: ACPI for bzImage (stock distribution
 * kernels, whose virtio_mmio lacks CMDLINE_DEVICES), the kernel command line for ELF kernels
 * (OSv, Unikraft, vmlinux, own guests). NONE is never chosen by auto. */
enum virtio_discovery { DISCOVERY_AUTO, DISCOVERY_CMDLINE, DISCOVERY_ACPI, DISCOVERY_BOTH };

struct vm_config {
	const char *kernel_path; /* NULL: the bundled hello guest */
	const char *initrd_path;
	const char *cmdline; /* NULL: the default for the kernel format */
	uint64_t mem_size;
	unsigned cpus;
	uint64_t timeout_ms; /* 0: none */
	/* A front end's stop request (instance_stop_on()) presses the ACPI power button when the
	 * guest listens to it, and stops the VM after this long unless the guest powered off
	 * first. 0: stop at once. */
	uint64_t stop_grace_ms;
	bool json;
	bool quiet; /* no console output to stdout */
	struct disk_cfg disk[VM_MAX_DISKS];
	unsigned ndisks;
	struct net_cfg net[VM_MAX_NICS];
	unsigned nnets;
	uint8_t mac[6]; /* first NIC's MAC; later NICs add their index to the last byte */
	bool mac_set;
	enum virtio_discovery discovery;
	enum irqchip_mode irqchip; /* --irqchip; AUTO: irqchip_resolve() */
	bool hugepages;            /* --hugepages: guest RAM on 2 MiB pages */
	struct jail_cfg jail;      /* --jail, --jail-cgroup (include/jail.h) */
	/* Restore (issue 9): build the VM from this parsed snapshot instead of a kernel. */
	const struct snapshot *snap;
};

/* The stages of design §1, in order; indices into vm->t_ns[]. */
enum vm_stage {
	ST_KVM_OPEN,
	ST_VM_CREATE,
	ST_MEMORY,
	ST_SNAPSHOT_MAP, /* restore: guest RAM mapped from the snapshot (replaces memory..boot_info)
	                  */
	ST_IRQCHIP,
	ST_KERNEL_LOAD,
	ST_BOOT_INFO,
	ST_DEVICES,
	ST_VCPUS,
	ST_FIRST_RUN,    /* first KVM_RUN entered */
	ST_FIRST_OUTPUT, /* first console byte */
	ST_READY,        /* boot-timer write */
	ST_EXIT,         /* the VM stopped */
	ST_COUNT
};
extern const char *const vm_stage_names[ST_COUNT];

enum vm_outcome {
	VM_RUNNING = 0,
	VM_EXITED,   /* own guest wrote the exit port */
	VM_SHUTDOWN, /* i8042 reset / clean shutdown */
	VM_CRASHED,  /* triple fault */
	VM_INTERNAL, /* KVM internal error / emulation failure / unhandled exit */
	VM_TIMEOUT,
	VM_FAILED, /* host-side failure */
};
const char *vm_outcome_name(enum vm_outcome o);

struct vm_virtio;
struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
};

/* Work a batch launcher does once and its instances inherit (vmm/batch.c): /dev/kvm opened
 * and checked, and KVM_GET_SUPPORTED_CPUID (~0.4 ms here). NULL: each VM does it itself. */
struct kvm_shared {
	int kvm_fd;
	int run_size;
	struct kvm_cpuid2 *cpuid; /* vcpu_supported_cpuid() */
};

struct vm {
	const struct vm_config *cfg;
	const struct kvm_shared *shared;   /* may be NULL */
	const struct kernel_image *kernel; /* parsed once, shared */
	const struct blob *initrd;         /* may be NULL */
	unsigned id;

	int kvm_fd, vm_fd;
	int run_size;
	struct guest_mem mem;
	struct bus pio, mmio;
	struct vcpu vcpu[VM_MAX_CPUS];
	unsigned nr_vcpus;
	uint64_t initrd_gpa;

	struct serial serial;
	struct rtc rtc;
	struct i8042 i8042;
	struct vm_virtio *virtio;  /* include/virtio.h; NULL without virtio devices */
	enum irqchip_mode irqchip; /* resolved by the irqchip stage: KERNEL or SPLIT */
	bool tsc_deadline;         /* KVM_CAP_TSC_DEADLINE_TIMER: advertised in CPUID */
	struct ioapic ioapic;      /* SPLIT only */
	struct pic_guard pic;      /* SPLIT only */
	_Atomic uint64_t exits;    /* KVM_RUN returns to userspace, all vCPUs */
	bool cpuid_cached;         /* the supported CPUID came from vmm/cpuid_cache.c's file */

	/* Timings: CLOCK_MONOTONIC ns at the launch request, and offsets from it (0 = not yet). */
	uint64_t t0;
	_Atomic uint64_t t_ns[ST_COUNT];
	/* Optional observer of each stage's first mark (batch progress), on the marking thread. */
	void (*on_mark)(struct vm *vm, enum vm_stage st);

	/* Outcome: the first vCPU to stop the VM records why; the rest follow. */
	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	enum vm_outcome outcome;
	int exit_code;
	uint64_t crash_rip;
	char reason[320];
	int failed_stage; /* -1 if none */
	/* A stop requested from outside (include/instance.h: instance_stop_on()): set after
	 * pipeline_run() (which makes it -1); the watchdog reads one byte from it, the signal
	 * that asked, records it in stop_signal and stops the VM (VM_SHUTDOWN). */
	int stop_req_fd;
	_Atomic int stop_signal; /* 0: none */
	/* A front end's control socket (the daemon's, include/instance.h: instance_control()),
	 * set after pipeline_run() like stop_req_fd: the watchdog calls on_ctl when it is
	 * readable, and stops watching it once on_ctl returns < 0 (the front end hung up). */
	int ctl_fd;
	int (*on_ctl)(struct vm *vm);

	/* Pausing every vCPU (snapshots, vmm/vcpu.c): a request kicks the vCPUs; each completes
	 * its pending I/O and parks; the last to park runs on_paused, then all resume. */
	struct {
		pthread_mutex_t lock;
		pthread_cond_t cond;
		atomic_bool req;
		unsigned parked;
		uint64_t gen;
		void (*on_paused)(struct vm *vm);
	} pause;
	/* Snapshots (include/snapshot.h): the origin's request and result; what a read of the
	 * guest ABI port PORT_SNAPSHOT returns (0: no snapshot, 1: the origin after a snapshot,
	 * 0x80000000|id: a clone restored as instance id). */
	const struct snapshot_request *snap_req;
	atomic_bool snap_requested, snap_done, snap_stop;
	int snap_result;
	char snap_msg[320];
	uint32_t snap_port;
	void *snap_priv; /* the trigger's private state (timer thread, regex) */
	/* Called once a snapshot_order()'s save has ended (saved or not), on the vCPU thread that
	 * ran it, with every vCPU still paused. */
	void (*on_snapshot)(struct vm *vm);
};

uint64_t now_ns(void);
/* Record a stage timestamp (first one wins). */
void vm_mark(struct vm *vm, enum vm_stage st);

/* Build the VM (stages kvm_open..vcpus). On failure the stages done are undone, vm->reason
 * names the stage and the cause, and -errno is returned. */
int pipeline_run(struct vm *vm);
/* Rewrite the guest's command line from vm->cfg->cmdline after pipeline_run() (a warm VM's
 * per-request tail): the same composition as the boot_info stage, before the first KVM_RUN. */
int pipeline_patch_cmdline(struct vm *vm);
/* Undo every stage (teardown). */
void pipeline_teardown(struct vm *vm);

/* Run all vCPUs until the VM stops (guest exit, shutdown, crash, timeout). */
int vm_run(struct vm *vm);
/* Stop the VM from any thread, recording the outcome if it is the first stop. */
void vm_stop(struct vm *vm, enum vm_outcome o, int exit_code, const char *fmt, ...) PRINTF(4, 5);
/* The process exit status for the VM's outcome. */
int vm_exit_status(const struct vm *vm);

/* Drive interrupt line gsi: KVM_IRQ_LINE with the in-kernel irqchip, the userspace IOAPIC
 * with a split one. */
int vm_irq_line(struct vm *vm, unsigned gsi, int level);
/* Whether the guest has unmasked IOAPIC pin gsi: a driver of its own is listening there. */
bool vm_irq_unmasked(struct vm *vm, unsigned gsi);

/* Stages, in vmm/kvm.c, vmm/memory.c, vmm/vcpu.c ... */
int kvm_open_dev(struct vm *vm);
void kvm_close_dev(struct vm *vm);
int kvm_create_vm(struct vm *vm);
void kvm_destroy_vm(struct vm *vm);
int kvm_setup_irqchip(struct vm *vm);
void kvm_teardown_irqchip(struct vm *vm);
/* Devices stage: the IOAPIC's MMIO window and the PIC/PIT guard (SPLIT only). */
int irqchip_devices_init(struct vm *vm);
int mem_setup(struct vm *vm);
void mem_teardown(struct vm *vm);
int vcpus_create(struct vm *vm);
/* Create vCPU i (fd, kvm_run mapping) without setting any state (restore). 0 or -errno. */
int vcpu_open(struct vm *vm, unsigned i);
/* Pause every vCPU and run fn on the last one to park; they resume when it returns. */
void vcpus_pause(struct vm *vm, void (*fn)(struct vm *vm));
/* KVM_GET_SUPPORTED_CPUID into a fresh buffer with room for the entries fastvmm adds (free()
 * it), through the per-host cache of vmm/cpuid_cache.c; NULL with errno set on failure. */
struct kvm_cpuid2 *vcpu_supported_cpuid(int kvm_fd);
void vcpus_destroy(struct vm *vm);
/* Run vCPU 0 on the calling thread and the others on threads until the VM stops. */
int vcpus_run(struct vm *vm);
/* Make every vCPU leave KVM_RUN soon (any thread, async-signal context excluded). */
void vcpus_kick(struct vm *vm);
int devices_setup(struct vm *vm);
void devices_teardown(struct vm *vm);

/* JSON report of one VM (design §1), to the FILE given. */
/* Write s as a JSON string literal (quoted, escaped). */
void json_put_string(FILE *out, const char *s);
void report_vm_json(const struct vm *vm, FILE *out);
void report_vm_text(const struct vm *vm, FILE *out);

#endif
