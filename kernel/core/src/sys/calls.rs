//! One function per system call, all with one shape, dispatched from one table indexed by
//! `abi::Syscall` numbers (checked at compile time).
//!
//! Each handler is given its caller and decodes its own arguments from the caller's
//! registers (argument `i` of `abi::syscall::regs`, decoded by `abi`'s decoders), checks
//! all of them before changing anything, and records what the call returns in the caller's
//! pending results (`regs::Results`), the one way results leave the kernel. A caller that
//! blocked or ended gets nothing now; whoever wakes it records its results then. Errors
//! become negative codes only in [`dispatch`], except `ipc_send`'s, which come with its
//! status word in `rdx`.

use super::platform::{Platform, ThreadStart, UserSpace};
use super::{spawn, Kernel};
use crate::ipc::{RecvArgs, SendArgs};
use crate::loader::elf::LoadTarget;
use crate::mem::pagemap::PageMap;
use crate::mem::regions::Region;
use crate::mem::FRAMES;
use crate::regs::ArchState;
use crate::task::{TaskId, TaskSlot, ThreadSlot, Tid};
use crate::umem::{UserPtr, UserSlice};
use abi::ipc::fast;
use abi::syscall::{decode_tid, decode_u32};
use abi::{Error, Syscall};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// The thread making a system call: its slot and its task's slot.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub slot: ThreadSlot,
    pub task: TaskSlot,
}

type Handler<P> = fn(&mut Kernel<P>, Caller, &<P as Platform>::Regs) -> Result<(), Error>;

/// The handlers, by system-call number.
struct Table<P>(core::marker::PhantomData<P>);

impl<P: Platform> Table<P> {
    const ENTRIES: [(Syscall, Handler<P>); Syscall::COUNT] = [
        (Syscall::Gettid, gettid),
        (Syscall::YieldTo, yield_to),
        (Syscall::Deschedule, deschedule),
        (Syscall::MakeRunnable, make_runnable),
        (Syscall::Sleep, sleep),
        (Syscall::GetTicks, get_ticks),
        (Syscall::NewPages, new_pages),
        (Syscall::RemovePages, remove_pages),
        (Syscall::ThreadCreate, thread_create),
        (Syscall::ThreadExit, thread_exit),
        (Syscall::TaskSpawn, task_spawn),
        (Syscall::TaskExit, task_exit),
        (Syscall::TaskWait, task_wait),
        (Syscall::Print, print),
        (Syscall::FreeFrames, free_frames),
        (Syscall::IpcSend, ipc_send),
        (Syscall::IpcRecv, ipc_recv),
        (Syscall::IpcReply, ipc_reply),
        (Syscall::IpcCall, ipc_call),
        (Syscall::IpcReplyWait, ipc_reply_wait),
        (Syscall::IrqBind, irq_bind),
        (Syscall::IrqAck, irq_ack),
        (Syscall::KernelStats, kernel_stats),
        (Syscall::Ps, ps),
        (Syscall::ImagePrograms, image_programs),
        (Syscall::TaskKill, task_kill),
    ];

    /// Entry i handles system call number i: evaluated at compile time, for every
    /// platform the kernel is built for, by [`dispatch`]'s use of it.
    const CHECKED: () = {
        let mut i = 0;
        while i < Self::ENTRIES.len() {
            assert!(Self::ENTRIES[i].0 as usize == i);
            i += 1;
        }
    };
}

/// Runs the system call in `regs` for `caller`. A failed call returns its error code and
/// nothing else: fast-path registers a failed receive had prepared do not go out.
pub fn dispatch<P: Platform>(k: &mut Kernel<P>, caller: Caller, regs: &P::Regs) {
    #[allow(clippy::let_unit_value)] // forces the compile-time check of the table
    let () = Table::<P>::CHECKED;
    let result = match Table::<P>::ENTRIES.get(regs.syscall_number() as usize) {
        Some((_, handler)) => handler(k, caller, regs),
        None => Err(Error::InvalidArgument),
    };
    if let Err(e) = result {
        failed(k, caller.slot, e);
    }
}

/// What a call by `slot` that failed with `e` returns: its error code and nothing else.
pub(super) fn failed<P: Platform>(k: &mut Kernel<P>, slot: ThreadSlot, e: Error) {
    let ret = k.core.results_mut(slot);
    ret.clear_fast();
    ret.value(e.code() as i64 as u64);
}

/// The calls that never block, switch or end their caller (so the thread to run after them
/// is the caller, and `Kernel::next` has nothing to decide) and take at most two
/// arguments: the light path runs them without a saved frame (bit n: call number n).
pub const LIGHT: u64 = {
    const CALLS: [Syscall; 13] = [
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
        // Wakes the caller it answers, but its own caller goes on: its one result is `rax`.
        Syscall::IpcReply,
    ];
    let mut mask = 0u64;
    let mut i = 0;
    while i < CALLS.len() {
        assert!((CALLS[i] as u64) < u64::BITS as u64);
        mask |= 1 << CALLS[i] as u64;
        i += 1;
    }
    mask
};

/// Runs light call `nr` (a bit of [`LIGHT`]; any other is `InvalidArgument`) for `caller`,
/// its arguments in `regs` (only the first two are read), and returns its `rax`: the same
/// handlers as [`dispatch`], their one result taken straight out of the caller's pending
/// results.
#[inline(always)]
pub fn light<P: Platform>(k: &mut Kernel<P>, caller: Caller, nr: u64, regs: &impl ArchState) -> u64 {
    const GETTID: u64 = Syscall::Gettid as u64;
    const GET_TICKS: u64 = Syscall::GetTicks as u64;
    const FREE_FRAMES: u64 = Syscall::FreeFrames as u64;
    const IRQ_BIND: u64 = Syscall::IrqBind as u64;
    const IRQ_ACK: u64 = Syscall::IrqAck as u64;
    const PRINT: u64 = Syscall::Print as u64;
    const NEW_PAGES: u64 = Syscall::NewPages as u64;
    const REMOVE_PAGES: u64 = Syscall::RemovePages as u64;
    const KERNEL_STATS: u64 = Syscall::KernelStats as u64;
    const PS: u64 = Syscall::Ps as u64;
    const IMAGE_PROGRAMS: u64 = Syscall::ImagePrograms as u64;
    const MAKE_RUNNABLE: u64 = Syscall::MakeRunnable as u64;
    const IPC_REPLY: u64 = Syscall::IpcReply as u64;
    let result = match nr {
        GETTID => return k.core.thread(caller.slot).tid.raw() as u64, // `gettid`, inlined: the hot one
        GET_TICKS => get_ticks(k, caller, regs),
        FREE_FRAMES => free_frames(k, caller, regs),
        IRQ_BIND => irq_bind(k, caller, regs),
        IRQ_ACK => irq_ack(k, caller, regs),
        PRINT => print(k, caller, regs),
        NEW_PAGES => new_pages(k, caller, regs),
        REMOVE_PAGES => remove_pages(k, caller, regs),
        KERNEL_STATS => kernel_stats(k, caller, regs),
        PS => ps(k, caller, regs),
        IMAGE_PROGRAMS => image_programs(k, caller, regs),
        MAKE_RUNNABLE => make_runnable(k, caller, regs),
        IPC_REPLY => k.core.ipc_reply(caller.slot, regs.arg(0), regs.arg(1) as u32).map(|_| ()),
        _ => Err(Error::InvalidArgument),
    };
    let ret = k.core.results_mut(caller.slot);
    let value = match result {
        Ok(()) => ret.take(abi::syscall::regs::VALUE).unwrap_or(0),
        Err(e) => {
            ret.take(abi::syscall::regs::VALUE);
            e.code() as i64 as u64
        }
    };
    debug_assert!(ret.is_empty(), "a light call returns rax only");
    value
}

/// Records `v` as the caller's return value.
fn ret<P: Platform>(k: &mut Kernel<P>, c: Caller, v: u64) -> Result<(), Error> {
    k.core.results_mut(c.slot).value(v);
    Ok(())
}

fn space<P: Platform>(k: &mut Kernel<P>, task: TaskSlot) -> &mut P::Space {
    // Invariant: `task` is the caller's, and a task keeps its space while it has threads.
    k.core.task_mut(task).space.as_mut().expect("a live task has an address space")
}

fn gettid<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, _: &R) -> Result<(), Error> {
    let me = c.slot;
    let v = k.core.thread(me).tid.raw() as u64;
    ret(k, c, v)
}

fn yield_to<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    k.core.yield_to(c.slot, decode_tid(f.arg(0)))?;
    ret(k, c, 0)
}

fn deschedule<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let task = c.task;
    // Reading *reject and blocking happen in one kernel entry, so no make_runnable can
    // fall between them.
    let reject = UserPtr::<i32>::new(f.arg(0)).read(space(k, task))?;
    if k.core.deschedule(c.slot, reject) {
        return Ok(()); // blocked: make_runnable gives it its 0
    }
    ret(k, c, 0)
}

fn make_runnable<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    k.core.make_runnable(c.slot, Tid::from_raw(decode_tid(f.arg(0)) as u32))?;
    ret(k, c, 0)
}

fn sleep<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    if k.core.sleep(c.slot, decode_tid(f.arg(0)))? {
        return Ok(()); // blocked: the timer gives it its 0
    }
    ret(k, c, 0)
}

fn get_ticks<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, _: &R) -> Result<(), Error> {
    let v = crate::time::ticks();
    ret(k, c, v)
}

fn new_pages<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    let (base, len) = (f.arg(0), decode_u32(f.arg(1)) as u64);
    if base % PAGE != 0 || len % PAGE != 0 {
        return Err(Error::Misaligned);
    }
    if len == 0 {
        return Err(Error::InvalidArgument);
    }
    if !abi::layout::is_user_range(base, len) {
        return Err(Error::BadAddress);
    }
    let task = c.task;
    let space = space(k, task);
    let region = Region { base, pages: len / PAGE };
    space.regions().check_add(region)?;
    if !space.is_unmapped(base, region.pages) {
        return Err(Error::WindowOccupied);
    }
    space.map_zeroed(base, region.pages)?;
    // Invariant: `check_add` passed on this same table just above, with nothing between.
    space.regions().add(region).expect("checked above");
    ret(k, c, 0)
}

fn remove_region(space: &mut impl UserSpace, base: u64) -> Result<(), Error> {
    let r = space.regions().remove(base).ok_or(Error::InvalidArgument)?;
    space.unmap(r.base, r.pages);
    Ok(())
}

fn remove_pages<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    let task = c.task;
    remove_region(space(k, task), f.arg(0))?;
    ret(k, c, 0)
}

fn thread_create<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let (rip, rsp) = (f.arg(0), f.arg(1));
    if !abi::layout::is_user_range(rip, 1) || !abi::layout::is_user_range(rsp.wrapping_sub(8), 8) {
        return Err(Error::BadAddress);
    }
    let task = c.task;
    let v = spawn::thread(k, task, ThreadStart { rip, rsp, arg0: f.arg(2), arg1: f.arg(3) })?.raw() as u64;
    ret(k, c, v)
}

fn thread_exit<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let Caller { slot: me, task } = c;
    if f.arg(0) != 0 {
        // The thread's own stack: it will never run on it again after this call.
        remove_region(space(k, task), f.arg(0))?;
    }
    drop(k.core.exit_thread(me).space);
    Ok(())
}

fn task_spawn<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let task = c.task;
    let len = f.arg(1);
    if len == 0 || len > abi::image::NAME_MAX as u64 {
        return Err(Error::NoSuchProgram);
    }
    let mut buf = [0u8; abi::image::NAME_MAX];
    let name = &mut buf[..len as usize];
    let space = space(k, task);
    UserSlice::new(f.arg(0), len)?.readable(space)?.read(space, name)?;
    let name = core::str::from_utf8(name).map_err(|_| Error::NoSuchProgram)?;
    let v = spawn::task(k, Some(task), name, f.arg(2))?.raw() as u64;
    ret(k, c, v)
}

fn task_exit<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let task = c.task;
    if f.arg(0) as i32 == abi::status::PANICKED {
        // libsys has printed the panic message; say whose it was, the way faults are said.
        let t = k.core.task(task);
        let (id, status) = (t.id, abi::status::describe(f.arg(0) as i32));
        k.platform.print(format_args!("  task {id} ({}) ends with status {status}\n", t.name()));
    }
    drop(k.core.exit_task(task, f.arg(0) as i32).space);
    Ok(())
}

fn task_wait<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    match k.core.task_wait(c.slot, TaskId::from_raw(f.arg(0) as u32))? {
        Some(status) => ret(k, c, abi::syscall::encode_status(status)),
        None => Ok(()), // blocked: the task's end gives it the status
    }
}

fn print<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    let task = c.task;
    // At most `PRINT_MAX` bytes per call: the console is polled with interrupts off.
    let mut chunk = [0u8; abi::syscall::PRINT_MAX];
    let len = f.arg(1).min(chunk.len() as u64);
    let space = space(k, task);
    let text = UserSlice::new(f.arg(0), len)?.readable(space)?;
    let chunk = &mut chunk[..len as usize];
    text.read(space, chunk)?;
    k.platform.write_console(chunk);
    ret(k, c, len)
}

fn free_frames<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, _: &R) -> Result<(), Error> {
    let v = FRAMES.lock().free_count() as u64;
    ret(k, c, v)
}

/// `ipc_send`'s arguments as its registers carry them (the general handler and the direct
/// way decode them here alike).
#[inline(always)]
pub(super) fn send_args(f: &impl ArchState) -> SendArgs {
    let control = abi::ipc::SendControl::decode(f.arg(5));
    SendArgs {
        id: f.arg(0) as u32,
        message_long: f.arg(1),
        message_short: f.arg(2),
        len_long: f.arg(3) as u32,
        len_short: f.arg(4),
        timeout: control.timeout,
        shared: control.shared,
        option_sync: control.option_sync,
    }
}

/// `ipc_recv`'s arguments as its registers carry them.
#[inline(always)]
pub(super) fn recv_args(f: &impl ArchState) -> RecvArgs {
    RecvArgs {
        long_dest: f.arg(0),
        short_dest: f.arg(1),
        len_long: f.arg(2),
        len_short: f.arg(3),
        timeout: f.arg(4) as i32,
    }
}

pub(super) fn ipc_send<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let args = send_args(f);
    // The core records the result and the status word (now, or when the caller is woken).
    // An error comes with a status word too, so it is encoded here: no pages left.
    if let Err(e) = k.core.ipc_send(c.slot, args) {
        let ret = k.core.results_mut(c.slot);
        ret.value(e.code() as i64 as u64);
        ret.second(abi::ipc::SendStatus { transferred: false }.encode());
    }
    Ok(())
}

pub(super) fn ipc_recv<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    k.core.ipc_recv(c.slot, recv_args(f))?;
    Ok(())
}

fn ipc_reply<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    k.core.ipc_reply(c.slot, f.arg(0), f.arg(1) as u32)?;
    Ok(())
}

fn ipc_call<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let (tid, len) = fast::decode_call_word(f.arg(0));
    let words = [f.arg(2), f.arg(3), f.arg(4), f.arg(5), f.arg(6)];
    k.core.ipc_call_fast(c.slot, Tid::from_raw(tid), len, words, fast::decode_timeout(f.arg(1)))?;
    Ok(())
}

fn ipc_reply_wait<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let reply = fast::decode_reply_word(f.arg(0)).map(|len| (len, [f.arg(2), f.arg(3), f.arg(4), f.arg(5), f.arg(6)]));
    k.core.ipc_reply_wait(c.slot, reply, fast::decode_timeout(f.arg(1)))?;
    Ok(())
}

/// An IRQ line a driver may bind: not the timer (0) nor the PIC cascade (2).
fn driver_line(irq: u64) -> Result<u8, Error> {
    match irq {
        1 | 3..=15 => Ok(irq as u8),
        _ => Err(Error::InvalidArgument),
    }
}

fn irq_bind<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    let irq = driver_line(f.arg(0))?;
    let Caller { slot: me, task } = c;
    if !k.core.task(task).grants.has_irq(irq) {
        return Err(Error::PermissionDenied);
    }
    if let Some((_, tid)) = k.irqs[irq as usize] {
        if k.core.lookup_thread(tid).is_ok() && tid != k.core.thread(me).tid {
            return Err(Error::PermissionDenied); // another driver holds it
        }
    }
    k.irqs[irq as usize] = Some((me, k.core.thread(me).tid));
    k.platform.unmask_irq(irq);
    ret(k, c, 0)
}

fn irq_ack<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    let irq = driver_line(f.arg(0))?;
    let me = c.slot;
    if k.irqs[irq as usize] != Some((me, k.core.thread(me).tid)) {
        return Err(Error::PermissionDenied);
    }
    k.platform.unmask_irq(irq);
    ret(k, c, 0)
}

/// Counts the kernel's table usage into the caller's `KernelStats`. Bounded work: one pass
/// over the thread and task tables; writes at most `size_of::<KernelStats>()` bytes.
fn kernel_stats<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    use crate::task::{State, MAX_THREADS};
    use zerocopy::IntoBytes;
    let size = size_of::<abi::syscall::KernelStats>() as u64;
    let len = f.arg(1).min(size);
    let mut stats = abi::syscall::KernelStats { free_frames: FRAMES.lock().free_count() as u64, ..Default::default() };
    for slot in (0..MAX_THREADS).map(ThreadSlot::new) {
        if !matches!(k.core.thread(slot).state(), State::Free) {
            stats.threads_used += 1;
        }
        stats.async_buffers_used += k.core.queued_messages(slot) as u32;
    }
    stats.tasks_used = k.core.tasks_in_use() as u32;
    stats.irqs_bound = k.irqs.iter().filter(|l| l.is_some()).count() as u32;
    let task = c.task;
    let space = space(k, task);
    UserSlice::new(f.arg(0), len)?.writable(space)?.write(space, &stats.as_bytes()[..len as usize])?;
    ret(k, c, size)
}

/// Writes up to `rsi` `abi::ps::Record`s to `rdi`; returns how many exist. The whole
/// destination is checked writable before anything is written, and `rsi` is clipped to
/// the most records there can be, so the work is bounded by the tables.
fn ps<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    use crate::task::{MAX_TASKS, MAX_THREADS};
    use zerocopy::IntoBytes;
    const SIZE: u64 = size_of::<abi::ps::Record>() as u64;
    const _: () = assert!(MAX_TASKS + MAX_THREADS == abi::ps::MAX_RECORDS);
    let capacity = f.arg(1).min(abi::ps::MAX_RECORDS as u64);
    let task = c.task;
    // Checked against the caller's space; written through it below (the core is only read).
    let out = {
        let space = space(k, task);
        UserSlice::new(f.arg(0), capacity * SIZE)?.writable(space)?
    };
    // The records are read from the core while written into the caller's space, which the
    // core owns: lend the space out for the walk (records do not look at spaces) and put
    // it back before any error leaves.
    let mut lent = k.core.task_mut(task).space.take();
    let mut i = 0u64;
    let total = k.core.ps_records(|r| {
        if i < capacity {
            let space = lent.as_mut().ok_or(Error::BadAddress)?;
            out.sub(i * SIZE, SIZE).write(space, r.as_bytes())?;
        }
        i += 1;
        Ok(())
    });
    k.core.task_mut(task).space = lent;
    let v = total? as u64;
    ret(k, c, v)
}

/// Writes up to `rsi` `abi::image::ProgramInfo`s (the boot image's programs, in order) to
/// `rdi`; returns how many the image holds. Bounded by `abi::image::MAX_PROGRAMS`.
fn image_programs<P: Platform, R: ArchState>(k: &mut Kernel<P>, c: Caller, f: &R) -> Result<(), Error> {
    use abi::image::{ProgramInfo, NAME_MAX};
    use zerocopy::IntoBytes;
    const SIZE: u64 = size_of::<ProgramInfo>() as u64;
    let Some(image) = k.image else { return ret(k, c, 0) };
    let capacity = f.arg(1).min(image.len() as u64);
    let task = c.task;
    let space = space(k, task);
    let out = UserSlice::new(f.arg(0), capacity * SIZE)?.writable(space)?;
    for (i, p) in image.programs().take(capacity as usize).enumerate() {
        let mut info = ProgramInfo { name: [0; NAME_MAX], boot: p.boot };
        let n = p.name.len().min(NAME_MAX);
        info.name[..n].copy_from_slice(&p.name.as_bytes()[..n]);
        out.sub(i as u64 * SIZE, SIZE).write(space, info.as_bytes())?;
    }
    let v = image.len() as u64;
    ret(k, c, v)
}

/// Ends task `rdi` (see `Core::kill_task` for who may); ending one's own task does not
/// return.
fn task_kill<P: Platform>(k: &mut Kernel<P>, c: Caller, f: &P::Regs) -> Result<(), Error> {
    let task = c.task;
    let power = k.core.task(task).grants.may_kill();
    let ended = k.core.kill_task(task, TaskId::from_raw(f.arg(0) as u32), power)?;
    let own = ended.task == Some(task);
    drop(ended.space);
    if own {
        Ok(())
    } else {
        ret(k, c, 0)
    }
}
