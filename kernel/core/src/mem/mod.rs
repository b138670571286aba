//! Physical and virtual memory: the address-space layout, usable-RAM computation, the
//! frame allocator, and the bookkeeping of user page tables (which tables exist, what they
//! cost their task). All portable; the code that touches real page tables is in `arch`.
pub mod frames;
pub mod layout;
pub mod mapcount;
pub mod pagemap;
pub mod regions;
pub mod tables;
pub mod usable;

/// A half-open range of physical addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    pub const fn new(start: u64, end: u64) -> Self {
        PhysRange { start, end }
    }
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A kernel stack: `[bottom, top)` is mapped read-write; the page below `bottom` is not.
/// (Allocated by the architecture; recorded here so portable code can hold one.)
///
/// Not `Copy` or `Clone`, with private fields: one value stands for one stack, made only
/// by the allocator (`from_raw`), so it can be freed once, by giving it back.
#[derive(Debug, PartialEq, Eq)]
pub struct KernelStack {
    bottom: u64,
    top: u64,
}

impl KernelStack {
    /// Where `top` lies in the record, for the direct switch's assembly (`sys::fast_layout`).
    pub(crate) const AT_TOP: usize = core::mem::offset_of!(KernelStack, top);
    pub(crate) const TOP_BYTES: usize = crate::sys::fast_layout::width(|k: &KernelStack| &k.top);

    /// No stack (an unused thread slot's).
    pub const EMPTY: KernelStack = KernelStack { bottom: 0, top: 0 };

    /// The stack `[bottom, top)`.
    ///
    /// # Safety
    /// `[bottom, top)` is a kernel stack the caller allocated (mapped read-write, with an
    /// unmapped guard page below) and hands over: no other `KernelStack` names it.
    pub const unsafe fn from_raw(bottom: u64, top: u64) -> Self {
        KernelStack { bottom, top }
    }

    /// The lowest address of the stack.
    pub fn bottom(&self) -> u64 {
        self.bottom
    }

    /// The address just above the stack (its top holds the thread's saved user frame).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// The unmapped guard page under the stack.
    pub fn guard(&self) -> u64 {
        self.bottom - abi::PAGE_SIZE as u64
    }
}

/// Frames the kernel manages: physical memory below 4 GiB (QEMU puts guest RAM up to about
/// 3 GiB there; RAM above 4 GiB is reported at boot and left unused).
pub const FRAME_WORDS: usize = ((4u64 << 30) / abi::PAGE_SIZE as u64 / 64) as usize;

/// The kernel's frame allocator.
pub static FRAMES: crate::lock::Lock<frames::FrameAllocator<FRAME_WORDS>> =
    crate::lock::Lock::new("FRAMES", frames::FrameAllocator::new());

/// The map-count table for every frame the kernel manages.
pub type UserMapCounts = mapcount::MapCounts<{ FRAME_WORDS * 64 }>;

/// How many user mappings each frame has (docs/ipc.md, "Page ownership"). Given to each
/// address space when it is made; nothing else reaches it.
pub static MAP_COUNTS: UserMapCounts = mapcount::MapCounts::new();

// A frame's count is found by its number modulo the table's length (no bounds check), so
// the table must cover exactly the frames `FRAMES` can hand out: then no two frames the
// kernel maps share a count. Only frames from `FRAMES` are ever mapped into user space (no
// call maps device memory or a physical address a program names); a future device-memory
// grant must not count its pages here.
const _: () = assert!(
    (FRAME_WORDS * 64) as u64 * abi::PAGE_SIZE as u64 == frames::FrameAllocator::<FRAME_WORDS>::CAPACITY_BYTES,
    "the map-count table covers exactly the frames FRAMES hands out"
);
