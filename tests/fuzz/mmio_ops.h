/* tests/fuzz/mmio_ops.h — drive a virtio-mmio device from a fuzz input as a hostile driver
 * would: register writes and reads, guest RAM writes, notifies, and backend polls, in any
 * order. Shared by fuzz_mmio_blk.c and fuzz_mmio_net.c.
 *
 * Input: 16 KiB of initial guest RAM (or less), then ops of the form
 *   op = u8: 0..3 register write  (offset u16 & 0x1ff, value u32)
 *            4    register read   (offset u16 & 0x1ff)
 *            5    RAM write       (address u16 % RAM, length u8, bytes)
 *            6    queue notify    (queue u8)
 *            7    backend poll    (the I/O thread's work: completions, tap readiness)
 * Values are chosen so that a short input can reach DRIVER_OK: writes to the status
 * register are common, and a seed corpus holds a full driver handshake. */
#ifndef FASTVMM_FUZZ_MMIO_OPS_H
#define FASTVMM_FUZZ_MMIO_OPS_H

#include "fuzz.h"
#include "virtio.h"

#define FUZZ_RAM (64u << 10)

static uint8_t fuzz_ram[FUZZ_RAM];

static void fuzz_mmio_run(struct virtio_mmio *d, struct fz *f, void (*poll)(void *), void *arg)
{
	for (unsigned steps = 0; f->n && steps < 4096; steps++) {
		uint8_t op = fz_u8(f) % 8, b[4];
		uint32_t off;
		switch (op) {
		case 0:
		case 1:
		case 2:
		case 3:
			off = fz_u16(f) & 0x1fc;
			put_le32(b, fz_u32(f));
			virtio_mmio_access(d, off, b, 4, true);
			break;
		case 4:
			off = fz_u16(f) & 0x1ff;
			virtio_mmio_access(d, off, b, off >= VIRTIO_MMIO_CONFIG ? 1 : 4, false);
			break;
		case 5: {
			uint32_t at = fz_u16(f) % FUZZ_RAM;
			size_t len = fz_u8(f);
			if (len > FUZZ_RAM - at)
				len = FUZZ_RAM - at;
			fz_copy(f, fuzz_ram + at, len);
			break;
		}
		case 6:
			put_le32(b, fz_u8(f) % 3);
			virtio_mmio_access(d, VIRTIO_MMIO_QUEUE_NOTIFY, b, 4, true);
			break;
		case 7:
			poll(arg);
			break;
		}
	}
}

static void fuzz_ram_init(struct fz *f, struct guest_mem *gm)
{
	memset(fuzz_ram, 0, sizeof(fuzz_ram));
	size_t n = fz_u16(f) % (16u << 10);
	fz_copy(f, fuzz_ram, n);
	gm_init_buffer(gm, fuzz_ram, sizeof(fuzz_ram));
}

static void fuzz_no_irq(struct virtio_mmio *d)
{
	(void)d;
}

#endif
