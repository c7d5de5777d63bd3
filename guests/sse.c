/* guests/sse.c — enables SSE (CR4.OSFXSR) and executes one SSE move. On a KVM that runs the
 * guest natively this works and the guest exits 0; on an emulating KVM without SSE support
 * (kvm-pvm) fastvmm must stop with a clear emulation-failure diagnosis instead. */
#include "guest.h"

void guest_main(const char *cmdline)
{
	(void)cmdline;
	unsigned long cr4;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= (1UL << 9) | (1UL << 10); /* OSFXSR, OSXMMEXCPT */
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	print("sse guest: executing an SSE move\n");
	__asm__ volatile("xorps %xmm0, %xmm0\n\tmovaps %xmm0, %xmm1");
	print("sse guest: SSE works\n");
	guest_exit(0);
}
