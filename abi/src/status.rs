//! Task exit statuses the kernel assigns, and how to say any status in words.
//!
//! A task's status is what its `main` returned (or passed to `task_exit`). A task the
//! kernel ends because of a fault gets [`faulted`] of the exception vector: a negative
//! value below any `Error` code, so it cannot be mistaken for one. [`describe`] turns any
//! status into the words a person wants to read; the kernel, libsys and the host tools all
//! use it, so a status reads the same everywhere.

use core::fmt;

/// Status of a task killed by CPU exception `vector` (e.g. 14 for a page fault).
pub const fn faulted(vector: u8) -> i32 {
    FAULT_BASE - vector as i32
}

/// The exception vector behind a status, if the status means "killed by a fault".
pub const fn fault_vector(status: i32) -> Option<u8> {
    let v = FAULT_BASE - status;
    if v >= 0 && v < 256 {
        Some(v as u8)
    } else {
        None
    }
}

const FAULT_BASE: i32 = -1000;

/// Status of a task ended by `task_kill`.
pub const KILLED: i32 = -102;

/// Status of a task whose `main` panicked (printed by libsys's panic handler first).
pub const PANICKED: i32 = -101;

/// The architectural name of x86-64 exception `vector` (`"#PF page fault"`).
pub const fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        29 => "#VC VMM communication",
        30 => "#SX security",
        32..=255 => "interrupt",
        _ => "reserved exception",
    }
}

/// A status in words: `describe(-1014)` displays as
/// `-1014 (killed by #PF page fault)`, `describe(0)` as `0 (success)`.
pub const fn describe(status: i32) -> Described {
    Described(status)
}

/// See [`describe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Described(pub i32);

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "{s}")?;
        if s == 0 {
            return f.write_str(" (success)");
        }
        if s == PANICKED {
            return f.write_str(" (the program panicked)");
        }
        if s == KILLED {
            return f.write_str(" (killed by task_kill)");
        }
        if let Some(v) = fault_vector(s) {
            return write!(f, " (killed by {})", exception_name(v));
        }
        if let Ok(e) = crate::Error::try_from(s) {
            return write!(f, " (error {})", e.name());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn statuses_read_as_words() {
        assert_eq!(format!("{}", describe(0)), "0 (success)");
        assert_eq!(format!("{}", describe(7)), "7");
        assert_eq!(format!("{}", describe(faulted(14))), "-1014 (killed by #PF page fault)");
        assert_eq!(format!("{}", describe(PANICKED)), "-101 (the program panicked)");
        let e = crate::Error::NoSuchThread;
        assert!(format!("{}", describe(e.code())).contains("NoSuchThread"));
        assert_eq!(fault_vector(faulted(13)), Some(13));
        assert_eq!(fault_vector(5), None);
    }
}
