//! The file server: a RAM file system, found under the name `fs`, serving the `Files`
//! interface of `moroso_apps::fs_proto` through its generated `FilesServer`. It starts with the files packed into it at build time (the
//! README and a few examples) and keeps whatever programs write; nothing survives it.
//!
//! Invariants: at most `FILES_MAX` files, each at most `FILE_MAX` bytes, together at most
//! `STORE_MAX`; a write that would pass a bound changes nothing and is `NoSpace`. Pages a
//! client lends for a large read are unmapped here (dropped by `FilesServer` when
//! `read_pages` returns) before the reply, whatever happens.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::abi::Error;
use libsys::ipc::{SharedPages, Window};
use moroso_apps::fs_proto::{valid_name, Chunk, Entry, FileName, Files, FilesServer, CHUNK, FILES_MAX, FILE_MAX};
use moroso_apps::fs_proto::{NAME, SERVER_WINDOW, STORE_MAX};

libsys::entry!(main);

/// The files packed at build time.
const PACKED: &[(&str, &[u8])] = &[
    ("README.md", include_bytes!("../../../README.md")),
    ("hello.txt", include_bytes!("../../files/hello.txt")),
    ("motd", include_bytes!("../../files/motd")),
    ("ipc.md", include_bytes!("../../../docs/ipc.md")),
];

struct File {
    name: Vec<u8>,
    data: Vec<u8>,
}

struct Fs {
    files: Vec<File>,
}

impl Fs {
    fn stored(&self) -> usize {
        self.files.iter().map(|f| f.data.len()).sum()
    }

    fn find(&self, name: &FileName) -> Result<usize, Error> {
        let name = name.as_str().as_bytes();
        if !valid_name(name) {
            return Err(Error::InvalidArgument);
        }
        self.files.iter().position(|f| f.name == name).ok_or(Error::NotFound)
    }
}

impl Files for Fs {
    const RECEIVE_WINDOW: Window = SERVER_WINDOW;

    fn stat(&mut self, name: FileName) -> Result<u32, Error> {
        Ok(self.files[self.find(&name)?].data.len() as u32)
    }

    fn read(&mut self, name: FileName, offset: u32) -> Result<Chunk, Error> {
        let f = &self.files[self.find(&name)?];
        let start = (offset as usize).min(f.data.len());
        let n = CHUNK.min(f.data.len() - start);
        Ok(Chunk::truncated(&f.data[start..start + n]))
    }

    fn write(&mut self, name: FileName, data: Chunk, replace: bool) -> Result<u32, Error> {
        let found = match self.find(&name) {
            Ok(i) => Some(i),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        let n = data.len();
        let old = found.map_or(0, |i| self.files[i].data.len());
        let new = if replace { n } else { old + n };
        if new > FILE_MAX || self.stored() - old + new > STORE_MAX || (found.is_none() && self.files.len() >= FILES_MAX)
        {
            return Err(Error::NoSpace);
        }
        let i = match found {
            Some(i) => i,
            None => {
                self.files.push(File { name: name.as_str().as_bytes().to_vec(), data: Vec::new() });
                self.files.len() - 1
            }
        };
        let file = &mut self.files[i].data;
        if replace {
            file.clear();
        }
        file.extend_from_slice(data.as_slice());
        Ok(file.len() as u32)
    }

    fn remove(&mut self, name: FileName) -> Result<(), Error> {
        let i = self.find(&name)?;
        self.files.remove(i);
        Ok(())
    }

    fn list(&mut self, index: u32) -> Result<Entry, Error> {
        let f = self.files.get(index as usize).ok_or(Error::NotFound)?;
        // Names were checked on the way in (packed ones are short ASCII).
        let name = core::str::from_utf8(&f.name).ok().and_then(FileName::new).ok_or(Error::InvalidArgument)?;
        Ok(Entry { name, size: f.data.len() as u32 })
    }

    fn read_pages(&mut self, name: FileName, buf: &mut SharedPages) -> Result<u32, Error> {
        let f = &self.files[self.find(&name)?];
        if buf.count() as usize * libsys::abi::PAGE_SIZE < f.data.len() {
            return Err(Error::TooLong);
        }
        buf.write_at(0, &f.data);
        Ok(f.data.len() as u32)
    }
}

fn main() -> i32 {
    let mut fs = Fs { files: Vec::new() };
    for (name, data) in PACKED {
        fs.files.push(File { name: name.as_bytes().to_vec(), data: data.to_vec() });
    }
    if let Err(e) = libsys::name::register(NAME) {
        libsys::println!("fs: cannot register my name: {e}");
        return 1;
    }
    // Returns only if receiving fails (e.g. a method kept lent pages, occupying the
    // window): end with a failure, so that init restarts the server.
    let e = FilesServer::serve(&mut fs);
    libsys::println!("fs: cannot receive: {e}");
    1
}
