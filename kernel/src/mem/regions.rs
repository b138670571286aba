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
    fn table_full_is_out_of_memory() {
        let mut r = Regions::new(u64::MAX / 2);
        for i in 0..MAX_REGIONS as u64 {
            r.add(Region { base: i * 2 * P, pages: 1 }).unwrap();
        }
        assert_eq!(r.add(Region { base: 0x1000_0000, pages: 1 }), Err(Error::OutOfMemory));
    }
}
