//! Random extended-protocol pipelines through the daemon in streaming-replication mode, each
//! answered exactly as PostgreSQL answers it directly (spec/extended-protocol.md, the part where
//! pgpool-II users meet hangs). A seeded generator writes rounds of Parse / Bind / Describe /
//! Execute (some with a row limit, so portals suspend) / Close, ended by a Sync, some with a Flush
//! first that must be answered before the Sync is sent, and now and then a simple Query between
//! them (as pgJDBC sends its autosave SAVEPOINT); the statements read, write, fail at Parse, Bind
//! or Execute, open and end transactions and savepoints, and call a writing function.
//! Every round goes to a direct connection to the primary and to a session through the daemon,
//! and the two answers must match message for message: kinds, command tags, SQLSTATEs, rows,
//! transaction states. The daemon sends reads to the standbys, writes and everything after a
//! write in a transaction to the primary, and re-parses on the primary what it parsed on a
//! standby (§6), so every round crosses nodes.
//!
//! Explicit cases beside it: a failed pipeline leaves no write behind on any node, simple queries
//! between extended messages (pgJDBC's autosave), and `dml_adaptive` runs each Bind of a named
//! statement on one node.
//!
//! `PGRS_PIPELINE_SEEDS=7,8` and `PGRS_PIPELINE_ROUNDS=N` run other seeds or longer runs,
//! `PGRS_PIPELINE_TRACE=1` prints each round, `PGRS_PIPELINE_CONF` adds pgpool.conf lines (for
//! example `log_per_node_statement = on`); a failure names the seed and the round and prints
//! both answers. The default run is seeds 1–6, 150 rounds each; seeds 1–24 have agreed over 400.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support::cluster::{shared_sr_cluster, Cluster, SUPERUSER};
use crate::support::daemon::Daemon;
use crate::support::frames::{self, Message, Wire};
use crate::support::rng::Rng;
use crate::support::sr::{scratch_database, weights, within};
use crate::support::tail;

const TEST_BOUND: Duration = Duration::from_secs(300);
/// How long a direct connection to PostgreSQL may stay silent before its answer to a Flush is
/// taken as complete (it answers at once; loopback).
const FLUSH_IDLE: Duration = Duration::from_millis(150);
const DEFAULT_SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];
const DEFAULT_ROUNDS: usize = 150;

/// The statements the generator draws from: their text (`{t}` is the test's table) and the
/// number of parameters. Each answer is the same on every node and in every run, whatever the
/// table holds, so a direct session and a session through the daemon must get the same bytes.
const STATEMENTS: &[(&str, usize)] = &[
    ("SELECT $1::int + 1", 1),
    ("SELECT 'v' || $1::text AS label", 1),
    ("SELECT generate_series(1, $1::int) AS n", 1),
    ("SELECT count(*) >= 0 FROM {t} WHERE i <> $1::int", 1),
    ("SELECT 1 / ($1::int - $1::int)", 1),
    ("SELECT i FROM {t} WHERE i = -$1::int FOR UPDATE", 1),
    ("SELECT nextval('{t}_seq') > 0", 0),
    ("INSERT INTO {t} VALUES ($1::int)", 1),
    ("UPDATE {t} SET i = i WHERE i < -$1::int", 1),
    (
        "WITH w AS (INSERT INTO {t} VALUES ($1::int) RETURNING i) SELECT count(*) FROM w",
        1,
    ),
    ("SELEC $1", 1),
    ("SELECT * FROM {t}_missing", 0),
    ("BEGIN", 0),
    ("COMMIT", 0),
    ("ROLLBACK", 0),
    ("SAVEPOINT sp", 0),
    ("ROLLBACK TO SAVEPOINT sp", 0),
    ("SET statement_timeout = 0", 0),
];

/// Simple queries sent between the extended messages of a round, as pgJDBC sends its autosave
/// SAVEPOINT: PostgreSQL runs each after the messages before it (ending their implicit
/// transaction), or skips it when one of them failed.
const QUERIES: &[&str] = &[
    "SELECT 2 AS two",
    "SELECT count(*) >= 0 FROM {t}",
    "INSERT INTO {t} VALUES (9)",
    "SELECT 1 / 0",
    "BEGIN",
    "COMMIT",
    "SAVEPOINT sp",
    "SELECT 3; SELECT 4",
];

const STATEMENT_NAMES: [&str; 3] = ["", "s1", "s2"];
const PORTAL_NAMES: [&str; 2] = ["", "p1"];

/// One round: the messages before an optional Flush, and those after it (ending with Sync).
/// `queries`: whether a simple query is among them (then more than one ReadyForQuery may come).
struct Round {
    before_flush: Option<Vec<Vec<u8>>>,
    rest: Vec<Vec<u8>>,
    text: String,
    queries: bool,
}

/// Writes rounds, remembering how many parameters each statement name was last parsed with, so
/// that Binds mostly supply the right number (a wrong one is an error on both sides alike).
struct Generator {
    rng: Rng,
    table: String,
    params: [usize; STATEMENT_NAMES.len()],
}

impl Generator {
    fn new(seed: u64, table: &str) -> Generator {
        Generator {
            rng: Rng::new(seed),
            table: table.to_string(),
            params: [0; STATEMENT_NAMES.len()],
        }
    }

    fn round(&mut self) -> Round {
        let mut msgs = Vec::new();
        let mut text = String::new();
        for _ in 0..1 + self.rng.below(6) {
            self.action(&mut msgs, &mut text);
        }
        let before_flush = if self.rng.chance(12) {
            msgs.push(frames::flush());
            text.push_str("Flush | ");
            let first = std::mem::take(&mut msgs);
            if self.rng.chance(50) {
                self.action(&mut msgs, &mut text);
            }
            Some(first)
        } else {
            None
        };
        msgs.push(frames::sync());
        text.push_str("Sync");
        Round {
            queries: text.contains("Query("),
            before_flush,
            rest: msgs,
            text,
        }
    }

    fn parse(&mut self, msgs: &mut Vec<Vec<u8>>, text: &mut String) -> usize {
        let (sql, n) = *self.rng.pick(STATEMENTS);
        let sql = sql.replace("{t}", &self.table);
        let s = self.rng.below(STATEMENT_NAMES.len());
        self.params[s] = n;
        msgs.push(frames::parse(STATEMENT_NAMES[s], &sql));
        let _ = write!(text, "Parse({:?}, {sql:?}) ", STATEMENT_NAMES[s]);
        s
    }

    fn bind(&mut self, s: usize, msgs: &mut Vec<Vec<u8>>, text: &mut String) -> &'static str {
        let portal = *self.rng.pick(&PORTAL_NAMES);
        let value = (1 + self.rng.below(4)).to_string();
        let params: Vec<&str> = (0..self.params[s]).map(|_| value.as_str()).collect();
        msgs.push(frames::bind(portal, STATEMENT_NAMES[s], &params));
        let _ = write!(
            text,
            "Bind({portal:?}, {:?}, {params:?}) ",
            STATEMENT_NAMES[s]
        );
        portal
    }

    fn execute(&mut self, portal: &str, msgs: &mut Vec<Vec<u8>>, text: &mut String) {
        let rows = if self.rng.chance(25) { 1 } else { 0 };
        msgs.push(frames::execute_rows(portal, rows));
        let _ = write!(text, "Execute({portal:?}, {rows}) ");
    }

    fn describe(&mut self, kind: u8, name: &str, msgs: &mut Vec<Vec<u8>>, text: &mut String) {
        msgs.push(frames::describe(kind, name));
        let _ = write!(text, "Describe({}, {name:?}) ", kind as char);
    }

    fn action(&mut self, msgs: &mut Vec<Vec<u8>>, text: &mut String) {
        if self.rng.chance(3) {
            let sql = self.rng.pick(QUERIES).replace("{t}", &self.table);
            msgs.push(frames::query(&sql));
            let _ = write!(text, "Query({sql:?}) ");
            return;
        }
        match self.rng.below(10) {
            // the usual unit: Parse, Bind, perhaps Describe, Execute
            0..=4 => {
                let s = self.parse(msgs, text);
                if self.rng.chance(20) {
                    self.describe(b'S', STATEMENT_NAMES[s], msgs, text);
                }
                let portal = self.bind(s, msgs, text);
                if self.rng.chance(30) {
                    self.describe(b'P', portal, msgs, text);
                }
                self.execute(portal, msgs, text);
            }
            // a statement parsed earlier (perhaps on another node, perhaps gone), run again
            5 | 6 => {
                let s = self.rng.below(STATEMENT_NAMES.len());
                let portal = self.bind(s, msgs, text);
                self.execute(portal, msgs, text);
            }
            // a portal run further (suspended or not, perhaps gone)
            7 => {
                let portal = *self.rng.pick(&PORTAL_NAMES);
                self.execute(portal, msgs, text);
            }
            // Parse alone, perhaps described
            8 => {
                let s = self.parse(msgs, text);
                if self.rng.chance(50) {
                    self.describe(b'S', STATEMENT_NAMES[s], msgs, text);
                }
            }
            _ => {
                let kind = if self.rng.chance(50) { b'S' } else { b'P' };
                let name = if kind == b'S' {
                    *self.rng.pick(&STATEMENT_NAMES)
                } else {
                    *self.rng.pick(&PORTAL_NAMES)
                };
                msgs.push(frames::close(kind, name));
                let _ = write!(text, "Close({}, {name:?}) ", kind as char);
            }
        }
    }
}

/// What must be equal in the two answers, one line per message. Notices and ParameterStatus are
/// left out (pgpool may forward either once per node). pgpool answers a Bind of a statement it
/// never saw itself, with SQLSTATE XX000 where PostgreSQL says 26000 and the same text.
fn comparable(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.tag != b'N' && m.tag != b'S')
        .map(|m| match m.tag {
            b'E' => {
                let f = m.fields();
                let mut code = f.get(&'C').cloned().unwrap_or_default();
                let text = f.get(&'M').cloned().unwrap_or_default();
                if code == "XX000"
                    && text.contains("prepared statement")
                    && text.ends_with("does not exist")
                {
                    code = "26000".to_string();
                }
                format!("E {code} {text}")
            }
            b'C' => format!("C {}", m.strings().join("")),
            b'D' => format!("D {:?}", m.data_row()),
            b'Z' => format!("Z {}", m.body[0] as char),
            b'T' | b't' => format!("{} {:?}", m.tag as char, m.body),
            tag => (tag as char).to_string(),
        })
        .collect()
}

/// Messages up to `n` significant ones (Notices and ParameterStatus not counted); `Err` with
/// what came and why the rest did not.
fn read_significant(w: &mut Wire, n: usize) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        match w.try_read() {
            Ok(Some(m)) => {
                if m.tag != b'N' && m.tag != b'S' {
                    seen += 1;
                }
                out.push(m);
            }
            Ok(None) => return Err(format!("connection closed after {:?}", comparable(&out))),
            Err(e) => return Err(format!("{e} after {:?}", comparable(&out))),
        }
    }
    Ok(out)
}

/// Messages up to ReadyForQuery; `Err` with what came and why the rest did not.
fn read_ready(w: &mut Wire) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    loop {
        match w.try_read() {
            Ok(Some(m)) => {
                let done = m.tag == b'Z';
                out.push(m);
                if done {
                    return Ok(out);
                }
            }
            Ok(None) => return Err(format!("connection closed after {:?}", comparable(&out))),
            Err(e) => return Err(format!("{e} after {:?}", comparable(&out))),
        }
    }
}

/// Run the generator's rounds for `seed` against PostgreSQL directly and through `d`, comparing
/// each answer.
fn compare_seed(cluster: &Cluster, d: &Daemon, db: &str, table: &str, seed: u64, rounds: usize) {
    let mut direct = Wire::login(cluster.port(0), SUPERUSER, db, &[]).0;
    let mut pooled = Wire::login(d.port(), SUPERUSER, db, &[]).0;
    let mut gen = Generator::new(seed, table);
    for n in 0..rounds {
        let round = gen.round();
        if std::env::var_os("PGRS_PIPELINE_TRACE").is_some() {
            eprintln!("seed {seed}, round {n}: {}", round.text);
        }
        let mut want = Vec::new();
        let mut got = Vec::new();
        if let Some(first) = &round.before_flush {
            direct.send(&first.concat());
            want = direct.read_idle(FLUSH_IDLE);
            pooled.send(&first.concat());
            let count = comparable(&want).len();
            got = read_significant(&mut pooled, count).unwrap_or_else(|e| {
                panic!(
                    "seed {seed}, round {n}: {}\n  PostgreSQL answered the Flush with {:?}\n  through pgpool: {e}\n--- daemon log ---\n{}",
                    round.text,
                    comparable(&want),
                    tail(&d.log(), 40 + 400 * usize::from(std::env::var_os("PGRS_PIPELINE_TRACE").is_some()))
                )
            });
        }
        direct.send(&round.rest.concat());
        let before = comparable(&want).len();
        want.extend(direct.read_until_ready());
        if round.queries {
            // a ReadyForQuery per simple query run, then the Sync's
            want.extend(direct.read_idle(FLUSH_IDLE));
        }
        pooled.send(&round.rest.concat());
        let answer = if round.queries {
            read_significant(&mut pooled, comparable(&want).len() - before)
        } else {
            read_ready(&mut pooled)
        };
        match answer {
            Ok(msgs) => got.extend(msgs),
            Err(e) => panic!(
                "seed {seed}, round {n}: {}\n  PostgreSQL:   {:?}\n  through pgpool: {:?}, then {e}\n--- daemon log ---\n{}",
                round.text,
                comparable(&want),
                comparable(&got),
                tail(&d.log(), 40 + 400 * usize::from(std::env::var_os("PGRS_PIPELINE_TRACE").is_some()))
            ),
        }
        let (want, got) = (comparable(&want), comparable(&got));
        if std::env::var_os("PGRS_PIPELINE_TRACE").is_some() {
            eprintln!("  answered: {want:?}");
        }
        assert!(
            want == got,
            "seed {seed}, round {n}: {}\n  PostgreSQL:   {want:?}\n  through pgpool: {got:?}\n--- daemon log ---\n{}",
            round.text,
            tail(&d.log(), 40 + 400 * usize::from(std::env::var_os("PGRS_PIPELINE_TRACE").is_some()))
        );
    }
    // leave no transaction open in either session
    for w in [&mut direct, &mut pooled] {
        w.send(&frames::query("ROLLBACK"));
        w.read_until_ready();
        w.send(&frames::terminate());
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("PGRS_PIPELINE_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("PGRS_PIPELINE_SEEDS: numbers"))
            .collect(),
        Err(_) => DEFAULT_SEEDS.to_vec(),
    }
}

fn rounds() -> usize {
    std::env::var("PGRS_PIPELINE_ROUNDS")
        .map(|n| n.parse().expect("PGRS_PIPELINE_ROUNDS: a number"))
        .unwrap_or(DEFAULT_ROUNDS)
}

/// A scratch database (dropped with the guard) where `ddl` ran, replayed on the standbys.
fn scratch_table<'a>(
    cluster: &'a Cluster,
    prefix: &str,
    ddl: &str,
) -> (String, crate::support::sr::Cleanup<'a>) {
    let (db, cleanup) = scratch_database(cluster, prefix);
    cluster
        .psql_as(0, SUPERUSER, None, &db, ddl)
        .expect("the test's tables");
    cluster.wait_replayed();
    (db, cleanup)
}

/// Every seed's rounds through a daemon started with `extra_conf`.
fn run(name: &'static str, extra_conf: String) {
    within(TEST_BOUND, name, move || {
        let cluster = shared_sr_cluster();
        let table = "rp_t";
        let (db, _drop) = scratch_table(
            cluster,
            "rp",
            &format!("CREATE TABLE {table} (i int); CREATE SEQUENCE {table}_seq"),
        );
        let extra_conf = format!(
            "{extra_conf}{}",
            std::env::var("PGRS_PIPELINE_CONF").unwrap_or_default()
        );
        let d = Daemon::start_streaming(cluster, &extra_conf);
        for seed in seeds() {
            compare_seed(cluster, &d, &db, table, seed, rounds());
        }
    })
}

/// Every read on standby 1 unless the transaction wrote: Parse on the standby, re-Parse on the
/// primary, Sync to both.
#[test]
fn random_pipelines_answer_as_postgresql_with_reads_on_a_standby() {
    run(
        "random_pipelines_answer_as_postgresql_with_reads_on_a_standby",
        weights(&[0, 1, 0]),
    )
}

/// Each statement's own load-balance node over the three nodes, and `dml_adaptive`: in a
/// transaction, only reads of the table it wrote stay on the primary.
#[test]
fn random_pipelines_answer_as_postgresql_with_statement_level_balancing() {
    run(
        "random_pipelines_answer_as_postgresql_with_statement_level_balancing",
        weights(&[1, 1, 1])
            + "statement_level_load_balance = on\n"
            + "disable_load_balance_on_write = dml_adaptive\n",
    )
}

/// One Parse, Bind and Execute of `sql` on the unnamed statement and portal.
fn pbe(sql: &str) -> Vec<u8> {
    [
        frames::parse("", sql),
        frames::bind("", "", &[]),
        frames::execute(""),
    ]
    .concat()
}

/// Messages up to ReadyForQuery, minus notices and ParameterStatus.
fn answer(w: &mut Wire) -> Vec<Message> {
    w.read_until_ready()
        .into_iter()
        .filter(|m| m.tag != b'N' && m.tag != b'S')
        .collect()
}

/// A pipeline whose INSERT runs on the primary and whose next statement fails on a standby,
/// then Sync: PostgreSQL rolls the whole group back, so the row must not be there (pgpool-II
/// commits it on the primary). Run in and outside a transaction block.
#[test]
fn a_failed_pipeline_rolls_back_its_writes_on_every_node() {
    within(
        TEST_BOUND,
        "a_failed_pipeline_rolls_back_its_writes_on_every_node",
        || {
            let cluster = shared_sr_cluster();
            let (db, _drop) = scratch_table(cluster, "rpa", "CREATE TABLE rpa_t (i int)");
            // reads after the INSERT stay load balanced, in the transaction block too
            let d = Daemon::start_streaming(
                cluster,
                &(weights(&[0, 1, 0]) + "disable_load_balance_on_write = off\n"),
            );
            let mut w = Wire::login(d.port(), SUPERUSER, &db, &[]).0;
            // a stable function is not folded at plan time: the division fails in Execute,
            // on standby 1 where the read goes
            let failing = "SELECT 1 / (inet_server_port() - inet_server_port())";
            // outside a transaction block the volatility of inet_server_port() is not asked
            // mid-pipeline (the internal query's Sync would commit the INSERT) and an unknown
            // function keeps a read on the primary: one read first puts the answer in the
            // child's catalog cache
            w.send(&[pbe("SELECT inet_server_port()"), frames::sync()].concat());
            let tags: String = answer(&mut w).iter().map(|m| m.tag as char).collect();
            assert_eq!(tags, "12DCZ");
            w.send(
                &[
                    pbe("INSERT INTO rpa_t VALUES (1)"),
                    pbe(failing),
                    frames::sync(),
                ]
                .concat(),
            );
            let msgs = answer(&mut w);
            let tags: String = msgs.iter().map(|m| m.tag as char).collect();
            assert_eq!(tags, "12C12EZ", "{msgs:?}");
            assert_eq!(msgs[5].fields()[&'C'], "22012", "{msgs:?}");
            assert_eq!(msgs[6].body, b"I");
            // in the transaction block the read waits for BEGIN's and INSERT's replies, then
            // the isolation level is asked and it goes to standby 1 all the same
            w.send(
                &[
                    pbe("BEGIN"),
                    pbe("INSERT INTO rpa_t VALUES (2)"),
                    pbe(failing),
                    frames::sync(),
                ]
                .concat(),
            );
            let msgs = answer(&mut w);
            let tags: String = msgs.iter().map(|m| m.tag as char).collect();
            assert_eq!(tags, "12C12C12EZ", "{msgs:?}");
            assert_eq!(msgs[9].body, b"E", "the transaction block is aborted");
            w.send(&pbe("COMMIT"));
            w.send(&frames::sync());
            let msgs = answer(&mut w);
            assert_eq!(
                msgs.iter()
                    .find(|m| m.tag == b'C')
                    .map(|m| m.strings().join("")),
                Some("ROLLBACK".to_string()),
                "COMMIT of an aborted transaction rolls back: {msgs:?}"
            );
            // the errors counted are the two divisions on standby 1, not pgpool's own aborts
            // of the primary's part
            w.send(&frames::query("SHOW pool_backend_stats"));
            let errors: Vec<String> = answer(&mut w)
                .iter()
                .filter(|m| m.tag == b'D')
                .map(|m| m.data_row()[13].clone().unwrap_or_default())
                .collect();
            assert_eq!(errors, ["0", "2", "0"], "error_cnt per node");
            w.send(&frames::terminate());
            let rows = cluster
                .psql_as(0, SUPERUSER, None, &db, "SELECT count(*) FROM rpa_t")
                .expect("count");
            assert_eq!(rows.trim(), "0", "no write of a failed group is left");
        },
    )
}

/// Tags of the significant messages up to the next ReadyForQuery, and that ReadyForQuery's
/// transaction state.
fn tags_and_state(w: &mut Wire) -> (String, char) {
    let msgs = answer(w);
    let state = msgs.last().map_or('?', |m| m.body[0] as char);
    (msgs.iter().map(|m| m.tag as char).collect(), state)
}

/// A simple query between extended messages, before their Sync: pgJDBC with `autosave` sends
/// its SAVEPOINT so, right after the unsynced BEGIN of a transaction. PostgreSQL runs it after
/// them (pgpool-II ends the session), skips it when one of them failed, and commits or rolls
/// back the implicit transaction they opened with it, on every node.
#[test]
fn simple_queries_between_extended_messages_run_as_in_postgresql() {
    within(
        TEST_BOUND,
        "simple_queries_between_extended_messages_run_as_in_postgresql",
        || {
            let cluster = shared_sr_cluster();
            let (db, _drop) = scratch_table(cluster, "rpq", "CREATE TABLE rpq_t (i int)");
            let d = Daemon::start_streaming(
                cluster,
                &(weights(&[0, 1, 0]) + "disable_load_balance_on_write = off\n"),
            );
            let mut w = Wire::login(d.port(), SUPERUSER, &db, &[]).0;
            // pgJDBC, autocommit off, autosave = always
            let insert = "INSERT INTO jdbc_t VALUES (1)";
            w.send(
                &[
                    pbe("BEGIN"),
                    frames::query("SAVEPOINT PGJDBC_AUTOSAVE"),
                    pbe("CREATE TEMP TABLE jdbc_t (i int PRIMARY KEY)"),
                    frames::sync(),
                ]
                .concat(),
            );
            assert_eq!(tags_and_state(&mut w), ("12CCZ".into(), 'T'));
            assert_eq!(tags_and_state(&mut w), ("12CZ".into(), 'T'));
            for (round, want) in [(1, "12CZ"), (2, "12EZ")] {
                w.send(
                    &[
                        frames::query("SAVEPOINT PGJDBC_AUTOSAVE"),
                        pbe(insert),
                        frames::sync(),
                    ]
                    .concat(),
                );
                assert_eq!(tags_and_state(&mut w), ("CZ".into(), 'T'), "round {round}");
                let state = if round == 1 { 'T' } else { 'E' };
                assert_eq!(
                    tags_and_state(&mut w),
                    (want.into(), state),
                    "round {round}"
                );
            }
            w.send(&[pbe("ROLLBACK TO SAVEPOINT PGJDBC_AUTOSAVE"), frames::sync()].concat());
            assert_eq!(tags_and_state(&mut w), ("12CZ".into(), 'T'));
            // after a failed message the query is skipped with the rest up to Sync: its
            // savepoint never exists
            w.send(
                &[
                    pbe(insert),
                    frames::query("SAVEPOINT skipped"),
                    frames::sync(),
                ]
                .concat(),
            );
            assert_eq!(tags_and_state(&mut w), ("12EZ".into(), 'E'));
            w.send(&frames::query("ROLLBACK TO SAVEPOINT PGJDBC_AUTOSAVE"));
            assert_eq!(tags_and_state(&mut w), ("CZ".into(), 'T'));
            w.send(&frames::query("RELEASE SAVEPOINT skipped"));
            let msgs = answer(&mut w);
            assert_eq!(msgs[0].fields()[&'C'], "3B001", "{msgs:?}");
            w.send(&frames::query("ROLLBACK"));
            assert_eq!(tags_and_state(&mut w), ("CZ".into(), 'I'));
            // outside a transaction block: the INSERT runs on the primary, the query on
            // standby 1; its end commits the INSERT, or rolls it back when it fails (the
            // volatility of inet_server_port() is put in the cache first: the primary is not
            // asked while its implicit transaction is open)
            w.send(&frames::query("SELECT inet_server_port()"));
            assert_eq!(tags_and_state(&mut w), ("TDCZ".into(), 'I'));
            for (n, query, want) in [
                (2, "SELECT 2", "TDCZ"),
                (3, "SELECT 1 / 0", "EZ"),
                (4, "SELECT inet_server_port()", "TDCZ"),
            ] {
                w.send(
                    &[
                        pbe(&format!("INSERT INTO rpq_t VALUES ({n})")),
                        frames::query(query),
                        frames::sync(),
                    ]
                    .concat(),
                );
                let msgs = answer(&mut w);
                let tags: String = msgs.iter().map(|m| m.tag as char).collect();
                assert_eq!(tags, format!("12C{want}"), "{query}: {msgs:?}");
                if n == 4 {
                    assert_eq!(
                        msgs[4].data_row()[0].as_deref(),
                        Some(cluster.port(1).to_string().as_str()),
                        "the query goes to standby 1"
                    );
                }
                assert_eq!(tags_and_state(&mut w), ("Z".into(), 'I'), "{query}: Sync");
            }
            w.send(&frames::terminate());
            let rows = cluster
                .psql_as(
                    0,
                    SUPERUSER,
                    None,
                    &db,
                    "SELECT string_agg(i::text, ',' ORDER BY i) FROM rpq_t",
                )
                .expect("rows");
            assert_eq!(
                rows.trim(),
                "2,4",
                "the INSERT before the failed query is rolled back"
            );
            // in COPY FROM STDIN a Query is a protocol violation PostgreSQL ends the session for
            let mut w = Wire::login(d.port(), SUPERUSER, &db, &[]).0;
            w.send(
                &[
                    pbe("COPY rpq_t FROM STDIN"),
                    frames::copy_data(b"5\n"),
                    frames::query("SELECT 1"),
                    frames::sync(),
                ]
                .concat(),
            );
            let msgs = w.read_to_close().expect("read to the end");
            let codes: Vec<String> = msgs
                .iter()
                .filter(|m| m.tag == b'E')
                .map(|m| m.fields()[&'C'].clone())
                .collect();
            assert_eq!(codes.first().map(String::as_str), Some("08P01"), "{msgs:?}");
        },
    )
}

/// `dml_adaptive` parses a named statement on the primary and the load-balance node; each
/// Bind runs it on one of them: a named INSERT on the primary (pgpool-II runs it on both, and
/// the standby's refusal ends the session with a kind mismatch), a named SELECT on the standby.
#[test]
fn dml_adaptive_named_statements_run_on_one_node() {
    within(
        TEST_BOUND,
        "dml_adaptive_named_statements_run_on_one_node",
        || {
            let cluster = shared_sr_cluster();
            let (db, _drop) = scratch_table(cluster, "rpd", "CREATE TABLE rpd_t (i int)");
            let conf = weights(&[0, 1, 0]) + "disable_load_balance_on_write = dml_adaptive\n";
            let d = Daemon::start_streaming(cluster, &conf);
            let mut w = Wire::login(d.port(), SUPERUSER, &db, &[]).0;
            for _ in 0..2 {
                w.send(
                    &[
                        frames::parse("ins", "INSERT INTO rpd_t VALUES (1)"),
                        frames::bind("", "ins", &[]),
                        frames::execute(""),
                        frames::sync(),
                    ]
                    .concat(),
                );
                let msgs = answer(&mut w);
                assert!(
                    msgs.iter()
                        .any(|m| m.tag == b'C' && m.strings().join("") == "INSERT 0 1"),
                    "{msgs:?}\n{}",
                    tail(&d.log(), 20)
                );
                w.send(
                    &[
                        frames::bind("", "ins", &[]),
                        frames::execute(""),
                        frames::sync(),
                    ]
                    .concat(),
                );
                let msgs = answer(&mut w);
                let tags: String = msgs.iter().map(|m| m.tag as char).collect();
                assert_eq!(tags, "2CZ", "{msgs:?}");
                w.send(&[frames::close(b'S', "ins"), frames::sync()].concat());
                answer(&mut w);
            }
            w.send(
                &[
                    frames::parse("sel", "SELECT inet_server_port()"),
                    frames::bind("", "sel", &[]),
                    frames::execute(""),
                    frames::sync(),
                ]
                .concat(),
            );
            let msgs = answer(&mut w);
            let row = msgs.iter().find(|m| m.tag == b'D').expect("a row");
            let port: u16 = row.data_row()[0]
                .as_deref()
                .expect("port")
                .parse()
                .expect("numeric");
            assert_eq!(
                crate::support::sr::node_with_port(cluster, port),
                1,
                "{msgs:?}"
            );
            w.send(&frames::terminate());
            let rows = cluster
                .psql_as(0, SUPERUSER, None, &db, "SELECT count(*) FROM rpd_t")
                .expect("count");
            assert_eq!(rows.trim(), "4");
        },
    )
}
