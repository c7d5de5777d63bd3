/* Scaffolding shared by the tests that drive a virtio-mmio device end to end through its
 * registers (test_virtio_blk.c, test_virtio_net.c): fake guest RAM, the device's transport d,
 * its iothread, an eventfd its interrupt line writes to, and the driver's side of the rings.
 * The includer defines QSIZE, the size of the queues it sets up, first. */
#ifndef FASTVMM_TESTS_VIRTIO_HARNESS_H
#define FASTVMM_TESTS_VIRTIO_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc.h"
#include "virtio.h"

#ifndef QSIZE
#error "define QSIZE before including virtio_harness.h"
#endif

static uint8_t *ram;
static struct guest_mem gm;
static struct virtio_mmio *d;
static struct iothread io;
static int irq_fd;

/* The fake guest RAM (size bytes, zeroed) and the interrupt eventfd. */
static inline void harness_init(size_t size)
{
	ram = calloc(1, size);
	gm_init_buffer(&gm, ram, size);
	irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* The device's interrupt line (d->raise_irq): a count on irq_fd. */
static inline void on_irq(struct virtio_mmio *dev)
{
	(void)dev;
	uint64_t one = 1;
	(void)!write(irq_fd, &one, sizeof(one));
}

static inline void wr(uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	virtio_mmio_access(d, off, b, 4, true);
}

static inline uint32_t rd(uint64_t off)
{
	uint8_t b[4];
	virtio_mmio_access(d, off, b, 4, false);
	return le32(b);
}

/* Queue q of QSIZE entries with its rings at these (32-bit) guest addresses, made ready. */
static inline void setup_queue(unsigned q, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, q);
	wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Descriptor i of the table at guest address table. */
static inline void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                            uint16_t next)
{
	uint8_t *p = ram + table + 16 * i;
	put_le64(p, addr);
	put_le32(p + 8, len);
	put_le16(p + 12, flags);
	put_le16(p + 14, next);
}

/* Publish head in the next slot of the avail ring at guest address avail, then notify q. */
static inline void offer(uint64_t avail, unsigned q, uint16_t head)
{
	uint16_t idx = le16(ram + avail + 2);
	put_le16(ram + avail + 4 + 2 * (idx % QSIZE), head);
	__atomic_store_n((uint16_t *)(void *)(ram + avail + 2), (uint16_t)(idx + 1),
	                 __ATOMIC_RELEASE);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* The device's index in the used ring at guest address used. */
static inline uint16_t used_idx(uint64_t used)
{
	return __atomic_load_n((uint16_t *)(void *)(ram + used + 2), __ATOMIC_ACQUIRE);
}

#endif
