//! Frame-allocator cases: on the real allocator, over the real memory map.

use super::{ensure, Case};
use crate::arch::paging::{self, phys_to_virt};
use crate::mem::frames::{Frame, FreeError};
use crate::mem::layout::KERNEL_PHYS;
use crate::mem::FRAMES;

const PAGE: u64 = abi::PAGE_SIZE as u64;

pub fn alloc_free_restores_count(t: &mut Case) {
    const N: usize = 1000;
    let before = FRAMES.lock().free_count();
    let mut held = [Frame::from_addr(0).unwrap(); N];
    for slot in held.iter_mut() {
        let f = FRAMES.lock().alloc();
        ensure!(t, f.is_some(), "allocation failed with {} frames free", FRAMES.lock().free_count());
        *slot = f.unwrap();
        // Tag each frame with its own address through the direct map.
        // SAFETY: the frame was just allocated to this test and is mapped in the direct map.
        unsafe { (phys_to_virt(slot.addr()) as *mut u64).write(slot.addr() ^ 0x5a5a) };
    }
    ensure!(t, FRAMES.lock().free_count() == before - N, "count after {N} allocations");
    for f in held {
        ensure!(t, f.addr() % PAGE == 0, "frame {:#x} not page-aligned", f.addr());
        // SAFETY: still allocated to this test.
        let tag = unsafe { (phys_to_virt(f.addr()) as *const u64).read() };
        ensure!(t, tag == f.addr() ^ 0x5a5a, "frame {:#x} was overwritten: two allocations alias", f.addr());
    }
    for f in held {
        ensure!(t, FRAMES.lock().free(f).is_ok(), "free {:#x}", f.addr());
    }
    let after = FRAMES.lock().free_count();
    ensure!(t, after == before, "free count {after} after freeing everything, was {before}");
}

pub fn double_free_is_detected(t: &mut Case) {
    let f = FRAMES.lock().alloc().expect("a frame");
    ensure!(t, FRAMES.lock().free(f).is_ok(), "first free");
    let second = FRAMES.lock().free(f);
    ensure!(t, second == Err(FreeError::DoubleFree(f)), "second free returned {second:?}");
    let kernel = Frame::from_addr(KERNEL_PHYS).unwrap();
    let r = FRAMES.lock().free(kernel);
    ensure!(t, r == Err(FreeError::NotManaged(kernel)), "freeing a kernel-image frame returned {r:?}");
}

/// Allocates every free frame (threading them into a list through the direct map, since
/// there is no heap to hold them), checks none is reserved, then frees them all.
pub fn exhaustion_skips_reserved_and_recovers(t: &mut Case) {
    let before = FRAMES.lock().free_count();
    let kernel_end = paging::kernel_phys_end();
    let modules = t.boot.modules();
    let mut head = 0u64; // physical address of the last frame, 0 = empty list
    let mut count = 0usize;
    let mut bad = None;
    while let Some(f) = FRAMES.lock().alloc() {
        let a = f.addr();
        let in_module = modules.iter().any(|m| a < m.base + m.size && m.base < a + PAGE);
        if a < kernel_end || in_module {
            bad.get_or_insert(a);
        }
        // SAFETY: `f` is now allocated to this test; the direct map reaches it.
        unsafe { (phys_to_virt(a) as *mut u64).write(head) };
        head = a;
        count += 1;
    }
    let exhausted = FRAMES.lock().free_count();
    while head != 0 {
        // SAFETY: every frame on the list is allocated to this test and holds the link.
        let next = unsafe { (phys_to_virt(head) as *const u64).read() };
        FRAMES.lock().free(Frame::from_addr(head).unwrap()).expect("freeing an allocated frame");
        head = next;
    }
    ensure!(t, bad.is_none(), "handed out reserved frame {:#x}", bad.unwrap_or(0));
    ensure!(t, count == before, "allocated {count} frames, {before} were free");
    ensure!(t, exhausted == 0, "{exhausted} frames free after exhaustion");
    let after = FRAMES.lock().free_count();
    ensure!(t, after == before, "free count {after} after recovery, was {before}");
}
