//! Tasks: starting boot-image programs, waiting for them, ending the caller.
//!
//! ```no_run
//! let child = libsys::task::spawn("hello", 0).expect("hello is in the boot image");
//! let status = libsys::task::wait(child).expect("a task we started");
//! libsys::println!("hello exited with {status}");
//! ```

use abi::Error;

/// Starts the boot-image program `name`; its `main` can read `arg` with [`arg`].
pub fn spawn(name: &str, arg: u64) -> Result<u32, Error> {
    let r = crate::raw::task_spawn(name, arg);
    if r < 0 {
        Err(Error::try_from(r).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(r as u32)
    }
}

/// Waits until task `id` ends and returns its exit status (collecting it).
pub fn wait(id: u32) -> Result<i32, Error> {
    abi::syscall::decode_status(crate::raw::task_wait(id))
}

/// Ends the calling task, every thread of it, with `status`.
pub fn exit(status: i32) -> ! {
    crate::raw::task_exit(status)
}

/// The argument this task was started with (0 for the first task).
pub fn arg() -> u64 {
    crate::rt::arg()
}

/// Free physical frames in the machine (for leak checks).
pub fn free_frames() -> u64 {
    crate::raw::free_frames()
}

/// How much of each kernel table (threads, tasks, buffered messages, IRQ bindings) and of
/// physical memory is in use, for leak checks.
pub fn kernel_stats() -> Result<abi::syscall::KernelStats, Error> {
    let mut s = abi::syscall::KernelStats::default();
    let r = crate::raw::kernel_stats(&mut s);
    if r < 0 {
        Err(Error::try_from(r as i32).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(s)
    }
}

/// Ends task `id`, every thread of it, with status `abi::status::KILLED`. Allowed to the
/// tasks that started it (directly or not) and to programs granted the kill power;
/// otherwise `PermissionDenied`. Ending one's own task does not return.
pub fn kill(id: u32) -> Result<(), Error> {
    crate::check(crate::raw::task_kill(id))
}

/// Every task (live, or ended and not yet collected) and every living thread, tasks first:
/// a snapshot from the kernel, at most [`abi::ps::MAX_RECORDS`] records.
pub fn ps() -> Result<alloc::vec::Vec<abi::ps::Record>, Error> {
    let mut out = alloc::vec![abi::ps::Record::EMPTY; abi::ps::MAX_RECORDS];
    let r = crate::raw::ps(&mut out);
    if r < 0 {
        return Err(Error::try_from(r as i32).unwrap_or(Error::InvalidArgument));
    }
    out.truncate((r as usize).min(out.len()));
    Ok(out)
}

/// The boot image's programs, in image order, with what init does with each.
pub fn programs() -> Result<alloc::vec::Vec<abi::image::ProgramInfo>, Error> {
    let mut out = alloc::vec![abi::image::ProgramInfo::EMPTY; abi::image::MAX_PROGRAMS];
    let r = crate::raw::image_programs(&mut out);
    if r < 0 {
        return Err(Error::try_from(r as i32).unwrap_or(Error::InvalidArgument));
    }
    out.truncate((r as usize).min(out.len()));
    Ok(out)
}
