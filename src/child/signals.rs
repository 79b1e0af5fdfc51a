//! Signals of a client child (spec/architecture.md §3.10): each handler sets a flag; the
//! accept loop and the session loop check the flags when poll(2) returns (EINTR included).

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// SIGTERM: smart shutdown — exit once between sessions.
pub static SMART_EXIT: AtomicBool = AtomicBool::new(false);
/// SIGINT / SIGQUIT: exit now.
pub static FAST_EXIT: AtomicBool = AtomicBool::new(false);
pub static RELOAD: AtomicBool = AtomicBool::new(false);
/// SIGUSR1: close idle pooled connections.
pub static CLOSE_IDLE: AtomicBool = AtomicBool::new(false);
pub static WAKEUP: AtomicBool = AtomicBool::new(false);
pub static ALARM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    let flag = match sig {
        libc::SIGTERM => &SMART_EXIT,
        libc::SIGINT | libc::SIGQUIT => &FAST_EXIT,
        libc::SIGHUP => &RELOAD,
        libc::SIGUSR1 => &CLOSE_IDLE,
        libc::SIGUSR2 => &WAKEUP,
        libc::SIGALRM => &ALARM,
        _ => return,
    };
    flag.store(true, SeqCst);
    if sig == libc::SIGINT || sig == libc::SIGQUIT {
        // a session blocked reading a startup packet, a password or a reply ends now
        crate::protocol::conn::cut_waits();
    }
}

/// Install the child's handlers (no SA_RESTART: blocking calls return EINTR).
pub fn install() {
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
    ] {
        // SAFETY: the handler only stores to atomics.
        let _ = unsafe { sigaction(s, &act) };
    }
    crate::main_process::signals::ignore(Signal::SIGPIPE);
}

/// Arm SIGALRM in `secs` seconds (0 disarms).
pub fn alarm(secs: u32) {
    ALARM.store(false, SeqCst);
    // SAFETY: alarm(2) has no memory-safety preconditions.
    unsafe { libc::alarm(secs) };
}
