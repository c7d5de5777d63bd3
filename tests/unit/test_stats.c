/* Unit tests: the batch report maths (nearest-rank percentiles, spread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "stats.h"

static void percentile_nearest_rank(void **state)
{
	(void)state;
	uint64_t v[10];
	for (int i = 0; i < 10; i++)
		v[i] = (uint64_t)(i + 1) * 10; /* 10..100 */
	assert_int_equal(stats_percentile(v, 10, 50), 50);
	assert_int_equal(stats_percentile(v, 10, 90), 90);
	assert_int_equal(stats_percentile(v, 10, 99), 100);
	assert_int_equal(stats_percentile(v, 10, 100), 100);
	assert_int_equal(stats_percentile(v, 10, 0), 10);
	assert_int_equal(stats_percentile(v, 10, 10), 10);
	assert_int_equal(stats_percentile(v, 10, 10.1), 20);
	assert_int_equal(stats_percentile(v, 0, 50), 0);
	uint64_t one = 7;
	assert_int_equal(stats_percentile(&one, 1, 1), 7);
	assert_int_equal(stats_percentile(&one, 1, 99), 7);
}

/* 0.9 * 30 is 27.000000000000004 in floating point: the rank must still be 27. */
static void percentile_no_float_drift(void **state)
{
	(void)state;
	uint64_t v[30];
	for (int i = 0; i < 30; i++)
		v[i] = (uint64_t)i + 1;
	assert_int_equal(stats_percentile(v, 30, 90), 27);
	assert_int_equal(stats_percentile(v, 30, 50), 15);
	assert_int_equal(stats_percentile(v, 30, 99), 30);
	uint64_t w[100];
	for (int i = 0; i < 100; i++)
		w[i] = (uint64_t)i + 1;
	assert_int_equal(stats_percentile(w, 100, 99), 99);
	assert_int_equal(stats_percentile(w, 100, 90), 90);
}

static void compute_sorts_and_spreads(void **state)
{
	(void)state;
	uint64_t v[] = {500, 100, 300, 200, 400};
	struct stats s;
	stats_compute(v, 5, &s);
	assert_int_equal(s.n, 5);
	assert_int_equal(v[0], 100);
	assert_int_equal(v[4], 500);
	assert_int_equal(s.min, 100);
	assert_int_equal(s.max, 500);
	assert_int_equal(s.spread, 400);
	assert_int_equal(s.p50, 300);
	assert_int_equal(s.p90, 500);
	assert_true(s.mean > 299.9 && s.mean < 300.1);
	stats_compute(v, 0, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.spread, 0);
	assert_int_equal(s.max, 0);
	uint64_t big[] = {UINT64_MAX, 0};
	stats_compute(big, 2, &s);
	assert_int_equal(s.spread, UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(percentile_nearest_rank),
	        cmocka_unit_test(percentile_no_float_drift),
	        cmocka_unit_test(compute_sorts_and_spreads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
