//! Creating tasks and threads: an address space, a program loaded into it, a kernel stack,
//! and a first frame. Every step's failure undoes the steps before it.

use super::platform::{Platform, ThreadStart};
use super::Kernel;
use crate::loader::elf::{self, ElfImage, LoadTarget};
use crate::task::{TaskId, TaskSlot, ThreadSlot, Tid};
use abi::layout::{MAIN_STACK_PAGES, MAIN_STACK_TOP};
use abi::Error;

/// Starts boot-image program `name` as a new task of `parent` (`None`: the boot task)
/// whose first thread gets `arg` in `rdi`; returns the task id. The task gets the grants
/// and limits of the program's image entry.
pub fn task<P: Platform>(k: &mut Kernel<P>, parent: Option<TaskSlot>, name: &str, arg: u64) -> Result<TaskId, Error> {
    let image = k.image.ok_or(Error::NoSuchProgram)?;
    let program = image.find(name).ok_or(Error::NoSuchProgram)?;
    let elf = ElfImage::parse(program.elf).map_err(|e| {
        k.platform.print(format_args!("cannot load {name}: {e}\n"));
        Error::NoSuchProgram
    })?;
    // Dropping `space` on any error below frees everything mapped so far.
    // Page tables are charged from the first one the loader makes, up to the program's share.
    let mut space = k.platform.new_space(program.limits.kernel_frames)?;
    let entry = elf::load(&elf, &mut space)?;
    let stack_base = MAIN_STACK_TOP - MAIN_STACK_PAGES * abi::PAGE_SIZE as u64;
    space.map_zeroed(stack_base, MAIN_STACK_PAGES)?;
    let slot = k.core.spawn_task(parent, name, space, program.limits)?;
    k.core.task_mut(slot).grants = program.grants;
    crate::trace_event!(crate::trace::task_named(k.core.task(slot).id, name));
    let start = ThreadStart { rip: entry, rsp: MAIN_STACK_TOP, arg0: arg, arg1: 0 };
    if let Err(e) = thread_in(k, slot, start) {
        drop(k.core.discard_task(slot));
        return Err(e);
    }
    Ok(k.core.task(slot).id)
}

/// Starts a thread in task `task` from `start`.
pub fn thread<P: Platform>(k: &mut Kernel<P>, task: TaskSlot, start: ThreadStart) -> Result<Tid, Error> {
    let slot = thread_in(k, task, start)?;
    Ok(k.core.thread(slot).tid)
}

/// A new thread of `task` on a new kernel stack, starting from `start`; its slot. Room is
/// checked before the stack is taken, so nothing fails once it is.
fn thread_in<P: Platform>(k: &mut Kernel<P>, task: TaskSlot, start: ThreadStart) -> Result<ThreadSlot, Error> {
    k.core.thread_room(task)?;
    let kstack = k.platform.alloc_stack()?;
    // Cannot fail: room was checked just above, with nothing in between (were it to, the
    // stack would be dropped, not freed: a leak, never a double use).
    let slot = k.core.create_thread(task, kstack)?;
    k.core.settle_home(slot);
    k.platform.init_thread(&k.core.thread(slot).kstack, start);
    Ok(slot)
}
