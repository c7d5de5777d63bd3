/* tests/unit/test_config_irqchip.c — --irqchip and --hugepages on the command line, and
 * irqchip_resolve(): which images auto gives the split irqchip. */
#include "cli_parse.h"

static void irqchip_flag(void **st)
{
	(void)st;
	assert_int_equal(PARSE("--kernel", "k"), CONFIG_RUN);
	assert_int_equal(c.vm.irqchip, IRQCHIP_AUTO);
	assert_int_equal(PARSE("--irqchip", "kernel"), CONFIG_RUN);
	assert_int_equal(c.vm.irqchip, IRQCHIP_KERNEL);
	assert_int_equal(PARSE("--irqchip", "split"), CONFIG_RUN);
	assert_int_equal(c.vm.irqchip, IRQCHIP_SPLIT);
	assert_int_equal(PARSE("--irqchip", "auto"), CONFIG_RUN);
	assert_int_equal(c.vm.irqchip, IRQCHIP_AUTO);
	REJ("--irqchip: 'Split' is not auto, kernel or split", "--irqchip", "Split");
	REJ("--irqchip: '' is not auto, kernel or split", "--irqchip", "");
}

static void hugepages_flag(void **st)
{
	(void)st;
	assert_int_equal(PARSE("--hugepages"), CONFIG_RUN);
	assert_true(c.vm.hugepages);
	assert_int_equal(PARSE("--hugepages", "--mem", "64M"), CONFIG_RUN);
	REJ("--hugepages: --mem must be a multiple of 2 MiB", "--hugepages", "--mem", "3M");
	REJ("--hugepages: --mem must be a multiple of 2 MiB", "--mem", "2052K", "--hugepages");
}

static void resolve(void **st)
{
	(void)st;
	struct kernel_image k = {.fmt = KF_ELF};
	assert_int_equal(irqchip_resolve(IRQCHIP_AUTO, &k, true), IRQCHIP_KERNEL); /* Unikraft */
	assert_int_equal(irqchip_resolve(IRQCHIP_SPLIT, &k, true), IRQCHIP_SPLIT); /* forced */
	k.no_legacy_irq = true;
	assert_int_equal(irqchip_resolve(IRQCHIP_AUTO, &k, false), IRQCHIP_SPLIT);
	assert_int_equal(irqchip_resolve(IRQCHIP_KERNEL, &k, true), IRQCHIP_KERNEL);
	k = (struct kernel_image){.fmt = KF_ELF_PVH}; /* OSv */
	assert_int_equal(irqchip_resolve(IRQCHIP_AUTO, &k, false), IRQCHIP_SPLIT);
	k = (struct kernel_image){.fmt = KF_BZIMAGE, .is_linux = true};
	assert_int_equal(irqchip_resolve(IRQCHIP_AUTO, &k, true), IRQCHIP_SPLIT);
	/* Without the TSC-deadline timer Linux would arm the PIT: kernel. */
	assert_int_equal(irqchip_resolve(IRQCHIP_AUTO, &k, false), IRQCHIP_KERNEL);
	k = (struct kernel_image){.fmt = KF_ELF_PVH, .is_linux = true}; /* vmlinux */
	assert_int_equal(irqchip_resolve(IRQCHIP_AUTO, &k, false), IRQCHIP_KERNEL);
	assert_string_equal(irqchip_name(IRQCHIP_SPLIT), "split");
	assert_string_equal(irqchip_name(IRQCHIP_KERNEL), "kernel");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(irqchip_flag),
	        cmocka_unit_test(hugepages_flag),
	        cmocka_unit_test(resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
