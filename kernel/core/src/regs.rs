//! A thread's registers as the portable kernel sees them: arguments read by index through
//! [`ArchState`], and results collected in [`Results`] until the architecture writes them
//! into the thread's saved context, in one place, when the thread next runs.
//!
//! Indices follow `abi::syscall::regs`: argument `i` is the `i`th argument register,
//! result 0 the return value and result `1 + i` argument register `i` written back.
//!
//! Invariant: a result index is below `RESULTS`; `set` records which entries of `regs`
//! are to be written, and nothing else is.

use abi::syscall::regs::{result_of_arg, RESULTS, SECOND, VALUE};

/// A saved user context, as the architecture supplies it (Hubris's `ArchState`).
pub trait ArchState {
    /// The system-call number.
    fn syscall_number(&self) -> u64;
    /// Argument register `i` (`i < abi::syscall::regs::ARGS`; any other index reads 0).
    fn arg(&self, i: usize) -> u64;
    /// Sets result register `i` (`i < abi::syscall::regs::RESULTS`; any other is ignored).
    fn set_result(&mut self, i: usize, v: u64);
}

/// Results a thread's system call returns, not yet written into its context. Every
/// result leaves the kernel this way: a call that returns at once, and a blocked thread's
/// call finished by whoever woke it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Results {
    /// Bit `i`: `regs[i]` is to be written.
    set: u8,
    regs: [u64; RESULTS],
}

const _: () = assert!(RESULTS <= u8::BITS as usize);

/// Fast-path result registers (`abi::ipc::fast`): the sender word in `rdi`, the length in
/// `rsi`, the payload from `rdx`.
const FAST_SENDER: usize = result_of_arg(0);
const FAST_LEN: usize = result_of_arg(1);
const FAST_WORDS: usize = result_of_arg(2);
const ALL: u8 = ((1u16 << RESULTS) - 1) as u8;
const FAST_ALL: u8 = ALL & !(1 << VALUE);

impl Results {
    /// Nothing to write.
    pub const NONE: Results = Results { set: 0, regs: [0; RESULTS] };

    /// Records result `i` (a later write of the same index wins).
    #[inline(always)]
    pub fn set(&mut self, i: usize, v: u64) {
        if let Some(r) = self.regs.get_mut(i) {
            *r = v;
            self.set |= 1 << i;
        }
    }

    /// Result `i`, if one is pending.
    pub fn get(&self, i: usize) -> Option<u64> {
        let v = self.regs.get(i).copied()?;
        (self.set & (1 << i) != 0).then_some(v)
    }

    /// Whether exactly the value and the second word are pending.
    #[inline(always)]
    pub fn is_value_and_second(&self) -> bool {
        self.set == 1 << VALUE | 1 << SECOND
    }

    /// Takes the value and the second word out, for a thread whose pending results are
    /// exactly those two ([`is_value_and_second`](Self::is_value_and_second)): both, and
    /// nothing pending.
    #[inline(always)]
    pub fn take_value_and_second(&mut self) -> (u64, u64) {
        debug_assert_eq!(self.set, 1 << VALUE | 1 << SECOND, "only the value and the second word pending");
        self.set = 0;
        (self.regs[VALUE], self.regs[SECOND])
    }

    /// Takes result `i` out (it will not be written), if one is pending.
    pub fn take(&mut self, i: usize) -> Option<u64> {
        let v = self.get(i)?;
        self.set &= !(1 << i);
        Some(v)
    }

    /// Adds what `older` has pending and this does not (tests keep results their threads
    /// have not looked at across a call, which the kernel would have applied).
    #[cfg(test)]
    pub fn keep_older(&mut self, older: Results) {
        for i in 0..RESULTS {
            if older.set & (1 << i) != 0 && self.set & (1 << i) == 0 {
                self.set(i, older.regs[i]);
            }
        }
    }

    /// The return value (`rax`).
    #[inline(always)]
    pub fn value(&mut self, v: u64) {
        self.set(VALUE, v);
    }

    /// The second word (`rdx`).
    #[inline(always)]
    pub fn second(&mut self, v: u64) {
        self.set(SECOND, v);
    }

    /// The fast path's registers (`abi::ipc::fast`): sender word, length, payload.
    #[inline(always)]
    pub fn fast(&mut self, sender: u64, len: u32, words: [u64; abi::ipc::fast::WORDS]) {
        self.regs[FAST_SENDER] = sender;
        self.regs[FAST_LEN] = len as u64;
        let [a, b, c, d, e] = words;
        self.regs[FAST_WORDS..].copy_from_slice(&[a, b, c, d, e]);
        self.set |= FAST_ALL;
    }

    /// Whether the fast path's registers are pending.
    pub fn has_fast(&self) -> bool {
        self.set & FAST_ALL == FAST_ALL
    }

    /// The pending fast-path registers: (sender word, length, payload).
    pub fn fast_regs(&self) -> Option<(u64, u32, [u64; abi::ipc::fast::WORDS])> {
        let mut words = [0; abi::ipc::fast::WORDS];
        words.copy_from_slice(&self.regs[FAST_WORDS..]);
        self.has_fast().then_some((self.regs[FAST_SENDER], self.regs[FAST_LEN] as u32, words))
    }

    /// Sets the fast path's sender word, if its registers are pending.
    pub fn set_fast_sender(&mut self, sender: u64) {
        if self.has_fast() {
            self.regs[FAST_SENDER] = sender;
        }
    }

    /// Forgets the fast path's registers (a call that did not go the fast way).
    pub fn clear_fast(&mut self) {
        self.set &= !FAST_ALL;
    }

    /// Forgets everything pending (the values stay, unread).
    #[inline(always)]
    pub fn clear(&mut self) {
        self.set = 0;
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.set == 0
    }

    /// Writes the pending results into `state` and forgets them: the one way results
    /// reach a thread. Most calls return one value, so that case costs one test.
    #[inline(always)]
    pub fn apply(&mut self, state: &mut impl ArchState) {
        let set = core::mem::replace(&mut self.set, 0);
        if set == ALL {
            // The fast path's results: every register, no test each.
            for (i, v) in self.regs.iter().enumerate() {
                state.set_result(i, *v);
            }
            return;
        }
        if set & (1 << VALUE) != 0 {
            state.set_result(VALUE, self.regs[VALUE]);
        }
        if set & !(1 << VALUE) == 0 {
            return;
        }
        for i in 1..RESULTS {
            if set & (1 << i) != 0 {
                state.set_result(i, self.regs[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Regs([u64; RESULTS]);

    impl ArchState for Regs {
        fn syscall_number(&self) -> u64 {
            0
        }
        fn arg(&self, _: usize) -> u64 {
            0
        }
        fn set_result(&mut self, i: usize, v: u64) {
            self.0[i] = v;
        }
    }

    #[test]
    fn only_what_was_set_is_written_and_the_last_write_wins() {
        let mut r = Results::NONE;
        assert!(r.is_empty());
        r.value(5);
        r.second(7);
        r.second(8);
        assert_eq!((r.get(VALUE), r.get(SECOND), r.get(1)), (Some(5), Some(8), None));
        let mut regs = Regs([1; RESULTS]);
        r.apply(&mut regs);
        assert_eq!(regs.0, [5, 1, 1, 8, 1, 1, 1, 1]);
        assert!(r.is_empty(), "applied once, then forgotten");
        r.set(RESULTS, 9); // out of range: ignored
        assert_eq!(r.get(RESULTS), None);
    }

    #[test]
    fn fast_registers_go_out_together_and_can_be_withdrawn() {
        let mut r = Results::NONE;
        r.fast(3, 40, [10, 11, 12, 13, 14]);
        r.value(1);
        assert_eq!(r.fast_regs(), Some((3, 40, [10, 11, 12, 13, 14])));
        r.set_fast_sender(4);
        let mut regs = Regs::default();
        r.clone().apply(&mut regs);
        assert_eq!(regs.0, [1, 4, 40, 10, 11, 12, 13, 14]);
        r.clear_fast();
        assert_eq!(r.fast_regs(), None);
        assert_eq!(r.get(VALUE), Some(1));
        r.set_fast_sender(9);
        assert_eq!(r.get(1), None, "no sender without the fast registers");
    }
}
