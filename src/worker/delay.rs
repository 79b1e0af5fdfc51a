//! `check_replication_delay` (spec/failover.md §8.2): each standby's lag behind the primary,
//! in bytes from WAL positions or in time from `pg_stat_replication.replay_lag`, the
//! `replication_state` / `replication_sync_state` copied from the primary's
//! `pg_stat_replication`, all stored in shared `BackendInfo`, and the `log_standby_delay` lines.

use std::sync::atomic::Ordering::Relaxed;

use crate::backend::internal::{InternalConn, Row};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::Shmem;

/// pgpool's weight of the high word of an LSN `X/Y`: `X * (0xFFFFFFFF - 16 MiB) + Y`.
const LSN_HIGH_WEIGHT: u64 = 0xFFFF_FFFF - 16 * 1024 * 1024;

/// The CONTEXT line of every message logged while the delay is checked.
pub const CONTEXT: &str = "while checking replication time lag";

/// A round of the check that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum DelayError {
    #[error("Failed to check replication time lag")]
    NoConnection(usize),
    #[error("invalid LSN format")]
    BadLsn(String),
}

impl DelayError {
    pub fn detail(&self) -> String {
        match self {
            DelayError::NoConnection(n) => format!("No persistent db connection for the node {n}"),
            DelayError::BadLsn(text) => format!("wrong log location format: {text}"),
        }
    }
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DelayError::NoConnection(_) => Some("check sr_check_user and sr_check_password"),
            DelayError::BadLsn(_) => None,
        }
    }
}

/// An LSN as text (`16/B374D848`) to pgpool's number (see `LSN_HIGH_WEIGHT`).
pub fn parse_lsn(text: &str) -> Result<u64, DelayError> {
    let bad = || DelayError::BadLsn(text.to_string());
    let (hi, lo) = text.split_once('/').ok_or_else(bad)?;
    let hi = u64::from_str_radix(hi, 16).map_err(|_| bad())?;
    let lo = u64::from_str_radix(lo, 16).map_err(|_| bad())?;
    Ok(hi.wrapping_mul(LSN_HIGH_WEIGHT).wrapping_add(lo))
}

/// Bytes `standby` is behind `primary` (0 when ahead).
pub fn byte_delay(primary: u64, standby: u64) -> i64 {
    primary.saturating_sub(standby).min(i64::MAX as u64) as i64
}

/// The `log_standby_delay` decision: `always` logs any delay, `if_over_threshold` a delay over
/// `delay_threshold` bytes (when set) or over `delay_threshold_by_time` ms in time mode.
pub fn should_log(
    mode: &str,
    delay: i64,
    by_time: bool,
    delay_threshold: i64,
    delay_threshold_by_time_ms: i64,
) -> bool {
    match mode {
        "always" => delay > 0,
        "if_over_threshold" if by_time => delay > delay_threshold_by_time_ms * 1000,
        "if_over_threshold" => delay_threshold > 0 && delay > delay_threshold,
        _ => false,
    }
}

/// pgpool's log line for a delayed standby (`delay` in bytes, or µs when `by_time`).
pub fn delay_message(node: usize, delay: i64, by_time: bool, primary: usize) -> String {
    if by_time {
        // pgpool divides a C float
        let secs = f64::from(delay as f32 / 1_000_000.0);
        format!(
            "Replication of node: {node} is behind {secs:.6} second(s) from the primary server (node: {primary})"
        )
    } else {
        format!(
            "Replication of node: {node} is behind {delay} bytes from the primary server (node: {primary})"
        )
    }
}

/// The `pg_stat_replication` query for a primary of `version` (`server_version_num`), if any.
fn stat_replication_query(version: i64) -> Option<&'static str> {
    match version {
        v if v >= 100000 => Some("SELECT application_name, state, sync_state,(EXTRACT(EPOCH FROM replay_lag)*1000000)::BIGINT FROM pg_catalog.pg_stat_replication"),
        v if v > 90100 => Some("SELECT application_name, state, sync_state, '' AS replay_lag FROM pg_catalog.pg_stat_replication"),
        90100 => Some("SELECT application_name, state, '' AS sync_state, '' AS replay_lag FROM pg_catalog.pg_stat_replication"),
        _ => None,
    }
}

/// The worker's cache of each node's `server_version_num` (asked once while unknown).
#[derive(Debug, Default)]
pub struct Versions(Vec<Option<i64>>);

impl Versions {
    fn get(&mut self, node: usize, conn: &mut InternalConn) -> i64 {
        if self.0.len() <= node {
            self.0.resize(node + 1, None);
        }
        if let Some(v) = self.0[node] {
            return v;
        }
        let v = conn
            .query_value("SELECT pg_catalog.current_setting('server_version_num')")
            .ok()
            .flatten()
            .and_then(|s| s.trim().parse::<i64>().ok());
        self.0[node] = v;
        v.unwrap_or(0)
    }
}

/// A position query's answer as a number: NULL or a failed query count as 0.
fn lsn_of(conn: &mut InternalConn, sql: &str) -> Result<u64, DelayError> {
    match conn.query_value(sql) {
        Ok(Some(text)) => parse_lsn(&text),
        _ => Ok(0),
    }
}

/// One round of the check over `conns` (one per node, `None` where not connected).
pub fn check_replication_delay(
    cfg: &Config,
    sh: &Shmem,
    conns: &mut [Option<InternalConn>],
    versions: &mut Versions,
) -> Result<(), DelayError> {
    let n = sh.num_backends();
    for i in 0..n {
        sh.backend(i).replication_state.clear();
        sh.backend(i).replication_sync_state.clear();
    }
    let primary = sh.header().primary_node_id.load(Relaxed);
    if n <= 1 || primary < 0 || !sh.backend(primary as usize).status().is_valid() {
        return Ok(());
    }
    let primary = primary as usize;
    let by_time_wanted = cfg.get_int("delay_threshold_by_time") > 0;
    let mut lsn = vec![0u64; n];
    let mut stat_query = None;
    let mut time_mode = false;
    let mut standbys = 0;
    for i in (0..n).filter(|&i| sh.backend(i).status().is_valid()) {
        let conn = conns
            .get_mut(i)
            .and_then(Option::as_mut)
            .ok_or(DelayError::NoConnection(i))?;
        let version = versions.get(i, conn);
        if i == primary {
            let q = if version >= 100000 {
                "SELECT pg_catalog.pg_current_wal_lsn()"
            } else {
                "SELECT pg_catalog.pg_current_xlog_location()"
            };
            lsn[i] = lsn_of(conn, q)?;
            stat_query = stat_replication_query(version);
            time_mode = version >= 100000 && by_time_wanted;
        } else {
            let q = if version >= 100000 {
                "SELECT pg_catalog.pg_last_wal_replay_lsn()"
            } else {
                "SELECT pg_catalog.pg_last_xlog_replay_location()"
            };
            lsn[i] = lsn_of(conn, q)?;
            standbys += 1;
        }
    }
    if let (Some(q), Some(conn)) = (stat_query, conns.get_mut(primary).and_then(Option::as_mut)) {
        let rows: Vec<Row> = match conn.query(q) {
            Ok(rows) if rows.is_empty() && standbys > 0 => {
                pglog!(Severity::Log, context = CONTEXT; "get_query_result failed: status: -2");
                rows
            }
            Ok(rows) => rows,
            Err(_) => {
                pglog!(Severity::Log, context = CONTEXT; "get_query_result failed: status: -1");
                Vec::new()
            }
        };
        copy_replication_rows(cfg, sh, primary, &rows);
    }
    let mode = cfg.get_enum("log_standby_delay");
    let threshold = cfg.get_int("delay_threshold");
    let threshold_ms = cfg.get_int("delay_threshold_by_time");
    for i in (0..n).filter(|&i| sh.backend(i).status().is_valid()) {
        let b = sh.backend(i);
        if i == primary {
            b.standby_delay.store(0, Relaxed);
            continue;
        }
        if time_mode {
            b.standby_delay_by_time.store(true, Relaxed);
        } else {
            b.standby_delay
                .store(byte_delay(lsn[primary], lsn[i]), Relaxed);
            b.standby_delay_by_time.store(false, Relaxed);
        }
        let delay = b.standby_delay.load(Relaxed);
        if should_log(mode, delay, time_mode, threshold, threshold_ms) {
            pglog!(
                Severity::Log,
                context = CONTEXT;
                "{}",
                delay_message(i, delay, time_mode, primary)
            );
        }
    }
    Ok(())
}

/// Copy `pg_stat_replication` rows (application_name, state, sync_state, replay_lag µs) into
/// every non-primary slot whose `backend_application_name` matches (the last match wins).
fn copy_replication_rows(cfg: &Config, sh: &Shmem, primary: usize, rows: &[Row]) {
    let backends = cfg.backends();
    for i in (0..sh.num_backends()).filter(|&i| i != primary) {
        let b = sh.backend(i);
        b.replication_state.clear();
        b.replication_sync_state.clear();
        let name = backends.get(i).map_or("", |c| c.application_name.as_str());
        for r in rows {
            let col = |k: usize| r.get(k).cloned().flatten().unwrap_or_default();
            if col(0) != name {
                continue;
            }
            b.replication_state.set(&col(1));
            b.replication_sync_state.set(&col(2));
            b.standby_delay
                .store(col(3).trim().parse::<i64>().unwrap_or(0), Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_uses_pgpools_high_word_weight() {
        assert_eq!(parse_lsn("0/0").unwrap(), 0);
        assert_eq!(parse_lsn("0/3000148").unwrap(), 0x300_0148);
        assert_eq!(parse_lsn("1/0").unwrap(), 0xFEFF_FFFF);
        assert_eq!(
            parse_lsn("16/B374D848").unwrap(),
            0x16 * 0xFEFF_FFFF + 0xB374_D848
        );
        for bad in ["", "0", "x/1", "1/", "1/2/3"] {
            assert!(
                matches!(parse_lsn(bad), Err(DelayError::BadLsn(_))),
                "{bad}"
            );
        }
        let p = parse_lsn("0/3010000").unwrap();
        let s = parse_lsn("0/3000000").unwrap();
        assert_eq!(byte_delay(p, s), 0x10000);
        assert_eq!(byte_delay(s, p), 0);
    }

    #[test]
    fn delay_lines_have_pgpools_wording() {
        assert_eq!(
            delay_message(2, 68512, false, 0),
            "Replication of node: 2 is behind 68512 bytes from the primary server (node: 0)"
        );
        assert_eq!(
            delay_message(1, 1_500_000, true, 0),
            "Replication of node: 1 is behind 1.500000 second(s) from the primary server (node: 0)"
        );
    }

    #[test]
    fn log_standby_delay_modes() {
        assert!(should_log("always", 1, false, 0, 0));
        assert!(!should_log("always", 0, false, 0, 0));
        assert!(!should_log("none", 100, false, 1, 0));
        assert!(!should_log("if_over_threshold", 100, false, 0, 0));
        assert!(should_log("if_over_threshold", 101, false, 100, 0));
        assert!(!should_log("if_over_threshold", 100, false, 100, 0));
        // time mode: threshold in ms, delay in µs
        assert!(should_log("if_over_threshold", 10_001, true, 0, 10));
        assert!(!should_log("if_over_threshold", 10_000, true, 0, 10));
    }

    #[test]
    fn replication_query_follows_the_primarys_version() {
        assert!(stat_replication_query(150018)
            .unwrap()
            .contains("replay_lag)*1000000"));
        assert!(stat_replication_query(90600)
            .unwrap()
            .contains("sync_state, ''"));
        assert!(stat_replication_query(90100)
            .unwrap()
            .contains("'' AS sync_state"));
        assert!(stat_replication_query(90000).is_none());
    }
}
