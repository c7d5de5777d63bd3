/* guests/hello.c — prints the greeting, marks ready, exits 0. */
#include "guest.h"

void guest_main(const char *cmdline)
{
	(void)cmdline;
	print("Hello from fastvmm guest\n");
	ready();
	guest_exit(0);
}
