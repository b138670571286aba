//! Map counts: for every frame, how many user page mappings point at it, across all
//! address spaces. This is what page-ownership rights are made of (`mem::pagemap`): one
//! mapping is exclusive, more are shared. Invariant: a user frame is freed exactly when its
//! count drops to zero. Within one kernel entry a count may also hold mappings a share has
//! reserved and not made yet (`mem::pagemap::reserve_shares`); before the kernel returns
//! they are made or given back.
//!
//! Beside the counts, a tally of the frames whose count is *high* (at least [`HIGH`]),
//! kept exact by every change of a count. While it is zero, every count is below `HIGH`, so
//! a share of up to `MAX_COUNT - HIGH + 1` pages has room in every count it adds to
//! without reading one ([`MapCounts::has_room`]): counts are global, and this is the
//! global answer, in one load. Keeping it costs no instruction on the common path: an
//! increment compares the count once (with `HIGH - 1`, which also catches the maximum), a
//! decrement once (0, 1 and a high count in one compare); only the rare cases take the
//! branch that looks closer.
//!
//! A count's index is the frame number modulo the table's size: every frame the kernel
//! hands out is below it (`mem::FRAMES` manages frames below 4 GiB, and the table covers
//! them all), so this never folds two frames together, and no address in an entry, however
//! wrong, can reach outside the table.

use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};

/// Largest count: a frame cannot be mapped more often than this.
pub const MAX_COUNT: u16 = u16::MAX;

/// Counts from here up are *high*: tallied, so that their absence is known at once.
pub const HIGH: u16 = 1 << 15;

/// Counts for frames `0..N` (frame number = physical address / page size).
pub struct MapCounts<const N: usize> {
    counts: [AtomicU16; N],
    /// How many counts are at least [`HIGH`].
    high: AtomicU32,
}

impl<const N: usize> Default for MapCounts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MapCounts<N> {
    pub const MAX: u16 = MAX_COUNT;

    pub const fn new() -> Self {
        MapCounts { counts: [const { AtomicU16::new(0) }; N], high: AtomicU32::new(0) }
    }

    #[inline(always)]
    fn slot(&self, frame: u64) -> &AtomicU16 {
        let i = (frame / abi::PAGE_SIZE as u64) as usize;
        debug_assert!(i < N, "frame {frame:#x} is not one the kernel manages");
        // Invariant (module doc): i < N for every frame the kernel maps; the modulo (a mask,
        // N being a power of two in the kernel) only keeps the index inside without a branch.
        &self.counts[i % N]
    }

    #[inline(always)]
    pub fn get(&self, frame: u64) -> u32 {
        self.slot(frame).load(Ordering::Relaxed) as u32
    }

    /// Whether every count has room for `extra` more mappings, known without reading any:
    /// no count is high, and `extra` fits above the highest a count can then be. False
    /// says nothing (look at the counts).
    #[inline(always)]
    pub fn has_room(&self, extra: u64) -> bool {
        extra <= (MAX_COUNT - HIGH + 1) as u64 && self.high.load(Ordering::Relaxed) == 0
    }

    /// A frame's first mapping.
    #[inline(always)]
    pub fn set_one(&self, frame: u64) {
        self.slot(frame).store(1, Ordering::Relaxed);
    }

    /// One more mapping; false (and no change) if the count is at its maximum.
    #[inline(always)]
    pub fn increment(&self, frame: u64) -> bool {
        let s = self.slot(frame);
        let c = s.load(Ordering::Relaxed);
        let n = c.wrapping_add(1);
        // One test of the new count for both rare cases: it is high (sign bit set), or the
        // count was at its maximum (it wrapped to 0).
        if n as i16 <= 0 {
            return self.increment_high(s, c);
        }
        s.store(n, Ordering::Relaxed);
        true
    }

    /// [`MapCounts::increment`] of a count that is or becomes high.
    #[cold]
    #[inline(never)]
    fn increment_high(&self, s: &AtomicU16, c: u16) -> bool {
        if c == Self::MAX {
            return false;
        }
        if c == HIGH - 1 {
            self.high.store(self.high.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        s.store(c + 1, Ordering::Relaxed);
        true
    }

    /// One mapping fewer; returns the count left (0: the frame is no one's).
    #[inline(always)]
    pub fn decrement(&self, frame: u64) -> u32 {
        let s = self.slot(frame);
        let c = s.load(Ordering::Relaxed);
        // One compare for the three rare cases: 0 (underflow) and 1 (the last mapping)
        // wrap to the top, and a high count stays at or above `HIGH - 2`.
        if c.wrapping_sub(2) >= HIGH - 2 {
            return self.decrement_rare(s, c);
        }
        s.store(c - 1, Ordering::Relaxed);
        (c - 1) as u32
    }

    /// [`MapCounts::decrement`] of a count that is high, or 1, or (a kernel bug) 0.
    #[cold]
    #[inline(never)]
    fn decrement_rare(&self, s: &AtomicU16, c: u16) -> u32 {
        // Invariant: the kernel decrements only for a mapping it counted when it made it;
        // user calls name regions, never counts, so none can unbalance this.
        assert!(c > 0, "a map count underflows");
        if c == HIGH {
            self.high.store(self.high.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        }
        s.store(c - 1, Ordering::Relaxed);
        (c - 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_and_down_and_saturate() {
        let m = MapCounts::<4>::new();
        m.set_one(0x2000);
        assert!(m.increment(0x2000));
        assert_eq!(m.get(0x2000), 2);
        assert_eq!(m.decrement(0x2000), 1);
        assert_eq!(m.decrement(0x2000), 0);
        m.slot(0x1000).store(MapCounts::<4>::MAX, Ordering::Relaxed);
        assert!(!m.increment(0x1000));
        assert_eq!(m.get(0x1000), MapCounts::<4>::MAX as u32);
    }

    #[test]
    #[should_panic(expected = "underflows")]
    fn underflow_is_a_bug() {
        MapCounts::<1>::new().decrement(0);
    }

    /// The tally of high counts follows every count across `HIGH`, both ways, and
    /// `has_room` is true exactly while it is zero (and the share is small enough).
    #[test]
    fn high_counts_are_tallied_and_deny_room() {
        let m = MapCounts::<4>::new();
        let room = (MAX_COUNT - HIGH + 1) as u64;
        m.set_one(0x1000);
        m.set_one(0x3000);
        assert!(m.has_room(room) && !m.has_room(room + 1));
        for f in [0x1000, 0x3000] {
            for _ in 1..HIGH - 1 {
                assert!(m.increment(f));
            }
        }
        assert_eq!(m.get(0x1000), (HIGH - 1) as u32);
        assert!(m.has_room(room), "HIGH - 1 + room is the maximum");
        assert!(m.increment(0x1000));
        assert!(!m.has_room(1), "one count is high");
        assert!(m.increment(0x3000) && m.increment(0x3000));
        assert!(!m.has_room(1), "two are");
        assert_eq!(m.decrement(0x1000), (HIGH - 1) as u32);
        assert!(!m.has_room(1), "one still is");
        assert_eq!(m.decrement(0x3000), HIGH as u32);
        assert!(!m.has_room(1), "at HIGH is high");
        assert_eq!(m.decrement(0x3000), (HIGH - 1) as u32);
        assert!(m.has_room(1), "none is high again");
        // Up to the maximum and back, the tally counting the frame once.
        m.slot(0x2000).store(MAX_COUNT - 1, Ordering::Relaxed);
        m.high.store(1, Ordering::Relaxed);
        assert!(m.increment(0x2000) && !m.increment(0x2000));
        while m.get(0x2000) > 1 {
            m.decrement(0x2000);
        }
        assert!(m.has_room(room), "the tally went back to zero on the way down");
        assert_eq!(m.decrement(0x2000), 0, "the last mapping");
    }

    /// Review: random increments and decrements of counts started on either side of
    /// `HIGH` and of the maximum keep the tally equal to the number of high counts, and
    /// `has_room` is never true for a share some count has no room for.
    #[test]
    fn tally_stays_exact_under_random_changes() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        const N: usize = 4;
        let starts = prop_oneof![1u16..4, HIGH - 4..HIGH + 4, MAX_COUNT - 4..=MAX_COUNT];
        let ops = proptest::collection::vec((0..N, any::<bool>()), 0..64);
        let mut runner = TestRunner::new(Config { cases: 64, ..Config::default() });
        runner
            .run(&(proptest::array::uniform4(starts), ops), |(starts, ops)| {
                let m = MapCounts::<N>::new();
                let mut model = [0u32; N];
                for (i, &s) in starts.iter().enumerate() {
                    let f = (i as u64) << 12;
                    m.set_one(f);
                    for _ in 1..s {
                        prop_assert!(m.increment(f));
                    }
                    model[i] = s as u32;
                }
                let check = |m: &MapCounts<N>, model: &[u32; N]| -> Result<(), TestCaseError> {
                    let high = model.iter().filter(|&&c| c >= HIGH as u32).count() as u32;
                    prop_assert_eq!(m.high.load(Ordering::Relaxed), high);
                    for extra in [0u64, 1, 0x7fff, 0x8000, 0x8001] {
                        if m.has_room(extra) {
                            prop_assert!(model.iter().all(|&c| c as u64 + extra <= MAX_COUNT as u64));
                        }
                    }
                    Ok(())
                };
                check(&m, &model)?;
                for (i, up) in ops {
                    let f = (i as u64) << 12;
                    if up {
                        let ok = m.increment(f);
                        prop_assert_eq!(ok, model[i] < MAX_COUNT as u32);
                        model[i] += ok as u32;
                    } else if model[i] > 1 {
                        model[i] -= 1;
                        prop_assert_eq!(m.decrement(f), model[i]);
                    }
                    prop_assert_eq!(m.get(f), model[i]);
                    check(&m, &model)?;
                }
                Ok(())
            })
            .unwrap();
    }
}
