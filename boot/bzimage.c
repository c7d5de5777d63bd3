/* boot/bzimage.c — Linux bzImage: setup header (Documentation/arch/x86/boot.rst), the
 * protected-mode kernel placed at its load address and entered at the 64-bit entry point
 * (load address + 0x200); no real-mode code runs. */
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"

#define LOADED_HIGH   0x01
#define XLF_KERNEL_64 0x01
/* 64-bit entry + xloadflags arrived in 2.12; refuse anything older. */
#define BZ_MIN_VERSION 0x020c
#define BZ_LOAD_ADDR   0x100000ULL

int bzimage_parse(struct kernel_image *k, struct err *e)
{
	const uint8_t *d = k->data;
	struct bz_info *bz = &k->bz;
	if (k->size < ZP_INIT_SIZE + 4)
		return err_set(e, -ENOEXEC, "%s: truncated bzImage header", k->name);
	bz->version = le16(d + ZP_VERSION);
	if (bz->version < BZ_MIN_VERSION)
		return err_set(e, -ENOEXEC,
		               "%s: boot protocol %u.%02u is too old (need 2.12 or later for the "
		               "64-bit entry)",
		               k->name, bz->version >> 8, bz->version & 0xff);
	bz->setup_sects = d[ZP_SETUP_HDR];
	if (bz->setup_sects == 0)
		bz->setup_sects = 4; /* boot.rst: "If this field is 0, the real value is 4." */
	bz->loadflags = d[ZP_LOADFLAGS];
	bz->code32_start = le32(d + ZP_CODE32_START);
	bz->initrd_addr_max = le32(d + ZP_INITRD_ADDR_MAX);
	bz->kernel_alignment = le32(d + ZP_KERNEL_ALIGNMENT);
	bz->relocatable_kernel = d[ZP_RELOCATABLE];
	bz->xloadflags = le16(d + ZP_XLOADFLAGS);
	bz->cmdline_size = le32(d + ZP_CMDLINE_SIZE);
	bz->pref_address = le64(d + ZP_PREF_ADDRESS);
	bz->init_size = le32(d + ZP_INIT_SIZE);
	bz->payload_offset = ((uint64_t)bz->setup_sects + 1) * 512;
	/* The setup header runs from 0x1f1 to 0x202 + the byte at 0x201 (the jump's offset). */
	bz->hdr_len = 0x202 + d[0x201] - ZP_SETUP_HDR;
	if (bz->hdr_len > k->size - ZP_SETUP_HDR || bz->hdr_len > 0x1000 - ZP_SETUP_HDR)
		return err_set(e, -ENOEXEC, "%s: setup header length %u is beyond the file",
		               k->name, bz->hdr_len);

	if (!(bz->loadflags & LOADED_HIGH))
		return err_set(e, -ENOEXEC,
		               "%s: zImage (loaded low) is not supported; need a bzImage", k->name);
	if (!(bz->xloadflags & XLF_KERNEL_64))
		return err_set(e, -ENOEXEC, "%s: kernel has no 64-bit entry point (XLF_KERNEL_64)",
		               k->name);
	if (bz->payload_offset >= k->size)
		return err_set(e, -ENOEXEC,
		               "%s: setup (%u sectors) covers the whole file; no kernel payload",
		               k->name, bz->setup_sects);
	if (bz->init_size == 0 || bz->init_size > 1 * GiB)
		return err_set(e, -ENOEXEC, "%s: absurd init_size %u", k->name, bz->init_size);
	if (bz->cmdline_size == 0)
		return err_set(e, -ENOEXEC, "%s: cmdline_size is 0", k->name);
	if (bz->pref_address > 16 * GiB)
		return err_set(e, -ENOEXEC, "%s: absurd pref_address 0x%llx", k->name,
		               (unsigned long long)bz->pref_address);

	uint64_t payload = k->size - bz->payload_offset;
	k->fmt = KF_BZIMAGE;
	k->is_linux = true; /* the bzImage format is Linux's own */
	k->seg[0] = (struct kernel_segment){bz->payload_offset, payload, payload, BZ_LOAD_ADDR};
	k->nseg = 1;
	k->entry = BZ_LOAD_ADDR + 0x200;
	k->load_lo = BZ_LOAD_ADDR;
	/* The kernel decompresses itself to pref_address (it is not relocated from 1 MiB unless
	 * relocatable, and even then it prefers that address) and needs init_size bytes there;
	 * a relocatable kernel may instead use init_size from its load address. Reserve both. */
	uint64_t hi = BZ_LOAD_ADDR + payload;
	uint64_t need = (bz->pref_address ? bz->pref_address : BZ_LOAD_ADDR) + bz->init_size;
	if (BZ_LOAD_ADDR + bz->init_size > need)
		need = BZ_LOAD_ADDR + bz->init_size;
	k->load_hi = hi > need ? hi : need;
	k->cmdline_max = bz->cmdline_size;
	k->initrd_max = (uint64_t)bz->initrd_addr_max + 1;
	return 0;
}
