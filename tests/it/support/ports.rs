//! Free loopback TCP ports, reserved so that concurrent tests — in this process or in other test
//! processes — never pick the same ones.
//!
//! A block of consecutive ports is taken from 20000..32000 (below Linux's ephemeral range, which
//! starts at 32768, and clear of the bench harness's 15432.. and 19xxx ports). Each port in the
//! block is reserved by binding an *abstract* unix socket named `pgpool-rs-test-port-<port>`: the
//! bind is atomic, leaves nothing on disk, and the kernel releases it when the holder exits, however
//! it exits. A port is used only if that reservation succeeds and 127.0.0.1:<port> can be bound.

use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use rand::Rng;

const RANGE: std::ops::Range<u16> = 20000..32000;
const ATTEMPTS: usize = 500;

/// `count` consecutive reserved ports; the reservation lasts as long as this value.
pub struct PortBlock {
    first: u16,
    count: u16,
    _locks: Vec<UnixListener>,
}

impl PortBlock {
    pub fn reserve(count: u16) -> PortBlock {
        assert!(count > 0 && count < 100);
        let mut rng = rand::thread_rng();
        for _ in 0..ATTEMPTS {
            let first = rng.gen_range(RANGE.start..RANGE.end - count);
            if let Some(locks) = try_reserve(first, count) {
                return PortBlock {
                    first,
                    count,
                    _locks: locks,
                };
            }
        }
        panic!(
            "no block of {count} free loopback ports found in {RANGE:?} after {ATTEMPTS} attempts"
        );
    }

    /// The `i`-th port of the block.
    pub fn port(&self, i: usize) -> u16 {
        assert!(
            i < self.count as usize,
            "port index {i} outside a block of {}",
            self.count
        );
        self.first + i as u16
    }
}

fn try_reserve(first: u16, count: u16) -> Option<Vec<UnixListener>> {
    let mut locks = Vec::with_capacity(count as usize);
    for port in first..first + count {
        let name = format!("pgpool-rs-test-port-{port}");
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
        locks.push(UnixListener::bind_addr(&addr).ok()?);
        // free on loopback right now (the probe listener is closed again at once)
        TcpListener::bind((super::HOST, port)).ok()?;
    }
    Some(locks)
}

#[cfg(test)]
mod tests {
    use super::PortBlock;

    #[test]
    fn a_reserved_port_is_not_handed_out_again_while_held() {
        let a = PortBlock::reserve(3);
        let b = PortBlock::reserve(3);
        let (a, b): (Vec<u16>, Vec<u16>) = (
            (0..3).map(|i| a.port(i)).collect(),
            (0..3).map(|i| b.port(i)).collect(),
        );
        assert!(a.iter().all(|p| !b.contains(p)), "{a:?} and {b:?} overlap");
        assert!(
            super::try_reserve(a[0], 1).is_none(),
            "port {} reserved twice",
            a[0]
        );
    }
}
