//! Kernel tracing of IPC and scheduling events (docs/tracing.md): a fixed-size ring of
//! [`Record`]s, printed on the console at power-off for `cargo xtask trace`.
//!
//! Tracing exists only in a kernel built with the `trace` feature. The hooks in the IPC
//! and scheduling code are one [`trace_event!`](crate::trace_event) each, which expands to
//! nothing without the feature: its arguments are not even evaluated, so an ordinary
//! kernel (the one the benchmarks measure) has no tracing code at all on its paths.
//!
//! Invariants:
//! - The ring holds the newest `N` records; a record made when it is full overwrites the
//!   oldest, and is counted, so the dump says how many were lost ([`Ring::dropped`]).
//! - Recording never fails, allocates or panics: the kernel's state is never touched, only
//!   read, so a tracing kernel behaves like an ordinary one, a little slower.
//! - The task-name table keeps the newest `M` names; a task whose name was overwritten is
//!   shown by its id alone.

use abi::image::NAME_MAX;
use abi::trace::{Record, PREFIX};
use core::fmt::{self, Write};

/// Records kept by the tracing kernel: 8192 × 32 bytes = 256 KiB of `.bss`, only in a
/// kernel built with the `trace` feature. A client/server round trip makes about ten.
pub const CAPACITY: usize = 8192;

/// Task names kept (one per task started, newest first to survive).
pub const NAMES: usize = 128;

const EMPTY: Record = Record { time: 0, kind: 0, detail: 0, tid: 0, task: 0, peer: 0, value: 0 };

/// The newest `N` records and the count of all ever made.
pub struct Ring<const N: usize> {
    records: [Record; N],
    /// Records ever pushed; the next goes to `recorded % N`.
    recorded: u64,
}

impl<const N: usize> Ring<N> {
    pub const fn new() -> Self {
        Ring { records: [EMPTY; N], recorded: 0 }
    }

    /// Adds `r`, overwriting the oldest record if the ring is full.
    pub fn push(&mut self, r: Record) {
        if let Some(slot) = self.records.get_mut((self.recorded % N as u64) as usize) {
            *slot = r;
        }
        self.recorded += 1;
    }

    /// Records ever pushed.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Records overwritten before anyone read them.
    pub fn dropped(&self) -> u64 {
        self.recorded.saturating_sub(N as u64)
    }

    /// The records held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        let held = self.recorded.min(N as u64) as usize;
        let start = (self.recorded - held as u64) % N.max(1) as u64;
        (0..held).filter_map(move |i| self.records.get((start as usize + i) % N))
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Task id → program name, for the newest `M` tasks.
pub struct Names<const M: usize> {
    entries: [(u32, [u8; NAME_MAX], u8); M],
    next: usize,
}

impl<const M: usize> Names<M> {
    pub const fn new() -> Self {
        Names { entries: [(0, [0; NAME_MAX], 0); M], next: 0 }
    }

    /// Task `id` runs program `name` (cut to `NAME_MAX` bytes).
    pub fn add(&mut self, id: u32, name: &str) {
        let len = name.len().min(NAME_MAX);
        let mut bytes = [0u8; NAME_MAX];
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        if let Some(e) = self.entries.get_mut(self.next % M.max(1)) {
            *e = (id, bytes, len as u8);
        }
        self.next = self.next.wrapping_add(1);
    }

    /// The names held, as (task id, name).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        self.entries.iter().filter(|e| e.0 != 0).map(|(id, bytes, len)| {
            let name = bytes.get(..*len as usize).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or("?");
            (*id, name)
        })
    }
}

impl<const M: usize> Default for Names<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the dump (the `abi::trace` line protocol) of `ring` and `names` to `out`.
pub fn write_dump<const N: usize, const M: usize>(
    ring: &Ring<N>,
    names: &Names<M>,
    out: &mut impl Write,
) -> fmt::Result {
    writeln!(out, "{PREFIX}begin {N} {} {}", ring.recorded(), ring.dropped())?;
    for (id, name) in names.iter() {
        // A name with a line break or a space at the end would not come back whole.
        let name = name.trim_end();
        if !name.contains(['\n', '\r']) {
            writeln!(out, "{PREFIX}task {id} {name}")?;
        }
    }
    for r in ring.iter() {
        let hex = r.to_hex();
        // The digits are ASCII by construction.
        writeln!(out, "{PREFIX}ev {}", core::str::from_utf8(&hex).unwrap_or(""))?;
    }
    writeln!(out, "{PREFIX}end")
}

/// Parses a dump back: (records, names, dropped). For tests of the line protocol's two
/// ends; the runner has its own, more forgiving reader.
#[cfg(test)]
fn undump(text: &str) -> (Vec<Record>, Vec<(u32, String)>, u64) {
    use abi::trace::Line;
    let mut out = (Vec::new(), Vec::new(), 0);
    for line in text.lines() {
        match Line::parse(line).expect("every line is a trace line") {
            Line::Begin { dropped, .. } => out.2 = dropped,
            Line::Task { id, name } => out.1.push((id, name.to_string())),
            Line::Event(r) => out.0.push(r),
            Line::End => {}
        }
    }
    out
}

/// Records `body` (an expression, usually a call of a function of this module) only in a
/// kernel built with the `trace` feature; otherwise expands to nothing and evaluates
/// nothing.
#[macro_export]
macro_rules! trace_event {
    ($body:expr) => {
        #[cfg(all(feature = "trace", target_os = "none"))]
        $body;
    };
}

#[cfg(all(feature = "trace", target_os = "none"))]
pub use hooks::*;

/// What the hooks record, and the one ring they record into.
#[cfg(all(feature = "trace", target_os = "none"))]
mod hooks {
    use super::{Names, Ring, CAPACITY, NAMES};
    use crate::lock::Lock;
    use crate::task::{Core, State, TaskId, ThreadSlot, Tid};
    use abi::trace::{BlockReason, Kind, Record, RECV_INTERRUPT};

    struct Tracer {
        ring: Ring<CAPACITY>,
        names: Names<NAMES>,
    }

    /// Taken only inside kernel entries (interrupts off) and at power-off, never while
    /// anything else is held, and nothing is called with it held: it cannot deadlock.
    static TRACER: Lock<Tracer> = Lock::new("TRACER", Tracer { ring: Ring::new(), names: Names::new() });

    fn record(kind: Kind, detail: u8, tid: u32, task: u32, peer: u32, value: u64) {
        // SAFETY: RDTSC reads a counter; it has no side effects.
        let time = unsafe { core::arch::x86_64::_rdtsc() };
        TRACER.lock().ring.push(Record { time, kind: kind as u8, detail, tid, task, peer, value });
    }

    /// A record about thread `slot` of `core`.
    fn about<S, B>(core: &Core<S, B>, slot: ThreadSlot, kind: Kind, detail: u8, peer: u32, value: u64) {
        let Some(t) = core.threads.get(slot.index()) else { return };
        let task = core.tasks.get(t.task.index()).map_or(0, |k| k.id.raw());
        record(kind, detail, t.tid.raw(), task, peer, value);
    }

    fn tid_of<S, B>(core: &Core<S, B>, slot: ThreadSlot) -> u32 {
        core.threads.get(slot.index()).map_or(0, |t| t.tid.raw())
    }

    /// Thread `me` sends message `seq` to thread `to` with `mode`.
    pub fn send<S, B>(core: &Core<S, B>, me: ThreadSlot, to: ThreadSlot, seq: u64, mode: abi::ipc::SendMode) {
        about(core, me, Kind::Send, mode as u8, tid_of(core, to), seq);
    }

    /// Thread `me` receives message `seq` from thread `from_tid`.
    pub fn recv<S, B>(core: &Core<S, B>, me: ThreadSlot, from_tid: Tid, seq: u64) {
        about(core, me, Kind::Recv, 0, from_tid.raw(), seq);
    }

    /// Thread `me` receives interrupt `irq`.
    pub fn interrupt<S, B>(core: &Core<S, B>, me: ThreadSlot, irq: u8) {
        about(core, me, Kind::Recv, RECV_INTERRUPT, abi::ipc::KERNEL_TID, irq as u64);
    }

    /// Thread `me` replies to `to_tid` for message `seq`.
    pub fn reply<S, B>(core: &Core<S, B>, me: ThreadSlot, to_tid: Tid, seq: u64, delivered: bool) {
        about(core, me, Kind::Reply, delivered as u8, to_tid.raw(), seq);
    }

    /// Thread `slot` blocks in `state`.
    pub fn block<S, B>(core: &Core<S, B>, slot: ThreadSlot, state: State) {
        let (reason, peer) = match state {
            State::Sending { to, .. } => (BlockReason::Send, tid_of(core, to)),
            State::AwaitingReply { from, .. } => (BlockReason::Reply, tid_of(core, from)),
            State::Receiving(_) => (BlockReason::Receive, 0),
            State::Sleeping => (BlockReason::Sleep, 0),
            State::Descheduled => (BlockReason::Deschedule, 0),
            State::WaitingTask(_) => (BlockReason::TaskWait, 0),
            _ => (BlockReason::Other, 0),
        };
        about(core, slot, Kind::Block, reason as u8, peer, 0);
    }

    /// Thread `slot` is woken with `value`.
    pub fn wake<S, B>(core: &Core<S, B>, slot: ThreadSlot, value: i64) {
        about(core, slot, Kind::Wake, 0, 0, value as u64);
    }

    /// Thread `slot` gets the CPU.
    pub fn run<S, B>(core: &Core<S, B>, slot: ThreadSlot) {
        about(core, slot, Kind::Run, 0, 0, 0);
    }

    /// Nothing runs.
    pub fn idle() {
        record(Kind::Idle, 0, 0, 0, 0, 0);
    }

    /// Task `id` runs program `name`.
    pub fn task_named(id: TaskId, name: &str) {
        TRACER.lock().names.add(id.raw(), name);
    }

    /// Writes the dump to `out` (the console, at power-off).
    pub fn dump(out: &mut impl core::fmt::Write) {
        let t = TRACER.lock();
        let _ = super::write_dump(&t.ring, &t.names, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::trace::Kind;

    fn rec(time: u64) -> Record {
        Record { time, kind: Kind::Send as u8, detail: 1, tid: 3, task: 2, peer: 4, value: time * 10 }
    }

    #[test]
    fn an_empty_ring_holds_nothing() {
        let r: Ring<4> = Ring::new();
        assert_eq!((r.iter().count(), r.recorded(), r.dropped()), (0, 0, 0));
    }

    #[test]
    fn records_come_out_oldest_first_before_the_ring_fills() {
        let mut r: Ring<4> = Ring::new();
        for t in 1..=3 {
            r.push(rec(t));
        }
        let times: Vec<u64> = r.iter().map(|e| e.time).collect();
        assert_eq!(times, [1, 2, 3]);
        assert_eq!(r.dropped(), 0);
    }

    #[test]
    fn a_full_ring_overwrites_the_oldest_and_counts_them() {
        let mut r: Ring<4> = Ring::new();
        for t in 1..=11 {
            r.push(rec(t));
        }
        let times: Vec<u64> = r.iter().map(|e| e.time).collect();
        assert_eq!(times, [8, 9, 10, 11], "the newest four, oldest first");
        assert_eq!((r.recorded(), r.dropped()), (11, 7));
    }

    #[test]
    fn exactly_full_drops_nothing() {
        let mut r: Ring<4> = Ring::new();
        for t in 1..=4 {
            r.push(rec(t));
        }
        assert_eq!(r.iter().map(|e| e.time).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(r.dropped(), 0);
    }

    #[test]
    fn names_keep_the_newest_and_cut_long_ones() {
        let mut n: Names<2> = Names::new();
        n.add(1, "init");
        n.add(2, "server");
        n.add(3, &"x".repeat(NAME_MAX + 5));
        let mut got: Vec<(u32, String)> = n.iter().map(|(i, s)| (i, s.to_string())).collect();
        got.sort();
        assert_eq!(got, [(2, "server".to_string()), (3, "x".repeat(NAME_MAX))]);
    }

    #[test]
    fn a_dump_parses_back_to_what_was_recorded() {
        let mut r: Ring<8> = Ring::new();
        for t in 1..=10 {
            r.push(rec(t));
        }
        let mut n: Names<4> = Names::new();
        n.add(2, "pingpong");
        let mut text = String::new();
        write_dump(&r, &n, &mut text).unwrap();
        let (records, names, dropped) = undump(&text);
        assert_eq!(records, r.iter().copied().collect::<Vec<_>>());
        assert_eq!(records.len(), 8);
        assert_eq!(names, [(2, "pingpong".to_string())]);
        assert_eq!(dropped, 2);
        assert!(text.starts_with("moroso-trace begin 8 10 2\n"), "{text}");
        assert!(text.ends_with("moroso-trace end\n"));
    }

    #[test]
    fn a_name_that_would_break_the_line_protocol_is_left_out() {
        let r: Ring<2> = Ring::new();
        let mut n: Names<2> = Names::new();
        n.add(5, "bad\nname");
        let mut text = String::new();
        write_dump(&r, &n, &mut text).unwrap();
        assert!(!text.contains("task 5"), "{text}");
    }
}
