/* guests/start64.S — Linux 64-bit boot protocol entry: long mode, RSI = zero page. */
	.code64
	.section .text.entry, "ax"
	.globl _start
_start:
	lea	stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	linux_entry
1:	cli
	hlt
	jmp	1b

	.section .bss
	.balign 16
	.space 4096
stack_top:

	/* fastvmm note FASTVMM_NOTE_NO_LEGACY_IRQ (include/boot.h): this guest uses neither
	 * the 8259 PIC nor the 8254 PIT, so --irqchip auto gives it a split irqchip. */
	.section .note.fastvmm, "a", @note
	.balign 4
	.long	8		/* namesz: "fastvmm\0" */
	.long	0		/* descsz */
	.long	1		/* FASTVMM_NOTE_NO_LEGACY_IRQ */
	.asciz	"fastvmm"
