//! Short messages copied frame to frame (`transfer::put_short`, `umem::Walker`): whole pages
//! across page boundaries, buffers that share memory, a destination that vanished, and
//! the page-table walks each call costs.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::{code, lens, recv_buf, send_buf, World, NOT_TRANSFERRED};
use super::{RecvArgs, SendArgs};
use crate::task::ThreadSlot;
use crate::umem::UserMemory;
use abi::Error;

const SYNC: u32 = 1;
const FOREVER: i32 = -1;
const CALL: i64 = 0;
const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Three pages mapped in each test task, away from the fixture's own buffers.
const AREA: u64 = 0x3000_0000;

fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

fn put_len(w: &mut World, t: ThreadSlot, at: u64, n: u32) {
    w.mem(t).copy_out(at, &n.to_le_bytes()).unwrap();
}

fn bytes(w: &mut World, t: ThreadSlot, at: u64, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    w.mem(t).copy_in(at, &mut v).unwrap();
    v
}

/// A synchronous send by `from` to `to` of the `n` bytes at `at` (its `*len_short` at
/// `lens(from)`).
fn send_at(w: &mut World, from: ThreadSlot, to: ThreadSlot, at: u64, n: u32) -> Result<super::fixture::Outcome, Error> {
    put_len(w, from, lens(from), n);
    let a = SendArgs {
        id: w.tid(to),
        message_long: 0,
        message_short: at,
        len_long: 0,
        len_short: lens(from),
        timeout: FOREVER,
        shared: false,
        option_sync: SYNC,
    };
    w.core.switch_to(from);
    w.ipc_send(a)
}

/// A receive by `t` into `cap` bytes at `at`.
fn recv_at(w: &mut World, t: ThreadSlot, at: u64, cap: u32, timeout: i32) -> Result<super::fixture::Outcome, Error> {
    let a = RecvArgs { short_dest: at, ..w.recv_args(t, cap, timeout) };
    w.core.switch_to(t);
    w.ipc_recv(a)
}

#[test]
fn a_whole_page_crossing_page_boundaries_arrives_whole_both_ways() {
    for queued in [false, true] {
        let mut w = World::new(&[1, 1]);
        let (a, b) = (w.threads[0], w.threads[1]);
        w.mem(a).map(AREA, 3, true);
        w.mem(b).map(AREA, 3, true);
        // The sender's page starts 0x123 into its first page, the receiver's 0xabc into
        // its own: the copy splits at two different places.
        let (msg, room) = (AREA + 0x123, AREA + 0xabc);
        let request = pattern(1, PAGE as usize);
        w.mem(a).copy_out(msg, &request).unwrap();
        if queued {
            assert_eq!(send_at(&mut w, a, b, msg, PAGE as u32), Ok(Blocked));
            assert_eq!(recv_at(&mut w, b, room, PAGE as u32, 0), Ok(Done(0, w.tid(a) as u64)));
        } else {
            assert_eq!(recv_at(&mut w, b, room, PAGE as u32, FOREVER), Ok(Blocked));
            assert_eq!(send_at(&mut w, a, b, msg, PAGE as u32), Ok(Blocked));
            assert_eq!(w.take_wake(b), Some((CALL, Some(w.tid(a) as u64))));
        }
        assert_eq!(w.get_u32(b, lens(b) + 8), PAGE as u32);
        assert!(bytes(&mut w, b, room, PAGE as usize) == request, "the request, queued: {queued}");
        // The reply from yet another offset, back into the sender's buffer.
        let reply = pattern(9, PAGE as usize);
        w.mem(b).copy_out(AREA + 0x777, &reply).unwrap();
        w.core.switch_to(b);
        assert_eq!(w.ipc_reply(AREA + 0x777, PAGE as u32), Ok(Done(0, 0)));
        assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
        assert_eq!(w.get_u32(a, lens(a)), PAGE as u32);
        assert!(bytes(&mut w, a, msg, PAGE as usize) == reply, "the reply, queued: {queued}");
    }
}

#[test]
fn a_receiver_whose_length_word_vanished_fails_before_a_byte_is_written() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    assert_eq!(w.recv(b, 64, FOREVER), Ok(Blocked));
    w.mem(b).unmap(lens(b)); // another thread of b's task removed the page of its lengths
    assert_eq!(w.send(a, b, b"hello", SYNC, FOREVER), Ok(Blocked), "queued instead");
    assert_eq!(w.take_wake(b), Some((code(Error::BadAddress), None)));
    assert_eq!(bytes(&mut w, b, recv_buf(b), 5), [0; 5], "nothing reached the buffer");
    // Nothing is lost: the next receive gets it.
    w.mem(b).map(lens(b), 1, true);
    assert_eq!(w.recv(b, 64, 0), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.received(b), b"hello");
}

#[test]
fn threads_whose_buffers_share_memory_get_the_message_as_sent() {
    // Two threads of one task: the receiver's buffer is the sender's, three bytes on, both
    // across a page boundary. The receiver must get the bytes the sender sent, not bytes
    // the copy itself already overwrote.
    for shift in [3u64, 0] {
        let mut w = World::new(&[2]);
        let (x, y) = (w.threads[0], w.threads[1]);
        w.mem(x).map(AREA, 3, true);
        let (msg, room) = (AREA + 0xff0, AREA + 0xff0 + shift);
        let sent = pattern(5, 0x100);
        w.mem(x).copy_out(msg, &sent).unwrap();
        assert_eq!(recv_at(&mut w, y, room, 0x100, FOREVER), Ok(Blocked));
        assert_eq!(send_at(&mut w, x, y, msg, 0x100), Ok(Blocked));
        assert_eq!(w.take_wake(y), Some((CALL, Some(w.tid(x) as u64))));
        assert!(bytes(&mut w, y, room, 0x100) == sent, "shifted by {shift}");
    }
}

#[test]
fn each_user_page_is_looked_up_once_per_call() {
    // The fixture's buffers: each thread's send buffer, receive buffer and length words
    // are on three consecutive pages.
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let walks = |w: &mut World, t: ThreadSlot| w.mem(t).page_lookups();

    // ipc_recv: its length words (one page) and its buffer (another).
    let args = w.recv_args(b, 64, FOREVER);
    w.core.switch_to(b);
    let before = walks(&mut w, b);
    assert_eq!(w.ipc_recv(args), Ok(Blocked));
    assert_eq!(walks(&mut w, b) - before, 2, "ipc_recv");

    // ipc_send to the waiting receiver: the sender's length and message (two pages), the
    // receiver's buffer and its two length words (two pages).
    let args = w.send_args(a, w.tid(b), b"ping", SYNC, FOREVER);
    w.core.switch_to(a);
    let (sender, receiver) = (walks(&mut w, a), walks(&mut w, b));
    assert_eq!(w.ipc_send(args), Ok(Blocked));
    assert_eq!((walks(&mut w, a) - sender, walks(&mut w, b) - receiver), (2, 2), "ipc_send");
    assert_eq!(w.received(b), b"ping");

    // ipc_reply: the reply's page, remembered from the server's receive (its space
    // unchanged since), and the caller's buffer and length word: two pages of one parity,
    // of which the caller's last walk (its send) remembers one, so one walk.
    w.mem(b).copy_out(recv_buf(b), b"pong").unwrap();
    w.core.switch_to(b);
    let (caller, server) = (walks(&mut w, a), walks(&mut w, b));
    assert_eq!(w.ipc_reply(recv_buf(b), 4), Ok(Done(0, 0)));
    assert_eq!((walks(&mut w, a) - caller, walks(&mut w, b) - server), (1, 0), "ipc_reply");
    assert_eq!(bytes(&mut w, a, send_buf(a), 4), b"pong");
}

#[test]
fn a_receive_that_finds_a_message_queued_looks_each_page_up_once() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let walks = |w: &mut World, t: ThreadSlot| w.mem(t).page_lookups();

    // A queued caller: ipc_recv checks its buffers and copies into them, one walk per page
    // of its own (its buffer, its length words), one for the caller's message.
    assert_eq!(w.send(a, b, b"queued", SYNC, FOREVER), Ok(Blocked));
    let args = w.recv_args(b, 64, 0);
    w.core.switch_to(b);
    let (sender, receiver) = (walks(&mut w, a), walks(&mut w, b));
    assert_eq!(w.ipc_recv(args), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!((walks(&mut w, a) - sender, walks(&mut w, b) - receiver), (1, 2), "a queued sender");
    assert_eq!(w.received(b), b"queued");
    w.mem(b).copy_out(recv_buf(b), b"ok").unwrap();
    w.core.switch_to(b);
    assert_eq!(w.ipc_reply(recv_buf(b), 2), Ok(Done(0, 0)));

    // A buffered asynchronous message: the receiver's pages alone, remembered from its
    // last receive (its space unchanged since): no walk at all.
    assert_eq!(w.send(a, b, b"async", 0, 0), Ok(Done(1, 0)));
    let args = w.recv_args(b, 64, 0);
    w.core.switch_to(b);
    let receiver = walks(&mut w, b);
    assert_eq!(w.ipc_recv(args), Ok(Done(1, w.tid(a) as u64)));
    assert_eq!(walks(&mut w, b) - receiver, 0, "a buffered message");
    assert_eq!(w.received(b), b"async");
}

#[test]
fn remembered_pages_are_walked_again_once_the_space_has_changed() {
    let mut w = World::new(&[1, 1]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let walks = |w: &mut World, t: ThreadSlot| w.mem(t).page_lookups();
    let recv = |w: &mut World| {
        assert_eq!(w.send(a, b, b"async", 0, 0), Ok(Done(1, 0)));
        let args = w.recv_args(b, 64, 0);
        w.core.switch_to(b);
        let before = walks(w, b);
        let r = w.ipc_recv(args);
        (r, walks(w, b) - before)
    };
    assert_eq!(recv(&mut w), (Ok(Done(1, w.tid(a) as u64)), 2), "first: both pages walked");
    assert_eq!(recv(&mut w), (Ok(Done(1, w.tid(a) as u64)), 0), "the same pages, remembered");

    // Its buffer made read-only: the generation moves, so it is walked again and refused.
    w.mem(b).set_writable(recv_buf(b), false);
    let (r, n) = recv(&mut w);
    assert_eq!(r, Err(Error::BadAddress), "a page no longer writable is not written");
    assert!(n >= 1, "walked again after the change");
    w.mem(b).set_writable(recv_buf(b), true);

    // Its buffer unmapped: the remembered frame is not used.
    assert_eq!(recv(&mut w).0, Ok(Done(1, w.tid(a) as u64)), "the message left queued is taken");
    assert_eq!(recv(&mut w).0, Ok(Done(1, w.tid(a) as u64)));
    w.mem(b).unmap(recv_buf(b));
    assert_eq!(recv(&mut w).0, Err(Error::BadAddress), "an unmapped buffer is refused");
}
