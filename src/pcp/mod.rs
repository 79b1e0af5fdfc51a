//! PCP, pgpool's administration protocol (spec/pcp.md): the wire format shared by both ends
//! (`wire`), the server process and its per-connection workers, and the client library the
//! `pcp_*` tools are built on.

pub mod client;
pub mod server;
pub mod tools;
pub mod wire;
