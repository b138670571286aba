//! The two ways through a system call that skip the general entry (`Kernel::syscall`'s
//! dispatch, `Kernel::next` and the results' delivery), which the architecture tries from
//! its `syscall` stub before building a whole frame or dispatching:
//!
//! - the **light path** ([`Kernel::light`]) for the calls that never block, switch or end
//!   their caller (`calls::LIGHT`): the architecture saves no frame, and the call's value
//!   goes straight back in `rax`;
//! - the **direct switch** ([`Kernel::direct_call`], [`Kernel::direct_reply_wait`]) for
//!   `IpcCall` and `IpcReplyWait` when the partner already waits for exactly this
//!   (`crate::ipc::direct`): the CPU goes straight to the partner, whose result registers
//!   the architecture loads on the way out (the payload from the caller's saved
//!   registers, as they are: [`Direct::regs`]). This is the portable switch, the model
//!   the host tests check against the general path; the x86-64 `syscall` stub runs the
//!   same tests and state change in assembly (`arch/x86_64/direct.rs`, from where
//!   [`fast_layout`](super::fast_layout) says each record lies), so the kernel on the
//!   machine calls neither of these two.
//!
//! Both are the general path's semantics, not new ones: the light path runs the same
//! handlers, and the direct switch declines, changing nothing, whenever the general path
//! would do anything it does not do. Both are among the narrow, documented exceptions to
//! "results take one path" (docs/architecture.md; the spec calls' `sys::spec::Enter` and
//! `ipc_reply`'s own light way are the others): nothing is left pending in either
//! thread's `Results` that the general path would not leave.

use super::calls::{self, Caller};
use super::platform::Platform;
use super::Kernel;
use crate::ipc::{Switch, HEAD};
use crate::regs::ArchState;
use crate::task::ThreadSlot;
use abi::syscall::regs::RESULTS;
use abi::Error;

pub use calls::LIGHT;

/// A direct switch made: enter thread `slot` (its kernel stack's top `stack_top`, address
/// space and kernel stack already switched to) with its result registers: `head` by
/// result index (`abi::syscall::regs`), then the calling thread's payload registers as
/// they are (`Switch`; [`Direct::regs`] says what they come to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Direct {
    pub slot: ThreadSlot,
    pub stack_top: u64,
    pub head: [u64; HEAD],
}

impl Direct {
    /// The result registers of thread `slot` by result index, `regs` being those of the
    /// thread that made the switch (see `Switch::regs`).
    pub fn regs(&self, regs: &impl ArchState) -> [u64; RESULTS] {
        Switch { to: self.slot, head: self.head }.regs(regs)
    }
}

/// Whether system call `nr` takes the light path.
#[inline(always)]
pub const fn is_light(nr: u64) -> bool {
    nr < u64::BITS as u64 && LIGHT & (1 << nr) != 0
}

impl<P: Platform> Kernel<P> {
    /// Light call `nr` (see [`is_light`]) by the current thread with arguments `arg0`,
    /// `arg1`; returns its `rax`. The caller goes on running: nothing else is decided.
    /// Reaps first, as every general entry does (so `free_frames` counts what the
    /// general path would count).
    #[inline(always)]
    pub fn light(&mut self, nr: u64, arg0: u64, arg1: u64) -> u64 {
        self.reap();
        // Only the current thread runs in user mode, so a system call always has one.
        let Some(slot) = self.core.current() else { return Error::InvalidArgument.code() as i64 as u64 };
        let caller = Caller { slot, task: self.core.thread(slot).task };
        let v = calls::light(self, caller, nr, &Args2(arg0, arg1));
        debug_assert_eq!(self.core.current(), Some(slot), "a light call never switches");
        v
    }

    /// Tries the direct switch for the current thread's system call in `regs` (`IpcCall`
    /// or `IpcReplyWait`; any other declines). `None`: declined with nothing changed; run
    /// the general path. Declines, in the core, while a zombie waits to be reaped (the
    /// general entry reaps first) and whenever the partner's task needs other I/O ports
    /// than those loaded (the general path would load them). The `syscall` stub
    /// routes the two calls apart itself, so only the tests dispatch by number here.
    #[cfg(test)]
    pub fn direct(&mut self, regs: &P::Regs) -> Option<Direct> {
        let nr = regs.syscall_number();
        if nr == abi::Syscall::IpcCall as u64 {
            self.direct_call(regs)
        } else if nr == abi::Syscall::IpcReplyWait as u64 {
            self.direct_reply_wait(regs)
        } else {
            None
        }
    }

    /// The direct switch (`direct`, which the tests call) for a call the architecture knows
    /// to be `IpcCall` (its `syscall` stub routes each of the two calls its own way, so
    /// that the number need not be tested again here; `regs`' number is not read, and the
    /// x86 stub does not even store it).
    #[inline(always)]
    pub fn direct_call(&mut self, regs: &impl ArchState) -> Option<Direct> {
        // A zombie to reap declines in the core (`Core::direct_on`).
        let me = self.core.current()?;
        let sw = self.core.direct_call(me, regs, self.io_loaded)?;
        Some(self.switch(sw))
    }

    /// The direct switch for a call the architecture knows to be `IpcReplyWait` (as
    /// for [`direct_call`](Self::direct_call), its number is not read).
    #[inline(always)]
    pub fn direct_reply_wait(&mut self, regs: &impl ArchState) -> Option<Direct> {
        let me = self.core.current()?;
        let sw = self.core.direct_reply_wait(me, regs, self.io_loaded)?;
        Some(self.switch(sw))
    }

    /// Loads the address space and kernel stack of the thread a direct switch runs, the
    /// space from the thread's own record of it (`crate::ipc::Home`).
    #[inline(always)]
    fn switch(&mut self, sw: Switch) -> Direct {
        let thread = self.core.thread(sw.to);
        debug_assert_eq!(thread.home, self.core.home_of(thread.task), "a thread keeps its task's home");
        // Read before the switch, whose assembly the compiler cannot see through (it would
        // load the top again after it).
        let stack_top = thread.kstack.top();
        // SAFETY: the direct switch runs only a thread whose fast byte says it waits in
        // IPC, so one neither free nor a zombie, which has its task's home (`Home`'s
        // invariant): `home.space()` is the `space_id` of that task's space, live while
        // the task has such a thread.
        unsafe { self.platform.switch_to_id(thread.home.space(), &thread.kstack, thread.tid) };
        Direct { slot: sw.to, stack_top, head: sw.head }
    }
}

/// The first two argument registers (`rdi`, `rsi`), as a light call reads them (every
/// other argument reads as 0).
struct Args2(u64, u64);

impl ArchState for Args2 {
    fn syscall_number(&self) -> u64 {
        0 // not read: the light path has dispatched already
    }
    #[inline(always)]
    fn arg(&self, i: usize) -> u64 {
        match i {
            0 => self.0,
            1 => self.1,
            _ => 0,
        }
    }
    fn set_result(&mut self, _: usize, _: u64) {}
}
