//! The boot image: the user programs handed to the kernel as QEMU's `-initrd`, written by
//! `xtask` and read by the kernel.
//!
//! Layout (all little-endian):
//! ```text
//! ImageHeader
//! ImageEntry × count
//! program bytes, each at its entry's offset (8-byte aligned)
//! ```
//! Program 0 is started at boot. The format is versioned by its magic.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"MOROSOI1"`: identifies the format and its version.
pub const MAGIC: [u8; 8] = *b"MOROSOI1";
/// Longest program name, in bytes.
pub const NAME_MAX: usize = 32;
/// Most programs in one image.
pub const MAX_PROGRAMS: usize = 64;

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct ImageHeader {
    pub magic: [u8; 8],
    /// Number of `ImageEntry` records after the header.
    pub count: u32,
    pub reserved: u32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct ImageEntry {
    /// The name, NUL-padded (`task_spawn` looks programs up by it).
    pub name: [u8; NAME_MAX],
    /// Offset of the program's ELF from the start of the image.
    pub offset: u64,
    /// Size of the ELF in bytes.
    pub size: u64,
}

impl ImageEntry {
    /// The name without its padding (`None` if not UTF-8).
    pub fn name(&self) -> Option<&str> {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        core::str::from_utf8(&self.name[..len]).ok()
    }
}

const _: () = assert!(size_of::<ImageHeader>() == 16 && size_of::<ImageEntry>() == 48);
