//! The Moroso system-call ABI: the one source of truth shared by the kernel, `libsys`, user
//! programs and the host tooling.
//!
//! Everything that must agree across the user/kernel boundary (limits, error codes, and,
//! as the ABI grows, system-call numbers and the argument blocks that cross it) is defined
//! here once. Neither side copies a literal from the other.
//!
//! Invariants, checked at compile time below:
//! - every [`Error`] code is negative and distinct, so a syscall return value `r >= 0` is
//!   always a success value and `r < 0` always decodes to exactly one error;
//! - `SHORT_MAX` is one page (the spec: a short message is "smaller than a page").
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod image;
pub mod ipc;
pub mod layout;
pub mod limits;
pub mod message;
pub mod name;
pub mod ps;
pub mod report;
pub mod status;
pub mod syscall;
pub mod trace;

pub use error::Error;
pub use syscall::Syscall;

/// Size of a page, and the unit of every long-message transfer.
pub const PAGE_SIZE: usize = 4096;

/// Largest short message, in bytes (`*len_short` may not exceed it).
pub const SHORT_MAX: usize = PAGE_SIZE;

/// Timer ticks per second: the unit of every timeout and of `sleep`.
///
/// 100 Hz (10 ms ticks) is the classic choice: fine-grained enough for IPC timeouts and
/// `sleep`, coarse enough that under plain emulation the tick interrupt costs the guest
/// little, and under `-icount shift=0` (one instruction = 1 ns of virtual time) a tick
/// arrives only every 10 million instructions, far outside any benchmarked operation.
pub const TICK_HZ: u32 = 100;

const _: () = assert!(SHORT_MAX == PAGE_SIZE);
const _: () = assert!(PAGE_SIZE.is_power_of_two());
