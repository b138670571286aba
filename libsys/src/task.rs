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

/// Who runs what, from one `ps` snapshot and the image's program list: the questions the
/// system's servers ask before they trust a caller (a program's identity is the image
/// program its task runs, which the kernel records and nobody can change or borrow).
pub struct Identity {
    records: alloc::vec::Vec<abi::ps::Record>,
    programs: alloc::vec::Vec<abi::image::ProgramInfo>,
}

impl Identity {
    /// A fresh snapshot (`ps` and `image_programs`).
    pub fn now() -> Result<Identity, Error> {
        Ok(Identity { records: ps()?, programs: programs()? })
    }

    /// The records of the snapshot.
    pub fn records(&self) -> &[abi::ps::Record] {
        &self.records
    }

    /// The image's programs.
    pub fn programs(&self) -> &[abi::image::ProgramInfo] {
        &self.programs
    }

    /// The image program called `name`, if the image has one.
    pub fn program(&self, name: &str) -> Option<&abi::image::ProgramInfo> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// The live task record `id`.
    pub fn task(&self, id: u32) -> Option<&abi::ps::Record> {
        self.records
            .iter()
            .find(|r| r.kind == abi::ps::kind::TASK && r.id == id && r.state == abi::ps::state::TASK_LIVE)
    }

    /// The living thread `tid`'s record (its `task` and its task's program `name()`).
    pub fn thread(&self, tid: u32) -> Option<&abi::ps::Record> {
        self.records.iter().find(|r| r.kind == abi::ps::kind::THREAD && r.id == tid)
    }

    /// The first (oldest-slot) living thread of task `task`.
    pub fn first_thread(&self, task: u32) -> Option<u32> {
        self.records.iter().find(|r| r.kind == abi::ps::kind::THREAD && r.task == task).map(|r| r.id)
    }

    /// The image program thread `tid`'s task runs.
    pub fn program_of(&self, tid: u32) -> Option<&str> {
        self.thread(tid).map(|r| r.name())
    }

    /// The system's init: the live task running the image's first program, the one the
    /// kernel starts. The kernel starts it in the first task slot, before any other, so
    /// of the tasks running that program it has the smallest id (anyone may start another
    /// copy of the program, but a copy's id is larger while the first lives).
    pub fn init(&self) -> Option<u32> {
        let first = self.programs.first()?.name();
        self.records
            .iter()
            .filter(|r| r.kind == abi::ps::kind::TASK && r.state == abi::ps::state::TASK_LIVE && r.name() == first)
            .map(|r| r.id)
            .min()
    }

    /// Whether thread `tid` belongs to a task that init started (its parent is
    /// [`Identity::init`]).
    pub fn started_by_init(&self, tid: u32) -> bool {
        let Some(init) = self.init() else { return false };
        self.thread(tid).and_then(|t| self.task(t.task)).is_some_and(|t| t.parent == init)
    }

    /// Whether thread `tid` runs image program `program` *as the system's own copy*: its
    /// task runs `program`, and, when init starts `program` at boot, init started this
    /// task (so a copy someone else started does not count); for the first program, the
    /// task is [`Identity::init`] itself.
    pub fn runs_system_program(&self, tid: u32, program: &str) -> bool {
        if self.program_of(tid) != Some(program) {
            return false;
        }
        if self.programs.first().is_some_and(|p| p.name() == program) {
            return self.thread(tid).is_some_and(|t| Some(t.task) == self.init());
        }
        match self.program(program) {
            Some(p) if p.boot.start != 0 => self.started_by_init(tid),
            _ => true,
        }
    }
}
