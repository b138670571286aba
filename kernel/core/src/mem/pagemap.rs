//! What long messages need from an address space: the frame behind a user page, and moving
//! or sharing whole page mappings between address spaces, with page-ownership rights.
//!
//! Rights follow from how many user mappings a frame has (its map count, kept for all
//! address spaces together): a frame mapped once is *exclusive* to its holder, who may move
//! or share it; a frame mapped more than once is *shared*, and may be shared further but
//! moved by nobody. When all other mappings go, it is exclusive again.
//!
//! Transfers are two-phase so that they happen whole or not at all: everything that can
//! fail (checks, page-table allocation, room in region tables, the map counts a share adds)
//! comes first; the commit only rewrites page-table entries and cannot fail.
//!
//! A range may name one frame several times (a task may share pages to itself), so a share
//! needs as many more mappings of that frame as the range has pages naming it. The counts
//! are therefore *reserved* page by page ([`reserve_shares`]), a repeated frame once per
//! appearance, before anything else changes; the commit then maps without counting, and a
//! rendezvous that fails after reserving gives the reservation back ([`release_shares`]).
//!
//! Pages are checked once: `ipc_send` checks them and remembers the space's
//! [`PageMap::generation`]; a rendezvous (at once, or when a receiver takes the queued
//! send) checks them again only if that generation has changed since. A share's counts
//! are reserved at every rendezvous all the same: they are global, not the space's.

use super::regions::Regions;
use abi::ipc::PageRights;
use abi::Error;

/// A user page as mapped: its frame and whether it is writable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub frame: u64,
    pub writable: bool,
}

/// What a transfer does with its pages and their map counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// They move: gone from the source, their counts unchanged.
    Move,
    /// They are shared; their counts were reserved beforehand ([`reserve_shares`]).
    Share,
    /// They are shared, and the commit adds one to each frame's count as it maps it: a
    /// share whose room [`check_transferable`] found in this same kernel entry, so that
    /// no count can have filled since (its rendezvous came at once).
    ShareCounting,
}

pub trait PageMap {
    /// The user page mapped at page-aligned `va`.
    fn page(&self, va: u64) -> Option<Mapped>;
    /// This space's *generation*: a counter that changes whenever something an earlier
    /// check of its pages relied on may have stopped being true, and only then:
    ///
    /// - a mapping is removed (`remove_pages`, a thread's stack, a failed `new_pages`
    ///   undone) or its permissions change (`protect`);
    /// - pages move out of it (a long message's move commits, also to itself);
    /// - pages are shared out of it (a share commits: frames it holds gain a mapping, so a
    ///   page found exclusive may no longer be).
    ///
    /// New mappings (`new_pages`, pages received) do not change it: nothing found mapped
    /// can have become unmapped by them. So a check of a range made when the generation
    /// was `g` (pages mapped, writable, exclusive; what a page translates to) still holds
    /// while the generation is `g`: a queued long send is not checked again at its
    /// rendezvous, and a cached translation may be reused. In particular a frame's map
    /// count rises only by a share out of a space that maps it, which bumps that space's
    /// generation: pages a move left exclusive in a space stay exclusive while its
    /// generation holds (so they may be moved on unchecked). Never goes back, never
    /// repeats; on the machine not even across spaces that reuse an id (a new space starts
    /// above every generation a destroyed one reached).
    fn generation(&self) -> u64;
    /// Whether no page of `[va, va + pages)` is mapped.
    fn is_unmapped(&self, va: u64, pages: u64) -> bool;
    /// Calls `f` with every page of `[va, va + pages)` as mapped, in order, and stops at
    /// its first error; `BadAddress` at the first page that is not mapped user memory, and
    /// if `writable`, `NotOwner` at the first that is not writable. One walk per
    /// page-table page, not per page.
    fn for_each_page(
        &self,
        va: u64,
        pages: u64,
        writable: bool,
        f: impl FnMut(Mapped) -> Result<(), Error>,
    ) -> Result<(), Error>;
    /// [`PageMap::for_each_page`] with nothing to do per page: the same checks, the same
    /// error for the same first bad page.
    fn check_pages(&self, va: u64, pages: u64, writable: bool) -> Result<(), Error> {
        self.for_each_page(va, pages, writable, |_| Ok(()))
    }
    /// Creates the page tables a mapping of `pages` pages at `va` needs (idempotent). The
    /// only step of a transfer that allocates; `OutOfMemory` if it cannot (all or nothing).
    fn prepare(&mut self, va: u64, pages: u64) -> Result<(), Error>;
    /// Creates the page tables a receive window of `pages` pages at `va` needs, charged to
    /// this space, and keeps them (even empty) until [`PageMap::release_window`].
    /// `OutOfMemory` if this space may not, or the machine cannot, hold them; then nothing
    /// was created.
    fn reserve_window(&mut self, va: u64, pages: u64) -> Result<(), Error>;
    /// Ends a window's reservation: its tables are freed if nothing is mapped through them.
    fn release_window(&mut self, va: u64, pages: u64);
    /// Undoes [`PageMap::prepare`] for a transfer that failed after it: the tables covering
    /// `[va, va + pages)` that nothing is mapped through (and no window holds) are freed.
    fn unprepare(&mut self, va: u64, pages: u64);
    /// This space's *growth*: a counter that changes whenever a page is mapped into it
    /// (`new_pages`, a program loaded, pages received). A range found unmapped when it
    /// was `g` is still unmapped while it is `g` and the generation has not moved
    /// backwards (nothing unmaps into being mapped): a receive window checked free in
    /// `ipc_recv` is not scanned again at its rendezvous.
    fn growth(&self) -> u64;
    /// Maps here, at `va`, the frames of the `pages` pages at `src_va` of `src`
    /// (user-accessible, never executable, writable as they were there), and for a move
    /// removes them from `src` without freeing or counting down their frames (see
    /// [`Transfer`]); bumps `src`'s generation and this space's growth. The tables here
    /// exist (`prepare`, `reserve_window`), the pages here are unmapped and those of
    /// `src` mapped: the caller checked all three in this kernel entry. A move leaves
    /// `src`'s TLB to one [`PageMap::flush`] afterwards.
    fn transfer_from(&mut self, va: u64, src: &mut Self, src_va: u64, pages: u64, how: Transfer);
    /// [`PageMap::transfer_from`] within this space (threads of one task).
    fn transfer_within(&mut self, va: u64, src_va: u64, pages: u64, how: Transfer);
    /// Invalidates any TLB entries for `pages` pages at `va` (after a move out of them),
    /// at once, then frees the page tables the removal left empty.
    fn flush(&mut self, va: u64, pages: u64);
    /// The `new_pages` regions (received windows count as regions too).
    fn regions(&mut self) -> &mut Regions;
    /// Most mappings a frame can have.
    const MAX_MAPPINGS: u32;
    /// How many user mappings `frame` has, in every address space (the table of counts
    /// the space was given when it was made).
    fn map_count(&self, frame: u64) -> u32;
    /// Whether every frame's count, in every address space, has room for `extra` more
    /// mappings, known without looking at any one frame (true), or not known (false).
    fn counts_have_room(&self, extra: u64) -> bool;
    /// Records one more mapping of `frame` (a share reserves it before its commit).
    /// `OutOfMemory`, and no change, if the count is full.
    fn add_mapping(&self, frame: u64) -> Result<(), Error>;
    /// Takes back one mapping `add_mapping` recorded that was never made (a share whose
    /// rendezvous failed after reserving). The frame is still mapped where the reservation
    /// was made from, so this never frees it.
    fn drop_reserved(&self, frame: u64);
}

/// Checks that `[va, va + pages)` is mapped user memory of `space` (`BadAddress`), that
/// every page is writable (`NotOwner`: only writable pages carry transfer rights; the
/// read-only ones are a program's image, and a receiver must be able to write what it was
/// given, or a server filling pages a client lent it would fault), that every page is
/// exclusive for a move (`NotOwner`), and for a share that every frame's count has room for
/// one more mapping per page naming it (`OutOfMemory`). Changes nothing. For `ipc_send`'s
/// argument check, and again at a queued move's rendezvous if the space's generation
/// changed meanwhile. One walk per page-table page.
pub fn check_transferable<S: PageMap>(space: &S, va: u64, pages: u64, moving: bool) -> Result<(), Error> {
    check(space, va, pages, moving)
}

// Out of line: inlined into `ipc_send`, it changed the code of every path through it
// (the short sends' too) by a few instructions, up or down, at the compiler's whim.
#[inline(never)]
fn check<S: PageMap>(space: &S, va: u64, pages: u64, moving: bool) -> Result<(), Error> {
    if moving {
        // Exclusive pages only (so no frame can repeat in the range either).
        return space.for_each_page(va, pages, true, |m| {
            match PageRights::of(space.map_count(m.frame)).contains(PageRights::MOVE) {
                true => Ok(()),
                false => Err(Error::NotOwner),
            }
        });
    }
    if space.counts_have_room(pages) {
        // Room in every count for every page of the range, repeats or not: the pages alone.
        return space.check_pages(va, pages, true);
    }
    let mut tight = false;
    space.for_each_page(va, pages, true, |m| {
        // Any mapped frame may be shared (`PageRights::of` always grants it).
        // Room even if every page of the range named this frame? Then repeats cannot
        // matter (the common case: one pass, nothing written).
        tight |= space.map_count(m.frame) as u64 + pages > S::MAX_MAPPINGS as u64;
        Ok(())
    })?;
    if tight {
        // Count repeats exactly: reserve, then give it all back. Nothing is observable in
        // between (the kernel is not preemptible).
        reserve_shares(space, va, pages)?;
        release_shares(space, va, pages);
    }
    Ok(())
}

/// Reserves one more mapping for each page of `[va, va + pages)` of `space`: a frame the
/// range names k times gets k. Whole or nothing: if a count would pass its maximum, what
/// was reserved is given back and the result is `OutOfMemory` (`BadAddress` for a page
/// that is not mapped, which `check_transferable` rules out).
pub fn reserve_shares<S: PageMap>(space: &S, va: u64, pages: u64) -> Result<(), Error> {
    let mut done = 0;
    let reserved = space.for_each_page(va, pages, false, |m| {
        space.add_mapping(m.frame)?;
        done += 1;
        Ok(())
    });
    if reserved.is_err() {
        release_shares(space, va, done);
    }
    reserved
}

/// Gives back what [`reserve_shares`] reserved for the same range (still mapped as it was:
/// nothing can change it in between).
pub fn release_shares<S: PageMap>(space: &S, va: u64, pages: u64) {
    // Every page is mapped (it was reserved just now), so this visits them all.
    let _ = space.for_each_page(va, pages, false, |m| {
        space.drop_reserved(m.frame);
        Ok(())
    });
}

/// Review: `check_transferable`'s answer for a share, against the real map counts (their
/// tally of high counts included): `Ok` exactly when committing the share while counting
/// (`Transfer::ShareCounting`) finds room in every count, repeats and counts near `HIGH`
/// and the maximum included.
#[cfg(test)]
mod review_tests {
    use super::*;
    use crate::mem::mapcount::{MapCounts, HIGH, MAX_COUNT};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const N: usize = 8;
    const PAGE: u64 = abi::PAGE_SIZE as u64;

    /// A space whose page `i` maps frame `frames[i]` (writable), counted in `counts`.
    struct Space<'c> {
        frames: Vec<u64>,
        counts: &'c MapCounts<N>,
    }

    impl PageMap for Space<'_> {
        fn page(&self, va: u64) -> Option<Mapped> {
            self.frames.get((va / PAGE) as usize).map(|&frame| Mapped { frame, writable: true })
        }
        fn generation(&self) -> u64 {
            0
        }
        fn is_unmapped(&self, _: u64, _: u64) -> bool {
            unimplemented!()
        }
        fn for_each_page(
            &self,
            va: u64,
            pages: u64,
            _writable: bool,
            mut f: impl FnMut(Mapped) -> Result<(), Error>,
        ) -> Result<(), Error> {
            for i in 0..pages {
                f(self.page(va + i * PAGE).ok_or(Error::BadAddress)?)?;
            }
            Ok(())
        }
        fn prepare(&mut self, _: u64, _: u64) -> Result<(), Error> {
            unimplemented!()
        }
        fn reserve_window(&mut self, _: u64, _: u64) -> Result<(), Error> {
            unimplemented!()
        }
        fn release_window(&mut self, _: u64, _: u64) {}
        fn unprepare(&mut self, _: u64, _: u64) {}
        fn growth(&self) -> u64 {
            0
        }
        fn transfer_from(&mut self, _: u64, _: &mut Self, _: u64, _: u64, _: Transfer) {
            unimplemented!()
        }
        fn transfer_within(&mut self, _: u64, _: u64, _: u64, _: Transfer) {
            unimplemented!()
        }
        fn flush(&mut self, _: u64, _: u64) {}
        fn regions(&mut self) -> &mut Regions {
            unimplemented!()
        }
        const MAX_MAPPINGS: u32 = MAX_COUNT as u32;
        fn map_count(&self, frame: u64) -> u32 {
            self.counts.get(frame)
        }
        fn counts_have_room(&self, extra: u64) -> bool {
            self.counts.has_room(extra)
        }
        fn add_mapping(&self, frame: u64) -> Result<(), Error> {
            if self.counts.increment(frame) {
                Ok(())
            } else {
                Err(Error::OutOfMemory)
            }
        }
        fn drop_reserved(&self, frame: u64) {
            self.counts.decrement(frame);
        }
    }

    #[test]
    fn a_share_checked_ok_has_room_when_counted_at_its_commit() {
        // Each frame: how often the range names it, and how many other mappings it has.
        let frame = (0usize..N - 1, prop_oneof![Just(0u32), 1u32..4, 0x3ff0u32..0x4010, 0x7ff0u32..0x8010]);
        let extra = prop_oneof![Just(0u32), 0x7ff0u32..0x8010, 0xfff0u32..0x10000];
        let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
        runner
            .run(&(proptest::collection::vec((frame, extra), 1..4), any::<bool>()), |(named, high_elsewhere)| {
                let counts = MapCounts::<N>::new();
                let mut frames = vec![];
                let mut total = [0u32; N];
                for &((f, times), others) in &named {
                    frames.extend((0..times).map(|_| (f as u64 + 1) * PAGE));
                    total[f + 1] = (total[f + 1] + times + others).min(MAX_COUNT as u32);
                }
                // Frame 0: no page of the range names it; mapped so often it is high, or not.
                total[0] = if high_elsewhere { HIGH as u32 } else { 1 };
                if frames.is_empty() {
                    return Ok(());
                }
                // A count holds at least the range's own mappings.
                for (f, &count) in total.iter().enumerate().skip(1) {
                    let appears = frames.iter().filter(|&&x| x == f as u64 * PAGE).count() as u32;
                    prop_assume!(count >= appears);
                }
                for (f, &n) in total.iter().enumerate() {
                    if n > 0 {
                        counts.set_one(f as u64 * PAGE);
                        for _ in 1..n {
                            assert!(counts.increment(f as u64 * PAGE));
                        }
                    }
                }
                let space = Space { frames: frames.clone(), counts: &counts };
                let pages = frames.len() as u64;
                let checked = check_transferable(&space, 0, pages, false);
                // The commit of a `ShareCounting` transfer: one increment per page.
                let fits = frames.iter().all(|&f| counts.increment(f));
                prop_assert_eq!(checked.is_ok(), fits, "{} pages, counts {:?}", pages, total);
                Ok(())
            })
            .unwrap();
    }
}
