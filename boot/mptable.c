/* boot/mptable.c — Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
 * finds its CPUs, the IOAPIC and the ISA interrupt routing. */
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"

#define MP_PROCESSOR 0
#define MP_BUS       1
#define MP_IOAPIC    2
#define MP_INTSRC    3
#define MP_LINTSRC   4
#define MP_INT       0
#define MP_NMI       1
#define MP_EXTINT    3
#define APIC_VERSION 0x14
#define IOAPIC_PINS  24

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)(0 - s);
}

int boot_mptable(const struct guest_mem *gm, unsigned ncpus, struct err *e)
{
	if (ncpus == 0 || ncpus > 254)
		return err_set(e, -EINVAL, "--cpus: %u CPUs do not fit an MP table", ncpus);
	size_t len = 16 + 44 + ncpus * 20 + 8 + 8 + IOAPIC_PINS * 8 + 2 * 8;
	if (len > BIOS_END - MPTABLE_START - 0x400)
		return err_set(e, -E2BIG, "MP table too large");
	uint8_t *fp = gm_ptr(gm, MPTABLE_START, len);
	if (!fp)
		return err_set(e, -EFAULT, "MP table: outside guest RAM");
	memset(fp, 0, len);
	uint8_t *ct = fp + 16, *p = ct + 44;
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t count = 0;
	for (unsigned i = 0; i < ncpus; i++, p += 20, count++) {
		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)i; /* local APIC id */
		p[2] = APIC_VERSION;
		p[3] = 0x01 | (i == 0 ? 0x02 : 0); /* enabled, bootstrap processor */
		put_le32(p + 4, 0x600);            /* family 6 signature */
		put_le32(p + 8, 0x201);            /* FPU | APIC feature flags */
	}
	p[0] = MP_BUS;
	memcpy(p + 2, "ISA   ", 6);
	p += 8, count++;
	p[0] = MP_IOAPIC;
	p[1] = ioapic_id;
	p[2] = 0x11;
	p[3] = 0x01;
	put_le32(p + 4, (uint32_t)IOAPIC_ADDR);
	p += 8, count++;
	for (unsigned irq = 0; irq < IOAPIC_PINS; irq++, p += 8, count++) {
		p[0] = MP_INTSRC;
		p[1] = MP_INT;
		put_le16(p + 2, 0); /* polarity/trigger: conforms to the bus */
		p[4] = 0;           /* ISA */
		p[5] = (uint8_t)irq;
		p[6] = ioapic_id;
		p[7] = (uint8_t)irq;
	}
	p[0] = MP_LINTSRC, p[1] = MP_EXTINT, p[6] = 0xff, p[7] = 0; /* LINT0 = ExtINT, all CPUs */
	p += 8, count++;
	p[0] = MP_LINTSRC, p[1] = MP_NMI, p[6] = 0xff, p[7] = 1; /* LINT1 = NMI, all CPUs */
	p += 8, count++;

	memcpy(ct, "PCMP", 4);
	put_le16(ct + 4, (uint16_t)(p - ct));
	ct[6] = 4; /* spec revision 1.4 */
	memcpy(ct + 8, "FASTVMM ", 8);
	memcpy(ct + 16, "FASTVMM-MP  ", 12);
	put_le16(ct + 34, count);
	put_le32(ct + 36, (uint32_t)LAPIC_ADDR);
	ct[7] = checksum(ct, (size_t)(p - ct));

	memcpy(fp, "_MP_", 4);
	put_le32(fp + 4, (uint32_t)(MPTABLE_START + 16));
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = 4;
	fp[10] = checksum(fp, 16);
	return 0;
}
