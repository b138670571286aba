//! What the `ps` system call reports: one fixed-size [`Record`] per task and per living
//! thread, written into a buffer the caller provides (at most its capacity; the call
//! returns how many exist, so a caller sees when the list was cut).
//!
//! Tasks come first, in table order, then threads in table order. A record's `name` is its
//! task's program name, NUL-padded.

use crate::image::NAME_MAX;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Most records there can be: every task slot and every thread slot of the kernel
/// (63 tasks, 255 threads). A buffer this long never cuts the list.
pub const MAX_RECORDS: usize = 64 + 256;

/// [`Record::kind`] values.
pub mod kind {
    /// A task (an address space and its threads).
    pub const TASK: u8 = 1;
    /// A thread.
    pub const THREAD: u8 = 2;
}

/// [`Record::state`] values.
pub mod state {
    /// A task that has not ended.
    pub const TASK_LIVE: u8 = 1;
    /// A task that ended (its `status` is set) and whose parent has not collected it.
    pub const TASK_EXITED: u8 = 2;
    /// The thread making the `ps` call.
    pub const RUNNING: u8 = 10;
    /// Waiting for the CPU.
    pub const READY: u8 = 11;
    /// In `sleep`.
    pub const SLEEPING: u8 = 12;
    /// Descheduled until a `make_runnable`.
    pub const DESCHEDULED: u8 = 13;
    /// In `task_wait`.
    pub const WAITING_TASK: u8 = 14;
    /// A synchronous sender waiting for its receiver.
    pub const SENDING: u8 = 15;
    /// A synchronous sender waiting for the reply.
    pub const AWAITING_REPLY: u8 = 16;
    /// Blocked in `ipc_recv`.
    pub const RECEIVING: u8 = 17;

    /// A state in one word.
    pub const fn name(state: u8) -> &'static str {
        match state {
            TASK_LIVE => "live",
            TASK_EXITED => "exited",
            RUNNING => "running",
            READY => "ready",
            SLEEPING => "sleeping",
            DESCHEDULED => "descheduled",
            WAITING_TASK => "waiting",
            SENDING => "sending",
            AWAITING_REPLY => "calling",
            RECEIVING => "receiving",
            _ => "?",
        }
    }
}

/// One task or thread.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Record {
    /// [`kind`]: a task or a thread.
    pub kind: u8,
    /// [`state`].
    pub state: u8,
    /// Zero.
    pub reserved: u16,
    /// The task id (a task) or the tid (a thread).
    pub id: u32,
    /// The task's id (a task: its own; a thread: its task's).
    pub task: u32,
    /// A task: the id of the task that started it (0: none, or it has ended). A thread: 0.
    pub parent: u32,
    /// A task: its status once exited (else 0). A thread: 0.
    pub status: i32,
    /// A task: its living threads. A thread: 0.
    pub threads: u32,
    /// The task's program name, NUL-padded.
    pub name: [u8; NAME_MAX],
}

impl Record {
    /// All zero: what a buffer is filled with before the call.
    pub const EMPTY: Record = Record {
        kind: 0,
        state: 0,
        reserved: 0,
        id: 0,
        task: 0,
        parent: 0,
        status: 0,
        threads: 0,
        name: [0; NAME_MAX],
    };

    /// The name without its padding (`"?"` if not UTF-8).
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

const _: () = assert!(size_of::<Record>() == 56);
