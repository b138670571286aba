//! The portable Moroso kernel: everything that decides, and nothing that touches the
//! machine. IPC, threads and tasks, scheduling, the accounting of memory and page tables,
//! user-memory checks, the program loader and the system-call layer live here; the
//! `moroso-kernel` crate supplies the x86-64 side (boot, traps, paging, the console) and
//! the binary.
//!
//! This crate has no dependency on the `x86_64` crate, so Cargo keeps the boundary: it
//! builds for the host, where `cargo test -p moroso-kernel-core` runs all of it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod boot;
pub mod ids;
pub mod ipc;
pub mod limits;
pub mod loader;
pub mod lock;
pub mod mem;
pub mod regs;
#[cfg(test)]
mod review_tests;
pub mod sched;
pub mod sys;
pub mod task;
pub mod time;
pub mod trace;
pub mod umem;
pub mod userfault;
