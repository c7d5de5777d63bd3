/* guests/evil_virtio.c — a hostile virtio-blk driver. `evil=N` picks one malformed behaviour:
 *   1 queue size 3 (not a power of two)     2 descriptor table outside guest RAM
 *   3 descriptor loop through `next`        4 descriptor index out of range in the avail ring
 *   5 descriptor of 4 GiB - 1 bytes         6 avail index far ahead of the device
 *   7 request without a status byte         8 indirect table that is not a multiple of 16
 * The device must enter DEVICE_NEEDS_RESET (fastvmm logs why); the guest then resets it,
 * drives it correctly (GET_ID) to show it recovered, and exits 0. Exit 1: the device did not
 * notice; exit 2: it did not recover. */
#include "virtio_guest.h"

static struct vq q __attribute__((aligned(4096)));
static struct {
	uint32_t type, reserved;
	uint64_t sector;
} hdr;
static uint8_t status;
static char id[21];

static void say(const char *s)
{
	print("evil_virtio: ");
	print(s);
	print("\n");
}

static int needs_reset(uint64_t base)
{
	for (unsigned i = 0; i < 100000; i++) {
		if (mmio_rd(base, 0x070) & 64)
			return 1;
		__asm__ volatile("pause");
	}
	return 0;
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	q.desc[i] = (struct vq_desc){addr, len, flags, next};
}

static void offer_raw(uint64_t base, uint16_t head, uint16_t idx_bump)
{
	q.avail.ring[q.avail.idx % VQ_SIZE] = head;
	barrier();
	q.avail.idx = (uint16_t)(q.avail.idx + idx_bump);
	barrier();
	mmio_wr(base, 0x050, 0);
}

void guest_main(const char *cmdline)
{
	unsigned mode = cmdline_uint(cmdline, "evil", 0);
	uint64_t base = cmdline_virtio_base(cmdline, 0);
	if (!base || virtio_negotiate(base, 2, 1u << 28 /* INDIRECT_DESC */)) {
		say("no usable virtio-blk device");
		guest_exit(1);
	}
	ready();
	uint64_t h = (uint64_t)(uintptr_t)&hdr, st = (uint64_t)(uintptr_t)&status;
	switch (mode) {
	case 1:
		mmio_wr(base, 0x030, 0);
		mmio_wr(base, 0x038, 3);
		mmio_wr(base, 0x044, 1);
		break;
	case 2: {
		struct vq *far = (struct vq *)(uintptr_t)0xbff00000; /* beyond RAM, below MMIO */
		virtio_queue(base, far, 0, VQ_SIZE);
		break;
	}
	default:
		virtio_queue(base, &q, 0, VQ_SIZE);
		mmio_wr(base, 0x070, 15);
		hdr.type = 8; /* GET_ID */
		switch (mode) {
		case 3:
			desc(0, h, 16, 1, 1);
			desc(1, (uint64_t)(uintptr_t)id, 20, 1 | 2, 2);
			desc(2, st, 1, 1 | 2, 1); /* back to 1: a loop */
			offer_raw(base, 0, 1);
			break;
		case 4:
			offer_raw(base, 200, 1);
			break;
		case 5:
			desc(0, h, 16, 1, 1);
			desc(1, 0x100000, 0xffffffff, 2, 0);
			offer_raw(base, 0, 1);
			break;
		case 6:
			desc(0, h, 16, 0, 0);
			offer_raw(base, 0, 1000);
			break;
		case 7:
			desc(0, h, 16, 0, 0); /* header only: nowhere to write a status */
			offer_raw(base, 0, 1);
			break;
		case 8:
			desc(0, (uint64_t)(uintptr_t)&q.desc[4], 40, 4, 0);
			offer_raw(base, 0, 1);
			break;
		default:
			say("unknown evil= mode");
			guest_exit(1);
		}
	}
	if (!needs_reset(base)) {
		say("device did not enter NEEDS_RESET");
		guest_exit(1);
	}
	say("device reports DEVICE_NEEDS_RESET");
	/* Reset and behave: the device must work again. */
	for (unsigned i = 0; i < sizeof(q); i++)
		((volatile uint8_t *)&q)[i] = 0;
	if (virtio_init(base, 2, &q, 0, VQ_SIZE)) {
		say("re-initialisation failed");
		guest_exit(2);
	}
	hdr.type = 8;
	status = 0xff;
	desc(0, h, 16, 1, 1);
	desc(1, (uint64_t)(uintptr_t)id, 20, 1 | 2, 2);
	desc(2, st, 1, 2, 0);
	if (vq_submit_wait(base, &q, 0, 0) < 0 || status != 0) {
		say("device still broken after reset");
		guest_exit(2);
	}
	print("evil_virtio: recovered after reset, id ");
	print(id);
	print("\n");
	guest_exit(0);
}
