/* tests/unit/test_cpuid_cache.c — the per-host CPUID cache: a stored table comes back only
 * under the same key, and any damaged, truncated or foreign file is a miss, never used. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpuid_cache.h"

static char dir[64], path[128];

static struct kvm_cpuid2 *table(unsigned nent)
{
	struct kvm_cpuid2 *c =
	        calloc(1, sizeof(*c) + CPUID_CACHE_MAX_ENTRIES * sizeof(c->entries[0]));
	c->nent = nent;
	for (unsigned i = 0; i < nent; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){.function = i, .eax = 0x1000 + i};
	return c;
}

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/fastvmm-cpuid-test-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/cpuid-x", dir);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_key(void **st)
{
	(void)st;
	char a[1024], b[1024];
	size_t la, lb;
	assert_int_equal(cpuid_cache_key(a, sizeof(a), &la), 0);
	assert_int_equal(cpuid_cache_key(b, sizeof(b), &lb), 0);
	assert_int_equal(la, lb); /* stable within a boot */
	assert_memory_equal(a, b, la);
	assert_non_null(strstr(a, "cpuid1 "));
	assert_int_equal(cpuid_cache_key(a, 10, &la), -EINVAL);
}

static void test_round_trip(void **st)
{
	(void)st;
	struct kvm_cpuid2 *c = table(75), *out = table(0);
	assert_int_equal(cpuid_cache_store(path, "key-1", 5, c), 0);
	assert_int_equal(cpuid_cache_load(path, "key-1", 5, out), 0);
	assert_int_equal(out->nent, 75);
	assert_memory_equal(out->entries, c->entries, 75 * sizeof(c->entries[0]));
	assert_int_equal(cpuid_cache_load(path, "key-2", 5, out), -EINVAL); /* other host */
	assert_int_equal(cpuid_cache_load(path, "key-10", 6, out), -EINVAL);
	free(c);
	free(out);
}

static void test_damaged(void **st)
{
	(void)st;
	struct kvm_cpuid2 *c = table(10), *out = table(0);
	assert_int_equal(cpuid_cache_store(path, "k", 1, c), 0);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, -3, SEEK_END); /* one entry byte flipped: the checksum catches it */
	fputc(0x5a, f);
	fclose(f);
	assert_int_equal(cpuid_cache_load(path, "k", 1, out), -EINVAL);
	assert_int_equal(cpuid_cache_store(path, "k", 1, c), 0);
	assert_int_equal(truncate(path, 40), 0); /* short */
	assert_int_equal(cpuid_cache_load(path, "k", 1, out), -EINVAL);
	f = fopen(path, "wb"); /* garbage with a huge entry count */
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	assert_int_equal(cpuid_cache_load(path, "k", 1, out), -EINVAL);
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0); /* a planted link is refused */
	assert_int_equal(cpuid_cache_load(path, "k", 1, out), -ELOOP);
	unlink(path);
	assert_int_equal(cpuid_cache_load(path, "k", 1, out), -ENOENT);
	free(c);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_key),
	        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
