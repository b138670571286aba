//! `ipc_recv` and `ipc_reply`: order, truncation, timeouts, pending replies, errors.

use crate::ipc::{self, wait_blocked, ASYNC, FOREVER, SYNC};
use core::sync::atomic::{AtomicI32, Ordering};
use libsys::abi::{ipc::ASYNC_QUEUE_MAX, Error};
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

pub fn cases(s: &mut Suite) {
    s.case("recv::senders_are_received_in_the_order_they_sent", || {
        // Asynchronous messages and a blocked synchronous sender, interleaved by send time.
        let me = raw::gettid();
        ensure_eq!(ipc::send_msg(me, b"1", ASYNC, 0), Ok(1), "async 1");
        let t = libsys::thread::spawn(
            |me| {
                let _ = ipc::send_msg(me as u32, b"2", SYNC, FOREVER);
            },
            me as usize,
        )
        .expect("spawn");
        wait_blocked(t); // now queued in our mailbox
        ensure_eq!(ipc::send_msg(me, b"3", ASYNC, 0), Ok(1), "async 3");
        let mut buf = [0u8; 8];
        for (want, kind, from) in [(b"1", 1, me), (b"2", 0, t), (b"3", 1, me)] {
            let r = ipc::recv(&mut buf, 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("recv: {e}")))?;
            ensure_eq!(&buf[..r.len as usize], want, "order");
            ensure_eq!((r.kind, r.sender), (kind, from), "kind and sender");
            if kind == 0 {
                ensure_eq!(ipc::reply(b""), Ok(0), "reply");
            }
        }
        Ok(())
    });

    s.case("recv::truncates_to_its_buffer", || {
        let me = raw::gettid();
        let long = [b'z'; 100];
        ensure_eq!(ipc::send_msg(me, &long, ASYNC, 0), Ok(1), "send");
        let mut buf = [0u8; 10];
        let r = ipc::recv(&mut buf, 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(r.len, 10, "*len_short is the bytes copied");
        ensure!(buf.iter().all(|&b| b == b'z'), "contents");
        Ok(())
    });

    s.case("recv::timeouts", || {
        let mut buf = [0u8; 8];
        ensure_eq!(ipc::recv(&mut buf, 0).map(|r| r.kind), Err(Error::Timeout), "poll on an empty mailbox");
        let t0 = raw::get_ticks();
        ensure_eq!(ipc::recv(&mut buf, 3).map(|r| r.kind), Err(Error::Timeout), "timeout 3");
        ensure!(raw::get_ticks() - t0 >= 3, "gave up early");
        Ok(())
    });

    s.case("recv::before_replying_is_reply_pending", || {
        static DONE: AtomicI32 = AtomicI32::new(-100);
        let me = raw::gettid();
        libsys::thread::spawn(
            |me| {
                DONE.store(ipc::send_msg(me as u32, b"?", SYNC, FOREVER).unwrap_or_else(|e| e.code()), Ordering::SeqCst)
            },
            me as usize,
        )
        .expect("spawn");
        let mut buf = [0u8; 8];
        ensure_eq!(ipc::recv(&mut buf, FOREVER).map(|r| r.kind), Ok(0), "a call");
        ensure_eq!(ipc::recv(&mut buf, 0).map(|r| r.kind), Err(Error::ReplyPending), "recv before reply");
        ensure_eq!(ipc::reply(b"!"), Ok(0), "reply");
        ensure_eq!(ipc::reply(b"!"), Err(Error::NoReplyPending), "second reply");
        crate::load::wait_for(|| DONE.load(Ordering::SeqCst) != -100);
        ensure_eq!(DONE.load(Ordering::SeqCst), 0, "the caller got its reply");
        Ok(())
    });

    s.case("recv::argument_errors", || {
        let mut buf = [0u8; 8];
        let mut len = 8u32;
        let mut long = 0u32;
        let null = core::ptr::null_mut();
        // SAFETY (all raw calls here): the kernel must refuse the bad pointers.
        unsafe {
            let p = buf.as_mut_ptr();
            ensure_eq!(
                ipc::result(raw::ipc_recv(null, p, &mut long, null as *mut u32, 0)),
                Err(Error::BadAddress),
                "len_short null"
            );
            ensure_eq!(
                ipc::result(raw::ipc_recv(null, null, &mut long, &mut len, 0)),
                Err(Error::BadAddress),
                "short_dest null"
            );
            ensure_eq!(
                ipc::result(raw::ipc_recv(null, p, null as *mut u32, &mut len, 0)),
                Err(Error::BadAddress),
                "len_long null"
            );
            let mut odd = 100u32;
            ensure_eq!(
                ipc::result(raw::ipc_recv(null, p, &mut odd, &mut len, 0)),
                Err(Error::Misaligned),
                "*len_long not a page multiple"
            );
            ensure_eq!(
                ipc::result(raw::ipc_recv(null, p, &mut long, &mut len, -7)),
                Err(Error::InvalidArgument),
                "timeout -7"
            );
        }
        Ok(())
    });

    s.case("reply::errors", || {
        ensure_eq!(ipc::reply(b"x"), Err(Error::NoReplyPending), "nothing received");
        // SAFETY: the kernel must refuse these before anything else.
        unsafe {
            ensure_eq!(ipc::result(raw::ipc_reply([0u8; 8].as_ptr(), 4097)), Err(Error::TooLong), "4097 bytes");
            ensure_eq!(ipc::result(raw::ipc_reply(core::ptr::null(), 4)), Err(Error::BadAddress), "null message");
        }
        Ok(())
    });

    s.case("reply::zero_length_still_unblocks", || {
        static DONE: AtomicI32 = AtomicI32::new(-100);
        let me = raw::gettid();
        libsys::thread::spawn(
            |me| {
                let mut buf = *b"keep";
                let mut len = 4;
                let r = ipc::send(me as u32, &mut buf, &mut len, SYNC, FOREVER);
                DONE.store(if r == Ok(0) && len == 0 { 1 } else { 2 }, Ordering::SeqCst);
            },
            me as usize,
        )
        .expect("spawn");
        let mut buf = [0u8; 8];
        ensure_eq!(ipc::recv(&mut buf, FOREVER).map(|r| r.kind), Ok(0), "a call");
        ensure_eq!(ipc::reply(b""), Ok(0), "empty reply");
        crate::load::wait_for(|| DONE.load(Ordering::SeqCst) != -100);
        ensure_eq!(DONE.load(Ordering::SeqCst), 1, "unblocked with *len_short = 0");
        Ok(())
    });

    s.case("queue::a_full_mailbox_is_queue_full", || {
        let me = raw::gettid();
        let before = raw::free_frames();
        for i in 0..ASYNC_QUEUE_MAX {
            ensure_eq!(ipc::send_msg(me, &[i as u8], ASYNC, 0), Ok(1), "message {i}");
        }
        ensure_eq!(ipc::send_msg(me, b"x", ASYNC, 0), Err(Error::QueueFull), "one too many");
        let mut buf = [0u8; 4];
        for i in 0..ASYNC_QUEUE_MAX {
            let r = ipc::recv(&mut buf, 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
            ensure_eq!(buf[0], i as u8, "in order");
            ensure_eq!(r.len, 1, "length");
        }
        ensure_eq!(raw::free_frames(), before, "kernel buffers all returned");
        Ok(())
    });
}
