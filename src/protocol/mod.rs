//! Frontend/backend protocol version 3: framing (`conn`), the startup packet, typed views of
//! the messages pgpool inspects and builders for the messages pgpool originates.

pub mod conn;
pub mod messages;
pub mod pgerror;
pub mod startup;

pub use conn::{Conn, FrameHead, Message};
pub use pgerror::PgError;

/// Errors of the wire protocol itself (not of SQL).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid message length {len} for message kind \"{}\"", *tag as char)]
    BadLength { tag: u8, len: usize },
    #[error("unexpected EOF on connection")]
    Eof,
    #[error("timeout while reading from socket")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Violation(String),
}
