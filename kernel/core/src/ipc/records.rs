//! The records IPC keeps per thread, and in a blocked thread's state: a pending send
//! ([`PendingSend`]), a pending receive ([`PendingRecv`]), where a reply goes
//! ([`ReplyDest`]), and the rest of a thread's IPC bookkeeping (`ThreadIpc`).
//!
//! A leaf: it depends on no other part of IPC and on nothing of `crate::task` (only the ids
//! in `crate::ids`), so that the thread table (`crate::task`) can store these records
//! without depending on IPC's operations, which depend on it. Outside `crate::ipc` they are
//! opaque: their fields are IPC's alone, and the thread table asks them only what its
//! invariants need (the methods here).

use crate::ids::{ThreadSlot, Tid};
use crate::mem::regions::Region;
use crate::umem::{Kept, Remembered, UserRange};
use abi::ipc::fast::{self, WORDS};
use abi::ipc::SendMode;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A send as checked: what a sender's `State::Sending` and `State::AwaitingReply` carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSend {
    /// Where the message is, and where the reply goes.
    pub(in crate::ipc) msg: SendMsg,
    /// `*len_short` when sent: the message length and the reply capacity.
    pub(in crate::ipc) len: u32,
    pub(in crate::ipc) mode: SendMode,
    pub(in crate::ipc) seq: u64,
    /// The long message: its pages (`NONE`: none), and whether they move.
    pub(in crate::ipc) long: UserRange,
    pub(in crate::ipc) moving: bool,
}

/// Where a send's short message is (and its reply goes). One or the other, so that a
/// blocked thread's state stays small: the direct switch copies it whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::ipc) enum SendMsg {
    /// At `buf` (`message_short`, `len` bytes), where the reply comes back too, its length
    /// written to `len_ptr` (`len_short`).
    Memory { buf: UserRange, len_ptr: UserRange },
    /// A fast-path call: these registers, and the reply goes back into registers.
    Regs([u64; WORDS]),
}

/// A receive as checked: what a receiver's `State::Receiving` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRecv {
    /// Room for this many bytes.
    pub(in crate::ipc) cap: u32,
    /// Where they go.
    pub(in crate::ipc) dest: RecvBuf,
}

/// Where a receive's message goes. One or the other, so that a receive into registers is
/// written in two words when a thread blocks in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)] // a tag word first: the direct switch's assembly writes `Regs` (`sys::fast_layout`)
pub(in crate::ipc) enum RecvBuf {
    /// A fast-path receive: registers.
    Regs,
    /// Memory: `buf` (`short_dest`, `cap` bytes), the length written to `len_ptr`
    /// (`len_short`) and the long message's to `long_len_ptr` (`len_long`), the long
    /// message's pages into the window `long` (`NONE`: none).
    Memory { buf: UserRange, len_ptr: UserRange, long_len_ptr: UserRange, long: UserRange },
}

/// The synchronous sender a receiver owes a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    pub(in crate::ipc) slot: ThreadSlot,
    pub(in crate::ipc) tid: Tid,
    pub(in crate::ipc) seq: u64,
}

/// The reply a receiver owes, if any: a [`ReplyTo`] whose `tid` is 0 when none is owed.
/// No thread has id 0 (`Tid::slot` refuses it), so a reader that goes on only if the
/// record's `tid` is that of a living thread in its slot (the direct switch:
/// [`raw`](Owed::raw), then the slot's id and fast byte) finds "none owed" in those tests,
/// without one of its own; every other reader asks [`get`](Owed::get).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owed(ReplyTo);

impl Owed {
    /// Where the caller's slot, id and call number lie, for the direct switch's assembly
    /// (`sys::fast_layout`); none owed is an id of 0.
    pub(crate) const AT_SLOT: usize = core::mem::offset_of!(Owed, 0.slot);
    pub(crate) const AT_TID: usize = core::mem::offset_of!(Owed, 0.tid);
    pub(crate) const AT_SEQ: usize = core::mem::offset_of!(Owed, 0.seq);
    pub(crate) const SLOT_BYTES: usize = crate::sys::fast_layout::width(|o: &Owed| &o.0.slot);
    pub(crate) const TID_BYTES: usize = crate::sys::fast_layout::width(|o: &Owed| &o.0.tid);
    pub(crate) const SEQ_BYTES: usize = crate::sys::fast_layout::width(|o: &Owed| &o.0.seq);

    /// No reply owed.
    pub(in crate::ipc) const NONE: Owed = Owed(ReplyTo { slot: ThreadSlot::new(0), tid: Tid::from_raw(0), seq: 0 });

    /// The reply owed, if any.
    #[inline(always)]
    pub(in crate::ipc) fn get(&self) -> Option<ReplyTo> {
        (self.0.tid.raw() != 0).then_some(self.0)
    }

    /// Whether a reply is owed.
    #[inline(always)]
    pub(in crate::ipc) fn is_some(&self) -> bool {
        self.0.tid.raw() != 0
    }

    /// A reply is now owed to `to` (a living thread's, so its id is not 0).
    #[inline(always)]
    pub(in crate::ipc) fn set(&mut self, to: ReplyTo) {
        debug_assert_ne!(to.tid.raw(), 0, "a reply is owed to a living thread");
        self.0 = to;
    }

    /// The reply owed, if any, which is no longer owed.
    #[inline(always)]
    pub(in crate::ipc) fn take(&mut self) -> Option<ReplyTo> {
        let to = self.get();
        self.clear();
        to
    }

    /// No reply is owed any more.
    #[inline(always)]
    pub(in crate::ipc) fn clear(&mut self) {
        self.0.tid = Tid::from_raw(0);
    }

    /// The record as it is, `tid` 0 if none is owed: for a reader that goes on only if
    /// `tid` is a living thread's (see [`Owed`]).
    #[inline(always)]
    pub(in crate::ipc) fn raw(&self) -> ReplyTo {
        self.0
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadIpc {
    pub(in crate::ipc) reply_to: Owed,
    /// The receive window whose page tables this thread holds reserved in its task's
    /// space (`PageMap::reserve_window`), from its `ipc_recv` until the receive ends.
    pub(in crate::ipc) window: Option<Region>,
    /// The generation (`PageMap::generation`) of its task's space when its pending long
    /// send's pages were last checked: while it is unchanged, the rendezvous need not
    /// check them again.
    pub(in crate::ipc) long_checked: u64,
    /// The pages a move last put into its receive window, and its task's space's
    /// generation just after: each of them mapped, user, writable and exclusive then (the
    /// move checked them so at its sender, and moves them whole). While that generation
    /// holds, none of that can have changed (`PageMap::generation`), so `ipc_send` moving
    /// pages inside them on (a server handing back what it was lent, a stage of a
    /// pipeline) need not check them again.
    pub(in crate::ipc) received: Option<(Region, u64)>,
    /// Whether its pending long send was checked in this kernel entry (`ipc_send`, until
    /// it returns): then a share's map counts have room, and are counted as it commits
    /// instead of reserved first (`Transfer::ShareCounting`).
    pub(in crate::ipc) checked_now: bool,
    /// Whether its `ipc_recv` found its receive window free, with room for it, in this
    /// kernel entry, without reserving its tables, to take a queued long send at once
    /// (`recv_general`): that rendezvous need not look again, and makes the tables itself.
    pub(in crate::ipc) window_now: bool,
    /// The growth (`PageMap::growth`) of its task's space when `ipc_recv` found its
    /// `window` unmapped: while it is unchanged, the rendezvous need not look again.
    pub(in crate::ipc) window_growth: u64,
    /// Its task's region-table splits (`Regions::splits`) when `ipc_recv` found room for
    /// its `window`: while they and the growth are unchanged, the room is still there.
    pub(in crate::ipc) window_splits: u64,
    /// The pages of its task's space the spec calls' direct way last looked up for it
    /// (`direct_spec`): its own buffers, or its partner's into them.
    pub(in crate::ipc) walked: Remembered,
    /// The buffers its last receive by the direct way checked (`direct_recv_block`): the
    /// message's, the length word's and the long length word's, so that a direct send
    /// into that same receive writes them without checking them again (`Kept`).
    pub(in crate::ipc) kept: Kept,
}

impl ThreadIpc {
    /// Where the reply owed lies, for the direct switch's assembly (`sys::fast_layout`).
    pub(crate) const AT_REPLY_TO: usize = core::mem::offset_of!(ThreadIpc, reply_to);

    pub(crate) const EMPTY: ThreadIpc = ThreadIpc {
        reply_to: Owed::NONE,
        window: None,
        long_checked: 0,
        received: None,
        checked_now: false,
        window_now: false,
        window_growth: 0,
        window_splits: 0,
        walked: Remembered::NONE,
        kept: Kept::NONE,
    };
}

impl PendingSend {
    /// Its place in send order.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Where the reply to this send goes.
    #[inline(always)]
    pub fn reply_to(&self) -> ReplyDest {
        match self.msg {
            SendMsg::Memory { buf, len_ptr } => ReplyDest { len: self.len, to: ReplyBuf::Memory { buf, len_ptr } },
            SendMsg::Regs(_) => ReplyDest::into_regs(self.len),
        }
    }

    /// The message's registers, for a fast-path call.
    #[inline(always)]
    pub(in crate::ipc) fn regs(&self) -> Option<[u64; WORDS]> {
        match self.msg {
            SendMsg::Regs(words) => Some(words),
            SendMsg::Memory { .. } => None,
        }
    }

    /// The message's bytes in memory (none for a fast-path call).
    #[inline(always)]
    pub(in crate::ipc) fn buf(&self) -> UserRange {
        match self.msg {
            SendMsg::Memory { buf, .. } => buf,
            SendMsg::Regs(_) => UserRange::NONE,
        }
    }

    /// The long message's pages (0: none).
    #[inline(always)]
    pub(in crate::ipc) fn long_pages(&self) -> u64 {
        self.long.len() as u64 / PAGE
    }
}

impl PendingRecv {
    /// Where the capacity and the destination's tag lie, and the tag of a receive into
    /// registers, for the direct switch's assembly (`sys::fast_layout`).
    pub(crate) const AT_CAP: usize = core::mem::offset_of!(PendingRecv, cap);
    pub(crate) const AT_DEST: usize = core::mem::offset_of!(PendingRecv, dest);
    pub(crate) const CAP_BYTES: usize = crate::sys::fast_layout::width(|r: &PendingRecv| &r.cap);
    pub(crate) const REGS_CAP: u32 = RECV_REGS.cap;
    pub(crate) const REGS_TAG: u64 = {
        // SAFETY: `RecvBuf` is `repr(u64)`: its first word is the tag, initialised in
        // every value.
        unsafe { *(&RecvBuf::Regs as *const RecvBuf as *const u64) }
    };
}

/// Where a reply goes: the caller's buffer (`buf`, capacity `len`, its length written to
/// `len_ptr`), or its registers if `regs`. What a caller's `State::AwaitingReply` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyDest {
    pub(in crate::ipc) len: u32,
    pub(in crate::ipc) to: ReplyBuf,
}

/// Where a reply goes: registers (an `IpcCall`'s), or the caller's buffer `buf` with its
/// length written to `len_ptr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)] // a tag word first: the direct switch's assembly writes `Regs` (`sys::fast_layout`)
pub(in crate::ipc) enum ReplyBuf {
    Regs,
    Memory { buf: UserRange, len_ptr: UserRange },
}

/// A receive into registers, as `IpcReplyWait` makes it.
pub(crate) const RECV_REGS: PendingRecv = PendingRecv { cap: fast::MAX as u32, dest: RecvBuf::Regs };

/// [`RECV_REGS`], made where it is stored: two words written, not the whole record copied
/// from a constant (the direct switch's hot path).
#[inline(always)]
pub(in crate::ipc) fn recv_regs() -> PendingRecv {
    PendingRecv { cap: fast::MAX as u32, dest: RecvBuf::Regs }
}

impl PendingRecv {
    /// A receive the direct switch can complete: into registers, the whole payload as its
    /// capacity, no window.
    #[inline(always)]
    pub(crate) fn fast_receivable(&self) -> bool {
        matches!(self.dest, RecvBuf::Regs) && self.cap == RECV_REGS.cap
    }

    /// A receive into registers.
    #[inline(always)]
    pub(crate) fn in_regs(&self) -> bool {
        matches!(self.dest, RecvBuf::Regs)
    }

    /// The window for a long message (`NONE`: none).
    #[inline(always)]
    pub(in crate::ipc) fn long(&self) -> UserRange {
        match self.dest {
            RecvBuf::Memory { long, .. } => long,
            RecvBuf::Regs => UserRange::NONE,
        }
    }

    /// Gives a receive into memory the window `window` (a receive into registers has none).
    #[inline(always)]
    pub(in crate::ipc) fn set_window(&mut self, window: UserRange) {
        if let RecvBuf::Memory { long, .. } = &mut self.dest {
            *long = window;
        }
    }
}

impl ReplyDest {
    /// Where the length and the destination's tag lie, and the tag of a reply into
    /// registers, for the direct switch's assembly (`sys::fast_layout`).
    pub(crate) const AT_LEN: usize = core::mem::offset_of!(ReplyDest, len);
    pub(crate) const AT_TO: usize = core::mem::offset_of!(ReplyDest, to);
    pub(crate) const LEN_BYTES: usize = crate::sys::fast_layout::width(|r: &ReplyDest| &r.len);
    pub(crate) const REGS_TAG: u64 = {
        // SAFETY: `ReplyBuf` is `repr(u64)`: its first word is the tag, initialised in
        // every value.
        unsafe { *(&ReplyBuf::Regs as *const ReplyBuf as *const u64) }
    };

    /// A reply into registers (an `IpcCall`'s), of at most `len` bytes.
    #[inline(always)]
    pub(crate) const fn into_regs(len: u32) -> ReplyDest {
        ReplyDest { len, to: ReplyBuf::Regs }
    }

    /// Whether the reply goes into registers (an `IpcCall`).
    #[inline(always)]
    pub(crate) fn in_regs(&self) -> bool {
        matches!(self.to, ReplyBuf::Regs)
    }
}

impl ThreadIpc {
    /// The thread blocks into a new record: its buffers
    /// kept no longer stand for its pending record (`Kept::pending_bufs`) until the direct
    /// way says so again.
    #[inline(always)]
    pub(crate) fn left_running(&mut self) {
        self.kept.clear_pending();
    }

    /// Whether the thread holds a receive window's page tables.
    #[inline(always)]
    pub(crate) fn has_window(&self) -> bool {
        self.window.is_some()
    }

    /// Forgets the call the thread owes a reply to (it is dying).
    pub(crate) fn forget_reply(&mut self) {
        self.reply_to.clear();
    }
}
