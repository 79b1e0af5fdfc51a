//! The syslog destination: libc `openlog`/`syslog` with `syslog_facility` and `syslog_ident`,
//! pgpool's severity-to-priority map, and its way of sending a record — a sequence number per
//! record, and records with newlines or longer than 900 bytes split into `[seq-n]` pieces
//! (cut at a blank where possible).

use std::ffi::CString;
use std::sync::Mutex;

use super::settings::SyslogFacility;
use super::Severity;

/// Longest piece handed to one syslog(3) call (pgpool's PG_SYSLOG_LIMIT).
const SYSLOG_LIMIT: usize = 900;

struct Opened {
    /// openlog(3) keeps this pointer: it must live until closelog.
    ident: CString,
    facility: SyslogFacility,
    seq: u64,
}

static SYSLOG: Mutex<Option<Opened>> = Mutex::new(None);

/// The syslog priority of a severity (pgpool's mapping).
pub fn priority(sev: Severity) -> libc::c_int {
    match sev {
        Severity::Debug5
        | Severity::Debug4
        | Severity::Debug3
        | Severity::Debug2
        | Severity::Debug1 => libc::LOG_DEBUG,
        Severity::Log | Severity::Info => libc::LOG_INFO,
        Severity::Notice | Severity::Warning => libc::LOG_NOTICE,
        Severity::Error => libc::LOG_WARNING,
        Severity::Fatal => libc::LOG_ERR,
        Severity::Panic => libc::LOG_CRIT,
    }
}

/// Split a record into the pieces pgpool sends: `None` = send whole as `[seq] text`;
/// otherwise each piece is sent as `[seq-n] piece`.
pub(crate) fn split_pieces(text: &str) -> Option<Vec<&str>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.len() <= SYSLOG_LIMIT && !text.contains('\n') {
        return None;
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('\n') {
            rest = r;
            continue;
        }
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let mut n = line_end.min(SYSLOG_LIMIT);
        while !rest.is_char_boundary(n) {
            n -= 1;
        }
        // Not at a line end and not before a blank: try to cut at the last blank.
        let next_is_blank = rest
            .as_bytes()
            .get(n)
            .is_none_or(|b| b.is_ascii_whitespace());
        if !next_is_blank {
            if let Some(sp) = rest[..n].rfind(|c: char| c.is_ascii_whitespace()) {
                if sp > 0 {
                    n = sp;
                }
            }
        }
        if n == 0 {
            // A single character wider than the limit cannot happen (limit 900 > 4 bytes);
            // guard anyway against looping forever.
            n = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        pieces.push(&rest[..n]);
        rest = &rest[n..];
    }
    Some(pieces)
}

fn send(prio: libc::c_int, text: &str) {
    // Interior NULs cannot travel through syslog(3); drop them.
    let c = CString::new(text.replace('\0', "")).unwrap_or_default();
    // SAFETY: "%s" with one valid NUL-terminated argument; syslog copies the text.
    unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
}

/// Write one formatted record to syslog, opening (or re-opening after a change of ident or
/// facility) the connection first.
pub fn write(sev: Severity, text: &str, ident: &str, facility: SyslogFacility) {
    let Ok(mut guard) = SYSLOG.lock() else {
        return;
    };
    let reopen = match guard.as_ref() {
        Some(o) => o.ident.as_bytes() != ident.as_bytes() || o.facility != facility,
        None => true,
    };
    if reopen {
        if guard.is_some() {
            // SAFETY: closelog takes no arguments; the old ident is dropped only afterwards.
            unsafe { libc::closelog() };
        }
        let ident_c = CString::new(ident.replace('\0', "")).unwrap_or_default();
        // SAFETY: ident_c is stored in the static below and outlives this connection (it is
        // replaced only after closelog); the flags and facility are libc constants.
        unsafe {
            libc::openlog(
                ident_c.as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
                facility.to_libc(),
            )
        };
        *guard = Some(Opened {
            ident: ident_c,
            facility,
            seq: 0,
        });
    }
    let Some(opened) = guard.as_mut() else {
        return;
    };
    opened.seq += 1;
    let seq = opened.seq;
    let prio = priority(sev);
    match split_pieces(text) {
        None => send(prio, &format!("[{seq}] {}", text.trim_end_matches('\n'))),
        Some(pieces) => {
            for (n, p) in pieces.iter().enumerate() {
                send(prio, &format!("[{seq}-{}] {p}", n + 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_record_is_one_piece() {
        assert_eq!(split_pieces("pid 1: LOG:  hello\n"), None);
    }

    #[test]
    fn multi_line_record_is_split_per_line() {
        let p = split_pieces("a: ERROR:  x\na: DETAIL:  y\n").expect("split");
        assert_eq!(p, ["a: ERROR:  x", "a: DETAIL:  y"]);
    }

    #[test]
    fn long_line_is_cut_at_blanks() {
        let word = "abcdefghi ";
        let text = word.repeat(200); // 2000 bytes
        let p = split_pieces(&text).expect("split");
        assert!(p.iter().all(|s| s.len() <= SYSLOG_LIMIT));
        assert_eq!(p.concat(), text.trim_end_matches('\n'));
        assert!(p[0].ends_with('i'));
        let long = "x".repeat(1000);
        let p = split_pieces(&long).expect("split");
        assert_eq!(p.iter().map(|s| s.len()).collect::<Vec<_>>(), [900, 100]);
    }

    #[test]
    fn priorities() {
        assert_eq!(priority(Severity::Log), libc::LOG_INFO);
        assert_eq!(priority(Severity::Error), libc::LOG_WARNING);
        assert_eq!(priority(Severity::Panic), libc::LOG_CRIT);
    }
}
