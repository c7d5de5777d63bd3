/* boot/linux.c — the e820 map, the command line and the Linux zero page
 * (Documentation/arch/x86/boot.rst "64-bit boot protocol", zero-page.rst). */
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"

#define TYPE_OF_LOADER_UNDEFINED 0xff
#define CAN_USE_HEAP             0x80
#define LOADED_HIGH              0x01

unsigned boot_e820(const struct guest_mem *gm, struct e820 *out)
{
	unsigned n = 0;
	uint64_t low = gm_low_end(gm);
	out[n++] = (struct e820){0, EBDA_START, E820_RAM};
	out[n++] = (struct e820){EBDA_START, BIOS_END - EBDA_START, E820_RESERVED};
	if (low > HIMEM_START)
		out[n++] = (struct e820){HIMEM_START, low - HIMEM_START, E820_RAM};
	for (unsigned i = 1; i < gm->nr; i++)
		out[n++] = (struct e820){gm->region[i].gpa, gm->region[i].size, E820_RAM};
	return n;
}

int boot_cmdline(const struct kernel_image *k, const struct guest_mem *gm, const char *cmdline,
                 struct err *e)
{
	size_t len = strlen(cmdline);
	uint64_t max = k->cmdline_max < CMDLINE_MAX - 1 ? k->cmdline_max : CMDLINE_MAX - 1;
	if (len > max)
		return err_set(e, -E2BIG,
		               "--cmdline: %zu bytes, longer than the %llu the kernel accepts (%s)",
		               len, (unsigned long long)max, k->name);
	if (gm_write(gm, CMDLINE_ADDR, cmdline, len + 1) < 0)
		return err_set(e, -EFAULT, "--cmdline: guest RAM too small for the command line");
	return 0;
}

int boot_linux_zero_page(const struct kernel_image *k, const struct guest_mem *gm,
                         const struct boot_params_in *in, struct err *e)
{
	uint8_t *zp = gm_ptr(gm, ZERO_PAGE_ADDR, 4096);
	if (!zp)
		return err_set(e, -EFAULT, "zero page: outside guest RAM");
	memset(zp, 0, 4096);
	if (k->fmt == KF_BZIMAGE) {
		/* boot.rst: copy the setup header from the image; then fill in the loader's part.
		 */
		memcpy(zp + ZP_SETUP_HDR, k->data + ZP_SETUP_HDR, k->bz.hdr_len);
	} else {
		/* vmlinux: no header in the image; build the minimum the 64-bit protocol reads. */
		put_le16(zp + ZP_BOOT_FLAG, 0xaa55);
		memcpy(zp + ZP_HEADER, "HdrS", 4);
		put_le16(zp + ZP_VERSION, 0x020f);
		put_le32(zp + ZP_KERNEL_ALIGNMENT, 0x1000000);
		put_le32(zp + ZP_CMDLINE_SIZE, k->cmdline_max);
		put_le32(zp + ZP_INITRD_ADDR_MAX, (uint32_t)(k->initrd_max - 1));
	}
	zp[ZP_TYPE_OF_LOADER] = TYPE_OF_LOADER_UNDEFINED;
	zp[ZP_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
	put_le16(zp + ZP_HEAP_END_PTR, 0xfe00);
	/* Always a valid pointer, even to an empty string (some guests dereference it blindly). */
	put_le32(zp + ZP_CMD_LINE_PTR, (uint32_t)CMDLINE_ADDR);
	put_le32(zp + ZP_EXT_CMD_LINE_PTR, 0);
	if (in->initrd_size) {
		put_le32(zp + ZP_RAMDISK_IMAGE, (uint32_t)in->initrd_gpa);
		put_le32(zp + ZP_RAMDISK_SIZE, (uint32_t)in->initrd_size);
		put_le32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(in->initrd_gpa >> 32));
		put_le32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(in->initrd_size >> 32));
	}
	if (in->acpi_rsdp)
		put_le64(zp + ZP_ACPI_RSDP, in->acpi_rsdp);
	struct e820 map[E820_MAX];
	unsigned n = boot_e820(gm, map);
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ent = zp + ZP_E820_TABLE + i * 20;
		put_le64(ent, map[i].addr);
		put_le64(ent + 8, map[i].size);
		put_le32(ent + 16, map[i].type);
	}
	return 0;
}
