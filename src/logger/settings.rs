//! The logging parameters of pgpool.conf (spec/config.md §4 "Logging") as one typed value,
//! `LogSettings`, with pgpool's defaults and the conversion from the loaded `Config`; plus the
//! parsers of the enum/list values those parameters take.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::Severity;
use crate::config::Config;

/// Where records go (`log_destination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destinations {
    pub stderr: bool,
    pub syslog: bool,
}

impl Default for Destinations {
    fn default() -> Self {
        Destinations {
            stderr: true,
            syslog: false,
        }
    }
}

impl Destinations {
    /// Parse `log_destination`: comma-separated `stderr` / `syslog` (case-insensitive, blanks
    /// around items ignored, empty items skipped). Any other word is an error naming it.
    pub fn parse(value: &str) -> Result<Destinations, String> {
        let mut d = Destinations {
            stderr: false,
            syslog: false,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("stderr") {
                d.stderr = true;
            } else if item.eq_ignore_ascii_case("syslog") {
                d.syslog = true;
            } else {
                return Err(item.to_string());
            }
        }
        Ok(d)
    }
}

/// `log_error_verbosity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ErrorVerbosity {
    /// The message line only.
    Terse,
    /// Message, DETAIL and HINT lines.
    #[default]
    Default,
    /// As Default plus a LOCATION line (source file and line).
    Verbose,
}

impl ErrorVerbosity {
    pub fn from_name(name: &str) -> Option<ErrorVerbosity> {
        match name.to_ascii_lowercase().as_str() {
            "terse" => Some(ErrorVerbosity::Terse),
            "default" => Some(ErrorVerbosity::Default),
            "verbose" => Some(ErrorVerbosity::Verbose),
            _ => None,
        }
    }
}

/// `syslog_facility`: LOCAL0 … LOCAL7, stored as the digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyslogFacility(u8);

impl SyslogFacility {
    /// `LOCAL0` … `LOCAL7`, case-insensitive.
    pub fn from_name(name: &str) -> Option<SyslogFacility> {
        let lower = name.trim().to_ascii_lowercase();
        let digit = lower.strip_prefix("local")?;
        match digit.as_bytes() {
            [d @ b'0'..=b'7'] => Some(SyslogFacility(d - b'0')),
            _ => None,
        }
    }

    /// `LOCALn` as pgpool shows it.
    pub fn name(self) -> String {
        format!("LOCAL{}", self.0)
    }

    /// The libc facility constant (`LOG_LOCALn`).
    pub fn to_libc(self) -> libc::c_int {
        match self.0 {
            1 => libc::LOG_LOCAL1,
            2 => libc::LOG_LOCAL2,
            3 => libc::LOG_LOCAL3,
            4 => libc::LOG_LOCAL4,
            5 => libc::LOG_LOCAL5,
            6 => libc::LOG_LOCAL6,
            7 => libc::LOG_LOCAL7,
            _ => libc::LOG_LOCAL0,
        }
    }
}

/// The logging collector's parameters (only present when `logging_collector = on`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSettings {
    /// `log_directory`.
    pub directory: PathBuf,
    /// `log_filename`, a strftime pattern.
    pub filename: String,
    /// `log_file_mode` (owner write is always added, as pgpool does).
    pub file_mode: u32,
    /// `log_rotation_age` in minutes; 0 disables time-based rotation.
    pub rotation_age_min: i64,
    /// `log_rotation_size` in kB; 0 disables size-based rotation.
    pub rotation_size_kb: i64,
    /// `log_truncate_on_rotation`.
    pub truncate_on_rotation: bool,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            directory: PathBuf::from("/tmp/pgpool_logs"),
            filename: "pgpool-%Y-%m-%d_%H%M%S.log".to_string(),
            file_mode: 0o600,
            rotation_age_min: 1440,
            rotation_size_kb: 10240,
            truncate_on_rotation: false,
        }
    }
}

/// Everything the logger reads from pgpool.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub destinations: Destinations,
    /// `log_line_prefix`.
    pub line_prefix: String,
    /// `log_min_messages`.
    pub min_messages: Severity,
    pub error_verbosity: ErrorVerbosity,
    pub syslog_facility: SyslogFacility,
    pub syslog_ident: String,
    /// `Some` when `logging_collector = on`.
    pub collector: Option<CollectorSettings>,
}

impl Default for LogSettings {
    /// pgpool's compiled-in defaults.
    fn default() -> Self {
        LogSettings {
            destinations: Destinations::default(),
            line_prefix: "%m: %a pid %p: ".to_string(),
            min_messages: Severity::Warning,
            error_verbosity: ErrorVerbosity::Default,
            syslog_facility: SyslogFacility::default(),
            syslog_ident: "pgpool".to_string(),
            collector: None,
        }
    }
}

/// `pgpool -d`: every process logs at least at DEBUG1, whatever the file says, reload included.
static FORCE_DEBUG1: AtomicBool = AtomicBool::new(false);

/// Called once by the main process for `-d`, before any fork (children inherit it).
pub fn force_debug1() {
    FORCE_DEBUG1.store(true, Relaxed);
}

impl LogSettings {
    /// Read the logging parameters from a loaded configuration. Values the config module
    /// already validated are taken as they are; anything unparsable here (which would be a
    /// config-module bug) falls back to the default for that one parameter.
    pub fn from_config(cfg: &Config) -> LogSettings {
        let d = LogSettings::default();
        let mut min_messages =
            super::severity_from_name(cfg.get_enum("log_min_messages")).unwrap_or(d.min_messages);
        if FORCE_DEBUG1.load(Relaxed) && min_messages > Severity::Debug1 {
            min_messages = Severity::Debug1;
        }
        let collector = if cfg.get_bool("logging_collector") {
            let cd = CollectorSettings::default();
            Some(CollectorSettings {
                directory: PathBuf::from(cfg.get_str("log_directory")),
                filename: cfg.get_str("log_filename").to_string(),
                file_mode: u32::try_from(cfg.get_int("log_file_mode")).unwrap_or(cd.file_mode),
                rotation_age_min: cfg.get_int("log_rotation_age").max(0),
                rotation_size_kb: cfg.get_int("log_rotation_size").max(0),
                truncate_on_rotation: cfg.get_bool("log_truncate_on_rotation"),
            })
        } else {
            None
        };
        LogSettings {
            destinations: Destinations::parse(cfg.get_str("log_destination"))
                .unwrap_or(d.destinations),
            line_prefix: cfg.get_str("log_line_prefix").to_string(),
            min_messages,
            error_verbosity: ErrorVerbosity::from_name(cfg.get_enum("log_error_verbosity"))
                .unwrap_or(d.error_verbosity),
            syslog_facility: SyslogFacility::from_name(cfg.get_enum("syslog_facility"))
                .unwrap_or(d.syslog_facility),
            syslog_ident: cfg.get_str("syslog_ident").to_string(),
            collector,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        let both = Destinations::parse(" stderr , SYSLOG").expect("valid");
        assert!(both.stderr && both.syslog);
        let s = Destinations::parse("syslog").expect("valid");
        assert!(!s.stderr && s.syslog);
        assert_eq!(Destinations::parse("stderr,,"), Ok(Destinations::default()));
        assert_eq!(
            Destinations::parse("stderr,eventlog"),
            Err("eventlog".to_string())
        );
    }

    #[test]
    fn enums_parse() {
        assert_eq!(
            ErrorVerbosity::from_name("VERBOSE"),
            Some(ErrorVerbosity::Verbose)
        );
        assert_eq!(ErrorVerbosity::from_name("loud"), None);
        assert_eq!(
            SyslogFacility::from_name("local7").map(|f| f.to_libc()),
            Some(libc::LOG_LOCAL7)
        );
        assert_eq!(
            SyslogFacility::from_name("LOCAL0").map(|f| f.name()),
            Some("LOCAL0".into())
        );
        assert_eq!(SyslogFacility::from_name("LOCAL8"), None);
        assert_eq!(SyslogFacility::from_name("user"), None);
    }

    #[test]
    fn defaults_are_pgpools() {
        let s = LogSettings::default();
        assert_eq!(s.line_prefix, "%m: %a pid %p: ");
        assert_eq!(s.min_messages, Severity::Warning);
        assert_eq!(s.syslog_ident, "pgpool");
        assert!(s.destinations.stderr && !s.destinations.syslog);
        let c = CollectorSettings::default();
        assert_eq!(c.file_mode, 0o600);
        assert_eq!(c.rotation_size_kb, 10240);
    }
}
