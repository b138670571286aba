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
//! Names live in the name server (the boot image's `names` program, `abi::name`), which
//! this module finds with `ps` and remembers; if it dies and is restarted, the next call
//! finds the new one. A name is released when the thread it is bound to dies: the server
//! checks that the thread lives before it answers a lookup or refuses a name.

use crate::ipc::{self, IpcError, Timeout};
use abi::Error;
use core::sync::atomic::{AtomicU32, Ordering};

/// The name server's protocol: one request type carrying the operation and its argument,
/// one reply type. The operations are `register(name)` and `lookup(name)`. Hidden from the
/// docs: it is the wire format between this module and the name server, not an API.
#[doc(hidden)]
pub mod proto {
    use moroso_derive::Message;

    /// Which operation a [`Request`] asks for.
    #[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
    #[message(crate = ::abi)]
    #[repr(u8)]
    pub enum Op {
        /// Bind `name` to the calling thread.
        Register = 1,
        /// Which living thread is `name` bound to?
        Lookup = 2,
    }

    /// A name, as it travels: `len` bytes of `bytes`.
    #[derive(Message, Clone, Copy, Debug)]
    #[message(crate = ::abi)]
    #[repr(C)]
    pub struct Name {
        pub len: u8,
        pub bytes: [u8; abi::name::NAME_MAX],
    }

    impl Name {
        /// `None` if `name` is empty or longer than `abi::name::NAME_MAX`.
        pub fn new(name: &str) -> Option<Name> {
            if name.is_empty() || name.len() > abi::name::NAME_MAX {
                return None;
            }
            let mut bytes = [0; abi::name::NAME_MAX];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            Some(Name { len: name.len() as u8, bytes })
        }

        /// The name's bytes (`len` clipped to the array).
        pub fn as_bytes(&self) -> &[u8] {
            &self.bytes[..(self.len as usize).min(abi::name::NAME_MAX)]
        }
    }

    #[derive(Message, Clone, Copy, Debug)]
    #[message(crate = ::abi, reply = Answer)]
    #[repr(C)]
    pub struct Request {
        pub op: Op,
        pub name: Name,
    }

    /// `status` is 0 or a negative `abi::Error` code; `tid` is the bound thread (lookup).
    #[derive(Message, Clone, Copy, Debug)]
    #[message(crate = ::abi)]
    #[repr(C)]
    pub struct Answer {
        pub status: i32,
        pub tid: u32,
    }
}

use proto::{Answer, Name, Op, Request};

/// The name server's tid, once found (0: not known).
static SERVER: AtomicU32 = AtomicU32::new(0);

/// The first thread of the live task running the name server program, from `ps`.
pub fn find_server() -> Result<u32, Error> {
    let records = crate::task::ps()?;
    let task = records
        .iter()
        .find(|r| {
            r.kind == abi::ps::kind::TASK
                && r.state == abi::ps::state::TASK_LIVE
                && r.name() == abi::name::SERVER_PROGRAM
        })
        .ok_or(Error::NoSuchThread)?;
    records
        .iter()
        .find(|r| r.kind == abi::ps::kind::THREAD && r.task == task.id)
        .map(|r| r.id)
        .ok_or(Error::NoSuchThread)
}

/// Asks the name server, finding it again once if the one we knew is gone.
fn ask(op: Op, name: &str) -> Result<u32, Error> {
    let name = Name::new(name).ok_or(Error::InvalidArgument)?;
    let request = Request { op, name };
    for _ in 0..2 {
        let server = match SERVER.load(Ordering::Relaxed) {
            0 => find_server()?,
            s => s,
        };
        SERVER.store(server, Ordering::Relaxed);
        match ipc::call(server, &request, Timeout::Forever) {
            Ok(Answer { status: 0, tid }) => return Ok(tid),
            Ok(Answer { status, .. }) => return Err(Error::try_from(status).unwrap_or(Error::InvalidArgument)),
            // The server we knew died (before or during the call): look for its successor.
            Err(IpcError::Sys(Error::NoSuchThread | Error::PeerDied)) => SERVER.store(0, Ordering::Relaxed),
            Err(IpcError::Sys(e)) => return Err(e),
            // A server that does not understand us, or did not answer.
            Err(IpcError::Decode(_) | IpcError::Refused(_)) => return Err(Error::InvalidArgument),
        }
    }
    Err(Error::NoSuchThread)
}

/// Binds `name` to the calling thread, so that other programs can [`lookup`] it.
///
/// Errors: `AlreadyExists` if a living thread holds the name (re-registering one's own
/// name is fine); `NoSpace` if the server's table (`abi::name::TABLE_MAX`) is full;
/// `InvalidArgument` for an empty name or one longer than `abi::name::NAME_MAX`;
/// `NoSuchThread` if the image has no running name server.
pub fn register(name: &str) -> Result<(), Error> {
    ask(Op::Register, name).map(|_| ())
}

/// The tid bound to `name`, waiting up to `timeout` for it to be registered
/// (`Timeout::Poll` answers at once). `Err(Timeout)` if it never is (also while no name
/// server runs); `InvalidArgument` for a name that cannot exist.
///
/// Waiting is done here, by asking again each tick until the deadline: the server never
/// holds a caller, so a client that gives up leaves nothing behind in it.
pub fn lookup(name: &str, timeout: Timeout) -> Result<u32, Error> {
    let deadline = match timeout {
        Timeout::Poll => Some(0),
        Timeout::Ticks(n) => Some(crate::raw::get_ticks().saturating_add(n as u64)),
        Timeout::Forever => None,
    };
    loop {
        match ask(Op::Lookup, name) {
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
