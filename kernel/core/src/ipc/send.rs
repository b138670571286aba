//! `ipc_send`: checking a send, handing it to a waiting receiver, queueing a synchronous
//! sender in the receiver's mailbox, or buffering an asynchronous message.

use super::records::{ReplyBuf, SendMsg};
use super::transfer::{put_short, Payload};
use super::*;
use crate::umem::{UserRange, Walker};

/// A message that has reached its receiver: its mode and place in send order, the flags of
/// the receiver's sender word, and where the reply goes.
struct Arrived {
    mode: SendMode,
    seq: u64,
    flags: u64,
    reply: ReplyDest,
}

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// `ipc_send` by thread `me` (the current thread).
    pub fn ipc_send(&mut self, me: ThreadSlot, a: SendArgs) -> Result<Outcome, Error> {
        let task = self.task_of(me);

        // 1. The caller's own arguments. A long message is always a call ("option_sync is
        // ignored" when len_long is non-zero).
        let long = a.len_long != 0;
        let mode = if long {
            SendMode::Sync
        } else {
            SendMode::try_from(a.option_sync).map_err(|_| Error::InvalidArgument)?
        };
        // A synchronous sender's length and buffer are where its reply comes back.
        let sync = mode != SendMode::Async;
        let space = space_of(&self.tasks, task);
        // Its pages looked up once (or not at all: see `direct_spec::resumed`).
        let (mut mine, gen) = super::direct_spec::resumed(&self.tasks, &self.threads[me]);
        let (len_ptr, len_word) = mine.readable_at(a.len_short, 4, sync)?;
        let len = len_word.read_u32();
        if len as usize > SHORT_MAX {
            return Err(Error::TooLong);
        }
        let (buf, message) = mine.readable_at(a.message_short, len, sync)?;
        self.threads[me].ipc.walked = mine.remembered(gen);
        let long_pages = a.len_long as u64 / PAGE;
        let mut long_range = UserRange::NONE;
        if long {
            long_range = UserRange::pages(space, a.message_long, a.len_long)?;
            // Pages a move just put here, unchanged since (see `ThreadIpc::received`),
            // are known to be movable: only the range is checked.
            let vouched = !a.shared
                && self.threads[me].ipc.received.is_some_and(|(r, generation)| {
                    generation == space.generation() && r.contains(long_range.addr(), long_pages)
                });
            if !vouched {
                check_transferable(space, long_range.addr(), long_pages, !a.shared)?;
            }
        }
        // The timeout matters only for synchronous sends ("ignored if option_sync is 0").
        let timeout = match mode {
            SendMode::Async => Timeout::Forever,
            _ => Timeout::from_raw(a.timeout).ok_or(Error::InvalidArgument)?,
        };

        // 2. The target.
        let to = self.lookup_thread(Tid::from_raw(a.id))?;
        if to == me && mode != SendMode::Async {
            return Err(Error::InvalidArgument);
        }

        // 3. The rendezvous. A short message to a waiting receiver goes straight from the
        // pages just checked into the receiver's buffer.
        self.seq += 1;
        let seq = self.seq;
        let reply = ReplyDest { len, to: ReplyBuf::Memory { buf, len_ptr } };
        if let (false, State::Receiving(recv)) = (long, self.threads[to].state()) {
            let sink = recv.sink(0);
            let mut theirs = Walker::new(space_of(&self.tasks, self.threads[to].task));
            let ret = &mut self.threads[to].ret;
            match put_short(&mut theirs, ret, sink, &Payload::Memory(message), &mut self.bounce) {
                Ok(_) => {
                    crate::trace_event!(crate::trace::send(self, me, to, seq, mode));
                    crate::trace_event!(crate::trace::recv(self, to, self.threads[me].tid, seq));
                    let outcome = self.delivered(me, to, Arrived { mode, seq, flags: 0, reply }, timeout);
                    self.threads[me].ret.second(SendStatus::default().encode());
                    return Ok(outcome);
                }
                // The receiver's buffer is gone: it fails, and the send goes on as if
                // nobody had been waiting.
                Err(e) => {
                    self.end_window(to);
                    self.wake(to, e.code() as i64);
                }
            }
        }
        let send =
            PendingSend { msg: SendMsg::Memory { buf, len_ptr }, len, mode, seq, long: long_range, moving: !a.shared };
        if long {
            // `check_transferable` checked the long message's pages against the space as
            // it is now: the rendezvous checks them again only if it has changed since.
            self.threads[me].ipc.long_checked = self.space(task).generation();
            self.threads[me].ipc.checked_now = true;
        }
        let outcome = self.send_pending(me, to, send, timeout);
        if long {
            self.threads[me].ipc.checked_now = false;
        }
        if outcome.is_ok() && self.threads[me].ret.get(SECOND).is_none() {
            // Now or when woken, it learns whether its pages left (`commit_long` says
            // they did).
            self.threads[me].ret.second(SendStatus::default().encode());
        }
        outcome
    }

    /// Completes `me`'s send, its arguments checked: straight to `to` if it is receiving,
    /// else queued (or buffered, if asynchronous).
    #[inline(always)]
    pub(super) fn send_pending(
        &mut self,
        me: ThreadSlot,
        to: ThreadSlot,
        send: PendingSend,
        timeout: Timeout,
    ) -> Result<Outcome, Error> {
        let (mode, seq) = (send.mode, send.seq);
        crate::trace_event!(crate::trace::send(self, me, to, seq, mode));
        if let State::Receiving(recv) = *self.threads[to].state() {
            match self.rendezvous(&Pair { s: me, send: &send, r: to, recv: &recv }) {
                Ok(flags) => {
                    let m = Arrived { mode, seq, flags, reply: send.reply_to() };
                    return Ok(self.delivered(me, to, m, timeout));
                }
                // The receiver keeps waiting for a message that fits.
                Err(Fault::Sender(e)) => return Err(e),
                Err(Fault::Receiver(e)) => {
                    self.end_window(to);
                    self.wake(to, e.code() as i64);
                }
            }
        }
        match mode {
            SendMode::Async => self.buffer_async(me, to, send.buf(), send.len, seq),
            _ if timeout == Timeout::Poll => Err(Error::Timeout),
            _ => {
                self.block_sending(me, to, send, timeout);
                Ok(Outcome::Blocked)
            }
        }
    }

    /// `me`'s message has reached `to`, which was receiving: `to` wakes with it, and a
    /// caller waits for the reply (bounded by `timeout`), running `to` at once.
    #[inline(always)]
    fn delivered(&mut self, me: ThreadSlot, to: ThreadSlot, m: Arrived, timeout: Timeout) -> Outcome {
        let Arrived { mode, seq, flags, reply } = m;
        let kind = match mode {
            SendMode::Sync => RecvKind::Call,
            SendMode::SyncNoReply => RecvKind::NoReply,
            SendMode::Async => RecvKind::Async,
        };
        let word = self.threads[me].tid.raw() as u64 | flags;
        self.set_sender(to, word);
        self.end_window(to);
        match mode {
            SendMode::Sync => {
                self.wake(to, u32::from(kind) as i64);
                // Timeout 0: delivered, so wait for the reply without a deadline.
                self.block_awaiting_reply(me, to, seq, reply, timeout);
                let owed = ReplyTo { slot: me, tid: self.threads[me].tid, seq };
                self.threads[to].ipc.reply_to.set(owed);
                self.hand_off(me, to); // the caller waits: run the receiver now
                Outcome::Blocked
            }
            SendMode::SyncNoReply | SendMode::Async => {
                // The receiver runs as soon as the sender waits.
                self.wake_donated(to, u32::from(kind) as i64);
                self.threads[me].ret.value(0);
                Outcome::Returned
            }
        }
    }

    pub(super) fn buffer_async(
        &mut self,
        me: ThreadSlot,
        to: ThreadSlot,
        src: UserRange,
        len: u32,
        seq: u64,
    ) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        // A task's share of another task's mailbox (abi::image::Limits); its own threads'
        // mailboxes are bounded only by ASYNC_QUEUE_MAX: filling them crowds out no one else.
        let share = if self.task_of(to) == task {
            abi::ipc::ASYNC_QUEUE_MAX
        } else {
            self.tasks[task].limits.async_per_mailbox as usize
        };
        self.inboxes.messages().check_room(to, task, self.tasks[task].id, share)?;
        let buffer = self.buffers.alloc().ok_or(Error::OutOfMemory)?;
        let bytes = &mut self.buffers.bytes(&buffer)[..len as usize];
        // The caller's own buffer, walked again (checked in this call, but kept no longer).
        if let Err(e) = Walker::new(space_of(&self.tasks, task)).readable(src, false).map(|b| b.read(bytes)) {
            self.buffers.free(buffer);
            return Err(e);
        }
        let msg = Msg { seq, sender_tid: self.threads[me].tid, sender_task: self.tasks[task].id, len, buffer };
        self.inboxes.push_message(to, task, msg);
        self.threads[me].ret.value(1);
        Ok(Outcome::Returned)
    }
}
