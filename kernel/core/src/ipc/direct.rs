//! The direct switch: `IpcCall` and `IpcReplyWait` (`abi::ipc::fast`) completed in one
//! step, before any general dispatch, when the partner already waits in the right state,
//! so that the architecture can switch straight to it and return with its registers.
//!
//! An attempt either declines, having changed nothing (the general path then runs the call
//! exactly as it always does), or makes the state change the general path (`fastpath`,
//! `send_pending`, `reply_with`, `receive`, `hand_off`) makes for the same call and returns
//! the partner's result registers ([`Switch`]: the value, sender word and length; the
//! payload stays in the calling thread's saved registers), which the architecture loads
//! into the partner's registers on the way out: one of the
//! documented exceptions to "results take one path" (docs/architecture.md, "The
//! shortcuts"). Neither thread is left with results
//! pending that the general path would not leave.
//!
//! It handles only the common case and declines everything else: the direct switch turned
//! off (`nohandoff`), a tracing kernel (the general path records the events), a zombie
//! waiting to be reaped (every general entry reaps first), a payload past the registers, a
//! call or a receive that would not wait forever (a poll too), a target that is the
//! caller, dead, stale or not receiving into registers with no deadline (its
//! [`Fast`] byte), a reply to nobody or to a caller not waiting for it in registers with no
//! deadline, a server with anything else to receive (an interrupt, a queued sender, a
//! buffered message), and a partner whose task needs other I/O ports than those loaded.

use super::records::recv_regs;
use super::*;
use crate::limits::MAX_THREADS;
use crate::regs::ArchState;
use crate::task::Fast;
use abi::syscall::regs::RESULTS;

/// A direct switch made: the thread to run now, and its result registers: `head` by
/// result index (`abi::syscall::regs`: the return value, `rdi`, `rsi`), then the payload
/// (`rdx`, `r10`, `r8`, `r9`, `r12`), which is not copied here: it is the current thread's
/// argument registers 2 to 6 (still in its saved frame), as they are (see [`Switch::regs`],
/// which the architecture's exit does in registers). Words past the length are the sender's
/// registers as it left them, as on the general path (`abi::ipc::fast`: the receiver reads
/// only the length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    pub to: ThreadSlot,
    pub head: [u64; HEAD],
}

/// Result registers a [`Switch`] gives as values: the value, the sender word, the length.
pub const HEAD: usize = 3;

impl Switch {
    /// The partner's result registers by result index, the payload taken from the
    /// registers `regs` of the thread that made the switch: what the architecture writes.
    pub fn regs(&self, regs: &impl ArchState) -> [u64; RESULTS] {
        let [value, sender, len] = self.head;
        [value, sender, len, regs.arg(2), regs.arg(3), regs.arg(4), regs.arg(5), regs.arg(6)]
    }
}

/// What the direct switch needs of a thread's task, kept with the thread (`Thread::home`)
/// so that the fast path reads one thread entry and never the task: the task's address
/// space (its `UserMemory::space_id`, which the machine loads as it is: its root table)
/// and its I/O-port grant, as one key.
///
/// Invariant (`Core::check_homes`, which the system-call tests run after every step): a
/// thread that is neither `Free` nor `Zombie` has its task's home. It holds because both
/// parts are fixed for the task's life while it has such threads: the space is made with
/// the task and given back only when its last thread has ended (`finish_task`), and is
/// lent out (`ps`) only inside one system call, during which no direct switch runs; the
/// grant is set before the task's first thread is made (`spawn::task`) and never again.
/// A thread is given its home when it is made (`settle_home`, by `spawn::thread_in`, the
/// one maker of threads); until then it has [`Home::NONE`], whose I/O key matches no
/// loaded pair, so the direct switch never enters a thread without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Home {
    space: u64,
    io: u64,
}

impl Home {
    /// Where the space and the I/O key lie, for the direct switch's assembly
    /// (`sys::fast_layout`).
    pub(crate) const AT_SPACE: usize = core::mem::offset_of!(Home, space);
    pub(crate) const AT_IO: usize = core::mem::offset_of!(Home, io);
    pub(crate) const SPACE_BYTES: usize = crate::sys::fast_layout::width(|h: &Home| &h.space);
    pub(crate) const IO_BYTES: usize = crate::sys::fast_layout::width(|h: &Home| &h.io);

    /// No home: the I/O key is past every pair's (`io_key` is at most `u32::MAX`).
    pub const NONE: Home = Home { space: 0, io: u64::MAX };

    /// The address space's `UserMemory::space_id`.
    #[inline(always)]
    pub fn space(&self) -> u64 {
        self.space
    }
}

/// A pair of I/O-port base and count as one key (both halves in one compare).
#[inline(always)]
fn io_key((base, count): (u16, u16)) -> u64 {
    u64::from(base) | u64::from(count) << 16
}

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// What every attempt needs: the direct ways on (`nohandoff` not given) and no zombie
    /// to reap (one byte: `Core::direct_on`), no tracing, `me` running.
    #[inline(always)]
    fn direct_allowed(&self, me: ThreadSlot) -> bool {
        self.direct_on() && !crate::sys::fast_layout::TRACED && self.current() == Some(me)
    }

    /// Whether the partner's task runs with the I/O ports `io_loaded` (the general path
    /// would load its own); false for a thread with no home.
    #[inline(always)]
    pub(crate) fn same_io(&self, to: ThreadSlot, io_loaded: (u16, u16)) -> bool {
        self.threads[to].home.io == io_key(io_loaded)
    }

    /// The home of the threads of live task `task` (see [`Home`]); `Home::NONE` if it has
    /// no space.
    pub(crate) fn home_of(&self, task: TaskSlot) -> Home {
        let t = &self.tasks[task];
        match &t.space {
            Some(space) => {
                Home { space: u64::from(space.space_id()), io: io_key((t.grants.io_base, t.grants.io_count)) }
            }
            None => Home::NONE,
        }
    }

    /// Gives thread `slot`, just made, its task's home (see [`Home`]).
    pub fn settle_home(&mut self, slot: ThreadSlot) {
        self.threads[slot].home = self.home_of(self.threads[slot].task);
    }

    /// Checks [`Home`]'s invariant: every thread that is neither free nor a zombie has its
    /// task's home, and a live task has a space.
    #[cfg(test)]
    pub(crate) fn check_homes(&self) -> Result<(), String> {
        for slot in ThreadSlot::all() {
            let t = &self.threads[slot];
            if matches!(t.state(), State::Free | State::Zombie) {
                continue;
            }
            let want = self.home_of(t.task);
            if t.home != want || want == Home::NONE {
                return Err(format!("thread {slot} has home {:?}, its task's is {want:?}", t.home));
            }
        }
        Ok(())
    }

    /// `IpcCall` by `me` (its registers `regs`) to a server waiting in `IpcReplyWait`: the
    /// server runs now with the call in its registers, `me` waits for the reply. `None`:
    /// declined, nothing changed.
    #[inline(always)]
    pub fn direct_call(&mut self, me: ThreadSlot, regs: &impl ArchState, io_loaded: (u16, u16)) -> Option<Switch> {
        let (tid, len) = fast::decode_call_word(regs.arg(0));
        let tid = Tid::from_raw(tid);
        // The slot the id would name, unchecked: only a living thread's fast byte says
        // `Receiving`, and its id is valid, so matching it below proves `tid` valid (an id
        // `Tid::slot` refuses, 0 or past `i32::MAX`, is no living thread's).
        let to = ThreadSlot::new(tid.raw() as usize % MAX_THREADS);
        let t = &self.threads[to];
        // The target waiting as the byte says first: the commonest way to decline. The byte
        // says `Receiving` into registers with no deadline, so a living thread, and not
        // `me`, which runs (its byte is `No`).
        if t.fast() != Fast::Receiving || t.tid != tid || !self.direct_allowed(me) {
            return None;
        }
        debug_assert!(to != me && tid.slot() == Some(to));
        // Forever only: a poll would be delivered too (it then waits for the reply without
        // a deadline), but it is rare, and one compare for the common case is cheaper.
        if len as usize > fast::MAX
            || Timeout::from_raw(fast::decode_timeout(regs.arg(1))) != Some(Timeout::Forever)
            || !self.same_io(to, io_loaded)
        {
            return None;
        }
        // A receiver waits only with nothing to receive.
        debug_assert!(!self.inboxes.any(to));
        let seq = self.next_seq();
        let me_tid = self.threads[me].tid;
        // Where the reply goes, as `PendingSend::reply_to` says for a call in registers.
        let reply = ReplyDest::into_regs(len);
        self.threads[to].ipc.reply_to.set(ReplyTo { slot: me, tid: me_tid, seq });
        self.switch_direct(me, State::AwaitingReply { from: to, seq, reply }, Fast::AwaitingReply, to);
        Some(Switch { to, head: [u32::from(RecvKind::Call) as u64, me_tid.raw() as u64, len as u64] })
    }

    /// `IpcReplyWait` by `me` (its registers `regs`) replying to a caller waiting in
    /// `IpcCall`, with nothing else to receive: the caller runs now with the reply in its
    /// registers, `me` waits for the next message. `None`: declined, nothing changed.
    #[inline(always)]
    pub fn direct_reply_wait(
        &mut self,
        me: ThreadSlot,
        regs: &impl ArchState,
        io_loaded: (u16, u16),
    ) -> Option<Switch> {
        // No reply (a plain receive) or one past the registers first: the commonest ways
        // to decline. One compare for both: `NO_REPLY` is the top bit, and a reply word
        // past `fast::MAX` is a length past it (`fast::decode_reply_word`).
        let word = regs.arg(0);
        if word > fast::MAX as u64 {
            return None;
        }
        debug_assert_eq!(fast::decode_reply_word(word), Some(word as u32));
        let len = word as u32;
        if !self.direct_allowed(me) || Timeout::from_raw(fast::decode_timeout(regs.arg(1))) != Some(Timeout::Forever) {
            return None;
        }
        // The record as it is: with no reply owed its `tid` is 0, no living thread's, so
        // the tests of the caller below decline for it (`Owed`): the id in its slot is
        // another, or it is 0 too (slot 0, which never holds a thread) and the fast byte
        // there is `No`.
        let to = self.threads[me].ipc.reply_to.raw();
        let c = &self.threads[to.slot];
        if c.tid != to.tid || c.fast() != Fast::AwaitingReply {
            return None;
        }
        debug_assert!(self.threads[me].ipc.reply_to.is_some());
        // The call's number alone: numbers are never given twice (`next_seq`), and the
        // call numbered `to.seq` went to `me` (which owes its reply), so a caller waiting
        // for that number waits for `me` (its `from`, which is not compared again).
        let reply = match *c.state() {
            State::AwaitingReply { from, seq, reply } if seq == to.seq => {
                debug_assert_eq!(from, me, "call {seq} went to the thread that owes its reply");
                reply
            }
            _ => return None,
        };
        // One flag for an interrupt, a queued sender and a buffered message (`Inboxes`).
        if self.inboxes.any(me) {
            return None;
        }
        if !self.same_io(to.slot, io_loaded) {
            return None;
        }
        debug_assert!(!self.threads[me].ipc.has_window(), "no window is held outside a receive");
        let n = len.min(reply.len).min(fast::MAX as u32);
        // Nothing pending while it waits, as the general path leaves it: a message writes
        // its registers as it arrives, a timeout writes zeros (`Core::unblock`).
        self.threads[me].ipc.reply_to.clear();
        self.switch_direct(me, State::Receiving(recv_regs()), Fast::Receiving, to.slot);
        Some(Switch { to: to.slot, head: [0, 0, n as u64] })
    }
}
