//! Locks for threads of one task: [`Mutex`], [`Condvar`], [`Semaphore`], all built on one
//! [`WaitQueue`] over the Pebbles calls `deschedule` and `make_runnable`.
//!
//! ```no_run
//! use libsys::sync::{Condvar, Mutex};
//!
//! static QUEUE: Mutex<u32> = Mutex::new(0);
//! static READY: Condvar = Condvar::new();
//!
//! fn producer() {
//!     *QUEUE.lock() += 1;
//!     READY.notify_one();
//! }
//!
//! fn consumer() {
//!     let mut items = QUEUE.lock();
//!     while *items == 0 {
//!         items = READY.wait(items);
//!     }
//!     *items -= 1;
//! }
//! ```
//!
//! No lost wakeups: a waiter checks its condition and enqueues itself under the queue's
//! lock, then blocks with `deschedule(&flag)`; a waker sets that flag under the same lock
//! and then calls `make_runnable`. The kernel checks `*flag` atomically with respect to
//! `make_runnable`, so a wakeup that comes between the waiter's unlock and its
//! `deschedule` makes `deschedule` return at once. No busy waiting: the queue's own lock is
//! held for a few instructions, and contention on it yields the CPU.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use crate::raw;

/// A short critical section: held for a few instructions; contention yields.
struct SpinYield {
    held: AtomicBool,
}

impl SpinYield {
    const fn new() -> Self {
        SpinYield { held: AtomicBool::new(false) }
    }
    fn lock(&self) {
        while self.held.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            raw::yield_to(-1);
        }
    }
    fn unlock(&self) {
        self.held.store(false, Ordering::Release);
    }
}

/// A waiting thread, on its own stack for as long as it waits.
struct Waiter {
    tid: u32,
    /// Set (to 1) by the waker: `deschedule(&woken)` then returns at once.
    woken: AtomicI32,
    next: *const Waiter,
}

/// Threads waiting for something, woken in the order they came (FIFO).
pub struct WaitQueue {
    lock: SpinYield,
    head: UnsafeCell<*const Waiter>,
    tail: UnsafeCell<*const Waiter>,
}

// SAFETY: the list is only touched under `lock`; each node lives on its waiter's stack
// until the waiter has been woken (removed from the list and flagged), which is the last
// thing any other thread does with it.
unsafe impl Sync for WaitQueue {}
// SAFETY: as above; the queue holds no thread-bound data.
unsafe impl Send for WaitQueue {}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        WaitQueue { lock: SpinYield::new(), head: UnsafeCell::new(ptr::null()), tail: UnsafeCell::new(ptr::null()) }
    }

    /// Blocks the caller until woken, if `must_wait()` (checked under the queue's lock, so
    /// that no wakeup between the check and the block is lost) says so.
    pub fn wait_if(&self, must_wait: impl FnOnce() -> bool) {
        let me = Waiter { tid: raw::gettid(), woken: AtomicI32::new(0), next: ptr::null() };
        self.lock.lock();
        if !must_wait() {
            self.lock.unlock();
            return;
        }
        // SAFETY: under the lock; `me` stays alive until it is woken (below).
        unsafe {
            let node: *const Waiter = &me;
            if (*self.tail.get()).is_null() {
                *self.head.get() = node;
            } else {
                (*((*self.tail.get()) as *mut Waiter)).next = node;
            }
            *self.tail.get() = node;
        }
        self.lock.unlock();
        while me.woken.load(Ordering::Acquire) == 0 {
            // SAFETY: `woken` is a live i32 of ours. Returns at once if it is already set.
            unsafe { raw::deschedule(me.woken.as_ptr()) };
        }
    }

    /// Wakes the longest waiter; returns whether there was one.
    pub fn wake_one(&self) -> bool {
        self.lock.lock();
        // SAFETY: under the lock: the list's nodes are live waiters.
        let node = unsafe {
            let node = *self.head.get();
            if !node.is_null() {
                *self.head.get() = (*node).next;
                if (*self.head.get()).is_null() {
                    *self.tail.get() = ptr::null();
                }
            }
            node
        };
        let woke = !node.is_null();
        if woke {
            // SAFETY: the node is still alive: its waiter cannot return before `woken` is set.
            let tid = unsafe { (*node).tid };
            // SAFETY: as above; after this store the waiter may return and the node vanish.
            unsafe { (*node).woken.store(1, Ordering::Release) };
            // Not descheduled yet? Then it will see the flag: NotDescheduled is fine.
            raw::make_runnable(tid);
        }
        self.lock.unlock();
        woke
    }

    /// Wakes every waiter; returns how many.
    pub fn wake_all(&self) -> usize {
        let mut n = 0;
        while self.wake_one() {
            n += 1;
        }
        n
    }
}

/// A mutual-exclusion lock protecting a `T`.
pub struct Mutex<T> {
    locked: AtomicBool,
    waiters: WaitQueue,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked`.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: a Mutex<T> can move between threads if T can.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex { locked: AtomicBool::new(false), waiters: WaitQueue::new(), value: UnsafeCell::new(value) }
    }

    fn try_acquire(&self) -> bool {
        self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Locks, blocking (not spinning) while another thread holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        while !self.try_acquire() {
            self.waiters.wait_if(|| self.locked.load(Ordering::Acquire));
        }
        MutexGuard { mutex: self }
    }

    /// Locks if free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.try_acquire().then_some(MutexGuard { mutex: self })
    }

    fn release(&self) {
        self.locked.store(false, Ordering::Release);
        self.waiters.wake_one();
    }
}

/// Access to a locked [`Mutex`]'s value; unlocks when dropped.
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held by this thread.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.release();
    }
}

/// A condition variable: wait (releasing a mutex) until notified.
pub struct Condvar {
    waiters: WaitQueue,
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Self {
        Condvar { waiters: WaitQueue::new() }
    }

    /// Releases the mutex, waits to be notified, re-locks it. As with every condition
    /// variable, re-check the condition in a loop.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        core::mem::forget(guard);
        // Enqueue and release under the queue's lock: a notify cannot fall in between.
        self.waiters.wait_if(|| {
            mutex.release();
            true
        });
        mutex.lock()
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        self.waiters.wake_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.waiters.wake_all();
    }
}

/// A counting semaphore.
pub struct Semaphore {
    count: AtomicU32,
    waiters: WaitQueue,
}

impl Semaphore {
    /// A semaphore with `count` permits.
    pub const fn new(count: u32) -> Self {
        Semaphore { count: AtomicU32::new(count), waiters: WaitQueue::new() }
    }

    fn try_down(&self) -> bool {
        self.count.fetch_update(Ordering::Acquire, Ordering::Relaxed, |c| c.checked_sub(1)).is_ok()
    }

    /// Takes one unit, blocking while there is none.
    pub fn down(&self) {
        while !self.try_down() {
            self.waiters.wait_if(|| self.count.load(Ordering::Acquire) == 0);
        }
    }

    /// Gives one unit back, waking a waiter.
    pub fn up(&self) {
        self.count.fetch_add(1, Ordering::Release);
        self.waiters.wake_one();
    }
}
