//! `logical_replication` mode on a real publisher and subscriber (spec/routing.md §5–§8,
//! failover.md §7): every node answers `pg_is_in_recovery() = f`, so the lowest live node is the
//! main node and takes the writes, the others are replicas that share the reads by weight,
//! `SHOW pool_nodes` says `main` / `replica` (as pgpool-II 4.3.5 does), and when the main node
//! fails the next live node becomes main. The expectations were checked side by side with
//! pgpool-II 4.3.5 on the same kind of cluster.

use std::time::Duration;

use crate::support::cluster::{Cluster, ClusterSpec, StopMode, SUPERUSER};
use crate::support::daemon::Daemon;
use crate::support::sr::{first_row, served_by, served_by_ext, wait_pool_nodes};
use crate::support::{tail, wait_until};

/// A publisher (node 0) and a subscriber (node 1) of table `lr`: node 1 started as a streaming
/// standby and was promoted, so both hold the same database, then linked by a subscription.
fn publisher_and_subscriber() -> Cluster {
    let cluster = Cluster::start(ClusterSpec {
        standbys: 1,
        ..ClusterSpec::default()
    });
    cluster.promote(1);
    wait_until(Duration::from_secs(30), "node 1 to leave recovery", || {
        !cluster.is_in_recovery(1)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    cluster.psql(0, "alter system set wal_level = logical");
    cluster.stop_node(0, StopMode::Fast);
    cluster.start_node(0);
    cluster.psql(
        0,
        "create table lr (id int primary key, v text); create publication lr_pub for table lr",
    );
    cluster.psql(1, "create table lr (id int primary key, v text)");
    cluster.psql(
        1,
        &format!(
            "create subscription lr_sub connection '{}' publication lr_pub",
            cluster.connstr(0)
        ),
    );
    cluster
}

#[test]
fn logical_replication_mode_writes_to_the_main_node_and_fails_over_to_the_next() {
    let cluster = publisher_and_subscriber();
    let d = Daemon::start(
        &cluster,
        "backend_clustering_mode = 'logical_replication'\n\
         load_balance_mode = on\n\
         backend_weight0 = 0\n\
         backend_weight1 = 1\n\
         sr_check_period = 1\n\
         detach_false_primary = on\n\
         health_check_period = 1\n\
         health_check_max_retries = 0\n\
         connect_timeout = 1000\n",
    );
    let nodes = d.pool_nodes();
    let roles: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|r| {
            (
                r["status"].as_str(),
                r["role"].as_str(),
                r["replication_state"].as_str(),
            )
        })
        .collect();
    // two primaries, yet no node is detached: detach_false_primary is for streaming mode
    assert_eq!(roles, [("up", "main", ""), ("up", "replica", "")]);

    let mut c = d.client(SUPERUSER, "postgres");
    let wrote = first_row(
        &mut c,
        "insert into lr values (1, 'a') returning inet_server_port()",
    );
    assert_eq!(wrote[0], cluster.port(0).to_string(), "the write's node");
    assert_eq!(served_by(&mut c, &cluster, "select inet_server_port()"), 1);
    assert_eq!(
        served_by_ext(&mut c, &cluster, "select inet_server_port()"),
        1,
        "an extended-protocol read"
    );
    // the subscriber applies the publisher's write: read through pgpool, from node 1
    wait_until(Duration::from_secs(30), "the row on the subscriber", || {
        first_row(&mut c, "select count(*), inet_server_port() from lr")
            == ["1".to_string(), cluster.port(1).to_string()]
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&d.log(), 30)));
    // after a write in a transaction, its reads stay on the main node
    c.simple_query("begin").expect("begin");
    first_row(&mut c, "insert into lr values (2, 'b') returning id");
    assert_eq!(served_by(&mut c, &cluster, "select inet_server_port()"), 0);
    c.simple_query("commit").expect("commit");
    drop(c);

    // the main node fails: the next live node becomes main and takes the writes
    cluster.stop_node(0, StopMode::Fast);
    wait_pool_nodes(&d, Duration::from_secs(30), "node 1 main", |r| {
        r.len() == 2 && r[0]["status"] == "down" && r[1]["role"] == "main"
    });
    d.wait_log("find_primary_node: primary node is 1");
    let mut c = d.client(SUPERUSER, "postgres");
    let wrote = first_row(
        &mut c,
        "insert into lr values (3, 'c') returning inet_server_port()",
    );
    assert_eq!(wrote[0], cluster.port(1).to_string(), "the write's node");
}
