//! `log_client_messages`: one LOG line (and a DETAIL naming what the message carries) for each
//! message a client sends, worded as pgpool writes them. A run of CopyData messages is logged
//! once, with its count, when the next kind of message arrives.

use crate::logger::Severity;
use crate::pglog;

/// The state of one session's client-message log.
#[derive(Debug, Default)]
pub(crate) struct ClientLog {
    /// CopyData messages since the last other message.
    copy_data: u32,
    /// The message just logged is held back and will be met again: not logged twice.
    skip_next: bool,
}

impl ClientLog {
    /// The session's log when `log_client_messages` is on.
    pub(crate) fn when(on: bool) -> Option<ClientLog> {
        on.then(ClientLog::default)
    }

    /// The message just logged was held back (a pgpool command waiting for the replies in
    /// flight): it comes again and is not logged twice.
    pub(crate) fn seen_again_later(&mut self) {
        self.skip_next = true;
    }

    /// Whether a message of kind `tag` is logged from its body (so must be whole first).
    pub(crate) fn needs_body(tag: u8) -> bool {
        matches!(tag, b'Q' | b'P' | b'B' | b'D' | b'E' | b'C' | b'F')
    }

    /// One frontend message: its kind and body (after the length word; only its first bytes
    /// are needed for a CopyData).
    pub(crate) fn message(&mut self, tag: u8, body: &[u8]) {
        if std::mem::take(&mut self.skip_next) {
            return;
        }
        if tag == b'd' {
            self.copy_data += 1;
            return;
        }
        if self.copy_data > 0 {
            let n = std::mem::take(&mut self.copy_data);
            pglog!(Severity::Log, detail = format!("count: {n}"); "CopyData message from frontend.");
        }
        let mut strings = body.split(|&b| b == 0).map(String::from_utf8_lossy);
        let mut next = || strings.next().unwrap_or_default();
        let (what, detail) = match tag {
            b'Q' => ("Query", Some(format!("query: \"{}\"", next()))),
            b'P' => {
                let (name, query) = (next(), next());
                (
                    "Parse",
                    Some(format!("statement: \"{name}\", query: \"{query}\"")),
                )
            }
            b'B' => {
                let (portal, stmt) = (next(), next());
                (
                    "Bind",
                    Some(format!("portal: \"{portal}\", statement: \"{stmt}\"")),
                )
            }
            b'D' | b'C' => (
                if tag == b'D' { "Describe" } else { "Close" },
                Some(target(body)),
            ),
            b'E' => ("Execute", Some(format!("portal: \"{}\"", next()))),
            b'F' => {
                let oid = body
                    .get(..4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                ("FunctionCall", Some(format!("oid: \"{oid}\"")))
            }
            b'H' => ("Flush", None),
            b'S' => ("Sync", None),
            b'c' => ("CopyDone", None),
            b'f' => ("CopyFail", None),
            b'X' => ("Terminate", None),
            _ => return,
        };
        match detail {
            Some(d) => pglog!(Severity::Log, detail = d; "{} message from frontend.", what),
            None => pglog!(Severity::Log, "{} message from frontend.", what),
        }
    }
}

/// Turn the log on or off (PGPOOL SET, reload), keeping its state while on.
pub(crate) fn follow(log: &mut Option<ClientLog>, on: bool) {
    if on != log.is_some() {
        *log = ClientLog::when(on);
    }
}

/// A Describe's or Close's target: `statement: "name"` or `portal: "name"`.
fn target(body: &[u8]) -> String {
    let name = body.get(1..).unwrap_or_default();
    let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default());
    match body.first() {
        Some(b'S') => format!("statement: \"{name}\""),
        _ => format!("portal: \"{name}\""),
    }
}

/// A cancel request, logged by the child that received it.
pub(crate) fn cancel(pid: i32) {
    pglog!(Severity::Log, detail = format!("process id: {pid}"); "Cancel message from frontend.");
}
