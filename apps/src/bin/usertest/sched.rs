//! gettid, yield_to, deschedule/make_runnable, sleep, get_ticks.

use crate::{err, wait_until};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use libsys::abi::Error;
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

pub fn cases(s: &mut Suite) {
    s.case("gettid::positive_and_stable", || {
        let t = raw::gettid();
        ensure!(t > 0 && t <= i32::MAX as u32, "tid {t}");
        ensure_eq!(raw::gettid(), t, "second call");
        Ok(())
    });

    s.case("yield_to::any_and_self", || {
        ensure_eq!(raw::yield_to(-1), 0, "yield to any");
        ensure_eq!(raw::yield_to(raw::gettid() as i32), 0, "yield to self");
        Ok(())
    });

    s.case("yield_to::missing_thread_fails", || {
        ensure_eq!(err(raw::yield_to(0x7ff0_0000) as i64), Some(Error::NoSuchThread), "unused tid");
        ensure_eq!(err(raw::yield_to(-5) as i64), Some(Error::NoSuchThread), "negative tid");
        ensure_eq!(err(raw::yield_to(0) as i64), Some(Error::NoSuchThread), "tid 0");
        Ok(())
    });

    s.case("yield_to::runs_the_target", || {
        static RAN: AtomicBool = AtomicBool::new(false);
        RAN.store(false, Ordering::SeqCst);
        let t = libsys::thread::spawn(|_| RAN.store(true, Ordering::SeqCst), 0).expect("spawn");
        let t0 = raw::get_ticks();
        let r = raw::yield_to(t as i32);
        let ticked = raw::get_ticks() != t0;
        // Without a tick in between, nothing could preempt the target: it ran to the end.
        ensure!(r == 0 || err(r as i64) == Some(Error::NoSuchThread), "yield_to returned {r}");
        ensure!(ticked || RAN.load(Ordering::SeqCst), "target did not run before the yielder");
        wait_until(|| RAN.load(Ordering::SeqCst));
        Ok(())
    });

    s.case("yield_to::blocked_thread_fails", || {
        static TID: AtomicU32 = AtomicU32::new(0);
        let t = libsys::thread::spawn(
            |_| {
                let zero = 0i32;
                // SAFETY: a valid i32 on this thread's stack.
                unsafe { raw::deschedule(&zero) };
            },
            0,
        )
        .expect("spawn");
        TID.store(t, Ordering::SeqCst);
        // Wake it until it is descheduled: NotDescheduled means not yet.
        let mut seen_not_runnable = false;
        loop {
            let y = raw::yield_to(t as i32);
            if err(y as i64) == Some(Error::NotRunnable) {
                seen_not_runnable = true;
            }
            if seen_not_runnable && raw::make_runnable(t) == 0 {
                break;
            }
        }
        ensure!(seen_not_runnable, "never saw NotRunnable");
        Ok(())
    });

    s.case("deschedule::nonzero_reject_returns_at_once", || {
        let one = 1i32;
        // SAFETY: a valid i32.
        ensure_eq!(unsafe { raw::deschedule(&one) }, 0, "deschedule(&1)");
        Ok(())
    });

    s.case("deschedule::bad_pointers_fail", || {
        for p in [0u64, 8, 0xffff_8000_0000_0000, 0xffff_ffff_8010_0000, 0x7fff_ffff_fffe] {
            // SAFETY: the kernel validates the pointer and fails; nothing is dereferenced here.
            let r = unsafe { raw::deschedule(p as *const i32) };
            ensure_eq!(err(r as i64), Some(Error::BadAddress), "deschedule({p:#x})");
        }
        Ok(())
    });

    s.case("make_runnable::errors", || {
        ensure_eq!(err(raw::make_runnable(raw::gettid()) as i64), Some(Error::NotDescheduled), "self is running");
        ensure_eq!(err(raw::make_runnable(0x7ff0_0000) as i64), Some(Error::NoSuchThread), "missing tid");
        ensure_eq!(err(raw::make_runnable(0) as i64), Some(Error::NoSuchThread), "tid 0");
        Ok(())
    });

    s.case("deschedule::make_runnable_wakes_with_zero", || {
        static RESULT: AtomicI32 = AtomicI32::new(-100);
        RESULT.store(-100, Ordering::SeqCst);
        let t = libsys::thread::spawn(
            |_| {
                let zero = 0i32;
                // SAFETY: a valid i32.
                RESULT.store(unsafe { raw::deschedule(&zero) }, Ordering::SeqCst);
            },
            0,
        )
        .expect("spawn");
        wait_until(|| raw::make_runnable(t) == 0);
        wait_until(|| RESULT.load(Ordering::SeqCst) != -100);
        ensure_eq!(RESULT.load(Ordering::SeqCst), 0, "deschedule's result");
        Ok(())
    });

    s.case("deschedule::no_lost_wakeups", || {
        // The waiter's check of `flag` and its blocking are atomic with respect to
        // make_runnable: whatever the interleaving, it never sleeps through the wakeup.
        static FLAG: AtomicI32 = AtomicI32::new(0);
        static ROUNDS: AtomicU32 = AtomicU32::new(0);
        for _ in 0..100 {
            FLAG.store(0, Ordering::SeqCst);
            let before = ROUNDS.load(Ordering::SeqCst);
            let t = libsys::thread::spawn(
                |_| {
                    // SAFETY: FLAG is a valid, live i32.
                    unsafe { raw::deschedule(FLAG.as_ptr()) };
                    ROUNDS.fetch_add(1, Ordering::SeqCst);
                },
                0,
            )
            .expect("spawn");
            libsys::time::yield_now();
            FLAG.store(1, Ordering::SeqCst);
            raw::make_runnable(t); // NotDescheduled is fine: then it saw the flag
            wait_until(|| ROUNDS.load(Ordering::SeqCst) == before + 1);
        }
        Ok(())
    });

    s.case("sleep::zero_and_negative", || {
        ensure_eq!(raw::sleep(0), 0, "sleep(0)");
        ensure_eq!(err(raw::sleep(-1) as i64), Some(Error::InvalidArgument), "sleep(-1)");
        Ok(())
    });

    s.case("sleep::at_least_the_requested_ticks", || {
        for n in [1, 3] {
            let t0 = raw::get_ticks();
            ensure_eq!(raw::sleep(n), 0, "sleep({n})");
            let slept = raw::get_ticks() - t0;
            ensure!(slept >= n as u64, "sleep({n}) returned after {slept} ticks");
        }
        Ok(())
    });

    s.case("get_ticks::monotonic", || {
        let mut last = raw::get_ticks();
        for _ in 0..1000 {
            let now = raw::get_ticks();
            ensure!(now >= last, "went back from {last} to {now}");
            last = now;
        }
        Ok(())
    });
}
