/* Unit tests: kernel format detection and parsing, with a corpus of malformed images built
 * here (ELF64 + PVH note, bzImage), and placement into guest RAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "boot.h"
#include "images.h"
#include "layout.h"

static struct err e;
static struct kernel_image k;

/* Parses m and expects failure with `code` and a message containing `want`. */
static void expect_bad(struct img m, int code, const char *want)
{
	memset(&e, 0, sizeof(e));
	int r = kernel_parse(&k, "t.elf", m.d, m.n, &e);
	if (r != code || !strstr(e.msg, want))
		fail_msg("got %d '%s', want %d '...%s...'", r, e.msg, code, want);
	assert_true(strncmp(e.msg, "t.elf: ", 7) == 0); /* names the file */
	free(m.d);
}

static void elf_valid(void **state)
{
	(void)state;
	struct img m = elf_simple();
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	assert_int_equal(k.fmt, KF_ELF);
	assert_false(k.is_linux);
	assert_int_equal(k.entry, 0x100000);
	assert_int_equal(k.nseg, 1);
	assert_int_equal(k.seg[0].paddr, 0x100000);
	assert_int_equal(k.seg[0].filesz, 0x1000);
	assert_int_equal(k.seg[0].memsz, 0x3000);
	assert_int_equal(k.load_lo, 0x100000);
	assert_int_equal(k.load_hi, 0x103000);
	free(m.d);
}

static void elf_pvh_preferred(void **state)
{
	(void)state;
	struct seg_spec s = {PT_LOAD, 0x200000, 0x2000, 0x2000};
	struct img m = elf_build(&s, 1, 0x200000, 1, 0x200010);
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	assert_int_equal(k.fmt, KF_ELF_PVH);
	assert_int_equal(k.pvh_entry, 0x200010);
	assert_false(k.is_linux);
	free(m.d);
	/* A "Linux" note before the PVH note: both are seen. */
	m = elf_build(&s, 1, 0x200000, 3, 0x200010);
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	assert_int_equal(k.fmt, KF_ELF_PVH);
	assert_int_equal(k.pvh_entry, 0x200010);
	assert_true(k.is_linux);
	free(m.d);
	/* The Linux note alone: the 64-bit entry, still Linux. */
	m = elf_build(&s, 1, 0x200000, 2, 0);
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	assert_int_equal(k.fmt, KF_ELF);
	assert_true(k.is_linux);
	free(m.d);
}

static void elf_skips_empty_and_tls(void **state)
{
	(void)state;
	struct seg_spec s[] = {
	        {PT_LOAD, 0x100000, 0x1000, 0x1000},
	        {PT_LOAD, 0x900000, 0, 0},        /* empty: skipped */
	        {PT_TLS, 0x100000, 0x100, 0x200}, /* TLS: overlaps, but is not loaded */
	        {PT_LOAD, 0x300000, 0x10, 0x5000},
	};
	struct img m = elf_build(s, 4, 0x100000, 0, 0);
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	assert_int_equal(k.nseg, 2);
	assert_int_equal(k.load_hi, 0x305000);
	free(m.d);
}

static void elf_malformed(void **state)
{
	(void)state;
	struct img m = elf_simple();
	m.n = 40;
	expect_bad(m, -ENOEXEC, "truncated ELF header");

	m = elf_simple();
	m.d[EI_CLASS] = ELFCLASS32;
	expect_bad(m, -ENOEXEC, "32-bit ELF");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_machine = EM_AARCH64;
	expect_bad(m, -ENOEXEC, "not for x86-64");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_type = ET_REL;
	expect_bad(m, -ENOEXEC, "not an executable");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_phoff = 1ULL << 40;
	expect_bad(m, -ENOEXEC, "program headers lie beyond");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_phoff = UINT64_MAX - 10; /* offset + size wraps */
	expect_bad(m, -ENOEXEC, "program headers lie beyond");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_phnum = 0;
	expect_bad(m, -ENOEXEC, "bad program header table");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_phnum = 60000;
	expect_bad(m, -ENOEXEC, "bad program header table");

	m = elf_simple();
	((Elf64_Ehdr *)m.d)->e_phentsize = 32;
	expect_bad(m, -ENOEXEC, "bad program header table");

	m = elf_simple();
	elf_phdr(&m, 0)->p_offset = m.n - 10; /* payload runs past the end: truncated file */
	expect_bad(m, -ENOEXEC, "beyond the end of the file");

	m = elf_simple();
	elf_phdr(&m, 0)->p_offset = UINT64_MAX - 0x10;
	expect_bad(m, -ENOEXEC, "beyond the end of the file");

	m = elf_simple();
	elf_phdr(&m, 0)->p_filesz = 0x4000; /* > memsz */
	expect_bad(m, -ENOEXEC, "filesz > memsz");

	m = elf_simple();
	elf_phdr(&m, 0)->p_memsz = 1ULL << 50;
	expect_bad(m, -ENOEXEC, "absurd");

	m = elf_simple();
	elf_phdr(&m, 0)->p_paddr = UINT64_MAX - 0x1000; /* paddr + memsz wraps */
	expect_bad(m, -ENOEXEC, "absurd");

	m = elf_simple();
	elf_phdr(&m, 0)->p_paddr = 0x7000; /* over the zero page */
	expect_bad(m, -ENOEXEC, "low-memory boot area");

	struct seg_spec ov[] = {{PT_LOAD, 0x100000, 0x100, 0x2000},
	                        {PT_LOAD, 0x101000, 0x100, 0x100}};
	expect_bad(elf_build(ov, 2, 0x100000, 0, 0), -ENOEXEC, "overlaps another segment");

	struct seg_spec far[] = {{PT_LOAD, 0x100000, 0x100, 0x100},
	                         {PT_LOAD, 0x10000000000ULL, 0x10, 0x10}};
	expect_bad(elf_build(far, 2, 0x100000, 0, 0), -ENOEXEC, "absurd");

	struct seg_spec none = {PT_NOTE, 0, 0, 0};
	expect_bad(elf_build(&none, 1, 0x100000, 0, 0), -ENOEXEC, "no loadable segment");

	struct seg_spec one = {PT_LOAD, 0x100000, 0x1000, 0x3000};
	expect_bad(elf_build(&one, 1, 0x102000, 0, 0), -ENOEXEC,
	           "entry point 0x102000"); /* in bss */
	expect_bad(elf_build(&one, 1, 0xffffffff81000000ULL, 0, 0), -ENOEXEC, "entry point");
	expect_bad(elf_build(&one, 1, 0x100000, 1, 0x500000), -ENOEXEC, "PVH entry 0x500000");

	/* Malformed note: namesz runs past the segment. */
	m = elf_build(&one, 1, 0x100000, 1, 0x100000);
	put_le32(m.d + elf_phdr(&m, 1)->p_offset, 0xfffffff0);
	expect_bad(m, -ENOEXEC, "malformed ELF note");

	m = elf_build(&one, 1, 0x100000, 1, 0x100000);
	elf_phdr(&m, 1)->p_filesz = 1 << 20; /* note segment beyond the file */
	expect_bad(m, -ENOEXEC, "note segment 1 lies beyond");

	m = elf_build(&one, 1, 0x100000, 1, 0x100000);
	put_le32(m.d + elf_phdr(&m, 1)->p_offset + 4, 2); /* descsz 2 */
	expect_bad(m, -ENOEXEC, "PVH entry note has a 2-byte value");
}

static void detection(void **state)
{
	(void)state;
	uint8_t junk[600] = "MZ not a kernel";
	assert_int_equal(kernel_parse(&k, "t.elf", junk, sizeof(junk), &e), -ENOEXEC);
	assert_non_null(strstr(e.msg, "not a kernel"));
	assert_int_equal(kernel_parse(&k, "t.elf", junk, 0, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "empty file"));
	/* The name is irrelevant: a bzImage called .elf is a bzImage. */
	struct img m = bz_build(1, 0x020f, 4096);
	assert_int_equal(kernel_parse(&k, "kernel.elf", m.d, m.n, &e), 0);
	assert_int_equal(k.fmt, KF_BZIMAGE);
	free(m.d);
}

static void bz_valid(void **state)
{
	(void)state;
	struct img m = bz_build(0, 0x020f, 8192); /* setup_sects 0 means 4 */
	assert_int_equal(kernel_parse(&k, "bz", m.d, m.n, &e), 0);
	assert_int_equal(k.fmt, KF_BZIMAGE);
	assert_true(k.is_linux);
	assert_int_equal(k.bz.setup_sects, 4);
	assert_int_equal(k.bz.payload_offset, 5 * 512);
	assert_int_equal(k.entry, 0x100200);
	assert_int_equal(k.seg[0].paddr, 0x100000);
	assert_int_equal(k.seg[0].filesz, 8192);
	assert_int_equal(k.cmdline_max, 2047);
	assert_int_equal(k.initrd_max, 0x80000000ULL);
	assert_int_equal(k.bz.hdr_len, 0x268 - 0x1f1);
	/* Reserved up to pref_address + init_size, where the kernel decompresses itself. */
	assert_int_equal(k.load_hi, 0x1000000 + 0x800000);
	free(m.d);
}

static void bz_malformed(void **state)
{
	(void)state;
	struct img m = bz_build(1, 0x0209, 4096);
	memset(&e, 0, sizeof(e));
	assert_int_equal(kernel_parse(&k, "bz", m.d, m.n, &e), -ENOEXEC);
	assert_non_null(strstr(e.msg, "boot protocol 2.09 is too old"));
	free(m.d);

#define BZ_BAD(stmt, want)                                                                         \
	do {                                                                                       \
		struct img x = bz_build(1, 0x020f, 4096);                                          \
		uint8_t *d = x.d;                                                                  \
		(void)d;                                                                           \
		stmt;                                                                              \
		memset(&e, 0, sizeof(e));                                                          \
		int r = kernel_parse(&k, "bz", x.d, x.n, &e);                                      \
		if (r >= 0 || !strstr(e.msg, want))                                                \
			fail_msg("%s: got %d '%s'", #stmt, r, e.msg);                              \
		free(x.d);                                                                         \
	} while (0)
	BZ_BAD(d[ZP_LOADFLAGS] = 0, "zImage");
	BZ_BAD(put_le16(d + ZP_XLOADFLAGS, 0), "no 64-bit entry point");
	BZ_BAD(d[ZP_SETUP_HDR] = 200, "no kernel payload");
	BZ_BAD(put_le32(d + ZP_INIT_SIZE, 0), "absurd init_size");
	BZ_BAD(put_le32(d + ZP_INIT_SIZE, 0xffffffff), "absurd init_size");
	BZ_BAD(put_le32(d + ZP_CMDLINE_SIZE, 0), "cmdline_size is 0");
	BZ_BAD(put_le64(d + ZP_PREF_ADDRESS, UINT64_MAX), "absurd pref_address");
	BZ_BAD(x.n = 0x250, "truncated bzImage header");
	BZ_BAD(memcpy(d + ZP_HEADER, "HdrZ", 4), "not a kernel");
}

static void place_into_ram(void **state)
{
	(void)state;
	struct seg_spec s[] = {{PT_LOAD, 0x100000, 0x10, 0x2000}, {PT_LOAD, 0x180000, 0x20, 0x20}};
	struct img m = elf_build(s, 2, 0x100000, 0, 0);
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 4 << 20), 0);
	uint8_t *p = gm_ptr(&gm, 0x100000, 0x2000);
	memset(p, 0xee, 0x2000); /* would-be garbage: placement writes the file part */
	assert_int_equal(kernel_place(&k, &gm, &e), 0);
	assert_int_equal(p[0], 0x40);
	assert_int_equal(p[0xf], 0x40);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 0x180000, 1), 0x41);
	gm_free(&gm);

	/* The same kernel does not fit 1.5 MiB: one line that names the limit. */
	assert_int_equal(gm_init(&gm, 1536 << 10), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), -ENOMEM);
	assert_non_null(strstr(
	        e.msg, "t.elf: needs guest RAM up to 0x180020, beyond guest RAM (1536 KiB)"));
	gm_free(&gm);
	free(m.d);

	/* bzImage: --mem too small for pref_address + init_size. */
	m = bz_build(1, 0x020f, 4096);
	assert_int_equal(kernel_parse(&k, "bz", m.d, m.n, &e), 0);
	assert_int_equal(gm_init(&gm, 16 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), -ENOMEM);
	assert_non_null(strstr(e.msg, "raise --mem"));
	gm_free(&gm);
	assert_int_equal(gm_init(&gm, 32 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), 0);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 0x100000, 1), 0xbb);
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 0x100000 + 4095, 1), 0xbb);
	gm_free(&gm);
	free(m.d);
}

static void initrd_placement(void **state)
{
	(void)state;
	struct img m = elf_simple();
	assert_int_equal(kernel_parse(&k, "t.elf", m.d, m.n, &e), 0);
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 8 << 20), 0);
	static uint8_t rd[10000];
	memset(rd, 0x77, sizeof(rd));
	uint64_t at = 0;
	assert_int_equal(initrd_place(&k, &gm, rd, sizeof(rd), "rd", &at, &e), 0);
	assert_int_equal(at % 4096, 0);
	assert_true(at >= k.load_hi);
	assert_true(at + sizeof(rd) <= 8 << 20);
	assert_int_equal(at, ((8 << 20) - sizeof(rd)) & ~4095ULL); /* as high as possible */
	assert_memory_equal(gm_ptr(&gm, at, sizeof(rd)), rd, sizeof(rd));
	/* initrd_addr_max caps it. */
	k.initrd_max = 0x400000;
	assert_int_equal(initrd_place(&k, &gm, rd, sizeof(rd), "rd", &at, &e), 0);
	assert_true(at + sizeof(rd) <= 0x400000);
	/* Too big for the room between kernel and the cap. */
	assert_int_equal(initrd_place(&k, &gm, rd, 0x400000, "rd", &at, &e), -ENOMEM);
	assert_non_null(strstr(e.msg, "rd: initrd of 4194304 bytes does not fit"));
	gm_free(&gm);
	free(m.d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(elf_valid),
	        cmocka_unit_test(elf_pvh_preferred),
	        cmocka_unit_test(elf_skips_empty_and_tls),
	        cmocka_unit_test(elf_malformed),
	        cmocka_unit_test(detection),
	        cmocka_unit_test(bz_valid),
	        cmocka_unit_test(bz_malformed),
	        cmocka_unit_test(place_into_ram),
	        cmocka_unit_test(initrd_placement),
	};
	return cmocka_run_group_tests_name("kernel", tests, NULL, NULL);
}
