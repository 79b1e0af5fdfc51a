//! The one lock kind used in shared memory: a process-shared, robust pthread mutex. When its
//! holder dies the next locker gets EOWNERDEAD, marks the mutex consistent and carries on —
//! the property pgpool gets from SysV semaphores with SEM_UNDO. Never a spinlock.

use std::cell::UnsafeCell;

/// A robust, process-shared mutex living inside the shared region.
#[repr(C)]
pub struct RobustMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: the pthread mutex is designed to be shared between processes and threads; all access
// goes through the pthread API.
unsafe impl Sync for RobustMutex {}

impl RobustMutex {
    /// Initialise in place. Must be called once, by the parent, before any fork.
    ///
    /// # Safety
    /// `this` must point to writable memory in the shared region that no other process uses yet.
    pub unsafe fn init(this: *mut RobustMutex) {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        libc::pthread_mutex_init((*this).inner.get(), &attr);
        libc::pthread_mutexattr_destroy(&mut attr);
    }

    /// Take the lock, recovering it if the previous holder died. Returns a guard.
    pub fn lock(&self) -> RobustGuard<'_> {
        // SAFETY: the mutex was initialised by `init` before any process could reach it.
        let rc = unsafe { libc::pthread_mutex_lock(self.inner.get()) };
        if rc == libc::EOWNERDEAD {
            // SAFETY: we own the mutex now; marking it consistent is the documented recovery.
            unsafe { libc::pthread_mutex_consistent(self.inner.get()) };
        }
        RobustGuard { m: self }
    }

    /// Take the lock, waiting at most `wait` (None = timed out). Lets a waiter look at its
    /// signals now and then: a pthread mutex wait is not interrupted by them.
    pub fn lock_within(&self, wait: std::time::Duration) -> Option<RobustGuard<'_>> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
        let nanos = now.tv_nsec as u64 + u64::from(wait.subsec_nanos());
        let until = libc::timespec {
            tv_sec: now.tv_sec
                + wait.as_secs() as libc::time_t
                + (nanos / 1_000_000_000) as libc::time_t,
            tv_nsec: (nanos % 1_000_000_000) as _,
        };
        // SAFETY: as in `lock`; `until` is a valid absolute CLOCK_REALTIME time.
        match unsafe { libc::pthread_mutex_timedlock(self.inner.get(), &until) } {
            0 => Some(RobustGuard { m: self }),
            libc::EOWNERDEAD => {
                // SAFETY: as in `lock`.
                unsafe { libc::pthread_mutex_consistent(self.inner.get()) };
                Some(RobustGuard { m: self })
            }
            _ => None,
        }
    }

    /// Try to take the lock without waiting.
    pub fn try_lock(&self) -> Option<RobustGuard<'_>> {
        // SAFETY: as in `lock`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.inner.get()) };
        match rc {
            0 => Some(RobustGuard { m: self }),
            libc::EOWNERDEAD => {
                // SAFETY: as in `lock`.
                unsafe { libc::pthread_mutex_consistent(self.inner.get()) };
                Some(RobustGuard { m: self })
            }
            _ => None,
        }
    }
}

/// Holds a `RobustMutex` until dropped.
pub struct RobustGuard<'a> {
    m: &'a RobustMutex,
}

impl Drop for RobustGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard exists only while the current process holds the lock.
        unsafe { libc::pthread_mutex_unlock(self.m.inner.get()) };
    }
}
