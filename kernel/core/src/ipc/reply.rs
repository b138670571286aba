//! `ipc_reply` and the reply half of `IpcReplyWait`: answering the call a receiver owes,
//! into the caller's memory or registers.

use super::*;

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    pub(super) fn write_len(&mut self, thread: ThreadSlot, len_ptr: u64, n: u32) -> Result<(), Error> {
        let task = self.task_of(thread);
        self.space_mut(task).copy_out(len_ptr, &n.to_le_bytes())
    }

    /// `ipc_reply` by thread `me` (the current thread).
    pub fn ipc_reply(&mut self, me: ThreadSlot, message: u64, len: u32) -> Result<Outcome, Error> {
        let task = self.task_of(me);
        if len as usize > SHORT_MAX {
            return Err(Error::TooLong);
        }
        UserSlice::new(message, len as u64)?.readable(self.space(task))?;
        let caller = self.reply_with(me, Reply::Memory(message, len))?;
        self.donate(caller); // the caller runs as soon as the server waits again
        self.threads[me].ret.value(0);
        Ok(Outcome::Returned)
    }

    /// Answers the call `me` last received with `reply`; returns the caller's slot. The
    /// reply's own arguments are checked by the caller. If the caller's buffer has become
    /// invalid, the caller is released with `BadAddress` and the result is `NotDelivered`:
    /// success means the reply reached it.
    pub(super) fn reply_with(&mut self, me: ThreadSlot, reply: Reply) -> Result<ThreadSlot, Error> {
        let to = self.threads[me].ipc.reply_to.take().ok_or(Error::NoReplyPending)?;
        let t = &self.threads[to.slot];
        if t.tid != to.tid || matches!(t.state(), State::Free | State::Zombie) {
            return Err(Error::PeerDied);
        }
        // Only what the reply needs of the send, not the whole record.
        let send = match t.state() {
            State::AwaitingReply { from, seq, reply } if *from == me && *seq == to.seq => *reply,
            _ => return Err(Error::Timeout), // it gave up waiting
        };
        let result = match (reply, send.regs) {
            (Reply::Memory(message, len), false) => {
                let n = len.min(send.len);
                match self.copy_user(me, message, to.slot, send.buf, n) {
                    Ok(()) => self.write_len(to.slot, send.len_ptr, n).map(|_| 0),
                    Err(_) => Err(Error::BadAddress), // the caller's buffer is gone: its problem
                }
            }
            (Reply::Regs(words, len), false) => {
                let n = len.min(send.len);
                let bytes = fast::to_bytes(&words);
                let task = self.task_of(to.slot);
                match self.space_mut(task).copy_out(send.buf, &bytes[..n as usize]) {
                    Ok(()) => self.write_len(to.slot, send.len_ptr, n).map(|_| 0),
                    Err(_) => Err(Error::BadAddress),
                }
            }
            (reply, true) => {
                let (mut words, len) = match reply {
                    Reply::Regs(words, len) => (words, len),
                    Reply::Memory(message, len) => {
                        let mut b = [0u8; fast::MAX];
                        let n = len.min(fast::MAX as u32);
                        self.space(self.task_of(me)).copy_in(message, &mut b[..n as usize])?;
                        (fast::to_words(&b), len)
                    }
                };
                let n = len.min(send.len).min(fast::MAX as u32);
                fast::truncate(&mut words, n as usize);
                self.threads[to.slot].ret.fast(0, n, words);
                Ok(0)
            }
        };
        let delivered = result.is_ok();
        crate::trace_event!(crate::trace::reply(self, me, to.tid, to.seq, delivered));
        self.wake(to.slot, result.unwrap_or_else(|e| e.code() as i64));
        if !delivered {
            return Err(Error::NotDelivered);
        }
        Ok(to.slot)
    }
}
