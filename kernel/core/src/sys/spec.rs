//! The spec's `ipc_send` and `ipc_recv` the direct way ([`Kernel::direct_spec`]): tried in
//! their common case (`crate::ipc::direct_spec`) before the general dispatch, from their
//! own way in (`run::syscall_spec`).
//!
//! Unlike the register calls' direct switch, a taken attempt leaves its results pending,
//! as the general path does, and ends as every general entry ends (`Kernel::next`, then
//! the architecture delivers the results of the thread to run): what it skips is the
//! dispatch table and the run-queue round trip of the partner, not the general exit. A
//! declined attempt runs the call's general handler at once.

use super::platform::Platform;
use super::{calls, Kernel, Leave};
use crate::regs::ArchState;
use abi::Syscall;

impl<P: Platform> Kernel<P> {
    /// The current thread's `ipc_send` or `ipc_recv` in `regs` (any other
    /// call declines): the direct way if it is taken, else the call's general handler
    /// straight away (the dispatch table would pick the same one). `Some`: done, leave as
    /// it says (the results of the thread to run pending, as after `Kernel::syscall`).
    /// `None`: declined with nothing changed, run the general entry: with the direct way
    /// turned off (`nohandoff`, so that run takes the general entry only), or while a
    /// zombie waits to be reaped (the general entry reaps first).
    #[inline(always)]
    pub fn direct_spec(&mut self, regs: &P::Regs) -> Option<Leave> {
        let me = self.core.current()?;
        if self.core.has_zombies() || !self.core.handoff {
            return None;
        }
        let caller = calls::Caller { slot: me, task: self.core.thread(me).task };
        let nr = regs.syscall_number();
        let done = if nr == Syscall::IpcRecv as u64 {
            let a = calls::recv_args(regs);
            match self.core.direct_recv_block(me, &a) {
                Some(()) => Ok(()),
                None => calls::ipc_recv(self, caller, regs),
            }
        } else if nr == Syscall::IpcSend as u64 {
            let a = calls::send_args(regs);
            match self.core.direct_send(me, &a) {
                Some(_) => Ok(()),
                None => calls::ipc_send(self, caller, regs),
            }
        } else {
            return None;
        };
        if let Err(e) = done {
            calls::failed(self, me, e);
        }
        Some(self.next(Some(me)))
    }
}
