/* guests/pic_pit.c — the interrupt path Unikraft 0.17's KVM platform relies on, checked from
 * inside the guest: it takes interrupts only through the 8259 PIC (edge), uses the PIT
 * channel 0 in mode 0 (interrupt on terminal count: one-shot, re-armed for every timer
 * event) as its timer, and needs LAPIC LINT0 in ExtINT mode, unmasked, or the PIC's INTR never
 * reaches the CPU (KVM: kvm_apic_accept_pic_intr()). Exits 0 after two one-shot interrupts,
 * exactly one per arm; 1-5 name the check that failed. */
#include "guest.h"

#define LAPIC_LVT0 0xfee00350u
#define PIT_HZ     1193182u

struct __attribute__((packed)) gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
};
static struct gate idt[0x30] __attribute__((aligned(16)));
static volatile unsigned ticks, spurious;

struct interrupt_frame;
__attribute__((interrupt)) static void irq0(struct interrupt_frame *f)
{
	(void)f;
	ticks++;
	outb(0x20, 0x20); /* non-specific EOI to the master PIC */
}
__attribute__((interrupt)) static void irq_other(struct interrupt_frame *f)
{
	(void)f;
	spurious++;
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void set_gate(unsigned v, void (*h)(struct interrupt_frame *), uint16_t cs)
{
	uintptr_t a = (uintptr_t)h;
	idt[v] = (struct gate){.off_lo = (uint16_t)a,
	                       .sel = cs,
	                       .type = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
	                       .off_mid = (uint16_t)(a >> 16),
	                       .off_hi = (uint32_t)(a >> 32)};
}

/* PIT channel 0, mode 0, lobyte/hibyte, binary: OUT rises once when the count reaches 0. */
static void pit_oneshot(uint16_t count)
{
	outb(0x43, 0x30);
	outb(0x40, (uint8_t)count);
	outb(0x40, (uint8_t)(count >> 8));
}
static uint16_t pit_read(void)
{
	outb(0x43, 0x00); /* latch channel 0 */
	uint8_t lo = inb(0x40);
	return (uint16_t)(lo | inb(0x40) << 8);
}

static __attribute__((noreturn)) void fail(unsigned code, const char *why)
{
	print("pic_pit: ");
	print(why);
	print("\n");
	guest_exit((uint8_t)code);
}

void guest_main(const char *cmdline)
{
	(void)cmdline;
	uint32_t lvt0 = *(volatile uint32_t *)(uintptr_t)LAPIC_LVT0;
	if ((lvt0 & 0x10700u) != 0x700u)
		fail(1, "LAPIC LVT0 is not an unmasked ExtINT");
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (unsigned v = 0x20; v < 0x30; v++)
		set_gate(v, v == 0x20 ? irq0 : irq_other, cs);
	static struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr;
	idtr.limit = sizeof(idt) - 1;
	idtr.base = (uintptr_t)idt;
	__asm__ volatile("lidt %0" : : "m"(idtr));
	/* 8259 pair as Unikraft sets it up: ICW1 edge + ICW4, vectors 0x20/0x28, cascade on
	 * IRQ2, 8086 mode; then only IRQ0 unmasked. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xfe);
	outb(0xa1, 0xff);
	ready();
	for (unsigned arm = 1; arm <= 2; arm++) {
		pit_oneshot((uint16_t)(PIT_HZ / 100)); /* 10 ms */
		for (unsigned spins = 0; ticks < arm; spins++) {
			if (spins > 1000)
				fail(2, "no PIT interrupt through the PIC");
			__asm__ volatile("sti; hlt; cli");
		}
		/* One-shot: after terminal count the counter wraps on from 0xffff (55 ms a turn)
		 * and OUT stays high. Watch three turns: no second interrupt may come. */
		uint16_t last = pit_read();
		__asm__ volatile("sti");
		for (unsigned wraps = 0, n = 0; wraps < 3; n++) {
			uint16_t c = pit_read();
			if (c > last)
				wraps++;
			last = c;
			if (n > 50000000u)
				fail(3, "the PIT counter does not run");
		}
		__asm__ volatile("cli");
		if (ticks != arm)
			fail(4, "more than one interrupt per one-shot arm (periodic?)");
	}
	if (spurious)
		fail(5, "interrupts on other PIC lines");
	print("pic_pit: LVT0 ExtINT; 2 one-shot PIT interrupts through the 8259 (edge), one per "
	      "arm\n");
	guest_exit(0);
}
