/* Unit tests: OCI bundle → VM description (vmm/oci_bundle.c): defaults from process.args,
 * annotations over FASTVMM_* env over linux.resources, the spec's vm object, files opened
 * inside the rootfs only, and one clear message for each bad value. Bundles are built in a
 * temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "oci.h"

static char dir[64];
static struct oci_bundle b;
static struct err e;

static void put(const char *rel, const char *data)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fastvmm-oci-unit.%d", (int)getpid());
	char p[128];
	mkdir(dir, 0700);
	snprintf(p, sizeof(p), "%s/rootfs", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/rootfs/boot", dir);
	mkdir(p, 0700);
	put("rootfs/k.elf", "kernel bytes");
	put("rootfs/boot/k2.elf", "kernel bytes");
	put("rootfs/disk.img", "disk bytes");
	put("secret", "outside the rootfs");
	snprintf(p, sizeof(p), "%s/rootfs/esc", dir);
	symlink("../../secret", p); /* resolved inside the rootfs: /secret there does not exist */
	snprintf(p, sizeof(p), "%s/rootfs/abs", dir);
	symlink("/boot/k2.elf", p); /* absolute, but in the rootfs: fine */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Load a config.json made of the standard head and `rest` (members after "process"). */
static int load(const char *process, const char *rest)
{
	char cfg[4096];
	snprintf(cfg, sizeof(cfg),
	         "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
	         "\"process\":%s%s%s}",
	         process, rest[0] ? "," : "", rest);
	put("config.json", cfg);
	memset(&e, 0, sizeof(e));
	return oci_bundle_load(&b, dir, &e);
}

static void expect_bad(const char *process, const char *rest, const char *want)
{
	int r = load(process, rest);
	if (r >= 0 || !strstr(e.msg, want)) {
		if (r >= 0)
			oci_bundle_free(&b);
		fail_msg("got %d '%s', want an error with '%s'", r, e.msg, want);
	}
	assert_null(strchr(e.msg, '\n')); /* one line */
}

static void args_name_the_kernel(void **state)
{
	(void)state;
	assert_int_equal(load("{\"args\":[\"/k.elf\",\"exit=3\",\"quiet\"]}", ""), 0);
	assert_string_equal(b.kernel.name, "/k.elf");
	assert_true(b.kernel.fd >= 0);
	assert_string_equal(b.cmdline, "exit=3 quiet");
	assert_int_equal(b.mem, DEFAULT_MEM);
	assert_int_equal(b.cpus, 1);
	assert_int_equal(b.ndisks, 0);
	assert_string_equal(b.annotations_json, "{}");
	struct vm_config c;
	oci_bundle_config(&b, &c);
	assert_string_equal(c.kernel_path, b.kernel.path);
	assert_string_equal(c.cmdline, "exit=3 quiet");
	oci_bundle_free(&b);
	/* No arguments after the kernel: the CLI's default command line. */
	assert_int_equal(load("{\"args\":[\"k.elf\"]}", ""), 0);
	assert_string_equal(b.cmdline, DEFAULT_CMDLINE);
	oci_bundle_free(&b);
}

static void precedence(void **state)
{
	(void)state;
	/* Annotations beat FASTVMM_* env, which beats linux.resources. */
	assert_int_equal(load("{\"args\":[\"/k.elf\"],\"env\":[\"FASTVMM_MEM=32M\","
	                      "\"FASTVMM_CPUS=3\",\"FASTVMM_CMDLINE=from-env\"]}",
	                      "\"annotations\":{\"org.fastvmm.cpus\":\"2\",\"other.key\":\"x\"},"
	                      "\"linux\":{\"resources\":{\"memory\":{\"limit\":67108864},"
	                      "\"cpu\":{\"quota\":250000,\"period\":100000}}}"),
	                 0);
	assert_int_equal(b.mem, 32 * MiB);
	assert_int_equal(b.cpus, 2);
	assert_string_equal(b.cmdline, "from-env");
	assert_int_equal(b.cg_mem, 64 * MiB + OCI_VMM_OVERHEAD);
	assert_int_equal(b.cg_cpu_quota, 250000);
	assert_int_equal(b.cg_cpu_period, 100000);
	oci_bundle_free(&b);
	/* Without knobs: memory limit → RAM, quota/period rounded up → vCPUs. */
	assert_int_equal(load("{\"args\":[\"/k.elf\"]}",
	                      "\"linux\":{\"resources\":{\"memory\":{\"limit\":67108864},"
	                      "\"cpu\":{\"quota\":250000}},\"cgroupsPath\":\"/a/b\"}"),
	                 0);
	assert_int_equal(b.mem, 64 * MiB);
	assert_int_equal(b.cpus, 3);
	assert_string_equal(b.cgroup, "/a/b");
	oci_bundle_free(&b);
}

static void annotations_and_disks(void **state)
{
	(void)state;
	assert_int_equal(load("{\"args\":[\"/init\",\"x\"]}",
	                      "\"annotations\":{\"org.fastvmm.kernel\":\"/boot/k2.elf\","
	                      "\"org.fastvmm.disks\":\"/disk.img,disk.img:ro\","
	                      "\"org.fastvmm.timeout\":\"1.5\","
	                      "\"org.fastvmm.stop-grace\":\"0.25\"}"),
	                 0);
	assert_string_equal(b.kernel.name, "/boot/k2.elf");
	assert_string_equal(b.cmdline, "/init x"); /* all of args when the kernel is annotated */
	assert_int_equal(b.ndisks, 2);
	assert_true(b.disk_cow[0] && !b.disk_ro[0]);
	assert_true(b.disk_ro[1] && !b.disk_cow[1]);
	assert_int_equal(b.timeout_ms, 1500);
	assert_int_equal(b.stop_grace_ms, 250);
	oci_bundle_free(&b);
	/* The stop grace: 5 s by default, 0 stops at once. */
	assert_int_equal(load("{\"args\":[\"/k.elf\"]}", ""), 0);
	assert_int_equal(b.stop_grace_ms, OCI_STOP_GRACE_MS);
	oci_bundle_free(&b);
	assert_int_equal(load("{\"args\":[\"/k.elf\"]}",
	                      "\"annotations\":{\"org.fastvmm.stop-grace\":\"0\"}"),
	                 0);
	assert_int_equal(b.stop_grace_ms, 0);
	oci_bundle_free(&b);
	/* An absolute symlink inside the rootfs resolves inside it. */
	assert_int_equal(load("{\"args\":[\"/abs\"]}", ""), 0);
	oci_bundle_free(&b);
}

static void spec_vm_object(void **state)
{
	(void)state;
	char rest[512];
	snprintf(rest, sizeof(rest),
	         "\"vm\":{\"kernel\":{\"path\":\"%s/rootfs/k.elf\",\"parameters\":[\"a=1\",\"b\"]},"
	         "\"image\":{\"path\":\"%s/rootfs/disk.img\",\"format\":\"raw\"}}",
	         dir, dir);
	assert_int_equal(load("{\"args\":[\"ignored\"]}", rest), 0);
	assert_string_equal(b.cmdline, "a=1 b");
	assert_int_equal(b.ndisks, 1);
	assert_true(b.disk_cow[0]);
	oci_bundle_free(&b);
	expect_bad("{\"args\":[]}", "\"vm\":{\"image\":{\"path\":\"/x\",\"format\":\"qcow2\"}}",
	           "only raw images");
	expect_bad("{\"args\":[]}", "\"vm\":{\"hypervisor\":{\"path\":\"/usr/bin/qemu\"}}",
	           "fastvmm is the hypervisor");
}

static void hostile_paths(void **state)
{
	(void)state;
	expect_bad("{\"args\":[\"/../secret\"]}", "", "'..' is not allowed");
	expect_bad("{\"args\":[\"x\"]}", "\"annotations\":{\"org.fastvmm.kernel\":\"a/../../k\"}",
	           "'..' is not allowed");
	expect_bad("{\"args\":[\"/esc\"]}", "", "/esc: no such file in the rootfs");
	expect_bad("{\"args\":[\"/boot\"]}", "", "/boot: not a regular file");
	expect_bad("{\"args\":[\"/\"]}", "", "not a file");
	expect_bad("{\"args\":[\"/k.elf\"]}",
	           "\"annotations\":{\"org.fastvmm.disks\":\"../secret\"}", "'..' is not allowed");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"linux\":{\"cgroupsPath\":\"/a/../../b\"}",
	           "linux.cgroupsPath: /a/../../b: '..'");
}

static void bad_values(void **state)
{
	(void)state;
	expect_bad("{\"args\":[]}", "", "process.args is empty");
	expect_bad("{\"args\":[\"/k.elf\",\"two words\"]}", "", "cannot contain white space");
	expect_bad("{\"args\":\"/k.elf\"}", "", "process.args: must be an array");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"annotations\":{\"org.fastvmm.mem\":\"1K\"}",
	           "org.fastvmm.mem: '1K'");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"annotations\":{\"org.fastvmm.cpus\":\"65\"}",
	           "org.fastvmm.cpus: '65'");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"annotations\":{\"org.fastvmm.timeout\":\"-1\"}",
	           "org.fastvmm.timeout");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"annotations\":{\"org.fastvmm.stop-grace\":\"5s\"}",
	           "org.fastvmm.stop-grace: '5s'");
	expect_bad("{\"args\":[\"/k.elf\"]}",
	           "\"annotations\":{\"org.fastvmm.disks\":\"disk.img:rx\"}", "mode 'rx'");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"annotations\":{\"org.fastvmm.nope\":\"1\"}",
	           "org.fastvmm.nope: unknown");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"annotations\":{\"org.fastvmm.mem\":7}",
	           "annotations.org.fastvmm.mem: must be a string");
	expect_bad("{\"args\":[\"/k.elf\"]}",
	           "\"annotations\":{\"org.fastvmm.mem\":\"64M\"},"
	           "\"linux\":{\"resources\":{\"memory\":{\"limit\":16777216}}}",
	           "above linux.resources.memory.limit");
	expect_bad("{\"args\":[\"/k.elf\"],\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\",\"soft\":1,"
	           "\"hard\":1}]}",
	           "", "unknown rlimit type 'RLIMIT_BOGUS'");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"hooks\":{\"poststart\":[{\"path\":\"/x\"}]}",
	           "hooks.poststart");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"solaris\":{}", "Linux bundles only");
	expect_bad("{\"args\":[\"/k.elf\"]}", "\"process\":{}", "duplicate");
	/* Unknown members elsewhere are ignored, as config.md requires. */
	assert_int_equal(load("{\"args\":[\"/k.elf\"],\"futureField\":1}", "\"another\":{}"), 0);
	oci_bundle_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(args_name_the_kernel),  cmocka_unit_test(precedence),
	        cmocka_unit_test(annotations_and_disks), cmocka_unit_test(spec_vm_object),
	        cmocka_unit_test(hostile_paths),         cmocka_unit_test(bad_values),
	};
	return cmocka_run_group_tests_name("oci_bundle", tests, setup, teardown);
}
