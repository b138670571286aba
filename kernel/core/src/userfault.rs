//! What the kernel can tell about a user fault beyond the CPU's word: the page-fault error
//! code in words, whether a page fault is a stack overflow, and the chain of return
//! addresses (frame pointers) at the fault.
//!
//! Everything here reads the faulting task's memory through [`UserMemory`], so a hostile or
//! corrupt stack can only make the report shorter: every read is checked, the walk is
//! bounded, and each frame must lie above the one before it.

use crate::umem::UserMemory;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Most frames a backtrace shows.
pub const MAX_FRAMES: usize = 16;

/// Whether a not-present page fault at `addr` with the stack pointer at `rsp` is a stack
/// overflow: the faulting page is unmapped, the page right above it is mapped (the lowest
/// page of a stack), and the stack pointer is within a page of the fault (a push, a call,
/// or a frame just allocated below the guard).
pub fn is_stack_overflow(mem: &impl UserMemory, addr: u64, rsp: u64) -> bool {
    let page = addr & !(PAGE - 1);
    if !abi::layout::is_user_range(page, 2 * PAGE) {
        return false;
    }
    let near = rsp.abs_diff(addr) <= PAGE;
    near && mem.check(page, 1, false).is_err() && mem.check(page + PAGE, 1, true).is_ok()
}

/// The return addresses on the frame-pointer chain starting at `rbp`, innermost first, into
/// `out`; returns how many. Stops at the first frame that is unreadable, misaligned, not
/// above the previous one, or whose return address is not user code (below the program
/// images' base, or not user space at all). Programs built without frame pointers give a
/// short or empty chain, never a wrong one past that check.
pub fn backtrace(mem: &impl UserMemory, mut rbp: u64, out: &mut [u64; MAX_FRAMES]) -> usize {
    let mut n = 0;
    while n < MAX_FRAMES {
        if !rbp.is_multiple_of(8) || !abi::layout::is_user_range(rbp, 16) {
            break;
        }
        let mut frame = [0u8; 16];
        if mem.copy_in(rbp, &mut frame).is_err() {
            break;
        }
        let next = u64::from_le_bytes(frame[..8].try_into().unwrap_or_default());
        let ret = u64::from_le_bytes(frame[8..].try_into().unwrap_or_default());
        if ret < abi::layout::IMAGE_BASE || !abi::layout::is_user_range(ret, 1) {
            break;
        }
        out[n] = ret;
        n += 1;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    n
}

/// A page-fault error code, printed as words.
pub struct PageFaultCode(pub u64);

impl core::fmt::Display for PageFaultCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = self.0;
        f.write_str(if c & 1 != 0 { "protection violation" } else { "page not present" })?;
        f.write_str(if c & 0x10 != 0 {
            ", instruction fetch"
        } else if c & 2 != 0 {
            ", write"
        } else {
            ", read"
        })?;
        f.write_str(if c & 4 != 0 { ", from user mode" } else { ", from kernel mode" })?;
        if c & 8 != 0 {
            f.write_str(", reserved bit set in a page-table entry")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::umem::fake::Page;
    use core::ptr::NonNull;
    use std::collections::BTreeMap;

    /// Pages of user memory: page address -> (bytes, writable).
    #[derive(Default)]
    struct Mem(BTreeMap<u64, (Page, bool)>);

    impl Mem {
        fn map(&mut self, page: u64, writable: bool) {
            self.0.insert(page, (Page::filled(0), writable));
        }
        fn put(&mut self, addr: u64, v: u64) {
            let (bytes, _) = &self.0[&(addr & !(PAGE - 1))];
            let off = (addr % PAGE) as usize;
            for (i, b) in v.to_le_bytes().into_iter().enumerate() {
                bytes.set(off + i, b);
            }
        }
    }

    // SAFETY: a page's bytes (page-aligned, `Page`) live as long as the map holds them, which
    // only `&mut self` changes, and are reached only through raw addresses (`Page`).
    unsafe impl UserMemory for Mem {
        fn space_id(&self) -> u32 {
            1
        }
        fn page_bytes(&self, page: u64) -> Option<(NonNull<u8>, bool)> {
            self.0.get(&page).map(|(p, w)| (p.bytes(), *w))
        }
    }

    const STACK: u64 = 0x7000_0001_0000;
    const CODE: u64 = abi::layout::IMAGE_BASE + 0x1000;

    #[test]
    fn an_overflow_is_a_fault_just_below_a_stack() {
        let mut m = Mem::default();
        m.map(STACK, true);
        m.map(STACK + PAGE, true);
        let guard = STACK - PAGE;
        assert!(is_stack_overflow(&m, guard + PAGE - 8, STACK - 8), "a push into the guard");
        assert!(is_stack_overflow(&m, guard + 0x10, guard + 0x8), "a frame allocated below");
        assert!(!is_stack_overflow(&m, 0, STACK + 0x100), "a null pointer is not");
        assert!(!is_stack_overflow(&m, guard + 8, STACK + 3 * PAGE), "far from the stack pointer");
        assert!(!is_stack_overflow(&m, STACK + 2 * PAGE + 8, STACK + 2 * PAGE), "above the stack, nothing mapped");
    }

    #[test]
    fn the_chain_is_followed_upwards_and_stops_at_anything_odd() {
        let mut m = Mem::default();
        m.map(STACK, true);
        // Three frames: STACK+0x10 -> STACK+0x40 -> STACK+0x80 -> 0 (end).
        for (at, next, ret) in [(0x10, 0x40, CODE + 1), (0x40, 0x80, CODE + 2), (0x80, 0, CODE + 3)] {
            m.put(STACK + at, if next == 0 { 0 } else { STACK + next });
            m.put(STACK + at + 8, ret);
        }
        let mut out = [0; MAX_FRAMES];
        let n = backtrace(&m, STACK + 0x10, &mut out);
        assert_eq!(&out[..n], &[CODE + 1, CODE + 2, CODE + 3]);
        // A loop (a frame pointing at itself or below) ends the walk.
        m.put(STACK + 0x80, STACK + 0x10);
        assert_eq!(backtrace(&m, STACK + 0x10, &mut out), 3);
        // Garbage: misaligned, unmapped, kernel, or a return address that is not code.
        assert_eq!(backtrace(&m, STACK + 0x11, &mut out), 0);
        assert_eq!(backtrace(&m, 0x5000_0000, &mut out), 0);
        assert_eq!(backtrace(&m, 0xffff_8000_0000_0000, &mut out), 0);
        m.put(STACK + 0x18, 0x1000);
        assert_eq!(backtrace(&m, STACK + 0x10, &mut out), 0);
    }

    #[test]
    fn a_long_chain_is_cut_at_the_limit() {
        let mut m = Mem::default();
        m.map(STACK, true);
        for i in 0..64u64 {
            m.put(STACK + i * 32, STACK + (i + 1) * 32);
            m.put(STACK + i * 32 + 8, CODE + i);
        }
        let mut out = [0; MAX_FRAMES];
        assert_eq!(backtrace(&m, STACK, &mut out), MAX_FRAMES);
    }
}
