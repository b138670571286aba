//! Per-task shares of the kernel's tables, and who may wake and wait for whom.
//!
//! `usertest` runs with the default limits of the boot image (`abi::image::Limits::DEFAULT`):
//! a child that takes all it can is stopped at its share while this task still gets
//! threads and tasks; a full task table refuses a new task rather than drop a status
//! nobody has collected; `make_runnable` works only within a task and `task_wait` only for
//! the caller's own children.

use crate::child::{self, arg};
use crate::wait_until;
use libsys::abi::image::Limits;
use libsys::abi::Error;
use libsys::raw;
use libsys::task;
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

const ME: &str = "usertest";

/// Sends two words to thread `to`, asynchronously.
pub fn send(to: u32, words: [i32; 2]) -> Result<(), Error> {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&words[0].to_le_bytes());
    buf[4..].copy_from_slice(&words[1].to_le_bytes());
    let mut len = buf.len() as u32;
    // SAFETY: `buf` is valid for `len` bytes, `len` for a u32; an asynchronous send only
    // reads them.
    let r = unsafe { raw::ipc_send(to, core::ptr::null_mut(), buf.as_mut_ptr(), 0, &mut len, 0, false, 0) };
    if r < 0 {
        Err(Error::try_from(r).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(())
    }
}

/// Waits for a message; returns its first two words and the sender's tid.
pub fn receive() -> Result<([i32; 2], u32), Error> {
    let mut buf = [0u8; 8];
    let (mut len, mut long) = (buf.len() as u32, 0u32);
    // SAFETY: `buf` is writable for `len` bytes; `len` and `long` are valid u32s; no window.
    let (r, sender) = unsafe { raw::ipc_recv_from(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, -1) };
    if r < 0 {
        return Err(Error::try_from(r).unwrap_or(Error::InvalidArgument));
    }
    let word = |i: usize| i32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    Ok(([word(0), word(4)], sender.tid))
}

fn fail(what: &str) -> impl Fn(Error) -> Msg + '_ {
    move |e| Msg::new(format_args!("{what}: {e}"))
}

/// Starts a `mode` child that reports (count, refusal) and holds what it took; returns its
/// task id, its report and the reporting thread.
fn start_hog(mode: u64) -> Result<(u32, [i32; 2], u32), Msg> {
    let id = task::spawn(ME, arg(mode, raw::gettid())).map_err(fail("spawn the hog"))?;
    let (report, from) = receive().map_err(fail("its report"))?;
    Ok((id, report, from))
}

/// Tells a hog to let go, and collects it.
fn release(id: u32, from: u32) -> Result<i32, Msg> {
    send(from, [0, 0]).map_err(fail("release the hog"))?;
    task::wait(id).map_err(fail("collect the hog"))
}

pub fn cases(s: &mut Suite) {
    s.case("limits::a_task_gets_its_share_of_threads_and_no_more", || {
        let (id, [started, refusal], from) = start_hog(child::HOG_THREADS)?;
        // Its first thread counts against its share.
        ensure_eq!(started, Limits::DEFAULT.threads as i32 - 1, "threads the hog started");
        ensure_eq!(refusal, Error::OutOfMemory.code(), "the refusal at its share");
        // While the hog holds its share, this task still gets a thread.
        static RAN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
        let t = libsys::thread::spawn(|_| RAN.store(true, core::sync::atomic::Ordering::SeqCst), 0);
        ensure!(t.is_ok(), "the parent's thread_create: {t:?}");
        wait_until(|| RAN.load(core::sync::atomic::Ordering::SeqCst));
        ensure_eq!(release(id, from)?, 0, "the hog's status");
        Ok(())
    });

    s.case("limits::a_task_gets_its_share_of_tasks_and_no_more", || {
        let (id, [started, refusal], from) = start_hog(child::HOG_TASKS)?;
        // Its children exit at once but stay uncollected: they still count.
        ensure_eq!(started, Limits::DEFAULT.tasks as i32, "tasks the hog started");
        ensure_eq!(refusal, Error::OutOfMemory.code(), "the refusal at its share");
        let other = task::spawn(ME, arg(child::EXIT_WITH, 12)).map_err(fail("the parent's task_spawn"))?;
        ensure_eq!(task::wait(other), Ok(12), "the parent's child ran");
        ensure_eq!(release(id, from)?, 0, "the hog's status");
        Ok(())
    });

    s.case("limits::a_full_task_table_keeps_an_uncollected_status", || {
        let kept = task::spawn(ME, arg(child::EXIT_WITH, 77)).map_err(fail("spawn"))?;
        // Fill the table: hogs, each holding its share of uncollected children, until no
        // task can be started. A kernel that reused an uncollected slot would never refuse.
        let mut hogs = alloc::vec::Vec::new();
        let full = loop {
            if hogs.len() == 8 {
                break None;
            }
            match task::spawn(ME, arg(child::HOG_TASKS, raw::gettid())) {
                Ok(id) => {
                    let (_, from) = receive().map_err(fail("a hog's report"))?;
                    hogs.push((id, from));
                }
                Err(e) => break Some(e),
            }
        };
        ensure_eq!(full, Some(Error::OutOfMemory), "a full table refuses a new task");
        let status = task::wait(kept);
        for (id, from) in hogs {
            release(id, from)?;
        }
        ensure_eq!(status, Ok(77), "the uncollected status survived the full table");
        ensure_eq!(task::wait(kept), Err(Error::NoSuchTask), "collected once");
        Ok(())
    });

    s.case("limits::make_runnable_only_wakes_the_callers_own_threads", || {
        static WOKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
        let t = libsys::thread::spawn(
            |_| {
                let zero = 0i32;
                // SAFETY: a valid i32.
                unsafe { raw::deschedule(&zero) };
                WOKEN.store(true, core::sync::atomic::Ordering::SeqCst);
            },
            0,
        )
        .map_err(fail("spawn"))?;
        wait_until(|| raw::yield_to(t as i32) != 0); // descheduled
        let r = task::spawn(ME, arg(child::WAKE, t)).and_then(task::wait);
        ensure_eq!(r, Ok(Error::PermissionDenied.code()), "a child's make_runnable of its parent's thread");
        ensure!(!WOKEN.load(core::sync::atomic::Ordering::SeqCst), "the thread stayed descheduled");
        ensure_eq!(raw::make_runnable(t), 0, "its own task wakes it");
        wait_until(|| WOKEN.load(core::sync::atomic::Ordering::SeqCst));
        Ok(())
    });

    s.case("limits::task_wait_only_for_the_callers_children", || {
        let sibling = task::spawn(ME, arg(child::EXIT_WITH, 33)).map_err(fail("spawn"))?;
        let r = task::spawn(ME, arg(child::WAIT_FOR, sibling)).and_then(task::wait);
        ensure_eq!(r, Ok(Error::PermissionDenied.code()), "a task_wait for a sibling");
        ensure_eq!(task::wait(sibling), Ok(33), "the parent still collects its child");
        let r = task::spawn(ME, arg(child::WAIT_FOR, 0)).and_then(task::wait);
        ensure_eq!(r, Ok(Error::NoSuchTask.code()), "a child may still ask about no task at all");
        Ok(())
    });
}
