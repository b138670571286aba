//! The spec's `ipc_send` and `ipc_recv` done in one step, before any general dispatch, in
//! their common case: a synchronous short send to a thread blocked in `ipc_recv` (copied
//! once, straight into its buffer, and run at once), and a receive that finds nothing and
//! must block. (`ipc_reply` never blocks or switches its caller, so it has a light way in
//! of its own: `Kernel::light_reply`, `sys::spec`.)
//!
//! Each attempt either declines, having changed nothing (the general path then runs the
//! call exactly as it always does, errors included), or makes exactly the state change the
//! general path (`ipc_send`, `ipc_recv`) makes for the same call, leaving the same pending
//! results, so the general exit (`Kernel::next`, `Kernel::deliver`) finishes it, or
//! `sys::spec` enters the thread to run with its two pending results (`Spec::Enter`). The one
//! difference is how: the send hands the CPU to its receiver with `switch_direct` instead
//! of pushing it on the run queue (`wake`) and taking it off again at once (`hand_off`),
//! with no timer to cancel.
//!
//! Every user pointer is checked (`Walker`) before a byte moves, and a check that fails
//! declines: the general path reports the error. Declined besides: the direct switch
//! turned off (`nohandoff`: every attempt declines, so that run exercises the general path
//! only), a tracing kernel (the general path records the events), a caller that is not
//! current; a send that is asynchronous or without reply, has a long part, a deadline, or
//! is too long, to itself or to a thread not blocked in a plain `ipc_recv` (into
//! registers, with a window or a long capacity, or with a deadline); a receive with a long
//! capacity, a poll, interrupts pending, a reply still owed, a window held, or anything
//! queued. Zombies waiting to be reaped are declined here too, in the byte that says
//! whether the direct ways may run (`Core::direct_on`, with `nohandoff`), besides by the
//! caller (`sys::spec`).
//!
//! [`resumed`] starts each walk from the pages the thread's last spec call looked up, if
//! its space's generation has not moved since; `ipc_send`, `ipc_recv` and `ipc_reply` use
//! it on the general path too. A receive that blocks here keeps its checked buffers
//! (`umem::Kept`), and a send into that same receive writes them without checking them
//! again while the receiver's space's generation holds; a send taken here keeps its own
//! the same way, for the reply (`ipc_reply`). The holder's own next call uses them too
//! (`Kept::again`): a receive into the same three buffers, or a send from the same message
//! and length word, of the length its word holds now, while its space's generation holds,
//! checks nothing again. Having blocked the holder in a record made from exactly its kept
//! ranges, the direct way marks them so (`Kept::set_pending`, cleared by every `block_*`),
//! and the partner's direct send or `ipc_reply` then compares only the generation and the
//! space.

use super::records::{RecvBuf, ReplyBuf};
use super::transfer::{put_short, Payload};
use super::*;
use crate::task::{Fast, Thread};
use crate::umem::{Kept, UserRange, Walker};

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// Whether a spec call of `me` may go the direct way at all.
    #[inline(always)]
    fn spec_allowed(&self, me: ThreadSlot) -> bool {
        self.direct_on() && !crate::sys::fast_layout::TRACED && self.current() == Some(me)
    }

    /// `ipc_send` by `me` with arguments `a`, synchronous and short, to a thread blocked
    /// in a plain `ipc_recv`: the message is copied into its buffer, it becomes current
    /// with the results of a received call, and `me` waits for the reply. Returns the
    /// receiver; `None`: declined, nothing changed.
    #[inline(always)]
    pub fn direct_send(&mut self, me: ThreadSlot, a: &SendArgs) -> Option<ThreadSlot> {
        if a.len_long != 0 || a.option_sync != u32::from(SendMode::Sync) || !self.spec_allowed(me) {
            return None;
        }
        // Forever, or a poll (delivered, the caller waits for the reply without a deadline).
        let timeout = Timeout::from_raw(a.timeout)?;
        if !matches!(timeout, Timeout::Forever | Timeout::Poll) {
            return None;
        }
        let to = self.lookup_thread(Tid::from_raw(a.id)).ok()?;
        // A plain receive into memory (its buffers are read where they are, below, not
        // copied out of the record here).
        match self.threads[to].state() {
            State::Receiving(r) if !r.in_regs() && r.long().is_empty() => {}
            _ => return None,
        }
        if to == me || self.threads[to].ipc.has_window() || self.has_deadline(to) {
            return None;
        }
        // The caller's buffers, writable too: the reply comes back there. Those its last
        // send kept, if it sends from the same ones again and its space's generation has
        // not moved: nothing to check or keep again.
        let my_space = space_of(&self.tasks, self.threads[me].task);
        let my_gen = my_space.generation();
        let kept = &self.threads[me].ipc.kept;
        // SAFETY: `my_gen` is the space's generation, read just now: the precondition.
        let (len, buf, len_ptr, message, walked) =
            match unsafe { kept.again(my_space, a.message_short, a.len_short, a.len_short, my_gen, |len| len) } {
                Some(([buf, len_ptr, _], [message, ..])) => (buf.len(), buf, len_ptr, message.readable(), None),
                None => {
                    let (mut mine, my_gen) = resumed(&self.tasks, &self.threads[me]);
                    // Kept, for the reply that comes back into them (`ipc_reply`).
                    let (len_ptr, len_word, len_kept) = mine.kept_readable_at(a.len_short, 4).ok()?;
                    let len = len_word.read_u32();
                    if len as usize > SHORT_MAX {
                        return None;
                    }
                    let (buf, message, buf_kept) = mine.kept_readable_at(a.message_short, len).ok()?;
                    let kept = Kept::new(my_gen, buf_kept, len_kept, len_kept);
                    (len, buf, len_ptr, message, Some((mine.remembered(my_gen), kept)))
                }
            };
        // A kept buffer was kept for a length no longer than that (every `Kept` is).
        if len as usize > SHORT_MAX {
            return None;
        }
        // Nothing is written unless every destination page checks (`put_short`), so a
        // failure here changes nothing; the general path then fails the receiver.
        // The receiver's buffers as its receive kept them if that receive went the direct
        // way and its space's generation has not moved since: then nothing of theirs is
        // checked again.
        let space = space_of(&self.tasks, self.threads[to].task);
        let their_gen = space.generation();
        // Its receive marked them as the very ranges of its record (`Kept::set_pending`):
        // only the generation and the space are compared. Else the ranges are.
        let their_kept = &self.threads[to].ipc.kept;
        // SAFETY: `their_gen` is the receiver's space's generation, read just now: the
        // precondition of `Kept::pending_bufs` and `Kept::bufs`.
        let ready = match unsafe { their_kept.pending_bufs(space, their_gen) } {
            Some(bufs) => Some(bufs),
            None => match self.threads[to].state() {
                // SAFETY: as above.
                State::Receiving(PendingRecv { dest: RecvBuf::Memory { buf, len_ptr, long_len_ptr, .. }, .. }) => unsafe {
                    their_kept.bufs(space, *buf, *len_ptr, *long_len_ptr, their_gen)
                },
                _ => None,
            },
        };
        if let Some([dest, len_word, long_word]) = ready {
            // What `put_short` writes for a receive into memory, all checked already.
            let n = len.min(dest.len() as u32);
            dest.copy_from(&message, n as usize, &mut self.bounce);
            len_word.write_u32(n);
            long_word.write_u32(0);
        } else {
            // Checked above: the receive is still the one found (nothing has changed).
            let State::Receiving(r) = self.threads[to].state() else { return None };
            let sink = r.sink(0);
            let (mut theirs, their_gen) = resumed(&self.tasks, &self.threads[to]);
            let ret = &mut self.threads[to].ret;
            put_short(&mut theirs, ret, sink, &Payload::Memory(message), &mut self.bounce).ok()?;
            self.threads[to].ipc.walked = theirs.remembered(their_gen);
        }
        if let Some((walked, kept)) = walked {
            let ipc = &mut self.threads[me].ipc;
            ipc.walked = walked;
            ipc.kept = kept;
        }

        // What `delivered` does for a call, with `switch_direct` for `wake` + `hand_off`.
        let seq = self.next_seq();
        let me_tid = self.threads[me].tid;
        let reply = ReplyDest { len, to: ReplyBuf::Memory { buf, len_ptr } };
        self.threads[to].ipc.reply_to.set(ReplyTo { slot: me, tid: me_tid, seq });
        self.switch_direct(me, State::AwaitingReply { from: to, seq, reply }, Fast::No, to);
        // Its record's buffers are those it keeps (`buf` and `len_ptr` came from them).
        self.threads[me].ipc.kept.set_pending();
        let r = &mut self.threads[to].ret;
        r.value(u32::from(RecvKind::Call) as u64);
        r.second(me_tid.raw() as u64);
        self.threads[me].ret.second(SendStatus::default().encode());
        Some(to)
    }

    /// `ipc_recv` by `me` with arguments `a` that finds nothing to receive and must block:
    /// its buffers checked, it waits in `Receiving` (its deadline armed). The caller then
    /// runs the next thread. `None`: declined, nothing changed.
    #[inline(always)]
    pub fn direct_recv_block(&mut self, me: ThreadSlot, a: &RecvArgs) -> Option<()> {
        // Something queued (or a poll) first: the commonest ways to decline.
        let t = &self.threads[me];
        if self.inboxes.any(me)
            || a.timeout == Timeout::Poll.to_raw()
            || t.ipc.has_window()
            || t.ipc.reply_to.is_some()
            || !self.spec_allowed(me)
        {
            return None;
        }
        let timeout = Timeout::from_raw(a.timeout)?;
        let space = space_of(&self.tasks, t.task);
        let my_gen = space.generation();
        let cap_of = |word: u32| word.min(SHORT_MAX as u32);
        // The buffers its last receive kept, if it receives into the same ones again and
        // its space's generation has not moved: nothing to check or keep again.
        // SAFETY: `my_gen` is the space's generation, read just now: the precondition.
        let again = unsafe { t.ipc.kept.again(space, a.short_dest, a.len_short, a.len_long, my_gen, cap_of) };
        let (cap, [buf, len_ptr, long_len_ptr]) = match again {
            Some((ranges @ [buf, ..], [_, _, long_word])) => {
                if long_word.read_u32() != 0 {
                    return None;
                }
                (buf.len(), ranges)
            }
            None => {
                // The buffers as `ipc_recv` checks them, each page looked up once.
                let (mut mine, my_gen) = resumed(&self.tasks, t);
                // Kept checked, for the direct send that fills them (`direct_send`).
                let (len_ptr, cap_word, len_kept) = mine.kept_at(a.len_short, 4).ok()?;
                let cap = cap_of(cap_word.read_u32());
                let (buf, _, buf_kept) = mine.kept_at(a.short_dest, cap).ok()?;
                let (long_len_ptr, long_word, long_kept) = mine.kept_at(a.len_long, 4).ok()?;
                if long_word.read_u32() != 0 {
                    return None;
                }
                let ipc = &mut self.threads[me].ipc;
                ipc.walked = mine.remembered(my_gen);
                ipc.kept = Kept::new(my_gen, buf_kept, len_kept, long_kept);
                (cap, [buf, len_ptr, long_len_ptr])
            }
        };
        let recv = PendingRecv { cap, dest: RecvBuf::Memory { buf, len_ptr, long_len_ptr, long: UserRange::NONE } };
        self.block_receiving(me, recv, timeout);
        // Its record's buffers are those it keeps (the ranges came from them).
        self.threads[me].ipc.kept.set_pending();
        Some(())
    }
}

/// A walker of `t`'s task's space that starts from the pages the direct way last looked up
/// for `t`, if the space's generation has not moved since; and that generation.
#[inline(always)]
pub(super) fn resumed<'s, S: UserMemory + PageMap>(
    tasks: &'s [Task<S>; MAX_TASKS],
    t: &Thread,
) -> (Walker<'s, S>, u64) {
    let space = space_of(tasks, t.task);
    let generation = space.generation();
    // SAFETY: `generation` is the space's own, read now, and `PageMap::generation` changes
    // whenever a page may have been unmapped, moved or shared out, or reprotected: the
    // precondition of `resume`. (`t.ipc.walked` was taken from a walker of this same space,
    // which `resume` checks too.)
    (unsafe { Walker::resume(space, &t.ipc.walked, generation) }, generation)
}
