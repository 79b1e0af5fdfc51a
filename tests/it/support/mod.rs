//! Test support shared by every integration test: real PostgreSQL clusters (`cluster`) and our
//! daemon started against them (`daemon`), plus the plumbing both need — loopback ports reserved
//! across test processes (`ports`), the unprivileged OS user servers run as (`os_user`), a
//! watchdog that cleans up even when the test process is killed (`watchdog`), running psql, the
//! wire protocol by hand (`wire`, `frames`) and a seeded generator for randomized tests (`rng`).
//!
//! Cleanup contract: everything a helper starts is stopped and every directory it makes is removed
//! when its guard is dropped (also while a test panics). If the test process dies without
//! unwinding (SIGKILL, Ctrl-C, abort), a watchdog process per guard notices its stdin pipe close
//! and does the same cleanup. The shared cluster lives in a static, which is never dropped: an
//! `atexit` handler tears it down when the test binary exits normally (see `cluster.rs`).

pub mod cluster;
#[allow(dead_code)] // each test module uses a different part of it
pub mod daemon;
#[allow(dead_code)] // each test module uses a different part of it
pub mod frames;
pub mod os_user;
#[allow(dead_code)] // pcp_tools.rs uses most of it; the lead's runs use the rest
pub mod pcp;
pub mod ports;
pub mod rng;
#[allow(dead_code)] // routing.rs and extended.rs each use a part of it
pub mod sr;
mod watchdog;
pub mod wire;

use std::process::Command;
use std::time::{Duration, Instant};

/// The only address anything listens on or connects to in the tests.
pub const HOST: &str = "127.0.0.1";

/// Poll `cond` every 100 ms until it holds or `timeout` passes; `what` names the wait in the error.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> Result<(), String> {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A psql command with none of the caller's `PG*` environment leaking in: no password file, no
/// service file, no SSL, a bounded connect timeout, no psqlrc, unaligned tuples-only output.
pub fn psql_command(port: u16, user: &str, password: Option<&str>, db: &str) -> Command {
    // the version's own psql, not Debian's pg_wrapper on PATH (which needs perl and guesses)
    let mut cmd = Command::new(cluster::pgbin().join("psql"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    // no password file (PGPASSFILE=/dev/null draws a warning: "not a plain file")
    cmd.env("PGPASSFILE", "/nonexistent/pgpass")
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGAPPNAME", "pgpool-rs-tests")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", HOST])
        .arg("-p")
        .arg(port.to_string())
        .args(["-U", user, "-d", db]);
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    } else {
        cmd.arg("-w"); // never prompt
    }
    cmd
}

/// Run `sql` with psql; `Ok(stdout)` without the trailing newline, or `Err(stderr)`.
pub fn psql(
    port: u16,
    user: &str,
    password: Option<&str>,
    db: &str,
    sql: &str,
) -> Result<String, String> {
    let out = psql_command(port, user, password, db)
        .arg("-c")
        .arg(sql)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string())
    } else {
        Err(format!(
            "psql {} ({}): {}",
            out.status,
            sql,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}

/// The last `n` lines of `text` (for failure messages).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Panics (with the log's end) unless each of `lines` occurs in `log` after its first
/// `marker` (e.g. the lines pgpool writes after its start-up message).
pub fn assert_logged_after(log: &str, marker: &str, lines: &[&str]) {
    let after = log
        .split_once(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in\n{}", tail(log, 40)))
        .1;
    for line in lines {
        assert!(
            after.contains(line),
            "no {line:?} after {marker:?} in\n{}",
            tail(log, 60)
        );
    }
}

/// Run `cmd` to completion with stdin from /dev/null and stdout/stderr captured through
/// temporary files (not pipes: a daemon that inherits them cannot hold the caller up), killed
/// after `timeout`. Returns the output and whether it finished in time.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> (std::process::Output, bool) {
    let out = tempfile::tempfile().expect("temporary file for stdout");
    let err = tempfile::tempfile().expect("temporary file for stderr");
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup stdout file"))
        .stderr(err.try_clone().expect("dup stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let finished = wait_until(timeout, "the command to exit", || {
        !matches!(child.try_wait(), Ok(None))
    })
    .is_ok();
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().expect("reap the command");
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).expect("rewind");
        f.read_to_end(&mut v).expect("read captured output");
        v
    };
    (
        std::process::Output {
            status,
            stdout: read(out),
            stderr: read(err),
        },
        finished,
    )
}
