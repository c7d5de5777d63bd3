/* guests/acpi_off.c — powers the machine off the way an ACPI OS does: finds the RSDP in
 * 0xe0000-0xfffff, checks checksums, follows XSDT → FADT → DSDT, counts the LNRO0005
 * (virtio-mmio) devices, reads SLP_TYPa from \_S5_ and writes SLP_TYP|SLP_EN to the FADT's
 * sleep control register. Exits 1 (exit port) if anything is missing. */
#include "virtio_guest.h"

static int sum_ok(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s == 0;
}

static int eq(const uint8_t *p, const char *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (p[i] != (uint8_t)s[i])
			return 0;
	return 1;
}

static __attribute__((noreturn)) void fail(const char *why)
{
	print("acpi_off: ");
	print(why);
	print("\n");
	guest_exit(1);
}

void guest_main(const char *cmdline)
{
	(void)cmdline;
	const uint8_t *rsdp = 0;
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (eq((const uint8_t *)a, "RSD PTR ", 8)) {
			rsdp = (const uint8_t *)a;
			break;
		}
	if (!rsdp || !sum_ok(rsdp, 20) || !sum_ok(rsdp, 36))
		fail("no valid RSDP");
	const uint8_t *xsdt = (const uint8_t *)(uintptr_t) * (const uint64_t *)(rsdp + 24);
	uint32_t xlen = *(const uint32_t *)(xsdt + 4);
	if (!eq(xsdt, "XSDT", 4) || !sum_ok(xsdt, xlen))
		fail("bad XSDT");
	const uint8_t *fadt = 0;
	for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
		const uint8_t *t = (const uint8_t *)(uintptr_t) * (const uint64_t *)(xsdt + off);
		if (eq(t, "FACP", 4))
			fadt = t;
	}
	if (!fadt || !sum_ok(fadt, *(const uint32_t *)(fadt + 4)))
		fail("bad FADT");
	const uint8_t *dsdt = (const uint8_t *)(uintptr_t) * (const uint64_t *)(fadt + 140);
	uint32_t dlen = *(const uint32_t *)(dsdt + 4);
	if (!eq(dsdt, "DSDT", 4) || !sum_ok(dsdt, dlen))
		fail("bad DSDT");
	unsigned nvirtio = 0, slp_typ = 0xff;
	for (uint32_t i = 36; i + 8 < dlen; i++) {
		if (eq(dsdt + i, "LNRO0005", 8))
			nvirtio++;
		/* Name (\_S5_, Package (n) {ByteConst SLP_TYPa, ...}) */
		if (eq(dsdt + i, "_S5_", 4) && dsdt[i + 4] == 0x12 && dsdt[i + 7] == 0x0a)
			slp_typ = dsdt[i + 8];
	}
	if (slp_typ > 7)
		fail("no \\_S5_");
	uint16_t port = (uint16_t) * (const uint64_t *)(fadt + 248);
	if (fadt[244] != 1 || !port)
		fail("no sleep control register");
	print("acpi_off: ");
	print_uint(nvirtio);
	print(" virtio-mmio device(s) in the DSDT; S5 via port ");
	print_hex(port);
	print("\n");
	outb(port, (uint8_t)((slp_typ << 2) | (1 << 5)));
	for (;;)
		__asm__ volatile("hlt");
}
