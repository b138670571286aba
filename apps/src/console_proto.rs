//! The console server's protocol (`apps/src/bin/console.rs`): typed messages small enough
//! for the register fast path.

use libsys::Message;

/// The console server's name (`libsys::name`).
pub const NAME: &str = "console";

/// Bytes of text per message.
pub const CHUNK: usize = 38;

/// Typed bytes the console server holds for its subscriber at most; input beyond is
/// dropped, and the drop shown as `[input dropped: N bytes]`.
pub const INPUT_MAX: usize = 4096;

/// Line ends the console server keeps beyond `INPUT_MAX`, so a line that overflowed still
/// ends and its reader can refuse it.
pub const LINE_END_RESERVE: usize = 64;

/// Longest line the shell accepts, in bytes; a longer one is refused with a message.
pub const LINE_MAX: usize = 1024;

#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Write `data[..len]` to the console (a call; the reply says how much was written).
    Write = 1,
    /// Send me what is typed, as asynchronous `Input` messages (a no-reply send).
    Subscribe = 2,
    /// Stop serving (a call).
    Quit = 3,
}

#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
#[message(reply = Reply)]
pub struct Request {
    pub op: Op,
    pub len: u8,
    pub data: [u8; CHUNK],
}

#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Reply {
    pub len: u8,
}

/// Typed input, pushed to the subscriber.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Input {
    pub len: u8,
    pub data: [u8; CHUNK + 1],
}

impl Request {
    pub fn new(op: Op, text: &[u8]) -> Request {
        let mut data = [0; CHUNK];
        let n = text.len().min(CHUNK);
        data[..n].copy_from_slice(&text[..n]);
        Request { op, len: n as u8, data }
    }
}

/// Writes `text` through the console server `console`.
pub fn write(console: u32, text: &[u8]) -> Result<(), libsys::ipc::IpcError> {
    for chunk in text.chunks(CHUNK) {
        libsys::ipc::call(console, &Request::new(Op::Write, chunk), libsys::ipc::Timeout::Forever)?;
    }
    Ok(())
}
