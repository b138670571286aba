//! In-guest tests of libsys's typed IPC (`libsys::ipc`): typed calls and replies, async and
//! no-reply messages, malformed messages, reply tokens, pages that move or are shared by
//! value, and typed interfaces (`iface`).
#![no_std]
#![no_main]

extern crate alloc;

mod iface;

use core::sync::atomic::{AtomicU32, Ordering};
use libsys::ipc::{self, Delivery, Incoming, IpcError, Next, Pages, Received, Timeout, Window};
use libsys::{raw, Message};
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

libsys::entry!(main);

#[derive(Message, Debug, PartialEq, Clone, Copy)]
#[repr(u8)]
enum Op {
    Add = 1,
    Mul = 2,
    Stop = 3,
}

#[derive(Message, Debug, PartialEq)]
#[repr(C)]
#[message(reply = Answer)]
struct Calc {
    a: u32,
    b: u32,
    op: Op,
    pad: [u8; 3],
}

#[derive(Message, Debug, PartialEq)]
#[repr(C)]
struct Answer {
    value: u64,
    by: u32,
    pages_seen: u32,
}

/// The same request, too large for the registers: it takes the general path.
#[derive(Message, Debug, PartialEq)]
#[repr(C)]
#[message(reply = Answer)]
struct BigCalc {
    a: u32,
    b: u32,
    op: Op,
    pad: [u8; 55],
}

/// What both servers compute (`None`: stop).
fn compute(op: Op, a: u32, b: u32) -> Option<u64> {
    match op {
        Op::Add => Some(a as u64 + b as u64),
        Op::Mul => Some(a as u64 * b as u64),
        Op::Stop => None,
    }
}

/// A server loop on the fast path: `receive`, then `reply_and_receive` for every call.
fn fast_server(_: usize) {
    let mut next = ipc::receive::<Calc>(Timeout::Forever);
    loop {
        match next {
            Ok(Incoming::Call { msg, reply, .. }) => {
                let Some(value) = compute(msg.op, msg.a, msg.b) else {
                    let _ = reply.reply(&Answer { value: 0, by: raw::gettid(), pages_seen: 0 });
                    return;
                };
                next = reply.reply_and_receive(&Answer { value, by: raw::gettid(), pages_seen: 0 }, Timeout::Forever);
            }
            _ => next = ipc::receive::<Calc>(Timeout::Forever),
        }
    }
}

/// A server for `BigCalc` (general path both ways).
fn slow_server(_: usize) {
    loop {
        if let Ok(Incoming::Call { msg, reply, .. }) = ipc::receive::<BigCalc>(Timeout::Forever) {
            let value = compute(msg.op, msg.a, msg.b);
            let _ = reply.reply(&Answer { value: value.unwrap_or(0), by: raw::gettid(), pages_seen: 0 });
            if value.is_none() {
                return;
            }
        }
    }
}

/// The fields `serve_server` reads, of `Calc` (in registers) and `BigCalc` (in memory).
trait Request: Message<Reply = Answer> {
    fn parts(&self) -> (u32, u32, Op);
}

impl Request for Calc {
    fn parts(&self) -> (u32, u32, Op) {
        (self.a, self.b, self.op)
    }
}

impl Request for BigCalc {
    fn parts(&self) -> (u32, u32, Op) {
        (self.a, self.b, self.op)
    }
}

/// What `serve_server` saw besides calls it answered, in order: `a` of each asynchronous
/// message, `ERRORS + n` for the n-th error; and whether its `serve` returned.
static SERVE_LOG: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static SERVE_LOGGED: AtomicU32 = AtomicU32::new(0);
static SERVE_RETURNED: AtomicU32 = AtomicU32::new(0);
const ERRORS: u32 = 1000;
/// A call with this `a` is not answered: its token is dropped, which refuses it.
const IGNORED: u32 = 0xdead;

fn serve_log(v: u32) {
    let i = SERVE_LOGGED.load(Ordering::SeqCst) as usize;
    if i < SERVE_LOG.len() {
        SERVE_LOG[i].store(v, Ordering::SeqCst);
        SERVE_LOGGED.store(i as u32 + 1, Ordering::SeqCst);
    }
}

/// A server on `ipc::serve`: every way a handler can go on (`Next::Reply`, `Next::Receive`
/// with a token dropped or with nothing to answer, `Next::Stop`).
fn serve_server<M: Request>(_: usize) {
    let mut errors = 0;
    ipc::serve::<M, _>(Timeout::Forever, |next| match next {
        Ok(Incoming::Call { msg, reply, .. }) => {
            let (a, b, op) = msg.parts();
            match compute(op, a, b) {
                _ if a == IGNORED => Next::Receive, // `reply` dropped here: an empty answer
                Some(value) => Next::Reply(reply, Answer { value, by: raw::gettid(), pages_seen: 0 }),
                None => {
                    let _ = reply.reply(&Answer { value: 0, by: raw::gettid(), pages_seen: 0 });
                    Next::Stop
                }
            }
        }
        Ok(Incoming::Async { msg, .. } | Incoming::NoReply { msg, .. }) => {
            serve_log(msg.parts().0);
            Next::Receive
        }
        Ok(Incoming::Interrupt { .. }) => Next::Receive,
        Err(_) => {
            errors += 1;
            serve_log(ERRORS + errors);
            Next::Receive
        }
    });
    SERVE_RETURNED.store(1, Ordering::SeqCst);
}

/// Drives one `serve_server` (spawned by the caller) through each of its ways on.
/// `request(a, b, op)` makes its request type, `malformed` is a call whose `Op` tag is no
/// `Op`, of the request's size.
fn exercise_serve<M: Request>(
    server: u32,
    request: impl Fn(u32, u32, Op) -> M,
    malformed: &mut [u8],
) -> Result<(), Msg> {
    SERVE_LOGGED.store(0, Ordering::SeqCst);
    SERVE_RETURNED.store(0, Ordering::SeqCst);
    for i in 0..50u32 {
        let op = if i % 2 == 0 { Op::Add } else { Op::Mul };
        let r: Answer = ipc::call(server, &request(i, i + 3, op), Timeout::Forever)
            .map_err(|e| Msg::new(format_args!("call {i}: {e}")))?;
        ensure_eq!(r.value, compute(op, i, i + 3).unwrap_or(0), "call {i} answered");
        ensure_eq!(r.by, server, "by the serving thread");
    }
    // An asynchronous message, then a call: the server took the message first.
    ensure!(ipc::send(server, &request(5, 0, Op::Add)).is_ok(), "send");
    ipc::call(server, &request(1, 1, Op::Add), Timeout::Forever)
        .map_err(|e| Msg::new(format_args!("the call after the message: {e}")))?;
    // A malformed call: answered empty at once (its decode of the reply fails), and the
    // handler is given the decode error.
    let mut len = malformed.len() as u32;
    // SAFETY: a valid local buffer, answered into.
    let r = unsafe { raw::ipc_send(server, core::ptr::null_mut(), malformed.as_mut_ptr(), 0, &mut len, -1, false, 1) };
    ensure_eq!((r, len), (0, 0), "a malformed call is answered, empty");
    // A dropped token refuses the call.
    let refused = ipc::call(server, &request(IGNORED, 0, Op::Add), Timeout::Forever);
    ensure_eq!(refused.err(), Some(IpcError::Refused(ipc::Refusal::Unanswered)), "the drop answered the call");
    // Still serving, then told to stop: `serve` returns.
    let r = ipc::call(server, &request(2, 3, Op::Mul), Timeout::Forever)
        .map_err(|e| Msg::new(format_args!("the call after the refusal: {e}")))?;
    ensure_eq!(r.value, 6, "served after all of that");
    ipc::call(server, &request(0, 0, Op::Stop), Timeout::Forever)
        .map_err(|e| Msg::new(format_args!("the stop: {e}")))?;
    while SERVE_RETURNED.load(Ordering::SeqCst) == 0 {
        libsys::time::yield_now();
    }
    let log: [u32; 2] = core::array::from_fn(|i| SERVE_LOG[i].load(Ordering::SeqCst));
    ensure_eq!((SERVE_LOGGED.load(Ordering::SeqCst), log), (2, [5, ERRORS + 1]), "the message, then the error");
    Ok(())
}

const WINDOW: u64 = libsys::abi::layout::PROGRAM_REGION.0 + 0x5000_0000;
const OUT: u64 = libsys::abi::layout::PROGRAM_REGION.0 + 0x6000_0000;

/// A calculator server thread: answers `Calc` calls until told to stop; pages that come
/// with a call are summed (first byte of each) into `pages_seen`, and written to if shared.
fn server(_: usize) {
    loop {
        let Ok((incoming, pages)) = ipc::receive_with_pages::<Calc>(Window::new(WINDOW, 8), Timeout::Forever) else {
            continue;
        };
        let pages_seen = match &pages {
            Received::None => 0,
            Received::Moved(p) => p.as_bytes().chunks(4096).map(|c| c[0] as u32).sum(),
            Received::Shared(p) => {
                // SAFETY: the shared pages are mapped writable here; the sender expects this.
                unsafe { (p.base() as *mut u8).write_volatile(0xee) };
                1000 + p.count() as u32
            }
        };
        drop(pages); // unmaps our mapping (moved pages are freed, shared ones stay the sender's)
        match incoming {
            Incoming::Call { msg, reply, .. } => {
                let value = compute(msg.op, msg.a, msg.b);
                let _ = reply.reply(&Answer { value: value.unwrap_or(0), by: raw::gettid(), pages_seen });
                if value.is_none() {
                    return;
                }
            }
            Incoming::Async { msg, .. } | Incoming::NoReply { msg, .. } => {
                let i = LOGGED.load(Ordering::SeqCst) as usize;
                if i < LOG.len() {
                    LOG[i].store(msg.a, Ordering::SeqCst);
                    LOGGED.store(i as u32 + 1, Ordering::SeqCst);
                }
            }
            Incoming::Interrupt { .. } => {} // this server drives no device
        }
    }
}

/// The `a` of every non-call message the server got, in order.
static LOG: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static LOGGED: AtomicU32 = AtomicU32::new(0);

pub(crate) fn fail(e: impl core::fmt::Display) -> Msg {
    Msg::new(format_args!("{e}"))
}

fn main() -> i32 {
    let mut s = Suite::new();
    let srv = libsys::thread::spawn(server, 0).expect("server thread");
    let calc = |a, b, op| Calc { a, b, op, pad: [0; 3] };

    s.case("typed::call_returns_the_declared_reply_type", || {
        let r: Answer = ipc::call(srv, &calc(20, 22, Op::Add), Timeout::Forever).map_err(fail)?;
        ensure_eq!(r.value, 42, "2 + 40");
        ensure_eq!(r.by, srv, "answered by the server thread");
        let r = ipc::call(srv, &calc(6, 7, Op::Mul), Timeout::Ticks(100)).map_err(fail)?;
        ensure_eq!(r.value, 42, "6 * 7");
        Ok(())
    });

    s.case("typed::async_and_no_reply_messages", || {
        ensure!(matches!(ipc::send(srv, &calc(5, 0, Op::Add)), Ok(Delivery::Delivered | Delivery::Queued)), "send");
        ipc::notify(srv, &calc(9, 0, Op::Add), Timeout::Forever).map_err(fail)?;
        // `notify` returns once the message is received; the server logs it just after.
        while LOGGED.load(Ordering::SeqCst) < 2 {
            libsys::time::yield_now();
        }
        ensure_eq!([LOG[0].load(Ordering::SeqCst), LOG[1].load(Ordering::SeqCst)], [5, 9], "both, in the order sent");
        Ok(())
    });

    s.case("typed::a_malformed_call_is_answered_and_reported", || {
        static RESULT: AtomicU32 = AtomicU32::new(0);
        let me = raw::gettid();
        libsys::thread::spawn(
            |me| {
                // Op tag 9 does not exist.
                let mut bad = [1u8, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0];
                let mut len = 16u32;
                // SAFETY: a valid local buffer.
                let r = unsafe {
                    raw::ipc_send(me as u32, core::ptr::null_mut(), bad.as_mut_ptr(), 0, &mut len, -1, false, 1)
                };
                RESULT.store(if r == 0 && len == 0 { 1 } else { 2 }, Ordering::SeqCst);
            },
            me as usize,
        )
        .expect("spawn");
        let got = ipc::receive::<Calc>(Timeout::Forever);
        ensure!(matches!(got, Err(IpcError::Decode(_))), "a bad tag is a decode error");
        while RESULT.load(Ordering::SeqCst) == 0 {
            libsys::time::yield_now();
        }
        ensure_eq!(RESULT.load(Ordering::SeqCst), 1, "the caller was answered (empty) instead of left waiting");
        ensure!(ipc::receive::<Calc>(Timeout::Poll).is_err(), "and no reply is pending");
        Ok(())
    });

    s.case("typed::pages_move_by_value", || {
        let mut pages = Pages::alloc(OUT, 3).map_err(fail)?;
        for (i, chunk) in pages.as_bytes_mut().chunks_mut(4096).enumerate() {
            chunk.fill(10 + i as u8);
        }
        let r = ipc::call_moving(srv, &calc(0, 0, Op::Add), pages, Timeout::Forever).map_err(|e| fail(e.error))?;
        ensure_eq!(r.pages_seen, 10 + 11 + 12, "the server saw the three pages");
        // They are gone: the range can be allocated afresh.
        let again = Pages::alloc(OUT, 3).map_err(fail)?;
        ensure_eq!(again.as_bytes()[0], 0, "fresh zeroed pages");
        Ok(())
    });

    s.case("typed::shared_pages_are_seen_by_both", || {
        let shared = Pages::alloc(OUT + 0x10_0000, 2).map_err(fail)?.into_shared();
        let r = ipc::call_sharing(srv, &calc(0, 0, Op::Add), &shared, Timeout::Forever).map_err(fail)?;
        ensure_eq!(r.pages_seen, 1002, "received as shared, two pages");
        ensure_eq!(shared.as_bytes()[0], 0xee, "the server's write shows here");
        Ok(())
    });

    s.case("typed::a_failed_move_gives_the_pages_back", || {
        let pages = Pages::alloc(OUT + 0x20_0000, 1).map_err(fail)?;
        match ipc::call_moving(0x7fff_0000, &calc(0, 0, Op::Add), pages, Timeout::Forever) {
            Err(e) => {
                ensure_eq!(e.error, IpcError::Sys(libsys::abi::Error::NoSuchThread), "no such thread");
                ensure!(e.pages.is_some(), "the pages did not move, so they come back");
            }
            Ok(_) => return Err(fail("a call to nobody succeeded")),
        }
        Ok(())
    });

    s.case("typed::at_the_region_limit_a_move_that_failed_first_keeps_its_pages", || {
        // call_moving used to probe new_pages to guess whether the pages had left; at the
        // region limit the probe failed, and it removed pages that were still ours.
        const FILL: u64 = OUT + 0x100_0000;
        let mut pages = Pages::alloc(OUT + 0x30_0000, 2).map_err(fail)?;
        pages.as_bytes_mut().fill(0x3c);
        let mut fillers = 0u64;
        let full = loop {
            // SAFETY: FILL.. belongs to this case.
            let r = unsafe { raw::new_pages((FILL + fillers * 4096) as *mut u8, 4096) };
            if r < 0 || fillers == 1000 {
                break r;
            }
            fillers += 1;
        };
        // At the limit: nothing below may allocate before the fillers go.
        let moved = ipc::call_moving(0x7fff_0000, &calc(0, 0, Op::Add), pages, Timeout::Forever);
        for i in 0..fillers {
            // SAFETY: the fillers are this case's and used by nothing.
            unsafe { raw::remove_pages((FILL + i * 4096) as *mut u8) };
        }
        ensure_eq!(full, libsys::abi::Error::OutOfMemory.code(), "the region table was full");
        let Err(e) = moved else { return Err(fail("a call to nobody succeeded")) };
        ensure_eq!(e.error, IpcError::Sys(libsys::abi::Error::NoSuchThread), "no such thread");
        let Some(mut back) = e.pages else { return Err(fail("the pages never left, but were not given back")) };
        ensure!(back.as_bytes().iter().all(|&b| b == 0x3c), "still mapped, contents intact");
        back.as_bytes_mut()[4096] = 0x77;
        ensure_eq!(back.as_bytes()[4096], 0x77, "and writable");
        Ok(())
    });

    s.case("typed::a_move_whose_receiver_died_after_the_transfer_knows_the_pages_left", || {
        const WIN: u64 = WINDOW + 0x100_0000;
        let taker = libsys::thread::spawn(
            |_| {
                // Takes the call and its pages, then ends without replying, keeping them.
                // (Forgetting the token: dropping it would answer the call.)
                if let Ok((Incoming::Call { reply, .. }, pages)) =
                    ipc::receive_with_pages::<Calc>(Window::new(WIN, 4), Timeout::Forever)
                {
                    core::mem::forget(reply);
                    core::mem::forget(pages);
                }
            },
            0,
        )
        .map_err(fail)?;
        let mut pages = Pages::alloc(OUT + 0x40_0000, 3).map_err(fail)?;
        pages.as_bytes_mut().fill(0x4d);
        match ipc::call_moving(taker, &calc(0, 0, Op::Add), pages, Timeout::Forever) {
            Err(e) => {
                ensure_eq!(e.error, IpcError::Sys(libsys::abi::Error::PeerDied), "the receiver died first");
                ensure!(e.pages.is_none(), "the pages had left, and the caller knows it");
            }
            Ok(_) => return Err(fail("the receiver replied")),
        }
        // They are where the receiver took them (a thread of this task), not here.
        // SAFETY: the taker's window, mapped by the transfer and kept.
        ensure_eq!(unsafe { (WIN as *const u8).read_volatile() }, 0x4d, "at the receiver's window");
        let again = Pages::alloc(OUT + 0x40_0000, 3).map_err(fail)?;
        ensure_eq!(again.as_bytes()[0], 0, "the old range is free");
        // SAFETY: the taker's window is this task's region; nothing uses it any more.
        unsafe { raw::remove_pages(WIN as *mut u8) };
        Ok(())
    });

    s.case("typed::fast_and_general_paths_agree", || {
        const { assert!(Calc::FITS_FAST_PATH && !BigCalc::FITS_FAST_PATH) };
        let fast = libsys::thread::spawn(fast_server, 0).map_err(fail)?;
        let slow = libsys::thread::spawn(slow_server, 0).map_err(fail)?;
        for i in 0..200u32 {
            let op = if i % 2 == 0 { Op::Add } else { Op::Mul };
            let f = ipc::call(fast, &Calc { a: i, b: i + 3, op, pad: [0; 3] }, Timeout::Forever).map_err(fail)?;
            let g = ipc::call(slow, &BigCalc { a: i, b: i + 3, op, pad: [0; 55] }, Timeout::Forever).map_err(fail)?;
            ensure_eq!(f.value, g.value, "call {i}: registers and memory give the same answer");
            ensure_eq!((f.by, g.by), (fast, slow), "answered by the right servers");
        }
        ipc::call(fast, &calc(0, 0, Op::Stop), Timeout::Forever).map_err(fail)?;
        ipc::call(slow, &BigCalc { a: 0, b: 0, op: Op::Stop, pad: [0; 55] }, Timeout::Forever).map_err(fail)?;
        Ok(())
    });

    s.case("typed::serve_replies_receives_and_stops_in_registers", || {
        const { assert!(Calc::FITS_FAST_PATH) };
        let server = libsys::thread::spawn(serve_server::<Calc>, 0).map_err(fail)?;
        let mut bad = [1u8, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0];
        exercise_serve(server, |a, b, op| Calc { a, b, op, pad: [0; 3] }, &mut bad)
    });

    s.case("typed::serve_replies_receives_and_stops_in_memory", || {
        const { assert!(!BigCalc::FITS_FAST_PATH) };
        let server = libsys::thread::spawn(serve_server::<BigCalc>, 0).map_err(fail)?;
        let mut bad = [0u8; BigCalc::SIZE];
        bad[8] = 9; // no `Op`
        exercise_serve(server, |a, b, op| BigCalc { a, b, op, pad: [0; 55] }, &mut bad)
    });

    s.case("typed::a_dropped_reply_token_refuses_the_call", || {
        // A server that ignores a call (`Incoming::Call { msg, .. }`) used to leave its
        // caller waiting and fail every later receive with `ReplyPending`.
        static SERVED: AtomicU32 = AtomicU32::new(0);
        let ignorer = libsys::thread::spawn(
            |_| {
                // First call: the token is dropped unanswered with the `Incoming`.
                if let Ok(Incoming::Call { msg, .. }) = ipc::receive::<Calc>(Timeout::Forever) {
                    SERVED.store(msg.a, Ordering::SeqCst);
                }
                // Second call: receiving works (no reply is pending), and it is answered.
                if let Ok(Incoming::Call { msg, reply, .. }) = ipc::receive::<Calc>(Timeout::Forever) {
                    let _ = reply.reply(&Answer { value: msg.a as u64, by: raw::gettid(), pages_seen: 0 });
                }
            },
            0,
        )
        .map_err(fail)?;
        // The timeout only turns the old behaviour (waiting for ever) into a failure.
        let first = ipc::call(ignorer, &calc(11, 0, Op::Add), Timeout::Ticks(1000));
        ensure_eq!(first.err(), Some(IpcError::Refused(ipc::Refusal::Unanswered)), "the drop answered the call");
        ensure_eq!(SERVED.load(Ordering::SeqCst), 11, "the server did receive it");
        let second = ipc::call(ignorer, &calc(12, 0, Op::Add), Timeout::Ticks(1000)).map_err(fail)?;
        ensure_eq!(second.value, 12, "the next call is served");
        Ok(())
    });

    s.case("typed::server_stops", || {
        let r = ipc::call(srv, &calc(0, 0, Op::Stop), Timeout::Forever).map_err(fail)?;
        ensure_eq!(r.value, 0, "stop acknowledged");
        Ok(())
    });

    iface::cases(&mut s);
    s.finish()
}
