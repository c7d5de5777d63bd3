/* Unit tests: the virtio options of the command line (--disk, --net, --mac, discovery). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli_parse.h"
#include "virtio.h"

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
	/* sscanf's %x takes a sign or a space: the "+2:+2:..." was accepted. */
	assert_int_equal(PARSE("--mac", "+2:+2:+2:+2:+2:+2"), -EINVAL);
	assert_int_equal(PARSE("--mac", " 2: 4:00:12:34:56"), -EINVAL);
	assert_int_equal(PARSE("--mac", "-2:54:00:12:34:56"), -EINVAL);
	assert_int_equal(PARSE("--mac", "52-54-00-12-34-56"), -EINVAL);
	assert_int_equal(PARSE("--mac", "AA:bb:00:12:34:56"), CONFIG_RUN);
	assert_memory_equal(c.vm.mac, "\xaa\xbb\x00\x12\x34\x56", 6);
}

/* The tap name is checked after %u is expanded: "abcdefghijklm%u" gave instances 10 and
 * 100 the same (truncated) name. */
static void tap_names(void **state)
{
	(void)state;
	char n[16];
	assert_int_equal(virtio_tap_name("fv%u", 7, n), 0);
	assert_string_equal(n, "fv7");
	assert_int_equal(virtio_tap_name("a%ub", 12, n), 0);
	assert_string_equal(n, "a12b");
	assert_int_equal(virtio_tap_name("abcdefghijklm%u", 9, n), 0);
	assert_string_equal(n, "abcdefghijklm9");
	assert_int_equal(virtio_tap_name("abcdefghijklm%u", 10, n), 0);
	assert_int_equal(virtio_tap_name("abcdefghijklm%u", 100, n), -ENAMETOOLONG);
	assert_int_equal(virtio_tap_name("abcdefghijklmn%u", 10, n), -ENAMETOOLONG);
	assert_int_equal(PARSE("--net", "tap=abcdefghijklm%u", "-n", "11"), CONFIG_RUN);
	REJ("--net tap=abcdefghijklm%u: longer than 15 characters for instance 100", "--net",
	    "tap=abcdefghijklm%u", "-n", "101");
	REJ("--net tap=abcdefghijklm%u: longer than 15 characters for instance 100", "--net",
	    "tap=fv%u", "--net", "tap=abcdefghijklm%u", "-n", "101");
	assert_int_equal(PARSE("--net", "tap=abcdefghijkl%u", "-n", "100"), CONFIG_RUN);
}

/* --mac gives every NIC of every batch instance its own address (it gave every instance the
 * same one). */
static void macs_per_instance(void **state)
{
	(void)state;
	assert_int_equal(
	        PARSE("--mac", "52:54:00:12:ff:fe", "--net", "tap", "--net", "tap", "-n", "3"),
	        CONFIG_RUN);
	uint8_t seen[6][6];
	unsigned k = 0;
	for (unsigned id = 0; id < 3; id++)
		for (unsigned nic = 0; nic < 2; nic++, k++) {
			virtio_net_mac(&c.vm, id, nic, seen[k]);
			for (unsigned j = 0; j < k; j++)
				assert_memory_not_equal(seen[j], seen[k], 6);
		}
	assert_memory_equal(seen[0], "\x52\x54\x00\x12\xff\xfe", 6); /* the first: as given */
	assert_memory_equal(seen[1], "\x52\x54\x00\x12\xff\xff", 6);
	assert_memory_equal(seen[2], "\x52\x54\x00\x13\x00\x00", 6); /* carries */
	/* Without --mac: 52:54:00:fN:II:II. */
	assert_int_equal(PARSE("--net", "tap"), CONFIG_RUN);
	uint8_t m[6];
	virtio_net_mac(&c.vm, 0x102, 0, m);
	assert_memory_equal(m, "\x52\x54\x00\xf0\x01\x02", 6);
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
	        cmocka_unit_test(tap_names),
	        cmocka_unit_test(macs_per_instance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
