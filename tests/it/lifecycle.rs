//! The server's life seen from outside (spec/architecture.md §2, §14; cli.md §1.3, §1.7;
//! config.md §6): the three shutdown modes and what each leaves behind, the process model
//! (children, titles, respawn, dynamic spare children), the listeners, and the log (prefix,
//! logging collector).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::cluster::{process_alive, shared_cluster};
use crate::support::daemon::{children_of, process_title as title, scheduling_policy, Daemon};
use crate::support::{tail, wait_until, HOST};

const WAIT: Duration = Duration::from_secs(20);

/// The client children of `d` with their titles.
fn titles(d: &Daemon) -> Vec<(u32, String)> {
    d.client_children()
        .into_iter()
        .map(|c| (c, title(c)))
        .collect()
}

/// Wait until the daemon's main process has `n` client children; returns them.
fn wait_children(d: &Daemon, n: usize) -> Vec<u32> {
    let mut seen = Vec::new();
    wait_until(WAIT, &format!("{n} client children"), || {
        seen = d.client_children();
        seen.len() == n
    })
    .unwrap_or_else(|e| panic!("{e}: {seen:?}\n{}", tail(&d.log(), 20)));
    seen
}

fn socket_file(d: &Daemon, dir: &Path) -> PathBuf {
    dir.join(format!(".s.PGSQL.{}", d.port()))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---- shutdown modes -------------------------------------------------------------------------

/// What every shutdown mode leaves behind: a successful `pgpool stop`, a main process that
/// exited with 0, no child, no socket file, no pid file, the shutdown line in the log, and the
/// pgpool_status file.
fn assert_clean_shutdown(d: &mut Daemon, pid: u32, children: &[u32], stop: &Output) {
    assert_eq!(stop.status.code(), Some(0), "stop: {}", stderr(stop));
    assert!(
        stderr(stop).trim_end().ends_with("done."),
        "stop: {}",
        stderr(stop)
    );
    wait_until(WAIT, "the main process to exit", || !process_alive(pid))
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    let status = d.stop().expect("the daemon was started");
    assert_eq!(status.code(), Some(0), "main process exit: {status}");
    for &c in children {
        assert!(!process_alive(c), "child {c} survived the shutdown");
    }
    assert!(children_of(pid).is_empty());
    assert!(
        !socket_file(d, d.socket_dir()).exists(),
        "the Unix socket file is left behind"
    );
    assert!(
        !d.dir().join("pgpool.pid").exists(),
        "the pid file is left behind"
    );
    let log = d.log();
    assert!(
        log.contains("LOG:  Pgpool-II system is shutdown"),
        "{}",
        tail(&log, 20)
    );
    let status_file = d.dir().join("pgpool_status");
    let text = std::fs::read_to_string(&status_file)
        .unwrap_or_else(|e| panic!("{}: {e}", status_file.display()));
    assert_eq!(text, "up\nup\n", "pgpool_status");
}

#[test]
fn smart_shutdown_waits_for_a_busy_session_to_end() {
    let mut d = Daemon::start(shared_cluster(), "");
    let pid = d.pid().expect("running");
    let children = wait_children(&d, 4);
    let mut client = d.client("postgres", "postgres");
    client
        .batch_execute("begin; create temp table smart_t(x int); insert into smart_t values (1)")
        .expect("open a transaction");

    let stop = std::thread::scope(|s| {
        let stopper = s.spawn(|| d.pgpool(&["-m", "smart", "stop"]));
        d.wait_log("LOG:  shutting down by signal 15");
        // idle children go at once; the busy one keeps serving its session
        wait_until(WAIT, "the idle children to exit", || {
            children.iter().filter(|&&c| process_alive(c)).count() == 1
        })
        .unwrap_or_else(|e| panic!("{e}: {:?}", titles(&d)));
        client
            .batch_execute("insert into smart_t values (2)")
            .expect("the session still works during a smart shutdown");
        let n: i64 = client
            .query_one("select count(*) from smart_t", &[])
            .expect("the session still works during a smart shutdown")
            .get(0);
        assert_eq!(n, 2);
        assert!(
            process_alive(pid),
            "the main process left before the client did"
        );
        assert!(
            !stopper.is_finished(),
            "stop returned while a session is open"
        );
        client.batch_execute("commit").expect("commit");
        drop(client);
        stopper.join().expect("stop thread")
    });
    assert_clean_shutdown(&mut d, pid, &children, &stop);
}

/// Fast and immediate: the open session is cut, the client sees an error, pgpool exits quickly.
/// `arg` is what `-m` gets: pgpool looks only at its first character; `signal` is the one
/// `pgpool stop` sends for the mode.
fn cutting_shutdown(mode: &str, arg: &str, signal: i32) {
    let mut d = Daemon::start(shared_cluster(), "");
    let pid = d.pid().expect("running");
    let children = wait_children(&d, 4);
    let mut client = d.client("postgres", "postgres");
    client.batch_execute("begin").expect("open a transaction");
    let t0 = Instant::now();
    let stop = d.pgpool(&["-m", arg, "stop"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "{mode} stop took {took:?}: {}",
        stderr(&stop)
    );
    let Err(err) = client.simple_query("select 1") else {
        panic!("the session survived a {mode} shutdown");
    };
    assert!(
        err.is_closed() || err.as_db_error().is_some() || err.to_string().contains("closed"),
        "{mode}: unexpected client error {err:?}"
    );
    d.wait_log(&format!("LOG:  shutting down by signal {signal}"));
    assert_clean_shutdown(&mut d, pid, &children, &stop);
}

#[test]
fn fast_shutdown_cuts_sessions_and_exits_quickly() {
    cutting_shutdown("fast", "f", libc::SIGINT);
}

#[test]
fn immediate_shutdown_cuts_sessions_and_exits_quickly() {
    cutting_shutdown("immediate", "imm", libc::SIGQUIT);
}

/// Fast shutdown reaches every child wherever it waits: one queued on the `serialize_accept`
/// lock, one waiting for a startup packet that never comes (authentication_timeout is a
/// minute), one whose session waits for a long query.
#[test]
fn fast_shutdown_reaches_children_waiting_for_the_accept_lock_a_startup_packet_or_a_query() {
    let cluster = shared_cluster();
    let mut d = Daemon::start(cluster, "serialize_accept = on\n");
    let pid = d.pid().expect("running");
    let children = wait_children(&d, 4);
    let silent = std::net::TcpStream::connect((HOST, d.port())).expect("connect");
    let port = d.port();
    let sleeper = std::thread::spawn(move || {
        crate::support::psql(
            port,
            "postgres",
            None,
            "postgres",
            &format!("select pg_sleep(60), 'fast-stop-{port}'"),
        )
    });
    wait_until(WAIT, "the query running on the server", || {
        cluster.psql(
            0,
            &format!(
                "select count(*) from pg_stat_activity where query like '%fast-stop-{port}%' \
                 and state = 'active' and pid <> pg_backend_pid()"
            ),
        ) == "1"
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 20)));
    let t0 = Instant::now();
    let stop = d.pgpool(&["-m", "fast", "stop"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "fast stop took {took:?}: {}\n{}",
        stderr(&stop),
        tail(&d.log(), 20)
    );
    let err = sleeper
        .join()
        .expect("query thread")
        .expect_err("the query survived a fast shutdown");
    assert!(
        err.contains("FATAL:  terminating connection due to administrator command"),
        "{err}\n{}",
        tail(&d.log(), 20)
    );
    drop(silent);
    assert_clean_shutdown(&mut d, pid, &children, &stop);
}

// ---- process model --------------------------------------------------------------------------

#[test]
fn children_carry_pgpool_process_titles() {
    let d = Daemon::start(shared_cluster(), "num_init_children = 3");
    let pid = d.pid().expect("running");
    wait_children(&d, 3);
    wait_until(WAIT, "every child waiting for connections", || {
        titles(&d)
            .iter()
            .all(|(_, t)| t == "pgpool: wait for connection request")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", titles(&d)));

    let mut client = d.client("postgres", "postgres");
    client.simple_query("select 1").expect("query");
    let busy = |suffix: &str| {
        titles(&d).into_iter().find(|(_, t)| {
            t.strip_prefix("pgpool: postgres postgres 127.0.0.1(")
                .and_then(|rest| rest.strip_suffix(suffix))
                .and_then(|rest| rest.strip_suffix(')'))
                .is_some_and(|port| port.parse::<u16>().is_ok())
        })
    };
    wait_until(WAIT, "a child titled `... idle`", || {
        busy(" idle").is_some()
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", titles(&d)));
    client.batch_execute("begin").expect("begin");
    wait_until(WAIT, "a child titled `... idle in transaction`", || {
        busy(" idle in transaction").is_some()
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", titles(&d)));
    let waiting = titles(&d)
        .iter()
        .filter(|(_, t)| t == "pgpool: wait for connection request")
        .count();
    assert_eq!(waiting, 2, "{:?}", titles(&d));
    // the main process keeps its command line
    assert!(
        title(pid).ends_with("pgpool") || title(pid).contains("/pgpool"),
        "main title {:?}",
        title(pid)
    );
}

#[test]
fn a_killed_child_is_respawned() {
    let d = Daemon::start(shared_cluster(), "");
    let before = wait_children(&d, 4);
    let victim = before[1];
    // SAFETY: kill(2) to one of the daemon's children.
    assert_eq!(unsafe { libc::kill(victim as i32, libc::SIGKILL) }, 0);
    let mut now = Vec::new();
    wait_until(WAIT, "the killed child to be replaced", || {
        now = d.client_children();
        now.len() == 4 && !now.contains(&victim)
    })
    .unwrap_or_else(|e| panic!("{e}: {now:?}\n{}", tail(&d.log(), 20)));
    let new: Vec<u32> = now
        .iter()
        .copied()
        .filter(|c| !before.contains(c))
        .collect();
    assert_eq!(new.len(), 1, "before {before:?}, after {now:?}");
    d.wait_log(&format!("fork a new child process with pid: {}", new[0]));
    assert_eq!(d.psql("select 1").as_deref(), Ok("1"));
}

#[test]
fn client_children_run_under_sched_batch_until_a_reload_says_other() {
    const OTHER: i32 = libc::SCHED_OTHER;
    const BATCH: i32 = libc::SCHED_BATCH;
    let d = Daemon::start(shared_cluster(), "num_init_children = 2");
    let pid = d.pid().expect("running");
    let children = wait_children(&d, 2);
    let policies =
        || -> Vec<Option<i32>> { children.iter().map(|&c| scheduling_policy(c)).collect() };
    wait_until(WAIT, "both client children under SCHED_BATCH", || {
        policies() == [Some(BATCH); 2]
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", policies()));
    // the main process and the other roles keep the policy they were started with
    assert_eq!(scheduling_policy(pid), Some(OTHER));
    let others: Vec<u32> = d
        .children_pids()
        .into_iter()
        .filter(|c| !children.contains(c))
        .collect();
    assert!(!others.is_empty(), "no health check/PCP/worker process");
    for c in others {
        assert_eq!(scheduling_policy(c), Some(OTHER), "{}", title(c));
    }
    assert_eq!(d.psql("select 1").as_deref(), Ok("1"));

    let mut conf = std::fs::read_to_string(d.conf_path()).expect("read pgpool.conf");
    conf.push_str("\nchild_scheduling_policy = 'other'\n");
    std::fs::write(d.conf_path(), conf).expect("write pgpool.conf");
    let out = d.pgpool(&["reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_until(WAIT, "both client children back under SCHED_OTHER", || {
        policies() == [Some(OTHER); 2]
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", policies(), tail(&d.log(), 20)));
    assert_eq!(
        d.client_children(),
        children,
        "a reload forks no new children"
    );
    assert_eq!(d.psql("select 2").as_deref(), Ok("2"));
}

#[test]
fn a_child_is_replaced_after_child_max_connections_sessions() {
    let d = Daemon::start(
        shared_cluster(),
        "num_init_children = 1\nchild_max_connections = 2",
    );
    let first = wait_children(&d, 1)[0];
    for i in 0..2 {
        assert_eq!(d.psql(&format!("select {i}")), Ok(i.to_string()));
    }
    let mut now = Vec::new();
    wait_until(WAIT, "the worn-out child to be replaced", || {
        now = d.client_children();
        now.len() == 1 && now[0] != first
    })
    .unwrap_or_else(|e| panic!("{e}: first {first}, now {now:?}\n{}", tail(&d.log(), 20)));
    assert!(!process_alive(first));
    assert_eq!(d.psql("select 3").as_deref(), Ok("3"));
}

#[test]
fn dynamic_mode_starts_min_spare_children_and_forks_more_under_load() {
    let d = Daemon::start(
        shared_cluster(),
        "process_management_mode = dynamic\n\
         num_init_children = 6\n\
         min_spare_children = 2\n\
         max_spare_children = 3",
    );
    wait_children(&d, 2);
    let mut clients: Vec<postgres::Client> = Vec::new();
    for _ in 0..2 {
        let mut c = d.client("postgres", "postgres");
        c.simple_query("select 1").expect("query");
        clients.push(c);
    }
    let mut n = 0;
    wait_until(WAIT, "more children under load", || {
        n = d.client_children().len();
        n >= 4
    })
    .unwrap_or_else(|e| panic!("{e}: {n} children\n{}", tail(&d.log(), 20)));
    assert!(n <= 6, "{n} children, more than num_init_children");
    // and the new ones serve
    for _ in 0..2 {
        let mut c = d.client("postgres", "postgres");
        c.simple_query("select 1").expect("query");
        clients.push(c);
    }
    assert!(d.client_children().len() <= 6);
}

// ---- listeners ------------------------------------------------------------------------------

fn unix_client(d: &Daemon, dir: &Path) -> Result<postgres::Client, postgres::Error> {
    postgres::Config::new()
        .host_path(dir)
        .port(d.port())
        .user("postgres")
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(10))
        .connect(postgres::NoTls)
}

#[test]
fn listens_on_tcp_and_on_the_unix_socket_with_its_permissions() {
    let d = Daemon::start(shared_cluster(), "unix_socket_permissions = 0770");
    let sock = socket_file(&d, d.socket_dir());
    let meta = std::fs::metadata(&sock).unwrap_or_else(|e| panic!("{}: {e}", sock.display()));
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o770);
    let mut c = unix_client(&d, d.socket_dir()).expect("connect over the Unix socket");
    let row = c
        .query_one("select 6 * 7", &[])
        .expect("query over the Unix socket");
    assert_eq!(row.get::<_, i32>(0), 42);
    let mut c = d.client("postgres", "postgres");
    assert_eq!(
        c.query_one("select 1", &[])
            .expect("query")
            .get::<_, i32>(0),
        1
    );
    assert!(
        std::net::TcpStream::connect((HOST, d.port())).is_ok(),
        "no TCP listener on {HOST}"
    );
    assert_eq!(
        d.psql("PGPOOL SHOW unix_socket_permissions").as_deref(),
        Ok("0770")
    );
}

#[test]
fn socket_dir_of_pgpool_4_3_still_places_the_unix_socket() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    let dir = d.dir().join("sock43");
    std::fs::create_dir(&dir).expect("create the socket directory");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.conf_path())
            .expect("open pgpool.conf");
        writeln!(f, "socket_dir = '{}'", dir.display()).expect("append");
    }
    d.launch_foreground(&[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(socket_file(&d, &dir).exists(), "{}", tail(&d.log(), 20));
    assert!(
        !socket_file(&d, d.dir()).exists(),
        "socket_dir (later) did not replace unix_socket_directories"
    );
    let mut c = unix_client(&d, &dir).expect("connect through socket_dir");
    c.simple_query("select 1").expect("query");
}

// ---- logging --------------------------------------------------------------------------------

#[test]
fn log_line_prefix_escapes_are_expanded() {
    let d = Daemon::start(
        shared_cluster(),
        "log_line_prefix = '[%p|%a|%u|%d|%P|%%] '\nlog_statement = on",
    );
    let pid = d.pid().expect("running");
    d.psql("select 'prefix-marker'").expect("query");
    let log = d.log();
    let start = log
        .lines()
        .find(|l| l.contains("LOG:  pgpool-II successfully started. version "))
        .unwrap_or_else(|| panic!("no start line:\n{}", tail(&log, 20)));
    assert!(
        start.starts_with(&format!(
            "[{pid}|main|[No Connection]|[No Connection]|MAIN|%] LOG:  "
        )),
        "{start:?}"
    );
    let line = log
        .lines()
        .find(|l| l.ends_with("LOG:  statement: select 'prefix-marker'"))
        .unwrap_or_else(|| panic!("statement not logged:\n{}", tail(&log, 20)));
    let children = d.client_children();
    let prefix = line
        .strip_suffix("LOG:  statement: select 'prefix-marker'")
        .expect("suffix checked");
    let child: u32 = prefix
        .strip_prefix('[')
        .and_then(|r| r.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    assert!(
        children.contains(&child),
        "{child} is not a child: {children:?}"
    );
    assert_eq!(
        prefix,
        format!("[{child}|pgpool-rs-tests|postgres|postgres|CHILD|%] ")
    );
    // a SET application_name in the session renames the session's lines from then on, in
    // both engines
    renamed_application_is_logged(&d);
    let streaming = Daemon::start_streaming(
        crate::support::cluster::shared_sr_cluster(),
        "log_line_prefix = '[%p|%a|%u|%d|%P|%%] '\nlog_statement = on",
    );
    renamed_application_is_logged(&streaming);
}

fn renamed_application_is_logged(d: &Daemon) {
    let out = crate::support::psql_command(d.port(), "postgres", None, "postgres")
        .args([
            "-c",
            "set application_name = 'renamed-app'",
            "-c",
            "select 'prefix-marker-2'",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{out:?}");
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.ends_with("LOG:  statement: select 'prefix-marker-2'"))
        .unwrap_or_else(|| panic!("statement not logged:\n{}", tail(&log, 20)));
    assert!(
        line.contains("|renamed-app|postgres|postgres|CHILD|%] "),
        "{line:?}"
    );
}

/// `YYYY-MM-DD HH:MM:SS` (`%t`) or with `.mmm` (`%m`)
fn is_timestamp(s: &str, millis: bool) -> bool {
    let shape = if millis {
        "dddd-dd-dd dd:dd:dd.ddd"
    } else {
        "dddd-dd-dd dd:dd:dd"
    };
    s.len() == shape.len()
        && s.chars()
            .zip(shape.chars())
            .all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p })
}

#[test]
fn log_line_prefix_time_line_number_and_padding_escapes() {
    let d = Daemon::start(shared_cluster(), "log_line_prefix = '%m|%t|%l|%-6a|%8p| '");
    let pid = d.pid().expect("running");
    let log = d.log();
    let mut numbers = Vec::new();
    for line in log.lines() {
        let f: Vec<&str> = line.splitn(6, '|').collect();
        assert_eq!(f.len(), 6, "{line:?}");
        assert!(is_timestamp(f[0], true), "%m in {line:?}");
        assert!(is_timestamp(f[1], false), "%t in {line:?}");
        assert_eq!(&f[0][..16], &f[1][..16], "%m and %t disagree in {line:?}");
        if f[4] == format!("{pid:>8}") {
            assert_eq!(f[3], "main  ", "%-6a in {line:?}");
            numbers.push(
                f[2].parse::<u64>()
                    .unwrap_or_else(|_| panic!("%l in {line:?}")),
            );
        }
    }
    assert!(numbers.len() >= 2, "main-process lines:\n{log}");
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "%l of the main process's lines:\n{log}");
}

#[test]
fn logging_collector_writes_the_log_file_in_log_directory_and_rotates_by_size() {
    let mut d = Daemon::prepare(shared_cluster(), "");
    let logs = d.dir().join("logs");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.conf_path())
            .expect("open pgpool.conf");
        writeln!(
            f,
            "logging_collector = on\n\
             log_directory = '{}'\n\
             log_filename = 'pgpool-%H%M%S.log'\n\
             log_rotation_size = 1\n\
             log_statement = on",
            logs.display()
        )
        .expect("append");
    }
    d.launch_foreground(&[]).unwrap_or_else(|e| panic!("{e}"));
    let files = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&logs)
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let all_text = || -> String {
        files()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    };
    wait_until(WAIT, "the start line in log_directory", || {
        all_text().contains("LOG:  pgpool-II successfully started.")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\nstderr:\n{}", files(), tail(&d.log(), 20)));
    for f in files() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("pgpool-") && name.ends_with(".log") && name.len() == 17,
            "log file name {name:?} does not follow log_filename"
        );
    }
    // the log goes to the file, not to stderr
    assert!(!d.log().contains("successfully started"), "{}", d.log());
    // more than 1 kB of statements, spread over more than a second: a second file
    let mut i = 0;
    wait_until(WAIT, "a rotation by size", || {
        for _ in 0..5 {
            d.psql(&format!("select 'rotation-marker-{i}-{}'", "x".repeat(200)))
                .expect("query");
            i += 1;
        }
        files().len() >= 2
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", files()));
    let text = all_text();
    assert!(
        text.contains("statement: select 'rotation-marker-0-"),
        "{text}"
    );
    // the logger goes with the rest at shutdown, after writing the last line
    let pid = d.pid().expect("running");
    let processes = children_of(pid);
    let status = d.stop().expect("was running");
    assert_eq!(status.code(), Some(0), "{status}");
    for p in processes {
        assert!(!process_alive(p), "process {p} survived the shutdown");
    }
    assert!(
        all_text().contains("LOG:  Pgpool-II system is shutdown"),
        "{}",
        tail(&all_text(), 10)
    );
}

/// `log_connections` and `log_disconnections` as pgpool-II 4.3.5 writes them: every accepted
/// connection gets its "frontend disconnection" line, a refused session with the user and
/// database it asked for, a cancel request with `(null)`; a backend's refusal after
/// authentication is logged as "backend throws an error message".
#[test]
fn connection_log_lines_cover_refused_sessions_and_cancel_requests() {
    use std::io::Write as _;
    let d = Daemon::start(
        shared_cluster(),
        "log_connections = on\nlog_disconnections = on\nnum_init_children = 2",
    );
    let port_line = format!("DETAIL:  connecting host={HOST} port=");
    // a session the backend refuses: no such database
    let err = d
        .try_client("postgres", None, "no_such_db_for_log")
        .err()
        .expect("no such database");
    let msg = err.as_db_error().map(|e| e.message().to_string());
    assert_eq!(
        msg.as_deref(),
        Some("database \"no_such_db_for_log\" does not exist"),
        "{err:?}"
    );
    d.wait_log("user=postgres database=no_such_db_for_log host=127.0.0.1 port=");
    let log = d.log();
    assert!(
        log.contains("LOG:  backend throws an error message\n")
            && log.contains("DETAIL:  database \"no_such_db_for_log\" does not exist\n"),
        "{}",
        tail(&log, 20)
    );
    assert!(
        log.contains("LOG:  new connection received\n"),
        "{}",
        tail(&log, 20)
    );
    assert!(log.contains(&port_line), "{}", tail(&log, 20));
    // a cancel request with a key nobody holds
    let mut s = std::net::TcpStream::connect((HOST, d.port())).expect("connect");
    let cancel_port = s.local_addr().expect("local address").port();
    s.write_all(&crate::support::frames::cancel_request(12345, 6789))
        .expect("cancel request");
    drop(s);
    d.wait_log("LOG:  invalid cancel key: pid:12345 key:6789\n");
    d.wait_log(&format!(
        "user=(null) database=(null) host=127.0.0.1 port={cancel_port}\n"
    ));
    // an ordinary session (its lines carry the client's application name)
    d.psql("select 1").expect("psql");
    d.wait_log("user=postgres database=postgres host=127.0.0.1 port=");
}

/// `authentication_timeout`: a client that sends no startup packet in time is dropped, and the
/// log says so as pgpool's does.
#[test]
fn a_silent_client_is_dropped_after_authentication_timeout() {
    use std::io::Read as _;
    let d = Daemon::start(shared_cluster(), "authentication_timeout = 1\n");
    let mut silent = std::net::TcpStream::connect((HOST, d.port())).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    let n = silent
        .read(&mut buf)
        .expect("the connection ends before the read timeout");
    assert_eq!(
        n,
        0,
        "nothing is sent to a client that never spoke: {:?}",
        &buf[..n]
    );
    d.wait_log("LOG:  authentication timeout\n");
    // the daemon still serves
    d.psql("select 1").expect("psql");
}
