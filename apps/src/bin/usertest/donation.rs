//! Scheduling on IPC: the thread a reply wakes runs next, on the server's timeslice, ahead
//! of runnable threads; and an IPC pair calling as fast as it can still leaves a thread
//! that never blocks its turns (the timer ends the donated slice).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

/// Spinners of the first case: runnable threads that yield in a loop.
const SPINNERS: usize = 4;

/// One 8-byte call with the spec's `ipc_send` to `to`; returns its result.
fn call(to: u32) -> i32 {
    let mut buf = [0u8; 8];
    let mut len = 8u32;
    // SAFETY: `buf` and `len` are valid locals; the reply comes back into `buf`.
    unsafe { raw::ipc_send(to, core::ptr::null_mut(), buf.as_mut_ptr(), 0, &mut len, -1, false, 1) }
}

/// A server with the spec's calls: `ipc_recv`, then `before_reply`, then `ipc_reply`, for
/// ever (its task's end ends it).
fn serve(before_reply: fn()) {
    let mut buf = [0u8; 8];
    loop {
        let (mut len, mut long) = (8u32, 0u32);
        // SAFETY: valid locals, no window.
        let r = unsafe { raw::ipc_recv(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, -1) };
        if r >= 0 {
            before_reply();
            // SAFETY: `len` bytes of `buf` are initialised.
            unsafe { raw::ipc_reply(buf.as_ptr(), len) };
        }
    }
}

pub fn cases(s: &mut Suite) {
    s.case("sched::a_replied_caller_runs_before_runnable_threads", || {
        static SPUN: AtomicU64 = AtomicU64::new(0);
        static STOP: AtomicBool = AtomicBool::new(false);
        static STOPPED: AtomicU32 = AtomicU32::new(0);
        // What the server saw just before replying: the spinners' count and the tick.
        static SEEN: AtomicU64 = AtomicU64::new(0);
        static SEEN_AT: AtomicU64 = AtomicU64::new(0);
        STOP.store(false, Ordering::SeqCst);
        STOPPED.store(0, Ordering::SeqCst);
        let server = libsys::thread::spawn(
            |_| {
                serve(|| {
                    SEEN.store(SPUN.load(Ordering::SeqCst), Ordering::SeqCst);
                    SEEN_AT.store(raw::get_ticks(), Ordering::SeqCst);
                })
            },
            0,
        )
        .expect("server");
        for _ in 0..SPINNERS {
            libsys::thread::spawn(
                |_| {
                    while !STOP.load(Ordering::SeqCst) {
                        SPUN.fetch_add(1, Ordering::SeqCst);
                        raw::yield_to(-1);
                    }
                    STOPPED.fetch_add(1, Ordering::SeqCst);
                },
                0,
            )
            .expect("spinner");
        }
        // Rounds where a tick fell between the server's reply and our return prove
        // nothing (the timer may hand the CPU to anyone); wait for 20 that are clean.
        let (mut clean, mut rounds) = (0, 0);
        let mut overtaken = 0;
        while clean < 20 {
            ensure_eq!(call(server), 0, "the call");
            let (now, spun) = (raw::get_ticks(), SPUN.load(Ordering::SeqCst));
            rounds += 1;
            if now == SEEN_AT.load(Ordering::SeqCst) {
                clean += 1;
                if spun != SEEN.load(Ordering::SeqCst) {
                    overtaken += 1;
                }
            }
        }
        STOP.store(true, Ordering::SeqCst);
        crate::wait_until(|| STOPPED.load(Ordering::SeqCst) == SPINNERS as u32);
        ensure_eq!(overtaken, 0, "clean rounds (of {clean}, {rounds} in all) where a runnable thread ran first");
        Ok(())
    });

    s.case("sched::an_ipc_pair_cannot_starve_a_spinner", || {
        static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);
        static SPINNER_DONE: AtomicBool = AtomicBool::new(false);
        static CLIENT_DONE: AtomicBool = AtomicBool::new(false);
        static SERVER: AtomicU32 = AtomicU32::new(0);
        SPINNER_DONE.store(false, Ordering::SeqCst);
        CLIENT_DONE.store(false, Ordering::SeqCst);
        let server = libsys::thread::spawn(|_| serve(|| {}), 0).expect("server");
        SERVER.store(server, Ordering::SeqCst);
        // The pair: calls back to back until the spinner is done.
        libsys::thread::spawn(
            |_| {
                while !SPINNER_DONE.load(Ordering::SeqCst) {
                    if call(SERVER.load(Ordering::SeqCst)) == 0 {
                        ROUND_TRIPS.fetch_add(1, Ordering::SeqCst);
                    }
                }
                CLIENT_DONE.store(true, Ordering::SeqCst);
            },
            0,
        )
        .expect("client");
        // The spinner never enters the kernel: it runs only when the timer gives it the
        // CPU. It waits to have seen the pair make progress between its own turns three
        // times, i.e. to have been preempted and then run again each time.
        libsys::thread::spawn(
            |_| {
                let (mut last, mut turns) = (ROUND_TRIPS.load(Ordering::SeqCst), 0);
                while turns < 3 {
                    let now = ROUND_TRIPS.load(Ordering::SeqCst);
                    if now != last {
                        (last, turns) = (now, turns + 1);
                    }
                    core::hint::spin_loop();
                }
                SPINNER_DONE.store(true, Ordering::SeqCst);
            },
            0,
        )
        .expect("spinner");
        // If the pair starved the spinner, this never returns and the runner's timeout
        // fails the suite.
        crate::wait_until(|| CLIENT_DONE.load(Ordering::SeqCst));
        ensure!(ROUND_TRIPS.load(Ordering::SeqCst) > 0, "the pair made progress");
        Ok(())
    });
}
