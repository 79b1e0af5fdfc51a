//! Logging in pgpool's format: severities, the `pglog!` macro every process logs with, the
//! `tracing` subscriber that writes `log_line_prefix` + `SEVERITY:  message` lines to stderr
//! and/or syslog, and the logging collector process.
//!
//! CONTRACT used by the rest of the crate:
//! - `pglog!(Severity::Log, "started {}", x)` and
//!   `pglog!(Severity::Warning, detail = d, hint = h, context = c; "message {}", x)` (detail,
//!   hint and context optional, in that order, each an expression that implements Display).
//! - Events carry the pgpool severity in the field `severity` (its `as_str()`), its `rank`,
//!   the message, and optional `detail` / `hint` / `context` fields. The tracing level is
//!   `Severity::tracing_level()`. Plain `tracing` events are logged as ERROR/WARNING/LOG/
//!   DEBUG1/DEBUG5 for the levels error/warn/info/debug/trace.
//! - The main process calls `init(&settings)` once before forking, `apply(&settings)` at
//!   reload, and `start_collector` when `logging_collector = on`; every process calls
//!   `set_process(app_name, process_name)` right after fork; a child calls `set_session` /
//!   `set_application_name` as its client session becomes known.
//!
//! Layout: `settings` (the parameters), `process` (per-process identity), `format` (prefix and
//! record text), `subscriber` (the tracing layer and writers), `syslog`, `pipe` (the collector's
//! chunk protocol), `collector` (the logger process), `clock` (local time via libc).

pub mod client;
mod clock;
mod collector;
mod format;
mod pipe;
mod process;
mod settings;
mod subscriber;
mod syslog;

use std::sync::{Arc, OnceLock};

pub use clock::{strftime_local, LocalTime};
pub use collector::{
    collector_loop, collector_pipe_read_fd, logfile_name, request_reload, request_rotation,
    start_collector,
};
pub use format::{format_record, render_prefix, PrefixContext, Record};
pub use process::{set_application_name, set_process, set_session};
pub use settings::{
    force_debug1, CollectorSettings, Destinations, ErrorVerbosity, LogSettings, SyslogFacility,
};
pub use subscriber::PgLogLayer;

/// pgpool's message severities, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Debug5,
    Debug4,
    Debug3,
    Debug2,
    Debug1,
    Info,
    Notice,
    Warning,
    Log,
    Error,
    Fatal,
    Panic,
}

impl Severity {
    /// The word written before the message (`LOG`, `DEBUG`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug5
            | Severity::Debug4
            | Severity::Debug3
            | Severity::Debug2
            | Severity::Debug1 => "DEBUG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Log => "LOG",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Panic => "PANIC",
        }
    }

    /// The tracing level an event of this severity is emitted at.
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            Severity::Debug5 | Severity::Debug4 | Severity::Debug3 | Severity::Debug2 => {
                tracing::Level::TRACE
            }
            Severity::Debug1 => tracing::Level::DEBUG,
            Severity::Info | Severity::Notice | Severity::Log => tracing::Level::INFO,
            Severity::Warning => tracing::Level::WARN,
            Severity::Error | Severity::Fatal | Severity::Panic => tracing::Level::ERROR,
        }
    }

    /// Numeric rank used as the `rank` field (0 = DEBUG5 ... 11 = PANIC).
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The inverse of `rank`.
    pub fn from_rank(rank: u8) -> Option<Severity> {
        ALL.get(usize::from(rank)).copied()
    }
}

const ALL: [Severity; 12] = [
    Severity::Debug5,
    Severity::Debug4,
    Severity::Debug3,
    Severity::Debug2,
    Severity::Debug1,
    Severity::Info,
    Severity::Notice,
    Severity::Warning,
    Severity::Log,
    Severity::Error,
    Severity::Fatal,
    Severity::Panic,
];

/// The value of `log_min_messages` / `client_min_messages` (case-insensitive), including the
/// hidden alias `debug` = `debug2`.
pub fn severity_from_name(name: &str) -> Option<Severity> {
    let s = match name.trim().to_ascii_lowercase().as_str() {
        "debug5" => Severity::Debug5,
        "debug4" => Severity::Debug4,
        "debug3" => Severity::Debug3,
        "debug2" | "debug" => Severity::Debug2,
        "debug1" => Severity::Debug1,
        "info" => Severity::Info,
        "notice" => Severity::Notice,
        "warning" => Severity::Warning,
        "error" => Severity::Error,
        "log" => Severity::Log,
        "fatal" => Severity::Fatal,
        "panic" => Severity::Panic,
        _ => return None,
    };
    Some(s)
}

/// The severity a record's word names (`DEBUG` reads as DEBUG1).
pub(crate) fn severity_from_word(word: &str) -> Option<Severity> {
    if word == "DEBUG" {
        return Some(Severity::Debug1);
    }
    ALL.iter().copied().find(|s| s.as_str() == word)
}

/// Order for the server log (`log_min_messages`), PostgreSQL's `is_log_level_output`:
/// DEBUG5 < … < DEBUG1 < INFO < NOTICE < WARNING < ERROR < LOG < FATAL < PANIC.
pub fn log_filter_rank(sev: Severity) -> u8 {
    // The enum's own order has LOG between WARNING and ERROR: swap LOG and ERROR.
    match sev {
        Severity::Log => Severity::Error.rank(),
        Severity::Error => Severity::Log.rank(),
        _ => sev.rank(),
    }
}

/// Whether a message of severity `sev` is written to the server log under `log_min_messages`.
pub fn is_log_output(sev: Severity, min_messages: Severity) -> bool {
    log_filter_rank(sev) >= log_filter_rank(min_messages)
}

static GLOBAL: OnceLock<Arc<subscriber::Shared>> = OnceLock::new();

/// Install the pgpool log subscriber as the process-wide default with `settings`. Call once in
/// the main process before any fork (forked processes inherit it). A second call only applies
/// the settings.
pub fn init(settings: &LogSettings) {
    use tracing_subscriber::layer::SubscriberExt as _;
    clock::tzset();
    let mut first = false;
    let shared = GLOBAL.get_or_init(|| {
        first = true;
        Arc::new(subscriber::Shared::new(settings))
    });
    if !first {
        shared.replace(settings);
        return;
    }
    let layer = PgLogLayer::new(Arc::clone(shared));
    // Fails only if another global subscriber was installed first; logging then goes there.
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

/// Replace the settings the installed subscriber reads (at reload). Before `init` this does
/// nothing.
pub fn apply(settings: &LogSettings) {
    if let Some(shared) = GLOBAL.get() {
        shared.replace(settings);
    }
}

/// Whether a record of severity `sev` reaches the server log now: a cheap check before work
/// done only to log. False before `init`.
pub fn logs(sev: Severity) -> bool {
    GLOBAL
        .get()
        .is_some_and(|s| log_filter_rank(sev) >= s.min_rank())
}

/// Whether a record of severity `sev` goes anywhere now: the server log or the session's
/// client (`client_min_messages`).
pub fn reported(sev: Severity) -> bool {
    logs(sev) || client::wants(sev)
}

/// The settings in effect (defaults before `init`).
pub fn current_settings() -> LogSettings {
    GLOBAL
        .get()
        .map(|s| (*s.current()).clone())
        .unwrap_or_default()
}

/// Log one message in pgpool's style. See the module comment for the forms.
#[macro_export]
macro_rules! pglog {
    ($sev:expr, $($field:ident = $val:expr),+ ; $($arg:tt)+) => {
        $crate::__pglog_event!($sev, $($field = %$val),+ ; $($arg)+)
    };
    ($sev:expr, $($arg:tt)+) => {
        $crate::__pglog_event!($sev, ; $($arg)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __pglog_event {
    ($sev:expr, $($field:ident = %$val:expr),* ; $($arg:tt)+) => {{
        let sev: $crate::logger::Severity = $sev;
        match sev.tracing_level() {
            l if l == tracing::Level::ERROR => tracing::error!(severity = sev.as_str(), rank = sev.rank(), $($field = %$val,)* $($arg)+),
            l if l == tracing::Level::WARN => tracing::warn!(severity = sev.as_str(), rank = sev.rank(), $($field = %$val,)* $($arg)+),
            l if l == tracing::Level::INFO => tracing::info!(severity = sev.as_str(), rank = sev.rank(), $($field = %$val,)* $($arg)+),
            l if l == tracing::Level::DEBUG => tracing::debug!(severity = sev.as_str(), rank = sev.rank(), $($field = %$val,)* $($arg)+),
            _ => tracing::trace!(severity = sev.as_str(), rank = sev.rank(), $($field = %$val,)* $($arg)+),
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::Severity;

    #[test]
    fn macro_forms_compile_and_run_without_a_subscriber() {
        crate::pglog!(Severity::Log, "plain {}", 1);
        crate::pglog!(Severity::Warning, detail = "d"; "with detail {}", 2);
        crate::pglog!(Severity::Error, detail = "d", hint = "h"; "with both");
        crate::pglog!(Severity::Debug3, hint = 5; "hint only");
        crate::pglog!(Severity::Log, context = "c"; "context only");
        assert_eq!(Severity::Log.as_str(), "LOG");
    }

    #[test]
    fn severity_names_and_ranks() {
        use super::*;
        assert_eq!(severity_from_name("DEBUG"), Some(Severity::Debug2));
        assert_eq!(severity_from_name("Warning"), Some(Severity::Warning));
        assert_eq!(severity_from_name("log"), Some(Severity::Log));
        assert_eq!(severity_from_name("loud"), None);
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(Severity::from_rank(i as u8), Some(*s));
            assert_eq!(
                severity_from_word(s.as_str()).map(|x| x.as_str()),
                Some(s.as_str())
            );
        }
        assert_eq!(Severity::from_rank(12), None);
    }

    #[test]
    fn server_log_order_puts_log_between_error_and_fatal() {
        use super::*;
        let order = [
            Severity::Debug5,
            Severity::Debug4,
            Severity::Debug3,
            Severity::Debug2,
            Severity::Debug1,
            Severity::Info,
            Severity::Notice,
            Severity::Warning,
            Severity::Error,
            Severity::Log,
            Severity::Fatal,
            Severity::Panic,
        ];
        for w in order.windows(2) {
            assert!(log_filter_rank(w[0]) < log_filter_rank(w[1]), "{:?}", w);
        }
        assert!(is_log_output(Severity::Log, Severity::Error));
        assert!(!is_log_output(Severity::Error, Severity::Log));
        assert!(!is_log_output(Severity::Log, Severity::Fatal));
        assert!(is_log_output(Severity::Log, Severity::Warning));
    }
}
