/* Parse-and-place test against a real Debian kernel (issue 2): the bzImage `vmlinuz` and the
 * ELF `vmlinux` extracted from it, given by path on the command line (tests/debian-kernel.sh
 * fetches them with apt-get download). Asserts on the zero page and the placed bytes exactly
 * as a booting guest would see them. Not auto-discovered with test_*.c: it needs arguments. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot.h"
#include "layout.h"

static const char *vmlinuz_path, *vmlinux_path;

static void bzimage(void **state)
{
	(void)state;
	struct kernel_image k;
	struct err e = {{0}};
	if (kernel_open(&k, vmlinuz_path, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(k.fmt, KF_BZIMAGE);
	const uint8_t *f = k.data;
	/* Debian 12's kernels speak boot protocol 2.15, are relocatable and 64-bit capable. */
	assert_true(k.bz.version >= 0x020c);
	assert_true(k.bz.xloadflags & 1);
	assert_int_equal(k.bz.relocatable_kernel, 1);
	assert_int_equal(k.entry, 0x100200);
	assert_int_equal(k.bz.payload_offset, ((uint64_t)(f[0x1f1] ? f[0x1f1] : 4) + 1) * 512);
	assert_int_equal(k.cmdline_max, le32(f + ZP_CMDLINE_SIZE));
	assert_int_equal(k.bz.init_size, le32(f + ZP_INIT_SIZE));
	assert_true(k.bz.pref_address >= 0x100000);

	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 256 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), 0);
	/* The protected-mode kernel sits at 1 MiB, byte for byte. */
	size_t payload = k.size - k.bz.payload_offset;
	assert_memory_equal(gm_ptr(&gm, 0x100000, payload), f + k.bz.payload_offset, payload);

	static uint8_t rd[123457];
	memset(rd, 0x5a, sizeof(rd));
	uint64_t rd_at;
	assert_int_equal(initrd_place(&k, &gm, rd, sizeof(rd), "rd", &rd_at, &e), 0);
	assert_true(rd_at + sizeof(rd) <= (uint64_t)le32(f + ZP_INITRD_ADDR_MAX) + 1);
	assert_true(rd_at >= k.load_hi);

	const char *cmdline = "console=ttyS0 reboot=k panic=-1 root=/dev/vda";
	assert_int_equal(boot_cmdline(&k, &gm, cmdline, &e), 0);
	struct boot_params_in in = {
	        .cmdline = cmdline, .initrd_gpa = rd_at, .initrd_size = sizeof(rd)};
	assert_int_equal(boot_linux_zero_page(&k, &gm, &in, &e), 0);
	const uint8_t *zp = gm_ptr(&gm, ZERO_PAGE_ADDR, 4096);
	/* Setup header copied from the image up to the loader-owned fields. */
	assert_memory_equal(zp + ZP_SETUP_HDR, f + ZP_SETUP_HDR, ZP_TYPE_OF_LOADER - ZP_SETUP_HDR);
	assert_memory_equal(zp + ZP_HEADER, "HdrS", 4);
	assert_int_equal(le16(zp + ZP_BOOT_FLAG), 0xaa55);
	assert_int_equal(le32(zp + ZP_CODE32_START), le32(f + ZP_CODE32_START));
	assert_int_equal(le64(zp + ZP_PREF_ADDRESS), le64(f + ZP_PREF_ADDRESS));
	assert_int_equal(le32(zp + ZP_INIT_SIZE), le32(f + ZP_INIT_SIZE));
	assert_int_equal(zp[ZP_TYPE_OF_LOADER], 0xff);
	assert_true(zp[ZP_LOADFLAGS] & 0x01);
	assert_int_equal(le32(zp + ZP_CMD_LINE_PTR), CMDLINE_ADDR);
	assert_string_equal((const char *)gm_ptr(&gm, CMDLINE_ADDR, 1), cmdline);
	assert_int_equal(le32(zp + ZP_RAMDISK_IMAGE), rd_at);
	assert_int_equal(le32(zp + ZP_RAMDISK_SIZE), sizeof(rd));
	assert_int_equal(zp[ZP_E820_ENTRIES], 3);
	assert_int_equal(le64(zp + ZP_E820_TABLE + 40), 0x100000);
	assert_int_equal(le64(zp + ZP_E820_TABLE + 48), (256 << 20) - 0x100000);
	printf("# %s: protocol %u.%02u, payload %zu bytes, init_size %u, pref_address 0x%llx\n",
	       vmlinuz_path, k.bz.version >> 8, k.bz.version & 0xff, payload, k.bz.init_size,
	       (unsigned long long)k.bz.pref_address);

	/* Too little RAM for what the kernel needs: a clear refusal, not a broken boot. */
	gm_free(&gm);
	assert_int_equal(gm_init(&gm, 16 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), -ENOMEM);
	assert_non_null(strstr(e.msg, "raise --mem"));
	gm_free(&gm);
	kernel_close(&k);
}

static void vmlinux_pvh(void **state)
{
	(void)state;
	struct kernel_image k;
	struct err e = {{0}};
	if (kernel_open(&k, vmlinux_path, &e) < 0)
		fail_msg("%s", e.msg);
	/* Debian enables CONFIG_PVH: the ELF carries XEN_ELFNOTE_PHYS32_ENTRY. */
	assert_int_equal(k.fmt, KF_ELF_PVH);
	assert_true(k.is_linux); /* so that auto discovery gives it ACPI */
	assert_true(k.pvh_entry >= 0x1000000 && k.pvh_entry < k.load_hi);
	assert_int_equal(k.load_lo, 0x1000000); /* LOAD_PHYSICAL_ADDR */
	struct guest_mem gm;
	assert_int_equal(gm_init(&gm, 256 << 20), 0);
	assert_int_equal(kernel_place(&k, &gm, &e), 0);
	/* The first segment's bytes are at its physical address. */
	assert_memory_equal(gm_ptr(&gm, k.seg[0].paddr, 4096), k.data + k.seg[0].offset, 4096);
	struct boot_params_in in = {.cmdline = ""};
	assert_int_equal(boot_cmdline(&k, &gm, "", &e), 0);
	assert_int_equal(boot_pvh_start_info(&k, &gm, &in, &e), 0);
	assert_int_equal(le32(gm_ptr(&gm, PVH_INFO_ADDR, 4)), HVM_START_MAGIC);
	printf("# %s: %u segments, PVH entry 0x%llx, ends 0x%llx\n", vmlinux_path, k.nseg,
	       (unsigned long long)k.pvh_entry, (unsigned long long)k.load_hi);
	gm_free(&gm);
	kernel_close(&k);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s VMLINUZ VMLINUX\n", argv[0]);
		return 2;
	}
	vmlinuz_path = argv[1];
	vmlinux_path = argv[2];
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(bzimage),
	        cmocka_unit_test(vmlinux_pvh),
	};
	return cmocka_run_group_tests_name("debian_kernel", tests, NULL, NULL);
}
