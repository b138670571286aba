//! Typed IPC: messages declared as Rust types, calls whose reply type is known at compile
//! time, reply tokens that answer exactly once (a dropped token refuses the call), and pages
//! that move by value.
//!
//! A complete server and client:
//!
//! ```no_run
//! use libsys::ipc::{self, Incoming, Next, Timeout};
//! use libsys::Message;
//!
//! /// A request: add two numbers. Its reply type is part of its declaration.
//! #[derive(Message, Debug)]
//! #[repr(C)]
//! #[message(reply = Sum)]
//! struct Add {
//!     a: u32,
//!     b: u32,
//! }
//!
//! #[derive(Message, Debug, PartialEq)]
//! #[repr(C)]
//! struct Sum {
//!     value: u64,
//! }
//!
//! fn server() {
//!     ipc::serve::<Add, _>(Timeout::Forever, |next| match next {
//!         // A call comes with a token: the only way to answer it, exactly once, with a Sum
//!         // (here with the wait for the next call, in one system call).
//!         Ok(Incoming::Call { msg, reply, .. }) => Next::Reply(reply, Sum { value: msg.a as u64 + msg.b as u64 }),
//!         Ok(_) | Err(_) => Next::Receive, // asynchronous notes, or malformed messages
//!     });
//! }
//!
//! fn client(server: u32) {
//!     let sum: Sum = ipc::call(server, &Add { a: 2, b: 40 }, Timeout::Forever).expect("the server answers");
//!     assert_eq!(sum, Sum { value: 42 });
//! }
//! ```
//!
//! # Long messages: pages
//!
//! Bulk data travels as whole pages, never copied: [`Pages`] (exclusively this program's,
//! from [`Pages::alloc`]) move to the receiver with [`call_moving`], [`SharedPages`] are
//! mapped by both with [`call_sharing`]. The receiver says where pages may land, a
//! [`Window`] of unmapped space, and gets them typed from [`receive_with_pages`]:
//!
//! ```no_run
//! use libsys::abi::layout::PROGRAM_REGION;
//! use libsys::ipc::{self, Incoming, Pages, Received, Timeout, Window};
//! use libsys::Message;
//!
//! /// "Here are `len` bytes": the request that comes with the pages.
//! #[derive(Message)]
//! #[repr(C)]
//! #[message(reply = Sum)]
//! struct Data {
//!     len: u32,
//! }
//!
//! #[derive(Message, Debug, PartialEq)]
//! #[repr(C)]
//! struct Sum {
//!     value: u64,
//! }
//!
//! /// Up to 8 pages arrive here, one message at a time.
//! const WINDOW: Window = Window::new(PROGRAM_REGION.0 + 0x100_0000, 8);
//!
//! fn server() {
//!     loop {
//!         let Ok((incoming, pages)) = ipc::receive_with_pages::<Data>(WINDOW, Timeout::Forever) else {
//!             continue;
//!         };
//!         let bytes = match &pages {
//!             Received::Moved(p) => p.as_bytes(),      // ours now
//!             Received::Shared(p) => p.as_bytes(),     // the sender still maps them
//!             Received::None => &[],
//!         };
//!         let value = bytes.iter().map(|&b| b as u64).sum();
//!         // Received pages must be dropped (unmapped) before the window is used again: while
//!         // they are mapped there, the next `receive_with_pages` fails with `WindowOccupied`.
//!         drop(pages);
//!         if let Incoming::Call { reply, .. } = incoming {
//!             let _ = reply.reply(&Sum { value });
//!         }
//!     }
//! }
//!
//! fn client(server: u32) {
//!     // Two zeroed pages of this program's region, written, then moved: `pages` is gone.
//!     let mut pages = Pages::alloc(PROGRAM_REGION.0 + 0x200_0000, 2).expect("memory");
//!     pages.as_bytes_mut()[..3].copy_from_slice(&[1, 2, 3]);
//!     match ipc::call_moving(server, &Data { len: 3 }, pages, Timeout::Forever) {
//!         Ok(sum) => assert_eq!(sum, Sum { value: 6 }),
//!         // The kernel says whether the pages had left; if not, they come back.
//!         Err(failed) => drop(failed.pages),
//!     }
//!
//!     // Shared: both map the same frames; shared pages can never be moved again.
//!     let shared = Pages::alloc(PROGRAM_REGION.0 + 0x300_0000, 1).expect("memory").into_shared();
//!     let sum = ipc::call_sharing(server, &Data { len: 4096 }, &shared, Timeout::Forever);
//!     assert_eq!(sum, Ok(Sum { value: 0 }));
//! }
//! ```
//!
//! [`serve`] is the server loop: replies and the wait for the next message go in one
//! system call when they fit the registers, and what goes round the loop is registers, not
//! the received message (a loop written by hand with [`ReplyToken::reply_and_receive`]
//! works the same, a dozen instructions a turn slower). [`receive`] takes one message at a
//! time.
//!
//! For a service with several operations, declare a trait with
//! [`#[libsys::interface]`](crate::interface) instead: it generates the messages, the
//! client and the server loop, pages included.
//!
//! Misuse does not compile: replying twice (the token is consumed), replying with the wrong
//! type, cloning a token or sending it to another thread, using pages after moving them,
//! moving pages that are shared, or declaring a message with a pointer, padding, or more
//! than 4 KiB (`tests/ui` holds one compile-fail case for each).
//!
//! The specification's exact calls remain in [`crate::raw`].

pub mod interface;
mod server;

use crate::raw;
use abi::ipc::fast;
use abi::{Error, PAGE_SIZE, SHORT_MAX};
use core::marker::PhantomData;

const FAST: usize = fast::MAX;

pub use abi::ipc::Timeout;
pub use abi::message::{Bytes, DecodeError, Message, NoReply, Text};
pub use interface::Caller;
pub use server::{serve, Next};

/// A thread id.
pub type Tid = u32;

/// Why a typed IPC operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcError {
    /// The kernel refused or the peer failed.
    Sys(Error),
    /// The bytes that arrived are not a valid message of the expected type.
    Decode(DecodeError),
    /// The server received the call but answered it with a refusal instead of a reply.
    Refused(Refusal),
}

/// Why a server answered a call without a reply of its type.
///
/// On the wire (interfaces, [`interface`]) a refusal is a reply whose first byte is the
/// refusal's code; an empty reply is [`Refusal::Unanswered`], which is what a
/// [`ReplyToken`] dropped unused, or a malformed call received by [`receive`], sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    /// The request names an operation the server does not have.
    UnknownOperation = 2,
    /// The request's bytes (or the pages that came with it) are not what its operation takes.
    BadRequest = 3,
    /// The server dropped the call without answering it.
    Unanswered = 4,
}

impl Refusal {
    /// The refusal whose wire code is `code`.
    pub const fn from_code(code: u8) -> Option<Refusal> {
        match code {
            2 => Some(Refusal::UnknownOperation),
            3 => Some(Refusal::BadRequest),
            4 => Some(Refusal::Unanswered),
            _ => None,
        }
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Refusal::UnknownOperation => "the server has no such operation",
            Refusal::BadRequest => "the server could not decode the request",
            Refusal::Unanswered => "the server dropped the call unanswered",
        })
    }
}

impl From<Error> for IpcError {
    fn from(e: Error) -> Self {
        IpcError::Sys(e)
    }
}

impl From<DecodeError> for IpcError {
    fn from(e: DecodeError) -> Self {
        IpcError::Decode(e)
    }
}

impl core::fmt::Display for IpcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IpcError::Sys(e) => write!(f, "{e}"),
            IpcError::Decode(e) => write!(f, "{e}"),
            IpcError::Refused(r) => write!(f, "{r}"),
        }
    }
}

fn check(r: i32) -> Result<i32, Error> {
    if r < 0 {
        Err(Error::try_from(r).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(r)
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// How many bytes a call carries: its message, or more if the reply is larger (the spec:
/// a reply is copied into the sender's buffer up to the length sent).
const fn call_len<M: Message>() -> usize {
    max(M::SIZE, <M::Reply as Message>::SIZE)
}

/// Calls thread `to` with `msg` and waits (up to `timeout`) for its typed reply.
///
/// If the message and its reply both fit in registers (`M::FITS_FAST_PATH`, decided at
/// compile time), the call takes the register fast path: no memory is copied, and the
/// kernel switches straight to a waiting server and back.
pub fn call<M: Message>(to: Tid, msg: &M, timeout: Timeout) -> Result<M::Reply, IpcError> {
    if M::FITS_FAST_PATH {
        let mut bytes = [0u8; FAST];
        msg.encode_into(&mut bytes);
        // SAFETY: registers only.
        let (r, len, words) =
            unsafe { raw::ipc_call_fast(to, call_len::<M>(), fast::to_words(&bytes), timeout.to_raw()) };
        check(r)?;
        let reply = fast::to_bytes(&words);
        return <M::Reply as Message>::decode(&reply[..len.min(FAST)]).map_err(|e| reply_error(e, len));
    }
    call_raw::<M>(to, msg, timeout, core::ptr::null_mut(), 0, false).0
}

/// A general-path call; also returns whether the long range, if any, was transferred.
fn call_raw<M: Message>(
    to: Tid,
    msg: &M,
    timeout: Timeout,
    long: *mut u8,
    long_len: u32,
    shared: bool,
) -> (Result<M::Reply, IpcError>, bool) {
    let mut buf = [0u8; SHORT_MAX];
    msg.encode_into(&mut buf);
    let mut len = call_len::<M>() as u32;
    // SAFETY: `buf` is valid for `len` bytes and receives the reply; the long range, if
    // any, is pages the caller's typed wrapper owns.
    let (r, status) =
        unsafe { raw::ipc_send_status(to, long, buf.as_mut_ptr(), long_len, &mut len, timeout.to_raw(), shared, 1) };
    let reply = check(r)
        .map_err(IpcError::from)
        .and_then(|_| <M::Reply as Message>::decode(&buf[..len as usize]).map_err(|e| reply_error(e, len as usize)));
    (reply, status.transferred)
}

/// Why a reply of `len` bytes did not decode: an empty reply is the server saying it did
/// not answer (a dropped [`ReplyToken`], a malformed call), anything else a bad reply.
fn reply_error(e: DecodeError, len: usize) -> IpcError {
    if len == 0 {
        IpcError::Refused(Refusal::Unanswered)
    } else {
        IpcError::Decode(e)
    }
}

/// Whether an asynchronous message went straight to a waiting receiver or was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A receiver was waiting and has the message.
    Delivered,
    /// Buffered in the kernel, in the receiver's mailbox, until it receives.
    Queued,
}

/// Sends `msg` to `to` asynchronously: returns at once, without a reply.
pub fn send<M: Message>(to: Tid, msg: &M) -> Result<Delivery, Error> {
    let mut buf = [0u8; SHORT_MAX];
    msg.encode_into(&mut buf);
    let mut len = M::SIZE as u32;
    // SAFETY: `buf` is valid for `len` bytes; the kernel only reads it.
    let r = check(unsafe { raw::ipc_send(to, core::ptr::null_mut(), buf.as_mut_ptr(), 0, &mut len, 0, false, 0) })?;
    Ok(if r == 0 { Delivery::Delivered } else { Delivery::Queued })
}

/// Sends `msg` to `to` and waits until it has been received (no reply).
pub fn notify<M: Message>(to: Tid, msg: &M, timeout: Timeout) -> Result<(), Error> {
    let mut buf = [0u8; SHORT_MAX];
    msg.encode_into(&mut buf);
    let mut len = M::SIZE as u32;
    // SAFETY: `buf` is valid for `len` bytes; the kernel only reads it.
    check(unsafe {
        raw::ipc_send(to, core::ptr::null_mut(), buf.as_mut_ptr(), 0, &mut len, timeout.to_raw(), false, 2)
    })?;
    Ok(())
}

/// The right, and the obligation, to answer one call, with a reply of type `R`.
///
/// Not `Clone`, consumed by [`reply`](Self::reply): a call is answered at most once. And at
/// least once: a token dropped unused answers the call itself, with an empty reply that the
/// caller's [`call`] reports as `IpcError::Refused(Refusal::Unanswered)`. So a server that
/// ignores a call (`Incoming::Call { msg, .. }`) neither strands its caller nor makes its
/// own next `receive` fail with `ReplyPending`. (Only `core::mem::forget` can leave a call
/// unanswered.)
///
/// Not `Send` either: the kernel answers the last call the *replying thread* received, so
/// a token must be used on the thread that received its call.
#[must_use = "the caller waits for this reply: answer it with `ReplyToken::reply` (dropping it refuses the call)"]
pub struct ReplyToken<R> {
    _reply: PhantomData<fn(R)>,
    /// Keeps the token on the receiving thread (`*const ()` is neither `Send` nor `Sync`).
    _thread: PhantomData<*const ()>,
}

impl<R> ReplyToken<R> {
    fn new() -> ReplyToken<R> {
        ReplyToken { _reply: PhantomData, _thread: PhantomData }
    }
}

impl<R> Drop for ReplyToken<R> {
    fn drop(&mut self) {
        // Unanswered: release the caller with an empty reply. If it already gave up or
        // died there is nobody left to tell, so the result is of no use.
        // SAFETY: an empty reply reads nothing.
        unsafe { raw::ipc_reply(core::ptr::null(), 0) };
    }
}

impl<R: Message> ReplyToken<R> {
    /// Answers the call with `reply`.
    pub fn reply(self, reply: &R) -> Result<(), Error> {
        core::mem::forget(self); // answered here, not by the drop
        let mut buf = [0u8; SHORT_MAX];
        reply.encode_into(&mut buf);
        // SAFETY: `buf` is readable for `R::SIZE` bytes.
        check(unsafe { raw::ipc_reply(buf.as_ptr(), R::SIZE as u32) }).map(|_| ())
    }

    /// Answers the call with `reply` and waits (up to `timeout`) for the next message, in
    /// one system call when both fit in registers: a server's loop ([`serve`] is that loop,
    /// written so that only registers go round it). If the reply fails
    /// (the caller timed out or died), that error is returned without waiting.
    pub fn reply_and_receive<M: Message>(self, reply: &R, timeout: Timeout) -> Result<Incoming<M>, IpcError> {
        if R::SIZE <= FAST && M::SIZE <= FAST {
            core::mem::forget(self); // answered here, not by the drop
            let mut bytes = [0u8; FAST];
            reply.encode_into(&mut bytes);
            // SAFETY: registers only.
            let out = unsafe { raw::ipc_reply_wait(Some((R::SIZE, fast::to_words(&bytes))), timeout.to_raw()) };
            return incoming_from_registers(out);
        }
        self.reply(reply)?;
        receive(timeout)
    }
}

/// Decodes what `raw::ipc_reply_wait` returned.
fn incoming_from_registers<M: Message>(
    (r, sender, len, words): (i32, raw::Sender, usize, [u64; fast::WORDS]),
) -> Result<Incoming<M>, IpcError> {
    let kind = check(r)?;
    let bytes = fast::to_bytes(&words);
    incoming(kind, sender, &bytes[..len.min(FAST)])
}

/// Builds the `Incoming` for a message of `kind` from `sender`, answering a malformed
/// call at once so its caller is not left waiting.
fn incoming<M: Message>(kind: i32, sender: raw::Sender, bytes: &[u8]) -> Result<Incoming<M>, IpcError> {
    if sender.interrupt {
        return Ok(Incoming::Interrupt { irq: bytes.first().copied().unwrap_or(0) });
    }
    let from = sender.tid;
    let msg = match M::decode(bytes) {
        Ok(m) => m,
        Err(e) => {
            if kind == 0 {
                // SAFETY: an empty reply reads nothing.
                unsafe { raw::ipc_reply(core::ptr::null(), 0) };
            }
            return Err(e.into());
        }
    };
    // A call first, on its own: the common case of a server loop, whose variant is then a
    // constant the caller's `match` can branch on at once.
    if kind == 0 {
        return Ok(Incoming::Call { from, msg, reply: ReplyToken::new() });
    }
    Ok(if kind == 1 { Incoming::Async { from, msg } } else { Incoming::NoReply { from, msg } })
}

/// A received message.
pub enum Incoming<M: Message> {
    /// A call: the caller waits for `reply`.
    Call {
        /// The calling thread.
        from: Tid,
        /// Its message.
        msg: M,
        /// The one way to answer it.
        reply: ReplyToken<M::Reply>,
    },
    /// An asynchronous message.
    Async {
        /// The sending thread.
        from: Tid,
        /// Its message.
        msg: M,
    },
    /// A synchronous message that expects no reply (its sender is already released).
    NoReply {
        /// The sending thread.
        from: Tid,
        /// Its message.
        msg: M,
    },
    /// An interrupt on line `irq`, for a driver that bound it (`crate::device::bind`).
    Interrupt {
        /// The IRQ line.
        irq: u8,
    },
}

impl<M: Message> Incoming<M> {
    /// The sender's tid.
    pub fn from(&self) -> Tid {
        match self {
            Incoming::Call { from, .. } | Incoming::Async { from, .. } | Incoming::NoReply { from, .. } => *from,
            Incoming::Interrupt { .. } => abi::ipc::KERNEL_TID,
        }
    }
}

/// Receives one message of type `M` (waiting up to `timeout`); into registers, on the fast
/// path, when `M` fits.
///
/// If a call's bytes are not a valid `M`, it is answered at once with an empty reply (so
/// its caller is not left waiting; its decode of the reply then fails too) and
/// `IpcError::Decode` is returned.
pub fn receive<M: Message>(timeout: Timeout) -> Result<Incoming<M>, IpcError> {
    if M::SIZE <= FAST {
        // SAFETY: registers only.
        return incoming_from_registers(unsafe { raw::ipc_reply_wait(None, timeout.to_raw()) });
    }
    receive_raw::<M>(timeout, Window::NONE).map(|(m, _)| m)
}

fn receive_raw<M: Message>(timeout: Timeout, window: Window) -> Result<(Incoming<M>, Received), IpcError> {
    let mut buf = [0u8; SHORT_MAX];
    let mut len = SHORT_MAX as u32;
    let mut long = (window.count as usize * PAGE_SIZE) as u32;
    // SAFETY: `buf`, `len` and `long` are valid; the window is the caller's declaration of
    // unmapped space (the kernel checks it is).
    let (r, sender) =
        unsafe { raw::ipc_recv_from(window.base as *mut u8, buf.as_mut_ptr(), &mut long, &mut len, timeout.to_raw()) };
    let kind = check(r)?;
    let received = received(window, long, sender.shared);
    Ok((incoming(kind, sender, &buf[..len as usize])?, received))
}

/// The pages a receive into `window` got: `long` bytes, shared or moved.
fn received(window: Window, long: u32, shared: bool) -> Received {
    match (long as u64 / PAGE_SIZE as u64, shared) {
        (0, _) => Received::None,
        (n, false) => Received::Moved(Pages { base: window.base, count: n }),
        (n, true) => Received::Shared(SharedPages { base: window.base, count: n }),
    }
}

// ---- pages ------------------------------------------------------------------------------

/// Pages this program holds exclusively: made by `new_pages`, or received by move. They can
/// be moved to another thread (which takes the value), or turned into [`SharedPages`].
/// Dropping them unmaps them.
pub struct Pages {
    base: u64,
    count: u64,
}

/// Pages that are, or may be, mapped somewhere else too. They can be shared further but
/// never moved: there is no way to pass them where `Pages` is needed. Dropping them unmaps
/// this program's mapping only.
pub struct SharedPages {
    base: u64,
    count: u64,
}

macro_rules! page_range_methods {
    ($t:ty) => {
        impl $t {
            /// The first page's address.
            pub fn base(&self) -> u64 {
                self.base
            }
            /// How many pages.
            pub fn count(&self) -> u64 {
                self.count
            }
            /// The pages' bytes.
            pub fn as_bytes(&self) -> &[u8] {
                // SAFETY: the range is mapped (this value is its owner) and readable.
                unsafe { core::slice::from_raw_parts(self.base as *const u8, (self.count as usize) * PAGE_SIZE) }
            }
        }

        impl Drop for $t {
            fn drop(&mut self) {
                // SAFETY: this value owns the region; nothing refers to it past this point.
                unsafe { raw::remove_pages(self.base as *mut u8) };
            }
        }
    };
}
page_range_methods!(Pages);
page_range_methods!(SharedPages);

impl Pages {
    /// Maps `count` zeroed pages at `base` (page-aligned, in the program's own region).
    pub fn alloc(base: u64, count: u64) -> Result<Pages, Error> {
        let len = u32::try_from(count * PAGE_SIZE as u64).map_err(|_| Error::InvalidArgument)?;
        // SAFETY: the kernel maps only an unmapped range, so no memory in use changes.
        check(unsafe { raw::new_pages(base as *mut u8, len) })?;
        Ok(Pages { base, count })
    }

    /// The pages' bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: exclusively ours, mapped writable by `new_pages` or a move of such pages.
        unsafe { core::slice::from_raw_parts_mut(self.base as *mut u8, (self.count as usize) * PAGE_SIZE) }
    }

    /// Gives up exclusivity: the pages may be shared from now on.
    pub fn into_shared(self) -> SharedPages {
        let s = SharedPages { base: self.base, count: self.count };
        core::mem::forget(self);
        s
    }
}

impl SharedPages {
    /// Copies `data` into the pages at `offset` (clipped to the range); returns how many
    /// bytes were written. For a server filling pages a client lent it: the other side
    /// may touch them meanwhile, which changes what it reads, never this program's memory.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let size = self.count as usize * PAGE_SIZE;
        let n = data.len().min(size.saturating_sub(offset));
        if n == 0 {
            return 0; // nothing to write, and `offset` may be past the range
        }
        // SAFETY: `[base + offset, base + offset + n)` lies inside the mapped range this
        // value holds, mapped writable (made by `new_pages`, or received: the kernel transfers
        // only writable pages). `data` is this program's own memory, so the two do not
        // overlap.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), (self.base as usize + offset) as *mut u8, n) };
        n
    }
}

/// Why [`call_moving`] failed, with the pages back if they did not move.
pub struct MoveFailed {
    /// Why the call failed.
    pub error: IpcError,
    /// `Some` if the pages are still this program's (the failure came before the transfer).
    pub pages: Option<Pages>,
}

/// Calls `to` with `msg`, moving `pages` to it (they are no longer this program's). If the
/// call fails, the kernel says whether the pages had left first (a timeout or the
/// receiver's death after receipt): if not, they come back in [`MoveFailed::pages`].
pub fn call_moving<M: Message>(to: Tid, msg: &M, pages: Pages, timeout: Timeout) -> Result<M::Reply, MoveFailed> {
    let (base, count) = (pages.base, pages.count);
    core::mem::forget(pages);
    let len = (count as usize * PAGE_SIZE) as u32;
    match call_raw::<M>(to, msg, timeout, base as *mut u8, len, false) {
        (Ok(r), _) => Ok(r),
        (Err(error), transferred) => Err(MoveFailed { error, pages: (!transferred).then_some(Pages { base, count }) }),
    }
}

/// Calls `to` with `msg`, sharing `pages` with it (both map them afterwards).
pub fn call_sharing<M: Message>(to: Tid, msg: &M, pages: &SharedPages, timeout: Timeout) -> Result<M::Reply, IpcError> {
    let len = (pages.count as usize * PAGE_SIZE) as u32;
    call_raw::<M>(to, msg, timeout, pages.base as *mut u8, len, true).0
}

/// Where received pages go: `count` pages of unmapped space at `base`. A long message
/// larger than the window fails for its sender (`TooLong`); pages received into it stay
/// there until dropped, and only then can the window be used again.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    base: u64,
    count: u64,
}

impl Window {
    /// No window: long messages are refused (their senders get `TooLong`).
    pub const NONE: Window = Window { base: 0, count: 0 };

    /// A window of `count` pages at `base` (page-aligned, unmapped; the kernel checks).
    pub const fn new(base: u64, count: u64) -> Window {
        Window { base, count }
    }
}

/// Pages that came with a message.
pub enum Received {
    /// The message came without pages.
    None,
    /// Moved: now exclusively this program's.
    Moved(Pages),
    /// Shared: the sender still maps them.
    Shared(SharedPages),
}

/// Receives one message of type `M`, with any pages it carries mapped at `window`.
///
/// The window must be unmapped: drop the pages a previous receive put there (or move them
/// on) before using it again, or the receive fails with `WindowOccupied`.
pub fn receive_with_pages<M: Message>(window: Window, timeout: Timeout) -> Result<(Incoming<M>, Received), IpcError> {
    receive_raw::<M>(timeout, window)
}
