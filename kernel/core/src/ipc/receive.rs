//! `ipc_recv` and the receive half of `IpcReplyWait`: pending interrupts first, then the
//! older of the oldest buffered message and the oldest queued sender; receive windows and
//! their page tables.

use super::records::RecvBuf;
use super::transfer::{put_short, Payload};
use super::*;
use crate::umem::{UserRange, Walker};

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// The sender word of what `thread` receives: with the registers of a receive into
    /// registers (`rdi`), else as its second result (`rdx`).
    pub(super) fn set_sender(&mut self, thread: ThreadSlot, word: u64) {
        let ret = &mut self.threads[thread].ret;
        if ret.has_fast() {
            ret.set_fast_sender(word);
        } else {
            ret.second(word);
        }
    }

    /// The send order of sender `s`, queued in a mailbox (the newest possible if it is not a
    /// sender, which the invariants rule out).
    pub(super) fn queued_seq(&self, s: ThreadSlot) -> u64 {
        match self.threads[s].state() {
            State::Sending { send, .. } => send.seq,
            _ => u64::MAX,
        }
    }

    /// `me` returns now with a message of `kind` from `sender` (a sender word).
    pub(super) fn received(&mut self, me: ThreadSlot, kind: RecvKind, sender: u64) -> Outcome {
        self.threads[me].ret.value(u32::from(kind) as u64);
        self.set_sender(me, sender);
        Outcome::Returned
    }

    /// `ipc_recv` by thread `me` (the current thread).
    pub fn ipc_recv(&mut self, me: ThreadSlot, a: RecvArgs) -> Result<Outcome, Error> {
        // 1. The caller's own arguments, each page looked up once (or not at all, if its
        // last call looked it up and its space's generation has not moved since).
        let (mut mine, gen) = super::direct_spec::resumed(&self.tasks, &self.threads[me]);
        let (len_ptr, cap_word) = mine.writable_at(a.len_short, 4)?;
        let cap = cap_word.read_u32().min(SHORT_MAX as u32);
        let (buf, _) = mine.writable_at(a.short_dest, cap)?;
        let (long_len_ptr, long_word) = mine.writable_at(a.len_long, 4)?;
        let long_cap = long_word.read_u32() as u64;
        self.threads[me].ipc.walked = mine.remembered(gen);
        // Its window (`long`) checked by `recv_general`, if it has one.
        let recv = PendingRecv { cap, dest: RecvBuf::Memory { buf, len_ptr, long_len_ptr, long: UserRange::NONE } };
        let t = &self.threads[me];
        if long_cap != 0 || self.inboxes.irqs(me) != 0 || t.ipc.window.is_some() {
            return self.recv_general(me, a, recv, long_cap);
        }
        let timeout = Timeout::from_raw(a.timeout).ok_or(Error::InvalidArgument)?;
        if t.ipc.reply_to.is_some() {
            return Err(Error::ReplyPending);
        }

        // 2. Something queued for this plain receive is copied with the pages just looked
        // up (the general `receive` would look them up again).
        match self.next_incoming(me) {
            Next::Message => {
                let Some(m) = self.inboxes.messages().front(me) else { return Err(Error::Timeout) };
                let bytes = &self.buffers.bytes(&m.buffer)[..m.len as usize];
                // On failure the message stays queued: nothing is lost.
                let ret = &mut self.threads[me].ret;
                put_short(&mut mine, ret, recv.sink(0), &Payload::Kernel(bytes), &mut self.bounce)?;
                return self.async_taken(me);
            }
            Next::Sender(s) => {
                if let State::Sending { send, .. } = *self.threads[s].state() {
                    let payload = match send.regs() {
                        _ if send.long_pages() != 0 => None, // the rendezvous moves pages
                        Some(words) => Some(Payload::Regs(words, send.len)),
                        // A sender whose buffer went is failed by `receive`, below.
                        None => Walker::new(space_of(&self.tasks, self.threads[s].task))
                            .readable(send.buf().prefix(recv.cap), false)
                            .ok()
                            .map(Payload::Memory),
                    };
                    if let Some(payload) = payload {
                        // On failure the sender stays queued.
                        let ret = &mut self.threads[me].ret;
                        put_short(&mut mine, ret, recv.sink(0), &payload, &mut self.bounce)?;
                        crate::trace_event!(crate::trace::recv(self, me, self.threads[s].tid, send.seq));
                        return Ok(self.sender_taken(me, s, &send, 0));
                    }
                }
            }
            Next::Nothing => {
                if timeout == Timeout::Poll {
                    return Err(Error::Timeout);
                }
                self.block_receiving(me, recv, timeout);
                return Ok(Outcome::Blocked);
            }
        }
        self.receive(me, &recv, timeout)
    }

    /// The rest of `ipc_recv` (its user buffers checked) for a receive with a window, with
    /// interrupts pending, or holding a stale window.
    fn recv_general(
        &mut self,
        me: ThreadSlot,
        a: RecvArgs,
        mut recv: PendingRecv,
        long_cap: u64,
    ) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        if !long_cap.is_multiple_of(PAGE) {
            return Err(Error::Misaligned);
        }
        if long_cap != 0 {
            // `long_cap` came from a `u32`.
            recv.set_window(UserRange::pages(self.space(task), a.long_dest, long_cap as u32)?);
            if !self.space(task).is_unmapped(recv.long().addr(), long_cap / PAGE) {
                return Err(Error::WindowOccupied);
            }
            // The receiver's limits are checked now, not when a sender arrives, and
            // reported to it: room in its region table and its quota for the window...
            let window = Region { base: recv.long().addr(), pages: long_cap / PAGE };
            self.space_mut(task).regions().check_add(window)?;
        }
        let timeout = Timeout::from_raw(a.timeout).ok_or(Error::InvalidArgument)?;
        if self.threads[me].ipc.reply_to.is_some() {
            return Err(Error::ReplyPending);
        }
        self.end_window(me); // none is held outside a receive; this keeps it so
        if long_cap != 0 {
            if let Some(outcome) = self.take_long_at_once(me, &recv)? {
                return Ok(outcome);
            }
            // ...and the page tables the window needs, made (and charged) now and kept
            // until the receive ends, so no sender can find them missing.
            let window = Region { base: recv.long().addr(), pages: long_cap / PAGE };
            self.space_mut(task).reserve_window(window.base, window.pages)?;
            self.threads[me].ipc.window = Some(window);
            self.threads[me].ipc.window_growth = self.space(task).growth();
            self.threads[me].ipc.window_splits = self.space_mut(task).regions().splits();
        }
        let outcome = self.receive(me, &recv, timeout);
        if !matches!(outcome, Ok(Outcome::Blocked)) {
            self.end_window(me);
        }
        outcome
    }

    /// For a receive with a window whose arguments and window `recv_general` just checked:
    /// takes the sender queued first at once if it sends pages (and no interrupt comes
    /// first), without reserving the window's tables: its rendezvous makes them
    /// (`prepare_long`, `window_now`), where reserving them first would only pin them and
    /// unpin them again. Charged, and refused when they cannot be had, the same way, and
    /// freed again if the rendezvous fails. `None`: nothing taken (not such a sender, or
    /// it failed and was woken with its error): the receive goes on as usual.
    fn take_long_at_once(&mut self, me: ThreadSlot, recv: &PendingRecv) -> Result<Option<Outcome>, Error> {
        if self.inboxes.irqs(me) != 0 {
            return Ok(None);
        }
        let Next::Sender(s) = self.next_incoming(me) else { return Ok(None) };
        if !matches!(self.threads[s].state(), State::Sending { send, .. } if send.long_pages() != 0) {
            return Ok(None);
        }
        self.threads[me].ipc.window_now = true;
        let taken = self.take_sender(me, s, recv);
        self.threads[me].ipc.window_now = false;
        taken
    }

    /// Ends the reservation of `thread`'s receive window, if it holds one: the window's
    /// page tables are freed unless pages were received into them. Called whenever a
    /// receive ends (a message, an error, a timeout); costs one test when there is none.
    #[inline(always)]
    pub(super) fn end_window(&mut self, thread: ThreadSlot) {
        if self.threads[thread].ipc.window.is_some() {
            self.release_window_of(thread);
        }
    }

    #[inline(never)]
    pub(super) fn release_window_of(&mut self, thread: ThreadSlot) {
        let Some(w) = self.threads[thread].ipc.window.take() else { return };
        if matches!(self.threads[thread].state(), State::Free | State::Zombie) {
            return; // its task died: the tables went with the address space
        }
        let task = self.task_of(thread);
        if let Some(space) = self.tasks[task].space.as_mut() {
            space.release_window(w.base, w.pages);
        }
    }

    /// Ends the windows of receives the last tick timed out (the core's tick knows nothing
    /// of address spaces). Called after every tick; a receive ended any other way has
    /// already released its window.
    pub fn release_stale_windows(&mut self) {
        for t in ThreadSlot::all() {
            if self.threads[t].ipc.window.is_some() && !matches!(self.threads[t].state(), State::Receiving(_)) {
                self.end_window(t);
            }
        }
    }

    /// The receive half of `ipc_recv` and `ipc_reply_wait`, arguments checked.
    pub(super) fn receive(&mut self, me: ThreadSlot, recv: &PendingRecv, timeout: Timeout) -> Result<Outcome, Error> {
        // Interrupts first: a driver is never starved of its device by its clients.
        if let Some(irq) = self.inboxes.first_irq(me) {
            let word = self.put_interrupt(me, recv, irq)?;
            self.inboxes.clear_irq(me, irq);
            return Ok(self.received(me, RecvKind::Async, word));
        }
        // Then the oldest sender.
        loop {
            let s = match self.next_incoming(me) {
                Next::Message => return self.take_async(me, recv),
                Next::Sender(s) => s,
                Next::Nothing => break,
            };
            match self.take_sender(me, s, recv)? {
                Some(outcome) => return Ok(outcome),
                None => continue, // that sender's buffer was gone: next one
            }
        }
        if timeout == Timeout::Poll {
            return Err(Error::Timeout);
        }
        self.block_receiving(me, *recv, timeout);
        Ok(Outcome::Blocked)
    }

    /// What `me` receives next, interrupts aside: the older of the oldest buffered message
    /// and the oldest queued sender.
    #[inline(always)]
    fn next_incoming(&self, me: ThreadSlot) -> Next {
        let sender = self.inboxes.first_sender(me);
        let sender_seq = sender.map(|s| self.queued_seq(s));
        if let Some(m) = self.inboxes.messages().front(me) {
            if sender_seq.is_none_or(|s| m.seq < s) {
                return Next::Message;
            }
        }
        sender.map_or(Next::Nothing, Next::Sender)
    }

    /// Receives the message at the front of `me`'s queue.
    pub(super) fn take_async(&mut self, me: ThreadSlot, recv: &PendingRecv) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        let Some(m) = self.inboxes.messages().front(me) else { return Err(Error::Timeout) }; // the caller saw one
        let bytes = &self.buffers.bytes(&m.buffer)[..m.len as usize];
        // On failure the message stays queued: nothing is lost.
        let (mut theirs, ret) = (Walker::new(space_of(&self.tasks, task)), &mut self.threads[me].ret);
        put_short(&mut theirs, ret, recv.sink(0), &Payload::Kernel(bytes), &mut self.bounce)?;
        self.async_taken(me)
    }

    /// The message at the front of `me`'s queue has been put where it receives: it leaves
    /// the queue, its buffer and its sender's quota go back.
    fn async_taken(&mut self, me: ThreadSlot) -> Result<Outcome, Error> {
        let Some(m) = self.inboxes.pop_message(me) else { return Err(Error::Timeout) }; // the front above
        if let Some(t) = self.live_task_slot(m.sender_task) {
            self.inboxes.uncharge(t);
        }
        let sender_tid = m.sender_tid;
        crate::trace_event!(crate::trace::recv(self, me, sender_tid, m.seq));
        self.buffers.free(m.buffer);
        Ok(self.received(me, RecvKind::Async, sender_tid.raw() as u64))
    }

    /// Receives blocked sender `s`. `None`: the sender could not be received (its buffer
    /// or pages were unusable, or its long message does not fit): it has been failed, try
    /// the next one. (Inlined: `receive`'s loop, which every queued call goes through,
    /// stays as tight as with one caller.)
    #[inline(always)]
    pub(super) fn take_sender(
        &mut self,
        me: ThreadSlot,
        s: ThreadSlot,
        recv: &PendingRecv,
    ) -> Result<Option<Outcome>, Error> {
        let State::Sending { send, .. } = *self.threads[s].state() else {
            // Invariant: only `Sending` threads are queued (`Core::check_invariants`). Were
            // one not, it leaves the queue rather than stop the receive.
            self.unqueue_sender(me, s);
            return Ok(None);
        };
        let flags = match self.rendezvous(&Pair { s, send: &send, r: me, recv }) {
            Ok(flags) => flags,
            Err(Fault::Sender(e)) => {
                self.wake(s, e.code() as i64);
                return Ok(None);
            }
            Err(Fault::Receiver(e)) => return Err(e), // the sender stays queued
        };
        Ok(Some(self.sender_taken(me, s, &send, flags)))
    }

    /// Queued sender `s`'s message `send` has reached `me` (`flags` for its sender word):
    /// a caller now waits for the reply, a sender that wants none is released.
    fn sender_taken(&mut self, me: ThreadSlot, s: ThreadSlot, send: &PendingSend, flags: u64) -> Outcome {
        let tid = self.threads[s].tid.raw() as u64;
        match send.mode {
            SendMode::Sync => {
                // Still bounded by its deadline, if it has one: now waiting for the reply.
                self.sender_received(s, me);
                let to = ReplyTo { slot: s, tid: self.threads[s].tid, seq: send.seq };
                self.threads[me].ipc.reply_to.set(to);
                self.received(me, RecvKind::Call, tid | flags)
            }
            SendMode::SyncNoReply => {
                self.wake(s, 0); // takes it out of the queue and cancels its deadline
                self.received(me, RecvKind::NoReply, tid | flags)
            }
            // Invariant: `ipc_send` buffers asynchronous messages and never blocks them.
            SendMode::Async => unreachable!("asynchronous senders never block"),
        }
    }
}

/// What a receive takes next, interrupts aside.
enum Next {
    /// The oldest buffered message.
    Message,
    /// The oldest queued sender.
    Sender(ThreadSlot),
    Nothing,
}
