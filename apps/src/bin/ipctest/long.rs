//! Long messages in the guest: pages moved and shared between real address spaces, the
//! page-ownership rights, every error, deaths and timeouts, and frame accounting.

use crate::ipc::{self, result, wait_blocked, FOREVER};
use crate::peer;
use libsys::abi::{layout, Error};
use libsys::raw;
use moroso_apps::ensure_eq;
use moroso_apps::harness::{Msg, Suite};

const P: u64 = libsys::abi::PAGE_SIZE as u64;
/// Where this program keeps pages it sends (the program's own region).
pub const OUT: u64 = layout::PROGRAM_REGION.0 + 0x3000_0000;
/// Where peers receive long messages.
pub const WINDOW: u64 = layout::PROGRAM_REGION.0 + 0x4000_0000;
/// The peers' window size, in pages.
pub const WINDOW_PAGES: u64 = 16;

fn fail(e: Error) -> Msg {
    Msg::new(format_args!("setup failed: {e}"))
}

/// Maps `pages` pages at `va`, page i filled with `tag + i`.
pub fn fill(va: u64, pages: u64, tag: u8) -> Result<(), Error> {
    // SAFETY: these ranges are used by these cases alone.
    result(unsafe { raw::new_pages(va as *mut u8, (pages * P) as u32) })?;
    for i in 0..pages {
        // SAFETY: just mapped, writable.
        unsafe { core::ptr::write_bytes((va + i * P) as *mut u8, tag.wrapping_add(i as u8), P as usize) };
    }
    Ok(())
}

/// The first byte of each page at `va` (the caller knows they are mapped).
fn first_bytes(va: u64, pages: u64, out: &mut [u8]) {
    for (i, o) in out.iter_mut().take(pages as usize).enumerate() {
        // SAFETY: the caller guarantees the pages are mapped.
        *o = unsafe { ((va + i as u64 * P) as *const u8).read_volatile() };
    }
}

/// Sends `pages` pages at `va` to `to` with the short message `cmd`; returns the call's
/// result and the reply.
pub fn send_pages(
    to: u32,
    va: u64,
    pages: u64,
    shared: bool,
    cmd: &[u8],
    timeout: i32,
) -> (Result<i32, Error>, alloc::vec::Vec<u8>) {
    let mut buf = [0u8; 64];
    buf[..cmd.len()].copy_from_slice(cmd);
    let mut len = 64u32;
    // SAFETY: `buf` is valid for 64 bytes; the pages are the caller's.
    let r =
        unsafe { raw::ipc_send(to, va as *mut u8, buf.as_mut_ptr(), (pages * P) as u32, &mut len, timeout, shared, 1) };
    (result(r), buf[..len.min(64) as usize].to_vec())
}

/// The long-message server a peer runs (`peer::LONG_SERVER`): receives into its window and
/// replies `[pages, shared, first byte of each page...]`. The short message says what else
/// to do: "write" writes a marker into page 0 before replying; "keep" keeps the pages
/// (otherwise they are removed after the reply); "slow" sleeps 10 ticks first and then
/// sends the reply's result to `parent` as an async message; "quit" ends the server.
pub fn server(parent: u32) -> i32 {
    let mut window = WINDOW;
    loop {
        let mut cmd = [0u8; 64];
        let mut len = 64u32;
        let mut long = (WINDOW_PAGES * P) as u32;
        // SAFETY: the window is unmapped program space reserved for this; buffers are locals.
        let (r, from) =
            unsafe { raw::ipc_recv_from(window as *mut u8, cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) };
        if r < 0 {
            return 80;
        }
        // Callers pad the command to leave room for the reply (`*len_short` is both the
        // message length and the reply's capacity): the command ends at the first NUL.
        let cmd = cmd[..len as usize].split(|&b| b == 0).next().unwrap_or(&[]);
        if cmd == b"quit" {
            let _ = ipc::reply(b"");
            return 0;
        }
        let pages = long as u64 / P;
        if cmd == b"slow" {
            let _ = libsys::time::sleep(10);
        }
        if cmd == b"write" && pages > 0 {
            // SAFETY: page 0 of the window was just mapped by the transfer.
            unsafe { core::ptr::copy_nonoverlapping(b"peer was here".as_ptr(), window as *mut u8, 13) };
        }
        let mut out = [0u8; 64];
        out[0] = pages as u8;
        out[1] = from.shared as u8;
        first_bytes(window, pages, &mut out[2..]);
        let replied = ipc::reply(&out[..2 + pages as usize]);
        if cmd == b"slow" {
            let code = replied.unwrap_or_else(|e| e.code()) as u8;
            // Report the reply's fate, and whether the pages are still here and intact.
            let mut still = [0u8; 1];
            first_bytes(window, 1, &mut still);
            let _ = ipc::send_msg(parent, &[b'S', code, still[0]], ipc::ASYNC, 0);
        }
        if cmd == b"keep" {
            window += WINDOW_PAGES * P; // the kept pages stay; receive further on
        } else if pages > 0 {
            // SAFETY: the received window is this task's region now; nothing uses it after.
            unsafe { raw::remove_pages(window as *mut u8) };
        }
    }
}

/// A peer that receives pages (`peer::BIG_SINK`): the first long message goes into a
/// window of `pages` pages at `WINDOW` and stays; every call is answered with the number
/// of pages it brought; an asynchronous "quit" ends it.
pub fn sink(pages: u64) -> i32 {
    let mut window = pages;
    loop {
        let mut cmd = [0u8; 8];
        let mut len = 8u32;
        let mut long = (window * P) as u32;
        // SAFETY: the window is unmapped program space reserved for this; buffers are locals.
        let (r, _) = unsafe { raw::ipc_recv_from(WINDOW as *mut u8, cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) };
        if r < 0 {
            return 81;
        }
        if long > 0 {
            window = 0; // the window is taken
        }
        if r == 0 {
            let _ = ipc::reply(&(long / P as u32).to_le_bytes());
        } else if &cmd[..len as usize] == b"quit" {
            return 0;
        }
    }
}

/// Where the doubling case builds its range of one frame, and what its helper thread
/// receives next: (window, pages); 0 pages ends the helper.
const ONE_FRAME: u64 = layout::PROGRAM_REGION.0 + 0x5000_0000;
static NEXT_WINDOW: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static NEXT_PAGES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static TICKET: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Receives each share its sibling announces (`TICKET` moving past `seen`), into the
/// window announced, and answers.
fn doubling_helper(seen: usize) {
    use core::sync::atomic::Ordering::SeqCst;
    let mut seen = seen as u32;
    loop {
        while TICKET.load(SeqCst) == seen {
            libsys::time::yield_now();
        }
        seen = TICKET.load(SeqCst);
        let (window, pages) = (NEXT_WINDOW.load(SeqCst), NEXT_PAGES.load(SeqCst));
        if pages == 0 {
            return;
        }
        let mut cmd = [0u8; 8];
        let mut len = 8u32;
        let mut long = (pages * P) as u32;
        // SAFETY: the announced window is unmapped space of this task, reserved for it.
        let r = unsafe { raw::ipc_recv(window as *mut u8, cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) };
        if r == 0 {
            let _ = ipc::reply(b"");
        }
    }
}

/// Removes whatever an earlier (possibly failed) case left at `OUT`, so one failure does
/// not cascade into the next cases.
fn reset() {
    for i in 0..WINDOW_PAGES + 2 {
        // SAFETY: OUT.. belongs to these cases; nothing else uses it between them.
        unsafe { raw::remove_pages((OUT + i * P) as *mut u8) };
    }
}

pub fn cases(s: &mut Suite) {
    s.case("long::a_move_transfers_the_pages_themselves", || {
        reset();
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        fill(OUT, 3, 10).map_err(fail)?;
        let (r, reply) = send_pages(srv, OUT, 3, false, b"", FOREVER);
        ensure_eq!(r, Ok(0), "call");
        ensure_eq!(reply, [3, 0, 10, 11, 12], "the server saw 3 moved pages with their contents");
        // The pages are gone from here: touching them would fault. The addresses are free,
        // and fresh pages there read zero, every one of them: a translation to the moved
        // frames left in the TLB (all three were written just before the move, so the TLB
        // held them) would read the server's pages instead. (Across tasks the call also
        // switches to the server and back, which reloads CR3; the case of two threads of
        // one task below has no such switch.)
        // SAFETY: the range was moved away, so new_pages must accept it again.
        ensure_eq!(result(unsafe { raw::new_pages(OUT as *mut u8, (3 * P) as u32) }), Ok(0), "the range is free");
        let mut fresh = [0xffu8; 3];
        first_bytes(OUT, 3, &mut fresh);
        ensure_eq!(fresh, [0, 0, 0], "fresh pages are zero: no stale translation to a moved page");
        // SAFETY: our region.
        unsafe { raw::remove_pages(OUT as *mut u8) };
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        Ok(())
    });

    s.case("long::a_share_is_seen_from_both_sides", || {
        reset();
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        fill(OUT, 2, 20).map_err(fail)?;
        let (r, reply) = send_pages(srv, OUT, 2, true, b"write", FOREVER);
        ensure_eq!(r, Ok(0), "call");
        ensure_eq!(reply, [2, 1, b'p', 21], "shared flag, and the server's write seen in its reply");
        let mut got = [0u8; 13];
        // SAFETY: our pages, still mapped here after a share.
        unsafe { core::ptr::copy_nonoverlapping(OUT as *const u8, got.as_mut_ptr(), 13) };
        ensure_eq!(&got, b"peer was here", "the receiver's write is visible to the sender");
        // SAFETY: our region.
        unsafe { raw::remove_pages(OUT as *mut u8) };
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        Ok(())
    });

    s.case("long::shared_pages_cannot_be_moved", || {
        reset();
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        fill(OUT, 1, 1).map_err(fail)?;
        ensure_eq!(send_pages(srv, OUT, 1, true, b"keep", FOREVER).0, Ok(0), "share, the server keeps them");
        ensure_eq!(send_pages(srv, OUT, 1, false, b"", 0).0, Err(Error::NotOwner), "move a shared page");
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        // The server's mapping went with it: the page is exclusive again and may move.
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        ensure_eq!(send_pages(srv, OUT, 1, false, b"", FOREVER).0, Ok(0), "move once exclusive again");
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        Ok(())
    });

    s.case("long::argument_errors", || {
        reset();
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        wait_blocked(srv);
        fill(OUT, 2, 0).map_err(fail)?;
        let mut buf = [0u8; 8];
        let mut len = 0u32;
        // SAFETY (all raw calls here): the kernel must refuse these before moving anything.
        unsafe {
            let send = |va: u64, l: u32, len: &mut u32, buf: &mut [u8; 8]| {
                result(raw::ipc_send(srv, va as *mut u8, buf.as_mut_ptr(), l, len, 0, false, 1))
            };
            ensure_eq!(send(OUT + 8, 4096, &mut len, &mut buf), Err(Error::Misaligned), "unaligned message_long");
            ensure_eq!(send(OUT, 100, &mut len, &mut buf), Err(Error::Misaligned), "len_long not a page multiple");
            ensure_eq!(
                send(OUT, 3 * 4096, &mut len, &mut buf),
                Err(Error::BadAddress),
                "an unmapped page in the range"
            );
            ensure_eq!(send(0xffff_8000_0000_0000, 4096, &mut len, &mut buf), Err(Error::BadAddress), "kernel pages");
            ensure_eq!(
                send(OUT, 32 * 4096, &mut len, &mut buf).err(),
                Some(Error::BadAddress),
                "beyond what is mapped"
            );
            // A window over mapped memory, or misaligned, is the receiver's error.
            let mut long = 2 * 4096u32;
            let mut l = 8u32;
            let r = raw::ipc_recv(OUT as *mut u8, buf.as_mut_ptr(), &mut long, &mut l, 0);
            ensure_eq!(result(r), Err(Error::WindowOccupied), "receive window over mapped pages");
            let r = raw::ipc_recv((WINDOW + 8) as *mut u8, buf.as_mut_ptr(), &mut long, &mut l, 0);
            ensure_eq!(result(r), Err(Error::Misaligned), "unaligned long_dest");
        }
        // A message larger than the window fails for its sender; the receiver waits on.
        fill(OUT + 2 * P, WINDOW_PAGES - 1, 0).map_err(fail)?;
        let (r, _) = send_pages(srv, OUT, WINDOW_PAGES + 1, false, b"", FOREVER);
        ensure_eq!(r, Err(Error::TooLong), "17 pages into a 16-page window");
        ensure_eq!(send_pages(srv, OUT, 1, false, b"", FOREVER).0, Ok(0), "the server still receives");
        // SAFETY: what is left of our region.
        unsafe {
            raw::remove_pages(OUT as *mut u8);
            raw::remove_pages((OUT + 2 * P) as *mut u8);
        }
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        Ok(())
    });

    s.case("long::pages_stay_with_a_receiver_after_the_sender_times_out", || {
        reset();
        let (task, srv) = peer::start(peer::LONG_SERVER, 0).map_err(fail)?;
        fill(OUT, 1, 77).map_err(fail)?;
        let (r, _) = send_pages(srv, OUT, 1, false, b"slow", 3);
        ensure_eq!(r, Err(Error::Timeout), "the reply is too slow");
        let mut report = [0u8; 4];
        let got = ipc::recv(&mut report, FOREVER).map_err(fail)?;
        ensure_eq!(
            &report[..got.len as usize],
            &[b'S', Error::Timeout.code() as u8, 77][..],
            "the late reply failed; the pages stayed"
        );
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "quit");
        ensure_eq!(libsys::task::wait(task), Ok(0), "server exit");
        Ok(())
    });

    s.case("long::a_dying_receiver_frees_the_pages_it_received", || {
        // Warm up, then the same round must leave the free-frame count where it was.
        let round = || -> Result<(), Error> {
            reset();
            fill(OUT, 8, 3)?;
            let (task, t) = peer::start(peer::DIE_HOLDING_LONG, 0)?;
            let (r, _) = send_pages(t, OUT, 8, false, b"", FOREVER);
            if r != Err(Error::PeerDied) {
                return Err(Error::InvalidArgument);
            }
            libsys::task::wait(task).map(|_| ())
        };
        ensure_eq!(round(), Ok(()), "warm-up");
        let before = raw::free_frames();
        ensure_eq!(round(), Ok(()), "measured round");
        ensure_eq!(raw::free_frames(), before, "the 8 moved pages went with the receiver");
        Ok(())
    });

    s.case("long::a_frame_shared_to_itself_many_times_cannot_overflow_its_map_count", || {
        use core::sync::atomic::Ordering::SeqCst;
        // The attack: one page shared to a sibling thread into the window just after it,
        // doubling a range that names one frame, up to 24,576 mappings; then that range
        // shared to another task (49,152 mappings), and to a third: 73,728 would pass the
        // count's 65,535. Each page alone has room; only counting repeats sees the overflow.
        const L: u64 = 24 * 1024;
        let helper = libsys::thread::spawn(doubling_helper, TICKET.load(SeqCst) as usize).map_err(fail)?;
        fill(ONE_FRAME, 1, 0x5a).map_err(fail)?;
        let mut windows = [0u64; 20];
        let (mut have, mut steps) = (1u64, 0usize);
        while have < L {
            let m = have.min(L - have);
            NEXT_WINDOW.store(ONE_FRAME + have * P, SeqCst);
            NEXT_PAGES.store(m, SeqCst);
            TICKET.fetch_add(1, SeqCst);
            let (r, _) = send_pages(helper, ONE_FRAME, m, true, b"", FOREVER);
            ensure_eq!(r, Ok(0), "share {m} pages to a sibling");
            windows[steps] = ONE_FRAME + have * P;
            steps += 1;
            have += m;
        }
        NEXT_PAGES.store(0, SeqCst);
        TICKET.fetch_add(1, SeqCst);
        let last = (ONE_FRAME + (L - 1) * P) as *mut u8;
        // SAFETY: the whole range is mapped (the page and the windows received).
        unsafe { last.write_volatile(0xa5) };
        // SAFETY: as above.
        ensure_eq!(unsafe { (ONE_FRAME as *const u8).read_volatile() }, 0xa5, "every page is the same frame");
        let (tb, b) = peer::start(peer::BIG_SINK, L as u32).map_err(fail)?;
        let (r, reply) = send_pages(b, ONE_FRAME, L, true, b"", FOREVER);
        ensure_eq!((r, reply), (Ok(0), (L as u32).to_le_bytes().to_vec()), "shared on once: 49,152 mappings");
        let (tc, c) = peer::start(peer::BIG_SINK, L as u32).map_err(fail)?;
        wait_blocked(c);
        let (r, _) = send_pages(c, ONE_FRAME, L, true, b"", FOREVER);
        ensure_eq!(r, Err(Error::OutOfMemory), "a clean error, not an overflowed count");
        let (r, reply) = send_pages(c, ONE_FRAME, 1, true, b"", FOREVER);
        ensure_eq!((r, reply), (Ok(0), 1u32.to_le_bytes().to_vec()), "the kernel lives, the count is intact");
        for t in [b, c] {
            ensure_eq!(ipc::send_msg(t, b"quit", ipc::ASYNC, 0).map(|_| ()), Ok(()), "quit");
        }
        ensure_eq!((libsys::task::wait(tb), libsys::task::wait(tc)), (Ok(0), Ok(0)), "the sinks exit");
        for base in core::iter::once(ONE_FRAME).chain(windows[..steps].iter().copied()) {
            // SAFETY: the regions of this case; nothing refers to them any more.
            ensure_eq!(result(unsafe { raw::remove_pages(base as *mut u8) }), Ok(0), "remove {base:#x}");
        }
        Ok(())
    });

    s.case("long::threads_of_one_task_move_and_share", || {
        reset();
        static mut RESULT: [u8; 4] = [0; 4];
        let srv = libsys::thread::spawn(
            |_| {
                let mut cmd = [0u8; 8];
                let mut len = 8u32;
                let mut long = (4 * P) as u32;
                let win = WINDOW + 0x100_0000;
                // SAFETY: an unmapped window of this task; buffers are locals.
                let (r, from) =
                    unsafe { raw::ipc_recv_from(win as *mut u8, cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) };
                let mut first = [0u8; 1];
                if r == 0 {
                    first_bytes(win, 1, &mut first);
                }
                // SAFETY: written before the reply, read after it by the other thread.
                unsafe { RESULT = [r as u8, (long / 4096) as u8, from.shared as u8, first[0]] };
                let _ = ipc::reply(b"");
                // Stay until told to go: exiting unmaps this thread's stack, which flushes
                // the TLB, and the other thread's check below must not get that for free.
                let (mut len, mut long) = (8u32, 0u32);
                // SAFETY: local buffers, no window.
                let r = unsafe { raw::ipc_recv(core::ptr::null_mut(), cmd.as_mut_ptr(), &mut long, &mut len, FOREVER) };
                if r == 0 {
                    let _ = ipc::reply(b"");
                }
            },
            0,
        )
        .expect("spawn");
        // Three pages, of which the first two move: the third keeps their page table in
        // use, so nothing frees it (which would invalidate its addresses in passing), and
        // within one task no switch of address space reloads CR3 either: only the one TLB
        // flush of the transfer stands between the sender and the pages it gave away.
        fill(OUT, 3, 90).map_err(fail)?;
        ensure_eq!(send_pages(srv, OUT, 2, false, b"", FOREVER).0, Ok(0), "move to a sibling thread");
        // SAFETY: the sibling wrote RESULT before replying.
        ensure_eq!(unsafe { RESULT }, [0, 2, 0, 90], "received 2 moved pages");
        let win = WINDOW + 0x100_0000;
        // SAFETY: moved within this address space: now mapped at the window.
        ensure_eq!(unsafe { (win as *const u8).read_volatile() }, 90, "remapped within the task");
        // The old addresses translate to nothing any more: fresh pages there read zero,
        // not the moved pages (90, 91) through translations the TLB kept (all were written
        // just before the move).
        // SAFETY: moved away, so free again.
        let mapped = result(unsafe { raw::new_pages(OUT as *mut u8, (2 * P) as u32) });
        let mut fresh = [0xffu8; 3];
        if mapped.is_ok() {
            first_bytes(OUT, 3, &mut fresh);
        }
        ensure_eq!(send_pages(srv, 0, 0, false, b"quit", FOREVER).0, Ok(0), "the sibling goes");
        ensure_eq!(mapped, Ok(0), "the range is free");
        ensure_eq!(fresh, [0, 0, 92], "fresh pages are zero: no stale translation to a moved page");
        // SAFETY: our regions: the two fresh pages, and what is left of the three.
        unsafe {
            raw::remove_pages(OUT as *mut u8);
            raw::remove_pages((OUT + 2 * P) as *mut u8);
        }
        // SAFETY: our region (received).
        unsafe { raw::remove_pages(win as *mut u8) };
        Ok(())
    });
}
