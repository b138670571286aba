//! One fuzzing thread: system calls with hostile arguments, and the known attacks.
//!
//! Arguments mix valid buffers in the task's own memory, pointers that straddle the end of
//! a mapping, kernel and non-canonical addresses, and garbage. What the kernel may write
//! goes only to memory this program never touches itself (the scratch and long-message
//! areas below, and locals), so no answer of the kernel's can break the fuzzer; what
//! could end or block the thread for good (exits, waits on live tasks, infinite timeouts,
//! threads started at valid addresses) is never asked for. Every return value must be a
//! success value or a known error code; anything else is counted as strange.

use crate::rng::Rng;
use crate::PARTICIPANTS;
use libsys::abi::ipc::{fast, SendControl};
use libsys::abi::{layout, Error, Syscall, PAGE_SIZE};
use libsys::raw;

const PAGE: u64 = PAGE_SIZE as u64;
/// Pages the kernel may write into (never read or written by this program itself).
const SCRATCH: u64 = layout::PROGRAM_REGION.0;
const SCRATCH_PAGES: u64 = 4;
/// Pages sent as long messages, moved and shared.
const LONG: u64 = SCRATCH + 0x10_000;
const LONG_PAGES: u64 = 16;
/// Where long messages are received.
const WINDOWS: u64 = SCRATCH + 0x100_000;
const WINDOW_PAGES: u64 = 1024;
/// `new_pages` far from everything else goes above this.
const FAR: u64 = SCRATCH + 0x1000_0000;

/// Maps this task's scratch and long-message areas (both threads use them).
pub fn map_areas() {
    // SAFETY: the program region's start is used by nothing else in this program.
    unsafe {
        raw::new_pages(SCRATCH as *mut u8, (SCRATCH_PAGES * PAGE) as u32);
        raw::new_pages(LONG as *mut u8, (LONG_PAGES * PAGE) as u32);
    }
}

/// Known attacks, each run once by every fuzzing thread before its random calls.
#[derive(Clone, Copy, Debug)]
pub enum Attack {
    /// Share one page to oneself (the sibling thread) many times, then share it on.
    ShareSelfMany,
    /// `new_pages` and `remove_pages` at far-apart addresses (page tables everywhere).
    FarApart,
    /// The fast path's call with a length of 256 (one past its byte).
    FastLen256,
    /// Set RFLAGS.NT with `popfq`, then yield: the kernel must not return with `iretq`
    /// into a nested-task fault.
    NestedTaskFlagYield,
}

/// The known attacks, each once a regression: every fuzzing thread runs them all.
pub const ATTACKS: &[Attack] =
    &[Attack::ShareSelfMany, Attack::FarApart, Attack::FastLen256, Attack::NestedTaskFlagYield];
/// Attacks that still bring the kernel down (none at present): a new one found by the
/// fuzzer waits here, run only with `--all-attacks`, until its fix lands and it moves into
/// `ATTACKS`.
pub const ATTACKS_AWAITING_KERNEL_FIXES: &[Attack] = &[];

pub struct Fuzzer {
    pub rng: Rng,
    me: u32,
    thread: u32,
    sibling: u32,
    tids: [u32; PARTICIPANTS],
    /// Calls that returned neither a value nor an error code.
    pub strange: u32,
    /// Regions this thread created last (for `remove_pages` that hit).
    recent: [u64; 8],
}

impl Fuzzer {
    pub fn new(rng: Rng, me: u32, thread: u32, sibling: u32, tids: [u32; PARTICIPANTS]) -> Fuzzer {
        Fuzzer { rng, me, thread, sibling, tids, strange: 0, recent: [0; 8] }
    }

    /// Makes `n` random calls.
    pub fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.step();
        }
    }

    /// A thread to talk to: mostly a participant, sometimes oneself, a stale or made-up id.
    fn tid(&mut self) -> u64 {
        match self.rng.below(16) {
            0 => self.me as u64,
            1 => self.sibling as u64,
            2 => 0,
            3 => u32::MAX as u64,
            // The same slot, a later generation (a thread that does not exist yet).
            4 => self.tids[self.rng.below(PARTICIPANTS as u64) as usize] as u64 + 256,
            5 => self.rng.next(),
            _ => self.tids[self.rng.below(PARTICIPANTS as u64) as usize] as u64,
        }
    }

    /// A pointer: valid, straddling a mapping's end, or not the caller's at all.
    fn ptr(&mut self) -> u64 {
        let r = self.rng.next();
        match self.rng.below(12) {
            0..=3 => SCRATCH + r % (SCRATCH_PAGES * PAGE),
            4 => SCRATCH + SCRATCH_PAGES * PAGE - r % 64,
            5 => SCRATCH - 1 - r % 64,
            6 => LONG + r % (LONG_PAGES * PAGE),
            7 => r % 0x1000,
            8 => [0xffff_ffff_8010_0000, 0xffff_8000_0000_0000, 0xffff_fe00_0000_0000][(r % 3) as usize],
            9 => 0x0000_8000_0000_0000 + r % 0x1000,
            10 => layout::USER_END - 1 - r % PAGE,
            _ => r,
        }
    }

    /// A pointer that is certainly not valid user memory.
    fn bad_ptr(&mut self) -> u64 {
        match self.rng.below(4) {
            0 => self.rng.below(layout::USER_MIN),
            1 => 0xffff_ffff_8000_0000 + self.rng.below(0x100_0000),
            2 => 0x0000_8000_0000_0000 | self.rng.next() >> 17,
            _ => u64::MAX - self.rng.below(64),
        }
    }

    /// A length: empty, small, a page, just past one, or huge.
    fn len(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => 0,
            1..=3 => self.rng.below(64),
            4 => PAGE,
            5 => PAGE + 1 + self.rng.below(8),
            6 => u32::MAX as u64 - self.rng.below(2),
            _ => self.rng.next(),
        }
    }

    /// A timeout that never waits for good: mostly polling, sometimes a tick or two,
    /// sometimes an invalid value (negative, but never -1, which is forever).
    fn timeout(&mut self) -> u64 {
        let t: i32 = match self.rng.below(64) {
            0..=52 => 0,
            53..=57 => 1,
            58 => 2,
            59..=61 => -2 - self.rng.below(1000) as i32,
            _ => i32::MIN,
        };
        t as u32 as u64
    }

    /// Where a `new_pages`/`remove_pages` goes: the areas, far away, or invalid.
    fn region_base(&mut self) -> u64 {
        match self.rng.below(8) {
            0 | 1 => self.recent[self.rng.below(8) as usize],
            2 => LONG + self.rng.below(LONG_PAGES) * PAGE,
            3 => WINDOWS + self.rng.below(WINDOW_PAGES) * PAGE,
            4 | 5 => FAR + self.rng.below((layout::PROGRAM_REGION.1 - FAR) / PAGE) * PAGE,
            6 => self.ptr(),
            _ => self.bad_ptr(),
        }
    }

    /// One random system call.
    pub fn step(&mut self) {
        let mut n = self.rng.below(Syscall::COUNT as u64 + 2);
        let mut a = [0u64; 6];
        for x in a.iter_mut() {
            *x = self.rng.next();
        }
        let nonzero: i32 = 1;
        let name = *b"nosuch";
        let (mut len_long, mut len_short) = (self.len() as u32, self.len() as u32);
        let len_long_ptr = &mut len_long as *mut u32 as u64;
        let len_short_ptr = &mut len_short as *mut u32 as u64;
        match Syscall::try_from(n) {
            Err(_) => {
                if self.rng.one_in(2) {
                    n = u64::MAX - self.rng.below(4);
                }
            }
            Ok(Syscall::Gettid | Syscall::GetTicks | Syscall::FreeFrames) => {}
            Ok(Syscall::YieldTo | Syscall::MakeRunnable) => {
                a[0] = if self.rng.one_in(4) { u64::MAX } else { self.tid() };
            }
            // `*reject` non-zero, or an invalid pointer: never blocks.
            Ok(Syscall::Deschedule) => {
                a[0] = if self.rng.one_in(2) { &nonzero as *const i32 as u64 } else { self.bad_ptr() };
            }
            Ok(Syscall::Sleep) => {
                a[0] = [0, 0, 0, 1, -1i32 as u32 as u64, i32::MIN as u32 as u64][self.rng.below(6) as usize];
                if a[0] == 1 && !self.rng.one_in(8) {
                    a[0] = 0;
                }
            }
            Ok(Syscall::NewPages) => {
                a[0] = self.region_base();
                a[1] = match self.rng.below(4) {
                    0 => PAGE,
                    1 => self.rng.below(16) * PAGE,
                    2 => self.len(),
                    _ => (1 + self.rng.below(4)) * PAGE,
                };
            }
            Ok(Syscall::RemovePages) => a[0] = self.region_base(),
            // Only invalid starting points: a thread started anywhere valid would fault and
            // end this task.
            Ok(Syscall::ThreadCreate) => {
                a[0] = self.bad_ptr();
                if self.rng.one_in(2) {
                    a[1] = self.bad_ptr();
                }
            }
            // Would end this thread or task.
            Ok(Syscall::ThreadExit | Syscall::TaskExit) => n = Syscall::Gettid as u64,
            Ok(Syscall::TaskSpawn) => {
                a[0] = if self.rng.one_in(2) { name.as_ptr() as u64 } else { self.bad_ptr() };
                a[1] = self.rng.below(40);
            }
            // Invalid buffers of any capacity (a valid one with none: records written over
            // this task's own data would break it, not the kernel).
            Ok(Syscall::Ps | Syscall::ImagePrograms) => {
                a[1] = [0, 1, 4, 400, u64::MAX][self.rng.below(5) as usize];
                a[0] = if a[1] == 0 { self.ptr() } else { self.bad_ptr() };
            }
            // Only ids no task has: waiting for a live one could wait for good, and killing
            // this task or its children would end the run.
            Ok(Syscall::TaskWait | Syscall::TaskKill) => {
                a[0] = [0, u32::MAX as u64, 1 << 31 | self.rng.next() as u32 as u64, self.rng.next() | 1 << 40]
                    [self.rng.below(4) as usize];
            }
            // Never real text: garbage on the console could break the runner's protocol.
            Ok(Syscall::Print) => {
                if self.rng.one_in(2) {
                    a[0] = self.bad_ptr();
                    a[1] = self.len();
                } else {
                    a[0] = self.ptr();
                    a[1] = 0;
                }
            }
            Ok(Syscall::IpcSend) => {
                let control = SendControl {
                    timeout: self.timeout() as u32 as i32,
                    shared: self.rng.one_in(2),
                    option_sync: self.rng.below(4) as u32,
                };
                a = [
                    self.tid(),
                    if self.rng.one_in(2) { LONG + self.rng.below(LONG_PAGES) * PAGE } else { self.ptr() },
                    self.ptr(),
                    self.rng.below(6),
                    if self.rng.one_in(8) { self.ptr() } else { len_short_ptr },
                    control.encode(),
                ];
                if self.rng.one_in(8) {
                    a[3] = self.len();
                }
            }
            Ok(Syscall::IpcRecv) => {
                a = [
                    match self.rng.below(4) {
                        0 => 0,
                        1 => self.ptr(),
                        _ => WINDOWS + self.rng.below(WINDOW_PAGES) * PAGE,
                    },
                    self.ptr(),
                    if self.rng.one_in(8) { self.ptr() } else { len_long_ptr },
                    if self.rng.one_in(8) { self.ptr() } else { len_short_ptr },
                    self.timeout(),
                    0,
                ];
            }
            Ok(Syscall::IpcReply) => {
                a[0] = self.ptr();
                a[1] = self.len();
            }
            Ok(Syscall::IpcCall) => {
                let len = [0, 1, 40, 41, 255, 256, self.rng.below(512)][self.rng.below(7) as usize];
                let (to, timeout) = (self.tid() as u32 as u64, self.timeout());
                return self.fast(n, to | len << 32, timeout);
            }
            Ok(Syscall::IpcReplyWait) => {
                let rdi = if self.rng.one_in(2) { fast::NO_REPLY } else { self.rng.below(300) };
                let timeout = self.timeout();
                return self.fast(n, rdi, timeout);
            }
            Ok(Syscall::IrqBind | Syscall::IrqAck) => a[0] = self.rng.below(20),
            Ok(Syscall::KernelStats) => {
                a[0] = self.ptr();
                a[1] = self.len();
            }
        }
        let (ret, rdx) = syscall(n, a);
        self.check(n, ret, rdx);
        if n == Syscall::NewPages as u64 && ret == 0 {
            self.recent[self.rng.below(8) as usize] = a[0];
        }
    }

    /// A fast-path call (`IpcCall`, `IpcReplyWait`): registers only.
    fn fast(&mut self, n: u64, rdi: u64, rsi: u64) {
        let mut w = [0u64; 5];
        for x in w.iter_mut() {
            *x = self.rng.next();
        }
        let (ret, rdi_out): (i64, u64);
        // SAFETY: registers only; the kernel reads and writes exactly these.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") n => ret,
                inlateout("rdi") rdi => rdi_out,
                inlateout("rsi") rsi => _,
                inlateout("rdx") w[0] => _,
                inlateout("r10") w[1] => _,
                inlateout("r8") w[2] => _,
                inlateout("r9") w[3] => _,
                inlateout("r12") w[4] => _,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        self.check(n, ret, rdi_out);
    }

    /// Judges a return value; learns the sender of what a receive got.
    fn check(&mut self, n: u64, ret: i64, sender: u64) {
        if ret < 0 && n != Syscall::GetTicks as u64 && Error::try_from(ret as i32).is_err() {
            self.strange += 1;
        }
        let received = n == Syscall::IpcRecv as u64 || n == Syscall::IpcReplyWait as u64;
        if received && ret >= 0 && sender as u32 != 0 {
            // A new generation of a victim, maybe: talk to it from now on.
            self.tids[self.rng.below(PARTICIPANTS as u64) as usize] = sender as u32;
        }
    }

    /// Runs the known attacks (see [`ATTACKS`]), and with `all` those awaiting fixes too.
    pub fn attacks(&mut self, all: bool) {
        let pending = if all { ATTACKS_AWAITING_KERNEL_FIXES } else { &[] };
        for &attack in ATTACKS.iter().chain(pending) {
            self.attack(attack);
        }
    }

    fn attack(&mut self, attack: Attack) {
        match attack {
            Attack::ShareSelfMany => self.share_self_many(),
            Attack::FarApart => {
                let mut bases = [0u64; 6];
                for (i, b) in bases.iter_mut().enumerate() {
                    // One per 512 GiB: each needs page tables of its own at every level.
                    *b = FAR + (i as u64 * (1 << 39) + self.thread as u64 * (1 << 30)) % (1 << 46);
                    *b = (*b).min(layout::PROGRAM_REGION.1 - 2 * PAGE);
                    syscall(Syscall::NewPages as u64, [*b, PAGE, 0, 0, 0, 0]);
                }
                for b in bases {
                    syscall(Syscall::RemovePages as u64, [b, 0, 0, 0, 0, 0]);
                }
            }
            Attack::FastLen256 => {
                for tid in [self.sibling, self.me, self.tids[0]] {
                    self.fast(Syscall::IpcCall as u64, tid as u64 | 256 << 32, 0);
                }
            }
            Attack::NestedTaskFlagYield => {
                // SAFETY: sets NT (bit 14) in RFLAGS, then yields; the kernel must return
                // to us normally. Only flags change; the stack is restored by the pop.
                unsafe {
                    core::arch::asm!(
                        "pushfq",
                        "or qword ptr [rsp], 0x4000",
                        "popfq",
                        "syscall",
                        inlateout("rax") Syscall::YieldTo as u64 => _,
                        in("rdi") -1i64 as u64,
                        lateout("rcx") _,
                        lateout("r11") _,
                    );
                }
            }
        }
    }

    /// Thread 0 shares one long-area page with its sibling many times (each lands in a
    /// new window, so the frame's map count climbs); thread 1 receives them and shares
    /// every window on to someone else, then drops them.
    fn share_self_many(&mut self) {
        const TIMES: u64 = 96;
        if self.thread == 0 {
            for _ in 0..TIMES {
                let mut len = 0u32;
                let control = SendControl { timeout: 5, shared: true, option_sync: 2 }.encode();
                let args = [self.sibling as u64, LONG, SCRATCH, 1, &mut len as *mut u32 as u64, control];
                syscall(Syscall::IpcSend as u64, args);
            }
        } else {
            for i in 0..TIMES {
                let (mut ll, mut ls) = (1u32, 0u32);
                let window = WINDOWS + i * PAGE;
                let args = [window, SCRATCH, &mut ll as *mut u32 as u64, &mut ls as *mut u32 as u64, 5, 0];
                syscall(Syscall::IpcRecv as u64, args);
            }
            for i in 0..TIMES {
                let to = self.tid();
                let mut len = 0u32;
                let control = SendControl { timeout: 0, shared: true, option_sync: 2 }.encode();
                let args = [to, WINDOWS + i * PAGE, SCRATCH, 1, &mut len as *mut u32 as u64, control];
                syscall(Syscall::IpcSend as u64, args);
            }
            for i in 0..TIMES {
                syscall(Syscall::RemovePages as u64, [WINDOWS + i * PAGE, 0, 0, 0, 0, 0]);
            }
        }
    }
}

/// A system call with six argument registers; returns `rax` and `rdx`.
fn syscall(n: u64, a: [u64; 6]) -> (i64, u64) {
    // SAFETY: every pointer among the arguments is either invalid (the kernel must refuse
    // it) or names memory only the kernel writes (scratch, long area, windows, the
    // caller's locals made for it), and no call can end or block this thread for good.
    unsafe { libsys::raw::syscall_number(n, a) }
}
