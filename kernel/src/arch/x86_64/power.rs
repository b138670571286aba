//! Powering the machine off: through QEMU's `isa-debug-exit` device, with the reason
//! encoded as an [`abi::report::GuestExit`] so the host runner can tell success from failure.

use abi::report::{GuestExit, DEBUG_EXIT_PORT};
use x86_64::instructions::{interrupts, port::Port};

/// Leaves QEMU with `why`. Never returns: if the write does not stop the machine (no
/// debug-exit device, or the write is still in flight under TCG) the CPU halts forever,
/// so nothing after this point can be mistaken for progress.
pub fn exit(why: GuestExit) -> ! {
    interrupts::disable();
    // SAFETY: port 0xf4 is QEMU's debug-exit device (or nothing on other machines); the
    // write has no effect on memory.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(why as u32) };
    halt_forever()
}

/// Halts with interrupts off, forever.
pub fn halt_forever() -> ! {
    loop {
        interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Prints the status line the host runner reads (`abi::report::STATUS_PREFIX`) and powers
/// off: `Success` for status 0, `Failure` otherwise.
pub fn power_off(status: i32) -> ! {
    crate::trace_event!(crate::trace::dump(&mut crate::console::Console));
    crate::kprintln!("{}{}", abi::report::STATUS_PREFIX, status);
    exit(if status == 0 { GuestExit::Success } else { GuestExit::Failure })
}
