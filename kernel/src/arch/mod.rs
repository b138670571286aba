//! Architecture support. Moroso runs on x86-64 only; the indirection keeps the portable
//! code free of `x86_64::` paths to the machine.
mod x86_64;
pub use self::x86_64::*;
