//! What the portable kernel needs from the machine, as traits the architecture implements:
//! [`Platform`] (kernel stacks, interrupt lines, I/O permissions, entering a thread, the
//! console) and [`UserSpace`] (an address space). The host tests implement them with
//! fakes, so every system call runs under `cargo test`.

use crate::ipc::mailbox::MsgBuffers;
use crate::loader::elf::LoadTarget;
use crate::mem::pagemap::PageMap;
use crate::mem::KernelStack;
use crate::regs::ArchState;
use crate::umem::UserMemory;
use abi::Error;
use core::fmt;

/// An address space as the system calls use it, beyond reading and writing user memory
/// and moving pages (`UserMemory`, `PageMap`) and loading programs (`LoadTarget`).
/// (Whether a range is unmapped is `PageMap::is_unmapped`.)
pub trait UserSpace: UserMemory + PageMap + LoadTarget {
    /// Unmaps `[va, va + pages)`, freeing frames no other mapping holds and tables left
    /// empty.
    fn unmap(&mut self, va: u64, pages: u64);
}

/// Where a new thread starts: its user `rip` and `rsp`, and its two arguments (`rdi`, `rsi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadStart {
    pub rip: u64,
    pub rsp: u64,
    pub arg0: u64,
    pub arg1: u64,
}

/// The machine under the portable kernel.
pub trait Platform {
    /// An address space.
    type Space: UserSpace;
    /// Kernel buffers for asynchronous messages.
    type Buffers: MsgBuffers;
    /// A thread's saved user registers.
    type Regs: ArchState;

    /// A new address space whose page tables may take `kernel_frames` frames.
    fn new_space(&mut self, kernel_frames: u32) -> Result<Self::Space, Error>;
    /// A kernel stack for a new thread.
    fn alloc_stack(&mut self) -> Result<KernelStack, Error>;
    /// Frees a stack from `alloc_stack`.
    ///
    /// # Safety
    /// No thread runs on `stack` or will again (a reaped zombie's, or one never used).
    unsafe fn free_stack(&mut self, stack: KernelStack);
    /// Writes the user context a new thread starts from at the top of `stack`.
    fn init_thread(&mut self, stack: &KernelStack, start: ThreadStart);
    /// Masks interrupt line `irq`.
    fn mask_irq(&mut self, irq: u8);
    /// Unmasks interrupt line `irq`.
    fn unmask_irq(&mut self, irq: u8);
    /// Lets user mode use `count` I/O ports from `base` (none if `count` is 0).
    fn set_io_ports(&mut self, base: u16, count: u16);
    /// Prepares to enter thread `tid` of `space` on `stack`: makes the space active and the
    /// stack the one the next entry from user mode lands on. Called whenever the thread
    /// to run changes, so the machine may keep `tid` for the `gettid` stub.
    fn switch_to(&mut self, space: &Self::Space, stack: &KernelStack, tid: crate::task::Tid);
    /// [`switch_to`](Self::switch_to) for the space whose `UserMemory::space_id` is
    /// `space_id`, for the direct switch, which keeps the id with each thread
    /// (`crate::ipc::Home`) instead of reaching the space.
    ///
    /// # Safety
    /// `space_id` is the `space_id` of a live address space of this platform (the machine
    /// loads it as the page-table root).
    unsafe fn switch_to_id(&mut self, space_id: u64, stack: &KernelStack, tid: crate::task::Tid);
    /// Writes formatted text to the kernel console.
    fn print(&mut self, args: fmt::Arguments);
    /// Writes a program's bytes to the kernel console.
    fn write_console(&mut self, bytes: &[u8]);
}
