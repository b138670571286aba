//! IPC constants, modes and the register encoding of `ipc_send`'s control word.
//!
//! `ipc_send` has eight parameters and a system call has six argument registers, so the
//! three small ones travel packed in `r9` ([`SendControl`]); the rest go in `rdi`, `rsi`,
//! `rdx`, `r10`, `r8` in the specification's order:
//!
//! | register | `ipc_send` | `ipc_recv` | `ipc_reply` |
//! |---|---|---|---|
//! | `rdi` | `id` | `long_dest` | `message` |
//! | `rsi` | `message_long` | `short_dest` | `message_len` |
//! | `rdx` | `message_short` | `len_long` (pointer) | |
//! | `r10` | `len_long` | `len_short` (pointer) | |
//! | `r8`  | `len_short` (pointer) | `timeout` | |
//! | `r9`  | [`SendControl`] | | |
//!
//! `ipc_recv` returns the [`RecvKind`] in `rax` and, in `rdx`, the sender's tid (bits
//! 0..32) and [`RECV_SHARED`]. `ipc_send` returns its result in `rax` and, in `rdx`, a
//! [`SendStatus`] word on every return, errors included: whether the long message's pages
//! were transferred.

use num_enum::{IntoPrimitive, TryFromPrimitive};

/// Most asynchronous messages buffered in one mailbox; past it a send fails with
/// `QueueFull`.
pub const ASYNC_QUEUE_MAX: usize = 16;
/// Most asynchronous messages one task may have buffered (in all mailboxes) at once.
pub const ASYNC_TASK_MAX: usize = 64;

bitflags::bitflags! {
    /// What a holder may do with a page it maps (docs/ipc.md, "Page ownership"). A page mapped in
    /// one place only is exclusive (`MOVE | SHARE`); a page mapped in two or more places is
    /// shared (`SHARE` only).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageRights: u32 {
        /// Give the page away: unmapped here, mapped in the receiver.
        const MOVE = 1 << 0;
        /// Map the page in the receiver too.
        const SHARE = 1 << 1;
    }
}

impl PageRights {
    /// The rights over a frame with `mappings` user mappings.
    pub const fn of(mappings: u32) -> PageRights {
        if mappings == 1 {
            PageRights::MOVE.union(PageRights::SHARE)
        } else {
            PageRights::SHARE
        }
    }
}

bitflags::bitflags! {
    /// The flag half (bits 32..64) of the sender word `ipc_recv` returns in `rdx`; bits 0..32
    /// are the sender's tid.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct RecvFlags: u32 {
        /// The long message's pages arrived shared (the sender still maps them), not moved.
        const SHARED = 1 << 0;
        /// Not a message from a thread: an interrupt, from [`KERNEL_TID`]. The message is
        /// one byte, the IRQ number.
        const INTERRUPT = 1 << 1;
    }
}

/// The sender id of messages the kernel itself sends (interrupts). No thread has it.
pub const KERNEL_TID: u32 = 0;

/// [`RecvFlags::SHARED`] in the sender word.
pub const RECV_SHARED: u64 = (RecvFlags::SHARED.bits() as u64) << 32;

/// The sender word `ipc_recv` returns in `rdx`: the sender's tid in bits 0..32, its
/// [`RecvFlags`] in bits 32..64.
pub const fn sender_word(tid: u32, flags: RecvFlags) -> u64 {
    tid as u64 | (flags.bits() as u64) << 32
}

/// Unpacks a sender word: (tid, flags); flag bits this ABI does not define are dropped.
pub const fn decode_sender_word(word: u64) -> (u32, RecvFlags) {
    (word as u32, RecvFlags::from_bits_truncate((word >> 32) as u32))
}

/// The second word `ipc_send` returns (`rdx`), whatever its result: did the long
/// message's pages reach the receiver? A call can fail after they did (the receiver dies or
/// the timeout expires before the reply), and then moved pages are no longer the
/// sender's; a failure before the transfer leaves them exactly as they were.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SendStatus {
    /// The pages were mapped into the receiver (and, for a move, out of the sender).
    pub transferred: bool,
}

impl SendStatus {
    /// [`SendStatus::transferred`] in the word.
    pub const TRANSFERRED: u64 = 1 << 0;

    /// The status word as `ipc_send` returns it in `rdx`.
    pub const fn encode(self) -> u64 {
        if self.transferred {
            Self::TRANSFERRED
        } else {
            0
        }
    }

    /// Unpacks `rdx` (unknown bits are ignored).
    pub const fn decode(rdx: u64) -> SendStatus {
        SendStatus { transferred: rdx & Self::TRANSFERRED != 0 }
    }
}

/// `option_sync`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, IntoPrimitive, TryFromPrimitive)]
#[repr(u32)]
pub enum SendMode {
    /// Buffered if no receiver waits; returns without a reply.
    Async = 0,
    /// Blocks until the receiver replies.
    Sync = 1,
    /// Blocks until the receiver has received the message; no reply.
    SyncNoReply = 2,
}

/// What `ipc_recv` received (its return value).
#[derive(Clone, Copy, PartialEq, Eq, Debug, IntoPrimitive, TryFromPrimitive)]
#[repr(u32)]
pub enum RecvKind {
    /// A synchronous sender, now waiting for `ipc_reply`.
    Call = 0,
    /// An asynchronous message.
    Async = 1,
    /// A synchronous sender that expects no reply (already released).
    NoReply = 2,
}

/// A timeout in ticks, as the specification encodes it in an `i32`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Timeout {
    /// 0: do not wait for a rendezvous.
    Poll,
    /// N > 0 ticks.
    Ticks(u32),
    /// -1: no timeout.
    Forever,
}

impl Timeout {
    /// The spec's `int` timeout: 0 polls, -1 waits forever, N > 0 waits N ticks (at most
    /// `i32::MAX`).
    pub const fn to_raw(self) -> i32 {
        match self {
            Timeout::Poll => 0,
            Timeout::Ticks(n) => {
                if n > i32::MAX as u32 {
                    i32::MAX
                } else {
                    n as i32
                }
            }
            Timeout::Forever => -1,
        }
    }

    /// `None` for values below -1, which are invalid.
    pub const fn from_raw(v: i32) -> Option<Timeout> {
        match v {
            -1 => Some(Timeout::Forever),
            0 => Some(Timeout::Poll),
            n if n > 0 => Some(Timeout::Ticks(n as u32)),
            _ => None,
        }
    }
}

/// `ipc_send`'s `timeout`, `shared` and `option_sync`, packed into one register:
/// bits 0..32 the timeout (`i32`), bit 32 `shared`, bits 40..48 `option_sync`, saturated
/// at 255 so that an out-of-range value stays out of range.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SendControl {
    /// `ipc_send`'s `timeout` (the spec's raw value, see [`Timeout::to_raw`]).
    pub timeout: i32,
    /// `ipc_send`'s `shared`: share the long message's pages instead of moving them.
    pub shared: bool,
    /// `ipc_send`'s `option_sync`: 0 asynchronous, 1 synchronous, 2 synchronous without a reply.
    pub option_sync: u32,
}

impl SendControl {
    /// The packed register word.
    pub const fn encode(self) -> u64 {
        let sync = if self.option_sync > 0xff { 0xff } else { self.option_sync as u64 };
        (self.timeout as u32 as u64) | (self.shared as u64) << 32 | sync << 40
    }

    /// Unpacks a register.
    pub const fn decode(r: u64) -> SendControl {
        SendControl { timeout: r as u32 as i32, shared: (r >> 32) & 1 != 0, option_sync: ((r >> 40) & 0xff) as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_words_round_trip() {
        for tid in [0, 1, 0x1234_5678, u32::MAX] {
            for flags in [RecvFlags::empty(), RecvFlags::SHARED, RecvFlags::INTERRUPT, RecvFlags::all()] {
                assert_eq!(decode_sender_word(sender_word(tid, flags)), (tid, flags));
            }
        }
        assert_eq!(sender_word(7, RecvFlags::SHARED), 7 | RECV_SHARED);
        assert_eq!(decode_sender_word(u64::MAX), (u32::MAX, RecvFlags::all()));
    }

    #[test]
    fn control_words_round_trip() {
        for timeout in [-1, 0, 1, 5000, i32::MAX, i32::MIN] {
            for shared in [false, true] {
                for option_sync in [0, 1, 2, 3, 200] {
                    let c = SendControl { timeout, shared, option_sync };
                    assert_eq!(SendControl::decode(c.encode()), c);
                }
            }
        }
    }

    #[test]
    fn option_sync_beyond_a_byte_stays_invalid() {
        // Masking would turn 0x101 into a valid 1; saturation keeps it invalid.
        for bad in [0x101, 0x102, u32::MAX] {
            let c = SendControl { timeout: 0, shared: false, option_sync: bad };
            assert_eq!(SendControl::decode(c.encode()).option_sync, 0xff);
        }
    }

    #[test]
    fn send_status_round_trips() {
        for transferred in [false, true] {
            let st = SendStatus { transferred };
            assert_eq!(SendStatus::decode(st.encode()), st);
        }
        assert_eq!(SendStatus::decode(0), SendStatus { transferred: false });
        assert_eq!(SendStatus::default().encode(), 0, "nothing transferred is the zero word");
    }

    #[test]
    fn rights_follow_the_mapping_count() {
        assert_eq!(PageRights::of(1), PageRights::MOVE | PageRights::SHARE);
        assert_eq!(PageRights::of(2), PageRights::SHARE);
        assert!(!PageRights::of(7).contains(PageRights::MOVE));
        assert_eq!(RECV_SHARED, 1 << 32);
    }

    #[test]
    fn spec_values() {
        assert_eq!(SendMode::try_from(0), Ok(SendMode::Async));
        assert_eq!(SendMode::try_from(1), Ok(SendMode::Sync));
        assert_eq!(SendMode::try_from(2), Ok(SendMode::SyncNoReply));
        assert!(SendMode::try_from(3).is_err());
        assert_eq!(u32::from(RecvKind::Call), 0);
        assert_eq!(u32::from(RecvKind::Async), 1);
        assert_eq!(u32::from(RecvKind::NoReply), 2);
        assert_eq!(Timeout::from_raw(-1), Some(Timeout::Forever));
        assert_eq!(Timeout::from_raw(0), Some(Timeout::Poll));
        assert_eq!(Timeout::from_raw(7), Some(Timeout::Ticks(7)));
        assert_eq!(Timeout::from_raw(-2), None);
        assert_eq!(Timeout::Ticks(u32::MAX).to_raw(), i32::MAX);
    }
}

/// The register fast path (SPEC 1.2: "synchronous messages small enough to fit in the gpr's
/// can be sent through the fast path without being buffered in the kernel").
///
/// `IpcCall` (a synchronous send expecting a reply):
///
/// | register | in | out |
/// |---|---|---|
/// | `rax` | `Syscall::IpcCall` | 0, or a negative `Error` |
/// | `rdi` | [`call_word`](fast::call_word): target tid (bits 0..32), message length (bits 32..64) | 0 |
/// | `rsi` | [`timeout_word`](fast::timeout_word): timeout (`i32`, bits 0..32) | reply length |
/// | `rdx`, `r10`, `r8`, `r9`, `r12` | message, little-endian, up to [`MAX`](fast::MAX) bytes | reply |
///
/// `IpcReplyWait` (a server's reply to its last call, then a receive):
///
/// | register | in | out |
/// |---|---|---|
/// | `rax` | `Syscall::IpcReplyWait` | [`RecvKind`], or a negative `Error` |
/// | `rdi` | [`reply_word`](fast::reply_word): reply length (bits 0..63); bit 63 set: no reply, just wait | sender word (tid, [`RecvFlags`] << 32) |
/// | `rsi` | [`timeout_word`](fast::timeout_word): timeout (`i32`) for the wait | message length |
/// | `rdx`, `r10`, `r8`, `r9`, `r12` | reply | message (cut to [`MAX`](fast::MAX) bytes) |
///
/// A call its server has received, waiting for the reply, and a receive, that end in an
/// error (a deadline, the server's death) return zeros in `rdi`, `rsi` and the payload
/// registers beside the error in `rax`. Any other error leaves them as the caller gave
/// them: one found before any wait (a bad argument, `TooLong`, `ReplyPending`, a failed
/// reply), and a deadline or death while the call still waits in the server's mailbox.
///
/// The receiver (of a call or of a reply) reads the length it is given and no byte past
/// it: between two register parties the payload registers travel as they are, so the
/// bytes past the length are whatever the sender left in those registers (its own, sent
/// to the partner it chose; never the kernel's or a third thread's). Senders that must not
/// show them zero them, as `libsys` does ([`to_words`](fast::to_words) of a zeroed
/// buffer). A message from memory arrives with zeros past its length.
///
/// A length is never cut to fit its field: every bit the field has counts, and the
/// encoders saturate, so a length past [`MAX`](fast::MAX) always decodes to one past it,
/// which the kernel refuses with `TooLong` (and delivers nothing).
///
/// Either side may be a fast or an ordinary (memory) party: a fast call to a thread blocked
/// in `ipc_recv` writes its buffer; a server in `IpcReplyWait` receives ordinary sends in
/// registers. A call that reaches a waiting receiver, and a reply followed by a wait, switch
/// straight to the partner thread.
pub mod fast {
    /// Payload bytes in registers: `rdx`, `r10`, `r8`, `r9`, `r12`.
    pub const MAX: usize = 40;
    /// Payload registers.
    pub const WORDS: usize = MAX / 8;
    /// `IpcReplyWait`'s `rdi` bit meaning "no reply to send".
    pub const NO_REPLY: u64 = 1 << 63;

    /// Packs the target and length of an `IpcCall` (`rdi`). A length beyond 32 bits
    /// saturates, so it stays too long.
    pub const fn call_word(tid: u32, len: usize) -> u64 {
        let len = if len > u32::MAX as usize { u32::MAX } else { len as u32 };
        tid as u64 | (len as u64) << 32
    }

    /// Unpacks an `IpcCall`'s `rdi`: (target tid, message length), all 32 length bits.
    #[inline]
    pub const fn decode_call_word(rdi: u64) -> (u32, u32) {
        (rdi as u32, (rdi >> 32) as u32)
    }

    /// Packs `IpcReplyWait`'s `rdi`: the reply's length, or [`NO_REPLY`]. A length that
    /// does not fit the 63 bits saturates.
    pub const fn reply_word(reply_len: Option<usize>) -> u64 {
        match reply_len {
            None => NO_REPLY,
            Some(len) if len as u64 >= NO_REPLY => NO_REPLY - 1,
            Some(len) => len as u64,
        }
    }

    /// Unpacks `IpcReplyWait`'s `rdi`: `None` for no reply, else the reply's length
    /// (saturated at `u32::MAX`, so anything past [`MAX`] stays past it).
    #[inline]
    pub const fn decode_reply_word(rdi: u64) -> Option<u32> {
        if rdi & NO_REPLY != 0 {
            None
        } else if rdi > u32::MAX as u64 {
            Some(u32::MAX)
        } else {
            Some(rdi as u32)
        }
    }

    /// A fast call's timeout (`rsi`): the `i32` in bits 0..32.
    pub const fn timeout_word(timeout: i32) -> u64 {
        timeout as u32 as u64
    }

    /// Unpacks a timeout word (bits 32..64 are ignored).
    #[inline]
    pub const fn decode_timeout(rsi: u64) -> i32 {
        rsi as u32 as i32
    }

    /// Little-endian bytes (at most `MAX`) to payload words, zero-filled.
    #[inline]
    pub fn to_words(bytes: &[u8]) -> [u64; WORDS] {
        let mut b = [0u8; MAX];
        let n = bytes.len().min(MAX);
        b[..n].copy_from_slice(&bytes[..n]);
        core::array::from_fn(|i| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
    }

    /// Payload words to little-endian bytes.
    #[inline]
    pub fn to_bytes(words: &[u64; WORDS]) -> [u8; MAX] {
        let mut b = [0u8; MAX];
        for (i, w) in words.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// Keeps the first `len` bytes of a payload and zeroes the rest: for a receiver that
    /// wants the bytes past the length it was given zero (the kernel passes a register
    /// payload as the sender left it). Written so the compiler unrolls it into a few
    /// compares and masks per word, with no call to `memset`.
    #[inline(always)]
    pub fn truncate(words: &mut [u64; WORDS], len: usize) {
        for (i, w) in words.iter_mut().enumerate() {
            let start = i * 8;
            *w &= if len >= start + 8 {
                u64::MAX
            } else if len <= start {
                0
            } else {
                // 1..=7 bytes of this word stay, so the shift is 8..=56.
                (1u64 << ((len - start) * 8)) - 1
            };
        }
    }

    const _: () = assert!(MAX == crate::message::FAST_PATH_MAX && MAX.is_multiple_of(8));

    #[cfg(test)]
    mod tests {
        #[test]
        fn words_and_bytes_round_trip() {
            let bytes: [u8; super::MAX] = core::array::from_fn(|i| i as u8 * 3);
            assert_eq!(super::to_bytes(&super::to_words(&bytes)), bytes);
            assert_eq!(super::to_words(&[1, 2])[0], 0x0201);
            assert_eq!(super::call_word(7, 40), 7 | 40 << 32);
        }

        #[test]
        fn call_and_reply_words_round_trip() {
            for tid in [0, 1, 0x1234_5678, u32::MAX] {
                for len in [0usize, 1, 8, 39, 40, 41, 255, 256, 4096, u32::MAX as usize] {
                    assert_eq!(super::decode_call_word(super::call_word(tid, len)), (tid, len as u32));
                }
            }
            for len in [0usize, 1, 40, 41, 256, 0x1_0000, u32::MAX as usize] {
                assert_eq!(super::decode_reply_word(super::reply_word(Some(len))), Some(len as u32));
            }
            assert_eq!(super::decode_reply_word(super::reply_word(None)), None);
            for t in [-1, 0, 1, 100, i32::MAX, i32::MIN] {
                assert_eq!(super::decode_timeout(super::timeout_word(t)), t);
            }
        }

        /// Whatever a length is, encoded or raw, if it is past `MAX` it decodes past
        /// `MAX` (the kernel then refuses it): no length is ever cut into a valid one.
        #[test]
        fn over_long_lengths_stay_over_long() {
            let max = super::MAX as u64;
            let lens =
                [max + 1, 0x100, 0x101, 0x128, 0x1_0000, 0x1_0000_0000, 0x1_0000_0028, 0xffff_ffff, u64::MAX >> 1];
            for len in lens {
                let (_, l) = super::decode_call_word(super::call_word(5, len as usize));
                assert!(l as u64 > max, "call, encoded: {len:#x} -> {l}");
                assert!(super::decode_reply_word(super::reply_word(Some(len as usize))).unwrap() as u64 > max);
                // Raw registers, as a hostile program sets them.
                if len <= u32::MAX as u64 {
                    assert!(super::decode_call_word(5 | len << 32).1 as u64 > max, "call, raw {len:#x}");
                }
                let r = super::decode_reply_word(len);
                assert!(r.is_some_and(|l| l as u64 > max), "reply, raw {len:#x} -> {r:?}");
            }
            assert_eq!(super::decode_call_word(0xffff_ffff_0000_0009), (9, u32::MAX));
            assert_eq!(super::decode_reply_word(super::NO_REPLY | 5), None, "bit 63: no reply");
        }

        #[test]
        fn truncate_keeps_exactly_len_bytes() {
            let bytes: [u8; super::MAX] = core::array::from_fn(|i| i as u8 * 3 + 1);
            for len in 0..=super::MAX + 9 {
                let mut w = super::to_words(&bytes);
                super::truncate(&mut w, len);
                let cut = super::to_bytes(&w);
                let keep = len.min(super::MAX);
                assert_eq!(&cut[..keep], &bytes[..keep], "len {len}");
                assert!(cut[keep..].iter().all(|&b| b == 0), "len {len}");
            }
        }
    }
}
