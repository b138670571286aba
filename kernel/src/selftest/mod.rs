//! In-kernel self-tests, run when the command line says `selftest`.
//!
//! Each case prints one line in the protocol of `abi::report` (`moroso-test ok NAME` or
//! `moroso-test FAIL NAME: why`), and the suite closes with `moroso-test summary: P passed,
//! F failed`. A case stops at its first failed check. The cases check the machine as it
//! really behaves (faults taken, bits in page-table entries, interrupts counted), not the
//! kernel's own bookkeeping alone.

mod cpu;
mod frames;
mod paging;
mod timer;
mod traps;

use crate::boot::pvh::BootInfo;
use crate::kprintln;
use abi::report::TEST_PREFIX;

/// One running case, and what the cases may look at.
pub struct Case {
    name: &'static str,
    failed: bool,
    /// The boot hand-off, given by the boot sequence (not reached through it, so the boot
    /// sequence depends on the self-tests and not the other way round).
    pub boot: &'static BootInfo,
}

impl Case {
    /// Records `ok`; on the first failure prints the FAIL line with `why`.
    pub fn check(&mut self, ok: bool, why: core::fmt::Arguments) -> bool {
        if !ok && !self.failed {
            self.failed = true;
            kprintln!("{TEST_PREFIX}FAIL {}: {}", self.name, why);
        }
        ok
    }
}

/// `ensure!(case, condition, "format", args...)`: check, and end the case if it fails.
macro_rules! ensure {
    ($case:expr, $cond:expr, $($why:tt)+) => {
        if !$case.check($cond, format_args!($($why)+)) {
            return;
        }
    };
}
pub(crate) use ensure;

type CaseFn = fn(&mut Case);

const CASES: &[(&str, CaseFn)] = &[
    ("frames::alloc_free_restores_count", frames::alloc_free_restores_count),
    ("frames::double_free_is_detected", frames::double_free_is_detected),
    ("frames::exhaustion_skips_reserved_and_recovers", frames::exhaustion_skips_reserved_and_recovers),
    ("paging::text_is_not_writable", paging::text_is_not_writable),
    ("paging::rodata_is_read_only", paging::rodata_is_read_only),
    ("paging::data_and_direct_map_are_not_executable", paging::data_and_direct_map_are_not_executable),
    ("paging::identity_map_and_null_are_unmapped", paging::identity_map_and_null_are_unmapped),
    ("paging::direct_map_reaches_allocated_frames", paging::direct_map_reaches_allocated_frames),
    ("paging::stack_guard_page_faults", paging::stack_guard_page_faults),
    ("traps::breakpoint_preserves_registers", traps::breakpoint_preserves_registers),
    ("traps::page_fault_reports_address_and_cause", traps::page_fault_reports_address_and_cause),
    ("timer::ticks_advance_with_interrupts", timer::ticks_advance_with_interrupts),
    ("timer::halt_wakes_on_tick", timer::halt_wakes_on_tick),
    ("cpu::protections_match_cpuid", cpu::protections_match_cpuid),
    ("cpu::smap_stops_kernel_access_to_user_pages", cpu::smap_stops_kernel_access_to_user_pages),
    ("cpu::smep_stops_kernel_running_user_code", cpu::smep_stops_kernel_running_user_code),
];

/// Runs every case, with the boot hand-off `boot`; returns the number that failed.
pub fn run_all(boot: &'static BootInfo) -> usize {
    kprintln!("running {} kernel self-tests", CASES.len());
    let mut failed = 0;
    for (name, case) in CASES {
        let mut c = Case { name, failed: false, boot };
        case(&mut c);
        if c.failed {
            failed += 1;
        } else {
            kprintln!("{TEST_PREFIX}ok {name}");
        }
    }
    kprintln!("{TEST_PREFIX}summary: {} passed, {} failed", CASES.len() - failed, failed);
    failed
}
