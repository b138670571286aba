//! The Moroso user library. Today it only re-exports [`abi`]; the runtime (program entry,
//! system-call stubs, console, threads) arrives with userland (issue 3).
#![no_std]

pub use abi;
