//! One client session on a pooled slot (raw mode): the message loop that relays frames between
//! the client and the main node without re-encoding them, intercepts pgpool's own commands,
//! tracks the transaction state, enforces `client_idle_limit`, logs statements, and — when the
//! client leaves — runs `reset_query_list` so the slot can be pooled again.
//!
//! Frames are scanned in place in each socket's read buffer; a frame larger than what has
//! arrived is streamed through (only its first bytes are ever held), so memory stays flat for
//! results of any size. Only Query frames (and small backend frames: ReadyForQuery,
//! ParameterStatus, ErrorResponse) are looked at whole.

mod backend_log;
pub(crate) mod client_log;
pub(crate) mod logging;
mod multi;
mod reset;
pub(crate) mod stats;

pub use multi::{RelCache, TempTables};

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::child::{send_error, signals, Child};
use crate::commands::{self, CommandContext};
use crate::config::Config;
use crate::logger::Severity;
use crate::pglog;
use crate::pool::BackendConn;
use crate::protocol::pgerror::PgError;
use crate::protocol::{Conn, ProtocolError};
use crate::shmem::ChildStatus;

pub use reset::reset;

/// Largest frame accepted from a client or a backend (PostgreSQL's own limit is 1 GB).
const MAX_FRAME: usize = 1 << 30;

/// The statement logging in effect for a session (its `PGPOOL SET` values included), which its
/// reset at the end follows as pgpool's does.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatementLogging {
    /// `log_statement`
    pub statement: bool,
    /// `log_per_node_statement`
    pub per_node: bool,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client sent Terminate: the slot may be pooled after a reset.
    Terminate,
    /// The client vanished (EOF or socket error) or broke the protocol.
    ClientGone,
    /// The backend connection failed; the slot must be discarded.
    BackendGone,
    /// Fast or immediate shutdown.
    Shutdown,
    /// client_idle_limit reached.
    IdleLimit,
}

/// Frontend message kinds a client may send in protocol 3.
fn valid_frontend_tag(t: u8) -> bool {
    matches!(
        t,
        b'Q' | b'P' | b'B' | b'E' | b'D' | b'C' | b'S' | b'H' | b'F' | b'd' | b'c' | b'f' | b'X'
    )
}

/// The per-session loop state. Fields are borrowed separately inside the scanning functions.
struct Relay<'a> {
    client: &'a mut Conn,
    be: &'a mut BackendConn,
    node: usize,
    /// Remaining bytes of a client frame being streamed through.
    c_rem: usize,
    /// Remaining bytes of a backend frame being streamed through.
    b_rem: usize,
    /// Query/Sync messages forwarded and not yet answered by ReadyForQuery.
    pending: u32,
    /// Of those, in order, the ones that are Syncs (extended protocol): which kind of reply an
    /// ErrorResponse belongs to.
    pending_syncs: std::collections::VecDeque<bool>,
    /// Extended-protocol messages were forwarded since the last Sync.
    unsynced: bool,
    /// The backend is in COPY IN (or COPY BOTH) and waits for the client's data.
    copy_in: bool,
    /// Syncs forwarded since the last Execute (ignored by the server if that Execute starts a
    /// COPY IN).
    syncs_after_execute: u32,
    /// An intercepted command waits for the backend to finish what came before it.
    blocked: bool,
    /// A simple query sent with nothing else in flight while LOG records are written: its
    /// text, until the first message of its reply is looked at (pgpool logs a reply that
    /// begins with an error or a notice).
    first_reply_of: Option<String>,
    /// Traffic since the last idle tick.
    active: bool,
    logging: logging::Logging,
    client_idle_limit: i64,
    /// This session's copy of the configuration once PGPOOL SET changed something.
    session_cfg: Option<Config>,
}

/// Run the session until it ends. The slot's backend connections are used in place.
pub fn run(
    child: &mut Child,
    client: &mut Conn,
    pool_idx: usize,
    fresh: bool,
    title_prefix: &str,
) -> End {
    if !child.settings.raw_mode {
        return multi::run(child, client, pool_idx, fresh, title_prefix);
    }
    let node = child.snapshot.main_node.unwrap_or(0);
    let mut backends = std::mem::take(&mut child.pool.slots[pool_idx].backends);
    let Some(be) = backends.get_mut(node).and_then(|b| b.as_mut()) else {
        child.pool.slots[pool_idx].backends = backends;
        return End::BackendGone;
    };
    let mut relay = Relay {
        client,
        be,
        node,
        c_rem: 0,
        b_rem: 0,
        pending: u32::from(fresh),
        unsynced: false,
        pending_syncs: std::collections::VecDeque::new(),
        copy_in: false,
        syncs_after_execute: 0,
        blocked: false,
        first_reply_of: None,
        active: false,
        logging: logging::Logging::start(&child.settings),
        client_idle_limit: child.settings.client_idle_limit,
        session_cfg: None,
    };
    let end = relay.run(child, pool_idx, title_prefix);
    child.statement_logging = relay.logging.statement_logging();
    relay.be.pending = relay.pending;
    relay.be.unsynced = relay.unsynced;
    relay.be.touched = true;
    child.pool.slots[pool_idx].backends = backends;
    end
}

impl Relay<'_> {
    fn run(&mut self, child: &mut Child, pool_idx: usize, title_prefix: &str) -> End {
        let info = child.sh.process(child.slot);
        let mut idle_ticks: i64 = 0;
        // how long the backend has been silent while a reply is awaited
        let mut silent = Duration::ZERO;
        let mut shown_tx = self.be.tx;
        // The two titles a session alternates between, built once (a transaction block would
        // otherwise format one per BEGIN and per COMMIT).
        let idle_title = format!("{title_prefix} idle");
        let in_tx_title = format!("{title_prefix} idle in transaction");
        // Set-up reads may have buffered the first backend replies (the initial
        // ReadyForQuery) or early client messages: handle them before waiting.
        if !self.be.conn.buffered().is_empty() {
            if let Err(end) = self.relay_backend(child) {
                return end;
            }
        }
        if !self.client.buffered().is_empty() {
            if let Some(end) = self.relay_client(child) {
                return end;
            }
        }
        loop {
            if signals::FAST_EXIT.load(SeqCst) {
                return shutting_down(self.client);
            }
            close_idle_if_asked(child);
            // A request is in flight and the backend needs nothing more from the client to
            // answer it: read the backend directly, without a poll(2) per round trip; its
            // socket's receive timeout ends the read for the client's probe. (COPY IN needs the
            // client; client_idle_limit needs the one-second ticks; a TLS read is not cut.)
            let awaiting = self.pending > 0 && !self.copy_in;
            let (b_ready, c_ready) =
                if awaiting && self.client_idle_limit <= 0 && !self.be.conn.is_tls() {
                    (true, false)
                } else {
                    // SAFETY: both descriptors stay open for the whole call (owned by self).
                    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.be.conn.fd()) };
                    // SAFETY: as above.
                    let cfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.client.fd()) };
                    let mut fds = [
                        PollFd::new(bfd, PollFlags::POLLIN),
                        PollFd::new(cfd, PollFlags::POLLIN),
                    ];
                    // While an intercepted command waits for the backend, the client is not read.
                    let nfds = if self.blocked { 1 } else { 2 };
                    let tick = if self.client_idle_limit > 0 {
                        Some(Duration::from_secs(1))
                    } else if awaiting {
                        Some(PROBE_INTERVAL)
                    } else {
                        None
                    };
                    let timeout = tick.map_or(PollTimeout::NONE, |t| {
                        PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX)
                    });
                    let n = match poll(&mut fds[..nfds], timeout) {
                        Ok(n) => n,
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(_) => return End::ClientGone,
                    };
                    if n == 0 && self.pending > 0 {
                        // A query is running: the client is waiting, not idle.
                        if awaiting {
                            silent += tick.unwrap_or(PROBE_INTERVAL);
                            if silent >= PROBE_INTERVAL {
                                silent = Duration::ZERO;
                                let busy = [(self.node, self.be.pid, self.be.key)];
                                if let Err(end) = probe_client(child, self.client, &busy) {
                                    return end;
                                }
                            }
                        }
                        continue;
                    }
                    if n == 0 {
                        idle_ticks += 1;
                        child
                            .sh
                            .connection(child.slot, pool_idx, self.node)
                            .client_idle_duration
                            .store(idle_ticks as i32, Relaxed);
                        if self.client_idle_limit > 0 && idle_ticks > self.client_idle_limit {
                            return idle_limit_reached(self.client, self.client_idle_limit);
                        }
                        continue;
                    }
                    let b_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
                    let c_ready = nfds == 2 && fds[1].revents().is_some_and(|r| !r.is_empty());
                    (b_ready, c_ready)
                };
            if b_ready {
                match self.be.conn.fill() {
                    Ok(0) => {
                        // Forward whatever the backend said last (often its FATAL) first.
                        let _ = self.relay_backend(child);
                        return backend_closed(self.client, self.node, self.pending > 0);
                    }
                    Ok(_) => silent = Duration::ZERO,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // the receive timeout: PROBE_INTERVAL of silence
                        let busy = [(self.node, self.be.pid, self.be.key)];
                        if let Err(end) = probe_client(child, self.client, &busy) {
                            return end;
                        }
                        continue;
                    }
                    Err(_) => {
                        return backend_failed(
                            child,
                            self.node,
                            self.be.ended_with_fatal(self.b_rem),
                        )
                    }
                }
                if let Err(end) = self.relay_backend(child) {
                    return end;
                }
                if self.pending == 0 {
                    show_idle(info, self.be.tx);
                }
                if self.be.tx != shown_tx {
                    shown_tx = self.be.tx;
                    crate::process_title::set(if shown_tx == b'I' {
                        &idle_title
                    } else {
                        &in_tx_title
                    });
                }
            }
            if c_ready {
                match self.client.fill() {
                    Ok(0) => return client_vanished(self.client, Ok(0)),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return client_vanished(self.client, Err(e)),
                }
            }
            if (c_ready || (self.blocked && self.pending == 0))
                && !self.client.buffered().is_empty()
            {
                self.blocked = false;
                if let Some(end) = self.relay_client(child) {
                    return end;
                }
            }
            if self.active {
                idle_ticks = 0;
                self.active = false;
            }
            if child.apply_pending_reload() {
                self.reloaded(child);
            }
        }
    }

    /// A reload reached this open session (after the message that woke the child, as in
    /// pgpool): the file's values now apply here too, over PGPOOL SET values of the same
    /// parameters; parameters the file does not set keep their session values.
    fn reloaded(&mut self, child: &Child) {
        if let Some(cfg) = self.session_cfg.take() {
            // reload context: start-only parameters and invalid values keep what they were
            self.session_cfg = Some(cfg.reload().map(|(c, _)| c).unwrap_or(cfg));
        }
        let cfg = self.session_cfg.as_ref().unwrap_or(&child.cfg);
        self.logging.follow(cfg);
        self.client_idle_limit = cfg.get_int("client_idle_limit");
    }

    /// Forward complete or streaming client frames to the backend; answer intercepted commands.
    fn relay_client(&mut self, child: &mut Child) -> Option<End> {
        let buf = self.client.buffered();
        let mut off = 0;
        let mut fwd = 0;
        let mut end = None;
        self.active = true;
        while off < buf.len() {
            if self.c_rem > 0 {
                let take = self.c_rem.min(buf.len() - off);
                off += take;
                self.c_rem -= take;
                continue;
            }
            let head = match self.client.frame_at(off, MAX_FRAME) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    end = Some(protocol_violation(self.client, &e));
                    break;
                }
            };
            if !valid_frontend_tag(head.tag) {
                let msg = format!(
                    "unknown message type {}({:02x})",
                    head.tag as char, head.tag
                );
                pglog!(Severity::Error, detail = msg; "unable to process frontend response");
                send_error(
                    self.client,
                    &PgError::fatal("08P01", "unable to process frontend response").with_detail(
                        format!(
                            "unknown message type {}({:02x})",
                            head.tag as char, head.tag
                        ),
                    ),
                );
                end = Some(End::ClientGone);
                break;
            }
            if let Some(log) = self.logging.client.as_mut() {
                let whole = buf.len() - off >= head.total;
                if !whole && client_log::ClientLog::needs_body(head.tag) {
                    break; // logged once it is all here
                }
                log.message(head.tag, &buf[off + 5..(off + head.total).min(buf.len())]);
            }
            match head.tag {
                b'X' => {
                    end = Some(End::Terminate);
                    break;
                }
                b'Q' | b'P' => {
                    if buf.len() - off < head.total {
                        break; // wait for the whole statement text
                    }
                    let body = &buf[off + 5..off + head.total];
                    if head.tag == b'Q' {
                        let sql = body.strip_suffix(&[0]).unwrap_or(body);
                        let intercepted = commands::intercept(sql);
                        // the state is known when nothing is in flight; a query pipelined
                        // behind a failing one gets PostgreSQL's own 25P02
                        let refused = self.be.tx == b'E'
                            && self.pending == 0
                            && !self.unsynced
                            && refused_in_aborted_tx(
                                &String::from_utf8_lossy(sql),
                                intercepted.is_some(),
                            );
                        // Some(None): the aborted transaction's answer; Some(Some(cmd)): pgpool's
                        // own command
                        let local = if refused {
                            Some(None)
                        } else {
                            intercepted.map(Some)
                        };
                        if let Some(local) = local {
                            // pgpool answers it: what came before goes out first
                            if let Some(e) =
                                forward(child, self.node, self.be, self.b_rem, &buf[fwd..off])
                            {
                                end = Some(e);
                                break;
                            }
                            fwd = off;
                            let answered = !(local.is_some() && self.pending > 0);
                            if answered && self.logging.statement {
                                // logged all the same, as pgpool logs what it receives
                                pglog!(
                                    Severity::Log,
                                    "statement: {}",
                                    String::from_utf8_lossy(sql)
                                );
                            }
                            let reply = match local {
                                None => {
                                    let mut reply = Vec::with_capacity(256);
                                    aborted_tx_reply(&mut reply, &String::from_utf8_lossy(sql));
                                    reply
                                }
                                Some(_) if self.pending > 0 => {
                                    self.blocked = true;
                                    if let Some(log) = self.logging.client.as_mut() {
                                        log.seen_again_later();
                                    }
                                    break;
                                }
                                Some(cmd) => {
                                    let cfg =
                                        self.session_cfg.get_or_insert_with(|| child.cfg.clone());
                                    let mut ctx = CommandContext {
                                        cfg,
                                        sh: child.sh,
                                        child_slot: child.slot,
                                        load_balance_node: Some(self.node),
                                        startup_cfg: &child.cfg,
                                    };
                                    let reply = commands::answer(&cmd, &mut ctx);
                                    self.logging.follow(cfg);
                                    self.client_idle_limit = cfg.get_int("client_idle_limit");
                                    reply
                                }
                            };
                            if self.client.write_all(&reply).is_err() {
                                end = Some(End::ClientGone);
                                break;
                            }
                            off += head.total;
                            fwd = off;
                            continue;
                        }
                        if let Some(db) = dropped_database(sql) {
                            // what came before goes out first
                            if let Some(e) =
                                forward(child, self.node, self.be, self.b_rem, &buf[fwd..off])
                            {
                                end = Some(e);
                                break;
                            }
                            fwd = off;
                            before_drop_database(child, &db);
                        }
                        if self.pending == 0
                            && !self.unsynced
                            && crate::logger::reported(Severity::Log)
                        {
                            self.first_reply_of = Some(String::from_utf8_lossy(sql).into_owned());
                        }
                        self.pending += 1;
                        self.pending_syncs.push_back(false);
                        // the Syncs before it are answered before any COPY it starts
                        self.syncs_after_execute = 0;
                        stats::count_statement(child.sh.backend(self.node), sql);
                        child
                            .sh
                            .process(child.slot)
                            .set_status(ChildStatus::CommandExecute);
                        if self.logging.statement {
                            pglog!(Severity::Log, "statement: {}", String::from_utf8_lossy(sql));
                        }
                        if self.logging.per_node {
                            pglog!(
                                Severity::Log,
                                "DB node id: {} backend pid: {} statement: {}",
                                self.node,
                                self.be.pid,
                                String::from_utf8_lossy(sql)
                            );
                        }
                        if self.logging.notice_per_node {
                            let mut notice = Vec::new();
                            per_node_notice(&mut notice, self.node, &String::from_utf8_lossy(sql));
                            if self.client.write_all(&notice).is_err() {
                                end = Some(End::ClientGone);
                                break;
                            }
                        }
                    } else {
                        self.unsynced = true;
                    }
                    if head.tag == b'P' && (self.logging.statement || self.logging.per_node) {
                        log_parse(
                            body,
                            self.node,
                            self.be.pid,
                            self.logging.statement,
                            self.logging.per_node,
                        );
                    }
                    if head.tag == b'P' && self.logging.notice_per_node {
                        let query = body.splitn(3, |&b| b == 0).nth(1).unwrap_or_default();
                        let mut notice = Vec::new();
                        per_node_notice(
                            &mut notice,
                            self.node,
                            &format!("Parse: {}", String::from_utf8_lossy(query)),
                        );
                        if self.client.write_all(&notice).is_err() {
                            end = Some(End::ClientGone);
                            break;
                        }
                    }
                    off += head.total;
                }
                _ => {
                    match head.tag {
                        // A Sync sent during COPY IN is ignored by the server: no
                        // ReadyForQuery answers it.
                        b'S' if self.copy_in => {}
                        b'S' => {
                            self.pending += 1;
                            self.pending_syncs.push_back(true);
                            self.syncs_after_execute += 1;
                            self.unsynced = false;
                        }
                        b'E' => {
                            self.syncs_after_execute = 0;
                            self.unsynced = true;
                        }
                        b'B' | b'D' | b'C' | b'H' => self.unsynced = true,
                        b'c' | b'f' => self.copy_in = false,
                        _ => {}
                    }
                    let avail = buf.len() - off;
                    if avail >= head.total {
                        off += head.total;
                    } else {
                        self.c_rem = head.total - avail;
                        off = buf.len();
                    }
                }
            }
        }
        // pgpool's messages for the client (statement logs), unless a reply is half written
        if self.b_rem == 0
            && crate::logger::client::pending()
            && self
                .client
                .write_all(&crate::logger::client::take())
                .is_err()
        {
            end = Some(End::ClientGone);
        }
        if matches!(end, None | Some(End::Terminate)) {
            if let Some(e) = forward(child, self.node, self.be, self.b_rem, &buf[fwd..off]) {
                end = Some(e);
            }
        }
        let consumed = if end == Some(End::Terminate) {
            off + 5
        } else if self.blocked {
            fwd
        } else {
            off
        };
        self.client.consume(consumed);
        end
    }

    /// Forward backend frames to the client, noting ReadyForQuery and ParameterStatus.
    fn relay_backend(&mut self, child: &Child) -> Result<(), End> {
        let buf = self.be.conn.buffered();
        let mut off = 0;
        // bytes before `sent` are written to the client already
        let mut sent = 0;
        self.active = true;
        while off < buf.len() {
            if self.b_rem > 0 {
                let take = self.b_rem.min(buf.len() - off);
                off += take;
                self.b_rem -= take;
                continue;
            }
            let head = match self.be.conn.frame_at(off, MAX_FRAME) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    pglog!(
                        Severity::Error,
                        "invalid message from backend {}: {}",
                        self.node,
                        e
                    );
                    return Err(End::BackendGone);
                }
            };
            if let Some(sql) = self.first_reply_of.take() {
                let avail = buf.len() - off;
                if avail < head.total && !matches!(head.tag, b'D' | b'd') {
                    self.first_reply_of = Some(sql);
                    break;
                }
                if matches!(head.tag, b'E' | b'N') {
                    let body = &buf[off + 5..off + head.total];
                    log_error_or_notice(self.node, self.be.pid, &sql, body);
                }
            }
            if matches!(head.tag, b'Z' | b'S' | b'E' | b'N') && buf.len() - off < head.total {
                break;
            }
            // the frame is taken now: log it, and put what the log has for the client before it
            if let Some(log) = self.logging.backend.as_mut() {
                log.message(self.node, head.tag);
            }
            if crate::logger::client::pending() {
                let notices = crate::logger::client::take();
                if self.client.write_all(&buf[sent..off]).is_err()
                    || self.client.write_all(&notices).is_err()
                {
                    return Err(End::ClientGone);
                }
                sent = off;
            }
            match head.tag {
                b'Z' | b'S' | b'E' | b'N' => {
                    let body = &buf[off + 5..off + head.total];
                    match head.tag {
                        b'N' => log_notice(self.node, body),
                        b'Z' => {
                            self.pending = self.pending.saturating_sub(1);
                            self.pending_syncs.pop_front();
                            if let Some(&tx) = body.first() {
                                self.be.tx = tx;
                            }
                        }
                        b'S' => {
                            if let Ok((k, v)) =
                                crate::protocol::messages::parse_parameter_status(body)
                            {
                                if k == "application_name" {
                                    // the session's log lines carry the new name from now on
                                    crate::logger::set_application_name(&v);
                                }
                                match self.be.params.iter_mut().find(|(n, _)| n.as_str() == k) {
                                    Some(p) => p.1 = v.into_owned(),
                                    None => self.be.params.push((k.into_owned(), v.into_owned())),
                                }
                            }
                        }
                        _ => {
                            // An error ends COPY IN on the server side.
                            self.copy_in = false;
                            let fields = crate::protocol::messages::parse_error_fields(body).ok();
                            if fields.as_ref().is_some_and(|f| f.is_fatal()) {
                                self.be.server_fatal = true;
                            }
                            let own = (self.pending == 0)
                                .then_some(fields)
                                .flatten()
                                .and_then(|f| ended_by_server(&f.code));
                            if let Some(e) = own {
                                // the server ended the idle session: what came before it,
                                // then pgpool's FATAL in place of the server's
                                let _ = self.client.write_all(&buf[sent..off]);
                                log_fatal(&e);
                                send_error(self.client, &e);
                                self.be.conn.consume(off + head.total);
                                return Err(End::BackendGone);
                            }
                            // (pgpool does not count the error it replaces)
                            stats::count_error(child.sh.backend(self.node), body);
                            let extended =
                                self.pending_syncs.front().copied().unwrap_or(self.unsynced);
                            if extended {
                                log_extended_error(self.node, body);
                            }
                        }
                    }
                    off += head.total;
                }
                _ => {
                    if matches!(head.tag, b'G' | b'W') {
                        // Syncs the client sent after the Execute that started this COPY
                        // reach the server in COPY IN mode and go unanswered.
                        self.copy_in = true;
                        self.pending = self.pending.saturating_sub(self.syncs_after_execute);
                        let kept = self
                            .pending_syncs
                            .len()
                            .saturating_sub(self.syncs_after_execute as usize);
                        self.pending_syncs.truncate(kept);
                        self.syncs_after_execute = 0;
                    }
                    let avail = buf.len() - off;
                    if avail >= head.total {
                        off += head.total;
                    } else {
                        self.b_rem = head.total - avail;
                        off = buf.len();
                    }
                }
            }
        }
        if off > 0 {
            if self.client.write_all(&buf[sent..off]).is_err() {
                return Err(End::ClientGone);
            }
            self.be.conn.consume(off);
        }
        Ok(())
    }
}

/// After the last awaited ReadyForQuery: the child is idle, in a transaction block or not
/// (`tx` is the ReadyForQuery state). Written only when it changes.
fn show_idle(info: &crate::shmem::ProcessInfo, tx: u8) {
    let st = if tx == b'I' {
        ChildStatus::Idle
    } else {
        ChildStatus::IdleInTrans
    };
    if info.status() != st {
        info.set_status(st);
    }
}

/// Inside an aborted transaction pgpool answers every statement but the transaction's end
/// itself, its own commands included (spec/routing.md §3.1, steps 4 and 6): true when `sql` must
/// get that answer (`intercepted`: it is one of pgpool's commands).
fn refused_in_aborted_tx(sql: &str, intercepted: bool) -> bool {
    intercepted || !ends_transaction(&crate::sql::analyze(sql))
}

/// A statement PostgreSQL still runs inside an aborted transaction: COMMIT, ROLLBACK or
/// ROLLBACK TO.
pub(super) fn ends_transaction(a: &crate::sql::Analysis) -> bool {
    matches!(
        a.kind,
        crate::sql::Kind::Commit | crate::sql::Kind::Rollback | crate::sql::Kind::RollbackTo
    )
}

/// PostgreSQL's message for a statement refused inside an aborted transaction (25P02).
pub(super) const ABORTED_TX: &str =
    "current transaction is aborted, commands ignored until end of transaction block";

/// pgpool's LOG line for a statement whose reply from `node` begins with an ErrorResponse or a
/// NoticeResponse (`body`, its fields), as pgpool writes it after sending a simple query (and an
/// extended-protocol statement) to a node.
fn log_error_or_notice(node: usize, pid: i32, sql: &str, body: &[u8]) {
    if let Ok(f) = crate::protocol::messages::parse_error_fields(body) {
        pglog!(
            Severity::Log,
            "pool_send_and_wait: Error or notice message from backend: : DB node id: {} backend pid: {} statement: \"{}\" message: \"{}\"",
            node,
            pid,
            sql,
            f.message
        );
    }
}

/// DROP DATABASE (routing.md §3.1 step 10): before it is sent, every child is asked to close
/// its idle pooled connections, which would keep the database busy. pgpool then sleeps 5 s;
/// this waits only while another child still holds a connection to the database (at most
/// 5 s, asking again as sessions there end).
pub(crate) fn before_drop_database(child: &mut Child, database: &str) {
    child.pool.close_idle(child.sh);
    let until = Instant::now() + Duration::from_secs(5);
    let mut asked: Option<Instant> = None;
    while Instant::now() < until && connected_elsewhere(child, database) {
        if asked.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            crate::failover::request::close_idle_connections();
            asked = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Does another child hold a backend connection to `database` (idle or in a session)?
fn connected_elsewhere(child: &Child, database: &str) -> bool {
    let sh = child.sh;
    (0..sh.num_children)
        .filter(|&c| c != child.slot && sh.process(c).pid.load(Relaxed) > 0)
        .any(|c| {
            (0..sh.max_pool).any(|p| {
                (0..sh.num_backends()).any(|n| {
                    let ci = sh.connection(c, p, n);
                    ci.pid.load(Relaxed) != 0 && ci.database.get() == database
                })
            })
        })
}

/// Write client bytes held back so far to the backend; a failed write ends the session
/// (`b_rem`: what is left of a partly read backend frame).
fn forward(
    child: &Child,
    node: usize,
    be: &mut BackendConn,
    b_rem: usize,
    bytes: &[u8],
) -> Option<End> {
    if bytes.is_empty() || be.conn.write_all(bytes).is_ok() {
        return None;
    }
    Some(backend_failed(child, node, be.ended_with_fatal(b_rem)))
}

/// The database a simple query drops, if it is a DROP DATABASE (raw mode, which parses only
/// statements that begin with DROP).
fn dropped_database(sql: &[u8]) -> Option<String> {
    let start = sql.iter().position(|b| !b.is_ascii_whitespace())?;
    if !sql[start..].get(..4)?.eq_ignore_ascii_case(b"drop") {
        return None;
    }
    crate::sql::analyze(&String::from_utf8_lossy(sql))
        .drop_database
        .clone()
}

/// In a session: a close-idle request (SIGUSR1) closes the child's other pooled connections
/// that no client uses (pgpool's handler does it whatever the child is doing).
pub(super) fn close_idle_if_asked(child: &mut Child) {
    if signals::CLOSE_IDLE.load(Relaxed) && signals::CLOSE_IDLE.swap(false, SeqCst) {
        child.pool.close_idle(child.sh);
    }
}

/// pgpool's line for an ErrorResponse (`body`, its fields) a node sent in the extended
/// protocol.
pub(super) fn log_extended_error(node: usize, body: &[u8]) {
    if let Ok(f) = crate::protocol::messages::parse_error_fields(body) {
        pglog!(
            Severity::Log,
            "Error message from backend: DB node id: {} message: \"{}\"",
            node,
            f.message
        );
    }
}

/// pgpool's line for each NoticeResponse a node sends (`body`, its fields).
pub(super) fn log_notice(node: usize, body: &[u8]) {
    if let Ok(f) = crate::protocol::messages::parse_error_fields(body) {
        pglog!(
            Severity::Log,
            "backend [{}]: {}: {}",
            node,
            f.severity,
            f.message
        );
    }
}

/// pgpool's answer to a statement inside an aborted transaction: ERROR 25P02 and
/// ReadyForQuery(`E`), appended to `out`.
fn aborted_tx_reply(out: &mut Vec<u8>, sql: &str) {
    crate::protocol::messages::error_response(
        out,
        "ERROR",
        "25P02",
        ABORTED_TX,
        Some(&format!("statement: {sql}")),
        None,
    );
    crate::protocol::messages::ready_for_query(out, b'E');
}

/// A read or write on node's socket failed (not an orderly close): with
/// `failover_on_backend_error` the node's detach is requested (spec/failover.md §3 row 5); the
/// session ends either way.
pub(super) fn backend_failed(child: &Child, node: usize, server_fatal: bool) -> End {
    pglog!(Severity::Log, "unable to read data from DB node {}", node);
    // a connection the server ended with a FATAL (a client's protocol violation, a timeout)
    // is reset by its kernel when unread data remains: that is no node failure
    if child.settings.failover_on_backend_error && !server_fatal {
        crate::failover::request::notice_backend_error(node);
    }
    End::BackendGone
}

/// The FATAL pgpool sends in place of a backend's error that ended an idle session: a
/// recovery conflict (`40001`), `idle_in_transaction_session_timeout` (`25P03`) or
/// `idle_session_timeout` (`57P05`) (routing.md §11.3).
pub(crate) fn ended_by_server(code: &str) -> Option<PgError> {
    match code {
        "40001" => Some(
            PgError::fatal("40001", "connection was terminated due to conflict with recovery")
                .with_detail("User was holding a relation lock for too long.")
                .with_hint(
                    "In a moment you should be able to reconnect to the database and repeat your command.",
                ),
        ),
        "25P03" => Some(PgError::fatal(
            "25P03",
            "terminating connection due to idle-in-transaction session timeout",
        )),
        "57P05" => Some(PgError::fatal(
            "57P05",
            "terminating connection due to idle session timeout",
        )),
        _ => None,
    }
}

/// `notice_per_node_statement`: the client's NOTICE for a statement sent to `node` (pgpool's
/// per-node line without the backend pid).
pub(crate) fn per_node_notice(out: &mut Vec<u8>, node: usize, what: &str) {
    PgError::notice(format!("DB node id: {node} statement: {what}")).to_message(out);
}

/// Log a FATAL pgpool raises itself, with its DETAIL and HINT.
pub(crate) fn log_fatal(e: &PgError) {
    log_as(Severity::Fatal, e);
}

/// Log `e` at its own severity, with its DETAIL and HINT lines, as pgpool logs a report it
/// raises (the client gets the same report).
pub(crate) fn log_report(e: &PgError) {
    log_as(e.severity, e);
}

fn log_as(sev: Severity, e: &PgError) {
    match (&e.detail, &e.hint) {
        (Some(d), Some(h)) => pglog!(sev, detail = d, hint = h; "{}", e.message),
        (Some(d), None) => pglog!(sev, detail = d; "{}", e.message),
        (None, Some(h)) => pglog!(sev, hint = h; "{}", e.message),
        (None, None) => pglog!(sev, "{}", e.message),
    }
}

/// Node's backend closed its connection (after whatever it said last was relayed): logged as
/// pgpool logs it — a FATAL when a reply was awaited, "unable to read and process data" when
/// the session was idle — and the client gets pgpool's FATAL for the first case in both, where
/// pgpool closes an idle one without a word. The session ends.
pub(super) fn backend_closed(client: &Conn, node: usize, reply_awaited: bool) -> End {
    let e = PgError::fatal("XX000", format!("unable to read data from DB node {node}"))
        .with_detail("EOF encountered with backend");
    if reply_awaited {
        pglog!(Severity::Fatal, detail = "EOF encountered with backend"; "{}", e.message);
    } else {
        pglog!(
            Severity::Log,
            detail = format!(
                "detect_postmaster_down_error returns error on backend {node}. Going to close this session."
            );
            "unable to read and process data"
        );
    }
    send_error(client, &e);
    End::BackendGone
}

/// Fast or immediate shutdown reached an open session: pgpool's FATAL, and the session ends.
fn shutting_down(client: &Conn) -> End {
    send_error(
        client,
        &PgError::fatal(
            "57P01",
            "terminating connection due to administrator command",
        ),
    );
    End::Shutdown
}

/// client_idle_limit reached: pgpool's LOG and FATAL, and the session ends.
fn idle_limit_reached(client: &Conn, limit: i64) -> End {
    let msg =
        format!("child connection forced to terminate due to client_idle_limit:{limit} is reached");
    pglog!(Severity::Log, "{}", msg);
    send_error(client, &PgError::fatal("57000", &msg));
    End::IdleLimit
}

/// The client's socket ended (EOF) or failed while the session was open: logged as pgpool
/// logs it (spec/architecture.md §3.9); the slot is then discarded, not reset.
/// How long a reply may be awaited in silence before the client is probed (pgpool's 30 s).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// pgpool's liveness probe of a client waiting for a reply (spec/extended-protocol.md §8): a
/// ParameterStatus `pgpool_dummy_param = pgpool_dummy_value`. When the client is gone, the
/// queries still running for it on `busy` (node, backend pid, cancel key) are cancelled, so
/// they do not run to their end for nobody (pgpool-II 4.3.5 leaves them running), and the
/// session ends.
fn probe_client(child: &Child, client: &Conn, busy: &[(usize, i32, i32)]) -> Result<(), End> {
    let mut probe = Vec::with_capacity(48);
    crate::protocol::messages::parameter_status(
        &mut probe,
        "pgpool_dummy_param",
        "pgpool_dummy_value",
    );
    if client.write_all(&probe).is_ok() {
        return Ok(());
    }
    pglog!(
        Severity::Error,
        detail = "frontend error occurred while waiting for backend reply";
        "unable to to flush data to frontend"
    );
    for &(node, pid, key) in busy {
        crate::child::cancel::cancel_backend(child, node, pid, key);
    }
    Err(End::ClientGone)
}

pub(crate) fn client_vanished(client: &Conn, read: Result<usize, std::io::Error>) -> End {
    let detail = match read {
        Ok(_) if client.buffered().is_empty() => "EOF encountered with frontend".to_owned(),
        Ok(_) => "EOF read on socket".to_owned(),
        Err(e) => {
            let reason = e.raw_os_error().map_or_else(
                || e.to_string(),
                |code| nix::errno::Errno::from_raw(code).desc().to_owned(),
            );
            format!("socket read failed with error \"{reason}\"")
        }
    };
    pglog!(Severity::Error, detail = detail; "unable to read data from frontend");
    End::ClientGone
}

/// A malformed frame from the client ends this session only, with an error.
fn protocol_violation(client: &Conn, e: &ProtocolError) -> End {
    let msg = match e {
        ProtocolError::BadLength { tag, len } => format!(
            "invalid message length:{} for message:{}",
            len, *tag as char
        ),
        other => other.to_string(),
    };
    pglog!(Severity::Error, "{}", msg);
    send_error(client, &PgError::fatal("08P01", &msg));
    End::ClientGone
}

/// Statement logging of a Parse message: `name\0query\0...`.
fn log_parse(body: &[u8], node: usize, pid: i32, stmt: bool, per_node: bool) {
    let mut parts = body.splitn(3, |&b| b == 0);
    let _name = parts.next();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
    if stmt {
        pglog!(Severity::Log, "statement: {}", query);
    }
    if per_node {
        pglog!(
            Severity::Log,
            "DB node id: {} backend pid: {} statement: Parse: {}",
            node,
            pid,
            query
        );
    }
}
