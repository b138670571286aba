//! The asynchronous half of every mailbox: buffered messages, in one fixed pool.
//!
//! A buffered message is a record (sequence number, sender, length) plus a kernel buffer of
//! `SHORT_MAX` bytes from a [`MsgBuffers`] pool (frames, on the machine). Each mailbox's
//! messages form an intrusive FIFO over the pool's records.
//!
//! Invariants: a mailbox holds at most `ASYNC_QUEUE_MAX` messages, and at most the sending
//! task's `Limits::async_per_mailbox` from any one other task (see `abi::image::Limits` for
//! what that guarantees the others); a task has at most `ASYNC_TASK_MAX` messages buffered
//! anywhere; every record in a queue owns exactly one buffer, returned to the pool when the
//! message is received or its mailbox dies.

use crate::ids::{TaskId, TaskSlot, ThreadSlot, Tid};
use crate::limits::{MAX_TASKS, MAX_THREADS};
use crate::sched::list::{Links, List};
use abi::ipc::{ASYNC_QUEUE_MAX, ASYNC_TASK_MAX};
use abi::Error;

/// Records in the pool: enough for every task at its bound.
pub const MAX_MSGS: usize = 4096;
const _: () = assert!(MAX_MSGS >= (MAX_TASKS - 1) * ASYNC_TASK_MAX);

/// One kernel message buffer, owned: made only by a [`MsgBuffers`] pool's `alloc` (through
/// the unsafe [`Buffer::from_raw`]) and consumed by its `free`, so while a `Buffer` exists
/// its memory is allocated and belongs to whoever holds it. Not `Copy` or `Clone`.
#[derive(Debug, PartialEq, Eq)]
pub struct Buffer(core::num::NonZeroU64);

impl Buffer {
    /// The buffer with handle `handle`.
    ///
    /// # Safety
    /// `handle` names a buffer of the pool that makes this value, just allocated and not
    /// named by any other `Buffer`.
    pub unsafe fn from_raw(handle: core::num::NonZeroU64) -> Self {
        Buffer(handle)
    }

    /// The pool's handle for it.
    pub fn handle(&self) -> u64 {
        self.0.get()
    }
}

/// Kernel buffers for buffered messages, `abi::SHORT_MAX` bytes each.
pub trait MsgBuffers {
    /// A new buffer, or `None` if memory is exhausted.
    fn alloc(&mut self) -> Option<Buffer>;
    /// Gives `buffer` back.
    fn free(&mut self, buffer: Buffer);
    /// The bytes of `buffer` (`abi::SHORT_MAX` of them).
    fn bytes(&mut self, buffer: &Buffer) -> &mut [u8];
}

/// A buffered message: its record and the buffer holding its bytes.
#[derive(Debug)]
pub struct Msg {
    pub seq: u64,
    pub sender_tid: Tid,
    /// The sending task's id, to return its quota when the message is consumed.
    pub sender_task: TaskId,
    pub len: u32,
    pub buffer: Buffer,
}

const FREE_LIST: u16 = 0;
const fn queue_id(thread: ThreadSlot) -> u16 {
    1 + thread.index() as u16
}

pub struct MessagePool {
    /// The records; `None` in those on the free list or never used.
    msgs: [Option<Msg>; MAX_MSGS],
    links: Links<MAX_MSGS>,
    free: List,
    unused: usize,
    queues: [List; MAX_THREADS],
    per_task: [u16; MAX_TASKS],
}

impl Default for MessagePool {
    fn default() -> Self {
        Self::new()
    }
}

impl MessagePool {
    pub const fn new() -> Self {
        let mut queues = [List::new(0); MAX_THREADS];
        let mut i = 0;
        while i < MAX_THREADS {
            queues[i] = List::new(queue_id(ThreadSlot::new(i)));
            i += 1;
        }
        MessagePool {
            msgs: [const { None }; MAX_MSGS],
            links: Links::new(),
            free: List::new(FREE_LIST),
            unused: 0,
            queues,
            per_task: [0; MAX_TASKS],
        }
    }

    /// Messages waiting in `thread`'s mailbox.
    pub fn queued(&self, thread: ThreadSlot) -> usize {
        self.queues[thread].len()
    }

    /// The oldest message in `thread`'s mailbox.
    pub fn front(&self, thread: ThreadSlot) -> Option<&Msg> {
        self.queues[thread].front::<usize>().and_then(|i| self.msgs[i].as_ref())
    }

    /// Messages task (slot) `task` has buffered.
    pub fn task_count(&self, task: TaskSlot) -> usize {
        self.per_task[task] as usize
    }

    /// Messages from the task with id `sender_task` waiting in `thread`'s mailbox.
    pub fn queued_from(&self, thread: ThreadSlot, sender_task: TaskId) -> usize {
        self.links
            .iter(&self.queues[thread])
            .filter(|&i| self.msgs[i].as_ref().is_some_and(|m| m.sender_task == sender_task))
            .count()
    }

    /// Checks that task slot `task` (id `task_id`) may buffer one more message in
    /// `thread`'s mailbox, where it may hold at most `share` of them.
    pub fn check_room(&self, thread: ThreadSlot, task: TaskSlot, task_id: TaskId, share: usize) -> Result<(), Error> {
        let queued = self.queues[thread].len();
        if queued >= ASYNC_QUEUE_MAX || self.per_task[task] as usize >= ASYNC_TASK_MAX {
            return Err(Error::QueueFull);
        }
        // At most ASYNC_QUEUE_MAX entries to look at, and only when the share could bind.
        if share < ASYNC_QUEUE_MAX && queued >= share && self.queued_from(thread, task_id) >= share {
            return Err(Error::QueueFull);
        }
        if self.free.is_empty() && self.unused == MAX_MSGS {
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }

    /// Appends `msg` to `thread`'s mailbox, charged to task slot `task`. The caller checked
    /// `check_room` in the same kernel entry.
    pub fn push(&mut self, thread: ThreadSlot, task: TaskSlot, msg: Msg) {
        let i = match self.links.pop_front(&mut self.free) {
            Some(i) => i,
            None => {
                self.unused += 1;
                self.unused - 1
            }
        };
        self.msgs[i] = Some(msg);
        let pushed = self.links.push_back(&mut self.queues[thread], i);
        debug_assert!(pushed);
        self.per_task[task] += 1;
    }

    /// Removes the oldest message of `thread`'s mailbox. The caller returns the sender's
    /// quota with [`uncharge`](Self::uncharge) if the sending task still lives.
    pub fn pop(&mut self, thread: ThreadSlot) -> Option<Msg> {
        let i = self.links.pop_front(&mut self.queues[thread])?;
        self.links.push_back(&mut self.free, i);
        self.msgs[i].take()
    }

    /// Returns one message of task slot `task`'s quota.
    pub fn uncharge(&mut self, task: TaskSlot) {
        self.per_task[task] = self.per_task[task].saturating_sub(1);
    }

    /// Forgets the counts of a task slot being reused.
    pub fn reset_task(&mut self, task: TaskSlot) {
        self.per_task[task] = 0;
    }
}

/// Buffers on the host, for tests: a vector of boxes, handles are indices + 1.
#[cfg(test)]
#[derive(Default)]
pub struct VecBuffers {
    pub slots: std::vec::Vec<Option<std::boxed::Box<[u8; abi::SHORT_MAX]>>>,
    /// Refuse allocations beyond this many live buffers (to test `OutOfMemory`).
    pub limit: Option<usize>,
}

#[cfg(test)]
impl VecBuffers {
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
impl MsgBuffers for VecBuffers {
    fn alloc(&mut self) -> Option<Buffer> {
        if self.limit.is_some_and(|l| self.live() >= l) {
            return None;
        }
        self.slots.push(Some(std::boxed::Box::new([0; abi::SHORT_MAX])));
        let handle = core::num::NonZeroU64::new(self.slots.len() as u64)?;
        // SAFETY: the slot just pushed, named by no other buffer (slots are never reused).
        Some(unsafe { Buffer::from_raw(handle) })
    }
    fn free(&mut self, buffer: Buffer) {
        let h = buffer.handle();
        assert!(self.slots[h as usize - 1].take().is_some(), "double free of buffer {h}");
    }
    fn bytes(&mut self, buffer: &Buffer) -> &mut [u8] {
        &mut self.slots[buffer.handle() as usize - 1].as_mut().expect("live buffer")[..]
    }
}
