//! The PVH entry: from QEMU's 32-bit protected-mode hand-off to Rust in the higher half.
//!
//! QEMU (`-kernel` with a PVH note) enters `pvh_entry32` in 32-bit protected mode, paging
//! off, `%ebx` = physical address of `hvm_start_info`. This code:
//! 1. zeroes `.bss` (the boot stack and the boot page tables live there);
//! 2. builds boot page tables mapping physical 0..1 GiB twice, with 2 MiB pages: at 0
//!    (identity, so this code keeps running when paging turns on and Rust can read boot
//!    data by physical address) and at `KERNEL_VMA` (where the kernel is linked);
//! 3. enables PAE, long mode and paging (with CR0.WP, so read-only means read-only in ring
//!    0 too), loads a minimal 64-bit GDT and far-jumps into 64-bit code;
//! 4. switches to the boot stack and calls `kernel_entry` (in this module's parent,
//!    `arch::x86_64`) with the start-info address.
//!
//! These tables are temporary: `paging::init` replaces them with the kernel's real tables
//! (W^X, direct map, no identity map) before anything else runs.

use core::arch::global_asm;

/// Size of the stack Rust starts on. Only early boot uses it; afterwards the kernel runs on
/// a stack with a guard page (see `paging::KernelStack`).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .set KERNEL_VMA, 0xffffffff80000000
    .set PTE_P,  1 << 0
    .set PTE_W,  1 << 1
    .set PTE_PS, 1 << 7

    .section .note.pvh, "a", @note
    .balign 4
    .long 4                 /* namesz: "Xen\0" */
    .long 8                 /* descsz */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_entry32       /* QEMU reads a 64-bit value for an ELF64 kernel */
    .balign 4

    .section .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
boot_stack_top:

    .section .boot.rodata, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, ring 0 */
    .quad 0x00cf92000000ffff    /* 0x10: data, ring 0 */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .boot.text, "ax"
    .code32
    .global pvh_entry32
pvh_entry32:
    cli
    cld
    mov %ebx, %esi                              /* keep the start_info address */

    mov $(__bss_start - KERNEL_VMA), %edi       /* zero .bss */
    mov $(__bss_end - KERNEL_VMA), %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    /* boot_pd: 512 x 2 MiB = physical 0..1 GiB */
    mov $(boot_pd - KERNEL_VMA), %edi
    mov $(PTE_P | PTE_W | PTE_PS), %eax
    mov $512, %ecx
1:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b

    mov $(boot_pd - KERNEL_VMA + (PTE_P | PTE_W)), %eax
    mov %eax, (boot_pdpt_low - KERNEL_VMA)                  /* 0 .. 1 GiB */
    mov %eax, (boot_pdpt_high - KERNEL_VMA + 510 * 8)       /* -2 GiB .. -1 GiB */
    mov $(boot_pdpt_low - KERNEL_VMA + (PTE_P | PTE_W)), %eax
    mov %eax, (boot_pml4 - KERNEL_VMA)
    mov $(boot_pdpt_high - KERNEL_VMA + (PTE_P | PTE_W)), %eax
    mov %eax, (boot_pml4 - KERNEL_VMA + 511 * 8)

    mov $(boot_pml4 - KERNEL_VMA), %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $(1 << 5), %eax                          /* CR4.PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx                       /* EFER.LME */
    rdmsr
    or $(1 << 8), %eax
    wrmsr
    mov %cr0, %eax
    or $((1 << 31) | (1 << 16)), %eax           /* CR0.PG | CR0.WP */
    mov %eax, %cr0

    lgdt (boot_gdt_ptr)
    ljmp $0x08, $pvh_entry64

    .code64
pvh_entry64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $boot_stack_top, %rsp
    movabs $2f, %rax
    jmp *%rax

    .section .text.boot64, "ax"
2:  mov %esi, %edi                              /* arg 0: start_info physical address */
    xor %ebp, %ebp                              /* terminates frame-pointer walks */
    call kernel_entry
    ud2
    "#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);
