/* Unit tests: command-line parsing (pure) and its value parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli_parse.h"

static void defaults(void **state)
{
	(void)state;
	char *argv[] = {"fastvmm", NULL};
	assert_int_equal(config_parse(&c, 1, argv, &e), CONFIG_RUN);
	assert_null(c.vm.kernel_path);
	assert_int_equal(c.vm.mem_size, 128 << 20);
	assert_int_equal(c.vm.cpus, 1);
	assert_int_equal(c.vm.timeout_ms, 0);
	assert_string_equal(c.vm.cmdline, DEFAULT_CMDLINE);
	assert_false(c.stop_on_signal);
}

/* --stop-grace: signals stop the VM; 0 is allowed (stop at once); never with -n. */
static void stop_grace(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--stop-grace", "2.5"), CONFIG_RUN);
	assert_true(c.stop_on_signal);
	assert_int_equal(c.vm.stop_grace_ms, 2500);
	assert_int_equal(PARSE("--stop-grace=0"), CONFIG_RUN);
	assert_true(c.stop_on_signal);
	assert_int_equal(c.vm.stop_grace_ms, 0);
	REJ("--stop-grace: '-1' is not a number of seconds (0 to a year)", "--stop-grace", "-1");
	REJ("--stop-grace: '5s' is not a number of seconds (0 to a year)", "--stop-grace", "5s");
	REJ("--stop-grace: not with -n (a batch's instances stop when its launcher is signalled)",
	    "--stop-grace", "1", "-n", "2");
}

static void all_options(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--kernel", "k.elf", "--initrd=rd", "--cmdline", "", "--mem", "1G",
	                       "--cpus", "4", "--timeout", "2.5", "--json", "-q", "--timings"),
	                 CONFIG_RUN);
	assert_string_equal(c.vm.kernel_path, "k.elf");
	assert_string_equal(c.vm.initrd_path, "rd");
	assert_string_equal(c.vm.cmdline, ""); /* an explicit empty cmdline stays empty */
	assert_int_equal(c.vm.mem_size, 1ULL << 30);
	assert_int_equal(c.vm.cpus, 4);
	assert_int_equal(c.vm.timeout_ms, 2500);
	assert_true(c.vm.json && c.vm.quiet && c.timings);
	assert_int_equal(PARSE("-k", "x", "-m", "256", "-p", "2"), CONFIG_RUN);
	assert_int_equal(c.vm.mem_size, 256 << 20);
	assert_int_equal(PARSE("--help"), CONFIG_HELP);
	assert_int_equal(PARSE("--version"), CONFIG_VERSION);
}

static void rejects(void **state)
{
	(void)state;
	REJ("--mem: '0' is outside 2M-1024G", "--mem", "0");
	REJ("--mem: '2T' is outside 2M-1024G", "--mem", "2T");
	REJ("--mem: '12Q' is not a size (e.g. 128M, 1G)", "--mem", "12Q");
	REJ("--mem: '-5M' is not a size (e.g. 128M, 1G)", "--mem", "-5M");
	REJ("--mem: '99999999999999999999G' is not a size (e.g. 128M, 1G)", "--mem",
	    "99999999999999999999G");
	REJ("--mem: '3000001K' is not a multiple of 4K", "--mem", "3000001K");
	REJ("--cpus: '0' is not a number from 1 to 64", "--cpus", "0");
	REJ("--cpus: '65' is not a number from 1 to 64", "--cpus", "65");
	REJ("--cpus: '1x' is not a number from 1 to 64", "--cpus", "1x");
	REJ("--cpus: '' is not a number from 1 to 64", "--cpus", "");
	REJ("--timeout: '0' is not a positive number of seconds (at most a year)", "--timeout",
	    "0");
	REJ("--timeout: '1e9' is not a positive number of seconds (at most a year)", "--timeout",
	    "1e9");
	REJ("--timeout: '99999999999' is not a positive number of seconds (at most a year)",
	    "--timeout", "99999999999");
	REJ("--kernel: empty file name", "--kernel", "");
	REJ("--bogus: unknown option (see --help)", "--bogus");
	REJ("--kernel: needs a value", "--kernel");
	REJ("'k.elf': unexpected argument (see --help)", "k.elf");
}

static void jail(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--jail"), CONFIG_RUN);
	assert_true(c.vm.jail.on);
	assert_int_equal(c.vm.jail.uid, 65534);
	assert_int_equal(c.vm.jail.gid, 65534);
	assert_false(c.vm.jail.per_instance);
	assert_null(c.vm.jail.cgroup);
	assert_int_equal(PARSE("--jail=1000:2000", "--jail-cgroup", "none"), CONFIG_RUN);
	assert_int_equal(c.vm.jail.uid, 1000);
	assert_int_equal(c.vm.jail.gid, 2000);
	assert_string_equal(c.vm.jail.cgroup, "none");
	/* --jail-cgroup may come first: --jail keeps it */
	assert_int_equal(PARSE("--jail-cgroup", "/sys/fs/cgroup/x", "--jail=7+"), CONFIG_RUN);
	assert_int_equal(c.vm.jail.uid, 7);
	assert_int_equal(c.vm.jail.gid, 7);
	assert_true(c.vm.jail.per_instance);
	assert_string_equal(c.vm.jail.cgroup, "/sys/fs/cgroup/x");
	assert_int_equal(PARSE("--jail=7+:9+"), CONFIG_RUN);
	assert_int_equal(c.vm.jail.gid, 9);
	assert_false(PARSE("--help") < 0);
	REJ("--jail: '0': ids must be from 1 to 4294967294 (0 is root)", "--jail=0");
	REJ("--jail: '5:0': ids must be from 1 to 4294967294 (0 is root)", "--jail=5:0");
	REJ("--jail: '4294967295': ids must be from 1 to 4294967294 (0 is root)",
	    "--jail=4294967295");
	REJ("--jail: '5+:6': expected UID[:GID], UID+ or UID+:GID+", "--jail=5+:6");
	REJ("--jail: '': expected UID[:GID], UID+ or UID+:GID+", "--jail=");
	REJ("--jail: 'x1': expected UID[:GID], UID+ or UID+:GID+", "--jail=x1");
	REJ("--jail-cgroup: only with --jail", "--jail-cgroup", "none");
	REJ("--snapshot: not with --jail (the jail's user cannot write the snapshot directory; "
	    "jail the restores)",
	    "--jail", "--snapshot", "/tmp/s");
	REJ("--jail-cgroup: 'rel' is neither an absolute path nor 'none'", "--jail",
	    "--jail-cgroup", "rel");
}

static void sizes(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_size("128M", &v), 0);
	assert_int_equal(v, 128 << 20);
	assert_int_equal(parse_size("128MiB", &v), 0);
	assert_int_equal(v, 128 << 20);
	assert_int_equal(parse_size("2g", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("4096B", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("64", &v), 0);
	assert_int_equal(v, 64 << 20);
	assert_int_equal(parse_size("16777216T", &v), -ERANGE); /* 2^64 bytes */
	assert_int_equal(parse_size("M", &v), -EINVAL);
	assert_int_equal(parse_size("1MM", &v), -EINVAL);
	assert_int_equal(parse_size(" 1M", &v), -EINVAL);
	assert_int_equal(parse_seconds("0.25", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(parse_seconds("0.0001", &v), -ERANGE);
	assert_int_equal(parse_seconds(".5", &v), -EINVAL);
	assert_int_equal(parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(defaults),   cmocka_unit_test(all_options),
	        cmocka_unit_test(stop_grace), cmocka_unit_test(rejects),
	        cmocka_unit_test(sizes),      cmocka_unit_test(jail),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
