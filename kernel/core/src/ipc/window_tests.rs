//! Receive windows and the receiver's limits, on the host: a window's
//! region-table room, quota and page tables are checked and made in `ipc_recv` itself; a
//! sender is never failed for the receiver's limits; the tables of a window that ends up
//! unused are freed however the receive ends.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::{code, long_base, recv_buf, send_buf, window, World, NOT_TRANSFERRED};
use crate::mem::pagemap::PageMap;
use crate::mem::regions::{Region, MAX_REGIONS};
use crate::task::State;
use crate::task::ThreadSlot;
use abi::Error;

const P: u64 = abi::PAGE_SIZE as u64;
const FOREVER: i32 = -1;
/// Somewhere in the receiver's space no test maps anything.
const FAR: u64 = 0x50_0000_0000;

fn world() -> (World, ThreadSlot, ThreadSlot) {
    let w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    (w, a, b)
}

/// Fills `t`'s region table with one-page regions (bookkeeping, and one page mapped:
/// `new_pages` maps what it adds, so the space grows).
fn fill_regions(w: &mut World, t: ThreadSlot) {
    w.mem(t).map(FAR, 1, true);
    let regions = w.mem(t).regions();
    let mut i = 0;
    while regions.add(Region { base: FAR + i * 2 * P, pages: 1 }).is_ok() {
        i += 1;
    }
}

#[test]
fn a_window_past_the_region_table_fails_the_receive_at_once() {
    let (mut w, _, b) = world();
    fill_regions(&mut w, b);
    assert!(w.mem(b).regions().iter().count() == MAX_REGIONS);
    let tables = w.mem(b).table_frames();
    assert_eq!(w.recv_long(b, 2, FOREVER), Err(Error::OutOfMemory), "not a wait for a sender to fail");
    assert_eq!(w.state(b), State::Runnable);
    assert_eq!(w.mem(b).table_frames(), tables, "no tables made for it");
}

#[test]
fn a_window_past_the_quota_fails_the_receive_at_once() {
    let (mut w, _, b) = world();
    w.mem(b).regions().add(Region { base: FAR, pages: (1 << 20) - 1 }).unwrap();
    assert_eq!(w.recv_long(b, 2, FOREVER), Err(Error::OutOfMemory));
    assert_eq!(w.recv_long(b, 1, 0), Err(Error::Timeout), "a window that fits is fine");
}

#[test]
fn a_window_past_the_table_limit_fails_the_receive_at_once() {
    let (mut w, _, b) = world();
    let held = w.mem(b).table_frames();
    w.mem(b).set_table_limit(held + 1); // the window needs a PD and a PT
    assert_eq!(w.recv_long(b, 2, FOREVER), Err(Error::OutOfMemory));
    assert_eq!(w.mem(b).table_frames(), held, "all or nothing");
    w.mem(b).set_table_limit(held + 2);
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.mem(b).table_frames(), held + 2, "made and charged while it waits");
}

#[test]
fn a_sender_is_not_failed_for_the_receivers_region_table() {
    let (mut w, a, b) = world();
    w.map_long(a, 1, 40);
    assert_eq!(w.recv_long(b, 1, FOREVER), Ok(Blocked));
    // While b waits, its task fills its region table (another thread could).
    fill_regions(&mut w, b);
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked), "the sender waits");
    assert_eq!(w.take_wake(b), Some((code(Error::OutOfMemory), None)), "the receiver is told");
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b));
    w.mem(b).regions().remove(FAR);
    assert_eq!(w.recv_long(b, 1, 0), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.tags(b, window(b), 1), [Some(40)]);
}

#[test]
fn an_unused_windows_tables_are_freed_however_the_receive_ends() {
    let (mut w, a, b) = world();
    let held = w.mem(b).table_frames();
    // Timed out.
    assert_eq!(w.recv_long(b, 2, 3), Ok(Blocked));
    assert_eq!(w.mem(b).table_frames(), held + 2);
    w.tick(3);
    assert_eq!(w.take_wake(b), Some((code(Error::Timeout), None)));
    assert_eq!(w.mem(b).table_frames(), held, "timed out");
    // Nothing to receive, polling.
    assert_eq!(w.recv_long(b, 2, 0), Err(Error::Timeout));
    assert_eq!(w.mem(b).table_frames(), held, "polled");
    // A short message only, to a waiting receiver and to one that finds it queued.
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"hi", 2, FOREVER), Ok(Done(0, 0)));
    assert_eq!(w.mem(b).table_frames(), held, "short message delivered to the receiver");
    w.take_wake(b);
    assert_eq!(w.send(a, b, b"hi", 0, 0), Ok(Done(1, 0)));
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(w.mem(b).table_frames(), held, "queued short message received");
    // A transfer that fails on the receiver's side.
    w.map_long(a, 1, 5);
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    w.mem(b).unmap(recv_buf(b));
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked));
    assert_eq!(w.take_wake(b), Some((code(Error::BadAddress), None)));
    assert_eq!(w.mem(b).table_frames(), held, "failed transfer");
}

#[test]
fn a_received_window_keeps_only_the_tables_it_uses() {
    let (mut w, a, b) = world();
    w.map_long(a, 1, 9);
    let held = w.mem(b).table_frames();
    // 4 MiB: two PTs (and a PD); one page arrives, in the first.
    assert_eq!(w.recv_long(b, 1024, FOREVER), Ok(Blocked));
    assert_eq!(w.mem(b).table_frames(), held + 3);
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked));
    assert_eq!(w.mem(b).table_frames(), held + 2, "the unused PT went");
    assert_eq!(w.reply(b, b""), Ok(Done(0, 0)));
    assert!(w.remove_region(b, window(b)));
    assert_eq!(w.mem(b).table_frames(), held, "and the rest with the received pages");
    assert_eq!(w.mem(a).regions().find(long_base(a)), None);
}

#[test]
fn a_waiting_windows_tables_survive_a_siblings_unmap() {
    let w = World::new(&[1, 2]);
    let (a, b, c) = (w.threads[0], w.threads[1], w.threads[2]);
    let mut w = w;
    w.map_long(a, 1, 60);
    assert_eq!(w.recv_long(b, 1, FOREVER), Ok(Blocked));
    // Thread c of the same task maps and unmaps a page next to b's window.
    let held = w.mem(c).table_frames();
    w.mem(c).map(window(b) + 8 * P, 1, true);
    w.mem(c).unmap(window(b) + 8 * P);
    assert_eq!(w.mem(c).table_frames(), held, "the window's tables stay reserved");
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked));
    assert_eq!(w.take_wake(b), Some((0, Some(w.tid(a) as u64))));
    assert_eq!(w.tags(b, window(b), 1), [Some(60)]);
}

#[test]
fn a_window_mapped_into_while_its_receiver_waits_is_looked_at_again() {
    // `ipc_recv` found the window free; then another thread of the receiver's task maps a
    // page inside it. The rendezvous must not trust the earlier look.
    let (mut w, a, b) = world();
    w.map_long(a, 2, 7);
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    w.mem(b).map(window(b) + P, 1, true);
    assert_eq!(w.send_long(a, b, 2, false, FOREVER), Ok(Blocked), "the sender waits");
    assert_eq!(w.take_wake(b), Some((code(Error::WindowOccupied), None)), "the receiver is told");
    assert_eq!(w.tags(a, long_base(a), 2), [Some(7), Some(8)], "nothing moved");
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b));
}

// A receive that finds a long send queued takes it at once, without reserving its window:
// the rendezvous makes (and charges) the tables the pages need, and frees them again if it
// fails.

#[test]
fn a_queued_long_send_taken_at_once_makes_only_the_tables_it_uses() {
    let (mut w, a, b) = world();
    w.map_long(a, 1, 9);
    let held = w.mem(b).table_frames();
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked), "queued");
    // A 4 MiB window (two PTs and a PD, were it reserved); one page arrives.
    assert_eq!(w.recv_long(b, 1024, FOREVER), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.mem(b).table_frames(), held + 2, "the PD and the one PT the page needs, charged");
    assert!(!w.core.thread(b).ipc.has_window(), "no window held after the receive");
    assert_eq!(w.tags(b, window(b), 1), [Some(9)]);
    assert_eq!(w.reply(b, b""), Ok(Done(0, 0)));
    assert!(w.remove_region(b, window(b)));
    assert_eq!(w.mem(b).table_frames(), held, "freed with the pages");
}

#[test]
fn a_queued_long_send_past_the_table_limit_fails_the_receive_and_stays_queued() {
    let (mut w, a, b) = world();
    w.map_long(a, 1, 3);
    let held = w.mem(b).table_frames();
    w.mem(b).set_table_limit(held + 1); // the page needs a PD and a PT
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked), "queued");
    assert_eq!(w.recv_long(b, 1, FOREVER), Err(Error::OutOfMemory), "as when the window is reserved first");
    assert_eq!(w.mem(b).table_frames(), held, "all or nothing");
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b), "the sender waits on");
    assert_eq!(w.tags(a, long_base(a), 1), [Some(3)]);
    w.mem(b).set_table_limit(held + 2);
    assert_eq!(w.recv_long(b, 1, FOREVER), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.tags(b, window(b), 1), [Some(3)]);
}

#[test]
fn a_queued_share_that_fails_at_once_leaves_both_spaces_and_the_counts_as_they_were() {
    // The sender's short buffer goes while it waits: the rendezvous fails after it made the
    // window's tables and reserved the share's counts. Both are given back, the sender is
    // failed, and the receive goes on as if it had never been queued.
    let (mut w, a, b) = world();
    w.map_long(a, 2, 20);
    let frames: Vec<u64> = (0..2).map(|i| w.mem(a).page(long_base(a) + i * P).unwrap().frame).collect();
    let (held, a_held) = (w.mem(b).table_frames(), w.mem(a).table_frames());
    let (b_regions, a_regions) = (w.mem(b).regions().iter().count(), w.mem(a).regions().iter().count());
    assert_eq!(w.send_long(a, b, 2, true, FOREVER), Ok(Blocked), "queued");
    w.mem(a).unmap(send_buf(a));
    let a_held = a_held.min(w.mem(a).table_frames());
    assert_eq!(w.recv_long(b, 2, 0), Err(Error::Timeout), "nobody else to receive");
    assert_eq!(w.take_wake(a), Some((code(Error::BadAddress), NOT_TRANSFERRED)));
    assert_eq!(w.mem(b).table_frames(), held, "the tables made for the window were freed again");
    assert_eq!(w.mem(a).table_frames(), a_held);
    assert_eq!(frames.iter().map(|&f| w.frames.map_count(f)).collect::<Vec<_>>(), [1, 1], "no count left reserved");
    assert!(w.mem(b).is_unmapped(window(b), 2));
    assert_eq!(w.tags(a, long_base(a), 2), [Some(20), Some(21)], "the pages stay the sender's");
    assert_eq!(w.mem(b).regions().iter().count(), b_regions);
    assert_eq!(w.mem(a).regions().iter().count(), a_regions);
    assert!(!w.core.thread(b).ipc.has_window());
}
