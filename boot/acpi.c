/* boot/acpi.c — ACPI tables for a hardware-reduced machine (ACPI 6.x): RSDP, XSDT, FADT, MADT
 * and a DSDT describing the virtio-mmio devices, laid out from ACPI_START (reserved in e820;
 * the RSDP lies in 0xe0000-0xfffff, where a guest without the zero page's acpi_rsdp_addr scans
 * for it). The MP table is still written for guests without ACPI; both describe the same CPUs
 * (APIC ids 0..n-1) and IOAPIC (id n), so whichever a guest reads, it sees one machine. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "acpi.h"
#include "cc.h"
#include "layout.h"

#define OEM_ID       "FSTVMM"
#define OEM_TABLE_ID "FASTVMM "
#define CREATOR_ID   "FVMM"
#define HDR_LEN      36

/* FADT (ACPI 6.x §5.2.9) */
#define FADT_LEN               276
#define FADT_REVISION          6
#define FADT_F_PWR_BUTTON      (1u << 4)
#define FADT_F_SLP_BUTTON      (1u << 5)
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
#define IAPC_8042              (1u << 1)
#define IAPC_VGA_NOT_PRESENT   (1u << 2)
#define IAPC_MSI_NOT_SUPPORTED (1u << 3)
#define GAS_SYSTEM_IO          1
#define GAS_ACCESS_BYTE        1

uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)(0 - s);
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put_le32(t + 24, 1);
	memcpy(t + 28, CREATOR_ID, 4);
	put_le32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = acpi_checksum(t, len);
}

/* Generic Address Structure (§5.2.3.2): one byte in port I/O space. */
static void gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8;
	g[2] = 0;
	g[3] = GAS_ACCESS_BYTE;
	put_le64(g + 4, port);
}

static void legacy_device(struct aml *a, const char *name, const char *hid, uint16_t port,
                          uint8_t len, uint32_t irq)
{
	size_t dev = aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, hid);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	uint8_t res[32];
	size_t n = aml_res_io(res, port, len);
	n += aml_res_irq_edge_high(res + n, irq);
	n += aml_res_end(res + n);
	aml_name(a, "_CRS");
	aml_buffer(a, res, n);
	aml_end(a, dev);
}

/* Device (NAME) { _HID "ACPI0013", _UID, _CRS Interrupt (GSI), Method (_EVT, 1) {
 * Notify (TARGET, 0x80) } } */
static void ged_device(struct aml *a, const char *name, unsigned uid, uint32_t gsi,
                       const char *target)
{
	size_t dev = aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_integer(a, uid);
	uint8_t res[16];
	size_t rn = aml_res_irq_edge_high(res, gsi);
	rn += aml_res_end(res + rn);
	aml_name(a, "_CRS");
	aml_buffer(a, res, rn);
	size_t m = aml_method_begin(a, "_EVT", 1);
	aml_notify(a, target, 0x80);
	aml_end(a, m);
	aml_end(a, dev);
}

int acpi_dsdt_body(uint8_t *buf, size_t cap, const struct acpi_mmio_dev *devs, unsigned ndevs)
{
	struct aml a;
	aml_init(&a, buf, cap);
	size_t sb = aml_scope_begin(&a, "\\_SB_");
	for (unsigned i = 0; i < ndevs; i++) {
		char name[5] = {'V', 'R', (char)('0' + i / 10), (char)('0' + i % 10), 0};
		size_t dev = aml_device_begin(&a, name);
		aml_name(&a, "_HID");
		aml_string(&a, "LNRO0005"); /* virtio-mmio (Linux: drivers/virtio/virtio_mmio.c) */
		aml_name(&a, "_UID");
		aml_integer(&a, i);
		aml_name(&a, "_CCA"); /* cache-coherent DMA */
		aml_integer(&a, 1);
		uint8_t res[32];
		size_t n = aml_res_memory32_fixed(res, true, (uint32_t)devs[i].base, devs[i].size);
		n += aml_res_irq_edge_high(res + n, devs[i].gsi);
		n += aml_res_end(res + n);
		aml_name(&a, "_CRS");
		aml_buffer(&a, res, n);
		aml_end(&a, dev);
	}
	/* The legacy devices, so that their interrupts are routed: a hardware-reduced Linux has
	 * no 8259 and maps no ISA IRQ by itself, so the 8250 and rtc_cmos drivers get IRQs 4 and 8
	 * only through these (as on Firecracker). */
	legacy_device(&a, "COM1", "PNP0501", PORT_COM1, 8, SERIAL_IRQ);
	legacy_device(&a, "RTC_", "PNP0B00", PORT_CMOS_INDEX, 2, 8);
	/* VM Generation ID: Linux's vmgenid binds to _HID VMGENCTR or _CID VM_GEN_COUNTER and
	 * reads the buffer's address from ADDR = Package {low 32 bits, high 32 bits}. */
	size_t dev = aml_device_begin(&a, "VGEN");
	aml_name(&a, "_HID");
	aml_string(&a, "VMGENCTR");
	aml_name(&a, "_CID");
	aml_string(&a, "VM_GEN_COUNTER");
	aml_name(&a, "_DDN");
	aml_string(&a, "VM_Gen_Counter");
	aml_name(&a, "ADDR");
	size_t pk = aml_package_begin(&a, 2);
	aml_integer(&a, VMGENID_ADDR & 0xffffffffu);
	aml_integer(&a, VMGENID_ADDR >> 32);
	aml_end(&a, pk);
	aml_end(&a, dev);
	/* Generic Event Devices (ACPI 6.x §5.6.9, ACPI0013) are how a hardware-reduced machine
	 * raises ACPI events: each one's interrupt runs its _EVT. GED0 notifies VGEN (0x80: "the
	 * generation changed"). */
	ged_device(&a, "GED0", 0, VMGENID_GSI, "VGEN");
	/* The power button: a control-method power button (PNP0C0C), notified (0x80: "pressed")
	 * by GED1's interrupt, PWRBTN_GSI. Linux's button driver reports it as KEY_POWER, which
	 * acpid, systemd-logind or an init of one's own acts on; an engine's SIGTERM presses it
	 * (vmm/pipeline.c). */
	dev = aml_device_begin(&a, "PWRB");
	aml_name(&a, "_HID");
	aml_eisaid(&a, "PNP0C0C");
	aml_name(&a, "_UID");
	aml_integer(&a, 0);
	aml_end(&a, dev);
	ged_device(&a, "GED1", 1, PWRBTN_GSI, "PWRB");
	aml_end(&a, sb);
	/* \_S5_: Package {SLP_TYPa, SLP_TYPb}; hardware-reduced guests write SLP_TYPa. */
	aml_name(&a, "\\_S5_");
	size_t pkg = aml_package_begin(&a, 2);
	aml_integer(&a, ACPI_S5_TYPE);
	aml_integer(&a, 0);
	aml_end(&a, pkg);
	return a.overflow ? -E2BIG : (int)a.len;
}

int boot_acpi(const struct guest_mem *gm, unsigned ncpus, const struct acpi_mmio_dev *devs,
              unsigned ndevs, uint64_t *rsdp_gpa, struct err *e)
{
	if (ncpus == 0 || ncpus > 254)
		return err_set(e, -EINVAL, "--cpus: %u CPUs do not fit the MADT", ncpus);
	const uint64_t area = BIOS_END - ACPI_START;
	uint8_t *base = gm_ptr(gm, ACPI_START, area);
	if (!base)
		return err_set(e, -EFAULT, "ACPI tables: 0x%llx-0x%llx is not guest RAM",
		               (unsigned long long)ACPI_START, (unsigned long long)BIOS_END);
	/* Layout: RSDP | XSDT | FADT | MADT | DSDT, each 16-byte aligned. */
	uint64_t rsdp = ACPI_START, xsdt = rsdp + 48, fadt = xsdt + 64;
	uint64_t madt = ALIGN_UP(fadt + FADT_LEN, 16);
	uint32_t madt_len = HDR_LEN + 8 + ncpus * 8 + 12 + 6;
	uint64_t dsdt = ALIGN_UP(madt + madt_len, 16);
	if (dsdt + HDR_LEN >= VMGENID_ADDR)
		return err_set(e, -E2BIG, "ACPI tables do not fit below 1 MiB");
	memset(base, 0, (size_t)(dsdt - ACPI_START));
#define AT(gpa) ((uint8_t *)gm_ptr(gm, (gpa), BIOS_END - (gpa))) /* checked above: never NULL */

	/* DSDT */
	uint8_t *t = AT(dsdt);
	int body =
	        acpi_dsdt_body(t + HDR_LEN, (size_t)(VMGENID_ADDR - dsdt - HDR_LEN), devs, ndevs);
	if (body < 0)
		return err_set(e, -E2BIG, "ACPI DSDT: %u devices do not fit below 1 MiB", ndevs);
	uint32_t dsdt_len = HDR_LEN + (uint32_t)body;
	header(t, "DSDT", dsdt_len, 2);
	finish(t, dsdt_len);

	/* MADT (§5.2.12) */
	t = AT(madt);
	header(t, "APIC", madt_len, 5);
	put_le32(t + 36, (uint32_t)LAPIC_ADDR);
	put_le32(t + 40, 0); /* no PCAT_COMPAT: a hardware-reduced machine has no 8259 to mask */
	uint8_t *p = t + 44;
	for (unsigned i = 0; i < ncpus; i++, p += 8) {
		p[0] = 0; /* Processor Local APIC */
		p[1] = 8;
		p[2] = (uint8_t)i;  /* ACPI processor UID */
		p[3] = (uint8_t)i;  /* APIC id, as in the MP table */
		put_le32(p + 4, 1); /* enabled */
	}
	p[0] = 1; /* I/O APIC */
	p[1] = 12;
	p[2] = (uint8_t)ncpus; /* IOAPIC id, as in the MP table */
	put_le32(p + 4, (uint32_t)IOAPIC_ADDR);
	put_le32(p + 8, 0); /* GSI base */
	p += 12;
	p[0] = 4; /* Local APIC NMI: LINT1 of every CPU, as in the MP table */
	p[1] = 6;
	p[2] = 0xff;
	put_le16(p + 3, 0);
	p[5] = 1;
	finish(t, madt_len);

	/* FADT */
	t = AT(fadt);
	header(t, "FACP", FADT_LEN, FADT_REVISION);
	put_le32(t + 40, (uint32_t)dsdt);
	put_le16(t + 46, ACPI_SCI_IRQ);
	/* No 8042 flag: Linux then skips probing our reset-only i8042 (1.7 s on kvm-pvm); reboot=k
	 * and the reset register below still reach it. */
	put_le16(t + 109, IAPC_VGA_NOT_PRESENT | IAPC_MSI_NOT_SUPPORTED);
	put_le32(t + 112, FADT_F_HW_REDUCED_ACPI | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
	                          FADT_F_RESET_REG_SUP);
	gas_io8(t + 116, PORT_I8042_CMD); /* RESET_REG: the i8042 pulses reset on 0xfe */
	t[128] = 0xfe;
	t[131] = 0; /* FADT minor version */
	put_le64(t + 140, dsdt);
	gas_io8(t + 244, PORT_ACPI_SLEEP_CTL);
	gas_io8(t + 256, PORT_ACPI_SLEEP_STS);
	memcpy(t + 268, "FASTVMM", 8);
	finish(t, FADT_LEN);

	/* XSDT */
	t = AT(xsdt);
	uint32_t xsdt_len = HDR_LEN + 2 * 8;
	header(t, "XSDT", xsdt_len, 1);
	put_le64(t + 36, fadt);
	put_le64(t + 44, madt);
	finish(t, xsdt_len);

	/* RSDP (§5.2.5.3), ACPI 2.0+ form */
	t = AT(rsdp);
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, OEM_ID, 6);
	t[15] = 2;
	put_le32(t + 16, 0); /* no RSDT: XSDT only */
	put_le32(t + 20, 36);
	put_le64(t + 24, xsdt);
	t[8] = acpi_checksum(t, 20);
	t[32] = acpi_checksum(t, 36);
#undef AT
	*rsdp_gpa = rsdp;
	if (acpi_vmgenid_write(gm) < 0)
		return err_set(e, -EIO, "ACPI: no random VM Generation ID (getrandom failed)");
	return 0;
}

int acpi_vmgenid_write(const struct guest_mem *gm)
{
	uint8_t id[16];
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -EIO;
	return gm_write(gm, VMGENID_ADDR, id, sizeof(id));
}
