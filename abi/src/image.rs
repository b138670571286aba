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

/// `"MOROSOI2"`: identifies the format and its version (2: entries carry grants).
pub const MAGIC: [u8; 8] = *b"MOROSOI2";
/// Longest program name, in bytes.
pub const NAME_MAX: usize = 32;
/// Most programs in one image.
pub const MAX_PROGRAMS: usize = 64;

/// Bit of program 0's argument (`task::arg()`) set when the kernel command line says
/// `interactive`: a person is at the console (`cargo xtask run` on a terminal).
pub const FIRST_ARG_INTERACTIVE: u64 = 1 << 0;

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
    /// What every task started from this program may do beyond ordinary programs.
    pub grants: Grants,
}

/// Device capabilities, granted by the boot image's description of which program drives
/// what (never by asking at run time).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Grants {
    /// IRQ lines (bit n: IRQ n) the task may bind with `irq_bind`.
    pub irqs: u16,
    /// I/O ports `[io_base, io_base + io_count)` the task may use (`in`/`out`).
    pub io_base: u16,
    pub io_count: u16,
    pub reserved: u16,
}

/// The PC's first serial port: the kernel's console, and the device of the user-level
/// console server and of `irqtest`.
pub mod com1 {
    /// Its interrupt line.
    pub const IRQ: u8 = 4;
    /// Its first I/O port; the 16550's registers are `PORT..PORT + PORTS`.
    pub const PORT: u16 = 0x3f8;
    pub const PORTS: u16 = 8;
}

impl Grants {
    pub const NONE: Grants = Grants { irqs: 0, io_base: 0, io_count: 0, reserved: 0 };
    /// COM1: its interrupt line and its eight ports.
    pub const COM1: Grants = Grants { irqs: 1 << com1::IRQ, io_base: com1::PORT, io_count: com1::PORTS, reserved: 0 };

    pub const fn has_irq(&self, irq: u8) -> bool {
        irq < 16 && self.irqs & (1 << irq) != 0
    }

    pub const fn has_port(&self, port: u16) -> bool {
        port >= self.io_base && (port as u32) < self.io_base as u32 + self.io_count as u32
    }
}

impl ImageEntry {
    /// The name without its padding (`None` if not UTF-8).
    pub fn name(&self) -> Option<&str> {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        core::str::from_utf8(&self.name[..len]).ok()
    }
}

const _: () = assert!(size_of::<ImageHeader>() == 16 && size_of::<ImageEntry>() == 56);
