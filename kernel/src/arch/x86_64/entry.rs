//! The `syscall` entry, the per-CPU block it needs, and the two ways out of the kernel:
//! into a thread's saved frame, or into the idle loop.
//!
//! The stub sends each call number one of six ways (`syscall_routes`): `gettid`, answered
//! from the per-CPU block; the light path (`sys::fast::LIGHT`), which saves only what
//! Rust may clobber and returns to the caller by `sysretq`; `IpcCall` and `IpcReplyWait`,
//! which try the direct switch in assembly (`direct`) before the general path; `ipc_send`
//! and `ipc_recv`, which try their direct way (`run::syscall_spec`) first; `ipc_reply`,
//! by a light way of its own (`syscall_reply_entry`); and the general path for every
//! other call (`run::syscall`).
//!
//! Every thread's user registers live in a [`TrapFrame`] at the top of its kernel stack:
//! the CPU puts them there on an interrupt (TSS.rsp0 is that stack's top, which the
//! `syscall` stub loads as its stack too), and the `syscall` stub builds the same layout at
//! the same place (but for `gettid` and the light path, which never leave their caller and
//! save no frame; `IpcCall` and `IpcReplyWait` store all but the six slots nothing reads of
//! such a frame, and on the direct switch only what a blocked thread needs, see
//! [`TrapFrame`]). Leaving the kernel otherwise is
//! "point rsp at a frame and run the restore path" (`trap_restore`: pop, then `sysretq` for
//! a frame the `syscall` stub built, else `swapgs` if returning to user mode and `iretq`;
//! `trap_restore_switch`, which also resets the data segment selectors, when the thread is
//! not the one the kernel was entered from), but for the direct ways, which enter their
//! partner with the result registers in registers and read only the rest from the frame
//! (`sysret_exit_text`, resetting the selectors the same way).
//!
//! GS convention: in the kernel GS.base is the per-CPU block and KERNEL_GS_BASE holds the
//! user's value; `swapgs` on every user<->kernel transition keeps it so.

use super::frame::{TrapFrame, SYSCALL_VECTOR};
use super::gdt::{self, KERNEL_CODE, USER_CODE, USER_DATA};
use crate::mem::KernelStack;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use x86_64::registers::model_specific::{Efer, EferFlags, GsBase, KernelGsBase, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::gdt::SegmentSelector;
use x86_64::VirtAddr;

/// Per-CPU block at GS.base while in the kernel. Layout is used by the `syscall` stub.
/// The current thread's kernel stack is not kept here: the stub reads it where the CPU
/// does, TSS.rsp0 (`gdt`), so one store per switch sets both.
#[repr(C)]
struct PerCpu {
    /// Scratch: the user rsp during `syscall` entry.
    user_rsp: u64,
    /// The id of the thread whose kernel stack TSS.rsp0 is: the thread running in user
    /// mode, whose `gettid` the stub answers from here. Written with rsp0, by
    /// `Platform::switch_to`, which the kernel calls whenever the thread to run changes.
    /// 32 bits, as ids are; the stub loads it zero-extended into `rax`.
    tid: u32,
}

/// Where the per-CPU block's fields lie, for the stubs (here and in `direct`).
pub(crate) const PC_USER_RSP: usize = offset_of!(PerCpu, user_rsp);
pub(crate) const PC_TID: usize = offset_of!(PerCpu, tid);

struct PerCpuCell(UnsafeCell<PerCpu>);
// SAFETY: one CPU; written only by kernel code with interrupts disabled, read by the
// `syscall` stub, which runs with interrupts disabled (SFMASK clears IF).
unsafe impl Sync for PerCpuCell {}

// The light path runs below the frame's place and calls Rust 16-byte aligned: the frame
// must keep the stack's alignment.
const _: () = assert!(size_of::<TrapFrame>().is_multiple_of(16));

// The routing table picks light calls by shifting a 64-bit mask by the call number.
const _: () = assert!(abi::Syscall::COUNT <= u64::BITS as usize);

static PERCPU: PerCpuCell = PerCpuCell(UnsafeCell::new(PerCpu { user_rsp: 0, tid: 0 }));

core::arch::global_asm!(concat!(
    r#"
    .section .text.syscall, "ax"
    .global syscall_entry
    /* Every system call: onto the thread's kernel stack, then by number (`syscall_routes`)
       to one of the ways through the kernel that table lists. A number past the calls is
       clamped to the table's last entry (the general path, which refuses it) by a `cmov`,
       not a branch: a data dependency the CPU does not predict, so that not even a
       mispredicted bound reads, and jumps through, a word past the table (Spectre v1). It
       costs what the branch did. */
syscall_entry:
    swapgs
    mov %rsp, %gs:{pc_user_rsp}
    mov {tss}+{rsp0}(%rip), %rsp
    cmp ${count}, %rax
    cmovae syscall_past_the_calls(%rip), %rax
    jmp *syscall_routes(,%rax,8)

    /* The part of a `TrapFrame` the CPU pushes on an interrupt (`ss`, `rsp`, `rflags`,
       `cs`, `rip`), then the error code and vector, built from what `syscall` left: the
       user rsp saved in the per-CPU block, rflags in r11, rip in rcx. */
    .macro syscall_frame_header
    pushq ${user_ss}
    pushq %gs:{pc_user_rsp}
    pushq %r11
    pushq ${user_cs}
    pushq %rcx
    pushq $0
    pushq ${vector}
    .endm

    /* The general path: the whole frame (the header above, then the registers
       `trap_save` pushes), `run::syscall`, and out through `trap_restore`. */
syscall_general:
    syscall_frame_header
    jmp trap_save_syscall

    /* `IpcCall` and `IpcReplyWait` go to the direct switch in assembly (`direct`:
       `syscall_ipc_call`, `syscall_ipc_reply_wait`). */

    /* The spec's `ipc_send` and `ipc_recv` (its `ipc_reply` has a light way of its own,
       `syscall_reply_entry` below): the
       whole frame, as the general path's, then
       `run::syscall_spec`, which tries their direct way before the general path
       (`trap_save_spec`). */
syscall_spec:
    syscall_frame_header
    jmp trap_save_spec

    /* `gettid`: the running thread's id, kept in the per-CPU block (`PerCpu::tid`, 32
       bits, zero-extended into rax by the load). Only rax changes. RCX is the instruction after the user's `syscall`, so it is canonical,
       as `sysretq` needs (see `trap_restore`). */
gettid_entry:
    mov %gs:{pc_tid}, %eax
    mov %gs:{pc_user_rsp}, %rsp
    swapgs
    sysretq

    /* The light path (`sys::fast`): saves what the call must preserve and Rust may
       clobber (the caller-saved registers but rax, and rcx/r11, which hold the user rip
       and flags for `sysretq`), runs the call on the thread's kernel stack below the
       place of its saved frame (16-byte aligned at the `call`: the top is, the frame's
       size is a multiple of 16, and 8 pushes keep it so), and returns its value in rax.
       Interrupts stay off throughout (SFMASK), and the thread's saved frame is neither
       written nor read: the call never switches, and nothing of the kernel's lands in
       the frame's slots (`TrapFrame`, "The slots a system call's frame leaves"). */
    .macro light_save
    sub ${frame_size}, %rsp
    pushq %rcx
    pushq %r11
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %r8
    pushq %r9
    pushq %r10
    .endm
    .macro light_exit
    popq %r10
    popq %r9
    popq %r8
    popq %rdx
    popq %rsi
    popq %rdi
    popq %r11
    popq %rcx
    mov %gs:{pc_user_rsp}, %rsp
    swapgs
    sysretq
    .endm
light_entry:
    light_save
    mov %rax, %rdx
    call {light}
    light_exit

    /* `ipc_reply`: the light path's way, straight to `run::reply_syscall`
       (`Kernel::light_reply`) without the light calls' dispatch by number. The message
       pointer and length are already in rdi and rsi, the call's first two arguments. */
syscall_reply_entry:
    light_save
    call {reply}
    light_exit

    .section .rodata.syscall, "a"
    .balign 8
    /* The index a number past the calls is clamped to: the routing table's last entry. */
syscall_past_the_calls:
    .quad {count}
    /* Where each call number goes: `gettid_entry`, `syscall_ipc_call`, `syscall_ipc_reply_wait`, `syscall_spec`, `syscall_reply_entry`, `light_entry` for the
       calls of `sys::fast::LIGHT`, else `syscall_general`; then one entry more, for every
       number past the calls, `syscall_general`. */
syscall_routes:
    .set nr, 0
    .rept {count}
    .if nr == {gettid}
    .quad gettid_entry
    .elseif nr == {ipc_call}
    .quad syscall_ipc_call
    .elseif nr == {ipc_reply_wait}
    .quad syscall_ipc_reply_wait
    .elseif (nr == {ipc_send}) || (nr == {ipc_recv})
    .quad syscall_spec
    .elseif nr == {ipc_reply}
    .quad syscall_reply_entry
    .elseif ({light_mask} >> nr) & 1
    .quad light_entry
    .else
    .quad syscall_general
    .endif
    .set nr, nr + 1
    .endr
    .quad syscall_general
    "#),
    user_ss = const USER_DATA,
    user_cs = const USER_CODE,
    vector = const SYSCALL_VECTOR,
    count = const abi::Syscall::COUNT,
    gettid = const abi::Syscall::Gettid as u64,
    ipc_call = const abi::Syscall::IpcCall as u64,
    ipc_reply_wait = const abi::Syscall::IpcReplyWait as u64,
    ipc_send = const abi::Syscall::IpcSend as u64,
    ipc_recv = const abi::Syscall::IpcRecv as u64,
    ipc_reply = const abi::Syscall::IpcReply as u64,
    light = sym crate::run::light_syscall,
    reply = sym crate::run::reply_syscall,
    light_mask = const crate::sys::fast::LIGHT,
    tss = sym super::gdt::TSS,
    rsp0 = const super::gdt::RSP0,
    pc_user_rsp = const PC_USER_RSP,
    pc_tid = const PC_TID,
    frame_size = const size_of::<TrapFrame>(),
    options(att_syntax)
);

extern "C" {
    fn syscall_entry();
    fn trap_restore_switch();
}

/// Enables `syscall` and points it at the stub; sets up the GS bases.
pub fn init() {
    // SAFETY: PERCPU lives forever; the GS bases take effect in `swapgs` on entry/exit.
    GsBase::write(VirtAddr::from_ptr(PERCPU.0.get()));
    KernelGsBase::write(VirtAddr::zero());
    // Boot-time, fixed layout: the selectors are the constants the GDT is built from.
    Star::write(
        SegmentSelector(USER_CODE),
        SegmentSelector(USER_DATA),
        SegmentSelector(KERNEL_CODE),
        SegmentSelector(KERNEL_CODE + 8),
    )
    .expect("GDT layout fits STAR");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    // Cleared on entry: interrupts, direction, trap, alignment check (which would lift
    // SMAP), nested task (`iretq` raises #GP in ring 0 with it set, and a program can set
    // it with `popfq`) and IOPL (a program cannot raise it, but the kernel should not
    // depend on that). `sysretq` gives the program its own flags back from R11.
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_LOW
            | RFlags::IOPL_HIGH,
    );
    // SAFETY: SCE only makes `syscall` available; its MSRs are set just above.
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
}

/// Whether the slots of `frame` that the IPC stub leaves out and that `iretq` would read
/// (`ss`, `cs`, `error_code`) hold the user selectors and 0 or 2, as they do in every frame
/// of a live thread ([`TrapFrame`], "The slots a system call's frame leaves"): for the
/// debug assertion at every `IpcCall` and `IpcReplyWait` the direct switch declines
/// (`run::declined`), which a
/// kernel value landing there (as the light path's pushes once did) would fail.
pub fn left_slots_are_users(frame: &TrapFrame) -> bool {
    (frame.ss, frame.cs) == (USER_DATA as u64, USER_CODE as u64) && matches!(frame.error_code, 0 | 2)
}

/// Where a thread's user frame lives on its kernel stack.
pub fn frame_of(kstack_top: u64) -> *mut TrapFrame {
    (kstack_top - size_of::<TrapFrame>() as u64) as *mut TrapFrame
}

/// Writes the frame a new user thread starts from.
pub fn init_user_frame(kstack_top: u64, rip: u64, rsp: u64, arg0: u64, arg1: u64) {
    let frame = TrapFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: arg0,
        rsi: arg1,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: 0,
        error_code: 0,
        rip,
        cs: USER_CODE as u64,
        rflags: (RFlags::INTERRUPT_FLAG | RFlags::from_bits_retain(2)).bits(),
        rsp,
        ss: USER_DATA as u64,
    };
    // SAFETY: the top of a freshly allocated kernel stack, mapped and unused.
    unsafe { frame_of(kstack_top).write(frame) };
}

/// Makes `stack` the stack the CPU and the `syscall` stub enter on, that of thread `tid`
/// (which the `gettid` stub then answers).
pub fn set_kernel_stack(stack: &KernelStack, tid: u32) {
    // SAFETY: see `PerCpuCell`; in the kernel GS.base is the per-CPU block (set up by
    // `init` before the first thread runs, and kept so by `swapgs` on every transition),
    // so this is its `tid` field, written through GS as the stub reads it (no address to
    // load first).
    unsafe {
        core::arch::asm!(
            "mov dword ptr gs:[{tid}], {id:e}",
            id = in(reg) tid,
            tid = const PC_TID,
            options(nostack, preserves_flags)
        )
    };
    // The CPU's stack for interrupts from user mode, and the `syscall` stub's.
    gdt::set_rsp0(stack);
}

/// Leaves the kernel into the thread whose frame is at `frame` (its kernel stack, address
/// space and kernel-stack registration already set up by the caller). The data segment
/// selectors are reset on the way (`trap_restore_switch`), so nothing the previous thread
/// loaded into them reaches this one.
pub fn enter_thread(frame: *mut TrapFrame) -> ! {
    // SAFETY: `frame` is a complete user frame at the top of the thread's kernel stack;
    // `trap_restore_switch` pops it and returns to user mode. Nothing on the current stack
    // is needed any more.
    unsafe {
        core::arch::asm!(
            "mov rsp, {frame}",
            "jmp {restore}",
            frame = in(reg) frame,
            restore = sym trap_restore_switch,
            options(noreturn)
        )
    }
}

/// The null selector the ways into another thread load into the data segment registers
/// (see `trap_restore_switch` in `traps` for why each of them is reset).
pub(crate) static NULL_SELECTOR: u16 = 0;

/// The direct ways' exit into another thread by `sysretq`, for the spec calls' direct way
/// (`spec::enter`; the direct switch in assembly, `direct`, runs the same text,
/// [`sysret_exit_text!`]): the instructions `$pre` first (each way's own result and
/// argument registers), then the data segment selectors reset, the registers a system call
/// preserves (`rbx`, `rbp`, `r13`..`r15`) and the `sysretq` state (user `rip`, `rsp`,
/// `rflags`) read from the saved frame whose address is in `r11`, `swapgs`, `gs` reset and
/// `sysretq`; `$operands` are the way's own. One sequence, so that every direct way leaves
/// user mode the same way.
///
/// The caller's SAFETY argument must show: `r11` points at the saved frame of a thread the
/// `syscall` stub saved (its `rip` canonical and its flags the user's, as `sysretq` needs),
/// at the top of its live kernel stack, with its address space and kernel stack loaded;
/// interrupts are off (SFMASK) until `sysretq` loads the user's flags, so nothing runs on
/// the user stack in between; GS is reset only after the exit `swapgs`, as in
/// `trap_restore_switch`; `rbx` and `rbp` are written although LLVM reserves them, which
/// is sound because the block never returns.
macro_rules! sysret_through_frame {
    ([$($pre:literal),* $(,)?], $($operands:tt)*) => {
        core::arch::asm!(
            $($pre,)*
            $crate::arch::x86_64::entry::sysret_exit_text!(),
            null = sym $crate::arch::x86_64::entry::NULL_SELECTOR,
            f_rbx = const core::mem::offset_of!(TrapFrame, rbx),
            f_rbp = const core::mem::offset_of!(TrapFrame, rbp),
            f_r13 = const core::mem::offset_of!(TrapFrame, r13),
            f_r14 = const core::mem::offset_of!(TrapFrame, r14),
            f_r15 = const core::mem::offset_of!(TrapFrame, r15),
            f_rip = const core::mem::offset_of!(TrapFrame, rip),
            f_rsp = const core::mem::offset_of!(TrapFrame, rsp),
            f_rflags = const core::mem::offset_of!(TrapFrame, rflags),
            $($operands)*
            options(noreturn, nostack)
        )
    };
}

/// The direct ways' exit as text (Intel syntax), from "the data segment selectors reset"
/// to `sysretq` (see [`sysret_through_frame!`]): one sequence for the ways in Rust and for
/// the assembly direct switch (`direct`), which name its operands the same (`null`, the
/// null selector's symbol; `f_rbx`..`f_rflags`, the frame's offsets).
macro_rules! sysret_exit_text {
    () => {
        concat!(
            "mov ds, word ptr [rip + {null}]\n",
            "mov es, word ptr [rip + {null}]\n",
            "mov fs, word ptr [rip + {null}]\n",
            "mov rbx, [r11 + {f_rbx}]\n",
            "mov rbp, [r11 + {f_rbp}]\n",
            "mov r13, [r11 + {f_r13}]\n",
            "mov r14, [r11 + {f_r14}]\n",
            "mov r15, [r11 + {f_r15}]\n",
            "mov rcx, [r11 + {f_rip}]\n",
            "mov rsp, [r11 + {f_rsp}]\n",
            "mov r11, [r11 + {f_rflags}]\n",
            "swapgs\n",
            "mov gs, word ptr [rip + {null}]\n",
            "sysretq\n",
        )
    };
}
pub(crate) use sysret_exit_text;
pub(crate) use sysret_through_frame;

/// Idles on `stack_top` until an interrupt makes a thread runnable (the interrupt path then
/// enters it and never comes back here) or forever.
pub fn idle(stack_top: u64) -> ! {
    // SAFETY: `stack_top` is the top of the idle stack, used by nothing else; `sti; hlt`
    // is the race-free way to wait (the interrupt shadow of `sti` covers `hlt`).
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "2:",
            "sti",
            "hlt",
            "cli",
            "jmp 2b",
            top = in(reg) stack_top,
            options(noreturn)
        )
    }
}
