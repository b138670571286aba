//! Kernel buffers for asynchronous IPC messages: one frame each, reached through the
//! direct map. Every buffer is a frame taken from the frame allocator and given back, so
//! buffered messages show up in the free-frame count like any other kernel memory.

use super::paging::phys_to_virt;
use crate::ipc::mailbox::MsgBuffers;
use crate::mem::frames::Frame;
use crate::mem::FRAMES;

pub struct FrameBuffers;

impl MsgBuffers for FrameBuffers {
    fn alloc(&mut self) -> Option<u64> {
        FRAMES.lock().alloc().map(Frame::addr)
    }

    fn free(&mut self, handle: u64) {
        // Invariant: every frame handed back came from FRAMES, so it is aligned and
        // allocated; a failure here is a kernel accounting bug, not a user action.
        let f = Frame::from_addr(handle).expect("buffers are frames");
        FRAMES.lock().free(f).unwrap_or_else(|e| panic!("message buffer accounting broken: {e:?}"));
    }

    fn bytes(&mut self, handle: u64) -> &mut [u8] {
        // SAFETY: `handle` is a frame allocated by `alloc` and not yet freed; it belongs to
        // one buffered message, whose owner holds `&mut FrameBuffers` while using it.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(handle) as *mut u8, abi::SHORT_MAX) }
    }
}
