/* include/virtio.h — virtio 1.x over MMIO (modern, version 2 only): split virtqueues, the
 * transport, and the blk/net devices built on them.
 *
 * Layering (kvmtool's shape): bus → virtio_mmio (registers, status machine, notifications,
 * interrupts) → device (blk, net) → virtqueue (ring access, every guest value checked).
 *
 * Threads: register accesses arrive on vCPU threads; queue work runs on the VM's I/O thread
 * (ioeventfd, io_uring, tap). Everything that touches a device's transport or queue state holds
 * that device's `lock`. Guest misbehaviour never fails the VMM: virtio_mmio_fault() marks the
 * device DEVICE_NEEDS_RESET (virtio 1.x §2.1.2), logs one line, and the device ignores its
 * queues until the driver resets it. */
#ifndef FASTVMM_VIRTIO_H
#define FASTVMM_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"

/* ---- virtio 1.x constants ---- */
#define VIRTIO_STATUS_ACKNOWLEDGE        1
#define VIRTIO_STATUS_DRIVER             2
#define VIRTIO_STATUS_DRIVER_OK          4
#define VIRTIO_STATUS_FEATURES_OK        8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED             128

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

#define VIRTIO_INT_USED   1 /* InterruptStatus: used buffer notification */
#define VIRTIO_INT_CONFIG 2 /* configuration change (also: NEEDS_RESET) */

/* virtio-mmio register offsets (virtio 1.x §4.2.2) */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW     0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH    0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW      0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH     0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100
#define VIRTIO_MMIO_MAGIC               0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR              0x4d564646 /* "FFVM" */

/* ---- split virtqueue ---- */
#define VIRTQ_MAX_SIZE  256  /* QueueNumMax we offer */
#define VIRTQ_MAX_CHAIN 1024 /* segments in one chain, indirect tables included (= IOV_MAX) */

struct virtq {
	/* Set by the driver through the transport; validated by virtq_enable(). */
	uint16_t num;
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Device-side state. */
	uint16_t last_avail; /* next avail ring slot to consume */
	uint16_t used_idx;   /* our copy of used->idx (the guest cannot move it) */
};

/* One descriptor chain, copied out of guest memory and validated. Readable (device reads:
 * "out") segments come first, then writable ("in") ones, as virtio 1.x §2.7.4.2 requires. */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin; /* iov[0..nout) readable, iov[nout..nout+nin) writable */
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Why a queue operation failed; a guest-caused failure fills `msg` with one line. */
struct virtq_err {
	char msg[200];
};

/* Validate a queue the driver marks ready: size a power of two in [1, max], rings aligned
 * (16/2/4, §2.7) and entirely inside guest RAM. Resets the device-side indices.
 * 0, or -EINVAL with e->msg. */
int virtq_enable(struct virtq *q, const struct guest_mem *gm, uint16_t max, struct virtq_err *e);
/* Pop the next available chain. `indirect`: whether VIRTIO_F_INDIRECT_DESC was negotiated.
 * Returns 1 (chain filled), 0 (ring empty), or -EINVAL (guest fault, e->msg set; the queue
 * must not be used again until reset). Out-of-RAM addresses, indices >= num, loops through
 * `next`, chains longer than VIRTQ_MAX_CHAIN, a readable segment after a writable one, bad
 * indirect tables and an avail index more than `num` ahead are all faults. */
int virtq_pop(struct virtq *q, const struct guest_mem *gm, bool indirect, struct virtq_chain *c,
              struct virtq_err *e);
/* Give back the chain just popped, unconsumed (e.g. rx buffer with no packet to put in it):
 * the next virtq_pop() re-reads and re-validates it. */
void virtq_unpop(struct virtq *q);
/* Return a chain to the driver with `len` bytes written. -EINVAL if the used ring moved out
 * of RAM (cannot happen after virtq_enable(), checked anyway). */
int virtq_push(struct virtq *q, const struct guest_mem *gm, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt now (VIRTQ_AVAIL_F_NO_INTERRUPT clear). */
bool virtq_should_notify(const struct virtq *q, const struct guest_mem *gm);
/* Whether the avail ring has chains we have not consumed. */
bool virtq_has_avail(const struct virtq *q, const struct guest_mem *gm);

/* iovec helpers: copy [off, off+len) of the iovec array to/from a flat buffer; return the
 * number of bytes copied (short if the iovecs end first). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Describe [off, off+len) of src[0..n) in dst (at most dst_max entries); returns the count,
 * or -E2BIG / -ERANGE. */
int iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *dst,
              unsigned dst_max);

/* ---- virtio-mmio transport ---- */
#define VIRTIO_MAX_QUEUES 2
#define VIRTIO_CONFIG_MAX 64

struct virtio_mmio;
struct vm;
struct virtio_dev_ops {
	const char *name; /* "virtio-blk", for log lines */
	uint32_t device_id;
	unsigned nqueues;
	/* A queue has work (QueueNotify, or an ioeventfd fired). Called with d->lock held,
	 * only while DRIVER_OK and not NEEDS_RESET. */
	void (*notify)(struct virtio_mmio *d, unsigned q);
	/* Driver wrote FEATURES_OK with these features; return false to refuse them. */
	bool (*features_ok)(struct virtio_mmio *d, uint64_t features);
	/* Device reset (status 0 written): drop device-side queue state. Lock held. */
	void (*reset)(struct virtio_mmio *d);
	/* The driver wrote config space bytes [off, off+len) (already stored in d->config). */
	void (*config_write)(struct virtio_mmio *d, uint32_t off, uint32_t len);
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *priv;
	const struct guest_mem *gm;
	struct vm *vm; /* NULL in unit tests */
	unsigned vm_id;
	uint64_t base;
	unsigned gsi;
	uint64_t host_features; /* offered; VERSION_1 always included */
	uint64_t features;      /* the driver's; once FEATURES_OK: masked to host_features,
	                         * VERSION_1 always set (see virtio_mmio.c features_settle) */
	uint32_t status, isr, dev_feat_sel, drv_feat_sel, queue_sel, config_gen;
	uint32_t generation; /* bumped on every reset: in-flight completions of an older
	                      * generation are dropped, never pushed to a re-initialised ring */
	bool faulted;
	bool tolerated_logged; /* the masked-features line was printed (once a device) */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint8_t config[VIRTIO_CONFIG_MAX];
	uint32_t config_len;
	/* Interrupt delivery: irqfd (preferred), else the callback (tests, or no irqfd). */
	int irqfd;
	void (*raise_irq)(struct virtio_mmio *d);
	int ioeventfd[VIRTIO_MAX_QUEUES]; /* -1 when QueueNotify traps to the handler */
	uint64_t irqs;                    /* interrupts raised (tests, stats) */
};

/* Initialise the transport state (no KVM, no bus): enough for unit tests. */
void virtio_mmio_init(struct virtio_mmio *d, const struct virtio_dev_ops *ops, void *priv,
                      const struct guest_mem *gm, unsigned vm_id, uint64_t features);
/* A register access (the bus handler). */
void virtio_mmio_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Mark the device DEVICE_NEEDS_RESET and log one line "vm N: <dev>: <why>; device needs
 * reset". Lock held. */
void virtio_mmio_fault(struct virtio_mmio *d, const char *why);
/* Raise InterruptStatus bits and the interrupt line. Lock held. */
void virtio_mmio_interrupt(struct virtio_mmio *d, uint32_t bits);
/* Complete a chain and interrupt the driver if it wants one. Lock held. */
void virtio_mmio_complete(struct virtio_mmio *d, unsigned q, uint16_t head, uint32_t len);
/* A notify handler that stopped at its per-call budget with work left: make queue q's
 * notify fire again on the I/O thread (its ioeventfd), after the caller drops the lock. Without
 * an ioeventfd the rest waits for the driver's next notify. Lock held. */
void virtio_mmio_renotify(struct virtio_mmio *d, unsigned q);
/* Whether queue q may be processed now (DRIVER_OK, no fault, queue ready). */
bool virtio_mmio_queue_live(const struct virtio_mmio *d, unsigned q);

struct vm;
struct iothread;
/* Put the device on the VM's MMIO bus at base with interrupt gsi, wiring irqfd and per-queue
 * ioeventfds (datamatch = queue index) when KVM offers them. 0 or -errno. */
int virtio_mmio_attach(struct virtio_mmio *d, struct vm *vm, struct iothread *io, uint64_t base,
                       unsigned gsi);
/* Close the eventfds. Call only on the way to closing the VM fd (it does not deassign). */
void virtio_mmio_detach(struct virtio_mmio *d, struct vm *vm);

#define VIRTIO_MAX_DEVS 9 /* one GSI each from virtio_gsi[] */

/* ---- I/O thread: one per VM, epoll over eventfds and backend fds; no polling ---- */
typedef void (*iothread_fn)(void *opaque, uint32_t events);
struct iothread_handler {
	int fd;
	iothread_fn fn;
	void *opaque;
};
struct iothread {
	int epfd, stop_fd;
	pthread_t thread;
	bool started;
	struct iothread_handler h[4 * VIRTIO_MAX_DEVS]; /* ioeventfds, io_uring, taps */
	unsigned nh;
	/* Called on the I/O thread if it cannot confine itself (it then serves nothing). */
	void (*on_error)(void *arg, int err);
	void *err_arg;
};
int iothread_init(struct iothread *io);
/* Watch fd for events; fn runs on the I/O thread. Returns the handler or NULL. */
struct iothread_handler *iothread_add(struct iothread *io, int fd, uint32_t events, iothread_fn fn,
                                      void *opaque);
int iothread_mod(struct iothread *io, struct iothread_handler *h, uint32_t events);
int iothread_start(struct iothread *io);
void iothread_stop(struct iothread *io);

/* ---- devices ---- */
/* GSIs for virtio devices: ISA-range, edge-triggered active-high both in the MP table (ISA bus
 * conforming) and in the DSDT's Interrupt descriptors. 4 is COM1, 8 the RTC, 9 the ACPI SCI. */
extern const unsigned virtio_gsi[VIRTIO_MAX_DEVS];

struct virtio_blk;
struct virtio_net;
struct disk_cfg;
struct net_cfg;
/* What the command line (--disk) and the daemon (PUT /templates) check of an image before
 * any VM: NULL if it can be opened as cfg asks (readable, and writable unless ro or cow) and
 * is a regular file or block device, else why not (strerror, or a fixed string). */
const char *virtio_blk_unusable(const struct disk_cfg *cfg);
/* Open the backing file (ro: O_RDONLY; cow: a private sparse overlay in $TMPDIR) and set up
 * io_uring. errors: one line in `why`. */
int virtio_blk_create(struct virtio_blk **out, const struct disk_cfg *cfg, unsigned index,
                      const struct guest_mem *gm, unsigned vm_id, char *why, size_t whylen);
struct virtio_mmio *virtio_blk_mmio(struct virtio_blk *b);
/* Watch the io_uring for completions on the I/O thread. */
int virtio_blk_start(struct virtio_blk *b, struct iothread *io);
/* Waits for in-flight requests, then frees. */
void virtio_blk_destroy(struct virtio_blk *b);
/* Process the completions that are ready, as the I/O thread does (tests, fuzzing). */
void virtio_blk_poll(struct virtio_blk *b);
/* Host operations (io_uring submissions) so far: what guest requests cost (tests, stats). */
uint64_t virtio_blk_ops(const struct virtio_blk *b);

int virtio_net_create(struct virtio_net **out, const struct net_cfg *cfg, unsigned index,
                      const uint8_t mac[6], const struct guest_mem *gm, unsigned vm_id, char *why,
                      size_t whylen);
/* The same on an already open packet fd (tests: one end of a SOCK_SEQPACKET pair); takes the
 * fd. Frames on it carry the 12-byte virtio_net_hdr. */
int virtio_net_create_fd(struct virtio_net **out, int fd, const char *name, const uint8_t mac[6],
                         const struct guest_mem *gm, unsigned vm_id);
struct virtio_mmio *virtio_net_mmio(struct virtio_net *n);
/* The tap name for instance `id` from a --net tap=NAME template: "%u" (or "%d"), once, is
 * replaced by the id. 0, or -ENAMETOOLONG if the result has more than 15 characters (it is
 * never truncated: two instances must not share a name). out: at least 16 bytes. */
int virtio_tap_name(const char *tmpl, unsigned id, char *out);
struct vm_config;
/* The MAC of NIC `nic` of instance `vm_id`: --mac counts up by one for every NIC of every
 * instance (base + vm_id * nnets + nic over the last three bytes); without --mac,
 * 52:54:00:fN:II:II (N: the NIC, II:II: the instance). */
void virtio_net_mac(const struct vm_config *cfg, unsigned vm_id, unsigned nic, uint8_t mac[6]);
int virtio_net_start(struct virtio_net *n, struct iothread *io);
/* The tap handler the I/O thread runs for these epoll events (tests, fuzzing). */
void virtio_net_poll(struct virtio_net *n, uint32_t events);
void virtio_net_destroy(struct virtio_net *n);

/* All virtio state of one VM (struct vm points here). */
struct vm_virtio {
	struct iothread io;
	struct virtio_blk *blk[VIRTIO_MAX_DEVS];
	struct virtio_net *net[VIRTIO_MAX_DEVS];
	struct virtio_mmio *dev[VIRTIO_MAX_DEVS]; /* in address order */
	unsigned ndev, nblk, nnet;
};
/* Where each configured device lives: disks first, then NICs, one VIRTIO_MMIO_SIZE window
 * each from VIRTIO_MMIO_BASE, GSIs from virtio_gsi[]. Pure (boot_info uses it before the
 * devices exist). Returns the count. */
struct vm_config;
struct virtio_slot {
	uint64_t base;
	uint32_t size, gsi;
};
/* Before the first KVM_RUN: the NICs' MACs become mac (+ the NIC's index in the last byte). */
void virtio_patch_mac(struct vm *vm, const uint8_t mac[6]);
unsigned virtio_layout(const struct vm_config *cfg, struct virtio_slot out[VIRTIO_MAX_DEVS]);
/* Add "virtio_mmio.device=4K@0x...:N" for each device to buf (NUL-terminated, len bytes):
 * before the first word that is exactly "--" (what follows it is the application's argv:
 * Unikraft, Linux's init), else at the end. -E2BIG if it does not fit (buf unchanged). */
int virtio_cmdline(const struct vm_config *cfg, char *buf, size_t len);
struct kernel_image;
/* Resolve DISCOVERY_AUTO for a kernel: ACPI for Linux, the cmdline for other kernels. */
enum virtio_discovery virtio_discovery_resolve(enum virtio_discovery d,
                                               const struct kernel_image *k);
/* Build the VM's devices (devices stage) and tear them down. */
int virtio_setup(struct vm *vm);
/* Start the VM's I/O thread (after setup: the process is still single-threaded until here,
 * which --jail's namespaces need). 0 or -errno with vm->reason set. */
int virtio_start(struct vm *vm);
void virtio_teardown(struct vm *vm);

#endif
