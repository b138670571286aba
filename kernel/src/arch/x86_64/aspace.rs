//! Task address spaces: one PML4 per task. The upper half is the kernel's (its PML4
//! entries are copied from the kernel root and never change after boot); the lower half
//! holds the task's user pages, each backed by a frame the address space owns.
//!
//! Invariants: every present lower-half leaf maps a user frame whose map count
//! (the space's `counts`, `mem::MAP_COUNTS`) includes this mapping, and a user frame is freed when its last
//! mapping goes; intermediate tables are created user-accessible and writable so that the
//! leaf alone decides permissions, charged to this space's kernel-frame limit, and freed as
//! soon as no leaf and no pending receive window needs them (`mem::tables`); a dropped
//! address space has dropped every mapping and freed its tables, and is never the one
//! loaded in CR3 at that moment; `generation` changes with every change that
//! `PageMap::generation` lists (removing, protecting, moving or sharing out pages).

use super::paging::{kernel_root, phys_to_virt};
use crate::loader::elf::{LoadTarget, Protection};
use crate::mem::frames::Frame;
use crate::mem::pagemap::{Mapped, PageMap, Transfer};
use crate::mem::regions::Regions;
use crate::mem::tables::{self, PageTables, TableMemory};
use crate::mem::{UserMapCounts, FRAMES};
use crate::umem::UserMemory;
use abi::Error;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as F, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Above every generation a destroyed address space reached: where a new space's starts.
/// A space's id (its root frame) is reused once it is destroyed, so without this a new
/// space could show an (id, generation) pair an old one had; a cache keyed by that pair
/// (every one is also reset when its thread is made, so this is defence in depth) can then
/// never mistake the new space for the old.
static GENERATION_FLOOR: AtomicU64 = AtomicU64::new(0);
// Every frame, a root table's too, comes from `FRAMES`, whose frames' addresses fit a `u32`
// (`UserMemory::space_id`).
const _: () = assert!((crate::mem::FRAME_WORDS as u64) * 64 * PAGE <= 1 << 32);

/// Pages a task may hold in `new_pages` regions (128 MiB).
pub const QUOTA_PAGES: u64 = 32 * 1024;

/// Flags of a user leaf with the given protection.
pub fn user_flags(p: Protection) -> F {
    let base = F::PRESENT | F::USER_ACCESSIBLE;
    match p {
        Protection::ReadWrite => base | F::WRITABLE | F::NO_EXECUTE,
        Protection::ReadOnly => base | F::NO_EXECUTE,
        Protection::ReadExecute => base,
        Protection::ReadWriteExecute => base | F::WRITABLE,
    }
}

pub struct AddressSpace {
    /// The lower-half tables under this space's PML4, and what they cost the task.
    tables: PageTables,
    /// How many user mappings each frame has, in every address space (given at creation).
    counts: &'static UserMapCounts,
    /// The task's `new_pages` regions, in a frame of their own (reached through the direct map):
    /// the table is 3 KiB, and an address space is moved by value while a task is made
    /// and ended, on a kernel stack. Invariant: points to a live `Regions` in a frame
    /// this space allocated and alone refers to, freed in `destroy`. Its physical address.
    regions: u64,
    /// `PageMap::generation`: bumped by `unmap`, `protect` and pages moved or shared out.
    generation: u64,
    /// `PageMap::growth`: bumped by `map_zeroed` and pages received.
    growth: u64,
}

/// Page-table frames as the kernel reaches them: from the frame allocator, through the
/// direct map. Only [`PageTables`] of one address space uses one, and it passes only its
/// own root or the address in one of its own present entries (a table frame it allocated
/// here and has not freed). Each is made for one operation on its space and dropped at
/// its end, and no two of one space are used at once (two spaces' tables are different
/// frames), so a reference `entries_mut` returns is the only one to its table.
struct Direct {
    /// Whether the space is in CR3 (then unlinked tables are invalidated in the TLB).
    active: bool,
}

impl TableMemory for Direct {
    fn alloc(&mut self) -> Option<u64> {
        let (f, zeroed) = FRAMES.lock().alloc_zeroed()?;
        if !zeroed {
            // SAFETY: a frame just allocated, which nothing else refers to yet.
            unsafe { table_at(f.addr()) }.zero();
        }
        Some(f.addr())
    }
    fn free(&mut self, table: u64) {
        // `PageTables` frees only tables whose entries are all zero.
        // Invariant: `table` came from `alloc` above (a FRAMES frame); see `free_frame`.
        let f = Frame::from_addr(table).expect("page-table addresses are page-aligned");
        FRAMES.lock().free_zeroed(f).unwrap_or_else(|e| panic!("frame accounting broken: {e:?}"));
    }
    fn read(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is a page-table frame of this space (see `Direct`), reachable in
        // the direct map; `index & 511` keeps the aligned word inside it.
        unsafe { (phys_to_virt(table) as *const u64).add(index & 511).read() }
    }
    fn write(&mut self, table: u64, index: usize, entry: u64) {
        // SAFETY: as in `read`; the caller holds the space mutably, so nothing else is
        // writing this table.
        unsafe { (phys_to_virt(table) as *mut u64).add(index & 511).write(entry) }
    }
    fn entries(&self, table: u64) -> &[u64; 512] {
        // SAFETY: `table` is a page-table frame of this space (see `Direct`): page-aligned,
        // 4 KiB, reachable in the direct map; only this space's operation, through this
        // `Direct`, refers to it, and the borrow of `self` ends before it can write it.
        unsafe { &*(phys_to_virt(table) as *const [u64; 512]) }
    }
    fn entries_mut(&mut self, table: u64) -> &mut [u64; 512] {
        // SAFETY: as in `entries`; `&mut self` makes this the only reference to the table
        // for its lifetime (see `Direct`: no other `Direct` of this space is in use).
        unsafe { &mut *(phys_to_virt(table) as *mut [u64; 512]) }
    }
    fn unlinked(&mut self, va: u64) {
        // INVLPG also drops the paging-structure caches that could still lead through the
        // unlinked table. An inactive space has none: loading its CR3 flushes them.
        if self.active {
            x86_64::instructions::tlb::flush(VirtAddr::new(va));
        }
    }
}

/// The page table in frame `phys`, through the direct map, for as long as the caller says.
///
/// # Safety
/// `phys` is an allocated page-table frame (or one just allocated to become one) that the
/// caller may change: no other reference to it is live for `'a`, and it is not freed
/// during `'a`.
unsafe fn table_at<'a>(phys: u64) -> &'a mut PageTable {
    // SAFETY: the direct map reaches every managed frame, a frame is page-aligned as a
    // `PageTable` must be, and the caller rules out any other reference for `'a`.
    unsafe { &mut *(phys_to_virt(phys) as *mut PageTable) }
}

/// Invariant: `phys` is a frame this kernel took from FRAMES (a page table or a user page
/// whose last mapping is gone), so it is aligned and allocated: a failure is a kernel
/// accounting bug that no system call argument can cause.
fn free_frame(phys: u64) {
    let f = Frame::from_addr(phys).expect("page-table addresses are page-aligned");
    FRAMES.lock().free(f).unwrap_or_else(|e| panic!("frame accounting broken: {e:?}"));
}

/// Drops one mapping of user frame `phys` from `counts`, freeing it if that was the last.
fn release_user_frame(counts: &UserMapCounts, phys: u64) {
    if counts.decrement(phys) == 0 {
        free_frame(phys);
    }
}

/// Flags of a leaf a long message maps (its writable bit comes from the sender's entry).
fn received_flags() -> u64 {
    user_flags(Protection::ReadOnly).bits()
}

impl AddressSpace {
    /// An address space with the kernel half and no user pages, whose page tables may
    /// take at most `kernel_frames` frames (`abi::limits::KERNEL_FRAMES` by default), and
    /// whose user mappings are counted in `counts` (shared by every address space).
    pub fn new(kernel_frames: u32, counts: &'static UserMapCounts) -> Result<Self, Error> {
        let root = FRAMES.lock().alloc().ok_or(Error::OutOfMemory)?.addr();
        // SAFETY: a frame just allocated, which nothing else refers to yet; it is used only
        // in this function.
        let table = unsafe { table_at(root) };
        table.zero();
        // The kernel half, read through a raw pointer: the kernel's own mapper holds the
        // only reference to its root table.
        let kernel = phys_to_virt(kernel_root()) as *const x86_64::structures::paging::page_table::PageTableEntry;
        for (i, entry) in table.iter_mut().enumerate().skip(256) {
            // SAFETY: the kernel's root table is a page of 512 entries in the direct map;
            // i < 512, and the kernel half never changes after boot, so nothing writes it.
            *entry = unsafe { kernel.add(i).read() };
        }
        let Some(frame) = FRAMES.lock().alloc() else {
            free_frame(root);
            return Err(Error::OutOfMemory);
        };
        const _: () = assert!(core::mem::size_of::<Regions>() <= PAGE as usize);
        const _: () = assert!(core::mem::align_of::<Regions>() <= PAGE as usize);
        let regions = phys_to_virt(frame.addr()) as *mut Regions;
        // SAFETY: a frame just allocated (page-aligned, 4 KiB, large and aligned enough for
        // a `Regions`, checked above), reached through the direct map, which nothing else
        // refers to; the write initialises it.
        unsafe { regions.write(Regions::new(QUOTA_PAGES)) };
        Ok(AddressSpace {
            tables: PageTables::new(root, kernel_frames as u64),
            counts,
            regions: frame.addr(),
            // Relaxed: spaces are made and destroyed only under the kernel lock.
            generation: GENERATION_FLOOR.load(Ordering::Relaxed),
            growth: 0,
        })
    }

    /// Physical address of the PML4 (what CR3 holds while this space is active).
    pub fn root(&self) -> u64 {
        self.tables.root()
    }

    fn is_active(&self) -> bool {
        let cr3: u64;
        // SAFETY: reads CR3, which has no side effect (the `x86_64` crate's `Cr3::read`
        // does the same, with checks of an address this compares only).
        unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags)) };
        cr3 & tables::ADDR == self.root()
    }

    fn memory(&self) -> Direct {
        Direct { active: self.is_active() }
    }

    /// Table memory for reading only: nothing is unlinked through it, so whether the space
    /// is active (a CR3 read) does not matter.
    fn reader(&self) -> Direct {
        Direct { active: false }
    }

    /// Drops the TLB's translations of `pages` pages at `va`, once for the whole range: one
    /// `invlpg` for one page, else a CR3 reload (every non-global entry; the kernel's are
    /// global). Nothing to do for a space not in CR3: loading it flushes them.
    fn invalidate(m: &Direct, va: u64, pages: u64) {
        if !m.active || pages == 0 {
            return;
        }
        if pages == 1 {
            x86_64::instructions::tlb::flush(VirtAddr::new(va));
        } else {
            let (frame, flags) = Cr3::read();
            // SAFETY: reloads the same root: the only effect is dropping non-global TLB
            // entries, which is exactly what is wanted.
            unsafe { Cr3::write(frame, flags) };
        }
    }

    /// Makes this the active address space.
    pub fn activate(&self) {
        if !self.is_active() {
            // SAFETY: the upper half, where the kernel runs, is identical in every space.
            unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(self.root())), Cr3Flags::empty()) };
        }
    }

    /// The leaf entry mapping user address `va`: (frame, flags), if present.
    ///
    /// Every user pointer a system call touches comes through here, so it reads the entries
    /// as plain words rather than through `PageTable`'s checked accessors (the general
    /// path's short-message benchmark spent a fifth of its instructions in them).
    fn leaf(&self, va: u64) -> Option<(u64, F)> {
        let mut table = self.root();
        for level in [39u32, 30, 21, 12] {
            let index = ((va >> level) & 0x1ff) as usize;
            // SAFETY: `table` is a page-table frame of this space (its root, or the address
            // in a present, non-huge entry of it), reachable in the direct map; index < 512
            // keeps the aligned 8-byte read inside that frame; nothing is written.
            let e = unsafe { (phys_to_virt(table) as *const u64).add(index).read() };
            let flags = F::from_bits_truncate(e);
            if !flags.contains(F::PRESENT) {
                return None;
            }
            if level == 12 {
                return Some((e & tables::ADDR, flags));
            }
            if flags.contains(F::HUGE_PAGE) {
                return None; // never made for user space
            }
            table = e & tables::ADDR;
        }
        None
    }

    /// Whether no page of `[va, va + pages)` is mapped.
    pub fn is_unmapped(&self, va: u64, pages: u64) -> bool {
        self.tables.is_unmapped(&self.reader(), va, pages)
    }

    /// Maps `pages` zeroed pages at `va` with `prot`. All or nothing: on failure nothing
    /// new stays mapped and no table is left that was not there before. `WindowOccupied`
    /// if a page is already mapped; `OutOfMemory` if the frames, or the tables within this
    /// space's limit, cannot be had.
    pub fn map_zeroed(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), Error> {
        let mut m = self.memory();
        self.growth += 1;
        self.tables.prepare(&mut m, va, pages)?;
        for i in 0..pages {
            if let Err(e) = self.map_one(&mut m, va + i * PAGE, prot) {
                self.unmap(va, i);
                self.tables.prune(&mut m, va, pages);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Maps one fresh zeroed frame at `va`, whose tables exist.
    fn map_one(&mut self, m: &mut Direct, va: u64, prot: Protection) -> Result<(), Error> {
        if self.tables.leaf(m, va) & tables::PRESENT != 0 {
            return Err(Error::WindowOccupied);
        }
        let frame = FRAMES.lock().alloc().ok_or(Error::OutOfMemory)?;
        // SAFETY: a fresh frame nobody else references, reachable in the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(frame.addr()) as *mut u8, 0, PAGE as usize) };
        // A new mapping: no stale TLB entry for it can exist.
        if self.tables.set_leaf(m, va, frame.addr() | user_flags(prot).bits()).is_none() {
            free_frame(frame.addr());
            return Err(Error::OutOfMemory); // not prepared: a kernel bug, but not fatal
        }
        self.counts.set_one(frame.addr());
        Ok(())
    }

    /// Unmaps every mapped page of `[va, va + pages)`, freeing frames left unmapped and
    /// tables left empty. One walk per page-table page and one TLB flush for the range.
    pub fn unmap(&mut self, va: u64, pages: u64) {
        let mut m = self.memory();
        let counts = self.counts;
        // A frame whose last mapping this was is freed before the TLB flush below: sound,
        // because until that flush, a few instructions later in this same kernel entry, no
        // user code runs (the kernel is not preemptible and returns to user mode only
        // after it), and the kernel never goes through user addresses (SMAP), only through
        // the direct map; nor is a frame freed here handed out again before the flush.
        self.tables.clear_leaves(&mut m, va, pages, |e| release_user_frame(counts, e & tables::ADDR));
        self.generation += 1;
        Self::invalidate(&m, va, pages);
        self.tables.prune(&mut m, va, pages);
    }

    /// Changes the protection of mapped pages.
    pub fn protect(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), Error> {
        let mut m = self.memory();
        self.generation += 1;
        for i in 0..pages {
            let page = va + i * PAGE;
            let e = self.tables.leaf(&m, page);
            if e & tables::PRESENT == 0 {
                return Err(Error::BadAddress);
            }
            self.tables.set_leaf(&mut m, page, (e & tables::ADDR) | user_flags(prot).bits());
            if m.active {
                x86_64::instructions::tlb::flush(VirtAddr::new(page));
            }
        }
        Ok(())
    }

    /// Frees every user frame and every lower-half table.
    fn destroy(&mut self) {
        GENERATION_FLOOR.fetch_max(self.generation + 1, Ordering::Relaxed);
        if self.is_active() {
            // SAFETY: the kernel root maps the whole kernel half, where this code runs.
            unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(kernel_root())), Cr3Flags::empty()) };
        }
        let counts = self.counts;
        self.tables.destroy(&mut Direct { active: false }, |e| release_user_frame(counts, e & tables::ADDR));
        free_frame(self.root());
        // `Regions` owns nothing that needs dropping; its frame goes back.
        free_frame(self.regions);
    }
}

impl PageMap for AddressSpace {
    #[inline]
    fn page(&self, va: u64) -> Option<Mapped> {
        let (frame, f) = self.leaf(va)?;
        f.contains(F::USER_ACCESSIBLE).then_some(Mapped { frame, writable: f.contains(F::WRITABLE) })
    }

    fn generation(&self) -> u64 {
        self.generation
    }

    fn is_unmapped(&self, va: u64, pages: u64) -> bool {
        AddressSpace::is_unmapped(self, va, pages)
    }

    #[inline]
    fn for_each_page(
        &self,
        va: u64,
        pages: u64,
        writable: bool,
        mut f: impl FnMut(Mapped) -> Result<(), Error>,
    ) -> Result<(), Error> {
        const USER_PAGE: u64 = tables::PRESENT | tables::USER;
        // One test per page for all the bits asked for; which one failed only on failure.
        let need = if writable { USER_PAGE | tables::WRITABLE } else { USER_PAGE };
        self.tables.for_each_leaf(&self.reader(), va, pages, Error::BadAddress, |e| {
            if e & need != need {
                return Err(if e & USER_PAGE != USER_PAGE { Error::BadAddress } else { Error::NotOwner });
            }
            f(Mapped { frame: e & tables::ADDR, writable: e & tables::WRITABLE != 0 })
        })
    }

    #[inline]
    fn check_pages(&self, va: u64, pages: u64, writable: bool) -> Result<(), Error> {
        const USER_PAGE: u64 = tables::PRESENT | tables::USER;
        let need = if writable { USER_PAGE | tables::WRITABLE } else { USER_PAGE };
        // All pages good (the common case) in a fold; else the page-by-page walk finds the
        // first bad one and its error.
        if self.tables.all_leaves_have(&self.reader(), va, pages, need) {
            return Ok(());
        }
        self.for_each_page(va, pages, writable, |_| Ok(()))
    }

    fn prepare(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        let mut m = self.memory();
        self.tables.prepare(&mut m, va, pages)
    }

    fn reserve_window(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        let mut m = self.memory();
        self.tables.pin(&mut m, va, pages)
    }

    fn release_window(&mut self, va: u64, pages: u64) {
        let mut m = self.memory();
        self.tables.unpin(&mut m, va, pages);
    }

    fn unprepare(&mut self, va: u64, pages: u64) {
        let mut m = self.memory();
        self.tables.prune(&mut m, va, pages);
    }

    fn growth(&self) -> u64 {
        self.growth
    }

    fn transfer_from(&mut self, va: u64, src: &mut Self, src_va: u64, pages: u64, how: Transfer) {
        let (mut sm, mut dm) = (src.memory(), self.memory());
        let (s, d, flags) = (&mut src.tables, &mut self.tables, received_flags());
        let counts = self.counts;
        match how {
            Transfer::Move => PageTables::transfer(s, &mut sm, src_va, d, &mut dm, va, pages, flags, true, |_| {}),
            Transfer::Share => PageTables::transfer(s, &mut sm, src_va, d, &mut dm, va, pages, flags, false, |_| {}),
            Transfer::ShareCounting => {
                PageTables::transfer(s, &mut sm, src_va, d, &mut dm, va, pages, flags, false, |e| {
                    // Invariant: `check_transferable` found room for every page of the range in
                    // this same kernel entry, and nothing else counted since. A count left short
                    // would later free a frame still mapped: stop instead.
                    let room = counts.increment(e & tables::ADDR);
                    assert!(room, "a share's count, checked in this kernel entry, is full");
                })
            }
        }
        src.generation += 1;
        self.growth += 1;
    }

    fn transfer_within(&mut self, va: u64, src_va: u64, pages: u64, how: Transfer) {
        let mut m = self.memory();
        let (flags, counts) = (received_flags(), self.counts);
        let moving = how == Transfer::Move;
        self.tables.transfer_within(&mut m, src_va, va, pages, flags, moving, |e| {
            if how == Transfer::ShareCounting {
                // Invariant: `check_transferable` found room for every page of the range in
                // this same kernel entry, and nothing else counted since. A count left short
                // would later free a frame still mapped: stop instead.
                let room = counts.increment(e & tables::ADDR);
                assert!(room, "a share's count, checked in this kernel entry, is full");
            }
        });
        self.generation += 1;
        self.growth += 1;
    }

    fn flush(&mut self, va: u64, pages: u64) {
        let mut m = self.memory();
        Self::invalidate(&m, va, pages);
        self.tables.prune(&mut m, va, pages);
    }

    fn regions(&mut self) -> &mut Regions {
        // SAFETY: the frame holds a live `Regions` (written in `new`) that this space alone
        // refers to (see the field), reached through the direct map; `&mut self` makes this
        // the only reference for its lifetime.
        unsafe { &mut *(phys_to_virt(self.regions) as *mut Regions) }
    }

    const MAX_MAPPINGS: u32 = crate::mem::mapcount::MAX_COUNT as u32;

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
        let left = self.counts.decrement(frame);
        debug_assert!(left > 0, "a reserved frame is still mapped by its sender");
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        self.destroy();
    }
}

// SAFETY: `page_bytes` gives the direct-map address of a frame a present user leaf of this
// space maps (page-aligned, as a frame's address is); the frame stays allocated while the mapping does (its map count includes
// it), and only `&mut self` methods unmap. User frames are never covered by a Rust
// reference: the kernel reaches them only through the direct map, as raw addresses.
unsafe impl UserMemory for AddressSpace {
    fn space_id(&self) -> u32 {
        // The root table's frame: no two live spaces share one, and its address fits (below).
        self.root() as u32
    }

    #[inline]
    fn page_bytes(&self, page: u64) -> Option<(core::ptr::NonNull<u8>, bool)> {
        let (frame, f) = self.leaf(page)?;
        if !f.contains(F::USER_ACCESSIBLE) {
            return None;
        }
        let bytes = core::ptr::NonNull::new(phys_to_virt(frame) as *mut u8)?;
        Some((bytes, f.contains(F::WRITABLE)))
    }
}

impl LoadTarget for AddressSpace {
    fn map_zeroed(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        AddressSpace::map_zeroed(self, va, pages, Protection::ReadWrite)
    }
    fn write(&mut self, va: u64, data: &[u8]) -> Result<(), Error> {
        self.copy_out(va, data)
    }
    fn protect(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), Error> {
        AddressSpace::protect(self, va, pages, prot)
    }
}
