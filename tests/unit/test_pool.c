/* Unit tests: warm pool bookkeeping (vmm/pool.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pool.h"

static void fill_take_refill(void **state)
{
	(void)state;
	struct pool p;
	assert_int_equal(pool_init(&p, 3), 0);
	assert_int_equal(pool_deficit(&p), 3);
	assert_int_equal(pool_add(&p, 10, 100, 20), 0);
	assert_int_equal(pool_add(&p, 11, 101, 21), 0);
	assert_int_equal(pool_add(&p, 12, 102, 22), 0);
	assert_int_equal(pool_add(&p, 13, 103, 23), -ENOSPC);
	assert_int_equal(pool_deficit(&p), 0);
	assert_int_equal(pool_count(&p, POOL_PREPARING), 3);
	struct pool_entry e;
	/* Nothing ready yet: a miss. */
	assert_false(pool_take(&p, &e));
	assert_int_equal(p.misses, 1);
	/* Ready in the order 12, 10: taken oldest-ready first. */
	assert_int_equal(pool_prepared(&p, 12), 0);
	assert_int_equal(pool_prepared(&p, 10), 0);
	assert_int_equal(pool_prepared(&p, 99), -ENOENT);
	assert_int_equal(pool_count(&p, POOL_READY), 2);
	assert_true(pool_take(&p, &e));
	assert_int_equal(e.slot, 12);
	assert_int_equal(e.pid, 102);
	assert_int_equal(e.ctl_fd, 22);
	assert_int_equal(pool_deficit(&p), 1);
	assert_true(pool_take(&p, &e));
	assert_int_equal(e.slot, 10);
	assert_false(pool_take(&p, &e)); /* 11 is still preparing */
	assert_int_equal(p.hits, 2);
	assert_int_equal(p.misses, 2);
	assert_int_equal(pool_deficit(&p), 2);
	assert_non_null(pool_find(&p, 11));
	assert_null(pool_find(&p, 10));
	/* Preparing twice is harmless; removing a ready entry is no failure. */
	assert_int_equal(pool_prepared(&p, 11), 0);
	assert_int_equal(pool_prepared(&p, 11), 0);
	assert_true(pool_remove(&p, 11, &e));
	assert_int_equal(e.pid, 101);
	assert_int_equal(p.failures, 0);
	assert_false(pool_remove(&p, 11, &e));
	assert_int_equal(pool_deficit(&p), 3);
	assert_int_equal(p.refills, 3);
	pool_free(&p);
}

static void gives_up_on_a_broken_template(void **state)
{
	(void)state;
	struct pool p;
	assert_int_equal(pool_init(&p, 2), 0);
	for (int i = 0; i < POOL_GIVE_UP; i++) {
		assert_true(pool_deficit(&p) > 0);
		assert_int_equal(pool_add(&p, i, 100 + i, -1), 0);
		assert_true(pool_remove(&p, i, NULL)); /* died before PREPARED */
	}
	assert_int_equal(p.failures, POOL_GIVE_UP);
	assert_int_equal(pool_deficit(&p), 0); /* no refill loop on a template that cannot build */
	pool_free(&p);
	/* One success resets the count. */
	assert_int_equal(pool_init(&p, 1), 0);
	assert_int_equal(pool_add(&p, 1, 1, -1), 0);
	assert_true(pool_remove(&p, 1, NULL));
	assert_int_equal(pool_add(&p, 2, 2, -1), 0);
	assert_int_equal(pool_prepared(&p, 2), 0);
	assert_int_equal(p.failed_in_row, 0);
	pool_free(&p);
}

static void empty_pool(void **state)
{
	(void)state;
	struct pool p;
	assert_int_equal(pool_init(&p, 0), 0);
	assert_int_equal(pool_deficit(&p), 0);
	assert_int_equal(pool_add(&p, 1, 1, -1), -ENOSPC);
	struct pool_entry e;
	assert_false(pool_take(&p, &e));
	assert_int_equal(p.misses, 0); /* no pool wanted: not a miss */
	pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fill_take_refill),
	        cmocka_unit_test(gives_up_on_a_broken_template),
	        cmocka_unit_test(empty_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
