//! The file server: a RAM file system, found under the name `fs` (protocol:
//! `moroso_apps::fs_proto`). It starts with the files packed into it at build time (the
//! README and a few examples) and keeps whatever programs write; nothing survives it.
//!
//! Invariants: at most `FILES_MAX` files, each at most `FILE_MAX` bytes, together at most
//! `STORE_MAX`; a write that would pass a bound changes nothing and is `NoSpace`. Pages a
//! client lends for a large read are unmapped here before the reply, whatever happens.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::abi::Error;
use libsys::ipc::{self, Incoming, Received, Timeout};
use libsys::Message;
use moroso_apps::fs_proto::*;

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
        let name = name.as_bytes();
        if name.is_empty() {
            return Err(Error::InvalidArgument);
        }
        self.files.iter().position(|f| f.name == name).ok_or(Error::NotFound)
    }

    fn stat(&self, s: Stat) -> Result<Size, Error> {
        Ok(Size { size: self.files[self.find(&s.name)?].data.len() as u32 })
    }

    fn read(&self, r: Read) -> Result<Data, Error> {
        let f = &self.files[self.find(&r.name)?];
        let start = (r.offset as usize).min(f.data.len());
        let n = (r.len as usize).min(CHUNK).min(f.data.len() - start);
        let mut d = Data { len: n as u16, data: [0; CHUNK] };
        d.data[..n].copy_from_slice(&f.data[start..start + n]);
        Ok(d)
    }

    fn write(&mut self, w: Write) -> Result<Size, Error> {
        let n = (w.len as usize).min(CHUNK);
        let name = w.name.as_bytes();
        if name.is_empty() || name.iter().any(|&b| b == b'/' || b <= b' ') {
            return Err(Error::InvalidArgument);
        }
        let found = self.find(&w.name).ok();
        let old = found.map_or(0, |i| self.files[i].data.len());
        let new = if w.replace { n } else { old + n };
        if new > FILE_MAX || self.stored() - old + new > STORE_MAX || (found.is_none() && self.files.len() >= FILES_MAX)
        {
            return Err(Error::NoSpace);
        }
        let i = match found {
            Some(i) => i,
            None => {
                self.files.push(File { name: name.to_vec(), data: Vec::new() });
                self.files.len() - 1
            }
        };
        let data = &mut self.files[i].data;
        if w.replace {
            data.clear();
        }
        data.extend_from_slice(&w.data[..n]);
        Ok(Size { size: data.len() as u32 })
    }

    fn remove(&mut self, r: Remove) -> Result<Done, Error> {
        let i = self.find(&r.name)?;
        self.files.remove(i);
        Ok(Done { ok: true })
    }

    fn list(&self, l: List) -> Result<Entry, Error> {
        let f = self.files.get(l.index as usize).ok_or(Error::NotFound)?;
        let mut name = [0; FILE_NAME_MAX];
        let n = f.name.len().min(FILE_NAME_MAX);
        name[..n].copy_from_slice(&f.name[..n]);
        Ok(Entry { size: f.data.len() as u32, name: FileName { bytes: name, len: n as u8 } })
    }

    /// Copies the file into the lent pages (which this drops, unmapping them here).
    fn read_pages(&self, r: ReadPages, lent: Received) -> Result<Size, Error> {
        let Received::Shared(mut pages) = lent else {
            // Nothing lent, or pages moved (they would be ours to keep): refused; moved
            // pages are dropped, unmapped, with `lent`.
            return Err(Error::InvalidArgument);
        };
        let f = &self.files[self.find(&r.name)?];
        if pages.count() as usize * libsys::abi::PAGE_SIZE < f.data.len() {
            return Err(Error::TooLong);
        }
        pages.write_at(0, &f.data);
        Ok(Size { size: f.data.len() as u32 })
    }

    fn handle(&mut self, req: &Request, lent: Received) -> Reply {
        fn arg<M: Message>(body: &[u8]) -> Result<M, Error> {
            M::decode(body).map_err(|_| Error::InvalidArgument)
        }
        let b = &req.body[..];
        match req.op {
            Op::Stat => Reply::answer(arg(b).and_then(|s| self.stat(s))),
            Op::Read => Reply::answer(arg(b).and_then(|r| self.read(r))),
            Op::Write => Reply::answer(arg(b).and_then(|w| self.write(w))),
            Op::Remove => Reply::answer(arg(b).and_then(|r| self.remove(r))),
            Op::List => Reply::answer(arg(b).and_then(|l| self.list(l))),
            Op::ReadPages => Reply::answer(arg(b).and_then(|r| self.read_pages(r, lent))),
        }
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
    loop {
        // Anything but a call (or a malformed one, which libsys answered) is ignored; any
        // pages it carried drop with it.
        if let Ok((Incoming::Call { msg, reply, .. }, lent)) =
            ipc::receive_with_pages::<Request>(server_window(), Timeout::Forever)
        {
            // `lent` is consumed (and any pages unmapped) before the reply goes out.
            let answer = fs.handle(&msg, lent);
            let _ = reply.reply(&answer);
        }
    }
}
