/* vmm/bus.c — sorted, non-overlapping PIO/MMIO ranges with binary-search lookup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cc.h"

void bus_init(struct bus *b)
{
	memset(b, 0, sizeof(*b));
}

void bus_free(struct bus *b)
{
	free(b->r);
	memset(b, 0, sizeof(*b));
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque,
                 const char *name)
{
	if (!len || !fn || base + len < base)
		return -EINVAL;
	size_t pos = 0;
	while (pos < b->n && b->r[pos].base < base)
		pos++;
	/* Sorted and non-overlapping: only the neighbours can collide. */
	if (pos > 0 && ranges_overlap(b->r[pos - 1].base, b->r[pos - 1].len, base, len))
		return -EEXIST;
	if (pos < b->n && ranges_overlap(b->r[pos].base, b->r[pos].len, base, len))
		return -EEXIST;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		b->r = r;
		b->cap = cap;
	}
	memmove(&b->r[pos + 1], &b->r[pos], (b->n - pos) * sizeof(*b->r));
	b->r[pos] = (struct bus_range){base, len, fn, opaque, name};
	b->n++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->r[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return (len <= r->len - (addr - r->base)) ? r : NULL;
	}
	return NULL;
}

bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, len);
	const struct bus_range *r = bus_find(b, addr, len);
	if (!r)
		return false;
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return true;
}
