//! What the code `#[libsys::interface]` generates stands on: the reply message of every
//! operation ([`Reply`]), and the server's receive-dispatch-reply loop ([`handle_one`],
//! [`serve`]). Programs use the generated `NameClient` and `NameServer`; this module is
//! public so that the generated code can name it, and so that the wire format is written
//! down in one place.
//!
//! # Wire format
//!
//! - A request is one byte, the operation's number (1, 2, ... in the order the trait
//!   declares its methods; 0 is never an operation), then the method's arguments other than
//!   pages, each in its own message encoding, in order. Pages travel as the call's long
//!   message: moved for a `Pages` argument, shared for a `&SharedPages` one.
//! - A reply is one status byte, then a payload: [`OK`] and the method's value, [`ERR`] and
//!   the method's own error (methods returning `Result<T, E>`), or a
//!   [`Refusal`]'s code and nothing. An empty reply is
//!   `Refusal::Unanswered`.
//!
//! The server answers every call it receives: a request it cannot decode, an unknown
//! operation, or pages where the operation takes none (or the wrong kind) are answered with
//! a refusal, never left waiting.

use super::{check, IpcError, Received, Refusal, Timeout, Window, FAST};
use crate::raw;
use abi::message::{DecodeError, Message, NoReply};
use abi::{Error, PAGE_SIZE, SHORT_MAX};

/// Status byte of a reply that carries the method's value.
pub const OK: u8 = 0;
/// Status byte of a reply that carries the method's own error (`Result<T, E>` methods).
pub const ERR: u8 = 1;

/// The reply message of one operation: the method's value `T`, its own error `E` (for a
/// method that returns `Result<T, E>`; [`NoError`] otherwise), or the server's refusal to
/// run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<T, E> {
    /// The method ran and returned this value.
    Ok(T),
    /// The method ran and returned its own error.
    Err(E),
    /// The server did not run the method, and says why.
    Refused(Refusal),
}

impl<T: Message, E: Message> Reply<T, E> {
    /// The reply for what a method returning `Result<T, E>` returned.
    pub fn from_result(r: Result<T, E>) -> Self {
        match r {
            Ok(t) => Reply::Ok(t),
            Err(e) => Reply::Err(e),
        }
    }

    /// What the client of a method returning `Result<T, E>` gets.
    pub fn into_result(self) -> Result<Result<T, E>, IpcError> {
        match self {
            Reply::Ok(t) => Ok(Ok(t)),
            Reply::Err(e) => Ok(Err(e)),
            Reply::Refused(r) => Err(IpcError::Refused(r)),
        }
    }
}

impl<T: Message> Reply<T, NoError> {
    /// What the client of a method returning `T` gets.
    pub fn into_value(self) -> Result<T, IpcError> {
        match self {
            Reply::Ok(t) => Ok(t),
            Reply::Err(e) => match e {},
            Reply::Refused(r) => Err(IpcError::Refused(r)),
        }
    }
}

/// The larger of `a` and `b`, in constants.
pub const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

impl<T: Message, E: Message> Message for Reply<T, E> {
    const SIZE: usize = 1 + max(T::SIZE, E::SIZE);
    type Reply = NoReply;

    fn encode_into(&self, out: &mut [u8]) {
        let used = match self {
            Reply::Ok(t) => {
                out[0] = OK;
                t.encode_into(&mut out[1..]);
                1 + T::SIZE
            }
            Reply::Err(e) => {
                out[0] = ERR;
                e.encode_into(&mut out[1..]);
                1 + E::SIZE
            }
            Reply::Refused(r) => {
                out[0] = *r as u8;
                1
            }
        };
        // The encoding is all `SIZE` bytes; the ones the value does not use are zero.
        out[used..Self::SIZE].fill(0);
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let Some((&status, payload)) = bytes.split_first() else {
            return Ok(Reply::Refused(Refusal::Unanswered));
        };
        match status {
            OK => T::decode(payload).map(Reply::Ok).map_err(|e| e.at(1)),
            ERR => E::decode(payload).map(Reply::Err).map_err(|e| e.at(1)),
            code => Refusal::from_code(code)
                .map(Reply::Refused)
                .ok_or(DecodeError::Invalid { type_name: "interface reply status", offset: 0 }),
        }
    }
}

/// The thread that made the call being served: a method that declares an argument of this
/// type (`fn register(&mut self, caller: Caller, ..)`) gets it from the kernel's word on
/// who sent the request, not from the request, so a client cannot pretend to be another
/// thread. The client's method does not have the argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    tid: u32,
}

impl Caller {
    /// The caller `tid`: made by the server loop from what the kernel says, or by a test
    /// calling a generated `dispatch` directly.
    pub const fn new(tid: u32) -> Caller {
        Caller { tid }
    }

    /// The calling thread's id.
    pub const fn tid(&self) -> u32 {
        self.tid
    }
}

/// The error type of methods that cannot fail: no value has it, so no reply carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoError {}

impl Message for NoError {
    const SIZE: usize = 0;
    type Reply = NoReply;
    fn encode_into(&self, _: &mut [u8]) {
        match *self {}
    }
    fn decode(_: &[u8]) -> Result<Self, DecodeError> {
        Err(DecodeError::Invalid { type_name: "NoError", offset: 0 })
    }
}

/// Encodes a refusal into `out`; its length.
pub fn refuse(out: &mut [u8], why: Refusal) -> usize {
    out[0] = why as u8;
    1
}

/// Encodes `reply` into `out`; its length.
pub fn encode<R: Message>(out: &mut [u8], reply: &R) -> usize {
    reply.encode_into(out);
    R::SIZE
}

/// What the generated server tells the loop about its interface, all known at compile time.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// The largest request, in bytes.
    pub request_max: usize,
    /// The largest reply, in bytes.
    pub reply_max: usize,
    /// Whether some operation takes pages (then requests are received in memory, with the
    /// server's receive window).
    pub pages: bool,
}

impl Shape {
    /// Requests are received in registers (`ipc_reply_wait`) when every one fits and none
    /// brings pages.
    const fn registers(&self) -> bool {
        !self.pages && self.request_max <= FAST
    }

    /// Replies fit too: `serve` answers and waits for the next call in one system call.
    const fn all_registers(&self) -> bool {
        self.registers() && self.reply_max <= FAST
    }
}

/// What went wrong in one round of the loop.
enum Round {
    /// Receiving failed: the server cannot go on as it is.
    Receive(IpcError),
    /// The reply did not reach its caller (it gave up or died): the caller's problem.
    Reply(Error),
}

/// Receives one call (up to `timeout`), runs `dispatch` on it and replies with what it
/// wrote. Messages that are not calls (asynchronous ones, interrupts) have nobody to answer
/// and are dropped, pages and all.
fn round<F>(shape: Shape, window: Window, timeout: Timeout, dispatch: &mut F) -> Result<(), Round>
where
    F: FnMut(Caller, &[u8], Received, &mut [u8]) -> usize,
{
    let mut request = [0u8; SHORT_MAX];
    let (kind, sender, len, pages) = if shape.registers() {
        // SAFETY: registers only.
        let (r, sender, len, words) = unsafe { raw::ipc_reply_wait(None, timeout.to_raw()) };
        let kind = check(r).map_err(|e| Round::Receive(e.into()))?;
        let len = len.min(FAST);
        request[..len].copy_from_slice(&abi::ipc::fast::to_bytes(&words)[..len]);
        (kind, sender, len, Received::None)
    } else {
        let mut len = SHORT_MAX as u32;
        let mut long = (window.count as usize * PAGE_SIZE) as u32;
        // SAFETY: `request`, `len` and `long` are valid for the call; the window is the
        // server's declaration of unmapped space in its region (the kernel checks it is).
        let (r, sender) = unsafe {
            raw::ipc_recv_from(window.base as *mut u8, request.as_mut_ptr(), &mut long, &mut len, timeout.to_raw())
        };
        let kind = check(r).map_err(|e| Round::Receive(e.into()))?;
        let pages = super::received(window, long, sender.shared);
        (kind, sender, (len as usize).min(SHORT_MAX), pages)
    };
    if sender.interrupt || kind != abi::ipc::RecvKind::Call as i32 {
        return Ok(()); // nobody waits for an answer; `pages` are dropped (unmapped)
    }
    let mut reply = [0u8; SHORT_MAX];
    let n = dispatch(Caller::new(sender.tid), &request[..len], pages, &mut reply).min(SHORT_MAX);
    // SAFETY: `reply` is readable for `n` bytes.
    check(unsafe { raw::ipc_reply(reply.as_ptr(), n as u32) }).map_err(Round::Reply)?;
    Ok(())
}

/// `NameServer::handle_one`: receives one call (waiting up to `timeout`), runs the method
/// through `dispatch`, and replies. An error is either the receive's (nothing was run) or
/// the reply's (the method ran, but its caller had given up or died).
pub fn handle_one<F>(shape: Shape, window: Window, timeout: Timeout, mut dispatch: F) -> Result<(), IpcError>
where
    F: FnMut(Caller, &[u8], Received, &mut [u8]) -> usize,
{
    round(shape, window, timeout, &mut dispatch).map_err(|e| match e {
        Round::Receive(e) => e,
        Round::Reply(e) => IpcError::Sys(e),
    })
}

/// `NameServer::serve`: answers calls until receiving fails, and returns that error. A reply
/// that does not reach its caller (it timed out or died) ends nothing: the server goes on.
pub fn serve<F>(shape: Shape, window: Window, mut dispatch: F) -> IpcError
where
    F: FnMut(Caller, &[u8], Received, &mut [u8]) -> usize,
{
    if shape.all_registers() {
        return serve_in_registers(dispatch);
    }
    loop {
        if let Err(Round::Receive(e)) = round(shape, window, Timeout::Forever, &mut dispatch) {
            return e;
        }
    }
}

/// `serve` for an interface whose requests and replies all fit the registers: each reply
/// and the wait for the next call are one `ipc_reply_wait`. Each way on has its own system
/// call, so what goes round the loop is registers (as in `ipc::serve`).
fn serve_in_registers<F>(mut dispatch: F) -> IpcError
where
    F: FnMut(Caller, &[u8], Received, &mut [u8]) -> usize,
{
    let timeout = abi::ipc::fast::timeout_word(Timeout::Forever.to_raw());
    let receive = || super::server::reply_wait(abi::ipc::fast::reply_word(None), [0; abi::ipc::fast::WORDS], timeout);
    let mut out = receive();
    loop {
        let (r, sender, len, words) = out;
        let kind = match check(r) {
            Ok(kind) => kind,
            Err(e) => return e.into(),
        };
        if sender.interrupt || kind != abi::ipc::RecvKind::Call as i32 {
            out = receive(); // nobody waits for an answer
            continue;
        }
        let bytes = abi::ipc::fast::to_bytes(&words);
        // A whole buffer, though replies fit in `FAST`: refusals and replies are written
        // by the same code as on the general path.
        let mut reply = [0u8; SHORT_MAX];
        let n = dispatch(Caller::new(sender.tid), &bytes[..len.min(FAST)], Received::None, &mut reply).min(FAST);
        let words = abi::ipc::fast::to_words(&reply[..FAST]);
        out = super::server::reply_wait(abi::ipc::fast::reply_word(Some(n)), words, timeout);
        if out.0 < 0 {
            // The reply failed, without a wait: its caller gave up or died, which ends
            // nothing. Receive afresh; if receiving itself fails, that ends the loop above.
            out = receive();
        }
    }
}
