//! IPC and scheduling microbenchmarks. Run under `-icount shift=0` (`cargo xtask bench`),
//! where `rdtsc` counts retired guest instructions: the numbers are exact and repeatable.
//!
//! Each case runs many times; each run is measured alone (rdtsc before and after, minus
//! the measured cost of an empty measurement), and the median is reported on one line:
//! `moroso-bench NAME median=N min=N max=N samples=N`. Cases that cross address spaces
//! talk to a copy of this program started as a partner task.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use libsys::abi;
use libsys::abi::layout::PROGRAM_REGION;
use libsys::ipc::{self, Incoming, Next, Timeout};
use libsys::{println, raw, Message};

libsys::entry!(main);

const PAGE: u64 = 4096;
/// Windows the long-message cases move pages between: the main task's and the partner's.
const WIN_A: u64 = PROGRAM_REGION.0 + 0x1000_0000;
const WIN_B: u64 = PROGRAM_REGION.0 + 0x2000_0000;
const SIZES: [u32; 4] = [8, 64, 1024, 4096];
const PAGES: [u64; 3] = [1, 16, 256];

/// The fast-path message: 8 bytes each way.
#[derive(Message)]
#[repr(C)]
#[message(reply = Pong)]
struct Ping {
    n: u64,
}

#[derive(Message)]
#[repr(C)]
struct Pong {
    n: u64,
}

fn rdtsc() -> u64 {
    // SAFETY: reads the time-stamp counter; user mode may (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

struct Bench {
    overhead: u64,
}

impl Bench {
    /// Runs `f` `samples` times, each measured alone; prints and returns the median.
    fn run(&self, name: &str, samples: usize, f: impl FnMut()) -> u64 {
        self.run_between(name, samples, f, || {})
    }

    /// As `run`, with `between` run after each sample, unmeasured.
    fn run_between(&self, name: &str, samples: usize, f: impl FnMut(), between: impl FnMut()) -> u64 {
        self.run_per(name, samples, 1, f, between)
    }

    /// As `run_between`, each sample being `f`'s cost divided by `n` (the cost of one of
    /// the `n` operations `f` does).
    fn run_per(&self, name: &str, samples: usize, n: u64, mut f: impl FnMut(), mut between: impl FnMut()) -> u64 {
        let mut v: Vec<u64> = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t0 = rdtsc();
            f();
            let t1 = rdtsc();
            v.push((t1 - t0).saturating_sub(self.overhead) / n);
            between();
        }
        report(name, v)
    }
}

/// Prints the median, min and max of samples measured elsewhere; returns the median.
fn report(name: &str, mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    let median = v[v.len() / 2];
    println!("moroso-bench {name} median={median} min={} max={} samples={}", v[0], v[v.len() - 1], v.len());
    median
}

// ---- partner roles ------------------------------------------------------------------------

const FAST_SERVER: u64 = 1;
const RAW_SERVER: u64 = 2;
const PAGE_PARTNER: u64 = 3;
const SHARE_PARTNER: u64 = 4;
const ONE_WAY_SERVER: u64 = 5;
const BUSY_SERVER: u64 = 6;
const BUSY_RAW_SERVER: u64 = 7;

/// Tells the parent our tid, then serves.
fn partner(arg: u64) -> i32 {
    let parent = (arg >> 8) as u32;
    let param = arg >> 40;
    let mut hello = *b"hi";
    let mut len = 2u32;
    // SAFETY: a valid local message.
    unsafe { raw::ipc_send(parent, core::ptr::null_mut(), hello.as_mut_ptr(), 0, &mut len, 0, false, 0) };
    match arg & 0xff {
        FAST_SERVER => fast_server(),
        RAW_SERVER => raw_server(),
        PAGE_PARTNER => page_partner(parent, param),
        SHARE_PARTNER => share_partner(param),
        ONE_WAY_SERVER => one_way::server(),
        BUSY_SERVER => busy_server(),
        BUSY_RAW_SERVER => busy_raw_server(),
        _ => 1,
    }
}

/// `Ping { n: QUIT }` ends a fast server.
const QUIT: u64 = u64::MAX;

fn fast_server() -> i32 {
    ipc::serve::<Ping, _>(Timeout::Forever, |next| match next {
        Ok(Incoming::Call { msg, reply, .. }) if msg.n == QUIT => {
            let _ = reply.reply(&Pong { n: 0 });
            Next::Stop
        }
        Ok(Incoming::Call { msg, reply, .. }) => Next::Reply(reply, Pong { n: msg.n + 1 }),
        _ => Next::Receive,
    });
    0
}

fn raw_server() -> i32 {
    let mut buf = [0u8; 4096];
    loop {
        let mut len = 4096u32;
        let mut long = 0u32;
        // SAFETY: local buffers.
        let r = unsafe { raw::ipc_recv(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, -1) };
        if r == 0 {
            // SAFETY: `len` bytes of `buf` are initialised.
            unsafe { raw::ipc_reply(buf.as_ptr(), len) };
            if len == 1 {
                return 0; // a one-byte call: quit
            }
        }
    }
}

/// A busy server with the typed API: it replies, then stays runnable without receiving
/// (it yields to its caller) so the next call finds it busy and queues in its mailbox; its
/// next `receive` takes the call from there without blocking.
fn busy_server() -> i32 {
    loop {
        if let Ok(Incoming::Call { from, msg, reply }) = ipc::receive::<Ping>(Timeout::Forever) {
            let _ = reply.reply(&Pong { n: msg.n.wrapping_add(1) });
            if msg.n == QUIT {
                return 0;
            }
            raw::yield_to(from as i32);
        }
    }
}

/// The same with the spec's calls: `ipc_recv` takes the queued call, `ipc_reply`, then a
/// yield to the caller.
fn busy_raw_server() -> i32 {
    let mut buf = [0u8; 8];
    loop {
        let (mut len, mut long) = (8u32, 0u32);
        // SAFETY: local buffers.
        let (r, from) = unsafe { raw::ipc_recv_from(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, -1) };
        if r == 0 {
            // SAFETY: `len` bytes of `buf` are initialised.
            unsafe { raw::ipc_reply(buf.as_ptr(), len) };
            if len == 1 {
                return 0; // a one-byte call: quit
            }
            raw::yield_to(from.tid as i32);
        }
    }
}

/// Long-message ping-pong: receive `pages` pages into WIN_B, reply, move them back.
fn page_partner(parent: u32, pages: u64) -> i32 {
    let mut buf = [0u8; 8];
    loop {
        let (mut len, mut long) = (8u32, (pages * PAGE) as u32);
        // SAFETY: WIN_B is this task's free window; local buffers.
        let r = unsafe { raw::ipc_recv(WIN_B as *mut u8, buf.as_mut_ptr(), &mut long, &mut len, -1) };
        if r != 0 {
            return 2;
        }
        // SAFETY: an empty reply.
        unsafe { raw::ipc_reply(core::ptr::null(), 0) };
        if long == 0 {
            return 0; // a call without pages: quit
        }
        let mut l = 0u32;
        // SAFETY: the pages just received at WIN_B are exclusively ours: move them back.
        unsafe {
            raw::ipc_send(parent, WIN_B as *mut u8, buf.as_mut_ptr(), (pages * PAGE) as u32, &mut l, -1, false, 1)
        };
    }
}

/// Long-message sharing: receive `pages` shared pages into WIN_B, reply, drop our mapping.
fn share_partner(pages: u64) -> i32 {
    let mut buf = [0u8; 8];
    loop {
        let (mut len, mut long) = (8u32, (pages * PAGE) as u32);
        // SAFETY: WIN_B is this task's free window; local buffers.
        let r = unsafe { raw::ipc_recv(WIN_B as *mut u8, buf.as_mut_ptr(), &mut long, &mut len, -1) };
        if r != 0 {
            return 3;
        }
        // SAFETY: an empty reply, then our mapping of the shared pages goes.
        unsafe {
            raw::ipc_reply(core::ptr::null(), 0);
            if long == 0 {
                return 0; // a call without pages: quit
            }
            raw::remove_pages(WIN_B as *mut u8);
        }
    }
}

/// Starts a partner and learns its tid from its first message.
fn start(role: u64, param: u64) -> (u32, u32) {
    let me = raw::gettid();
    let task = libsys::task::spawn("bench", role | (me as u64) << 8 | param << 40).expect("spawn a partner");
    let mut buf = [0u8; 8];
    let (mut len, mut long) = (8u32, 0u32);
    // SAFETY: local buffers.
    let (r, sender) = unsafe { raw::ipc_recv_from(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, -1) };
    assert!(r >= 0, "the partner said hello");
    (task, sender.tid)
}

/// A one-byte call without pages: tells a raw or page partner to quit.
fn quit_raw(to: u32) {
    let mut b = [b'q'];
    call_raw(to, &mut b, 1);
}

fn call_raw(to: u32, buf: &mut [u8], n: u32) {
    let mut len = n;
    // SAFETY: `buf` holds at least `n` bytes.
    let r = unsafe { raw::ipc_send(to, core::ptr::null_mut(), buf.as_mut_ptr(), 0, &mut len, -1, false, 1) };
    assert_eq!(r, 0);
}

fn main() -> i32 {
    let arg = libsys::task::arg();
    if arg != 0 {
        return partner(arg);
    }
    // The cost of measuring nothing, subtracted from every sample.
    let mut b = Bench { overhead: 0 };
    b.overhead = b.run("empty_measurement", 101, || {});

    b.run("null_syscall", 1001, || {
        raw::gettid();
    });

    // Fast path within one address space: a server thread.
    let srv = libsys::thread::spawn(
        |_| {
            fast_server();
        },
        0,
    )
    .expect("server thread");
    let mut n = 0;
    b.run("fastpath_call_same_as", 1001, || {
        n = ipc::call(srv, &Ping { n }, Timeout::Forever).expect("call").n;
    });

    // Fast path across address spaces: a server task.
    let (_, fast) = start(FAST_SERVER, 0);
    b.run("fastpath_call_cross_as", 1001, || {
        n = ipc::call(fast, &Ping { n }, Timeout::Forever).expect("call").n;
    });

    // The same call to a busy server: it is not receiving when the call comes (it yielded
    // to us after replying), so the call queues in its mailbox.
    let (_, busy) = start(BUSY_SERVER, 0);
    b.run("busy_server_call_cross_as", 1001, || {
        n = ipc::call(busy, &Ping { n }, Timeout::Forever).expect("call").n;
    });
    ipc::call(busy, &Ping { n: QUIT }, Timeout::Forever).expect("quit");

    // One way, kernel only, as sel4bench measures seL4_Call and seL4_ReplyRecv.
    one_way::measure();

    // The general path: the spec's raw calls, short messages of several sizes.
    let (_, raw_srv) = start(RAW_SERVER, 0);
    let mut buf = [7u8; 4096];
    for size in SIZES {
        b.run(&alloc::format!("short_call_cross_as_{size}b"), 501, || call_raw(raw_srv, &mut buf, size));
    }
    let (_, busy_raw) = start(BUSY_RAW_SERVER, 0);
    b.run("busy_server_short_call_cross_as_8b", 501, || call_raw(busy_raw, &mut buf, 8));
    quit_raw(busy_raw);

    // Asynchronous send and receive (to oneself: buffered, then taken).
    let me = raw::gettid();
    b.run("async_send_recv_8b", 1001, || {
        let mut m = *b"12345678";
        let (mut len, mut long) = (8u32, 0u32);
        // SAFETY: local buffers.
        unsafe {
            raw::ipc_send(me, core::ptr::null_mut(), m.as_mut_ptr(), 0, &mut len, 0, false, 0);
            raw::ipc_recv(core::ptr::null_mut(), m.as_mut_ptr(), &mut long, &mut len, 0);
        }
    });

    // Long messages: pages moved to a partner and back (each measured call moves them once
    // and gets the reply), and pages shared.
    for pages in PAGES {
        let (_, p) = start(PAGE_PARTNER, pages);
        // SAFETY: WIN_A is ours and free.
        assert_eq!(unsafe { raw::new_pages(WIN_A as *mut u8, (pages * PAGE) as u32) }, 0);
        let samples = if pages > 16 { 51 } else { 201 };
        let mut m = [0u8; 8];
        let take_back = || {
            let (mut len, mut long) = (8u32, (pages * PAGE) as u32);
            let mut buf = [0u8; 8];
            // SAFETY: WIN_A is free again (its pages moved away); local buffers.
            let r = unsafe { raw::ipc_recv(WIN_A as *mut u8, buf.as_mut_ptr(), &mut long, &mut len, -1) };
            assert_eq!(r, 0);
            // SAFETY: an empty reply.
            unsafe { raw::ipc_reply(core::ptr::null(), 0) };
        };
        b.run_between(
            &alloc::format!("long_move_{pages}p"),
            samples,
            || {
                let mut l = 0u32;
                // SAFETY: WIN_A holds `pages` exclusive pages of ours.
                let r = unsafe {
                    raw::ipc_send(p, WIN_A as *mut u8, m.as_mut_ptr(), (pages * PAGE) as u32, &mut l, -1, false, 1)
                };
                assert_eq!(r, 0);
            },
            take_back,
        );
        quit_raw(p);
        // SAFETY: the pages are back at WIN_A, a region of ours.
        unsafe { raw::remove_pages(WIN_A as *mut u8) };
    }
    for pages in PAGES {
        let (_, p) = start(SHARE_PARTNER, pages);
        let base = WIN_A + 0x100_0000 * pages;
        // SAFETY: a free range of ours.
        assert_eq!(unsafe { raw::new_pages(base as *mut u8, (pages * PAGE) as u32) }, 0);
        let samples = if pages > 16 { 51 } else { 201 };
        let mut m = [0u8; 8];
        b.run(&alloc::format!("long_share_{pages}p"), samples, || {
            let mut l = 0u32;
            // SAFETY: `base` holds `pages` pages of ours, shared each time.
            let r = unsafe {
                raw::ipc_send(p, base as *mut u8, m.as_mut_ptr(), (pages * PAGE) as u32, &mut l, -1, true, 1)
            };
            assert_eq!(r, 0);
        });
        quit_raw(p);
    }
    quit_raw(raw_srv);
    ipc::call(fast, &Ping { n: QUIT }, Timeout::Forever).expect("quit");

    // Before the yielder below starts: it stays runnable to the end.
    load_families(&b);

    // Yield between two threads of one task: there and back.
    let other = libsys::thread::spawn(
        |me| loop {
            raw::yield_to(me as i32);
        },
        me as usize,
    )
    .expect("yielder");
    b.run("yield_there_and_back", 1001, || {
        raw::yield_to(other as i32);
    });
    println!("moroso-bench done");
    // Ends the server and yielder threads with the task.
    libsys::task::exit(0)
}

// ---- one way, kernel only --------------------------------------------------------------

/// The fast path's two halves measured one way, kernel only, the way sel4bench measures
/// seL4's `Call` and `ReplyRecv` (its `apps/ipc`): a counter read just before the client's
/// `syscall` and one just after the server's returns give the call; one just before the
/// server's `syscall` and one just after the client's returns give the reply-and-wait; the
/// cost of the same sequence with the `syscall` replaced by a two-byte `nop` (the counter
/// reads and the register moves around them) is subtracted. What remains is the `syscall`
/// instruction, the kernel and the `sysretq`: no user-level stub, encoding or loop.
mod one_way {
    use super::{report, start, ONE_WAY_SERVER};
    use alloc::vec::Vec;
    use core::arch::asm;
    use libsys::abi::ipc::fast;
    use libsys::abi::Syscall;
    use libsys::raw;

    /// One fast-path system call bracketed by counter reads (`rdtsc` under
    /// `-icount shift=0` counts guest instructions), or the same sequence with a two-byte
    /// `nop` (`xchg ax, ax`) in its place. Payload word 0 carries the first counter read;
    /// words 1 to 4 are `w`'s. Returns (counter before, counter after, `rax`, `rsi`, the
    /// five payload words after).
    macro_rules! bracketed {
        ($insn:literal, $nr:expr, $rdi:expr, $rsi:expr, $w:expr) => {{
            let (before, after, ret, rsi, w0): (u64, u64, i64, u64, u64);
            let mut w: [u64; 5] = $w;
            // SAFETY: a fast-path system call passes registers only, and the kernel
            // preserves every register but rax, rcx, r11 and those named as outputs (the
            // `nop` variant changes none); `rdtsc` writes rax and rdx, both outputs here.
            unsafe {
                asm!(
                    "rdtsc",
                    "shl rdx, 32",
                    "or rdx, rax",
                    "mov r13, rdx",
                    "mov rax, {nr}",
                    $insn,
                    "mov r14, rdx",
                    "mov r15, rax",
                    "rdtsc",
                    "shl rdx, 32",
                    "or rdx, rax",
                    nr = const $nr as u64,
                    out("rax") _,
                    out("rdx") after,
                    inlateout("rdi") $rdi => _,
                    inlateout("rsi") $rsi => rsi,
                    inlateout("r10") w[1],
                    inlateout("r8") w[2],
                    inlateout("r9") w[3],
                    inlateout("r12") w[4],
                    out("r13") before,
                    out("r14") w0,
                    out("r15") ret,
                    out("rcx") _,
                    out("r11") _,
                    options(nostack),
                );
            }
            w[0] = w0;
            (before, after, ret, rsi, w)
        }};
    }

    /// Message and reply length: two words each way (a reply carries two counter reads).
    const LEN: usize = 16;
    const SAMPLES: usize = 1001;

    /// The server: each reply carries, in words 0 and 1, the counter read just before its
    /// `IpcReplyWait` and the one read just after the previous one returned with the call
    /// being answered. A call of length 0 ends it.
    pub fn server() -> i32 {
        let forever = fast::timeout_word(-1);
        let mut reply = fast::reply_word(None);
        let mut received = 0u64;
        loop {
            let (_, after, ret, len, _) =
                bracketed!("syscall", Syscall::IpcReplyWait, reply, forever, [0, received, 0, 0, 0]);
            if ret == 0 && len == 0 {
                // SAFETY: an empty reply.
                unsafe { raw::ipc_reply(core::ptr::null(), 0) };
                return 0;
            }
            received = after;
            reply = fast::reply_word(Some(LEN));
        }
    }

    /// Prints `one_way_call_cross_as` and `one_way_reply_wait_cross_as`.
    pub fn measure() {
        let (_, srv) = start(ONE_WAY_SERVER, 0);
        let forever = fast::timeout_word(-1);
        // A first call, unmeasured, as sel4bench's warm-up.
        let (.., ret, _, _) = bracketed!("syscall", Syscall::IpcCall, fast::call_word(srv, LEN), forever, [0; 5]);
        assert_eq!(ret, 0, "a one-way call");
        let mut nop = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let (before, after, ..) =
                bracketed!(".byte 0x66, 0x90", Syscall::IpcCall, fast::call_word(srv, LEN), forever, [0; 5]);
            nop.push(after - before);
        }
        let overhead = report("one_way_overhead", nop);
        let (mut call, mut reply_wait) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
        for _ in 0..SAMPLES {
            let (before, after, ret, _, w) =
                bracketed!("syscall", Syscall::IpcCall, fast::call_word(srv, LEN), forever, [0; 5]);
            assert_eq!(ret, 0, "a one-way call");
            call.push(w[1].wrapping_sub(before).saturating_sub(overhead));
            reply_wait.push(after.wrapping_sub(w[0]).saturating_sub(overhead));
        }
        report("one_way_call_cross_as", call);
        report("one_way_reply_wait_cross_as", reply_wait);
        // SAFETY: registers only; a call of length 0 ends the server.
        let (r, ..) = unsafe { raw::ipc_call_fast(srv, 0, [0; 5], -1) };
        assert_eq!(r, 0, "the one-way server quits");
    }
}

// ---- cost under load ------------------------------------------------------------------
//
// IPC must cost the same however busy the machine is. Three families, each measured at
// several loads; within a family the medians should be flat (`cargo xtask bench` charts
// them): a round trip with the spec's calls between two threads (8-byte call and reply)
// while other threads are blocked in `ipc_recv`, the same while other threads are runnable
// (each yielding in a loop), and the cost per message of draining queued asynchronous
// messages.

/// Blocked threads of the first family (the bench program's thread share allows them).
const BLOCKED: [usize; 3] = [0, 32, 128];
/// Runnable threads of the second family.
const RUNNABLE: [usize; 3] = [0, 16, 64];
/// Queued messages of the third family. A mailbox holds at most `ASYNC_QUEUE_MAX` (16), so
/// 64 is 16 in the mailbox drained and 48 in three others.
const QUEUED: [usize; 4] = [1, 8, 16, 64];

/// Threads of this task still running a load (blocked or yielding ones).
static LOAD_LIVE: AtomicU32 = AtomicU32::new(0);
/// Tells yielding threads to end.
static LOAD_STOP: AtomicBool = AtomicBool::new(false);

/// Blocks in `ipc_recv` until any message comes, then ends.
fn blocked_thread(_: usize) {
    LOAD_LIVE.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 8];
    let (mut len, mut long) = (8u32, 0u32);
    // SAFETY: valid locals, no window.
    unsafe { raw::ipc_recv(core::ptr::null_mut(), buf.as_mut_ptr(), &mut long, &mut len, -1) };
    LOAD_LIVE.fetch_sub(1, Ordering::SeqCst);
}

/// Yields in a loop until told to stop.
fn yielding_thread(_: usize) {
    LOAD_LIVE.fetch_add(1, Ordering::SeqCst);
    while !LOAD_STOP.load(Ordering::SeqCst) {
        raw::yield_to(-1);
    }
    LOAD_LIVE.fetch_sub(1, Ordering::SeqCst);
}

/// Waits until `n` load threads are running (or, with 0, until all have ended).
fn wait_load(n: u32) {
    while LOAD_LIVE.load(Ordering::SeqCst) != n {
        raw::yield_to(-1);
    }
}

/// An asynchronous 8-byte message to `to`.
fn post(to: u32) {
    let mut m = *b"12345678";
    let mut len = 8u32;
    // SAFETY: local buffers; an asynchronous send only reads them.
    let r = unsafe { raw::ipc_send(to, core::ptr::null_mut(), m.as_mut_ptr(), 0, &mut len, 0, false, 0) };
    assert!(r >= 0, "an asynchronous send: {r}");
}

/// Takes one message that is already queued.
fn take() {
    let mut m = [0u8; 8];
    let (mut len, mut long) = (8u32, 0u32);
    // SAFETY: local buffers.
    let r = unsafe { raw::ipc_recv(core::ptr::null_mut(), m.as_mut_ptr(), &mut long, &mut len, 0) };
    assert!(r >= 0, "a queued message");
}

fn load_families(b: &Bench) {
    let server = libsys::thread::spawn(
        |_| {
            raw_server();
        },
        0,
    )
    .expect("server thread");
    let mut buf = [7u8; 8];
    let round_trip = |buf: &mut [u8; 8]| call_raw(server, buf, 8);

    for n in BLOCKED {
        let tids: Vec<u32> =
            (0..n).map(|_| libsys::thread::spawn(blocked_thread, 0).expect("a blocked thread")).collect();
        wait_load(n as u32);
        // Each has entered `ipc_recv` once it is not runnable: yield until all are blocked.
        for &t in &tids {
            while raw::yield_to(t as i32) == 0 {}
        }
        b.run(&alloc::format!("load_round_trip_blocked_{n}"), 1001, || round_trip(&mut buf));
        for &t in &tids {
            post(t);
        }
        wait_load(0);
    }

    for n in RUNNABLE {
        LOAD_STOP.store(false, Ordering::SeqCst);
        for _ in 0..n {
            libsys::thread::spawn(yielding_thread, 0).expect("a runnable thread");
        }
        wait_load(n as u32);
        b.run(&alloc::format!("load_round_trip_runnable_{n}"), 1001, || round_trip(&mut buf));
        LOAD_STOP.store(true, Ordering::SeqCst);
        wait_load(0);
    }
    quit_raw(server);

    // Three other mailboxes of this task, held full while the 64 case runs.
    let me = raw::gettid();
    for n in QUEUED {
        let here = n.min(abi::ipc::ASYNC_QUEUE_MAX);
        let others: Vec<u32> = if n > here {
            let k = (n - here).div_ceil(abi::ipc::ASYNC_QUEUE_MAX);
            let tids: Vec<u32> =
                (0..k).map(|_| libsys::thread::spawn(blocked_thread_held, 0).expect("a holder")).collect();
            wait_load(k as u32);
            for &t in &tids {
                while raw::yield_to(t as i32) == 0 {}
            }
            for i in 0..n - here {
                post(tids[i / abi::ipc::ASYNC_QUEUE_MAX]);
            }
            tids
        } else {
            Vec::new()
        };
        let fill = || {
            for _ in 0..here {
                post(me);
            }
        };
        fill();
        b.run_per(
            &alloc::format!("load_drain_per_message_{n}"),
            201,
            here as u64,
            || {
                for _ in 0..here {
                    take();
                }
            },
            fill,
        );
        for _ in 0..here {
            take();
        }
        for &t in &others {
            assert_eq!(raw::make_runnable(t), 0);
        }
        wait_load(0);
    }
}

/// Descheduled until woken by `make_runnable`, so messages sent to it stay queued; then ends
/// (its queued messages go with it).
fn blocked_thread_held(_: usize) {
    LOAD_LIVE.fetch_add(1, Ordering::SeqCst);
    let zero = 0i32;
    // SAFETY: a valid i32 on this stack.
    unsafe { raw::deschedule(&zero) };
    LOAD_LIVE.fetch_sub(1, Ordering::SeqCst);
}
