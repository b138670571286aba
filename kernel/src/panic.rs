//! The kernel panic handler: the message and location on the console, then power off with
//! [`GuestExit::KernelPanic`](abi::report::GuestExit::KernelPanic).

use core::fmt::Write;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    let mut out = crate::console::emergency();
    let _ = writeln!(out, "\nKERNEL PANIC: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = writeln!(out, "  at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    crate::arch::power::exit(abi::report::GuestExit::KernelPanic)
}
