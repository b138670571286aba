//! Receive windows and the receiver's limits: room in its region table, its quota and the
//! page tables its window needs are checked when the window is declared, in `ipc_recv`,
//! and reported to the receiver; a sender is never failed for them; and a window that
//! receives no pages gives its page tables back however the receive ends.

use crate::ipc::{result, send_msg, wait_blocked, ASYNC, FOREVER};
use crate::long::{fill, send_pages};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};
use libsys::abi::{layout, Error};
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

const P: u64 = libsys::abi::PAGE_SIZE as u64;
const GIB: u64 = 1 << 30;
/// One-page regions that fill the region table.
const FILL: u64 = layout::PROGRAM_REGION.0 + 0x5000_0000;
/// Pages these cases send, and a receive buffer they take away.
const OUT: u64 = layout::PROGRAM_REGION.0 + 0x6000_0000;
const BUF: u64 = OUT + 0x10_0000;
/// Windows: each case's own, 1 GiB apart, so that each needs page tables of its own.
const WINDOWS: u64 = 0x80_0000_0000;
/// No result yet.
const NONE: i32 = i32::MIN;

fn remove(va: u64) {
    // SAFETY: these cases remove only ranges of their own.
    unsafe { raw::remove_pages(va as *mut u8) };
}

/// Fills the region table with one-page regions; returns how many were made.
fn fill_regions() -> u64 {
    let mut n = 0;
    // SAFETY: FILL.. belongs to these cases.
    while unsafe { raw::new_pages((FILL + n * P) as *mut u8, P as u32) } == 0 {
        n += 1;
    }
    n
}

fn unfill(n: u64) {
    for i in 0..n {
        remove(FILL + i * P);
    }
}

/// `ipc_recv` with a window of `pages` pages at `window`, a short buffer at `buf`.
fn recv_window(window: u64, pages: u64, buf: u64, timeout: i32) -> (Result<i32, Error>, u32) {
    let mut len = 8u32;
    let mut long = (pages * P) as u32;
    // SAFETY: `window` is unmapped space of these cases; `buf` is writable for 8 bytes
    // (or deliberately gone, which the kernel must report).
    let r = unsafe { raw::ipc_recv(window as *mut u8, buf as *mut u8, &mut long, &mut len, timeout) };
    (result(r), long)
}

pub fn cases(s: &mut Suite) {
    s.case("window::limits_are_checked_by_ipc_recv_itself", || {
        let mut short = [0u8; 8];
        let buf = short.as_mut_ptr() as u64;
        // A window larger than the whole quota. (The short timeout only bounds the damage
        // should the kernel wait instead of refusing.)
        let quota_plus_one = (128 << 20) / P + 1;
        let over_quota = recv_window(WINDOWS, quota_plus_one, buf, 2).0;
        let n = fill_regions();
        let table_full = recv_window(WINDOWS, 1, buf, 2).0;
        unfill(n);
        ensure_eq!(over_quota, Err(Error::OutOfMemory), "a window past the quota");
        ensure!(n > 0, "no region could be made");
        ensure_eq!(table_full, Err(Error::OutOfMemory), "a window with the region table full");
        ensure_eq!(recv_window(WINDOWS, 1, buf, 0).0, Err(Error::Timeout), "with room again");
        Ok(())
    });

    s.case("window::a_sender_is_not_failed_for_the_receivers_limits", || {
        static GO: AtomicU32 = AtomicU32::new(0);
        static FREED: AtomicU32 = AtomicU32::new(0);
        static FIRST: AtomicI32 = AtomicI32::new(NONE);
        static SECOND: AtomicI32 = AtomicI32::new(NONE);
        static SENT: AtomicI32 = AtomicI32::new(NONE);
        const WIN: u64 = WINDOWS + GIB;
        fill(OUT, 1, 33).map_err(|e| moroso_apps::harness::Msg::new(format_args!("setup: {e}")))?;
        // Both threads start before the region table fills: their stacks are regions too.
        let receiver = libsys::thread::spawn(
            |_| {
                let mut short = [0u8; 8];
                let buf = short.as_mut_ptr() as u64;
                let (r, _) = recv_window(WIN, 1, buf, FOREVER);
                FIRST.store(r.unwrap_or_else(|e| e.code()), SeqCst);
                while FREED.load(SeqCst) == 0 {
                    libsys::time::yield_now();
                }
                let (r, long) = recv_window(WIN, 1, buf, FOREVER);
                // SAFETY: a received page is mapped at the window.
                let first = if long != 0 { i32::from(unsafe { (WIN as *const u8).read_volatile() }) } else { -1 };
                SECOND.store(r.map(|_| first).unwrap_or_else(|e| e.code()), SeqCst);
                if r == Ok(0) {
                    let _ = crate::ipc::reply(b"");
                }
            },
            0,
        )
        .map_err(|e| moroso_apps::harness::Msg::new(format_args!("spawn: {e}")))?;
        let _sender = libsys::thread::spawn(
            move |_| {
                while GO.load(SeqCst) == 0 {
                    libsys::time::yield_now();
                }
                let to = GO.load(SeqCst);
                let (r, _) = send_pages(to, OUT, 1, true, b"", FOREVER);
                SENT.store(r.unwrap_or_else(|e| e.code()), SeqCst);
            },
            0,
        )
        .map_err(|e| moroso_apps::harness::Msg::new(format_args!("spawn: {e}")))?;
        wait_blocked(receiver); // its window is declared and accepted
        let n = fill_regions(); // now there is no room for the window in the region table
        GO.store(receiver, SeqCst);
        while FIRST.load(SeqCst) == NONE && SENT.load(SeqCst) == NONE {
            libsys::time::yield_now();
        }
        let (first, sent_early) = (FIRST.load(SeqCst), SENT.load(SeqCst));
        if n > 0 {
            remove(FILL + (n - 1) * P);
        }
        FREED.store(1, SeqCst);
        while SENT.load(SeqCst) == NONE || (first != NONE && SECOND.load(SeqCst) == NONE) {
            libsys::time::yield_now();
        }
        unfill(n.saturating_sub(1));
        remove(WIN);
        remove(OUT);
        ensure_eq!(sent_early, NONE, "the sender must still be waiting when the receiver fails");
        ensure_eq!(first, Error::OutOfMemory.code(), "the receiver learns of its own limit");
        ensure_eq!(SENT.load(SeqCst), 0, "the sender's call, once the receiver has room");
        ensure_eq!(SECOND.load(SeqCst), 33, "the receiver got the shared page");
        Ok(())
    });

    s.case("window::windows_that_receive_no_pages_give_their_tables_back", || {
        static GO: AtomicU32 = AtomicU32::new(0);
        static DONE: AtomicU32 = AtomicU32::new(0);
        static LAST: AtomicI32 = AtomicI32::new(NONE);
        const ROUNDS: u32 = 8;
        const BASE: u64 = WINDOWS + 8 * GIB;
        let me = raw::gettid();
        let setup = |e: Error| moroso_apps::harness::Msg::new(format_args!("setup: {e}"));
        fill(OUT, 1, 1).map_err(setup)?;
        // The receiver: round i receives into a fresh window, with its short buffer at BUF,
        // which is taken away while it waits, so the transfer fails on its side.
        let receiver = libsys::thread::spawn(
            |_| {
                for i in 1..=ROUNDS + 1 {
                    while GO.load(SeqCst) != i {
                        libsys::time::yield_now();
                    }
                    let (r, _) = recv_window(BASE + i as u64 * GIB, 1, BUF, FOREVER);
                    LAST.store(r.unwrap_or_else(|e| e.code()), SeqCst);
                    DONE.store(i, SeqCst);
                }
                // Its stack stays until the frames are counted.
                while GO.load(SeqCst) != ROUNDS + 2 {
                    libsys::time::yield_now();
                }
            },
            0,
        )
        .map_err(setup)?;
        let failed_transfer = |i: u32| -> Result<(Result<i32, Error>, i32), Error> {
            fill(BUF, 1, 0)?;
            GO.store(i, SeqCst);
            wait_blocked(receiver);
            remove(BUF);
            let sent = send_pages(receiver, OUT, 1, false, b"x", 0).0;
            while DONE.load(SeqCst) != i {
                libsys::time::yield_now();
            }
            Ok((sent, LAST.load(SeqCst)))
        };
        let mut short = [0u8; 8];
        let buf = short.as_mut_ptr() as u64;
        let warm = failed_transfer(1).map_err(setup)?;
        let before = raw::free_frames();
        let mut results = [(Ok(0), 0); ROUNDS as usize];
        let mut own = [(Ok(0), Ok(0), Ok(0)); ROUNDS as usize];
        for i in 0..ROUNDS {
            results[i as usize] = failed_transfer(i + 2).map_err(setup)?;
            // This thread's own windows: timed out, polled, and given a short message only.
            let w = BASE + (16 + 3 * i as u64) * GIB;
            let timed_out = recv_window(w, 1, buf, 1).0;
            let polled = recv_window(w + GIB, 1, buf, 0).0;
            let _ = send_msg(me, b"hi", ASYNC, 0);
            let short_only = recv_window(w + 2 * GIB, 1, buf, FOREVER).0;
            own[i as usize] = (timed_out, polled, short_only);
        }
        let after = raw::free_frames();
        GO.store(ROUNDS + 2, SeqCst);
        remove(OUT);
        ensure_eq!(warm, (Err(Error::Timeout), Error::BadAddress.code()), "the receiver's transfer fails");
        for (i, r) in results.iter().enumerate() {
            ensure_eq!(*r, (Err(Error::Timeout), Error::BadAddress.code()), "round {i}");
        }
        for (i, r) in own.iter().enumerate() {
            ensure_eq!(*r, (Err(Error::Timeout), Err(Error::Timeout), Ok(1)), "own windows, round {i}");
        }
        ensure_eq!(after, before, "free frames after {ROUNDS} rounds of unused windows");
        Ok(())
    });
}
