//! Helpers for the streaming-replication routing tests (routing.rs, extended.rs): a daemon in
//! `streaming_replication` mode with load balancing on, deterministic backend weights, and ways
//! to tell which node served a statement (`inet_server_port()`, which is a *stable* function and
//! so never makes pgpool route a SELECT to the primary by itself) and what `SHOW pool_nodes`
//! reports.
//!
//! Kept out of daemon.rs on purpose (other test modules extend that file): everything here is
//! additive, including the `impl Daemon` block.
//!
//! Developer switch: `PGRS_PGPOOL_BIN=/usr/sbin/pgpool` (daemon.rs) runs Debian's pgpool-II 4.3.5
//! with the same generated pgpool.conf, to check that the expectations are pgpool's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use postgres::{Client, SimpleQueryMessage};

use super::cluster::{Cluster, SUPERUSER};
use super::daemon::Daemon;
use super::{wait_until, HOST};

/// Whether the daemon under test is not ours (the `PGRS_PGPOOL_BIN` switch of daemon.rs).
pub fn real_pgpool() -> bool {
    std::env::var_os("PGRS_PGPOOL_BIN").is_some()
}

/// `backend_weightN = w` lines, one per entry (node 0 first).
pub fn weights(w: &[u32]) -> String {
    w.iter()
        .enumerate()
        .map(|(node, w)| format!("backend_weight{node} = {w}\n"))
        .collect()
}

/// A name no other test (or earlier run against the same cluster) uses: `<prefix>_<pid>_<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The base pgpool.conf lines of streaming-replication mode: load balancing on, everything else
/// at the pgpool 4.6 defaults except `failover_on_backend_shutdown` (written explicitly because
/// pgpool-II 4.3.5's default differs) and no periodic sr check (tests that need one set
/// `sr_check_period`).
pub const STREAMING_CONF: &str = "\
backend_clustering_mode = 'streaming_replication'\n\
load_balance_mode = on\n\
failover_on_backend_shutdown = off\n\
sr_check_period = 0\n";

impl Daemon {
    /// Start the daemon in streaming-replication mode with load balancing (`STREAMING_CONF`)
    /// in front of `cluster`; `extra_conf` (weights, routing options) comes after it and wins.
    pub fn start_streaming(cluster: &Cluster, extra_conf: &str) -> Daemon {
        Daemon::start(cluster, &format!("{STREAMING_CONF}{extra_conf}"))
    }

    /// A client through the daemon as the superuser in `postgres` with `application_name` in
    /// the startup packet (the redirect-list tests).
    pub fn client_with_app(&self, user: &str, db: &str, app: &str) -> Client {
        let mut config = postgres::Config::new();
        config
            .host(HOST)
            .port(self.port())
            .user(user)
            .dbname(db)
            .application_name(app)
            .connect_timeout(Duration::from_secs(10));
        config.connect(postgres::NoTls).unwrap_or_else(|e| {
            panic!(
                "connect through the daemon as {user}/{db} ({app}): {e}\n{}",
                super::tail(&self.log(), 30)
            )
        })
    }

    /// `SHOW pool_nodes` through a new session of its own.
    pub fn pool_nodes(&self) -> Vec<HashMap<String, String>> {
        let mut c = self.client(SUPERUSER, "postgres");
        pool_nodes(&mut c)
    }

    /// `select_cnt` of every node (node order) from a new session.
    pub fn select_counts(&self) -> Vec<u64> {
        self.pool_nodes()
            .iter()
            .map(|r| r["select_cnt"].parse().expect("numeric select_cnt"))
            .collect()
    }
}

/// Panic with the server's severity, SQLSTATE and message (the client error's own text is
/// only "db error").
fn query_failed(sql: &str, e: &postgres::Error) -> ! {
    match e.as_db_error() {
        Some(db) => panic!(
            "{sql}: {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ),
        None => panic!("{sql}: {e}"),
    }
}

/// The rows of a simple query as maps column name → text (NULL as "").
pub fn rows(c: &mut Client, sql: &str) -> Vec<HashMap<String, String>> {
    let msgs = c
        .simple_query(sql)
        .unwrap_or_else(|e| query_failed(sql, &e));
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, col)| (col.name().to_string(), r.get(i).unwrap_or("").to_string()))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// `SHOW pool_nodes` on `c` (the load_balance_node column is the session's own).
pub fn pool_nodes(c: &mut Client) -> Vec<HashMap<String, String>> {
    rows(c, "SHOW pool_nodes")
}

/// The node whose port is `port`.
pub fn node_with_port(cluster: &Cluster, port: u16) -> usize {
    (0..cluster.nodes())
        .find(|&n| cluster.port(n) == port)
        .unwrap_or_else(|| panic!("port {port} is no node of the cluster"))
}

/// Values of the first row of simple query `sql` (NULL as "").
pub fn first_row(c: &mut Client, sql: &str) -> Vec<String> {
    let msgs = c
        .simple_query(sql)
        .unwrap_or_else(|e| query_failed(sql, &e));
    msgs.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

/// The node that served simple query `sql`, whose first column must be `inet_server_port()`.
pub fn served_by(c: &mut Client, cluster: &Cluster, sql: &str) -> usize {
    let row = first_row(c, sql);
    let port = row[0]
        .parse()
        .unwrap_or_else(|_| panic!("{sql}: first column {:?} is not a port", row[0]));
    node_with_port(cluster, port)
}

/// Like `served_by`, through the extended protocol (rust-postgres `query`, a named statement);
/// the first column must be `inet_server_port()` (an int4).
pub fn served_by_ext(c: &mut impl postgres::GenericClient, cluster: &Cluster, sql: &str) -> usize {
    let rows = c
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql} (extended): {e}"));
    let row = rows
        .first()
        .unwrap_or_else(|| panic!("{sql} (extended): no row"));
    let port: i32 = row.get(0);
    node_with_port(cluster, port as u16)
}

/// Wait (bounded) until `SHOW pool_nodes` through the daemon satisfies `cond`; panics with the
/// last answer.
pub fn wait_pool_nodes(
    d: &Daemon,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut(&[HashMap<String, String>]) -> bool,
) {
    let mut last = Vec::new();
    wait_until(timeout, what, || {
        // a session can fail while the daemon fails a node over: just try again
        match d.try_client(SUPERUSER, None, "postgres") {
            Ok(mut c) => {
                last = pool_nodes(&mut c);
                cond(&last)
            }
            Err(_) => false,
        }
    })
    .unwrap_or_else(|e| panic!("{e}; last SHOW pool_nodes: {last:#?}"));
}

/// Up to `n` notifications (channel, payload) that reach `c` within `timeout` in all.
pub fn notifications(c: &mut Client, n: usize, timeout: Duration) -> Vec<(String, String)> {
    use postgres::fallible_iterator::FallibleIterator;
    let end = std::time::Instant::now() + timeout;
    let mut got = Vec::new();
    let mut notes = c.notifications();
    while got.len() < n {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match notes.timeout_iter(left).next() {
            Ok(Some(note)) => got.push((note.channel().to_string(), note.payload().to_string())),
            Ok(None) => break,
            Err(e) => panic!("reading notifications: {e}"),
        }
    }
    got
}

/// Run `f` on a thread of its own and return its result, or panic when it has not finished
/// within `timeout` (a client library call that would otherwise block the test forever). The
/// thread is left behind; it ends when the daemon it talks to is stopped. A panic in `f` is
/// re-raised here.
pub fn within<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: not finished within {timeout:?}"),
    }
}

/// Runs SQL on the primary when dropped (also while a test panics): drops what a test made.
/// A new database with a unique name made from `prefix`, replayed on every standby (a session
/// connects to every node), and the guard that drops it.
pub fn scratch_database<'a>(cluster: &'a Cluster, prefix: &str) -> (String, Cleanup<'a>) {
    let db = unique(prefix);
    let cleanup = Cleanup::new(
        cluster,
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
    cluster.psql(0, &format!("CREATE DATABASE {db}"));
    cluster.wait_replayed();
    (db, cleanup)
}

pub struct Cleanup<'a> {
    cluster: &'a Cluster,
    sql: String,
}

impl<'a> Cleanup<'a> {
    pub fn new(cluster: &'a Cluster, sql: impl Into<String>) -> Cleanup<'a> {
        Cleanup {
            cluster,
            sql: sql.into(),
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.cluster.try_psql(0, &self.sql) {
            eprintln!("cleanup failed: {e}");
        }
    }
}

/// Create table `name (i int)` holding one row on the primary and wait until the standbys have
/// replayed it.
pub fn table_with_row(cluster: &Cluster, name: &str) {
    cluster.psql(
        0,
        &format!("CREATE TABLE {name} (i int); INSERT INTO {name} VALUES (1)"),
    );
    cluster.wait_replayed();
}
