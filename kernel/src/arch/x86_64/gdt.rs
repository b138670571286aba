//! The GDT and TSS.
//!
//! Descriptor order is fixed by `syscall`/`sysret`: STAR requires the kernel data
//! selector right after kernel code, and user data right before user code. The TSS carries
//! the interrupt stacks (IST) for faults that must not trust the current stack: double
//! fault (a kernel stack overflow ends up there), NMI and machine check.

use crate::mem::KernelStack;
use core::cell::UnsafeCell;
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slots (0-based TSS index; the IDT uses index + 1).
pub const IST_DOUBLE_FAULT: u16 = 0;
pub const IST_NMI: u16 = 1;
pub const IST_MACHINE_CHECK: u16 = 2;

/// The selector values the descriptor order above produces; the `syscall` stub and new
/// threads' frames use them as constants (checked against the GDT in `init`).
pub const KERNEL_CODE: u16 = 0x08;
pub const USER_DATA: u16 = 0x18 | 3;
pub const USER_CODE: u16 = 0x20 | 3;

/// The selectors the rest of the kernel needs.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    pub kernel_code: SegmentSelector,
    pub kernel_data: SegmentSelector,
    pub user_data: SegmentSelector,
    pub user_code: SegmentSelector,
    pub tss: SegmentSelector,
}

/// Ports the I/O permission bitmap covers: 0..1024 (devices above are never granted).
pub const IO_PORTS: usize = 1024;

/// The TSS with its I/O permission bitmap right after it, as the CPU requires (bit set:
/// port denied; the trailing 0xff byte ends the map).
#[repr(C)]
struct TssWithIomap {
    tss: TaskStateSegment,
    iomap: [u8; IO_PORTS / 8 + 1],
}

#[repr(transparent)]
pub(super) struct TssCell(UnsafeCell<TssWithIomap>);
// SAFETY: the TSS is written only during `init`, before it is loaded, on the single CPU,
// and afterwards only by kernel entry paths with interrupts disabled (rsp0, the bitmap);
// the `syscall` stub reads rsp0 only on entry from user mode, when no such write runs.
unsafe impl Sync for TssCell {}

/// The TSS; the `syscall` stub reads its rsp0 (`entry`).
pub(super) static TSS: TssCell =
    TssCell(UnsafeCell::new(TssWithIomap { tss: TaskStateSegment::new(), iomap: [0xff; IO_PORTS / 8 + 1] }));
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Builds and loads the GDT and TSS. `ist` holds the tops of the double-fault, NMI and
/// machine-check stacks.
pub fn init(ist: [VirtAddr; 3]) -> Selectors {
    // SAFETY: called once at boot, before the TSS is loaded or referenced by anyone.
    let tss = unsafe { &mut (*TSS.0.get()).tss };
    tss.interrupt_stack_table[IST_DOUBLE_FAULT as usize] = ist[0];
    tss.interrupt_stack_table[IST_NMI as usize] = ist[1];
    tss.interrupt_stack_table[IST_MACHINE_CHECK as usize] = ist[2];

    let (gdt, sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        // SAFETY: only shared references escape, into the descriptor; the TSS and its
        // bitmap live for the whole run in a static, the bitmap right after the TSS.
        let whole: &TssWithIomap = unsafe { &*TSS.0.get() };
        let (tss, iomap) = (&whole.tss, &whole.iomap[..]);
        // Boot-time, fixed layout: the bitmap is a field right after the TSS in one static.
        let tss = gdt.append(Descriptor::tss_segment_with_iomap(tss, iomap).expect("the bitmap follows the TSS"));
        (gdt, Selectors { kernel_code, kernel_data, user_data, user_code, tss })
    });
    assert_eq!((sel.kernel_code.0, sel.user_data.0, sel.user_code.0), (KERNEL_CODE, USER_DATA, USER_CODE));
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, with the right descriptor types.
    unsafe {
        CS::set_reg(sel.kernel_code);
        SS::set_reg(sel.kernel_data);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
        load_tss(sel.tss);
    }
    *sel
}

/// Where `privilege_stack_table[0]` (the CPU's rsp0) lies in `TSS`.
pub(super) const RSP0: usize =
    core::mem::offset_of!(TssWithIomap, tss) + core::mem::offset_of!(TaskStateSegment, privilege_stack_table);

/// Sets the stack the CPU switches to on an interrupt or exception from user mode, which
/// the `syscall` stub loads too (`entry`): the top of kernel stack `stack`.
pub fn set_rsp0(stack: &KernelStack) {
    let top = stack.top();
    // Every kernel stack lies in `[KSTACKS_BASE, KSTACKS_BASE + KSTACKS_SIZE)`
    // (`paging::alloc_stack`, the one maker of a `KernelStack` but `EMPTY`, whose top is 0),
    // in the upper half below the kernel image, so its top is canonical.
    debug_assert_eq!(VirtAddr::new_truncate(top).as_u64(), top, "a kernel stack's top is canonical");
    // SAFETY: single CPU, interrupts disabled (callers are kernel entry paths); the CPU
    // reads this field only when delivering an interrupt from ring 3, and the `syscall`
    // stub only on a `syscall` from user mode, neither of which can happen while the kernel
    // runs. `top` is canonical (above), as the field must be: no check or
    // truncation on every switch. The field is `TSS`'s (a transparent cell around a
    // `repr(C)` struct), written at its own address, where the assembler puts the symbol
    // (no address loaded first); unaligned, as the TSS layout has it, which `mov` allows.
    unsafe {
        core::arch::asm!(
            "mov qword ptr [rip + {tss} + {rsp0}], {top}",
            tss = sym TSS,
            rsp0 = const RSP0,
            top = in(reg) top,
            options(nostack, preserves_flags)
        )
    };
}

/// Lets user mode use ports `[base, base + count)` (of the first `IO_PORTS`) and no other.
pub fn set_io_ports(base: u16, count: u16) {
    // SAFETY: as for `set_rsp0`: the CPU reads the bitmap only for user-mode `in`/`out`,
    // which cannot run while the kernel does.
    let map = unsafe { &mut (*TSS.0.get()).iomap };
    map[..IO_PORTS / 8].fill(0xff);
    let end = (base as usize + count as usize).min(IO_PORTS);
    for port in (base as usize).min(end)..end {
        map[port / 8] &= !(1 << (port % 8));
    }
}
