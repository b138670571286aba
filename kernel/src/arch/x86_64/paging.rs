//! The kernel's page tables: built once at boot, replacing the boot tables.
//!
//! What they map (see `mem::layout`):
//! - the kernel image at `KERNEL_VMA + phys`, 4 KiB pages, W^X: text read-execute, rodata
//!   read-only no-execute, data and bss read-write no-execute;
//! - a direct map of every RAM region at `PHYS_OFFSET + phys`, 2 MiB pages, no-execute;
//! - kernel stacks, each under an unmapped guard page.
//!
//! Nothing else: the boot identity map is gone once [`init`] returns, so a stray physical
//! address used as a pointer faults. Kernel mappings are global (they survive CR3 switches
//! between address spaces).

use crate::boot::pvh::MemRegion;
use crate::lock::Lock;
use crate::mem::frames::Frame;
use crate::mem::layout::{BOOT_IDENTITY_LIMIT, KERNEL_VMA, KSTACKS_BASE, KSTACKS_SIZE, PHYS_MAP_MAX, PHYS_OFFSET};
use crate::mem::{KernelStack, FRAMES};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{MapToError, Translate, TranslateResult};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

const PAGE: u64 = abi::PAGE_SIZE as u64;
const HUGE: u64 = 2 << 20;

/// Most pages one kernel stack may have; each stack slot is this plus its guard page.
pub const MAX_STACK_PAGES: u64 = 15;
const STACK_SLOT: u64 = (MAX_STACK_PAGES + 1) * PAGE;

static KERNEL_SPACE: Lock<Option<OffsetPageTable<'static>>> = Lock::new("KERNEL_SPACE", None);
static NEXT_STACK_SLOT: AtomicU64 = AtomicU64::new(0);
/// Freed stack slots, reused before new ones are taken.
static FREE_STACK_SLOTS: Lock<([u32; 256], usize)> = Lock::new("FREE_STACK_SLOTS", ([0; 256], 0));
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

/// Physical address of the kernel's PML4. Its upper half is shared by every address
/// space; it never changes after boot (the PML4 slots the kernel uses all exist by then).
pub fn kernel_root() -> u64 {
    KERNEL_ROOT.load(Ordering::Relaxed)
}

/// Hands the global frame allocator to the `x86_64` mapper for page-table frames.
/// `limit` bounds the frames it may return (the boot identity map before `init` switches).
pub(super) struct TableFrames {
    pub(super) limit: u64,
}

// SAFETY: every frame returned comes from the kernel frame allocator, is unused, and is
// below `limit`, so the mapper can reach it through its offset while building tables.
unsafe impl FrameAllocator<Size4KiB> for TableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let f = FRAMES.lock().alloc()?;
        // Boot-time: `init` relies on the allocator handing out the lowest frames first.
        // After boot the limit is PHYS_MAP_MAX, which every managed frame is below (the
        // const assertion after this impl).
        assert!(f.addr() < self.limit, "page-table frame {:#x} out of reach of the boot identity map", f.addr());
        Some(PhysFrame::containing_address(PhysAddr::new(f.addr())))
    }
}

// Every frame the allocator manages is in the direct map, so `TableFrames` with limit
// PHYS_MAP_MAX never fails its check.
const _: () =
    assert!(crate::mem::frames::FrameAllocator::<{ crate::mem::FRAME_WORDS }>::CAPACITY_BYTES <= PHYS_MAP_MAX);

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __bss_end: u8;
}

/// The kernel image's sections as (virtual start, virtual end, flags).
fn kernel_sections() -> [(u64, u64, F); 3] {
    let addr = |s: *const u8| s as u64;
    let g = F::PRESENT | F::GLOBAL;
    [
        (addr(&raw const __text_start), addr(&raw const __text_end), g),
        (addr(&raw const __rodata_start), addr(&raw const __rodata_end), g | F::NO_EXECUTE),
        (addr(&raw const __data_start), addr(&raw const __bss_end), g | F::WRITABLE | F::NO_EXECUTE),
    ]
}

/// Physical end of the kernel image (everything the frame allocator must not hand out).
pub fn kernel_phys_end() -> u64 {
    kernel_sections()[2].1 - KERNEL_VMA
}

/// What `init` set up, for the boot banner.
pub struct PagingSummary {
    pub direct_map_bytes: u64,
    pub table_frames: usize,
}

/// Builds the kernel's page tables and switches to them.
///
/// Runs on the boot tables, whose identity map of the first GiB is how it reaches the
/// frames it fills in; the frame allocator hands out lowest frames first, and
/// `TableFrames` checks each against that limit.
pub fn init(regions: &[MemRegion]) -> PagingSummary {
    let before = FRAMES.lock().free_count();
    // Boot-time: a kernel that cannot build its own page tables cannot boot; say so.
    let root = FRAMES.lock().alloc().expect("no memory for the kernel page tables");
    assert!(root.addr() < BOOT_IDENTITY_LIMIT);
    // SAFETY: `root` is a fresh frame, identity-mapped by the boot tables, referenced by
    // nothing else; zeroing it makes it a valid empty PML4.
    let pml4 = unsafe { &mut *(root.addr() as *mut PageTable) };
    pml4.zero();
    // SAFETY: while the boot tables are live, physical address p is mapped at virtual p
    // for p < 1 GiB, and `TableFrames` only returns frames below that.
    let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(0)) };
    let mut alloc = TableFrames { limit: BOOT_IDENTITY_LIMIT };

    let mut direct_map_bytes = 0;
    for r in regions.iter().filter(|r| r.is_ram()) {
        // Whole 2 MiB pages around each RAM region (the first one also covers the legacy
        // hole under 1 MiB; it is mapped, never allocated from).
        let start = r.base & !(HUGE - 1);
        let end = r.end().min(PHYS_MAP_MAX).next_multiple_of(HUGE);
        for phys in (start..end).step_by(HUGE as usize) {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(PHYS_OFFSET + phys));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys));
            let flags = F::PRESENT | F::WRITABLE | F::NO_EXECUTE | F::GLOBAL;
            // SAFETY: maps RAM into the direct-map region, which nothing else uses.
            match unsafe { mapper.map_to(page, frame, flags, &mut alloc) } {
                Ok(flush) => {
                    flush.ignore(); // the whole table is loaded fresh below
                    direct_map_bytes += HUGE;
                }
                // Adjacent or overlapping regions share a 2 MiB page.
                Err(MapToError::PageAlreadyMapped(_)) => {}
                Err(e) => panic!("cannot build the direct map: {e:?}"),
            }
        }
    }

    for (start, end, flags) in kernel_sections() {
        for virt in (start..end).step_by(PAGE as usize) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
            let frame = PhysFrame::containing_address(PhysAddr::new(virt - KERNEL_VMA));
            // SAFETY: maps the kernel image where it is linked, with the permissions of its
            // section; the image's frames are reserved from the allocator.
            unsafe { mapper.map_to(page, frame, flags, &mut alloc) }
                .unwrap_or_else(|e| panic!("cannot map the kernel image at {virt:#x}: {e:?}"))
                .ignore();
        }
    }

    let root_frame = PhysFrame::containing_address(PhysAddr::new(root.addr()));
    // SAFETY: the new tables map everything the kernel touches from here on: its image
    // (including this code, the boot stack in .bss and all statics) and the direct map.
    // Loading CR3 flushes the non-global TLB entries of the boot tables.
    unsafe { Cr3::write(root_frame, Cr3Flags::empty()) };

    KERNEL_ROOT.store(root.addr(), Ordering::Relaxed);
    // SAFETY: the direct map now covers the root table's frame.
    let pml4 = unsafe { &mut *((PHYS_OFFSET + root.addr()) as *mut PageTable) };
    // SAFETY: the tables are reachable at `PHYS_OFFSET + phys`, and this is the only
    // mapper of them, kept under a lock.
    *KERNEL_SPACE.lock() = Some(unsafe { OffsetPageTable::new(pml4, VirtAddr::new(PHYS_OFFSET)) });
    PagingSummary { direct_map_bytes, table_frames: before - FRAMES.lock().free_count() }
}

/// The kernel-virtual address at which physical address `phys` can be accessed.
pub fn phys_to_virt(phys: u64) -> u64 {
    debug_assert!(phys < PHYS_MAP_MAX);
    PHYS_OFFSET + phys
}

/// Where `virt` is mapped in the kernel's tables, and with which flags.
pub fn translate(virt: u64) -> Option<(u64, F)> {
    let space = KERNEL_SPACE.lock();
    match space.as_ref()?.translate(VirtAddr::new_truncate(virt)) {
        TranslateResult::Mapped { frame, offset, flags } => Some((frame.start_address().as_u64() + offset, flags)),
        _ => None,
    }
}

/// Allocates and maps a zeroed kernel stack of `pages` pages with a guard page below it.
/// On failure nothing stays allocated.
pub fn alloc_stack(pages: u64) -> Result<KernelStack, abi::Error> {
    // Invariant: callers pass constants (KERNEL_STACK_PAGES, IST_STACK_PAGES, 2).
    assert!((1..=MAX_STACK_PAGES).contains(&pages));
    let reused = {
        let mut free = FREE_STACK_SLOTS.lock();
        (free.1 > 0).then(|| {
            free.1 -= 1;
            free.0[free.1] as u64
        })
    };
    let slot = match reused {
        Some(s) => s,
        None => NEXT_STACK_SLOT.fetch_add(1, Ordering::Relaxed),
    };
    if slot >= KSTACKS_SIZE / STACK_SLOT {
        return Err(abi::Error::OutOfMemory);
    }
    let top = KSTACKS_BASE + (slot + 1) * STACK_SLOT;
    // SAFETY: the slot was handed out once (fresh, or back from `free_stack`, whose caller
    // gave up its only `KernelStack`), and its pages are mapped below, or the stack is
    // unmapped and dropped on failure.
    let stack = unsafe { KernelStack::from_raw(top - pages * PAGE, top) };
    let mut space = KERNEL_SPACE.lock();
    // Invariant: `init` filled KERNEL_SPACE before any stack exists.
    let mapper = space.as_mut().expect("paging not initialised");
    for virt in (stack.bottom()..top).step_by(PAGE as usize) {
        if let Err(e) = map_stack_page(mapper, virt) {
            unmap_stack_pages(mapper, stack.bottom()..virt);
            return Err(e);
        }
    }
    Ok(stack)
}

/// Unmaps a stack from [`alloc_stack`] and frees its frames.
///
/// # Safety
/// `stack` came from [`alloc_stack`], and nothing runs on it or will again: its frames go
/// back to the allocator and its addresses to the next stack.
pub unsafe fn free_stack(stack: KernelStack) {
    let mut space = KERNEL_SPACE.lock();
    // Invariant: `init` filled KERNEL_SPACE before any stack exists.
    let mapper = space.as_mut().expect("paging not initialised");
    unmap_stack_pages(mapper, stack.bottom()..stack.top());
    let slot = (stack.top() - KSTACKS_BASE) / STACK_SLOT - 1;
    let mut free = FREE_STACK_SLOTS.lock();
    if free.1 < free.0.len() {
        let n = free.1;
        free.0[n] = slot as u32;
        free.1 += 1;
    } // else the slot's virtual range is simply not reused: nothing physical is lost.
}

fn map_stack_page(mapper: &mut OffsetPageTable<'static>, virt: u64) -> Result<(), abi::Error> {
    let frame = FRAMES.lock().alloc().ok_or(abi::Error::OutOfMemory)?;
    zero_frame(frame);
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
    let flags = F::PRESENT | F::WRITABLE | F::NO_EXECUTE | F::GLOBAL;
    let pf = PhysFrame::containing_address(PhysAddr::new(frame.addr()));
    // SAFETY: `virt` lies in a stack slot handed out once, which nothing else maps.
    match unsafe { mapper.map_to(page, pf, flags, &mut TableFrames { limit: PHYS_MAP_MAX }) } {
        Ok(flush) => {
            flush.flush();
            Ok(())
        }
        Err(_) => {
            free_frame(frame);
            Err(abi::Error::OutOfMemory)
        }
    }
}

fn unmap_stack_pages(mapper: &mut OffsetPageTable<'static>, range: core::ops::Range<u64>) {
    for virt in range.step_by(PAGE as usize) {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        if let Ok((frame, flush)) = mapper.unmap(page) {
            flush.flush();
            // Invariant: a PhysFrame start is page-aligned by construction.
            free_frame(Frame::from_addr(frame.start_address().as_u64()).expect("frames are page-aligned"));
        }
    }
}

/// Invariant: `f` is a stack frame this module took from FRAMES: a failure is a kernel
/// accounting bug that no user action can cause.
fn free_frame(f: Frame) {
    FRAMES.lock().free(f).unwrap_or_else(|e| panic!("frame accounting broken: {e:?}"));
}

/// Whether `addr` lies in the kernel-stack region. Only stacks are mapped there, so a
/// fault at such an address hit a guard page or ran past one: a kernel stack overflow.
pub fn in_stack_region(addr: u64) -> bool {
    (KSTACKS_BASE..KSTACKS_BASE + KSTACKS_SIZE).contains(&addr)
}

fn zero_frame(f: Frame) {
    // SAFETY: the frame is freshly allocated (no other user) and reachable in the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(f.addr()) as *mut u8, 0, PAGE as usize) };
}
