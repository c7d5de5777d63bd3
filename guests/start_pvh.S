/* guests/start_pvh.S — PVH entry (Xen HVM direct boot ABI): 32-bit protected mode, paging
 * off, EBX = hvm_start_info. Switches to long mode on statically initialised page tables
 * (no loops: every guest instruction costs microseconds on an emulating host). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign 4
	.long	4		/* namesz: "Xen\0" */
	.long	4		/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.long	_start32

	.code32
	.section .text.entry, "ax"
	.globl _start32
_start32:
	mov	%ebx, %esi
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$0xc0000080, %ecx	/* EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG | PE */
	mov	%eax, %cr0
	lgdt	gdt_desc
	ljmp	$0x08, $long_mode

	.code64
long_mode:
	mov	$0x10, %eax		/* our data selector: an iretq reloads SS from the GDT */
	mov	%eax, %ss
	mov	%eax, %ds
	mov	%eax, %es
	mov	$stack_top_pvh, %rsp
	mov	%esi, %edi
	call	pvh_entry
1:	cli
	hlt
	jmp	1b

	.section .data
	.balign 4096
pml4:	.quad	pdpt + 3
	.fill	511, 8, 0
pdpt:	.quad	pd + 3, pd + 0x1000 + 3, pd + 0x2000 + 3, pd + 0x3000 + 3
	.fill	508, 8, 0
	/* 0-4 GiB identity-mapped in 2 MiB pages, as the 64-bit entry's tables (boot/x86_64.c):
	 * RAM, the virtio-mmio windows at 0xd0000000, the IOAPIC and the LAPIC at 0xfee00000.
	 * Built by the assembler (qemu64 has no 1 GiB pages). */
pd:
	.set	pg, 0
	.rept	2048
	.quad	(pg << 21) | 0x83
	.set	pg, pg + 1
	.endr
	.balign 8
gdt:	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	gdt

	.section .bss
	.balign 16
	.space 4096
stack_top_pvh:

	/* fastvmm note FASTVMM_NOTE_NO_LEGACY_IRQ (include/boot.h): this guest uses neither
	 * the 8259 PIC nor the 8254 PIT, so --irqchip auto gives it a split irqchip. */
	.section .note.fastvmm, "a", @note
	.balign 4
	.long	8		/* namesz: "fastvmm\0" */
	.long	0		/* descsz */
	.long	1		/* FASTVMM_NOTE_NO_LEGACY_IRQ */
	.asciz	"fastvmm"
