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

/// Ticks init waits before restarting a program the first time; each further restart of
/// the same program waits twice as long as the one before, up to
/// [`RESTART_DELAY_MAX_TICKS`]. So a program that crashes at once cannot keep init
/// restarting it as fast as it can, and its restarts stay a few seconds' work in all.
pub const RESTART_DELAY_TICKS: u32 = 10;
/// The longest wait before a restart, in ticks.
pub const RESTART_DELAY_MAX_TICKS: u32 = 320;

/// How long init waits before restarting a program it has restarted `restarts` times
/// already.
pub fn restart_delay(restarts: u32) -> u32 {
    RESTART_DELAY_TICKS.checked_shl(restarts).unwrap_or(u32::MAX).min(RESTART_DELAY_MAX_TICKS)
}
