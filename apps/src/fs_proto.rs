//! The file server's interface (`apps/src/bin/fs.rs`), [`Files`], and client helpers
//! built on its generated [`FilesClient`].
//!
//! Small reads and writes are short messages of at most [`CHUNK`] bytes of data. A large
//! read ([`Files::read_pages`]) carries the data as pages by long message, shared: the
//! client lends the server a range of its own fresh pages with the call (`&mut
//! SharedPages`: the server writes into them), the server copies the file into them, and
//! the pages are unmapped on its side when the method returns, before the reply. Shared,
//! not moved, because a reply carries no pages: to move pages to the client the server
//! would have to call it, and a client that never answered would hold the server. Lending
//! keeps the server a pure call-and-reply server, and the client owns the pages
//! throughout.
//!
//! Every operation returns `Result<_, abi::Error>`: `NotFound` for a missing file,
//! `NoSpace` past a bound (nothing changed), `InvalidArgument` for a bad name, `TooLong`
//! for lent pages too small for the file.

use alloc::vec::Vec;
use libsys::abi::{self as abi, Error};
use libsys::ipc::{Bytes, IpcError, Pages, SharedPages, Text, Timeout, Window};
use libsys::Message;

/// The file server's name (`libsys::name`).
pub const NAME: &str = "fs";
/// Longest file name, in bytes.
pub const FILE_NAME_MAX: usize = 30;
/// Data bytes in one short read or write.
pub const CHUNK: usize = 1024;
/// Largest file, in bytes (`NoSpace` past it).
pub const FILE_MAX: usize = 256 * 1024;
/// Most files the server holds (`NoSpace` past it).
pub const FILES_MAX: usize = 64;
/// Most bytes all files together hold (`NoSpace` past it).
pub const STORE_MAX: usize = 1024 * 1024;
/// Pages a `read_pages` may lend: a whole file of `FILE_MAX`.
pub const PAGES_MAX: u64 = (FILE_MAX / abi::PAGE_SIZE) as u64;
/// Where the server's receive window for lent pages lies (its own region).
pub const SERVER_WINDOW: Window = Window::new(abi::layout::PROGRAM_REGION.0 + 0x1000_0000, PAGES_MAX);
/// Where [`read_pages`] allocates the pages it lends (the client's own region).
pub const CLIENT_PAGES: u64 = abi::layout::PROGRAM_REGION.0 + 0x2000_0000;
/// How long the helpers below wait for the server: far beyond any operation (copying the
/// largest file), so that a server that hangs fails the request instead of its client.
pub const TIMEOUT: Timeout = Timeout::Ticks(1000);

/// A file name as it travels.
pub type FileName = Text<FILE_NAME_MAX>;
/// Data of one short read or write.
pub type Chunk = Bytes<CHUNK>;

/// `name` as a file name: `InvalidArgument` if it is empty, too long, or holds a `/`, a
/// space or a control byte. The server checks the same.
pub fn file_name(name: &str) -> Result<FileName, Error> {
    if !valid_name(name.as_bytes()) {
        return Err(Error::InvalidArgument);
    }
    FileName::new(name).ok_or(Error::InvalidArgument)
}

/// Whether `name` is a file name the server accepts.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= FILE_NAME_MAX && !name.iter().any(|&b| b == b'/' || b <= b' ' || b == 0x7f)
}

/// One file of a listing.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Entry {
    pub name: FileName,
    pub size: u32,
}

/// The file server.
#[libsys::interface]
pub trait Files {
    /// The size of file `name`.
    fn stat(&mut self, name: FileName) -> Result<u32, Error>;
    /// At most `CHUNK` bytes of `name` from `offset` (fewer at the end, none past it).
    fn read(&mut self, name: FileName, offset: u32) -> Result<Chunk, Error>;
    /// Appends `data` to `name` (creating it), after emptying it if `replace`; the new size.
    fn write(&mut self, name: FileName, data: Chunk, replace: bool) -> Result<u32, Error>;
    /// Removes `name`.
    fn remove(&mut self, name: FileName) -> Result<(), Error>;
    /// The `index`-th file (`NotFound` past the last).
    fn list(&mut self, index: u32) -> Result<Entry, Error>;
    /// Copies the whole of `name` into the lent pages; its size.
    fn read_pages(&mut self, name: FileName, buf: &mut SharedPages) -> Result<u32, Error>;
}

/// The file server's client, waiting up to [`TIMEOUT`], or why there is none.
pub fn find(timeout: Timeout) -> Result<FilesClient, Error> {
    libsys::name::lookup(NAME, timeout).map(|tid| FilesClient::new(tid).with_timeout(TIMEOUT))
}

/// One call's outcome as one error: a server that dies mid-call is `PeerDied` (look it up
/// again to reach its successor), one that is gone `NoSuchThread`, one that does not
/// answer in time `Timeout`; a server that does not understand us `InvalidArgument`.
pub fn flat<T>(r: Result<Result<T, Error>, IpcError>) -> Result<T, Error> {
    match r {
        Ok(r) => r,
        Err(IpcError::Sys(e)) => Err(e),
        Err(IpcError::Decode(_) | IpcError::Refused(_)) => Err(Error::InvalidArgument),
    }
}

/// Reads the whole file `name` with short reads, appending to `out`.
pub fn read_all(fs: FilesClient, name: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    let name = file_name(name)?;
    let start = out.len();
    loop {
        let offset = u32::try_from(out.len() - start).map_err(|_| Error::TooLong)?;
        let d = flat(fs.read(name, offset))?;
        out.extend_from_slice(d.as_slice());
        if d.len() < CHUNK {
            return Ok(());
        }
    }
}

/// Creates or replaces file `name` with `data`, in short writes.
pub fn write_all(fs: FilesClient, name: &str, data: &[u8]) -> Result<(), Error> {
    let name = file_name(name)?;
    let mut replace = true;
    let mut chunks = data.chunks(CHUNK);
    loop {
        let chunk = Chunk::truncated(chunks.next().unwrap_or(&[]));
        flat(fs.write(name, chunk, replace))?;
        replace = false;
        if chunks.len() == 0 {
            return Ok(());
        }
    }
}

/// Reads file `name` (at most `FILE_MAX` bytes) by pages: lends the server fresh pages at
/// [`CLIENT_PAGES`] and returns them, filled, with the file's size. (They stay a
/// `SharedPages` value: this side cannot prove the server unmapped its side.)
pub fn read_pages(fs: FilesClient, name: &str) -> Result<(SharedPages, usize), Error> {
    let name = file_name(name)?;
    let size = flat(fs.stat(name))? as usize;
    let count = (size.div_ceil(abi::PAGE_SIZE) as u64).clamp(1, PAGES_MAX);
    let mut pages = Pages::alloc(CLIENT_PAGES, count)?.into_shared();
    let got = flat(fs.read_pages(name, &mut pages))?;
    Ok((pages, got as usize))
}
