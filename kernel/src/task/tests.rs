use super::*;
use crate::ipc::mailbox::VecBuffers;

type C<S> = Core<S, VecBuffers>;

fn ks(n: u64) -> KernelStack {
    KernelStack { bottom: n * 0x10000, top: n * 0x10000 + 0x4000 }
}

/// A core with one task of `n` threads; returns the core, the task slot and thread slots.
fn setup(n: usize) -> (C<&'static str>, usize, Vec<usize>) {
    let mut c = Core::new(VecBuffers::default());
    let task = c.create_task("t", "space").unwrap();
    let threads = (0..n).map(|i| c.create_thread(task, ks(i as u64 + 1)).unwrap()).collect();
    (c, task, threads)
}

fn tid(c: &C<&'static str>, slot: usize) -> u32 {
    c.thread(slot).tid
}

#[test]
fn round_robin_on_yield_and_on_tick() {
    let (mut c, _, t) = setup(3);
    assert_eq!(c.schedule(), Some(t[0]));
    assert_eq!(c.schedule(), Some(t[0]), "the current thread keeps the CPU");
    c.yield_to(-1).unwrap();
    assert_eq!(c.schedule(), Some(t[1]));
    c.tick(); // quantum of one tick used up, others waiting: preempted
    assert_eq!(c.schedule(), Some(t[2]));
    c.tick();
    assert_eq!(c.schedule(), Some(t[0]));
}

#[test]
fn a_lone_thread_is_not_preempted() {
    let (mut c, _, t) = setup(1);
    c.schedule();
    for _ in 0..5 {
        c.tick();
        assert_eq!(c.schedule(), Some(t[0]));
    }
}

#[test]
fn yield_to_a_thread_runs_it_next() {
    let (mut c, _, t) = setup(3);
    c.schedule();
    c.yield_to(tid(&c, t[2]) as i32).unwrap();
    assert_eq!(c.schedule(), Some(t[2]));
    c.yield_to(-1).unwrap();
    assert_eq!(c.schedule(), Some(t[1]), "the skipped thread is still in line");
    assert_eq!(c.yield_to(tid(&c, t[1]) as i32), Ok(()), "yield to oneself");
    assert_eq!(c.yield_to(9999), Err(Error::NoSuchThread));
    assert_eq!(c.yield_to(-7), Err(Error::NoSuchThread));
}

#[test]
fn yield_to_a_blocked_thread_fails() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    assert!(c.deschedule(0));
    assert_eq!(c.schedule(), Some(t[1]));
    assert_eq!(c.yield_to(tid(&c, t[0]) as i32), Err(Error::NotRunnable));
}

#[test]
fn deschedule_and_make_runnable() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    assert!(!c.deschedule(1), "non-zero reject returns at once");
    assert_eq!(c.schedule(), Some(t[0]));
    assert!(c.deschedule(0));
    assert_eq!(c.thread(t[0]).state, State::Descheduled);
    assert_eq!(c.schedule(), Some(t[1]));
    let a = tid(&c, t[0]);
    let b = tid(&c, t[1]);
    assert_eq!(c.make_runnable(b), Err(Error::NotDescheduled), "running, not descheduled");
    assert_eq!(c.make_runnable(a), Ok(()));
    assert_eq!(c.thread(t[0]).wake_value, Some(0));
    assert_eq!(c.make_runnable(a), Err(Error::NotDescheduled), "already woken");
    c.yield_to(-1).unwrap();
    assert_eq!(c.schedule(), Some(t[0]));
}

#[test]
fn sleep_wakes_exactly_at_its_deadline() {
    let (mut c, _, t) = setup(2);
    c.schedule();
    assert_eq!(c.sleep(-1), Err(Error::InvalidArgument));
    assert_eq!(c.sleep(0), Ok(false));
    assert_eq!(c.sleep(3), Ok(true));
    assert_eq!(c.schedule(), Some(t[1]));
    c.tick();
    c.tick();
    assert_eq!(c.thread(t[0]).state, State::Sleeping, "not before 3 ticks");
    c.tick();
    assert_eq!(c.thread(t[0]).state, State::Runnable);
    assert_eq!(c.thread(t[0]).wake_value, Some(0));
}

#[test]
fn idle_when_nothing_is_runnable() {
    let (mut c, _, t) = setup(1);
    c.schedule();
    c.sleep(1).unwrap();
    assert_eq!(c.schedule(), None);
    c.tick();
    assert_eq!(c.schedule(), Some(t[0]));
}

#[test]
fn task_wait_blocks_until_exit_and_gets_the_status() {
    let mut c: C<&str> = Core::new(VecBuffers::default());
    let parent = c.create_task("parent", "p").unwrap();
    let p = c.create_thread(parent, ks(1)).unwrap();
    let child = c.create_task("child", "c").unwrap();
    let k = c.create_thread(child, ks(2)).unwrap();
    let child_id = c.task(child).id;
    assert_eq!(c.schedule(), Some(p));
    assert_eq!(c.task_wait(child_id), Ok(None));
    assert_eq!(c.schedule(), Some(k));
    let ended = c.exit_task(child, 42);
    assert_eq!(ended.space, Some("c"));
    assert_eq!(c.thread(p).wake_value, Some(42));
    assert_eq!(c.task_wait(child_id).unwrap_err(), Error::NoSuchTask, "collected by the waiter");
    assert_eq!(c.schedule(), Some(p));
    assert_eq!(c.live_tasks(), 1);
}

#[test]
fn an_uncollected_status_waits_for_its_collector() {
    let mut c: C<&str> = Core::new(VecBuffers::default());
    let a = c.create_task("a", "a").unwrap();
    let ta = c.create_thread(a, ks(1)).unwrap();
    let b = c.create_task("b", "b").unwrap();
    c.create_thread(b, ks(2)).unwrap();
    let b_id = c.task(b).id;
    let _ = c.exit_task(b, -5);
    c.schedule();
    assert_eq!(c.current(), Some(ta));
    assert_eq!(c.task_wait(b_id), Ok(Some(-5)));
    assert_eq!(c.task_wait(b_id), Err(Error::NoSuchTask));
    assert_eq!(c.task_wait(c.task(a).id), Err(Error::InvalidArgument), "waiting for oneself");
}

#[test]
fn exit_task_ends_threads_in_every_state() {
    let (mut c, task, t) = setup(5);
    c.schedule(); // t0 current
    assert!(c.deschedule(0)); // t0 descheduled
    c.schedule(); // t1
    c.sleep(10).unwrap(); // t1 sleeping
    c.schedule(); // t2 current; t3, t4 in the run queue
    let ended = c.exit_task(task, 7);
    assert!(ended.space.is_some());
    for s in &t {
        assert_eq!(c.thread(*s).state, State::Zombie);
    }
    assert_eq!(c.schedule(), None, "run queue emptied");
    for _ in 0..20 {
        c.tick(); // the sleeper's timer must be gone: no wake of a zombie
    }
    assert_eq!(c.first_task_status(), Some(7));
    assert_eq!(c.lookup_thread(tid(&c, t[3])), Err(Error::NoSuchThread));
}

#[test]
fn the_last_thread_to_exit_ends_its_task_with_status_zero() {
    let (mut c, task, t) = setup(2);
    c.schedule();
    assert!(c.exit_thread(t[0]).space.is_none());
    c.schedule();
    let ended = c.exit_thread(t[1]);
    assert_eq!(ended.task, Some(task));
    assert_eq!(c.task(task).state, TaskState::Exited(0));
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
    // The task ended; a new task reuses the thread slot.
    assert_eq!(c.task(task).state, TaskState::Exited(0));
    let task2 = c.create_task("u", "u").unwrap();
    let s = c.create_thread(task2, ks(3)).unwrap();
    assert_eq!(s, t[0], "slot reused");
    assert_ne!(tid(&c, s), old);
    assert_eq!(c.lookup_thread(old), Err(Error::NoSuchThread));
    assert_eq!(c.make_runnable(old), Err(Error::NoSuchThread));
}

#[test]
fn tables_fill_up_with_out_of_memory_not_a_panic() {
    let mut c: C<()> = Core::new(VecBuffers::default());
    let task = c.create_task("t", ()).unwrap();
    for i in 1..MAX_THREADS {
        c.create_thread(task, ks(i as u64)).unwrap();
    }
    assert_eq!(c.create_thread(task, ks(999)), Err(Error::OutOfMemory));
    for _ in 2..MAX_TASKS {
        c.create_task("x", ()).unwrap();
    }
    assert_eq!(c.create_task("y", ()), Err(Error::OutOfMemory));
}
