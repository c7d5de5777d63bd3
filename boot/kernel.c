/* boot/kernel.c — detect the kernel format from its bytes, map files, place images in RAM. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "layout.h"

int err_set(struct err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *kernel_format_name(enum kernel_format f)
{
	switch (f) {
	case KF_ELF:
		return "elf64-linux";
	case KF_ELF_PVH:
		return "elf64-pvh";
	case KF_BZIMAGE:
		return "bzimage";
	}
	return "?";
}

int kernel_parse(struct kernel_image *k, const char *name, const uint8_t *data, size_t size,
                 struct err *e)
{
	memset(k, 0, sizeof(*k));
	k->name = name;
	k->data = data;
	k->size = size;
	if (size == 0)
		return err_set(e, -EINVAL, "%s: empty file", name);
	if (size >= 4 && memcmp(data, "\177ELF", 4) == 0)
		return elf_parse(k, e);
	if (size >= 0x206 && le16(data + ZP_BOOT_FLAG) == 0xaa55 &&
	    memcmp(data + ZP_HEADER, "HdrS", 4) == 0)
		return bzimage_parse(k, e);
	return err_set(e, -ENOEXEC, "%s: not a kernel (neither an ELF64 image nor a bzImage)",
	               name);
}

/* Map a regular file read-only, refusing empty, huge and non-regular files. */
/* With keep_fd, the open file is returned in *keep_fd (else closed). */
static int map_file(const char *path, uint64_t max, const uint8_t **data, size_t *size, void **map,
                    int *keep_fd, struct err *e)
{
	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever,
	 * before the type check below could refuse it. (No effect on regular files.) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return err_set(e, r, "%s: %s", path, strerror(-r));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, -EINVAL, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return err_set(e, -EINVAL, "%s: empty file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return err_set(e, -EFBIG, "%s: %lld bytes, larger than the %llu MiB limit", path,
		               (long long)st.st_size, (unsigned long long)(max / MiB));
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int r = -errno;
	if (p == MAP_FAILED || !keep_fd)
		close(fd);
	if (p == MAP_FAILED)
		return err_set(e, r, "%s: mmap: %s", path, strerror(-r));
	if (keep_fd)
		*keep_fd = fd;
	gm_guard_range(p, (size_t)st.st_size); /* a truncation must not SIGBUS us */
	*data = p;
	*size = (size_t)st.st_size;
	*map = p;
	return 0;
}

int kernel_open(struct kernel_image *k, const char *path, struct err *e)
{
	const uint8_t *data;
	size_t size;
	void *map;
	int fd;
	int r = map_file(path, KERNEL_MAX_FILE, &data, &size, &map, &fd, e);
	if (r < 0) {
		memset(k, 0, sizeof(*k));
		return r;
	}
	r = kernel_parse(k, path, data, size, e);
	if (r < 0) {
		gm_unguard_range(map);
		munmap(map, size);
		close(fd);
		memset(k, 0, sizeof(*k));
		return r;
	}
	k->map = map;
	k->map_len = size;
	k->fd = fd;
	k->has_fd = true;
	return 0;
}

void kernel_close(struct kernel_image *k)
{
	if (k->map) {
		gm_unguard_range(k->map);
		munmap(k->map, k->map_len);
	}
	if (k->has_fd)
		close(k->fd);
	memset(k, 0, sizeof(*k));
}

int blob_open(struct blob *b, const char *path, uint64_t max, struct err *e)
{
	memset(b, 0, sizeof(*b));
	int r = map_file(path, max, &b->data, &b->size, &b->map, NULL, e);
	if (r < 0)
		return r;
	b->name = path;
	b->map_len = b->size;
	return 0;
}

void blob_close(struct blob *b)
{
	if (b->map) {
		gm_unguard_range(b->map);
		munmap(b->map, b->map_len);
	}
	memset(b, 0, sizeof(*b));
}

static const char *mib(uint64_t v, char *buf, size_t n)
{
	if (v % MiB == 0)
		snprintf(buf, n, "%llu MiB", (unsigned long long)(v / MiB));
	else
		snprintf(buf, n, "%llu KiB", (unsigned long long)(v / KiB));
	return buf;
}

/* Back the whole pages of a segment with the kernel file itself (MAP_PRIVATE: copy-on-write),
 * so that every VM of a batch shares one page-cache copy of the kernel image instead of
 * copying it (design §5). Needs the file offset and the physical address congruent modulo
 * the page size (true of vmlinux, OSv and Unikraft ELF images; a bzImage payload is not).
 * The partial pages at either end are copied. Returns 0 if the segment is placed, else -errno
 * and nothing is changed (the caller copies). */
static int kernel_share_pages(const struct kernel_image *k, struct guest_mem *gm,
                              const struct kernel_segment *s)
{
	if (!k->has_fd || (s->paddr - s->offset) % 4096)
		return -EINVAL;
	uint64_t lo = ALIGN_UP(s->paddr, 4096), hi = ALIGN_DOWN(s->paddr + s->filesz, 4096);
	if (hi <= lo || hi - lo < 64 * KiB) /* small: a copy is as cheap */
		return -E2BIG;
	int r = gm_map_file(gm, lo, k->fd, s->offset + (lo - s->paddr), hi - lo);
	if (r < 0)
		return r;
	if (gm_write(gm, s->paddr, k->data + s->offset, lo - s->paddr) < 0 ||
	    gm_write(gm, hi, k->data + s->offset + (hi - s->paddr), s->paddr + s->filesz - hi) < 0)
		return -EFAULT; /* cannot happen: kernel_place checked the range */
	return 0;
}

int kernel_place(const struct kernel_image *k, struct guest_mem *gm, struct err *e)
{
	char b[32];
	/* The kernel's whole footprint (including what a bzImage decompresses into) must be RAM. */
	if (!gm_ptr(gm, k->load_lo, k->load_hi - k->load_lo))
		return err_set(
		        e, -ENOMEM,
		        "%s: needs guest RAM up to 0x%llx, beyond guest RAM (%s); raise --mem",
		        k->name, (unsigned long long)k->load_hi, mib(gm->ram_size, b, sizeof(b)));
	for (unsigned i = 0; i < k->nseg; i++) {
		const struct kernel_segment *s = &k->seg[i];
		uint8_t *dst = gm_ptr(gm, s->paddr, s->memsz);
		if (!dst)
			return err_set(e, -ENOMEM,
			               "%s: segment %u ends at 0x%llx, beyond guest RAM (%s)",
			               k->name, i, (unsigned long long)(s->paddr + s->memsz),
			               mib(gm->ram_size, b, sizeof(b)));
		if (kernel_share_pages(k, gm, s) == 0)
			continue;
		if (s->filesz >= 64 * KiB) {
			gm_prefault(gm, s->paddr, s->filesz);
			madvise((void *)ALIGN_DOWN((uintptr_t)(k->data + s->offset), 4096),
			        s->filesz + 4096, MADV_POPULATE_READ);
		}
		memcpy(dst, k->data + s->offset, s->filesz);
		/* Fresh guest RAM is zero already; the bss needs no memset. */
	}
	return 0;
}

int initrd_place(const struct kernel_image *k, const struct guest_mem *gm, const uint8_t *data,
                 size_t size, const char *name, uint64_t *gpa, struct err *e)
{
	char b[32];
	uint64_t top = gm_low_end(gm);
	if (k->initrd_max && k->initrd_max < top)
		top = k->initrd_max;
	uint64_t floor = ALIGN_UP(k->load_hi, 4096);
	if (floor < HIMEM_START)
		floor = HIMEM_START;
	if (size > top || ALIGN_DOWN(top - size, 4096) < floor)
		return err_set(
		        e, -ENOMEM,
		        "%s: initrd of %zu bytes does not fit between the kernel (ends 0x%llx) "
		        "and 0x%llx in guest RAM (%s); raise --mem",
		        name, size, (unsigned long long)floor, (unsigned long long)top,
		        mib(gm->ram_size, b, sizeof(b)));
	uint64_t at = ALIGN_DOWN(top - size, 4096);
	if (gm_write(gm, at, data, size) < 0)
		return err_set(e, -EFAULT, "%s: initrd placement at 0x%llx failed", name,
		               (unsigned long long)at);
	*gpa = at;
	return 0;
}
