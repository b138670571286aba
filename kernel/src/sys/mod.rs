//! The kernel at run time: its global state, and what happens on every entry from user
//! mode (a system call, the timer, a user fault).
//!
//! Each entry borrows the [`Kernel`] once, decides, releases it, and then either returns
//! (resuming the interrupted thread through its frame) or leaves into another thread or the
//! idle loop. Handlers never block inside the kernel: a thread that must wait is taken off
//! the CPU by the core, and whoever wakes it sets the value its system call returns.

mod calls;
mod spawn;

use crate::arch::aspace::AddressSpace;
use crate::arch::entry::{self, frame_of};
use crate::arch::msgbuf::FrameBuffers;
use crate::arch::paging;
use crate::arch::traps::{PageFaultCode, TrapFrame};
use crate::kprintln;
use crate::loader::image::BootImage;
use crate::task::Core;
use abi::status::exception_name;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// Everything the kernel knows at run time.
pub struct Kernel {
    pub core: Core<AddressSpace, FrameBuffers>,
    pub image: Option<BootImage<'static>>,
    /// Top of the stack the idle loop runs on.
    idle_stack: u64,
    /// Which driver thread each IRQ line is bound to: (thread slot, tid).
    pub irqs: [Option<(usize, u32)>; 16],
    /// The I/O ports the TSS bitmap currently allows: (base, count).
    io_loaded: (u16, u16),
}

/// The one `Kernel`, borrowed by one entry at a time.
struct KernelCell {
    busy: AtomicBool,
    kernel: UnsafeCell<Kernel>,
}

// SAFETY: one CPU, and the kernel runs with interrupts disabled except in the idle loop,
// which holds no borrow; `busy` turns any nested borrow (a kernel bug) into a panic
// instead of aliasing.
unsafe impl Sync for KernelCell {}

static KERNEL: KernelCell = KernelCell {
    busy: AtomicBool::new(false),
    kernel: UnsafeCell::new(Kernel {
        core: Core::new(FrameBuffers),
        image: None,
        idle_stack: 0,
        irqs: [None; 16],
        io_loaded: (0, 0),
    }),
};

fn with_kernel<R>(f: impl FnOnce(&mut Kernel) -> R) -> R {
    // A real check, not a debug one: an entry that forgot to disable interrupts would
    // otherwise fail only when a tick happens to land inside it.
    // Lock re-entry: every entry path runs with interrupts off and takes the kernel once;
    // a second borrow is a kernel bug (an entry nested in an entry), not a user action.
    assert!(!x86_64::instructions::interrupts::are_enabled(), "kernel state used with interrupts enabled");
    assert!(!KERNEL.busy.swap(true, Ordering::Acquire), "kernel state borrowed twice");
    // SAFETY: `busy` guarantees this is the only live reference.
    let r = f(unsafe { &mut *KERNEL.kernel.get() });
    KERNEL.busy.store(false, Ordering::Release);
    r
}

/// Where to go when an entry is done.
enum Leave {
    /// Return through the frame we entered on.
    Return,
    /// Enter another thread's frame.
    Thread(*mut TrapFrame),
    /// Nothing to run.
    Idle(u64),
}

fn leave(how: Leave) {
    match how {
        Leave::Return => {}
        Leave::Thread(frame) => entry::enter_thread(frame),
        Leave::Idle(stack) => entry::idle(stack),
    }
}

impl Kernel {
    /// Frees the kernel stacks of threads that have exited (never the one in use), and
    /// unbinds (and masks) the IRQ lines of drivers among them. Costs nothing when no
    /// thread has exited.
    fn reap(&mut self) {
        if !self.core.has_zombies() {
            return;
        }
        let mut reaped = false;
        while let Some(stack) = self.core.reap() {
            paging::free_stack(stack);
            reaped = true;
        }
        if reaped {
            for (irq, line) in self.irqs.iter_mut().enumerate() {
                if line.is_some_and(|(_, tid)| self.core.lookup_thread(tid).is_err()) {
                    *line = None;
                    crate::arch::pic::mask(irq as u8);
                }
            }
        }
    }

    /// Picks what runs next. `entered_on` is the thread whose frame this entry is on
    /// (`None` when the entry came from the idle loop).
    fn next(&mut self, entered_on: Option<usize>) -> Leave {
        if self.core.live_tasks() == 0 {
            crate::arch::power::power_off(self.core.first_task_status().unwrap_or(0));
        }
        let Some(slot) = self.core.schedule() else {
            moroso_kernel_core::trace_event!(crate::trace::idle());
            return Leave::Idle(self.idle_stack);
        };
        let t = self.core.thread_mut(slot);
        let top = t.kstack.top;
        let frame = frame_of(top);
        if let Some(v) = t.wake_value.take() {
            // SAFETY: the frame of a thread that is not running; nothing else refers to it.
            unsafe { (*frame).rax = v as u64 };
        }
        if let Some(v) = t.wake_aux.take() {
            // SAFETY: as above.
            unsafe { (*frame).rdx = v };
        }
        if let Some(out) = t.fast_out.take() {
            // SAFETY: as above.
            entry::apply_fast(unsafe { &mut *frame }, &out);
        }
        if Some(slot) == entered_on {
            return Leave::Return;
        }
        moroso_kernel_core::trace_event!(crate::trace::run(&self.core, slot));
        let task = self.core.task(self.core.thread(slot).task);
        // Invariant: `slot` is the runnable thread just chosen; its task has threads, so
        // it still has its address space.
        task.space.as_ref().expect("a live thread's task has a space").activate();
        let io = (task.grants.io_base, task.grants.io_count);
        if io != self.io_loaded {
            crate::arch::gdt::set_io_ports(io.0, io.1);
            self.io_loaded = io;
        }
        entry::set_kernel_stack(top);
        Leave::Thread(frame)
    }
}

/// Starts the first program of the boot image and never returns. `handoff`: whether IPC
/// switches straight to the partner thread and donates the rest of a timeslice to the
/// thread it woke (the kernel command line's `nohandoff` turns both off, to check that
/// results do not depend on them).
pub fn start(image: Option<BootImage<'static>>, handoff: bool, first_arg: u64) -> ! {
    // Like every kernel entry, this runs with interrupts off: a tick must not find the
    // kernel state half-updated. The first thread's frame turns them back on.
    x86_64::instructions::interrupts::disable();
    // Boot-time: before the first task, with the memory the boot left; refuse to go on.
    let idle = paging::alloc_stack(2).expect("no memory for the idle stack");
    let how = with_kernel(|k| {
        k.image = image;
        k.idle_stack = idle.top;
        k.core.handoff = handoff;
        let Some(image) = k.image else {
            kprintln!("no boot image: nothing to run");
            crate::arch::power::power_off(0);
        };
        let first = image.programs().next().map(|p| p.name);
        let Some(name) = first else {
            kprintln!("the boot image is empty: nothing to run");
            crate::arch::power::power_off(0);
        };
        match spawn::task(k, None, name, first_arg) {
            Ok(id) => kprintln!("starting {name} (task {id})"),
            Err(e) => {
                kprintln!("cannot start {name}: {e}");
                crate::arch::power::power_off(1);
            }
        }
        k.next(None)
    });
    leave(how);
    // Invariant: `k.next` returned a thread to enter (the first task's, or idle), and
    // entering it does not come back here.
    unreachable!("the first thread was entered")
}

/// A `syscall` from the current thread; `frame` is its saved user frame.
pub fn syscall(frame: &mut TrapFrame) {
    let how = with_kernel(|k| {
        k.reap();
        let me = k.core.current();
        calls::dispatch(k, frame);
        k.next(me)
    });
    leave(how);
}

/// A timer tick. `frame` is the interrupted context: a user thread, or the idle loop.
pub fn timer_tick(frame: &mut TrapFrame) {
    let how = with_kernel(|k| {
        k.reap();
        let on = if frame.from_user() { k.core.current() } else { None };
        k.core.tick();
        k.core.release_stale_windows();
        match (on, k.core.current()) {
            // Idle and still nothing to run: back to the idle loop.
            (None, None) if k.core.schedule().is_none() => Leave::Return,
            _ => k.next(on),
        }
    });
    leave(how);
}

/// A device interrupt on `irq` (already acknowledged at the PIC). The line is masked
/// until its driver acknowledges it with `irq_ack`, and the driver gets a message; a line
/// nobody drives stays masked.
pub fn device_irq(frame: &mut TrapFrame, irq: u8) {
    crate::arch::pic::mask(irq);
    let how = with_kernel(|k| {
        let on = if frame.from_user() { k.core.current() } else { None };
        if let Some((slot, tid)) = k.irqs[irq as usize] {
            if k.core.lookup_thread(tid) == Ok(slot) {
                k.core.post_interrupt(slot, irq);
            }
        }
        match (on, k.core.current()) {
            (None, None) if k.core.schedule().is_none() => Leave::Return,
            _ => k.next(on),
        }
    });
    leave(how);
}

/// A CPU exception in user mode: the faulting task ends, the kernel goes on.
///
/// The report names the program, task and thread, the fault in words with the user `rip`
/// (the runner, which has the program's ELF, adds the function and `file:line`), a stack
/// overflow as such, the frame-pointer chain where there is one, and the status the task
/// ends with, in words.
pub fn user_fault(frame: &mut TrapFrame, cr2: u64) {
    let how = with_kernel(|k| {
        k.reap();
        // Only the current thread runs in user mode, so a user fault always has one.
        let me = k.core.current().expect("a user fault has a current thread");
        let t = *k.core.thread(me);
        let vector = frame.vector as u8;
        let status = abi::status::faulted(vector);
        let task = k.core.task(t.task);
        kprintln!(
            "task {} ({}) thread {} killed: {} at user rip {:#x}, error code {:#x}",
            task.id,
            task.name(),
            t.tid,
            exception_name(vector),
            frame.rip,
            frame.error_code
        );
        if let Some(space) = task.space.as_ref() {
            if vector == 14 {
                kprintln!("  fault address {cr2:#x}: {}", PageFaultCode(frame.error_code));
                let not_present = frame.error_code & 1 == 0;
                if not_present && crate::userfault::is_stack_overflow(space, cr2, frame.rsp) {
                    kprintln!(
                        "  stack overflow: the address is in the unmapped guard page below the stack (rsp {:#x})",
                        frame.rsp
                    );
                }
            }
            let mut ret = [0u64; crate::userfault::MAX_FRAMES];
            let n = crate::userfault::backtrace(space, frame.rbp, &mut ret);
            if n > 0 {
                // One line, piece by piece: nothing else prints while the kernel runs.
                crate::kprint!("  user backtrace:");
                for r in &ret[..n] {
                    crate::kprint!(" {r:#x}");
                }
                kprintln!();
            }
        }
        kprintln!("  task {} ({}) ends with status {}", task.id, task.name(), abi::status::describe(status));
        let ended = k.core.exit_task(t.task, status);
        drop(ended.space); // frees the address space (switching CR3 away first)
        k.next(None)
    });
    leave(how);
}
