//! The extended query protocol in streaming-replication mode (spec/extended-protocol.md): pgbench
//! in `-M extended` / `-M prepared` through the daemon, rust-postgres prepared statements routed
//! like simple queries, re-parsing on the primary inside a writing transaction
//! (`parse_before_bind`, §6/§9.2), and hand-written frame sequences: a JDBC-style BEGIN without
//! Sync (§9.4), an error in a pipeline (§9.3), Bind of an unknown statement and Close of an
//! unknown object (§4.2, §4.5), Describe + Flush without Sync (§4.7), unnamed statements
//! pipelined to different nodes (§4.9); plus COPY both ways (§7), LISTEN/NOTIFY across sessions,
//! cursors and temporary tables.
//!
//! Weights 0:1:0 make node 1 every session's load-balance node; `inet_server_port()` in a result
//! tells which node produced it. Every test starts its own daemon on `shared_sr_cluster()` and
//! drops the objects it creates.

use std::io::{Read, Write};

use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{pgbin, shared_sr_cluster, Cluster, SUPERUSER};
use crate::support::daemon::Daemon;
use crate::support::frames::{self, Message, Wire};
use crate::support::sr::{
    node_with_port, notifications, scratch_database, served_by, served_by_ext, table_with_row,
    unique, weights, within, Cleanup,
};
use crate::support::{output_within, tail, HOST};

/// Bound on one test: a daemon that stops answering fails the test instead of hanging the suite.
const TEST_BOUND: Duration = Duration::from_secs(300);
const PGBENCH_BOUND: Duration = Duration::from_secs(600);

fn lb_node1(cluster: &Cluster) -> Daemon {
    Daemon::start_streaming(cluster, &weights(&[0, 1, 0]))
}

fn tags(msgs: &[Message]) -> String {
    msgs.iter().map(|m| m.tag as char).collect()
}

/// The messages of `msgs` up to the first ReadyForQuery, minus NoticeResponses and
/// ParameterStatus (either may legitimately come once per node).
fn significant(msgs: Vec<Message>) -> Vec<Message> {
    msgs.into_iter()
        .filter(|m| m.tag != b'N' && m.tag != b'S')
        .collect()
}

fn login(d: &Daemon) -> Wire {
    Wire::login(d.port(), SUPERUSER, "postgres", &[]).0
}

/// Send `frames` in one write and read up to ReadyForQuery.
fn round(w: &mut Wire, frames: &[Vec<u8>]) -> Vec<Message> {
    w.send(&frames.concat());
    significant(w.read_until_ready())
}

/// The node that produced the (single-column port) DataRow `m`.
fn row_node(cluster: &Cluster, m: &Message) -> usize {
    let port = m.data_row()[0]
        .as_deref()
        .expect("a port")
        .parse()
        .expect("numeric port");
    node_with_port(cluster, port)
}

/// Run pgbench through the daemon (bounded); panics with its output and the daemon log on failure.
fn pgbench(d: &Daemon, db: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(pgbin().join("pgbench"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PGPASSFILE", "/nonexistent/pgpass")
        .env("PGSSLMODE", "disable")
        .args(["-h", HOST, "-p", &d.port().to_string(), "-U", SUPERUSER])
        .args(args)
        .arg(db);
    let (out, finished) = output_within(&mut cmd, Duration::from_secs(180));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        finished && out.status.success(),
        "pgbench {args:?} failed ({}, finished: {finished}):\n{text}\n--- daemon log ---\n{}",
        out.status,
        tail(&d.log(), 30)
    );
    text
}

/// pgbench -i, then select-only and tpcb-like runs in extended and prepared mode: no failed
/// transactions, and the select-only reads served by the standby.
#[test]
fn pgbench_extended_and_prepared_modes_run_clean() {
    within(
        PGBENCH_BOUND,
        "pgbench_extended_and_prepared_modes_run_clean",
        || {
            let cluster = shared_sr_cluster();
            let (db, _cleanup) = scratch_database(cluster, "rt_pgbench");
            let d = lb_node1(cluster);
            pgbench(&d, &db, &["-i", "-s", "1", "-q"]);
            cluster.wait_replayed();
            for args in [
                &["-M", "extended", "-S"][..],
                &["-M", "prepared", "-S"],
                &["-M", "extended", "-b", "tpcb-like"],
                &["-M", "prepared", "-b", "tpcb-like"],
            ] {
                let before = d.select_counts();
                let mut all = args.to_vec();
                all.extend(["-n", "-c", "2", "-t", "40"]);
                let out = pgbench(&d, &db, &all);
                assert!(
                    out.contains("number of transactions actually processed: 80/80"),
                    "{args:?}:\n{out}"
                );
                assert!(
                    out.contains("number of failed transactions: 0 "),
                    "{args:?}:\n{out}"
                );
                if args[2] == "-S" {
                    let after = d.select_counts();
                    assert!(
                after[1] - before[1] >= 80 && after[2] == before[2],
                "{args:?}: the select-only reads went to node 1 (select_cnt {before:?} → {after:?})"
            );
                }
            }
        },
    )
}

/// rust-postgres `query` (Parse/Describe/Sync, Bind/Execute/Sync with a named statement) is
/// routed like the simple protocol.
#[test]
fn prepared_statements_route_like_simple_queries() {
    within(
        TEST_BOUND,
        "prepared_statements_route_like_simple_queries",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_ext_route");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = lb_node1(cluster);
            let mut c = d.client(SUPERUSER, "postgres");
            let at = |c: &mut postgres::Client, sql: &str| served_by_ext(c, cluster, sql);
            assert_eq!(
                at(&mut c, &format!("SELECT inet_server_port() FROM {t}")),
                1
            );
            assert_eq!(at(&mut c, "SELECT inet_server_port(), now()"), 1);
            assert_eq!(at(&mut c, "/*x*/ SELECT inet_server_port()"), 0);
            assert_eq!(
                at(&mut c, "SELECT inet_server_port() FROM pg_class LIMIT 1"),
                0
            );
            assert_eq!(at(&mut c, "SELECT inet_server_port(), random()"), 0);
            assert_eq!(
                at(
                    &mut c,
                    &format!("INSERT INTO {t} VALUES (2) RETURNING inet_server_port()")
                ),
                0
            );
            let mut tx = c.transaction().expect("BEGIN");
            assert_eq!(
                served_by_ext(&mut tx, cluster, "SELECT inet_server_port()"),
                1
            );
            tx.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&3i32])
                .expect("INSERT");
            assert_eq!(
                served_by_ext(&mut tx, cluster, "SELECT inet_server_port()"),
                0,
                "after a write in the transaction"
            );
            tx.commit().expect("COMMIT");
            assert_eq!(at(&mut c, "SELECT inet_server_port()"), 1, "after COMMIT");
        },
    )
}

/// A statement parsed on the standby and bound inside a transaction that has written is
/// re-parsed on the primary and runs there (§6, §9.2).
#[test]
fn prepared_select_after_a_write_runs_on_the_primary() {
    within(
        TEST_BOUND,
        "prepared_select_after_a_write_runs_on_the_primary",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_pbb");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = lb_node1(cluster);
            let mut c = d.client(SUPERUSER, "postgres");
            let port = |rows: Vec<postgres::Row>| -> usize {
                let p: i32 = rows[0].get(0);
                node_with_port(cluster, p as u16)
            };
            let outside = c
                .prepare("SELECT inet_server_port()")
                .expect("prepare outside the transaction");
            let mut tx = c.transaction().expect("BEGIN");
            let inside = tx
                .prepare(&format!("SELECT inet_server_port() FROM {t} LIMIT 1"))
                .expect("prepare in the transaction");
            assert_eq!(port(tx.query(&outside, &[]).expect("execute")), 1);
            assert_eq!(port(tx.query(&inside, &[]).expect("execute")), 1);
            tx.execute(&format!("INSERT INTO {t} VALUES (2)"), &[])
                .expect("INSERT");
            assert_eq!(
                port(tx.query(&inside, &[]).expect("execute after the write")),
                0,
                "parsed in the transaction before the write"
            );
            assert_eq!(
                port(tx.query(&outside, &[]).expect("execute after the write")),
                0,
                "parsed before the transaction"
            );
            tx.commit().expect("COMMIT");
            assert_eq!(
                cluster.psql(0, &format!("SELECT count(*) FROM {t}")),
                "2",
                "the write was committed"
            );
        },
    )
}

/// Parse/Bind/Execute of BEGIN, then of an INSERT and a SELECT, all before one Sync: the BEGIN
/// counts at once, so the SELECT goes to the primary (§9.4).
#[test]
fn jdbc_style_begin_without_sync_routes_later_reads_to_the_primary() {
    within(
        TEST_BOUND,
        "jdbc_style_begin_without_sync_routes_later_reads_to_the_primary",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_jdbc");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = lb_node1(cluster);
            let mut w = login(&d);
            let insert = format!("INSERT INTO {t} VALUES (2)");
            let msgs = round(
                &mut w,
                &[
                    frames::parse("", "BEGIN"),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::parse("", &insert),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::parse("", "SELECT inet_server_port()"),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "12C12C12DCZ", "{msgs:?}");
            assert_eq!(msgs[2].strings(), ["BEGIN"]);
            assert_eq!(msgs[5].strings(), ["INSERT 0 1"]);
            assert_eq!(row_node(cluster, &msgs[8]), 0, "the SELECT after the write");
            assert_eq!(msgs[10].body, b"T");
            let msgs = round(&mut w, &[frames::query("COMMIT")]);
            assert_eq!(tags(&msgs), "CZ", "{msgs:?}");
            assert_eq!(msgs[1].body, b"I");
            w.send(&frames::terminate());
            assert_eq!(cluster.psql(0, &format!("SELECT count(*) FROM {t}")), "2");
        },
    )
}

/// A read-only transaction as JDBC sends it with autocommit off: BEGIN and the SELECT before
/// one Sync. As in pgpool-II, the SELECT goes to the load-balance node: the isolation level and
/// the function's volatility, unknown in a new session, are asked once BEGIN is answered
/// (§7.2), not answered "keep it on the primary".
#[test]
fn jdbc_style_read_only_transaction_is_load_balanced() {
    within(
        TEST_BOUND,
        "jdbc_style_read_only_transaction_is_load_balanced",
        || {
            let cluster = shared_sr_cluster();
            let d = lb_node1(cluster);
            let mut w = login(&d);
            for _ in 0..2 {
                let msgs = round(
                    &mut w,
                    &[
                        frames::parse("", "BEGIN"),
                        frames::bind("", "", &[]),
                        frames::execute(""),
                        frames::parse("", "SELECT inet_server_port()"),
                        frames::bind("", "", &[]),
                        frames::execute(""),
                        frames::parse("", "SELECT count(*) FROM pg_stat_activity"),
                        frames::bind("", "", &[]),
                        frames::execute(""),
                        frames::sync(),
                    ],
                );
                assert_eq!(tags(&msgs), "12C12DC12DCZ", "{msgs:?}");
                assert_eq!(
                    row_node(cluster, &msgs[5]),
                    1,
                    "the SELECT in the transaction"
                );
                assert_eq!(msgs[11].body, b"T");
                let msgs = round(&mut w, &[frames::query("COMMIT")]);
                assert_eq!(tags(&msgs), "CZ", "{msgs:?}");
                assert_eq!(msgs[1].body, b"I");
            }
            w.send(&frames::terminate());
        },
    )
}

/// P1 B1 E1 (fails) P2 B2 E2 S: the client gets the error and ReadyForQuery, nothing of the
/// second statement, and the session works afterwards (§9.3, §5.5). `second` is the second
/// statement: on the same node as the failing one, or (with a comment) on the primary.
fn pipeline_error(second: &str) {
    let cluster = shared_sr_cluster();
    let d = lb_node1(cluster);
    let mut w = login(&d);
    let msgs = round(
        &mut w,
        &[
            // a stable function is not folded at plan time: the division fails in Execute
            frames::parse("", "SELECT 1/(inet_server_port() - inet_server_port())"),
            frames::bind("", "", &[]),
            frames::execute(""),
            frames::parse("", second),
            frames::bind("", "", &[]),
            frames::execute(""),
            frames::sync(),
        ],
    );
    assert_eq!(tags(&msgs), "12EZ", "{msgs:?}");
    assert_eq!(
        msgs[2].fields()[&'C'],
        "22012",
        "division by zero: {msgs:?}"
    );
    assert_eq!(msgs[3].body, b"I");
    for _ in 0..2 {
        let msgs = round(
            &mut w,
            &[
                frames::parse("", "SELECT inet_server_port()"),
                frames::bind("", "", &[]),
                frames::execute(""),
                frames::sync(),
            ],
        );
        assert_eq!(
            tags(&msgs),
            "12DCZ",
            "the session after the error: {msgs:?}"
        );
        assert_eq!(row_node(cluster, &msgs[2]), 1);
    }
    let msgs = round(&mut w, &[frames::query("SELECT inet_server_port()")]);
    assert_eq!(tags(&msgs), "TDCZ", "{msgs:?}");
    w.send(&frames::terminate());
}

#[test]
fn pipeline_error_on_one_node_reports_error_then_ready() {
    within(
        TEST_BOUND,
        "pipeline_error_on_one_node_reports_error_then_ready",
        || {
            pipeline_error("SELECT inet_server_port()");
        },
    )
}

#[test]
fn pipeline_error_with_the_next_statement_on_another_node() {
    within(
        TEST_BOUND,
        "pipeline_error_with_the_next_statement_on_another_node",
        || {
            pipeline_error("/*p*/ SELECT inet_server_port()");
        },
    )
}

/// Bind of a statement pgpool does not know: pgpool's own XX000 error, then ReadyForQuery; Close
/// of unknown objects: CloseComplete (§4.2, §4.5, §10 item 2). pgpool-II 4.3.5 differs: it ends
/// the session with FATAL XX000 "unable to bind" (detail "cannot get parse message …"); 4.6
/// answers with an ERROR and skips to Sync.
#[test]
fn bind_of_unknown_statement_errors_and_close_of_unknown_completes() {
    within(
        TEST_BOUND,
        "bind_of_unknown_statement_errors_and_close_of_unknown_completes",
        || {
            let cluster = shared_sr_cluster();
            let d = lb_node1(cluster);
            let mut w = login(&d);
            w.send(
                &[
                    frames::bind("", "rt_nosuch", &[]),
                    frames::execute(""),
                    frames::sync(),
                ]
                .concat(),
            );
            // up to ReadyForQuery or the end of the connection, so that a FATAL shows in the message
            let mut msgs = Vec::new();
            while let Ok(Some(m)) = w.try_read() {
                let done = m.tag == b'Z';
                msgs.push(m);
                if done {
                    break;
                }
            }
            let msgs = significant(msgs);
            assert_eq!(tags(&msgs), "EZ", "{msgs:?}");
            let f = msgs[0].fields();
            assert_eq!(f[&'C'], "XX000", "{f:?}");
            assert_eq!(f[&'M'], "prepared statement \"rt_nosuch\" does not exist");
            assert_eq!(msgs[1].body, b"I");

            let msgs = round(
                &mut w,
                &[
                    frames::close(b'S', "rt_nosuch"),
                    frames::close(b'P', "rt_noportal"),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "33Z", "{msgs:?}");

            let msgs = round(&mut w, &[frames::query("SELECT inet_server_port()")]);
            assert_eq!(tags(&msgs), "TDCZ", "usable afterwards: {msgs:?}");
            assert_eq!(row_node(cluster, &msgs[1]), 1);
            w.send(&frames::terminate());
        },
    )
}

/// asyncpg style: Parse + Describe + Flush is answered without a Sync (§4.7).
#[test]
fn describe_with_flush_is_answered_without_sync() {
    within(
        TEST_BOUND,
        "describe_with_flush_is_answered_without_sync",
        || {
            let cluster = shared_sr_cluster();
            let d = lb_node1(cluster);
            let mut w = login(&d);
            w.send(
                &[
                    frames::parse("rt_d", "SELECT inet_server_port() AS p"),
                    frames::describe(b'S', "rt_d"),
                    frames::flush(),
                ]
                .concat(),
            );
            // each read is bounded: a daemon waiting for a Sync fails the test here
            let got: Vec<Message> = (0..3).map(|_| w.read()).collect();
            assert_eq!(tags(&got), "1tT", "{got:?}");
            assert_eq!(
                &got[2].body[..4],
                b"\0\x01p\0",
                "one column named p: {:?}",
                got[2]
            );
            let msgs = round(
                &mut w,
                &[
                    frames::bind("", "rt_d", &[]),
                    frames::execute(""),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "2DCZ", "{msgs:?}");
            assert_eq!(row_node(cluster, &msgs[1]), 1);
            let msgs = round(&mut w, &[frames::close(b'S', "rt_d"), frames::sync()]);
            assert_eq!(tags(&msgs), "3Z", "{msgs:?}");
            w.send(&frames::terminate());
        },
    )
}

/// Consecutive unnamed statements in one pipeline, each routed on its own (§4.9).
#[test]
fn unnamed_statements_pipelined_to_different_nodes() {
    within(
        TEST_BOUND,
        "unnamed_statements_pipelined_to_different_nodes",
        || {
            let cluster = shared_sr_cluster();
            let d = lb_node1(cluster);
            let mut w = login(&d);
            let pbe = |sql: &str| {
                [
                    frames::parse("", sql),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                ]
                .concat()
            };
            let msgs = round(
                &mut w,
                &[
                    pbe("SELECT inet_server_port()"),
                    pbe("/*p*/ SELECT inet_server_port()"),
                    pbe("SELECT inet_server_port()"),
                    pbe("SELECT inet_server_port(), random()"),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "12DC12DC12DC12DCZ", "{msgs:?}");
            let nodes: Vec<usize> = msgs
                .iter()
                .filter(|m| m.tag == b'D')
                .map(|m| {
                    let port = m.data_row()[0]
                        .clone()
                        .expect("port")
                        .parse()
                        .expect("numeric");
                    node_with_port(cluster, port)
                })
                .collect();
            assert_eq!(nodes, [1, 0, 1, 0]);
            w.send(&frames::terminate());
        },
    )
}

/// Simple protocol (raw frames): COPY FROM STDIN goes to the primary, COPY (SELECT …) TO STDOUT
/// is load-balanced (§7, §9.5).
#[test]
fn copy_in_and_out_simple_protocol() {
    within(TEST_BOUND, "copy_in_and_out_simple_protocol", || {
        let cluster = shared_sr_cluster();
        let t = unique("rt_copy_s");
        let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
        table_with_row(cluster, &t);
        let d = lb_node1(cluster);
        let mut w = login(&d);
        w.send(&frames::query(&format!("COPY {t} FROM STDIN")));
        let g = w.read();
        assert_eq!(g.tag, b'G', "CopyInResponse: {g:?}");
        w.send(&[frames::copy_data(b"10\n11\n"), frames::copy_done()].concat());
        let msgs = significant(w.read_until_ready());
        assert_eq!(tags(&msgs), "CZ", "{msgs:?}");
        assert_eq!(msgs[0].strings(), ["COPY 2"]);
        let msgs = round(
            &mut w,
            &[frames::query("COPY (SELECT inet_server_port()) TO STDOUT")],
        );
        assert_eq!(tags(&msgs), "HdcCZ", "{msgs:?}");
        assert_eq!(
            String::from_utf8_lossy(&msgs[1].body),
            format!("{}\n", cluster.port(1)),
            "COPY TO STDOUT of a SELECT is load-balanced"
        );
        let msgs = round(&mut w, &[frames::query("SELECT inet_server_port()")]);
        assert_eq!(tags(&msgs), "TDCZ", "{msgs:?}");
        w.send(&frames::terminate());
        assert_eq!(
            cluster.psql(
                0,
                &format!("SELECT string_agg(i::text, ',' ORDER BY i) FROM {t}")
            ),
            "1,10,11",
            "COPY FROM STDIN wrote on the primary"
        );
    })
}

/// Extended protocol (rust-postgres `copy_out`): COPY (SELECT …) TO STDOUT is load-balanced.
/// pgpool-II 4.3.5's child crashes here (segmentation fault, the client sees the connection
/// closed); 4.6 forwards it like the simple-protocol COPY (§7.2).
#[test]
fn copy_out_extended_protocol() {
    within(TEST_BOUND, "copy_out_extended_protocol", || {
        let cluster = shared_sr_cluster();
        let d = lb_node1(cluster);
        let mut c = d.client(SUPERUSER, "postgres");
        let log = d.log_path();
        let out = within(
            Duration::from_secs(30),
            "COPY TO STDOUT (extended)",
            move || {
                let mut out = String::new();
                c.copy_out("COPY (SELECT inet_server_port()) TO STDOUT")
                    .unwrap_or_else(|e| {
                        let log = std::fs::read_to_string(&log).unwrap_or_default();
                        panic!("COPY TO STDOUT (extended): {e}\n{}", tail(&log, 30))
                    })
                    .read_to_string(&mut out)
                    .expect("copy data");
                let next = served_by(&mut c, cluster, "SELECT inet_server_port()");
                (out, next)
            },
        );
        assert_eq!(out, (format!("{}\n", cluster.port(1)), 1));
    })
}

/// Extended protocol (rust-postgres `copy_in`: Bind/Execute without Sync, then the data, then
/// Sync; §7.1): the rows land on the primary and the session goes on. pgpool-II 4.3.5 hangs here
/// (the client waits forever after CopyDone + Sync); 4.6 handles it (§7.1 "Extended protocol,
/// SL modes").
#[test]
fn copy_in_extended_protocol() {
    within(TEST_BOUND, "copy_in_extended_protocol", || {
        let cluster = shared_sr_cluster();
        let t = unique("rt_copy_e");
        let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
        table_with_row(cluster, &t);
        let d = lb_node1(cluster);
        let mut c = d.client(SUPERUSER, "postgres");
        let sql = format!("COPY {t} FROM STDIN");
        let (n, next) = within(
            Duration::from_secs(30),
            "COPY FROM STDIN (extended)",
            move || {
                let mut writer = c.copy_in(&sql).expect("COPY FROM STDIN (extended)");
                writer.write_all(b"20\n21\n22\n").expect("copy data");
                let n = writer.finish().expect("COPY done");
                (n, served_by(&mut c, cluster, "SELECT inet_server_port()"))
            },
        );
        assert_eq!((n, next), (3, 1));
        assert_eq!(
            cluster.psql(
                0,
                &format!("SELECT string_agg(i::text, ',' ORDER BY i) FROM {t}")
            ),
            "1,20,21,22"
        );
    })
}

/// routing.md §3.2: a PREPARE after the first statement of a string is registered as sent, so it
/// is known to a later protocol-level Bind even when a statement after it failed (PREPARE is not
/// transactional: the statement exists on the primary). pgpool-II 4.3.5 closes the connection at
/// the failing string.
#[test]
fn a_later_prepare_of_a_failed_string_can_be_bound() {
    within(
        TEST_BOUND,
        "a_later_prepare_of_a_failed_string_can_be_bound",
        || {
            let cluster = shared_sr_cluster();
            let d = lb_node1(cluster);
            let mut w = login(&d);
            let msgs = round(
                &mut w,
                &[frames::query(
                    "SELECT 1; PREPARE rt_later_p AS SELECT 42; SELECT 1/0",
                )],
            );
            assert_eq!(tags(&msgs), "TDCCEZ", "{msgs:?}");
            let msgs = round(
                &mut w,
                &[
                    frames::bind("", "rt_later_p", &[]),
                    frames::execute(""),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "2DCZ", "{msgs:?}");
            assert_eq!(msgs[1].data_row(), [Some("42".to_string())]);
            w.send(&frames::terminate());
        },
    )
}

/// A simple query drops the unnamed statement and portal, but pgpool sends it to one node: a
/// node it does not reach may keep an old unnamed portal. Execute or Describe of the unnamed
/// portal (and Describe of the unnamed statement) then gets PostgreSQL's own answer for a
/// session that has none, not that old portal's. (pgpool-II 4.3.5 answers from the old portal:
/// `SELECT 0`.)
#[test]
fn the_unnamed_portal_is_gone_after_a_simple_query_on_every_node() {
    within(
        TEST_BOUND,
        "the_unnamed_portal_is_gone_after_a_simple_query_on_every_node",
        || {
            let cluster = shared_sr_cluster();
            let d = lb_node1(cluster);
            let mut w = login(&d);
            assert_eq!(tags(&round(&mut w, &[frames::query("BEGIN")])), "CZ");
            // the unnamed statement and portal, on the primary only (a system catalog)
            let msgs = round(
                &mut w,
                &[
                    frames::parse("", "SELECT inet_server_port() FROM pg_class LIMIT 1"),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "12DCZ", "{msgs:?}");
            assert_eq!(row_node(cluster, &msgs[2]), 0);
            // a simple query on the standby
            let msgs = round(&mut w, &[frames::query("SELECT inet_server_port()")]);
            assert_eq!(row_node(cluster, &msgs[1]), 1);
            for (frames, code) in [
                (vec![frames::execute(""), frames::sync()], "34000"),
                (vec![frames::describe(b'P', ""), frames::sync()], "34000"),
                (vec![frames::describe(b'S', ""), frames::sync()], "26000"),
            ] {
                let msgs = round(&mut w, &frames);
                assert_eq!(tags(&msgs), "EZ", "{msgs:?}");
                assert_eq!(msgs[0].fields()[&'C'], code, "{msgs:?}");
                assert_eq!(
                    msgs[1].body, b"E",
                    "the error aborted the transaction block"
                );
                assert_eq!(tags(&round(&mut w, &[frames::query("ROLLBACK")])), "CZ");
                assert_eq!(tags(&round(&mut w, &[frames::query("BEGIN")])), "CZ");
            }
            w.send(&frames::terminate());
        },
    )
}

/// A COPY FROM STDIN that fails while a CopyData message is half sent (§7.1; the usual case
/// for libpq, whose 8-KiB writes do not follow message boundaries): the rest of that message
/// still reaches the primary, which read its header and drops it whole, as PostgreSQL drops
/// copy messages after the error; the session goes on. Simple and extended protocol.
/// (pgpool-II 4.3.5 reads each copy message whole before it forwards it, so it shows the error
/// only after the client sent the rest: against it this test waits for the error in vain.)
#[test]
fn copy_failing_in_the_middle_of_a_copy_data_message_leaves_the_session_in_step() {
    within(
        TEST_BOUND,
        "copy_failing_in_the_middle_of_a_copy_data_message_leaves_the_session_in_step",
        || {
            let cluster = shared_sr_cluster();
            let t = unique("rt_copy_err");
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {t}"));
            table_with_row(cluster, &t);
            let d = lb_node1(cluster);
            let sql = format!("COPY {t} FROM STDIN");
            // a bad row, then the header and the first bytes of a 100 000-byte CopyData
            let big = vec![b'7'; 100_000];
            let message = frames::copy_data(&big);
            let first = [frames::copy_data(b"x\n"), message[..1005].to_vec()].concat();
            for extended in [false, true] {
                let mut w = login(&d);
                if extended {
                    w.send(
                        &[
                            frames::parse("", &sql),
                            frames::bind("", "", &[]),
                            frames::execute(""),
                            frames::flush(),
                        ]
                        .concat(),
                    );
                    assert_eq!(tags(&[w.read(), w.read(), w.read()]), "12G");
                } else {
                    w.send(&frames::query(&sql));
                    assert_eq!(w.read().tag, b'G');
                }
                w.send(&first);
                let e = w.read();
                assert_eq!(e.tag, b'E', "{e:?}");
                assert_eq!(e.fields()[&'C'], "22P02", "{e:?}");
                if !extended {
                    assert_eq!(w.read().tag, b'Z');
                }
                // the rest of the message, then what a client sends after it
                let mut rest = message[1005..].to_vec();
                if extended {
                    rest.extend(frames::sync());
                }
                w.send(&rest);
                if extended {
                    let msgs = significant(w.read_until_ready());
                    assert_eq!(tags(&msgs), "Z", "{msgs:?}");
                }
                let msgs = round(&mut w, &[frames::query("SELECT 42")]);
                assert_eq!(tags(&msgs), "TDCZ", "extended = {extended}: {msgs:?}");
                assert_eq!(msgs[1].data_row(), [Some("42".to_string())]);
                w.send(&frames::terminate());
            }
            assert_eq!(cluster.psql(0, &format!("SELECT count(*) FROM {t}")), "1");
        },
    )
}

/// §8: a client that waits more than 30 s for the first reply gets pgpool's liveness probe, a
/// ParameterStatus `pgpool_dummy_param = pgpool_dummy_value`, then its result; a client that
/// vanished meanwhile is found out by the probe, and its query is cancelled on the node
/// instead of running to its end (pgpool-II 4.3.5 probes and logs the same, but leaves the
/// query running). Raw mode and streaming mode side by side.
#[test]
fn a_client_waiting_over_30_s_is_probed_and_a_vanished_ones_query_cancelled() {
    within(
        TEST_BOUND,
        "a_client_waiting_over_30_s_is_probed_and_a_vanished_ones_query_cancelled",
        || {
            let cluster = shared_sr_cluster();
            let daemons = [Daemon::start(cluster, ""), lb_node1(cluster)];
            let ports: Vec<u16> = daemons.iter().map(|d| d.port()).collect();
            let runs: Vec<_> = ports
                .into_iter()
                .enumerate()
                .map(|(i, port)| {
                    std::thread::spawn(move || {
                        let app = unique(&format!("rt_probe_gone{i}"));
                        let (mut gone, _) =
                            Wire::login(port, SUPERUSER, "postgres", &[("application_name", &app)]);
                        gone.send(&frames::query("SELECT pg_sleep(120)"));
                        let (mut w, _) = Wire::login(port, SUPERUSER, "postgres", &[]);
                        w.set_read_timeout(Duration::from_secs(60));
                        w.send(&frames::query("SELECT 1 FROM pg_sleep(33)"));
                        let running = |app: &str| -> usize {
                            (0..3)
                                .map(|n| {
                                    cluster
                                        .psql(
                                            n,
                                            &format!(
                                                "SELECT count(*) FROM pg_stat_activity \
                                                 WHERE application_name = '{app}' AND state = 'active'"
                                            ),
                                        )
                                        .parse::<usize>()
                                        .expect("a count")
                                })
                                .sum()
                        };
                        crate::support::wait_until(Duration::from_secs(10), "pg_sleep(120) to run", || {
                            running(&app) == 1
                        })
                        .unwrap_or_else(|e| panic!("{e}"));
                        gone.abort();
                        let probe = w.read();
                        assert_eq!(probe.tag, b'S', "{probe:?}");
                        assert_eq!(probe.strings(), ["pgpool_dummy_param", "pgpool_dummy_value"]);
                        let msgs = significant(w.read_until_ready());
                        assert_eq!(tags(&msgs), "TDCZ", "{msgs:?}");
                        // the probe found the other client gone (at 30 s, not at 120)
                        crate::support::wait_until(Duration::from_secs(15), "the vanished client's query to be cancelled", || {
                            running(&app) == 0
                        })
                        .unwrap_or_else(|e| panic!("{e}"));
                        w.send(&frames::terminate());
                    })
                })
                .collect();
            for (run, d) in runs.into_iter().zip(&daemons) {
                if run.join().is_err() {
                    panic!("see above; daemon log:\n{}", tail(&d.log(), 40));
                }
                // pgpool's words (its typo included)
                d.wait_log("ERROR:  unable to to flush data to frontend\n");
                d.wait_log("DETAIL:  frontend error occurred while waiting for backend reply\n");
            }
        },
    )
}

/// LISTEN in one session, NOTIFY (simple) and pg_notify (extended) in another, both through the
/// daemon: the listener gets both (§9.4).
#[test]
fn listen_notify_across_sessions() {
    within(TEST_BOUND, "listen_notify_across_sessions", || {
        let cluster = shared_sr_cluster();
        let d = lb_node1(cluster);
        let ch = unique("rt_ch");
        let mut listener = d.client(SUPERUSER, "postgres");
        listener
            .batch_execute(&format!("LISTEN {ch}"))
            .expect("LISTEN");
        let mut talker = d.client(SUPERUSER, "postgres");
        talker
            .batch_execute(&format!("NOTIFY {ch}, 'one'"))
            .expect("NOTIFY");
        talker
            .execute("SELECT pg_notify($1, $2)", &[&ch, &"two"])
            .expect("pg_notify");
        let got = notifications(&mut listener, 2, Duration::from_secs(10));
        assert_eq!(
            got,
            [
                (ch.clone(), "one".to_string()),
                (ch.clone(), "two".to_string())
            ]
        );
    })
}

/// DECLARE / FETCH inside a transaction run on the primary (§9.5), in both protocols.
#[test]
fn cursors_run_on_the_primary() {
    within(TEST_BOUND, "cursors_run_on_the_primary", || {
        let cluster = shared_sr_cluster();
        let d = lb_node1(cluster);
        let mut c = d.client(SUPERUSER, "postgres");
        let mut tx = c.transaction().expect("BEGIN");
        tx.batch_execute(
            "DECLARE rt_cur CURSOR FOR SELECT inet_server_port() FROM generate_series(1, 3)",
        )
        .expect("DECLARE");
        let rows = tx
            .query("FETCH 2 FROM rt_cur", &[])
            .expect("FETCH (extended)");
        let ports: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(ports, [i32::from(cluster.port(0)); 2]);
        let simple = tx
            .simple_query("FETCH 1 FROM rt_cur")
            .expect("FETCH (simple)");
        let port = simple
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .expect("a row");
        assert_eq!(port, cluster.port(0).to_string());
        tx.batch_execute("CLOSE rt_cur").expect("CLOSE");
        tx.commit().expect("COMMIT");
    })
}

/// A temporary table used across statements, in both protocols: always the primary.
#[test]
fn temporary_tables_across_statements() {
    within(TEST_BOUND, "temporary_tables_across_statements", || {
        let cluster = shared_sr_cluster();
        let d = lb_node1(cluster);
        let mut c = d.client(SUPERUSER, "postgres");
        c.batch_execute("CREATE TEMP TABLE rt_tmp (i int)")
            .expect("CREATE TEMP TABLE");
        c.execute("INSERT INTO rt_tmp VALUES ($1)", &[&7i32])
            .expect("INSERT");
        let row = c
            .query_one("SELECT inet_server_port(), count(*)::int FROM rt_tmp", &[])
            .expect("SELECT (extended)");
        let (port, n): (i32, i32) = (row.get(0), row.get(1));
        assert_eq!((port, n), (i32::from(cluster.port(0)), 1));
        assert_eq!(
            served_by(&mut c, cluster, "SELECT inet_server_port() FROM rt_tmp"),
            0
        );
        assert_eq!(
            served_by(&mut c, cluster, "SELECT inet_server_port()"),
            1,
            "other reads are still balanced"
        );
    })
}

/// Statement logging of extended-protocol messages as pgpool-II 4.3.5 writes it:
/// `log_per_node_statement` gives `Parse: <text>`, `Bind: <text>`, `Execute: <text>`,
/// `D message` and `C message` per node, the message's main node first; `log_statement` gives
/// the statement text once per Execute. A Flush reaches only nodes with extended messages in
/// flight, so an unused standby is not reset at the end.
#[test]
fn extended_messages_are_logged_per_node_as_pgpool_logs_them() {
    within(
        TEST_BOUND,
        "extended_messages_are_logged_per_node_as_pgpool_logs_them",
        || {
            let cluster = shared_sr_cluster();
            let (db, _cleanup) = scratch_database(cluster, "rt_ext_log");
            let d = Daemon::start_streaming(
                cluster,
                &format!(
                    "{}num_init_children = 1\nlog_statement = on\nlog_per_node_statement = on\n",
                    weights(&[0, 1, 0])
                ),
            );
            let (mut w, _) = Wire::login(d.port(), SUPERUSER, &db, &[]);
            let msgs = round(
                &mut w,
                &[
                    frames::parse("rt_s9", "SELECT 9"),
                    frames::describe(b'S', "rt_s9"),
                    frames::bind("rt_p9", "rt_s9", &[]),
                    frames::describe(b'P', "rt_p9"),
                    frames::execute("rt_p9"),
                    frames::close(b'P', "rt_p9"),
                    frames::close(b'S', "rt_s9"),
                    frames::flush(),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "1tT2TDC33Z", "{msgs:?}");
            w.send(&frames::terminate());
            let want = [
                "DB node id: 1 statement: Parse: SELECT 9",
                "DB node id: 1 statement: D message",
                "DB node id: 1 statement: Bind: SELECT 9",
                "DB node id: 1 statement: D message",
                "statement: SELECT 9",
                "DB node id: 1 statement: Execute: SELECT 9",
                "DB node id: 1 statement: C message",
                "DB node id: 0 statement: C message",
                "DB node id: 1 statement: C message",
                "DB node id: 0 statement: C message",
                "statement: DISCARD ALL",
                "DB node id: 0 statement: DISCARD ALL",
                "DB node id: 1 statement: DISCARD ALL",
            ];
            // the statement lines of the log, without timestamps and backend pids (and without
            // pgpool-II's own catalog queries, which pgpool-rs does not log)
            let lines = || -> Vec<String> {
                d.log()
                    .lines()
                    .filter_map(|l| l.split_once("LOG:  ").map(|(_, m)| m))
                    .filter(|m| m.starts_with("statement: ") || m.starts_with("DB node id: "))
                    .filter(|m| !m.ends_with("statement: SELECT version()"))
                    .map(
                        |m| match (m.find(" backend pid: "), m.find(" statement: ")) {
                            (Some(a), Some(b)) if a < b => format!("{}{}", &m[..a], &m[b..]),
                            _ => m.to_string(),
                        },
                    )
                    .collect()
            };
            crate::support::wait_until(Duration::from_secs(10), "the reset in the log", || {
                lines().len() >= want.len()
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
            assert_eq!(lines(), want, "{}", d.log());
        },
    )
}

/// A group whose implicit transaction fails to commit at Sync on one node only (a deferred
/// foreign key on the primary, the group's SELECT on the standby): the client gets the error
/// and ReadyForQuery, as from PostgreSQL, and the session goes on. (pgpool-II 4.3.5 drops the
/// error, so the client believes the INSERT committed; pgpool-rs ended the session with a kind
/// mismatch.)
#[test]
fn an_error_at_sync_on_one_node_reaches_the_client_and_the_session_goes_on() {
    within(
        TEST_BOUND,
        "an_error_at_sync_on_one_node_reaches_the_client_and_the_session_goes_on",
        || {
            let cluster = shared_sr_cluster();
            let (p, c) = (unique("dfk_p"), unique("dfk_c"));
            let _cleanup = Cleanup::new(cluster, format!("DROP TABLE IF EXISTS {c}, {p}"));
            cluster.psql(
                0,
                &format!(
                    "CREATE TABLE {p} (id int PRIMARY KEY); \
                     CREATE TABLE {c} (pid int REFERENCES {p} DEFERRABLE INITIALLY DEFERRED)"
                ),
            );
            let d = lb_node1(cluster);
            let mut w = login(&d);
            let msgs = round(
                &mut w,
                &[
                    frames::parse("", "SELECT inet_server_port()"),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::parse("", &format!("INSERT INTO {c} VALUES (42)")),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "12DC12CEZ", "{msgs:?}\n{}", tail(&d.log(), 20));
            assert_eq!(row_node(cluster, &msgs[2]), 1, "the SELECT's node");
            assert_eq!(msgs[7].fields()[&'C'], "23503", "{msgs:?}");
            assert_eq!(msgs[8].body, b"I");
            let msgs = round(&mut w, &[frames::query("SELECT 1")]);
            assert_eq!(tags(&msgs), "TDCZ", "{msgs:?}");
            // the write first, the read last: the error comes from a node that is not the
            // group's last
            let msgs = round(
                &mut w,
                &[
                    frames::parse("", &format!("INSERT INTO {c} VALUES (43)")),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::parse("", "SELECT inet_server_port()"),
                    frames::bind("", "", &[]),
                    frames::execute(""),
                    frames::sync(),
                ],
            );
            assert_eq!(tags(&msgs), "12C12DCEZ", "{msgs:?}\n{}", tail(&d.log(), 20));
            assert_eq!(row_node(cluster, &msgs[5]), 1, "the SELECT's node");
            assert_eq!(msgs[7].fields()[&'C'], "23503", "{msgs:?}");
            let msgs = round(&mut w, &[frames::query("SELECT 1")]);
            assert_eq!(tags(&msgs), "TDCZ", "{msgs:?}");
            w.send(&frames::terminate());
            assert_eq!(cluster.psql(0, &format!("SELECT count(*) FROM {c}")), "0");
        },
    )
}
