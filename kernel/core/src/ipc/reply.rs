//! `ipc_reply` and the reply half of `IpcReplyWait`: answering the call a receiver owes,
//! into the caller's memory or registers. A reply into buffers the caller's direct send
//! kept (`umem::Kept`) writes them without checking them again while the caller's space's
//! generation holds; a reply from (the start of) the buffer the server's own last receive
//! kept reads it without checking it again, the same way.

use super::direct_spec::resumed;
use super::records::ReplyBuf;
use super::transfer::{put_short, Payload};
use super::*;
use crate::task::{Thread, MAX_THREADS};
use crate::umem::Walker;

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// `ipc_reply` by thread `me` (the current thread): [`reply_short`](Self::reply_short),
    /// and its result, 0, pending for `me`.
    #[inline(always)]
    pub fn ipc_reply(&mut self, me: ThreadSlot, message: u64, len: u32) -> Result<Outcome, Error> {
        self.reply_short(me, message, len)?;
        self.threads[me].ret.value(0);
        Ok(Outcome::Returned)
    }

    /// What `ipc_reply` by thread `me` (the current thread) does but for its own result,
    /// which the caller returns: its light way in (`Kernel::light_reply`, the hot caller,
    /// which gives `rax` straight back) or [`ipc_reply`](Self::ipc_reply). Nothing is
    /// left pending for `me`.
    #[inline(always)]
    pub fn reply_short(&mut self, me: ThreadSlot, message: u64, len: u32) -> Result<(), Error> {
        if len as usize > SHORT_MAX {
            return Err(Error::TooLong);
        }
        // From the buffer its last receive kept if the reply is (a prefix of) it and its
        // space's generation has not moved: nothing to check again. Else each side's pages
        // as its last spec call left them, if its space is unchanged
        // (`direct_spec::resumed`).
        let my_space = space_of(&self.tasks, self.threads[me].task);
        let my_gen = my_space.generation();
        // SAFETY: `my_gen` is the space's generation, read just now: the precondition.
        let message = match unsafe { self.threads[me].ipc.kept.message(my_space, message, len, my_gen) } {
            Some(kept) => kept,
            None => {
                let (mut mine, my_gen) = resumed(&self.tasks, &self.threads[me]);
                let (_, message) = mine.readable_at(message, len, false)?;
                self.threads[me].ipc.walked = mine.remembered(my_gen);
                message
            }
        };
        let (to, dest) = reply_target(&mut self.threads, me)?;
        // The caller's buffers as its send kept them (`direct_send`) if its space's
        // generation has not moved since: then nothing of theirs is checked again.
        let space = space_of(&self.tasks, self.threads[to.slot].task);
        let their_gen = space.generation();
        // If its send marked them as the very ranges of its record (`Kept::set_pending`),
        // only the generation and the space are compared; else the ranges are.
        let their_kept = &self.threads[to.slot].ipc.kept;
        let ready = match dest.to {
            // SAFETY: `their_gen` is the caller's space's generation, read just now: the
            // precondition of `Kept::pending_bufs` and `Kept::bufs`.
            ReplyBuf::Memory { buf, len_ptr } => unsafe {
                match their_kept.pending_bufs(space, their_gen) {
                    Some(bufs) => Some(bufs),
                    None => their_kept.bufs(space, buf, len_ptr, len_ptr, their_gen),
                }
            },
            ReplyBuf::Regs => None,
        };
        let put = if let Some([dest, len_word, _]) = ready {
            // What `put_short` writes for a reply into memory, all checked already.
            let n = len.min(dest.len() as u32);
            dest.copy_from(&message, n as usize, &mut self.bounce);
            len_word.write_u32(n);
            Ok(n)
        } else {
            let (mut theirs, their_gen) = resumed(&self.tasks, &self.threads[to.slot]);
            let ret = &mut self.threads[to.slot].ret;
            let put = put_short(&mut theirs, ret, dest.sink(), &Payload::Memory(message), &mut self.bounce);
            self.threads[to.slot].ipc.walked = theirs.remembered(their_gen);
            put
        };
        // The caller runs as soon as the server waits again: held for the donation, not
        // queued (`wake_donated`).
        self.replied(me, to, put, true)?;
        Ok(())
    }

    /// Answers the call `me` last received with `reply`, in registers; returns the caller's
    /// slot. As [`Core::replied`] says for a caller whose buffer has become invalid.
    pub(super) fn reply_with(&mut self, me: ThreadSlot, reply: Reply) -> Result<ThreadSlot, Error> {
        let Reply::Regs(words, len) = reply;
        let (to, dest) = reply_target(&mut self.threads, me)?;
        let mut theirs = Walker::new(space_of(&self.tasks, self.threads[to.slot].task));
        let ret = &mut self.threads[to.slot].ret;
        let put = put_short(&mut theirs, ret, dest.sink(), &Payload::Regs(words, len), &mut self.bounce);
        self.replied(me, to, put, false)
    }

    /// The reply of `me` to caller `to` was put where it waits (`put`: the bytes, or why
    /// not): wakes the caller and returns its slot. If the caller's buffer has become
    /// invalid, the caller is released with `BadAddress` and the result is `NotDelivered`:
    /// success means the reply reached it. `donate`: a caller the reply reached is
    /// donated the rest of the slice (`wake_donated`), to run as soon as `me` waits.
    #[inline(always)]
    fn replied(
        &mut self,
        me: ThreadSlot,
        to: ReplyTo,
        put: Result<u32, Error>,
        donate: bool,
    ) -> Result<ThreadSlot, Error> {
        let delivered = put.is_ok();
        crate::trace_event!(crate::trace::reply(self, me, to.tid, to.seq, delivered));
        let _ = me; // read by the trace hook alone
        let value = put.map_or_else(|e| e.code() as i64, |_| 0);
        if donate && delivered {
            self.wake_donated(to.slot, value);
        } else {
            self.wake(to.slot, value);
        }
        if !delivered {
            return Err(Error::NotDelivered);
        }
        Ok(to.slot)
    }
}

/// The caller `me` owes a reply, and where the reply goes; `me` owes it no longer. Looks
/// only at the threads, so the reply's bytes may stay translated meanwhile.
#[inline(always)]
fn reply_target(threads: &mut [Thread; MAX_THREADS], me: ThreadSlot) -> Result<(ReplyTo, ReplyDest), Error> {
    let to = threads[me].ipc.reply_to.take().ok_or(Error::NoReplyPending)?;
    let t = &threads[to.slot];
    if t.tid != to.tid || matches!(t.state(), State::Free | State::Zombie) {
        return Err(Error::PeerDied);
    }
    // Only what the reply needs of the send, not the whole record.
    match t.state() {
        State::AwaitingReply { from, seq, reply } if *from == me && *seq == to.seq => Ok((to, *reply)),
        _ => Err(Error::Timeout), // it gave up waiting
    }
}
