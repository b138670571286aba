//! The records IPC keeps per thread, and in a blocked thread's state: a pending send
//! ([`PendingSend`]), a pending receive ([`PendingRecv`]), where a reply goes
//! ([`ReplyDest`]), and the rest of a thread's IPC bookkeeping ([`ThreadIpc`]).
//!
//! A leaf: it depends on no other part of IPC and on nothing of `crate::task` (only the ids
//! in `crate::ids`), so that the thread table (`crate::task`) can store these records
//! without depending on IPC's operations, which depend on it. Outside `crate::ipc` they are
//! opaque: their fields are IPC's alone, and the thread table asks them only what its
//! invariants need (the methods here).

use crate::ids::{ThreadSlot, Tid};
use crate::mem::regions::Region;
use crate::umem::Remembered;
use abi::ipc::fast::{self, WORDS};
use abi::ipc::SendMode;

/// A send as checked: what a sender's `State::Sending` and `State::AwaitingReply` carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSend {
    /// `message_short`: the message, and where the reply goes.
    pub(in crate::ipc) buf: u64,
    /// `*len_short` when sent: the message length and the reply capacity.
    pub(in crate::ipc) len: u32,
    /// `len_short`: where the reply length is written.
    pub(in crate::ipc) len_ptr: u64,
    pub(in crate::ipc) mode: SendMode,
    pub(in crate::ipc) seq: u64,
    /// The long message: first page, page count (0: none), and whether it moves.
    pub(in crate::ipc) long_va: u64,
    pub(in crate::ipc) long_pages: u64,
    pub(in crate::ipc) moving: bool,
    /// A fast-path call: the message is these registers, not memory at `buf`, and the
    /// reply goes back into registers.
    pub(in crate::ipc) regs: Option<[u64; WORDS]>,
}

/// A receive as checked: what a receiver's `State::Receiving` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRecv {
    pub(in crate::ipc) buf: u64,
    pub(in crate::ipc) cap: u32,
    pub(in crate::ipc) len_ptr: u64,
    /// `len_long`: where the long-message length is written.
    pub(in crate::ipc) long_len_ptr: u64,
    /// The window for a long message: first page and size in pages (0: none).
    pub(in crate::ipc) long_va: u64,
    pub(in crate::ipc) long_pages: u64,
    /// A fast-path receive: the message goes into registers, not memory at `buf`.
    pub(in crate::ipc) into_regs: bool,
}

/// The synchronous sender a receiver owes a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    pub(in crate::ipc) slot: ThreadSlot,
    pub(in crate::ipc) tid: Tid,
    pub(in crate::ipc) seq: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadIpc {
    pub(in crate::ipc) reply_to: Option<ReplyTo>,
    /// The receive window whose page tables this thread holds reserved in its task's
    /// space (`PageMap::reserve_window`), from its `ipc_recv` until the receive ends.
    pub(in crate::ipc) window: Option<Region>,
    /// The generation (`PageMap::generation`) of its task's space when its pending long
    /// send's pages were last checked: while it is unchanged, the rendezvous need not
    /// check them again.
    pub(in crate::ipc) long_checked: u64,
    /// Whether its pending long send was checked in this kernel entry (`ipc_send`, until
    /// it returns): then a share's map counts have room, and are counted as it commits
    /// instead of reserved first (`Transfer::ShareCounting`).
    pub(in crate::ipc) checked_now: bool,
    /// The growth (`PageMap::growth`) of its task's space when `ipc_recv` found its
    /// `window` unmapped: while it is unchanged, the rendezvous need not look again.
    pub(in crate::ipc) window_growth: u64,
    /// The pages of its task's space the spec calls' direct way last looked up for it
    /// (`direct_spec`): its own buffers, or its partner's into them.
    pub(in crate::ipc) walked: Remembered,
}

impl ThreadIpc {
    pub(crate) const EMPTY: ThreadIpc = ThreadIpc {
        reply_to: None,
        window: None,
        long_checked: 0,
        checked_now: false,
        window_growth: 0,
        walked: Remembered::NONE,
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
        ReplyDest { buf: self.buf, len: self.len, len_ptr: self.len_ptr, regs: self.regs.is_some() }
    }
}

/// Where a reply goes: the caller's buffer (`buf`, capacity `len`, its length written to
/// `len_ptr`), or its registers if `regs`. What a caller's `State::AwaitingReply` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyDest {
    pub(in crate::ipc) buf: u64,
    pub(in crate::ipc) len: u32,
    pub(in crate::ipc) len_ptr: u64,
    pub(in crate::ipc) regs: bool,
}

/// A receive into registers, as `IpcReplyWait` makes it.
pub(in crate::ipc) const RECV_REGS: PendingRecv = PendingRecv {
    buf: 0,
    cap: fast::MAX as u32,
    len_ptr: 0,
    long_len_ptr: 0,
    long_va: 0,
    long_pages: 0,
    into_regs: true,
};

impl PendingRecv {
    /// A receive the direct switch can complete: into registers, the whole payload as its
    /// capacity, no window.
    #[inline(always)]
    pub(crate) fn fast_receivable(&self) -> bool {
        *self == RECV_REGS
    }
}

impl ReplyDest {
    /// Whether the reply goes into registers (an `IpcCall`).
    #[inline(always)]
    pub(crate) fn in_regs(&self) -> bool {
        self.regs
    }
}

impl ThreadIpc {
    /// Whether the thread holds a receive window's page tables.
    #[inline(always)]
    pub(crate) fn has_window(&self) -> bool {
        self.window.is_some()
    }

    /// Forgets the call the thread owes a reply to (it is dying).
    pub(crate) fn forget_reply(&mut self) {
        self.reply_to = None;
    }
}
