//! One function per system call, with the specification's names and parameters (a
//! public contract other programs build on; docs/ipc.md describes the IPC calls),
//! returning the kernel's raw result: a non-negative value, or a negative [`abi::Error`]
//! code.
//!
//! The register convention is `abi::syscall`'s: number in `rax`, arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, result in `rax`; `rcx` and `r11` are clobbered by the `syscall`
//! instruction. Every register is bound explicitly below.

use abi::ipc::fast;
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

/// # Safety
/// As for `syscall4`; this one also passes `r8` and `r9` and returns `rdx` as well.
#[inline(always)]
unsafe fn syscall6(n: Syscall, a: [u64; 6]) -> (i64, u64) {
    // SAFETY: the caller vouches for any memory the arguments name.
    unsafe { syscall_number(n as u64, a) }
}

/// Any system-call number with six argument registers, exactly as given; returns `rax`
/// and `rdx`. For tests and fuzzers that must hand the kernel what no typed wrapper would
/// (numbers past the table, malformed register words); programs use the typed calls.
///
/// # Safety
/// The kernel may read or write memory the arguments point to, or end or block the
/// calling thread; the caller vouches for both.
#[inline(always)]
pub unsafe fn syscall_number(n: u64, a: [u64; 6]) -> (i64, u64) {
    let (ret, rdx): (i64, u64);
    // SAFETY: the caller vouches for any memory the arguments name.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            inlateout("rdx") a[2] => rdx,
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (ret, rdx)
}

/// Sends a long and/or short message to thread `id` (the specification's `ipc_send`).
///
/// `*len_short` bytes at `message_short` are sent; for a synchronous send (`option_sync`
/// of 1) the reply replaces them, up to that length, and `*len_short` becomes the reply's
/// length. `option_sync` is 0 for asynchronous, 1 for synchronous, 2 for synchronous
/// without reply. Returns 0 (delivered, and for a call replied to), 1 (asynchronous,
/// buffered), or a negative [`abi::Error`] code.
///
/// # Safety
/// `message_short` must be valid for `*len_short` bytes (written too, for option 1) and
/// `len_short` for a `u32`; the message pages for a long send must be the caller's. The
/// kernel checks all of it and fails with `BadAddress`, but cannot know whether the memory
/// is in use by something else in this program.
#[allow(clippy::too_many_arguments)] // the specification's signature
pub unsafe fn ipc_send(
    id: u32,
    message_long: *mut u8,
    message_short: *mut u8,
    len_long: u32,
    len_short: *mut u32,
    timeout: i32,
    shared: bool,
    option_sync: u32,
) -> i32 {
    // SAFETY: the same call, with the same arguments.
    unsafe { ipc_send_status(id, message_long, message_short, len_long, len_short, timeout, shared, option_sync).0 }
}

/// [`ipc_send`], also returning whether the long message's pages were transferred
/// (`abi::ipc::SendStatus`), which the kernel says on every return, failures included: a
/// call that fails after its pages reached the receiver (it died, or the timeout expired
/// before the reply) has lost moved pages; one that fails before has lost nothing.
///
/// # Safety
/// As for [`ipc_send`].
#[allow(clippy::too_many_arguments)] // the specification's signature
pub unsafe fn ipc_send_status(
    id: u32,
    message_long: *mut u8,
    message_short: *mut u8,
    len_long: u32,
    len_short: *mut u32,
    timeout: i32,
    shared: bool,
    option_sync: u32,
) -> (i32, abi::ipc::SendStatus) {
    let control = abi::ipc::SendControl { timeout, shared, option_sync }.encode();
    let args = [id as u64, message_long as u64, message_short as u64, len_long as u64, len_short as u64, control];
    // SAFETY: the caller vouches for the memory named.
    let (ret, status) = unsafe { syscall6(Syscall::IpcSend, args) };
    (ret as i32, abi::ipc::SendStatus::decode(status))
}

/// Receives one message (the specification's `ipc_recv`): returns 0 for a synchronous
/// sender now waiting for `ipc_reply`, 1 for an asynchronous message, 2 for a synchronous
/// sender that expects no reply, or a negative [`abi::Error`] code.
///
/// # Safety
/// `short_dest` must be writable for `*len_short` bytes, `len_short` and `len_long` valid
/// `u32`s, and `long_dest` a range the program does not use for anything else.
pub unsafe fn ipc_recv(
    long_dest: *mut u8,
    short_dest: *mut u8,
    len_long: *mut u32,
    len_short: *mut u32,
    timeout: i32,
) -> i32 {
    // SAFETY: as above.
    unsafe { ipc_recv_from(long_dest, short_dest, len_long, len_short, timeout).0 }
}

/// Who sent what [`ipc_recv_from`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The sending thread ([`abi::ipc::KERNEL_TID`] for an interrupt).
    pub tid: u32,
    /// The long message's pages arrived shared (the sender still maps them), not moved.
    pub shared: bool,
    /// Not a thread's message: an interrupt from the kernel (one byte, the IRQ number).
    pub interrupt: bool,
}

impl Sender {
    pub(crate) fn from_word(word: u64) -> Sender {
        let flags = abi::ipc::RecvFlags::from_bits_truncate((word >> 32) as u32);
        Sender {
            tid: word as u32,
            shared: flags.contains(abi::ipc::RecvFlags::SHARED),
            interrupt: flags.contains(abi::ipc::RecvFlags::INTERRUPT),
        }
    }
}

/// [`ipc_recv`], also returning the sender (valid when the result is non-negative).
///
/// # Safety
/// As for [`ipc_recv`].
pub unsafe fn ipc_recv_from(
    long_dest: *mut u8,
    short_dest: *mut u8,
    len_long: *mut u32,
    len_short: *mut u32,
    timeout: i32,
) -> (i32, Sender) {
    let args = [long_dest as u64, short_dest as u64, len_long as u64, len_short as u64, timeout as u32 as u64, 0];
    // SAFETY: the caller vouches for the memory named.
    let (ret, word) = unsafe { syscall6(Syscall::IpcRecv, args) };
    (ret as i32, Sender::from_word(word))
}

/// Replies to the last synchronous sender received (the specification's `ipc_reply`).
///
/// # Safety
/// `message` must be readable for `message_len` bytes.
pub unsafe fn ipc_reply(message: *const u8, message_len: u32) -> i32 {
    // SAFETY: the kernel only reads the message.
    unsafe { syscall4(Syscall::IpcReply, message as u64, message_len as u64, 0, 0) as i32 }
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

/// How much of each kernel table is in use: fills the first `min(len, size)` bytes of
/// `out` and returns the size of the kernel's `KernelStats` (or a negative error).
pub fn kernel_stats(out: &mut abi::syscall::KernelStats) -> i64 {
    let len = size_of::<abi::syscall::KernelStats>() as u64;
    // SAFETY: `out` is valid for writes of `len` bytes, and every bit pattern is a valid
    // `KernelStats` (plain integers).
    unsafe { syscall4(Syscall::KernelStats, out as *mut _ as u64, len, 0, 0) }
}

/// Lists tasks and threads: fills up to `out.len()` records; returns how many exist (or a
/// negative error).
pub fn ps(out: &mut [abi::ps::Record]) -> i64 {
    // SAFETY: `out` is valid for writes of `out.len()` records, and every bit pattern is a
    // valid `Record` (plain integers and bytes).
    unsafe { syscall4(Syscall::Ps, out.as_mut_ptr() as u64, out.len() as u64, 0, 0) }
}

/// Lists the boot image's programs: fills up to `out.len()` entries; returns how many the
/// image holds (or a negative error).
pub fn image_programs(out: &mut [abi::image::ProgramInfo]) -> i64 {
    // SAFETY: as for `ps`: writable records of plain integers and bytes.
    unsafe { syscall4(Syscall::ImagePrograms, out.as_mut_ptr() as u64, out.len() as u64, 0, 0) }
}

/// Ends task `id` (allowed to its ancestors and to tasks granted the kill power).
pub fn task_kill(id: u32) -> i32 {
    // SAFETY: no memory is passed; killing one's own task does not return, which is fine.
    unsafe { syscall4(Syscall::TaskKill, id as u64, 0, 0, 0) as i32 }
}

/// A fast-path system call: `rdi`, `rsi` and the five payload registers in, the same out
/// (`rax`, `rdi`, `rsi`, the five words). Public for tests that must send register words
/// no encoder in `abi::ipc::fast` would make; programs use [`ipc_call_fast`] and
/// [`ipc_reply_wait`].
///
/// # Safety
/// Registers only; the kernel reads and writes exactly those named here.
#[inline(always)]
pub unsafe fn fast_syscall(n: Syscall, rdi: u64, rsi: u64, words: [u64; 5]) -> (i64, u64, u64, [u64; 5]) {
    let (ret, rdi_out, rsi_out): (i64, u64, u64);
    let mut w = words;
    // SAFETY: see above.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as u64 => ret,
            inlateout("rdi") rdi => rdi_out,
            inlateout("rsi") rsi => rsi_out,
            inlateout("rdx") w[0],
            inlateout("r10") w[1],
            inlateout("r8") w[2],
            inlateout("r9") w[3],
            inlateout("r12") w[4],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (ret, rdi_out, rsi_out, w)
}

/// The fast path's call (`abi::ipc::fast`): `len` bytes of message in `words`; returns the
/// result (0 or a negative error code), the reply's length and the reply.
///
/// # Safety
/// None beyond `ipc_send`'s: no memory is passed. (Unsafe for symmetry with the raw IPC
/// calls: a call transfers control to another thread.)
pub unsafe fn ipc_call_fast(to: u32, len: usize, words: [u64; 5], timeout: i32) -> (i32, usize, [u64; 5]) {
    // SAFETY: registers only.
    let (ret, _, rlen, w) =
        unsafe { fast_syscall(Syscall::IpcCall, fast::call_word(to, len), fast::timeout_word(timeout), words) };
    (ret as i32, rlen as usize, w)
}

/// The fast path's server call: replies `reply` (length, words) to the last call received
/// (none: just wait), then waits up to `timeout` for the next message. Returns the kind
/// (or a negative error code), the sender, the message length and the message.
///
/// # Safety
/// As for [`ipc_call_fast`].
pub unsafe fn ipc_reply_wait(reply: Option<(usize, [u64; 5])>, timeout: i32) -> (i32, Sender, usize, [u64; 5]) {
    let (rdi, words) = match reply {
        Some((len, words)) => (fast::reply_word(Some(len)), words),
        None => (fast::reply_word(None), [0; 5]),
    };
    // SAFETY: registers only.
    let (ret, word, len, w) = unsafe { fast_syscall(Syscall::IpcReplyWait, rdi, fast::timeout_word(timeout), words) };
    (ret as i32, Sender::from_word(word), len as usize, w)
}

/// Binds IRQ `irq` to the calling thread (the task needs the IRQ's grant).
pub fn irq_bind(irq: u8) -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall4(Syscall::IrqBind, irq as u64, 0, 0, 0) as i32 }
}

/// Acknowledges IRQ `irq`: the driver has handled it; the line is unmasked.
pub fn irq_ack(irq: u8) -> i32 {
    // SAFETY: no memory is passed.
    unsafe { syscall4(Syscall::IrqAck, irq as u64, 0, 0, 0) as i32 }
}
