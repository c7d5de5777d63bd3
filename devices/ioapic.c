/* devices/ioapic.c — the I/O APIC in userspace, for a split irqchip (KVM_CAP_SPLIT_IRQCHIP).
 *
 * Register model: Intel 82093AA datasheet §3 (IOREGSEL at +0x00, IOWIN at +0x10; registers
 * 0x00 ID, 0x01 version, 0x02 arbitration, 0x10 + 2n redirection entry n, low then high), as
 * KVM's in-kernel IOAPIC presents it: version 0x11, 24 pins, no EOI register (that is
 * version 0x20), so guests EOI through their LAPIC only.
 *
 * Delivery is an MSI built from the redirection entry (Intel SDM Vol. 3 §11.11: address
 * 0xfee00000 | destination << 12 | destination mode << 2; data vector | delivery mode << 8 |
 * trigger << 15, with the assert bit 14 for level). The same message is programmed as the
 * pin's GSI route (KVM_SET_GSI_ROUTING), so an irqfd bound to that GSI (virtio) is delivered
 * by the kernel without coming here, and KVM learns which vectors are level-triggered: a
 * guest EOI of one of them exits with KVM_EXIT_IOAPIC_EOI, which clears remote IRR
 * (ioapic_eoi()). The routing table is set again only when a message changes, because every
 * KVM_SET_GSI_ROUTING waits for an SRCU grace period.
 *
 * Input lines are logical (1 = asserted) as with KVM_IRQ_LINE; the polarity bit is stored
 * and read back but does not invert them (KVM's in-kernel IOAPIC does the same). */
#include <errno.h>
#include <string.h>

#include "cc.h"
#include "irqchip.h"
#include "log.h"
#include "snapshot.h"

#define IOREGSEL 0x00
#define IOWIN    0x10

#define REG_ID         0x00
#define REG_VER        0x01
#define REG_ARB        0x02
#define REG_RTE0       0x10
#define IOAPIC_VERSION 0x11

#define RTE_VECTOR     0xffull
#define RTE_DELMODE(e) (((e) >> 8) & 7)
#define RTE_DESTMODE   (1ull << 11)
#define RTE_DELIVS     (1ull << 12) /* read-only */
#define RTE_REMOTE_IRR (1ull << 14) /* read-only */
#define RTE_LEVEL      (1ull << 15)
#define RTE_MASKED     (1ull << 16)
#define RTE_RO         (RTE_DELIVS | RTE_REMOTE_IRR)
#define RTE_DEST(e)    ((uint32_t)((e) >> 56))

#define MSI_ADDR_BASE 0xfee00000u

bool ioapic_rte_msi(uint64_t rte, uint32_t *addr_lo, uint32_t *data)
{
	*addr_lo = MSI_ADDR_BASE | RTE_DEST(rte) << 12 | (rte & RTE_DESTMODE ? 1u << 2 : 0);
	*data = (uint32_t)(rte & RTE_VECTOR) | (uint32_t)RTE_DELMODE(rte) << 8 |
	        (rte & RTE_LEVEL ? (1u << 15) | (1u << 14) : 0);
	return !(rte & RTE_MASKED);
}

int ioapic_init(struct ioapic *a, uint8_t id, const struct ioapic_ops *ops, void *ctx)
{
	memset(a, 0, sizeof(*a));
	a->ops = ops;
	a->ctx = ctx;
	a->id = id & 0xf;
	for (unsigned i = 0; i < IOAPIC_NUM_PINS; i++)
		a->rte[i] = RTE_MASKED;
	return -pthread_mutex_init(&a->lock, NULL);
}

void ioapic_destroy(struct ioapic *a)
{
	if (a->ops)
		pthread_mutex_destroy(&a->lock);
	a->ops = NULL;
}

/* The routes KVM should have: unmasked pins, and level pins even while masked, so that the
 * EOI of an interrupt delivered before the guest masked its pin still reaches ioapic_eoi()
 * (KVM's own IOAPIC scans level entries regardless of the mask too). Vectors below 16 are
 * invalid (SDM §11.5.2) and never routed. */
static void routes_update(struct ioapic *a)
{
	struct ioapic_route r[IOAPIC_NUM_PINS];
	unsigned n = 0;
	for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
		uint64_t e = a->rte[pin];
		uint32_t addr, data;
		bool unmasked = ioapic_rte_msi(e, &addr, &data);
		if ((e & RTE_VECTOR) < 16 || !(unmasked || (e & RTE_LEVEL)))
			continue;
		r[n++] = (struct ioapic_route){.gsi = pin, .addr_lo = addr, .data = data};
	}
	if (a->routes_set && n == a->nroutes && !memcmp(r, a->routes, n * sizeof(r[0])))
		return;
	if (!a->routes_set && n == 0)
		return; /* KVM starts with an empty table */
	int rc = a->ops->set_routes(a->ctx, r, n);
	if (rc < 0) {
		a->errors++;
		return;
	}
	memcpy(a->routes, r, n * sizeof(r[0]));
	a->nroutes = n;
	a->routes_set = true;
	a->route_updates++;
}

static void deliver(struct ioapic *a, unsigned pin)
{
	uint64_t e = a->rte[pin];
	uint32_t addr, data;
	if (!ioapic_rte_msi(e, &addr, &data) || (e & RTE_VECTOR) < 16)
		return;
	int r = a->ops->signal_msi(a->ctx, addr, data);
	if (r < 0) {
		if (!a->errors++) /* the first only: a guest can make every delivery fail */
			log_warn("ioapic: pin %u, vector %llu: KVM_SIGNAL_MSI failed (%s); the "
			         "interrupt is lost",
			         pin, (unsigned long long)(e & RTE_VECTOR), strerror(-r));
	} else
		a->msis++;
	if (e & RTE_LEVEL)
		a->rte[pin] |= RTE_REMOTE_IRR;
}

/* A level pin fires while it is asserted, unmasked and not awaiting EOI. */
static void level_service(struct ioapic *a, unsigned pin)
{
	uint64_t e = a->rte[pin];
	if ((e & RTE_LEVEL) && (a->line & (1u << pin)) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)))
		deliver(a, pin);
}

void ioapic_set_irq(struct ioapic *a, unsigned pin, int level)
{
	if (pin >= IOAPIC_NUM_PINS)
		return;
	uint32_t bit = 1u << pin;
	pthread_mutex_lock(&a->lock);
	bool was = a->line & bit;
	if (level)
		a->line |= bit;
	else
		a->line &= ~bit;
	if (a->rte[pin] & RTE_LEVEL)
		level_service(a, pin);
	else if (level && !was) /* edge: only a rising edge counts; masked edges are lost */
		deliver(a, pin);
	pthread_mutex_unlock(&a->lock);
}

bool ioapic_pin_unmasked(struct ioapic *a, unsigned pin)
{
	if (pin >= IOAPIC_NUM_PINS)
		return false;
	pthread_mutex_lock(&a->lock);
	bool on = !(a->rte[pin] & RTE_MASKED);
	pthread_mutex_unlock(&a->lock);
	return on;
}

void ioapic_eoi(struct ioapic *a, uint8_t vector)
{
	pthread_mutex_lock(&a->lock);
	a->eois++;
	for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
		uint64_t e = a->rte[pin];
		if ((e & RTE_VECTOR) != vector || !(e & RTE_REMOTE_IRR))
			continue;
		a->rte[pin] &= ~RTE_REMOTE_IRR;
		level_service(a, pin); /* still asserted: the next interrupt */
	}
	pthread_mutex_unlock(&a->lock);
}

static uint32_t reg_read(struct ioapic *a, uint32_t reg)
{
	switch (reg) {
	case REG_ID:
	case REG_ARB:
		return a->id << 24;
	case REG_VER:
		return IOAPIC_VERSION | (IOAPIC_NUM_PINS - 1) << 16;
	}
	if (reg >= REG_RTE0 && reg < REG_RTE0 + 2 * IOAPIC_NUM_PINS) {
		uint64_t e = a->rte[(reg - REG_RTE0) / 2];
		return (reg & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0; /* unimplemented registers read as zero, as on KVM's */
}

static void reg_write(struct ioapic *a, uint32_t reg, uint32_t v)
{
	if (reg == REG_ID) {
		a->id = (v >> 24) & 0xf;
		return;
	}
	if (reg < REG_RTE0 || reg >= REG_RTE0 + 2 * IOAPIC_NUM_PINS)
		return; /* version and arbitration are read-only */
	unsigned pin = (reg - REG_RTE0) / 2;
	uint64_t old = a->rte[pin], e;
	if (reg & 1)
		e = (old & 0xffffffffull) | (uint64_t)v << 32;
	else
		e = (old & ~0xffffffffull) | (v & ~(uint32_t)RTE_RO) | (old & RTE_RO);
	if (!(e & RTE_LEVEL))
		e &= ~RTE_REMOTE_IRR; /* an edge pin awaits no EOI */
	a->rte[pin] = e;
	routes_update(a);
	level_service(a, pin); /* unmasking an asserted level pin delivers it */
}

void ioapic_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct ioapic *a = opaque;
	uint32_t v = 0;
	/* Registers are 32-bit; narrower or wider accesses use the low bytes (KVM does too). */
	uint32_t n = len < 4 ? len : 4;
	pthread_mutex_lock(&a->lock);
	if (is_write) {
		for (uint32_t i = 0; i < n; i++)
			v |= (uint32_t)data[i] << (8 * i);
		if (off == IOREGSEL)
			a->ioregsel = v & 0xff;
		else if (off == IOWIN)
			reg_write(a, a->ioregsel, v);
	} else {
		if (off == IOREGSEL)
			v = a->ioregsel;
		else if (off == IOWIN)
			v = reg_read(a, a->ioregsel);
		memset(data, 0, len);
		for (uint32_t i = 0; i < n; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
	pthread_mutex_unlock(&a->lock);
}

/* ---- snapshots (include/snapshot.h) ---- */

void ioapic_save(struct ioapic *a, struct ioapic_state *st)
{
	pthread_mutex_lock(&a->lock);
	st->npins = IOAPIC_NUM_PINS;
	st->id = a->id;
	st->ioregsel = a->ioregsel;
	st->line = a->line;
	memcpy(st->rte, a->rte, sizeof(st->rte));
	pthread_mutex_unlock(&a->lock);
}

/* The state as it was, then the routes it implies: KVM's table starts empty in a new VM, so
 * routes_update() programs every unmasked (and every level) pin once, and the irqfds the
 * devices bind to those GSIs afterwards deliver in the kernel as before the snapshot. A level
 * pin awaiting its EOI keeps remote IRR; its route tells KVM to exit on that EOI. No pin is
 * delivered here: an edge already delivered is in the LAPIC's saved IRR/ISR, and a level pin
 * still asserted and not awaiting EOI was delivered before the snapshot too. */
int ioapic_restore(struct ioapic *a, const struct ioapic_state *st)
{
	_Static_assert(SNAP_IOAPIC_PINS == IOAPIC_NUM_PINS, "snapshot pin count");
	pthread_mutex_lock(&a->lock);
	a->id = st->id & 0xf;
	a->ioregsel = st->ioregsel & 0xff;
	a->line = st->line & ((1u << IOAPIC_NUM_PINS) - 1);
	for (unsigned i = 0; i < IOAPIC_NUM_PINS; i++)
		a->rte[i] = st->rte[i] & ~RTE_DELIVS;
	uint64_t errors = a->errors;
	routes_update(a);
	int r = a->errors != errors ? -EIO : 0;
	pthread_mutex_unlock(&a->lock);
	return r;
}
