//! The PCP requests that act (spec/pcp.md §5.7–§5.14, §5.16; spec/failover.md §10): attach `C`,
//! detach `D`/`d`, promote `J`/`j`, stop `T`/`t`, reload `Z`, log rotation `V`, query-cache
//! invalidation `G` and the session parameter `A`. Node
//! operations are queued through `crate::failover::request`; the main process carries them out.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::info::{atoi, cc_packet};
use super::{PcpError, WAKEUP};
use crate::config::Config;
use crate::failover::request::{degenerate_backend_set, promote_backend, send_failback_request};
use crate::logger::Severity;
use crate::pglog;
use crate::shmem::requests::details;
use crate::shmem::{HoldMode, RequestKind, Shmem};

/// What the worker does after sending the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// Send this signal to the pgpool main process.
    SignalMain(Signal),
    /// Send this signal to the logging collector.
    SignalLogger(Signal),
}

fn refused(e: crate::failover::request::Refused) -> PcpError {
    PcpError {
        fatal: false,
        message: e.message,
        detail: e.detail,
    }
}

/// `C`: queue a failback; replies at once.
pub fn attach(payload: &[u8]) -> Result<Vec<u8>, PcpError> {
    let node = atoi(payload);
    pglog!(Severity::Debug1, "PCP: processing attach node");
    let node = usize::try_from(node).unwrap_or(usize::MAX >> 1);
    send_failback_request(node, true, details::CONFIRMED).map_err(refused)?;
    Ok(cc_packet::<&str>(b'c', &[]))
}

/// The bounded wait of a graceful operation, with new clients held back (the caller holds
/// `Shmem::hold_clients`): until no client is connected, at most `recovery_timeout`. False
/// when clients stayed connected. A zero must be seen twice, 100 ms apart: a child that looked
/// at the hold just before it was set may have accepted a client it has not counted yet.
fn wait_clients_gone(cfg: &Config, sh: &Shmem) -> bool {
    let limit = Duration::from_secs(cfg.get_int("recovery_timeout").max(0) as u64);
    let end = Instant::now() + limit;
    let mut quiet = false;
    loop {
        let none = sh.header().conn_counter.load(SeqCst) <= 0;
        if none && quiet {
            return true;
        }
        quiet = none;
        if Instant::now() >= end {
            pglog!(
                Severity::Log,
                "wait_connection_closed: existing connections did not close in {} sec.",
                limit.as_secs()
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// After a graceful request was queued: wait for the main process's SIGUSR2 (or until the queue
/// has drained and no failover is running), bounded by `recovery_timeout`.
fn wait_operation_done(cfg: &Config, sh: &Shmem) {
    let limit = Duration::from_secs(cfg.get_int("recovery_timeout").max(1) as u64);
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if WAKEUP.swap(false, SeqCst) {
            return;
        }
        if sh.pending_requests() == 0 && !sh.header().switching.load(SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `D` / `d`: queue a detach (graceful: after the clients left, and wait for its end).
pub fn detach(
    cfg: &Config,
    sh: &Shmem,
    payload: &[u8],
    graceful: bool,
) -> Result<Vec<u8>, PcpError> {
    let node = usize::try_from(atoi(payload)).unwrap_or(usize::MAX >> 1);
    let flags = details::SWITCHOVER | details::CONFIRMED;
    detach_with(cfg, sh, node, flags, graceful)?;
    Ok(cc_packet::<&str>(b'd', &[]))
}

fn detach_with(
    cfg: &Config,
    sh: &Shmem,
    node: usize,
    flags: u8,
    graceful: bool,
) -> Result<(), PcpError> {
    if !graceful {
        return degenerate_backend_set(&[node], flags, true).map_err(refused);
    }
    check_detachable(sh, node)?;
    WAKEUP.store(false, SeqCst);
    // new clients wait in the listen queue until this returns, whichever way
    let _hold = sh.hold_clients(HoldMode::Detach);
    if !wait_clients_gone(cfg, sh) {
        return Ok(()); // pgpool's quirk: abandoned, still CommandComplete
    }
    degenerate_backend_set(&[node], flags, false).map_err(refused)?;
    wait_operation_done(cfg, sh);
    Ok(())
}

/// The checks `degenerate_backend_set` makes, without queueing (pgpool's `test_only`).
fn check_detachable(sh: &Shmem, node: usize) -> Result<(), PcpError> {
    match crate::failover::request::degenerate_refusal(sh, node) {
        Some(why) => Err(PcpError::error(why, None)),
        None => Ok(()),
    }
}

/// The node id and option byte of a `J`/`j` payload: `"<id> " \0 <opt>`.
pub fn parse_promote(payload: &[u8]) -> (i64, u8) {
    let space = payload
        .iter()
        .position(|&b| b == b' ' || b == 0)
        .unwrap_or(payload.len());
    let id = atoi(&payload[..space]);
    let opt = payload.get(space + 2).copied().unwrap_or(0);
    (id, opt)
}

/// `J` / `j`: promote `id` (option `s`: switchover, detaching the current primary).
pub fn promote(
    cfg: &Config,
    sh: &Shmem,
    payload: &[u8],
    graceful: bool,
) -> Result<Vec<u8>, PcpError> {
    let (id, opt) = parse_promote(payload);
    if id < 0 || id as usize >= sh.num_backends() {
        return Err(PcpError::error(
            "could not process promote request",
            Some(format!("node id {id} is not valid")),
        ));
    }
    if cfg.get_enum("backend_clustering_mode") != "streaming_replication" {
        return Err(PcpError::fatal(
            "invalid pgpool mode for process promote request",
            Some(format!(
                "not in streaming replication mode, can't promote node id {id}"
            )),
        ));
    }
    if sh.header().primary_node_id.load(Relaxed) == id as i32 {
        return Err(PcpError::fatal(
            "invalid promote request",
            Some(format!(
                "specified node is already primary node, can't promote node id {id}"
            )),
        ));
    }
    let node = id as usize;
    if opt == b's' {
        let flags = details::PROMOTE | details::SWITCHOVER | details::CONFIRMED;
        detach_with(cfg, sh, node, flags, graceful)?;
    } else if graceful {
        WAKEUP.store(false, SeqCst);
        let _hold = sh.hold_clients(HoldMode::Promote);
        if wait_clients_gone(cfg, sh) && promote_backend(node, details::CONFIRMED) {
            wait_operation_done(cfg, sh);
        }
    } else {
        promote_backend(node, details::CONFIRMED);
    }
    Ok(cc_packet::<&str>(b'd', &[]))
}

/// The "… is in progress" refusal of `O` and `T`/`t` while a failover is being processed and a
/// node request is still queued (named by the oldest one). A failover whose requests the main
/// process has all taken (e.g. one still running a slow failover_command) refuses nothing.
pub fn refuse_while_switching(sh: &Shmem) -> Result<(), PcpError> {
    if !sh.header().switching.load(SeqCst) || sh.pending_requests() == 0 {
        return Ok(());
    }
    let detail = match sh.head_request_kind() {
        Some(RequestKind::NodeUp) => "failback is in progress",
        Some(RequestKind::NodeDown) => "failover is in progress",
        Some(RequestKind::Promote) => "promote node operation is in progress",
        _ => "operation is in progress",
    };
    Err(PcpError::error(
        "failed to process PCP request at the moment",
        Some(detail.into()),
    ))
}

/// `T` / `t`: reply, then the mode's signal to the main process (no watchdog: `t` = `T`).
pub fn stop(sh: &Shmem, payload: &[u8]) -> Result<(Vec<u8>, After), PcpError> {
    refuse_while_switching(sh)?;
    let mode = payload.first().copied().unwrap_or(0);
    let sig = match mode {
        b's' => Signal::SIGTERM,
        b'f' => Signal::SIGINT,
        b'i' => Signal::SIGQUIT,
        c => {
            return Err(PcpError::error(
                "PCP: error while processing shutdown request",
                Some(format!("invalid shutdown mode \"{}\"", c as char)),
            ))
        }
    };
    pglog!(
        Severity::Log,
        "received shutdown request from PCP, mode: \"{}\"",
        mode as char
    );
    Ok((cc_packet::<&str>(b't', &[]), After::SignalMain(sig)))
}

/// `Z`: SIGHUP to the main process (no watchdog: cluster scope acts locally).
pub fn reload() -> (Vec<u8>, After) {
    (
        cc_packet::<&str>(b'z', &[]),
        After::SignalMain(Signal::SIGHUP),
    )
}

/// `V`: rotate the log file through the logging collector.
pub fn log_rotate(cfg: &Config) -> Result<(Vec<u8>, After), PcpError> {
    if !cfg.get_bool("logging_collector") {
        return Err(PcpError::error(
            "process log rotation request failed",
            Some("logging_collector is disabled".into()),
        ));
    }
    Ok((
        cc_packet::<&str>(b'v', &[]),
        After::SignalLogger(Signal::SIGUSR1),
    ))
}

/// `G`: there is no query cache yet, so the answer is pgpool's with `memory_cache_enabled = off`
/// (turning the cache on is refused at start-up by the configuration checks).
pub fn invalidate_query_cache() -> PcpError {
    PcpError::error("query cache is not enabled", None)
}

/// `client_min_messages` values `A` accepts.
const LEVELS: [&str; 11] = [
    "debug5",
    "debug4",
    "debug3",
    "debug2",
    "debug1",
    "log",
    "commerror",
    "info",
    "notice",
    "warning",
    "error",
];

/// `A`: set a PCP-session parameter; only `client_min_messages` exists. Returns the new level.
pub fn set_parameter(payload: &[u8]) -> Result<(Vec<u8>, String), PcpError> {
    let parts = crate::pcp::wire::split_strings(payload);
    let name = parts.first().cloned().unwrap_or_default();
    let value = parts.get(1).cloned().unwrap_or_default();
    let fail = |d: String| PcpError::error("PCP: set configuration parameter failed", Some(d));
    if !name.eq_ignore_ascii_case("client_min_messages") {
        return Err(fail(format!("invalid parameter \"{name}\"")));
    }
    let Some(level) = LEVELS.iter().find(|l| l.eq_ignore_ascii_case(&value)) else {
        return Err(fail(format!(
            "invalid value \"{value}\" for parameter \"{name}\""
        )));
    };
    pglog!(
        Severity::Log,
        "set configuration parameter, \"{} TO {}\"",
        name,
        value
    );
    Ok((cc_packet::<&str>(b'a', &[]), level.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_payload_is_id_space_nul_option() {
        assert_eq!(parse_promote(b"2 \0s"), (2, b's'));
        assert_eq!(parse_promote(b"1 \0n"), (1, b'n'));
        assert_eq!(parse_promote(b"3"), (3, 0));
    }

    #[test]
    fn only_client_min_messages_can_be_set() {
        let (reply, level) = set_parameter(b"CLIENT_MIN_MESSAGES\0Debug1\0").expect("accepted");
        assert_eq!(level, "debug1");
        assert_eq!(reply, b"a\0\0\0\x14CommandComplete\0".to_vec());
        let e = set_parameter(b"work_mem\0x\0").expect_err("refused");
        assert_eq!(e.detail.as_deref(), Some("invalid parameter \"work_mem\""));
        let e = set_parameter(b"client_min_messages\0loud\0").expect_err("refused");
        assert_eq!(
            e.detail.as_deref(),
            Some("invalid value \"loud\" for parameter \"client_min_messages\"")
        );
    }
}
