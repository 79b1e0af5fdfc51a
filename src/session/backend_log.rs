//! `log_backend_messages` (4.6): a LOG line for each message a session reads from a backend,
//! `<Kind> message from backend N`, ReadyForQuery of a new connection included. `verbose` logs
//! every message; `terse` logs a message only when its kind differs from the last one read
//! from the same backend, and before it, when the last kind came more than once,
//! `last <Kind> message from backend N repeated M times`.

use crate::logger::Severity;
use crate::pglog;

/// The state of one session's backend-message log.
#[derive(Debug)]
pub(crate) struct BackendLog {
    verbose: bool,
    /// Per node: the kind of the last message read (0 before any) and how many more of the
    /// same kind followed it unlogged.
    last: Vec<(u8, u32)>,
}

impl BackendLog {
    /// The session's log for the parameter's value (`none`, `terse`, `verbose`).
    pub(crate) fn when(setting: &str) -> Option<BackendLog> {
        let verbose = match setting {
            "terse" => false,
            "verbose" => true,
            _ => return None,
        };
        Some(BackendLog {
            verbose,
            last: Vec::new(),
        })
    }

    /// One message of kind `tag` read from node `node`.
    pub(crate) fn message(&mut self, node: usize, tag: u8) {
        if self.verbose {
            pglog!(
                Severity::Log,
                "{} message from backend {}",
                kind_name(tag),
                node
            );
            return;
        }
        if self.last.len() <= node {
            self.last.resize(node + 1, (0, 0));
        }
        let (last, repeats) = &mut self.last[node];
        if *last == tag {
            *repeats += 1;
            return;
        }
        if *repeats > 0 {
            pglog!(
                Severity::Log,
                "last {} message from backend {} repeated {} times",
                kind_name(*last),
                node,
                repeats
            );
        }
        pglog!(
            Severity::Log,
            "{} message from backend {}",
            kind_name(tag),
            node
        );
        (*last, *repeats) = (tag, 0);
    }
}

/// Turn the log on, off or between modes as `setting` says (PGPOOL SET, reload); a terse log
/// keeps its state while it stays terse.
pub(crate) fn follow(log: &mut Option<BackendLog>, setting: &str) {
    let same = match (log.as_ref(), setting) {
        (Some(l), "terse") => !l.verbose,
        (Some(l), "verbose") => l.verbose,
        (None, s) => s != "terse" && s != "verbose",
        _ => false,
    };
    if !same {
        *log = BackendLog::when(setting);
    }
}

/// The protocol's name of a backend message kind.
fn kind_name(tag: u8) -> &'static str {
    match tag {
        b'R' => "Authentication",
        b'K' => "BackendKeyData",
        b'2' => "BindComplete",
        b'3' => "CloseComplete",
        b'C' => "CommandComplete",
        b'W' => "CopyBothResponse",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'G' => "CopyInResponse",
        b'H' => "CopyOutResponse",
        b'D' => "DataRow",
        b'I' => "EmptyQueryResponse",
        b'E' => "ErrorResponse",
        b'V' => "FunctionCallResponse",
        b'v' => "NegotiateProtocolVersion",
        b'n' => "NoData",
        b'N' => "NoticeResponse",
        b'A' => "NotificationResponse",
        b't' => "ParameterDescription",
        b'S' => "ParameterStatus",
        b'1' => "ParseComplete",
        b's' => "PortalSuspended",
        b'Z' => "ReadyForQuery",
        b'T' => "RowDescription",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_follow() {
        assert!(BackendLog::when("none").is_none());
        assert!(BackendLog::when("terse").is_some_and(|l| !l.verbose));
        let mut log = BackendLog::when("terse");
        log.as_mut().expect("terse").message(1, b'D');
        log.as_mut().expect("terse").message(1, b'D');
        follow(&mut log, "terse");
        assert_eq!(log.as_ref().expect("kept").last[1], (b'D', 1));
        follow(&mut log, "verbose");
        assert!(log.as_ref().is_some_and(|l| l.verbose));
        follow(&mut log, "none");
        assert!(log.is_none());
    }

    #[test]
    fn terse_counts_repeats_per_node() {
        let mut log = BackendLog::when("terse").expect("terse");
        for (node, tag) in [
            (0, b'Z'),
            (1, b'Z'),
            (1, b'T'),
            (1, b'D'),
            (1, b'D'),
            (1, b'D'),
        ] {
            log.message(node, tag);
        }
        assert_eq!(log.last, vec![(b'Z', 0), (b'D', 2)]);
        log.message(0, b'Z');
        log.message(1, b'C');
        assert_eq!(log.last, vec![(b'Z', 1), (b'C', 0)]);
        assert_eq!(kind_name(b'1'), "ParseComplete");
        assert_eq!(kind_name(b'?'), "unknown");
    }
}
