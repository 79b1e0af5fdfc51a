//! The SSLRequest exchanges: answering a client's (spec/auth.md §5.2) and sending one to a
//! backend (§13), each ending with the `Conn` switched to TLS or left in plaintext. A failed
//! backend handshake fails the connection (pgpool's plaintext fallback, §16 #11, is not copied).

use std::time::Duration;

use openssl::ssl::{Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslVerifyMode};

use crate::logger::Severity;
use crate::pglog;
use crate::protocol::startup::ssl_request_packet;
use crate::protocol::Conn;

use super::stream::{FdIo, TlsStream};
use super::TlsSettings;

/// Why a client's TLS start failed; the connection is to be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrontendTlsError {
    #[error("received unencrypted data after SSL request")]
    UnencryptedData,
    #[error("pool_ssl: \"SSL_accept\": \"{0}\"")]
    Handshake(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Why a backend connection could not be set up over TLS; a connection failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendTlsError {
    #[error("received unencrypted data after SSL request")]
    UnencryptedData,
    #[error("server sent an error response during SSL exchange")]
    ErrorResponse,
    #[error("pool_ssl: \"SSL_connect\": \"{0}\"")]
    Handshake(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<BackendTlsError> for std::io::Error {
    fn from(e: BackendTlsError) -> std::io::Error {
        match e {
            BackendTlsError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        }
    }
}

/// Answer an SSLRequest: `N` when frontend TLS is off (Ok(false)), else `S` and the server
/// handshake (Ok(true)). Errors are logged here; the caller closes the connection.
/// The handshake is bounded by `timeout` (authentication_timeout) when given.
pub fn accept_client(conn: &mut Conn, timeout: Option<Duration>) -> Result<bool, FrontendTlsError> {
    accept_with(conn, super::settings().server.as_ref(), timeout)
}

/// `accept_client` with an explicit server context (None = frontend TLS off).
pub fn accept_with(
    conn: &mut Conn,
    ctx: Option<&SslContext>,
    timeout: Option<Duration>,
) -> Result<bool, FrontendTlsError> {
    let Some(ctx) = ctx.filter(|_| !conn.is_tls()) else {
        conn.write_all(b"N")?;
        return Ok(false);
    };
    conn.write_all(b"S")?;
    let r = (|| {
        if !conn.buffered().is_empty() {
            return Err(FrontendTlsError::UnencryptedData);
        }
        let ssl = Ssl::new(ctx).map_err(|e| FrontendTlsError::Handshake(e.to_string()))?;
        // A client that stops in the middle of the handshake must not hold the child forever.
        crate::protocol::conn::set_read_timeout(conn.fd(), timeout);
        let s = ssl.accept(FdIo(conn.fd()));
        crate::protocol::conn::set_read_timeout(conn.fd(), None);
        let s = s.map_err(|e| FrontendTlsError::Handshake(reason(&e.to_string())))?;
        conn.set_tls(TlsStream::new(s));
        Ok(true)
    })();
    match &r {
        Err(FrontendTlsError::UnencryptedData) => pglog!(
            Severity::Fatal,
            detail = "This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.";
            "received unencrypted data after SSL request"
        ),
        Err(e) => pglog!(Severity::Log, "{}", e),
        Ok(_) => {}
    }
    r
}

/// When `ssl = on`, send an SSLRequest on a fresh backend connection and start TLS if the
/// server agrees (§13). `N` or an odd answer keeps plaintext; `E`, plaintext bytes after `S`
/// and a failed handshake or certificate check are errors. The server certificate is checked
/// against `ssl_ca_cert` / `ssl_ca_cert_dir` when either is set, never against the host name.
pub fn connect_backend(conn: &mut Conn, timeout: Option<Duration>) -> Result<(), BackendTlsError> {
    connect_backend_with(conn, super::settings(), timeout)
}

/// `connect_backend` with explicit settings.
pub fn connect_backend_with(
    conn: &mut Conn,
    st: &TlsSettings,
    timeout: Option<Duration>,
) -> Result<(), BackendTlsError> {
    if !st.enabled {
        return Ok(());
    }
    let mut b = match SslContextBuilder::new(SslMethod::tls_client()) {
        Ok(b) => b,
        Err(e) => {
            pglog!(Severity::Log, "pool_ssl: \"SSL_CTX_new\": \"{}\"", e);
            return Ok(());
        }
    };
    b.set_mode(SslMode::ACCEPT_MOVING_WRITE_BUFFER);
    if st.ca_cert.is_some() || st.ca_dir.is_some() {
        if let Err(e) = b.load_verify_locations(st.ca_cert.as_deref(), st.ca_dir.as_deref()) {
            pglog!(Severity::Log, "pool_ssl: \"SSL verify\": \"{}\"", e);
            return Ok(());
        }
        b.set_verify(SslVerifyMode::PEER);
    } else {
        b.set_verify(SslVerifyMode::NONE);
    }
    let ctx = b.build();
    conn.write_all(&ssl_request_packet())?;
    let answer = match conn.read_exact(1, timeout) {
        Ok(a) => a[0],
        Err(_) => {
            pglog!(
                Severity::Warning,
                "error while attempting to negotiate a secure connection, pool_read failed"
            );
            return Err(BackendTlsError::Io(std::io::Error::other(
                "could not read the answer to SSLRequest",
            )));
        }
    };
    match answer {
        b'S' => {
            if !conn.buffered().is_empty() {
                pglog!(
                    Severity::Fatal,
                    "received unencrypted data after SSL request"
                );
                return Err(BackendTlsError::UnencryptedData);
            }
            let ssl = Ssl::new(&ctx).map_err(|e| BackendTlsError::Handshake(e.to_string()))?;
            match ssl.connect(FdIo(conn.fd())) {
                Ok(s) => {
                    conn.set_tls(TlsStream::new(s));
                    Ok(())
                }
                Err(e) => {
                    let e = BackendTlsError::Handshake(reason(&e.to_string()));
                    pglog!(Severity::Log, "{}", e);
                    Err(e)
                }
            }
        }
        b'N' => Ok(()),
        b'E' => {
            pglog!(
                Severity::Fatal,
                "server sent an error response during SSL exchange"
            );
            Err(BackendTlsError::ErrorResponse)
        }
        other => {
            pglog!(
                Severity::Warning,
                "error while attempting to negotiate a secure connection, unhandled response: {}",
                other as char
            );
            Ok(())
        }
    }
}

/// OpenSSL's message without the library's bookkeeping prefix noise (one line).
fn reason(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}
