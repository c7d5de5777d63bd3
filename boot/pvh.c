/* boot/pvh.c — hvm_start_info for the PVH entry (Xen "x86/HVM direct boot ABI",
 * xen/include/public/arch-x86/hvm/start_info.h, version 1 with the memory map). */
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"

int boot_pvh_start_info(const struct kernel_image *k, const struct guest_mem *gm,
                        const struct boot_params_in *in, struct err *e)
{
	(void)k;
	uint8_t *si = gm_ptr(gm, PVH_INFO_ADDR, PVH_INFO_SIZE);
	uint8_t *mm = gm_ptr(gm, PVH_MEMMAP_ADDR, PVH_MEMMAP_MAX * 24);
	uint8_t *mod = gm_ptr(gm, PVH_MODLIST_ADDR, 32);
	if (!si || !mm || !mod)
		return err_set(e, -EFAULT, "start info: outside guest RAM");
	memset(si, 0, PVH_INFO_SIZE);
	put_le32(si + 0, HVM_START_MAGIC);
	put_le32(si + 4, 1); /* version 1: has the memory map */
	put_le32(si + 8, 0); /* flags */
	if (in->initrd_size) {
		memset(mod, 0, 32);
		put_le64(mod + 0, in->initrd_gpa);
		put_le64(mod + 8, in->initrd_size);
		put_le32(si + 12, 1); /* nr_modules */
		put_le64(si + 16, PVH_MODLIST_ADDR);
	}
	put_le64(si + 24, CMDLINE_ADDR);
	put_le64(si + 32, in->acpi_rsdp);
	struct e820 map[E820_MAX];
	unsigned n = boot_e820(gm, map);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ent = mm + i * 24;
		put_le64(ent, map[i].addr);
		put_le64(ent + 8, map[i].size);
		put_le32(ent + 16,
		         map[i].type == E820_RAM ? PVH_MEMMAP_TYPE_RAM : PVH_MEMMAP_TYPE_RESERVED);
		put_le32(ent + 20, 0);
	}
	put_le64(si + 40, PVH_MEMMAP_ADDR);
	put_le32(si + 48, n);
	return 0;
}
