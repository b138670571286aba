//! The kernel's spin locks: a `spin::Mutex` that, on the single-CPU kernel, panics when it
//! is taken again while held instead of spinning forever.
//!
//! With one CPU and interrupts off inside the kernel, a lock found held can only be held by
//! the code the taker interrupted or called from: waiting would never end. A panic names the
//! lock instead (the panic path prints through the emergency writer, which takes no lock).
//! On the host, where tests run on many threads, a held lock is waited for as usual.
//!
//! Lock order (a lock may be taken while holding only those before it):
//! 1. the kernel state (`run.rs`, `with_kernel`: a flag, not a `Lock`, checked the same way);
//! 2. `KERNEL_SPACE` (`arch::paging`, the kernel's own page tables);
//! 3. `FREE_STACK_SLOTS` (`arch::paging`) and `FRAMES` (`mem`), taken under the above,
//!    never one under the other;
//! 4. `TRACER` (`trace.rs`), under which only `CONSOLE` is taken (the dump at power-off);
//! 5. `CONSOLE` (`console.rs`): a leaf.
//!
//! `TRACER` and `CONSOLE` may be taken under any of the others.

use spin::{Mutex, MutexGuard};

/// A spin lock that refuses re-entry (see the module documentation).
pub struct Lock<T> {
    name: &'static str,
    inner: Mutex<T>,
}

impl<T> Lock<T> {
    /// A lock named `name` (for the panic message) holding `value`.
    pub const fn new(name: &'static str, value: T) -> Self {
        Lock { name, inner: Mutex::new(value) }
    }

    /// Takes the lock. On the kernel, panics if it is held (a re-entry: see the module
    /// documentation); on the host, waits.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.inner.try_lock() {
            Some(guard) => guard,
            None => self.held(),
        }
    }

    #[cold]
    fn held(&self) -> MutexGuard<'_, T> {
        if cfg!(target_os = "none") {
            panic!("lock {} taken while held: re-entered on one CPU", self.name);
        }
        self.inner.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::Lock;

    #[test]
    fn a_lock_gives_its_value_and_is_free_again_after() {
        static L: Lock<u32> = Lock::new("test", 1);
        *L.lock() += 1;
        assert_eq!(*L.lock(), 2);
    }
}
