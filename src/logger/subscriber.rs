//! The `tracing` layer that turns events into pgpool log records: it reads the pgpool severity
//! from the `pglog!` fields (or maps a plain tracing level: ERROR→ERROR, WARN→WARNING,
//! INFO→LOG, DEBUG→DEBUG1, TRACE→DEBUG5), filters with `log_min_messages` in the server-log
//! order, formats with `log_line_prefix`, and writes each record with one write(2) to stderr
//! (as protocol chunks when stderr is the collector's pipe) and/or to syslog.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::clock::LocalTime;
use super::format::{format_record, PrefixContext, Record};
use super::process::with_state;
use super::settings::LogSettings;
use super::{log_filter_rank, Severity};

/// Settings shared by a layer and `apply`.
pub(crate) struct Shared {
    settings: RwLock<Arc<LogSettings>>,
    /// `log_filter_rank(settings.min_messages)`, for the cheap per-callsite check.
    min_rank: AtomicU8,
}

impl Shared {
    pub(crate) fn new(settings: &LogSettings) -> Shared {
        Shared {
            settings: RwLock::new(Arc::new(settings.clone())),
            min_rank: AtomicU8::new(log_filter_rank(settings.min_messages)),
        }
    }

    pub(crate) fn replace(&self, settings: &LogSettings) {
        if let Ok(mut s) = self.settings.write() {
            *s = Arc::new(settings.clone());
        }
        self.min_rank
            .store(log_filter_rank(settings.min_messages), Ordering::Relaxed);
    }

    /// `log_filter_rank` of the `log_min_messages` in effect.
    pub(crate) fn min_rank(&self) -> u8 {
        self.min_rank.load(Ordering::Relaxed)
    }

    pub(crate) fn current(&self) -> Arc<LogSettings> {
        match self.settings.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// Set in the main process once fd 2 is the collector's pipe; inherited by every later fork.
pub(crate) static STDERR_IS_COLLECTOR_PIPE: AtomicBool = AtomicBool::new(false);
/// Set in the logger process: its own records are queued for the collector loop to write.
pub(crate) static IS_COLLECTOR_PROCESS: AtomicBool = AtomicBool::new(false);
/// The logger process's own records, drained by the collector loop into the log file.
pub(crate) static COLLECTOR_SELF_QUEUE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Where a layer writes its stderr output.
#[derive(Clone)]
enum Sink {
    /// fd 2 (or the collector's own queue inside the logger process).
    Stderr,
    /// A buffer (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Memory(Arc<Mutex<Vec<u8>>>),
}

/// The pgpool log layer. Install it over `tracing_subscriber::registry()`; `super::init` does.
pub struct PgLogLayer {
    shared: Arc<Shared>,
    sink: Sink,
}

impl PgLogLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> PgLogLayer {
        PgLogLayer {
            shared,
            sink: Sink::Stderr,
        }
    }

    /// A layer with its own settings writing into a buffer (for tests).
    #[cfg(test)]
    pub(crate) fn in_memory(
        settings: &LogSettings,
    ) -> (PgLogLayer, Arc<Shared>, Arc<Mutex<Vec<u8>>>) {
        let shared = Arc::new(Shared::new(settings));
        let buf = Arc::new(Mutex::new(Vec::new()));
        let layer = PgLogLayer {
            shared: Arc::clone(&shared),
            sink: Sink::Memory(Arc::clone(&buf)),
        };
        (layer, shared, buf)
    }
}

/// The highest filter rank any event at this tracing level can carry (see `Severity::tracing_level`).
fn max_rank_for_level(level: &Level) -> u8 {
    let sev = match *level {
        Level::TRACE => Severity::Debug2,
        Level::DEBUG => Severity::Debug1,
        Level::INFO => Severity::Log,
        Level::WARN => Severity::Warning,
        _ => Severity::Panic,
    };
    log_filter_rank(sev)
}

/// The severity a plain tracing event (no `severity` field) is logged with.
fn severity_for_level(level: &Level) -> Severity {
    match *level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warning,
        Level::INFO => Severity::Log,
        Level::DEBUG => Severity::Debug1,
        _ => Severity::Debug5,
    }
}

#[derive(Default)]
struct Fields {
    rank: Option<u64>,
    severity: Option<String>,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    context: Option<String>,
    /// Other fields of plain tracing events, appended as ` name=value`.
    extra: String,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rank" {
            self.rank = Some(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "severity" => self.severity = Some(value.to_string()),
            "message" => self.message.push_str(value),
            "detail" => self.detail = Some(value.to_string()),
            "hint" => self.hint = Some(value.to_string()),
            "context" => self.context = Some(value.to_string()),
            name => {
                use fmt::Write as _;
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use fmt::Write as _;
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "detail" => self.detail = Some(format!("{value:?}")),
            "hint" => self.hint = Some(format!("{value:?}")),
            "context" => self.context = Some(format!("{value:?}")),
            "severity" => self.severity = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

impl Fields {
    fn severity(&self, level: &Level) -> Severity {
        if let Some(s) = self
            .rank
            .and_then(|r| u8::try_from(r).ok())
            .and_then(Severity::from_rank)
        {
            return s;
        }
        if let Some(s) = self.severity.as_deref().and_then(super::severity_from_word) {
            return s;
        }
        severity_for_level(level)
    }
}

/// Write all of `data` to fd 2: one write(2) in the normal case, continuing only after a
/// partial write or EINTR.
fn write_fd2(mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: data points to data.len() readable bytes; fd 2 may be closed, in which case
        // write fails with EBADF and we give up (nothing else can report it).
        let n = unsafe { libc::write(2, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let n = usize::try_from(n).unwrap_or(0);
        if n == 0 {
            return;
        }
        data = &data[n.min(data.len())..];
    }
}

/// Send a formatted record to this process's stderr destination.
pub(crate) fn write_stderr_record(text: &[u8]) {
    if IS_COLLECTOR_PROCESS.load(Ordering::Relaxed) {
        if let Ok(mut q) = COLLECTOR_SELF_QUEUE.lock() {
            q.extend_from_slice(text);
        }
    } else if STDERR_IS_COLLECTOR_PIPE.load(Ordering::Relaxed) {
        let pid = nix::unistd::getpid().as_raw();
        super::pipe::encode_chunks(text, pid, write_fd2);
    } else {
        write_fd2(text);
    }
}

impl<S: tracing::Subscriber> Layer<S> for PgLogLayer {
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // log_min_messages changes at reload: ask `enabled` every time (an atomic load).
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        !meta.is_event()
            || max_rank_for_level(meta.level()) >= self.shared.min_rank.load(Ordering::Relaxed)
            || super::client::wants_level(meta.level())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let severity = fields.severity(meta.level());
        let settings = self.shared.current();
        let to_log = log_filter_rank(severity) >= log_filter_rank(settings.min_messages);
        let to_client = super::client::wants(severity);
        if !to_log && !to_client {
            return;
        }
        let mut message = fields.message;
        message.push_str(&fields.extra);
        if to_client {
            let (detail, hint) = (fields.detail.as_deref(), fields.hint.as_deref());
            super::client::push(severity, &message, detail, hint);
        }
        if !to_log {
            return;
        }
        let record = Record {
            severity,
            message: &message,
            detail: fields.detail.as_deref(),
            hint: fields.hint.as_deref(),
            context: fields.context.as_deref(),
            // pgpool prints the source file's base name (`LOCATION:  pool_config.c:3471`).
            location: meta
                .file()
                .map(|f| f.rsplit('/').next().unwrap_or(f))
                .zip(meta.line()),
        };
        let pid = nix::unistd::getpid().as_raw();
        let time = LocalTime::now();
        let text = with_state(|st| {
            if st.line_pid != pid {
                st.line_pid = pid;
                st.line = 0;
            }
            let mut line = st.line;
            let ctx = PrefixContext::from_state(st, pid, time);
            let text = format_record(
                &settings.line_prefix,
                settings.error_verbosity,
                &record,
                &ctx,
                &mut line,
            );
            st.line = line;
            text
        });
        if settings.destinations.syslog {
            super::syslog::write(
                severity,
                &text,
                &settings.syslog_ident,
                settings.syslog_facility,
            );
        }
        if settings.destinations.stderr {
            match &self.sink {
                Sink::Stderr => write_stderr_record(text.as_bytes()),
                Sink::Memory(buf) => {
                    if let Ok(mut b) = buf.lock() {
                        b.extend_from_slice(text.as_bytes());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::{set_process, set_session, ErrorVerbosity};
    use tracing_subscriber::layer::SubscriberExt;

    fn capture(settings: &LogSettings, f: impl FnOnce(&Shared)) -> String {
        let (layer, shared, buf) = PgLogLayer::in_memory(settings);
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || f(&shared));
        let bytes = buf.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf8")
    }

    fn settings(prefix: &str, min: Severity) -> LogSettings {
        LogSettings {
            line_prefix: prefix.to_string(),
            min_messages: min,
            ..LogSettings::default()
        }
    }

    #[test]
    fn pglog_events_become_pgpool_records() {
        set_process("child", "CHILD");
        let out = capture(&settings("%a %P %u %d %l: ", Severity::Warning), |_| {
            crate::pglog!(Severity::Log, "started {}", 1);
            crate::pglog!(Severity::Warning, detail = "d1", hint = "h1"; "careful");
            crate::pglog!(Severity::Notice, "not logged at warning");
            set_session(Some("alice"), Some("db1"));
            crate::logger::set_application_name("psql");
            crate::pglog!(Severity::Error, "in session");
            set_session(None, None);
        });
        assert_eq!(
            out,
            "child CHILD [No Connection] [No Connection] 1: LOG:  started 1\n\
             child CHILD [No Connection] [No Connection] 2: WARNING:  careful\n\
             child CHILD [No Connection] [No Connection] 3: DETAIL:  d1\n\
             child CHILD [No Connection] [No Connection] 4: HINT:  h1\n\
             psql CHILD alice db1 5: ERROR:  in session\n"
        );
    }

    #[test]
    fn plain_tracing_events_map_by_level() {
        set_process("main", "MAIN");
        let out = capture(&settings("", Severity::Debug5), |_| {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!(port = 5432, "i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        assert_eq!(
            out,
            "ERROR:  e\nWARNING:  w\nLOG:  i port=5432\nDEBUG:  d\nDEBUG:  t\n"
        );
    }

    #[test]
    fn log_ranks_between_error_and_fatal() {
        let run = |min| {
            capture(&settings("", min), |_| {
                crate::pglog!(Severity::Debug1, "debug1");
                crate::pglog!(Severity::Info, "info");
                crate::pglog!(Severity::Notice, "notice");
                crate::pglog!(Severity::Warning, "warning");
                crate::pglog!(Severity::Error, "error");
                crate::pglog!(Severity::Log, "log");
                crate::pglog!(Severity::Fatal, "fatal");
            })
        };
        let words = |s: String| {
            s.lines()
                .map(|l| l.split(':').next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(words(run(Severity::Error)), ["ERROR", "LOG", "FATAL"]);
        assert_eq!(words(run(Severity::Log)), ["LOG", "FATAL"]);
        assert_eq!(words(run(Severity::Fatal)), ["FATAL"]);
        assert_eq!(
            words(run(Severity::Notice)),
            ["NOTICE", "WARNING", "ERROR", "LOG", "FATAL"]
        );
        assert_eq!(words(run(Severity::Debug1)).len(), 7);
    }

    #[test]
    fn reload_changes_filter_and_verbosity() {
        let out = capture(&settings("", Severity::Warning), |shared| {
            crate::pglog!(Severity::Debug1, hint = "h"; "hidden");
            shared.replace(&LogSettings {
                min_messages: Severity::Debug1,
                error_verbosity: ErrorVerbosity::Terse,
                line_prefix: String::new(),
                ..LogSettings::default()
            });
            crate::pglog!(Severity::Debug1, hint = "h"; "shown");
        });
        assert_eq!(out, "DEBUG:  shown\n");
    }

    #[test]
    fn verbose_adds_location_with_base_name() {
        let s = LogSettings {
            line_prefix: String::new(),
            error_verbosity: ErrorVerbosity::Verbose,
            ..LogSettings::default()
        };
        let out = capture(&s, |_| {
            crate::pglog!(Severity::Error, detail = "d"; "failed");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["ERROR:  failed", "DETAIL:  d"]);
        assert!(lines[2].starts_with("LOCATION:  subscriber.rs:"), "{out}");
        assert_eq!(lines.len(), 3);
    }
}
