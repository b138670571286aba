//! The spec's `ipc_send` and `ipc_recv` the direct way ([`Kernel::direct_spec`]): tried in
//! their common case (`crate::ipc::direct_spec`) before the general dispatch, from their
//! own way in (`run::syscall_spec`).
//!
//! A taken send, which has made its receiver current, ends the direct way when the
//! receiver's task runs with the I/O ports loaded ([`Spec::Enter`]): its address space and
//! kernel stack are loaded from its own record of them (`crate::ipc::Home`), as the
//! register calls' direct switch loads them, and its two result registers (`rax`, `rdx`)
//! are taken out of its pending results and handed to the architecture, which enters it
//! with them; nothing else is pending for it (the send set exactly those two), so nothing
//! is left that the general exit would have written. A taken receive that runs the caller
//! held for the donation (`Core::donated`: the caller the server's reply woke), waiting for
//! exactly `rax` and `rdx` in a task with the I/O ports loaded, enters it the same way;
//! any other ends as every general entry ends (`Kernel::next` picks and loads the thread to
//! run), but for the delivery: if that thread is another whose pending results are exactly
//! `rax` and `rdx`, they are taken out and handed over the same way. Otherwise the results
//! of the thread to run stay pending for the architecture to deliver. A declined attempt
//! runs the call's general handler at once.
//!
//! `ipc_reply`, which never blocks or switches its caller and returns only `rax`, has its
//! own light way in ([`Kernel::light_reply`]): what the light path (`sys::fast`) does for
//! it, without the light calls' dispatch by number.

use super::platform::Platform;
use super::{calls, Kernel, Leave};
use crate::regs::ArchState;
use crate::task::ThreadSlot;
use abi::{Error, Syscall};

/// How a spec call handled by [`Kernel::direct_spec`] leaves.
#[derive(Debug)]
pub enum Spec {
    /// As every general entry leaves: the results of the thread to run are pending.
    Leave(Leave),
    /// A send switched to its receiver: enter it as [`Enter`] says.
    Enter(Enter),
}

/// Enter thread `slot`, another than the caller, blocked in a system call until now (its
/// kernel stack's top `stack_top`; its address space, kernel stack and I/O ports loaded
/// already), with `value` in `rax` and `second` in `rdx` and every other register as its
/// saved frame holds it: what the general exit's delivery of its results would have
/// written, which were exactly those two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enter {
    pub slot: ThreadSlot,
    pub stack_top: u64,
    pub value: u64,
    pub second: u64,
}

impl<P: Platform> Kernel<P> {
    /// The current thread's `ipc_send` or `ipc_recv` in `regs` (any other
    /// call declines): the direct way if it is taken, else the call's general handler
    /// straight away (the dispatch table would pick the same one). `Some`: done, leave as
    /// it says. `None`: declined with nothing changed, run the general entry: with the
    /// direct way turned off (`nohandoff`, so that run takes the general entry only), or
    /// while a zombie waits to be reaped (the general entry reaps first): one byte for
    /// both, `Core::direct_on`.
    #[inline(always)]
    pub fn direct_spec(&mut self, regs: &P::Regs) -> Option<Spec> {
        let me = self.core.current()?;
        if !self.core.direct_on() {
            return None;
        }
        let caller = calls::Caller { slot: me, task: self.core.thread(me).task };
        let nr = regs.syscall_number();
        let done = if nr == Syscall::IpcRecv as u64 {
            let a = calls::recv_args(regs);
            match self.core.direct_recv_block(me, &a) {
                Some(()) => return Some(self.after_recv(me)),
                None => calls::ipc_recv(self, caller, regs),
            }
        } else if nr == Syscall::IpcSend as u64 {
            let a = calls::send_args(regs);
            match self.core.direct_send(me, &a) {
                // The general exit loads other I/O ports, and delivers results other than
                // the two `Enter` carries (none today: `direct_send` leaves exactly those;
                // checked in every build so that a change there cannot drop one).
                Some(to) if self.core.same_io(to, self.io_loaded) && self.core.thread(to).ret.is_value_and_second() => {
                    return Some(Spec::Enter(self.enter_received(to)))
                }
                Some(_) => Ok(()),
                None => calls::ipc_send(self, caller, regs),
            }
        } else {
            return None;
        };
        if let Err(e) = done {
            calls::failed(self, me, e);
        }
        Some(Spec::Leave(self.next(Some(me))))
    }

    /// `ipc_reply` by the current thread, of `len` bytes at `message`, from its own way in:
    /// what [`Kernel::light`] does for it (reaping first, as every entry does), returning
    /// its `rax`. The caller goes on running.
    #[inline(always)]
    pub fn light_reply(&mut self, message: u64, len: u64) -> u64 {
        self.reap();
        // Only the current thread runs in user mode, so a system call always has one.
        let Some(me) = self.core.current() else { return Error::InvalidArgument.code() as i64 as u64 };
        // `ipc_reply` but for its result, returned here: `rax` only (0), nothing left
        // pending, as `calls::light` returns a light call's value.
        let replied = self.core.reply_short(me, message, len as u32);
        // The arch's way out returns to this same thread: a reply never switches.
        debug_assert_eq!(self.core.current(), Some(me), "ipc_reply never switches");
        debug_assert!(self.core.thread(me).ret.is_empty(), "a reply returns rax only");
        match replied {
            Ok(()) => 0,
            Err(e) => e.code() as i64 as u64,
        }
    }

    /// How a receive by `me` that blocked the direct way leaves: the general exit's choice
    /// and loads (`Kernel::next`), and the thread it runs entered with its two results if
    /// those are all it has pending (see [`Enter`]).
    #[inline(always)]
    fn after_recv(&mut self, me: ThreadSlot) -> Spec {
        // The commonest case: the caller the server's reply held for the donation
        // (`Core::wake_donated`), which `schedule` picks now that the server has blocked,
        // waiting for its two results, in a task with the I/O ports loaded. Entered as a
        // send enters its receiver: what `Kernel::next` would choose and load for it
        // (tasks remain: its own).
        if let Some(d) = self.core.donated() {
            if self.core.same_io(d, self.io_loaded) && self.core.thread(d).ret.is_value_and_second() {
                let picked = self.core.schedule();
                debug_assert_eq!(picked, Some(d));
                return Spec::Enter(self.enter_received(d));
            }
        }
        match self.next(Some(me)) {
            Leave::Run { slot, stack_top, switch: true } if self.core.thread(slot).ret.is_value_and_second() => {
                let (value, second) = self.core.results_mut(slot).take_value_and_second();
                Spec::Enter(Enter { slot, stack_top, value, second })
            }
            how => Spec::Leave(how),
        }
    }

    /// Loads the address space and kernel stack of `to`, which a direct send (or the
    /// donation, after a receive) has just made current, and takes its two pending results
    /// out for the architecture to enter it with (see [`Enter`]). What `Kernel::next` and
    /// the delivery would do for it: `to` is the current thread (so `schedule` would pick
    /// it), live tasks remain (its own), it is not the thread the entry came in on, and its
    /// task's I/O ports are loaded (the caller checked).
    #[inline(always)]
    fn enter_received(&mut self, to: ThreadSlot) -> Enter {
        debug_assert_eq!(self.core.current(), Some(to));
        let thread = self.core.thread(to);
        debug_assert_eq!(thread.home, self.core.home_of(thread.task), "a thread keeps its task's home");
        // SAFETY: `to` was blocked in `ipc_recv` and is now runnable, so neither free nor a
        // zombie, and has its task's home (`Home`'s invariant): `home.space()` is the
        // `space_id` of that task's space, live while the task has such a thread.
        unsafe { self.platform.switch_to_id(thread.home.space(), &thread.kstack, thread.tid) };
        let stack_top = thread.kstack.top();
        let (value, second) = self.core.results_mut(to).take_value_and_second();
        Enter { slot: to, stack_top, value, second }
    }
}
