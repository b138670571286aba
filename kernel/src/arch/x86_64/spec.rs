//! The spec IPC calls' way out into a thread a spec `ipc_send` or `ipc_recv` taken the
//! direct way runs next ([`enter`], `sys::spec::Enter`: a receiver the send filled, a
//! caller the reply woke): its two result registers given in registers, every other
//! register read straight from its saved frame, and out by `sysretq`. What
//! `Kernel::deliver` and `trap_restore_switch` together would do for it, without writing
//! the results into the frame to pop them back. (`ipc_reply`'s way in,
//! `syscall_reply_entry`, is the light path's stub in `entry`, straight to
//! `run::reply_syscall`.)

use super::entry::{enter_thread, frame_of, sysret_through_frame};
use super::frame::{TrapFrame, SYSCALL_VECTOR};
use crate::sys::spec::Enter;

/// Leaves the kernel into `e.slot`, entering it as [`Enter`] says.
///
/// # Safety
/// `e` is what `Kernel::direct_spec` has just returned: `e.stack_top` is the top of the
/// live kernel stack of thread `e.slot`, whose address space, kernel stack and I/O ports
/// are the ones loaded, with its saved user frame at the top. No reference to that frame
/// is live, and nothing on the current stack is needed any more.
pub unsafe fn enter(e: Enter) -> ! {
    use core::mem::offset_of;
    let frame: *mut TrapFrame = frame_of(e.stack_top);
    // SAFETY: as the precondition says, a live saved frame that nothing else references.
    let f = unsafe { &mut *frame };
    if f.vector != SYSCALL_VECTOR {
        // Not a frame the `syscall` stub built (a thread with results pending is blocked
        // in a system call, so this is not expected): the general exit, which can leave
        // through any frame.
        f.rax = e.value;
        f.rdx = e.second;
        enter_thread(frame);
    }
    // SAFETY: the frame is the `syscall` stub's (its vector says so), so its `rip` is the
    // instruction after the thread's own `syscall`, canonical as `sysretq` needs, and its
    // flags are the user's; the thread's space and kernel stack are loaded (the
    // precondition). Interrupts stay off (SFMASK) until `sysretq` loads the user's flags,
    // so nothing runs on the user stack in between; GS is reset only after the exit
    // `swapgs`, as in `trap_restore_switch`. `rbx` and `rbp` are written although LLVM
    // reserves them: the block never returns, so no compiled code sees them again.
    unsafe {
        sysret_through_frame!(
            [
                "mov rdi, [r11 + {rdi}]",
                "mov rsi, [r11 + {rsi}]",
                "mov r8, [r11 + {r8}]",
                "mov r9, [r11 + {r9}]",
                "mov r10, [r11 + {r10}]",
                "mov r12, [r11 + {r12}]",
            ],
            rdi = const offset_of!(TrapFrame, rdi),
            rsi = const offset_of!(TrapFrame, rsi),
            r8 = const offset_of!(TrapFrame, r8),
            r9 = const offset_of!(TrapFrame, r9),
            r10 = const offset_of!(TrapFrame, r10),
            r12 = const offset_of!(TrapFrame, r12),
            in("r11") frame,
            in("rax") e.value,
            in("rdx") e.second,
        )
    }
}
