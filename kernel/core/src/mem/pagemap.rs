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

use super::regions::Regions;
use abi::ipc::PageRights;
use abi::Error;

/// A user page as mapped: its frame and whether it is writable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub frame: u64,
    pub writable: bool,
}

pub trait PageMap {
    /// The user page mapped at page-aligned `va`.
    fn page(&self, va: u64) -> Option<Mapped>;
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
    /// Maps `frame` at `va`, user-accessible, never executable. The tables exist
    /// (`prepare`) and `va` is unmapped. Does not change map counts.
    fn map_frame(&mut self, va: u64, m: Mapped);
    /// Removes the mapping at `va` without freeing or counting down its frame (it is
    /// moving elsewhere). The TLB is invalidated by `flush` once per transfer.
    fn unmap_moved(&mut self, va: u64);
    /// Invalidates any TLB entries for `pages` pages at `va` (after `unmap_moved`), then
    /// frees the page tables the removal left empty.
    fn flush(&mut self, va: u64, pages: u64);
    /// The `new_pages` regions (received windows count as regions too).
    fn regions(&mut self) -> &mut Regions;
    /// Most mappings a frame can have.
    const MAX_MAPPINGS: u32;
    /// How many user mappings `frame` has, in every address space (the table of counts
    /// the space was given when it was made).
    fn map_count(&self, frame: u64) -> u32;
    /// Records one more mapping of `frame` (a share reserves it before its commit).
    /// `OutOfMemory`, and no change, if the count is full.
    fn add_mapping(&self, frame: u64) -> Result<(), Error>;
    /// Takes back one mapping `add_mapping` recorded that was never made (a share whose
    /// rendezvous failed after reserving). The frame is still mapped where the reservation
    /// was made from, so this never frees it.
    fn drop_reserved(&self, frame: u64);
}

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Checks that `[va, va + pages)` is mapped user memory of `space` (`BadAddress`), that
/// every page is writable (`NotOwner`: only writable pages carry transfer rights; the
/// read-only ones are a program's image, and a receiver must be able to write what it was
/// given, or a server filling pages a client lent it would fault), that every page is
/// exclusive for a move (`NotOwner`), and for a share that every frame's count has room for
/// one more mapping per page naming it (`OutOfMemory`). Changes nothing. For `ipc_send`'s
/// argument check.
pub fn check_transferable<S: PageMap>(space: &S, va: u64, pages: u64, moving: bool) -> Result<(), Error> {
    check::<S, true>(space, va, pages, moving)
}

/// [`check_transferable`] without the writability test, for the re-check of a queued
/// move at its rendezvous: a range that passed it holds writable pages only, and nothing
/// makes a user page read-only afterwards (the only read-only user pages are a program's
/// image, mapped at load; `new_pages` and received pages are writable), so a page found
/// there now is writable too.
pub fn check_owned<S: PageMap>(space: &S, va: u64, pages: u64, moving: bool) -> Result<(), Error> {
    check::<S, false>(space, va, pages, moving)
}

fn check<S: PageMap, const WRITABLE: bool>(space: &S, va: u64, pages: u64, moving: bool) -> Result<(), Error> {
    let need = if moving { PageRights::MOVE } else { PageRights::SHARE };
    let mut tight = false;
    for i in 0..pages {
        let m = space.page(va + i * PAGE).ok_or(Error::BadAddress)?;
        if WRITABLE && !m.writable {
            return Err(Error::NotOwner);
        }
        let count = space.map_count(m.frame);
        if !PageRights::of(count).contains(need) {
            return Err(Error::NotOwner);
        }
        // Room even if every page of the range named this frame? Then repeats cannot
        // matter (the common case: one pass, nothing written).
        tight |= count as u64 + pages > S::MAX_MAPPINGS as u64;
    }
    if !moving && tight {
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
/// that is not mapped, which `check_owned` rules out).
pub fn reserve_shares<S: PageMap>(space: &S, va: u64, pages: u64) -> Result<(), Error> {
    for i in 0..pages {
        let reserved = match space.page(va + i * PAGE) {
            Some(m) => space.add_mapping(m.frame),
            None => Err(Error::BadAddress),
        };
        if let Err(e) = reserved {
            release_shares(space, va, i);
            return Err(e);
        }
    }
    Ok(())
}

/// Gives back what [`reserve_shares`] reserved for the same range (still mapped as it was:
/// nothing can change it in between).
pub fn release_shares<S: PageMap>(space: &S, va: u64, pages: u64) {
    for i in 0..pages {
        if let Some(m) = space.page(va + i * PAGE) {
            space.drop_reserved(m.frame);
        }
    }
}
