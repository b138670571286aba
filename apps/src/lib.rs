//! Shared pieces of the user programs in the boot image: the in-guest test harness.
#![no_std]

extern crate alloc;

pub mod console_proto;
pub mod fs_proto;
pub mod harness;
pub mod init_proto;
