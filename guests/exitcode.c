/* guests/exitcode.c — exits with the code given as exit=N on its command line (default 0). */
#include "guest.h"

void guest_main(const char *cmdline)
{
	unsigned code = cmdline_uint(cmdline, "exit", 0);
	print("exitcode guest: exiting\n");
	ready();
	guest_exit((uint8_t)code);
}
