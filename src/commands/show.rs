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
            let pg_role = if streaming {
                // pgpool asks the node `pg_is_in_recovery()` over an authenticated connection
                // (sr_check_user); without that query the truthful answer is `unknown`, which is
                // also what pgpool prints when the probe is not possible.
                "unknown"
            } else {
                role
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

/// Health-check statistics. No process records them in shared memory yet, so every counter is 0,
/// the averages `0.000000` and the check times empty; identity, status, role and the last
/// status change are live.
fn health_check_stats(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<Vec<String>> {
    let streaming = cfg.streaming();
    (0..sh.num_backends())
        .map(|i| {
            let b = sh.backend(i);
            let mut r = vec![
                i.to_string(),
                b.hostname.get(),
                b.port.load(Relaxed).to_string(),
                status_word(b).to_owned(),
                role(streaming, sh, i).to_owned(),
                local_time(b.status_changed_time.load(Relaxed)),
            ];
            // total, success, fail, skip, retry
            r.extend(std::iter::repeat_n("0".to_owned(), 5));
            r.push("0.000000".to_owned()); // average_retry_count
            r.extend(std::iter::repeat_n("0".to_owned(), 3)); // max_retry_count, max/min duration
            r.push("0.000000".to_owned()); // average_duration
            r.extend(std::iter::repeat_n(String::new(), 4)); // last_* timestamps
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
