//! Map counts: for every frame, how many user page mappings point at it, across all
//! address spaces. This is what page-ownership rights are made of (`mem::pagemap`): one
//! mapping is exclusive, more are shared. Invariant: a user frame is freed exactly when its
//! count drops to zero. Within one kernel entry a count may also hold mappings a share has
//! reserved and not made yet (`mem::pagemap::reserve_shares`); before the kernel returns
//! they are made or given back.

use core::sync::atomic::{AtomicU16, Ordering};

/// Largest count: a frame cannot be mapped more often than this.
pub const MAX_COUNT: u16 = u16::MAX;

/// Counts for frames `0..N` (frame number = physical address / page size).
pub struct MapCounts<const N: usize> {
    counts: [AtomicU16; N],
}

impl<const N: usize> Default for MapCounts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MapCounts<N> {
    pub const MAX: u16 = MAX_COUNT;

    pub const fn new() -> Self {
        MapCounts { counts: [const { AtomicU16::new(0) }; N] }
    }

    fn slot(&self, frame: u64) -> &AtomicU16 {
        &self.counts[(frame / abi::PAGE_SIZE as u64) as usize]
    }

    pub fn get(&self, frame: u64) -> u32 {
        self.slot(frame).load(Ordering::Relaxed) as u32
    }

    /// A frame's first mapping.
    pub fn set_one(&self, frame: u64) {
        self.slot(frame).store(1, Ordering::Relaxed);
    }

    /// One more mapping; false (and no change) if the count is at its maximum.
    pub fn increment(&self, frame: u64) -> bool {
        let s = self.slot(frame);
        let c = s.load(Ordering::Relaxed);
        if c == Self::MAX {
            return false;
        }
        s.store(c + 1, Ordering::Relaxed);
        true
    }

    /// One mapping fewer; returns the count left (0: the frame is no one's).
    pub fn decrement(&self, frame: u64) -> u32 {
        let s = self.slot(frame);
        let c = s.load(Ordering::Relaxed);
        // Invariant: the kernel decrements only for a mapping it counted when it made it;
        // user calls name regions, never counts, so none can unbalance this.
        assert!(c > 0, "map count of frame {frame:#x} underflows");
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
}
