//! Moroso IPC (docs/ipc.md, with its numbered decisions where the specification is open):
//! `ipc_send`, `ipc_recv` and `ipc_reply` as operations on the [`Core`].
//!
//! Every thread has a mailbox: a FIFO of blocked synchronous senders (threads in
//! `Sending`) and a FIFO of buffered asynchronous messages ([`mailbox`]). Both carry a
//! sequence number from one counter, and a receive takes whichever head is older, so
//! senders are received in the order they sent.
//!
//! A synchronous message is never buffered: it stays in the sender's memory until a
//! receiver takes it, and is then copied straight into the receiver's buffer, frame to
//! frame (`transfer`): one copy, each user page looked up once per call. An
//! asynchronous message goes directly to a receiver blocked in `ipc_recv` (whose mailbox is
//! then necessarily empty, so order is kept), or into a kernel buffer.
//!
//! Each operation checks all of the caller's arguments first, then the target, and only
//! then touches any other thread (docs/ipc.md decision 8): a malformed call changes nothing.
//!
//! Results go where every system call's results go, the thread's pending
//! [`Results`](crate::regs::Results): the caller's when it returns at once, a blocked
//! party's when it is woken (its value, and for receivers the sender word in `rdx`, or in
//! `rdi` for a receive into registers). Blocking, timeouts and death are the core's. Deadlines live
//! in the core's timer heap; a thread that dies releases everyone queued on it.
//!
//! By concern: `send` (`ipc_send`), `receive` (`ipc_recv`, windows), `reply` (`ipc_reply`),
//! `transfer` (one rendezvous: the short copy and the page transfer), `fastpath`
//! (`IpcCall`, `IpcReplyWait`), `interrupts` (IRQs as messages), `inbox` (what waits to be
//! received, with the flag the direct ways test). This file holds what they
//! share: the pending send and receive, the arguments, and the helpers.

mod direct;
mod direct_spec;
mod fastpath;
pub mod inbox;
mod interrupts;
pub mod mailbox;
mod receive;
pub mod records;
mod reply;
mod send;
mod transfer;

#[cfg(test)]
mod donation_tests;
#[cfg(test)]
mod fast_tests;
#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod held_donation_tests;
#[cfg(test)]
mod inbox_tests;
#[cfg(test)]
mod irq_tests;
#[cfg(test)]
mod long_tests;
#[cfg(test)]
mod model;
#[cfg(test)]
mod short_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;

use crate::mem::pagemap::{check_transferable, release_shares, reserve_shares, PageMap, Transfer};
use crate::mem::regions::Region;
use crate::task::{Core, State, Task, TaskSlot, ThreadSlot, Tid, MAX_TASKS};
use crate::umem::UserMemory;
use abi::ipc::fast::{self, WORDS};
use abi::ipc::{RecvFlags, RecvKind, SendMode, SendStatus, Timeout, KERNEL_TID, RECV_SHARED};
use abi::syscall::regs::SECOND;
use abi::{Error, SHORT_MAX};
use mailbox::{Msg, MsgBuffers};

pub use direct::{Home, Switch, HEAD};
use records::ReplyTo;
pub use records::{PendingRecv, PendingSend, ReplyDest};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// The two sides of a rendezvous: sender `s` with its send, receiver `r` with its receive.
struct Pair<'a> {
    s: ThreadSlot,
    send: &'a PendingSend,
    r: ThreadSlot,
    recv: &'a PendingRecv,
}

/// `ipc_send`'s arguments, as the caller passed them.
#[derive(Clone, Copy, Debug)]
pub struct SendArgs {
    pub id: u32,
    pub message_long: u64,
    pub message_short: u64,
    pub len_long: u32,
    pub len_short: u64,
    pub timeout: i32,
    pub shared: bool,
    pub option_sync: u32,
}

/// `ipc_recv`'s arguments, as the caller passed them.
#[derive(Clone, Copy, Debug)]
pub struct RecvArgs {
    pub long_dest: u64,
    pub short_dest: u64,
    pub len_long: u64,
    pub len_short: u64,
    pub timeout: i32,
}

/// How an IPC call ends for its caller. Either way its results are in its pending
/// results: now, or when it is woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The caller returns now.
    Returned,
    /// The caller is blocked.
    Blocked,
}

/// Why a rendezvous could not complete, and whose problem it is.
enum Fault {
    /// The sender's: it fails with this error; the receiver keeps waiting.
    Sender(Error),
    /// The receiver's: it fails with this error; the sender's message is not lost.
    Receiver(Error),
}

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    // Invariant: callers pass the task of a live thread (the caller, or a thread queued
    // on or with it), and a task keeps its address space until its last thread is gone.
    pub(super) fn space(&self, task: TaskSlot) -> &S {
        self.tasks[task].space.as_ref().expect("a live thread's task has an address space")
    }

    pub(super) fn space_mut(&mut self, task: TaskSlot) -> &mut S {
        self.tasks[task].space.as_mut().expect("a live thread's task has an address space")
    }

    /// The spaces of two different tasks (see `space`), mutably at once.
    pub(super) fn two_spaces(&mut self, a: TaskSlot, b: TaskSlot) -> (&mut S, &mut S) {
        let Ok([ta, tb]) = self.tasks.get_disjoint_mut([a.index(), b.index()]) else {
            panic!("two_spaces of one task"); // callers compare the slots first
        };
        let live = "a live thread's task has an address space";
        (ta.space.as_mut().expect(live), tb.space.as_mut().expect(live))
    }

    pub(super) fn task_of(&self, thread: ThreadSlot) -> TaskSlot {
        self.threads[thread].task
    }
}

/// The address space of task `task`, borrowing the task table alone, so that the threads
/// (their states and pending results) can change while user memory of the space is in use.
/// Invariant: as for [`Core::space`].
#[inline(always)]
fn space_of<S>(tasks: &[Task<S>; MAX_TASKS], task: TaskSlot) -> &S {
    tasks[task].space.as_ref().expect("a live thread's task has an address space")
}

/// A reply in registers (`IpcReplyWait`): the words and the length.
#[derive(Clone, Copy)]
enum Reply {
    Regs([u64; WORDS], u32),
}
