/* guests/guest.h — the fastvmm guest ABI for the project's own freestanding test guests.
 * Port numbers come from include/layout.h so the VMM and its guests cannot disagree. */
#ifndef GUEST_H
#define GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "../include/layout.h"

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

/* The whole string in one `rep outsb`: one VM exit instead of one per byte. */
static inline void puts_n(const char *s, size_t n)
{
	__asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"((uint16_t)PORT_COM1) : "memory");
}

static inline size_t strlen_(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static inline void print(const char *s)
{
	puts_n(s, strlen_(s));
}

static inline void ready(void)
{
	outb(PORT_BOOT_TIMER, 1);
}

__attribute__((noreturn)) static inline void guest_exit(uint8_t code)
{
	outb(PORT_EXIT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Value of "key=" in the command line as an unsigned number, or `def`. */
static inline unsigned cmdline_uint(const char *cmdline, const char *key, unsigned def)
{
	if (!cmdline)
		return def;
	size_t klen = strlen_(key);
	for (const char *p = cmdline; *p; p++) {
		if ((p != cmdline && p[-1] != ' ') || p[klen] != '=')
			continue;
		size_t i = 0;
		while (i < klen && p[i] == key[i])
			i++;
		if (i != klen)
			continue;
		const char *v = p + klen + 1;
		if (*v < '0' || *v > '9')
			return def;
		unsigned n = 0;
		while (*v >= '0' && *v <= '9')
			n = n * 10 + (unsigned)(*v++ - '0');
		return n;
	}
	return def;
}

/* Each guest defines this; the entry glue passes the command line (NULL if none). */
__attribute__((noreturn)) void guest_main(const char *cmdline);

#endif
