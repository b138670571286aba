//! Tests from an independent security review of the fast paths and long-message batching.
//! Each `finding` test failed on the code as reviewed and states the behaviour its fix
//! restored; the others pin down properties the review checked and found to hold.

use crate::ipc::fixture::Outcome::Blocked;
use crate::ipc::fixture::{code, long_base, window, World};
use crate::mem::pagemap::PageMap;
use crate::mem::regions::{Region, MAX_REGIONS};
use crate::task::{State, ThreadSlot};
use abi::Error;

const P: u64 = abi::PAGE_SIZE as u64;
const FOREVER: i32 = -1;
/// Somewhere no fixture maps anything.
const FAR: u64 = 0x50_0000_0000;

/// Adds one-page regions (bookkeeping only) to `t`'s task until exactly `free` entries of
/// its region table are left.
fn fill_regions_but(w: &mut World, t: ThreadSlot, free: usize) {
    let regions = w.mem(t).regions();
    let mut i = 0;
    while regions.iter().count() < MAX_REGIONS - free {
        regions.add(Region { base: FAR + i * 2 * P, pages: 1 }).unwrap();
        i += 1;
    }
}

/// Finding 1. A receiver whose window was checked by `ipc_recv` against a region table with
/// one free entry, sent a long message by a thread of its own task that moves the middle
/// page of one of its regions: the move's punch splits that region and takes the last
/// entry, so the window's region no longer fits. `prepare_long` skips the region check
/// when the receiver's growth is unchanged (`known`), so it no longer asks
/// `check_add_after_punch`, and `commit_long` cannot add the window's region (a
/// `debug_assert` panic in debug builds; in release, pages mapped with no region: never
/// removable by `remove_pages`, outside the region quota). Before the batching branch the
/// receiver was failed with `OutOfMemory` and the sender left queued.
#[test]
fn a_move_within_a_task_that_punches_the_last_region_entry_fails_the_receiver() {
    let mut w = World::new(&[2]);
    let (a, b) = (w.threads[0], w.threads[1]);
    w.map_long(a, 3, 40); // one region of three pages
    fill_regions_but(&mut w, a, 1);
    assert_eq!(w.recv_long(b, 1, FOREVER), Ok(Blocked), "one entry left: the window fits");
    // The middle page: the punch leaves two regions where there was one.
    let r = w.send_long_from(a, long_base(a) + P, b, 1, false, FOREVER);
    assert_eq!(r, Ok(Blocked), "the sender waits");
    assert_eq!(w.take_wake(b), Some((code(Error::OutOfMemory), None)), "the receiver is told");
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b));
    assert_eq!(w.tags(a, long_base(a), 3), [Some(40), Some(41), Some(42)], "nothing moved");
    assert_eq!(w.tags(b, window(b), 1), [None]);
}

/// Finding 1, across tasks: while the receiver waits, another thread of its task moves the
/// middle page of a region to a third task (the punch takes the receiver task's last
/// region entry; its generation moves, its growth does not). A sender from a fourth task
/// then finds the window "known" and its commit cannot add the window's region.
#[test]
fn a_punch_while_the_receiver_waits_is_seen_by_the_next_sender() {
    let mut w = World::new(&[2, 1, 1]);
    let (b, c, x, d) = (w.threads[0], w.threads[1], w.threads[2], w.threads[3]);
    w.map_long(c, 3, 40);
    w.map_long(d, 1, 70);
    fill_regions_but(&mut w, b, 1);
    assert_eq!(w.recv_long(b, 1, FOREVER), Ok(Blocked), "one entry left: the window fits");
    // c (b's task) moves the middle page of its region to x: the punch takes the last entry.
    assert_eq!(w.recv_long(x, 1, FOREVER), Ok(Blocked));
    assert!(w.send_long_from(c, long_base(c) + P, x, 1, false, FOREVER).is_ok());
    assert_eq!(w.tags(x, window(x), 1), [Some(41)], "the move happened");
    assert_eq!(w.mem(b).regions().iter().count(), MAX_REGIONS, "b's task's table is full now");
    // d's send to b: the window's region cannot be added any more.
    let r = w.send_long(d, b, 1, false, FOREVER);
    assert_eq!(r, Ok(Blocked), "the sender waits");
    assert_eq!(w.take_wake(b), Some((code(Error::OutOfMemory), None)), "the receiver is told");
    assert_eq!(w.tags(d, long_base(d), 1), [Some(70)], "nothing moved");
}
