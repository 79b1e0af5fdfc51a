//! The follow-primary lock (spec/failover.md §13) between the follow child, the worker's
//! replication check and primary detection, as two advisory `flock(2)` files in `logdir`:
//! `follow_primary.lock` is the lock itself, `follow_primary.ongoing` is held by the follow
//! child only (pgpool's `follow_primary_ongoing` flag). The kernel drops both when the holder
//! dies, so a crashed holder never leaves them taken. No watchdog: remote holds do not exist.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;

/// A held lock; released on drop.
pub struct Held(File);

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: flock on a descriptor this value owns.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn path(cfg: &Config, name: &str) -> PathBuf {
    Path::new(cfg.get_str("logdir")).join(name)
}

fn take(p: &Path, block: bool) -> Option<Held> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
        .ok()?;
    loop {
        let op = libc::LOCK_EX | if block { 0 } else { libc::LOCK_NB };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Some(Held(f));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            if block {
                continue;
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        return None;
    }
}

/// Take the follow-primary lock; `block` waits for it. None when not taken (or the file cannot
/// be opened: then nothing is serialised, as without the lock).
pub fn acquire(cfg: &Config, block: bool) -> Option<Held> {
    take(&path(cfg, "follow_primary.lock"), block)
}

/// Mark the follow-primary command as running (held by the follow child).
pub fn mark_ongoing(cfg: &Config) -> Option<Held> {
    take(&path(cfg, "follow_primary.ongoing"), true)
}

/// Whether a follow child is running its commands now.
pub fn follow_ongoing(cfg: &Config) -> bool {
    take(&path(cfg, "follow_primary.ongoing"), false).is_none()
        && path(cfg, "follow_primary.ongoing").exists()
}
