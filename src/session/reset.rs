//! The end of a session whose slot may be pooled (spec/architecture.md §3.8): drain replies the
//! client no longer waits for, run each `reset_query_list` entry (skipping `ABORT` when the
//! backend is idle) with a 10-second limit, and report whether the slot is clean.

use std::time::Duration;

use crate::child::Child;
use crate::logger::Severity;
use crate::pglog;
use crate::pool::BackendConn;
use crate::protocol::messages;

const RESET_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_MESSAGE: usize = 1 << 30;

/// Read messages until ReadyForQuery. Ok(false) when an ErrorResponse came on the way;
/// Err on a timeout or a broken socket.
fn read_until_ready(be: &mut BackendConn) -> Result<bool, ()> {
    let mut ok = true;
    loop {
        match be.conn.read_message(MAX_MESSAGE, Some(RESET_TIMEOUT)) {
            Ok(m) => match m.tag {
                b'Z' => {
                    be.tx = m.body.first().copied().unwrap_or(b'I');
                    return Ok(ok);
                }
                b'E' => ok = false,
                b'S' => {
                    if let Ok((k, v)) = messages::parse_parameter_status(&m.body) {
                        match be.params.iter_mut().find(|(n, _)| n.as_str() == k) {
                            Some(p) => p.1 = v.into_owned(),
                            None => be.params.push((k.into_owned(), v.into_owned())),
                        }
                    }
                }
                _ => {}
            },
            Err(_) => return Err(()),
        }
    }
}

/// Run the reset procedure on every backend of slot `pool_idx`. True when the slot is reusable.
pub fn reset(child: &mut Child, pool_idx: usize) -> bool {
    let queries = child.settings.reset_query_list.clone();
    let slot = &mut child.pool.slots[pool_idx];
    for be in slot.backends.iter_mut().flatten() {
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
            if read_until_ready(be).is_err() {
                return false;
            }
        }
        for q in &queries {
            let q = q.trim();
            if q.is_empty() || (q.eq_ignore_ascii_case("ABORT") && be.tx == b'I') {
                continue;
            }
            let mut body = Vec::with_capacity(q.len() + 1);
            body.extend_from_slice(q.as_bytes());
            body.push(0);
            if be.conn.write_message(b'Q', &body).is_err() || read_until_ready(be) != Ok(true) {
                pglog!(
                    Severity::Log,
                    "reset query \"{}\" failed; the pooled connection is closed",
                    q
                );
                return false;
            }
        }
        be.tx = b'I';
    }
    true
}
