/* tests/unit/images.h — builders for synthetic kernel images (valid and malformed), so the
 * parser tests carry their own corpus instead of binary fixtures. */
#ifndef TEST_IMAGES_H
#define TEST_IMAGES_H

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "cc.h"

struct img {
	uint8_t *d;
	size_t n;
};

/* ELF64 x86-64 executable: phdrs follow the header; `pvh` & 1 adds a PT_NOTE with the Xen
 * PHYS32_ENTRY note (4-byte value) at the end of the file, `pvh` & 2 (in the same segment,
 * before it) a "Linux" note as vmlinux carries. Segment payloads are filled with
 * a recognisable byte pattern (0x40 + segment index). */
struct seg_spec {
	uint32_t type;
	uint64_t paddr, filesz, memsz;
};

static inline struct img elf_build(const struct seg_spec *segs, unsigned nseg, uint64_t entry,
                                   int pvh, uint32_t pvh_entry)
{
	unsigned nph = nseg + (pvh ? 1 : 0);
	size_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
	size_t total = off;
	for (unsigned i = 0; i < nseg; i++)
		total += segs[i].filesz;
	size_t note_off = total;
	size_t linux_note = (pvh & 2) ? 12 + 8 + 4 : 0;
	if (pvh)
		total += linux_note + ((pvh & 1) ? 12 + 4 + 4 : 0);
	struct img m = {calloc(1, total), total};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)m.d;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)nph;
	Elf64_Phdr *ph = (Elf64_Phdr *)(m.d + sizeof(Elf64_Ehdr));
	for (unsigned i = 0; i < nseg; i++) {
		ph[i].p_type = segs[i].type;
		ph[i].p_offset = off;
		ph[i].p_paddr = ph[i].p_vaddr = segs[i].paddr;
		ph[i].p_filesz = segs[i].filesz;
		ph[i].p_memsz = segs[i].memsz;
		memset(m.d + off, 0x40 + (int)i, segs[i].filesz);
		off += segs[i].filesz;
	}
	if (pvh) {
		Elf64_Phdr *n = &ph[nseg];
		n->p_type = PT_NOTE;
		n->p_offset = note_off;
		n->p_filesz = total - note_off;
		uint8_t *p = m.d + note_off;
		if (pvh & 2) {
			put_le32(p, 6);
			put_le32(p + 4, 4);
			put_le32(p + 8, 0x101);
			memcpy(p + 12, "Linux\0\0", 8);
			p += linux_note;
		}
		if (pvh & 1) {
			put_le32(p, 4);
			put_le32(p + 4, 4);
			put_le32(p + 8, 18);
			memcpy(p + 12, "Xen", 4);
			put_le32(p + 16, pvh_entry);
		}
	}
	return m;
}

/* The simplest valid kernel: one segment at 1 MiB, entry at its start. */
static inline struct img elf_simple(void)
{
	struct seg_spec s = {PT_LOAD, 0x100000, 0x1000, 0x3000};
	return elf_build(&s, 1, 0x100000, 0, 0);
}

static inline Elf64_Phdr *elf_phdr(struct img *m, unsigned i)
{
	return (Elf64_Phdr *)(m->d + sizeof(Elf64_Ehdr)) + i;
}

/* A synthetic bzImage: `setup_sects` setup sectors after the boot sector, then `payload`
 * bytes of protected-mode kernel (filled with 0xbb). Header fields per boot.rst. */
static inline struct img bz_build(uint8_t setup_sects, uint16_t version, size_t payload)
{
	size_t setup = ((size_t)(setup_sects ? setup_sects : 4) + 1) * 512;
	struct img m = {calloc(1, setup + payload), setup + payload};
	uint8_t *d = m.d;
	d[ZP_SETUP_HDR] = setup_sects;
	put_le16(d + ZP_BOOT_FLAG, 0xaa55);
	d[0x200] = 0xeb; /* jmp */
	d[0x201] = 0x66; /* header ends at 0x268 */
	memcpy(d + ZP_HEADER, "HdrS", 4);
	put_le16(d + ZP_VERSION, version);
	d[ZP_LOADFLAGS] = 0x01; /* LOADED_HIGH */
	put_le32(d + ZP_CODE32_START, 0x100000);
	put_le32(d + ZP_INITRD_ADDR_MAX, 0x7fffffff);
	put_le32(d + ZP_KERNEL_ALIGNMENT, 0x200000);
	d[ZP_RELOCATABLE] = 1;
	put_le16(d + ZP_XLOADFLAGS, 0x1 | 0x2); /* KERNEL_64, CAN_BE_LOADED_ABOVE_4G */
	put_le32(d + ZP_CMDLINE_SIZE, 2047);
	put_le64(d + ZP_PREF_ADDRESS, 0x1000000);
	put_le32(d + ZP_INIT_SIZE, 0x800000);
	memset(d + setup, 0xbb, payload);
	return m;
}

#endif
