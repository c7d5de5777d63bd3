/* include/boot.h — kernel image parsing and the boot structures built for the guest.
 *
 * Call order: kernel_parse() (pure, on a byte buffer; done once per launch, shared by all
 * instances) → kernel_place() into each instance's guest RAM → initrd_place() →
 * boot_linux_zero_page() or boot_pvh_start_info() → x86 register setup (x86_boot.h).
 * Every function reports a problem as one line in `struct err` and returns -errno. */
#ifndef FASTVMM_BOOT_H
#define FASTVMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc.h"
#include "guest_mem.h"

struct err {
	char msg[320];
};
/* Formats e->msg (if e) and returns `code` (a negative errno). */
int err_set(struct err *e, int code, const char *fmt, ...) PRINTF(3, 4);

enum kernel_format {
	KF_ELF,     /* ELF64, Linux 64-bit boot protocol (zero page in RSI) */
	KF_ELF_PVH, /* ELF64 with XEN_ELFNOTE_PHYS32_ENTRY: 32-bit PVH entry */
	KF_BZIMAGE, /* Linux bzImage, entered at its 64-bit entry point */
};
const char *kernel_format_name(enum kernel_format f);

#define KERNEL_MAX_SEGMENTS 16
/* Largest kernel (or initrd) file accepted; a sanity bound against absurd inputs. */
#define KERNEL_MAX_FILE (1ULL << 30)

struct kernel_segment {
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t memsz;
	uint64_t paddr;
};

/* The bzImage setup header, from offset 0x1f1 of the file (boot protocol §"The real-mode
 * kernel header"). Only what fastvmm reads; the raw bytes are copied to the zero page. */
struct bz_info {
	uint8_t setup_sects;
	uint16_t version; /* boot protocol, e.g. 0x020f */
	uint8_t loadflags;
	uint32_t code32_start;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint64_t pref_address;
	uint32_t init_size;
	uint64_t payload_offset; /* (setup_sects + 1) * 512 */
	uint32_t hdr_len;        /* bytes of setup header to copy: 0x202 + jump[1] - 0x1f1 */
};

/* ELF note (owner "fastvmm") by which an image declares it uses neither the 8259 PIC nor the
 * 8254 PIT, so that --irqchip auto may give it a split irqchip (include/irqchip.h). */
#define FASTVMM_NOTE_OWNER         "fastvmm"
#define FASTVMM_NOTE_NO_LEGACY_IRQ 1

struct kernel_image {
	const char *name; /* for messages: the path as given */
	const uint8_t *data;
	size_t size;
	enum kernel_format fmt;
	bool is_linux;      /* bzImage, or an ELF with a "Linux" / Xen GUEST_OS=linux note */
	bool no_legacy_irq; /* ELF note FASTVMM_NOTE_NO_LEGACY_IRQ: needs no 8259 PIC, 8254 PIT */
	uint64_t entry;     /* 64-bit entry (ELF e_entry as physical, or bzImage load+0x200) */
	uint64_t pvh_entry; /* 32-bit PVH entry (KF_ELF_PVH) */
	struct kernel_segment seg[KERNEL_MAX_SEGMENTS];
	unsigned nseg;
	uint64_t load_lo, load_hi; /* physical extent [lo, hi) the kernel occupies in RAM */
	struct bz_info bz;         /* KF_BZIMAGE only */
	uint32_t cmdline_max;      /* longest cmdline (without NUL) the kernel accepts */
	uint64_t initrd_max;       /* highest address + 1 the initrd may occupy */
	/* Owned mapping, if kernel_open() made it. */
	void *map;
	size_t map_len;
	/* kernel_open(): the file stays open so that kernel_place() can map its pages into guest
	 * RAM copy-on-write (gm_map_file) instead of copying them. */
	int fd;
	bool has_fd;
};

/* Parse a kernel from memory (format detected from the bytes, never the name). */
int kernel_parse(struct kernel_image *k, const char *name, const uint8_t *data, size_t size,
                 struct err *e);
/* Format-specific parsers behind kernel_parse() (k->name/data/size set). */
int elf_parse(struct kernel_image *k, struct err *e);
int bzimage_parse(struct kernel_image *k, struct err *e);
/* Map the file read-only and parse it. */
int kernel_open(struct kernel_image *k, const char *path, struct err *e);
void kernel_close(struct kernel_image *k);
/* Place the kernel in guest RAM: whole pages straight from the file (shared copy-on-write)
 * where the format allows, copies elsewhere; fails if any part lies outside RAM. */
int kernel_place(const struct kernel_image *k, struct guest_mem *gm, struct err *e);

/* A file mapped read-only (initrd). */
struct blob {
	const char *name;
	const uint8_t *data;
	size_t size;
	void *map;
	size_t map_len;
};
int blob_open(struct blob *b, const char *path, uint64_t max, struct err *e);
void blob_close(struct blob *b);

/* Place an initrd at the highest page-aligned address below min(k->initrd_max, low RAM end)
 * and above the kernel. *gpa receives its address. */
int initrd_place(const struct kernel_image *k, const struct guest_mem *gm, const uint8_t *data,
                 size_t size, const char *name, uint64_t *gpa, struct err *e);

/* e820 map */
#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX      8
struct e820 {
	uint64_t addr, size;
	uint32_t type;
};
/* Fills out[] (at most E820_MAX) from the guest's RAM layout; returns the count. */
unsigned boot_e820(const struct guest_mem *gm, struct e820 *out);

/* Kernel command line: checked against the kernel's limit, written NUL-terminated to
 * CMDLINE_ADDR. */
int boot_cmdline(const struct kernel_image *k, const struct guest_mem *gm, const char *cmdline,
                 struct err *e);

struct boot_params_in {
	const char *cmdline; /* already validated by boot_cmdline() */
	uint64_t initrd_gpa, initrd_size;
	uint64_t acpi_rsdp; /* 0 if no ACPI */
};
/* Build the Linux zero page at ZERO_PAGE_ADDR (Linux boot protocol, 64-bit entry). */
int boot_linux_zero_page(const struct kernel_image *k, const struct guest_mem *gm,
                         const struct boot_params_in *in, struct err *e);
/* Build hvm_start_info at PVH_INFO_ADDR (Xen PVH boot ABI, version 1). */
int boot_pvh_start_info(const struct kernel_image *k, const struct guest_mem *gm,
                        const struct boot_params_in *in, struct err *e);
/* Intel MP spec 1.4 tables for ncpus processors, at MPTABLE_START. */
int boot_mptable(const struct guest_mem *gm, unsigned ncpus, struct err *e);
/* GDT and identity-mapped page tables for the 64-bit entry. */
int boot_x86_tables(const struct guest_mem *gm, struct err *e);

/* Boot protocol offsets in the zero page we read and write (Documentation/arch/x86/zero-page
 * and boot.rst). */
#define ZP_ACPI_RSDP         0x070
#define ZP_E820_ENTRIES      0x1e8
#define ZP_SETUP_HDR         0x1f1
#define ZP_BOOT_FLAG         0x1fe
#define ZP_HEADER            0x202
#define ZP_VERSION           0x206
#define ZP_TYPE_OF_LOADER    0x210
#define ZP_LOADFLAGS         0x211
#define ZP_CODE32_START      0x214
#define ZP_RAMDISK_IMAGE     0x218
#define ZP_RAMDISK_SIZE      0x21c
#define ZP_HEAP_END_PTR      0x224
#define ZP_CMD_LINE_PTR      0x228
#define ZP_INITRD_ADDR_MAX   0x22c
#define ZP_KERNEL_ALIGNMENT  0x230
#define ZP_RELOCATABLE       0x234
#define ZP_XLOADFLAGS        0x236
#define ZP_CMDLINE_SIZE      0x238
#define ZP_PREF_ADDRESS      0x258
#define ZP_INIT_SIZE         0x260
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE  0x0c4
#define ZP_EXT_CMD_LINE_PTR  0x0c8
#define ZP_E820_TABLE        0x2d0
#define ZP_E820_MAX          128

/* hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h) */
#define HVM_START_MAGIC          0x336ec578
#define PVH_INFO_SIZE            56
#define PVH_MEMMAP_TYPE_RAM      1
#define PVH_MEMMAP_TYPE_RESERVED 2

#endif
