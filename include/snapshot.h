/* include/snapshot.h — snapshots of a running VM and restores (clones) from them (issue 9).
 *
 * A snapshot is a directory (docs/snapshot.md):
 *   DIR/state   the machine state: a versioned, CRC-32C-checked sequence of sections
 *   DIR/memory  guest RAM, flat (low RAM, then RAM above 4 GiB), sparse: zero pages are holes
 * both created 0600. A restore maps DIR/memory MAP_PRIVATE: clones share every page they have
 * not written.
 *
 * Layers: snapshot_format.c is pure (struct snapshot <-> bytes; every field of a hostile
 * file checked, unit-tested); snapshot.c talks to KVM and the devices: snapshot_take() saves a
 * paused struct vm, and the restore stages build a struct vm from a parsed snapshot inside the
 * one pipeline (vmm/pipeline.c). A daemon's PUT /vms/{id}/snapshot is one snapshot_request()
 * (or snapshot_take() on a VM it paused itself); POST /vms {"snapshot":DIR} is one
 * snapshot_open() plus pipeline_run() with cfg->snap set. */
#ifndef FASTVMM_SNAPSHOT_H
#define FASTVMM_SNAPSHOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"

#define SNAP_MAGIC      "FVMMSNAP"
#define SNAP_VERSION    2 /* 2: the split irqchip's IOAPIC record; version 1 is still read */
#define SNAP_STATE_MAX  (64u << 20) /* a state file larger than this is refused */
#define SNAP_MSRS_MAX   512
#define SNAP_XSAVE_MAX  (64u * 1024)
#define SNAP_CPUID_MAX  256
#define SNAP_NAME_MAX   4096
#define SNAP_CMDLINE_MX 65536

/* Irqchip models: KERNEL saves KVM's PICs, IOAPIC and PIT (the irqchip section); SPLIT saves
 * the userspace IOAPIC and the 8259 guard (the split-irqchip section, format version 2). */
enum snap_irqchip { SNAP_IRQCHIP_KERNEL = 1, SNAP_IRQCHIP_SPLIT = 2 };

/* Device states: fixed-width fields only, documented in docs/snapshot.md. */
struct serial_state {
	uint8_t ier, iir_thri_pending, lcr, mcr, lsr_extra, msr, scr, dll, dlm, fcr;
	uint8_t irq_level, pad;
	uint8_t rx[64];
	uint32_t rx_head, rx_count;
};
struct rtc_state {
	uint8_t index;
	uint8_t ram[128];
};
struct i8042_state {
	uint8_t cmd, outport;
};
/* The split irqchip's userspace part (devices/ioapic.c, devices/pic.c). The LAPICs are in
 * KVM and saved per vCPU; the GSI routes are not stored: they follow from the redirection
 * table and are programmed again at restore (ioapic_restore()). */
#define SNAP_IOAPIC_PINS 24
struct ioapic_state {
	uint32_t npins; /* SNAP_IOAPIC_PINS */
	uint32_t id;    /* 0-15 */
	uint32_t ioregsel;
	uint32_t line;                  /* bit per pin: input asserted */
	uint64_t rte[SNAP_IOAPIC_PINS]; /* redirection entries, remote IRR included */
	uint8_t pic_imr[2], pic_icw_left[2], pic_icw4[2], pad[2]; /* the 8259 guard */
};
struct virtq_state {
	uint16_t num, last_avail, used_idx;
	uint8_t ready, pad;
	uint64_t desc_gpa, avail_gpa, used_gpa;
};
#define SNAP_VQ_MAX  2
#define SNAP_CFG_MAX 64
struct virtio_state {
	uint32_t device_id, nqueues;
	uint64_t host_features, features;
	uint32_t status, isr, dev_feat_sel, drv_feat_sel, queue_sel, config_gen, generation;
	uint32_t faulted, config_len;
	uint8_t config[SNAP_CFG_MAX];
	struct virtq_state vq[SNAP_VQ_MAX];
};

struct snap_vcpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dregs;
	struct kvm_xcrs xcrs;
	bool have_xcrs;
	uint32_t xsave_len; /* 0: none (the FPU state is restored instead) */
	uint8_t *xsave;
	uint32_t nmsrs;
	struct kvm_msr_entry *msrs;
	uint32_t ncpuid;
	struct kvm_cpuid_entry2 *cpuid;
};

struct snap_disk {
	char path[SNAP_NAME_MAX];
	bool ro, cow;
	uint64_t size; /* bytes at snapshot time: a restore refuses an image of another size */
};
struct snap_net {
	char tap[16]; /* "" : kernel-chosen */
	uint8_t mac[6];
};

/* Everything a snapshot holds, parsed. Owned arrays are freed by snapshot_free(). */
struct snapshot {
	uint32_t version;
	/* configuration */
	char kernel[SNAP_NAME_MAX]; /* for reports */
	uint32_t kernel_fmt;        /* enum kernel_format */
	bool is_linux;
	char *cmdline; /* informational */
	uint64_t mem_size;
	uint32_t cpus;
	uint32_t irqchip; /* enum snap_irqchip */
	uint32_t discovery;
	bool acpi; /* the guest has ACPI tables (and so the VM Generation ID device) */
	uint32_t ndisks, nnets;
	struct snap_disk disk[8];
	struct snap_net net[8];
	uint64_t t_snapshot_ns; /* the origin's uptime (its t0) at the snapshot */
	/* VM: irqchip == KERNEL */
	struct kvm_irqchip pic[2], ioapic;
	struct kvm_pit_state2 pit;
	/* VM: irqchip == SPLIT */
	struct ioapic_state uioapic;
	struct kvm_clock_data clock;
	/* devices */
	struct serial_state serial;
	struct rtc_state rtc;
	struct i8042_state i8042;
	uint32_t ndev;
	struct virtio_state dev[9];
	/* vCPUs */
	struct snap_vcpu *vcpu; /* cpus entries */
	/* memory (snapshot_open() only) */
	int mem_fd;
	uint64_t mem_file_size;
	char dir[SNAP_NAME_MAX];
	char label[SNAP_NAME_MAX + 32]; /* "DIR (snapshot of KERNEL)", for reports */
};

/* ---- the format (vmm/snapshot_format.c, pure) ---- */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The state file's header: SNAP_HDR_LEN bytes (magic, version, flags, body length, body and
 * header CRC32C), in front of the sections. */
#define SNAP_HDR_LEN 32
/* Write the header of buf[0, len) (len >= SNAP_HDR_LEN) for the body that follows it. */
void snapshot_seal(uint8_t *buf, size_t len, uint32_t version);
/* Serialise s into a malloc()ed buffer (*out, *len). 0 or -ENOMEM. */
int snapshot_encode(const struct snapshot *s, uint8_t **out, size_t *len);
/* Parse and validate buf; `name` names the file in messages. On success s owns its arrays
 * (snapshot_free()); on failure nothing is left allocated and e->msg is one line naming the
 * file and the problem. -EINVAL (or -ENOMEM). */
int snapshot_decode(struct snapshot *s, const uint8_t *buf, size_t len, const char *name,
                    struct err *e);
void snapshot_free(struct snapshot *s);

/* ---- files (vmm/snapshot.c) ---- */
/* Read DIR/state and open DIR/memory (checked against the state's RAM size). */
int snapshot_open(struct snapshot *s, const char *dir, struct err *e);
void snapshot_close(struct snapshot *s);

struct vm;
/* When an origin VM takes its snapshot. */
enum snap_at { SNAP_AT_NONE, SNAP_AT_READY, SNAP_AT_PORT, SNAP_AT_SECONDS, SNAP_AT_LINE };
struct snapshot_request {
	enum snap_at at;
	uint64_t after_ms;   /* SNAP_AT_SECONDS */
	const char *pattern; /* SNAP_AT_LINE: POSIX extended regex on a console line */
	const char *dir;
	bool stop_after; /* --snapshot-then stop: end the origin once saved */
	/* A front end's order (snapshot_order()): the files are already open, in a directory the
	 * front end owns (the daemon's --snapshot-root): RAM goes to mem_fd (already as long as
	 * the RAM), the state to state_fd, both synced; no path is opened, renamed or unlinked
	 * here. dir is only a name for messages then. */
	bool to_fds;
	int mem_fd, state_fd;
};
/* Parse the --snapshot-at value. 0 or -EINVAL with e->msg. */
int snapshot_parse_at(const char *s, struct snapshot_request *r, struct err *e);

/* Ask a running VM to snapshot itself into r->dir at the next chance: its vCPUs are paused
 * (pending I/O completed), the state saved, and the VM resumes (or stops if r->stop_after).
 * Any thread, also under the serial lock. The result lands in vm->snap_result (0 / -errno,
 * with vm->snap_msg) once vm->snap_done is set. */
void snapshot_request(struct vm *vm);
/* A running VM told to snapshot itself now, by its front end (q->to_fds), as often as it is
 * told, one at a time: -EBUSY while a snapshot is under way. q must stay valid until
 * vm->on_snapshot has been called; the result is in vm->snap_result / vm->snap_msg then. */
int snapshot_order(struct vm *vm, const struct snapshot_request *q);
/* Save a VM whose vCPUs are all paused (called by the last vCPU to park) as q says. 0 or
 * -errno with a one-line message in msg. The VM is left exactly as it was. */
int snapshot_take(struct vm *vm, const struct snapshot_request *q, char *msg, size_t msglen);

/* Restore stages (cfg->snap set): the pipeline's "map the snapshot", irqchip, devices and
 * vCPUs. */
int snapshot_stage_map(struct vm *vm);
int snapshot_stage_irqchip(struct vm *vm);
int snapshot_stage_devices(struct vm *vm);
int snapshot_stage_vcpus(struct vm *vm);

/* The irqchip model's state, one pair for both modes. Restore refuses a snapshot of the other
 * mode, and under the split irqchip programs the GSI routes (KVM_SET_GSI_ROUTING) the saved
 * redirection table describes, before the devices attach their irqfds. */
int irqchip_save(struct vm *vm, struct snapshot *s);
int irqchip_restore(struct vm *vm, const struct snapshot *s);
/* The userspace IOAPIC (lock taken inside) and the 8259 guard. ioapic_restore() replaces the
 * whole state and sets the routes it implies: 0 or -errno from KVM_SET_GSI_ROUTING. */
struct ioapic;
struct pic_guard;
void ioapic_save(struct ioapic *a, struct ioapic_state *st);
int ioapic_restore(struct ioapic *a, const struct ioapic_state *st);
void pic_guard_save(const struct pic_guard *g, struct ioapic_state *st);
void pic_guard_restore(struct pic_guard *g, const struct ioapic_state *st);

/* Per-device state (one pair at the end of each device file). */
struct serial;
struct rtc;
struct i8042;
struct virtio_mmio;
void serial_save(struct serial *d, struct serial_state *st);
void serial_restore(struct serial *d, const struct serial_state *st);
void rtc_save(const struct rtc *d, struct rtc_state *st);
void rtc_restore(struct rtc *d, const struct rtc_state *st);
void i8042_save(const struct i8042 *d, struct i8042_state *st);
void i8042_restore(struct i8042 *d, const struct i8042_state *st);
/* Lock held by the caller. Restore validates st against the device (id, queue count, config
 * length, rings inside guest RAM) and returns -EINVAL with why on a mismatch. */
void virtio_mmio_save(const struct virtio_mmio *d, struct virtio_state *st);
int virtio_mmio_restore(struct virtio_mmio *d, const struct virtio_state *st, char *why,
                        size_t whylen);

/* virtio-blk: requests in flight (lock held), and a flush of the image (fdatasync; -ENOTSUP
 * for a cow disk, whose unnamed overlay a snapshot cannot keep). */
struct virtio_blk;
unsigned virtio_blk_inflight(struct virtio_blk *b);
int virtio_blk_flush(struct virtio_blk *b);

/* An open /proc/self/pagemap for saves in a process whose sandbox forbids opening it (the
 * daemon's instances): which RAM pages were ever touched. */
void snapshot_use_pagemap(int fd);
/* Front ends (main.c): --snapshot DIR must be (or become, 0700) a writable directory. */
int snapshot_check_dir(const char *dir, struct err *e);
/* Install vm->snap_req's trigger (after pipeline_run) and remove it (after vm_run). */
int snapshot_arm(struct vm *vm);
void snapshot_disarm(struct vm *vm);
/* After the run: NULL if the requested snapshot was saved, else why not. */
const char *snapshot_outcome(const struct vm *vm);
/* --restore DIR: open the snapshot and make cfg (and k, a kernel for reports only) describe
 * the saved VM. instances > 0 (batch): every writable disk becomes a private cow overlay. */
struct vm_config;
struct kernel_image;
int snapshot_configure(struct snapshot *s, const char *dir, struct vm_config *cfg,
                       unsigned instances, struct kernel_image *k, struct err *e);

/* virtio-net: a tx chain waiting for the tap is handed back in the saved state (lock held). */
struct virtio_net;
struct virtio_state;
void virtio_net_save_fixup(const struct virtio_net *n, struct virtio_state *st);

/* fastvmm guest ABI port PORT_SNAPSHOT (devices/snapshot_port.c). */
int snapshot_port_init(struct vm *vm);

#endif
