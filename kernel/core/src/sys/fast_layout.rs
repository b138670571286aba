//! What the direct switch's assembly reads and writes of the kernel's records.
//!
//! The architecture may run the direct switch (`crate::ipc::direct`: `IpcCall` to a
//! server waiting in `IpcReplyWait`, and the reply-and-wait back) in its `syscall` stub,
//! before any Rust runs, so that the payload registers never leave the registers. That
//! code reads and writes the same records the portable kernel keeps, and this module is
//! the one place that says where they lie: every offset, size and encoding below is
//! computed from the types (`offset_of!`, the tags of `repr(u64)` enums read from values),
//! none is written by hand, and the host tests read each one back through Rust.
//!
//! Offsets are from the start of a `Kernel<P>`; a thread's fields are from the start of
//! its record, which is `threads + slot * thread_size`.

use super::platform::Platform;
use super::Kernel;
use crate::ipc::records::{Owed, PendingRecv, ReplyDest};
use crate::ipc::Home;
use crate::limits::MAX_THREADS;
use crate::task::{Core, Fast, State, Thread};
use core::mem::size_of;

/// The width of the field `project` names (from its type; the projection is never
/// called): for the owning modules' `*_BYTES` constants, which `FastLayout::of` checks
/// against the widths the assembly uses.
pub(crate) const fn width<S, T>(_project: fn(&S) -> &T) -> usize {
    size_of::<T>()
}

/// Whether this kernel traces (`cargo xtask trace`): then the direct ways never run, so
/// that the general path records every event.
pub const TRACED: bool = cfg!(all(feature = "trace", target_os = "none"));

/// Where the direct switch's records lie in a `Kernel<P>` (see the module doc). Each field
/// says the width the assembly may use; [`FastLayout::of`] checks every width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastLayout {
    /// `Core::threads`: the thread records, `thread_size` bytes apart.
    pub threads: usize,
    pub thread_size: usize,
    /// A thread's id (32 bits).
    pub tid: usize,
    /// Its state's tag (64 bits), and the tags the direct switch tests and writes.
    pub state_tag: usize,
    pub runnable: u64,
    pub awaiting_reply: u64,
    pub receiving: u64,
    /// `State::AwaitingReply`'s `from` (a slot, 64 bits), `seq` (64 bits), its reply's
    /// length (32 bits) and destination tag (64 bits, `reply_regs` for registers).
    pub awaiting_from: usize,
    pub awaiting_seq: usize,
    pub awaiting_len: usize,
    pub awaiting_to: usize,
    pub reply_regs: u64,
    /// `State::Receiving`'s capacity (32 bits) and destination tag (64 bits), and the values
    /// of a receive into registers (`RECV_REGS`).
    pub receiving_cap: usize,
    pub receiving_dest: usize,
    pub recv_regs_cap: u32,
    pub recv_regs: u64,
    /// The fast byte (8 bits) and its values.
    pub fast: usize,
    pub fast_no: u8,
    pub fast_receiving: u8,
    pub fast_awaiting_reply: u8,
    /// The top of the kernel stack (64 bits).
    pub kstack_top: usize,
    /// The reply owed: the caller's slot (64 bits), id (32 bits; 0: none) and call number
    /// (64 bits).
    pub owed_slot: usize,
    pub owed_tid: usize,
    pub owed_seq: usize,
    /// The home: the address space's root (64 bits) and the I/O key (64 bits).
    pub home_space: usize,
    pub home_io: usize,
    /// Whether each thread has anything else to receive (`ipc::inbox`): one byte per
    /// thread, by slot, 0 for nothing.
    pub inbox_any: usize,
    /// `Core::seq` (64 bits), the running thread's slot (64 bits; 0: none) and the byte
    /// that is 0 when the direct ways may run.
    pub seq: usize,
    pub current: usize,
    pub direct_off: usize,
    /// The loaded I/O ports, as the I/O key's low 32 bits (base, then count).
    pub io_loaded: usize,
}

impl FastLayout {
    /// The layout in a `Kernel<P>`. Fails to compile (as a constant) if a field is not the
    /// width the assembly uses.
    pub const fn of<P: Platform>() -> FastLayout {
        let core = Kernel::<P>::AT_CORE;
        let state = Thread::AT_STATE;
        let reply = state + State::AT_AWAITING_REPLY;
        let recv = state + State::AT_RECEIVING;
        // The widths the assembly loads and stores, each field's type as it lies.
        assert!(size_of::<crate::ids::Tid>() == 4 && size_of::<crate::task::ThreadSlot>() == 8);
        assert!(size_of::<Fast>() == 1 && size_of::<bool>() == 1);
        assert!(size_of::<crate::task::Running>() == 8 && Core::<P::Space, P::Buffers>::SEQ_BYTES == 8);
        const { assert!(Owed::SLOT_BYTES == 8 && Owed::TID_BYTES == 4 && Owed::SEQ_BYTES == 8) };
        const { assert!(ReplyDest::LEN_BYTES == 4 && PendingRecv::CAP_BYTES == 4) };
        const { assert!(Home::SPACE_BYTES == 8 && Home::IO_BYTES == 8) };
        assert!(crate::mem::KernelStack::TOP_BYTES == 8 && Core::<P::Space, P::Buffers>::DIRECT_OFF_BYTES == 1);
        const { assert!(size_of::<(u16, u16)>() == 4) };
        // A slot is an id's low byte (the assembly takes it with one zero-extending load).
        const { assert!(MAX_THREADS == 256) };
        // The I/O key's low half is the loaded pair as it lies in memory (`io_key`).
        const { assert!(core::mem::offset_of!((u16, u16), 0) == 0 && core::mem::offset_of!((u16, u16), 1) == 2) };
        FastLayout {
            threads: core + Core::<P::Space, P::Buffers>::AT_THREADS,
            thread_size: size_of::<Thread>(),
            tid: Thread::AT_TID,
            state_tag: state,
            runnable: State::RUNNABLE_TAG,
            awaiting_reply: State::AWAITING_REPLY_TAG,
            receiving: State::RECEIVING_TAG,
            awaiting_from: state + State::AT_AWAITING_FROM,
            awaiting_seq: state + State::AT_AWAITING_SEQ,
            awaiting_len: reply + ReplyDest::AT_LEN,
            awaiting_to: reply + ReplyDest::AT_TO,
            reply_regs: ReplyDest::REGS_TAG,
            receiving_cap: recv + PendingRecv::AT_CAP,
            receiving_dest: recv + PendingRecv::AT_DEST,
            recv_regs_cap: PendingRecv::REGS_CAP,
            recv_regs: PendingRecv::REGS_TAG,
            fast: Thread::AT_FAST,
            fast_no: Fast::No as u8,
            fast_receiving: Fast::Receiving as u8,
            fast_awaiting_reply: Fast::AwaitingReply as u8,
            kstack_top: Thread::AT_KSTACK_TOP,
            owed_slot: Thread::AT_REPLY_TO + Owed::AT_SLOT,
            owed_tid: Thread::AT_REPLY_TO + Owed::AT_TID,
            owed_seq: Thread::AT_REPLY_TO + Owed::AT_SEQ,
            home_space: Thread::AT_HOME + Home::AT_SPACE,
            home_io: Thread::AT_HOME + Home::AT_IO,
            inbox_any: core + Core::<P::Space, P::Buffers>::AT_INBOX_ANY,
            seq: core + Core::<P::Space, P::Buffers>::AT_SEQ,
            current: core + Core::<P::Space, P::Buffers>::AT_CURRENT,
            direct_off: core + Core::<P::Space, P::Buffers>::AT_DIRECT_OFF,
            io_loaded: Kernel::<P>::AT_IO_LOADED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FastLayout;
    use crate::sys::fixture::{data, Fake, Machine};
    use crate::sys::Kernel;
    use crate::task::{State, ThreadSlot};
    use abi::image::Grants;
    use abi::ipc::{fast, SendControl};
    use abi::Syscall;

    const L: FastLayout = FastLayout::of::<Fake>();

    /// The value of type `T` at byte `at` of the kernel, as the assembly reads it.
    fn read<T: Copy>(k: &Kernel<Fake>, at: usize) -> T {
        assert!(at + size_of::<T>() <= size_of::<Kernel<Fake>>(), "inside the kernel's record");
        // SAFETY: in bounds (checked above), and every field the layout names is
        // initialised plain data of at least `T`'s size (the widths `FastLayout` states).
        unsafe { (k as *const Kernel<Fake> as *const u8).add(at).cast::<T>().read_unaligned() }
    }

    /// Field `at` of thread `slot`'s record.
    fn field<T: Copy>(k: &Kernel<Fake>, slot: ThreadSlot, at: usize) -> T {
        read(k, L.threads + slot.index() * L.thread_size + at)
    }

    /// Every offset and encoding read back through Rust, on a machine taken through the
    /// states the direct switch tests and writes: a server waiting in `IpcReplyWait`, a
    /// call switched to it, a caller queued in its mailbox, a message buffered for it.
    #[test]
    fn the_layout_is_where_rust_keeps_each_field() {
        let mut m = Machine::new();
        let io = Grants { io_base: 0x3f8, io_count: 8, ..Grants::NONE };
        let ta = m.task("a", io);
        let (a, a2) = (m.thread(ta), m.thread(ta));
        let tb = m.task("b", io);
        let b = m.thread(tb);
        let tc = m.task("c", Grants::NONE);
        let c = m.thread(tc);
        for s in [a, a2, b, c] {
            let t = m.k.core.thread(s);
            assert_eq!(field::<u32>(&m.k, s, L.tid), t.tid.raw());
            assert_eq!(field::<u64>(&m.k, s, L.kstack_top), t.kstack.top());
            assert_eq!(field::<u64>(&m.k, s, L.home_space), t.home.space());
            assert_eq!(read::<u8>(&m.k, L.inbox_any + s.index()), 0, "nothing to receive");
            assert_eq!(field::<u8>(&m.k, s, L.fast), L.fast_no);
        }
        assert_eq!(field::<u64>(&m.k, a, L.home_io), 0x3f8 | 8 << 16, "the I/O key of a's task");
        assert_eq!(field::<u64>(&m.k, c, L.home_io), 0, "none for c's");

        // The server waits in registers.
        m.call(b, Syscall::IpcReplyWait, &[fast::reply_word(None), fast::timeout_word(-1), 0, 0, 0, 0, 0]);
        assert!(matches!(m.k.core.thread(b).state(), State::Receiving(r) if r.fast_receivable()));
        assert_eq!(field::<u64>(&m.k, b, L.state_tag), L.receiving);
        assert_eq!(field::<u32>(&m.k, b, L.receiving_cap), L.recv_regs_cap);
        assert_eq!(L.recv_regs_cap as usize, fast::MAX);
        assert_eq!(field::<u64>(&m.k, b, L.receiving_dest), L.recv_regs);
        assert_eq!(field::<u8>(&m.k, b, L.fast), L.fast_receiving);

        // A call switched to it: the caller waits for the reply, the server runs owing it.
        m.call(a, Syscall::IpcCall, &[fast::call_word(m.tid(b), 8), fast::timeout_word(-1), 1, 2, 3, 4, 5]);
        let State::AwaitingReply { from, seq, .. } = *m.k.core.thread(a).state() else {
            panic!("a waits for the reply: {:?}", m.k.core.thread(a).state())
        };
        assert_eq!(from, b);
        assert_eq!(m.k.core.current(), Some(b));
        assert_eq!(read::<u64>(&m.k, L.current), b.index() as u64);
        assert_eq!(read::<u64>(&m.k, L.seq), m.k.core.seq);
        assert_eq!(field::<u64>(&m.k, a, L.state_tag), L.awaiting_reply);
        assert_eq!(field::<u64>(&m.k, a, L.awaiting_from), b.index() as u64);
        assert_eq!(field::<u64>(&m.k, a, L.awaiting_seq), seq);
        assert_eq!(field::<u32>(&m.k, a, L.awaiting_len), 8);
        assert_eq!(field::<u64>(&m.k, a, L.awaiting_to), L.reply_regs);
        assert_eq!(field::<u8>(&m.k, a, L.fast), L.fast_awaiting_reply);
        assert_eq!(field::<u64>(&m.k, b, L.state_tag), L.runnable);
        assert_eq!(field::<u8>(&m.k, b, L.fast), L.fast_no);
        assert_eq!(field::<u64>(&m.k, b, L.owed_slot), a.index() as u64);
        assert_eq!(field::<u32>(&m.k, b, L.owed_tid), m.tid(a));
        assert_eq!(field::<u64>(&m.k, b, L.owed_seq), seq);
        assert_eq!(read::<u32>(&m.k, L.io_loaded), 0x3f8 | 8 << 16, "b's ports are loaded");
        assert_eq!(read::<u8>(&m.k, L.direct_off), 0);

        // A caller queued in the server's mailbox, then a message buffered for it: its flag.
        let any = L.inbox_any + b.index();
        assert_eq!(read::<u8>(&m.k, any), 0);
        m.call(c, Syscall::IpcCall, &[fast::call_word(m.tid(b), 8), fast::timeout_word(-1), 0, 0, 0, 0, 0]);
        assert!(m.k.core.inboxes.any(b) && m.k.core.inboxes.first_sender(b) == Some(c));
        assert_eq!(read::<u8>(&m.k, any), 1);
        let lens = data(a2) + 3 * abi::PAGE_SIZE as u64;
        m.poke(a2, lens, &8u32.to_le_bytes());
        let async_ = SendControl { timeout: 0, shared: false, option_sync: 0 }.encode();
        assert_eq!(m.value(a2, Syscall::IpcSend, &[m.tid(b) as u64, 0, data(a2), 0, lens, async_]), 1);
        assert_eq!(m.k.core.inboxes.messages().queued(b), 1);
        assert_eq!(read::<u8>(&m.k, any), 1);
        assert_eq!(read::<u8>(&m.k, L.inbox_any + a2.index()), 0, "the sender's own is not");

        // The direct ways turned off.
        m.k.core.set_handoff(false);
        assert_ne!(read::<u8>(&m.k, L.direct_off), 0);
    }
}
