/* guests/apic_guest.h — interrupts for the test guests: one IDT gate, the LAPIC enabled, an
 * IOAPIC redirection entry, and the mappings the PVH entry lacks. Freestanding, general
 * registers only (handlers use __attribute__((interrupt))). */
#ifndef APIC_GUEST_H
#define APIC_GUEST_H

#include "guest.h"

#define IOAPIC_BASE 0xfec00000ul
#define LAPIC_BASE  0xfee00000ul
#define LAPIC_EOI   0xb0
#define LAPIC_SVR   0xf0
#define LAPIC_LVT0  0x350

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

static struct idt_gate apic_idt[256] __attribute__((aligned(16)));
static uint64_t apic_hi_pd[512] __attribute__((aligned(4096)));

static inline void apic_w(unsigned long a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

static inline uint32_t apic_r(unsigned long a)
{
	return *(volatile uint32_t *)a;
}

/* The PVH entry maps only the first 2 MiB; the Linux-protocol one maps 4 GiB. Map the
 * IOAPIC and LAPIC pages (uncached) where they are missing. */
static inline void apic_map(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & ~0xfffull);
	uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & ~0xfffull);
	if (pdpt[3] & 1)
		return;
	apic_hi_pd[(IOAPIC_BASE - 0xc0000000ul) >> 21] = IOAPIC_BASE | 0x93; /* P RW PCD PS */
	apic_hi_pd[(LAPIC_BASE - 0xc0000000ul) >> 21] = LAPIC_BASE | 0x93;
	pdpt[3] = (uint64_t)(uintptr_t)apic_hi_pd | 3;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

/* An IDT with one gate, vector vec → handler; the LAPIC software-enabled with LINT0 masked
 * (with the in-kernel irqchip KVM_IRQ_LINE also drives the unprogrammed 8259, whose ExtINT
 * would arrive with a vector nobody handles). */
static inline void apic_setup(unsigned vec, void *handler)
{
	apic_map();
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	uint64_t h = (uint64_t)(uintptr_t)handler;
	apic_idt[vec] = (struct idt_gate){.off0 = (uint16_t)h,
	                                  .sel = cs,
	                                  .type = 0x8e, /* present, 64-bit interrupt gate */
	                                  .off1 = (uint16_t)(h >> 16),
	                                  .off2 = (uint32_t)(h >> 32)};
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) d = {sizeof(apic_idt) - 1, (uint64_t)(uintptr_t)apic_idt};
	__asm__ volatile("lidt %0" : : "m"(d));
	/* iretq reloads SS from the GDT: the PVH entry switched GDTs under the VMM's selector.
	 * A null SS is valid at CPL 0 in long mode. */
	__asm__ volatile("mov %0, %%ss" : : "r"(0));
	apic_w(LAPIC_BASE + LAPIC_SVR, 0x100 | 0xff);
	apic_w(LAPIC_BASE + LAPIC_LVT0, 1u << 16);
}

/* Redirection entry `pin`: low word lo, destination APIC id 0. */
static inline void apic_rte(unsigned pin, uint32_t lo)
{
	apic_w(IOAPIC_BASE, 0x11 + 2 * pin);
	apic_w(IOAPIC_BASE + 0x10, 0);
	apic_w(IOAPIC_BASE, 0x10 + 2 * pin);
	apic_w(IOAPIC_BASE + 0x10, lo);
}

#endif
