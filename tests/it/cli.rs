//! The `pgpool` binary's command line (spec/cli.md §1): every option and mode, the messages and
//! exit codes, the pid file, daemonizing; loading pgpool.conf through the binary (config.md
//! §1–§5: FATAL at start); and reloading it (`pgpool reload`, SIGHUP: WARNING, old value kept;
//! new sessions and, after their next message, open ones follow). Tests that compare with
//! pgpool-II 4.3.5 say so; run them with `PGRS_PGPOOL_BIN=/usr/sbin/pgpool`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::cluster::{process_alive, shared_cluster};
use crate::support::daemon::{children_of, pgpool_bin, process_title, Daemon};
use crate::support::{output_within, tail, wait_until};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
const WAIT: Duration = Duration::from_secs(20);

/// Run the binary with `args` only (no -f/-F), from `/tmp`, bounded.
fn pgpool(args: &[&str]) -> Output {
    let (out, finished) = output_within(
        Command::new(pgpool_bin()).args(args).current_dir("/tmp"),
        COMMAND_TIMEOUT,
    );
    assert!(
        finished,
        "pgpool {args:?} did not exit within {COMMAND_TIMEOUT:?}"
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// A prepared daemon directory whose pgpool.conf is `prefix` followed by the generated lines
/// (backends, ports, sockets, pid file, logdir) — later values win.
fn prepare_with_prefix(prefix: &str, extra_conf: &str) -> Daemon {
    let d = Daemon::prepare(shared_cluster(), extra_conf);
    let generated = std::fs::read_to_string(d.conf_path()).expect("read the generated pgpool.conf");
    std::fs::write(d.conf_path(), format!("{prefix}\n{generated}")).expect("write pgpool.conf");
    d
}

/// Launch `d` in the foreground with the usual -f/-F plus `args`; panics with the log on failure.
fn launch(d: &mut Daemon, args: &[&str]) {
    d.launch_foreground(args).unwrap_or_else(|e| panic!("{e}"));
}

fn assert_serves(d: &Daemon) {
    assert_eq!(
        d.psql("select 40 + 2").as_deref(),
        Ok("42"),
        "log:\n{}",
        tail(&d.log(), 30)
    );
}

fn append_conf(d: &Daemon, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.conf_path())
        .expect("open pgpool.conf");
    writeln!(f, "{text}").expect("append to pgpool.conf");
}

fn pid_file(d: &Daemon) -> std::path::PathBuf {
    d.dir().join("pgpool.pid")
}

/// A directory holding a pgpool.conf that only puts the pid file (`pgpool.pid`) and logdir
/// there: enough for `stop` and `reload`, which start nothing.
fn scratch_conf() -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix("pgrs-cli-")
        .tempdir_in("/tmp")
        .expect("create a scratch directory");
    let conf = dir.path().join("pgpool.conf");
    let d = dir.path().display();
    std::fs::write(
        &conf,
        format!("pid_file_name = '{d}/pgpool.pid'\nlogdir = '{d}'\n"),
    )
    .expect("write pgpool.conf");
    (dir, conf.display().to_string())
}

/// A process of ours standing in for a running pgpool: `cmd` spawned, its pid written to
/// `pid_file` as pgpool writes it; a thread reaps it (`pgpool stop` waits for the pid to be
/// gone, and a zombie is not) and hands back how it ended.
fn stand_in(
    cmd: &mut Command,
    pid_file: &Path,
) -> (u32, std::thread::JoinHandle<std::process::ExitStatus>) {
    let mut child = cmd.spawn().expect("spawn the stand-in");
    let pid = child.id();
    std::fs::write(pid_file, format!("{pid}\0")).expect("write the pid file");
    let reaper = std::thread::spawn(move || child.wait().expect("reap the stand-in"));
    (pid, reaper)
}

/// A pid that certainly belongs to no process: one of ours that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("run true");
    let pid = child.id();
    child.wait().expect("reap true");
    assert!(!process_alive(pid));
    pid
}

// ---- options -------------------------------------------------------------------------------

#[test]
fn version_option_prints_the_version_on_stderr_and_exits_0() {
    for flag in ["-v", "--version"] {
        let out = pgpool(&[flag]);
        assert_eq!(code(&out), Some(0), "{flag}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!("pgpool-II version {}\n", pgpool_rs::version_string()),
            "{flag}"
        );
        assert!(
            pgpool_rs::version_string().ends_with(" (chirikoboshi)"),
            "{}",
            pgpool_rs::version_string()
        );
        assert!(stdout(&out).is_empty(), "{flag}: stdout {:?}", stdout(&out));
    }
}

#[test]
fn help_option_prints_usage_on_stderr_and_exits_0() {
    for flag in ["-h", "--help"] {
        let out = pgpool(&[flag]);
        assert_eq!(code(&out), Some(0), "{flag}");
        let err = stderr(&out);
        assert!(err.starts_with("pgpool-II version "), "{flag}: {err}");
        for line in [
            "  A generic connection pool/replication/load balance server for PostgreSQL",
            "Usage:",
            "         [ -m SHUTDOWN-MODE ] stop",
            "  -n, --dont-detach   Don't run in daemon mode, does not detach control tty",
            "  immediate   the same mode as fast",
        ] {
            assert!(
                err.lines().any(|l| l == line),
                "{flag}: no {line:?} in\n{err}"
            );
        }
        assert!(stdout(&out).is_empty());
    }
}

fn assert_usage_exit_1(args: &[&str]) {
    let out = pgpool(args);
    assert_eq!(code(&out), Some(1), "{args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("\nUsage:\n"),
        "{args:?}: no usage on stderr:\n{}",
        stderr(&out)
    );
}

#[test]
fn unknown_option_prints_usage_and_exits_1() {
    // -c is in pgpool's usage text but is not an option
    for args in [&["-c"][..], &["--bogus"], &["-q"], &["-f"]] {
        assert_usage_exit_1(args);
    }
}

#[test]
fn unknown_word_or_two_words_print_usage_and_exit_1() {
    for args in [
        &["status"][..],
        &["logrotate"],
        &["stop", "reload"],
        &["stop", "stop"],
    ] {
        assert_usage_exit_1(args);
    }
}

#[test]
fn bad_stop_mode_prints_usage_and_exits_1() {
    for args in [
        &["-m", "x", "stop"][..],
        &["-m", "", "stop"],
        &["--mode=quick", "stop"],
    ] {
        assert_usage_exit_1(args);
    }
}

/// getopt as pgpool reads its options: one given twice is accepted and its last value wins
/// (pgpool-II 4.3.5 runs `-n -n`, `-d -d`, `-f /a -f X`, `-m smart -m fast` that way).
#[test]
fn a_repeated_option_is_accepted_and_its_last_value_wins() {
    let (dir, conf) = scratch_conf();
    for args in [
        &["-n", "-n", "-f", &conf, "stop"][..],
        &["-d", "-d", "-f", &conf, "stop"],
        &["-f", "/nonexistent/pgpool.conf", "-f", &conf, "stop"],
    ] {
        // the configuration read is the last -f's: its pid file is missing
        let out = pgpool(args);
        assert_eq!(code(&out), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("FATAL:  could not read pid file")
                && !stderr(&out).contains("/nonexistent"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    for (modes, signal) in [
        (["smart", "fast"], libc::SIGINT),
        (["fast", "smart"], libc::SIGTERM),
    ] {
        let (pid, reaper) = stand_in(
            Command::new("sleep").arg("30"),
            &dir.path().join("pgpool.pid"),
        );
        let out = pgpool(&["-m", modes[0], "-f", &conf, "--mode", modes[1], "stop"]);
        assert_eq!(code(&out), Some(0), "{modes:?}: {}", stderr(&out));
        let status = reaper.join().expect("reaper thread");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(signal),
            "{modes:?}: stand-in {pid} ended with {status}"
        );
    }
}

/// An unknown option or one missing its argument is named on the line before the usage, in
/// the words of the getopt bundled with pgpool-II 4.3.5 (`<argv0>: illegal option -- c`).
#[test]
fn a_bad_option_is_named_before_the_usage() {
    let bin = pgpool_bin().display().to_string();
    for (args, line) in [
        (&["-c"][..], "illegal option -- c"),
        (&["-nc"], "illegal option -- c"),
        (&["--bogus"], "illegal option -- bogus"),
        (&["--conf=x"], "illegal option -- conf=x"),
        (&["-f"], "option requires an argument -- f"),
        (
            &["--config-file"],
            "option requires an argument -- config-file",
        ),
    ] {
        let out = pgpool(args);
        assert_eq!(code(&out), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("{bin}: {line}\npgpool-II version ")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn stop_without_a_pid_file_is_fatal_could_not_read_pid_file_exit_3() {
    let d = Daemon::prepare(shared_cluster(), "");
    assert!(!pid_file(&d).exists());
    for mode in ["smart", "fast", "immediate"] {
        let out = d.pgpool(&["-m", mode, "stop"]);
        assert_eq!(code(&out), Some(3), "{mode}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("FATAL:  could not read pid file"),
            "{mode}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn reload_without_a_pid_file_exits_1() {
    let d = Daemon::prepare(shared_cluster(), "");
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("FATAL:  could not read pid file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn stop_and_reload_with_a_dead_pid_in_the_pid_file_fail() {
    let d = Daemon::prepare(shared_cluster(), "");
    let dead = dead_pid();
    std::fs::write(pid_file(&d), format!("{dead}\0")).expect("write pid file");
    let out = d.pgpool(&["-m", "fast", "stop"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("FATAL:  could not stop process with pid: {dead}"))
            && stderr(&out).contains("DETAIL:  No such process"),
        "{}",
        stderr(&out)
    );
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "FATAL:  could not reload configuration file pid: {dead}"
        )),
        "{}",
        stderr(&out)
    );
}

/// A pid file that exists but gives no pid is FATAL in every mode, exit 3 (pgpool-II 4.3.5):
/// empty — `EOF detected while reading pid file "<path>"` with the DETAIL `Success` (pgpool's
/// strerror of no error) —, or unreadable — `could not read pid file "<path>"` with the reason.
#[test]
fn an_empty_or_unreadable_pid_file_is_fatal_in_every_mode() {
    for empty in [true, false] {
        let mut d = Daemon::prepare(shared_cluster(), "");
        let path = pid_file(&d);
        let (fatal, detail) = if empty {
            std::fs::write(&path, "").expect("write an empty pid file");
            ("EOF detected while reading pid file", "Success")
        } else {
            std::fs::create_dir(&path).expect("make the pid file a directory");
            ("could not read pid file", "Is a directory")
        };
        let want = format!("FATAL:  {fatal} \"{}\"\n", path.display());
        let want_detail = format!("DETAIL:  {detail}\n");
        for args in [&["stop"][..], &["-m", "fast", "stop"], &["reload"]] {
            let out = d.pgpool(args);
            assert_eq!(code(&out), Some(3), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(&want) && stderr(&out).contains(&want_detail),
                "{args:?}: {}",
                stderr(&out)
            );
        }
        let started = d.launch_foreground(&[]);
        let err = started.expect_err("the daemon started with a bad pid file");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(
            d.log().contains(&want) && d.log().contains(&want_detail),
            "{}",
            d.log()
        );
    }
}

/// The pid file cannot be created: FATAL `could not open pid file "<path>"` with the reason as
/// DETAIL, exit 3 (pgpool-II 4.3.5).
#[test]
fn a_pid_file_that_cannot_be_created_is_fatal() {
    let probe = Daemon::prepare(shared_cluster(), "");
    let path = probe.dir().join("no-such-dir").join("pgpool.pid");
    let mut d = Daemon::prepare(
        shared_cluster(),
        &format!("pid_file_name = '{}'", path.display()),
    );
    let err = d
        .launch_foreground(&[])
        .expect_err("the daemon started without a pid file");
    assert!(err.contains("exit status: 3"), "{err}");
    let log = d.log();
    assert!(
        log.contains(&format!(
            "FATAL:  could not open pid file \"{}\"\n",
            path.display()
        )) && log.contains("DETAIL:  No such file or directory\n"),
        "{log}"
    );
}

/// `pgpool stop` sends the signal again every fifth second of waiting and logs its LOG line
/// again each time, right after the dots (pgpool-II 4.3.5:
/// `.....<prefix>LOG:  stop request sent to pgpool (pid: N). waiting for termination...`).
#[test]
fn stop_logs_each_signal_it_sends_again() {
    let (dir, conf) = scratch_conf();
    // a stand-in that ignores SIGTERM (smart mode) and ends by itself after 7 s
    let (pid, reaper) = stand_in(
        Command::new("sh").args(["-c", "trap '' TERM; sleep 7"]),
        &dir.path().join("pgpool.pid"),
    );
    let out = pgpool(&["-f", &conf, "stop"]);
    reaper.join().expect("reaper thread");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let sent =
        format!("LOG:  stop request sent to pgpool (pid: {pid}). waiting for termination...");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].ends_with(&sent), "{err}");
    assert!(
        lines[1].starts_with(".....2") && lines[1].ends_with(&sent),
        "{err}"
    );
    assert!(
        lines[2].starts_with('.') && lines[2].ends_with(".done."),
        "{err}"
    );
}

#[test]
fn start_with_a_live_pid_file_refuses_and_exits_1() {
    let d = Daemon::prepare(shared_cluster(), "");
    // this test process is certainly alive
    let me = std::process::id();
    std::fs::write(pid_file(&d), format!("{me}\0")).expect("write pid file");
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "pid file found. is another pgpool({me}) is running?"
        )),
        "{}",
        stderr(&out)
    );
    // the other pgpool's pid file is left alone
    assert_eq!(
        std::fs::read(pid_file(&d)).expect("pid file kept"),
        format!("{me}\0").into_bytes()
    );
    assert!(
        std::net::TcpStream::connect((d.host(), d.port())).is_err(),
        "something listens on the port"
    );
}

#[test]
fn start_with_a_stale_pid_file_logs_a_notice_and_starts() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    let dead = dead_pid();
    std::fs::write(pid_file(&d), format!("{dead}\0")).expect("write pid file");
    launch(&mut d, &[]);
    assert!(
        d.log().contains(
            "NOTICE: pid file found but it seems bogus. Trying to start pgpool anyway..."
        ),
        "{}",
        tail(&d.log(), 20)
    );
    let me = d.pid().expect("running");
    assert_eq!(
        std::fs::read(pid_file(&d)).expect("pid file"),
        format!("{me}\0").into_bytes(),
        "the pid file holds the new daemon's pid"
    );
    assert_serves(&d);
}

#[test]
fn foreground_option_keeps_the_daemon_attached_and_writes_the_pid_file() {
    let d = Daemon::start(shared_cluster(), "");
    let pid = d.pid().expect("running");
    // `-n`: the process we started is the server itself (no fork-and-exit)
    assert_eq!(
        std::fs::read(pid_file(&d)).expect("pid file"),
        format!("{pid}\0").into_bytes()
    );
    assert_serves(&d);
    // children accept before the main process logs that start-up is over
    d.wait_log("pgpool-II successfully started. version ");
}

/// The process group of a daemonized server, SIGKILLed on drop if still there.
struct Daemonized(u32);

impl Drop for Daemonized {
    fn drop(&mut self) {
        if process_alive(self.0) {
            // SAFETY: kill(2) on the server's own process group (it called setsid).
            unsafe { libc::kill(-(self.0 as i32), libc::SIGKILL) };
        }
    }
}

/// `/proc/<pid>/stat` fields after the command name (state, ppid, pgrp, session, ...).
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .map(|i| {
            stat[i + 1..]
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn without_foreground_option_the_daemon_detaches_and_stop_ends_it() {
    let d = Daemon::prepare(shared_cluster(), "");
    let (out, finished) = output_within(
        Command::new(pgpool_bin())
            .arg("-f")
            .arg(d.conf_path())
            .arg("-F")
            .arg(d.pcp_conf_path())
            .current_dir(d.dir()),
        COMMAND_TIMEOUT,
    );
    assert!(finished, "`pgpool` without -n did not return");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // the pid file appears with the daemon's pid, NUL-terminated
    let mut raw = Vec::new();
    wait_until(WAIT, "the pid file", || {
        raw = std::fs::read(pid_file(&d)).unwrap_or_default();
        raw.ends_with(b"\0")
    })
    .unwrap_or_else(|e| panic!("{e}: {raw:?}"));
    let pid: u32 = std::str::from_utf8(&raw[..raw.len() - 1])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("pid file content {raw:?} is not \"<pid>\\0\""));
    let _guard = Daemonized(pid);
    assert!(process_alive(pid), "daemon {pid} is not running");
    let stat = stat_fields(pid);
    assert_eq!(
        stat.get(3).map(String::as_str),
        Some(pid.to_string().as_str()),
        "the daemon is not a session leader (setsid): {stat:?}"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd"))
            .ok()
            .as_deref(),
        Some(Path::new("/")),
        "the daemon did not chdir to /"
    );
    wait_until(WAIT, "the daemon to serve queries", || {
        d.psql("select 1").is_ok()
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", d.psql("select 1")));
    assert_serves(&d);
    // the child that served the queries is back to waiting once its session's end is done
    let waiting = || {
        children_of(pid)
            .into_iter()
            .filter(|&c| process_title(c) == "pgpool: wait for connection request")
            .count()
    };
    wait_until(WAIT, "num_init_children = 4 children waiting", || {
        waiting() == 4
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", children_of(pid)));
    let children = children_of(pid);

    let out = d.pgpool(&["stop"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "stop request sent to pgpool (pid: {pid}). waiting for termination..."
        )) && stderr(&out).trim_end().ends_with("done."),
        "{}",
        stderr(&out)
    );
    assert!(!process_alive(pid), "daemon still running after stop");
    assert!(!pid_file(&d).exists(), "pid file left behind");
    for c in children {
        assert!(!process_alive(c), "child {c} survived stop");
    }
}

/// spec/cli.md §1.3 step 4: the detached daemon has stdin/stdout/stderr on /dev/null and no
/// other descriptor it inherited (here an open file on descriptor 7 and the caller's stderr).
#[test]
fn daemonizing_points_stdio_at_dev_null_and_closes_inherited_descriptors() {
    let d = Daemon::prepare(shared_cluster(), "");
    let leaked = d.dir().join("inherited-fd");
    let (out, finished) = output_within(
        Command::new("sh")
            .arg("-c")
            .arg(r#"exec 7>"$1"; exec "$2" -f "$3" -F "$4""#)
            .arg("sh")
            .arg(&leaked)
            .arg(pgpool_bin())
            .arg(d.conf_path())
            .arg(d.pcp_conf_path())
            .current_dir(d.dir()),
        COMMAND_TIMEOUT,
    );
    assert!(finished && code(&out) == Some(0), "{}", stderr(&out));
    let mut pid = None;
    wait_until(WAIT, "the pid file", || {
        pid = std::fs::read_to_string(pid_file(&d))
            .ok()
            .and_then(|t| t.trim_end_matches('\0').parse::<u32>().ok());
        pid.is_some()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let pid = pid.expect("waited for it");
    let _guard = Daemonized(pid);
    wait_until(WAIT, "the daemon to serve", || d.psql("select 1").is_ok())
        .unwrap_or_else(|e| panic!("{e}"));
    let fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the daemon's descriptors")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    for fd in ["0", "1", "2"] {
        assert!(
            fds.iter().any(|(n, t)| n == fd && t == "/dev/null"),
            "fd {fd} is not /dev/null: {fds:?}"
        );
    }
    assert!(
        !fds.iter().any(|(_, t)| t.contains("inherited-fd")),
        "the daemon kept an inherited descriptor: {fds:?}"
    );
    let out = d.pgpool(&["-m", "fast", "stop"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}

#[test]
fn without_discard_status_option_pgpool_status_is_restored() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    let status = d.dir().join("pgpool_status");
    std::fs::write(&status, "up\ndown\n").expect("write pgpool_status");
    launch(&mut d, &[]);
    assert_serves(&d);
    let log = d.log();
    assert!(
        !log.contains("pgpool_status discarded"),
        "{}",
        tail(&log, 20)
    );
    assert!(
        log.contains("LOG:  reading status file: 1 th backend is set to down status"),
        "{}",
        tail(&log, 20)
    );
    assert_eq!(
        std::fs::read_to_string(&status).expect("pgpool_status"),
        "up\ndown\n"
    );
}

#[test]
fn discard_status_option_discards_the_pgpool_status_file() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    let status = d.dir().join("pgpool_status");
    std::fs::write(&status, "up\ndown\n").expect("write pgpool_status");
    launch(&mut d, &["-D"]);
    // a fresh status file: node 1's recorded `down` is forgotten
    wait_until(WAIT, "pgpool_status to be rewritten", || {
        std::fs::read_to_string(&status).is_ok_and(|t| t == "up\nup\n")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", std::fs::read_to_string(&status)));
    assert!(
        d.log().contains(&format!(
            "LOG:  Backend status file {} discarded",
            status.display()
        )),
        "{}",
        tail(&d.log(), 20)
    );
    assert_serves(&d);
}

#[test]
fn debug_option_turns_debug_messages_on() {
    let mut plain = Daemon::prepare(shared_cluster(), "");
    launch(&mut plain, &[]);
    assert_serves(&plain);
    assert!(
        !plain.log().contains("DEBUG:"),
        "debug lines without -d:\n{}",
        tail(&plain.log(), 20)
    );
    drop(plain);

    let mut d = Daemon::prepare(shared_cluster(), "");
    launch(&mut d, &["-d"]);
    assert_serves(&d);
    let log = d.log();
    assert!(
        log.lines()
            .any(|l| l.contains(": main pid ") && l.contains("DEBUG:  ")),
        "no debug line from the main process with -d:\n{}",
        tail(&log, 20)
    );
    assert!(
        log.lines()
            .any(|l| l.contains(": child pid ") && l.contains("DEBUG:  ")),
        "no debug line from a child with -d:\n{}",
        tail(&log, 20)
    );
}

#[test]
fn relative_config_file_paths_resolve_against_the_current_directory() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    // launch runs in the daemon directory; the paths are relative to it
    d.launch(&["-n", "-f", "pgpool.conf", "-F", "./pcp.conf"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_serves(&d);
    // and through the long options, from the parent directory, for `reload` and `stop`
    let parent = d
        .dir()
        .parent()
        .expect("daemon dir has a parent")
        .to_path_buf();
    let name = d.dir().file_name().expect("daemon dir name").to_owned();
    let conf = Path::new(&name).join("pgpool.conf");
    let (out, _) = output_within(
        Command::new(pgpool_bin())
            .arg(format!("--config-file={}", conf.display()))
            .arg("reload")
            .current_dir(&parent),
        COMMAND_TIMEOUT,
    );
    assert_eq!(code(&out), Some(0), "reload: {}", stderr(&out));
    wait_until(WAIT, "the reload to be logged", || {
        d.log().contains("reload config files.")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
}

#[test]
fn key_hba_pcp_clear_oidmaps_and_assertion_options_are_accepted() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    let key = d.dir().join("pgpoolkey");
    std::fs::write(&key, "secret-key\n").expect("write key file");
    let hba = d.dir().join("pool_hba.conf");
    std::fs::write(&hba, "host all all 127.0.0.1/32 trust\n").expect("write pool_hba.conf");
    let (key, hba) = (key.to_str().unwrap(), hba.to_str().unwrap());
    launch(&mut d, &["-k", key, "-a", hba, "-C", "-x"]);
    assert_serves(&d);
    drop(d);

    let mut d = Daemon::prepare(shared_cluster(), "");
    let (conf, pcp) = (d.conf_path(), d.pcp_conf_path());
    let key = d.dir().join("pgpoolkey");
    std::fs::write(&key, "secret-key\n").expect("write key file");
    let hba = d.dir().join("pool_hba.conf");
    std::fs::write(&hba, "host all all 127.0.0.1/32 trust\n").expect("write pool_hba.conf");
    d.launch(&[
        "--dont-detach".to_string(),
        format!("--config-file={}", conf.display()),
        format!("--pcp-file={}", pcp.display()),
        format!("--key-file={}", key.display()),
        format!("--hba-file={}", hba.display()),
        "--clear-oidmaps".to_string(),
        "--debug-assertions".to_string(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_serves(&d);
}

// ---- exit status -----------------------------------------------------------------------------

/// A child that exits with the fatal code (3) takes the whole server down with a non-zero exit
/// status, so that a service manager's `Restart=on-failure` restarts it. Seen in pgpool-II
/// 4.3.5 with a child made to `_exit(3)` under gdb: `LOG:  child process with pid: N exits with
/// status 768`, `FATAL:  child process exit with fatal error. exiting pgpool-II`, `LOG:  shutting
/// down`, every other process ended, exit status 1. Here a replacement child fails at start-up
/// for real: the main process's open-files limit is lowered to 0 before one of its children is
/// killed, and the child forked in its place cannot create its accept set (FATAL, exit 3).
#[test]
fn a_child_exiting_fatally_takes_pgpool_down_with_a_failure_status() {
    let mut d = Daemon::start(shared_cluster(), "");
    let main = d.pid().expect("running");
    let before = d.children_pids();
    let victim = *d.client_children().first().expect("a client child");
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit(2) on the daemon's main process with valid pointers: read its open-files
    // limits, then set the soft one to 0 (the hard one kept). kill(2) of one of its children.
    unsafe {
        let main = main as libc::pid_t;
        assert_eq!(
            libc::prlimit(main, libc::RLIMIT_NOFILE, std::ptr::null(), &mut limit),
            0
        );
        limit.rlim_cur = 0;
        assert_eq!(
            libc::prlimit(main, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()),
            0
        );
        libc::kill(victim as libc::pid_t, libc::SIGKILL);
    }
    wait_until(WAIT, "the main process to exit", || !process_alive(main))
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 30)));
    let log = d.log();
    let fatal = log
        .lines()
        .find_map(|l| {
            let rest = l.split("LOG:  child process with pid: ").nth(1)?;
            rest.strip_suffix(" exits with status 768")
        })
        .unwrap_or_else(|| panic!("no child exited with status 768:\n{}", tail(&log, 30)));
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not logged:\n{}", tail(&log, 30)))
    };
    let reaped = at(&format!(
        "child process with pid: {fatal} exits with status 768"
    ));
    let raised = at("FATAL:  child process exit with fatal error. exiting pgpool-II\n");
    let down = at("LOG:  shutting down\n");
    assert!(reaped < raised && raised < down, "{}", tail(&log, 30));
    for pid in before {
        assert!(
            !process_alive(pid),
            "process {pid} outlived the main process"
        );
    }
    let status = d.stop().expect("the main process's exit status");
    assert_eq!(status.code(), Some(1), "{status}\n{}", tail(&log, 30));
}

// ---- configuration files through the binary ------------------------------------------------

#[test]
fn debian_4_3_5_sample_config_loads_and_the_daemon_starts() {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/pgpool.conf.sample-4.3.5"
    ))
    .expect("read the 4.3.5 sample");
    let mut d = prepare_with_prefix(&sample, "");
    launch(&mut d, &[]);
    assert_serves(&d);
    assert!(!d.log().contains("FATAL"), "{}", tail(&d.log(), 20));
}

#[test]
fn our_sample_config_loads_and_the_daemon_starts() {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conf/pgpool.conf.sample"
    ))
    .expect("read conf/pgpool.conf.sample");
    let mut d = prepare_with_prefix(&sample, "");
    launch(&mut d, &[]);
    assert_serves(&d);
    assert!(!d.log().contains("FATAL"), "{}", tail(&d.log(), 20));
}

#[test]
fn invalid_value_at_start_is_fatal_with_pgpools_wording_exit_3() {
    let d = Daemon::prepare(shared_cluster(), "num_init_children = 0");
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "FATAL:  0 is outside the valid range for parameter \"num_init_children\" (1 .. 2147483647)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!pid_file(&d).exists(), "pid file written by a failed start");

    let d = Daemon::prepare(shared_cluster(), "log_min_messages = loud");
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("FATAL:  invalid value for parameter \"log_min_messages\": \"loud\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn syntax_error_at_start_is_fatal_with_the_line_number_exit_3() {
    let d = Daemon::prepare(shared_cluster(), "");
    let lines = std::fs::read_to_string(d.conf_path())
        .expect("read pgpool.conf")
        .lines()
        .count();
    // an unquoted IP address: `127.0` then `.0` where a key is expected
    append_conf(&d, "listen_addresses = 127.0.0.1");
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "FATAL:  syntax error in configuration file \"{}\"",
            d.conf_path().display()
        )) && err.contains(&format!(
            "DETAIL:  parse error at line {} '.0' token = 3",
            lines + 1
        )),
        "{err}"
    );
}

#[test]
fn unknown_parameter_logs_info_and_the_daemon_starts() {
    let mut d = Daemon::prepare(
        shared_cluster(),
        "log_min_messages = info\nno_such_parameter = 1",
    );
    launch(&mut d, &[]);
    assert_serves(&d);
    assert!(
        d.log()
            .contains("INFO:  unrecognized configuration parameter \"no_such_parameter\""),
        "{}",
        tail(&d.log(), 20)
    );
}

// ---- reload ---------------------------------------------------------------------------------

fn pgpool_show(d: &Daemon, name: &str) -> String {
    d.psql(&format!("PGPOOL SHOW {name}"))
        .unwrap_or_else(|e| panic!("PGPOOL SHOW {name}: {e}\n{}", tail(&d.log(), 20)))
}

/// Ask (with fresh sessions) until `name` shows `want`: children apply a reload between
/// sessions, so one that was idle when the signal came may serve one more session first.
fn wait_show(d: &Daemon, name: &str, want: &str) {
    let mut seen = String::new();
    wait_until(WAIT, &format!("PGPOOL SHOW {name} = {want}"), || {
        seen = pgpool_show(d, name);
        seen == want
    })
    .unwrap_or_else(|e| panic!("{e} (last: {seen:?})\n{}", tail(&d.log(), 20)));
}

fn sighup(d: &Daemon) {
    // SAFETY: kill(2) to the daemon's main process.
    let rc = unsafe { libc::kill(d.pid().expect("running") as i32, libc::SIGHUP) };
    assert_eq!(rc, 0, "SIGHUP to the daemon");
}

fn count_reloads(d: &Daemon) -> usize {
    d.log().matches("reload config files.").count()
}

fn wait_reloads(d: &Daemon, n: usize) {
    wait_until(WAIT, "the main process to reload", || count_reloads(d) >= n)
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
}

#[test]
fn reload_command_applies_a_reloadable_change_to_new_sessions() {
    let d = Daemon::start(shared_cluster(), "log_statement = off");
    d.psql("select 'before-reload-marker'").expect("query");
    assert!(!d.log().contains("before-reload-marker"));

    append_conf(&d, "log_statement = on\nlog_per_node_statement = on");
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "reload is silent: {}",
        stderr(&out)
    );
    wait_reloads(&d, 1);
    wait_show(&d, "log_statement", "on");
    // every child has it: a burst of sessions all log their statement
    for i in 0..8 {
        d.psql(&format!("select 'after-reload-marker-{i}'"))
            .expect("query");
    }
    let log = d.log();
    for i in 0..8 {
        let sql = format!("select 'after-reload-marker-{i}'");
        assert!(
            log.lines()
                .any(|l| l.ends_with(&format!("LOG:  statement: {sql}"))),
            "log_statement: {i} not logged:\n{}",
            tail(&log, 30)
        );
        // raw mode: the statement goes to node 0
        assert!(
            log.lines()
                .any(|l| l.contains("LOG:  DB node id: 0 backend pid: ")
                    && l.ends_with(&format!(" statement: {sql}"))),
            "log_per_node_statement: {i} not logged:\n{}",
            tail(&log, 30)
        );
    }
}

#[test]
fn sighup_applies_a_reloadable_change() {
    let d = Daemon::start(shared_cluster(), "client_idle_limit = 0");
    assert_eq!(pgpool_show(&d, "client_idle_limit"), "0");
    append_conf(&d, "client_idle_limit = 1");
    sighup(&d);
    wait_reloads(&d, 1);
    wait_show(&d, "client_idle_limit", "1s");
    // and it is in force: an idle session is cut after about 1 s
    let t0 = std::time::Instant::now();
    let after_idle = idle_session_end(&d);
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_secs(1) && idle < Duration::from_secs(8),
        "cut after {idle:?}"
    );
    assert!(
        after_idle.contains("client_idle_limit"),
        "the client got {after_idle:?}"
    );
}

/// Open a session with a raw startup packet (user and database `postgres`), read up to its
/// first ReadyForQuery, then stay idle and return everything the server sends until it closes
/// the connection (bounded by a 15 s read timeout).
fn idle_session_end(d: &Daemon) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((d.host(), d.port())).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    let body = b"\0\x03\0\0user\0postgres\0database\0postgres\0\0";
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(body);
    s.write_all(&packet).expect("send the startup packet");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // messages up to and including ReadyForQuery ('Z', length 5, status)
    while !got
        .windows(6)
        .any(|w| w[0] == b'Z' && w[1..5] == [0, 0, 0, 5])
    {
        let n = s.read(&mut buf).expect("read the start-up answer");
        assert!(
            n > 0,
            "closed during start-up: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the server closes the idle session");
    String::from_utf8_lossy(&rest).into_owned()
}

#[test]
fn start_only_change_on_reload_logs_that_a_restart_is_needed() {
    let mut d = Daemon::start(shared_cluster(), "num_init_children = 3");
    wait_until(WAIT, "3 children", || d.client_children().len() == 3)
        .unwrap_or_else(|e| panic!("{e}: {:?}", d.client_children()));
    append_conf(&d, "num_init_children = 5");
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // the message follows "reload config files." in the log: wait for it, not for the reload
    wait_until(WAIT, "the restart-needed message", || {
        d.log().contains(
            "parameter \"num_init_children\" cannot be changed without restarting the server",
        )
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    assert_eq!(pgpool_show(&d, "num_init_children"), "3");
    assert_eq!(d.client_children().len(), 3);
    assert!(d.is_running());
}

#[test]
fn invalid_value_on_reload_warns_and_the_old_value_stays() {
    let mut d = Daemon::start(shared_cluster(), "client_idle_limit = 30");
    assert_eq!(pgpool_show(&d, "client_idle_limit"), "30s");
    append_conf(&d, "client_idle_limit = -5\nlog_min_messages = loud");
    // `pgpool reload` parses the file first, like every mode, and refuses (as pgpool does) ...
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "FATAL:  -5 is outside the valid range for parameter \"client_idle_limit\" (0 .. 2147483647)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(count_reloads(&d), 0, "the daemon was signalled anyway");
    // ... so the running server meets the file through SIGHUP
    sighup(&d);
    // the warnings follow "reload config files." in the log: wait for them
    wait_until(WAIT, "both warnings", || {
        let log = d.log();
        log.contains(
            "WARNING:  -5 is outside the valid range for parameter \"client_idle_limit\" (0 .. 2147483647)"
        ) && log.contains("WARNING:  invalid value for parameter \"log_min_messages\": \"loud\"")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    assert!(
        d.is_running(),
        "an invalid value on reload stopped the daemon"
    );
    for _ in 0..6 {
        assert_eq!(pgpool_show(&d, "client_idle_limit"), "30s");
        assert_eq!(pgpool_show(&d, "log_min_messages"), "warning");
    }
}

#[test]
fn syntax_error_on_reload_warns_and_nothing_is_applied() {
    let mut d = Daemon::start(shared_cluster(), "client_idle_limit = 30");
    append_conf(&d, "client_idle_limit = 40\nlisten_addresses = 127.0.0.1");
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("FATAL:  syntax error in configuration file"),
        "{}",
        stderr(&out)
    );
    sighup(&d);
    wait_reloads(&d, 1);
    wait_until(WAIT, "the syntax error warning", || {
        d.log().contains(&format!(
            "WARNING:  syntax error in configuration file \"{}\"",
            d.conf_path().display()
        ))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    assert!(d.is_running());
    for _ in 0..6 {
        assert_eq!(pgpool_show(&d, "client_idle_limit"), "30s");
    }
}

/// pgpool-II 4.3.5 applies a reload inside an open session too, at the next protocol-loop
/// iteration (spec/architecture.md §12.3, SIGHUP: "reloaded at the next accept or the next
/// protocol-loop iteration"): the message that wakes the child is still handled with the old
/// settings, the following ones with the new. Verified with `PGRS_PGPOOL_BIN=/usr/sbin/pgpool`.
#[test]
fn an_open_session_picks_up_a_reload_at_its_next_messages() {
    let d = Daemon::start(shared_cluster(), "log_statement = off");
    let mut open = d.client("postgres", "postgres");
    open.simple_query("select 'open-session-before'")
        .expect("query");
    append_conf(&d, "log_statement = on");
    sighup(&d);
    wait_reloads(&d, 1);
    wait_show(&d, "log_statement", "on");
    let mut i = 0;
    wait_until(WAIT, "the open session to log its statements", || {
        i += 1;
        open.simple_query(&format!("select 'open-session-after-{i}'"))
            .expect("query in the open session");
        d.log().contains("statement: select 'open-session-after-")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    assert!(
        i <= 2,
        "the open session took {i} messages to pick the reload up"
    );
    assert!(!d.log().contains("open-session-before"));
}

fn show_in(client: &mut postgres::Client, name: &str) -> String {
    client
        .simple_query(&format!("PGPOOL SHOW {name}"))
        .unwrap_or_else(|e| panic!("PGPOOL SHOW {name}: {e}"))
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_else(|| panic!("PGPOOL SHOW {name}: no row"))
}

/// As pgpool-II 4.3.5 does (verified with `PGRS_PGPOOL_BIN`): the file's value replaces a
/// PGPOOL SET of the same parameter in an open session once the reload reaches it; a parameter
/// the file does not set keeps its session value.
#[test]
fn a_reload_in_an_open_session_replaces_its_pgpool_set_values_from_the_file() {
    let d = Daemon::start(shared_cluster(), "client_idle_limit = 0");
    let mut open = d.client("postgres", "postgres");
    open.simple_query("PGPOOL SET client_idle_limit = 100")
        .expect("PGPOOL SET");
    open.simple_query("PGPOOL SET log_per_node_statement = on")
        .expect("PGPOOL SET");
    assert_eq!(show_in(&mut open, "client_idle_limit"), "100s");
    append_conf(&d, "client_idle_limit = 50");
    sighup(&d);
    wait_reloads(&d, 1);
    wait_show(&d, "client_idle_limit", "50s");
    let mut seen = Vec::new();
    wait_until(WAIT, "the open session to see the file's value", || {
        seen.push(show_in(&mut open, "client_idle_limit"));
        seen.last().is_some_and(|v| v == "50s")
    })
    .unwrap_or_else(|e| panic!("{e}: {seen:?}"));
    assert!(seen.len() <= 2, "took {} messages: {seen:?}", seen.len());
    assert_eq!(show_in(&mut open, "log_per_node_statement"), "on");
}

// ---- diagnostics and reload rules compared with pgpool-II 4.3.5 ------------------------------

/// What pgpool-II 4.3.5 logs while applying pgpool.conf is logged even when a later line makes
/// the start fail: the INFO of an unknown parameter (logged because `log_min_messages = info`
/// came first in the file, as pgpool logs each line's messages under the settings applied so
/// far), the deprecated-name WARNING, and a missing include's WARNING before the FATAL. The
/// same holds at reload. Verified with `PGRS_PGPOOL_BIN=/usr/sbin/pgpool`.
#[test]
fn diagnostics_raised_before_a_start_up_failure_are_logged_before_the_fatal() {
    let d = Daemon::prepare(
        shared_cluster(),
        "log_min_messages = info\nno_such_parameter_before_fatal = 1\n\
         fail_over_on_backend_error = off\nnum_init_children = 0",
    );
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not logged:\n{err}"))
    };
    let info = at("INFO:  unrecognized configuration parameter \"no_such_parameter_before_fatal\"");
    let warning =
        at("WARNING:  fail_over_on_backend_error is changed to failover_on_backend_error");
    let fatal = at(
        "FATAL:  0 is outside the valid range for parameter \"num_init_children\" (1 .. 2147483647)",
    );
    assert!(info < warning && warning < fatal, "{err}");
    at("DETAIL:  setting failover_on_backend_error has no effect");
    at("HINT:  use failover_on_backend_error instead");

    // INFO is below the default log_min_messages: an unknown parameter before the
    // `log_min_messages = info` line is not logged
    let d = Daemon::prepare(
        shared_cluster(),
        "no_such_parameter_before_level = 1\nlog_min_messages = info\nnum_init_children = 0",
    );
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("no_such_parameter_before_level"),
        "{}",
        stderr(&out)
    );

    let d = Daemon::prepare(shared_cluster(), "include = 'no-such-include.conf'");
    let out = d.pgpool(&["-n"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let missing = format!(
        "WARNING:  could not open configuration file: \"{}\"",
        d.dir().join("no-such-include.conf").display()
    );
    let (w, f) = (
        err.find(&missing),
        err.find("FATAL:  syntax error in configuration file"),
    );
    assert!(
        matches!((w, f), (Some(w), Some(f)) if w < f),
        "{missing:?} then the FATAL:\n{err}"
    );
    assert!(
        err.contains("DETAIL:  using default configuration parameter values"),
        "{err}"
    );

    // at reload: the missing include's WARNING, then the syntax error's
    let mut d = Daemon::start(shared_cluster(), "");
    append_conf(&d, "include = 'no-such-include.conf'");
    sighup(&d);
    wait_until(WAIT, "the syntax error warning", || {
        d.log().contains(&format!(
            "WARNING:  syntax error in configuration file \"{}\"",
            d.conf_path().display()
        ))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    let log = d.log();
    let missing = format!(
        "WARNING:  could not open configuration file: \"{}\"",
        d.dir().join("no-such-include.conf").display()
    );
    assert!(
        log.find(&missing) < log.find("WARNING:  syntax error in configuration file")
            && log.contains(&missing),
        "{missing:?} then the syntax error:\n{}",
        tail(&log, 20)
    );
    assert!(d.is_running());
}

fn pcp_tool(d: &Daemon, tool: &str, extra: &[&str]) -> crate::support::pcp::Run {
    use crate::support::pcp::{self, PcpPass};
    let a = pcp::args(d.pcp_port(), extra);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    pcp::run(&pcp::ours(tool), &a, &PcpPass::new())
}

/// spec/config.md §5.2: a reload changes `backend_data_directoryN` of a node that is down (as
/// of an unused slot), never of a node that is up; the host name of a node in use never
/// changes. The new directory is what `PGPOOL SHOW` and `pcp_pool_status` report (and what
/// online recovery and `%D` use). A changed weight is logged as pgpool-II 4.3.5 logs it, once
/// per node whose weight changed. Verified with `PGRS_PGPOOL_BIN=/usr/sbin/pgpool` (native
/// replication, so that node 1 is up before it is detached: 4.3.5 refuses to detach a node
/// that is still "waiting").
#[test]
fn reload_changes_the_data_directory_of_a_detached_node() {
    let cluster = shared_cluster();
    let d = Daemon::start(cluster, "backend_clustering_mode = 'native_replication'");
    let node_status = |node: usize| {
        let mut c = d.client("postgres", "postgres");
        crate::support::sr::pool_nodes(&mut c)[node]["status"].clone()
    };
    wait_until(WAIT, "node 1 up", || node_status(1) == "up")
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    let r = pcp_tool(&d, "pcp_detach_node", &["-n", "1"]);
    assert_eq!(
        (r.stdout.as_str(), r.code),
        ("pcp_detach_node -- Command Successful\n", 0),
        "{}\n{}",
        r.stderr,
        tail(&d.log(), 20)
    );
    wait_until(WAIT, "node 1 down", || node_status(1) == "down")
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));

    append_conf(
        &d,
        "backend_data_directory0 = '/new/dir0'\n\
         backend_data_directory1 = '/new/dir1'\n\
         backend_hostname1 = 'localhost'\n\
         backend_weight1 = 3",
    );
    let out = d.pgpool(&["reload"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    wait_reloads(&d, 1);
    wait_show(&d, "backend_data_directory1", "/new/dir1");
    assert_eq!(
        pgpool_show(&d, "backend_data_directory0"),
        cluster.data_dir(0).display().to_string(),
        "the directory of a node that is up changed"
    );
    assert_eq!(pgpool_show(&d, "backend_hostname1"), d.host());
    let want = "name : backend_data_directory1\nvalue: /new/dir1\n";
    let mut seen = String::new();
    wait_until(WAIT, "pcp_pool_status to show the new directory", || {
        seen = pcp_tool(&d, "pcp_pool_status", &[]).stdout;
        seen.contains(want)
    })
    .unwrap_or_else(|e| panic!("{e}:\n{seen}"));

    let log = d.log();
    assert!(
        log.contains(
            "LOG:  initializing pool configuration: backend weight for backend:1 changed from \
             1.000000 to 3.000000\n"
        ) && log.contains("DETAIL:  This change will be effective from next client session\n"),
        "{}",
        tail(&log, 20)
    );
    assert!(
        !log.contains("backend weight for backend:0"),
        "{}",
        tail(&log, 20)
    );
}
