//! IPC scenarios: one or more tests per sentence of the specification and per decision of
//! docs/ipc.md (the map is docs/spec-coverage.md).

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::{code, World, NOT_TRANSFERRED};
use crate::task::State;
use crate::task::ThreadSlot;
use crate::umem::UserMemory;
use abi::ipc::{ASYNC_QUEUE_MAX, ASYNC_TASK_MAX};
use abi::Error;

const ASYNC: u32 = 0;
const SYNC: u32 = 1;
const NOREPLY: u32 = 2;
const FOREVER: i32 = -1;
const CALL: i64 = 0;
const ASYNC_KIND: i64 = 1;
const NOREPLY_KIND: i64 = 2;

/// Two tasks: a client (thread a) and a server (thread b); c is a second client.
fn world() -> (World, ThreadSlot, ThreadSlot, ThreadSlot) {
    let w = World::new(&[1, 1, 1]);
    let (a, b, c) = (w.threads[0], w.threads[1], w.threads[2]);
    (w, a, b, c)
}

#[test]
fn sync_send_to_a_waiting_receiver_then_reply() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"ping", SYNC, FOREVER), Ok(Blocked));
    assert!(matches!(w.state(a), State::AwaitingReply { .. }), "the sender waits for the reply");
    assert_eq!(w.take_wake(b), Some((CALL, Some(w.tid(a) as u64))), "recv returns 0 and the sender's tid");
    assert_eq!(w.received(b), b"ping");
    assert_eq!(w.reply(b, b"pong!"), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
    // The reply is copied up to the sender's *len_short (4), which becomes the reply length.
    assert_eq!(w.reply_of(a), b"pong");
}

#[test]
fn sync_send_before_the_receiver_blocks_until_received() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"hello", SYNC, FOREVER), Ok(Blocked));
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b));
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.received(b), b"hello");
    assert!(matches!(w.state(a), State::AwaitingReply { .. }), "still blocked until ipc_reply");
    assert_eq!(w.reply(b, b""), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
    assert_eq!(w.reply_of(a), b"", "a zero-length reply unblocks with length 0");
}

#[test]
fn async_send_is_buffered_and_returns_1() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"note", ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.state(a), State::Runnable, "the sender does not block");
    w.mem(a).copy_out(super::fixture::send_buf(a), b"XXXX").unwrap(); // the sender reuses its buffer
    assert_eq!(w.recv(b, 64, 0), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(w.received(b), b"note", "copied into the kernel at send time");
    assert_eq!(w.core.buffers.live(), 0, "the kernel buffer is freed once received");
}

#[test]
fn async_send_to_a_waiting_receiver_transfers_directly_and_returns_0() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"direct", ASYNC, 0), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(b), Some((ASYNC_KIND, Some(w.tid(a) as u64))));
    assert_eq!(w.received(b), b"direct");
    assert_eq!(w.core.buffers.live(), 0, "never buffered");
}

#[test]
fn sync_without_reply_is_released_on_receipt() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"fyi", NOREPLY, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 64, 0), Ok(Done(2, w.tid(a) as u64)));
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)), "released when received");
    assert_eq!(w.reply(b, b"x"), Err(Error::NoReplyPending), "no reply is expected");
    // Delivered directly to a waiting receiver: returns 0 at once.
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"fyi2", NOREPLY, FOREVER), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(b), Some((NOREPLY_KIND, Some(w.tid(a) as u64))));
}

#[test]
fn messages_are_received_in_the_order_they_were_sent() {
    // Asynchronous messages and blocked synchronous senders interleave by send time.
    let (mut w, a, b, c) = world();
    assert_eq!(w.send(a, b, b"1", ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.send(c, b, b"2", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"3", ASYNC, 0), Ok(Done(1, 0)));
    let mut got = Vec::new();
    for _ in 0..3 {
        let r = w.recv(b, 8, 0).unwrap();
        got.push(w.received(b));
        if r == Done(0, w.tid(c) as u64) {
            w.reply(b, b"").unwrap();
        }
    }
    assert_eq!(got, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(w.recv(b, 8, 0), Err(Error::Timeout), "empty");
}

#[test]
fn many_senders_queue_in_fifo_order() {
    let mut w = World::new(&[1, 1, 1, 1, 1]);
    let t = w.threads.clone();
    for (i, &s) in t[1..].iter().enumerate() {
        assert_eq!(w.send(s, t[0], &[i as u8], SYNC, FOREVER), Ok(Blocked));
    }
    for (i, &s) in t[1..].iter().enumerate() {
        assert_eq!(w.recv(t[0], 8, 0), Ok(Done(0, w.tid(s) as u64)));
        assert_eq!(w.received(t[0]), [i as u8]);
        w.reply(t[0], &[]).unwrap();
    }
}

#[test]
fn timeout_zero_never_waits_for_a_rendezvous() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"x", SYNC, 0), Err(Error::Timeout), "no receiver waiting");
    assert_eq!(w.send(a, b, b"x", NOREPLY, 0), Err(Error::Timeout));
    assert_eq!(w.recv(b, 8, 0), Err(Error::Timeout), "nothing queued");
    assert_eq!(w.send(a, b, b"x", ASYNC, 0), Ok(Done(1, 0)), "async ignores its timeout");
}

#[test]
fn timeout_zero_once_delivered_waits_for_the_reply_without_a_deadline() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.recv(b, 8, FOREVER), Ok(Blocked));
    assert_eq!(w.send(a, b, b"x", SYNC, 0), Ok(Blocked));
    w.tick(1000);
    assert!(matches!(w.state(a), State::AwaitingReply { .. }));
    w.take_wake(b);
    assert_eq!(w.reply(b, b"ok"), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
}

#[test]
fn a_send_timeout_bounds_the_rendezvous() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"x", SYNC, 5), Ok(Blocked));
    w.tick(4);
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b));
    w.tick(1);
    assert_eq!(w.take_wake(a), Some((code(Error::Timeout), NOT_TRANSFERRED)));
    assert_eq!(w.recv(b, 8, 0), Err(Error::Timeout), "the expired message is gone");
}

#[test]
fn a_send_timeout_bounds_the_reply_too_and_reply_then_fails() {
    // Spec note: if the timeout occurs after the receiver received the message, the receiver
    // is not notified at once; its reply fails to indicate the timeout.
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"x", SYNC, 5), Ok(Blocked));
    w.tick(2);
    assert_eq!(w.recv(b, 8, 0), Ok(Done(0, w.tid(a) as u64)));
    w.tick(3);
    assert_eq!(w.take_wake(a), Some((code(Error::Timeout), NOT_TRANSFERRED)));
    assert_eq!(w.reply(b, b"late"), Err(Error::Timeout));
    assert_eq!(w.reply(b, b"late"), Err(Error::NoReplyPending), "answered (as failed) once");
}

#[test]
fn a_receive_timeout_expires() {
    let (mut w, _, b, _) = world();
    assert_eq!(w.recv(b, 8, 3), Ok(Blocked));
    w.tick(2);
    assert!(matches!(w.state(b), State::Receiving(_)));
    w.tick(1);
    assert_eq!(w.take_wake(b), Some((code(Error::Timeout), None)));
}

#[test]
fn receive_before_replying_is_reply_pending() {
    let (mut w, a, b, c) = world();
    assert_eq!(w.send(a, b, b"1", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.send(c, b, b"2", ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.recv(b, 8, 0), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.recv(b, 8, 0), Err(Error::ReplyPending));
    w.reply(b, b"").unwrap();
    assert_eq!(w.recv(b, 8, 0), Ok(Done(1, w.tid(c) as u64)));
}

#[test]
fn reply_errors() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.reply(b, b"x"), Err(Error::NoReplyPending), "nothing received");
    assert_eq!(w.send(a, b, b"q", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 8, 0), Ok(Done(0, w.tid(a) as u64)));
    // Malformed replies fail without consuming the pending reply.
    w.core.switch_to(b);
    assert_eq!(w.ipc_reply(0, 4), Err(Error::BadAddress));
    assert_eq!(w.ipc_reply(super::fixture::recv_buf(b), 4097), Err(Error::TooLong));
    assert_eq!(w.reply(b, b"r"), Ok(Done(0, 0)));
    assert_eq!(w.reply(b, b"r"), Err(Error::NoReplyPending), "already acknowledged");
}

#[test]
fn long_messages_are_truncated_to_the_receive_buffer() {
    let (mut w, a, b, _) = world();
    let big: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    assert_eq!(w.send(a, b, &big, ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.recv(b, 10, 0), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(w.received(b), &big[..10]);
    // A zero-length receive buffer takes the message, copying nothing.
    assert_eq!(w.send(a, b, b"abc", ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.recv(b, 0, 0), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(w.received(b), b"");
    // A full 4 KiB message arrives whole.
    assert_eq!(w.send(a, b, &big, SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 4096, 0), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.received(b), big);
}

#[test]
fn send_argument_errors_come_first_and_change_nothing() {
    let (mut w, a, b, _) = world();
    let tb = w.tid(b);
    let mut bad = w.send_args(a, tb, b"x", 3, 0);
    w.core.switch_to(a);
    assert_eq!(w.ipc_send(bad), Err(Error::InvalidArgument), "option_sync 3");
    bad = w.send_args(a, 0x7fff_0000, b"x", 3, 0);
    assert_eq!(w.ipc_send(bad), Err(Error::InvalidArgument), "argument errors before the target");
    bad = w.send_args(a, tb, b"x", SYNC, 0);
    bad.len_short = 0;
    assert_eq!(w.ipc_send(bad), Err(Error::BadAddress), "len_short null");
    bad.len_short = 0xffff_8000_0000_0000;
    assert_eq!(w.ipc_send(bad), Err(Error::BadAddress), "len_short in the kernel");
    bad = w.send_args(a, 0x7fff_0000, b"x", SYNC, 0);
    bad.message_short = 0x50_0000; // unmapped
    assert_eq!(w.ipc_send(bad), Err(Error::BadAddress), "pointer errors before the target");
    let mut big = w.send_args(a, tb, b"", SYNC, 0);
    w.mem(a).copy_out(super::fixture::lens(a), &4097u32.to_le_bytes()).unwrap();
    big.len_short = super::fixture::lens(a);
    assert_eq!(w.ipc_send(big), Err(Error::TooLong), "*len_short > 4 KiB");
    let t = w.send_args(a, tb, b"x", SYNC, -2);
    assert_eq!(w.ipc_send(t), Err(Error::InvalidArgument), "timeout below -1");
    let t = w.send_args(a, tb, b"x", ASYNC, -2);
    assert_eq!(w.ipc_send(t), Ok(Done(1, 0)), "the timeout of an async send is ignored");
    let gone = w.send_args(a, 0x7fff_0000, b"x", SYNC, FOREVER);
    assert_eq!(w.ipc_send(gone), Err(Error::NoSuchThread));
    let me = w.tid(a);
    let own = w.send_args(a, me, b"x", SYNC, FOREVER);
    assert_eq!(w.ipc_send(own), Err(Error::InvalidArgument), "synchronous send to oneself");
    let own = w.send_args(a, me, b"self", ASYNC, 0);
    assert_eq!(w.ipc_send(own), Ok(Done(1, 0)), "asynchronous send to oneself is allowed");
    assert_eq!(w.recv(a, 8, 0), Ok(Done(1, me as u64)));
    assert_eq!(w.received(a), b"self");
    // Zero length ignores the pointer.
    let mut z = w.send_args(a, tb, b"", ASYNC, 0);
    z.message_short = 0;
    assert_eq!(w.ipc_send(z), Ok(Done(1, 0)));
    // A read-only buffer is fine for async, not for a call (the reply goes there).
    w.mem(a).set_writable(super::fixture::send_buf(a), false);
    let ro = w.send_args_ro(a, tb, 3);
    assert_eq!(w.ipc_send(ro.0), Ok(Done(1, 0)));
    assert_eq!(w.ipc_send(ro.1), Err(Error::BadAddress));
}

#[test]
fn receive_argument_errors() {
    let (mut w, _, b, _) = world();
    let good = w.recv_args(b, 8, 0);
    w.core.switch_to(b);
    let mut a = good;
    a.len_short = 0;
    assert_eq!(w.ipc_recv(a), Err(Error::BadAddress), "len_short null");
    a = good;
    a.short_dest = 0x50_0000;
    assert_eq!(w.ipc_recv(a), Err(Error::BadAddress), "short_dest unmapped");
    a = good;
    a.len_long = 0xffff_ffff_8000_0000;
    assert_eq!(w.ipc_recv(a), Err(Error::BadAddress), "len_long in the kernel");
    a = good;
    a.timeout = -5;
    assert_eq!(w.ipc_recv(a), Err(Error::InvalidArgument));
    w.mem(b).copy_out(super::fixture::lens(b) + 16, &100u32.to_le_bytes()).unwrap();
    assert_eq!(w.ipc_recv(good), Err(Error::Misaligned), "*len_long not a page multiple");
}

#[test]
fn a_dying_receiver_releases_everyone_waiting_on_it() {
    let mut w = World::new(&[1, 1, 1, 1]);
    let t = w.threads.clone();
    let (server, s1, s2, s3) = (t[0], t[1], t[2], t[3]);
    assert_eq!(w.send(s1, server, b"a", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(server, 8, 0), Ok(Done(0, w.tid(s1) as u64))); // s1 now awaits a reply
    assert_eq!(w.send(s2, server, b"b", SYNC, FOREVER), Ok(Blocked)); // s2 queued
    assert_eq!(w.send(s3, server, b"c", ASYNC, 0), Ok(Done(1, 0))); // buffered
    let task = w.core.thread(server).task;
    drop(w.core.exit_task(task, 0));
    assert_eq!(w.take_wake(s1), Some((code(Error::PeerDied), NOT_TRANSFERRED)));
    assert_eq!(w.take_wake(s2), Some((code(Error::PeerDied), NOT_TRANSFERRED)));
    assert_eq!(w.core.buffers.live(), 0, "its buffered messages are freed");
}

#[test]
fn a_sender_that_dies_after_receipt_makes_the_reply_fail() {
    let (mut w, a, b, c) = world();
    assert_eq!(w.send(a, b, b"x", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.send(c, b, b"y", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 8, 0), Ok(Done(0, w.tid(a) as u64)));
    drop(w.core.exit_task(w.core.thread(a).task, 1));
    assert_eq!(w.reply(b, b"r"), Err(Error::PeerDied));
    // A queued sender that dies just leaves the queue.
    drop(w.core.exit_task(w.core.thread(c).task, 1));
    assert_eq!(w.recv(b, 8, 0), Err(Error::Timeout));
}

#[test]
fn messages_from_a_dead_sender_are_not_lost() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"last words", ASYNC, 0), Ok(Done(1, 0)));
    drop(w.core.exit_task(w.core.thread(a).task, 0));
    assert_eq!(w.recv(b, 64, 0).map(|o| matches!(o, Done(1, _))), Ok(true));
    assert_eq!(w.received(b), b"last words");
}

#[test]
fn queues_are_bounded() {
    let (mut w, a, b, c) = world();
    for _ in 0..ASYNC_QUEUE_MAX {
        assert_eq!(w.send(a, b, b"m", ASYNC, 0), Ok(Done(1, 0)));
    }
    assert_eq!(w.send(a, b, b"m", ASYNC, 0), Err(Error::QueueFull), "mailbox bound");
    assert_eq!(w.send(c, b, b"m", ASYNC, 0), Err(Error::QueueFull), "for every sender");
    assert_eq!(w.recv(b, 8, 0).map(|_| ()), Ok(()));
    assert_eq!(w.send(c, b, b"m", ASYNC, 0), Ok(Done(1, 0)), "room again");
    // The sender's own bound, across many mailboxes.
    let mut many = World::new(&[1; 8]);
    let t = many.threads.clone();
    let mut sent = 0;
    'outer: for &to in &t[1..] {
        for _ in 0..ASYNC_QUEUE_MAX {
            match many.send(t[0], to, b"m", ASYNC, 0) {
                Ok(_) => sent += 1,
                Err(e) => {
                    assert_eq!(e, Error::QueueFull);
                    break 'outer;
                }
            }
        }
    }
    assert_eq!(sent, ASYNC_TASK_MAX);
}

#[test]
fn running_out_of_kernel_buffers_is_out_of_memory() {
    let (mut w, a, b, _) = world();
    w.core.buffers.limit = Some(2);
    assert_eq!(w.send(a, b, b"1", ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.send(a, b, b"2", ASYNC, 0), Ok(Done(1, 0)));
    assert_eq!(w.send(a, b, b"3", ASYNC, 0), Err(Error::OutOfMemory));
    assert_eq!(w.recv(b, 8, 0).map(|_| w.received(b)), Ok(b"1".to_vec()), "nothing lost");
}

#[test]
fn a_sender_whose_buffer_vanished_fails_and_the_receiver_moves_on() {
    let (mut w, a, b, c) = world();
    assert_eq!(w.send(a, b, b"x", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.send(c, b, b"y", SYNC, FOREVER), Ok(Blocked));
    w.mem(a).unmap(super::fixture::send_buf(a)); // another thread of a's task unmapped it
    assert_eq!(w.recv(b, 8, 0), Ok(Done(0, w.tid(c) as u64)));
    assert_eq!(w.take_wake(a), Some((code(Error::BadAddress), NOT_TRANSFERRED)));
    assert_eq!(w.received(b), b"y");
}

#[test]
fn a_receiver_whose_buffer_vanished_loses_nothing() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.recv(b, 8, FOREVER), Ok(Blocked));
    w.mem(b).unmap(super::fixture::recv_buf(b));
    assert_eq!(w.send(a, b, b"kept", ASYNC, 0), Ok(Done(1, 0)), "buffered instead");
    assert_eq!(w.take_wake(b), Some((code(Error::BadAddress), None)));
    w.mem(b).map(super::fixture::recv_buf(b), 1, true);
    assert_eq!(w.recv(b, 8, 0), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(w.received(b), b"kept");
}

#[test]
fn threads_of_one_task_talk_to_each_other() {
    let mut w = World::new(&[2]);
    let (x, y) = (w.threads[0], w.threads[1]);
    assert_eq!(w.send(x, y, b"sibling", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(y, 16, 0), Ok(Done(0, w.tid(x) as u64)));
    assert_eq!(w.received(y), b"sibling");
    assert_eq!(w.reply(y, b"hi"), Ok(Done(0, 0)));
    assert_eq!(w.reply_of(x), b"hi");
}

#[test]
fn a_reply_that_cannot_reach_its_caller_is_not_delivered() {
    // The caller's buffer goes (another thread of its task removed it) while it waits.
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"call", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 8, 0), Ok(Done(0, w.tid(a) as u64)));
    w.mem(a).unmap(super::fixture::send_buf(a));
    assert_eq!(w.reply(b, b"answer"), Err(Error::NotDelivered), "not 0: the reply was lost");
    assert_eq!(w.take_wake(a), Some((code(Error::BadAddress), NOT_TRANSFERRED)), "the caller is released");
    assert_eq!(w.reply(b, b"again"), Err(Error::NoReplyPending), "and owed nothing more");
    // A reply of length 0 writes no bytes, only *len_short: still delivered.
    w.mem(a).map(super::fixture::send_buf(a), 1, true);
    assert_eq!(w.send(a, b, b"call", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(b, 8, 0).map(|_| ()), Ok(()));
    assert_eq!(w.reply(b, b""), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
}

#[test]
fn a_fast_reply_that_cannot_reach_its_caller_is_not_delivered() {
    let (mut w, a, b, _) = world();
    assert_eq!(w.send(a, b, b"call", SYNC, FOREVER), Ok(Blocked));
    assert_eq!(w.reply_wait(b, None, 0).map(|_| ()), Ok(()));
    w.mem(a).unmap(super::fixture::send_buf(a));
    assert_eq!(w.reply_wait(b, Some(b"answer"), FOREVER), Err(Error::NotDelivered), "returned, without waiting");
    assert_eq!(w.state(b), State::Runnable);
    assert_eq!(w.take_wake(a), Some((code(Error::BadAddress), NOT_TRANSFERRED)));
    assert_eq!(w.reply_wait(b, None, 0), Err(Error::Timeout), "no reply pending any more: it just polls");
}
