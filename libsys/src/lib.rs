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
//! - [`ipc`]: typed IPC — messages as Rust types (`#[derive(Message)]`), calls with typed
//!   replies, reply tokens, pages that move by value. Start there.
//! - [`raw`]: one function per system call, with the specification's names and parameters.
//! - [`entry!`], [`println!`], [`print!`]: program entry and console output.
//! - [`thread`], [`task`], [`time`]: threads, tasks and time, as safe functions.
//! - [`sync`]: `Mutex`, `Condvar`, `Semaphore` for threads of one task, without busy waiting.
//! - A global allocator backed by `new_pages`, so `alloc` (`Vec`, `Box`, ...) works.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub use abi;
/// The message trait and its derive: `use libsys::Message;` brings both.
pub use abi::message::Message;
pub use moroso_derive::interface;
pub use moroso_derive::Message;

pub mod console;
pub mod device;
#[cfg(target_os = "none")]
mod heap;
pub mod ipc;
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
