//! Waiting for and accepting a client (spec/architecture.md §3.3): poll(2) on every inherited
//! listener, `child_life_time` counting in one-second steps, `serialize_accept` through the
//! robust accept lock, waiting out a running failover, leaving new clients in the listen queue
//! while a PCP worker holds them back (graceful detach/promote, `crate::shmem::hold`), and
//! "another child won" retries.

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::{accept4, getpeername, setsockopt, sockopt, SockFlag, SockaddrStorage};

use super::{owned, signals, Child, Peer};

pub enum Accepted {
    Client(std::os::fd::OwnedFd, Peer),
    /// Interrupted, or another child took the connection.
    Retry,
    /// Idle for `child_life_time` after having served a client.
    LifeTimeExpired,
}

fn peer_of(fd: RawFd, tcp: bool, resolve: bool) -> Peer {
    if !tcp {
        return Peer {
            host: "[local]".into(),
            port: String::new(),
        };
    }
    match getpeername::<SockaddrStorage>(fd) {
        Ok(a) => {
            let (ip, port) = if let Some(v4) = a.as_sockaddr_in() {
                (std::net::IpAddr::V4(v4.ip()), v4.port())
            } else if let Some(v6) = a.as_sockaddr_in6() {
                (std::net::IpAddr::V6(v6.ip()), v6.port())
            } else {
                return Peer {
                    host: "[unknown]".into(),
                    port: String::new(),
                };
            };
            // log_hostname: reverse lookup is not done (no resolver in the hot accept path);
            // the address is shown, as pgpool does when the lookup fails.
            let _ = resolve;
            Peer {
                host: ip.to_string(),
                port: port.to_string(),
            }
        }
        Err(_) => Peer {
            host: "[unknown]".into(),
            port: String::new(),
        },
    }
}

/// The listeners, registered once per child in an epoll set with `EPOLLEXCLUSIVE`: a new
/// connection wakes one idle child instead of every child waiting in poll(2) (the thundering
/// herd that costs pgpool a context switch per idle child on every connection).
pub struct AcceptSet {
    epoll: Epoll,
    listeners: Vec<(RawFd, bool)>,
}

impl AcceptSet {
    pub fn new(listeners: &[(RawFd, bool)]) -> nix::Result<AcceptSet> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        for (i, &(fd, _)) in listeners.iter().enumerate() {
            // SAFETY: the listener descriptors are inherited from the parent and stay open for
            // the whole life of this process.
            let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
            epoll.add(
                bfd,
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64),
            )?;
        }
        Ok(AcceptSet {
            epoll,
            listeners: listeners.to_vec(),
        })
    }
}

pub fn wait_for_connection(child: &mut Child, set: &AcceptSet) -> Accepted {
    let life = child.settings.child_life_time;
    let serialize = child.settings.serialize_accept && life == 0;
    let info = child.info();
    let _guard = if serialize {
        // queued behind the other children: wake each second for signals and the pool timer
        match child
            .sh
            .header()
            .accept_lock
            .lock_within(Duration::from_secs(1))
        {
            Some(g) => Some(g),
            None => return Accepted::Retry,
        }
    } else {
        None
    };
    if exiting() {
        return Accepted::Retry;
    }
    // Wake up in time to close a pooled slot whose connection_life_time runs out while no
    // client comes (the caller's housekeeping expires it), as pgpool's SIGALRM timer does.
    let expiry_ms = child
        .pool
        .next_expiry(child.settings.connection_life_time)
        .map(|at| ((at - crate::shmem::now()).max(0) * 1000).min(i64::from(u16::MAX)) as u16);
    // At most a second: the 1-s ticks serve child_life_time and the pool timer, and a signal
    // that lands between the check above and the wait is seen at the next tick.
    let timeout = match (life > 0, expiry_ms) {
        (false, Some(ms)) => PollTimeout::from(ms.min(1000)),
        _ => PollTimeout::from(1000u16),
    };
    let mut events = [EpollEvent::empty(); 8];
    let n = match set.epoll.wait(&mut events, timeout) {
        Ok(0) if life == 0 => return Accepted::Retry,
        Ok(0) => {
            let waited = info.wait_for_connect.fetch_add(1, Relaxed) + 1;
            if info.connected.load(Relaxed) && i64::from(waited) > life {
                return Accepted::LifeTimeExpired;
            }
            return Accepted::Retry;
        }
        Err(_) => return Accepted::Retry,
        Ok(n) => n,
    };
    if !failover_finished(child) {
        return Accepted::Retry;
    }
    if child.sh.clients_held() && !hold_released(child) {
        return Accepted::Retry;
    }
    for ev in &events[..n] {
        let Some(&(lfd, tcp)) = set.listeners.get(ev.data() as usize) else {
            continue;
        };
        match accept4(lfd, SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => {
                info.wait_for_connect.store(0, Relaxed);
                let owned = owned(fd);
                if tcp {
                    let _ = setsockopt(&owned, sockopt::TcpNoDelay, &true);
                    let _ = setsockopt(&owned, sockopt::KeepAlive, &true);
                }
                let peer = peer_of(fd, tcp, child.settings.log_hostname);
                return Accepted::Client(owned, peer);
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) | Err(Errno::ECONNABORTED) => continue,
            Err(_) => continue,
        }
    }
    Accepted::Retry
}

fn exiting() -> bool {
    signals::FAST_EXIT.load(SeqCst) || signals::SMART_EXIT.load(SeqCst)
}

/// A client that arrives while a failover runs stays in the listen queue until it ends (at
/// most 30 s, as pgpool's `wait_for_failover_to_finish`): a child the failover restarts then
/// leaves it to its successor instead of starting a session on the way out. False = this
/// child is asked to exit (also when it was asked during the wait for a connection).
fn failover_finished(child: &Child) -> bool {
    let header = child.sh.header();
    let until = Instant::now() + Duration::from_secs(30);
    while header.switching.load(SeqCst) && Instant::now() < until {
        if exiting() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !exiting()
}

/// While a PCP worker holds new clients back, the one that woke this child stays in the listen
/// queue (pgpool pauses before accept() the same way): wait until the hold is released — or
/// its holder is found dead. False = this child is asked to exit meanwhile.
fn hold_released(child: &Child) -> bool {
    let mut checked = Instant::now();
    while child.sh.clients_held() {
        if exiting() {
            return false;
        }
        if checked.elapsed() >= Duration::from_secs(1) {
            child.sh.release_clients_if_holder_gone();
            checked = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !exiting()
}
