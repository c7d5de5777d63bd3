/* devices/virtio_mmio.c — the virtio-mmio transport, version 2 (modern) only (virtio 1.x §4.2).
 *
 * Register writes are guest-controlled values: each is taken once from the access, checked
 * against the state machine (§3.1.1: features only before FEATURES_OK, queues only while not
 * ready, status bits only ever added until a reset), and an invalid queue configuration is a
 * device fault at QueueReady time (NEEDS_RESET), never a VMM failure. Feature negotiation is
 * as tolerant as Firecracker's (see features_settle()). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "virtio.h"
#include "snapshot.h"
#include "vmm.h"

void virtio_mmio_init(struct virtio_mmio *d, const struct virtio_dev_ops *ops, void *priv,
                      const struct guest_mem *gm, unsigned vm_id, uint64_t features)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->ops = ops;
	d->priv = priv;
	d->gm = gm;
	d->vm_id = vm_id;
	d->host_features = features | (1ULL << VIRTIO_F_VERSION_1);
	d->irqfd = -1;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->ioeventfd[i] = -1;
}

void virtio_mmio_interrupt(struct virtio_mmio *d, uint32_t bits)
{
	d->isr |= bits;
	d->irqs++;
	if (d->irqfd >= 0) {
		uint64_t one = 1;
		(void)!write(d->irqfd, &one, sizeof(one));
	} else if (d->raise_irq) {
		d->raise_irq(d);
	}
}

void virtio_mmio_fault(struct virtio_mmio *d, const char *why)
{
	if (d->faulted)
		return; /* one line per fault episode, not one per request */
	d->faulted = true;
	log_warn("%s%s: %s; device needs reset", log_vm(d->vm_id), d->ops->name, why);
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	/* §2.1.2: a device entering NEEDS_RESET with DRIVER_OK set notifies the driver. */
	if (d->status & VIRTIO_STATUS_DRIVER_OK) {
		d->config_gen++;
		virtio_mmio_interrupt(d, VIRTIO_INT_CONFIG);
	}
}

bool virtio_mmio_queue_live(const struct virtio_mmio *d, unsigned q)
{
	return q < d->ops->nqueues && !d->faulted && (d->status & VIRTIO_STATUS_DRIVER_OK) &&
	       d->vq[q].ready;
}

void virtio_mmio_complete(struct virtio_mmio *d, unsigned q, uint16_t head, uint32_t len)
{
	if (!virtio_mmio_queue_live(d, q))
		return;
	if (virtq_push(&d->vq[q], d->gm, head, len) < 0) {
		virtio_mmio_fault(d, "used ring no longer inside guest RAM");
		return;
	}
	if (virtq_should_notify(&d->vq[q], d->gm))
		virtio_mmio_interrupt(d, VIRTIO_INT_USED);
}

static void device_reset(struct virtio_mmio *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	d->status = 0;
	d->isr = 0;
	d->features = 0;
	d->dev_feat_sel = d->drv_feat_sel = d->queue_sel = 0;
	d->faulted = false;
	d->generation++;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		memset(&d->vq[i], 0, sizeof(d->vq[i]));
}

/* FEATURES_OK written: settle d->features on what both sides can do (§3.1.1 step 5).
 *
 * The spec lets a device refuse a driver that accepts bits it never offered (§2.2) or that
 * does not accept VIRTIO_F_VERSION_1 (§6.1), but the drivers of real unikernels do both and
 * are tested on VMMs that tolerate it: Unikraft 0.17's virtio-net always acks
 * VIRTIO_NET_F_GUEST_ANNOUNCE and never reads FEATURES_OK back; OSv v0.57's virtio-blk and
 * virtio-net ack only device-offered bits but never VERSION_1 (only its virtio-fs does),
 * then assert FEATURES_OK on the read-back. Firecracker masks unoffered bits at ack time
 * and never checks VERSION_1. We do the same: unoffered bits are dropped, and VERSION_1 is
 * implied — this transport (virtio-mmio version 2) has only the modern layout, so a driver
 * that programs it is a modern driver whatever it acked (OSv then uses the 12-byte
 * virtio_net_hdr of §5.1.6, as do we). Nothing the host relies on is given up: a device
 * only ever sees features it offered, and queues still need FEATURES_OK and are validated
 * at QueueReady. One line per device says what was adjusted. */
static void features_settle(struct virtio_mmio *d)
{
	const uint64_t v1 = 1ULL << VIRTIO_F_VERSION_1;
	uint64_t unoffered = d->features & ~d->host_features;
	bool no_v1 = !(d->features & v1);
	if ((unoffered || no_v1) && !d->tolerated_logged) {
		d->tolerated_logged = true;
		char masked[40] = "";
		if (unoffered)
			snprintf(masked, sizeof(masked), "unoffered 0x%" PRIx64 " masked",
			         unoffered);
		log_info("%s%s: driver features 0x%" PRIx64 " (offered 0x%" PRIx64 "): %s%s%s",
		         log_vm(d->vm_id), d->ops->name, d->features, d->host_features, masked,
		         unoffered && no_v1 ? ", " : "",
		         no_v1 ? "VERSION_1 not acked, implied (modern-only transport)" : "");
	}
	d->features = (d->features & d->host_features) | v1;
}

static void write_status(struct virtio_mmio *d, uint32_t v)
{
	if (v == 0) {
		device_reset(d);
		return;
	}
	v &= 0xff &
	     ~(uint32_t)VIRTIO_STATUS_DEVICE_NEEDS_RESET; /* the device's bit, not the driver's */
	/* Bits can only be added (§3.1.1); clearing one without a reset is ignored. The device
	 * owns NEEDS_RESET. */
	uint32_t keep = d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if ((d->status & ~keep) & ~v) {
		log_debug("%s%s: status 0x%x would clear bits of 0x%x; ignored", log_vm(d->vm_id),
		          d->ops->name, v, d->status);
		return;
	}
	uint32_t added = v & ~d->status;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		features_settle(d);
		/* The device may still refuse what it cannot set up on the host side (a tap
		 * that rejects the offloads): that is the only refusal left. */
		if (d->ops->features_ok && !d->ops->features_ok(d, d->features)) {
			log_info("%s%s: driver features 0x%" PRIx64 " refused by the device",
			         log_vm(d->vm_id), d->ops->name, d->features);
			v &= ~(uint32_t)
			             VIRTIO_STATUS_FEATURES_OK; /* the driver re-reads and fails */
		}
	}
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK)) {
		v &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
		virtio_mmio_fault(d, "DRIVER_OK set without FEATURES_OK");
	}
	d->status = v | keep | (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* Work queued before DRIVER_OK (allowed by §3.1.1 for some devices) starts now. */
	if ((added & VIRTIO_STATUS_DRIVER_OK) && (d->status & VIRTIO_STATUS_DRIVER_OK))
		for (unsigned q = 0; q < d->ops->nqueues; q++)
			if (virtio_mmio_queue_live(d, q))
				d->ops->notify(d, q);
}

/* Queue registers are writable after FEATURES_OK and while the queue is not ready. */
static struct virtq *queue_for_write(struct virtio_mmio *d, uint64_t off)
{
	if (d->queue_sel >= d->ops->nqueues || d->vq[d->queue_sel].ready ||
	    !(d->status & VIRTIO_STATUS_FEATURES_OK) || (d->status & VIRTIO_STATUS_DRIVER_OK)) {
		log_debug("%s%s: queue register 0x%" PRIx64 " written in the wrong state; "
		          "ignored",
		          log_vm(d->vm_id), d->ops->name, off);
		return NULL;
	}
	return &d->vq[d->queue_sel];
}

static void set_lo(uint64_t *r, uint32_t v)
{
	*r = (*r & ~0xffffffffULL) | v;
}
static void set_hi(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffULL) | ((uint64_t)v << 32);
}

static void notify(struct virtio_mmio *d, uint32_t q)
{
	if (q >= d->ops->nqueues) {
		log_debug("%s%s: notify of queue %u ignored", log_vm(d->vm_id), d->ops->name, q);
		return;
	}
	if (virtio_mmio_queue_live(d, q))
		d->ops->notify(d, q);
}

static uint32_t reg_read(struct virtio_mmio *d, uint64_t off)
{
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return d->dev_feat_sel < 2 ? (uint32_t)(d->host_features >> (32 * d->dev_feat_sel))
		                           : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return d->queue_sel < d->ops->nqueues ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return d->queue_sel < d->ops->nqueues ? d->vq[d->queue_sel].ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return d->isr;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_gen;
	default:
		return 0;
	}
}

static void reg_write(struct virtio_mmio *d, uint64_t off, uint32_t v)
{
	struct virtq *q;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->dev_feat_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (d->status & VIRTIO_STATUS_FEATURES_OK || d->drv_feat_sel >= 2)
			break;
		if (d->drv_feat_sel)
			set_hi(&d->features, v);
		else
			set_lo(&d->features, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->drv_feat_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->queue_sel = v; /* checked at every use */
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if ((q = queue_for_write(d, off)))
			q->num = v > 0xffff ? 0 : (uint16_t)v; /* validated when made ready */
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (d->queue_sel >= d->ops->nqueues)
			break;
		q = &d->vq[d->queue_sel];
		if (!(v & 1)) {
			q->ready = false;
			break;
		}
		if (q->ready || !queue_for_write(d, off))
			break;
		struct virtq_err e;
		if (virtq_enable(q, d->gm, VIRTQ_MAX_SIZE, &e) < 0) {
			char why[256];
			snprintf(why, sizeof(why), "queue %u: %s", d->queue_sel, e.msg);
			virtio_mmio_fault(d, why);
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		notify(d, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		d->isr &= ~v;
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(d, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (!(q = queue_for_write(d, off)))
			break;
		uint64_t *r = off < VIRTIO_MMIO_QUEUE_AVAIL_LOW  ? &q->desc_gpa
		              : off < VIRTIO_MMIO_QUEUE_USED_LOW ? &q->avail_gpa
		                                                 : &q->used_gpa;
		if (off & 4)
			set_hi(r, v);
		else
			set_lo(r, v);
		break;
	case VIRTIO_MMIO_SHM_SEL:
	default:
		log_debug("%s%s: write of 0x%x to register 0x%" PRIx64 " ignored", log_vm(d->vm_id),
		          d->ops->name, v, off);
		break;
	}
}

void virtio_mmio_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *d = opaque;
	pthread_mutex_lock(&d->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		/* Device-specific config: any width, within the device's config size. */
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (c <= d->config_len && len <= d->config_len - c) {
			if (is_write) {
				/* Read-only unless the device has writable fields. */
				if (d->ops->config_write) {
					memcpy(d->config + c, data, len);
					d->ops->config_write(d, (uint32_t)c, len);
				}
			} else {
				memcpy(data, d->config + c, len);
			}
		} else if (!is_write) {
			memset(data, 0, len);
		}
	} else if (len != 4 || off % 4) {
		/* §4.2.2.2: registers are 32-bit and aligned; anything else is ignored. */
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		reg_write(d, off, le32(data));
	} else {
		put_le32(data, reg_read(d, off));
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- KVM wiring: irqfd for interrupts, ioeventfd per queue for QueueNotify ---- */

void virtio_mmio_renotify(struct virtio_mmio *d, unsigned q)
{
	uint64_t one = 1;
	if (q < VIRTIO_MAX_QUEUES && d->ioeventfd[q] >= 0)
		(void)!write(d->ioeventfd[q], &one, sizeof(one));
}

static void ioeventfd_ready(void *opaque, uint32_t events)
{
	(void)events;
	struct virtio_mmio *d = opaque;
	uint64_t n;
	pthread_mutex_lock(&d->lock);
	for (unsigned q = 0; q < d->ops->nqueues; q++)
		if (d->ioeventfd[q] >= 0 && read(d->ioeventfd[q], &n, sizeof(n)) == sizeof(n))
			notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

static void irq_line_pulse(struct virtio_mmio *d)
{
	struct vm *vm = d->vm;
	vm_irq_line(vm, d->gsi, 1);
	vm_irq_line(vm, d->gsi, 0);
}

int virtio_mmio_attach(struct virtio_mmio *d, struct vm *vm, struct iothread *io, uint64_t base,
                       unsigned gsi)
{
	d->base = base;
	d->gsi = gsi;
	d->vm = vm;
	int r = bus_register(&vm->mmio, base, VIRTIO_MMIO_SIZE, virtio_mmio_access, d,
	                     d->ops->name);
	if (r < 0)
		return r;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi};
	if (fd >= 0 && ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) == 0) {
		d->irqfd = fd;
	} else {
		log_info("%s%s: no irqfd (%s); interrupts via KVM_IRQ_LINE", log_vm(d->vm_id),
		         d->ops->name, strerror(errno));
		if (fd >= 0)
			close(fd);
		d->raise_irq = irq_line_pulse;
	}
	for (unsigned q = 0; q < d->ops->nqueues; q++) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_ioeventfd ioe = {
		        .datamatch = q,
		        .addr = base + VIRTIO_MMIO_QUEUE_NOTIFY,
		        .len = 4,
		        .fd = fd,
		        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		bool assigned = fd >= 0 && ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioe) == 0;
		if (assigned && iothread_add(io, fd, EPOLLIN, ioeventfd_ready, d)) {
			d->ioeventfd[q] = fd;
		} else {
			/* Assigned but nobody watches it: KVM would swallow every QueueNotify
			 * into an eventfd nobody reads. Take it back before falling back. */
			int err = errno;
			if (assigned) {
				ioe.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
				if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioe) < 0)
					log_warn("%s%s: KVM_IOEVENTFD deassign: %s",
					         log_vm(d->vm_id), d->ops->name, strerror(errno));
			}
			errno = err;
			/* QueueNotify then traps to virtio_mmio_access() on the vCPU thread. */
			log_info("%s%s: no ioeventfd for queue %u (%s); notify by MMIO exit",
			         log_vm(d->vm_id), d->ops->name, q, strerror(errno));
			if (fd >= 0)
				close(fd);
		}
	}
	return 0;
}

void virtio_mmio_detach(struct virtio_mmio *d, struct vm *vm)
{
	/* Only the eventfds are closed. Deassigning an ioeventfd costs an SRCU grace period
	 * (5.6 ms measured here) and buys nothing when the VM fd is about to be closed; an irqfd
	 * deassigns itself when its eventfd is closed (EPOLLHUP). */
	(void)vm;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (d->ioeventfd[q] >= 0)
			close(d->ioeventfd[q]);
		d->ioeventfd[q] = -1;
	}
	if (d->irqfd >= 0)
		close(d->irqfd);
	d->irqfd = -1;
}

/* ---- snapshots (include/snapshot.h); d->lock held by the caller ---- */

void virtio_mmio_save(const struct virtio_mmio *d, struct virtio_state *st)
{
	memset(st, 0, sizeof(*st));
	st->device_id = d->ops->device_id;
	st->nqueues = d->ops->nqueues;
	st->host_features = d->host_features;
	st->features = d->features;
	st->status = d->status;
	st->isr = d->isr;
	st->dev_feat_sel = d->dev_feat_sel;
	st->drv_feat_sel = d->drv_feat_sel;
	st->queue_sel = d->queue_sel;
	st->config_gen = d->config_gen;
	st->generation = d->generation;
	st->faulted = d->faulted;
	st->config_len = d->config_len;
	memcpy(st->config, d->config,
	       sizeof(st->config) < sizeof(d->config) ? sizeof(st->config) : sizeof(d->config));
	for (unsigned q = 0; q < d->ops->nqueues && q < SNAP_VQ_MAX; q++) {
		const struct virtq *v = &d->vq[q];
		st->vq[q] = (struct virtq_state){.num = v->num,
		                                 .last_avail = v->last_avail,
		                                 .used_idx = v->used_idx,
		                                 .ready = v->ready,
		                                 .desc_gpa = v->desc_gpa,
		                                 .avail_gpa = v->avail_gpa,
		                                 .used_gpa = v->used_gpa};
	}
}

/* The saved state is checked as the driver's register writes would be: the same device, the
 * features a subset of what this device offers, every ready queue valid in this guest RAM
 * (virtq_enable()). Then queues with work pending are kicked, as DRIVER_OK would. */
int virtio_mmio_restore(struct virtio_mmio *d, const struct virtio_state *st, char *why,
                        size_t whylen)
{
	if (st->device_id != d->ops->device_id || st->nqueues != d->ops->nqueues ||
	    st->config_len != d->config_len) {
		snprintf(why, whylen,
		         "%s: saved device (id %u, %u queues, %u config bytes) does "
		         "not fit",
		         d->ops->name, st->device_id, st->nqueues, st->config_len);
		return -EINVAL;
	}
	if (st->features & ~d->host_features) {
		snprintf(why, whylen,
		         "%s: saved features 0x%" PRIx64 " exceed this device's 0x%" PRIx64,
		         d->ops->name, st->features, d->host_features);
		return -EINVAL;
	}
	d->features = st->features;
	d->status = st->status & 0xff;
	d->isr = st->isr & (VIRTIO_INT_USED | VIRTIO_INT_CONFIG);
	d->dev_feat_sel = st->dev_feat_sel;
	d->drv_feat_sel = st->drv_feat_sel;
	d->queue_sel = st->queue_sel;
	d->config_gen = st->config_gen;
	d->generation = st->generation;
	d->faulted = st->faulted != 0;
	/* Config space is the device's (MAC, capacity): this host's values stand. */
	for (unsigned q = 0; q < d->ops->nqueues; q++) {
		struct virtq *v = &d->vq[q];
		const struct virtq_state *s = &st->vq[q];
		*v = (struct virtq){.num = s->num,
		                    .desc_gpa = s->desc_gpa,
		                    .avail_gpa = s->avail_gpa,
		                    .used_gpa = s->used_gpa};
		if (!s->ready)
			continue;
		struct virtq_err e;
		if (virtq_enable(v, d->gm, VIRTQ_MAX_SIZE, &e) < 0) {
			snprintf(why, whylen, "%s: queue %u: %s", d->ops->name, q, e.msg);
			return -EINVAL;
		}
		v->ready = true;
		v->last_avail = s->last_avail;
		v->used_idx = s->used_idx;
	}
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		for (unsigned q = 0; q < d->ops->nqueues; q++)
			if (virtio_mmio_queue_live(d, q))
				d->ops->notify(d, q);
	return 0;
}
