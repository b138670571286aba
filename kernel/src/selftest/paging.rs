//! Paging cases: the permissions are checked by making the CPU enforce them (fault probes),
//! and by reading the bits in the live page-table entries.

use super::{ensure, Case};
use crate::arch::paging::{self, phys_to_virt, translate};
use crate::arch::probe::{self, ProbeFault};
use crate::mem::layout::{KERNEL_PHYS, KERNEL_VMA};
use crate::mem::FRAMES;
use x86_64::structures::paging::PageTableFlags as F;

const PF: u8 = 14;
const ERR_PRESENT: u32 = 1;
const ERR_WRITE: u32 = 2;

static RODATA_BYTE: u8 = 0xa5;

/// Writes back the byte already there, so that if protection were broken the probe would
/// still leave memory unchanged.
fn try_rewrite(addr: u64) -> Result<(), ProbeFault> {
    let old = probe::read(addr).expect("the page is readable");
    // SAFETY: writes the value just read; if the write is (wrongly) allowed, memory is
    // unchanged and no Rust reference observes a difference.
    unsafe { probe::write(addr, old) }
}

pub fn text_is_not_writable(t: &mut Case) {
    let text = text_is_not_writable as *const () as u64;
    let r = try_rewrite(text);
    ensure!(
        t,
        matches!(r, Err(ProbeFault { vector: PF, error_code }) if error_code & (ERR_PRESENT | ERR_WRITE) == ERR_PRESENT | ERR_WRITE),
        "writing kernel text at {text:#x} gave {r:?}, expected a write-protection page fault"
    );
    let (phys, flags) = translate(text).unwrap_or((0, F::empty()));
    ensure!(t, phys == text - KERNEL_VMA, "text maps to {phys:#x}");
    ensure!(t, !flags.contains(F::NO_EXECUTE) && !flags.contains(F::WRITABLE), "text flags {flags:?}");
}

pub fn rodata_is_read_only(t: &mut Case) {
    let addr = &raw const RODATA_BYTE as u64;
    ensure!(t, probe::read(addr) == Ok(0xa5), "rodata not readable");
    let r = try_rewrite(addr);
    ensure!(t, matches!(r, Err(ProbeFault { vector: PF, .. })), "writing rodata gave {r:?}");
}

pub fn data_and_direct_map_are_not_executable(t: &mut Case) {
    static mut DATA: u64 = 1;
    let checks = [
        ("data", &raw const DATA as u64, true),
        ("rodata", &raw const RODATA_BYTE as u64, false),
        ("direct map", phys_to_virt(KERNEL_PHYS), true),
    ];
    for (what, addr, writable) in checks {
        let flags = translate(addr).map(|(_, f)| f);
        ensure!(t, flags.is_some_and(|f| f.contains(F::NO_EXECUTE)), "{what} at {addr:#x} is executable: {flags:?}");
        ensure!(t, flags.is_some_and(|f| f.contains(F::WRITABLE) == writable), "{what} writability: {flags:?}");
        ensure!(t, flags.is_some_and(|f| !f.contains(F::USER_ACCESSIBLE)), "{what} is user-accessible");
    }
}

pub fn identity_map_and_null_are_unmapped(t: &mut Case) {
    for addr in [0u64, 0x1000, KERNEL_PHYS, 0x3fff_f000] {
        let r = probe::read(addr);
        ensure!(
            t,
            matches!(r, Err(ProbeFault { vector: PF, error_code }) if error_code & ERR_PRESENT == 0),
            "reading {addr:#x} gave {r:?}, expected a not-present page fault"
        );
    }
}

pub fn direct_map_reaches_allocated_frames(t: &mut Case) {
    let f = FRAMES.lock().alloc().expect("a frame");
    let virt = phys_to_virt(f.addr());
    let mapped = translate(virt + 0x123).map(|(p, _)| p);
    // SAFETY: the frame is allocated to this test.
    unsafe { (virt as *mut u64).write(0x1122_3344_5566_7788) };
    let back = probe::read(virt + 7);
    FRAMES.lock().free(f).expect("free");
    ensure!(t, mapped == Some(f.addr() + 0x123), "direct map of {:#x} translates to {mapped:x?}", f.addr());
    ensure!(t, back == Ok(0x11), "byte 7 reads {back:?}");
}

pub fn stack_guard_page_faults(t: &mut Case) {
    let free_before = FRAMES.lock().free_count();
    let s = paging::alloc_stack(2).expect("a stack");
    let used = free_before - FRAMES.lock().free_count();
    ensure!(t, (2..=4).contains(&used), "a 2-page stack took {used} frames");
    ensure!(t, probe::read(s.bottom()) == Ok(0), "stack bottom unreadable or not zeroed");
    ensure!(t, probe::read(s.top() - 1) == Ok(0), "stack top unreadable");
    let r = probe::read(s.guard() + 0xff8);
    ensure!(t, matches!(r, Err(ProbeFault { vector: PF, .. })), "guard page read gave {r:?}");
    ensure!(t, paging::in_stack_region(s.guard()), "guard not recognised as stack region");
}
