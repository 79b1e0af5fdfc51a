//! Statement routing in streaming-replication mode (spec/routing.md, all but §10): read/write
//! splitting and load balancing over a primary and two streaming standbys, as pgpool-II 4.6 does
//! it — the §12 worked examples row by row, writes and primary-only reads, the function lists,
//! every `disable_load_balance_on_write` mode, the redirect preference lists, backend weights,
//! statement-level load balancing, replication delay, a stopped standby, and `SHOW pool_nodes`.
//!
//! Which node served a statement is read from `inet_server_port()` in its result (a stable
//! function: it does not make a SELECT go to the primary by itself). Backend weights make the
//! load-balance node deterministic (0:1:0 → node 1) except in the statistical test. Each test
//! starts its own daemon; all but the delay and stopped-standby tests share
//! `shared_sr_cluster()` and create objects with unique names that they drop.
//!
//! Checked against Debian's pgpool-II 4.3.5 (`PGRS_PGPOOL_BIN=/usr/sbin/pgpool`); where 4.3 and
//! 4.6 differ the test asserts 4.6 and says so in a comment.

use std::collections::HashMap;
use std::time::Duration;

use postgres::Client;

use crate::support::cluster::{
    shared_sr_cluster, AuthMethod, Cluster, ClusterSpec, StopMode, SUPERUSER,
};
use crate::support::daemon::Daemon;
use crate::support::sr::{
    first_row, node_with_port, notifications, pool_nodes, real_pgpool, rows, scratch_database,
    served_by, table_with_row, unique, wait_pool_nodes, weights, within, Cleanup,
};

/// Bound on one test: a daemon that stops answering fails the test instead of hanging the suite.
const TEST_BOUND: Duration = Duration::from_secs(300);

/// Node 1 is the only standby with weight: every session's load-balance node.
fn lb_node1() -> String {
    weights(&[0, 1, 0])
}

fn port_of(c: &mut Client, cluster: &Cluster, sql: &str) -> usize {
    served_by(c, cluster, sql)
}

/// Whether `now() < statement_timestamp()` on the node that serves it, which holds exactly when
/// that node's session is inside a transaction block begun by an earlier statement. Returns
/// (node, in transaction).
fn in_tx_on(c: &mut Client, cluster: &Cluster, prefix: &str) -> (usize, bool) {
    std::thread::sleep(Duration::from_millis(20));
    let row = first_row(
        c,
        &format!("{prefix}SELECT inet_server_port(), now() < statement_timestamp()"),
    );
    (
        node_with_port(cluster, row[0].parse().expect("port")),
        row[1] == "t",
    )
}

/// §12, row by row (simple protocol, weights 0:1:0, defaults).
#[test]
fn worked_examples_route_row_by_row() {
    within(TEST_BOUND, "worked_examples_route_row_by_row", || {
        let cluster = shared_sr_cluster();
        let t = unique("rt_we");
        let f = unique("rt_we_vol");
        let _cleanup = Cleanup::new(
            cluster,
            format!("DROP TABLE IF EXISTS {t}; DROP FUNCTION IF EXISTS {f}(int)"),
        );
        table_with_row(cluster, &t);
        cluster.psql(
            0,
            &format!("CREATE FUNCTION {f}(int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT $1'"),
        );
        cluster.wait_replayed();
        let d = Daemon::start_streaming(cluster, &lb_node1());
        let mut c = d.client(SUPERUSER, "postgres");

        assert_eq!(
            port_of(
                &mut c,
                cluster,
                &format!("SELECT inet_server_port() FROM {t};")
            ),
            1,
            "a plain SELECT goes to the load-balance node"
        );
        assert_eq!(
            port_of(&mut c, cluster, "/*x*/ SELECT inet_server_port();"),
            0,
            "a leading comment (allow_sql_comments = off) sends a SELECT to the primary"
        );
        assert_eq!(
            port_of(
                &mut c,
                cluster,
                &format!("SELECT inet_server_port(), {f}(1);")
            ),
            0,
            "a volatile function makes a SELECT a write"
        );
        assert_eq!(
            port_of(&mut c, cluster, "SELECT inet_server_port(), now();"),
            1,
            "now() is stable: load-balanced"
        );
        assert_eq!(
            port_of(
                &mut c,
                cluster,
                "SELECT inet_server_port() FROM pg_class LIMIT 1;"
            ),
            0,
            "a system catalog sends a SELECT to the primary"
        );
        assert_eq!(
            first_row(&mut c, "SHOW in_hot_standby")[0],
            "on",
            "SHOW is load-balanced (§9.5)"
        );

        // a transaction: BEGIN to both, reads on the standby until the first write
        c.simple_query("BEGIN;").expect("BEGIN");
        assert_eq!(
        in_tx_on(&mut c, cluster, ""),
        (1, true),
        "SELECT in a transaction that has not written: the load-balance node, which got the BEGIN"
    );
        assert_eq!(
            in_tx_on(&mut c, cluster, "/*p*/ "),
            (0, true),
            "the primary got the BEGIN too"
        );
        assert_eq!(
            port_of(
                &mut c,
                cluster,
                &format!("INSERT INTO {t} VALUES (1) RETURNING inet_server_port();")
            ),
            0
        );
        assert_eq!(
            port_of(&mut c, cluster, "SELECT inet_server_port();"),
            0,
            "after a write in the transaction reads go to the primary (transaction mode)"
        );
        c.simple_query("COMMIT;").expect("COMMIT");
        assert_eq!(
            in_tx_on(&mut c, cluster, ""),
            (1, false),
            "COMMIT ended the transaction on the standby and cleared the write flag"
        );
        assert_eq!(in_tx_on(&mut c, cluster, "/*p*/ "), (0, false));

        // SET reaches the primary and the load-balance node, not the third node
        let app = unique("rt_we_app");
        c.simple_query("SET rt_we.tag = 'v1';")
            .expect("SET a custom parameter");
        c.simple_query(&format!("SET application_name = '{app}';"))
            .expect("SET application_name");
        assert_eq!(
            first_row(
                &mut c,
                "SELECT inet_server_port(), current_setting('rt_we.tag')"
            ),
            [cluster.port(1).to_string(), "v1".to_string()]
        );
        assert_eq!(
            first_row(
                &mut c,
                "/*p*/ SELECT inet_server_port(), current_setting('rt_we.tag')"
            ),
            [cluster.port(0).to_string(), "v1".to_string()]
        );
        let sessions_with_app: Vec<String> =
            (0..3)
                .map(|n| {
                    cluster.psql(
                n,
                &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"),
            )
                })
                .collect();
        assert_eq!(
            sessions_with_app,
            ["1", "1", "0"],
            "SET application_name reached nodes 0 and 1 only (§4.2)"
        );

        // LISTEN goes to the primary: a NOTIFY made directly on the primary reaches the session
        let ch = unique("rt_we_ch");
        c.simple_query(&format!("LISTEN {ch};")).expect("LISTEN");
        cluster.psql(0, &format!("NOTIFY {ch}, 'hello'"));
        let got = notifications(&mut c, 1, Duration::from_secs(10));
        assert_eq!(
            got,
            [(ch.clone(), "hello".to_string())],
            "LISTEN reached the primary"
        );
        c.simple_query(&format!("UNLISTEN {ch}")).expect("UNLISTEN");

        assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port();"), 1);
    })
}

/// §12 last rows, §3.2, §4.3: `BEGIN;SELECT 1` goes to the primary only; a plain SELECT after it
/// is still load-balanced [FAITHFUL]; because the transaction was started by a multi-statement
/// string, SAVEPOINT (class BOTH) goes to the primary only. The completed SAVEPOINT is not a
/// read-only SELECT inside a transaction, so (§6.1, as pgpool's ReadyForQuery code does) it sets
/// the writing flag and the next read goes to the primary. pgpool-II 4.3.5 differs: it sends the
/// SAVEPOINT to the standby as well, which has no transaction, and ends the session with "kind
/// mismatch among backends"; 4.6 tracks the flag.
#[test]
fn multi_statement_begin_keeps_the_transaction_on_the_primary() {
    within(
        TEST_BOUND,
        "multi_statement_begin_keeps_the_transaction_on_the_primary",
        || {
            let cluster = shared_sr_cluster();
            let d = Daemon::start_streaming(cluster, &lb_node1());
            let mut c = d.client(SUPERUSER, "postgres");
            assert_eq!(
                port_of(&mut c, cluster, "BEGIN;SELECT inet_server_port();"),
                0,
                "a multi-statement string goes to the primary"
            );
            assert_eq!(
                in_tx_on(&mut c, cluster, ""),
                (1, false),
                "SELECT 2 is still load-balanced, and the standby never got the BEGIN"
            );
            c.simple_query("SAVEPOINT a;")
                .expect("SAVEPOINT goes to the primary only (the standby has no transaction)");
            assert_eq!(
                in_tx_on(&mut c, cluster, ""),
                (0, true),
                "after the SAVEPOINT (a write for §6.1) reads follow the primary"
            );
            assert_eq!(
                in_tx_on(&mut c, cluster, "/*p*/ "),
                (0, true),
                "the transaction is open on the primary"
            );
            c.simple_query("COMMIT;").expect("COMMIT");
            assert_eq!(in_tx_on(&mut c, cluster, "/*p*/ "), (0, false));
            assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port();"), 1);
        },
    )
}

/// §12 row `PREPARE p AS SELECT 1; EXECUTE p;` → {1}, {1}: SQL-level PREPARE is routed like its
/// statement, and EXECUTE / DEALLOCATE follow it (§9.3). pgpool-II 4.3.5 differs: it applies the
/// first-character test to the PREPARE text ("PREPARE …" does not start like a SELECT), so the
/// PREPARE and the EXECUTE go to the primary; 4.6 exempts PREPARE … AS SELECT (§7.1).
#[test]
fn prepare_and_execute_follow_the_prepared_statement() {
    within(
        TEST_BOUND,
        "prepare_and_execute_follow_the_prepared_statement",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_prep");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = Daemon::start_streaming(cluster, &lb_node1());
            let mut c = d.client(SUPERUSER, "postgres");
            simple(&mut c, "PREPARE rt_prep_r AS SELECT inet_server_port();");
            assert_eq!(
                port_of(&mut c, cluster, "EXECUTE rt_prep_r;"),
                1,
                "EXECUTE inherits the PREPARE's destination (the load-balance node)"
            );
            simple(
                &mut c,
                &format!(
                    "PREPARE rt_prep_w AS INSERT INTO {t} VALUES (2) RETURNING inet_server_port();"
                ),
            );
            assert_eq!(
                port_of(&mut c, cluster, "EXECUTE rt_prep_w;"),
                0,
                "a prepared write"
            );
            simple(&mut c, "DEALLOCATE rt_prep_r");
            simple(&mut c, "DEALLOCATE rt_prep_w");
            assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port()"), 1);
        },
    )
}

/// Writes, and reads that must see the primary (§4.1, §7.1, §7.2, §9.5, §9.6).
#[test]
fn writes_and_primary_only_reads_go_to_the_primary() {
    within(
        TEST_BOUND,
        "writes_and_primary_only_reads_go_to_the_primary",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_wr");
            let (t2, t3, s, u) = (
                unique("rt_wr_ddl"),
                unique("rt_wr_into"),
                unique("rt_wr_seq"),
                unique("rt_wr_unlogged"),
            );
            let _cleanup = Cleanup::new(
                cluster,
                format!("DROP TABLE IF EXISTS {t}, {t2}, {t3}, {u}; DROP SEQUENCE IF EXISTS {s}"),
            );
            table_with_row(cluster, &t);
            cluster.psql(
                0,
                &format!("CREATE UNLOGGED TABLE {u} (i int); INSERT INTO {u} VALUES (1)"),
            );
            cluster.wait_replayed();
            let d = Daemon::start_streaming(
                cluster,
                &format!(
                    "{}primary_routing_query_pattern_list = '.*rt_marker.*;^SELECT 4711.*'\n",
                    lb_node1()
                ),
            );
            let mut c = d.client(SUPERUSER, "postgres");

            for sql in [
                format!("INSERT INTO {t} VALUES (2) RETURNING inet_server_port()"),
                format!("UPDATE {t} SET i = i WHERE i = 2 RETURNING inet_server_port()"),
                format!("DELETE FROM {t} WHERE i = 2 RETURNING inet_server_port()"),
                format!("SELECT inet_server_port() FROM {t} FOR UPDATE"),
                format!("SELECT inet_server_port() FROM {t} FOR SHARE"),
                format!("SELECT inet_server_port() FROM (SELECT * FROM {t} FOR UPDATE) s"),
                format!(
            "WITH w AS (INSERT INTO {t} VALUES (3) RETURNING i) SELECT inet_server_port() FROM w"
        ),
                "VALUES (inet_server_port())".to_string(),
                "SELECT inet_server_port() AS rt_marker".to_string(),
            ] {
                assert_eq!(port_of(&mut c, cluster, &sql), 0, "{sql}");
            }
            // the second pattern is anchored at the start of the text; the port is the second column
            assert_eq!(
                first_row(&mut c, "SELECT 4711, inet_server_port()")[1],
                cluster.port(0).to_string(),
                "primary_routing_query_pattern_list"
            );
            assert_eq!(
                first_row(&mut c, "SELECT 4712, inet_server_port()")[1],
                cluster.port(1).to_string(),
                "not matching the pattern"
            );
            // DDL and SELECT INTO (a standby would reject them)
            c.simple_query(&format!("CREATE TABLE {t2} (i int)"))
                .expect("CREATE TABLE");
            c.simple_query(&format!("DROP TABLE {t2}"))
                .expect("DROP TABLE");
            c.simple_query(&format!(
                "SELECT inet_server_port() AS p INTO {t3} FROM {t} LIMIT 1"
            ))
            .expect("SELECT INTO");
            assert_eq!(
                cluster.psql(0, &format!("SELECT p FROM {t3}")),
                cluster.port(0).to_string(),
                "SELECT INTO ran on the primary"
            );
            c.simple_query(&format!("CREATE SEQUENCE {s}"))
                .expect("CREATE SEQUENCE");
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port(), nextval('{s}')")
                ),
                0,
                "nextval is volatile"
            );
            // EXPLAIN ANALYZE runs the query: the row count of generate_series(1, port) tells where
            let plan = c
                .simple_query(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) \
             SELECT * FROM generate_series(1, inet_server_port())",
                )
                .expect("EXPLAIN ANALYZE");
            let text: String = plan
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                text.contains(&format!("actual rows={} ", cluster.port(0))),
                "EXPLAIN ANALYZE goes to the primary (§4.1 [DOC≠CODE]):\n{text}"
            );
            // temporary and unlogged tables
            c.simple_query("CREATE TEMP TABLE rt_wr_tmp AS SELECT 1 AS i")
                .expect("CREATE TEMP TABLE");
            assert_eq!(
                port_of(&mut c, cluster, "SELECT inet_server_port() FROM rt_wr_tmp"),
                0,
                "SELECT on a temporary table"
            );
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port() FROM {u}")
                ),
                0,
                "SELECT on an unlogged table"
            );
            // and after all of that, outside a transaction, reads are still balanced
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port() FROM {t}")
                ),
                1
            );
            assert_eq!(
                port_of(&mut c, cluster, "SELECT inet_server_port() AS other"),
                1,
                "text not matching primary_routing_query_pattern_list is balanced"
            );
        },
    )
}

/// allow_sql_comments = on: leading comments no longer prevent load balancing (§7.1).
#[test]
fn allow_sql_comments_load_balances_commented_selects() {
    within(
        TEST_BOUND,
        "allow_sql_comments_load_balances_commented_selects",
        || {
            let cluster = shared_sr_cluster();
            let d = Daemon::start_streaming(
                cluster,
                &format!("{}allow_sql_comments = on\n", lb_node1()),
            );
            let mut c = d.client(SUPERUSER, "postgres");
            assert_eq!(
                port_of(&mut c, cluster, "/*x*/ SELECT inet_server_port()"),
                1
            );
            assert_eq!(
                port_of(&mut c, cluster, "-- a comment\nSELECT inet_server_port()"),
                1
            );
            // no special handling of /*NO LOAD BALANCE*/ (removed in 4.3; 4.3.5 balances it too)
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    "/*NO LOAD BALANCE*/ SELECT inet_server_port()"
                ),
                1,
                "4.6: /*NO LOAD BALANCE*/ is an ordinary comment"
            );
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    "/*x*/ SELECT inet_server_port() FOR UPDATE"
                ),
                0
            );
        },
    )
}

/// write_function_list alone: only listed functions are writes, the catalog is not consulted.
#[test]
fn write_function_list_decides_writing_functions() {
    within(
        TEST_BOUND,
        "write_function_list_decides_writing_functions",
        || {
            let cluster = shared_sr_cluster();
            let (wf, vf) = (unique("rt_wfl_w"), unique("rt_wfl_v"));
            let _cleanup = Cleanup::new(
                cluster,
                format!("DROP FUNCTION IF EXISTS {wf}(int); DROP FUNCTION IF EXISTS {vf}(int)"),
            );
            cluster.psql(
                0,
                &format!(
                    "CREATE FUNCTION {wf}(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1'; \
             CREATE FUNCTION {vf}(int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT $1'"
                ),
            );
            cluster.wait_replayed();
            let d = Daemon::start_streaming(
                cluster,
                &format!("{}write_function_list = '{wf}'\n", lb_node1()),
            );
            let mut c = d.client(SUPERUSER, "postgres");
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port(), {wf}(1)")
                ),
                0,
                "a listed (even immutable) function is a write"
            );
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port(), {vf}(1)")
                ),
                1,
                "an unlisted volatile function is not (the catalog is not consulted)"
            );
        },
    )
}

/// read_only_function_list: every function not listed is a write, and it overrides
/// write_function_list (§7.3).
#[test]
fn read_only_function_list_overrides_everything_else() {
    within(
        TEST_BOUND,
        "read_only_function_list_overrides_everything_else",
        || {
            let cluster = shared_sr_cluster();
            let (rf, other) = (unique("rt_rofl_r"), unique("rt_rofl_o"));
            let _cleanup = Cleanup::new(
                cluster,
                format!("DROP FUNCTION IF EXISTS {rf}(int); DROP FUNCTION IF EXISTS {other}(int)"),
            );
            cluster.psql(
                0,
                &format!(
                    "CREATE FUNCTION {rf}(int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT $1'; \
             CREATE FUNCTION {other}(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1'"
                ),
            );
            cluster.wait_replayed();
            let d = Daemon::start_streaming(
                cluster,
                &format!(
            "{}read_only_function_list = '{rf},inet_server_port'\nwrite_function_list = '{rf}'\n",
            lb_node1()
        ),
            );
            let mut c = d.client(SUPERUSER, "postgres");
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port(), {rf}(1)")
                ),
                1,
                "a listed (volatile) function is read-only, whatever write_function_list says"
            );
            assert_eq!(
                port_of(
                    &mut c,
                    cluster,
                    &format!("SELECT inet_server_port(), {other}(1)")
                ),
                0,
                "an unlisted (immutable) function is a write"
            );
            assert_eq!(
                port_of(&mut c, cluster, "SELECT inet_server_port(), now()"),
                0,
                "now() is not listed"
            );
            assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port()"), 1);
        },
    )
}

/// A daemon with weights 0:1:0 and `disable_load_balance_on_write = mode`, a table with a row.
fn dlbow_setup(cluster: &'static Cluster, mode: &str, extra: &str) -> (Daemon, Client) {
    let d = Daemon::start_streaming(
        cluster,
        &format!(
            "{}disable_load_balance_on_write = '{mode}'\n{extra}",
            lb_node1()
        ),
    );
    let c = d.client(SUPERUSER, "postgres");
    (d, c)
}

fn read_at(c: &mut Client, cluster: &Cluster, t: &str) -> usize {
    port_of(c, cluster, &format!("SELECT inet_server_port() FROM {t}"))
}

fn simple(c: &mut Client, sql: &str) {
    c.simple_query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[test]
fn disable_load_balance_on_write_off_keeps_balancing_after_writes() {
    within(
        TEST_BOUND,
        "disable_load_balance_on_write_off_keeps_balancing_after_writes",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_dlw_off");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let (_d, mut c) = dlbow_setup(cluster, "off", "");
            simple(&mut c, "BEGIN");
            simple(&mut c, &format!("INSERT INTO {t} VALUES (2)"));
            assert_eq!(
                read_at(&mut c, cluster, &t),
                1,
                "off: reads balanced after a write"
            );
            simple(&mut c, "COMMIT");
            assert_eq!(read_at(&mut c, cluster, &t), 1);
        },
    )
}

#[test]
fn disable_load_balance_on_write_transaction_is_per_transaction() {
    within(
        TEST_BOUND,
        "disable_load_balance_on_write_transaction_is_per_transaction",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_dlw_tx");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let (_d, mut c) = dlbow_setup(cluster, "transaction", "");
            simple(&mut c, "BEGIN");
            assert_eq!(read_at(&mut c, cluster, &t), 1, "before the write");
            simple(&mut c, &format!("INSERT INTO {t} VALUES (2)"));
            assert_eq!(
                read_at(&mut c, cluster, &t),
                0,
                "after the write, same transaction"
            );
            simple(&mut c, "COMMIT");
            assert_eq!(read_at(&mut c, cluster, &t), 1, "after COMMIT");
            simple(&mut c, "BEGIN");
            assert_eq!(read_at(&mut c, cluster, &t), 1, "in the next transaction");
            simple(&mut c, "ROLLBACK");
            // a write outside a transaction does not matter in this mode
            simple(&mut c, &format!("INSERT INTO {t} VALUES (3)"));
            assert_eq!(read_at(&mut c, cluster, &t), 1, "after an autocommit write");
        },
    )
}

#[test]
fn disable_load_balance_on_write_trans_transaction_spans_transactions() {
    within(
        TEST_BOUND,
        "disable_load_balance_on_write_trans_transaction_spans_transactions",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_dlw_tt");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let (_d, mut c) = dlbow_setup(cluster, "trans_transaction", "");
            simple(&mut c, "BEGIN");
            assert_eq!(read_at(&mut c, cluster, &t), 1, "before any write");
            simple(&mut c, &format!("INSERT INTO {t} VALUES (2)"));
            assert_eq!(read_at(&mut c, cluster, &t), 0, "after the write");
            simple(&mut c, "COMMIT");
            assert_eq!(
                read_at(&mut c, cluster, &t),
                1,
                "outside explicit transactions reads are still balanced"
            );
            simple(&mut c, "BEGIN");
            assert_eq!(
                read_at(&mut c, cluster, &t),
                0,
                "inside a later explicit transaction: primary"
            );
            simple(&mut c, "COMMIT");
        },
    )
}

#[test]
fn disable_load_balance_on_write_always_sticks_to_the_primary() {
    within(
        TEST_BOUND,
        "disable_load_balance_on_write_always_sticks_to_the_primary",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_dlw_al");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let (_d, mut c) = dlbow_setup(cluster, "always", "");
            assert_eq!(read_at(&mut c, cluster, &t), 1, "before any write");
            simple(&mut c, &format!("INSERT INTO {t} VALUES (2)"));
            assert_eq!(
                read_at(&mut c, cluster, &t),
                0,
                "after an autocommit write: primary"
            );
            simple(&mut c, "BEGIN");
            assert_eq!(read_at(&mut c, cluster, &t), 0);
            simple(&mut c, "COMMIT");
            assert_eq!(
                read_at(&mut c, cluster, &t),
                0,
                "for the rest of the session"
            );
        },
    )
}

#[test]
fn disable_load_balance_on_write_dml_adaptive_tracks_written_tables() {
    within(
        TEST_BOUND,
        "disable_load_balance_on_write_dml_adaptive_tracks_written_tables",
        || {
            let cluster = shared_sr_cluster();
            let (a, b, other) = (unique("rt_dml_a"), unique("rt_dml_b"), unique("rt_dml_c"));
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {a}, {b}, {other}"));
            for t in [&a, &b, &other] {
                table_with_row(cluster, t);
            }
            let (_d, mut c) = dlbow_setup(
                cluster,
                "dml_adaptive",
                &format!("dml_adaptive_object_relationship_list = '{a}:{b}'\n"),
            );
            simple(&mut c, "BEGIN");
            assert_eq!(read_at(&mut c, cluster, &a), 1, "before the write");
            simple(&mut c, &format!("INSERT INTO {a} VALUES (2)"));
            assert_eq!(read_at(&mut c, cluster, &a), 0, "the written table");
            assert_eq!(
                read_at(&mut c, cluster, &b),
                0,
                "its dependent (dml_adaptive_object_relationship_list)"
            );
            assert_eq!(read_at(&mut c, cluster, &other), 1, "an unrelated table");
            simple(&mut c, "COMMIT");
            simple(&mut c, "BEGIN");
            assert_eq!(
                read_at(&mut c, cluster, &a),
                1,
                "the list ends with the transaction"
            );
            simple(&mut c, "COMMIT");
        },
    )
}

/// The node of `SELECT inet_server_port()` in a new session with `app` as application_name.
fn session_node(d: &Daemon, cluster: &Cluster, user: &str, db: &str, app: &str) -> usize {
    let mut c = d.client_with_app(user, db, app);
    port_of(&mut c, cluster, "SELECT inet_server_port()")
}

/// database_redirect_preference_list and app_name_redirect_preference_list (§5.2): node numbers,
/// `primary`, `standby`, weights 0.0, and the priority application name > database.
#[test]
fn database_and_app_name_redirect_lists_pick_the_node() {
    within(
        TEST_BOUND,
        "database_and_app_name_redirect_lists_pick_the_node",
        || {
            let cluster = shared_sr_cluster();
            let (db, _cleanup) = scratch_database(cluster, "rt_redir_db");
            let d = Daemon::start_streaming(
        cluster,
        &format!(
            "{}database_redirect_preference_list = '{db}:2'\n\
             app_name_redirect_preference_list = \
             'rt_app_p:primary,rt_app_s:standby,rt_app_2:2,rt_app_s0:standby(0.0),rt_app_x.*:primary'\n",
            lb_node1()
        ),
    );
            let u = SUPERUSER;
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "other"),
                1,
                "no entry matches"
            );
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "rt_app_p"),
                0,
                "primary"
            );
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "rt_app_s"),
                1,
                "standby: the only standby with weight"
            );
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "rt_app_2"),
                2,
                "a node number, even with weight 0"
            );
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "rt_app_s0"),
                0,
                "standby(0.0) always means the primary"
            );
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "RT_APP_XYZ"),
                0,
                "a regex, case-insensitive"
            );
            assert_eq!(
                session_node(&d, cluster, u, "postgres", "rt_app_2x"),
                1,
                "anchored: rt_app_2 does not match rt_app_2x"
            );
            assert_eq!(
                session_node(&d, cluster, u, &db, "other"),
                2,
                "the database's node"
            );
            assert_eq!(
                session_node(&d, cluster, u, &db, "rt_app_p"),
                0,
                "the application name wins over the database"
            );
        },
    )
}

/// user_redirect_preference_list (new in pgpool-II 4.4: 4.3.5 does not know it) and its
/// priority below the database list.
#[test]
fn user_redirect_list_picks_the_node_below_the_database_list() {
    within(
        TEST_BOUND,
        "user_redirect_list_picks_the_node_below_the_database_list",
        || {
            let cluster = shared_sr_cluster();
            let db = unique("rt_uredir_db");
            let role = unique("rt_uredir_role");
            let _cleanup = Cleanup::new(
                cluster,
                format!("DROP DATABASE IF EXISTS {db} WITH (FORCE); DROP ROLE IF EXISTS {role}"),
            );
            cluster.create_role(&role, "unused", AuthMethod::Trust);
            cluster.psql(0, &format!("CREATE DATABASE {db}"));
            cluster.wait_replayed();
            let d = Daemon::start_streaming(
                cluster,
                &format!(
                    "{}user_redirect_preference_list = '{role}:2'\n\
             database_redirect_preference_list = '{db}:primary'\n",
                    lb_node1()
                ),
            );
            assert_eq!(session_node(&d, cluster, SUPERUSER, "postgres", "x"), 1);
            assert_eq!(
                session_node(&d, cluster, &role, "postgres", "x"),
                2,
                "the user's node"
            );
            assert_eq!(
                session_node(&d, cluster, &role, &db, "x"),
                0,
                "the database wins over the user"
            );
        },
    )
}

/// Backend weights 1:2:1 over 200 new sessions: each node's share within 5 binomial standard
/// deviations of its weight, and select_cnt counts exactly the SELECTs each node served.
#[test]
fn backend_weights_distribute_sessions() {
    within(TEST_BOUND, "backend_weights_distribute_sessions", || {
        const SESSIONS: usize = 200;
        let cluster = shared_sr_cluster();
        let w = [1u32, 2, 1];
        let d = Daemon::start_streaming(cluster, &weights(&w));
        let before = d.select_counts();
        let mut hits = [0usize; 3];
        for _ in 0..SESSIONS {
            let mut c = d.client(SUPERUSER, "postgres");
            hits[port_of(&mut c, cluster, "SELECT inet_server_port()")] += 1;
        }
        let total: u32 = w.iter().sum();
        for node in 0..3 {
            let p = f64::from(w[node]) / f64::from(total);
            let mean = SESSIONS as f64 * p;
            let sigma = (SESSIONS as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (hits[node] as f64 - mean).abs() <= 5.0 * sigma,
                "node {node}: {} of {SESSIONS} sessions, expected {mean} ± {} (hits {hits:?})",
                hits[node],
                5.0 * sigma
            );
        }
        let after = d.select_counts();
        let delta: Vec<u64> = (0..3).map(|n| after[n] - before[n]).collect();
        assert_eq!(
            delta,
            hits.iter().map(|&h| h as u64).collect::<Vec<_>>(),
            "select_cnt counts the SELECTs each node served"
        );
    })
}

/// statement_level_load_balance: the load-balance node is chosen per statement, and class-BOTH
/// statements (SET, BEGIN, COMMIT) go to every node (§4.2, §5.1).
#[test]
fn statement_level_load_balance_chooses_per_statement() {
    within(
        TEST_BOUND,
        "statement_level_load_balance_chooses_per_statement",
        || {
            let cluster = shared_sr_cluster();
            let d = Daemon::start_streaming(
                cluster,
                &format!("{}statement_level_load_balance = on\n", weights(&[0, 1, 1])),
            );
            let mut c = d.client(SUPERUSER, "postgres");
            simple(&mut c, "SET rt_sl.tag = 'v'");
            let mut seen = [0usize; 3];
            for _ in 0..60 {
                let row = first_row(
                    &mut c,
                    "SELECT inet_server_port(), current_setting('rt_sl.tag')",
                );
                let node = node_with_port(cluster, row[0].parse().expect("port"));
                assert_eq!(row[1], "v", "the SET reached node {node}");
                seen[node] += 1;
            }
            assert_eq!(seen[0], 0, "weight 0: never the primary ({seen:?})");
            assert!(
                seen[1] > 0 && seen[2] > 0,
                "one session's SELECTs went to both standbys ({seen:?})"
            );
            simple(&mut c, "BEGIN");
            let mut in_tx = [false; 3];
            for _ in 0..30 {
                let (node, tx) = in_tx_on(&mut c, cluster, "");
                assert!(tx, "node {node} got the BEGIN");
                in_tx[node] = true;
            }
            simple(&mut c, "COMMIT");
            assert!(
                in_tx[1] && in_tx[2],
                "reads in the transaction used both standbys"
            );
            for _ in 0..10 {
                let (node, tx) = in_tx_on(&mut c, cluster, "");
                assert!(!tx, "node {node} got the COMMIT");
            }
        },
    )
}

/// Resumes WAL replay on a standby when dropped.
struct ResumeReplay<'a>(&'a Cluster, usize);

impl Drop for ResumeReplay<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.try_psql(self.1, "SELECT pg_wal_replay_resume()") {
            eprintln!("resuming replay on node{}: {e}", self.1);
        }
    }
}

fn delay_of(rows: &[HashMap<String, String>], node: usize) -> f64 {
    rows[node]["replication_delay"].parse().unwrap_or(0.0)
}

/// Replication delay (§8): with replay paused on node 1 and its delay over `delay_threshold`,
/// reads leave node 1 — to the primary, or with prefer_lower_delay_standby to node 2 — and come
/// back once it has caught up. Its own cluster: pausing replay would stall the shared one.
#[test]
fn replication_delay_moves_reads_off_a_lagging_standby() {
    within(
        TEST_BOUND,
        "replication_delay_moves_reads_off_a_lagging_standby",
        || {
            let cluster = Cluster::start(ClusterSpec {
                standbys: 2,
                ..ClusterSpec::default()
            });
            let delay_conf = "sr_check_period = 1\ndelay_threshold = 10000\n";
            let d_primary =
                Daemon::start_streaming(&cluster, &format!("{}{delay_conf}", weights(&[0, 1, 0])));
            let d_prefer = Daemon::start_streaming(
                &cluster,
                &format!(
                    "{}{delay_conf}prefer_lower_delay_standby = on\n",
                    weights(&[0, 1, 1])
                ),
            );
            for d in [&d_primary, &d_prefer] {
                wait_pool_nodes(
                    d,
                    Duration::from_secs(30),
                    "no delay on the standbys",
                    |r| r.len() == 3 && delay_of(r, 1) == 0.0 && delay_of(r, 2) == 0.0,
                );
            }
            let mut early = d_primary.client(SUPERUSER, "postgres");
            assert_eq!(
                port_of(&mut early, &cluster, "SELECT inet_server_port()"),
                1
            );

            cluster.psql(1, "SELECT pg_wal_replay_pause()");
            let resume = ResumeReplay(&cluster, 1);
            cluster.psql(
                0,
                "CREATE TABLE rt_delay AS SELECT g AS i, repeat('x', 100) AS pad \
         FROM generate_series(1, 20000) g",
            );
            for d in [&d_primary, &d_prefer] {
                wait_pool_nodes(
                    d,
                    Duration::from_secs(30),
                    "node 1's delay over the threshold",
                    |r| delay_of(r, 1) > 10000.0,
                );
            }
            assert_eq!(
                port_of(&mut early, &cluster, "SELECT inet_server_port()"),
                0,
                "an existing session's read goes to the primary while its load-balance node lags"
            );
            for _ in 0..5 {
                assert_eq!(
                    session_node(&d_primary, &cluster, SUPERUSER, "postgres", "x"),
                    0
                );
            }
            for _ in 0..10 {
                assert_eq!(
                    session_node(&d_prefer, &cluster, SUPERUSER, "postgres", "x"),
                    2,
                    "prefer_lower_delay_standby: the least delayed standby"
                );
            }

            drop(resume);
            for d in [&d_primary, &d_prefer] {
                wait_pool_nodes(d, Duration::from_secs(30), "node 1 caught up", |r| {
                    delay_of(r, 1) == 0.0
                });
            }
            assert_eq!(
                port_of(&mut early, &cluster, "SELECT inet_server_port()"),
                1
            );
            assert_eq!(
                session_node(&d_primary, &cluster, SUPERUSER, "postgres", "x"),
                1
            );
            let nodes: Vec<usize> = (0..30)
                .map(|_| session_node(&d_prefer, &cluster, SUPERUSER, "postgres", "x"))
                .collect();
            assert!(
                nodes.contains(&1) && !nodes.contains(&0),
                "node 1 is chosen again by weight: {nodes:?}"
            );
        },
    )
}

/// A standby that is down when sessions start (no health check; architecture.md §3.3,
/// failover.md §3 rows 4 and "Rows 4–6"): with failover_on_backend_error = off each session goes
/// on without it (marked down in that session only) and reads go to the primary; with it on the
/// first session that cannot connect fails and requests failover, the node is detached, and
/// later sessions work without it.
#[test]
fn stopped_standby_is_skipped_or_detached() {
    within(TEST_BOUND, "stopped_standby_is_skipped_or_detached", || {
        let cluster = Cluster::start(ClusterSpec {
            standbys: 1,
            ..ClusterSpec::default()
        });
        let conf = format!("{}connection_cache = off\n", weights(&[0, 1]));
        let d_off = Daemon::start_streaming(
            &cluster,
            &format!("{conf}failover_on_backend_error = off\n"),
        );
        let d_on =
            Daemon::start_streaming(&cluster, &format!("{conf}failover_on_backend_error = on\n"));
        for d in [&d_off, &d_on] {
            assert_eq!(session_node(d, &cluster, SUPERUSER, "postgres", "x"), 1);
        }
        cluster.stop_node(1, StopMode::Fast);

        for _ in 0..3 {
            assert_eq!(
                session_node(&d_off, &cluster, SUPERUSER, "postgres", "x"),
                0,
                "failover_on_backend_error = off: the session goes on with the primary"
            );
        }
        let rows = d_off.pool_nodes();
        assert_eq!(
            rows[1]["status"], "up",
            "off: node 1 is only down in the sessions' own view"
        );
        // each session that leaves the standby out says so, as pgpool does
        crate::support::wait_until(Duration::from_secs(10), "the LOG line", || {
            let log = d_off.log();
            let lines: Vec<&str> = log.lines().collect();
            lines.windows(2).any(|w| {
                w[0].ends_with("LOG:  failed to create a backend 1 connection")
                    && w[1].ends_with("DETAIL:  skip this backend because because failover_on_backend_error is off and we are in streaming replication mode and node is standby node")
            })
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", crate::support::tail(&d_off.log(), 30)));

        let first = d_on.try_client(SUPERUSER, None, "postgres");
        assert!(
            first.is_err(),
            "failover_on_backend_error = on: the session that cannot reach node 1 fails"
        );
        // logged as pgpool logs it: FATAL with the failover DETAIL (4.3.5 names no node)
        crate::support::wait_until(Duration::from_secs(10), "the FATAL line", || {
            let log = d_on.log();
            let lines: Vec<&str> = log.lines().collect();
            lines.windows(2).any(|w| {
                w[0].contains("FATAL:  failed to create a backend")
                    && w[1].ends_with("DETAIL:  executing failover on backend")
            })
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", crate::support::tail(&d_on.log(), 30)));
        wait_pool_nodes(&d_on, Duration::from_secs(30), "node 1 detached", |r| {
            r.len() == 2 && r[1]["status"] == "down"
        });
        let mut c = None;
        crate::support::wait_until(
            Duration::from_secs(30),
            "a session after the failover",
            || {
                c = d_on.try_client(SUPERUSER, None, "postgres").ok();
                c.is_some()
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", crate::support::tail(&d_on.log(), 30)));
        let mut c = c.expect("connected");
        assert_eq!(port_of(&mut c, &cluster, "SELECT inet_server_port()"), 0);
        assert_eq!(session_node(&d_on, &cluster, SUPERUSER, "postgres", "x"), 0);
    })
}

/// A standby that is neither the primary nor the session's load-balance node shuts down while
/// a session is open (routing.md §11.3): the session goes on with the others, as pgpool marks
/// the node down in the child's own view. After a fast shutdown (FATAL 57P01) pgpool does the
/// same; after an immediate one (a WARNING notice with 57P01) pgpool-II 4.3.5 waits forever on
/// the session's next statement, we go on as well.
#[test]
fn standby_shut_down_outside_the_session_is_left_out_of_it() {
    within(
        TEST_BOUND,
        "standby_shut_down_outside_the_session_is_left_out_of_it",
        || {
            let cluster = Cluster::start(ClusterSpec {
                standbys: 2,
                ..ClusterSpec::default()
            });
            let d = Daemon::start_streaming(&cluster, &lb_node1());
            for mode in [StopMode::Fast, StopMode::Immediate] {
                let mut c = d.client(SUPERUSER, "postgres");
                assert_eq!(port_of(&mut c, &cluster, "SELECT inet_server_port()"), 1);
                c.batch_execute("BEGIN").expect("BEGIN");
                cluster.stop_node(2, mode);
                std::thread::sleep(Duration::from_millis(300));
                let ctx = format!("after a {mode:?} shutdown of node 2");
                assert_eq!(
                    port_of(&mut c, &cluster, "SELECT inet_server_port()"),
                    1,
                    "{ctx}\n{}",
                    crate::support::tail(&d.log(), 30)
                );
                c.batch_execute(
                    "CREATE TEMP TABLE left_out(i int); INSERT INTO left_out VALUES (1)",
                )
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                c.batch_execute("COMMIT")
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(
                    port_of(&mut c, &cluster, "SELECT inet_server_port()"),
                    1,
                    "{ctx}"
                );
                drop(c);
                let log = d.log();
                assert!(
                    log.contains(
                        "DETAIL:  postmaster on DB node 2 was shutdown by administrative command"
                    ),
                    "{ctx}\n{}",
                    crate::support::tail(&log, 30)
                );
                cluster.start_node(2);
            }
        },
    )
}

/// pg_terminate_backend() through pgpool (routing.md §3.1 step 8, failover.md §3 row 7): the
/// statement goes to the node of the backend it names, the session that loses that backend
/// gets pgpool's FATAL, and the node is not failed over even with
/// `failover_on_backend_shutdown = on`.
#[test]
fn pg_terminate_backend_through_pgpool_ends_the_session_without_failover() {
    within(
        TEST_BOUND,
        "pg_terminate_backend_through_pgpool_ends_the_session_without_failover",
        || {
            let cluster = shared_sr_cluster();
            let d = Daemon::start_streaming(
                cluster,
                &format!("{}failover_on_backend_shutdown = on\n", lb_node1()),
            );
            let mut victim = d.client(SUPERUSER, "postgres");
            let row = first_row(&mut victim, "SELECT pg_backend_pid(), inet_server_port()");
            assert_eq!(node_with_port(cluster, row[1].parse().expect("port")), 1);
            let pid: i32 = row[0].parse().expect("pid");
            let mut killer = d.client(SUPERUSER, "postgres");
            let out = first_row(&mut killer, &format!("SELECT pg_terminate_backend({pid})"));
            assert_eq!(out[0], "t", "the backend on node 1 was terminated");
            std::thread::sleep(Duration::from_millis(300));
            let err = victim
                .simple_query("SELECT 1")
                .expect_err("the terminated session ends");
            let db = err.as_db_error().map(|e| e.message().to_string());
            assert_eq!(
                db.as_deref(),
                Some("connection to postmaster on DB node 1 was lost due to pg_terminate_backend"),
                "{err:?}\n{}",
                crate::support::tail(&d.log(), 20)
            );
            std::thread::sleep(Duration::from_millis(500));
            let nodes = d.pool_nodes();
            assert_eq!(nodes[1]["status"], "up", "no failover of node 1: {nodes:?}");
            let mut c = d.client(SUPERUSER, "postgres");
            assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port()"), 1);
        },
    )
}

/// `log_client_messages` (config.md): each frontend message is logged as pgpool-II 4.3.5
/// logs it (checked side by side with pgproto), a run of CopyData once with its count, in the
/// raw engine and the streaming engine.
#[test]
fn log_client_messages_logs_each_frontend_message_as_pgpool() {
    use crate::support::wire::Wire;
    within(
        TEST_BOUND,
        "log_client_messages_logs_each_frontend_message_as_pgpool",
        || {
            let cluster = shared_sr_cluster();
            let on = "log_client_messages = on\n";
            let raw = Daemon::start(cluster, on);
            let streaming = Daemon::start_streaming(cluster, &format!("{}{on}", lb_node1()));
            for d in [&raw, &streaming] {
                let mut w = Wire::start(d.port(), SUPERUSER, "postgres");
                w.until_ready();
                w.query("CREATE TEMP TABLE lcm(a text)");
                w.send(b'P', b"S1\0SELECT 1\0\0\0");
                w.send(b'B', b"p1\0S1\0\0\0\0\0\0\0");
                w.send(b'D', b"SS1\0");
                w.send(b'D', b"Pp1\0");
                w.send(b'E', b"p1\0\0\0\0\0");
                w.send(b'H', b"");
                w.send(b'C', b"Pp1\0");
                w.send(b'C', b"SS1\0");
                w.send(b'S', b"");
                w.until_ready();
                w.send_query("COPY lcm FROM STDIN");
                for row in [&b"a\n"[..], b"b\n", b"c\n"] {
                    w.send(b'd', row);
                }
                w.send(b'c', b"");
                w.until_ready();
                w.terminate();
                let expected = [
                    "LOG:  Query message from frontend.",
                    "DETAIL:  query: \"CREATE TEMP TABLE lcm(a text)\"",
                    "LOG:  Parse message from frontend.",
                    "DETAIL:  statement: \"S1\", query: \"SELECT 1\"",
                    "LOG:  Bind message from frontend.",
                    "DETAIL:  portal: \"p1\", statement: \"S1\"",
                    "LOG:  Describe message from frontend.",
                    "DETAIL:  statement: \"S1\"",
                    "LOG:  Describe message from frontend.",
                    "DETAIL:  portal: \"p1\"",
                    "LOG:  Execute message from frontend.",
                    "DETAIL:  portal: \"p1\"",
                    "LOG:  Flush message from frontend.",
                    "LOG:  Close message from frontend.",
                    "DETAIL:  portal: \"p1\"",
                    "LOG:  Close message from frontend.",
                    "DETAIL:  statement: \"S1\"",
                    "LOG:  Sync message from frontend.",
                    "LOG:  Query message from frontend.",
                    "DETAIL:  query: \"COPY lcm FROM STDIN\"",
                    "LOG:  CopyData message from frontend.",
                    "DETAIL:  count: 3",
                    "LOG:  CopyDone message from frontend.",
                    "LOG:  Terminate message from frontend.",
                ];
                let mut got = Vec::new();
                crate::support::wait_until(Duration::from_secs(10), "the Terminate line", || {
                    got = d
                        .log()
                        .lines()
                        .filter(|l| {
                            l.contains(" message from frontend.") || l.contains("DETAIL:  ")
                        })
                        .filter_map(|l| {
                            l.find("LOG:  ")
                                .or(l.find("DETAIL:  "))
                                .map(|i| l[i..].to_string())
                        })
                        .collect();
                    got.last().is_some_and(|l| l.starts_with("LOG:  Terminate"))
                })
                .unwrap_or_else(|e| panic!("{e}: {got:#?}"));
                let tail = &got[got.len().saturating_sub(expected.len())..];
                assert_eq!(tail, expected, "{got:#?}");
            }
        },
    )
}

/// What a message list looks like as pgproto prints it: a notice as `N <its message>`, any
/// other message as its type letter.
fn shown(msgs: &[crate::support::wire::Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| match m.tag {
            b'N' => format!("N {}", m.fields().get(&'M').cloned().unwrap_or_default()),
            t => (t as char).to_string(),
        })
        .collect()
}

/// `log_backend_messages` (4.6, config.md) as pgpool-II's regression test 039 runs it:
/// `client_min_messages = log` puts the lines on the client's screen too, just before the
/// message each one names; `terse` folds a run of one kind into `last … repeated N times`.
/// Streaming mode with every read on node 1, and raw mode.
#[test]
fn log_backend_messages_logs_each_backend_message_as_pgpool() {
    use crate::support::wire::Wire;
    within(
        TEST_BOUND,
        "log_backend_messages_logs_each_backend_message_as_pgpool",
        || {
            let cluster = shared_sr_cluster();
            let table = unique("lbm_t");
            cluster.psql(
                0,
                &format!("CREATE TABLE {table} (i int); INSERT INTO {table} SELECT generate_series(1, 3)"),
            );
            cluster.wait_replayed();
            let _drop = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {table}"));
            let common = "client_min_messages = log\nconnection_cache = off\n";
            for (mode, raw) in [("terse", false), ("verbose", false), ("terse", true)] {
                let conf = format!("{common}log_backend_messages = {mode}\n");
                let d = if raw {
                    Daemon::start(cluster, &conf)
                } else {
                    Daemon::start_streaming(cluster, &format!("{}{conf}", lb_node1()))
                };
                let node = if raw { 0 } else { 1 };
                let mut w = Wire::start(d.port(), SUPERUSER, "postgres");
                let mut start: Vec<String> = shown(&w.until_ready())
                    .into_iter()
                    .filter(|m| m.starts_with("N "))
                    .collect();
                start.sort();
                let nodes: &[usize] = if raw { &[0] } else { &[0, 1, 2] };
                let each_ready: Vec<String> = nodes
                    .iter()
                    .map(|n| format!("N ReadyForQuery message from backend {n}"))
                    .collect();
                assert_eq!(
                    start, each_ready,
                    "{mode}, raw {raw}: each new connection's ReadyForQuery"
                );
                // pgproto.data of test 039: an unnamed Parse, Bind, Execute, Sync
                w.send(
                    b'P',
                    format!("\0SELECT * FROM {table} ORDER BY i\0\0\0").as_bytes(),
                );
                w.send(b'B', b"\0\0\0\0\0\0\0\0");
                w.send(b'E', b"\0\0\0\0\0");
                w.send(b'S', b"");
                let got = shown(&w.until_ready());
                let says = |what: &str| format!("N {what} message from backend {node}");
                let mut expected = vec![
                    says("ParseComplete"),
                    "1".into(),
                    says("BindComplete"),
                    "2".into(),
                ];
                if mode == "terse" {
                    expected.extend([says("DataRow"), "D".into(), "D".into(), "D".into()]);
                    expected.push(format!(
                        "N last DataRow message from backend {node} repeated 2 times"
                    ));
                } else {
                    for _ in 0..3 {
                        expected.extend([says("DataRow"), "D".into()]);
                    }
                }
                expected.extend([
                    says("CommandComplete"),
                    "C".into(),
                    says("ReadyForQuery"),
                    "Z".into(),
                ]);
                assert_eq!(got, expected, "{mode}, raw {raw}");
                w.terminate();
                // (the client sent no application_name: `%a` is `[unknown]`, as in pgpool)
                let line = if mode == "terse" {
                    format!("LOG:  last DataRow message from backend {node} repeated 2 times")
                } else {
                    format!("LOG:  CommandComplete message from backend {node}")
                };
                crate::support::wait_until(Duration::from_secs(10), "the line in the log", || {
                    d.log()
                        .lines()
                        .any(|l| l.ends_with(&line) && l.contains(": [unknown] pid "))
                })
                .unwrap_or_else(|e| panic!("{e}: {}", crate::support::tail(&d.log(), 30)));
            }
        },
    )
}

/// `client_min_messages`: pgpool's own messages of that severity or more (here the
/// `log_per_node_statement` lines) reach the client as notices before the reply, as pgpool-II
/// 4.3.5 sends them (seen side by side); not at the default `notice`, and no more after
/// `PGPOOL SET client_min_messages = notice`. Raw and streaming mode.
#[test]
fn client_min_messages_sends_pgpool_messages_to_the_client() {
    use crate::support::wire::Wire;
    within(
        TEST_BOUND,
        "client_min_messages_sends_pgpool_messages_to_the_client",
        || {
            let cluster = shared_sr_cluster();
            let per_node = "log_per_node_statement = on\n";
            let to_client = format!("{per_node}client_min_messages = log\n");
            let raw = Daemon::start(cluster, &to_client);
            let streaming = Daemon::start_streaming(cluster, &format!("{}{to_client}", lb_node1()));
            let quiet = Daemon::start(cluster, per_node);
            for (d, node, sent) in [(&raw, 0, true), (&streaming, 1, true), (&quiet, 0, false)] {
                let mut w = Wire::start(d.port(), SUPERUSER, "postgres");
                w.until_ready();
                let reply = w.query("SELECT 42");
                let got = shown(&reply);
                if sent {
                    let pid = reply[0].fields();
                    assert_eq!(pid.get(&'S').map(String::as_str), Some("LOG"), "{got:?}");
                    assert_eq!(pid.get(&'C').map(String::as_str), Some("XX000"), "{got:?}");
                    let first = &got[0];
                    assert!(
                        first.starts_with(&format!("N DB node id: {node} backend pid: "))
                            && first.ends_with(" statement: SELECT 42"),
                        "{got:?}"
                    );
                    assert_eq!(
                        &got[1..],
                        ["T", "D", "C", "Z"],
                        "the reply after the notice"
                    );
                    w.query("PGPOOL SET client_min_messages = notice");
                } else {
                    assert_eq!(got, ["T", "D", "C", "Z"], "no notice at the default level");
                }
                assert_eq!(
                    shown(&w.query("SELECT 43")),
                    ["T", "D", "C", "Z"],
                    "no notice"
                );
                w.terminate();
            }
        },
    )
}

/// The relation cache (routing.md §7.4): a table found to be a logged one stays so for the
/// process until `relcache_expire` seconds pass (0, the default: for ever); after that the
/// catalog is asked again, and an unlogged table's reads go to the primary.
#[test]
fn relcache_expire_bounds_how_long_a_catalog_answer_is_trusted() {
    within(
        TEST_BOUND,
        "relcache_expire_bounds_how_long_a_catalog_answer_is_trusted",
        || {
            let cluster = shared_sr_cluster();
            let table = unique("relcache_t");
            cluster.psql(0, &format!("CREATE TABLE {table} (i int)"));
            cluster.wait_replayed();
            let _drop = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {table}"));
            let forever = Daemon::start_streaming(cluster, &lb_node1());
            let expiring =
                Daemon::start_streaming(cluster, &format!("{}relcache_expire = 1\n", lb_node1()));
            let sql =
                format!("SELECT inet_server_port() FROM (SELECT 1) x LEFT JOIN {table} ON true");
            let mut a = forever.client(SUPERUSER, "postgres");
            let mut b = expiring.client(SUPERUSER, "postgres");
            assert_eq!(port_of(&mut a, cluster, &sql), 1);
            assert_eq!(port_of(&mut b, cluster, &sql), 1);
            cluster.psql(0, &format!("ALTER TABLE {table} SET UNLOGGED"));
            // pgpool compares whole seconds: an entry lasts 1 to 2 s with relcache_expire = 1
            std::thread::sleep(Duration::from_millis(2200));
            // relcache_expire = 0: the cached answer holds, and the standby cannot read it
            let err = a
                .simple_query(&sql)
                .expect_err("an unlogged table on the standby");
            assert!(
                format!("{err:?}").contains("during recovery"),
                "relcache_expire = 0: the cached answer holds: {err:?}"
            );
            assert_eq!(
                port_of(&mut b, cluster, &sql),
                0,
                "relcache_expire = 1: asked again, an unlogged table's reads go to the primary"
            );
        },
    )
}

/// `relcache_query_target = load_balance_node` (routing.md §7.4): the catalog questions go to
/// the session's load-balance standby, the temporary-table question still to the primary. A
/// standby that has not replayed an unlogged table's creation yet does not know it, so the
/// SELECT is load-balanced (and fails there), as pgpool does; with the default (`primary`) the
/// same SELECT goes to the primary. A temporary table's reads go to the primary either way.
#[test]
fn relcache_query_target_sends_catalog_lookups_to_the_load_balance_node() {
    within(
        TEST_BOUND,
        "relcache_query_target_sends_catalog_lookups_to_the_load_balance_node",
        || {
            let cluster = Cluster::start(ClusterSpec {
                standbys: 1,
                ..ClusterSpec::default()
            });
            let lb1 = weights(&[0, 1]);
            let on_primary = Daemon::start_streaming(&cluster, &lb1);
            let on_lb = Daemon::start_streaming(
                &cluster,
                &format!("{lb1}relcache_query_target = load_balance_node\n"),
            );
            let sql = "SELECT inet_server_port() FROM (SELECT 1) x LEFT JOIN rqt_u ON true";
            cluster.psql(1, "SELECT pg_wal_replay_pause()");
            cluster.psql(0, "CREATE UNLOGGED TABLE rqt_u(i int)");
            let mut c = on_primary.client(SUPERUSER, "postgres");
            assert_eq!(port_of(&mut c, &cluster, sql), 0, "asked the primary");
            let mut c = on_lb.client(SUPERUSER, "postgres");
            let err = c
                .simple_query(sql)
                .expect_err("the standby does not know the table yet");
            assert!(
                format!("{err:?}").contains("does not exist"),
                "asked the standby: {err:?}\n{}",
                crate::support::tail(&on_lb.log(), 20)
            );
            cluster.psql(1, "SELECT pg_wal_replay_resume()");
            let temp = "SELECT inet_server_port() FROM (SELECT 1) x LEFT JOIN rqt_t ON true";
            c.batch_execute("CREATE TEMP TABLE rqt_t(i int)")
                .expect("CREATE TEMP TABLE");
            assert_eq!(
                port_of(&mut c, &cluster, temp),
                0,
                "a temporary table's reads"
            );
            // the isolation level is the primary's to tell: only there was it set
            let mut c = on_lb.client(SUPERUSER, "postgres");
            c.batch_execute(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            )
            .expect("SET SESSION CHARACTERISTICS");
            c.batch_execute("BEGIN").expect("BEGIN");
            assert_eq!(
                port_of(&mut c, &cluster, "SELECT inet_server_port()"),
                0,
                "a read in a serializable transaction"
            );
            c.batch_execute("COMMIT").expect("COMMIT");
        },
    )
}

/// `notice_per_node_statement` (4.6): each statement sent to a node reaches the client as a
/// NOTICE naming the node, in the raw engine and the streaming engine.
#[test]
fn notice_per_node_statement_tells_the_client_where_statements_went() {
    within(
        TEST_BOUND,
        "notice_per_node_statement_tells_the_client_where_statements_went",
        || {
            let cluster = shared_sr_cluster();
            let on = "notice_per_node_statement = on\n";
            let raw = Daemon::start(cluster, on);
            let streaming = Daemon::start_streaming(cluster, &format!("{}{on}", lb_node1()));
            let table = unique("npns");
            cluster.psql(0, &format!("CREATE TABLE {table} (i int)"));
            let _drop = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {table}"));
            let insert = format!("INSERT INTO {table} VALUES (1);");
            for (d, select_node) in [(&raw, 0), (&streaming, 1)] {
                let err = psql_with_pause(d, &format!("SELECT 1;\n{insert}\n"), Duration::ZERO, "");
                for line in [
                    format!("NOTICE:  DB node id: {select_node} statement: SELECT 1;"),
                    format!("NOTICE:  DB node id: 0 statement: {insert}"),
                ] {
                    assert!(err.contains(&line), "no {line:?} in {err}");
                }
            }
        },
    )
}

/// Nodes that disagree on a statement's outcome end the session as pgpool reports it (checked
/// against pgpool-II 4.3.5): a WARNING naming the node whose reply kind differs from the main
/// node's, then FATAL with each node's kind and error text, and a HINT; both also logged.
#[test]
fn a_kind_mismatch_is_reported_as_pgpool_reports_it() {
    within(
        TEST_BOUND,
        "a_kind_mismatch_is_reported_as_pgpool_reports_it",
        || {
            let cluster = shared_sr_cluster();
            let d = Daemon::start_streaming(cluster, &lb_node1());
            // the SELECT opens the transaction on the standby too; the second BEGIN fails on
            // the primary only
            let err = psql_with_pause(
                &d,
                "BEGIN;\nSELECT 1;\nBEGIN ISOLATION LEVEL SERIALIZABLE;\n",
                Duration::ZERO,
                "",
            );
            let warning = "WARNING:  packet kind of backend 1 ['C'] does not match with main/majority nodes packet kind ['E']";
            let detail = "kind details are: 0[E: SET TRANSACTION ISOLATION LEVEL must be called before any query] 1[C]";
            for line in [
                warning,
                "FATAL:  failed to read kind from backend",
                "DETAIL:  kind mismatch among backends. Possible last query was: \"BEGIN ISOLATION LEVEL SERIALIZABLE",
                detail,
                "HINT:  check data consistency among db nodes",
            ] {
                assert!(err.contains(line), "no {line:?} in {err}");
            }
            d.wait_log(warning);
            d.wait_log(detail);
            d.wait_log("FATAL:  failed to read kind from backend");
        },
    )
}

/// routing.md §10.2 (all non-raw modes): a statement for several nodes that the main node answers
/// with one of the errors pgpool synchronises (here 25001: the primary ran the INSERT, the
/// standby nothing yet) is not a kind mismatch: the client gets the error, every node's
/// transaction is aborted, and ROLLBACK ends it as usual.
#[test]
fn an_isolation_level_error_on_the_main_node_only_aborts_every_node() {
    within(
        TEST_BOUND,
        "an_isolation_level_error_on_the_main_node_only_aborts_every_node",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_err_sync");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = Daemon::start_streaming(cluster, &lb_node1());
            let mut c = d.client(SUPERUSER, "postgres");
            simple(&mut c, "BEGIN");
            simple(&mut c, &format!("INSERT INTO {t} VALUES (2)"));
            let err = c
                .simple_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .expect_err("SET TRANSACTION after a query fails on the primary");
            let db = err.as_db_error().unwrap_or_else(|| panic!("{err}"));
            assert_eq!(db.code().code(), "25001", "{db:?}");
            let refused = c
                .simple_query("SELECT 1")
                .expect_err("the transaction is aborted");
            assert_eq!(
                refused.as_db_error().map(|e| e.code().code()),
                Some("25P02"),
                "{refused}"
            );
            simple(&mut c, "ROLLBACK");
            // every node's transaction ended: node 1 serves reads outside any block
            let (node, in_tx) = in_tx_on(&mut c, cluster, "");
            assert_eq!((node, in_tx), (1, false));
            assert_eq!(cluster.psql(0, &format!("SELECT count(*) FROM {t}")), "1");
            d.wait_log(
                "LOG:  SimpleQuery: received SET TRANSACTION ISOLATION LEVEL must be called before any query error. query: SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            );
        },
    )
}

/// psql sends `first`, waits `pause`, sends `then`: its stderr.
fn psql_with_pause(d: &Daemon, first: &str, pause: Duration, then: &str) -> String {
    use std::io::Write as _;
    let mut child = crate::support::psql_command(d.port(), SUPERUSER, None, "postgres")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run psql");
    let mut stdin = child.stdin.take().expect("psql stdin");
    stdin.write_all(first.as_bytes()).expect("write to psql");
    stdin.flush().expect("flush psql stdin");
    std::thread::sleep(pause);
    let _ = stdin.write_all(then.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().expect("psql output");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A server that ends an idle session for `idle_session_timeout` or
/// `idle_in_transaction_session_timeout` (routing.md §11.3): the client gets pgpool's FATAL for
/// it, in the raw engine and in the streaming engine alike.
#[test]
fn idle_timeouts_of_the_server_reach_the_client_as_pgpools_fatal() {
    within(
        TEST_BOUND,
        "idle_timeouts_of_the_server_reach_the_client_as_pgpools_fatal",
        || {
            let cluster = shared_sr_cluster();
            let raw = Daemon::start(cluster, "");
            let streaming = Daemon::start_streaming(cluster, &lb_node1());
            for d in [&raw, &streaming] {
                let err = psql_with_pause(
                    d,
                    "SET idle_session_timeout = '300ms';\n",
                    Duration::from_millis(1500),
                    "SELECT 1;\n",
                );
                assert!(
                    err.contains("FATAL:  terminating connection due to idle session timeout"),
                    "{err}\n{}",
                    crate::support::tail(&d.log(), 20)
                );
                // an error pgpool answers with its own FATAL is not counted as the node's
                let stats = d
                    .psql("SHOW pool_backend_stats")
                    .expect("SHOW pool_backend_stats");
                assert!(
                    stats.lines().all(|l| l.ends_with("|0|0|0")),
                    "panic/fatal/error counts: {stats}"
                );
                let err = psql_with_pause(
                    d,
                    "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '300ms'; SELECT 1;\n",
                    Duration::from_millis(1500),
                    "SELECT 1;\n",
                );
                assert!(
                    err.contains(
                        "FATAL:  terminating connection due to idle-in-transaction session timeout"
                    ),
                    "{err}\n{}",
                    crate::support::tail(&d.log(), 20)
                );
            }
        },
    )
}

/// The streaming engine's child status follows each ReadyForQuery too.
#[test]
fn child_status_is_idle_between_statements_in_streaming_mode() {
    within(
        TEST_BOUND,
        "child_status_is_idle_between_statements_in_streaming_mode",
        || {
            let d = Daemon::start_streaming(shared_sr_cluster(), &lb_node1());
            crate::commands::child_status_follows_ready_for_query(&d);
        },
    );
}

/// SHOW pool_nodes in streaming mode: roles, the session's load-balance node, select_cnt on the
/// node that served the SELECTs, replication state from the sr check.
#[test]
fn show_pool_nodes_reports_streaming_roles_and_counts() {
    within(
        TEST_BOUND,
        "show_pool_nodes_reports_streaming_roles_and_counts",
        || {
            let cluster = shared_sr_cluster();
            // pg_role and pg_status are live probes, `unknown` without sr and health checks
            let d = Daemon::start_streaming(
                cluster,
                &format!(
                    "{}sr_check_period = 1\nhealth_check_period = 30\n",
                    lb_node1()
                ),
            );
            wait_pool_nodes(
                &d,
                Duration::from_secs(30),
                "replication state from the sr check",
                |r| {
                    r.len() == 3
                        && r[1]["replication_state"] == "streaming"
                        && r[2]["replication_state"] == "streaming"
                },
            );
            let mut c = d.client(SUPERUSER, "postgres");
            let before = pool_nodes(&mut c);
            for _ in 0..3 {
                assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port()"), 1);
            }
            let after = pool_nodes(&mut c);
            for (node, row) in after.iter().enumerate() {
                assert_eq!(row["node_id"], node.to_string());
                assert_eq!(row["port"], cluster.port(node).to_string());
                assert_eq!(row["status"], "up");
                assert_eq!(row["pg_status"], "up");
                let role = if node == 0 { "primary" } else { "standby" };
                assert_eq!(row["role"], role, "node {node}");
                assert_eq!(row["pg_role"], role, "node {node}");
                assert_eq!(
                    row["load_balance_node"],
                    if node == 1 { "true" } else { "false" },
                    "node {node}: the session's load-balance node"
                );
                let delta: u64 = row["select_cnt"].parse::<u64>().expect("select_cnt")
                    - before[node]["select_cnt"]
                        .parse::<u64>()
                        .expect("select_cnt");
                assert_eq!(
                    delta,
                    if node == 1 { 3 } else { 0 },
                    "select_cnt of node {node}"
                );
                if node == 0 {
                    assert_eq!(row["replication_state"], "");
                    assert_eq!(row["replication_sync_state"], "");
                } else {
                    assert_eq!(row["replication_state"], "streaming");
                    assert_eq!(row["replication_sync_state"], "async");
                }
            }
        },
    )
}

/// §7.4 with the per-connection answers pgpool-rs keeps: a statement shape found to read only a
/// plain table is remembered as such, and a temporary table created later under the same name
/// (which shadows it in this session) must send the same shape to the primary again.
#[test]
fn a_temporary_table_shadowing_a_plain_one_moves_its_reads_to_the_primary() {
    within(
        TEST_BOUND,
        "a_temporary_table_shadowing_a_plain_one_moves_its_reads_to_the_primary",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_shadow");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = Daemon::start_streaming(cluster, &weights(&[0, 1, 0]));
            let mut c = d.client(SUPERUSER, "postgres");
            let q = format!("SELECT inet_server_port() FROM {t}");
            assert_eq!(
                port_of(&mut c, cluster, &q),
                1,
                "a plain table: the standby"
            );
            assert_eq!(port_of(&mut c, cluster, &q), 1, "the same shape again");
            c.simple_query(&format!("CREATE TEMP TABLE {t} AS SELECT 1 AS i"))
                .expect("CREATE TEMP TABLE");
            assert_eq!(
                port_of(&mut c, cluster, &q),
                0,
                "the temporary table shadows the plain one: the primary"
            );
        },
    )
}

/// `check_temp_table = trace` (routing.md §6.1, §7.4): a temporary table is tracked once its
/// transaction commits; one created in a transaction that rolls back (or fails) is forgotten,
/// and a DROP TABLE rolled back leaves it tracked. A temporary table shadowing a plain one of
/// the same name shows where its reads go.
#[test]
fn check_temp_table_trace_follows_the_transaction_outcome() {
    within(
        TEST_BOUND,
        "check_temp_table_trace_follows_the_transaction_outcome",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_trace");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = Daemon::start_streaming(
                cluster,
                &format!("{}check_temp_table = trace\n", weights(&[0, 1, 0])),
            );
            let mut c = d.client(SUPERUSER, "postgres");
            let q = format!("SELECT inet_server_port() FROM {t}");
            let create = format!("CREATE TEMP TABLE {t} AS SELECT 1 AS i");
            // one statement per query: of a multi-statement string only the first is looked at
            let run = |c: &mut Client, sql: &str| {
                for one in sql.split("; ") {
                    c.batch_execute(one)
                        .unwrap_or_else(|e| panic!("{one}: {e:?}"));
                }
            };
            assert_eq!(port_of(&mut c, cluster, &q), 1, "a plain table");
            run(&mut c, &format!("BEGIN; {create}; ROLLBACK"));
            assert_eq!(port_of(&mut c, cluster, &q), 1, "created, rolled back");
            run(&mut c, "BEGIN");
            c.execute(create.as_str(), &[])
                .expect("extended CREATE TEMP TABLE");
            run(&mut c, "ROLLBACK");
            assert_eq!(
                port_of(&mut c, cluster, &q),
                1,
                "created (extended protocol), rolled back"
            );
            run(&mut c, "BEGIN");
            run(&mut c, &create);
            c.batch_execute("SELECT 1/0").expect_err("division by zero");
            run(&mut c, "ROLLBACK");
            assert_eq!(port_of(&mut c, cluster, &q), 1, "created, then failed");
            run(&mut c, &create);
            assert_eq!(port_of(&mut c, cluster, &q), 0, "created");
            run(&mut c, &format!("BEGIN; DROP TABLE {t}; ROLLBACK"));
            assert_eq!(port_of(&mut c, cluster, &q), 0, "drop rolled back");
            run(&mut c, &format!("BEGIN; DROP TABLE {t}; COMMIT"));
            assert_eq!(port_of(&mut c, cluster, &q), 1, "dropped");
        },
    )
}

/// A simple-query BEGIN reaches a standby only with the first statement of the transaction that
/// goes there: a writing transaction never touches the standby, a reading one begins there just
/// before its first read (and is in a transaction block there), and COMMIT ends both.
#[test]
fn begin_reaches_a_standby_only_with_its_first_statement_there() {
    within(
        TEST_BOUND,
        "begin_reaches_a_standby_only_with_its_first_statement_there",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_lazy_begin");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let (d, mut c) = dlbow_setup(cluster, "transaction", "log_per_node_statement = on\n");
            let standby_lines = |d: &Daemon| {
                d.log()
                    .lines()
                    .filter(|l| l.contains("DB node id: 1 "))
                    .filter(|l| l.contains(&*t) || l.contains("statement: BEGIN"))
                    .count()
            };
            // a writing transaction: nothing reaches node 1
            simple(&mut c, "BEGIN");
            simple(&mut c, &format!("INSERT INTO {t} VALUES (5)"));
            simple(&mut c, "COMMIT");
            assert_eq!(standby_lines(&d), 0, "{}", d.log());
            // a reading transaction: BEGIN then the read on node 1, inside a transaction block
            simple(&mut c, "BEGIN");
            // two reads on node 1 in one transaction block see the same now()
            let q = format!("SELECT inet_server_port(), now()::text FROM {t} LIMIT 1");
            let r1 = first_row(&mut c, &q);
            std::thread::sleep(Duration::from_millis(20));
            let r2 = first_row(&mut c, &q);
            let node = node_with_port(cluster, r1[0].parse().expect("port"));
            assert_eq!(node, 1, "reads go to node 1");
            assert_eq!(r1[1], r2[1], "one transaction block on node 1");
            simple(&mut c, "COMMIT");
            let log = d.log();
            let on1: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("DB node id: 1 "))
                .filter_map(|l| l.split("statement: ").nth(1))
                .collect();
            // ... BEGIN, the reads (whatever protocol messages they took), COMMIT
            let begin = on1
                .iter()
                .rposition(|l| *l == "BEGIN")
                .expect("BEGIN on node 1");
            let reads = &on1[begin + 1..on1.len() - 1];
            assert!(
                !reads.is_empty()
                    && reads.iter().all(|l| l.contains(&*t))
                    && on1.last() == Some(&"COMMIT"),
                "{on1:?}"
            );
            // the standby's transaction ended: the next read there is outside any block
            let (node, in_tx) = in_tx_on(&mut c, cluster, "");
            assert_eq!((node, in_tx), (1, false));
        },
    )
}

/// §6.1, §9.1: a two-phase command goes to the primary and, once it succeeded, pgpool commits the
/// transaction still open on the standby that served the transaction's reads — through the
/// simple protocol and through the extended protocol alike (the standby's next read is outside
/// any transaction block; the prepared transaction is on the primary only).
#[test]
fn two_phase_commands_close_the_standbys_transaction() {
    within(
        TEST_BOUND,
        "two_phase_commands_close_the_standbys_transaction",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_2pc");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            // a prepared transaction left by a failure would hold the table's lock: end it first
            let _rollback: Vec<Cleanup> = (0..2)
                .map(|round| Cleanup::new(cluster, format!("ROLLBACK PREPARED '{t}_{round}'")))
                .collect();
            let (_d, mut c) = dlbow_setup(cluster, "transaction", "");
            for (round, extended) in [false, true].into_iter().enumerate() {
                let gid = format!("{t}_{round}");
                simple(&mut c, "BEGIN");
                assert_eq!(
                    read_at(&mut c, cluster, &t),
                    1,
                    "the read opens node 1's block"
                );
                simple(&mut c, &format!("INSERT INTO {t} VALUES ({round})"));
                let prepare = format!("PREPARE TRANSACTION '{gid}'");
                if extended {
                    c.execute(prepare.as_str(), &[])
                        .unwrap_or_else(|e| panic!("{prepare}: {e}"));
                } else {
                    simple(&mut c, &prepare);
                }
                let (node, in_tx) = in_tx_on(&mut c, cluster, "");
                assert_eq!(
                    (node, in_tx),
                    (1, false),
                    "extended = {extended}: node 1's transaction ended with the prepare"
                );
                assert_eq!(
                    cluster.psql(
                        0,
                        &format!("SELECT count(*) FROM pg_prepared_xacts WHERE gid = '{gid}'")
                    ),
                    "1"
                );
                simple(&mut c, &format!("COMMIT PREPARED '{gid}'"));
            }
            assert_eq!(
                cluster.psql(0, &format!("SELECT count(*) FROM {t}")),
                "3",
                "both prepared inserts committed"
            );
        },
    )
}

/// The reset at session end cleans the session's state on every node it changed (SET goes to
/// all nodes), and the next session on the same pooled connections sees none of it.
#[test]
fn pooled_connections_come_back_clean_on_every_node() {
    within(
        TEST_BOUND,
        "pooled_connections_come_back_clean_on_every_node",
        || {
            let cluster = shared_sr_cluster();
            let (db, _cleanup) = scratch_database(cluster, "rt_reset");
            let d = Daemon::start_streaming(
                cluster,
                &format!(
                    "{}num_init_children = 1\nprimary_routing_query_pattern_list = '.*to_primary.*'\n",
                    lb_node1()
                ),
            );
            let default = cluster.psql(0, "show work_mem");
            assert_ne!(default, "7MB");
            let probe = |c: &mut Client, suffix: &str| {
                let row = first_row(
                    c,
                    &format!(
                        "SELECT inet_server_port(), current_setting('work_mem'), pg_backend_pid(){suffix}"
                    ),
                );
                (
                    node_with_port(cluster, row[0].parse().expect("port")),
                    row[1].clone(),
                    row[2].clone(),
                )
            };
            let mut c = d.client(SUPERUSER, &db);
            simple(&mut c, "SET work_mem = '7MB'");
            let (n1, lb_mem, lb_pid) = probe(&mut c, "");
            let (n0, pr_mem, pr_pid) = probe(&mut c, ", 'to_primary'");
            assert_eq!((n1, n0), (1, 0));
            assert_eq!((lb_mem.as_str(), pr_mem.as_str()), ("7MB", "7MB"));
            drop(c);

            let mut c = d.client(SUPERUSER, &db);
            let (_, lb_mem2, lb_pid2) = probe(&mut c, "");
            let (_, pr_mem2, pr_pid2) = probe(&mut c, ", 'to_primary'");
            assert_eq!(
                (lb_pid2, pr_pid2),
                (lb_pid, pr_pid),
                "the connections were not pooled\n{}",
                d.log()
            );
            assert_eq!(lb_mem2, default, "the standby kept the old session's SET");
            assert_eq!(pr_mem2, default, "the primary kept the old session's SET");
        },
    );
}

/// The reset at session end counts in `other_cnt` of each node it is sent to, as pgpool counts
/// its own `ABORT` and `DISCARD ALL` (checked against pgpool-II 4.3.5): `DISCARD ALL` once per
/// node, `ABORT` too when the session left a transaction open; a transaction's `BEGIN` counts on
/// each node it reaches. pgpool-II also sends (and counts) `DISCARD ALL` on a primary the
/// session never used; pgpool-rs resets only the nodes the session sent something to
/// (docs/differences.md).
#[test]
fn session_end_reset_counts_in_the_statement_counters() {
    within(
        TEST_BOUND,
        "session_end_reset_counts_in_the_statement_counters",
        || {
            let cluster = shared_sr_cluster();
            let (db, _cleanup) = scratch_database(cluster, "rt_reset_cnt");
            let d =
                Daemon::start_streaming(cluster, &format!("{}num_init_children = 1\n", lb_node1()));
            let other = |c: &mut Client| -> Vec<u64> {
                rows(c, "SHOW pool_backend_stats")
                    .iter()
                    .map(|r| r["other_cnt"].parse().expect("other_cnt"))
                    .collect()
            };
            let delta = |a: &[u64], b: &[u64]| -> Vec<u64> {
                a.iter().zip(b).map(|(a, b)| b - a).collect()
            };
            // a read-only session that ends idle: DISCARD ALL on the standby it read from
            let mut c = d.client(SUPERUSER, &db);
            let before = other(&mut c);
            assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port()"), 1);
            assert_eq!(
                other(&mut c),
                before,
                "a SELECT is not an 'other' statement"
            );
            drop(c);
            let mut c = d.client(SUPERUSER, &db);
            let after = other(&mut c);
            let primary = u64::from(real_pgpool());
            assert_eq!(delta(&before, &after), [primary, 1, 0], "{}", d.log());
            // a session that leaves a transaction open: ABORT and DISCARD ALL on both nodes
            simple(&mut c, "BEGIN");
            assert_eq!(port_of(&mut c, cluster, "SELECT inet_server_port()"), 1);
            let in_tx = other(&mut c);
            // BEGIN counts on both nodes (pgpool-rs sends it to the standby with the SELECT)
            assert_eq!(delta(&after, &in_tx), [1, 1, 0], "{}", d.log());
            drop(c);
            let mut c = d.client(SUPERUSER, &db);
            let end = other(&mut c);
            assert_eq!(delta(&in_tx, &end), [2, 2, 0], "{}", d.log());
        },
    );
}

/// Under `log_statement` and `log_per_node_statement` the reset at session end is logged as
/// pgpool logs it (checked against pgpool-II 4.3.5): each statement, then each node it went to;
/// and a ROLLBACK's lines name the primary last.
#[test]
fn session_end_reset_is_logged_statement_by_statement() {
    within(
        TEST_BOUND,
        "session_end_reset_is_logged_statement_by_statement",
        || {
            let cluster = shared_sr_cluster();
            let (db, _cleanup) = scratch_database(cluster, "rt_reset_log");
            let d = Daemon::start_streaming(
                cluster,
                &format!(
                    "{}num_init_children = 1\nlog_statement = on\nlog_per_node_statement = on\n",
                    lb_node1()
                ),
            );
            // a session that ends its transaction, then one that leaves it open
            let mut pids = Vec::new();
            for end in ["ROLLBACK", ""] {
                let mut c = d.client(SUPERUSER, &db);
                simple(&mut c, "BEGIN");
                let standby = first_row(&mut c, "SELECT pg_backend_pid()")[0].clone();
                // a leading comment keeps a SELECT on the primary (allow_sql_comments = off)
                let primary = first_row(&mut c, "/*p*/ SELECT pg_backend_pid()")[0].clone();
                if !end.is_empty() {
                    simple(&mut c, end);
                }
                pids.push((primary, standby));
            }
            assert_eq!(pids[0], pids[1], "the connections were not pooled");
            let (primary, standby) = pids.pop().expect("pids");
            // ROLLBACK and ABORT reach the primary last (spec/extended-protocol.md §7)
            let line = |node: usize, pid: &str, q: &str| {
                format!("LOG:  DB node id: {node} backend pid: {pid} statement: {q}\n")
            };
            let want = [
                "LOG:  statement: ROLLBACK\n".to_string(),
                line(1, &standby, "ROLLBACK"),
                line(0, &primary, "ROLLBACK"),
                "LOG:  statement: DISCARD ALL\n".to_string(),
                line(0, &primary, "DISCARD ALL"),
                line(1, &standby, "DISCARD ALL"),
                "LOG:  statement: ABORT\n".to_string(),
                line(1, &standby, "ABORT"),
                line(0, &primary, "ABORT"),
                "LOG:  statement: DISCARD ALL\n".to_string(),
                line(0, &primary, "DISCARD ALL"),
                line(1, &standby, "DISCARD ALL"),
            ];
            crate::support::wait_until(Duration::from_secs(10), "the reset in the log", || {
                // both sessions' resets end with this line
                d.log()
                    .matches(want.last().expect("a line").as_str())
                    .count()
                    == 2
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
            let log = d.log();
            let mut at = 0;
            for line in &want {
                let found = log[at..]
                    .find(line.as_str())
                    .unwrap_or_else(|| panic!("{line:?} missing or out of order\n{log}"));
                at += found + line.len();
            }
        },
    );
}
