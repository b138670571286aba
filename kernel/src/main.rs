//! The kernel executable. All of the kernel is in the library; its entry point
//! (`pvh_entry32`, then `kernel_entry`) is linked in from there.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use moroso_kernel as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "moroso-kernel is a bare-metal kernel for x86_64-unknown-none; \
         boot it with `cargo xtask run`"
    );
    std::process::exit(2);
}
