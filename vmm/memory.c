/* vmm/memory.c — guest RAM, and the ONE bounds-checked guest-physical → host translation.
 * No other file does arithmetic on a guest RAM base pointer. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cc.h"
#include "guest_mem.h"
#include "layout.h"

/* Guest RAM is never part of a core dump, nor copied into a forked child (fastvmm forks a
 * teardown holder after the run; page-table copies of a big guest would cost milliseconds). */
static void ram_advise(void *p, size_t len)
{
	madvise(p, len, MADV_DONTDUMP);
	madvise(p, len, MADV_DONTFORK);
}

static int gm_init_fd(struct guest_mem *gm, uint64_t size, int fd)
{
	memset(gm, 0, sizeof(*gm));
	if (size < MiB || size % (4 * KiB))
		return -EINVAL;
	if (size > (1ULL << 46))
		return -E2BIG;
	/* MAP_NORESERVE: guests touch a fraction of their RAM; pages fault in lazily. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	ram_advise(p, size);
	gm->map = p;
	gm->map_len = size;
	gm->ram_size = size;
	uint64_t low = size < MMIO_GAP_START ? size : MMIO_GAP_START;
	gm->region[0] = (struct gm_region){.gpa = 0, .size = low, .host = p};
	gm->nr = 1;
	if (size > low) {
		gm->region[1] = (struct gm_region){
		        .gpa = MMIO_GAP_END, .size = size - low, .host = (uint8_t *)p + low};
		gm->nr = 2;
	}
	return 0;
}

int gm_init(struct guest_mem *gm, uint64_t size)
{
	return gm_init_fd(gm, size, -1);
}

int gm_init_file(struct guest_mem *gm, uint64_t size, int fd)
{
	if (fd < 0)
		return -EBADF;
	int r = gm_init_fd(gm, size, fd);
	if (r == 0) { /* the whole RAM is file-backed: gm_resident() reads the page table */
		gm->file[0] = (struct gm_file){.gpa = 0, .len = gm->region[0].size};
		gm->nfile = 1;
		if (gm->nr > 1) {
			gm->file[1] = (struct gm_file){.gpa = gm->region[1].gpa,
			                               .len = gm->region[1].size};
			gm->nfile = 2;
		}
	}
	return r;
}

void gm_init_buffer(struct guest_mem *gm, void *buf, uint64_t size)
{
	memset(gm, 0, sizeof(*gm));
	gm->region[0] = (struct gm_region){.gpa = 0, .size = size, .host = buf};
	gm->nr = 1;
	gm->ram_size = size;
}

void gm_free(struct guest_mem *gm)
{
	if (gm->map)
		munmap(gm->map, gm->map_len);
	memset(gm, 0, sizeof(*gm));
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->region[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		/* off <= size and len <= size - off: no addition that could wrap. */
		if (off > r->size || len > r->size - off)
			continue;
		return r->host + off;
	}
	return NULL;
}

int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gm_low_end(const struct guest_mem *gm)
{
	return gm->nr ? gm->region[0].gpa + gm->region[0].size : 0;
}

int gm_prefault(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t start = ALIGN_DOWN(gpa, 4096), end = ALIGN_UP(gpa + len, 4096);
	if (end < start)
		return -EINVAL;
	uint8_t *p = gm_ptr(gm, start, end - start);
	if (!p)
		return -EFAULT;
	/* One syscall instead of a fault per page (Linux >= 5.14; older kernels: no-op). */
	return madvise(p, end - start, MADV_POPULATE_WRITE) < 0 ? -errno : 0;
}

int gm_map_file(struct guest_mem *gm, uint64_t gpa, int fd, uint64_t offset, uint64_t len)
{
	if ((gpa | offset | len) % 4096 || len == 0)
		return -EINVAL;
	if (!gm->map || gm->nfile == GM_MAX_FILES)
		return -ENOSPC; /* only RAM gm_init() mapped can be remapped */
	uint8_t *p = gm_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)offset) ==
	    MAP_FAILED) {
		int r = -errno;
		/* MAP_FIXED may have dropped the old pages: put fresh anonymous RAM back. */
		if (mmap(p, len, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		         0) != MAP_FAILED)
			ram_advise(p, len);
		return r;
	}
	ram_advise(p, len);
	gm->file[gm->nfile].gpa = gpa;
	gm->file[gm->nfile].len = len;
	gm->nfile++;
	return 0;
}

/* The file range holding gpa, or NULL. */
static const struct gm_file *file_range(const struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nfile; i++)
		if (gpa >= gm->file[i].gpa && gpa - gm->file[i].gpa < gm->file[i].len)
			return &gm->file[i];
	return NULL;
}

/* For file-backed ranges mincore() reports the page cache, not this process: ask the page
 * table instead (/proc/self/pagemap: bit 63 present, bit 61 file page; a page the guest wrote
 * is a private anonymous copy). */
static void file_pages(const struct guest_mem *gm, const struct gm_file *f, int pm, uint64_t *anon,
                       uint64_t *file)
{
	const uint8_t *host = gm_ptr(gm, f->gpa, f->len);
	uint64_t ent[512];
	for (uint64_t pg = 0; pg < f->len / 4096; pg += 512) {
		uint64_t n = f->len / 4096 - pg < 512 ? f->len / 4096 - pg : 512;
		off_t at = (off_t)(((uintptr_t)host / 4096 + pg) * 8);
		if (pread(pm, ent, n * 8, at) != (ssize_t)(n * 8))
			return;
		for (uint64_t i = 0; i < n; i++)
			if (ent[i] >> 63)
				*((ent[i] >> 61) & 1 ? file : anon) += 4096;
	}
}

int gm_resident(const struct guest_mem *gm, uint64_t *anon, uint64_t *file)
{
	*anon = *file = 0;
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->region[i];
		size_t pages = (size_t)(r->size / 4096);
		unsigned char *vec = malloc(pages ? pages : 1);
		if (!vec)
			return -ENOMEM;
		if (mincore(r->host, pages * 4096, vec) < 0) {
			int e = -errno;
			free(vec);
			return e;
		}
		for (size_t pg = 0; pg < pages; pg++)
			if ((vec[pg] & 1) && !(gm->nfile && file_range(gm, r->gpa + pg * 4096)))
				*anon += 4096;
		free(vec);
	}
	if (gm->nfile) {
		int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (pm < 0)
			return -errno;
		for (unsigned i = 0; i < gm->nfile; i++)
			file_pages(gm, &gm->file[i], pm, anon, file);
		close(pm);
	}
	return 0;
}
