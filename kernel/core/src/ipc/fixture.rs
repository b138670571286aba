//! A small world for IPC tests on the host: tasks with fake address spaces, threads with
//! their own send and receive buffers, and helpers that make a thread current and call
//! into the core as the system-call layer would.

use super::mailbox::VecBuffers;
use super::{RecvArgs, SendArgs};
use crate::mem::pagemap::{Mapped, PageMap, Transfer};
use crate::mem::regions::Regions;
use crate::mem::tables::fake::FakeTables;
use crate::mem::tables::{PageTables, PRESENT};
use crate::mem::KernelStack;
use crate::task::{Core, State, TaskId, ThreadSlot, Tid};
use crate::umem::fake::Page;
use crate::umem::UserMemory;
use abi::Error;
use core::ptr::NonNull;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// How an IPC call ended for its caller, as the tests look at it: returned now with `rax`
/// and `rdx` (0 if not set; the sender word of a receive into registers), or blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(u64, u64),
    Blocked,
}

/// The fake machine's physical memory: every fake frame, its bytes and its map count (the
/// machine's `MAP_COUNTS`). One table per test world, handed to each space made in it
/// (cloning shares it), so spaces that pass pages between them see the same frames and
/// nothing is hidden in a global or a thread-local.
#[derive(Clone, Default)]
pub struct FakeFrames(Rc<RefCell<FrameTable>>);

#[derive(Default)]
struct FrameTable {
    frames: BTreeMap<u64, (Page, u32)>,
    /// The last frame number handed out (0 is never one).
    last: u64,
}

/// Most mappings of one fake frame (to test the share limit).
pub const FAKE_MAX_MAPPINGS: u32 = 1000;

impl FakeFrames {
    /// Live fake frames (leak checks).
    pub fn live(&self) -> usize {
        self.0.borrow().frames.len()
    }

    /// How many mappings fake frame `frame` has.
    pub fn map_count(&self, frame: u64) -> u32 {
        self.0.borrow().frames.get(&frame).map_or(0, |e| e.1)
    }

    /// A new zeroed frame, mapped once.
    fn fresh(&self) -> u64 {
        let mut t = self.0.borrow_mut();
        t.last += 1;
        let frame = t.last;
        t.frames.insert(frame, (Page::filled(0), 1));
        frame
    }

    fn add_mapping(&self, frame: u64) -> Result<(), Error> {
        if self.map_count(frame) >= FAKE_MAX_MAPPINGS {
            return Err(Error::OutOfMemory);
        }
        self.0.borrow_mut().frames.get_mut(&frame).unwrap().1 += 1;
        Ok(())
    }

    fn release(&self, frame: u64) {
        let mut t = self.0.borrow_mut();
        let e = t.frames.get_mut(&frame).expect("a live frame");
        e.1 -= 1;
        if e.1 == 0 {
            t.frames.remove(&frame);
        }
    }

    /// The bytes of live fake frame `frame`: they stay where they are until it is freed.
    fn bytes(&self, frame: u64) -> Option<NonNull<u8>> {
        self.0.borrow().frames.get(&frame).map(|(p, _)| p.bytes())
    }
}

/// A fake address space: pages mapping shared fake frames, each writable or not, with
/// real page-table bookkeeping (`mem::tables`) over fake table frames, so that tests see
/// which tables exist and what they cost.
pub struct Mem {
    pub pages: BTreeMap<u64, Mapped>,
    /// Distinct for every fake space made (`UserMemory::space_id`).
    id: u32,
    /// User pages looked up so far (`page_bytes` calls): the walks a machine would do.
    page_lookups: std::cell::Cell<u64>,
    regions: Box<Regions>,
    tables: PageTables,
    table_frames: FakeTables,
    /// The frames of the world this space belongs to.
    frames: FakeFrames,
    /// `PageMap::generation`.
    generation: u64,
    /// `PageMap::growth`.
    growth: u64,
    /// How many times `for_each_page` walked this space (checks and reservations).
    pub walks: std::cell::Cell<u64>,
}

impl Default for Mem {
    /// A space with a fake memory of its own (for tests of one space alone).
    fn default() -> Self {
        Mem::new(&FakeFrames::default())
    }
}

impl Mem {
    /// A space over the fake memory `frames`.
    pub fn new(frames: &FakeFrames) -> Self {
        let mut table_frames = FakeTables::default();
        let tables = PageTables::new(table_frames.root(), abi::limits::KERNEL_FRAMES as u64);
        static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        Mem {
            pages: BTreeMap::new(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            page_lookups: std::cell::Cell::new(0),
            regions: Box::new(Regions::new(1 << 20)),
            tables,
            table_frames,
            frames: frames.clone(),
            generation: 0,
            growth: 0,
            walks: std::cell::Cell::new(0),
        }
    }

    /// Maps `pages` fresh zeroed frames at `addr`.
    pub fn map(&mut self, addr: u64, pages: u64, writable: bool) {
        self.growth += 1;
        for p in 0..pages {
            let frame = self.frames.fresh();
            self.pages.insert(addr + p * PAGE, Mapped { frame, writable });
            self.tables.prepare(&mut self.table_frames, addr + p * PAGE, 1).expect("tables for a test mapping");
            self.tables.set_leaf(&mut self.table_frames, addr + p * PAGE, frame << 12 | PRESENT);
        }
    }

    /// Maps live `frame` again at each of `pages` pages from `addr` (one more mapping each),
    /// as repeated shares to oneself would.
    pub fn alias(&mut self, addr: u64, frame: u64, pages: u64) {
        self.growth += 1;
        for p in 0..pages {
            self.frames.add_mapping(frame).expect("room for another mapping");
            let old = self.pages.insert(addr + p * PAGE, Mapped { frame, writable: true });
            assert!(old.is_none(), "alias over a mapped page");
            self.tables.prepare(&mut self.table_frames, addr + p * PAGE, 1).expect("tables for a test mapping");
            self.tables.set_leaf(&mut self.table_frames, addr + p * PAGE, frame << 12 | PRESENT);
        }
    }

    /// Unmaps the page at `addr`, dropping its frame if this was the last mapping, and
    /// tables left empty.
    pub fn unmap(&mut self, addr: u64) {
        self.generation += 1;
        if let Some(m) = self.pages.remove(&addr) {
            self.frames.release(m.frame);
            self.tables.clear_leaf(&mut self.table_frames, addr);
            self.tables.prune(&mut self.table_frames, addr, 1);
        }
    }

    /// User pages looked up in this space so far (what would be page-table walks).
    pub fn page_lookups(&self) -> u64 {
        self.page_lookups.get()
    }

    /// Page-table frames this space holds.
    pub fn table_frames(&self) -> u64 {
        self.tables.held()
    }

    /// Lowers (or raises) how many table frames this space may hold.
    pub fn set_table_limit(&mut self, n: u64) {
        self.tables.set_limit(n);
    }

    pub fn set_writable(&mut self, addr: u64, writable: bool) {
        self.generation += 1;
        self.pages.get_mut(&addr).expect("mapped").writable = writable;
    }

    /// Checks that the page tables kept beside `pages` (real `mem::tables` bookkeeping,
    /// which the batched operations work on) say the same for `[va, va + n)`.
    fn assert_tables_agree(&self, va: u64, n: u64) {
        for i in 0..n {
            let a = va + i * PAGE;
            let want = self.pages.get(&a).map_or(0, |m| m.frame << 12 | PRESENT);
            assert_eq!(self.tables.leaf(&self.table_frames, a), want, "the tables disagree at {a:#x}");
        }
    }

    fn at(&self, a: u64) -> Option<Mapped> {
        self.pages.get(&(a & !(PAGE - 1))).copied()
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        for m in std::mem::take(&mut self.pages).into_values() {
            self.frames.release(m.frame);
        }
    }
}

// SAFETY: a mapped page's frame stays in the world's frame table while any space maps it,
// and only `&mut` methods of a space unmap; its bytes are a `fake::Page` (page-aligned),
// reached only through raw addresses.
unsafe impl UserMemory for Mem {
    fn space_id(&self) -> u32 {
        self.id
    }

    fn page_bytes(&self, page: u64) -> Option<(NonNull<u8>, bool)> {
        self.page_lookups.set(self.page_lookups.get() + 1);
        let m = self.at(page)?;
        Some((self.frames.bytes(m.frame)?, m.writable))
    }
}

impl PageMap for Mem {
    fn page(&self, va: u64) -> Option<Mapped> {
        self.pages.get(&va).copied()
    }
    fn generation(&self) -> u64 {
        self.generation
    }
    fn growth(&self) -> u64 {
        self.growth
    }
    fn is_unmapped(&self, va: u64, pages: u64) -> bool {
        let unmapped = (0..pages).all(|i| !self.pages.contains_key(&(va + i * PAGE)));
        assert_eq!(self.tables.is_unmapped(&self.table_frames, va, pages), unmapped, "the tables disagree");
        unmapped
    }
    fn for_each_page(
        &self,
        va: u64,
        pages: u64,
        writable: bool,
        mut f: impl FnMut(Mapped) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.walks.set(self.walks.get() + 1);
        (0..pages).try_for_each(|i| match self.page(va + i * PAGE) {
            None => Err(Error::BadAddress),
            Some(m) if writable && !m.writable => Err(Error::NotOwner),
            Some(m) => f(m),
        })
    }
    fn prepare(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        self.tables.prepare(&mut self.table_frames, va, pages)
    }
    fn reserve_window(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        self.tables.pin(&mut self.table_frames, va, pages)
    }
    fn release_window(&mut self, va: u64, pages: u64) {
        self.tables.unpin(&mut self.table_frames, va, pages);
    }
    fn unprepare(&mut self, va: u64, pages: u64) {
        self.tables.prune(&mut self.table_frames, va, pages);
    }
    /// Page by page on `pages`, and batched (`PageTables::transfer`) on the tables beside
    /// them, which must then agree.
    fn transfer_from(&mut self, va: u64, src: &mut Self, src_va: u64, pages: u64, how: Transfer) {
        let moving = how == Transfer::Move;
        for i in 0..pages {
            let m = if moving { src.pages.remove(&(src_va + i * PAGE)) } else { src.page(src_va + i * PAGE) };
            let m = m.expect("a transfer of an unmapped page");
            if how == Transfer::ShareCounting {
                self.frames.add_mapping(m.frame).expect("room checked in this kernel entry");
            }
            let old = self.pages.insert(va + i * PAGE, m);
            assert!(old.is_none(), "a transfer over a mapped page");
        }
        let (st, sf) = (&mut src.tables, &mut src.table_frames);
        let (dt, df) = (&mut self.tables, &mut self.table_frames);
        PageTables::transfer(st, sf, src_va, dt, df, va, pages, PRESENT, moving, |_| {});
        src.generation += 1;
        self.growth += 1;
        self.assert_tables_agree(va, pages);
        src.assert_tables_agree(src_va, pages);
    }
    fn transfer_within(&mut self, va: u64, src_va: u64, pages: u64, how: Transfer) {
        let moving = how == Transfer::Move;
        for i in 0..pages {
            let m = if moving { self.pages.remove(&(src_va + i * PAGE)) } else { self.page(src_va + i * PAGE) };
            let m = m.expect("a transfer of an unmapped page");
            if how == Transfer::ShareCounting {
                self.frames.add_mapping(m.frame).expect("room checked in this kernel entry");
            }
            let old = self.pages.insert(va + i * PAGE, m);
            assert!(old.is_none(), "a transfer over a mapped page");
        }
        self.tables.transfer_within(&mut self.table_frames, src_va, va, pages, PRESENT, moving, |_| {});
        self.generation += 1;
        self.growth += 1;
        self.assert_tables_agree(va, pages);
        self.assert_tables_agree(src_va, pages);
    }
    fn flush(&mut self, va: u64, pages: u64) {
        self.tables.prune(&mut self.table_frames, va, pages);
    }
    fn regions(&mut self) -> &mut Regions {
        &mut self.regions
    }
    const MAX_MAPPINGS: u32 = FAKE_MAX_MAPPINGS;

    fn map_count(&self, frame: u64) -> u32 {
        self.frames.map_count(frame)
    }
    fn counts_have_room(&self, extra: u64) -> bool {
        let t = self.frames.0.borrow();
        t.frames.values().all(|&(_, n)| n as u64 + extra <= FAKE_MAX_MAPPINGS as u64)
    }
    fn add_mapping(&self, frame: u64) -> Result<(), Error> {
        self.frames.add_mapping(frame)
    }
    fn drop_reserved(&self, frame: u64) {
        let mut t = self.frames.0.borrow_mut();
        let e = t.frames.get_mut(&frame).expect("a reserved frame is live");
        assert!(e.1 > 1, "a reserved frame is still mapped by its sender");
        e.1 -= 1;
    }
}

/// Each thread's buffers, by thread slot: send buffer, receive buffer, then a page of
/// lengths (`len_short` for sending at +0, for receiving at +8, `len_long` at +16).
pub const BASE: u64 = 0x100_0000;
pub fn send_buf(t: ThreadSlot) -> u64 {
    BASE + t.index() as u64 * 3 * PAGE
}
pub fn recv_buf(t: ThreadSlot) -> u64 {
    send_buf(t) + PAGE
}
pub fn lens(t: ThreadSlot) -> u64 {
    send_buf(t) + 2 * PAGE
}

/// Each thread's long-message area (what it sends) and receive window.
pub fn long_base(t: ThreadSlot) -> u64 {
    0x2000_0000 + t.index() as u64 * 0x100_0000
}
pub fn window(t: ThreadSlot) -> u64 {
    0x4000_0000 + t.index() as u64 * 0x100_0000
}

pub struct World {
    pub core: Box<Core<Mem, VecBuffers>>,
    /// Thread slots, in creation order.
    pub threads: Vec<ThreadSlot>,
    /// The fake memory every task's space is made over.
    pub frames: FakeFrames,
}

impl World {
    /// Runs core IPC call `f` for thread `me` as the kernel would: with none of `me`'s
    /// earlier results pending (the kernel wrote them when `me` last ran; the tests may
    /// still look at them, so they are kept under what the call adds).
    fn call(
        &mut self,
        me: ThreadSlot,
        f: impl FnOnce(&mut Core<Mem, VecBuffers>, ThreadSlot) -> Result<super::Outcome, Error>,
    ) -> Result<Outcome, Error> {
        let earlier = self.core.take_results(me);
        let r = f(&mut self.core, me);
        let out = self.outcome(me, r);
        self.core.results_mut(me).keep_older(earlier);
        out
    }

    /// The caller's view of a core IPC call: its results taken out of its pending ones
    /// (the fast path's registers stay, for [`World::fast_out`]).
    pub fn outcome(&mut self, me: ThreadSlot, r: Result<super::Outcome, Error>) -> Result<Outcome, Error> {
        use abi::syscall::regs::{SECOND, VALUE};
        Ok(match r? {
            super::Outcome::Blocked => Outcome::Blocked,
            super::Outcome::Returned => {
                let ret = &mut self.core.thread_mut(me).ret;
                let value = ret.take(VALUE).expect("a returning call has a value");
                let second = match ret.fast_regs() {
                    Some((sender, _, _)) => sender,
                    None => ret.take(SECOND).unwrap_or(0),
                };
                Outcome::Done(value, second)
            }
        })
    }

    /// `layout[i]` threads in task `i`.
    pub fn new(layout: &[usize]) -> World {
        Self::build(layout, false)
    }

    /// As [`World::new`], but each task after the first is started by the one before it
    /// (its parent, which alone may `task_wait` for it).
    pub fn chain(layout: &[usize]) -> World {
        Self::build(layout, true)
    }

    fn build(layout: &[usize], chain: bool) -> World {
        let mut core = Box::new(Core::new(VecBuffers::default()));
        let mut threads = Vec::new();
        let frames = FakeFrames::default();
        let mut parent = None;
        for (i, &n) in layout.iter().enumerate() {
            let task = match parent {
                Some(p) if chain => core.spawn_task(Some(p), "t", Mem::new(&frames), abi::image::Limits::DEFAULT),
                _ => core.create_task("t", Mem::new(&frames)),
            }
            .unwrap();
            parent = Some(task);
            core.tasks[task].limits = abi::image::Limits::UNBOUNDED; // these tests probe the global bounds
            for _ in 0..n {
                let slot = core.create_thread(task, KernelStack::EMPTY).unwrap();
                core.settle_home(slot);
                let mem = core.tasks[task].space.as_mut().unwrap();
                mem.map(send_buf(slot), 3, true);
                threads.push(slot);
            }
            let _ = i;
        }
        World { core, threads, frames }
    }

    /// The current thread (the caller of a core call made directly).
    pub fn cur(&self) -> ThreadSlot {
        self.core.current().expect("a current thread")
    }

    /// The core's `ipc_send` by the current thread, with raw arguments.
    pub fn ipc_send(&mut self, a: SendArgs) -> Result<Outcome, Error> {
        let me = self.cur();
        self.call(me, |c, me| c.ipc_send(me, a))
    }

    /// The core's `ipc_recv` by the current thread, with raw arguments.
    pub fn ipc_recv(&mut self, a: RecvArgs) -> Result<Outcome, Error> {
        let me = self.cur();
        self.call(me, |c, me| c.ipc_recv(me, a))
    }

    /// The core's `ipc_reply` by the current thread, with raw arguments.
    pub fn ipc_reply(&mut self, message: u64, len: u32) -> Result<Outcome, Error> {
        let me = self.cur();
        self.call(me, |c, me| c.ipc_reply(me, message, len))
    }

    /// The core's `ipc_call_fast` by the current thread, with raw arguments.
    pub fn ipc_call_fast(&mut self, tid: u32, len: u32, words: [u64; 5], timeout: i32) -> Result<Outcome, Error> {
        let me = self.cur();
        self.call(me, |c, me| c.ipc_call_fast(me, Tid::from_raw(tid), len, words, timeout))
    }

    /// The core's `ipc_reply_wait` by the current thread, with raw arguments.
    pub fn ipc_reply_wait(&mut self, reply: Option<(u32, [u64; 5])>, timeout: i32) -> Result<Outcome, Error> {
        let me = self.cur();
        self.call(me, |c, me| c.ipc_reply_wait(me, reply, timeout))
    }

    pub fn tid(&self, t: ThreadSlot) -> u32 {
        self.core.thread(t).tid.raw()
    }

    pub fn mem(&mut self, t: ThreadSlot) -> &mut Mem {
        let task = self.core.thread(t).task;
        self.core.tasks[task].space.as_mut().unwrap()
    }

    fn put_u32(&mut self, t: ThreadSlot, at: u64, v: u32) {
        self.mem(t).copy_out(at, &v.to_le_bytes()).unwrap();
    }

    pub fn get_u32(&mut self, t: ThreadSlot, at: u64) -> u32 {
        let mut b = [0; 4];
        self.mem(t).copy_in(at, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    pub fn send_args(&mut self, from: ThreadSlot, to_tid: u32, msg: &[u8], option_sync: u32, timeout: i32) -> SendArgs {
        self.mem(from).copy_out(send_buf(from), msg).unwrap();
        self.put_u32(from, lens(from), msg.len() as u32);
        SendArgs {
            id: to_tid,
            message_long: 0,
            message_short: send_buf(from),
            len_long: 0,
            len_short: lens(from),
            timeout,
            shared: false,
            option_sync,
        }
    }

    /// Send arguments for an `n`-byte message already in `from`'s (read-only) buffer:
    /// (asynchronous, synchronous).
    pub fn send_args_ro(&mut self, from: ThreadSlot, to_tid: u32, n: u32) -> (SendArgs, SendArgs) {
        self.put_u32(from, lens(from), n);
        let a = SendArgs {
            id: to_tid,
            message_long: 0,
            message_short: send_buf(from),
            len_long: 0,
            len_short: lens(from),
            timeout: 0,
            shared: false,
            option_sync: 0,
        };
        (a, SendArgs { option_sync: 1, timeout: -1, ..a })
    }

    /// Sends `msg` from thread `from` to thread `to` (making `from` current).
    pub fn send(
        &mut self,
        from: ThreadSlot,
        to: ThreadSlot,
        msg: &[u8],
        option_sync: u32,
        timeout: i32,
    ) -> Result<Outcome, Error> {
        let a = self.send_args(from, self.tid(to), msg, option_sync, timeout);
        self.core.switch_to(from);
        self.call(from, |c, me| c.ipc_send(me, a))
    }

    pub fn recv_args(&mut self, t: ThreadSlot, cap: u32, timeout: i32) -> RecvArgs {
        self.put_u32(t, lens(t) + 8, cap);
        self.put_u32(t, lens(t) + 16, 0);
        RecvArgs { long_dest: 0, short_dest: recv_buf(t), len_long: lens(t) + 16, len_short: lens(t) + 8, timeout }
    }

    /// `sleep(ticks)` by thread `t` (making it current); whether it blocked.
    pub fn sleep(&mut self, t: ThreadSlot, ticks: i32) -> Result<bool, Error> {
        self.core.switch_to(t);
        let earlier = self.core.take_results(t);
        let r = self.core.sleep(t, ticks);
        self.core.results_mut(t).keep_older(earlier);
        r
    }

    /// `task_wait(id)` by thread `t` (making it current): the status, or `None` if it blocked.
    pub fn task_wait(&mut self, t: ThreadSlot, id: TaskId) -> Result<Option<i32>, Error> {
        self.core.switch_to(t);
        let earlier = self.core.take_results(t);
        let r = self.core.task_wait(t, id);
        self.core.results_mut(t).keep_older(earlier);
        r
    }

    /// Receives on thread `t` with a buffer of `cap` bytes.
    pub fn recv(&mut self, t: ThreadSlot, cap: u32, timeout: i32) -> Result<Outcome, Error> {
        let a = self.recv_args(t, cap, timeout);
        self.core.switch_to(t);
        self.call(t, |c, me| c.ipc_recv(me, a))
    }

    /// What thread `t` last received: `*len_short` bytes of its receive buffer.
    pub fn received(&mut self, t: ThreadSlot) -> Vec<u8> {
        let n = self.get_u32(t, lens(t) + 8) as usize;
        let mut v = vec![0; n];
        self.mem(t).copy_in(recv_buf(t), &mut v).unwrap();
        v
    }

    /// Replies `msg` from thread `t`.
    pub fn reply(&mut self, t: ThreadSlot, msg: &[u8]) -> Result<Outcome, Error> {
        self.mem(t).copy_out(recv_buf(t), msg).unwrap();
        self.core.switch_to(t);
        self.call(t, |c, me| c.ipc_reply(me, recv_buf(t), msg.len() as u32))
    }

    /// The reply a sync sender got: `*len_short` bytes of its send buffer.
    pub fn reply_of(&mut self, t: ThreadSlot) -> Vec<u8> {
        let n = self.get_u32(t, lens(t)) as usize;
        let mut v = vec![0; n];
        self.mem(t).copy_in(send_buf(t), &mut v).unwrap();
        v
    }

    pub fn state(&self, t: ThreadSlot) -> State {
        *self.core.thread(t).state()
    }

    /// Takes the result a woken thread's system call returns (rax, rdx).
    pub fn take_wake(&mut self, t: ThreadSlot) -> Option<(i64, Option<u64>)> {
        use abi::syscall::regs::{SECOND, VALUE};
        let ret = &mut self.core.thread_mut(t).ret;
        let v = ret.take(VALUE)? as i64;
        // A receive into registers has its rdx in the payload, not a second word.
        Some((v, if ret.has_fast() { None } else { ret.take(SECOND) }))
    }

    /// Maps `pages` pages at thread `t`'s long area as a region, page i filled with
    /// `tag + i`.
    pub fn map_long(&mut self, t: ThreadSlot, pages: u64, tag: u8) {
        let base = long_base(t);
        let mem = self.mem(t);
        mem.map(base, pages, true);
        mem.regions().add(crate::mem::regions::Region { base, pages }).unwrap();
        for i in 0..pages {
            mem.copy_out(base + i * PAGE, &[tag.wrapping_add(i as u8); PAGE as usize]).unwrap();
        }
    }

    /// Sends `pages` pages from `from`'s long area (plus a short `msg`) to `to`.
    pub fn send_long(
        &mut self,
        from: ThreadSlot,
        to: ThreadSlot,
        pages: u64,
        shared: bool,
        timeout: i32,
    ) -> Result<Outcome, Error> {
        self.send_long_from(from, long_base(from), to, pages, shared, timeout)
    }

    /// Sends `pages` pages at `va` in `from`'s space to `to`.
    pub fn send_long_from(
        &mut self,
        from: ThreadSlot,
        va: u64,
        to: ThreadSlot,
        pages: u64,
        shared: bool,
        timeout: i32,
    ) -> Result<Outcome, Error> {
        let mut a = self.send_args(from, self.tid(to), b"L", 1, timeout);
        a.message_long = va;
        a.len_long = (pages * PAGE) as u32;
        a.shared = shared;
        self.core.switch_to(from);
        self.call(from, |c, me| c.ipc_send(me, a))
    }

    /// Receives on `t` with a window of `pages` pages.
    pub fn recv_long(&mut self, t: ThreadSlot, pages: u64, timeout: i32) -> Result<Outcome, Error> {
        let mut a = self.recv_args(t, 64, timeout);
        self.put_u32(t, lens(t) + 16, (pages * PAGE) as u32);
        a.long_dest = window(t);
        self.core.switch_to(t);
        self.call(t, |c, me| c.ipc_recv(me, a))
    }

    /// `*len_long` as the last receive on `t` wrote it.
    pub fn long_len(&mut self, t: ThreadSlot) -> u32 {
        self.get_u32(t, lens(t) + 16)
    }

    /// The first byte of each of `pages` pages at `va` in `t`'s space (None: unmapped).
    pub fn tags(&mut self, t: ThreadSlot, va: u64, pages: u64) -> Vec<Option<u8>> {
        (0..pages)
            .map(|i| {
                let mut b = [0u8];
                self.mem(t).copy_in(va + i * PAGE, &mut b).ok().map(|_| b[0])
            })
            .collect()
    }

    /// `remove_pages(base)` in `t`'s task.
    pub fn remove_region(&mut self, t: ThreadSlot, base: u64) -> bool {
        let mem = self.mem(t);
        match mem.regions().remove(base) {
            Some(r) => {
                for i in 0..r.pages {
                    mem.unmap(r.base + i * PAGE);
                }
                true
            }
            None => false,
        }
    }

    /// A fast-path call (`IpcCall`) from `from` to `to` with `msg` in registers.
    pub fn call_fast(&mut self, from: ThreadSlot, to: ThreadSlot, msg: &[u8], timeout: i32) -> Result<Outcome, Error> {
        let words = abi::ipc::fast::to_words(msg);
        let tid = self.tid(to);
        self.core.switch_to(from);
        self.call(from, |c, me| c.ipc_call_fast(me, Tid::from_raw(tid), msg.len() as u32, words, timeout))
    }

    /// `IpcReplyWait` on `t`: reply `reply` (if any), then receive into registers.
    pub fn reply_wait(&mut self, t: ThreadSlot, reply: Option<&[u8]>, timeout: i32) -> Result<Outcome, Error> {
        let r = reply.map(|b| (b.len() as u32, abi::ipc::fast::to_words(b)));
        self.core.switch_to(t);
        self.call(t, |c, me| c.ipc_reply_wait(me, r, timeout))
    }

    /// The registers a fast-path operation left for `t`: (bytes, sender word).
    pub fn fast_out(&mut self, t: ThreadSlot) -> Option<(Vec<u8>, u64)> {
        let ret = &mut self.core.thread_mut(t).ret;
        let (sender, len, words) = ret.fast_regs()?;
        ret.clear_fast();
        let bytes = abi::ipc::fast::to_bytes(&words);
        Some((bytes[..len as usize].to_vec(), sender))
    }

    pub fn tick(&mut self, n: u64) {
        for _ in 0..n {
            self.core.tick(self.core.now() + 1);
            self.core.release_stale_windows();
        }
    }
}

/// The `rdx` of a woken general-path sender (its `abi::ipc::SendStatus`): its pages, if
/// any, did not leave.
pub const NOT_TRANSFERRED: Option<u64> = Some(0);
/// The `rdx` of a woken sender whose long message's pages reached the receiver.
pub const TRANSFERRED: Option<u64> = Some(abi::ipc::SendStatus::TRANSFERRED);

/// The error code as a wake value.
pub fn code(e: Error) -> i64 {
    e.code() as i64
}

impl crate::loader::elf::LoadTarget for Mem {
    fn map_zeroed(&mut self, va: u64, pages: u64) -> Result<(), Error> {
        if (0..pages).any(|i| self.pages.contains_key(&(va + i * PAGE))) {
            return Err(Error::WindowOccupied);
        }
        self.map(va, pages, true);
        Ok(())
    }
    fn write(&mut self, va: u64, data: &[u8]) -> Result<(), Error> {
        self.copy_out(va, data)
    }
    fn protect(&mut self, va: u64, pages: u64, prot: crate::loader::elf::Protection) -> Result<(), Error> {
        use crate::loader::elf::Protection;
        let writable = matches!(prot, Protection::ReadWrite | Protection::ReadWriteExecute);
        self.generation += 1;
        for i in 0..pages {
            self.pages.get_mut(&(va + i * PAGE)).ok_or(Error::BadAddress)?.writable = writable;
        }
        Ok(())
    }
}

impl crate::sys::platform::UserSpace for Mem {
    fn unmap(&mut self, va: u64, pages: u64) {
        for i in 0..pages {
            Mem::unmap(self, va + i * PAGE);
        }
    }
}
