//! Streaming-replication support outside client sessions: primary detection at start-up, the
//! worker process (replication delay, `pg_stat_replication` state, `log_standby_delay`, its
//! respawn), and the SHOW pool_nodes / pool_backend_stats columns those feed. One cluster of a
//! primary and two standbys is shared by the tests here; none changes its topology.

use std::sync::OnceLock;
use std::time::Duration;

use crate::support::cluster::{AuthMethod, Cluster, ClusterSpec};
use crate::support::daemon::{process_title, Daemon};
use crate::support::{tail, wait_until};
use md5::Digest as _;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

extern "C" fn teardown_cluster() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(c) = CLUSTER.get() {
            c.teardown();
        }
    });
}

/// A primary and two streaming standbys, shared by this module's tests.
fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let c = Cluster::start(ClusterSpec {
            standbys: 2,
            ..Default::default()
        });
        // SAFETY: registers a plain `extern "C" fn` that takes no arguments.
        let rc = unsafe { libc::atexit(teardown_cluster) };
        assert_eq!(rc, 0, "atexit failed");
        c
    })
}

const STREAMING: &str = "backend_clustering_mode = 'streaming_replication'\n\
                         sr_check_period = 1\n";

fn show(d: &Daemon, sql: &str) -> Vec<Vec<String>> {
    d.psql(sql)
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 30)))
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// SHOW pool_nodes columns, in 4.3.5's order.
const NODE_ID: usize = 0;
const ROLE: usize = 6;
const PG_ROLE: usize = 7;
const DELAY: usize = 10;
const REP_STATE: usize = 11;
const SYNC_STATE: usize = 12;

/// Wait (bounded) until SHOW pool_nodes satisfies `cond`; panics with the last rows and log.
fn wait_nodes(
    d: &Daemon,
    what: &str,
    mut cond: impl FnMut(&[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    let mut last = Vec::new();
    let r = wait_until(Duration::from_secs(30), what, || {
        last = show(d, "SHOW pool_nodes");
        cond(&last)
    });
    if let Err(e) = r {
        panic!(
            "{e}\nlast SHOW pool_nodes: {last:?}\n{}",
            tail(&d.log(), 40)
        );
    }
    last
}

fn worker_pids(d: &Daemon) -> Vec<u32> {
    d.children_pids()
        .into_iter()
        .filter(|&p| process_title(p) == "pgpool: worker process")
        .collect()
}

#[test]
fn primary_is_detected_and_standbys_report_streaming_async() {
    let c = cluster();
    let d = Daemon::start(c, &format!("{STREAMING}health_check_period = 1\n"));
    let rows = wait_nodes(&d, "streaming standbys in SHOW pool_nodes", |rows| {
        rows.len() == 3 && rows[1][REP_STATE] == "streaming" && rows[2][REP_STATE] == "streaming"
    });
    let roles: Vec<&str> = rows.iter().map(|r| r[ROLE].as_str()).collect();
    assert_eq!(roles, ["primary", "standby", "standby"], "{rows:?}");
    // pg_role: the nodes' own answer (health check on, so pg_status is up)
    let pg_roles: Vec<&str> = rows.iter().map(|r| r[PG_ROLE].as_str()).collect();
    assert_eq!(pg_roles, ["primary", "standby", "standby"], "{rows:?}");
    for (n, r) in rows.iter().enumerate() {
        assert_eq!(r[NODE_ID], n.to_string());
        assert_eq!(r.len(), 14, "{r:?}");
    }
    assert_eq!(
        (rows[0][REP_STATE].as_str(), rows[0][SYNC_STATE].as_str()),
        ("", "")
    );
    assert_eq!(rows[1][SYNC_STATE], "async", "{rows:?}");
    assert_eq!(rows[2][SYNC_STATE], "async", "{rows:?}");
    let log = d.log();
    for line in [
        "find_primary_node_repeatedly: waiting for finding a primary node",
        "find_primary_node: primary node is 0",
        "find_primary_node: standby node is 1",
        "find_primary_node: standby node is 2",
    ] {
        assert!(log.contains(line), "no {line:?} in\n{}", tail(&log, 40));
    }
    // start-up as pgpool logs it: each health check says it started (not yet named after its
    // node), and after the start-up message each node's class from the search
    let started = log
        .lines()
        .filter(|l| l.contains(": health_check pid ") && l.ends_with("LOG:  process started"))
        .count();
    assert_eq!(started, 3, "{}", tail(&log, 40));
    assert!(
        !log.contains("start health check process for host"),
        "{}",
        tail(&log, 40)
    );
    crate::support::assert_logged_after(
        &log,
        "successfully started",
        &[
            "LOG:  node status[0]: 1",
            "LOG:  node status[1]: 2",
            "LOG:  node status[2]: 2",
        ],
    );
    // SHOW pool_backend_stats takes the same roles
    let stats = show(&d, "SHOW pool_backend_stats");
    let roles: Vec<&str> = stats.iter().map(|r| r[4].as_str()).collect();
    assert_eq!(roles, ["primary", "standby", "standby"], "{stats:?}");
    assert!(stats.iter().all(|r| r.len() == 14), "{stats:?}");
}

#[test]
fn replication_delay_appears_while_replay_is_paused_and_clears_after_resume() {
    let c = cluster();
    let d = Daemon::start(c, &format!("{STREAMING}log_standby_delay = 'always'\n"));
    wait_nodes(&d, "standby 2 streaming", |rows| {
        rows.len() == 3 && rows[2][REP_STATE] == "streaming"
    });
    c.psql(2, "SELECT pg_wal_replay_pause()");
    let resume = Resume(c);
    c.psql(
        0,
        "CREATE TABLE IF NOT EXISTS sr_check_delay(x int); \
         INSERT INTO sr_check_delay SELECT generate_series(1, 1000)",
    );
    let rows = wait_nodes(&d, "a replication delay on node 2", |rows| {
        rows[2][DELAY].parse::<u64>().is_ok_and(|v| v > 0)
    });
    assert_eq!(rows[0][DELAY], "0", "{rows:?}");
    let bytes = rows[2][DELAY].clone();
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.contains("LOG:  Replication of node: 2 is behind ")
                && l.ends_with(" bytes from the primary server (node: 0)")
        })
        .unwrap_or_else(|| panic!("no delay line in\n{}", tail(&log, 30)));
    assert!(
        lines
            .get(at + 1)
            .is_some_and(|l| l.ends_with("CONTEXT:  while checking replication time lag")),
        "no CONTEXT line after the delay line in\n{}",
        tail(&log, 30)
    );
    assert!(bytes.parse::<u64>().is_ok());
    drop(resume);
    wait_nodes(&d, "node 2's delay back to 0", |rows| {
        rows.iter().all(|r| r[DELAY] == "0")
    });
}

/// Resumes WAL replay on node 2 even when the test fails.
struct Resume(&'static Cluster);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = self.0.try_psql(2, "SELECT pg_wal_replay_resume()");
    }
}

#[test]
fn delay_by_time_is_shown_in_seconds() {
    let c = cluster();
    let d = Daemon::start(c, &format!("{STREAMING}delay_threshold_by_time = 1000\n"));
    let rows = wait_nodes(&d, "time-mode delays", |rows| {
        rows.len() == 3
            && rows[1][DELAY].ends_with(" second")
            && rows[2][DELAY].ends_with(" second")
    });
    assert_eq!(rows[0][DELAY], "0", "{rows:?}");
    let secs = rows[1][DELAY].trim_end_matches(" second");
    assert!(
        secs.parse::<f64>().is_ok() && secs.split('.').nth(1).is_some_and(|f| f.len() == 6),
        "{rows:?}"
    );
}

#[test]
fn worker_process_has_its_title_and_is_respawned_after_sigkill() {
    let c = cluster();
    let d = Daemon::start(c, STREAMING);
    let mut first = Vec::new();
    wait_until(Duration::from_secs(10), "the worker process", || {
        first = worker_pids(&d);
        first.len() == 1
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", d.children_pids(), tail(&d.log(), 20)));
    // SAFETY: kill(2) on a pid we just found among the daemon's children.
    unsafe { libc::kill(first[0] as i32, libc::SIGKILL) };
    let mut next = Vec::new();
    wait_until(Duration::from_secs(10), "a new worker process", || {
        next = worker_pids(&d);
        next.len() == 1 && next != first
    })
    .unwrap_or_else(|e| panic!("{e}: {next:?}\n{}", tail(&d.log(), 20)));
    let log = d.log();
    assert!(
        log.contains(&format!(
            "worker child process with pid: {} exited with status 9 by signal 9",
            first[0]
        )) && log.contains(&format!(
            "fork a new worker child process with pid: {}",
            next[0]
        )),
        "{}",
        tail(&log, 20)
    );
    // the new worker still does its job
    wait_nodes(&d, "streaming standbys", |rows| {
        rows.len() == 3 && rows[1][REP_STATE] == "streaming"
    });
}

#[test]
fn raw_mode_has_no_primary_search_and_main_replica_roles() {
    let c = cluster();
    let d = Daemon::start(c, "sr_check_period = 1\n");
    std::thread::sleep(Duration::from_secs(2));
    let rows = show(&d, "SHOW pool_nodes");
    let roles: Vec<&str> = rows.iter().map(|r| r[ROLE].as_str()).collect();
    assert_eq!(roles, ["main", "replica", "replica"], "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r[REP_STATE].is_empty() && r[DELAY] == "0"),
        "{rows:?}"
    );
    assert!(
        !d.log().contains("find_primary_node"),
        "{}",
        tail(&d.log(), 20)
    );
    assert_eq!(worker_pids(&d).len(), 1, "{:?}", d.children_pids());
}

/// Start a streaming-mode daemon checking as `user`; `pool_passwd` is the file's content.
fn daemon_as(c: &Cluster, user: &str, password: &str, pool_passwd: &str, extra: &str) -> Daemon {
    let mut d = Daemon::prepare(
        c,
        &format!("{STREAMING}sr_check_user = '{user}'\nsr_check_password = '{password}'\n{extra}"),
    );
    std::fs::write(d.pool_passwd_path(), pool_passwd).expect("write pool_passwd");
    d.launch_foreground(&[]).unwrap_or_else(|e| panic!("{e}"));
    d
}

#[test]
fn sr_check_user_logs_in_with_scram_md5_and_clear_text_passwords() {
    let c = cluster();
    c.create_role("sr_scram", "scram-pw", AuthMethod::ScramSha256);
    c.create_role("sr_md5", "md5-pw", AuthMethod::Md5);
    c.create_role("sr_clear", "clear-pw", AuthMethod::Password);
    let md5: String = md5::Md5::digest(b"md5-pwsr_md5")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let md5 = format!("md5{md5}");
    for d in [
        daemon_as(c, "sr_scram", "scram-pw", "", ""),
        // empty sr_check_password: the pool_passwd entry, here in its md5 form
        daemon_as(c, "sr_md5", "", &format!("sr_md5:{md5}\n"), ""),
        daemon_as(c, "sr_clear", "TEXTclear-pw", "", ""),
    ] {
        // the children accept clients while the search still runs (as in pgpool)
        wait_nodes(&d, "the primary found", |rows| {
            let roles: Vec<&str> = rows.iter().map(|r| r[ROLE].as_str()).collect();
            roles == ["primary", "standby", "standby"]
        });
        assert!(d.log().contains("find_primary_node: primary node is 0"));
    }
}

#[test]
fn a_failed_search_gives_up_after_search_primary_node_timeout() {
    let c = cluster();
    c.create_role("sr_wrong", "right-pw", AuthMethod::ScramSha256);
    let d = daemon_as(
        c,
        "sr_wrong",
        "wrong-pw",
        "",
        "search_primary_node_timeout = 1\n",
    );
    wait_until(Duration::from_secs(20), "the search to give up", || {
        d.log().contains("failed to find primary node")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 30)));
    let log = d.log();
    assert!(
        log.contains("find_primary_node: make_persistent_db_connection_noerror failed on node 0")
            && log.contains("find_primary_node_repeatedly: expired after 1 seconds"),
        "{}",
        tail(&log, 30)
    );
    // no primary: every node is a standby, and the server still serves
    let rows = show(&d, "SHOW pool_nodes");
    let roles: Vec<&str> = rows.iter().map(|r| r[ROLE].as_str()).collect();
    assert_eq!(roles, ["standby", "standby", "standby"], "{rows:?}");
}

#[test]
fn worker_picks_up_sr_check_period_on_reload() {
    let c = cluster();
    let d = Daemon::start(
        c,
        "backend_clustering_mode = 'streaming_replication'\nsr_check_period = 0\n",
    );
    wait_nodes(&d, "the primary found", |rows| rows[0][ROLE] == "primary");
    std::thread::sleep(Duration::from_secs(2));
    let rows = show(&d, "SHOW pool_nodes");
    assert!(rows.iter().all(|r| r[REP_STATE].is_empty()), "{rows:?}");
    let mut conf = std::fs::read_to_string(d.conf_path()).expect("read pgpool.conf");
    conf.push_str("sr_check_period = 1\n");
    std::fs::write(d.conf_path(), conf).expect("write pgpool.conf");
    let out = d.pgpool(&["reload"]);
    assert!(out.status.success(), "{out:?}");
    wait_nodes(&d, "the check to run after reload", |rows| {
        rows[1][REP_STATE] == "streaming" && rows[2][REP_STATE] == "streaming"
    });
    // the worker and each health check say so, as pgpool's do
    let log = d.log();
    for process in [
        "sr_check_worker",
        "health_check0",
        "health_check1",
        "health_check2",
    ] {
        assert!(
            log.lines().any(|l| l.contains(&format!(": {process} pid "))
                && l.ends_with("LOG:  reloading config file")),
            "no reload line from {process} in\n{}",
            tail(&log, 40)
        );
    }
}

#[test]
fn detach_false_primary_cross_check_keeps_the_primary_every_standby_follows() {
    let c = cluster();
    let d = Daemon::start(c, &format!("{STREAMING}detach_false_primary = on\n"));
    wait_nodes(&d, "streaming standbys", |rows| {
        rows.len() == 3 && rows[1][REP_STATE] == "streaming" && rows[2][REP_STATE] == "streaming"
    });
    std::thread::sleep(Duration::from_secs(2));
    let rows = show(&d, "SHOW pool_nodes");
    let roles: Vec<&str> = rows.iter().map(|r| r[ROLE].as_str()).collect();
    assert_eq!(roles, ["primary", "standby", "standby"], "{rows:?}");
    let log = d.log();
    assert!(
        !log.contains("does not connect to standby") && !log.contains("owns only"),
        "{}",
        tail(&log, 30)
    );
}

/// A node that refuses connections, left up (no health check, `failover_on_backend_error =
/// off`): the start-up search and each worker round log pgpool's connect failure, and the
/// worker's round ends with pgpool's ERROR for the missing connection (failover.md §8.2).
#[test]
fn a_node_that_refuses_connections_is_reported_by_the_search_and_the_worker() {
    let c = cluster();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let d = Daemon::start(
        c,
        &format!(
            "backend_clustering_mode = 'streaming_replication'\n\
             backend_hostname3 = '127.0.0.1'\n\
             backend_port3 = {port}\n\
             backend_weight3 = 0\n\
             health_check_period = 0\n\
             failover_on_backend_error = off\n\
             sr_check_period = 1\n"
        ),
    );
    let refused = format!(
        "LOG:  failed to connect to PostgreSQL server on \"127.0.0.1:{port}\", getsockopt() failed"
    );
    wait_until(Duration::from_secs(20), "the worker's error", || {
        d.log()
            .contains("DETAIL:  No persistent db connection for the node 3")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 30)));
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    let by = |process: &str, text: &str| {
        lines
            .iter()
            .position(|l| l.contains(&format!(" {process} pid ")) && l.ends_with(text))
            .unwrap_or_else(|| panic!("{process}: no {text:?}\n{log}"))
    };
    let at = by("main", &refused);
    assert!(
        lines[at + 2].ends_with(
            "LOG:  find_primary_node: make_persistent_db_connection_noerror failed on node 3"
        ),
        "{log}"
    );
    let at = by("sr_check_worker", &refused);
    assert!(lines[at + 1].contains("DETAIL:  "), "{log}");
    by(
        "sr_check_worker",
        "ERROR:  Failed to check replication time lag",
    );
    by(
        "sr_check_worker",
        "HINT:  check sr_check_user and sr_check_password",
    );
}
