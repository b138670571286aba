//! A task's `new_pages` regions: where each allocation starts and how many pages it has,
//! so that `remove_pages(base)` removes exactly what `new_pages(base, len)` made, and the
//! task's page quota can be enforced.
//!
//! The table has room for [`PROGRAM_REGIONS`] regions of the program's own plus one for
//! every thread the kernel can hold: libsys gives each thread's stack a region of its
//! own, so thread stacks never use up what the program has. Entries are packed into one
//! word each (page number and page count) to keep the table, which lives in every address
//! space, small.
//!
//! Invariants: regions are disjoint; `pages` is the sum of their sizes and never exceeds
//! the quota. Overlap with mappings that are not regions (program image, stacks) is the
//! page tables' to check, not this table's.

use abi::Error;

/// Regions a task has for its own use, whatever its threads' stacks take.
pub const PROGRAM_REGIONS: usize = 128;
/// Most regions one task may hold at once: its own, and a stack for each thread.
pub const MAX_REGIONS: usize = PROGRAM_REGIONS + crate::limits::MAX_THREADS;

const PAGE: u64 = abi::PAGE_SIZE as u64;
/// Bits of a packed entry that hold the page count; the page number takes the rest.
const COUNT_BITS: u32 = 28;
/// The largest quota (in pages) a table accepts: every region's size fits its field.
pub const MAX_QUOTA: u64 = (1 << COUNT_BITS) - 1;
const _: () = assert!(abi::layout::USER_END / PAGE < 1 << (64 - COUNT_BITS), "page numbers fit their field");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub base: u64,
    pub pages: u64,
}

impl Region {
    fn end(&self) -> u64 {
        self.base + self.pages * PAGE
    }

    /// Whether the `pages` pages at `base` (a range inside user space) lie inside it.
    pub fn contains(&self, base: u64, pages: u64) -> bool {
        base >= self.base && base.saturating_add(pages.saturating_mul(PAGE)) <= self.end()
    }

    fn overlaps(&self, r: Region) -> bool {
        self.base < r.end() && r.base < self.end()
    }

    /// One table word. Only regions within the quota (so `pages <= MAX_QUOTA`) and inside
    /// user space are stored.
    fn pack(self) -> u64 {
        (self.base / PAGE) << COUNT_BITS | self.pages
    }

    fn unpack(w: u64) -> Region {
        Region { base: (w >> COUNT_BITS) * PAGE, pages: w & MAX_QUOTA }
    }
}

#[derive(Clone, Debug)]
pub struct Regions {
    table: [u64; MAX_REGIONS],
    len: usize,
    pages: u64,
    quota: u64,
    /// How many times [`Regions::punch`] has split a region in two: the one change that
    /// takes an entry without adding pages (a window's room, checked earlier, is stale
    /// only if this or the space's growth moved).
    splits: u64,
}

impl Regions {
    /// An empty table whose regions may hold `quota_pages` pages in all (at most
    /// [`MAX_QUOTA`]).
    pub const fn new(quota_pages: u64) -> Self {
        let quota = if quota_pages < MAX_QUOTA { quota_pages } else { MAX_QUOTA };
        Regions { table: [0; MAX_REGIONS], len: 0, pages: 0, quota, splits: 0 }
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
        if self.iter().any(|x| x.overlaps(r)) {
            return Err(Error::WindowOccupied);
        }
        Ok(())
    }

    /// As [`check_add`](Self::check_add) on the table as it would be after
    /// `punch(moved)` (a task receiving pages it moves to itself), without changing it.
    pub fn check_add_after_punch(&self, r: Region, moved: Region) -> Result<(), Error> {
        let (mut pages, mut len) = (self.pages, self.len);
        let mut occupied = false;
        for x in self.iter() {
            if !x.overlaps(moved) {
                occupied |= x.overlaps(r);
                continue;
            }
            let left = Region { base: x.base, pages: moved.base.saturating_sub(x.base) / PAGE };
            let right_base = moved.end().max(x.base);
            let right = Region { base: right_base, pages: x.end().saturating_sub(right_base) / PAGE };
            pages -= x.pages - left.pages - right.pages;
            len = len - 1 + (left.pages > 0) as usize + (right.pages > 0) as usize;
            occupied |= (left.pages > 0 && left.overlaps(r)) || (right.pages > 0 && right.overlaps(r));
        }
        if pages + r.pages > self.quota || len >= MAX_REGIONS {
            return Err(Error::OutOfMemory);
        }
        if occupied {
            return Err(Error::WindowOccupied);
        }
        Ok(())
    }

    pub fn add(&mut self, r: Region) -> Result<(), Error> {
        self.check_add(r)?;
        self.table[self.len] = r.pack();
        self.len += 1;
        self.pages += r.pages;
        Ok(())
    }

    /// The region starting exactly at `base`.
    pub fn find(&self, base: u64) -> Option<Region> {
        self.iter().find(|r| r.base == base)
    }

    /// Removes and returns the region starting exactly at `base`.
    pub fn remove(&mut self, base: u64) -> Option<Region> {
        let i = self.iter().position(|r| r.base == base)?;
        let r = Region::unpack(self.table[i]);
        self.len -= 1;
        self.table[i] = self.table[self.len];
        self.pages -= r.pages;
        Some(r)
    }

    pub fn iter(&self) -> impl Iterator<Item = Region> + '_ {
        self.table[..self.len].iter().map(|&w| Region::unpack(w))
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

    /// How many splits [`Regions::punch`] has made (see the field).
    pub fn splits(&self) -> u64 {
        self.splits
    }

    /// Takes `r` out of every region it overlaps (its pages moved away), keeping what is
    /// left of each on either side. Call `can_punch` first.
    pub fn punch(&mut self, r: Region) {
        debug_assert!(self.can_punch(r));
        let mut i = 0;
        while i < self.len {
            let x = Region::unpack(self.table[i]);
            if x.end() <= r.base || r.end() <= x.base {
                i += 1;
                continue;
            }
            let page = abi::PAGE_SIZE as u64;
            let left = Region { base: x.base, pages: r.base.saturating_sub(x.base) / page };
            let right_base = r.end().max(x.base);
            let right = Region { base: right_base, pages: x.end().saturating_sub(right_base) / page };
            self.pages -= x.pages - left.pages - right.pages;
            if left.pages > 0 && right.pages > 0 {
                self.splits += 1;
            }
            // Replace x by its remnants.
            self.len -= 1;
            self.table[i] = self.table[self.len];
            for rem in [left, right] {
                if rem.pages > 0 {
                    self.table[self.len] = rem.pack();
                    self.len += 1;
                }
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
        assert_eq!(r.splits(), 1, "a hole in the middle splits a region");
        assert_eq!(r.pages(), 9);
        assert_eq!(r.find(0x10000), Some(Region { base: 0x10000, pages: 2 }));
        assert_eq!(r.find(0x15000), Some(Region { base: 0x15000, pages: 5 }));
        // A whole region, and a range spanning the end of one.
        r.punch(Region { base: 0x30000, pages: 2 });
        assert_eq!(r.find(0x30000), None);
        r.punch(Region { base: 0x19000, pages: 4 });
        assert_eq!(r.find(0x15000), Some(Region { base: 0x15000, pages: 4 }));
        assert_eq!(r.pages(), 6);
        assert_eq!(r.splits(), 1, "taking a whole region or an end splits nothing");
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

    /// `check_add_after_punch` answers what punching a clone and adding would.
    #[test]
    fn checking_after_a_punch_matches_punching_a_copy() {
        let mut seed = 9u64;
        let mut rnd = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..2000 {
            let mut r = Regions::new(40 + rnd(40));
            for _ in 0..rnd(12) {
                let _ = r.add(Region { base: rnd(64) * P, pages: 1 + rnd(8) });
            }
            let moved = Region { base: rnd(64) * P, pages: 1 + rnd(8) };
            let window = Region { base: rnd(64) * P, pages: 1 + rnd(16) };
            let mut copy = r.clone();
            copy.punch(moved);
            assert_eq!(r.check_add_after_punch(window, moved), copy.check_add(window));
        }
        // A full table: punching whole regions frees entries, splitting one needs another.
        let mut full = Regions::new(MAX_QUOTA);
        for i in 0..MAX_REGIONS as u64 {
            full.add(Region { base: i * 4 * P, pages: 3 }).unwrap();
        }
        let far = Region { base: 1 << 30, pages: 1 };
        assert_eq!(full.check_add_after_punch(far, Region { base: 0, pages: 3 }), Ok(()));
        let mut copy = full.clone();
        copy.punch(Region { base: 0, pages: 3 });
        assert_eq!(copy.check_add(far), Ok(()));
        assert_eq!(full.check_add_after_punch(far, Region { base: P, pages: 1 }), Err(Error::OutOfMemory));
    }

    #[test]
    fn a_region_for_every_thread_beyond_the_programs_own() {
        let mut r = Regions::new(MAX_QUOTA);
        for i in 0..(PROGRAM_REGIONS + crate::limits::MAX_THREADS) as u64 {
            r.add(Region { base: (i * 17 + 1) * P, pages: 16 }).unwrap();
        }
        assert_eq!(r.add(Region { base: 1 << 40, pages: 1 }), Err(Error::OutOfMemory));
        let top = Region { base: abi::layout::USER_END - 16 * P, pages: 16 };
        assert_eq!(r.remove(P), Some(Region { base: P, pages: 16 }));
        r.add(top).unwrap();
        assert_eq!(r.find(top.base), Some(top), "the highest user pages pack and unpack");
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
