//! A child's `max_pool` slot array: which backend connections this child keeps between client
//! sessions, how a new session finds one (protocol major, user, database, then the whole sorted
//! startup packet), which one is evicted when all are taken (oldest release time), expiry by
//! `connection_life_time`, the replies a pooled connection still owes from its reset (read
//! before reuse), and the mirror of every slot in shared `ConnectionInfo`. Nothing here talks
//! to a client.

use std::sync::atomic::Ordering::Relaxed;

use nix::poll::PollFlags;

use crate::auth::AuthOutcome;
use crate::protocol::startup::StartupPacket;
use crate::protocol::Conn;
use crate::shmem::{now, Shmem};

/// One open backend connection of a slot.
#[derive(Debug)]
pub struct BackendConn {
    pub conn: Conn,
    /// Backend pid and cancel key from BackendKeyData.
    pub pid: i32,
    pub key: i32,
    /// ParameterStatus values in arrival order (replayed to a client reusing the slot).
    pub params: Vec<(String, String)>,
    /// Transaction status byte of the last ReadyForQuery.
    pub tx: u8,
    /// ReadyForQuery messages still owed for requests forwarded by the last session.
    pub pending: u32,
    /// The last session left an extended-protocol exchange without its Sync.
    pub unsynced: bool,
    /// Reset statements sent when the slot was released whose replies are read when it is next
    /// reused (spec/architecture.md §3.8; the child does not wait for them between clients).
    pub reset_owed: Vec<String>,
    /// The current session sent this connection something. The reset skips a connection it did
    /// not touch: its state is still the clean one the last reset left.
    pub touched: bool,
    /// The server sent a FATAL (or PANIC) ErrorResponse here: it ends this session itself, so
    /// a reset or a broken pipe that follows is the session's end, not a node failure.
    pub server_fatal: bool,
}

/// How long a reply owed by a pooled connection may take (pgpool's reset timeout).
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const MAX_MESSAGE: usize = 1 << 30;

impl BackendConn {
    /// After a failed read or write: did the server end this connection itself, with a FATAL
    /// ErrorResponse (a client's protocol violation, pg_terminate_backend, a timeout)? Seen
    /// already, or among the messages still buffered or readable without waiting. `partial`:
    /// the buffer starts with that many bytes of a frame already partly relayed.
    pub fn ended_with_fatal(&mut self, partial: usize) -> bool {
        if self.server_fatal {
            return true;
        }
        if !self.conn.is_tls() {
            // a closed connection reads at once: what the server said, then EOF or a reset
            while crate::protocol::conn::wait_fd(
                self.conn.fd(),
                PollFlags::POLLIN,
                Some(std::time::Instant::now()),
            )
            .unwrap_or(false)
            {
                if !matches!(self.conn.fill(), Ok(n) if n > 0) {
                    break;
                }
            }
        }
        let buf = self.conn.buffered();
        let mut off = partial;
        while let Ok(Some(h)) = self.conn.frame_at(off, MAX_MESSAGE) {
            if buf.len() - off < h.total {
                break;
            }
            if h.tag == b'E'
                && crate::protocol::messages::parse_error_fields(&buf[off + 5..off + h.total])
                    .is_ok_and(|f| f.is_fatal())
            {
                return true;
            }
            off += h.total;
        }
        false
    }

    /// Read messages until ReadyForQuery, keeping its transaction status and any ParameterStatus.
    /// Ok(false) when an ErrorResponse came on the way; Err on a timeout or a broken socket.
    pub fn read_until_ready(&mut self) -> Result<bool, crate::protocol::ProtocolError> {
        let mut ok = true;
        loop {
            let m = self.conn.read_message(MAX_MESSAGE, Some(SETTLE_TIMEOUT))?;
            match m.tag {
                b'Z' => {
                    self.tx = m.body.first().copied().unwrap_or(b'I');
                    return Ok(ok);
                }
                b'E' => ok = false,
                b'S' => {
                    if let Ok((k, v)) = crate::protocol::messages::parse_parameter_status(&m.body) {
                        match self.params.iter_mut().find(|(n, _)| n.as_str() == k) {
                            Some(p) => p.1 = v.into_owned(),
                            None => self.params.push((k.into_owned(), v.into_owned())),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Read the replies of the reset statements sent at release. False, after logging which
    /// statement failed, when one of them did not succeed: the connection must not be reused.
    pub fn settle_reset(&mut self) -> bool {
        for q in std::mem::take(&mut self.reset_owed) {
            if !matches!(self.read_until_ready(), Ok(true)) {
                crate::pglog!(
                    crate::logger::Severity::Log,
                    "reset query \"{}\" failed; the pooled connection is closed",
                    q.trim()
                );
                return false;
            }
        }
        self.tx = b'I';
        true
    }
}

/// One pool slot: a set of backend connections opened with one startup packet.
#[derive(Debug, Default)]
pub struct Slot {
    pub startup: Option<StartupPacket>,
    pub backends: Vec<Option<BackendConn>>,
    pub auth: Option<AuthOutcome>,
    /// 0 while a client uses the slot, else the time it was released.
    pub closetime: i64,
    pub create_time: i64,
}

impl Slot {
    pub fn is_empty(&self) -> bool {
        self.startup.is_none()
    }
}

/// The slot array of one child.
pub struct Pool {
    child: usize,
    pub slots: Vec<Slot>,
}

/// Is the socket of an idle pooled connection still healthy? A readable idle socket means the
/// server sent something (FATAL, EOF) and the connection is unusable.
fn idle_socket_is_healthy(c: &Conn) -> bool {
    if !c.buffered().is_empty() {
        return false;
    }
    !matches!(
        crate::protocol::conn::wait_fd(c.fd(), PollFlags::POLLIN, Some(std::time::Instant::now())),
        Ok(true) | Err(_)
    )
}

impl Pool {
    pub fn new(child: usize, max_pool: usize) -> Pool {
        Pool {
            child,
            slots: (0..max_pool.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    /// Number of slots holding connections.
    pub fn pooled(&self) -> usize {
        self.slots.iter().filter(|s| !s.is_empty()).count()
    }

    /// Find a reusable slot for `sp`. Stale or different slots met on the way are discarded.
    /// `nodes` are the nodes a session uses now (the main node in raw mode, every valid node
    /// otherwise): a slot connected to a different set is not reused.
    pub fn find(&mut self, sh: &Shmem, sp: &StartupPacket, nodes: &[usize]) -> Option<usize> {
        if nodes.is_empty() {
            return None;
        }
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let Some(stored) = &s.startup else { continue };
            if s.closetime == 0
                || stored.major != sp.major
                || stored.user != sp.user
                || stored.database != sp.database
            {
                continue;
            }
            // Connected to exactly the nodes in use now, each connection still healthy.
            let same_nodes = s
                .backends
                .iter()
                .enumerate()
                .all(|(n, b)| b.is_some() == nodes.contains(&n))
                && nodes.iter().all(|&n| n < s.backends.len());
            let matches = same_nodes && stored.raw == sp.raw;
            let mut closed = false;
            let healthy = matches
                && self.slots[i].backends.iter_mut().flatten().all(|b| {
                    if !b.settle_reset() {
                        return false;
                    }
                    let alive = idle_socket_is_healthy(&b.conn);
                    closed |= !alive;
                    alive
                });
            if closed {
                // the server ended the pooled connection (pgpool's words)
                crate::pglog!(
                    crate::logger::Severity::Log,
                    detail = "retry to create new connection pool";
                    "connection closed."
                );
            }
            if !healthy {
                self.discard(sh, i);
                continue;
            }
            let s = &mut self.slots[i];
            s.closetime = 0;
            for (n, b) in s.backends.iter().enumerate() {
                if b.is_some() {
                    sh.connection(self.child, i, n)
                        .counter
                        .fetch_add(1, Relaxed);
                }
            }
            return Some(i);
        }
        None
    }

    /// A slot for new connections: the first empty one, else evict the least recently released.
    pub fn take_free(&mut self, sh: &Shmem) -> usize {
        if let Some(i) = self.slots.iter().position(|s| s.is_empty()) {
            return i;
        }
        let victim = (0..self.slots.len())
            .filter(|&i| self.slots[i].closetime > 0)
            .min_by_key(|&i| self.slots[i].closetime)
            .unwrap_or(0);
        self.discard(sh, victim);
        victim
    }

    /// Send Terminate to every backend of slot `i`, close them and zero the slot.
    pub fn discard(&mut self, sh: &Shmem, i: usize) {
        let s = std::mem::take(&mut self.slots[i]);
        for (n, b) in s.backends.into_iter().enumerate() {
            if let Some(b) = b {
                let _ = b.conn.write_all(b"X\0\0\0\x04");
            }
            if n < crate::shmem::MAX_BACKENDS {
                sh.connection(self.child, i, n).clear();
            }
        }
    }

    /// The client left and the reset succeeded: keep the slot for the next client.
    pub fn release(&mut self, sh: &Shmem, i: usize) {
        let t = now();
        self.slots[i].closetime = t;
        for (n, b) in self.slots[i].backends.iter().enumerate() {
            if b.is_some() {
                let ci = sh.connection(self.child, i, n);
                ci.connected.store(false, Relaxed);
                ci.client_disconnection_time.store(t, Relaxed);
            }
        }
    }

    /// Close pooled (released) slots idle for `life_time` seconds or more.
    pub fn expire(&mut self, sh: &Shmem, life_time: i64) {
        if life_time <= 0 {
            return;
        }
        let t = now();
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if !s.is_empty() && s.closetime > 0 && t - s.closetime >= life_time {
                self.discard(sh, i);
            }
        }
    }

    /// Close every released slot (SIGUSR1, or the status snapshot changed).
    pub fn close_idle(&mut self, sh: &Shmem) {
        for i in 0..self.slots.len() {
            if !self.slots[i].is_empty() && self.slots[i].closetime > 0 {
                self.discard(sh, i);
            }
        }
    }

    /// Close everything (process exit).
    pub fn close_all(&mut self, sh: &Shmem) {
        for i in 0..self.slots.len() {
            if !self.slots[i].is_empty() {
                self.discard(sh, i);
            }
        }
    }

    /// Earliest time a released slot expires, for the child's wait timeout.
    pub fn next_expiry(&self, life_time: i64) -> Option<i64> {
        if life_time <= 0 {
            return None;
        }
        self.slots
            .iter()
            .filter(|s| !s.is_empty() && s.closetime > 0)
            .map(|s| s.closetime + life_time)
            .min()
    }
}
