//! The kernel at run time: its state, and what happens on every entry from user mode (a
//! system call, the timer, a device interrupt, a user fault), independent of the machine.
//!
//! The architecture owns the one [`Kernel`], borrows it once per entry, calls one of the
//! entry methods here, and does what the returned [`Leave`] says: resume, enter a thread
//! after writing its pending results into its saved registers ([`Kernel::deliver`], the
//! only place results reach a thread), idle, or power off. Handlers never block inside the kernel: a thread
//! that must wait is taken off the CPU by the core, and whoever wakes it sets its results.
//!
//! Invariants: `irqs[n]`, when set, names the driver thread line `n` is unmasked for (or
//! a thread that has since died, until the next reap masks the line); `io_loaded` is the
//! I/O-port range the platform currently allows user mode.

mod calls;
pub mod fast;
pub mod fast_layout;
pub mod platform;
mod spawn;
pub mod spec;

use crate::loader::image::BootImage;
use crate::task::{Core, ThreadSlot, Tid};
use crate::userfault::{self, PageFaultCode};
use abi::status::exception_name;
use platform::Platform;

/// Interrupt lines of the machine's interrupt controller.
pub const IRQ_LINES: usize = 16;

/// Everything the kernel knows at run time.
pub struct Kernel<P: Platform> {
    pub core: Core<P::Space, P::Buffers>,
    pub platform: P,
    pub image: Option<BootImage<'static>>,
    /// Which driver thread each IRQ line is bound to: (thread slot, tid).
    pub irqs: [Option<(ThreadSlot, Tid)>; IRQ_LINES],
    /// The I/O ports the platform currently allows: (base, count).
    io_loaded: (u16, u16),
}

/// What the architecture does when an entry is done.
#[derive(Debug, PartialEq, Eq)]
pub enum Leave {
    /// Resume the interrupted context as it is (the idle loop, with nothing to run).
    Resume,
    /// Deliver thread `slot`'s results into its saved registers, at the top of its
    /// kernel stack `stack_top`, then run it: by returning through the frame the entry
    /// came in on if `switch` is false, else by entering it.
    Run { slot: ThreadSlot, stack_top: u64, switch: bool },
    /// Nothing to run: idle until an interrupt.
    Idle,
    /// No task is left: power off with this status.
    PowerOff(i32),
}

/// A CPU exception in user mode, as the architecture saw it.
#[derive(Clone, Copy, Debug)]
pub struct UserFault {
    pub vector: u8,
    pub error_code: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rbp: u64,
    /// The faulting address, for a page fault.
    pub fault_address: u64,
}

/// Vector of the page fault.
const PAGE_FAULT: u8 = 14;

impl<P: Platform> Kernel<P> {
    /// Where the core and the loaded I/O ports lie, for the direct switch's assembly
    /// (`fast_layout`).
    pub(crate) const AT_CORE: usize = core::mem::offset_of!(Self, core);
    pub(crate) const AT_IO_LOADED: usize = core::mem::offset_of!(Self, io_loaded);

    pub const fn new(platform: P, buffers: P::Buffers) -> Self {
        Kernel { core: Core::new(buffers), platform, image: None, irqs: [None; IRQ_LINES], io_loaded: (0, 0) }
    }

    /// Frees the kernel stacks of threads that have exited (never the one in use), and
    /// unbinds (and masks) the IRQ lines of drivers among them. Costs nothing when no
    /// thread has exited.
    pub fn reap(&mut self) {
        if !self.core.has_zombies() {
            return;
        }
        let mut reaped = false;
        while let Some(stack) = self.core.reap() {
            // SAFETY: `reap` gives only the stacks of zombies other than the current thread,
            // and a zombie never runs again: nothing uses this stack any more.
            unsafe { self.platform.free_stack(stack) };
            reaped = true;
        }
        if reaped {
            for (irq, line) in self.irqs.iter_mut().enumerate() {
                if line.is_some_and(|(_, tid)| self.core.lookup_thread(tid).is_err()) {
                    *line = None;
                    self.platform.mask_irq(irq as u8);
                }
            }
        }
    }

    /// Picks what runs next. `entered_on` is the thread whose frame this entry is on
    /// (`None` when the entry came from the idle loop or its thread ended).
    pub fn next(&mut self, entered_on: Option<ThreadSlot>) -> Leave {
        if self.core.live_tasks() == 0 {
            return Leave::PowerOff(self.core.first_task_status().unwrap_or(0));
        }
        let Some(slot) = self.core.schedule() else {
            crate::trace_event!(crate::trace::idle());
            return Leave::Idle;
        };
        let thread = self.core.thread(slot);
        let stack_top = thread.kstack.top();
        if Some(slot) == entered_on {
            return Leave::Run { slot, stack_top, switch: false };
        }
        crate::trace_event!(crate::trace::run(&self.core, slot));
        let task = self.core.task(thread.task);
        let io = (task.grants.io_base, task.grants.io_count);
        if io != self.io_loaded {
            self.platform.set_io_ports(io.0, io.1);
            self.io_loaded = io;
        }
        // Invariant: `slot` is the runnable thread just chosen; its task has threads, so
        // it still has its address space.
        let space = task.space.as_ref().expect("a live thread's task has a space");
        self.platform.switch_to(space, &thread.kstack, thread.tid);
        Leave::Run { slot, stack_top, switch: true }
    }

    /// Writes thread `slot`'s pending results into `regs`, its saved registers, and
    /// forgets them. The architecture calls this for `Leave::Run` before the thread runs,
    /// with no other reference to the frame live.
    #[inline(always)]
    pub fn deliver(&mut self, slot: ThreadSlot, regs: &mut P::Regs) {
        self.core.results_mut(slot).apply(regs);
    }

    /// Starts the first program of the boot image. `handoff`: whether IPC switches
    /// straight to the partner thread and donates the rest of a timeslice to the thread it
    /// woke (the kernel command line's `nohandoff` turns both off, to check that results
    /// do not depend on them).
    pub fn start(&mut self, image: Option<BootImage<'static>>, handoff: bool, first_arg: u64) -> Leave {
        self.image = image;
        self.core.set_handoff(handoff);
        let Some(image) = self.image else {
            self.platform.print(format_args!("no boot image: nothing to run\n"));
            return Leave::PowerOff(0);
        };
        let Some(name) = image.programs().next().map(|p| p.name) else {
            self.platform.print(format_args!("the boot image is empty: nothing to run\n"));
            return Leave::PowerOff(0);
        };
        match spawn::task(self, None, name, first_arg) {
            Ok(id) => self.platform.print(format_args!("starting {name} (task {id})\n")),
            Err(e) => {
                self.platform.print(format_args!("cannot start {name}: {e}\n"));
                return Leave::PowerOff(1);
            }
        }
        self.next(None)
    }

    /// A system call from the current thread, whose saved registers are `regs`.
    pub fn syscall(&mut self, regs: &P::Regs) -> Leave {
        self.reap();
        // The idle loop makes no system calls: an entry without a current thread has no
        // caller and nothing to do.
        let Some(slot) = self.core.current() else { return self.next(None) };
        let caller = calls::Caller { slot, task: self.core.thread(slot).task };
        calls::dispatch(self, caller, regs);
        self.next(Some(slot))
    }

    /// A timer tick, after which the tick counter reads `now`; `from_user`: it interrupted a
    /// thread, not the idle loop.
    pub fn timer_tick(&mut self, now: u64, from_user: bool) -> Leave {
        self.reap();
        let on = if from_user { self.core.current() } else { None };
        self.core.tick(now);
        self.core.release_stale_windows();
        match (on, self.core.current()) {
            // Idle and still nothing to run: back to the idle loop.
            (None, None) if self.core.schedule().is_none() => Leave::Resume,
            _ => self.next(on),
        }
    }

    /// A device interrupt on `irq`, already masked by the architecture: the line stays
    /// masked until its driver acknowledges it with `irq_ack`, and the driver gets a
    /// message; a line nobody drives stays masked.
    pub fn device_irq(&mut self, irq: u8, from_user: bool) -> Leave {
        let on = if from_user { self.core.current() } else { None };
        if let Some(&Some((slot, tid))) = self.irqs.get(irq as usize) {
            if self.core.lookup_thread(tid) == Ok(slot) {
                self.core.post_interrupt(slot, irq);
            }
        }
        match (on, self.core.current()) {
            (None, None) if self.core.schedule().is_none() => Leave::Resume,
            _ => self.next(on),
        }
    }

    /// A CPU exception in user mode: the faulting task ends, the kernel goes on.
    ///
    /// The report names the program, task and thread, the fault in words with the user
    /// `rip` (the runner, which has the program's ELF, adds the function and `file:line`),
    /// a stack overflow as such, the frame-pointer chain where there is one, and the status
    /// the task ends with, in words.
    pub fn user_fault(&mut self, f: &UserFault) -> Leave {
        self.reap();
        // Only the current thread runs in user mode, so a user fault always has one.
        let me = self.core.current().expect("a user fault has a current thread");
        let (tid, task_slot) = (self.core.thread(me).tid, self.core.thread(me).task);
        let status = abi::status::faulted(f.vector);
        let task = self.core.task(task_slot);
        let p = &mut self.platform;
        p.print(format_args!(
            "task {} ({}) thread {} killed: {} at user rip {:#x}, error code {:#x}\n",
            task.id,
            task.name(),
            tid,
            exception_name(f.vector),
            f.rip,
            f.error_code
        ));
        if let Some(space) = task.space.as_ref() {
            if f.vector == PAGE_FAULT {
                let cr2 = f.fault_address;
                p.print(format_args!("  fault address {cr2:#x}: {}\n", PageFaultCode(f.error_code)));
                let not_present = f.error_code & 1 == 0;
                if not_present && userfault::is_stack_overflow(space, cr2, f.rsp) {
                    p.print(format_args!(
                        "  stack overflow: the address is in the unmapped guard page below the stack (rsp {:#x})\n",
                        f.rsp
                    ));
                }
            }
            let mut ret = [0u64; userfault::MAX_FRAMES];
            let n = userfault::backtrace(space, f.rbp, &mut ret);
            if n > 0 {
                // One line, piece by piece: nothing else prints while the kernel runs.
                p.print(format_args!("  user backtrace:"));
                for r in ret.iter().take(n) {
                    p.print(format_args!(" {r:#x}"));
                }
                p.print(format_args!("\n"));
            }
        }
        p.print(format_args!(
            "  task {} ({}) ends with status {}\n",
            task.id,
            task.name(),
            abi::status::describe(status)
        ));
        let ended = self.core.exit_task(task_slot, status);
        drop(ended.space); // frees the address space (switching it away first if active)
        self.next(None)
    }
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod spec_fast_tests;
#[cfg(test)]
mod tests;
