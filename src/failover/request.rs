//! Submitting node operations (spec/failover.md §4): degenerate (NODE_DOWN), failback (NODE_UP)
//! and promote requests are checked, logged in pgpool's words, pushed to the shared queue, and
//! the main process is woken with SIGUSR1 after `failover_requested` is set.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use crate::logger::Severity;
use crate::pglog;
use crate::shmem::{shmem, NodeRequest, RequestKind, Shmem, MAX_BACKENDS};

/// A request refused before it was queued, in pgpool's words (PCP sends it as an ERROR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
    pub detail: Option<String>,
}

fn refuse(throw_error: bool, message: String) -> Result<(), Refused> {
    if throw_error {
        Err(Refused {
            message,
            detail: None,
        })
    } else {
        pglog!(Severity::Log, "{}", message);
        Ok(())
    }
}

/// Push `req` and wake the main process (`register_node_operation_request`). False when the
/// queue is full (the request is dropped, as pgpool drops it).
pub fn register_node_operation_request(sh: &Shmem, req: &NodeRequest) -> bool {
    if !sh.push_request(req) {
        return false;
    }
    sh.header().failover_requested.store(true, SeqCst);
    let main = sh.header().main_pid.load(Relaxed);
    if main > 0 && main != std::process::id() as i32 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(main),
            nix::sys::signal::Signal::SIGUSR1,
        );
    }
    true
}

/// Ask every child to close its idle pooled connections (`close_idle_connections`, queued as
/// CLOSE_IDLE_REQUEST: the main process signals the children).
pub fn close_idle_connections() {
    let _ = register_node_operation_request(
        shmem(),
        &NodeRequest {
            kind: RequestKind::CloseIdle,
            details: 0,
            nodes: Vec::new(),
        },
    );
}

/// Why `n` cannot be detached, in pgpool's words (None: it can). pgpool's `test_only` check,
/// also used by the graceful PCP detach before it waits for clients.
pub fn degenerate_refusal(sh: &Shmem, n: usize) -> Option<String> {
    if n >= MAX_BACKENDS || n >= sh.num_backends() {
        return Some(format!(
            "invalid degenerate backend request, node id: {n} is out of range. node id must be between [0 and {}]",
            sh.num_backends()
        ));
    }
    let b = sh.backend(n);
    if !b.status().is_valid() && !b.quarantine.load(Relaxed) {
        return Some(format!(
            "invalid degenerate backend request, node id : {n} status: [{}] is not valid for failover",
            b.status() as u8
        ));
    }
    if b.flag.load(Relaxed) & crate::backend::FLAG_DISALLOW_TO_FAILOVER != 0 {
        return Some(format!(
            "degenerate backend request for node_id: {n} from pid [{}] is canceled because failover is disallowed on the node",
            std::process::id()
        ));
    }
    None
}

/// Request that `nodes` be detached (`degenerate_backend_set`). With `throw_error` a refused
/// node is an error, otherwise a log line.
pub fn degenerate_backend_set(
    nodes: &[usize],
    details: u8,
    throw_error: bool,
) -> Result<(), Refused> {
    let sh = shmem();
    let mut keep = Vec::new();
    for &n in nodes {
        if let Some(why) = degenerate_refusal(sh, n) {
            refuse(throw_error, why)?;
            continue;
        }
        pglog!(
            Severity::Log,
            "received degenerate backend request for node_id: {} from pid [{}]",
            n,
            std::process::id()
        );
        keep.push(n);
    }
    if !keep.is_empty() {
        register_node_operation_request(
            sh,
            &NodeRequest {
                kind: RequestKind::NodeDown,
                details,
                nodes: keep,
            },
        );
    }
    Ok(())
}

/// Request that `node` be attached again (`send_failback_request`). A quarantined node's
/// failback only lifts the quarantine (`UPDATE`).
pub fn send_failback_request(node: usize, throw_error: bool, details: u8) -> Result<(), Refused> {
    let sh = shmem();
    if node >= sh.num_backends() {
        return refuse(
            throw_error,
            format!("invalid failback request, node id: {node} is out of range. node id must be between [0 and {}]", sh.num_backends()),
        );
    }
    let b = sh.backend(node);
    if raw_mode() && b.status().is_valid() {
        return refuse(
            throw_error,
            format!(
                "invalid failback request, node id : {node} status: [{}] not valid for failback",
                b.status() as u8
            ),
        );
    }
    pglog!(
        Severity::Log,
        "received failback request for node_id: {} from pid [{}]",
        node,
        std::process::id()
    );
    let mut details = details;
    if b.quarantine.load(Relaxed) {
        details |= crate::shmem::requests::details::UPDATE;
        pglog!(
            Severity::Log,
            "failback request from pid [{}] is changed to update status request because node_id: {} was quarantined",
            std::process::id(),
            node
        );
    }
    register_node_operation_request(
        sh,
        &NodeRequest {
            kind: RequestKind::NodeUp,
            details,
            nodes: vec![node],
        },
    );
    Ok(())
}

/// Raw mode, read from the process's configuration when it has one (set by `set_raw_mode`).
fn raw_mode() -> bool {
    RAW_MODE.load(Relaxed)
}

static RAW_MODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tell the submitting side whether `backend_clustering_mode = raw` (the main process calls it
/// at start-up before forking; every process inherits it).
pub fn set_raw_mode(raw: bool) {
    RAW_MODE.store(raw, Relaxed);
}

/// Request that `node` become the primary (`promote_backend`). False when refused (logged).
pub fn promote_backend(node: usize, details: u8) -> bool {
    let sh = shmem();
    if !STREAMING.load(Relaxed) {
        return false;
    }
    if node >= sh.num_backends() {
        pglog!(
            Severity::Log,
            "invalid promote backend request, node id: {} is out of range. node id must be between [0 and {}]",
            node,
            sh.num_backends()
        );
        return false;
    }
    if !sh.backend(node).status().is_valid() {
        pglog!(
            Severity::Log,
            "invalid promote backend request, node id : {} status: [{}] not valid",
            node,
            sh.backend(node).status() as u8
        );
        return false;
    }
    pglog!(
        Severity::Log,
        "received promote backend request for node_id: {} from pid [{}]",
        node,
        std::process::id()
    );
    register_node_operation_request(
        sh,
        &NodeRequest {
            kind: RequestKind::Promote,
            details,
            nodes: vec![node],
        },
    )
}

static STREAMING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Tell the submitting side whether the mode has a primary (streaming or logical
/// replication): promote requests are refused otherwise. Called with `set_raw_mode`.
pub fn set_primary_mode(streaming_or_logical: bool) {
    STREAMING.store(streaming_or_logical, Relaxed);
}

/// `notice_backend_error`: a child could not use `node` (connection refused, admin shutdown);
/// request its detach (spec/failover.md §3 rows 4–7) as a switchover, which restarts only the
/// children using the node in streaming mode.
pub fn notice_backend_error(node: usize) {
    if crate::protocol::conn::waits_cut() {
        return; // the read failed because this process is told to exit, not because of the node
    }
    let _ = degenerate_backend_set(&[node], crate::shmem::requests::details::SWITCHOVER, false);
}
