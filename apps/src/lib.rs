//! Shared pieces of the user programs in the boot image: the in-guest test harness and the
//! interfaces of the servers (files, init, ping) with their client helpers.
#![no_std]

extern crate alloc;

pub mod console_proto;
pub mod fs_proto;
pub mod harness;
pub mod init_proto;
pub mod ping_proto;
