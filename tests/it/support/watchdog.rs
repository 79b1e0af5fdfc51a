//! A cleanup process that outlives a killed test process.
//!
//! `Watchdog::spawn(script, args)` starts `sh -c` in its own process group, ignoring the terminal's
//! signals (so Ctrl-C on `cargo test` does not take it down with the tests), blocked reading its
//! stdin — a pipe whose only writer is the test process. When the owning guard is dropped normally
//! it cleans up itself and then calls `finish()`, which writes `done` so the watchdog just exits.
//! If the test process dies any other way (SIGKILL, SIGINT, abort), the kernel closes the pipe,
//! `read` sees EOF without `done`, and the watchdog runs `script` (arguments `$1`.. as given).

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    pub fn spawn<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Watchdog {
        let full = format!(
            "trap '' INT TERM HUP QUIT PIPE\n\
             IFS= read -r line || line=abandoned\n\
             [ \"$line\" = done ] && exit 0\n\
             {script}\n"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(full)
            .arg("pgpool-rs-test-watchdog") // $0
            .args(args)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn the cleanup watchdog (sh)");
        let stdin = child.stdin.take();
        Watchdog { child, stdin }
    }

    /// The owner has cleaned up: tell the watchdog, and reap it (bounded; it exits at once).
    pub fn finish(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = super::wait_until(Duration::from_secs(10), "the watchdog to exit", || {
            matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Watchdog {
    /// Dropped without `finish()`: the owner's own cleanup did not complete (it panicked), so close
    /// the pipe without `done` and let the watchdog run its script; wait for it, bounded.
    fn drop(&mut self) {
        if self.stdin.take().is_some() {
            let _ = super::wait_until(Duration::from_secs(60), "the watchdog's cleanup", || {
                matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
            });
        }
    }
}
