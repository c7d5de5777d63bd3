/* vmm/stats.c — percentiles and spread for the batch report (pure). */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t stats_percentile(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	if (p <= 0)
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	/* Nearest rank: ceil(p/100 * n), 1-based. Integer maths on per-mille avoids 0.9*30 =
	 * 27.000000000000004 rounding up to 28. */
	uint64_t pm = (uint64_t)(p * 1000.0 + 0.5); /* p in thousandths of a percent */
	uint64_t rank = ((uint64_t)n * pm + 99999) / 100000;
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

void stats_compute(uint64_t *v, size_t n, struct stats *out)
{
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	out->n = n;
	out->min = v[0];
	out->max = v[n - 1];
	out->spread = out->max - out->min;
	out->p50 = stats_percentile(v, n, 50);
	out->p90 = stats_percentile(v, n, 90);
	out->p99 = stats_percentile(v, n, 99);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	out->mean = sum / (double)n;
}
