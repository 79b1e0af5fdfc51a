//! The authentication error type (`AuthError`), the inputs every exchange needs
//! (`AuthContext`) and what a successful new-session exchange leaves behind for later
//! re-authentication (`AuthOutcome`). Turning an `AuthError` into the client's ErrorResponse
//! is `AuthError::client_error`.

use std::time::Duration;

use crate::protocol::pgerror::{sqlstate, PgError};
use crate::protocol::ProtocolError;

/// What an exchange needs to know; plain values so tests need no configuration.
#[derive(Clone, Copy)]
pub struct AuthContext<'a> {
    /// The user name from the startup packet.
    pub user: &'a str,
    /// The user's pool_passwd value as stored (any form), if the file has one.
    pub pool_passwd: Option<&'a str>,
    /// The pool key (first line of the key file), needed for `AES…` values.
    pub pool_key: Option<&'a str>,
    /// `allow_clear_text_frontend_auth`.
    pub allow_clear_text_frontend_auth: bool,
    /// Bound for each single read from the client or a backend; `None` waits forever
    /// (pgpool arms no timer here, spec/auth.md §4.1).
    pub timeout: Option<Duration>,
    /// What the pool_hba phase established (`None` when `enable_pool_hba = off`).
    pub frontend: Option<&'a crate::auth::hba::FrontendAuth>,
}

impl std::fmt::Debug for AuthContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthContext")
            .field("user", &self.user)
            .field("pool_passwd", &self.pool_passwd.map(|_| ".."))
            .field("pool_key", &self.pool_key.map(|_| ".."))
            .field(
                "allow_clear_text_frontend_auth",
                &self.allow_clear_text_frontend_auth,
            )
            .field("timeout", &self.timeout)
            .field("frontend", &self.frontend)
            .finish()
    }
}

/// The method the backends asked for, as recorded on the main node's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Trust,
    ClearText,
    Md5,
    Scram,
}

/// What a successful new-session authentication leaves for re-authentication (§11).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    pub kind: AuthKind,
    /// Clear-text backends: the password every backend accepted (the pool_passwd entry, else
    /// the client's clear text). md5/SCRAM backends: the client's clear-text password when it
    /// answered them (no pool_passwd entry), also accepted by every backend.
    pub client_password: Option<String>,
}

impl std::fmt::Debug for AuthOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOutcome")
            .field("kind", &self.kind)
            .field(
                "client_password",
                &self.client_password.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

/// Why authentication failed.
#[derive(Debug)]
pub enum AuthError {
    /// The client closed the connection (psql does this to prompt for a password); not an
    /// error worth logging, nothing to send.
    ClientGone,
    /// Reading from or writing to the client failed.
    Client(ProtocolError),
    /// Reading from or writing to backend `node` failed.
    Backend { node: usize, error: ProtocolError },
    /// Backend `node` answered with an ErrorResponse, which has already been forwarded to the
    /// client unchanged (e.g. PostgreSQL's "password authentication failed for user …").
    BackendRejected { node: usize, message: String },
    /// pgpool's own refusal, in the words the client will see.
    Refused(PgError),
}

impl AuthError {
    /// An ERROR with pgpool's default SQLSTATE, message and detail.
    pub fn refused(message: impl Into<String>, detail: impl Into<String>) -> AuthError {
        AuthError::Refused(PgError::internal(message).with_detail(detail))
    }

    /// A FATAL with pgpool's default SQLSTATE, message and detail.
    pub fn fatal(message: impl Into<String>, detail: impl Into<String>) -> AuthError {
        AuthError::Refused(PgError::fatal(sqlstate::INTERNAL_ERROR, message).with_detail(detail))
    }

    pub(crate) fn client(e: ProtocolError) -> AuthError {
        match e {
            ProtocolError::Eof => AuthError::ClientGone,
            other => AuthError::Client(other),
        }
    }

    /// The report for the log and the client, whatever happened.
    pub fn to_pg_error(&self) -> PgError {
        match self {
            AuthError::ClientGone => PgError::internal("unable to read data from frontend")
                .with_detail("EOF encountered with frontend"),
            AuthError::Client(e) => {
                PgError::internal("authentication failed").with_detail(e.to_string())
            }
            AuthError::Backend { node, error } => {
                PgError::internal(format!("unable to read data from DB node {node}"))
                    .with_detail(error.to_string())
            }
            AuthError::BackendRejected { message, .. } => {
                PgError::internal("authentication failed").with_detail(message.clone())
            }
            AuthError::Refused(e) => e.clone(),
        }
    }

    /// What must still be sent to the client: nothing when it left, or when the backend's own
    /// ErrorResponse was already forwarded.
    pub fn client_error(&self) -> Option<PgError> {
        match self {
            AuthError::ClientGone | AuthError::BackendRejected { .. } => None,
            other => Some(other.to_pg_error()),
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_pg_error().fmt(f)
    }
}

impl std::error::Error for AuthError {}

impl From<&AuthError> for PgError {
    fn from(e: &AuthError) -> PgError {
        e.to_pg_error()
    }
}
