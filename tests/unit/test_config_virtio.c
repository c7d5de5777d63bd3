/* Unit tests: the virtio options of the command line (--disk, --net, --mac, discovery). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli_parse.h"

static void disks(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--disk", "a.img", "--disk=b.img,ro", "--disk", "c,d.img,cow"),
	                 -EINVAL); /* "d.img" is not an option: paths with commas are refused */
	assert_int_equal(PARSE("--disk", "a.img", "--disk=b.img,ro", "--disk", "c.img,cow"),
	                 CONFIG_RUN);
	assert_int_equal(c.vm.ndisks, 3);
	assert_string_equal(c.vm.disk[0].path, "a.img");
	assert_false(c.vm.disk[0].ro || c.vm.disk[0].cow);
	assert_string_equal(c.vm.disk[1].path, "b.img");
	assert_true(c.vm.disk[1].ro);
	assert_string_equal(c.vm.disk[2].path, "c.img");
	assert_true(c.vm.disk[2].cow);
	REJ("--disk x,ro,cow: ro and cow exclude each other", "--disk", "x,ro,cow");
	REJ("--disk: empty file name", "--disk", ",ro");
	REJ("--disk x,rw: unknown option 'rw' (ro, cow)", "--disk", "x,rw");
	assert_int_equal(PARSE("--disk", "1", "--disk", "2", "--disk", "3", "--disk", "4", "--disk",
	                       "5", "--disk", "6", "--disk", "7", "--disk", "8", "--disk", "9"),
	                 -EINVAL);
}

static void nets_and_macs(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--net", "tap", "--net=tap=fv0", "--net", "none"), CONFIG_RUN);
	assert_int_equal(c.vm.nnets, 2);
	assert_null(c.vm.net[0].tap);
	assert_string_equal(c.vm.net[1].tap, "fv0");
	assert_false(c.vm.mac_set);
	assert_int_equal(PARSE("--net", "user"), -EINVAL);
	assert_int_equal(PARSE("--net", "tap="), -EINVAL);
	assert_int_equal(PARSE("--net", "tap=0123456789abcdef"), -EINVAL);
	assert_int_equal(PARSE("--mac", "52:54:00:12:34:5f"), CONFIG_RUN);
	assert_true(c.vm.mac_set);
	assert_memory_equal(c.vm.mac, "\x52\x54\x00\x12\x34\x5f", 6);
	assert_int_equal(PARSE("--mac", "01:00:5e:00:00:01"), -EINVAL); /* multicast */
	assert_int_equal(PARSE("--mac", "52:54:00:12:34"), -EINVAL);
	assert_int_equal(PARSE("--mac", "52:54:00:12:34:56:"), -EINVAL);
	assert_int_equal(PARSE("--mac", "52:54:00:12:34:5g"), -EINVAL);
}

static void discovery(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--kernel", "k"), CONFIG_RUN);
	assert_int_equal(c.vm.discovery, DISCOVERY_AUTO);
	assert_int_equal(PARSE("--virtio-discovery", "acpi"), CONFIG_RUN);
	assert_int_equal(c.vm.discovery, DISCOVERY_ACPI);
	assert_int_equal(PARSE("--virtio-discovery=cmdline"), CONFIG_RUN);
	assert_int_equal(c.vm.discovery, DISCOVERY_CMDLINE);
	assert_int_equal(PARSE("--virtio-discovery=both"), CONFIG_RUN);
	assert_int_equal(c.vm.discovery, DISCOVERY_BOTH);
	assert_int_equal(PARSE("--virtio-discovery=pci"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(disks),
	        cmocka_unit_test(nets_and_macs),
	        cmocka_unit_test(discovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
