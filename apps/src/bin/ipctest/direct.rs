//! The direct switch's refusals, seen from user mode: each condition under which the
//! kernel's `syscall` stub must not switch straight to the partner (it declines to the
//! general path), set up so that a switch taken wrongly would show: a message left in a
//! mailbox and another received before it, a reply reaching a call it does not answer, a
//! stale id reaching the thread that reuses its slot, a receiver in memory entered with
//! registers. Each case checks what the general path gives.

use crate::ipc::{recv, reply, result, send_msg, wait_blocked, ASYNC, FOREVER};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use libsys::abi::ipc::fast;
use libsys::abi::{Error, Syscall};
use libsys::raw;
use moroso_apps::ensure_eq;
use moroso_apps::harness::{Msg, Suite};

fn spawn(f: fn(usize)) -> Result<u32, Msg> {
    libsys::thread::spawn(f, 0).map_err(|e| Msg::new(format_args!("spawn: {e}")))
}

fn word(bytes: &[u8]) -> u64 {
    fast::to_words(bytes)[0]
}

/// Yields until `flag` is set.
fn wait_for(flag: &AtomicU32) {
    while flag.load(Ordering::SeqCst) == 0 {
        libsys::time::yield_now();
    }
}

/// What a logging server received, in order: each message's kind and first word.
static LOG: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static LOGGED: AtomicU32 = AtomicU32::new(0);

fn log(kind: i32, first: u64) {
    let i = LOGGED.fetch_add(1, Ordering::SeqCst) as usize;
    if i < LOG.len() {
        LOG[i].store((kind as u32 as u64) << 56 | (first & 0x00ff_ffff_ffff_ffff), Ordering::SeqCst);
    }
}

fn logged() -> ([u64; 4], u32) {
    (core::array::from_fn(|i| LOG[i].load(Ordering::SeqCst)), LOGGED.load(Ordering::SeqCst))
}

fn entry(kind: i32, bytes: &[u8]) -> u64 {
    (kind as u32 as u64) << 56 | (word(bytes) & 0x00ff_ffff_ffff_ffff)
}

/// Set when the logging server has its first call and may be given more to receive.
static BUSY: AtomicU32 = AtomicU32::new(0);
/// Set when everything the case queues for the logging server is queued.
static QUEUED: AtomicU32 = AtomicU32::new(0);

/// Receives a call, waits (busy) until the case has queued something more for it, replies
/// and waits in one `IpcReplyWait` (which must receive what was queued, at once), then
/// answers every call (by its first word) until one says "quit"; logs everything.
fn logging_server(_: usize) {
    // SAFETY: registers only.
    let (r, _, _, w) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    log(r, w[0]);
    BUSY.store(1, Ordering::SeqCst);
    wait_for(&QUEUED);
    let mut reply = Some((4, fast::to_words(b"done")));
    loop {
        // SAFETY: registers only.
        let (r, _, _, w) = unsafe { raw::ipc_reply_wait(reply, FOREVER) };
        log(r, w[0]);
        reply = (r == 0).then_some((4, w));
        if w[0] == word(b"quit") {
            // SAFETY: registers only; a poll after the reply: nothing more is waited for.
            unsafe { raw::ipc_reply_wait(reply, 0) };
            return;
        }
    }
}

/// A sender, in a thread of its own, of what the logging cases queue: an asynchronous
/// message or a call, as `SECOND_MODE` says.
static SECOND_MODE: AtomicU32 = AtomicU32::new(0);
static SERVER: AtomicU32 = AtomicU32::new(0);
static SECOND_DONE: AtomicU32 = AtomicU32::new(0);
/// Set when the logging case has seen what it checks: the helpers may end. Until then
/// they stay (yielding), since a thread that has ended and waits to be reaped turns the
/// direct switch off until the next general entry, and the case is about the switch.
static FINISHED: AtomicU32 = AtomicU32::new(0);

fn second_sender(_: usize) {
    let srv = SERVER.load(Ordering::SeqCst);
    if SECOND_MODE.load(Ordering::SeqCst) == 0 {
        let _ = send_msg(srv, b"asyn", ASYNC, 0);
    } else {
        // SAFETY: registers only.
        let _ = unsafe { raw::ipc_call_fast(srv, 4, fast::to_words(b"2nd!"), FOREVER) };
    }
    SECOND_DONE.store(1, Ordering::SeqCst);
    wait_for(&FINISHED);
}

/// Started before the call: once the logging server is busy with it, starts the second
/// sender and waits until what it sends is queued (the message buffered, or the caller
/// waiting in the server's mailbox).
fn queuer(_: usize) {
    wait_for(&BUSY);
    let Ok(sender) = libsys::thread::spawn(second_sender, 0) else { return };
    if SECOND_MODE.load(Ordering::SeqCst) == 0 {
        wait_for(&SECOND_DONE);
    } else {
        wait_blocked(sender);
    }
    QUEUED.store(1, Ordering::SeqCst);
    wait_for(&FINISHED);
}

/// The logging case: a call, then `mode` (0: an asynchronous message, 1: a second caller)
/// queued while the server is busy with it; the server's reply-and-wait must receive it
/// at once (not wait with it queued), before the "quit" the caller sends next.
fn queued_before_the_reply(mode: u32) -> Result<(), Msg> {
    LOGGED.store(0, Ordering::SeqCst);
    for (flag, v) in [(&BUSY, 0), (&QUEUED, 0), (&SECOND_DONE, 0), (&FINISHED, 0), (&SECOND_MODE, mode)] {
        flag.store(v, Ordering::SeqCst);
    }
    let srv = spawn(logging_server)?;
    SERVER.store(srv, Ordering::SeqCst);
    wait_blocked(srv);
    spawn(queuer)?;
    ensure_eq!(call4(srv, b"call")?, word(b"done"), "the reply to the first call");
    // Until the server waits again: it has received all it could by then.
    wait_blocked(srv);
    let (log, n) = logged();
    FINISHED.store(1, Ordering::SeqCst);
    let second = if mode == 0 { entry(1, b"asyn") } else { entry(0, b"2nd!") };
    ensure_eq!((n, &log[..2]), (2, &[entry(0, b"call"), second][..]), "the queued one came next, at once");
    ensure_eq!(call4(srv, b"quit")?, word(b"quit"), "quit echoed");
    wait_for(&SECOND_DONE);
    let (log, n) = logged();
    ensure_eq!((n, log[2]), (3, entry(0, b"quit")), "then the quit");
    Ok(())
}

/// A call of 4 bytes in registers, forever; the reply's first word.
fn call4(srv: u32, msg: &[u8; 4]) -> Result<u64, Msg> {
    // SAFETY: registers only.
    let (r, len, w) = unsafe { raw::ipc_call_fast(srv, 4, fast::to_words(msg), FOREVER) };
    ensure_eq!((r, len), (0, 4), "the call of {:?}", core::str::from_utf8(msg));
    Ok(w[0])
}

/// What the memory receiver got: its length and first word.
static MEM_GOT: AtomicU64 = AtomicU64::new(0);
static MEM_LEN: AtomicU32 = AtomicU32::new(0);

/// Receives one message into memory (`ipc_recv`) and replies "ok!".
fn memory_receiver(_: usize) {
    let mut buf = [0u8; 64];
    if let Ok(got) = recv(&mut buf, FOREVER) {
        MEM_LEN.store(got.len, Ordering::SeqCst);
        MEM_GOT.store(word(&buf[..8]), Ordering::SeqCst);
        let _ = reply(b"ok!");
    }
}

/// Echoes one call in registers (and dies after a poll).
fn echo_once(_: usize) {
    // SAFETY: registers only.
    let (r, _, len, w) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    if r == 0 {
        // SAFETY: registers only.
        unsafe { raw::ipc_reply_wait(Some((len, w)), 0) };
    }
}

/// The seq case's first server: receives a call, keeps it until its caller has given up
/// (`GAVE_UP`), then replies, and records what that returned.
static GAVE_UP: AtomicU32 = AtomicU32::new(0);
static LATE_REPLY: AtomicI32 = AtomicI32::new(1);
static LATE_DONE: AtomicU32 = AtomicU32::new(0);

fn late_server(_: usize) {
    // SAFETY: registers only.
    let (r, ..) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    if r != 0 {
        LATE_REPLY.store(r, Ordering::SeqCst);
        LATE_DONE.store(1, Ordering::SeqCst);
        return;
    }
    wait_for(&GAVE_UP);
    // With no deadline, as the direct switch takes it; a reply that fails returns at once,
    // without the wait.
    // SAFETY: registers only.
    let (r, ..) = unsafe { raw::ipc_reply_wait(Some((8, fast::to_words(b"late!!!!"))), FOREVER) };
    LATE_REPLY.store(r, Ordering::SeqCst);
    LATE_DONE.store(1, Ordering::SeqCst);
}

/// The seq case's second server: receives a call, answers it only after the first server
/// has tried its late reply.
fn second_server(_: usize) {
    // SAFETY: registers only.
    let (r, ..) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    if r == 0 {
        wait_for(&LATE_DONE);
        // SAFETY: registers only.
        unsafe { raw::ipc_reply_wait(Some((8, fast::to_words(b"second!!"))), 0) };
    }
}

/// What the deadline server's reply-and-wait returned (1: not yet).
static DEADLINE_RESULT: AtomicI32 = AtomicI32::new(1);

/// Receives a call, answers it and waits 3 ticks for another, which never comes.
fn deadline_server(_: usize) {
    // SAFETY: registers only.
    let (r, _, len, w) = unsafe { raw::ipc_reply_wait(None, FOREVER) };
    if r == 0 {
        // SAFETY: registers only.
        let (r, ..) = unsafe { raw::ipc_reply_wait(Some((len, w)), 3) };
        DEADLINE_RESULT.store(r, Ordering::SeqCst);
    }
}

/// Receives one call and ends without answering it.
fn dying_server(_: usize) {
    // SAFETY: registers only.
    unsafe { raw::ipc_reply_wait(None, FOREVER) };
}

/// Words a declined call leaves in its caller's saved frame, to see whether they come back.
const JUNK: [u64; 5] = [0x5a5a_0001, 0x5a5a_0002, 0x5a5a_0003, 0x5a5a_0004, 0x5a5a_0005];

pub fn cases(s: &mut Suite) {
    s.case("direct::a_reply_wait_takes_a_message_buffered_meanwhile_at_once", || queued_before_the_reply(0));

    s.case("direct::a_reply_wait_takes_a_caller_queued_meanwhile_at_once", || queued_before_the_reply(1));

    s.case("direct::a_call_to_a_receiver_in_memory_fills_its_buffer", || {
        let srv = spawn(memory_receiver)?;
        wait_blocked(srv);
        // SAFETY: registers only.
        let (r, len, w) = unsafe { raw::ipc_call_fast(srv, 8, fast::to_words(b"memory!!"), FOREVER) };
        ensure_eq!((r, len, &fast::to_bytes(&w)[..3]), (0, 3, &b"ok!"[..]), "the reply from memory");
        ensure_eq!(
            (MEM_LEN.load(Ordering::SeqCst), MEM_GOT.load(Ordering::SeqCst)),
            (8, word(b"memory!!")),
            "the receiver's buffer holds the call"
        );
        Ok(())
    });

    s.case("direct::a_call_to_a_stale_id_reaches_no_thread", || {
        // The id of the next generation in a waiting server's slot: no thread's yet.
        let srv = spawn(echo_once)?;
        wait_blocked(srv);
        let stale = srv + 256;
        // SAFETY: registers only.
        let (r, ..) = unsafe { raw::ipc_call_fast(stale, 8, fast::to_words(b"stale!!!"), FOREVER) };
        ensure_eq!(result(r), Err(Error::NoSuchThread), "the other generation's id names nobody");
        // SAFETY: registers only.
        let (r, len, w) = unsafe { raw::ipc_call_fast(srv, 8, fast::to_words(b"current!"), FOREVER) };
        ensure_eq!((r, len, w[0]), (0, 8, word(b"current!")), "the server got only its own call");
        Ok(())
    });

    s.case("direct::a_reply_wait_with_a_deadline_times_out", || {
        DEADLINE_RESULT.store(1, Ordering::SeqCst);
        let srv = spawn(deadline_server)?;
        wait_blocked(srv);
        // SAFETY: registers only.
        let (r, len, w) = unsafe { raw::ipc_call_fast(srv, 8, fast::to_words(b"deadline"), FOREVER) };
        ensure_eq!((r, len, w[0]), (0, 8, word(b"deadline")), "answered");
        while DEADLINE_RESULT.load(Ordering::SeqCst) == 1 {
            libsys::time::yield_now();
        }
        ensure_eq!(
            result(DEADLINE_RESULT.load(Ordering::SeqCst)),
            Err(Error::Timeout),
            "its wait ended at the deadline"
        );
        Ok(())
    });

    s.case("direct::a_caller_whose_server_dies_gets_peer_died_and_zeros", || {
        // A call the direct switch declines (to nobody) saves the whole frame: junk in
        // every argument slot. The next call is switched directly, which saves none of
        // them; its server dies owing the reply. The caller must get PeerDied and zeros,
        // not what its frame held from before.
        // SAFETY: registers only.
        let (r, ..) = unsafe { raw::fast_syscall(Syscall::IpcCall, fast::call_word(0, 8), 0x5a5a_0000, JUNK) };
        ensure_eq!(result(r as i32), Err(Error::NoSuchThread), "the junk call went nowhere");
        let srv = spawn(dying_server)?;
        wait_blocked(srv);
        // SAFETY: registers only.
        let (r, rdi, rsi, w) = unsafe {
            raw::fast_syscall(Syscall::IpcCall, fast::call_word(srv, 8), fast::timeout_word(FOREVER), [7; 5])
        };
        ensure_eq!((result(r as i32), rdi, rsi, w), (Err(Error::PeerDied), 0, 0, [0; 5]), "PeerDied and zeros");
        Ok(())
    });

    s.case("direct::a_poll_call_to_a_waiting_server_is_delivered", || {
        let srv = spawn(echo_once)?;
        wait_blocked(srv);
        // SAFETY: registers only.
        let (r, len, w) = unsafe { raw::ipc_call_fast(srv, 8, fast::to_words(b"polling!"), 0) };
        ensure_eq!((r, len, w[0]), (0, 8, word(b"polling!")), "delivered and answered");
        Ok(())
    });

    s.case("direct::a_reply_reaches_only_the_call_it_answers", || {
        // The caller gives up on a call to the first server, then calls the second and
        // waits for it in registers with no deadline: the first server's late reply
        // names a caller in the right wait, but for another call. It must fail, and the
        // caller get the second server's reply.
        for flag in [&GAVE_UP, &LATE_DONE] {
            flag.store(0, Ordering::SeqCst);
        }
        LATE_REPLY.store(1, Ordering::SeqCst);
        let first = spawn(late_server)?;
        let second = spawn(second_server)?;
        wait_blocked(first);
        wait_blocked(second);
        // SAFETY: registers only.
        let (r, ..) = unsafe { raw::ipc_call_fast(first, 8, fast::to_words(b"give up!"), 2) };
        ensure_eq!(result(r), Err(Error::Timeout), "the first call timed out");
        GAVE_UP.store(1, Ordering::SeqCst);
        // SAFETY: registers only.
        let (r, len, w) = unsafe { raw::ipc_call_fast(second, 8, fast::to_words(b"2nd call"), FOREVER) };
        ensure_eq!((r, len, w[0]), (0, 8, word(b"second!!")), "the second server's reply, not the late one");
        wait_for(&LATE_DONE);
        ensure_eq!(result(LATE_REPLY.load(Ordering::SeqCst)), Err(Error::Timeout), "the late reply failed");
        Ok(())
    });
}
