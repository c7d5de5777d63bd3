/* include/guest_mem.h — guest RAM and THE one place that turns guest-physical addresses into
 * host pointers.
 *
 * Guest RAM is one anonymous MAP_NORESERVE mapping faulted lazily; it appears to the guest as
 * [0, min(size, MMIO_GAP_START)) and, for larger guests, the rest at 4 GiB. */
#ifndef FASTVMM_GUEST_MEM_H
#define FASTVMM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GM_MAX_REGIONS 2
#define GM_MAX_FILES   16

struct gm_region {
	uint64_t gpa;  /* guest-physical start */
	uint64_t size; /* bytes */
	uint8_t *host; /* host mapping of gpa */
};

struct guest_mem {
	struct gm_region region[GM_MAX_REGIONS];
	unsigned nr;
	uint64_t ram_size; /* total bytes of RAM, = sum of region sizes */
	void *map;         /* the whole mapping, for munmap */
	size_t map_len;
	struct gm_file {
		uint64_t gpa, len;
	} file[GM_MAX_FILES]; /* ranges backed by gm_map_file() */
	unsigned nfile;
};

/* Map `size` bytes of guest RAM (multiple of 4 KiB, >= 1 MiB). Returns 0 or -errno. */
int gm_init(struct guest_mem *gm, uint64_t size);
/* Describe an existing buffer as guest RAM starting at gpa 0 (unit tests, benchmarks).
 * The buffer stays owned by the caller; gm_free() on it does nothing. */
/* The same layout, backed by a private (copy-on-write) mapping of fd from offset 0 (a
 * snapshot's RAM file, at least `size` bytes): pages fault in from the page cache on first
 * touch and are shared with every other mapping until written. 0 or -errno. */
int gm_init_file(struct guest_mem *gm, uint64_t size, int fd);
void gm_init_buffer(struct guest_mem *gm, void *buf, uint64_t size);
void gm_free(struct guest_mem *gm);

/* Returns a host pointer to [gpa, gpa+len) if the whole range lies inside one RAM region,
 * else NULL. len == 0 is valid when gpa lies inside (or at the end of) a region.
 * Overflow-safe for every input. Never aborts; callers treat NULL as a guest fault (for
 * guest-provided addresses) or a configuration error (for the VMM's own layout). */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copy helpers built on gm_ptr(). Return 0, or -EFAULT if the range is not RAM. */
int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len);
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/* Populate the host pages behind [gpa, gpa+len) writable in one go, before a large copy
 * (a bulk fault is far cheaper than one fault per page). Best effort: returns -errno. */
int gm_prefault(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Bytes of guest RAM resident in this process: *anon for private pages (touched by the guest
 * or the VMM, including copies of file pages the guest wrote), *file for pages still shared
 * with a file mapped by gm_map_file(). */
int gm_resident(const struct guest_mem *gm, uint64_t *anon, uint64_t *file);

/* Back [gpa, gpa+len) of guest RAM with a private (copy-on-write) mapping of fd at offset
 * instead of anonymous memory: every instance reading those pages shares the page cache's
 * copy. gpa, offset and len must be page-aligned and the range inside one RAM region.
 * Returns 0 or -errno (the range is then untouched or anonymous again: zero-filled). */
int gm_map_file(struct guest_mem *gm, uint64_t gpa, int fd, uint64_t offset, uint64_t len);

/* End of the guest-physical RAM below the MMIO gap (the usable low-RAM ceiling). */
uint64_t gm_low_end(const struct guest_mem *gm);

#endif
