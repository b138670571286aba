//! How a guest reports to the host runner: the QEMU exit codes the kernel leaves with, and
//! the test-result lines that in-guest tests print on the console.
//!
//! The kernel (and later user-level test programs) produce these; `xtask` consumes them.
//! Defining both directions here keeps the producer and the parser from drifting.
//!
//! Line protocol, one record per console line (anything else on the console is ignored):
//! ```text
//! moroso-test ok <name>
//! moroso-test FAIL <name>: <reason>
//! moroso-test summary: <P> passed, <F> failed
//! ```
//! The prefix is deliberately unusual so that ordinary output cannot match it by accident.

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=4`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the guest powered off. The kernel writes the discriminant to [`DEBUG_EXIT_PORT`];
/// QEMU then exits with status `(value << 1) | 1`.
///
/// A triple fault (QEMU exits 0 under `-no-reboot`), a QEMU crash or a kill never produce
/// one of these statuses, so the runner treats anything it cannot decode as failure.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum GuestExit {
    /// Everything ran and the first task's status (if any) was 0.
    Success = 0x10,
    /// The kernel ran to completion, but the first task's status was non-zero or an
    /// in-guest test failed. The status line says which.
    Failure = 0x11,
    /// The kernel panicked or took an unexpected exception.
    KernelPanic = 0x12,
}

impl GuestExit {
    /// The exit status of the QEMU process after the kernel wrote `self`.
    pub const fn qemu_status(self) -> i32 {
        ((self as u32) << 1 | 1) as i32
    }

    /// Decodes a QEMU process exit status. `None` means QEMU did not exit through the
    /// kernel's power-off path (triple fault, crash, killed).
    pub fn from_qemu_status(status: i32) -> Option<Self> {
        [Self::Success, Self::Failure, Self::KernelPanic].into_iter().find(|e| e.qemu_status() == status)
    }
}

/// Prefix of every test-protocol line.
pub const TEST_PREFIX: &str = "moroso-test ";

/// Printed by the kernel just before it powers off: `moroso: power off, status <i32>`.
pub const STATUS_PREFIX: &str = "moroso: power off, status ";

/// Printed by init for each awaited program that ended with a non-zero status:
/// `moroso: program <name> ended with status <i32> ...` (words may follow the number).
/// The runner names these programs when the command fails.
pub const PROGRAM_STATUS_PREFIX: &str = "moroso: program ";

/// Printed by the shell in script mode (stdin not a terminal) when it is ready for input.
pub const SCRIPT_READY: &str = "moroso shell: reading a script";

/// The byte the runner types after a script's last line (ASCII EOT, Ctrl-D): a serial
/// line has no end of file, so this stands for it.
pub const SCRIPT_END: u8 = 0x04;

/// Parses a [`PROGRAM_STATUS_PREFIX`] line into the program's name and status.
pub fn parse_program_status(line: &str) -> Option<(&str, i32)> {
    let rest = line.strip_prefix(PROGRAM_STATUS_PREFIX)?;
    let (name, rest) = rest.split_once(" ended with status ")?;
    let number = rest.split(' ').next()?;
    Some((name, number.parse().ok()?))
}

/// One parsed test-protocol line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TestLine<'a> {
    /// A named case passed.
    Ok(&'a str),
    /// A named case failed, with a reason.
    Fail {
        /// The case.
        name: &'a str,
        /// Why it failed.
        reason: &'a str,
    },
    /// The closing line of a suite.
    Summary {
        /// Cases that passed.
        passed: u32,
        /// Cases that failed.
        failed: u32,
    },
}

impl<'a> TestLine<'a> {
    /// Parses one console line; `None` if it is not a well-formed protocol line.
    ///
    /// Leading garbage before the prefix (e.g. a partial line from a concurrent writer)
    /// is tolerated; the prefix must still appear intact.
    pub fn parse(line: &'a str) -> Option<Self> {
        let rest = &line[line.find(TEST_PREFIX)? + TEST_PREFIX.len()..];
        let rest = rest.trim_end();
        if let Some(name) = rest.strip_prefix("ok ") {
            return (!name.is_empty()).then_some(TestLine::Ok(name));
        }
        if let Some(body) = rest.strip_prefix("FAIL ") {
            let (name, reason) = body.split_once(": ").unwrap_or((body, ""));
            return (!name.is_empty()).then_some(TestLine::Fail { name, reason });
        }
        let counts = rest.strip_prefix("summary: ")?;
        let (p, f) = counts.split_once(" passed, ")?;
        let f = f.strip_suffix(" failed")?;
        Some(TestLine::Summary { passed: p.parse().ok()?, failed: f.parse().ok()? })
    }
}

/// Parses the kernel's power-off status line (`None` for any other line).
pub fn parse_status_line(line: &str) -> Option<i32> {
    line.trim_end().strip_prefix(STATUS_PREFIX)?.parse().ok()
}

/// `cargo xtask fuzz` and the in-guest fuzzer (`apps/src/bin/fuzz`): how the run's
/// parameters reach the fuzzer (its argument, from the kernel command line's `arg=`) and
/// the lines it ends with.
pub mod fuzz {
    /// Most calls one run can ask for (they take the argument's low 30 bits).
    pub const CALLS_MAX: u64 = (1 << 30) - 1;
    /// Argument bit: also run the attacks kept back until kernel fixes are merged.
    pub const ALL_ATTACKS: u64 = 1 << 30;
    /// Argument bit set only in the fuzzer's own children (never by the runner).
    pub const CHILD: u64 = 1 << 31;

    /// The first program's argument for a run of `calls` calls from `seed`.
    pub const fn arg(seed: u32, calls: u64, all_attacks: bool) -> u64 {
        let calls = if calls > CALLS_MAX { CALLS_MAX } else { calls };
        (seed as u64) << 32 | calls | if all_attacks { ALL_ATTACKS } else { 0 }
    }

    /// `(seed, calls, all_attacks)` from the argument.
    pub const fn decode(arg: u64) -> (u32, u64, bool) {
        ((arg >> 32) as u32, arg & CALLS_MAX, arg & ALL_ATTACKS != 0)
    }

    /// Starts the line of a run that passed.
    pub const OK: &str = "fuzz: ok ";
    /// Starts every line that reports a problem.
    pub const FAIL: &str = "fuzz: FAIL ";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_status_lines_round_trip() {
        assert_eq!(parse_program_status("moroso: program kv ended with status 7"), Some(("kv", 7)));
        assert_eq!(
            parse_program_status("moroso: program a ended with status -1014 (killed by #PF page fault)"),
            Some(("a", -1014))
        );
        assert_eq!(parse_program_status("moroso: program kv ended"), None);
        assert_eq!(parse_program_status("x moroso: program kv ended with status 1"), None);
    }

    #[test]
    fn fuzz_arguments_round_trip() {
        for (seed, calls, all) in [(0, 1, false), (u32::MAX, fuzz::CALLS_MAX, true), (7, 100_000, false)] {
            let a = fuzz::arg(seed, calls, all);
            assert_eq!(fuzz::decode(a), (seed, calls, all));
            assert_eq!(a & fuzz::CHILD, 0);
        }
        assert_eq!(fuzz::decode(fuzz::arg(1, u64::MAX, false)).1, fuzz::CALLS_MAX);
    }

    #[test]
    fn exit_statuses_are_distinct_odd_and_never_zero() {
        let all = [GuestExit::Success, GuestExit::Failure, GuestExit::KernelPanic];
        for e in all {
            let s = e.qemu_status();
            assert_eq!(s & 1, 1);
            assert_ne!(s, 0, "a triple fault exits 0 and must not decode");
            assert_eq!(GuestExit::from_qemu_status(s), Some(e));
        }
        assert_eq!(GuestExit::Success.qemu_status(), 33);
        assert_eq!(GuestExit::from_qemu_status(0), None);
        assert_eq!(GuestExit::from_qemu_status(1), None);
    }

    #[test]
    fn parses_protocol_lines() {
        assert_eq!(TestLine::parse("moroso-test ok frames::alloc"), Some(TestLine::Ok("frames::alloc")));
        assert_eq!(
            TestLine::parse("moroso-test FAIL paging::nx: expected fault\r"),
            Some(TestLine::Fail { name: "paging::nx", reason: "expected fault" })
        );
        assert_eq!(
            TestLine::parse("junk moroso-test summary: 12 passed, 1 failed"),
            Some(TestLine::Summary { passed: 12, failed: 1 })
        );
    }

    #[test]
    fn rejects_lookalikes() {
        for line in [
            "ok frames::alloc",
            "moroso-test ok ",
            "moroso-test okfoo",
            "moroso-test summary: x passed, 0 failed",
            "moroso-test summary: 1 passed",
            "moroso-testok a",
            "12 passed, 0 failed",
        ] {
            assert_eq!(TestLine::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn status_line() {
        assert_eq!(parse_status_line("moroso: power off, status -3\r"), Some(-3));
        assert_eq!(parse_status_line("moroso: power off, status "), None);
        assert_eq!(parse_status_line("hello"), None);
    }
}
