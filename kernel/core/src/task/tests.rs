use super::*;
use crate::ipc::fixture::Outcome;
use crate::ipc::fixture::World;
use crate::ipc::mailbox::VecBuffers;
use abi::image::Limits;

type C<S> = Core<S, VecBuffers>;

fn ks(n: u64) -> KernelStack {
    // SAFETY: a made-up stack the tests never run on nor free; each number is used once.
    unsafe { KernelStack::from_raw(n * 0x10000, n * 0x10000 + 0x4000) }
}

/// A core with one task of `n` threads; returns the core, the task slot and thread slots.
fn setup(n: usize) -> (C<&'static str>, TaskSlot, Vec<ThreadSlot>) {
    let mut c = Core::new(VecBuffers::default());
    let task = c.create_task("t", "space").unwrap();
    let threads = (0..n).map(|i| c.create_thread(task, ks(i as u64 + 1)).unwrap()).collect();
    (c, task, threads)
}

fn tid(c: &C<&'static str>, slot: ThreadSlot) -> Tid {
    c.thread(slot).tid
}

/// A new task started by task `parent`, with `limits` and one thread.
fn child(c: &mut C<&'static str>, parent: TaskSlot, limits: Limits, stack: u64) -> (TaskSlot, ThreadSlot) {
    let task = c.spawn_task(Some(parent), "child", "c", limits).unwrap();
    let thread = c.create_thread(task, ks(stack)).unwrap();
    (task, thread)
}

#[test]
fn round_robin_on_yield_and_on_tick() {
    let (mut c, _, t) = setup(3);
    assert_eq!(c.schedule(), Some(t[0]));
    assert_eq!(c.schedule(), Some(t[0]), "the current thread keeps the CPU");
    c.yield_to(c.current().unwrap(), -1).unwrap();
    assert_eq!(c.schedule(), Some(t[1]));
    c.tick(c.now() + 1); // quantum of one tick used up, others waiting: preempted
    assert_eq!(c.schedule(), Some(t[2]));
    c.tick(c.now() + 1);
    assert_eq!(c.schedule(), Some(t[0]));
}

#[test]
fn a_lone_thread_is_not_preempted() {
    let (mut c, _, t) = setup(1);
    c.schedule();
    for _ in 0..5 {
        c.tick(c.now() + 1);
        assert_eq!(c.schedule(), Some(t[0]));
    }
}

#[test]
fn yield_to_a_thread_runs_it_next() {
    let (mut c, _, t) = setup(3);
    c.schedule();
    c.yield_to(c.current().unwrap(), tid(&c, t[2]).raw() as i32).unwrap();
    assert_eq!(c.schedule(), Some(t[2]));
    c.yield_to(c.current().unwrap(), -1).unwrap();
    assert_eq!(c.schedule(), Some(t[1]), "the skipped thread is still in line");
    assert_eq!(c.yield_to(c.current().unwrap(), tid(&c, t[1]).raw() as i32), Ok(()), "yield to oneself");
    assert_eq!(c.yield_to(c.current().unwrap(), 9999), Err(Error::NoSuchThread));
    assert_eq!(c.yield_to(c.current().unwrap(), -7), Err(Error::NoSuchThread));
}

#[test]
fn yield_to_a_blocked_thread_fails() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    assert!(c.deschedule(c.current().unwrap(), 0));
    assert_eq!(c.schedule(), Some(t[1]));
    assert_eq!(c.yield_to(c.current().unwrap(), tid(&c, t[0]).raw() as i32), Err(Error::NotRunnable));
}

#[test]
fn deschedule_and_make_runnable() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    assert!(!c.deschedule(c.current().unwrap(), 1), "non-zero reject returns at once");
    assert_eq!(c.schedule(), Some(t[0]));
    assert!(c.deschedule(c.current().unwrap(), 0));
    assert_eq!(c.thread(t[0]).state, State::Descheduled);
    assert_eq!(c.schedule(), Some(t[1]));
    let a = tid(&c, t[0]);
    let b = tid(&c, t[1]);
    assert_eq!(c.make_runnable(c.current().unwrap(), b), Err(Error::NotDescheduled), "running, not descheduled");
    assert_eq!(c.make_runnable(c.current().unwrap(), a), Ok(()));
    assert_eq!(wake_value(&c, t[0]), Some(0));
    assert_eq!(c.make_runnable(c.current().unwrap(), a), Err(Error::NotDescheduled), "already woken");
    c.yield_to(c.current().unwrap(), -1).unwrap();
    assert_eq!(c.schedule(), Some(t[0]));
}

#[test]
fn sleep_wakes_exactly_at_its_deadline() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    assert_eq!(c.sleep(c.current().unwrap(), -1), Err(Error::InvalidArgument));
    assert_eq!(c.sleep(c.current().unwrap(), 0), Ok(false));
    assert_eq!(c.sleep(c.current().unwrap(), 3), Ok(true));
    assert_eq!(c.schedule(), Some(t[1]));
    c.tick(c.now() + 1);
    c.tick(c.now() + 1);
    assert_eq!(c.thread(t[0]).state, State::Sleeping, "not before 3 ticks");
    c.tick(c.now() + 1);
    assert_eq!(c.thread(t[0]).state, State::Runnable);
    assert_eq!(wake_value(&c, t[0]), Some(0));
}

#[test]
fn idle_when_nothing_is_runnable() {
    let (mut c, _, t) = setup(1);
    c.schedule();
    c.sleep(c.current().unwrap(), 1).unwrap();
    assert_eq!(c.schedule(), None);
    c.tick(c.now() + 1);
    assert_eq!(c.schedule(), Some(t[0]));
}

#[test]
fn task_wait_blocks_until_exit_and_gets_the_status() {
    let mut c: C<&str> = Core::new(VecBuffers::default());
    let parent = c.create_task("parent", "p").unwrap();
    let p = c.create_thread(parent, ks(1)).unwrap();
    let child = c.spawn_task(Some(parent), "child", "c", Limits::DEFAULT).unwrap();
    let k = c.create_thread(child, ks(2)).unwrap();
    let child_id = c.task(child).id;
    assert_eq!(c.schedule(), Some(p));
    assert_eq!(c.task_wait(c.current().unwrap(), child_id), Ok(None));
    assert_eq!(c.schedule(), Some(k));
    let ended = c.exit_task(child, 42);
    assert_eq!(ended.space, Some("c"));
    assert_eq!(wake_value(&c, p), Some(42));
    assert_eq!(c.task_wait(p, child_id).unwrap_err(), Error::NoSuchTask, "collected by the waiter");
    assert_eq!(c.schedule(), Some(p));
    assert_eq!(c.live_tasks(), 1);
}

#[test]
fn an_uncollected_status_waits_for_its_collector() {
    let mut c: C<&str> = Core::new(VecBuffers::default());
    let a = c.create_task("a", "a").unwrap();
    let ta = c.create_thread(a, ks(1)).unwrap();
    let b = c.spawn_task(Some(a), "b", "b", Limits::DEFAULT).unwrap();
    c.create_thread(b, ks(2)).unwrap();
    let b_id = c.task(b).id;
    let _ = c.exit_task(b, -5);
    c.schedule();
    assert_eq!(c.current(), Some(ta));
    assert_eq!(c.task_wait(c.current().unwrap(), b_id), Ok(Some(-5)));
    assert_eq!(c.task_wait(c.current().unwrap(), b_id), Err(Error::NoSuchTask));
    assert_eq!(c.task_wait(c.current().unwrap(), c.task(a).id), Err(Error::InvalidArgument), "waiting for oneself");
}

#[test]
fn exit_task_ends_threads_in_every_state() {
    let (mut c, task, t) = setup(5);
    c.schedule(); // t0 current
    assert!(c.deschedule(c.current().unwrap(), 0)); // t0 descheduled
    c.schedule(); // t1
    c.sleep(c.current().unwrap(), 10).unwrap(); // t1 sleeping
    c.schedule(); // t2 current; t3, t4 in the run queue
    let ended = c.exit_task(task, 7);
    assert!(ended.space.is_some());
    for s in &t {
        assert_eq!(c.thread(*s).state, State::Zombie);
    }
    assert_eq!(c.schedule(), None, "run queue emptied");
    for _ in 0..20 {
        c.tick(c.now() + 1); // the sleeper's timer must be gone: no wake of a zombie
    }
    assert_eq!(c.first_task_status(), Some(7));
    assert_eq!(c.lookup_thread(tid(&c, t[3])), Err(Error::NoSuchThread));
}

#[test]
fn the_last_thread_to_exit_ends_its_task_with_status_zero() {
    let (mut c, root, _) = setup(0);
    let task = c.spawn_task(Some(root), "k", "k", Limits::DEFAULT).unwrap();
    let t = [c.create_thread(task, ks(1)).unwrap(), c.create_thread(task, ks(2)).unwrap()];
    c.schedule();
    assert!(c.exit_thread(t[0]).space.is_none());
    c.schedule();
    let ended = c.exit_thread(t[1]);
    assert_eq!(ended.task, Some(task));
    assert_eq!(c.task(task).state, TaskState::Exited(0), "kept for its parent to collect");
}

#[test]
fn a_task_nobody_can_collect_is_freed_when_it_ends() {
    let (mut c, task, t) = setup(1);
    c.schedule();
    let ended = c.exit_thread(t[0]);
    assert_eq!(ended.task, Some(task));
    assert_eq!(c.task(task).state, TaskState::Free, "no parent: the slot comes back at once");
    assert_eq!(c.first_task_status(), Some(0), "the boot task's status is still reported");
}

#[test]
fn reap_never_frees_the_running_threads_stack() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    let _ = c.exit_thread(t[1]); // not current: reapable
    assert_eq!(c.reap(), Some(ks(2)));
    assert_eq!(c.reap(), None);
    // The current thread exits: it is still on its stack until the next switch.
    let _ = c.exit_thread(t[0]);
    assert_eq!(c.current(), None);
    assert_eq!(c.reap(), Some(ks(1)), "reaped once it is no longer current");
}

#[test]
fn stale_ids_never_name_new_threads() {
    let (mut c, task, t) = setup(1);
    let old = tid(&c, t[0]);
    c.schedule();
    let _ = c.exit_thread(t[0]);
    let _ = c.reap();
    // The task ended (no parent: freed at once); a new task reuses the thread slot.
    assert_eq!(c.task(task).state, TaskState::Free);
    let task2 = c.create_task("u", "u").unwrap();
    let s = c.create_thread(task2, ks(3)).unwrap();
    assert_eq!(s, t[0], "slot reused");
    assert_ne!(tid(&c, s), old);
    assert_eq!(c.lookup_thread(old), Err(Error::NoSuchThread));
    assert_eq!(c.make_runnable(s, old), Err(Error::NoSuchThread));
}

#[test]
fn tables_fill_up_with_out_of_memory_not_a_panic() {
    let mut c: C<()> = Core::new(VecBuffers::default());
    let task = c.create_task("t", ()).unwrap();
    c.task_mut(task).limits = Limits::UNBOUNDED; // the table's bound, not the task's share
    for i in 1..MAX_THREADS {
        c.create_thread(task, ks(i as u64)).unwrap();
    }
    assert_eq!(c.create_thread(task, ks(999)), Err(Error::OutOfMemory));
    for _ in 2..MAX_TASKS {
        c.create_task("x", ()).unwrap();
    }
    assert_eq!(c.create_task("y", ()), Err(Error::OutOfMemory));
}

// ---- per-task shares of the tables ------------------------------------------------------

#[test]
fn a_task_cannot_take_more_threads_than_its_share() {
    let mut c: C<&str> = Core::new(VecBuffers::default());
    let a = c.spawn_task(None, "a", "a", Limits { threads: 3, ..Limits::DEFAULT }).unwrap();
    let b = c.create_task("b", "b").unwrap();
    let mut a_threads = Vec::new();
    for i in 0..3 {
        a_threads.push(c.create_thread(a, ks(i + 1)).unwrap());
    }
    assert_eq!(c.create_thread(a, ks(9)), Err(Error::OutOfMemory), "at its share");
    assert!(c.create_thread(b, ks(10)).is_ok(), "another task still gets threads");
    c.schedule();
    let _ = c.exit_thread(a_threads[2]);
    assert!(c.create_thread(a, ks(11)).is_ok(), "an exited thread no longer counts");
    assert_eq!(c.create_thread(a, ks(12)), Err(Error::OutOfMemory));
}

#[test]
fn the_default_thread_share_leaves_the_table_to_others() {
    let mut c: C<()> = Core::new(VecBuffers::default());
    let hog = c.create_task("hog", ()).unwrap();
    let mut n = 0;
    while c.create_thread(hog, ks(n + 1)).is_ok() {
        n += 1;
    }
    assert_eq!(n, abi::image::THREADS_DEFAULT as u64);
    assert!((n as usize) < MAX_THREADS - 1);
    let other = c.create_task("other", ()).unwrap();
    assert!(c.create_thread(other, ks(999)).is_ok());
}

#[test]
fn children_alive_or_uncollected_count_against_the_task_share() {
    let (mut c, parent, p) = setup(1);
    c.task_mut(parent).limits = Limits { tasks: 2, ..Limits::DEFAULT };
    let other = c.create_task("other", "o").unwrap();
    let (k1, t1) = child(&mut c, parent, Limits::DEFAULT, 2);
    let (_k2, _) = child(&mut c, parent, Limits::DEFAULT, 3);
    assert_eq!(c.spawn_task(Some(parent), "x", "x", Limits::DEFAULT), Err(Error::OutOfMemory), "two live");
    assert!(c.spawn_task(Some(other), "y", "y", Limits::DEFAULT).is_ok(), "others can still spawn");
    let k1_id = c.task(k1).id;
    c.switch_to(t1);
    let _ = c.exit_task(k1, 4);
    assert_eq!(c.spawn_task(Some(parent), "x", "x", Limits::DEFAULT), Err(Error::OutOfMemory), "uncollected");
    c.switch_to(p[0]);
    assert_eq!(c.task_wait(c.current().unwrap(), k1_id), Ok(Some(4)));
    assert!(c.spawn_task(Some(parent), "x", "x", Limits::DEFAULT).is_ok(), "collected: room again");
}

#[test]
fn a_full_table_never_drops_an_uncollected_status() {
    let (mut c, parent, p) = setup(1);
    c.task_mut(parent).limits = Limits::UNBOUNDED;
    let (k, t) = child(&mut c, parent, Limits::DEFAULT, 2);
    let k_id = c.task(k).id;
    c.switch_to(t);
    let _ = c.exit_task(k, 9);
    while c.spawn_task(Some(parent), "x", "x", Limits::DEFAULT).is_ok() {}
    assert!(TaskSlot::all().all(|s| c.task(s).state != TaskState::Free), "table full");
    assert_eq!(c.spawn_task(Some(parent), "y", "y", Limits::DEFAULT), Err(Error::OutOfMemory));
    assert_eq!(c.create_task("z", "z"), Err(Error::OutOfMemory));
    c.switch_to(p[0]);
    assert_eq!(c.task_wait(c.current().unwrap(), k_id), Ok(Some(9)), "the status survived");
    assert!(c.create_task("z", "z").is_ok(), "its slot is free once collected");
}

#[test]
fn orphans_are_freed_and_give_back_nothing_twice() {
    let (mut c, root, _) = setup(1);
    let (mid, m) = child(&mut c, root, Limits::DEFAULT, 2);
    let (done, d) = child(&mut c, mid, Limits::DEFAULT, 3);
    let (live, l) = child(&mut c, mid, Limits::DEFAULT, 4);
    c.switch_to(d);
    let _ = c.exit_task(done, 1);
    assert_eq!(c.task(done).state, TaskState::Exited(1));
    c.switch_to(m);
    let _ = c.exit_task(mid, 0);
    assert_eq!(c.task(done).state, TaskState::Free, "an ended orphan is freed with its parent");
    assert_eq!(c.task(live).state, TaskState::Live);
    c.switch_to(l);
    let _ = c.exit_task(live, 2);
    assert_eq!(c.task(live).state, TaskState::Free, "a live orphan is freed when it ends");
    assert_eq!(c.task(mid).state, TaskState::Exited(0), "the parent's own status waits for root");
    assert_eq!(c.task(root).children, 1);
}

#[test]
fn a_discarded_task_gives_its_slot_and_share_back() {
    let (mut c, parent, _) = setup(1);
    c.task_mut(parent).limits = Limits { tasks: 1, ..Limits::DEFAULT };
    let k = c.spawn_task(Some(parent), "k", "k", Limits::DEFAULT).unwrap();
    assert_eq!(c.discard_task(k), Some("k"));
    assert_eq!(c.task(k).state, TaskState::Free);
    assert!(c.spawn_task(Some(parent), "k", "k", Limits::DEFAULT).is_ok(), "share returned");
}

// ---- who may wake and wait for whom -----------------------------------------------------

#[test]
fn make_runnable_wakes_only_threads_of_the_callers_task() {
    let (mut c, parent, p) = setup(2);
    let (_, k) = child(&mut c, parent, Limits::DEFAULT, 5);
    c.switch_to(p[0]);
    assert!(c.deschedule(c.current().unwrap(), 0));
    c.switch_to(k);
    assert_eq!(
        c.make_runnable(c.current().unwrap(), tid(&c, p[0])),
        Err(Error::PermissionDenied),
        "another task's thread"
    );
    assert_eq!(c.thread(p[0]).state, State::Descheduled, "still asleep");
    c.switch_to(p[1]);
    assert_eq!(c.make_runnable(c.current().unwrap(), tid(&c, p[0])), Ok(()), "its own task's thread");
}

#[test]
fn only_the_parent_may_wait_for_a_task() {
    let (mut c, parent, p) = setup(1);
    let (_, ta) = child(&mut c, parent, Limits::DEFAULT, 2);
    let (b, _) = child(&mut c, parent, Limits::DEFAULT, 3);
    let b_id = c.task(b).id;
    c.switch_to(ta);
    assert_eq!(c.task_wait(c.current().unwrap(), b_id), Err(Error::PermissionDenied), "a live sibling");
    assert_eq!(c.thread(ta).state, State::Runnable, "and without blocking");
    assert_eq!(c.task_wait(c.current().unwrap(), c.task(parent).id), Err(Error::PermissionDenied), "its parent");
    let _ = c.exit_task(b, 6);
    c.switch_to(ta);
    assert_eq!(c.task_wait(c.current().unwrap(), b_id), Err(Error::PermissionDenied), "an ended sibling");
    c.switch_to(p[0]);
    assert_eq!(c.task_wait(c.current().unwrap(), b_id), Ok(Some(6)), "the parent collects");
}

#[test]
fn a_sender_gets_only_its_share_of_another_tasks_mailbox() {
    let share = abi::image::ASYNC_PER_MAILBOX_DEFAULT as usize;
    let mut w = World::new(&[1, 1, 1]);
    let (a, b, c) = (w.threads[0], w.threads[1], w.threads[2]);
    for t in [a, c] {
        let task = w.core.thread(t).task;
        w.core.task_mut(task).limits = Limits::DEFAULT;
    }
    for i in 0..share {
        assert_eq!(w.send(a, b, b"flood", 0, 0), Ok(Outcome::Done(1, 0)), "message {i}");
    }
    assert_eq!(w.send(a, b, b"flood", 0, 0), Err(Error::QueueFull), "at its share");
    assert_eq!(w.send(c, b, b"hello", 0, 0), Ok(Outcome::Done(1, 0)), "another sender still gets in");
    assert_eq!(w.core.queued_messages(b), share + 1);
    assert!(w.recv(b, 8, 0).is_ok());
    assert_eq!(w.send(a, b, b"flood", 0, 0), Ok(Outcome::Done(1, 0)), "one taken: room in its share");
}

#[test]
fn a_tasks_own_mailboxes_are_not_limited_by_its_share() {
    let mut w = World::new(&[2]);
    let (a, b) = (w.threads[0], w.threads[1]);
    let task = w.core.thread(a).task;
    w.core.task_mut(task).limits = Limits::DEFAULT;
    for i in 0..abi::ipc::ASYNC_QUEUE_MAX {
        assert_eq!(w.send(a, b, b"m", 0, 0), Ok(Outcome::Done(1, 0)), "message {i}");
    }
    assert_eq!(w.send(a, b, b"m", 0, 0), Err(Error::QueueFull), "the mailbox bound");
}

/// The value a woken thread's system call returns, if one is pending.
fn wake_value<S, B: MsgBuffers>(c: &Core<S, B>, slot: ThreadSlot) -> Option<i64> {
    c.thread(slot).ret.get(abi::syscall::regs::VALUE).map(|v| v as i64)
}

// ---- the time slice ---------------------------------------------------------------------

#[test]
fn a_thread_put_on_the_cpu_by_the_scheduler_or_a_yield_gets_a_whole_slice() {
    let (mut c, _, t) = setup(2);
    assert_eq!(c.schedule(), Some(t[0]));
    assert_eq!(c.slice(), QUANTUM_TICKS, "picked from the run queue");
    c.tick(c.now() + 1);
    assert_eq!(c.schedule(), Some(t[1]), "its slice used up, another waiting: preempted");
    assert_eq!(c.slice(), QUANTUM_TICKS, "the next one starts a whole slice");
    c.yield_to(t[1], tid(&c, t[0]).raw() as i32).unwrap();
    assert_eq!(c.schedule(), Some(t[0]));
    assert_eq!(c.slice(), QUANTUM_TICKS, "a thread yielded to gets a whole slice");
}

#[test]
fn a_thread_runs_on_past_its_slice_until_another_is_runnable() {
    let (mut c, _, t) = setup(2);
    assert_eq!(c.schedule(), Some(t[0]));
    assert!(c.deschedule(t[0], 0));
    assert_eq!(c.schedule(), Some(t[1]));
    for _ in 0..QUANTUM_TICKS + 2 {
        c.tick(c.now() + 1);
        assert_eq!(c.schedule(), Some(t[1]), "nobody else to run");
    }
    assert_eq!(c.slice(), 0, "used up, not wrapped");
    c.make_runnable(t[1], tid(&c, t[0])).unwrap();
    assert_eq!(c.schedule(), Some(t[1]), "a wake does not end the slice");
    c.tick(c.now() + 1);
    assert_eq!(c.schedule(), Some(t[0]), "the next tick does");
    assert_eq!(c.slice(), QUANTUM_TICKS);
}

#[test]
fn a_thread_yielded_to_gets_a_whole_slice_not_what_was_left() {
    let (mut c, _, t) = setup(2);
    assert_eq!(c.schedule(), Some(t[0]));
    assert!(c.deschedule(t[0], 0));
    assert_eq!(c.schedule(), Some(t[1]));
    c.tick(c.now() + 1);
    c.make_runnable(t[1], tid(&c, t[0])).unwrap();
    assert_eq!((c.schedule(), c.slice()), (Some(t[1]), QUANTUM_TICKS - 1));
    c.yield_to(t[1], tid(&c, t[0]).raw() as i32).unwrap();
    assert_eq!((c.schedule(), c.slice()), (Some(t[0]), QUANTUM_TICKS));
}
