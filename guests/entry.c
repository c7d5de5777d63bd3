/* guests/entry.c — from either boot protocol's handoff to guest_main(cmdline). */
#include "guest.h"

/* Linux 64-bit boot protocol: RSI → zero page; cmd_line_ptr at 0x228. */
__attribute__((noreturn)) void linux_entry(const uint8_t *zero_page)
{
	uint32_t p = *(const uint32_t *)(zero_page + 0x228);
	guest_main(p ? (const char *)(uintptr_t)p : NULL);
}

/* PVH: EBX → hvm_start_info; cmdline_paddr at offset 24. */
__attribute__((noreturn)) void pvh_entry(const uint8_t *start_info)
{
	if (*(const uint32_t *)start_info != 0x336ec578u)
		guest_exit(99);
	uint64_t p = *(const uint64_t *)(start_info + 24);
	guest_main(p ? (const char *)(uintptr_t)p : NULL);
}
