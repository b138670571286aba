//! `ipc_send`: the three modes, its replies, timeouts and argument errors.

use crate::ipc::{self, wait_blocked, ASYNC, FOREVER, NOREPLY, SYNC};
use crate::peer;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use libsys::abi::Error;
use libsys::raw;
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

fn fail(e: Error) -> Msg {
    Msg::new(format_args!("setup failed: {e}"))
}

/// A local thread that blocks in `deschedule` until woken: it receives nothing meanwhile.
fn idle_thread() -> u32 {
    let t = libsys::thread::spawn(
        |_| {
            let zero = 0i32;
            // SAFETY: a valid i32.
            unsafe { raw::deschedule(&zero) };
        },
        0,
    )
    .expect("spawn");
    wait_blocked(t);
    t
}

fn stop_idle_thread(t: u32) {
    while raw::make_runnable(t) != 0 {
        libsys::time::yield_now();
    }
}

pub fn cases(s: &mut Suite) {
    s.case("send::sync_blocks_until_the_reply_which_replaces_the_message", || {
        let (task, echo) = peer::start(peer::ECHO, 0).map_err(fail)?;
        let mut buf = [0u8; 64];
        buf[..6].copy_from_slice(b"abcdef");
        let mut len = 6;
        ensure_eq!(ipc::send(echo, &mut buf, &mut len, SYNC, FOREVER), Ok(0), "call");
        ensure_eq!(len, 6, "reply length");
        ensure_eq!(&buf[..6], b"fedcba", "reply replaced message_short");
        wait_blocked(echo);
        ensure_eq!(ipc::send_msg(echo, b"quit", ASYNC, 0), Ok(0), "async to a waiting receiver returns 0");
        ensure_eq!(libsys::task::wait(task), Ok(0), "echo exits");
        Ok(())
    });

    s.case("send::reply_is_cut_to_the_senders_len_short", || {
        static SERVER: AtomicU32 = AtomicU32::new(0);
        let t = libsys::thread::spawn(
            |_| {
                let mut buf = [0u8; 64];
                if ipc::recv(&mut buf, FOREVER).is_ok() {
                    let _ = ipc::reply(&[b'R'; 100]);
                }
            },
            0,
        )
        .expect("spawn");
        SERVER.store(t, Ordering::SeqCst);
        let mut buf = [0u8; 200];
        let mut len = 10;
        ensure_eq!(ipc::send(t, &mut buf, &mut len, SYNC, FOREVER), Ok(0), "call");
        ensure_eq!(len, 10, "reply length capped by *len_short");
        ensure!(buf[..10].iter().all(|&b| b == b'R') && buf[10] == 0, "only 10 bytes copied");
        Ok(())
    });

    s.case("send::async_is_buffered_and_returns_1", || {
        let t = idle_thread();
        ensure_eq!(ipc::send_msg(t, b"later", ASYNC, 0), Ok(1), "buffered");
        stop_idle_thread(t);
        Ok(())
    });

    s.case("send::no_reply_mode_returns_once_received", || {
        static KIND: AtomicI32 = AtomicI32::new(-100);
        let t = libsys::thread::spawn(
            |_| {
                let mut buf = [0u8; 16];
                KIND.store(ipc::recv(&mut buf, FOREVER).map_or(-1, |r| r.kind), Ordering::SeqCst);
            },
            0,
        )
        .expect("spawn");
        ensure_eq!(ipc::send_msg(t, b"fyi", NOREPLY, FOREVER), Ok(0), "sync without reply");
        crate::load::wait_for(|| KIND.load(Ordering::SeqCst) != -100);
        ensure_eq!(KIND.load(Ordering::SeqCst), 2, "the receiver saw kind 2");
        Ok(())
    });

    s.case("send::argument_errors", || {
        let me = raw::gettid();
        let t = idle_thread();
        let mut buf = [0u8; 8];
        let mut len = 4u32;
        // SAFETY (all raw calls here): the kernel must refuse the bad pointers; valid ones
        // point at live locals.
        unsafe {
            let p = buf.as_mut_ptr();
            let null = core::ptr::null_mut();
            let kernel = 0xffff_ffff_8010_0000usize as *mut u8;
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, p, 0, &mut len, 0, false, 3)),
                Err(Error::InvalidArgument),
                "option_sync 3"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, p, 0, &mut len, 0, false, 257)),
                Err(Error::InvalidArgument),
                "option_sync 257"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, p, 0, null as *mut u32, 0, false, 0)),
                Err(Error::BadAddress),
                "len_short null"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, p, 0, kernel as *mut u32, 0, false, 0)),
                Err(Error::BadAddress),
                "len_short in the kernel"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, null, 0, &mut len, 0, false, 0)),
                Err(Error::BadAddress),
                "message null"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, kernel, 0, &mut len, 0, false, 0)),
                Err(Error::BadAddress),
                "message in the kernel"
            );
            let mut big = 4097u32;
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, p, 0, &mut big, 0, false, 0)),
                Err(Error::TooLong),
                "*len_short > 4096"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(0x7fff_0000, null, p, 0, &mut len, 0, false, 0)),
                Err(Error::NoSuchThread),
                "no such thread"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(0x7fff_0000, null, null, 0, &mut len, 0, false, 0)),
                Err(Error::BadAddress),
                "bad pointer before missing target"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(me, null, p, 0, &mut len, FOREVER, false, 1)),
                Err(Error::InvalidArgument),
                "synchronous send to oneself"
            );
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, p, 0, &mut len, -2, false, 1)),
                Err(Error::InvalidArgument),
                "timeout -2"
            );
            let mut zero = 0u32;
            ensure_eq!(
                ipc::result(raw::ipc_send(t, null, null, 0, &mut zero, 0, false, 0)),
                Ok(1),
                "length 0 ignores the pointer"
            );
        }
        stop_idle_thread(t);
        Ok(())
    });

    s.case("send::timeout_zero_needs_a_waiting_receiver", || {
        let t = idle_thread();
        ensure_eq!(ipc::send_msg(t, b"x", SYNC, 0), Err(Error::Timeout), "sync, nobody receiving");
        ensure_eq!(ipc::send_msg(t, b"x", NOREPLY, 0), Err(Error::Timeout), "no-reply, nobody receiving");
        stop_idle_thread(t);
        Ok(())
    });

    s.case("send::timeout_expires_when_nobody_receives", || {
        let t = idle_thread();
        let t0 = raw::get_ticks();
        ensure_eq!(ipc::send_msg(t, b"x", SYNC, 3), Err(Error::Timeout), "sync with timeout 3");
        let waited = raw::get_ticks() - t0;
        ensure!(waited >= 3, "gave up after {waited} ticks");
        stop_idle_thread(t);
        Ok(())
    });

    s.case("send::timeout_bounds_the_reply_and_the_late_reply_fails", || {
        static LATE_REPLY: AtomicI32 = AtomicI32::new(-100);
        let t = libsys::thread::spawn(
            |_| {
                let mut buf = [0u8; 8];
                if ipc::recv(&mut buf, FOREVER).is_ok() {
                    let _ = libsys::time::sleep(10);
                    LATE_REPLY.store(ipc::reply(b"late").unwrap_or_else(|e| e.code()), Ordering::SeqCst);
                }
            },
            0,
        )
        .expect("spawn");
        ensure_eq!(ipc::send_msg(t, b"q", SYNC, 3), Err(Error::Timeout), "the reply came too late");
        crate::load::wait_for(|| LATE_REPLY.load(Ordering::SeqCst) != -100);
        ensure_eq!(LATE_REPLY.load(Ordering::SeqCst), Error::Timeout.code(), "the late reply learns of the timeout");
        Ok(())
    });
}
