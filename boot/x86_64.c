/* boot/x86_64.c — the GDT and the identity-mapped page tables for a 64-bit entry. */
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"
#include "x86.h"

int boot_x86_tables(const struct guest_mem *gm, struct err *e)
{
	uint8_t *gdt = gm_ptr(gm, GDT_ADDR, GDT_ENTRIES * 8);
	uint8_t *pt = gm_ptr(gm, PML4_ADDR, PT_END - PML4_ADDR);
	if (!gdt || !pt)
		return err_set(e, -EFAULT, "page tables: outside guest RAM");
	static const uint64_t table[GDT_ENTRIES] = {
	        [SEL_CODE64 / 8] = GDT_CODE64,
	        [SEL_DATA / 8] = GDT_DATA,
	        [SEL_TSS / 8] = GDT_TSS,
	        [SEL_CODE32 / 8] = GDT_CODE32,
	};
	for (unsigned i = 0; i < GDT_ENTRIES; i++)
		put_le64(gdt + i * 8, table[i]);
	memset(pt, 0, PT_END - PML4_ADDR);
	/* PML4[0] → PDPT; PDPT[0..3] → four PDs of 512 2-MiB pages: 4 GiB identity map. */
	put_le64(pt, PDPT_ADDR | PTE_P | PTE_RW);
	uint8_t *pdpt = pt + (PDPT_ADDR - PML4_ADDR), *pd = pt + (PD_ADDR - PML4_ADDR);
	for (uint64_t i = 0; i < 4; i++) {
		put_le64(pdpt + i * 8, (PD_ADDR + i * 4096) | PTE_P | PTE_RW);
		for (uint64_t j = 0; j < 512; j++)
			put_le64(pd + (i * 512 + j) * 8,
			         ((i * 512 + j) << 21) | PTE_P | PTE_RW | PTE_PS);
	}
	return 0;
}
