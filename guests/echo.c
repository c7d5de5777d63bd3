/* guests/echo.c — reads one line from the console (COM1, polled) and prints it back as
 * "echo: <line>", then exits 0: proves that the host's stdin reaches the guest. */
#include "guest.h"

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

void guest_main(const char *cmdline)
{
	(void)cmdline;
	char line[128];
	unsigned n = 0;
	print("echo guest: type a line\n");
	ready();
	while (n < sizeof(line) - 1) {
		while (!(inb(PORT_COM1 + 5) & 1)) /* LSR.DR */
			__asm__ volatile("pause");
		char c = (char)inb(PORT_COM1);
		if (c == '\n' || c == '\r')
			break;
		line[n++] = c;
	}
	print("echo: ");
	puts_n(line, n);
	print("\n");
	guest_exit(0);
}
