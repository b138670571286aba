//! Threads: spawn, run, exit, and the kernel's checks on thread_create.

use crate::{err, wait_until};
use core::sync::atomic::{AtomicU32, Ordering};
use libsys::abi::Error;
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

pub fn cases(s: &mut Suite) {
    s.case("thread::a_task_may_have_200_threads_and_all_of_them_run", || {
        // A copy of this program whose share allows them: every thread's stack is a
        // `new_pages` region of its own, and they must not use up the task's table.
        use crate::child::{arg, MANY_THREADS, MANY_THREADS_MODE, MANY_THREADS_PROGRAM};
        let threads_used = || libsys::task::kernel_stats().map(|k| k.threads_used).unwrap_or(0);
        let before = threads_used();
        let id = libsys::task::spawn(MANY_THREADS_PROGRAM, arg(MANY_THREADS_MODE, raw::gettid()))
            .map_err(|e| moroso_apps::harness::Msg::new(format_args!("spawn it: {e}")))?;
        let report = crate::limits::receive();
        let ([started, ran], from) =
            report.map_err(|e| moroso_apps::harness::Msg::new(format_args!("its report: {e}")))?;
        ensure_eq!(started, MANY_THREADS as i32, "threads started");
        ensure_eq!(ran, MANY_THREADS as i32, "threads that ran (or the refusal's error code)");
        ensure!(crate::limits::send(from, [0, 0]).is_ok(), "release it");
        ensure_eq!(libsys::task::wait(id), Ok(0), "its status");
        ensure_eq!(threads_used(), before, "thread slots in use afterwards");
        Ok(())
    });

    s.case("thread::spawned_threads_run_and_exit", || {
        static DONE: AtomicU32 = AtomicU32::new(0);
        static SUM: AtomicU32 = AtomicU32::new(0);
        DONE.store(0, Ordering::SeqCst);
        SUM.store(0, Ordering::SeqCst);
        let mut tids = [0u32; 8];
        for (i, t) in tids.iter_mut().enumerate() {
            *t = libsys::thread::spawn(
                |n| {
                    SUM.fetch_add(n as u32, Ordering::SeqCst);
                    DONE.fetch_add(1, Ordering::SeqCst);
                },
                i + 1,
            )
            .expect("spawn");
        }
        for (i, a) in tids.iter().enumerate() {
            ensure!(*a != raw::gettid(), "a thread has the caller's tid");
            ensure!(tids[i + 1..].iter().all(|b| b != a), "tid {a} given twice");
        }
        wait_until(|| DONE.load(Ordering::SeqCst) == 8);
        ensure_eq!(SUM.load(Ordering::SeqCst), 36, "each thread got its argument");
        // Exited threads are gone.
        wait_until(|| tids.iter().all(|&t| err(raw::yield_to(t as i32) as i64) == Some(Error::NoSuchThread)));
        Ok(())
    });

    s.case("thread::exit_returns_stacks_and_frames", || {
        // Warm up once (the kernel may grow its own tables the first time), then the same
        // work again must leave the free-frame count exactly where it was.
        let round = || {
            static DONE: AtomicU32 = AtomicU32::new(0);
            DONE.store(0, Ordering::SeqCst);
            for _ in 0..4 {
                libsys::thread::spawn(
                    |_| {
                        DONE.fetch_add(1, Ordering::SeqCst);
                    },
                    0,
                )
                .expect("spawn");
            }
            wait_until(|| DONE.load(Ordering::SeqCst) == 4);
            libsys::time::yield_now(); // let the last one finish exiting
            libsys::time::sleep(1).ok();
        };
        round();
        let before = raw::free_frames();
        round();
        ensure_eq!(raw::free_frames(), before, "free frames after 4 threads came and went");
        Ok(())
    });

    s.case("thread::create_checks_addresses", || {
        for (rip, rsp) in [(0u64, 0x7000_0000_1000u64), (0x40_1000, 0), (0xffff_ffff_8010_0000, 0x7000_0000_1000)] {
            // SAFETY: the kernel must refuse these before any thread starts.
            let r = unsafe { raw::thread_create(rip, rsp, 0, 0) };
            ensure_eq!(err(r as i64), Some(Error::BadAddress), "thread_create({rip:#x}, {rsp:#x})");
        }
        Ok(())
    });
}
