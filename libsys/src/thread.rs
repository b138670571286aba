//! Threads in the calling task.
//!
//! Each spawned thread gets a stack from `new_pages` in its own slot of libsys's region,
//! with an unmapped guard page below it; the slot is found again from the stack pointer,
//! so `exit` can hand the stack back to the kernel with the thread.
//!
//! ```no_run
//! fn worker(n: usize) {
//!     libsys::println!("worker {n} is thread {}", libsys::raw::gettid());
//! }
//! let tid = libsys::thread::spawn(worker, 7).expect("spawn");
//! ```

use abi::Error;
use core::sync::atomic::{AtomicU64, Ordering};

const PAGE: u64 = abi::PAGE_SIZE as u64;
/// Pages of each spawned thread's stack.
pub const STACK_PAGES: u64 = 16;
/// Where thread-stack slots start (above the heap's 64 GiB).
const STACKS_BASE: u64 = abi::layout::LIBSYS_REGION.0 + (1 << 40);
/// Each slot: a guard page, then the stack.
const SLOT: u64 = (STACK_PAGES + 1) * PAGE;
const STACKS_END: u64 = abi::layout::MAIN_STACK_TOP - (abi::layout::MAIN_STACK_PAGES + 1) * PAGE;

static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

/// Starts `entry(arg)` on a new thread of this task; returns its tid. The thread ends
/// when `entry` returns (or calls [`exit`]).
pub fn spawn(entry: fn(usize), arg: usize) -> Result<u32, Error> {
    let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    let base = STACKS_BASE + slot * SLOT + PAGE;
    if base + STACK_PAGES * PAGE > STACKS_END {
        return Err(Error::OutOfMemory);
    }
    // SAFETY: each slot is handed out once (the counter only grows), so the range is unused.
    crate::check(unsafe { crate::raw::new_pages(base as *mut u8, (STACK_PAGES * PAGE) as u32) })?;
    let top = base + STACK_PAGES * PAGE;
    // Enter `trampoline` as if called: rsp is 8 below a 16-byte boundary.
    let rsp = top - 8;
    // SAFETY: `trampoline` never returns and `rsp` is the top of a stack nobody else uses.
    let tid =
        unsafe { crate::raw::thread_create(trampoline as *const () as u64, rsp, entry as usize as u64, arg as u64) };
    if tid < 0 {
        // SAFETY: the stack was never used: the thread did not start.
        unsafe { crate::raw::remove_pages(base as *mut u8) };
        return Err(Error::try_from(tid).unwrap_or(Error::InvalidArgument));
    }
    Ok(tid as u32)
}

extern "C" fn trampoline(entry: u64, arg: u64) -> ! {
    // SAFETY: `spawn` passed a `fn(usize)` as `entry`.
    let entry: fn(usize) = unsafe { core::mem::transmute::<usize, fn(usize)>(entry as usize) };
    entry(arg as usize);
    exit()
}

/// The base of the calling thread's stack region, if it is a spawned thread.
fn own_stack() -> u64 {
    let rsp: u64;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack)) };
    if (STACKS_BASE..STACKS_END).contains(&rsp) {
        STACKS_BASE + (rsp - STACKS_BASE) / SLOT * SLOT + PAGE
    } else {
        0 // the first thread's stack belongs to the task
    }
}

/// Ends the calling thread only. Its stack goes with it.
pub fn exit() -> ! {
    // SAFETY: this thread's stack is used by this thread alone, which ends here.
    unsafe { crate::raw::thread_exit(own_stack()) };
    unreachable!("thread_exit returned")
}

/// The calling thread's id.
pub fn id() -> u32 {
    crate::raw::gettid()
}
