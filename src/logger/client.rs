//! pgpool's own messages for the client of the session a child is serving
//! (`client_min_messages`). While a session is open, every record below ERROR whose severity
//! passes the session's `client_min_messages` is queued as a NoticeResponse (`S`, `C` XX000,
//! `M`, and `D`/`H` when present), whether or not it also reaches the server log; the session
//! engine writes the queue to its client at the next message boundary. ERROR and worse are not
//! queued: the session sends those itself, as ErrorResponse.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use super::Severity;

/// `MIN_RANK` when no session is open.
const CLOSED: u8 = u8::MAX;
/// The client rank of the session's `client_min_messages`, or CLOSED.
static MIN_RANK: AtomicU8 = AtomicU8::new(CLOSED);
/// The queue holds something.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Encoded NoticeResponse messages not yet written to the client.
static QUEUE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// PostgreSQL's order for client output, where LOG ranks between DEBUG1 and INFO.
fn client_rank(s: Severity) -> u8 {
    match s {
        Severity::Log => Severity::Debug1.rank() + 1,
        Severity::Info | Severity::Notice | Severity::Warning => s.rank() + 1,
        _ => s.rank(),
    }
}

/// A session opens (or its `client_min_messages` changes): queue what `min` lets through.
pub fn open(min: Severity) {
    MIN_RANK.store(client_rank(min), Relaxed);
}

/// The session ends: nothing more is queued, and what was not written is dropped.
pub fn close() {
    MIN_RANK.store(CLOSED, Relaxed);
    if PENDING.swap(false, Relaxed) {
        if let Ok(mut q) = QUEUE.lock() {
            q.clear();
        }
    }
}

/// Whether a record of severity `sev` would be queued for the client now.
pub fn wants(sev: Severity) -> bool {
    sev < Severity::Error && client_rank(sev) >= MIN_RANK.load(Relaxed)
}

/// Whether some event at `level` could be queued (the subscriber's cheap per-event check).
pub(crate) fn wants_level(level: &tracing::Level) -> bool {
    let top = match *level {
        tracing::Level::TRACE => Severity::Debug2,
        tracing::Level::DEBUG => Severity::Debug1,
        tracing::Level::INFO => Severity::Notice,
        tracing::Level::WARN => Severity::Warning,
        _ => return false,
    };
    client_rank(top) >= MIN_RANK.load(Relaxed)
}

/// Queue one record (the subscriber calls this for every record `wants` accepts).
pub(crate) fn push(sev: Severity, message: &str, detail: Option<&str>, hint: Option<&str>) {
    if !wants(sev) {
        return;
    }
    if let Ok(mut q) = QUEUE.lock() {
        crate::protocol::messages::error_like(
            &mut q,
            b'N',
            sev.as_str(),
            "XX000",
            message,
            detail,
            hint,
        );
        PENDING.store(true, Relaxed);
    }
}

/// Whether messages wait to be written.
pub fn pending() -> bool {
    PENDING.load(Relaxed)
}

/// Append the queued messages to `out` (a client's output at a message boundary).
pub fn drain_into(out: &mut Vec<u8>) {
    if !PENDING.swap(false, Relaxed) {
        return;
    }
    if let Ok(mut q) = QUEUE.lock() {
        out.extend_from_slice(&q);
        q.clear();
    }
}

/// The queued messages, taken out (for writing them straight to a socket).
pub fn take() -> Vec<u8> {
    let mut out = Vec::new();
    drain_into(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_puts_log_below_info() {
        let passes = |sev: Severity, min: Severity| client_rank(sev) >= client_rank(min);
        assert!(!passes(Severity::Log, Severity::Notice));
        assert!(passes(Severity::Log, Severity::Debug1));
        assert!(!passes(Severity::Debug1, Severity::Log));
        assert!(passes(Severity::Notice, Severity::Notice));
        assert!(passes(Severity::Warning, Severity::Info));
    }

    #[test]
    fn queue_follows_the_session_threshold() {
        open(Severity::Log);
        assert!(wants(Severity::Log) && wants(Severity::Warning));
        assert!(!wants(Severity::Debug1) && !wants(Severity::Error));
        assert!(wants_level(&tracing::Level::INFO) && !wants_level(&tracing::Level::DEBUG));
        push(Severity::Log, "hello", Some("d"), None);
        push(Severity::Debug1, "not sent", None, None);
        assert!(pending());
        // (other tests' records may be queued too while this one has a session open)
        let out = take();
        let hello = b"N\0\0\0\x1bSLOG\0CXX000\0Mhello\0Dd\0\0";
        assert!(out.windows(hello.len()).any(|w| w == hello));
        assert!(!out.windows(8).any(|w| w == b"not sent"));
        close();
        push(Severity::Warning, "after close", None, None);
        assert!(!pending() && !wants(Severity::Panic));
    }
}
