//! The register fast path (`IpcCall`, `IpcReplyWait`) on the host: every mix of fast and
//! ordinary parties gives the ordinary path's results, and the direct switch hands the CPU
//! to the partner.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::{code, World, NOT_TRANSFERRED};
use crate::task::State;
use crate::task::ThreadSlot;
use abi::Error;

const FOREVER: i32 = -1;

fn world() -> (World, ThreadSlot, ThreadSlot) {
    let w = World::new(&[1, 1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    (w, a, b)
}

#[test]
fn registers_to_registers_both_ways_with_direct_switches() {
    let (mut w, a, b) = world();
    assert_eq!(w.reply_wait(b, None, FOREVER), Ok(Blocked));
    assert_eq!(w.call_fast(a, b, b"ping in registers", FOREVER), Ok(Blocked));
    assert_eq!(w.core.current(), Some(b), "the call switched straight to the server");
    assert_eq!(w.take_wake(b), Some((0, None)), "a call; the sender is in the registers, not rdx");
    assert_eq!(w.fast_out(b), Some((b"ping in registers".to_vec(), w.tid(a) as u64)));
    assert_eq!(w.reply_wait(b, Some(b"pong"), FOREVER), Ok(Blocked));
    assert_eq!(w.core.current(), Some(a), "the reply switched straight back to the caller");
    assert_eq!(w.take_wake(a), Some((0, None)));
    assert_eq!(w.fast_out(a), Some((b"pong".to_vec(), 0)));
}

#[test]
fn without_the_direct_switch_the_results_are_the_same() {
    let (mut w, a, b) = world();
    w.core.set_handoff(false);
    assert_eq!(w.reply_wait(b, None, FOREVER), Ok(Blocked));
    assert_eq!(w.call_fast(a, b, b"x", FOREVER), Ok(Blocked));
    assert_eq!(w.core.current(), None, "the server waits its turn in the run queue");
    assert_eq!(w.fast_out(b), Some((b"x".to_vec(), w.tid(a) as u64)));
    assert_eq!(w.reply_wait(b, Some(b"y"), FOREVER), Ok(Blocked));
    assert_eq!(w.fast_out(a), Some((b"y".to_vec(), 0)));
}

#[test]
fn a_fast_call_to_an_ordinary_receiver_writes_its_buffer() {
    let (mut w, a, b) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.call_fast(a, b, b"to memory", FOREVER), Ok(Blocked));
    assert_eq!(w.take_wake(b), Some((0, Some(w.tid(a) as u64))));
    assert_eq!(w.received(b), b"to memory");
    assert_eq!(w.reply(b, b"from memory, longer than the call"), Ok(Done(0, 0)));
    assert_eq!(w.fast_out(a), Some((b"from memo".to_vec(), 0)), "cut to the 9 bytes sent, as always");
}

#[test]
fn an_ordinary_call_to_a_fast_server_is_answered_in_its_memory() {
    let (mut w, a, b) = world();
    assert_eq!(w.send(a, b, b"ordinary", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.reply_wait(b, None, 0), Ok(Done(0, w.tid(a) as u64)), "queued call taken at once");
    assert_eq!(w.fast_out(b).map(|o| o.0), Some(b"ordinary".to_vec()));
    assert_eq!(w.reply_wait(b, Some(b"answer!!"), 0), Err(Error::Timeout), "replied, then nothing to receive");
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
    assert_eq!(w.reply_of(a), b"answer!!");
}

#[test]
fn async_messages_and_long_senders_reach_a_fast_receiver_cut_to_the_registers() {
    let (mut w, a, b) = world();
    let big = [7u8; 100];
    assert_eq!(w.send(a, b, &big, 0, 0), Ok(Done(1, 0)));
    assert_eq!(w.reply_wait(b, None, 0), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(w.fast_out(b).map(|o| o.0), Some(vec![7u8; 40]), "truncated to 40 bytes");
    assert_eq!(w.core.buffers.live(), 0);
}

#[test]
fn fast_path_errors() {
    let (mut w, a, b) = world();
    let tid_a = w.tid(a);
    w.core.switch_to(a);
    assert_eq!(w.ipc_call_fast(w.tid(b), 41, [0; 5], FOREVER), Err(Error::TooLong));
    assert_eq!(w.ipc_call_fast(tid_a, 8, [0; 5], FOREVER), Err(Error::InvalidArgument), "call to oneself");
    assert_eq!(w.ipc_call_fast(0x7fff_0000, 8, [0; 5], FOREVER), Err(Error::NoSuchThread));
    assert_eq!(w.ipc_call_fast(w.tid(b), 8, [0; 5], -3), Err(Error::InvalidArgument));
    assert_eq!(w.call_fast(a, b, b"x", 0), Err(Error::Timeout), "poll with nobody waiting");
    assert_eq!(w.reply_wait(b, Some(b"r"), 0), Err(Error::NoReplyPending));
    // A call pending: waiting without replying is ReplyPending, as for ipc_recv.
    assert_eq!(w.call_fast(a, b, b"x", FOREVER), Ok(Blocked));
    assert_eq!(w.reply_wait(b, None, 0).map(|_| ()), Ok(()));
    assert_eq!(w.reply_wait(b, None, 0), Err(Error::ReplyPending));
    w.tick(0);
    assert!(matches!(w.state(a), State::AwaitingReply { .. }));
}

#[test]
fn a_fast_caller_times_out_and_the_late_reply_fails() {
    let (mut w, a, b) = world();
    assert_eq!(w.call_fast(a, b, b"q", 2), Ok(Blocked));
    assert_eq!(w.reply_wait(b, None, 0).map(|_| ()), Ok(()));
    w.tick(2);
    assert_eq!(w.take_wake(a), Some((code(Error::Timeout), None)));
    assert_eq!(w.reply_wait(b, Some(b"late"), 0), Err(Error::Timeout));
}

/// Lengths as a hostile program puts them in `rdi`, decoded as the system-call layer
/// decodes them: anything past the registers' 40 bytes is `TooLong`, on both calls, and
/// nothing reaches the other side (no length is cut into a valid one).
#[test]
fn over_long_register_lengths_are_too_long_and_deliver_nothing() {
    use abi::ipc::fast::{decode_call_word, decode_reply_word};
    let (mut w, a, b) = world();
    assert_eq!(w.reply_wait(b, None, FOREVER), Ok(Blocked), "b waits in registers");
    let tb = w.tid(b) as u64;
    w.core.switch_to(a);
    for len in [41u64, 256, 257, 0x128, 0x1_0000, 0x8000_0000, 0xffff_ff00, 0xffff_ffff] {
        let (tid, l) = decode_call_word(tb | len << 32);
        assert_eq!(w.ipc_call_fast(tid, l, [u64::MAX; 5], FOREVER), Err(Error::TooLong), "call, len {len:#x}");
    }
    assert!(matches!(w.state(b), State::Receiving(_)), "b got nothing");
    assert_eq!(w.call_fast(a, b, b"real", FOREVER), Ok(Blocked));
    assert_eq!(w.fast_out(b).map(|o| o.0), Some(b"real".to_vec()), "the first message b gets");
    w.core.switch_to(b);
    for rdi in [41u64, 256, 0x128, 0x1_0000, 0x1_0000_0000, 0x1_0000_0005, (1 << 63) - 1] {
        let len = decode_reply_word(rdi).expect("a reply");
        assert_eq!(w.ipc_reply_wait(Some((len, [u64::MAX; 5])), FOREVER), Err(Error::TooLong), "reply {rdi:#x}");
    }
    assert!(matches!(w.state(a), State::AwaitingReply { .. }), "the caller still waits: no empty reply");
    assert_eq!(w.reply_wait(b, Some(b"answer"), 0), Err(Error::Timeout), "the real reply, then nothing to receive");
    assert_eq!(w.fast_out(a).map(|o| o.0), Some(b"answ".to_vec()), "cut to the 4 bytes sent");
}
