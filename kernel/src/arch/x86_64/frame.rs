//! What the trap path, the `syscall` entry, the PIC and the probes share: the saved
//! registers' layout ([`TrapFrame`]) and the vector numbers. A leaf: it depends on none of
//! them, so they depend on it and not on each other (before, `traps` and `entry`, `pic` and
//! `probe` each reached into the other for these).
//!
//! Invariant: `TrapFrame`'s layout is the one the assembly of `traps` and `entry` pushes
//! (or, in `entry`'s `IpcCall` and `IpcReplyWait` ways, stores by offset) and pops (checked
//! below at compile time).

/// The `vector` value of a frame built by the `syscall` stub (beyond every hardware vector).
pub const SYSCALL_VECTOR: u64 = 256;

pub const VEC_BREAKPOINT: u8 = 3;
pub const VEC_NMI: u8 = 2;
pub const VEC_DOUBLE_FAULT: u8 = 8;
pub const VEC_GENERAL_PROTECTION: u8 = 13;
pub const VEC_PAGE_FAULT: u8 = 14;
pub const VEC_MACHINE_CHECK: u8 = 18;
/// The PIC's IRQ 0..15 arrive at vectors 32..47.
pub const VEC_IRQ_BASE: u8 = 32;

/// The general registers pushed in [`TrapFrame`] order (`rax` first, so `r15` ends lowest),
/// as AT&T lines for the `global_asm!` blocks that build whole frames (`traps`; `entry`'s
/// IPC stubs store theirs by offset, see [`TrapFrame`]). A Rust macro beside the layout it
/// follows, not an assembler `.macro`: those do not carry from one `global_asm!` block to
/// another.
macro_rules! push_registers {
    () => {
        "
        pushq %rax
        pushq %rbx
        pushq %rcx
        pushq %rdx
        pushq %rsi
        pushq %rdi
        pushq %rbp
        pushq %r8
        pushq %r9
        pushq %r10
        pushq %r11
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        "
    };
}
pub(crate) use push_registers;

/// The registers saved on every trap, in stack order (lowest address first), at the top of
/// the thread's kernel stack.
///
/// # The slots a system call's frame leaves
///
/// The `syscall` stub's ways for `IpcCall` and `IpcReplyWait` (`direct`) store all but six
/// slots when the direct switch declines (`blocked_slots`, then `declined`), and all but
/// twelve when it switches (`blocked_slots` alone), which nothing reads of a frame the stub
/// built before they are written again:
///
/// - `ss`, `cs` and `error_code`: read only by `iretq` and by the trap path's test of where
///   a trap came from (`cs`, of a frame the CPU has just pushed), and a frame with the
///   `syscall` stub's vector leaves by `sysretq`.
/// - `rcx` and `r11`: `syscall` put the user's `rip` and flags in them, which the stub
///   stores as `rip` and `rflags`; `sysretq` takes them from those (`trap_restore`), and the
///   kernel reads neither slot of such a frame.
/// - `rax`: the call's number. The direct switch does not read it (the stub has routed by
///   it), the general path after a decline writes it first (`run::declined`), and a thread
///   blocked in the call is resumed only with its value written there (every result has
///   one) or by the direct switch, which passes `rax` in a register.
/// - On a switch, also `rdi`, `rsi`, `rdx`, `r8`, `r9` and `r10`, the arguments, which the
///   direct switch reads in registers: the thread it blocks waits in registers (`IpcCall`
///   for its reply, `IpcReplyWait` for a message), and such a wait ends only with every
///   result register written: by the direct switch, in registers; by a message or a reply
///   the general path delivers, into `Results`; or with zeros beside an error
///   (`Core::unblock`). (`r12`, the fifth payload word, is stored anyway, as
///   a register a system call preserves.)
///
/// A slot left out holds what the thread's earlier frame had there: its own registers or
/// a result written for it, and in `ss` and `cs` the user selectors, in `error_code` 0 or
/// 2 (every frame of a live thread has them: its first frame, written whole, the `syscall`
/// stub's other frames, and every interrupt from user mode; any exception from user mode
/// ends the task, or the machine, so no exception's frame is ever resumed; the 2 is the
/// clean flags the `iretq` exit pushes there once it has popped the registers,
/// `trap_restore`; checked in debug builds at every `IpcCall` and `IpcReplyWait`,
/// `entry::left_slots_are_users`). Nothing else writes the frame's place at the top of the
/// kernel stack: every way in from user mode builds its frame there (but the double fault,
/// NMI and machine check, on their own IST stacks), a trap taken in kernel mode pushes its
/// frame at the kernel's `rsp`, below, and the light path and every call into Rust run
/// below it (`entry`, `light_save`), so no kernel value lands in a slot.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// The assembly below addresses `cs` at this offset from the vector slot.
const _: () = assert!(core::mem::offset_of!(TrapFrame, cs) - core::mem::offset_of!(TrapFrame, vector) == 24);
const _: () = assert!(size_of::<TrapFrame>() == 22 * 8);

impl TrapFrame {
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}
