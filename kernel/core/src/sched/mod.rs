//! Scheduling structures: intrusive FIFO lists of thread slots and the timer heap. Both are
//! fixed-capacity and allocation-free, so nothing on the scheduling or IPC path can run the
//! kernel out of memory.
pub mod list;
pub mod timers;
