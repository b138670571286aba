//! The one [`Kernel`] and the machine's ways into it: every trap and `syscall` that
//! concerns threads comes here, borrows the kernel once, runs the portable entry
//! (`sys::Kernel`), and then does what it says: resume, write a thread's pending results
//! into its frame and enter it, idle, or power off.
//!
//! Frames are handled through raw pointers only: the entry reads the registers it needs
//! while no other reference to the frame exists, and the results are written, after the
//! kernel borrow has ended, through the frame of the thread chosen to run, which may be
//! the very frame the entry came in on.

use crate::arch::entry::{self, frame_of};
use crate::arch::frame::TrapFrame;
use crate::arch::msgbuf::FrameBuffers;
use crate::arch::platform::X86;
use crate::arch::{paging, power, spec};
use crate::loader::image::BootImage;
use crate::sys::spec::Spec;
use crate::sys::{Kernel, Leave, UserFault};
use abi::Syscall;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The one `Kernel`, borrowed by one entry at a time.
pub(crate) struct KernelCell {
    busy: AtomicBool,
    kernel: UnsafeCell<Kernel<X86>>,
}

// SAFETY: one CPU, and the kernel runs with interrupts disabled except in the idle loop,
// which holds no borrow; `busy` turns any nested borrow (a kernel bug) into a panic
// instead of aliasing.
unsafe impl Sync for KernelCell {}

/// Where the kernel lies in its cell, for the direct switch's assembly (`arch::direct`,
/// whose offsets, `sys::fast_layout`, are from the kernel's start).
pub(crate) const KERNEL_AT: usize = core::mem::offset_of!(KernelCell, kernel);

pub(crate) static KERNEL: KernelCell =
    KernelCell { busy: AtomicBool::new(false), kernel: UnsafeCell::new(Kernel::new(X86, FrameBuffers)) };

/// Top of the stack the idle loop runs on (set once, at start).
static IDLE_STACK: AtomicU64 = AtomicU64::new(0);

fn with_kernel<R>(f: impl FnOnce(&mut Kernel<X86>) -> R) -> R {
    // A real check, not a debug one: an entry that forgot to disable interrupts would
    // otherwise fail only when a tick happens to land inside it.
    assert!(!x86_64::instructions::interrupts::are_enabled(), "kernel state used with interrupts enabled");
    // Lock re-entry: every entry path runs with interrupts off and takes the kernel once;
    // a second borrow is a kernel bug (an entry nested in an entry, such as a fault in
    // kernel code), not a user action. A real check here: a trap can come from kernel mode.
    assert!(!KERNEL.busy.swap(true, Ordering::Acquire), "kernel state borrowed twice");
    let mut kernel = Borrow(());
    f(kernel.get())
}

/// [`with_kernel`] for the `syscall` stub's ways in, which need not ask whether
/// interrupts are off: the CPU clears IF on `syscall` (SFMASK, set in `entry::init`), and
/// nothing between the instruction and this call sets it. Nor whether the kernel is
/// borrowed already: see [`mark_borrowed`].
#[inline(always)]
fn with_kernel_from_syscall<R>(f: impl FnOnce(&mut Kernel<X86>) -> R) -> R {
    let mut kernel = Borrow::take();
    f(kernel.get())
}

/// Marks the kernel borrowed by a `syscall` stub's way in. Unlike the trap entries'
/// [`with_kernel`], it does not test the mark first: `syscall` is executed only in user
/// mode (the kernel never executes it), and no borrow is live while a thread runs in user
/// mode, since every way out of the kernel ends its borrow before it leaves (`with_kernel`
/// and `with_kernel_from_syscall` return, `Borrow` is dropped, before `spec::enter`,
/// `leave` or the stubs' `sysretq`; the direct switch in assembly takes no borrow). The mark is still set, so that an entry
/// nested in this one (a fault in kernel code) finds it and panics instead of aliasing.
#[inline(always)]
fn mark_borrowed() {
    debug_assert!(!KERNEL.busy.load(Ordering::Relaxed), "a system call entered with the kernel borrowed");
    KERNEL.busy.store(true, Ordering::Relaxed);
    // No access to the kernel state moves above the mark (no instruction on x86).
    core::sync::atomic::compiler_fence(Ordering::Acquire);
}

/// Runs a portable entry on the kernel, and for a thread to run, delivers its results into
/// its frame while the kernel is still borrowed (the entry's own reads of its frame are
/// over by then).
fn enter(entry: impl FnOnce(&mut Kernel<X86>) -> Leave) -> Leave {
    with_kernel(|k| {
        let how = entry(k);
        deliver(k, how)
    })
}

/// What [`enter`] does once the entry has decided: delivers the results of the thread to
/// run into its frame.
#[inline(always)]
fn deliver(k: &mut Kernel<X86>, how: Leave) -> Leave {
    if let Leave::Run { slot, stack_top, .. } = how {
        // SAFETY: `frame_of(stack_top)` is the saved user frame at the top of the live
        // kernel stack of thread `slot`, chosen to run. No reference to any frame is
        // live: entries read theirs before calling into the kernel and hold only raw
        // pointers, so this is the only one while it lives.
        k.deliver(slot, unsafe { &mut *frame_of(stack_top) });
    }
    how
}

/// Does what the portable entry decided. Returns only for `Resume` and for running the
/// thread the entry came in on (the trap path then restores it from its frame).
fn leave(how: Leave) {
    match how {
        Leave::Resume | Leave::Run { switch: false, .. } => {}
        Leave::Run { stack_top, .. } => entry::enter_thread(frame_of(stack_top)),
        Leave::Idle => entry::idle(IDLE_STACK.load(Ordering::Relaxed)),
        Leave::PowerOff(status) => power::power_off(status),
    }
}

/// Starts the first program of the boot image and never returns (see `Kernel::start`).
pub fn start(image: Option<BootImage<'static>>, handoff: bool, first_arg: u64) -> ! {
    // Like every kernel entry, this runs with interrupts off: a tick must not find the
    // kernel state half-updated. The first thread's frame turns them back on.
    x86_64::instructions::interrupts::disable();
    // Boot-time: before the first task, with the memory the boot left; refuse to go on.
    let idle = paging::alloc_stack(2).expect("no memory for the idle stack");
    IDLE_STACK.store(idle.top(), Ordering::Relaxed);
    let how = enter(|k| k.start(image, handoff, first_arg));
    leave(how);
    // Invariant: `start` decided to enter a thread, idle or power off; none comes back.
    unreachable!("the first thread was entered")
}

/// A `syscall` from the current thread (the `syscall` stub's general path); `frame` is its
/// saved user frame.
pub extern "C" fn syscall(frame: *mut TrapFrame) {
    let how = enter(|k| {
        // SAFETY: `frame` is the current thread's saved frame on its kernel stack; nothing
        // writes it while the kernel decides (results are delivered after), and this
        // shared borrow ends with the call.
        k.syscall(unsafe { &*frame })
    });
    leave(how);
}

/// An `IpcCall` from the current thread that the direct switch in the `syscall` stub
/// (`arch::direct`) declined, having changed nothing; `frame` is its saved user frame,
/// whole but for `rax`. The general path, as for any call.
pub extern "C" fn syscall_ipc_call(frame: *mut TrapFrame) {
    declined(Borrow::take(), frame, Syscall::IpcCall)
}

/// An `IpcReplyWait` the direct switch declined: as [`syscall_ipc_call`].
pub extern "C" fn syscall_ipc_reply_wait(frame: *mut TrapFrame) {
    declined(Borrow::take(), frame, Syscall::IpcReplyWait)
}

/// The kernel borrowed, until the value is dropped: by a `syscall` stub's way in
/// ([`Borrow::take`], which marks it without testing the mark), or by [`with_kernel`] after
/// its test. For the direct switch, which leaves the kernel without returning, so that what
/// it carries out of the borrow stays in registers (a closure's result went through
/// memory); and under [`with_kernel_from_syscall`] and [`with_kernel`].
struct Borrow(());

impl Borrow {
    /// Takes the kernel (interrupts are off: see [`with_kernel_from_syscall`]; nothing
    /// else holds it: see [`mark_borrowed`]).
    #[inline(always)]
    fn take() -> Borrow {
        mark_borrowed();
        Borrow(())
    }

    /// The kernel, for as long as this borrow lives.
    #[inline(always)]
    fn get(&mut self) -> &mut Kernel<X86> {
        // SAFETY: `busy`, set when the borrow was made (`take`, `with_kernel`) and cleared
        // only by `drop`, guarantees this is the only live reference (`with_kernel` checks
        // it; a `syscall` way in needs not: see `mark_borrowed`); the returned one borrows
        // `self`, so it ends before the drop.
        unsafe { &mut *KERNEL.kernel.get() }
    }
}

impl Drop for Borrow {
    #[inline(always)]
    fn drop(&mut self) {
        KERNEL.busy.store(false, Ordering::Release);
    }
}

/// The general path for an `IpcCall` or `IpcReplyWait` (`nr`) the direct switch declined,
/// in the borrow `kernel` (ended here), then out as for any call. The stub did not store
/// `rax` (`TrapFrame`, "The slots a system call's frame leaves"): `nr` is written there
/// first, for the general path's dispatch.
///
/// Takes the frame as a raw pointer: a reference argument would stay borrowed for the whole
/// call, across `deliver`'s write of results into this very frame.
#[inline(always)]
fn declined(mut kernel: Borrow, frame: *mut TrapFrame, nr: Syscall) {
    // SAFETY: `frame` is the current thread's saved frame on its kernel stack, and no
    // reference to it is live: the call's number goes where the stub did not store it.
    unsafe { (*frame).rax = nr as u64 };
    #[cfg(debug_assertions)]
    {
        // SAFETY: as above; this shared borrow ends in this block.
        let regs = unsafe { &*frame };
        debug_assert!(entry::left_slots_are_users(regs), "the slots an IPC frame leaves out hold the user's");
    }
    let k = kernel.get();
    let how = {
        // SAFETY: `frame` is the current thread's saved frame on its kernel stack; nothing
        // writes it while the general path decides, and this shared borrow ends here,
        // before `deliver` writes results into the frame of the thread to run (which may
        // be this one).
        let regs = unsafe { &*frame };
        k.syscall(regs)
    };
    let how = deliver(k, how);
    drop(kernel);
    leave(how)
}

/// An `ipc_send` or `ipc_recv` from the current thread (the `syscall` stub routes them
/// here); `frame` is its saved user frame. The spec calls' direct way
/// (`sys::spec`) first, else the general path; either way the results of the thread to
/// run are delivered as for any call.
pub extern "C" fn syscall_spec(frame: *mut TrapFrame) {
    let how = with_kernel_from_syscall(|k| {
        // SAFETY: `frame` is the current thread's saved frame on its kernel stack; nothing
        // writes it while the kernel decides (results are delivered after), and this
        // shared borrow ends with the decision.
        let regs = unsafe { &*frame };
        match k.direct_spec(regs) {
            Some(Spec::Enter(e)) => Ok(e),
            Some(Spec::Leave(how)) => Err(deliver(k, how)),
            None => {
                let how = k.syscall(regs);
                Err(deliver(k, how))
            }
        }
    });
    match how {
        // SAFETY: `e` is what `direct_spec` just returned (the receiver's space, kernel
        // stack and I/O ports loaded, its frame at the top of its stack); the kernel borrow
        // and the shared borrow of this thread's frame have ended, and this stack is not
        // needed any more.
        Ok(e) => unsafe { spec::enter(e) },
        Err(how) => leave(how),
    }
}

/// The light path's way in (from `syscall_entry`, with no frame saved): runs light call
/// `nr` (`sys::fast::LIGHT`) by the current thread with arguments `arg0`, `arg1`, and
/// returns its `rax`. The call never blocks or switches, so the stub returns to the same
/// thread.
pub extern "C" fn light_syscall(arg0: u64, arg1: u64, nr: u64) -> u64 {
    with_kernel_from_syscall(|k| k.light(nr, arg0, arg1))
}

/// `ipc_reply`'s way in (from `syscall_reply_entry`, with no frame saved): the current
/// thread's reply of `len` bytes at `message`; returns its `rax`. The call never blocks or
/// switches, so the stub returns to the same thread.
pub extern "C" fn reply_syscall(message: u64, len: u64) -> u64 {
    with_kernel_from_syscall(|k| k.light_reply(message, len))
}

/// A timer tick; `from_user`: it interrupted a thread, not the idle loop.
pub fn timer_tick(from_user: bool) {
    let how = enter(|k| k.timer_tick(crate::time::ticks(), from_user));
    leave(how);
}

/// A device interrupt on `irq` (already acknowledged at the PIC). The line is masked
/// until its driver acknowledges it with `irq_ack`.
pub fn device_irq(irq: u8, from_user: bool) {
    crate::arch::pic::mask(irq);
    let how = enter(|k| k.device_irq(irq, from_user));
    leave(how);
}

/// A CPU exception in user mode: the faulting task ends, the kernel goes on.
pub fn user_fault(fault: UserFault) {
    let how = enter(|k| k.user_fault(&fault));
    leave(how);
}
