//! The false-primary cross-check of `verify_backend_node_status` with `detach_false_primary`
//! (spec/failover.md §7.3): which configured primary each standby's WAL receiver streams from,
//! read from `pg_stat_wal_receiver.conninfo` and compared with `backend_hostname`/`backend_port`.
//! A primary followed by every standby is the true one; the other primaries are false.

use std::sync::atomic::Ordering::Relaxed;

use super::internal::InternalConn;
use super::primary::NodeClass;
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::Shmem;

/// The value after `key` in a conninfo string, as pgpool extracts it: the first occurrence of
/// the substring `key` (so `host` also matches inside `hostaddr`), then after the next `=`, up
/// to the next space.
pub fn conninfo_value(conninfo: &str, key: &str) -> String {
    let Some(at) = conninfo.find(key) else {
        return String::new();
    };
    let rest = &conninfo[at + key.len()..];
    let Some(eq) = rest.find('=') else {
        return String::new();
    };
    let value = &rest[eq + 1..];
    value[..value.find(' ').unwrap_or(value.len())].to_string()
}

/// Whether a WAL receiver connected to `host`:`port` follows the primary configured as
/// `backend_host`:`backend_port` (a Unix socket directory matches an empty host or
/// `localhost`).
pub fn follows(backend_host: &str, backend_port: i32, host: &str, port: &str) -> bool {
    let host_ok = (backend_host.starts_with('/') && (host.is_empty() || host == "localhost"))
        || host == backend_host;
    host_ok && port == backend_port.to_string()
}

/// Re-classify primaries when standbys exist and `detach_false_primary` is on: every primary
/// followed by fewer than all standbys becomes Invalid if some primary is followed by all.
pub fn mark_false_primaries(
    sh: &Shmem,
    conns: &mut [Option<InternalConn>],
    class: &mut [NodeClass],
) {
    let any_96 = conns.iter_mut().flatten().any(|c| {
        c.query_value("SELECT pg_catalog.current_setting('server_version_num')")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|v| v >= 90600)
    });
    if !any_96 {
        return;
    }
    // Each standby's WAL receiver: (host, port) when it streams.
    let receivers: Vec<Option<(String, String)>> = conns
        .iter_mut()
        .enumerate()
        .map(|(i, c)| {
            if class.get(i) != Some(&NodeClass::Standby) {
                return None;
            }
            let rows = c
                .as_mut()?
                .query("SELECT status, conninfo FROM pg_catalog.pg_stat_wal_receiver")
                .ok()?;
            let row = rows.first()?;
            let status = row.first().cloned().flatten()?;
            let conninfo = row.get(1).cloned().flatten()?;
            (status == "streaming").then(|| {
                (
                    conninfo_value(&conninfo, "host"),
                    conninfo_value(&conninfo, "port"),
                )
            })
        })
        .collect();
    let standbys = class.iter().filter(|&&c| c == NodeClass::Standby).count();
    let mut true_primary = None;
    let mut partial = Vec::new();
    for p in (0..class.len()).filter(|&p| class[p] == NodeClass::Primary) {
        let (p_host, p_port) = (
            sh.backend(p).hostname.get(),
            sh.backend(p).port.load(Relaxed),
        );
        let mut followers = 0;
        for (s, r) in receivers.iter().enumerate() {
            let Some((host, port)) = r else { continue };
            if follows(&p_host, p_port, host, port) {
                followers += 1;
            } else {
                pglog!(
                    Severity::Log,
                    detail = format!(
                        "pgpool.conf backend: (host=\"{p_host}\" port={p_port}) does not match PostgreSQL primary_conninfo: (host=\"{host}\" port={port})"
                    );
                    "verify_backend_node_status: primary {} does not connect to standby {}",
                    p,
                    s
                );
            }
        }
        if followers == standbys {
            true_primary = Some(p);
        } else {
            pglog!(
                Severity::Log,
                "verify_backend_node_status: primary {} owns only {} standbys out of {}",
                p,
                followers,
                standbys
            );
            partial.push(p);
        }
    }
    if true_primary.is_some() {
        for p in partial {
            class[p] = NodeClass::Invalid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_values_are_found_as_pgpool_finds_them() {
        let ci = "user=postgres passfile=/x channel_binding=prefer host=127.0.0.1 port=5433 sslmode=prefer";
        assert_eq!(conninfo_value(ci, "host"), "127.0.0.1");
        assert_eq!(conninfo_value(ci, "port"), "5433");
        assert_eq!(conninfo_value("port=1", "host"), "");
        // the first `host` substring wins, even inside hostaddr
        assert_eq!(
            conninfo_value("hostaddr=10.0.0.1 host=db port=1", "host"),
            "10.0.0.1"
        );
    }

    #[test]
    fn a_standby_follows_by_host_and_port() {
        assert!(follows("127.0.0.1", 5433, "127.0.0.1", "5433"));
        assert!(!follows("127.0.0.1", 5433, "127.0.0.1", "5434"));
        assert!(!follows("db1", 5433, "db2", "5433"));
        assert!(follows("/tmp", 5433, "", "5433"));
        assert!(follows("/tmp", 5433, "localhost", "5433"));
        assert!(!follows("/tmp", 5433, "127.0.0.1", "5433"));
    }
}
