/* tests/unit/test_ioapic.c — devices/ioapic.c without KVM: the MSIs it sends and the routes
 * it programs, for edge and level pins, masking, remote IRR and EOI, and hostile accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "irqchip.h"
#include "snapshot.h"

struct rec {
	unsigned msis;
	uint32_t addr, data;
	unsigned route_calls, nroutes;
	struct ioapic_route routes[IOAPIC_NUM_PINS];
};

static int rec_msi(void *ctx, uint32_t addr, uint32_t data)
{
	struct rec *r = ctx;
	r->msis++;
	r->addr = addr;
	r->data = data;
	return 0;
}

static int rec_routes(void *ctx, const struct ioapic_route *rt, unsigned n)
{
	struct rec *r = ctx;
	r->route_calls++;
	r->nroutes = n;
	memcpy(r->routes, rt, n * sizeof(*rt));
	return 0;
}

static const struct ioapic_ops ops = {rec_msi, rec_routes};

static int refuse_routes(void *ctx, const struct ioapic_route *rt, unsigned n)
{
	(void)ctx;
	(void)rt;
	(void)n;
	return -EINVAL;
}
static const struct ioapic_ops refusing_ops = {rec_msi, refuse_routes};

static void w32(struct ioapic *a, uint64_t off, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	ioapic_mmio(a, off, b, 4, true);
}

static uint32_t r32(struct ioapic *a, uint64_t off)
{
	uint8_t b[4];
	ioapic_mmio(a, off, b, 4, false);
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void reg_w(struct ioapic *a, uint32_t reg, uint32_t v)
{
	w32(a, 0x00, reg);
	w32(a, 0x10, v);
}

static uint32_t reg_r(struct ioapic *a, uint32_t reg)
{
	w32(a, 0x00, reg);
	return r32(a, 0x10);
}

static void rte(struct ioapic *a, unsigned pin, uint32_t lo, uint8_t dest)
{
	reg_w(a, 0x11 + 2 * pin, (uint32_t)dest << 24);
	reg_w(a, 0x10 + 2 * pin, lo);
}

static void test_identity(void **st)
{
	(void)st;
	struct ioapic a;
	struct rec r = {0};
	assert_int_equal(ioapic_init(&a, 3, &ops, &r), 0);
	assert_int_equal(reg_r(&a, 0x00), 3u << 24);
	assert_int_equal(reg_r(&a, 0x01), 0x11 | 23u << 16); /* version 0x11, 24 pins */
	for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; pin++)
		assert_int_equal(reg_r(&a, 0x10 + 2 * pin), 1u << 16); /* reset: masked */
	assert_int_equal(reg_r(&a, 0x01 + 0x7f), 0);                   /* beyond the table */
	reg_w(&a, 0x01, 0);                                            /* read-only */
	assert_int_equal(reg_r(&a, 0x01), 0x11 | 23u << 16);
	assert_int_equal(r.route_calls, 0); /* nothing unmasked, nothing routed */
	ioapic_destroy(&a);
}

static void test_edge(void **st)
{
	(void)st;
	struct ioapic a;
	struct rec r = {0};
	ioapic_init(&a, 1, &ops, &r);
	ioapic_set_irq(&a, 5, 1); /* masked: lost */
	ioapic_set_irq(&a, 5, 0);
	assert_int_equal(r.msis, 0);
	assert_false(ioapic_pin_unmasked(&a, 5)); /* no driver: the power button is not pressed */
	rte(&a, 5, 0x41 | 1u << 11, 0x02);        /* vector 0x41, logical destination 2 */
	assert_true(ioapic_pin_unmasked(&a, 5));
	assert_false(ioapic_pin_unmasked(&a, 6));
	assert_false(ioapic_pin_unmasked(&a, IOAPIC_NUM_PINS));
	assert_int_equal(r.nroutes, 1);
	assert_int_equal(r.routes[0].gsi, 5);
	assert_int_equal(r.routes[0].addr_lo, 0xfee00000u | 2u << 12 | 1u << 2);
	assert_int_equal(r.routes[0].data, 0x41);
	ioapic_set_irq(&a, 5, 1);
	ioapic_set_irq(&a, 5, 1); /* still high: no new edge */
	assert_int_equal(r.msis, 1);
	assert_int_equal(r.addr, 0xfee00000u | 2u << 12 | 1u << 2);
	assert_int_equal(r.data, 0x41);
	assert_int_equal(reg_r(&a, 0x10 + 10) & (1u << 14), 0); /* edge: no remote IRR */
	ioapic_set_irq(&a, 5, 0);
	ioapic_set_irq(&a, 5, 1);
	assert_int_equal(r.msis, 2);
	unsigned calls = r.route_calls;
	rte(&a, 5, 0x41 | 1u << 11, 0x02); /* the same entry again: KVM is not asked again */
	assert_int_equal(r.route_calls, calls);
	rte(&a, 5, 0x41 | 1u << 16, 0x02); /* masked edge pin: route dropped */
	assert_int_equal(r.nroutes, 0);
	assert_false(ioapic_pin_unmasked(&a, 5));
	ioapic_destroy(&a);
}

static void test_level(void **st)
{
	(void)st;
	struct ioapic a;
	struct rec r = {0};
	ioapic_init(&a, 1, &ops, &r);
	rte(&a, 4, 0x30 | 1u << 15, 0);
	assert_int_equal(r.routes[0].data, 0x30 | 1u << 15 | 1u << 14); /* level, assert */
	ioapic_set_irq(&a, 4, 1);
	assert_int_equal(r.msis, 1);
	assert_true(reg_r(&a, 0x18) & (1u << 14)); /* remote IRR */
	ioapic_set_irq(&a, 4, 1);                  /* awaiting EOI: no second delivery */
	assert_int_equal(r.msis, 1);
	ioapic_eoi(&a, 0x31); /* another vector: nothing */
	assert_true(reg_r(&a, 0x18) & (1u << 14));
	ioapic_eoi(&a, 0x30); /* still asserted: delivered again */
	assert_int_equal(r.msis, 2);
	ioapic_set_irq(&a, 4, 0);
	ioapic_eoi(&a, 0x30);
	assert_int_equal(r.msis, 2);
	assert_false(reg_r(&a, 0x18) & (1u << 14));
	/* The guest cannot write remote IRR; masking keeps a level route (its EOI must come). */
	reg_w(&a, 0x18, 0x30 | 1u << 15 | 1u << 14 | 1u << 16);
	assert_false(reg_r(&a, 0x18) & (1u << 14));
	assert_int_equal(r.nroutes, 1);
	ioapic_set_irq(&a, 4, 1); /* masked: held in the line */
	assert_int_equal(r.msis, 2);
	reg_w(&a, 0x18, 0x30 | 1u << 15); /* unmasked while asserted: delivered now */
	assert_int_equal(r.msis, 3);
	ioapic_destroy(&a);
}

static void test_hostile(void **st)
{
	(void)st;
	struct ioapic a;
	struct rec r = {0};
	ioapic_init(&a, 1, &ops, &r);
	uint8_t b[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	ioapic_mmio(&a, 0x00, b, 1, true); /* IOREGSEL 0xff */
	ioapic_mmio(&a, 0x10, b, 8, true); /* 8-byte write to a register that does not exist */
	ioapic_mmio(&a, 0x10, b, 8, false);
	assert_int_equal(b[0] | b[1] | b[4], 0);
	ioapic_mmio(&a, 0xffc, b, 4, true); /* nothing there */
	ioapic_set_irq(&a, 24, 1);          /* no such pin */
	ioapic_set_irq(&a, 1000, 1);
	rte(&a, 2, 0x05, 0); /* vector < 16 is invalid: never routed, never sent */
	ioapic_set_irq(&a, 2, 1);
	assert_int_equal(r.msis, 0);
	assert_int_equal(r.nroutes, 0);
	ioapic_destroy(&a);
}

/* Save, then restore into a fresh IOAPIC (a restored VM's): the same registers, the same
 * routes programmed in one call (virtio's irqfds rely on them), remote IRR kept, and no
 * interrupt delivered by the restore itself; the EOI still clears remote IRR. */
static void test_snapshot(void **st)
{
	(void)st;
	struct ioapic a, b;
	struct rec r = {0}, r2 = {0};
	ioapic_init(&a, 2, &ops, &r);
	rte(&a, 5, 0x31, 0);            /* virtio-blk: edge */
	rte(&a, 4, 0x30 | 1u << 15, 1); /* level, delivered below: remote IRR */
	rte(&a, 7, 0x40 | 1u << 16, 0); /* masked edge: not routed */
	ioapic_set_irq(&a, 4, 1);
	ioapic_set_irq(&a, 9, 1); /* masked pin asserted: kept in the line */
	w32(&a, 0x00, 0x12);      /* IOREGSEL left somewhere */
	assert_int_equal(r.msis, 1);
	struct ioapic_state s;
	memset(&s, 0, sizeof(s));
	ioapic_save(&a, &s);
	assert_int_equal(s.npins, IOAPIC_NUM_PINS);
	assert_int_equal(s.id, 2);
	assert_int_equal(s.line, 1u << 4 | 1u << 9);
	assert_true(s.rte[4] & (1u << 14));

	ioapic_init(&b, 0, &ops, &r2);
	assert_int_equal(ioapic_restore(&b, &s), 0);
	assert_int_equal(r2.msis, 0);
	assert_int_equal(r2.route_calls, 1);
	assert_int_equal(r2.nroutes, r.nroutes);
	assert_memory_equal(r2.routes, r.routes, r.nroutes * sizeof(r.routes[0]));
	assert_int_equal(r2.nroutes, 2); /* pins 4 and 5 */
	assert_int_equal(r32(&b, 0x00), 0x12);
	assert_int_equal(reg_r(&b, 0x00), 2u << 24);
	for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
		assert_int_equal(reg_r(&b, 0x10 + 2 * pin), reg_r(&a, 0x10 + 2 * pin));
		assert_int_equal(reg_r(&b, 0x11 + 2 * pin), reg_r(&a, 0x11 + 2 * pin));
	}
	ioapic_set_irq(&b, 4, 1); /* still awaiting EOI: nothing */
	assert_int_equal(r2.msis, 0);
	ioapic_eoi(&b, 0x30); /* EOI, still asserted: the next one */
	assert_int_equal(r2.msis, 1);
	ioapic_set_irq(&b, 5, 1); /* edge pin, line was low */
	assert_int_equal(r2.msis, 2);
	assert_int_equal(r2.data, 0x31);
	/* A restore whose routes KVM refuses is an error. */
	struct ioapic c;
	struct rec r3 = {0};
	ioapic_init(&c, 0, &refusing_ops, &r3);
	assert_int_equal(ioapic_restore(&c, &s), -EIO);
	ioapic_destroy(&a);
	ioapic_destroy(&b);
	ioapic_destroy(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_identity), cmocka_unit_test(test_edge),
	        cmocka_unit_test(test_level),    cmocka_unit_test(test_hostile),
	        cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
