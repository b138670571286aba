//! Model-based test of the IPC state machine: random sequences of operations over several
//! threads, each step checked against a small reference model written for clarity, not
//! speed: mailboxes are `VecDeque`s, thread states are spelled out.
//!
//! Checked after every step: the exact result of the call, the exact result delivered to
//! every thread woken by it, the bytes each receive and each reply delivered (so FIFO order,
//! no loss and no duplication), that kernel buffers are all accounted for, and the core's
//! state invariants (`Core::check_invariants`). Besides IPC the threads sleep and wait for
//! tasks (each thread's task is the parent of the next one's), so every blocked state is
//! reached and checked.
//!
//! `MOROSO_IPC_SEED=n cargo test -p moroso-kernel model` replays one sequence.

use super::fixture::Outcome;
use super::fixture::{code, World};
use abi::ipc::ASYNC_QUEUE_MAX;
use abi::Error;
use std::collections::VecDeque;

const SEQUENCES: u64 = 10_000;
const STEPS: usize = 60;
const THREADS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Async,
    Sync,
    NoReply,
}

#[derive(Clone, Debug)]
enum Entry {
    Sync { sender: usize, id: u32, len: u32, mode: Mode },
    Async { sender: usize, id: u32, len: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Block {
    None,
    Send {
        to: usize,
        deadline: Option<u64>,
    },
    ReplyWait {
        from: usize,
        deadline: Option<u64>,
    },
    Recv {
        deadline: Option<u64>,
        cap: u32,
    },
    /// In `sleep` until this tick.
    Sleep {
        until: u64,
    },
    /// In `task_wait` for the next thread's task (its child).
    TaskWait,
}

#[derive(Clone, Debug)]
struct MThread {
    alive: bool,
    block: Block,
    /// The message this thread sent while blocked in a send: (id, len).
    sending: (u32, u32),
    /// The sender this thread owes a reply.
    reply_to: Option<usize>,
    /// Its task's status has been collected by its parent (the previous thread's task).
    collected: bool,
}

/// What a woken thread must see: rax, rdx, and the bytes delivered to it (a reply, for a
/// sender).
#[derive(Clone, Debug, PartialEq)]
struct Wake {
    rax: i64,
    rdx: Option<u64>,
    bytes: Option<Vec<u8>>,
    sender: bool,
    /// It was woken from `sleep` / `task_wait` (for the coverage counts).
    slept: bool,
    waited_task: bool,
}

struct Model {
    now: u64,
    t: Vec<MThread>,
    mbox: Vec<VecDeque<Entry>>,
    wakes: Vec<Option<Wake>>,
    tids: Vec<u32>,
}

/// The bytes of message `id` with length `len`.
fn payload(id: u32, len: u32) -> Vec<u8> {
    (0..len).map(|i| if i < 4 { id.to_le_bytes()[i as usize] } else { (id as u8).wrapping_add(i as u8) }).collect()
}

impl Model {
    fn wake(&mut self, t: usize, rax: i64, rdx: Option<u64>, bytes: Option<Vec<u8>>) {
        assert!(self.wakes[t].is_none(), "model: double wake of {t}");
        // A woken sender's rdx is its send status: the model sends no pages.
        let sender = matches!(self.t[t].block, Block::Send { .. } | Block::ReplyWait { .. });
        let rdx = if sender { Some(abi::ipc::SendStatus::default().encode()) } else { rdx };
        let slept = matches!(self.t[t].block, Block::Sleep { .. });
        let waited_task = self.t[t].block == Block::TaskWait;
        self.t[t].block = Block::None;
        self.wakes[t] = Some(Wake { rax, rdx, bytes, sender, slept, waited_task });
    }

    fn deadline(&self, timeout: i32) -> Option<u64> {
        (timeout > 0).then(|| self.now + timeout as u64)
    }

    fn async_count(&self, to: usize) -> usize {
        self.mbox[to].iter().filter(|e| matches!(e, Entry::Async { .. })).count()
    }

    /// Returns the call's expected result.
    fn send(&mut self, from: usize, to: usize, mode: Mode, timeout: i32, id: u32, len: u32) -> Result<Outcome, Error> {
        if !self.t[to].alive {
            return Err(Error::NoSuchThread);
        }
        if from == to && mode != Mode::Async {
            return Err(Error::InvalidArgument);
        }
        let tid = self.tids[from] as u64;
        if let Block::Recv { cap, .. } = self.t[to].block {
            let bytes = payload(id, len.min(cap));
            match mode {
                Mode::Async => {
                    self.wake(to, 1, Some(tid), Some(bytes));
                    return Ok(Outcome::Done(0, 0));
                }
                Mode::NoReply => {
                    self.wake(to, 2, Some(tid), Some(bytes));
                    return Ok(Outcome::Done(0, 0));
                }
                Mode::Sync => {
                    self.wake(to, 0, Some(tid), Some(bytes));
                    self.t[to].reply_to = Some(from);
                    // Timeout 0, once delivered, waits for the reply without a deadline.
                    self.t[from].block = Block::ReplyWait { from: to, deadline: self.deadline(timeout) };
                    self.t[from].sending = (id, len);
                    return Ok(Outcome::Blocked);
                }
            }
        }
        match mode {
            Mode::Async => {
                if self.async_count(to) >= ASYNC_QUEUE_MAX {
                    return Err(Error::QueueFull);
                }
                self.mbox[to].push_back(Entry::Async { sender: from, id, len });
                Ok(Outcome::Done(1, 0))
            }
            _ if timeout == 0 => Err(Error::Timeout),
            _ => {
                self.mbox[to].push_back(Entry::Sync { sender: from, id, len, mode });
                self.t[from].block = Block::Send { to, deadline: self.deadline(timeout) };
                self.t[from].sending = (id, len);
                Ok(Outcome::Blocked)
            }
        }
    }

    /// Returns the call's expected result and, if it returns at once, the bytes received.
    fn recv(&mut self, t: usize, cap: u32, timeout: i32) -> (Result<Outcome, Error>, Option<Vec<u8>>) {
        if self.t[t].reply_to.is_some() {
            return (Err(Error::ReplyPending), None);
        }
        match self.mbox[t].pop_front() {
            Some(Entry::Async { sender, id, len }) => {
                (Ok(Outcome::Done(1, self.tids[sender] as u64)), Some(payload(id, len.min(cap))))
            }
            Some(Entry::Sync { sender, id, len, mode }) => {
                let tid = self.tids[sender] as u64;
                let bytes = Some(payload(id, len.min(cap)));
                if mode == Mode::Sync {
                    let Block::Send { deadline, .. } = self.t[sender].block else {
                        panic!("model: queued sender not blocked")
                    };
                    self.t[sender].block = Block::ReplyWait { from: t, deadline };
                    self.t[t].reply_to = Some(sender);
                    (Ok(Outcome::Done(0, tid)), bytes)
                } else {
                    self.wake(sender, 0, None, None);
                    (Ok(Outcome::Done(2, tid)), bytes)
                }
            }
            None if timeout == 0 => (Err(Error::Timeout), None),
            None => {
                self.t[t].block = Block::Recv { deadline: self.deadline(timeout), cap };
                (Ok(Outcome::Blocked), None)
            }
        }
    }

    fn reply(&mut self, t: usize, bytes: &[u8]) -> Result<Outcome, Error> {
        let s = self.t[t].reply_to.take().ok_or(Error::NoReplyPending)?;
        if !self.t[s].alive {
            return Err(Error::PeerDied);
        }
        if !matches!(self.t[s].block, Block::ReplyWait { from, .. } if from == t) {
            return Err(Error::Timeout);
        }
        let cap = self.t[s].sending.1 as usize;
        self.wake(s, 0, None, Some(bytes[..bytes.len().min(cap)].to_vec()));
        Ok(Outcome::Done(0, 0))
    }

    fn tick(&mut self) {
        self.now += 1;
        for i in 0..self.t.len() {
            let due = |d: Option<u64>| d.is_some_and(|d| d <= self.now);
            match self.t[i].block {
                Block::Send { to, deadline } if due(deadline) => {
                    self.mbox[to].retain(|e| !matches!(e, Entry::Sync { sender, .. } if *sender == i));
                    self.wake(i, code(Error::Timeout), None, None);
                }
                Block::ReplyWait { deadline, .. } | Block::Recv { deadline, .. } if due(deadline) => {
                    self.wake(i, code(Error::Timeout), None, None);
                }
                Block::Sleep { until } if until <= self.now => self.wake(i, 0, None, None),
                _ => {}
            }
        }
    }

    fn kill(&mut self, t: usize) {
        if let Block::Send { to, .. } = self.t[t].block {
            self.mbox[to].retain(|e| !matches!(e, Entry::Sync { sender, .. } if *sender == t));
        }
        self.t[t].alive = false;
        self.t[t].block = Block::None;
        self.t[t].reply_to = None;
        for e in std::mem::take(&mut self.mbox[t]) {
            if let Entry::Sync { sender, .. } = e {
                self.wake(sender, code(Error::PeerDied), None, None);
            }
        }
        for i in 0..self.t.len() {
            if matches!(self.t[i].block, Block::ReplyWait { from, .. } if from == t) {
                self.wake(i, code(Error::PeerDied), None, None);
            }
        }
        // Its task ends with status 0: a parent waiting for it collects that.
        if t > 0 && self.t[t - 1].block == Block::TaskWait {
            self.wake(t - 1, abi::syscall::encode_status(0) as i64, None, None);
            self.t[t].collected = true;
        }
    }

    /// `sleep(ticks)` by `t`.
    fn sleep(&mut self, t: usize, ticks: i32) -> Result<bool, Error> {
        if ticks == 0 {
            return Ok(false);
        }
        self.t[t].block = Block::Sleep { until: self.now + ticks as u64 };
        Ok(true)
    }

    /// `task_wait` by `t` for the next thread's task, its child.
    fn task_wait(&mut self, t: usize) -> Result<Option<i32>, Error> {
        let child = t + 1;
        if self.t[child].alive {
            self.t[t].block = Block::TaskWait;
            Ok(None)
        } else if !self.t[child].collected {
            self.t[child].collected = true;
            Ok(Some(0))
        } else {
            Err(Error::NoSuchTask)
        }
    }

    fn buffered(&self) -> usize {
        self.mbox.iter().flatten().filter(|e| matches!(e, Entry::Async { .. })).count()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How often each interesting result occurred, so the test cannot silently degenerate into
/// exercising only error paths.
#[derive(Default, Debug)]
struct Coverage {
    blocked_sends: u64,
    direct_deliveries: u64,
    buffered: u64,
    received_calls: u64,
    received_async: u64,
    received_noreply: u64,
    replies: u64,
    timeouts_woken: u64,
    peer_died: u64,
    queue_full: u64,
    reply_timeouts: u64,
    sleeps_woken: u64,
    task_waits_woken: u64,
    task_waits_collected: u64,
}

fn run_sequence(seed: u64, cov: &mut Coverage, handoff: bool) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut w = World::chain(&[1; THREADS]);
    w.core.set_handoff(handoff);
    let th = w.threads.clone();
    let tids: Vec<u32> = th.iter().map(|&t| w.tid(t)).collect();
    let mut m = Model {
        now: 0,
        t: vec![
            MThread { alive: true, block: Block::None, sending: (0, 0), reply_to: None, collected: false };
            THREADS
        ],
        mbox: vec![VecDeque::new(); THREADS],
        wakes: vec![None; THREADS],
        tids,
    };
    let mut next_id = 1u32;
    // One sequence in eight floods mailboxes with asynchronous sends, to reach the bounds.
    let flood = seed.is_multiple_of(8);
    for step in 0..STEPS {
        let ctx = |what: &str| format!("seed {seed} step {step}: {what}");
        let runnable: Vec<usize> = (0..THREADS).filter(|&i| m.t[i].alive && m.t[i].block == Block::None).collect();
        let op = rng.below(100);
        if runnable.is_empty() || op < 15 {
            let n = 1 + rng.below(3);
            for _ in 0..n {
                m.tick();
                w.tick(1);
            }
        } else if op < 19 {
            let victim = rng.below(THREADS as u64) as usize;
            if m.t[victim].alive {
                m.kill(victim);
                let task = w.core.thread(th[victim]).task;
                drop(w.core.exit_task(task, 0));
            }
        } else {
            let me = runnable[rng.below(runnable.len() as u64) as usize];
            let op = if flood && op < 95 { 19 } else { op };
            match op {
                19..=59 => {
                    let to = rng.below(THREADS as u64) as usize;
                    let mode = if flood {
                        Mode::Async
                    } else {
                        [Mode::Async, Mode::Sync, Mode::NoReply][rng.below(3) as usize]
                    };
                    let timeout = [-1, 0, 1, 2, 5][rng.below(5) as usize];
                    let len = 4 + rng.below(21) as u32;
                    let id = next_id;
                    next_id += 1;
                    let expect = m.send(me, to, mode, timeout, id, len);
                    let sync = match mode {
                        Mode::Async => 0,
                        Mode::Sync => 1,
                        Mode::NoReply => 2,
                    };
                    let got = w.send(th[me], th[to], &payload(id, len), sync, timeout);
                    assert_eq!(got, expect, "{}", ctx(&format!("send {me}->{to} {mode:?} t={timeout}")));
                    match got {
                        Ok(Outcome::Blocked) => cov.blocked_sends += 1,
                        Ok(Outcome::Done(0, _)) => cov.direct_deliveries += 1,
                        Ok(Outcome::Done(1, _)) => cov.buffered += 1,
                        Err(Error::QueueFull) => cov.queue_full += 1,
                        _ => {}
                    }
                }
                60..=84 => {
                    let cap = 4 + rng.below(21) as u32;
                    let timeout = [-1, 0, 0, 1, 3][rng.below(5) as usize];
                    let (expect, bytes) = m.recv(me, cap, timeout);
                    let got = w.recv(th[me], cap, timeout);
                    assert_eq!(got, expect, "{}", ctx(&format!("recv on {me} cap={cap} t={timeout}")));
                    match got {
                        Ok(Outcome::Done(0, _)) => cov.received_calls += 1,
                        Ok(Outcome::Done(1, _)) => cov.received_async += 1,
                        Ok(Outcome::Done(2, _)) => cov.received_noreply += 1,
                        _ => {}
                    }
                    if let Some(b) = bytes {
                        assert_eq!(w.received(th[me]), b, "{}", ctx("received bytes"));
                    }
                }
                85..=89 if me + 1 < THREADS && rng.below(2) == 0 => {
                    let expect = m.task_wait(me);
                    let child = w.core.thread(th[me + 1]).task;
                    let id = w.core.task(child).id;
                    let got = w.task_wait(th[me], id);
                    assert_eq!(got, expect, "{}", ctx(&format!("task_wait by {me}")));
                    if let Ok(Some(_)) = got {
                        cov.task_waits_collected += 1;
                    }
                }
                85..=89 => {
                    let ticks = rng.below(4) as i32;
                    let expect = m.sleep(me, ticks);
                    let got = w.sleep(th[me], ticks);
                    assert_eq!(got, expect, "{}", ctx(&format!("sleep({ticks}) by {me}")));
                }
                _ => {
                    let len = rng.below(12) as usize;
                    let bytes: Vec<u8> = (0..len).map(|i| 0xa0 + i as u8).collect();
                    let expect = m.reply(me, &bytes);
                    let got = w.reply(th[me], &bytes);
                    assert_eq!(got, expect, "{}", ctx(&format!("reply from {me}")));
                    match got {
                        Ok(_) => cov.replies += 1,
                        Err(Error::Timeout) => cov.reply_timeouts += 1,
                        _ => {}
                    }
                }
            }
        }
        // Every wake the model predicts, and no other.
        for (i, &thread) in th.iter().enumerate() {
            let expect = m.wakes[i].take();
            let got = w.take_wake(thread);
            match (got, &expect) {
                (Some((v, _)), _) if v == code(Error::Timeout) => cov.timeouts_woken += 1,
                (Some((v, _)), _) if v == code(Error::PeerDied) => cov.peer_died += 1,
                (Some(_), Some(e)) if e.waited_task => cov.task_waits_woken += 1,
                (Some(_), Some(e)) if e.slept => cov.sleeps_woken += 1,
                _ => {}
            }
            assert_eq!(got, expect.as_ref().map(|e| (e.rax, e.rdx)), "{}", ctx(&format!("wake of thread {i}")));
            if let Some(Wake { bytes: Some(b), sender, .. }) = expect {
                let actual = if sender { w.reply_of(thread) } else { w.received(thread) };
                assert_eq!(actual, b, "{}", ctx(&format!("bytes delivered to thread {i}")));
            }
        }
        assert_eq!(w.core.buffers.live(), m.buffered(), "{}", ctx("kernel buffers"));
        if let Err(e) = w.core.check_invariants().and_then(|()| w.core.check_homes()) {
            panic!("{}", ctx(&format!("state invariant broken: {e}")));
        }
    }
}

#[test]
fn ipc_matches_the_reference_model() {
    let mut cov = Coverage::default();
    if let Ok(seed) = std::env::var("MOROSO_IPC_SEED") {
        run_sequence(seed.parse().expect("MOROSO_IPC_SEED is a number"), &mut cov, true);
        return;
    }
    for seed in 0..SEQUENCES {
        run_sequence(seed, &mut cov, true);
    }
    println!("{cov:?}");
    let c = &cov;
    for (what, n) in [
        ("blocked sends", c.blocked_sends),
        ("direct deliveries", c.direct_deliveries),
        ("buffered sends", c.buffered),
        ("received calls", c.received_calls),
        ("received async", c.received_async),
        ("received no-reply", c.received_noreply),
        ("replies", c.replies),
        ("timeouts", c.timeouts_woken),
        ("peer deaths", c.peer_died),
        ("full queues", c.queue_full),
        ("replies after timeout", c.reply_timeouts),
        ("sleepers woken", c.sleeps_woken),
        ("task waits woken", c.task_waits_woken),
        ("task statuses collected at once", c.task_waits_collected),
    ] {
        assert!(n >= 20, "only {n} {what} in {SEQUENCES} sequences: the generator lost coverage");
    }
}

/// The fast path's direct switch changes who runs next, never what any call returns: the
/// same sequences give the same results without it.
#[test]
fn ipc_matches_the_reference_model_without_the_direct_switch() {
    let mut cov = Coverage::default();
    for seed in 0..SEQUENCES / 4 {
        run_sequence(seed, &mut cov, false);
    }
}
