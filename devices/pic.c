/* devices/pic.c — the 8259A PICs and the 8254 PIT under a split irqchip: not emulated, only
 * guarded (include/irqchip.h, docs/irqchip.md).
 *
 * 8259A programming (Intel 8259A datasheet): a write to the command port with bit 4 set is
 * ICW1 (bit 0: ICW4 follows, bit 1: single, no ICW3); then ICW2, ICW3 unless single, ICW4 if
 * asked go to the data port; afterwards a data-port write is OCW1, the interrupt mask. 8254:
 * ports 0x40-0x42 are the counters, 0x43 the mode register. */
#include <string.h>

#include "irqchip.h"
#include "snapshot.h"
#include "vmm.h"

#define PIC_MASTER 0x20
#define PIC_SLAVE  0xa0
#define PIT_BASE   0x40
#define PIT_MODE   0x43

static const char fix[] = "which --irqchip split does not emulate: run it with --irqchip kernel";

static void pic_io(struct vm *vm, unsigned chip, uint64_t off, uint8_t *data, bool wr)
{
	struct pic_guard *g = &vm->pic;
	if (!wr) {
		data[0] = off ? g->imr[chip] : 0; /* no request pending or in service */
		return;
	}
	uint8_t v = data[0];
	if (off == 0) {
		if (v & 0x10) { /* ICW1 */
			g->icw4[chip] = v & 1;
			g->icw_left[chip] = (uint8_t)(1 + !(v & 2) + (v & 1));
			g->imr[chip] = 0;
		}
		return; /* OCW2/OCW3 (EOI, read IRR/ISR): nothing to do */
	}
	if (g->icw_left[chip]) {
		g->icw_left[chip]--;
		return;
	}
	g->imr[chip] = v;
	if (chip == 0 && !(v & 1))
		vm_stop(vm, VM_INTERNAL, 0,
		        "guest unmasked IRQ 0 at the 8259 PIC: it takes its timer from the 8254 "
		        "PIT "
		        "through the PIC, %s",
		        fix);
}

static void pic_master_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	if (len == 1)
		pic_io(opaque, 0, off, data, wr);
}

static void pic_slave_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	if (len == 1)
		pic_io(opaque, 1, off, data, wr);
}

static void pit_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	(void)len;
	(void)data;
	if (!wr && off < PIT_MODE - PIT_BASE)
		vm_stop(opaque, VM_INTERNAL, 0,
		        "guest reads the 8254 PIT counter %u: it times itself with the PIT, %s",
		        (unsigned)off, fix);
}

int pic_guard_init(struct pic_guard *g, struct vm *vm)
{
	memset(g, 0, sizeof(*g));
	g->imr[0] = g->imr[1] = 0xff;
	int r = bus_register(&vm->pio, PIC_MASTER, 2, pic_master_io, vm, "8259-master-guard");
	if (!r)
		r = bus_register(&vm->pio, PIC_SLAVE, 2, pic_slave_io, vm, "8259-slave-guard");
	if (!r)
		r = bus_register(&vm->pio, PIT_BASE, 4, pit_io, vm, "8254-guard");
	return r;
}

/* ---- snapshots (include/snapshot.h): what a guest reads back from the guard ---- */

void pic_guard_save(const struct pic_guard *g, struct ioapic_state *st)
{
	memcpy(st->pic_imr, g->imr, 2);
	memcpy(st->pic_icw_left, g->icw_left, 2);
	for (int i = 0; i < 2; i++)
		st->pic_icw4[i] = g->icw4[i];
}

void pic_guard_restore(struct pic_guard *g, const struct ioapic_state *st)
{
	memcpy(g->imr, st->pic_imr, 2);
	memcpy(g->icw_left, st->pic_icw_left, 2);
	for (int i = 0; i < 2; i++)
		g->icw4[i] = st->pic_icw4[i] != 0;
}
