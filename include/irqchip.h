/* include/irqchip.h — where a VM's interrupt controllers live (docs/irqchip.md).
 *
 * KERNEL: KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2: LAPICs, IOAPIC, 8259 PICs and the 8254 PIT all
 *         in the kernel. Its teardown waits 15-23 ms of SRCU grace periods here (design §4).
 * SPLIT:  KVM_CAP_SPLIT_IRQCHIP: only the LAPICs are in the kernel; the IOAPIC is
 *         devices/ioapic.c; there is no PIC and no PIT (devices/pic.c stops a guest that
 *         relies on them instead of letting it wait forever for a timer tick).
 * AUTO:   SPLIT for images that run without a PIC and PIT, KERNEL for every other image
 *         (irqchip_resolve()). */
#ifndef FASTVMM_IRQCHIP_H
#define FASTVMM_IRQCHIP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum irqchip_mode { IRQCHIP_AUTO = 0, IRQCHIP_KERNEL, IRQCHIP_SPLIT };
const char *irqchip_name(enum irqchip_mode m);

struct kernel_image;
/* The mode a VM gets: requested KERNEL/SPLIT as asked; AUTO → SPLIT when the image declares
 * or is known to run without the 8259 PIC and 8254 PIT — Linux (bzImage or a Linux note)
 * when KVM offers the TSC-deadline timer (Linux then never arms the PIT), an ELF with a Xen
 * PVH entry note (the PVH ABI has no PIC or PIT), an ELF with the fastvmm note
 * FASTVMM_NOTE_NO_LEGACY_IRQ (own guests) — else KERNEL. Pure. */
enum irqchip_mode irqchip_resolve(enum irqchip_mode want, const struct kernel_image *k,
                                  bool tsc_deadline);

/* ---- the userspace IOAPIC (82093AA, as KVM's in-kernel one: version 0x11, 24 pins) ---- */
#define IOAPIC_NUM_PINS 24
#define IOAPIC_MMIO_LEN 0x1000

/* How the IOAPIC reaches the LAPICs: one MSI now, and the routing table that lets irqfds
 * deliver without leaving the kernel. Both return 0 or -errno. */
struct ioapic_route {
	uint32_t gsi, addr_lo, data;
};
struct ioapic_ops {
	int (*signal_msi)(void *ctx, uint32_t addr_lo, uint32_t data);
	int (*set_routes)(void *ctx, const struct ioapic_route *r, unsigned n);
};

struct ioapic {
	pthread_mutex_t lock; /* vCPU threads (MMIO, EOI) and device threads (lines) */
	const struct ioapic_ops *ops;
	void *ctx;
	uint32_t id; /* bits 24-27 of register 0 */
	uint32_t ioregsel;
	uint64_t rte[IOAPIC_NUM_PINS];
	uint32_t line;   /* bit per pin: input asserted now */
	bool routes_set; /* routes[] below is what KVM has */
	struct ioapic_route routes[IOAPIC_NUM_PINS];
	unsigned nroutes;
	/* Counters for --json / tests. */
	uint64_t msis, eois, route_updates, errors;
};

/* Every pin masked, edge, vector 0 (the reset state). Sets no routes: KVM's split irqchip
 * starts with an empty routing table. */
int ioapic_init(struct ioapic *a, uint8_t id, const struct ioapic_ops *ops, void *ctx);
void ioapic_destroy(struct ioapic *a);
/* bus_io_fn for [IOAPIC_ADDR, +IOAPIC_MMIO_LEN): IOREGSEL at 0x00, IOWIN at 0x10. */
void ioapic_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Drive input pin `pin` (1 asserted, 0 deasserted). Edge pins deliver on 0→1 when unmasked;
 * level pins deliver while asserted, unmasked and not awaiting EOI (remote IRR). Pins ≥ 24
 * are ignored. */
void ioapic_set_irq(struct ioapic *a, unsigned pin, int level);
/* Whether the guest has unmasked pin `pin` (a driver of its own is bound to it). */
bool ioapic_pin_unmasked(struct ioapic *a, unsigned pin);
/* The guest's LAPIC EOI of a level-triggered vector (KVM_EXIT_IOAPIC_EOI): clears remote IRR
 * of the pins using it and redelivers those still asserted. */
void ioapic_eoi(struct ioapic *a, uint8_t vector);
/* The MSI (address low word, data) a redirection entry describes (Intel SDM Vol. 3 §11.11).
 * Returns false if the entry is masked. Pure. */
bool ioapic_rte_msi(uint64_t rte, uint32_t *addr_lo, uint32_t *data);

/* ---- what stands in for the 8259 PICs and the 8254 PIT under a split irqchip ----
 * Neither is emulated. The guard registers their ports so that a guest that relies on them
 * is stopped with a message naming the fix instead of waiting forever for a timer tick:
 * unmasking IRQ 0 (the PIT) at the master 8259 after programming it, or reading a PIT
 * counter, stops the VM (outcome internal-error). Masking the 8259 and disabling the PIT —
 * what Linux does when it has an IOAPIC and a LAPIC timer — pass. */
struct pic_guard {
	uint8_t imr[2];      /* read back as written, so probes see a masked PIC */
	uint8_t icw_left[2]; /* initialisation words still expected on the data port */
	bool icw4[2];
};
struct vm;
int pic_guard_init(struct pic_guard *g, struct vm *vm);

#endif
