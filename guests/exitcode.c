/* guests/exitcode.c — exits with the code given as exit=N on its command line (default 0).
 * With id=I crash=C (batch mode: --cmdline "id={id} crash=3") the instance whose id equals C
 * triple-faults instead, so that a test can crash one instance among healthy ones. */
#include "guest.h"

void guest_main(const char *cmdline)
{
	unsigned code = cmdline_uint(cmdline, "exit", 0);
	unsigned id = cmdline_uint(cmdline, "id", ~0u), crash = cmdline_uint(cmdline, "crash", ~0u);
	if (id != ~0u && id == crash) {
		print("exitcode guest: crashing on purpose\n");
		static const struct __attribute__((packed)) {
			uint16_t limit;
			uint64_t base;
		} idt = {0, 0};
		__asm__ volatile("lidt %0; ud2" : : "m"(idt));
	}
	print("exitcode guest: exiting\n");
	ready();
	guest_exit((uint8_t)code);
}
