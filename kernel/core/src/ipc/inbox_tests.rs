//! The inbox flag (`Inboxes::any`, what the direct switch tests instead of a thread's
//! pending interrupts, queued senders and buffered messages) on the host: each kind of thing
//! to receive sets it, every way each one goes clears it once nothing else is left, and the
//! invariants (which check the flag against the three) hold after every step.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::World;
use crate::task::{State, ThreadSlot};
use abi::Error;

const FOREVER: i32 = -1;

/// The invariants hold; returns whether `t` has anything to receive, by its flag.
fn any(w: &World, t: ThreadSlot) -> bool {
    w.core.check_invariants().unwrap();
    w.core.inboxes.any(t)
}

#[test]
fn a_queued_sender_sets_the_flag_until_it_is_received() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    assert!(!any(&w, b));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked), "queued: `b` is not receiving");
    assert!(any(&w, b));
    assert!(!any(&w, a), "the sender's own is untouched");
    assert!(matches!(w.recv(b, 64, FOREVER), Ok(Done(..))));
    assert!(!any(&w, b), "received");
}

#[test]
fn a_queued_sender_that_times_out_clears_the_flag() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    assert_eq!(w.send(a, b, b"ping", 1, 1), Ok(Blocked));
    assert!(any(&w, b));
    w.tick(2);
    assert_eq!(w.take_wake(a).map(|(v, _)| v), Some(Error::Timeout.code() as i64));
    assert!(!any(&w, b), "the sender left the queue");
}

#[test]
fn a_queued_sender_that_dies_clears_the_flag() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    let task = w.core.thread(a).task;
    drop(w.core.exit_task(task, 0));
    assert!(!any(&w, b));
}

#[test]
fn a_buffered_message_sets_the_flag_until_it_is_received() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    assert_eq!(w.send(a, b, b"one", 0, 0), Ok(Done(1, 0)), "buffered");
    assert_eq!(w.send(a, b, b"two", 0, 0), Ok(Done(1, 0)));
    assert!(any(&w, b));
    assert!(matches!(w.recv(b, 64, 0), Ok(Done(..))));
    assert!(any(&w, b), "one left");
    assert!(matches!(w.recv(b, 64, 0), Ok(Done(..))));
    assert!(!any(&w, b), "both received");
}

#[test]
fn a_pending_interrupt_sets_the_flag_until_it_is_received() {
    let mut w = World::new(&[1]);
    let d = w.threads[0];
    w.core.post_interrupt(d, 4);
    w.core.post_interrupt(d, 3);
    assert!(any(&w, d));
    assert!(matches!(w.recv(d, 8, 0), Ok(Done(..))));
    assert!(any(&w, d), "one line left");
    assert!(matches!(w.recv(d, 8, 0), Ok(Done(..))));
    assert!(!any(&w, d));
    assert_eq!(w.recv(d, 8, FOREVER), Ok(Blocked));
    w.core.post_interrupt(d, 5);
    assert!(!any(&w, d), "a waiting driver gets it at once: nothing kept");
}

#[test]
fn the_flag_stays_until_every_kind_is_received() {
    let mut w = World::new(&[1, 1, 1]);
    let (a, b, c) = (w.threads[0], w.threads[1], w.threads[2]);
    assert_eq!(w.send(a, b, b"note", 0, 0), Ok(Done(1, 0)));
    assert_eq!(w.send(c, b, b"call", 1, FOREVER), Ok(Blocked));
    w.core.post_interrupt(b, 2);
    for left in [true, true, false] {
        assert!(any(&w, b));
        assert!(matches!(w.recv(b, 64, 0), Ok(Done(..))));
        assert_eq!(any(&w, b), left);
    }
    assert!(matches!(w.state(c), State::AwaitingReply { .. }), "the call came last (interrupt, then by age)");
}

#[test]
fn a_dying_receiver_leaves_nothing_to_the_next_thread_in_its_slot() {
    let mut w = World::new(&[1, 1, 1]);
    let (a, b, c) = (w.threads[0], w.threads[1], w.threads[2]);
    assert_eq!(w.send(a, b, b"note", 0, 0), Ok(Done(1, 0)));
    assert_eq!(w.send(c, b, b"call", 1, FOREVER), Ok(Blocked));
    w.core.post_interrupt(b, 2);
    let task = w.core.thread(b).task;
    drop(w.core.exit_task(task, 0));
    assert_eq!(w.take_wake(c).map(|(v, _)| v), Some(Error::PeerDied.code() as i64), "its caller released");
    w.core.check_invariants().unwrap();
    while w.core.reap().is_some() {}
    let fresh = w.core.create_task("t", super::fixture::Mem::new(&w.frames)).unwrap();
    let t = w.core.create_thread(fresh, crate::mem::KernelStack::EMPTY).unwrap();
    assert_eq!(t, b, "the dead thread's slot");
    assert!(!any(&w, t), "nothing of the dead thread's");
}
