//! Everything that waits for a thread to receive it: its interrupts not yet received, the
//! synchronous senders queued in its mailbox and its buffered asynchronous messages; and,
//! per thread, one flag saying whether there is any of it, which the direct ways test
//! instead of the three (`crate::ipc::direct`: a server with anything else to receive takes
//! the general path).
//!
//! Invariant: a thread's flag is set exactly when it has an interrupt pending, a sender
//! queued or a message buffered. It holds by construction: the three are private here, so
//! every change to them is one of the methods below, and each of those ends by updating
//! the changed thread's flag: set if it added something (there is something now), computed
//! again from the three if it took something away (`note`). A missed update would let a
//! server wait in the direct switch with a message left unreceived; `Core::check_invariants`
//! checks the flag against the three as well (`Inboxes::check`), after every step of
//! the system-call and model tests.
//!
//! A sender queue is a list over the core's thread links (a thread is in one list at a
//! time, whichever), so its changes take those links as an argument.

use super::mailbox::{MessagePool, Msg};
use crate::ids::{TaskSlot, ThreadSlot};
use crate::limits::MAX_THREADS;
use crate::sched::list::{Links, List};

pub struct Inboxes {
    /// Interrupts (bit n: IRQ n) for each driver thread not yet received: at most one per
    /// line (the line stays masked until acknowledged), so nothing queues without bound.
    irqs: [u16; MAX_THREADS],
    /// Each thread's synchronous senders, blocked in `Sending`, oldest first.
    senders: [List; MAX_THREADS],
    /// Each thread's buffered asynchronous messages.
    messages: MessagePool,
    /// Whether each thread has anything above (see the module's invariant).
    any: [bool; MAX_THREADS],
}

impl Inboxes {
    /// Where the flags lie (one byte per thread, by slot), for the direct switch's assembly
    /// (`sys::fast_layout`).
    pub(crate) const AT_ANY: usize = core::mem::offset_of!(Inboxes, any);

    /// Nothing anywhere; thread `i`'s sender queue is the list with id `first_list + i`.
    pub const fn new(first_list: u16) -> Self {
        let mut senders = [List::new(0); MAX_THREADS];
        let mut i = 0;
        while i < MAX_THREADS {
            senders[i] = List::new(first_list + i as u16);
            i += 1;
        }
        Inboxes { irqs: [0; MAX_THREADS], senders, messages: MessagePool::new(), any: [false; MAX_THREADS] }
    }

    /// Whether `t` has anything to receive: an interrupt, a sender or a message.
    #[inline(always)]
    pub fn any(&self, t: ThreadSlot) -> bool {
        self.any[t]
    }

    /// `t`'s interrupts not yet received (bit n: IRQ n).
    #[inline(always)]
    pub fn irqs(&self, t: ThreadSlot) -> u16 {
        self.irqs[t]
    }

    /// The lowest-numbered interrupt `t` has not yet received, if any.
    #[inline(always)]
    pub fn first_irq(&self, t: ThreadSlot) -> Option<u8> {
        let pending = self.irqs[t];
        (pending != 0).then(|| pending.trailing_zeros() as u8)
    }

    /// The sender queued first in `t`'s mailbox.
    #[inline(always)]
    pub fn first_sender(&self, t: ThreadSlot) -> Option<ThreadSlot> {
        self.senders[t].front()
    }

    /// `t`'s sender queue, to look at (`Links::iter`).
    pub fn senders(&self, t: ThreadSlot) -> &List {
        &self.senders[t]
    }

    /// The buffered messages, to look at; they change only through the methods below.
    #[inline(always)]
    pub fn messages(&self) -> &MessagePool {
        &self.messages
    }

    /// Interrupt `irq` (below 16) for `t`, kept until it receives it.
    pub fn post_irq(&mut self, t: ThreadSlot, irq: u8) {
        self.irqs[t] |= 1 << irq;
        self.any[t] = true;
    }

    /// `t` has received interrupt `irq`.
    pub fn clear_irq(&mut self, t: ThreadSlot, irq: u8) {
        self.irqs[t] &= !(1 << irq);
        self.note(t);
    }

    /// Forgets `t`'s interrupts (its slot holds a new thread).
    pub fn clear_irqs(&mut self, t: ThreadSlot) {
        self.irqs[t] = 0;
        self.note(t);
    }

    /// Queues sender `s` last in `to`'s mailbox. Returns false (and changes nothing) if
    /// `s` is already in a list.
    #[inline(always)]
    pub fn push_sender(&mut self, links: &mut Links<MAX_THREADS, ThreadSlot>, to: ThreadSlot, s: ThreadSlot) -> bool {
        let pushed = links.push_back(&mut self.senders[to], s);
        self.any[to] |= pushed;
        pushed
    }

    /// Takes sender `s` out of `owner`'s mailbox. Returns false if it was not queued there.
    #[inline(always)]
    pub fn remove_sender(
        &mut self,
        links: &mut Links<MAX_THREADS, ThreadSlot>,
        owner: ThreadSlot,
        s: ThreadSlot,
    ) -> bool {
        let removed = links.remove(&mut self.senders[owner], s);
        self.note(owner);
        removed
    }

    /// Buffers `msg` last in `t`'s mailbox, charged to task slot `task` (the caller checked
    /// `MessagePool::check_room` in the same kernel entry).
    #[inline(always)]
    pub fn push_message(&mut self, t: ThreadSlot, task: TaskSlot, msg: Msg) {
        self.messages.push(t, task, msg);
        self.any[t] = true;
    }

    /// Takes the oldest message out of `t`'s mailbox (its sender's quota is returned with
    /// [`uncharge`](Self::uncharge)).
    #[inline(always)]
    pub fn pop_message(&mut self, t: ThreadSlot) -> Option<Msg> {
        let m = self.messages.pop(t);
        self.note(t);
        m
    }

    /// Returns one message of task slot `task`'s quota (no queue changes).
    pub fn uncharge(&mut self, task: TaskSlot) {
        self.messages.uncharge(task);
    }

    /// Forgets the message counts of a task slot being reused (no queue changes).
    pub fn reset_task(&mut self, task: TaskSlot) {
        self.messages.reset_task(task);
    }

    /// Sets `t`'s flag from what it has: every change above that takes something away ends
    /// here.
    #[inline(always)]
    fn note(&mut self, t: ThreadSlot) {
        self.any[t] = self.irqs[t] != 0 || !self.senders[t].is_empty() || self.messages.queued(t) != 0;
    }

    /// Checks the invariant: every thread's flag says whether it has anything.
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        for t in ThreadSlot::all() {
            let has = (self.irqs[t], self.senders[t].len(), self.messages.queued(t));
            if self.any[t] != (has != (0, 0, 0)) {
                return Err(format!(
                    "thread {t}'s inbox flag is {}, with (irqs, senders, messages) {has:?}",
                    self.any[t]
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A push refused (the thread is in a list already) or a removal from the wrong queue
    /// changes neither queue nor flag.
    #[test]
    fn a_refused_push_or_removal_leaves_every_flag_as_it_was() {
        let mut links = Links::<MAX_THREADS, ThreadSlot>::new();
        let mut ib = std::boxed::Box::new(Inboxes::new(0));
        let (a, b, s) = (ThreadSlot::new(1), ThreadSlot::new(2), ThreadSlot::new(3));
        assert!(ib.push_sender(&mut links, a, s));
        assert!(!ib.push_sender(&mut links, b, s), "already queued at `a`");
        assert!((ib.any(a), ib.any(b)) == (true, false));
        assert!(!ib.remove_sender(&mut links, b, s), "not queued at `b`");
        assert!((ib.any(a), ib.any(b)) == (true, false));
        ib.check().unwrap();
        assert!(ib.remove_sender(&mut links, a, s));
        assert!(!ib.any(a));
        ib.post_irq(a, 0);
        ib.clear_irq(a, 1);
        assert!(ib.any(a), "another line's");
        ib.clear_irq(a, 0);
        assert!(!ib.any(a));
        ib.check().unwrap();
    }
}
