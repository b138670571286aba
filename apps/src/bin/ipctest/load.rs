//! A load test: one server thread, clients in three other tasks and two local threads,
//! thousands of calls, every reply checked.

use crate::ipc::{self, FOREVER, SYNC};
use crate::peer;
use core::sync::atomic::{AtomicU32, Ordering};
use libsys::abi::Error;
use moroso_apps::ensure_eq;
use moroso_apps::harness::{Msg, Suite};

const REMOTE_CLIENTS: u32 = 3;
const LOCAL_CLIENTS: u32 = 2;
const CALLS: u32 = 400;

/// Yields until `cond` holds (bounded by the runner's timeout, not by a guess at speed).
pub fn wait_for(mut cond: impl FnMut() -> bool) {
    while !cond() {
        libsys::time::yield_now();
    }
}

/// The request of `client`'s call number `n`: its identity, then a varying payload.
fn request(client: u32, n: u32, out: &mut [u8]) -> usize {
    let len = 8 + (n as usize * 7) % 120;
    out[..4].copy_from_slice(&client.to_le_bytes());
    out[4..8].copy_from_slice(&n.to_le_bytes());
    for (i, b) in out[8..len].iter_mut().enumerate() {
        *b = (client as u8) ^ (n as u8).wrapping_add(i as u8);
    }
    len
}

/// The server's answer: every byte inverted, then a one-byte checksum of the request.
fn answer(req: &[u8], out: &mut [u8]) -> usize {
    for (o, r) in out.iter_mut().zip(req) {
        *o = !r;
    }
    out[req.len()] = req.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    req.len() + 1
}

/// Makes `calls` calls to `server`, checking each reply; returns the number of bad replies
/// (the task's exit status for remote clients).
pub fn client(server: u32, calls: u32) -> i32 {
    let me = libsys::raw::gettid();
    let mut bad = 0;
    for n in 0..calls {
        let mut buf = [0u8; 256];
        let len = request(me, n, &mut buf);
        let mut req = [0u8; 256];
        req[..len].copy_from_slice(&buf[..len]);
        let mut want = [0u8; 256];
        let want_len = answer(&req[..len], &mut want);
        // A reply is copied up to the length sent, and the answer is one byte longer than
        // the request: the call carries one spare byte after the request.
        let mut reply_len = want_len as u32;
        let r = ipc::send(server, &mut buf, &mut reply_len, SYNC, FOREVER);
        if r != Ok(0) || reply_len as usize != want_len || buf[..want_len] != want[..want_len] {
            bad += 1;
        }
    }
    bad
}

pub fn cases(s: &mut Suite) {
    s.case("load::clients_in_many_tasks_and_threads_every_reply_checked", || {
        static LOCAL_BAD: AtomicU32 = AtomicU32::new(0);
        static LOCAL_DONE: AtomicU32 = AtomicU32::new(0);
        let me = libsys::raw::gettid();
        // No handshake: clients start calling at once, so their "hello"s and calls mix.
        let mut tasks = [0u32; REMOTE_CLIENTS as usize];
        for t in tasks.iter_mut() {
            let arg = peer::arg(peer::LOAD_CLIENT, me) | (CALLS as u64) << 40;
            *t = libsys::task::spawn("ipctest", arg).map_err(|e: Error| Msg::new(format_args!("spawn: {e}")))?;
        }
        for _ in 0..LOCAL_CLIENTS {
            libsys::thread::spawn(
                |server| {
                    LOCAL_BAD.fetch_add(client(server as u32, CALLS) as u32, Ordering::SeqCst);
                    LOCAL_DONE.fetch_add(1, Ordering::SeqCst);
                },
                me as usize,
            )
            .expect("spawn");
        }
        let total = (REMOTE_CLIENTS + LOCAL_CLIENTS) * CALLS;
        let (mut served, mut hellos) = (0, 0);
        let mut buf = [0u8; 256];
        let mut out = [0u8; 257];
        while served < total || hellos < REMOTE_CLIENTS {
            let r = ipc::recv(&mut buf, FOREVER).map_err(|e| Msg::new(format_args!("server recv: {e}")))?;
            if r.kind == 1 {
                ensure_eq!(&buf[..r.len as usize], b"hello", "the only async message is a hello");
                hellos += 1;
                continue;
            }
            ensure_eq!(r.kind, 0, "a call");
            // The request length is the sender's *len_short: request + 1 spare byte.
            let req_len = r.len as usize - 1;
            let n = answer(&buf[..req_len], &mut out);
            ensure_eq!(ipc::reply(&out[..n]), Ok(0), "reply {served}");
            served += 1;
        }
        for t in tasks {
            ensure_eq!(libsys::task::wait(t), Ok(0), "a remote client saw bad replies");
        }
        wait_for(|| LOCAL_DONE.load(Ordering::SeqCst) == LOCAL_CLIENTS);
        ensure_eq!(LOCAL_BAD.load(Ordering::SeqCst), 0, "bad replies in local clients");
        Ok(())
    });
}
