//! CPU protection cases: the control-register bits match what CPUID offers, SMAP really
//! stops the kernel from touching a user page through its user address, and SMEP from
//! running a user page's code.

use super::{ensure, Case};
use crate::arch::aspace::AddressSpace;
use crate::arch::cpu;
use crate::arch::probe::{self, ProbeFault};
use crate::loader::elf::Protection;
use crate::umem::UserMemory;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

const PF: u8 = 14;
const ERR_PRESENT: u32 = 1;
const ERR_USER: u32 = 4;
const ERR_FETCH: u32 = 0x10;
const RET: u8 = 0xc3;

pub fn protections_match_cpuid(t: &mut Case) {
    let f = cpu::detect();
    let cr4 = Cr4::read();
    crate::kprintln!("  cpuid: SMEP {}, SMAP {}, UMIP {}; CR4 = {:#x}", f.smep, f.smap, f.umip, cr4.bits());
    for (what, present, bit) in [
        ("SMEP", f.smep, Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        ("SMAP", f.smap, Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
        ("UMIP", f.umip, Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
    ] {
        ensure!(t, cr4.contains(bit) == present, "{what}: CPUID says {present}, CR4 bit is {}", cr4.contains(bit));
    }
    ensure!(
        t,
        !cr4.intersects(Cr4Flags::OSFXSR | Cr4Flags::OSXSAVE | Cr4Flags::FSGSBASE),
        "SSE/AVX state or FS/GS base writes enabled: CR4 {cr4:?}"
    );
    let cr0 = Cr0::read();
    let fpu_off = Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::TASK_SWITCHED;
    ensure!(t, cr0.contains(fpu_off), "x87/MMX not made to fault: CR0 {cr0:?}");
}

pub fn smap_stops_kernel_access_to_user_pages(t: &mut Case) {
    if !cpu::detect().smap {
        crate::kprintln!("  this CPU has no SMAP: nothing to check");
        return;
    }
    let va = abi::layout::PROGRAM_REGION.0;
    let space = AddressSpace::new(abi::limits::KERNEL_FRAMES, &crate::mem::MAP_COUNTS);
    ensure!(t, space.is_ok(), "no address space: {:?}", space.as_ref().err());
    let Ok(mut space) = space else { return };
    let mapped = space.map_zeroed(va, 1, Protection::ReadWrite);
    ensure!(t, mapped.is_ok(), "mapping a user page: {mapped:?}");
    space.activate();
    let read = probe::read(va);
    // SAFETY: `va` is a zeroed page of `space`, which nothing else uses; writes its value.
    let write = unsafe { probe::write(va, 0) };
    // With RFLAGS.AC set, SMAP allows the access: the page is there, only SMAP refused it.
    // SAFETY: STAC/CLAC only toggle RFLAGS.AC (the CPU has SMAP); nothing runs in between
    // but the probe, and AC is cleared again before anything else.
    let allowed = unsafe {
        core::arch::asm!("stac", options(nomem, nostack));
        let r = probe::read(va);
        core::arch::asm!("clac", options(nomem, nostack));
        r
    };
    drop(space); // switches CR3 back to the kernel's tables first
    let smap_fault = |r: Result<(), ProbeFault>| matches!(r, Err(ProbeFault { vector: PF, error_code }) if error_code & (ERR_PRESENT | ERR_USER) == ERR_PRESENT);
    ensure!(
        t,
        smap_fault(read.map(|_| ())),
        "kernel read of user page {va:#x} gave {read:?}, expected a protection fault"
    );
    ensure!(t, smap_fault(write), "kernel write to user page {va:#x} gave {write:?}, expected a protection fault");
    ensure!(t, allowed == Ok(0), "with AC set the read gave {allowed:?}, expected the page's 0");
}

pub fn smep_stops_kernel_running_user_code(t: &mut Case) {
    if !cpu::detect().smep {
        crate::kprintln!("  this CPU has no SMEP: nothing to check");
        return;
    }
    let va = abi::layout::PROGRAM_REGION.0;
    let space = AddressSpace::new(abi::limits::KERNEL_FRAMES, &crate::mem::MAP_COUNTS);
    ensure!(t, space.is_ok(), "no address space: {:?}", space.as_ref().err());
    let Ok(mut space) = space else { return };
    // A user page holding one `ret`, executable: without SMEP the call would just return.
    let mapped = space.map_zeroed(va, 1, Protection::ReadWriteExecute);
    ensure!(t, mapped.is_ok(), "mapping a user page: {mapped:?}");
    let written = space.copy_out(va, &[RET]);
    ensure!(t, written.is_ok(), "writing the user page: {written:?}");
    space.activate();
    // SAFETY: the code at `va` is a single `ret`, if it runs at all.
    let r = unsafe { probe::exec(va) };
    drop(space); // switches CR3 back to the kernel's tables first
    ensure!(
        t,
        matches!(r, Err(ProbeFault { vector: PF, error_code }) if error_code & (ERR_PRESENT | ERR_USER | ERR_FETCH) == ERR_PRESENT | ERR_FETCH),
        "kernel call into user page {va:#x} gave {r:?}, expected an instruction-fetch protection fault"
    );
}
