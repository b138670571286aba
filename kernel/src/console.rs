//! The kernel console (`kprint!`, `kprintln!`): formatted output to COM1 under a lock.
//!
//! Invariant: the lock is only ever taken with interrupts disabled, so an interrupt handler
//! that prints cannot deadlock against the code it interrupted. The fatal paths (panic,
//! unexpected exception) use [`emergency`] instead, which does not take the lock at all.

use crate::arch::serial::{self, Serial};
use crate::lock::Lock;
use core::fmt::{self, Write};

static CONSOLE: Lock<Option<Serial>> = Lock::new("CONSOLE", None);

/// Initialises COM1. Call once, first thing at boot.
pub fn init() {
    // SAFETY: first use of COM1; from here on only the console lock (or the emergency
    // writer on the way down) touches it.
    let serial = unsafe { Serial::init() };
    *CONSOLE.lock() = Some(serial);
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(serial) = CONSOLE.lock().as_mut() {
            let _ = serial.write_fmt(args);
        }
    });
}

/// A writer for the last words of a dying kernel: no lock, so it works even if the
/// console lock was held by the code that failed.
pub fn emergency() -> impl Write {
    struct Raw;
    impl Write for Raw {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for b in s.bytes() {
                if b == b'\n' {
                    serial::write_byte_raw(b'\r');
                }
                serial::write_byte_raw(b);
            }
            Ok(())
        }
    }
    Raw
}

/// The console as a `fmt::Write` (for output formatted elsewhere, e.g. the trace dump).
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        _print(format_args!("{s}"));
        Ok(())
    }
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the kernel console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Writes raw bytes (a user program's output) under the console lock.
pub fn write_bytes(bytes: &[u8]) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(serial) = CONSOLE.lock().as_mut() {
            for &b in bytes {
                if b == b'\n' {
                    serial.write_byte(b'\r');
                }
                serial.write_byte(b);
            }
        }
    });
}
