//! In-guest tests of the userland system calls (threads, scheduling, memory, tasks, faults).
//!
//! Run as the first program, it runs every case and exits with the suite's status. It
//! starts copies of itself with a non-zero argument to play the other side of a case
//! (a task that faults, exits with a status, or hammers the kernel); see `child`.
#![no_std]
#![no_main]

extern crate alloc;

mod attacks;
mod child;
mod donation;
mod exhaustion;
mod limits;
mod memory;
mod review;
mod sched;
mod tasks;
mod threads;

use moroso_apps::harness::Suite;

libsys::entry!(main);

fn main() -> i32 {
    let arg = libsys::task::arg();
    if arg != 0 {
        return child::run(arg);
    }
    let mut s = Suite::new();
    sched::cases(&mut s);
    donation::cases(&mut s);
    memory::cases(&mut s);
    threads::cases(&mut s);
    tasks::cases(&mut s);
    attacks::cases(&mut s);
    limits::cases(&mut s);
    exhaustion::cases(&mut s);
    review::cases(&mut s);
    s.finish()
}

/// The error a raw call returned, for comparisons.
pub fn err(ret: i64) -> Option<libsys::abi::Error> {
    (ret < 0).then(|| libsys::abi::Error::try_from(ret as i32).unwrap_or(libsys::abi::Error::InvalidArgument))
}

/// Yields until `cond` holds. Bounded only by the runner's timeout: waiting on another
/// thread must not assume anything about how fast it runs.
pub fn wait_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        libsys::time::yield_now();
    }
}
