//! Intrusive doubly-linked FIFO lists over slot indices `0..N`.
//!
//! One [`Links`] holds the link words for every slot; any number of [`List`] heads share
//! it. Invariant: a slot is in at most one list at a time (the owner word records which),
//! so pushing a slot that is already listed is refused, and removal from the wrong list is
//! a no-op that says so. Every operation is O(1).

use super::Slot;
use core::marker::PhantomData;

const NIL: u16 = u16::MAX;

/// A list head. Each list needs a distinct `id` within its `Links`.
#[derive(Clone, Copy, Debug)]
pub struct List {
    id: u16,
    head: u16,
    tail: u16,
    len: u16,
}

impl List {
    pub const fn new(id: u16) -> List {
        List { id, head: NIL, tail: NIL, len: 0 }
    }
    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The first slot, without removing it.
    #[inline(always)]
    pub fn front<I: Slot>(&self) -> Option<I> {
        (self.head != NIL).then(|| I::from_index(self.head as usize))
    }
}

/// Link words for `N` slots of type `I`.
pub struct Links<const N: usize, I = usize> {
    next: [u16; N],
    prev: [u16; N],
    owner: [u16; N],
    _slot: PhantomData<I>,
}

impl<const N: usize, I: Slot> Default for Links<N, I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, I: Slot> Links<N, I> {
    const _FITS: () = assert!(N < NIL as usize);

    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let _ = Self::_FITS;
        Links { next: [NIL; N], prev: [NIL; N], owner: [NIL; N], _slot: PhantomData }
    }

    /// The id of the list `slot` is in, if any.
    pub fn list_of(&self, slot: I) -> Option<u16> {
        let slot = slot.index();
        (self.owner[slot] != NIL).then_some(self.owner[slot])
    }

    /// Appends `slot`. Returns false (and changes nothing) if it is already in a list.
    pub fn push_back(&mut self, list: &mut List, slot: I) -> bool {
        let slot = slot.index();
        if self.owner[slot] != NIL {
            return false;
        }
        let s = slot as u16;
        self.owner[slot] = list.id;
        self.next[slot] = NIL;
        self.prev[slot] = list.tail;
        if list.tail == NIL {
            list.head = s;
        } else {
            self.next[list.tail as usize] = s;
        }
        list.tail = s;
        list.len += 1;
        true
    }

    /// Removes and returns the first slot.
    pub fn pop_front(&mut self, list: &mut List) -> Option<I> {
        let s = list.front::<I>()?;
        self.remove(list, s);
        Some(s)
    }

    /// Removes `slot` from `list`. Returns false if it was not in that list.
    pub fn remove(&mut self, list: &mut List, slot: I) -> bool {
        let slot = slot.index();
        if self.owner[slot] != list.id {
            return false;
        }
        let (p, n) = (self.prev[slot], self.next[slot]);
        if p == NIL {
            list.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            list.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.owner[slot] = NIL;
        self.next[slot] = NIL;
        self.prev[slot] = NIL;
        list.len -= 1;
        true
    }

    /// The slots of `list`, front to back.
    pub fn iter<'a>(&'a self, list: &List) -> impl Iterator<Item = I> + 'a {
        let mut cur = list.head;
        core::iter::from_fn(move || {
            (cur != NIL).then(|| {
                let s = cur as usize;
                cur = self.next[s];
                I::from_index(s)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn fifo_order_and_removal() {
        let mut links = Links::<8>::new();
        let mut a = List::new(0);
        for s in [3, 1, 4] {
            assert!(links.push_back(&mut a, s));
        }
        assert!(!links.push_back(&mut a, 1), "already listed");
        assert_eq!(links.iter(&a).collect::<Vec<_>>(), [3, 1, 4]);
        assert!(links.remove(&mut a, 1));
        assert!(!links.remove(&mut a, 1));
        assert_eq!(links.pop_front(&mut a), Some(3));
        assert_eq!(links.pop_front(&mut a), Some(4));
        assert_eq!(links.pop_front(&mut a), None);
        assert!(a.is_empty());
    }

    #[test]
    fn a_slot_is_in_one_list_only() {
        let mut links = Links::<4>::new();
        let (mut a, mut b) = (List::new(0), List::new(1));
        assert!(links.push_back(&mut a, 2));
        assert!(!links.push_back(&mut b, 2));
        assert!(!links.remove(&mut b, 2), "wrong list");
        assert_eq!(links.list_of(2), Some(0));
        assert_eq!((a.len(), b.len()), (1, 0));
    }

    /// Model check against VecDeques: random push/pop/remove over three lists.
    #[test]
    fn random_operations_match_a_model() {
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 33) % n
        };
        let mut links = Links::<16>::new();
        let mut lists = [List::new(0), List::new(1), List::new(2)];
        let mut model: [VecDeque<usize>; 3] = Default::default();
        for _ in 0..50_000 {
            let l = rnd(3) as usize;
            let s = rnd(16) as usize;
            match rnd(3) {
                0 => {
                    let free = !model.iter().any(|m| m.contains(&s));
                    assert_eq!(links.push_back(&mut lists[l], s), free);
                    if free {
                        model[l].push_back(s);
                    }
                }
                1 => assert_eq!(links.pop_front(&mut lists[l]), model[l].pop_front()),
                _ => {
                    let pos = model[l].iter().position(|&x| x == s);
                    assert_eq!(links.remove(&mut lists[l], s), pos.is_some());
                    if let Some(p) = pos {
                        model[l].remove(p);
                    }
                }
            }
            for i in 0..3 {
                assert_eq!(links.iter(&lists[i]).collect::<Vec<_>>(), model[i].iter().copied().collect::<Vec<_>>());
                assert_eq!(lists[i].len(), model[i].len());
            }
        }
    }
}
