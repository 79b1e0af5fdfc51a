//! Online recovery, PCP `O` (spec/failover.md §15, pcp.md §5.10), in streaming replication
//! mode: stage 1 (`pgpool_recovery(...)` on the primary, which runs
//! `recovery_1st_stage_command`), `pgpool_remote_start(...)`, the wait for the restarted
//! postmaster, then a failback request. One recovery at a time: the flag is `in_recovery` in the
//! shared region's header. Stage 2 (native replication / snapshot
//! isolation, which must stop children from accepting: `Shmem::hold_clients(HoldMode::Online)`
//! while it waits for the clients to leave) is not implemented.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use super::info::{atoi, cc_packet};
use super::{PcpError, WAKEUP};
use crate::backend::internal::{resolve_password, Bounds, InternalConn, Secret};
use crate::config::Config;
use crate::failover::request::send_failback_request;
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::requests::details;
use crate::shmem::{BackendStatus, Shmem};

fn fail(detail: impl Into<String>) -> PcpError {
    PcpError::error("process recovery request failed", Some(detail.into()))
}

fn node_failed(detail: impl Into<String>) -> PcpError {
    PcpError::error(detail.into(), None)
}

/// `O`: recover `payload`'s node; replies `c` + CommandComplete once it was restarted.
pub fn recover(cfg: &Config, sh: &Shmem, payload: &[u8]) -> Result<Vec<u8>, PcpError> {
    super::ops::refuse_while_switching(sh)?;
    let id = atoi(payload);
    if id < 0 || id as usize >= sh.num_backends() {
        return Err(fail(format!("node id {id} is not valid")));
    }
    let mode = cfg.get_enum("backend_clustering_mode");
    if mode == "streaming_replication" && sh.header().primary_node_id.load(Relaxed) == id as i32 {
        return Err(fail(
            "primary server cannot be recovered by online recovery.",
        ));
    }
    if !matches!(
        mode,
        "streaming_replication" | "native_replication" | "snapshot_isolation"
    ) {
        return Err(fail(
            "recovery request is only allowed in replication and streaming replication modes.",
        ));
    }
    if mode != "streaming_replication" {
        return Err(fail(
            "online recovery in native replication and snapshot isolation modes is not supported by pgpool-rs",
        ));
    }
    let flag = &sh.header().in_recovery;
    if flag.swap(true, SeqCst) {
        return Err(PcpError::fatal(
            "process recovery request failed",
            Some("pgpool-II is already processing another recovery request.".into()),
        ));
    }
    let r = start_recovery(cfg, sh, id as usize);
    flag.store(false, SeqCst);
    r.map(|()| cc_packet::<&str>(b'c', &[]))
}

/// `localhost` for an empty or socket-directory host, as pgpool passes hosts to the functions.
fn remote_host(h: &str) -> String {
    if h.is_empty() || h.starts_with('/') {
        "localhost".into()
    } else {
        h.to_string()
    }
}

fn credentials(cfg: &Config) -> (String, Secret) {
    let user = cfg.get_str("recovery_user").to_string();
    let pp = cfg.get_str("pool_passwd");
    let path = (!pp.is_empty()).then(|| cfg.resolve(pp));
    let secret = resolve_password(
        cfg.get_str("recovery_password"),
        &user,
        path.as_deref(),
        crate::child::settings::pool_key(),
    );
    (user, secret)
}

fn start_recovery(cfg: &Config, sh: &Shmem, node: usize) -> Result<(), PcpError> {
    pglog!(Severity::Log, "starting recovering node {}", node);
    let b = sh.backend(node);
    match b.status() {
        BackendStatus::Unused => {
            return Err(node_failed(format!(
                "node recovery failed, node id: {node} is unused"
            )))
        }
        s if s.is_valid() => {
            return Err(node_failed(format!(
                "node recovery failed, node id: {node} is alive"
            )))
        }
        _ => {}
    }
    let source = sh.header().primary_node_id.load(Relaxed);
    let Ok(source) = usize::try_from(source) else {
        return Err(node_failed(
            "node recovery failed, unable to connect to main node: -1 ",
        ));
    };
    let (user, secret) = credentials(cfg);
    let mut conn =
        InternalConn::connect_node(sh, source, &user, "template1", &secret, Bounds::both(None))
            .map_err(|_| {
                node_failed(format!(
                    "node recovery failed, unable to connect to main node: {source} "
                ))
            })?;
    let target_host = remote_host(&b.hostname.get());
    let datadir = cfg
        .show(&format!("backend_data_directory{node}"))
        .unwrap_or_default();
    let script = cfg.get_str("recovery_1st_stage_command");
    if !script.is_empty() {
        let src = sh.backend(source);
        let sql = format!(
            "SELECT pgpool_recovery('{script}', '{target_host}', '{datadir}', '{}', {node}, '{}', '{}')",
            src.port.load(Relaxed),
            b.port.load(Relaxed),
            remote_host(&src.hostname.get())
        );
        pglog!(Severity::Log, detail = format!("starting recovery command: \"{sql}\""); "executing recovery");
        pglog!(Severity::Log, "disabling statement_timeout");
        conn.query("SET statement_timeout To 0").map_err(|_| {
            node_failed("executing recovery, SET STATEMENT_TIMEOUT failed at \"1st stage\"")
        })?;
        conn.query(&sql).map_err(|_| {
            PcpError::error(
                "executing recovery, execution of command failed at \"1st stage\"",
                Some(format!("command:\"{script}\"")),
            )
        })?;
    }
    pglog!(Severity::Log, "node recovery, 1st stage is done");
    conn.query(&format!(
        "SELECT pgpool_remote_start('{target_host}', '{datadir}')"
    ))
    .map_err(|e| node_failed(format!("executing remote start failed with error: \"{e}\"")))?;
    check_postmaster_started(cfg, sh, node, &user, &secret)?;
    pglog!(Severity::Log, "node recovery, node: {} restarted", node);
    WAKEUP.store(false, SeqCst);
    let _ = send_failback_request(node, false, details::CONFIRMED);
    let end = Instant::now() + Duration::from_secs(5);
    while !WAKEUP.swap(false, SeqCst) {
        if Instant::now() >= end {
            pglog!(
                Severity::Log,
                "waiting for wake up request is timeout(5 seconds)"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(conn);
    pglog!(Severity::Log, "recovery done");
    Ok(())
}

/// Wait until the restarted node accepts connections: `postgres` 4 times, then `template1`
/// for `recovery_timeout`, 3 s apart.
fn check_postmaster_started(
    cfg: &Config,
    sh: &Shmem,
    node: usize,
    user: &str,
    secret: &Secret,
) -> Result<(), PcpError> {
    let host = sh.backend(node).hostname.get();
    let rounds = cfg.get_int("recovery_timeout").max(0) / 3;
    let attempts = (0..4)
        .map(|i| ("postgres", i))
        .chain((0..=rounds).map(|i| ("template1", i)));
    for (db, i) in attempts {
        pglog!(
            Severity::Log,
            detail = format!("trying to connect to postmaster on hostname:{host} database:{db} user:{user} (retry {i} times)");
            "checking if postmaster is started"
        );
        let t = Some(Duration::from_secs(10));
        if InternalConn::connect_node(sh, node, user, db, secret, Bounds::both(t)).is_ok() {
            return Ok(());
        }
        if db == "postgres" || rounds != 0 {
            std::thread::sleep(Duration::from_secs(3));
        }
    }
    Err(PcpError::error(
        "recovery is checking if postmaster is started",
        Some(format!(
            "postmaster on hostname:\"{host}\" database:\"template1\" user:\"{user}\" failed to start in {} second",
            cfg.get_int("recovery_timeout")
        )),
    ))
}
