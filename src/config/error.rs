//! The configuration error type and the diagnostic lines a load or reload produces. Messages are
//! pgpool's own wording (spec/config.md §2.3, §2.5, §3); the caller decides the severity it logs
//! an error at (FATAL at start-up, WARNING at reload).

use std::fmt;

/// A configuration error, worded as pgpool words it. `Display` gives the primary message;
/// [`ConfigError::detail`] and [`ConfigError::hint`] give the DETAIL and HINT lines.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{message}")]
    Invalid {
        message: String,
        detail: Option<String>,
        hint: Option<String>,
    },
}

impl ConfigError {
    /// An error with only a primary message.
    pub fn invalid(message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// The same error with a DETAIL line.
    pub fn with_detail(mut self, d: Option<String>) -> ConfigError {
        let ConfigError::Invalid { detail, .. } = &mut self;
        *detail = d;
        self
    }

    /// The same error with a HINT line.
    pub fn with_hint(mut self, h: Option<String>) -> ConfigError {
        let ConfigError::Invalid { hint, .. } = &mut self;
        *hint = h;
        self
    }

    /// The primary message (same as `Display`).
    pub fn message(&self) -> &str {
        let ConfigError::Invalid { message, .. } = self;
        message
    }

    /// pgpool's DETAIL line, if any.
    pub fn detail(&self) -> Option<&str> {
        let ConfigError::Invalid { detail, .. } = self;
        detail.as_deref()
    }

    /// pgpool's HINT line, if any.
    pub fn hint(&self) -> Option<&str> {
        let ConfigError::Invalid { hint, .. } = self;
        hint.as_deref()
    }

    /// This error as a diagnostic at the given level (WARNING during a reload).
    pub fn to_diag(&self, level: Level) -> Diag {
        Diag {
            level,
            message: self.message().to_owned(),
            detail: self.detail().map(str::to_owned),
            hint: self.hint().map(str::to_owned),
        }
    }
}

/// Severity of a diagnostic produced while loading, in pgpool's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Log,
    Info,
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Log => "LOG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
        }
    }
}

/// One message produced by a load or reload, for the caller to log (the config module never
/// logs itself: it may run before the logger exists).
#[derive(Debug, Clone, PartialEq)]
pub struct Diag {
    pub level: Level,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Diag {
    pub fn new(level: Level, message: impl Into<String>) -> Diag {
        Diag {
            level,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Diag {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diag {
        self.hint = Some(hint.into());
        self
    }

    /// The log lines of this diagnostic: `"<LEVEL>:  message"`, then `"DETAIL:  …"` and
    /// `"HINT:  …"` when present (each is its own log line, as pgpool prints them).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("{}:  {}", self.level.as_str(), self.message)];
        if let Some(d) = &self.detail {
            out.push(format!("DETAIL:  {d}"));
        }
        if let Some(h) = &self.hint {
            out.push(format!("HINT:  {h}"));
        }
        out
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.lines().join("\n"))
    }
}

/// Flatten diagnostics into the log lines the `Config::load`/`reload` contract returns.
pub fn diag_lines(diags: &[Diag]) -> Vec<String> {
    diags.iter().flat_map(Diag::lines).collect()
}
