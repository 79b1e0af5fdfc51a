//! The end of a session whose slot may be pooled (spec/architecture.md §3.8). For each backend
//! connection the session sent something to: drain replies the client no longer waits for, then
//! send every `reset_query_list` entry (skipping `ABORT` when the backend is idle) in one write.
//! A connection the session never touched is still as clean as the last reset left it. The
//! replies are checked, with pgpool's 10-second limit, when the slot is next reused
//! (`pool::BackendConn::settle_reset`): a failed reset closes the connection then, and the next
//! client gets a new one.

use crate::child::Child;
use crate::logger::Severity;
use crate::pglog;
use crate::protocol::messages;
use crate::session::stats;
use crate::sql::Kind;

/// Run the reset procedure on the backends of slot `pool_idx` the session touched. True when
/// everything could be drained and sent (whether it succeeded is known at the next reuse). Each
/// statement sent counts in the node's statement counters and is logged under the session's
/// `log_statement` / `log_per_node_statement`, as pgpool counts and logs its own reset.
pub fn reset(child: &mut Child, pool_idx: usize) -> bool {
    let queries = &child.settings.reset_query_list;
    let sh = &child.sh;
    let logging = child.statement_logging;
    // per reset statement, the (node, backend pid) it was sent to (only when logged)
    let logged = logging.statement || logging.per_node;
    let mut sent: Vec<Vec<(usize, i32)>> = vec![Vec::new(); if logged { queries.len() } else { 0 }];
    let slot = &mut child.pool.slots[pool_idx];
    for (node, be) in slot.backends.iter_mut().enumerate() {
        let Some(be) = be.as_mut().filter(|b| b.touched) else {
            continue;
        };
        be.touched = false;
        // Replies to requests the client sent before leaving are still on their way; an
        // extended-protocol exchange left without Sync gets one. Then the socket is quiet.
        if be.unsynced {
            if be.conn.write_message(b'S', &[]).is_err() {
                return false;
            }
            be.pending += 1;
            be.unsynced = false;
        }
        while be.pending > 0 {
            be.pending -= 1;
            if be.read_until_ready().is_err() {
                return false;
            }
        }
        // The statements go out in one write; their replies are read when the slot is reused
        // (`BackendConn::settle_reset`), so the child goes back to accepting without a wait.
        let mut batch = Vec::new();
        let mut these = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            if q.trim().eq_ignore_ascii_case("ABORT") && be.tx == b'I' {
                continue;
            }
            messages::query(&mut batch, q);
            be.reset_owed.push(q.to_string());
            these.push(i);
        }
        if batch.is_empty() {
            continue;
        }
        if be.conn.write_all(&batch).is_err() {
            return false;
        }
        for i in these {
            stats::count_statement(sh.backend(node), queries[i].as_bytes());
            if logged {
                sent[i].push((node, be.pid));
            }
        }
    }
    // pgpool's order: each statement, then each node it went to, the primary last for ABORT
    let primary = child.snapshot.primary_node;
    for (q, nodes) in queries.iter().zip(sent.iter_mut()) {
        if nodes.is_empty() {
            continue;
        }
        if matches!(crate::sql::analyze(q).kind, Kind::Commit | Kind::Rollback) {
            nodes.sort_by_key(|&(n, _)| Some(n) == primary);
        }
        if logging.statement {
            pglog!(Severity::Log, "statement: {}", q);
        }
        if logging.per_node {
            for (node, pid) in nodes {
                pglog!(
                    Severity::Log,
                    "DB node id: {} backend pid: {} statement: {}",
                    node,
                    pid,
                    q
                );
            }
        }
    }
    true
}
