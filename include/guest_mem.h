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
	int huge; /* GM_HUGE_*: how the RAM is backed */
};
enum { GM_HUGE_NONE, GM_HUGE_HUGETLB, GM_HUGE_THP };

/* Map `size` bytes of guest RAM (multiple of 4 KiB, >= 1 MiB). Returns 0 or -errno. */
int gm_init(struct guest_mem *gm, uint64_t size);
/* The same on 2 MiB pages (size: a multiple of 2 MiB): from the hugetlbfs pool when it has
 * enough free pages (reserved at map time, so a short pool fails here and not at a guest
 * fault), else transparent huge pages when THP is not "never". -EINVAL for a bad size,
 * -ENOMEM when neither is available. The kernel image is then copied, not file-mapped. */
int gm_init_huge(struct guest_mem *gm, uint64_t size);
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

/* Bytes of guest RAM resident in this process, read from its page table (/proc/self/pagemap):
 * *anon for private pages (written by the guest or the VMM, including copies of file pages
 * the guest wrote), *file for pages still shared with a file mapped by gm_map_file(). Pages
 * the guest only read from untouched RAM map the shared zero page: counted in neither, as in
 * the kernel's RSS. 0 or -errno. */
/* pagemap_fd: /proc/self/pagemap opened by the caller (a sandboxed process cannot open it
 * later), or -1 to open it here. */
int gm_resident(const struct guest_mem *gm, int pagemap_fd, uint64_t *anon, uint64_t *file);

/* Back [gpa, gpa+len) of guest RAM with a private (copy-on-write) mapping of fd at offset
 * instead of anonymous memory: every instance reading those pages shares the page cache's
 * copy. gpa, offset and len must be page-aligned and the range inside one RAM region.
 * Returns 0 or -errno (the range is then untouched or anonymous again: zero-filled). */
int gm_map_file(struct guest_mem *gm, uint64_t gpa, int fd, uint64_t offset, uint64_t len);

/* Mappings of files the VMM reads (the kernel and initrd, guest RAM pages shared with the
 * kernel file) fault with SIGBUS if the file shrinks under them. Inside a range registered
 * here such a fault does not kill the process: the page is replaced by zeros and one line
 * says so (the guest then sees zeros where its file was, and fails in its own way). Guest
 * RAM from gm_init() is registered by it. 0, or -ENOSPC when the table is full. */
int gm_guard_range(const void *p, size_t len);
void gm_unguard_range(const void *p);

/* End of the guest-physical RAM below the MMIO gap (the usable low-RAM ceiling). */
uint64_t gm_low_end(const struct guest_mem *gm);

#endif
