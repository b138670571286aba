//! Task address spaces: one PML4 per task. The upper half is the kernel's (its PML4
//! entries are copied from the kernel root and never change after boot); the lower half
//! holds the task's user pages, each backed by a frame the address space owns.
//!
//! Invariants: every present lower-half leaf maps a user frame whose map count
//! (`mem::MAP_COUNTS`) includes this mapping, and a user frame is freed when its last
//! mapping goes; intermediate tables are created user-accessible and writable so that the
//! leaf alone decides permissions; a dropped address space has dropped every mapping and
//! freed its tables, and is never the one loaded in CR3 at that moment.

use super::paging::{kernel_root, phys_to_virt, TableFrames};
use crate::loader::elf::{LoadTarget, Protection};
use crate::mem::frames::Frame;
use crate::mem::pagemap::{Mapped, PageMap};
use crate::mem::regions::Regions;
use crate::mem::{FRAMES, MAP_COUNTS};
use crate::umem::UserMemory;
use abi::Error;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame, Size4KiB};
use x86_64::{PhysAddr, VirtAddr};

const PAGE: u64 = abi::PAGE_SIZE as u64;

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
    root: u64,
    /// The task's `new_pages` regions.
    pub regions: Regions,
}

/// The physical-address bits of a page-table entry (12..52).
const ENTRY_ADDR: u64 = 0x000f_ffff_ffff_f000;

fn table_at(phys: u64) -> &'static mut PageTable {
    // SAFETY: `phys` is a page-table frame owned by an address space; the direct map reaches
    // it. Callers hold `&mut AddressSpace` (or own it), so no other reference is live.
    unsafe { &mut *(phys_to_virt(phys) as *mut PageTable) }
}

fn free_frame(phys: u64) {
    let f = Frame::from_addr(phys).expect("page-table addresses are page-aligned");
    FRAMES.lock().free(f).unwrap_or_else(|e| panic!("frame accounting broken: {e:?}"));
}

/// Drops one mapping of user frame `phys`, freeing it if that was the last.
fn release_user_frame(phys: u64) {
    if MAP_COUNTS.decrement(phys) == 0 {
        free_frame(phys);
    }
}

/// Above this many pages a transfer reloads CR3 instead of invalidating page by page.
const FLUSH_ALL_ABOVE: u64 = 32;

impl AddressSpace {
    /// An address space with the kernel half and no user pages.
    pub fn new() -> Result<Self, Error> {
        let root = FRAMES.lock().alloc().ok_or(Error::OutOfMemory)?.addr();
        let table = table_at(root);
        table.zero();
        let kernel = table_at(kernel_root());
        for i in 256..512 {
            table[i] = kernel[i].clone();
        }
        Ok(AddressSpace { root, regions: Regions::new(QUOTA_PAGES) })
    }

    /// Physical address of the PML4 (what CR3 holds while this space is active).
    pub fn root(&self) -> u64 {
        self.root
    }

    fn is_active(&self) -> bool {
        Cr3::read().0.start_address().as_u64() == self.root
    }

    /// Makes this the active address space.
    pub fn activate(&self) {
        if !self.is_active() {
            // SAFETY: the upper half, where the kernel runs, is identical in every space.
            unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(self.root)), Cr3Flags::empty()) };
        }
    }

    fn mapper(&mut self) -> OffsetPageTable<'_> {
        // SAFETY: every page-table frame is reachable at PHYS_OFFSET + phys, and `&mut self`
        // makes this the only mapper of these tables.
        unsafe { OffsetPageTable::new(table_at(self.root), VirtAddr::new(crate::mem::layout::PHYS_OFFSET)) }
    }

    /// The leaf entry mapping user address `va`: (frame, flags), if present.
    ///
    /// Every user pointer a system call touches comes through here, so it reads the entries
    /// as plain words rather than through `PageTable`'s checked accessors (the general
    /// path's short-message benchmark spent a fifth of its instructions in them).
    fn leaf(&self, va: u64) -> Option<(u64, F)> {
        let mut table = self.root;
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
                return Some((e & ENTRY_ADDR, flags));
            }
            if flags.contains(F::HUGE_PAGE) {
                return None; // never made for user space
            }
            table = e & ENTRY_ADDR;
        }
        None
    }

    /// Whether no page of `[va, va + pages)` is mapped.
    pub fn is_unmapped(&self, va: u64, pages: u64) -> bool {
        (0..pages).all(|i| self.leaf(va + i * PAGE).is_none())
    }

    /// Maps `pages` zeroed pages at `va` with `prot`. All or nothing: on failure nothing
    /// new stays mapped. `WindowOccupied` if a page is already mapped.
    pub fn map_zeroed(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), Error> {
        for i in 0..pages {
            if let Err(e) = self.map_one(va + i * PAGE, prot) {
                self.unmap(va, i);
                return Err(e);
            }
        }
        Ok(())
    }

    fn map_one(&mut self, va: u64, prot: Protection) -> Result<(), Error> {
        let frame = FRAMES.lock().alloc().ok_or(Error::OutOfMemory)?;
        // SAFETY: a fresh frame nobody else references, reachable in the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(frame.addr()) as *mut u8, 0, PAGE as usize) };
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va));
        let pf = PhysFrame::containing_address(PhysAddr::new(frame.addr()));
        let parents = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
        let mut tables = TableFrames { limit: crate::mem::layout::PHYS_MAP_MAX };
        // SAFETY: maps a frame this space owns into its own lower half.
        let r = unsafe { self.mapper().map_to_with_table_flags(page, pf, user_flags(prot), parents, &mut tables) };
        match r {
            Ok(flush) => {
                flush.ignore(); // a new mapping: no stale TLB entry can exist
                MAP_COUNTS.set_one(frame.addr());
                Ok(())
            }
            Err(e) => {
                free_frame(frame.addr());
                Err(match e {
                    MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage => Error::WindowOccupied,
                    MapToError::FrameAllocationFailed => Error::OutOfMemory,
                })
            }
        }
    }

    /// Unmaps every mapped page of `[va, va + pages)`, freeing frames left unmapped.
    pub fn unmap(&mut self, va: u64, pages: u64) {
        let active = self.is_active();
        for i in 0..pages {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va + i * PAGE));
            if let Ok((frame, flush)) = self.mapper().unmap(page) {
                if active {
                    flush.flush();
                } else {
                    flush.ignore();
                }
                release_user_frame(frame.start_address().as_u64());
            }
        }
    }

    /// Changes the protection of mapped pages.
    pub fn protect(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), Error> {
        let active = self.is_active();
        for i in 0..pages {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va + i * PAGE));
            // SAFETY: changes permissions of this space's own user pages only.
            let flush = unsafe { self.mapper().update_flags(page, user_flags(prot)) }.map_err(|_| Error::BadAddress)?;
            if active {
                flush.flush();
            } else {
                flush.ignore();
            }
        }
        Ok(())
    }

    /// Frees every user frame and every lower-half table.
    fn destroy(&mut self) {
        if self.is_active() {
            // SAFETY: the kernel root maps the whole kernel half, where this code runs.
            unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(kernel_root())), Cr3Flags::empty()) };
        }
        let root = table_at(self.root);
        for l4 in root.iter_mut().take(256).filter(|e| !e.is_unused()) {
            let pdpt = table_at(l4.addr().as_u64());
            for l3 in pdpt.iter_mut().filter(|e| !e.is_unused()) {
                let pd = table_at(l3.addr().as_u64());
                for l2 in pd.iter_mut().filter(|e| !e.is_unused()) {
                    let pt = table_at(l2.addr().as_u64());
                    for l1 in pt.iter_mut().filter(|e| !e.is_unused()) {
                        release_user_frame(l1.addr().as_u64());
                        l1.set_unused();
                    }
                    free_frame(l2.addr().as_u64());
                    l2.set_unused();
                }
                free_frame(l3.addr().as_u64());
                l3.set_unused();
            }
            free_frame(l4.addr().as_u64());
            l4.set_unused();
        }
        free_frame(self.root);
    }
}

impl AddressSpace {
    /// The level-1 table covering `va`, creating missing tables if `create`.
    fn leaf_table(&mut self, va: u64, create: bool) -> Result<Option<&'static mut PageTable>, Error> {
        let mut table = table_at(self.root);
        for level in [39u32, 30, 21] {
            let e = &mut table[((va >> level) & 0x1ff) as usize];
            if e.is_unused() {
                if !create {
                    return Ok(None);
                }
                let f = FRAMES.lock().alloc().ok_or(Error::OutOfMemory)?;
                table_at(f.addr()).zero();
                e.set_addr(PhysAddr::new(f.addr()), F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE);
            }
            table = table_at(e.addr().as_u64());
        }
        Ok(Some(table))
    }
}

impl PageMap for AddressSpace {
    fn page(&self, va: u64) -> Option<Mapped> {
        let (frame, f) = self.leaf(va)?;
        f.contains(F::USER_ACCESSIBLE).then_some(Mapped { frame, writable: f.contains(F::WRITABLE) })
    }

    fn prepare(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        // One level-1 table covers 2 MiB: visit each 2 MiB block the range touches.
        let (mut block, end) = (va & !0x1f_ffff, va + pages * PAGE);
        while block < end {
            self.leaf_table(block, true)?;
            block += 0x20_0000;
        }
        Ok(())
    }

    fn map_frame(&mut self, va: u64, m: Mapped) {
        let table = self.leaf_table(va, false).ok().flatten().expect("prepared");
        let e = &mut table[((va >> 12) & 0x1ff) as usize];
        assert!(e.is_unused(), "map_frame over a mapped page");
        let flags = if m.writable { user_flags(Protection::ReadWrite) } else { user_flags(Protection::ReadOnly) };
        e.set_addr(PhysAddr::new(m.frame), flags);
    }

    fn unmap_moved(&mut self, va: u64) {
        let table = self.leaf_table(va, false).ok().flatten().expect("mapped");
        table[((va >> 12) & 0x1ff) as usize].set_unused();
    }

    fn flush(&mut self, va: u64, pages: u64) {
        if !self.is_active() {
            return; // loading CR3 for this space later flushes its non-global entries
        }
        if pages > FLUSH_ALL_ABOVE {
            let (frame, flags) = Cr3::read();
            // SAFETY: reloads the same root: the only effect is dropping non-global TLB
            // entries, which is exactly what is wanted.
            unsafe { Cr3::write(frame, flags) };
        } else {
            for i in 0..pages {
                x86_64::instructions::tlb::flush(VirtAddr::new(va + i * PAGE));
            }
        }
    }

    fn regions(&mut self) -> &mut Regions {
        &mut self.regions
    }

    const MAX_MAPPINGS: u32 = crate::mem::mapcount::MAX_COUNT as u32;

    fn map_count(frame: u64) -> u32 {
        MAP_COUNTS.get(frame)
    }

    fn add_mapping(frame: u64) -> Result<(), Error> {
        if MAP_COUNTS.increment(frame) {
            Ok(())
        } else {
            Err(Error::OutOfMemory)
        }
    }

    fn drop_reserved(frame: u64) {
        let left = MAP_COUNTS.decrement(frame);
        debug_assert!(left > 0, "a reserved frame is still mapped by its sender");
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        self.destroy();
    }
}

impl UserMemory for AddressSpace {
    fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error> {
        let mut page = addr & !(PAGE - 1);
        while page < addr + len {
            match self.leaf(page) {
                Some((_, f)) if f.contains(F::USER_ACCESSIBLE) && (!write || f.contains(F::WRITABLE)) => page += PAGE,
                _ => return Err(Error::BadAddress),
            }
        }
        Ok(())
    }

    fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < buf.len() {
            let va = addr + done as u64;
            let (frame, f) = self.leaf(va).ok_or(Error::BadAddress)?;
            if !f.contains(F::USER_ACCESSIBLE) {
                return Err(Error::BadAddress);
            }
            let off = va % PAGE;
            let n = ((PAGE - off) as usize).min(buf.len() - done);
            // SAFETY: the frame is mapped user memory of this space (checked just above),
            // reached through the direct map; `n` stays within the page.
            unsafe {
                core::ptr::copy_nonoverlapping(phys_to_virt(frame + off) as *const u8, buf[done..].as_mut_ptr(), n)
            };
            done += n;
        }
        Ok(())
    }

    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < data.len() {
            let va = addr + done as u64;
            let (frame, f) = self.leaf(va).ok_or(Error::BadAddress)?;
            if !f.contains(F::USER_ACCESSIBLE | F::WRITABLE) {
                return Err(Error::BadAddress);
            }
            let off = va % PAGE;
            let n = ((PAGE - off) as usize).min(data.len() - done);
            // SAFETY: as in `copy_in`, and the page is writable user memory.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), phys_to_virt(frame + off) as *mut u8, n) };
            done += n;
        }
        Ok(())
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
