//! A fake machine for the system-call layer on the host: a [`Platform`] whose address
//! spaces are the IPC fixture's fake ones, whose kernel stacks are numbers, whose saved
//! registers are plain arrays, and which records what the kernel asked of the hardware
//! (interrupt lines, I/O ports, switches, console output).

use super::platform::{Platform, ThreadStart};
use super::{spawn, Kernel, Leave};
use crate::ipc::fixture::Mem;
use crate::ipc::mailbox::VecBuffers;
use crate::mem::KernelStack;
use crate::regs::ArchState;
use crate::task::{TaskSlot, ThreadSlot};
use crate::umem::UserMemory;
use abi::syscall::regs::{ARGS, RESULTS};
use abi::{Error, Syscall};
use std::collections::BTreeMap;
use std::fmt;

/// A thread's saved registers: the call number, the arguments, the results as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub number: u64,
    pub args: [u64; ARGS],
    /// `[rax, rdi, rsi, rdx, r10, r8, r9, r12]` as the kernel left them.
    pub out: [u64; RESULTS],
}

impl ArchState for Regs {
    fn syscall_number(&self) -> u64 {
        self.number
    }
    fn arg(&self, i: usize) -> u64 {
        self.args.get(i).copied().unwrap_or(0)
    }
    fn set_result(&mut self, i: usize, v: u64) {
        if let Some(r) = self.out.get_mut(i) {
            *r = v;
        }
    }
}

/// The fake hardware and what was done to it.
#[derive(Default)]
pub struct Fake {
    next_stack: u64,
    /// Kernel stacks allocated and not freed, by top.
    pub stacks: BTreeMap<u64, ()>,
    /// Each stack's saved registers (by stack top).
    pub frames: BTreeMap<u64, Regs>,
    /// Where each thread started (by stack top).
    pub starts: BTreeMap<u64, ThreadStart>,
    /// Refuse this many more stack allocations... `Some(0)`: refuse now.
    pub stacks_left: Option<usize>,
    /// The fake memory every space is made over.
    pub memory: crate::ipc::fixture::FakeFrames,
    /// Masked lines (bit n: IRQ n); all masked at reset.
    pub masked: u16,
    /// `set_io_ports` calls, in order.
    pub io: Vec<(u16, u16)>,
    /// Stack tops `switch_to` was given, in order.
    /// Every switch: the kernel stack's top and the space's id.
    pub switches: Vec<(u64, u64)>,
    /// The tid `switch_to` was last given (what the machine's `gettid` stub answers).
    pub running_tid: u32,
    pub printed: String,
    pub console: Vec<u8>,
}

impl Platform for Fake {
    type Space = Mem;
    type Buffers = VecBuffers;
    type Regs = Regs;

    fn new_space(&mut self, kernel_frames: u32) -> Result<Mem, Error> {
        let mut m = Mem::new(&self.memory);
        m.set_table_limit(kernel_frames as u64);
        Ok(m)
    }
    fn alloc_stack(&mut self) -> Result<KernelStack, Error> {
        if let Some(n) = self.stacks_left.as_mut() {
            if *n == 0 {
                return Err(Error::OutOfMemory);
            }
            *n -= 1;
        }
        self.next_stack += 0x10000;
        let top = 0xffff_fe00_0000_0000 + self.next_stack;
        self.stacks.insert(top, ());
        // SAFETY: a fake stack with a top no other stack has; nothing runs on it.
        Ok(unsafe { KernelStack::from_raw(top - 0x4000, top) })
    }
    unsafe fn free_stack(&mut self, stack: KernelStack) {
        assert!(self.stacks.remove(&stack.top()).is_some(), "stack freed twice or never allocated");
        self.frames.remove(&stack.top());
    }
    fn init_thread(&mut self, stack: &KernelStack, start: ThreadStart) {
        self.starts.insert(stack.top(), start);
        self.frames.insert(stack.top(), Regs::default());
    }
    fn mask_irq(&mut self, irq: u8) {
        self.masked |= 1 << irq;
    }
    fn unmask_irq(&mut self, irq: u8) {
        self.masked &= !(1 << irq);
    }
    fn set_io_ports(&mut self, base: u16, count: u16) {
        self.io.push((base, count));
    }
    fn switch_to(&mut self, space: &Mem, stack: &KernelStack, tid: crate::task::Tid) {
        // SAFETY: the fake machine loads nothing; any id is fine.
        unsafe { self.switch_to_id(u64::from(space.space_id()), stack, tid) }
    }
    unsafe fn switch_to_id(&mut self, space_id: u64, stack: &KernelStack, tid: crate::task::Tid) {
        self.switches.push((stack.top(), space_id));
        self.running_tid = tid.raw();
    }
    fn print(&mut self, args: fmt::Arguments) {
        self.printed.push_str(&args.to_string());
    }
    fn write_console(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
    }
}

/// Where test threads keep their data (mapped by [`Machine::thread`]).
pub const DATA: u64 = 0x100_0000;
const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A kernel on the fake machine, and the thread each entry left running.
pub struct Machine {
    pub k: Box<Kernel<Fake>>,
    /// The thread running after the last entry (`None`: idle or off).
    pub running: Option<ThreadSlot>,
    /// Take only the general path (no light path, no direct switch), to compare with it.
    pub general_only: bool,
}

impl Machine {
    pub fn new() -> Machine {
        let mut k = Box::new(Kernel::new(Fake { masked: 0xffff, ..Fake::default() }, VecBuffers::default()));
        k.image = None;
        Machine { k, running: None, general_only: false }
    }

    /// A new task named `name` with `grants` and no threads.
    pub fn task(&mut self, name: &str, grants: abi::image::Grants) -> TaskSlot {
        let t = self.k.core.create_task(name, Mem::new(&self.k.platform.memory)).unwrap();
        self.k.core.task_mut(t).grants = grants;
        t
    }

    /// A new thread in `task` with a page of data at `data(slot)`.
    pub fn thread(&mut self, task: TaskSlot) -> ThreadSlot {
        let tid = spawn::thread(&mut self.k, task, ThreadStart { rip: 0x40_1000, rsp: 0x7000_0000, arg0: 0, arg1: 0 })
            .unwrap();
        let slot = self.k.core.lookup_thread(tid).unwrap();
        self.k.core.task_mut(task).space.as_mut().unwrap().map(data(slot), 4, true);
        slot
    }

    /// Thread `slot`'s id, as user space sees it.
    pub fn tid(&self, slot: ThreadSlot) -> u32 {
        self.k.core.thread(slot).tid.raw()
    }

    pub fn mem(&mut self, slot: ThreadSlot) -> &mut Mem {
        let task = self.k.core.thread(slot).task;
        self.k.core.task_mut(task).space.as_mut().unwrap()
    }

    fn top(&self, slot: ThreadSlot) -> u64 {
        self.k.core.thread(slot).kstack.top()
    }

    /// Thread `slot`'s saved registers.
    pub fn regs(&self, slot: ThreadSlot) -> Regs {
        self.k.platform.frames[&self.top(slot)]
    }

    /// Its return value (`rax`) as a signed word.
    pub fn rax(&self, slot: ThreadSlot) -> i64 {
        self.regs(slot).out[0] as i64
    }

    /// Its second result (`rdx`).
    pub fn rdx(&self, slot: ThreadSlot) -> u64 {
        self.regs(slot).out[3]
    }

    /// Does what the architecture does with `leave`: writes the results into the frame
    /// and notes who runs.
    pub fn leave(&mut self, leave: Leave) -> Leave {
        if let Err(e) = self.k.core.check_invariants().and_then(|()| self.k.core.check_homes()) {
            panic!("state invariant broken after an entry: {e}");
        }
        match &leave {
            &Leave::Run { slot, stack_top, .. } => {
                assert_eq!(self.k.core.thread(slot).kstack.top(), stack_top, "the thread's own stack");
                let mut frame = self.k.platform.frames[&stack_top];
                self.k.deliver(slot, &mut frame);
                self.k.platform.frames.insert(stack_top, frame);
                self.running = Some(slot);
            }
            Leave::Idle | Leave::PowerOff(_) => self.running = None,
            Leave::Resume => {}
        }
        leave
    }

    /// Makes `slot` the running thread (as if the scheduler had picked it).
    pub fn run(&mut self, slot: ThreadSlot) {
        self.k.core.switch_to(slot);
        self.running = Some(slot);
    }

    /// System call `n` with `args` from thread `slot` (made current first).
    pub fn call(&mut self, slot: ThreadSlot, n: Syscall, args: &[u64]) -> Leave {
        self.raw(slot, n as u64, args)
    }

    /// A system call by raw number.
    pub fn raw(&mut self, slot: ThreadSlot, number: u64, args: &[u64]) -> Leave {
        self.run(slot);
        let mut regs = Regs { number, ..Regs::default() };
        regs.args[..args.len()].copy_from_slice(args);
        let top = self.top(slot);
        // The frame holds the arguments, as on the machine (results overwrite them).
        let frame = self.k.platform.frames.get_mut(&top).expect("a thread's frame");
        frame.number = number;
        frame.args = regs.args;
        frame.out = [0; RESULTS];
        for (i, a) in regs.args.iter().enumerate() {
            frame.out[i + 1] = *a;
        }
        if !self.general_only {
            // What the architecture's `syscall` stub tries first.
            // `ipc_reply`'s own light way in.
            if number == Syscall::IpcReply as u64 {
                let v = self.k.light_reply(regs.args[0], regs.args[1]);
                self.k.platform.frames.get_mut(&top).expect("a thread's frame").out[0] = v;
                return self.leave(Leave::Run { slot, stack_top: top, switch: false });
            }
            if super::fast::is_light(number) {
                let v = self.k.light(number, regs.args[0], regs.args[1]);
                self.k.platform.frames.get_mut(&top).expect("a thread's frame").out[0] = v;
                return self.leave(Leave::Run { slot, stack_top: top, switch: false });
            }
            // The stub routes each of the two calls to its own attempt.
            let direct = if number == Syscall::IpcCall as u64 {
                self.k.direct_call(&regs)
            } else if number == Syscall::IpcReplyWait as u64 {
                self.k.direct_reply_wait(&regs)
            } else {
                None
            };
            if let Some(d) = direct {
                let out = d.regs(&regs);
                let frame = self.k.platform.frames.get_mut(&d.stack_top).expect("a thread's frame");
                for (i, v) in out.iter().enumerate() {
                    frame.set_result(i, *v);
                }
                return self.leave(Leave::Run { slot: d.slot, stack_top: d.stack_top, switch: true });
            }
            match self.k.direct_spec(&regs) {
                Some(super::spec::Spec::Leave(leave)) => return self.leave(leave),
                // What the architecture's exit into the receiver writes.
                Some(super::spec::Spec::Enter(e)) => {
                    let frame = self.k.platform.frames.get_mut(&e.stack_top).expect("a thread's frame");
                    frame.set_result(abi::syscall::regs::VALUE, e.value);
                    frame.set_result(abi::syscall::regs::SECOND, e.second);
                    return self.leave(Leave::Run { slot: e.slot, stack_top: e.stack_top, switch: true });
                }
                None => {}
            }
        }
        let leave = self.k.syscall(&regs);
        self.leave(leave)
    }

    /// Every switch so far: the kernel stack's top and the task whose space was loaded
    /// (`None`: a space no live task has), so that two machines, whose fake spaces have
    /// different ids, compare.
    pub fn switches(&self) -> Vec<(u64, Option<TaskSlot>)> {
        let owner = |id: u64| {
            TaskSlot::all().find(|&t| self.k.core.task(t).space.as_ref().is_some_and(|s| u64::from(s.space_id()) == id))
        };
        self.k.platform.switches.iter().map(|&(top, id)| (top, owner(id))).collect()
    }

    /// `call`, then the caller's `rax` (it must still be running).
    pub fn value(&mut self, slot: ThreadSlot, n: Syscall, args: &[u64]) -> i64 {
        let leave = self.call(slot, n, args);
        assert!(
            matches!(leave, Leave::Run { switch: false, .. }),
            "{n:?} from thread {slot} should return at once, left with {leave:?}"
        );
        self.rax(slot)
    }

    pub fn tick(&mut self, from_user: bool) -> Leave {
        let now = self.k.core.now() + 1;
        let leave = self.k.timer_tick(now, from_user);
        self.leave(leave)
    }

    pub fn irq(&mut self, irq: u8, from_user: bool) -> Leave {
        self.k.platform.mask_irq(irq);
        let leave = self.k.device_irq(irq, from_user);
        self.leave(leave)
    }

    /// Writes `bytes` to thread `slot`'s memory at `at`.
    pub fn poke(&mut self, slot: ThreadSlot, at: u64, bytes: &[u8]) {
        use crate::umem::UserMemory;
        self.mem(slot).copy_out(at, bytes).unwrap();
    }

    /// Reads `n` bytes of thread `slot`'s memory at `at`.
    pub fn peek(&mut self, slot: ThreadSlot, at: u64, n: usize) -> Vec<u8> {
        use crate::umem::UserMemory;
        let mut v = vec![0; n];
        self.mem(slot).copy_in(at, &mut v).unwrap();
        v
    }
}

/// Thread `slot`'s data area (4 pages, mapped writable).
pub fn data(slot: ThreadSlot) -> u64 {
    DATA + slot.index() as u64 * 8 * PAGE
}

/// The error as `rax` holds it.
pub fn err(e: Error) -> i64 {
    e.code() as i64
}
