//! Interrupts as messages: a driver's IRQ delivered at once if it is receiving, else kept
//! (one per line) for its next receive.

use super::records::RecvBuf;
use super::*;
use crate::umem::Walker;

impl<S: UserMemory + PageMap, B: MsgBuffers> Core<S, B> {
    /// Interrupt `irq` for driver thread `slot`: received at once if the driver is
    /// waiting, else kept pending (one per line) for its next receive.
    pub fn post_interrupt(&mut self, slot: ThreadSlot, irq: u8) {
        if let State::Receiving(recv) = *self.threads[slot].state() {
            self.end_window(slot);
            if let Ok(word) = self.put_interrupt(slot, &recv, irq) {
                self.set_sender(slot, word);
                self.wake(slot, u32::from(RecvKind::Async) as i64);
                return;
            }
            // Its buffer is gone: it learns of that, and of the interrupt next time.
            self.wake(slot, Error::BadAddress.code() as i64);
        }
        self.inboxes.post_irq(slot, irq);
    }

    /// Writes interrupt `irq` where receiver `slot` receives; returns the sender word.
    pub(super) fn put_interrupt(&mut self, slot: ThreadSlot, recv: &PendingRecv, irq: u8) -> Result<u64, Error> {
        let word = KERNEL_TID as u64 | (RecvFlags::INTERRUPT.bits() as u64) << 32;
        if let RecvBuf::Memory { buf, len_ptr, long_len_ptr, .. } = recv.dest {
            let n = recv.cap.min(1);
            // The receiver's buffer and length words, in this order (as ever).
            let mut w = Walker::new(space_of(&self.tasks, self.task_of(slot)));
            w.writable(buf.prefix(n))?.write(&[irq][..n as usize]);
            w.writable(len_ptr)?.write_u32(n);
            w.writable(long_len_ptr)?.write_u32(0);
        } else {
            self.threads[slot].ret.fast(word, 1, fast::to_words(&[irq]));
        }
        crate::trace_event!(crate::trace::interrupt(self, slot, irq));
        Ok(word)
    }
}
