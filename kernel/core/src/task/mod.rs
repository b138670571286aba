//! Threads, tasks and the scheduling policy: the portable core behind the thread, task and
//! Pebbles system calls.
//!
//! [`Core`] works with slots, ids and plain values. The system-call layer validates user
//! pointers and reads what the core needs (e.g. `*reject` for `deschedule`) before calling
//! in; since the kernel is not preemptible, that read and the core's decision are atomic
//! with respect to every other thread. Every result a thread's system call returns, at
//! once or later from whoever wakes it, is recorded in its pending
//! [`Results`](crate::regs::Results) and written into its registers when it next runs,
//! but for the architecture's shortcuts (docs/architecture.md, "The shortcuts"), which
//! hand a result over in registers.
//!
//! Invariants:
//! - `current` (if any) is `Runnable` and in no list; so is the thread held for the
//!   donation (if any); every other `Runnable` thread is in the run queue, exactly once.
//! - A thread is armed in the timer heap only while `Sleeping` or blocked in IPC with a
//!   deadline.
//! - The donation (the thread IPC woke, to run when its waker blocks) lasts until the next
//!   tick or yield at most; while it lasts that thread is held out of the run queue, and
//!   when it ends without running the thread joins the back of the queue, so it is never
//!   lost and never put ahead of another there (docs/architecture.md, "Scheduling and
//!   IPC").
//! - A `WaitingTask(t)` thread is in task `t`'s waiter list; a `Sending { to }` thread
//!   is in `to`'s mailbox sender queue (IPC: see `crate::ipc`), whose changes keep `to`'s
//!   inbox flag (`crate::ipc::inbox`).
//! - `Zombie` threads are in the zombie list until their kernel stack is reclaimed; the
//!   current thread's stack is never reclaimed while it runs on it.
//! - A task's `live_threads` counts its threads that are not `Free` or `Zombie`, and never
//!   exceeds its `limits.threads`.
//! - A task's `parent` is the live task that started it (`None` for the boot task and for
//!   orphans); a parent's `children` counts its tasks that are `Live` or `Exited`, and never
//!   exceeds its `limits.tasks`. Only the parent may collect a status, so a task with no
//!   parent is freed as soon as it ends, and an `Exited` slot is never reused before its
//!   parent collects it or ends.
//! - `direct_off` is 0 exactly when `handoff` is on and the zombie list is empty (its bits
//!   say which is not), so that the direct ways test one byte for both.
//! - A thread whose [`Fast`] byte is not `No` waits with no results pending (they arrive in
//!   its registers), so the direct switch that enters it clears nothing.
//!
//! A thread's state is private: only `Core`'s transitions write it, and each keeps the lists
//! and timers above in step. `Core::check_invariants` checks the state invariants; the IPC
//! model test and the system-call tests run it after every step.

/// The ids and slots, a leaf module of their own (see `crate::ids`); kept reachable here.
pub use crate::ids;
mod ps;

use crate::ids::IdSpace;
pub use crate::ids::{TaskId, TaskSlot, ThreadSlot, Tid};
// Of IPC, only its leaves (which depend on nothing here but `crate::ids`): the
// per-thread records it keeps in a thread's state, opaque here, the mailbox pool's
// buffers, and the inboxes (what waits to be received, and its flag).
use crate::ipc::inbox::Inboxes;
use crate::ipc::mailbox::MsgBuffers;
use crate::ipc::records::{PendingRecv, PendingSend, ReplyDest, ThreadIpc};
use crate::mem::KernelStack;
use crate::sched::list::{Links, List};
use crate::sched::timers::TimerHeap;
use abi::ipc::Timeout;
use abi::Error;

pub use crate::limits::{MAX_TASKS, MAX_THREADS, QUANTUM_TICKS};

pub type ThreadIds = IdSpace<MAX_THREADS>;
pub type TaskIds = IdSpace<MAX_TASKS>;

/// `Core::direct_off`'s bits.
const DIRECT_OFF_HANDOFF: u8 = 1;
const DIRECT_OFF_ZOMBIES: u8 = 2;

const RUN_QUEUE: u16 = 0;
const ZOMBIES: u16 = 1;
const fn waiters_list(task: TaskSlot) -> u16 {
    2 + task.index() as u16
}
const fn mailbox_list(thread: ThreadSlot) -> u16 {
    2 + MAX_TASKS as u16 + thread.index() as u16
}

/// Whether the direct switch (`crate::ipc::direct`) may complete a thread's wait: one byte
/// the fast path tests instead of a state, a receive mode, a timer and a window. Written
/// only with the state, by `Core`'s transitions; `Core::check_invariants` checks that it
/// agrees with them, and that a thread with a byte other than `No` has no results pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fast {
    /// Anything else: only the general path may complete this thread's wait.
    No,
    /// `Receiving` into registers (`IpcReplyWait`) with the whole register payload as its
    /// capacity, no deadline and no receive window.
    Receiving,
    /// `AwaitingReply` into registers (`IpcCall`) with no deadline.
    AwaitingReply,
}

/// The running thread's slot, 0 for none: slot 0 never holds a thread (`IdSpace::slot`
/// refuses it), so no tag is needed, and the direct switch's assembly reads and writes
/// the running thread as one word (`sys::fast_layout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Running(usize);

impl Running {
    pub(crate) const NONE: Running = Running(0);

    /// `slot` runs (never slot 0, which holds no thread).
    #[inline(always)]
    fn of(slot: ThreadSlot) -> Running {
        debug_assert_ne!(slot.index(), 0, "slot 0 holds no thread");
        Running(slot.index())
    }

    #[inline(always)]
    fn get(self) -> Option<ThreadSlot> {
        (self.0 != 0).then(|| ThreadSlot::new(self.0))
    }

    #[inline(always)]
    fn take(&mut self) -> Option<ThreadSlot> {
        core::mem::replace(self, Running::NONE).get()
    }
}

/// What a thread is doing. A primitive representation (`repr(u64)`: a tag word, then each
/// variant's fields as a `repr(C)` struct would lay them out) so that the direct switch's
/// assembly can write the states it makes (`sys::fast_layout`). A word rather than a byte:
/// with a byte and seven bytes of padding after it, the compiler copied a receive's record
/// into a state with a call to `memcpy` (long shares paid 59 instructions for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum State {
    Free,
    Runnable,
    Sleeping,
    Descheduled,
    /// In `task_wait` for the task in this slot.
    WaitingTask(TaskSlot),
    /// A synchronous sender queued in thread `to`'s mailbox, with its send.
    Sending {
        to: ThreadSlot,
        send: PendingSend,
    },
    /// A synchronous sender whose message (number `seq`) thread `from` received, waiting for
    /// the reply, which goes to `reply`.
    AwaitingReply {
        from: ThreadSlot,
        seq: u64,
        reply: ReplyDest,
    },
    /// Blocked in `ipc_recv` or `IpcReplyWait`, with its receive.
    Receiving(PendingRecv),
    /// Exited; its kernel stack is not yet reclaimed.
    Zombie,
}

#[derive(Debug)]
pub struct Thread {
    pub tid: Tid,
    generation: u32,
    pub task: TaskSlot,
    /// Written only by the transitions of [`Core`]: `create_thread` (to `Runnable`), the
    /// `block_*` family (`block_sleeping`, `block_descheduled`, `block_waiting_task`,
    /// `block_sending`, `block_awaiting_reply`, `block_receiving`), `wake` (back to
    /// `Runnable`, also for a task's waiters when it ends), `sender_received`,
    /// `switch_direct` (one thread blocks, its partner runs), `bury` (to `Zombie`) and
    /// `reap` (to `Free`). Each keeps run-queue, mailbox, waiter-list and timer
    /// membership in step with it.
    state: State,
    /// What the direct switch may do with this thread's wait (see [`Fast`]); written with
    /// `state`, by the same transitions.
    fast: Fast,
    pub kstack: KernelStack,
    /// What the thread's current system call returns, written into its registers when it
    /// next runs: its value, a second word in `rdx` (a receive's sender word, a
    /// general-path send's `abi::ipc::SendStatus`), or the fast path's registers.
    pub(crate) ret: crate::regs::Results,
    pub(crate) ipc: ThreadIpc,
    /// What the direct switch needs of the thread's task (`crate::ipc::Home`), kept here
    /// so that it need not reach the task; `Home::NONE` until `Core::settle_home`.
    pub(crate) home: crate::ipc::Home,
}

/// The layout of [`State::AwaitingReply`] under `repr(u64)`: the tag word, then its fields
/// as a `repr(C)` struct lays them out (the primitive representation's definition). Its
/// fields must be the variant's, in order; `sys::fast_layout`'s host test reads each one
/// back through the variant, so a change to one and not the other fails it.
#[repr(C)]
#[allow(dead_code)] // read only through `offset_of!`
struct AwaitingReplyLayout {
    tag: u64,
    from: ThreadSlot,
    seq: u64,
    reply: ReplyDest,
}

/// The layout of [`State::Receiving`] under `repr(u64)`, as [`AwaitingReplyLayout`].
#[repr(C)]
#[allow(dead_code)] // read only through `offset_of!`
struct ReceivingLayout {
    tag: u64,
    recv: PendingRecv,
}

/// The tag word of `state` (`State` is `repr(u64)`: its first word).
const fn tag_of(state: &State) -> u64 {
    // SAFETY: `State` is `repr(u64)`, so every value starts with its tag, an initialised
    // word at the start of the value (aligned as `State` is); `state` is a live reference.
    unsafe { *(state as *const State as *const u64) }
}

impl State {
    /// The tags of the states the direct switch's assembly tests and writes, and where
    /// the fields it reads and writes lie (`sys::fast_layout`).
    pub(crate) const RUNNABLE_TAG: u64 = tag_of(&State::Runnable);
    pub(crate) const AWAITING_REPLY_TAG: u64 =
        tag_of(&State::AwaitingReply { from: ThreadSlot::new(0), seq: 0, reply: ReplyDest::into_regs(0) });
    pub(crate) const RECEIVING_TAG: u64 = tag_of(&State::Receiving(crate::ipc::records::RECV_REGS));
    pub(crate) const AT_AWAITING_FROM: usize = core::mem::offset_of!(AwaitingReplyLayout, from);
    pub(crate) const AT_AWAITING_SEQ: usize = core::mem::offset_of!(AwaitingReplyLayout, seq);
    pub(crate) const AT_AWAITING_REPLY: usize = core::mem::offset_of!(AwaitingReplyLayout, reply);
    pub(crate) const AT_RECEIVING: usize = core::mem::offset_of!(ReceivingLayout, recv);
}

impl Thread {
    /// Whether the thread waits with its results to come in registers: a receive
    /// (`IpcReplyWait`) or a call's reply (`IpcCall`).
    fn waits_in_registers(&self) -> bool {
        match self.state {
            State::Receiving(r) => r.in_regs(),
            State::AwaitingReply { reply, .. } => reply.in_regs(),
            _ => false,
        }
    }

    /// Writes zeros into every result register of a wait in registers that an error ends
    /// (`Core::unblock`); out of line, as errors are rare.
    #[cold]
    #[inline(never)]
    fn zeros_beside_an_error(&mut self) {
        if self.waits_in_registers() && !self.ret.has_fast() {
            self.ret.fast(0, 0, [0; abi::ipc::fast::WORDS]);
        }
    }

    /// Where the fields the direct switch's assembly reads and writes lie
    /// (`sys::fast_layout`).
    pub(crate) const AT_TID: usize = core::mem::offset_of!(Thread, tid);
    pub(crate) const AT_STATE: usize = core::mem::offset_of!(Thread, state);
    pub(crate) const AT_FAST: usize = core::mem::offset_of!(Thread, fast);
    pub(crate) const AT_KSTACK_TOP: usize = core::mem::offset_of!(Thread, kstack) + KernelStack::AT_TOP;
    pub(crate) const AT_REPLY_TO: usize = core::mem::offset_of!(Thread, ipc) + ThreadIpc::AT_REPLY_TO;
    pub(crate) const AT_HOME: usize = core::mem::offset_of!(Thread, home);

    /// What the thread is doing.
    #[inline(always)]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What the direct switch may do with this thread's wait.
    #[inline(always)]
    pub fn fast(&self) -> Fast {
        self.fast
    }

    const EMPTY: Thread = Thread {
        tid: Tid::from_raw(0),
        generation: 0,
        task: TaskSlot::new(0),
        state: State::Free,
        fast: Fast::No,
        kstack: KernelStack::EMPTY,
        ret: crate::regs::Results::NONE,
        ipc: ThreadIpc::EMPTY,
        home: crate::ipc::Home::NONE,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Free,
    Live,
    /// Ended with this status, not yet collected by `task_wait`.
    Exited(i32),
}

pub struct Task<S> {
    pub id: TaskId,
    generation: u32,
    pub state: TaskState,
    name: [u8; abi::image::NAME_MAX],
    name_len: usize,
    /// The address space; `None` once the task has ended and it has been handed back.
    pub space: Option<S>,
    /// Device capabilities, from the boot image.
    pub grants: abi::image::Grants,
    /// Shares of the global tables, from the boot image.
    pub limits: abi::image::Limits,
    /// The task that started this one, the only one that may collect its status.
    parent: Option<TaskSlot>,
    /// Its nearest live ancestor: the parent while that lives, then the parent's own
    /// guardian, and so on. Ancestors may end it (`task_kill`), so an orphan stays within
    /// reach of the tasks above it. Invariant: names a live task or nothing (re-pointed
    /// when that task ends), so a reused slot is never taken for an ancestor.
    guardian: Option<TaskSlot>,
    /// Tasks this one started that are live or uncollected.
    children: usize,
    live_threads: usize,
    waiters: List,
}

impl<S> Task<S> {
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}

/// What ending a thread or task leaves for the caller to free.
#[must_use]
pub struct Ended<S> {
    /// The task's address space, if the task ended.
    pub space: Option<S>,
    /// The task's slot, if the task ended.
    pub task: Option<TaskSlot>,
}

/// The kernel's scheduling and IPC state. `S` is an address space, `B` the pool of kernel
/// buffers for asynchronous messages.
pub struct Core<S, B> {
    pub(crate) threads: [Thread; MAX_THREADS],
    pub(crate) tasks: [Task<S>; MAX_TASKS],
    links: Links<MAX_THREADS, ThreadSlot>,
    run_queue: List,
    zombies: List,
    timers: TimerHeap<MAX_THREADS, ThreadSlot>,
    /// What waits for each thread to receive it: its pending interrupts and its mailbox
    /// (the queue of blocked synchronous senders, the buffered asynchronous messages),
    /// with one flag per thread saying whether there is any (`crate::ipc::inbox`).
    pub(crate) inboxes: Inboxes,
    pub(crate) buffers: B,
    /// Send order, shared by synchronous senders and asynchronous messages.
    pub(crate) seq: u64,
    /// Where a short message passes when the sender's and receiver's buffers share a page
    /// (a rare case: every other copy goes frame to frame). Kept here, not on the kernel
    /// stack.
    pub(crate) bounce: [u8; BOUNCE],
    current: Running,
    /// What is left of the running thread's time slice, in ticks: a whole one
    /// (`QUANTUM_TICKS`) when the run queue or `yield_to` puts a thread on the CPU, one less
    /// at every tick it runs through (see [`Core::tick`]). The CPU's, not a thread's: a
    /// partner the current thread switches to (`hand_off`, `switch_direct`) or donates to
    /// goes on with it as it is, so that an IPC pair shares one slice as one thread would
    /// and the switch copies nothing. Meaningless while no thread runs.
    slice: u32,
    /// The tick counter as of the last tick (see [`Core::tick`]): deadlines are counted
    /// from it.
    now: u64,
    /// Switch straight to the partner of an IPC rendezvous (the fast path's direct
    /// switch) and donate the rest of the slice to a thread IPC woke (see
    /// [`Core::donate`]); off, the partner waits its turn in the run queue. Results are
    /// the same. Set with [`set_handoff`](Core::set_handoff), which keeps `direct_off`.
    handoff: bool,
    /// Why the direct ways (`crate::ipc::direct`, `crate::ipc::direct_spec`) may not run
    /// now, as bits (`DIRECT_OFF_HANDOFF`: `handoff` is off; `DIRECT_OFF_ZOMBIES`: a zombie
    /// waits to be reaped, which the general entry does first), 0 when they may: the one
    /// byte their hot paths test for both. Kept by `set_handoff` and the zombie list's two
    /// changes (`exit_thread`'s push, `reap`'s removal); `check_invariants` checks it.
    direct_off: u8,
    /// The thread an IPC operation of the current thread woke (a reply, a message to a
    /// waiting receiver): if the current thread blocks before the next tick, that thread
    /// runs next, on what is left of the slice (`slice`, which nothing changes while a
    /// donation lasts: a tick and a yield end it first, and the run queue is not looked at
    /// while it lasts). It is runnable and held out of the run queue meanwhile (so that
    /// neither the wake pushes it nor the switch takes it out again); every tick and
    /// yield, and the next donation, end the donation and put it at the back of the queue
    /// (`end_donation`).
    donation: Option<ThreadSlot>,
    first_task: Option<TaskSlot>,
    first_status: Option<i32>,
    live_tasks: usize,
}

/// Bytes of `Core::bounce`: a whole short message.
pub(crate) const BOUNCE: usize = abi::SHORT_MAX;

impl<S, B> Core<S, B> {
    /// Where the fields the direct switch's assembly reads and writes lie
    /// (`sys::fast_layout`).
    pub(crate) const AT_THREADS: usize = core::mem::offset_of!(Self, threads);
    pub(crate) const AT_INBOX_ANY: usize = core::mem::offset_of!(Self, inboxes) + Inboxes::AT_ANY;
    pub(crate) const AT_SEQ: usize = core::mem::offset_of!(Self, seq);
    pub(crate) const AT_CURRENT: usize = core::mem::offset_of!(Self, current);
    pub(crate) const AT_DIRECT_OFF: usize = core::mem::offset_of!(Self, direct_off);
    pub(crate) const SEQ_BYTES: usize = crate::sys::fast_layout::width(|c: &Self| &c.seq);
    pub(crate) const DIRECT_OFF_BYTES: usize = crate::sys::fast_layout::width(|c: &Self| &c.direct_off);
}

impl<S, B: MsgBuffers> Core<S, B> {
    pub const fn new(buffers: B) -> Self {
        Core {
            threads: [Thread::EMPTY; MAX_THREADS],
            tasks: [const {
                Task {
                    id: TaskId::from_raw(0),
                    generation: 0,
                    state: TaskState::Free,
                    name: [0; abi::image::NAME_MAX],
                    name_len: 0,
                    space: None,
                    grants: abi::image::Grants::NONE,
                    limits: abi::image::Limits::DEFAULT,
                    parent: None,
                    guardian: None,
                    children: 0,
                    live_threads: 0,
                    waiters: List::new(0),
                }
            }; MAX_TASKS],
            links: Links::new(),
            run_queue: List::new(RUN_QUEUE),
            zombies: List::new(ZOMBIES),
            timers: TimerHeap::new(),
            inboxes: Inboxes::new(mailbox_list(ThreadSlot::new(0))),
            buffers,
            seq: 0,
            bounce: [0; BOUNCE],
            current: Running::NONE,
            slice: 0,
            now: 0,
            handoff: true,
            direct_off: 0,
            donation: None,
            first_task: None,
            first_status: None,
            live_tasks: 0,
        }
    }

    // ---- lookups ----------------------------------------------------------------------

    pub fn now(&self) -> u64 {
        self.now
    }
    pub fn current(&self) -> Option<ThreadSlot> {
        self.current.get()
    }
    /// What is left of the running thread's time slice, in ticks (see `slice`).
    pub fn slice(&self) -> u32 {
        self.slice
    }
    pub fn thread(&self, slot: ThreadSlot) -> &Thread {
        &self.threads[slot]
    }
    pub fn thread_mut(&mut self, slot: ThreadSlot) -> &mut Thread {
        &mut self.threads[slot]
    }
    pub fn task(&self, slot: TaskSlot) -> &Task<S> {
        &self.tasks[slot]
    }
    pub fn task_mut(&mut self, slot: TaskSlot) -> &mut Task<S> {
        &mut self.tasks[slot]
    }
    /// Asynchronous messages buffered in thread `slot`'s mailbox.
    pub fn queued_messages(&self, slot: ThreadSlot) -> usize {
        self.inboxes.messages().queued(slot)
    }
    /// Task slots in use (live, or ended and not yet collected).
    pub fn tasks_in_use(&self) -> usize {
        self.tasks.iter().filter(|t| !matches!(t.state, TaskState::Free)).count()
    }
    /// Thread `slot`'s pending results, for its system call to add to.
    pub fn results_mut(&mut self, slot: ThreadSlot) -> &mut crate::regs::Results {
        &mut self.threads[slot].ret
    }
    /// Takes thread `slot`'s pending results, to write them into its registers.
    pub fn take_results(&mut self, slot: ThreadSlot) -> crate::regs::Results {
        core::mem::take(&mut self.threads[slot].ret)
    }
    /// Tasks that have not ended.
    pub fn live_tasks(&self) -> usize {
        self.live_tasks
    }
    /// The exit status of the first task ever created, once it has ended.
    pub fn first_task_status(&self) -> Option<i32> {
        self.first_status
    }

    /// The slot of a living thread.
    pub fn lookup_thread(&self, tid: Tid) -> Result<ThreadSlot, Error> {
        let slot = tid.slot().ok_or(Error::NoSuchThread)?;
        let t = &self.threads[slot];
        if t.tid == tid && !matches!(t.state, State::Free | State::Zombie) {
            Ok(slot)
        } else {
            Err(Error::NoSuchThread)
        }
    }

    /// The slot of a task that is live or whose status has not been collected.
    pub fn lookup_task(&self, id: TaskId) -> Result<TaskSlot, Error> {
        let slot = id.slot().ok_or(Error::NoSuchTask)?;
        let t = &self.tasks[slot];
        if t.id == id && t.state != TaskState::Free {
            Ok(slot)
        } else {
            Err(Error::NoSuchTask)
        }
    }

    /// The living threads of task `task`.
    pub fn threads_of(&self, task: TaskSlot) -> impl Iterator<Item = ThreadSlot> + '_ {
        ThreadSlot::all().filter(move |&s| {
            let t = &self.threads[s];
            t.task == task && !matches!(t.state, State::Free | State::Zombie)
        })
    }

    // ---- creation ---------------------------------------------------------------------

    /// Registers a new task owning `space`, with no parent and the default limits (the
    /// boot task). A full table is `OutOfMemory`: an uncollected status is never dropped to
    /// make room.
    pub fn create_task(&mut self, name: &str, space: S) -> Result<TaskSlot, Error> {
        self.spawn_task(None, name, space, abi::image::Limits::DEFAULT)
    }

    /// Registers a new task owning `space` with `limits`, started by task `parent` (which
    /// alone may collect its status). `OutOfMemory` if the table is full or `parent` is at
    /// its `limits.tasks`.
    pub fn spawn_task(
        &mut self,
        parent: Option<TaskSlot>,
        name: &str,
        space: S,
        limits: abi::image::Limits,
    ) -> Result<TaskSlot, Error> {
        if let Some(p) = parent {
            debug_assert_eq!(self.tasks[p].state, TaskState::Live);
            if self.tasks[p].children >= self.tasks[p].limits.tasks as usize {
                return Err(Error::OutOfMemory);
            }
        }
        let slot = TaskSlot::all().find(|&s| self.tasks[s].state == TaskState::Free).ok_or(Error::OutOfMemory)?;
        if let Some(p) = parent {
            self.tasks[p].children += 1;
        }
        let t = &mut self.tasks[slot];
        t.id = TaskId::make(slot, t.generation);
        t.state = TaskState::Live;
        let n = name.len().min(abi::image::NAME_MAX);
        t.name = [0; abi::image::NAME_MAX];
        t.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        t.name_len = n;
        t.space = Some(space);
        t.grants = abi::image::Grants::NONE;
        t.limits = limits;
        t.parent = parent;
        t.guardian = parent;
        t.children = 0;
        t.live_threads = 0;
        t.waiters = List::new(waiters_list(slot));
        self.inboxes.reset_task(slot);
        self.live_tasks += 1;
        if self.first_task.is_none() {
            self.first_task = Some(slot);
        }
        Ok(slot)
    }

    /// Whether `task` may have one more thread: `OutOfMemory` if the table is full or the
    /// task is at its `limits.threads` (what `create_thread` checks first).
    pub fn thread_room(&self, task: TaskSlot) -> Result<(), Error> {
        if self.tasks[task].live_threads >= self.tasks[task].limits.threads as usize
            || !ThreadSlot::all().any(|s| matches!(self.threads[s].state, State::Free))
        {
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }

    /// Registers a new runnable thread of `task`, running on `kstack`. `OutOfMemory` if the
    /// table is full or the task is at its `limits.threads` (then `kstack` is dropped:
    /// callers that must free it check [`thread_room`](Self::thread_room) first).
    pub fn create_thread(&mut self, task: TaskSlot, kstack: KernelStack) -> Result<ThreadSlot, Error> {
        debug_assert_eq!(self.tasks[task].state, TaskState::Live);
        if self.tasks[task].live_threads >= self.tasks[task].limits.threads as usize {
            return Err(Error::OutOfMemory);
        }
        let slot =
            ThreadSlot::all().find(|&s| matches!(self.threads[s].state, State::Free)).ok_or(Error::OutOfMemory)?;
        let t = &mut self.threads[slot];
        t.tid = Tid::make(slot, t.generation);
        t.task = task;
        t.state = State::Runnable;
        t.fast = Fast::No;
        t.kstack = kstack;
        t.ret = crate::regs::Results::NONE;
        t.ipc = ThreadIpc::EMPTY;
        t.home = crate::ipc::Home::NONE;
        self.inboxes.clear_irqs(slot);
        self.tasks[task].live_threads += 1;
        self.links.push_back(&mut self.run_queue, slot);
        Ok(slot)
    }

    // ---- scheduling -------------------------------------------------------------------

    /// The thread to run now: the current one if it may go on, else the next runnable
    /// (which becomes current). `None`: nothing is runnable, idle. Inlined: every kernel
    /// entry asks, and almost always the answer is the first test.
    #[inline(always)]
    pub fn schedule(&mut self) -> Option<ThreadSlot> {
        if let Some(c) = self.current.get() {
            return Some(c);
        }
        // The thread held for the donation: runnable, in no list (see `donation`); it runs
        // on the rest of the slice.
        if let Some(d) = self.donation.take() {
            debug_assert!(self.threads[d].state == State::Runnable && self.links.list_of(d).is_none());
            self.current = Running::of(d);
            return Some(d);
        }
        let next = self.links.pop_front(&mut self.run_queue)?;
        self.slice = QUANTUM_TICKS;
        self.current = Running::of(next);
        Some(next)
    }

    /// Checks the invariants in this module's documentation (those that are about state,
    /// not history): which list each thread is in for its state, timers only on waiting
    /// threads, the current thread runnable and in no list, and the tasks' counts. The
    /// model tests call it after every step.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let in_list = |slot: ThreadSlot| self.links.list_of(slot);
        for slot in ThreadSlot::all() {
            let t = &self.threads[slot];
            let (list, timer) = (in_list(slot), self.timers.deadline(slot).is_some());
            let want = match t.state {
                State::Runnable if self.current.get() == Some(slot) => None,
                State::Runnable if self.donation == Some(slot) => None,
                State::Runnable => Some(RUN_QUEUE),
                State::WaitingTask(task) => Some(waiters_list(task)),
                State::Sending { to, .. } => Some(mailbox_list(to)),
                State::Zombie => Some(ZOMBIES),
                State::Free
                | State::Sleeping
                | State::Descheduled
                | State::AwaitingReply { .. }
                | State::Receiving(_) => None,
            };
            if list != want {
                return Err(format!("thread {slot} ({:?}) is in list {list:?}, not {want:?}", t.state));
            }
            let may_wait = matches!(
                t.state,
                State::Sleeping | State::Sending { .. } | State::AwaitingReply { .. } | State::Receiving(_)
            );
            if timer && !may_wait {
                return Err(format!("thread {slot} ({:?}) has a timer armed", t.state));
            }
            if t.state == State::Sleeping && !timer {
                return Err(format!("thread {slot} sleeps without a timer"));
            }
            let fast = match t.state {
                State::Receiving(recv) if recv.fast_receivable() && !timer && !t.ipc.has_window() => Fast::Receiving,
                State::AwaitingReply { reply, .. } if reply.in_regs() && !timer => Fast::AwaitingReply,
                _ => Fast::No,
            };
            if t.fast != fast {
                return Err(format!("thread {slot} ({:?}) has fast byte {:?}, not {fast:?}", t.state, t.fast));
            }
            // What `switch_direct` relies on instead of clearing them: a thread the direct
            // switch may enter waits with nothing pending (its results arrive in registers).
            if t.fast != Fast::No && !t.ret.is_empty() {
                return Err(format!("thread {slot} ({:?}) waits with results pending: {:?}", t.state, t.ret));
            }
        }
        let off = if self.handoff { 0 } else { DIRECT_OFF_HANDOFF }
            | if self.zombies.is_empty() { 0 } else { DIRECT_OFF_ZOMBIES };
        if self.direct_off != off {
            return Err(format!("direct_off is {:#x}, not {off:#x}", self.direct_off));
        }
        self.inboxes.check()?;
        // A receiver waits only with nothing to receive: whatever arrives for it is handed
        // over or wakes it, never queued behind it. The direct call (`ipc::direct`, and the
        // assembly) relies on it without a test of its own.
        for slot in ThreadSlot::all() {
            if matches!(self.threads[slot].state, State::Receiving(_)) && self.inboxes.any(slot) {
                return Err(format!("thread {slot} waits to receive with something queued for it"));
            }
        }
        if let Some(c) = self.current.get() {
            if self.threads[c].state != State::Runnable {
                return Err(format!("the current thread {c} is {:?}", self.threads[c].state));
            }
        }
        // The thread held for the donation: runnable (a blocked, dead or free thread held
        // would be run by `schedule`), not the current one (it would be run twice over),
        // and in no list (checked above, for a runnable thread).
        if let Some(d) = self.donation {
            if self.threads[d].state != State::Runnable {
                return Err(format!("the thread {d} held for the donation is {:?}", self.threads[d].state));
            }
            if self.current.get() == Some(d) {
                return Err(format!("the thread {d} held for the donation is the current one"));
            }
        }
        for i in TaskSlot::all() {
            let task = &self.tasks[i];
            if task.state == TaskState::Free {
                continue;
            }
            let live = ThreadSlot::all()
                .filter(|&s| self.threads[s].task == i && !matches!(self.threads[s].state, State::Free | State::Zombie))
                .count();
            if live != task.live_threads || live > task.limits.threads as usize {
                return Err(format!("task {i}: {live} live threads, counted {}", task.live_threads));
            }
            let children = TaskSlot::all()
                .filter(|&c| self.tasks[c].parent == Some(i) && self.tasks[c].state != TaskState::Free)
                .count();
            if children != task.children || children > task.limits.tasks as usize {
                return Err(format!("task {i}: {children} children, counted {}", task.children));
            }
            if let Some(p) = task.parent {
                if self.tasks[p].state != TaskState::Live {
                    return Err(format!("task {i}'s parent {p} is not live"));
                }
            }
        }
        Ok(())
    }

    /// Everything the scheduling and IPC state holds, as text (tests compare two kernels,
    /// or one before and after an attempt that must change nothing).
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> String {
        let mut out = format!(
            "current {:?} slice {} donation {:?} seq {} now {} run queue {:?}\n",
            self.current.get(),
            self.slice,
            self.donation,
            self.seq,
            self.now,
            self.links.iter(&self.run_queue).collect::<Vec<ThreadSlot>>()
        );
        for slot in ThreadSlot::all() {
            let t = &self.threads[slot];
            if t.state == State::Free && t.generation == 0 {
                continue;
            }
            out += &format!(
                "{slot}: {} {:?} {:?} {:?} {:?} irqs {:#x} list {:?} timer {:?} mailbox {:?} msgs {}\n",
                t.tid,
                t.state,
                t.fast,
                (0..abi::syscall::regs::RESULTS).map(|i| t.ret.get(i)).collect::<Vec<_>>(),
                t.ipc,
                self.inboxes.irqs(slot),
                self.links.list_of(slot),
                self.timers.deadline(slot),
                self.links.iter(self.inboxes.senders(slot)).collect::<Vec<ThreadSlot>>(),
                self.inboxes.messages().queued(slot),
            );
        }
        out
    }

    /// Makes runnable thread `slot` the current one at once, on a whole slice as if the
    /// scheduler had picked it (tests drive the core directly); nothing if it already is.
    #[cfg(test)]
    pub(crate) fn switch_to(&mut self, slot: ThreadSlot) {
        assert_eq!(self.threads[slot].state, State::Runnable, "only a runnable thread can run");
        if self.current.get() == Some(slot) {
            return;
        }
        self.end_donation();
        self.requeue_current();
        self.links.remove(&mut self.run_queue, slot);
        self.current = Running::of(slot);
        self.slice = QUANTUM_TICKS;
    }

    /// If the CPU is free (`from`, the caller, just blocked), runs `slot` next, ahead of
    /// the run queue, on the rest of `from`'s slice (`slice`, as it is): the direct switch
    /// of the IPC fast path.
    pub(crate) fn hand_off(&mut self, from: ThreadSlot, slot: ThreadSlot) {
        debug_assert!(self.threads[from].state != State::Runnable, "the caller just blocked");
        if self.handoff && self.current.get().is_none() && self.links.remove(&mut self.run_queue, slot) {
            self.current = Running::of(slot);
        }
    }

    /// The direct switch's one transition (`crate::ipc::direct`): `me`, the current
    /// thread, blocks into `state`, a wait in no list and with no timer (`fast` being what
    /// the direct switch may do with it), and `to`, blocked in no list and with no timer,
    /// becomes runnable and current at once, on the rest of `me`'s slice (`slice`, as it
    /// is: nothing to copy), with no results
    /// pending (the threads the direct ways enter wait with none; their results are written
    /// as the wait ends, here, by the architecture into its registers or by the caller into
    /// `ret`). What `block_*`, `wake` and
    /// [`hand_off`](Self::hand_off) do together for the same call, without the run-queue
    /// push and removal or a timer to cancel.
    #[inline(always)]
    pub(crate) fn switch_direct(&mut self, me: ThreadSlot, state: State, fast: Fast, to: ThreadSlot) {
        debug_assert_eq!(self.current.get(), Some(me));
        debug_assert!(self.links.list_of(to).is_none() && self.timers.deadline(to).is_none());
        debug_assert!(self.links.list_of(me).is_none() && self.timers.deadline(me).is_none());
        let c = &mut self.threads[me];
        c.state = state;
        c.fast = fast;
        let t = &mut self.threads[to];
        // Nothing to clear: the threads the direct ways enter wait with no results pending
        // (`check_invariants` checks it for every thread whose fast byte is set; the spec
        // calls' receiver, blocked in a plain `ipc_recv`, has none until a message arrives).
        debug_assert!(t.ret.is_empty(), "the direct switch enters a thread with results pending");
        t.state = State::Runnable;
        t.fast = Fast::No;
        self.current = Running::of(to);
    }

    /// Scheduler donation: `slot`, just woken by an IPC operation of the current thread
    /// (and so in the run queue), leaves the queue and runs next if the current thread
    /// blocks before the next tick, on what is left of the current slice (see
    /// `donation`). The ticks still end the slice, and a donation that ends without
    /// running puts the thread at the back of the queue, so round robin's bound holds
    /// (docs/architecture.md, "Scheduling and IPC").
    pub(crate) fn donate(&mut self, slot: ThreadSlot) {
        if self.handoff && self.current.get().is_some() && self.links.remove(&mut self.run_queue, slot) {
            self.end_donation();
            self.donation = Some(slot);
        }
    }

    /// The thread held for the donation, if any: the one [`schedule`](Self::schedule) picks
    /// once the current thread has blocked.
    #[inline(always)]
    pub(crate) fn donated(&self) -> Option<ThreadSlot> {
        self.donation
    }

    /// Ends the donation, if there is one: the thread held for it joins the back of the
    /// run queue, where every runnable thread that is not running waits.
    #[inline(always)]
    fn end_donation(&mut self) {
        if let Some(d) = self.donation.take() {
            self.links.push_back(&mut self.run_queue, d);
        }
    }

    /// Puts the current thread at the back of the run queue.
    fn requeue_current(&mut self) {
        if let Some(c) = self.current.take() {
            self.links.push_back(&mut self.run_queue, c);
        }
    }

    /// Takes `me`, the current thread (only system calls block, and they run on it), off
    /// the CPU into `state` (a blocked state). Private: the `block_*` transitions below
    /// call it and then put the thread in the list and timer heap its state calls for.
    #[inline(always)]
    fn block_current(&mut self, me: ThreadSlot, state: State) {
        debug_assert_eq!(self.current.get(), Some(me));
        self.current = Running::NONE;
        self.threads[me].state = state;
        self.threads[me].fast = Fast::No;
        self.threads[me].ipc.left_running();
        crate::trace_event!(crate::trace::block(self, me, state));
    }

    /// Arms `thread`'s deadline for `timeout` (no timer for poll or forever).
    #[inline(always)]
    fn arm(&mut self, thread: ThreadSlot, timeout: Timeout) {
        if let Timeout::Ticks(n) = timeout {
            self.timers.arm(thread, self.now + n as u64);
        }
    }

    /// `me` sleeps until tick `until`: `Sleeping`, in no list, its timer armed.
    fn block_sleeping(&mut self, me: ThreadSlot, until: u64) {
        self.block_current(me, State::Sleeping);
        self.timers.arm(me, until);
    }

    /// `me` waits for live task `task` to end: `WaitingTask`, in that task's waiter list,
    /// no timer.
    fn block_waiting_task(&mut self, me: ThreadSlot, task: TaskSlot) {
        self.block_current(me, State::WaitingTask(task));
        self.links.push_back(&mut self.tasks[task].waiters, me);
    }

    /// `me` waits for `make_runnable`: `Descheduled`, in no list, no timer.
    fn block_descheduled(&mut self, me: ThreadSlot) {
        self.block_current(me, State::Descheduled);
    }

    /// `me` sends `send` to `to`, which is not receiving: `Sending`, queued last in `to`'s
    /// mailbox, its timer armed for `timeout`.
    #[inline(always)]
    pub(crate) fn block_sending(&mut self, me: ThreadSlot, to: ThreadSlot, send: PendingSend, timeout: Timeout) {
        self.block_current(me, State::Sending { to, send });
        let queued = self.inboxes.push_sender(&mut self.links, to, me);
        debug_assert!(queued);
        self.arm(me, timeout);
    }

    /// `me`'s call (number `seq`) was delivered to `from`: `AwaitingReply`, in no list,
    /// its timer armed for `timeout` (none for a poll: delivered, it waits for the reply).
    #[inline(always)]
    pub(crate) fn block_awaiting_reply(
        &mut self,
        me: ThreadSlot,
        from: ThreadSlot,
        seq: u64,
        reply: ReplyDest,
        timeout: Timeout,
    ) {
        self.block_current(me, State::AwaitingReply { from, seq, reply });
        self.arm(me, timeout);
        if reply.in_regs() && !matches!(timeout, Timeout::Ticks(_)) {
            self.threads[me].fast = Fast::AwaitingReply;
        }
    }

    /// `me` waits for a message with `recv`: `Receiving`, in no list, its timer armed for
    /// `timeout`.
    #[inline(always)]
    pub(crate) fn block_receiving(&mut self, me: ThreadSlot, recv: PendingRecv, timeout: Timeout) {
        self.block_current(me, State::Receiving(recv));
        self.arm(me, timeout);
        if recv.fast_receivable() && !matches!(timeout, Timeout::Ticks(_)) && !self.threads[me].ipc.has_window() {
            self.threads[me].fast = Fast::Receiving;
        }
    }

    /// Makes a blocked thread runnable with `value` as its system call's result.
    pub fn wake(&mut self, slot: ThreadSlot, value: i64) {
        self.unblock(slot, value);
        self.links.push_back(&mut self.run_queue, slot);
        crate::trace_event!(crate::trace::wake(self, slot, value));
    }

    /// [`wake`](Self::wake) and [`donate`](Self::donate) in one step, for an IPC operation
    /// of the current thread that wakes `slot`: held for the donation at once (any earlier
    /// donation ends), not pushed on the run queue only to be taken off again; pushed, as
    /// `wake` does, when there is no donation (`nohandoff`).
    #[inline(always)]
    pub(crate) fn wake_donated(&mut self, slot: ThreadSlot, value: i64) {
        self.unblock(slot, value);
        if self.handoff && self.current.get().is_some() {
            self.end_donation();
            self.donation = Some(slot);
        } else {
            self.links.push_back(&mut self.run_queue, slot);
        }
        crate::trace_event!(crate::trace::wake(self, slot, value));
    }

    /// What waking a blocked thread does but for the run queue: out of the list and timer
    /// its wait held it in, runnable with `value` as its system call's result.
    #[inline(always)]
    fn unblock(&mut self, slot: ThreadSlot, value: i64) {
        let t = &mut self.threads[slot];
        debug_assert!(!matches!(t.state, State::Runnable | State::Free | State::Zombie));
        match t.state {
            State::WaitingTask(task) => {
                self.links.remove(&mut self.tasks[task].waiters, slot);
            }
            State::Sending { to, .. } => {
                self.inboxes.remove_sender(&mut self.links, to, slot);
            }
            _ => {}
        }
        self.timers.cancel(slot);
        let t = &mut self.threads[slot];
        // A wait in registers (a receive, `IpcReplyWait`; a call's reply, `IpcCall`) ends
        // with all of them written: by what it received, or here, zeros beside an error (a
        // deadline, the server's death: a negative value, tested first, so that a wake with
        // a message pays nothing for it). Not only for the receiver's sake: the direct
        // switch stores no argument register of a thread it blocks (`TrapFrame`, "The slots
        // a system call's frame leaves"), so what its frame holds there is older.
        if value < 0 {
            t.zeros_beside_an_error();
        }
        debug_assert!(
            !t.waits_in_registers() || t.ret.has_fast(),
            "a wait in registers ended with its registers unwritten"
        );
        t.state = State::Runnable;
        t.fast = Fast::No;
        t.ret.value(value as u64);
    }

    /// Sender `s`, queued in `receiver`'s mailbox, has been received: it leaves the queue
    /// and waits for the reply, still bounded by its deadline if it has one.
    pub(crate) fn sender_received(&mut self, s: ThreadSlot, receiver: ThreadSlot) {
        if let State::Sending { to, send } = self.threads[s].state {
            debug_assert_eq!(to, receiver);
            self.inboxes.remove_sender(&mut self.links, to, s);
            let reply = send.reply_to();
            self.threads[s].state = State::AwaitingReply { from: to, seq: send.seq(), reply };
            // Still bounded by its deadline, if it has one.
            let no_deadline = self.timers.deadline(s).is_none();
            self.threads[s].fast = if reply.in_regs() && no_deadline { Fast::AwaitingReply } else { Fast::No };
        }
    }

    /// One timer tick, after which the tick counter reads `now` (`time::ticks()` on the
    /// machine: the core keeps no counter of its own): wakes expired sleepers, and preempts
    /// the current thread when the slice is used up and another thread is waiting to run.
    pub fn tick(&mut self, now: u64) {
        self.now = now;
        self.end_donation();
        while let Some(slot) = self.timers.pop_expired(self.now) {
            match self.threads[slot].state {
                State::Sleeping => self.wake(slot, 0),
                // A wait in registers gets zeros beside the error (`unblock`).
                State::Sending { .. } | State::AwaitingReply { .. } | State::Receiving(_) => {
                    self.wake(slot, Error::Timeout.code() as i64)
                }
                _ => {}
            }
        }
        if self.current.get().is_some() {
            self.slice = self.slice.saturating_sub(1);
            if self.slice == 0 && !self.run_queue.is_empty() {
                self.requeue_current();
            }
        }
    }

    // ---- the Pebbles calls ------------------------------------------------------------

    /// `yield_to(-1)` runs the next thread in line; `yield_to(tid)` runs `tid` next.
    pub fn yield_to(&mut self, me: ThreadSlot, target: i32) -> Result<(), Error> {
        // Yielding gives the CPU to the queue, not to a partner.
        if let Some(d) = self.donation {
            self.donation = None;
            self.links.push_back(&mut self.run_queue, d);
        }
        if target == -1 {
            self.requeue_current();
            return Ok(());
        }
        let slot = u32::try_from(target)
            .map_err(|_| Error::NoSuchThread)
            .and_then(|t| self.lookup_thread(Tid::from_raw(t)))?;
        if slot == me {
            return Ok(());
        }
        if !matches!(self.threads[slot].state, State::Runnable) {
            return Err(Error::NotRunnable);
        }
        // Move the target to the front, then give up the CPU: it runs next.
        self.links.remove(&mut self.run_queue, slot);
        self.requeue_current();
        self.current = Running::of(slot);
        self.slice = QUANTUM_TICKS;
        Ok(())
    }

    /// `deschedule(&reject)`, given the value of `*reject` read by the caller: returns at
    /// once if it is non-zero, else blocks until `make_runnable`. Returns whether it blocked.
    pub fn deschedule(&mut self, me: ThreadSlot, reject: i32) -> bool {
        if reject != 0 {
            return false;
        }
        self.block_descheduled(me);
        true
    }

    /// `make_runnable(tid)`: wakes a descheduled thread (its `deschedule` returns 0) of the
    /// caller's own task; another task's thread is `PermissionDenied` (a descheduled
    /// thread waits for its own task's wakeup, which nobody else may forge).
    pub fn make_runnable(&mut self, me: ThreadSlot, tid: Tid) -> Result<(), Error> {
        let slot = self.lookup_thread(tid)?;
        if self.threads[slot].task != self.threads[me].task {
            return Err(Error::PermissionDenied);
        }
        if !matches!(self.threads[slot].state, State::Descheduled) {
            return Err(Error::NotDescheduled);
        }
        self.wake(slot, 0);
        Ok(())
    }

    /// `sleep(ticks)`: 0 returns at once, negative is an error. Returns whether it blocked.
    pub fn sleep(&mut self, me: ThreadSlot, ticks: i32) -> Result<bool, Error> {
        if ticks < 0 {
            return Err(Error::InvalidArgument);
        }
        if ticks == 0 {
            return Ok(false);
        }
        self.block_sleeping(me, self.now + ticks as u64);
        Ok(true)
    }

    /// `task_wait(id)`: the status if the task has ended (collecting it), else blocks
    /// until it does (`Ok(None)`). Only the task's parent may wait for it: oneself is
    /// `InvalidArgument`, any other task `PermissionDenied`.
    pub fn task_wait(&mut self, me: ThreadSlot, id: TaskId) -> Result<Option<i32>, Error> {
        let task = self.lookup_task(id)?;
        let mine = self.threads[me].task;
        if task != mine && self.tasks[task].parent != Some(mine) {
            return Err(Error::PermissionDenied);
        }
        match self.tasks[task].state {
            TaskState::Exited(status) => {
                self.free_task_slot(task);
                Ok(Some(status))
            }
            TaskState::Live if self.threads[me].task == task => Err(Error::InvalidArgument),
            TaskState::Live => {
                self.block_waiting_task(me, task);
                Ok(None)
            }
            // `lookup_task` never returns a free slot; were it to, this is the answer it owes.
            TaskState::Free => Err(Error::NoSuchTask),
        }
    }

    // ---- endings ----------------------------------------------------------------------

    /// Takes `slot` out of whatever it is waiting in and makes it a zombie. As a mailbox
    /// owner it releases every sender queued on it or waiting for its reply (`PeerDied`)
    /// and frees its buffered messages; as a sender it just leaves the queue it was in.
    fn bury(&mut self, slot: ThreadSlot) {
        let (state, task) = (self.threads[slot].state, self.threads[slot].task);
        if matches!(state, State::Free | State::Zombie) {
            return;
        }
        self.release_mailbox(slot);
        if self.donation == Some(slot) {
            self.donation = None; // its slot may be reused before the next tick (held in no list)
        }
        match state {
            State::Runnable if self.current.get() == Some(slot) => self.current = Running::NONE,
            State::Runnable => {
                self.links.remove(&mut self.run_queue, slot);
            }
            State::WaitingTask(waited) => {
                self.links.remove(&mut self.tasks[waited].waiters, slot);
            }
            State::Sending { to, .. } => {
                self.inboxes.remove_sender(&mut self.links, to, slot);
            }
            State::Sleeping | State::AwaitingReply { .. } | State::Receiving(_) | State::Descheduled => {}
            State::Free | State::Zombie => return,
        }
        self.timers.cancel(slot);
        self.threads[slot].state = State::Zombie;
        self.threads[slot].fast = Fast::No;
        self.links.push_back(&mut self.zombies, slot);
        self.direct_off |= DIRECT_OFF_ZOMBIES;
        self.tasks[task].live_threads -= 1;
    }

    /// Releases everything waiting on `slot`'s mailbox (the thread is dying).
    fn release_mailbox(&mut self, slot: ThreadSlot) {
        let died = Error::PeerDied.code() as i64;
        while let Some(sender) = self.inboxes.first_sender(slot) {
            self.wake(sender, died);
        }
        for s in ThreadSlot::all() {
            if matches!(self.threads[s].state, State::AwaitingReply { from, .. } if from == slot) {
                self.wake(s, died);
            }
        }
        while let Some(m) = self.inboxes.pop_message(slot) {
            if let Some(t) = self.live_task_slot(m.sender_task) {
                self.inboxes.uncharge(t);
            }
            self.buffers.free(m.buffer);
        }
        self.threads[slot].ipc.forget_reply();
    }

    /// The slot of the living task with id `id`.
    pub(crate) fn live_task_slot(&self, id: TaskId) -> Option<TaskSlot> {
        self.lookup_task(id).ok().filter(|&t| self.tasks[t].state == TaskState::Live)
    }

    /// Whether `slot` waits with a deadline armed.
    #[inline(always)]
    pub(crate) fn has_deadline(&self, slot: ThreadSlot) -> bool {
        self.timers.deadline(slot).is_some()
    }

    /// Takes `s` out of `owner`'s mailbox sender queue, if it is there (for a thread found
    /// queued that is not sending, which the invariants rule out).
    pub(crate) fn unqueue_sender(&mut self, owner: ThreadSlot, s: ThreadSlot) {
        self.inboxes.remove_sender(&mut self.links, owner, s);
    }

    /// The next send-order number.
    #[inline(always)]
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Ends one thread. If it was its task's last, the task ends with status 0.
    pub fn exit_thread(&mut self, slot: ThreadSlot) -> Ended<S> {
        let task = self.threads[slot].task;
        self.bury(slot);
        if self.tasks[task].live_threads == 0 {
            self.finish_task(task, 0)
        } else {
            Ended { space: None, task: None }
        }
    }

    /// Ends every thread of `task` and the task itself, with `status`.
    pub fn exit_task(&mut self, task: TaskSlot, status: i32) -> Ended<S> {
        for slot in ThreadSlot::all() {
            if self.threads[slot].task == task {
                self.bury(slot);
            }
        }
        self.finish_task(task, status)
    }

    fn finish_task(&mut self, task: TaskSlot, status: i32) -> Ended<S> {
        debug_assert_eq!(self.tasks[task].live_threads, 0);
        let mut collected = false;
        while let Some(w) = self.tasks[task].waiters.front() {
            // Leaves the waiter list, as every wake does.
            self.wake(w, abi::syscall::encode_status(status) as i64);
            collected = true;
        }
        self.tasks[task].state = TaskState::Exited(status);
        let space = self.tasks[task].space.take();
        // Its children become orphans: nobody can collect them now, so ended ones are
        // freed here and live ones when they end.
        // Those it guarded pass to its own guardian.
        let guardian = self.tasks[task].guardian.take();
        for child in TaskSlot::all() {
            if self.tasks[child].guardian == Some(task) {
                self.tasks[child].guardian = guardian;
            }
            if self.tasks[child].parent == Some(task) {
                self.tasks[child].parent = None;
                if matches!(self.tasks[child].state, TaskState::Exited(_)) {
                    self.free_task_slot(child);
                }
            }
        }
        self.tasks[task].children = 0;
        if collected || self.tasks[task].parent.is_none() {
            self.free_task_slot(task);
        }
        self.live_tasks -= 1;
        if self.first_task == Some(task) && self.first_status.is_none() {
            self.first_status = Some(status);
        }
        Ended { space, task: Some(task) }
    }

    /// Releases a task slot (its parent's share with it); the next task in it gets a new
    /// id.
    fn free_task_slot(&mut self, task: TaskSlot) {
        if let Some(p) = self.tasks[task].parent.take() {
            self.tasks[p].children -= 1;
        }
        let t = &mut self.tasks[task];
        t.state = TaskState::Free;
        t.generation = TaskIds::next_generation(t.generation);
    }

    /// Undoes a task that never ran (its creation failed half-way): ends it and frees its
    /// slot at once, since nobody ever learnt its id to collect it. Returns its space.
    pub fn discard_task(&mut self, task: TaskSlot) -> Option<S> {
        let ended = self.exit_task(task, 0);
        if self.tasks[task].state != TaskState::Free {
            self.free_task_slot(task);
        }
        ended.space
    }

    /// Whether any thread has exited and waits to be reaped (every kernel entry asks, the
    /// direct ways through [`direct_on`](Self::direct_on); almost always there is none).
    #[inline]
    pub fn has_zombies(&self) -> bool {
        !self.zombies.is_empty()
    }

    /// Turns the direct switch and donation on or off (the kernel command line's
    /// `nohandoff`; tests).
    pub fn set_handoff(&mut self, on: bool) {
        self.handoff = on;
        if on {
            self.direct_off &= !DIRECT_OFF_HANDOFF;
        } else {
            self.direct_off |= DIRECT_OFF_HANDOFF;
        }
    }

    /// Whether the direct ways may run now: the switch is on and no zombie waits to be
    /// reaped (one byte, see `direct_off`).
    #[inline(always)]
    pub fn direct_on(&self) -> bool {
        self.direct_off == 0
    }

    /// A zombie whose kernel stack may now be freed (never the current thread's), and
    /// frees its slot.
    pub fn reap(&mut self) -> Option<KernelStack> {
        let slot = self.links.iter(&self.zombies).find(|&s| Some(s) != self.current.get())?;
        self.links.remove(&mut self.zombies, slot);
        if self.zombies.is_empty() {
            self.direct_off &= !DIRECT_OFF_ZOMBIES;
        }
        let t = &mut self.threads[slot];
        t.state = State::Free;
        t.fast = Fast::No;
        t.generation = ThreadIds::next_generation(t.generation);
        Some(core::mem::replace(&mut t.kstack, KernelStack::EMPTY))
    }
}

#[cfg(test)]
mod tests;
