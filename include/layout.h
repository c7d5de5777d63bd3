/* include/layout.h — every guest-physical address and port fastvmm uses, in one place.
 *
 * Low memory (all below 1 MiB is RAM in the e820 map except the reserved BIOS area):
 *   0x00000-0x00fff  left alone (real-mode IVT / BDA area)
 *   0x01000-0x02fff  left FREE: OSv writes its own structures here
 *   0x00500          GDT (a few entries)
 *   0x06000          hvm_start_info (PVH), followed by its memory map and module list
 *   0x07000          Linux zero page (struct boot_params, 4 KiB)
 *   0x09000          PML4, 0x0a000 PDPT, 0x0b000-0x0efff four PDs: identity map of 4 GiB
 *   0x20000          kernel command line (up to CMDLINE_MAX bytes)
 *   0x9fc00-0xfffff  reserved in e820: MP table at MPTABLE_START, ACPI RSDP at ACPI_START
 *   0x100000         kernels load here or at their own physical address
 * Above low RAM: MMIO gap [MMIO_GAP_START, 4 GiB) holding virtio-mmio, IOAPIC, LAPIC, TSS;
 * RAM beyond MMIO_GAP_START continues at 4 GiB.
 */
#ifndef FASTVMM_LAYOUT_H
#define FASTVMM_LAYOUT_H

#define GDT_ADDR         0x500ULL
#define PVH_INFO_ADDR    0x6000ULL
#define PVH_MEMMAP_ADDR  0x6040ULL /* up to PVH_MEMMAP_MAX entries of 24 bytes */
#define PVH_MEMMAP_MAX   16
#define PVH_MODLIST_ADDR 0x6200ULL
#define ZERO_PAGE_ADDR   0x7000ULL
#define PML4_ADDR        0x9000ULL
#define PDPT_ADDR        0xa000ULL
#define PD_ADDR          0xb000ULL /* four consecutive pages */
#define PT_END           0xf000ULL
#define BOOT_STACK_TOP   0x8ff0ULL /* for own guests entered without a stack */
#define CMDLINE_ADDR     0x20000ULL
#define CMDLINE_MAX      0x10000ULL /* our own ceiling; the kernel's cmdline_size is stricter */

#define EBDA_START    0x9fc00ULL
#define MPTABLE_START 0x9fc00ULL
#define ACPI_START    0xe0000ULL /* RSDP must lie in 0xe0000-0xfffff */
#define VMGENID_ADDR  0xff000ULL /* 16 bytes: the VM Generation ID (ACPI guests) */
#define BIOS_END      0x100000ULL
#define HIMEM_START   0x100000ULL

#define MMIO_GAP_START        0xc0000000ULL /* 3 GiB: low RAM stops here */
#define MMIO_GAP_END          0x100000000ULL
#define VIRTIO_MMIO_BASE      0xd0000000ULL
#define VIRTIO_MMIO_SIZE      0x1000ULL
#define IOAPIC_ADDR           0xfec00000ULL
#define LAPIC_ADDR            0xfee00000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR          0xfeffd000ULL /* 3 pages */

/* Port I/O: the legacy devices and the project's own guest ABI. */
#define PORT_COM1       0x3f8
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD  0x64
#define PORT_CMOS_INDEX 0x70
#define PORT_CMOS_DATA  0x71
#define PORT_POST       0x80

/* fastvmm guest ABI (see README "Guest ABI"). */
#define PORT_BOOT_TIMER 0x500 /* any write: the guest is "ready" */
#define PORT_EXIT       0x501 /* write of 1/2/4 bytes: exit with (value & 0xff) */
#define PORT_SNAPSHOT                                                                              \
	0x508 /* write: snapshot point (--snapshot-at exit-port); read (4 bytes):                  \
	       * 0 none, 1 origin after its snapshot, 0x80000000|id a clone */

#define SERIAL_IRQ  4
#define VMGENID_GSI 3  /* the Generic Event Device's interrupt: "a new VM generation" */
#define PWRBTN_GSI  16 /* the second Generic Event Device's: "the power button was pressed" */

/* ACPI hardware-reduced sleep registers (FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG): a write
 * of SLP_EN | SLP_TYP=5 to the control register is the guest's poweroff (S5). */
#define PORT_ACPI_SLEEP_CTL 0x600
#define PORT_ACPI_SLEEP_STS 0x601
#define ACPI_S5_TYPE        5
#define ACPI_SCI_IRQ        9 /* named in the FADT; unused by a hardware-reduced machine */

#endif
