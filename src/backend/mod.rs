//! Backend nodes seen from one process: the main node rule, applying a reloaded backend list
//! to shared memory (spec/config.md §5.2), a child's private status snapshot, and opening a
//! socket to a node (Unix socket when the host starts with `/`, else TCP with
//! `connect_timeout`, `TCP_NODELAY`) and starting TLS on it when `ssl = on`. pgpool's own connections are in `internal`, primary
//! detection in `primary`.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::protocol::Conn;
use crate::shmem::{BackendStatus, Shmem, MAX_BACKENDS};

pub mod follow;
pub mod internal;
pub mod primary;

/// `BackendInfo.flag` bit: `DISALLOW_TO_FAILOVER` (pgpool's `POOL_DISALLOW_TO_FAILOVER`).
pub const FLAG_DISALLOW_TO_FAILOVER: u32 = 0x1;
/// `BackendInfo.flag` bit: `ALWAYS_PRIMARY`.
pub const FLAG_ALWAYS_PRIMARY: u32 = 0x2;

/// Copy every configured slot's `backend_flag` into shared memory (start-up and reload).
pub fn store_flags(cfg: &Config, sh: &Shmem) {
    for (i, b) in cfg.backends().iter().enumerate().take(MAX_BACKENDS) {
        let mut f = 0;
        if b.disallow_to_failover() {
            f |= FLAG_DISALLOW_TO_FAILOVER;
        }
        if b.always_primary() {
            f |= FLAG_ALWAYS_PRIMARY;
        }
        sh.backend(i).flag.store(f, Relaxed);
    }
}

/// Set `main_node_id` to the lowest-numbered valid node (−1 if none).
pub fn recompute_main_node(sh: &Shmem) {
    let main = (0..sh.num_backends())
        .find(|&i| sh.backend(i).status().is_valid())
        .map_or(-1, |i| i as i32);
    sh.header().main_node_id.store(main, Relaxed);
}

/// Apply a reloaded configuration's backend slots to shared memory: weights and flags always;
/// host and port only for slots that were unused (a new node starts `down`). Data directories
/// and application names live in each process's configuration (its own reload applies them).
pub fn apply_reloaded_backends(cfg: &Config, sh: &Shmem) {
    store_flags(cfg, sh);
    let backends = cfg.backends();
    let total: f64 = backends
        .iter()
        .filter(|b| b.port != 0)
        .map(|b| b.weight)
        .sum();
    for (i, b) in backends.iter().enumerate().take(MAX_BACKENDS) {
        let info = sh.backend(i);
        if b.port != 0 && info.port.load(Relaxed) == 0 {
            info.hostname.set(&b.hostname);
            info.port.store(b.port as i32, Relaxed);
            info.set_status(BackendStatus::Down);
            if i >= sh.num_backends() {
                sh.header().num_backends.store(i as i32 + 1, Relaxed);
            }
        }
        if info.port.load(Relaxed) != 0 {
            // (a changed weight was logged by the reload, as pgpool logs it: the raw values)
            let w = if b.port != 0 && total > 0.0 {
                b.weight / total
            } else {
                0.0
            };
            info.weight.store(w.to_bits(), Relaxed);
        }
    }
}

/// A child's private view of node states, refreshed only at defined points.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Vec<BackendStatus>,
    pub main_node: Option<usize>,
    /// The detected primary (`primary_node_id` when ≥ 0; streaming and logical modes only).
    pub primary_node: Option<usize>,
}

impl Snapshot {
    pub fn take(sh: &Shmem) -> Snapshot {
        let status = (0..sh.num_backends())
            .map(|i| sh.backend(i).status())
            .collect();
        let m = sh.header().main_node_id.load(Relaxed);
        let p = sh.header().primary_node_id.load(Relaxed);
        Snapshot {
            status,
            main_node: (m >= 0).then_some(m as usize),
            primary_node: (p >= 0).then_some(p as usize),
        }
    }
    pub fn is_valid(&self, node: usize) -> bool {
        self.status.get(node).is_some_and(|s| s.is_valid())
    }
}

/// Open a socket to node `node` (host and port from shared memory). `timeout_ms` 0 = no limit.
pub fn connect(sh: &Shmem, node: usize, timeout_ms: u64) -> io::Result<OwnedFd> {
    let info = sh.backend(node);
    let host = info.hostname.get();
    let port = info.port.load(Relaxed) as u16;
    connect_to(&host, port, timeout_ms)
}

/// Open a connection to node `node`, with TLS when `ssl = on` and the server agrees
/// (spec/auth.md §13). A failed TLS start is a failed connection, never a plaintext one.
pub fn connect_conn(sh: &Shmem, node: usize, timeout_ms: u64) -> io::Result<Conn> {
    let mut c = Conn::new(connect(sh, node, timeout_ms)?);
    let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
    crate::tls::connect_backend(&mut c, timeout)?;
    Ok(c)
}

/// pgpool's LOG line for a node that refused or did not answer a connection (children and
/// health checks alike): a failed TCP connect is reported as pgpool's non-blocking connect
/// reports it (`, getsockopt() failed`), with the system's reason as DETAIL (pgpool-II 4.3.5
/// prints a stale "Operation now in progress" there).
pub fn log_connect_failure(host: &str, port: impl std::fmt::Display, e: &io::Error) {
    match e.raw_os_error() {
        Some(code) if !host.starts_with('/') => pglog!(
            Severity::Log,
            detail = nix::errno::Errno::from_raw(code).desc();
            "failed to connect to PostgreSQL server on \"{}:{}\", getsockopt() failed", host, port
        ),
        _ => pglog!(
            Severity::Log,
            detail = e;
            "failed to connect to PostgreSQL server on \"{}:{}\"", host, port
        ),
    }
}

/// Open a socket to `host`:`port` as pgpool does.
pub fn connect_to(host: &str, port: u16, timeout_ms: u64) -> io::Result<OwnedFd> {
    if host.starts_with('/') {
        let path = Path::new(host).join(format!(".s.PGSQL.{port}"));
        return Ok(UnixStream::connect(path)?.into());
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("could not resolve \"{host}\""),
    );
    for a in addrs {
        let r = if timeout_ms > 0 {
            TcpStream::connect_timeout(&a, Duration::from_millis(timeout_ms))
        } else {
            TcpStream::connect(a)
        };
        match r {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s.into());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
