//! Peers that die: every party waiting on a dead thread is released with `PeerDied`, and
//! nothing a dead sender sent is lost.

use crate::ipc::{self, wait_blocked, ASYNC, FOREVER, SYNC};
use crate::peer;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use libsys::abi::Error;
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

fn fail(e: Error) -> Msg {
    Msg::new(format_args!("setup failed: {e}"))
}

pub fn cases(s: &mut Suite) {
    s.case("death::reply_to_a_sender_that_died_is_peer_died", || {
        let (task, _main) = peer::start(peer::DIE_AWAITING_REPLY, 0).map_err(fail)?;
        let helper = peer::helper_tid().map_err(fail)?;
        let mut buf = [0u8; 8];
        let call = ipc::recv(&mut buf, FOREVER).map_err(fail)?;
        ensure_eq!(call.kind, 0, "the peer's call");
        ensure_eq!(ipc::send_msg(helper, b"die", ASYNC, 0).map(|_| ()), Ok(()), "tell the helper");
        ensure_eq!(libsys::task::wait(task), Ok(7), "the peer task ended");
        ensure_eq!(ipc::reply(b"too late"), Err(Error::PeerDied), "reply after the sender died");
        Ok(())
    });

    s.case("death::a_receiver_that_dies_releases_its_caller", || {
        let (task, t) = peer::start(peer::DIE_HOLDING_CALL, 0).map_err(fail)?;
        ensure_eq!(ipc::send_msg(t, b"help", SYNC, FOREVER), Err(Error::PeerDied), "call to a receiver that exits");
        ensure_eq!(libsys::task::wait(task), Ok(8), "it exited without replying");
        Ok(())
    });

    s.case("death::senders_queued_on_a_dying_thread_are_released", || {
        static RESULT: AtomicI32 = AtomicI32::new(-100);
        static TARGET: AtomicU32 = AtomicU32::new(0);
        let (task, main) = peer::start(peer::DIE_WITH_QUEUE, 0).map_err(fail)?;
        let helper = peer::helper_tid().map_err(fail)?;
        TARGET.store(main, Ordering::SeqCst);
        let caller = libsys::thread::spawn(
            |_| {
                let r = ipc::send_msg(TARGET.load(Ordering::SeqCst), b"hello?", SYNC, FOREVER);
                RESULT.store(r.unwrap_or_else(|e| e.code()), Ordering::SeqCst);
            },
            0,
        )
        .expect("spawn");
        wait_blocked(caller); // queued in a mailbox nobody reads
        ensure_eq!(ipc::send_msg(helper, b"die", ASYNC, 0).map(|_| ()), Ok(()), "tell the helper");
        ensure_eq!(libsys::task::wait(task), Ok(9), "the peer task ended");
        crate::load::wait_for(|| RESULT.load(Ordering::SeqCst) != -100);
        ensure_eq!(RESULT.load(Ordering::SeqCst), Error::PeerDied.code(), "the queued caller");
        Ok(())
    });

    s.case("death::messages_from_a_dead_sender_are_delivered", || {
        let (task, t) = peer::start(peer::SEND_AND_EXIT, 3).map_err(fail)?;
        ensure_eq!(libsys::task::wait(task), Ok(0), "the sender exited");
        let mut buf = [0u8; 8];
        for i in 0..3u8 {
            let r = ipc::recv(&mut buf, 0).map_err(fail)?;
            ensure_eq!((&buf[..r.len as usize], r.sender), (&[b'm', i][..], t), "message {i}");
        }
        ensure_eq!(ipc::recv(&mut buf, 0).map(|r| r.kind), Err(Error::Timeout), "nothing more");
        Ok(())
    });

    s.case("memory::ipc_returns_every_frame", || {
        // A round with peers, buffered messages and deaths; warm up once, then the same
        // round must leave the free-frame count where it was.
        let round = || -> Result<(), Error> {
            let (task, t) = peer::start(peer::SEND_AND_EXIT, 5)?;
            let _ = t;
            libsys::task::wait(task)?;
            let mut buf = [0u8; 8];
            while ipc::recv(&mut buf, 0).is_ok() {}
            let (task, t) = peer::start(peer::DIE_HOLDING_CALL, 0)?;
            let _ = ipc::send_msg(t, b"x", SYNC, FOREVER);
            libsys::task::wait(task)?;
            Ok(())
        };
        ensure_eq!(round(), Ok(()), "warm-up");
        let before = libsys::task::free_frames();
        ensure_eq!(round(), Ok(()), "measured round");
        let after = libsys::task::free_frames();
        ensure!(after == before, "free frames {after}, were {before}");
        Ok(())
    });
}
