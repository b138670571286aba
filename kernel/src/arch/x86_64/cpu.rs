//! CPU feature checks and the control-register bits the kernel depends on.

use core::arch::x86_64::__cpuid;
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// What the kernel found out about the CPU.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    pub vendor: [u8; 12],
    pub huge_1g: bool,
}

/// Enables no-execute pages (EFER.NXE) and global pages (CR4.PGE). The kernel's W^X
/// mappings need NX; a CPU without it is refused rather than run without protection.
pub fn init() -> Features {
    let ext = __cpuid(0x8000_0001);
    if ext.edx & (1 << 20) == 0 {
        panic!("this CPU has no NX (no-execute) support; Moroso requires it");
    }
    // SAFETY: NXE only makes bit 63 of page-table entries meaningful; no live entry has it
    // set yet (the boot tables do not use it). PGE only lets the TLB keep global entries.
    unsafe {
        Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE));
        Cr4::update(|f| f.insert(Cr4Flags::PAGE_GLOBAL));
    }
    let leaf0 = __cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&leaf0.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&leaf0.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&leaf0.ecx.to_le_bytes());
    Features { vendor, huge_1g: ext.edx & (1 << 26) != 0 }
}

/// The time-stamp counter. Under `-icount shift=0` it counts retired guest instructions.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads a counter; it has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
