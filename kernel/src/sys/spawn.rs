//! Creating tasks and threads: an address space, a program loaded into it, a kernel stack,
//! and a first frame. Every step's failure undoes the steps before it.

use super::Kernel;
use crate::arch::aspace::AddressSpace;
use crate::arch::entry::init_user_frame;
use crate::arch::paging;
use crate::kprintln;
use crate::loader::elf::{self, ElfImage, Protection};
use abi::layout::{MAIN_STACK_PAGES, MAIN_STACK_TOP};
use abi::Error;

/// Pages of each thread's kernel stack (its top holds the thread's saved user frame).
pub const KERNEL_STACK_PAGES: u64 = 4;

/// Starts boot-image program `name` as a new task of `parent` (`None`: the boot task)
/// whose first thread gets `arg` in `rdi`; returns the task id. The task gets the grants
/// and limits of the program's image entry.
pub fn task(k: &mut Kernel, parent: Option<usize>, name: &str, arg: u64) -> Result<u32, Error> {
    let image = k.image.ok_or(Error::NoSuchProgram)?;
    let program = image.find(name).ok_or(Error::NoSuchProgram)?;
    let elf = ElfImage::parse(program.elf).map_err(|e| {
        kprintln!("cannot load {name}: {e}");
        Error::NoSuchProgram
    })?;
    // Dropping `space` on any error below frees everything mapped so far.
    // Page tables are charged from the first one the loader makes, up to the program's share.
    let mut space = AddressSpace::new(program.limits.kernel_frames)?;
    let entry = elf::load(&elf, &mut space)?;
    let stack_base = MAIN_STACK_TOP - MAIN_STACK_PAGES * abi::PAGE_SIZE as u64;
    space.map_zeroed(stack_base, MAIN_STACK_PAGES, Protection::ReadWrite)?;
    let kstack = paging::alloc_stack(KERNEL_STACK_PAGES)?;
    let slot = match k.core.spawn_task(parent, name, space, program.limits) {
        Ok(slot) => slot,
        Err(e) => {
            paging::free_stack(kstack);
            return Err(e);
        }
    };
    k.core.task_mut(slot).grants = program.grants;
    moroso_kernel_core::trace_event!(crate::trace::task_named(k.core.task(slot).id, name));
    if let Err(e) = k.core.create_thread(slot, kstack) {
        paging::free_stack(kstack);
        drop(k.core.discard_task(slot));
        return Err(e);
    }
    init_user_frame(kstack.top, entry, MAIN_STACK_TOP, arg, 0);
    Ok(k.core.task(slot).id)
}

/// Starts a thread in task `task` at `rip` with stack `rsp` and two arguments.
pub fn thread(k: &mut Kernel, task: usize, rip: u64, rsp: u64, arg0: u64, arg1: u64) -> Result<u32, Error> {
    let kstack = paging::alloc_stack(KERNEL_STACK_PAGES)?;
    match k.core.create_thread(task, kstack) {
        Ok(slot) => {
            init_user_frame(kstack.top, rip, rsp, arg0, arg1);
            Ok(k.core.thread(slot).tid)
        }
        Err(e) => {
            paging::free_stack(kstack);
            Err(e)
        }
    }
}
