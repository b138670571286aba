//! The name server: a table of (name, thread) bindings that programs fill with
//! `libsys::name::register` and read with `libsys::name::lookup`: the `Names` interface of
//! `libsys::name::proto`, served with `#[libsys::interface]`'s generated `NamesServer`.
//!
//! Invariants: no name twice; a binding is made only for the thread the kernel says sent
//! the request (`Caller`). Two kinds of names:
//!
//! - *Program names*, equal to a program of the boot image (`fs`, `console`, `init`, ...):
//!   registered only by a thread whose task runs that program and, for a program init
//!   starts at boot, is the task init started (`libsys::task::Identity`), else
//!   `PermissionDenied`. So no other program can take a server's name, not even while the
//!   server is down between a crash and its restart. At most one binding per image
//!   program, so they need no bound of their own and never meet `NoSpace`.
//! - *Other names*: first come, first served, at most `abi::name::TABLE_MAX` of them, at
//!   most `abi::name::PER_TASK_MAX` per task (`NoSpace` past either), so one living
//!   program cannot fill the table for everyone.
//!
//! A binding whose thread has died is dead: it is dropped whenever the server meets it (a
//! lookup of its name, a clash with a new registration) and all of them are swept, from
//! one `ps` snapshot, before a registration is refused for want of room. So a dead
//! thread's name is never answered, and a full table or share means the names in it are
//! held by living threads.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::abi::name::{PER_TASK_MAX, TABLE_MAX};
use libsys::abi::Error;
use libsys::ipc::Caller;
use libsys::name::proto::{Name, Names, NamesServer};
use libsys::task::Identity;

libsys::entry!(main);

struct Binding {
    name: Vec<u8>,
    tid: u32,
    /// The task of `tid`, for its share.
    task: u32,
    /// An image program's name (not counted against `TABLE_MAX` or any share).
    program: bool,
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

    /// Other names bound now: in all, and to threads of task `task`.
    fn counts(&self, task: u32) -> (usize, usize) {
        let other = self.bindings.iter().filter(|b| !b.program);
        (other.clone().count(), other.filter(|b| b.task == task).count())
    }

    fn bind(&mut self, name: &str, tid: u32) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument);
        }
        // Who is asking, from one snapshot.
        let who = Identity::now()?;
        let task = who.thread(tid).map(|t| t.task).ok_or(Error::NoSuchThread)?;
        let program = who.program(name).is_some();
        if program && !who.runs_system_program(tid, name) {
            return Err(Error::PermissionDenied);
        }
        let bytes = name.as_bytes();
        if let Some(i) = self.bindings.iter().position(|b| b.name == bytes) {
            if who.thread(self.bindings[i].tid).is_some() {
                return if self.bindings[i].tid == tid { Ok(()) } else { Err(Error::AlreadyExists) };
            }
            self.bindings.swap_remove(i);
        }
        if !program {
            let (all, mine) = self.counts(task);
            if all >= TABLE_MAX || mine >= PER_TASK_MAX {
                // Sweep every dead binding at once, from the snapshot.
                self.bindings.retain(|b| who.thread(b.tid).is_some());
                let (all, mine) = self.counts(task);
                if all >= TABLE_MAX || mine >= PER_TASK_MAX {
                    return Err(Error::NoSpace);
                }
            }
        }
        self.bindings.push(Binding { name: bytes.to_vec(), tid, task, program });
        Ok(())
    }
}

impl Names for Table {
    fn register(&mut self, caller: Caller, name: Name) -> Result<(), Error> {
        self.bind(name.as_str(), caller.tid())
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
