//! Finding other programs by name: [`register`] binds a name to the calling thread,
//! [`lookup`] finds the thread bound to a name, waiting for it to appear if asked to.
//!
//! ```no_run
//! use libsys::abi::ipc::Timeout;
//! libsys::name::register("kv").expect("the name is free");
//! // ... in another program:
//! let server = libsys::name::lookup("kv", Timeout::Ticks(100)).expect("kv is up");
//! ```
//!
//! Names live in the name server (the boot image's `names` program as init started it,
//! `abi::name`), which this module finds with `ps` and remembers; if it dies and is
//! restarted, the next call finds the new one. Every request to it is bounded
//! (`abi::name::CALL_TIMEOUT_TICKS`). A name is released when the thread it is bound to
//! dies: the server checks that the thread lives before it answers a lookup or refuses a
//! name. An image program's name can only be taken by that program ([`register`]).

use crate::ipc::{IpcError, Timeout};
use abi::Error;
use core::sync::atomic::{AtomicU32, Ordering};

/// The name server's interface, between this module and the name server. Hidden from the
/// docs: it is the wire format, not an API (programs use [`register`] and [`lookup`]).
#[doc(hidden)]
pub mod proto {
    use crate::ipc::{Caller, Text};
    use abi::Error;

    /// A name as it travels: at most `abi::name::NAME_MAX` bytes.
    pub type Name = Text<{ abi::name::NAME_MAX }>;

    /// The name server. Every request and reply fits the registers.
    #[crate::interface]
    pub trait Names {
        /// Binds `name` to the calling thread (`Ok` again for its holder).
        /// `AlreadyExists`: another living thread holds it; `PermissionDenied`: it is
        /// another image program's name; `NoSpace`: the caller's task holds its share, or
        /// the table is full of living threads' names; `InvalidArgument`: an empty name.
        fn register(&mut self, caller: Caller, name: Name) -> Result<(), Error>;
        /// The living thread bound to `name`; `NotFound` if none.
        fn lookup(&mut self, name: Name) -> Result<u32, Error>;
    }
}

use proto::{Name, NamesClient};

/// The name server's tid, once found (0: not known).
static SERVER: AtomicU32 = AtomicU32::new(0);

/// The name server: the first thread of the live task running the image program
/// `abi::name::SERVER_PROGRAM` that init started (its parent is init, the task running the
/// image's first program; see [`crate::task::Identity::init`]). Anyone may start a copy of
/// the program, but such a copy's parent is not init, so it is never taken for the server.
pub fn find_server() -> Result<u32, Error> {
    let who = crate::task::Identity::now()?;
    let init = who.init().ok_or(Error::NoSuchThread)?;
    let task = who
        .records()
        .iter()
        .find(|r| {
            r.kind == abi::ps::kind::TASK
                && r.state == abi::ps::state::TASK_LIVE
                && r.name() == abi::name::SERVER_PROGRAM
                && r.parent == init
        })
        .ok_or(Error::NoSuchThread)?;
    who.first_thread(task.id).ok_or(Error::NoSuchThread)
}

/// Asks the name server (`ask` makes the call on a client of it), finding it again once if
/// the one we knew is gone.
fn ask<T>(ask: impl Fn(NamesClient) -> Result<Result<T, Error>, IpcError>) -> Result<T, Error> {
    for _ in 0..2 {
        let server = match SERVER.load(Ordering::Relaxed) {
            0 => find_server()?,
            s => s,
        };
        SERVER.store(server, Ordering::Relaxed);
        match ask(NamesClient::new(server).with_timeout(Timeout::Ticks(abi::name::CALL_TIMEOUT_TICKS))) {
            Ok(answer) => return answer,
            // The server we knew died (before or during the call): look for its successor.
            Err(IpcError::Sys(Error::NoSuchThread | Error::PeerDied)) => SERVER.store(0, Ordering::Relaxed),
            Err(IpcError::Sys(e)) => return Err(e),
            // A server that does not understand us, or did not answer.
            Err(IpcError::Decode(_) | IpcError::Refused(_)) => return Err(Error::InvalidArgument),
        }
    }
    Err(Error::NoSuchThread)
}

/// `name` as it travels, or `InvalidArgument` if it is empty or too long.
fn name_of(name: &str) -> Result<Name, Error> {
    match Name::new(name) {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(Error::InvalidArgument),
    }
}

/// Binds `name` to the calling thread, so that other programs can [`lookup`] it.
///
/// A name equal to an image program's name belongs to that program: only a thread of a
/// task running it may register it (and, for a program init starts at boot, only of the
/// task init started), so nobody can take a server's name, even while the server is
/// down. Other names are first come, first served.
///
/// Errors: `AlreadyExists` if a living thread holds the name (re-registering one's own
/// name is fine); `PermissionDenied` for another program's name; `NoSpace` if the
/// calling task holds its share of names (`abi::name::PER_TASK_MAX`) or the server's table
/// (`abi::name::TABLE_MAX`) is full; `InvalidArgument` for an empty name or one longer
/// than `abi::name::NAME_MAX`; `NoSuchThread` if the image has no running name server;
/// `Timeout` if it does not answer within `abi::name::CALL_TIMEOUT_TICKS`.
pub fn register(name: &str) -> Result<(), Error> {
    let name = name_of(name)?;
    ask(|names| names.register(name))
}

/// The tid bound to `name`, waiting up to `timeout` for it to be registered
/// (`Timeout::Poll` answers at once). `Err(Timeout)` if it never is (also while no name
/// server runs); `InvalidArgument` for a name that cannot exist.
///
/// Waiting is done here, by asking again each tick until the deadline: the server never
/// holds a caller, so a client that gives up leaves nothing behind in it.
pub fn lookup(name: &str, timeout: Timeout) -> Result<u32, Error> {
    let name = name_of(name)?;
    let deadline = match timeout {
        Timeout::Poll => Some(0),
        Timeout::Ticks(n) => Some(crate::raw::get_ticks().saturating_add(n as u64)),
        Timeout::Forever => None,
    };
    loop {
        match ask(|names| names.lookup(name)) {
            Ok(tid) => return Ok(tid),
            Err(Error::NotFound | Error::NoSuchThread) => {}
            Err(e) => return Err(e),
        }
        if deadline.is_some_and(|d| crate::raw::get_ticks() >= d) {
            return Err(Error::Timeout);
        }
        crate::raw::sleep(1);
    }
}
