//! System-call numbers and the register convention.
//!
//! A system call is the `syscall` instruction with the number in `rax` and up to six
//! arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`. The result comes back in `rax`: a
//! non-negative value on success, a negative [`Error`](crate::Error) code on failure
//! (`GetTicks` returns a full `u64` and cannot fail). The CPU clobbers `rcx` and `r11`;
//! the kernel preserves every other register.

use num_enum::{IntoPrimitive, TryFromPrimitive};

/// The register convention as numbers, for code that reads and writes a saved context by
/// index (the kernel's system-call layer; the architecture maps each index to a register).
///
/// Arguments `0..ARGS` are `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9` and `r12` (the last only
/// for the fast path's fifth payload word, `abi::ipc::fast`). Results `0..RESULTS` are
/// the return value (`rax`), then the argument registers again: result `1 + i` is
/// argument register `i`, written back by the calls that return more than one word (a
/// receive's sender word and a send's status in `rdx`, the fast path's reply registers).
pub mod regs {
    /// Argument registers.
    pub const ARGS: usize = 7;
    /// Result registers.
    pub const RESULTS: usize = 1 + ARGS;
    /// The result index of the return value (`rax`).
    pub const VALUE: usize = 0;

    /// The result index that writes argument register `arg`.
    pub const fn result_of_arg(arg: usize) -> usize {
        1 + arg
    }

    /// The argument register a result index writes (`None` for the return value).
    pub const fn arg_of_result(result: usize) -> Option<usize> {
        if result == VALUE || result >= RESULTS {
            None
        } else {
            Some(result - 1)
        }
    }

    /// `rdx`, argument 2: the second word some calls return (see the module doc).
    pub const SECOND: usize = result_of_arg(2);
}

/// Decodes a thread id argument the way the Pebbles calls take one (`yield_to`,
/// `make_runnable`): the low 32 bits. Encoded by [`tid_word`].
pub const fn decode_tid(word: u64) -> i32 {
    word as u32 as i32
}

/// The argument word for a thread id (or `-1`, "any", for `yield_to`).
pub const fn tid_word(tid: i32) -> u64 {
    tid as u32 as u64
}

/// Decodes a 32-bit length or count argument (`new_pages`' length): the low 32 bits.
pub const fn decode_u32(word: u64) -> u32 {
    word as u32
}
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
    fn register_indices_round_trip() {
        for arg in 0..regs::ARGS {
            assert_eq!(regs::arg_of_result(regs::result_of_arg(arg)), Some(arg));
        }
        assert_eq!(regs::arg_of_result(regs::VALUE), None);
        assert_eq!(regs::arg_of_result(regs::RESULTS), None);
        assert_eq!(regs::arg_of_result(regs::SECOND), Some(2));
    }

    #[test]
    fn tid_and_length_words_round_trip() {
        for tid in [-1, 0, 1, 0x1234, i32::MAX, i32::MIN] {
            assert_eq!(decode_tid(tid_word(tid)), tid);
        }
        assert_eq!(decode_tid(0xffff_ffff_0000_0005), 5, "high bits ignored");
        for n in [0u32, 1, 4096, u32::MAX] {
            assert_eq!(decode_u32(n as u64), n);
        }
        assert_eq!(decode_u32(0x1_0000_1000), 0x1000);
    }

    #[test]
    fn numbers_are_dense() {
        for n in 0..Syscall::COUNT as u64 {
            assert_eq!(Syscall::try_from(n).map(u64::from), Ok(n));
        }
        assert!(Syscall::try_from(Syscall::COUNT as u64).is_err());
    }
}
