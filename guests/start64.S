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
