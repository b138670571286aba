//! Faults on purpose, for the fault-report test (`cargo xtask test`, step `faults`).
//!
//! Run as the first program it starts copies of itself that each fault one way, checks
//! that each ended only its own task with the right status, and reports as a suite. The
//! runner then checks what the console said about each fault: the program, the function
//! and `file:line`, a stack overflow named as such, and the status in words.
#![no_std]
#![no_main]

extern crate alloc;

use core::hint::black_box;
use libsys::abi::status;
use moroso_apps::ensure_eq;
use moroso_apps::harness::{Msg, Suite};

libsys::entry!(main);

const NULL_READ: u64 = 1;
const STACK_OVERFLOW: u64 = 2;
const PANIC_IN_THREAD: u64 = 3;

fn main() -> i32 {
    match libsys::task::arg() {
        0 => suite(),
        NULL_READ => read_through(black_box(core::ptr::null())) as i32,
        STACK_OVERFLOW => recurse(black_box(1)) as i32,
        PANIC_IN_THREAD => panic_in_a_thread(),
        _ => 99,
    }
}

fn suite() -> i32 {
    let mut s = Suite::new();
    let cases: [(&str, u64, i32); 3] = [
        ("faults::a_null_read_ends_only_its_task", NULL_READ, status::faulted(14)),
        ("faults::a_stack_overflow_ends_only_its_task", STACK_OVERFLOW, status::faulted(14)),
        ("faults::a_panic_in_a_thread_ends_its_task_not_the_machine", PANIC_IN_THREAD, status::PANICKED),
    ];
    for (name, arg, want) in cases {
        s.case(name, || {
            let task = libsys::task::spawn("faults", arg).map_err(|e| Msg::new(format_args!("spawn: {e}")))?;
            ensure_eq!(libsys::task::wait(task), Ok(want), "its status");
            Ok(())
        });
    }
    s.finish()
}

/// Reads through `p` (null when called), from a function of its own so that the report
/// has a function and a caller to name.
#[inline(never)]
fn read_through(p: *const u64) -> u64 {
    // SAFETY: deliberately not sound: `p` is null, and the read is the fault under test.
    unsafe { p.read_volatile() }
}

/// Recurses until the main thread's stack runs into its guard page.
#[allow(unconditional_recursion)] // the point: it ends in the guard page
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 256]);
    recurse(depth + 1).wrapping_add(frame[0] as u64)
}

/// A second thread panics; the main thread waits for ever. The panic ends the whole task
/// (libsys's panic handler ends the task, with `status::PANICKED`), never the machine.
fn panic_in_a_thread() -> i32 {
    libsys::thread::spawn(|n| panic!("deliberate panic in thread {}", black_box(n)), 7).ok();
    let zero = 0i32;
    // SAFETY: a valid i32; the thread stays descheduled until its task ends.
    unsafe { libsys::raw::deschedule(&zero) };
    98
}
