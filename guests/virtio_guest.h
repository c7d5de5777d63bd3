/* guests/virtio_guest.h — a minimal polled virtio-mmio (v2) driver for the test guests: one
 * queue of 8 descriptors, no interrupts. Freestanding, general registers only. */
#ifndef VIRTIO_GUEST_H
#define VIRTIO_GUEST_H

#include <stdbool.h>

#include "guest.h"

#define VQ_SIZE 8

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct vq_avail {
	uint16_t flags, idx, ring[VQ_SIZE], used_event;
};
struct vq_used_elem {
	uint32_t id, len;
};
struct vq_used {
	uint16_t flags, idx;
	struct vq_used_elem ring[VQ_SIZE];
	uint16_t avail_event;
};
struct vq {
	struct vq_desc desc[VQ_SIZE] __attribute__((aligned(16)));
	struct vq_avail avail __attribute__((aligned(4)));
	struct vq_used used __attribute__((aligned(4)));
	uint16_t last_used;
};

#define barrier() __asm__ volatile("" ::: "memory")

static inline uint32_t mmio_rd(uint64_t base, unsigned off)
{
	return *(volatile uint32_t *)(uintptr_t)(base + off);
}
static inline void mmio_wr(uint64_t base, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(base + off) = v;
}

/* Base address of the n-th "virtio_mmio.device=<size>@0x<addr>:<irq>" on the command line. */
static inline uint64_t cmdline_virtio_base(const char *cmdline, unsigned n)
{
	static const char key[] = "virtio_mmio.device=";
	for (const char *p = cmdline; p && *p; p++) {
		/* Like Unikraft, look only before a " -- ": what follows is the app's argv. */
		if ((p == cmdline || p[-1] == ' ') && p[0] == '-' && p[1] == '-' &&
		    (p[2] == ' ' || !p[2]))
			return 0;
		unsigned i = 0;
		while (key[i] && p[i] == key[i])
			i++;
		if (key[i])
			continue;
		if (n--)
			continue;
		p += i;
		while (*p && *p != '@')
			p++;
		if (p[0] != '@' || p[1] != '0' || p[2] != 'x')
			return 0;
		uint64_t v = 0;
		for (p += 3;; p++) {
			unsigned d;
			if (*p >= '0' && *p <= '9')
				d = (unsigned)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				d = (unsigned)(*p - 'a' + 10);
			else
				break;
			v = v * 16 + d;
		}
		return v;
	}
	return 0;
}

static inline void print_hex(uint64_t v)
{
	char b[19] = "0x";
	for (int i = 0; i < 16; i++)
		b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	b[18] = 0;
	print(b);
}

static inline void print_uint(unsigned v)
{
	char b[12];
	int i = 11;
	b[i] = 0;
	do
		b[--i] = (char)('0' + v % 10);
	while (v /= 10);
	print(b + i);
}

/* Check the device's identity, reset it and set ACKNOWLEDGE | DRIVER: the start both
 * negotiations share. 0 or a reason code. */
static inline int virtio_begin(uint64_t base, uint32_t want_id)
{
	if (mmio_rd(base, 0x000) != 0x74726976 || mmio_rd(base, 0x004) != 2)
		return 1;
	if (mmio_rd(base, 0x008) != want_id)
		return 2;
	mmio_wr(base, 0x070, 0);
	mmio_wr(base, 0x070, 1);
	mmio_wr(base, 0x070, 3);
	return 0;
}

/* Reset and negotiate VERSION_1 plus `low` (feature bits 0-31). 0 or a reason code. */
static inline int virtio_negotiate(uint64_t base, uint32_t want_id, uint32_t low)
{
	int r = virtio_begin(base, want_id);
	if (r)
		return r;
	mmio_wr(base, 0x014, 1);
	if (!(mmio_rd(base, 0x010) & 1))
		return 3;
	mmio_wr(base, 0x024, 0);
	mmio_wr(base, 0x020, low);
	mmio_wr(base, 0x024, 1);
	mmio_wr(base, 0x020, 1);
	mmio_wr(base, 0x070, 11);
	if (!(mmio_rd(base, 0x070) & 8))
		return 4;
	return 0;
}

/* Negotiate as the drivers of real unikernels do (the device must tolerate it): ack `low`
 * plus bits the device never offered (Unikraft 0.17 acks VIRTIO_NET_F_GUEST_ANNOUNCE, 21,
 * whatever the offer), do not ack VERSION_1 (OSv v0.57's blk/net), and write FEATURES_OK
 * without reading it back (Unikraft). 0 or a reason code. */
static inline int virtio_negotiate_loose(uint64_t base, uint32_t want_id, uint32_t low)
{
	int r = virtio_begin(base, want_id);
	if (r)
		return r;
	mmio_wr(base, 0x014, 0);
	uint32_t unoffered = ~mmio_rd(base, 0x010) & ((1u << 21) | (1u << 22) | (1u << 27));
	mmio_wr(base, 0x024, 1);
	mmio_wr(base, 0x020, 0);
	mmio_wr(base, 0x024, 0);
	mmio_wr(base, 0x020, low | unoffered);
	mmio_wr(base, 0x070, 11);
	return 0;
}

/* Queue qi with `num` entries at q (after virtio_negotiate()). */
static inline int virtio_queue(uint64_t base, struct vq *q, unsigned qi, unsigned num)
{
	mmio_wr(base, 0x030, qi);
	if (mmio_rd(base, 0x034) < num)
		return 5;
	mmio_wr(base, 0x038, num);
	mmio_wr(base, 0x080, (uint32_t)(uintptr_t)q->desc);
	mmio_wr(base, 0x084, 0);
	mmio_wr(base, 0x090, (uint32_t)(uintptr_t)&q->avail);
	mmio_wr(base, 0x094, 0);
	mmio_wr(base, 0x0a0, (uint32_t)(uintptr_t)&q->used);
	mmio_wr(base, 0x0a4, 0);
	mmio_wr(base, 0x044, 1);
	return 0;
}

/* Negotiate, one queue, DRIVER_OK. 0 or a reason code. */
static inline int virtio_init(uint64_t base, uint32_t want_id, struct vq *q, unsigned qi,
                              unsigned num)
{
	int r = virtio_negotiate(base, want_id, 0);
	if (!r)
		r = virtio_queue(base, q, qi, num);
	if (!r)
		mmio_wr(base, 0x070, 15);
	return r;
}

/* Offer the chain starting at head, notify queue qi, wait for it to come back; returns the
 * used length, or -1 if the device entered NEEDS_RESET instead. */
static inline long vq_submit_wait(uint64_t base, struct vq *q, unsigned qi, uint16_t head)
{
	q->avail.ring[q->avail.idx % VQ_SIZE] = head;
	barrier();
	q->avail.idx++;
	barrier();
	mmio_wr(base, 0x050, qi);
	for (;;) {
		if (*(volatile uint16_t *)&q->used.idx != q->last_used)
			break;
		if (mmio_rd(base, 0x070) & 64)
			return -1;
		__asm__ volatile("pause");
	}
	barrier();
	long len = q->used.ring[q->last_used % VQ_SIZE].len;
	q->last_used++;
	return len;
}

#endif
