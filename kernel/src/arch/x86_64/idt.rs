//! The IDT: 256 interrupt gates, each pointing at its assembly stub in `traps`.
//!
//! A table of our own rather than `x86_64::structures::idt`: every vector enters through
//! the same uniform stub shape, which the crate's per-vector handler types do not model.

use super::gdt::{Selectors, IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
use super::{frame, traps};
use spin::Once;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const _: () = assert!(size_of::<Gate>() == 16);

/// Present, DPL 0, 64-bit interrupt gate (interrupts disabled on entry).
const INTERRUPT_GATE: u8 = 0x8e;

impl Gate {
    fn new(handler: u64, selector: u16, ist: u8) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector,
            ist,
            type_attr: INTERRUPT_GATE,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

static IDT: Once<[Gate; 256]> = Once::new();

/// Builds and loads the IDT.
pub fn init(sel: &Selectors) {
    let idt = IDT.call_once(|| {
        core::array::from_fn(|v| {
            let ist = match v as u8 {
                frame::VEC_DOUBLE_FAULT => IST_DOUBLE_FAULT + 1,
                frame::VEC_NMI => IST_NMI + 1,
                frame::VEC_MACHINE_CHECK => IST_MACHINE_CHECK + 1,
                _ => 0,
            };
            Gate::new(traps::stub_address(v as u8), sel.kernel_code.0, ist as u8)
        })
    });
    let ptr = DescriptorTablePointer { limit: (size_of_val(idt) - 1) as u16, base: VirtAddr::from_ptr(idt.as_ptr()) };
    // SAFETY: the table is in a static (lives forever) and every gate points at a stub that
    // saves state, calls `traps::dispatch` and returns with `iretq`.
    unsafe { lidt(&ptr) };
}
