/* Unit tests: what the guest is handed — command line, e820, Linux zero page, PVH start
 * info, MP table and the boot page tables. */
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
#include "x86.h"

static struct err e;
static struct kernel_image k;
static struct guest_mem gm;

static int setup_gm(void **state)
{
	(void)state;
	return gm_init(&gm, 64 << 20);
}

static int teardown_gm(void **state)
{
	(void)state;
	gm_free(&gm);
	return 0;
}

static uint8_t *at(uint64_t gpa)
{
	return gm_ptr(&gm, gpa, 1);
}

static void cmdline_limits(void **state)
{
	(void)state;
	struct img m = bz_build(1, 0x020f, 4096);
	assert_int_equal(kernel_parse(&k, "bz", m.d, m.n, &e), 0);
	char line[2100];
	memset(line, 'a', sizeof(line));
	line[2047] = 0; /* exactly cmdline_size */
	assert_int_equal(boot_cmdline(&k, &gm, line, &e), 0);
	assert_int_equal(strlen((char *)at(CMDLINE_ADDR)), 2047);
	line[2047] = 'a';
	line[2048] = 0;
	assert_int_equal(boot_cmdline(&k, &gm, line, &e), -E2BIG);
	assert_string_equal(e.msg,
	                    "--cmdline: 2048 bytes, longer than the 2047 the kernel accepts (bz)");
	assert_int_equal(boot_cmdline(&k, &gm, "", &e), 0);
	assert_int_equal(*at(CMDLINE_ADDR), 0);
	free(m.d);
}

static void e820_layouts(void **state)
{
	(void)state;
	struct e820 map[E820_MAX];
	unsigned n = boot_e820(&gm, map);
	assert_int_equal(n, 3);
	assert_int_equal(map[0].addr, 0);
	assert_int_equal(map[0].size, EBDA_START);
	assert_int_equal(map[0].type, E820_RAM);
	assert_int_equal(map[1].type, E820_RESERVED);
	assert_int_equal(map[1].addr + map[1].size, 0x100000);
	assert_int_equal(map[2].addr, 0x100000);
	assert_int_equal(map[2].size, (64 << 20) - 0x100000);
	struct guest_mem big;
	assert_int_equal(gm_init(&big, 5ULL << 30), 0);
	n = boot_e820(&big, map);
	assert_int_equal(n, 4);
	assert_int_equal(map[2].addr + map[2].size, MMIO_GAP_START);
	assert_int_equal(map[3].addr, 1ULL << 32);
	assert_int_equal(map[3].size, (5ULL << 30) - MMIO_GAP_START);
	gm_free(&big);
}

static void zero_page_bzimage(void **state)
{
	(void)state;
	struct img m = bz_build(1, 0x020f, 4096);
	assert_int_equal(kernel_parse(&k, "bz", m.d, m.n, &e), 0);
	memset(at(ZERO_PAGE_ADDR), 0xcc, 4096); /* stale bytes must not survive */
	struct boot_params_in in = {
	        .cmdline = "", .initrd_gpa = 0x3000000, .initrd_size = 12345, .acpi_rsdp = 0xe0000};
	assert_int_equal(boot_linux_zero_page(&k, &gm, &in, &e), 0);
	uint8_t *zp = gm_ptr(&gm, ZERO_PAGE_ADDR, 4096);
	/* The image's setup header is copied (everything the loader does not own). */
	assert_memory_equal(zp + ZP_SETUP_HDR, m.d + ZP_SETUP_HDR,
	                    ZP_TYPE_OF_LOADER - ZP_SETUP_HDR);
	assert_int_equal(le16(zp + ZP_BOOT_FLAG), 0xaa55);
	assert_memory_equal(zp + ZP_HEADER, "HdrS", 4);
	assert_int_equal(le16(zp + ZP_VERSION), 0x020f);
	assert_int_equal(le32(zp + ZP_INIT_SIZE), 0x800000);
	assert_int_equal(zp[ZP_TYPE_OF_LOADER], 0xff);
	assert_true(zp[ZP_LOADFLAGS] & 0x01);
	assert_int_equal(le32(zp + ZP_CMD_LINE_PTR), CMDLINE_ADDR); /* even for "" */
	assert_int_equal(le32(zp + ZP_RAMDISK_IMAGE), 0x3000000);
	assert_int_equal(le32(zp + ZP_RAMDISK_SIZE), 12345);
	assert_int_equal(le64(zp + ZP_ACPI_RSDP), 0xe0000);
	assert_int_equal(zp[ZP_E820_ENTRIES], 3);
	assert_int_equal(le64(zp + ZP_E820_TABLE + 2 * 20), 0x100000);
	assert_int_equal(le64(zp + ZP_E820_TABLE + 2 * 20 + 8), (64 << 20) - 0x100000);
	assert_int_equal(le32(zp + ZP_E820_TABLE + 2 * 20 + 16), E820_RAM);
	assert_int_equal(zp[0x300], 0); /* beyond the table: cleared */
	free(m.d);
}

static void zero_page_vmlinux(void **state)
{
	(void)state;
	struct img m = elf_simple();
	assert_int_equal(kernel_parse(&k, "vmlinux", m.d, m.n, &e), 0);
	struct boot_params_in in = {.cmdline = ""};
	assert_int_equal(boot_linux_zero_page(&k, &gm, &in, &e), 0);
	uint8_t *zp = gm_ptr(&gm, ZERO_PAGE_ADDR, 4096);
	assert_int_equal(le16(zp + ZP_BOOT_FLAG), 0xaa55);
	assert_memory_equal(zp + ZP_HEADER, "HdrS", 4);
	assert_int_not_equal(le32(zp + ZP_CMD_LINE_PTR), 0);
	assert_int_equal(le32(zp + ZP_RAMDISK_SIZE), 0);
	assert_int_equal(le64(zp + ZP_ACPI_RSDP), 0);
	assert_int_equal(zp[ZP_E820_ENTRIES], 3);
	free(m.d);
}

static void pvh_start_info(void **state)
{
	(void)state;
	struct img m = elf_simple();
	assert_int_equal(kernel_parse(&k, "pvh", m.d, m.n, &e), 0);
	struct boot_params_in in = {.cmdline = "x", .initrd_gpa = 0x2000000, .initrd_size = 777};
	assert_int_equal(boot_pvh_start_info(&k, &gm, &in, &e), 0);
	uint8_t *si = at(PVH_INFO_ADDR);
	assert_int_equal(le32(si), HVM_START_MAGIC);
	assert_int_equal(le32(si + 4), 1);
	assert_int_equal(le32(si + 12), 1); /* nr_modules */
	uint64_t mod = le64(si + 16);
	assert_int_equal(le64(at(mod)), 0x2000000);
	assert_int_equal(le64(at(mod) + 8), 777);
	assert_int_equal(le64(si + 24), CMDLINE_ADDR);
	assert_int_equal(le64(si + 32), 0); /* no ACPI */
	uint64_t mm = le64(si + 40);
	assert_int_equal(le32(si + 48), 3);
	assert_int_equal(le64(at(mm) + 24 * 2), 0x100000);
	assert_int_equal(le32(at(mm) + 24 * 1 + 16), PVH_MEMMAP_TYPE_RESERVED);
	assert_int_equal(le32(at(mm) + 24 * 2 + 16), PVH_MEMMAP_TYPE_RAM);
	/* Without an initrd, no module. */
	in.initrd_size = 0;
	assert_int_equal(boot_pvh_start_info(&k, &gm, &in, &e), 0);
	assert_int_equal(le32(si + 12), 0);
	free(m.d);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static void mptable(void **state)
{
	(void)state;
	assert_int_equal(boot_mptable(&gm, 4, &e), 0);
	uint8_t *fp = at(MPTABLE_START);
	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(sum(fp, 16), 0);
	uint8_t *ct = at(le32(fp + 4));
	assert_memory_equal(ct, "PCMP", 4);
	uint16_t len = le16(ct + 4), count = le16(ct + 34);
	assert_int_equal(sum(ct, len), 0);
	assert_int_equal(le32(ct + 36), LAPIC_ADDR);
	/* 4 processors (the first is the BSP), a bus, an IOAPIC, 24 routes, 2 local. */
	assert_int_equal(count, 4 + 1 + 1 + 24 + 2);
	uint8_t *p = ct + 44;
	for (unsigned i = 0; i < 4; i++, p += 20) {
		assert_int_equal(p[0], 0);
		assert_int_equal(p[1], i);
		assert_int_equal(p[3], i == 0 ? 3 : 1);
	}
	assert_int_equal(p[0], 1);
	assert_memory_equal(p + 2, "ISA   ", 6);
	p += 8;
	assert_int_equal(p[0], 2);
	assert_int_equal(le32(p + 4), IOAPIC_ADDR);
	/* Fits the reserved area below 1 MiB, clear of the RSDP area. */
	assert_true(MPTABLE_START + 16 + len <= ACPI_START);
	assert_int_equal(boot_mptable(&gm, 0, &e), -EINVAL);
	assert_int_equal(boot_mptable(&gm, 255, &e), -EINVAL);
	assert_int_equal(boot_mptable(&gm, 64, &e), 0);
}

static void page_tables(void **state)
{
	(void)state;
	assert_int_equal(boot_x86_tables(&gm, &e), 0);
	assert_int_equal(le64(at(PML4_ADDR)), PDPT_ADDR | 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(le64(at(PDPT_ADDR + i * 8)), (PD_ADDR + i * 4096) | 3);
	/* The last 2 MiB page below 4 GiB maps itself. */
	assert_int_equal(le64(at(PD_ADDR + 2047 * 8)), (2047ULL << 21) | 0x83);
	assert_int_equal(le64(at(GDT_ADDR + SEL_CODE64)), GDT_CODE64);
	assert_int_equal(le64(at(GDT_ADDR + SEL_DATA)), GDT_DATA);
	assert_int_equal(le64(at(GDT_ADDR + SEL_CODE32)), GDT_CODE32);
	/* Boot structures must not collide with each other. */
	assert_true(GDT_ADDR + GDT_ENTRIES * 8 <= PVH_INFO_ADDR);
	assert_true(PVH_MODLIST_ADDR + 32 <= ZERO_PAGE_ADDR);
	assert_true(PVH_MEMMAP_ADDR + PVH_MEMMAP_MAX * 24 <= PVH_MODLIST_ADDR);
	assert_true(ZERO_PAGE_ADDR + 4096 <= BOOT_STACK_TOP - 0x800);
	assert_true(BOOT_STACK_TOP < PML4_ADDR);
	assert_true(PT_END <= CMDLINE_ADDR);
	assert_true(CMDLINE_ADDR + CMDLINE_MAX <= EBDA_START);
	/* OSv writes to 0x1000-0x2fff: keep it free. */
	assert_false(ranges_overlap(0x1000, 0x2000, GDT_ADDR, GDT_ENTRIES * 8));
	assert_false(ranges_overlap(0x1000, 0x2000, PVH_INFO_ADDR, 0x1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(cmdline_limits),    cmocka_unit_test(e820_layouts),
	        cmocka_unit_test(zero_page_bzimage), cmocka_unit_test(zero_page_vmlinux),
	        cmocka_unit_test(pvh_start_info),    cmocka_unit_test(mptable),
	        cmocka_unit_test(page_tables),
	};
	return cmocka_run_group_tests_name("boot_info", tests, setup_gm, teardown_gm);
}
