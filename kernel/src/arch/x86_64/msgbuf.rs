//! Kernel buffers for asynchronous IPC messages: one frame each, reached through the
//! direct map. Every buffer is a frame taken from the frame allocator and given back, so
//! buffered messages show up in the free-frame count like any other kernel memory.

use super::paging::phys_to_virt;
use crate::ipc::mailbox::{Buffer, MsgBuffers};
use crate::mem::frames::Frame;
use crate::mem::FRAMES;

pub struct FrameBuffers;

impl MsgBuffers for FrameBuffers {
    fn alloc(&mut self) -> Option<Buffer> {
        let frame = FRAMES.lock().alloc()?;
        // Frames below the first MiB are never managed, so a frame's address is not 0.
        let handle = core::num::NonZeroU64::new(frame.addr())?;
        // SAFETY: a frame just allocated, which this pool now owns; no other `Buffer`
        // names it until `free` takes this one back.
        Some(unsafe { Buffer::from_raw(handle) })
    }

    fn free(&mut self, buffer: Buffer) {
        // Invariant: every buffer is a frame from FRAMES (`alloc`), so it is aligned and
        // allocated; a failure here is a kernel accounting bug, not a user action.
        let f = Frame::from_addr(buffer.handle()).expect("buffers are frames");
        FRAMES.lock().free(f).unwrap_or_else(|e| panic!("message buffer accounting broken: {e:?}"));
    }

    fn bytes(&mut self, buffer: &Buffer) -> &mut [u8] {
        // SAFETY: a `Buffer` exists only between this pool's `alloc` and `free` (its
        // constructor is unsafe, and `free` consumes it), so its handle is an allocated
        // frame, reachable in the direct map, of `SHORT_MAX` <= one page bytes; the
        // returned slice borrows `self` mutably, so no two are live at once.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(buffer.handle()) as *mut u8, abi::SHORT_MAX) }
    }
}
