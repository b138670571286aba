//! x86-64 specifics: boot, the serial console, descriptor tables, traps, the interrupt
//! controller and timer, paging, and power-off. Everything else in the kernel is portable.

pub mod aspace;
pub mod boot;
pub mod cpu;
pub mod direct;
pub mod entry;
pub mod frame;
pub mod gdt;
pub mod idt;
pub mod msgbuf;
pub mod paging;
pub mod pic;
pub mod platform;
pub mod power;
pub mod probe;
pub mod serial;
pub mod spec;
pub mod traps;

/// Called by the boot assembly on the boot stack, in the higher half, with the boot page
/// tables (physical 0..1 GiB identity-mapped) still live.
#[no_mangle]
extern "C" fn kernel_entry(start_info_phys: u32) -> ! {
    crate::boot_sequence::start(start_info_phys as u64)
}
