//! Choosing the pool_hba.conf rule of a client (spec/auth.md §6.2): connection type, address
//! (CIDR/mask, samehost, samenet, host names checked by reverse then forward resolution),
//! database list and user list; the first rule that matches wins.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::logger::Severity;

use super::parse::{Address, ConnType, HbaRule, Token};

/// What the matcher knows about a client.
#[derive(Debug, Clone)]
pub struct ClientInfo<'a> {
    /// The peer address; `None` for a Unix-domain socket.
    pub addr: Option<IpAddr>,
    /// The connection performed the TLS negotiation.
    pub tls: bool,
    /// Startup-packet user and database (database defaulted to the user).
    pub user: &'a str,
    pub database: &'a str,
}

/// `(a & mask) == (net & mask)` for one family; mixed families never match.
pub fn in_network(client: IpAddr, net: IpAddr, mask: IpAddr) -> bool {
    match (client, net, mask) {
        (IpAddr::V4(c), IpAddr::V4(n), IpAddr::V4(m)) => {
            let m = u32::from(m);
            u32::from(c) & m == u32::from(n) & m
        }
        (IpAddr::V6(c), IpAddr::V6(n), IpAddr::V6(m)) => {
            let m = u128::from(m);
            u128::from(c) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// This machine's interface addresses with their netmasks.
fn interfaces() -> Option<Vec<(IpAddr, Option<IpAddr>)>> {
    let list = match nix::ifaddrs::getifaddrs() {
        Ok(l) => l,
        Err(e) => {
            crate::pglog!(Severity::Log, "error enumerating network interfaces: {}", e);
            return None;
        }
    };
    let ip = |s: &nix::sys::socket::SockaddrStorage| -> Option<IpAddr> {
        if let Some(v4) = s.as_sockaddr_in() {
            Some(IpAddr::V4(v4.ip()))
        } else {
            s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        }
    };
    Some(
        list.filter_map(|i| {
            let a = i.address.as_ref().and_then(ip)?;
            Some((a, i.netmask.as_ref().and_then(ip)))
        })
        .collect(),
    )
}

fn same_host(client: IpAddr) -> bool {
    interfaces().is_some_and(|l| l.iter().any(|(a, _)| *a == client))
}

fn same_net(client: IpAddr) -> bool {
    interfaces().is_some_and(|l| {
        l.iter()
            .any(|(a, m)| m.is_some_and(|m| in_network(client, *a, m)))
    })
}

/// Reverse resolution of `addr` (a name is required).
fn reverse_lookup(addr: IpAddr) -> Option<String> {
    let sa: nix::sys::socket::SockaddrStorage = SocketAddr::new(addr, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sa` is a valid socket address of the length passed; `host` is a writable buffer
    // of the length passed; no service buffer is requested.
    let rc = unsafe {
        libc::getnameinfo(
            nix::sys::socket::SockaddrLike::as_ptr(&sa),
            nix::sys::socket::SockaddrLike::len(&sa),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded and wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Per-connection cache of the reverse lookup (`Some(None)` = failed, "bad").
#[derive(Debug, Default)]
pub struct HostCache {
    remote: Option<Option<String>>,
}

fn host_name_matches(rule_host: &str, client: IpAddr, cache: &mut HostCache) -> bool {
    let remote = cache
        .remote
        .get_or_insert_with(|| reverse_lookup(client))
        .clone();
    let Some(remote) = remote else {
        return false;
    };
    let remote_l = remote.to_ascii_lowercase();
    let name_ok = if rule_host.starts_with('.') {
        remote_l.ends_with(rule_host)
    } else {
        remote_l == rule_host
    };
    if !name_ok {
        return false;
    }
    let forward_ok = (remote.as_str(), 0)
        .to_socket_addrs()
        .map(|mut it| it.any(|a| a.ip() == client))
        .unwrap_or(false);
    if !forward_ok {
        crate::pglog!(Severity::Debug1, "pool_hba.conf host name \"{}\" rejected because address resolution did not return a match with IP address of client", rule_host);
    }
    forward_ok
}

fn address_matches(a: &Address, client: IpAddr, cache: &mut HostCache) -> bool {
    match a {
        Address::All => true,
        Address::SameHost => same_host(client),
        Address::SameNet => same_net(client),
        Address::Net { addr, mask } => in_network(client, *addr, *mask),
        Address::HostName(h) => host_name_matches(h, client, cache),
    }
}

fn database_matches(list: &[Token], db: &str, user: &str) -> bool {
    for t in list {
        if t.is_keyword("all") {
            return true;
        }
        if t.is_keyword("sameuser") {
            if db == user {
                return true;
            }
            continue;
        }
        if t.is_keyword("samegroup") || t.is_keyword("samerole") {
            crate::pglog!(
                Severity::Log,
                "group tokens \"samegroup\" and \"samerole\" are not supported by Pgpool-II"
            );
            return false;
        }
        if t.text == db {
            return true;
        }
    }
    false
}

fn user_matches(list: &[Token], user: &str) -> bool {
    for t in list {
        if !t.quoted && t.text.starts_with('+') {
            crate::pglog!(
                Severity::Log,
                "group token \"+\" is not supported by Pgpool-II"
            );
            return false;
        }
        if t.is_keyword("all") || t.text == user {
            return true;
        }
    }
    false
}

fn rule_matches(r: &HbaRule, c: &ClientInfo, cache: &mut HostCache) -> bool {
    match (r.conn, c.addr) {
        (ConnType::Local, None) => {}
        (ConnType::Local, Some(_)) | (_, None) => return false,
        (ConnType::Host, Some(_)) => {}
        (ConnType::HostSsl, Some(_)) if c.tls => {}
        (ConnType::HostNoSsl, Some(_)) if !c.tls => {}
        _ => return false,
    }
    if let (Some(a), Some(ip)) = (&r.address, c.addr) {
        if !address_matches(a, ip, cache) {
            return false;
        }
    }
    database_matches(&r.databases, c.database, c.user) && user_matches(&r.users, c.user)
}

/// The first rule matching the client, or `None` (implicit reject).
pub fn find_rule<'r>(rules: &'r [HbaRule], c: &ClientInfo) -> Option<&'r HbaRule> {
    let mut cache = HostCache::default();
    rules.iter().find(|r| rule_matches(r, c, &mut cache))
}
