//! A task's `new_pages` regions: where each allocation starts and how many pages it has,
//! so that `remove_pages(base)` removes exactly what `new_pages(base, len)` made, and the
//! task's page quota can be enforced.
//!
//! Invariants: regions are disjoint; `pages` is the sum of their sizes and never exceeds
//! the quota. Overlap with mappings that are not regions (program image, stacks) is the
//! page tables' to check, not this table's.

use abi::Error;

/// Most regions one task may hold at once.
pub const MAX_REGIONS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub base: u64,
    pub pages: u64,
}

impl Region {
    fn end(&self) -> u64 {
        self.base + self.pages * abi::PAGE_SIZE as u64
    }
}

#[derive(Clone, Debug)]
pub struct Regions {
    table: [Region; MAX_REGIONS],
    len: usize,
    pages: u64,
    quota: u64,
}

impl Regions {
    pub const fn new(quota_pages: u64) -> Self {
        Regions { table: [Region { base: 0, pages: 0 }; MAX_REGIONS], len: 0, pages: 0, quota: quota_pages }
    }

    /// Pages held in regions.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Checks that `r` may be added (quota, table space, no overlap with another region).
    pub fn check_add(&self, r: Region) -> Result<(), Error> {
        if self.pages + r.pages > self.quota || self.len == MAX_REGIONS {
            return Err(Error::OutOfMemory);
        }
        if self.iter().any(|x| x.base < r.end() && r.base < x.end()) {
            return Err(Error::WindowOccupied);
        }
        Ok(())
    }

    pub fn add(&mut self, r: Region) -> Result<(), Error> {
        self.check_add(r)?;
        self.table[self.len] = r;
        self.len += 1;
        self.pages += r.pages;
        Ok(())
    }

    /// The region starting exactly at `base`.
    pub fn find(&self, base: u64) -> Option<Region> {
        self.iter().find(|r| r.base == base).copied()
    }

    /// Removes and returns the region starting exactly at `base`.
    pub fn remove(&mut self, base: u64) -> Option<Region> {
        let i = self.table[..self.len].iter().position(|r| r.base == base)?;
        let r = self.table[i];
        self.len -= 1;
        self.table[i] = self.table[self.len];
        self.pages -= r.pages;
        Some(r)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.table[..self.len].iter()
    }

    /// How many more entries `punch(start, pages)` would need (a region straddling the
    /// range on both sides splits in two).
    fn punch_growth(&self, r: Region) -> usize {
        self.iter().filter(|x| x.base < r.base && r.end() < x.end()).count()
    }

    /// Whether `punch` of `r` has room in the table.
    pub fn can_punch(&self, r: Region) -> bool {
        self.len + self.punch_growth(r) <= MAX_REGIONS
    }

    /// What each region becomes when `hole` is punched out of it: itself, or its non-empty
    /// remnants on either side.
    fn remnants(x: Region, hole: Region) -> [Option<Region>; 2] {
        if x.end() <= hole.base || hole.end() <= x.base {
            return [Some(x), None];
        }
        let page = abi::PAGE_SIZE as u64;
        let left = Region { base: x.base, pages: hole.base.saturating_sub(x.base) / page };
        let right_base = hole.end().max(x.base);
        let right = Region { base: right_base, pages: x.end().saturating_sub(right_base) / page };
        [Some(left).filter(|r| r.pages > 0), Some(right).filter(|r| r.pages > 0)]
    }

    /// As [`check_add`](Self::check_add) on the table as it would be after
    /// `punch(hole)` (when `hole` is given), without changing or copying it: a long move
    /// within one task checks its window this way before anything is committed.
    pub fn check_add_after_punch(&self, r: Region, hole: Option<Region>) -> Result<(), Error> {
        let Some(hole) = hole else { return self.check_add(r) };
        let after = || self.iter().flat_map(|&x| Self::remnants(x, hole)).flatten();
        let (len, pages) = after().fold((0, 0), |(n, p), x| (n + 1, p + x.pages));
        if pages + r.pages > self.quota || len >= MAX_REGIONS {
            return Err(Error::OutOfMemory);
        }
        if after().any(|x| x.base < r.end() && r.base < x.end()) {
            return Err(Error::WindowOccupied);
        }
        Ok(())
    }

    /// Takes `r` out of every region it overlaps (its pages moved away), keeping what is
    /// left of each on either side. Call `can_punch` first.
    pub fn punch(&mut self, r: Region) {
        debug_assert!(self.can_punch(r));
        let mut i = 0;
        while i < self.len {
            let x = self.table[i];
            if x.end() <= r.base || r.end() <= x.base {
                i += 1;
                continue;
            }
            let rems = Self::remnants(x, r);
            self.pages -= x.pages - rems.iter().flatten().map(|r| r.pages).sum::<u64>();
            // Replace x by its remnants.
            self.len -= 1;
            self.table[i] = self.table[self.len];
            for rem in rems.into_iter().flatten() {
                self.table[self.len] = rem;
                self.len += 1;
            }
            // Remnants were appended past `i`'s replacement; they never overlap `r` again.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const P: u64 = abi::PAGE_SIZE as u64;

    #[test]
    fn add_find_remove() {
        let mut r = Regions::new(10);
        r.add(Region { base: 0x10000, pages: 2 }).unwrap();
        r.add(Region { base: 0x12000, pages: 3 }).unwrap();
        assert_eq!(r.pages(), 5);
        assert_eq!(r.find(0x12000), Some(Region { base: 0x12000, pages: 3 }));
        assert_eq!(r.find(0x11000), None, "only exact bases");
        assert_eq!(r.remove(0x10000), Some(Region { base: 0x10000, pages: 2 }));
        assert_eq!(r.remove(0x10000), None);
        assert_eq!(r.pages(), 3);
    }

    #[test]
    fn refuses_overlap_and_quota() {
        let mut r = Regions::new(4);
        r.add(Region { base: 0x10000, pages: 2 }).unwrap();
        assert_eq!(r.add(Region { base: 0x10000 + P, pages: 1 }), Err(Error::WindowOccupied));
        assert_eq!(r.add(Region { base: 0x10000 - P, pages: 2 }), Err(Error::WindowOccupied));
        assert_eq!(r.add(Region { base: 0x20000, pages: 3 }), Err(Error::OutOfMemory));
        r.add(Region { base: 0x20000, pages: 2 }).unwrap();
        assert_eq!(r.pages(), 4);
    }

    #[test]
    fn punching_keeps_what_is_left() {
        let mut r = Regions::new(100);
        r.add(Region { base: 0x10000, pages: 10 }).unwrap();
        r.add(Region { base: 0x30000, pages: 2 }).unwrap();
        let hole = Region { base: 0x12000, pages: 3 };
        assert!(r.can_punch(hole));
        r.punch(hole);
        assert_eq!(r.pages(), 9);
        assert_eq!(r.find(0x10000), Some(Region { base: 0x10000, pages: 2 }));
        assert_eq!(r.find(0x15000), Some(Region { base: 0x15000, pages: 5 }));
        // A whole region, and a range spanning the end of one.
        r.punch(Region { base: 0x30000, pages: 2 });
        assert_eq!(r.find(0x30000), None);
        r.punch(Region { base: 0x19000, pages: 4 });
        assert_eq!(r.find(0x15000), Some(Region { base: 0x15000, pages: 4 }));
        assert_eq!(r.pages(), 6);
    }

    #[test]
    fn random_punches_match_a_page_set() {
        use std::collections::BTreeSet;
        let mut seed = 5u64;
        let mut rnd = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..500 {
            let mut r = Regions::new(1000);
            let mut model = BTreeSet::new();
            for _ in 0..10 {
                let reg = Region { base: rnd(64) * P, pages: 1 + rnd(8) };
                if r.add(reg).is_ok() {
                    model.extend((0..reg.pages).map(|i| reg.base + i * P));
                }
                let hole = Region { base: rnd(64) * P, pages: 1 + rnd(8) };
                if r.can_punch(hole) {
                    r.punch(hole);
                    for i in 0..hole.pages {
                        model.remove(&(hole.base + i * P));
                    }
                }
                let got: BTreeSet<u64> = r.iter().flat_map(|x| (0..x.pages).map(move |i| x.base + i * P)).collect();
                assert_eq!(got, model);
                assert_eq!(r.pages() as usize, model.len());
            }
        }
    }

    #[test]
    fn checking_after_a_punch_matches_punching_a_copy() {
        let mut seed = 9u64;
        let mut rnd = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..2000 {
            let mut r = Regions::new(20 + rnd(20));
            for _ in 0..rnd(12) {
                let _ = r.add(Region { base: rnd(64) * P, pages: 1 + rnd(8) });
            }
            let hole = Region { base: rnd(64) * P, pages: 1 + rnd(8) };
            let add = Region { base: rnd(64) * P, pages: 1 + rnd(8) };
            let mut copy = r.clone();
            copy.punch(hole);
            assert_eq!(r.check_add_after_punch(add, Some(hole)), copy.check_add(add), "{r:?} {hole:?} {add:?}");
            assert_eq!(r.check_add_after_punch(add, None), r.check_add(add));
        }
        // A full table: a punch that splits a region needs one more entry.
        let mut full = Regions::new(u64::MAX / 2);
        full.add(Region { base: 0, pages: 10 }).unwrap();
        for i in 1..MAX_REGIONS as u64 - 1 {
            full.add(Region { base: (100 + 2 * i) * P, pages: 1 }).unwrap();
        }
        let far = Region { base: 0x1000_0000, pages: 1 };
        assert_eq!(full.check_add_after_punch(far, Some(Region { base: 0, pages: 1 })), Ok(()));
        assert_eq!(full.check_add_after_punch(far, Some(Region { base: 2 * P, pages: 1 })), Err(Error::OutOfMemory));
    }

    #[test]
    fn table_full_is_out_of_memory() {
        let mut r = Regions::new(u64::MAX / 2);
        for i in 0..MAX_REGIONS as u64 {
            r.add(Region { base: i * 2 * P, pages: 1 }).unwrap();
        }
        assert_eq!(r.add(Region { base: 0x1000_0000, pages: 1 }), Err(Error::OutOfMemory));
    }
}
