//! The light path and the direct switch against the general path, on the fake machine.
//!
//! Every case is set up on fresh machines three times: on one the direct switch is
//! attempted alone, and must either be taken (where the case says so) or decline having
//! changed nothing at all; on the second the call runs as the machine runs it (light path
//! or direct switch first); on the third through the general path only. The last two must
//! end in the same state to the bit: every thread's state, fast byte, pending results,
//! lists, timers, mailbox and saved registers, the run queue, the slice, the donation, the
//! send counter and what was asked of the hardware.

use super::fixture::{data, err, Machine, Regs};
use super::Leave;
use crate::task::{Fast, State, ThreadSlot, QUANTUM_TICKS};
use abi::image::Grants;
use abi::ipc::{fast, RecvKind, SendControl};
use abi::syscall::tid_word;
use abi::{Error, Syscall};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A system call to make: by `caller`, number `nr`, arguments `args`.
struct Case {
    caller: ThreadSlot,
    nr: Syscall,
    args: Vec<u64>,
}

/// The threads of [`world`]: a client task (`a`, and a second thread `a2`), a server task
/// (`b`) and a third party (`c`).
#[derive(Clone, Copy)]
struct W {
    a: ThreadSlot,
    a2: ThreadSlot,
    b: ThreadSlot,
    c: ThreadSlot,
}

/// Three tasks; `io_a`/`io_b`: the client's and the server's task may use I/O ports.
fn world_with(m: &mut Machine, io_a: bool, io_b: bool) -> W {
    let io = Grants { io_base: 0x3f8, io_count: 8, ..Grants::NONE };
    let ta = m.task("a", if io_a { io } else { Grants::NONE });
    let (a, a2) = (m.thread(ta), m.thread(ta));
    let tb = m.task("b", if io_b { io } else { Grants::NONE });
    let b = m.thread(tb);
    let tc = m.task("c", Grants::NONE);
    let c = m.thread(tc);
    W { a, a2, b, c }
}

fn world(m: &mut Machine) -> W {
    world_with(m, false, false)
}

/// `IpcReplyWait` arguments: the reply's length (`None`: no reply) and the receive's
/// timeout; payload words 1 to 5.
fn reply_wait_args(len: Option<usize>, timeout: i32) -> Vec<u64> {
    vec![fast::reply_word(len), fast::timeout_word(timeout), 1, 2, 3, 4, 5]
}

/// `IpcCall` arguments: to `tid`, `len` bytes, `timeout`; payload words 11 to 15.
fn call_args(tid: u32, len: usize, timeout: i32) -> Vec<u64> {
    vec![fast::call_word(tid, len), fast::timeout_word(timeout), 11, 12, 13, 14, 15]
}

/// `slot` waits in `IpcReplyWait` with no reply and `timeout`.
fn waits(m: &mut Machine, slot: ThreadSlot, timeout: i32) {
    let leave = m.call(slot, Syscall::IpcReplyWait, &reply_wait_args(None, timeout));
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "{leave:?}");
}

/// Everything observable about a machine.
fn digest(m: &Machine) -> String {
    let p = &m.k.platform;
    format!(
        "{}frames {:?}\nio {:?} loaded {:?} masked {:#x} irqs {:?} tid {} switches {:?} stacks {:?} printed {:?} \
         console {:?} running {:?}",
        m.k.core.snapshot(),
        p.frames,
        p.io,
        m.k.io_loaded,
        p.masked,
        m.k.irqs,
        p.running_tid,
        m.switches(),
        p.stacks.keys().collect::<Vec<_>>(),
        p.printed,
        p.console,
        m.running
    )
}

/// Checks `setup`'s call both ways (see the module doc); `direct`: whether the direct
/// switch takes it. Returns the machine that ran it as the machine does.
fn check(setup: impl Fn(&mut Machine) -> Case, direct: bool) -> (Machine, Case) {
    let mut probe = Machine::new();
    let c = setup(&mut probe);
    probe.run(c.caller);
    let before = digest(&probe);
    let mut regs = Regs { number: c.nr as u64, ..Regs::default() };
    regs.args[..c.args.len()].copy_from_slice(&c.args);
    let attempt = probe.k.direct(&regs);
    assert_eq!(attempt.is_some(), direct, "{:?}: direct switch taken: {attempt:?}", c.nr);
    if attempt.is_none() {
        assert_eq!(digest(&probe), before, "a declined attempt changed something");
    }

    let mut general = Machine::new();
    let c = setup(&mut general);
    general.general_only = true;
    let expected = general.raw(c.caller, c.nr as u64, &c.args);

    let mut m = Machine::new();
    let c = setup(&mut m);
    let got = m.raw(c.caller, c.nr as u64, &c.args);
    assert_eq!(got, expected, "{:?}: left differently", c.nr);
    assert_eq!(digest(&m), digest(&general), "{:?}: not what the general path does", c.nr);
    (m, c)
}

// ---- IpcCall ----------------------------------------------------------------------------

/// `a` calls `b`, which waits in `IpcReplyWait` with `server_timeout`; the call has
/// `len` bytes and `timeout`.
fn call_setup(server_timeout: i32, len: usize, timeout: i32) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        waits(m, w.b, server_timeout);
        Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(m.tid(w.b), len, timeout) }
    }
}

#[test]
fn a_call_to_a_waiting_server_switches_to_it_with_the_general_path_s_results() {
    let (m, c) = check(call_setup(-1, 13, -1), true);
    let w = world(&mut Machine::new());
    assert_eq!(m.running, Some(w.b));
    let r = m.regs(w.b).out;
    assert_eq!(r[0], u32::from(RecvKind::Call) as u64);
    // The payload words as the caller left them: the receiver reads the 13 bytes
    // (`abi::ipc::fast`), and the caller's own words past them are its to send.
    assert_eq!(r[1..], [m.tid(c.caller) as u64, 13, 11, 12, 13, 14, 15], "sender, length, payload as sent");
    assert_eq!(m.k.core.thread(c.caller).fast(), Fast::AwaitingReply);
    assert!(m.k.core.thread(w.b).ret.is_empty(), "nothing left pending for the server");
    assert_eq!(m.k.platform.running_tid, m.tid(w.b), "what the machine's `gettid` answers");
    // A poll goes the general way (delivered there too, it then waits for the reply).
    check(call_setup(-1, 40, 0), false);
}

#[test]
fn a_call_declines_without_the_direct_switch() {
    check(
        |m| {
            let c = call_setup(-1, 8, -1)(m);
            m.k.core.set_handoff(false);
            c
        },
        false,
    );
}

#[test]
fn a_call_with_a_deadline_declines() {
    check(call_setup(-1, 8, 5), false);
}

#[test]
fn a_call_longer_than_the_registers_declines() {
    let (m, c) = check(call_setup(-1, fast::MAX + 1, -1), false);
    assert_eq!(m.rax(c.caller), err(Error::TooLong));
    check(call_setup(-1, u32::MAX as usize, -1), false);
}

#[test]
fn a_call_with_a_bad_timeout_declines() {
    let (m, c) = check(call_setup(-1, 8, -2), false);
    assert_eq!(m.rax(c.caller), err(Error::InvalidArgument));
}

#[test]
fn a_call_to_oneself_declines() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            waits(m, w.b, -1);
            Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(m.tid(w.a), 8, -1) }
        },
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::InvalidArgument));
}

#[test]
fn a_call_to_a_stale_or_impossible_tid_declines() {
    for bad in [|t: u32| t + 256, |_| 0, |t: u32| t & !0xff, |_| u32::MAX, |t: u32| t | 1 << 31] {
        let (m, c) = check(
            move |m| {
                let w = world(m);
                waits(m, w.b, -1);
                Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(bad(m.tid(w.b)), 8, -1) }
            },
            false,
        );
        assert_eq!(m.rax(c.caller), err(Error::NoSuchThread));
    }
}

#[test]
fn a_call_to_a_server_waiting_with_a_deadline_declines() {
    check(call_setup(5, 8, -1), false);
}

#[test]
fn a_call_to_a_server_receiving_into_memory_declines() {
    check(
        |m| {
            let w = world(m);
            let lens = data(w.b) + 3 * PAGE;
            m.poke(w.b, lens + 8, &64u32.to_le_bytes());
            m.poke(w.b, lens + 16, &0u32.to_le_bytes());
            m.call(w.b, Syscall::IpcRecv, &[0, data(w.b) + PAGE, lens + 16, lens + 8, tid_word(-1)]);
            Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(m.tid(w.b), 8, -1) }
        },
        false,
    );
}

#[test]
fn a_call_to_a_busy_server_declines_and_queues() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(m.tid(w.b), 8, -1) }
        },
        false,
    );
    assert!(matches!(m.k.core.thread(c.caller).state(), crate::task::State::Sending { .. }));
}

#[test]
fn a_call_declines_while_a_zombie_waits_to_be_reaped() {
    check(
        |m| {
            let w = world(m);
            waits(m, w.b, -1);
            m.call(w.a2, Syscall::ThreadExit, &[0]);
            assert!(m.k.core.has_zombies());
            Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(m.tid(w.b), 8, -1) }
        },
        false,
    );
}

#[test]
fn a_call_to_a_server_with_other_io_ports_declines() {
    check(
        |m| {
            let w = world_with(m, false, true);
            waits(m, w.b, -1);
            Case { caller: w.a, nr: Syscall::IpcCall, args: call_args(m.tid(w.b), 8, -1) }
        },
        false,
    );
}

// ---- IpcReplyWait -----------------------------------------------------------------------

/// `b` waits, `a` calls it with `call_timeout` (and `after` runs), then `b` replies `len`
/// bytes and waits with `timeout`.
fn reply_setup(
    call_timeout: i32,
    len: Option<usize>,
    timeout: i32,
    after: impl Fn(&mut Machine, W),
) -> impl Fn(&mut Machine) -> Case {
    move |m| {
        let w = world(m);
        waits(m, w.b, -1);
        m.call(w.a, Syscall::IpcCall, &call_args(m.tid(w.b), 8, call_timeout));
        after(m, w);
        Case { caller: w.b, nr: Syscall::IpcReplyWait, args: reply_wait_args(len, timeout) }
    }
}

fn nothing(_: &mut Machine, _: W) {}

#[test]
fn a_reply_to_a_waiting_caller_switches_to_it_and_the_server_waits() {
    let (m, c) = check(reply_setup(-1, Some(6), -1, nothing), true);
    let w = world(&mut Machine::new());
    assert_eq!(m.running, Some(w.a));
    assert_eq!(m.regs(w.a).out, [0, 0, 6, 1, 2, 3, 4, 5], "6 bytes replied, the words as the server left them");
    assert!(m.k.core.thread(w.a).ret.is_empty(), "nothing left pending for the caller");
    assert_eq!(m.k.core.thread(c.caller).fast(), Fast::Receiving);
    // The reply is cut to the call's length, as the general path cuts it.
    let (m, _) = check(reply_setup(-1, Some(40), -1, nothing), true);
    assert_eq!(m.regs(w.a).out[2], 8);
}

#[test]
fn a_reply_declines_without_the_direct_switch() {
    check(reply_setup(-1, Some(8), -1, |m, _| m.k.core.set_handoff(false)), false);
}

#[test]
fn a_receive_without_a_reply_declines() {
    let (m, c) = check(reply_setup(-1, None, -1, nothing), false);
    assert_eq!(m.rax(c.caller), err(Error::ReplyPending));
}

#[test]
fn a_reply_longer_than_the_registers_declines() {
    let (m, c) = check(reply_setup(-1, Some(fast::MAX + 1), -1, nothing), false);
    assert_eq!(m.rax(c.caller), err(Error::TooLong));
}

#[test]
fn a_reply_and_a_receive_that_would_not_wait_forever_declines() {
    let (m, c) = check(reply_setup(-1, Some(8), 0, nothing), false);
    assert_eq!(m.rax(c.caller), err(Error::Timeout), "replied, then nothing to receive");
    check(reply_setup(-1, Some(8), 5, nothing), false);
    check(reply_setup(-1, Some(8), -7, nothing), false);
}

#[test]
fn a_reply_with_nobody_to_answer_declines() {
    let (m, c) = check(
        |m| {
            let w = world(m);
            Case { caller: w.b, nr: Syscall::IpcReplyWait, args: reply_wait_args(Some(8), -1) }
        },
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::NoReplyPending));
}

#[test]
fn a_reply_to_a_caller_with_a_deadline_declines() {
    check(reply_setup(5, Some(8), -1, nothing), false);
}

#[test]
fn a_reply_to_a_caller_that_died_declines() {
    let (m, c) = check(
        reply_setup(-1, Some(8), -1, |m, w| {
            m.k.core.exit_task(m.k.core.thread(w.a).task, 0).space.take();
            m.call(w.c, Syscall::GetTicks, &[]); // reaps
            assert!(!m.k.core.has_zombies());
        }),
        false,
    );
    assert_eq!(m.rax(c.caller), err(Error::PeerDied));
}

#[test]
fn a_stale_reply_to_a_caller_now_waiting_on_another_server_declines() {
    // `a`'s call to `b` times out while `b` still owes its reply; `a` then calls `c`, and
    // waits for `c` in registers with no deadline, as the direct switch's own callers
    // wait. `b`'s reply is for the old call's number: it must not reach `a`.
    let (m, c) = check(
        reply_setup(2, Some(8), -1, |m, w| {
            for _ in 0..3 {
                m.tick(true);
            }
            assert_eq!(m.k.core.thread(w.a).state(), &State::Runnable, "the first call gave up");
            waits(m, w.c, -1);
            let leave = m.call(w.a, Syscall::IpcCall, &call_args(m.tid(w.c), 8, -1));
            assert!(matches!(leave, Leave::Run { switch: true, .. }), "{leave:?}");
            assert_eq!(m.k.core.thread(w.a).fast(), Fast::AwaitingReply, "waits for c as a direct caller would");
        }),
        false,
    );
    let w = world(&mut Machine::new());
    assert_eq!(m.k.core.thread(w.a).fast(), Fast::AwaitingReply, "still waiting for c");
    // Refused with the old call's timeout, as a reply to a caller that gave up is: `b`
    // still owed it (a reply owed to nobody would be `NoReplyPending`).
    assert_eq!(m.rax(c.caller), err(Error::Timeout), "b's reply was refused");
}

#[test]
fn a_reply_to_an_ordinary_call_declines() {
    check(
        |m| {
            let w = world(m);
            waits(m, w.b, -1);
            let lens = data(w.a) + 3 * PAGE;
            m.poke(w.a, lens, &8u32.to_le_bytes());
            let sync = SendControl { timeout: -1, shared: false, option_sync: 1 }.encode();
            m.call(w.a, Syscall::IpcSend, &[m.tid(w.b) as u64, 0, data(w.a), 0, lens, sync]);
            Case { caller: w.b, nr: Syscall::IpcReplyWait, args: reply_wait_args(Some(8), -1) }
        },
        false,
    );
}

#[test]
fn a_reply_declines_while_a_sender_is_queued() {
    check(
        reply_setup(-1, Some(8), -1, |m, w| {
            m.call(w.c, Syscall::IpcCall, &call_args(m.tid(w.b), 8, -1));
            m.run(w.b);
        }),
        false,
    );
}

#[test]
fn a_reply_declines_while_a_message_is_buffered() {
    check(
        reply_setup(-1, Some(8), -1, |m, w| {
            let lens = data(w.c) + 3 * PAGE;
            m.poke(w.c, lens, &8u32.to_le_bytes());
            let async_ = SendControl { timeout: 0, shared: false, option_sync: 0 }.encode();
            assert_eq!(m.value(w.c, Syscall::IpcSend, &[m.tid(w.b) as u64, 0, data(w.c), 0, lens, async_]), 1);
        }),
        false,
    );
}

/// Once the server has received what made it decline, its flag is clear again
/// (`Inboxes`): the next reply switches directly.
#[test]
fn a_reply_switches_directly_again_once_the_queued_sender_is_received() {
    check(
        reply_setup(-1, Some(8), -1, |m, w| {
            m.call(w.c, Syscall::IpcCall, &call_args(m.tid(w.b), 8, -1));
            let leave = m.call(w.b, Syscall::IpcReplyWait, &reply_wait_args(Some(8), -1));
            assert!(matches!(leave, Leave::Run { slot, .. } if slot == w.b), "the queued call at once: {leave:?}");
            assert_eq!(m.regs(w.b).out[1], m.tid(w.c) as u64, "from `c`");
        }),
        true,
    );
}

#[test]
fn a_reply_switches_directly_again_once_the_buffered_message_is_received() {
    check(
        |m| {
            let w = world(m);
            let lens = data(w.c) + 3 * PAGE;
            m.poke(w.c, lens, &8u32.to_le_bytes());
            let async_ = SendControl { timeout: 0, shared: false, option_sync: 0 }.encode();
            assert_eq!(m.value(w.c, Syscall::IpcSend, &[m.tid(w.b) as u64, 0, data(w.c), 0, lens, async_]), 1);
            let leave = m.call(w.b, Syscall::IpcReplyWait, &reply_wait_args(None, -1));
            assert!(matches!(leave, Leave::Run { slot, .. } if slot == w.b), "the message at once: {leave:?}");
            waits(m, w.b, -1);
            m.call(w.a, Syscall::IpcCall, &call_args(m.tid(w.b), 8, -1));
            Case { caller: w.b, nr: Syscall::IpcReplyWait, args: reply_wait_args(Some(8), -1) }
        },
        true,
    );
}

#[test]
fn a_reply_declines_while_an_interrupt_is_pending() {
    check(reply_setup(-1, Some(8), -1, |m, w| m.k.core.inboxes.post_irq(w.b, 3)), false);
}

#[test]
fn a_reply_declines_while_a_zombie_waits_to_be_reaped() {
    check(
        reply_setup(-1, Some(8), -1, |m, w| {
            m.call(w.c, Syscall::ThreadExit, &[0]);
            assert!(m.k.core.has_zombies());
        }),
        false,
    );
}

#[test]
fn a_reply_to_a_caller_with_other_io_ports_declines() {
    check(
        |m| {
            let w = world_with(m, true, false);
            waits(m, w.b, -1);
            m.call(w.a, Syscall::IpcCall, &call_args(m.tid(w.b), 8, -1));
            Case { caller: w.b, nr: Syscall::IpcReplyWait, args: reply_wait_args(Some(8), -1) }
        },
        false,
    );
}

/// The direct switch, both ways, runs the partner on what is left of the slice, as the
/// general path's hand-off does (the comparisons above check the rest of its state).
#[test]
fn the_direct_switch_runs_the_partner_on_the_rest_of_the_slice() {
    let mut m = Machine::new();
    let w = world(&mut m);
    for t in [w.a2, w.c, w.b] {
        waits(&mut m, t, -1); // nobody but `a` left to run
    }
    assert_eq!((m.running, m.k.core.slice()), (Some(w.a), QUANTUM_TICKS), "a whole slice, from the run queue");
    m.tick(true); // `a` goes on, on what is left
    let left = QUANTUM_TICKS - 1;
    assert_eq!((m.running, m.k.core.slice()), (Some(w.a), left));
    let direct = |m: &mut Machine, args: Vec<u64>, nr: Syscall| {
        let mut regs = Regs { number: nr as u64, ..Regs::default() };
        regs.args[..args.len()].copy_from_slice(&args);
        m.k.direct(&regs).map(|d| d.slot)
    };
    let call = call_args(m.tid(w.b), 8, -1);
    assert_eq!(direct(&mut m, call, Syscall::IpcCall), Some(w.b));
    assert_eq!(m.k.core.slice(), left, "the call's switch");
    assert_eq!(direct(&mut m, reply_wait_args(Some(8), -1), Syscall::IpcReplyWait), Some(w.a));
    assert_eq!(m.k.core.slice(), left, "the reply's switch");
    m.k.core.check_invariants().unwrap();
}

#[test]
fn other_calls_never_take_the_direct_switch() {
    check(
        |m| {
            let w = world(m);
            waits(m, w.b, -1);
            Case { caller: w.a, nr: Syscall::YieldTo, args: vec![tid_word(-1)] }
        },
        false,
    );
}

// ---- the light path ---------------------------------------------------------------------

#[test]
fn the_light_calls_are_those_that_never_block_or_switch() {
    use super::fast::is_light;
    let light = [
        Syscall::Gettid,
        Syscall::GetTicks,
        Syscall::FreeFrames,
        Syscall::IrqBind,
        Syscall::IrqAck,
        Syscall::Print,
        Syscall::NewPages,
        Syscall::RemovePages,
        Syscall::KernelStats,
        Syscall::Ps,
        Syscall::ImagePrograms,
        Syscall::MakeRunnable,
        Syscall::IpcReply,
    ];
    for n in 0..Syscall::COUNT as u64 {
        let nr = Syscall::try_from(n).unwrap();
        assert_eq!(is_light(n), light.contains(&nr), "{nr:?}");
    }
    for n in [Syscall::COUNT as u64, 63, 64, 65, u64::MAX] {
        assert!(!is_light(n), "{n}");
    }
}

/// Makes a light call's arguments.
type Args = fn(&mut Machine, W) -> Vec<u64>;

/// Every light call, with good and bad arguments, gives what the general path gives.
#[test]
fn each_light_call_gives_the_general_path_s_results() {
    let cases: Vec<(Syscall, Args)> = vec![
        (Syscall::Gettid, |_, _| vec![]),
        (Syscall::GetTicks, |_, _| vec![]),
        (Syscall::FreeFrames, |_, _| vec![]),
        (Syscall::IrqBind, |_, _| vec![4]),
        (Syscall::IrqBind, |_, _| vec![0]),
        (Syscall::IrqAck, |_, _| vec![4]),
        (Syscall::Print, |m, w| {
            m.poke(w.a, data(w.a), b"light");
            vec![data(w.a), 5]
        }),
        (Syscall::Print, |_, _| vec![8, 5]),
        (Syscall::NewPages, |_, _| vec![0x2000_0000, 2 * PAGE]),
        (Syscall::NewPages, |_, _| vec![0x2000_0001, PAGE]),
        (Syscall::RemovePages, |_, _| vec![0x2000_0000]),
        (Syscall::KernelStats, |_, w| vec![data(w.a), 64]),
        (Syscall::Ps, |_, w| vec![data(w.a), 4]),
        (Syscall::Ps, |_, _| vec![0, 4]),
        (Syscall::ImagePrograms, |_, w| vec![data(w.a), 4]),
        (Syscall::MakeRunnable, |m, w| vec![m.tid(w.a2) as u64]),
        (Syscall::MakeRunnable, |_, _| vec![7]),
    ];
    for (nr, args) in cases {
        let (m, c) = check(
            move |m| {
                let w = world_with(m, false, false);
                let irq = Grants { irqs: 1 << 4, ..Grants::NONE };
                m.k.core.task_mut(m.k.core.thread(w.a).task).grants = irq;
                m.call(w.a2, Syscall::ThreadExit, &[0]); // a zombie the light path reaps
                let args = args(m, w);
                Case { caller: w.a, nr, args }
            },
            false,
        );
        assert_eq!(m.running, Some(c.caller), "{nr:?} returns to its caller");
    }
}

/// A call waiting for its reply in registers that ends in an error gets zeros in every
/// register beside the error, as a receive into registers does: its server's death (the
/// caller then blocked by the direct switch, which stores none of its argument registers)
/// and a timeout (a caller with a deadline, blocked by the general path).
#[test]
fn a_call_in_registers_ended_by_an_error_gets_zeros_beside_it() {
    for (call_timeout, error) in [(-1, Error::PeerDied), (3, Error::Timeout)] {
        let mut m = Machine::new();
        let w = world(&mut m);
        waits(&mut m, w.b, -1);
        m.call(w.a, Syscall::IpcCall, &call_args(m.tid(w.b), 8, call_timeout));
        assert_eq!(m.k.core.thread(w.a).fast(), if call_timeout < 0 { Fast::AwaitingReply } else { Fast::No });
        if call_timeout < 0 {
            m.call(w.b, Syscall::ThreadExit, &[0]);
        } else {
            for _ in 0..4 {
                m.tick(true);
            }
        }
        let ret = &m.k.core.thread(w.a).ret;
        let pending: Vec<Option<u64>> = (0..abi::syscall::regs::RESULTS).map(|i| ret.get(i)).collect();
        let mut want = vec![Some(0); abi::syscall::regs::RESULTS];
        want[0] = Some(err(error) as u64);
        assert_eq!(pending, want, "{error:?} and zeros, pending for when it runs");
    }
}
