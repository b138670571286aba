//! The Moroso microkernel.
//!
//! The crate builds two ways. For `x86_64-unknown-none` it is the whole kernel: `arch`
//! holds everything that touches the machine, the rest is portable logic. On the host only
//! the portable logic builds, so it can be unit-tested with `cargo test`.
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

pub mod boot;
#[cfg(target_os = "none")]
mod crash;
pub mod ipc;
pub mod loader;
pub mod mem;
pub mod sched;
#[cfg(target_os = "none")]
mod selftest;
#[cfg(target_os = "none")]
pub mod sys;
pub mod task;
pub mod time;
pub mod trace;
pub mod umem;
pub mod userfault;
