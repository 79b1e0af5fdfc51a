//! The text of one log record as pgpool writes it: `log_line_prefix` expansion (the escapes
//! of spec/config.md §6.5 with PostgreSQL's padding rules) and the record layout
//! `<prefix><SEVERITY>:  <message>\n` followed, per `log_error_verbosity`, by `DETAIL`, `HINT`,
//! `CONTEXT` and `LOCATION` lines. Pure functions: no I/O, no globals.

use std::fmt::Write as _;

use super::clock::LocalTime;
use super::process::ProcessState;
use super::settings::ErrorVerbosity;
use super::Severity;

/// What the prefix escapes expand to, already resolved for one record.
#[derive(Debug, Clone)]
pub struct PrefixContext<'a> {
    /// `%a`.
    pub app_name: &'a str,
    /// `%P`.
    pub process_name: &'a str,
    /// `%u`.
    pub user: &'a str,
    /// `%d`.
    pub database: &'a str,
    /// `%p`.
    pub pid: i32,
    /// `%t` / `%m`.
    pub time: LocalTime,
}

const NO_CONNECTION: &str = "[No Connection]";
const UNKNOWN: &str = "[unknown]";

fn or_unknown(s: Option<&str>) -> &str {
    match s {
        Some(v) if !v.is_empty() => v,
        _ => UNKNOWN,
    }
}

impl<'a> PrefixContext<'a> {
    /// Resolve the escapes from a process's identity (session values win inside a session).
    pub(crate) fn from_state(st: &'a ProcessState, pid: i32, time: LocalTime) -> Self {
        let (app_name, user, database) = match &st.session {
            Some(s) => (
                match &s.application_name {
                    Some(a) => or_unknown(Some(a)),
                    None => or_unknown(Some(&st.app_name)),
                },
                or_unknown(s.user.as_deref()),
                or_unknown(s.database.as_deref()),
            ),
            None => (or_unknown(Some(&st.app_name)), NO_CONNECTION, NO_CONNECTION),
        };
        PrefixContext {
            app_name,
            process_name: or_unknown(Some(&st.process_name)),
            user,
            database,
            pid,
            time,
        }
    }
}

/// Append `s` padded as C's `%*s` does: a positive width right-aligns, a negative one
/// left-aligns, in bytes.
fn push_padded(out: &mut String, s: &str, padding: i64) {
    let width = padding.unsigned_abs() as usize;
    let fill = width.saturating_sub(s.len());
    if padding > 0 {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    } else {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    }
}

/// Expand `pattern` (a `log_line_prefix`) into `out`. `line` is the `%l` value. Unknown
/// escapes are dropped; a pattern ending in `%`, `%-` or `%<digits>` stops there, as in
/// PostgreSQL.
pub fn render_prefix(out: &mut String, pattern: &str, ctx: &PrefixContext<'_>, line: u64) {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    // Copy literal runs as &str slices; '%' is ASCII so slicing at it is a char boundary.
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'%' {
            i += 1;
        }
        out.push_str(&pattern[start..i]);
        if i >= bytes.len() {
            break;
        }
        i += 1; // skip '%'
        let Some(&c) = bytes.get(i) else { break };
        if c == b'%' {
            out.push('%');
            i += 1;
            continue;
        }
        // Padding: anything that sorts at or below '9' goes through the padding parser.
        let mut padding: i64 = 0;
        if c <= b'9' {
            let mut sign = 1;
            if bytes[i] == b'-' {
                i += 1;
                if i >= bytes.len() {
                    break;
                }
                sign = -1;
            }
            while let Some(d @ b'0'..=b'9') = bytes.get(i) {
                padding = padding
                    .saturating_mul(10)
                    .saturating_add(i64::from(d - b'0'));
                i += 1;
            }
            if i >= bytes.len() {
                break;
            }
            padding *= sign;
        }
        let esc = bytes[i];
        i += 1;
        let value: Option<std::borrow::Cow<'_, str>> = match esc {
            b'a' => Some(ctx.app_name.into()),
            b'P' => Some(ctx.process_name.into()),
            b'u' => Some(ctx.user.into()),
            b'd' => Some(ctx.database.into()),
            b'p' => Some(ctx.pid.to_string().into()),
            b'l' => Some(line.to_string().into()),
            b't' => Some(ctx.time.format_seconds().into()),
            b'm' => Some(ctx.time.format_millis().into()),
            _ => {
                // Unknown escape: dropped. If it was a multi-byte character, skip the rest
                // of it so the next slice starts on a char boundary.
                while i < bytes.len() && !pattern.is_char_boundary(i) {
                    i += 1;
                }
                None
            }
        };
        if let Some(v) = value {
            if padding != 0 {
                push_padded(out, &v, padding);
            } else {
                out.push_str(&v);
            }
        }
    }
}

/// Append `s`, inserting a tab after every newline (pgpool's `append_with_tabs`), so that
/// continuation lines of a multi-line message are visibly part of the record.
fn push_with_tabs(out: &mut String, s: &str) {
    for (n, part) in s.split('\n').enumerate() {
        if n > 0 {
            out.push_str("\n\t");
        }
        out.push_str(part);
    }
}

/// One record to format.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub severity: Severity,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    pub hint: Option<&'a str>,
    /// What the process was doing (pgpool's error context callbacks).
    pub context: Option<&'a str>,
    /// Source location (`file:line`), written with `log_error_verbosity = verbose`.
    pub location: Option<(&'a str, u32)>,
}

/// The full text of a record: every line carries the prefix, and `line` (the `%l` counter)
/// advances once per line, as pgpool's does.
pub fn format_record(
    pattern: &str,
    verbosity: ErrorVerbosity,
    rec: &Record<'_>,
    ctx: &PrefixContext<'_>,
    line: &mut u64,
) -> String {
    let mut out = String::with_capacity(pattern.len() + rec.message.len() + 48);
    let mut prefixed = |out: &mut String, tag: &str, text: &str| {
        *line += 1;
        render_prefix(out, pattern, ctx, *line);
        out.push_str(tag);
        out.push_str(":  ");
        push_with_tabs(out, text);
        out.push('\n');
    };
    prefixed(&mut out, rec.severity.as_str(), rec.message);
    if verbosity >= ErrorVerbosity::Default {
        if let Some(d) = rec.detail {
            prefixed(&mut out, "DETAIL", d);
        }
        if let Some(h) = rec.hint {
            prefixed(&mut out, "HINT", h);
        }
        if let Some(c) = rec.context {
            prefixed(&mut out, "CONTEXT", c);
        }
    }
    if verbosity >= ErrorVerbosity::Verbose {
        if let Some((file, lineno)) = rec.location {
            let mut loc = String::new();
            let _ = write!(loc, "{file}:{lineno}");
            prefixed(&mut out, "LOCATION", &loc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time() -> LocalTime {
        LocalTime {
            year: 2026,
            month: 11,
            day: 24,
            hour: 0,
            minute: 27,
            second: 50,
            millis: 814,
            utc_offset: 0,
        }
    }

    fn ctx() -> PrefixContext<'static> {
        PrefixContext {
            app_name: "main",
            process_name: "MAIN",
            user: "[No Connection]",
            database: "[No Connection]",
            pid: 16090,
            time: time(),
        }
    }

    fn render(p: &str) -> String {
        let mut s = String::new();
        render_prefix(&mut s, p, &ctx(), 7);
        s
    }

    #[test]
    fn default_prefix_gives_pgpools_exact_line() {
        let mut line = 0;
        let rec = Record {
            severity: Severity::Log,
            message: "Backend status file /tmp/pgpool_status does not exist",
            detail: None,
            hint: None,
            context: None,
            location: None,
        };
        let out = format_record(
            "%m: %a pid %p: ",
            ErrorVerbosity::Default,
            &rec,
            &ctx(),
            &mut line,
        );
        assert_eq!(
            out,
            "2026-11-24 00:27:50.814: main pid 16090: LOG:  Backend status file /tmp/pgpool_status does not exist\n"
        );
        assert_eq!(line, 1);
    }

    #[test]
    fn every_escape() {
        assert_eq!(render("%a"), "main");
        assert_eq!(render("%P"), "MAIN");
        assert_eq!(render("%u"), "[No Connection]");
        assert_eq!(render("%d"), "[No Connection]");
        assert_eq!(render("%p"), "16090");
        assert_eq!(render("%l"), "7");
        assert_eq!(render("%t"), "2026-11-24 00:27:50");
        assert_eq!(render("%m"), "2026-11-24 00:27:50.814");
        assert_eq!(render("100%%"), "100%");
        assert_eq!(render("[%P:%a]"), "[MAIN:main]");
    }

    #[test]
    fn padding_follows_postgres() {
        assert_eq!(render("%10a|"), "      main|");
        assert_eq!(render("%-10a|"), "main      |");
        assert_eq!(render("%-10u|"), "[No Connection]|"); // longer than the width: as is
        assert_eq!(render("%8p|"), "   16090|");
        assert_eq!(render("%-8p|"), "16090   |");
        assert_eq!(render("%3l|"), "  7|");
        assert_eq!(render("%0a|"), "main|");
    }

    #[test]
    fn unknown_and_truncated_escapes() {
        assert_eq!(render("a%qb"), "ab");
        assert_eq!(render("a% b"), "ab");
        assert_eq!(render("a%éb"), "ab");
        assert_eq!(render("x%"), "x");
        assert_eq!(render("x%-"), "x");
        assert_eq!(render("x%12"), "x");
        assert_eq!(render("x%-3"), "x");
        assert_eq!(render("é%%ü"), "é%ü");
    }

    #[test]
    fn session_values_resolve() {
        let mut st = ProcessState {
            app_name: "child".into(),
            process_name: "CHILD".into(),
            ..ProcessState::default()
        };
        let c = PrefixContext::from_state(&st, 1, time());
        assert_eq!(
            (c.app_name, c.user, c.database),
            ("child", NO_CONNECTION, NO_CONNECTION)
        );
        st.session = Some(super::super::process::Session {
            user: Some("alice".into()),
            database: Some(String::new()),
            application_name: Some("psql".into()),
        });
        let c = PrefixContext::from_state(&st, 1, time());
        assert_eq!((c.app_name, c.user, c.database), ("psql", "alice", UNKNOWN));
        if let Some(sess) = st.session.as_mut() {
            sess.application_name = Some(String::new());
        }
        let c = PrefixContext::from_state(&st, 1, time());
        assert_eq!(c.app_name, UNKNOWN);
    }

    fn full() -> Record<'static> {
        Record {
            severity: Severity::Error,
            message: "boom\nsecond",
            detail: Some("the detail"),
            hint: Some("the hint"),
            context: Some("while testing"),
            location: Some(("src/child/mod.rs", 42)),
        }
    }

    #[test]
    fn verbosity_levels() {
        let p = "%l ";
        let mut line = 0;
        let terse = format_record(p, ErrorVerbosity::Terse, &full(), &ctx(), &mut line);
        assert_eq!(terse, "1 ERROR:  boom\n\tsecond\n");
        let mut line = 0;
        let def = format_record(p, ErrorVerbosity::Default, &full(), &ctx(), &mut line);
        assert_eq!(
            def,
            "1 ERROR:  boom\n\tsecond\n2 DETAIL:  the detail\n3 HINT:  the hint\n\
             4 CONTEXT:  while testing\n"
        );
        let mut line = 0;
        let verbose = format_record(p, ErrorVerbosity::Verbose, &full(), &ctx(), &mut line);
        assert_eq!(
            verbose,
            "1 ERROR:  boom\n\tsecond\n2 DETAIL:  the detail\n3 HINT:  the hint\n\
             4 CONTEXT:  while testing\n5 LOCATION:  src/child/mod.rs:42\n"
        );
        assert_eq!(line, 5);
    }

    #[test]
    fn every_severity_word() {
        let words: Vec<&str> = [
            Severity::Debug5,
            Severity::Debug1,
            Severity::Info,
            Severity::Notice,
            Severity::Warning,
            Severity::Log,
            Severity::Error,
            Severity::Fatal,
            Severity::Panic,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect();
        assert_eq!(
            words,
            ["DEBUG", "DEBUG", "INFO", "NOTICE", "WARNING", "LOG", "ERROR", "FATAL", "PANIC"]
        );
    }
}
