//! The other side of task cases: what a copy of `usertest` started with a non-zero argument
//! does. The low byte of the argument picks the behaviour; the rest is a parameter.

use libsys::abi::{layout, Error, Syscall};
use libsys::raw;

pub const EXIT_WITH: u64 = 1;
pub const FAULT_NULL_READ: u64 = 2;
pub const FAULT_WRITE_TEXT: u64 = 3;
pub const FAULT_EXEC_STACK: u64 = 4;
pub const FAULT_READ_KERNEL: u64 = 5;
pub const FAULT_NONCANONICAL: u64 = 6;
pub const FAULT_DIVIDE: u64 = 7;
pub const FAULT_INVALID_OPCODE: u64 = 8;
pub const PANIC: u64 = 9;
pub const THREADS_THEN_EXIT: u64 = 10;
pub const FUZZ: u64 = 11;
/// The attacks on CPU state in `attacks` (parameter: which variant).
pub const NT_THEN_SWITCH: u64 = 12;
pub const SELECTORS_LEAK: u64 = 13;
pub const FPU: u64 = 14;
pub const UMIP: u64 = 15;
/// Starts threads until refused; reports (threads started, the refusal) to thread `param`,
/// then holds them until any message arrives.
pub const HOG_THREADS: u64 = 16;
/// Starts tasks (children that exit at once, left uncollected) until refused, at most
/// `MAX_HOG_TASKS`; reports (tasks started, the refusal) to thread `param`, then holds them
/// until any message arrives.
pub const HOG_TASKS: u64 = 17;
/// Exits with what `make_runnable(param)` returned.
pub const WAKE: u64 = 18;
/// Exits with what `task_wait(param)` returned (the error code, or the status).
pub const WAIT_FOR: u64 = 19;
/// Run as `MANY_THREADS_PROGRAM` (whose share allows it): starts `MANY_THREADS` threads,
/// waits until every one has run, reports (threads started, threads that ran) to thread
/// `param`, then holds them until any message arrives.
pub const MANY_THREADS_MODE: u64 = 20;
/// The alias of this program whose boot-image share allows more threads than the kernel
/// has region-table entries for the program's own use (`xtask/src/build.rs`).
pub const MANY_THREADS_PROGRAM: &str = "usertest-threads";
/// Threads a `MANY_THREADS_MODE` child starts.
pub const MANY_THREADS: u32 = 200;

/// Most tasks a `HOG_TASKS` child tries to start (a kernel without task shares would let it
/// go on as long as it reuses slots).
pub const MAX_HOG_TASKS: u32 = 64;
/// Most threads a `HOG_THREADS` child tries to start.
const MAX_HOG_THREADS: u32 = 300;

/// The argument for `mode` with parameter `p`.
pub const fn arg(mode: u64, p: u32) -> u64 {
    mode | (p as u64) << 8
}

pub fn run(arg: u64) -> i32 {
    let param = (arg >> 8) as u32;
    match arg & 0xff {
        EXIT_WITH => param as i32,
        // SAFETY (all faults below): not safe, on purpose: each makes the CPU fault, and the
        // kernel must end this task, and only this task.
        FAULT_NULL_READ => unsafe { core::ptr::read_volatile(core::hint::black_box(8usize) as *const u64) as i32 },
        FAULT_WRITE_TEXT => unsafe {
            core::ptr::write_volatile(run as *const () as *mut u8, 0xcc);
            0
        },
        FAULT_EXEC_STACK => {
            let code = [0xc3u8; 16]; // `ret`, on the (no-execute) stack
                                     // SAFETY: see above.
            let f: extern "C" fn() = unsafe { core::mem::transmute(core::hint::black_box(code.as_ptr())) };
            f();
            0
        }
        // SAFETY: not safe, on purpose: kernel memory is not user-accessible; this faults.
        FAULT_READ_KERNEL => unsafe { core::ptr::read_volatile(0xffff_ffff_8010_0000 as *const u8) as i32 },
        // SAFETY: not safe, on purpose: a non-canonical address raises #GP.
        FAULT_NONCANONICAL => unsafe { core::ptr::read_volatile(0x0000_8000_0000_0000 as *const u8) as i32 },
        FAULT_DIVIDE => {
            let (zero, n): (u64, u64) = (core::hint::black_box(0), 7);
            let q: u64;
            // SAFETY: see above: a division by zero raises #DE.
            unsafe { core::arch::asm!("div {d}", d = in(reg) zero, inout("rax") n => q, inout("rdx") 0u64 => _) };
            q as i32
        }
        // SAFETY: not safe, on purpose: `ud2` raises #UD.
        FAULT_INVALID_OPCODE => unsafe {
            core::arch::asm!("ud2");
            0
        },
        PANIC => panic!("deliberate panic in a child task"),
        THREADS_THEN_EXIT => {
            for _ in 0..3 {
                libsys::thread::spawn(
                    |_| loop {
                        libsys::time::yield_now();
                    },
                    0,
                )
                .expect("spawn");
            }
            libsys::time::yield_now();
            libsys::task::exit(3)
        }
        FUZZ => fuzz(param),
        NT_THEN_SWITCH => crate::attacks::nested_task_then_switch(),
        SELECTORS_LEAK => crate::attacks::selectors_leak(),
        FPU => crate::attacks::fpu(param),
        UMIP => crate::attacks::umip(param),
        HOG_THREADS => {
            let mut started = 0;
            let refusal = loop {
                if started == MAX_HOG_THREADS {
                    break 0;
                }
                match libsys::thread::spawn(hold, 0) {
                    Ok(_) => started += 1,
                    Err(e) => break e.code(),
                }
            };
            report_and_hold(param, started, refusal)
        }
        HOG_TASKS => {
            let mut started = 0;
            let refusal = loop {
                if started == MAX_HOG_TASKS {
                    break 0;
                }
                match libsys::task::spawn("usertest", crate::child::arg(EXIT_WITH, 0)) {
                    Ok(_) => started += 1,
                    Err(e) => break e.code(),
                }
            };
            report_and_hold(param, started, refusal)
        }
        MANY_THREADS_MODE => {
            static RAN: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
            let mut started = 0;
            let mut refusal = 0;
            while started < MANY_THREADS {
                let ran = |_| {
                    RAN.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
                    hold(0);
                };
                match libsys::thread::spawn(ran, 0) {
                    Ok(_) => started += 1,
                    Err(e) => {
                        refusal = e.code();
                        break;
                    }
                }
            }
            crate::wait_until(|| RAN.load(core::sync::atomic::Ordering::SeqCst) == started);
            if refusal != 0 {
                return report_and_hold(param, started, refusal);
            }
            report_and_hold(param, started, RAN.load(core::sync::atomic::Ordering::SeqCst) as i32)
        }
        WAKE => raw::make_runnable(param),
        WAIT_FOR => match libsys::task::wait(param) {
            Ok(status) => status,
            Err(e) => e.code(),
        },
        _ => 100,
    }
}

/// A thread that blocks until its task ends.
fn hold(_: usize) {
    let zero = 0i32;
    // SAFETY: a valid i32; nobody wakes this thread, the task's exit ends it.
    unsafe { raw::deschedule(&zero) };
}

/// Sends `(count, code)` to thread `to`, then waits for any message and returns 0.
fn report_and_hold(to: u32, count: u32, code: i32) -> i32 {
    if crate::limits::send(to, [count as i32, code]).is_err() {
        return 101;
    }
    match crate::limits::receive() {
        Ok(_) => 0,
        Err(_) => 102,
    }
}

/// Makes many system calls with hostile arguments. Every call must come back with a
/// success value or a known error code; the kernel must survive all of them. Calls that
/// could block this task forever, or end it early, get arguments that cannot.
fn fuzz(seed: u32) -> i32 {
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// An argument: zero, small, huge, kernel, non-canonical, this task's memory, ...
        fn arg(&mut self, own: u64) -> u64 {
            match self.next() % 9 {
                0 => 0,
                1 => self.next() % 64,
                2 => u64::MAX,
                3 => 0xffff_ffff_8010_0000,
                4 => 0x0000_8000_0000_1000,
                5 => own + (self.next() % 64) * 0x1000,
                6 => own + self.next() % 0x10_0000,
                7 => layout::USER_MIN + self.next() % 0x1000,
                _ => self.next(),
            }
        }
    }
    let mut rng = Rng(seed as u64 | 1);
    let nonzero = 1i32;
    let own = layout::PROGRAM_REGION.0 + 0x2000_0000;
    let mut strange = 0;
    for _ in 0..3000 {
        let (a, b, c, d) = (rng.arg(own), rng.arg(own), rng.arg(own), rng.arg(own));
        let n = rng.next() % (Syscall::COUNT as u64 + 3);
        let (n, a, b) = match Syscall::try_from(n) {
            // Would end this task or thread early, or block it forever.
            Ok(Syscall::TaskExit | Syscall::ThreadExit | Syscall::TaskWait | Syscall::ThreadCreate) => continue,
            Ok(Syscall::Deschedule) if a % 2 == 0 => (n, &nonzero as *const i32 as u64, b),
            Ok(Syscall::Deschedule) => (n, a | 0xffff_0000_0000_0000, b), // always invalid
            Ok(Syscall::Sleep) => (n, a % 2, b),
            // Never real bytes: garbage on the console could break the test protocol.
            Ok(Syscall::Print) => (n, a | 0xffff_0000_0000_0000, b),
            Ok(Syscall::TaskSpawn) => (n, a | 0xffff_0000_0000_0000, b), // never a real name
            _ => (n, a, b),
        };
        // IPC may not wait: timeout 0 everywhere (nobody here is receiving, so nothing is
        // delivered and no reply can be awaited either).
        let (b, d, r8, r9) = match Syscall::try_from(n) {
            Ok(Syscall::IpcCall | Syscall::IpcReplyWait) => (0, d, c, 0),
            Ok(Syscall::IpcRecv) => (b, d, 0, 0),
            Ok(Syscall::IpcSend) => (
                b,
                d,
                c,
                libsys::abi::ipc::SendControl { timeout: 0, shared: c % 2 == 0, option_sync: (d % 4) as u32 }.encode(),
            ),
            _ => (b, d, c, d),
        };
        let ret: i64;
        // SAFETY: the kernel must validate everything; the only memory it may write is this
        // task's own, and the arguments above keep it from ending or blocking the task.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") n => ret,
                in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d, in("r8") r8, in("r9") r9,
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        if ret < 0 && Error::try_from(ret as i32).is_err() {
            strange += 1;
        }
    }
    let _ = raw::yield_to(-1);
    strange
}
