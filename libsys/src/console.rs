//! Console output: [`print!`](crate::print) and [`println!`](crate::println).
//!
//! Formatting goes into a small buffer that is written out when full and at the end. The
//! kernel writes at most [`PRINT_MAX`](abi::syscall::PRINT_MAX) bytes per `print` call
//! (it polls the UART with interrupts off), so writing out loops until every byte is
//! through: whole strings are printed, and a line of up to `PRINT_MAX` bytes reaches the
//! console in one piece even when several threads print at once.

use core::fmt::{self, Write};

struct Buffered {
    buf: [u8; 256],
    len: usize,
}

impl Buffered {
    fn flush(&mut self) {
        write_all(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for Buffered {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes all of `bytes` to the console, over as many `print` calls as the kernel needs.
/// Returns how many bytes the kernel took: all of them, unless it refused the rest (which
/// it does only for memory the caller cannot read).
pub fn write_all(bytes: &[u8]) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        let n = crate::raw::print(&bytes[done..]);
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    done
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let mut out = Buffered { buf: [0; 256], len: 0 };
    let _ = out.write_fmt(args);
    out.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
