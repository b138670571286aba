//! The spec calls' direct way (`ipc::direct_spec`, `sys::spec`) and `ipc_reply`'s own
//! light way (`Kernel::light_reply`) against the general path, on the fake machine, as `fast_tests` does for the
//! register calls.
//!
//! Every case is set up on fresh machines three times: on one the core's attempt alone
//! (`direct_send`, `direct_recv_block`) must be taken where the case says
//! so, and otherwise decline having changed nothing at all; on the second the call runs as
//! the machine runs it (the direct way first); on the third through the general path only.
//! The last two must end in the same state to the bit (threads, results, lists, timers,
//! mailboxes, saved registers, run queue, donation, send counter, hardware requests).

use super::fixture::{data, err, Machine, Regs};
use super::Leave;
use crate::task::ThreadSlot;
use abi::image::Grants;
use abi::ipc::{fast, RecvKind, SendControl};
use abi::{Error, Syscall};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A client task (`a`), a server task (`b`) and a third party (`c`).
#[derive(Clone, Copy)]
struct W {
    a: ThreadSlot,
    b: ThreadSlot,
    c: ThreadSlot,
}

fn world_with(m: &mut Machine, io_b: bool) -> W {
    let io = Grants { io_base: 0x3f8, io_count: 8, ..Grants::NONE };
    let ta = m.task("a", Grants::NONE);
    let a = m.thread(ta);
    let tb = m.task("b", if io_b { io } else { Grants::NONE });
    let b = m.thread(tb);
    let tc = m.task("c", Grants::NONE);
    let c = m.thread(tc);
    W { a, b, c }
}

fn world(m: &mut Machine) -> W {
    world_with(m, false)
}

/// Where thread `t` keeps its length words: `+0` the send's, `+8` the receive's short
/// capacity, `+16` its long capacity.
fn lens(t: ThreadSlot) -> u64 {
    data(t) + 3 * PAGE
}

/// `ipc_send` arguments of `t`: to `tid`, `len` bytes from its data page, `option_sync`,
/// `timeout`, long part `len_long` bytes at `long`.
fn send_args(m: &mut Machine, t: ThreadSlot, tid: u32, len: u32, sync: u32, timeout: i32) -> Vec<u64> {
    m.poke(t, lens(t), &len.to_le_bytes());
    m.poke(t, data(t), b"spec-message-bytes");
    let control = SendControl { timeout, shared: false, option_sync: sync }.encode();
    vec![tid as u64, 0, data(t), 0, lens(t), control]
}

/// `ipc_recv` arguments of `t`: capacity `cap` into its second data page, long capacity
/// `long`, `timeout`.
fn recv_args(m: &mut Machine, t: ThreadSlot, cap: u32, long: u32, timeout: i32) -> Vec<u64> {
    m.poke(t, lens(t) + 8, &cap.to_le_bytes());
    m.poke(t, lens(t) + 16, &long.to_le_bytes());
    vec![if long != 0 { 0x4000_0000 } else { 0 }, data(t) + PAGE, lens(t) + 16, lens(t) + 8, timeout as u32 as u64]
}

/// `t` blocks in `ipc_recv` with capacity `cap` and `timeout`.
fn receives(m: &mut Machine, t: ThreadSlot, cap: u32, timeout: i32) {
    let args = recv_args(m, t, cap, 0, timeout);
    m.call(t, Syscall::IpcRecv, &args);
    assert!(!matches!(m.k.core.thread(t).state(), crate::task::State::Runnable), "blocked");
}

/// `a` calls `b` (waiting in `ipc_recv`) with 8 bytes: delivered, `b` owes `a` the reply.
fn called(m: &mut Machine, w: W) {
    receives(m, w.b, 64, -1);
    let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
    m.call(w.a, Syscall::IpcSend, &args);
    assert_eq!(m.running, Some(w.b));
}

/// A system call to make: by `caller`, number `nr`, arguments `args`.
struct Case {
    w: W,
    caller: ThreadSlot,
    nr: Syscall,
    args: Vec<u64>,
}

/// Everything observable about a machine.
fn digest(m: &Machine) -> String {
    let p = &m.k.platform;
    format!(
        "{}frames {:?}\nio {:?} loaded {:?} irqs {:?} tid {} switches {:?} running {:?}",
        m.k.core.snapshot(),
        p.frames,
        p.io,
        m.k.io_loaded,
        m.k.irqs,
        p.running_tid,
        m.switches(),
        m.running
    )
}

/// 64 bytes of thread `t`'s memory at `at`, if its task and that memory are still there.
fn peek(m: &Machine, t: ThreadSlot, at: u64) -> Option<Vec<u8>> {
    use crate::umem::UserMemory;
    let space = m.k.core.task(m.k.core.thread(t).task).space.as_ref()?;
    let mut v = vec![0; 64];
    space.copy_in(at, &mut v).ok().map(|()| v)
}

/// The core's attempt for case `c` alone: whether it was taken.
fn attempt(m: &mut Machine, c: &Case) -> bool {
    let mut regs = Regs { number: c.nr as u64, ..Regs::default() };
    regs.args[..c.args.len()].copy_from_slice(&c.args);
    match c.nr {
        Syscall::IpcSend => m.k.core.direct_send(c.caller, &super::calls::send_args(&regs)).is_some(),
        Syscall::IpcRecv => m.k.core.direct_recv_block(c.caller, &super::calls::recv_args(&regs)).is_some(),
        n => panic!("not a spec call: {n:?}"),
    }
}

/// Checks `setup`'s call both ways (see the module doc); `direct`: whether the direct way
/// takes it. Returns the machine that ran it as the machine does.
fn check(setup: impl Fn(&mut Machine) -> Case, direct: bool) -> (Machine, Case) {
    let mut probe = Machine::new();
    let c = setup(&mut probe);
    probe.run(c.caller);
    let before = digest(&probe);
    assert_eq!(attempt(&mut probe, &c), direct, "{:?}: direct way taken", c.nr);
    if !direct {
        assert_eq!(digest(&probe), before, "a declined attempt changed something");
    }
    compare(setup)
}

/// Runs `setup`'s call as the machine runs it and through the general path only, on fresh
/// machines, and checks that both end in the same state; returns the first.
fn compare(setup: impl Fn(&mut Machine) -> Case) -> (Machine, Case) {
    let mut general = Machine::new();
    let c = setup(&mut general);
    general.general_only = true;
    let expected = general.raw(c.caller, c.nr as u64, &c.args);

    let mut m = Machine::new();
    let c = setup(&mut m);
    let got = m.raw(c.caller, c.nr as u64, &c.args);
    assert_eq!(got, expected, "{:?}: left differently", c.nr);
    assert_eq!(digest(&m), digest(&general), "{:?}: not what the general path does", c.nr);
    for t in [c.w.a, c.w.b, c.w.c] {
        for at in [data(t), data(t) + PAGE, lens(t)] {
            assert_eq!(peek(&m, t, at), peek(&general, t, at), "thread {t}'s memory at {at:#x}");
        }
    }
    (m, c)
}

// ---- ipc_send ---------------------------------------------------------------------------

/// `a` sends `len` bytes (`sync`, `timeout`) to `b`, which waits in `ipc_recv` with
/// capacity `cap` and `server_timeout`.
fn send_setup(cap: u32, server_timeout: i32, len: u32, sync: u32, timeout: i32) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        receives(m, w.b, cap, server_timeout);
        let args = send_args(m, w.a, m.tid(w.b), len, sync, timeout);
        Case { w, caller: w.a, nr: Syscall::IpcSend, args }
    }
}

#[test]
fn a_synchronous_send_to_a_receiver_is_copied_into_its_buffer_and_switches_to_it() {
    let (mut m, c) = check(send_setup(64, -1, 8, 1, -1), true);
    let w = c.w;
    assert_eq!(m.running, Some(w.b));
    assert_eq!(m.rax(w.b), u32::from(RecvKind::Call) as i64);
    assert_eq!(m.rdx(w.b), m.tid(w.a) as u64, "the sender word");
    assert_eq!(m.peek(w.b, data(w.b) + PAGE, 8), b"spec-mes");
    assert_eq!(m.peek(w.b, lens(w.b) + 8, 4), 8u32.to_le_bytes());
}

#[test]
fn a_send_that_polls_is_taken_too() {
    check(send_setup(64, -1, 8, 1, 0), true);
}

#[test]
fn a_send_longer_than_the_receiver_s_buffer_is_cut_to_it() {
    let (mut m, c) = check(send_setup(5, -1, 16, 1, -1), true);
    let b = c.w.b;
    assert_eq!(m.peek(b, lens(b) + 8, 4), 5u32.to_le_bytes(), "the length it took");
    assert_eq!(m.peek(b, data(b) + PAGE, 6), b"spec-\0");
}

#[test]
fn a_send_with_a_deadline_declines() {
    check(send_setup(64, -1, 8, 1, 5), false);
}

#[test]
fn an_asynchronous_send_declines() {
    check(send_setup(64, -1, 8, 0, -1), false);
}

#[test]
fn a_send_without_reply_declines() {
    check(send_setup(64, -1, 8, 2, -1), false);
}

#[test]
fn a_send_with_an_invalid_mode_or_timeout_declines() {
    check(send_setup(64, -1, 8, 7, -1), false);
    check(send_setup(64, -1, 8, 1, -5), false);
}

#[test]
fn a_send_with_a_long_part_declines() {
    check(
        |m| {
            let w = world(m);
            receives(m, w.b, 64, -1);
            let mut args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            args[1] = data(w.a) + 2 * PAGE;
            args[3] = PAGE;
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
}

#[test]
fn a_send_to_a_thread_not_receiving_declines_and_queues() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
    assert_eq!(m.k.core.queued_messages(c.w.b), 0);
    assert_ne!(m.running, Some(c.caller), "the sender waits in the queue");
}

#[test]
fn a_send_to_a_receiver_with_a_deadline_declines() {
    check(send_setup(64, 5, 8, 1, -1), false);
}

#[test]
fn a_send_to_a_receiver_waiting_in_registers_declines() {
    check(
        |m| {
            let w = world(m);
            m.call(w.b, Syscall::IpcReplyWait, &[fast::reply_word(None), fast::timeout_word(-1)]);
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
}

#[test]
fn a_send_to_a_receiver_with_a_long_capacity_declines() {
    check(
        |m| {
            let w = world(m);
            let args = recv_args(m, w.b, 64, PAGE as u32, -1);
            m.call(w.b, Syscall::IpcRecv, &args);
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
}

#[test]
fn a_send_from_a_bad_buffer_declines_and_fails() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            receives(m, w.b, 64, -1);
            let mut args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            args[2] = 0x7000_0000; // not mapped
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

#[test]
fn a_send_with_a_bad_length_word_declines_and_fails() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            receives(m, w.b, 64, -1);
            let mut args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            args[4] = u64::MAX - 2; // outside user space
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

#[test]
fn a_send_too_long_declines_and_fails() {
    let (m, c) = check(send_setup(64, -1, abi::SHORT_MAX as u32 + 1, 1, -1), false);
    assert_eq!(m.rax(c.caller), err(Error::TooLong));
}

#[test]
fn a_send_to_a_receiver_whose_buffer_went_declines() {
    check(
        |m| {
            let w = world(m);
            receives(m, w.b, 64, -1);
            m.mem(w.b).unmap(data(w.b) + PAGE);
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
}

/// `b`'s first receive goes the direct way and keeps its buffers (its message at `data +
/// PAGE`, its length words at `lens + 8` and `lens + 16`); after the reply its next
/// receive, by the general path, is into the message buffer `at` with length words `len`
/// and `long`; then `a` sends 8 bytes. The kept buffers may serve only the very ranges they
/// were kept for: the send must fill the new ones (`compare` checks the memory, and the
/// caller checks where the bytes went).
fn other_receive_setup(at: u64, len: u64, long: u64) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        called(m, w);
        m.call(w.b, Syscall::IpcReply, &[data(w.b), 0]);
        m.poke(w.b, data(w.b) + PAGE, &[0; 8]);
        for word in [lens(w.b) + 8, lens(w.b) + 24] {
            m.poke(w.b, word, &64u32.to_le_bytes());
        }
        for word in [lens(w.b) + 16, lens(w.b) + 32] {
            m.poke(w.b, word, &7u32.to_le_bytes());
        }
        m.poke(w.b, lens(w.b) + long, &0u32.to_le_bytes());
        m.general_only = true;
        m.call(w.b, Syscall::IpcRecv, &[0, data(w.b) + at, lens(w.b) + long, lens(w.b) + len, -1i32 as u32 as u64]);
        m.general_only = false;
        assert!(!matches!(m.k.core.thread(w.b).state(), crate::task::State::Runnable), "blocked");
        let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
        Case { w, caller: w.a, nr: Syscall::IpcSend, args }
    }
}

/// Checks [`other_receive_setup`]`(at, len, long)`: the message at `data + at`, its length
/// at `lens + len`, 0 at `lens + long`, and the kept buffers left alone where they differ.
fn other_receive(at: u64, len: u64, long: u64) {
    let (mut m, c) = check(other_receive_setup(at, len, long), true);
    let b = c.w.b;
    assert_eq!(m.peek(b, data(b) + at, 8), b"spec-mes", "into the receive's buffer");
    assert_eq!(m.peek(b, lens(b) + len, 4), 8u32.to_le_bytes(), "the receive's length word");
    assert_eq!(m.peek(b, lens(b) + long, 4), 0u32.to_le_bytes(), "the receive's long length word");
    if at != PAGE {
        assert_eq!(m.peek(b, data(b) + PAGE, 8), [0; 8], "not the kept buffer");
    }
    if len != 8 {
        assert_eq!(m.peek(b, lens(b) + 8, 4), 64u32.to_le_bytes(), "not the kept length word");
    }
    if long != 16 {
        assert_eq!(m.peek(b, lens(b) + 16, 4), 7u32.to_le_bytes(), "not the kept long length word");
    }
}

#[test]
fn a_send_after_a_receive_into_another_buffer_fills_that_one() {
    other_receive(2 * PAGE, 8, 16);
}

#[test]
fn a_send_after_a_receive_with_another_length_word_writes_that_one() {
    other_receive(PAGE, 24, 16);
}

#[test]
fn a_send_after_a_receive_with_another_long_length_word_writes_that_one() {
    other_receive(PAGE, 8, 32);
}

/// `b` receives the direct way with its length word across a page boundary, so its
/// receive keeps nothing (`Kept::new`) and its record is not marked as made from kept
/// buffers (`Kept::set_pending`); `a`'s send must check and fill them as `put_short` does.
#[test]
fn a_send_to_a_receive_that_kept_nothing_checks_its_buffers() {
    let word = 2 * PAGE - 2;
    let (mut m, c) = check(
        move |m| {
            let w = world(m);
            let len_at = data(w.b) + word;
            m.poke(w.b, len_at, &64u32.to_le_bytes());
            m.poke(w.b, lens(w.b) + 16, &0u32.to_le_bytes());
            m.call(w.b, Syscall::IpcRecv, &[0, data(w.b) + PAGE, lens(w.b) + 16, len_at, -1i32 as u32 as u64]);
            assert!(!matches!(m.k.core.thread(w.b).state(), crate::task::State::Runnable), "blocked");
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        true,
    );
    let b = c.w.b;
    assert_eq!(m.peek(b, data(b) + PAGE, 8), b"spec-mes", "into the receive's buffer");
    assert_eq!(m.peek(b, data(b) + word, 4), 8u32.to_le_bytes(), "its length word, across the pages");
}

#[test]
fn a_send_to_itself_or_to_a_dead_thread_declines() {
    check(
        |m| {
            let w = world(m);
            let args = send_args(m, w.a, m.tid(w.a), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
    let (m, c) = check(
        |m| {
            let w = world(m);
            let args = send_args(m, w.a, m.tid(w.b) + 0x10000, 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::NoSuchThread));
}

#[test]
fn a_send_to_a_receiver_with_other_io_ports_is_taken_and_loads_them() {
    let (m, _) = check(
        |m| {
            let w = world_with(m, true);
            receives(m, w.b, 64, -1);
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        true,
    );
    assert_eq!(m.k.io_loaded, (0x3f8, 8));
}

// ---- ipc_reply: its own light way -------------------------------------------------------

/// `ipc_reply` never blocks or switches its caller, so it has its own light way
/// (`Kernel::light_reply`); checked
/// against the general path like every case here.
fn light(setup: impl Fn(&mut Machine) -> Case) -> (Machine, Case) {
    assert!(super::fast::is_light(Syscall::IpcReply as u64));
    compare(setup)
}

/// `b`, having received `a`'s call, replies `len` bytes from its data page; `more` then
/// changes the world first.
fn reply_setup(len: u32, more: impl Fn(&mut Machine, W)) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        called(m, w);
        m.poke(w.b, data(w.b), b"the-reply-bytes");
        more(m, w);
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![data(w.b), len as u64] }
    }
}

fn nothing(_: &mut Machine, _: W) {}

#[test]
fn a_reply_to_a_caller_waiting_in_memory_is_copied_and_wakes_it() {
    let (mut m, c) = light(reply_setup(8, nothing));
    let a = c.w.a;
    assert_eq!(m.running, Some(c.caller), "the server goes on");
    assert_eq!(m.rax(c.caller), 0);
    assert_eq!(m.peek(a, data(a), 8), b"the-repl");
    assert_eq!(m.peek(a, lens(a), 4), 8u32.to_le_bytes());
}

#[test]
fn a_reply_longer_than_the_caller_s_buffer_is_cut_to_it() {
    let (mut m, c) = light(reply_setup(12, nothing));
    let a = c.w.a;
    assert_eq!(m.peek(a, lens(a), 4), 8u32.to_le_bytes(), "the caller's capacity was 8");
}

#[test]
fn a_reply_to_nobody_ends_as_on_the_general_path() {
    let (m, c) = light(|m| {
        let w = world(m);
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![data(w.b), 8] }
    });
    assert_eq!(m.rax(c.caller), err(Error::NoReplyPending));
}

#[test]
fn a_reply_to_a_caller_that_died_ends_as_on_the_general_path() {
    let (m, c) = light(reply_setup(8, |m, w| {
        m.k.core.exit_task(m.k.core.thread(w.a).task, 0).space.take();
        m.call(w.c, Syscall::GetTicks, &[]); // reaps
    }));
    assert_eq!(m.rax(c.caller), err(Error::PeerDied));
}

#[test]
fn a_reply_to_a_caller_that_gave_up_ends_as_on_the_general_path() {
    let (m, c) = light(|m| {
        let w = world(m);
        receives(m, w.b, 64, -1);
        let args = send_args(m, w.a, m.tid(w.b), 8, 1, 2);
        m.call(w.a, Syscall::IpcSend, &args);
        for _ in 0..3 {
            m.tick(true);
        }
        m.run(w.b);
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![data(w.b), 8] }
    });
    assert_eq!(m.rax(c.caller), err(Error::Timeout));
}

#[test]
fn a_reply_to_a_caller_waiting_in_registers_ends_as_on_the_general_path() {
    light(|m| {
        let w = world(m);
        receives(m, w.b, 64, -1);
        m.call(w.a, Syscall::IpcCall, &[fast::call_word(m.tid(w.b), 8), fast::timeout_word(-1), 1, 2]);
        m.run(w.b);
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![data(w.b), 8] }
    });
}

#[test]
fn a_reply_from_a_bad_buffer_or_too_long_ends_as_on_the_general_path() {
    let (m, c) = light(|m| {
        let w = world(m);
        called(m, w);
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![0x7000_0000, 8] }
    });
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
    let (m, c) = light(reply_setup(abi::SHORT_MAX as u32 + 1, nothing));
    assert_eq!(m.rax(c.caller), err(Error::TooLong));
}

#[test]
fn a_reply_to_a_caller_whose_buffer_went_ends_as_on_the_general_path() {
    let (m, c) = light(reply_setup(8, |m, w| m.mem(w.a).unmap(data(w.a))));
    assert_eq!(m.rax(c.caller), err(Error::NotDelivered));
}

/// `a`'s first call goes the direct way and keeps its buffers (its message at `data`, its
/// length word at `lens`); after an empty reply, `a` calls again by the general path from
/// the message buffer `data + at` with the length word `lens + len`, and `b` replies 8
/// bytes. The kept buffers serve only the ranges they were kept for: the reply must go to
/// the second call's buffers.
fn other_call_reply(at: u64, len: u64) {
    let (mut m, c) = light(move |m| {
        let w = world(m);
        called(m, w);
        m.call(w.b, Syscall::IpcReply, &[data(w.b), 0]);
        receives(m, w.b, 64, -1);
        m.poke(w.a, lens(w.a) + len, &8u32.to_le_bytes());
        m.poke(w.a, data(w.a) + at, b"second-message");
        let control = SendControl { timeout: -1, shared: false, option_sync: 1 }.encode();
        m.general_only = true;
        m.call(w.a, Syscall::IpcSend, &[m.tid(w.b) as u64, 0, data(w.a) + at, 0, lens(w.a) + len, control]);
        m.general_only = false;
        m.poke(w.b, data(w.b), b"the-reply-bytes");
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![data(w.b), 8] }
    });
    let a = c.w.a;
    assert_eq!(m.rax(c.caller), 0, "delivered");
    assert_eq!(m.peek(a, data(a) + at, 8), b"the-repl", "into the second call's buffer");
    assert_eq!(m.peek(a, lens(a) + len, 4), 8u32.to_le_bytes(), "its length word");
    if at != 0 {
        assert_eq!(m.peek(a, data(a), 8), b"spec-mes", "not the kept buffer");
    }
    if len != 0 {
        assert_eq!(m.peek(a, lens(a), 4), 0u32.to_le_bytes(), "not the kept length word");
    }
}

#[test]
fn a_reply_after_a_call_from_another_buffer_goes_there() {
    other_call_reply(2 * PAGE, 0);
}

#[test]
fn a_reply_after_a_call_with_another_length_word_writes_that_one() {
    other_call_reply(0, 40);
}

// ---- ipc_recv ---------------------------------------------------------------------------

/// `b` receives with capacity 64 and `timeout` (long capacity `long`); `more` changes the
/// world first.
fn recv_setup(long: u32, timeout: i32, more: impl Fn(&mut Machine, W)) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        more(m, w);
        let args = recv_args(m, w.b, 64, long, timeout);
        Case { w, caller: w.b, nr: Syscall::IpcRecv, args }
    }
}

#[test]
fn a_receive_with_nothing_queued_blocks_the_direct_way() {
    let (m, c) = check(recv_setup(0, -1, nothing), true);
    assert_ne!(m.running, Some(c.caller));
    check(recv_setup(0, 5, nothing), true); // with its deadline armed
}

#[test]
fn a_receive_after_a_reply_runs_the_caller_it_donated_to() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            called(m, w);
            let reply = [data(w.b), 8];
            m.call(w.b, Syscall::IpcReply, &reply);
            let args = recv_args(m, w.b, 64, 0, -1);
            Case { w, caller: w.b, nr: Syscall::IpcRecv, args }
        },
        true,
    );
    assert_eq!(m.running, Some(c.w.a));
}

/// As above, but the server's task has I/O ports and the caller's has none: the caller
/// the donation runs is not entered the direct way (`after_recv`), and the general exit
/// loads its ports.
#[test]
fn a_receive_after_a_reply_to_a_caller_with_other_io_ports_loads_them() {
    let (m, c) = check(
        |m| {
            let w = world_with(m, true);
            called(m, w);
            m.call(w.b, Syscall::IpcReply, &[data(w.b), 8]);
            let args = recv_args(m, w.b, 64, 0, -1);
            Case { w, caller: w.b, nr: Syscall::IpcRecv, args }
        },
        true,
    );
    assert_eq!(m.running, Some(c.w.a));
    assert_eq!(m.k.io_loaded, (0, 0), "the caller's (no) ports");
}

/// The caller the donation runs waits in registers (a register call the server took with
/// `ipc_recv`): its results are more than `rax` and `rdx`, so it is not entered the direct
/// way (`after_recv`), and the general exit delivers them all.
#[test]
fn a_receive_after_a_reply_to_a_caller_waiting_in_registers_delivers_them_all() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            receives(m, w.b, 64, -1);
            m.call(w.a, Syscall::IpcCall, &[fast::call_word(m.tid(w.b), 8), fast::timeout_word(-1), 1, 2]);
            m.run(w.b);
            m.poke(w.b, data(w.b), b"the-reply-bytes!");
            m.call(w.b, Syscall::IpcReply, &[data(w.b), 16]);
            let args = recv_args(m, w.b, 64, 0, -1);
            Case { w, caller: w.b, nr: Syscall::IpcRecv, args }
        },
        true,
    );
    assert_eq!(m.running, Some(c.w.a));
    assert_eq!(m.rax(c.w.a), 0, "the call's result");
}

#[test]
fn a_receive_that_polls_declines() {
    let (m, c) = check(recv_setup(0, 0, nothing), false);
    assert_eq!(m.rax(c.caller), err(Error::Timeout));
}

#[test]
fn a_receive_with_an_invalid_timeout_declines() {
    let (m, c) = check(recv_setup(0, -5, nothing), false);
    assert_eq!(m.rax(c.caller), err(Error::InvalidArgument));
}

#[test]
fn a_receive_with_a_long_capacity_declines() {
    check(recv_setup(PAGE as u32, -1, nothing), false);
}

#[test]
fn a_receive_with_a_message_buffered_declines() {
    check(
        recv_setup(0, -1, |m, w| {
            let args = send_args(m, w.c, m.tid(w.b), 8, 0, 0);
            assert_eq!(m.value(w.c, Syscall::IpcSend, &args), 1);
        }),
        false,
    );
}

#[test]
fn a_receive_with_a_sender_queued_declines() {
    check(
        recv_setup(0, -1, |m, w| {
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            m.call(w.a, Syscall::IpcSend, &args);
            m.run(w.b);
        }),
        false,
    );
}

#[test]
fn a_receive_with_an_interrupt_pending_declines() {
    check(recv_setup(0, -1, |m, w| m.k.core.inboxes.post_irq(w.b, 3)), false);
}

#[test]
fn a_receive_owing_a_reply_declines() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            called(m, w);
            let args = recv_args(m, w.b, 64, 0, -1);
            Case { w, caller: w.b, nr: Syscall::IpcRecv, args }
        },
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::ReplyPending));
}

#[test]
fn a_receive_into_bad_buffers_declines() {
    let (m, c) = check(recv_setup(0, -1, |m, w| m.mem(w.b).unmap(data(w.b) + PAGE)), false);
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

// ---- a caller's own kept buffers, used again ---------------------------------------------

/// `a` calls `b` and `b` replies, so each keeps its own buffers (`b` its receive's, `a` its
/// send's); `more` changes the world; then `b` receives again with capacity `cap` into the
/// message buffer at `data + PAGE + at` and length words at `lens + len`, `lens + long`.
/// Its kept buffers may serve only those very ranges, of the capacity the word holds now,
/// while its space's generation holds.
fn recv_again_setup(
    cap: u32,
    at: u64,
    len: u64,
    long: u64,
    more: impl Fn(&mut Machine, W),
) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        called(m, w);
        m.call(w.b, Syscall::IpcReply, &[data(w.b), 8]);
        m.poke(w.b, lens(w.b) + len, &cap.to_le_bytes());
        m.poke(w.b, lens(w.b) + long, &0u32.to_le_bytes());
        more(m, w);
        let args = vec![0, data(w.b) + PAGE + at, lens(w.b) + long, lens(w.b) + len, -1i32 as u32 as u64];
        Case { w, caller: w.b, nr: Syscall::IpcRecv, args }
    }
}

#[test]
fn a_receive_again_into_the_same_buffers_is_taken_without_checking_them_again() {
    check(recv_again_setup(64, 0, 8, 16, nothing), true);
}

#[test]
fn a_receive_again_with_another_capacity_records_that_one() {
    let (m, c) = check(recv_again_setup(32, 0, 8, 16, nothing), true);
    let state = format!("{:?}", m.k.core.thread(c.caller).state());
    assert!(state.contains("cap: 32"), "{state}");
}

#[test]
fn a_receive_again_into_another_buffer_records_that_one() {
    check(recv_again_setup(64, PAGE, 8, 16, nothing), true);
}

#[test]
fn a_receive_again_into_another_buffer_that_is_not_there_fails() {
    let (m, c) = check(recv_again_setup(64, 64 * PAGE, 8, 16, nothing), false);
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

#[test]
fn a_receive_again_with_another_length_word_reads_that_one() {
    // The kept word says 64, the new one 32.
    let (m, c) = check(recv_again_setup(32, 0, 24, 16, |m, w| m.poke(w.b, lens(w.b) + 8, &64u32.to_le_bytes())), true);
    let state = format!("{:?}", m.k.core.thread(c.caller).state());
    assert!(state.contains("cap: 32"), "{state}");
}

#[test]
fn a_receive_again_with_another_long_length_word_reads_that_one() {
    // The kept long word says 0, the new one a page: a long capacity, which declines.
    check(recv_again_setup(64, 0, 8, 32, |m, w| m.poke(w.b, lens(w.b) + 32, &(PAGE as u32).to_le_bytes())), false);
}

#[test]
fn a_receive_again_after_its_buffer_went_declines() {
    let (m, c) = check(recv_again_setup(64, 0, 8, 16, |m, w| m.mem(w.b).unmap(data(w.b) + PAGE)), false);
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

/// `a` calls `b`, `b` replies and receives again; `more` changes the world; then `a`
/// sends `len` bytes again, from `data + at` with its length word at `lens + word`. Its
/// kept buffers may serve only those very ranges, of the length its word holds now, while
/// its space's generation holds.
fn send_again_setup(len: u32, at: u64, word: u64, more: impl Fn(&mut Machine, W)) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        called(m, w);
        m.call(w.b, Syscall::IpcReply, &[data(w.b), 8]);
        receives(m, w.b, 64, -1);
        m.poke(w.a, lens(w.a) + word, &len.to_le_bytes());
        m.poke(w.a, data(w.a) + at, b"second-message-bytes");
        more(m, w);
        let control = SendControl { timeout: -1, shared: false, option_sync: 1 }.encode();
        let args = vec![m.tid(w.b) as u64, 0, data(w.a) + at, 0, lens(w.a) + word, control];
        Case { w, caller: w.a, nr: Syscall::IpcSend, args }
    }
}

#[test]
fn a_send_again_from_the_same_buffers_is_taken_without_checking_them_again() {
    let (mut m, c) = check(send_again_setup(8, 0, 0, nothing), true);
    let b = c.w.b;
    assert_eq!(m.peek(b, data(b) + PAGE, 8), b"second-m");
}

#[test]
fn a_send_again_of_another_length_sends_that_many() {
    let (mut m, c) = check(send_again_setup(5, 0, 0, nothing), true);
    let b = c.w.b;
    assert_eq!(m.peek(b, lens(b) + 8, 4), 5u32.to_le_bytes());
}

#[test]
fn a_send_again_from_another_buffer_sends_that_one() {
    let (mut m, c) = check(send_again_setup(8, 2 * PAGE, 0, nothing), true);
    let b = c.w.b;
    assert_eq!(m.peek(b, data(b) + PAGE, 8), b"second-m");
}

#[test]
fn a_send_again_with_another_length_word_reads_that_one() {
    check(send_again_setup(6, 0, 40, nothing), true);
}

#[test]
fn a_send_again_after_its_buffer_went_declines() {
    let (m, c) = check(send_again_setup(8, 0, 0, |m, w| m.mem(w.a).unmap(data(w.a))), false);
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

/// `b` receives `a`'s 8-byte call into `cap` bytes at `data + at` (by the direct way, which
/// keeps that buffer), `more` changes the world, then `b` replies `len` bytes from `data +
/// from`.
fn reply_from_kept_setup(
    at: u64,
    cap: u32,
    from: u64,
    len: u32,
    more: impl Fn(&mut Machine, W),
) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        let (at, from) = (data(w.b) + at, data(w.b) + from);
        m.poke(w.b, lens(w.b) + 8, &cap.to_le_bytes());
        m.poke(w.b, lens(w.b) + 16, &0u32.to_le_bytes());
        m.call(w.b, Syscall::IpcRecv, &[0, at, lens(w.b) + 16, lens(w.b) + 8, -1i32 as u32 as u64]);
        let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
        m.call(w.a, Syscall::IpcSend, &args);
        assert_eq!(m.running, Some(w.b));
        m.poke(w.b, at, b"kept-reply-bytes");
        more(m, w);
        Case { w, caller: w.b, nr: Syscall::IpcReply, args: vec![from, len as u64] }
    }
}

#[test]
fn a_reply_from_the_buffer_the_receive_kept_is_read_from_it() {
    let (mut m, c) = light(reply_from_kept_setup(PAGE, 64, PAGE, 8, nothing));
    let a = c.w.a;
    assert_eq!(m.rax(c.caller), 0);
    assert_eq!(m.peek(a, data(a), 8), b"kept-rep");
}

#[test]
fn a_reply_longer_than_the_kept_buffer_is_checked_whole() {
    // The kept 16 bytes end the server's last mapped page; 32 bytes do not fit there.
    let at = 4 * PAGE - 16;
    let (m, c) = light(reply_from_kept_setup(at, 16, at, 32, nothing));
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

#[test]
fn a_reply_from_the_kept_buffer_after_it_went_fails() {
    let at = PAGE;
    let (m, c) = light(reply_from_kept_setup(at, 64, at, 8, |m, w| m.mem(w.b).unmap(data(w.b) + PAGE)));
    assert_eq!(m.rax(c.caller), err(Error::BadAddress));
}

// ---- the whole entry --------------------------------------------------------------------

fn regs(c: &Case) -> Regs {
    let mut regs = Regs { number: c.nr as u64, ..Regs::default() };
    regs.args[..c.args.len()].copy_from_slice(&c.args);
    regs
}

#[test]
fn nohandoff_turns_the_direct_way_off() {
    let mut m = Machine::new();
    let c = send_setup(64, -1, 8, 1, -1)(&mut m);
    m.k.core.set_handoff(false);
    m.run(c.caller);
    let before = digest(&m);
    assert!(m.k.direct_spec(&regs(&c)).is_none());
    assert_eq!(digest(&m), before);
}

#[test]
fn a_zombie_waiting_to_be_reaped_turns_the_direct_way_off() {
    let mut m = Machine::new();
    let c = send_setup(64, -1, 8, 1, -1)(&mut m);
    m.call(c.w.c, Syscall::ThreadExit, &[0]);
    assert!(m.k.core.has_zombies());
    m.run(c.caller);
    let before = digest(&m);
    assert!(m.k.direct_spec(&regs(&c)).is_none());
    assert_eq!(digest(&m), before);
    // The core's own attempt declines too (`Core::direct_on`), and the machine's way
    // then ends as the general path does.
    check(
        |m| {
            let c = send_setup(64, -1, 8, 1, -1)(m);
            m.call(c.w.c, Syscall::ThreadExit, &[0]);
            c
        },
        false,
    );
}

#[test]
fn other_calls_are_not_the_spec_way_s() {
    let mut m = Machine::new();
    let w = world(&mut m);
    m.run(w.a);
    let c = Case { w, caller: w.a, nr: Syscall::GetTicks, args: vec![] };
    assert!(m.k.direct_spec(&regs(&c)).is_none());
    assert!(matches!(m.call(w.a, Syscall::GetTicks, &[]), Leave::Run { switch: false, .. }));
}

#[test]
fn a_send_taken_enters_its_receiver_with_its_two_results() {
    let mut m = Machine::new();
    let c = send_setup(64, -1, 8, 1, -1)(&mut m);
    m.run(c.caller);
    let b = c.w.b;
    match m.k.direct_spec(&regs(&c)) {
        Some(super::spec::Spec::Enter(e)) => {
            assert_eq!((e.slot, e.stack_top), (b, m.k.core.thread(b).kstack.top()));
            assert_eq!(e.value, u32::from(RecvKind::Call) as u64);
            assert_eq!(e.second, m.tid(c.w.a) as u64, "the sender word");
        }
        other => panic!("not entered directly: {other:?}"),
    }
    assert!(m.k.core.thread(b).ret.is_empty(), "nothing left pending for the receiver");
}

#[test]
fn a_send_taken_to_a_receiver_with_other_io_ports_leaves_by_the_general_exit() {
    let mut m = Machine::new();
    let w = world_with(&mut m, true);
    receives(&mut m, w.b, 64, -1);
    let to = m.tid(w.b);
    let args = send_args(&mut m, w.a, to, 8, 1, -1);
    let c = Case { w, caller: w.a, nr: Syscall::IpcSend, args };
    m.run(c.caller);
    let left = m.k.direct_spec(&regs(&c));
    assert!(matches!(left, Some(super::spec::Spec::Leave(Leave::Run { switch: true, .. }))), "{left:?}");
    assert_eq!(m.k.io_loaded, (0x3f8, 8));
}

#[test]
fn a_receive_taken_enters_the_caller_it_donated_to_with_its_two_results() {
    let mut m = Machine::new();
    let w = world(&mut m);
    called(&mut m, w);
    m.call(w.b, Syscall::IpcReply, &[data(w.b), 8]);
    let args = recv_args(&mut m, w.b, 64, 0, -1);
    let c = Case { w, caller: w.b, nr: Syscall::IpcRecv, args };
    m.run(c.caller);
    match m.k.direct_spec(&regs(&c)) {
        Some(super::spec::Spec::Enter(e)) => {
            assert_eq!(e.slot, w.a);
            assert_eq!((e.value, e.second), (0, abi::ipc::SendStatus::default().encode()));
        }
        other => panic!("not entered directly: {other:?}"),
    }
    assert!(m.k.core.thread(w.a).ret.is_empty(), "nothing left pending for the caller");
}

#[test]
fn a_receive_taken_runs_a_thread_with_other_results_by_the_general_exit() {
    // The next thread to run has nothing pending (it has not run yet).
    let mut m = Machine::new();
    let c = recv_setup(0, -1, nothing)(&mut m);
    m.run(c.caller);
    let left = m.k.direct_spec(&regs(&c));
    assert!(matches!(left, Some(super::spec::Spec::Leave(Leave::Run { switch: true, .. }))), "{left:?}");
}

// ---- a kept buffer made read-only (a protect, not an unmap) ----------------------------

#[test]
fn a_receive_again_after_its_buffer_became_read_only_declines() {
    let (m, c) = check(recv_again_setup(64, 0, 8, 16, |m, w| m.mem(w.b).set_writable(data(w.b) + PAGE, false)), false);
    assert_ne!(m.rax(c.caller), 0);
}

#[test]
fn a_receive_again_after_its_length_word_became_read_only_declines() {
    let (m, c) = check(recv_again_setup(64, 0, 8, 16, |m, w| m.mem(w.b).set_writable(lens(w.b), false)), false);
    assert_ne!(m.rax(c.caller), 0);
}

#[test]
fn a_send_again_after_its_buffer_became_read_only_declines() {
    let (m, c) = check(send_again_setup(8, 0, 0, |m, w| m.mem(w.a).set_writable(data(w.a), false)), false);
    assert_ne!(m.rax(c.caller), 0);
}

#[test]
fn a_send_to_a_receiver_whose_buffer_became_read_only_declines() {
    let (m, _c) = check(
        |m| {
            let w = world(m);
            receives(m, w.b, 64, -1);
            m.mem(w.b).set_writable(data(w.b) + PAGE, false);
            let args = send_args(m, w.a, m.tid(w.b), 8, 1, -1);
            Case { w, caller: w.a, nr: Syscall::IpcSend, args }
        },
        false,
    );
    let _ = m;
}

#[test]
fn a_reply_into_a_caller_whose_buffer_became_read_only_is_not_written() {
    // a calls b by the direct way (a keeps its buffers for the reply); a's buffer page is
    // then made read-only (another thread of a's task would do it); b's reply must not
    // write it.
    let (mut m, c) = light(reply_from_kept_setup(PAGE, 64, PAGE, 8, |m, w| m.mem(w.a).set_writable(data(w.a), false)));
    let a = c.w.a;
    assert_ne!(m.peek(a, data(a), 8), b"kept-rep", "a read-only page was written");
}
