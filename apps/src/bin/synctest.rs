//! In-guest stress tests of libsys's locks (`libsys::sync`): mutual exclusion under
//! contention, every waiter woken, no lost wakeups, no item lost or duplicated.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use libsys::sync::{Condvar, Mutex, Semaphore};
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

libsys::entry!(main);

const THREADS: usize = 8;

/// Spawns `n` threads running `f(i)` and waits (yielding) until all have finished.
fn run_threads(n: usize, f: fn(usize)) {
    static DONE: AtomicU32 = AtomicU32::new(0);
    static F: AtomicU64 = AtomicU64::new(0);
    DONE.store(0, Ordering::SeqCst);
    F.store(f as usize as u64, Ordering::SeqCst);
    for i in 0..n {
        libsys::thread::spawn(
            |i| {
                // SAFETY: F holds the `fn(usize)` stored just above.
                let f: fn(usize) =
                    unsafe { core::mem::transmute::<usize, fn(usize)>(F.load(Ordering::SeqCst) as usize) };
                f(i);
                DONE.fetch_add(1, Ordering::SeqCst);
            },
            i,
        )
        .expect("spawn");
    }
    while DONE.load(Ordering::SeqCst) < n as u32 {
        libsys::time::yield_now();
    }
}

fn main() -> i32 {
    let mut s = Suite::new();

    s.case("mutex::mutual_exclusion_under_contention", || {
        static COUNTER: Mutex<u64> = Mutex::new(0);
        static INSIDE: AtomicBool = AtomicBool::new(false);
        static OVERLAPS: AtomicU32 = AtomicU32::new(0);
        run_threads(THREADS, |_| {
            for _ in 0..2000 {
                let mut c = COUNTER.lock();
                if INSIDE.swap(true, Ordering::SeqCst) {
                    OVERLAPS.fetch_add(1, Ordering::SeqCst);
                }
                let v = *c;
                // Widen the window: give others the chance to run while we hold the lock.
                if v.is_multiple_of(97) {
                    libsys::time::yield_now();
                }
                *c = v + 1;
                INSIDE.store(false, Ordering::SeqCst);
            }
        });
        ensure_eq!(OVERLAPS.load(Ordering::SeqCst), 0, "two threads inside at once");
        ensure_eq!(*COUNTER.lock(), (THREADS * 2000) as u64, "increments lost");
        ensure!(COUNTER.try_lock().is_some(), "unlocked at the end");
        Ok(())
    });

    s.case("condvar::bounded_queue_loses_and_duplicates_nothing", || {
        const ITEMS: u64 = 1000;
        struct Queue {
            buf: [u64; 8],
            head: usize,
            len: usize,
        }
        static Q: Mutex<Queue> = Mutex::new(Queue { buf: [0; 8], head: 0, len: 0 });
        static NOT_EMPTY: Condvar = Condvar::new();
        static NOT_FULL: Condvar = Condvar::new();
        static SUM: AtomicU64 = AtomicU64::new(0);
        static TAKEN: AtomicU64 = AtomicU64::new(0);
        SUM.store(0, Ordering::SeqCst);
        TAKEN.store(0, Ordering::SeqCst);
        // Threads 0..4 produce 1..=ITEMS each (tagged by producer); 4..8 consume.
        run_threads(THREADS, |i| {
            if i < THREADS / 2 {
                for k in 1..=ITEMS {
                    let mut q = Q.lock();
                    while q.len == q.buf.len() {
                        q = NOT_FULL.wait(q);
                    }
                    let at = (q.head + q.len) % q.buf.len();
                    q.buf[at] = k + (i as u64) * 1_000_000;
                    q.len += 1;
                    drop(q);
                    NOT_EMPTY.notify_one();
                }
            } else {
                for _ in 0..ITEMS {
                    let mut q = Q.lock();
                    while q.len == 0 {
                        q = NOT_EMPTY.wait(q);
                    }
                    let v = q.buf[q.head];
                    q.head = (q.head + 1) % q.buf.len();
                    q.len -= 1;
                    drop(q);
                    NOT_FULL.notify_one();
                    SUM.fetch_add(v, Ordering::SeqCst);
                    TAKEN.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let per_producer = ITEMS * (ITEMS + 1) / 2;
        let expect: u64 = (0..THREADS as u64 / 2).map(|p| per_producer + p * 1_000_000 * ITEMS).sum();
        ensure_eq!(TAKEN.load(Ordering::SeqCst), ITEMS * THREADS as u64 / 2, "items taken");
        ensure_eq!(SUM.load(Ordering::SeqCst), expect, "every item exactly once");
        Ok(())
    });

    s.case("condvar::notify_all_wakes_every_waiter", || {
        static GO: Mutex<bool> = Mutex::new(false);
        static CHANGED: Condvar = Condvar::new();
        static WAITING: AtomicU32 = AtomicU32::new(0);
        static WOKEN: AtomicU32 = AtomicU32::new(0);
        static STARTED: AtomicBool = AtomicBool::new(false);
        *GO.lock() = false;
        WAITING.store(0, Ordering::SeqCst);
        WOKEN.store(0, Ordering::SeqCst);
        STARTED.store(false, Ordering::SeqCst);
        // A notifier thread flips the flag once everyone is waiting.
        libsys::thread::spawn(
            |_| {
                while WAITING.load(Ordering::SeqCst) < THREADS as u32 {
                    libsys::time::yield_now();
                }
                *GO.lock() = true;
                CHANGED.notify_all();
            },
            0,
        )
        .expect("spawn");
        run_threads(THREADS, |_| {
            let mut go = GO.lock();
            WAITING.fetch_add(1, Ordering::SeqCst);
            while !*go {
                go = CHANGED.wait(go);
            }
            WOKEN.fetch_add(1, Ordering::SeqCst);
        });
        ensure_eq!(WOKEN.load(Ordering::SeqCst), THREADS as u32, "every waiter woken");
        Ok(())
    });

    s.case("semaphore::bounds_concurrency_and_wakes_everyone", || {
        static SEM: Semaphore = Semaphore::new(3);
        static INSIDE: AtomicU32 = AtomicU32::new(0);
        static MOST: AtomicU32 = AtomicU32::new(0);
        run_threads(THREADS, |_| {
            for _ in 0..200 {
                SEM.down();
                let now = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
                MOST.fetch_max(now, Ordering::SeqCst);
                libsys::time::yield_now();
                INSIDE.fetch_sub(1, Ordering::SeqCst);
                SEM.up();
            }
        });
        let most = MOST.load(Ordering::SeqCst);
        ensure!(most <= 3, "{most} threads inside a semaphore of 3");
        ensure!(most >= 2, "the semaphore never let more than {most} in: not exercised");
        Ok(())
    });

    s.case("sync::no_frames_leak", || {
        static M: Mutex<u32> = Mutex::new(0);
        let round = || {
            run_threads(4, |_| {
                for _ in 0..50 {
                    *M.lock() += 1;
                }
            })
        };
        round();
        let _ = libsys::time::sleep(1);
        let before = libsys::task::free_frames();
        round();
        let _ = libsys::time::sleep(1);
        ensure_eq!(libsys::task::free_frames(), before, "free frames after a round of locked threads");
        Ok(())
    });

    s.finish()
}
