//! The lower-half page tables of one address space (x86-64 four-level layout: a root of
//! 512 entries, then PDPTs, PDs and PTs): creating the tables a mapping needs, charging them
//! to the task, pinning those a pending receive window relies on, and freeing every table
//! as soon as it is left unused.
//!
//! Portable: table frames are reached through [`TableMemory`] (the direct map in the
//! kernel, heap-allocated fake frames in host tests), so the accounting is tested on the
//! host.
//!
//! Invariants:
//! - `held` counts the table frames below the root (PDPTs, PDs, PTs) and never exceeds
//!   `limit`: each is charged when created and uncharged when freed.
//! - Every table below the root has a *use count*, kept in bits 52..62 of the entry
//!   pointing to it (bits the MMU ignores): its non-zero entries, plus, for a PT, the
//!   pending receive windows that pinned it (each window pins each PT it needs once, so the
//!   count stays below 512 + the number of threads). A table whose count is zero has only
//!   zero entries. Only PTs are pinned: a pinned PT is never freed, so the entry pointing to
//!   it keeps its PD's count above zero, and that PD's entry keeps its PDPT's.
//! - Between operations no table has a zero count: the operation that made it unused freed
//!   it ([`PageTables::prune`]). Finding one is O(1), so freeing costs no scan.
//! - Only root entries 0..256 (the lower half) are ever read or written here.

use abi::Error;

mod runs;
pub use runs::Run;

/// A present entry.
pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
/// A large page (never made for user space; such an entry is not followed).
const HUGE: u64 = 1 << 7;
/// The physical-address bits of an entry (12..52).
pub const ADDR: u64 = 0x000f_ffff_ffff_f000;
const COUNT_SHIFT: u32 = 52;
const COUNT_MAX: u64 = 0x7ff;
const COUNT_MASK: u64 = COUNT_MAX << COUNT_SHIFT;
/// Flags of an entry pointing to a table: the leaf alone decides the permissions.
const PARENT: u64 = PRESENT | WRITABLE | USER;

const ENTRIES: usize = 512;
/// Address bits each level's index starts at: root, PDPT, PD, PT.
const SHIFT: [u32; 4] = [39, 30, 21, 12];
/// The lower half: what root entries 0..256 cover.
const LOWER_END: u64 = 1 << 47;
const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Where table frames come from and how their entries are reached.
pub trait TableMemory {
    /// A zeroed frame for a new table.
    fn alloc(&mut self) -> Option<u64>;
    /// Gives back a table frame that nothing points to any more.
    fn free(&mut self, table: u64);
    /// Entry `index` (< 512) of the table in frame `table`.
    fn read(&self, table: u64, index: usize) -> u64;
    fn write(&mut self, table: u64, index: usize, entry: u64);
    /// All entries of the table in frame `table`, for loops over many of them.
    fn entries(&self, table: u64) -> &[u64; ENTRIES];
    fn entries_mut(&mut self, table: u64) -> &mut [u64; ENTRIES];
    /// A table covering `va` was just unlinked: no cached walk through it may survive its
    /// frame's reuse.
    fn unlinked(&mut self, va: u64);
}

#[inline(always)]
fn index(va: u64, level: usize) -> usize {
    ((va >> SHIFT[level]) & 0x1ff) as usize
}

/// Bytes one entry of `level` covers.
const fn span(level: usize) -> u64 {
    1 << SHIFT[level]
}

/// The bases of the `level` entries `[va, va + len)` touches, i.e. of the distinct tables
/// of `level + 1` it needs.
fn blocks(va: u64, len: u64, level: usize) -> Blocks {
    let size = span(level);
    Blocks { next: va & !(size - 1), end: va.saturating_add(len), size }
}

struct Blocks {
    next: u64,
    end: u64,
    size: u64,
}

impl Iterator for Blocks {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        if self.next >= self.end {
            return None;
        }
        let b = self.next;
        self.next = b.saturating_add(self.size);
        Some(b)
    }
}

fn count(entry: u64) -> u64 {
    (entry & COUNT_MASK) >> COUNT_SHIFT
}

fn with_count(entry: u64, n: u64) -> u64 {
    (entry & !COUNT_MASK) | n << COUNT_SHIFT
}

/// An entry of some table: (table frame, index).
type Slot = (u64, usize);

/// Adds `delta` to the use count in entry `slot` (which points to a table): a run's
/// entries set or cleared at once. Clamped to the count's range (a debug build asserts).
fn add_count_by<M: TableMemory>(m: &mut M, slot: Slot, delta: i64) {
    if delta == 0 {
        return;
    }
    let e = m.read(slot.0, slot.1);
    let n = count(e) as i64 + delta;
    debug_assert!((0..=COUNT_MAX as i64).contains(&n), "table use count out of range");
    m.write(slot.0, slot.1, with_count(e, n.clamp(0, COUNT_MAX as i64) as u64));
}

pub struct PageTables {
    root: u64,
    held: u64,
    limit: u64,
}

impl PageTables {
    /// Tables under the (zeroed, or kernel-half only) root `root`; at most `limit` of them.
    pub const fn new(root: u64, limit: u64) -> Self {
        PageTables { root, held: 0, limit }
    }

    pub fn root(&self) -> u64 {
        self.root
    }

    /// Table frames held below the root.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The most table frames this space may hold.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The entries on the way to `va` down to `level` (0 = the root's), as far as tables
    /// exist: `path[l]` is the slot of `va` in its table of level `l`.
    fn path<M: TableMemory>(&self, m: &M, va: u64, level: usize) -> Option<[Slot; 4]> {
        if va >= LOWER_END {
            return None;
        }
        let mut path = [(0, 0); 4];
        let mut t = self.root;
        for (l, slot) in path.iter_mut().enumerate().take(level + 1) {
            *slot = (t, index(va, l));
            if l == level {
                break;
            }
            let e = m.read(t, index(va, l));
            if e & PRESENT == 0 || e & HUGE != 0 {
                return None;
            }
            t = e & ADDR;
        }
        Some(path)
    }

    /// The entries on the way to `va` (below `LOWER_END`) down to the PD's, as far as
    /// tables exist: the slots, and the deepest level filled in.
    fn existing_path<M: TableMemory>(&self, m: &M, va: u64) -> ([Slot; 4], usize) {
        let mut path = [(0, 0); 4];
        let mut t = self.root;
        for l in 0..3 {
            path[l] = (t, index(va, l));
            let e = m.read(t, index(va, l));
            if l == 2 || e & PRESENT == 0 || e & HUGE != 0 {
                return (path, l);
            }
            t = e & ADDR;
        }
        (path, 2)
    }

    /// Adds `delta` (+1 or -1) to the use count in entry `slot` (which points to a table).
    fn add_count<M: TableMemory>(m: &mut M, slot: Slot, delta: i64) {
        let e = m.read(slot.0, slot.1);
        let n = count(e);
        debug_assert!(if delta > 0 { n < COUNT_MAX } else { n > 0 }, "table use count out of range");
        let n = if delta > 0 { (n + 1).min(COUNT_MAX) } else { n.saturating_sub(1) };
        m.write(slot.0, slot.1, with_count(e, n));
    }

    /// The leaf entry of `va` (0: none).
    pub fn leaf<M: TableMemory>(&self, m: &M, va: u64) -> u64 {
        self.path(m, va, 3).map_or(0, |p| m.read(p[3].0, p[3].1))
    }

    /// Writes the leaf entry of `va` and returns the one it replaced. `None` (and nothing
    /// written) if its tables do not exist (see [`PageTables::prepare`]).
    pub fn set_leaf<M: TableMemory>(&mut self, m: &mut M, va: u64, entry: u64) -> Option<u64> {
        let p = self.path(m, va, 3)?;
        let old = m.read(p[3].0, p[3].1);
        m.write(p[3].0, p[3].1, entry);
        match (old != 0, entry != 0) {
            (false, true) => Self::add_count(m, p[2], 1),
            (true, false) => Self::add_count(m, p[2], -1),
            _ => {}
        }
        Some(old)
    }

    /// Clears the leaf entry of `va` and returns what it was (0: none). A table this
    /// leaves unused stays until [`PageTables::prune`], so that the caller can invalidate
    /// the TLB first.
    pub fn clear_leaf<M: TableMemory>(&mut self, m: &mut M, va: u64) -> u64 {
        self.set_leaf(m, va, 0).unwrap_or(0)
    }

    /// Creates every table a mapping of `pages` pages at `va` needs, charging each new one.
    /// All or nothing: on `OutOfMemory` (the limit, or no free frame) the tables this call
    /// made are freed again. `BadAddress` if the range leaves the lower half.
    pub fn prepare<M: TableMemory>(&mut self, m: &mut M, va: u64, pages: u64) -> Result<(), Error> {
        let len = pages.checked_mul(PAGE).ok_or(Error::BadAddress)?;
        if va.checked_add(len).is_none_or(|end| end > LOWER_END) {
            return Err(Error::BadAddress);
        }
        for block in blocks(va, len, 2) {
            if let Err(e) = self.make_path(m, block) {
                self.prune(m, va, pages);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Creates the missing tables on the way to `va`'s PT; returns the PD entry that points
    /// to the PT.
    fn make_path<M: TableMemory>(&mut self, m: &mut M, va: u64) -> Result<Slot, Error> {
        let mut t = self.root;
        let mut above: Option<Slot> = None; // the entry pointing to `t` (none for the root)
        for level in 0..3 {
            let i = index(va, level);
            let mut e = m.read(t, i);
            if e & PRESENT == 0 {
                if self.held >= self.limit {
                    return Err(Error::OutOfMemory);
                }
                let new = m.alloc().ok_or(Error::OutOfMemory)?;
                self.held += 1;
                e = new | PARENT;
                m.write(t, i, e);
                if let Some(slot) = above {
                    Self::add_count(m, slot, 1);
                }
            } else if e & HUGE != 0 {
                return Err(Error::WindowOccupied); // never made for user space
            }
            above = Some((t, i));
            t = e & ADDR;
        }
        // The loop ran three times: `above` is the PD's entry.
        Ok(above.unwrap_or((t, 0)))
    }

    /// Frees every table covering part of `[va, va + pages)` whose use count is zero,
    /// bottom-up, so a PD left unused by freeing its last PT goes too. One walk per 2 MiB
    /// block: a PD is looked at after the range's last PT under it, a PDPT after its last PD.
    pub fn prune<M: TableMemory>(&mut self, m: &mut M, va: u64, pages: u64) {
        self.prune_unpinning(m, va, pages, false);
    }

    /// [`PageTables::prune`], taking one pin off each PT first if `unpin` (see
    /// [`PageTables::unpin`]): one walk per 2 MiB block for both.
    #[inline(always)]
    fn prune_unpinning<M: TableMemory>(&mut self, m: &mut M, va: u64, pages: u64, unpin: bool) {
        let len = pages.saturating_mul(PAGE);
        if len == 0 || va >= LOWER_END {
            return;
        }
        let last = (va.saturating_add(len) - 1) & !(span(2) - 1);
        for b in blocks(va, len, 2) {
            let next = b + span(2);
            let (pd_done, pdpt_done) =
                (b == last || next.is_multiple_of(span(1)), b == last || next.is_multiple_of(span(0)));
            let (p, depth) = self.existing_path(m, b);
            if depth == 2 {
                let e = m.read(p[2].0, p[2].1);
                let mut n = count(e);
                if unpin && e & PRESENT != 0 && e & HUGE == 0 {
                    Self::add_count(m, p[2], -1);
                    n = n.saturating_sub(1);
                }
                if n != 0 {
                    continue; // the PT is in use, so are the tables above it
                }
            }
            for level in (0..=depth).rev() {
                if level == 1 && !pd_done || level == 0 && !pdpt_done {
                    continue;
                }
                self.free_if_unused(m, &p, level, b);
            }
        }
    }

    /// Frees the table the entry at `p[level]` points to, if its count is zero.
    fn free_if_unused<M: TableMemory>(&mut self, m: &mut M, p: &[Slot; 4], level: usize, va: u64) {
        let (t, i) = p[level];
        let e = m.read(t, i);
        if e & PRESENT == 0 || e & HUGE != 0 || count(e) != 0 {
            return;
        }
        m.write(t, i, 0);
        if level > 0 {
            Self::add_count(m, p[level - 1], -1);
        }
        m.unlinked(va);
        m.free(e & ADDR);
        self.held -= 1;
    }

    /// Creates the tables a receive window of `pages` pages at `va` needs, and pins its PTs
    /// so that no unmap frees them (or the tables above them) while the window is pending.
    /// All or nothing.
    /// One walk per 2 MiB block: each PT is pinned on the way that makes it.
    pub fn pin<M: TableMemory>(&mut self, m: &mut M, va: u64, pages: u64) -> Result<(), Error> {
        let len = pages.checked_mul(PAGE).ok_or(Error::BadAddress)?;
        if va.checked_add(len).is_none_or(|end| end > LOWER_END) {
            return Err(Error::BadAddress);
        }
        let mut done = 0;
        for block in blocks(va, len, 2) {
            let failed = match self.make_path(m, block) {
                // A count is full (more windows than there can be threads).
                Ok(pt) if count(m.read(pt.0, pt.1)) == COUNT_MAX => Error::OutOfMemory,
                Ok(pt) => {
                    Self::add_count(m, pt, 1);
                    done += 1;
                    continue;
                }
                Err(e) => e,
            };
            // Undo: the pins taken, then every table this call made.
            self.add_pins(m, va, len, -1, done);
            self.prune(m, va, pages);
            return Err(failed);
        }
        Ok(())
    }

    /// Undoes [`PageTables::pin`] of the same range, freeing the tables left unused, in one
    /// walk per 2 MiB block.
    pub fn unpin<M: TableMemory>(&mut self, m: &mut M, va: u64, pages: u64) {
        self.prune_unpinning(m, va, pages, true);
    }

    /// Adds `delta` to the counts of the first `max` PTs `[va, va + len)` needs (one per
    /// 2 MiB block, in address order). Returns how many it changed, and false if it stopped
    /// at a full count.
    fn add_pins<M: TableMemory>(&mut self, m: &mut M, va: u64, len: u64, delta: i64, max: usize) -> (usize, bool) {
        let mut done = 0;
        for b in blocks(va, len, 2) {
            if done == max {
                break;
            }
            let Some(p) = self.path(m, b, 2) else { continue };
            let e = m.read(p[2].0, p[2].1);
            if e & PRESENT == 0 {
                continue;
            }
            if delta > 0 && count(e) == COUNT_MAX {
                return (done, false);
            }
            Self::add_count(m, p[2], delta);
            done += 1;
        }
        (done, true)
    }

    /// Frees every table below the root, calling `leaf` with each present leaf entry first.
    /// The root itself is the caller's.
    pub fn destroy<M: TableMemory>(&mut self, m: &mut M, mut leaf: impl FnMut(u64)) {
        self.free_below(m, self.root, 0, &mut leaf);
    }

    fn free_below<M: TableMemory>(&mut self, m: &mut M, table: u64, level: usize, leaf: &mut impl FnMut(u64)) {
        let n = if level == 0 { ENTRIES / 2 } else { ENTRIES };
        for i in 0..n {
            let e = m.read(table, i);
            if e & PRESENT == 0 {
                continue;
            }
            if level == 3 {
                leaf(e);
            } else if e & HUGE == 0 {
                self.free_below(m, e & ADDR, level + 1, leaf);
                m.free(e & ADDR);
                self.held -= 1;
            }
            m.write(table, i, 0);
        }
    }

    /// Sets the limit (tests that need a small one).
    #[cfg(test)]
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }
}

/// Table frames on the host heap, for tests.
#[cfg(test)]
pub mod fake {
    use super::{TableMemory, ENTRIES};
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct FakeTables {
        tables: BTreeMap<u64, Box<[u64; ENTRIES]>>,
        next: u64,
        /// Allocations left before `alloc` fails (None: no limit).
        pub fail_after: Option<u64>,
        /// Addresses passed to `unlinked`.
        pub unlinked: Vec<u64>,
    }

    impl FakeTables {
        /// Live table frames (the root included).
        pub fn live(&self) -> usize {
            self.tables.len()
        }
        /// A fresh root.
        pub fn root(&mut self) -> u64 {
            self.alloc().expect("a root")
        }
    }

    impl TableMemory for FakeTables {
        fn alloc(&mut self) -> Option<u64> {
            if let Some(n) = self.fail_after.as_mut() {
                if *n == 0 {
                    return None;
                }
                *n -= 1;
            }
            self.next += 1;
            let addr = 0x10_0000 + self.next * 0x1000;
            self.tables.insert(addr, Box::new([0; ENTRIES]));
            Some(addr)
        }
        fn free(&mut self, table: u64) {
            let t = self.tables.remove(&table).expect("freeing a live table");
            assert!(t.iter().all(|&e| e == 0), "freeing a table that still has entries");
        }
        fn read(&self, table: u64, index: usize) -> u64 {
            self.tables[&table][index]
        }
        fn write(&mut self, table: u64, index: usize, entry: u64) {
            self.tables.get_mut(&table).expect("a live table")[index] = entry;
        }
        fn entries(&self, table: u64) -> &[u64; ENTRIES] {
            &self.tables[&table]
        }
        fn entries_mut(&mut self, table: u64) -> &mut [u64; ENTRIES] {
            self.tables.get_mut(&table).expect("a live table")
        }
        fn unlinked(&mut self, va: u64) {
            self.unlinked.push(va);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeTables;
    use super::*;

    const GIB: u64 = 1 << 30;
    const BASE: u64 = 0x80_0000_0000; // root entry 1

    fn space(limit: u64) -> (FakeTables, PageTables) {
        let mut m = FakeTables::default();
        let root = m.root();
        (m, PageTables::new(root, limit))
    }

    /// Maps `pages` pages at `va` as `new_pages` does (tables, then leaves).
    fn map(m: &mut FakeTables, t: &mut PageTables, va: u64, pages: u64) -> Result<(), Error> {
        t.prepare(m, va, pages)?;
        for i in 0..pages {
            assert_eq!(t.set_leaf(m, va + i * PAGE, 0x5000 | PRESENT | USER), Some(0));
        }
        Ok(())
    }

    fn unmap(m: &mut FakeTables, t: &mut PageTables, va: u64, pages: u64) {
        for i in 0..pages {
            t.clear_leaf(m, va + i * PAGE);
        }
        t.prune(m, va, pages);
    }

    #[test]
    fn tables_are_charged_and_freed_when_empty() {
        let (mut m, mut t) = space(100);
        map(&mut m, &mut t, BASE, 1).unwrap();
        assert_eq!(t.held(), 3, "a PDPT, a PD and a PT");
        assert_eq!(m.live(), 4, "and the root");
        map(&mut m, &mut t, BASE + PAGE, 1).unwrap();
        assert_eq!(t.held(), 3, "the same tables serve a neighbour");
        unmap(&mut m, &mut t, BASE, 1);
        assert_eq!(t.held(), 3, "still in use by the neighbour");
        unmap(&mut m, &mut t, BASE + PAGE, 1);
        assert_eq!((t.held(), m.live()), (0, 1), "all freed, bottom-up");
        assert_eq!(m.unlinked.len(), 3, "each unlink reported for the TLB");
    }

    #[test]
    fn gigabyte_apart_cycles_hold_nothing_afterwards() {
        let (mut m, mut t) = space(abi::limits::KERNEL_FRAMES as u64);
        for i in 0..10_000 {
            let va = BASE + i * GIB;
            map(&mut m, &mut t, va, 1).unwrap();
            unmap(&mut m, &mut t, va, 1);
            assert_eq!(t.held(), 0, "cycle {i}");
        }
        assert_eq!(m.live(), 1);
    }

    #[test]
    fn the_limit_is_out_of_memory_and_leaves_nothing() {
        let (mut m, mut t) = space(2);
        assert_eq!(map(&mut m, &mut t, BASE, 1), Err(Error::OutOfMemory), "needs 3 tables");
        assert_eq!((t.held(), m.live()), (0, 1), "the two made were freed again");
        t.set_limit(3);
        map(&mut m, &mut t, BASE, 1).unwrap();
        assert_eq!(map(&mut m, &mut t, BASE + 2 * (1 << 21), 1), Err(Error::OutOfMemory), "a 4th table");
        assert_eq!(t.held(), 3);
        assert_eq!(t.leaf(&m, BASE) & PRESENT, PRESENT, "the earlier mapping is untouched");
    }

    #[test]
    fn a_failure_half_way_through_a_large_range_frees_what_it_made() {
        let (mut m, mut t) = space(1000);
        map(&mut m, &mut t, BASE, 1).unwrap();
        // 40 MiB across a 1 GiB boundary: a second PD and 20 PTs, with frames for only 10.
        m.fail_after = Some(10);
        let va = BASE + GIB - 8 * (1 << 21);
        assert_eq!(t.prepare(&mut m, va, 40 * 256), Err(Error::OutOfMemory));
        assert_eq!((t.held(), m.live()), (3, 4), "only the first mapping's tables remain");
        m.fail_after = None;
        t.prepare(&mut m, va, 40 * 256).unwrap();
        assert_eq!(t.held(), 3 + 1 + 20);
        t.prune(&mut m, va, 40 * 256);
        assert_eq!(t.held(), 3, "empty again, so freed");
    }

    #[test]
    fn pinned_tables_survive_until_unpinned() {
        let (mut m, mut t) = space(100);
        t.pin(&mut m, BASE, 4).unwrap();
        assert_eq!(t.held(), 3);
        t.prune(&mut m, BASE, 4);
        assert_eq!(t.held(), 3, "empty but pinned");
        // A neighbour's mapping and removal must not free the window's tables.
        map(&mut m, &mut t, BASE + 8 * PAGE, 1).unwrap();
        unmap(&mut m, &mut t, BASE + 8 * PAGE, 1);
        assert_eq!(t.held(), 3);
        // A second window over the same tables: both must go before the tables do.
        t.pin(&mut m, BASE + 2 * PAGE, 4).unwrap();
        t.unpin(&mut m, BASE, 4);
        assert_eq!(t.held(), 3, "still pinned by the second window");
        t.unpin(&mut m, BASE + 2 * PAGE, 4);
        assert_eq!((t.held(), m.live()), (0, 1));
    }

    #[test]
    fn a_window_pins_each_table_once() {
        let (mut m, mut t) = space(100);
        // 64 MiB: 32 PTs under one PD, each pinned once; the PD is held by its PTs alone.
        t.pin(&mut m, BASE, 64 * 256).unwrap();
        let pd = m.read(m.read(t.root(), 1) & ADDR, 0) & ADDR;
        assert_eq!(count(m.read(m.read(t.root(), 1) & ADDR, 0)), 32, "the PD counts its 32 PTs");
        assert!((0..32).all(|i| count(m.read(pd, i)) == 1), "each PT: no entries, one pin");
        // A page received into part of the window keeps its tables after the unpin.
        assert_eq!(t.set_leaf(&mut m, BASE + 5 * (1 << 21), 0x7000 | PRESENT), Some(0));
        t.unpin(&mut m, BASE, 64 * 256);
        assert_eq!(t.held(), 3, "the PDPT, PD and PT of the received page");
    }

    #[test]
    fn a_window_over_the_limit_is_refused_whole() {
        let (mut m, mut t) = space(10);
        assert_eq!(t.pin(&mut m, BASE, 64 * 256), Err(Error::OutOfMemory));
        assert_eq!((t.held(), m.live()), (0, 1));
    }

    #[test]
    fn a_pin_past_a_full_count_is_refused_and_undone() {
        let (mut m, mut t) = space(1000);
        // A PT with 100 pages, then pins until its count is full.
        map(&mut m, &mut t, BASE + (1 << 21), 100).unwrap();
        for _ in 0..COUNT_MAX - 100 {
            t.pin(&mut m, BASE + (1 << 21), 1).unwrap();
        }
        // A window over the PT before it (fresh) and the full one: refused, and the fresh
        // PT's pin undone and the PT freed.
        assert_eq!(t.pin(&mut m, BASE + (1 << 21) - PAGE, 2), Err(Error::OutOfMemory));
        let pd = m.read(m.read(t.root(), 1) & ADDR, 0) & ADDR;
        assert_eq!(m.read(pd, 0), 0, "the fresh PT is gone again");
        assert_eq!(count(m.read(pd, 1)), COUNT_MAX, "the full PT is untouched");
        assert_eq!(t.held(), 3);
    }

    #[test]
    fn ranges_outside_the_lower_half_are_refused() {
        let (mut m, mut t) = space(100);
        assert_eq!(t.prepare(&mut m, LOWER_END - PAGE, 2), Err(Error::BadAddress));
        assert_eq!(t.prepare(&mut m, u64::MAX - PAGE, 1), Err(Error::BadAddress));
        assert_eq!(t.held(), 0);
        assert_eq!(t.set_leaf(&mut m, LOWER_END, PRESENT), None, "no tables there");
    }

    /// The tables that mapped pages and pinned windows need: exactly those must exist.
    fn needed(pages: &std::collections::BTreeSet<u64>, windows: &[(u64, u64)]) -> u64 {
        let mut need = std::collections::BTreeSet::new();
        let ranges = pages.iter().map(|&p| (p, 1)).chain(windows.iter().copied());
        for (va, n) in ranges {
            for level in 0..3 {
                for b in blocks(va, n * PAGE, level) {
                    need.insert((level, b));
                }
            }
        }
        need.len() as u64
    }

    #[test]
    fn random_maps_unmaps_and_windows_hold_exactly_the_tables_needed() {
        let mut seed = 11u64;
        let mut rnd = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        // Addresses in 2 slots x 2 GiB x 2 blocks x 4 pages, so tables are often shared.
        let addr = |r: &mut dyn FnMut(u64) -> u64| BASE * (1 + r(2)) + GIB * r(2) + (1 << 21) * r(2) + PAGE * r(4);
        let (mut m, mut t) = space(1000);
        let mut pages = std::collections::BTreeSet::new();
        let mut windows: Vec<(u64, u64)> = Vec::new();
        for step in 0..20_000 {
            match rnd(5) {
                0 | 1 => {
                    let va = addr(&mut rnd);
                    if pages.insert(va) {
                        map(&mut m, &mut t, va, 1).unwrap();
                    }
                }
                2 => {
                    let va = addr(&mut rnd);
                    if pages.remove(&va) {
                        unmap(&mut m, &mut t, va, 1);
                    }
                }
                3 => {
                    let w = (addr(&mut rnd), 1 + rnd(600));
                    t.pin(&mut m, w.0, w.1).unwrap();
                    windows.push(w);
                }
                _ => {
                    if !windows.is_empty() {
                        let w = windows.swap_remove(rnd(windows.len() as u64) as usize);
                        t.unpin(&mut m, w.0, w.1);
                    }
                }
            }
            assert_eq!(t.held(), needed(&pages, &windows), "step {step}");
            assert_eq!(m.live() as u64, t.held() + 1, "step {step}: frames match the count");
        }
    }

    #[test]
    fn destroy_frees_every_table_and_reports_every_leaf() {
        let (mut m, mut t) = space(100);
        map(&mut m, &mut t, BASE, 3).unwrap();
        map(&mut m, &mut t, 5 * BASE + 7 * GIB, 2).unwrap();
        t.pin(&mut m, 9 * BASE, 1).unwrap();
        let mut leaves = 0;
        t.destroy(&mut m, |e| {
            assert_eq!(e & PRESENT, PRESENT);
            leaves += 1;
        });
        assert_eq!(leaves, 5);
        assert_eq!((t.held(), m.live()), (0, 1), "only the root, which is the caller's");
    }
}
