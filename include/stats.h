/* include/stats.h — the report maths of batch mode: percentiles and spread. Pure; unit-tested. */
#ifndef FASTVMM_STATS_H
#define FASTVMM_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats {
	size_t n; /* values summarised; everything below is 0 when n == 0 */
	uint64_t min, p50, p90, p99, max;
	uint64_t spread; /* max - min: first-to-last */
	double mean;
};

/* Nearest-rank percentile (p in [0, 100]) of v[0..n), sorted ascending: the smallest value
 * such that at least p% of the values are <= it. 0 when n == 0. */
uint64_t stats_percentile(const uint64_t *sorted, size_t n, double p);
/* Summarise v[0..n); sorts v in place. */
void stats_compute(uint64_t *v, size_t n, struct stats *out);

#endif
