//! Cases from an independent security review of the fast paths and long-message batching:
//! each reproduced a bug on the code as reviewed and states the behaviour the fix restored
//! (see kernel/core/src/review_tests.rs).

use crate::err;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use libsys::abi::{ipc::SendMode, layout, Error};
use libsys::raw;
use moroso_apps::ensure_eq;
use moroso_apps::harness::Suite;

const PAGE: u64 = libsys::abi::PAGE_SIZE as u64;
/// Part of the program's own region these cases alone use.
const OUT: u64 = layout::PROGRAM_REGION.0 + 0x5000_0000;
/// One-page filler regions, two pages apart.
const FILL: u64 = OUT + 0x100_0000;
/// The receiver's window.
const WIN: u64 = OUT + 0x4000_0000;
const FOREVER: i32 = -1;

static GO: AtomicBool = AtomicBool::new(false);
static FIRST: AtomicI32 = AtomicI32::new(i32::MIN);
static REMOVED: AtomicI32 = AtomicI32::new(i32::MIN);

fn new_pages(base: u64, len: u64) -> Option<Error> {
    // SAFETY: OUT.. is used by these cases only; the kernel refuses mapped ranges.
    err(unsafe { raw::new_pages(base as *mut u8, len as u32) } as i64)
}

fn remove_pages(base: u64) -> Option<Error> {
    // SAFETY: the cases remove only regions they made and no longer use.
    err(unsafe { raw::remove_pages(base as *mut u8) } as i64)
}

/// The receiver: one page into `WIN`, once the table is full but one entry. If that
/// receive fails for the region table, it makes room and receives again.
fn receiver(_: usize) {
    crate::wait_until(|| GO.load(Ordering::Acquire));
    let mut cmd = [0u8; 8];
    let (mut len, mut long) = (8u32, PAGE as u32);
    // SAFETY: an unmapped window of this task; buffers are locals.
    let (r, _) = unsafe { raw::ipc_recv_from(WIN as *mut u8, cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) };
    FIRST.store(r, Ordering::Release);
    let mut r = r;
    if r < 0 {
        let _ = remove_pages(FILL); // room for the window's region
        (len, long) = (8, PAGE as u32);
        // SAFETY: as above.
        r = unsafe { raw::ipc_recv_from(WIN as *mut u8, cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) }.0;
    }
    if r >= 0 {
        // The received page is a region of this task: removable like any other.
        REMOVED.store(remove_pages(WIN).map_or(0, |e| e as i32), Ordering::Release);
        // SAFETY: an empty reply.
        unsafe { raw::ipc_reply(cmd.as_ptr(), 0) };
    }
}

pub fn cases(s: &mut Suite) {
    s.case("review::a_move_within_a_task_that_punches_the_last_region_entry_fails_the_receiver", finding_1);
}

fn finding_1() -> moroso_apps::harness::CaseResult {
    // Three pages; the middle one moves, so the punch splits their region in two.
    ensure_eq!(new_pages(OUT, 3 * PAGE), None, "the three pages");
    let tid = libsys::thread::spawn(receiver, 0).expect("spawn");
    // Nothing below allocates until the table has room again.
    let mut n = 0;
    let full = loop {
        if let Some(e) = new_pages(FILL + n * 2 * PAGE, PAGE) {
            break e;
        }
        n += 1;
    };
    n -= 1;
    let _ = remove_pages(FILL + n * 2 * PAGE); // one entry left: the window fits
    GO.store(true, Ordering::Release);
    let mut msg = [0u8; 8];
    let mut len = 0u32;
    // SAFETY: our own middle page, moved away; the buffers are locals.
    let sent = unsafe {
        raw::ipc_send(
            tid,
            (OUT + PAGE) as *mut u8,
            msg.as_mut_ptr(),
            PAGE as u32,
            &mut len,
            FOREVER,
            false,
            u32::from(SendMode::Sync),
        )
    };
    crate::wait_until(|| REMOVED.load(Ordering::Acquire) != i32::MIN);
    for i in 0..n {
        let _ = remove_pages(FILL + i * 2 * PAGE);
    }
    let _ = remove_pages(OUT);
    let _ = remove_pages(OUT + 2 * PAGE);
    ensure_eq!(full, Error::OutOfMemory, "the region table filled up");
    ensure_eq!(sent, 0, "the move went through in the end");
    ensure_eq!(
        err(FIRST.load(Ordering::Acquire) as i64),
        Some(Error::OutOfMemory),
        "the first receive has no room for the window's region"
    );
    ensure_eq!(REMOVED.load(Ordering::Acquire), 0, "the received page is a region");
    Ok(())
}
