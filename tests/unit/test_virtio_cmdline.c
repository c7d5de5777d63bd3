/* Unit tests: where virtio_cmdline() puts the virtio_mmio.device= entries — before a " -- "
 * (Unikraft reads library parameters only before it; what follows is argv), else at the end. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "virtio.h"
#include "vmm.h"

#define D0 "virtio_mmio.device=4K@0xd0000000:5"
#define D1 "virtio_mmio.device=4K@0xd0001000:6"

static struct vm_config cfg;
static char buf[256];

static int place(const char *cmdline, unsigned ndisks, unsigned nnets)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.ndisks = ndisks;
	cfg.nnets = nnets;
	snprintf(buf, sizeof(buf), "%s", cmdline);
	return virtio_cmdline(&cfg, buf, sizeof(buf));
}

static void appended_without_separator(void **state)
{
	(void)state;
	assert_int_equal(place("--nopci --rootfs=rofs /hello", 1, 0), 0);
	assert_string_equal(buf, "--nopci --rootfs=rofs /hello " D0);
	assert_int_equal(place("", 1, 1), 0);
	assert_string_equal(buf, D0 " " D1);
	assert_int_equal(place("console=ttyS0 ", 1, 0), 0); /* no doubled space */
	assert_string_equal(buf, "console=ttyS0 " D0);
	/* "--x", "x--" and "a--b" are words of their own, not the separator */
	assert_int_equal(place("--verbose x-- a--b", 1, 0), 0);
	assert_string_equal(buf, "--verbose x-- a--b " D0);
	assert_int_equal(place("hello", 0, 0), 0); /* no devices: untouched */
	assert_string_equal(buf, "hello");
}

static void before_separator(void **state)
{
	(void)state;
	/* Unikraft: "app netdev.ip=... -- argv" */
	assert_int_equal(place("app netdev.ip=10.0.0.2/24 -- a b", 1, 1), 0);
	assert_string_equal(buf, "app netdev.ip=10.0.0.2/24 " D0 " " D1 " -- a b");
	assert_int_equal(place("app --", 1, 0), 0);
	assert_string_equal(buf, "app " D0 " --");
	assert_int_equal(place("-- a", 1, 0), 0);
	assert_string_equal(buf, D0 " -- a");
	assert_int_equal(place("--", 1, 0), 0);
	assert_string_equal(buf, D0 " --");
	/* only the first separator counts: a later "--" belongs to the application */
	assert_int_equal(place("app -- x -- y", 1, 0), 0);
	assert_string_equal(buf, "app " D0 " -- x -- y");
}

static void no_room(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.ndisks = 1;
	char small[40] = "app -- a b";
	assert_int_equal(virtio_cmdline(&cfg, small, sizeof(small)), -E2BIG);
	assert_string_equal(small, "app -- a b"); /* unchanged */
	char exact[sizeof(D0)] = "";
	assert_int_equal(virtio_cmdline(&cfg, exact, sizeof(exact)), 0);
	assert_string_equal(exact, D0);
	char one_short[sizeof(D0) - 1] = "";
	assert_int_equal(virtio_cmdline(&cfg, one_short, sizeof(one_short)), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(appended_without_separator),
	        cmocka_unit_test(before_separator),
	        cmocka_unit_test(no_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
