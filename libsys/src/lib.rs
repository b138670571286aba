//! The Moroso user library: what a Moroso program links to run.
//!
//! A whole program (built for `x86_64-unknown-none`; `apps/src/bin/hello.rs` is this one,
//! compiled on every test run):
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! libsys::entry!(main);
//!
//! fn main() -> i32 {
//!     libsys::println!("hello from thread {}", libsys::raw::gettid());
//!     0 // the task's exit status
//! }
//! ```
//! Build it with `cargo build --release --target x86_64-unknown-none` and boot it with
//! `cargo xtask run --app target/x86_64-unknown-none/release/NAME`.
//!
//! - [`interface`]: a server is a trait, a client is generated. Start there for a service.
//! - [`ipc`]: typed IPC — messages as Rust types (`#[derive(Message)]`), calls with typed
//!   replies, reply tokens, pages that move by value.
//! - [`raw`]: one function per system call, with the specification's names and parameters.
//! - [`entry!`], [`println!`], [`print!`]: program entry and console output.
//! - [`thread`], [`task`], [`time`]: threads, tasks and time, as safe functions.
//! - [`sync`]: `Mutex`, `Condvar`, `Semaphore` for threads of one task, without busy waiting.
//! - A global allocator backed by `new_pages`, so `alloc` (`Vec`, `Box`, ...) works.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

extern crate alloc;
// The code `#[libsys::interface]` generates names `::libsys`; this lets libsys's own
// interfaces (the name server's) use it too.
extern crate self as libsys;

pub use abi;
/// The message trait and its derive: `use libsys::Message;` brings both.
pub use abi::message::Message;
/// Turns a trait into an IPC interface: a server implements the trait, a client calls it
/// through a generated `NameClient`.
///
/// A complete program, server thread and client thread:
///
/// ```no_run
/// use libsys::ipc::{IpcError, Timeout};
/// use libsys::Message;
///
/// /// The interface's own errors: values of a call, separate from transport errors.
/// #[derive(Message, Debug, PartialEq, Clone, Copy)]
/// #[repr(u8)]
/// pub enum KvError {
///     NotFound = 1,
///     Full = 2,
/// }
///
/// #[libsys::interface]
/// pub trait KeyValue {
///     /// Stores `value` under `key`.
///     fn put(&mut self, key: u32, value: u64) -> Result<(), KvError>;
///     /// The value under `key`.
///     fn get(&mut self, key: u32) -> Result<u64, KvError>;
///     /// How many keys are stored.
///     fn count(&mut self) -> u32;
/// }
///
/// /// The server: a plain type implementing the trait.
/// struct Table {
///     entries: [(u32, u64); 8],
///     used: usize,
/// }
///
/// impl KeyValue for Table {
///     fn put(&mut self, key: u32, value: u64) -> Result<(), KvError> {
///         let slot = self.entries.get_mut(self.used).ok_or(KvError::Full)?;
///         *slot = (key, value);
///         self.used += 1;
///         Ok(())
///     }
///     fn get(&mut self, key: u32) -> Result<u64, KvError> {
///         let found = self.entries[..self.used].iter().find(|(k, _)| *k == key);
///         found.map(|(_, v)| *v).ok_or(KvError::NotFound)
///     }
///     fn count(&mut self) -> u32 {
///         self.used as u32
///     }
/// }
///
/// fn server_thread(_: usize) {
///     let mut table = Table { entries: [(0, 0); 8], used: 0 };
///     // Answers every call until receiving fails (`KeyValueServer::handle_one`: one call).
///     let error = KeyValueServer::serve(&mut table);
///     libsys::println!("server stopped: {error}");
/// }
///
/// fn client(server: u32) -> Result<(), IpcError> {
///     let kv = KeyValueClient::new(server).with_timeout(Timeout::Ticks(100));
///     // `?` for the transport; the method's own error is the inner `Result`.
///     assert_eq!(kv.put(7, 49)?, Ok(()));
///     assert_eq!(kv.get(7)?, Ok(49));
///     assert_eq!(kv.get(8)?, Err(KvError::NotFound));
///     assert_eq!(kv.count()?, 1);
///     Ok(())
/// }
///
/// // The program's entry, declared with `libsys::entry!(start);`.
/// fn start() -> i32 {
///     let Ok(server) = libsys::thread::spawn(server_thread, 0) else { return 1 };
///     match client(server) {
///         Ok(()) => 0,
///         Err(e) => {
///             libsys::println!("call failed: {e}");
///             1
///         }
///     }
/// }
/// # fn main() {}
/// ```
///
/// # What it generates
///
/// Beside the trait `Name`, with its visibility:
///
/// - `NameClient`: `NameClient::new(tid)` (a `Copy` value naming the server thread),
///   `.with_timeout(Timeout)` (default `Forever`; it bounds rendezvous and reply together),
///   `.tid()`, and one `&self` method per operation with the trait method's arguments,
///   returning `Result<T, IpcError>`, or `Result<Result<T, E>, IpcError>` for a method that
///   returns `Result<T, E>`: the method's own error never mixes with transport errors.
/// - `NameServer::handle_one(&mut impl Name, Timeout) -> Result<(), IpcError>` receives one
///   call, runs the method and replies; `NameServer::serve(&mut impl Name) -> IpcError`
///   loops and returns only when receiving fails (a reply its caller did not wait for ends
///   nothing). `NameServer::dispatch` runs one request's bytes without a system call, for
///   tests. Every call is answered: an unknown operation, a request that does not decode,
///   or pages the operation does not take get a refusal (`IpcError::Refused`), never
///   silence.
/// - `NameOp`: the operations, numbered from 1 in declaration order (a request's first
///   byte), and for each method `NameMethodRequest` and `NameMethodReply` (`Method` in camel
///   case): messages whose sizes, and whether a call fits the register fast path, are fixed
///   at compile time. A request or reply over 4 KiB does not compile. The wire format is in
///   [`ipc::interface`].
///
/// # Rules
///
/// Methods take `&mut self` (the server's state, one call at a time); they are not
/// generic, `async`, `const` or `unsafe`; their arguments are messages (integers, `bool`,
/// arrays, `#[derive(Message)]` types, and [`ipc::Text`] or [`ipc::Bytes`] for names and
/// variable-length data) by value, with plain names. They return a message, nothing, or
/// `Result<T, E>` of messages, `E` an error enum the interface declares with
/// `#[derive(Message)]` or [`abi::Error`] itself. No operation may be named `new`,
/// `with_timeout` or `tid` (the client's own methods). Each misuse is a compile error that
/// says what to write instead.
///
/// An argument of type [`ipc::Caller`] is not sent: the server fills it in with the thread
/// the kernel says made the call, so a server can bind something to its caller without the
/// client being able to claim another thread's identity. The client's method does not have
/// it: `fn register(&mut self, caller: Caller, name: Text<32>) -> Result<(), Error>` is
/// called as `client.register(name)`.
///
/// # Pages
///
/// One argument of a method may carry pages: `data: Pages` moves them to the server,
/// `buf: &SharedPages` shares them (both sides map them), and `buf: &mut SharedPages` lends
/// them for the server to write into (how a server hands back bulk data). An interface
/// with such a method gets `const RECEIVE_WINDOW: Window;` in its trait, which every
/// server sets: where the pages arrive, declared once. The method gets them typed (`Pages`
/// by value, `&SharedPages` or `&mut SharedPages` for the call), and they are unmapped when
/// it returns, so the window is
/// free for the next call; a method that keeps moved pages occupies the window, the next
/// receive fails with `WindowOccupied` and `serve` returns it. Pages of the wrong kind, or
/// none, for the operation are refused. On the client, a move that fails frees the pages
/// (use [`ipc::call_moving`] with the generated request to get
/// them back instead).
///
/// ```no_run
/// use libsys::ipc::{Pages, SharedPages, Window};
///
/// #[libsys::interface]
/// pub trait Blocks {
///     /// Takes the pages: the client no longer has them.
///     fn store(&mut self, block: u32, data: Pages) -> u64;
///     /// Writes `byte` at the start of each page of the buffer the client lends.
///     fn fill(&mut self, buf: &mut SharedPages, byte: u8) -> u32;
/// }
///
/// struct Disk;
///
/// impl Blocks for Disk {
///     // 16 unmapped pages of the program's region: the largest call it takes.
///     const RECEIVE_WINDOW: Window = Window::new(libsys::abi::layout::PROGRAM_REGION.0 + 0x100_0000, 16);
///
///     fn store(&mut self, _block: u32, data: Pages) -> u64 {
///         data.as_bytes().iter().map(|&b| b as u64).sum() // dropped, so unmapped, on return
///     }
///     fn fill(&mut self, buf: &mut SharedPages, byte: u8) -> u32 {
///         for page in 0..buf.count() as usize {
///             buf.write_at(page * 4096, &[byte]);
///         }
///         buf.count() as u32
///     }
/// }
///
/// fn client(server: u32) {
///     let blocks = BlocksClient::new(server);
///     let base = libsys::abi::layout::PROGRAM_REGION.0 + 0x200_0000;
///     let mut data = Pages::alloc(base, 2).expect("memory");
///     data.as_bytes_mut()[0] = 1;
///     let sum = blocks.store(9, data); // `data` moved: using it again does not compile
///     let mut shared = Pages::alloc(base, 1).expect("memory").into_shared();
///     let pages = blocks.fill(&mut shared, 0xff);
///     assert_eq!((sum, pages), (Ok(1), Ok(1)));
///     assert_eq!(shared.as_bytes()[0], 0xff);
/// }
/// ```
pub use moroso_derive::interface;
/// `#[derive(Message)]`: makes a `#[repr(C)]` struct or a fieldless `#[repr(uN)]` enum a
/// typed IPC message, checked at compile time (see [`ipc`] for sending and receiving it).
///
/// ```
/// use libsys::Message;
///
/// #[derive(Message, Debug, PartialEq)]
/// #[repr(u8)]
/// enum Answer { Yes = 1, No = 2 }
///
/// #[derive(Message)]
/// #[repr(C)]
/// #[message(reply = Answer)]
/// struct Question { id: u32, urgent: bool, pad: [u8; 3] }
///
/// let mut bytes = [0u8; Question::SIZE];
/// Question { id: 7, urgent: true, pad: [0; 3] }.encode_into(&mut bytes);
/// assert_eq!(bytes, [7, 0, 0, 0, 1, 0, 0, 0]);
/// assert_eq!(Answer::decode(&[2]), Ok(Answer::No));
/// assert!(Answer::decode(&[3]).is_err(), "every tag is checked");
/// ```
pub use moroso_derive::Message;

pub mod console;
pub mod device;
#[cfg(target_os = "none")]
mod heap;
pub mod ipc;
pub mod name;
pub mod raw;
pub mod rt;
pub mod sync;
pub mod task;
pub mod thread;
pub mod time;

/// The result of a system call that returns only success or an error.
fn check(ret: i32) -> Result<(), abi::Error> {
    if ret >= 0 {
        Ok(())
    } else {
        Err(abi::Error::try_from(ret).unwrap_or(abi::Error::InvalidArgument))
    }
}
