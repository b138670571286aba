//! Thin helpers over `libsys::raw`'s IPC calls, returning errors as `abi::Error`.

use libsys::abi::Error;
use libsys::raw;

pub const ASYNC: u32 = 0;
pub const SYNC: u32 = 1;
pub const NOREPLY: u32 = 2;
pub const FOREVER: i32 = -1;

pub fn result(r: i32) -> Result<i32, Error> {
    if r < 0 {
        Err(Error::try_from(r).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(r)
    }
}

/// Sends `msg` (the first `len` bytes of `buf`) to `to`. For a call, the reply lands in
/// `buf` and `len` becomes its length.
pub fn send(to: u32, buf: &mut [u8], len: &mut u32, option_sync: u32, timeout: i32) -> Result<i32, Error> {
    // SAFETY: `buf` is valid for `*len` bytes (callers keep len <= buf.len()).
    result(unsafe { raw::ipc_send(to, core::ptr::null_mut(), buf.as_mut_ptr(), 0, len, timeout, false, option_sync) })
}

/// Sends `msg` and returns the call's result (for non-call modes the buffer is not
/// written).
pub fn send_msg(to: u32, msg: &[u8], option_sync: u32, timeout: i32) -> Result<i32, Error> {
    let mut buf = [0u8; 4096];
    buf[..msg.len()].copy_from_slice(msg);
    let mut len = msg.len() as u32;
    send(to, &mut buf, &mut len, option_sync, timeout)
}

/// A received message.
pub struct Received {
    pub kind: i32,
    pub sender: u32,
    pub len: u32,
}

/// Receives into `buf` (all of it offered).
pub fn recv(buf: &mut [u8], timeout: i32) -> Result<Received, Error> {
    let mut len = buf.len() as u32;
    let mut long = 0u32;
    // SAFETY: `buf` is writable for `len` bytes; `len` and `long` are valid u32s.
    let (r, sender) =
        unsafe { raw::ipc_recv_from(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, timeout) };
    result(r).map(|kind| Received { kind, sender: sender.tid, len })
}

pub fn reply(msg: &[u8]) -> Result<i32, Error> {
    // SAFETY: `msg` is readable for its length.
    result(unsafe { raw::ipc_reply(msg.as_ptr(), msg.len() as u32) })
}

/// Yields until thread `t` is blocked (not runnable) or gone.
pub fn wait_blocked(t: u32) {
    while raw::yield_to(t as i32) == 0 {}
}
