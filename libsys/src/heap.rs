//! The global allocator: a free-list heap at the bottom of libsys's region, grown with
//! `new_pages` when it runs out.
//!
//! The lock yields the CPU instead of spinning, so a thread preempted while holding it
//! does not make the others burn their time slices.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;

const PAGE: usize = abi::PAGE_SIZE;
/// Start of the heap.
const HEAP_BASE: usize = abi::layout::LIBSYS_REGION.0 as usize;
/// Largest the heap may grow (64 GiB of address space, far beyond any task's quota).
const HEAP_MAX: usize = 64 << 30;
/// Smallest growth step.
const GROW_MIN: usize = 64 * 1024;

struct Grower {
    heap: Heap,
    size: usize,
}

struct Locked(spin::Mutex<Grower>);

impl Locked {
    fn lock(&self) -> spin::MutexGuard<'_, Grower> {
        loop {
            if let Some(g) = self.0.try_lock() {
                return g;
            }
            crate::raw::yield_to(-1);
        }
    }
}

impl Grower {
    /// Maps at least `need` more bytes at the end of the heap.
    fn grow(&mut self, need: usize) -> bool {
        let by = need.max(GROW_MIN).next_multiple_of(PAGE);
        if self.size + by > HEAP_MAX || by > u32::MAX as usize {
            return false;
        }
        let end = (HEAP_BASE + self.size) as *mut u8;
        // SAFETY: the range just past the heap is libsys's own, used by nothing else.
        if unsafe { crate::raw::new_pages(end, by as u32) } < 0 {
            return false;
        }
        if self.size == 0 {
            // SAFETY: `by` bytes at HEAP_BASE were just mapped for the heap alone.
            unsafe { self.heap.init(end, by) };
        } else {
            // SAFETY: the new pages directly follow the heap's current end.
            unsafe { self.heap.extend(by) };
        }
        self.size += by;
        true
    }
}

// SAFETY: the allocator hands out disjoint blocks of heap memory with the requested layout,
// under a lock, and takes back only what it handed out (`dealloc` gets the same layout).
unsafe impl GlobalAlloc for Locked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut g = self.lock();
        loop {
            if let Ok(p) = g.heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
            if !g.grow(layout.size() + layout.align()) {
                return core::ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc's contract).
            unsafe { self.lock().heap.deallocate(p, layout) };
        }
    }
}

#[cfg(target_os = "none")]
#[global_allocator]
static HEAP: Locked = Locked(spin::Mutex::new(Grower { heap: Heap::empty(), size: 0 }));
