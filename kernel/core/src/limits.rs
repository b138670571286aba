//! The kernel's own table sizes and its time slice: a leaf module, so that every other
//! module may size itself from them without depending on the module that owns the table.
//! (Limits that user programs see are in `abi::limits`.)

/// Thread-table size (slot 0 unused).
pub const MAX_THREADS: usize = 256;
/// Task-table size (slot 0 unused).
pub const MAX_TASKS: usize = 64;
/// Ticks a thread runs before the timer preempts it in favour of another runnable thread.
pub const QUANTUM_TICKS: u32 = 1;
