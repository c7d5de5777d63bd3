/* tests/fuzz/fuzz.h — a cursor over a libFuzzer input, shared by the targets in this folder.
 * Every read past the end yields zeros, so a target never needs to check lengths. */
#ifndef FASTVMM_FUZZ_H
#define FASTVMM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fz_bytes(struct fz *f, unsigned k)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < k; i++) {
		uint8_t b = 0;
		if (f->n) {
			b = *f->p++;
			f->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}
#define fz_u8(f)  ((uint8_t)fz_bytes(f, 1))
#define fz_u16(f) ((uint16_t)fz_bytes(f, 2))
#define fz_u32(f) ((uint32_t)fz_bytes(f, 4))
#define fz_u64(f) fz_bytes(f, 8)

/* Up to max bytes into dst; returns how many were copied. */
static inline size_t fz_copy(struct fz *f, void *dst, size_t max)
{
	size_t k = f->n < max ? f->n : max;
	memcpy(dst, f->p, k);
	f->p += k;
	f->n -= k;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
