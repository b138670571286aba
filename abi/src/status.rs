//! Task exit statuses the kernel assigns.
//!
//! A task's status is what its `main` returned (or passed to `task_exit`). A task the
//! kernel ends because of a fault gets [`faulted`] of the exception vector: a negative
//! value below any `Error` code, so it cannot be mistaken for one.

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

/// Status of a task whose `main` panicked (printed by libsys's panic handler first).
pub const PANICKED: i32 = -101;
