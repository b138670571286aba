//! Time in timer ticks (`abi::TICK_HZ` per second).

use abi::Error;

/// Sleeps for `ticks` ticks; 0 returns at once.
pub fn sleep(ticks: u32) -> Result<(), Error> {
    crate::check(crate::raw::sleep(i32::try_from(ticks).map_err(|_| Error::InvalidArgument)?))
}

/// Ticks since boot.
pub fn ticks() -> u64 {
    crate::raw::get_ticks()
}

/// Gives the CPU to the next runnable thread.
pub fn yield_now() {
    crate::raw::yield_to(-1);
}
