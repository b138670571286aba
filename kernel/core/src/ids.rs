//! Thread and task ids and slots, as four types that do not mix: a [`ThreadSlot`] or
//! [`TaskSlot`] is an index into the core's tables (reused when its thread or task ends), a
//! [`Tid`] or [`TaskId`] is what user space names a thread or task by (never reused while
//! its generation lasts). Passing one where another is meant does not compile; the arrays
//! of the core are indexed by their slot type only (`Index` below).
//!
//! The core's calls take them as such; this compiles:
//!
//! ```
//! use moroso_kernel_core::ipc::mailbox::MsgBuffers;
//! use moroso_kernel_core::task::{Core, TaskId, TaskSlot, ThreadSlot, Tid};
//! fn uses<S, B: MsgBuffers>(c: &Core<S, B>, th: ThreadSlot, ta: TaskSlot, tid: Tid, id: TaskId) {
//!     let _ = (c.thread(th), c.task(ta), c.lookup_thread(tid), c.lookup_task(id));
//! }
//! ```
//!
//! and each mix-up below does not (the doc tests check that it fails to compile):
//!
//! ```compile_fail
//! # use moroso_kernel_core::ipc::mailbox::MsgBuffers;
//! # use moroso_kernel_core::task::{Core, TaskSlot};
//! fn thread_by_task_slot<S, B: MsgBuffers>(c: &Core<S, B>, ta: TaskSlot) {
//!     let _ = c.thread(ta);
//! }
//! ```
//!
//! ```compile_fail
//! # use moroso_kernel_core::ipc::mailbox::MsgBuffers;
//! # use moroso_kernel_core::task::{Core, ThreadSlot};
//! fn task_by_thread_slot<S, B: MsgBuffers>(c: &Core<S, B>, th: ThreadSlot) {
//!     let _ = c.task(th);
//! }
//! ```
//!
//! ```compile_fail
//! # use moroso_kernel_core::ipc::mailbox::MsgBuffers;
//! # use moroso_kernel_core::task::{Core, TaskId};
//! fn thread_by_task_id<S, B: MsgBuffers>(c: &Core<S, B>, id: TaskId) {
//!     let _ = c.lookup_thread(id);
//! }
//! ```
//!
//! ```compile_fail
//! # use moroso_kernel_core::ipc::mailbox::MsgBuffers;
//! # use moroso_kernel_core::task::{Core, ThreadSlot};
//! fn slot_for_id<S, B: MsgBuffers>(c: &Core<S, B>, th: ThreadSlot) {
//!     let _ = c.lookup_thread(th);
//! }
//! ```
//!
//! ```compile_fail
//! # use moroso_kernel_core::ipc::mailbox::MsgBuffers;
//! # use moroso_kernel_core::task::{Core, Tid};
//! fn raw_number_for_tid<S, B: MsgBuffers>(c: &Core<S, B>, raw: u32) {
//!     let _ = c.lookup_thread(raw);
//! }
//! ```
//!
//! ```compile_fail
//! # use moroso_kernel_core::task::{TaskSlot, MAX_THREADS};
//! fn thread_table_by_task_slot(table: &[u8; MAX_THREADS], ta: TaskSlot) -> u8 {
//!     table[ta]
//! }
//! ```
//!
//! Ids: a table slot plus a generation, so an id outlives nothing.
//!
//! `id = generation * SLOTS + slot`, with slot 0 never used: ids are positive, fit in an
//! `i32` (the spec passes tids as `int`), start at 1, and a stale id names no thread even
//! after its slot is reused, until the generation wraps (after 2^31 / SLOTS reuses of one
//! slot).

use crate::limits::{MAX_TASKS, MAX_THREADS};
use core::fmt;
use core::ops::{Index, IndexMut};

/// Declares a slot type for a table of `$n` entries: an index `0..$n` (0 is never a live
/// thread or task), indexing arrays of exactly `$n` entries.
///
/// Invariant: every value is below `$n`. Its field is private to this module, and the only
/// ways to make one are `new`, which checks it in every build, and `all`, which counts
/// below `$n`; so indexing with one needs no bounds check (the fast path indexes its
/// tables several times per call).
macro_rules! slot_type {
    ($(#[$m:meta])* $name:ident, $n:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(usize);

        impl $name {
            /// Slot `index` of the table. Panics unless `index < ` the table's size: a
            /// slot is made from a number the kernel computed (a slot stored in a table, an
            /// id's remainder), never from user input, so this is a kernel bug.
            #[inline(always)]
            pub const fn new(index: usize) -> Self {
                assert!(index < $n, "slot out of range");
                $name(index)
            }
            /// Its index in the table.
            #[inline(always)]
            pub const fn index(self) -> usize {
                self.0
            }
            /// Every slot that can hold a live entry (`1..` the table's size).
            pub fn all() -> impl DoubleEndedIterator<Item = $name> + Clone {
                (1..$n).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl crate::sched::Slot for $name {
            #[inline(always)]
            fn from_index(index: usize) -> Self {
                $name::new(index)
            }
            #[inline(always)]
            fn index(self) -> usize {
                self.0
            }
        }

        impl<T> Index<$name> for [T; $n] {
            type Output = T;
            #[inline(always)]
            fn index(&self, slot: $name) -> &T {
                // SAFETY: `slot.0 < $n`, the array's length (the type's invariant).
                unsafe { self.get_unchecked(slot.0) }
            }
        }

        impl<T> IndexMut<$name> for [T; $n] {
            #[inline(always)]
            fn index_mut(&mut self, slot: $name) -> &mut T {
                // SAFETY: `slot.0 < $n`, the array's length (the type's invariant).
                unsafe { self.get_unchecked_mut(slot.0) }
            }
        }
    };
}

slot_type!(
    /// A slot of the thread table (and of everything kept per thread: links, timers,
    /// mailboxes).
    ThreadSlot,
    MAX_THREADS
);
slot_type!(
    /// A slot of the task table.
    TaskSlot,
    MAX_TASKS
);

/// Declares an id type: a user-visible name, made of a slot of `$slot` and a generation.
macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $slot:ident, $n:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u32);

        impl $name {
            /// The id user space passed: any value, an allegation until looked up.
            #[inline(always)]
            pub const fn from_raw(raw: u32) -> Self {
                $name(raw)
            }
            /// The id of `slot` in `generation`.
            #[inline(always)]
            pub const fn make(slot: $slot, generation: u32) -> Self {
                $name(IdSpace::<$n>::make(slot.index(), generation))
            }
            /// The number user space knows it by.
            #[inline(always)]
            pub const fn raw(self) -> u32 {
                self.0
            }
            /// The slot it names (`None` for 0 or out of range); the slot's entry may hold
            /// another id.
            #[inline(always)]
            pub const fn slot(self) -> Option<$slot> {
                match IdSpace::<$n>::slot(self.0) {
                    Some(s) => Some($slot::new(s)),
                    None => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A thread id (`tid`).
    Tid,
    ThreadSlot,
    MAX_THREADS
);
id_type!(
    /// A task id.
    TaskId,
    TaskSlot,
    MAX_TASKS
);

/// Converts between ids and (slot, generation) for a table of `SLOTS` entries.
#[derive(Clone, Copy)]
pub struct IdSpace<const SLOTS: usize>;

impl<const SLOTS: usize> IdSpace<SLOTS> {
    /// Generations wrap here so that ids stay below 2^31.
    pub const GENERATIONS: u32 = (i32::MAX as u32) / SLOTS as u32;

    pub const fn make(slot: usize, generation: u32) -> u32 {
        generation * SLOTS as u32 + slot as u32
    }

    /// The slot an id names (`None` for 0 or out of range).
    pub const fn slot(id: u32) -> Option<usize> {
        let s = (id % SLOTS as u32) as usize;
        if s == 0 || id > i32::MAX as u32 {
            None
        } else {
            Some(s)
        }
    }

    pub const fn generation(id: u32) -> u32 {
        id / SLOTS as u32
    }

    pub const fn next_generation(g: u32) -> u32 {
        (g + 1) % Self::GENERATIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type Ids = IdSpace<256>;

    #[test]
    fn ids_round_trip_and_zero_is_never_an_id() {
        assert_eq!(Ids::make(1, 0), 1);
        assert_eq!(Ids::slot(Ids::make(7, 3)), Some(7));
        assert_eq!(Ids::generation(Ids::make(7, 3)), 3);
        assert_eq!(Ids::slot(0), None);
        assert_eq!(Ids::slot(256), None);
        assert_eq!(Ids::slot(u32::MAX), None);
        let top = Ids::make(255, Ids::GENERATIONS - 1);
        assert!(top <= i32::MAX as u32);
        assert_eq!(Ids::next_generation(Ids::GENERATIONS - 1), 0);
    }

    // Indexing with a slot relies on its being in range (no bounds check): no slot past
    // its table can be made, in any build.
    #[test]
    #[should_panic(expected = "slot out of range")]
    fn a_thread_slot_past_the_table_cannot_be_made() {
        let _ = ThreadSlot::new(std::hint::black_box(MAX_THREADS));
    }

    #[test]
    #[should_panic(expected = "slot out of range")]
    fn a_task_slot_past_the_table_cannot_be_made() {
        let _ = TaskSlot::new(std::hint::black_box(MAX_TASKS));
    }

    #[test]
    fn slots_index_their_tables_to_the_last_entry() {
        let t: [usize; MAX_THREADS] = core::array::from_fn(|i| i);
        let last = ThreadSlot::new(MAX_THREADS - 1);
        assert_eq!(t[last], MAX_THREADS - 1);
        assert_eq!(ThreadSlot::all().last(), Some(last));
        assert_eq!(TaskSlot::all().map(|s| s.index()).max(), Some(MAX_TASKS - 1));
    }
}
