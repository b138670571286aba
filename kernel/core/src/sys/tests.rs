//! The system-call layer on the host: every call decoded from raw registers, dispatched,
//! and its results written into the caller's (or a woken thread's) saved registers by
//! `Leave`, as the architecture does; `Kernel::next`, reaping, IRQ binding and I/O grants.

use super::fixture::{data, err, Machine};
use super::Leave;
use crate::task::{State, ThreadSlot};
use abi::image::Grants;
use abi::ipc::fast;
use abi::ipc::{RecvFlags, RecvKind, SendControl};
use abi::syscall::regs::{ARGS, RESULTS};
use abi::syscall::{tid_word, KernelStats};
use abi::{Error, Syscall};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A machine with one task of `n` threads.
fn one_task(n: usize) -> (Machine, Vec<ThreadSlot>) {
    let mut m = Machine::new();
    let t = m.task("a", Grants::NONE);
    let threads = (0..n).map(|_| m.thread(t)).collect();
    (m, threads)
}

/// A machine with two tasks of one thread each.
fn two_tasks() -> (Machine, ThreadSlot, ThreadSlot) {
    let mut m = Machine::new();
    let a = m.task("a", Grants::NONE);
    let a = m.thread(a);
    let b = m.task("b", Grants::NONE);
    let b = m.thread(b);
    (m, a, b)
}

// ---- decode and dispatch ----------------------------------------------------------------

#[test]
fn an_unknown_number_is_an_invalid_argument_and_the_caller_goes_on() {
    let (mut m, t) = one_task(1);
    for n in [Syscall::COUNT as u64, 255, 1 << 32, u64::MAX] {
        let leave = m.raw(t[0], n, &[]);
        assert!(matches!(leave, Leave::Run { switch: false, .. }), "{n}: {leave:?}");
        assert_eq!(m.rax(t[0]), err(Error::InvalidArgument), "number {n:#x}");
    }
}

#[test]
fn gettid_returns_the_caller_s_tid_in_rax_only() {
    let (mut m, t) = one_task(2);
    assert_eq!(m.value(t[1], Syscall::Gettid, &[1, 2, 3, 4, 5, 6, 7]), m.tid(t[1]) as i64);
    let r = m.regs(t[1]);
    assert_eq!(r.out[1..], [1, 2, 3, 4, 5, 6, 7], "the argument registers are preserved");
}

#[test]
fn results_are_written_once_and_then_forgotten() {
    let (mut m, t) = one_task(1);
    m.value(t[0], Syscall::Gettid, &[]);
    assert!(m.k.core.thread(t[0]).ret.is_empty(), "applied by the leave, nothing left pending");
}

#[test]
fn the_calls_without_arguments_return_what_they_count() {
    let (mut m, t) = one_task(1);
    let before = crate::time::ticks();
    let ticks = m.value(t[0], Syscall::GetTicks, &[]) as u64;
    assert!((before..=crate::time::ticks()).contains(&ticks), "the tick counter");
    assert_eq!(m.value(t[0], Syscall::FreeFrames, &[]), crate::mem::FRAMES.lock().free_count() as i64);
}

#[test]
fn yield_to_decodes_the_low_32_bits_as_a_tid() {
    let (mut m, t) = one_task(2);
    let word = tid_word(m.tid(t[1]) as i32) | 0xdead_beef << 32;
    let leave = m.call(t[0], Syscall::YieldTo, &[word]);
    assert!(matches!(leave, Leave::Run { switch: true, .. }));
    assert_eq!(m.running, Some(t[1]), "the target runs next");
    assert_eq!(m.k.core.thread(t[0]).ret.get(0), Some(0), "the yielder's 0 waits for it to run");
}

#[test]
fn yield_to_any_runs_the_next_in_line_and_an_unknown_tid_fails() {
    let (mut m, t) = one_task(2);
    m.call(t[0], Syscall::YieldTo, &[tid_word(-1)]);
    assert_eq!(m.running, Some(t[1]));
    assert_eq!(m.value(t[1], Syscall::YieldTo, &[tid_word(12345)]), err(Error::NoSuchThread));
}

#[test]
fn deschedule_reads_reject_through_the_caller_s_space() {
    let (mut m, t) = one_task(2);
    m.poke(t[0], data(t[0]), &1i32.to_le_bytes());
    assert_eq!(m.value(t[0], Syscall::Deschedule, &[data(t[0])]), 0, "rejected: returns at once");
    assert_eq!(m.value(t[0], Syscall::Deschedule, &[0]), err(Error::BadAddress));
    assert_eq!(m.value(t[0], Syscall::Deschedule, &[0xffff_8000_0000_0000]), err(Error::BadAddress));
    m.poke(t[0], data(t[0]), &0i32.to_le_bytes());
    let leave = m.call(t[0], Syscall::Deschedule, &[data(t[0])]);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "blocked: another thread runs");
    assert_eq!(*m.k.core.thread(t[0]).state(), State::Descheduled);
    assert_eq!(m.value(t[1], Syscall::MakeRunnable, &[m.tid(t[0]) as u64]), 0);
    m.call(t[1], Syscall::YieldTo, &[tid_word(m.tid(t[0]) as i32)]);
    assert_eq!(m.running, Some(t[0]));
    assert_eq!(m.rax(t[0]), 0, "woken by make_runnable with 0");
}

#[test]
fn make_runnable_is_confined_to_the_caller_s_task() {
    let (mut m, a, b) = two_tasks();
    m.poke(b, data(b), &0i32.to_le_bytes());
    m.call(b, Syscall::Deschedule, &[data(b)]);
    assert_eq!(m.value(a, Syscall::MakeRunnable, &[m.tid(b) as u64]), err(Error::PermissionDenied));
    assert_eq!(m.value(a, Syscall::MakeRunnable, &[m.tid(a) as u64]), err(Error::NotDescheduled));
    assert_eq!(m.value(a, Syscall::MakeRunnable, &[9999]), err(Error::NoSuchThread));
}

#[test]
fn sleep_zero_returns_negative_fails_and_positive_wakes_after_its_ticks() {
    let (mut m, t) = one_task(1);
    assert_eq!(m.value(t[0], Syscall::Sleep, &[0]), 0);
    assert_eq!(m.value(t[0], Syscall::Sleep, &[tid_word(-1)]), err(Error::InvalidArgument));
    let leave = m.call(t[0], Syscall::Sleep, &[2]);
    assert_eq!(leave, Leave::Idle, "nothing else to run");
    assert_eq!(m.tick(false), Leave::Resume, "one tick: still asleep, the idle loop goes on");
    let leave = m.tick(false);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "{leave:?}");
    assert_eq!((m.running, m.rax(t[0])), (Some(t[0]), 0));
}

#[test]
fn new_pages_checks_alignment_length_and_range_before_mapping() {
    let (mut m, t) = one_task(1);
    let base = abi::layout::PROGRAM_REGION.0;
    assert_eq!(m.value(t[0], Syscall::NewPages, &[base + 1, PAGE]), err(Error::Misaligned));
    assert_eq!(m.value(t[0], Syscall::NewPages, &[base, PAGE + 1]), err(Error::Misaligned));
    assert_eq!(m.value(t[0], Syscall::NewPages, &[base, 0]), err(Error::InvalidArgument));
    assert_eq!(m.value(t[0], Syscall::NewPages, &[0xffff_8000_0000_0000, PAGE]), err(Error::BadAddress));
    assert_eq!(m.value(t[0], Syscall::NewPages, &[abi::layout::USER_END - PAGE, 2 * PAGE]), err(Error::BadAddress));
    // The length is 32 bits: the high half of rsi is ignored.
    assert_eq!(m.value(t[0], Syscall::NewPages, &[base, (1 << 32) | (2 * PAGE)]), 0);
    assert!(m.mem(t[0]).pages.contains_key(&(base + PAGE)));
    assert!(!m.mem(t[0]).pages.contains_key(&(base + 2 * PAGE)));
}

#[test]
fn new_pages_over_mapped_memory_is_window_occupied_and_remove_pages_unmaps() {
    let (mut m, t) = one_task(1);
    assert_eq!(m.value(t[0], Syscall::NewPages, &[data(t[0]), PAGE]), err(Error::WindowOccupied));
    let base = abi::layout::PROGRAM_REGION.0;
    assert_eq!(m.value(t[0], Syscall::RemovePages, &[base]), err(Error::InvalidArgument));
    assert_eq!(m.value(t[0], Syscall::NewPages, &[base, 3 * PAGE]), 0);
    assert_eq!(m.value(t[0], Syscall::RemovePages, &[base + PAGE]), err(Error::InvalidArgument), "not a region's base");
    assert_eq!(m.value(t[0], Syscall::RemovePages, &[base]), 0);
    assert!((0..3).all(|i| !m.mem(t[0]).pages.contains_key(&(base + i * PAGE))));
}

#[test]
fn thread_create_checks_rip_and_rsp_and_starts_the_thread_with_its_arguments() {
    let (mut m, t) = one_task(1);
    assert_eq!(m.value(t[0], Syscall::ThreadCreate, &[0xffff_8000_0000_0000, 0x7000_0000]), err(Error::BadAddress));
    assert_eq!(m.value(t[0], Syscall::ThreadCreate, &[0x40_1000, 0]), err(Error::BadAddress), "rsp - 8 wraps");
    let tid = m.value(t[0], Syscall::ThreadCreate, &[0x40_2000, 0x7000_1000, 11, 22]);
    assert!(tid > 0);
    let slot = m.k.core.lookup_thread(crate::task::Tid::from_raw(tid as u32)).unwrap();
    let start = m.k.platform.starts[&m.k.core.thread(slot).kstack.top()];
    assert_eq!((start.rip, start.rsp, start.arg0, start.arg1), (0x40_2000, 0x7000_1000, 11, 22));
    assert_eq!(*m.k.core.thread(slot).state(), State::Runnable);
}

#[test]
fn thread_create_without_a_stack_or_past_the_share_frees_what_it_took() {
    let (mut m, t) = one_task(1);
    let stacks = m.k.platform.stacks.len();
    m.k.platform.stacks_left = Some(0);
    assert_eq!(m.value(t[0], Syscall::ThreadCreate, &[0x40_1000, 0x7000_0000]), err(Error::OutOfMemory));
    m.k.platform.stacks_left = None;
    let task = m.k.core.thread(t[0]).task;
    m.k.core.task_mut(task).limits.threads = 1;
    assert_eq!(m.value(t[0], Syscall::ThreadCreate, &[0x40_1000, 0x7000_0000]), err(Error::OutOfMemory));
    assert_eq!(m.k.platform.stacks.len(), stacks, "the stack taken for it was given back");
}

#[test]
fn thread_exit_leaves_a_zombie_whose_stack_the_next_entry_reaps() {
    let (mut m, t) = one_task(2);
    let top = m.k.core.thread(t[0]).kstack.top();
    let leave = m.call(t[0], Syscall::ThreadExit, &[0]);
    assert!(matches!(leave, Leave::Run { switch: true, .. }));
    assert_eq!(m.running, Some(t[1]));
    assert!(m.k.platform.stacks.contains_key(&top), "not freed while it may still be in use");
    m.value(t[1], Syscall::Gettid, &[]);
    assert!(!m.k.platform.stacks.contains_key(&top), "reaped at the next entry");
    assert_eq!(*m.k.core.thread(t[0]).state(), State::Free);
}

#[test]
fn thread_exit_removes_its_stack_region_first_and_refuses_a_bad_one() {
    let (mut m, t) = one_task(2);
    let base = abi::layout::PROGRAM_REGION.0;
    m.value(t[0], Syscall::NewPages, &[base, PAGE]);
    assert_eq!(m.value(t[0], Syscall::ThreadExit, &[base + PAGE]), err(Error::InvalidArgument), "still alive");
    m.call(t[0], Syscall::ThreadExit, &[base]);
    assert!(!m.mem(t[1]).pages.contains_key(&base));
}

#[test]
fn the_last_thread_ending_powers_off_with_the_first_task_s_status() {
    let (mut m, a, b) = two_tasks();
    let leave = m.call(a, Syscall::TaskExit, &[7]);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "task b still runs");
    assert_eq!(m.call(b, Syscall::TaskExit, &[3]), Leave::PowerOff(7));
}

#[test]
fn task_exit_with_the_panic_status_says_whose_panic_it_was() {
    let (mut m, a, _) = two_tasks();
    m.call(a, Syscall::TaskExit, &[abi::status::PANICKED as u32 as u64]);
    assert!(m.k.platform.printed.contains("ends with status"), "{}", m.k.platform.printed);
}

#[test]
fn task_spawn_checks_the_name_before_looking_for_it() {
    let (mut m, t) = one_task(1);
    m.poke(t[0], data(t[0]), b"hello");
    assert_eq!(m.value(t[0], Syscall::TaskSpawn, &[data(t[0]), 0]), err(Error::NoSuchProgram));
    let long = abi::image::NAME_MAX as u64 + 1;
    assert_eq!(m.value(t[0], Syscall::TaskSpawn, &[data(t[0]), long]), err(Error::NoSuchProgram));
    assert_eq!(m.value(t[0], Syscall::TaskSpawn, &[0x10, 5]), err(Error::BadAddress));
    assert_eq!(m.value(t[0], Syscall::TaskSpawn, &[data(t[0]), 5]), err(Error::NoSuchProgram), "no image");
}

#[test]
fn task_wait_refuses_oneself_and_unknown_tasks_and_collects_a_child() {
    let (mut m, a, b) = two_tasks();
    let (ta, tb) = (m.k.core.thread(a).task, m.k.core.thread(b).task);
    let own = m.k.core.task(ta).id.raw() as u64;
    assert_eq!(m.value(a, Syscall::TaskWait, &[own]), err(Error::InvalidArgument));
    assert_eq!(m.value(a, Syscall::TaskWait, &[4242]), err(Error::NoSuchTask));
    let other = m.k.core.task(tb).id.raw() as u64;
    assert_eq!(m.value(a, Syscall::TaskWait, &[other]), err(Error::PermissionDenied), "not its parent");
}

#[test]
fn print_writes_at_most_print_max_bytes_and_returns_how_many() {
    let (mut m, t) = one_task(1);
    let text = [b'x'; 100];
    m.poke(t[0], data(t[0]), &text);
    assert_eq!(m.value(t[0], Syscall::Print, &[data(t[0]), 100]), abi::syscall::PRINT_MAX as i64);
    assert_eq!(m.k.platform.console, text[..abi::syscall::PRINT_MAX]);
    assert_eq!(m.value(t[0], Syscall::Print, &[0x1000, 5]), err(Error::BadAddress));
    assert_eq!(m.value(t[0], Syscall::Print, &[0, 0]), 0, "zero bytes: the pointer is ignored");
    assert_eq!(m.k.platform.console.len(), abi::syscall::PRINT_MAX, "nothing more written");
}

#[test]
fn kernel_stats_counts_the_tables_and_writes_only_what_fits() {
    let (mut m, a, _) = two_tasks();
    let size = size_of::<KernelStats>();
    m.poke(a, data(a), &[0xaa; 32]);
    assert_eq!(m.value(a, Syscall::KernelStats, &[data(a), 1000]), size as i64);
    let stats: KernelStats = zerocopy::FromBytes::read_from_bytes(&m.peek(a, data(a), size)[..]).unwrap();
    assert_eq!((stats.threads_used, stats.tasks_used, stats.irqs_bound), (2, 2, 0));
    m.poke(a, data(a), &[0xaa; 32]);
    assert_eq!(m.value(a, Syscall::KernelStats, &[data(a), 4]), size as i64);
    assert_eq!(m.peek(a, data(a) + 4, 1), [0xaa], "only the first 4 bytes written");
    assert_eq!(m.value(a, Syscall::KernelStats, &[0x1000, 8]), err(Error::BadAddress));
}

#[test]
fn ps_counts_all_records_writes_at_most_its_capacity_and_checks_the_buffer_first() {
    let (mut m, a, _) = two_tasks();
    let size = size_of::<abi::ps::Record>() as u64;
    assert_eq!(m.value(a, Syscall::Ps, &[data(a), 1]), 4, "two tasks and two threads");
    assert_eq!(m.value(a, Syscall::Ps, &[data(a), 0]), 4);
    assert_eq!(m.value(a, Syscall::Ps, &[data(a) + 4 * PAGE - size, 2]), err(Error::BadAddress));
}

#[test]
fn image_programs_without_an_image_is_zero() {
    let (mut m, t) = one_task(1);
    assert_eq!(m.value(t[0], Syscall::ImagePrograms, &[0, 100]), 0);
}

#[test]
fn task_kill_needs_ancestry_or_the_power_and_killing_oneself_does_not_return() {
    let (mut m, a, b) = two_tasks();
    let tb = m.k.core.thread(b).task;
    let id = m.k.core.task(tb).id.raw() as u64;
    assert_eq!(m.value(a, Syscall::TaskKill, &[id]), err(Error::PermissionDenied));
    let ta = m.k.core.thread(a).task;
    m.k.core.task_mut(ta).grants = Grants::KILL;
    assert_eq!(m.value(a, Syscall::TaskKill, &[id]), 0);
    assert_eq!(m.k.core.task(tb).state, crate::task::TaskState::Free, "an orphan is freed when it ends");
    let own = m.k.core.task(ta).id.raw() as u64;
    assert_eq!(m.call(a, Syscall::TaskKill, &[own]), Leave::PowerOff(abi::status::KILLED));
}

// ---- IPC through the registers ------------------------------------------------------------

/// Where test threads keep a length word for IPC.
fn lens(slot: ThreadSlot) -> u64 {
    data(slot) + 3 * PAGE
}

#[test]
fn ipc_send_decodes_its_control_word_and_returns_a_status_in_rdx() {
    let (mut m, a, b) = two_tasks();
    m.poke(a, lens(a), &3u32.to_le_bytes());
    m.poke(a, data(a), b"abc");
    let async_ = SendControl { timeout: 0, shared: false, option_sync: 0 }.encode();
    let args = [m.tid(b) as u64, 0, data(a), 0, lens(a), async_];
    assert_eq!(m.value(a, Syscall::IpcSend, &args), 1, "buffered");
    assert_eq!(m.rdx(a), abi::ipc::SendStatus { transferred: false }.encode());
    let bad = SendControl { timeout: 0, shared: false, option_sync: 300 }.encode();
    let args = [m.tid(b) as u64, 0, data(a), 0, lens(a), bad];
    assert_eq!(m.value(a, Syscall::IpcSend, &args), err(Error::InvalidArgument), "saturated option_sync");
    assert_eq!(m.rdx(a), 0, "an error comes with its status word too");
}

#[test]
fn a_send_error_is_encoded_in_rax() {
    let (mut m, a, _) = two_tasks();
    let control = SendControl { timeout: -1, shared: false, option_sync: 1 }.encode();
    assert_eq!(m.value(a, Syscall::IpcSend, &[9999, 0, data(a), 0, 0x10, control]), err(Error::BadAddress));
    m.poke(a, lens(a), &1u32.to_le_bytes());
    assert_eq!(m.value(a, Syscall::IpcSend, &[9999, 0, data(a), 0, lens(a), control]), err(Error::NoSuchThread));
}

/// `ipc_recv` arguments for `slot` with a `cap`-byte buffer.
fn recv_args(m: &mut Machine, slot: ThreadSlot, cap: u32, timeout: i32) -> [u64; 5] {
    m.poke(slot, lens(slot) + 8, &cap.to_le_bytes());
    m.poke(slot, lens(slot) + 16, &0u32.to_le_bytes());
    [0, data(slot) + PAGE, lens(slot) + 16, lens(slot) + 8, tid_word(timeout)]
}

#[test]
fn a_buffered_message_is_received_at_once_with_its_sender_in_rdx() {
    let (mut m, a, b) = two_tasks();
    m.poke(a, lens(a), &3u32.to_le_bytes());
    m.poke(a, data(a), b"abc");
    m.value(a, Syscall::IpcSend, &[m.tid(b) as u64, 0, data(a), 0, lens(a), 0]);
    let args = recv_args(&mut m, b, 64, -1);
    assert_eq!(m.value(b, Syscall::IpcRecv, &args), u32::from(RecvKind::Async) as i64);
    assert_eq!(m.rdx(b), m.tid(a) as u64);
    assert_eq!(m.peek(b, data(b) + PAGE, 3), b"abc");
}

#[test]
fn a_blocked_receiver_is_woken_with_the_kind_and_the_sender_word() {
    let (mut m, a, b) = two_tasks();
    let args = recv_args(&mut m, b, 64, -1);
    let leave = m.call(b, Syscall::IpcRecv, &args);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "{leave:?}");
    assert_eq!(m.running, Some(a));
    assert!(matches!(m.k.core.thread(b).state(), State::Receiving(_)));
    m.poke(a, lens(a), &2u32.to_le_bytes());
    m.poke(a, data(a), b"hi");
    let sync = SendControl { timeout: -1, shared: false, option_sync: 1 }.encode();
    let leave = m.call(a, Syscall::IpcSend, &[m.tid(b) as u64, 0, data(a), 0, lens(a), sync]);
    assert!(matches!(leave, Leave::Run { switch: true, .. }));
    assert_eq!(m.running, Some(b), "the caller waits: the receiver runs");
    assert_eq!(m.rax(b), u32::from(RecvKind::Call) as i64);
    assert_eq!(abi::ipc::decode_sender_word(m.rdx(b)), (m.tid(a), RecvFlags::empty()));
    // The reply wakes the caller with 0 and its status word.
    m.poke(b, data(b) + PAGE, b"ok");
    assert_eq!(m.value(b, Syscall::IpcReply, &[data(b) + PAGE, 2]), 0);
    m.call(b, Syscall::YieldTo, &[tid_word(-1)]);
    assert_eq!(m.running, Some(a));
    assert_eq!((m.rax(a), m.rdx(a)), (0, 0));
    assert_eq!(m.peek(a, data(a), 2), b"ok");
}

#[test]
fn ipc_reply_takes_its_length_from_the_low_32_bits() {
    let (mut m, a, _) = two_tasks();
    assert_eq!(m.value(a, Syscall::IpcReply, &[data(a), 1 << 32]), err(Error::NoReplyPending), "length 0");
    assert_eq!(m.value(a, Syscall::IpcReply, &[data(a), 5000]), err(Error::TooLong));
}

#[test]
fn a_fast_call_length_is_never_truncated_into_a_valid_one() {
    let (mut m, a, b) = two_tasks();
    for len in [41u64, 256, 0x128, 0x1_0000] {
        let word = m.tid(b) as u64 | len << 32;
        assert_eq!(m.value(a, Syscall::IpcCall, &[word, fast::timeout_word(-1)]), err(Error::TooLong), "{len}");
    }
    assert_eq!(*m.k.core.thread(b).state(), State::Runnable, "nothing delivered");
}

#[test]
fn a_fast_call_to_a_waiting_server_switches_to_it_with_the_message_in_registers() {
    let (mut m, a, b) = two_tasks();
    let leave = m.call(b, Syscall::IpcReplyWait, &[fast::NO_REPLY, fast::timeout_word(-1)]);
    assert!(matches!(leave, Leave::Run { switch: true, .. }));
    let msg = fast::to_words(b"0123456789");
    let word = fast::call_word(m.tid(b), 10);
    let mut args = [word, fast::timeout_word(-1), 0, 0, 0, 0, 0];
    args[2..].copy_from_slice(&msg);
    let leave = m.call(a, Syscall::IpcCall, &args);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "direct switch");
    assert_eq!(m.running, Some(b));
    let r = m.regs(b).out;
    assert_eq!(r[0], u32::from(RecvKind::Call) as u64);
    assert_eq!(abi::ipc::decode_sender_word(r[1]), (m.tid(a), RecvFlags::empty()));
    assert_eq!(r[2], 10);
    assert_eq!(fast::to_bytes(&r[3..].try_into().unwrap())[..10], *b"0123456789");
}

#[test]
fn a_fast_reply_reaches_the_caller_s_registers_with_its_length_cut() {
    let (mut m, a, b) = two_tasks();
    m.call(b, Syscall::IpcReplyWait, &[fast::NO_REPLY, fast::timeout_word(-1)]);
    // The call's length is also the reply's capacity.
    m.call(a, Syscall::IpcCall, &[fast::call_word(m.tid(b), fast::MAX), fast::timeout_word(-1)]);
    let reply = fast::to_words(&[0xee; 40]);
    let mut args = [fast::reply_word(Some(3)), fast::timeout_word(-1), 0, 0, 0, 0, 0];
    args[2..].copy_from_slice(&reply);
    let leave = m.call(b, Syscall::IpcReplyWait, &args);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "the server waits: the caller runs");
    assert_eq!(m.running, Some(a));
    let r = m.regs(a).out;
    assert_eq!((r[0], r[1], r[2]), (0, 0, 3), "value 0, sender 0, length 3");
    // The words as the server left them: the caller reads the 3 bytes (`abi::ipc::fast`).
    assert_eq!(r[3..], reply);
}

#[test]
fn a_failed_reply_wait_returns_its_error_and_leaves_the_other_registers_alone() {
    let (mut m, _, b) = two_tasks();
    let args = [fast::reply_word(Some(41)), fast::timeout_word(-1), 1, 2, 3, 4, 5];
    assert_eq!(m.value(b, Syscall::IpcReplyWait, &args), err(Error::TooLong));
    assert_eq!(m.regs(b).out[1..], [fast::reply_word(Some(41)), fast::timeout_word(-1), 1, 2, 3, 4, 5]);
    let args = [fast::reply_word(Some(1)), fast::timeout_word(-1), 9, 9, 9, 9, 9];
    assert_eq!(m.value(b, Syscall::IpcReplyWait, &args), err(Error::NoReplyPending));
    assert_eq!(m.regs(b).out[3], 9, "payload registers untouched");
}

#[test]
fn a_polling_reply_wait_with_nothing_queued_times_out_without_fast_registers() {
    let (mut m, _, b) = two_tasks();
    let args = [fast::NO_REPLY, fast::timeout_word(0), 7, 7, 7, 7, 7];
    assert_eq!(m.value(b, Syscall::IpcReplyWait, &args), err(Error::Timeout));
    assert_eq!(m.regs(b).out[1], fast::NO_REPLY, "rdi untouched");
    assert_eq!(m.regs(b).out[3], 7);
}

#[test]
fn a_reply_wait_receives_a_buffered_message_at_once_in_registers() {
    let (mut m, a, b) = two_tasks();
    m.poke(a, lens(a), &2u32.to_le_bytes());
    m.poke(a, data(a), b"yo");
    m.value(a, Syscall::IpcSend, &[m.tid(b) as u64, 0, data(a), 0, lens(a), 0]);
    assert_eq!(m.value(b, Syscall::IpcReplyWait, &[fast::NO_REPLY, fast::timeout_word(-1)]), 1);
    let r = m.regs(b).out;
    assert_eq!((r[1], r[2]), (m.tid(a) as u64, 2));
    assert_eq!(fast::to_bytes(&r[3..].try_into().unwrap())[..2], *b"yo");
}

#[test]
fn a_receive_timeout_wakes_the_receiver_with_timeout() {
    let (mut m, a, b) = two_tasks();
    let args = recv_args(&mut m, b, 64, 1);
    m.call(b, Syscall::IpcRecv, &args);
    m.run(a);
    m.tick(true);
    assert_eq!(*m.k.core.thread(b).state(), State::Runnable);
    m.call(a, Syscall::YieldTo, &[tid_word(m.tid(b) as i32)]);
    assert_eq!((m.running, m.rax(b)), (Some(b), err(Error::Timeout)));
}

/// A receive into registers that waited and then timed out returns its error code and the
/// message registers all zero, written by the timeout (docs/architecture.md, "Results take
/// one path"): not what the registers held before the call.
#[test]
fn a_reply_wait_that_times_out_after_waiting_returns_zeroed_message_registers() {
    let (mut m, a, b) = two_tasks();
    m.call(b, Syscall::IpcReplyWait, &[fast::NO_REPLY, fast::timeout_word(1), 7, 7, 7, 7, 7]);
    assert_ne!(*m.k.core.thread(b).state(), State::Runnable, "waits for its message");
    m.run(a);
    m.tick(true);
    m.call(a, Syscall::YieldTo, &[tid_word(m.tid(b) as i32)]);
    assert_eq!((m.running, m.rax(b)), (Some(b), err(Error::Timeout)));
    assert_eq!(m.regs(b).out[1..], [0; 7], "sender, length and payload zeroed");
}

// ---- interrupts ----------------------------------------------------------------------

fn driver() -> (Machine, ThreadSlot) {
    let mut m = Machine::new();
    let t = m.task("drv", Grants::COM1);
    let d = m.thread(t);
    (m, d)
}

const COM1_IRQ: u8 = abi::image::com1::IRQ;

#[test]
fn irq_bind_refuses_the_timer_the_cascade_and_lines_past_the_controller() {
    let (mut m, d) = driver();
    for irq in [0u64, 2, 16, 255, 1 << 32 | COM1_IRQ as u64] {
        assert_eq!(m.value(d, Syscall::IrqBind, &[irq]), err(Error::InvalidArgument), "line {irq}");
    }
}

#[test]
fn irq_bind_needs_the_grant_and_unmasks_the_line() {
    let (mut m, d) = driver();
    assert_eq!(m.value(d, Syscall::IrqBind, &[1]), err(Error::PermissionDenied), "not granted");
    assert_ne!(m.k.platform.masked & 1 << COM1_IRQ, 0);
    assert_eq!(m.value(d, Syscall::IrqBind, &[COM1_IRQ as u64]), 0);
    assert_eq!(m.k.platform.masked & 1 << COM1_IRQ, 0, "unmasked");
    assert_eq!(m.value(d, Syscall::IrqBind, &[COM1_IRQ as u64]), 0, "binding again is fine");
}

#[test]
fn a_line_is_exclusive_while_its_driver_lives() {
    let (mut m, d) = driver();
    let other = m.task("drv2", Grants::COM1);
    let e = m.thread(other);
    m.value(d, Syscall::IrqBind, &[COM1_IRQ as u64]);
    assert_eq!(m.value(e, Syscall::IrqBind, &[COM1_IRQ as u64]), err(Error::PermissionDenied));
    assert_eq!(m.value(e, Syscall::IrqAck, &[COM1_IRQ as u64]), err(Error::PermissionDenied), "not its line");
}

#[test]
fn irq_ack_unmasks_only_for_the_bound_driver() {
    let (mut m, d) = driver();
    assert_eq!(m.value(d, Syscall::IrqAck, &[COM1_IRQ as u64]), err(Error::PermissionDenied));
    m.value(d, Syscall::IrqBind, &[COM1_IRQ as u64]);
    m.run(d);
    m.irq(COM1_IRQ, true);
    assert_ne!(m.k.platform.masked & 1 << COM1_IRQ, 0, "masked until acknowledged");
    assert_eq!(m.value(d, Syscall::IrqAck, &[COM1_IRQ as u64]), 0);
    assert_eq!(m.k.platform.masked & 1 << COM1_IRQ, 0);
}

#[test]
fn an_interrupt_wakes_its_waiting_driver_with_a_kernel_message() {
    let (mut m, d) = driver();
    m.value(d, Syscall::IrqBind, &[COM1_IRQ as u64]);
    let args = recv_args(&mut m, d, 8, -1);
    assert_eq!(m.call(d, Syscall::IpcRecv, &args), Leave::Idle);
    let leave = m.irq(COM1_IRQ, false);
    assert!(matches!(leave, Leave::Run { switch: true, .. }), "from idle into the driver: {leave:?}");
    assert_eq!(m.rax(d), u32::from(RecvKind::Async) as i64);
    assert_eq!(abi::ipc::decode_sender_word(m.rdx(d)), (abi::ipc::KERNEL_TID, RecvFlags::INTERRUPT));
    assert_eq!(m.peek(d, data(d) + PAGE, 1), [COM1_IRQ]);
}

#[test]
fn an_interrupt_nobody_drives_changes_nothing() {
    let (mut m, d) = driver();
    m.poke(d, data(d), &0i32.to_le_bytes());
    assert_eq!(m.call(d, Syscall::Deschedule, &[data(d)]), Leave::Idle);
    assert_eq!(m.irq(COM1_IRQ, false), Leave::Resume, "the idle loop goes on");
    assert_eq!(*m.k.core.thread(d).state(), State::Descheduled);
}

#[test]
fn a_dead_driver_s_line_is_unbound_and_masked_when_it_is_reaped() {
    let (mut m, d) = driver();
    let t = m.k.core.thread(d).task;
    let other = m.thread(t);
    m.value(d, Syscall::IrqBind, &[COM1_IRQ as u64]);
    m.call(d, Syscall::ThreadExit, &[0]);
    assert_eq!(m.running, Some(other));
    m.value(other, Syscall::Gettid, &[]); // reaps
    assert_eq!(m.k.irqs[COM1_IRQ as usize], None);
    assert_ne!(m.k.platform.masked & 1 << COM1_IRQ, 0);
    assert_eq!(m.value(other, Syscall::IrqBind, &[COM1_IRQ as u64]), 0, "free for another driver");
}

// ---- next: who runs, on what, with which I/O ports ------------------------------------------

#[test]
fn next_returns_into_the_entering_thread_without_a_switch() {
    let (mut m, t) = one_task(2);
    let switches = m.k.platform.switches.len();
    assert!(matches!(m.call(t[0], Syscall::Gettid, &[]), Leave::Run { switch: false, .. }));
    assert_eq!(m.k.platform.switches.len(), switches, "no address-space or stack switch");
}

#[test]
fn entering_another_thread_switches_its_space_and_stack() {
    let (mut m, a, b) = two_tasks();
    m.call(a, Syscall::YieldTo, &[tid_word(m.tid(b) as i32)]);
    assert_eq!(m.k.platform.switches.last().map(|s| s.0), Some(m.k.core.thread(b).kstack.top()));
}

#[test]
fn io_ports_are_loaded_for_a_granted_task_and_only_when_they_change() {
    let mut m = Machine::new();
    let plain = m.task("plain", Grants::NONE);
    let p = m.thread(plain);
    let p2 = m.thread(plain);
    let dev = m.task("dev", Grants::COM1);
    let d = m.thread(dev);
    m.call(p, Syscall::YieldTo, &[tid_word(m.tid(d) as i32)]);
    assert_eq!(m.k.platform.io, [(Grants::COM1.io_base, Grants::COM1.io_count)]);
    m.call(d, Syscall::YieldTo, &[tid_word(m.tid(p2) as i32)]);
    assert_eq!(m.k.platform.io.last(), Some(&(0, 0)), "taken away again");
    m.call(p2, Syscall::YieldTo, &[tid_word(m.tid(p) as i32)]);
    assert_eq!(m.k.platform.io.len(), 2, "same ports: not reloaded");
}

#[test]
fn nothing_runnable_is_idle_and_a_tick_from_idle_resumes_it() {
    let (mut m, t) = one_task(1);
    m.poke(t[0], data(t[0]), &0i32.to_le_bytes());
    assert_eq!(m.call(t[0], Syscall::Deschedule, &[data(t[0])]), Leave::Idle);
    assert_eq!(m.tick(false), Leave::Resume);
}

#[test]
fn a_blocked_thread_s_frame_is_untouched_until_it_is_woken() {
    let (mut m, a, b) = two_tasks();
    let args = recv_args(&mut m, b, 64, -1);
    m.call(b, Syscall::IpcRecv, &args);
    let before = m.regs(b);
    assert_eq!(before.out[1..6], args, "arguments still in place");
    m.value(a, Syscall::Gettid, &[]);
    assert_eq!(m.regs(b), before);
}

#[test]
fn a_user_fault_ends_the_task_reports_it_and_runs_another() {
    let (mut m, a, b) = two_tasks();
    m.run(a);
    let fault = super::UserFault { vector: 14, error_code: 4, rip: 0x40_1234, rsp: 0x10, rbp: 0, fault_address: 8 };
    let leave = m.k.user_fault(&fault);
    let leave = m.leave(leave);
    assert!(matches!(leave, Leave::Run { switch: true, .. }));
    assert_eq!(m.running, Some(b));
    let printed = &m.k.platform.printed;
    assert!(printed.contains("killed: #PF"), "{printed}");
    assert!(printed.contains("page not present, read, from user mode"), "{printed}");
    let ta = m.k.core.thread(a).task;
    assert_eq!(m.k.core.task(ta).state, crate::task::TaskState::Free, "an orphan's slot is freed");
}

#[test]
fn start_without_an_image_powers_off_saying_why() {
    let mut m = Machine::new();
    assert_eq!(m.k.start(None, true, 0), Leave::PowerOff(0));
    assert!(m.k.platform.printed.contains("no boot image"));
}

#[test]
fn every_result_register_has_an_index_the_architecture_maps() {
    let mut r = crate::regs::Results::NONE;
    for i in 0..RESULTS {
        r.set(i, 100 + i as u64);
    }
    let mut regs = super::fixture::Regs::default();
    r.apply(&mut regs);
    assert_eq!(regs.out, core::array::from_fn(|i| 100 + i as u64));
    assert_eq!(ARGS + 1, RESULTS);
}
