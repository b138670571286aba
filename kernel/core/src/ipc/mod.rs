//! Moroso IPC (docs/ipc.md, with its numbered decisions where the specification is open):
//! `ipc_send`, `ipc_recv` and `ipc_reply` as operations on the [`Core`].
//!
//! Every thread has a mailbox: a FIFO of blocked synchronous senders (threads in
//! `Sending`) and a FIFO of buffered asynchronous messages ([`mailbox`]). Both carry a
//! sequence number from one counter, and a receive takes whichever head is older, so
//! senders are received in the order they sent.
//!
//! A synchronous message is never buffered: it stays in the sender's memory until a
//! receiver takes it, and is then copied straight into the receiver's buffer. An
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

pub mod mailbox;

#[cfg(test)]
mod donation_tests;
#[cfg(test)]
mod fast_tests;
#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod irq_tests;
#[cfg(test)]
mod long_tests;
#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;

use crate::mem::pagemap::{check_owned, release_shares, reserve_shares, PageMap};
use crate::mem::regions::Region;
use crate::task::{Core, State, BOUNCE};
use crate::umem::{UserMemory, UserPtr, UserSlice};
use abi::ipc::fast::{self, WORDS};
use abi::ipc::{RecvFlags, RecvKind, SendMode, SendStatus, Timeout, KERNEL_TID, RECV_SHARED};
use abi::syscall::regs::SECOND;
use abi::{Error, SHORT_MAX};
use mailbox::{Msg, MsgBuffers};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A send as checked: what a sender's `State::Sending` and `State::AwaitingReply` carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSend {
    /// `message_short`: the message, and where the reply goes.
    buf: u64,
    /// `*len_short` when sent: the message length and the reply capacity.
    len: u32,
    /// `len_short`: where the reply length is written.
    len_ptr: u64,
    mode: SendMode,
    seq: u64,
    /// The long message: first page, page count (0: none), and whether it moves.
    long_va: u64,
    long_pages: u64,
    moving: bool,
    /// A fast-path call: the message is these registers, not memory at `buf`, and the
    /// reply goes back into registers.
    regs: Option<[u64; WORDS]>,
}

/// A receive as checked: what a receiver's `State::Receiving` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRecv {
    buf: u64,
    cap: u32,
    len_ptr: u64,
    /// `len_long`: where the long-message length is written.
    long_len_ptr: u64,
    /// The window for a long message: first page and size in pages (0: none).
    long_va: u64,
    long_pages: u64,
    /// A fast-path receive: the message goes into registers, not memory at `buf`.
    into_regs: bool,
}

/// The synchronous sender a receiver owes a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    slot: usize,
    tid: u32,
    seq: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadIpc {
    pub(crate) reply_to: Option<ReplyTo>,
    /// The receive window whose page tables this thread holds reserved in its task's
    /// space (`PageMap::reserve_window`), from its `ipc_recv` until the receive ends.
    window: Option<Region>,
}

impl ThreadIpc {
    pub(crate) const EMPTY: ThreadIpc = ThreadIpc { reply_to: None, window: None };
}

impl PendingSend {
    /// Its place in send order.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Where the reply to this send goes.
    #[inline(always)]
    pub fn reply_to(&self) -> ReplyDest {
        ReplyDest { buf: self.buf, len: self.len, len_ptr: self.len_ptr, regs: self.regs.is_some() }
    }
}

/// Where a reply goes: the caller's buffer (`buf`, capacity `len`, its length written to
/// `len_ptr`), or its registers if `regs`. What a caller's `State::AwaitingReply` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyDest {
    buf: u64,
    len: u32,
    len_ptr: u64,
    regs: bool,
}

/// The two sides of a rendezvous: sender `s` with its send, receiver `r` with its receive.
struct Pair<'a> {
    s: usize,
    send: &'a PendingSend,
    r: usize,
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

/// Which side of a copy failed.
enum Side {
    Source,
    Dest,
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
    fn space(&self, task: usize) -> &S {
        self.tasks[task].space.as_ref().expect("a live thread's task has an address space")
    }

    fn space_mut(&mut self, task: usize) -> &mut S {
        self.tasks[task].space.as_mut().expect("a live thread's task has an address space")
    }

    fn task_of(&self, thread: usize) -> usize {
        self.threads[thread].task
    }

    /// Copies `len` bytes from thread `from`'s memory to thread `to`'s.
    fn copy_user(&mut self, from: usize, src: u64, to: usize, dst: u64, len: u32) -> Result<(), Side> {
        let (ft, tt) = (self.task_of(from), self.task_of(to));
        let mut done = 0u64;
        while done < len as u64 {
            let n = (len as u64 - done).min(BOUNCE as u64) as usize;
            // Both are tasks of live threads: see `space`.
            let from_space = self.tasks[ft].space.as_ref().expect("a live thread's task has an address space");
            from_space.copy_in(src + done, &mut self.bounce[..n]).map_err(|_| Side::Source)?;
            let to_space = self.tasks[tt].space.as_mut().expect("a live thread's task has an address space");
            to_space.copy_out(dst + done, &self.bounce[..n]).map_err(|_| Side::Dest)?;
            done += n as u64;
        }
        Ok(())
    }

    fn write_len(&mut self, thread: usize, len_ptr: u64, n: u32) -> Result<(), Error> {
        let task = self.task_of(thread);
        self.space_mut(task).copy_out(len_ptr, &n.to_le_bytes())
    }

    /// Writes a receiver's `*len_short` and `*len_long` once a message has arrived.
    fn write_received_lens(&mut self, thread: usize, recv: PendingRecv, short: u32, long: u32) -> Result<(), Error> {
        self.write_len(thread, recv.len_ptr, short)?;
        self.write_len(thread, recv.long_len_ptr, long)
    }

    /// Arms `thread`'s deadline for `timeout` (no timer for poll or forever).
    fn arm(&mut self, thread: usize, timeout: Timeout) {
        if let Timeout::Ticks(n) = timeout {
            self.timers.arm(thread, self.now() + n as u64);
        }
    }

    /// The sender word of what `thread` receives: with the registers of a receive into
    /// registers (`rdi`), else as its second result (`rdx`).
    fn set_sender(&mut self, thread: usize, word: u64) {
        let ret = &mut self.threads[thread].ret;
        if ret.has_fast() {
            ret.set_fast_sender(word);
        } else {
            ret.second(word);
        }
    }

    /// The send order of sender `s`, queued in a mailbox (the newest possible if it is not a
    /// sender, which the invariants rule out).
    fn queued_seq(&self, s: usize) -> u64 {
        match self.threads[s].state() {
            State::Sending { send, .. } => send.seq,
            _ => u64::MAX,
        }
    }

    /// `me` returns now with a message of `kind` from `sender` (a sender word).
    fn received(&mut self, me: usize, kind: RecvKind, sender: u64) -> Outcome {
        self.threads[me].ret.value(u32::from(kind) as u64);
        self.set_sender(me, sender);
        Outcome::Returned
    }

    // ---- ipc_send ---------------------------------------------------------------------

    /// `ipc_send` by thread `me` (the current thread).
    pub fn ipc_send(&mut self, me: usize, a: SendArgs) -> Result<Outcome, Error> {
        let task = self.task_of(me);

        // 1. The caller's own arguments. A long message is always a call ("option_sync is
        // ignored" when len_long is non-zero).
        let long = a.len_long != 0;
        let mode = if long {
            SendMode::Sync
        } else {
            SendMode::try_from(a.option_sync).map_err(|_| Error::InvalidArgument)?
        };
        let space = self.space(task);
        let len_ptr = UserPtr::<u32>::new(a.len_short);
        let len = len_ptr.read(space)?;
        if mode == SendMode::Sync {
            len_ptr.check_writable(space)?;
        }
        if len as usize > SHORT_MAX {
            return Err(Error::TooLong);
        }
        let message = UserSlice::new(a.message_short, len as u64);
        if mode == SendMode::Sync {
            message.writable(space)?; // the reply comes back here
        } else {
            message.readable(space)?;
        }
        let long_pages = a.len_long as u64 / PAGE;
        if long {
            if !(a.len_long as u64).is_multiple_of(PAGE) || !a.message_long.is_multiple_of(PAGE) {
                return Err(Error::Misaligned);
            }
            if !abi::layout::is_user_range(a.message_long, a.len_long as u64) {
                return Err(Error::BadAddress);
            }
            check_owned(space, a.message_long, long_pages, !a.shared)?;
        }
        // The timeout matters only for synchronous sends ("ignored if option_sync is 0").
        let timeout = match mode {
            SendMode::Async => Timeout::Forever,
            _ => Timeout::from_raw(a.timeout).ok_or(Error::InvalidArgument)?,
        };

        // 2. The target.
        let to = self.lookup_thread(a.id)?;
        if to == me && mode != SendMode::Async {
            return Err(Error::InvalidArgument);
        }

        // 3. The rendezvous.
        let seq = self.next_seq();
        let send = PendingSend {
            buf: a.message_short,
            len,
            len_ptr: a.len_short,
            mode,
            seq,
            long_va: a.message_long,
            long_pages,
            moving: !a.shared,
            regs: None,
        };
        let outcome = self.send_pending(me, to, send, timeout);
        if outcome.is_ok() && self.threads[me].ret.get(SECOND).is_none() {
            // Now or when woken, it learns whether its pages left (`commit_long` says
            // they did).
            self.threads[me].ret.second(SendStatus::default().encode());
        }
        outcome
    }

    /// `IpcCall`: a call whose message (`len` bytes) is in registers.
    pub fn ipc_call_fast(
        &mut self,
        me: usize,
        tid: u32,
        len: u32,
        words: [u64; WORDS],
        timeout: i32,
    ) -> Result<Outcome, Error> {
        if len as usize > fast::MAX {
            return Err(Error::TooLong);
        }
        let timeout = Timeout::from_raw(timeout).ok_or(Error::InvalidArgument)?;
        let to = self.lookup_thread(tid)?;
        if to == me {
            return Err(Error::InvalidArgument);
        }
        let seq = self.next_seq();
        let send = PendingSend {
            buf: 0,
            len,
            len_ptr: 0,
            mode: SendMode::Sync,
            seq,
            long_va: 0,
            long_pages: 0,
            moving: false,
            regs: Some(words),
        };
        self.send_pending(me, to, send, timeout)
    }

    /// Completes `me`'s send, its arguments checked: straight to `to` if it is receiving,
    /// else queued (or buffered, if asynchronous).
    #[inline(always)]
    fn send_pending(&mut self, me: usize, to: usize, send: PendingSend, timeout: Timeout) -> Result<Outcome, Error> {
        let (mode, seq) = (send.mode, send.seq);
        crate::trace_event!(crate::trace::send(self, me, to, seq, mode));
        let delivered = match *self.threads[to].state() {
            State::Receiving(recv) => match self.rendezvous(&Pair { s: me, send: &send, r: to, recv: &recv }) {
                Ok(flags) => {
                    let kind = match mode {
                        SendMode::Sync => RecvKind::Call,
                        SendMode::SyncNoReply => RecvKind::NoReply,
                        SendMode::Async => RecvKind::Async,
                    };
                    let word = self.threads[me].tid as u64 | flags;
                    self.set_sender(to, word);
                    self.end_window(to);
                    self.wake(to, u32::from(kind) as i64);
                    true
                }
                // The receiver keeps waiting for a message that fits.
                Err(Fault::Sender(e)) => return Err(e),
                Err(Fault::Receiver(e)) => {
                    self.end_window(to);
                    self.wake(to, e.code() as i64);
                    false
                }
            },
            _ => false,
        };
        if delivered {
            return Ok(match mode {
                SendMode::Sync => {
                    self.block_current(State::AwaitingReply { from: to, seq, reply: send.reply_to() });
                    // Timeout 0: delivered, so wait for the reply without a deadline.
                    self.arm(me, timeout);
                    self.threads[to].ipc.reply_to = Some(ReplyTo { slot: me, tid: self.threads[me].tid, seq });
                    self.hand_off(me, to); // the caller waits: run the receiver now
                    Outcome::Blocked
                }
                SendMode::SyncNoReply | SendMode::Async => {
                    self.donate(to); // the receiver runs as soon as the sender waits
                    self.threads[me].ret.value(0);
                    Outcome::Returned
                }
            });
        }
        match mode {
            SendMode::Async => self.buffer_async(me, to, send.buf, send.len, seq),
            _ if timeout == Timeout::Poll => Err(Error::Timeout),
            _ => {
                self.block_current(State::Sending { to, send });
                let queued = self.links.push_back(&mut self.mailboxes[to], me);
                debug_assert!(queued);
                self.arm(me, timeout);
                Ok(Outcome::Blocked)
            }
        }
    }

    /// Completes the rendezvous of sender `s` with receiver `r` (the one blocked, or the
    /// one calling): the long message first (checked and prepared, so nothing can fail
    /// after the short copy), then the short one, then the page transfer. Returns the
    /// receive flags (`RECV_SHARED` if pages were shared). On error nothing was transferred,
    /// and what `prepare_long` reserved is given back.
    fn rendezvous(&mut self, p: &Pair) -> Result<u64, Fault> {
        self.prepare_long(p)?;
        if let Err(f) = self.copy_short(p) {
            self.unprepare_long(p);
            return Err(f);
        }
        self.commit_long(p);
        crate::trace_event!(crate::trace::recv(self, p.r, self.threads[p.s].tid, p.send.seq));
        let send = p.send;
        Ok(if send.long_pages > 0 && !send.moving { RECV_SHARED } else { 0 })
    }

    /// The short half of a rendezvous: the message into the receiver's buffer (or
    /// registers), and its `*len_short` and `*len_long`.
    fn copy_short(&mut self, p: &Pair) -> Result<(), Fault> {
        let (s, send, r, recv) = (p.s, p.send, p.r, p.recv);
        let n = send.len.min(recv.cap);
        let (st, rt) = (self.task_of(s), self.task_of(r));
        match (send.regs, recv.into_regs) {
            (None, false) => match self.copy_user(s, send.buf, r, recv.buf, n) {
                Ok(()) => {}
                Err(Side::Source) => return Err(Fault::Sender(Error::BadAddress)),
                Err(Side::Dest) => return Err(Fault::Receiver(Error::BadAddress)),
            },
            (Some(words), false) => {
                let bytes = fast::to_bytes(&words);
                self.space_mut(rt).copy_out(recv.buf, &bytes[..n as usize]).map_err(Fault::Receiver)?;
            }
            (None, true) => {
                let mut bytes = [0u8; fast::MAX];
                self.space(st).copy_in(send.buf, &mut bytes[..n as usize]).map_err(Fault::Sender)?;
                self.threads[r].ret.fast(0, n, fast::to_words(&bytes));
            }
            (Some(mut words), true) => {
                // Register to register: no bytes at all.
                fast::truncate(&mut words, n as usize);
                self.threads[r].ret.fast(0, n, words);
            }
        }
        let long_len = (send.long_pages * PAGE) as u32;
        if !recv.into_regs {
            self.write_received_lens(r, *recv, n, long_len).map_err(Fault::Receiver)?;
        }
        Ok(())
    }

    /// Phase one of a page transfer: every check, and every allocation, it needs.
    fn prepare_long(&mut self, p: &Pair) -> Result<(), Fault> {
        let n = p.send.long_pages;
        if n == 0 {
            return Ok(());
        }
        // Copies, so the page loops below keep them in registers.
        let (s, send, r, recv) = (p.s, *p.send, p.r, *p.recv);
        if n > recv.long_pages {
            return Err(Fault::Sender(Error::TooLong)); // docs/ipc.md decision 4
        }
        let (st, rt) = (self.task_of(s), self.task_of(r));
        // The sender may have changed its pages while it waited: check again (a share's
        // pages are checked by reserving their counts, last).
        if send.moving {
            check_owned(self.space(st), send.long_va, n, true).map_err(Fault::Sender)?;
        }
        let rspace = self.space(rt);
        if (0..n).any(|i| rspace.page(recv.long_va + i * PAGE).is_some()) {
            return Err(Fault::Receiver(Error::WindowOccupied));
        }
        let window = Region { base: recv.long_va, pages: n };
        let moved = Region { base: send.long_va, pages: n };
        // Room in the region tables, as they will be after the commit.
        let regions = self.space_mut(rt).regions();
        let room = if send.moving && st == rt {
            if !regions.can_punch(moved) {
                return Err(Fault::Sender(Error::OutOfMemory));
            }
            regions.check_add_after_punch(window, moved)
        } else {
            regions.check_add(window)
        };
        // The receiver's own limits are the receiver's problem, never the sender's;
        // `ipc_recv` checked them, so only what its task did meanwhile can fail here.
        room.map_err(|_| Fault::Receiver(Error::OutOfMemory))?;
        if send.moving && st != rt && !self.space_mut(st).regions().can_punch(moved) {
            return Err(Fault::Sender(Error::OutOfMemory));
        }
        // The window's tables: `ipc_recv` made and pinned them for its whole window, which
        // this one lies in. Were a receive ever to reach here without that reservation, its
        // tables are made now (the receiver's limit, never the sender's fault).
        let pinned = self.threads[r].ipc.window.is_some_and(|w| w.base == window.base && w.pages >= n);
        if !pinned {
            self.space_mut(rt).prepare(window.base, n).map_err(Fault::Receiver)?;
        }
        // Last, so that nothing above can fail with counts reserved.
        if !send.moving {
            reserve_shares(self.space(st), send.long_va, n).map_err(Fault::Sender)?;
        }
        Ok(())
    }

    /// Undoes `prepare_long` for a rendezvous that failed after it: gives back the map
    /// counts a share reserved. (Page tables it made for the window stay; they are the
    /// receiver's and are reused.)
    fn unprepare_long(&mut self, p: &Pair) {
        let (s, send) = (p.s, p.send);
        if send.long_pages > 0 && !send.moving {
            release_shares(self.space(self.task_of(s)), send.long_va, send.long_pages);
        }
    }

    /// Phase two: maps the pages into the receiver and, for a move, out of the sender.
    /// Cannot fail: `prepare_long` checked and allocated everything, and reserved the map
    /// counts a share adds.
    fn commit_long(&mut self, p: &Pair) {
        let n = p.send.long_pages;
        if n == 0 {
            return;
        }
        // Copies, so the page loops below keep them in registers.
        let (s, send, r, recv) = (p.s, *p.send, p.r, *p.recv);
        let (st, rt) = (self.task_of(s), self.task_of(r));
        // Invariant: `prepare_long` checked every page mapped and the window free, in this
        // same kernel entry, so no user code can have changed either since.
        for i in 0..n {
            let m = self.space(st).page(send.long_va + i * PAGE).expect("checked in prepare_long");
            self.space_mut(rt).map_frame(recv.long_va + i * PAGE, m);
            if send.moving {
                self.space_mut(st).unmap_moved(send.long_va + i * PAGE);
            }
        }
        // The sender is now blocked for the reply, or about to be: whatever ends its wait,
        // its `ipc_send` reports the transfer.
        self.threads[s].ret.second(SendStatus { transferred: true }.encode());
        if send.moving {
            let sender = self.space_mut(st);
            sender.flush(send.long_va, n);
            sender.regions().punch(Region { base: send.long_va, pages: n });
        }
        self.space_mut(rt).regions().add(Region { base: recv.long_va, pages: n }).expect("checked in prepare_long");
    }

    fn buffer_async(&mut self, me: usize, to: usize, src: u64, len: u32, seq: u64) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        // A task's share of another task's mailbox (abi::image::Limits); its own threads'
        // mailboxes are bounded only by ASYNC_QUEUE_MAX: filling them crowds out no one else.
        let share = if self.task_of(to) == task {
            abi::ipc::ASYNC_QUEUE_MAX
        } else {
            self.tasks[task].limits.async_per_mailbox as usize
        };
        self.messages.check_room(to, task, self.tasks[task].id, share)?;
        let buffer = self.buffers.alloc().ok_or(Error::OutOfMemory)?;
        let bytes = &mut self.buffers.bytes(buffer)[..len as usize];
        // The caller's own task: live (see `space`).
        if let Err(e) = self.tasks[task].space.as_ref().expect("live").copy_in(src, bytes) {
            self.buffers.free(buffer);
            return Err(e);
        }
        let msg = Msg { seq, sender_tid: self.threads[me].tid, sender_task: self.tasks[task].id, len, buffer };
        self.messages.push(to, task, msg);
        self.threads[me].ret.value(1);
        Ok(Outcome::Returned)
    }

    // ---- ipc_recv ---------------------------------------------------------------------

    /// `ipc_recv` by thread `me` (the current thread).
    pub fn ipc_recv(&mut self, me: usize, a: RecvArgs) -> Result<Outcome, Error> {
        let task = self.task_of(me);

        // 1. The caller's own arguments.
        let space = self.space(task);
        let len_ptr = UserPtr::<u32>::new(a.len_short);
        let cap = len_ptr.read(space)?;
        len_ptr.check_writable(space)?;
        let cap = cap.min(SHORT_MAX as u32);
        UserSlice::new(a.short_dest, cap as u64).writable(space)?;
        let long_ptr = UserPtr::<u32>::new(a.len_long);
        let long_cap = long_ptr.read(space)? as u64;
        long_ptr.check_writable(space)?;
        if !long_cap.is_multiple_of(PAGE) {
            return Err(Error::Misaligned);
        }
        if long_cap != 0 {
            if !a.long_dest.is_multiple_of(PAGE) {
                return Err(Error::Misaligned);
            }
            if !abi::layout::is_user_range(a.long_dest, long_cap) {
                return Err(Error::BadAddress);
            }
            if (0..long_cap / PAGE).any(|i| space.page(a.long_dest + i * PAGE).is_some()) {
                return Err(Error::WindowOccupied);
            }
            // The receiver's limits are checked now, not when a sender arrives, and
            // reported to it: room in its region table and its quota for the window...
            let window = Region { base: a.long_dest, pages: long_cap / PAGE };
            self.space_mut(task).regions().check_add(window)?;
        }
        let timeout = Timeout::from_raw(a.timeout).ok_or(Error::InvalidArgument)?;
        if self.threads[me].ipc.reply_to.is_some() {
            return Err(Error::ReplyPending);
        }
        self.end_window(me); // none is held outside a receive; this keeps it so
        if long_cap != 0 {
            // ...and the page tables the window needs, made (and charged) now and kept
            // until the receive ends, so no sender can find them missing.
            let window = Region { base: a.long_dest, pages: long_cap / PAGE };
            self.space_mut(task).reserve_window(window.base, window.pages)?;
            self.threads[me].ipc.window = Some(window);
        }
        let recv = PendingRecv {
            buf: a.short_dest,
            cap,
            len_ptr: a.len_short,
            long_len_ptr: a.len_long,
            long_va: a.long_dest,
            long_pages: long_cap / PAGE,
            into_regs: false,
        };
        let outcome = self.receive(me, recv, timeout);
        if !matches!(outcome, Ok(Outcome::Blocked)) {
            self.end_window(me);
        }
        outcome
    }

    /// Ends the reservation of `thread`'s receive window, if it holds one: the window's
    /// page tables are freed unless pages were received into them. Called whenever a
    /// receive ends (a message, an error, a timeout); costs one test when there is none.
    #[inline(always)]
    fn end_window(&mut self, thread: usize) {
        if self.threads[thread].ipc.window.is_some() {
            self.release_window_of(thread);
        }
    }

    #[inline(never)]
    fn release_window_of(&mut self, thread: usize) {
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
        for t in 1..crate::task::MAX_THREADS {
            if self.threads[t].ipc.window.is_some() && !matches!(self.threads[t].state(), State::Receiving(_)) {
                self.end_window(t);
            }
        }
    }

    /// `IpcReplyWait`: replies `reply` (if any) to the last call received, then receives
    /// into registers. A failed reply is returned as the error, without waiting.
    pub fn ipc_reply_wait(
        &mut self,
        me: usize,
        reply: Option<(u32, [u64; WORDS])>,
        timeout: i32,
    ) -> Result<Outcome, Error> {
        let timeout = Timeout::from_raw(timeout).ok_or(Error::InvalidArgument)?;
        let mut replied_to = None;
        if let Some((len, words)) = reply {
            if len as usize > fast::MAX {
                return Err(Error::TooLong);
            }
            replied_to = Some(self.reply_with(me, Reply::Regs(words, len))?);
        } else if self.threads[me].ipc.reply_to.is_some() {
            return Err(Error::ReplyPending);
        }
        let recv = PendingRecv {
            buf: 0,
            cap: fast::MAX as u32,
            len_ptr: 0,
            long_len_ptr: 0,
            long_va: 0,
            long_pages: 0,
            into_regs: true,
        };
        // Whatever it receives comes back in registers (all of them, zeros if need be).
        self.threads[me].ret.fast(0, 0, [0; WORDS]);
        let outcome = self.receive(me, recv, timeout);
        match (outcome, replied_to) {
            // The server waits: run the caller it just answered.
            (Ok(Outcome::Blocked), Some(caller)) => self.hand_off(me, caller),
            // The server goes on with the next message: the caller runs when it waits.
            (_, Some(caller)) => self.donate(caller),
            _ => {}
        }
        outcome
    }

    /// Interrupt `irq` for driver thread `slot`: received at once if the driver is
    /// waiting, else kept pending (one per line) for its next receive.
    pub fn post_interrupt(&mut self, slot: usize, irq: u8) {
        if let State::Receiving(recv) = *self.threads[slot].state() {
            self.end_window(slot);
            if let Ok(word) = self.put_interrupt(slot, recv, irq) {
                self.set_sender(slot, word);
                self.wake(slot, u32::from(RecvKind::Async) as i64);
                return;
            }
            // Its buffer is gone: it learns of that, and of the interrupt next time.
            self.wake(slot, Error::BadAddress.code() as i64);
        }
        self.threads[slot].pending_irqs |= 1 << irq;
    }

    /// Writes interrupt `irq` where receiver `slot` receives; returns the sender word.
    fn put_interrupt(&mut self, slot: usize, recv: PendingRecv, irq: u8) -> Result<u64, Error> {
        let word = KERNEL_TID as u64 | (RecvFlags::INTERRUPT.bits() as u64) << 32;
        if recv.into_regs {
            self.threads[slot].ret.fast(word, 1, fast::to_words(&[irq]));
        } else {
            let n = recv.cap.min(1);
            let task = self.task_of(slot);
            self.space_mut(task).copy_out(recv.buf, &[irq][..n as usize])?;
            self.write_received_lens(slot, recv, n, 0)?;
        }
        crate::trace_event!(crate::trace::interrupt(self, slot, irq));
        Ok(word)
    }

    /// The receive half of `ipc_recv` and `ipc_reply_wait`, arguments checked.
    fn receive(&mut self, me: usize, recv: PendingRecv, timeout: Timeout) -> Result<Outcome, Error> {
        // Interrupts first: a driver is never starved of its device by its clients.
        let pending = self.threads[me].pending_irqs;
        if pending != 0 {
            let irq = pending.trailing_zeros() as u8;
            let word = self.put_interrupt(me, recv, irq)?;
            self.threads[me].pending_irqs &= !(1 << irq);
            return Ok(self.received(me, RecvKind::Async, word));
        }
        // Then the oldest sender.
        loop {
            let sender = self.mailboxes[me].front();
            let sender_seq = sender.map(|s| self.queued_seq(s));
            // The older of the queued message and the blocked sender goes first.
            if let Some(&m) = self.messages.front(me) {
                if sender_seq.is_none_or(|s| m.seq < s) {
                    return self.take_async(me, recv, m);
                }
            }
            let Some(s) = sender else { break };
            match self.take_sender(me, s, recv)? {
                Some(outcome) => return Ok(outcome),
                None => continue, // that sender's buffer was gone: next one
            }
        }
        if timeout == Timeout::Poll {
            return Err(Error::Timeout);
        }
        self.block_current(State::Receiving(recv));
        self.arm(me, timeout);
        Ok(Outcome::Blocked)
    }

    /// Receives `m`, the message at the front of `me`'s queue.
    fn take_async(&mut self, me: usize, recv: PendingRecv, m: Msg) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        let n = m.len.min(recv.cap);
        let bytes = &self.buffers.bytes(m.buffer)[..n as usize];
        if recv.into_regs {
            self.threads[me].ret.fast(0, n, fast::to_words(bytes));
        } else {
            // On failure the message stays queued: nothing is lost. The caller's task is
            // live (see `space`).
            self.tasks[task].space.as_mut().expect("live").copy_out(recv.buf, bytes)?;
            self.write_received_lens(me, recv, n, 0)?;
        }
        self.messages.pop(me);
        if let Some(t) = self.live_task_slot(m.sender_task) {
            self.messages.uncharge(t);
        }
        self.buffers.free(m.buffer);
        crate::trace_event!(crate::trace::recv(self, me, m.sender_tid, m.seq));
        Ok(self.received(me, RecvKind::Async, m.sender_tid as u64))
    }

    /// Receives blocked sender `s`. `None`: the sender could not be received (its buffer
    /// or pages were unusable, or its long message does not fit): it has been failed, try
    /// the next one.
    fn take_sender(&mut self, me: usize, s: usize, recv: PendingRecv) -> Result<Option<Outcome>, Error> {
        let State::Sending { send, .. } = *self.threads[s].state() else {
            // Invariant: only `Sending` threads are queued (`Core::check_invariants`). Were
            // one not, it leaves the queue rather than stop the receive.
            self.links.remove(&mut self.mailboxes[me], s);
            return Ok(None);
        };
        let flags = match self.rendezvous(&Pair { s, send: &send, r: me, recv: &recv }) {
            Ok(flags) => flags,
            Err(Fault::Sender(e)) => {
                self.wake(s, e.code() as i64);
                return Ok(None);
            }
            Err(Fault::Receiver(e)) => return Err(e), // the sender stays queued
        };
        let tid = self.threads[s].tid as u64;
        Ok(Some(match send.mode {
            SendMode::Sync => {
                // Still bounded by its deadline, if it has one: now waiting for the reply.
                self.sender_received(s, me);
                self.threads[me].ipc.reply_to = Some(ReplyTo { slot: s, tid: tid as u32, seq: send.seq });
                self.received(me, RecvKind::Call, tid | flags)
            }
            SendMode::SyncNoReply => {
                self.wake(s, 0); // takes it out of the queue and cancels its deadline
                self.received(me, RecvKind::NoReply, tid | flags)
            }
            // Invariant: `ipc_send` buffers asynchronous messages and never blocks them.
            SendMode::Async => unreachable!("asynchronous senders never block"),
        }))
    }

    // ---- ipc_reply --------------------------------------------------------------------

    /// `ipc_reply` by thread `me` (the current thread).
    pub fn ipc_reply(&mut self, me: usize, message: u64, len: u32) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        if len as usize > SHORT_MAX {
            return Err(Error::TooLong);
        }
        UserSlice::new(message, len as u64).readable(self.space(task))?;
        let caller = self.reply_with(me, Reply::Memory(message, len))?;
        self.donate(caller); // the caller runs as soon as the server waits again
        self.threads[me].ret.value(0);
        Ok(Outcome::Returned)
    }

    /// Answers the call `me` last received with `reply`; returns the caller's slot. The
    /// reply's own arguments are checked by the caller. If the caller's buffer has become
    /// invalid, the caller is released with `BadAddress` and the result is `NotDelivered`:
    /// success means the reply reached it.
    fn reply_with(&mut self, me: usize, reply: Reply) -> Result<usize, Error> {
        let to = self.threads[me].ipc.reply_to.take().ok_or(Error::NoReplyPending)?;
        let t = &self.threads[to.slot];
        if t.tid != to.tid || matches!(t.state(), State::Free | State::Zombie) {
            return Err(Error::PeerDied);
        }
        // Only what the reply needs of the send, not the whole record.
        let send = match t.state() {
            State::AwaitingReply { from, seq, reply } if *from == me && *seq == to.seq => *reply,
            _ => return Err(Error::Timeout), // it gave up waiting
        };
        let result = match (reply, send.regs) {
            (Reply::Memory(message, len), false) => {
                let n = len.min(send.len);
                match self.copy_user(me, message, to.slot, send.buf, n) {
                    Ok(()) => self.write_len(to.slot, send.len_ptr, n).map(|_| 0),
                    Err(_) => Err(Error::BadAddress), // the caller's buffer is gone: its problem
                }
            }
            (Reply::Regs(words, len), false) => {
                let n = len.min(send.len);
                let bytes = fast::to_bytes(&words);
                let task = self.task_of(to.slot);
                match self.space_mut(task).copy_out(send.buf, &bytes[..n as usize]) {
                    Ok(()) => self.write_len(to.slot, send.len_ptr, n).map(|_| 0),
                    Err(_) => Err(Error::BadAddress),
                }
            }
            (reply, true) => {
                let (mut words, len) = match reply {
                    Reply::Regs(words, len) => (words, len),
                    Reply::Memory(message, len) => {
                        let mut b = [0u8; fast::MAX];
                        let n = len.min(fast::MAX as u32);
                        self.space(self.task_of(me)).copy_in(message, &mut b[..n as usize])?;
                        (fast::to_words(&b), len)
                    }
                };
                let n = len.min(send.len).min(fast::MAX as u32);
                fast::truncate(&mut words, n as usize);
                self.threads[to.slot].ret.fast(0, n, words);
                Ok(0)
            }
        };
        let delivered = result.is_ok();
        crate::trace_event!(crate::trace::reply(self, me, to.tid, to.seq, delivered));
        self.wake(to.slot, result.unwrap_or_else(|e| e.code() as i64));
        if !delivered {
            return Err(Error::NotDelivered);
        }
        Ok(to.slot)
    }
}

/// Where a reply's bytes are.
#[derive(Clone, Copy)]
enum Reply {
    Memory(u64, u32),
    Regs([u64; WORDS], u32),
}
