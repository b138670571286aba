//! The timer heap: at most one pending deadline per slot, in an indexed binary min-heap.
//!
//! Arming, cancelling and popping are O(log n); asking whether anything has expired is
//! O(1) (the top), so a tick costs nothing for threads whose deadlines are not due.
//! Equal deadlines expire in the order they were armed. Invariant: `pos[s]` is the heap
//! index of slot `s`'s entry, or `NIL` if it has none.

use super::Slot;
use core::marker::PhantomData;

const NIL: u16 = u16::MAX;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    deadline: u64,
    seq: u64,
    slot: u16,
}

impl Entry {
    fn key(&self) -> (u64, u64) {
        (self.deadline, self.seq)
    }
}

pub struct TimerHeap<const N: usize, I = usize> {
    heap: [Entry; N],
    len: usize,
    pos: [u16; N],
    seq: u64,
    _slot: PhantomData<I>,
}

impl<const N: usize, I: Slot> Default for TimerHeap<N, I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, I: Slot> TimerHeap<N, I> {
    pub const fn new() -> Self {
        TimerHeap {
            heap: [Entry { deadline: 0, seq: 0, slot: 0 }; N],
            len: 0,
            pos: [NIL; N],
            seq: 0,
            _slot: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms (or re-arms) `slot` to expire at `deadline`.
    pub fn arm(&mut self, slot: I, deadline: u64) {
        self.cancel(slot);
        let slot = slot.index();
        let i = self.len;
        self.heap[i] = Entry { deadline, seq: self.seq, slot: slot as u16 };
        self.seq += 1;
        self.pos[slot] = i as u16;
        self.len += 1;
        self.sift_up(i);
    }

    /// Disarms `slot`; returns whether it was armed.
    pub fn cancel(&mut self, slot: I) -> bool {
        let slot = slot.index();
        let i = self.pos[slot];
        if i == NIL {
            return false;
        }
        let i = i as usize;
        self.pos[slot] = NIL;
        self.len -= 1;
        if i != self.len {
            self.heap[i] = self.heap[self.len];
            self.pos[self.heap[i].slot as usize] = i as u16;
            self.sift_down(i);
            self.sift_up(i);
        }
        true
    }

    /// The deadline of `slot`, if armed.
    pub fn deadline(&self, slot: I) -> Option<u64> {
        let slot = slot.index();
        let i = self.pos[slot];
        (i != NIL).then(|| self.heap[i as usize].deadline)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        (self.len > 0).then(|| self.heap[0].deadline)
    }

    /// Removes and returns a slot whose deadline is `<= now`, earliest first.
    pub fn pop_expired(&mut self, now: u64) -> Option<I> {
        if self.len == 0 || self.heap[0].deadline > now {
            return None;
        }
        let slot = I::from_index(self.heap[0].slot as usize);
        self.cancel(slot);
        Some(slot)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].slot as usize] = a as u16;
        self.pos[self.heap[b].slot as usize] = b as u16;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[i].key() >= self.heap[parent].key() {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < self.len && self.heap[l].key() < self.heap[min].key() {
                min = l;
            }
            if r < self.len && self.heap[r].key() < self.heap[min].key() {
                min = r;
            }
            if min == i {
                break;
            }
            self.swap(i, min);
            i = min;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn expires_in_deadline_then_arming_order() {
        let mut t = TimerHeap::<8>::new();
        t.arm(1, 30);
        t.arm(2, 10);
        t.arm(3, 10);
        t.arm(4, 20);
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_expired(5), None);
        assert_eq!(t.pop_expired(25), Some(2));
        assert_eq!(t.pop_expired(25), Some(3));
        assert_eq!(t.pop_expired(25), Some(4));
        assert_eq!(t.pop_expired(25), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn rearm_and_cancel() {
        let mut t = TimerHeap::<4>::new();
        t.arm(0, 100);
        t.arm(0, 5);
        assert_eq!(t.len(), 1);
        assert_eq!(t.deadline(0), Some(5));
        assert!(t.cancel(0));
        assert!(!t.cancel(0));
        assert_eq!(t.pop_expired(u64::MAX), None);
    }

    /// Model check against a map of slot -> (deadline, seq).
    #[test]
    fn random_operations_match_a_model() {
        let mut seed = 99u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut t = TimerHeap::<32>::new();
        let mut model: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
        let mut seq = 0;
        let mut now = 0;
        for _ in 0..100_000 {
            let slot = rnd(32) as usize;
            match rnd(4) {
                0 | 1 => {
                    let d = now + rnd(50);
                    t.arm(slot, d);
                    model.insert(slot, (d, seq));
                    seq += 1;
                }
                2 => assert_eq!(t.cancel(slot), model.remove(&slot).is_some()),
                _ => {
                    now += rnd(5);
                    let expect = model.iter().filter(|(_, v)| v.0 <= now).min_by_key(|(_, v)| **v).map(|(k, _)| *k);
                    assert_eq!(t.pop_expired(now), expect);
                    if let Some(k) = expect {
                        model.remove(&k);
                    }
                }
            }
            assert_eq!(t.len(), model.len());
            assert_eq!(t.next_deadline(), model.values().map(|v| v.0).min());
        }
    }
}
