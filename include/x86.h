/* include/x86.h — architectural constants for the boot CPU state. */
#ifndef FASTVMM_X86_H
#define FASTVMM_X86_H

/* GDT layout. The Linux 64-bit boot protocol wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18;
 * PVH wants any flat 32-bit code segment, here 0x08. The 64-bit TSS descriptor at 0x20 takes
 * two slots. */
#define GDT_ENTRIES 6
#define SEL_CODE32  0x08
#define SEL_CODE64  0x10
#define SEL_DATA    0x18
#define SEL_TSS     0x20
#define GDT_CODE64  0x00af9b000000ffffULL /* L=1, P, DPL0, code r/x, accessed */
#define GDT_DATA    0x00cf93000000ffffULL /* 4 GiB flat r/w */
#define GDT_TSS     0x00008b0000000067ULL /* busy 64-bit TSS, base 0 */
#define GDT_CODE32  0x00cf9b000000ffffULL /* D=1, 4 GiB flat r/x */

#define PTE_P  0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

#define CR0_PE   0x1ULL
#define CR0_MP   0x2ULL
#define CR0_ET   0x10ULL
#define CR0_NE   0x20ULL
#define CR0_WP   0x10000ULL
#define CR0_PG   0x80000000ULL
#define CR4_PAE  0x20ULL
#define EFER_SCE 0x1ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define MSR_IA32_TSC            0x10
#define MSR_IA32_APICBASE       0x1b
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1ULL

#endif
