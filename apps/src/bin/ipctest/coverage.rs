//! Cases that pin down rules the other modules only touched in passing: each one checks the
//! rule itself, directly, so it fails if that behaviour breaks (docs/spec-coverage.md cites
//! them).

use crate::ipc::{self, result, wait_blocked, ASYNC, FOREVER, NOREPLY, SYNC};
use crate::long::{fill, send_pages, OUT};
use crate::peer;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use libsys::abi::Error;
use libsys::raw;
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

const P: u64 = libsys::abi::PAGE_SIZE as u64;

fn fail(e: Error) -> Msg {
    Msg::new(format_args!("setup failed: {e}"))
}

/// Sends `pages` pages at `va` with an explicit `option_sync`.
fn send_long_mode(to: u32, va: u64, pages: u64, option_sync: u32) -> (Result<i32, Error>, [u8; 64], u32) {
    let mut buf = [0u8; 64];
    let mut len = 64u32;
    // SAFETY: `buf` is valid for 64 bytes; the pages are ours.
    let r = unsafe {
        raw::ipc_send(to, va as *mut u8, buf.as_mut_ptr(), (pages * P) as u32, &mut len, FOREVER, false, option_sync)
    };
    (result(r), buf, len)
}

pub fn cases(s: &mut Suite) {
    s.case("coverage::option_sync_is_ignored_for_long_messages", || {
        // With pages, 0 (async) and 2 (no reply) still make a call: the sender waits for
        // the server's reply and gets it in its buffer.
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        for (mode, tag) in [(ipc::ASYNC, 40u8), (NOREPLY, 50u8)] {
            fill(OUT, 2, tag).map_err(fail)?;
            let (r, buf, len) = send_long_mode(srv, OUT, 2, mode);
            ensure_eq!(r, Ok(0), "long send with option_sync {mode}");
            ensure_eq!(&buf[..len as usize], &[2, 0, tag, tag + 1], "the reply came back (a call) for mode {mode}");
        }
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        Ok(())
    });

    s.case("coverage::a_malformed_call_changes_nothing", || {
        // A receiver is waiting; malformed sends to it must neither wake it nor touch the
        // sender's own length, buffer or pages. The first message it then gets is the
        // well-formed one that follows.
        static GOT: AtomicU32 = AtomicU32::new(0);
        GOT.store(0, Ordering::SeqCst);
        let t = libsys::thread::spawn(
            |_| {
                let mut buf = [0u8; 16];
                if let Ok(r) = ipc::recv(&mut buf, FOREVER) {
                    GOT.store(u32::from_le_bytes([buf[0], buf[1], buf[2], r.len as u8]), Ordering::SeqCst);
                    if r.kind == 0 {
                        let _ = ipc::reply(b"");
                    }
                }
            },
            0,
        )
        .map_err(fail)?;
        wait_blocked(t);
        fill(OUT, 1, 7).map_err(fail)?;
        let mut buf = *b"xyz-----";
        let null = core::ptr::null_mut();
        let bad: [(&str, u64, u32, u32, i32, u32); 5] = [
            ("option_sync 3", 0, 0, 3, 0, 3),
            ("timeout -2 on a call", 0, 0, 3, -2, SYNC),
            ("misaligned long message", OUT + 8, P as u32, 3, FOREVER, SYNC),
            ("long length not whole pages", OUT, 100, 3, FOREVER, SYNC),
            ("long range past the pages", OUT, (2 * P) as u32, 3, FOREVER, SYNC),
        ];
        for (what, long, long_len, mut len, timeout, mode) in bad {
            let (p, l) = (long as *mut u8, long_len);
            let long = if l == 0 { null } else { p };
            // SAFETY: `buf` is valid for 8 bytes; the rest is deliberately malformed.
            let r = unsafe { raw::ipc_send(t, long, buf.as_mut_ptr(), l, &mut len, timeout, false, mode) };
            ensure!(r < 0, "{what}: accepted ({r})");
            ensure_eq!(len, 3, "{what}: *len_short untouched");
            ensure_eq!(&buf, b"xyz-----", "{what}: buffer untouched");
            ensure_eq!(GOT.load(Ordering::SeqCst), 0, "{what}: the receiver was not woken");
        }
        // SAFETY: our page, still mapped: no failed send moved it.
        ensure_eq!(unsafe { (OUT as *const u8).read_volatile() }, 7, "the pages stayed, unchanged");
        ensure_eq!(ipc::send_msg(t, b"ok!", SYNC, FOREVER), Ok(0), "a good call is then received");
        while GOT.load(Ordering::SeqCst) == 0 {
            libsys::time::yield_now();
        }
        ensure_eq!(GOT.load(Ordering::SeqCst), u32::from_le_bytes(*b"ok!\x03"), "first message received");
        // SAFETY: our region.
        unsafe { raw::remove_pages(OUT as *mut u8) };
        Ok(())
    });

    s.case("coverage::timeout_minus_one_waits_as_long_as_it_takes", || {
        // The receiver sleeps well past any short deadline before receiving: a send with
        // timeout -1 must still be waiting, and get its reply.
        static RESULT: AtomicI32 = AtomicI32::new(i32::MIN);
        RESULT.store(i32::MIN, Ordering::SeqCst);
        let me = raw::gettid();
        let t = libsys::thread::spawn(
            |me| {
                let r = ipc::send_msg(me as u32, b"wait", SYNC, FOREVER);
                RESULT.store(r.unwrap_or_else(|e| e.code()), Ordering::SeqCst);
            },
            me as usize,
        )
        .map_err(fail)?;
        wait_blocked(t);
        let before = raw::get_ticks();
        libsys::time::sleep(30).map_err(fail)?;
        ensure!(raw::get_ticks() >= before + 30, "slept 30 ticks");
        ensure_eq!(RESULT.load(Ordering::SeqCst), i32::MIN, "still waiting after 30 ticks");
        let mut buf = [0u8; 8];
        let r = ipc::recv(&mut buf, 0).map_err(fail)?;
        ensure_eq!((r.kind, r.sender, &buf[..4]), (0, t, &b"wait"[..]), "its call is received");
        ensure_eq!(ipc::reply(b""), Ok(0), "reply");
        while RESULT.load(Ordering::SeqCst) == i32::MIN {
            libsys::time::yield_now();
        }
        ensure_eq!(RESULT.load(Ordering::SeqCst), 0, "the send returned 0");
        Ok(())
    });

    s.case("coverage::zero_lengths_ignore_the_pointers", || {
        // `*len_short = 0` on a receive and `message_len = 0` on a reply: the pointers may
        // be anything (here null); the message still arrives and the sender is released.
        static RESULT: AtomicI32 = AtomicI32::new(i32::MIN);
        RESULT.store(i32::MIN, Ordering::SeqCst);
        let me = raw::gettid();
        let t = libsys::thread::spawn(
            |me| {
                let mut buf = *b"keep";
                let mut len = 4u32;
                let r = ipc::send(me as u32, &mut buf, &mut len, SYNC, FOREVER);
                RESULT.store(r.map(|_| len as i32).unwrap_or_else(|e| e.code()), Ordering::SeqCst);
            },
            me as usize,
        )
        .map_err(fail)?;
        let null = core::ptr::null_mut();
        let (mut len, mut long) = (0u32, 0u32);
        // SAFETY: zero lengths: the kernel must not touch the null buffers.
        let (r, from) = unsafe { raw::ipc_recv_from(null, null, &mut long, &mut len, FOREVER) };
        ensure_eq!((r, from.tid, len, long), (0, t, 0, 0), "received the call with no bytes");
        // SAFETY: message_len 0: nothing is read.
        ensure_eq!(result(unsafe { raw::ipc_reply(core::ptr::null(), 0) }), Ok(0), "null reply of length 0");
        while RESULT.load(Ordering::SeqCst) == i32::MIN {
            libsys::time::yield_now();
        }
        ensure_eq!(RESULT.load(Ordering::SeqCst), 0, "the sender was released with a 0-byte reply");
        Ok(())
    });

    s.case("coverage::a_received_sender_stays_blocked_until_the_reply", || {
        // After ipc_recv takes a call, the caller must not return however often it could
        // run: only ipc_reply releases it.
        static RETURNED: AtomicBool = AtomicBool::new(false);
        RETURNED.store(false, Ordering::SeqCst);
        let me = raw::gettid();
        let t = libsys::thread::spawn(
            |me| {
                let _ = ipc::send_msg(me as u32, b"call", SYNC, FOREVER);
                RETURNED.store(true, Ordering::SeqCst);
            },
            me as usize,
        )
        .map_err(fail)?;
        let mut buf = [0u8; 8];
        let r = ipc::recv(&mut buf, FOREVER).map_err(fail)?;
        ensure_eq!((r.kind, r.sender), (0, t), "the call");
        for _ in 0..50 {
            ensure_eq!(raw::yield_to(t as i32), Error::NotRunnable.code(), "the caller is not runnable");
            libsys::time::yield_now();
        }
        libsys::time::sleep(2).map_err(fail)?;
        ensure!(!RETURNED.load(Ordering::SeqCst), "the caller returned before the reply");
        ensure_eq!(ipc::reply(b""), Ok(0), "reply");
        while !RETURNED.load(Ordering::SeqCst) {
            libsys::time::yield_now();
        }
        Ok(())
    });

    s.case("coverage::a_fast_server_answers_every_kind_of_sender", || {
        // One server in `ipc_reply_wait`; callers in registers from two threads, an
        // ordinary `ipc_send` call, and an asynchronous message: each reaches it, and each
        // caller gets its own answer (the message plus one, in every word).
        static SERVER: AtomicU32 = AtomicU32::new(0);
        static DONE: AtomicU32 = AtomicU32::new(0);
        static BAD: AtomicU32 = AtomicU32::new(0);
        const MESSAGES: u32 = 2 * 20 + 20 + 1;
        DONE.store(0, Ordering::SeqCst);
        BAD.store(0, Ordering::SeqCst);
        let server = libsys::thread::spawn(
            |_| {
                let mut reply = None;
                for _ in 0..MESSAGES {
                    // SAFETY: registers only.
                    let (kind, _, len, words) = unsafe { raw::ipc_reply_wait(reply.take(), FOREVER) };
                    if kind == 0 {
                        reply = Some((len, words.map(|w| w + 1)));
                    } else if kind != 1 || len != 8 || words[0] != 0xa5a5 {
                        BAD.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if let Some(r) = reply {
                    // SAFETY: registers only.
                    unsafe { raw::ipc_reply_wait(Some(r), 0) };
                }
            },
            0,
        )
        .map_err(fail)?;
        SERVER.store(server, Ordering::SeqCst);
        wait_blocked(server);
        for base in [100u64, 200] {
            libsys::thread::spawn(
                |base| {
                    let srv = SERVER.load(Ordering::SeqCst);
                    for i in 0..20u64 {
                        let w = [base as u64 + i, 1, 2, 3, 4];
                        // SAFETY: registers only.
                        let (r, len, out) = unsafe { raw::ipc_call_fast(srv, 40, w, FOREVER) };
                        if r != 0 || len != 40 || out != w.map(|x| x + 1) {
                            BAD.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    DONE.fetch_add(1, Ordering::SeqCst);
                },
                base as usize,
            )
            .map_err(fail)?;
        }
        ensure_eq!(ipc::send_msg(server, &0xa5a5u64.to_le_bytes(), ASYNC, 0).map(|_| ()), Ok(()), "async");
        for i in 0..20u8 {
            let mut buf = [0u8; 40];
            buf[0] = i;
            let mut len = 40u32;
            ensure_eq!(ipc::send(server, &mut buf, &mut len, SYNC, FOREVER), Ok(0), "ordinary call {i}");
            ensure_eq!((len, buf[0], buf[8]), (40, i + 1, 1), "ordinary call {i}: its own answer");
        }
        while DONE.load(Ordering::SeqCst) < 2 {
            libsys::time::yield_now();
        }
        ensure_eq!(BAD.load(Ordering::SeqCst), 0, "wrong answers or messages");
        Ok(())
    });
}
