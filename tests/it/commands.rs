//! The commands pgpool answers itself (spec/sql-commands.md): the `SHOW pool_*` reports with
//! pgpool-II 4.3.5's column sets (/work/shared/bench/examples/show_*.protocol.txt) but one
//! RowDescription per result, and `PGPOOL SHOW/SET/RESET` with their errors, per-session scope
//! and effect on logging. Values are read through psql; the wire shape through a raw client.

use std::time::Duration;

use crate::support::cluster::shared_cluster;
use crate::support::daemon::Daemon;
use crate::support::wait_until;
use crate::support::wire::{Msg, Wire};

const NUM_INIT_CHILDREN: usize = 3;
const MAX_POOL: usize = 2;

// Column sets of pgpool-II 4.3.5 (bench/examples/show_*.protocol.txt).
const NODES: [&str; 14] = [
    "node_id",
    "hostname",
    "port",
    "status",
    "pg_status",
    "lb_weight",
    "role",
    "pg_role",
    "select_cnt",
    "load_balance_node",
    "replication_delay",
    "replication_state",
    "replication_sync_state",
    "last_status_change",
];
pub(crate) const PROCESSES: [&str; 8] = [
    "pool_pid",
    "start_time",
    "client_connection_count",
    "database",
    "username",
    "backend_connection_time",
    "pool_counter",
    "status",
];
pub(crate) const POOLS: [&str; 17] = [
    "pool_pid",
    "start_time",
    "client_connection_count",
    "pool_id",
    "backend_id",
    "database",
    "username",
    "backend_connection_time",
    "client_connection_time",
    "client_disconnection_time",
    "client_idle_duration",
    "majorversion",
    "minorversion",
    "pool_counter",
    "pool_backendpid",
    "pool_connected",
    "status",
];
const ITEM_VALUE_DESCRIPTION: [&str; 3] = ["item", "value", "description"];
const CACHE: [&str; 9] = [
    "num_cache_hits",
    "num_selects",
    "cache_hit_ratio",
    "num_hash_entries",
    "used_hash_entries",
    "num_cache_entries",
    "used_cache_entries_size",
    "free_cache_entries_size",
    "fragment_cache_entries_size",
];
const HEALTH_CHECK_STATS: [&str; 20] = [
    "node_id",
    "hostname",
    "port",
    "status",
    "role",
    "last_status_change",
    "total_count",
    "success_count",
    "fail_count",
    "skip_count",
    "retry_count",
    "average_retry_count",
    "max_retry_count",
    "max_duration",
    "min_duration",
    "average_duration",
    "last_health_check",
    "last_successful_health_check",
    "last_skip_health_check",
    "last_failed_health_check",
];
const BACKEND_STATS: [&str; 14] = [
    "node_id",
    "hostname",
    "port",
    "status",
    "role",
    "select_cnt",
    "insert_cnt",
    "update_cnt",
    "delete_cnt",
    "ddl_cnt",
    "other_cnt",
    "panic_cnt",
    "fatal_cnt",
    "error_cnt",
];

fn daemon() -> Daemon {
    Daemon::start(
        shared_cluster(),
        &format!("num_init_children = {NUM_INIT_CHILDREN}\nmax_pool = {MAX_POOL}"),
    )
}

/// A result set as seen on the wire.
struct Reply {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    complete: String,
}

/// Run `sql` over a raw connection and check the reply is exactly one result: one
/// RowDescription, DataRows, CommandComplete `SELECT <rows>`, ReadyForQuery `I`.
fn one_result(d: &Daemon, sql: &str) -> Reply {
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    let setup = w.until_ready();
    assert_eq!(setup[0].auth_code(), Some(0), "{setup:?}");
    let msgs = w.query(sql);
    w.terminate();
    let tags: String = msgs.iter().map(|m| m.tag as char).collect();
    let descs: Vec<&Msg> = msgs.iter().filter(|m| m.tag == b'T').collect();
    assert_eq!(descs.len(), 1, "{sql}: {tags} — not one RowDescription");
    assert_eq!(msgs[0].tag, b'T', "{sql}: {tags}");
    let rows: Vec<Vec<String>> = msgs
        .iter()
        .filter(|m| m.tag == b'D')
        .map(|m| {
            m.values()
                .into_iter()
                .map(|v| v.expect("no NULLs"))
                .collect()
        })
        .collect();
    let complete = msgs
        .iter()
        .find(|m| m.tag == b'C')
        .unwrap_or_else(|| panic!("{sql}: no CommandComplete in {tags}"))
        .text();
    assert_eq!(complete, format!("SELECT {}", rows.len()), "{sql}");
    let last = msgs.last().expect("ReadyForQuery");
    assert_eq!(
        (last.tag, last.body.as_slice()),
        (b'Z', &b"I"[..]),
        "{sql}: {tags}"
    );
    assert_eq!(
        tags.len(),
        rows.len() + 3,
        "{sql}: unexpected messages {tags}"
    );
    Reply {
        columns: descs[0].columns(),
        rows,
        complete,
    }
}

/// Run `sql` over a raw connection; it must fail with pgpool's or PostgreSQL's ErrorResponse
/// and the session must go on (ReadyForQuery). Returns the error's fields.
fn error_of(d: &Daemon, sql: &str) -> std::collections::HashMap<char, String> {
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    let msgs = w.query(sql);
    let err = msgs
        .iter()
        .find(|m| m.tag == b'E')
        .unwrap_or_else(|| panic!("{sql}: no error in {msgs:?}"))
        .fields();
    assert_eq!(msgs.last().map(|m| m.tag), Some(b'Z'), "{sql}: {msgs:?}");
    let after = w.query("select 1");
    assert!(
        after.iter().any(|m| m.tag == b'D'),
        "the session did not survive {sql}: {after:?}"
    );
    w.terminate();
    err
}

fn psql(d: &Daemon, sql: &str) -> String {
    d.psql(sql)
        .unwrap_or_else(|e| panic!("{e}\n{}", crate::support::tail(&d.log(), 20)))
}

#[test]
fn show_pool_version_is_one_column_one_row_with_version_and_code_name() {
    let d = daemon();
    let r = one_result(&d, "SHOW pool_version");
    assert_eq!(r.columns, ["pool_version"]);
    assert_eq!(r.rows.len(), 1);
    let v = &r.rows[0][0];
    let (num, name) = v.split_once(' ').unwrap_or_else(|| panic!("{v:?}"));
    let parts: Vec<&str> = num.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "{v:?}"
    );
    assert!(
        name.starts_with('(')
            && name.ends_with(')')
            && name.len() > 2
            && name[1..name.len() - 1]
                .chars()
                .all(|c| c.is_ascii_lowercase()),
        "{v:?}"
    );
    assert_eq!(psql(&d, "show pool_version"), *v);
}

#[test]
fn show_pool_nodes_lists_every_backend_with_raw_mode_roles() {
    let c = shared_cluster();
    let d = daemon();
    let r = one_result(&d, "SHOW pool_nodes");
    assert_eq!(r.columns, NODES);
    assert_eq!(r.rows.len(), c.nodes());
    for (n, row) in r.rows.iter().enumerate() {
        assert_eq!(row[0], n.to_string());
        assert_eq!(row[1], c.host());
        assert_eq!(row[2], c.port(n).to_string());
        assert!(["up", "waiting"].contains(&row[3].as_str()), "{row:?}");
        // health_check_period = 0: no live probe
        assert_eq!(row[4], "unknown", "{row:?}");
        assert_eq!(row[5], format!("{:.6}", 1.0 / c.nodes() as f64), "{row:?}");
        let role = if n == 0 { "main" } else { "replica" };
        assert_eq!((row[6].as_str(), row[7].as_str()), (role, role), "{row:?}");
        assert!(row[8].parse::<u64>().is_ok(), "{row:?}");
        assert!(["true", "false"].contains(&row[9].as_str()), "{row:?}");
        assert_eq!(row[10], "0", "{row:?}");
        assert_eq!((row[11].as_str(), row[12].as_str()), ("", ""), "{row:?}");
        assert_eq!(row[13].len(), "2026-11-24 00:28:06".len(), "{row:?}");
    }
    // the main node served this session
    assert_eq!(r.rows[0][3], "up");
    // keywords are case-insensitive; through psql the same rows come back
    let upper = psql(&d, "SHOW POOL_NODES");
    assert_eq!(upper.lines().count(), c.nodes(), "{upper}");
    assert!(
        upper.starts_with(&format!("0|{}|{}|up|", c.host(), c.port(0))),
        "{upper}"
    );
}

#[test]
fn show_of_a_quoted_pool_name_goes_to_postgresql() {
    let d = daemon();
    let e = error_of(&d, "SHOW \"POOL_NODES\"");
    assert_eq!(e.get(&'C').map(String::as_str), Some("42704"), "{e:?}");
    assert_eq!(
        e.get(&'M').map(String::as_str),
        Some("unrecognized configuration parameter \"POOL_NODES\""),
        "{e:?}"
    );
    // PostgreSQL's errors carry the V field, pgpool's never do
    assert!(e.contains_key(&'V'), "not PostgreSQL's error: {e:?}");
}

#[test]
fn show_pool_processes_has_one_row_per_child() {
    let d = daemon();
    // all children must have started before their rows carry pids
    wait_until(Duration::from_secs(10), "the children", || {
        d.children_pids().len() >= NUM_INIT_CHILDREN
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let r = one_result(&d, "SHOW pool_processes");
    assert_eq!(r.columns, PROCESSES);
    assert_eq!(r.rows.len(), NUM_INIT_CHILDREN);
    let children = d.children_pids();
    let me = r
        .rows
        .iter()
        .filter(|row| row[7] == "Execute command" || row[3] == "postgres")
        .count();
    assert!(me >= 1, "the asking session is not shown: {:?}", r.rows);
    for row in &r.rows {
        let pid: u32 = row[0].parse().unwrap_or_else(|_| panic!("{row:?}"));
        assert!(
            children.contains(&pid),
            "{pid} is not a child of the daemon"
        );
        assert!(row[2].parse::<u64>().is_ok(), "{row:?}");
    }
}

#[test]
fn show_pool_pools_has_a_row_per_child_slot_and_backend() {
    let c = shared_cluster();
    let d = daemon();
    let r = one_result(&d, "SHOW pool_pools");
    assert_eq!(r.columns, POOLS);
    assert_eq!(r.rows.len(), NUM_INIT_CHILDREN * MAX_POOL * c.nodes());
    // child-major, then pool slot, then backend
    for (i, row) in r.rows.iter().enumerate() {
        assert_eq!(row[3], ((i / c.nodes()) % MAX_POOL).to_string(), "{row:?}");
        assert_eq!(row[4], (i % c.nodes()).to_string(), "{row:?}");
    }
    // the asking session's main-node connection
    let mine: Vec<&Vec<String>> = r
        .rows
        .iter()
        .filter(|row| row[15] == "1" && row[4] == "0")
        .collect();
    assert_eq!(mine.len(), 1, "{:?}", r.rows);
    assert_eq!(
        (mine[0][5].as_str(), mine[0][6].as_str()),
        ("postgres", "postgres")
    );
    assert_eq!(mine[0][11], "3");
    assert!(
        mine[0][14].parse::<u32>().is_ok_and(|p| p > 0),
        "{:?}",
        mine[0]
    );
}

/// The child's status in SHOW pool_pools follows each ReadyForQuery (architecture.md §3.2):
/// `Idle` after a statement outside a transaction block, `Idle in transaction` inside one.
pub(crate) fn child_status_follows_ready_for_query(d: &Daemon) {
    let mut a = Wire::start(d.port(), "postgres", "postgres");
    a.until_ready();
    let reply = a.query("select pg_backend_pid()");
    let backend_pid = reply
        .iter()
        .find(|m| m.tag == b'D')
        .and_then(|m| m.values().into_iter().next().flatten())
        .unwrap_or_else(|| panic!("no pid in {reply:?}"));
    let status = || {
        let r = one_result(d, "SHOW pool_pools");
        let row = r
            .rows
            .iter()
            .find(|row| row[14] == backend_pid && row[15] == "1")
            .unwrap_or_else(|| panic!("backend {backend_pid} not in {:?}", r.rows));
        row[16].clone()
    };
    assert_eq!(status(), "Idle", "after a statement outside a transaction");
    a.query("begin");
    assert_eq!(status(), "Idle in transaction", "after BEGIN");
    a.query("select 1");
    assert_eq!(
        status(),
        "Idle in transaction",
        "after a statement in the block"
    );
    a.query("commit");
    assert_eq!(status(), "Idle", "after COMMIT");
    a.terminate();
}

#[test]
fn child_status_is_idle_between_statements() {
    child_status_follows_ready_for_query(&daemon());
}

#[test]
fn show_pool_status_lists_item_value_description() {
    let d = daemon();
    let r = one_result(&d, "SHOW pool_status");
    assert_eq!(r.columns, ITEM_VALUE_DESCRIPTION);
    assert!(r.rows.len() > 100, "only {} rows", r.rows.len());
    let port = r
        .rows
        .iter()
        .find(|row| row[0] == "port")
        .unwrap_or_else(|| panic!("no port row: {:?}", r.rows));
    assert_eq!(port[1], d.port().to_string());
    assert_eq!(port[2], "pgpool accepting port number");
    let mode = r
        .rows
        .iter()
        .find(|row| row[0] == "backend_clustering_mode")
        .expect("backend_clustering_mode row");
    assert_eq!(mode[1], "5", "raw mode's code");
    // ctime(3) form of pgpool's start: "Wed Dec  2 12:17:20 2026"
    let start = r
        .rows
        .iter()
        .find(|row| row[0] == "memqcache_stats_start_time")
        .expect("memqcache_stats_start_time row");
    let words: Vec<&str> = start[1].split_whitespace().collect();
    assert!(
        words.len() == 5
            && words[0].len() == 3
            && words[1].len() == 3
            && words[3].len() == 8
            && words[4].len() == 4,
        "{start:?}"
    );
    // through psql
    let text = psql(&d, "show pool_status");
    assert!(
        text.lines()
            .any(|l| l == format!("port|{}|pgpool accepting port number", d.port())),
        "{text}"
    );
}

#[test]
fn show_statistics_reports_have_pgpools_column_sets() {
    let c = shared_cluster();
    let d = daemon();
    let cache = one_result(&d, "show pool_cache");
    assert_eq!(cache.columns, CACHE);
    assert_eq!(
        cache.rows,
        [["0", "0", "0.00", "0", "0", "0", "0", "0", "0"]]
    );
    let hc = one_result(&d, "show pool_health_check_stats");
    assert_eq!(hc.columns, HEALTH_CHECK_STATS);
    assert_eq!(hc.rows.len(), c.nodes());
    let bs = one_result(&d, "show pool_backend_stats");
    assert_eq!(bs.columns, BACKEND_STATS);
    assert_eq!(bs.rows.len(), c.nodes());
    for (n, row) in bs.rows.iter().enumerate() {
        assert_eq!(
            row[..3],
            [n.to_string(), c.host().into(), c.port(n).to_string()]
        );
        assert_eq!(row[4], if n == 0 { "main" } else { "replica" });
        assert!(row[5..].iter().all(|v| v.parse::<u64>().is_ok()), "{row:?}");
    }
    // every report: exactly one RowDescription (4.3.5 sends two for pool_processes/version)
    for sql in [
        "show pool_status",
        "show pool_nodes",
        "show pool_processes",
        "show pool_pools",
        "show pool_version",
        "show pool_cache",
        "show pool_health_check_stats",
        "show pool_backend_stats",
    ] {
        let r = one_result(&d, sql);
        assert!(!r.rows.is_empty(), "{sql}");
        assert!(r.complete.starts_with("SELECT "));
    }
}

#[test]
fn pgpool_show_gives_a_parameter_all_parameters_or_a_group() {
    let c = shared_cluster();
    let d = daemon();
    let port = one_result(&d, "PGPOOL SHOW port");
    assert_eq!(port.columns, ["port"]);
    assert_eq!(port.rows, [[d.port().to_string()]]);
    assert_eq!(psql(&d, "pgpool show port"), d.port().to_string());

    let all = one_result(&d, "PGPOOL SHOW ALL");
    assert_eq!(all.columns, ITEM_VALUE_DESCRIPTION);
    assert_eq!(all.rows[0][0], "backend_hostname0", "{:?}", all.rows[0]);
    assert!(
        all.rows.iter().any(|r| r[0] == "port"
            && r[1] == d.port().to_string()
            && r[2] == "tcp/IP port number on which pgpool will listen on."),
        "no port row in PGPOOL SHOW ALL"
    );
    assert!(
        all.rows
            .iter()
            .any(|r| r[0] == "num_init_children" && r[1] == NUM_INIT_CHILDREN.to_string()),
        "no num_init_children row in PGPOOL SHOW ALL"
    );

    let backend = one_result(&d, "PGPOOL SHOW backend");
    assert_eq!(backend.columns, ITEM_VALUE_DESCRIPTION);
    let members = [
        "backend_hostname",
        "backend_port",
        "backend_weight",
        "backend_data_directory",
        "backend_application_name",
        "backend_flag",
    ];
    let want: Vec<String> = (0..c.nodes())
        .flat_map(|n| members.iter().map(move |m| format!("{m}{n}")))
        .collect();
    let got: Vec<String> = backend.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(got, want);
    for n in 0..c.nodes() {
        let value = |name: &str| {
            backend
                .rows
                .iter()
                .find(|r| r[0] == format!("{name}{n}"))
                .map(|r| r[1].clone())
                .expect("member row")
        };
        assert_eq!(value("backend_port"), c.port(n).to_string());
        assert_eq!(value("backend_hostname"), c.host());
        assert_eq!(value("backend_flag"), "ALLOW_TO_FAILOVER");
        assert_eq!(value("backend_application_name"), format!("node{n}"));
    }
}

#[test]
fn pgpool_set_changes_a_session_parameter_and_reset_restores_it() {
    let d = daemon();
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    let show = |w: &mut Wire| -> String {
        let m = w.query("PGPOOL SHOW client_idle_limit");
        let row = m
            .iter()
            .find(|m| m.tag == b'D')
            .unwrap_or_else(|| panic!("{m:?}"));
        row.values()[0].clone().expect("value")
    };
    assert_eq!(show(&mut w), "0");
    let set = w.query("PGPOOL SET client_idle_limit = 350");
    let tags: String = set.iter().map(|m| m.tag as char).collect();
    assert_eq!(tags, "CZ", "{set:?}");
    assert_eq!(set[0].text(), "SET");
    assert_eq!(show(&mut w), "350s");
    let reset = w.query("PGPOOL RESET client_idle_limit");
    assert_eq!(reset[0].text(), "SET", "{reset:?}");
    assert_eq!(show(&mut w), "0");
    w.query("PGPOOL SET client_idle_limit TO 350");
    assert_eq!(show(&mut w), "350s");
    let all = w.query("PGPOOL RESET ALL");
    assert_eq!(all[0].text(), "RESET", "{all:?}");
    assert_eq!(show(&mut w), "0");
    w.terminate();
    // psql, one statement per session: nothing carries over
    assert_eq!(psql(&d, "PGPOOL SET client_idle_limit = 350"), "");
    assert_eq!(psql(&d, "PGPOOL SHOW client_idle_limit"), "0");
}

#[test]
fn pgpool_set_of_a_start_only_or_unknown_parameter_is_an_error() {
    let d = daemon();
    for (sql, msg) in [
        (
            "PGPOOL SET num_init_children = 5",
            "invalid Context, value for parameter \"num_init_children\" cannot be changed",
        ),
        (
            "PGPOOL SET port = 9999",
            "invalid Context, value for parameter \"port\" cannot be changed",
        ),
        (
            "PGPOOL SET no_such_parameter = 1",
            "unrecognized configuration parameter \"no_such_parameter\"",
        ),
        (
            "PGPOOL SHOW no_such_parameter",
            "config variable \"no_such_parameter\" not found",
        ),
    ] {
        let e = error_of(&d, sql);
        assert_eq!(
            e.get(&'S').map(String::as_str),
            Some("ERROR"),
            "{sql}: {e:?}"
        );
        assert_eq!(
            e.get(&'C').map(String::as_str),
            Some("XX000"),
            "{sql}: {e:?}"
        );
        assert_eq!(e.get(&'M').map(String::as_str), Some(msg), "{sql}: {e:?}");
        assert!(
            !e.contains_key(&'V'),
            "{sql}: pgpool's errors have no V field: {e:?}"
        );
    }
    // psql shows the same message
    let err = d.psql("PGPOOL SET num_init_children = 5").unwrap_err();
    assert!(err.contains("ERROR:  invalid Context"), "{err}");
    // and the value did not change
    assert_eq!(psql(&d, "PGPOOL SHOW num_init_children"), "3");
}

#[test]
fn pgpool_set_values_do_not_leak_into_the_next_session_of_the_child() {
    let d = Daemon::start(shared_cluster(), "num_init_children = 1");
    let child_pid = |w: &mut Wire| -> String {
        let m = w.query("SHOW pool_processes");
        let row = m
            .iter()
            .find(|m| m.tag == b'D')
            .unwrap_or_else(|| panic!("{m:?}"));
        row.values()[0].clone().expect("pid")
    };
    let show = |w: &mut Wire, name: &str| -> String {
        let m = w.query(&format!("PGPOOL SHOW {name}"));
        let row = m
            .iter()
            .find(|m| m.tag == b'D')
            .unwrap_or_else(|| panic!("{m:?}"));
        row.values()[0].clone().expect("value")
    };
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    let first_child = child_pid(&mut w);
    w.query("PGPOOL SET client_idle_limit = 350");
    w.query("PGPOOL SET log_per_node_statement = on");
    w.query("PGPOOL SET log_min_messages = debug1");
    assert_eq!(show(&mut w, "client_idle_limit"), "350s");
    assert_eq!(show(&mut w, "log_per_node_statement"), "on");
    w.terminate();

    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    assert_eq!(child_pid(&mut w), first_child, "not the same child");
    assert_eq!(show(&mut w, "client_idle_limit"), "0");
    assert_eq!(show(&mut w, "log_per_node_statement"), "off");
    assert_eq!(show(&mut w, "log_min_messages"), "warning");
    w.terminate();
}

#[test]
fn session_log_per_node_statement_logs_that_sessions_statements() {
    let d = Daemon::start(shared_cluster(), "num_init_children = 2");
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    w.query("select 'before-set-marker'");
    let set = w.query("PGPOOL SET log_per_node_statement = on");
    assert_eq!(set[0].text(), "SET", "{set:?}");
    let pid = w
        .query("select pg_backend_pid()")
        .iter()
        .find(|m| m.tag == b'D')
        .map(|m| m.values()[0].clone().expect("pid"))
        .expect("a row");
    w.query("select 'after-set-marker'");
    // another session, without the setting, is not logged
    assert_eq!(
        psql(&d, "select 'other-session-marker'"),
        "other-session-marker"
    );
    let want = format!("DB node id: 0 backend pid: {pid} statement: select 'after-set-marker'");
    wait_until(Duration::from_secs(10), "the statement in the log", || {
        d.log().contains(&want)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    w.terminate();
    let log = d.log();
    assert!(!log.contains("before-set-marker"), "{log}");
    assert!(!log.contains("other-session-marker"), "{log}");
}

/// Inside an aborted transaction pgpool answers every statement but the transaction's end
/// itself, its own commands included: ERROR 25P02 with the statement as DETAIL, then
/// ReadyForQuery `E` (spec/routing.md §3.1 steps 4 and 6; checked against pgpool-II 4.3.5 in
/// raw and streaming mode). ROLLBACK ends it, and the commands work again.
fn aborted_transaction_refuses_everything_but_its_end(d: &Daemon) {
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    w.query("BEGIN");
    let failed = w.query("SELECT 1/0");
    assert_eq!(
        failed.last().map(|m| (m.tag, m.body.clone())),
        Some((b'Z', b"E".to_vec()))
    );
    for sql in [
        "SHOW pool_nodes",
        "PGPOOL SHOW port",
        "PGPOOL SET client_idle_limit = 5",
        "SELECT 1",
    ] {
        let msgs = w.query(sql);
        let tags: String = msgs.iter().map(|m| m.tag as char).collect();
        assert_eq!(tags, "EZ", "{sql}: {msgs:?}");
        let f = msgs[0].fields();
        assert_eq!(f[&'C'], "25P02", "{sql}");
        assert_eq!(
            f[&'M'],
            "current transaction is aborted, commands ignored until end of transaction block"
        );
        assert_eq!(f[&'D'], format!("statement: {sql}"));
        assert_eq!(msgs[1].body, b"E", "{sql}");
    }
    let end = w.query("ROLLBACK");
    assert_eq!(
        end.last().map(|m| (m.tag, m.body.clone())),
        Some((b'Z', b"I".to_vec()))
    );
    let port = w.query("PGPOOL SHOW port");
    assert!(port.iter().any(|m| m.tag == b'D'), "{port:?}");
    w.terminate();
}

#[test]
fn aborted_transaction_refuses_pgpool_commands_in_raw_mode() {
    aborted_transaction_refuses_everything_but_its_end(&daemon());
}

#[test]
fn aborted_transaction_refuses_pgpool_commands_in_streaming_mode() {
    let d = Daemon::start_streaming(crate::support::cluster::shared_sr_cluster(), "");
    aborted_transaction_refuses_everything_but_its_end(&d);
}

/// pgpool's LOG line for a simple query whose reply from a node begins with an ErrorResponse or
/// a NoticeResponse (checked against pgpool-II 4.3.5 in raw and streaming mode): a reply that
/// begins with rows is not logged, even if an error follows them. The DO block runs on
/// `do_node`, the SELECTs on `select_node`.
fn error_or_notice_first_is_logged(d: &Daemon, do_node: usize, select_node: usize) {
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    let mut pid_of = |sql: &str| {
        w.query(sql)
            .iter()
            .find(|m| m.tag == b'D')
            .map(|m| m.values()[0].clone().expect("pid"))
            .expect("a row")
    };
    // a leading comment keeps a SELECT off the standbys (allow_sql_comments = off)
    let do_pid = pid_of("/*primary*/ select pg_backend_pid()");
    let select_pid = pid_of("select pg_backend_pid()");
    w.query("do $$ begin raise notice 'notice-marker'; end $$");
    w.query("select 1/0 as first_error_marker");
    w.query("select 1/(3 - g) as rows_first_marker from generate_series(1, 5) g");
    for f in [
        crate::support::frames::parse("", "select 1/0 as extended_error_marker"),
        crate::support::frames::bind("", "", &[]),
        crate::support::frames::execute(""),
        crate::support::frames::sync(),
    ] {
        w.send(f[0], &f[5..]);
    }
    w.until_ready();
    w.terminate();
    let line = |node: usize, pid: &str, rest: &str| {
        format!(
            "LOG:  pool_send_and_wait: Error or notice message from backend: : DB node id: {node} backend pid: {pid} statement: {rest}"
        )
    };
    let notice = line(
        do_node,
        &do_pid,
        "\"do $$ begin raise notice 'notice-marker'; end $$\" message: \"notice-marker\"",
    );
    let error = line(
        select_node,
        &select_pid,
        "\"select 1/0 as first_error_marker\" message: \"division by zero\"",
    );
    // each notice a node sends, and an error in the extended protocol, have lines of their own
    let notice_line = format!("LOG:  backend [{do_node}]: NOTICE: notice-marker\n");
    let extended_error = format!(
        "LOG:  Error message from backend: DB node id: {select_node} message: \"division by zero\"\n"
    );
    wait_until(Duration::from_secs(10), "the lines in the log", || {
        let log = d.log();
        [&notice, &error, &notice_line, &extended_error]
            .iter()
            .all(|l| log.contains(l.as_str()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert!(
        !d.log().contains("rows_first_marker\" message"),
        "{}",
        d.log()
    );
}

#[test]
fn error_or_notice_first_in_a_reply_is_logged_in_raw_mode() {
    let d = Daemon::start(shared_cluster(), "log_min_messages = log");
    error_or_notice_first_is_logged(&d, 0, 0);
}

#[test]
fn error_or_notice_first_in_a_reply_is_logged_in_streaming_mode() {
    // every SELECT on standby 1; the DO block goes to the primary
    let d = Daemon::start_streaming(
        crate::support::cluster::shared_sr_cluster(),
        "log_min_messages = log\nbackend_weight0 = 0\nbackend_weight1 = 1\nbackend_weight2 = 0\n",
    );
    error_or_notice_first_is_logged(&d, 0, 1);
    // a string the parser refuses, as a simple query and in a Parse
    let mut w = Wire::start(d.port(), "postgres", "postgres");
    w.until_ready();
    w.query("selec 1 as unparsable_marker");
    for f in [
        crate::support::frames::parse("", "selec 2 as unparsable_marker"),
        crate::support::frames::sync(),
    ] {
        w.send(f[0], &f[5..]);
    }
    w.until_ready();
    w.terminate();
    for n in 1..=2 {
        d.wait_log(&format!(
            "LOG:  Unable to parse the query: \"selec {n} as unparsable_marker\" from client 127.0.0.1("
        ));
    }
}

/// `log_statement`: pgpool's own commands, and a statement refused in an aborted transaction,
/// are logged like any statement (pgpool logs what it receives before it answers), in both
/// engines.
#[test]
fn log_statement_logs_the_statements_pgpool_answers_itself() {
    let raw = Daemon::start(shared_cluster(), "log_statement = on");
    let streaming = Daemon::start_streaming(
        crate::support::cluster::shared_sr_cluster(),
        "log_statement = on",
    );
    for d in [&raw, &streaming] {
        let mut w = Wire::start(d.port(), "postgres", "postgres");
        w.until_ready();
        w.query("SHOW pool_version");
        w.query("BEGIN");
        w.query("SELECT 1/0");
        w.query("SHOW pool_nodes");
        w.query("ROLLBACK");
        w.terminate();
        for line in [
            "LOG:  statement: SHOW pool_version\n",
            "LOG:  statement: SHOW pool_nodes\n",
        ] {
            d.wait_log(line);
            assert_eq!(d.log().matches(line).count(), 1, "{line:?} once");
        }
    }
}
