/* Fuzz target: the split-virtqueue walker. Input: the queue's geometry (size, ring
 * addresses, last_avail), whether indirect descriptors are negotiated, then the bytes of a
 * 64 KiB guest RAM holding the rings and descriptor tables. Every chain virtq_pop() accepts
 * is pushed back (virtq_push) as a device would. */
#include "fuzz.h"
#include "guest_mem.h"
#include "virtio.h"

#define RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[RAM];
	static struct virtq_chain chain;
	struct fz f = {data, size};
	struct virtq q = {0};
	q.num = fz_u16(&f);
	q.desc_gpa = fz_u32(&f) % RAM;
	q.avail_gpa = fz_u32(&f) % RAM;
	q.used_gpa = fz_u32(&f) % RAM;
	uint16_t start = fz_u16(&f);
	bool indirect = fz_u8(&f) & 1;
	memset(ram, 0, sizeof(ram));
	fz_copy(&f, ram, sizeof(ram));
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, sizeof(ram));
	struct virtq_err e;
	if (virtq_enable(&q, &gm, VIRTQ_MAX_SIZE, &e) < 0)
		return 0;
	q.last_avail = q.used_idx = start;
	for (unsigned i = 0; i < 2u * VIRTQ_MAX_SIZE; i++) {
		int r = virtq_pop(&q, &gm, indirect, &chain, &e);
		if (r <= 0)
			break;
		/* Touch every segment as a device would (ASan checks the bounds). */
		uint8_t buf[64];
		iov_to_buf(chain.iov, chain.nout, 0, buf, sizeof(buf));
		iov_from_buf(chain.iov + chain.nout, chain.nin, 0, buf, sizeof(buf));
		if (virtq_push(&q, &gm, chain.head, (uint32_t)chain.in_len) < 0)
			break;
		virtq_should_notify(&q, &gm);
	}
	return 0;
}
