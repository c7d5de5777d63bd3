/* tests/bench/virtio_blk_bench.c — host-side virtio-blk throughput, in-process: a synthetic
 * guest RAM buffer, the real transport (register writes), virtqueue and io_uring backend, 4 KiB
 * reads of a file that sits in the page cache. No guest runs, so the figure does not depend on
 * how fast this host emulates guest code. Prints requests/s.
 *
 *   virtio_blk_bench [IMAGE|-] [SECONDS] [DEPTH]
 * IMAGE defaults to a 64 MiB temporary file (read once to warm the page cache). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cc.h"
#include "log.h"
#include "virtio.h"
#include "vmm.h"

#define RAM   (64 << 20)
#define QSIZE 256
#define DESC  0x10000
#define AVAIL 0x20000
#define USED  0x30000
#define HDRS  0x40000  /* 16-byte headers, one per slot */
#define STAT  0x50000  /* status bytes */
#define DATA  0x100000 /* 4 KiB buffers */

static int irq_fd;
static void bench_irq(struct virtio_mmio *d)
{
	(void)d;
	uint64_t one = 1;
	(void)!write(irq_fd, &one, sizeof(one));
}

static void wr(struct virtio_mmio *d, uint64_t off, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	virtio_mmio_access(d, off, b, 4, true);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 && strcmp(argv[1], "-") ? argv[1] : NULL; /* "-": temporary */
	double secs = argc > 2 ? atof(argv[2]) : 2.0;
	unsigned depth = argc > 3 ? (unsigned)atoi(argv[3]) : 64;
	if (depth < 1 || depth > QSIZE / 3)
		depth = QSIZE / 3;
	char tmp[] = "/tmp/fastvmm-bench.XXXXXX";
	if (!path) {
		int fd = mkstemp(tmp);
		if (fd < 0 || ftruncate(fd, 64 << 20) < 0)
			return perror("bench image"), 1;
		static char buf[1 << 20];
		memset(buf, 0x5a, sizeof(buf));
		for (int i = 0; i < 64; i++)
			(void)!write(fd, buf, sizeof(buf));
		close(fd);
		path = tmp;
	}
	uint8_t *ram = aligned_alloc(4096, RAM);
	memset(ram, 0, RAM);
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, RAM);

	struct disk_cfg dc = {.ro = true};
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	struct virtio_blk *b;
	char why[256];
	if (virtio_blk_create(&b, &dc, 0, &gm, 0, why, sizeof(why)) < 0) {
		fprintf(stderr, "virtio_blk_bench: %s\n", why);
		return 1;
	}
	struct virtio_mmio *d = virtio_blk_mmio(b);
	uint64_t sectors = le64(d->config);
	irq_fd = eventfd(0, EFD_CLOEXEC);
	d->raise_irq = bench_irq;
	struct iothread io;
	if (iothread_init(&io) < 0 || virtio_blk_start(b, &io) < 0 || iothread_start(&io) < 0)
		return fprintf(stderr, "virtio_blk_bench: I/O thread failed\n"), 1;

	/* The driver side of §3.1.1 through the real registers. */
	wr(d, VIRTIO_MMIO_STATUS, 0);
	wr(d, VIRTIO_MMIO_STATUS, 3);
	wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(d, VIRTIO_MMIO_STATUS, 11);
	wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, USED);
	wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(d, VIRTIO_MMIO_STATUS, 15);

	/* Slot i: descriptors 3i (header), 3i+1 (4 KiB data), 3i+2 (status). */
	uint64_t rnd = 88172645463325252ULL;
	uint16_t avail_idx = 0, used_seen = 0;
	uint8_t *avail = gm_ptr(&gm, AVAIL, 6 + 2 * QSIZE),
	        *used = gm_ptr(&gm, USED, 6 + 8 * QSIZE);
	for (unsigned i = 0; i < depth; i++) {
		uint8_t *de = gm_ptr(&gm, DESC + 48 * i, 48);
		put_le64(de, HDRS + 16 * i), put_le32(de + 8, 16), put_le16(de + 12, 1),
		        put_le16(de + 14, (uint16_t)(3 * i + 1));
		put_le64(de + 16, DATA + 4096 * i), put_le32(de + 24, 4096), put_le16(de + 28, 3),
		        put_le16(de + 30, (uint16_t)(3 * i + 2));
		put_le64(de + 32, STAT + i), put_le32(de + 40, 1), put_le16(de + 44, 2);
	}
	unsigned long long done = 0, errors = 0;
	double t0 = now(), t_end = t0 + secs;
	unsigned inflight = 0;
	/* Offer a slot: a random 4 KiB-aligned sector. */
#define OFFER(slot)                                                                                \
	do {                                                                                       \
		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;                               \
		uint8_t *h = gm_ptr(&gm, HDRS + 16 * (slot), 16);                                  \
		put_le32(h, 0);                                                                    \
		put_le64(h + 8, (rnd % (sectors / 8)) * 8);                                        \
		put_le16(avail + 4 + 2 * (avail_idx % QSIZE), (uint16_t)(3 * (slot)));             \
		avail_idx++;                                                                       \
		inflight++;                                                                        \
	} while (0)
	for (unsigned i = 0; i < depth; i++)
		OFFER(i);
	__atomic_store_n((uint16_t *)(void *)(avail + 2), avail_idx, __ATOMIC_RELEASE);
	wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while (inflight) {
		uint64_t n;
		if (read(irq_fd, &n, sizeof(n)) < 0 && errno != EINTR)
			break;
		wr(d, VIRTIO_MMIO_INTERRUPT_ACK, 1);
		uint16_t u = __atomic_load_n((uint16_t *)(void *)(used + 2), __ATOMIC_ACQUIRE);
		bool more = now() < t_end;
		while (used_seen != u) {
			unsigned slot = le32(used + 4 + 8 * (used_seen % QSIZE)) / 3;
			used_seen++;
			inflight--;
			done++;
			errors += *(uint8_t *)gm_ptr(&gm, STAT + slot, 1) != 0;
			if (more)
				OFFER(slot);
		}
		__atomic_store_n((uint16_t *)(void *)(avail + 2), avail_idx, __ATOMIC_RELEASE);
		if (more)
			wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	}
	double el = now() - t0;
	printf("virtio-blk: %llu 4 KiB reads from the page cache in %.2f s, depth %u: %.0f "
	       "requests/s "
	       "(%.0f MiB/s), %llu errors\n",
	       done, el, depth, (double)done / el, (double)done * 4096 / el / (1 << 20), errors);
	iothread_stop(&io);
	virtio_blk_destroy(b);
	if (path == tmp)
		unlink(tmp);
	free(ram);
	return errors ? 1 : 0;
}
