//! The boot image: the user programs handed to the kernel as QEMU's `-initrd`, written by
//! `xtask` and read by the kernel.
//!
//! Layout (all little-endian):
//! ```text
//! ImageHeader
//! ImageEntry × count
//! program bytes, each at its entry's offset (8-byte aligned)
//! ```
//! Program 0 is started at boot. The format is versioned by its magic.
//!
//! Each entry also says what its tasks may do and hold: device [`Grants`] and per-task
//! [`Limits`] (shares of the kernel's global tables). The packer writes them from its
//! per-program settings; the kernel gives them to every task started from the entry.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"MOROSOI4"`: identifies the format and its version (2: entries carry grants; 3: and
/// limits; 4: and their [`Boot`] policy).
pub const MAGIC: [u8; 8] = *b"MOROSOI4";
/// Longest program name, in bytes.
pub const NAME_MAX: usize = 32;
/// Most programs in one image.
pub const MAX_PROGRAMS: usize = 64;

/// Bit of program 0's argument (`task::arg()`) set when the kernel command line says
/// `interactive`: a person is at the console (`cargo xtask run` on a terminal).
pub const FIRST_ARG_INTERACTIVE: u64 = 1 << 0;

/// The start of a boot image: what it is and how many programs follow.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct ImageHeader {
    /// [`MAGIC`]: anything else is not a boot image.
    pub magic: [u8; 8],
    /// Number of `ImageEntry` records after the header.
    pub count: u32,
    /// Zero.
    pub reserved: u32,
}

/// One program of a boot image: its name, where its ELF lies, and what its tasks get.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct ImageEntry {
    /// The name, NUL-padded (`task_spawn` looks programs up by it).
    pub name: [u8; NAME_MAX],
    /// Offset of the program's ELF from the start of the image.
    pub offset: u64,
    /// Size of the ELF in bytes.
    pub size: u64,
    /// What every task started from this program may do beyond ordinary programs.
    pub grants: Grants,
    /// How much of the kernel's shared tables every task started from it may take.
    pub limits: Limits,
    /// Whether init starts it at boot, waits for it, and restarts it.
    pub boot: Boot,
}

/// What init (program 0) does with a program of the image: the kernel only starts program
/// 0 and carries this for it (`image_programs`). Written by the xtask from the manifest.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Boot {
    /// Non-zero: init starts it at boot, in image order.
    pub start: u8,
    /// Non-zero: the system's work is done when every awaited program has ended; init
    /// then stops the rest and powers off (status 0 only if each awaited one ended 0).
    pub awaited: u8,
    /// A [`Restart`] value: what init does when the program's task ends.
    pub restart: u8,
    /// Zero.
    pub reserved: u8,
    /// Most restarts init makes of it (a crash loop stops there).
    pub restart_max: u16,
    /// Zero.
    pub reserved2: u16,
}

/// Restart policies ([`Boot::restart`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Restart {
    /// Never restarted.
    Never = 0,
    /// Restarted when it ends with a non-zero status (a crash, a fault, a panic).
    OnFailure = 1,
    /// Restarted whenever it ends.
    Always = 2,
}

impl Restart {
    /// The policy a [`Boot::restart`] byte names, if any.
    pub const fn from_u8(v: u8) -> Option<Restart> {
        match v {
            0 => Some(Restart::Never),
            1 => Some(Restart::OnFailure),
            2 => Some(Restart::Always),
            _ => None,
        }
    }
}

impl Boot {
    /// Not started at boot, never restarted: a program others start by name.
    pub const NONE: Boot = Boot { start: 0, awaited: 0, restart: 0, reserved: 0, restart_max: 0, reserved2: 0 };

    /// Whether its fields have values init understands.
    pub const fn is_valid(&self) -> bool {
        self.start <= 1
            && self.awaited <= 1
            && Restart::from_u8(self.restart).is_some()
            && self.reserved == 0
            && self.reserved2 == 0
    }
}

/// One program of the image as `image_programs` reports it (no ELF: its name and policy).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct ProgramInfo {
    /// The name, NUL-padded.
    pub name: [u8; NAME_MAX],
    /// What init does with it.
    pub boot: Boot,
}

impl ProgramInfo {
    /// No program: what a buffer is filled with before the call.
    pub const EMPTY: ProgramInfo = ProgramInfo { name: [0; NAME_MAX], boot: Boot::NONE };

    /// The name without its padding (`""` if not UTF-8).
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        core::str::from_utf8(&self.name[..len]).unwrap_or("")
    }
}

const _: () = assert!(size_of::<ProgramInfo>() == 40);

/// Default of [`Limits::threads`]: 32 of the kernel's 255 thread slots, so no one task can
/// take the table.
pub const THREADS_DEFAULT: u16 = 32;
/// Default of [`Limits::tasks`]: 16 of the kernel's 63 task slots.
pub const TASKS_DEFAULT: u16 = 16;
/// Default of [`Limits::async_per_mailbox`]: a quarter of `ipc::ASYNC_QUEUE_MAX`.
pub const ASYNC_PER_MAILBOX_DEFAULT: u16 = (crate::ipc::ASYNC_QUEUE_MAX / 4) as u16;
/// Default of [`Limits::kernel_frames`]: the kernel frames (page tables) one address space
/// may make the kernel hold; the reasoning is at [`crate::limits::KERNEL_FRAMES`].
pub const KERNEL_FRAMES_DEFAULT: u32 = crate::limits::KERNEL_FRAMES;

/// A task's shares of the kernel's global tables, from its program's boot-image entry.
/// Reaching a share is the same failure as the table being full, for that task only.
///
/// The asynchronous share is what keeps one sender from locking others out of a mailbox.
/// A mailbox holds at most `Q = ipc::ASYNC_QUEUE_MAX` buffered messages, and any task other
/// than the mailbox's own at most its `C = async_per_mailbox` of them, so `n` such tasks
/// hold at most `n * C`. Guarantee: a sender's first message into a mailbox fits whenever
/// the tasks with messages there (other than the sender's and the mailbox's own) number
/// `n` with `n * C < Q`, i.e. fewer than `Q / C` rounded up; with the defaults (`Q = 16`,
/// `C = 4`), three tasks flooding one mailbox cannot keep a fourth out, and one flooder
/// leaves 12 places to everyone else. (The sender must also be under its
/// `ipc::ASYNC_TASK_MAX`, and kernel memory must last.) Messages a task buffers in its own
/// threads' mailboxes are not counted against `C` (they crowd out no one else), only
/// against `Q` and `ipc::ASYNC_TASK_MAX`; a program given `C = Q` can fill a mailbox, which
/// only a trusted program's settings should allow.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Limits {
    /// Threads the task may have at once (running or blocked; an exited thread no longer
    /// counts). At least 1: the task's first thread counts. Past it: `OutOfMemory`.
    pub threads: u16,
    /// Tasks it may have started that are still alive or whose status it has not
    /// collected with `task_wait`. Past it: `OutOfMemory`.
    pub tasks: u16,
    /// Asynchronous messages it may have buffered in any one other task's mailbox (at most
    /// `ipc::ASYNC_QUEUE_MAX`). Past it: `QueueFull`.
    pub async_per_mailbox: u16,
    /// Zero.
    pub reserved: u16,
    /// Frames of kernel memory (page tables) its address space may use. Carried for the
    /// address-space side to enforce.
    pub kernel_frames: u32,
    /// Zero.
    pub reserved2: u32,
}

impl Limits {
    /// What a program gets unless its boot-image settings say otherwise.
    pub const DEFAULT: Limits = Limits {
        threads: THREADS_DEFAULT,
        tasks: TASKS_DEFAULT,
        async_per_mailbox: ASYNC_PER_MAILBOX_DEFAULT,
        reserved: 0,
        kernel_frames: KERNEL_FRAMES_DEFAULT,
        reserved2: 0,
    };
    /// No share below the global bounds: the tables themselves and the mailbox bound.
    pub const UNBOUNDED: Limits = Limits {
        threads: u16::MAX,
        tasks: u16::MAX,
        async_per_mailbox: crate::ipc::ASYNC_QUEUE_MAX as u16,
        reserved: 0,
        kernel_frames: u32::MAX,
        reserved2: 0,
    };

    /// Whether the kernel can honour these limits: a first thread, an asynchronous share
    /// within the mailbox bound, reserved fields zero.
    pub const fn is_valid(&self) -> bool {
        self.threads >= 1
            && self.async_per_mailbox as usize <= crate::ipc::ASYNC_QUEUE_MAX
            && self.reserved == 0
            && self.reserved2 == 0
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

const _: () = assert!(Limits::DEFAULT.is_valid() && Limits::UNBOUNDED.is_valid());
// The asynchronous default leaves room: one flooder cannot fill a mailbox.
const _: () = assert!((ASYNC_PER_MAILBOX_DEFAULT as usize) < crate::ipc::ASYNC_QUEUE_MAX);

/// Device capabilities, granted by the boot image's description of which program drives
/// what (never by asking at run time).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Grants {
    /// IRQ lines (bit n: IRQ n) the task may bind with `irq_bind`.
    pub irqs: u16,
    /// I/O ports `[io_base, io_base + io_count)` the task may use (`in`/`out`).
    pub io_base: u16,
    /// How many ports from `io_base` (0: none).
    pub io_count: u16,
    /// Rights over other tasks ([`powers`] bits).
    pub powers: u16,
}

/// The PC's first serial port: the kernel's console, and the device of the user-level
/// console server and of `irqtest`.
pub mod com1 {
    /// Its interrupt line.
    pub const IRQ: u8 = 4;
    /// Its first I/O port; the 16550's registers are `PORT..PORT + PORTS`.
    pub const PORT: u16 = 0x3f8;
    /// How many ports its registers take.
    pub const PORTS: u16 = 8;
}

/// [`Grants::powers`] bits: rights over other tasks rather than devices.
pub mod powers {
    /// May `task_kill` any task, not only its own descendants (the shell's `kill`).
    pub const KILL: u16 = 1 << 0;
}

impl Grants {
    /// No device at all: what an ordinary program gets.
    pub const NONE: Grants = Grants { irqs: 0, io_base: 0, io_count: 0, powers: 0 };
    /// Only the right to end any task.
    pub const KILL: Grants = Grants { powers: powers::KILL, ..Grants::NONE };
    /// COM1: its interrupt line and its eight ports.
    pub const COM1: Grants = Grants { irqs: 1 << com1::IRQ, io_base: com1::PORT, io_count: com1::PORTS, powers: 0 };

    /// Whether IRQ line `irq` may be bound.
    pub const fn has_irq(&self, irq: u8) -> bool {
        irq < 16 && self.irqs & (1 << irq) != 0
    }

    /// Whether this task may end any task, not only its own descendants.
    pub const fn may_kill(&self) -> bool {
        self.powers & powers::KILL != 0
    }

    /// Whether I/O port `port` is inside the granted range.
    pub const fn has_port(&self, port: u16) -> bool {
        port >= self.io_base && (port as u32) < self.io_base as u32 + self.io_count as u32
    }
}

impl ImageEntry {
    /// The name without its padding (`None` if not UTF-8).
    pub fn name(&self) -> Option<&str> {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        core::str::from_utf8(&self.name[..len]).ok()
    }
}

const _: () = assert!(size_of::<ImageHeader>() == 16 && size_of::<ImageEntry>() == 80);
