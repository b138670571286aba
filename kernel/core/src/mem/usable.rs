//! Which physical frames the allocator may hand out: the RAM entries of the firmware memory
//! map, shrunk to whole pages, minus everything reserved (the first MiB, the kernel image,
//! boot modules).
//!
//! Invariant of the output: ranges are page-aligned, non-empty, sorted, disjoint, inside
//! some RAM entry and outside every reserved range, whatever the input looks like
//! (overlapping or unsorted entries, zero sizes, addresses near 2^64).

use super::PhysRange;
use crate::boot::pvh::MemRegion;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Most disjoint usable ranges produced; each reserved range can split one RAM range in two.
pub const MAX_USABLE: usize = 128;

/// The usable ranges, sorted.
#[derive(Clone, Debug)]
pub struct Usable {
    ranges: [PhysRange; MAX_USABLE],
    len: usize,
    /// Pieces that did not fit in `MAX_USABLE` (reported at boot).
    pub dropped: usize,
}

impl Usable {
    pub fn ranges(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }
    pub fn total_bytes(&self) -> u64 {
        self.ranges().iter().map(PhysRange::len).sum()
    }

    fn push(&mut self, r: PhysRange) {
        if r.is_empty() {
            return;
        }
        if self.len == MAX_USABLE {
            self.dropped += 1;
        } else {
            self.ranges[self.len] = r;
            self.len += 1;
        }
    }
}

/// Computes the allocatable ranges from a memory map and a list of reserved ranges.
pub fn usable_ranges(regions: &[MemRegion], reserved: &[PhysRange]) -> Usable {
    let mut out = Usable { ranges: [PhysRange::default(); MAX_USABLE], len: 0, dropped: 0 };
    for region in regions.iter().filter(|r| r.is_ram()) {
        // Whole pages only: round the start up and the end down.
        let Some(start) = region.base.checked_next_multiple_of(PAGE) else { continue };
        let end = region.end() & !(PAGE - 1);
        subtract_into(PhysRange::new(start, end), reserved, &mut out);
    }
    normalize(&mut out);
    out
}

/// Pushes the parts of `r` that no reserved range touches (reserved ranges are widened to
/// whole pages, so a page that is partly reserved is not used).
fn subtract_into(r: PhysRange, reserved: &[PhysRange], out: &mut Usable) {
    // Walk the reserved ranges that overlap `r` in address order, emitting the gaps.
    let mut cursor = r.start;
    loop {
        let next = reserved
            .iter()
            .map(|x| PhysRange::new(x.start & !(PAGE - 1), x.end.saturating_add(PAGE - 1) & !(PAGE - 1)))
            .filter(|x| !x.is_empty() && x.end > cursor && x.start < r.end)
            .min_by_key(|x| x.start);
        match next {
            None => {
                out.push(PhysRange::new(cursor, r.end));
                return;
            }
            Some(x) => {
                out.push(PhysRange::new(cursor, x.start.max(cursor)));
                cursor = x.end;
                if cursor >= r.end {
                    return;
                }
            }
        }
    }
}

/// Sorts and merges overlapping or touching ranges (the firmware map may overlap itself).
fn normalize(u: &mut Usable) {
    let len = u.len;
    u.ranges[..len].sort_unstable_by_key(|r| r.start);
    let mut w = 0;
    for i in 0..len {
        let r = u.ranges[i];
        if w > 0 && r.start <= u.ranges[w - 1].end {
            u.ranges[w - 1].end = u.ranges[w - 1].end.max(r.end);
        } else {
            u.ranges[w] = r;
            w += 1;
        }
    }
    u.len = w;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(base: u64, size: u64) -> MemRegion {
        MemRegion { base, size, kind: 1 }
    }
    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange::new(start, end)
    }

    #[test]
    fn qemu_map_minus_kernel_and_low_memory() {
        let map = [ram(0, 0x9fc00), MemRegion { base: 0xf0000, size: 0x10000, kind: 2 }, ram(0x100000, 0x1ff00000)];
        let reserved = [r(0, 0x100000), r(0x100000, 0x180000), r(0x800_0000, 0x800_3039)];
        let u = usable_ranges(&map, &reserved);
        assert_eq!(u.ranges(), &[r(0x180000, 0x800_0000), r(0x800_4000, 0x2000_0000)]);
        assert_eq!(u.dropped, 0);
    }

    #[test]
    fn partial_pages_are_never_used() {
        let u = usable_ranges(&[ram(0x1001, 0x3000)], &[]);
        assert_eq!(u.ranges(), &[r(0x2000, 0x4000)]);
        let u = usable_ranges(&[ram(0x1000, 0xfff)], &[]);
        assert!(u.ranges().is_empty());
        // A reserved range that covers one byte of a page takes the whole page.
        let u = usable_ranges(&[ram(0, 0x4000)], &[r(0x1fff, 0x2001)]);
        assert_eq!(u.ranges(), &[r(0, 0x1000), r(0x3000, 0x4000)]);
    }

    #[test]
    fn overlapping_and_unsorted_maps_merge() {
        let u = usable_ranges(&[ram(0x10000, 0x10000), ram(0, 0x18000), ram(0x40000, 0)], &[]);
        assert_eq!(u.ranges(), &[r(0, 0x20000)]);
    }

    #[test]
    fn regions_near_the_top_of_the_address_space_do_not_overflow() {
        let u = usable_ranges(&[ram(u64::MAX - 0x2fff, 0x10000)], &[r(u64::MAX - 10, u64::MAX)]);
        // Clipped at 2^64, rounded to pages, the last page reserved.
        assert_eq!(u.ranges(), &[r(u64::MAX - 0x2fff, u64::MAX - 0xfff)]);
        let u = usable_ranges(&[ram(u64::MAX, 5)], &[]);
        assert!(u.ranges().is_empty());
    }

    /// Property: for random maps and reservations, every output page is in some RAM entry,
    /// in no reserved range, and the output is sorted and disjoint; and every page that is
    /// RAM and unreserved is in the output.
    #[test]
    fn random_maps_satisfy_the_invariant() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let regions: Vec<MemRegion> = (0..next() % 6)
                .map(|_| MemRegion { base: next() % 0x40_000, size: next() % 0x20_000, kind: (next() % 3) as u32 })
                .collect();
            let reserved: Vec<PhysRange> = (0..next() % 5)
                .map(|_| {
                    let s = next() % 0x40_000;
                    r(s, s + next() % 0x10_000)
                })
                .collect();
            let u = usable_ranges(&regions, &reserved);
            for w in u.ranges().windows(2) {
                assert!(w[0].end < w[1].start, "sorted, disjoint, merged: {:?}", u.ranges());
            }
            for page in (0..0x60_000u64).step_by(PAGE as usize) {
                let is_ram = regions.iter().any(|m| m.is_ram() && m.base <= page && page + PAGE <= m.end());
                let is_reserved = reserved.iter().any(|x| x.start < page + PAGE && page < x.end);
                let out = u.ranges().iter().any(|x| x.start <= page && page + PAGE <= x.end);
                assert_eq!(out, is_ram && !is_reserved, "page {page:#x} regions {regions:?} reserved {reserved:?}");
            }
        }
    }
}
