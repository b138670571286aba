//! What init answers under its name `init` (`apps/src/bin/init.rs`): the `Init` interface,
//! whose one operation is how many times init has restarted a program.

use libsys::ipc::{Text, Timeout};

/// Init's name (`libsys::name`).
pub const NAME: &str = "init";

/// A program's name as it travels (as long as the boot image allows).
pub type ProgramName = Text<{ libsys::abi::image::NAME_MAX }>;

/// Init's queries.
#[libsys::interface]
pub trait Init {
    /// How many times init has restarted the program called `program` (0 if it never
    /// started it).
    fn restarts(&mut self, program: ProgramName) -> u32;
}

/// Init's restart count of program `name` (0 if init is unreachable or does not know it).
pub fn restarts(name: &str) -> u32 {
    let Some(program) = ProgramName::new(name) else { return 0 };
    let Ok(init) = libsys::name::lookup(NAME, Timeout::Poll) else { return 0 };
    InitClient::new(init).with_timeout(Timeout::Ticks(100)).restarts(program).unwrap_or(0)
}
