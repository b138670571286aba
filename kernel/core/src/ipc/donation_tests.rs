//! Scheduler donation on the host: a thread an IPC operation woke runs as soon as its
//! waker waits, ahead of the run queue and on the waker's slice, on every path (the spec's
//! `ipc_reply` then `ipc_recv`, the combined reply-and-wait, the fast path, an asynchronous
//! send to a waiting receiver); a tick ends the donation, and an IPC pair cannot starve a
//! runnable thread.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::World;
use crate::task::{State, ThreadSlot, QUANTUM_TICKS};

const FOREVER: i32 = -1;
const SPINNERS: usize = 16;

/// A client, a server (other tasks) and `SPINNERS` runnable threads of a third task.
fn world() -> (World, ThreadSlot, ThreadSlot, Vec<ThreadSlot>) {
    let w = World::new(&[1, 1, SPINNERS]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let spinners = w.threads[2..].to_vec();
    (w, a, b, spinners)
}

#[test]
fn a_replied_caller_runs_next_ahead_of_runnable_threads() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.core.current(), Some(b), "the call runs the server at once");
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.state(a), State::Runnable);
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(a), "the caller runs on the server's slice, not after 16 others");
    assert_eq!(w.reply_of(a), b"pong");
}

#[test]
fn a_reply_and_wait_that_finds_a_message_donates_to_the_caller_when_it_waits() {
    let (mut w, a, b, spinners) = world();
    let c = spinners[0];
    assert_eq!(w.reply_wait(b, None, FOREVER), Ok(Blocked));
    assert_eq!(w.call_fast(a, b, b"one", FOREVER), Ok(Blocked));
    assert_eq!(w.send(c, b, b"two", 1, FOREVER), Ok(Blocked), "queued behind the server's work");
    w.core.schedule();
    assert_eq!(w.reply_wait(b, Some(b"1"), FOREVER), Ok(Done(0, w.tid(c) as u64)), "the next call at once");
    assert_eq!(w.core.current(), Some(b), "the server goes on with it");
    assert_eq!(w.reply(b, b"2"), Ok(Done(0, 0)));
    assert_eq!(w.reply_wait(b, None, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(c), "the last caller answered runs first");
}

#[test]
fn an_asynchronous_message_to_a_waiting_receiver_runs_it_when_the_sender_waits() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"note", 0, 0), Ok(Done(0, 0)));
    assert_eq!(w.core.current(), Some(a), "an asynchronous sender goes on");
    assert_eq!(w.recv(a, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(b));
    assert_eq!(w.received(b), b"note");
}

#[test]
fn a_tick_ends_the_donation() {
    let (mut w, a, b, spinners) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    w.tick(1); // the server's slice ends: it goes to the tail, behind the caller
    assert_eq!(w.core.schedule(), Some(spinners[0]), "the head of the queue runs, not the caller");
}

#[test]
fn yielding_gives_the_cpu_to_the_queue_not_to_the_partner() {
    let (mut w, a, b, spinners) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.core.yield_to(w.cur(), -1), Ok(()));
    assert_eq!(w.core.schedule(), Some(spinners[0]));
}

/// A partner an IPC operation runs, at once (the call's hand-off, the fast path's) or on
/// the donation (a reply, an asynchronous message to a waiting receiver), goes on with what
/// is left of the slice, not a fresh one: an IPC pair shares one slice as one thread would.
#[test]
fn a_partner_runs_on_the_rest_of_the_slice() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let run = |w: &World| (w.core.current(), w.core.slice());
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(a));
    assert_eq!(w.core.slice(), QUANTUM_TICKS, "a whole slice, from the run queue");
    w.tick(1); // nobody else is runnable: `a` goes on, on what is left
    let left = QUANTUM_TICKS - 1;
    assert_eq!(run(&w), (Some(a), left));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(run(&w), (Some(b), left), "the call runs the server on the rest");
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.reply_wait(b, None, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(a));
    assert_eq!(run(&w), (Some(a), left), "the reply's donation");
    w.take_wake(a);
    assert_eq!(w.call_fast(a, b, b"ping", FOREVER), Ok(Blocked));
    assert_eq!(run(&w), (Some(b), left), "the fast path's call");
    assert_eq!(w.reply_wait(b, Some(b"pong"), FOREVER), Ok(Blocked));
    assert_eq!(run(&w), (Some(a), left), "the fast path's reply and wait");
    assert_eq!(w.send(a, b, b"note", 0, 0), Ok(Done(0, 0)));
    assert_eq!(w.recv(a, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(b));
    assert_eq!(run(&w), (Some(b), left), "an asynchronous message's donation");
    w.core.check_invariants().unwrap();
}

/// The threads in the order they run from now on, each yielding at once, `n` of them.
fn order(w: &mut World, n: usize) -> Vec<ThreadSlot> {
    let mut ran = Vec::new();
    for _ in 0..n {
        let c = w.core.schedule().expect("something runnable");
        w.core.check_invariants().unwrap();
        ran.push(c);
        assert_eq!(w.core.yield_to(c, -1), Ok(()));
    }
    ran
}

/// `b` has answered `a`'s call: `a` is held for the donation, runnable in no queue.
fn replied() -> (World, ThreadSlot, ThreadSlot, Vec<ThreadSlot>) {
    let (mut w, a, b, spinners) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.state(a), State::Runnable);
    w.core.check_invariants().unwrap();
    (w, a, b, spinners)
}

#[test]
fn a_donation_a_tick_ends_puts_the_caller_at_the_back_of_the_queue() {
    let (mut w, a, b, spinners) = replied();
    w.tick(1); // the server's slice ends too: it goes to the tail, behind the caller
    w.core.check_invariants().unwrap();
    let mut want = spinners.clone();
    want.extend([a, b]);
    assert_eq!(order(&mut w, SPINNERS + 2), want, "the caller waits its turn, after every spinner");
}

#[test]
fn a_donation_a_yield_ends_puts_the_caller_at_the_back_of_the_queue() {
    let (mut w, a, b, spinners) = replied();
    assert_eq!(w.core.yield_to(b, -1), Ok(()));
    w.core.check_invariants().unwrap();
    let mut want = spinners.clone();
    want.extend([a, b]);
    assert_eq!(order(&mut w, SPINNERS + 2), want);
}

#[test]
fn a_second_donation_puts_the_first_caller_at_the_back_of_the_queue() {
    let (mut w, a, b, spinners) = world();
    let c = spinners[0];
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"one", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.send(c, b, b"two", 1, FOREVER), Ok(Blocked), "queued behind the server's work");
    assert_eq!(w.reply(b, b"1"), Ok(Done(0, 0)));
    assert!(matches!(w.recv(b, 64, FOREVER), Ok(Done(..))), "the next call at once");
    assert_eq!(w.reply(b, b"2"), Ok(Done(0, 0)));
    w.core.check_invariants().unwrap();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(c), "the last caller answered runs first");
    let mut want = vec![c];
    want.extend(&spinners[1..]);
    want.push(a);
    assert_eq!(order(&mut w, SPINNERS + 1), want, "the first caller waits its turn");
}

#[test]
fn a_caller_held_for_the_donation_that_dies_is_never_run() {
    let (mut w, a, b, spinners) = replied();
    let task = w.core.thread(a).task;
    drop(w.core.exit_task(task, 0));
    w.core.check_invariants().unwrap();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(order(&mut w, SPINNERS), spinners, "the run queue, without the dead caller");
}

#[test]
fn without_the_direct_switch_there_is_no_donation() {
    let (mut w, a, b, spinners) = world();
    w.core.set_handoff(false);
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    w.core.switch_to(b);
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(spinners[0]), "plain round robin");
}

/// A model of the machine: a client calling a server with the spec's calls as fast as it
/// can, and `SPINNERS` threads that never block, with ticks landing anywhere. Every spinner
/// runs within `SPINNERS + 1` ticks of its last slice (round robin's bound: a donation
/// never puts anyone ahead of it), and whenever the server replies and waits again within
/// one slice, the caller runs next.
#[test]
fn an_ipc_pair_never_starves_runnable_threads() {
    let (mut w, a, b, spinners) = world();
    let mut seed = 0x5eed_u64;
    let mut rnd = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut ticks = 0u64;
    let mut last_ran = [0u64; crate::task::MAX_THREADS];
    let (mut round_trips, mut donations, mut ticked_since_reply) = (0, 0, true);
    let mut spinner_slices = 0;
    for _ in 0..50_000 {
        let c = w.core.schedule().expect("spinners are always runnable");
        if spinners.contains(&c) {
            assert!(ticks - last_ran[c] <= SPINNERS as u64 + 1, "spinner waited {} ticks", ticks - last_ran[c]);
            w.tick(1); // it spins until the timer ends its slice
            ticks += 1;
            last_ran[c] = ticks;
            spinner_slices += 1;
            continue;
        }
        if rnd(3) == 0 {
            w.tick(1); // the tick lands while the pair runs
            ticks += 1;
            ticked_since_reply = true;
            continue;
        }
        if c == a {
            w.take_wake(a);
            assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
        } else if w.core.thread(b).ipc.reply_to.is_some() {
            assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
            round_trips += 1;
            ticked_since_reply = false;
        } else if w.recv(b, 64, FOREVER) == Ok(Blocked) && w.state(a) == State::Runnable && !ticked_since_reply {
            assert_eq!(w.core.schedule(), Some(a), "the caller runs on the rest of the slice");
            donations += 1;
        }
    }
    assert!(
        round_trips > 1_000 && donations > 500 && spinner_slices > 10_000,
        "{round_trips} {donations} {spinner_slices}"
    );
}
