//! What long messages need from an address space: the frame behind a user page, and moving
//! or sharing whole page mappings between address spaces, with page-ownership rights.
//!
//! Rights follow from how many user mappings a frame has (its map count, kept for all
//! address spaces together): a frame mapped once is *exclusive* to its holder, who may move
//! or share it; a frame mapped more than once is *shared*, and may be shared further but
//! moved by nobody. When all other mappings go, it is exclusive again.
//!
//! Transfers are two-phase so that they happen whole or not at all: everything that can
//! fail (checks, page-table allocation, room in region tables) comes first; the commit
//! only rewrites page-table entries and cannot fail.

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
    /// How many user mappings `frame` has, in every address space.
    fn map_count(frame: u64) -> u32;
    /// Records one more mapping of `frame` (a share). `OutOfMemory` if the count is full.
    fn add_mapping(frame: u64) -> Result<(), Error>;
    /// Whether one more mapping of `frame` can be recorded.
    fn can_add_mapping(frame: u64) -> bool;
}

/// Checks that `[va, va + pages)` is mapped user memory of `space` (`BadAddress`) and, for
/// a move, that every page is exclusive (`NotOwner`).
pub fn check_owned<S: PageMap>(space: &S, va: u64, pages: u64, moving: bool) -> Result<(), Error> {
    let need = if moving { PageRights::MOVE } else { PageRights::SHARE };
    for i in 0..pages {
        let m = space.page(va + i * abi::PAGE_SIZE as u64).ok_or(Error::BadAddress)?;
        if !PageRights::of(S::map_count(m.frame)).contains(need) {
            return Err(Error::NotOwner);
        }
        if !moving && !S::can_add_mapping(m.frame) {
            return Err(Error::OutOfMemory);
        }
    }
    Ok(())
}
