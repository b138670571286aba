//! Kernel trace records: what a tracing kernel (built with its `trace` feature) records
//! about IPC and scheduling, and the console lines that carry the records to the host
//! runner at power-off (`cargo xtask trace` reads them; docs/tracing.md).
//!
//! A record is 32 bytes, little-endian, with a fixed layout ([`Record::to_bytes`]). At
//! power-off the kernel prints, one record per line:
//! ```text
//! moroso-trace begin <capacity> <recorded> <dropped>
//! moroso-trace task <task id> <name>
//! moroso-trace ev <64 hex digits: one record>
//! moroso-trace end
//! ```
//! `recorded` counts every record ever made, `dropped` those overwritten because the ring
//! was full (the oldest go first), so `recorded - dropped` `ev` lines follow, oldest first.
//! The prefix is unusual so that no ordinary output matches it; the runner strips these
//! lines from the console it shows.

use num_enum::{IntoPrimitive, TryFromPrimitive};

/// Prefix of every trace line.
pub const PREFIX: &str = "moroso-trace ";

/// Bytes of one encoded record.
pub const RECORD_BYTES: usize = 32;

/// Hex digits of one record on an `ev` line.
pub const RECORD_HEX: usize = 2 * RECORD_BYTES;

/// What a record says happened. `tid`/`task` name the thread it is about.
#[derive(Clone, Copy, PartialEq, Eq, Debug, IntoPrimitive, TryFromPrimitive)]
#[repr(u8)]
pub enum Kind {
    /// `tid` sent message `value` (the kernel's send-order number) to thread `peer`;
    /// `detail` is the send mode (`abi::ipc::SendMode`).
    Send = 1,
    /// `tid` received message `value` from thread `peer`; `detail` is [`RECV_INTERRUPT`]
    /// for an interrupt (then `peer` is `abi::ipc::KERNEL_TID` and `value` the IRQ line).
    Recv = 2,
    /// `tid` replied to thread `peer` for message `value`; `detail` is 1 if the reply
    /// reached the caller, 0 if not.
    Reply = 3,
    /// `tid` left the CPU to wait; `detail` is a [`BlockReason`], `peer` the thread it
    /// waits for (0 if none).
    Block = 4,
    /// `tid` became runnable; `value` is what its system call returns (an `i64`).
    Wake = 5,
    /// `tid` starts running on the CPU.
    Run = 6,
    /// Nothing runs: the CPU idles (`tid` is 0).
    Idle = 7,
}

/// `detail` of a [`Kind::Recv`] record of an interrupt.
pub const RECV_INTERRUPT: u8 = 1;

/// Why a thread blocked (`detail` of a [`Kind::Block`] record).
#[derive(Clone, Copy, PartialEq, Eq, Debug, IntoPrimitive, TryFromPrimitive)]
#[repr(u8)]
pub enum BlockReason {
    /// Anything not listed below.
    Other = 0,
    /// A synchronous sender queued until `peer` receives.
    Send = 1,
    /// A caller whose message `peer` received, waiting for the reply.
    Reply = 2,
    /// In `ipc_recv`, waiting for a message.
    Receive = 3,
    /// In `sleep`.
    Sleep = 4,
    /// In `deschedule`.
    Deschedule = 5,
    /// In `task_wait`.
    TaskWait = 6,
}

impl BlockReason {
    /// A short word for people (the trace viewers show it).
    pub const fn describe(self) -> &'static str {
        match self {
            BlockReason::Other => "blocked",
            BlockReason::Send => "send-blocked",
            BlockReason::Reply => "waiting for reply",
            BlockReason::Receive => "receiving",
            BlockReason::Sleep => "sleeping",
            BlockReason::Deschedule => "descheduled",
            BlockReason::TaskWait => "waiting for a task",
        }
    }
}

/// One trace record.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Record {
    /// When: the CPU's time-stamp counter (under QEMU's `-icount shift=0`, instructions
    /// retired since boot).
    pub time: u64,
    /// A [`Kind`] (kept raw so that decoding never fails on a kind it does not know).
    pub kind: u8,
    /// Meaning depends on the kind.
    pub detail: u8,
    /// The thread the record is about (0: none).
    pub tid: u32,
    /// Its task's id (0: none).
    pub task: u32,
    /// The other thread involved (0: none).
    pub peer: u32,
    /// Meaning depends on the kind.
    pub value: u64,
}

impl Record {
    /// The record's [`Kind`], if it is one this version knows.
    pub fn kind(&self) -> Option<Kind> {
        Kind::try_from(self.kind).ok()
    }

    /// The fixed 32-byte layout: time (8), kind (1), detail (1), zero (2), tid (4),
    /// task (4), peer (4), value (8), all little-endian.
    pub fn to_bytes(&self) -> [u8; RECORD_BYTES] {
        let mut b = [0u8; RECORD_BYTES];
        b[0..8].copy_from_slice(&self.time.to_le_bytes());
        b[8] = self.kind;
        b[9] = self.detail;
        b[12..16].copy_from_slice(&self.tid.to_le_bytes());
        b[16..20].copy_from_slice(&self.task.to_le_bytes());
        b[20..24].copy_from_slice(&self.peer.to_le_bytes());
        b[24..32].copy_from_slice(&self.value.to_le_bytes());
        b
    }

    /// The inverse of [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(b: &[u8; RECORD_BYTES]) -> Record {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| (u32_at(i) as u64) | (u32_at(i + 4) as u64) << 32;
        Record {
            time: u64_at(0),
            kind: b[8],
            detail: b[9],
            tid: u32_at(12),
            task: u32_at(16),
            peer: u32_at(20),
            value: u64_at(24),
        }
    }

    /// The record as lowercase hex digits (what follows `ev ` on its line).
    pub fn to_hex(&self) -> [u8; RECORD_HEX] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; RECORD_HEX];
        for (i, byte) in self.to_bytes().iter().enumerate() {
            out[2 * i] = DIGITS[(byte >> 4) as usize];
            out[2 * i + 1] = DIGITS[(byte & 15) as usize];
        }
        out
    }

    /// Parses [`to_hex`](Self::to_hex)'s output; `None` unless it is exactly that many
    /// hex digits.
    pub fn from_hex(hex: &str) -> Option<Record> {
        let hex = hex.as_bytes();
        if hex.len() != RECORD_HEX {
            return None;
        }
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut b = [0u8; RECORD_BYTES];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = digit(hex[2 * i])? << 4 | digit(hex[2 * i + 1])?;
        }
        Some(Record::from_bytes(&b))
    }
}

/// One parsed trace line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Line<'a> {
    /// The dump starts.
    Begin {
        /// Records the ring holds.
        capacity: u64,
        /// Records ever made.
        recorded: u64,
        /// Records overwritten before the dump.
        dropped: u64,
    },
    /// Task `id` runs program `name`.
    Task {
        /// The task id.
        id: u32,
        /// Its program's name.
        name: &'a str,
    },
    /// One record.
    Event(Record),
    /// The dump is complete.
    End,
}

impl<'a> Line<'a> {
    /// Parses one console line; `None` if it is not a well-formed trace line.
    pub fn parse(line: &'a str) -> Option<Self> {
        let rest = line.trim_end().strip_prefix(PREFIX)?;
        let (word, args) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "begin" => {
                let mut n = args.split(' ').map(|a| a.parse::<u64>().ok());
                let (capacity, recorded, dropped) = (n.next()??, n.next()??, n.next()??);
                n.next().is_none().then_some(Line::Begin { capacity, recorded, dropped })
            }
            "task" => {
                let (id, name) = args.split_once(' ')?;
                Some(Line::Task { id: id.parse().ok()?, name })
            }
            "ev" => Record::from_hex(args).map(Line::Event),
            "end" => args.is_empty().then_some(Line::End),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::String;

    const SAMPLE: Record = Record {
        time: 0x0102_0304_0506_0708,
        kind: Kind::Reply as u8,
        detail: 1,
        tid: 0xdead_beef,
        task: 7,
        peer: 42,
        value: u64::MAX - 5,
    };

    #[test]
    fn a_record_survives_bytes_and_hex() {
        assert_eq!(Record::from_bytes(&SAMPLE.to_bytes()), SAMPLE);
        let hex = SAMPLE.to_hex();
        let hex = core::str::from_utf8(&hex).unwrap();
        assert_eq!(Record::from_hex(hex), Some(SAMPLE));
        assert_eq!(SAMPLE.kind(), Some(Kind::Reply));
    }

    #[test]
    fn the_layout_is_little_endian_and_fixed() {
        let b = SAMPLE.to_bytes();
        assert_eq!(&b[0..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!((b[8], b[9], b[10], b[11]), (3, 1, 0, 0));
        assert_eq!(&b[12..16], &[0xef, 0xbe, 0xad, 0xde]);
    }

    #[test]
    fn malformed_hex_is_refused() {
        let good = String::from_utf8(SAMPLE.to_hex().to_vec()).unwrap();
        assert_eq!(Record::from_hex(&good[1..]), None, "one digit short");
        assert_eq!(Record::from_hex(&format!("{good}0")), None, "one digit long");
        assert_eq!(Record::from_hex(&good.replacen('0', "g", 1)), None, "not a digit");
    }

    #[test]
    fn lines_parse() {
        let hex = String::from_utf8(SAMPLE.to_hex().to_vec()).unwrap();
        assert_eq!(
            Line::parse("moroso-trace begin 8192 10 2"),
            Some(Line::Begin { capacity: 8192, recorded: 10, dropped: 2 })
        );
        assert_eq!(Line::parse("moroso-trace task 3 ping pong\r"), Some(Line::Task { id: 3, name: "ping pong" }));
        assert_eq!(Line::parse(&format!("moroso-trace ev {hex}")), Some(Line::Event(SAMPLE)));
        assert_eq!(Line::parse("moroso-trace end"), Some(Line::End));
        for bad in
            ["moroso-trace begin 1 2", "moroso-trace begin 1 2 3 4", "moroso-trace ev 12", "moroso-test ok x", "hello"]
        {
            assert_eq!(Line::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_kinds_decode_but_are_not_named() {
        let r = Record { kind: 200, ..SAMPLE };
        assert_eq!(Record::from_bytes(&r.to_bytes()).kind(), None);
    }
}
