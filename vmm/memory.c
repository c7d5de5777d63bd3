/* vmm/memory.c — guest RAM, and the ONE bounds-checked guest-physical → host translation.
 * No other file does arithmetic on a guest RAM base pointer. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cc.h"
#include "guest_mem.h"
#include "layout.h"

/* ---- SIGBUS from a file that shrank under one of our mappings ---- */

#define GUARD_SLOTS 64
static struct {
	_Atomic uintptr_t lo, hi; /* [lo, hi); lo == 0: free */
} guards[GUARD_SLOTS];
static atomic_bool guard_logged;
static struct sigaction old_bus;

/* Async-signal-safe: atomics, mmap, write. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t lo = atomic_load(&guards[i].lo), hi = atomic_load(&guards[i].hi);
		if (!lo || a < lo || a >= hi || si->si_code != BUS_ADRERR)
			continue;
		void *page = (void *)(a & ~(uintptr_t)4095);
		if (mmap(page, 4096, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		if (!atomic_exchange(&guard_logged, true)) {
			static const char msg[] =
			        "fastvmm: a file mapped into memory (the kernel, "
			        "initrd or guest RAM shared with it) was truncated "
			        "while in use; its missing pages read as zeros\n";
			(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		}
		return; /* the access is retried on the zero page */
	}
	/* Not ours: whatever was there before (default: die), on the retried access. */
	if (old_bus.sa_flags & SA_SIGINFO && old_bus.sa_sigaction) {
		old_bus.sa_sigaction(sig, si, uc);
		return;
	}
	signal(SIGBUS, old_bus.sa_handler == SIG_IGN ? SIG_DFL : old_bus.sa_handler);
}

int gm_guard_range(const void *p, size_t len)
{
	static atomic_bool installed;
	if (!atomic_exchange(&installed, true)) {
		struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &old_bus);
	}
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t expect = 0;
		if (atomic_compare_exchange_strong(&guards[i].lo, &expect, (uintptr_t)p)) {
			atomic_store(&guards[i].hi, (uintptr_t)p + len);
			return 0;
		}
	}
	return -ENOSPC;
}

void gm_unguard_range(const void *p)
{
	for (unsigned i = 0; i < GUARD_SLOTS; i++)
		if (atomic_load(&guards[i].lo) == (uintptr_t)p) {
			atomic_store(&guards[i].hi, 0);
			atomic_store(&guards[i].lo, 0);
		}
}

/* Guest RAM is never part of a core dump, nor copied into a forked child (fastvmm forks a
 * teardown holder after the run; page-table copies of a big guest would cost milliseconds). */
static void ram_advise(void *p, size_t len)
{
	madvise(p, len, MADV_DONTDUMP);
	madvise(p, len, MADV_DONTFORK);
}

static int ram_layout(struct guest_mem *gm, void *p, uint64_t size)
{
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
	gm_guard_range(p, size); /* kernel pages shared from the file (gm_map_file) */
	return ram_layout(gm, p, size);
}

static bool thp_enabled(void)
{
	char buf[128] = {0};
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && !strstr(buf, "[never]");
}

int gm_init_huge(struct guest_mem *gm, uint64_t size)
{
	const uint64_t huge = 2 * MiB;
	memset(gm, 0, sizeof(*gm));
	if (size < huge || size % huge)
		return -EINVAL;
	if (size > (1ULL << 46))
		return -E2BIG;
	/* hugetlbfs: no MAP_NORESERVE, so the pool is charged now (mmap fails with ENOMEM when
	 * it is short) and a guest fault can never SIGBUS us later. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
	if (p != MAP_FAILED) {
		ram_advise(p, size);
		gm->huge = GM_HUGE_HUGETLB;
		return ram_layout(gm, p, size);
	}
	if (!thp_enabled())
		return -ENOMEM;
	/* THP: over-map by 2 MiB and trim, so the RAM starts on a 2 MiB boundary. */
	uint8_t *raw = mmap(NULL, size + huge, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return -errno;
	uint8_t *al = (uint8_t *)ALIGN_UP((uintptr_t)raw, huge);
	if (al > raw)
		munmap(raw, (size_t)(al - raw));
	if (al + size < raw + size + huge)
		munmap(al + size, (size_t)(raw + size + huge - (al + size)));
	if (madvise(al, size, MADV_HUGEPAGE) < 0) {
		int r = -errno;
		munmap(al, size);
		return r;
	}
	ram_advise(al, size);
	gm->huge = GM_HUGE_THP;
	return ram_layout(gm, al, size);
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
	if (gm->map) {
		gm_unguard_range(gm->map);
		munmap(gm->map, gm->map_len);
	}
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
	if (gm->huge)
		return -ENOTSUP; /* 4 KiB file pages would split the huge pages */
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

/* Counts the pages of [host, host + pages * 4096) resident in this process, from its page
 * table (/proc/self/pagemap, Documentation/admin-guide/mm/pagemap.rst; the flag bits need no
 * privilege): bit 63 present, bit 61 a file (page-cache) page, bit 56 mapped exclusively.
 *  - a page the guest only read is mapped to the kernel's shared zero page (KVM faults it in
 *    read-only): present, yet neither exclusive nor counted in the process's RSS. mincore()
 *    calls it resident, which made "guest pages" exceed the guest's share of the RSS (OSv:
 *    7.7 MiB of "guest pages" against 12.5 MiB RSS, and "VMM beyond guest pages" 0 KiB);
 *  - a private page the guest or the VMM wrote (anonymous RAM, or the copy of a file page):
 *    present and exclusive (guest RAM is MADV_DONTFORK, so never shared with a child);
 *  - in a gm_map_file() range, a page still shared with the file: present, file bit. */
static int count_pages(int pm, const uint8_t *host, uint64_t pages, bool file_range, uint64_t *anon,
                       uint64_t *file)
{
	uint64_t ent[512];
	for (uint64_t pg = 0; pg < pages; pg += 512) {
		uint64_t n = pages - pg < 512 ? pages - pg : 512;
		off_t at = (off_t)(((uintptr_t)host / 4096 + pg) * 8);
		if (pread(pm, ent, n * 8, at) != (ssize_t)(n * 8))
			return -EIO;
		for (uint64_t i = 0; i < n; i++) {
			if (!(ent[i] >> 63))
				continue;
			if ((ent[i] >> 61) & 1) {
				if (file_range)
					*file += 4096; /* (elsewhere: the huge zero page) */
			} else if ((ent[i] >> 56) & 1) {
				*anon += 4096;
			}
		}
	}
	return 0;
}

int gm_resident(const struct guest_mem *gm, int pagemap_fd, uint64_t *anon, uint64_t *file)
{
	*anon = *file = 0;
	int pm = pagemap_fd >= 0 ? pagemap_fd : open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return -errno;
	int r = 0;
	for (unsigned i = 0; i < gm->nr && !r; i++) {
		/* The region in runs: file ranges and the anonymous RAM between them. */
		const struct gm_region *reg = &gm->region[i];
		uint64_t gpa = reg->gpa, end = reg->gpa + reg->size / 4096 * 4096;
		while (gpa < end && !r) {
			const struct gm_file *f = gm->nfile ? file_range(gm, gpa) : NULL;
			uint64_t next = end;
			if (f) {
				next = f->gpa + f->len < end ? f->gpa + f->len : end;
			} else {
				for (unsigned j = 0; j < gm->nfile; j++)
					if (gm->file[j].gpa > gpa && gm->file[j].gpa < next)
						next = gm->file[j].gpa;
			}
			r = count_pages(pm, reg->host + (gpa - reg->gpa), (next - gpa) / 4096,
			                f != NULL, anon, file);
			gpa = next;
		}
	}
	if (pm != pagemap_fd)
		close(pm);
	return r;
}
