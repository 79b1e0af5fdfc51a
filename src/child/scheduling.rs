//! The CPU scheduling policy of a client child (`child_scheduling_policy`, a pgpool-rs
//! extension). A child sits between two processes that block right after writing to it: the
//! client after its query, PostgreSQL after its reply. Under `SCHED_BATCH` the child, when that
//! write wakes it, does not preempt the writer. The writer reaches its own wait first, so each hop
//! costs one context switch instead of two. The child owns only its own policy. A policy that
//! the operator chose at start (real-time, idle) is left as it is.

use crate::logger::Severity;
use crate::pglog;

/// Switch this process to `SCHED_BATCH` (`batch`) or back to `SCHED_OTHER`, if it runs under
/// one of the two. Called at child start and after each reload.
pub fn apply(batch: bool) {
    // SAFETY: sched_getscheduler(0) only reads the calling process's policy.
    let current = unsafe { libc::sched_getscheduler(0) };
    if current != libc::SCHED_OTHER && current != libc::SCHED_BATCH {
        return;
    }
    let wanted = if batch {
        libc::SCHED_BATCH
    } else {
        libc::SCHED_OTHER
    };
    if current == wanted {
        return;
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that lives across the call; pid 0 is this process.
    // Switching between the two non-real-time policies needs no privilege and keeps the nice
    // value.
    if unsafe { libc::sched_setscheduler(0, wanted, &param) } != 0 {
        pglog!(
            Severity::Debug1,
            "could not set the scheduling policy of the child: {}",
            std::io::Error::last_os_error()
        );
    }
}
