//! Kernel time: the kernel's one tick counter, driven by the periodic timer, and the
//! timer's programming derived from `abi::TICK_HZ`. The scheduler is told the counter at
//! each tick (`task::Core::tick`) rather than counting on its own.

use core::sync::atomic::{AtomicU64, Ordering};

/// The PIT's input clock, in Hz.
pub const PIT_INPUT_HZ: u32 = 1_193_182;

/// The PIT channel-0 reload value that gives `hz` interrupts per second (rounded to the
/// nearest achievable rate).
pub const fn pit_divisor(hz: u32) -> u16 {
    let d = (PIT_INPUT_HZ + hz / 2) / hz;
    // Evaluated at compile time for TICK_DIVISOR: a bad abi::TICK_HZ fails the build.
    assert!(d >= 1 && d <= 65535, "rate not achievable with the PIT");
    d as u16
}

/// The reload value for `abi::TICK_HZ`, checked at compile time.
pub const TICK_DIVISOR: u16 = pit_divisor(abi::TICK_HZ);

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Ticks since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Called once per timer interrupt.
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisor_for_tick_hz_is_accurate_to_a_tenth_of_a_percent() {
        let actual_hz = PIT_INPUT_HZ as f64 / TICK_DIVISOR as f64;
        let err = (actual_hz - abi::TICK_HZ as f64).abs() / abi::TICK_HZ as f64;
        assert!(err < 0.001, "{actual_hz} Hz");
        assert_eq!(pit_divisor(100), 11932);
        assert_eq!(pit_divisor(1000), 1193);
    }

    #[test]
    fn ticks_count_up() {
        let before = ticks();
        tick();
        tick();
        assert!(ticks() >= before + 2);
    }
}
