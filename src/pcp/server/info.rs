//! The PCP requests that only read state (spec/pcp.md §5.1–§5.6, §5.15): node count `L`, node
//! info `I`, health-check statistics `H`, process count `N`, process/pool info `P`, the
//! configuration dump `B` and watchdog info `W`. Each returns the reply packets (already
//! framed) or the ERROR pgpool sends. Field lists are pgpool 4.3.5's (12 NodeInfo fields, 17
//! ProcessInfo fields). The values come from the same tables `SHOW pool_*` builds.

use std::sync::atomic::Ordering::Relaxed;

use super::PcpError;
use crate::commands::show;
use crate::commands::{Env, SessionConfig, ShowPool};
use crate::pcp::wire::{encode, strings_payload};
use crate::shmem::Shmem;

/// `CommandComplete\0`, the payload that ends every multi-packet reply.
pub const CC: &str = "CommandComplete";

/// pgpool's RAND_MAX: NodeInfo weights are scaled by it.
const RAND_MAX: f64 = 2147483647.0;

/// pgpool's `atoi`: optional sign and leading digits, anything else 0.
pub fn atoi(payload: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(payload.split(|&b| b == 0).next().unwrap_or_default())
        .trim_start()
        .to_string();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, &s[..]),
    };
    let n: i64 = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .take(18)
        .fold(0, |a, d| a * 10 + i64::from(d - b'0'));
    if neg {
        -n
    } else {
        n
    }
}

/// The text of a payload up to its first NUL (for error details).
pub fn text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
}

/// `<kind>` + `CommandComplete\0` + `fields`.
pub fn cc_packet<S: AsRef<str>>(kind: u8, fields: &[S]) -> Vec<u8> {
    let mut p = strings_payload(&[CC]);
    p.extend(strings_payload(fields));
    encode(kind, &p)
}

fn array_size(kind: u8, n: usize) -> Vec<u8> {
    encode(
        kind,
        &strings_payload(&["ArraySize".to_string(), n.to_string()]),
    )
}

/// `L`: number of configured backend slots.
pub fn node_count(sh: &Shmem) -> Vec<u8> {
    cc_packet(b'l', &[sh.num_backends().to_string()])
}

/// SERVER_ROLE number of `node`: primary/standby in streaming mode, else main/replica.
fn role_number(streaming: bool, sh: &Shmem, node: usize) -> u8 {
    let h = sh.header();
    match (
        streaming,
        streaming && h.primary_node_id.load(Relaxed) == node as i32,
    ) {
        (true, true) => 2,
        (true, false) => 3,
        (false, _) if h.main_node_id.load(Relaxed) == node as i32 => 0,
        _ => 1,
    }
}

/// `I`: node info for `payload`'s node id (−1 = all).
pub fn node_info(cfg: &dyn SessionConfig, sh: &Shmem, payload: &[u8]) -> Result<Vec<u8>, PcpError> {
    let id = atoi(payload);
    let n = sh.num_backends();
    let ids: Vec<usize> = if id == -1 {
        (0..n).collect()
    } else if id >= 0 && (id as usize) < n {
        vec![id as usize]
    } else {
        return Err(PcpError::error(
            "informing node info failed",
            Some(format!("invalid node ID : {}", text(payload))),
        ));
    };
    let env = Env {
        sh,
        load_balance_node: None,
    };
    // SHOW pool_nodes columns: 4 pg_status, 7 pg_role, 11 replication_state, 12 sync_state.
    let table = show::table(ShowPool::Nodes, cfg, &env).rows;
    let streaming = cfg.streaming();
    let mut out = array_size(b'i', ids.len());
    for i in ids {
        let b = sh.backend(i);
        let row = &table[i];
        let fields = [
            "NodeInfo".to_string(),
            b.hostname.get(),
            b.port.load(Relaxed).to_string(),
            (b.status() as u8).to_string(),
            u8::from(b.quarantine.load(Relaxed)).to_string(),
            row[4].clone(),
            format!("{:.6}", b.weight() * RAND_MAX),
            role_number(streaming, sh, i).to_string(),
            row[7].clone(),
            b.standby_delay.load(Relaxed).max(0).to_string(),
            row[11].clone(),
            row[12].clone(),
            b.status_changed_time.load(Relaxed).to_string(),
        ];
        out.extend(encode(b'i', &strings_payload(&fields)));
    }
    out.extend(encode(b'i', &strings_payload(&[CC])));
    Ok(out)
}

/// `H`: health-check statistics of one node: its SHOW pool_health_check_stats row.
pub fn health_stats(
    cfg: &dyn SessionConfig,
    sh: &Shmem,
    payload: &[u8],
) -> Result<Vec<u8>, PcpError> {
    let id = atoi(payload);
    let fail = |d: String| PcpError::error("informing health check stats info failed", Some(d));
    if id < 0 || id as usize > sh.num_backends() {
        return Err(fail(format!("invalid node ID {id}")));
    }
    let env = Env {
        sh,
        load_balance_node: None,
    };
    let table = show::table(ShowPool::HealthCheckStats, cfg, &env).rows;
    let Some(row) = table.get(id as usize) else {
        return Err(fail(format!("stats data for node ID {id} does not exist")));
    };
    // the same 20 columns as SHOW pool_health_check_stats
    let fields: Vec<String> = row.clone();
    Ok(cc_packet(b'h', &fields))
}

/// Pids of the live client children in slot order.
fn child_pids(sh: &Shmem) -> Vec<i32> {
    (0..sh.num_children)
        .map(|c| sh.process(c).pid.load(Relaxed))
        .filter(|&p| p > 0)
        .collect()
}

/// `N`: count and pids of the client children.
pub fn proc_count(sh: &Shmem) -> Vec<u8> {
    let pids = child_pids(sh);
    let mut fields = vec![pids.len().to_string()];
    fields.extend(pids.iter().map(i32::to_string));
    cc_packet(b'n', &fields)
}

/// `P`: one ProcessInfo per (child, pool slot, backend) of `payload`'s pid (0 = all children).
pub fn proc_info(cfg: &dyn SessionConfig, sh: &Shmem, payload: &[u8]) -> Result<Vec<u8>, PcpError> {
    let pid = atoi(payload);
    if pid != 0 && !child_pids(sh).contains(&(pid as i32)) {
        return Err(PcpError::error(
            "informing process info failed",
            Some(format!("invalid process ID : {}", text(payload))),
        ));
    }
    let env = Env {
        sh,
        load_balance_node: None,
    };
    // SHOW pool_pools rows are exactly 4.3.5's 17 ProcessInfo fields, in the same order.
    let rows: Vec<Vec<String>> = show::table(ShowPool::Pools, cfg, &env)
        .rows
        .into_iter()
        .filter(|r| pid == 0 || r[0] == pid.to_string())
        .collect();
    let mut out = array_size(b'p', rows.len());
    for r in rows {
        let mut fields = vec!["ProcessInfo".to_string()];
        fields.extend(r);
        out.extend(encode(b'p', &strings_payload(&fields)));
    }
    out.extend(encode(b'p', &strings_payload(&[CC])));
    Ok(out)
}

/// `B`: the rows of SHOW pool_status; the ArraySize is a binary int32 here.
pub fn pool_status(cfg: &dyn SessionConfig, sh: &Shmem) -> Vec<u8> {
    let env = Env {
        sh,
        load_balance_node: None,
    };
    let rows = show::table(ShowPool::Status, cfg, &env).rows;
    let mut size = strings_payload(&["ArraySize"]);
    size.extend((rows.len() as i32).to_be_bytes());
    let mut out = encode(b'b', &size);
    for r in rows {
        let mut fields = vec!["ProcessConfig".to_string()];
        fields.extend(r);
        out.extend(encode(b'b', &strings_payload(&fields)));
    }
    out.extend(encode(b'b', &strings_payload(&[CC])));
    out
}

/// `W`: the watchdog is not implemented, so the answer is pgpool's with `use_watchdog = off`.
pub fn watchdog_info() -> PcpError {
    PcpError::error(
        "PCP: informing watchdog info failed",
        Some("watchdog is not enabled".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_is_c_like() {
        assert_eq!(atoi(b"12\0"), 12);
        assert_eq!(atoi(b"-1\0"), -1);
        assert_eq!(atoi(b" 7x\0"), 7);
        assert_eq!(atoi(b"abc\0"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"3 \0s"), 3);
    }

    #[test]
    fn command_complete_packets() {
        assert_eq!(
            cc_packet(b'l', &["1"]),
            b"l\0\0\0\x16CommandComplete\x001\0".to_vec()
        );
        assert_eq!(
            cc_packet::<&str>(b'z', &[]),
            b"z\0\0\0\x14CommandComplete\0".to_vec()
        );
    }
}
