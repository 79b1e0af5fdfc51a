//! The end of a session whose slot may be pooled (spec/architecture.md §3.8). For each backend
//! connection the session sent something to: drain replies the client no longer waits for, then
//! send every `reset_query_list` entry (skipping `ABORT` when the backend is idle) in one write.
//! A connection the session never touched is still as clean as the last reset left it. The
//! replies are checked, with pgpool's 10-second limit, when the slot is next reused
//! (`pool::BackendConn::settle_reset`): a failed reset closes the connection then, and the next
//! client gets a new one.

use crate::child::Child;
use crate::protocol::messages;
use crate::session::stats;

/// Run the reset procedure on the backends of slot `pool_idx` the session touched. True when
/// everything could be drained and sent (whether it succeeded is known at the next reuse). Each
/// statement sent counts in the node's statement counters, as pgpool counts its own reset.
pub fn reset(child: &mut Child, pool_idx: usize) -> bool {
    let queries = &child.settings.reset_query_list;
    let sh = &child.sh;
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
        let first = be.reset_owed.len();
        for q in queries {
            let q = q.trim();
            if q.is_empty() || (q.eq_ignore_ascii_case("ABORT") && be.tx == b'I') {
                continue;
            }
            messages::query(&mut batch, q);
            be.reset_owed.push(q.to_string());
        }
        if batch.is_empty() {
            continue;
        }
        if be.conn.write_all(&batch).is_err() {
            return false;
        }
        for q in &be.reset_owed[first..] {
            stats::count_statement(sh.backend(node), q.as_bytes());
        }
    }
    true
}
