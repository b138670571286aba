//! The physical frame allocator: one bit per 4 KiB frame.
//!
//! Two bitmaps: `managed` (the frame is RAM the allocator was given) and `free`. Invariants:
//! `free ⊆ managed`; `free_count` equals the number of set `free` bits; a frame is handed
//! out at most once until it is freed. Freeing a frame that is not managed or already free
//! is reported as an error (a kernel bug), never silently absorbed.
//!
//! Allocation is lowest-address first. Boot relies on that: page tables built before the
//! kernel's direct map exists must come from the identity-mapped first GiB.
//!
//! A third bitmap, `zeroed`, remembers free frames known to hold only zeros (freed with
//! [`FrameAllocator::free_zeroed`]: empty page tables), so that a page table allocated
//! again need not be cleared again. A frame's bit is cleared whenever it is allocated or
//! freed any other way.

use super::PhysRange;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A 4 KiB physical frame, identified by its (page-aligned) physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frame(u64);

impl core::fmt::Debug for Frame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Frame({:#x})", self.0)
    }
}

impl Frame {
    /// The frame at `addr`, which must be page-aligned.
    pub const fn from_addr(addr: u64) -> Option<Frame> {
        if addr.is_multiple_of(PAGE) {
            Some(Frame(addr))
        } else {
            None
        }
    }
    pub const fn addr(self) -> u64 {
        self.0
    }
}

/// Why a frame could not be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The frame was never given to the allocator (not RAM, or above its capacity).
    NotManaged(Frame),
    /// The frame is already free.
    DoubleFree(Frame),
}

/// A frame allocator covering physical addresses below `WORDS * 64` frames.
pub struct FrameAllocator<const WORDS: usize> {
    managed: [u64; WORDS],
    free: [u64; WORDS],
    zeroed: [u64; WORDS],
    free_count: usize,
    managed_count: usize,
    /// No free bit exists in words below this index.
    first_candidate: usize,
}

impl<const WORDS: usize> Default for FrameAllocator<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> FrameAllocator<WORDS> {
    /// Physical addresses at or above this are outside the allocator's reach.
    pub const CAPACITY_BYTES: u64 = WORDS as u64 * 64 * PAGE;

    /// An allocator with no frames.
    pub const fn new() -> Self {
        FrameAllocator {
            managed: [0; WORDS],
            free: [0; WORDS],
            zeroed: [0; WORDS],
            free_count: 0,
            managed_count: 0,
            first_candidate: WORDS,
        }
    }

    /// Hands the page-aligned range `r` to the allocator as free. Parts above
    /// `CAPACITY_BYTES`, and frames already managed, are skipped. Returns the number of
    /// frames added.
    pub fn add_free(&mut self, r: PhysRange) -> usize {
        debug_assert!(r.start.is_multiple_of(PAGE) && r.end.is_multiple_of(PAGE));
        let end = r.end.min(Self::CAPACITY_BYTES);
        let mut added = 0;
        let mut addr = r.start;
        while addr < end {
            let (w, bit) = Self::index(addr);
            if self.managed[w] & bit == 0 {
                self.managed[w] |= bit;
                self.free[w] |= bit;
                self.first_candidate = self.first_candidate.min(w);
                added += 1;
            }
            addr += PAGE;
        }
        self.free_count += added;
        self.managed_count += added;
        added
    }

    /// Allocates the lowest free frame.
    pub fn alloc(&mut self) -> Option<Frame> {
        self.alloc_zeroed().map(|(f, _)| f)
    }

    /// Allocates the lowest free frame, and says whether it is known to hold only zeros.
    pub fn alloc_zeroed(&mut self) -> Option<(Frame, bool)> {
        let w = (self.first_candidate..WORDS).find(|&w| self.free[w] != 0)?;
        self.first_candidate = w;
        let bit = self.free[w].trailing_zeros() as u64;
        self.free[w] &= !(1 << bit);
        let zeroed = self.zeroed[w] & (1 << bit) != 0;
        self.zeroed[w] &= !(1 << bit);
        self.free_count -= 1;
        Some((Frame((w as u64 * 64 + bit) * PAGE), zeroed))
    }

    /// Returns a frame that holds only zeros, so that its next allocation can skip
    /// clearing it. Otherwise as [`free`](Self::free).
    pub fn free_zeroed(&mut self, f: Frame) -> Result<(), FreeError> {
        self.free(f)?;
        let (w, bit) = Self::index(f.0);
        self.zeroed[w] |= bit;
        Ok(())
    }

    /// Returns a frame obtained from [`alloc`](Self::alloc).
    pub fn free(&mut self, f: Frame) -> Result<(), FreeError> {
        if f.0 >= Self::CAPACITY_BYTES {
            return Err(FreeError::NotManaged(f));
        }
        let (w, bit) = Self::index(f.0);
        if self.managed[w] & bit == 0 {
            return Err(FreeError::NotManaged(f));
        }
        if self.free[w] & bit != 0 {
            return Err(FreeError::DoubleFree(f));
        }
        self.free[w] |= bit;
        self.zeroed[w] &= !bit;
        self.free_count += 1;
        self.first_candidate = self.first_candidate.min(w);
        Ok(())
    }

    /// Frames currently free.
    pub fn free_count(&self) -> usize {
        self.free_count
    }

    /// Frames the allocator manages, free or not.
    pub fn managed_count(&self) -> usize {
        self.managed_count
    }

    /// Whether `f` is managed and currently allocated.
    pub fn is_allocated(&self, f: Frame) -> bool {
        if f.0 >= Self::CAPACITY_BYTES {
            return false;
        }
        let (w, bit) = Self::index(f.0);
        self.managed[w] & bit != 0 && self.free[w] & bit == 0
    }

    fn index(addr: u64) -> (usize, u64) {
        let frame = addr / PAGE;
        ((frame / 64) as usize, 1 << (frame % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    type Small = FrameAllocator<4>; // 256 frames: 0 .. 1 MiB

    fn r(s: u64, e: u64) -> PhysRange {
        PhysRange::new(s, e)
    }

    #[test]
    fn allocates_lowest_first_and_only_managed_frames() {
        let mut a = Small::new();
        assert_eq!(a.alloc(), None);
        assert_eq!(a.add_free(r(0x5000, 0x8000)), 3);
        assert_eq!(a.add_free(r(0x2000, 0x3000)), 1);
        assert_eq!(a.free_count(), 4);
        let got: Vec<u64> = std::iter::from_fn(|| a.alloc()).map(Frame::addr).collect();
        assert_eq!(got, [0x2000, 0x5000, 0x6000, 0x7000]);
        assert_eq!(a.free_count(), 0);
    }

    #[test]
    fn free_restores_count_and_detects_misuse() {
        let mut a = Small::new();
        a.add_free(r(0x1000, 0x4000));
        let f = a.alloc().unwrap();
        assert!(a.is_allocated(f));
        assert_eq!(a.free(f), Ok(()));
        assert_eq!(a.free(f), Err(FreeError::DoubleFree(f)));
        let unmanaged = Frame::from_addr(0x9000).unwrap();
        assert_eq!(a.free(unmanaged), Err(FreeError::NotManaged(unmanaged)));
        let beyond = Frame::from_addr(Small::CAPACITY_BYTES).unwrap();
        assert_eq!(a.free(beyond), Err(FreeError::NotManaged(beyond)));
        assert_eq!(a.free_count(), 3);
    }

    #[test]
    fn ranges_above_capacity_and_repeats_are_clipped() {
        let mut a = Small::new();
        assert_eq!(a.add_free(r(Small::CAPACITY_BYTES - 0x2000, Small::CAPACITY_BYTES + 0x10000)), 2);
        assert_eq!(a.add_free(r(Small::CAPACITY_BYTES - 0x2000, Small::CAPACITY_BYTES)), 0);
        assert_eq!(a.managed_count(), 2);
        assert_eq!(Frame::from_addr(0x1001), None);
    }

    #[test]
    fn only_frames_freed_zeroed_are_known_zero() {
        let mut a = Small::new();
        a.add_free(r(0x1000, 0x3000));
        assert_eq!(a.alloc_zeroed().map(|(_, z)| z), Some(false), "fresh RAM is not known zero");
        let f = a.alloc().unwrap();
        a.free_zeroed(f).unwrap();
        assert_eq!(a.alloc_zeroed(), Some((f, true)));
        a.free_zeroed(f).unwrap();
        let g = a.alloc().unwrap();
        assert_eq!(g, f, "a plain allocation takes the same frame...");
        a.free(g).unwrap();
        assert_eq!(a.alloc_zeroed(), Some((f, false)), "...so it is no longer known zero");
        assert_eq!(a.free_zeroed(f), Ok(()));
        assert_eq!(a.free_zeroed(f), Err(FreeError::DoubleFree(f)));
    }

    /// Model check against a set: random alloc/free never hands out a frame twice, never
    /// hands out an unmanaged frame, and the count always matches.
    #[test]
    fn random_alloc_free_matches_a_set_model() {
        let mut seed = 12345u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for _ in 0..200 {
            let mut a = Small::new();
            let mut model_free: BTreeSet<u64> = BTreeSet::new();
            for _ in 0..3 {
                let s = next() % 256 * PAGE;
                let e = (s + next() % 64 * PAGE).min(Small::CAPACITY_BYTES);
                a.add_free(r(s, e));
                model_free.extend((s..e).step_by(PAGE as usize));
            }
            let managed = model_free.clone();
            let mut held: Vec<Frame> = Vec::new();
            for _ in 0..500 {
                if next() % 2 == 0 {
                    match a.alloc() {
                        Some(f) => {
                            assert_eq!(Some(&f.addr()), model_free.first(), "lowest first");
                            model_free.remove(&f.addr());
                            held.push(f);
                        }
                        None => assert!(model_free.is_empty()),
                    }
                } else if !held.is_empty() {
                    let f = held.swap_remove(next() as usize % held.len());
                    a.free(f).unwrap();
                    assert!(managed.contains(&f.addr()));
                    model_free.insert(f.addr());
                }
                assert_eq!(a.free_count(), model_free.len());
            }
        }
    }
}
