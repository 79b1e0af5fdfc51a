//! The listening sockets the parent creates before forking: one TCP socket per address of
//! `listen_addresses` (`*` = every interface, IPv4 and IPv6) and one Unix socket
//! `<dir>/.s.PGSQL.<port>` per `unix_socket_directories` entry, with pgpool's backlog,
//! permissions and group. Every child inherits them and accepts on all of them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrIn, SockaddrIn6, UnixAddr,
};

use crate::logger::Severity;
use crate::pglog;

/// One listening socket.
#[derive(Debug)]
pub struct Listener {
    pub fd: OwnedFd,
    /// The socket file to unlink at exit (Unix sockets only).
    pub path: Option<PathBuf>,
    pub tcp: bool,
}

impl Listener {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The addresses one `listen_addresses` entry stands for.
fn resolve(entry: &str, port: u16) -> Vec<SocketAddr> {
    if entry == "*" {
        return vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ];
    }
    match (entry, port).to_socket_addrs() {
        Ok(it) => {
            let mut v: Vec<SocketAddr> = it.collect();
            v.dedup();
            v
        }
        Err(e) => {
            pglog!(Severity::Warning, detail = e; "could not resolve \"{}\"", entry);
            Vec::new()
        }
    }
}

fn tcp_listener(addr: SocketAddr, backlog: i32) -> nix::Result<OwnedFd> {
    let fam = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(
        fam,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => {
            setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?
        }
    }
    listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))?;
    Ok(fd)
}

fn unix_listener(path: &PathBuf, perms: u32, group: &str) -> Result<OwnedFd, String> {
    let _ = std::fs::remove_file(path);
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| e.to_string())?;
    let addr = UnixAddr::new(path).map_err(|e| e.to_string())?;
    bind(fd.as_raw_fd(), &addr)
        .map_err(|e| format!("failed to bind a socket: \"{}\": {e}", path.display()))?;
    if !group.is_empty() {
        let gid = group
            .parse::<u32>()
            .ok()
            .map(nix::unistd::Gid::from_raw)
            .or_else(|| {
                nix::unistd::Group::from_name(group)
                    .ok()
                    .flatten()
                    .map(|g| g.gid)
            });
        match gid {
            Some(g) => {
                if let Err(e) = nix::unistd::chown(path, None, Some(g)) {
                    pglog!(
                        Severity::Warning,
                        "could not set group of file \"{}\": {}",
                        path.display(),
                        e
                    );
                }
            }
            None => pglog!(Severity::Warning, "group \"{}\" does not exist", group),
        }
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(perms))
        .map_err(|e| e.to_string())?;
    listen(&fd, Backlog::new(10000).unwrap_or(Backlog::MAXCONN)).map_err(|e| e.to_string())?;
    Ok(fd)
}

/// What to listen on, taken from the configuration.
pub struct ListenSpec {
    pub addresses: Vec<String>,
    pub port: u16,
    pub socket_dirs: Vec<String>,
    pub socket_permissions: u32,
    pub socket_group: String,
    pub backlog: i32,
}

/// Create every listener. An address that fails only warns; no socket at all is an error.
pub fn create(spec: &ListenSpec) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for dir in &spec.socket_dirs {
        let path = PathBuf::from(dir).join(format!(".s.PGSQL.{}", spec.port));
        if path.as_os_str().len() >= 108 {
            pglog!(
                Severity::Warning,
                "Unix-domain socket path \"{}\" is too long",
                path.display()
            );
            continue;
        }
        let fd = unix_listener(&path, spec.socket_permissions, &spec.socket_group)?;
        out.push(Listener {
            fd,
            path: Some(path),
            tcp: false,
        });
    }
    for entry in &spec.addresses {
        for addr in resolve(entry, spec.port) {
            pglog!(
                Severity::Log,
                "Setting up socket for {}:{}",
                addr.ip(),
                addr.port()
            );
            match tcp_listener(addr, spec.backlog) {
                Ok(fd) => out.push(Listener {
                    fd,
                    path: None,
                    tcp: true,
                }),
                Err(e) => pglog!(
                    Severity::Warning,
                    "failed to create INET domain socket: could not bind {}: {}",
                    addr,
                    e
                ),
            }
        }
    }
    if out.is_empty() {
        return Err("failed to create any listening socket".into());
    }
    Ok(out)
}

/// Remove the Unix socket files (at exit).
pub fn unlink_all(ls: &[Listener]) {
    for l in ls {
        if let Some(p) = &l.path {
            let _ = std::fs::remove_file(p);
        }
    }
}
