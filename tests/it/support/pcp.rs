//! Running the pcp tools in tests: ours (the built binaries) and Debian's pgpool-II 4.3.5 ones
//! (`/usr/sbin/pcp_*`, `/usr/sbin/pg_md5`), each with the PCP user of `daemon.rs`'s pcp.conf and
//! a private `.pcppass` passed through `PCPPASSFILE`, bounded in time, output captured.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::daemon::{PCP_PASSWORD, PCP_USER};
use super::wait_until;

/// Debian's tools, the arbiter.
pub const DEBIAN_BIN_DIR: &str = "/usr/sbin";

/// Our build of `tool` (`pcp_node_info`, …, `pg_md5`).
pub fn ours(tool: &str) -> PathBuf {
    PathBuf::from(match tool {
        "pcp_attach_node" => env!("CARGO_BIN_EXE_pcp_attach_node"),
        "pcp_detach_node" => env!("CARGO_BIN_EXE_pcp_detach_node"),
        "pcp_node_count" => env!("CARGO_BIN_EXE_pcp_node_count"),
        "pcp_node_info" => env!("CARGO_BIN_EXE_pcp_node_info"),
        "pcp_health_check_stats" => env!("CARGO_BIN_EXE_pcp_health_check_stats"),
        "pcp_pool_status" => env!("CARGO_BIN_EXE_pcp_pool_status"),
        "pcp_proc_count" => env!("CARGO_BIN_EXE_pcp_proc_count"),
        "pcp_proc_info" => env!("CARGO_BIN_EXE_pcp_proc_info"),
        "pcp_promote_node" => env!("CARGO_BIN_EXE_pcp_promote_node"),
        "pcp_recovery_node" => env!("CARGO_BIN_EXE_pcp_recovery_node"),
        "pcp_stop_pgpool" => env!("CARGO_BIN_EXE_pcp_stop_pgpool"),
        "pcp_watchdog_info" => env!("CARGO_BIN_EXE_pcp_watchdog_info"),
        "pcp_reload_config" => env!("CARGO_BIN_EXE_pcp_reload_config"),
        "pcp_log_rotate" => env!("CARGO_BIN_EXE_pcp_log_rotate"),
        "pcp_invalidate_query_cache" => env!("CARGO_BIN_EXE_pcp_invalidate_query_cache"),
        "pg_md5" => env!("CARGO_BIN_EXE_pg_md5"),
        other => panic!("no such tool: {other}"),
    })
}

/// Debian's `tool`.
pub fn debian(tool: &str) -> PathBuf {
    Path::new(DEBIAN_BIN_DIR).join(tool)
}

/// What one run printed and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// A private directory with a `.pcppass` (mode 0600) holding `*:*:<user>:<password>`; removed
/// on drop.
pub struct PcpPass {
    dir: tempfile::TempDir,
}

impl PcpPass {
    /// The file with the right password for `daemon.rs`'s PCP user.
    pub fn new() -> PcpPass {
        PcpPass::with_password(PCP_PASSWORD)
    }

    pub fn with_password(password: &str) -> PcpPass {
        PcpPass::with_text(&format!("*:*:{PCP_USER}:{password}\n"))
    }

    /// The file holding exactly `text`.
    pub fn with_text(text: &str) -> PcpPass {
        let dir = tempfile::Builder::new()
            .prefix("pgrs-pcppass-")
            .tempdir_in("/tmp")
            .expect("create a .pcppass directory");
        let path = dir.path().join(".pcppass");
        std::fs::write(&path, text).expect("write .pcppass");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod .pcppass");
        PcpPass { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join(".pcppass")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Run `bin` with `args` (`PCPPASSFILE` = `pass`, `HOME` = its directory, stdin closed), killed
/// after 30 s.
pub fn run(bin: &Path, args: &[&str], pass: &PcpPass) -> Run {
    run_in(bin, args, pass, pass.dir())
}

/// `run` from working directory `cwd`.
pub fn run_in(bin: &Path, args: &[&str], pass: &PcpPass, cwd: &Path) -> Run {
    let mut child = Command::new(bin)
        .args(args)
        .env("PCPPASSFILE", pass.path())
        .env("HOME", pass.dir())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let _ = wait_until(Duration::from_secs(30), "a pcp tool", || {
        !matches!(child.try_wait(), Ok(None))
    });
    let _ = child.kill();
    let out = child.wait_with_output().expect("collect tool output");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// `run` with stderr going where stdout goes (`2>&1`): `stdout` holds both, interleaved as a
/// reader of that one stream sees them.
pub fn run_merged(bin: &Path, args: &[&str], pass: &PcpPass) -> Run {
    let mut all = vec!["-c", "exec \"$0\" \"$@\" 2>&1"];
    let bin = bin.to_str().expect("utf-8 path");
    all.push(bin);
    all.extend_from_slice(args);
    run(Path::new("/bin/sh"), &all, pass)
}

/// Run ours and Debian's `tool` with the same `args`: `(ours, debian)`.
pub fn both(tool: &str, args: &[&str], pass: &PcpPass) -> (Run, Run) {
    (run(&ours(tool), args, pass), run(&debian(tool), args, pass))
}

/// `-h 127.0.0.1 -p <port> -U <user> -w` followed by `extra`.
pub fn args(pcp_port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "-h",
        super::HOST,
        "-p",
        &pcp_port.to_string(),
        "-U",
        PCP_USER,
        "-w",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `count` reserved loopback ports (e.g. a watchdog's wd_port and heartbeat port).
pub fn reserve_ports(count: u16) -> super::ports::PortBlock {
    super::ports::PortBlock::reserve(count)
}
