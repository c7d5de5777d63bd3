/* devices/virtio_net.c — virtio-net (virtio 1.x §5.1) on a tap device.
 *
 * The tap is opened IFF_TAP|IFF_NO_PI|IFF_VNET_HDR with a 12-byte vnet header, the same layout
 * as virtio_net_hdr with VERSION_1, so headers pass between guest and tap unchanged (the tap
 * does not write num_buffers: we set it to 1, there is no MRG_RXBUF). Checksum and TSO offloads
 * are offered only if the tap accepts TUNSETOFFLOAD, and switched on in the tap only for what
 * the driver negotiated.
 *
 * Backpressure without polling: rx reads the tap only while the guest has posted buffers; with
 * none left, EPOLLIN is switched off until the driver notifies the rx queue. A tx packet the
 * tap refuses with EAGAIN is kept and retried on EPOLLOUT; the tx queue waits behind it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "virtio.h"
#include "snapshot.h"
#include "vmm.h"

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12

#define NET_HDR_LEN 12
#define RXQ         0
#define TXQ         1
#define MAX_FRAME   (65536 + NET_HDR_LEN + 14) /* a TSO frame plus headers */

struct virtio_net {
	struct virtio_mmio mmio;
	int tap;
	char ifname[IFNAMSIZ];
	bool offloads; /* the tap accepts TUNSETOFFLOAD */
	struct iothread *io;
	struct iothread_handler *h;
	bool rx_stalled; /* EPOLLIN off: no rx buffers */
	bool tx_blocked; /* tx_chain waits for EPOLLOUT */
	struct virtq_chain rx_chain, tx_chain;
	uint64_t rx_packets, tx_packets, tx_dropped;
};

struct virtio_mmio *virtio_net_mmio(struct virtio_net *n)
{
	return &n->mmio;
}

static void set_events(struct virtio_net *n)
{
	if (!n->h)
		return;
	uint32_t ev = (n->rx_stalled ? 0 : EPOLLIN) | (n->tx_blocked ? EPOLLOUT : 0);
	iothread_mod(n->io, n->h, ev);
}

static void net_rx(struct virtio_net *n)
{
	struct virtio_mmio *d = &n->mmio;
	bool indirect = d->features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	/* At most a queue's worth of packets per call; EPOLLIN is level-triggered, so the rest
	 * comes on the next round, after other handlers (and register access) had the lock. */
	unsigned budget = d->vq[RXQ].num;
	for (; budget; budget--) {
		if (!virtio_mmio_queue_live(d, RXQ) || !virtq_has_avail(&d->vq[RXQ], d->gm)) {
			n->rx_stalled = true; /* until the driver posts buffers and notifies */
			break;
		}
		struct virtq_err e;
		int r = virtq_pop(&d->vq[RXQ], d->gm, indirect, &n->rx_chain, &e);
		if (r < 0) {
			virtio_mmio_fault(d, e.msg);
			break;
		}
		if (r == 0)
			break;
		struct virtq_chain *c = &n->rx_chain;
		if (c->nout || c->in_len < NET_HDR_LEN) {
			virtio_mmio_fault(d, c->nout ? "rx buffer has device-readable descriptors"
			                             : "rx buffer smaller than the 12-byte header");
			break;
		}
		ssize_t got = readv(n->tap, c->iov, (int)c->nin);
		if (got < 0) {
			virtq_unpop(&d->vq[RXQ]);
			if (errno != EAGAIN && errno != EINTR)
				log_info("%svirtio-net: read %s: %s", log_vm(d->vm_id), n->ifname,
				         strerror(errno));
			break;
		}
		uint8_t one[2] = {1, 0}; /* num_buffers */
		iov_from_buf(c->iov, c->nin, 10, one, 2);
		n->rx_packets++;
		virtio_mmio_complete(d, RXQ, c->head, (uint32_t)got);
	}
	set_events(n);
}

/* Write the held or next tx chains to the tap; false if the tap is full. */
static void net_tx(struct virtio_net *n)
{
	struct virtio_mmio *d = &n->mmio;
	bool indirect = d->features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	struct virtq_chain *c = &n->tx_chain;
	/* At most a queue's worth of packets per call: a driver refilling the ring from another
	 * vCPU must not keep us here, holding the lock register access needs. */
	unsigned budget = d->vq[TXQ].num;
	while (virtio_mmio_queue_live(d, TXQ)) {
		if (!budget--) {
			virtio_mmio_renotify(d, TXQ);
			break;
		}
		if (!n->tx_blocked) {
			struct virtq_err e;
			int r = virtq_pop(&d->vq[TXQ], d->gm, indirect, c, &e);
			if (r < 0) {
				virtio_mmio_fault(d, e.msg);
				break;
			}
			if (r == 0)
				break;
			if (c->nin || c->out_len < NET_HDR_LEN) {
				virtio_mmio_fault(
				        d, c->nin ? "tx packet has device-writable descriptors"
				                  : "tx packet shorter than the 12-byte header");
				break;
			}
		}
		n->tx_blocked = false;
		if (c->out_len <= MAX_FRAME && writev(n->tap, c->iov, (int)c->nout) < 0) {
			if (errno == EAGAIN) {
				n->tx_blocked = true; /* keep the chain; EPOLLOUT resumes */
				break;
			}
			n->tx_dropped++; /* e.g. a header the tap refuses: that packet only */
			log_debug("%svirtio-net: tx dropped: %s", log_vm(d->vm_id),
			          strerror(errno));
		} else if (c->out_len > MAX_FRAME) {
			n->tx_dropped++;
		} else {
			n->tx_packets++;
		}
		virtio_mmio_complete(d, TXQ, c->head, 0);
	}
	set_events(n);
}

static void net_notify(struct virtio_mmio *d, unsigned q)
{
	struct virtio_net *n = d->priv;
	if (q == RXQ) {
		n->rx_stalled = false;
		net_rx(n);
	} else {
		net_tx(n);
	}
}

static void tap_ready(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	pthread_mutex_lock(&n->mmio.lock);
	if (events & EPOLLOUT)
		net_tx(n);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		net_rx(n);
	pthread_mutex_unlock(&n->mmio.lock);
}

void virtio_net_poll(struct virtio_net *n, uint32_t events)
{
	tap_ready(n, events);
}

static bool net_features_ok(struct virtio_mmio *d, uint64_t f)
{
	struct virtio_net *n = d->priv;
	if (!n->offloads)
		return true;
	/* What the tap may hand us = what the guest accepts on receive. */
	unsigned off = 0;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
	}
	if (ioctl(n->tap, TUNSETOFFLOAD, off) < 0) {
		log_info("%svirtio-net: TUNSETOFFLOAD 0x%x: %s", log_vm(d->vm_id), off,
		         strerror(errno));
		return false;
	}
	return true;
}

static void net_reset(struct virtio_mmio *d)
{
	struct virtio_net *n = d->priv;
	n->tx_blocked = false;
	n->rx_stalled = true;
	set_events(n);
	if (n->offloads)
		ioctl(n->tap, TUNSETOFFLOAD, 0);
}

static const struct virtio_dev_ops net_ops = {
        .name = "virtio-net",
        .device_id = VIRTIO_ID_NET,
        .nqueues = 2,
        .notify = net_notify,
        .features_ok = net_features_ok,
        .reset = net_reset,
};

/* Everything after the backend fd exists (shared with virtio_net_create_fd()). */
static void net_init(struct virtio_net *n, const uint8_t mac[6], const struct guest_mem *gm,
                     unsigned vm_id)
{
	n->offloads = ioctl(n->tap, TUNSETOFFLOAD, 0) == 0;
	uint64_t features = (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_NET_F_MAC);
	if (n->offloads)
		features |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
		            (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
		            (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6);
	virtio_mmio_init(&n->mmio, &net_ops, n, gm, vm_id, features);
	memcpy(n->mmio.config, mac, 6); /* struct virtio_net_config: mac, status */
	n->mmio.config_len = 8;
	n->rx_stalled = true;
	log_info("%svirtio-net on %s, mac %02x:%02x:%02x:%02x:%02x:%02x", log_vm(vm_id), n->ifname,
	         mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int virtio_net_create_fd(struct virtio_net **out, int fd, const char *name, const uint8_t mac[6],
                         const struct guest_mem *gm, unsigned vm_id)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->tap = fd;
	snprintf(n->ifname, sizeof(n->ifname), "%s", name);
	net_init(n, mac, gm, vm_id);
	*out = n;
	return 0;
}

int virtio_tap_name(const char *tmpl, unsigned id, char *out)
{
	/* "fv%u": one predictable tap per instance in batch mode (the instance id). */
	char buf[64];
	const char *pct = strchr(tmpl, '%');
	int n;
	if (pct && (pct[1] == 'u' || pct[1] == 'd') && !strchr(pct + 1, '%'))
		n = snprintf(buf, sizeof(buf), "%.*s%u%s", (int)(pct - tmpl), tmpl, id, pct + 2);
	else
		n = snprintf(buf, sizeof(buf), "%s", tmpl);
	if (n < 0 || n >= IFNAMSIZ)
		return -ENAMETOOLONG;
	memcpy(out, buf, (size_t)n + 1);
	return 0;
}

int virtio_net_create(struct virtio_net **out, const struct net_cfg *cfg, unsigned index,
                      const uint8_t mac[6], const struct guest_mem *gm, unsigned vm_id, char *why,
                      size_t whylen)
{
	(void)index;
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(why, whylen, "--net: out of memory");
		return -ENOMEM;
	}
	n->tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap < 0) {
		int r = -errno;
		snprintf(why, whylen, "--net: /dev/net/tun: %s", strerror(-r));
		free(n);
		return r;
	}
	struct ifreq ifr = {0};
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (cfg->tap && virtio_tap_name(cfg->tap, vm_id, ifr.ifr_name) < 0) {
		snprintf(why, whylen, "--net tap=%s: longer than 15 characters for instance %u",
		         cfg->tap, vm_id);
		close(n->tap);
		free(n);
		return -ENAMETOOLONG;
	}
	int hdr = NET_HDR_LEN;
	if (ioctl(n->tap, TUNSETIFF, &ifr) < 0 || ioctl(n->tap, TUNSETVNETHDRSZ, &hdr) < 0) {
		int r = -errno;
		snprintf(why, whylen, "--net tap%s%s: %s", cfg->tap ? "=" : "",
		         cfg->tap ? cfg->tap : "", strerror(-r));
		close(n->tap);
		free(n);
		return r;
	}
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifr.ifr_name);
	net_init(n, mac, gm, vm_id);
	*out = n;
	return 0;
}

int virtio_net_start(struct virtio_net *n, struct iothread *io)
{
	n->io = io;
	n->h = iothread_add(io, n->tap, 0, tap_ready, n);
	return n->h ? 0 : -errno;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	if (n->tap >= 0)
		close(n->tap); /* a tap fastvmm created disappears with its last fd */
	pthread_mutex_destroy(&n->mmio.lock);
	free(n);
}

/* ---- snapshots (include/snapshot.h) ---- */

/* A tx chain held for EPOLLOUT was consumed from the avail ring but not completed: the saved
 * state hands it back (as virtq_unpop() would), so that a restore sends it again. */
void virtio_net_save_fixup(const struct virtio_net *n, struct virtio_state *st)
{
	if (n->tx_blocked && TXQ < SNAP_VQ_MAX)
		st->vq[TXQ].last_avail--;
}
