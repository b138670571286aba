//! Creating tasks and threads: an address space, a program loaded into it, a kernel stack,
//! and a first frame. Every step's failure undoes the steps before it.

use super::platform::{Platform, ThreadStart};
use super::Kernel;
use crate::loader::elf::{self, ElfImage, LoadTarget};
use abi::layout::{MAIN_STACK_PAGES, MAIN_STACK_TOP};
use abi::Error;

/// Starts boot-image program `name` as a new task of `parent` (`None`: the boot task)
/// whose first thread gets `arg` in `rdi`; returns the task id. The task gets the grants
/// and limits of the program's image entry.
pub fn task<P: Platform>(k: &mut Kernel<P>, parent: Option<usize>, name: &str, arg: u64) -> Result<u32, Error> {
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
    let kstack = k.platform.alloc_stack()?;
    let slot = match k.core.spawn_task(parent, name, space, program.limits) {
        Ok(slot) => slot,
        Err(e) => {
            k.platform.free_stack(kstack);
            return Err(e);
        }
    };
    k.core.task_mut(slot).grants = program.grants;
    crate::trace_event!(crate::trace::task_named(k.core.task(slot).id, name));
    if let Err(e) = k.core.create_thread(slot, kstack) {
        k.platform.free_stack(kstack);
        drop(k.core.discard_task(slot));
        return Err(e);
    }
    k.platform.init_thread(&kstack, ThreadStart { rip: entry, rsp: MAIN_STACK_TOP, arg0: arg, arg1: 0 });
    Ok(k.core.task(slot).id)
}

/// Starts a thread in task `task` from `start`.
pub fn thread<P: Platform>(k: &mut Kernel<P>, task: usize, start: ThreadStart) -> Result<u32, Error> {
    let kstack = k.platform.alloc_stack()?;
    match k.core.create_thread(task, kstack) {
        Ok(slot) => {
            k.platform.init_thread(&kstack, start);
            Ok(k.core.thread(slot).tid)
        }
        Err(e) => {
            k.platform.free_stack(kstack);
            Err(e)
        }
    }
}
