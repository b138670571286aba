//! The register fast path and replies, attacked with raw system calls: lengths past the
//! registers in every bit of their field, and replies to callers whose buffer vanished.

use crate::ipc::{self, result, wait_blocked, FOREVER, SYNC};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use libsys::abi::ipc::fast;
use libsys::abi::{layout, Error, Syscall};
use libsys::raw;
use moroso_apps::ensure_eq;
use moroso_apps::harness::{Msg, Suite};

const P: u64 = libsys::abi::PAGE_SIZE as u64;
/// A page a caller uses as its message buffer, removed under it by a sibling thread.
const DOOMED: u64 = layout::PROGRAM_REGION.0 + 0x6000_0000;

fn code(r: i64) -> Result<i64, Error> {
    result(r as i32).map(|v| v as i64)
}

/// What the echo server got: how many messages, and the first one's length and word.
static ECHOED: AtomicU32 = AtomicU32::new(0);
static FIRST_LEN: AtomicU64 = AtomicU64::new(u64::MAX);
static FIRST_WORD: AtomicU64 = AtomicU64::new(0);

/// Echoes calls in registers; a message starting with "quit" ends it.
fn echo_server(_: usize) {
    let mut reply = None;
    loop {
        // SAFETY: registers only.
        let (r, _, len, words) = unsafe { raw::ipc_reply_wait(reply, FOREVER) };
        if r < 0 {
            reply = None;
            continue;
        }
        if ECHOED.fetch_add(1, Ordering::SeqCst) == 0 {
            FIRST_LEN.store(len as u64, Ordering::SeqCst);
            FIRST_WORD.store(words[0], Ordering::SeqCst);
        }
        if &fast::to_bytes(&words)[..4] == b"quit" {
            // SAFETY: registers only; a poll after the reply: nothing more is waited for.
            unsafe { raw::ipc_reply_wait(Some((0, [0; 5])), 0) };
            return;
        }
        reply = Some((len, words));
    }
}

/// What the cutting server got from each of its `CUT_CALLS` calls: its length and words.
static CUT_GOT: [AtomicU64; 6 * CUT_CALLS] = [const { AtomicU64::new(u64::MAX) }; 6 * CUT_CALLS];
/// The calls of the payload case (`fast::payloads_travel_as_sent…`): one per length, 0 to
/// `fast::MAX`.
const CUT_CALLS: usize = fast::MAX + 1;
/// The words every call of `fast::payloads_travel_as_sent…` carries, and every reply.
const CUT_CALL: [u64; 5] = [0x1111_1111_1111_1111, 0x2222_2222_2222_2222, 0x3333, 0x4444, u64::MAX];
const CUT_REPLY: [u64; 5] = [0xa0a0_a0a0_a0a0_a0a0, 0xb0b0, 0xc0c0, 0xd0d0, 0xe0e0_e0e0_e0e0_e0e0];

/// Receives `CUT_CALLS` calls, records each one's length and words, and answers each with
/// a whole register payload, `CUT_REPLY` (its length cut, by the kernel, to what the caller
/// takes; the words as they are).
fn cutting_server(_: usize) {
    let mut reply = None;
    for i in 0..CUT_CALLS {
        // SAFETY: registers only.
        let (r, _, len, words) = unsafe { raw::ipc_reply_wait(reply, FOREVER) };
        CUT_GOT[6 * i].store(if r < 0 { u64::MAX } else { len as u64 }, Ordering::SeqCst);
        for (j, w) in words.iter().enumerate() {
            CUT_GOT[6 * i + 1 + j].store(*w, Ordering::SeqCst);
        }
        reply = Some((fast::MAX, CUT_REPLY));
    }
    // SAFETY: registers only; a poll after the last reply: nothing more is waited for.
    unsafe { raw::ipc_reply_wait(reply, 0) };
}

/// Over-long reply lengths a server tries, as `rdi` of `IpcReplyWait` (bit 63 clear).
const BAD_REPLIES: [u64; 5] = [41, 256, 0x1_0000, 0x1_0000_0000, 0x1_0000_0005];
static REPLY_RESULTS: [AtomicI32; 5] = [const { AtomicI32::new(1) }; 5];
static FINAL_RESULT: AtomicI32 = AtomicI32::new(1);
/// What a wait with no reply returned while the reply was owed.
static NO_REPLY_RESULT: AtomicI32 = AtomicI32::new(1);

/// Receives one call, answers it with every length of `BAD_REPLIES`, then properly.
fn bad_reply_server(_: usize) {
    // SAFETY: registers only.
    let (r, ..) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    if r != 0 {
        FINAL_RESULT.store(r, Ordering::SeqCst);
        return;
    }
    // With no deadline, as the direct switch takes a reply: each fails at once (nothing is
    // waited for after a failed reply), and so does a wait with no reply while one is owed.
    for (i, &rdi) in BAD_REPLIES.iter().enumerate() {
        // SAFETY: registers only.
        let (ret, ..) =
            unsafe { raw::fast_syscall(Syscall::IpcReplyWait, rdi, fast::timeout_word(FOREVER), [u64::MAX; 5]) };
        REPLY_RESULTS[i].store(ret as i32, Ordering::SeqCst);
    }
    // SAFETY: registers only.
    let (ret, ..) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    NO_REPLY_RESULT.store(ret, Ordering::SeqCst);
    // SAFETY: registers only. The real reply, then a poll that finds nothing.
    let (ret, ..) = unsafe { raw::ipc_reply_wait(Some((4, fast::to_words(b"good"))), 0) };
    FINAL_RESULT.store(ret, Ordering::SeqCst);
}

/// The two threads of a reply-to-a-vanished-buffer case: where they are, and results.
static STAGE: AtomicU32 = AtomicU32::new(0);
static CALL_RESULT: AtomicI32 = AtomicI32::new(1);
static REPLY_RESULT: AtomicI32 = AtomicI32::new(1);

fn wait_stage(n: u32) {
    while STAGE.load(Ordering::SeqCst) < n {
        libsys::time::yield_now();
    }
}

/// Calls `arg` (a tid) from a buffer in `DOOMED`.
fn doomed_caller(server: usize) {
    let mut len = 8u32;
    // SAFETY: DOOMED is a page of this task, mapped before this thread starts; the kernel
    // checks it again when it writes the reply.
    let r =
        unsafe { raw::ipc_send(server as u32, core::ptr::null_mut(), DOOMED as *mut u8, 0, &mut len, -1, false, SYNC) };
    CALL_RESULT.store(r, Ordering::SeqCst);
}

/// Receives a call (stage 1), waits for stage 2 (its caller's buffer gone), replies, with
/// the general path (`arg` 0) or the fast one.
fn late_replier(fast_reply: usize) {
    let got = if fast_reply == 0 {
        let mut buf = [0u8; 8];
        ipc::recv(&mut buf, FOREVER).map(|r| r.kind).unwrap_or(-1)
    } else {
        // SAFETY: registers only.
        unsafe { raw::ipc_reply_wait(None, FOREVER) }.0
    };
    STAGE.store(if got == 0 { 1 } else { 9 }, Ordering::SeqCst);
    wait_stage(2);
    let r = if fast_reply == 0 {
        ipc::reply(b"answer").unwrap_or_else(|e| e.code())
    } else {
        // SAFETY: registers only; timeout 0: after the reply, do not wait.
        unsafe { raw::ipc_reply_wait(Some((6, fast::to_words(b"answer"))), 0) }.0
    };
    REPLY_RESULT.store(r, Ordering::SeqCst);
    STAGE.store(3, Ordering::SeqCst);
}

/// A caller waits for its reply; a sibling removes its buffer; the reply cannot be
/// written: the replier must hear `NotDelivered`, the caller `BadAddress`.
fn reply_to_a_vanished_buffer(fast_reply: bool) -> Result<(), Msg> {
    STAGE.store(0, Ordering::SeqCst);
    CALL_RESULT.store(1, Ordering::SeqCst);
    REPLY_RESULT.store(1, Ordering::SeqCst);
    // SAFETY: DOOMED belongs to these cases.
    ensure_eq!(result(unsafe { raw::new_pages(DOOMED as *mut u8, P as u32) }), Ok(0), "the caller's page");
    let srv = libsys::thread::spawn(late_replier, fast_reply as usize).map_err(|e| Msg::new(format_args!("{e}")))?;
    wait_blocked(srv);
    libsys::thread::spawn(doomed_caller, srv as usize).map_err(|e| Msg::new(format_args!("{e}")))?;
    wait_stage(1);
    ensure_eq!(STAGE.load(Ordering::SeqCst), 1, "the server received the call");
    // The caller now waits for its reply; its buffer goes.
    // SAFETY: only the waiting caller refers to this page, and the kernel checks it.
    ensure_eq!(result(unsafe { raw::remove_pages(DOOMED as *mut u8) }), Ok(0), "buffer removed");
    STAGE.store(2, Ordering::SeqCst);
    wait_stage(3);
    while CALL_RESULT.load(Ordering::SeqCst) == 1 {
        libsys::time::yield_now();
    }
    ensure_eq!(result(REPLY_RESULT.load(Ordering::SeqCst)), Err(Error::NotDelivered), "the reply was not delivered");
    ensure_eq!(result(CALL_RESULT.load(Ordering::SeqCst)), Err(Error::BadAddress), "the caller is released");
    Ok(())
}

pub fn cases(s: &mut Suite) {
    s.case("fast::a_call_longer_than_the_registers_is_too_long_in_every_length_bit", || {
        let srv = libsys::thread::spawn(echo_server, 0).map_err(|e| Msg::new(format_args!("{e}")))?;
        wait_blocked(srv);
        // 256 and 0x8000_0100 were cut to 0 (an empty message), 0x1_0028 to 40.
        for len in [41u64, 256, 0x1_0000, 0x1_0028, 0x8000_0100, 0xffff_ffff] {
            let rdi = srv as u64 | len << 32;
            // SAFETY: registers only.
            let (r, ..) =
                unsafe { raw::fast_syscall(Syscall::IpcCall, rdi, fast::timeout_word(FOREVER), [u64::MAX; 5]) };
            ensure_eq!(code(r), Err(Error::TooLong), "length {len:#x}");
        }
        ensure_eq!(ECHOED.load(Ordering::SeqCst), 0, "the server got nothing");
        // SAFETY: registers only.
        let (r, len, words) = unsafe { raw::ipc_call_fast(srv, 4, fast::to_words(b"real"), FOREVER) };
        ensure_eq!((r, len, &fast::to_bytes(&words)[..4]), (0, 4, &b"real"[..]), "a real call is echoed");
        ensure_eq!(
            (FIRST_LEN.load(Ordering::SeqCst), FIRST_WORD.load(Ordering::SeqCst)),
            (4, fast::to_words(b"real")[0]),
            "and it is the first message the server got"
        );
        // SAFETY: registers only.
        let (r, ..) = unsafe { raw::ipc_call_fast(srv, 4, fast::to_words(b"quit"), FOREVER) };
        ensure_eq!(r, 0, "quit");
        Ok(())
    });

    s.case("fast::payloads_travel_as_sent_and_lengths_are_cut_both_ways", || {
        // Every length of call: the server gets that length and the caller's five words as
        // it left them (a receiver reads only the length: `abi::ipc::fast`); the reply of
        // `MAX` bytes reaches the caller cut to the call's length (its reply capacity), with
        // the server's words as it left them. Nothing else reaches either side.
        let srv = libsys::thread::spawn(cutting_server, 0).map_err(|e| Msg::new(format_args!("{e}")))?;
        for len in 0..CUT_CALLS {
            wait_blocked(srv);
            // SAFETY: registers only.
            let (r, rlen, words) = unsafe { raw::ipc_call_fast(srv, len, CUT_CALL, FOREVER) };
            ensure_eq!((r, rlen, words), (0, len, CUT_REPLY), "the reply to a call of {len} bytes");
            let got: [u64; 6] = core::array::from_fn(|j| CUT_GOT[6 * len + j].load(Ordering::SeqCst));
            ensure_eq!(got[0], len as u64, "the length the server got");
            ensure_eq!(got[1..], CUT_CALL[..], "the words of a call of {len} bytes");
        }
        Ok(())
    });

    s.case("fast::a_reply_longer_than_the_registers_is_too_long_in_every_length_bit", || {
        let srv = libsys::thread::spawn(bad_reply_server, 0).map_err(|e| Msg::new(format_args!("{e}")))?;
        wait_blocked(srv);
        // SAFETY: registers only.
        let (r, len, words) = unsafe { raw::ipc_call_fast(srv, 8, fast::to_words(b"question"), FOREVER) };
        ensure_eq!(r, 0, "the call");
        ensure_eq!((len, &fast::to_bytes(&words)[..4]), (4, &b"good"[..]), "only the proper reply arrived");
        while FINAL_RESULT.load(Ordering::SeqCst) == 1 {
            libsys::time::yield_now();
        }
        ensure_eq!(result(NO_REPLY_RESULT.load(Ordering::SeqCst)), Err(Error::ReplyPending), "no reply while owed");
        for (i, rdi) in BAD_REPLIES.iter().enumerate() {
            ensure_eq!(result(REPLY_RESULTS[i].load(Ordering::SeqCst)), Err(Error::TooLong), "reply length {rdi:#x}");
        }
        ensure_eq!(
            result(FINAL_RESULT.load(Ordering::SeqCst)),
            Err(Error::Timeout),
            "replied, then nothing to receive"
        );
        Ok(())
    });

    s.case("reply::a_caller_whose_buffer_vanished_is_not_delivered_to", || reply_to_a_vanished_buffer(false));

    s.case("reply::a_fast_reply_to_a_caller_whose_buffer_vanished_is_not_delivered", || {
        reply_to_a_vanished_buffer(true)
    });
}
