//! Signals of pgpool's auxiliary processes (the worker, the health checks): SIGHUP asks for a
//! reload, SIGUSR1 for a restart, SIGTERM / SIGINT / SIGQUIT for the exit. Each only sets a flag
//! that the process's loop reads; `pause` is their sleep, cut short by any of them.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigHandler, Signal};

pub static RELOAD: AtomicBool = AtomicBool::new(false);
pub static RESTART: AtomicBool = AtomicBool::new(false);
pub static EXIT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    let flag = match sig {
        libc::SIGHUP => &RELOAD,
        libc::SIGUSR1 => &RESTART,
        libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => &EXIT,
        _ => return,
    };
    flag.store(true, SeqCst);
}

/// Install the flag handlers, and ignore SIGPIPE and the signals in `ignore`.
pub fn install(ignore: &[Signal]) {
    // SAFETY: the handler only stores to atomics.
    unsafe {
        crate::main_process::signals::set_disposition(
            &[
                Signal::SIGHUP,
                Signal::SIGUSR1,
                Signal::SIGTERM,
                Signal::SIGINT,
                Signal::SIGQUIT,
            ],
            SigHandler::Handler(on_signal),
        )
    };
    crate::main_process::signals::ignore(Signal::SIGPIPE);
    for &s in ignore {
        crate::main_process::signals::ignore(s);
    }
}

/// After SIGHUP: log it as pgpool does, re-read the configuration (a file that does not load keeps the old one) and
/// apply its logging settings. True when a reload was asked for.
pub fn reload_if_asked(cfg: &mut crate::config::Config) -> bool {
    if !RELOAD.swap(false, SeqCst) {
        return false;
    }
    crate::pglog!(crate::logger::Severity::Log, "reloading config file");
    if let Ok((c, _)) = cfg.reload() {
        crate::logger::apply(&crate::logger::LogSettings::from_config(&c));
        *cfg = c;
    }
    true
}

/// Sleep `d`, cut short by a signal (as sleep(3) is).
pub fn pause(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if EXIT.load(SeqCst) || RESTART.load(SeqCst) || RELOAD.load(SeqCst) {
            return;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
    }
}
