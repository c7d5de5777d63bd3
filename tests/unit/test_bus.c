/* Unit tests: PIO/MMIO bus registration (overlap rejected) and lookup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bus.h"

struct rec {
	uint64_t off;
	uint32_t len;
	bool wr;
	int calls;
};

static void handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct rec *r = opaque;
	r->off = off;
	r->len = len;
	r->wr = wr;
	r->calls++;
	if (!wr)
		memset(data, 0x5a, len);
}

static void overlap_rejected(void **state)
{
	(void)state;
	struct bus b;
	struct rec r = {0};
	bus_init(&b);
	assert_int_equal(bus_register(&b, 0x100, 0x10, handler, &r, "a"), 0);
	assert_int_equal(bus_register(&b, 0x200, 0x10, handler, &r, "b"), 0);
	assert_int_equal(bus_register(&b, 0x10f, 1, handler, &r, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0xf0, 0x11, handler, &r, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x1ff, 2, handler, &r, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x0, 0x1000, handler, &r, "x"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x110, 0xf0, handler, &r, "gap"), 0); /* exact fit */
	assert_int_equal(bus_register(&b, 0x300, 0, handler, &r, "x"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX, 2, handler, &r, "x"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x400, 1, NULL, &r, "x"), -EINVAL);
	assert_int_equal(b.n, 3);
	bus_free(&b);
}

static void lookup(void **state)
{
	(void)state;
	struct bus b;
	struct rec r[40] = {{0}};
	bus_init(&b);
	/* Registered out of order, and more than the initial capacity. */
	for (int i = 39; i >= 0; i--)
		assert_int_equal(
		        bus_register(&b, 0x1000 + (uint64_t)i * 0x100, 8, handler, &r[i], "d"), 0);
	for (size_t i = 1; i < b.n; i++)
		assert_true(b.r[i - 1].base < b.r[i].base);
	const struct bus_range *x = bus_find(&b, 0x1000 + 7 * 0x100 + 4, 4);
	assert_non_null(x);
	assert_ptr_equal(x->opaque, &r[7]);
	assert_null(bus_find(&b, 0x1000 + 7 * 0x100 + 5, 4)); /* runs past the range */
	assert_null(bus_find(&b, 0x1008, 1));                 /* in a hole */
	assert_null(bus_find(&b, 0xfff, 1));
	assert_null(bus_find(&b, UINT64_MAX, 8));
	uint8_t data[8];
	assert_true(bus_access(&b, 0x1302, data, 2, false));
	assert_int_equal(r[3].off, 2);
	assert_int_equal(r[3].len, 2);
	assert_int_equal(data[0], 0x5a);
	memset(data, 0, sizeof(data));
	assert_false(bus_access(&b, 0x1308, data, 4, false));
	assert_int_equal(data[0], 0xff); /* unclaimed reads float high */
	assert_int_equal(data[3], 0xff);
	assert_false(bus_access(&b, 0x1308, data, 4, true));
	bus_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(overlap_rejected),
	        cmocka_unit_test(lookup),
	};
	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
