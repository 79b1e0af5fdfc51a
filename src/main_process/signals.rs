//! Signals of the main process: handlers only set a flag and write one byte to a self-pipe that
//! the main loop polls (spec/architecture.md §2.2). Also the helpers to block all signals around
//! fork and to give a forked process default dispositions back.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};

use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};

pub static GOT_SIGCHLD: AtomicBool = AtomicBool::new(false);
pub static GOT_SIGHUP: AtomicBool = AtomicBool::new(false);
pub static GOT_SIGUSR1: AtomicBool = AtomicBool::new(false);
pub static GOT_SIGUSR2: AtomicBool = AtomicBool::new(false);
/// The shutdown signal received (SIGTERM / SIGINT / SIGQUIT), 0 if none.
pub static SHUTDOWN_SIGNAL: AtomicI32 = AtomicI32::new(0);
static PIPE_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGCHLD => GOT_SIGCHLD.store(true, SeqCst),
        libc::SIGHUP => GOT_SIGHUP.store(true, SeqCst),
        libc::SIGUSR1 => GOT_SIGUSR1.store(true, SeqCst),
        libc::SIGUSR2 => GOT_SIGUSR2.store(true, SeqCst),
        libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
            // The first shutdown request wins, except that a faster mode overrides smart.
            let cur = SHUTDOWN_SIGNAL.load(SeqCst);
            if cur == 0 || cur == libc::SIGTERM {
                SHUTDOWN_SIGNAL.store(sig, SeqCst);
            }
        }
        _ => {}
    }
    let fd = PIPE_WRITE_FD.load(SeqCst);
    if fd >= 0 {
        let b = [0u8; 1];
        // SAFETY: write(2) is async-signal-safe; fd is the non-blocking self-pipe.
        unsafe { libc::write(fd, b.as_ptr().cast(), 1) };
    }
}

/// The self-pipe; the read end is polled by the main loop.
pub struct SelfPipe {
    pub read: OwnedFd,
    _write: OwnedFd,
}

impl SelfPipe {
    /// Create the pipe and install the main-process handlers.
    pub fn install() -> nix::Result<SelfPipe> {
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)?;
        PIPE_WRITE_FD.store(w.as_raw_fd(), SeqCst);
        let act = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for s in [
            Signal::SIGCHLD,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGQUIT,
        ] {
            // SAFETY: the handler only touches atomics and calls write(2).
            unsafe { sigaction(s, &act) }?;
        }
        ignore(Signal::SIGPIPE);
        Ok(SelfPipe { read: r, _write: w })
    }

    /// Empty the pipe after a wake-up.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(self.read.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}

/// Give every signal of `sigs` the disposition `h` (no SA_RESTART: a handled signal ends a
/// blocking call, so that the caller's loop sees its flag at once).
///
/// # Safety
/// A `SigHandler::Handler` must be async-signal-safe (store to atomics, write(2)).
pub unsafe fn set_disposition(sigs: &[Signal], h: SigHandler) {
    let act = SigAction::new(h, SaFlags::empty(), SigSet::empty());
    for &s in sigs {
        // SAFETY: the caller vouches for the handler (see above).
        let _ = unsafe { sigaction(s, &act) };
    }
}

/// Ignore a signal.
pub fn ignore(sig: Signal) {
    // SAFETY: installing SIG_IGN has no handler code to be unsafe about.
    let _ = unsafe {
        sigaction(
            sig,
            &SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty()),
        )
    };
}

/// Block every signal; returns the previous mask to restore with `restore_mask`.
pub fn block_all() -> SigSet {
    let mut old = SigSet::empty();
    let _ = sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    old
}

pub fn restore_mask(old: &SigSet) {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(old), None);
}

/// In a freshly forked process: forget the main process's self-pipe and handlers.
pub fn reset_after_fork() {
    PIPE_WRITE_FD.store(-1, SeqCst);
    for s in [
        Signal::SIGCHLD,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGALRM,
    ] {
        // SAFETY: restoring the default disposition.
        let _ = unsafe {
            sigaction(
                s,
                &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty()),
            )
        };
    }
}
