/* Unit tests: the AML encoder byte for byte, and the ACPI tables (checksums, lengths, links). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acpi.h"
#include "cc.h"
#include "layout.h"

static void pkglen(void **state)
{
	(void)state;
	uint8_t b[4];
	assert_int_equal(aml_pkglen(b, 0), 1);
	assert_int_equal(b[0], 1);
	assert_int_equal(aml_pkglen(b, 62), 1); /* 63 = the largest one-byte value */
	assert_int_equal(b[0], 0x3f);
	assert_int_equal(aml_pkglen(b, 63), 2); /* 65: 0x41 0x04 */
	assert_memory_equal(b, "\x41\x04", 2);
	assert_int_equal(aml_pkglen(b, 0xffd), 2); /* 0xfff */
	assert_memory_equal(b, "\x4f\xff", 2);
	assert_int_equal(aml_pkglen(b, 0xffe), 3); /* 0x1001 */
	assert_memory_equal(b, "\x81\x00\x01", 3);
	assert_int_equal(aml_pkglen(b, 0xffffc), 3); /* 0xfffff */
	assert_memory_equal(b, "\x8f\xff\xff", 3);
	assert_int_equal(aml_pkglen(b, 0xffffd), 4); /* 0x100001 */
	assert_memory_equal(b, "\xc1\x00\x00\x01", 4);
	assert_int_equal(aml_pkglen(b, 0xffffffb), 4);
	assert_int_equal(aml_pkglen(b, 0xffffffc), 0); /* beyond 28 bits */
}

#define ENCODE(expr, ...)                                                                          \
	do {                                                                                       \
		static const uint8_t want[] = {__VA_ARGS__};                                       \
		uint8_t buf[64];                                                                   \
		struct aml a;                                                                      \
		aml_init(&a, buf, sizeof(buf));                                                    \
		expr;                                                                              \
		assert_false(a.overflow);                                                          \
		assert_int_equal(a.len, sizeof(want));                                             \
		assert_memory_equal(buf, want, sizeof(want));                                      \
	} while (0)

static void terms(void **state)
{
	(void)state;
	ENCODE(aml_integer(&a, 0), 0x00);
	ENCODE(aml_integer(&a, 1), 0x01);
	ENCODE(aml_integer(&a, 5), 0x0a, 0x05);
	ENCODE(aml_integer(&a, 0x1234), 0x0b, 0x34, 0x12);
	ENCODE(aml_integer(&a, 0xd0000000), 0x0c, 0x00, 0x00, 0x00, 0xd0);
	ENCODE(aml_integer(&a, 0x100000000ULL), 0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
	ENCODE(aml_string(&a, "AB"), 0x0d, 'A', 'B', 0);
	/* Name (_HID, "LNRO0005") as iasl emits it */
	ENCODE((aml_name(&a, "_HID"), aml_string(&a, "LNRO0005")), 0x08, '_', 'H', 'I', 'D', 0x0d,
	       'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00);
	ENCODE(aml_namestring(&a, "\\_SB"), 0x5c, '_', 'S', 'B', '_');
	/* EisaId ("PNP0501") and EisaId ("PNP0B00"), as iasl encodes them */
	ENCODE(aml_eisaid(&a, "PNP0501"), 0x0c, 0x41, 0xd0, 0x05, 0x01);
	ENCODE(aml_eisaid(&a, "PNP0B00"), 0x0c, 0x41, 0xd0, 0x0b, 0x00);
	/* Package (2) {5, Zero} */
	ENCODE(({
		       size_t m = aml_package_begin(&a, 2);
		       aml_integer(&a, 5);
		       aml_integer(&a, 0);
		       aml_end(&a, m);
	       }),
	       0x12, 0x05, 0x02, 0x0a, 0x05, 0x00);
	/* Buffer (3) {1, 2, 3} */
	ENCODE(aml_buffer(&a, "\x01\x02\x03", 3), 0x11, 0x06, 0x0a, 0x03, 0x01, 0x02, 0x03);
	/* Device (VR00) {} inside Scope (\_SB) {} */
	ENCODE(({
		       size_t s = aml_scope_begin(&a, "\\_SB_");
		       size_t d = aml_device_begin(&a, "VR00");
		       aml_end(&a, d);
		       aml_end(&a, s);
	       }),
	       0x10, 0x0d, 0x5c, '_', 'S', 'B', '_', 0x5b, 0x82, 0x05, 'V', 'R', '0', '0');
}

static void overflow_is_sticky(void **state)
{
	(void)state;
	uint8_t buf[4];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "LNRO0005");
	assert_true(a.overflow);
	aml_integer(&a, 1);
	assert_true(a.overflow);
	assert_true(a.len <= sizeof(buf));
}

static void resources(void **state)
{
	(void)state;
	uint8_t b[16];
	assert_int_equal(aml_res_memory32_fixed(b, true, 0xd0000000, 0x1000), 12);
	assert_memory_equal(b, "\x86\x09\x00\x01\x00\x00\x00\xd0\x00\x10\x00\x00", 12);
	assert_int_equal(aml_res_irq_edge_high(b, 5), 9);
	assert_memory_equal(b, "\x89\x06\x00\x03\x01\x05\x00\x00\x00", 9);
	assert_int_equal(aml_res_io(b, 0x3f8, 8), 8);
	assert_memory_equal(b, "\x47\x01\xf8\x03\xf8\x03\x01\x08", 8);
	assert_int_equal(aml_res_end(b), 2);
	assert_memory_equal(b, "\x79\x00", 2);
}

/* The DSDT body for one device, from ACPI 6.4 §20 by hand (and checked with `iasl -d`):
 * Scope (\_SB) { Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, Zero) Name (_CCA, One)
 * Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xD0000000, 0x1000)
 * Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} }) }
 * Device (COM1) {...} Device (RTC) {...} } Name (\_S5, Package (2) {5, Zero}) */
static void dsdt_one_device(void **state)
{
	(void)state;
	static const uint8_t vr00[] = {
	        0x5b, 0x82, 0x41, 0x04, 'V',  'R',  '0',  '0', /* Device, PkgLength 65 */
	        0x08, '_',  'H',  'I',  'D',  0x0d, 'L',  'N',  'R',  'O',  '0',  '0',
	        '0',  '5',  0x00, 0x08, '_',  'U',  'I',  'D',  0x00, /* _UID */
	        0x08, '_',  'C',  'C',  'A',  0x01,                   /* _CCA */
	        0x08, '_',  'C',  'R',  'S',  0x11, 0x1a, 0x0a, 0x17, /* _CRS, Buffer (23) */
	        0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
	        0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00, 0x79, 0x00,
	};
	static const uint8_t com1[] = {
	        0x5b, 0x82, 0x31, 'C',  'O',  'M',  '1', /* Device, PkgLength 4+10+6+28+1 = 49 */
	        0x08, '_',  'H',  'I',  'D',  0x0c, 0x41, 0xd0, 0x05, 0x01, /* EisaId ("PNP0501") */
	        0x08, '_',  'U',  'I',  'D',  0x00, 0x08, '_',  'C',  'R',  'S',  0x11,
	        0x16, 0x0a, 0x13, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO (Decode16,
	                                                                             0x3f8, ..., 8)
	                                                                           */
	        0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0x00, 0x00, 0x00, 0x79, 0x00,
	};
	static const uint8_t s5[] = {0x08, 0x5c, '_',  'S',  '5',  '_',
	                             0x12, 0x05, 0x02, 0x0a, 0x05, 0x00};
	struct acpi_mmio_dev d = {0xd0000000, 0x1000, 5};
	uint8_t buf[512];
	int n = acpi_dsdt_body(buf, sizeof(buf), &d, 1);
	assert_true(n > 0);
	/* Scope (\_SB_) with a two-byte PkgLength covering everything before \_S5_. */
	assert_int_equal(buf[0], 0x10);
	assert_int_equal(buf[1] >> 6, 1);
	assert_int_equal((buf[1] & 0xf) | (buf[2] << 4), n - 1 - (int)sizeof(s5));
	assert_memory_equal(buf + 3, "\\_SB_", 5);
	assert_memory_equal(buf + 8, vr00, sizeof(vr00));
	assert_memory_equal(buf + 8 + sizeof(vr00), com1, sizeof(com1));
	assert_memory_equal(buf + 8 + sizeof(vr00) + sizeof(com1), "\x5b\x82\x31RTC_", 7);
	assert_memory_equal(buf + n - sizeof(s5), s5, sizeof(s5));
	assert_int_equal(acpi_dsdt_body(buf, 40, &d, 1), -E2BIG);
}

static uint64_t find_table(const struct guest_mem *gm, uint64_t xsdt, const char *sig)
{
	const uint8_t *x = gm_ptr(gm, xsdt, 36);
	uint32_t len = le32(x + 4);
	x = gm_ptr(gm, xsdt, len);
	for (uint32_t off = 36; off + 8 <= len; off += 8) {
		uint64_t t = le64(x + off);
		if (!memcmp(gm_ptr(gm, t, 4), sig, 4))
			return t;
	}
	return 0;
}

static void check_sum(const struct guest_mem *gm, uint64_t gpa)
{
	uint32_t len = le32((uint8_t *)gm_ptr(gm, gpa + 4, 4));
	assert_true(len >= 36);
	assert_int_equal(acpi_checksum(gm_ptr(gm, gpa, len), len), 0);
}

static void tables(void **state)
{
	(void)state;
	uint8_t *ram = calloc(1, 2 << 20);
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, 2 << 20);
	struct acpi_mmio_dev d[3] = {
	        {0xd0000000, 0x1000, 5}, {0xd0001000, 0x1000, 6}, {0xd0002000, 0x1000, 7}};
	uint64_t rsdp = 0;
	struct err e;
	assert_int_equal(boot_acpi(&gm, 4, d, 3, &rsdp, &e), 0);
	assert_int_equal(rsdp, ACPI_START);
	const uint8_t *r = gm_ptr(&gm, rsdp, 36);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(r, 20), 0);
	assert_int_equal(acpi_checksum(r, 36), 0);
	assert_int_equal(r[15], 2);
	uint64_t xsdt = le64(r + 24);
	check_sum(&gm, xsdt);
	uint64_t fadt = find_table(&gm, xsdt, "FACP"), madt = find_table(&gm, xsdt, "APIC");
	assert_true(fadt && madt);
	check_sum(&gm, fadt);
	check_sum(&gm, madt);
	const uint8_t *f = gm_ptr(&gm, fadt, 276);
	assert_int_equal(le32(f + 4), 276);
	assert_true(le32(f + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	uint64_t dsdt = le64(f + 140);
	assert_int_equal(le32(f + 40), dsdt);
	check_sum(&gm, dsdt);
	assert_memory_equal(gm_ptr(&gm, dsdt, 4), "DSDT", 4);
	/* Sleep control/status: byte registers in port I/O space. */
	assert_int_equal(f[244], 1);
	assert_int_equal(le64(f + 248), PORT_ACPI_SLEEP_CTL);
	assert_int_equal(f[256], 1);
	assert_int_equal(le64(f + 260), PORT_ACPI_SLEEP_STS);
	/* MADT: 4 LAPICs with ids 0..3, then the IOAPIC with id 4 (same as the MP table). */
	const uint8_t *m = gm_ptr(&gm, madt, 44 + 4 * 8 + 12 + 6);
	assert_int_equal(le32(m + 4), 44 + 4 * 8 + 12 + 6);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(m[44 + 8 * i], 0);
		assert_int_equal(m[44 + 8 * i + 3], i);
	}
	assert_int_equal(m[76], 1);
	assert_int_equal(m[78], 4);
	assert_int_equal(le32(m + 80), IOAPIC_ADDR);
	/* Every table ends below 1 MiB, inside the reserved area. */
	assert_true(dsdt + le32((uint8_t *)gm_ptr(&gm, dsdt + 4, 4)) <= BIOS_END);
	/* For `iasl -d` by hand: FASTVMM_ACPI_DUMP=dir writes the tables there. */
	const char *dump = getenv("FASTVMM_ACPI_DUMP");
	if (dump) {
		const char *sig[] = {"DSDT", "FACP", "APIC", "XSDT"};
		uint64_t at[] = {dsdt, fadt, madt, xsdt};
		for (int i = 0; i < 4; i++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s.dat", dump, sig[i]);
			FILE *o = fopen(path, "wb");
			uint32_t len = le32((uint8_t *)gm_ptr(&gm, at[i] + 4, 4));
			fwrite(gm_ptr(&gm, at[i], len), 1, len, o);
			fclose(o);
		}
	}
	/* Too many CPUs, or RAM that does not reach 1 MiB: clear errors. */
	assert_int_equal(boot_acpi(&gm, 255, d, 3, &rsdp, &e), -EINVAL);
	struct guest_mem small;
	gm_init_buffer(&small, ram, 0x80000);
	assert_int_equal(boot_acpi(&small, 1, d, 3, &rsdp, &e), -EFAULT);
	free(ram);
}

static const uint8_t *find(const uint8_t *h, size_t hl, const void *n, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++)
		if (!memcmp(h + i, n, nl))
			return h + i;
	return NULL;
}

/* The VM Generation ID device and the Generic Event Device that notifies it (issue 9). */
static void vmgenid(void **state)
{
	(void)state;
	uint8_t buf[4096];
	struct acpi_mmio_dev d = {0xd0000000, 0x1000, 5};
	int n = acpi_dsdt_body(buf, sizeof(buf), &d, 1);
	assert_true(n > 0);
	assert_non_null(find(buf, (size_t)n, "VMGENCTR", 9));
	assert_non_null(find(buf, (size_t)n, "VM_GEN_COUNTER", 15));
	assert_non_null(find(buf, (size_t)n, "ACPI0013", 9));
	/* Name (ADDR, Package (2) {0xff000, 0}) */
	static const uint8_t addr[] = {0x08, 'A',  'D',  'D',  'R',  0x12, 0x08,
	                               0x02, 0x0c, 0x00, 0xf0, 0x0f, 0x00, 0x00};
	assert_non_null(find(buf, (size_t)n, addr, sizeof(addr)));
	/* Method (_EVT, 1) { Notify (VGEN, 0x80) } */
	static const uint8_t evt[] = {0x14, 0x0d, '_', 'E', 'V', 'T',  0x01,
	                              0x86, 'V',  'G', 'E', 'N', 0x0a, 0x80};
	assert_non_null(find(buf, (size_t)n, evt, sizeof(evt)));
	/* boot_acpi() writes a random ID; a clone's rewrite gives another. */
	uint8_t *ram = calloc(1, 2 << 20);
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, 2 << 20);
	uint64_t rsdp;
	struct err e;
	assert_int_equal(boot_acpi(&gm, 1, &d, 1, &rsdp, &e), 0);
	uint8_t a[16], b[16], z[16] = {0};
	memcpy(a, ram + VMGENID_ADDR, 16);
	assert_memory_not_equal(a, z, 16);
	assert_int_equal(acpi_vmgenid_write(&gm), 0);
	memcpy(b, ram + VMGENID_ADDR, 16);
	assert_memory_not_equal(a, b, 16);
	free(ram);
}

/* The power button (PNP0C0C) and the Generic Event Device whose interrupt notifies it. */
static void power_button(void **state)
{
	(void)state;
	uint8_t buf[4096];
	struct acpi_mmio_dev d = {0xd0000000, 0x1000, 5};
	int n = acpi_dsdt_body(buf, sizeof(buf), &d, 1);
	assert_true(n > 0);
	/* Device (PWRB) { Name (_HID, EisaId ("PNP0C0C")) Name (_UID, Zero) } */
	static const uint8_t pwrb[] = {0x5b, 0x82, 0x15, 'P', 'W',  'R',  'B',  0x08,
	                               '_',  'H',  'I',  'D', 0x0c, 0x41, 0xd0, 0x0c,
	                               0x0c, 0x08, '_',  'U', 'I',  'D',  0x00};
	assert_non_null(find(buf, (size_t)n, pwrb, sizeof(pwrb)));
	/* Device (GED1): _UID One, Interrupt (Edge, ActiveHigh) {16}, _EVT notifies PWRB. */
	const uint8_t *ged1 = find(buf, (size_t)n, "GED1", 4);
	assert_non_null(ged1);
	size_t rest = (size_t)n - (size_t)(ged1 - buf);
	assert_non_null(find(ged1, rest, "ACPI0013", 9));
	assert_non_null(find(ged1, rest, "\x08_UID\x01", 6));
	static const uint8_t irq[] = {0x89, 0x06, 0x00, 0x03, 0x01, PWRBTN_GSI, 0x00, 0x00, 0x00};
	assert_non_null(find(ged1, rest, irq, sizeof(irq)));
	static const uint8_t evt[] = {0x14, 0x0d, '_', 'E', 'V', 'T',  0x01,
	                              0x86, 'P',  'W', 'R', 'B', 0x0a, 0x80};
	assert_non_null(find(ged1, rest, evt, sizeof(evt)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pkglen),
	        cmocka_unit_test(terms),
	        cmocka_unit_test(overflow_is_sticky),
	        cmocka_unit_test(resources),
	        cmocka_unit_test(dsdt_one_device),
	        cmocka_unit_test(tables),
	        cmocka_unit_test(vmgenid),
	        cmocka_unit_test(power_button),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
