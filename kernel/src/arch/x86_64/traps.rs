//! Trap entry: one assembly stub per vector, a common path that saves every general
//! register into a [`TrapFrame`], and `dispatch`, which decides what the trap means.
//!
//! Invariants: each stub pushes an error code (a zero where the CPU does not push one)
//! and its vector number, so every frame has the same layout; `swapgs` is executed exactly
//! when the trap came from user mode (CS RPL 3), on the way in and on the way out; the
//! stack is 16-byte aligned at the call into Rust. The restore path (`trap_restore`) is also
//! the way out of `syscall`: a frame whose vector is `SYSCALL_VECTOR` leaves by `sysretq`.
//! The kernel runs with RFLAGS.NT, AC, DF, TF and IOPL clear whichever way it was entered
//! (the CPU, SFMASK and `trap_common` see to it), leaves by `iretq` with NT clear, and
//! resets the data segment selectors when it enters a different thread
//! (`trap_restore_switch`).
//!
//! An exception taken in kernel mode is a kernel bug unless it is one of the deliberate
//! ones (a fault inside a `probe` routine, or `int3`): it is reported with every register
//! and the machine powers off with `GuestExit::KernelPanic`.

use super::frame::*;
use super::{paging, pic, power, probe};
use crate::sys::UserFault;
use crate::userfault::PageFaultCode;
use abi::report::GuestExit;
use abi::status::exception_name;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::Cr2;

core::arch::global_asm!(concat!(
    r#"
    .altmacro
    .macro trap_stub n
        .balign 16
    trap_stub_\n:
        .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
        .else
        pushq $0
        .endif
        pushq $\n
        jmp trap_common
    .endm
    .macro trap_stub_addr n
        .quad trap_stub_\n
    .endm

    /* Pops the frame at rsp and leaves through it. `fresh`: also reset GS to null, which
       must happen after the exit `swapgs` (see `trap_restore_switch`). */
    .macro leave_through_frame fresh
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    cmpq ${syscall_vector}, (%rsp)
    je 3f
    testb $3, 24(%rsp)
    jz 2f
    swapgs
    .if \fresh
    mov null_selector(%rip), %gs
    .endif
2:  add $16, %rsp
    /* `iretq` with RFLAGS.NT set raises #GP: whatever the kernel's flags became, leave
       with clean ones (the frame's own flags are what `iretq` loads). The push lands in
       the frame's error code slot, which nothing reads again (`TrapFrame`). */
    pushq $2
    popfq
    iretq
    /* A frame built by the `syscall` stub goes back with `sysretq`. Its RIP is the
       instruction after the user's own `syscall`, so it is canonical (a non-canonical RCX
       would make `sysretq` fault in ring 0). RCX and R11 are clobbered by the ABI. */
3:  mov 16(%rsp), %rcx
    mov 32(%rsp), %r11
    mov 40(%rsp), %rsp
    swapgs
    .if \fresh
    mov null_selector(%rip), %gs
    .endif
    sysretq
    .endm

    /* The general registers, in `TrapFrame` order (`frame::push_registers`). */
    .macro save_registers
    "#,
    push_registers!(),
    r#"
    .endm

    .section .text.traps, "ax"
    .set i, 0
    .rept 256
        trap_stub %i
        .set i, i + 1
    .endr

trap_common:
    testb $3, 24(%rsp)
    jz trap_save
    swapgs
    /* From user mode: start from clean flags. The CPU clears IF, TF and NT on the way in
       but not AC, which user mode may set and which would switch SMAP off in the kernel. */
    pushq $2
    popfq
    .global trap_save
trap_save:
    save_registers
    mov %rsp, %rdi
    cld
    call {dispatch}
    .global trap_restore
trap_restore:
    leave_through_frame 0

    /* The `syscall` stub's frames: the same registers, given straight to `run::syscall`
       instead of `dispatch`, which would only find the vector to be `SYSCALL_VECTOR`; out
       the same way. (`IpcCall` and `IpcReplyWait` save theirs in the stub itself, see
       `direct`; `ipc_send` and `ipc_recv` go to `run::syscall_spec` through
       `trap_save_spec`.) No `cld`: `syscall` cleared DF (SFMASK). */
    .global trap_save_syscall
trap_save_syscall:
    save_registers
    mov %rsp, %rdi
    call {syscall}
    jmp trap_restore
    .global trap_save_spec
trap_save_spec:
    save_registers
    mov %rsp, %rdi
    call {syscall_spec}
    jmp trap_restore

    /* The way into a thread other than the one the kernel was entered from
       (`entry::enter_thread`): the same, after resetting the data segment selectors to
       null. The kernel does not save them per thread (64-bit code has no use for them),
       so without this a value one thread loads would be read by the next one to run.
       Returning to the thread the kernel was entered from (every system call that does
       not switch) skips it: that thread keeps its own values, at no cost.
       - DS, ES: ignored for addressing in 64-bit mode; the kernel does not rely on them.
       - FS: the kernel never uses FS. A load also sets FS.base (Intel: to 0; AMD keeps it
         for a null selector), but a program's FS.base is always 0: CR4.FSGSBASE is off, no
         system call sets it, and every descriptor a program can load has base 0. (Giving
         threads their own FS.base would make it per-thread state to restore here.)
       - GS: in the kernel GS.base is the per-CPU block; loading GS now would overwrite it
         (Intel), and the exit `swapgs` would then leave the per-CPU pointer lost. So GS is
         reset only after that `swapgs`, when GS.base holds the program's value (0, as for
         FS) and the per-CPU pointer is in KERNEL_GS_BASE, which no selector load touches.
         Interrupts stay off until `sysretq`/`iretq`. */
    .global trap_restore_switch
trap_restore_switch:
    mov null_selector(%rip), %ds
    mov null_selector(%rip), %es
    mov null_selector(%rip), %fs
    leave_through_frame 1

    .section .rodata.traps, "a"
null_selector:
    .word 0
    .balign 8
    .global trap_stub_table
trap_stub_table:
    .set i, 0
    .rept 256
        trap_stub_addr %i
        .set i, i + 1
    .endr
    .noaltmacro
    "#),
    dispatch = sym dispatch,
    syscall = sym crate::run::syscall,
    syscall_spec = sym crate::run::syscall_spec,
    syscall_vector = const SYSCALL_VECTOR,
    options(att_syntax)
);

extern "C" {
    static trap_stub_table: [u64; 256];
}

/// The entry address of the stub for `vector`.
pub fn stub_address(vector: u8) -> u64 {
    // SAFETY: `trap_stub_table` is a read-only table of 256 addresses defined above.
    unsafe { trap_stub_table[vector as usize] }
}

/// Kernel-mode `int3`s taken so far (the self-tests use them to exercise the trap path).
pub static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// Every entry into the kernel from a trap or `syscall` lands here, on the current thread's
/// kernel stack (or the idle stack). It returns to resume the interrupted context, or
/// diverges into another thread via `entry::enter_thread`.
///
/// `frame` stays a raw pointer: the kernel may write results into this very frame while
/// deciding what runs next (`run::leave`), so no reference to it is held across an entry.
extern "C" fn dispatch(frame: *mut TrapFrame) {
    // SAFETY: the trap path passes the frame it just saved on this stack; it is read here
    // and the copy's fields used below, with no reference kept.
    let (vector, from_user) = unsafe { ((*frame).vector, (*frame).from_user()) };
    if vector == SYSCALL_VECTOR {
        return crate::run::syscall(frame);
    }
    let vector = vector as u8;
    match vector {
        0..=31 => exception(frame, vector, from_user),
        v if (VEC_IRQ_BASE..VEC_IRQ_BASE + 16).contains(&v) => {
            let irq = v - VEC_IRQ_BASE;
            match pic::handle_irq(irq) {
                Some(pic::IRQ_TIMER) => crate::run::timer_tick(from_user),
                Some(irq) => crate::run::device_irq(irq, from_user),
                None => {} // spurious
            }
        }
        // SAFETY: as above; the fatal path only reads the frame.
        _ => fatal(unsafe { &*frame }, "unexpected interrupt vector"),
    }
}

fn exception(frame: *mut TrapFrame, vector: u8, from_user: bool) {
    if from_user && !matches!(vector, VEC_DOUBLE_FAULT | VEC_NMI | VEC_MACHINE_CHECK) {
        let cr2 = if vector == VEC_PAGE_FAULT { Cr2::read_raw() } else { 0 };
        // SAFETY: the trap's own frame, read once into a copy; no reference is kept.
        let f = unsafe { &*frame };
        let fault =
            UserFault { vector, error_code: f.error_code, rip: f.rip, rsp: f.rsp, rbp: f.rbp, fault_address: cr2 };
        return crate::run::user_fault(fault);
    }
    // SAFETY: a kernel-mode trap's frame on the current stack; the kernel state is not
    // involved, so this is the only reference to it while it lives.
    let frame = unsafe { &mut *frame };
    if !from_user {
        if vector == VEC_BREAKPOINT {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if matches!(vector, VEC_PAGE_FAULT | VEC_GENERAL_PROTECTION) && probe::recover(frame) {
            return;
        }
    }
    fatal(frame, "unexpected exception")
}

/// Reports the trap with every register and powers off. Used for kernel bugs only.
fn fatal(frame: &TrapFrame, why: &str) -> ! {
    x86_64::instructions::interrupts::disable();
    let mut out = crate::console::emergency();
    let vector = frame.vector as u8;
    let _ = writeln!(
        out,
        "\nKERNEL EXCEPTION: {why}: {} (vector {vector}) in {} mode, error code {:#x}",
        exception_name(vector),
        if frame.from_user() { "user" } else { "kernel" },
        frame.error_code
    );
    if vector == VEC_PAGE_FAULT || vector == VEC_DOUBLE_FAULT {
        let cr2 = Cr2::read_raw();
        if vector == VEC_PAGE_FAULT {
            let _ = writeln!(out, "  fault address (cr2) = {cr2:#018x}: {}", PageFaultCode(frame.error_code));
        } else {
            let _ = writeln!(out, "  last page-fault address (cr2) = {cr2:#018x}");
        }
        if paging::in_stack_region(cr2) {
            let _ = writeln!(out, "  the address is below a kernel stack, in its guard: kernel stack overflow");
        }
    }
    let f = frame;
    let _ =
        writeln!(out, "  rip={:#018x} cs={:#x} rflags={:#x} rsp={:#018x} ss={:#x}", f.rip, f.cs, f.rflags, f.rsp, f.ss);
    let _ = writeln!(out, "  rax={:#018x} rbx={:#018x} rcx={:#018x} rdx={:#018x}", f.rax, f.rbx, f.rcx, f.rdx);
    let _ = writeln!(out, "  rsi={:#018x} rdi={:#018x} rbp={:#018x}", f.rsi, f.rdi, f.rbp);
    let _ = writeln!(out, "  r8 ={:#018x} r9 ={:#018x} r10={:#018x} r11={:#018x}", f.r8, f.r9, f.r10, f.r11);
    let _ = writeln!(out, "  r12={:#018x} r13={:#018x} r14={:#018x} r15={:#018x}", f.r12, f.r13, f.r14, f.r15);
    power::exit(GuestExit::KernelPanic)
}
