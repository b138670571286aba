//! A tiny test harness for programs that run in the guest: each case prints one line in the
//! protocol of `abi::report`, and [`Suite::finish`] prints the summary and returns the
//! task's exit status (0 only if every case passed).
//!
//! ```ignore
//! let mut s = Suite::new("syscalls");
//! s.case("gettid::positive", || check(gettid() > 0, "tid is positive"));
//! s.finish()
//! ```

use alloc::string::String;
use libsys::abi::report::TEST_PREFIX;
use libsys::println;

/// A case's outcome: `Err` carries why it failed.
pub type CaseResult = Result<(), Msg>;

/// A failure message.
pub struct Msg(String);

impl Msg {
    pub fn new(args: core::fmt::Arguments) -> Msg {
        Msg(alloc::format!("{args}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Fails the case with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err($crate::harness::Msg::new(format_args!($($why)+)));
        }
    };
}

/// Fails the case unless `left == right`, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($why:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::harness::Msg::new(format_args!(
                "{}: {:?} != {:?}", format_args!($($why)+), l, r
            )));
        }
    }};
}

pub struct Suite {
    passed: u32,
    failed: u32,
}

impl Default for Suite {
    fn default() -> Self {
        Self::new()
    }
}

impl Suite {
    pub fn new() -> Suite {
        Suite { passed: 0, failed: 0 }
    }

    /// Runs one case and reports it.
    pub fn case(&mut self, name: &str, f: impl FnOnce() -> CaseResult) {
        match f() {
            Ok(()) => {
                self.passed += 1;
                println!("{TEST_PREFIX}ok {name}");
            }
            Err(m) => {
                self.failed += 1;
                println!("{TEST_PREFIX}FAIL {name}: {}", m.as_str());
            }
        }
    }

    /// Prints the summary; the exit status for the task.
    pub fn finish(self) -> i32 {
        println!("{TEST_PREFIX}summary: {} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            0
        } else {
            1
        }
    }
}
