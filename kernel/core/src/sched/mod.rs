//! Scheduling structures: intrusive FIFO lists of thread slots and the timer heap. Both are
//! fixed-capacity and allocation-free, so nothing on the scheduling or IPC path can run the
//! kernel out of memory.
pub mod list;
pub mod timers;

/// What the lists and the timer heap are indexed by: a plain `usize` in their own tests, a
/// [`ThreadSlot`](crate::task::ids::ThreadSlot) in the core, so the core cannot list a task
/// slot among threads.
pub trait Slot: Copy {
    /// The slot at `index` (below the structure's capacity).
    fn from_index(index: usize) -> Self;
    /// Its index.
    fn index(self) -> usize;
}

impl Slot for usize {
    #[inline(always)]
    fn from_index(index: usize) -> Self {
        index
    }
    #[inline(always)]
    fn index(self) -> usize {
        self
    }
}
