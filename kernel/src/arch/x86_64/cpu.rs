//! CPU feature checks and the control-register bits the kernel depends on.
//!
//! What the control registers enforce, once [`init`] has run:
//! - EFER.NXE: no-execute pages (required; the kernel's W^X mappings need it).
//! - CR0.EM, CR0.MP, CR0.TS: every x87, MMX, SSE and `wait` instruction faults (#NM or
//!   #UD). No code is built to use them (kernel and programs are soft-float), and the
//!   kernel keeps no FPU state per thread, so a program that ran them anyway would share
//!   the registers with every other task; instead it gets a fault that ends it. CR4.OSFXSR
//!   and CR4.OSXSAVE stay clear, so SSE and AVX would raise #UD even without CR0.EM.
//! - CR4.SMEP, CR4.SMAP (when the CPU has them): the kernel can neither execute nor touch
//!   user pages through user addresses. It never needs to: user memory is copied through
//!   the direct map after a page-table walk (`umem`, `aspace`). RFLAGS.AC, which would
//!   lift SMAP, is cleared on every entry (`entry::init`'s SFMASK, `traps`' entry path).
//! - CR4.FSGSBASE stays clear: programs cannot set FS.base or GS.base, which are therefore
//!   always 0 in user mode (the selector reset in `traps` relies on it).
//! - CR4.UMIP (when the CPU has it): `sgdt`, `sidt`, `sldt`, `smsw` and `str` raise #GP in
//!   user mode, so programs cannot learn where the kernel's tables are.

use core::arch::x86_64::{__cpuid, __cpuid_count};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// What the kernel found out about the CPU.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    pub vendor: [u8; 12],
    pub huge_1g: bool,
    /// Supervisor-mode execution prevention (CPUID.7.0:EBX bit 7); on when present.
    pub smep: bool,
    /// Supervisor-mode access prevention (CPUID.7.0:EBX bit 20); on when present.
    pub smap: bool,
    /// User-mode instruction prevention (CPUID.7.0:ECX bit 2); on when present.
    pub umip: bool,
}

/// The CR4 bits [`init`] sets for the protections `f` reports.
pub fn protection_bits(f: &Features) -> Cr4Flags {
    let mut bits = Cr4Flags::empty();
    bits.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, f.smep);
    bits.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, f.smap);
    bits.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, f.umip);
    bits
}

/// Reads the features from CPUID (no side effects).
pub fn detect() -> Features {
    let leaf0 = __cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&leaf0.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&leaf0.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&leaf0.ecx.to_le_bytes());
    let ext = __cpuid(0x8000_0001);
    // Leaf 7 exists only if leaf 0 says so; reading past the maximum returns another leaf.
    let (ebx7, ecx7) = if leaf0.eax >= 7 {
        let l = __cpuid_count(7, 0);
        (l.ebx, l.ecx)
    } else {
        (0, 0)
    };
    Features {
        vendor,
        huge_1g: ext.edx & (1 << 26) != 0,
        smep: ebx7 & (1 << 7) != 0,
        smap: ebx7 & (1 << 20) != 0,
        umip: ecx7 & (1 << 2) != 0,
    }
}

/// Whether the CPU supports no-execute pages (CPUID.80000001h:EDX bit 20).
fn has_nx() -> bool {
    __cpuid(0x8000_0001).edx & (1 << 20) != 0
}

/// Sets the control-register bits listed in the module documentation. A CPU without NX
/// is refused rather than run without protection.
pub fn init() -> Features {
    if !has_nx() {
        // Boot-time: user memory protection depends on NX; refuse to boot without it.
        panic!("this CPU has no NX (no-execute) support; Moroso requires it");
    }
    let features = detect();
    // SAFETY: NXE only makes bit 63 of page-table entries meaningful; no live entry has it
    // set yet (the boot tables do not use it). PGE only lets the TLB keep global entries.
    // SMEP/SMAP forbid kernel execution of and access to user pages: the boot tables map
    // nothing user-accessible, and the kernel reaches user memory only through the direct
    // map. UMIP only affects user mode. EM/MP/TS make FPU/SIMD instructions fault; the
    // kernel is built soft-float and contains none. Clearing OSFXSR, OSXSAVE and FSGSBASE
    // only makes more user instructions fault; the kernel uses none of them.
    unsafe {
        Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE));
        Cr4::update(|f| {
            f.insert(Cr4Flags::PAGE_GLOBAL | protection_bits(&features));
            f.remove(Cr4Flags::OSFXSR | Cr4Flags::OSXSAVE | Cr4Flags::FSGSBASE);
        });
        Cr0::update(|f| {
            f.insert(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::TASK_SWITCHED)
        });
    }
    features
}

/// The time-stamp counter. Under `-icount shift=0` it counts retired guest instructions.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads a counter; it has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
