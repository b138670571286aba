//! Tasks: spawn, wait, exit statuses, faults that end only the faulting task, frames that
//! all come back, and a system-call fuzzer the kernel must survive.

use crate::child::{self, arg};
use crate::err;
use libsys::abi::{status, Error, Syscall};
use libsys::task;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

const ME: &str = "usertest";

fn run_child(a: u64) -> Result<i32, Error> {
    task::wait(task::spawn(ME, a)?)
}

pub fn cases(s: &mut Suite) {
    s.case("task::spawn_and_wait_for_the_status", || {
        for st in [0, 42, -7, i32::MAX] {
            ensure_eq!(run_child(arg(child::EXIT_WITH, st as u32)), Ok(st), "status {st}");
        }
        Ok(())
    });

    s.case("task::spawn_errors", || {
        ensure_eq!(task::spawn("no-such-program", 0), Err(Error::NoSuchProgram), "unknown name");
        ensure_eq!(task::spawn("", 0), Err(Error::NoSuchProgram), "empty name");
        ensure_eq!(task::spawn("a-program-name-longer-than-32-bytes", 0), Err(Error::NoSuchProgram), "name too long");
        // Through the raw call: a `&str` at a kernel address would be undefined behaviour to
        // make, whether read or not.
        // SAFETY: the kernel must refuse to read the name; nothing here reads it.
        let (r, _) =
            unsafe { libsys::raw::syscall_number(Syscall::TaskSpawn as u64, [0xffff_ffff_8010_0000, 5, 0, 0, 0, 0]) };
        ensure_eq!(err(r as i32 as i64), Some(Error::BadAddress), "kernel pointer");
        Ok(())
    });

    s.case("task::wait_errors", || {
        ensure_eq!(task::wait(0), Err(Error::NoSuchTask), "id 0");
        ensure_eq!(task::wait(0x7fff_0000), Err(Error::NoSuchTask), "unused id");
        let id = task::spawn(ME, arg(child::EXIT_WITH, 5))
            .map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(task::wait(id), Ok(5), "first wait");
        ensure_eq!(task::wait(id), Err(Error::NoSuchTask), "status already collected");
        Ok(())
    });

    s.case("faults::end_only_the_faulting_task", || {
        let cases = [
            (child::FAULT_NULL_READ, 14, "null read"),
            (child::FAULT_WRITE_TEXT, 14, "write to text"),
            (child::FAULT_EXEC_STACK, 14, "execute the stack"),
            (child::FAULT_READ_KERNEL, 14, "read kernel memory"),
            (child::FAULT_NONCANONICAL, 13, "non-canonical address"),
            (child::FAULT_DIVIDE, 0, "divide by zero"),
            (child::FAULT_INVALID_OPCODE, 6, "invalid opcode"),
        ];
        for (mode, vector, what) in cases {
            ensure_eq!(run_child(arg(mode, 0)), Ok(status::faulted(vector)), "{what}");
        }
        Ok(())
    });

    s.case("task::panic_ends_with_the_panic_status", || {
        ensure_eq!(run_child(arg(child::PANIC, 0)), Ok(status::PANICKED), "panicking child");
        Ok(())
    });

    s.case("task::exit_ends_every_thread", || {
        ensure_eq!(run_child(arg(child::THREADS_THEN_EXIT, 0)), Ok(3), "task with spinning threads");
        Ok(())
    });

    s.case("memory::frames_return_after_tasks_exit", || {
        // Every kind of ending: normal, fault, panic, threads left running. Warm up once
        // (kernel tables may grow the first time), then the same work must leave the
        // free-frame count exactly where it was.
        let round = || -> Result<(), Error> {
            for a in [
                arg(child::EXIT_WITH, 0),
                arg(child::FAULT_NULL_READ, 0),
                arg(child::PANIC, 0),
                arg(child::THREADS_THEN_EXIT, 0),
            ] {
                run_child(a)?;
            }
            Ok(())
        };
        ensure_eq!(round(), Ok(()), "warm-up");
        let before = task::free_frames();
        ensure_eq!(round(), Ok(()), "measured round");
        ensure_eq!(task::free_frames(), before, "free frames after four tasks ended");
        Ok(())
    });

    s.case("robustness::hostile_system_calls", || {
        let before_first = task::free_frames();
        for seed in 1..=4u32 {
            let r = run_child(arg(child::FUZZ, seed));
            ensure_eq!(r, Ok(0), "fuzzer {seed}: calls returning neither a value nor an error code");
        }
        let before = task::free_frames();
        ensure_eq!(run_child(arg(child::FUZZ, 1)), Ok(0), "again");
        ensure_eq!(task::free_frames(), before, "frames after a fuzzer task");
        ensure!(before_first >= before, "(warm-up)");
        ensure_eq!(run_child(arg(child::EXIT_WITH, 9)), Ok(9), "the kernel still runs programs");
        Ok(())
    });
}
