/* guests/null.c — the microbenchmark floor: ready, then exit 0. Two VM exits in all. */
#include "guest.h"

void guest_main(const char *cmdline)
{
	(void)cmdline;
	ready();
	guest_exit(0);
}
