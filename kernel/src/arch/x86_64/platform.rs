//! The x86-64 machine as the portable kernel sees it: [`X86`] implements
//! `sys::platform::Platform`, a [`TrapFrame`] is the `ArchState` of a thread, and an
//! [`AddressSpace`] is a `UserSpace`.

use super::aspace::AddressSpace;
use super::entry::{init_user_frame, set_kernel_stack};
use super::frame::TrapFrame;
use super::msgbuf::FrameBuffers;
use super::{gdt, paging, pic};
use crate::mem::KernelStack;
use crate::regs::ArchState;
use crate::sys::platform::{Platform, ThreadStart, UserSpace};
use crate::umem::UserMemory;
use abi::Error;
use core::fmt;

/// Pages of each thread's kernel stack (its top holds the thread's saved user frame).
///
/// 16 KiB. The largest frame on a system call's path is `sys::spawn::task`'s, about 1.7 KiB
/// (measured from the release kernel's `sub rsp` instructions); it was over 7 KiB while an
/// address space carried its 3 KiB region table inline and was moved by value, which
/// overflowed this stack once link-time optimisation inlined more. The table now lives in
/// a frame of its own (`AddressSpace::regions`).
pub const KERNEL_STACK_PAGES: u64 = 4;

/// The machine. Holds nothing: its state is the hardware's.
pub struct X86;

impl ArchState for TrapFrame {
    #[inline(always)]
    fn syscall_number(&self) -> u64 {
        self.rax
    }

    #[inline(always)]
    fn arg(&self, i: usize) -> u64 {
        match i {
            0 => self.rdi,
            1 => self.rsi,
            2 => self.rdx,
            3 => self.r10,
            4 => self.r8,
            5 => self.r9,
            6 => self.r12,
            _ => 0,
        }
    }

    #[inline(always)]
    fn set_result(&mut self, i: usize, v: u64) {
        match i {
            0 => self.rax = v,
            1 => self.rdi = v,
            2 => self.rsi = v,
            3 => self.rdx = v,
            4 => self.r10 = v,
            5 => self.r8 = v,
            6 => self.r9 = v,
            7 => self.r12 = v,
            _ => {}
        }
    }
}

impl UserSpace for AddressSpace {
    fn unmap(&mut self, va: u64, pages: u64) {
        AddressSpace::unmap(self, va, pages)
    }
}

impl Platform for X86 {
    type Space = AddressSpace;
    type Buffers = FrameBuffers;
    type Regs = TrapFrame;

    fn new_space(&mut self, kernel_frames: u32) -> Result<AddressSpace, Error> {
        AddressSpace::new(kernel_frames, &crate::mem::MAP_COUNTS)
    }

    fn alloc_stack(&mut self) -> Result<KernelStack, Error> {
        paging::alloc_stack(KERNEL_STACK_PAGES)
    }

    unsafe fn free_stack(&mut self, stack: KernelStack) {
        // SAFETY: the caller guarantees nothing runs on `stack` any more.
        unsafe { paging::free_stack(stack) }
    }

    fn init_thread(&mut self, stack: &KernelStack, s: ThreadStart) {
        init_user_frame(stack.top(), s.rip, s.rsp, s.arg0, s.arg1)
    }

    fn mask_irq(&mut self, irq: u8) {
        pic::mask(irq)
    }

    fn unmask_irq(&mut self, irq: u8) {
        pic::unmask(irq)
    }

    fn set_io_ports(&mut self, base: u16, count: u16) {
        gdt::set_io_ports(base, count)
    }

    #[inline(always)]
    fn switch_to(&mut self, space: &AddressSpace, stack: &KernelStack, tid: crate::task::Tid) {
        // SAFETY: `space` is a live address space, and its `space_id` is its root (which fits
        // 32 bits: see `aspace`).
        unsafe { self.switch_to_id(u64::from(space.space_id()), stack, tid) }
    }

    #[inline(always)]
    unsafe fn switch_to_id(&mut self, space_id: u64, stack: &KernelStack, tid: crate::task::Tid) {
        // An `AddressSpace`'s `space_id` is its root table's frame (`aspace`).
        let root = space_id;
        // `AddressSpace::activate` without its address checks, as every direct switch
        // runs it: the kernel writes CR3 as the root alone (no PCID, no flag bits), so the
        // raw register equals the root exactly when the space is loaded (anything else
        // only costs a write that was not needed).
        let cr3: u64;
        // SAFETY: reading CR3 has no side effects.
        unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags)) };
        if cr3 != root {
            debug_assert_eq!(root & 0xfff, 0, "a root is a page-table frame");
            // SAFETY: by the precondition, `root` is the top-level table of a live
            // address space (a frame of physical memory, so aligned and within the
            // physical address width), and the upper half, where the kernel runs, is
            // identical in every space; what `activate` writes, with no flags.
            unsafe { core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) };
        }
        set_kernel_stack(stack, tid.raw());
    }

    fn print(&mut self, args: fmt::Arguments) {
        crate::console::_print(args)
    }

    fn write_console(&mut self, bytes: &[u8]) {
        crate::console::write_bytes(bytes)
    }
}
