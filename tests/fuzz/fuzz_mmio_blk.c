/* Fuzz target: virtio-mmio registers and queues with the virtio-blk backend on a real
 * 64 KiB image (plain, read-only or cow, by the first input byte), completions processed
 * synchronously (virtio_blk_poll) instead of on an I/O thread. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "mmio_ops.h"
#include "sandbox.h"
#include "vmm.h"

static void poll_blk(void *b)
{
	virtio_blk_poll(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0]) {
		log_level = -1;
		snprintf(path, sizeof(path), "/tmp/fastvmm-fuzz-blk.%d", getpid());
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, 64 << 10) < 0)
			abort();
		close(fd);
	}
	struct fz f = {data, size};
	uint8_t mode = fz_u8(&f) % 3;
	struct guest_mem gm;
	fuzz_ram_init(&f, &gm);
	struct disk_cfg cfg = {.ro = mode == 1, .cow = mode == 2};
	snprintf(cfg.path, sizeof(cfg.path), "%s", path);
	struct virtio_blk *b;
	char why[256];
	if (virtio_blk_create(&b, &cfg, 0, &gm, 0, why, sizeof(why)) < 0)
		abort();
	struct virtio_mmio *d = virtio_blk_mmio(b);
	d->raise_irq = fuzz_no_irq;
	fuzz_mmio_run(d, &f, poll_blk, b);
	virtio_blk_destroy(b);
	return 0;
}
