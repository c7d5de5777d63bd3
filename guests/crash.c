/* guests/crash.c — triple-faults: an empty IDT, then an invalid opcode. #UD cannot be
 * delivered, nor the #DF that follows, so the CPU shuts down (KVM_EXIT_SHUTDOWN). */
#include "guest.h"

void guest_main(const char *cmdline)
{
	(void)cmdline;
	print("crash guest: about to triple-fault\n");
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idt = {0, 0};
	__asm__ volatile("lidt %0; ud2" : : "m"(idt));
	guest_exit(98); /* not reached */
}
