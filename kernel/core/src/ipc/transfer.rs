//! One rendezvous of a sender with a receiver: the long message checked and prepared, the
//! short one copied, then the pages moved or shared. Everything that can fail comes before
//! anything changes.
//!
//! A short message takes one road whatever its ends: a [`Payload`] (bytes in user memory,
//! translated in this system call; registers; a kernel buffer) put into a [`Sink`] (a
//! buffer and its length words in user memory, or registers) by [`put_short`]. User memory
//! is copied frame to frame through the kernel's own mapping of it, walked at most once per
//! page and per call (not at all while translations kept from an earlier call still hold:
//! `umem::Remembered`, `umem::Kept`), with no buffer in between unless the two buffers
//! share a page.

use super::records::{RecvBuf, ReplyBuf};
use super::*;
use crate::regs::Results;
use crate::umem::{Readable, UserBuf, UserRange, Walker, BUF_MAX};

/// Where a short message's bytes are.
pub(super) enum Payload<'s> {
    /// In user memory, checked (and translated) in this system call.
    Memory(UserBuf<'s, Readable>),
    /// In registers: the words and the length (at most `fast::MAX`).
    Regs([u64; WORDS], u32),
    /// In the kernel (a buffered asynchronous message).
    Kernel(&'s [u8]),
}

impl Payload<'_> {
    fn len(&self) -> u32 {
        match self {
            Payload::Memory(b) => b.len() as u32,
            Payload::Regs(_, len) => *len,
            Payload::Kernel(b) => b.len() as u32,
        }
    }
}

/// Where a short message goes.
#[derive(Clone, Copy)]
pub(super) enum Sink {
    /// Room at `buf` (all of it), the bytes copied written to `len_ptr`, and for a
    /// receive the long message's length to the second range.
    Memory { buf: UserRange, len_ptr: UserRange, long_len: Option<(UserRange, u32)> },
    /// Registers (`abi::ipc::fast`), at most `cap` bytes.
    Regs { cap: u32 },
}

impl PendingRecv {
    /// Where a message to this receive goes, with a long message of `long_len` bytes.
    #[inline(always)]
    pub(super) fn sink(&self, long_len: u32) -> Sink {
        match self.dest {
            RecvBuf::Regs => Sink::Regs { cap: self.cap },
            RecvBuf::Memory { buf, len_ptr, long_len_ptr, .. } => {
                Sink::Memory { buf, len_ptr, long_len: Some((long_len_ptr, long_len)) }
            }
        }
    }
}

impl ReplyDest {
    /// Where the reply goes.
    #[inline(always)]
    pub(super) fn sink(&self) -> Sink {
        match self.to {
            ReplyBuf::Regs => Sink::Regs { cap: self.len },
            ReplyBuf::Memory { buf, len_ptr } => Sink::Memory { buf, len_ptr, long_len: None },
        }
    }
}

/// Puts `payload`, cut to the room there is, where `sink` says: in the address space
/// `theirs` walks, or in `ret`, the pending results of the thread it goes to (`bounce`: see
/// [`UserBuf::copy_from`]). Returns the bytes it took. `BadAddress` if the destination's
/// buffer or length words are not writable user memory of that space (any more): then nothing
/// was written, since every page is looked up before the first byte moves.
#[inline(always)]
pub(super) fn put_short<S: UserMemory>(
    theirs: &mut Walker<'_, S>,
    ret: &mut Results,
    sink: Sink,
    payload: &Payload,
    bounce: &mut [u8; BUF_MAX],
) -> Result<u32, Error> {
    let len = payload.len();
    match sink {
        Sink::Regs { cap } => {
            let n = len.min(cap).min(fast::MAX as u32);
            let words = match payload {
                // Register to register: the words as the sender left them, as the direct
                // switch passes them (`abi::ipc::fast`: the receiver reads `n` bytes).
                Payload::Regs(words, _) => *words,
                Payload::Memory(b) => {
                    let mut bytes = [0u8; fast::MAX];
                    b.read(&mut bytes[..n as usize]);
                    fast::to_words(&bytes)
                }
                Payload::Kernel(b) => fast::to_words(&b[..n as usize]),
            };
            ret.fast(0, n, words);
            Ok(n)
        }
        Sink::Memory { buf, len_ptr, long_len } => {
            let n = len.min(buf.len());
            let dest = theirs.writable(buf.prefix(n))?;
            let len_word = theirs.writable(len_ptr)?;
            let long_word = match long_len {
                Some((ptr, v)) => Some((theirs.writable(ptr)?, v)),
                None => None,
            };
            match payload {
                Payload::Memory(b) => dest.copy_from(b, n as usize, bounce),
                Payload::Regs(words, _) => dest.write(&fast::to_bytes(words)[..n as usize]),
                Payload::Kernel(b) => dest.write(&b[..n as usize]),
            }
            len_word.write_u32(n);
            if let Some((word, v)) = long_word {
                word.write_u32(v);
            }
            Ok(n)
        }
    }
}

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// Completes the rendezvous of sender `s` with receiver `r` (the one blocked, or the
    /// one calling): the long message first (checked and prepared, so nothing can fail
    /// after the short copy), then the short one, then the page transfer. Returns the
    /// receive flags (`RECV_SHARED` if pages were shared). On error nothing was transferred,
    /// and what `prepare_long` reserved is given back.
    pub(super) fn rendezvous(&mut self, p: &Pair) -> Result<u64, Fault> {
        self.prepare_long(p)?;
        if let Err(f) = self.copy_short(p) {
            self.unprepare_long(p);
            return Err(f);
        }
        self.commit_long(p);
        crate::trace_event!(crate::trace::recv(self, p.r, self.threads[p.s].tid, p.send.seq));
        let send = p.send;
        Ok(if send.long_pages() > 0 && !send.moving { RECV_SHARED } else { 0 })
    }

    /// The short half of a rendezvous: the message into the receiver's buffer (or
    /// registers), and its `*len_short` and `*len_long`. Each side's buffers are looked up
    /// again (the sender's were checked in another system call), starting from the pages
    /// its last call looked up if its space's generation has not moved since
    /// (`direct_spec::resumed`): a queued sender's and a receiver's own buffers, looked up
    /// by their `ipc_send` and `ipc_recv`, usually cost no walk here.
    pub(super) fn copy_short(&mut self, p: &Pair) -> Result<(), Fault> {
        let (send, recv) = (p.send, p.recv);
        if let (Some(words), true) = (send.regs(), recv.in_regs()) {
            // Register to register: no bytes, no address space; the words as the sender
            // left them, as the direct switch passes them (`abi::ipc::fast`).
            let n = send.len.min(recv.cap).min(fast::MAX as u32);
            self.threads[p.r].ret.fast(0, n, words);
            return Ok(());
        }
        let payload = match send.regs() {
            Some(words) => Payload::Regs(words, send.len),
            None => {
                let range = send.buf().prefix(recv.cap);
                // An empty message walks nothing: then a fresh walker is the cheaper one.
                let mut src = if range.is_empty() {
                    Walker::new(space_of(&self.tasks, self.task_of(p.s)))
                } else {
                    super::direct_spec::resumed(&self.tasks, &self.threads[p.s]).0
                };
                Payload::Memory(src.readable(range, false).map_err(Fault::Sender)?)
            }
        };
        let sink = recv.sink((send.long_pages() * PAGE) as u32);
        let (mut theirs, _) = super::direct_spec::resumed(&self.tasks, &self.threads[p.r]);
        let ret = &mut self.threads[p.r].ret;
        put_short(&mut theirs, ret, sink, &payload, &mut self.bounce).map_err(Fault::Receiver)?;
        Ok(())
    }

    /// Phase one of a page transfer: every check, and every allocation, it needs.
    pub(super) fn prepare_long(&mut self, p: &Pair) -> Result<(), Fault> {
        let n = p.send.long_pages();
        if n == 0 {
            return Ok(());
        }
        // Only what is needed, copied, so the page loops below keep it in registers.
        let (s, r, moving, send_long, recv_long) = (p.s, p.r, p.send.moving, p.send.long, p.recv.long());
        if n > recv_long.len() as u64 / PAGE {
            return Err(Fault::Sender(Error::TooLong)); // docs/ipc.md decision 4
        }
        let (st, rt) = (self.task_of(s), self.task_of(r));
        // Each side's pages, in the space they were checked against.
        let send_va = send_long.addr_in(self.space(st)).map_err(Fault::Sender)?;
        let recv_va = recv_long.addr_in(self.space(rt)).map_err(Fault::Receiver)?;
        // The sender's task may have changed its pages while it waited: if its space's
        // generation moved since `ipc_send` checked them, check them again (a share's
        // counts are checked by reserving them, last, whatever the generation).
        let generation = self.space(st).generation();
        if moving && generation != self.threads[s].ipc.long_checked {
            check_transferable(self.space(st), send_va, n, true).map_err(Fault::Sender)?;
            self.threads[s].ipc.long_checked = generation;
        }
        let window = Region { base: recv_va, pages: n };
        let moved = Region { base: send_va, pages: n };
        // The window: `ipc_recv` found it unmapped, with room for it in the region table
        // and the quota, and pinned its tables. All of that still holds while nothing was
        // mapped into the receiver's space (its growth) and no region of it was split (a
        // move out of the middle of a region takes an entry and maps nothing), unless this
        // very transfer splits one: a move within one task (`check_add_after_punch`). A
        // receive that takes a queued long send at once found its window free, with room,
        // in this same kernel entry (`window_now`), and pinned nothing: the same holds.
        let pinned = self.window_pinned(r, window);
        let within = moving && st == rt;
        let known = !within
            && (self.threads[r].ipc.window_now
                || pinned
                    && self.space(rt).growth() == self.threads[r].ipc.window_growth
                    && self.space_mut(rt).regions().splits() == self.threads[r].ipc.window_splits);
        if !known {
            if !self.space(rt).is_unmapped(recv_va, n) {
                return Err(Fault::Receiver(Error::WindowOccupied));
            }
            // Room in the region table, as it will be after the commit. The receiver's
            // own limits are the receiver's problem, never the sender's.
            let regions = self.space_mut(rt).regions();
            let room = if within { regions.check_add_after_punch(window, moved) } else { regions.check_add(window) };
            room.map_err(|_| Fault::Receiver(Error::OutOfMemory))?;
        }
        // The sender's table must have room to split a region the move punches.
        if moving && !self.space_mut(st).regions().can_punch(moved) {
            return Err(Fault::Sender(Error::OutOfMemory));
        }
        // The window's tables: `ipc_recv` made and pinned them for its whole window, which
        // this one lies in, unless it takes this send at once (`window_now`): then they
        // are made now (charged to the receiver: its limit, never the sender's fault), and
        // freed again if the rendezvous fails (`unprepare_long`).
        if !pinned {
            self.space_mut(rt).prepare(window.base, n).map_err(Fault::Receiver)?;
        }
        // Last, so that nothing above can fail with counts reserved. A share checked in
        // this same kernel entry has room (`check_transferable` made sure), and nothing
        // else changed a count since: the commit counts as it maps instead.
        if !moving && !self.threads[s].ipc.checked_now {
            if let Err(e) = reserve_shares(self.space(st), send_va, n) {
                if !pinned {
                    self.space_mut(rt).unprepare(window.base, n);
                }
                return Err(Fault::Sender(e));
            }
        }
        Ok(())
    }

    /// Whether receiver `r` holds `window` reserved (`ipc_recv` pinned its tables).
    #[inline(always)]
    fn window_pinned(&self, r: ThreadSlot, window: Region) -> bool {
        self.threads[r].ipc.window.is_some_and(|w| w.base == window.base && w.pages >= window.pages)
    }

    /// How `commit_long` treats the pages and their counts (see `prepare_long`).
    fn transfer_kind(&self, s: ThreadSlot, send: &PendingSend) -> Transfer {
        match (send.moving, self.threads[s].ipc.checked_now) {
            (true, _) => Transfer::Move,
            (false, false) => Transfer::Share,
            (false, true) => Transfer::ShareCounting,
        }
    }

    /// Undoes `prepare_long` for a rendezvous that failed after it: gives back the map
    /// counts a share reserved, and frees the window's tables again if it made them (a
    /// reserved window's stay pinned until its receive ends).
    pub(super) fn unprepare_long(&mut self, p: &Pair) {
        let (s, send, n) = (p.s, p.send, p.send.long_pages());
        if n == 0 {
            return;
        }
        if self.transfer_kind(s, send) == Transfer::Share {
            release_shares(self.space(self.task_of(s)), send.long.addr(), n);
        }
        let window = Region { base: p.recv.long().addr(), pages: n };
        if !self.window_pinned(p.r, window) {
            self.space_mut(self.task_of(p.r)).unprepare(window.base, n);
        }
    }

    /// Phase two: maps the pages into the receiver and, for a move, out of the sender.
    /// Cannot fail: `prepare_long` checked and allocated everything, and reserved the map
    /// counts a share adds (or found room for them in this same kernel entry).
    pub(super) fn commit_long(&mut self, p: &Pair) {
        let n = p.send.long_pages();
        if n == 0 {
            return;
        }
        // Only what is needed, copied, so the page loops below keep it in registers.
        let (s, r, send, moving) = (p.s, p.r, p.send, p.send.moving);
        let (st, rt) = (self.task_of(s), self.task_of(r));
        // `prepare_long` found both ranges of these spaces, in this same kernel entry.
        let (send_va, recv_va) = (send.long.addr(), p.recv.long().addr());
        // Invariant: `prepare_long` checked every page mapped and the window free, in this
        // same kernel entry, so no user code can have changed either since. One walk per
        // page-table page on each side, then the entries themselves.
        let how = self.transfer_kind(s, send);
        if st == rt {
            self.space_mut(st).transfer_within(recv_va, send_va, n, how);
        } else {
            let (sender, receiver) = self.two_spaces(st, rt);
            receiver.transfer_from(recv_va, sender, send_va, n, how);
        }
        // The sender is now blocked for the reply, or about to be: whatever ends its wait,
        // its `ipc_send` reports the transfer.
        self.threads[s].ret.second(SendStatus { transferred: true }.encode());
        if moving {
            // One TLB flush for the whole range, and it cannot come too late: until it, the
            // TLB may still translate the moved pages in the sender's space (to frames now
            // the receiver's), but nothing uses those translations before it. No user code
            // runs until this kernel entry ends (the kernel is not preemptible), the
            // kernel never reaches user memory through user addresses (SMAP; it copies
            // through the direct map), and this flush comes first, in this same entry: so
            // the sender, and every other thread of its task, next runs with the moved
            // pages gone. (If the sender's space is not the one loaded, loading it later
            // flushes its translations anyway.)
            let sender = self.space_mut(st);
            sender.flush(send_va, n);
            sender.regions().punch(Region { base: send_va, pages: n });
        }
        let added = self.space_mut(rt).regions().add(Region { base: recv_va, pages: n });
        // Checked in `prepare_long` (or in `ipc_recv`, with nothing mapped since). Were it
        // not, the pages stay mapped without a region: freed with the space, not a panic.
        debug_assert!(added.is_ok(), "room for the window's region was checked");
        if moving {
            // Mapped, user, writable and exclusive, as the sender's check found them: the
            // receiver may move them on without a check while nothing changes its space.
            let generation = self.space(rt).generation();
            self.threads[r].ipc.received = Some((Region { base: recv_va, pages: n }, generation));
        }
    }
}
