/* guests/count.c — counts from 1 to to=N (default 20) on the console, keeping the count in its
 * memory. At count snap=K (default 5) it writes the snapshot port (PORT_SNAPSHOT: the
 * snapshot point of --snapshot-at exit-port), then reads it to learn who it is: the origin, a
 * clone (with its instance id), or a run without a snapshot. Every instance then writes its
 * own mark into a page of its memory, waits a little (other clones run meanwhile) and prints
 * what it reads back (spin=I iterations, default 2000, for the wait): a clone that saw another's
 * write would print the other's id. delay=I (default 0) spins I iterations after each count, so
 * that a count runs long enough to be snapshotted from outside (PUT /vms/{id}/snapshot). */
#include "guest.h"

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void put_uint(char *buf, unsigned *n, uint32_t v)
{
	char d[10];
	unsigned k = 0;
	do
		d[k++] = (char)('0' + v % 10);
	while (v /= 10);
	while (k)
		buf[(*n)++] = d[--k];
}

static void print_kv(const char *k, uint32_t v)
{
	char buf[64];
	unsigned n = 0;
	while (*k)
		buf[n++] = *k++;
	put_uint(buf, &n, v);
	buf[n++] = '\n';
	puts_n(buf, n);
}

static volatile uint32_t count;                               /* the guest's state in its RAM */
static volatile uint32_t mark __attribute__((aligned(4096))); /* one page per clone's writes */

void guest_main(const char *cmdline)
{
	unsigned to = cmdline_uint(cmdline, "to", 20), snap = cmdline_uint(cmdline, "snap", 5);
	unsigned spin = cmdline_uint(cmdline, "spin", 2000); /* iterations after the mark */
	unsigned delay = cmdline_uint(cmdline, "delay", 0);
	while (count < to) {
		count = count + 1;
		print_kv("count=", count);
		for (volatile unsigned i = 0; i < delay; i++)
			__asm__ volatile("pause");
		if (count != snap)
			continue;
		outb(PORT_SNAPSHOT, 1);
		uint32_t who = inl(PORT_SNAPSHOT);
		if (who & 0x80000000u)
			print_kv("snapshot point: clone ", who & 0x7fffffffu);
		else if (who == 1)
			print("snapshot point: origin\n");
		else
			print("snapshot point: no snapshot\n");
		uint32_t me = who & 0x80000000u ? who & 0x7fffffffu : 1000000u + who;
		mark = me;
		for (volatile unsigned i = 0; i < spin; i++)
			__asm__ volatile("pause");
		print_kv("mark=", mark);
	}
	ready();
	guest_exit(0);
}
