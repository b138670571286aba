//! Trap-path cases: a round trip through the stubs must preserve every register, and a
//! fault must report the faulting address and cause.

use super::{ensure, Case};
use crate::arch::probe::{self, ProbeFault};
use crate::arch::traps::BREAKPOINTS;
use core::sync::atomic::Ordering;

pub fn breakpoint_preserves_registers(t: &mut Case) {
    let before = BREAKPOINTS.load(Ordering::Relaxed);
    let v: [u64; 13] = core::array::from_fn(|i| 0x0101_0101_0101_0101u64.wrapping_mul(i as u64 + 1) ^ 0xdead);
    let mut r = v;
    // SAFETY: `int3` enters the breakpoint handler, which counts and returns; all registers
    // named here are declared as inputs and outputs, so the compiler assumes nothing.
    unsafe {
        core::arch::asm!(
            "int3",
            inout("rax") r[0], inout("rcx") r[1], inout("rdx") r[2], inout("rsi") r[3],
            inout("rdi") r[4], inout("r8") r[5], inout("r9") r[6], inout("r10") r[7],
            inout("r11") r[8], inout("r12") r[9], inout("r13") r[10], inout("r14") r[11],
            inout("r15") r[12],
        );
    }
    ensure!(t, BREAKPOINTS.load(Ordering::Relaxed) == before + 1, "breakpoint handler did not run exactly once");
    ensure!(t, r == v, "registers changed across the trap: {r:x?} != {v:x?}");
}

pub fn page_fault_reports_address_and_cause(t: &mut Case) {
    // A write to an unmapped kernel address: the error code must say "not present, write,
    // kernel mode" and the handler must see CR2 = the address (checked by the probe's
    // recovery, which only accepts faults at the probe instruction).
    // SAFETY: the address is unmapped; the probe turns the fault into an error.
    let r = unsafe { probe::write(0xffff_9000_0000_0000, 1) };
    ensure!(t, r == Err(ProbeFault { vector: 14, error_code: 0b010 }), "probe returned {r:?}");
    let r = probe::read(0x0000_8000_0000_0000); // non-canonical: #GP, not #PF
    ensure!(t, matches!(r, Err(ProbeFault { vector: 13, .. })), "non-canonical read gave {r:?}");
}
