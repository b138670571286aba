//! Timer cases. They wait for ticks rather than time them: under emulation the rate of
//! ticks relative to guest work varies, and a test must not depend on it.

use super::{ensure, Case};
use crate::time;
use x86_64::instructions::{hlt, interrupts};

pub fn ticks_advance_with_interrupts(t: &mut Case) {
    ensure!(t, interrupts::are_enabled(), "interrupts are disabled");
    let t0 = time::ticks();
    // Bounded by the runner's timeout, not by an assumption about speed.
    while time::ticks() < t0 + 3 {
        core::hint::spin_loop();
    }
    ensure!(t, time::ticks() >= t0 + 3, "ticks did not advance");
}

pub fn halt_wakes_on_tick(t: &mut Case) {
    let t0 = time::ticks();
    let mut halts = 0;
    while time::ticks() < t0 + 2 {
        hlt();
        halts += 1;
    }
    // Each `hlt` ends at an interrupt; only the timer is unmasked, so at most a few halts
    // can be needed per tick.
    ensure!(t, (1..=8).contains(&halts), "{halts} halts for 2 ticks");
}
