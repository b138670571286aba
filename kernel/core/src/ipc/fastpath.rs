//! The register fast path (`abi::ipc::fast`): `IpcCall`, a call whose message and reply
//! travel in registers, and `IpcReplyWait`, a reply and the next receive in one call.
//!
//! These are the general path's versions, which handle every case. The common one (the
//! partner already waiting, no deadline) is usually completed before them, from the
//! `syscall` stub, by the direct switch (`direct`), which makes the same state change.

use super::records::SendMsg;
use super::*;
use crate::umem::UserRange;

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// `IpcCall`: a call whose message (`len` bytes) is in registers.
    pub fn ipc_call_fast(
        &mut self,
        me: ThreadSlot,
        tid: Tid,
        len: u32,
        words: [u64; WORDS],
        timeout: i32,
    ) -> Result<Outcome, Error> {
        if len as usize > fast::MAX {
            return Err(Error::TooLong);
        }
        let timeout = Timeout::from_raw(timeout).ok_or(Error::InvalidArgument)?;
        let to = self.lookup_thread(tid)?;
        if to == me {
            return Err(Error::InvalidArgument);
        }
        let seq = self.next_seq();
        let send = PendingSend {
            msg: SendMsg::Regs(words),
            len,
            mode: SendMode::Sync,
            seq,
            long: UserRange::NONE,
            moving: false,
        };
        self.send_pending(me, to, send, timeout)
    }

    /// `IpcReplyWait`: replies `reply` (if any) to the last call received, then receives
    /// into registers. A failed reply is returned as the error, without waiting.
    pub fn ipc_reply_wait(
        &mut self,
        me: ThreadSlot,
        reply: Option<(u32, [u64; WORDS])>,
        timeout: i32,
    ) -> Result<Outcome, Error> {
        let timeout = Timeout::from_raw(timeout).ok_or(Error::InvalidArgument)?;
        let mut replied_to = None;
        if let Some((len, words)) = reply {
            if len as usize > fast::MAX {
                return Err(Error::TooLong);
            }
            replied_to = Some(self.reply_with(me, Reply::Regs(words, len))?);
        } else if self.threads[me].ipc.reply_to.is_some() {
            return Err(Error::ReplyPending);
        }
        let recv = super::records::RECV_REGS;
        // Whatever it receives comes back in registers, all of them: a message or an
        // interrupt writes them as it arrives, a timeout after waiting writes zeros
        // (`Core::unblock`); a failure at once returns its error code alone (`failed`).
        let outcome = self.receive(me, &recv, timeout);
        match (outcome, replied_to) {
            // The server waits: run the caller it just answered.
            (Ok(Outcome::Blocked), Some(caller)) => self.hand_off(me, caller),
            // The server goes on with the next message: the caller runs when it waits.
            (_, Some(caller)) => self.donate(caller),
            _ => {}
        }
        outcome
    }
}
