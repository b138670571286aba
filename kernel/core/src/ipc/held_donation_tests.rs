//! The donation held out of the run queue: every way a donation can end, or its holder or
//! held thread leave, keeps every runnable thread reachable (current, held or queued,
//! exactly once), and a thread that never blocks still runs within round robin's bound
//! whatever two IPC programs do around it.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::World;
use crate::task::{State, ThreadSlot};
use abi::Error;

const FOREVER: i32 = -1;

/// Client `a`, server `b` (one task each) and `n` spinners of a third task; `b` has just
/// answered `a`'s call, so `a` is held for the donation and `b` runs.
fn replied(n: usize) -> (World, ThreadSlot, ThreadSlot, Vec<ThreadSlot>) {
    let mut w = World::new(&[1, 1, n]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let spinners = w.threads[2..].to_vec();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.core.donated(), Some(a));
    assert_eq!(w.core.current(), Some(b));
    w.core.check_invariants().unwrap();
    (w, a, b, spinners)
}

/// Runs `n` slices (each thread yields at once), checking the invariants: the order.
fn order(w: &mut World, n: usize) -> Vec<ThreadSlot> {
    (0..n)
        .map(|_| {
            let c = w.core.schedule().expect("something runnable");
            w.core.check_invariants().unwrap();
            assert_eq!(w.core.yield_to(c, -1), Ok(()));
            c
        })
        .collect()
}

#[test]
fn a_holder_that_dies_leaves_the_held_caller_to_run_next() {
    let (mut w, a, b, spinners) = replied(3);
    let task = w.core.thread(b).task;
    drop(w.core.exit_task(task, 0));
    w.core.check_invariants().unwrap();
    assert_eq!(w.core.schedule(), Some(a), "the held caller runs on what is left of the slice");
    let mut want = spinners.clone();
    want.push(a);
    assert_eq!(order(&mut w, 5)[1..], want[..], "then the queue, once each");
}

#[test]
fn a_holder_that_sleeps_deschedules_or_waits_runs_the_held_caller() {
    for how in 0..3 {
        let (mut w, a, b, _) = replied(2);
        match how {
            0 => assert_eq!(w.sleep(b, 3), Ok(true)),
            1 => assert!(w.core.deschedule(b, 0)),
            _ => {
                // b waits for a task it may not wait for: refused, it runs on.
                let other = w.core.thread(a).task;
                let id = w.core.task(other).id;
                assert_eq!(w.task_wait(b, id), Err(Error::PermissionDenied));
                assert_eq!(w.core.yield_to(b, -1), Ok(()));
            }
        }
        w.core.check_invariants().unwrap();
        let first = w.core.schedule();
        if how < 2 {
            assert_eq!(first, Some(a), "case {how}");
        } else {
            assert_ne!(first, Some(a), "a yield ends the donation (case {how})");
        }
        w.core.check_invariants().unwrap();
    }
}

#[test]
fn yielding_to_the_held_thread_runs_it_once() {
    let (mut w, a, b, spinners) = replied(3);
    assert_eq!(w.core.yield_to(b, w.tid(a) as i32), Ok(()));
    w.core.check_invariants().unwrap();
    assert_eq!(w.core.current(), Some(a));
    let ran = order(&mut w, 1 + 3 + 1 + 1);
    let mut want = vec![a];
    want.extend(&spinners);
    want.extend([b, a]);
    assert_eq!(ran, want, "the caller is in the queue once, after it ran");
}

#[test]
fn yielding_to_another_puts_the_held_thread_in_the_queue() {
    let (mut w, a, b, spinners) = replied(3);
    assert_eq!(w.core.yield_to(b, w.tid(spinners[2]) as i32), Ok(()));
    w.core.check_invariants().unwrap();
    let ran = order(&mut w, 6);
    assert_eq!(ran, vec![spinners[2], spinners[0], spinners[1], a, b, spinners[2]]);
}

#[test]
fn an_interrupt_while_a_thread_is_held_loses_neither() {
    let (mut w, a, b, spinners) = {
        let mut w = World::new(&[1, 1, 2]);
        let (a, b) = (w.threads[0], w.threads[1]);
        let spinners = w.threads[2..].to_vec();
        assert_eq!(w.recv(spinners[1], 64, FOREVER), Ok(Blocked));
        assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
        assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
        assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
        (w, a, b, spinners)
    };
    let driver = spinners[1];
    assert_eq!(w.core.donated(), Some(a));
    w.core.post_interrupt(driver, 3);
    w.core.check_invariants().unwrap();
    assert_eq!(w.state(driver), State::Runnable);
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.core.schedule(), Some(a), "the donation still runs first");
    let ran = order(&mut w, 3);
    assert_eq!(ran, vec![a, spinners[0], driver]);
}

#[test]
fn a_holder_that_calls_another_server_keeps_the_held_thread() {
    // b answers a (a held), then calls c, a waiting server: c runs (hand_off), a is still
    // held, and runs as soon as c waits.
    let mut w = World::new(&[1, 1, 1, 1]);
    let (a, b, c, s) = (w.threads[0], w.threads[1], w.threads[2], w.threads[3]);
    assert_eq!(w.recv(c, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.reply(b, b"pong"), Ok(Done(0, 0)));
    assert_eq!(w.send(b, c, b"more", 1, FOREVER), Ok(Blocked));
    w.core.check_invariants().unwrap();
    assert_eq!(w.core.current(), Some(c));
    assert_eq!(w.core.donated(), Some(a));
    assert_eq!(w.sleep(c, 5), Ok(true), "c owes b a reply: it sleeps instead");
    assert_eq!(w.core.schedule(), Some(a));
    w.core.check_invariants().unwrap();
    assert_eq!(order(&mut w, 3), vec![a, s, a]);
}

/// A deterministic generator.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Random programs: four threads in two tasks doing every IPC call, yields (to the queue
/// and to a named thread), sleeps, deschedule and make_runnable, exits, with ticks and
/// interrupts landing anywhere; a fifth thread never blocks. Always the current thread
/// acts (never `switch_to`, which would end donations the machine would not end). After
/// every step: the invariants (every runnable thread current, held or queued, once), and
/// the spinner runs within round robin's bound.
#[test]
fn random_programs_never_lose_a_thread_or_starve_a_spinner() {
    let (mut held_ran, mut held_ended) = (0u32, 0u32);
    for seed in 0..1000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut w = World::new(&[2, 2, 1]);
        let th = w.threads.clone();
        let spinner = th[4];
        let (mut ticks, mut last) = (0u64, 0u64);
        for step in 0..300 {
            let ctx = format!("seed {seed} step {step}");
            let held = w.core.donated();
            if held.is_some() && w.core.current().is_none() {
                held_ran += 1;
            }
            let Some(me) = w.core.schedule() else {
                w.tick(1);
                ticks += 1;
                continue;
            };
            w.core.check_invariants().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if me == spinner {
                assert!(ticks - last <= 6, "{ctx}: the spinner waited {} ticks", ticks - last);
                last = ticks;
                w.tick(1);
                ticks += 1;
                continue;
            }
            let other = th[rng.below(4) as usize];
            let any = th[rng.below(5) as usize];
            let _ = w.core.take_results(me);
            match rng.below(20) {
                0 => {
                    w.tick(1);
                    ticks += 1;
                }
                1 => {
                    let _ = w.core.yield_to(me, -1);
                }
                2 => {
                    let _ = w.core.yield_to(me, w.tid(any) as i32);
                }
                3 => {
                    let _ = w.sleep(me, rng.below(3) as i32);
                }
                4 => {
                    let _ = w.core.deschedule(me, 0);
                }
                5 => {
                    let tid = crate::task::Tid::from_raw(w.tid(other));
                    let _ = w.core.make_runnable(me, tid);
                }
                6 if rng.below(8) == 0 => {
                    drop(w.core.exit_thread(me));
                }
                7 if rng.below(8) == 0 => {
                    let task = w.core.thread(other).task;
                    if w.core.thread(other).tid.raw() == w.tid(other) {
                        drop(w.core.exit_task(task, 0));
                    }
                }
                8 => {
                    if !matches!(w.state(other), State::Free | State::Zombie) {
                        w.core.post_interrupt(other, 1 + rng.below(4) as u8);
                    }
                }
                9..=11 => {
                    let mode = rng.below(3) as u32;
                    let timeout = [-1, 0, 2][rng.below(3) as usize];
                    let _ = w.send(me, other, b"msg", mode, timeout);
                }
                12..=14 => {
                    let timeout = [-1, 0, 2][rng.below(3) as usize];
                    let _ = w.recv(me, 64, timeout);
                }
                15..=16 => {
                    let _ = w.reply(me, b"re");
                }
                17 => {
                    let _ = w.call_fast(me, other, b"fast", [-1, 0][rng.below(2) as usize]);
                }
                _ => {
                    let reply: Option<&[u8]> = if rng.below(2) == 0 { Some(b"rw") } else { None };
                    let _ = w.reply_wait(me, reply, [-1, 2][rng.below(2) as usize]);
                }
            }
            w.core.check_invariants().unwrap_or_else(|e| panic!("{ctx}: after the step: {e}"));
            if held.is_some() && w.core.donated().is_none() && w.core.current() != held {
                held_ended += 1;
            }
            while w.core.reap().is_some() {}
        }
    }
    assert!(held_ran > 200 && held_ended > 200, "coverage: {held_ran} run held, {held_ended} ended otherwise");
}
