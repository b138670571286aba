//! Program entry and the panic handler.

use core::sync::atomic::{AtomicU64, Ordering};

static ARG: AtomicU64 = AtomicU64::new(0);

/// Declares the program's entry: `main` runs on the first thread, and its return value is
/// the task's exit status (returning ends the whole task).
///
/// ```ignore
/// // A whole no_std program for x86_64-unknown-none (see apps/src/bin/hello.rs).
/// libsys::entry!(main);
/// fn main() -> i32 {
///     0
/// }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[doc(hidden)]
        extern "C" fn __moroso_start(arg: u64) -> ! {
            let main: fn() -> i32 = $main;
            $crate::rt::start(main, arg)
        }

        /// The ELF entry point: aligns the stack as a call would, then runs `main`.
        #[unsafe(no_mangle)]
        #[unsafe(naked)]
        pub extern "C" fn _start() -> ! {
            ::core::arch::naked_asm!("and rsp, -16", "call {start}", "ud2", start = sym __moroso_start)
        }
    };
}

// A program without `entry!` links with no entry point (the ELF's entry is 0); the runner
// refuses such a file before booting and says to add `entry!`. (A weak fallback `_start`
// here would do the same at run time, but two `_start`s in one module break fat LTO.)

/// Runs `main` with the task's argument recorded, then ends the task with its status.
pub fn start(main: fn() -> i32, arg: u64) -> ! {
    ARG.store(arg, Ordering::Relaxed);
    let status = main();
    crate::raw::task_exit(status)
}

/// The argument the task was started with (`task::spawn`'s `arg`; 0 for the first task).
pub fn arg() -> u64 {
    ARG.load(Ordering::Relaxed)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // The kernel follows this with the task's id, name and status in words.
    crate::println!("panic in thread {}: {}", crate::raw::gettid(), info);
    crate::raw::task_exit(abi::status::PANICKED)
}
