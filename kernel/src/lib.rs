//! The Moroso microkernel: the x86-64 side (boot, traps, paging, the console, self-tests)
//! around the portable kernel in `moroso-kernel-core`, whose modules are re-exported here
//! under their own names.
//!
//! Only `x86_64-unknown-none` builds anything of this crate; the portable logic is
//! unit-tested on the host in `moroso-kernel-core`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot_sequence;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
mod panic;

#[cfg(target_os = "none")]
mod crash;
#[cfg(target_os = "none")]
mod run;
#[cfg(target_os = "none")]
mod selftest;

pub use moroso_kernel_core::{
    boot, ipc, limits, loader, lock, mem, regs, sched, sys, task, time, trace, trace_event, umem, userfault,
};
