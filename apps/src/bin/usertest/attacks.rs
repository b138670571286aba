//! What a program can do to the CPU state, and must not be able to turn against the
//! kernel or other tasks: RFLAGS.NT, data segment selectors, x87/MMX/SSE registers,
//! instructions that reveal kernel tables (UMIP), and long prints holding the console; and
//! what the direct switch must restore and reset (preserved registers, selectors).
//!
//! The attacks run in child tasks (modes in `child`), whose bodies are here; a case checks
//! the child's exit status, and that the kernel is still there to report it. (The direct
//! switch's case runs in this task: it loads only the selectors, which its own switches
//! reset.)

use crate::child::{self, arg};
use libsys::abi::{status, syscall::PRINT_MAX, Syscall};
use libsys::{raw, task, thread};
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const ME: &str = "usertest";
const RFLAGS_NT: u64 = 1 << 14;
const VEC_UD: u32 = 6;
const VEC_NM: u32 = 7;
const VEC_GP: u32 = 13;

fn run_child(a: u64) -> Result<i32, libsys::abi::Error> {
    task::wait(task::spawn(ME, a)?)
}

pub fn cases(s: &mut Suite) {
    s.case("cpu::numbers_past_the_calls_are_refused_through_the_routing_clamp", || {
        // The `syscall` stub clamps a number past the calls to its routing table's last
        // entry with a `cmov` (no branch to mispredict): each must reach the general path
        // and be refused there, with only `rax` written, and the caller go on.
        let past = [Syscall::COUNT as u64, Syscall::COUNT as u64 + 1, 255, 1 << 32, 1 << 63, u64::MAX];
        for n in past {
            let (ret, rdx): (i64, u64);
            // SAFETY: no memory is named; a refused call changes nothing but `rax`.
            unsafe {
                core::arch::asm!(
                    "syscall",
                    inlateout("rax") n => ret,
                    in("rdi") 1u64,
                    in("rsi") 2u64,
                    inlateout("rdx") 3u64 => rdx,
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack),
                );
            }
            ensure_eq!(ret, libsys::abi::Error::InvalidArgument.code() as i64, "number {n:#x}");
            ensure_eq!(rdx, 3, "number {n:#x}: rdx kept");
        }
        ensure_eq!(raw::gettid() != 0, true, "the caller goes on");
        Ok(())
    });

    s.case("cpu::nested_task_flag_cannot_crash_the_kernel", || {
        ensure_eq!(run_child(arg(child::NT_THEN_SWITCH, 0)), Ok(0), "child that set NT and switched threads");
        ensure_eq!(run_child(arg(child::EXIT_WITH, 4)), Ok(4), "the kernel still runs programs");
        Ok(())
    });

    s.case("cpu::segment_selectors_do_not_leak_between_threads", || {
        let r = run_child(arg(child::SELECTORS_LEAK, 0));
        ensure_eq!(r, Ok(0), "selectors the other thread saw (ds | es << 8 | fs << 16 | gs << 24)");
        Ok(())
    });

    s.case("cpu::a_direct_switch_keeps_preserved_registers_and_resets_selectors", || {
        let server = thread::spawn(|_| selector_server(), 0).expect("server");
        // The first call may find the server not yet waiting (the general path); the rest
        // find it in `IpcReplyWait`, so the direct switch takes them both ways.
        for i in 0..16 {
            let (ret, seen, kept) = marked_call(server, i);
            ensure_eq!(ret, 0, "call {i}");
            ensure_eq!(kept, marks(i), "rbx, rbp, r13, r14, r15 after call {i}");
            ensure_eq!(seen, 0, "selectors the server saw in call {i} (ds | es << 8 | fs << 16 | gs << 24)");
        }
        Ok(())
    });

    s.case("cpu::forged_slots_under_an_ipc_frame_are_never_restored", || {
        let server = thread::spawn(|_| forging_server(), 0).expect("server");
        // Calls that wait forever go the direct switch both ways once the server waits;
        // calls with a deadline go the general path both ways (the server's reply cannot
        // switch straight to a caller with a deadline), so the caller leaves through its
        // forged frame by the general exit.
        for i in 0..16 {
            let timeout = if i % 2 == 0 { -1 } else { 1 << 20 };
            // SAFETY: registers only.
            let (ret, _, len, w) =
                unsafe { forged_fast_syscall(Syscall::IpcCall, call_word(server, 8), timeout, [i, 0, 0, 0, 0]) };
            ensure_eq!(ret, 0, "call {i}: the reply's value (not the forged rax {FORGED_RAX:#x})");
            ensure_eq!((len, w[0]), (8, i + 1), "call {i}: the reply");
        }
        // SAFETY: registers only.
        let (ret, _, _, w) =
            unsafe { forged_fast_syscall(Syscall::IpcCall, call_word(server, 8), -1, [QUIT, 0, 0, 0, 0]) };
        ensure_eq!((ret, w[0]), (0, QUIT + 1), "the server's last reply");
        Ok(())
    });

    s.case("cpu::x87_mmx_sse_end_only_the_task", || {
        // With CR0.EM and CR0.TS both set, the SDM gives #UD for MMX instructions; QEMU
        // checks TS first and raises #NM. Either ends the task, which is what matters.
        let cases = [
            (FPU_MMX, [VEC_UD, VEC_NM], "MMX movq to mm0"),
            (FPU_X87, [VEC_NM, VEC_NM], "x87 fld1"),
            (FPU_SSE, [VEC_UD, VEC_UD], "SSE xorps"),
        ];
        for (which, vectors, what) in cases {
            let r = run_child(arg(child::FPU, which));
            let faulted = vectors.map(|v| Ok(status::faulted(v as u8)));
            ensure!(faulted.contains(&r), "{what}: status {r:?}, expected a fault with vector {vectors:?}");
        }
        ensure_eq!(run_child(arg(child::EXIT_WITH, 5)), Ok(5), "the kernel still runs programs");
        Ok(())
    });

    s.case("cpu::umip_hides_descriptor_tables", || {
        if !cpu_has_umip() {
            libsys::println!("  this CPU has no UMIP: nothing to check");
            return Ok(());
        }
        for (which, what) in [(UMIP_SGDT, "sgdt"), (UMIP_SIDT, "sidt"), (UMIP_SMSW, "smsw")] {
            ensure_eq!(run_child(arg(child::UMIP, which)), Ok(status::faulted(VEC_GP as u8)), "{what}");
        }
        Ok(())
    });

    s.case("print::writes_at_most_print_max_per_call", || {
        // The first PRINT_MAX bytes end in a newline, so what the kernel prints is a whole
        // line whichever way it goes; the rest must not be printed by this call.
        let mut text = [b'!'; PRINT_MAX + 40];
        let head = b"print bound: the kernel prints this line and stops ";
        text[..head.len()].copy_from_slice(head);
        text[PRINT_MAX - 1] = b'\n';
        *text.last_mut().unwrap_or(&mut 0) = b'\n';
        ensure_eq!(raw::print(&text), PRINT_MAX as i64, "bytes written by one print of {}", text.len());
        Ok(())
    });

    s.case("print::libsys_writes_long_text_whole", || {
        let mut text = [b'='; 5 * PRINT_MAX + 7];
        let head = b"long print:";
        text[..head.len()].copy_from_slice(head);
        *text.last_mut().unwrap_or(&mut 0) = b'\n';
        ensure_eq!(libsys::console::write_all(&text), text.len(), "bytes written");
        // The same through the formatting path, which must not lose the tail either.
        libsys::println!("{} end of long line", core::str::from_utf8(&text[..text.len() - 1]).unwrap_or("?"));
        Ok(())
    });
}

/// Whether CPUID reports UMIP (leaf 7, ECX bit 2). CPUID is allowed in user mode.
fn cpu_has_umip() -> bool {
    let max = core::arch::x86_64::__cpuid(0).eax;
    max >= 7 && core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 2) != 0
}

// ---- The child side ----

/// Sets RFLAGS.NT with `popfq`, then makes a system call that leaves the kernel through
/// another thread's frame by `iretq` (which raises #GP in ring 0 if NT is set). Returns 0
/// if the kernel survived and NT really was set; 101.. if the attack could not be staged.
pub fn nested_task_then_switch() -> i32 {
    static GO: AtomicBool = AtomicBool::new(false);
    static DONE: AtomicBool = AtomicBool::new(false);
    // The target makes no system call until GO: whenever it is off the CPU, it was never
    // started or was interrupted by the timer, so the kernel enters it with `iretq`.
    let target = |_| {
        while !GO.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        DONE.store(true, Ordering::Release);
    };
    let Ok(tid) = thread::spawn(target, 0) else { return 101 };
    let (ret, flags_after): (i64, u64);
    // SAFETY: sets NT (bit 14) for the duration of one `yield_to(tid)` system call, then
    // clears it again; NT has no effect on user-mode code that does not `iret`. The stack
    // is used only by the balanced pushes and pops.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {nt}",
            "popfq",
            "syscall",
            "pushfq",
            "mov {flags}, qword ptr [rsp]",
            "and qword ptr [rsp], {not_nt}",
            "popfq",
            nt = const RFLAGS_NT,
            not_nt = const !RFLAGS_NT as i64,
            flags = out(reg) flags_after,
            inlateout("rax") Syscall::YieldTo as u64 => ret,
            in("rdi") tid as u64,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    GO.store(true, Ordering::Release);
    while !DONE.load(Ordering::Acquire) {
        libsys::time::yield_now();
    }
    if ret != 0 {
        return 102;
    }
    if flags_after & RFLAGS_NT == 0 {
        return 103; // NT did not survive the call: the attack was not made
    }
    0
}

/// The data segment selectors, packed `ds | es << 8 | fs << 16 | gs << 24` (each is a
/// small GDT index here; anything above a byte is saturated).
fn selectors() -> u64 {
    let (ds, es, fs, gs): (u64, u64, u64, u64);
    // SAFETY: reading segment registers has no effect.
    unsafe {
        core::arch::asm!(
            "mov {ds:e}, ds", "mov {es:e}, es", "mov {fs:e}, fs", "mov {gs:e}, gs",
            ds = out(reg) ds, es = out(reg) es, fs = out(reg) fs, gs = out(reg) gs,
            options(nomem, nostack, preserves_flags),
        );
    }
    [ds, es, fs, gs].iter().enumerate().fold(0, |acc, (i, s)| acc | (s & 0xffff).min(0xff) << (8 * i))
}

/// The values [`marked_call`] gives `rbx`, `rbp`, `r13`, `r14` and `r15` in its call
/// number `i`.
fn marks(i: u64) -> [u64; 5] {
    [0x1111, 0x2222, 0x3333, 0x4444, 0x5555].map(|m| m << 48 | i)
}

/// A server for [`marked_call`]: answers each call with the selectors it sees just after
/// it is given the call (it never loads any itself), for ever (its task's end ends it).
fn selector_server() {
    let mut reply = None;
    loop {
        // SAFETY: registers only.
        let (r, _, _, _) = unsafe { raw::ipc_reply_wait(reply, -1) };
        reply = Some((8, [if r >= 0 { selectors() } else { u64::MAX }, 0, 0, 0, 0]));
    }
}

/// An 8-byte `IpcCall` to `to` made with the registers a system call preserves set to
/// `marks(i)` and DS, ES, FS and GS loaded with the user data selector. Returns the result,
/// the first reply word (what [`selector_server`] saw) and those registers after the call.
fn marked_call(to: u32, i: u64) -> (i64, u64, [u64; 5]) {
    let m = marks(i);
    let user_data: u64;
    // SAFETY: reads SS.
    unsafe { core::arch::asm!("mov {:e}, ss", out(reg) user_data, options(nomem, nostack, preserves_flags)) };
    let (ret, w0, b, p, r13, r14, r15): (i64, u64, u64, u64, u64, u64, u64);
    // SAFETY: the selector loads change nothing this program relies on (see
    // `selectors_leak`); `rbx` and `rbp`, which cannot be operands, are saved on the stack
    // around the call and restored; the other registers the call reads or writes are
    // operands.
    unsafe {
        core::arch::asm!(
            "mov ds, {ud:e}",
            "mov es, {ud:e}",
            "mov fs, {ud:e}",
            "mov gs, {ud:e}",
            // Through payload registers past the message's 8 bytes: `rbx` and `rbp` may
            // not be operands, and a `reg` operand may be given either.
            "push rbx",
            "push rbp",
            "mov rbx, r10",
            "mov rbp, r8",
            "syscall",
            "mov r10, rbx",
            "mov r8, rbp",
            "pop rbp",
            "pop rbx",
            ud = in(reg) user_data,
            inlateout("rax") Syscall::IpcCall as u64 => ret,
            inlateout("rdi") libsys::abi::ipc::fast::call_word(to, 8) => _,
            inlateout("rsi") libsys::abi::ipc::fast::timeout_word(-1) => _,
            inlateout("rdx") i => w0,
            inlateout("r10") m[0] => b,
            inlateout("r8") m[1] => p,
            inlateout("r9") 0u64 => _,
            inlateout("r12") 0u64 => _,
            inlateout("r13") m[2] => r13,
            inlateout("r14") m[3] => r14,
            inlateout("r15") m[4] => r15,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    (ret, w0, [b, p, r13, r14, r15])
}

/// The `rax` a light call would leave in the frame slot the IPC stub does not store, were
/// its pushes to land there (see [`forged_fast_syscall`]).
const FORGED_RAX: u64 = 0x5a5a_0bad_0000_0001;
/// What [`forging_server`] is told to stop with.
const QUIT: u64 = u64::MAX - 1;

fn call_word(to: u32, len: usize) -> u64 {
    libsys::abi::ipc::fast::call_word(to, len)
}

/// `raw::fast_syscall` (`n`, `rdi`, timeout `t`, the payload `words`) right after a light
/// call (`get_ticks`) whose registers would forge the slots the IPC stub leaves out (the
/// kernel's `TrapFrame` doc, "The slots a system call's frame leaves") if the light path's
/// pushes landed in the saved frame's place, as they did when it ran from the top of the
/// kernel stack: `rsi` over `cs`, `r8` over the error code, `r9` over the vector, `r10`
/// over `rax` (`rcx`, the user's `rip`, over `ss`), making them a kernel-mode interrupt's
/// frame (`cs` of RPL 0, the timer's vector) with `rax` [`FORGED_RAX`]. Whatever those
/// slots hold, the kernel must leave this call's frame by `sysretq` (its vector is the
/// `syscall` stub's), never by `iretq` into ring 0, and write the call's `rax` first.
///
/// # Safety
/// Registers only, as `raw::fast_syscall`.
unsafe fn forged_fast_syscall(n: Syscall, rdi: u64, t: i32, words: [u64; 5]) -> (i64, u64, u64, [u64; 5]) {
    /// The kernel's code selector (its GDT's entry 1, RPL 0): any `cs` of RPL 0 would do.
    const KERNEL_CS: u64 = 0x08;
    /// The vector of the timer's interrupt (IRQ 0 at vector 32).
    const TIMER_VECTOR: u64 = 32;
    let timeout = libsys::abi::ipc::fast::timeout_word(t);
    let second = [n as u64, rdi, timeout, words[0], words[1], words[2], words[3]];
    let (ret, rdi_out, rsi_out, w0, w1, w2, w3, w4): (i64, u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: two system calls on registers only (the server's thread runs in between,
    // hence no `readonly`); `second` is read through `r13`, which the first call
    // preserves, and lives until the block ends.
    unsafe {
        core::arch::asm!(
            "syscall",
            "mov rax, [r13]",
            "mov rdi, [r13 + 8]",
            "mov rsi, [r13 + 16]",
            "mov rdx, [r13 + 24]",
            "mov r10, [r13 + 32]",
            "mov r8, [r13 + 40]",
            "mov r9, [r13 + 48]",
            "syscall",
            in("r13") second.as_ptr(),
            inlateout("rax") Syscall::GetTicks as u64 => ret,
            inlateout("rdi") 2u64 => rdi_out,
            inlateout("rsi") KERNEL_CS => rsi_out,
            inlateout("rdx") 0u64 => w0,
            inlateout("r10") FORGED_RAX => w1,
            inlateout("r8") 0u64 => w2,
            inlateout("r9") TIMER_VECTOR => w3,
            inlateout("r12") words[4] => w4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (ret, rdi_out, rsi_out, [w0, w1, w2, w3, w4])
}

/// A server for `cpu::forged_slots_under_an_ipc_frame_are_never_restored`: answers each
/// 8-byte call with its first word plus one, each reply and wait made through
/// [`forged_fast_syscall`] (so that it too leaves through forged frames); after [`QUIT`]
/// it answers, and ends.
fn forging_server() {
    use libsys::abi::ipc::fast::reply_word;
    let mut reply = reply_word(None);
    let mut words = [0; 5];
    loop {
        // SAFETY: registers only.
        let (r, _, _, w) = unsafe { forged_fast_syscall(Syscall::IpcReplyWait, reply, -1, words) };
        if r < 0 {
            reply = reply_word(None);
            continue;
        }
        words = [w[0].wrapping_add(1), 0, 0, 0, 0];
        if w[0] == QUIT {
            // SAFETY: registers only. The reply, then a poll that finds nothing.
            unsafe { raw::ipc_reply_wait(Some((8, words)), 0) };
            return;
        }
        reply = reply_word(Some(8));
    }
}

/// Loads DS, FS and GS with the user data selector and ES with a null selector of RPL 3,
/// then lets another thread of this task run and read its own selectors. Returns what that
/// thread saw (0: all null, as every thread starts), or 0x7f000000 if the loads did not
/// take.
pub fn selectors_leak() -> i32 {
    const NOT_YET: u64 = u64::MAX;
    static LOADED: AtomicBool = AtomicBool::new(false);
    static SEEN: AtomicU64 = AtomicU64::new(NOT_YET);
    let observer = |_| {
        while !LOADED.load(Ordering::Acquire) {
            libsys::time::yield_now();
        }
        SEEN.store(selectors(), Ordering::Release);
    };
    let Ok(tid) = thread::spawn(observer, 0) else { return 101 };
    // The user data selector, as the kernel gave it to this thread in SS.
    let user_data: u64;
    // SAFETY: reads SS.
    unsafe { core::arch::asm!("mov {:e}, ss", out(reg) user_data, options(nomem, nostack, preserves_flags)) };
    let null_rpl3: u64 = 3;
    // SAFETY: in 64-bit mode DS, ES, FS and GS do not take part in addressing (FS.base and
    // GS.base are 0 here either way), so these loads change nothing this program relies on.
    unsafe {
        core::arch::asm!(
            "mov ds, {u:e}", "mov es, {n:e}", "mov fs, {u:e}", "mov gs, {u:e}",
            u = in(reg) user_data, n = in(reg) null_rpl3,
            options(nomem, nostack, preserves_flags),
        );
    }
    let want = user_data | null_rpl3 << 8 | user_data << 16 | user_data << 24;
    if selectors() != want {
        return 0x7f00_0000;
    }
    LOADED.store(true, Ordering::Release);
    while SEEN.load(Ordering::Acquire) == NOT_YET {
        raw::yield_to(tid as i32);
    }
    SEEN.load(Ordering::Acquire) as i32
}

pub const FPU_MMX: u32 = 0;
pub const FPU_X87: u32 = 1;
pub const FPU_SSE: u32 = 2;

/// Runs one x87, MMX or SSE instruction; the kernel must end this task with a fault.
/// Returns 0 if it did not.
pub fn fpu(which: u32) -> i32 {
    // SAFETY: not safe, on purpose: with the FPU and SIMD units off the instruction
    // faults and the task ends. (Were it to run, it would change only FPU/SIMD registers,
    // which nothing in this soft-float program uses.)
    unsafe {
        match which {
            FPU_MMX => core::arch::asm!("movq mm0, rax", in("rax") 0x1234u64, options(nomem, nostack)),
            FPU_X87 => core::arch::asm!("fld1", options(nomem, nostack)),
            FPU_SSE => core::arch::asm!("xorps xmm0, xmm0", options(nomem, nostack)),
            _ => return 100,
        }
    }
    0
}

pub const UMIP_SGDT: u32 = 0;
pub const UMIP_SIDT: u32 = 1;
pub const UMIP_SMSW: u32 = 2;

/// Runs one instruction UMIP reserves for the kernel; the kernel must end this task with
/// #GP. Returns 0 if it did not.
pub fn umip(which: u32) -> i32 {
    let mut table = [0u8; 10];
    let p = table.as_mut_ptr();
    // SAFETY: not safe, on purpose: under UMIP each raises #GP in user mode. Were it to
    // run, it would write at most 10 bytes to `table` or a register.
    unsafe {
        match which {
            UMIP_SGDT => core::arch::asm!("sgdt [{}]", in(reg) p, options(nostack)),
            UMIP_SIDT => core::arch::asm!("sidt [{}]", in(reg) p, options(nostack)),
            UMIP_SMSW => core::arch::asm!("smsw {:r}", out(reg) _, options(nomem, nostack)),
            _ => return 100,
        }
    }
    core::hint::black_box(table);
    0
}
