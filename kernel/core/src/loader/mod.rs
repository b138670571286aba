//! Loading user programs: the boot image that holds them, and the ELF format they are in.
pub mod elf;
pub mod image;
