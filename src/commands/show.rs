//! The `SHOW pool_*` reports (spec/sql-commands.md §2): their columns (pgpool 4.3.5's set,
//! e.g. 17 columns for pool_pools) and rows built from shared memory and the session's
//! configuration, including the live `pg_status` probe of SHOW pool_nodes.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::result::ResultSet;
use super::{Env, SessionConfig, ShowPool};
use crate::shmem::{BackendInfo, BackendStatus, Shmem};

pub const NODES_COLUMNS: [&str; 14] = [
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

pub const PROCESSES_COLUMNS: [&str; 8] = [
    "pool_pid",
    "start_time",
    "client_connection_count",
    "database",
    "username",
    "backend_connection_time",
    "pool_counter",
    "status",
];

pub const POOLS_COLUMNS: [&str; 17] = [
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

pub const STATUS_COLUMNS: [&str; 3] = ["item", "value", "description"];

pub const VERSION_COLUMNS: [&str; 1] = ["pool_version"];

pub const CACHE_COLUMNS: [&str; 9] = [
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

pub const HEALTH_CHECK_STATS_COLUMNS: [&str; 20] = [
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

pub const BACKEND_STATS_COLUMNS: [&str; 14] = [
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

/// Column names and rows of one report.
pub(crate) struct Table {
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// The complete reply to `SHOW <which>`.
pub(crate) fn report(which: ShowPool, cfg: &dyn SessionConfig, env: &Env) -> Vec<u8> {
    let t = table(which, cfg, env);
    let mut rs = ResultSet::new(t.columns);
    for r in &t.rows {
        rs.row(r);
    }
    rs.finish()
}

pub(crate) fn table(which: ShowPool, cfg: &dyn SessionConfig, env: &Env) -> Table {
    let sh = env.sh;
    match which {
        ShowPool::Nodes => Table {
            columns: &NODES_COLUMNS,
            rows: nodes(cfg, env),
        },
        ShowPool::Processes => Table {
            columns: &PROCESSES_COLUMNS,
            rows: processes(cfg, sh),
        },
        ShowPool::Pools => Table {
            columns: &POOLS_COLUMNS,
            rows: pools(cfg, sh),
        },
        ShowPool::Status => Table {
            columns: &STATUS_COLUMNS,
            rows: status(cfg, sh),
        },
        ShowPool::Version => Table {
            columns: &VERSION_COLUMNS,
            rows: vec![vec![crate::version_string()]],
        },
        ShowPool::Cache => Table {
            columns: &CACHE_COLUMNS,
            rows: vec![cache_row()],
        },
        ShowPool::HealthCheckStats => Table {
            columns: &HEALTH_CHECK_STATS_COLUMNS,
            rows: health_check_stats(cfg, sh),
        },
        ShowPool::BackendStats => Table {
            columns: &BACKEND_STATS_COLUMNS,
            rows: backend_stats(cfg, sh),
        },
    }
}

/// `YYYY-MM-DD HH:MM:SS` in local time (pgpool's `%F %T`); empty if the time cannot be
/// converted.
pub fn local_time(t: i64) -> String {
    #[allow(clippy::unnecessary_cast)] // time_t is i64 on the platforms we build for
    let tt = t as libc::time_t;
    // SAFETY: `libc::tm` is plain integers plus a pointer that may be null; all-zero is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live locals; localtime_r is the re-entrant variant and only
    // writes into `tm`.
    let r = unsafe { libc::localtime_r(&tt, &mut tm) };
    if r.is_null() {
        return String::new();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        i64::from(tm.tm_year) + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `local_time`, or empty for 0 (never happened).
fn time_or_empty(t: i64) -> String {
    if t == 0 {
        String::new()
    } else {
        local_time(t)
    }
}

/// The status word: `quarantine` for a node detached by watchdog quarantine.
fn status_word(b: &BackendInfo) -> &'static str {
    let s = b.status();
    if s == BackendStatus::Down && b.quarantine.load(Relaxed) {
        "quarantine"
    } else {
        s.as_str()
    }
}

/// primary/standby in streaming mode, else main/replica (spec §1.2).
fn role(streaming: bool, sh: &Shmem, node: usize) -> &'static str {
    let h = sh.header();
    if streaming {
        if h.primary_node_id.load(Relaxed) == node as i32 {
            "primary"
        } else {
            "standby"
        }
    } else if h.main_node_id.load(Relaxed) == node as i32 {
        "main"
    } else {
        "replica"
    }
}

/// The per-node value of an indexed parameter (`health_check_period0`), falling back to the
/// index-free one.
fn node_param(cfg: &dyn SessionConfig, base: &str, node: usize) -> Option<String> {
    cfg.show(&format!("{base}{node}"))
        .or_else(|| cfg.show(base))
}

fn nodes(cfg: &dyn SessionConfig, env: &Env) -> Vec<Vec<String>> {
    let sh = env.sh;
    let streaming = cfg.streaming();
    (0..sh.num_backends())
        .map(|i| {
            let b = sh.backend(i);
            let host = b.hostname.get();
            let port = b.port.load(Relaxed);
            let role = role(streaming, sh, i);
            let pg_status = pg_status(cfg, i, &host, port);
            let pg_role = if !streaming {
                role
            } else if pg_status == "up" {
                db_node_role(cfg, &host, port)
            } else {
                "unknown"
            };
            let mut delay = "0".to_owned();
            if streaming && role == "standby" {
                let d = b.standby_delay.load(Relaxed);
                delay = if b.standby_delay_by_time.load(Relaxed) {
                    // pgpool divides a C float: keep its precision.
                    let secs = (d as f32) / 1_000_000.0;
                    let unit = if d >= 2_000_000 { "seconds" } else { "second" };
                    format!("{:.6} {unit}", f64::from(secs))
                } else {
                    (d.max(0) as u64).to_string()
                };
            }
            vec![
                i.to_string(),
                host,
                port.to_string(),
                status_word(b).to_owned(),
                pg_status.to_owned(),
                format!("{:.6}", b.weight()),
                role.to_owned(),
                pg_role.to_owned(),
                b.stats.select.load(Relaxed).to_string(),
                (env.load_balance_node == Some(i)).to_string(),
                delay,
                b.replication_state.get(),
                b.replication_sync_state.get(),
                local_time(b.status_changed_time.load(Relaxed)),
            ]
        })
        .collect()
}

/// `pg_status`: `unknown` when health checking is off for the node, else a live ping.
fn pg_status(cfg: &dyn SessionConfig, node: usize, host: &str, port: i32) -> &'static str {
    let period = node_param(cfg, "health_check_period", node)
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if period <= 0 {
        return "unknown";
    }
    let user = node_param(cfg, "health_check_user", node).unwrap_or_default();
    let db = node_param(cfg, "health_check_database", node)
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "postgres".into());
    let timeout_ms = u64::try_from(cfg.int("connect_timeout")).unwrap_or(0);
    let Ok(port) = u16::try_from(port) else {
        return "down";
    };
    if ping(host, port, &user, &db, timeout_ms) {
        "up"
    } else {
        "down"
    }
}

/// `pg_role`: the node's own answer to `pg_is_in_recovery()` as `sr_check_user` (`unknown` when
/// `sr_check_period` is 0 or the node cannot be asked), as pgpool's `db_node_role`.
fn db_node_role(cfg: &dyn SessionConfig, host: &str, port: i32) -> &'static str {
    if cfg.int("sr_check_period") == 0 {
        return "unknown";
    }
    let (Some((user, db, secret)), Ok(port)) = (cfg.sr_check_login(), u16::try_from(port)) else {
        return "unknown";
    };
    let timeout = match cfg.int("connect_timeout") {
        ms if ms > 0 => Duration::from_millis(ms as u64),
        _ => Duration::from_secs(10),
    };
    let answer = crate::backend::internal::InternalConn::connect(
        host,
        port,
        &user,
        &db,
        &secret,
        crate::backend::internal::Bounds::both(Some(timeout)),
    )
    .and_then(|mut c| c.query_value("SELECT pg_is_in_recovery()"));
    match answer.ok().flatten().as_deref() {
        Some("t") => "standby",
        Some("f") => "primary",
        _ => "unknown",
    }
}

/// PQping's answer without libpq: connect, send a startup packet, and call the server up if it
/// answers with anything but an error of SQLSTATE 57P03 (cannot connect now). No password is
/// needed: an authentication request already proves the server accepts connections.
pub fn ping(host: &str, port: u16, user: &str, database: &str, timeout_ms: u64) -> bool {
    let Ok(fd) = crate::backend::connect_to(host, port, timeout_ms) else {
        return false;
    };
    ping_on(fd, user, database, timeout_ms).unwrap_or(false)
}

fn ping_on(fd: OwnedFd, user: &str, database: &str, timeout_ms: u64) -> std::io::Result<bool> {
    if timeout_ms > 0 {
        let t = Duration::from_millis(timeout_ms);
        let tv = nix::sys::time::TimeVal::new(t.as_secs() as _, t.subsec_micros() as _);
        nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &tv)?;
        nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::SendTimeout, &tv)?;
    }
    let mut sock = std::fs::File::from(fd);
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut pkt = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    pkt.extend_from_slice(&body);
    sock.write_all(&pkt)?;
    let mut head = [0u8; 5];
    sock.read_exact(&mut head)?;
    let up = match head[0] {
        b'E' => {
            let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
            let len = usize::try_from(len)
                .unwrap_or(0)
                .saturating_sub(4)
                .min(8192);
            let mut msg = vec![0u8; len];
            sock.read_exact(&mut msg)?;
            !error_has_sqlstate(&msg, b"57P03")
        }
        _ => true,
    };
    // Terminate, as libpq does when it gives up on a ping.
    let _ = sock.write_all(b"X\0\0\0\x04");
    Ok(up)
}

fn error_has_sqlstate(fields: &[u8], code: &[u8]) -> bool {
    fields
        .split(|&b| b == 0)
        .any(|f| f.first() == Some(&b'C') && &f[1..] == code)
}

/// Start time with pgpool's "(M:SS before process restarting)" suffix when the child has served
/// a client, is waiting for the next one with no live pooled connection, and child_life_time
/// is on.
fn start_time(cfg: &dyn SessionConfig, sh: &Shmem, child: usize) -> String {
    let p = sh.process(child);
    let start = p.start_time.load(Relaxed);
    if start == 0 {
        return String::new();
    }
    let life = cfg.int("child_life_time");
    let live = (0..sh.max_pool).any(|pool| sh.connection(child, pool, 0).connected.load(Relaxed));
    let t = local_time(start);
    if life > 0 && p.connected.load(Relaxed) && !live {
        let left = life - i64::from(p.wait_for_connect.load(Relaxed));
        format!(
            "{t} ({}:{:02} before process restarting)",
            left / 60,
            left % 60
        )
    } else {
        t
    }
}

/// Child slots that hold a process.
fn children(sh: &Shmem) -> impl Iterator<Item = usize> + '_ {
    (0..sh.num_children).filter(|&c| sh.process(c).pid.load(Relaxed) > 0)
}

fn processes(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<Vec<String>> {
    children(sh)
        .map(|c| {
            let p = sh.process(c);
            let mut db = String::new();
            let mut user = String::new();
            let mut conn_time = String::new();
            let mut counter = String::new();
            // The last connected slot with a database and user wins, as in pgpool.
            for pool in 0..sh.max_pool {
                let ci = sh.connection(c, pool, 0);
                if !ci.connected.load(Relaxed) {
                    continue;
                }
                let (d, u) = (ci.database.get(), ci.user.get());
                if !d.is_empty() && !u.is_empty() {
                    db = d;
                    user = u;
                    conn_time = local_time(ci.create_time.load(Relaxed));
                    counter = ci.counter.load(Relaxed).to_string();
                }
            }
            vec![
                p.pid.load(Relaxed).to_string(),
                start_time(cfg, sh, c),
                p.client_connection_count.load(Relaxed).to_string(),
                db,
                user,
                conn_time,
                counter,
                p.status().as_str().to_owned(),
            ]
        })
        .collect()
}

fn pools(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<Vec<String>> {
    let idle_limit = cfg.int("client_idle_limit");
    let nodes = sh.num_backends();
    let mut rows = Vec::new();
    for c in children(sh) {
        let p = sh.process(c);
        let pid = p.pid.load(Relaxed).to_string();
        let start = start_time(cfg, sh, c);
        let count = p.client_connection_count.load(Relaxed).to_string();
        let status = p.status().as_str();
        for pool in 0..sh.max_pool {
            let idle = i64::from(sh.connection(c, pool, 0).client_idle_duration.load(Relaxed));
            for node in 0..nodes {
                let ci = sh.connection(c, pool, node);
                let connected = ci.connected.load(Relaxed);
                let idle_text = if idle_limit > 0 && connected {
                    let left = idle_limit - idle;
                    format!(
                        "{idle} ({}:{:02} before client disconnected)",
                        left / 60,
                        left % 60
                    )
                } else {
                    idle.to_string()
                };
                let database = ci.database.get();
                let (user, conn_time, major, minor) = if database.is_empty() {
                    (String::new(), String::new(), "0".to_owned(), "0".to_owned())
                } else {
                    (
                        ci.user.get(),
                        local_time(ci.create_time.load(Relaxed)),
                        ci.major.load(Relaxed).to_string(),
                        ci.minor.load(Relaxed).to_string(),
                    )
                };
                rows.push(vec![
                    pid.clone(),
                    start.clone(),
                    count.clone(),
                    pool.to_string(),
                    node.to_string(),
                    database,
                    user,
                    conn_time,
                    time_or_empty(ci.client_connection_time.load(Relaxed)),
                    time_or_empty(ci.client_disconnection_time.load(Relaxed)),
                    idle_text,
                    major,
                    minor,
                    ci.counter.load(Relaxed).to_string(),
                    ci.pid.load(Relaxed).to_string(),
                    u8::from(connected).to_string(),
                    status.to_owned(),
                ]);
            }
        }
    }
    rows
}

/// The configuration's rows, then 8 rows per used backend slot from shared memory (status,
/// weight and delay are live values) and the configuration (data directory, flag, name).
fn status(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = cfg
        .pool_status_rows()
        .into_iter()
        .map(|(i, v, d)| vec![i, v, d])
        .collect();
    if rows.iter().any(|r| r[0].starts_with("backend_hostname")) {
        return rows;
    }
    for j in 0..sh.num_backends() {
        let b = sh.backend(j);
        let port = b.port.load(Relaxed);
        if port == 0 {
            continue;
        }
        let conf = |base: &str| cfg.show(&format!("{base}{j}")).unwrap_or_default();
        let items = [
            (
                "backend_hostname",
                b.hostname.get(),
                format!("backend #{j} hostname"),
            ),
            (
                "backend_port",
                port.to_string(),
                format!("backend #{j} port number"),
            ),
            (
                "backend_weight",
                format!("{:.6}", b.weight()),
                format!("weight of backend #{j}"),
            ),
            (
                "backend_data_directory",
                conf("backend_data_directory"),
                format!("data directory for backend #{j}"),
            ),
            (
                "backend_status",
                status_word(b).to_owned(),
                format!("status of backend #{j}"),
            ),
            (
                "standby_delay",
                (b.standby_delay.load(Relaxed).max(0) as u64).to_string(),
                format!("standby delay of backend #{j}"),
            ),
            (
                "backend_flag",
                conf("backend_flag"),
                format!("backend #{j} flag"),
            ),
            (
                "backend_application_name",
                conf("backend_application_name"),
                format!("application_name for backend #{j}"),
            ),
        ];
        for (item, value, desc) in items {
            rows.push(vec![format!("{item}{j}"), value, desc]);
        }
    }
    rows
}

/// The query cache is not built yet: its statistics are all zero, as pgpool shows them with
/// `memory_cache_enabled = off`.
fn cache_row() -> Vec<String> {
    let mut r = vec!["0".to_owned(); CACHE_COLUMNS.len()];
    r[2] = "0.00".to_owned();
    r
}

/// Health-check statistics from the shared per-node records (`health::stats` formats them).
fn health_check_stats(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<Vec<String>> {
    let streaming = cfg.streaming();
    (0..sh.num_backends())
        .map(|i| {
            let b = sh.backend(i);
            let period = node_param(cfg, "health_check_period", i)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            let mut r = vec![
                i.to_string(),
                b.hostname.get(),
                b.port.load(Relaxed).to_string(),
                status_word(b).to_owned(),
                role(streaming, sh, i).to_owned(),
                local_time(b.status_changed_time.load(Relaxed)),
            ];
            r.extend(crate::health::stats::columns(sh.health(i), period));
            r
        })
        .collect()
}

fn backend_stats(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<Vec<String>> {
    let streaming = cfg.streaming();
    (0..sh.num_backends())
        .map(|i| {
            let b = sh.backend(i);
            let s = &b.stats;
            let mut r = vec![
                i.to_string(),
                b.hostname.get(),
                b.port.load(Relaxed).to_string(),
                status_word(b).to_owned(),
                role(streaming, sh, i).to_owned(),
            ];
            for c in [
                &s.select, &s.insert, &s.update, &s.delete, &s.ddl, &s.other, &s.panic, &s.fatal,
                &s.error,
            ] {
                r.push(c.load(Relaxed).to_string());
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeConfig;
    use super::super::result::decode;
    use super::super::{answer_with, Intercept};
    use super::*;
    use crate::shmem::{try_shmem, ChildStatus};
    use std::net::TcpListener;

    /// Run `f` in a forked child: `Shmem::create` may run once per process and the shmem
    /// module's own test creates it too, so this test works on a private copy-on-fork world.
    fn in_child(f: impl FnOnce()) {
        // SAFETY: the child runs only `f` and leaves with `_exit`, never returning into the
        // test harness.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                    Ok(()) => 0,
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        let msg = format!("child test failed: {msg}\n");
                        // SAFETY: writing a live buffer to stderr.
                        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                        1
                    }
                };
                // SAFETY: immediate exit of the forked test child.
                unsafe { libc::_exit(code) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).expect("wait");
                assert_eq!(
                    st,
                    nix::sys::wait::WaitStatus::Exited(child, 0),
                    "see the child's stderr"
                );
            }
        }
    }

    fn header(s: &str) -> Vec<String> {
        s.split('|').map(str::to_owned).collect()
    }

    fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    #[test]
    fn reports_have_pgpool_4_3_5_columns_and_rows_from_shared_memory() {
        let dead_port = closed_port();
        in_child(move || {
            let sh = match try_shmem() {
                Some(s) => s,
                None => Shmem::create(3, 2).expect("mmap"),
            };
            // Slots this test owns: backends 0-1, processes 0 and 2, connections of child 2.
            // (Process 1 may belong to the shmem module's test when the region is inherited.)
            let h = sh.header();
            h.num_backends.store(2, Relaxed);
            h.main_node_id.store(0, Relaxed);
            let b0 = sh.backend(0);
            b0.hostname.set("/tmp");
            b0.port.store(5432, Relaxed);
            b0.set_status(BackendStatus::Up);
            b0.weight.store(0.5f64.to_bits(), Relaxed);
            b0.stats.select.store(7, Relaxed);
            b0.stats.other.store(3, Relaxed);
            let b1 = sh.backend(1);
            b1.hostname.set("127.0.0.1");
            b1.port.store(i32::from(dead_port), Relaxed);
            b1.set_status(BackendStatus::Down);
            b1.quarantine.store(true, Relaxed);
            b1.weight.store(0.5f64.to_bits(), Relaxed);

            let p0 = sh.process(0);
            p0.reset(100);
            p0.connected.store(true, Relaxed);
            p0.wait_for_connect.store(1, Relaxed);
            p0.client_connection_count.store(2, Relaxed);
            let p2 = sh.process(2);
            p2.reset(300);
            p2.set_status(ChildStatus::CommandExecute);
            for node in 0..2 {
                let ci = sh.connection(2, 0, node);
                ci.database.set("bench");
                ci.user.set("postgres");
                ci.major.store(3, Relaxed);
                ci.pid.store(555 + node as i32, Relaxed);
                ci.counter.store(1, Relaxed);
                ci.create_time.store(crate::shmem::now(), Relaxed);
                ci.client_connection_time
                    .store(crate::shmem::now(), Relaxed);
                ci.connected.store(true, Relaxed);
            }

            let mut cfg = FakeConfig::new();
            cfg.values
                .insert("health_check_period1".into(), "10".into());
            cfg.values
                .insert("health_check_user".into(), "postgres".into());
            let env = Env {
                sh,
                load_balance_node: Some(1),
            };
            let ask = |cfg: &mut FakeConfig, which| {
                decode(&answer_with(&Intercept::Show(which), cfg, &env))
            };
            let live_children = (0..sh.num_children)
                .filter(|&c| sh.process(c).pid.load(Relaxed) > 0)
                .count();
            assert!(live_children >= 2);

            // SHOW pool_nodes
            let (cols, rows, tag) = ask(&mut cfg, ShowPool::Nodes);
            assert_eq!(cols, header("node_id|hostname|port|status|pg_status|lb_weight|role|pg_role|select_cnt|load_balance_node|replication_delay|replication_state|replication_sync_state|last_status_change"));
            assert_eq!(tag, "SELECT 2");
            let changed = local_time(b0.status_changed_time.load(Relaxed));
            assert_eq!(
                rows[0],
                [
                    "0",
                    "/tmp",
                    "5432",
                    "up",
                    "unknown",
                    "0.500000",
                    "main",
                    "main",
                    "7",
                    "false",
                    "0",
                    "",
                    "",
                    changed.as_str()
                ]
            );
            assert_eq!(
                &rows[1][3..10],
                [
                    "quarantine",
                    "down",
                    "0.500000",
                    "replica",
                    "replica",
                    "0",
                    "true"
                ]
            );

            // SHOW pool_processes
            let (cols, rows, tag) = ask(&mut cfg, ShowPool::Processes);
            assert_eq!(cols, header("pool_pid|start_time|client_connection_count|database|username|backend_connection_time|pool_counter|status"));
            assert_eq!(tag, format!("SELECT {live_children}"));
            let r0 = rows.iter().find(|r| r[0] == "100").expect("child 0");
            assert!(
                r0[1].ends_with(" (4:59 before process restarting)"),
                "{}",
                r0[1]
            );
            assert_eq!(&r0[2..], ["2", "", "", "", "", "Wait for connection"]);
            let r2 = rows.iter().find(|r| r[0] == "300").expect("child 2");
            assert_eq!(r2[1].len(), 19, "no suffix while a client is connected");
            assert_eq!(
                (
                    r2[3].as_str(),
                    r2[4].as_str(),
                    r2[6].as_str(),
                    r2[7].as_str()
                ),
                ("bench", "postgres", "1", "Execute command")
            );

            // SHOW pool_pools
            let (cols, rows, tag) = ask(&mut cfg, ShowPool::Pools);
            assert_eq!(cols, header("pool_pid|start_time|client_connection_count|pool_id|backend_id|database|username|backend_connection_time|client_connection_time|client_disconnection_time|client_idle_duration|majorversion|minorversion|pool_counter|pool_backendpid|pool_connected|status"));
            assert_eq!(tag, format!("SELECT {}", live_children * sh.max_pool * 2));
            let used = rows
                .iter()
                .find(|r| r[0] == "300" && r[3] == "0" && r[4] == "1")
                .expect("child 2 slot 0 node 1");
            assert_eq!(&used[5..7], ["bench", "postgres"]);
            assert_eq!(
                &used[9..],
                ["", "0", "3", "0", "1", "556", "1", "Execute command"]
            );
            let empty = rows
                .iter()
                .find(|r| r[0] == "300" && r[3] == "1" && r[4] == "0")
                .expect("child 2 slot 1");
            assert_eq!(
                &empty[5..],
                [
                    "",
                    "",
                    "",
                    "",
                    "",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "0",
                    "Execute command"
                ]
            );
            cfg.values.insert("client_idle_limit".into(), "300".into());
            let (_, rows, _) = ask(&mut cfg, ShowPool::Pools);
            let used = rows
                .iter()
                .find(|r| r[0] == "300" && r[3] == "0" && r[4] == "0")
                .expect("slot");
            assert_eq!(used[10], "0 (5:00 before client disconnected)");

            // SHOW pool_status: the configuration's rows, then 8 per backend
            let (cols, rows, tag) = ask(&mut cfg, ShowPool::Status);
            assert_eq!(cols, header("item|value|description"));
            assert_eq!(tag, "SELECT 18");
            assert_eq!(
                rows[2],
                ["backend_hostname0", "/tmp", "backend #0 hostname"]
            );
            assert_eq!(
                rows[4],
                ["backend_weight0", "0.500000", "weight of backend #0"]
            );
            assert_eq!(
                rows[5],
                [
                    "backend_data_directory0",
                    "/data0",
                    "data directory for backend #0"
                ]
            );
            assert_eq!(
                rows[8],
                ["backend_flag0", "ALLOW_TO_FAILOVER", "backend #0 flag"]
            );
            assert_eq!(
                rows[9],
                [
                    "backend_application_name0",
                    "node0",
                    "application_name for backend #0"
                ]
            );
            assert_eq!(
                rows[14],
                ["backend_status1", "quarantine", "status of backend #1"]
            );

            // SHOW pool_version, pool_cache
            let (cols, rows, tag) = ask(&mut cfg, ShowPool::Version);
            assert_eq!(
                (cols, rows, tag.as_str()),
                (
                    header("pool_version"),
                    vec![vec![crate::version_string()]],
                    "SELECT 1"
                )
            );
            let (cols, rows, _) = ask(&mut cfg, ShowPool::Cache);
            assert_eq!(cols, header("num_cache_hits|num_selects|cache_hit_ratio|num_hash_entries|used_hash_entries|num_cache_entries|used_cache_entries_size|free_cache_entries_size|fragment_cache_entries_size"));
            assert_eq!(rows, vec![header("0|0|0.00|0|0|0|0|0|0")]);

            // SHOW pool_health_check_stats, pool_backend_stats
            let (cols, rows, _) = ask(&mut cfg, ShowPool::HealthCheckStats);
            assert_eq!(cols, header("node_id|hostname|port|status|role|last_status_change|total_count|success_count|fail_count|skip_count|retry_count|average_retry_count|max_retry_count|max_duration|min_duration|average_duration|last_health_check|last_successful_health_check|last_skip_health_check|last_failed_health_check"));
            // no health check ran: min_duration is still pgpool's INT_MAX start value
            let mut want = header(&format!(
                "0|/tmp|5432|up|main|{changed}|0|0|0|0|0|0.000000|0|0|2147483647|0.000000||||"
            ));
            assert_eq!(rows[0], want);
            let (cols, rows, _) = ask(&mut cfg, ShowPool::BackendStats);
            assert_eq!(cols, header("node_id|hostname|port|status|role|select_cnt|insert_cnt|update_cnt|delete_cnt|ddl_cnt|other_cnt|panic_cnt|fatal_cnt|error_cnt"));
            want = header("0|/tmp|5432|up|main|7|0|0|0|0|3|0|0|0");
            assert_eq!(rows[0], want);

            // Streaming mode: primary/standby roles and delays.
            cfg.streaming = true;
            h.primary_node_id.store(0, Relaxed);
            b1.standby_delay.store(1_500_000, Relaxed);
            b1.standby_delay_by_time.store(true, Relaxed);
            let (_, rows, _) = ask(&mut cfg, ShowPool::Nodes);
            assert_eq!(&rows[0][6..8], ["primary", "unknown"]);
            assert_eq!(rows[1][6], "standby");
            assert_eq!(rows[1][10], "1.500000 second");
            b1.standby_delay_by_time.store(false, Relaxed);
            b1.standby_delay.store(4096, Relaxed);
            let (_, rows, _) = ask(&mut cfg, ShowPool::Nodes);
            assert_eq!(rows[1][10], "4096");
        });
    }

    #[test]
    fn local_time_has_pgpool_format() {
        let t = local_time(1_700_000_000);
        assert_eq!(t.len(), 19);
        assert_eq!(
            (&t[4..5], &t[7..8], &t[10..11], &t[13..14], &t[16..17]),
            ("-", "-", " ", ":", ":")
        );
    }

    #[test]
    fn ping_reports_up_on_any_answer_but_cannot_connect_now() {
        fn serve(reply: &'static [u8]) -> u16 {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = l.local_addr().expect("addr").port();
            std::thread::spawn(move || {
                if let Ok((mut s, _)) = l.accept() {
                    let mut len = [0u8; 4];
                    let _ = s.read_exact(&mut len);
                    let mut rest = vec![0u8; i32::from_be_bytes(len) as usize - 4];
                    let _ = s.read_exact(&mut rest);
                    assert!(rest.windows(9).any(|w| w == b"user\0hcu\0"));
                    let _ = s.write_all(reply);
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink);
                }
            });
            port
        }
        let md5 = serve(b"R\0\0\0\x0c\0\0\0\x05salt");
        assert!(ping("127.0.0.1", md5, "hcu", "postgres", 2000));
        let auth_failed = serve(b"E\0\0\0\x16SFATAL\0C28P01\0Mx\0\0");
        assert!(ping("127.0.0.1", auth_failed, "hcu", "postgres", 2000));
        let starting = serve(b"E\0\0\0\x16SFATAL\0C57P03\0Mx\0\0");
        assert!(!ping("127.0.0.1", starting, "hcu", "postgres", 2000));
        assert!(!ping("127.0.0.1", closed_port(), "hcu", "postgres", 2000));
    }
}
