//! Memory probes: read or write one byte and report a fault instead of dying of it.
//!
//! The self-tests use these to check that the page tables really enforce what they say
//! (text not writable, guard pages unmapped, the identity map gone). A fault whose RIP is
//! one of the two probe instructions is turned by [`recover`] into a return from the probe
//! with the error code, by moving RIP to a landing pad. [`exec`] calls an address instead
//! (to check SMEP); a fault at that address returns from the call the same way.

use super::frame::TrapFrame;
use core::sync::atomic::{AtomicU64, Ordering};

/// Set in the returned `fault` word when the probe faulted; the low bits hold the
/// exception's error code and bits 32..40 its vector.
pub const FAULTED: u64 = 1 << 63;

#[repr(C)]
struct ProbeResult {
    value: u64,
    fault: u64,
}

core::arch::global_asm!(
    r#"
    .section .text.probe, "ax"
    .global moroso_probe_read, moroso_probe_write
moroso_probe_read:
    xor %edx, %edx
probe_read_insn:
    movzbl (%rdi), %eax
    ret
moroso_probe_write:
    xor %edx, %edx
    xor %eax, %eax
probe_write_insn:
    mov %sil, (%rdi)
    ret
    .global moroso_probe_exec
moroso_probe_exec:
    xor %edx, %edx
    xor %eax, %eax
    call *%rdi
    ret
probe_landing:
    ret

    .section .rodata.probe, "a"
    .balign 8
    .global probe_sites
probe_sites:
    .quad probe_read_insn, probe_write_insn, probe_landing
    "#,
    options(att_syntax)
);

extern "C" {
    fn moroso_probe_read(addr: *const u8) -> ProbeResult;
    fn moroso_probe_write(addr: *mut u8, value: u8) -> ProbeResult;
    fn moroso_probe_exec(addr: u64) -> ProbeResult;
    static probe_sites: [u64; 3];
}

/// A fault taken by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFault {
    pub vector: u8,
    pub error_code: u32,
}

fn decode(r: ProbeResult) -> Result<u8, ProbeFault> {
    if r.fault & FAULTED == 0 {
        Ok(r.value as u8)
    } else {
        Err(ProbeFault { vector: (r.fault >> 32) as u8, error_code: r.fault as u32 })
    }
}

/// Reads the byte at `addr`, or reports the fault that reading it caused.
pub fn read(addr: u64) -> Result<u8, ProbeFault> {
    // SAFETY: the probe touches only `addr`; if that faults, `recover` resumes at the
    // landing pad with all callee-saved registers untouched (the probe uses rax/rdx only).
    // A read has no effect on memory.
    decode(unsafe { moroso_probe_read(addr as *const u8) })
}

/// Writes `value` to `addr`, or reports the fault that writing it caused.
///
/// # Safety
/// If the write succeeds it modifies memory: `addr` must be a byte the caller may write.
pub unsafe fn write(addr: u64, value: u8) -> Result<(), ProbeFault> {
    // SAFETY: as for `read`; the caller vouches for the write itself.
    decode(unsafe { moroso_probe_write(addr as *mut u8, value) }).map(|_| ())
}

/// The address [`exec`] is calling, while it does (0 otherwise).
static EXEC_TARGET: AtomicU64 = AtomicU64::new(0);

/// Calls the code at `addr`, or reports the fault that fetching it caused.
///
/// # Safety
/// If the call succeeds the code runs in ring 0: it must be code the caller vouches for
/// that returns with `ret` and changes nothing but `rax` (a lone `ret` is the intended use).
pub unsafe fn exec(addr: u64) -> Result<(), ProbeFault> {
    EXEC_TARGET.store(addr, Ordering::Relaxed);
    // SAFETY: the caller vouches for the code; a fault at `addr` itself is turned by
    // `recover` into a return from the call, to the probe's own `ret`.
    let r = unsafe { moroso_probe_exec(addr) };
    EXEC_TARGET.store(0, Ordering::Relaxed);
    decode(r).map(|_| ())
}

/// If `frame` is a fault at a probe instruction, redirect it to return the fault.
pub fn recover(frame: &mut TrapFrame) -> bool {
    // SAFETY: a read-only table of three code addresses defined above.
    let [read_at, write_at, landing] = unsafe { probe_sites };
    let exec_target = EXEC_TARGET.load(Ordering::Relaxed);
    if frame.rip == read_at || frame.rip == write_at {
        frame.rip = landing;
    } else if exec_target != 0 && frame.rip == exec_target {
        // The fault is at the called address: return to the probe as its `ret` would.
        // SAFETY: `call` in `moroso_probe_exec` pushed the return address at the faulting
        // context's rsp, on the current kernel stack, just before the fetch faulted.
        frame.rip = unsafe { (frame.rsp as *const u64).read() };
        frame.rsp += 8;
    } else {
        return false;
    }
    frame.rdx = FAULTED | (frame.vector << 32) | (frame.error_code & 0xffff_ffff);
    true
}
