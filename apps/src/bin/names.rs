//! The name server: a table of (name, thread) bindings that programs fill with
//! `libsys::name::register` and read with `libsys::name::lookup`: the `Names` interface of
//! `libsys::name::proto`, served with `#[libsys::interface]`'s generated `NamesServer`.
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
use libsys::ipc::Caller;
use libsys::name::proto::{Name, Names, NamesServer};

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

    fn find(&mut self, name: &[u8]) -> Result<u32, Error> {
        self.live(name).map(|i| self.bindings[i].tid).ok_or(Error::NotFound)
    }

    fn bind(&mut self, name: &[u8], tid: u32) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument);
        }
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

impl Names for Table {
    fn register(&mut self, caller: Caller, name: Name) -> Result<(), Error> {
        self.bind(name.as_str().as_bytes(), caller.tid())
    }

    fn lookup(&mut self, name: Name) -> Result<u32, Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument);
        }
        self.find(name.as_str().as_bytes())
    }
}

fn main() -> i32 {
    let mut table = Table { bindings: Vec::with_capacity(TABLE_MAX) };
    // Returns only if receiving itself fails, which a name server cannot get past: end
    // with a failure, so that init restarts it (clients find the new one with `ps`).
    let e = NamesServer::serve(&mut table);
    libsys::println!("names: cannot receive: {e}");
    1
}
