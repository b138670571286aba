//! One function per system call, with the specification's names and parameters
//! (DESIGN.md 3.3), returning the kernel's raw result: a non-negative value, or a negative
//! [`abi::Error`] code.
//!
//! The register convention is `abi::syscall`'s: number in `rax`, arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, result in `rax`; `rcx` and `r11` are clobbered by the `syscall`
//! instruction. Every register is bound explicitly below.

use abi::Syscall;
use core::arch::asm;

#[inline(always)]
fn syscall0(n: Syscall) -> i64 {
    let ret: i64;
    // SAFETY: a system call with no arguments touches no user memory.
    unsafe {
        asm!("syscall", inlateout("rax") n as u64 => ret, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// # Safety
/// The kernel may read or write memory the arguments point to; the caller vouches for it.
#[inline(always)]
unsafe fn syscall4(n: Syscall, a: u64, b: u64, c: u64, d: u64) -> i64 {
    let ret: i64;
    // SAFETY: the caller vouches for any memory the arguments name.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as u64 => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// The calling thread's id.
pub fn gettid() -> u32 {
    syscall0(Syscall::Gettid) as u32
}

/// Gives up the CPU: to thread `tid`, or to any runnable thread if `tid` is -1.
pub fn yield_to(tid: i32) -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall4(Syscall::YieldTo, tid as u64, 0, 0, 0) as i32 }
}

/// Blocks until `make_runnable`, unless `*reject` is non-zero (checked atomically with
/// respect to `make_runnable`).
///
/// # Safety
/// `reject` must point to a readable `i32` (the kernel checks, and fails with `BadAddress`
/// otherwise, but the caller must not rely on it for memory it does not own).
pub unsafe fn deschedule(reject: *const i32) -> i32 {
    // SAFETY: the kernel only reads `*reject`, after validating it.
    unsafe { syscall4(Syscall::Deschedule, reject as u64, 0, 0, 0) as i32 }
}

/// Wakes a thread blocked in `deschedule`.
pub fn make_runnable(tid: u32) -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall4(Syscall::MakeRunnable, tid as u64, 0, 0, 0) as i32 }
}

/// Sleeps for `ticks` timer ticks (`abi::TICK_HZ` per second).
pub fn sleep(ticks: i32) -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall4(Syscall::Sleep, ticks as u64, 0, 0, 0) as i32 }
}

/// Timer ticks since boot.
pub fn get_ticks() -> u64 {
    syscall0(Syscall::GetTicks) as u64
}

/// Maps `len` bytes of zeroed memory at `base` (both page-aligned).
///
/// # Safety
/// The new pages are fresh memory; the caller must not already use the range for anything
/// (the kernel refuses mapped ranges with `WindowOccupied`).
pub unsafe fn new_pages(base: *mut u8, len: u32) -> i32 {
    // SAFETY: the kernel maps only unmapped ranges, so no existing memory changes.
    unsafe { syscall4(Syscall::NewPages, base as u64, len as u64, 0, 0) as i32 }
}

/// Removes the region `new_pages` made at `base`.
///
/// # Safety
/// Nothing may use the region afterwards.
pub unsafe fn remove_pages(base: *mut u8) -> i32 {
    // SAFETY: the caller vouches that the region is no longer used.
    unsafe { syscall4(Syscall::RemovePages, base as u64, 0, 0, 0) as i32 }
}

/// Starts a thread in this task at `rip` with stack pointer `rsp`, `rdi = arg0`,
/// `rsi = arg1`. Returns its tid.
///
/// # Safety
/// `rip` must be code that never returns and `rsp` a stack it may use.
pub unsafe fn thread_create(rip: u64, rsp: u64, arg0: u64, arg1: u64) -> i32 {
    // SAFETY: the caller vouches for the new thread's code and stack.
    unsafe { syscall4(Syscall::ThreadCreate, rip, rsp, arg0, arg1) as i32 }
}

/// Ends the calling thread, removing the `new_pages` region at `stack_base` (its own
/// stack) if non-zero.
///
/// # Safety
/// If `stack_base` is non-zero, nothing else may use that region.
pub unsafe fn thread_exit(stack_base: u64) -> i32 {
    // SAFETY: the caller vouches for the region; on success this does not return.
    unsafe { syscall4(Syscall::ThreadExit, stack_base, 0, 0, 0) as i32 }
}

/// Starts boot-image program `name` with `arg`. Returns the task id.
pub fn task_spawn(name: &str, arg: u64) -> i32 {
    // SAFETY: the kernel only reads `name`.
    unsafe { syscall4(Syscall::TaskSpawn, name.as_ptr() as u64, name.len() as u64, arg, 0) as i32 }
}

/// Ends the calling task with `status`.
pub fn task_exit(status: i32) -> ! {
    // SAFETY: no memory is passed; the call does not return.
    unsafe { syscall4(Syscall::TaskExit, status as u64, 0, 0, 0) };
    unreachable!("task_exit returned")
}

/// Waits for task `id` to end; its status, encoded by `abi::syscall::encode_status`.
pub fn task_wait(id: u32) -> i64 {
    // SAFETY: no memory is passed.
    unsafe { syscall4(Syscall::TaskWait, id as u64, 0, 0, 0) }
}

/// Writes `bytes` to the console; returns how many were written.
pub fn print(bytes: &[u8]) -> i64 {
    // SAFETY: the kernel only reads `bytes`.
    unsafe { syscall4(Syscall::Print, bytes.as_ptr() as u64, bytes.len() as u64, 0, 0) }
}

/// Free physical frames in the whole machine (for leak checks).
pub fn free_frames() -> u64 {
    syscall0(Syscall::FreeFrames) as u64
}
