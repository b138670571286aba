//! The console server's protocol (`apps/src/bin/console.rs`): typed messages small enough
//! for the register fast path.
//!
//! Who may do what: anyone may `Write`; typed input goes to one subscriber only, the
//! shell (see [`Op::Subscribe`]); nobody can stop the server by asking. The shell, in
//! turn, takes `Input` only from the console server's thread.

use libsys::ipc::{IpcError, Timeout};
use libsys::Message;

/// The console server's name (`libsys::name`). It is also its program's name in the boot
/// image, so only the console server itself can register it (`libsys::name::register`).
pub const NAME: &str = "console";
/// The console server's program in the boot image.
pub const PROGRAM: &str = "console";
/// The program whose task may subscribe to typed input (when the image has it).
pub const SUBSCRIBER_PROGRAM: &str = "shell";
/// How long the helpers below wait for the console server: far beyond writing one chunk,
/// so that a server that hangs fails its clients' calls instead of holding them.
pub const TIMEOUT: Timeout = Timeout::Ticks(500);

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
    /// Send me what is typed, as asynchronous `Input` messages (a call). Typed input is
    /// the user's commands, so it goes to one thread only: the first to subscribe, and,
    /// when the image has a [`SUBSCRIBER_PROGRAM`], only a thread of the task init started
    /// for it. Anyone else is refused ([`Refusal`]) while that subscriber lives. (Number 3
    /// was `Quit`, which let any program stop the server; there is no such request.)
    Subscribe = 2,
}

/// Why the console server refused a request.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    /// Not refused.
    None = 0,
    /// `Subscribe` from a task that is not the system's shell.
    NotTheShell = 1,
    /// `Subscribe` while another living thread is subscribed.
    Taken = 2,
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
    /// `Write`: bytes written.
    pub len: u8,
    /// Whether, and why, the request was refused.
    pub refused: Refusal,
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

/// Writes `text` through the console server `console` (each chunk waiting at most
/// [`TIMEOUT`]).
pub fn write(console: u32, text: &[u8]) -> Result<(), IpcError> {
    for chunk in text.chunks(CHUNK) {
        libsys::ipc::call(console, &Request::new(Op::Write, chunk), TIMEOUT)?;
    }
    Ok(())
}

/// Subscribes the calling thread to what is typed on console server `console`: `Ok(Err(..))`
/// if the server refused (see [`Op::Subscribe`]).
pub fn subscribe(console: u32) -> Result<Result<(), Refusal>, IpcError> {
    let r = libsys::ipc::call(console, &Request::new(Op::Subscribe, b""), TIMEOUT)?;
    Ok(match r.refused {
        Refusal::None => Ok(()),
        why => Err(why),
    })
}
