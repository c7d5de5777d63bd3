/* guests/irq.c — takes real interrupts through the IOAPIC and the LAPIC, so that both irqchip
 * modes are proven by what a guest observes: the COM1 transmitter-empty interrupt (IRQ 4)
 * routed by IOAPIC pin 4 to vector 0x30, first edge-triggered, then level-triggered with
 * remote IRR checked set inside the handler (before the EOI) and clear after it.
 * Prints "irq: edge ok", "irq: level ok" (skipped with level=0), "irq: all ok" and exits 0; any
 * failure exits with a code naming the step (10+). No PIC, no PIT (the fastvmm note says so). */
#include "apic_guest.h"

#define VEC        0x30
#define RTE_LEVEL  (1u << 15)
#define RTE_MASKED (1u << 16)
#define RTE_RIRR   (1u << 14)
#define SERIAL_PIN 4
#define UART_IER   (PORT_COM1 + 1)
#define UART_IIR   (PORT_COM1 + 2)
#define IER_THRI   0x02

static volatile unsigned hits;
static volatile uint32_t rte_in_handler;

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static uint32_t rte_read(unsigned pin)
{
	apic_w(IOAPIC_BASE, 0x10 + 2 * pin);
	return apic_r(IOAPIC_BASE + 0x10);
}

struct frame;
__attribute__((interrupt)) static void on_irq(struct frame *f)
{
	(void)f;
	rte_in_handler = rte_read(SERIAL_PIN);
	(void)inb(UART_IIR); /* acknowledges THRI: the line drops */
	hits = hits + 1;
	apic_w(LAPIC_BASE + LAPIC_EOI, 0);
}

/* Raise IRQ 4 by enabling the THR-empty interrupt, wait for the handler. Both irqchips
 * deliver during the outb's exit (the UART raises its line there), so the interrupt is
 * pending in the LAPIC by the next instruction: the wait opens an interrupt window a bounded
 * number of times instead of halting, which would sleep forever if the wake-up were missed
 * (no timer runs here) and hang the test instead of failing it. */
static int fire(void)
{
	unsigned before = hits;
	outb(UART_IER, IER_THRI);
	for (unsigned i = 0; i < 20000 && hits == before; i++)
		__asm__ volatile("sti; nop; cli");
	outb(UART_IER, 0);
	return hits == before + 1;
}

/* pic=1: program the 8259 and unmask IRQ 0, as a PIC+PIT guest (Unikraft 0.17) does;
 * pit=1: read PIT counter 0. Then wait for a tick forever: under a split irqchip fastvmm
 * must stop such a guest instead. */
static void legacy(const char *cmdline)
{
	if (cmdline_uint(cmdline, "pic", 0)) {
		outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
		outb(0x21, 0x20); /* ICW2: vectors 0x20-0x27 */
		outb(0x21, 0x04); /* ICW3: slave on IRQ 2 */
		outb(0x21, 0x01); /* ICW4: 8086 mode */
		print("irq: pic initialised\n");
		outb(0x21, 0xfe); /* OCW1: IRQ 0 unmasked */
	} else if (cmdline_uint(cmdline, "pit", 0)) {
		outb(0x43, 0x00); /* latch counter 0 */
		(void)inb(0x40);
		print("irq: pit read\n");
	} else {
		return;
	}
	for (;;)
		__asm__ volatile("sti; hlt");
}

void guest_main(const char *cmdline)
{
	legacy(cmdline);
	apic_setup(VEC, on_irq); /* IDT gate, LAPIC enabled, LINT0 masked (apic_guest.h) */
	(void)inb(UART_IIR);

	apic_rte(SERIAL_PIN, VEC); /* edge, active high, fixed, physical */
	if (!fire())
		guest_exit(10);
	if (rte_in_handler & RTE_RIRR)
		guest_exit(11); /* an edge entry never sets remote IRR */
	print("irq: edge ok\n");

	/* level=0 skips this part: this host's kvm-pvm reports the EOI of a level vector
	 * before the guest's handler has run, with either irqchip (real KVM does not: the
	 * nested harness runs it). */
	if (!cmdline_uint(cmdline, "level", 1))
		goto masked;
	apic_rte(SERIAL_PIN, VEC | RTE_LEVEL);
	if (!fire())
		guest_exit(12);
	if (!(rte_in_handler & RTE_RIRR))
		guest_exit(13); /* delivered level interrupt awaits its EOI */
	if (rte_read(SERIAL_PIN) & RTE_RIRR)
		guest_exit(14); /* the EOI must have cleared it */
	print("irq: level ok\n");
masked:

	apic_rte(SERIAL_PIN, VEC | RTE_MASKED);
	outb(UART_IER, IER_THRI); /* masked: nothing may arrive */
	unsigned before = hits;
	for (unsigned i = 0; i < 50; i++)
		__asm__ volatile("sti; nop; cli");
	outb(UART_IER, 0);
	if (hits != before)
		guest_exit(15);
	print("irq: all ok\n");
	guest_exit(0);
}
