//! Ranges of leaf entries a page-table page at a time, for what touches many pages at once
//! (long messages, unmapping a region): one walk to the PT per 2 MiB, then the raw entries
//! of that PT in a plain loop.
//!
//! A *run* is the part of a range that one PT covers: from an address to the end of its
//! PT or of the range, whichever comes first. The use counts of `super` are kept exactly:
//! a PT's count changes by the number of its entries that became non-zero or zero.
//! Nothing here frees a table or touches the TLB: the caller invalidates what it must,
//! then calls [`PageTables::prune`].

use super::{
    add_count_by, index, PageTables, Slot, TableMemory, ADDR, ENTRIES, HUGE, LOWER_END, PAGE, PRESENT, WRITABLE,
};

/// What a transferred leaf keeps of the sender's entry: its frame and whether it is
/// writable (never the accessed and dirty bits, nor anything else the sender's side set).
const KEEP: u64 = ADDR | WRITABLE;

/// The PT covering an address, as a run sees it: the PT's frame, the entry of the address
/// in it, and the PD entry pointing to the PT (which holds its use count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub pt: u64,
    pub first: usize,
    above: Slot,
}

impl Run {
    /// The entries of the run's `len` pages in its PT (`len` as [`PageTables::run_at`]
    /// gave it, so they lie within the PT).
    fn of<'m, M: TableMemory>(&self, m: &'m M, len: u64) -> &'m [u64] {
        let all = m.entries(self.pt);
        &all[self.first.min(ENTRIES)..(self.first + len as usize).min(ENTRIES)]
    }

    fn of_mut<'m, M: TableMemory>(&self, m: &'m mut M, len: u64) -> &'m mut [u64] {
        let all = m.entries_mut(self.pt);
        &mut all[self.first.min(ENTRIES)..(self.first + len as usize).min(ENTRIES)]
    }
}

impl PageTables {
    /// The run at `va` of a range with `pages` pages left: its PT if one exists, and how
    /// many pages it covers (to the end of the PT or of the range; pages without a PT are
    /// covered the same way, up to the next PT boundary).
    #[inline]
    pub fn run_at<M: TableMemory>(&self, m: &M, va: u64, pages: u64) -> (Option<Run>, u64) {
        let first = index(va, 3);
        let len = pages.min((ENTRIES - first) as u64);
        if va >= LOWER_END {
            return (None, len);
        }
        // The root's entry, the PDPT's, the PD's: three reads, nothing kept but the last.
        let table = |e: u64| (e & (PRESENT | HUGE) == PRESENT).then_some(e & ADDR);
        let Some(pdpt) = table(m.read(self.root, index(va, 0))) else { return (None, len) };
        let Some(pd) = table(m.read(pdpt, index(va, 1))) else { return (None, len) };
        let i = index(va, 2);
        let Some(pt) = table(m.read(pd, i)) else { return (None, len) };
        (Some(Run { pt, first, above: (pd, i) }), len)
    }

    /// Calls `f` with each run of `[va, va + pages)`: its address, its PT (`None` where
    /// there is none), and its length in pages; stops at the first error.
    #[inline(always)]
    pub fn for_each_run<M: TableMemory, E>(
        &self,
        m: &M,
        va: u64,
        pages: u64,
        mut f: impl FnMut(u64, Option<Run>, u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut done = 0;
        while done < pages {
            let at = va + done * PAGE;
            let (run, len) = self.run_at(m, at, pages - done);
            f(at, run, len)?;
            done += len;
        }
        Ok(())
    }

    /// Whether no page of `[va, va + pages)` is mapped.
    pub fn is_unmapped<M: TableMemory>(&self, m: &M, va: u64, pages: u64) -> bool {
        self.for_each_run(m, va, pages, |_, run, len| match run {
            Some(r) if r.of(m, len).iter().any(|&e| e & PRESENT != 0) => Err(()),
            _ => Ok(()),
        })
        .is_ok()
    }

    /// Whether every page of `[va, va + pages)` has a leaf with every bit of `need` set.
    /// The entries of a run are folded together, with no test per page: a caller that
    /// must say which page failed looks again ([`PageTables::for_each_leaf`]).
    pub fn all_leaves_have<M: TableMemory>(&self, m: &M, va: u64, pages: u64, need: u64) -> bool {
        self.for_each_run(m, va, pages, |_, run, len| {
            let all = run.ok_or(())?.of(m, len).iter().fold(need, |all, &e| all & e);
            if all == need {
                Ok(())
            } else {
                Err(())
            }
        })
        .is_ok()
    }

    /// Calls `f` with the leaf entry of every page of `[va, va + pages)`, in order; a page
    /// whose PT does not exist is `Err(absent)`. Stops at the first error.
    pub fn for_each_leaf<M: TableMemory, E: Copy>(
        &self,
        m: &M,
        va: u64,
        pages: u64,
        absent: E,
        mut f: impl FnMut(u64) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_run(m, va, pages, |_, run, len| run.ok_or(absent)?.of(m, len).iter().try_for_each(|&e| f(e)))
    }

    /// Clears every leaf of `[va, va + pages)`, calling `f` with each present entry it
    /// cleared. Tables left unused stay until [`PageTables::prune`], so that the caller
    /// can invalidate the TLB first.
    pub fn clear_leaves<M: TableMemory>(&mut self, m: &mut M, va: u64, pages: u64, mut f: impl FnMut(u64)) {
        let mut done = 0;
        while done < pages {
            let (run, len) = self.run_at(m, va + done * PAGE, pages - done);
            if let Some(r) = run {
                let cleared = clear_run(r.of_mut(m, len), &mut f);
                add_count_by(m, r.above, -cleared);
            }
            done += len;
        }
    }

    /// Copies the frames of `pages` mapped pages at `src_va` of `src` into `dst` at
    /// `dst_va`, each as its frame and writable bit plus `flags`, calling `each` with every
    /// entry copied; for a move, also clears them in `src`. The
    /// destination's tables exist (prepared or pinned) and its entries there are zero;
    /// the source's pages are all mapped: both checked by the caller in the same kernel
    /// entry. Map counts are the caller's; the source's TLB too (a move), after this.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer<M: TableMemory, N: TableMemory>(
        src: &mut PageTables,
        sm: &mut M,
        src_va: u64,
        dst: &mut PageTables,
        dm: &mut N,
        dst_va: u64,
        pages: u64,
        flags: u64,
        moving: bool,
        mut each: impl FnMut(u64),
    ) {
        let mut done = 0;
        while done < pages {
            let (s, d) = (src_va + done * PAGE, dst_va + done * PAGE);
            let (sr, slen) = src.run_at(sm, s, pages - done);
            let (dr, dlen) = dst.run_at(dm, d, pages - done);
            let len = slen.min(dlen);
            // Invariant (the caller's checks): both tables exist, every source entry is
            // present and every destination entry zero. Were a table missing, the run is
            // skipped; were a source entry empty, its destination stays empty (never a
            // mapping of frame 0); the counts stay exact either way.
            if let (Some(sr), Some(dr)) = (sr, dr) {
                let (from, to) = (sr.of_mut(sm, len), dr.of_mut(dm, len));
                debug_assert!(from.iter().all(|&e| e & PRESENT != 0), "a transfer of an unmapped page");
                debug_assert!(to.iter().all(|&e| e == 0), "a transfer over a mapped page");
                let n =
                    if moving { move_run(from, to, flags, &mut each) } else { share_run(from, to, flags, &mut each) };
                add_count_by(dm, dr.above, n as i64);
                if moving {
                    add_count_by(sm, sr.above, -(n as i64));
                }
            }
            done += len;
        }
    }

    /// [`PageTables::transfer`] within one space (between threads of one task), a page
    /// at a time: source and destination may share a PT.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer_within<M: TableMemory>(
        &mut self,
        m: &mut M,
        src_va: u64,
        dst_va: u64,
        pages: u64,
        flags: u64,
        moving: bool,
        mut each: impl FnMut(u64),
    ) {
        for i in 0..pages {
            let (s, d) = (src_va + i * PAGE, dst_va + i * PAGE);
            let e = self.leaf(m, s);
            if e & PRESENT == 0 || self.leaf(m, d) != 0 {
                debug_assert!(false, "a transfer of an unmapped page or over a mapped one");
                continue;
            }
            self.set_leaf(m, d, (e & KEEP) | flags);
            each(e);
            if moving {
                self.clear_leaf(m, s);
            }
        }
    }
}

// The loops over one run's entries. A transfer's are functions of their own (called once
// per 2 MiB): inlined into `transfer_from`, whose three kinds of transfer share one body,
// the registers they need went to the code around them, and the loops rematerialised their
// constants, or spilled, differently from one build to the next (a share's loop took 20
// instructions a page there, 15 here plus its count). A clear's loop is as short inlined.
// Each tests one thing per page, and leaves for a `_rest` function on the rare entry.

/// A move's run: each source entry copied to the destination (its frame and writable bit,
/// plus `flags`) and cleared; returns how many were present. Without a branch per page.
#[inline(never)]
fn move_run(from: &mut [u64], to: &mut [u64], flags: u64, each: &mut impl FnMut(u64)) -> u64 {
    let mut n = 0;
    for (e, d) in from.iter_mut().zip(to.iter_mut()) {
        let v = *e;
        let present = v & PRESENT;
        *d = (v & KEEP) | (flags & present.wrapping_neg());
        if present != 0 {
            each(v);
        }
        *e = 0;
        n += present;
    }
    n
}

/// A share's run: each source entry copied to the destination and given to `each` (which
/// counts its frame). One test per page, whose failure (an empty entry: never, the caller
/// checked) leaves the loop for [`share_rest`]. Returns how many were copied.
#[inline(never)]
fn share_run(from: &[u64], to: &mut [u64], flags: u64, each: &mut impl FnMut(u64)) -> u64 {
    let len = from.len().min(to.len());
    let (from, to) = (&from[..len], &mut to[..len]);
    for i in 0..len {
        let v = from[i];
        if v & PRESENT == 0 {
            return i as u64 + share_rest(&from[i..], &mut to[i..], flags, each);
        }
        to[i] = (v & KEEP) | flags;
        each(v);
    }
    len as u64
}

/// The rest of a run [`share_run`] found an empty entry in: an empty entry leaves its
/// destination empty (never a mapping of frame 0), the others are copied.
#[cold]
#[inline(never)]
fn share_rest(from: &[u64], to: &mut [u64], flags: u64, each: &mut impl FnMut(u64)) -> u64 {
    let mut n = 0;
    for (&v, d) in from.iter().zip(to.iter_mut()) {
        if v & PRESENT != 0 {
            *d = (v & KEEP) | flags;
            each(v);
            n += 1;
        }
    }
    n
}

/// Clears a run's entries, giving each present one to `f`; returns how many were non-zero.
/// One test per page, whose failure (an empty entry) leaves the loop for [`clear_rest`].
#[inline(always)]
fn clear_run(entries: &mut [u64], f: &mut impl FnMut(u64)) -> i64 {
    for i in 0..entries.len() {
        let v = entries[i]; // read once, kept in a register across `f`
        if v & PRESENT == 0 {
            return i as i64 + clear_rest(&mut entries[i..], f);
        }
        f(v);
        entries[i] = 0;
    }
    entries.len() as i64
}

/// The rest of a run [`clear_run`] found a non-present entry in: a non-zero one that is
/// not present (none is made) is cleared and counted all the same.
#[cold]
#[inline(never)]
fn clear_rest(entries: &mut [u64], f: &mut impl FnMut(u64)) -> i64 {
    let mut n = 0;
    for e in entries.iter_mut() {
        let v = *e;
        if v & PRESENT != 0 {
            f(v);
        }
        if v != 0 {
            *e = 0;
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeTables;
    use super::super::{count, USER};
    use super::*;

    const BASE: u64 = 0x80_0000_0000;
    const BLOCK: u64 = 1 << 21;

    fn space() -> (FakeTables, PageTables) {
        let mut m = FakeTables::default();
        let root = m.root();
        (m, PageTables::new(root, 1000))
    }

    fn map(m: &mut FakeTables, t: &mut PageTables, va: u64, pages: u64, frame0: u64) {
        t.prepare(m, va, pages).unwrap();
        for i in 0..pages {
            t.set_leaf(m, va + i * PAGE, (frame0 + i) << 12 | PRESENT | USER | WRITABLE);
        }
    }

    /// The use count of the PT covering `va`.
    fn pt_count(m: &FakeTables, t: &PageTables, va: u64) -> u64 {
        let p = t.path(m, va, 2).unwrap();
        count(m.read(p[2].0, p[2].1))
    }

    #[test]
    fn runs_end_at_table_boundaries_and_report_missing_tables() {
        let (mut m, mut t) = space();
        // 10 pages ending 3 pages into the next PT, then a PT that does not exist.
        let va = BASE + BLOCK - 7 * PAGE;
        map(&mut m, &mut t, va, 10, 1);
        let mut seen = vec![];
        t.for_each_run::<_, ()>(&m, va, 10 + 512 + 2, |at, run, len| {
            seen.push((at, run.is_some(), len));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(va, true, 7), (BASE + BLOCK, true, 512), (BASE + 2 * BLOCK, false, 5)]);
    }

    #[test]
    fn leaves_and_unmapped_ranges() {
        let (mut m, mut t) = space();
        let va = BASE + BLOCK - 2 * PAGE;
        assert!(t.is_unmapped(&m, va, 4), "no tables at all");
        map(&mut m, &mut t, va + 3 * PAGE, 1, 9);
        assert!(t.is_unmapped(&m, va, 3));
        assert!(!t.is_unmapped(&m, va, 4), "the page in the second PT");
        let mut frames = vec![];
        let found = t.for_each_leaf(&m, va + 3 * PAGE, 1, 'x', |e| {
            frames.push(e >> 12);
            Ok(())
        });
        assert_eq!(found, Ok(()));
        assert_eq!(frames, [9]);
        assert_eq!(t.for_each_leaf(&m, BASE + 7 * BLOCK, 1, 'x', |_| Ok(())), Err('x'), "no PT");
        assert_eq!(t.for_each_leaf(&m, va, 4, 'x', |_| Ok(())), Err('x'), "the first PT does not exist");
        let zero = |e: u64| if e == 0 { Err('0') } else { Ok(()) };
        assert_eq!(t.for_each_leaf(&m, va + 2 * PAGE, 2, 'x', zero), Err('0'), "an empty entry of a PT");
    }

    /// Moves and shares across spaces give what page-by-page `set_leaf` would: the same
    /// entries, the same use counts, every table freed once emptied.
    #[test]
    fn transfers_match_page_by_page_mapping() {
        let flags = PRESENT | USER | WRITABLE;
        for (src_off, dst_off, pages) in [(0, 0, 1), (5, 500, 40), (511, 3, 600), (100, 100, 1024)] {
            for moving in [false, true] {
                let (mut sm, mut s) = space();
                let (mut dm, mut d) = space();
                let (sva, dva) = (BASE + src_off * PAGE, BASE + 3 * BLOCK + dst_off * PAGE);
                map(&mut sm, &mut s, sva, pages, 100);
                d.pin(&mut dm, dva, pages).unwrap();
                let mut seen = 0;
                PageTables::transfer(&mut s, &mut sm, sva, &mut d, &mut dm, dva, pages, flags, moving, |_| seen += 1);
                assert_eq!(seen, pages, "every entry reported once");
                for i in 0..pages {
                    assert_eq!(d.leaf(&dm, dva + i * PAGE), (100 + i) << 12 | flags, "{pages} pages, page {i}");
                    let left = s.leaf(&sm, sva + i * PAGE);
                    assert_eq!(left != 0, !moving, "{pages} pages, page {i}");
                }
                // Counts: each PT counts its entries (the window's PTs also one pin each).
                let mut b = dva & !(BLOCK - 1);
                while b < dva + pages * PAGE {
                    let entries = (0..512).filter(|&i| d.leaf(&dm, b + i * PAGE) != 0).count() as u64;
                    assert_eq!(pt_count(&dm, &d, b), entries + 1);
                    b += BLOCK;
                }
                d.unpin(&mut dm, dva, pages);
                if moving {
                    s.prune(&mut sm, sva, pages);
                    assert_eq!((s.held(), sm.live()), (0, 1), "the emptied source tables are freed");
                }
                d.clear_leaves(&mut dm, dva, pages, |_| {});
                d.prune(&mut dm, dva, pages);
                assert_eq!((d.held(), dm.live()), (0, 1), "and the destination's, once cleared");
            }
        }
    }

    #[test]
    fn all_leaves_have_every_bit_asked_for() {
        let (mut m, mut t) = space();
        let need = PRESENT | USER | WRITABLE;
        // 600 pages across two PTs, every one user and writable.
        let va = BASE + BLOCK - 100 * PAGE;
        map(&mut m, &mut t, va, 600, 1);
        assert!(t.all_leaves_have(&m, va, 600, need));
        assert!(t.all_leaves_have(&m, va + 3 * PAGE, 1, need));
        // One page read-only, in the second PT: the ranges holding it fail, the others not.
        let ro = va + 400 * PAGE;
        t.set_leaf(&mut m, ro, 401 << 12 | PRESENT | USER);
        assert!(!t.all_leaves_have(&m, va, 600, need));
        assert!(!t.all_leaves_have(&m, ro, 1, need));
        assert!(t.all_leaves_have(&m, va, 400, need));
        assert!(t.all_leaves_have(&m, ro, 1, PRESENT | USER), "what it has");
        // A page cleared, a page past the end (no entry), a range reaching a missing PT.
        t.clear_leaf(&mut m, va + 7 * PAGE);
        assert!(!t.all_leaves_have(&m, va, 100, need));
        assert!(!t.all_leaves_have(&m, va + 599 * PAGE, 2, need), "past the last page");
        assert!(!t.all_leaves_have(&m, BASE + 5 * BLOCK, 1, PRESENT), "no PT there");
    }

    /// A share's run that finds an empty source entry (the caller's checks rule it out)
    /// leaves that destination empty, copies the rest and counts only what it wrote; a
    /// clear's run that finds one clears and reports the rest.
    #[test]
    fn runs_with_an_empty_entry_leave_it_empty_and_count_exactly() {
        let flags = PRESENT | USER;
        let mut from: Vec<u64> = (1..=8).map(|f| f << 12 | PRESENT | WRITABLE).collect();
        from[3] = 0;
        let mut to = vec![0; 8];
        let mut seen = vec![];
        assert_eq!(share_run(&from, &mut to, flags, &mut |e| seen.push(e >> 12)), 7);
        assert_eq!(seen, [1, 2, 3, 5, 6, 7, 8]);
        assert_eq!(to[3], 0, "never a mapping of frame 0");
        assert_eq!(to[4], 5 << 12 | WRITABLE | flags);
        // An entry that is not present but not zero (none is made): cleared and counted.
        let mut run = from.clone();
        run[5] = 6 << 12;
        let mut cleared = vec![];
        assert_eq!(clear_run(&mut run, &mut |e| cleared.push(e >> 12)), 7);
        assert_eq!(cleared, [1, 2, 3, 5, 7, 8]);
        assert!(run.iter().all(|&e| e == 0));
    }

    #[test]
    fn transfers_within_one_space_may_share_a_table() {
        let flags = PRESENT | USER | WRITABLE;
        let (mut m, mut t) = space();
        map(&mut m, &mut t, BASE, 4, 7);
        t.prepare(&mut m, BASE + 8 * PAGE, 4).unwrap();
        t.transfer_within(&mut m, BASE, BASE + 8 * PAGE, 4, flags, true, |_| {});
        assert!(t.is_unmapped(&m, BASE, 4));
        assert_eq!(t.leaf(&m, BASE + 11 * PAGE), 10 << 12 | flags);
        assert_eq!(pt_count(&m, &t, BASE), 4, "four entries moved within one PT");
    }

    #[test]
    fn clearing_reports_each_present_entry_and_keeps_counts() {
        let (mut m, mut t) = space();
        let va = BASE + BLOCK - 3 * PAGE;
        map(&mut m, &mut t, va, 6, 1);
        t.clear_leaf(&mut m, va + PAGE);
        let mut cleared = vec![];
        t.clear_leaves(&mut m, va, 6, |e| cleared.push(e >> 12));
        assert_eq!(cleared, [1, 3, 4, 5, 6]);
        t.prune(&mut m, va, 6);
        assert_eq!((t.held(), m.live()), (0, 1));
    }

    /// Review: the fold accepts exactly the ranges the page-by-page test accepts, over
    /// any mix of entries (not present, not user, read-only, not-present with the other
    /// bits, extra bits), missing PTs and huge PD entries, for ranges crossing PTs.
    #[test]
    fn all_leaves_have_agrees_with_each_leaf() {
        use super::super::HUGE;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        const NX: u64 = 1 << 63;
        let kinds = [
            0,
            PRESENT,
            PRESENT | USER,
            PRESENT | WRITABLE,
            USER | WRITABLE,
            PRESENT | USER | WRITABLE,
            PRESENT | USER | WRITABLE | NX | HUGE,
        ];
        let entries = proptest::collection::vec(
            prop_oneof![
                8 => Just(kinds.len() - 1 - 1),
                1 => 0..kinds.len(),
            ],
            3 * 512,
        );
        let mut runner = TestRunner::new(Config { cases: 256, ..Config::default() });
        runner
            .run(&(entries, 0u8..3, 0u64..3 * 512, 0u64..3 * 512), |(es, middle, start, len)| {
                let (mut m, mut t) = space();
                map(&mut m, &mut t, BASE, 3 * 512, 1);
                for (i, &k) in es.iter().enumerate() {
                    let va = BASE + i as u64 * PAGE;
                    let e = kinds[k];
                    if e == 0 {
                        t.clear_leaf(&mut m, va);
                    } else {
                        t.set_leaf(&mut m, va, (i as u64 + 1) << 12 | e);
                    }
                }
                match middle {
                    1 => {
                        // The middle PT's PD entry: huge, so not followed.
                        let p = t.path(&m, BASE + BLOCK, 2).unwrap();
                        let e = m.read(p[2].0, p[2].1);
                        m.write(p[2].0, p[2].1, e | HUGE);
                    }
                    2 => {
                        let p = t.path(&m, BASE + BLOCK, 2).unwrap();
                        m.write(p[2].0, p[2].1, 0);
                    }
                    _ => {}
                }
                let len = len.min(3 * 512 - start);
                let va = BASE + start * PAGE;
                for need in [PRESENT | USER, PRESENT | USER | WRITABLE] {
                    let each = t.for_each_leaf(&m, va, len, (), |e| if e & need == need { Ok(()) } else { Err(()) });
                    prop_assert_eq!(t.all_leaves_have(&m, va, len, need), each.is_ok());
                }
                Ok(())
            })
            .unwrap();
    }
}
