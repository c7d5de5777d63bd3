/* boot/elf.c — ELF64 kernels: PT_LOAD segments at their physical addresses, and the Xen PVH
 * entry note (XEN_ELFNOTE_PHYS32_ENTRY, xen/include/public/elfnote.h). Every field read from
 * the file is checked against the file size and against sane bounds before use. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"

#define XEN_ELFNOTE_GUEST_OS     6
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_MAX_PHNUM            128
/* A kernel occupying more than this much guest-physical space is absurd, not big. */
#define ELF_MAX_FOOTPRINT (64ULL * GiB)

/* Scan one PT_NOTE segment: the PVH entry (sets *pvh) and whether the kernel is Linux (a note
 * owned by "Linux", or Xen's GUEST_OS note saying "linux"). Returns 0, or <0 if malformed. */
static int scan_notes(struct kernel_image *k, uint64_t off, uint64_t len, int *pvh, struct err *e)
{
	const uint8_t *p = k->data + off;
	uint64_t pos = 0;
	while (len - pos >= 12) {
		uint32_t namesz = le32(p + pos), descsz = le32(p + pos + 4),
		         type = le32(p + pos + 8);
		uint64_t name_off = pos + 12;
		uint64_t desc_off = name_off + ALIGN_UP((uint64_t)namesz, 4);
		uint64_t next = desc_off + ALIGN_UP((uint64_t)descsz, 4);
		if (desc_off > len || next > len)
			return err_set(e, -ENOEXEC, "%s: malformed ELF note at offset 0x%llx",
			               k->name, (unsigned long long)(off + pos));
		bool xen = namesz == 4 && memcmp(p + name_off, "Xen", 4) == 0;
		if (namesz == 6 && memcmp(p + name_off, "Linux", 6) == 0)
			k->is_linux = true;
		if (namesz == sizeof(FASTVMM_NOTE_OWNER) &&
		    memcmp(p + name_off, FASTVMM_NOTE_OWNER, namesz) == 0 &&
		    type == FASTVMM_NOTE_NO_LEGACY_IRQ)
			k->no_legacy_irq = true;
		if (xen && type == XEN_ELFNOTE_GUEST_OS && descsz >= 6 &&
		    memcmp(p + desc_off, "linux", 6) == 0)
			k->is_linux = true;
		if (xen && type == XEN_ELFNOTE_PHYS32_ENTRY && !*pvh) {
			if (descsz != 4 && descsz != 8)
				return err_set(
				        e, -ENOEXEC,
				        "%s: PVH entry note has a %u-byte value (want 4 or 8)",
				        k->name, descsz);
			uint64_t entry = descsz == 4 ? le32(p + desc_off) : le64(p + desc_off);
			if (entry >= MMIO_GAP_END)
				return err_set(e, -ENOEXEC,
				               "%s: PVH entry 0x%llx is not a 32-bit address",
				               k->name, (unsigned long long)entry);
			k->pvh_entry = entry;
			*pvh = 1;
		}
		pos = next;
	}
	return 0;
}

/* True if [addr, addr+1) lies in the file-backed part of some loaded segment. */
static bool in_loaded(const struct kernel_image *k, uint64_t addr)
{
	for (unsigned i = 0; i < k->nseg; i++)
		if (addr >= k->seg[i].paddr && addr - k->seg[i].paddr < k->seg[i].filesz)
			return true;
	return false;
}

int elf_parse(struct kernel_image *k, struct err *e)
{
	const uint8_t *d = k->data;
	if (k->size < sizeof(Elf64_Ehdr))
		return err_set(e, -ENOEXEC, "%s: truncated ELF header (%zu bytes)", k->name,
		               k->size);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)d;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return err_set(e, -ENOEXEC, "%s: 32-bit ELF; only ELF64 kernels are supported",
		               k->name);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return err_set(e, -ENOEXEC, "%s: ELF is not for x86-64", k->name);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return err_set(e, -ENOEXEC, "%s: ELF type %u is not an executable", k->name,
		               eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > ELF_MAX_PHNUM)
		return err_set(e, -ENOEXEC, "%s: bad program header table (%u entries of %u bytes)",
		               k->name, eh->e_phnum, eh->e_phentsize);
	uint64_t phend = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > k->size || phend > k->size - eh->e_phoff)
		return err_set(e, -ENOEXEC, "%s: program headers lie beyond the end of the file",
		               k->name);

	k->fmt = KF_ELF;
	k->load_lo = UINT64_MAX;
	k->load_hi = 0;
	int pvh = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, d + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (ph.p_offset > k->size || ph.p_filesz > k->size - ph.p_offset)
				return err_set(e, -ENOEXEC,
				               "%s: note segment %u lies beyond the file", k->name,
				               i);
			int r = scan_notes(k, ph.p_offset, ph.p_filesz, &pvh, e);
			if (r < 0)
				return r;
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue; /* TLS, GNU_STACK, empty loads ... */
		if (ph.p_filesz > ph.p_memsz)
			return err_set(e, -ENOEXEC, "%s: segment %u has filesz > memsz", k->name,
			               i);
		if (ph.p_offset > k->size || ph.p_filesz > k->size - ph.p_offset)
			return err_set(
			        e, -ENOEXEC,
			        "%s: segment %u (offset 0x%llx, %llu bytes) lies beyond the end "
			        "of the file (%zu bytes)",
			        k->name, i, (unsigned long long)ph.p_offset,
			        (unsigned long long)ph.p_filesz, k->size);
		if (ph.p_memsz > ELF_MAX_FOOTPRINT || ph.p_paddr > ELF_MAX_FOOTPRINT)
			return err_set(
			        e, -ENOEXEC,
			        "%s: segment %u is absurd (paddr 0x%llx, %llu bytes in memory)",
			        k->name, i, (unsigned long long)ph.p_paddr,
			        (unsigned long long)ph.p_memsz);
		/* Below 1 MiB live the zero page, page tables, MP and ACPI tables. */
		if (ranges_overlap(ph.p_paddr, ph.p_memsz, 0, HIMEM_START))
			return err_set(e, -ENOEXEC,
			               "%s: segment %u at 0x%llx overlaps the low-memory boot area "
			               "(below 1 MiB)",
			               k->name, i, (unsigned long long)ph.p_paddr);
		for (unsigned j = 0; j < k->nseg; j++)
			if (ranges_overlap(k->seg[j].paddr, k->seg[j].memsz, ph.p_paddr,
			                   ph.p_memsz))
				return err_set(
				        e, -ENOEXEC,
				        "%s: segment %u (0x%llx-0x%llx) overlaps another segment",
				        k->name, i, (unsigned long long)ph.p_paddr,
				        (unsigned long long)(ph.p_paddr + ph.p_memsz));
		if (k->nseg == KERNEL_MAX_SEGMENTS)
			return err_set(e, -ENOEXEC, "%s: more than %d loadable segments", k->name,
			               KERNEL_MAX_SEGMENTS);
		k->seg[k->nseg++] =
		        (struct kernel_segment){ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_paddr};
		if (ph.p_paddr < k->load_lo)
			k->load_lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > k->load_hi)
			k->load_hi = ph.p_paddr + ph.p_memsz;
	}
	if (k->nseg == 0)
		return err_set(e, -ENOEXEC, "%s: ELF has no loadable segment", k->name);
	if (k->load_hi - k->load_lo > ELF_MAX_FOOTPRINT)
		return err_set(e, -ENOEXEC, "%s: segments span an absurd %llu MiB", k->name,
		               (unsigned long long)((k->load_hi - k->load_lo) / MiB));

	k->entry = eh->e_entry;
	if (pvh) {
		k->fmt = KF_ELF_PVH;
		if (!in_loaded(k, k->pvh_entry))
			return err_set(e, -ENOEXEC,
			               "%s: PVH entry 0x%llx is not inside a loaded segment",
			               k->name, (unsigned long long)k->pvh_entry);
	} else if (!in_loaded(k, k->entry) || k->entry >= MMIO_GAP_END) {
		/* The 64-bit entry runs on our identity map of the low 4 GiB. */
		return err_set(e, -ENOEXEC,
		               "%s: entry point 0x%llx is not inside a loaded segment below 4 GiB",
		               k->name, (unsigned long long)k->entry);
	}
	/* No setup header: the defaults of the boot protocol for a kernel that gave none. */
	k->cmdline_max = (uint32_t)(CMDLINE_MAX - 1);
	k->initrd_max = MMIO_GAP_START;
	return 0;
}
