//! What `ps` and `task_kill` need from the core: a description of every task and living
//! thread as `abi::ps` records, and the rule for who may end whom.
//!
//! Both are bounded by the tables: one pass over the task table, one over the thread
//! table, no allocation. `task_kill` is allowed to a task's ancestors (its parent, their
//! parent, ...) and to holders of the kill power (`abi::image::powers::KILL`).

use super::{Core, Ended, State, TaskId, TaskSlot, TaskState, ThreadSlot, MAX_TASKS};
use crate::ipc::mailbox::MsgBuffers;
use abi::ps::{kind, state, Record};
use abi::Error;

impl<S, B: MsgBuffers> Core<S, B> {
    /// Calls `emit` with a record for each task in use (live or uncollected), then for each
    /// living thread, in table order; returns how many there were.
    pub fn ps_records(&self, mut emit: impl FnMut(&Record) -> Result<(), Error>) -> Result<usize, Error> {
        let mut n = 0;
        for slot in TaskSlot::all() {
            let t = &self.tasks[slot];
            let (st, status) = match t.state {
                TaskState::Free => continue,
                TaskState::Live => (state::TASK_LIVE, 0),
                TaskState::Exited(s) => (state::TASK_EXITED, s),
            };
            let mut r = Record {
                kind: kind::TASK,
                state: st,
                id: t.id.raw(),
                task: t.id.raw(),
                parent: t.parent.map_or(0, |p| self.tasks[p].id.raw()),
                status,
                threads: t.live_threads as u32,
                ..Record::EMPTY
            };
            r.name[..t.name_len].copy_from_slice(&t.name[..t.name_len]);
            emit(&r)?;
            n += 1;
        }
        for slot in ThreadSlot::all() {
            let th = &self.threads[slot];
            let st = match th.state {
                State::Free | State::Zombie => continue,
                State::Runnable if self.current.get() == Some(slot) => state::RUNNING,
                State::Runnable => state::READY,
                State::Sleeping => state::SLEEPING,
                State::Descheduled => state::DESCHEDULED,
                State::WaitingTask(_) => state::WAITING_TASK,
                State::Sending { .. } => state::SENDING,
                State::AwaitingReply { .. } => state::AWAITING_REPLY,
                State::Receiving(_) => state::RECEIVING,
            };
            let t = &self.tasks[th.task];
            let mut r = Record { kind: kind::THREAD, state: st, id: th.tid.raw(), task: t.id.raw(), ..Record::EMPTY };
            r.name[..t.name_len].copy_from_slice(&t.name[..t.name_len]);
            emit(&r)?;
            n += 1;
        }
        Ok(n)
    }

    /// `task_kill(id)` by task `killer` (`may_kill_any`: it holds the kill power): ends the
    /// live task `id` with `abi::status::KILLED`, as if it had faulted. Not live (or never
    /// was) is `NoSuchTask`; neither an ancestor nor a holder of the power is
    /// `PermissionDenied`. The killer may name itself.
    pub fn kill_task(&mut self, killer: TaskSlot, id: TaskId, may_kill_any: bool) -> Result<Ended<S>, Error> {
        let target = self.lookup_task(id)?;
        if self.tasks[target].state != TaskState::Live {
            return Err(Error::NoSuchTask);
        }
        if !(may_kill_any || target == killer || self.is_ancestor(killer, target)) {
            return Err(Error::PermissionDenied);
        }
        Ok(self.exit_task(target, abi::status::KILLED))
    }

    /// Whether `task` is one of `of`'s live ancestors: its parent, or its parent's, and so
    /// on, passing over ancestors that have ended (an orphan's guardian is the nearest one
    /// still alive).
    fn is_ancestor(&self, task: TaskSlot, of: TaskSlot) -> bool {
        let mut at = self.tasks[of].guardian;
        // A parent chain has no cycle (a parent is older than its child); the bound keeps
        // the walk finite regardless.
        for _ in 0..MAX_TASKS {
            match at {
                Some(p) if p == task => return true,
                Some(p) => at = self.tasks[p].guardian,
                None => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Core, KernelStack, TaskId, TaskSlot};
    use crate::ipc::mailbox::VecBuffers;
    use abi::image::Limits;
    use abi::ps::{kind, state, Record};
    use abi::Error;

    type C = Core<&'static str, VecBuffers>;

    fn ks(n: u64) -> KernelStack {
        // SAFETY: a made-up stack the tests never run on nor free.
        unsafe { KernelStack::from_raw(n * 0x10000, n * 0x10000 + 0x4000) }
    }

    fn records(c: &C) -> Vec<Record> {
        let mut out = Vec::new();
        let n = c.ps_records(|r| {
            out.push(*r);
            Ok(())
        });
        assert_eq!(n, Ok(out.len()));
        out
    }

    /// init (2 threads) started `server` (1 thread), which started `worker`.
    fn system() -> (C, [TaskSlot; 3]) {
        let mut c = Core::new(VecBuffers::default());
        let init = c.create_task("init", "s0").unwrap();
        c.create_thread(init, ks(1)).unwrap();
        c.create_thread(init, ks(2)).unwrap();
        let server = c.spawn_task(Some(init), "server", "s1", Limits::DEFAULT).unwrap();
        c.create_thread(server, ks(3)).unwrap();
        let worker = c.spawn_task(Some(server), "worker", "s2", Limits::DEFAULT).unwrap();
        c.create_thread(worker, ks(4)).unwrap();
        (c, [init, server, worker])
    }

    #[test]
    fn ps_lists_tasks_then_threads_with_names_parents_and_states() {
        let (mut c, [init, server, _]) = system();
        let running = c.schedule().unwrap();
        let r = records(&c);
        assert_eq!(r.len(), 3 + 4);
        let tasks: Vec<_> = r.iter().take(3).map(|r| (r.kind, r.name(), r.threads, r.state)).collect();
        assert_eq!(
            tasks,
            [
                (kind::TASK, "init", 2, state::TASK_LIVE),
                (kind::TASK, "server", 1, state::TASK_LIVE),
                (kind::TASK, "worker", 1, state::TASK_LIVE)
            ]
        );
        assert_eq!(r[0].parent, 0, "the boot task has no parent");
        assert_eq!(r[1].parent, c.task(init).id.raw());
        assert_eq!(r[2].parent, c.task(server).id.raw());
        let threads = &r[3..];
        assert!(threads.iter().all(|t| t.kind == kind::THREAD));
        assert_eq!(threads[0].id, c.thread(running).tid.raw());
        assert_eq!(threads[0].state, state::RUNNING, "the caller is running");
        assert_eq!(threads[1].state, state::READY);
        assert_eq!(threads[2].name(), "server");
        assert_eq!(threads[2].task, c.task(server).id.raw());
    }

    #[test]
    fn ps_shows_blocked_and_exited_and_drops_the_dead() {
        let (mut c, [_, server, worker]) = system();
        c.schedule();
        assert!(c.sleep(c.current().unwrap(), 5).unwrap(), "init's first thread sleeps");
        let worker_id = c.task(worker).id;
        drop(c.exit_task(worker, 9));
        let r = records(&c);
        let w = r.iter().find(|r| r.kind == kind::TASK && r.id == worker_id.raw()).unwrap();
        assert_eq!((w.state, w.status, w.threads), (state::TASK_EXITED, 9, 0), "uncollected status shown");
        assert_eq!(r.iter().filter(|r| r.kind == kind::THREAD).count(), 3, "the worker's thread is gone");
        assert_eq!(r.iter().find(|r| r.kind == kind::THREAD).unwrap().state, state::SLEEPING);
        assert!(c.task(server).state == super::super::TaskState::Live);
    }

    #[test]
    fn ps_stops_at_the_first_error_of_its_writer() {
        let (c, _) = system();
        let mut seen = 0;
        let r = c.ps_records(|_| {
            seen += 1;
            if seen == 2 {
                Err(Error::BadAddress)
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err(Error::BadAddress));
        assert_eq!(seen, 2);
    }

    #[test]
    fn only_ancestors_or_the_kill_power_may_kill() {
        let (mut c, [init, server, worker]) = system();
        let (init_id, worker_id, server_id) = (c.task(init).id, c.task(worker).id, c.task(server).id);
        assert_eq!(c.kill_task(worker, server_id, false).err(), Some(Error::PermissionDenied), "a child");
        assert_eq!(c.kill_task(server, init_id, false).err(), Some(Error::PermissionDenied), "the parent");
        assert_eq!(c.kill_task(server, TaskId::from_raw(12345), false).err(), Some(Error::NoSuchTask));
        let ended = c.kill_task(init, worker_id, false).unwrap();
        assert_eq!(ended.space, Some("s2"), "a grandparent may; the space is handed back");
        assert_eq!(c.kill_task(init, worker_id, false).err(), Some(Error::NoSuchTask), "already ended");
        // The worker's status waits for its parent, the server.
        let r = records(&c);
        let w = r.iter().find(|r| r.id == worker_id.raw()).unwrap();
        assert_eq!((w.state, w.status), (state::TASK_EXITED, abi::status::KILLED));
        assert!(c.kill_task(server, init_id, true).is_ok(), "the kill power reaches anyone");
        assert_eq!(c.live_tasks(), 1, "only the server is left");
        assert!(c.kill_task(server, server_id, false).is_ok(), "a task may end itself");
        assert_eq!(c.live_tasks(), 0);
    }

    #[test]
    fn an_orphan_stays_within_reach_of_its_live_ancestors() {
        let (mut c, [init, server, worker]) = system();
        let (server_id, worker_id) = (c.task(server).id, c.task(worker).id);
        // The worker's parent ends: nobody may collect it now, but init, above, may end it.
        assert!(c.kill_task(init, server_id, false).is_ok());
        assert_eq!(c.kill_task(worker, c.task(init).id, false).err(), Some(Error::PermissionDenied), "not upwards");
        let ended = c.kill_task(init, worker_id, false).expect("the orphan's nearest live ancestor");
        assert_eq!(ended.space, Some("s2"));
        assert_eq!(c.live_tasks(), 1, "only init");
    }
}
