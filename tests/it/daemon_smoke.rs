//! Our daemon started by `support::daemon` in front of the shared cluster, in raw mode.
//!
//! `PGRS_PGPOOL_BIN=/usr/sbin/pgpool cargo test --test it daemon_smoke` runs them against
//! Debian's pgpool-II 4.3 instead, which proves the helper itself.

use std::time::Duration;

use crate::support::cluster::{process_alive, shared_cluster};
use crate::support::daemon::{children_of, Daemon};
use crate::support::wait_until;

/// Extra configuration for pgpool-II 4.3 (`PGRS_PGPOOL_BIN`), which names the client socket
/// directory `socket_dir` (4.4+: `unix_socket_directories`) and would otherwise use
/// /var/run/postgresql.
fn extra() -> String {
    if std::env::var_os("PGRS_PGPOOL_BIN").is_some() {
        "socket_dir = '/tmp'\n".to_string()
    } else {
        String::new()
    }
}

#[test]
fn daemon_answers_queries_through_to_the_primary() {
    let d = Daemon::start(shared_cluster(), &extra());
    assert_eq!(d.psql("select pg_is_in_recovery()").as_deref(), Ok("f"));
    let mut client = d.client("postgres", "postgres");
    let n: i64 = client
        .query_one("select count(*) from pg_stat_activity", &[])
        .expect("query")
        .get(0);
    assert!(n >= 1);
}

#[test]
fn daemon_forks_its_children_and_stop_ends_them_all() {
    let mut d = Daemon::start(
        shared_cluster(),
        &format!("num_init_children = 3\n{}", extra()),
    );
    let pid = d.pid().expect("running");
    let mut children = Vec::new();
    wait_until(Duration::from_secs(10), "3 children", || {
        children = d.children_pids();
        children.len() >= 3
    })
    .unwrap_or_else(|e| panic!("{e}: children {children:?}\n{}", d.log()));
    assert!(d.is_running());
    let status = d.stop().expect("was running");
    assert!(
        status.success() || status.code().is_none(),
        "{status}\n{}",
        d.log()
    );
    assert!(children_of(pid).is_empty());
    for child in children {
        assert!(!process_alive(child), "child {child} survived stop");
    }
}
