//! A file server that dies mid-request, for the `system` test step. It registers under the
//! name of the image program it runs as: booted as `fs` (`fs=faultyfs`) in place of the
//! real one, the shell meets a server that ends while a request of its is pending; started
//! as `faultyfs` by `systest`, the suite checks what its client sees. It serves the `Files` interface with no files,
//! except that any request naming the file `die` ends the task in the middle of the method,
//! before any reply: the caller's request must fail (`PeerDied`), the caller must go on,
//! and init restarts the server as the manifest says of `fs`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use libsys::abi::{ps, Error};
use libsys::ipc::{SharedPages, Window};
use moroso_apps::fs_proto::{Chunk, Entry, FileName, Files, FilesServer, NAME, SERVER_WINDOW};

libsys::entry!(main);

/// No files; `die` ends the task.
struct Faulty;

impl Faulty {
    fn look(&self, name: &FileName) -> Error {
        if name.as_str() == "die" {
            libsys::println!("faultyfs: dying mid-request, as asked");
            // Ends the task here: the pending call gets no reply, only its server's death.
            libsys::task::exit(3);
        }
        Error::NotFound
    }
}

impl Files for Faulty {
    const RECEIVE_WINDOW: Window = SERVER_WINDOW;

    fn stat(&mut self, name: FileName) -> Result<u32, Error> {
        Err(self.look(&name))
    }
    fn read(&mut self, name: FileName, _: u32) -> Result<Chunk, Error> {
        Err(self.look(&name))
    }
    fn write(&mut self, name: FileName, _: Chunk, _: bool) -> Result<u32, Error> {
        Err(self.look(&name))
    }
    fn remove(&mut self, name: FileName) -> Result<(), Error> {
        Err(self.look(&name))
    }
    fn list(&mut self, _: u32) -> Result<Entry, Error> {
        Err(Error::NotFound)
    }
    fn read_pages(&mut self, name: FileName, _: &mut SharedPages) -> Result<u32, Error> {
        Err(self.look(&name))
    }
}

/// The image program this task runs (`fs` or `faultyfs`), from `ps`.
fn my_program() -> Option<String> {
    let records = libsys::task::ps().ok()?;
    let me = libsys::raw::gettid();
    let task = records.iter().find(|r| r.kind == ps::kind::THREAD && r.id == me)?.task;
    records.iter().find(|r| r.kind == ps::kind::TASK && r.id == task).map(|r| String::from(r.name()))
}

fn main() -> i32 {
    let name = my_program().unwrap_or_else(|| String::from(NAME));
    if let Err(e) = libsys::name::register(&name) {
        libsys::println!("faultyfs: cannot register my name: {e}");
        return 1;
    }
    let e = FilesServer::serve(&mut Faulty);
    libsys::println!("faultyfs: cannot receive: {e}");
    1
}
