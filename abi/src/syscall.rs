//! System-call numbers and the register convention.
//!
//! A system call is the `syscall` instruction with the number in `rax` and up to six
//! arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`. The result comes back in `rax`: a
//! non-negative value on success, a negative [`Error`](crate::Error) code on failure
//! (`GetTicks` returns a full `u64` and cannot fail). The CPU clobbers `rcx` and `r11`;
//! the kernel preserves every other register.

use num_enum::{IntoPrimitive, TryFromPrimitive};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Every system call, by number. The kernel dispatches from one table indexed by this.
#[derive(Clone, Copy, PartialEq, Eq, Debug, IntoPrimitive, TryFromPrimitive)]
#[repr(u64)]
pub enum Syscall {
    /// `gettid() -> tid`
    Gettid = 0,
    /// `yield_to(tid: i32) -> 0`; -1 yields to any runnable thread.
    YieldTo = 1,
    /// `deschedule(reject: *const i32) -> 0`
    Deschedule = 2,
    /// `make_runnable(tid) -> 0`
    MakeRunnable = 3,
    /// `sleep(ticks: i32) -> 0`
    Sleep = 4,
    /// `get_ticks() -> u64`
    GetTicks = 5,
    /// `new_pages(base, len) -> 0`
    NewPages = 6,
    /// `remove_pages(base) -> 0`
    RemovePages = 7,
    /// `thread_create(rip, rsp, arg0, arg1) -> tid`: a new thread in the caller's task,
    /// starting at `rip` with `rsp`, `rdi = arg0`, `rsi = arg1`.
    ThreadCreate = 8,
    /// `thread_exit(stack_base) -> !`: ends the calling thread; if `stack_base` is
    /// non-zero, the `new_pages` region there (the thread's own stack) is removed with it.
    ThreadExit = 9,
    /// `task_spawn(name, name_len, arg) -> task id`: starts the boot-image program `name`;
    /// its first thread starts with `rdi = arg`.
    TaskSpawn = 10,
    /// `task_exit(status: i32) -> !`: ends every thread of the calling task.
    TaskExit = 11,
    /// `task_wait(task id) -> status`: blocks until that task has exited.
    TaskWait = 12,
    /// `print(buf, len) -> written`: writes the first `min(len, PRINT_MAX)` bytes to the
    /// kernel console and returns how many that was; callers loop for the rest.
    Print = 13,
    /// `free_frames() -> count`: free physical frames (for leak tests and diagnostics).
    FreeFrames = 14,
    /// `ipc_send(...)`: see `abi::ipc` for how the arguments travel.
    IpcSend = 15,
    /// `ipc_recv(...) -> RecvKind`, sender tid in `rdx`.
    IpcRecv = 16,
    /// `ipc_reply(message, message_len) -> 0`
    IpcReply = 17,
    /// The register fast path: a call whose message travels in registers (`abi::ipc::fast`).
    IpcCall = 18,
    /// The fast path's server side: reply (in registers) and wait for the next message.
    IpcReplyWait = 19,
    /// `irq_bind(irq) -> 0`: the calling thread receives IRQ `irq` as messages from
    /// `abi::ipc::KERNEL_TID`, flagged `RecvFlags::INTERRUPT`. Needs the IRQ's grant.
    IrqBind = 20,
    /// `irq_ack(irq) -> 0`: the bound driver is done with the interrupt; unmasks the line.
    IrqAck = 21,
    /// `kernel_stats(out: *mut KernelStats, len) -> size_of::<KernelStats>()`: fills the
    /// first `min(len, size)` bytes of `out` with how much of each kernel table is in use
    /// (for leak checks: the fuzzer compares them before and after a run).
    KernelStats = 22,
    /// `ps(out: *mut abi::ps::Record, capacity) -> total`: writes a record for each task
    /// and each living thread, at most `capacity` of them, and returns how many exist (more
    /// than `capacity`: the list was cut).
    Ps = 23,
    /// `image_programs(out: *mut abi::image::ProgramInfo, capacity) -> total`: the boot
    /// image's programs, in image order, at most `capacity` of them; returns how many the
    /// image holds.
    ImagePrograms = 24,
    /// `task_kill(task id) -> 0`: ends every thread of that task with status
    /// `abi::status::KILLED`. Allowed to the task's ancestors (whoever started it, and
    /// whoever started them) and to tasks granted `Grants::KILL`.
    TaskKill = 25,
}

impl Syscall {
    /// Number of system calls; numbers are dense from 0.
    pub const COUNT: usize = 26;
}

const _: () = assert!(Syscall::TaskKill as usize == Syscall::COUNT - 1);

/// What `kernel_stats` reports: how much of each bounded kernel resource is in use. Every
/// figure returns to its value once the threads and tasks that used it are gone, so a
/// difference after a test is a leak. Fields may be added at the end only.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct KernelStats {
    /// Free physical frames.
    pub free_frames: u64,
    /// Thread table slots in use (running, blocked, or exited but not yet reclaimed).
    pub threads_used: u32,
    /// Task table slots in use (live, or ended but not yet collected by `task_wait`).
    pub tasks_used: u32,
    /// Asynchronous messages buffered in the kernel (each holds one kernel buffer).
    pub async_buffers_used: u32,
    /// IRQ lines bound to a driver thread.
    pub irqs_bound: u32,
}

const _: () = assert!(size_of::<KernelStats>() == 24);

/// Most bytes one `print` call writes.
///
/// The kernel polls the UART with interrupts off for the whole call, so this bounds the
/// interrupt latency a program can cause by printing. On a real 16550 at 115200 baud a
/// character takes 87 µs: 64 bytes are 5.6 ms on the wire (11 ms if every byte is a
/// newline, sent as CR LF), within about one 10 ms timer tick, which the interrupt
/// controller holds pending meanwhile, so no tick is lost. It still fits a typical line,
/// which then reaches the console in one piece even when several threads print.
pub const PRINT_MAX: usize = 64;

/// Encodes a task exit status as `task_wait`'s return value: zero-extended, so it is never
/// negative and never mistaken for an error code (errors are negative 64-bit values).
pub const fn encode_status(status: i32) -> u64 {
    status as u32 as u64
}

/// Decodes `task_wait`'s return value.
pub fn decode_status(ret: i64) -> Result<i32, crate::Error> {
    if ret < 0 {
        Err(crate::Error::try_from(ret as i32).unwrap_or(crate::Error::InvalidArgument))
    } else {
        Ok(ret as u32 as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_survive_the_return_register() {
        for s in [0, 1, -1, -5, i32::MIN, i32::MAX, crate::status::faulted(14)] {
            assert_eq!(decode_status(encode_status(s) as i64), Ok(s));
        }
        assert_eq!(decode_status(crate::Error::NoSuchTask.code() as i64), Err(crate::Error::NoSuchTask));
    }

    #[test]
    fn numbers_are_dense() {
        for n in 0..Syscall::COUNT as u64 {
            assert_eq!(Syscall::try_from(n).map(u64::from), Ok(n));
        }
        assert!(Syscall::try_from(Syscall::COUNT as u64).is_err());
    }
}
