/* guests/hang.c — never exits: halts with interrupts off (default) or spins (spin=1), so
 * that --timeout has something to end. */
#include "guest.h"

void guest_main(const char *cmdline)
{
	unsigned spin = cmdline_uint(cmdline, "spin", 0);
	print("hang guest: waiting forever\n");
	ready();
	if (spin)
		for (;;)
			__asm__ volatile("pause");
	for (;;)
		__asm__ volatile("cli; hlt");
}
