//! The name server: a table of (name, thread) bindings that programs fill with
//! `libsys::name::register` and read with `libsys::name::lookup` (protocol:
//! `libsys::name::proto`).
//!
//! Invariants: at most `abi::name::TABLE_MAX` bindings, no name twice. A binding whose
//! thread has died is dead: it is dropped whenever the server meets it (a lookup of its
//! name, a clash with a new registration) and all of them are swept, from one `ps`
//! snapshot, before a registration is refused for want of room. So a dead thread's name
//! is never answered, and a full table means the names in it are held by living threads.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::abi::name::TABLE_MAX;
use libsys::abi::Error;
use libsys::ipc::{self, Incoming, Timeout};
use libsys::name::proto::{Answer, Op, Request};

libsys::entry!(main);

struct Binding {
    name: Vec<u8>,
    tid: u32,
}

/// Whether thread `tid` is alive, from a fresh `ps` snapshot (`true` if the kernel cannot
/// say: never drop a binding on a guess).
fn alive(tid: u32) -> bool {
    match libsys::task::ps() {
        Ok(records) => records.iter().any(|r| r.kind == libsys::abi::ps::kind::THREAD && r.id == tid),
        Err(_) => true,
    }
}

struct Table {
    bindings: Vec<Binding>,
}

impl Table {
    /// The binding of `name`, if its thread lives (a dead one is dropped on the way).
    fn live(&mut self, name: &[u8]) -> Option<usize> {
        let i = self.bindings.iter().position(|b| b.name == name)?;
        if alive(self.bindings[i].tid) {
            Some(i)
        } else {
            self.bindings.swap_remove(i);
            None
        }
    }

    fn lookup(&mut self, name: &[u8]) -> Result<u32, Error> {
        self.live(name).map(|i| self.bindings[i].tid).ok_or(Error::NotFound)
    }

    fn register(&mut self, name: &[u8], tid: u32) -> Result<(), Error> {
        if let Some(i) = self.live(name) {
            return if self.bindings[i].tid == tid { Ok(()) } else { Err(Error::AlreadyExists) };
        }
        if self.bindings.len() >= TABLE_MAX {
            // Sweep every dead binding at once, from one snapshot.
            if let Ok(records) = libsys::task::ps() {
                let living = |tid: u32| records.iter().any(|r| r.kind == libsys::abi::ps::kind::THREAD && r.id == tid);
                self.bindings.retain(|b| living(b.tid));
            }
            if self.bindings.len() >= TABLE_MAX {
                return Err(Error::NoSpace);
            }
        }
        self.bindings.push(Binding { name: name.to_vec(), tid });
        Ok(())
    }
}

fn answer(r: Result<u32, Error>) -> Answer {
    match r {
        Ok(tid) => Answer { status: 0, tid },
        Err(e) => Answer { status: e.code(), tid: 0 },
    }
}

fn main() -> i32 {
    let mut table = Table { bindings: Vec::with_capacity(TABLE_MAX) };
    let mut next = ipc::receive::<Request>(Timeout::Forever);
    loop {
        next = match next {
            Ok(Incoming::Call { from, msg, reply }) => {
                let name = msg.name.as_bytes();
                let result = match msg.op {
                    _ if name.is_empty() => Err(Error::InvalidArgument),
                    Op::Register => table.register(name, from).map(|_| 0),
                    Op::Lookup => table.lookup(name),
                };
                reply.reply_and_receive(&answer(result), Timeout::Forever)
            }
            // Not a call (nothing to answer) or malformed (libsys answered it): next.
            _ => ipc::receive(Timeout::Forever),
        };
    }
}
