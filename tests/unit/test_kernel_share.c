/* Unit tests: kernel pages shared from the file (gm_map_file, copy-on-write) and the
 * resident-page accounting batch mode reports. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "boot.h"
#include "images.h"

static char path[64];

static int write_tmp(const struct img *m)
{
	snprintf(path, sizeof(path), "/tmp/fastvmm-unit.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, m->d, m->n), (ssize_t)m->n);
	return fd;
}

static void map_file_cow(void **state)
{
	(void)state;
	struct img m = {malloc(3 * 4096), 3 * 4096};
	for (size_t i = 0; i < m.n; i++)
		m.d[i] = (uint8_t)(i / 4096 + 1);
	int fd = write_tmp(&m);
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 4 << 20), 0);
	assert_int_equal(gm_map_file(&gm, 0x100000, fd, 4096, 8192), 0);
	uint8_t *p = gm_ptr(&gm, 0x100000, 8192);
	assert_int_equal(p[0], 2);
	assert_int_equal(p[8191], 3);
	uint64_t anon, file;
	assert_int_equal(gm_resident(&gm, -1, &anon, &file), 0);
	assert_int_equal(file, 8192);
	assert_int_equal(anon, 0);
	p[0] = 99; /* copy-on-write: the file keeps its byte */
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 4096), 1);
	assert_int_equal(b, 2);
	gm_write(&gm, 0x200000, "x", 1);
	assert_int_equal(gm_resident(&gm, -1, &anon, &file), 0);
	assert_int_equal(anon, 2 * 4096); /* the written RAM page and the guest's copy */
	assert_int_equal(file, 4096);     /* the file page nobody wrote */
	/* Misaligned, empty, outside RAM. */
	assert_int_equal(gm_map_file(&gm, 0x100001, fd, 0, 4096), -EINVAL);
	assert_int_equal(gm_map_file(&gm, 0x100000, fd, 1, 4096), -EINVAL);
	assert_int_equal(gm_map_file(&gm, 0x100000, fd, 0, 0), -EINVAL);
	assert_int_equal(gm_map_file(&gm, 0x3ff000, fd, 0, 8192), -EFAULT);
	gm_free(&gm);
	/* Only RAM that gm_init() mapped can be remapped. */
	uint8_t buf[8192];
	gm_init_buffer(&gm, buf, sizeof(buf));
	assert_int_equal(gm_map_file(&gm, 0, fd, 0, 4096), -ENOSPC);
	close(fd);
	unlink(path);
	free(m.d);
}

/* An ELF whose segment is page-congruent with its file offset: whole pages come from the
 * file, the partial pages at the ends are copied, the bss stays zero. */
static void kernel_pages_shared(void **state)
{
	(void)state;
	size_t hdr = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
	struct seg_spec s = {PT_LOAD, 0x100000 + hdr, 200000, 300000};
	struct img m = elf_build(&s, 1, 0x100000 + hdr, 0, 0);
	int fd = write_tmp(&m);
	close(fd);
	struct kernel_image k;
	struct err e;
	assert_int_equal(kernel_open(&k, path, &e), 0);
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 4 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), 0);
	assert_int_equal(gm.nfile, 1);
	assert_int_equal(gm.file[0].gpa, 0x101000);
	assert_int_equal(gm.file[0].len, ALIGN_DOWN(0x100000 + hdr + 200000, 4096) - 0x101000);
	assert_memory_equal(gm_ptr(&gm, s.paddr, s.filesz), m.d + hdr, s.filesz);
	const uint8_t *bss = gm_ptr(&gm, s.paddr + s.filesz, s.memsz - s.filesz);
	for (size_t i = 0; i < s.memsz - s.filesz; i++)
		assert_int_equal(bss[i], 0);
	gm_free(&gm);
	kernel_close(&k);

	/* Not congruent (one byte off): copied, nothing mapped, same bytes. */
	s.paddr++;
	free(m.d);
	m = elf_build(&s, 1, s.paddr, 0, 0);
	fd = write_tmp(&m);
	close(fd);
	assert_int_equal(kernel_open(&k, path, &e), 0);
	assert_int_equal(gm_init(&gm, 4 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), 0);
	assert_int_equal(gm.nfile, 0);
	assert_memory_equal(gm_ptr(&gm, s.paddr, s.filesz), m.d + hdr, s.filesz);
	gm_free(&gm);
	kernel_close(&k);
	unlink(path);
	free(m.d);
}

/* A kernel file truncated while in use (issue 12): the guest RAM pages shared with it and
 * the VMM's own mapping of it read as zeros instead of killing the process with SIGBUS. */
static void truncated_file_reads_zeros(void **state)
{
	(void)state;
	struct img m = {malloc(4 * 4096), 4 * 4096};
	memset(m.d, 0x5a, m.n);
	int fd = write_tmp(&m);
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 4 << 20), 0);
	assert_int_equal(gm_map_file(&gm, 0x100000, fd, 0, 4 * 4096), 0);
	struct blob b;
	struct err e;
	assert_int_equal(blob_open(&b, path, 1 << 20, &e), 0);
	volatile const uint8_t *g = gm_ptr(&gm, 0x100000, 4 * 4096);
	assert_int_equal(g[0], 0x5a);
	assert_int_equal(b.data[4096], 0x5a);
	assert_int_equal(ftruncate(fd, 4096), 0); /* pages 1..3 are gone from the file */
	assert_int_equal(g[0], 0x5a);             /* page 0 still there */
	assert_int_equal(g[2 * 4096], 0);         /* SIGBUS before the fix */
	assert_int_equal(g[3 * 4096 + 7], 0);
	assert_int_equal(b.data[2 * 4096], 0);
	/* The guest can still write there (its own copy). */
	((uint8_t *)g)[3 * 4096] = 1;
	assert_int_equal(g[3 * 4096], 1);
	blob_close(&b);
	gm_free(&gm);
	close(fd);
	unlink(path);
	free(m.d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(truncated_file_reads_zeros),
	        cmocka_unit_test(map_file_cow),
	        cmocka_unit_test(kernel_pages_shared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
