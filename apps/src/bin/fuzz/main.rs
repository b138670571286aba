//! The system-call fuzzer (`cargo xtask fuzz`): several tasks and threads make system calls
//! with hostile arguments at once, call each other, and die mid-call, and the kernel must
//! survive all of it and give back everything they used.
//!
//! Run as the first program, with `arg = seed << 32 | calls` (the kernel command line's
//! `arg=`): it is the coordinator. It starts `FUZZERS` fuzzing tasks of two threads each
//! (copies of this program), which split `calls` between them, and `VICTIMS` helper
//! threads, each of which keeps a victim task alive: a task that fuzzes too and then ends
//! itself, by exiting or faulting, at a point its seed picks, whoever is calling it. When
//! the fuzzers are done it compares the kernel's table usage (`kernel_stats`) with the
//! figures from before and prints the seed, the calls made and the calls per second of
//! guest time. The same seed gives every thread the same sequence of calls.
//!
//! Protocol lines: `fuzz: seed S, N calls`, then `fuzz: ok ...` or `fuzz: FAIL ...`.
#![no_std]
#![no_main]

mod calls;
mod rng;

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use libsys::abi::report::fuzz::{FAIL, OK};
use libsys::abi::syscall::KernelStats;
use libsys::ipc::{self, Incoming, Timeout};
use libsys::{println, raw, task, Message};
use rng::Rng;

libsys::entry!(main);

/// Fuzzing tasks; each has two fuzzing threads.
const FUZZERS: usize = 3;
/// Victim tasks alive at any time (each kept alive by a helper thread of the coordinator).
const VICTIMS: usize = 2;
/// Threads per fuzzing or victim task.
const THREADS: usize = 2;
/// Participants (threads) whose tids are known to everyone.
const PARTICIPANTS: usize = (FUZZERS + VICTIMS) * THREADS;
/// Calls one victim thread makes at most before it is replaced.
const VICTIM_CALLS: u64 = 400;

/// Marks a child's argument: `registrar tid << 32 | CHILD | generation << 8 | slot`.
const CHILD: u64 = libsys::abi::report::fuzz::CHILD;

/// A participant thread introduces itself (task slot, thread index) to its registrar.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
#[message(reply = Config)]
pub struct Hello {
    pub slot: u32,
    pub thread: u32,
}

/// What a participant needs: the run's seed, its number of calls and everyone's tids
/// (`ready == 0`: not yet; the full table follows as an asynchronous `Config`).
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Config {
    pub seed: u64,
    pub quota: u64,
    pub ready: u32,
    pub generation: u32,
    pub tids: [u32; PARTICIPANTS],
}

/// Everyone's tids, as the coordinator knows them (victims' entries change as they are
/// replaced).
static TIDS: [AtomicU32; PARTICIPANTS] = [const { AtomicU32::new(0) }; PARTICIPANTS];
/// Set when the fuzzers are done: helpers stop replacing victims.
static STOP: AtomicBool = AtomicBool::new(false);
/// Helpers still running.
static HELPERS: AtomicU32 = AtomicU32::new(0);
static SEED: AtomicU32 = AtomicU32::new(0);
/// Victim tasks that did not end the way they were told to (a kernel bug).
static VICTIM_ERRORS: AtomicU32 = AtomicU32::new(0);
static VICTIMS_RUN: AtomicU32 = AtomicU32::new(0);
static ALL_ATTACKS: AtomicBool = AtomicBool::new(false);
/// `Config::ready` bits.
const READY: u32 = 1;
const READY_ALL_ATTACKS: u32 = 2;

fn main() -> i32 {
    let arg = task::arg();
    if arg & CHILD != 0 {
        return child(arg);
    }
    let (seed, calls, all_attacks) = libsys::abi::report::fuzz::decode(arg);
    coordinator(seed, calls.max(1), all_attacks)
}

fn config(seed: u32, quota: u64, generation: u32) -> Config {
    Config {
        seed: seed as u64,
        quota,
        ready: READY | if ALL_ATTACKS.load(Ordering::Relaxed) { READY_ALL_ATTACKS } else { 0 },
        generation,
        tids: core::array::from_fn(|i| TIDS[i].load(Ordering::Relaxed)),
    }
}

fn stats() -> KernelStats {
    task::kernel_stats().unwrap_or_default()
}

fn coordinator(seed: u32, calls: u64, all_attacks: bool) -> i32 {
    let me = raw::gettid();
    SEED.store(seed, Ordering::Relaxed);
    println!("fuzz: seed {seed}, {calls} calls, {FUZZERS} tasks x {THREADS} threads, {VICTIMS} victims at a time");
    if all_attacks {
        println!("fuzz: with the attacks awaiting kernel fixes");
        ALL_ATTACKS.store(true, Ordering::Relaxed);
    }
    // A thread started and ended first, so the page tables under libsys's thread stacks
    // exist before the count (they belong to this task until it ends, and are no leak).
    static WARMED: AtomicBool = AtomicBool::new(false);
    if libsys::thread::spawn(|_| WARMED.store(true, Ordering::Relaxed), 0).is_ok() {
        while !WARMED.load(Ordering::Relaxed) {
            libsys::time::yield_now();
        }
    }
    for _ in 0..10 {
        libsys::time::yield_now();
    }
    let before = stats();
    let quota = calls.div_ceil((FUZZERS * THREADS) as u64);
    let mut fuzzers = [0u32; FUZZERS];
    for (slot, id) in fuzzers.iter_mut().enumerate() {
        match task::spawn("fuzz", child_arg(me, 0, slot)) {
            Ok(t) => *id = t,
            Err(e) => {
                println!("{FAIL}cannot start fuzzing task {slot}: {e}");
                return 1;
            }
        }
    }
    // Registration: every fuzzing thread says hello (answered at once), then everyone
    // gets the whole table.
    let mut registered = 0;
    while registered < FUZZERS * THREADS {
        if let Ok(Incoming::Call { from, msg, reply }) = ipc::receive::<Hello>(Timeout::Forever) {
            let p = msg.slot as usize * THREADS + msg.thread as usize;
            if p < FUZZERS * THREADS && TIDS[p].load(Ordering::Relaxed) == 0 {
                TIDS[p].store(from, Ordering::Relaxed);
                registered += 1;
            }
            let _ = reply.reply(&Config { ready: 0, ..config(seed, quota, 0) });
        }
    }
    let started = raw::get_ticks();
    for v in 0..VICTIMS {
        HELPERS.fetch_add(1, Ordering::Relaxed);
        if libsys::thread::spawn(helper, FUZZERS + v).is_err() {
            HELPERS.fetch_sub(1, Ordering::Relaxed);
            println!("{FAIL}cannot start helper thread {v}");
        }
    }
    let c = config(seed, quota, 0);
    for p in 0..FUZZERS * THREADS {
        let _ = ipc::send(c.tids[p], &c);
    }
    let mut failed = 0;
    for (slot, &id) in fuzzers.iter().enumerate() {
        match task::wait(id) {
            Ok(0) => {}
            Ok(s) if s > 0 => {
                println!("{FAIL}task {slot}: {s} calls returned neither a value nor an error code");
                failed += 1;
            }
            Ok(s) => {
                println!("{FAIL}fuzzing task {slot} ended with status {s:#x} (a fault?)");
                failed += 1;
            }
            Err(e) => {
                println!("{FAIL}fuzzing task {slot}: {e}");
                failed += 1;
            }
        }
    }
    let ticks = raw::get_ticks().saturating_sub(started).max(1);
    STOP.store(true, Ordering::Relaxed);
    while HELPERS.load(Ordering::Relaxed) != 0 {
        libsys::time::yield_now();
    }
    // Whatever the fuzzers sent us, and the exited threads' stacks, go before counting.
    while drain_raw() {}
    for _ in 0..10 {
        libsys::time::yield_now();
    }
    let after = stats();
    let made = quota * (FUZZERS * THREADS) as u64;
    let per_second = made * libsys::abi::TICK_HZ as u64 / ticks;
    println!(
        "fuzz: {made} calls by {} threads in {ticks} ticks of guest time: {per_second} calls/s; {} victim tasks",
        FUZZERS * THREADS,
        VICTIMS_RUN.load(Ordering::Relaxed)
    );
    let errors = VICTIM_ERRORS.load(Ordering::Relaxed);
    if errors > 0 {
        println!("{FAIL}{errors} victim tasks ended otherwise than they chose to");
        failed += 1;
    }
    for (what, b, a) in [
        ("free frames", before.free_frames, after.free_frames),
        ("threads in use", before.threads_used as u64, after.threads_used as u64),
        ("tasks in use", before.tasks_used as u64, after.tasks_used as u64),
        ("buffered async messages", before.async_buffers_used as u64, after.async_buffers_used as u64),
        ("bound IRQ lines", before.irqs_bound as u64, after.irqs_bound as u64),
    ] {
        if a != b {
            println!("{FAIL}{what}: {b} before the run, {a} after it");
            failed += 1;
        }
    }
    if failed == 0 {
        println!("{OK}seed {seed}, {made} calls, kernel tables back to their starting values");
        0
    } else {
        println!("{FAIL}seed {seed} ({failed} problems); replay with --seed {seed}");
        1
    }
}

/// Receives one message of any shape without waiting; false when there is none.
fn drain_raw() -> bool {
    let mut buf = [0u8; 64];
    let (mut ll, mut ls) = (0u32, buf.len() as u32);
    // SAFETY: `buf`, `ll` and `ls` are valid; no long window is given.
    let r = unsafe { raw::ipc_recv(core::ptr::null_mut(), buf.as_mut_ptr(), &mut ll, &mut ls, 0) };
    if r == libsys::abi::ipc::RecvKind::Call as i32 {
        // SAFETY: an empty reply.
        unsafe { raw::ipc_reply(buf.as_ptr(), 0) };
    }
    r >= 0
}

fn child_arg(registrar: u32, generation: u32, slot: usize) -> u64 {
    (registrar as u64) << 32 | CHILD | (generation as u64 & 0xff_ffff) << 8 | slot as u64
}

/// Keeps victim slot `slot` populated: starts a victim task, answers its threads' hellos
/// with the table, waits for it to end, and again, until the fuzzers are done.
fn helper(slot: usize) {
    let me = raw::gettid();
    let seed = SEED.load(Ordering::Relaxed);
    let mut generation = 0u32;
    while !STOP.load(Ordering::Relaxed) {
        generation += 1;
        let Ok(victim) = task::spawn("fuzz", child_arg(me, generation, slot)) else {
            VICTIM_ERRORS.fetch_add(1, Ordering::Relaxed);
            break;
        };
        VICTIMS_RUN.fetch_add(1, Ordering::Relaxed);
        // Its threads say hello (a stray fuzz message may come instead: its sender gives up
        // on its own), with a limit: a thread may die first.
        let mut hellos = 0;
        for _ in 0..THREADS * 4 {
            if hellos == THREADS {
                break;
            }
            if let Ok(Incoming::Call { from, msg, reply }) = ipc::receive::<Hello>(Timeout::Ticks(25)) {
                let p = slot * THREADS + msg.thread as usize % THREADS;
                TIDS[p].store(from, Ordering::Relaxed);
                let _ = reply.reply(&config(seed, VICTIM_CALLS, generation));
                hellos += 1;
            }
        }
        match task::wait(victim) {
            Ok(s) if s == 0 || s == libsys::abi::status::faulted(14) => {}
            Ok(s) => {
                println!("fuzz: victim {slot}.{generation} ended with unexpected status {s:#x}");
                VICTIM_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                VICTIM_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    HELPERS.fetch_sub(1, Ordering::Relaxed);
}

/// Calls that returned neither a value nor an error code, in this task.
static STRANGE: AtomicU32 = AtomicU32::new(0);
static SIBLING_DONE: AtomicBool = AtomicBool::new(false);
static CHILD_ARG: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A fuzzing or victim task: two threads, each registering and then fuzzing.
fn child(arg: u64) -> i32 {
    CHILD_ARG.store(arg, Ordering::Relaxed);
    calls::map_areas();
    if libsys::thread::spawn(second_thread, 0).is_err() {
        SIBLING_DONE.store(true, Ordering::Relaxed);
    }
    participant(arg, 0);
    while !SIBLING_DONE.load(Ordering::Relaxed) {
        libsys::time::yield_now();
    }
    STRANGE.load(Ordering::Relaxed) as i32
}

fn second_thread(_: usize) {
    participant(CHILD_ARG.load(Ordering::Relaxed), 1);
    SIBLING_DONE.store(true, Ordering::Relaxed);
}

fn participant(arg: u64, thread: u32) {
    let registrar = (arg >> 32) as u32;
    let slot = (arg & 0xff) as u32;
    let generation = ((arg >> 8) & 0xff_ffff) as u32;
    let victim = slot as usize >= FUZZERS;
    let hello = Hello { slot, thread };
    // A victim's helper may have taken a stray message instead of its hello: give up then.
    let Ok(mut cfg) = ipc::call(registrar, &hello, if victim { Timeout::Ticks(100) } else { Timeout::Forever }) else {
        if victim && thread == 0 {
            task::exit(0);
        }
        return;
    };
    // Fuzzers wait for the full table; messages from anyone else are fuzz, skipped.
    while cfg.ready == 0 {
        match ipc::receive::<Config>(Timeout::Forever) {
            Ok(Incoming::Async { from, msg }) if from == registrar && msg.ready != 0 => cfg = msg,
            _ => {}
        }
    }
    let rng = Rng::for_thread(cfg.seed as u32, slot, thread, generation);
    let me = raw::gettid();
    let sibling = cfg.tids[(slot as usize * THREADS + (thread as usize + 1) % THREADS) % PARTICIPANTS];
    let mut f = calls::Fuzzer::new(rng, me, thread, sibling, cfg.tids);
    if victim {
        // A victim ends its task at a point of its own choosing, maybe mid-call.
        let death = f.rng.below(cfg.quota.max(1));
        f.run(death);
        if thread == 0 {
            if f.rng.below(2) == 0 {
                task::exit(0);
            }
            // SAFETY: not safe, on purpose: a null read faults, and the kernel must end
            // this task, whoever is waiting on it.
            unsafe { core::ptr::read_volatile(core::hint::black_box(8usize) as *const u64) };
        }
        f.run(cfg.quota - death);
    } else {
        f.attacks(cfg.ready & READY_ALL_ATTACKS != 0);
        f.run(cfg.quota);
    }
    // A call taken in the last random calls and never answered holds its caller for good
    // (a poll that was delivered waits for the reply without a deadline); if the caller is
    // the sibling that the first thread waits for, neither ends. Answer it (with nothing
    // owed this is `NoReplyPending`, ignored).
    // SAFETY: an empty reply reads no memory.
    unsafe { raw::ipc_reply(core::ptr::null(), 0) };
    STRANGE.fetch_add(f.strange, Ordering::Relaxed);
}
