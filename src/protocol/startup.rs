//! PLACEHOLDER on main until the protocol branch lands (replaced by its startup.rs).
use std::time::Duration;

use super::{Conn, ProtocolError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupPacket {
    pub major: u16,
    pub minor: u16,
    pub raw: Vec<u8>,
    pub user: String,
    pub database: String,
    pub application_name: String,
    pub params: Vec<(String, String)>,
}

pub enum FirstPacket {
    Startup(StartupPacket),
    SslRequest,
    GssEncRequest,
    Cancel { pid: u32, key: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
}

pub fn read_first_packet(_c: &mut Conn, _t: Option<Duration>) -> Result<FirstPacket, StartupError> {
    todo!()
}
