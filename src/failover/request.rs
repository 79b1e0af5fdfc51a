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
        if n >= MAX_BACKENDS || n >= sh.num_backends() {
            refuse(
                throw_error,
                format!("invalid degenerate backend request, node id : {n} is out of range. node id must be between [0 and {}]", sh.num_backends()),
            )?;
            continue;
        }
        let b = sh.backend(n);
        if !b.status().is_valid() && !b.quarantine.load(Relaxed) {
            refuse(
                throw_error,
                format!(
                    "invalid degenerate backend request, node id : {n} status: [{}] is not valid for failover",
                    b.status() as u8
                ),
            )?;
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

/// Request that `node` be attached again (`send_failback_request`).
pub fn send_failback_request(node: usize, throw_error: bool, details: u8) -> Result<(), Refused> {
    let sh = shmem();
    if node >= sh.num_backends() {
        return refuse(
            throw_error,
            format!("invalid failback request, node id : {node} is out of range. node id must be between [0 and {}]", sh.num_backends()),
        );
    }
    pglog!(
        Severity::Log,
        "received failback request for node_id: {} from pid [{}]",
        node,
        std::process::id()
    );
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

/// Request that `node` become the primary (`promote_backend`). False when refused (logged).
pub fn promote_backend(node: usize, details: u8) -> bool {
    let sh = shmem();
    if node >= sh.num_backends() || !sh.backend(node).status().is_valid() {
        pglog!(
            Severity::Log,
            "invalid promote backend request, node id : {} status: [{}] not valid",
            node,
            if node < sh.num_backends() {
                sh.backend(node).status() as u8
            } else {
                0
            }
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
