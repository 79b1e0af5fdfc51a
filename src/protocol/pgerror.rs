//! `PgError`: the one shape every session, startup and authentication error takes before a
//! client sees it (severity, SQLSTATE, message, optional detail and hint), and its encoding as
//! an ErrorResponse or NoticeResponse. Deciding *which* error to raise belongs to the caller.

use std::borrow::Cow;

use crate::logger::Severity;

use super::messages;

/// SQLSTATE codes pgpool itself uses. pgpool reports nearly everything as `XX000`
/// (spec/auth.md §15); the others are the few places where a specific code is written.
pub mod sqlstate {
    /// internal_error: pgpool's default for its own reports.
    pub const INTERNAL_ERROR: &str = "XX000";
    /// invalid_authorization_specification (e.g. no user name in the startup packet).
    pub const INVALID_AUTHORIZATION: &str = "28000";
    /// invalid_password.
    pub const INVALID_PASSWORD: &str = "28P01";
    /// protocol_violation.
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// feature_not_supported.
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    /// admin_shutdown.
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    /// operator_intervention (client_idle_limit and friends).
    pub const OPERATOR_INTERVENTION: &str = "57000";
    /// too_many_connections.
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
}

/// An error (or notice) as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    pub severity: Severity,
    pub sqlstate: Cow<'static, str>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl PgError {
    /// A report of any severity with the given SQLSTATE.
    pub fn new(
        severity: Severity,
        sqlstate: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> PgError {
        PgError {
            severity,
            sqlstate: sqlstate.into(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// FATAL: the session (and in pgpool, the child process) ends after sending it.
    pub fn fatal(sqlstate: impl Into<Cow<'static, str>>, message: impl Into<String>) -> PgError {
        PgError::new(Severity::Fatal, sqlstate, message)
    }

    /// ERROR: the statement or, before a session exists, the connection fails.
    pub fn error(sqlstate: impl Into<Cow<'static, str>>, message: impl Into<String>) -> PgError {
        PgError::new(Severity::Error, sqlstate, message)
    }

    /// ERROR with pgpool's default SQLSTATE `XX000`.
    pub fn internal(message: impl Into<String>) -> PgError {
        PgError::error(sqlstate::INTERNAL_ERROR, message)
    }

    /// NOTICE (sent as a NoticeResponse).
    pub fn notice(message: impl Into<String>) -> PgError {
        PgError::new(Severity::Notice, "00000", message)
    }

    /// Add a DETAIL line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> PgError {
        self.detail = Some(detail.into());
        self
    }

    /// Add a HINT line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> PgError {
        self.hint = Some(hint.into());
        self
    }

    /// True for ERROR, FATAL and PANIC: sent as ErrorResponse (`E`), otherwise NoticeResponse.
    pub fn is_error(&self) -> bool {
        self.severity >= Severity::Error
    }

    /// True when the session must end after this report.
    pub fn ends_session(&self) -> bool {
        self.severity >= Severity::Fatal
    }

    /// Append the protocol-3 ErrorResponse (ERROR/FATAL/PANIC) or NoticeResponse (anything
    /// below ERROR) to `out`. Fields written: `S`, `C`, `M`, then `D` and `H` when present.
    /// Like pgpool there is no `V` field (spec/sql-commands.md §1.1); pgpool's `F`/`L` (its C
    /// source file and line) have no meaning for us and are left out.
    pub fn to_message(&self, out: &mut Vec<u8>) {
        let tag = if self.is_error() { b'E' } else { b'N' };
        messages::error_like(
            out,
            tag,
            self.severity.as_str(),
            &self.sqlstate,
            &self.message,
            self.detail.as_deref(),
            self.hint.as_deref(),
        );
    }

    /// The encoded message in a fresh buffer (for cold paths).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.message.len());
        self.to_message(&mut out);
        out
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:  {}", self.severity.as_str(), self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " (DETAIL: {d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PgError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_error_encodes_as_error_response_without_v_field() {
        let e = PgError::fatal(sqlstate::INVALID_AUTHORIZATION, "no user").with_detail("d");
        let m = e.encode();
        assert_eq!(m[0], b'E');
        let len = u32::from_be_bytes([m[1], m[2], m[3], m[4]]) as usize;
        assert_eq!(len + 1, m.len());
        assert_eq!(&m[5..], b"SFATAL\0C28000\0Mno user\0Dd\0\0");
    }

    #[test]
    fn notice_encodes_as_notice_response() {
        let e = PgError::notice("hello").with_hint("h");
        let m = e.encode();
        assert_eq!(m[0], b'N');
        assert_eq!(&m[5..], b"SNOTICE\0C00000\0Mhello\0Hh\0\0");
        assert!(!e.is_error());
        assert!(!e.ends_session());
    }

    #[test]
    fn internal_is_error_xx000() {
        let e = PgError::internal("boom");
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.sqlstate, "XX000");
        assert!(e.is_error());
        assert!(!e.ends_session());
        assert_eq!(e.to_string(), "ERROR:  boom");
    }
}
