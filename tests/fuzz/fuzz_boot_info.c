/* Fuzz target: the boot-information writers given hostile configurations: e820, the x86
 * tables, MP table and ACPI (MADT, DSDT with virtio-mmio devices) for any CPU count, device
 * list and RAM size, and the virtio_mmio.device= cmdline entries for any device count. */
#include "acpi.h"
#include "boot.h"
#include "fuzz.h"
#include "layout.h"
#include "virtio.h"
#include "vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[8u << 20];
	struct fz f = {data, size};
	uint32_t ramsz = (fz_u32(&f) % sizeof(ram)) & ~4095u;
	unsigned ncpus = fz_u16(&f);
	unsigned ndev = fz_u8(&f) % (VIRTIO_MAX_DEVS + 2);
	struct acpi_mmio_dev devs[VIRTIO_MAX_DEVS + 2];
	for (unsigned i = 0; i < ndev; i++)
		devs[i] = (struct acpi_mmio_dev){fz_u64(&f), fz_u32(&f), fz_u8(&f)};
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, ramsz);
	struct err e;
	struct e820 map[E820_MAX];
	boot_e820(&gm, map);
	boot_x86_tables(&gm, &e);
	boot_mptable(&gm, ncpus, &e);
	uint64_t rsdp;
	boot_acpi(&gm, ncpus, devs, ndev > VIRTIO_MAX_DEVS ? VIRTIO_MAX_DEVS : ndev, &rsdp, &e);
	uint8_t dsdt[4096];
	acpi_dsdt_body(dsdt, fz_u16(&f) % sizeof(dsdt), devs,
	               ndev > VIRTIO_MAX_DEVS ? VIRTIO_MAX_DEVS : ndev);
	/* virtio_mmio.device= entries after a cmdline of any length. */
	static struct vm_config cfg;
	cfg.ndisks = fz_u8(&f) % (VM_MAX_DISKS + 1);
	cfg.nnets = fz_u8(&f) % (VM_MAX_NICS + 1);
	char cmd[512];
	size_t cl = fz_copy(&f, cmd, sizeof(cmd) - 1);
	cmd[cl] = 0;
	virtio_cmdline(&cfg, cmd, (fz_u16(&f) % sizeof(cmd)) + 1);
	return 0;
}
