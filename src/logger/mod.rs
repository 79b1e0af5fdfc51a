//! Logging in pgpool's format: severities, the `pglog!` macro every process logs with, the
//! `tracing` subscriber that writes `log_line_prefix` + `SEVERITY:  message` lines to stderr
//! and/or syslog, and the logging collector process.
//!
//! CONTRACT used by the rest of the crate (the logger helper implements the subscriber):
//! - `pglog!(Severity::Log, "started {}", x)` and
//!   `pglog!(Severity::Warning, detail = d, hint = h; "message {}", x)` (detail/hint optional,
//!   each an expression that implements Display).
//! - Events carry the pgpool severity in the field `severity` (its `as_str()`), the message,
//!   and optional `detail` / `hint` fields. The tracing level is `Severity::tracing_level()`.

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
}

/// Log one message in pgpool's style. See the module comment for the forms.
#[macro_export]
macro_rules! pglog {
    ($sev:expr, detail = $d:expr, hint = $h:expr; $($arg:tt)+) => {
        $crate::__pglog_event!($sev, detail = %$d, hint = %$h; $($arg)+)
    };
    ($sev:expr, detail = $d:expr; $($arg:tt)+) => {
        $crate::__pglog_event!($sev, detail = %$d; $($arg)+)
    };
    ($sev:expr, hint = $h:expr; $($arg:tt)+) => {
        $crate::__pglog_event!($sev, hint = %$h; $($arg)+)
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
        assert_eq!(Severity::Log.as_str(), "LOG");
    }
}
