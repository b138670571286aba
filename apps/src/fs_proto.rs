//! The file server's protocol (`apps/src/bin/fs.rs`), and a client for it.
//!
//! One request struct per operation, each with its own answer type ([`Operation`]); on
//! the wire a request travels as a [`Request`] envelope (the operation's tag and its
//! encoded struct) and comes back as a [`Reply`] (a status and the encoded answer), so
//! the server receives one message type. Small reads and writes are short messages of at
//! most [`CHUNK`] bytes of data.
//!
//! A large read ([`ReadPages`]) carries the data as pages by long message, shared: the
//! client lends the server a range of its own fresh pages with the call; the server
//! copies the file into them and unmaps them before it replies. Shared, not moved,
//! because a reply carries no pages: to move pages to the client the server would have
//! to call it, and a client that never answered would hold the server. Lending keeps the
//! server a pure call-and-reply server, and the client owns the pages throughout.

use libsys::abi::{self as abi, Error};
use libsys::ipc::{self, IpcError, Pages, SharedPages, Timeout, Window};
use libsys::Message;

/// The file server's name (`libsys::name`).
pub const NAME: &str = "fs";
/// Longest file name, in bytes.
pub const FILE_NAME_MAX: usize = 31;
/// Data bytes in one short read or write.
pub const CHUNK: usize = 1024;
/// Largest file, in bytes (`NoSpace` past it).
pub const FILE_MAX: usize = 256 * 1024;
/// Most files the server holds (`NoSpace` past it).
pub const FILES_MAX: usize = 64;
/// Most bytes all files together hold (`NoSpace` past it).
pub const STORE_MAX: usize = 1024 * 1024;
/// Pages a [`ReadPages`] may lend: a whole file of `FILE_MAX`.
pub const PAGES_MAX: u64 = (FILE_MAX / abi::PAGE_SIZE) as u64;
/// Where the server's receive window for lent pages lies (its own region).
pub const SERVER_WINDOW: u64 = abi::layout::PROGRAM_REGION.0 + 0x1000_0000;
/// Where `read_pages` allocates the pages it lends (the client's own region).
pub const CLIENT_PAGES: u64 = abi::layout::PROGRAM_REGION.0 + 0x2000_0000;

/// The operations.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Stat = 1,
    Read = 2,
    Write = 3,
    Remove = 4,
    List = 5,
    ReadPages = 6,
}

/// A file name as it travels: `len` bytes of `bytes`.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct FileName {
    pub bytes: [u8; FILE_NAME_MAX],
    pub len: u8,
}

impl FileName {
    /// `InvalidArgument` if `name` is empty, too long, or holds a `/` or a space.
    pub fn new(name: &str) -> Result<FileName, Error> {
        if name.is_empty() || name.len() > FILE_NAME_MAX || name.bytes().any(|b| b == b'/' || b <= b' ') {
            return Err(Error::InvalidArgument);
        }
        let mut bytes = [0; FILE_NAME_MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(FileName { bytes, len: name.len() as u8 })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).min(FILE_NAME_MAX)]
    }
}

/// One operation: its request struct, its tag and its answer.
pub trait Operation: Message {
    const OP: Op;
    type Answer: Message;
}

/// `stat(name) -> size`.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Stat {
    pub name: FileName,
}
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Size {
    pub size: u32,
}

/// `read(name, offset, len) -> at most min(len, CHUNK) bytes` (fewer at the end).
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Read {
    pub offset: u32,
    pub len: u32,
    pub name: FileName,
}
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Data {
    pub len: u16,
    pub data: [u8; CHUNK],
}

/// `write(name, replace, data) -> new size`: `replace` creates or empties the file first;
/// otherwise the data is appended (creating the file if needed).
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Write {
    pub name: FileName,
    pub data: [u8; CHUNK],
    pub len: u16,
    pub replace: bool,
    pub reserved: u8,
}

/// `remove(name)`.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Remove {
    pub name: FileName,
}
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Done {
    pub ok: bool,
}

/// `list(index) -> the index-th file` (`NotFound` past the last).
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct List {
    pub index: u32,
}
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Entry {
    pub size: u32,
    pub name: FileName,
}

/// `read_pages(name) -> size`, with the pages to fill lent as a shared long message.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct ReadPages {
    pub name: FileName,
}

impl Operation for Stat {
    const OP: Op = Op::Stat;
    type Answer = Size;
}
impl Operation for Read {
    const OP: Op = Op::Read;
    type Answer = Data;
}
impl Operation for Write {
    const OP: Op = Op::Write;
    type Answer = Size;
}
impl Operation for Remove {
    const OP: Op = Op::Remove;
    type Answer = Done;
}
impl Operation for List {
    const OP: Op = Op::List;
    type Answer = Entry;
}
impl Operation for ReadPages {
    const OP: Op = Op::ReadPages;
    type Answer = Size;
}

/// Bytes of an envelope's body: the largest request or answer.
pub const BODY: usize = 1100;
const _: () = assert!(Write::SIZE <= BODY && Data::SIZE <= BODY && Entry::SIZE <= BODY);

/// A request on the wire.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
#[message(reply = Reply)]
pub struct Request {
    pub op: Op,
    pub body: [u8; BODY],
}

/// An answer on the wire: `status` 0 and the encoded answer, or a negative `abi::Error`.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct Reply {
    pub status: i32,
    pub body: [u8; BODY],
}

impl Request {
    pub fn new<O: Operation>(op: &O) -> Request {
        let mut body = [0; BODY];
        op.encode_into(&mut body);
        Request { op: O::OP, body }
    }
}

impl Reply {
    pub fn answer<A: Message>(r: Result<A, Error>) -> Reply {
        let mut body = [0; BODY];
        match r {
            Ok(a) => {
                a.encode_into(&mut body);
                Reply { status: 0, body }
            }
            Err(e) => Reply { status: e.code(), body },
        }
    }
}

/// Why a file-server call failed.
fn sys(e: IpcError) -> Error {
    match e {
        IpcError::Sys(e) => e,
        IpcError::Decode(_) | IpcError::Refused(_) => Error::InvalidArgument,
    }
}

fn decode<A: Message>(reply: Reply) -> Result<A, Error> {
    if reply.status != 0 {
        return Err(Error::try_from(reply.status).unwrap_or(Error::InvalidArgument));
    }
    A::decode(&reply.body).map_err(|_| Error::InvalidArgument)
}

/// Runs one operation on the file server `fs`. A server that dies mid-call is `PeerDied`
/// (look it up again to reach its successor).
pub fn call<O: Operation>(fs: u32, op: &O) -> Result<O::Answer, Error> {
    decode(ipc::call(fs, &Request::new(op), Timeout::Forever).map_err(sys)?)
}

/// The file server's tid, waiting up to `timeout` for it to register.
pub fn find(timeout: Timeout) -> Result<u32, Error> {
    libsys::name::lookup(NAME, timeout)
}

/// Reads the whole file `name` with short reads, appending to `out`.
pub fn read_all(fs: u32, name: &str, out: &mut alloc::vec::Vec<u8>) -> Result<(), Error> {
    let name = FileName::new(name)?;
    loop {
        let d = call(fs, &Read { offset: out.len() as u32, len: CHUNK as u32, name })?;
        let n = (d.len as usize).min(CHUNK);
        out.extend_from_slice(&d.data[..n]);
        if n < CHUNK {
            return Ok(());
        }
    }
}

/// Creates or replaces file `name` with `data`, in short writes.
pub fn write_all(fs: u32, name: &str, data: &[u8]) -> Result<(), Error> {
    let name = FileName::new(name)?;
    let mut replace = true;
    let mut chunks = data.chunks(CHUNK);
    loop {
        let chunk = chunks.next().unwrap_or(&[]);
        let mut w = Write { name, data: [0; CHUNK], len: chunk.len() as u16, replace, reserved: 0 };
        w.data[..chunk.len()].copy_from_slice(chunk);
        call(fs, &w)?;
        replace = false;
        if chunks.len() == 0 {
            return Ok(());
        }
    }
}

/// Reads file `name` (at most `FILE_MAX` bytes) by pages: lends the server fresh pages at
/// [`CLIENT_PAGES`] and returns them, filled, with the file's size. (They stay a
/// `SharedPages` value: this side cannot prove the server unmapped its side.)
pub fn read_pages(fs: u32, name: &str) -> Result<(SharedPages, usize), Error> {
    let name = FileName::new(name)?;
    let size = call(fs, &Stat { name })?.size as usize;
    let count = (size.div_ceil(abi::PAGE_SIZE) as u64).max(1);
    let pages = Pages::alloc(CLIENT_PAGES, count)?.into_shared();
    let reply = ipc::call_sharing(fs, &Request::new(&ReadPages { name }), &pages, Timeout::Forever).map_err(sys)?;
    let got: Size = decode(reply)?;
    Ok((pages, got.size as usize))
}

/// The server's receive window: room for the pages of the largest file.
pub const fn server_window() -> Window {
    Window::new(SERVER_WINDOW, PAGES_MAX)
}
