//! Peers: copies of ipctest started with `arg = role | parent_tid << 8`. Each first
//! announces itself to the parent with an asynchronous message (the parent learns its tid
//! from `ipc_recv`'s sender), then plays its role.

use crate::ipc::{self, ASYNC, FOREVER, SYNC};
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use libsys::abi::Error;

/// Echo server: replies to every call with the message reversed; exits on an async "quit".
pub const ECHO: u64 = 1;
/// Sends one call to the parent; a helper thread ends the task when the parent says so.
pub const DIE_AWAITING_REPLY: u64 = 2;
/// Receives one call from the parent and exits without replying.
pub const DIE_HOLDING_CALL: u64 = 3;
/// Never receives on its main thread; a helper thread ends the task when the parent says so.
pub const DIE_WITH_QUEUE: u64 = 4;
/// Sends `param` async messages to the parent, then exits at once.
pub const SEND_AND_EXIT: u64 = 5;
/// Load client: `param` calls to the parent's server thread (its tid is the parent).
pub const LOAD_CLIENT: u64 = 6;
/// Serves long messages (see `long::server`).
pub const LONG_SERVER: u64 = 7;
/// Receives one long message into its window, then exits without replying.
pub const DIE_HOLDING_LONG: u64 = 8;
/// Floods thread `parent` with asynchronous messages (see `shares::flood`); sends no hello.
pub const FLOOD: u64 = 9;
/// Receives pages into a window of `param` pages and keeps them (see `long::sink`).
pub const BIG_SINK: u64 = 10;

pub const fn arg(role: u64, parent: u32) -> u64 {
    role | (parent as u64) << 8
}

pub fn run(arg: u64) -> i32 {
    let parent = (arg >> 8) as u32;
    let role = arg & 0xff;
    if role == FLOOD {
        return crate::shares::flood(parent, (arg >> 40) as u8);
    }
    if ipc::send_msg(parent, b"hello", ASYNC, 0).is_err() {
        return 90;
    }
    match role {
        ECHO => echo(),
        DIE_AWAITING_REPLY => {
            start_helper(parent, 7);
            let _ = ipc::send_msg(parent, b"call", SYNC, FOREVER);
            91
        }
        DIE_HOLDING_CALL => {
            let mut buf = [0u8; 16];
            let _ = ipc::recv(&mut buf, FOREVER);
            8 // exits without replying
        }
        DIE_WITH_QUEUE => {
            start_helper(parent, 9);
            let zero = 0i32;
            // SAFETY: a valid i32. Blocks this thread forever; the helper ends the task.
            unsafe { libsys::raw::deschedule(&zero) };
            92
        }
        SEND_AND_EXIT => {
            for i in 0..(arg >> 40) as u8 {
                let _ = ipc::send_msg(parent, &[b'm', i], ASYNC, 0);
            }
            0
        }
        LOAD_CLIENT => crate::load::client(parent, (arg >> 40) as u32),
        LONG_SERVER => crate::long::server(parent),
        BIG_SINK => crate::long::sink(arg >> 40),
        DIE_HOLDING_LONG => {
            let mut buf = [0u8; 8];
            let mut len = 8u32;
            let mut long = (crate::long::WINDOW_PAGES * 4096) as u32;
            // SAFETY: an unmapped window of this task.
            unsafe {
                libsys::raw::ipc_recv(crate::long::WINDOW as *mut u8, buf.as_mut_ptr(), &mut long, &mut len, FOREVER)
            };
            10 // exits holding the pages, without replying
        }
        _ => 99,
    }
}

fn echo() -> i32 {
    let mut buf = [0u8; 4096];
    loop {
        match ipc::recv(&mut buf, FOREVER) {
            Ok(r) if r.kind == 1 && &buf[..r.len as usize] == b"quit" => return 0,
            Ok(r) if r.kind == 0 => {
                let mut out = [0u8; 4096];
                let n = r.len as usize;
                for i in 0..n {
                    out[i] = buf[n - 1 - i];
                }
                let _ = ipc::reply(&out[..n]);
            }
            Ok(_) => {}
            Err(_) => return 93,
        }
    }
}

/// Starts a helper thread that announces itself to the parent ("helper"), then ends the
/// whole task with `status` when the parent sends it anything. Returns once the helper has
/// announced itself, so the parent always hears "hello", "helper", then anything else.
fn start_helper(parent: u32, status: i32) {
    static ANNOUNCED: AtomicBool = AtomicBool::new(false);
    static STATUS: AtomicI32 = AtomicI32::new(0);
    STATUS.store(status, Ordering::SeqCst);
    libsys::thread::spawn(
        |parent| {
            let _ = ipc::send_msg(parent as u32, b"helper", ASYNC, 0);
            ANNOUNCED.store(true, Ordering::SeqCst);
            let mut buf = [0u8; 8];
            let _ = ipc::recv(&mut buf, FOREVER);
            libsys::task::exit(STATUS.load(Ordering::SeqCst))
        },
        parent as usize,
    )
    .expect("spawn");
    while !ANNOUNCED.load(Ordering::SeqCst) {
        libsys::time::yield_now();
    }
}

/// Receives the helper's announcement; returns its tid.
pub fn helper_tid() -> Result<u32, Error> {
    let mut buf = [0u8; 8];
    let r = ipc::recv(&mut buf, FOREVER)?;
    if &buf[..r.len as usize] != b"helper" {
        return Err(Error::InvalidArgument);
    }
    Ok(r.sender)
}

/// Starts a peer in `role` and returns (task id, its tid), learned from its first message.
pub fn start(role: u64, param: u32) -> Result<(u32, u32), Error> {
    let me = libsys::raw::gettid();
    let task = libsys::task::spawn("ipctest", arg(role, me) | (param as u64) << 40)?;
    let mut buf = [0u8; 8];
    let r = ipc::recv(&mut buf, FOREVER)?;
    if &buf[..r.len as usize] != b"hello" {
        return Err(Error::InvalidArgument);
    }
    Ok((task, r.sender))
}
