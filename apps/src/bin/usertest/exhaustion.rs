//! Exhausting the kernel through page tables: a table goes when its last mapping does, and
//! the tables a task keeps are charged to it, so it runs out (`OutOfMemory`) at its own
//! limit (`abi::limits::KERNEL_FRAMES`) instead of draining the machine.

use crate::err;
use libsys::abi::{limits, Error};
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

const PAGE: u64 = libsys::abi::PAGE_SIZE as u64;
const GIB: u64 = 1 << 30;
/// What one top-level page-table entry covers: a fresh slot needs three new tables.
const SLOT: u64 = 1 << 39;
/// Where these cases map: program region, above the first slot (which the other cases
/// and the program image use).
const FAR: u64 = SLOT;
/// Slots these cases may use (all inside the program region).
const SLOTS: u64 = 200;

fn new_pages(base: u64, len: u64) -> Option<Error> {
    // SAFETY: FAR.. is used by these cases only; the kernel refuses mapped ranges.
    err(unsafe { raw::new_pages(base as *mut u8, len as u32) } as i64)
}

fn remove_pages(base: u64) -> Option<Error> {
    // SAFETY: the cases remove only regions they made and no longer use.
    err(unsafe { raw::remove_pages(base as *mut u8) } as i64)
}

/// What holding tables in fresh slots until the kernel refuses showed (measured before
/// cleaning up, so a failed check never leaves the task at its limit).
struct AtLimit {
    /// Slots mapped before the refusal, and the refusal.
    kept: u64,
    refusal: Option<Error>,
    /// Frames the kept slots took (pages and tables).
    taken: u64,
    /// Frames a large `new_pages` refused half-way through its tables took.
    half_way_left: u64,
    half_way: Option<Error>,
    /// A receive with a window that needs new tables.
    window: Option<Error>,
    /// Another task's status: it started threads while this one was at its limit.
    other_task: Result<i32, Error>,
}

fn hold_tables_until_refused() -> AtLimit {
    let before = raw::free_frames();
    let mut kept = 0;
    let mut refusal = None;
    while kept < SLOTS - 2 {
        refusal = new_pages(FAR + kept * SLOT, PAGE);
        if refusal.is_some() {
            break;
        }
        kept += 1;
    }
    let at = raw::free_frames();
    // 32 MiB in a fresh slot: 3 + 16 tables, more than are left.
    let half_way = new_pages(FAR + (SLOTS - 1) * SLOT, 32 << 20);
    let half_way_left = at - raw::free_frames();
    let (mut buf, mut len, mut long) = ([0u8; 8], 8u32, PAGE as u32);
    // SAFETY: a fresh, unmapped window of these cases; locals for the rest. The timeout
    // only bounds the damage should the kernel wait instead of refusing.
    let r = unsafe { raw::ipc_recv((FAR + (SLOTS - 2) * SLOT) as *mut u8, buf.as_mut_ptr(), &mut long, &mut len, 2) };
    let window = err(r as i64);
    let other_task = libsys::task::spawn("usertest", crate::child::arg(crate::child::THREADS_THEN_EXIT, 0))
        .and_then(libsys::task::wait);
    for i in 0..kept {
        remove_pages(FAR + i * SLOT);
    }
    AtLimit { kept, refusal, taken: before - at, half_way_left, half_way, window, other_task }
}

pub fn cases(s: &mut Suite) {
    s.case("exhaustion::removed_pages_give_their_tables_back", || {
        // Each cycle needs a fresh PD and PT (and a PDPT every 512): kept, they would take
        // several times the task's whole limit.
        let cycles = 4 * limits::KERNEL_FRAMES as u64;
        let before = raw::free_frames();
        for i in 0..cycles {
            let va = FAR + i * GIB;
            ensure_eq!(new_pages(va, PAGE), None, "new_pages, cycle {i}");
            ensure_eq!(remove_pages(va), None, "remove_pages, cycle {i}");
        }
        ensure_eq!(raw::free_frames(), before, "free frames after {cycles} cycles");
        Ok(())
    });

    s.case("exhaustion::tables_a_task_keeps_are_charged_to_it", || {
        let before = raw::free_frames();
        let r = hold_tables_until_refused();
        ensure_eq!(r.refusal, Some(Error::OutOfMemory), "mapping a page in slot {}", r.kept);
        ensure!(
            3 * r.kept <= limits::KERNEL_FRAMES as u64,
            "{} slots (3 tables each) kept, past the limit of {} tables",
            r.kept,
            limits::KERNEL_FRAMES
        );
        ensure_eq!(r.taken, 4 * r.kept, "frames taken by {} pages and their tables", r.kept);
        ensure_eq!(r.half_way, Some(Error::OutOfMemory), "new_pages needing more tables than are left");
        ensure_eq!(r.half_way_left, 0, "frames a refused new_pages left behind");
        ensure_eq!(r.window, Some(Error::OutOfMemory), "a receive window needing more tables");
        ensure_eq!(r.other_task, Ok(3), "another task starting threads meanwhile");
        ensure_eq!(raw::free_frames(), before, "free frames after removing them");
        Ok(())
    });
}
