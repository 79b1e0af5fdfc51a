//! Connection pooling and child processes (spec/architecture.md §3): a child keeps its backend
//! connections between sessions and finds them again by user, database and startup options,
//! evicts the least recently released slot, resets what a session left behind, drops pooled
//! connections that died or aged out, honours `connection_cache`, `child_max_connections`,
//! `reserved_connections` and `client_idle_limit`, and a killed child or backend hurts only its
//! own session.
//!
//! pgpool never keeps pooled connections for the databases postgres, template0, template1 and
//! regression (§3.8), so these tests use databases of their own (`pool_dbs`). Where a test has
//! to know which child serves the next client, the daemon runs a single child.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use postgres::SimpleQueryMessage;

use crate::support::cluster::{shared_cluster, AuthMethod, Cluster, SUPERUSER};
use crate::support::daemon::Daemon;
use crate::support::frames::Wire;
use crate::support::wait_until;

/// Databases the pooling tests connect to (made once on the shared cluster).
pub const DB: &str = "pooltest";
pub const DB2: &str = "pooltest2";
pub const DB3: &str = "pooltest3";
/// A second login role (trusted).
pub const OTHER_USER: &str = "pool_other_user";

const WAIT: Duration = Duration::from_secs(10);

/// The shared cluster with `DB`, `DB2`, `DB3` and `OTHER_USER` made (once per test binary).
pub fn pool_cluster() -> &'static Cluster {
    static READY: OnceLock<()> = OnceLock::new();
    let cluster = shared_cluster();
    READY.get_or_init(|| {
        for db in [DB, DB2, DB3] {
            let exists = cluster.psql(
                0,
                &format!("select count(*) from pg_database where datname = '{db}'"),
            );
            if exists == "0" {
                cluster.psql(0, &format!("create database {db}"));
            }
        }
        cluster.create_role(OTHER_USER, "unused-password", AuthMethod::Trust);
        cluster.psql(
            0,
            &format!("grant all on database {DB}, {DB2}, {DB3} to {OTHER_USER}"),
        );
    });
    cluster
}

/// A client through the daemon with an optional application_name.
pub fn connect(d: &Daemon, user: &str, db: &str, app: Option<&str>) -> postgres::Client {
    let mut config = postgres::Config::new();
    config
        .host(d.host())
        .port(d.port())
        .user(user)
        .dbname(db)
        .connect_timeout(Duration::from_secs(10));
    if let Some(app) = app {
        config.application_name(app);
    }
    config
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect as {user}/{db}: {e:?}\n{}", log_tail(d)))
}

pub fn log_tail(d: &Daemon) -> String {
    format!("--- pgpool.log ---\n{}", crate::support::tail(&d.log(), 30))
}

pub fn backend_pid(client: &mut postgres::Client) -> i32 {
    client
        .query_one("select pg_backend_pid()", &[])
        .expect("select pg_backend_pid()")
        .get(0)
}

/// The backend pid of a whole session: connect, ask, say Terminate.
fn session_pid(d: &Daemon, user: &str, db: &str, app: Option<&str>) -> i32 {
    let mut client = connect(d, user, db, app);
    backend_pid(&mut client)
    // dropping the client sends Terminate: the slot goes back to the pool
}

/// Whether PostgreSQL (node 0) still has a backend with this pid.
pub fn backend_alive(cluster: &Cluster, pid: i32) -> bool {
    cluster.psql(
        0,
        &format!("select count(*) from pg_stat_activity where pid = {pid}"),
    ) == "1"
}

pub fn wait_backend_gone(cluster: &Cluster, pid: i32, d: &Daemon) {
    wait_until(WAIT, &format!("backend {pid} to exit"), || {
        !backend_alive(cluster, pid)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(d)));
}

/// A `SHOW` report as (column names, rows of name → value).
pub fn show(
    client: &mut postgres::Client,
    what: &str,
) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let msgs = client
        .simple_query(&format!("SHOW {what}"))
        .unwrap_or_else(|e| panic!("SHOW {what}: {e}"));
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for m in msgs {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                rows.push(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name().to_string(), row.get(i).unwrap_or("").to_string()))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    (columns, rows)
}

/// Block until the wall clock's second changes: pool slots record release times in seconds.
fn next_second() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
    };
    let start = now();
    wait_until(Duration::from_secs(3), "the next second", || now() > start)
        .expect("the clock moves");
}

#[test]
fn second_session_of_the_same_user_and_database_reuses_the_pooled_backend() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\n");
    let first = session_pid(&d, SUPERUSER, DB, None);
    let mut client = connect(&d, SUPERUSER, DB, None);
    assert_eq!(
        backend_pid(&mut client),
        first,
        "the second session got another backend\n{}",
        log_tail(&d)
    );
    let (_, rows) = show(&mut client, "pool_pools");
    let slot = rows
        .iter()
        .find(|r| r["pool_backendpid"] == first.to_string())
        .unwrap_or_else(|| panic!("no pool_pools row with backend pid {first}: {rows:#?}"));
    assert_eq!(slot["pool_counter"], "2", "{slot:#?}");
    assert_eq!(slot["database"], DB, "{slot:#?}");
    assert_eq!(slot["username"], SUPERUSER, "{slot:#?}");
    assert_eq!(slot["pool_connected"], "1", "{slot:#?}");
}

#[test]
fn another_database_user_or_startup_option_gets_its_own_backend() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\nmax_pool = 4\n");
    let base = session_pid(&d, SUPERUSER, DB, None);
    let other_db = session_pid(&d, SUPERUSER, DB2, None);
    let other_user = session_pid(&d, OTHER_USER, DB, None);
    assert_ne!(other_db, base, "another database shared a backend");
    assert_ne!(other_user, base, "another user shared a backend");
    assert_ne!(other_user, other_db);
    // both are still pooled and found again
    assert_eq!(session_pid(&d, SUPERUSER, DB2, None), other_db);
    assert_eq!(session_pid(&d, OTHER_USER, DB, None), other_user);

    let other_app = session_pid(&d, SUPERUSER, DB, Some("pgrs-other-app"));
    assert_ne!(
        other_app, base,
        "a session with another application_name reused a backend"
    );
    assert_eq!(
        session_pid(&d, SUPERUSER, DB, Some("pgrs-other-app")),
        other_app,
        "the same startup options again should find the new backend\n{}",
        log_tail(&d)
    );
    // The slot with the old options was replaced, not kept beside it (§3.4 step 3).
    wait_backend_gone(cluster, base, &d);
}

#[test]
fn least_recently_released_slot_is_evicted_when_every_slot_is_taken() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\nmax_pool = 2\n");
    let a = session_pid(&d, SUPERUSER, DB, None);
    let b = session_pid(&d, SUPERUSER, DB2, None);
    assert_ne!(a, b);
    // Use `a` again so that it is released after `b`: `b` is now the least recently released
    // although it was created last.
    next_second();
    assert_eq!(session_pid(&d, SUPERUSER, DB, None), a);
    next_second();
    let c = session_pid(&d, SUPERUSER, DB3, None);
    assert!(c != a && c != b, "a third database got a pooled backend");
    wait_backend_gone(cluster, b, &d);
    assert!(
        backend_alive(cluster, a),
        "the recently used slot was evicted\n{}",
        log_tail(&d)
    );
    assert_eq!(session_pid(&d, SUPERUSER, DB, None), a);
    assert_ne!(session_pid(&d, SUPERUSER, DB2, None), b);
}

#[test]
fn reset_keeps_settings_temp_tables_prepared_statements_and_transactions_from_leaking() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\n");
    let default_work_mem = cluster.psql(0, "show work_mem");
    assert_ne!(default_work_mem, "7MB");

    let mut first = connect(&d, SUPERUSER, DB, None);
    let pid = backend_pid(&mut first);
    first
        .batch_execute(
            "SET work_mem = '7MB'; \
             CREATE TEMP TABLE leak_probe (x int); \
             PREPARE leak_stmt AS SELECT 1; \
             BEGIN; \
             SELECT txid_current();",
        )
        .expect("set up the session state");
    assert_eq!(simple_value(&mut first, "SHOW work_mem"), "7MB");
    drop(first); // Terminate inside the open transaction

    let mut second = connect(&d, SUPERUSER, DB, None);
    assert_eq!(
        backend_pid(&mut second),
        pid,
        "the backend was not pooled\n{}",
        log_tail(&d)
    );
    assert_eq!(simple_value(&mut second, "SHOW work_mem"), default_work_mem);
    assert_eq!(
        simple_value(&mut second, "SELECT to_regclass('leak_probe') IS NULL"),
        "t",
        "the temp table survived the session"
    );
    assert_eq!(
        simple_value(
            &mut second,
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'leak_stmt'"
        ),
        "0",
        "the prepared statement survived the session"
    );
    assert_eq!(
        simple_value(
            &mut second,
            "SELECT coalesce(txid_current_if_assigned()::text, 'none')"
        ),
        "none",
        "the new session runs inside the old session's transaction"
    );
}

/// The first column of the first row of a simple query.
pub fn simple_value(client: &mut postgres::Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

#[test]
fn connection_cache_off_opens_a_new_backend_for_every_session() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\nconnection_cache = off\n");
    let first = session_pid(&d, SUPERUSER, DB, None);
    let second = session_pid(&d, SUPERUSER, DB, None);
    assert_ne!(first, second);
    wait_backend_gone(cluster, first, &d);
}

#[test]
fn failed_reset_statement_closes_the_pooled_connection_before_it_is_reused() {
    let cluster = pool_cluster();
    let d = Daemon::start(
        cluster,
        "num_init_children = 1\nreset_query_list = 'ABORT; DISCARD ALL; SELECT 1/0'\n",
    );
    let first = session_pid(&d, SUPERUSER, DB, None);
    // the reset replies are read when the slot is next wanted: this session gets a new backend
    let mut client = connect(&d, SUPERUSER, DB, None);
    let second = backend_pid(&mut client);
    assert_ne!(second, first, "a slot whose reset failed was reused");
    assert_eq!(simple_value(&mut client, "select 40 + 2"), "42");
    drop(client);
    wait_backend_gone(cluster, first, &d);
    assert!(
        d.log()
            .contains("reset query \"SELECT 1/0\" failed; the pooled connection is closed"),
        "{}",
        log_tail(&d)
    );
}

#[test]
fn pooled_backend_terminated_from_outside_is_replaced_on_reuse() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\n");
    let first = session_pid(&d, SUPERUSER, DB, None);
    assert_eq!(
        cluster.psql(0, &format!("select pg_terminate_backend({first})")),
        "t"
    );
    wait_backend_gone(cluster, first, &d);
    let mut client = connect(&d, SUPERUSER, DB, None);
    let second = backend_pid(&mut client);
    assert_ne!(second, first);
    assert_eq!(simple_value(&mut client, "select 40 + 2"), "42");
    // as pgpool logs it
    d.wait_log("LOG:  connection closed.\n");
    d.wait_log("DETAIL:  retry to create new connection pool\n");
}

#[test]
fn connection_life_time_closes_idle_pooled_connections() {
    let cluster = pool_cluster();
    // child_life_time = 0: no 1-s accept ticks, the pool's own timer must wake the child
    let d = Daemon::start(
        cluster,
        "num_init_children = 1\nconnection_life_time = 1\nchild_life_time = 0\n",
    );
    let first = session_pid(&d, SUPERUSER, DB, None);
    // no further client: the child itself has to notice the expiry
    wait_backend_gone(cluster, first, &d);
    let mut client = connect(&d, SUPERUSER, DB, None);
    assert_ne!(backend_pid(&mut client), first);
}

#[test]
fn child_exits_after_child_max_connections_sessions_and_is_replaced() {
    const N: usize = 2;
    let cluster = pool_cluster();
    let d = Daemon::start(
        cluster,
        &format!("num_init_children = 1\nchild_max_connections = {N}\n"),
    );
    let before = d.children_pids();
    // The only child's pid, as seen by each of several sessions in turn.
    let served_by: Vec<u32> = (0..3 * N)
        .map(|_| {
            let mut client = connect(&d, SUPERUSER, DB, None);
            let (_, procs) = show(&mut client, "pool_processes");
            assert_eq!(procs.len(), 1, "{procs:#?}");
            procs[0]["pool_pid"].parse().expect("a pid")
        })
        .collect();
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for &pid in &served_by {
        match runs.last_mut() {
            Some((p, n)) if *p == pid => *n += 1,
            _ => runs.push((pid, 1)),
        }
    }
    // Every connection counts, so the first child may have served Daemon::start's readiness
    // probe too; every child after it serves exactly N sessions.
    assert!(runs.len() >= 3, "children per session: {served_by:?}");
    assert!(runs[0].1 <= N, "children per session: {served_by:?}");
    for &(_, n) in &runs[1..runs.len() - 1] {
        assert_eq!(n, N, "children per session: {served_by:?}");
    }
    let mut pids: Vec<u32> = runs.iter().map(|r| r.0).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), runs.len(), "a pid came back: {served_by:?}");
    let mut after = Vec::new();
    wait_until(WAIT, "the children to be replaced", || {
        after = d.children_pids();
        !after.contains(&runs[0].0) && after.len() == before.len()
    })
    .unwrap_or_else(|e| panic!("{e}: before {before:?}, now {after:?}\n{}", log_tail(&d)));
    d.wait_log(&format!("LOG:  child exiting, {N} connections reached\n"));
}

#[test]
fn reserved_connections_refuse_a_client_at_once_with_too_many_clients() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 2\nreserved_connections = 1\n");
    // A client counts from accept to close, so one that just left (Daemon::start's readiness
    // probe, the busy client below) may still count for a moment: wait to be served.
    let served = || {
        let mut client = None;
        wait_until(WAIT, "a client to be served", || {
            client = d.try_client(SUPERUSER, None, DB).ok();
            client.is_some()
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&d)));
        client.expect("served")
    };
    let mut busy = served();
    assert_eq!(simple_value(&mut busy, "select 1"), "1");
    let started = Instant::now();
    let err = match d.try_client(SUPERUSER, None, DB) {
        Ok(_) => panic!("a second client was served with reserved_connections = 1"),
        Err(e) => e,
    };
    let elapsed = started.elapsed();
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {err:?}"));
    assert_eq!(db.code().code(), "53300", "{db:?}");
    assert_eq!(db.message(), "Sorry, too many clients already");
    assert!(
        elapsed < Duration::from_secs(3),
        "refused after {elapsed:?}"
    );
    d.wait_log("ERROR:  Sorry, too many clients already\n");
    drop(busy);
    // the refused client does not stay counted: once the busy one is gone, clients are served
    let mut client = served();
    assert_eq!(simple_value(&mut client, "select 1"), "1");
}

#[test]
fn client_idle_limit_disconnects_an_idle_client_with_pgpools_message() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "client_idle_limit = 1\n");
    let (mut w, _) = Wire::login(d.port(), SUPERUSER, DB, &[]);
    let started = Instant::now();
    let msgs = w.read_to_close().unwrap_or_else(|e| {
        panic!(
            "the idle client was not disconnected: {e}\n{}",
            log_tail(&d)
        )
    });
    let elapsed = started.elapsed();
    let err = msgs
        .iter()
        .find(|m| m.tag == b'E')
        .unwrap_or_else(|| panic!("no ErrorResponse before the close: {msgs:?}"));
    let f = err.fields();
    assert_eq!(f[&'C'], "57000", "{f:?}");
    assert_eq!(
        f[&'M'],
        "child connection forced to terminate due to client_idle_limit:1 is reached"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "disconnected after only {elapsed:?}"
    );
    let mut client = connect(&d, SUPERUSER, DB, None);
    assert_eq!(simple_value(&mut client, "select 1"), "1");
}

#[test]
fn child_killed_mid_session_fails_only_its_client_and_is_respawned() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "");
    let mut victim = connect(&d, SUPERUSER, DB, None);
    let mut bystander = connect(&d, SUPERUSER, DB, None);
    let victim_backend = backend_pid(&mut victim);
    let (_, rows) = show(&mut victim, "pool_pools");
    let child: u32 = rows
        .iter()
        .find(|r| r["pool_backendpid"] == victim_backend.to_string())
        .unwrap_or_else(|| panic!("no pool_pools row for backend {victim_backend}: {rows:#?}"))
        ["pool_pid"]
        .parse()
        .expect("a pid");
    let before = d.children_pids();
    assert!(before.contains(&child), "{child} not in {before:?}");

    // SAFETY: kill(2) on a pid that is a live child of the daemon we started.
    assert_eq!(unsafe { libc::kill(child as i32, libc::SIGKILL) }, 0);
    assert!(
        victim.simple_query("select 1").is_err(),
        "the killed child's client still got an answer"
    );
    assert_eq!(simple_value(&mut bystander, "select 2"), "2");
    let mut after = Vec::new();
    wait_until(WAIT, "a new child in place of the killed one", || {
        after = d.children_pids();
        !after.contains(&child) && after.len() == before.len()
    })
    .unwrap_or_else(|e| panic!("{e}: before {before:?}, now {after:?}\n{}", log_tail(&d)));
    assert_eq!(simple_value(&mut bystander, "select 3"), "3");
    let mut fresh = connect(&d, SUPERUSER, DB, None);
    assert_eq!(simple_value(&mut fresh, "select 4"), "4");
}

#[test]
fn backend_terminated_mid_session_fails_that_client_and_the_next_session_works() {
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\n");
    let mut client = connect(&d, SUPERUSER, DB, None);
    let pid = backend_pid(&mut client);
    assert_eq!(
        cluster.psql(0, &format!("select pg_terminate_backend({pid})")),
        "t"
    );
    wait_backend_gone(cluster, pid, &d);
    let err = client
        .simple_query("select 1")
        .expect_err("a query on a terminated backend succeeded");
    if let Some(db) = err.as_db_error() {
        assert_eq!(db.code().code(), "57P01", "{db:?}");
    }
    drop(client);
    // the same (only) child serves the next client on a new backend
    let mut next = connect(&d, SUPERUSER, DB, None);
    assert_ne!(backend_pid(&mut next), pid);
    assert_eq!(simple_value(&mut next, "select 5"), "5");
}

/// The backend pid the daemon announced in BackendKeyData.
fn announced_pid(login: &[crate::support::frames::Message]) -> i32 {
    let key = login
        .iter()
        .find(|m| m.tag == b'K')
        .unwrap_or_else(|| panic!("no BackendKeyData: {login:?}"));
    i32::from_be_bytes(key.body[..4].try_into().expect("4 bytes"))
}

#[test]
fn databases_postgres_and_template1_are_never_pooled() {
    let cluster = pool_cluster();
    let d = Daemon::start(
        cluster,
        "num_init_children = 1\nlog_per_node_statement = on\n",
    );
    for db in ["postgres", "template1"] {
        let first = session_pid(&d, SUPERUSER, db, None);
        let second = session_pid(&d, SUPERUSER, db, None);
        assert_ne!(first, second, "a {db} backend was pooled");
        wait_backend_gone(cluster, first, &d);
        // reset all the same before it is closed, as pgpool does
        d.wait_log(&format!("backend pid: {first} statement: DISCARD ALL"));
    }
}

#[test]
fn a_client_that_vanishes_without_terminate_does_not_leave_its_backend_pooled() {
    let cluster = pool_cluster();
    let raw = Daemon::start(cluster, "num_init_children = 1\n");
    let (mut w, login) = Wire::login(raw.port(), SUPERUSER, DB, &[]);
    let first = announced_pid(&login);
    w.send(&crate::support::frames::query("select 1"));
    w.read_until_ready();
    drop(w); // EOF, no Terminate
    wait_backend_gone(cluster, first, &raw);
    assert_ne!(session_pid(&raw, SUPERUSER, DB, None), first);
    let streaming = Daemon::start_streaming(crate::support::cluster::shared_sr_cluster(), "");
    for d in [&raw, &streaming] {
        vanishing_clients_are_logged(d);
    }
}

/// The three ways a client can vanish mid-session, each logged with pgpool's ERROR and DETAIL
/// (checked against pgpool-II 4.3.5): EOF between messages, EOF inside a message, and a reset
/// connection (closed with the reply to its query unread, so the kernel sends RST).
fn vanishing_clients_are_logged(d: &Daemon) {
    let logged = |text: &str| {
        let log = d.log();
        let lines: Vec<&str> = log.lines().collect();
        lines.windows(2).any(|w| {
            w[0].ends_with("ERROR:  unable to read data from frontend")
                && w[1].ends_with(&format!("DETAIL:  {text}"))
        })
    };
    let (mut w, _) = Wire::login(d.port(), SUPERUSER, "postgres", &[]);
    w.send(&crate::support::frames::query("select 1"));
    w.read_until_ready();
    drop(w);
    let (mut w, _) = Wire::login(d.port(), SUPERUSER, "postgres", &[]);
    w.send(&[b'Q', 0, 0, 0, 32, b's', b'e', b'l']);
    std::thread::sleep(Duration::from_millis(200));
    drop(w);
    let (mut w, _) = Wire::login(d.port(), SUPERUSER, "postgres", &[]);
    w.send(&crate::support::frames::query("select 1"));
    std::thread::sleep(Duration::from_millis(500));
    drop(w);
    for text in [
        "EOF encountered with frontend",
        "EOF read on socket",
        "socket read failed with error \"Connection reset by peer\"",
    ] {
        wait_until(WAIT, text, || logged(text)).unwrap_or_else(|e| panic!("{e}\n{}", log_tail(d)));
    }
}

#[test]
fn reused_session_gets_the_backend_key_and_parameter_values_of_a_fresh_one() {
    use crate::support::frames::{query, terminate};
    let cluster = pool_cluster();
    let d = Daemon::start(cluster, "num_init_children = 1\n");
    let params = |login: &[crate::support::frames::Message]| -> HashMap<String, String> {
        login
            .iter()
            .filter(|m| m.tag == b'S')
            .map(|m| {
                let s = m.strings();
                (s[0].clone(), s.get(1).cloned().unwrap_or_default())
            })
            .collect()
    };
    let app = [("application_name", "pgrs-reuse")];
    let (mut w, login) = Wire::login(d.port(), SUPERUSER, DB, &app);
    let fresh = params(&login);
    let pid = announced_pid(&login);
    w.send(&query(
        "SET application_name = 'pgrs-changed'; SET DateStyle = 'German'",
    ));
    w.read_until_ready();
    w.send(&terminate());
    drop(w);

    let (mut w, login) = Wire::login(d.port(), SUPERUSER, DB, &app);
    assert_eq!(announced_pid(&login), pid, "not reused\n{}", log_tail(&d));
    let reused = params(&login);
    assert_eq!(
        reused.get("application_name").map(String::as_str),
        Some("pgrs-reuse")
    );
    assert_eq!(
        reused, fresh,
        "the reused session saw other parameter values"
    );
    // and the backend agrees with what the client was told
    w.send(&query("SHOW DateStyle"));
    let msgs = w.read_until_ready();
    let row = msgs.iter().find(|m| m.tag == b'D').expect("a row");
    assert_eq!(
        row.data_row()[0].as_deref(),
        fresh.get("DateStyle").map(String::as_str)
    );
    w.send(&terminate());
}

/// DROP DATABASE through pgpool (routing.md §3.1 step 10): the connection another child keeps
/// pooled to the database is closed first, so the drop succeeds, in raw and streaming mode.
/// (PostgreSQL refuses it otherwise: "database … is being accessed by other users".)
#[test]
fn drop_database_first_closes_the_connections_other_children_keep_pooled() {
    let cluster = crate::support::cluster::shared_sr_cluster();
    for streaming in [false, true] {
        let db = crate::support::sr::unique("dropme");
        cluster.psql(0, &format!("create database {db}"));
        cluster.wait_replayed();
        let conf = "num_init_children = 2\n";
        let d = if streaming {
            Daemon::start_streaming(cluster, conf)
        } else {
            Daemon::start(cluster, conf)
        };
        // one child serves the dropper, the other the client that leaves its connection pooled
        let mut dropper = connect(&d, SUPERUSER, "postgres", None);
        let mut user = connect(&d, SUPERUSER, &db, None);
        assert_eq!(simple_value(&mut user, "select 1"), "1");
        drop(user);
        dropper
            .batch_execute(&format!("drop database {db}"))
            .unwrap_or_else(|e| panic!("streaming {streaming}: {e:?}\n{}", log_tail(&d)));
        assert_eq!(
            cluster.psql(
                0,
                &format!("select count(*) from pg_database where datname = '{db}'")
            ),
            "0"
        );
    }
}

/// A new session's BackendKeyData carries the pid and key of the last (highest-numbered)
/// connected node, as pgpool's (spec/architecture.md §3.5, checked against pgpool-II 4.3.5),
/// and a cancel request with it still reaches the query, wherever it runs.
#[test]
fn backend_key_data_names_the_last_node_and_cancel_still_works() {
    let cluster = crate::support::cluster::shared_sr_cluster();
    let d = Daemon::start_streaming(cluster, "");
    let (w, login) = Wire::login(d.port(), SUPERUSER, "postgres", &[]);
    let pid = announced_pid(&login);
    let last = cluster.nodes() - 1;
    assert_eq!(
        cluster.psql(
            last,
            &format!("select count(*) from pg_stat_activity where pid = {pid}")
        ),
        "1",
        "pid {pid} is no backend of node {last}"
    );
    drop(w);
    let mut client = connect(&d, SUPERUSER, "postgres", None);
    let token = client.cancel_token();
    let marker = format!("bkd-{}", d.port());
    let sql = format!("select pg_sleep(30), '{marker}'");
    let canceller = std::thread::spawn(move || {
        let running = wait_until(WAIT, "the query to run", || {
            (0..cluster.nodes()).any(|n| {
                cluster.psql(
                    n,
                    &format!(
                        "select count(*) from pg_stat_activity where state = 'active' \
                         and query like '%{marker}%' and pid <> pg_backend_pid()"
                    ),
                ) == "1"
            })
        });
        token
            .cancel_query(postgres::NoTls)
            .map_err(|e| e.to_string())?;
        running
    });
    let err = client
        .simple_query(&sql)
        .expect_err("pg_sleep(30) was not cancelled");
    canceller
        .join()
        .expect("canceller thread")
        .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&d)));
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(db.code().code(), "57014", "{db:?}");
}

/// A cancel request is no session: it does not count toward `child_max_connections`
/// (spec/architecture.md §3.2).
#[test]
fn a_cancel_request_does_not_count_toward_child_max_connections() {
    use std::io::Write as _;
    let cluster = pool_cluster();
    let d = Daemon::start(
        cluster,
        "num_init_children = 1\nchild_max_connections = 2\n",
    );
    let pid_of_session = || {
        let mut client = connect(&d, SUPERUSER, DB, None);
        let (_, procs) = show(&mut client, "pool_processes");
        procs[0]["pool_pid"].parse::<u32>().expect("a pid")
    };
    // sessions until a child is seen for the first time: it has served exactly one
    let first = pid_of_session();
    let mut fresh = pid_of_session();
    if fresh == first {
        fresh = pid_of_session();
    }
    assert_ne!(
        fresh, first,
        "child_max_connections = 2 did not recycle the child"
    );
    let mut s = std::net::TcpStream::connect((crate::support::HOST, d.port())).expect("connect");
    s.write_all(&crate::support::frames::cancel_request(12345, 6789))
        .expect("cancel request");
    drop(s);
    d.wait_log("LOG:  invalid cancel key: pid:12345 key:6789\n");
    assert_eq!(
        pid_of_session(),
        fresh,
        "the cancel request counted as a session\n{}",
        log_tail(&d)
    );
}
