/* include/bus.h — sorted address ranges for port I/O and MMIO dispatch.
 *
 * Each range is [base, base+len) with a handler. Overlapping registrations are rejected
 * (-EEXIST). Lookup is a binary search; an access must lie entirely inside one range. */
#ifndef FASTVMM_BUS_H
#define FASTVMM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called with the offset of the access from the range base. For reads, the handler fills
 * data[0..len); it is pre-filled with 0xff. len is 1, 2, 4 or 8. */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                          bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	struct bus_range *r; /* sorted by base, non-overlapping */
	size_t n, cap;
};

void bus_init(struct bus *b);
void bus_free(struct bus *b);
/* 0, -EINVAL (len 0 or wrapping), -EEXIST (overlap), -ENOMEM. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque,
                 const char *name);
/* The range containing all of [addr, addr+len), or NULL. */
const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len);
/* Dispatch an access. Unclaimed reads return all-ones, unclaimed writes are dropped.
 * Returns true if a handler claimed it. */
bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
