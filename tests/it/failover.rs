//! Health checks and failover (spec/failover.md §2, §5, §6, §9, §14): a killed primary is
//! detected by the health check, `failover_command` promotes a standby, `follow_primary_command`
//! runs for the other standby, and new sessions write to the new primary; a backend that
//! accepts TCP but never answers is failed by `health_check_timeout`; `auto_failback` attaches
//! a standby that streams again; `pgpool_status` keeps a down node down across a restart unless
//! `-D` discards it. Each test that changes topology has its own cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::cluster::{pgbin, shared_cluster, Cluster, ClusterSpec, StopMode, SUPERUSER};
use crate::support::daemon::Daemon;
use crate::support::sr::rows;
use crate::support::{tail, wait_until};

/// A directory for the test's scripts and their records, removed on drop.
struct ScriptDir(PathBuf);

impl ScriptDir {
    fn new() -> ScriptDir {
        let d = tempfile::Builder::new()
            .prefix("pgrs-failover-")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        // the scripts run as the daemon's user; the records are read back by the test
        ScriptDir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write_script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).expect("write script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ARGS: &str = "%d %h %p %D %m %H %M %P %r %R %N %S";

/// `failover_command`: record the arguments; when the failed node is the old primary, promote
/// the new main node's data directory with pg_ctl as the server's OS user.
fn failover_script(dir: &ScriptDir, cluster: &Cluster) -> PathBuf {
    let pg_ctl = pgbin().join("pg_ctl");
    // the OS user owning the data directories runs pg_ctl
    let uid = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(cluster.data_dir(1)).expect("data dir"),
    );
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    dir.write_script(
        "failover.sh",
        &format!(
            "echo \"$@\" >> {log}\n\
             failed=$1; new_main_dir=${{10}}; old_primary=$8\n\
             [ \"$failed\" = \"$old_primary\" ] || exit 0\n\
             if [ \"$(id -u)\" = 0 ]; then\n\
               runuser -u {user} -- {pg_ctl} -D \"$new_main_dir\" -w -t 60 promote\n\
             else\n\
               {pg_ctl} -D \"$new_main_dir\" -w -t 60 promote\n\
             fi\n",
            log = dir.path("failover.log").display(),
            user = user,
            pg_ctl = pg_ctl.display(),
        ),
    )
}

fn health_stats(d: &Daemon) -> Vec<HashMap<String, String>> {
    let mut c = d.client(SUPERUSER, "postgres");
    rows(&mut c, "SHOW pool_health_check_stats")
}

fn count(row: &HashMap<String, String>, col: &str) -> u64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} is not a number: {row:?}"))
}

/// Wait (bounded) until SHOW pool_nodes satisfies `cond`; a session that fails (children are
/// restarted by a failover) is just retried. Panics with the last answer and the log tail.
fn wait_pool_nodes(
    d: &Daemon,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut(&[HashMap<String, String>]) -> bool,
) {
    let mut last: Vec<HashMap<String, String>> = Vec::new();
    wait_until(timeout, what, || {
        let Ok(mut c) = d.try_client(SUPERUSER, None, "postgres") else {
            return false;
        };
        let Ok(msgs) = c.simple_query("SHOW pool_nodes") else {
            return false;
        };
        last = msgs
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => Some(
                    r.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, col)| {
                            (col.name().to_string(), r.get(i).unwrap_or("").to_string())
                        })
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        cond(&last)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}; last SHOW pool_nodes: {last:#?}\n{}",
            tail(&d.log(), 60)
        )
    });
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn killed_primary_is_failed_over_and_writes_go_to_the_promoted_standby() {
    let cluster = Cluster::start(ClusterSpec {
        standbys: 2,
        ..ClusterSpec::default()
    });
    cluster.psql(0, "CREATE TABLE fo_t (i int); INSERT INTO fo_t VALUES (1)");
    cluster.wait_replayed();
    let dir = ScriptDir::new();
    let failover = failover_script(&dir, &cluster);
    let follow = dir.write_script(
        "follow.sh",
        &format!("echo \"$@\" >> {}\n", dir.path("follow.log").display()),
    );
    let d = Daemon::start_streaming(
        &cluster,
        &format!(
            "health_check_period = 1\n\
             health_check_timeout = 3\n\
             health_check_max_retries = 0\n\
             connect_timeout = 2000\n\
             search_primary_node_timeout = 60\n\
             failover_on_backend_error = off\n\
             failover_command = '{} {ARGS}'\n\
             follow_primary_command = '{} {ARGS}'\n\
             log_min_messages = log\n",
            failover.display(),
            follow.display()
        ),
    );
    let nodes = d.pool_nodes();
    assert_eq!(nodes[0]["role"], "primary");
    assert_eq!(nodes[0]["status"], "up");
    // synchronous replication to both standbys: every acknowledged commit is on node 1 when
    // node 0 dies, so "no committed transaction lost" can be checked exactly
    cluster.psql(
        0,
        "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 2 (*)'",
    );
    // (the test clusters run with synchronous_commit = off, which never waits for standbys)
    cluster.psql(0, "ALTER SYSTEM SET synchronous_commit = on");
    cluster.psql(0, "SELECT pg_reload_conf()");
    wait_until(Duration::from_secs(30), "two synchronous standbys", || {
        cluster.psql(
            0,
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
        ) == "2"
    })
    .expect("synchronous standbys");

    // pgbench load through pgpool (its clients abort when their backend dies)
    let script = dir.path("insert.sql");
    std::fs::write(&script, "INSERT INTO fo_t VALUES (4);\n").expect("pgbench script");
    let pgbench = std::process::Command::new(pgbin().join("pgbench"))
        .args([
            "-n",
            "-c",
            "2",
            "-j",
            "1",
            "-T",
            "12",
            "-h",
            "127.0.0.1",
            "-U",
            SUPERUSER,
        ])
        .arg("-p")
        .arg(d.port().to_string())
        .arg("-f")
        .arg(&script)
        .arg("postgres")
        .env("PGCONNECT_TIMEOUT", "5")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pgbench");

    // load: sessions writing through pgpool until told to stop
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, ok, port) = (stop.clone(), ok.clone(), d.port());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let c = postgres::Config::new()
                    .host("127.0.0.1")
                    .port(port)
                    .user(SUPERUSER)
                    .dbname("postgres")
                    .connect_timeout(Duration::from_secs(5))
                    .connect(postgres::NoTls);
                if let Ok(mut c) = c {
                    for _ in 0..20 {
                        if c.simple_query("INSERT INTO fo_t VALUES (2)").is_err() {
                            break;
                        }
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    wait_until(Duration::from_secs(10), "writes under load", || {
        ok.load(Ordering::SeqCst) > 20
    })
    .expect("load runs");

    let killed_at = Instant::now();
    cluster.stop_node(0, StopMode::Immediate);
    wait_pool_nodes(&d, Duration::from_secs(60), "node 1 promoted", |r| {
        r[0]["status"] == "down" && r[1]["role"] == "primary"
    });
    let took = killed_at.elapsed();
    let before = ok.load(Ordering::SeqCst);
    wait_until(Duration::from_secs(30), "writes after the failover", || {
        ok.load(Ordering::SeqCst) > before + 20
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 60)));
    stop.store(true, Ordering::SeqCst);
    load.join().expect("load thread");
    let acked = ok.load(Ordering::SeqCst);
    let bench = pgbench.wait_with_output().expect("pgbench ends");
    let bench_out = String::from_utf8_lossy(&bench.stdout).into_owned();
    let bench_done: u64 = bench_out
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|v| v.split('/').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "pgbench output: {bench_out}{}",
                String::from_utf8_lossy(&bench.stderr)
            )
        });
    assert!(
        bench_done > 0,
        "pgbench committed transactions: {bench_out}"
    );

    let p0 = cluster.port(0);
    for line in [
        "health check failed on node 0".to_string(),
        format!("=== Starting degeneration. shutdown host 127.0.0.1({p0}) ==="),
        "Restart all children".to_string(),
        "execute command: ".to_string(),
        "failover: set new primary node: 1".to_string(),
        "failover: set new main node: 1".to_string(),
        format!("=== Failover done. shutdown host 127.0.0.1({p0}) ==="),
        "=== Starting follow primary command for node 2 ===".to_string(),
    ] {
        d.wait_log(&line);
    }
    // failover_command: node 0 failed, node 1 is the new main, node 0 was the primary
    let f = dir.read("failover.log");
    let expect = format!(
        "0 127.0.0.1 {p0} {} 1 127.0.0.1 0 0 {} {} 127.0.0.1 {p0}",
        cluster.data_dir(0).display(),
        cluster.port(1),
        cluster.data_dir(1).display()
    );
    assert_eq!(f.trim(), expect, "failover_command arguments");
    // follow_primary_command for every node down after the follow degeneration (0 and 2)
    let fl = dir.read("follow.log");
    wait_until(Duration::from_secs(10), "follow_primary_command", || {
        dir.read("follow.log").lines().count() >= 2
    })
    .unwrap_or_else(|e| panic!("{e}: {fl}\n{}", tail(&d.log(), 40)));
    let fl = dir.read("follow.log");
    assert!(
        fl.lines().any(
            |l| l.starts_with(&format!("2 127.0.0.1 {} ", cluster.port(2)))
                && l.contains(&format!(" 1 127.0.0.1 0 0 {} ", cluster.port(1)))
        ),
        "follow_primary_command for node 2 with the new primary 1: {fl}"
    );
    assert!(!cluster.is_in_recovery(1), "node 1 was promoted");

    // new sessions write to the new primary; the row committed before the kill is there
    let mut c = d.client(SUPERUSER, "postgres");
    c.simple_query("INSERT INTO fo_t VALUES (3)")
        .expect("write after failover");
    let n = cluster.psql(1, "SELECT count(*) FROM fo_t WHERE i = 1");
    assert_eq!(n, "1", "the row committed before the kill survived");
    let n = cluster.psql(1, "SELECT count(*) FROM fo_t WHERE i = 3");
    assert_eq!(n, "1", "the new write landed on node 1");
    // no acknowledged commit was lost: the writer's and pgbench's inserts are all on node 1
    let n: u64 = cluster
        .psql(1, "SELECT count(*) FROM fo_t WHERE i = 2")
        .parse()
        .expect("count");
    assert!(
        n >= acked,
        "{n} rows of the writer on node 1, {acked} acknowledged"
    );
    let n: u64 = cluster
        .psql(1, "SELECT count(*) FROM fo_t WHERE i = 4")
        .parse()
        .expect("count");
    assert!(
        n >= bench_done,
        "{n} rows of pgbench on node 1, {bench_done} committed"
    );
    let nodes = d.pool_nodes();
    assert_eq!(nodes[0]["status"], "down");
    assert_eq!(nodes[1]["status"], "up");
    assert_eq!(nodes[1]["role"], "primary");
    assert_eq!(nodes[2]["status"], "down", "follow degeneration");
    let stats = health_stats(&d);
    assert!(count(&stats[0], "fail_count") >= 1, "{stats:?}");
    assert!(count(&stats[1], "success_count") >= 1, "{stats:?}");
    assert!(took < Duration::from_secs(60));
}

#[test]
fn health_check_timeout_fails_a_backend_that_never_answers() {
    // a "backend" that completes the TCP handshake (kernel backlog) but never says anything
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let cluster = shared_cluster();
    let d = Daemon::start(
        cluster,
        &format!(
            "backend_hostname1 = '127.0.0.1'\n\
             backend_port1 = {port}\n\
             backend_weight1 = 1\n\
             health_check_period = 1\n\
             health_check_timeout = 2\n\
             health_check_max_retries = 1\n\
             health_check_retry_delay = 1\n\
             connect_timeout = 1000\n\
             log_min_messages = log\n"
        ),
    );
    let started = Instant::now();
    wait_pool_nodes(&d, Duration::from_secs(20), "node 1 down", |r| {
        r.len() == 2 && r[1]["status"] == "down"
    });
    let took = started.elapsed();
    // two attempts of 2 s and a retry delay of 1 s: at least 5 s, and not much more than a
    // period on top
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "detected after {took:?}\n{}",
        tail(&d.log(), 60)
    );
    for line in [
        "health check retrying on DB node: 1 (round:1)",
        "health check failed on node 1 (timeout:1)",
        "received degenerate backend request for node_id: 1",
    ] {
        d.wait_log(line);
    }
    let stats = health_stats(&d);
    assert_eq!(stats[1]["status"], "down");
    assert!(count(&stats[1], "fail_count") >= 1, "{stats:?}");
    assert!(count(&stats[1], "retry_count") >= 1, "{stats:?}");
    assert_eq!(stats[1]["max_retry_count"], "1");
    assert!(count(&stats[1], "max_duration") >= 4000, "{stats:?}");
    assert!(count(&stats[0], "success_count") >= 1, "{stats:?}");
    assert_eq!(stats[0]["fail_count"], "0");
    assert!(!stats[0]["last_successful_health_check"].is_empty());
    // node 0 still serves
    d.psql("SELECT 1").expect("node 0 serves");
    drop(silent);
}

#[test]
fn pgpool_status_keeps_a_down_node_down_across_restart_and_dash_d_discards_it() {
    let cluster = shared_cluster();
    let port = closed_port();
    let mut d = Daemon::start(
        cluster,
        &format!(
            "backend_hostname1 = '127.0.0.1'\n\
             backend_port1 = {port}\n\
             backend_weight1 = 1\n\
             health_check_period = 1\n\
             health_check_timeout = 2\n\
             connect_timeout = 1000\n"
        ),
    );
    wait_pool_nodes(&d, Duration::from_secs(20), "node 1 down", |r| {
        r.len() == 2 && r[1]["status"] == "down"
    });
    // pgpool's line for a refused connection, with the reason instead of 4.3.5's stale errno
    d.wait_log(&format!(
        "LOG:  failed to connect to PostgreSQL server on \"127.0.0.1:{port}\", getsockopt() failed\n"
    ));
    d.wait_log("DETAIL:  Connection refused\n");
    d.stop();
    let status = std::fs::read_to_string(d.dir().join("pgpool_status")).expect("pgpool_status");
    assert_eq!(status, "up\ndown\n");
    // no health checks from now on: only the status file can say "down"
    append(&d.conf_path(), "health_check_period = 0\n");
    d.launch_foreground(&[]).expect("restart");
    // before any session: node 0 is up, as the file says (pgpool-II 4.3.5 shows the same)
    use crate::support::pcp::{self, PcpPass};
    let pass = PcpPass::new();
    let a = pcp::args(d.pcp_port(), &["-n", "0"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let info = pcp::run(&pcp::ours("pcp_node_info"), &a, &pass);
    assert_eq!(
        info.stdout.split(' ').nth(4),
        Some("up"),
        "pcp_node_info -n 0: {}{}",
        info.stdout,
        info.stderr
    );
    let r = d.pool_nodes();
    assert_eq!(r[1]["status"], "down", "kept down by pgpool_status");
    d.stop();
    d.launch_foreground(&["-D"]).expect("restart with -D");
    let r = d.pool_nodes();
    assert_ne!(r[1]["status"], "down", "-D discards pgpool_status: {r:?}");
    assert!(d.log().contains("discarded"), "{}", tail(&d.log(), 20));
    // -D without a file: reported as missing, as pgpool does
    d.stop();
    let _ = std::fs::remove_file(d.dir().join("pgpool_status"));
    d.launch_foreground(&["-D"])
        .expect("restart with -D, no file");
    d.wait_log("pgpool_status does not exist");
    assert!(!d.log().contains("discarded"), "{}", tail(&d.log(), 20));
}

#[test]
fn health_check_test_fault_file_fails_a_healthy_node() {
    // node 1 is the same server as node 0; only the fault file makes its checks fail
    let cluster = shared_cluster();
    let d = Daemon::start(
        cluster,
        &format!(
            "backend_hostname1 = '127.0.0.1'\n\
             backend_port1 = {}\n\
             backend_weight1 = 1\n\
             health_check_period = 1\n\
             health_check_timeout = 5\n\
             health_check_test = on\n\
             log_min_messages = log\n",
            cluster.port(0)
        ),
    );
    std::fs::write(d.dir().join("backend_down_request"), "1\tdown\n").expect("fault file");
    wait_pool_nodes(&d, Duration::from_secs(20), "node 1 down", |r| {
        r.len() == 2 && r[1]["status"] == "down" && r[0]["status"] != "down"
    });
    // the status shows before the failover has restarted every child: a session opened in
    // between may meet a child on its way out
    d.wait_log("=== Failover done. shutdown host 127.0.0.1");
    assert!(
        d.log()
            .contains("health check failed on node 1 (timeout:0)"),
        "{}",
        tail(&d.log(), 30)
    );
    let stats = health_stats(&d);
    assert_eq!(stats[0]["fail_count"], "0", "{stats:?}");
    assert!(count(&stats[1], "fail_count") >= 1, "{stats:?}");
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open pgpool.conf");
    f.write_all(text.as_bytes()).expect("append");
}

#[test]
fn auto_failback_attaches_a_standby_that_streams_again() {
    let cluster = Cluster::start(ClusterSpec {
        standbys: 1,
        ..ClusterSpec::default()
    });
    let d = Daemon::start_streaming(
        &cluster,
        "health_check_period = 1\n\
         health_check_timeout = 2\n\
         connect_timeout = 1000\n\
         sr_check_period = 1\n\
         auto_failback = on\n\
         auto_failback_interval = 1\n\
         failover_on_backend_error = off\n\
         log_min_messages = log\n",
    );
    wait_pool_nodes(&d, Duration::from_secs(20), "node 1 streaming", |r| {
        r[1]["replication_state"] == "streaming"
    });
    cluster.stop_node(1, StopMode::Fast);
    wait_pool_nodes(&d, Duration::from_secs(20), "node 1 down", |r| {
        r[1]["status"] == "down"
    });
    let log = d.log();
    assert!(
        log.contains("health check failed on node 1 (timeout:0)"),
        "{}",
        tail(&log, 30)
    );
    // a standby failure restarts only the children using it (logged after the status changes)
    d.wait_log("Do not restart children because we are switching over node id 1");
    cluster.start_node(1);
    wait_pool_nodes(&d, Duration::from_secs(40), "node 1 failed back", |r| {
        r[1]["status"] == "up" || r[1]["status"] == "waiting"
    });
    // the node shows up before the main process has found the primary and logged the end
    let _ = wait_until(
        Duration::from_secs(20),
        "the failback's last log line",
        || {
            d.log()
                .contains("=== Failback done. reconnect host 127.0.0.1(")
        },
    );
    for line in [
        "request auto failback, node id:1",
        "received failback request for node_id: 1",
        "=== Failback done. reconnect host 127.0.0.1(",
    ] {
        d.wait_log(line);
    }
    let r = d.pool_nodes();
    assert_eq!(r[0]["role"], "primary");
    assert_eq!(r[1]["role"], "standby");
}

/// PCP drives the same procedure on our daemon: `pcp_detach_node` / `pcp_attach_node` of a
/// standby change its status, and `pcp_promote_node -s` (switchover) detaches the primary, lets
/// `failover_command` promote the target, and writes go there afterwards.
#[test]
fn pcp_detach_attach_and_switchover_drive_the_failover_procedure() {
    use crate::support::pcp::{self, PcpPass};
    let cluster = Cluster::start(ClusterSpec {
        standbys: 2,
        ..ClusterSpec::default()
    });
    cluster.psql(0, "CREATE TABLE sw_t (i int); INSERT INTO sw_t VALUES (1)");
    cluster.wait_replayed();
    let dir = ScriptDir::new();
    let failover = failover_script(&dir, &cluster);
    let d = Daemon::start_streaming(
        &cluster,
        &format!(
            "health_check_period = 0\n\
             sr_check_period = 1\n\
             search_primary_node_timeout = 60\n\
             failover_command = '{} {ARGS}'\n\
             log_min_messages = log\n",
            failover.display()
        ),
    );
    let pass = PcpPass::new();
    let tool = |name: &str, extra: &[&str]| {
        let a = pcp::args(d.pcp_port(), extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = pcp::run(&pcp::ours(name), &a, &pass);
        assert_eq!(
            (r.stdout.as_str(), r.code),
            (format!("{name} -- Command Successful\n").as_str(), 0),
            "{name} {extra:?}: {}\n{}",
            r.stderr,
            tail(&d.log(), 40)
        );
    };

    tool("pcp_detach_node", &["-n", "2"]);
    wait_pool_nodes(&d, Duration::from_secs(30), "node 2 down", |n| {
        n.len() == 3 && n[2]["status"] == "down" && n[0]["status"] == "up"
    });
    // the children asked to restart after their session, and the worker, say why, as
    // pgpool's do
    wait_until(
        Duration::from_secs(30),
        "a child and the worker restarting",
        || {
            let log = d.log();
            log.contains("LOG:  failover or failback event detected\n")
                && log.contains("DETAIL:  restarting myself\n")
                && log.contains("LOG:  worker process received restart request\n")
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 40)));
    tool("pcp_attach_node", &["-n", "2"]);
    wait_pool_nodes(&d, Duration::from_secs(30), "node 2 back", |n| {
        n.len() == 3 && n[2]["status"] != "down"
    });

    tool("pcp_promote_node", &["-s", "-n", "1"]);
    wait_pool_nodes(&d, Duration::from_secs(60), "node 1 primary", |n| {
        n.len() == 3 && n[1]["role"] == "primary" && n[0]["status"] == "down"
    });
    assert!(
        !cluster.is_in_recovery(1),
        "failover_command promoted node 1"
    );
    // failover_command ran for the detached standby, then for the old primary with node 1 as
    // the new main node
    let f = dir.read("failover.log");
    let lines: Vec<Vec<&str>> = f.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines.len(), 2, "{f}");
    assert_eq!(lines[0].first().copied(), Some("2"), "{f}");
    let last = &lines[1];
    assert_eq!(
        (last.first().copied(), last.get(4).copied()),
        (Some("0"), Some("1")),
        "{f}"
    );
    // writes go to the new primary and see what the old one had
    let out = d
        .psql("INSERT INTO sw_t VALUES (2); SELECT count(*), inet_server_port() FROM sw_t")
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 40)));
    assert_eq!(out.trim(), format!("2|{}", cluster.port(1)));
}

/// detach_false_primary at start-up (failover.md §7.4): a primary no standby follows is found
/// by the start-up search and detached at once, by the main process; the worker, which would
/// otherwise do it, is off here (`sr_check_period = 0`).
#[test]
fn false_primary_found_at_start_up_is_detached_at_once() {
    let cluster = Cluster::start(ClusterSpec {
        standbys: 2,
        ..ClusterSpec::default()
    });
    cluster.promote(2);
    let d = Daemon::start_streaming(&cluster, "detach_false_primary = on\n");
    wait_pool_nodes(&d, Duration::from_secs(30), "node 2 detached", |r| {
        r.len() == 3 && r[2]["status"] == "down" && r[0]["role"] == "primary"
    });
    crate::support::assert_logged_after(
        &d.log(),
        "successfully started",
        &[
            "LOG:  node status[0]: 1",
            "LOG:  node status[1]: 2",
            "LOG:  node status[2]: 3",
            "LOG:  pgpool_main: invalid node found 2",
        ],
    );
}

/// Every node down: a client is refused as pgpool refuses it (spec/architecture.md §3.2), and
/// the log says so with the same DETAIL and HINT. (pgpool-II 4.3.5 logs its failover's end in
/// other words, so this test waits for 4.6's.)
#[test]
fn with_every_node_down_a_client_is_refused_as_pgpool_refuses_it() {
    let (p0, p1) = (closed_port(), closed_port());
    let d = Daemon::start(
        shared_cluster(),
        &format!(
            "backend_port0 = {p0}\n\
             backend_port1 = {p1}\n\
             health_check_period = 1\n\
             health_check_timeout = 2\n\
             connect_timeout = 1000\n"
        ),
    );
    for p in [p0, p1] {
        d.wait_log(&format!(
            "=== Failover done. shutdown host 127.0.0.1({p}) ==="
        ));
    }
    let err = d
        .psql("select 1")
        .expect_err("a session with every node down");
    for line in [
        "FATAL:  pgpool is not accepting any new connections",
        "DETAIL:  all backend nodes are down, pgpool requires at least one valid node",
        "HINT:  repair the backend nodes and restart pgpool",
    ] {
        assert!(err.contains(line), "no {line:?} in {err}");
    }
    wait_until(Duration::from_secs(10), "the FATAL in the log", || {
        let log = d.log();
        let lines: Vec<&str> = log.lines().collect();
        lines.windows(3).any(|w| {
            w[0].ends_with("FATAL:  pgpool is not accepting any new connections")
                && w[1].ends_with(
                    "DETAIL:  all backend nodes are down, pgpool requires at least one valid node",
                )
                && w[2].ends_with("HINT:  repair the backend nodes and restart pgpool")
        })
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 30)));
}

/// `connect_timeout` bounds the health check's TCP connect inside `health_check_timeout`
/// (failover.md §2.2): a node whose connect hangs fails when connect_timeout runs out, as a
/// plain failure (timeout:0), not a health-check timeout.
#[test]
fn connect_timeout_bounds_the_health_checks_connect() {
    use std::os::fd::AsRawFd;
    // a listener whose accept queue is full: further connects hang in SYN_SENT
    let full = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    // SAFETY: listen(2) on a socket this test owns; only the backlog changes.
    assert_eq!(unsafe { libc::listen(full.as_raw_fd(), 0) }, 0);
    let port = full.local_addr().expect("addr").port();
    let fillers: Vec<std::net::TcpStream> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(500),
            )
            .ok()
        })
        .collect();
    let probe = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    );
    assert!(
        probe.is_err(),
        "the listener still completes connects ({} fillers)",
        fillers.len()
    );
    let d = Daemon::start(
        shared_cluster(),
        &format!(
            "backend_hostname1 = '127.0.0.1'\n\
             backend_port1 = {port}\n\
             backend_weight1 = 1\n\
             health_check_period = 1\n\
             health_check_timeout = 10\n\
             connect_timeout = 500\n\
             log_min_messages = log\n"
        ),
    );
    wait_pool_nodes(&d, Duration::from_secs(30), "node 1 down", |r| {
        r.len() == 2 && r[1]["status"] == "down"
    });
    d.wait_log("health check failed on node 1 (timeout:0)");
    assert!(!d.log().contains("(timeout:1)"), "{}", tail(&d.log(), 30));
    drop(fillers);
}
